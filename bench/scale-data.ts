/**
 * The full-size synthetic PAD-US layer of bench/scale.ts: a File Geodatabase in USA Contiguous
 * Albers (ESRI:102039, as PAD-US) with three MultiPolygon layers at PAD-US 4.1's real counts —
 * PADUS4_1Fee (296,456), PADUS4_1Easement (341,954) and the Combined layer (656,986: the Fee and
 * Easement features again plus Proclamation, Marine and Designation ones, as in PAD-US) — with the
 * sample's PAD-US attributes (cli/local/padus-sample) and a PAD-US-like size distribution: most
 * features small (log-normal areas), a heavy Pareto tail, and the known vertex giants of
 * padus-4-1.md (Yukon Delta, Arctic District, Tongass ×2, Alaska Maritime and Aleutian Islands
 * across 180°, Chincoteague). Written feature by feature from seeded streams (bounded memory);
 * a Fee or Easement feature is written to its layer and to Combined, so both hold identical features.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import gdal, { type CoordinateTransformation, type Layer } from 'gdal-async';
import { type AttrInput, COMBINED_ORDER, drawAttributes, LAYER_FIELDS, PADUS_LAYER_NAMES, type SourceKey } from '../cli/local/padus-sample/attributes.ts';
import { LAND_REGIONS, MARINE_REGIONS, ordinaryShape, type Region, regionOf, type Ring, Rng, type Shape, starRing } from '../cli/local/padus-sample/shapes.ts';
import { addFields, layerValues, realize, type Written } from '../cli/local/padus-sample/writer.ts';
import { writeDirAtomically } from '../cli/local/workdirs.ts';

/** PAD-US 4.1's feature counts by feature class (padus-4-1.md); Combined is their sum, 656,986. */
export const PADUS_COUNTS: Record<SourceKey, number> = { fee: 296_456, easement: 341_954, proclamation: 3_439, marine: 1_739, designation: 13_398 };

/** The layers written, by slug: the two big feature classes and Combined. */
export const SCALE_LAYERS = { fee: PADUS_LAYER_NAMES.fee, easement: PADUS_LAYER_NAMES.easement, combined: PADUS_LAYER_NAMES.combined } as const;
export type ScaleLayer = keyof typeof SCALE_LAYERS;

/**
 * Area (km²) of a class's ordinary features: log-normal around `median` (log sd `sigma`), except a
 * share `tail` drawn from a Pareto tail (x ≥ `tailMin`, exponent `alpha`, capped at `tailMax`).
 * Chosen so Combined holds ≈1.5 M km² (≈10⁸ resolution-10 cells), most of it in Fee.
 */
interface SizeLaw {
  median: number;
  sigma: number;
  tail: number;
  tailMin: number;
  alpha: number;
  tailMax: number;
}

const SIZE: Record<SourceKey, SizeLaw> = {
  fee: { median: 0.06, sigma: 2.2, tail: 0.003, tailMin: 100, alpha: 1.15, tailMax: 30_000 },
  easement: { median: 0.15, sigma: 1.5, tail: 0.001, tailMin: 20, alpha: 1.5, tailMax: 2_000 },
  proclamation: { median: 15, sigma: 1.5, tail: 0.01, tailMin: 1_000, alpha: 1.3, tailMax: 20_000 },
  marine: { median: 5, sigma: 1.6, tail: 0.01, tailMin: 500, alpha: 1.3, tailMax: 10_000 },
  designation: { median: 2, sigma: 1.6, tail: 0.008, tailMin: 300, alpha: 1.3, tailMax: 10_000 },
};

/** A standard normal draw (Box–Muller). */
function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
}

/** Area and vertex count of an ordinary feature: vertices grow as area^0.45, with noise; a few are densely digitized. */
function drawSize(rng: Rng, law: SizeLaw): { areaKm2: number; vertices: number } {
  const areaKm2 = rng.chance(law.tail)
    ? Math.min(law.tailMax, law.tailMin * Math.pow(1 - rng.float(), -1 / law.alpha))
    : law.median * Math.exp(law.sigma * normal(rng));
  let vertices = 10 + 70 * Math.pow(areaKm2, 0.45) * Math.exp(0.9 * normal(rng));
  if (rng.chance(0.001)) vertices *= rng.logRange(10, 300);
  return { areaKm2, vertices: Math.round(Math.min(400_000, Math.max(8, vertices))) };
}

