import { open, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { PMTiles, type Source } from 'pmtiles';
import { CommandError } from '../core/errors.ts';
import { openDuckDB } from '../core/limits.ts';
import { log } from '../core/log.ts';
import { sqlIdent, sqlString } from '../core/text.ts';
import type { RawOptions } from '../stage.ts';
import { publishStageDef } from './stages.ts';
import { joinUrl, parseJson, Storage } from '../io/storage.ts';
import {
  alreadyPublished, checkedBeforePublish, localCopy, readHexReports, readPlan, readRepartitionReports, repartitionIdsUrl, sha256File, type LayerManifest, type PlanHeader, type RepartitionReport,
} from '../io/layer-work.ts';

/**
 * `publish`: one vector layer's run, staged under `<name>/_work/run-<run>/`, into its published
 * keys — the one point where readers' files change.
 *
 * 1. Checks, touching nothing published: every hex unit and repartition unit has reported; every
 *    h0 cell a hex unit wrote has its staged partition, of the reported size; the staged
 *    GeoParquet has the plan's rows and null geometries; every feature with a geometry is in some
 *    partition (its ids anti-joined with the repartition units' ids); the PMTiles archive (when
 *    given) opens and has a header and metadata.
 * 2. Copies into place (Storage.copy: server-side on S3): the hex partitions, `<name>.parquet`,
 *    `<name>.pmtiles`. Each object switches atomically.
 * 3. Removes the published partitions this run did not write, logging each.
 * 4. Writes `manifest.json` last (the commit point readers and STAC go by): counts, the run, a
 *    sha256 per published file, the tiles' per-zoom counts (from `--tiles-report`, when there).
 * 5. Removes the run's work directory, the plan first: a re-run (a preempted pod) that finds no
 *    plan and a manifest of this run has nothing left to do.
 */

type PublishOptions = ReturnType<typeof publishStageDef.parse>;

/** A file to publish: where it is staged, where it goes, its size and checksum. */
interface Item {
  from: string;
  to: string;
  bytes: number;
  sha256: string;
}

export async function publishStage(opts: RawOptions, env: NodeJS.ProcessEnv = process.env): Promise<LayerManifest> {
  const o = publishStageDef.parse(opts);
  const storage = new Storage(env);
  const name = basename(dirname(o.outHex.replace(/\/+$/, '')));
  const work = await mkdtemp(join(env.TMPDIR ?? tmpdir(), 'cng-publish-'));
  // A re-run after the work files went (e.g. a preempted pod): the plan is removed first, so no
  // plan and a manifest of this run mean the layer is published.
  const done = await alreadyPublished<LayerManifest>(storage, 'publish', { marker: o.plan, manifest: o.manifest, run: o.run, work: o.work });
  if (done) return done;
  const db = await openDuckDB({ share: 0.5 });
  try {
    const { plan, partitions, singles, counts, tiles } = await checkedBeforePublish(`layer '${name}'`, () => check(storage, db, o, work));
    for (const p of [...partitions, ...singles]) await storage.copy(p.from, p.to);
    log('publish', `copied ${partitions.length} partitions and ${singles.map((s) => basename(s.to)).join(', ')} into place`);
    await removeStale(storage, o.outHex, new Set(partitions.map((p) => p.to)));
    const base = dirname(dirname(o.outHex.replace(/\/+$/, '')));
    const rel = (url: string) => (url.startsWith(`${base}/`) ? url.slice(base.length + 1) : url);
    const files = [...partitions, ...singles].map((p) => [rel(p.to), { bytes: p.bytes, sha256: p.sha256 }] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const manifest: LayerManifest = {
      version: 1,
      layer: name,
      source_layer: plan.layer ?? null,
      run: o.run,
      resolution: o.resolution,
      parents: o.parents ?? [9, 8].filter((p) => p < o.resolution),
      containment: o.containment,
      features: plan.features,
      null_geometries: plan.nullGeometries,
      ...(plan.droppedParts ? { dropped_parts: plan.droppedParts } : {}),
      ...(plan.badGeometries ? { bad_geometries: plan.badGeometries } : {}),
      features_hexed: counts.hexed,
      cells: partitions.reduce((n, p) => n + p.cells, 0),
      partitions: partitions.length,
      bytes: partitions.reduce((n, p) => n + p.bytes, 0),
      ...(tiles !== undefined ? { tiles } : {}),
      ...(plan.sources ? { sources: plan.sources } : {}),
      files: Object.fromEntries(files),
    };
    await storage.writeText(o.manifest, JSON.stringify(manifest, null, 2) + '\n');
    await storage.deletePrefix(o.plan);
    const removed = o.work ? 1 + (await storage.deletePrefix(o.work)) : 1;
    log('publish', `${o.manifest}: run ${o.run}, ${manifest.features} features (${manifest.features_hexed} hexed), ${manifest.cells} cells in ${manifest.partitions} partitions; removed ${removed} work files`);
    return manifest;
  } finally {
    db.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}

/** Everything step 1 checks; what to copy. @throws CommandError on the first check that fails. */
async function check(storage: Storage, db: DuckDBConnection, o: PublishOptions, work: string) {
  const plan = await readPlan(storage, o.plan, o.resolution);
  const groups = plan.repartition!;
  const hexReports = await readHexReports(storage, o.chunks, plan.units);
  const reports = await readRepartitionReports(storage, o.reports, groups.units);
  const owner = new Map(groups.groups.flatMap((g) => g.h0.map((h0) => [h0, g.index] as const)));
  const written = new Set(hexReports.flatMap((r) => Object.keys(r.h0).filter((h0) => r.h0[h0] > 0)));
  const lost = [...written].filter((h0) => !reports[owner.get(h0) ?? -1]?.partitions[h0]);
  if (lost.length) throw new CommandError(`the hex units wrote cells in h0 cell(s) ${lost.slice(0, 5).join(', ')} that no repartition unit wrote a partition of; re-run repartition`);

  const staged = new Map((await storage.list(o.stagedHex)).map((x) => [x.url, x.size]));
  const partitions: (Item & { cells: number })[] = [];
  for (const r of reports)
    for (const [h0, p] of Object.entries(r.partitions)) {
      const from = joinUrl(o.stagedHex, `h0=${h0}`, 'data_0.parquet');
      if (staged.get(from) !== p.bytes)
        throw new CommandError(`staged partition '${from}' is ${staged.has(from) ? `${staged.get(from)} bytes, its report says ${p.bytes}` : 'missing'}; re-run repartition unit ${r.index}`);
      partitions.push({ from, to: joinUrl(o.outHex, `h0=${h0}`, 'data_0.parquet'), bytes: p.bytes, sha256: p.sha256, cells: p.cells });
    }
  partitions.sort((a, b) => (a.to < b.to ? -1 : 1));

  const geoparquet = await localCopy(storage, o.input, join(work, 'layer.parquet'));
  const ids = await Promise.all(reports.map((r) => localCopy(storage, repartitionIdsUrl(o.reports, r.index), join(work, `ids-${r.index}.parquet`))));
  const counts = await checkCounts(db, plan, geoparquet, ids, o.input);
  const singles: Item[] = [{ from: o.input, to: o.out, bytes: (await stat(geoparquet)).size, sha256: await sha256File(geoparquet) }];
  if (o.tiles) {
    if (!o.outPmtiles) throw new CommandError('--tiles needs --out-pmtiles');
    const local = await localCopy(storage, o.tiles, join(work, 'layer.pmtiles')).catch(() => {
      throw new CommandError(`no tiles archive at '${o.tiles}'; re-run the tiles stage`);
    });
    await checkPmtiles(local, o.tiles);
    singles.push({ from: o.tiles, to: o.outPmtiles, bytes: (await stat(local)).size, sha256: await sha256File(local) });
  }
  const tiles = o.tilesReport && (await storage.exists(o.tilesReport)) ? parseJson<unknown>(await storage.readText(o.tilesReport), o.tilesReport) : undefined;
  return { plan, partitions, singles, counts, tiles };
}

/** The GeoParquet's rows against the plan, and every feature with a geometry hexed. */
async function checkCounts(db: DuckDBConnection, plan: PlanHeader, geoparquet: string, ids: string[], url: string): Promise<{ hexed: number }> {
  const id = sqlIdent(plan.idColumn ?? '_cng_fid');
  const gp = `read_parquet(${sqlString(geoparquet)})`;
  const [rows, nulls] = (await db.runAndReadAll(`SELECT count(*), count(*) FILTER (WHERE bbox IS NULL) FROM ${gp}`)).getRows()[0].map(Number);
  if (rows !== plan.features || nulls !== plan.nullGeometries)
    throw new CommandError(`'${url}' has ${rows} rows (${nulls} without geometry) but the plan says ${plan.features} (${plan.nullGeometries}): they are of different runs; re-run convert`);
  await db.run(`CREATE OR REPLACE TEMP TABLE hexed AS SELECT DISTINCT id FROM read_parquet([${ids.map(sqlString).join(', ')}])`);
  const unhexed = (await db.runAndReadAll(`SELECT ${id} FROM ${gp} WHERE bbox IS NOT NULL AND ${id} NOT IN (SELECT id FROM hexed) ORDER BY 1`)).getRows().map((r) => String(r[0]));
  if (unhexed.length)
    throw new CommandError(`${unhexed.length} feature(s) with a geometry have no H3 cell (${plan.idColumn ?? '_cng_fid'}: ${unhexed.slice(0, 20).join(', ')}${unhexed.length > 20 ? ', …' : ''})`);
  const [[hexed]] = (await db.runAndReadAll('SELECT count(*) FROM hexed')).getRows();
  return { hexed: Number(hexed) };
}

/** @throws CommandError unless the file is a PMTiles v3 archive whose header and metadata read. */
async function checkPmtiles(path: string, url: string): Promise<void> {
  const fh = await open(path);
  try {
    const source: Source = {
      getKey: () => path,
      getBytes: async (offset: number, length: number) => {
        const buf = Buffer.alloc(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        return { data: buf.buffer.slice(0, bytesRead) as ArrayBuffer };
      },
    };
    const p = new PMTiles(source);
    const h = await p.getHeader();
    await p.getMetadata();
    if (h.specVersion !== 3) throw new Error(`PMTiles version ${h.specVersion}, expected 3`);
  } catch (err) {
    throw new CommandError(`'${url}' is not a readable PMTiles archive (${(err as Error).message.split('\n')[0]}); re-run the tiles stage`);
  } finally {
    await fh.close();
  }
}

/** Removes the published partitions (`h0=<cell>/` under `outHex`) this run did not write, logging each. */
export async function removeStale(storage: Storage, outHex: string, keep: Set<string>): Promise<void> {
  const stale = new Map<string, number>();
  for (const x of await storage.list(outHex)) {
    if (keep.has(x.url)) continue;
    const part = x.url.slice(outHex.replace(/\/+$/, '').length + 1).split('/')[0];
    stale.set(part, (stale.get(part) ?? 0) + 1);
    await storage.deletePrefix(x.url);
  }
  for (const [part, n] of stale) log('publish', `removed ${part} from '${outHex}' (${n} file${n > 1 ? 's' : ''}): an earlier run's partition this run did not write`);
}
