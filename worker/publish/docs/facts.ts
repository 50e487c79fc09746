import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PMTiles, type Source } from 'pmtiles';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { DocsHexProduct, DocsInput, DocsLayer, DocsRaster, DocsTable, DocsTileset } from '../../../constructs/prose.ts';
import { CommandError } from '../../core/errors.ts';
import { type ObjectStore, parseJson, parseS3Url } from '../../io/storage.ts';
import type { LayerManifest } from '../../io/layer-work.ts';
import { openDuckDB } from '../../core/limits.ts';
import { sqlIdent, sqlString } from '../../core/text.ts';

/**
 * The FACTS of a dataset's documentation, read off the published files: Parquet schemas, row
 * counts and GeoParquet `geo` metadata (through {@link ParquetReader}: footers only), the PMTiles
 * header and metadata, each layer's and raster's manifest.json, object sizes. No GDAL. A product
 * that is not there is listed as missing, not fatal.
 */

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
  /** Hexed value = raw aggregate × scale + offset (present when the raster declares them). */
  readonly scale?: number;
  readonly offset?: number;
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

/** A tiered PMTiles archive's facts: its header and metadata, when it was found. */
export interface TilesetFacts {
  readonly tileset: DocsTileset;
  readonly pmtiles?: PmtilesFact;
}

/** What a points or reencode manifest.json says (the fields the README and STAC show). */
export interface HexProductManifest {
  readonly resolution: number;
  readonly parents: number[];
  readonly cells: number;
  readonly partitions: number;
  readonly bytes: number;
  /** points: rows read, written and with bad coordinates (by kind); source files. */
  readonly rows_read?: number;
  readonly rows_written?: number;
  readonly bad_coordinates?: Record<string, number>;
  readonly source_files?: number;
  /** reencode: rows in and out, invalid cells; input files. */
  readonly rows_in?: number;
  readonly rows_out?: number;
  readonly invalid_cells?: { rows: number };
  readonly input_files?: number;
}

/** A points or re-encoded hex product's facts: its manifest, when it was found. */
export interface HexProductFacts {
  readonly product: DocsHexProduct;
  readonly manifest?: HexProductManifest;
}

export interface Facts {
  readonly layers: LayerFacts[];
  readonly tables: TableFacts[];
  readonly rasters: RasterFacts[];
  /** Tiered PMTiles archives (absent or empty when the dataset has none). */
  readonly tilesets?: TilesetFacts[];
  /** Points and re-encoded hex products (absent or empty when the dataset has none). */
  readonly hexProducts?: HexProductFacts[];
  /** Products that were not found (URLs). */
  readonly missing: string[];
  /** Rasters whose cog stage failed (its `cog-failed.json`, next to the info JSON): key and error line. */
  readonly failed?: { key: string; error: string }[];
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
      const pmtiles = layer.pmtiles === undefined ? undefined : await readPmtiles(store, layer.pmtiles).catch(missingOr(missing, layer.pmtiles));
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
    const failed: { key: string; error: string }[] = [];
    for (const raster of input.rasters ?? []) rasters.push(await readRaster(store, reader, raster, missing, failed));
    const tilesets: TilesetFacts[] = [];
    for (const tileset of input.tilesets ?? []) tilesets.push({ tileset, pmtiles: await readPmtiles(store, tileset.pmtiles).catch(missingOr(missing, tileset.pmtiles)) });
    const hexProducts: HexProductFacts[] = [];
    for (const product of input.hexProducts ?? []) {
      const m = parseS3Url(product.manifest);
      const read = store.readText(m.bucket, m.key).then((t) => parseJson<HexProductManifest>(t, product.manifest));
      hexProducts.push({ product, manifest: await read.catch(missingOr(missing, product.manifest)) });
    }
    return { facts: { layers, tables, rasters, tilesets, hexProducts, missing, ...(failed.length ? { failed } : {}) }, samples };
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
  const manifest = parseJson<LayerManifest>(await store.readText(m.bucket, m.key), layer.manifest);
  const columns = await hexColumns(store, reader, layer.hex);
  if (!columns) throw new CommandError(`'${layer.hex}': no such object (no h0=… partition files)`);
  return { url: layer.hex, manifest, columns };
}

/** A raster's facts: COG size, manifest, one partition's columns and (when present) the info's bounds. */
async function readRaster(store: ObjectStore, reader: ParquetReader, raster: DocsRaster, missing: string[], failed: { key: string; error: string }[]): Promise<RasterFacts> {
  if (raster.skip) return { raster }; // not published: nothing to read
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
  if (!manifest) {
    // The cog stage leaves its one-line error next to the info JSON when the raster cannot be read.
    const f = parseS3Url(raster.info.replace(/[^/]*$/, 'cog-failed.json'));
    const record = await store.readText(f.bucket, f.key).then((t) => JSON.parse(t) as { error?: string }).catch(() => undefined);
    if (record?.error) failed.push({ key: raster.key, error: record.error });
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

/**
 * Parquet metadata through DuckDB, for the docs: schema, row count and GeoParquet `geo` metadata
 * from the footer, and sample values for the writing brief. Remote Parquet files are never
 * downloaded whole: their footer (and, for the samples, the chunks of the sampled columns) is
 * fetched into a sparse local file of the object's size that DuckDB reads.
 */

/** Parquet metadata through DuckDB, over local files or sparse local copies of remote ones. */
export class ParquetReader {
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
}

/** Byte ranges sorted and merged where they overlap or lie less than `gap` bytes apart. */
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

/** The addresses readers use: a product's public HTTPS URL and the source.coop mirror's base. */

/** `<publicEndpoint>/<bucket>/<key>` of an `s3://` URL (a trailing `/` kept for directories). */
export function publicUrl(input: Pick<DocsInput, 'publicEndpoint'>, url: string, dir = false): string {
  const { bucket, key } = parseS3Url(url);
  return `${input.publicEndpoint.replace(/\/$/, '')}/${bucket}/${key.replace(/\/$/, '')}${dir ? '/' : ''}`;
}

/** The mirror's URL of the dataset's prefix (the input must have a mirror). */
export function mirrorBase(input: DocsInput): string {
  const m = input.mirror!;
  return `${m.endpoint.replace(/\/$/, '')}/${m.bucket}/${m.prefix ? `${m.prefix.replace(/\/$/, '')}/` : ''}`;
}
