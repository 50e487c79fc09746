import { closeAroundPole, EARTH_RADIUS_KM, type Ring, type Shapes } from './shapes.ts';

/**
 * The WKB codec. Reads ISO and extended (EWKB) WKB in either byte order, Z/M dropped, into a tree
 * ({@link Geom}: convert's repairs) or into flattened {@link Shapes} (the H3 code); measures a
 * geometry in one pass without decoding it ({@link scanWkb}); writes 2-D little-endian WKB.
 * Coordinates are lon/lat degrees (EPSG:4326).
 */

/** GeoParquet / ISO names of the 2-D base WKB types 1-7. */
export const WKB_TYPE_NAMES: Record<number, string> = {
  1: 'Point', 2: 'LineString', 3: 'Polygon', 4: 'MultiPoint', 5: 'MultiLineString', 6: 'MultiPolygon', 7: 'GeometryCollection',
};

/** A decoded 2-D geometry: flat [x0, y0, x1, y1, ...] coordinate arrays. */
export type Geom =
  | { type: 1; coords: Float64Array }
  | { type: 2; coords: Float64Array }
  | { type: 3; rings: Float64Array[] }
  | { type: 4 | 5 | 6 | 7; parts: Geom[] };

// ---------------------------------------------------------------------------------------------
// Reading

interface Reader {
  bytes: Uint8Array;
  dv: DataView;
  off: number;
}

function reader(wkb: Uint8Array): Reader {
  return { bytes: wkb, dv: new DataView(wkb.buffer, wkb.byteOffset, wkb.byteLength), off: 0 };
}

interface Header {
  /** The type code without the EWKB flag bits (ISO Z/M types keep their thousands). */
  type: number;
  /** The 2-D base type (1-7 for linear types). */
  base: number;
  /** Doubles per coordinate. */
  dims: number;
  le: boolean;
}

/** Reads a WKB header: type, coordinate dimension, byte order (an EWKB SRID is skipped). */
function header(r: Reader): Header {
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
  return { type, base, dims, le };
}

function readCount(r: Reader, le: boolean): number {
  const n = r.dv.getUint32(r.off, le);
  r.off += 4;
  return n;
}

/** Reads `n` coordinates as flat [x, y, …] (Z/M skipped). */
function readCoords(r: Reader, n: number, dims: number, le: boolean): Float64Array {
  const bytesLen = n * dims * 8;
  if (r.off + bytesLen > r.bytes.byteLength) throw new Error('truncated WKB');
  let xy: Float64Array;
  if (dims === 2 && le) {
    const start = r.bytes.byteOffset + r.off;
    xy = new Float64Array(r.bytes.buffer.slice(start, start + bytesLen));
  } else {
    xy = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      xy[2 * i] = r.dv.getFloat64(r.off + i * dims * 8, le);
      xy[2 * i + 1] = r.dv.getFloat64(r.off + i * dims * 8 + 8, le);
    }
  }
  r.off += bytesLen;
  return xy;
}

/** The message for a type the codec does not read (curves, …). */
type Unsupported = (h: Header) => string;
const linearizeFirst: Unsupported = (h) => `unsupported WKB geometry type ${h.base} (curves must be linearized first)`;

function readGeom(r: Reader, unsupported: Unsupported): Geom {
  const h = header(r);
  const { base, dims, le } = h;
  if (base === 1) return { type: 1, coords: readCoords(r, 1, dims, le) };
  const n = readCount(r, le);
  if (base === 2) return { type: 2, coords: readCoords(r, n, dims, le) };
  if (base === 3) {
    const rings: Float64Array[] = [];
    for (let k = 0; k < n; k++) rings.push(readCoords(r, readCount(r, le), dims, le));
    return { type: 3, rings };
  }
  if (base >= 4 && base <= 7) {
    const parts: Geom[] = [];
    for (let i = 0; i < n; i++) parts.push(readGeom(r, unsupported));
    return { type: base as 4 | 5 | 6 | 7, parts };
  }
  throw new Error(unsupported(h));
}

/** Decodes WKB into {@link Geom} (Z/M dropped). */
export function decodeWkb(wkb: Uint8Array): Geom {
  return readGeom(reader(wkb), linearizeFirst);
}

