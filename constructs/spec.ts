import { z } from 'zod';
import { proseSchema } from './prose.ts';
import { reencodeSchema } from './reencode.ts';
import { datasetIssues, SpecError } from './spec-rules.ts';
import type { StageKind } from './stage.ts';

export {
  DEFAULT_RESOURCES, DEFAULT_TIMEOUTS, HEX_DEFAULTS, hexWorkUnits, layerHexSettings, MAX_HEX_UNITS, MAX_REPARTITION_UNITS, RASTER_HEX_DEFAULTS, RASTER_HEX_UNITS,
  repartitionResources, repartitionUnits, RESERVED_DATASET_NAMES, slugify, tableStageId, tilesSizing, type HexSettings,
} from './defaults.ts';

/**
 * The dataset file format. A dataset file exports one `DatasetSpec`; everything about the cluster
 * lives in the cluster profile, everything about pipelines in the constructs. Defaults below are the
 * documented ones (docs/datasets.md).
 */

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lower-case letters, digits and "-" (a DNS label)')
  .max(40, 'must be at most 40 characters so Job names fit in 63');

/** A key path inside a bucket ('' or `a/b-c/d.e`): no wildcard or separator characters. */
const KEY_PATH = /^([a-z0-9][-a-z0-9_.]*(\/[a-z0-9][-a-z0-9_.]*)*)?$/;

