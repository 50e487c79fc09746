/**
 * GeoParquet 1.1 helpers shared by the stages: the `geo` file metadata, the COPY options that
 * write it with DuckDB, reading it back, and the WKB arithmetic done in JavaScript (envelope,
 * vertex count, spherical area, antimeridian unwrapping, promotion to multi) plus the Hilbert
 * index used to order rows.
 *
 * Layout (docs/stages.md): `geometry` is WKB in the Parquet GEOMETRY logical type (DuckDB's
 * GEOMETRY column), `bbox` a STRUCT(xmin, ymin, xmax, ymax DOUBLE) covering column, ZSTD, row
 * groups of at most {@link ROW_GROUP_ROWS} rows, rows ordered along a Hilbert curve.
 *
 * DuckDB 1.5 notes: its own GeoParquet writer emits version 1.0.0 metadata without `covering`,
 * so files are written with `GEOPARQUET_VERSION 'NONE'` and our own `geo` key in `KV_METADATA`
 * (exactly one `geo` key results). `ROW_GROUP_SIZE n` is rounded *up* to a multiple of 2048
 * (50000 gives 51200-row groups), hence 49152 = 24 × 2048.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../core/text.ts';

/** Largest row-group size (rows) DuckDB honours without exceeding 50,000 (24 × 2048). */
export const ROW_GROUP_ROWS = 49_152;

/** Name of the geometry column and of the bbox covering column. */
export const GEOMETRY_COLUMN = 'geometry';
export const BBOX_COLUMN = 'bbox';

/** [xmin, ymin, xmax, ymax] */
export type BBox = [number, number, number, number];

/** The GeoParquet 1.1 `geo` metadata this project writes (no `crs`: OGC:CRS84 by default). */
export interface GeoMetadata {
  version: '1.1.0';
  primary_column: string;
  columns: Record<
    string,
    {
      encoding: 'WKB';
      geometry_types: string[];
      bbox?: BBox;
      covering: { bbox: Record<'xmin' | 'ymin' | 'xmax' | 'ymax', [string, string]> };
    }
  >;
}

/**
 * The `geo` metadata of a GeoParquet 1.1 file: WKB `geometry`, its geometry types (sorted
 * GeoParquet names, e.g. ['MultiPolygon']), the bbox of all data (omitted when every geometry is
 * null) and the `bbox` covering column.
 */
export function geoMetadata(opts: { geometryTypes: Iterable<string>; bbox: BBox | null }): GeoMetadata {
  const f = (k: string): [string, string] => [BBOX_COLUMN, k];
  return {
    version: '1.1.0',
    primary_column: GEOMETRY_COLUMN,
    columns: {
      [GEOMETRY_COLUMN]: {
        encoding: 'WKB',
        geometry_types: [...new Set(opts.geometryTypes)].sort(),
        ...(opts.bbox ? { bbox: opts.bbox } : {}),
        covering: { bbox: { xmin: f('xmin'), ymin: f('ymin'), xmax: f('xmax'), ymax: f('ymax') } },
      },
    },
  };
}

/** SQL string literal. */
/** SQL quoted identifier. */

/**
 * Options for DuckDB's `COPY ... TO 'x.parquet' (...)` that write a GeoParquet 1.1 file with the
 * given metadata: ZSTD level 1 (coordinates hardly compress: level 3 made files 0.5% smaller
 * and the write 2.5× slower), row groups ≤ 50,000 rows, DuckDB's own (1.0.0) geo key disabled.
 * The selected `geometry` column must be GEOMETRY (`ST_GeomFromWKB(blob)`), `bbox` a struct of
 * DOUBLE xmin/ymin/xmax/ymax.
 */
export function geoParquetCopyOptions(geo: GeoMetadata): string {
  return `FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE ${ROW_GROUP_ROWS}, GEOPARQUET_VERSION 'NONE', KV_METADATA {geo: ${sqlString(JSON.stringify(geo))}}`;
}

