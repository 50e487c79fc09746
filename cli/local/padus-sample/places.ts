/**
 * Where the sample's features go: regions of the US (land and marine) to scatter them in, random
 * points inside a region, and the place names their units are named after.
 */
import type { Rng } from './random.ts';

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
