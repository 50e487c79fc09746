/**
 * H3 cells as (low, high) uint32 pairs — the two words of a 64-bit index, which is also the
 * little-endian memory layout of a UBIGINT column — and H3's mean cell sizes, for estimates.
 */
import { KM_PER_DEG, polygonAreaKm2, type BBox, type Polygon } from '../shapes.ts';

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
