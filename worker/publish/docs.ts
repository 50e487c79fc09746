import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { PMTiles, type Source } from 'pmtiles';
import { CommandError } from '../core/errors.ts';
import { proseSchema, type DocsInput, type DocsLayer, type DocsRaster, type DocsTable, type ResolvedProse } from '../../constructs/prose.ts';
import { openDuckDB } from '../core/limits.ts';
import { log } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import { docsStageDef } from './stages.ts';
import type { LayerManifest } from '../vector/repartition.ts';
import { parseS3Url, Storage, storeFromEnv, type ObjectStore } from '../io/storage.ts';
import { human, sqlIdent, sqlString } from '../core/text.ts';

/**
 * The docs stage and `cng docs`: README.md and stac-collection.json for a dataset, from FACTS read
 * off the published files (DuckDB DESCRIBE and Parquet footers, GeoParquet `geo` metadata, the
 * PMTiles header and metadata, each layer's and raster's manifest.json, object sizes; no GDAL) merged with the PROSE kept
 * next to the dataset file (constructs/prose.ts). Remote Parquet files are never downloaded whole:
 * their footer (and, for the writing brief, the chunks of the columns it samples) is fetched into a
 * sparse local file that DuckDB reads. Rules and formats: docs/reading-products.md#dataset-documentation.
 */

// ---------------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------------

export interface ColumnFact {
  readonly name: string;
  /** DuckDB logical type, e.g. VARCHAR, INTEGER, UBIGINT, GEOMETRY, STRUCT(...). */
  readonly type: string;
}

export interface ParquetFact {
  readonly url: string;
  readonly size: number;
  readonly rows: number;
  readonly columns: ColumnFact[];
  /** GeoParquet `geo` metadata of the primary column, when present. */
  readonly geo?: { version?: string; primaryColumn: string; bbox?: number[]; geometryTypes?: string[] };
}

export interface PmtilesFact {
  readonly url: string;
  readonly size: number;
  readonly minZoom: number;
  readonly maxZoom: number;
  readonly bounds: [number, number, number, number];
  /** TileJSON `vector_layers` from the archive's metadata. */
  readonly layers: { id: string; minzoom?: number; maxzoom?: number; fields: string[] }[];
}

export interface HexFact {
  /** The hex directory (`…/<name>/hex`). */
  readonly url: string;
  readonly manifest: LayerManifest;
  /** Columns of the partition files plus the hive key `h0`. */
  readonly columns: ColumnFact[];
}

export interface LayerFacts {
  readonly layer: DocsLayer;
  readonly geoparquet?: ParquetFact;
  readonly pmtiles?: PmtilesFact;
  readonly hex?: HexFact;
}

export interface TableFacts {
  readonly table: DocsTable;
  readonly parquet?: ParquetFact;
}

/**
 * A raster's manifest.json as the raster-manifest stage writes it (docs/stages.md#raster-manifest);
 * the docs read only these fields.
 */
export interface RasterManifest {
  readonly version: number;
  readonly kind: 'raster';
  readonly valueKind: 'continuous' | 'count' | 'categorical';
  readonly method: string;
  readonly resolution: number;
  readonly parents: number[];
  readonly cells: number;
  readonly partitions: number;
  /** Nodata pixels ÷ all pixels of the raster. */
  readonly nodataShare: number;
  /** [min, max] of each hexed value column (continuous, count). */
  readonly valueRange?: Record<string, [number, number]>;
  /** Cells per majority class code (categorical). */
  readonly classes?: Record<string, number>;
  /** Sum of each hexed value column (count). */
  readonly total?: Record<string, number>;
  readonly bands: { band: number; name: string; dataType: string }[];
  readonly nodata: number | null;
  readonly nodataCollapsed: number[];
  readonly cog: { url: string; bytes: number; width: number; height: number; crs: string; overviews: number; copied: boolean };
  /** Bytes of the hex partition files. */
  readonly bytes: number;
}

export interface RasterFacts {
  readonly raster: DocsRaster;
  /** The COG's size (its facts are in the manifest: no GDAL needed here). */
  readonly cog?: { url: string; size: number };
  readonly manifest?: RasterManifest;
  /** Columns of the hex partition files plus `h0` (empty when the raster has no valid cell). */
  readonly hexColumns?: ColumnFact[];
  /** West, south, east, north in lon/lat from the cog stage's info JSON, when it is still there. */
  readonly bounds?: [number, number, number, number];
}

export interface Facts {
  readonly layers: LayerFacts[];
  readonly tables: TableFacts[];
  readonly rasters: RasterFacts[];
  /** Products that were not found (URLs). */
  readonly missing: string[];
}

/** Sample values for the writing brief, by product (layer key or table name) and column. */
export interface Samples {
  /** Up to 5 distinct non-null values per column. */
  readonly values: Record<string, Record<string, string[]>>;
  /** Value counts of coded columns (VARCHAR with ≤ 40 distinct values), by product and column. */
  readonly counts: Record<string, Record<string, [string, number][]>>;
  /** All rows of small tables (≤ 80 rows). */
  readonly rows: Record<string, Record<string, string | null>[]>;
}

/** Reads the facts of every product the input lists; missing products are listed, not fatal. */
export async function gatherFacts(input: DocsInput, store: ObjectStore, opts: { samples?: boolean } = {}): Promise<{ facts: Facts; samples?: Samples }> {
  const reader = await ParquetReader.create(store);
  const missing: string[] = [];
  const samples: Samples | undefined = opts.samples ? { values: {}, counts: {}, rows: {} } : undefined;
  try {
    const layers: LayerFacts[] = [];
    for (const layer of input.layers) {
      const geoparquet = await reader.describe(layer.geoparquet).catch(missingOr(missing, layer.geoparquet));
      const pmtiles = await readPmtiles(store, layer.pmtiles).catch(missingOr(missing, layer.pmtiles));
      const hex = await readHex(store, reader, layer).catch(missingOr(missing, layer.manifest));
      if (samples && geoparquet) await reader.sample(layer.geoparquet, geoparquet, layer.key, samples);
      layers.push({ layer, geoparquet, pmtiles, hex });
    }
    const tables: TableFacts[] = [];
    for (const table of input.tables) {
      const parquet = await reader.describe(table.url).catch(missingOr(missing, table.url));
      if (samples && parquet) await reader.sample(table.url, parquet, table.sourceLayer, samples);
      tables.push({ table, parquet });
    }
    const rasters: RasterFacts[] = [];
    for (const raster of input.rasters ?? []) rasters.push(await readRaster(store, reader, raster, missing));
    return { facts: { layers, tables, rasters, missing }, samples };
  } finally {
    await reader.close();
  }
}

/** A missing object is recorded and becomes undefined; any other error propagates. */
function missingOr(missing: string[], url: string) {
  return (err: unknown): undefined => {
    if (err instanceof CommandError && /no such (object|bucket)|no such file/.test(err.message)) {
      missing.push(url);
      return undefined;
    }
    throw err;
  };
}

/** Parquet metadata through DuckDB, over local files or sparse local copies of remote ones. */
class ParquetReader {
  private files = new Map<string, string>();
  private n = 0;

  private constructor(
    private readonly store: ObjectStore,
    private readonly db: DuckDBConnection,
    private readonly dir: string,
  ) {}

  static async create(store: ObjectStore): Promise<ParquetReader> {
    const dir = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-docs-'));
    return new ParquetReader(store, await openDuckDB({ share: 0.5 }), dir);
  }

