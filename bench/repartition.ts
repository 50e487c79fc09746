/**
 * Benchmark of repartition (prints figures; not a test): the largest repartition unit of the
 * Indexed design against the old whole-layer repartition, on the Fee layer of the PAD-US-shaped
 * sample, each measured with `/usr/bin/time -v` (peak RSS, wall time) under the same pod limits.
 *
 *   npx tsx bench/repartition.ts                     # 10,000 features per layer, 8 repartition units
 *   npx tsx bench/repartition.ts --features 2000 --units 4
 *
 * Steps: `cng sample padus`, then convert, every hex unit and every repartition unit of Fee with
 * the worker CLI (as the Jobs run them), then publish. The old design (main's whole-layer
 * repartition, one pod reading every chunk) is run from `--old-worker` (default
 * /work/main/bin/cng-worker.js) on the same chunks merged back into one file per hex unit, when
 * that worker still has the old stage; otherwise the ratio is against issue 12's figures for the
 * 10,000-per-layer sample (4.9 GiB, 211 s).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';

const text = (d: string) => ({ type: 'string' as const, default: d });
const { values } = parseArgs({ options: { features: text('10000'), units: text('8'), 'old-worker': text('/work/main/bin/cng-worker.js') } });
const ROOT = resolve(import.meta.dirname, '..');
/** The repartition pod's limits (2 CPU, 8 GiB), as the Job's downward API passes them. */
const POD = { CNG_CPU_LIMIT: '2000', CNG_MEMORY_LIMIT: String(8 * 2 ** 30) };
/** Issue 12's measurement of the old repartition on the 10,000-per-layer sample's Fee layer. */
const ISSUE = { rssMiB: 4.9 * 1024, seconds: 211 };

interface Measured {
  seconds: number;
  rssMiB: number;
}

/** Runs a command under /usr/bin/time -v with the pod's limits; its wall time and peak RSS. */
function measured(cmd: string[], env: NodeJS.ProcessEnv = {}): Measured {
  const r = spawnSync('/usr/bin/time', ['-v', ...cmd], { encoding: 'utf8', env: { ...process.env, ...POD, ...env }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd.slice(0, 3).join(' ')} failed:\n${r.stderr.slice(-3000)}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  const [, h, m, s] = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr) ?? [];
  return { seconds: Number(h ?? 0) * 3600 + Number(m) * 60 + Number(s), rssMiB: rss / 1024 };
}

const worker = (stage: string, args: string[], bin = join(ROOT, 'bin/cng-worker.js')) => [process.execPath, bin, stage, ...args];
const fmt = (m: Measured) => `${m.seconds.toFixed(1)} s, ${m.rssMiB.toFixed(0)} MiB peak RSS`;

const n = Number(values.features);
const units = Number(values.units);
const dir = mkdtempSync(join(tmpdir(), 'cng-bench-repartition-'));
const gdb = join(dir, 'padus.gdb');
const sample = spawnSync(process.execPath, [join(ROOT, 'bin/cng.js'), 'sample', 'padus', '--out', gdb, '--features', String(n)], { encoding: 'utf8' });
if (sample.status !== 0) throw new Error(sample.stderr);
const w = join(dir, 'work');
const reads = ['--input', join(w, 'fee.parquet'), '--plan', join(w, 'hex-plan.json'), '--chunks', join(w, 'chunks'), '--resolution', '10', '--parents', '9,8'];
const hexUnits = Math.max(1, Math.ceil(n / 2000));
console.log(`bench/repartition: PAD-US-shaped sample, ${n} features per layer, Fee layer; ${hexUnits} hex units, ${units} repartition units; pods ${POD.CNG_CPU_LIMIT}m CPU / 8 GiB`);
const convert = measured(worker('convert', ['--source', gdb, '--layer', 'PADUS4_1Fee', '--out', join(w, 'fee.parquet'), '--plan', join(w, 'hex-plan.json'),
  '--resolution', '10', '--units', String(hexUnits), '--repartition-units', String(units)]));
console.log(`convert: ${fmt(convert)}`);
for (let i = 0; i < hexUnits; i++) measured(worker('hex', [...reads, '--index', String(i)]));
console.log(`hex: ${hexUnits} units done`);

const perUnit: (Measured & { index: number; cells: number })[] = [];
for (let i = 0; i < units; i++) {
  const m = measured(worker('repartition', [...reads, '--out', join(w, 'hex'), '--reports', join(w, 'repartition'), '--index', String(i)]));
  const report = JSON.parse(readFileSync(join(w, 'repartition', `unit-${String(i).padStart(6, '0')}.json`), 'utf8'));
  perUnit.push({ ...m, index: i, cells: report.cells });
}
const largest = perUnit.reduce((a, b) => (b.rssMiB > a.rssMiB ? b : a));
const cells = perUnit.reduce((s, u) => s + u.cells, 0);
console.log(`repartition units (index: cells, time, RSS):\n${perUnit.map((u) => `  ${u.index}: ${u.cells} cells, ${fmt(u)}`).join('\n')}`);
console.log(`largest unit: ${largest.index} (${largest.cells} of ${cells} cells): ${fmt(largest)}`);

// The old design: main's whole-layer repartition over one chunk per hex unit.
let old: Measured | undefined;
const oldWorker = values['old-worker']!;
const help = existsSync(oldWorker) ? spawnSync(process.execPath, [oldWorker, 'repartition', '--help'], { encoding: 'utf8' }).stdout : '';
if (/--manifest/.test(help) && !/--reports/.test(help)) {
  const oldChunks = join(dir, 'old-chunks');
  mkdirSync(oldChunks, { recursive: true });
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  for (let i = 0; i < hexUnits; i++) {
    const name = `unit-${String(i).padStart(6, '0')}.parquet`;
    const files = readdirSync(join(w, 'chunks')).filter((d) => d.startsWith('h0=') && existsSync(join(w, 'chunks', d, name))).map((d) => `'${join(w, 'chunks', d, name)}'`);
    const select = files.length ? `SELECT * FROM read_parquet([${files.join(', ')}])` : 'SELECT 1::BIGINT _cng_fid, 1::UBIGINT h10, 1::UBIGINT h9, 1::UBIGINT h8, 1::UBIGINT h0 WHERE false';
    await db.run(`COPY (${select}) TO '${join(oldChunks, `chunk-${String(i).padStart(6, '0')}.parquet`)}' (FORMAT parquet)`);
  }
  db.closeSync();
  old = measured(worker('repartition', [...reads.slice(0, 4), '--chunks', oldChunks, ...reads.slice(6), '--out', join(dir, 'old', 'hex'), '--manifest', join(dir, 'old', 'manifest.json')], oldWorker));
  console.log(`old whole-layer repartition (${oldWorker}): ${fmt(old)}`);
}
const base = old ?? ISSUE;
const against = old ? 'the old design, measured in this run' : "issue 12's figures for the old design (4.9 GiB, 211 s)";
console.log(`ratio, largest unit / old whole layer (${against}): RSS ${(largest.rssMiB / base.rssMiB).toFixed(2)}×, time ${(largest.seconds / base.seconds).toFixed(2)}×`);
const pub = measured(worker('publish', [...reads, '--staged-hex', join(w, 'hex'), '--reports', join(w, 'repartition'), '--run', '1',
  '--out', join(dir, 'pub', 'fee.parquet'), '--out-hex', join(dir, 'pub', 'fee', 'hex'), '--manifest', join(dir, 'pub', 'fee', 'manifest.json')]));
console.log(`publish (checks + copies, no tiles): ${fmt(pub)}`);
console.log(`work directory: ${dir}`);
