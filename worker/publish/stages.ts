import { defineStage, flag, int, text, textList } from '../stage.ts';

/**
 * The publishing stages' command lines: setup-bucket, docs, sync. Their modules are imported when
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
