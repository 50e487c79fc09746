/**
 * The sample's synthetic geometries, before projection: ordinary star-shaped polygons (sometimes
 * multipart or with a hole) in lon/lat, and the hard cases built in Albers metres — curves (circle,
 * stadium with a hole, half disc), rectangles (tiny squares, slivers) and a self-intersecting
 * bow-tie.
 */
import { pointIn, type Region } from './places.ts';
import type { Rng } from './random.ts';

/** A closed ring of [x, y] points (the last equals the first). */
export type Ring = [number, number][];

/** A feature's geometry before projection: linear lon/lat (NAD83) rings, linear Albers WKT, curved Albers WKT, or none. */
export type Shape =
  | { kind: 'lonlat'; polygons: Ring[][] }
  | { kind: 'albers'; wkt: string }
  | { kind: 'curve'; wkt: string; area: number; length: number; vertices: number }
  | { kind: 'none' };

const KM_PER_DEG_LAT = 110.574;
const KM_PER_DEG_LON_EQ = 111.32;

/** Signed area of a closed ring (shoelace formula; positive when counter-clockwise). */
function ringArea(ring: [number, number][]): number {
  let s = 0;
  for (let i = 0; i < ring.length - 1; i++) s += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  return s / 2;
}

/**
 * A closed, simple, star-shaped ring of `n` vertices around (lon0, lat0) with an area of about
 * `areaKm2`: vertex angles increase monotonically and radii stay positive, so the ring never
 * self-intersects however wiggly it is. `waves` sinusoids of total relative amplitude `amp`
 * (frequencies up to `maxFreq`, amplitudes falling as 1/f) shape the outline.
 */
export function starRing(rng: Rng, lon0: number, lat0: number, areaKm2: number, n: number, amp = 0.3, waves = 3, maxFreq = 7): Ring {
  const comps: [f: number, a: number, phase: number][] = [];
  for (let k = 0; k < waves; k++) {
    const f = rng.int(1 + Math.floor((k * maxFreq) / waves), Math.max(2, Math.floor(((k + 1) * maxFreq) / waves)));
    comps.push([f, 1 / Math.pow(f, 0.8), rng.range(0, 2 * Math.PI)]);
  }
  const norm = comps.reduce((s, [, a]) => s + a, 0) || 1;
  const jitter = Array.from({ length: n }, () => rng.range(-0.35, 0.35));
  const unit: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * (i + jitter[i])) / n;
    let rad = 1;
    for (const [f, a, p] of comps) rad += (amp * a * Math.sin(f * t + p)) / norm;
    unit.push([rad * Math.cos(t), rad * Math.sin(t)]);
  }
  unit.push(unit[0]);
  const scale = Math.sqrt(areaKm2 / ringArea(unit));
  const kmPerDegLon = KM_PER_DEG_LON_EQ * Math.cos((lat0 * Math.PI) / 180);
  return unit.map(([x, y]) => [lon0 + (x * scale) / kmPerDegLon, lat0 + (y * scale) / KM_PER_DEG_LAT]);
}

/** A circle-ish ring (clockwise, for holes) of radius `radiusKm`. */
function holeRing(lon0: number, lat0: number, radiusKm: number, n: number): Ring {
  const kmPerDegLon = KM_PER_DEG_LON_EQ * Math.cos((lat0 * Math.PI) / 180);
  const ring: Ring = [];
  for (let i = 0; i < n; i++) {
    const t = (-2 * Math.PI * i) / n;
    ring.push([lon0 + (radiusKm * Math.cos(t)) / kmPerDegLon, lat0 + (radiusKm * Math.sin(t)) / KM_PER_DEG_LAT]);
  }
  ring.push(ring[0]);
  return ring;
}

/** An ordinary feature: 8–200 vertices, 0.05–50 km²; sometimes multipart, sometimes with a hole. */
export function ordinaryShape(rng: Rng, region: Region): Shape {
  const [lon, lat] = pointIn(rng, region);
  const area = rng.logRange(0.05, 50);
  const vertices = rng.int(8, 200);
  const amp = rng.range(0.05, 0.45);
  const style = rng.weighted<'single' | 'multi' | 'hole'>([['single', 85], ['multi', 10], ['hole', 5]]);
  if (style === 'multi') {
    const parts = rng.int(2, 4);
    const partArea = area / parts;
    const stepKm = 3 * Math.sqrt(partArea / Math.PI) * (1 + amp);
    const heading = rng.range(0, Math.PI);
    const kmPerDegLon = KM_PER_DEG_LON_EQ * Math.cos((lat * Math.PI) / 180);
    const polygons: Ring[][] = [];
    for (let p = 0; p < parts; p++) {
      const plon = lon + (p * stepKm * Math.cos(heading)) / kmPerDegLon;
      const plat = lat + (p * stepKm * Math.sin(heading)) / KM_PER_DEG_LAT;
      polygons.push([starRing(rng, plon, plat, partArea, Math.max(8, Math.floor(vertices / parts)), amp)]);
    }
    return { kind: 'lonlat', polygons };
  }
  if (style === 'hole') {
    // The hole takes ~4% of the outer area, well inside the outline (amplitude kept small).
    const outer = starRing(rng, lon, lat, area * 1.04, Math.max(8, vertices - 12), Math.min(amp, 0.2));
    const holeRadius = 0.2 * Math.sqrt((area * 1.04) / Math.PI);
    return { kind: 'lonlat', polygons: [[outer, holeRing(lon, lat, holeRadius, 12)]] };
  }
  return { kind: 'lonlat', polygons: [[starRing(rng, lon, lat, area, vertices, amp)]] };
}

