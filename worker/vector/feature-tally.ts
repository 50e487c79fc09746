/**
 * What convert learns from the features as they stream by, for the log, the GeoParquet `geo`
 * metadata and the hex plan: counts of what was done to the geometries, the layer's bbox and
 * geometry types, the ids of features without geometry, and each feature's estimated cells and
 * vertices (the hex plan's input). Three numbers per feature, nothing more.
 */
import { log } from '../core/log.ts';
import { plural } from '../core/text.ts';
import { type BBox } from '../io/geoparquet.ts';
import { WKB_TYPE_NAMES } from '../geo/wkb.ts';
import type { NormalizedGeometry } from './normalize-geometry.ts';
import { estimateCells, type PlanFeature } from './plan.ts';

export interface GeometryStats {
  /** Null or empty in the source, or reduced to nothing by MakeValid. */
  nullGeometries: number;
  emptyGeometries: number;
  repaired: number;
  /** Polygons that kept no polygonal part after MakeValid (kept as lines/points). */
  collapsed: number;
  splitAtAntimeridian: number;
  /** Rings around a pole, left as they were. */
  aroundPole: number;
}

export class FeatureTally {
  /** Features added, with or without geometry. */
  rows = 0;
  readonly stats: GeometryStats = { nullGeometries: 0, emptyGeometries: 0, repaired: 0, collapsed: 0, splitAtAntimeridian: 0, aroundPole: 0 };
  readonly geometryTypes = new Set<string>();
  /** The hex plan's input: one entry per feature with a geometry. */
  readonly planFeatures: PlanFeature[] = [];
  /** The first few ids with a null geometry (for the log). */
  readonly nullIds: number[] = [];
  private box = [Infinity, Infinity, -Infinity, -Infinity];

  /** @param resolution H3 resolution the plan's cell estimates are for. */
  constructor(private readonly resolution: number) {}

  add(fid: number, g: NormalizedGeometry): void {
    const s = this.stats;
    this.rows++;
    if (g.repaired) s.repaired++;
    if (g.collapsed) s.collapsed++;
    if (g.split) s.splitAtAntimeridian++;
    if (g.aroundPole) s.aroundPole++;
    if (g.wkb === null || g.info === null) {
      s.nullGeometries++;
      if (g.empty) s.emptyGeometries++;
      if (this.nullIds.length < 20) this.nullIds.push(fid);
      return;
    }
    const i = g.info;
    const b = this.box;
    if (i.xmin < b[0]) b[0] = i.xmin;
    if (i.ymin < b[1]) b[1] = i.ymin;
    if (i.xmax > b[2]) b[2] = i.xmax;
    if (i.ymax > b[3]) b[3] = i.ymax;
    this.geometryTypes.add(WKB_TYPE_NAMES[i.type]);
    this.planFeatures.push({ fid, cells: estimateCells(i, this.resolution), vertices: i.vertices });
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
    if (s.aroundPole) log('convert', `${s.aroundPole} feature(s) encircle a pole; left as they are`);
  }
}
