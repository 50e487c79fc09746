/**
 * The hex cells of a layer in a map view, queried with DuckDB from its hive-partitioned hex Parquet
 * (`h0=<cell>/…parquet`): at the layer's resolution when zoomed in, else aggregated to a coarser
 * one in SQL (parents by bit masks on the stored cell columns).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { cellToBoundary, getHexagonAreaAvg, getHexagonEdgeLengthAvg, POLYGON_TO_CELLS_FLAGS, polygonToCellsExperimental } from 'h3-js';
import { sqlIdent, sqlString } from '../../worker/core/text.ts';
import { childRange, parentMasks, parentOf, U64 } from '../../worker/geo/h3/hierarchy.ts';
import type { LayerFiles } from './products.ts';

/** Most hex cells one /api/hex answer carries (the response says `capped` when there were more). */
export const HEX_CELL_LIMIT = 20_000;

/** What the page learns about a layer's hex cells (part of `/api/layers`). */
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

/** A layer's hex product, as the queries need it. */
export interface HexLayer {
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

/** A hex directory's partitions, stored cell columns and manifest facts, and the columns the page shows. */
export async function describeHex(db: DuckDBConnection, files: LayerFiles): Promise<HexLayer> {
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
    const r = await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(first)})`);
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
  const id = idColumn ? sqlIdent(idColumn) : undefined;
  const finest = display === R;
  const raster = layer.info.raster;
  const select = raster
    ? [`${cell} AS cell`, `count(*) AS n`, `avg(coverage) AS coverage`, ...rasterSelect(raster, finest)]
    : finest
    ? [
        `${cell} AS cell`,
        `count(*) AS n`,
        id ? `array_to_string(list_sort(list_distinct(list(${id})))[1:20], ', ') AS ids` : `NULL AS ids`,
        attribute ? `min(${sqlIdent(attribute)}) AS attr` : `NULL AS attr`,
      ]
    : // Cheap at any scale: rows are (feature, cell) pairs, so count(*) = cells when features do not overlap.
      [`${cell} AS cell`, `count(*) AS n`, id ? `approx_count_distinct(${id}) AS features` : `NULL AS features`];
  const sql =
    `SELECT ${select.join(', ')} FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = true, hive_types = {'h0': UBIGINT})` +
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
      ? `${raster.valueKind === 'count' ? 'sum' : 'any_value'}(${sqlIdent(c)}) AS ${sqlIdent(c)}`
      : `sum(${sqlIdent(c)} * coverage) / nullif(sum(coverage) FILTER (WHERE ${sqlIdent(c)} IS NOT NULL), 0) AS ${sqlIdent(c)}`,
  );
}

/** Bounds of a layer without PMTiles: the extent of its cells' resolution-3 parents (≈70 km hexagons). */
export async function hexBounds(db: DuckDBConnection, layer: HexLayer): Promise<[number, number, number, number] | null> {
  if (!layer.columns.length) return null;
  const coarsest = Math.min(...layer.columns);
  const files = [...layer.partitions.values()].map(sqlString).join(', ');
  const rows = (await db.runAndReadAll(`SELECT DISTINCT ${cellExpr(coarsest, Math.min(3, coarsest))} AS c FROM read_parquet([${files}]) LIMIT 100000`)).getRowObjects();
  const pts = rows.flatMap((r) => cellToBoundary((r.c as bigint).toString(16), true));
  if (!pts.length) return null;
  const lons = pts.map((p) => p[0]);
  const lats = pts.map((p) => p[1]);
  return [Math.max(-180, Math.min(...lons)), Math.max(-MAX_LAT, Math.min(...lats)), Math.min(180, Math.max(...lons)), Math.min(MAX_LAT, Math.max(...lats))];
}

/**
 * From a map view to H3 cells: the display resolution for a zoom, the view as boxes H3 can fill,
 * the cells covering it, and a cell's outline as GeoJSON.
 */

/** Aim for hexagons about this many screen pixels across an edge. */
const HEX_EDGE_PX = 8;
/** Web Mercator's latitude limit. */
export const MAX_LAT = 85.0511287798066;

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

/**
 * H3 cell ids as BigInt: parents and child ranges by bit arithmetic, so the same constants serve
 * in DuckDB SQL (`(h & keep) | set`). The worker's H3 engine has the same parent bits
 * (worker/geo/h3/engine.ts `parentMask`).
 */
