import { choice, defineStage, flag, int, parents, resolution, text, textList } from '../stage.ts';

/**
 * The publishing stages' command lines: setup-bucket, publish (one vector layer), docs, sync. Their modules are imported when
 * the stage runs, so `--help` and every stage start fast (no DuckDB or AWS SDK loaded unless the
 * stage uses them).
 */

export const setupBucketStageDef = defineStage({
  name: 'setup-bucket',
  run: async (o) => (await import('./setup-bucket.ts')).setupBucketStage(o),
  summary: 'create the bucket if missing; apply public-read policy, CORS and upload lifecycle (idempotent)',
  description:
    "Creates the bucket when it does not exist and (re)applies public read of the published keys (--public: GetObject on each key, and ListBucket inside each directory ending in '/'; statements named after --dataset, merged into the bucket's policy; never raw/ or _work/), CORS rules (GET/HEAD; exposes ETag, Content-Length, Content-Type, Accept-Ranges, Content-Range) and a lifecycle rule aborting multipart uploads left incomplete for a day.",
  options: {
    bucket: text('bucket name, e.g. public-padus'),
    dataset: text('dataset name: names the bucket-policy statements that grant its keys (with --public)').optional(),
    public: text("comma-separated keys readers may get; one ending in '/' is a directory (its objects, and listing it)").optional(),
  },
  example: 'cng-worker setup-bucket --bucket public-padus --dataset padus-4-1 --public README.md,stac-collection.json,padus-4-1/fee.parquet,padus-4-1/fee/hex/',
});

export const publishStageDef = defineStage({
  name: 'publish',
  run: async (o) => (await import('./layer.ts')).publishStage(o),
  summary: "one vector layer's staged products → their published keys, checked first, manifest.json last",
  description:
    "Checks what it publishes (every hex and repartition unit reported, every staged partition there with its size, GeoParquet rows and null geometries equal to the plan's, every feature with a geometry in some partition, the PMTiles archive readable), then copies into place server-side (S3 CopyObject, UploadPartCopy above 5 GB; a file copy locally): the hex partitions, <name>.parquet, <name>.pmtiles; then removes the published partitions this run did not write (logging each), writes manifest.json (run, counts, sha256 per file, tile counts from --tiles-report) last, and removes the run's work directory. Nothing published is touched before every check passes.",
  options: {
    input: text('staged GeoParquet (…/_work/run-<run>/<name>.parquet)'),
    plan: text('hex plan'),
    chunks: text('hex chunks prefix (its _units/ holds the hex unit reports)'),
    'staged-hex': text('staged hex partitions prefix'),
    reports: text('repartition unit reports prefix'),
    tiles: text('staged PMTiles archive (omit for a layer without tiles)').optional(),
    'tiles-report': text("the tiles' per-zoom report (tiles.json); missing means no tile counts").optional(),
    run: int("the dataset file's run, recorded in manifest.json", { min: 1 }),
    resolution: resolution('H3 resolution of the cells'),
    parents: parents('parent resolutions (default: 9,8)').optional(),
    containment: choice("containment the hex stage used (default 'center')", ['center', 'overlap'], { centre: 'center' }).default('center'),
    work: text("the run's work directory, removed after publishing").optional(),
    out: text('published GeoParquet'),
    'out-hex': text('published hex prefix (…/<name>/hex)'),
    'out-pmtiles': text('published PMTiles (with --tiles)').optional(),
    manifest: text('published manifest.json'),
  },
  example: 'cng-worker publish --input s3://public-padus/padus-4-1/fee/_work/run-1/fee.parquet --plan s3://public-padus/padus-4-1/fee/_work/run-1/hex-plan.json --chunks s3://public-padus/padus-4-1/fee/_work/run-1/chunks --staged-hex s3://public-padus/padus-4-1/fee/_work/run-1/hex --reports s3://public-padus/padus-4-1/fee/_work/run-1/repartition --tiles s3://public-padus/padus-4-1/fee/_work/run-1/fee.pmtiles --run 1 --resolution 10 --parents 9,8 --work s3://public-padus/padus-4-1/fee/_work/run-1 --out s3://public-padus/padus-4-1/fee.parquet --out-hex s3://public-padus/padus-4-1/fee/hex --out-pmtiles s3://public-padus/padus-4-1/fee.pmtiles --manifest s3://public-padus/padus-4-1/fee/manifest.json',
});

export const docsStageDef = defineStage({
  name: 'docs',
  run: async (o) => (await import('./docs/stage.ts')).docsStage(o),
  summary: 'README.md + stac-collection.json from the published files (facts) and the dataset\'s prose',
  description:
    'Reads every product the dataset JSON lists (Parquet footers via DuckDB: schema, row count, GeoParquet bbox and geometry types; PMTiles header and vector layers; each layer\'s manifest.json; sizes), merges them with the prose, and writes README.md and a STAC 1.0.0 Collection (table and file extensions) at the bucket root. Fails, writing nothing, when a product is missing or a published column has no description.',
  options: {
    'dataset-json': text('the docs input written by cng synth: inline JSON, or a URL/path of a JSON file'),
    readme: text('write README.md here instead of the input\'s location').optional(),
    stac: text('write stac-collection.json here instead of the input\'s location').optional(),
    'allow-undescribed': flag('write even when some columns have no description (marked as such)'),
  },
  example: 'cng-worker docs --dataset-json docs-input.json --readme out/README.md --stac out/stac-collection.json   (docs-input.json from: cng docs padus-4-1 --print-input)',
});

