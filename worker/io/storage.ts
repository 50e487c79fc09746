import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command,
  PutBucketAclCommand, S3Client, type S3ServiceException,
} from '@aws-sdk/client-s3';
import { CommandError } from '../core/errors.ts';
import { isNoSpace, noteSpace } from '../core/disk-full.ts';
import { uploadObject } from './multipart.ts';
import { copyS3Object } from './s3-copy.ts';
import { addContentMd5, applyAbortIncompleteUploads, applyCors, applyPublicReadPolicy, type LifecycleSetup, type PublicScope } from './bucket-settings.ts';

export { PUBLIC_CORS, type LifecycleSetup, type PublicScope } from './bucket-settings.ts';

/**
 * Object storage for the worker, in two layers:
 *
 * - `ObjectStore` (bucket/key level), with two implementations:
 *   - `S3Store`: path-style, checksums only when required (Ceph RGW and Swift reject the SDK's
 *     default ones), SDK retries (5 attempts), multipart uploads (16 MiB parts) aborted on failure
 *     so no partial object appears; range reads, user metadata, unsigned (anonymous) reads of
 *     public buckets; credentials and endpoint from `AWS_*` or, for the mirror, `MIRROR_*`
 *     variables (`storeFromEnv`);
 *   - `DirStore`: a directory acting as the object store, `<root>/<bucket>/<key>` (the local
 *     runner's CNG_STORAGE_DIR); writes go to a temp file renamed into place; the "ETag" is the
 *     content MD5 (as a single-part S3 upload's ETag), or `<size>-<mtime>` where hashing every
 *     file would be too slow. With root '' and bucket '' the keys are plain local paths.
 * - `Storage` (URL level): `s3://bucket/key` URLs or local paths, one interface, for the stages.
 *   `s3://` URLs go to the store the environment names (with CNG_STORAGE_DIR set, the directory
 *   store: `s3://bucket/key` is the file DIR/bucket/key; else S3 at AWS_ENDPOINT_URL_S3, else
 *   AWS_ENDPOINT_URL, with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the environment given to the
 *   constructor — in Jobs the `aws` secret — else the SDK's default chain); local paths to the
 *   file system as a DirStore.
 *
 * Writes are atomic: an object appears under its final key only when complete. A killed process
 * leaves no partial object. Errors become one-line CommandErrors naming the URL.
 */

export interface ObjectInfo {
  /** Full URL (`s3://bucket/key` or path). */
  readonly url: string;
  /** Key (S3 or directory store), or the path for local paths. */
  readonly key: string;
  readonly size: number;
  /** ETag (S3) or `<size>-<mtime>` (local): changes when content changes. */
  readonly etag: string;
}

export type Location = { kind: 's3'; bucket: string; key: string } | { kind: 'file'; path: string };

/** What setupPublicBucket did. */
export interface BucketSetup {
  /** Whether the bucket (or, locally, the directory) was created by this call. */
  readonly created: boolean;
  /**
   * How public read was granted: the bucket policy, to the published keys only; or, on a store
   * without bucket policies (OpenStack Swift's s3api answers NotImplemented), the canned
   * `public-read` ACL, which opens every key; 'none' locally, or when no keys were given.
   */
  readonly publicRead: 'policy' | 'acl' | 'none';
  /** CORS rules applied, or the store does not implement PutBucketCors (Swift); 'none' locally. */
  readonly cors: 'applied' | 'unsupported' | 'none';
  /** Sids of whole-bucket statements of earlier versions that the merged policy dropped. */
  readonly dropped?: string[];
}

export interface ObjectHead {
  readonly key: string;
  readonly size: number;
  /** ETag without quotes: an MD5 hex digest for single-part uploads, `<md5>-<parts>` for multipart. */
  readonly etag: string;
  /** User metadata (x-amz-meta-*, lower-case keys without the prefix); absent from listings. */
  readonly metadata?: Record<string, string>;
}

