/**
 * Operations on decoded WKB trees ({@link Geom}, lon/lat degrees): picking the parts of one
 * dimension, shifting longitudes, and undoing the ±360° jumps of features that cross the
 * antimeridian.
 */
import type { Geom } from './wkb.ts';

/**
 * The polygonal part of a geometry as one MultiPolygon (polygons of nested multi-polygons and
 * collections flattened), or null when it has none.
 */
export function polygonalPart(g: Geom): Geom | null {
  const polys: Geom[] = [];
  const walk = (h: Geom) => {
    if (h.type === 3) { if (h.rings.length) polys.push(h); }
    else if (h.type === 6 || h.type === 7) h.parts.forEach(walk);
  };
  walk(g);
  return polys.length ? { type: 6, parts: polys } : null;
}

/** All parts of dimension `dim` (0 points, 1 lines, 2 polygons) as one multi geometry, or null. */
export function partsOfDimension(g: Geom, dim: 0 | 1 | 2): Geom | null {
  const base = ([1, 2, 3] as const)[dim];
  const parts: Geom[] = [];
  const walk = (h: Geom) => {
    if (h.type === base) parts.push(h);
    else if (h.type >= 4) (h as { parts: Geom[] }).parts.forEach(walk);
  };
  walk(g);
  return parts.length ? ({ type: base + 3, parts } as Geom) : null;
}

/** Adds `dx` to every x coordinate (in place). */
export function translateX(g: Geom, dx: number): Geom {
  const shift = (c: Float64Array) => { for (let i = 0; i < c.length; i += 2) c[i] += dx; };
  const walk = (h: Geom) => {
    if (h.type === 1 || h.type === 2) shift(h.coords);
    else if (h.type === 3) h.rings.forEach(shift);
    else h.parts.forEach(walk);
  };
  walk(g);
  return g;
}

/** Makes a coordinate sequence continuous in longitude (no step > 180°); returns the net wrap. */
function unwrapSeq(c: Float64Array): number {
  let offset = 0;
  for (let i = 2; i < c.length; i += 2) {
    const raw = c[i] + offset;
    const d = raw - c[i - 2];
    if (d > 180) offset -= 360 * Math.round(d / 360);
    else if (d < -180) offset += 360 * Math.round(-d / 360);
    c[i] += offset;
  }
  return c.length >= 4 ? c[c.length - 2] - c[0] : 0;
}

function minX(c: Float64Array): number {
  let m = Infinity;
  for (let i = 0; i < c.length; i += 2) if (c[i] < m) m = c[i];
  return m;
}

/**
 * Undoes the ±360° jumps of features that cross the antimeridian: every line and polygon gets
 * continuous longitudes (holes aligned to their shell), then is shifted by a multiple of 360° so
 * that its minimum longitude lies in [-180, 180). The result may extend past 180°; split it
 * there (see convert). Returns null when a ring does not close after unwrapping — it encircles a
 * pole and cannot be cut into east/west parts this way.
 */
export function unwrapAntimeridian(g: Geom): Geom | null {
  const normalize = (rings: Float64Array[]) => {
    const m = minX(rings[0]);
    const k = Math.floor((m + 180) / 360);
    if (k !== 0) for (const c of rings) for (let i = 0; i < c.length; i += 2) c[i] -= 360 * k;
  };
  const walk = (h: Geom): boolean => {
    if (h.type === 1) return true;
    if (h.type === 2) {
      unwrapSeq(h.coords);
      if (h.coords.length) normalize([h.coords]);
      return true;
    }
    if (h.type === 3) {
      if (!h.rings.length) return true;
      for (const ring of h.rings) if (Math.abs(unwrapSeq(ring)) > 1e-9) return false;
      const shell = h.rings[0];
      const centre = (minX(shell) + maxX(shell)) / 2;
      for (const hole of h.rings.slice(1)) {
        const k = Math.round((centre - (minX(hole) + maxX(hole)) / 2) / 360);
        if (k !== 0) for (let i = 0; i < hole.length; i += 2) hole[i] += 360 * k;
      }
      normalize(h.rings);
      return true;
    }
    return h.parts.every(walk);
  };
  return walk(g) ? g : null;
}

function maxX(c: Float64Array): number {
  let m = -Infinity;
  for (let i = 0; i < c.length; i += 2) if (c[i] > m) m = c[i];
  return m;
}
