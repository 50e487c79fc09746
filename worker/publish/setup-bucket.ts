import { UsageError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { plural } from '../core/text.ts';
import type { RawOptions } from '../stage.ts';
import { setupBucketStageDef } from './stages.ts';
import { Storage, type PublicScope } from '../io/storage.ts';

/** S3 bucket naming rules (path-style): 3–63 of a-z 0-9 . -, starting and ending alphanumeric. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * `cng-worker setup-bucket --bucket NAME [--dataset NAME --public KEYS]`: creates the bucket when
 * missing and (re)applies public read, CORS and the lifecycle rule for incomplete uploads.
 * Idempotent: a second run finds the bucket and re-applies the same settings.
 *
 * Public read is the bucket policy where the store supports bucket policies (Ceph RGW): GetObject
 * on the keys `--public` lists (a key ending in '/' is a directory, also listable), in statements
 * named after `--dataset`, merged into the bucket's policy (other statements kept; see
 * io/bucket-settings.ts). `raw/` sources and `_work/` files are never in the list. Where the store
 * answers NotImplemented (OpenStack Swift's s3api, the tests' server) it is the canned
 * `public-read` ACL instead, which opens every key. A store without CORS or lifecycle support gets
 * a warning: browsers on other origins then cannot range-read the products, and the parts of an
 * upload whose abort failed stay until removed by hand.
 */
export async function setupBucketStage(opts: RawOptions): Promise<void> {
  const { bucket, dataset, public: keys } = setupBucketStageDef.parse(opts);
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..'))
    throw new UsageError(`--bucket '${bucket}' is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')`);
  const scope = publicScope(dataset, keys);
  const storage = new Storage();
  const local = Boolean(process.env.CNG_STORAGE_DIR);
  const where = local ? `directory store ${process.env.CNG_STORAGE_DIR}` : `endpoint ${storage.endpoint}`;
  const r = await storage.setupPublicBucket(bucket, scope);
  log('setup-bucket', `${r.created ? 'created bucket' : 'bucket exists:'} s3://${bucket} (${where})`);
  if (local) {
    log('setup-bucket', 'local directory store: no policy or CORS to apply');
    return;
  }
  if (r.publicRead === 'policy') {
    const dirs = scope!.keys.filter((k) => k.endsWith('/')).length;
    log(
      'setup-bucket',
      `public-read bucket policy merged: GetObject on ${plural(scope!.keys.length - dirs, 'key')} and ${plural(dirs, 'directory', 'directories')}, ListBucket inside those directories (statements cng:${scope!.dataset}:*; other statements kept)`,
    );
  } else if (r.publicRead === 'acl')
    log('setup-bucket', 'warning: the store does not implement bucket policies; applied the canned public-read ACL instead (it makes every key readable, raw/ and _work/ included)');
  else log('setup-bucket', 'warning: no --public keys given: no public read granted (the bucket policy is left as it is)');
  if (r.dropped?.length) log('setup-bucket', `removed the whole-bucket public-read statement(s) of earlier versions: ${r.dropped.join(', ')}`);
  if (r.cors === 'applied') log('setup-bucket', 'CORS applied (GET/HEAD from any origin; exposes ETag, Content-Length, Content-Type, Accept-Ranges, Content-Range)');
  else log('setup-bucket', 'warning: the store does not implement bucket CORS (PutBucketCors: NotImplemented); browsers on other origins cannot read this bucket');
  const lifecycle = await storage.expireIncompleteUploads(bucket);
  if (lifecycle.result === 'applied') log('setup-bucket', 'lifecycle rule applied: multipart uploads still incomplete after 1 day are aborted (other rules kept)');
  else
    log(
      'setup-bucket',
      `warning: the store does not take bucket lifecycle rules (PutBucketLifecycleConfiguration: ${lifecycle.answer}); parts of an upload whose abort failed too are not removed automatically`,
    );
}

/** The published keys from `--dataset` and `--public` (both or neither). */
function publicScope(dataset: string | undefined, keys: string | undefined): PublicScope | undefined {
  if (dataset === undefined && keys === undefined) return undefined;
  if (dataset === undefined || keys === undefined) throw new UsageError('--dataset and --public go together (the dataset names the policy statements that grant its keys)');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(dataset)) throw new UsageError(`--dataset '${dataset}' is not a dataset name (a DNS label)`);
  const list = keys.split(',');
  const bad = list.find((k) => k === '' || k === '/' || k.startsWith('/') || /[*?$]/.test(k));
  if (bad !== undefined) throw new UsageError(`--public entry '${bad}' is not an object key or directory (no empty entry, leading '/', '*', '?' or '$')`);
  return { dataset, keys: list };
}
