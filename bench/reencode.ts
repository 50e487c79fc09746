/**
 * Benchmark of re-encoding an earlier hex product (reencode → reencode-merge → reencode-publish).
 *
 *   npx tsx bench/reencode.ts [rows=1000000] [units=2] [mergeUnits=2]
 *
 * Input: `rows` distinct res-8 cells spread over the 122 base cells (at most 16,807 each: up to
 * about 2 million rows; STRING, half of them upper case) with a text and an integer column, in the old layout `h0=<hex string>/part-0.parquet`,
 * cached in $TMPDIR/cng-bench-reencode-<rows>/. Runs every unit of each stage in this process, one
 * after the other (a pod runs one), with the machine's CPUs. Prints seconds per stage, rows per
 * second of the reencode units, and this process's peak RSS — the most any one unit needed, since
 * the units run in sequence and release their DuckDB between units.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { cellToChildren, getRes0Cells } from 'h3-js';
import { reencodeStage } from '../worker/vector/reencode.ts';
import { reencodeMergeStage, reencodePublishStage } from '../worker/vector/reencode-publish.ts';

const rows = Number(process.argv[2] ?? 1_000_000);
const units = Number(process.argv[3] ?? 2);
const mergeUnits = Number(process.argv[4] ?? 2);
const dir = join(process.env.TMPDIR ?? tmpdir(), `cng-bench-reencode-${rows}`);
const input = join(dir, 'old');

if (!existsSync(join(dir, 'ready'))) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(input, { recursive: true });
  const t = Date.now();
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  await db.run('CREATE TABLE t (name VARCHAR, Z INTEGER, h8 VARCHAR, h0 VARCHAR)');
  const app = await db.createAppender('t');
  let n = 0;
  const res0 = getRes0Cells();
  const perBase = Math.ceil(rows / res0.length);
  for (const r0 of res0) {
    // The first res-3 cell's res-8 descendants: 16,807 (a pentagon's fewer) a base cell.
    const cells = cellToChildren(cellToChildren(r0, 3)[0], 8).slice(0, Math.min(perBase, rows - n));
    for (const c of cells) {
      app.appendVarchar(`row-${n}`);
      app.appendInteger(n % 20);
      app.appendVarchar(n % 2 ? c.toUpperCase() : c);
      app.appendVarchar(r0);
      app.endRow();
      n++;
    }
  }
  app.closeSync();
  await db.run(`COPY t TO '${input}' (FORMAT parquet, PARTITION_BY (h0), COMPRESSION zstd)`);
  db.closeSync();
  writeFileSync(join(dir, 'ready'), '');
  console.log(`built ${input} (${n} rows) in ${((Date.now() - t) / 1000).toFixed(1)}s`);
}

const work = join(dir, 'out/_work/run-1');
rmSync(join(dir, 'out'), { recursive: true, force: true });
const common = { from: input, 'cell-column': 'h8', resolution: '8', parents: '7,5', units: String(units), 'merge-units': String(mergeUnits), work };
const timed = async (what: string, f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  const s = (performance.now() - t) / 1000;
  console.log(`${what}: ${s.toFixed(1)} s`);
  return s;
};
const re = await timed(`reencode (${units} units)`, async () => {
  for (let i = 0; i < units; i++) await reencodeStage({ ...common, rename: 'Z=score', index: String(i) });
});
await timed(`reencode-merge (${mergeUnits} units)`, async () => {
  for (let i = 0; i < mergeUnits; i++) await reencodeMergeStage({ ...common, index: String(i) });
});
let manifest: Awaited<ReturnType<typeof reencodePublishStage>> | undefined;
await timed('reencode-publish', async () => {
  manifest = await reencodePublishStage({ ...common, 'out-hex': join(dir, 'out/bench/hex'), manifest: join(dir, 'out/bench/manifest.json'), run: '1' });
});
console.log(`rows in ${manifest!.rows_in}, out ${manifest!.rows_out}, ${manifest!.partitions} partitions, ${(manifest!.bytes / 2 ** 20).toFixed(1)} MiB`);
console.log(`reencode: ${Math.round(manifest!.rows_in / re).toLocaleString('en')} rows/s over ${units} unit(s) in sequence`);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
