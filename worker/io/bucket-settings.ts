import { createHash } from 'node:crypto';
import {
  GetBucketLifecycleConfigurationCommand, GetBucketPolicyCommand, PutBucketCorsCommand, PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand, type DeleteObjectsCommand, type LifecycleRule, type S3Client, type S3ServiceException,
} from '@aws-sdk/client-s3';
import { CommandError } from '../core/errors.ts';

/**
 * The bucket-level settings setup-bucket applies over the S3 API, each merged with what the bucket
 * already has rather than replacing it:
 *
 * - the public-read bucket policy, scoped to what a dataset publishes (`PublicScope`): GetObject
 *   on its product keys and hex directories, ListBucket only with an `s3:prefix` inside those
 *   directories; never `raw/` sources or `_work/` files. Statements are named after the dataset
 *   (`cng:<dataset>:get`, `cng:<dataset>:list`, and the shared `cng:locate`); other statements
 *   stay. The whole-bucket statements earlier versions wrote (`PublicList`, `PublicRead`) are
 *   removed when found exactly as written;
 * - CORS for browsers (range reads of PMTiles and Parquet);
 * - a lifecycle rule aborting multipart uploads still incomplete after a day (parts left when an
 *   upload and its abort both failed), next to the bucket's other rules;
 * - the Content-MD5 header Swift's s3api and older Ceph RGW require on DeleteObjects and lifecycle
 *   PUTs (recent SDKs send only a CRC32 checksum).
 *
 * A store that answers NotImplemented (OpenStack Swift's s3api has no policies, CORS or lifecycle)
 * gets 'unsupported' back, for the caller's fallback or warning. Other S3 errors are thrown as the
 * SDK raised them (the store turns them into one-line messages).
 */

/** What a dataset publishes in a bucket: setup-bucket's `--dataset` and `--public`. */
export interface PublicScope {
  /** Dataset name: names the policy statements this dataset owns. */
  readonly dataset: string;
  /** Keys readers may get; a key ending in '/' is a directory: every object below it, and listing it. */
  readonly keys: string[];
}

