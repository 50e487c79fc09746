/**
 * `cng-worker pmtiles`: GeoParquet → PMTiles v3 vector tiles.
 *
 * 1. Download the GeoParquet (Storage) into a work directory under $TMPDIR.
 * 2. Stream its rows out of DuckDB (every attribute column + the WKB geometry, rows with a NULL
 *    geometry skipped) into a temporary FlatGeobuf in EPSG:4326, chunk by chunk (DuckDB's
 *    2048-row chunks): never the whole layer in JS memory. Geometries reaching beyond Web
 *    Mercator's ±85.0511° are clipped to it (GDAL's MVT writer cannot project the poles). The data
 *    extent is accumulated on the way.
 * 3. GDAL's MVT driver renders the tiles into a directory (`-f MVT -dsco FORMAT=DIRECTORY`,
 *    zooms --min-zoom..--max-zoom, tile caps MAX_SIZE/MAX_FEATURES, which make GDAL reduce
 *    precision and drop the smallest features in crowded low-zoom tiles; geometries simplified to
 *    one tile unit below the max zoom). Tiles come out gzipped.
 * 4. The tiles are packed into a PMTiles v3 archive (worker/io/pmtiles-writer.ts): read one by one in
 *    tile-id order, tile bytes written sequentially, only directory entries kept in memory;
 *    identical tiles stored once. Header: MVT, gzip tiles, gzip internal compression, clustered,
 *    zooms, bounds from the data extent, centre; metadata from GDAL's metadata.json
 *    (vector_layers, tilestats).
 * 5. Upload the archive atomically to --out.
 *
 * Antimeridian: convert has already split geometries at ±180°, so a feature crossing it arrives as
 * parts ending exactly at 180 and starting at -180. GDAL renders the 180 part into tile
 * x = 2^z − 1 and the -180 part into x = 0, but because of the tile buffer it also emits tiles at
 * x = 2^z (east of the last column), which do not exist: those are dropped. The header bounds are
 * the data extent, i.e. -180..180 for such a layer (never a wrapped or inverted band).
 *
 * Empty input: a GeoParquet whose rows all have a NULL geometry (or no rows) is a CommandError,
 * not an empty archive: the pipeline only runs this stage for spatial layers, so an all-NULL
 * layer means something upstream went wrong and a silently empty map would hide it.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import gdal, { type Dataset } from 'gdal-async';
import { CommandError, UsageError } from '../core/errors.ts';
import { configureGdalCache, openDuckDB, readLimits, type Limits } from '../core/limits.ts';
import { log, Progress } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import { pmtilesStageDef } from './stages.ts';
import { PmtilesWriter, zxyToTileId, tileIdToZxy, type ArchiveStats } from '../io/pmtiles-writer.ts';
import { parseJson, Storage } from '../io/storage.ts';
import { sqlString } from '../core/text.ts';

const STAGE = 'pmtiles';
/** Web Mercator's latitude limit (the tile pyramid covers ±85.0511°). */
export const MERCATOR_MAX_LAT = 85.0511287798066;
/** GDAL MVT writer limits per tile (its defaults, made explicit). */
export const MVT_MAX_SIZE = 500_000;
export const MVT_MAX_FEATURES = 200_000;
/** Simplification tolerance below the max zoom, in tile units (extent 4096). */
export const MVT_SIMPLIFICATION = 1;

export interface PmtilesOptions {
  /** GeoParquet URL or path. */
  input: string;
  /** PMTiles URL or path. */
  out: string;
  /** Vector tile source-layer name. */
  layerName: string;
  /** @default 0 */
  minZoom?: number;
  /** @default 14 */
  maxZoom?: number;
  storage?: Storage;
  limits?: Limits;
}

export interface PmtilesResult {
  features: number;
  nullGeometries: number;
  /** [west, south, east, north] of the data (after clipping to Web Mercator's latitudes). */
  bounds: [number, number, number, number];
  archive: ArchiveStats;
  /** Seconds per step. */
  timings: { read: number; render: number; pack: number; upload: number };
}

export async function pmtilesStage(opts: RawOptions): Promise<void> {
  await buildPmtiles(pmtilesStageDef.parse(opts));
}