const quantity = z.string().regex(/^[0-9.]+(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/, 'must be a Kubernetes quantity like "2", "500m" or "4Gi"');

const resources = z
  .object({ cpu: quantity, memory: quantity, ephemeralStorage: quantity })
  .partial()
  .strict();

/** Every stage kind a dataset file may name (resources, rerun). */
export const STAGE_KINDS = [
  'setup-bucket', 'fetch', 'convert', 'table', 'hex', 'repartition', 'tiles', 'tiles-merge', 'publish', 'cog', 'raster-hex', 'raster-manifest',
  'points-hex', 'points-repartition', 'points-publish', 'reencode', 'reencode-merge', 'reencode-publish', 'docs', 'sync',
] as const;

/** Per-stage resource overrides, e.g. `{ hex: { memory: '8Gi' } }`. */
const resourceOverrides = z.object(Object.fromEntries(STAGE_KINDS.map((k) => [k, resources.optional()])) as Record<StageKind, z.ZodOptional<typeof resources>>).strict();

/**
 * Per-stage re-runs, e.g. `{ pmtiles: 2 }`: a number that enters the names of exactly that
 * stage's Jobs (and, through their hashes, the stages downstream), so Flux runs them again after a
 * transient failure without bumping the dataset's `run`. Keys are stage kinds; only the kinds of
 * stages the layer has are accepted (checked when the dataset is built).
 */
const rerunCount = z.number().int().positive();
const stageReruns = z.object(Object.fromEntries(STAGE_KINDS.map((k) => [k, rerunCount.optional()])) as Record<StageKind, z.ZodOptional<typeof rerunCount>>).strict();

const hex = z
  .object({
    /** H3 resolution of the cells. @default 10 */
    resolution: z.number().int().min(0).max(15),
    /** Parent resolutions written as extra columns. @default [9, 8] */
    parents: z.array(z.number().int().min(0).max(15)),
    /** Which cells a polygon gets: cell centre inside, or any overlap. @default 'center' */
    containment: z.enum(['center', 'overlap']),
    /** Features per hex work unit used to size the Jobs (the plan balances real work). @default 2000 */
    featuresPerUnit: z.number().int().positive(),
    /** Hex pods at once per Job. @default derived from the dataset's maxPods */
    parallelism: z.number().int().positive().optional(),
    /** 'armada' renders the hex stage as an Armada job set instead of Jobs. @default 'flux' */
    runner: z.enum(['flux', 'armada']),
  })
  .strict();

/**
 * Layer-only hex settings: which work units to re-run, and the Armada hand-over. Global work-unit
 * indices (offsets included), as `cng status` and `cng doctor` report them.
 */
const retry = z
  .object({
    /** Work units to re-run in ONE retry Job (several of ≤200 when longer) instead of the full hex Jobs. */
    indexes: z.array(z.number().int().nonnegative()).min(1, 'list at least one work unit, or remove retry'),
    /**
     * The run whose failed Jobs this retries (`cng doctor --apply` records it). Synthesis fails when
     * the dataset's run differs: a new run re-runs every unit, and its chunks must not be mixed
     * with an older run's.
     */
    run: z.number().int().positive().optional(),
  })
  .strict();

const layerHex = hex
  .partial()
  .extend({
    /** Re-run only these work units (their chunks are missing); the others' chunks are already in S3. */
    retry: retry.optional(),
    /**
     * With runner 'armada': the job set id (`dist/armada/…`, `jobSetId`) that has completed. When it
     * equals the stage's current job set, the stages downstream are applied unsuspended.
     */
    completedJobSet: z.string().min(1).optional(),
  })
  .strict();

const vectorSourceItem = z
  .string()
  .min(1)
  .refine((s) => !s.includes(','), 'must not contain "," (the stages take a comma-separated list); list several files as an array');

/**
 * Where vector layers and tables are read (docs/datasets.md#sources): one GDAL source (s3://,
 * https://, a path, or a GDAL name such as /vsizip//vsicurl/https://…/x.zip/x.gdb), or a list of
 * them, each of which may be a file-name glob over a local directory or an s3:// prefix
 * (`s3://public-census/raw/tl_2024_*_tract.zip`): several files are merged into one layer.
 */
const vectorSource = z.union([vectorSourceItem, z.array(vectorSourceItem).min(1, 'list at least one source')], {
  errorMap: (issue, ctx) => ({ message: issue.code === 'invalid_union' ? 'must be a source string or a list of them' : ctx.defaultError }),
});

/** The fields that go with a `source` (dataset or layer): a path inside zips, fetching, the file-name column. */
const sourceFields = {
  /** Path inside each `.zip` source, e.g. 'calenviroscreen50_D_12226.gdb'. @default the zip's root (a directory of shapefiles) */
  sourcePath: z.string().min(1).regex(/^[^,*?]+$/, 'must be a path inside the zip, without "," or wildcards').optional(),
  /**
   * Download the http(s) source(s) once into `s3://<bucket>/raw/<file name>` (the fetch stage,
   * sha256 recorded in `raw/<file>.fetch.json` and the layers' manifest.json); the layers and
   * tables then read that copy. @default false
   */
  fetch: z.boolean().optional(),
  /** With several source files: a column holding each row's file name (e.g. 'tl_2024_06_tract.zip'). @default none */
  sourceFileColumn: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a column name: letters, digits and "_"').optional(),
};

const layer = z
  .object({
    /** Layer name in the source (from `cng inspect`). */
    layer: z.string().min(1),
    /** Feature count from `cng inspect`; sizes the hex Jobs (the plan always covers every feature). */
    features: z.number().int().nonnegative(),
    /** Vertex count (all features), when known: sizes the scratch disks. @default 250 a feature */
    vertices: z.number().int().nonnegative().optional(),
    /** Product base name (file name without extension). @default the layer key */
    name: z.string().regex(/^[a-z0-9][-a-z0-9_.]*$/).optional(),
    /** Source of this layer when it differs from the dataset's (with its own sourcePath and fetch). */
    source: vectorSource.optional(),
    ...sourceFields,
    /** Column to use as the feature id instead of a generated 1-based `_cng_fid`. */
    idColumn: z.string().optional(),
    /**
     * The source's text encoding when it is not UTF-8 and the source does not say so (a
     * shapefile's .dbf without a right .cpg), e.g. 'ISO-8859-1'. @default what the source declares
     */
    encoding: z.string().regex(/^[A-Za-z0-9][-A-Za-z0-9_.:]*$/).optional(),
    /**
     * A feature whose geometry no engine can use (a NaN or infinite coordinate, or one GEOS fails
     * on): 'fail' convert, listing every such feature by source FID, or keep its row with a 'null'
     * geometry, recorded in manifest.json (`bad_geometries`) and the README. @default 'fail'
     */
    badGeometry: z.enum(['fail', 'null']).optional(),
    hex: layerHex.optional(),
    /** Vector tiles (docs/datasets.md#vector-tiles); `false`: no `<name>.pmtiles` (no tiles stages). */
    pmtiles: z
      .literal(false)
      .or(z.object({
        minZoom: z.number().int().min(0).max(15),
        maxZoom: z.number().int().min(0).max(15),
        /**
         * What a tile over budget (500 KB, 200,000 features) loses first, its smallest features:
         * 'coalesce-densest' (merged into a neighbour; continuous polygons) or 'drop-densest'
         * (discontinuous features). Never at the max zoom. @default 'coalesce-densest'
         */
        strategy: z.enum(['coalesce-densest', 'drop-densest']),
        /** Total vertices of the layer (an estimate is fine); sizes the tiles Jobs. @default features × 200 */
        vertices: z.number().int().nonnegative(),
        /** Tiles work units (the tiles Job's completions). @default from vertices */
        units: z.number().int().min(1).max(10_000),
        /** First zoom of the high-zoom units (the zooms below it are one unit). @default 7 */
        splitZoom: z.number().int().min(0).max(15),
      })
      .partial()
      .strict())
      .optional(),
    /**
     * Repartition work units: each one pod writing a balanced group of h0 cells' partitions.
     * @default ceil(features / 40,000), at most 122 (the h0 cells)
     */
    repartition: z.object({ units: z.number().int().min(1).max(122) }).partial().strict().optional(),
    resources: resourceOverrides.optional(),
    /** Re-run single stages of this layer, e.g. `{ pmtiles: 2 }` (docs/runbook.md#re-running-one-stage). @default {} */
    rerun: stageReruns.optional(),
  })
  .strict();

const zoom = z.number().int().min(0, 'must be a zoom 0..15').max(15, 'must be a zoom 0..15');

/**
 * A tiered PMTiles archive made of several layers, each shown at its own zooms
 * (docs/datasets.md#per-level-layers-and-a-tiered-pmtiles): one source-layer, and the tiles of a
 * zoom come from the one layer given that zoom.
 */
const tileset = z
  .object({
    /** Archive base name: `<prefix>/<name>.pmtiles` (manifest `<prefix>/<name>/manifest.json`). @default the tileset key */
    name: z.string().regex(/^[a-z0-9][-a-z0-9_.]*$/, 'must be lower-case letters, digits, "-", "_" and "."').optional(),
    /** The source-layer name of every tile (what a map style's `source-layer` names). @default name */
    layer: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, "_", "." or "-"').optional(),
    /**
     * Layer key → `[first zoom, last zoom]` of the zooms it is shown at, e.g. `{ l3: [0, 1], l4: [2, 2] }`:
     * zooms 0–15, ranges neither overlapping nor leaving a gap. Required.
     */
    zooms: z.record(z.string(), z.tuple([zoom, zoom])),
    /** What a tile over budget loses first (as a layer's `pmtiles.strategy`). @default each layer's, else 'coalesce-densest' */
    strategy: z.enum(['coalesce-densest', 'drop-densest']).optional(),
    /** Tiles work units per member layer key. @default 1 below zoom 7, else from the layer's vertices */
    units: z.record(z.string(), z.number().int().min(1).max(10_000)).optional(),
    /** Resource overrides of this tileset's stages (`tiles`, `tiles-merge`). */
    resources: resourceOverrides.optional(),
    /** Re-run this tileset's stages, e.g. `{ 'tiles-merge': 2 }`. @default {} */
    rerun: stageReruns.optional(),
  })
  .strict();

/** How a raster's H3 values are aggregated (docs/stages.md#raster-hex). */
export const RASTER_VALUE_KINDS = ['continuous', 'count', 'categorical'] as const;
export type RasterValueKind = (typeof RASTER_VALUE_KINDS)[number];

const rasterHex = z
  .object({
    /** H3 resolution of the cells. @default 8 */
    resolution: z.number().int().min(0).max(15),
    /** Parent resolutions (coarser than `resolution`) written as extra columns. @default [] */
    parents: z.array(z.number().int().min(0).max(15)),
    /** raster-hex pods at once. @default derived from the dataset's maxPods */
    parallelism: z.number().int().positive(),
  })
  .partial()
  .strict();

const rasterSource = z
  .string()
  .min(1)
  .refine((s) => !s.includes(','), 'must not contain "," (the cog stage takes a comma-separated list); list tiles as an array');

const raster = z
  .object({
    /**
     * GDAL raster source: s3://, /vsis3/, /vsicurl/, https:// or a path; a list of tiles is
     * mosaicked into one COG (same bands, data type and CRS).
     */
    source: z.union([rasterSource, z.array(rasterSource).min(1, 'list at least one source')], {
      errorMap: (issue, ctx) => ({
        message: ctx.data === undefined ? 'Required' : issue.code === 'invalid_union' ? 'must be a source string or a list of them' : ctx.defaultError,
      }),
    }),
    /**
     * What a pixel value is, which decides the aggregation per H3 cell: `continuous` (a density,
     * e.g. tonnes per hectare: area-weighted mean), `count` (an amount per pixel, e.g. people:
     * mass-conserving sum) or `categorical` (class codes, single band: majority class with
     * per-class area fractions). Required.
     */
    valueKind: z.enum(RASTER_VALUE_KINDS),
    /** 1-based bands to keep. @default every band */
    bands: z.array(z.number().int().positive()).min(1).optional(),
    /** The raster's size (of the mosaic, for tiles): sizes the cog stage's scratch disk. @default the stage's default disk */
    size: z.object({ width: z.number().int().positive(), height: z.number().int().positive(), bands: z.number().int().positive().optional() }).strict().optional(),
    /** Values that also mean "no data", collapsed into the COG's one nodata value. @default [] */
    nodata: z.array(z.number()).min(1).optional(),
    /** Product base name (`cog/<name>.tif`, `hex/<name>/`). @default the raster key */
    name: z.string().regex(/^[a-z0-9][-a-z0-9_.]*$/, 'must be lower-case letters, digits, "-", "_" and "."').optional(),
    /**
     * Name of the hex value column (one band): e.g. `carbon`, `birds_sr`; for a categorical raster
     * it renames `class`. @default `value` (categorical: `class`; several bands: the band names)
     */
    valueColumn: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/, 'must be lower-case letters, digits and "_", not starting with a digit')
      .refine((c) => !/^h\d+$/.test(c) && !['coverage', 'fraction', 'fractions'].includes(c), 'is a column the pipeline writes itself (h<res>, coverage, fraction, fractions)')
      .optional(),
    /**
     * Hexed value = raw pixel aggregate × scale + offset (NCP's `value / 19`: `scale: 1 / 19`). The
     * COG keeps the raw pixels and carries the scale and offset as GDAL band metadata. @default 1
     */
    scale: z.number().finite().refine((x) => x !== 0, 'must not be 0').optional(),
    /** Added after `scale` (continuous rasters only). @default 0 */
    offset: z.number().finite().optional(),
    /**
     * A raster that is known not to be readable (e.g. a corrupt file upstream): the reason, shown in
     * the README and STAC. The raster gets no stages; the dataset's docs list it as not published.
     */
    skip: z.string().trim().min(1).optional(),
    hex: rasterHex.optional(),
    /** Resource overrides of this raster's stages (`cog`, `raster-hex`, `raster-manifest`). */
    resources: resourceOverrides.optional(),
    /** Re-run single stages of this raster, e.g. `{ cog: 2 }`. @default {} */
    rerun: stageReruns.optional(),
  })
  .strict();