export interface PutOptions {
  readonly contentType?: string;
  readonly metadata?: Record<string, string>;
  /** Known length (lets small bodies go up in one request). */
  readonly size?: number;
}

export interface ObjectStore {
  /** Human description for messages, e.g. `s3 http://127.0.0.1:8080` or `dir data/store`. */
  readonly where: string;
  /** Every object whose key starts with `prefix` ('' = the whole bucket), sorted by key. */
  list(bucket: string, prefix: string): Promise<ObjectHead[]>;
  /** Size, ETag and metadata, or null when missing. */
  head(bucket: string, key: string): Promise<ObjectHead | null>;
  /** Bytes [start, start+length) (fewer at the end of the object). */
  readRange(bucket: string, key: string, start: number, length: number): Promise<Buffer>;
  readText(bucket: string, key: string): Promise<string>;
  /** The whole object as a stream. */
  get(bucket: string, key: string): Promise<Readable>;
  /** The whole object into a local file (not atomically: callers write to a temp file). */
  download(bucket: string, key: string, file: string): Promise<void>;
  /** Writes an object atomically (multipart above 16 MiB, aborted on failure). */
  put(bucket: string, key: string, body: Readable | Buffer | string, opts?: PutOptions): Promise<void>;
  /** Deletes keys (missing keys are fine). */
  delete(bucket: string, keys: string[]): Promise<void>;
  /**
   * Deletes every object under `key` as a directory, and the object named exactly `key` if there
   * is one (as `rm -r` does locally). Returns how many objects were deleted.
   */
  deletePrefix(bucket: string, key: string): Promise<number>;
  /** Creates the bucket when it does not exist; returns whether it was created. */
  ensureBucket(bucket: string): Promise<boolean>;
  /** Creates the bucket when missing and makes the published keys world-readable for browsers (see Storage). */
  setupPublicBucket(bucket: string, scope?: PublicScope): Promise<BucketSetup>;
  /**
   * Sets the lifecycle rule that aborts multipart uploads still incomplete after a day (other
   * rules kept): 'unsupported' where the store has no lifecycle rules (Swift), 'none' locally.
   */
  expireIncompleteUploads(bucket: string): Promise<LifecycleSetup>;
  /** A local path of the object when the store is a directory (DuckDB, GDAL read it directly). */
  localPath?(bucket: string, key: string): string;
  /** Copies an object inside this store, atomically (S3: server-side). */
  copy(bucket: string, key: string, toBucket: string, toKey: string): Promise<void>;
}

/** Parses `s3://bucket/key`, `file:///path` or a path. */
export function parseLocation(url: string): Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (m) return { kind: 's3', bucket: m[1], key: m[2] };
  if (url.startsWith('file://')) return { kind: 'file', path: new URL(url).pathname };
  return { kind: 'file', path: url };
}

/** `s3://bucket/key` → parts. Throws on anything else. */
export function parseS3Url(url: string): { bucket: string; key: string } {
  const loc = parseLocation(url);
  if (loc.kind !== 's3') throw new CommandError(`'${url}' is not an s3://bucket/key URL`);
  return { bucket: loc.bucket, key: loc.key };
}

/** Joins a URL/path prefix and a relative key with exactly one '/'. */
export function joinUrl(prefix: string, ...parts: string[]): string {
  return [prefix.replace(/\/+$/, ''), ...parts.map((p) => p.replace(/^\/+|\/+$/g, ''))].filter((p) => p !== '').join('/');
}

/** `text`, read from `url`, as JSON; a CommandError naming `url` when it is not JSON or cut short (a failed write, e.g. a full disk). */
export function parseJson<T>(text: string, url: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    const message = (err as Error).message;
    if (text.trim() === '' || /Unexpected end of JSON input|Unterminated/i.test(message))
      throw new CommandError(`'${url}' is cut short (${text.length} bytes of JSON): its write failed, e.g. on a full disk; run the stage that writes it again`);
    throw new CommandError(`'${url}' is not valid JSON: ${message}`);
  }
}