/** The whole stage with typed options (used by the CLI handler, tests and the benchmark). */
export async function buildPmtiles(o: PmtilesOptions): Promise<PmtilesResult> {
  const minZoom = o.minZoom ?? 0;
  const maxZoom = o.maxZoom ?? 14;
  if (minZoom > maxZoom) throw new UsageError(`--min-zoom (${minZoom}) is greater than --max-zoom (${maxZoom})`);
  if (!/^[A-Za-z0-9_.-]+$/.test(o.layerName)) throw new UsageError(`--layer-name must be letters, digits, '_', '.' or '-', got '${o.layerName}'`);
  const storage = o.storage ?? new Storage();
  const limits = o.limits ?? readLimits();
  configureGdalCache({ limits, share: 0.1 });
  // The MVT writer encodes tiles on a thread pool sized by GDAL_NUM_THREADS (else every CPU of the node).
  gdal.config.set('GDAL_NUM_THREADS', String(limits.cpus));

  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-pmtiles-'));
  const t = { read: 0, render: 0, pack: 0, upload: 0 };
  let t0 = Date.now();
  const lap = () => {
    const s = (Date.now() - t0) / 1000;
    t0 = Date.now();
    return s;
  };
  try {
    const parquet = join(work, 'input.parquet');
    log(STAGE, `${o.input} → ${o.out} (source-layer '${o.layerName}', zooms ${minZoom}..${maxZoom}); downloading`);
    await storage.download(o.input, parquet);

    const fgb = join(work, 'features.fgb');
    const read = await parquetToFlatGeobuf(parquet, fgb, o.input, limits);
    t.read = lap();
    await rm(parquet, { force: true });
    log(STAGE, `${read.features} features (${read.nullGeometries} with NULL geometry skipped) in ${t.read.toFixed(1)}s; extent ${read.bounds.map((v) => v.toFixed(5)).join(', ')}`);
    if (read.features === 0)
      throw new CommandError(`'${o.input}': no feature has a geometry (${read.rows} rows: ${read.nullGeometries} with NULL geometry, ${read.outside} entirely beyond ±${MERCATOR_MAX_LAT.toFixed(4)}° latitude); nothing to tile`);

    const tiles = join(work, 'tiles');
    await renderTiles(fgb, tiles, join(work, 'mvt-temp.db'), read, o.layerName, minZoom, maxZoom);
    await rm(fgb, { force: true });
    t.render = lap();
    log(STAGE, `GDAL rendered zooms ${minZoom}..${maxZoom} in ${t.render.toFixed(1)}s`);

    const archive = join(work, 'out.pmtiles');
    const stats = await packDirectory(tiles, archive, { layerName: o.layerName, minZoom, maxZoom, bounds: read.bounds });
    await rm(tiles, { recursive: true, force: true });
    t.pack = lap();
    log(STAGE, `packed ${stats.addressedTiles} tiles (${stats.tileContents} distinct, ${stats.tileEntries} entries, ${stats.leafDirectories} leaf directories), ${stats.bytes} bytes in ${t.pack.toFixed(1)}s`);

    await storage.upload(archive, o.out, 'application/vnd.pmtiles');
    t.upload = lap();
    log(STAGE, `wrote ${o.out}`);
    return { features: read.features, nullGeometries: read.nullGeometries, bounds: read.bounds, archive: stats, timings: t };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 1. GeoParquet → FlatGeobuf
// ---------------------------------------------------------------------------------------------

interface ReadResult {
  /** Columns written as fields, in order. */
  columns: Column[];
  /** Rows in the file. */
  rows: number;
  /** Rows written as features. */
  features: number;
  /** Rows whose geometry lies entirely beyond Web Mercator's latitudes. */
  outside: number;
  /** Rows with a NULL or empty geometry. */
  nullGeometries: number;
  bounds: [number, number, number, number];
}

interface Column {
  name: string;
  /** SQL expression selecting the value in a type the field takes. */
  select: string;
  fieldType: string;
  boolean?: boolean;
  /** BIGINT-like: DuckDB hands out bigint. */
  bigint?: boolean;
}

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** Maps a DuckDB column type to an OGR field (MVT values are numbers, strings and booleans). */
function columnFor(name: string, type: string): Column | null {
  const q = ident(name);
  const base = type.replace(/\(.*$/, '').trim().toUpperCase();
  switch (base) {
    case 'BOOLEAN':
      return { name, select: q, fieldType: gdal.OFTInteger, boolean: true };
    case 'TINYINT': case 'SMALLINT': case 'INTEGER': case 'UTINYINT': case 'USMALLINT':
      return { name, select: q, fieldType: gdal.OFTInteger };
    case 'BIGINT': case 'UINTEGER':
      return { name, select: `CAST(${q} AS BIGINT)`, fieldType: gdal.OFTInteger64, bigint: true };
    case 'FLOAT': case 'DOUBLE': case 'DECIMAL':
      return { name, select: `CAST(${q} AS DOUBLE)`, fieldType: gdal.OFTReal };
    case 'BLOB': case 'GEOMETRY':
      return null; // no MVT representation
    default:
      // VARCHAR, dates and times (ISO text), UBIGINT/HUGEINT (exact as text), UUID, ENUM,
      // LIST/STRUCT/MAP (DuckDB's text form).
      return { name, select: `CAST(${q} AS VARCHAR)`, fieldType: gdal.OFTString };
  }
}

/** The GeoParquet `geo` file metadata: primary geometry column and columns to leave out. */
async function geoMetadata(db: Awaited<ReturnType<typeof openDuckDB>>, path: string): Promise<{ primary: string; skip: Set<string> }> {
  const r = await db.runAndReadAll(`SELECT decode(value) AS v FROM parquet_kv_metadata(${sqlString(path)}) WHERE decode(key) = 'geo'`);
  const skip = new Set<string>();
  const raw = r.getRowObjectsJS()[0]?.v;
  if (typeof raw !== 'string') return { primary: 'geometry', skip };
  try {
    const geo = JSON.parse(raw) as { primary_column?: string; columns?: Record<string, { covering?: { bbox?: Record<string, string[]> } }> };
    for (const [col, meta] of Object.entries(geo.columns ?? {})) {
      skip.add(col);
      for (const path of Object.values(meta.covering?.bbox ?? {})) if (path[0]) skip.add(path[0]);
    }
    return { primary: geo.primary_column ?? 'geometry', skip };
  } catch {
    return { primary: 'geometry', skip };
  }
}

async function parquetToFlatGeobuf(parquet: string, fgbPath: string, inputName: string, limits: Limits): Promise<ReadResult> {
  const db = await openDuckDB({ limits, share: 0.25 }).catch((e) => {
    throw new CommandError(`cannot start DuckDB: ${(e as Error).message}`);
  });
  let ds: Dataset | undefined;
  try {
    let described;
    try {
      described = (await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(parquet)})`)).getRowObjectsJS();
    } catch (e) {
      throw new CommandError(`'${inputName}': not a readable Parquet file: ${(e as Error).message.split('\n')[0]}`);
    }
    const { primary, skip } = await geoMetadata(db, parquet);
    const geomCol = described.find((c) => c.column_name === primary);
    if (!geomCol) throw new CommandError(`'${inputName}': no geometry column '${primary}' (columns: ${described.map((c) => c.column_name).join(', ')})`);
    skip.add('bbox'); // the GeoParquet 1.1 covering column, also when `geo` does not declare it
    skip.add(primary);
    const columns = described
      .filter((c) => !skip.has(String(c.column_name)))
      .map((c) => columnFor(String(c.column_name), String(c.column_type)))
      .filter((c): c is Column => c !== null);
    const geomType = String(geomCol.column_type).toUpperCase();
    const wkb = geomType.startsWith('GEOMETRY') ? `ST_AsWKB(${ident(primary)})` : ident(primary);
    const total = Number((await db.runAndReadAll(`SELECT count(*) AS n FROM read_parquet(${sqlString(parquet)})`)).getRowObjectsJS()[0].n);

    // (the async open pads missing arguments with undefined, so the unused raster size is given)
    ds = await gdal.openAsync(fgbPath, 'w', 'FlatGeobuf', 0, 0, 0);
    const layer = ds.layers.create('features', gdal.SpatialReference.fromEPSG(4326), gdal.wkbUnknown, ['SPATIAL_INDEX=NO']);
    for (const c of columns) layer.fields.add(new gdal.FieldDefn(c.name, c.fieldType));
    const sql = `SELECT ${[...columns.map((c) => c.select), `${wkb} AS __cng_wkb`].join(', ')} FROM read_parquet(${sqlString(parquet)}) WHERE ${ident(primary)} IS NOT NULL`;
    const result = await db.stream(sql);
    const progress = new Progress(STAGE, 'features read', total);
    const clip = gdal.Geometry.fromWKT(`POLYGON((-180 ${-MERCATOR_MAX_LAT},180 ${-MERCATOR_MAX_LAT},180 ${MERCATOR_MAX_LAT},-180 ${MERCATOR_MAX_LAT},-180 ${-MERCATOR_MAX_LAT}))`);
    const nc = columns.length;
    let features = 0;
    let outside = 0;
    let empty = 0;
    let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      const cols = chunk.getColumns();
      const rows = chunk.rowCount;
      for (let r = 0; r < rows; r++) {
        const bytes = (cols[nc][r] as { bytes: Uint8Array }).bytes;
        let geom;
        try {
          geom = gdal.Geometry.fromWKB(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        } catch (err) {
          throw new CommandError(`'${inputName}': row ${features + empty + outside + 1} of the non-NULL geometries is not valid WKB: ${(err as Error).message.split('\n')[0]}`);
        }
        if (geom.isEmpty()) {
          empty++; // convert writes NULL for these; an empty geometry has no tiles either
          continue;
        }
        let env = geom.getEnvelope();
        if (env.minY < -MERCATOR_MAX_LAT || env.maxY > MERCATOR_MAX_LAT) {
          geom = geom.intersection(clip);
          if (geom.isEmpty()) {
            outside++;
            continue;
          }
          env = geom.getEnvelope();
        }
        if (env.minX < w) w = env.minX;
        if (env.minY < s) s = env.minY;
        if (env.maxX > e) e = env.maxX;
        if (env.maxY > n) n = env.maxY;
        const f = new gdal.Feature(layer);
        for (let i = 0; i < nc; i++) {
          const v = cols[i][r];
          if (v === null || v === undefined) continue;
          const c = columns[i];
          f.fields.set(i, c.boolean ? (v ? 1 : 0) : c.bigint ? Number(v as bigint) : v);
        }
        f.setGeometry(geom);
        layer.features.add(f);
        features++;
      }
      progress.update(features);
    }
    progress.done(features);
    if (outside > 0) log(STAGE, `${outside} features lie entirely beyond ±${MERCATOR_MAX_LAT.toFixed(4)}° latitude and cannot be tiled`);
    ds.close();
    ds = undefined;
    const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
    const bounds: [number, number, number, number] = features > 0
      ? [clamp(w, -180, 180), clamp(s, -MERCATOR_MAX_LAT, MERCATOR_MAX_LAT), clamp(e, -180, 180), clamp(n, -MERCATOR_MAX_LAT, MERCATOR_MAX_LAT)]
      : [0, 0, 0, 0];
    return { columns, rows: total, features, outside, nullGeometries: total - features - outside, bounds };
  } finally {
    ds?.close();
    db.closeSync();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. FlatGeobuf → MVT tile directory (GDAL)
// ---------------------------------------------------------------------------------------------

async function renderTiles(fgb: string, dir: string, tempDb: string, read: ReadResult, layerName: string, minZoom: number, maxZoom: number): Promise<void> {
  const { columns, features } = read;
  const src = await gdal.openAsync(fgb);
  // gdal-async cannot set field subtypes, so booleans are stored as 0/1 integers and become
  // Integer(Boolean) through an OGR SQL cast here: the MVT writer then emits MVT bool values.
  const sql = columns.some((c) => c.boolean)
    ? ['-sql', `SELECT ${columns.map((c) => (c.boolean ? `CAST(${ident(c.name)} AS boolean) AS ${ident(c.name)}` : ident(c.name))).join(', ')} FROM features`]
    : [];
  const conf = { [layerName]: { target_name: layerName, minzoom: minZoom, maxzoom: maxZoom } };
  const progress = new Progress(STAGE, 'features cut into tiles', features);
  let out: Dataset | undefined;
  try {
    out = await gdal.vectorTranslateAsync(dir, src, [
      '-f', 'MVT',
      ...sql,
      '-nln', layerName,
      '-dsco', 'FORMAT=DIRECTORY',
      '-dsco', 'TILE_EXTENSION=pbf',
      '-dsco', `MINZOOM=${minZoom}`,
      '-dsco', `MAXZOOM=${maxZoom}`,
      '-dsco', `MAX_SIZE=${MVT_MAX_SIZE}`,
      '-dsco', `MAX_FEATURES=${MVT_MAX_FEATURES}`,
      // Below the max zoom, simplify to 1 tile unit (1/4096 of a tile: invisible, and cheaper to
      // encode than the extra vertices); at the max zoom keep full detail for over-zooming.
      '-dsco', `SIMPLIFICATION=${MVT_SIMPLIFICATION}`,
      '-dsco', 'SIMPLIFICATION_MAX_ZOOM=0',
      '-dsco', 'COMPRESS=YES',
      '-dsco', `NAME=${layerName}`,
      '-dsco', `CONF=${JSON.stringify(conf)}`,
      '-dsco', `TEMPORARY_DB=${tempDb}`,
    ], { progress_cb: (complete: number) => progress.update(Math.round(complete * features)) });
    progress.done(features);
    log(STAGE, 'writing tiles (GDAL)');
    // The MVT writer assembles and writes the tiles when the dataset is closed.
    out.close();
    out = undefined;
  } catch (e) {
    throw new CommandError(`GDAL MVT rendering failed: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    out?.close();
    src.close();
    await rm(tempDb, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 3. MVT tile directory → PMTiles
// ---------------------------------------------------------------------------------------------

/** Growable Float64Array of tile ids. */
class IdList {
  a = new Float64Array(4096);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Degrees latitude → Web Mercator y in 0..1 (north = 0). */
function mercY(lat: number): number {
  const r = (lat * Math.PI) / 180;
  return (1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2;
}

/** Centre of the bounds, at the highest zoom where the bounds still fit in about one tile. */
export function centerOf(bounds: [number, number, number, number], minZoom: number, maxZoom: number): [number, number, number] {
  const [w, s, e, n] = bounds;
  const span = Math.max((e - w) / 360, mercY(s) - mercY(n));
  const z = span > 0 ? Math.floor(Math.log2(1 / span)) : maxZoom;
  return [(w + e) / 2, (s + n) / 2, Math.min(maxZoom, Math.max(minZoom, z))];
}

export async function packDirectory(
  dir: string,
  archivePath: string,
  o: { layerName: string; minZoom: number; maxZoom: number; bounds: [number, number, number, number] },
): Promise<ArchiveStats> {
  // Tile ids of every z/x/y.pbf; tiles outside the 2^z grid (GDAL's buffer spill east of 180°) are dropped.
  const ids = new IdList();
  let dropped = 0;
  for (let z = o.minZoom; z <= o.maxZoom; z++) {
    const xs = await readdir(join(dir, String(z))).catch(() => [] as string[]);
    const size = 2 ** z;
    for (const xName of xs) {
      const x = Number(xName);
      const ys = await readdir(join(dir, String(z), xName)).catch(() => [] as string[]);
      for (const yName of ys) {
        const m = /^(\d+)\.pbf$/.exec(yName);
        const y = m ? Number(m[1]) : NaN;
        if (!/^\d+$/.test(xName) || !m || x >= size || y >= size) {
          dropped++;
          continue;
        }
        ids.push(zxyToTileId(z, x, y));
      }
    }
  }
  if (dropped > 0) log(STAGE, `dropped ${dropped} tiles outside the tile grid (e.g. east of 180°)`);
  if (ids.n === 0) throw new CommandError('GDAL wrote no tiles (is the data outside the Web Mercator area?)');
  const sorted = ids.a.subarray(0, ids.n).sort();

  const gdalMeta = parseJson<Record<string, unknown>>(await readFile(join(dir, 'metadata.json'), 'utf8').catch(() => '{}'), join(dir, 'metadata.json'));
  let json: { vector_layers?: Record<string, unknown>[]; tilestats?: unknown } = {};
  try {
    json = typeof gdalMeta.json === 'string' ? JSON.parse(gdalMeta.json) : {};
  } catch {
    /* keep defaults */
  }
  const layers = (json.vector_layers ?? []).filter((l) => l.id === o.layerName);
  const layer = { fields: {}, ...(layers[0] ?? {}), id: o.layerName, minzoom: o.minZoom, maxzoom: o.maxZoom };
  const center = centerOf(o.bounds, o.minZoom, o.maxZoom);
  const metadata = {
    name: o.layerName,
    description: typeof gdalMeta.description === 'string' ? gdalMeta.description : '',
    type: 'overlay',
    format: 'pbf',
    version: '2',
    minzoom: o.minZoom,
    maxzoom: o.maxZoom,
    bounds: o.bounds.join(','),
    center: center.join(','),
    vector_layers: [layer],
    ...(json.tilestats ? { tilestats: json.tilestats } : {}),
    generator: `cng-worker pmtiles (GDAL ${gdal.version} MVT driver)`,
  };

  const writer = await PmtilesWriter.create(`${archivePath}.tiledata`);
  try {
    const progress = new Progress(STAGE, 'tiles packed', ids.n);
    const pathOf = (id: number) => {
      const [z, x, y] = tileIdToZxy(id);
      return join(dir, String(z), String(x), `${y}.pbf`);
    };
    // Synchronous reads: for small files they are ~10× faster than fs.promises (no thread-pool
    // round trips per open/stat/read/close); one tile in memory at a time.
    for (let i = 0; i < ids.n; i++) {
      const data = readFileSync(pathOf(sorted[i]));
      if (data.length > 0) await writer.addTile(sorted[i], isGzip(data) ? data : gzipSync(data));
      progress.update(i + 1);
    }
    progress.done(ids.n);
    return await writer.finish(archivePath, { minZoom: o.minZoom, maxZoom: o.maxZoom, bounds: o.bounds, center }, metadata);
  } catch (e) {
    await writer.abort();
    throw e;
  }
}
