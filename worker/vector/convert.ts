import { mkdtemp, rm } from 'node:fs/promises';
import { expectScratch, layerBytes } from '../core/disk-full.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import gdal, { type Dataset, type Layer } from 'gdal-async';
import { CommandError } from '../core/errors.ts';
import { configureGdalCache, openDuckDB } from '../core/limits.ts';
import { log } from '../core/log.ts';
import { configureGdalS3 } from '../io/gdal.ts';
import { gdalLogOffset } from '../io/gdal-log.ts';
import { type BBox, bboxStructSql, geoMetadata, geoParquetCopyOptions } from '../io/geoparquet.ts';
import { Storage } from '../io/storage.ts';
import type { RawOptions } from '../stage.ts';
import { BB, checkUniqueIds, type Column, createStaging, HILBERT, loadFeatures, planColumns, SEQ, WKB } from './staging.ts';
import { type FeatureTally, type GeometryStats, layerDimension } from './geometry.ts';
import { translate } from './gdal-pass.ts';
import { openLayerSource } from './source-layer.ts';
import { type BadGeometryPolicy, checkEveryFeatureRead, explainFailedPass, handleBadGeometries } from './bad-features.ts';
import { buildHexPlan, type HexPlan } from './plan.ts';
import { convertStageDef } from './stages.ts';
import { sqlIdent, sqlString } from '../core/text.ts';