  async close(): Promise<void> {
    this.db.closeSync();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Schema, row count, size and GeoParquet metadata (footer only). */
  async describe(url: string): Promise<ParquetFact> {
    const { path, size } = await this.local(url);
    const q = sqlString(path);
    const columns = (await this.db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${q})`))
      .getRowObjects()
      .map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
    const rows = Number((await this.db.runAndReadAll(`SELECT num_rows FROM parquet_file_metadata(${q})`)).getRows()[0][0]);
    const kv = (await this.db.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${q}) WHERE decode(key) = 'geo'`)).getRows();
    let geo: ParquetFact['geo'];
    if (kv.length) {
      const meta = JSON.parse(String(kv[0][1]));
      const primary = meta.primary_column ?? 'geometry';
      const col = meta.columns?.[primary] ?? {};
      geo = { version: meta.version, primaryColumn: primary, bbox: col.bbox, geometryTypes: col.geometry_types };
    }
    return { url, size, rows, columns, ...(geo ? { geo } : {}) };
  }

  /** Distinct values, coded-column counts and small-table rows for the writing brief. */
  async sample(url: string, fact: ParquetFact, product: string, out: Samples): Promise<void> {
    const skip = new Set(['geometry', 'bbox', fact.geo?.primaryColumn]);
    const cols = fact.columns.filter((c) => !skip.has(c.name) && !/^(GEOMETRY|BLOB|STRUCT)/.test(c.type));
    const { path } = await this.local(url, cols.map((c) => c.name));
    const t = `read_parquet(${sqlString(path)})`;
    const values: Record<string, string[]> = (out.values[product] = {});
    const counts: Record<string, [string, number][]> = (out.counts[product] = {});
    for (const c of cols) {
      const id = sqlIdent(c.name);
      values[c.name] = (await this.db.runAndReadAll(`SELECT DISTINCT CAST(${id} AS VARCHAR) FROM ${t} WHERE ${id} IS NOT NULL ORDER BY 1 LIMIT 5`))
        .getRows()
        .map((r) => String(r[0]));
      if (c.type === 'VARCHAR') {
        const distinct = Number((await this.db.runAndReadAll(`SELECT count(DISTINCT ${id}) FROM ${t}`)).getRows()[0][0]);
        if (distinct > 0 && distinct <= 40)
          counts[c.name] = (await this.db.runAndReadAll(`SELECT CAST(${id} AS VARCHAR), count(*) FROM ${t} GROUP BY 1 ORDER BY 2 DESC, 1`))
            .getRows()
            .map((r) => [r[0] === null ? 'NULL' : String(r[0]), Number(r[1])]);
      }
    }
    if (!fact.geo && fact.rows <= 80) {
      out.rows[product] = (await this.db.runAndReadAll(`SELECT ${cols.map((c) => `CAST(${sqlIdent(c.name)} AS VARCHAR) AS ${sqlIdent(c.name)}`).join(', ')} FROM ${t}`))
        .getRowObjects()
        .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])));
    }
  }

  /**
   * A local path DuckDB can read: the file itself in a directory store, otherwise a sparse file of
   * the object's size holding its footer (and the chunks of `columns`, when given).
   */
  private async local(url: string, columns?: string[]): Promise<{ path: string; size: number }> {
    const { bucket, key } = parseS3Url(url);
    const head = await this.store.head(bucket, key);
    if (!head) throw new CommandError(`'${url}': no such object (${this.store.where})`);
    if (this.store.localPath) return { path: this.store.localPath(bucket, key), size: head.size };
    const cacheKey = `${url}|${(columns ?? []).join(',')}`;
    let path = this.files.get(cacheKey);
    if (!path) {
      path = join(this.dir, `${this.n++}.parquet`);
      await this.sparseCopy(bucket, key, head.size, path, columns);
      this.files.set(cacheKey, path);
    }
    return { path, size: head.size };
  }

  private async sparseCopy(bucket: string, key: string, size: number, path: string, columns?: string[]): Promise<void> {
    const url = `s3://${bucket}/${key}`;
    if (size < 12) throw new CommandError(`'${url}': ${size} bytes is not a Parquet file`);
    const tail = await this.store.readRange(bucket, key, size - 8, 8);
    if (tail.subarray(4).toString('latin1') !== 'PAR1') throw new CommandError(`'${url}': not a Parquet file (no PAR1 footer)`);
    const footerLength = tail.readUInt32LE(0);
    const footerStart = size - 8 - footerLength;
    const fh = await open(path, 'w');
    try {
      await fh.truncate(size);
      await fh.write(Buffer.from('PAR1', 'latin1'), 0, 4, 0);
      await fh.write(await this.store.readRange(bucket, key, footerStart, footerLength + 8), 0, footerLength + 8, footerStart);
      if (columns?.length) {
        const wanted = new Set(columns);
        const chunks = (
          await this.db.runAndReadAll(
            `SELECT path_in_schema, dictionary_page_offset, data_page_offset, total_compressed_size FROM parquet_metadata(${sqlString(path)})`,
          )
        ).getRows();
        const ranges: [number, number][] = [];
        for (const [p, dict, data, len] of chunks) {
          const top = String(p).split(', ')[0];
          if (!wanted.has(top)) continue;
          const start = Math.min(...[dict, data].filter((x) => x !== null && Number(x) > 0).map(Number));
          ranges.push([start, start + Number(len)]);
        }
        for (const [a, b] of mergeRanges(ranges, 1 << 20)) {
          const buf = await this.store.readRange(bucket, key, a, b - a);
          await fh.write(buf, 0, buf.length, a);
        }
      }
    } finally {
      await fh.close();
    }
  }

  /** Columns of one hex partition file (the files do not hold h0). */
  async describeFile(url: string): Promise<ColumnFact[]> {
    return (await this.describe(url)).columns;
  }
}

function mergeRanges(ranges: [number, number][], gap: number): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + gap) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

async function readHex(store: ObjectStore, reader: ParquetReader, layer: DocsLayer): Promise<HexFact> {
  const m = parseS3Url(layer.manifest);
  const manifest = JSON.parse(await store.readText(m.bucket, m.key)) as LayerManifest;
  const h = parseS3Url(layer.hex);
  const first = (await store.list(h.bucket, `${h.key.replace(/\/$/, '')}/`)).find((o) => /\/h0=\d+\/[^/]+\.parquet$/.test(o.key));
  if (!first) throw new CommandError(`'${layer.hex}': no such object (no h0=… partition files)`);
  const columns = await reader.describeFile(`s3://${h.bucket}/${first.key}`);
  return { url: layer.hex, manifest, columns: [...columns.filter((c) => c.name !== 'h0'), { name: 'h0', type: 'UBIGINT' }] };
}

/** A raster's facts: COG size, manifest, one partition's columns and (when present) the info's bounds. */
async function readRaster(store: ObjectStore, reader: ParquetReader, raster: DocsRaster, missing: string[]): Promise<RasterFacts> {
  const c = parseS3Url(raster.cog);
  const head = await store.head(c.bucket, c.key);
  if (!head) missing.push(raster.cog);
  const m = parseS3Url(raster.manifest);
  const manifest = await store
    .readText(m.bucket, m.key)
    .then((t) => JSON.parse(t) as RasterManifest)
    .catch(missingOr(missing, raster.manifest));
  let hexColumns: ColumnFact[] | undefined;
  if (manifest) {
    const h = parseS3Url(raster.hex);
    const first = (await store.list(h.bucket, `${h.key.replace(/\/$/, '')}/`)).find((o) => /\/h0=\d+\/[^/]+\.parquet$/.test(o.key));
    if (first) hexColumns = [...(await reader.describeFile(`s3://${h.bucket}/${first.key}`)).filter((col) => col.name !== 'h0'), { name: 'h0', type: 'UBIGINT' }];
    else if (manifest.cells > 0) missing.push(`${raster.hex}/h0=…`);
    else hexColumns = [];
  }
  const i = parseS3Url(raster.info);
  const info = await store.readText(i.bucket, i.key).then((t) => JSON.parse(t) as { bounds4326?: number[] }).catch(() => undefined);
  const b = info?.bounds4326;
  const bounds = Array.isArray(b) && b.length === 4 && b.every((x) => Number.isFinite(x)) ? (b as [number, number, number, number]) : undefined;
  return { raster, ...(head ? { cog: { url: raster.cog, size: head.size } } : {}), manifest, hexColumns, bounds };
}

async function readPmtiles(store: ObjectStore, url: string): Promise<PmtilesFact> {
  const { bucket, key } = parseS3Url(url);
  const head = await store.head(bucket, key);
  if (!head) throw new CommandError(`'${url}': no such object (${store.where})`);
  const source: Source = {
    getKey: () => url,
    getBytes: async (offset: number, length: number) => {
      const b = await store.readRange(bucket, key, offset, length);
      return { data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer };
    },
  };
  const p = new PMTiles(source);
  const h = await p.getHeader();
  const meta = ((await p.getMetadata()) ?? {}) as { vector_layers?: { id: string; minzoom?: number; maxzoom?: number; fields?: Record<string, string> }[] };
  return {
    url,
    size: head.size,
    minZoom: h.minZoom,
    maxZoom: h.maxZoom,
    bounds: [h.minLon, h.minLat, h.maxLon, h.maxLat],
    layers: (meta.vector_layers ?? []).map((l) => ({ id: l.id, minzoom: l.minzoom, maxzoom: l.maxzoom, fields: Object.keys(l.fields ?? {}) })),
  };
}

