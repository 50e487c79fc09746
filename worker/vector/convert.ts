/**
 * `convert` (one vector layer → GeoParquet 1.1 + hex plan) and `table` (one non-spatial layer →
 * Parquet).
 *
 * Pipeline of `convert`:
 * 1. One GDAL pass (`vectorTranslate`, C++, in a libuv thread) from the source layer into a
 *    temporary GeoPackage: curves linearized, multi forced, Z/M dropped, reprojected to EPSG:4326
 *    lon/lat, `-wrapdateline` (longitudes into [-180, 180]). 64-bit integers and dates/times
 *    travel as GDAL's text form so nothing is rounded (JavaScript numbers, and gdal-async's
 *    whole-second date objects, would lose digits).
 * 2. At the same time, on the main thread, a streaming pass reads what GDAL has committed so far
 *    (WAL mode, a commit every 4096 features; see streamTemp), one feature at a time, nothing
 *    kept in memory but three numbers per feature for the plan: geometries crossing the
 *    antimeridian are unwrapped, made valid (GEOS) and cut at 180°; other invalid geometries are
 *    made valid; rows go to a DuckDB table through the appender (spilling to $TMPDIR under the
 *    pod's memory limit) with each attribute in its own type.
 * 3. DuckDB writes the GeoParquet (Hilbert order of bbox centres, ZSTD, ≤ 49,152-row groups, our
 *    1.1.0 `geo` metadata), which is uploaded to `--out`; then the hex plan goes to `--plan`.
 *
 * Decisions:
 * - No feature is dropped: the rows read back from GDAL's pass are checked against the source's
 *   feature count. Null and empty geometries (also geometries that GEOS reduces to nothing)
 *   become rows with a NULL geometry and bbox, counted in the plan's `nullGeometries` and logged
 *   with their ids.
 * - Repair: GEOS MakeValid, here rather than GDAL 3.6's `-makevalid`, which runs after
 *   reprojection *and* `-wrapdateline` and turns polygons crossing the antimeridian into garbage.
 *   For a polygonal input only the polygonal part of the result is kept (bow-tie → MultiPolygon
 *   of two triangles; GeometryCollection(polygon, lines) → MultiPolygon). When nothing polygonal
 *   remains (a polygon collapsed to a line), what remains is kept (MultiLineString), logged, and
 *   listed in the metadata's geometry_types — never dropped.
 * - Antimeridian: GDAL 3.6's `-wrapdateline` does not split polygons that reach 180° from a
 *   projected CRS (e.g. Aleutians in Alaska Albers): it only wraps longitudes, leaving edges that
 *   jump 360°. Any geometry with an edge spanning more than 180° of longitude is therefore
 *   unwrapped (continuous longitudes), repaired, and cut into parts east and west of 180°, none
 *   spanning more than 180°. A ring around a pole (it does not close once unwrapped) is left as
 *   it is and logged.
 * - CRS: a layer without a CRS (or with an engineering/local one) is an error — its coordinates
 *   could be in any unit and guessing would misplace them silently — with a hint when its extent
 *   looks like lon/lat. Exceptions: CSV sources, whose geometry comes from lon/lat columns
 *   ({@link CSV_OPEN_OPTIONS}) and is taken as EPSG:4326, and GeoPackage's "Undefined geographic
 *   SRS" (srs_id 0: lon/lat with an unknown datum, also what GDAL writes for a layer created
 *   without CRS), taken as EPSG:4326 with a log line. A geographic layer whose extent is not
 *   lon/lat (a wrong declared CRS) is an error, and so is any output outside lon/lat range.
 *   GDAL's own failures (e.g. "Failed to reproject feature 2") are reported from its log, as
 *   the message GDAL throws last is often cleanup noise.
 * - Column names: DuckDB and most Parquet readers ignore case, so a name equal (case-folded) to
 *   an earlier one, or to `geometry`, `bbox` or the generated `_cng_fid`, becomes `<name>_2`
 *   (`_3`, … skipping names the layer has), logged. Strings are kept as GDAL decodes them
 *   (trailing spaces kept; GDAL recodes shapefile/FileGDB code pages); bytes that are not valid
 *   UTF-8 become U+FFFD.
 * - Types: integer → INTEGER, integer64 → BIGINT, real → DOUBLE, string → VARCHAR, date → DATE,
 *   datetime → TIMESTAMP (values with a UTC offset converted to UTC, others kept as written),
 *   time → TIME, binary → BLOB, list types → VARCHAR (GeoJSON arrays as JSON text, other lists
 *   in GDAL's "(n:a,b)" form). gdal-async does not expose field subtypes, so booleans/int16 are
 *   INTEGER and float32 is DOUBLE. CSV columns are VARCHAR unless a .csvt sidecar declares
 *   types (no guessing: it would turn e.g. ZIP codes into integers).
 * - `--id-column` must name an integer attribute with unique, non-null values; it then replaces
 *   `_cng_fid` (the plan records the id column as `idColumn`).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DuckDBDateValue, DuckDBTimestampValue, DuckDBTimeValue, type DuckDBAppender, type DuckDBConnection,
} from '@duckdb/node-api';
import gdal, { type Dataset, type Feature, type Geometry, type Layer } from 'gdal-async';
import { CommandError } from '../core/errors.ts';
import { configureGdalS3, geometryTypeName, toGdalPath } from '../io/gdal.ts';
import { type BBox, bboxStructSql, geoMetadata, geoParquetCopyOptions, lonLatHilbert } from '../io/geoparquet.ts';
import { decodeWkb, encodeWkb, type Geom, partsOfDimension, polygonalPart, scanWkb, toMultiWkb, translateX, unwrapAntimeridian, WKB_TYPE_NAMES, type WkbInfo } from '../geo/wkb.ts';
import { configureGdalCache, openDuckDB, readLimits } from '../core/limits.ts';
import { log, Progress } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import { convertStageDef, tableStageDef } from './stages.ts';
import { buildHexPlan, estimateCells, type HexPlan, type PlanFeature } from './plan.ts';
import { Storage } from '../io/storage.ts';
import { firstLine, sqlIdent, sqlString } from '../core/text.ts';

/** The generated feature id column. */
export const FID_COLUMN = '_cng_fid';

