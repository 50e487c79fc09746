import { mkdtemp, rm, stat } from 'node:fs/promises';
import { expectScratch } from '../core/disk-full.ts';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { DuckDBConnection } from '@duckdb/node-api';
import { CommandError } from '../core/errors.ts';
import { sqlIdent, sqlString } from '../core/text.ts';
import { openDuckDB } from '../core/limits.ts';
import { log } from '../core/log.ts';
import { workUnitIndex as jobWorkUnit, type RawOptions } from '../stage.ts';
import { hexParents, repartitionStageDef } from './stages.ts';
import { joinUrl, Storage } from '../io/storage.ts';
import {
  localCopy, readHexReports, readPlan, repartitionIdsUrl, repartitionReportUrl, sha256File, unitName, type RepartitionReport,
} from '../io/layer-work.ts';

/**
 * `repartition`: one repartition unit (a group of h0 cells of the plan) → the staged partitions
 * `<out>/h0=<cell>/data_0.parquet` of those cells, with the attributes joined back.
 *
 * 1. Every hex unit must have reported (`<chunks>/_units/unit-N.json`, written after its chunks),
 *    and every chunk those reports name for this group's h0 cells must be there.
 * 2. Per h0 cell, one at a time (memory follows the largest h0 cell, not the layer): its chunks'
 *    distinct (id, cells) rows; the attributes of just those ids from the staged GeoParquet (a
 *    semi-join, which DuckDB pushes into the Parquet scan as a filter on the id column); sorted by
 *    (cell, id), written with one thread's fixed row groups, so the same input gives the same bytes.
 * 3. Last, the unit's ids (`<reports>/ids-N.parquet`, for publish's completeness check) and its
 *    report (`<reports>/unit-N.json`: cells, bytes and sha256 per partition).
 * Nothing published is touched: the publish stage checks every unit and copies the partitions.
 */