// ---------------------------------------------------------------------------------------------
// Descriptions: prose first, then the pipeline's own columns
// ---------------------------------------------------------------------------------------------

/** Where a column's description comes from, for messages. */
export type DescriptionSource = 'layer' | 'dataset' | 'table' | 'raster' | 'pipeline';

/** The pipeline's own columns, described by the tool itself (prose may override). */
export function pipelineColumn(name: string, layer: Pick<DocsLayer, 'resolution' | 'parents'>, containment = 'center'): string | undefined {
  const res = layer.resolution;
  if (name === '_cng_fid') return 'Feature id added by the pipeline: the 1-based position of the feature in the source layer. Joins the hex rows to the GeoParquet rows.';
  if (name === 'geometry')
    return 'Feature geometry: WKB (GeoParquet 1.1), EPSG:4326 longitude/latitude, made valid, curves linearized, split at the antimeridian; null where the source geometry was null or empty.';
  if (name === 'bbox') return 'Bounding box of the geometry (xmin, ymin, xmax, ymax in degrees): the GeoParquet 1.1 covering column, for fast spatial filtering.';
  if (name === `h${res}`)
    return `H3 cell at resolution ${res} (UBIGINT), one row per (feature, cell): ${containment === 'overlap' ? 'every cell the feature touches' : 'cells whose centre lies in the feature, or for features smaller than a cell the cell containing a point on their surface'}.`;
  const p = /^h(\d+)$/.exec(name);
  if (p && layer.parents.includes(Number(p[1]))) return `Parent H3 cell at resolution ${p[1]} of h${res} (UBIGINT).`;
  if (name === 'h0')
    return `Resolution-0 H3 cell of h${res}, the hive partition key: stored in the directory name h0=<cell> (decimal UBIGINT), not in the files; read with hive_partitioning (hive_types {'h0': UBIGINT}).`;
  return undefined;
}

/** A layer column's description and where it was found, or undefined. */
export function layerColumnDescription(
  prose: ResolvedProse,
  layer: Pick<DocsLayer, 'key' | 'resolution' | 'parents'>,
  column: string,
  containment?: string,
): { text: string; from: DescriptionSource } | undefined {
  const own = prose.layers[layer.key]?.columns[column];
  if (own) return { text: own, from: 'layer' };
  if (prose.columns[column]) return { text: prose.columns[column], from: 'dataset' };
  const builtin = pipelineColumn(column, layer, containment);
  return builtin ? { text: builtin, from: 'pipeline' } : undefined;
}

/** The slug a band's name becomes as a hex column (multi-band rasters): lower-case, non-alphanumerics → `_`. */
export function bandColumn(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '_');
}

/** The raster pipeline's own hex columns, described by the tool (prose may override). */
export function rasterPipelineColumn(
  name: string,
  raster: Pick<DocsRaster, 'resolution' | 'parents' | 'valueKind'>,
  opts: { units?: string; bands?: RasterManifest['bands'] } = {},
): string | undefined {
  const res = raster.resolution;
  const unit = opts.units ? ` Unit: ${opts.units}.` : '';
  if (name === `h${res}`) return `H3 cell at resolution ${res} (UBIGINT), one row per cell with at least one valid (non-nodata) pixel.`;
  const p = /^h(\d+)$/.exec(name);
  if (p && raster.parents.includes(Number(p[1]))) return `Parent H3 cell at resolution ${p[1]} of h${res} (UBIGINT).`;
  if (name === 'h0')
    return `Resolution-0 H3 cell of h${res}, the hive partition key: stored in the directory name h0=<cell> (decimal UBIGINT), not in the files; read with hive_partitioning (hive_types {'h0': UBIGINT}).`;
  if (name === 'coverage') return "Share of the cell's area covered by valid (non-nodata) pixels, in (0, 1].";
  if (raster.valueKind === 'categorical') {
    if (name === 'class') return `Majority class: the class code covering the largest share of the cell's valid area.`;
    if (name === 'fraction') return "Share (0–1) of the cell's valid area covered by the majority class.";
    if (name === 'fractions') return "Every class present in the cell → its share of the cell's valid area (MAP(INTEGER, DOUBLE); the shares sum to 1).";
    return undefined;
  }
  const what =
    raster.valueKind === 'continuous'
      ? "area-weighted mean of the pixel values over the cell's valid area"
      : 'sum of the pixel values in the cell, each pixel split across the cells it overlaps by area (mass-conserving: the column sums to the raster total)';
  if (name === 'value') return `${what[0].toUpperCase()}${what.slice(1)}.${unit}`;
  const band = opts.bands?.find((b) => bandColumn(b.name) === name);
  if (band) return `Band ${band.band} (${band.name}): ${what}.${unit}`;
  return undefined;
}

/** A raster hex column's description and where it was found, or undefined. */
export function rasterColumnDescription(
  prose: ResolvedProse,
  raster: Pick<DocsRaster, 'key' | 'resolution' | 'parents' | 'valueKind'>,
  column: string,
  bands?: RasterManifest['bands'],
): { text: string; from: DescriptionSource } | undefined {
  const rp = prose.rasters?.[raster.key];
  const own = rp?.columns[column];
  if (own) return { text: own, from: 'raster' };
  const builtin = rasterPipelineColumn(column, raster, { units: rp?.units, bands });
  if (!builtin) return undefined;
  const classes = column === 'class' && rp?.classes ? ` Classes: ${Object.entries(rp.classes).map(([k, v]) => `${k} = ${v}`).join('; ')}.` : '';
  return { text: builtin + classes, from: 'pipeline' };
}

/** The description with the column's code meanings appended (for STAC and the README's column tables). */
function withCodes(prose: ResolvedProse, column: string, text: string): string {
  const codes = prose.codes[column];
  if (!codes) return text;
  const list = Object.entries(codes.values).map(([k, v]) => `${k} = ${v}`).join('; ');
  return `${text} Codes: ${list}.`;
}

// ---------------------------------------------------------------------------------------------
// Schema snapshot and the completeness check
// ---------------------------------------------------------------------------------------------

/** `datasets/<name>.schema.json`: the columns of the published files, so CI can check the prose without outputs. */
export interface SchemaSnapshot {
  readonly dataset: string;
  /** Where the columns came from (a run's outputs, or a transcription to be confirmed). */
  readonly origin: string;
  readonly layers: Record<string, { geoparquet: ColumnFact[]; hex: ColumnFact[] }>;
  readonly tables: Record<string, ColumnFact[]>;
  /** Hex columns per raster key; present only for datasets with rasters. */
  readonly rasters?: Record<string, ColumnFact[]>;
}

/** The snapshot of gathered facts (layers and tables that were found). */
export function schemaSnapshot(input: DocsInput, facts: Facts, origin: string): SchemaSnapshot {
  const layers: SchemaSnapshot['layers'] = {};
  for (const l of facts.layers)
    if (l.geoparquet && l.hex) layers[l.layer.key] = { geoparquet: l.geoparquet.columns, hex: l.hex.columns };
  const tables: SchemaSnapshot['tables'] = {};
  for (const t of facts.tables) if (t.parquet) tables[t.table.sourceLayer] = t.parquet.columns;
  if (!input.rasters?.length) return { dataset: input.name, origin, layers, tables };
  const rasters: NonNullable<SchemaSnapshot['rasters']> = {};
  for (const r of facts.rasters) if (r.hexColumns) rasters[r.raster.key] = r.hexColumns;
  return { dataset: input.name, origin, layers, tables, rasters };
}

/** One gap in the prose, with where to fill it. */
export interface ProseProblem {
  /**
   * `missing`: something published has no description (or no schema is known); `invalid`: the prose
   * does not parse; `extra`: prose for something the dataset does not publish (stale or a typo).
   */
  readonly kind: 'missing' | 'invalid' | 'extra';
  /** e.g. `layer fee`, `column Loc_Own`, `table Category column Dom`. */
  readonly what: string;
  /** The prose field to write, e.g. `columns.Loc_Own` or `tables.Category.columns.Dom`. */
  readonly field: string;
  readonly message: string;
}

/**
 * Every missing description: the prose against the columns of the published files (a snapshot, or
 * the facts of a run). Also flags prose for layers/tables the dataset does not have.
 */
