/**
 * Finishing one geometry of convert's GDAL pass (EPSG:4326, linear, 2-D) in GEOS:
 * - Repair: GEOS MakeValid, here rather than GDAL 3.6's `-makevalid`, which runs after
 *   reprojection *and* `-wrapdateline` and turns polygons crossing the antimeridian into garbage.
 *   For a polygonal input only the polygonal part of the result is kept (bow-tie → MultiPolygon
 *   of two triangles; GeometryCollection(polygon, lines) → MultiPolygon). When nothing polygonal
 *   remains (a polygon collapsed to a line), what remains is kept (MultiLineString).
 * - Antimeridian: a geometry with an edge spanning more than 180° of longitude is unwrapped
 *   (continuous longitudes), repaired, and cut into parts east and west of 180°, none spanning
 *   more than 180°. A ring around a pole (it does not close once unwrapped) is left as it is.
 * - Empty geometries (also those GEOS reduces to nothing) become null; single parts become multi.
 */
import gdal, { type Geometry } from 'gdal-async';
import { decodeWkb, encodeWkb, partsOfDimension, polygonalPart, scanWkb, toMultiWkb, translateX, unwrapAntimeridian, type Geom, type WkbInfo } from '../geo/wkb.ts';

const EAST = gdal.Geometry.fromWKT('POLYGON ((-180 -1000, 180 -1000, 180 1000, -180 1000, -180 -1000))');
const WEST = gdal.Geometry.fromWKT('POLYGON ((180 -1000, 540 -1000, 540 1000, 180 1000, 180 -1000))');

/** What happened to one geometry. */
export interface NormalizedGeometry {
  /** 2-D little-endian WKB (multi types for single parts), or null for null/empty. */
  wkb: Uint8Array | null;
  info: WkbInfo | null;
  empty: boolean;
  repaired: boolean;
  collapsed: boolean;
  split: boolean;
  aroundPole: boolean;
}

/**
 * Finishes one geometry read from the GDAL pass (EPSG:4326, linear, 2-D): empty → null;
 * antimeridian crossings unwrapped, repaired and cut at 180°; invalid geometries made valid
 * (polygonal part kept for polygonal input, unless none remains); single parts promoted to multi.
 */
export function normalizeGeometry(g: Geometry | null): NormalizedGeometry {
  const r: NormalizedGeometry = { wkb: null, info: null, empty: false, repaired: false, collapsed: false, split: false, aroundPole: false };
  if (!g) return r;
  let wkb: Uint8Array = g.toWKB(gdal.wkbNDR);
  let info = scanWkb(wkb);
  if (info.vertices === 0) {
    r.empty = true;
    return r;
  }
  const polygonal = info.polygons > 0 && info.lines === 0 && info.points === 0;
  let geom = g;
  let changed = false;
  let crossing = info.crossesAntimeridian;
  if (crossing) {
    const unwrapped = unwrapAntimeridian(decodeWkb(wkb));
    if (unwrapped) {
      geom = gdal.Geometry.fromWKB(Buffer.from(encodeWkb(unwrapped)));
      changed = true;
    } else {
      crossing = false;
      r.aroundPole = true;
    }
  }
  if (info.polygons + info.lines > 0 && !geom.isValid()) {
    geom = geom.makeValid();
    changed = true;
    r.repaired = true;
  }
  if (changed) {
    let out: Geom;
    if (crossing) {
      const parts: Geom[] = [];
      const collect = (h: Geom | null) => h && parts.push(...(h as { parts: Geom[] }).parts);
      const pick = (h: Geom) => (polygonal ? polygonalPart(h) : mixedParts(h));
      try {
        collect(pick(decodeWkb(geom.intersection(EAST).toWKB(gdal.wkbNDR))));
        collect(pick(translateX(decodeWkb(geom.intersection(WEST).toWKB(gdal.wkbNDR)), -360)));
        r.split = true;
      } catch {
        // GEOS failed on this geometry: keep it unsplit rather than lose it.
        collect(pick(decodeWkb(geom.toWKB(gdal.wkbNDR))));
      }
      if (parts.length === 0) collect(pick(decodeWkb(geom.toWKB(gdal.wkbNDR))));
      const types = new Set(parts.map((p) => p.type));
      out = parts.length === 0 ? { type: 7, parts } : types.size === 1 ? ({ type: parts[0].type + 3, parts } as Geom) : { type: 7, parts };
    } else {
      out = decodeWkb(geom.toWKB(gdal.wkbNDR));
      if (polygonal) {
        const poly = polygonalPart(out);
        if (poly) out = poly;
        else r.collapsed = true;
      }
    }
    wkb = encodeWkb(out);
  }
  if (changed) {
    wkb = toMultiWkb(wkb);
    info = scanWkb(wkb);
  } else if (info.type >= 1 && info.type <= 3) {
    wkb = toMultiWkb(wkb);
    info.type += 3;
  }
  if (info.vertices === 0) {
    r.empty = true;
    return r;
  }
  r.wkb = wkb;
  r.info = info;
  return r;
}

/** Polygons, else lines, else points of a geometry, as one multi geometry (or null). */
function mixedParts(h: Geom): Geom | null {
  return partsOfDimension(h, 2) ?? partsOfDimension(h, 1) ?? partsOfDimension(h, 0);
}
