/**
 * Flat geometries in lon/lat degrees (EPSG:4326) and their planar measures: the form the H3 code
 * works on, so that it also runs inside worker threads (no GDAL).
 *
 * A ring is a flat `Float64Array` [x0, y0, x1, y1, …] without the closing vertex; a polygon is its
 * rings (outer first, then holes); {@link Shapes} are the parts of one geometry, flattened. Edges
 * are straight lines in lon/lat, as H3's polyfill treats them.
 */

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

/** Authalic Earth radius (km), H3's (cell areas and edge lengths are on this sphere). */
export const EARTH_RADIUS_KM = 6371.007180918475;
/** Kilometres per degree of latitude on that sphere. */
export const KM_PER_DEG = (Math.PI / 180) * EARTH_RADIUS_KM;

/** A bbox containing nothing yet. */
export function emptyBBox(): BBox {
  return { xmin: Infinity, ymin: Infinity, xmax: -Infinity, ymax: -Infinity };
}

/** Grows a bbox to contain (x, y). */
export function extendBBox(b: BBox, x: number, y: number): void {
  if (x < b.xmin) b.xmin = x;
  if (x > b.xmax) b.xmax = x;
  if (y < b.ymin) b.ymin = y;
  if (y > b.ymax) b.ymax = y;
}

export function shapesEmpty(s: Shapes): boolean {
  return s.polygons.length === 0 && s.lines.length === 0 && s.points.length === 0;
}

export function vertexCount(s: Shapes): number {
  let n = s.points.length / 2;
  for (const l of s.lines) n += l.length / 2;
  for (const p of s.polygons) n += polygonVertices(p);
  return n;
}

/** Vertices of a polygon, all rings. */
export function polygonVertices(p: Polygon): number {
  let v = 0;
  for (const r of p) v += r.length / 2;
  return v;
}

export function ringBBox(r: Ring, b: BBox = emptyBBox()): BBox {
  for (let i = 0; i < r.length; i += 2) extendBBox(b, r[i], r[i + 1]);
  return b;
}

export function shapesBBox(s: Shapes): BBox {
  const b = emptyBBox();
  for (const p of s.polygons) ringBBox(p[0], b);
  for (const l of s.lines) ringBBox(l, b);
  for (let i = 0; i < s.points.length; i += 2) extendBBox(b, s.points[i], s.points[i + 1]);
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


/**
 * A ring that goes once around a pole, closed along that pole: `c` has continuous longitudes (no
 * step over 180°) and ends `net` (±360°) east of where it starts — on the sphere it closes, in
 * lon/lat it does not. The pole is the one on the side of the ring's mean latitude (the polygon is
 * the smaller cap). Returns the ring followed by the pole, from the ring's end back to its start
 * (a vertex every 45°, so no edge spans more than 180°); `closed`: `c` repeats its first vertex
 * at the end (WKB), as the result then does.
 */
export function closeAroundPole(c: Float64Array, net: number, closed: boolean): Float64Array {
  let lat = 0;
  for (let i = 1; i < c.length; i += 2) lat += c[i];
  const pole = lat < 0 ? -90 : 90;
  const x0 = c[0];
  const x1 = x0 + net;
  const steps = Math.ceil(Math.abs(net) / 45);
  const out: number[] = Array.from(closed ? c.subarray(0, c.length - 2) : c);
  out.push(x1, c[1]);
  for (let s = 0; s <= steps; s++) out.push(x1 - (net * s) / steps, pole);
  if (closed) out.push(x0, c[1]);
  return Float64Array.from(out);
}
