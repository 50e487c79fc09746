/**
 * What the tiles stage reads from a layer's GeoParquet: its attribute columns (typed for MVT), the
 * bounding boxes of every row (to plan and prune work units), and the features of one unit, kept
 * compact — geometry as flat Web Mercator rings (`Float64Array`, x/y in the unit square, y down),
 * attributes as one array per column — and optionally pre-simplified (Douglas–Peucker) while they
 * stream in, so a unit that only renders low zooms never holds full-resolution vertices.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Feature, Geometry } from 'geojson';
import { CommandError } from '../core/errors.ts';
import { parseWkb } from '../geo/wkb.ts';
import { sqlString } from '../core/text.ts';

/** Web Mercator's latitude limit (the tile pyramid covers ±85.0511°). */
export const MERCATOR_MAX_LAT = 85.0511287798066;

/** One attribute column and how its values become MVT values (numbers, strings, booleans). */
export interface Column {
  name: string;
  /** SQL expression selecting the value in a type MVT takes. */
  select: string;
  /** The vector_layers field type. */
  field: 'Number' | 'String' | 'Boolean';
  /** BIGINT-like: DuckDB hands out bigint. */
  bigint?: boolean;
}

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** Maps a DuckDB column type to an MVT value type; null for columns without one (blobs, geometries). */
function columnFor(name: string, type: string): Column | null {
  const q = ident(name);
  const base = type.replace(/\(.*$/, '').trim().toUpperCase();
  switch (base) {
    case 'BOOLEAN':
      return { name, select: q, field: 'Boolean' };
    case 'TINYINT': case 'SMALLINT': case 'INTEGER': case 'UTINYINT': case 'USMALLINT': case 'FLOAT': case 'DOUBLE': case 'DECIMAL':
      return { name, select: `CAST(${q} AS DOUBLE)`, field: 'Number' };
    case 'BIGINT': case 'UINTEGER':
      return { name, select: `CAST(${q} AS BIGINT)`, field: 'Number', bigint: true };
    case 'BLOB': case 'GEOMETRY':
      return null;
    default:
      // VARCHAR, dates and times (ISO text), UBIGINT/HUGEINT (exact as text), UUID, ENUM,
      // LIST/STRUCT/MAP (DuckDB's text form).
      return { name, select: `CAST(${q} AS VARCHAR)`, field: 'String' };
  }
}

/** The layer as a table: its columns, geometry and bbox expressions, and row count. */
export interface LayerTable {
  columns: Column[];
  /** SQL: the geometry as WKB. */
  wkb: string;
  /** SQL: the geometry column, for IS NOT NULL. */
  geometry: string;
  /** SQL: xmin, ymin, xmax, ymax of a row's geometry (the bbox covering column when there is one). */
  bbox: [string, string, string, string];
  rows: number;
  from: string;
}

/** The GeoParquet `geo` file metadata: primary geometry column, its bbox covering, columns to leave out. */
async function geoMetadata(db: DuckDBConnection, path: string): Promise<{ primary: string; covering?: string; skip: Set<string> }> {
  const r = await db.runAndReadAll(`SELECT decode(value) AS v FROM parquet_kv_metadata(${sqlString(path)}) WHERE decode(key) = 'geo'`);
  const skip = new Set<string>();
  const raw = r.getRowObjectsJS()[0]?.v;
  if (typeof raw !== 'string') return { primary: 'geometry', skip };
  try {
    const geo = JSON.parse(raw) as { primary_column?: string; columns?: Record<string, { covering?: { bbox?: Record<string, string[]> } }> };
    const primary = geo.primary_column ?? 'geometry';
    let covering: string | undefined;
    for (const [col, meta] of Object.entries(geo.columns ?? {})) {
      skip.add(col);
      for (const p of Object.values(meta.covering?.bbox ?? {})) if (p[0]) (skip.add(p[0]), col === primary && (covering = p[0]));
    }
    return { primary, covering, skip };
  } catch {
    return { primary: 'geometry', skip };
  }
}

/** Describes the GeoParquet at `parquet` (a local file). */
export async function describeLayer(db: DuckDBConnection, parquet: string, inputName: string): Promise<LayerTable> {
  const from = `read_parquet(${sqlString(parquet)})`;
  let described;
  try {
    described = (await db.runAndReadAll(`DESCRIBE SELECT * FROM ${from}`)).getRowObjectsJS();
  } catch (e) {
    throw new CommandError(`'${inputName}': not a readable Parquet file: ${(e as Error).message.split('\n')[0]}`);
  }
  const { primary, covering, skip } = await geoMetadata(db, parquet);
  const geomCol = described.find((c) => c.column_name === primary);
  if (!geomCol) throw new CommandError(`'${inputName}': no geometry column '${primary}' (columns: ${described.map((c) => c.column_name).join(', ')})`);
  const bboxCol = covering ?? (described.some((c) => c.column_name === 'bbox' && String(c.column_type).startsWith('STRUCT')) ? 'bbox' : undefined);
  skip.add('bbox'); // the GeoParquet 1.1 covering column, also when `geo` does not declare it
  skip.add(primary);
  const columns = described
    .filter((c) => !skip.has(String(c.column_name)))
    .map((c) => columnFor(String(c.column_name), String(c.column_type)))
    .filter((c): c is Column => c !== null);
  const g = ident(primary);
  const isGeometry = String(geomCol.column_type).toUpperCase().startsWith('GEOMETRY');
  const bbox = (bboxCol
    ? ['xmin', 'ymin', 'xmax', 'ymax'].map((k) => `${ident(bboxCol)}.${k}`)
    : ['ST_XMin', 'ST_YMin', 'ST_XMax', 'ST_YMax'].map((f) => `${f}(${isGeometry ? g : `ST_GeomFromWKB(${g})`})`)) as LayerTable['bbox'];
  const rows = Number((await db.runAndReadAll(`SELECT count(*) AS n FROM ${from}`)).getRowObjectsJS()[0].n);
  return { columns, wkb: isGeometry ? `ST_AsWKB(${g})` : g, geometry: g, bbox, rows, from };
}

// ---------------------------------------------------------------------------------------------
// Web Mercator

/** Longitude → x in the unit square. */
export const mercX = (lon: number) => lon / 360 + 0.5;

/** Latitude → y in the unit square (north = 0), finite up to the poles (clamped at ±89.9999°). */
export function mercY(lat: number): number {
  const s = Math.sin((Math.max(-89.9999, Math.min(89.9999, lat)) * Math.PI) / 180);
  return 0.5 - (0.25 * Math.log((1 + s) / (1 - s))) / Math.PI;
}

// ---------------------------------------------------------------------------------------------
// Bounding boxes

/** Per row with a geometry that Web Mercator can show: [xmin, ymin, xmax, ymax] in degrees. */
export interface LayerBoxes {
  boxes: Float64Array;
  count: number;
  /** Rows entirely beyond ±85.0511°. */
  outside: number;
  /** Rows with a NULL geometry. */
  nullGeometries: number;
}

/** The bounding boxes of every row that has a tileable geometry, in row order. */
export async function readBoxes(db: DuckDBConnection, t: LayerTable): Promise<LayerBoxes> {
  const [x0, y0, x1, y1] = t.bbox;
  const result = await db.stream(`SELECT ${x0}, ${y0}, ${x1}, ${y1} FROM ${t.from} WHERE ${t.geometry} IS NOT NULL`);
  let boxes = new Float64Array(4 * 1024);
  let count = 0;
  let outside = 0;
  let seen = 0;
  for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    const cols = chunk.getColumns() as number[][];
    for (let r = 0; r < chunk.rowCount; r++) {
      seen++;
      const [w, s, e, n] = [cols[0][r], cols[1][r], cols[2][r], cols[3][r]];
      if (w === null || s > MERCATOR_MAX_LAT || n < -MERCATOR_MAX_LAT) {
        if (w !== null) outside++;
        continue;
      }
      if (4 * count + 4 > boxes.length) {
        const b = new Float64Array(boxes.length * 2);
        b.set(boxes);
        boxes = b;
      }
      boxes.set([w, s, e, n], 4 * count++);
    }
  }
  return { boxes: boxes.subarray(0, 4 * count), count, outside, nullGeometries: t.rows - seen };
}

