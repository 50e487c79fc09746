import { mkdtemp, rm, stat } from 'node:fs/promises';
import { expectScratch } from '../core/disk-full.ts';
import { basename, dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { CommandError } from '../core/errors.ts';
import { sqlIdent, sqlString } from '../core/text.ts';
import { openDuckDB } from '../core/limits.ts';
import { indexRanges, log } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import { hexParents, repartitionStageDef } from './stages.ts';
import { joinUrl, listLocalFiles, parseJson, Storage } from '../io/storage.ts';
import type { BadGeometries, DroppedParts } from './plan.ts';

/** What repartition needs from the hex plan (docs/stages.md). */
interface PlanHeader {
  layer?: string;
  units: number;
  resolution: number;
  idColumn?: string;
  droppedParts?: DroppedParts;
  badGeometries?: BadGeometries;
}

/** `<layer>/manifest.json`: the counts docs and STAC are generated from. */
export interface LayerManifest {
  version: 1;
  layer: string;
  source_layer: string | null;
  resolution: number;
  parents: number[];
  containment: string;
  features: number;
  null_geometries: number;
  /** Features that lost parts of another dimension in convert (absent when none did). */
  dropped_parts?: DroppedParts;
  /** Rows convert kept with a NULL geometry because it was unusable (`badGeometry: 'null'`; absent when none). */
  bad_geometries?: BadGeometries;
  features_hexed: number;
  cells: number;
  partitions: number;
  bytes: number;
}


/**
 * All hex chunks → `<out>/h0=<cell>/data_0.parquet` with the attributes joined back, after checking
 * that every chunk exists and every feature with a geometry has at least one cell. Writes the
 * layer's manifest.json, then removes the chunks. Nothing is written when a check fails.
 */
export async function repartitionStage(opts: RawOptions): Promise<void> {
  const { input, plan: planUrl, chunks, resolution: res, parents: given, containment, out, manifest: manifestUrl } = repartitionStageDef.parse(opts);
  const storage = new Storage();
  const plan = parseJson<PlanHeader>(await storage.readText(planUrl), planUrl);
  if (plan.resolution !== res)
    throw new CommandError(`plan '${planUrl}' is for resolution ${plan.resolution}, but --resolution is ${res}: re-run convert`);
  const parents = hexParents(given, res);
  const idColumn = plan.idColumn ?? '_cng_fid';
  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-repartition-'));
  const db = await openDuckDB({ share: 0.6 });
  try {
    // 1. Every work unit's chunk must be there.
    const expected = Array.from({ length: plan.units }, (_, i) => `chunk-${String(i).padStart(6, '0')}.parquet`);
    const present = new Set((await storage.list(chunks)).map((o) => basename(o.url)));
    const missing = expected.map((name, i) => (present.has(name) ? -1 : i)).filter((i) => i >= 0);
    if (missing.length)
      throw new CommandError(
        `${missing.length} of ${plan.units} hex chunks missing under '${chunks}': work units ${indexRanges(missing)}; re-run those hex indices`,
      );
    log('repartition', `downloading ${plan.units} chunks and the GeoParquet`);
    const geoparquet = join(work, 'layer.parquet');
    const sizes = await Promise.all([input, ...expected.map((name) => joinUrl(chunks, name))].map(async (u) => (await storage.stat(u))?.size ?? 0));
    expectScratch(work, 2 * sizes.reduce((a, b) => a + b, 0)); // the downloads, then the partitions
    await storage.download(input, geoparquet);
    await Promise.all(expected.map((name) => storage.download(joinUrl(chunks, name), join(work, 'chunks', name))));

    const cellCols = [`h${res}`, ...parents.map((p) => `h${p}`)];
    await db.run(`CREATE VIEW attrs AS SELECT * EXCLUDE (geometry, bbox) FROM read_parquet(${sqlString(geoparquet)})`);
    await db.run(
      `CREATE TABLE cells AS SELECT DISTINCT _cng_fid, ${cellCols.map(sqlIdent).join(', ')}, h0 FROM read_parquet(${sqlString(join(work, 'chunks', '*.parquet'))})`,
    );

    // 2. Completeness: every feature with a geometry has at least one cell.
    const counts = (
      await db.runAndReadAll(
        `SELECT count(*), count(*) FILTER (WHERE geometry IS NULL) FROM read_parquet(${sqlString(geoparquet)})`,
      )
    ).getRows()[0].map(Number);
    const [features, nullGeometries] = counts;
    const unhexed = (
      await db.runAndReadAll(
        `SELECT g.${sqlIdent(idColumn)} FROM read_parquet(${sqlString(geoparquet)}) g
         WHERE g.geometry IS NOT NULL AND g.${sqlIdent(idColumn)} NOT IN (SELECT _cng_fid FROM cells)
         ORDER BY 1`,
      )
    ).getRows().map((r) => String(r[0]));
    if (unhexed.length)
      throw new CommandError(
        `${unhexed.length} feature(s) with a geometry have no H3 cell (${idColumn}: ${unhexed.slice(0, 20).join(', ')}${unhexed.length > 20 ? ', …' : ''}); nothing was written`,
      );

    // 3. Hive-partitioned output, sorted by cell inside each partition.
    const outDir = join(work, 'hex');
    await db.run(
      `COPY (
         SELECT a.*, ${cellCols.map((c) => `c.${sqlIdent(c)}`).join(', ')}, c.h0
         FROM cells c JOIN attrs a ON a.${sqlIdent(idColumn)} = c._cng_fid
         ORDER BY c.h0, c.${sqlIdent(cellCols[0])}
       ) TO ${sqlString(outDir)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (h0), ROW_GROUP_SIZE 100000)`,
    );
    const files = await listLocalFiles(outDir);
    let bytes = 0;
    log('repartition', `uploading ${files.length} partition files`);
    for (const f of files) {
      bytes += (await stat(join(outDir, f))).size;
      await storage.upload(join(outDir, f), joinUrl(out, f));
    }
    // Partitions of an earlier run that this run did not write are stale: remove them.
    const keep = new Set(files.map((f) => joinUrl(out, f)));
    for (const o of await storage.list(out)) if (!keep.has(o.url)) await storage.deletePrefix(o.url);

    const [cells, hexed] = (
      await db.runAndReadAll(`SELECT count(*), count(DISTINCT _cng_fid) FROM cells`)
    ).getRows()[0].map(Number);
    const manifest: LayerManifest = {
      version: 1,
      layer: basename(dirname(out.replace(/\/+$/, ''))),
      source_layer: plan.layer ?? null,
      resolution: res,
      parents,
      containment,
      features,
      null_geometries: nullGeometries,
      ...(plan.droppedParts ? { dropped_parts: plan.droppedParts } : {}),
      ...(plan.badGeometries ? { bad_geometries: plan.badGeometries } : {}),
      features_hexed: hexed,
      cells,
      partitions: new Set(files.map((f) => dirname(f))).size,
      bytes,
    };
    await storage.writeText(manifestUrl, JSON.stringify(manifest, null, 2) + '\n');
    const removed = await storage.deletePrefix(chunks);
    log('repartition', `${cells} cells of ${hexed} features in ${manifest.partitions} partitions (${bytes} bytes); removed ${removed} chunks`);
  } finally {
    db.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}

/** `3, 17, 40–52` style list of indices. */

