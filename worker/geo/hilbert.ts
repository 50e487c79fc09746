/**
 * The Hilbert curve: the one PMTiles numbers its tiles along within a zoom, here also ordering
 * GeoParquet rows by the position of their bbox centre.
 */
import { zxyToTileId } from 'pmtiles';

/**
 * Index of cell (x, y) on a Hilbert curve over a 2^order × 2^order grid (x, y integers in
 * [0, 2^order)). Consecutive indices are edge-adjacent cells. The curve is PMTiles' (its tile id
 * of order/x/y, less the tiles of all lower zooms), exact up to order 26.
 */
export function hilbertIndex(x: number, y: number, order = 16): number {
  return zxyToTileId(order, x, y) - (4 ** order - 1) / 3;
}

/** Hilbert index (0 … 2³²−1) of a lon/lat point on a 16-bit-per-axis grid over the globe. */
export function lonLatHilbert(lon: number, lat: number): number {
  const cell = (v: number, lo: number, span: number) => Math.min(65535, Math.max(0, Math.floor(((v - lo) / span) * 65536)));
  return hilbertIndex(cell(lon, -180, 360), cell(lat, -90, 180), 16);
}