export interface PolicyStatement {
  Sid?: string;
  Effect?: string;
  Principal?: unknown;
  Action?: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface BucketPolicy {
  Version?: string;
  Statement: PolicyStatement[];
  [key: string]: unknown;
}

/** The statements that make a dataset's published keys world-readable (and nothing else). */
export function publicReadStatements(bucket: string, scope: PublicScope): PolicyStatement[] {
  const arn = `arn:aws:s3:::${bucket}`;
  const dirs = scope.keys.filter((k) => k.endsWith('/'));
  const files = scope.keys.filter((k) => !k.endsWith('/'));
  const out: PolicyStatement[] = [
    {
      Sid: `cng:${scope.dataset}:get`,
      Effect: 'Allow',
      Principal: '*',
      Action: ['s3:GetObject'],
      Resource: [...files.map((k) => `${arn}/${k}`), ...dirs.map((d) => `${arn}/${d}*`)],
    },
  ];
  if (dirs.length)
    out.push({
      Sid: `cng:${scope.dataset}:list`,
      Effect: 'Allow',
      Principal: '*',
      Action: ['s3:ListBucket'],
      Resource: [arn],
      Condition: { StringLike: { 's3:prefix': dirs.flatMap((d) => [d.slice(0, -1), `${d}*`]) } },
    });
  out.push({ Sid: 'cng:locate', Effect: 'Allow', Principal: '*', Action: ['s3:GetBucketLocation'], Resource: [arn] });
  return out;
}

/**
 * A bucket's policy with this dataset's public-read statements in place: statements with the same
 * Sid are replaced, the whole-bucket ones of earlier versions dropped, every other statement kept
 * (in its order, ours after them). `existing` is the policy text GetBucketPolicy returned, if any.
 */
export function mergeBucketPolicy(existing: string | undefined, bucket: string, scope: PublicScope): { policy: BucketPolicy; dropped: string[] } {
  const doc = parsePolicy(existing, bucket);
  const statements = statementsOf(doc);
  const ours = publicReadStatements(bucket, scope);
  const owned = new Set(ours.map((s) => s.Sid));
  const dropped = statements.filter((s) => !owned.has(s.Sid) && isEarlierWholeBucketGrant(s, bucket)).map((s) => String(s.Sid));
  const kept = statements.filter((s) => !owned.has(s.Sid) && !isEarlierWholeBucketGrant(s, bucket));
  return { policy: { ...doc, Version: (doc.Version as string | undefined) ?? '2012-10-17', Statement: [...kept, ...ours] }, dropped };
}

function parsePolicy(text: string | undefined, bucket: string): Record<string, unknown> {
  if (!text?.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CommandError(`'s3://${bucket}': its bucket policy is not JSON (${(err as Error).message}); fix or delete it, then re-run setup-bucket`);
  }
}

/** A policy's statements (`Statement` may be one object or a list). */
function statementsOf(doc: Record<string, unknown>): PolicyStatement[] {
  return ([] as PolicyStatement[]).concat((doc.Statement as PolicyStatement | PolicyStatement[] | undefined) ?? []);
}

/** The whole-bucket public read earlier versions of setup-bucket wrote, exactly as they wrote it. */
function isEarlierWholeBucketGrant(s: PolicyStatement, bucket: string): boolean {
  const set = (v: unknown) => ([] as unknown[]).concat(v ?? []).map(String).sort().join(',');
  const p = s.Principal as { AWS?: unknown } | string | undefined;
  const anyone = p === '*' || (typeof p === 'object' && set(p.AWS) === '*');
  if (s.Effect !== 'Allow' || !anyone || s.Condition !== undefined) return false;
  const arn = `arn:aws:s3:::${bucket}`;
  if (s.Sid === 'PublicList') return set(s.Action) === 's3:GetBucketLocation,s3:ListBucket' && set(s.Resource) === arn;
  if (s.Sid === 'PublicRead') return set(s.Action) === 's3:GetObject' && set(s.Resource) === `${arn}/*`;
  return false;
}

/**
 * Reads, merges and writes the bucket policy, then reads it back: when another writer replaced it
 * in between (two datasets of one bucket set up at once) and our statements are gone, does it
 * again (three attempts). Without a scope, only probes whether the store has policies ('none').
 */
export async function applyPublicReadPolicy(
  client: S3Client,
  bucket: string,
  scope: PublicScope | undefined,
): Promise<{ result: 'policy' | 'none' | 'unsupported'; dropped: string[] }> {
  const read = async () => {
    try {
      return { policy: (await client.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy };
    } catch (err) {
      if (isNotImplemented(err)) return 'unsupported' as const;
      if (isMissing(err, 'NoSuchBucketPolicy')) return { policy: undefined };
      throw err;
    }
  };
  for (let attempt = 1; attempt <= 3; attempt++) {
    const before = await read();
    if (before === 'unsupported') return { result: 'unsupported', dropped: [] };
    if (!scope) return { result: 'none', dropped: [] };
    const { policy, dropped } = mergeBucketPolicy(before.policy, bucket, scope);
    try {
      await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
    } catch (err) {
      if (isNotImplemented(err)) return { result: 'unsupported', dropped: [] };
      throw err;
    }
    const after = await read();
    const sids = new Set(after === 'unsupported' ? [] : statementsOf(parsePolicy(after.policy, bucket)).map((s) => s.Sid));
    if (policy.Statement.every((s) => sids.has(s.Sid))) return { result: 'policy', dropped };
  }
  throw new CommandError(`'s3://${bucket}': another writer replaced the bucket policy three times while setup-bucket merged it; run setup-bucket again`);
}

/** CORS for browsers range-reading PMTiles and Parquet. */
export const PUBLIC_CORS = {
  CORSRules: [
    {
      AllowedOrigins: ['*'],
      AllowedMethods: ['GET', 'HEAD'],
      AllowedHeaders: ['*'],
      ExposeHeaders: ['ETag', 'Content-Length', 'Content-Type', 'Accept-Ranges', 'Content-Range'],
      MaxAgeSeconds: 3600,
    },
  ],
};

export async function applyCors(client: S3Client, bucket: string): Promise<'applied' | 'unsupported'> {
  try {
    await client.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: PUBLIC_CORS }));
    return 'applied';
  } catch (err) {
    if (isNotImplemented(err)) return 'unsupported';
    throw err;
  }
}