/** A giant of padus-4-1.md's vertex tail, built at its (approximate) place. */
interface Giant {
  cls: SourceKey;
  attrs: Omit<AttrInput, 'cls' | 'region' | 'comments'>;
  what: string;
  shape: (rng: Rng, scale: number) => Shape;
}

/** One wiggly ring of `vertices` around (lon, lat): its cost is its vertex count. */
const bigRing = (lon: number, lat: number, areaKm2: number, vertices: number) => (rng: Rng, scale: number): Shape => ({
  kind: 'lonlat',
  polygons: [[starRing(rng, lon, lat, areaKm2 * scale, Math.round(vertices * scale), 0.55, 40, 4000)]],
});

/** The Aleutian arc, Kodiak (t = 0) to Attu (t = 1), across 180° (longitudes past −180 are given as +). */
function arc(t: number): [number, number] {
  const knots: [number, number][] = [[-152, 57.3], [-160, 55.3], [-166, 53.8], [-172, 52.5], [-178, 51.7], [-184, 51.8], [-188, 52.5]];
  const x = t * (knots.length - 1);
  const i = Math.min(knots.length - 2, Math.floor(x));
  const f = x - i;
  const lon = knots[i][0] + f * (knots[i + 1][0] - knots[i][0]);
  const lat = knots[i][1] + f * (knots[i + 1][1] - knots[i][1]);
  return [lon < -180 ? lon + 360 : lon, lat];
}

/**
 * `parts` islands on a lattice along the arc from t0 to t1 (5 rows across it, so they never
 * overlap), `vertices` in all; one island sits on 180° itself when the span crosses it.
 */
const islands = (t0: number, t1: number, parts: number, vertices: number) => (rng: Rng, scale: number): Shape => {
  const n = Math.max(5, Math.round(parts * scale));
  const per = Math.max(8, Math.round((vertices * scale) / n));
  const cols = Math.ceil(n / 5);
  const polygons: Ring[][] = [];
  for (let k = 0; k < n; k++) {
    const [lon, lat] = arc(t0 + ((t1 - t0) * (Math.floor(k / 5) + 0.5)) / cols);
    const slotKm = Math.min(((t1 - t0) * 2_500) / cols, 16);
    const area = rng.logRange(0.3, Math.max(0.5, (slotKm * slotKm) / 12));
    const crossing = k === Math.floor(n / 2) && arc(t0)[0] < 0 && arc(t1)[0] > 0;
    polygons.push([starRing(rng, crossing ? 180 : lon, lat + ((k % 5) - 2) * 0.15, area, per, 0.25)]);
  }
  return { kind: 'lonlat', polygons };
};

/** Chincoteague: a small refuge with very many vertices (barrier island and marsh pieces in a row). */
const chincoteague = (rng: Rng, scale: number): Shape => ({
  kind: 'lonlat',
  polygons: Array.from({ length: 40 }, (_, k) => [starRing(rng, -75.5 + 0.02 * k, 37.75 + 0.006 * k, 1.4, Math.round((836_360 * scale) / 40), 0.4, 20, 2000)]),
});

const FWS_NWR = { mang: 'FWS', own: 'FWS', desTp: 'NWR' };

const GIANTS: Giant[] = [
  { cls: 'fee', what: 'Yukon Delta NWR (1,652,049 vertices)', attrs: { ...FWS_NWR, unit: 'Yukon Delta National Wildlife Refuge' }, shape: bigRing(-162.8, 61.3, 78_000, 1_652_049) },
  { cls: 'fee', what: 'Arctic District Office (1,271,976 vertices)', attrs: { mang: 'BLM', own: 'BLM', desTp: 'PUB', unit: 'Arctic District Office' }, shape: bigRing(-155.5, 70.0, 90_000, 1_271_976) },
  { cls: 'fee', what: 'Tongass NF part 1 (1,186,125 vertices)', attrs: { mang: 'USFS', own: 'USFS', desTp: 'NF', unit: 'Tongass National Forest' }, shape: bigRing(-133.3, 56.4, 40_000, 1_186_125) },
  { cls: 'fee', what: 'Tongass NF part 2 (996,269 vertices)', attrs: { mang: 'USFS', own: 'USFS', desTp: 'NF', unit: 'Tongass National Forest' }, shape: bigRing(-135.6, 58.4, 28_000, 996_269) },
  { cls: 'fee', what: 'Alaska Maritime NWR (1,200,000 vertices, 2,000 islands across 180°)', attrs: { ...FWS_NWR, unit: 'Alaska Maritime National Wildlife Refuge' }, shape: islands(0, 1, 2_000, 1_200_000) },
  { cls: 'fee', what: 'Chincoteague NWR (836,360 vertices)', attrs: { ...FWS_NWR, unit: 'Chincoteague National Wildlife Refuge' }, shape: chincoteague },
  { cls: 'designation', what: 'Aleutian Islands Wilderness (826,991 vertices, across 180°)', attrs: { mang: 'FWS', own: 'DESG', desTp: 'WA', unit: 'Aleutian Islands Wilderness' }, shape: islands(0.45, 1, 1_300, 826_991) },
];