const withSlash = (p: string) => (p === '' || p.endsWith('/') ? p : `${p}/`);

// ---------------------------------------------------------------------------------------------
// Storage: URLs

export class Storage {
  private objects?: ObjectStore;
  /** Local paths: the file system as a directory store (root '', bucket '', key = path). */
  private readonly files = new DirStore('', { md5Etags: false });

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** The S3 endpoint in use, or 'AWS' when none is configured. */
  get endpoint(): string {
    return this.env.AWS_ENDPOINT_URL_S3 ?? this.env.AWS_ENDPOINT_URL ?? 'AWS';
  }

  /** Where a URL really lives: S3, or a local file (paths, and s3:// under CNG_STORAGE_DIR). */
  resolve(url: string): Location {
    const loc = parseLocation(url);
    if (loc.kind === 's3' && this.env.CNG_STORAGE_DIR) return { kind: 'file', path: this.store().localPath!(loc.bucket, loc.key) };
    return loc;
  }

  /** Copies an object to a local file (written atomically). */
  async download(url: string, localPath: string): Promise<void> {
    const t = this.target(url);
    try {
      await writeLocal(localPath, localPath, (tmp) => t.store.download(t.bucket, t.key, tmp));
    } catch (err) {
      // A full disk: the message says how much the object needs.
      if (isNoSpace(err)) noteSpace(err, dirname(localPath), (await this.stat(url).catch(() => null))?.size);
      throw err;
    }
  }

  /** Uploads a local file so that it appears under `url` only when complete. */
  async upload(localPath: string, url: string, contentType?: string): Promise<void> {
    const t = this.target(url);
    const source = await stat(localPath).catch((e) => fileError(e, localPath));
    if (!source.isFile()) throw new CommandError(`'${localPath}': not a file (uploading to '${url}')`);
    await t.store.put(t.bucket, t.key, createReadStream(localPath), { contentType, size: source.size });
  }

  /** Copies an object: inside one store without the bytes passing through here (see ObjectStore.copy). */
  async copy(from: string, to: string): Promise<void> {
    const [a, b] = [this.target(from), this.target(to)];
    if (a.store === b.store) return a.store.copy(a.bucket, a.key, b.bucket, b.key);
    await b.store.put(b.bucket, b.key, await a.store.get(a.bucket, a.key));
  }

  /** Streams `body` to `url`; it appears only when complete (an error in the stream leaves nothing: multipart aborted, temporary file removed). */
  async put(url: string, body: Readable, contentType?: string): Promise<void> {
    const t = this.target(url);
    await t.store.put(t.bucket, t.key, body, { contentType });
  }

  /** Writes a small text object atomically. */
  async writeText(url: string, text: string, contentType?: string): Promise<void> {
    const t = this.target(url);
    await t.store.put(t.bucket, t.key, text, { contentType });
  }

  async readText(url: string): Promise<string> {
    const t = this.target(url);
    return t.store.readText(t.bucket, t.key);
  }

  /** Size and ETag of an object, or null when it does not exist. */
  async stat(url: string): Promise<ObjectInfo | null> {
    const t = this.target(url);
    const h = await t.store.head(t.bucket, t.key);
    return h && { url, key: h.key, size: h.size, etag: h.etag };
  }

  async exists(url: string): Promise<boolean> {
    return (await this.stat(url)) !== null;
  }

  /** Every object under a prefix (recursively, the prefix as a directory), sorted by key. */
  async list(prefix: string): Promise<ObjectInfo[]> {
    const t = this.target(prefix);
    const keyPrefix = withSlash(t.key);
    const found = await t.store.list(t.bucket, keyPrefix);
    return found.map((o) => ({ url: joinUrl(prefix, o.key.slice(keyPrefix.length)), key: o.key, size: o.size, etag: o.etag }));
  }

