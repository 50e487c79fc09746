import { CommandError, UsageError } from './core/errors.ts';
import { dispatch, str, type Command, type Options, type ParsedArgs } from './core/command.ts';

/**
 * `cng-worker <stage> [options]`: the program every Job container runs, and that the local runner
 * runs the same way. Inputs and outputs are `s3://bucket/key` URLs (endpoint from
 * AWS_ENDPOINT_URL_S3) or local paths. Indexed stages read their work unit from
 * JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET (or --index).
 */

/** A stage's options by long name (required ones are checked before the handler runs). */
export type StageOptions = Record<string, string | undefined>;

interface StageDef {
  name: string;
  run: (opts: StageOptions) => Promise<void>;
  summary: string;
  description: string;
  options: Record<string, { type: 'string' | 'boolean'; required?: boolean; help: string }>;
  example: string;
}

const cellOptions = {
  resolution: { type: 'string', required: true, help: 'H3 resolution of the cells (0–15), e.g. 10' },
  parents: { type: 'string', help: 'comma-separated parent resolutions written as columns (default: 9,8)' },
} as const;

// Stage modules are imported when their stage runs, so `--help` and every stage start fast
// (no GDAL, DuckDB or AWS SDK loaded unless the stage uses them).

/** The fixed command line of every stage: what constructs/ writes into the Jobs. */
export const STAGES: StageDef[] = [
  {
    name: 'setup-bucket',
    run: async (o) => (await import('./publish/setup-bucket.ts')).setupBucketStage(o),
    summary: 'create the bucket if missing; apply public-read policy, CORS and upload lifecycle (idempotent)',
    description: "Creates the bucket when it does not exist and (re)applies public read of the published keys (--public: GetObject on each key, and ListBucket inside each directory ending in '/'; statements named after --dataset, merged into the bucket's policy; never raw/ or _work/), CORS rules (GET/HEAD; exposes ETag, Content-Length, Content-Type, Accept-Ranges, Content-Range) and a lifecycle rule aborting multipart uploads left incomplete for a day.",
    options: {
      bucket: { type: 'string', required: true, help: 'bucket name, e.g. public-padus' },
      dataset: { type: 'string', help: 'dataset name: names the bucket-policy statements that grant its keys (with --public)' },
      public: { type: 'string', help: "comma-separated keys readers may get; one ending in '/' is a directory (its objects, and listing it)" },
    },
    example: 'cng-worker setup-bucket --bucket public-padus --dataset padus-4-1 --public README.md,stac-collection.json,padus-4-1/fee.parquet,padus-4-1/fee/hex/',
  },
  {
    name: 'convert',
    run: async (o) => (await import('./vector/convert.ts')).convertStage(o),
    summary: 'one vector layer → GeoParquet (EPSG:4326) and the hex plan',
    description: 'Reads one layer of any GDAL source, linearizes curves, forces multi, drops Z/M, makes geometries valid, reprojects to EPSG:4326 (lon/lat), keeps null geometries as rows, adds _cng_fid, writes GeoParquet 1.1, and writes the hex plan: features grouped into --units work units of balanced estimated work.',
    options: {
      source: { type: 'string', required: true, help: 'GDAL source: s3://…, /vsis3/…, /vsicurl/…, https://… or a path' },
      layer: { type: 'string', required: true, help: 'layer name in the source' },
      out: { type: 'string', required: true, help: 'GeoParquet output (s3://… or path)' },
      plan: { type: 'string', required: true, help: 'hex plan output (JSON)' },
      resolution: cellOptions.resolution,
      units: { type: 'string', required: true, help: 'number of hex work units (the hex Job completions)' },
      'id-column': { type: 'string', help: 'use this column as the feature id instead of a generated _cng_fid' },
    },
    example: 'cng-worker convert --source s3://public-padus/raw/PADUS4_1Geodatabase.gdb --layer PADUS4_1Fee --out s3://public-padus/padus-4-1/fee.parquet --plan s3://public-padus/padus-4-1/fee/_work/hex-plan.json --resolution 10 --units 149',
  },
  {
    name: 'table',
    run: async (o) => (await import('./vector/convert.ts')).tableStage(o),
    summary: 'one non-spatial layer → Parquet (original names and types)',
    description: 'Exports every row and column of a non-spatial layer (e.g. a geodatabase lookup table) to Parquet, keeping column names and types; the file is named after the table.',
    options: {
      source: { type: 'string', required: true, help: 'GDAL source' },
      layer: { type: 'string', required: true, help: 'table name in the source' },
      out: { type: 'string', required: true, help: 'Parquet output' },
    },
    example: 'cng-worker table --source s3://public-padus/raw/PADUS4_1Geodatabase.gdb --layer Public_Access --out s3://public-padus/padus-4-1/lookup/Public_Access.parquet',
  },
  {
    name: 'hex',
    run: async (o) => (await import('./vector/hex.ts')).hexStage(o),
    summary: 'one work unit of the hex plan → H3 cells chunk (Indexed)',
    description: 'Hexes the features of work unit JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET at the given resolution with parent columns, all UBIGINT, and writes <chunks>/chunk-<index>.parquet atomically.',
    options: {
      input: { type: 'string', required: true, help: 'GeoParquet written by convert' },
      plan: { type: 'string', required: true, help: 'hex plan written by convert' },
      chunks: { type: 'string', required: true, help: 'directory/prefix of the chunk files' },
      ...cellOptions,
      containment: { type: 'string', help: "'center' (default) or 'overlap'" },
      index: { type: 'string', help: 'work unit to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)' },
    },
    example: 'cng-worker hex --input s3://public-padus/padus-4-1/fee.parquet --plan s3://public-padus/padus-4-1/fee/_work/hex-plan.json --chunks s3://public-padus/padus-4-1/fee/_work/chunks --resolution 10 --parents 9,8 --index 0',
  },
  {
    name: 'repartition',
    run: async (o) => (await import('./vector/repartition.ts')).repartitionStage(o),
    summary: 'all chunks → <layer>/hex/h0=<cell>/data_0.parquet with attributes, completeness check, manifest.json',
    description: 'Joins the attributes back by id, writes hive-partitioned Parquet by h0, fails listing the ids of any feature with a non-empty geometry that has no cell, writes manifest.json, then removes the chunks.',
    options: {
      input: { type: 'string', required: true, help: 'GeoParquet written by convert' },
      plan: { type: 'string', required: true, help: 'hex plan written by convert' },
      chunks: { type: 'string', required: true, help: 'directory/prefix of the chunk files' },
      ...cellOptions,
      containment: { type: 'string', help: "containment the hex stage used, recorded in manifest.json (default 'center')" },
      out: { type: 'string', required: true, help: 'hex output prefix (…/<layer>/hex)' },
      manifest: { type: 'string', required: true, help: 'manifest.json output' },
    },
    example: 'cng-worker repartition --input s3://public-padus/padus-4-1/fee.parquet --plan s3://public-padus/padus-4-1/fee/_work/hex-plan.json --chunks s3://public-padus/padus-4-1/fee/_work/chunks --resolution 10 --parents 9,8 --out s3://public-padus/padus-4-1/fee/hex --manifest s3://public-padus/padus-4-1/fee/manifest.json',
  },
  {
    name: 'pmtiles',
    run: async (o) => (await import('./vector/pmtiles.ts')).pmtilesStage(o),
    summary: 'GeoParquet → PMTiles v3 vector tiles (source-layer = --layer-name)',
    description: 'Renders vector tiles from the GeoParquet with GDAL\'s MVT writer and packs them into a PMTiles v3 archive with correct header bounds, centre and zooms.',
    options: {
      input: { type: 'string', required: true, help: 'GeoParquet written by convert' },
      out: { type: 'string', required: true, help: 'PMTiles output' },
      'layer-name': { type: 'string', required: true, help: 'vector tile source-layer name' },
      'min-zoom': { type: 'string', help: 'lowest zoom (default 0)' },
      'max-zoom': { type: 'string', help: 'highest zoom (default 14)' },
    },
    example: 'cng-worker pmtiles --input s3://public-padus/padus-4-1/fee.parquet --out s3://public-padus/padus-4-1/fee.pmtiles --layer-name fee --max-zoom 14',
  },
  {
    name: 'cog',
    run: async (o) => (await import('./raster/cog.ts')).cogStage(o),
    summary: 'raster source(s) → one Cloud-Optimized GeoTIFF and its info JSON',
    description:
      'Mosaics one or more GDAL rasters (comma-separated) into a COG: 512×512 tiles, DEFLATE with predictor, internal overviews resampled for the value kind (AVERAGE for continuous and count, MODE for categorical), BigTIFF when needed, one nodata value (the --nodata values and each source\'s own nodata collapsed into it). A single source that already is a valid COG is copied as is. Writes --info (size, bands, CRS, bounds, nodata, what was collapsed) for the hex and manifest stages.',
    options: {
      source: { type: 'string', required: true, help: 'GDAL raster(s), comma-separated: s3://…, /vsis3/…, /vsicurl/…, https://… or paths' },
      out: { type: 'string', required: true, help: 'COG output (s3://… or path)' },
      info: { type: 'string', required: true, help: 'info JSON output (read by raster-hex and raster-manifest)' },
      'value-kind': { type: 'string', required: true, help: "'continuous', 'count' or 'categorical'" },
      bands: { type: 'string', help: 'comma-separated 1-based bands to keep (default: all)' },
      nodata: { type: 'string', help: 'comma-separated extra values that mean "no data" (collapsed into the output nodata)' },
    },
    example: 'cng-worker cog --source s3://public-carbon/raw/vulnerable_c_total_2018.tif --out s3://public-carbon/cog/vulnerable-carbon.tif --info s3://public-carbon/_work/vulnerable-carbon/cog.json --value-kind continuous',
  },
  {
    name: 'raster-hex',
    run: async (o) => void (await (await import('./raster/raster-hex.ts')).rasterHexStage(o)),
    summary: 'one resolution-0 cell of a COG → its h0 partition of H3 cell values (Indexed)',
    description:
      'Work unit i is H3 base cell i (0–121). Reads the COG window by window (range reads) where it overlaps that base cell and writes <out>/h0=<cell>/data_0.parquet: per H3 cell the area-weighted mean (continuous), the mass-conserving sum (count: pixels split across cells by area) or the majority class with per-class fractions (categorical), with parent columns, all UBIGINT; nodata-only cells are omitted. Writes <stats>/unit-<i>.json for raster-manifest.',
    options: {
      input: { type: 'string', required: true, help: 'COG written by the cog stage' },
      info: { type: 'string', required: true, help: 'info JSON written by the cog stage' },
      out: { type: 'string', required: true, help: 'hex output prefix (…/hex/<layer> or …/<layer>/hex)' },
      stats: { type: 'string', required: true, help: 'directory/prefix of the per-unit stats files' },
      'value-kind': { type: 'string', required: true, help: "'continuous', 'count' or 'categorical'" },
      resolution: { type: 'string', required: true, help: 'H3 resolution of the cells (1–15; 0 is the h0 partition itself), e.g. 8' },
      parents: { type: 'string', help: 'comma-separated parent resolutions written as columns (default: none)' },
      index: { type: 'string', help: 'work unit (base cell number 0–121) to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)' },
    },
    example: 'cng-worker raster-hex --input s3://public-carbon/cog/vulnerable-carbon.tif --info s3://public-carbon/_work/vulnerable-carbon/cog.json --out s3://public-carbon/hex/vulnerable-carbon --stats s3://public-carbon/_work/vulnerable-carbon/stats --value-kind continuous --resolution 8 --index 0',
  },
  {
    name: 'raster-manifest',
    run: async (o) => void (await (await import('./raster/raster-hex.ts')).rasterManifestStage(o)),
    summary: 'check every raster-hex unit finished; write manifest.json; remove stale partitions',
    description:
      'Fails listing the missing work units unless all 122 raster-hex stats files exist; removes h0 partitions no unit wrote in this run; writes manifest.json (cells, nodata share, value range or classes, resolution, parents, method, nodata and collapsed values, COG facts).',
    options: {
      input: { type: 'string', required: true, help: 'the COG (recorded in the manifest)' },
      info: { type: 'string', required: true, help: 'info JSON written by the cog stage' },
      out: { type: 'string', required: true, help: 'hex output prefix the raster-hex units wrote' },
      stats: { type: 'string', required: true, help: 'directory/prefix of the per-unit stats files' },
      'value-kind': { type: 'string', required: true, help: "'continuous', 'count' or 'categorical'" },
      resolution: { type: 'string', required: true, help: 'H3 resolution of the cells' },
      parents: { type: 'string', help: 'comma-separated parent resolutions (default: none)' },
      manifest: { type: 'string', required: true, help: 'manifest.json output' },
    },
    example: 'cng-worker raster-manifest --input s3://public-carbon/cog/vulnerable-carbon.tif --info s3://public-carbon/_work/vulnerable-carbon/cog.json --out s3://public-carbon/hex/vulnerable-carbon --stats s3://public-carbon/_work/vulnerable-carbon/stats --value-kind continuous --resolution 8 --manifest s3://public-carbon/hex/vulnerable-carbon/manifest.json',
  },
  {
    name: 'docs',
    run: async (o) => (await import('./publish/docs.ts')).docsStage(o),
    summary: 'README.md + stac-collection.json from the published files (facts) and the dataset\'s prose',
    description:
      'Reads every product the dataset JSON lists (Parquet footers via DuckDB: schema, row count, GeoParquet bbox and geometry types; PMTiles header and vector layers; each layer\'s manifest.json; sizes), merges them with the prose, and writes README.md and a STAC 1.0.0 Collection (table and file extensions) at the bucket root. Fails, writing nothing, when a product is missing or a published column has no description.',
    options: {
      'dataset-json': { type: 'string', required: true, help: 'the docs input written by cng synth: inline JSON, or a URL/path of a JSON file' },
      readme: { type: 'string', help: 'write README.md here instead of the input\'s location' },
      stac: { type: 'string', help: 'write stac-collection.json here instead of the input\'s location' },
      'allow-undescribed': { type: 'boolean', help: 'write even when some columns have no description (marked as such)' },
    },
    example: 'cng-worker docs --dataset-json docs-input.json --readme out/README.md --stac out/stac-collection.json   (docs-input.json from: cng docs padus-4-1 --print-input)',
  },
  {
    name: 'sync',
    run: async (o) => (await import('./publish/sync.ts')).syncStage(o),
    summary: 'copy new or changed products to the source.coop mirror (never raw/ or _work/)',
    description:
      'Copies every object under --from (plus the --extra objects) to --to on the mirror (MIRROR_ENDPOINT_URL_S3, MIRROR_AWS_ACCESS_KEY_ID, MIRROR_AWS_SECRET_ACCESS_KEY), skipping raw/ and _work/. An object is copied when the mirror lacks it, its size differs, or its content may differ: equal plain-MD5 ETags, or the mirror\'s stored cng-source-etag equal to the source ETag, mean unchanged. Streams with multipart uploads and retries; prints each object copied or skipped. Mirror objects missing at the source are kept unless --delete.',
    options: {
      from: { type: 'string', required: true, help: 'source prefix, s3://bucket/prefix (AWS_* endpoint and credentials)' },
      to: { type: 'string', required: true, help: 'mirror prefix, s3://bucket/prefix (MIRROR_* endpoint and credentials)' },
      extra: { type: 'string', help: 'comma-separated single source objects copied to the top of --to (README, STAC)' },
      delete: { type: 'boolean', help: 'delete mirror objects under --to that the source no longer has' },
      'dry-run': { type: 'boolean', help: 'only print what would be copied or deleted' },
      concurrency: { type: 'string', help: 'objects copied at once (default 4)' },
    },
    example: 'cng-worker sync --from s3://public-padus/padus-4-1 --to s3://cboettig/padus/padus-4-1 --extra s3://public-padus/README.md,s3://public-padus/stac-collection.json',
  },
];

