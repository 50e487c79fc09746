/**
 * The sample's feature plan: every feature of the 5 source layers (attributes and unprojected
 * shape) drawn from the seed — proportional counts of ordinary features, with the hard cases
 * inserted evenly among them. The draw order is fixed: the same seed gives the same plan.
 */
import { type AttrInput, type Attrs, drawAttributes, type SourceKey } from './attributes.ts';
import { albersRect, bowTie, CURVES, LAND_REGIONS, MARINE_REGIONS, ordinaryShape, pointIn, type Region, regionOf, type Ring, type Rng, type Shape, starRing } from './shapes.ts';

export interface PlannedFeature {
  cls: SourceKey;
  attrs: Attrs;
  shape: Shape;
}

export interface Plan {
  layers: Record<SourceKey, PlannedFeature[]>;
}

type ToAlbers = (lon: number, lat: number) => [number, number];

/** Builds every feature (attributes and unprojected shape) from the seed. */
export function planSample(rng: Rng, features: number, bigVertices: number, toAlbers: ToAlbers): Plan {
  const planner = new Planner(rng, toAlbers);
  const layers = ordinaryFeatures(planner, features);
  layers.fee = interleave(layers.fee, feeHardCases(planner, bigVertices));
  addOtherHardCases(planner, layers);
  return { layers };
}

/** Draws features one at a time, from the one random sequence. */
class Planner {
  constructor(
    readonly rng: Rng,
    private readonly toAlbers: ToAlbers,
  ) {}

  /** `n` ordinary features of a layer, in regions drawn by weight. */
  ordinary(cls: SourceKey, n: number, regions: readonly (readonly [Region, number])[]): PlannedFeature[] {
    return Array.from({ length: n }, () => {
      const region = this.rng.weighted(regions);
      const attrs = drawAttributes(this.rng, { cls, region });
      return { cls, attrs, shape: ordinaryShape(this.rng, region) };
    });
  }

  /** A hard case: the given shape, its Comments saying what it is. */
  hard(cls: SourceKey, region: Region, shape: Shape, comments: string, extra: Omit<AttrInput, 'cls' | 'region' | 'comments'> = {}): PlannedFeature {
    return { cls, shape, attrs: drawAttributes(this.rng, { cls, region, comments: `Synthetic hard case: ${comments}`, ...extra }) };
  }

  /** An Albers anchor point inside a region (by default a random CONUS one). */
  anchor(region = this.rng.pick(LAND_REGIONS.filter((rg) => rg.state !== 'AK' && rg.state !== 'HI'))): { region: Region; xy: [number, number] } {
    const [lon, lat] = pointIn(this.rng, region);
    return { region, xy: this.toAlbers(lon, lat) };
  }

  /** Aleutian islands on both sides of 180°, ~52°N: one multipart feature (never crossing 180° itself). */
  aleutians(): Shape {
    const rng = this.rng;
    const centres: [number, number][] = [[178.85, 51.55], [179.2, 51.4], [179.62, 51.95], [179.88, 51.75], [-179.85, 51.8], [-179.55, 51.65], [-179.2, 51.5], [-178.9, 51.85]];
    return {
      kind: 'lonlat',
      polygons: centres.map(([lon, lat]) => [starRing(rng, lon + rng.range(-0.02, 0.02), lat + rng.range(-0.05, 0.05), rng.logRange(1, 20), rng.int(16, 60), 0.3)]),
    };
  }
}

/** The ordinary features of each source layer: Fee `features`, the others proportional counts. */
function ordinaryFeatures(planner: Planner, features: number): Record<SourceKey, PlannedFeature[]> {
  const counts: Record<SourceKey, number> = {
    fee: features,
    easement: Math.round(features * 1.1),
    proclamation: Math.max(1, Math.round(features / 10)),
    marine: Math.max(1, Math.round(features / 20)),
    designation: Math.max(1, Math.round(features / 10)),
  };
  const landWeights = LAND_REGIONS.map((rg) => [rg, rg.spread] as const);
  return {
    fee: planner.ordinary('fee', counts.fee, landWeights),
    easement: planner.ordinary('easement', counts.easement, landWeights.filter(([rg]) => rg.state !== 'AK')),
    proclamation: planner.ordinary('proclamation', counts.proclamation, landWeights),
    marine: planner.ordinary('marine', counts.marine, MARINE_REGIONS.map((rg) => [rg, 1] as const)),
    designation: planner.ordinary('designation', counts.designation, landWeights),
  };
}