  /** Deletes every object under a prefix, and the object named exactly `prefix` (as `rm -r`); returns how many. */
  async deletePrefix(prefix: string): Promise<number> {
    const t = this.target(prefix);
    return t.store.deletePrefix(t.bucket, t.key);
  }

  /**
   * Creates a bucket when missing and applies public read to what `scope` publishes (merged into
   * the bucket policy, bucket-settings.ts) and CORS for browsers (range reads of PMTiles/Parquet).
   * Idempotent. Where the store answers NotImplemented (OpenStack Swift's s3api has neither bucket
   * policies nor CORS), public read falls back to the canned `public-read` ACL (every key) and CORS
   * is reported as unsupported: the result says what was applied.
   */
  async setupPublicBucket(bucket: string, scope?: PublicScope): Promise<BucketSetup> {
    return this.store().setupPublicBucket(bucket, scope);
  }

  /** The lifecycle rule aborting incomplete multipart uploads after a day (see ObjectStore). */
  async expireIncompleteUploads(bucket: string): Promise<LifecycleSetup> {
    return this.store().expireIncompleteUploads(bucket);
  }

  /** The store of `s3://` URLs: the directory store under CNG_STORAGE_DIR, else S3. */
  private store(): ObjectStore {
    const dir = this.env.CNG_STORAGE_DIR;
    // Without credentials the SDK's default chain (unlike storeFromEnv's anonymous reads); local
    // ETags from stat, not from hashing every file.
    return (this.objects ??= dir ? new DirStore(dir, { md5Etags: false }) : new S3Store(s3OptionsFromEnv(this.env, '', 'default-chain')));
  }

  /** The store holding a URL's object, and the bucket and key there. */
  private target(url: string): { store: ObjectStore; bucket: string; key: string } {
    const loc = parseLocation(url);
    return loc.kind === 's3' ? { store: this.store(), bucket: loc.bucket, key: loc.key } : { store: this.files, bucket: '', key: loc.path };
  }
}

/** Content-Type of a product by its file name. */
export function contentTypeOf(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.md')) return 'text/markdown; charset=utf-8';
  if (key.endsWith('.tif') || key.endsWith('.tiff')) return 'image/tiff; application=geotiff; profile=cloud-optimized';
  if (key.endsWith('.pmtiles')) return 'application/vnd.pmtiles';
  if (key.endsWith('.parquet')) return 'application/vnd.apache.parquet';
  return 'application/octet-stream';
}

// ---------------------------------------------------------------------------------------------
// S3

export interface S3StoreOptions {
  readonly endpoint?: string;
  readonly region?: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  /** Without credentials: unsigned requests (anonymous reads of public buckets; the default), or the SDK's default chain. */
  readonly withoutCredentials?: 'unsigned' | 'default-chain';
  /** Which variables to check, for access-denied messages. */
  readonly credentialHint?: string;
  /** Path-style addressing (Ceph, Swift); false for virtual-hosted buckets (AWS). @default true */
  readonly pathStyle?: boolean;
}

/**
 * S3 settings from a stage's environment, for variables with `prefix` ('' → AWS_ENDPOINT_URL_S3
 * (else AWS_ENDPOINT_URL), AWS_ACCESS_KEY_ID, …; 'MIRROR_' → MIRROR_ENDPOINT_URL_S3,
 * MIRROR_AWS_ACCESS_KEY_ID, …). The credentials are the given environment's, not only process.env
 * (which the SDK's default chain reads).
 */