/**
 * A points source (docs/datasets.md#points-at-scale): many Parquet files with lon/lat columns,
 * hexed per slice of files and repartitioned by h0, without a GeoParquet of the whole table.
 */
const points = z
  .object({
    /** The Parquet files: a directory and a file-name pattern, e.g. 's3://bucket/dir/*.parquet' or '…/occurrence.parquet/*'. */
    source: z.string().regex(/^[^*?]*\/[^/]*[*?][^/]*$/, 'must be a directory and a file-name pattern with * or ? in its last part, e.g. s3://bucket/dir/*.parquet'),
    /**
     * S3 endpoint of the source when it is not the dataset's store, read without credentials (a
     * public bucket), e.g. 'https://s3.us-east-1.amazonaws.com'. @default the dataset's store
     */
    sourceEndpoint: z.string().regex(/^https?:\/\/[^/@\s]+\/?$/, 'must be an http(s):// endpoint without a path or credentials').optional(),
    /** Number of source files: sizes the points-hex Jobs (every listed file is read, whatever the count). */
    files: z.number().int().positive(),
    /** Rows in all the files: sizes the pods and the repartition units. */
    rows: z.number().int().nonnegative(),
    /** Bytes of all the files, when known: sizes the scratch disks. @default rows × 100 */
    bytes: z.number().int().positive().optional(),
    /** Longitude column (degrees, WGS84). */
    lon: z.string().min(1),
    /** Latitude column (degrees, WGS84). */
    lat: z.string().min(1),
    /** Columns kept in the hex product. @default every column */
    columns: z.array(z.string().min(1)).min(1).optional(),
    /** A row at exactly 0, 0 ("null island"): 'bad' (counted as a bad coordinate, dropped) or 'keep'. @default 'bad' */
    nullIsland: z.enum(['bad', 'keep']).optional(),
    /** Source files per points-hex work unit. @default about 13.75 M rows a unit (25 files of GBIF's 550,000 rows) */
    filesPerUnit: z.number().int().positive().optional(),
    hex: z
      .object({
        /** H3 resolution. @default 10 */
        resolution: z.number().int().min(1).max(15),
        /** Parent resolutions written as columns. @default every coarser resolution (9 … 0) */
        parents: z.array(z.number().int().min(0).max(15)),
        /** points-hex pods at once. @default derived from the dataset's maxPods */
        parallelism: z.number().int().positive(),
        /** 'armada' renders the points-hex stage as an Armada job set. @default 'flux' */
        runner: z.enum(['flux', 'armada']),
      })
      .partial()
      .strict()
      .optional(),
    /** Repartition units (groups of h0 cells balanced by rows). @default ceil(rows / 25 M), at most 122 */
    repartition: z.object({ units: z.number().int().min(1).max(122) }).partial().strict().optional(),
    /** Product name (`<name>/hex/`, `<name>/manifest.json`). @default the key */
    name: z.string().regex(/^[a-z0-9][-a-z0-9_.]*$/).optional(),
    resources: resourceOverrides.optional(),
    /** Re-run single stages, e.g. `{ 'points-publish': 2 }`. @default {} */
    rerun: stageReruns.optional(),
  })
  .strict();

