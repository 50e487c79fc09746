/**
 * Planar clipping of {@link Shapes} in lon/lat: rings against half-planes and vertical strips,
 * rings split in two along a line, and the cut at the antimeridian. Every clip is exact in the
 * lon/lat plane (edges are straight lines there, as H3's polyfill treats them), so with centre
 * containment the cells of the pieces partition the cells of the whole.
 */
import { emptyBBox, extendBBox, ringAreaDeg2, type BBox, type Polygon, type Ring, type Shapes } from './shapes.ts';

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

// Scratch buffers for the two halves of splitRing.
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
  const lb = emptyBBox();
  const hb = emptyBBox();
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
        extendBBox(lb, ix, iy);
      }
      if (kh === 0 || hi[kh - 2] !== ix || hi[kh - 1] !== iy) {
        hi[kh++] = ix;
        hi[kh++] = iy;
        extendBBox(hb, ix, iy);
      }
    }
    if (ca <= v && (kl === 0 || lo[kl - 2] !== cx || lo[kl - 1] !== cy)) {
      lo[kl++] = cx;
      lo[kl++] = cy;
      if (ca < v) lStrict = true;
      extendBBox(lb, cx, cy);
    }
    if (ca >= v && (kh === 0 || hi[kh - 2] !== cx || hi[kh - 1] !== cy)) {
      hi[kh++] = cx;
      hi[kh++] = cy;
      if (ca > v) hStrict = true;
      extendBBox(hb, cx, cy);
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
// The antimeridian

/** An edge spanning more than 180° of longitude, other than one along a pole (both ends at ±90°). */
function hasWideEdge(r: Ring): boolean {
  const n = r.length;
  for (let i = 0; i < n; i += 2) {
    const j = (i + 2) % n;
    if (Math.abs(r[i] - r[j]) > 180 && !(Math.abs(r[i + 1]) === 90 && r[j + 1] === r[i + 1])) return true;
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
 * ring that really crosses (179 → -179) is cut at 180 into an east and a west polygon. An edge
 * along a pole (convert closes a ring around a pole that way) is no crossing: it stays, and the
 * polygon is cut into strips at most 90° wide before H3 sees it (./h3/tasks.ts).
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