/** What to generate: `share` of PAD-US's counts (1 = full size); giants' vertices and areas scaled by `giantScale`. */
export interface ScaleOptions {
  share: number;
  giantScale: number;
  seed: number;
}

/** Options for a share of PAD-US's counts: giants scaled as min(1, 5 × share) (1% → 1/20 of their vertices and area). */
export function scaleOptions(share: number): ScaleOptions {
  if (!(share > 0 && share <= 1)) throw new Error(`--share must be in (0, 1], got ${share}`);
  return { share, giantScale: Math.min(1, 5 * share), seed: 41 };
}

/** Feature count of a class at a share of PAD-US. */
export const classCount = (cls: SourceKey, share: number) => Math.max(1, Math.round(PADUS_COUNTS[cls] * share));

/** Feature count of a written layer. */
export function layerCount(layer: ScaleLayer, share: number): number {
  return layer === 'combined' ? COMBINED_ORDER.reduce((n, c) => n + classCount(c, share), 0) : classCount(layer, share);
}

const ACRE_M2 = 4046.8564224;

/** Region weights of a class (easements not in Alaska, as in the sample). */
function regionsOf(cls: SourceKey): (readonly [Region, number])[] {
  if (cls === 'marine') return MARINE_REGIONS.map((rg) => [rg, 1] as const);
  const land = LAND_REGIONS.map((rg) => [rg, rg.spread] as const);
  return cls === 'easement' ? land.filter(([rg]) => rg.state !== 'AK') : land;
}

/** Forces a full GC now and then: the native geometries are invisible to V8's heap accounting. */
const collect: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Running totals of a stream, for the log and the completion record. */
export interface StreamStats {
  features: number;
  vertices: number;
  areaKm2: number;
}

/**
 * The features of one class, in a fixed order from its own seed: ordinary ones with the class's
 * giants evenly among them. The same options give the same features (and the same stats).
 */
export function* classStream(cls: SourceKey, opts: ScaleOptions, ct: CoordinateTransformation, stats: StreamStats, log: (l: string) => void): Generator<Written> {
  const rng = new Rng(opts.seed * 1000 + COMBINED_ORDER.indexOf(cls));
  const n = classCount(cls, opts.share);
  const giants = GIANTS.filter((g) => g.cls === cls);
  const at = new Map(giants.map((g, i) => [Math.round(((i + 1) * n) / (giants.length + 1)), g]));
  const regions = regionsOf(cls);
  let sinceGc = 0;
  for (let i = 0; i < n; i++) {
    const giant = at.get(i);
    let region: Region;
    let attrs;
    let shape: Shape;
    if (giant) {
      region = regionOf(giant.shape === chincoteague ? 'VA' : 'AK');
      attrs = drawAttributes(rng, { cls, region, comments: `Synthetic scale case: ${giant.what}`, ...giant.attrs });
      shape = giant.shape(rng, opts.giantScale);
      log(`  ${cls}: ${giant.what} at feature ${i + 1}`);
    } else {
      region = rng.weighted(regions);
      attrs = drawAttributes(rng, { cls, region });
      shape = ordinaryShape(rng, region, drawSize(rng, SIZE[cls]));
    }
    const real = realize(shape, ct);
    stats.features++;
    stats.vertices += real.vertices;
    stats.areaKm2 += (real.area ?? 0) / 1e6;
    sinceGc += real.vertices + 200;
    if (sinceGc > 3_000_000) (collect(), (sinceGc = 0));
    if (stats.features % 50_000 === 0) log(`  ${stats.features} features, ${(stats.vertices / 1e6).toFixed(1)} M vertices, ${Math.round(stats.areaKm2)} km² (rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB)`);
    yield {
      attrs: { ...attrs, GIS_Acres: real.area === null ? null : Math.round(real.area / ACRE_M2), SHAPE_Length: real.length, SHAPE_Area: real.area },
      real,
    };
  }
}

/** The completion record written beside the geodatabase (its presence = complete). */
export interface ScaleRecord {
  options: ScaleOptions;
  layers: Record<ScaleLayer, { name: string } & StreamStats>;
  seconds: number;
}