export function checkProse(input: Pick<DocsInput, 'name' | 'layers' | 'tables' | 'rasters'>, proseIn: unknown, schema: SchemaSnapshot): ProseProblem[] {
  const out: ProseProblem[] = [];
  if (proseIn === undefined) {
    out.push({ kind: 'missing', what: 'prose', field: `datasets/${input.name}.prose.ts`, message: "the dataset has no prose: write a DatasetProse and set the dataset file's prose field" });
    return out;
  }
  const parsed = proseSchema.safeParse(proseIn);
  if (!parsed.success) {
    for (const i of parsed.error.issues) out.push({ kind: 'invalid', what: 'prose', field: i.path.join('.') || '(prose)', message: i.message });
    return out;
  }
  const prose = parsed.data;
  // Undescribed columns, grouped so one shared column is reported once with its layers.
  const shared = new Map<string, string[]>();
  for (const layer of input.layers) {
    if (!prose.layers[layer.key]) out.push({ kind: 'missing', what: `layer ${layer.key}`, field: `layers.${layer.key}`, message: 'no title and description' });
    const cols = schema.layers[layer.key];
    if (!cols) {
      out.push({ kind: 'missing', what: `layer ${layer.key}`, field: `(schema snapshot)`, message: `no columns for layer ${layer.key} in the schema snapshot: run 'cng docs ${input.name} --brief --write-schema' over a run's outputs` });
      continue;
    }
    for (const c of uniqueColumns([...cols.geoparquet, ...cols.hex]))
      if (!layerColumnDescription(prose, layer, c.name)) shared.set(c.name, [...(shared.get(c.name) ?? []), layer.key]);
  }
  for (const [col, layers] of shared)
    out.push({
      kind: 'missing',
      what: `column ${col}`,
      field: layers.length > 1 ? `columns.${col}` : `columns.${col} or layers.${layers[0]}.columns.${col}`,
      message: `no description (layer${layers.length > 1 ? 's' : ''} ${layers.join(', ')})`,
    });
  for (const t of input.tables) {
    const name = t.sourceLayer;
    const p = prose.tables[name];
    if (!p) out.push({ kind: 'missing', what: `table ${name}`, field: `tables.${name}`, message: 'no description' });
    const cols = schema.tables[name];
    if (!cols) {
      out.push({ kind: 'missing', what: `table ${name}`, field: '(schema snapshot)', message: `no columns for table ${name} in the schema snapshot: run 'cng docs ${input.name} --brief --write-schema'` });
      continue;
    }
    for (const c of cols) if (!p?.columns[c.name]) out.push({ kind: 'missing', what: `table ${name} column ${c.name}`, field: `tables.${name}.columns.${c.name}`, message: 'no description' });
  }
  // Rasters: a title and description each; their hex columns are the pipeline's own (checked when
  // the snapshot or the run lists them: a band column named by the source is described generically).
  for (const raster of input.rasters ?? []) {
    if (!prose.rasters?.[raster.key]) out.push({ kind: 'missing', what: `raster ${raster.key}`, field: `rasters.${raster.key}`, message: 'no title and description' });
    for (const c of schema.rasters?.[raster.key] ?? [])
      if (!rasterColumnDescription(prose, raster, c.name, c.name === 'value' ? undefined : [{ band: 0, name: c.name, dataType: c.type }]))
        out.push({ kind: 'missing', what: `raster ${raster.key} column ${c.name}`, field: `rasters.${raster.key}.columns.${c.name}`, message: 'no description' });
  }
  const rasterKeys = new Set((input.rasters ?? []).map((r) => r.key));
  for (const k of Object.keys(prose.rasters ?? {}))
    if (!rasterKeys.has(k)) out.push({ kind: 'extra', what: `raster ${k}`, field: `rasters.${k}`, message: 'described in the prose but not a raster of the dataset' });
  const layerKeys = new Set(input.layers.map((l) => l.key));
  for (const k of Object.keys(prose.layers)) if (!layerKeys.has(k)) out.push({ kind: 'extra', what: `layer ${k}`, field: `layers.${k}`, message: 'described in the prose but not a layer of the dataset' });
  const tableNames = new Set(input.tables.map((t) => t.sourceLayer));
  for (const k of Object.keys(prose.tables)) if (!tableNames.has(k)) out.push({ kind: 'extra', what: `table ${k}`, field: `tables.${k}`, message: 'described in the prose but not a table of the dataset' });
  const allColumns = new Set([
    ...Object.values(schema.layers).flatMap((l) => [...l.geoparquet, ...l.hex].map((c) => c.name)),
    ...Object.values(schema.tables).flatMap((cols) => cols.map((c) => c.name)),
  ]);
  for (const k of Object.keys(prose.codes))
    if (!allColumns.has(k)) out.push({ kind: 'extra', what: `codes ${k}`, field: `codes.${k}`, message: 'code meanings for a column no published file has' });
  return out;
}

function uniqueColumns(cols: ColumnFact[]): ColumnFact[] {
  const seen = new Set<string>();
  return cols.filter((c) => !seen.has(c.name) && (seen.add(c.name), true));
}