// ---------------------------------------------------------------------------------------------
// Features

/** One feature: its parts as flat closed rings/lines in the unit square. */
export interface StoredFeature {
  /** Polygons: outer ring first, then holes. */
  polygons: Float64Array[][];
  lines: Float64Array[];
  /** Flat [x0, y0, …]. */
  points: number[];
}

/** The features of one unit, in the layer's row order, with their attributes by column. */
export interface FeatureStore {
  columns: Column[];
  features: (StoredFeature | null)[];
  /** values[column][feature]. */
  values: unknown[][];
  vertices: number;
}

export interface ReadFeaturesOptions {
  /** Only rows whose bbox (degrees) may touch the unit (SQL WHERE part, lets DuckDB prune row groups). */
  where?: string;
  /** Keeps a row by its bbox in the unit square (x0, y0, x1, y1). */
  accept?: (x0: number, y0: number, x1: number, y1: number) => boolean;
  /** Squared Douglas–Peucker tolerance in unit-square units (0: full resolution). */
  sqTolerance?: number;
}

/** Streams the rows the unit needs (DuckDB chunks) into a compact {@link FeatureStore}. */
export async function readFeatures(db: DuckDBConnection, t: LayerTable, o: ReadFeaturesOptions, onProgress?: (n: number) => void): Promise<FeatureStore> {
  const nc = t.columns.length;
  const [x0, y0, x1, y1] = t.bbox;
  const sql = `SELECT ${[...t.columns.map((c) => c.select), `${t.wkb} AS __cng_wkb`, x0, y0, x1, y1].join(', ')} FROM ${t.from}
    WHERE ${t.geometry} IS NOT NULL AND ${y0} <= ${MERCATOR_MAX_LAT} AND ${y1} >= ${-MERCATOR_MAX_LAT}${o.where ? ` AND (${o.where})` : ''}`;
  const result = await db.stream(sql);
  const store: FeatureStore = { columns: t.columns, features: [], values: t.columns.map(() => []), vertices: 0 };
  const sq = o.sqTolerance ?? 0;
  // Repeated text values (codes, categories) are stored once per column.
  const interned = t.columns.map(() => new Map<string, string>());
  const intern = (i: number, v: string) => interned[i].get(v) ?? (interned[i].size < 100_000 ? (interned[i].set(v, v), v) : v);
  for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    const cols = chunk.getColumns();
    for (let r = 0; r < chunk.rowCount; r++) {
      const b = [1, 2, 3, 4].map((k) => cols[nc + k][r] as number);
      if (o.accept && !o.accept(mercX(b[0]), mercY(b[3]), mercX(b[2]), mercY(b[1]))) continue;
      const bytes = (cols[nc][r] as { bytes: Uint8Array }).bytes;
      let feature: StoredFeature | null;
      try {
        feature = project(parseWkb(bytes), sq);
      } catch (err) {
        throw new CommandError(`not valid WKB in a row with a geometry: ${(err as Error).message.split('\n')[0]}`);
      }
      store.features.push(feature);
      if (feature) store.vertices += vertices(feature);
      for (let i = 0; i < nc; i++) {
        const v = cols[i][r];
        store.values[i].push(v === null || v === undefined ? undefined : t.columns[i].bigint ? Number(v as bigint) : typeof v === 'string' ? intern(i, v) : v);
      }
    }
    onProgress?.(store.features.length);
  }
  return store;
}