export function s3OptionsFromEnv(env: NodeJS.ProcessEnv, prefix: '' | 'MIRROR_' = '', withoutCredentials: S3StoreOptions['withoutCredentials'] = 'unsigned'): S3StoreOptions {
  return {
    endpoint: prefix ? env[`${prefix}ENDPOINT_URL_S3`] : (env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL),
    region: env[`${prefix}AWS_REGION`] ?? env.AWS_REGION ?? 'us-east-1',
    accessKeyId: env[`${prefix}AWS_ACCESS_KEY_ID`],
    secretAccessKey: env[`${prefix}AWS_SECRET_ACCESS_KEY`],
    sessionToken: env[`${prefix}AWS_SESSION_TOKEN`],
    withoutCredentials,
    credentialHint: `${prefix}AWS_ACCESS_KEY_ID/${prefix}AWS_SECRET_ACCESS_KEY (the ${prefix ? 'mirror' : "'aws'"} secret on the cluster)`,
  };
}

/** The one S3 client construction: path-style, checksums only when required, 5 attempts. */
export function s3Client(opts: S3StoreOptions): S3Client {
  const { accessKeyId, secretAccessKey, sessionToken } = opts;
  return new S3Client({
    endpoint: opts.endpoint,
    region: opts.region ?? 'us-east-1',
    forcePathStyle: opts.pathStyle ?? true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 5,
    ...(accessKeyId && secretAccessKey
      ? { credentials: { accessKeyId, secretAccessKey, sessionToken } }
      : opts.withoutCredentials === 'default-chain'
        ? {}
        : { credentials: { accessKeyId: '', secretAccessKey: '' }, signer: { sign: async (request: any) => request } }),
  });
}

/** The store of a stage's environment (`prefix`: see s3OptionsFromEnv; unsigned without credentials); CNG_STORAGE_DIR without an endpoint: the directory store. */
export function storeFromEnv(env: NodeJS.ProcessEnv = process.env, prefix: '' | 'MIRROR_' = ''): ObjectStore {
  const opts = s3OptionsFromEnv(env, prefix);
  if (!opts.endpoint && env.CNG_STORAGE_DIR) return new DirStore(env.CNG_STORAGE_DIR);
  if (!opts.endpoint && prefix) throw new CommandError(`${prefix}ENDPOINT_URL_S3 is not set (the mirror's S3 endpoint)`);
  return new S3Store(opts);
}

export class S3Store implements ObjectStore {
  readonly where: string;
  private client?: S3Client;

  constructor(private readonly opts: S3StoreOptions) {
    this.where = `s3 ${opts.endpoint ?? 'AWS'}`;
  }