/** Id of the lifecycle rule this tool owns. */
export const ABORT_UPLOADS_RULE_ID = 'cng-abort-incomplete-multipart-uploads';

/** Days after which an incomplete multipart upload is aborted (its parts deleted). */
export const ABORT_UPLOADS_AFTER_DAYS = 1;

/**
 * A bucket's lifecycle rules with ours (abort incomplete multipart uploads after a day, every key)
 * in place of any earlier copy; the other rules kept. A configuration cannot mix rules with the
 * old top-level `Prefix` and rules with `Filter`: ours follows the existing rules' form.
 */
export function mergeLifecycleRules(existing: LifecycleRule[]): LifecycleRule[] {
  const kept = existing.filter((r) => r.ID !== ABORT_UPLOADS_RULE_ID);
  const oldForm = kept.some((r) => r.Prefix !== undefined);
  return [
    ...kept,
    {
      ID: ABORT_UPLOADS_RULE_ID,
      Status: 'Enabled',
      ...(oldForm ? { Prefix: '' } : { Filter: { Prefix: '' } }),
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_UPLOADS_AFTER_DAYS },
    },
  ];
}

/**
 * What happened to the lifecycle rule: applied, or the store does not take lifecycle rules
 * (`answer` is its error: NotImplemented; MalformedXML from Swift's s3api, which ignores the
 * `?lifecycle` subresource and takes the PUT for a bucket creation), or 'none' (a local store).
 */
export interface LifecycleSetup {
  readonly result: 'applied' | 'unsupported' | 'none';
  readonly answer?: string;
}

export async function applyAbortIncompleteUploads(client: S3Client, bucket: string): Promise<LifecycleSetup> {
  try {
    let rules: LifecycleRule[] = [];
    try {
      rules = (await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? [];
    } catch (err) {
      if (!isMissing(err, 'NoSuchLifecycleConfiguration')) throw err;
    }
    const cmd = new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: mergeLifecycleRules(rules) } });
    addContentMd5(cmd);
    await client.send(cmd);
    return { result: 'applied' };
  } catch (err) {
    if (isNotImplemented(err) || (err as S3ServiceException)?.name === 'MalformedXML') return { result: 'unsupported', answer: (err as S3ServiceException).name };
    throw err;
  }
}

export function isNotImplemented(err: unknown): boolean {
  const e = err as S3ServiceException;
  return e?.name === 'NotImplemented' || e?.$metadata?.httpStatusCode === 501;
}

function isMissing(err: unknown, name: string): boolean {
  const e = err as S3ServiceException;
  return e?.name === name || (e?.$metadata?.httpStatusCode === 404 && e?.name !== 'NoSuchBucket');
}

/**
 * Adds Content-MD5 to a request after serialization, before signing: Swift's s3api and older Ceph
 * RGW require it on DeleteObjects and lifecycle PUTs, where recent SDKs send only a CRC32.
 */
export function addContentMd5(cmd: DeleteObjectsCommand | PutBucketLifecycleConfigurationCommand): void {
  (cmd as DeleteObjectsCommand).middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { headers?: Record<string, string>; body?: unknown };
      if (req?.headers && (typeof req.body === 'string' || req.body instanceof Uint8Array))
        req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
      return next(args);
    },
    { step: 'build', name: 'cngContentMd5' },
  );
}