export const syncStageDef = defineStage({
  name: 'sync',
  run: async (o) => (await import('./sync.ts')).syncStage(o),
  summary: 'copy new or changed products to the source.coop mirror (never raw/ or _work/)',
  description:
    'Copies every object under --from (plus the --extra objects) to --to on the mirror (MIRROR_ENDPOINT_URL_S3, MIRROR_AWS_ACCESS_KEY_ID, MIRROR_AWS_SECRET_ACCESS_KEY), skipping raw/ and _work/. An object is copied when the mirror lacks it, its size differs, or its content may differ: equal plain-MD5 ETags, or the mirror\'s stored cng-source-etag equal to the source ETag, mean unchanged. Streams with multipart uploads and retries; prints each object copied or skipped. Mirror objects missing at the source are kept unless --delete.',
  options: {
    from: text('source prefix, s3://bucket/prefix (AWS_* endpoint and credentials)'),
    to: text('mirror prefix, s3://bucket/prefix (MIRROR_* endpoint and credentials)'),
    extra: textList('comma-separated single source objects copied to the top of --to (README, STAC)').optional(),
    delete: flag('delete mirror objects under --to that the source no longer has'),
    'dry-run': flag('only print what would be copied or deleted'),
    concurrency: int('objects copied at once (default 4)', { min: 1 }).default(4),
  },
  example: 'cng-worker sync --from s3://public-padus/padus-4-1 --to s3://cboettig/padus/padus-4-1 --extra s3://public-padus/README.md,s3://public-padus/stac-collection.json',
});

export const pointsPublishStageDef = defineStage({
  name: 'points-publish',
  run: async (o) => (await import('./points.ts')).pointsPublishStage(o),
  summary: "a points product: completeness check, then its partitions and manifest.json into place",
  description:
    "Checks, before touching anything published: every points-hex and points-repartition unit has reported; every listed source file was read by exactly one unit; per file and in all, rows written + bad coordinates = rows read; every h0 cell's partition holds the rows the units wrote for it. Then copies the partitions to --out-hex, removes published partitions this run did not write, writes --manifest (rows read per file, rows written, bad coordinates per kind) last and removes the run's work directory.",
  options: {
    source: text('the Parquet files, as points-hex read them (listed again: every file must have been read once)'),
    'source-endpoint': text("S3 endpoint of the source when it is not the dataset's store").optional(),
    resolution: resolution('H3 resolution of the cells', { min: 1 }),
    parents: parents('parent resolutions (default: every coarser one)').optional(),
    chunks: text('prefix of the points-hex chunks and reports'),
    units: int('points-hex work units', { min: 1, max: 1_000_000 }),
    'repartition-units': int('points-repartition units', { min: 1, max: 122 }),
    'staged-hex': text('staged hex prefix'),
    reports: text('prefix of the points-repartition reports'),
    'out-hex': text('published hex prefix (<name>/hex)'),
    manifest: text('manifest.json output'),
    name: text("product name (the manifest's layer)"),
    run: int('the dataset run publishing these files', { min: 1 }),
    work: text("the run's work directory, removed once published").optional(),
  },
  example:
    'cng-worker points-publish --source s3://gbif-open-data-us-east-1/occurrence/2025-06-01/occurrence.parquet/* --source-endpoint https://s3.us-east-1.amazonaws.com --resolution 10 --chunks s3://public-gbif/2025-06/_work/run-1/chunks --units 184 --repartition-units 61 --staged-hex s3://public-gbif/2025-06/_work/run-1/hex --reports s3://public-gbif/2025-06/_work/run-1/repartition --out-hex s3://public-gbif/2025-06/hex --manifest s3://public-gbif/2025-06/manifest.json --name 2025-06 --run 1',
});

export const fetchStageDef = defineStage({
  name: 'fetch',
  run: async (o) => (await import('./fetch.ts')).fetchStage(o),
  summary: 'download remote sources once into the bucket\'s raw/ prefix, with size and sha256 recorded (idempotent)',
  description:
    "Streams each http(s) --source into a multipart upload to <raw>/<file name> (the URL's last path part), computing its sha256; the object appears only when the download is complete (HTTP errors, a connection cut short or a size other than Content-Length abort it: nothing is written). Then writes <raw>/<file name>.fetch.json: url, raw, bytes, sha256, the server's etag and lastModified, fetchedAt. A re-run skips a file whose record and copy exist when the server's ETag/Last-Modified (HEAD) are as recorded; without them it downloads again and, the sha256 unchanged, writes nothing.",
  options: {
    source: textList('comma-separated http(s) URLs to download'),
    raw: text('destination prefix, s3://<bucket>/raw'),
  },
  example: 'cng-worker fetch --source https://www2.census.gov/geo/tiger/TIGER2024/STATE/tl_2024_us_state.zip --raw s3://public-census/raw',
});