  async list(bucket: string, prefix: string): Promise<ObjectHead[]> {
    const out: ObjectHead[] = [];
    let token: string | undefined;
    do {
      const r = await this.call(`s3://${bucket}/${prefix}`, () =>
        this.s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token })),
      );
      for (const o of r.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0, etag: unquote(o.ETag) });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async head(bucket: string, key: string): Promise<ObjectHead | null> {
    try {
      const h = await this.s3().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { key, size: h.ContentLength ?? 0, etag: unquote(h.ETag), metadata: lowerKeys(h.Metadata ?? {}) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.error(err, `s3://${bucket}/${key}`);
    }
  }

  async readRange(bucket: string, key: string, start: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    const r = await this.call(`s3://${bucket}/${key}`, () =>
      this.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${start + length - 1}` })),
    );
    return Buffer.from(await r.Body!.transformToByteArray());
  }

  async readText(bucket: string, key: string): Promise<string> {
    return this.call(`s3://${bucket}/${key}`, async () => {
      const r = await this.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return r.Body!.transformToString('utf8');
    });
  }

  async get(bucket: string, key: string): Promise<Readable> {
    const r = await this.call(`s3://${bucket}/${key}`, () => this.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    return r.Body as Readable;
  }

  async download(bucket: string, key: string, file: string): Promise<void> {
    await this.call(`s3://${bucket}/${key}`, async () => {
      const r = await this.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await pipeline(r.Body as Readable, createWriteStream(file)); // a dropped connection is an S3 error too
    });
  }

  async put(bucket: string, key: string, body: Readable | Buffer | string, opts: PutOptions = {}): Promise<void> {
    // Multipart above 16 MiB, aborted on failure; an upload whose abort failed too is recorded and aborted by the next put (multipart.ts).
    const params = { Bucket: bucket, Key: key, Body: body, ContentType: opts.contentType ?? contentTypeOf(key), Metadata: opts.metadata };
    await this.call(`s3://${bucket}/${key}`, () => uploadObject(this.s3(), params, opts.size));
  }

  async copy(bucket: string, key: string, toBucket: string, toKey: string): Promise<void> {
    const head = await this.head(bucket, key);
    if (!head) throw new CommandError(`'s3://${bucket}/${key}': no such object (endpoint ${this.opts.endpoint ?? 'AWS'})`);
    await this.call(`s3://${toBucket}/${toKey}`, () => copyS3Object(this.s3(), { bucket, key, size: head.size }, { bucket: toBucket, key: toKey, contentType: contentTypeOf(toKey) }));
  }

  async delete(bucket: string, keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const cmd = new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } });
      addContentMd5(cmd);
      const r = await this.call(`s3://${bucket}`, () => this.s3().send(cmd));
      const failed = r.Errors ?? [];
      if (failed.length > 0)
        throw new CommandError(`'s3://${bucket}': could not delete ${failed.length} object(s), e.g. '${failed[0].Key}': ${failed[0].Code ?? ''} ${failed[0].Message ?? ''}`.trimEnd());
    }
  }

  async deletePrefix(bucket: string, key: string): Promise<number> {
    const keys = (await this.list(bucket, withSlash(key))).map((o) => o.key);
    if (key !== '' && !key.endsWith('/') && (await this.head(bucket, key))) keys.push(key);
    await this.delete(bucket, keys);
    return keys.length;
  }

  async ensureBucket(bucket: string): Promise<boolean> {
    // Some stores answer HEAD on a bucket one may write to but not list with 403: carry on.
    return this.createIfMissing(bucket, true);
  }

  async setupPublicBucket(bucket: string, scope?: PublicScope): Promise<BucketSetup> {
    const url = `s3://${bucket}`;
    const created = await this.createIfMissing(bucket, false);
    const c = this.s3();
    const policy = await this.call(url, () => applyPublicReadPolicy(c, bucket, scope));
    // No bucket policies (OpenStack Swift's s3api): the canned ACL is the only public read there is.
    if (policy.result === 'unsupported') await this.call(url, () => c.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'public-read' })));
    const publicRead = policy.result === 'unsupported' ? 'acl' : policy.result;
    const cors = await this.call(url, () => applyCors(c, bucket));
    return { created, publicRead, cors, ...(policy.dropped.length ? { dropped: policy.dropped } : {}) };
  }

  async expireIncompleteUploads(bucket: string): Promise<LifecycleSetup> {
    return this.call(`s3://${bucket}`, () => applyAbortIncompleteUploads(this.s3(), bucket));
  }

  /** Creates the bucket when HEAD says it is missing; returns whether this call created it. */
  private async createIfMissing(bucket: string, forbiddenMeansExists: boolean): Promise<boolean> {
    const url = `s3://${bucket}`;
    try {
      await this.s3().send(new HeadBucketCommand({ Bucket: bucket }));
      return false;
    } catch (err) {
      if (!isNotFound(err)) {
        if (forbiddenMeansExists && (err as S3ServiceException)?.$metadata?.httpStatusCode === 403) return false;
        throw this.error(err, url);
      }
    }
    try {
      await this.s3().send(new CreateBucketCommand({ Bucket: bucket }));
      return true;
    } catch (err) {
      // Another run created it in between: that is fine (idempotent).
      if ((err as S3ServiceException)?.name === 'BucketAlreadyOwnedByYou') return false;
      throw this.error(err, url);
    }
  }

  private s3(): S3Client {
    return (this.client ??= s3Client(this.opts));
  }

  private async call<T>(url: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw this.error(err, url);
    }
  }

  /** One line naming the URL and what to check. */
  private error(err: unknown, url: string): CommandError {
    if (err instanceof CommandError) return err;
    const e = err as S3ServiceException & { code?: string };
    const status = e?.$metadata?.httpStatusCode;
    const endpoint = this.opts.endpoint ?? 'AWS';
    if (e?.name === 'NoSuchBucket') return new CommandError(`'${url}': no such bucket (endpoint ${endpoint})`);
    if (isNotFound(err)) return new CommandError(`'${url}': no such object (endpoint ${endpoint})`);
    if (status === 403 || ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch'].includes(e?.name))
      return new CommandError(`'${url}': access denied (${e.name}); check ${this.opts.credentialHint ?? 'the credentials'}`);
    if (e?.code && ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'].includes(e.code))
      return new CommandError(`'${url}': cannot reach S3 endpoint ${endpoint} (${e.code})`);
    return new CommandError(`'${url}': S3 error ${e?.name ?? ''}${status ? ` (HTTP ${status})` : ''}: ${String(e?.message ?? err).split('\n')[0]}`);
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as S3ServiceException;
  return e?.$metadata?.httpStatusCode === 404 || ['NotFound', 'NoSuchKey', 'NoSuchBucket'].includes(e?.name);
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^W\//, '').replace(/^"|"$/g, '');
}

function lowerKeys(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]));
}

