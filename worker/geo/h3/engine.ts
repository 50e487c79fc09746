/**
 * Geometry → H3 cells: the pure part of the hex stage (no DuckDB, no GDAL), so that it also runs
 * inside worker threads. gdal-async is not context-aware: it can be loaded by one thread of a
 * process only ("Module did not self-register" in the second), and worker/limits.ts loads it in
 * the main thread.
 *
 * Conventions
 * - Coordinates are lon/lat degrees (EPSG:4326). A ring is a flat `Float64Array` [x0, y0, x1, y1, …]
 *   without the closing vertex; a polygon is its rings (outer first, then holes).
 * - Edges are straight lines in lon/lat, as H3's polyfill treats them; every clip below
 *   (rectangles, strips, the antimeridian) is exact in that plane, so the cells of pieces with
 *   centre containment partition the cells of the whole.
 * - A cell is two uint32 words (low, high) of its 64-bit index: cells travel as `Uint32Array`s of
 *   pairs, which is also the little-endian memory layout of a UBIGINT column.
 *
 * H3 is h3-js 4.5 (Emscripten, asm.js). Two things make it slow on large inputs: its
 * `polygonToCellsExperimental` costs about vertices × boundary cells (each boundary cell is
 * tested against every edge) plus a fixed descent from resolution 0, and its results are hex
 * strings. {@link H3Engine} therefore reaches h3-js's own compiled module (evaluated privately,
 * same C code) and (a) for centre containment walks the H3 hierarchy itself
 * ({@link H3Engine.polyfillCenterFast}: H3's algorithm and bounds, but cells wholly outside are
 * dropped early and point/box tests go through an edge index), asking h3-js only for cell
 * centres; (b) otherwise calls H3's polyfill and reads cells straight from its heap. Both give
 * H3's cells exactly (tested against h3-js). When the module cannot be reached (a future h3-js
 * layout), the public API is used, with identical results, only slower.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

export type Containment = 'center' | 'overlap';
/** A ring: flat [x0, y0, x1, y1, …] lon/lat degrees, not closed. */
export type Ring = Float64Array;
/** A polygon: outer ring first, then holes. */
export type Polygon = Ring[];

/** The parts of one geometry, flattened (Multi* and GeometryCollection members). */
export interface Shapes {
  polygons: Polygon[];
  lines: Ring[];
  /** Flat [x0, y0, x1, y1, …]. */
  points: number[];
}

