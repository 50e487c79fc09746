/**
 * `cng preview`: a local map of a run's products — each layer's PMTiles (vector tiles read with
 * HTTP range requests by the pmtiles JS reader) and its H3 hex Parquet (cells in view, queried with
 * DuckDB per map move) — served by a small node:http server. The page (cli/preview/) uses
 * MapLibre GL JS and the PMTiles protocol straight from node_modules: no CDN, no basemap, no
 * external request of any kind.
 *
 * Routes:
 *   /                         the page (cli/preview/index.html, app.js, preview.css)
 *   /vendor/…                 maplibre-gl.js/.css and pmtiles.js from node_modules
 *   /tiles/<layer>.pmtiles    the archive, with Range support (206, Accept-Ranges, Content-Range)
 *   /api/layers               the layers: PMTiles URL, vector layer id, bounds, zooms, hex info
 *   /api/hex?layer=&bbox=w,s,e,n&zoom=z   GeoJSON of the hex cells in view (see {@link queryHex})
 */
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { DuckDBConnection } from '@duckdb/node-api';
import { cellToBoundary, getHexagonAreaAvg, getHexagonEdgeLengthAvg, POLYGON_TO_CELLS_FLAGS, polygonToCellsExperimental } from 'h3-js';
import { parseManifests, readDist } from '../../constructs/index.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { str, type Command } from '../../worker/core/command.ts';
import { parentMasks } from '../../worker/geo/h3/hierarchy.ts';
import { datasetStages } from '../local/runner.ts';

const ASSETS = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Most hex cells one /api/hex answer carries (the response says `capped` when there were more). */
export const HEX_CELL_LIMIT = 20_000;
/** Aim for hexagons about this many screen pixels across an edge. */
const HEX_EDGE_PX = 8;
/** Web Mercator's latitude limit. */
const MAX_LAT = 85.0511287798066;

// ---------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------

/** Where one layer's products are on disk. */
export interface LayerFiles {
  /** Layer id in URLs: the product's base name (the slug in `cng local` output). */
  readonly name: string;
  readonly pmtiles?: string;
  /** The hive-partitioned hex directory (`…/<name>/hex`). */
  readonly hexDir?: string;
  readonly manifest?: string;
}

/** What the page learns about a layer (`/api/layers`). */
export interface LayerInfo {
  name: string;
  /** URL path of the archive, or null when the layer has no PMTiles. */
  pmtiles: string | null;
  /** The archive's vector layer id (the `source-layer`). */
  vectorLayer: string | null;
  /** Attribute names of the vector layer. */
  fields: string[];
  /** [west, south, east, north] from the PMTiles header (else the hex cells). */
  bounds: [number, number, number, number] | null;
  minzoom: number | null;
  maxzoom: number | null;
  hex: HexInfo | null;
}

export interface HexInfo {
  resolution: number;
  parents: number[];
  /** Cells and features from manifest.json (null without one). */
  cells: number | null;
  features: number | null;
  partitions: number;
  /** The feature id column and the attribute reported per finest cell. */
  idColumn: string | null;
  attribute: string | null;
  /** A raster's hex (manifest kind 'raster'): its value kind, value columns and their range. */
  raster: { valueKind: 'continuous' | 'count' | 'categorical'; columns: string[]; range: [number, number] | null; classes: number[] } | null;
}

/** DIR mode: `DIR/<name>.pmtiles`, `DIR/<name>/hex/`, `DIR/<name>/manifest.json`. */
export function layersFromDir(dir: string): LayerFiles[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CommandError(`'${dir}' is not a directory`);
  const names = new Set<string>();
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.pmtiles')) names.add(e.name.slice(0, -'.pmtiles'.length));
    if (e.isDirectory() && isDir(join(dir, e.name, 'hex'))) names.add(e.name);
  }
  return [...names].sort().map((name) => ({
    name,
    pmtiles: fileOrUndefined(join(dir, `${name}.pmtiles`)),
    hexDir: isDir(join(dir, name, 'hex')) ? join(dir, name, 'hex') : undefined,
    manifest: fileOrUndefined(join(dir, name, 'manifest.json')),
  }));
}

/**
 * Dataset mode: the outputs the dataset's Jobs (dist/) name — each layer's pmtiles `--out` and
 * repartition `--out`/`--manifest` — with `s3://bucket/key` read from `<dataDir>/store/bucket/key`.
 */