// ---------------------------------------------------------------------------------------------
// Directory store

export interface DirStoreOptions {
  /**
   * ETags as content MD5 hex digests (true, the default: comparable with single-part S3 ETags, as
   * the sync stage needs), or `<size>-<mtime>` (false: no hashing of every file listed).
   */
  readonly md5Etags?: boolean;
}

export class DirStore implements ObjectStore {
  readonly where: string;

  /** `root` '' with bucket '': keys are local paths (how Storage reads and writes plain paths). */
  constructor(private readonly root: string, private readonly opts: DirStoreOptions = {}) {
    this.where = `dir ${root}`;
  }

  localPath(bucket: string, key: string): string {
    return join(this.root, bucket, key);
  }

  async list(bucket: string, prefix: string): Promise<ObjectHead[]> {
    const out: ObjectHead[] = [];
    // Walk only below the prefix's directory part.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const dir = this.localPath(bucket, dirPart);
    for (const p of await localObjectFiles(dir)) {
      const rel = relative(dir, p).split('\\').join('/');
      const key = dirPart === '' ? rel : `${dirPart}/${rel}`;
      if (key.startsWith(prefix)) out.push(await this.headOf(key, p, false));
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async head(bucket: string, key: string): Promise<ObjectHead | null> {
    const p = this.localPath(bucket, key);
    const s = await stat(p).catch(() => null);
    return s?.isFile() ? this.headOf(key, p, true) : null;
  }

  async readRange(bucket: string, key: string, start: number, length: number): Promise<Buffer> {
    const fh = await open(this.localPath(bucket, key)).catch((e) => this.fail(e, bucket, key));
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, start);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async readText(bucket: string, key: string): Promise<string> {
    return readFile(this.localPath(bucket, key), 'utf8').catch((e) => this.fail(e, bucket, key));
  }

  async get(bucket: string, key: string): Promise<Readable> {
    const p = this.localPath(bucket, key);
    await stat(p).catch((e) => this.fail(e, bucket, key));
    return createReadStream(p);
  }

  async download(bucket: string, key: string, file: string): Promise<void> {
    await copyFile(this.localPath(bucket, key), file).catch((e) => this.fail(e, bucket, key));
  }

  async put(bucket: string, key: string, body: Readable | Buffer | string, _opts: PutOptions = {}): Promise<void> {
    const source = typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([body]) : body;
    await writeLocal(this.localPath(bucket, key), this.name(bucket, key), (tmp) => pipeline(source, createWriteStream(tmp)));
  }

  async copy(bucket: string, key: string, toBucket: string, toKey: string): Promise<void> {
    await writeLocal(this.localPath(toBucket, toKey), this.name(toBucket, toKey), (tmp) => copyFile(this.localPath(bucket, key), tmp).catch((e) => this.fail(e, bucket, key)));
  }

  async delete(bucket: string, keys: string[]): Promise<void> {
    for (const k of keys) await rm(this.localPath(bucket, k), { force: true });
  }

  async deletePrefix(bucket: string, key: string): Promise<number> {
    const p = this.localPath(bucket, key);
    const s = await stat(p).catch(() => null);
    const n = s?.isFile() ? 1 : (await localObjectFiles(p)).length;
    await rm(p, { recursive: true, force: true });
    // A directory store has no empty "folders": prune up to the bucket's directory (a bucket stays,
    // as on S3); for plain paths (root '') at most the one parent.
    await pruneEmptyParents(dirname(p), this.root === '' ? dirname(dirname(p)) : join(this.root, bucket));
    return n;
  }

  async ensureBucket(bucket: string): Promise<boolean> {
    const p = join(this.root, bucket);
    const existed = Boolean(await stat(p).catch(() => null));
    await mkdir(p, { recursive: true }).catch((e) => fileError(e, `s3://${bucket}`));
    return !existed;
  }

  async setupPublicBucket(bucket: string, _scope?: PublicScope): Promise<BucketSetup> {
    return { created: await this.ensureBucket(bucket), publicRead: 'none', cors: 'none' };
  }

  async expireIncompleteUploads(_bucket: string): Promise<LifecycleSetup> {
    return { result: 'none' };
  }

  private async headOf(key: string, path: string, withMetadata: boolean): Promise<ObjectHead> {
    const s = await stat(path);
    const etag = this.opts.md5Etags === false ? `${s.size}-${s.mtimeMs}` : await md5File(path);
    return withMetadata ? { key, size: s.size, etag, metadata: {} } : { key, size: s.size, etag };
  }

  /** The object's name in messages: its s3:// URL, or the path. */
  private name(bucket: string, key: string): string {
    return this.root === '' && bucket === '' ? key : `s3://${bucket}/${key}`;
  }

  private fail(err: unknown, bucket: string, key: string): never {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ENOENT' && !(this.root === '' && bucket === '')) throw new CommandError(`'${this.name(bucket, key)}': no such object`);
    return fileError(err, this.name(bucket, key));
  }
}

/** Removes directories left empty by a delete (a directory store has no empty "folders"). */
async function pruneEmptyParents(dir: string, root: string): Promise<void> {
  for (let d = dir; d !== dirname(d) && d.startsWith(root + '/'); d = dirname(d)) {
    const entries = await readdir(d).catch(() => null);
    if (entries === null || entries.length > 0) return;
    await rm(d, { recursive: true, force: true });
  }
}

/** Paths relative to `dir` of the files below it (recursively, sorted), leaving out in-flight temp files. */
export async function listLocalFiles(dir: string): Promise<string[]> {
  return (await localObjectFiles(dir)).map((p) => relative(dir, p)).sort();
}

/** Files below a directory of the directory store (recursively), leaving out in-flight temp files. */
async function localObjectFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await localObjectFiles(p)));
    else if (e.isFile() && !e.name.includes('.cng-tmp-')) out.push(p);
  }
  return out;
}

/** Writes a local file atomically: into a temp file next to it, then renamed into place. */
async function writeLocal(path: string, name: string, write: (tmp: string) => Promise<unknown>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.cng-tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await write(tmp);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof CommandError) throw err;
    fileError(err, name);
  }
}

async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

function fileError(err: unknown, name: string): never {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') throw new CommandError(`'${name}': no such file or object`);
  throw new CommandError(`'${name}': ${e?.message ?? String(err)}`);
}