export function formatProblems(problems: ProseProblem[]): string {
  return problems.map((p) => `  ${p.what}: ${p.message} → ${p.field}`).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const STAC_VERSION = '1.0.0';
export const STAC_EXTENSIONS = {
  table: 'https://stac-extensions.github.io/table/v1.2.0/schema.json',
  file: 'https://stac-extensions.github.io/file/v2.1.0/schema.json',
} as const;

/** `<publicEndpoint>/<bucket>/<key>` of an `s3://` URL (a trailing `/` kept for directories). */
export function publicUrl(input: Pick<DocsInput, 'publicEndpoint'>, url: string, dir = false): string {
  const { bucket, key } = parseS3Url(url);
  return `${input.publicEndpoint.replace(/\/$/, '')}/${bucket}/${key.replace(/\/$/, '')}${dir ? '/' : ''}`;
}

function resolveProse(input: DocsInput): ResolvedProse {
  if (input.prose === undefined) throw new CommandError(`dataset ${input.name}: no prose (datasets/${input.name}.prose.ts); 'cng docs ${input.name} --brief' shows what to write`);
  const r = proseSchema.safeParse(input.prose);
  if (!r.success) throw new CommandError(`dataset ${input.name}: invalid prose:\n${r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  return r.data;
}

/** The lab's role in every collection. */
const LAB_PROVIDER = {
  name: 'Boettiger Lab (cng-datasets)',
  roles: ['processor', 'host'] as ('processor' | 'host')[],
  description: 'Converted the source to GeoParquet, PMTiles, H3 hex Parquet and Parquet tables and hosts them on the NRP Nautilus S3 store.',
  url: 'https://github.com/boettiger-lab',
};

/** The STAC Collection (STAC 1.0.0 + table v1.2.0 + file v2.1.0). */
export function buildStac(input: DocsInput, facts: Facts): Record<string, unknown> {
  const prose = resolveProse(input);
  const self = publicUrl(input, input.stac);
  const readme = publicUrl(input, input.readme);
  const bboxes = [
    ...facts.layers.map((l) => l.geoparquet?.geo?.bbox),
    // A raster crossing the antimeridian (west > east) spans every longitude in a plain bbox.
    ...facts.rasters.map((r) => (r.bounds ? (r.bounds[0] > r.bounds[2] ? [-180, r.bounds[1], 180, r.bounds[3]] : [...r.bounds]) : undefined)),
  ].filter((b): b is number[] => Array.isArray(b) && b.length === 4);
  const union = bboxes.length
    ? [Math.min(...bboxes.map((b) => b[0])), Math.min(...bboxes.map((b) => b[1])), Math.max(...bboxes.map((b) => b[2])), Math.max(...bboxes.map((b) => b[3]))]
    : [-180, -90, 180, 90];
  const assets: Record<string, Record<string, unknown>> = {};
  for (const l of facts.layers) {
    const { layer } = l;
    const lp = prose.layers[layer.key];
    const title = lp?.title ?? layer.name;
    const columns = (cols: ColumnFact[]) =>
      cols.map((c) => ({
        name: c.name,
        type: c.type,
        description: withCodes(prose, c.name, layerColumnDescription(prose, layer, c.name, l.hex?.manifest.containment)?.text ?? 'Not yet described.'),
      }));
    if (l.geoparquet)
      assets[`${layer.name}-geoparquet`] = {
        href: publicUrl(input, layer.geoparquet),
        type: 'application/vnd.apache.parquet',
        roles: ['data'],
        title: `${title} (GeoParquet)`,
        description: `${lp?.description ?? ''} GeoParquet ${l.geoparquet.geo?.version ?? ''}, EPSG:4326, ${l.geoparquet.rows} features, source layer ${layer.sourceLayer}.`.trim(),
        'file:size': l.geoparquet.size,
        'table:row_count': l.geoparquet.rows,
        'table:primary_geometry': l.geoparquet.geo?.primaryColumn ?? 'geometry',
        'table:columns': columns(l.geoparquet.columns),
      };
    if (l.pmtiles)
      assets[`${layer.name}-pmtiles`] = {
        href: publicUrl(input, layer.pmtiles),
        type: 'application/vnd.pmtiles',
        roles: ['data', 'tiles'],
        title: `${title} (PMTiles vector tiles)`,
        description: `Vector tiles of ${title}, zooms ${l.pmtiles.minZoom}–${l.pmtiles.maxZoom}, source-layer ${l.pmtiles.layers.map((x) => x.id).join(', ') || layer.pmtilesLayer}.`,
        'file:size': l.pmtiles.size,
        'cng:vector_layers': l.pmtiles.layers.map((x) => ({ id: x.id, minzoom: x.minzoom ?? l.pmtiles!.minZoom, maxzoom: x.maxzoom ?? l.pmtiles!.maxZoom, fields: x.fields })),
      };
    if (l.hex) {
      const m = l.hex.manifest;
      assets[`${layer.name}-hex`] = {
        href: publicUrl(input, layer.hex, true),
        type: 'application/vnd.apache.parquet',
        roles: ['data'],
        title: `${title} (H3 resolution ${m.resolution} hex Parquet)`,
        description:
          `Every feature of ${title} as the H3 cells it covers at resolution ${m.resolution} (parents ${m.parents.join(', ')}), with all attributes; ` +
          `a directory of hive partitions ${layer.name}/hex/h0=<cell>/data_0.parquet (${m.partitions} partitions, ${m.bytes} bytes). ` +
          `Read ${publicUrl(input, layer.hex, true)}**/*.parquet with hive partitioning.`,
        'table:row_count': m.cells,
        'table:columns': columns(l.hex.columns),
        'cng:h3': { resolution: m.resolution, parents: m.parents, containment: m.containment, encoding: 'UBIGINT', partition_key: 'h0', partitions: m.partitions, bytes: m.bytes, features: m.features, features_hexed: m.features_hexed },
      };
    }
  }
  for (const r of facts.rasters) addRasterAssets(assets, input, prose, r);
  for (const t of facts.tables) {
    if (!t.parquet) continue;
    const tp = prose.tables[t.table.sourceLayer];
    assets[`table-${t.table.name}`] = {
      href: publicUrl(input, t.table.url),
      type: 'application/vnd.apache.parquet',
      roles: ['data', 'metadata'],
      title: tp?.title ?? `${t.table.sourceLayer} (lookup table)`,
      description: tp?.description ?? `Non-spatial table ${t.table.sourceLayer} of the source.`,
      'file:size': t.parquet.size,
      'table:row_count': t.parquet.rows,
      'table:columns': t.parquet.columns.map((c) => ({ name: c.name, type: c.type, description: tp?.columns[c.name] ?? 'Not yet described.' })),
    };
  }
  const links: Record<string, unknown>[] = [
    { rel: 'self', href: self, type: 'application/json', title: `${prose.title} (STAC Collection)` },
    { rel: 'root', href: self, type: 'application/json', title: `${prose.title} (STAC Collection)` },
    { rel: 'parent', href: self, type: 'application/json', title: `${prose.title} (STAC Collection; standalone, its own parent)` },
    { rel: 'describedby', href: readme, type: 'text/markdown', title: 'README: layers, columns, codes, how to read' },
    ...(prose.licenseUrl ? [{ rel: 'license', href: prose.licenseUrl, title: 'License / terms of use' }] : []),
    ...(prose.doi ? [{ rel: 'cite-as', href: `https://doi.org/${prose.doi}`, title: 'Source DOI' }] : []),
    ...prose.links.map((l) => ({ rel: l.rel, href: l.href, title: l.title, ...(l.type ? { type: l.type } : {}) })),
    ...(input.mirror ? [{ rel: 'alternate', href: mirrorBase(input), title: 'Mirror on source.coop' }] : []),
  ];
  return {
    type: 'Collection',
    stac_version: STAC_VERSION,
    stac_extensions: [STAC_EXTENSIONS.table, STAC_EXTENSIONS.file],
    id: input.name,
    title: prose.title,
    description: prose.description,
    keywords: prose.keywords,
    license: prose.license,
    providers: [...prose.providers, LAB_PROVIDER],
    extent: { spatial: { bbox: [union, ...(bboxes.length > 1 ? bboxes : [])] }, temporal: { interval: [prose.temporal] } },
    links,
    assets,
  };
}

/** Media type of a Cloud-Optimized GeoTIFF (STAC best practice). */
export const COG_MEDIA_TYPE = 'image/tiff; application=geotiff; profile=cloud-optimized';

/** A raster's STAC assets: `<name>-cog` (the COG) and `<name>-hex` (the hex directory), facts from its manifest. */
function addRasterAssets(assets: Record<string, Record<string, unknown>>, input: DocsInput, prose: ResolvedProse, r: RasterFacts): void {
  const { raster } = r;
  const rp = prose.rasters?.[raster.key];
  const title = rp?.title ?? raster.name;
  const m = r.manifest;
  if (r.cog)
    assets[`${raster.name}-cog`] = {
      href: publicUrl(input, raster.cog),
      type: COG_MEDIA_TYPE,
      roles: ['data'],
      title: `${title} (Cloud-Optimized GeoTIFF)`,
      description: `${rp?.description ?? ''} ${raster.valueKind} values${rp?.units ? ` in ${rp.units}` : ''}${m ? `, ${m.cog.width} × ${m.cog.height} pixels, ${m.cog.crs.length > 40 ? 'CRS in the file' : m.cog.crs}` : ''}.`.trim(),
      'file:size': r.cog.size,
      ...(m
        ? {
            'cng:raster': {
              value_kind: raster.valueKind,
              width: m.cog.width,
              height: m.cog.height,
              crs: m.cog.crs,
              overviews: m.cog.overviews,
              nodata: m.nodata,
              nodata_collapsed: m.nodataCollapsed,
              bands: m.bands.map((b) => ({ band: b.band, name: b.name, data_type: b.dataType })),
              ...(r.bounds ? { bounds: r.bounds } : {}),
            },
          }
        : {}),
    };
  if (m && r.hexColumns)
    assets[`${raster.name}-hex`] = {
      href: publicUrl(input, raster.hex, true),
      type: 'application/vnd.apache.parquet',
      roles: ['data'],
      title: `${title} (H3 resolution ${m.resolution} hex Parquet)`,
      description:
        `${title} aggregated to H3 cells at resolution ${m.resolution}${m.parents.length ? ` (parents ${m.parents.join(', ')})` : ''}: ${m.method}; ` +
        `a directory of hive partitions h0=<cell>/data_0.parquet (${m.partitions} partitions, ${m.bytes} bytes). ` +
        `Read ${publicUrl(input, raster.hex, true)}**/*.parquet with hive partitioning.`,
      'table:row_count': m.cells,
      'table:columns': r.hexColumns.map((c) => ({
        name: c.name,
        type: c.type,
        description: rasterColumnDescription(prose, raster, c.name, m.bands)?.text ?? 'Not yet described.',
      })),
      'cng:h3': {
        resolution: m.resolution,
        parents: m.parents,
        encoding: 'UBIGINT',
        partition_key: 'h0',
        partitions: m.partitions,
        bytes: m.bytes,
        value_kind: m.valueKind,
        method: m.method,
        nodata_share: m.nodataShare,
        ...(m.valueRange ? { value_range: m.valueRange } : {}),
        ...(m.total ? { total: m.total } : {}),
        ...(m.classes ? { classes: m.classes } : {}),
      },
    };
}

function mirrorBase(input: DocsInput): string {
  const m = input.mirror!;
  return `${m.endpoint.replace(/\/$/, '')}/${m.bucket}/${m.prefix ? `${m.prefix.replace(/\/$/, '')}/` : ''}`;
}

/** README.md: every layer, table, column and code, with public URLs and the facts. */
export function renderReadme(input: DocsInput, facts: Facts): string {
  const prose = resolveProse(input);
  const L: string[] = [];
  const md = (s: string) => s.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
  const url = (u: string, dir = false) => publicUrl(input, u, dir);
  L.push(`# ${prose.title}`, '');
  L.push(
    `> Generated by \`cng-worker docs\` (cng-datasets) from the published files of dataset \`${input.name}\` run ${input.run} and its prose ` +
      `(\`datasets/${input.name}.prose.ts\`). Do not edit by hand: change the prose and re-run. STAC: [stac-collection.json](${url(input.stac)}).`,
    '',
  );
  L.push(prose.description, '');
  if (prose.notes.length) L.push('**Notes**', '', ...prose.notes.map((n) => `- ${n}`), '');

  L.push('## Contents', '');
  if (facts.layers.length || !facts.rasters.length) L.push('| layer | features | GeoParquet | PMTiles | H3 hex |', '|---|---:|---|---|---|');
  for (const l of facts.layers) {
    const m = l.hex?.manifest;
    L.push(
      `| [${l.layer.key}](#${anchor(`layer-${l.layer.key}`)}) | ${l.geoparquet ? fmtInt(l.geoparquet.rows) : '—'} | ` +
        `${l.geoparquet ? `[${l.layer.name}.parquet](${url(l.layer.geoparquet)}) (${human(l.geoparquet.size)})` : '—'} | ` +
        `${l.pmtiles ? `[${l.layer.name}.pmtiles](${url(l.layer.pmtiles)}) (${human(l.pmtiles.size)})` : '—'} | ` +
        `${m ? `[${l.layer.name}/hex/](${url(l.layer.hex, true)}) res ${m.resolution}, ${fmtInt(m.cells)} cells, ${m.partitions} partitions (${human(m.bytes)})` : '—'} |`,
    );
  }
  if (facts.tables.length) {
    L.push('', '| table | rows | Parquet |', '|---|---:|---|');
    for (const t of facts.tables)
      L.push(`| [${t.table.sourceLayer}](#${anchor(`table-${t.table.sourceLayer}`)}) | ${t.parquet ? fmtInt(t.parquet.rows) : '—'} | ${t.parquet ? `[${t.table.name}.parquet](${url(t.table.url)}) (${human(t.parquet.size)})` : '—'} |`);
  }
  if (facts.rasters.length) {
    L.push('', '| raster | values | COG | H3 hex |', '|---|---|---|---|');
    for (const r of facts.rasters) {
      const m = r.manifest;
      L.push(
        `| [${r.raster.key}](#${anchor(`raster-${r.raster.key}`)}) | ${r.raster.valueKind} | ` +
          `${r.cog ? `[${lastSegment(r.raster.cog)}](${url(r.raster.cog)}) (${human(r.cog.size)})` : '—'} | ` +
          `${m ? `[${hexLabel(r.raster)}](${url(r.raster.hex, true)}) res ${m.resolution}, ${fmtInt(m.cells)} cells, ${m.partitions} partitions (${human(m.bytes)})` : '—'} |`,
      );
    }
  }
  L.push('');

  L.push('## Layout', '', '```');
  const root = `${input.bucket}/`;
  L.push(`${root}`, `  README.md, stac-collection.json     this documentation`);
  const pre = input.prefix ? `${input.prefix}/` : '';
  for (const l of facts.layers.slice(0, 1)) {
    L.push(`  ${pre}<layer>.parquet                 GeoParquet, EPSG:4326 (e.g. ${pre}${l.layer.name}.parquet)`);
    L.push(`  ${pre}<layer>.pmtiles                 vector tiles, source-layer = <layer>`);
    L.push(`  ${pre}<layer>/hex/h0=<cell>/data_0.parquet   H3 cells with the attributes`);
    L.push(`  ${pre}<layer>/manifest.json           counts of the hex product`);
  }
  if (facts.tables.length) L.push(`  ${facts.tables[0].table.url.replace(/^s3:\/\/[^/]+\//, '').replace(/[^/]+\.parquet$/, '')}<Table>.parquet   non-spatial tables, original names`);
  for (const r of facts.rasters.slice(0, 1)) {
    const g = (u: string) => genericKey(parseS3Url(u).key, r.raster.name);
    L.push(`  ${g(r.raster.cog)}   Cloud-Optimized GeoTIFF (e.g. ${parseS3Url(r.raster.cog).key})`);
    L.push(`  ${g(r.raster.hex)}/h0=<cell>/data_0.parquet   H3 cells with the aggregated values`);
    L.push(`  ${g(r.raster.manifest)}   counts, value ranges, nodata share of the hex product`);
  }
  L.push('```', '');
  L.push(
    `Public HTTPS base: ${input.publicEndpoint}/${input.bucket}/ (path-style S3: \`s3://${input.bucket}/…\` with endpoint ${input.publicEndpoint.replace(/^https?:\/\//, '')}).`,
    '',
  );
  if (input.mirror) L.push(`Mirror: ${mirrorBase(input)} (source.coop; same files and names under this prefix).`, '');

  for (const l of facts.layers) {
    const lp = prose.layers[l.layer.key];
    L.push(`## Layer ${l.layer.key}`, '');
    L.push(`<a id="${anchor(`layer-${l.layer.key}`)}"></a>**${lp?.title ?? l.layer.name}** — source layer \`${l.layer.sourceLayer}\`.`, '');
    if (lp) L.push(lp.description, '');
    if (l.geoparquet) {
      const g = l.geoparquet;
      L.push(
        `- GeoParquet: ${url(l.layer.geoparquet)} — ${fmtInt(g.rows)} features, ${human(g.size)}` +
          (g.geo?.geometryTypes?.length ? `, ${g.geo.geometryTypes.join('/')}` : '') +
          (g.geo?.bbox ? `, bbox [${g.geo.bbox.map((x) => Number(x).toFixed(4)).join(', ')}]` : ''),
      );
    }
    if (l.pmtiles)
      L.push(`- PMTiles: ${url(l.layer.pmtiles)} — source-layer \`${l.pmtiles.layers.map((x) => x.id).join('`, `') || l.layer.pmtilesLayer}\`, zooms ${l.pmtiles.minZoom}–${l.pmtiles.maxZoom}, ${human(l.pmtiles.size)}`);
    if (l.hex) {
      const m = l.hex.manifest;
      L.push(
        `- H3 hex: ${url(l.layer.hex, true)} — resolution ${m.resolution} (parents ${m.parents.join(', ')}), containment ${m.containment}, ` +
          `${fmtInt(m.cells)} rows (feature × cell) from ${fmtInt(m.features_hexed)} of ${fmtInt(m.features)} features (${fmtInt(m.null_geometries)} without geometry), ` +
          `${m.partitions} partitions by h0, ${human(m.bytes)}`,
      );
    }
    L.push('');
    const cols = uniqueColumns([...(l.geoparquet?.columns ?? []), ...(l.hex?.columns ?? [])]);
    const inGeo = new Set((l.geoparquet?.columns ?? []).map((c) => c.name));
    const inHex = new Set((l.hex?.columns ?? []).map((c) => c.name));
    L.push('| column | type | in | description |', '|---|---|---|---|');
    for (const c of cols) {
      const d = layerColumnDescription(prose, l.layer, c.name, l.hex?.manifest.containment);
      const where = inGeo.has(c.name) && inHex.has(c.name) ? 'both' : inGeo.has(c.name) ? 'GeoParquet' : 'hex';
      const codes = prose.codes[c.name] ? ` Codes: see [${c.name}](#${anchor(`codes-${c.name}`)}).` : '';
      L.push(`| \`${c.name}\` | ${md(c.type)} | ${where} | ${md(d?.text ?? '_not yet described_')}${codes} |`);
    }
    L.push('');
  }

  for (const r of facts.rasters) renderRasterSection(L, input, prose, r);

  if (facts.tables.length) {
    L.push('## Tables', '');
    for (const t of facts.tables) {
      const tp = prose.tables[t.table.sourceLayer];
      L.push(`### ${t.table.sourceLayer}`, '');
      L.push(`<a id="${anchor(`table-${t.table.sourceLayer}`)}"></a>${tp?.title ? `**${tp.title}** — ` : ''}${tp?.description ?? ''}`, '');
      if (t.parquet) {
        L.push(`${url(t.table.url)} — ${fmtInt(t.parquet.rows)} rows, ${human(t.parquet.size)}.`, '');
        L.push('| column | type | description |', '|---|---|---|');
        for (const c of t.parquet.columns) L.push(`| \`${c.name}\` | ${md(c.type)} | ${md(tp?.columns[c.name] ?? '_not yet described_')} |`);
        L.push('');
      }
    }
  }

  const codeEntries = Object.entries(prose.codes);
  if (codeEntries.length) {
    L.push('## Codes', '');
    for (const [col, c] of codeEntries) {
      L.push(`### ${col}`, '');
      L.push(`<a id="${anchor(`codes-${col}`)}"></a>${c.table ? `Lookup table: \`${c.table}\` (join \`${col}\` = \`Code\`).` : ''}`, '');
      L.push('| code | meaning |', '|---|---|');
      for (const [k, v] of Object.entries(c.values)) L.push(`| \`${md(k)}\` | ${md(v)} |`);
      L.push('');
    }
  }

  L.push('## Reading the data', '');
  const first = facts.layers.find((l) => l.hex && l.geoparquet);
  if (first) {
    L.push(
      'With DuckDB (local copies, or `s3://` with the httpfs extension and the endpoint above, `URL_STYLE path`):',
      '',
      '```sql',
      `-- features`,
      `SELECT * FROM read_parquet('s3://${input.bucket}/${parseS3Url(first.layer.geoparquet).key}') LIMIT 10;`,
      `-- cells per resolution-0 partition`,
      `SELECT h0, count(*) AS cells FROM read_parquet('s3://${input.bucket}/${parseS3Url(first.layer.hex).key}/**/*.parquet',`,
      `  hive_partitioning = true, hive_types = {'h0': UBIGINT}) GROUP BY h0 ORDER BY cells DESC;`,
      '```',
      '',
      `H3 cells are unsigned 64-bit integers (UBIGINT); DuckDB's h3 extension converts them (\`h3_h3_to_string(h${first.hex!.manifest.resolution})\`).`,
      '',
    );
  }

  const firstRaster = facts.rasters.find((r) => r.manifest);
  if (firstRaster) {
    const m = firstRaster.manifest!;
    const cols = (firstRaster.hexColumns ?? []).filter((c) => !/^h\d+$/.test(c.name)).map((c) => c.name);
    L.push(
      `Raster ${firstRaster.raster.key}: the COG with GDAL (range reads, no download), the hex with DuckDB:`,
      '',
      '```sh',
      `gdalinfo /vsicurl/${url(firstRaster.raster.cog)}`,
      '```',
      '',
      '```sql',
      `SELECT h${m.resolution}${cols.length ? `, ${cols.join(', ')}` : ''}`,
      `FROM read_parquet('s3://${input.bucket}/${parseS3Url(firstRaster.raster.hex).key}/**/*.parquet', hive_partitioning = true, hive_types = {'h0': UBIGINT})`,
      `LIMIT 10;`,
      '```',
      '',
    );
  }

  L.push('## Source, license and citation', '');
  if (input.source) L.push(`- Source: \`${input.source}\``);
  for (const r of facts.rasters) L.push(`- Source of raster ${r.raster.key}: ${r.raster.sources.map((x) => `\`${x}\``).join(', ')}`);
  if (prose.doi) L.push(`- DOI: [${prose.doi}](https://doi.org/${prose.doi})`);
  for (const link of prose.links) L.push(`- ${link.title}: ${link.href}`);
  L.push(`- License: \`${prose.license}\`${prose.licenseText ? ` — ${prose.licenseText}` : ''}${prose.licenseUrl ? ` (${prose.licenseUrl})` : ''}`);
  L.push(`- Providers: ${[...prose.providers, LAB_PROVIDER].map((p) => `${p.name} (${p.roles.join(', ')})`).join('; ')}`);
  L.push(`- Keywords: ${prose.keywords.join(', ')}`);
  L.push('', '**Cite as:** ' + prose.citation, '');
  return L.join('\n').replace(/\n{3,}/g, '\n\n');
}

/** The README section of one raster: facts from its manifest, columns, classes. */
function renderRasterSection(L: string[], input: DocsInput, prose: ResolvedProse, r: RasterFacts): void {
  const md = (s: string) => s.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
  const url = (u: string, dir = false) => publicUrl(input, u, dir);
  const rp = prose.rasters?.[r.raster.key];
  const m = r.manifest;
  L.push(`## Raster ${r.raster.key}`, '');
  L.push(`<a id="${anchor(`raster-${r.raster.key}`)}"></a>**${rp?.title ?? r.raster.name}** — ${r.raster.valueKind} values${rp?.units ? ` (${rp.units})` : ''}.`, '');
  if (rp) L.push(rp.description, '');
  if (r.cog) {
    const c = m?.cog;
    L.push(
      `- COG: ${url(r.raster.cog)} — ${human(r.cog.size)}` +
        (c ? `, ${fmtInt(c.width)} × ${fmtInt(c.height)} pixels, ${m!.bands.length} band${m!.bands.length === 1 ? '' : 's'} (${m!.bands.map((b) => `${b.name} ${b.dataType}`).join(', ')}), ${c.crs.length > 40 ? 'CRS in the file' : c.crs}, ${c.overviews} overview level${c.overviews === 1 ? '' : 's'}` : '') +
        (m ? `, nodata ${m.nodata ?? 'none'}${m.nodataCollapsed.length ? ` (also ${m.nodataCollapsed.join(', ')} in the source)` : ''}` : ''),
    );
  }
  if (m) {
    const range = Object.entries(m.valueRange ?? {}).map(([k, [a, b]]) => `${k} ${fmtNum(a)} to ${fmtNum(b)}`);
    const total = Object.entries(m.total ?? {}).map(([k, v]) => `${k} ${fmtNum(v)}`);
    L.push(
      `- H3 hex: ${url(r.raster.hex, true)} — resolution ${m.resolution}${m.parents.length ? ` (parents ${m.parents.join(', ')})` : ''}, ${m.method}, ` +
        `${fmtInt(m.cells)} cells, ${m.partitions} partitions by h0, ${human(m.bytes)}; ${(m.nodataShare * 100).toFixed(1)}% of the raster's pixels are nodata` +
        (range.length ? `; values ${range.join(', ')}` : '') +
        (total.length ? `; total ${total.join(', ')}` : ''),
    );
  }
  L.push('');
  if (r.hexColumns?.length) {
    L.push('| column | type | description |', '|---|---|---|');
    for (const c of r.hexColumns) {
      const d = rasterColumnDescription(prose, r.raster, c.name, m?.bands);
      L.push(`| \`${c.name}\` | ${md(c.type)} | ${md(d?.text ?? '_not yet described_')} |`);
    }
    L.push('');
  }
  if (m?.classes && Object.keys(m.classes).length) {
    L.push('| class | meaning | cells (majority) |', '|---|---|---:|');
    for (const [code, cells] of Object.entries(m.classes).sort((a, b) => Number(a[0]) - Number(b[0])))
      L.push(`| \`${code}\` | ${md(rp?.classes?.[code] ?? '_not yet described_')} | ${fmtInt(cells)} |`);
    L.push('');
  }
}

/** The writing brief: facts, samples, source links and exactly which descriptions are missing. */
export function writingBrief(input: DocsInput, facts: Facts, samples: Samples | undefined, problems: ProseProblem[]): string {
  const parsed = proseSchema.safeParse(input.prose ?? {});
  const prose = parsed.success ? parsed.data : undefined;
  const L: string[] = [];
  L.push(`# Writing brief: ${input.name} (${input.title})`, '');
  L.push(
    `Write the prose in \`datasets/${input.name}.prose.ts\` (format: \`constructs/prose.ts\`, a \`DatasetProse\` object; the dataset file's \`prose\` field imports it). ` +
      'Describe what each column MEANS to a reader (units, codes, how it was derived, what null means), not its type. ' +
      `Then \`npx cng docs ${input.name} --check\` must pass.`,
    '',
  );
  L.push('## Source links', '');
  if (input.source) L.push(`- source: \`${input.source}\``);
  for (const r of input.rasters ?? []) L.push(`- raster ${r.key}: ${r.sources.map((x) => `\`${x}\``).join(', ')}`);
  if (prose?.doi) L.push(`- DOI: https://doi.org/${prose.doi}`);
  for (const l of prose?.links ?? []) L.push(`- ${l.title}: ${l.href}`);
  L.push('');
  L.push(`## Missing descriptions (${problems.length})`, '');
  if (problems.length) L.push(...problems.map((p) => `- ${p.what}: ${p.message} → \`${p.field}\``));
  else L.push('None: every published column is described.');
  L.push('');
  if (facts.missing.length) L.push('## Products not found', '', ...facts.missing.map((m) => `- ${m}`), '');
  for (const l of facts.layers) {
    L.push(`## Layer ${l.layer.key} (source layer \`${l.layer.sourceLayer}\`)`, '');
    if (l.geoparquet)
      L.push(
        `- ${fmtInt(l.geoparquet.rows)} features, ${human(l.geoparquet.size)}, geometry ${l.geoparquet.geo?.geometryTypes?.join('/') ?? '?'}, bbox ${JSON.stringify(l.geoparquet.geo?.bbox ?? null)}`,
      );
    if (l.pmtiles) L.push(`- PMTiles layers: ${l.pmtiles.layers.map((x) => x.id).join(', ')}; zooms ${l.pmtiles.minZoom}–${l.pmtiles.maxZoom}`);
    if (l.hex) L.push(`- hex: resolution ${l.hex.manifest.resolution}, parents ${l.hex.manifest.parents.join(', ')}, ${fmtInt(l.hex.manifest.cells)} cells`);
    L.push('', '| column | type | described? | sample values |', '|---|---|---|---|');
    for (const c of uniqueColumns([...(l.geoparquet?.columns ?? []), ...(l.hex?.columns ?? [])])) {
      const d = prose ? layerColumnDescription(prose, l.layer, c.name) : undefined;
      const vals = samples?.values[l.layer.key]?.[c.name] ?? [];
      L.push(`| \`${c.name}\` | ${c.type.replace(/\|/g, '\\|')} | ${d ? d.from : '**missing**'} | ${vals.map((v) => `\`${truncate(v, 40).replace(/\|/g, '\\|')}\``).join(', ')} |`);
    }
    const counts = Object.entries(samples?.counts[l.layer.key] ?? {});
    if (counts.length) {
      L.push('', 'Value counts of coded columns (VARCHAR with at most 40 distinct values):', '');
      for (const [col, vc] of counts) L.push(`- \`${col}\`${prose?.codes[col] ? ' (codes described)' : ''}: ${vc.map(([v, n]) => `${v} ${fmtInt(n)}`).join(', ')}`);
    }
    L.push('');
  }
  for (const r of facts.rasters) {
    const m = r.manifest;
    L.push(`## Raster ${r.raster.key} (${r.raster.valueKind}; sources ${r.raster.sources.map((x) => `\`${x}\``).join(', ')})`, '');
    L.push(`Write \`rasters.${r.raster.key}\`: title, description, units${r.raster.valueKind === 'categorical' ? ', classes (code → meaning)' : ''}.`, '');
    if (m) {
      L.push(`- ${m.cog.width} × ${m.cog.height} pixels, CRS ${m.cog.crs.length > 40 ? '(WKT)' : m.cog.crs}, bands ${m.bands.map((b) => `${b.name} (${b.dataType})`).join(', ')}, nodata ${m.nodata ?? 'none'}`);
      L.push(`- hex: resolution ${m.resolution}, ${fmtInt(m.cells)} cells, ${(m.nodataShare * 100).toFixed(1)}% nodata pixels`);
      if (m.valueRange) L.push(`- value range: ${Object.entries(m.valueRange).map(([k, [a, b]]) => `${k} ${a} to ${b}`).join(', ')}`);
      if (m.classes) L.push(`- classes (cells): ${Object.entries(m.classes).map(([k, n]) => `${k} ${fmtInt(n)}`).join(', ')}`);
    }
    L.push('', '| column | type | described? |', '|---|---|---|');
    for (const c of r.hexColumns ?? []) {
      const d = prose ? rasterColumnDescription(prose, r.raster, c.name, m?.bands) : undefined;
      L.push(`| \`${c.name}\` | ${c.type.replace(/\|/g, '\\|')} | ${d ? d.from : '**missing**'} |`);
    }
    L.push('');
  }
  for (const t of facts.tables) {
    L.push(`## Table ${t.table.sourceLayer}`, '');
    if (!t.parquet) {
      L.push('(not found)', '');
      continue;
    }
    L.push(`${fmtInt(t.parquet.rows)} rows; columns: ${t.parquet.columns.map((c) => `\`${c.name}\` ${c.type}`).join(', ')}`, '');
    const rows = samples?.rows[t.table.sourceLayer];
    if (rows?.length) {
      const cols = Object.keys(rows[0]);
      L.push(`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`);
      for (const r of rows) L.push(`| ${cols.map((c) => (r[c] ?? '').replace(/\|/g, '\\|')).join(' | ')} |`);
      L.push('');
    }
  }
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The stage
// ---------------------------------------------------------------------------------------------

/** The docs stage's input: inline JSON (what the synth writes) or a URL/path of a JSON file. */
export async function loadDocsInput(arg: string, storage = new Storage()): Promise<DocsInput> {
  const text = arg.trimStart().startsWith('{') ? arg : await storage.readText(arg);
  let input: DocsInput;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new CommandError(`--dataset-json: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (input?.version !== 1 || !Array.isArray(input.layers) || !Array.isArray(input.tables) || !input.bucket)
    throw new CommandError('--dataset-json: expected the docs input of cng synth (version 1, bucket, layers, tables, prose)');
  return input;
}

