import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type BBox, EARTH_RADIUS_KM, KM_PER_DEG, type Polygon, polygonAreaKm2, type Ring, ringBBox } from '../shapes.ts';
import { EdgeIndex } from './edge-index.ts';
import { CellBuffer, pushChildren } from './hierarchy.ts';

/**
 * H3 operations on cells as (low, high) uint32 pairs ({@link H3Engine}, one per thread): polyfill,
 * cells of points and lines, cell centres.
 *
 * H3 is h3-js 4.5 (Emscripten, asm.js). Two things make it slow on large inputs: its
 * `polygonToCellsExperimental` costs about vertices × boundary cells (each boundary cell is
 * tested against every edge) plus a fixed descent from resolution 0, and its results are hex
 * strings. The engine therefore reaches h3-js's own compiled module (./internals.ts: evaluated
 * privately, same C code) and (a) for centre containment walks the H3 hierarchy itself
 * (./center-polyfill.ts: H3's algorithm and bounds, but cells wholly outside are dropped early and
 * point/box tests go through an edge index), asking h3-js only for cell centres; (b) otherwise
 * calls H3's polyfill and reads cells straight from its heap. Both give H3's cells exactly
 * (tested against h3-js). When the module cannot be reached (a future h3-js layout), the public
 * API is used, with identical results, only slower.
 */

export type Containment = 'center' | 'overlap';