/** SQL expression of the `bbox` struct from four DOUBLE expressions (NULL when `nullIf` is true). */
export function bboxStructSql(xmin: string, ymin: string, xmax: string, ymax: string, nullIf?: string): string {
  const s = `struct_pack(xmin := ${xmin}, ymin := ${ymin}, xmax := ${xmax}, ymax := ${ymax})`;
  return nullIf ? `CASE WHEN ${nullIf} THEN NULL ELSE ${s} END` : s;
}

/** The parsed `geo` metadata of a (local) Parquet file, or null when it has none. */
export async function readGeoParquetMeta(db: DuckDBConnection, path: string): Promise<GeoMetadata | null> {
  const rows = (
    await db.runAndReadAll(`SELECT decode(value) FROM parquet_kv_metadata(${sqlString(path)}) WHERE decode(key) = 'geo'`)
  ).getRows();
  if (rows.length === 0) return null;
  return JSON.parse(String(rows[0][0])) as GeoMetadata;
}

// ---------------------------------------------------------------------------------------------
// WKB
// ---------------------------------------------------------------------------------------------

/** GeoParquet / ISO names of the 2-D base WKB types 1-7. */
export const WKB_TYPE_NAMES: Record<number, string> = {
  1: 'Point', 2: 'LineString', 3: 'Polygon', 4: 'MultiPoint', 5: 'MultiLineString', 6: 'MultiPolygon', 7: 'GeometryCollection',
};

/** Authalic Earth radius (km) used by H3 for cell areas. */
export const EARTH_RADIUS_KM = 6371.007180918475;

/** What one pass over a WKB geometry tells (coordinates assumed lon/lat degrees). */
export interface WkbInfo {
  /** Base type of the outer geometry (1-7). */
  type: number;
  /** Number of coordinates (closing ring points included; empty points excluded). */
  vertices: number;
  /** Envelope; NaN when the geometry is empty. */
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
  /** Spherical area of polygons, km² (holes subtracted). */
  areaKm2: number;
  /** Great-circle length of line strings, km. */
  lengthKm: number;
  /** Number of (non-empty) points. */
  points: number;
  /** Whether some polygon/line part is present (for polygonal/linear classification). */
  polygons: number;
  lines: number;
  /** An edge jumps more than 180° of longitude (crosses the antimeridian as stored). */
  crossesAntimeridian: boolean;
}

interface Reader {
  dv: DataView;
  off: number;
}

/** Reads a WKB header; returns base type, coordinate dimension, byte order. */
function header(r: Reader): { base: number; dims: number; le: boolean } {
  const le = r.dv.getUint8(r.off) === 1;
  let type = r.dv.getUint32(r.off + 1, le);
  r.off += 5;
  let dims = 2;
  if (type & 0x20000000) r.off += 4; // EWKB SRID
  if (type & 0x80000000) dims++;
  if (type & 0x40000000) dims++;
  type &= 0x0fffffff;
  const iso = Math.floor(type / 1000);
  if (iso === 1 || iso === 2) dims++;
  else if (iso === 3) dims += 2;
  const base = type % 1000;
  return { base, dims, le };
}

function bytesOf(wkb: Uint8Array): DataView {
  return new DataView(wkb.buffer, wkb.byteOffset, wkb.byteLength);
}

const RAD = Math.PI / 180;

/**
 * One pass over a WKB geometry (any byte order, Z/M ignored): envelope, vertices, spherical area
 * (Chamberlain–Duquette ring formula on the authalic sphere, as turf/d3 do) and line length,
 * and whether an edge spans more than 180° of longitude.
 * @throws Error on curved types (linearize first) or truncated input.
 */