/**
 * `convert`: one vector layer → GeoParquet 1.1 + hex plan.
 *
 * Pipeline:
 * 1. One GDAL pass (gdal-pass.ts: `vectorTranslate`, C++, in a libuv thread) from the source
 *    layer into a temporary GeoPackage: curves linearized, multi forced, Z/M dropped, reprojected
 *    to EPSG:4326 lon/lat (no `-wrapdateline`: it drops the points of GeometryCollections). 64-bit integers and
 *    dates/times travel as GDAL's text form so nothing is rounded (JavaScript numbers, and
 *    gdal-async's whole-second date objects, would lose digits).
 * 2. At the same time, on the main thread, a streaming pass (staging.ts) reads what GDAL has
 *    committed so far (WAL mode, a commit every 4096 features; see streamTemp), one feature at a
 *    time, nothing kept in memory but three numbers per feature for the plan (feature-tally.ts):
 *    geometries crossing the antimeridian are unwrapped, made valid (GEOS) and cut at 180°; other
 *    invalid geometries are made valid (normalize-geometry.ts); rows go to a DuckDB table through
 *    the appender (spilling to $TMPDIR under the pod's memory limit) with each attribute in its
 *    own type (columns.ts).
 * 3. DuckDB writes the GeoParquet (write-geoparquet.ts: Hilbert order of bbox centres, ZSTD,
 *    ≤ 49,152-row groups, our 1.1.0 `geo` metadata), which is uploaded to `--out`; then the hex
 *    plan goes to `--plan`.
 *
 * Decisions:
 * - An empty layer (0 features, and 0 declared) is not an error: an empty GeoParquet (valid, no
 *   bbox) and a plan of empty work units, with a log line saying so.
 * - No feature is dropped: the rows read back from GDAL's pass are checked against the source's
 *   feature count, and no failed read publishes: an error GDAL logs while the source is opened
 *   or read fails the stage (checkGdalErrors), and so does a count below half the declared one
 *   (`--expected-features`, checkDeclaredCount). Null and empty geometries (also geometries that GEOS reduces to nothing)
 *   become rows with a NULL geometry and bbox, counted in the plan's `nullGeometries` and logged
 *   with their ids.
 * - Repair: GEOS MakeValid, here rather than GDAL 3.6's `-makevalid`, which runs after
 *   reprojection and turns polygons crossing the antimeridian into garbage.
 *   For a polygonal input only the polygonal part of the result is kept (bow-tie → MultiPolygon
 *   of two triangles; GeometryCollection(polygon, lines) → MultiPolygon). When nothing polygonal
 *   remains (a polygon collapsed to a line), what remains is kept (MultiLineString), logged, and
 *   listed in the metadata's geometry_types — never dropped.
 * - Antimeridian: GDAL 3.6's `-wrapdateline` does not split polygons that reach 180° from a
 *   projected CRS (e.g. Aleutians in Alaska Albers) and drops the points of GeometryCollections,
 *   so it is not used: longitudes beyond ±180° are wrapped vertex by vertex. Any geometry with an edge spanning more than 180° of longitude is therefore
 *   unwrapped (continuous longitudes), repaired, and cut into parts east and west of 180°, none
 *   spanning more than 180°. A ring around a pole (it does not close once unwrapped) is left as
 *   it is and logged.
 * - Mixed dimensions: a GeometryCollection in a layer of one geometry type keeps the parts of the
 *   layer's dimension; the others are dropped and reported (log line with the ids, `droppedParts`
 *   in the hex plan, `dropped_parts` in manifest.json) — never quietly.
 * - CRS: a layer without a CRS (or with an engineering/local one) is an error — its coordinates
 *   could be in any unit and guessing would misplace them silently — with a hint when its extent
 *   looks like lon/lat. Exceptions: CSV sources, whose geometry comes from lon/lat columns
 *   (source.ts, CSV_OPEN_OPTIONS) and is taken as EPSG:4326, and GeoPackage's "Undefined geographic
 *   SRS" (srs_id 0: lon/lat with an unknown datum, also what GDAL writes for a layer created
 *   without CRS), taken as EPSG:4326 with a log line. A geographic layer whose extent is not
 *   lon/lat (a wrong declared CRS) is an error, and so is any output outside lon/lat range.
 *   GDAL's own failures (e.g. "Failed to reproject feature 2") are reported from its log, as
 *   the message GDAL throws last is often cleanup noise.
 * - Column names: DuckDB and most Parquet readers ignore case, so a name equal (case-folded) to
 *   an earlier one, or to `geometry`, `bbox` or the generated `_cng_fid`, becomes `<name>_2`
 *   (`_3`, … skipping names the layer has), logged. Strings are kept as GDAL decodes them
 *   (trailing spaces kept; GDAL recodes shapefile/FileGDB code pages). Text that is not valid
 *   UTF-8 (a shapefile without a right .cpg) is an error naming the column and a sample, unless
 *   `--encoding` gives the source's encoding (GDAL's ENCODING open option).
 * - Types: integer → INTEGER, integer64 → BIGINT, real → DOUBLE, string → VARCHAR, date → DATE,
 *   datetime → TIMESTAMP (values with a UTC offset converted to UTC, others kept as written),
 *   time → TIME, binary → BLOB, list types → VARCHAR (GeoJSON arrays as JSON text, other lists
 *   in GDAL's "(n:a,b)" form). gdal-async does not expose field subtypes, so booleans/int16 are
 *   INTEGER and float32 is DOUBLE. CSV columns are VARCHAR unless a .csvt sidecar declares
 *   types (no guessing: it would turn e.g. ZIP codes into integers).
 * - `--id-column` must name an integer attribute with unique, non-null values; it then replaces
 *   `_cng_fid` (the plan records the id column as `idColumn`).
 */

export async function convertStage(opts: RawOptions): Promise<void> {
  const o = convertStageDef.parse(opts);
  const result = await convertLayer({
    source: o.source, sourcePath: o.sourcePath, sourceFileColumn: o.sourceFileColumn, layer: o.layer, resolution: o.resolution, units: o.units, idColumn: o.idColumn, encoding: o.encoding,
    expectedFeatures: o.expectedFeatures, badGeometry: o.badGeometry, repartitionUnits: o.repartitionUnits, upload: { out: o.out, plan: o.plan },
  });
  log('convert', `wrote ${o.out} (${result.rows} rows) and ${o.plan} (${o.units} work units, ~${result.plan.estimatedCells} cells)`);
}