const E_MEMORY_BOUNDS = 14;
const FLAG: Record<Containment, number> = { center: 0, overlap: 2 };

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
   * Centre containment by walking the H3 hierarchy (./center-polyfill.ts; same cells as H3's
   * polyfill). Null when the fast path does not apply (no compiled core, within 2° of a pole, or
   * wider than 90°): the caller uses H3's polyfill.
   */
  polyfillCenterFast(p: Polygon, res: number): Uint32Array | null {
    if (!this.raw) return null;
    return centerPolyfill(this.raw, this.tmp, p, res);
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

/**
 * Reaching h3-js: its public API, loaded on first use, and its compiled core. h3-js 4.5 is
 * Emscripten (asm.js); {@link loadRawH3} evaluates its CommonJS build privately to reach the
 * Emscripten module (heap, malloc) and the C bindings behind the public API — same C code, but
 * cells as (low, high) words on the heap instead of hex strings. Null when h3-js's layout is not
 * the expected one (a future version): callers then use the public API.
 */

type H3Js = typeof import('h3-js');
let publicH3: H3Js | undefined;
/** h3-js's public API, loaded on first use (threads on the fast path never need it). */
export function pub(): H3Js {
  return (publicH3 ??= createRequire(import.meta.url)('h3-js') as H3Js);
}

/** h3-js's Emscripten module (heap, allocator) and its wrapped C functions. */
export interface RawH3 {
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
export function loadRawH3(): RawH3 | null {
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

/**
 * H3 cells as (low, high) uint32 pairs — the two words of a 64-bit index, which is also the
 * little-endian memory layout of a UBIGINT column — and H3's mean cell sizes, for estimates.
 */

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

/** Estimated cells in a bbox (its area scaled at the smaller of its absolute latitudes). */
export function bboxCells(b: BBox, res: number): number {
  const lat = Math.min(Math.abs(b.ymin), Math.abs(b.ymax)) * (Math.PI / 180);
  const km2 = (b.xmax - b.xmin) * (b.ymax - b.ymin) * KM_PER_DEG * KM_PER_DEG * Math.cos(lat);
  return km2 / meanCellAreaKm2(res);
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

/** Cell pairs of several arrays, one after the other. */
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

/**
 * Centre containment computed here rather than by H3's polyfill (same cells): the hierarchy is
 * walked from the cells of a grid disk around the polygon at a coarse resolution. A cell whose
 * children's bounding box (H3's own bound: centre ± max edge, scaled 1.4) touches no polygon
 * edge is wholly inside — all its descendants, enumerated with bit operations — or wholly
 * outside — dropped (H3 descends those too, which is most of its cost); otherwise its children
 * are visited. Cells at the resolution are kept when their centre is inside (even-odd, edges as
 * straight lon/lat lines, as H3). Point and box tests go through an {@link EdgeIndex}, so the
 * cost no longer grows with vertices × cells, and h3-js is asked only for cell centres. Small
 * polygons test a grid disk at the resolution directly.
 */

/** H3's MAX_EDGE_LENGTH_RADS (polyfill.c) and CHILD_SCALE_FACTOR: a bbox covering all children. */
const MAX_EDGE_RADS = [
  0.2157720626513, 0.08308767068495, 0.03148970436439, 0.01190662871439, 0.00450053330908, 0.00170105523619, 0.00064293917678, 0.00024300820659,
  0.00009184847087, 0.00003471545901, 0.00001312121017, 0.00000495935129, 0.0000018744586, 0.00000070847876, 0.0000002677798, 0.00000010121125,
];
const CHILD_SCALE = 1.4;
const D = Math.PI / 180;

function greatCircleKm(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const d = Math.PI / 180;
  const s1 = Math.sin(((lat2 - lat1) * d) / 2);
  const s2 = Math.sin(((lng2 - lng1) * d) / 2);
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(s1 * s1 + Math.cos(lat1 * d) * Math.cos(lat2 * d) * s2 * s2)));
}

/**
 * The centre-containment cells of a polygon, using h3-js's compiled core (`tmp`: 64 bytes of its
 * heap). Null when this does not apply (within 2° of a pole, or wider than 90°): the caller uses
 * H3's polyfill.
 */
export function centerPolyfill(raw: RawH3, tmp: number, p: Polygon, res: number): Uint32Array | null {
  const b = ringBBox(p[0]);
  if (b.ymax > 88 || b.ymin < -88 || b.xmax - b.xmin > 90) return null; // H3's polyfill handles these
  const idx = new EdgeIndex(p);
  const out = new CellBuffer(1.15 * estimateCells(p, res) + 64);
  const stack = startCells(raw, tmp, b, res);
  if (!stack) return null;
  descend(raw, tmp, idx, b, res, stack, out);
  return out.take();
}

/**
 * Where the walk starts: every cell of a coarse resolution near the polygon (a grid disk around
 * the middle of its bbox), as (lo, hi, res) triples; null when h3-js fails.
 */
function startCells(raw: RawH3, tmp: number, b: BBox, res: number): number[] | null {
  const { libh3, H3 } = raw;
  const midLat = (b.ymin + b.ymax) / 2;
  const midLng = (b.xmin + b.xmax) / 2;
  const halfDiagKm = Math.max(
    greatCircleKm(midLat, midLng, b.ymin, b.xmin),
    greatCircleKm(midLat, midLng, b.ymin, b.xmax),
    greatCircleKm(midLat, midLng, b.ymax, b.xmin),
    greatCircleKm(midLat, midLng, b.ymax, b.xmax),
  );
  let rs = res;
  while (rs > 0 && meanEdgeKm(rs) * 0.5 < halfDiagKm) rs--;
  // A small polygon: test the cells of a grid disk at the resolution directly. Cell centres at
  // grid distance k are ≥ ~1.5·k edges away (0.8 for distortion); inside centres are within
  // the half-diagonal of the bbox centre, whose own cell centre is within ~1.2 edges of it.
  const kDirect = Math.ceil((halfDiagKm + 1.2 * meanEdgeKm(res)) / (1.5 * 0.8 * meanEdgeKm(res))) + 1;
  const direct = kDirect <= 6;
  if (direct) rs = res;
  const stack: number[] = []; // (lo, hi, res) triples
  const f64 = libh3.HEAPF64;
  f64[tmp >>> 3] = midLat * D;
  f64[(tmp >>> 3) + 1] = midLng * D;
  if (H3.latLngToCell(tmp, rs, tmp + 16) !== 0) return null;
  const u = libh3.HEAPU32;
  const clo = u[(tmp + 16) >>> 2];
  const chi = u[((tmp + 16) >>> 2) + 1];
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
  return stack;
}

/** Walks the hierarchy from the cells on the stack down to `res`, collecting cells into `out`. */
function descend(raw: RawH3, tmp: number, idx: EdgeIndex, b: BBox, res: number, stack: number[], out: CellBuffer): void {
  const { libh3, H3 } = raw;
  const bx0 = b.xmin * D;
  const bx1 = b.xmax * D;
  const by0 = b.ymin * D;
  const by1 = b.ymax * D;
  const cellToLatLng = libh3._cellToLatLng ?? H3.cellToLatLng; // the export itself skips cwrap's argument handling
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
}