export function layersFromDataset(dataset: string, dataDir: string, distDir = 'dist'): { layers: LayerFiles[]; expected: string[] } {
  if (!isDir(distDir)) throw new CommandError(`no '${distDir}' directory here: run cng preview from the repository root (or run cng synth)`);
  const stages = datasetStages(parseManifests(readDist(distDir)), dataset);
  const local = (url: string) => {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
    return m ? join(dataDir, 'store', m[1], m[2]) : resolve(url);
  };
  const arg = (cmd: string[], flag: string) => {
    const i = cmd.indexOf(flag);
    return i >= 0 ? cmd[i + 1] : undefined;
  };
  const byLayer = new Map<string, { name?: string; pmtiles?: string; hexDir?: string; manifest?: string }>();
  for (const s of stages) {
    if (!s.layer || (s.kind !== 'pmtiles' && s.kind !== 'repartition' && s.kind !== 'raster-manifest')) continue;
    const cmd: string[] = s.jobs[0]?.spec?.template?.spec?.containers?.[0]?.command ?? [];
    const entry = byLayer.get(s.layer) ?? byLayer.set(s.layer, {}).get(s.layer)!;
    if (s.kind === 'pmtiles') {
      const out = arg(cmd, '--out');
      if (out) entry.pmtiles = local(out);
      entry.name = arg(cmd, '--layer-name') ?? (out ? basename(out, '.pmtiles') : undefined);
    } else {
      const out = arg(cmd, '--out');
      const manifest = arg(cmd, '--manifest');
      if (out) entry.hexDir = local(out);
      if (manifest) entry.manifest = local(manifest);
      // <name>/hex (vector; raster layout 'named') or hex/<name> (raster layout 'formats')
      const parts = (out ?? '').replace(/\/+$/, '').split('/');
      entry.name ??= out ? (parts.at(-1) === 'hex' ? parts.at(-2) : parts.at(-1)) : undefined;
    }
  }
  const expected: string[] = [];
  const layers: LayerFiles[] = [];
  for (const [key, e] of byLayer) {
    expected.push(...[e.pmtiles, e.hexDir].filter((p): p is string => Boolean(p)));
    const files: LayerFiles = {
      name: e.name ?? key,
      pmtiles: e.pmtiles && fileOrUndefined(e.pmtiles),
      hexDir: e.hexDir && isDir(e.hexDir) ? e.hexDir : undefined,
      manifest: e.manifest && fileOrUndefined(e.manifest),
    };
    if (files.pmtiles || files.hexDir) layers.push(files);
  }
  return { layers, expected };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function fileOrUndefined(p: string): string | undefined {
  try {
    return statSync(p).isFile() ? p : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// PMTiles header and metadata (read here so the server needs no PMTiles library)
// ---------------------------------------------------------------------------------------------

export interface PmtilesInfo {
  bounds: [number, number, number, number];
  minzoom: number;
  maxzoom: number;
  center: [number, number, number];
  vectorLayers: { id: string; fields: string[] }[];
}

/** The v3 header's zooms, bounds and centre, and the vector layers from the JSON metadata. */
export async function readPmtilesInfo(path: string): Promise<PmtilesInfo> {
  const fh = await open(path, 'r');
  try {
    const h = Buffer.alloc(127);
    await fh.read(h, 0, 127, 0);
    if (h.toString('latin1', 0, 7) !== 'PMTiles' || h[7] !== 3) throw new CommandError(`'${path}' is not a PMTiles v3 archive`);
    const metaOffset = Number(h.readBigUInt64LE(24));
    const metaLength = Number(h.readBigUInt64LE(32));
    const e7 = (o: number) => h.readInt32LE(o) / 1e7;
    let vectorLayers: PmtilesInfo['vectorLayers'] = [];
    if (metaLength > 0) {
      const raw = Buffer.alloc(metaLength);
      await fh.read(raw, 0, metaLength, metaOffset);
      const compression = h[97]; // 1 none, 2 gzip
      const text = (compression === 2 ? gunzipSync(raw) : raw).toString('utf8');
      try {
        const meta = JSON.parse(text);
        vectorLayers = (meta.vector_layers ?? []).map((l: any) => ({ id: String(l.id), fields: Object.keys(l.fields ?? {}) }));
      } catch {
        vectorLayers = [];
      }
    }
    return {
      minzoom: h[100],
      maxzoom: h[101],
      bounds: [e7(102), e7(106), e7(110), e7(114)],
      center: [e7(119), e7(123), h[118]],
      vectorLayers,
    };
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// H3 helpers: cell ids as BigInt, parents and child ranges by bit arithmetic (usable in SQL)
// ---------------------------------------------------------------------------------------------

const RES_MASK = 0xfn << 52n;
const U64 = (1n << 64n) - 1n;
/** The digit bits below resolution `r` (digits r+1..15), all ones = "unused". */
const lowMask = (r: number) => (1n << BigInt(3 * (15 - r))) - 1n;

/** The [lo, hi] range of the resolution-`res` descendants of `cell` (contiguous in sorted order). */
export function childRange(cell: bigint, cellRes: number, res: number): [bigint, bigint] {
  const base = (cell & ~(RES_MASK | lowMask(cellRes)) & U64) | (BigInt(res) << 52n);
  return [base | lowMask(res), base | lowMask(cellRes)];
}

/** The H3 resolution whose hexagons are about {@link HEX_EDGE_PX} pixels across at this zoom. */
export function resolutionForZoom(zoom: number, lat: number, maxRes: number): number {
  // MapLibre zoom z: 512 px tiles, 2^z tiles around the equator.
  const metresPerPx = (40_075_016.686 * Math.cos((Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180)) / (512 * 2 ** zoom);
  const target = (HEX_EDGE_PX * metresPerPx) / 1000;
  let r = 0;
  while (r < maxRes && getHexagonEdgeLengthAvg(r + 1, 'km') >= target) r++;
  return r;
}

/** Most covering cells wanted for the IN filter. */
const COVER_TARGET = 3000;

/** The finest resolution below `display` whose cells cover the view in at most ~{@link COVER_TARGET} cells. */
export function filterResolution(boxes: [number, number, number, number][], display: number): number {
  let km2 = 0;
  for (const [w, s, e, n] of boxes) km2 += (e - w) * (n - s) * 111.32 ** 2 * Math.cos((((s + n) / 2) * Math.PI) / 180);
  let r = Math.max(0, display - 1);
  while (r > 0 && km2 / getHexagonAreaAvg(r, 'km2') > COVER_TARGET) r--;
  return r;
}

/** The view as boxes of at most 90° of longitude inside [-180, 180] (H3 misreads longer edges). */
export function viewBoxes(w: number, s: number, e: number, n: number): [number, number, number, number][] {
  s = Math.max(-MAX_LAT, Math.min(MAX_LAT, s));
  n = Math.max(-MAX_LAT, Math.min(MAX_LAT, n));
  let spans: [number, number][];
  if (e - w >= 360) spans = [[-180, 180]];
  else {
    const w0 = ((((w + 180) % 360) + 360) % 360) - 180;
    const e0 = w0 + (e - w);
    spans = e0 > 180 ? [[w0, 180], [-180, e0 - 360]] : [[w0, e0]];
  }
  const out: [number, number, number, number][] = [];
  for (const [a, b] of spans) {
    const parts = Math.max(1, Math.ceil((b - a) / 90));
    for (let i = 0; i < parts; i++) out.push([a + ((b - a) * i) / parts, s, a + ((b - a) * (i + 1)) / parts, n]);
  }
  return out;
}

/** The resolution-`res` cells touching the view. */
export function coveringCells(boxes: [number, number, number, number][], res: number): string[] {
  const cells = new Set<string>();
  for (const [w, s, e, n] of boxes) {
    if (!(e > w) || !(n > s)) continue;
    const ring = [[w, s], [e, s], [e, n], [w, n], [w, s]];
    for (const c of polygonToCellsExperimental([ring], res, POLYGON_TO_CELLS_FLAGS.containmentOverlapping, true)) cells.add(c);
  }
  return [...cells];
}

/** A cell's GeoJSON ring; a cell crossing ±180 is shifted to the side of `centerLon` (no wrap-around band). */
export function cellRing(cell: string, centerLon: number): number[][] {
  const ring = cellToBoundary(cell, true);
  const lons = ring.map((p) => p[0]);
  if (Math.max(...lons) - Math.min(...lons) > 180) {
    for (const p of ring) {
      if (centerLon < 0 && p[0] > 0) p[0] -= 360;
      if (centerLon >= 0 && p[0] < 0) p[0] += 360;
    }
  }
  return ring;
}

// ---------------------------------------------------------------------------------------------
// Hex queries
// ---------------------------------------------------------------------------------------------

interface HexLayer {
  files: LayerFiles;
  info: HexInfo;
  /** Partition files by resolution-0 cell (decimal). */
  partitions: Map<bigint, string>;
  /** The cell columns: the resolution and the parents (h0 comes from the directory). */
  columns: number[];
}

export interface HexAnswer {
  type: 'FeatureCollection';
  features: { type: 'Feature'; geometry: { type: 'Polygon'; coordinates: number[][][] }; properties: Record<string, string | number | null> }[];
  /** Resolution of the cells returned, and the layer's own resolution. */
  resolution: number;
  layerResolution: number;
  /** True when more than `limit` cells were in view (only `limit` are returned). */
  capped: boolean;
  limit: number;
  /** Attribute name reported per finest cell (`attribute` property), if any. */
  attribute: string | null;
}

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;
const sqlStr = (s: string) => `'${s.replaceAll("'", "''")}'`;

async function describeHex(db: DuckDBConnection, files: LayerFiles): Promise<HexLayer> {
  const partitions = new Map<bigint, string>();
  for (const e of readdirSync(files.hexDir!, { withFileTypes: true })) {
    const m = /^h0=(\d+)$/.exec(e.name);
    if (!e.isDirectory() || !m) continue;
    const parquet = readdirSync(join(files.hexDir!, e.name)).filter((f) => f.endsWith('.parquet')).sort();
    if (parquet.length) partitions.set(BigInt(m[1]), join(files.hexDir!, e.name, parquet[0]));
  }
  const manifest = files.manifest ? JSON.parse(readFileSync(files.manifest, 'utf8')) : undefined;
  let columns: { name: string; type: string }[] = [];
  const first = partitions.values().next().value;
  if (first) {
    const r = await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlStr(first)})`);
    columns = r.getRowObjectsJson().map((c: any) => ({ name: String(c.column_name), type: String(c.column_type) }));
  }
  const cellCols = columns.map((c) => /^h(\d+)$/.exec(c.name)).filter((m): m is RegExpExecArray => Boolean(m)).map((m) => Number(m[1])).filter((r) => r > 0);
  const resolution = manifest?.resolution ?? (cellCols.length ? Math.max(...cellCols) : 0);
  const parents: number[] = manifest?.parents ?? cellCols.filter((r) => r !== resolution).sort((a, b) => b - a);
  const attrs = columns.filter((c) => !/^h\d+$/.test(c.name));
  const raster: HexInfo['raster'] =
    manifest?.kind === 'raster'
      ? {
          valueKind: manifest.valueKind,
          columns: manifest.valueKind === 'categorical' ? ['class'] : Object.keys(manifest.valueRange ?? {}),
          range: manifest.valueKind === 'categorical' ? null : ((Object.values(manifest.valueRange ?? {})[0] as [number, number] | undefined) ?? null),
          classes: Object.keys(manifest.classes ?? {}).map(Number).sort((a, b) => a - b),
        }
      : null;
  const idColumn = raster ? null : (attrs.find((c) => c.name === '_cng_fid')?.name ?? attrs[0]?.name ?? null);
  const strings = attrs.filter((c) => c.type === 'VARCHAR' && c.name !== idColumn);
  const attribute = raster ? null : ((strings.find((c) => /(^|_)(name|nm|title)($|_)/i.test(c.name)) ?? strings[0])?.name ?? null);
  return {
    files,
    partitions,
    columns: [resolution, ...parents].filter((r) => cellCols.includes(r)),
    info: {
      resolution,
      parents,
      cells: manifest?.cells ?? null,
      features: manifest?.features ?? null,
      partitions: partitions.size,
      idColumn,
      attribute,
      raster,
    },
  };
}

/** SQL for the resolution-`r` parent of stored column h<c> (c ≥ r; h0 is the partition column). */
function cellExpr(c: number, r: number): string {
  if (c === r) return `h${c}`;
  const { keep, set } = parentMasks(r);
  return `((h${c} & ${keep}::UBIGINT) | ${set}::UBIGINT)`;
}

/**
 * The hex cells of a layer in a view, as GeoJSON: at the layer's resolution when zoomed in
 * (properties: cell, count = features in the cell, ids, the layer's name-like attribute), else at
 * a coarser resolution aggregated from the nearest stored column (count = (feature, finest cell)
 * rows, i.e. the finest cells where features do not overlap; features ≈ distinct ids (HyperLogLog);
 * fraction = count / children at the layer's resolution).
 * Filtering: the view's covering cells one level coarser (h3 polygonToCells, overlap) → the h0
 * partitions to read, an IN list on the matching cell column, and a range on the sorted finest
 * column so DuckDB skips row groups.
 */
export async function queryHex(
  db: DuckDBConnection,
  layer: HexLayer,
  bbox: [number, number, number, number],
  zoom: number,
  limit = HEX_CELL_LIMIT,
): Promise<HexAnswer> {
  const [w, s, e, n] = bbox;
  const { resolution: R, attribute, idColumn } = layer.info;
  const display = resolutionForZoom(zoom, (s + n) / 2, R);
  const answer: HexAnswer = { type: 'FeatureCollection', features: [], resolution: display, layerResolution: R, capped: false, limit, attribute };
  const boxes = viewBoxes(w, s, e, n);
  const stored = layer.columns; // e.g. [10, 9, 8]
  const finer = (r: number) => Math.min(...stored.filter((c) => c >= r));
  const filterRes = filterResolution(boxes, display);
  const cover = coveringCells(boxes, filterRes).map((c) => BigInt(`0x${c}`));
  const files = [...new Set(cover.map((c) => layer.partitions.get(parentOf(c, 0))).filter((f): f is string => Boolean(f)))];
  if (!files.length || !stored.includes(R)) return answer;
  const where: string[] = [];
  if (filterRes > 0) {
    where.push(`${cellExpr(finer(filterRes), filterRes)} IN (${cover.join(',')})`);
    let lo = U64;
    let hi = 0n;
    for (const c of cover) {
      const [a, b] = childRange(c, filterRes, R);
      if (a < lo) lo = a;
      if (b > hi) hi = b;
    }
    where.push(`h${R} BETWEEN ${lo}::UBIGINT AND ${hi}::UBIGINT`);
  }
  const cell = cellExpr(finer(display), display);
  const id = idColumn ? ident(idColumn) : undefined;
  const finest = display === R;
  const raster = layer.info.raster;
  const select = raster
    ? [`${cell} AS cell`, `count(*) AS n`, `avg(coverage) AS coverage`, ...rasterSelect(raster, finest)]
    : finest
    ? [
        `${cell} AS cell`,
        `count(*) AS n`,
        id ? `array_to_string(list_sort(list_distinct(list(${id})))[1:20], ', ') AS ids` : `NULL AS ids`,
        attribute ? `min(${ident(attribute)}) AS attr` : `NULL AS attr`,
      ]
    : // Cheap at any scale: rows are (feature, cell) pairs, so count(*) = cells when features do not overlap.
      [`${cell} AS cell`, `count(*) AS n`, id ? `approx_count_distinct(${id}) AS features` : `NULL AS features`];
  const sql =
    `SELECT ${select.join(', ')} FROM read_parquet([${files.map(sqlStr).join(', ')}], hive_partitioning = true, hive_types = {'h0': UBIGINT})` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ` GROUP BY 1 LIMIT ${limit + 1}`;
  const rows = (await db.runAndReadAll(sql)).getRowObjects();
  if (rows.length > limit) {
    answer.capped = true;
    rows.length = limit;
  }
  const cx = (((((w + e) / 2 + 180) % 360) + 360) % 360) - 180;
  for (const r of rows) {
    const h = (r.cell as bigint).toString(16);
    const properties: Record<string, string | number | null> = { cell: h, resolution: display, count: Number(r.n) };
    if (raster) {
      properties.coverage = Number(r.coverage);
      for (const c of raster.valueKind === 'categorical' ? ['class', 'fraction'] : raster.columns) properties[c] = r[c] === null || r[c] === undefined ? null : Number(r[c]);
    } else if (finest) {
      properties.ids = (r.ids as string | null) ?? null;
      if (attribute && !(attribute in properties)) properties[attribute] = (r.attr as string | null) ?? null;
    } else {
      properties.features = r.features === null ? null : Number(r.features);
      properties.fraction = Number(r.n) / 7 ** (R - display);
    }
    answer.features.push({ type: 'Feature', geometry: { type: 'Polygon', coordinates: [cellRing(h, cx)] }, properties });
  }
  return answer;
}

/**
 * A raster hex's values at the display resolution: the stored cells' values at the layer's
 * resolution; coarser, the coverage-weighted mean (continuous), the sum (count, so totals stay
 * totals) or the most frequent majority class with the share of cells that have it (categorical).
 */
function rasterSelect(raster: NonNullable<HexInfo['raster']>, finest: boolean): string[] {
  if (raster.valueKind === 'categorical')
    return finest ? ['any_value("class") AS "class"', 'any_value("fraction") AS "fraction"'] : ['mode("class") AS "class"', 'NULL AS "fraction"'];
  return raster.columns.map((c) =>
    finest || raster.valueKind === 'count'
      ? `${raster.valueKind === 'count' ? 'sum' : 'any_value'}(${ident(c)}) AS ${ident(c)}`
      : `sum(${ident(c)} * coverage) / nullif(sum(coverage) FILTER (WHERE ${ident(c)} IS NOT NULL), 0) AS ${ident(c)}`,
  );
}

function parentOf(cell: bigint, r: number): bigint {
  const { keep, set } = parentMasks(r);
  return (cell & keep) | set;
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

export interface PreviewOptions {
  /** A `cng local` output directory. */
  dir?: string;
  /** A dataset name: its outputs in the directory store under `dataDir`. */
  dataset?: string;
  /** @default 'data' */
  dataDir?: string;
  /** dist/ with the synthesized manifests (dataset mode). @default 'dist' */
  distDir?: string;
  /** @default 8000; 0 = any free port */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
}

export interface PreviewServer {
  url: string;
  layers: LayerInfo[];
  close(): Promise<void>;
}

/** Static files the server hands out, by URL path: [file, content type]. */
function staticFiles(): Map<string, [string, string]> {
  const pkgDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
  const maplibre = pkgDir('maplibre-gl');
  let pmtiles: string;
  try {
    pmtiles = pkgDir('pmtiles');
  } catch {
    throw new CommandError("the 'pmtiles' package is not installed (npm install): the page needs its browser build");
  }
  return new Map([
    ['/', [join(ASSETS, 'index.html'), 'text/html; charset=utf-8']],
    ['/index.html', [join(ASSETS, 'index.html'), 'text/html; charset=utf-8']],
    ['/app.js', [join(ASSETS, 'app.js'), 'text/javascript; charset=utf-8']],
    ['/preview.css', [join(ASSETS, 'preview.css'), 'text/css; charset=utf-8']],
    ['/vendor/maplibre-gl.js', [join(maplibre, 'dist/maplibre-gl.js'), 'text/javascript; charset=utf-8']],
    ['/vendor/maplibre-gl.js.map', [join(maplibre, 'dist/maplibre-gl.js.map'), 'application/json']],
    ['/vendor/maplibre-gl.css', [join(maplibre, 'dist/maplibre-gl.css'), 'text/css; charset=utf-8']],
    ['/vendor/pmtiles.js', [join(pmtiles, 'dist/pmtiles.js'), 'text/javascript; charset=utf-8']],
    ['/vendor/pmtiles.js.map', [join(pmtiles, 'dist/pmtiles.js.map'), 'application/json']],
  ]);
}

/** Starts the preview server; resolves once it listens. */
export async function startPreviewServer(opts: PreviewOptions): Promise<PreviewServer> {
  if (!opts.dir === !opts.dataset) throw new UsageError('give either a directory or a dataset name');
  let files: LayerFiles[];
  if (opts.dir) {
    files = layersFromDir(resolve(opts.dir));
    if (!files.length)
      throw new CommandError(`no products in '${opts.dir}': expected <layer>.pmtiles files or <layer>/hex/ directories (as cng local writes)`);
  } else {
    const dataDir = resolve(opts.dataDir ?? 'data');
    const found = layersFromDataset(opts.dataset!, dataDir, resolve(opts.distDir ?? 'dist'));
    if (!found.expected.length) throw new CommandError(`dataset '${opts.dataset}' has no spatial layers to preview`);
    if (!found.layers.length)
      throw new CommandError(`dataset '${opts.dataset}' has no outputs yet under ${join(dataDir, 'store')} (e.g. ${found.expected[0]}): run \`cng run ${opts.dataset}\` first`);
    files = found.layers;
  }
  const assets = staticFiles();

  const { openDuckDB } = await import('../../worker/core/limits.ts');
  const db = await openDuckDB({ share: 0.25 });
  // One connection: queries run one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = queue.then(f, f);
    queue = p.catch(() => undefined);
    return p;
  };

  const hexLayers = new Map<string, HexLayer>();
  const layers: LayerInfo[] = [];
  for (const f of files) {
    const pm = f.pmtiles ? await readPmtilesInfo(f.pmtiles) : undefined;
    const hex = f.hexDir ? await serial(() => describeHex(db, f)) : undefined;
    if (hex) hexLayers.set(f.name, hex);
    let bounds = pm?.bounds ?? null;
    if (!bounds && hex?.partitions.size) bounds = await serial(() => hexBounds(db, hex));
    const vl = pm?.vectorLayers.find((l) => l.id === f.name) ?? pm?.vectorLayers[0];
    layers.push({
      name: f.name,
      pmtiles: f.pmtiles ? `/tiles/${encodeURIComponent(f.name)}.pmtiles` : null,
      vectorLayer: vl?.id ?? (f.pmtiles ? f.name : null),
      fields: vl?.fields ?? [],
      bounds,
      minzoom: pm?.minzoom ?? null,
      maxzoom: pm?.maxzoom ?? null,
      hex: hex?.info ?? null,
    });
  }
  const byName = new Map(files.map((f) => [f.name, f]));

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n', { Allow: 'GET, HEAD' });
    const asset = assets.get(url.pathname);
    if (asset) return sendFile(req, res, asset[0], asset[1], false);
    if (url.pathname === '/favicon.ico') return send(res, 204, 'text/plain', '');
    if (url.pathname === '/api/layers') return sendJson(res, 200, { layers });
    const tile = /^\/tiles\/([^/]+)\.pmtiles$/.exec(url.pathname);
    if (tile) {
      const f = byName.get(decodeURIComponent(tile[1]));
      if (!f?.pmtiles) return sendJson(res, 404, { error: `no PMTiles for layer '${decodeURIComponent(tile[1])}'` });
      return sendFile(req, res, f.pmtiles, 'application/vnd.pmtiles', true);
    }
    if (url.pathname === '/api/hex') {
      const name = url.searchParams.get('layer') ?? '';
      const layer = hexLayers.get(name);
      if (!layer) return sendJson(res, 404, { error: `no hex cells for layer '${name}'; layers with hex: ${[...hexLayers.keys()].join(', ') || '(none)'}` });
      const bbox = (url.searchParams.get('bbox') ?? '').split(',').map(Number);
      const zoom = Number(url.searchParams.get('zoom'));
      if (bbox.length !== 4 || bbox.some((v) => !Number.isFinite(v)) || bbox[2] < bbox[0] || bbox[3] < bbox[1])
        return sendJson(res, 400, { error: 'bbox must be w,s,e,n (degrees, w ≤ e, s ≤ n)' });
      if (!Number.isFinite(zoom) || zoom < 0 || zoom > 30) return sendJson(res, 400, { error: 'zoom must be a number 0–30' });
      const limit = Math.min(HEX_CELL_LIMIT, Math.max(1, Number(url.searchParams.get('limit') ?? HEX_CELL_LIMIT) || HEX_CELL_LIMIT));
      const started = Date.now();
      const answer = await serial(() => queryHex(db, layer, bbox as [number, number, number, number], zoom, limit));
      return sendJson(res, 200, { ...answer, ms: Date.now() - started });
    }
    return sendJson(res, 404, { error: `not found: ${url.pathname}` });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message });
      else res.destroy();
    });
  });
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8000;
  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      db.closeSync();
      fail(
        err.code === 'EADDRINUSE'
          ? new CommandError(`port ${port} on ${host} is in use: pass --port P (0 = any free port)`)
          : new CommandError(`cannot listen on ${host}:${port}: ${err.message}`),
      );
    });
    server.listen(port, host, () => ok());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${addr.port}/`,
    layers,
    close() {
      closed ??= new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }).then(() => queue.then(() => db.closeSync()));
      return closed;
    },
  };
}

/** Bounds of a layer without PMTiles: the extent of its cells' resolution-3 parents (≈70 km hexagons). */
async function hexBounds(db: DuckDBConnection, layer: HexLayer): Promise<[number, number, number, number] | null> {
  if (!layer.columns.length) return null;
  const coarsest = Math.min(...layer.columns);
  const files = [...layer.partitions.values()].map(sqlStr).join(', ');
  const rows = (await db.runAndReadAll(`SELECT DISTINCT ${cellExpr(coarsest, Math.min(3, coarsest))} AS c FROM read_parquet([${files}]) LIMIT 100000`)).getRowObjects();
  const pts = rows.flatMap((r) => cellToBoundary((r.c as bigint).toString(16), true));
  if (!pts.length) return null;
  const lons = pts.map((p) => p[0]);
  const lats = pts.map((p) => p[1]);
  return [Math.max(-180, Math.min(...lons)), Math.max(-MAX_LAT, Math.min(...lats)), Math.min(180, Math.max(...lons)), Math.min(MAX_LAT, Math.max(...lats))];
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), 'Cache-Control': 'no-cache', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

/**
 * A file, with single-range requests answered 206 (`bytes=a-b`, `a-`, `-n`), unsatisfiable ones
 * 416; multi-range requests get the whole file (RFC 9110 allows ignoring Range).
 */
function sendFile(req: IncomingMessage, res: ServerResponse, path: string, type: string, ranges: boolean): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return sendJson(res, 404, { error: `missing file ${basename(path)}` });
  }
  const size = st.size;
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers: Record<string, string> = { 'Content-Type': type, 'Cache-Control': 'no-cache', ETag: etag, 'Last-Modified': st.mtime.toUTCString() };
  if (ranges) headers['Accept-Ranges'] = 'bytes';
  const range = ranges ? req.headers.range : undefined;
  const ifRange = req.headers['if-range'];
  let start = 0;
  let end = size - 1;
  let partial = false;
  if (range && (!ifRange || ifRange === etag)) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    if (m && (m[1] !== '' || m[2] !== '')) {
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      }
      if (start >= size || start > end || (m[1] === '' && Number(m[2]) === 0)) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' });
        return void res.end();
      }
      partial = true;
    } else if (!/^bytes=[\d\s,-]+$/.test(range.trim())) {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' });
      return void res.end();
    }
  }
  if (partial) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  headers['Content-Length'] = String(size === 0 ? 0 : end - start + 1);
  res.writeHead(partial ? 206 : 200, headers);
  if (req.method === 'HEAD' || size === 0) return void res.end();
  createReadStream(path, { start, end }).on('error', () => res.destroy()).pipe(res);
}

// ---------------------------------------------------------------------------------------------
// Command
// ---------------------------------------------------------------------------------------------

export const previewCommand: Command = {
  name: 'preview',
  summary: 'a local map of a run\'s PMTiles and hex cells (cng local output or a dataset)',
  help: `Usage: cng preview <DIR|dataset> [--port P] [--host 127.0.0.1] [--data-dir data]