/** Parses WKB into flattened {@link Shapes}; Z/M are dropped. Empty parts are left out. */
export function parseWkb(bytes: Uint8Array): Shapes {
  const out: Shapes = { polygons: [], lines: [], points: [] };
  addShapes(out, readGeom(reader(bytes), (h) => `unsupported WKB geometry type ${h.type} (curves must be linearized by convert)`));
  return out;
}

function addShapes(out: Shapes, g: Geom): void {
  switch (g.type) {
    case 1:
      if (!Number.isNaN(g.coords[0]) && !Number.isNaN(g.coords[1])) out.points.push(g.coords[0], g.coords[1]);
      return;
    case 2:
      if (g.coords.length > 0) out.lines.push(g.coords);
      return;
    case 3: {
      const rings: Ring[] = [];
      for (let k = 0; k < g.rings.length; k++) {
        const ring = openRing(g.rings[k]);
        if (k === 0 && ring.length < 6) break; // an outer ring without area: skip the holes too
        if (ring.length >= 6) rings.push(ring);
      }
      if (rings.length > 0) out.polygons.push(rings);
      return;
    }
    default:
      for (const p of g.parts) addShapes(out, p);
  }
}

/** Drops the closing vertex of a ring when it repeats the first. */
function openRing(r: Float64Array): Float64Array {
  const n = r.length;
  if (n >= 4 && r[0] === r[n - 2] && r[1] === r[n - 1]) return r.subarray(0, n - 2);
  return r;
}