export function scanWkb(wkb: Uint8Array): WkbInfo {
  const info: WkbInfo = {
    type: 0, vertices: 0, xmin: Infinity, ymin: Infinity, xmax: -Infinity, ymax: -Infinity,
    areaKm2: 0, lengthKm: 0, points: 0, polygons: 0, lines: 0, crossesAntimeridian: false,
  };
  const r: Reader = { dv: bytesOf(wkb), off: 0 };
  const seq = (n: number, dims: number, le: boolean, mode: 'line' | 'ring'): number => {
    // Returns the ring's signed area term sum (mode 'ring') and accumulates the rest.
    const dv = r.dv;
    let px = 0, py = 0, sum = 0;
    for (let i = 0; i < n; i++) {
      const x = dv.getFloat64(r.off, le);
      const y = dv.getFloat64(r.off + 8, le);
      r.off += 8 * dims;
      if (x < info.xmin) info.xmin = x;
      if (x > info.xmax) info.xmax = x;
      if (y < info.ymin) info.ymin = y;
      if (y > info.ymax) info.ymax = y;
      if (i > 0) {
        const dx = x - px;
        if (dx > 180 || dx < -180) info.crossesAntimeridian = true;
        if (mode === 'ring') sum += dx * RAD * (2 + Math.sin(py * RAD) + Math.sin(y * RAD));
        else info.lengthKm += haversineKm(px, py, x, y);
      }
      px = x;
      py = y;
    }
    info.vertices += n;
    return sum;
  };
  const geom = (depth: number): void => {
    const { base, dims, le } = header(r);
    if (depth === 0) info.type = base;
    const dv = r.dv;
    switch (base) {
      case 1: {
        const x = dv.getFloat64(r.off, le);
        const y = dv.getFloat64(r.off + 8, le);
        if (!Number.isNaN(x) && !Number.isNaN(y)) {
          seq(1, dims, le, 'line');
          info.points++;
        } else r.off += 8 * dims;
        return;
      }
      case 2: {
        const n = dv.getUint32(r.off, le);
        r.off += 4;
        seq(n, dims, le, 'line');
        if (n > 0) info.lines++;
        return;
      }
      case 3: {
        const rings = dv.getUint32(r.off, le);
        r.off += 4;
        let area = 0;
        for (let k = 0; k < rings; k++) {
          const n = dv.getUint32(r.off, le);
          r.off += 4;
          const a = Math.abs(seq(n, dims, le, 'ring')) * EARTH_RADIUS_KM * EARTH_RADIUS_KM / 2;
          area += k === 0 ? a : -a;
        }
        if (rings > 0) info.polygons++;
        info.areaKm2 += Math.max(0, area);
        return;
      }
      case 4: case 5: case 6: case 7: {
        const n = dv.getUint32(r.off, le);
        r.off += 4;
        for (let i = 0; i < n; i++) geom(depth + 1);
        return;
      }
      default:
        throw new Error(`unsupported WKB geometry type ${base} (curves must be linearized first)`);
    }
  };
  geom(0);
  if (info.vertices === 0) info.xmin = info.ymin = info.xmax = info.ymax = NaN;
  return info;
}

function haversineKm(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const dLat = (lat2 - lat1) * RAD;
  const dLon = (lon2 - lon1) * RAD;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** A decoded 2-D geometry: flat [x0, y0, x1, y1, ...] coordinate arrays. */
export type Geom =
  | { type: 1; coords: Float64Array }
  | { type: 2; coords: Float64Array }
  | { type: 3; rings: Float64Array[] }
  | { type: 4 | 5 | 6 | 7; parts: Geom[] };

/** Decodes WKB into {@link Geom} (Z/M dropped). */
export function decodeWkb(wkb: Uint8Array): Geom {
  const r: Reader = { dv: bytesOf(wkb), off: 0 };
  const coords = (n: number, dims: number, le: boolean): Float64Array => {
    const out = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      out[2 * i] = r.dv.getFloat64(r.off, le);
      out[2 * i + 1] = r.dv.getFloat64(r.off + 8, le);
      r.off += 8 * dims;
    }
    return out;
  };
  const geom = (): Geom => {
    const { base, dims, le } = header(r);
    if (base === 1) return { type: 1, coords: coords(1, dims, le) };
    const n = r.dv.getUint32(r.off, le);
    r.off += 4;
    if (base === 2) return { type: 2, coords: coords(n, dims, le) };
    if (base === 3) {
      const rings: Float64Array[] = [];
      for (let k = 0; k < n; k++) {
        const m = r.dv.getUint32(r.off, le);
        r.off += 4;
        rings.push(coords(m, dims, le));
      }
      return { type: 3, rings };
    }
    if (base >= 4 && base <= 7) {
      const parts: Geom[] = [];
      for (let i = 0; i < n; i++) parts.push(geom());
      return { type: base as 4 | 5 | 6 | 7, parts };
    }
    throw new Error(`unsupported WKB geometry type ${base} (curves must be linearized first)`);
  };
  return geom();
}