/** Where a share's files are under the data directory: its root, the geodatabase and its completion record. */
export function scalePaths(dataDir: string, opts: ScaleOptions): { root: string; gdb: string; record: string } {
  const root = `${dataDir}/${opts.share === 1 ? 'full' : `share-${opts.share}`}`;
  const gdb = `${root}/store/padus-scale/raw/padus-scale.gdb`;
  return { root, gdb, record: `${gdb}.json` };
}

/** The completion record when the geodatabase is complete for these options, else undefined. */
export function readRecord(record: string, opts: ScaleOptions): ScaleRecord | undefined {
  if (!existsSync(record)) return undefined;
  const r = JSON.parse(readFileSync(record, 'utf8')) as ScaleRecord;
  return JSON.stringify(r.options) === JSON.stringify(opts) ? r : undefined;
}

/**
 * Writes the geodatabase unless a complete one (its record, same options) is there. One pass over
 * the classes in Combined's order: each feature is drawn and projected once and written to
 * Combined and, for Fee and Easement, to its own layer (GDAL's OpenFileGDB writer, feature by
 * feature). The directory appears only complete.
 */
export async function ensureScaleData(dataDir: string, opts: ScaleOptions, log: (l: string) => void): Promise<ScaleRecord> {
  const { gdb, record } = scalePaths(dataDir, opts);
  const done = readRecord(record, opts);
  if (done) return done;
  rmSync(record, { force: true });
  const started = Date.now();
  const albers = gdal.SpatialReference.fromUserInput('ESRI:102039');
  const ct = new gdal.CoordinateTransformation(gdal.SpatialReference.fromUserInput('OGC:CRS83'), albers);
  const stats = Object.fromEntries(Object.keys(SCALE_LAYERS).map((k) => [k, { features: 0, vertices: 0, areaKm2: 0 }])) as Record<ScaleLayer, StreamStats>;
  await writeDirAtomically(gdb, existsSync(gdb), async (dir) => {
    const ds = await gdal.openAsync(dir, 'w', 'OpenFileGDB', 0, 0, 0);
    try {
      const layers = {} as Record<ScaleLayer, Layer>;
      for (const key of Object.keys(SCALE_LAYERS) as ScaleLayer[]) {
        layers[key] = await ds.layers.createAsync(SCALE_LAYERS[key], albers, gdal.wkbMultiPolygon);
        addFields(layers[key], LAYER_FIELDS[key]);
      }
      for (const cls of COMBINED_ORDER) {
        log(`writing ${classCount(cls, opts.share)} ${cls} features`);
        const own = cls === 'fee' || cls === 'easement' ? [cls, 'combined' as const] : ['combined' as const];
        for (const { attrs, real } of classStream(cls, opts, ct, stats.combined, log)) {
          for (const key of own) {
            const feature = new gdal.Feature(layers[key]);
            feature.fields.set(layerValues(attrs, LAYER_FIELDS[key]));
            if (real.geometry) feature.setGeometry(real.geometry);
            layers[key].features.add(feature);
            if (key !== 'combined') (stats[key].features++, (stats[key].vertices += real.vertices), (stats[key].areaKm2 += (real.area ?? 0) / 1e6));
          }
        }
        log(`  done ${cls}: ${Math.round((Date.now() - started) / 1000)} s`);
      }
    } finally {
      ds.close();
    }
  });
  const layers = Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, { name: SCALE_LAYERS[k as ScaleLayer], ...v }])) as ScaleRecord['layers'];
  const result: ScaleRecord = { options: opts, layers, seconds: (Date.now() - started) / 1000 };
  writeFileSync(record, JSON.stringify(result, null, 2) + '\n');
  return result;
}

/** Expected size of a layer without building geometries (the same draws): features, vertices, area. */
export function dryRun(layer: ScaleLayer, opts: ScaleOptions): StreamStats & { top: number[] } {
  const out = { features: 0, vertices: 0, areaKm2: 0, top: [] as number[] };
  for (const cls of layer === 'combined' ? COMBINED_ORDER : [layer]) {
    const rng = new Rng(opts.seed * 1000 + 7);
    for (let i = 0; i < classCount(cls, opts.share); i++) {
      const s = drawSize(rng, SIZE[cls]);
      out.features++;
      out.vertices += s.vertices;
      out.areaKm2 += s.areaKm2;
      if (s.vertices > 50_000) out.top.push(s.vertices);
    }
  }
  return out;
}