function stageCommand(def: StageDef): Command {
  const width = Math.max(...Object.keys(def.options).map((k) => k.length)) + 10;
  const lines = Object.entries(def.options).map(
    ([k, o]) => `  --${(o.type === 'string' ? `${k} VALUE` : k).padEnd(width)}${o.help}${o.required ? ' (required)' : ''}`,
  );
  const required = Object.entries(def.options).filter(([, o]) => o.required).map(([k]) => `--${k} VALUE`);
  return {
    name: def.name,
    summary: def.summary,
    help: `Usage: cng-worker ${def.name} ${required.join(' ')} [options]\n\n${def.description}\n\nOptions:\n${lines.join('\n')}\n  ${'-h, --help'.padEnd(width + 2)}show this help\n\nExit status: 0 done, 1 failed (one-line reason on stderr), 2 usage error.\n\nExample:\n  ${def.example}`,
    options: Object.fromEntries(Object.entries(def.options).map(([k, o]) => [k, { type: o.type }])) as Options,
    async run(args: ParsedArgs) {
      for (const [k, o] of Object.entries(def.options)) if (o.required && str(args.values[k]) === undefined) throw new UsageError(`--${k} is required`);
      // Boolean flags arrive as 'true' (absent: undefined).
      const value = (v: unknown) => (v === true ? 'true' : str(v));
      const opts: StageOptions = Object.fromEntries(Object.keys(def.options).map((k) => [k, value(args.values[k])]));
      await def.run(opts);
      return 0;
    },
  };
}

