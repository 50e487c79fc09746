/**
 * From a map view to H3 cells: the display resolution for a zoom, the view as boxes H3 can fill,
 * the cells covering it, and a cell's outline as GeoJSON.
 */
import { cellToBoundary, getHexagonAreaAvg, getHexagonEdgeLengthAvg, POLYGON_TO_CELLS_FLAGS, polygonToCellsExperimental } from 'h3-js';

/** Aim for hexagons about this many screen pixels across an edge. */
const HEX_EDGE_PX = 8;
/** Web Mercator's latitude limit. */
export const MAX_LAT = 85.0511287798066;

/** The H3 resolution whose hexagons are about {@link HEX_EDGE_PX} pixels across at this zoom. */
export function resolutionForZoom(zoom: number, lat: number, maxRes: number): number {
  // MapLibre zoom z: 512 px tiles, 2^z tiles around the equator.
  const metresPerPx = (40_075_016.686 * Math.cos((Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180)) / (512 * 2 ** zoom);
  const target = (HEX_EDGE_PX * metresPerPx) / 1000;
  let r = 0;
  while (r < maxRes && getHexagonEdgeLengthAvg(r + 1, 'km') >= target) r++;
  return r;
}

/** Most covering cells wanted for the IN filter. */
const COVER_TARGET = 3000;

/** The finest resolution below `display` whose cells cover the view in at most ~{@link COVER_TARGET} cells. */
export function filterResolution(boxes: [number, number, number, number][], display: number): number {
  let km2 = 0;
  for (const [w, s, e, n] of boxes) km2 += (e - w) * (n - s) * 111.32 ** 2 * Math.cos((((s + n) / 2) * Math.PI) / 180);
  let r = Math.max(0, display - 1);
  while (r > 0 && km2 / getHexagonAreaAvg(r, 'km2') > COVER_TARGET) r--;
  return r;
}

/** The view as boxes of at most 90° of longitude inside [-180, 180] (H3 misreads longer edges). */
export function viewBoxes(w: number, s: number, e: number, n: number): [number, number, number, number][] {
  s = Math.max(-MAX_LAT, Math.min(MAX_LAT, s));
  n = Math.max(-MAX_LAT, Math.min(MAX_LAT, n));
  let spans: [number, number][];
  if (e - w >= 360) spans = [[-180, 180]];
  else {
    const w0 = ((((w + 180) % 360) + 360) % 360) - 180;
    const e0 = w0 + (e - w);
    spans = e0 > 180 ? [[w0, 180], [-180, e0 - 360]] : [[w0, e0]];
  }
  const out: [number, number, number, number][] = [];
  for (const [a, b] of spans) {
    const parts = Math.max(1, Math.ceil((b - a) / 90));
    for (let i = 0; i < parts; i++) out.push([a + ((b - a) * i) / parts, s, a + ((b - a) * (i + 1)) / parts, n]);
  }
  return out;
}

/** The resolution-`res` cells touching the view. */
export function coveringCells(boxes: [number, number, number, number][], res: number): string[] {
  const cells = new Set<string>();
  for (const [w, s, e, n] of boxes) {
    if (!(e > w) || !(n > s)) continue;
    const ring = [[w, s], [e, s], [e, n], [w, n], [w, s]];
    for (const c of polygonToCellsExperimental([ring], res, POLYGON_TO_CELLS_FLAGS.containmentOverlapping, true)) cells.add(c);
  }
  return [...cells];
}

/** A cell's GeoJSON ring; a cell crossing ±180 is shifted to the side of `centerLon` (no wrap-around band). */
export function cellRing(cell: string, centerLon: number): number[][] {
  const ring = cellToBoundary(cell, true);
  const lons = ring.map((p) => p[0]);
  if (Math.max(...lons) - Math.min(...lons) > 180) {
    for (const p of ring) {
      if (centerLon < 0 && p[0] > 0) p[0] -= 360;
      if (centerLon >= 0 && p[0] < 0) p[0] += 360;
    }
  }
  return ring;
}