export interface ConvertOptions {
  /** One source, or several (comma-separated, globs allowed) merged into one layer (source-layer.ts). */
  source: string;
  /** Path inside each `.zip` source. */
  sourcePath?: string;
  /** Column holding each row's source file name. */
  sourceFileColumn?: string;
  layer: string;
  resolution: number;
  units: number;
  /** Repartition units (groups of h0 cells). @default 1 */
  repartitionUnits?: number;
  idColumn?: string;
  /** The source's text encoding (a shapefile's; GDAL's ENCODING open option). */
  encoding?: string;
  /** The layer's declared feature count (the dataset file's `features`): see {@link checkDeclaredCount}. */
  expectedFeatures?: number;
  /** What a geometry no engine can use does: see bad-features.ts. @default 'fail' */
  badGeometry?: BadGeometryPolicy;
  /** Where to put the products (URLs or paths, via Storage). */
  upload: { out: string; plan: string };
}

export interface ConvertResult {
  rows: number;
  plan: HexPlan;
  /** Counts of what was done to the geometries. */
  stats: GeometryStats;
  /** Output column names (attributes, in order, after renaming). */
  columns: string[];
}

/** Runs the whole convert stage (see the module comment). */
export async function convertLayer(o: ConvertOptions): Promise<ConvertResult> {
  const storage = new Storage();
  configureGdalS3();
  configureGdalCache();
  const logStart = gdalLogOffset();
  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-convert-'));
  let opened: Dataset | undefined;
  let db: DuckDBConnection | undefined;
  try {
    const src = await openLayerSource({ ...o, stage: 'convert' }, work, storage);
    opened = src.ds;
    const { ds, layer, where } = src;
    if (layer.geomType === gdal.wkbNone)
      throw new CommandError(`${where} has no geometry column (a table); use 'cng-worker table' for non-spatial layers`);
    const extra = sourceCrsArgs(ds, layer, where);
    const sourceCount = await layer.features.countAsync();

    // Columns and id.
    const generatedId = o.idColumn === undefined;
    const reserved = [SEQ, WKB, ...BB, HILBERT, 'geometry', 'bbox', ...(generatedId ? [FID_COLUMN] : [])];
    const columns = planColumns(layer, reserved, (m) => log('convert', m));
    const idCol = generatedId ? undefined : idColumnOf(layer, columns, o.idColumn!, where);
    const idName = idCol ? idCol.name : FID_COLUMN;

    // 1. + 2. The GDAL pass, streamed into DuckDB while GDAL writes (see streamTemp).
    expectScratch(work, 3 * layerBytes(sourceCount).raw); // GeoPackage, staging, GeoParquet
    db = await openDuckDB();
    await createStaging(db, columns, true);
    const tmpPath = join(work, 'layer.gpkg');
    const tally = await loadFeatures(db, tmpPath, () => translate(ds, layer.name, tmpPath, { spatial: true, extra, stage: 'convert', where }),
      columns, idCol, sourceCount, o.resolution, where, layerDimension(layer.geomType)).catch((err) => {
      throw explainFailedPass(err, layer, sourceCount, where);
    });
    checkEveryFeatureRead(layer, tally.rows, sourceCount, logStart, tmpPath, where);
    checkDeclaredCount(tally.rows, o.expectedFeatures, where);
    if (idCol) await checkUniqueIds(db, idCol.name, o.idColumn!, where);
    const badGeometries = handleBadGeometries(layer, tally, o.badGeometry ?? 'fail', idName, where);
    if (tally.rows === 0) log('convert', `${where} has 0 features: writing an empty GeoParquet and a plan of ${o.units} empty work unit(s)`);
    tally.logStats(idName);
    checkLonLatBbox(tally.bbox, layer, where);

    // 3. GeoParquet.
    const outPath = join(work, 'layer.parquet');
    await writeGeoParquet(db, outPath, columns, generatedId, tally);
    db.closeSync();
    db = undefined;

    const plan = buildHexPlan({
      layer: o.layer, idColumn: idName, resolution: o.resolution, units: o.units,
      featureCount: tally.rows, nullGeometries: tally.stats.nullGeometries, droppedParts: tally.dropped, badGeometries, features: tally.planFeatures,
      repartitionUnits: o.repartitionUnits, h0Estimates: tally.h0Estimates,
    });
    if (src.files.length > 1 || src.fetched.length) plan.sources = { files: src.files, ...(src.fetched.length ? { fetched: src.fetched } : {}) };
    await storage.upload(outPath, o.upload.out);
    await storage.writeText(o.upload.plan, JSON.stringify(plan) + '\n');
    return { rows: tally.rows, plan, stats: tally.stats, columns: columns.map((c) => c.name) };
  } finally {
    db?.closeSync();
    opened?.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** Below this share of the declared feature count, a layer counts as not read. */
export const MIN_SHARE_OF_DECLARED = 0.5;

/**
 * The count read against the layer's declared one (`--expected-features`, from the dataset
 * file's `features`): a layer that comes back empty, or with fewer than half of its declared
 * features, is a failed read (declared sizes are estimates, so more, or somewhat fewer, is fine).
 * @throws CommandError naming the layer, the count read and the expected count.
 */
export function checkDeclaredCount(rows: number, expected: number | undefined, where: string): void {
  if (!expected || rows >= expected * MIN_SHARE_OF_DECLARED) return;
  throw new CommandError(`${where}: read ${rows} features, expected ${expected} (declared features; less than ${MIN_SHARE_OF_DECLARED * 100}% is a failed read); nothing was written`);
}

/**
 * The GDAL pass's extra arguments for the layer's CRS (`-s_srs EPSG:4326` for a CSV without
 * one). @throws CommandError for a layer without CRS (or with a local one), or a geographic
 * layer whose extent is not lon/lat.
 */
function sourceCrsArgs(ds: Dataset, layer: Layer, where: string): string[] {
  const extra: string[] = [];
  const srs = layer.srs;
  if (!srs || srs.isLocal()) {
    if (ds.driver.description === 'CSV') {
      extra.push('-s_srs', 'EPSG:4326');
      log('convert', `${where}: CSV geometry from lon/lat columns, taken as EPSG:4326`);
    } else throw new CommandError(`${where} has no coordinate reference system${lonLatHint(layer)}; assign one in the source (e.g. a .prj file, or ogr2ogr -a_srs)`);
  } else if (/^undefined geographic/i.test(srs.getAttrValue('GEOGCS') ?? '')) {
    // GeoPackage's srs_id 0: geographic coordinates with an unknown datum. PROJ passes them through.
    log('convert', `${where}: 'Undefined geographic SRS' (lon/lat, unknown datum) taken as EPSG:4326`);
  }
  if (srs?.isGeographic()) checkLonLatExtent(layer, where);
  return extra;
}

/** The `--id-column` (exact name, else case-insensitive). @throws CommandError unless it is an integer attribute. */
function idColumnOf(layer: Layer, columns: Column[], given: string, where: string): Column {
  const idCol = columns.find((c) => c.source === given) ?? columns.find((c) => c.source.toLowerCase() === given.toLowerCase());
  if (!idCol) {
    const fid = layer.fidColumn ? ` ('${layer.fidColumn}' is the layer's FID, not an attribute)` : '';
    throw new CommandError(`--id-column '${given}' is not a column of ${where}${fid}; columns: ${columns.map((c) => c.source).join(', ')}`);
  }
  if (idCol.kind !== 'integer' && idCol.kind !== 'integer64')
    throw new CommandError(`--id-column '${given}' of ${where} is ${idCol.ogrType}, not an integer column`);
  return idCol;
}

/** @throws CommandError when the reprojected coordinates leave lon/lat range (a wrong declared CRS). */
function checkLonLatBbox(bbox: BBox | null, layer: Layer, where: string): void {
  if (bbox && (bbox[0] < -180 - 1e-6 || bbox[2] > 180 + 1e-6 || bbox[1] < -90 - 1e-6 || bbox[3] > 90 + 1e-6))
    throw new CommandError(`${where}: coordinates after reprojection to EPSG:4326 are outside lon/lat range (bbox ${bbox.map((v) => +v.toFixed(3)).join(', ')}); the layer's declared CRS (${crsName(layer)}) is probably wrong`);
}

/** ' (its extent … looks like lon/lat)' when it does, else ''. */
function lonLatHint(layer: Layer): string {
  try {
    const e = layer.getExtent(true);
    if (e.minX >= -180 && e.maxX <= 360 && e.minY >= -90 && e.maxY <= 90)
      return ` (its extent ${[e.minX, e.minY, e.maxX, e.maxY].map((v) => +v.toFixed(4)).join(', ')} looks like lon/lat: if so, assign EPSG:4326)`;
  } catch {
    // no extent
  }
  return '';
}

/**
 * A geographic layer whose extent is not lon/lat (e.g. metres declared as EPSG:4326) is refused
 * before GDAL runs: wrapping their longitudes would silently turn such geometries into garbage.
 */
function checkLonLatExtent(layer: Layer, where: string): void {
  let e;
  try {
    e = layer.getExtent(true);
  } catch {
    return; // empty layer
  }
  // A NaN or infinite coordinate: not a CRS question; the feature is named after the pass (bad-features.ts).
  if (![e.minX, e.minY, e.maxX, e.maxY].every(Number.isFinite)) return;
  if (e.minY < -90 - 1e-6 || e.maxY > 90 + 1e-6 || e.minX < -360 || e.maxX > 360)
    throw new CommandError(`${where}: extent ${[e.minX, e.minY, e.maxX, e.maxY].map((v) => +v.toFixed(3)).join(', ')} is not lon/lat, but the layer's CRS (${crsName(layer)}) is geographic: the declared CRS is probably wrong`);
}

function crsName(layer: Layer): string {
  const srs = layer.srs;
  if (!srs) return 'none';
  const code = srs.getAuthorityCode(null);
  const auth = srs.getAuthorityName(null);
  return auth && code ? `${auth}:${code}` : (srs.getAttrValue('PROJCS') ?? srs.getAttrValue('GEOGCS') ?? 'unnamed');
}

/**
 * convert's GeoParquet, written by DuckDB from the staging table: rows in Hilbert order of their
 * bbox centres (no geometry last), ZSTD, ≤ 49,152-row groups, the `_cng_fid` (when generated),
 * the attributes, `geometry` and the `bbox` covering column, and our GeoParquet 1.1.0 `geo`
 * metadata.
 */

/** The generated feature id column. */
export const FID_COLUMN = '_cng_fid';

/** Writes the staging table to `outPath`, with `_cng_fid` first when `generatedId`. */
export async function writeGeoParquet(db: DuckDBConnection, outPath: string, columns: Column[], generatedId: boolean, tally: FeatureTally): Promise<void> {
  const geo = geoMetadata({ geometryTypes: tally.geometryTypes, bbox: tally.bbox });
  const attrs = columns.map((c) => sqlIdent(c.name));
  const select = [...(generatedId ? [`${sqlIdent(SEQ)} AS ${sqlIdent(FID_COLUMN)}`] : []), ...attrs,
    `ST_GeomFromWKB(${sqlIdent(WKB)}) AS geometry`,
    `${bboxStructSql(...(BB.map(sqlIdent) as [string, string, string, string]), `${sqlIdent(WKB)} IS NULL`)} AS bbox`];
  log('convert', `writing GeoParquet (${tally.rows} rows, Hilbert order)`);
  const copyStarted = Date.now();
  await db.run(
    `COPY (SELECT ${select.join(', ')} FROM staging ORDER BY ${sqlIdent(HILBERT)} NULLS LAST, ${sqlIdent(SEQ)}) TO ${sqlString(outPath)} (${geoParquetCopyOptions(geo)})`,
  );
  log('convert', `GeoParquet written in ${((Date.now() - copyStarted) / 1000).toFixed(1)}s`);
}