/** Base WKB type of the outer geometry (1-7 for linear types). */
export function wkbType(wkb: Uint8Array): number {
  return header(reader(wkb)).base;
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** What one pass over a WKB geometry tells (coordinates assumed lon/lat degrees). */
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
  /** Some coordinate is NaN or infinite (an empty point, NaN NaN, excepted): no engine can use the geometry. */
  nonFinite: boolean;
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
    areaKm2: 0, lengthKm: 0, points: 0, polygons: 0, lines: 0, crossesAntimeridian: false, nonFinite: false,
  };
  const r = reader(wkb);
  const seq = (n: number, dims: number, le: boolean, mode: 'line' | 'ring'): number => {
    // Returns the ring's signed area term sum (mode 'ring') and accumulates the rest.
    const dv = r.dv;
    let px = 0, py = 0, sum = 0;
    for (let i = 0; i < n; i++) {
      const x = dv.getFloat64(r.off, le);
      const y = dv.getFloat64(r.off + 8, le);
      r.off += 8 * dims;
      if (x - x + (y - y) !== 0) info.nonFinite = true; // NaN when either is NaN or infinite
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
    const h = header(r);
    const { base, dims, le } = h;
    if (depth === 0) info.type = base;
    const dv = r.dv;
    switch (base) {
      case 1: {
        const x = dv.getFloat64(r.off, le);
        const y = dv.getFloat64(r.off + 8, le);
        if (!Number.isNaN(x) && !Number.isNaN(y)) {
          seq(1, dims, le, 'line');
          info.points++;
        } else {
          if (!Number.isNaN(x) || !Number.isNaN(y)) info.nonFinite = true; // one NaN: not the empty point
          r.off += 8 * dims;
        }
        return;
      }
      case 2: {
        const n = readCount(r, le);
        seq(n, dims, le, 'line');
        if (n > 0) info.lines++;
        return;
      }
      case 3: {
        const rings = readCount(r, le);
        let area = 0;
        for (let k = 0; k < rings; k++) {
          const n = readCount(r, le);
          const a = Math.abs(seq(n, dims, le, 'ring')) * EARTH_RADIUS_KM * EARTH_RADIUS_KM / 2;
          area += k === 0 ? a : -a;
        }
        if (rings > 0) info.polygons++;
        info.areaKm2 += Math.max(0, area);
        return;
      }
      case 4: case 5: case 6: case 7: {
        const n = readCount(r, le);
        for (let i = 0; i < n; i++) geom(depth + 1);
        return;
      }
      default:
        throw new Error(linearizeFirst(h));
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

// ---------------------------------------------------------------------------------------------
// Writing

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

/** Writes shapes as WKB (a GeometryCollection unless there is a single part). For tests and GEOS. */
export function shapesToWkb(s: Shapes): Uint8Array {
  const parts: Geom[] = [];
  for (let i = 0; i < s.points.length; i += 2) parts.push({ type: 1, coords: Float64Array.of(s.points[i], s.points[i + 1]) });
  for (const l of s.lines) parts.push({ type: 2, coords: l });
  for (const p of s.polygons) parts.push({ type: 3, rings: p.map(closeRing) });
  return encodeWkb(parts.length === 1 ? parts[0] : { type: 7, parts });
}

/** A ring with its first vertex repeated at the end. */
function closeRing(r: Ring): Float64Array {
  const c = new Float64Array(r.length + 2);
  c.set(r);
  c[r.length] = r[0];
  c[r.length + 1] = r[1];
  return c;
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
 * Operations on decoded WKB trees ({@link Geom}, lon/lat degrees): picking the parts of one
 * dimension, shifting longitudes, and undoing the ±360° jumps of features that cross the
 * antimeridian.
 */

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

/** Calls `f` with every coordinate sequence (points, lines, rings) of `g`; returns `g`. */
function eachSequence(g: Geom, f: (c: Float64Array) => void): Geom {
  const walk = (h: Geom) => {
    if (h.type === 1 || h.type === 2) f(h.coords);
    else if (h.type === 3) h.rings.forEach(f);
    else h.parts.forEach(walk);
  };
  walk(g);
  return g;
}

/** Adds `dx` to every x coordinate (in place). */
export function translateX(g: Geom, dx: number): Geom {
  return eachSequence(g, (c) => { for (let i = 0; i < c.length; i += 2) c[i] += dx; });
}

/** Brings every longitude into [-180, 180] (in place), vertex by vertex: edges may then jump 360°. */
export function wrapLongitudes(g: Geom): Geom {
  return eachSequence(g, (c) => {
    for (let i = 0; i < c.length; i += 2) if (c[i] > 180 || c[i] < -180) c[i] -= 360 * Math.round(c[i] / 360);
  });
}

/** The number of non-empty points, lines and polygons in a geometry (nested collections flattened). */
export function partCounts(g: Geom): [number, number, number] {
  const n: [number, number, number] = [0, 0, 0];
  const walk = (h: Geom) => {
    if (h.type === 3) n[2] += h.rings.length ? 1 : 0;
    else if (h.type === 1 || h.type === 2) n[h.type - 1] += h.coords.length ? 1 : 0;
    else h.parts.forEach(walk);
  };
  walk(g);
  return n;
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
 * there (see convert). A ring that does not close once unwrapped goes around a pole: it is closed
 * along that pole ({@link closeAroundPole}); `poles` counts such rings.
 */
export function unwrapAntimeridian(g: Geom): { geom: Geom; poles: number } {
  let poles = 0;
  const normalize = (rings: Float64Array[]) => {
    const m = minX(rings[0]);
    const k = Math.floor((m + 180) / 360);
    if (k !== 0) for (const c of rings) for (let i = 0; i < c.length; i += 2) c[i] -= 360 * k;
  };
  const walk = (h: Geom): void => {
    if (h.type === 1) return;
    if (h.type === 2) {
      unwrapSeq(h.coords);
      if (h.coords.length) normalize([h.coords]);
      return;
    }
    if (h.type === 3) {
      if (!h.rings.length) return;
      h.rings = h.rings.map((ring) => {
        const net = unwrapSeq(ring);
        if (Math.abs(net) < 1e-9) return ring;
        poles++;
        return closeAroundPole(ring, Math.round(net / 360) * 360, true);
      });
      const shell = h.rings[0];
      const centre = (minX(shell) + maxX(shell)) / 2;
      for (const hole of h.rings.slice(1)) {
        const k = Math.round((centre - (minX(hole) + maxX(hole)) / 2) / 360);
        if (k !== 0) for (let i = 0; i < hole.length; i += 2) hole[i] += 360 * k;
      }
      normalize(h.rings);
      return;
    }
    h.parts.forEach(walk);
  };
  walk(g);
  return { geom: g, poles };
}

function maxX(c: Float64Array): number {
  let m = -Infinity;
  for (let i = 0; i < c.length; i += 2) if (c[i] > m) m = c[i];
  return m;
}