export interface DocsResult {
  readonly readme: string;
  readonly stac: Record<string, unknown>;
  readonly facts: Facts;
  readonly problems: ProseProblem[];
}

/**
 * Facts → README + STAC. Fails when a product is missing or (unless allowUndescribed) a published
 * column has no description. Writes to `readmeUrl`/`stacUrl` (the input's by default).
 */
export async function generateDocs(
  input: DocsInput,
  opts: { store?: ObjectStore; storage?: Storage; readmeUrl?: string; stacUrl?: string; allowUndescribed?: boolean; write?: boolean } = {},
): Promise<DocsResult> {
  const store = opts.store ?? storeFromEnv();
  const { facts } = await gatherFacts(input, store);
  if (facts.missing.length) throw new CommandError(`dataset ${input.name}: ${facts.missing.length} product(s) missing: ${facts.missing.join(', ')}`);
  const problems = checkProse(input, input.prose, schemaSnapshot(input, facts, 'this run'));
  const blocking = problems.filter((p) => p.kind !== 'extra' && !(opts.allowUndescribed && p.kind === 'missing'));
  if (blocking.length)
    throw new CommandError(
      `dataset ${input.name}: the prose does not describe everything that is published (nothing was written):\n${formatProblems(blocking)}\n` +
        `Fill these in datasets/${input.name}.prose.ts ('cng docs ${input.name} --brief' shows facts and samples).`,
    );
  const readme = renderReadme(input, facts);
  const stac = buildStac(input, facts);
  if (opts.write !== false) {
    const storage = opts.storage ?? new Storage();
    await storage.writeText(opts.readmeUrl ?? input.readme, readme, 'text/markdown; charset=utf-8');
    await storage.writeText(opts.stacUrl ?? input.stac, JSON.stringify(stac, null, 2) + '\n', 'application/json');
  }
  return { readme, stac, facts, problems };
}

