import gdal, { type Geometry } from 'gdal-async';
import { decodeWkb, encodeWkb, type Geom, partCounts, partsOfDimension, polygonalPart, scanWkb, toMultiWkb, translateX, unwrapAntimeridian, WKB_TYPE_NAMES, type WkbInfo, wrapLongitudes } from '../geo/wkb.ts';
import { log } from '../core/log.ts';
import { plural } from '../core/text.ts';
import type { BBox } from '../io/geoparquet.ts';
import { addH0Estimate, type DroppedParts, estimateCells, type PlanFeature } from './plan.ts';

/**
 * Finishing one geometry of convert's GDAL pass (EPSG:4326, linear, 2-D) in GEOS:
 * - Longitudes outside [-180, 180] are wrapped vertex by vertex (GDAL's `-wrapdateline` is not
 *   used: it drops the points of a GeometryCollection).
 * - Mixed dimensions: a geometry with parts of several dimensions (a GeometryCollection of a point
 *   and a polygon) in a layer of one dimension keeps the parts of the layer's dimension (or, when
 *   it has none, of its highest); the other parts are dropped, counted and reported per feature.
 *   A layer of unknown or mixed type keeps the whole collection.
 * - Repair: GEOS MakeValid, here rather than GDAL 3.6's `-makevalid`, which runs after
 *   reprojection and turns polygons crossing the antimeridian into garbage.
 *   For a polygonal input only the polygonal part of the result is kept (bow-tie → MultiPolygon
 *   of two triangles; GeometryCollection(polygon, lines) → MultiPolygon). When nothing polygonal
 *   remains (a polygon collapsed to a line), what remains is kept (MultiLineString).
 * - Antimeridian: a geometry with an edge spanning more than 180° of longitude is unwrapped
 *   (continuous longitudes), repaired, and cut into parts east and west of 180°. A ring around a
 *   pole (it does not close once unwrapped) is first closed along the pole it encircles (the one
 *   on the side of its mean latitude): its parts end on ±180° and run along ±90°.
 * - Empty geometries (also those GEOS reduces to nothing) become null; single parts become multi.
 */

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
  /** A ring went around a pole: closed along the pole, then split at 180° like any crossing. */
  aroundPole: boolean;
  /** Parts of another dimension than the one kept (see {@link layerDimension}). */
  droppedParts: number;
  /** Why the geometry is unusable (non-finite coordinates, or GEOS failed on it); wkb is then null. */
  bad?: string;
}

/** The reason {@link normalizeGeometry} gives for coordinates that are NaN or infinite. */
export const NON_FINITE = 'coordinates that are not finite numbers (NaN or infinite)';

/** The dimension of a layer's geometry type (0 points, 1 lines, 2 polygons), undefined when unknown or mixed. */
export function layerDimension(geomType: number): 0 | 1 | 2 | undefined {
  const base = (geomType & 0x7fffffff) % 1000;
  if ([3, 6, 10, 12].includes(base)) return 2; // (Multi)Polygon, CurvePolygon, MultiSurface
  if ([2, 5, 8, 9, 11].includes(base)) return 1; // (Multi)LineString, CircularString, CompoundCurve, MultiCurve
  if (base === 1 || base === 4) return 0;
  return undefined;
}

/**
 * Finishes one geometry read from the GDAL pass (EPSG:4326, linear, 2-D): empty → null;
 * antimeridian crossings unwrapped, repaired and cut at 180°; invalid geometries made valid
 * (polygonal part kept for polygonal input, unless none remains); single parts promoted to multi.
 * A geometry no engine can use — a NaN or infinite coordinate, or one GEOS throws on — comes back
 * with `bad` (the reason) and no WKB: the caller decides (convert's `--bad-geometry`).
 */
export function normalizeGeometry(g: Geometry | null, layerDim?: 0 | 1 | 2): NormalizedGeometry {
  const r: NormalizedGeometry = { wkb: null, info: null, empty: false, repaired: false, collapsed: false, split: false, aroundPole: false, droppedParts: 0 };
  if (!g) return r;
  try {
    return normalize(g, layerDim, r);
  } catch (err) {
    return { ...r, wkb: null, info: null, bad: `GEOS: ${String((err as Error)?.message ?? err).split('\n')[0]}` };
  }
}