/** Encodes a {@link Geom} as 2-D little-endian WKB. */
export function encodeWkb(g: Geom): Uint8Array {
  const size = (h: Geom): number => {
    switch (h.type) {
      case 1: return 21;
      case 2: return 9 + h.coords.length * 8;
      case 3: return 9 + h.rings.reduce((s, c) => s + 4 + c.length * 8, 0);
      default: return 9 + h.parts.reduce((s, p) => s + size(p), 0);
    }
  };
  const out = new Uint8Array(size(g));
  const dv = new DataView(out.buffer);
  let off = 0;
  const put = (c: Float64Array) => {
    for (let i = 0; i < c.length; i++, off += 8) dv.setFloat64(off, c[i], true);
  };
  const write = (h: Geom): void => {
    dv.setUint8(off, 1);
    dv.setUint32(off + 1, h.type, true);
    off += 5;
    switch (h.type) {
      case 1: put(h.coords); return;
      case 2: dv.setUint32(off, h.coords.length / 2, true); off += 4; put(h.coords); return;
      case 3:
        dv.setUint32(off, h.rings.length, true); off += 4;
        for (const ring of h.rings) { dv.setUint32(off, ring.length / 2, true); off += 4; put(ring); }
        return;
      default:
        dv.setUint32(off, h.parts.length, true); off += 4;
        for (const p of h.parts) write(p);
    }
  };
  write(g);
  return out;
}

/** Base WKB type of the outer geometry (1-7 for linear types). */
export function wkbType(wkb: Uint8Array): number {
  return header({ dv: bytesOf(wkb), off: 0 }).base;
}

/**
 * Point/LineString/Polygon → MultiPoint/MultiLineString/MultiPolygon with one part (the part
 * keeps its bytes); other types are returned unchanged.
 */
export function toMultiWkb(wkb: Uint8Array): Uint8Array {
  const base = wkbType(wkb);
  if (base < 1 || base > 3) return wkb;
  const out = new Uint8Array(9 + wkb.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, 1);
  dv.setUint32(1, base + 3, true);
  dv.setUint32(5, 1, true);
  out.set(wkb, 9);
  return out;
}

/**
 * The polygonal part of a geometry as one MultiPolygon (polygons of nested multi-polygons and
 * collections flattened), or null when it has none.
 */
export function polygonalPart(g: Geom): Geom | null {
  const polys: Geom[] = [];
  const walk = (h: Geom) => {
    if (h.type === 3) { if (h.rings.length) polys.push(h); }
    else if (h.type === 6 || h.type === 7) h.parts.forEach(walk);
  };
  walk(g);
  return polys.length ? { type: 6, parts: polys } : null;
}

/** All parts of dimension `dim` (0 points, 1 lines, 2 polygons) as one multi geometry, or null. */
export function partsOfDimension(g: Geom, dim: 0 | 1 | 2): Geom | null {
  const base = ([1, 2, 3] as const)[dim];
  const parts: Geom[] = [];
  const walk = (h: Geom) => {
    if (h.type === base) parts.push(h);
    else if (h.type >= 4) (h as { parts: Geom[] }).parts.forEach(walk);
  };
  walk(g);
  return parts.length ? ({ type: base + 3, parts } as Geom) : null;
}

/** Adds `dx` to every x coordinate (in place). */
export function translateX(g: Geom, dx: number): Geom {
  const shift = (c: Float64Array) => { for (let i = 0; i < c.length; i += 2) c[i] += dx; };
  const walk = (h: Geom) => {
    if (h.type === 1 || h.type === 2) shift(h.coords);
    else if (h.type === 3) h.rings.forEach(shift);
    else h.parts.forEach(walk);
  };
  walk(g);
  return g;
}