/** The dataset file's fields; `datasetSpecSchema` adds the rules between them (spec-rules.ts). */
const datasetShape = z
  .object({
    /** Dataset id, a DNS label: prefix of every Job and Kustomization, e.g. 'padus-4-1'. */
    name: dnsLabel,
    title: z.string().min(1),
    /** Run number; bump it (through a PR) to re-process every stage. */
    run: z.number().int().positive(),
    /**
     * The worker image tag this dataset's Jobs run (`src-<12 hex>`, see `cng image-tag`) instead of
     * the current worker's: a dataset whose products are final keeps the worker that made them, so
     * a worker change does not re-run it (docs/runbook.md, "A new worker"). @default the current worker
     */
    worker: z.string().regex(/^src-[0-9a-f]{12}$/, 'must be a worker image tag, src-<12 hex digits> (cng image-tag --tag)').optional(),
    /**
     * GDAL-readable source of the layers and tables: s3://, /vsis3/, /vsicurl/, https:// or a path.
     * Required unless every layer has its own `source` and there are no tables (e.g. a raster-only dataset).
     */
    source: vectorSource.optional(),
    ...sourceFields,
    /** Bucket of the products (public-<name>). */
    bucket: z.string().regex(/^[a-z0-9][-a-z0-9.]{2,62}$/),
    /** Key prefix of the products inside the bucket. @default '' (bucket root) */
    prefix: z.string().regex(KEY_PATH).default(''),
    /** Spatial layers by key (the key names stages and, by default, products). */
    layers: z.record(dnsLabel, layer).default({}),
    /**
     * Non-spatial layers exported as plain Parquet under `<prefix>/<tablesDir>/<Table>.parquet`
     * (a name string, or `{ layer, name }` to choose the file name). @default []
     */
    tables: z
      .array(z.union([z.string().min(1), z.object({ layer: z.string().min(1), name: z.string().regex(/^[A-Za-z0-9][-A-Za-z0-9_.]*$/) }).strict()]))
      .default([]),
    /**
     * Rasters by key (a DNS label naming the stages and, by default, the products): each becomes a
     * Cloud-Optimized GeoTIFF and an H3 hex product (docs/datasets.md#raster-datasets). @default {}
     */
    rasters: z.record(dnsLabel, raster).default({}),
    /** Points sources by key: Parquet files with lon/lat columns → H3 hex product (docs/datasets.md#points-at-scale). @default {} */
    points: z.record(dnsLabel, points).default({}),
    /**
     * Tiered PMTiles archives by key (a DNS label naming the stages): several layers in one archive,
     * each at its own zooms (docs/datasets.md#per-level-layers-and-a-tiered-pmtiles). @default {}
     */
    tilesets: z.record(dnsLabel, tileset).default({}),
    /**
     * Where raster products go (docs/data-organization.md): `'formats'` (pattern B, format
     * directories: `<prefix>/cog/<name>.tif`, `<prefix>/hex/<name>/h0=…`, `<prefix>/hex/<name>/manifest.json`,
     * work files under `<prefix>/_work/<name>/`) or `'named'` (pattern A: `<prefix>/<name>.tif`,
     * `<prefix>/<name>/hex/h0=…`, `<prefix>/<name>/manifest.json`, work files under `<prefix>/<name>/_work/`).
     * Vector layers always use pattern A. @default 'formats'
     */
    layout: z.enum(['formats', 'named']).default('formats'),
    /**
     * Earlier hex products re-encoded into the standard layout by key (a DNS label naming the
     * stages and, by default, the product): docs/datasets.md#re-encoding-an-earlier-hex-product. @default {}
     */
    reencode: z.record(dnsLabel, reencodeSchema).default({}),
    /** Directory of the table exports. @default 'lookup' */
    tablesDir: z.string().regex(KEY_PATH, 'must be lower-case letters, digits, "-", "_" and "." in "/"-separated parts').default('lookup'),
    /** Hex settings for every layer (a layer may override). */
    hex: hex.partial().default({}),
    /** Pods this dataset may run at once; hex parallelism is derived from it. @default 100 */
    maxPods: z.number().int().positive().default(100),
    /** Resource overrides per stage kind for every layer. */
    resources: resourceOverrides.default({}),
    /**
     * Re-run single dataset-level stages by stage id (those without a layer: `setup-bucket`,
     * `table-<slug>`, `docs`, `sync`), e.g. `{ 'table-state-name': 2 }`. @default {}
     */
    rerun: z.record(z.string(), rerunCount).default({}),
    /**
     * Where the products are mirrored on source.coop (bucket and prefix differ from NRP's): the sync
     * stage copies `<bucket>/<prefix>/…` (and the README/STAC) to `<mirror.bucket>/<mirror.prefix>/…`.
     * `delete: true` also removes mirror objects that no longer exist at the source. @default none (no sync stage)
     */
    mirror: z.object({ bucket: z.string().min(1), prefix: z.string(), delete: z.boolean().optional() }).strict().optional(),
    /**
     * The dataset's documentation prose (title, description, license, citation, per-layer, per-column
     * and per-table descriptions, code meanings), kept next to the dataset file as
     * `datasets/<name>.prose.ts`. With prose, the pipeline ends in a `docs` stage that writes
     * README.md and stac-collection.json (docs/reading-products.md). @default none (no docs stage)
     */
    prose: proseSchema.optional(),
  })
  .strict();

export const datasetSpecSchema = datasetShape.superRefine((d, ctx) => {
  for (const i of datasetIssues(d)) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
});

/** What a dataset file writes (defaults may be omitted). */
export type DatasetSpec = z.input<typeof datasetSpecSchema>;
/** A dataset spec with every default filled in. */
export type ResolvedDatasetSpec = z.output<typeof datasetShape>;
export type LayerSpec = z.output<typeof layer>;
export type TableSpec = ResolvedDatasetSpec['tables'][number];
export type RasterSpec = z.output<typeof raster>;
export type PointsSpec = z.output<typeof points>;
/** One raster as a dataset file writes it (what `rasterSet` returns). */
export type RasterInput = z.input<typeof raster>;
export type TilesetSpec = z.output<typeof tileset>;

/** Validates a dataset spec, naming the dataset and the field in the error. */
export function parseDatasetSpec(spec: DatasetSpec): ResolvedDatasetSpec {
  const r = datasetSpecSchema.safeParse(spec);
  if (r.success) return r.data;
  const name = typeof (spec as any)?.name === 'string' ? (spec as any).name : '<unnamed>';
  throw new SpecError(name, r.error.issues.map((i) => ({ path: i.path, message: i.message })));
}