function normalize(g: Geometry, layerDim: 0 | 1 | 2 | undefined, r: NormalizedGeometry): NormalizedGeometry {
  let wkb: Uint8Array = g.toWKB(gdal.wkbNDR);
  let info = scanWkb(wkb);
  if (info.nonFinite) {
    r.bad = NON_FINITE;
    return r;
  }
  if (info.vertices === 0) {
    r.empty = true;
    return r;
  }
  let geom = g;
  const mixed = (info.points > 0 ? 1 : 0) + (info.lines > 0 ? 1 : 0) + (info.polygons > 0 ? 1 : 0) > 1;
  if (info.xmin < -180 || info.xmax > 180 || (mixed && layerDim !== undefined)) {
    let h = wrapLongitudes(decodeWkb(wkb));
    if (mixed && layerDim !== undefined) {
      const counts = partCounts(h);
      const dim = counts[layerDim] > 0 ? layerDim : counts[2] > 0 ? 2 : counts[1] > 0 ? 1 : 0;
      h = partsOfDimension(h, dim)!;
      r.droppedParts = counts[0] + counts[1] + counts[2] - counts[dim];
    }
    wkb = encodeWkb(h);
    info = scanWkb(wkb);
    geom = gdal.Geometry.fromWKB(Buffer.from(wkb));
  }
  const polygonal = info.polygons > 0 && info.lines === 0 && info.points === 0;
  let changed = false;
  const crossing = info.crossesAntimeridian;
  if (crossing) {
    const { geom: unwrapped, poles } = unwrapAntimeridian(decodeWkb(wkb));
    geom = gdal.Geometry.fromWKB(Buffer.from(encodeWkb(unwrapped)));
    changed = true;
    r.aroundPole = poles > 0;
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
      if (r.aroundPole && polygonal && parts.length > 1) unionParts(parts);
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

/**
 * Replaces polygon parts by their union: the east and west parts of a ring closed along a pole
 * overlap where its coast doubles back across the cut at 180°.
 */
function unionParts(parts: Geom[]): void {
  let u = gdal.Geometry.fromWKB(Buffer.from(encodeWkb(parts[0])));
  for (const p of parts.slice(1)) u = u.union(gdal.Geometry.fromWKB(Buffer.from(encodeWkb(p))));
  const poly = polygonalPart(decodeWkb(u.toWKB(gdal.wkbNDR)));
  if (poly) parts.splice(0, parts.length, ...(poly as { parts: Geom[] }).parts);
}

/** Polygons, else lines, else points of a geometry, as one multi geometry (or null). */
function mixedParts(h: Geom): Geom | null {
  return partsOfDimension(h, 2) ?? partsOfDimension(h, 1) ?? partsOfDimension(h, 0);
}

/**
 * What convert learns from the features as they stream by, for the log, the GeoParquet `geo`
 * metadata and the hex plan: counts of what was done to the geometries, the layer's bbox and
 * geometry types, the ids of features without geometry, and each feature's estimated cells and
 * vertices (the hex plan's input). Three numbers per feature, nothing more.
 */

export interface GeometryStats {
  /** Null or empty in the source, or reduced to nothing by MakeValid. */
  nullGeometries: number;
  emptyGeometries: number;
  repaired: number;
  /** Polygons that kept no polygonal part after MakeValid (kept as lines/points). */
  collapsed: number;
  splitAtAntimeridian: number;
  /** Features with a ring around a pole (closed along the pole, split at 180°). */
  aroundPole: number;
  /** Features that lost parts of another dimension than the layer's (see normalizeGeometry). */
  partsDropped: number;
  /** Unusable geometries (NaN/infinite coordinates, GEOS failures); also counted in nullGeometries. */
  badGeometries: number;
}

/** How many ids the log and the hex plan list. */
const MAX_IDS = 20;

/** How many unusable geometries the tally keeps by position (all are counted). */
export const MAX_BAD_KEPT = 10_000;

/** A feature whose geometry is unusable: its position in the source (1-based), its id, and why. */
export interface BadFeature {
  seq: number;
  id: number;
  reason: string;
}

export class FeatureTally {
  /** Features added, with or without geometry. */
  rows = 0;
  readonly stats: GeometryStats = { nullGeometries: 0, emptyGeometries: 0, repaired: 0, collapsed: 0, splitAtAntimeridian: 0, aroundPole: 0, partsDropped: 0, badGeometries: 0 };
  /** The first {@link MAX_BAD_KEPT} unusable geometries, in source order. */
  readonly bad: BadFeature[] = [];
  readonly dropped: DroppedParts = { features: 0, parts: 0, ids: [] };
  readonly geometryTypes = new Set<string>();
  /** The hex plan's input: one entry per feature with a geometry. */
  readonly planFeatures: PlanFeature[] = [];
  /** Estimated cells per h0 cell (the repartition groups' input). */
  readonly h0Estimates = new Map<string, number>();
  /** The first few ids with a null geometry (for the log). */
  readonly nullIds: number[] = [];
  private box = [Infinity, Infinity, -Infinity, -Infinity];

  /** @param resolution H3 resolution the plan's cell estimates are for. */
  constructor(private readonly resolution: number) {}

  /** Adds feature `fid` (its id), the `seq`-th of the source (1-based; the id unless --id-column). */
  add(fid: number, g: NormalizedGeometry, seq = fid): void {
    const s = this.stats;
    this.rows++;
    if (g.bad !== undefined) {
      s.badGeometries++;
      if (this.bad.length < MAX_BAD_KEPT) this.bad.push({ seq, id: fid, reason: g.bad });
    }
    if (g.repaired) s.repaired++;
    if (g.collapsed) s.collapsed++;
    if (g.split) s.splitAtAntimeridian++;
    if (g.aroundPole) s.aroundPole++;
    if (g.droppedParts) {
      s.partsDropped++;
      this.dropped.features++;
      this.dropped.parts += g.droppedParts;
      if (this.dropped.ids.length < MAX_IDS) this.dropped.ids.push(fid);
    }
    if (g.wkb === null || g.info === null) {
      s.nullGeometries++;
      if (g.empty) s.emptyGeometries++;
      if (this.nullIds.length < MAX_IDS) this.nullIds.push(fid);
      return;
    }
    const i = g.info;
    const b = this.box;
    if (i.xmin < b[0]) b[0] = i.xmin;
    if (i.ymin < b[1]) b[1] = i.ymin;
    if (i.xmax > b[2]) b[2] = i.xmax;
    if (i.ymax > b[3]) b[3] = i.ymax;
    this.geometryTypes.add(WKB_TYPE_NAMES[i.type]);
    const cells = estimateCells(i, this.resolution);
    this.planFeatures.push({ fid, cells, vertices: i.vertices });
    addH0Estimate(this.h0Estimates, i, cells);
  }

  /** The bbox of every geometry, or null when no feature has one. */
  get bbox(): BBox | null {
    return this.planFeatures.length ? [this.box[0], this.box[1], this.box[2], this.box[3]] : null;
  }

  /** Logs what was done to the geometries (null ones listed by `idName`). */
  logStats(idName: string): void {
    const s = this.stats;
    if (s.nullGeometries > 0)
      log('convert', `${s.nullGeometries} feature(s) with a null or empty geometry kept as rows with NULL geometry (${s.emptyGeometries} empty or emptied by repair; ${idName}: ${this.nullIds.join(', ')}${s.nullGeometries > this.nullIds.length ? ', …' : ''})`);
    if (s.repaired) log('convert', `${plural(s.repaired, 'invalid geometry', 'invalid geometries')} made valid (GEOS MakeValid)`);
    if (s.collapsed) log('convert', `${s.collapsed} polygon(s) had no area left after repair; kept as the lines/points that remain`);
    if (s.splitAtAntimeridian) log('convert', `${s.splitAtAntimeridian} feature(s) split at the antimeridian`);
    if (s.aroundPole) log('convert', `${s.aroundPole} feature(s) encircle a pole; closed along the pole and split at the antimeridian`);
    const d = this.dropped;
    if (d.features)
      log('convert', `parts dropped (other dimension): ${plural(d.parts, 'part')} of ${plural(d.features, 'feature')} not of the layer's geometry type (${idName}: ${d.ids.join(', ')}${d.features > d.ids.length ? `, … ${d.features} in all` : ''}); recorded in the hex plan and manifest.json as dropped_parts`);
  }
}