export const workerStages: Command[] = STAGES.map(stageCommand);

const INTRO = 'cng-worker — the program inside every Job container (and the local runner): one stage per call.';

/** `cng-worker <stage> [options]`. Returns the exit code. */
export function workerMain(argv: string[], prog = 'cng-worker'): Promise<number> {
  return dispatch(prog, INTRO, workerStages, argv);
}

/** `cng worker <stage> ...`: the same worker, reachable from the main CLI. */
export const workerCommand: Command = {
  name: 'worker',
  summary: 'run one worker stage, as a Job container does (cng worker --help)',
  help: INTRO,
  options: {},
  passthrough: true,
  run: ({ positionals }) => workerMain(positionals, 'cng worker'),
};

/**
 * The global work-unit index an Indexed Job's pod works on:
 * - CNG_INDEX_LIST set (a retry Job, e.g. "3,17,205"): the JOB_COMPLETION_INDEX-th listed unit;
 * - otherwise JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET (a stage split into several Jobs).
 * Throws a CommandError (one line, exit 1) when JOB_COMPLETION_INDEX is unset or not an index of
 * the list, or a value is not a non-negative integer.
 */
export function workUnitIndex(env: NodeJS.ProcessEnv = process.env): number {
  const nonNegative = (v: string | undefined) => (v !== undefined && /^\s*\d+\s*$/.test(v) ? Number(v) : undefined);
  const raw = env.JOB_COMPLETION_INDEX;
  if (raw === undefined || raw === '') throw new CommandError('no work unit: JOB_COMPLETION_INDEX is not set (an Indexed Job sets it; locally pass --index)');
  const k = nonNegative(raw);
  if (k === undefined) throw new CommandError(`JOB_COMPLETION_INDEX must be a non-negative integer, got '${raw}'`);
  const list = env.CNG_INDEX_LIST;
  if (list !== undefined && list.trim() !== '') {
    const units = list.split(',').map((x) => nonNegative(x));
    const bad = list.split(',').filter((_, i) => units[i] === undefined);
    if (bad.length) throw new CommandError(`CNG_INDEX_LIST must be comma-separated non-negative integers, got '${list}'`);
    if (k >= units.length)
      throw new CommandError(`JOB_COMPLETION_INDEX ${k} is out of range: CNG_INDEX_LIST lists ${units.length} work unit(s) (completion indices 0–${units.length - 1})`);
    return units[k]!;
  }
  const offsetRaw = env.CNG_INDEX_OFFSET;
  const offset = offsetRaw === undefined || offsetRaw === '' ? 0 : nonNegative(offsetRaw);
  if (offset === undefined) throw new CommandError(`CNG_INDEX_OFFSET must be a non-negative integer, got '${offsetRaw}'`);
  return k + offset;
}
