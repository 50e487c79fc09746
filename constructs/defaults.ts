import { layerBytes, VERTICES_PER_FEATURE } from '../worker/core/disk-full.ts';
import { parseQuantity } from '../worker/core/text.ts';
import type { StageKind, StageResources } from './stage.ts';

/**
 * What a dataset file leaves out: hex settings, per-stage pod sizes and Flux timeouts, and the
 * names and counts derived from the file (work units, table stage ids). The documented defaults
 * (docs/datasets.md); spec.ts re-exports them.
 */

/** Hex settings of a vector layer (the dataset's `hex`, then the layer's `hex`, over these). */
export interface HexSettings {
  resolution: number;
  parents: number[];
  containment: 'center' | 'overlap';
  featuresPerUnit: number;
  runner: 'flux' | 'armada';
  parallelism?: number;
  /** Layer only: re-run just these work units. */
  retry?: { indexes: number[] };
  /** Layer only, runner 'armada': the job set known to have completed. */
  completedJobSet?: string;
}

export const HEX_DEFAULTS: HexSettings = { resolution: 10, parents: [9, 8], containment: 'center', featuresPerUnit: 2000, runner: 'flux' };

/** Effective hex settings of a layer: the defaults, then the dataset's `hex`, then the layer's. */
export function layerHexSettings(datasetHex: Partial<HexSettings>, layerHex: Partial<HexSettings> | undefined): HexSettings {
  return { ...HEX_DEFAULTS, ...datasetHex, ...layerHex };
}

/** Work units of a layer's hex stage: ceil(features / featuresPerUnit), at least 1. */
export function hexWorkUnits(features: number, featuresPerUnit: number): number {
  return Math.max(1, Math.ceil(features / featuresPerUnit));
}

/** Features per repartition unit when the dataset file does not set `repartition.units`. */
export const FEATURES_PER_REPARTITION_UNIT = 40_000;

/** The H3 resolution-0 cells: the most repartition units a layer can use. */
export const MAX_REPARTITION_UNITS = 122;

/**
 * Repartition units (Indexed completions, each a balanced group of h0 cells): the dataset file's
 * `repartition.units`, else ceil(features / 40,000), between 1 and 122.
 */
export function repartitionUnits(features: number, given?: number): number {
  return Math.min(MAX_REPARTITION_UNITS, Math.max(1, given ?? Math.ceil(features / FEATURES_PER_REPARTITION_UNIT)));
}

/**
 * A repartition pod's size from the layer's declared features (the dataset file's `resources`
 * override it): one pod holds one group of h0 cells, so a small layer needs less than the default.
 */
export function repartitionResources(features: number): Partial<StageResources> {
  return features <= 50_000 ? { memory: '4Gi', ephemeralStorage: '20Gi' } : {};
}

/**
 * Most hex work units one layer may have. Each is a Job completion (or an Armada job, ~2.6 KB of
 * dist/ each): 10,000 units are 50 Jobs, or a 26 MB Armada job set that takes ~25 s to synthesize.
 */
export const MAX_HEX_UNITS = 10_000;

/** Vertices one tiles work unit is given (high-zoom units; the low-zoom unit holds the layer pre-simplified). */
export const TILE_UNIT_VERTICES = 10_000_000;
/** Vertices per feature assumed when the dataset file does not declare `pmtiles.vertices`. */
export const DEFAULT_VERTICES_PER_FEATURE = 200;

/**
 * Units and pod sizes of a layer's tiles stages from its declared features and vertices (docs/stages.md#tiles):
 * one unit up to {@link TILE_UNIT_VERTICES}, else one low-zoom unit plus one per 10 M vertices (at most
 * 256). Memory: 1 GiB plus ~150 bytes per vertex a unit holds (the high-zoom units' share with 1.5×
 * for imbalance, at least the largest PAD-US feature's 1.7 M vertices) or ~2 KB per feature (unit
 * 0's attributes), whichever is more, 2–32 GiB. Scratch: the
 * GeoParquet download (~16 bytes per vertex + 1 KB per feature) plus 10 GiB; the merge: parts,
 * staging and archive, ~3 × 8 bytes per vertex, at least 20 GiB.
 */
export function tilesSizing(features: number, declared: { vertices?: number; units?: number } = {}): { units: number; tiles: StageResources; merge: StageResources } {
  const vertices = declared.vertices ?? features * DEFAULT_VERTICES_PER_FEATURE;
  const units = declared.units ?? (vertices <= TILE_UNIT_VERTICES ? 1 : Math.min(256, 1 + Math.ceil(vertices / TILE_UNIT_VERTICES)));
  const perUnit = units === 1 ? vertices : Math.max(1_700_000, (1.5 * vertices) / (units - 1));
  const gib = (bytes: number) => Math.ceil(bytes / 2 ** 30);
  // The low-zoom unit 0 holds every feature's attributes (~2 KB each) and simplified geometry.
  const memory = Math.min(32, Math.max(2, 1 + gib(Math.max(perUnit * 150, features * 2000))));
  return {
    units,
    tiles: { cpu: '1', memory: `${memory}Gi`, ephemeralStorage: `${10 + gib(vertices * 16 + features * 1000)}Gi` },
    merge: { cpu: '1', memory: '4Gi', ephemeralStorage: `${Math.max(20, gib(vertices * 24))}Gi` },
  };
}

/**
 * Raster hex settings when the raster does not set them. Work units are always the 122 H3
 * resolution-0 cells (one raster-hex completion each).
 */
export const RASTER_HEX_DEFAULTS = { resolution: 8, parents: [] as number[] } as const;

/** Work units of every raster-hex stage: one per H3 base cell. */
export const RASTER_HEX_UNITS = 122;