/** Fee's hard cases: curves, multiparts across 180° and many-part, tiny, sliver, bow-tie, NULL, very large. */
function feeHardCases(planner: Planner, bigVertices: number): PlannedFeature[] {
  const { rng } = planner;
  const hard = planner.hard.bind(planner);
  const ak = regionOf('AK');
  const a = planner.anchor();
  const b = planner.anchor();
  const c = planner.anchor();
  const sq = planner.anchor();
  const sl = planner.anchor();
  const bt = planner.anchor();
  const keys = regionOf('FL');
  const archipelago: Ring[][] = [];
  const parts = rng.int(15, 25);
  for (let i = 0; i < parts; i++) {
    const t = i / (parts - 1);
    archipelago.push([starRing(rng, -81.75 + 1.25 * t, 24.56 + 0.45 * t * t, rng.logRange(0.05, 2), rng.int(8, 40), 0.35)]);
  }
  const bigLon = -162.6;
  const bigLat = 61.2;
  return [
    hard('fee', a.region, CURVES.circle(a.xy[0], a.xy[1], rng.range(600, 2500)), 'curved (MultiSurface, CircularString circle)'),
    hard('fee', b.region, CURVES.stadiumWithHole(b.xy[0], b.xy[1], rng.range(800, 2000), rng.range(700, 1500), rng.range(150, 500)), 'curved (CompoundCurve ring with a circular hole)'),
    hard('fee', c.region, CURVES.halfDisc(c.xy[0], c.xy[1], rng.range(500, 1800), rng.range(300, 900)), 'curved multipart (CurvePolygon + Polygon in one MultiSurface)'),
    hard('fee', ak, planner.aleutians(), 'multipart island chain crossing the antimeridian (179°E..179°W)', { mang: 'FWS', own: 'FWS', desTp: 'NWR', unit: 'Alaska Maritime National Wildlife Refuge' }),
    hard('fee', keys, { kind: 'lonlat', polygons: archipelago }, `multipart archipelago (${parts} parts)`, { mang: 'FWS', own: 'FWS', desTp: 'NWR' }),
    hard('fee', sq.region, albersRect(sq.xy[0], sq.xy[1], 50, 50, 0), 'smaller than an H3 res-10 cell (50 m square, 0.0025 km²)', { mang: 'CITY', own: 'CITY', desTp: 'LP' }),
    hard('fee', sl.region, albersRect(sl.xy[0], sl.xy[1], 2000, 5, rng.range(0, Math.PI)), 'sliver (5 m x 2 km)'),
    hard('fee', bt.region, bowTie(bt.xy[0], bt.xy[1], rng.range(0.8, 3)), 'invalid self-intersecting bow-tie'),
    hard('fee', rng.pick(LAND_REGIONS), { kind: 'none' }, 'NULL geometry'),
    // Large in vertices, moderate in area (200–300 km²): its cost in every stage is the vertex
    // count; a larger area would only multiply the zoom-14 tiles GDAL clips it into.
    hard('fee', ak, { kind: 'lonlat', polygons: [[starRing(rng, bigLon, bigLat, rng.range(200, 300), bigVertices, 0.55, 40, 4000)]] }, `very large polygon (${bigVertices} vertices, 200–300 km²)`, { mang: 'FWS', own: 'FWS', desTp: 'NWR', unit: 'Yukon Delta National Wildlife Refuge' }),
  ];
}

/** The hard cases of Easement, Proclamation, Marine and Designation, inserted among their features. */
function addOtherHardCases(planner: Planner, layers: Record<SourceKey, PlannedFeature[]>): void {
  const { rng } = planner;
  const hard = planner.hard.bind(planner);
  const e1 = planner.anchor();
  const e2 = planner.anchor();
  const e3 = planner.anchor();
  const p1 = planner.anchor();
  const d1 = planner.anchor();
  const m = planner.anchor(rng.pick(MARINE_REGIONS.filter((rg) => rg.state !== 'AK' && rg.state !== 'HI')));
  layers.easement = interleave(layers.easement, [
    hard('easement', e1.region, albersRect(e1.xy[0], e1.xy[1], 30, 30, rng.range(0, 1)), 'smaller than an H3 res-10 cell (30 m square)'),
    hard('easement', e2.region, CURVES.halfDisc(e2.xy[0], e2.xy[1], rng.range(300, 1200)), 'curved (half disc)'),
    hard('easement', e3.region, bowTie(e3.xy[0], e3.xy[1], rng.range(0.3, 1)), 'invalid self-intersecting bow-tie'),
  ]);
  layers.proclamation = interleave(layers.proclamation, [
    hard('proclamation', p1.region, CURVES.stadiumWithHole(p1.xy[0], p1.xy[1], rng.range(2000, 4000), rng.range(1500, 2500), rng.range(200, 600)), 'curved (CompoundCurve ring with a circular hole)'),
  ]);
  layers.marine = interleave(layers.marine, [
    hard('marine', m.region, CURVES.circle(m.xy[0], m.xy[1], rng.range(1000, 3500)), 'curved (circular marine area)'),
  ]);
  const ak = regionOf('AK');
  layers.designation = interleave(layers.designation, [
    hard('designation', ak, planner.aleutians(), 'multipart island chain crossing the antimeridian (179°E..179°W)', { mang: 'FWS', desTp: 'WA', unit: 'Aleutian Islands Wilderness' }),
    hard('designation', d1.region, albersRect(d1.xy[0], d1.xy[1], 3000, 10, rng.range(0, Math.PI)), 'sliver (10 m x 3 km river corridor)', { desTp: 'WSR' }),
    hard('designation', rng.pick(LAND_REGIONS), { kind: 'none' }, 'NULL geometry'),
  ]);
}

/** Inserts `hard` features evenly among `ordinary` ones (deterministic positions). */
function interleave<T>(ordinary: T[], hard: T[]): T[] {
  const out = [...ordinary];
  for (let i = hard.length - 1; i >= 0; i--) {
    const at = Math.round(((i + 1) * ordinary.length) / (hard.length + 1));
    out.splice(at, 0, hard[i]);
  }
  return out;
}