Serves a local web page (MapLibre GL JS and the PMTiles reader from node_modules, no external
requests, no basemap) showing each layer's vector tiles and its H3 hex cells at the current view,
with a layer switcher and attribute popups (click a feature).
  DIR       a \`cng local\` output directory: DIR/<layer>.pmtiles, DIR/<layer>/hex/, manifest.json
  dataset   a dataset in dist/: its outputs in the directory store, <data-dir>/store/<bucket>/<key>
            (as \`cng run <dataset>\` writes them)
An argument that is an existing directory is DIR; anything else is a dataset name.
Hex cells are shown at the layer's resolution when zoomed in, else aggregated to a coarser
resolution (count = cells at the layer's resolution, per feature); at most ${HEX_CELL_LIMIT.toLocaleString('en-US')} cells per view.
Raster hex products (from \`cng local <raster>\` or a raster dataset) are coloured by value (a ramp
over the cells in view) or by class; zoomed out, count cells add up, continuous cells average
(weighted by coverage) and class cells show the most frequent class.
Stop with Ctrl-C.

Options:
  --port P         port to listen on (default 8000; 0 = any free port)
  --host ADDR      address to listen on (default 127.0.0.1)
  --data-dir DIR   local data directory of \`cng run\` (default: data)
  -h, --help       show this help

Exit status: 0 stopped by Ctrl-C/SIGTERM, 1 nothing to show or cannot listen, 2 usage error.

Examples:
  cng local parks.gpkg --out out/parks && cng preview out/parks
  cng run padus-4-1 --sample && cng preview padus-4-1 --port 8080`,
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
  },
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('expected one directory or dataset name');
    const [target] = positionals;
    const port = values.port === undefined ? 8000 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0–65535, got '${values.port}'`);
    const isDirectory = isDir(target);
    if (!isDirectory && /[/\\]/.test(target)) throw new CommandError(`no directory '${target}'`);
    const server = await startPreviewServer({
      ...(isDirectory ? { dir: target } : { dataset: target }),
      dataDir: str(values['data-dir']),
      port,
      host: str(values.host),
    });
    const summary = server.layers.map((l) => `${l.name}${l.pmtiles ? '' : ' (no pmtiles)'}${l.hex ? '' : ' (no hex)'}`).join(', ');
    process.stdout.write(`cng preview: ${server.layers.length} layer${server.layers.length === 1 ? '' : 's'}: ${summary}\n`);
    process.stdout.write(`cng preview: serving ${server.url}  (Ctrl-C to stop)\n`);
    await new Promise<void>((ok) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        ok();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    process.stderr.write('cng preview: stopping\n');
    await server.close();
    return EXIT.ok;
  },
};