function vertices(f: StoredFeature): number {
  let n = f.points.length / 2;
  for (const l of f.lines) n += l.length / 2;
  for (const p of f.polygons) for (const r of p) n += r.length / 2;
  return n;
}

/** Lon/lat shapes → unit-square rings (closed), simplified when sq > 0; null when nothing is left. */
function project(s: ReturnType<typeof parseWkb>, sq: number): StoredFeature | null {
  const f: StoredFeature = { polygons: [], lines: [], points: [] };
  for (const poly of s.polygons) {
    const rings: Float64Array[] = [];
    for (let k = 0; k < poly.length; k++) {
      const ring = simplify(projectLine(poly[k], true), sq);
      // Below the tolerance a ring has no pixels at any zoom this unit renders (geojson-vt drops it).
      if (ring.length < 8 || (sq > 0 && Math.abs(ringArea(ring)) < sq)) {
        if (k === 0) break; // the outer ring vanished: its holes go with it
        continue;
      }
      rings.push(ring);
    }
    if (rings.length) f.polygons.push(rings);
  }
  for (const line of s.lines) {
    const l = simplify(projectLine(line, false), sq);
    if (l.length >= 4) f.lines.push(l);
  }
  for (let i = 0; i < s.points.length; i += 2) f.points.push(mercX(s.points[i]), mercY(s.points[i + 1]));
  return f.polygons.length || f.lines.length || f.points.length ? f : null;
}

