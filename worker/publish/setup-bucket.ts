import { UsageError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import { setupBucketStageDef } from './stages.ts';
import { Storage } from '../io/storage.ts';

/** S3 bucket naming rules (path-style): 3–63 of a-z 0-9 . -, starting and ending alphanumeric. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * `cng-worker setup-bucket --bucket NAME`: creates the bucket when missing and (re)applies public
 * read and CORS. Idempotent: a second run finds the bucket and re-applies the same settings.
 *
 * Public read is the bucket policy (ListBucket, GetBucketLocation, GetObject for everyone) where the
 * store supports bucket policies (Ceph RGW); where it answers NotImplemented (OpenStack Swift's
 * s3api, the tests' server) it is the canned `public-read` ACL instead. A store without CORS support
 * gets a warning: browsers on other origins then cannot range-read the products.
 */
export async function setupBucketStage(opts: RawOptions): Promise<void> {
  const { bucket } = setupBucketStageDef.parse(opts);
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..'))
    throw new UsageError(`--bucket '${bucket}' is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')`);
  const storage = new Storage();
  const where = process.env.CNG_STORAGE_DIR ? `directory store ${process.env.CNG_STORAGE_DIR}` : `endpoint ${storage.endpoint}`;
  const r = await storage.setupPublicBucket(bucket);
  log('setup-bucket', `${r.created ? 'created bucket' : 'bucket exists:'} s3://${bucket} (${where})`);
  if (r.publicRead === 'policy') log('setup-bucket', 'public-read bucket policy applied (ListBucket, GetBucketLocation, GetObject)');
  else if (r.publicRead === 'acl')
    log('setup-bucket', 'warning: the store does not implement bucket policies; applied the canned public-read ACL instead');
  if (r.cors === 'applied') log('setup-bucket', 'CORS applied (GET/HEAD from any origin; exposes ETag, Content-Length, Content-Type, Accept-Ranges, Content-Range)');
  else if (r.cors === 'unsupported')
    log('setup-bucket', 'warning: the store does not implement bucket CORS (PutBucketCors: NotImplemented); browsers on other origins cannot read this bucket');
  if (r.publicRead === 'none') log('setup-bucket', 'local directory store: no policy or CORS to apply');
}