const fmt = (v: number) => String(Number(v.toFixed(3)));

/** Formats Albers coordinates (metres, 1 mm) as a WKT point list. */
function pts(points: [number, number][]): string {
  return points.map(([x, y]) => `${fmt(x)} ${fmt(y)}`).join(',');
}

/** WKT of a lon/lat multipolygon (1e-7 degree ≈ 1 cm). */
export function lonLatWkt(polygons: Ring[][]): string {
  const ring = (rg: Ring) => `(${rg.map(([x, y]) => `${x.toFixed(7)} ${y.toFixed(7)}`).join(',')})`;
  return `MULTIPOLYGON(${polygons.map((rings) => `(${rings.map(ring).join(',')})`).join(',')})`;
}

/** Curved hard cases, built in Albers metres around (x, y), with exact area and perimeter. */
export const CURVES = {
  /** A full circle as two arcs: MULTISURFACE(CURVEPOLYGON(CIRCULARSTRING(...))). */
  circle(x: number, y: number, radius: number): Shape {
    const c = [[x - radius, y], [x, y - radius], [x + radius, y], [x, y + radius], [x - radius, y]] as [number, number][];
    return {
      kind: 'curve', wkt: `MULTISURFACE(CURVEPOLYGON(CIRCULARSTRING(${pts(c)})))`,
      area: Math.PI * radius ** 2, length: 2 * Math.PI * radius, vertices: 5,
    };
  },
  /** A stadium (two straight sides, two half-circle ends: a COMPOUNDCURVE) with a circular hole. */
  stadiumWithHole(x: number, y: number, half: number, radius: number, hole: number): Shape {
    const ext = `COMPOUNDCURVE((${pts([[x - half, y - radius], [x + half, y - radius]])}),` +
      `CIRCULARSTRING(${pts([[x + half, y - radius], [x + half + radius, y], [x + half, y + radius]])}),` +
      `(${pts([[x + half, y + radius], [x - half, y + radius]])}),` +
      `CIRCULARSTRING(${pts([[x - half, y + radius], [x - half - radius, y], [x - half, y - radius]])}))`;
    const inner = `CIRCULARSTRING(${pts([[x - hole, y], [x, y + hole], [x + hole, y], [x, y - hole], [x - hole, y]])})`;
    return {
      kind: 'curve', wkt: `MULTISURFACE(CURVEPOLYGON(${ext},${inner}))`,
      area: 4 * half * radius + Math.PI * (radius ** 2 - hole ** 2),
      length: 4 * half + 2 * Math.PI * (radius + hole), vertices: 11 + 5,
    };
  },
  /** A half-disc (straight base + one arc), optionally with a plain square part beside it (mixed MultiSurface). */
  halfDisc(x: number, y: number, radius: number, squareSide = 0): Shape {
    let wkt = `CURVEPOLYGON(COMPOUNDCURVE((${pts([[x - radius, y], [x + radius, y]])}),` +
      `CIRCULARSTRING(${pts([[x + radius, y], [x, y + radius], [x - radius, y]])})))`;
    let area = (Math.PI * radius ** 2) / 2;
    let length = Math.PI * radius + 2 * radius;
    let vertices = 4;
    if (squareSide > 0) {
      const sx = x + radius * 1.5;
      const sq: [number, number][] = [[sx, y], [sx + squareSide, y], [sx + squareSide, y + squareSide], [sx, y + squareSide], [sx, y]];
      wkt += `,((${pts(sq)}))`;
      area += squareSide ** 2;
      length += 4 * squareSide;
      vertices += 5;
    }
    return { kind: 'curve', wkt: `MULTISURFACE(${wkt})`, area, length, vertices };
  },
};

/** A `width` × `height` rectangle in Albers metres with a corner at (x, y), rotated by `angle`. */
export function albersRect(x: number, y: number, width: number, height: number, angle: number): Shape {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const corners: [number, number][] = [[0, 0], [width, 0], [width, height], [0, height], [0, 0]].map(([u, v]) => [x + u * c - v * s, y + u * s + v * c]);
  return { kind: 'albers', wkt: `MULTIPOLYGON(((${pts(corners)})))` };
}

/** A self-intersecting bow-tie (two unequal lobes), about `km` kilometres across. */
export function bowTie(x: number, y: number, km: number): Shape {
  const k = km * 1000 / 3;
  const ring: [number, number][] = [[0, 0], [3, 2], [3, 0], [0, 1], [0, 0]].map(([u, v]) => [x + u * k, y + v * k]);
  return { kind: 'albers', wkt: `MULTIPOLYGON(((${pts(ring)})))` };
}