/** `cng-worker docs`. */
export async function docsStage(opts: RawOptions): Promise<void> {
  const { datasetJson, readme, stac, allowUndescribed } = docsStageDef.parse(opts);
  const input = await loadDocsInput(datasetJson);
  const r = await generateDocs(input, { readmeUrl: readme, stacUrl: stac, allowUndescribed });
  const assets = Object.keys(r.stac.assets as object).length;
  log('docs', `wrote ${readme ?? input.readme} (${r.readme.length} characters) and ${stac ?? input.stac} (${assets} assets)`);
  if (r.problems.length) log('docs', `warning: ${r.problems.length} description(s) missing:\n${formatProblems(r.problems)}`);
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------



function anchor(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** A number for prose: integers with separators, others with 4 significant digits. */
function fmtNum(n: number): string {
  return Number.isInteger(n) ? fmtInt(n) : Number(n.toPrecision(4)).toLocaleString('en-US', { maximumFractionDigits: 12 });
}

function lastSegment(url: string): string {
  return url.replace(/\/$/, '').split('/').pop()!;
}

/** `hex/<name>/` or `<name>/hex/`: the hex directory relative to where the COG's name sits. */
function hexLabel(r: DocsRaster): string {
  const parts = parseS3Url(r.hex).key.split('/');
  return `${parts.slice(-2).join('/')}/`;
}

/** The key with its path segment `name` (or `name.tif`) replaced by `<raster>`. */
function genericKey(key: string, name: string): string {
  const parts = key.split('/');
  for (let i = parts.length - 1; i >= 0; i--)
    if (parts[i] === name || parts[i] === `${name}.tif`) {
      parts[i] = parts[i].replace(name, '<raster>');
      break;
    }
  return parts.join('/');
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