function ringArea(r: Float64Array): number {
  let s = 0;
  for (let i = 2; i < r.length; i += 2) s += r[i - 2] * r[i + 1] - r[i] * r[i - 1];
  return s / 2;
}

function projectLine(r: Float64Array, close: boolean): Float64Array {
  const n = r.length;
  const out = new Float64Array(close ? n + 2 : n);
  for (let i = 0; i < n; i += 2) {
    out[i] = mercX(r[i]);
    out[i + 1] = mercY(r[i + 1]);
  }
  if (close) (out[n] = out[0]), (out[n + 1] = out[1]);
  return out;
}

/** Douglas–Peucker with squared tolerance `sq` (first and last vertices kept). */
export function simplify(c: Float64Array, sq: number): Float64Array {
  const n = c.length / 2;
  if (sq <= 0 || n <= 2) return c;
  const keep = new Uint8Array(n);
  keep[0] = keep[n - 1] = 1;
  const stack = [0, n - 1];
  while (stack.length) {
    const last = stack.pop()!;
    const first = stack.pop()!;
    let max = sq;
    let index = -1;
    for (let i = first + 1; i < last; i++) {
      const d = segDistSq(c[2 * i], c[2 * i + 1], c[2 * first], c[2 * first + 1], c[2 * last], c[2 * last + 1]);
      if (d > max) (max = d), (index = i);
    }
    if (index > 0) {
      keep[index] = 1;
      stack.push(first, index, index, last);
    }
  }
  let m = 0;
  for (let i = 0; i < n; i++) m += keep[i];
  if (m === n) return c;
  const out = new Float64Array(2 * m);
  for (let i = 0, j = 0; i < n; i++) if (keep[i]) (out[j++] = c[2 * i]), (out[j++] = c[2 * i + 1]);
  return out;
}

function segDistSq(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  let x = ax, y = ay;
  let dx = bx - ax, dy = by - ay;
  if (dx !== 0 || dy !== 0) {
    const t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy);
    if (t > 1) (x = bx), (y = by);
    else if (t > 0) (x += dx * t), (y += dy * t);
  }
  dx = px - x;
  dy = py - y;
  return dx * dx + dy * dy;
}

/** A stored feature as GeoJSON (unit-square coordinates) for geojson-vt; `id` is its index in the store. */
export function toGeoJson(f: StoredFeature, id: number): Feature {
  const pairs = (c: Float64Array | number[]) => {
    const out: [number, number][] = [];
    for (let i = 0; i < c.length; i += 2) out.push([c[i], c[i + 1]]);
    return out;
  };
  const geometries: Geometry[] = [];
  if (f.polygons.length) geometries.push({ type: 'MultiPolygon', coordinates: f.polygons.map((p) => p.map(pairs)) });
  if (f.lines.length) geometries.push({ type: 'MultiLineString', coordinates: f.lines.map(pairs) });
  if (f.points.length) geometries.push({ type: 'MultiPoint', coordinates: pairs(f.points) });
  const geometry: Geometry = geometries.length === 1 ? geometries[0] : { type: 'GeometryCollection', geometries };
  return { type: 'Feature', id, properties: null, geometry };
}
