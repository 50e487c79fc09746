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
import { KM_PER_DEG, ringBBox, type Polygon, type Ring } from '../shapes.ts';
import { bboxCells, hexToPairs, meanEdgeKm, uniqueCells } from './cells.ts';
import { centerPolyfill } from './center-polyfill.ts';
import { loadRawH3, pub, type RawH3 } from './internals.ts';

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