export interface BBox {
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

const EARTH_RADIUS_KM = 6371.007180918475; // H3's

type H3Js = typeof import('h3-js');
let publicH3: H3Js | undefined;
/** h3-js's public API, loaded on first use (threads on the fast path never need it). */
function pub(): H3Js {
  return (publicH3 ??= createRequire(import.meta.url)('h3-js') as H3Js);
}

/** H3's average hexagon area (km²) and edge length (km) by resolution (getHexagonAreaAvg/EdgeLengthAvg). */
const MEAN_AREA_KM2 = [
  4357449.416078383, 609788.4417941332, 86801.7803989972, 12393.43465508816, 1770.347654491307, 252.9038581819449, 36.12906216441245, 5.161293359717191,
  0.7373275975944177, 0.1053325134272067, 0.01504750190766435, 0.002149643129451879, 0.000307091875631606, 0.00004387026794728296, 0.000006267181135324313,
  8.95311590760579e-7,
];
const MEAN_EDGE_KM = [
  1281.256011, 483.0568391, 182.5129565, 68.97922179, 26.07175968, 9.85409099, 3.724532667, 1.406475763, 0.53141401, 0.200786148, 0.075863783, 0.028663897,
  0.010830188, 0.00409201, 0.0015461, 0.000584169,
];
const KM_PER_DEG = (Math.PI / 180) * EARTH_RADIUS_KM;

// ---------------------------------------------------------------------------------------------
// WKB

/** Parses (ISO or extended) WKB; Z/M are dropped. Empty parts are left out. */
export function parseWkb(bytes: Uint8Array): Shapes {
  const out: Shapes = { polygons: [], lines: [], points: [] };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const readCoords = (n: number, stride: number, le: boolean): Float64Array => {
    const bytesLen = n * stride * 8;
    if (pos + bytesLen > bytes.byteLength) throw new Error('truncated WKB');
    let xy: Float64Array;
    if (stride === 2 && le) {
      xy = new Float64Array(bytes.buffer.slice(bytes.byteOffset + pos, bytes.byteOffset + pos + bytesLen));
    } else {
      xy = new Float64Array(2 * n);
      for (let i = 0; i < n; i++) {
        xy[2 * i] = view.getFloat64(pos + i * stride * 8, le);
        xy[2 * i + 1] = view.getFloat64(pos + i * stride * 8 + 8, le);
      }
    }
    pos += bytesLen;
    return xy;
  };
  const geometry = (): void => {
    const le = view.getUint8(pos) === 1;
    let type = view.getUint32(pos + 1, le);
    pos += 5;
    let stride = 2;
    if (type & 0x80000000) stride++;
    if (type & 0x40000000) stride++;
    if (type & 0x20000000) pos += 4; // EWKB SRID
    type &= 0x0fffffff;
    const dims = Math.floor(type / 1000);
    if (dims === 1 || dims === 2) stride++;
    else if (dims === 3) stride += 2;
    const base = type % 1000;
    switch (base) {
      case 1: {
        const c = readCoords(1, stride, le);
        if (!Number.isNaN(c[0]) && !Number.isNaN(c[1])) out.points.push(c[0], c[1]);
        return;
      }
      case 2: {
        const n = view.getUint32(pos, le);
        pos += 4;
        const line = readCoords(n, stride, le);
        if (n > 0) out.lines.push(line);
        return;
      }
      case 3: {
        const nr = view.getUint32(pos, le);
        pos += 4;
        const rings: Ring[] = [];
        for (let r = 0; r < nr; r++) {
          const n = view.getUint32(pos, le);
          pos += 4;
          const ring = openRing(readCoords(n, stride, le));
          if (r === 0 && ring.length < 6) {
            // an outer ring without area: skip the holes too
            for (let s = r + 1; s < nr; s++) {
              const m = view.getUint32(pos, le);
              pos += 4 + m * stride * 8;
            }
            break;
          }
          if (ring.length >= 6) rings.push(ring);
        }
        if (rings.length > 0) out.polygons.push(rings);
        return;
      }
      case 4:
      case 5:
      case 6:
      case 7: {
        const n = view.getUint32(pos, le);
        pos += 4;
        for (let i = 0; i < n; i++) geometry();
        return;
      }
      default:
        throw new Error(`unsupported WKB geometry type ${type} (curves must be linearized by convert)`);
    }
  };
  geometry();
  return out;
}

/** Drops the closing vertex of a ring when it repeats the first. */
function openRing(r: Float64Array): Float64Array {
  const n = r.length;
  if (n >= 4 && r[0] === r[n - 2] && r[1] === r[n - 1]) return r.subarray(0, n - 2);
  return r;
}

/** Writes shapes as WKB (a GeometryCollection unless there is a single part). For tests and GEOS. */
export function shapesToWkb(s: Shapes): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = (type: number, n: number) => {
    const b = new Uint8Array(9);
    const v = new DataView(b.buffer);
    v.setUint8(0, 1);
    v.setUint32(1, type, true);
    v.setUint32(5, n, true);
    return b;
  };
  const coords = (xy: Float64Array, close: boolean) => {
    const n = xy.length / 2 + (close ? 1 : 0);
    const b = new Uint8Array(4 + n * 16);
    const v = new DataView(b.buffer);
    v.setUint32(0, n, true);
    for (let i = 0; i < xy.length; i++) v.setFloat64(4 + i * 8, xy[i], true);
    if (close) {
      v.setFloat64(4 + xy.length * 8, xy[0], true);
      v.setFloat64(4 + xy.length * 8 + 8, xy[1], true);
    }
    return b;
  };
  const geoms: Uint8Array[][] = [];
  for (let i = 0; i < s.points.length; i += 2) {
    const b = new Uint8Array(21);
    const v = new DataView(b.buffer);
    v.setUint8(0, 1);
    v.setUint32(1, 1, true);
    v.setFloat64(5, s.points[i], true);
    v.setFloat64(13, s.points[i + 1], true);
    geoms.push([b]);
  }
  for (const l of s.lines) geoms.push([header(2, l.length / 2).subarray(0, 5), coords(l, false)]);
  for (const p of s.polygons) geoms.push([header(3, p.length), ...p.map((r) => coords(r, true))]);
  if (geoms.length === 1) parts.push(...geoms[0]);
  else {
    parts.push(header(7, geoms.length));
    for (const g of geoms) parts.push(...g);
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Planar geometry in lon/lat

export function shapesEmpty(s: Shapes): boolean {
  return s.polygons.length === 0 && s.lines.length === 0 && s.points.length === 0;
}

export function vertexCount(s: Shapes): number {
  let n = s.points.length / 2;
  for (const l of s.lines) n += l.length / 2;
  for (const p of s.polygons) for (const r of p) n += r.length / 2;
  return n;
}

export function ringBBox(r: Ring, b: BBox = { xmin: Infinity, ymin: Infinity, xmax: -Infinity, ymax: -Infinity }): BBox {
  for (let i = 0; i < r.length; i += 2) {
    const x = r[i];
    const y = r[i + 1];
    if (x < b.xmin) b.xmin = x;
    if (x > b.xmax) b.xmax = x;
    if (y < b.ymin) b.ymin = y;
    if (y > b.ymax) b.ymax = y;
  }
  return b;
}

export function shapesBBox(s: Shapes): BBox {
  const b: BBox = { xmin: Infinity, ymin: Infinity, xmax: -Infinity, ymax: -Infinity };
  for (const p of s.polygons) ringBBox(p[0], b);
  for (const l of s.lines) ringBBox(l, b);
  for (let i = 0; i < s.points.length; i += 2) ringBBox(new Float64Array([s.points[i], s.points[i + 1]]), b);
  return b;
}

/** Signed shoelace area of a ring in square degrees (counter-clockwise positive). */
export function ringAreaDeg2(r: Ring): number {
  const n = r.length;
  if (n < 6) return 0;
  let s = 0;
  const x0 = r[0];
  const y0 = r[1];
  for (let i = 2; i < n - 2; i += 2) s += (r[i] - x0) * (r[i + 3] - y0) - (r[i + 2] - x0) * (r[i + 1] - y0);
  return s / 2;
}

/** Approximate area of a polygon in km² (outer minus holes, scaled at its mean latitude). */
export function polygonAreaKm2(p: Polygon): number {
  let a = Math.abs(ringAreaDeg2(p[0]));
  for (let i = 1; i < p.length; i++) a -= Math.abs(ringAreaDeg2(p[i]));
  const b = ringBBox(p[0]);
  const lat = ((b.ymin + b.ymax) / 2) * (Math.PI / 180);
  return Math.max(0, a) * KM_PER_DEG * KM_PER_DEG * Math.cos(lat);
}

/** Area of a polygon on the sphere in km², edges as straight lon/lat lines (for checks). */
export function polygonAreaSphericalKm2(p: Polygon): number {
  // ∫∫ cos(φ) dφ dλ over the region = Σ over edges of ∫ sin(φ) dλ, integrated exactly for a
  // straight lon/lat edge (φ linear in λ): ∫ sin(φ) dλ = Δλ · (cos φ1 − cos φ2) / (φ2 − φ1).
  const ring = (r: Ring): number => {
    let s = 0;
    const n = r.length / 2;
    const d = Math.PI / 180;
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      const l1 = r[2 * i] * d;
      const p1 = r[2 * i + 1] * d;
      const l2 = r[2 * j] * d;
      const p2 = r[2 * j + 1] * d;
      const dp = p2 - p1;
      const mean = Math.abs(dp) < 1e-9 ? Math.sin((p1 + p2) / 2) : (Math.cos(p1) - Math.cos(p2)) / dp;
      s += (l2 - l1) * mean;
    }
    return s;
  };
  let a = Math.abs(ring(p[0]));
  for (let i = 1; i < p.length; i++) a -= Math.abs(ring(p[i]));
  return a * EARTH_RADIUS_KM * EARTH_RADIUS_KM;
}

/** Mean H3 cell area (km²) at a resolution. */
export function meanCellAreaKm2(res: number): number {
  return MEAN_AREA_KM2[res];
}

/** Mean H3 cell edge length (km) at a resolution. */
export function meanEdgeKm(res: number): number {
  return MEAN_EDGE_KM[res];
}

/** Estimated cells of a polygon at a resolution (its area over the mean cell area). */
export function estimateCells(p: Polygon, res: number): number {
  return polygonAreaKm2(p) / meanCellAreaKm2(res);
}

function bboxCells(b: BBox, res: number): number {
  const lat = Math.min(Math.abs(b.ymin), Math.abs(b.ymax)) * (Math.PI / 180);
  const km2 = (b.xmax - b.xmin) * (b.ymax - b.ymin) * KM_PER_DEG * KM_PER_DEG * Math.cos(lat);
  return km2 / meanCellAreaKm2(res);
}

// Growable scratch buffer for the clippers.
let scratch = new Float64Array(1 << 16);
function ensureScratch(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
  return scratch;
}

/**
 * Sutherland–Hodgman clip of one ring against the half-plane `coord[axis] <= v` (keepLess) or
 * `>= v`. Intersection points lie exactly on the line, computed identically for both sides, so
 * the two halves of a ring share their cut edges bit for bit. Returns null when nothing is left
 * or the rest has no area.
 */
export function clipRingHalfPlane(r: Ring, axis: 0 | 1, v: number, keepLess: boolean): Ring | null {
  const n = r.length / 2;
  if (n < 3) return null;
  // Fast paths: the whole ring on one side.
  let allIn = true;
  let allOut = true;
  for (let i = axis; i < r.length; i += 2) {
    const inside = keepLess ? r[i] <= v : r[i] >= v;
    if (inside) allOut = false;
    else allIn = false;
    if (!allIn && !allOut) break;
  }
  if (allIn) return r;
  if (allOut) return null;
  const buf = ensureScratch(4 * n + 4);
  let k = 0;
  let px = r[2 * (n - 1)];
  let py = r[2 * (n - 1) + 1];
  let pIn = keepLess ? r[2 * (n - 1) + axis] <= v : r[2 * (n - 1) + axis] >= v;
  for (let i = 0; i < n; i++) {
    const cx = r[2 * i];
    const cy = r[2 * i + 1];
    const ca = axis === 0 ? cx : cy;
    const cIn = keepLess ? ca <= v : ca >= v;
    if (cIn !== pIn) {
      // intersection of (p → c) with the line; computed from the endpoints in edge order
      const pa = axis === 0 ? px : py;
      const po = axis === 0 ? py : px;
      const co = axis === 0 ? cy : cx;
      const t = (v - pa) / (ca - pa);
      const ov = po + (co - po) * t;
      const ix = axis === 0 ? v : ov;
      const iy = axis === 0 ? ov : v;
      if (k === 0 || buf[k - 2] !== ix || buf[k - 1] !== iy) {
        buf[k++] = ix;
        buf[k++] = iy;
      }
    }
    if (cIn && (k === 0 || buf[k - 2] !== cx || buf[k - 1] !== cy)) {
      buf[k++] = cx;
      buf[k++] = cy;
    }
    px = cx;
    py = cy;
    pIn = cIn;
  }
  if (k >= 4 && buf[0] === buf[k - 2] && buf[1] === buf[k - 1]) k -= 2;
  if (k < 6) return null;
  const out = buf.slice(0, k);
  if (Math.abs(ringAreaDeg2(out)) <= 1e-18) return null;
  return out;
}

/** Clips a polygon to a half-plane (rings clipped independently; exact for centre containment). */
export function clipPolygonHalfPlane(p: Polygon, axis: 0 | 1, v: number, keepLess: boolean): Polygon | null {
  const outer = clipRingHalfPlane(p[0], axis, v, keepLess);
  if (!outer) return null;
  const rings: Polygon = [outer];
  for (let i = 1; i < p.length; i++) {
    const h = clipRingHalfPlane(p[i], axis, v, keepLess);
    if (h) rings.push(h);
  }
  return rings;
}

/** Clips a polygon to the vertical strip xmin <= x <= xmax (either bound may be infinite). */
export function clipPolygonStrip(p: Polygon, xmin: number, xmax: number): Polygon | null {
  let q: Polygon | null = p;
  if (Number.isFinite(xmin)) q = clipPolygonHalfPlane(q, 0, xmin, false);
  if (q && Number.isFinite(xmax)) q = clipPolygonHalfPlane(q, 0, xmax, true);
  return q;
}

/** Pieces of a polyline inside the vertical strip xmin <= x <= xmax. */
export function clipLineStrip(l: Ring, xmin: number, xmax: number): Ring[] {
  const out: Ring[] = [];
  let cur: number[] = [];
  const n = l.length / 2;
  const push = (x: number, y: number) => {
    if (cur.length >= 2 && cur[cur.length - 2] === x && cur[cur.length - 1] === y) return;
    cur.push(x, y);
  };
  const flush = () => {
    if (cur.length >= 2) out.push(Float64Array.from(cur));
    cur = [];
  };
  if (n === 1) {
    if (l[0] >= xmin && l[0] <= xmax) out.push(l);
    return out;
  }
  for (let i = 0; i < n - 1; i++) {
    const x0 = l[2 * i];
    const y0 = l[2 * i + 1];
    const x1 = l[2 * i + 2];
    const y1 = l[2 * i + 3];
    let t0 = 0;
    let t1 = 1;
    const dx = x1 - x0;
    if (dx === 0) {
      if (x0 < xmin || x0 > xmax) {
        flush();
        continue;
      }
    } else {
      let ta = (xmin - x0) / dx;
      let tb = (xmax - x0) / dx;
      if (ta > tb) [ta, tb] = [tb, ta];
      t0 = Math.max(t0, ta);
      t1 = Math.min(t1, tb);
      if (t0 > t1) {
        flush();
        continue;
      }
    }
    const ax = t0 === 0 ? x0 : x0 + dx * t0;
    const ay = t0 === 0 ? y0 : y0 + (y1 - y0) * t0;
    const bx = t1 === 1 ? x1 : x0 + dx * t1;
    const by = t1 === 1 ? y1 : y0 + (y1 - y0) * t1;
    if (t0 > 0) flush();
    push(ax, ay);
    push(bx, by);
    if (t1 < 1) flush();
  }
  flush();
  return out;
}

/** Point in polygon (even-odd over all rings). */
export function pointInPolygon(p: Polygon, x: number, y: number): boolean {
  let inside = false;
  for (const r of p) {
    const n = r.length / 2;
    let j = n - 1;
    for (let i = 0; i < n; i++) {
      const xi = r[2 * i];
      const yi = r[2 * i + 1];
      const xj = r[2 * j];
      const yj = r[2 * j + 1];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
      j = i;
    }
  }
  return inside;
}

/**
 * A point strictly inside the polygons (the GEOS InteriorPoint idea): a horizontal scan line
 * halfway between the vertex latitudes nearest the middle of the largest polygon, crossed with
 * every edge; the midpoint of the widest inside interval. Null when no polygon has area.
 */
export function pointOnSurface(polys: Polygon[]): [number, number] | null {
  const order = polys
    .map((p) => ({ p, a: Math.abs(ringAreaDeg2(p[0])) }))
    .filter((e) => e.a > 0)
    .sort((a, b) => b.a - a.a);
  for (const { p } of order) {
    const b = ringBBox(p[0]);
    const mid = (b.ymin + b.ymax) / 2;
    let below = -Infinity;
    let above = Infinity;
    for (const r of p)
      for (let i = 1; i < r.length; i += 2) {
        const y = r[i];
        if (y <= mid && y > below) below = y;
        if (y > mid && y < above) above = y;
      }
    const y = below === -Infinity ? (mid + above) / 2 : above === Infinity ? (mid + below) / 2 : (below + above) / 2;
    const xs: number[] = [];
    for (const r of p) {
      const n = r.length / 2;
      for (let i = 0, j = n - 1; i < n; j = i++) {
        const yi = r[2 * i + 1];
        const yj = r[2 * j + 1];
        if (yi > y !== yj > y) {
          const xi = r[2 * i];
          const xj = r[2 * j];
          xs.push(xi + ((y - yi) * (xj - xi)) / (yj - yi));
        }
      }
    }
    xs.sort((a, c) => a - c);
    let best = -1;
    let bx = 0;
    for (let i = 0; i + 1 < xs.length; i += 2) {
      const w = xs[i + 1] - xs[i];
      if (w > best) {
        best = w;
        bx = (xs[i] + xs[i + 1]) / 2;
      }
    }
    if (best > 0) return [bx, y];
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The antimeridian

function hasWideEdge(r: Ring): boolean {
  const n = r.length;
  for (let i = 0; i < n; i += 2) {
    const j = (i + 2) % n;
    if (Math.abs(r[i] - r[j]) > 180) return true;
  }
  return false;
}

function hasWideSegment(l: Ring): boolean {
  for (let i = 0; i + 2 < l.length; i += 2) if (Math.abs(l[i] - l[i + 2]) > 180) return true;
  return false;
}

/** Moves vertices at exactly ±180 to the side of the ring's other vertices (180 vs −180). */
function snapAntimeridian(r: Ring): Ring {
  let east = false;
  let west = false;
  let on = false;
  for (let i = 0; i < r.length; i += 2) {
    const x = r[i];
    if (x === 180 || x === -180) on = true;
    else if (x > 0) east = true;
    else west = true;
  }
  if (!on || east === west) return r;
  const out = Float64Array.from(r);
  const to = east ? 180 : -180;
  for (let i = 0; i < out.length; i += 2) if (out[i] === 180 || out[i] === -180) out[i] = to;
  return out;
}

/**
 * Makes a polygon safe for H3 and for planar clipping: H3 reads an edge spanning more than 180°
 * of longitude as crossing the antimeridian. Convert already splits at ±180, but a ring may still
 * carry -180 where 180 is meant (or the reverse); such vertices are moved to the ring's side. A
 * ring that really crosses (179 → -179) is cut at 180 into an east and a west polygon.
 */
export function normalizePolygon(p: Polygon): Polygon[] {
  if (!p.some(hasWideEdge)) return [p];
  const q = p.map(snapAntimeridian);
  if (!q.some(hasWideEdge)) return [q];
  const shifted = q.map((r) => {
    const s = Float64Array.from(r);
    for (let i = 0; i < s.length; i += 2) if (s[i] < 0) s[i] += 360;
    return s;
  });
  const out: Polygon[] = [];
  const east = clipPolygonHalfPlane(shifted, 0, 180, true);
  if (east) out.push(east);
  const west = clipPolygonHalfPlane(shifted, 0, 180, false);
  if (west)
    out.push(
      west.map((r) => {
        const s = Float64Array.from(r);
        for (let i = 0; i < s.length; i += 2) s[i] -= 360;
        return s;
      }),
    );
  return out;
}

/** Lines: segments spanning more than 180° are cut at the antimeridian. */
export function normalizeLine(l: Ring): Ring[] {
  if (!hasWideSegment(l)) return [l];
  const s = snapAntimeridian(l);
  if (!hasWideSegment(s)) return [s];
  const out: Ring[] = [];
  let cur: number[] = [s[0], s[1]];
  for (let i = 0; i + 2 < s.length; i += 2) {
    const x0 = s[i];
    const y0 = s[i + 1];
    const x1 = s[i + 2];
    const y1 = s[i + 3];
    if (Math.abs(x1 - x0) > 180) {
      const side = x0 > 0 ? 180 : -180;
      const x1u = x0 > 0 ? x1 + 360 : x1 - 360;
      const t = (side - x0) / (x1u - x0);
      const y = y0 + (y1 - y0) * t;
      cur.push(side, y);
      out.push(Float64Array.from(cur));
      cur = [-side, y];
    }
    cur.push(x1, y1);
  }
  out.push(Float64Array.from(cur));
  return out;
}

/** All parts normalized for the antimeridian. */
export function normalizeShapes(s: Shapes): Shapes {
  return {
    polygons: s.polygons.flatMap(normalizePolygon),
    lines: s.lines.flatMap(normalizeLine),
    points: s.points.map((v, i) => (i % 2 === 0 && v === -180 ? 180 : v)),
  };
}

/**
 * The part of shapes inside piece `piece` of `pieces` equal-width longitude strips of `bbox`
 * (the feature's bbox). The outer strips are open-ended, so the pieces always cover the whole.
 */
export function clipShapesToPiece(s: Shapes, bbox: BBox, piece: number, pieces: number): Shapes {
  const w = (bbox.xmax - bbox.xmin) / pieces;
  const a = piece === 0 ? -Infinity : bbox.xmin + piece * w;
  const b = piece === pieces - 1 ? Infinity : bbox.xmin + (piece + 1) * w;
  const out: Shapes = { polygons: [], lines: [], points: [] };
  for (const p of s.polygons) {
    const q = clipPolygonStrip(p, a, b);
    if (q) out.polygons.push(q);
  }
  for (const l of s.lines) out.lines.push(...clipLineStrip(l, a, b));
  for (let i = 0; i < s.points.length; i += 2) {
    const x = s.points[i];
    if (x >= a && (x < b || b === Infinity)) out.points.push(x, s.points[i + 1]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// H3

const E_MEMORY_BOUNDS = 14;
const FLAG: Record<Containment, number> = { center: 0, overlap: 2 };

interface RawH3 {
  libh3: {
    _malloc(n: number): number;
    _calloc(n: number, size: number): number;
    _free(p: number): void;
    _cellToLatLng?: (lo: number, hi: number, out: number) => number;
    HEAPU32: Uint32Array;
    HEAPF64: Float64Array;
  };
  H3: Record<string, (...args: number[]) => number>;
}

/** Evaluates h3-js's CommonJS build privately to reach its Emscripten module and C bindings. */
function loadRawH3(): RawH3 | null {
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve('h3-js');
    const src = readFileSync(main, 'utf8');
    const mod = { exports: {} as Record<string, unknown> };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    new Function('exports', 'require', 'module', `${src}\n;module.exports.__cngRaw = { libh3: libh3, H3: H3 };`)(mod.exports, require, mod);
    const raw = mod.exports.__cngRaw as RawH3 | undefined;
    if (!raw?.libh3?._malloc || typeof raw.H3?.polygonToCellsExperimental !== 'function') return null;
    const H3 = raw.H3;
    if (H3.sizeOfGeoPolygon() !== 16 || H3.sizeOfGeoLoop() !== 8 || H3.sizeOfLatLng() !== 16 || H3.sizeOfH3Index() !== 8) return null;
    return raw;
  } catch {
    return null;
  }
}

/** H3 operations on cells as (low, high) uint32 pairs. One per thread. */
export class H3Engine {
  private readonly raw: RawH3 | null;
  private readonly tmp: number;
  /** Whether the fast path (h3-js's compiled core, no strings) is in use. */
  readonly fast: boolean;

  constructor(opts: { fast?: boolean } = {}) {
    this.raw = opts.fast === false ? null : loadRawH3();
    this.fast = this.raw !== null;
    this.tmp = this.raw ? this.raw.libh3._malloc(64) : 0;
  }

  /** Cells of one polygon (no splitting; see {@link polygonCells}). */
  polyfill(p: Polygon, res: number, mode: Containment): Uint32Array {
    if (!this.raw) {
      const coords = p.map((r) => {
        const a: number[][] = [];
        for (let i = 0; i < r.length; i += 2) a.push([r[i], r[i + 1]]);
        return a;
      });
      const h3 = pub();
      const flag = mode === 'overlap' ? h3.POLYGON_TO_CELLS_FLAGS.containmentOverlapping : h3.POLYGON_TO_CELLS_FLAGS.containmentCenter;
      return hexToPairs(h3.polygonToCellsExperimental(coords, res, flag, true));
    }
    const { libh3, H3 } = this.raw;
    const geo = this.writePolygon(p);
    try {
      const b = ringBBox(p[0]);
      // A generous guess (cell areas vary about 2× over the globe); E_MEMORY_BOUNDS → H3's own bound.
      let size = Math.ceil(2.2 * bboxCells(b, res) + 64);
      if (mode === 'overlap') {
        const lat = Math.cos(Math.min(Math.abs(b.ymin), Math.abs(b.ymax)) * (Math.PI / 180));
        const edge = meanEdgeKm(res);
        size += Math.ceil((4 * ((b.xmax - b.xmin) * KM_PER_DEG * lat + (b.ymax - b.ymin) * KM_PER_DEG)) / edge + 64);
      }
      let exact = false;
      for (;;) {
        if (size > 0x7fffffff / 8) throw new Error(`polygon too large for one H3 call (${size} cells); split it first`);
        const out = libh3._calloc(size, 8);
        if (!out) throw new Error(`h3-js heap exhausted allocating ${size} cells`);
        const err = H3.polygonToCellsExperimental(geo, res, FLAG[mode], size, 0, out);
        if (err === 0) {
          const u32 = libh3.HEAPU32;
          const base = out >>> 2;
          let n = 0;
          while (n < size && u32[base + 2 * n + 1] !== 0) n++;
          const cells = u32.slice(base, base + 2 * n);
          libh3._free(out);
          return cells;
        }
        libh3._free(out);
        if (err !== E_MEMORY_BOUNDS || exact) throw new Error(`H3 polygonToCellsExperimental failed (error ${err})`);
        H3.maxPolygonToCellsSizeExperimental(geo, res, FLAG[mode], this.tmp);
        const u = libh3.HEAPU32;
        size = u[this.tmp >>> 2] + u[(this.tmp >>> 2) + 1] * 2 ** 32;
        exact = true;
      }
    } finally {
      this.freePolygon(geo, p.length - 1);
    }
  }

  /** The cell containing a point; writes the pair at out[2i], out[2i+1]. */
  cellAt(x: number, y: number, res: number, out: Uint32Array, i: number): void {
    if (!this.raw) {
      const s = pub().latLngToCell(y, x, res);
      out[2 * i] = parseInt(s.slice(-8), 16);
      out[2 * i + 1] = parseInt(s.slice(0, -8), 16);
      return;
    }
    const { libh3, H3 } = this.raw;
    const f64 = libh3.HEAPF64;
    f64[this.tmp >>> 3] = (y * Math.PI) / 180;
    f64[(this.tmp >>> 3) + 1] = (x * Math.PI) / 180;
    const err = H3.latLngToCell(this.tmp, res, this.tmp + 16);
    if (err !== 0) throw new Error(`H3 latLngToCell(${y}, ${x}) failed (error ${err})`);
    const u = libh3.HEAPU32;
    out[2 * i] = u[(this.tmp + 16) >>> 2];
    out[2 * i + 1] = u[((this.tmp + 16) >>> 2) + 1];
  }

  /** The centre of a cell as [lng, lat] degrees. */
  cellCenter(lo: number, hi: number): [number, number] {
    if (!this.raw) {
      const [lat, lng] = pub().cellToLatLng(pub().splitLongToH3Index(lo, hi));
      return [lng, lat];
    }
    const err = this.raw.H3.cellToLatLng(lo, hi, this.tmp);
    if (err !== 0) throw new Error(`H3 cellToLatLng failed (error ${err})`);
    const f64 = this.raw.libh3.HEAPF64;
    return [(f64[(this.tmp >>> 3) + 1] * 180) / Math.PI, (f64[this.tmp >>> 3] * 180) / Math.PI];
  }

  /** Cells of points (deduplicated). */
  pointCells(points: ArrayLike<number>, res: number): Uint32Array {
    const out = new Uint32Array(points.length);
    for (let i = 0; i < points.length / 2; i++) this.cellAt(points[2 * i], points[2 * i + 1], res, out, i);
    return uniqueCells(out);
  }

  /**
   * Cells a polyline passes through: every vertex plus samples along each segment (a straight
   * lon/lat line, as polygon edges) at most a quarter of the average cell edge apart.
   */
  lineCells(l: Ring, res: number): Uint32Array {
    const step = meanEdgeKm(res) / 4;
    let out = new Uint32Array(256);
    let n = 0;
    const one = new Uint32Array(2);
    const add = (x: number, y: number) => {
      this.cellAt(x, y, res, one, 0);
      if (n > 0 && out[2 * n - 2] === one[0] && out[2 * n - 1] === one[1]) return;
      if (2 * n + 2 > out.length) {
        const g = new Uint32Array(out.length * 2);
        g.set(out);
        out = g;
      }
      out[2 * n] = one[0];
      out[2 * n + 1] = one[1];
      n++;
    };
    const m = l.length / 2;
    add(l[0], l[1]);
    for (let i = 0; i + 1 < m; i++) {
      const x0 = l[2 * i];
      const y0 = l[2 * i + 1];
      const x1 = l[2 * i + 2];
      const y1 = l[2 * i + 3];
      const km = Math.hypot((x1 - x0) * Math.cos((((y0 + y1) / 2) * Math.PI) / 180), y1 - y0) * KM_PER_DEG;
      const k = Math.max(1, Math.ceil(km / step));
      for (let j = 1; j <= k; j++) add(x0 + ((x1 - x0) * j) / k, y0 + ((y1 - y0) * j) / k);
    }
    return uniqueCells(out.subarray(0, 2 * n));
  }

  /**
   * Centre containment, computed here rather than by H3's polyfill (same cells): the hierarchy is
   * walked from the cells of a grid disk around the polygon at a coarse resolution. A cell whose
   * children's bounding box (H3's own bound: centre ± max edge, scaled 1.4) touches no polygon
   * edge is wholly inside — all its descendants, enumerated with bit operations — or wholly
   * outside — dropped (H3 descends those too, which is most of its cost); otherwise its children
   * are visited. Cells at the resolution are kept when their centre is inside (even-odd, edges as
   * straight lon/lat lines, as H3). Point and box tests go through an edge index, so the cost no
   * longer grows with vertices × cells, and h3-js is asked only for cell centres. Small polygons
   * test a grid disk at the resolution directly. Null when the fast path does not apply (within
   * 2° of a pole, or wider than 90°): the caller uses H3's polyfill.
   */
  polyfillCenterFast(p: Polygon, res: number): Uint32Array | null {
    if (!this.raw) return null;
    const b = ringBBox(p[0]);
    if (b.ymax > 88 || b.ymin < -88 || b.xmax - b.xmin > 90) return null; // H3's polyfill handles these
    const idx = new EdgeIndex(p);
    const { libh3, H3 } = this.raw;
    const D = Math.PI / 180;
    // Start: every cell of a coarse resolution near the polygon (grid disk around its middle).
    const midLat = (b.ymin + b.ymax) / 2;
    const midLng = (b.xmin + b.xmax) / 2;
    const halfDiagKm = Math.max(
      greatCircleKm(midLat, midLng, b.ymin, b.xmin),
      greatCircleKm(midLat, midLng, b.ymin, b.xmax),
      greatCircleKm(midLat, midLng, b.ymax, b.xmin),
      greatCircleKm(midLat, midLng, b.ymax, b.xmax),
    );
    let rs = res;
    while (rs > 0 && MEAN_EDGE_KM[rs] * 0.5 < halfDiagKm) rs--;
    // A small polygon: test the cells of a grid disk at the resolution directly. Cell centres at
    // grid distance k are ≥ ~1.5·k edges away (0.8 for distortion); inside centres are within
    // the half-diagonal of the bbox centre, whose own cell centre is within ~1.2 edges of it.
    const kDirect = Math.ceil((halfDiagKm + 1.2 * MEAN_EDGE_KM[res]) / (1.5 * 0.8 * MEAN_EDGE_KM[res])) + 1;
    const direct = kDirect <= 6;
    if (direct) rs = res;
    const out = new CellBuffer(1.15 * estimateCells(p, res) + 64);
    const stack: number[] = []; // (lo, hi, res) triples
    {
      const f64 = libh3.HEAPF64;
      f64[this.tmp >>> 3] = midLat * D;
      f64[(this.tmp >>> 3) + 1] = midLng * D;
      if (H3.latLngToCell(this.tmp, rs, this.tmp + 16) !== 0) return null;
      const u = libh3.HEAPU32;
      const clo = u[(this.tmp + 16) >>> 2];
      const chi = u[((this.tmp + 16) >>> 2) + 1];
      // Every cell with a descendant centre in the polygon lies within ~3.1 cells' radii of this
      // cell's centre (half-diagonal ≤ ½ edge, + the cell, + H3's 1.4 × max-edge child bound);
      // ring 2 reaches beyond 3 radii, ring 3 starts at ~4.5.
      const k = direct ? kDirect : 2;
      const size = 3 * k * (k + 1) + 1;
      const disk = libh3._calloc(size, 8);
      const err = H3.gridDisk(clo, chi, k, disk);
      if (err !== 0) {
        libh3._free(disk);
        return null;
      }
      const du = libh3.HEAPU32;
      for (let i = 0; i < size; i++) {
        const lo = du[(disk >>> 2) + 2 * i];
        const hi = du[(disk >>> 2) + 2 * i + 1];
        if (hi !== 0) stack.push(lo, hi, rs);
      }
      libh3._free(disk);
    }
    const bx0 = b.xmin * D;
    const bx1 = b.xmax * D;
    const by0 = b.ymin * D;
    const by1 = b.ymax * D;
    const cellToLatLng = libh3._cellToLatLng ?? H3.cellToLatLng; // the export itself skips cwrap's argument handling
    const tmp = this.tmp;
    const t8 = tmp >>> 3;
    while (stack.length > 0) {
      const r = stack.pop()!;
      const hi = stack.pop()!;
      const lo = stack.pop()!;
      cellToLatLng(lo, hi, tmp);
      const f64 = libh3.HEAPF64;
      const lat = f64[t8];
      const lng = f64[t8 + 1];
      if (r === res) {
        if (idx.contains(lng, lat)) out.push(lo, hi);
        continue;
      }
      // H3's cellToBBox(cell, coverChildren = true)
      const e = MAX_EDGE_RADS[r];
      const halfH = e * CHILD_SCALE;
      const halfW = (e / Math.cos(lat)) * CHILD_SCALE;
      const n = lat + halfH;
      const sth = lat - halfH;
      const east = lng + halfW;
      const west = lng - halfW;
      const wild = n >= Math.PI / 2 || sth <= -Math.PI / 2 || east > Math.PI || west < -Math.PI || !Number.isFinite(halfW);
      if (!wild) {
        if (east < bx0 || west > bx1 || n < by0 || sth > by1) continue;
        const side = idx.boxSide(west, sth, east, n);
        if (side < 0) continue; // no descendant centre can be inside
        if (side > 0) {
          out.descendants(lo, hi, r, res);
          continue;
        }
      }
      pushChildren(stack, lo, hi, r);
    }
    return out.take();
  }

  private writePolygon(p: Polygon): number {
    const { libh3 } = this.raw!;
    const geo = libh3._calloc(1, 16);
    const holes = p.length > 1 ? libh3._calloc(p.length - 1, 8) : 0;
    const loops = [geo, ...Array.from({ length: p.length - 1 }, (_, i) => holes + 8 * i)];
    for (let k = 0; k < p.length; k++) {
      const r = p[k];
      const n = r.length / 2;
      const verts = libh3._malloc(n * 16);
      if (!verts) throw new Error(`h3-js heap exhausted writing ${n} vertices`);
      const f64 = libh3.HEAPF64;
      const base = verts >>> 3;
      for (let i = 0; i < n; i++) {
        f64[base + 2 * i] = (r[2 * i + 1] * Math.PI) / 180;
        f64[base + 2 * i + 1] = (r[2 * i] * Math.PI) / 180;
      }
      const u32 = libh3.HEAPU32;
      u32[loops[k] >>> 2] = n;
      u32[(loops[k] >>> 2) + 1] = verts;
    }
    const u32 = libh3.HEAPU32;
    u32[(geo >>> 2) + 2] = p.length - 1;
    u32[(geo >>> 2) + 3] = holes;
    return geo;
  }

  private freePolygon(geo: number, numHoles: number): void {
    const { libh3 } = this.raw!;
    const u32 = libh3.HEAPU32;
    libh3._free(u32[(geo >>> 2) + 1]);
    const holes = u32[(geo >>> 2) + 3];
    for (let i = 0; i < numHoles; i++) libh3._free(u32[((holes + 8 * i) >>> 2) + 1]);
    if (holes) libh3._free(holes);
    libh3._free(geo);
  }
}

// ---------------------------------------------------------------------------------------------
// The fast centre polyfill's parts

/** H3's MAX_EDGE_LENGTH_RADS (polyfill.c) and CHILD_SCALE_FACTOR: a bbox covering all children. */
const MAX_EDGE_RADS = [
  0.2157720626513, 0.08308767068495, 0.03148970436439, 0.01190662871439, 0.00450053330908, 0.00170105523619, 0.00064293917678, 0.00024300820659,
  0.00009184847087, 0.00003471545901, 0.00001312121017, 0.00000495935129, 0.0000018744586, 0.00000070847876, 0.0000002677798, 0.00000010121125,
];
const CHILD_SCALE = 1.4;
const PENTAGON_BASE_CELLS = new Set([4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117]);

function greatCircleKm(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const d = Math.PI / 180;
  const s1 = Math.sin(((lat2 - lat1) * d) / 2);
  const s2 = Math.sin(((lng2 - lng1) * d) / 2);
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(s1 * s1 + Math.cos(lat1 * d) * Math.cos(lat2 * d) * s2 * s2)));
}

/** Digit `k` (1–15) of a cell. */
function getDigit(lo: number, hi: number, k: number): number {
  const pos = (15 - k) * 3;
  if (pos >= 32) return (hi >>> (pos - 32)) & 7;
  if (pos <= 29) return (lo >>> pos) & 7;
  return ((lo >>> 30) | (hi << 2)) & 7; // digit 5 straddles the words
}

function isPentagonCell(lo: number, hi: number, r: number): boolean {
  if (!PENTAGON_BASE_CELLS.has((hi >>> 13) & 0x7f)) return false;
  for (let k = 1; k <= r; k++) if (getDigit(lo, hi, k) !== 0) return false;
  return true;
}

/** Pushes the children (lo, hi, r + 1) of a cell; a pentagon has no child of digit 1. */
function pushChildren(stack: number[], lo: number, hi: number, r: number): void {
  const k = r + 1;
  const pos = (15 - k) * 3;
  const hiRes = (hi & ~(0xf << 20)) | (k << 20);
  const pent = isPentagonCell(lo, hi, r);
  for (let d = 6; d >= 0; d--) {
    if (d === 1 && pent) continue;
    let clo = lo;
    let chi = hiRes;
    if (pos >= 32) chi = (chi & ~(7 << (pos - 32))) | (d << (pos - 32));
    else if (pos <= 29) clo = ((clo & ~(7 << pos)) | (d << pos)) >>> 0;
    else {
      clo = ((clo & 0x3fffffff) | ((d & 3) << 30)) >>> 0;
      chi = (chi & ~1) | (d >>> 2);
    }
    stack.push(clo, chi >>> 0, k);
  }
}

/** A growable buffer of (lo, hi) cells with bit-operation descendant enumeration. */
class CellBuffer {
  private buf: Uint32Array;
  private n = 0;

  constructor(cells = 512) {
    this.buf = new Uint32Array(2 * Math.max(16, Math.ceil(cells)));
  }

  push(lo: number, hi: number): void {
    if (this.n + 2 > this.buf.length) this.grow(this.n + 2);
    this.buf[this.n++] = lo;
    this.buf[this.n++] = hi;
  }

  private grow(min: number): void {
    const g = new Uint32Array(Math.max(min, this.buf.length * 2));
    g.set(this.buf.subarray(0, this.n));
    this.buf = g;
  }

  /** All descendants at resolution t of cell (lo, hi) at resolution r, in H3's child order. */
  descendants(lo: number, hi: number, r: number, t: number): void {
    const count = 7 ** (t - r);
    if (this.n + 2 * count > this.buf.length) this.grow(this.n + 2 * count);
    const hiRes = ((hi & ~(0xf << 20)) | (t << 20)) >>> 0;
    this.walk(lo, hiRes, r, t, isPentagonCell(lo, hi, r));
  }

  private walk(lo: number, hi: number, k: number, t: number, pent: boolean): void {
    if (k === t) {
      this.buf[this.n++] = lo;
      this.buf[this.n++] = hi;
      return;
    }
    const j = k + 1;
    const pos = (15 - j) * 3;
    if (pos <= 29 && j === t) {
      // the last level, all in the low word: unrolled
      const base = (lo & ~(7 << pos)) >>> 0;
      const buf = this.buf;
      let n = this.n;
      for (let d = 0; d < 7; d++) {
        if (d === 1 && pent) continue;
        buf[n++] = (base | (d << pos)) >>> 0;
        buf[n++] = hi;
      }
      this.n = n;
      return;
    }
    for (let d = 0; d < 7; d++) {
      if (d === 1 && pent) continue;
      let clo = lo;
      let chi = hi;
      if (pos >= 32) chi = ((chi & ~(7 << (pos - 32))) | (d << (pos - 32))) >>> 0;
      else if (pos <= 29) clo = ((clo & ~(7 << pos)) | (d << pos)) >>> 0;
      else {
        clo = ((clo & 0x3fffffff) | ((d & 3) << 30)) >>> 0;
        chi = ((chi & ~1) | (d >>> 2)) >>> 0;
      }
      this.walk(clo, chi, j, t, pent && d === 0);
    }
  }

  take(): Uint32Array {
    return this.buf.slice(0, this.n);
  }
}

/**
 * Edges of a polygon (radians), indexed for point-in-polygon (rows of latitude) and for
 * "does any edge touch this box" (a grid).
 */
class EdgeIndex {
  private readonly ax: Float64Array;
  private readonly ay: Float64Array;
  private readonly bx: Float64Array;
  private readonly by: Float64Array;
  private readonly x0: number;
  private readonly y0: number;
  private readonly rows: number;
  private readonly rowH: number;
  private readonly rowStart: Int32Array;
  private readonly rowEdges: Int32Array;
  private readonly gx: number;
  private readonly gy: number;
  private readonly cw: number;
  private readonly ch: number;
  private readonly cellStart: Int32Array;
  private readonly cellEdges: Int32Array;
  private readonly stamp: Int32Array;
  private stampN = 0;

  constructor(p: Polygon) {
    let m = 0;
    for (const r of p) m += r.length >> 1;
    this.ax = new Float64Array(m);
    this.ay = new Float64Array(m);
    this.bx = new Float64Array(m);
    this.by = new Float64Array(m);
    let e = 0;
    let xmin = Infinity;
    let xmax = -Infinity;
    let ymin = Infinity;
    let ymax = -Infinity;
    for (const r of p) {
      const n = r.length >> 1;
      for (let i = 0; i < n; i++) {
        const j = i + 1 === n ? 0 : i + 1;
        // degrees → radians exactly as h3-js does (deg * Math.PI / 180)
        const x1 = (r[2 * i] * Math.PI) / 180;
        const y1 = (r[2 * i + 1] * Math.PI) / 180;
        const x2 = (r[2 * j] * Math.PI) / 180;
        const y2 = (r[2 * j + 1] * Math.PI) / 180;
        this.ax[e] = x1;
        this.ay[e] = y1;
        this.bx[e] = x2;
        this.by[e] = y2;
        e++;
        if (x1 < xmin) xmin = x1;
        if (x1 > xmax) xmax = x1;
        if (y1 < ymin) ymin = y1;
        if (y1 > ymax) ymax = y1;
      }
    }
    this.x0 = xmin;
    this.y0 = ymin;
    const w = Math.max(xmax - xmin, 1e-12);
    const h = Math.max(ymax - ymin, 1e-12);
    const { ax, ay, bx, by } = this;
    // rows for the ray cast: about 4 edges per row
    const rows = Math.max(1, Math.min(1 << 16, Math.ceil(m / 4)));
    const rowH = h / rows;
    this.rows = rows;
    this.rowH = rowH;
    // grid for box queries: about 2 edges per cell
    const side = Math.max(1, Math.min(512, Math.ceil(Math.sqrt(m / 2))));
    const aspect = w / h;
    const gx = Math.max(1, Math.min(1024, Math.round(side * Math.sqrt(aspect))));
    const gy = Math.max(1, Math.min(1024, Math.round(side / Math.sqrt(aspect))));
    this.gx = gx;
    this.gy = gy;
    this.cw = w / gx;
    this.ch = h / gy;
    const cw = this.cw;
    const ch = this.ch;
    // each edge's row range and grid range, then counting sort into flat lists
    const r0 = new Int32Array(m);
    const r1 = new Int32Array(m);
    const c0 = new Int32Array(m);
    const c1 = new Int32Array(m);
    const g0 = new Int32Array(m);
    const g1 = new Int32Array(m);
    const rc = new Int32Array(rows + 1);
    const cc = new Int32Array(gx * gy + 1);
    for (let i = 0; i < m; i++) {
      const ylo = ay[i] < by[i] ? ay[i] : by[i];
      const yhi = ay[i] < by[i] ? by[i] : ay[i];
      const xlo = ax[i] < bx[i] ? ax[i] : bx[i];
      const xhi = ax[i] < bx[i] ? bx[i] : ax[i];
      let a = Math.floor((ylo - ymin) / rowH);
      let b = Math.floor((yhi - ymin) / rowH);
      a = a < 0 ? 0 : a >= rows ? rows - 1 : a;
      b = b < 0 ? 0 : b >= rows ? rows - 1 : b;
      r0[i] = a;
      r1[i] = b;
      for (let k = a; k <= b; k++) rc[k + 1]++;
      let x0 = Math.floor((xlo - xmin) / cw);
      let x1 = Math.floor((xhi - xmin) / cw);
      let y0 = Math.floor((ylo - ymin) / ch);
      let y1 = Math.floor((yhi - ymin) / ch);
      x0 = x0 < 0 ? 0 : x0 >= gx ? gx - 1 : x0;
      x1 = x1 < 0 ? 0 : x1 >= gx ? gx - 1 : x1;
      y0 = y0 < 0 ? 0 : y0 >= gy ? gy - 1 : y0;
      y1 = y1 < 0 ? 0 : y1 >= gy ? gy - 1 : y1;
      c0[i] = x0;
      c1[i] = x1;
      g0[i] = y0;
      g1[i] = y1;
      for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) cc[y * gx + x + 1]++;
    }
    for (let k = 0; k < rows; k++) rc[k + 1] += rc[k];
    for (let k = 0; k < gx * gy; k++) cc[k + 1] += cc[k];
    this.rowStart = rc;
    this.cellStart = cc;
    const rowEdges = new Int32Array(rc[rows]);
    const cellEdges = new Int32Array(cc[gx * gy]);
    const rf = rc.slice(0, rows);
    const cf = cc.slice(0, gx * gy);
    for (let i = 0; i < m; i++) {
      for (let k = r0[i], e = r1[i]; k <= e; k++) rowEdges[rf[k]++] = i;
      for (let y = g0[i], ye = g1[i]; y <= ye; y++) for (let x = c0[i], xe = c1[i]; x <= xe; x++) cellEdges[cf[y * gx + x]++] = i;
    }
    this.rowEdges = rowEdges;
    this.cellEdges = cellEdges;
    this.stamp = new Int32Array(m);
    this.ymaxR = ymax;
    this.xmaxR = xmax;
  }

  private readonly ymaxR: number;
  private readonly xmaxR: number;

  private colOf(x: number): number {
    return Math.min(this.gx - 1, Math.max(0, Math.floor((x - this.x0) / this.cw)));
  }

  private gRowOf(y: number): number {
    return Math.min(this.gy - 1, Math.max(0, Math.floor((y - this.y0) / this.ch)));
  }

  /** Even-odd point in polygon (x = lng, y = lat, radians). */
  contains(x: number, y: number): boolean {
    if (y < this.y0 || y > this.ymaxR || x < this.x0 || x > this.xmaxR) return false;
    const row = Math.min(this.rows - 1, Math.max(0, Math.floor((y - this.y0) / this.rowH)));
    let inside = false;
    const { ax, ay, bx, by, rowEdges } = this;
    for (let k = this.rowStart[row], end = this.rowStart[row + 1]; k < end; k++) {
      const i = rowEdges[k];
      const y1 = ay[i];
      const y2 = by[i];
      if (y1 > y !== y2 > y) {
        const x1 = ax[i];
        if (x < x1 + ((y - y1) * (bx[i] - x1)) / (y2 - y1)) inside = !inside;
      }
    }
    return inside;
  }

  /**
   * Where a box lies: 1 inside the polygon, −1 outside, 0 touching an edge (boxes that touch no
   * edge are wholly on one side, told by one corner).
   */
  boxSide(x0: number, y0: number, x1: number, y1: number): -1 | 0 | 1 {
    const stamp = ++this.stampN;
    const cx0 = this.colOf(x0);
    const cx1 = this.colOf(x1);
    const cy0 = this.gRowOf(y0);
    const cy1 = this.gRowOf(y1);
    const { ax, ay, bx, by, cellEdges, cellStart } = this;
    for (let gy = cy0; gy <= cy1; gy++)
      for (let gx = cx0; gx <= cx1; gx++) {
        const c = gy * this.gx + gx;
        for (let k = cellStart[c], end = cellStart[c + 1]; k < end; k++) {
          const i = cellEdges[k];
          if (this.stamp[i] === stamp) continue;
          this.stamp[i] = stamp;
          if (segmentTouchesBox(ax[i], ay[i], bx[i], by[i], x0, y0, x1, y1)) return 0;
        }
      }
    return this.contains(x0, y0) ? 1 : -1;
  }
}

function segmentTouchesBox(ax: number, ay: number, bx: number, by: number, x0: number, y0: number, x1: number, y1: number): boolean {
  if (Math.max(ax, bx) < x0 || Math.min(ax, bx) > x1 || Math.max(ay, by) < y0 || Math.min(ay, by) > y1) return false;
  if ((ax >= x0 && ax <= x1 && ay >= y0 && ay <= y1) || (bx >= x0 && bx <= x1 && by >= y0 && by <= y1)) return true;
  // the line's side at the four corners: all strictly on one side → no contact
  const dx = bx - ax;
  const dy = by - ay;
  const s1 = dx * (y0 - ay) - dy * (x0 - ax);
  const s2 = dx * (y0 - ay) - dy * (x1 - ax);
  const s3 = dx * (y1 - ay) - dy * (x0 - ax);
  const s4 = dx * (y1 - ay) - dy * (x1 - ax);
  return !((s1 > 0 && s2 > 0 && s3 > 0 && s4 > 0) || (s1 < 0 && s2 < 0 && s3 < 0 && s4 < 0));
}

/** Hex strings → (low, high) pairs. */
export function hexToPairs(cells: readonly string[]): Uint32Array {
  const out = new Uint32Array(2 * cells.length);
  for (let i = 0; i < cells.length; i++) {
    const s = cells[i];
    out[2 * i] = parseInt(s.slice(-8), 16);
    out[2 * i + 1] = parseInt(s.slice(0, -8), 16);
  }
  return out;
}

/** Sorted unique cells (a copy). */
export function uniqueCells(pairs: Uint32Array): Uint32Array {
  const n = pairs.length / 2;
  if (n <= 1) return pairs.slice();
  const v = new BigUint64Array(pairs.slice().buffer, 0, n).sort();
  let k = 0;
  for (let i = 0; i < n; i++) if (i === 0 || v[i] !== v[k - 1]) v[k++] = v[i];
  return new Uint32Array(v.buffer, 0, 2 * k).slice();
}

/** A cell as a bigint (the UBIGINT value). */
export function cellBigInt(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Cells as bigints. */
export function pairsToBigInts(pairs: Uint32Array): bigint[] {
  return Array.from(new BigUint64Array(pairs.slice().buffer));
}

/**
 * The bit operation that turns a cell of a finer resolution into its parent at `res`: clear the
 * resolution field and set it to `res`, set the digits below `res` to 7. As (and-mask, or-bits).
 */
export function parentMask(res: number): { and: bigint; or: bigint } {
  const low = (1n << BigInt(3 * (15 - res))) - 1n;
  return { and: ~(15n << 52n) & ((1n << 64n) - 1n), or: (BigInt(res) << 52n) | low };
}

// ---------------------------------------------------------------------------------------------
// Splitting large polygons and the work of one job

export interface SplitLimits {
  /** A piece with at most this many vertices is always polyfilled in one call… */
  minVertices: number;
  /** …otherwise only with at most this many vertices… */
  maxVertices: number;
  /** …and vertices × estimated cells at most this (h3-js's cost grows with their product)… */
  work: number;
  /** …and at most this many estimated cells (bounds the h3-js heap per call). */
  maxCells: number;
}

/**
 * Pieces for H3's own polyfill (overlap containment, and centre containment off the fast path).
 * Measured on a 200,000-vertex synthetic coast (5.4 M res-10 cells): 1.0 s with these limits,
 * 9.6 s with pieces of up to 4,096 vertices; toolchain.md: 145 s for one 200,000-vertex call.
 */
export const DEFAULT_SPLIT: SplitLimits = { minVertices: 32, maxVertices: 2048, work: 50_000, maxCells: 1_000_000 };

/** Whether a piece (v vertices, estimated cells, bbox) is polyfilled in one call under `l`. */
export function isLeaf(v: number, cells: number, b: BBox, res: number, l: SplitLimits): boolean {
  if (cells > l.maxCells || bboxCells(b, res) > 4 * l.maxCells) return false;
  return v <= l.minVertices || (v <= l.maxVertices && v * Math.max(cells, 1) <= l.work);
}

let scratchLo = new Float64Array(1 << 16);
let scratchHi = new Float64Array(1 << 16);

interface Half {
  ring: Ring;
  box: BBox;
}

/**
 * One pass of Sutherland–Hodgman against both sides of the line `coord[axis] = v`: the part of a
 * ring at or below v and the part at or above, with their bboxes (null when a side is empty or
 * lies on the line). Cut points are computed once, so both halves share their cut edges exactly.
 */
export function splitRing(r: Ring, axis: 0 | 1, v: number): [Half | null, Half | null] {
  const n = r.length >> 1;
  if (scratchLo.length < 4 * n + 8) scratchLo = new Float64Array(4 * n + 8);
  if (scratchHi.length < 4 * n + 8) scratchHi = new Float64Array(4 * n + 8);
  const lo = scratchLo;
  const hi = scratchHi;
  let kl = 0;
  let kh = 0;
  let lStrict = false;
  let hStrict = false;
  const lb: BBox = { xmin: Infinity, ymin: Infinity, xmax: -Infinity, ymax: -Infinity };
  const hb: BBox = { xmin: Infinity, ymin: Infinity, xmax: -Infinity, ymax: -Infinity };
  let px = r[2 * n - 2];
  let py = r[2 * n - 1];
  let pa = axis === 0 ? px : py;
  for (let i = 0; i < n; i++) {
    const cx = r[2 * i];
    const cy = r[2 * i + 1];
    const ca = axis === 0 ? cx : cy;
    if ((pa < v && ca > v) || (pa > v && ca < v)) {
      const t = (v - pa) / (ca - pa);
      let ix: number;
      let iy: number;
      if (axis === 0) {
        ix = v;
        iy = py + (cy - py) * t;
      } else {
        ix = px + (cx - px) * t;
        iy = v;
      }
      if (kl === 0 || lo[kl - 2] !== ix || lo[kl - 1] !== iy) {
        lo[kl++] = ix;
        lo[kl++] = iy;
        if (ix < lb.xmin) lb.xmin = ix;
        if (ix > lb.xmax) lb.xmax = ix;
        if (iy < lb.ymin) lb.ymin = iy;
        if (iy > lb.ymax) lb.ymax = iy;
      }
      if (kh === 0 || hi[kh - 2] !== ix || hi[kh - 1] !== iy) {
        hi[kh++] = ix;
        hi[kh++] = iy;
        if (ix < hb.xmin) hb.xmin = ix;
        if (ix > hb.xmax) hb.xmax = ix;
        if (iy < hb.ymin) hb.ymin = iy;
        if (iy > hb.ymax) hb.ymax = iy;
      }
    }
    if (ca <= v && (kl === 0 || lo[kl - 2] !== cx || lo[kl - 1] !== cy)) {
      lo[kl++] = cx;
      lo[kl++] = cy;
      if (ca < v) lStrict = true;
      if (cx < lb.xmin) lb.xmin = cx;
      if (cx > lb.xmax) lb.xmax = cx;
      if (cy < lb.ymin) lb.ymin = cy;
      if (cy > lb.ymax) lb.ymax = cy;
    }
    if (ca >= v && (kh === 0 || hi[kh - 2] !== cx || hi[kh - 1] !== cy)) {
      hi[kh++] = cx;
      hi[kh++] = cy;
      if (ca > v) hStrict = true;
      if (cx < hb.xmin) hb.xmin = cx;
      if (cx > hb.xmax) hb.xmax = cx;
      if (cy < hb.ymin) hb.ymin = cy;
      if (cy > hb.ymax) hb.ymax = cy;
    }
    px = cx;
    py = cy;
    pa = ca;
  }
  const finish = (buf: Float64Array, k: number, strict: boolean, box: BBox): Half | null => {
    if (k >= 4 && buf[0] === buf[k - 2] && buf[1] === buf[k - 1]) k -= 2;
    if (!strict || k < 6) return null;
    return { ring: buf.slice(0, k), box };
  };
  if (!hStrict && lStrict) return [{ ring: r, box: lb }, null];
  if (!lStrict && hStrict) return [null, { ring: r, box: hb }];
  return [finish(lo, kl, lStrict, lb), finish(hi, kh, hStrict, hb)];
}

/**
 * Splits a polygon into rectangle pieces until every piece is within `limits`, halving the
 * longer side (in km) of its bbox each time. Pieces are exact planar clips, so with centre
 * containment the pieces' cells are exactly the polygon's. Calls `leaf` for each piece,
 * west/south first.
 */
export function splitPolygon(p: Polygon, res: number, limits: SplitLimits, leaf: (piece: Polygon) => void): void {
  for (const q of splitPolygonIter(p, res, limits)) leaf(q);
}

/** {@link splitPolygon} as a generator: pieces come out as they are cut. */
export function* splitPolygonIter(p: Polygon, res: number, limits: SplitLimits): Generator<Polygon> {
  const stack: { p: Polygon; b: BBox }[] = [{ p, b: ringBBox(p[0]) }];
  while (stack.length > 0) {
    const { p: q, b } = stack.pop()!;
    let v = 0;
    for (const r of q) v += r.length >> 1;
    const w = b.xmax - b.xmin;
    const h = b.ymax - b.ymin;
    if (Math.max(w, h) < 1e-9 || ((v <= limits.maxVertices || v <= limits.minVertices) && isLeaf(v, estimateCells(q, res), b, res, limits))) {
      yield q;
      continue;
    }
    const kmW = w * Math.cos((((b.ymin + b.ymax) / 2) * Math.PI) / 180);
    const axis: 0 | 1 = kmW >= h ? 0 : 1;
    const mid = axis === 0 ? b.xmin + w / 2 : b.ymin + h / 2;
    const [lo, hi] = splitRing(q[0], axis, mid);
    const loP: Polygon | null = lo ? [lo.ring] : null;
    const hiP: Polygon | null = hi ? [hi.ring] : null;
    for (let i = 1; i < q.length; i++) {
      const [l, u] = splitRing(q[i], axis, mid);
      if (l && loP) loP.push(l.ring);
      if (u && hiP) hiP.push(u.ring);
    }
    if (hiP) stack.push({ p: hiP, b: hi!.box });
    if (loP) stack.push({ p: loP, b: lo!.box });
  }
}

/** Never split (for jobs already cut to size). */
const NO_SPLIT: SplitLimits = { minVertices: Infinity, maxVertices: Infinity, work: Infinity, maxCells: Infinity };

/**
 * Pieces for the fast centre polyfill: its cost does not grow with vertices × cells, so pieces
 * are bounded by cells only (the output buffer of one call).
 */
export const FAST_SPLIT: SplitLimits = { minVertices: 0, maxVertices: Infinity, work: Infinity, maxCells: 2_000_000 };

/**
 * Centre-containment cells of a polygon, streamed to `add` piece by piece: the fast polyfill
 * when available (pieces of ≤ 2 M cells), else H3's own polyfill on pieces cut by `limits`.
 */
export function centerCells(engine: H3Engine, p: Polygon, res: number, limits: SplitLimits, add: (cells: Uint32Array) => void, fastLimits: SplitLimits = FAST_SPLIT): void {
  const slow = (q: Polygon) => splitPolygon(q, res, limits, (r) => add(engine.polyfill(r, res, 'center')));
  if (!engine.fast) return slow(p);
  splitPolygon(p, res, limits === NO_SPLIT ? NO_SPLIT : fastLimits, (q) => {
    const cells = engine.polyfillCenterFast(q, res);
    if (cells) add(cells);
    else slow(q);
  });
}

/** Cells of one polygon, split as needed — all in memory: for tests and tools. */
export function polygonCells(engine: H3Engine, p: Polygon, res: number, mode: Containment = 'center', limits: SplitLimits = DEFAULT_SPLIT, fastLimits: SplitLimits = FAST_SPLIT): Uint32Array {
  const parts: Uint32Array[] = [];
  if (mode === 'center') centerCells(engine, p, res, limits, (c) => parts.push(c), fastLimits);
  else parts.push(engine.polyfill(p, res, mode));
  return concatCells(parts.length ? parts : [new Uint32Array(0)]);
}

export function concatCells(parts: Uint32Array[]): Uint32Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One unit of work for a thread: a polygon (split further when large), lines, or points. */
export type Job =
  | { kind: 'polygon'; rings: Polygon; split: boolean }
  | { kind: 'lines'; lines: Ring[] }
  | { kind: 'points'; coords: Float64Array };

export interface Task {
  seq: number;
  res: number;
  mode: Containment;
  /** Pieces for H3's own polyfill. */
  limits: SplitLimits;
  /** Pieces for the fast centre polyfill. */
  fastLimits: SplitLimits;
  jobs: Job[];
}

export interface TaskResult {
  seq: number;
  /** Cells of all jobs, job after job. */
  cells: Uint32Array;
  /** Cells per job. */
  counts: Int32Array;
  error?: string;
}

/** Runs a task: the cells of each job, concatenated, with per-job counts. */
export function runTask(engine: H3Engine, task: Task): TaskResult {
  const parts: Uint32Array[] = [];
  const counts = new Int32Array(task.jobs.length);
  task.jobs.forEach((job, j) => {
    let n = 0;
    const add = (c: Uint32Array) => {
      if (c.length > 0) {
        parts.push(c);
        n += c.length / 2;
      }
    };
    if (job.kind === 'polygon') {
      if (task.mode === 'center') centerCells(engine, job.rings, task.res, job.split ? task.limits : NO_SPLIT, add, task.fastLimits);
      else add(engine.polyfill(job.rings, task.res, task.mode));
    } else if (job.kind === 'lines') {
      const all = job.lines.map((l) => engine.lineCells(l, task.res));
      add(all.length === 1 ? all[0] : uniqueCells(concatCells(all)));
    } else add(engine.pointCells(job.coords, task.res));
    counts[j] = n;
  });
  return { seq: task.seq, cells: concatCells(parts.length ? parts : [new Uint32Array(0)]), counts };
}

// Worker-thread entry: `new Worker(<this module>, { workerData: { cngHexWorker: true } })`.
if (!isMainThread && (workerData as { cngHexWorker?: boolean } | null)?.cngHexWorker && parentPort) {
  const port = parentPort;
  const engine = new H3Engine({ fast: (workerData as { fast?: boolean }).fast !== false });
  port.on('message', (task: Task) => {
    let result: TaskResult;
    try {
      result = runTask(engine, task);
    } catch (err) {
      result = { seq: task.seq, cells: new Uint32Array(0), counts: new Int32Array(0), error: (err as Error)?.message ?? String(err) };
    }
    port.postMessage(result, [result.cells.buffer as ArrayBuffer, result.counts.buffer as ArrayBuffer]);
  });
  port.postMessage({ ready: true, fast: engine.fast });
}