/** Makes a coordinate sequence continuous in longitude (no step > 180°); returns the net wrap. */
function unwrapSeq(c: Float64Array): number {
  let offset = 0;
  for (let i = 2; i < c.length; i += 2) {
    const raw = c[i] + offset;
    const d = raw - c[i - 2];
    if (d > 180) offset -= 360 * Math.round(d / 360);
    else if (d < -180) offset += 360 * Math.round(-d / 360);
    c[i] += offset;
  }
  return c.length >= 4 ? c[c.length - 2] - c[0] : 0;
}

function minX(c: Float64Array): number {
  let m = Infinity;
  for (let i = 0; i < c.length; i += 2) if (c[i] < m) m = c[i];
  return m;
}

/**
 * Undoes the ±360° jumps of features that cross the antimeridian: every line and polygon gets
 * continuous longitudes (holes aligned to their shell), then is shifted by a multiple of 360° so
 * that its minimum longitude lies in [-180, 180). The result may extend past 180°; split it
 * there (see convert). Returns null when a ring does not close after unwrapping — it encircles a
 * pole and cannot be cut into east/west parts this way.
 */
export function unwrapAntimeridian(g: Geom): Geom | null {
  const normalize = (rings: Float64Array[]) => {
    const m = minX(rings[0]);
    const k = Math.floor((m + 180) / 360);
    if (k !== 0) for (const c of rings) for (let i = 0; i < c.length; i += 2) c[i] -= 360 * k;
  };
  const walk = (h: Geom): boolean => {
    if (h.type === 1) return true;
    if (h.type === 2) {
      unwrapSeq(h.coords);
      if (h.coords.length) normalize([h.coords]);
      return true;
    }
    if (h.type === 3) {
      if (!h.rings.length) return true;
      for (const ring of h.rings) if (Math.abs(unwrapSeq(ring)) > 1e-9) return false;
      const shell = h.rings[0];
      const centre = (minX(shell) + maxX(shell)) / 2;
      for (const hole of h.rings.slice(1)) {
        const k = Math.round((centre - (minX(hole) + maxX(hole)) / 2) / 360);
        if (k !== 0) for (let i = 0; i < hole.length; i += 2) hole[i] += 360 * k;
      }
      normalize(h.rings);
      return true;
    }
    return h.parts.every(walk);
  };
  return walk(g) ? g : null;
}

function maxX(c: Float64Array): number {
  let m = -Infinity;
  for (let i = 0; i < c.length; i += 2) if (c[i] > m) m = c[i];
  return m;
}

// ---------------------------------------------------------------------------------------------
// Hilbert curve
// ---------------------------------------------------------------------------------------------

/**
 * Index of cell (x, y) on a Hilbert curve over a 2^order × 2^order grid (x, y integers in
 * [0, 2^order)). Consecutive indices are edge-adjacent cells.
 */
export function hilbertIndex(x: number, y: number, order = 16): number {
  const n = 2 ** order;
  let d = 0;
  for (let s = n / 2; s >= 1; s /= 2) {
    const rx = (x & s) > 0 ? 1 : 0;
    const ry = (y & s) > 0 ? 1 : 0;
    d += s * s * ((3 * rx) ^ ry);
    if (ry === 0) {
      if (rx === 1) {
        x = n - 1 - x;
        y = n - 1 - y;
      }
      const t = x;
      x = y;
      y = t;
    }
  }
  return d;
}

/** Hilbert index (0 … 2³²−1) of a lon/lat point on a 16-bit-per-axis grid over the globe. */
export function lonLatHilbert(lon: number, lat: number): number {
  const cell = (v: number, lo: number, span: number) => Math.min(65535, Math.max(0, Math.floor(((v - lo) / span) * 65536)));
  return hilbertIndex(cell(lon, -180, 360), cell(lat, -90, 180), 16);
}