/** Open options of GDAL's CSV driver: geometry from lon/lat columns, which are then not attributes. */
export const CSV_OPEN_OPTIONS = [
  'X_POSSIBLE_NAMES=lon,longitude,lng,long,x',
  'Y_POSSIBLE_NAMES=lat,latitude,y',
  'KEEP_GEOM_COLUMNS=NO',
];

/** Internal columns of the staging table (reserved: attributes with these names are renamed). */
const SEQ = '__cng_seq';
const WKB = '__cng_wkb';
const BB = ['__cng_xmin', '__cng_ymin', '__cng_xmax', '__cng_ymax'] as const;
const HILBERT = '__cng_hilbert';

// ---------------------------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------------------------

export async function convertStage(opts: RawOptions): Promise<void> {
  const o = convertStageDef.parse(opts);
  const result = await convertLayer({
    source: o.source, layer: o.layer, resolution: o.resolution, units: o.units, idColumn: o.idColumn,
    upload: { out: o.out, plan: o.plan },
  });
  log('convert', `wrote ${o.out} (${result.rows} rows) and ${o.plan} (${o.units} work units, ~${result.plan.estimatedCells} cells)`);
}

export async function tableStage(opts: RawOptions): Promise<void> {
  const { source, layer: name, out: outUrl } = tableStageDef.parse(opts);
  const storage = new Storage();
  configureGdalS3();
  configureGdalCache();
  const ds = await openSource(source, storage);
  let work: string | undefined;
  let db: DuckDBConnection | undefined;
  try {
    const layer = await findLayer(ds, name, source);
    if (layer.geomType !== gdal.wkbNone)
      throw new CommandError(`layer '${name}' of '${source}' has geometries (${geometryTypeName(layer.geomType)}); use 'cng-worker convert' for spatial layers`);
    const sourceCount = await layer.features.countAsync();
    const columns = planColumns(layer, [SEQ], (m) => log('table', m));
    if (columns.length === 0) throw new CommandError(`table '${name}' of '${source}' has no columns`);
    work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-table-'));
    const tmpPath = join(work, 'table.gpkg');
    db = await openDuckDB();
    await db.run(`CREATE TABLE staging (${[`${sqlIdent(SEQ)} BIGINT`, ...columns.map((c) => `${sqlIdent(c.name)} ${c.sqlType}`)].join(', ')})`);
    const appender = await db.createAppender('staging');
    let n = 0;
    try {
      const progress = new Progress('table', 'rows', sourceCount);
      const pass = () => translate(ds, layer.name, tmpPath, { spatial: false, stage: 'table', where: `table '${name}' of '${source}'` });
      await streamTemp(tmpPath, pass, columns.length, (f) => {
        const values = f.fields.toArray();
        appender.appendBigInt(BigInt(++n));
        for (const c of columns) c.append(appender, values[c.index]);
        appender.endRow();
        if ((n & 1023) === 0) progress.update(n);
      });
      progress.done(n);
    } finally {
      appender.closeSync();
    }
    if (n !== sourceCount) throw new CommandError(`read ${n} of ${sourceCount} rows of '${name}' in '${source}'; nothing was written`);
    const out = join(work, 'table.parquet');
    await db.run(
      `COPY (SELECT ${columns.map((c) => sqlIdent(c.name)).join(', ')} FROM staging ORDER BY ${sqlIdent(SEQ)}) TO ${sqlString(out)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    await storage.upload(out, outUrl);
    log('table', `wrote ${n} rows × ${columns.length} columns of '${name}' to ${outUrl}`);
  } finally {
    db?.closeSync();
    ds.close();
    if (work) await rm(work, { recursive: true, force: true });
  }
}


// ---------------------------------------------------------------------------------------------
// convert, as a library call
// ---------------------------------------------------------------------------------------------

export interface ConvertOptions {
  source: string;
  layer: string;
  resolution: number;
  units: number;
  idColumn?: string;
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

export interface GeometryStats {
  /** Null or empty in the source, or reduced to nothing by MakeValid. */
  nullGeometries: number;
  emptyGeometries: number;
  repaired: number;
  /** Polygons that kept no polygonal part after MakeValid (kept as lines/points). */
  collapsed: number;
  splitAtAntimeridian: number;
  /** Rings around a pole, left as they were. */
  aroundPole: number;
}

/** Runs the whole convert stage (see the module comment). */
export async function convertLayer(o: ConvertOptions): Promise<ConvertResult> {
  const storage = new Storage();
  configureGdalS3();
  configureGdalCache();
  const ds = await openSource(o.source, storage);
  let work: string | undefined;
  let db: DuckDBConnection | undefined;
  try {
    const layer = await findLayer(ds, o.layer, o.source);
    const where = `layer '${o.layer}' of '${o.source}'`;
    if (layer.geomType === gdal.wkbNone)
      throw new CommandError(`${where} has no geometry column (a table); use 'cng-worker table' for non-spatial layers`);
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
    const sourceCount = await layer.features.countAsync();

    // Columns and id.
    const generatedId = o.idColumn === undefined;
    const reserved = [SEQ, WKB, ...BB, HILBERT, 'geometry', 'bbox', ...(generatedId ? [FID_COLUMN] : [])];
    const columns = planColumns(layer, reserved, (m) => log('convert', m));
    let idCol: Column | undefined;
    if (!generatedId) {
      idCol = columns.find((c) => c.source === o.idColumn) ?? columns.find((c) => c.source.toLowerCase() === o.idColumn!.toLowerCase());
      if (!idCol) {
        const fid = layer.fidColumn ? ` ('${layer.fidColumn}' is the layer's FID, not an attribute)` : '';
        throw new CommandError(`--id-column '${o.idColumn}' is not a column of ${where}${fid}; columns: ${columns.map((c) => c.source).join(', ')}`);
      }
      if (idCol.kind !== 'integer' && idCol.kind !== 'integer64')
        throw new CommandError(`--id-column '${o.idColumn}' of ${where} is ${idCol.ogrType}, not an integer column`);
    }
    const idName = idCol ? idCol.name : FID_COLUMN;

    // 1. + 2. The GDAL pass, streamed into DuckDB while GDAL writes (see streamTemp).
    work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-convert-'));
    db = await openDuckDB();
    await db.run(
      `CREATE TABLE staging (${sqlIdent(SEQ)} BIGINT, ${columns.map((c) => `${sqlIdent(c.name)} ${c.sqlType}, `).join('')}` +
        `${sqlIdent(WKB)} BLOB, ${BB.map((b) => `${sqlIdent(b)} DOUBLE`).join(', ')}, ${sqlIdent(HILBERT)} UINTEGER)`,
    );
    const tmpPath = join(work, 'layer.gpkg');
    const loaded = await loadFeatures(db, tmpPath, () => translate(ds, layer.name, tmpPath, { spatial: true, extra, stage: 'convert', where }),
      columns, idCol, sourceCount, o.resolution, where);
    if (loaded.rows !== sourceCount)
      throw new CommandError(`GDAL delivered ${loaded.rows} of the ${sourceCount} features of ${where}; nothing was written`);
    if (idCol) await checkUniqueIds(db, idCol.name, o.idColumn!, where);
    const s = loaded.stats;
    if (s.nullGeometries > 0)
      log('convert', `${s.nullGeometries} feature(s) with a null or empty geometry kept as rows with NULL geometry (${s.emptyGeometries} empty or emptied by repair; ${idName}: ${loaded.nullIds.join(', ')}${s.nullGeometries > loaded.nullIds.length ? ', …' : ''})`);
    if (s.repaired) log('convert', `${s.repaired} invalid geometr${s.repaired === 1 ? 'y' : 'ies'} made valid (GEOS MakeValid)`);
    if (s.collapsed) log('convert', `${s.collapsed} polygon(s) had no area left after repair; kept as the lines/points that remain`);
    if (s.splitAtAntimeridian) log('convert', `${s.splitAtAntimeridian} feature(s) split at the antimeridian`);
    if (s.aroundPole) log('convert', `${s.aroundPole} feature(s) encircle a pole; left as they are`);
    const bbox = loaded.bbox;
    if (bbox && (bbox[0] < -180 - 1e-6 || bbox[2] > 180 + 1e-6 || bbox[1] < -90 - 1e-6 || bbox[3] > 90 + 1e-6))
      throw new CommandError(`${where}: coordinates after reprojection to EPSG:4326 are outside lon/lat range (bbox ${bbox.map((v) => +v.toFixed(3)).join(', ')}); the layer's declared CRS (${crsName(layer)}) is probably wrong`);

    // 3. GeoParquet.
    const outPath = join(work, 'layer.parquet');
    const geo = geoMetadata({ geometryTypes: loaded.geometryTypes, bbox });
    const attrs = columns.map((c) => sqlIdent(c.name));
    const select = [...(generatedId ? [`${sqlIdent(SEQ)} AS ${sqlIdent(FID_COLUMN)}`] : []), ...attrs,
      `ST_GeomFromWKB(${sqlIdent(WKB)}) AS geometry`,
      `${bboxStructSql(...(BB.map(sqlIdent) as [string, string, string, string]), `${sqlIdent(WKB)} IS NULL`)} AS bbox`];
    log('convert', `writing GeoParquet (${loaded.rows} rows, Hilbert order)`);
    const copyStarted = Date.now();
    await db.run(
      `COPY (SELECT ${select.join(', ')} FROM staging ORDER BY ${sqlIdent(HILBERT)} NULLS LAST, ${sqlIdent(SEQ)}) TO ${sqlString(outPath)} (${geoParquetCopyOptions(geo)})`,
    );
    log('convert', `GeoParquet written in ${((Date.now() - copyStarted) / 1000).toFixed(1)}s`);
    db.closeSync();
    db = undefined;

    const plan = buildHexPlan({
      layer: o.layer, idColumn: idName, resolution: o.resolution, units: o.units,
      featureCount: loaded.rows, nullGeometries: s.nullGeometries, features: loaded.planFeatures,
    });
    await storage.upload(outPath, o.upload.out);
    await storage.writeText(o.upload.plan, JSON.stringify(plan) + '\n');
    return { rows: loaded.rows, plan, stats: s, columns: columns.map((c) => c.name) };
  } finally {
    db?.closeSync();
    ds.close();
    if (work) await rm(work, { recursive: true, force: true });
  }
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
 * before GDAL runs: its `-wrapdateline` would silently turn such geometries into empty ones.
 */
function checkLonLatExtent(layer: Layer, where: string): void {
  let e;
  try {
    e = layer.getExtent(true);
  } catch {
    return; // empty layer
  }
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

async function checkUniqueIds(db: DuckDBConnection, column: string, given: string, where: string): Promise<void> {
  const dups = (
    await db.runAndReadAll(`SELECT ${sqlIdent(column)}, count(*) FROM staging GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 5`)
  ).getRows();
  if (dups.length)
    throw new CommandError(`--id-column '${given}' of ${where} is not unique: ${dups.map(([v, n]) => `${v} (${n}×)`).join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// Opening sources
// ---------------------------------------------------------------------------------------------

/**
 * Opens a vector source read-only: `s3://` (a local file under CNG_STORAGE_DIR, else `/vsis3/`),
 * `http(s)://` (`/vsicurl/`), `/vsi*` or a path. CSV files get {@link CSV_OPEN_OPTIONS}; GeoJSON
 * arrays are read as JSON strings.
 * @throws CommandError naming `source` when it is missing or unreadable.
 */
export async function openSource(source: string, storage = new Storage()): Promise<Dataset> {
  let path: string;
  if (/^s3:\/\//.test(source)) {
    const loc = storage.resolve(source);
    path = loc.kind === 'file' ? loc.path : toGdalPath(source);
  } else path = toGdalPath(source);
  if (!path.startsWith('/vsi') && !existsSync(path)) throw new CommandError(`'${source}': no such file or directory`);
  const previous = gdal.config.get('OGR_GEOJSON_ARRAY_AS_STRING');
  gdal.config.set('OGR_GEOJSON_ARRAY_AS_STRING', 'YES');
  let ds: Dataset;
  try {
    // Synchronous: gdal-async's Driver.openAsync ignores open options (its 3rd argument).
    ds = /\.(csv|tsv)$/i.test(path) ? gdal.drivers.get('CSV').open(path, 'r', CSV_OPEN_OPTIONS) : await gdal.openAsync(path, 'r');
  } catch (err) {
    throw new CommandError(`cannot open '${source}': ${firstLine((err as Error).message)}`);
  } finally {
    gdal.config.set('OGR_GEOJSON_ARRAY_AS_STRING', previous ?? null);
  }
  if ((await ds.layers.countAsync()) === 0) {
    const driver = ds.driver.description;
    ds.close();
    throw new CommandError(`'${source}' has no vector layers (driver ${driver})`);
  }
  return ds;
}

/** The layer named `name` (exact name). @throws CommandError listing the available layers. */
export async function findLayer(ds: Dataset, name: string, source: string): Promise<Layer> {
  const names: string[] = [];
  for await (const l of ds.layers) {
    if (l.name === name) return l;
    names.push(l.name);
  }
  throw new CommandError(`no layer '${name}' in '${source}'; available: ${names.join(', ')}`);
}


// ---------------------------------------------------------------------------------------------
// The GDAL pass
// ---------------------------------------------------------------------------------------------

/** GDAL types that travel as text through the temporary GeoPackage (exact values). */
const TEXT_TYPES = 'Integer64=String,Date=String,DateTime=String,Time=String';

/**
 * The arguments of the GDAL pass of a spatial layer: linearize, force multi, 2-D, EPSG:4326
 * lon/lat, longitudes wrapped into [-180, 180].
 */
export const GEOMETRY_ARGS = [
  '-nlt', 'CONVERT_TO_LINEAR', '-nlt', 'PROMOTE_TO_MULTI', '-dim', 'XY', '-t_srs', 'EPSG:4326', '-wrapdateline',
];

/** FID column of the temporary GeoPackage (1…N in source order). */
const TMP_FID = '__cng_gpkg_fid';

/**
 * The GDAL pass into a temporary GeoPackage, written in WAL mode with a commit every 4096
 * features so that {@link streamTemp} can read committed features while GDAL is still writing
 * (the two passes overlap on two cores). Resolves when GDAL is done.
 */
async function translate(
  ds: Dataset, layerName: string, dest: string, o: { spatial: boolean; extra?: string[]; stage: string; where: string },
): Promise<void> {
  const args = [
    '-f', 'GPKG', '-nln', 'features', '-gt', '4096',
    // Names no attribute is likely to have, so no attribute is taken for the FID or geometry.
    '-lco', `FID=${TMP_FID}`, '-lco', 'GEOMETRY_NAME=__cng_gpkg_geom', '-lco', 'SPATIAL_INDEX=NO',
    '-mapFieldType', TEXT_TYPES,
    ...(o.spatial ? GEOMETRY_ARGS : []),
    ...(o.extra ?? []),
    layerName,
  ];
  let last = Date.now();
  const started = last;
  log(o.stage, `GDAL pass: ${layerName} → temporary GeoPackage`);
  const logStart = gdalLogOffset();
  const restore = setConfig({ OGR_SQLITE_JOURNAL: 'WAL', OGR_SQLITE_SYNCHRONOUS: 'OFF' });
  let out: Dataset;
  try {
    const running = gdal.vectorTranslateAsync(dest, ds, args, {
      progress_cb: (complete: number) => {
        const now = Date.now();
        if (now - last >= 5000) {
          last = now;
          log(o.stage, `GDAL pass ${(complete * 100).toFixed(1)}%`);
        }
      },
    });
    out = await running;
  } catch (err) {
    const { errors } = gdalMessages(logStart, dest);
    // GDAL reports its first error (e.g. "Failed to reproject feature 2") in the log; the thrown
    // message is its last one, often cleanup noise of the temporary file.
    const cause = errors.find((e) => /Failed to reproject/.test(e)) ?? errors[0] ?? firstLine((err as Error).message);
    const detail = errors[0] && errors[0] !== cause ? ` (${errors[0]})` : '';
    throw new CommandError(`cannot convert ${o.where}: ${cause}${detail}`);
  } finally {
    restore(); // read by GDAL's thread when it creates the file: restored only when it is done
  }
  out.close();
  const { warnings } = gdalMessages(logStart, dest);
  for (const w of warnings.slice(0, 5)) log(o.stage, `GDAL: ${w}`);
  if (warnings.length > 5) log(o.stage, `GDAL: … and ${warnings.length - 5} more distinct warnings`);
  log(o.stage, `GDAL pass done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

let gdalLogPath: string | undefined;

/**
 * GDAL's messages go to a log file (CPL_LOG) instead of being dropped (gdal-async's default) or
 * printed on stderr (which must stay one line on failure), so that a failed pass can report its
 * real cause. Returns the current end of the log.
 */
function gdalLogOffset(): number {
  if (!gdalLogPath) {
    removeStaleGdalLogs();
    const path = join(tmpdir(), `cng-gdal-${process.pid}.log`);
    gdal.config.set('CPL_LOG', path); // read once, at GDAL's first message
    gdal.verbose();
    gdalLogPath = path;
    process.once('exit', () => rmSync(path, { force: true }));
  }
  try {
    return statSync(gdalLogPath).size;
  } catch {
    return 0;
  }
}

/** Removes the GDAL logs of processes that are gone (killed before their 'exit' hook ran). */
function removeStaleGdalLogs(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^cng-gdal-(\d+)\.log$/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(tmpdir(), name), { force: true });
    }
  }
}

/**
 * Distinct GDAL errors and warnings logged since `offset`, leaving out noise about the temporary
 * file (`tmpPath`: opened by streamTemp before GDAL has written its header; geometry types).
 */
function gdalMessages(offset: number, tmpPath: string): { errors: string[]; warnings: string[] } {
  let text = '';
  try {
    text = readFileSync(gdalLogPath!).subarray(offset).toString('utf8');
  } catch {
    // no messages
  }
  const errors = new Set<string>();
  const warnings = new Set<string>();
  for (const m of text.split(/\n(?=(?:ERROR|Warning) \d+: )/)) {
    const r = /^(ERROR|Warning) \d+: ([\s\S]*)$/.exec(m.trim());
    if (!r) continue;
    const msg = r[2].replace(/\s+/g, ' ').trim();
    if (msg.includes(tmpPath)) continue;
    if (r[1] === 'ERROR') errors.add(msg);
    else if (!/not normally allowed by the GeoPackage|already exists\. Renaming it|Progress turned off/.test(msg)) warnings.add(msg);
  }
  return { errors: [...errors], warnings: [...warnings] };
}

/** Sets GDAL config options; returns a function restoring the previous values. */
function setConfig(options: Record<string, string>): () => void {
  const previous = Object.fromEntries(Object.keys(options).map((k) => [k, gdal.config.get(k)]));
  for (const [k, v] of Object.entries(options)) gdal.config.set(k, v);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const [k, v] of Object.entries(previous)) gdal.config.set(k, v ?? null);
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the GDAL pass (`start`) and calls `onFeature` for every feature of the temporary
 * GeoPackage in FID order (1, 2, …) while the pass is still producing it (when the pod has two
 * CPUs or more; with one, after it): rounds of `FID > last` queries over what is committed,
 * until the pass has finished and a last round finds nothing new.
 * The file is read only once its table has all `fields` columns. Returns the number of features.
 * Rejects with the GDAL pass's error if it fails; never returns before the pass has ended.
 */
async function streamTemp(path: string, start: () => Promise<void>, fields: number, onFeature: (f: Feature) => void): Promise<number> {
  const writing = start();
  // With one CPU the two passes cannot overlap; reading a file being written only adds
  // contention then (measured: GDAL pass 4.5 s alone, 7–10 s while being read on a busy machine).
  if (readLimits().cpus < 2) await writing.catch(() => undefined);
  let finished = false;
  let failure: unknown;
  writing.then(() => (finished = true), (e) => ((failure = e), (finished = true)));
  let ds: Dataset | null = null;
  let last = 0;
  try {
    for (;;) {
      const wasFinished = finished;
      if (failure) throw failure;
      if (!ds && existsSync(path)) {
        try {
          ds = gdal.open(path);
          if (ds.layers.count() === 0 || ds.layers.get(0).fields.count() !== fields) {
            ds.close();
            ds = null;
          }
        } catch {
          ds = null; // not created yet
        }
      }
      let got = 0;
      if (ds) {
        const layer = ds.layers.get(0);
        // A bounded window keeps each read snapshot short, so SQLite can checkpoint the WAL.
        layer.setAttributeFilter(`"${TMP_FID}" > ${last} AND "${TMP_FID}" <= ${last + 16384}`);
        for (const f of layer.features) {
          if (f.fid !== last + 1) throw new Error(`temporary file: feature ${f.fid} follows ${last}`);
          last = f.fid;
          got++;
          onFeature(f);
        }
      } else if (wasFinished) throw new Error(`GDAL wrote no readable temporary file at ${path} (with ${fields} fields)`);
      if (wasFinished && got === 0) break;
      await sleep(got === 0 ? 20 : 0);
    }
  } finally {
    ds?.close();
    await writing.catch(() => undefined);
  }
  return last;
}

// ---------------------------------------------------------------------------------------------
// Columns and values
// ---------------------------------------------------------------------------------------------

type Kind = 'integer' | 'integer64' | 'real' | 'string' | 'date' | 'time' | 'datetime' | 'binary' | 'list';

const SQL_TYPES: Record<Kind, string> = {
  integer: 'INTEGER', integer64: 'BIGINT', real: 'DOUBLE', string: 'VARCHAR', date: 'DATE', time: 'TIME',
  datetime: 'TIMESTAMP', binary: 'BLOB', list: 'VARCHAR',
};

export interface Column {
  /** Output name (the source name, or `<name>_<k>` when taken). */
  name: string;
  /** Name in the source. */
  source: string;
  /** Field index in the source (and in the temporary file). */
  index: number;
  ogrType: string;
  kind: Kind;
  sqlType: string;
  append(appender: DuckDBAppender, value: unknown): void;
}

function kindOf(ogrType: string): Kind {
  switch (ogrType) {
    case 'integer': return 'integer';
    case 'integer64': return 'integer64';
    case 'real': return 'real';
    case 'string': case 'wideString': return 'string';
    case 'date': return 'date';
    case 'time': return 'time';
    case 'dateTime': return 'datetime';
    case 'binary': return 'binary';
    default: return 'list';
  }
}

/** DuckDB type of a GDAL field type (`FieldDefn.type`, e.g. 'integer64' → 'BIGINT'). */
export function duckdbTypeOf(ogrType: string): string {
  return SQL_TYPES[kindOf(ogrType)];
}

/**
 * Output columns of a layer's fields: names made unique case-insensitively (and distinct from
 * `reserved`) by appending `_2`, `_3`, …, each rename reported through `report`.
 */
export function planColumns(layer: Layer, reserved: string[], report: (msg: string) => void): Column[] {
  const fields = layer.fields.map((f) => ({ name: f.name, type: f.type }));
  // Names that stay: reserved ones and the first field of each case-folded name.
  const owner = new Map<string, string>(reserved.map((r) => [r.toLowerCase(), r]));
  const keeps = fields.map((f) => {
    const key = f.name.toLowerCase();
    if (owner.has(key)) return false;
    owner.set(key, f.name);
    return true;
  });
  const taken = new Set([...owner.keys()]);
  return fields.map((f, index) => {
    let name = f.name;
    if (!keeps[index]) {
      let k = 2;
      while (taken.has(`${f.name}_${k}`.toLowerCase())) k++;
      name = `${f.name}_${k}`;
      taken.add(name.toLowerCase());
      const clash = owner.get(f.name.toLowerCase())!;
      report(reserved.includes(clash)
        ? `column '${f.name}' renamed to '${name}' ('${clash}' is a column this stage writes)`
        : `column '${f.name}' renamed to '${name}' (same name as '${clash}' for DuckDB and Parquet readers, which ignore case)`);
    }
    const kind = kindOf(f.type);
    return { name, source: f.name, index, ogrType: f.type, kind, sqlType: SQL_TYPES[kind], append: appenderFor(kind, name) };
  });
}

function appenderFor(kind: Kind, column: string): Column['append'] {
  const bad = (v: unknown): never => {
    throw new CommandError(`column '${column}': cannot read value '${String(v)}' as ${kind}`);
  };
  switch (kind) {
    case 'integer':
      return (a, v) => (v === null || v === undefined ? a.appendNull() : a.appendInteger(v as number));
    case 'integer64':
      return (a, v) => (v === null || v === undefined ? a.appendNull() : a.appendBigInt(BigInt(v as string)));
    case 'real':
      return (a, v) => (v === null || v === undefined ? a.appendNull() : a.appendDouble(v as number));
    case 'string':
    case 'list':
      return (a, v) => (v === null || v === undefined ? a.appendNull() : a.appendVarchar(typeof v === 'string' ? v : JSON.stringify(v)));
    case 'binary':
      return (a, v) => (v === null ? a.appendNull() : a.appendBlob(v === undefined ? new Uint8Array() : (v as Uint8Array)));
    case 'date':
      return (a, v) => {
        if (v === null || v === undefined) return a.appendNull();
        const d = parseOgrDateTime(String(v));
        if (!d) return bad(v);
        a.appendDate(new DuckDBDateValue(d.days));
      };
    case 'time':
      return (a, v) => {
        if (v === null || v === undefined) return a.appendNull();
        const t = parseOgrTime(String(v));
        if (t === null) return bad(v);
        a.appendTime(new DuckDBTimeValue(t));
      };
    case 'datetime':
      return (a, v) => {
        if (v === null || v === undefined) return a.appendNull();
        const d = parseOgrDateTime(String(v));
        if (!d) return bad(v);
        a.appendTimestamp(new DuckDBTimestampValue(d.micros));
      };
  }
}

/** Days from 1970-01-01 of a proleptic Gregorian date (any year). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Parses GDAL's text form of a date or datetime ('2020/01/02', '2020/01/02 03:04:05.678+01',
 * '…-0330'; '-' separators accepted too). A UTC offset converts the time to UTC; without one
 * the time is kept as written. Returns days (of the date part) and microseconds since epoch.
 */
export function parseOgrDateTime(s: string): { days: number; micros: bigint } | null {
  const m = /^\s*(-?\d{1,6})[/-](\d{1,2})[/-](\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$/.exec(s);
  if (!m) return null;
  const days = daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3]));
  const frac = m[7] ? BigInt((m[7] + '000000').slice(0, 6)) : 0n;
  let secs = BigInt(days) * 86400n + BigInt(Number(m[4] ?? 0) * 3600 + Number(m[5] ?? 0) * 60 + Number(m[6] ?? 0));
  if (m[8] && m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    const digits = m[8].slice(1).replace(':', '');
    const offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0));
    secs -= BigInt(offset * 60);
  }
  return { days, micros: secs * 1_000_000n + frac };
}

/** Parses GDAL's text form of a time ('03:04:05', '03:04:05.678') into microseconds. */
export function parseOgrTime(s: string): bigint | null {
  const m = /^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?/.exec(s);
  if (!m) return null;
  const frac = m[4] ? BigInt((m[4] + '000000').slice(0, 6)) : 0n;
  return BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0)) * 1_000_000n + frac;
}

// ---------------------------------------------------------------------------------------------
// Geometries
// ---------------------------------------------------------------------------------------------

const EAST = gdal.Geometry.fromWKT('POLYGON ((-180 -1000, 180 -1000, 180 1000, -180 1000, -180 -1000))');
const WEST = gdal.Geometry.fromWKT('POLYGON ((180 -1000, 540 -1000, 540 1000, 180 1000, 180 -1000))');

/** What happened to one geometry. */
export interface NormalizedGeometry {
  /** 2-D little-endian WKB (multi types for single parts), or null for null/empty. */
  wkb: Uint8Array | null;
  info: WkbInfo | null;
  empty: boolean;
  repaired: boolean;
  collapsed: boolean;
  split: boolean;
  aroundPole: boolean;
}

/**
 * Finishes one geometry read from the GDAL pass (EPSG:4326, linear, 2-D): empty → null;
 * antimeridian crossings unwrapped, repaired and cut at 180°; invalid geometries made valid
 * (polygonal part kept for polygonal input, unless none remains); single parts promoted to multi.
 */
export function normalizeGeometry(g: Geometry | null): NormalizedGeometry {
  const r: NormalizedGeometry = { wkb: null, info: null, empty: false, repaired: false, collapsed: false, split: false, aroundPole: false };
  if (!g) return r;
  let wkb: Uint8Array = g.toWKB(gdal.wkbNDR);
  let info = scanWkb(wkb);
  if (info.vertices === 0) {
    r.empty = true;
    return r;
  }
  const polygonal = info.polygons > 0 && info.lines === 0 && info.points === 0;
  let geom = g;
  let changed = false;
  let crossing = info.crossesAntimeridian;
  if (crossing) {
    const unwrapped = unwrapAntimeridian(decodeWkb(wkb));
    if (unwrapped) {
      geom = gdal.Geometry.fromWKB(Buffer.from(encodeWkb(unwrapped)));
      changed = true;
    } else {
      crossing = false;
      r.aroundPole = true;
    }
  }
  if (info.polygons + info.lines > 0 && !geom.isValid()) {
    geom = geom.makeValid();
    changed = true;
    r.repaired = true;
  }
  if (changed) {
    let out: Geom;
    if (crossing) {
      const parts: Geom[] = [];
      const collect = (h: Geom | null) => h && parts.push(...(h as { parts: Geom[] }).parts);
      const pick = (h: Geom) => (polygonal ? polygonalPart(h) : mixedParts(h));
      try {
        collect(pick(decodeWkb(geom.intersection(EAST).toWKB(gdal.wkbNDR))));
        collect(pick(translateX(decodeWkb(geom.intersection(WEST).toWKB(gdal.wkbNDR)), -360)));
        r.split = true;
      } catch {
        // GEOS failed on this geometry: keep it unsplit rather than lose it.
        collect(pick(decodeWkb(geom.toWKB(gdal.wkbNDR))));
      }
      if (parts.length === 0) collect(pick(decodeWkb(geom.toWKB(gdal.wkbNDR))));
      const types = new Set(parts.map((p) => p.type));
      out = parts.length === 0 ? { type: 7, parts } : types.size === 1 ? ({ type: parts[0].type + 3, parts } as Geom) : { type: 7, parts };
    } else {
      out = decodeWkb(geom.toWKB(gdal.wkbNDR));
      if (polygonal) {
        const poly = polygonalPart(out);
        if (poly) out = poly;
        else r.collapsed = true;
      }
    }
    wkb = encodeWkb(out);
  }
  if (changed) {
    wkb = toMultiWkb(wkb);
    info = scanWkb(wkb);
  } else if (info.type >= 1 && info.type <= 3) {
    wkb = toMultiWkb(wkb);
    info.type += 3;
  }
  if (info.vertices === 0) {
    r.empty = true;
    return r;
  }
  r.wkb = wkb;
  r.info = info;
  return r;
}

/** Polygons, else lines, else points of a geometry, as one multi geometry (or null). */
function mixedParts(h: Geom): Geom | null {
  return partsOfDimension(h, 2) ?? partsOfDimension(h, 1) ?? partsOfDimension(h, 0);
}

// ---------------------------------------------------------------------------------------------
// Streaming the temporary file into DuckDB
// ---------------------------------------------------------------------------------------------

interface Loaded {
  rows: number;
  stats: GeometryStats;
  bbox: BBox | null;
  geometryTypes: Set<string>;
  planFeatures: PlanFeature[];
  /** The first few ids with a null geometry (for the log). */
  nullIds: number[];
}

async function loadFeatures(
  db: DuckDBConnection, tmpPath: string, pass: () => Promise<void>, columns: Column[], idCol: Column | undefined, total: number,
  resolution: number, where: string,
): Promise<Loaded> {
  const appender = await db.createAppender('staging');
  const stats: GeometryStats = { nullGeometries: 0, emptyGeometries: 0, repaired: 0, collapsed: 0, splitAtAntimeridian: 0, aroundPole: 0 };
  const geometryTypes = new Set<string>();
  const planFeatures: PlanFeature[] = [];
  const nullIds: number[] = [];
  let [xmin, ymin, xmax, ymax] = [Infinity, Infinity, -Infinity, -Infinity];
  let seq = 0;
  const progress = new Progress('convert', 'features', total);
  try {
    await streamTemp(tmpPath, pass, columns.length, (f) => {
      seq++;
      const values = f.fields.toArray();
      let fid = seq;
      if (idCol) {
        const v = values[idCol.index];
        if (v === null || v === undefined) throw new CommandError(`--id-column '${idCol.source}' of ${where} is null in feature ${seq}`);
        fid = Number(v);
        if (!Number.isSafeInteger(fid)) throw new CommandError(`--id-column '${idCol.source}' of ${where}: value ${v} is beyond ±2^53`);
      }
      appender.appendBigInt(BigInt(seq));
      for (const c of columns) c.append(appender, values[c.index]);
      const g = normalizeGeometry(f.getGeometry());
      if (g.repaired) stats.repaired++;
      if (g.collapsed) stats.collapsed++;
      if (g.split) stats.splitAtAntimeridian++;
      if (g.aroundPole) stats.aroundPole++;
      if (g.wkb === null || g.info === null) {
        stats.nullGeometries++;
        if (g.empty) stats.emptyGeometries++;
        if (nullIds.length < 20) nullIds.push(fid);
        for (let i = 0; i < 6; i++) appender.appendNull();
      } else {
        const i = g.info;
        appender.appendBlob(g.wkb);
        appender.appendDouble(i.xmin);
        appender.appendDouble(i.ymin);
        appender.appendDouble(i.xmax);
        appender.appendDouble(i.ymax);
        appender.appendUInteger(lonLatHilbert((i.xmin + i.xmax) / 2, (i.ymin + i.ymax) / 2));
        if (i.xmin < xmin) xmin = i.xmin;
        if (i.ymin < ymin) ymin = i.ymin;
        if (i.xmax > xmax) xmax = i.xmax;
        if (i.ymax > ymax) ymax = i.ymax;
        geometryTypes.add(WKB_TYPE_NAMES[i.type]);
        planFeatures.push({ fid, cells: estimateCells(i, resolution), vertices: i.vertices });
      }
      appender.endRow();
      if ((seq & 1023) === 0) progress.update(seq);
    });
    progress.done(seq);
  } finally {
    appender.closeSync();
  }
  return {
    rows: seq, stats, geometryTypes, planFeatures, nullIds,
    bbox: planFeatures.length ? [xmin, ymin, xmax, ymax] : null,
  };
}
