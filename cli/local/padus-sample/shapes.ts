

/** The sample's seeded randomness: the same seed gives the same features everywhere. */

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; same seed → same sequence everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Log-uniform in [lo, hi). */
  logRange(lo: number, hi: number): number {
    return Math.exp(this.range(Math.log(lo), Math.log(hi)));
  }
  /** Integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  /** One of `choices` with probability proportional to its weight. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [value, w] of choices) {
      r -= w;
      if (r < 0) return value;
    }
    return choices[choices.length - 1][0];
  }
}

/**
 * Where the sample's features go: regions of the US (land and marine) to scatter them in, random
 * points inside a region, and the place names their units are named after.
 */

/** A region to scatter features in: approximate interior point (lon/lat, NAD83) and spread (degrees of latitude). */
export interface Region {
  state: string;
  lon: number;
  lat: number;
  spread: number;
}

const r = (state: string, lon: number, lat: number, spread: number): Region => ({ state, lon, lat, spread });

export const LAND_REGIONS: Region[] = [
  r('AL', -86.8, 32.8, 0.8), r('AZ', -111.7, 34.3, 1.4), r('AR', -92.4, 34.9, 0.8), r('CA', -119.8, 37.5, 1.5),
  r('CA', -116.5, 34.5, 0.8), r('CO', -105.5, 39.0, 1.2), r('CT', -72.7, 41.6, 0.2), r('FL', -81.7, 28.6, 0.8),
  r('GA', -83.4, 32.7, 0.8), r('ID', -114.6, 44.4, 1.2), r('IL', -89.2, 40.0, 1.0), r('IN', -86.3, 39.9, 0.8),
  r('IA', -93.5, 42.1, 0.8), r('KS', -98.4, 38.5, 1.0), r('KY', -85.3, 37.5, 0.6), r('LA', -92.0, 31.1, 0.7),
  r('ME', -69.2, 45.4, 0.8), r('MD', -76.8, 39.1, 0.2), r('MA', -71.8, 42.3, 0.25), r('MI', -84.7, 43.8, 0.8),
  r('MN', -94.3, 46.3, 1.2), r('MS', -89.7, 32.7, 0.8), r('MO', -92.5, 38.4, 1.0), r('MT', -109.6, 47.0, 1.6),
  r('NE', -99.8, 41.5, 1.0), r('NV', -116.6, 39.3, 1.5), r('NH', -71.6, 43.7, 0.4), r('NJ', -74.7, 40.1, 0.3),
  r('NM', -106.1, 34.4, 1.4), r('NY', -75.5, 42.9, 0.8), r('NC', -79.4, 35.5, 0.6), r('ND', -100.5, 47.4, 1.0),
  r('OH', -82.8, 40.3, 0.8), r('OK', -97.5, 35.6, 0.9), r('OR', -120.5, 43.9, 1.4), r('PA', -77.8, 40.9, 0.7),
  r('RI', -71.5, 41.7, 0.08), r('SC', -80.9, 33.9, 0.6), r('SD', -100.2, 44.4, 1.0), r('TN', -86.3, 35.8, 0.5),
  r('TX', -99.3, 31.4, 2.5), r('UT', -111.7, 39.3, 1.2), r('VT', -72.7, 44.0, 0.3), r('VA', -78.8, 37.5, 0.6),
  r('WA', -120.4, 47.4, 1.2), r('WV', -80.6, 38.6, 0.5), r('WI', -89.8, 44.6, 0.8), r('WY', -107.5, 43.0, 1.5),
  // Alaska (still projected to the CONUS Albers CRS, as PAD-US does) and Hawaii.
  r('AK', -150.0, 63.5, 2.5), r('AK', -147.0, 66.5, 1.5), r('AK', -134.5, 57.5, 0.8), r('AK', -161.5, 60.5, 1.2),
  r('HI', -155.5, 19.6, 0.3), r('HI', -156.3, 20.8, 0.12), r('HI', -157.97, 21.45, 0.1), r('HI', -159.5, 22.05, 0.08),
];

export const MARINE_REGIONS: Region[] = [
  r('CA', -119.6, 33.9, 0.3), r('CA', -122.3, 36.7, 0.2), r('FL', -81.2, 24.6, 0.2), r('MA', -70.3, 42.4, 0.2),
  r('LA', -90.0, 28.9, 0.3), r('WA', -124.9, 47.6, 0.3), r('HI', -157.0, 21.0, 0.2), r('AK', -152.5, 57.5, 0.4),
  r('NC', -75.6, 35.0, 0.2), r('TX', -94.0, 28.4, 0.3), r('ME', -68.5, 44.0, 0.2),
];

const PLACE_A = [
  'Cedar', 'Bear', 'Eagle', 'Pine', 'Willow', 'Coyote', 'Elk', 'Red Rock', 'Silver', 'Maple', 'Blue Ridge', 'Antelope',
  'Crystal', 'Buffalo', 'Cottonwood', 'Heron', 'Aspen', 'Granite', 'Sandy', 'Hidden', 'Juniper', 'Otter', 'Spruce',
  'Big Sky', 'Mill', 'Sugarloaf', 'Turkey', 'Black Hawk', 'Indian Grass', 'Wolf', 'Beaver', 'Laurel', 'Salmon', 'Crane',
];
const PLACE_B = [
  'Creek', 'Mountain', 'Valley', 'Lake', 'Ridge', 'Meadows', 'Canyon', 'Bluff', 'Hollow', 'Springs', 'Prairie', 'Marsh',
  'Point', 'Flats', 'Knob', 'Bottoms', 'Island', 'River', 'Pond', 'Butte', 'Woods', 'Gap', 'Bay', 'Mesa',
];

/** A random place name ('Cedar Creek'). */
export function placeName(rng: Rng): string {
  return `${rng.pick(PLACE_A)} ${rng.pick(PLACE_B)}`;
}

/** Random point inside a region (lon/lat). */
export function pointIn(rng: Rng, region: Region): [number, number] {
  const lat = region.lat + rng.range(-1, 1) * region.spread;
  const lon = region.lon + (rng.range(-1, 1) * region.spread) / Math.cos((lat * Math.PI) / 180);
  return [lon, lat];
}

/** The first region of a state. */
export function regionOf(state: string, list = LAND_REGIONS): Region {
  return list.find((rg) => rg.state === state)!;
}

/**
 * The sample's synthetic geometries, before projection: ordinary star-shaped polygons (sometimes
 * multipart or with a hole) in lon/lat, and the hard cases built in Albers metres — curves (circle,
 * stadium with a hole, half disc), rectangles (tiny squares, slivers) and a self-intersecting
 * bow-tie.
 */

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

/**
 * An ordinary feature: 8–200 vertices, 0.05–50 km² (or the given `size`); sometimes multipart,
 * sometimes with a hole.
 */
export function ordinaryShape(rng: Rng, region: Region, size?: { areaKm2: number; vertices: number }): Shape {
  const [lon, lat] = pointIn(rng, region);
  const area = size?.areaKm2 ?? rng.logRange(0.05, 50);
  const vertices = size?.vertices ?? rng.int(8, 200);
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
