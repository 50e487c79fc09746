/** The CRS names and lon/lat footprints of rasters (the cog stage's info, `cng inspect`). */
import gdal, { type SpatialReference } from 'gdal-async';
import { CommandError } from '../core/errors.ts';

/** 'EPSG:4326' when the CRS has an authority code (or one is identified), else its WKT (or a short name for logs). */
export function crsName(srs: SpatialReference, wkt = false): string {
  const code = (s: SpatialReference) => {
    try {
      const name = s.getAuthorityName(null);
      const c = s.getAuthorityCode(null);
      return name && c ? `${name}:${c}` : null;
    } catch {
      return null;
    }
  };
  let found = code(srs);
  if (!found) {
    try {
      const c = srs.clone();
      c.autoIdentifyEPSG();
      found = code(c);
    } catch {
      // not identifiable
    }
  }
  if (found) return found;
  return wkt ? srs.toWKT() : `a CRS without authority code (${srs.getAttrValue('PROJCS') ?? srs.getAttrValue('GEOGCS') ?? 'unnamed'})`;
}

/**
 * West, south, east, north in lon/lat of a raster's footprint: its edges densified, transformed
 * to EPSG:4326 (traditional lon/lat order), longitudes unwrapped along the ring. West > east when
 * the footprint crosses 180°; [-180, 180] in longitude when it goes all around (or around a pole,
 * whose latitude then bounds it).
 */
export function footprintBounds4326(srs: SpatialReference, gt: number[], width: number, height: number): [number, number, number, number] {
  // SRS objects made while this option is set keep lon/lat (x/y) axis order.
  const previous = gdal.config.get('OSR_DEFAULT_AXIS_MAPPING_STRATEGY');
  gdal.config.set('OSR_DEFAULT_AXIS_MAPPING_STRATEGY', 'TRADITIONAL_GIS_ORDER');
  let ct: InstanceType<typeof gdal.CoordinateTransformation>;
  try {
    ct = new gdal.CoordinateTransformation(gdal.SpatialReference.fromWKT(srs.toWKT()), gdal.SpatialReference.fromUserInput('EPSG:4326'));
  } finally {
    gdal.config.set('OSR_DEFAULT_AXIS_MAPPING_STRATEGY', previous ?? null);
  }
  const N = 64;
  const ring: [number, number][] = [];
  const edge = (x0: number, y0: number, x1: number, y1: number) => {
    for (let i = 0; i < N; i++) ring.push([x0 + ((x1 - x0) * i) / N, y0 + ((y1 - y0) * i) / N]);
  };
  edge(0, 0, width, 0);
  edge(width, 0, width, height);
  edge(width, height, 0, height);
  edge(0, height, 0, 0);
  const pts: [number, number][] = [];
  for (const [px, py] of ring) {
    const x = gt[0]! + px * gt[1]! + py * gt[2]!;
    const y = gt[3]! + px * gt[4]! + py * gt[5]!;
    try {
      const r = ct.transformPoint(x, y);
      if (Number.isFinite(r.x) && Number.isFinite(r.y)) pts.push([r.x, r.y]);
    } catch {
      // outside the projection's domain
    }
  }
  if (pts.length === 0) throw new CommandError('cannot transform the raster footprint to EPSG:4326');
  let south = Infinity;
  let north = -Infinity;
  for (const [, lat] of pts) {
    south = Math.min(south, lat);
    north = Math.max(north, lat);
  }
  // Unwrap longitudes along the ring (steps of more than 180° are wraps).
  const lons = [pts[0]![0]];
  for (let i = 1; i <= pts.length; i++) {
    const raw = pts[i % pts.length]![0];
    const prev = lons[i - 1]!;
    let v = raw;
    while (v - prev > 180) v -= 360;
    while (v - prev < -180) v += 360;
    lons.push(v);
  }
  const closure = lons[lons.length - 1]! - lons[0]!;
  if (Math.abs(closure) > 180) {
    // The ring goes around a pole: all longitudes, up to that pole.
    if (south + north > 0) north = 90;
    else south = -90;
    return [-180, south, 180, north];
  }
  lons.pop();
  const min = Math.min(...lons);
  const max = Math.max(...lons);
  if (max - min >= 360 - 1e-9) return [-180, south, 180, north];
  const west = ((((min + 180) % 360) + 360) % 360) - 180;
  let east = west + (max - min);
  if (east > 180) east -= 360;
  return [west, south, east, north];
}
