/**
 * The FACTS of a dataset's documentation, read off the published files: Parquet schemas, row
 * counts and GeoParquet `geo` metadata (through {@link ParquetReader}: footers only), the PMTiles
 * header and metadata, each layer's and raster's manifest.json, object sizes. No GDAL. A product
 * that is not there is listed as missing, not fatal.
 */
import { PMTiles, type Source } from 'pmtiles';
import type { DocsInput, DocsLayer, DocsRaster, DocsTable } from '../../../constructs/prose.ts';
import { CommandError } from '../../core/errors.ts';
import { parseS3Url, type ObjectStore } from '../../io/storage.ts';
import type { LayerManifest } from '../../vector/repartition.ts';
import { ParquetReader } from './parquet-reader.ts';

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

/**
 * The columns of a hex directory's first `h0=<cell>/…parquet` partition file plus the hive key
 * `h0` (the files do not hold it), or undefined when the directory has no partition file.
 */
async function hexColumns(store: ObjectStore, reader: ParquetReader, hexUrl: string): Promise<ColumnFact[] | undefined> {
  const h = parseS3Url(hexUrl);
  const first = (await store.list(h.bucket, `${h.key.replace(/\/$/, '')}/`)).find((o) => /\/h0=\d+\/[^/]+\.parquet$/.test(o.key));
  if (!first) return undefined;
  const columns = (await reader.describe(`s3://${h.bucket}/${first.key}`)).columns;
  return [...columns.filter((c) => c.name !== 'h0'), { name: 'h0', type: 'UBIGINT' }];
}

async function readHex(store: ObjectStore, reader: ParquetReader, layer: DocsLayer): Promise<HexFact> {
  const m = parseS3Url(layer.manifest);
  const manifest = JSON.parse(await store.readText(m.bucket, m.key)) as LayerManifest;
  const columns = await hexColumns(store, reader, layer.hex);
  if (!columns) throw new CommandError(`'${layer.hex}': no such object (no h0=… partition files)`);
  return { url: layer.hex, manifest, columns };
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
  let columns: ColumnFact[] | undefined;
  if (manifest) {
    columns = await hexColumns(store, reader, raster.hex);
    if (!columns) {
      if (manifest.cells > 0) missing.push(`${raster.hex}/h0=…`);
      else columns = [];
    }
  }
  const i = parseS3Url(raster.info);
  const info = await store.readText(i.bucket, i.key).then((t) => JSON.parse(t) as { bounds4326?: number[] }).catch(() => undefined);
  const b = info?.bounds4326;
  const bounds = Array.isArray(b) && b.length === 4 && b.every((x) => Number.isFinite(x)) ? (b as [number, number, number, number]) : undefined;
  return { raster, ...(head ? { cog: { url: raster.cog, size: head.size } } : {}), manifest, hexColumns: columns, bounds };
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
