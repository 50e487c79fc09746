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
import { EARTH_RADIUS_KM, ringBBox, type BBox, type Polygon } from '../shapes.ts';
import { estimateCells, meanEdgeKm } from './cells.ts';
import { EdgeIndex } from './edge-index.ts';
import { CellBuffer, pushChildren } from './hierarchy.ts';
import type { RawH3 } from './internals.ts';

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