export async function repartitionStage(opts: RawOptions, env: NodeJS.ProcessEnv = process.env): Promise<RepartitionReport> {
  const { input, plan: planUrl, chunks, resolution: res, parents: given, out, reports, ...o } = repartitionStageDef.parse(opts);
  const storage = new Storage(env);
  const plan = await readPlan(storage, planUrl, res);
  const index = o.index ?? jobWorkUnit(env);
  const groups = plan.repartition!;
  if (index >= groups.units) throw new CommandError(`repartition unit ${index} does not exist: '${planUrl}' has ${groups.units} (0–${groups.units - 1})`);
  const group = groups.groups[index];
  const cellCols = [`h${res}`, ...hexParents(given, res).map((p) => `h${p}`)];
  const idColumn = plan.idColumn ?? '_cng_fid';

  const hexReports = await readHexReports(storage, chunks, plan.units);
  const work = await mkdtemp(join(env.TMPDIR ?? tmpdir(), 'cng-repartition-'));
  const db = await openDuckDB({ share: 0.6 });
  try {
    const wanted = group.h0.map((h0) => ({ h0, units: hexReports.filter((r) => (r.h0[h0] ?? 0) > 0).map((r) => r.index) })).filter((w) => w.units.length);
    await checkChunks(storage, chunks, wanted);
    log('repartition', `unit ${index}/${groups.units}: ${wanted.length} of its ${group.h0.length} h0 cells have cells (${wanted.reduce((n, w) => n + w.units.length, 0)} chunks)`);
    // the GeoParquet, one h0 cell's chunks and its partition at a time
    expectScratch(work, 2 * ((await storage.stat(input))?.size ?? 0) + 2 * group.estimatedCells * 64);
    const geoparquet = await localCopy(storage, input, join(work, 'layer.parquet'));
    // One thread writes each partition: the row groups, and so the bytes, never depend on scheduling.
    await db.run(`CREATE TABLE ids (id BIGINT)`);
    const report: RepartitionReport = { version: 1, index, features: 0, cells: 0, bytes: 0, partitions: {} };
    for (const { h0, units } of wanted) {
      const files = units.map((u) => join(work, `h0=${h0}`, `${unitName(u)}.parquet`));
      await Promise.all(units.map((u, i) => storage.download(joinUrl(chunks, `h0=${h0}`, `${unitName(u)}.parquet`), files[i])));
      const local = join(work, `data-${h0}.parquet`);
      const p = await writePartition(db, { files, geoparquet, local, idColumn, cellCols, h0 });
      await storage.upload(local, joinUrl(out, `h0=${h0}`, 'data_0.parquet'));
      report.partitions[h0] = p;
      report.cells += p.cells;
      report.bytes += p.bytes;
      await rm(join(work, `h0=${h0}`), { recursive: true, force: true });
      await rm(local, { force: true });
    }
    const idsLocal = join(work, 'ids.parquet');
    const copied = await db.runAndReadAll(`COPY (SELECT DISTINCT id FROM ids ORDER BY id) TO ${sqlString(idsLocal)} (FORMAT parquet, COMPRESSION zstd)`);
    report.features = Number(copied.getRows()[0]?.[0] ?? 0);
    await storage.upload(idsLocal, repartitionIdsUrl(reports, index));
    await storage.writeText(repartitionReportUrl(reports, index), JSON.stringify(report, null, 2) + '\n');
    log('repartition', `unit ${index}: ${report.cells} cells of ${report.features} features in ${Object.keys(report.partitions).length} partitions (${report.bytes} bytes) → ${out}`);
    return report;
  } finally {
    db.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}

/** @throws CommandError when a chunk a hex unit reported is not in the store. */
async function checkChunks(storage: Storage, chunks: string, wanted: { h0: string; units: number[] }[]): Promise<void> {
  const missing: string[] = [];
  for (const { h0, units } of wanted) {
    const present = new Set((await storage.list(joinUrl(chunks, `h0=${h0}`))).map((o) => o.url));
    for (const u of units) if (!present.has(joinUrl(chunks, `h0=${h0}`, `${unitName(u)}.parquet`))) missing.push(`h0=${h0}/${unitName(u)}.parquet`);
  }
  if (missing.length) throw new CommandError(`${missing.length} reported hex chunk(s) missing under '${chunks}': ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}; re-run those hex indices`);
}

/** One h0 cell's partition from its chunk files; adds the ids seen to table `ids`. */
async function writePartition(
  db: DuckDBConnection,
  o: { files: string[]; geoparquet: string; local: string; idColumn: string; cellCols: string[]; h0: string },
): Promise<{ cells: number; bytes: number; sha256: string }> {
  const cols = o.cellCols.map(sqlIdent);
  const id = sqlIdent(o.idColumn);
  await db.run(`CREATE OR REPLACE TEMP TABLE cells AS SELECT DISTINCT _cng_fid, ${cols.join(', ')} FROM read_parquet([${o.files.map(sqlString).join(', ')}], hive_partitioning = false)`);
  await db.run(`INSERT INTO ids SELECT DISTINCT _cng_fid FROM cells`);
  const attrs = `(SELECT * EXCLUDE (geometry, bbox) FROM read_parquet(${sqlString(o.geoparquet)}) WHERE ${id} IN (SELECT _cng_fid FROM cells))`;
  const [[threads]] = (await db.runAndReadAll(`SELECT current_setting('threads')`)).getRows();
  await db.run('SET threads = 1');
  try {
    const copied = await db.runAndReadAll(
      `COPY (SELECT a.*, ${cols.map((c) => `c.${c}`).join(', ')} FROM cells c JOIN ${attrs} a ON a.${id} = c._cng_fid ORDER BY c.${cols[0]}, c._cng_fid)
       TO ${sqlString(o.local)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)`,
    );
    const cells = Number(copied.getRows()[0]?.[0] ?? 0);
    const [[expected]] = (await db.runAndReadAll('SELECT count(*) FROM cells')).getRows();
    if (cells !== Number(expected))
      throw new CommandError(`h0=${o.h0}: ${Number(expected) - cells} cell row(s) name ids the GeoParquet does not have: plan, chunks and GeoParquet are of different runs; re-run convert`);
    return { cells, bytes: (await stat(o.local)).size, sha256: await sha256File(o.local) };
  } finally {
    await db.run(`SET threads = ${Number(threads)}`);
  }
}