/** Resources of each stage kind when nothing overrides them. Requests equal limits. */
export const DEFAULT_RESOURCES: Record<StageKind, StageResources> = {
  'setup-bucket': { cpu: '500m', memory: '512Mi', ephemeralStorage: '1Gi' },
  fetch: { cpu: '1', memory: '1Gi', ephemeralStorage: '1Gi' },
  convert: { cpu: '2', memory: '8Gi', ephemeralStorage: '40Gi' },
  table: { cpu: '1', memory: '2Gi', ephemeralStorage: '5Gi' },
  hex: { cpu: '2', memory: '4Gi', ephemeralStorage: '10Gi' },
  repartition: { cpu: '2', memory: '8Gi', ephemeralStorage: '60Gi' },
  publish: { cpu: '1', memory: '2Gi', ephemeralStorage: '40Gi' },
  tiles: { cpu: '1', memory: '4Gi', ephemeralStorage: '20Gi' },
  'tiles-merge': { cpu: '1', memory: '4Gi', ephemeralStorage: '40Gi' },
  cog: { cpu: '2', memory: '8Gi', ephemeralStorage: '100Gi' },
  'raster-hex': { cpu: '1', memory: '4Gi', ephemeralStorage: '20Gi' },
  'raster-manifest': { cpu: '500m', memory: '1Gi', ephemeralStorage: '1Gi' },
  reencode: { cpu: '2', memory: '8Gi', ephemeralStorage: '40Gi' },
  'reencode-merge': { cpu: '2', memory: '8Gi', ephemeralStorage: '40Gi' },
  'reencode-publish': { cpu: '500m', memory: '1Gi', ephemeralStorage: '1Gi' },
  'points-hex': { cpu: '2', memory: '4Gi', ephemeralStorage: '10Gi' },
  'points-repartition': { cpu: '2', memory: '8Gi', ephemeralStorage: '20Gi' },
  'points-publish': { cpu: '1', memory: '2Gi', ephemeralStorage: '1Gi' },
  docs: { cpu: '1', memory: '2Gi', ephemeralStorage: '10Gi' },
  sync: { cpu: '1', memory: '2Gi', ephemeralStorage: '1Gi' },
};

/**
 * How long each stage usually may take at most (docs/datasets.md). Not Flux's `timeout`: a stage
 * Kustomization waits only the profile's short `fluxHealthTimeout` per reconcile.
 */
export const DEFAULT_TIMEOUTS: Record<StageKind, string> = {
  'setup-bucket': '10m',
  fetch: '3h',
  convert: '3h',
  table: '30m',
  hex: '12h',
  repartition: '4h',
  publish: '2h',
  tiles: '12h',
  'tiles-merge': '3h',
  cog: '6h',
  'raster-hex': '6h',
  'raster-manifest': '30m',
  reencode: '6h',
  'reencode-merge': '4h',
  'reencode-publish': '2h',
  'points-hex': '6h',
  'points-repartition': '6h',
  'points-publish': '2h',
  docs: '30m',
  sync: '6h',
};

/**
 * Top-level directories of dist/ that are not a dataset's (`cng synth` writes the Flux
 * Kustomizations to `flux/` and Armada job sets to `armada/`); no dataset may be named so, or its
 * stage directories would land among them.
 */
export const RESERVED_DATASET_NAMES = ['flux', 'armada'] as const;

/** Stage id of a table export: `table-<slug>`. */
export function tableStageId(table: string): string {
  return `table-${slugify(table)}`;
}

/** Lower-cases a layer or table name and replaces runs of non-alphanumerics by '-'. */
export function slugify(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/** What the dataset file declares about a layer's or raster's size (the scratch estimates' input). */
export interface SizeEstimate {
  /** A layer's features (`layers.<key>.features`). */
  features?: number;
  /** A layer's vertices (`layers.<key>.vertices`); else {@link VERTICES_PER_FEATURE} per feature. */
  vertices?: number;
  /** A raster's samples: width × height × bands (`rasters.<key>.size`, `bands`). */
  samples?: number;
}

/**
 * The scratch disk (`ephemeralStorage`: the emptyDir's sizeLimit and the pod's ephemeral-storage)
 * a stage needs for a layer or raster of this size, never below the stage kind's default; null
 * when the stage's scratch does not grow with the data. The estimates (docs/datasets.md#scratch-disk):
 * a layer's raw size R = vertices × 16 B + features × 2 KiB and GeoParquet G = vertices × 12 B +
 * features × 1 KiB; convert 3 R (temporary GeoPackage, DuckDB staging, GeoParquet), hex 2 G (the
 * GeoParquet and the unit's cells), repartition 3 G (the GeoParquet and every chunk; tiles and
 * tiles-merge are sized by tilesSizing); a raster's cog 3 × samples × 4 B (source, mosaic, COG with
 * overviews). Rounded up to whole GiB. A `resources.<stage>.ephemeralStorage` in the dataset file
 * overrides it.
 */
export function scratchStorage(kind: StageKind, e: SizeEstimate): string | null {
  const { raw, parquet } = layerBytes(e.features ?? 0, e.vertices);
  const need: Partial<Record<StageKind, number>> = {
    convert: 3 * raw,
    hex: 2 * parquet,
    repartition: 3 * parquet,
    cog: 3 * (e.samples ?? 0) * 4,
  };
  const bytes = need[kind];
  if (bytes === undefined) return null;
  const floor = parseQuantity(DEFAULT_RESOURCES[kind].ephemeralStorage);
  return bytes <= floor ? DEFAULT_RESOURCES[kind].ephemeralStorage : `${Math.ceil(bytes / 2 ** 30)}Gi`;
}
