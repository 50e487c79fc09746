import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command,
  S3Client, type S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CommandError } from '../cli/command.ts';
import { addContentMd5, contentTypeOf, isNotFound, localObjectFiles } from './storage.ts';

export { contentTypeOf };

/**
 * A small object-store interface for the docs and sync stages, with what worker/storage.ts does
 * not offer: range reads, user metadata, anonymous (unsigned) reads of public buckets, and a second
 * set of credentials/endpoint (the mirror's `MIRROR_*` variables). Two implementations:
 *
 * - `S3Store`: path-style, checksums only when required (Ceph RGW, Swift), SDK retries (5 attempts),
 *   multipart uploads (16 MiB parts) aborted on failure so no partial object appears;
 * - `DirStore`: the local runner's directory store, `<root>/<bucket>/<key>`; writes go to a temp
 *   file renamed into place; the "ETag" is the content MD5 (as a single-part S3 upload's ETag).
 */

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
  /** Writes an object atomically (multipart above 16 MiB, aborted on failure). */
  put(bucket: string, key: string, body: Readable | Buffer | string, opts?: PutOptions): Promise<void>;
  /** Deletes keys (missing keys are fine). */
  delete(bucket: string, keys: string[]): Promise<void>;
  /** Creates the bucket when it does not exist; returns whether it was created. */
  ensureBucket(bucket: string): Promise<boolean>;
  /** A local path of the object when the store is a directory (DuckDB reads it directly). */
  localPath?(bucket: string, key: string): string;
}

/** `s3://bucket/key` → parts. Throws on anything else. */
export function parseS3Url(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new CommandError(`'${url}' is not an s3://bucket/key URL`);
  return { bucket: m[1], key: m[2] };
}

/**
 * The store a stage's environment points at, for variables with `prefix` ('' → AWS_ENDPOINT_URL_S3,
 * AWS_ACCESS_KEY_ID, …; 'MIRROR_' → MIRROR_ENDPOINT_URL_S3, MIRROR_AWS_ACCESS_KEY_ID, …).
 * Without an endpoint and with CNG_STORAGE_DIR set (the local runner), the directory store.
 */
export function storeFromEnv(env: NodeJS.ProcessEnv = process.env, prefix: '' | 'MIRROR_' = ''): ObjectStore {
  const endpoint = prefix ? env[`${prefix}ENDPOINT_URL_S3`] : (env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL);
  if (!endpoint && env.CNG_STORAGE_DIR) return new DirStore(env.CNG_STORAGE_DIR);
  if (!endpoint && prefix) throw new CommandError(`${prefix}ENDPOINT_URL_S3 is not set (the mirror's S3 endpoint)`);
  return new S3Store({
    endpoint,
    region: env[`${prefix}AWS_REGION`] ?? env.AWS_REGION ?? 'us-east-1',
    accessKeyId: env[`${prefix}AWS_ACCESS_KEY_ID`],
    secretAccessKey: env[`${prefix}AWS_SECRET_ACCESS_KEY`],
    credentialHint: prefix ? `${prefix}AWS_ACCESS_KEY_ID/${prefix}AWS_SECRET_ACCESS_KEY` : 'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
  });
}

export interface S3StoreOptions {
  readonly endpoint?: string;
  readonly region?: string;
  /** Without credentials requests are unsigned (anonymous reads of public buckets). */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  /** Which variables to check, for access-denied messages. */
  readonly credentialHint?: string;
}

const PART_SIZE = 16 * 1024 * 1024;

export class S3Store implements ObjectStore {
  readonly where: string;
  private readonly client: S3Client;

  constructor(private readonly opts: S3StoreOptions) {
    this.where = `s3 ${opts.endpoint ?? 'AWS'}`;
    const signed = Boolean(opts.accessKeyId && opts.secretAccessKey);
    this.client = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region ?? 'us-east-1',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 5,
      ...(signed
        ? { credentials: { accessKeyId: opts.accessKeyId!, secretAccessKey: opts.secretAccessKey! } }
        : { credentials: { accessKeyId: '', secretAccessKey: '' }, signer: { sign: async (request: any) => request } }),
    });
  }

  async list(bucket: string, prefix: string): Promise<ObjectHead[]> {
    const out: ObjectHead[] = [];
    let token: string | undefined;
    do {
      const r = await this.call(`s3://${bucket}/${prefix}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token })),
      );
      for (const o of r.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0, etag: unquote(o.ETag) });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async head(bucket: string, key: string): Promise<ObjectHead | null> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { key, size: h.ContentLength ?? 0, etag: unquote(h.ETag), metadata: lowerKeys(h.Metadata ?? {}) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.error(err, `s3://${bucket}/${key}`);
    }
  }

  async readRange(bucket: string, key: string, start: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    const r = await this.call(`s3://${bucket}/${key}`, () =>
      this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${start + length - 1}` })),
    );
    return Buffer.from(await r.Body!.transformToByteArray());
  }

  async readText(bucket: string, key: string): Promise<string> {
    const r = await this.call(`s3://${bucket}/${key}`, () => this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    return r.Body!.transformToString('utf8');
  }

  async get(bucket: string, key: string): Promise<Readable> {
    const r = await this.call(`s3://${bucket}/${key}`, () => this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    return r.Body as Readable;
  }

  async put(bucket: string, key: string, body: Readable | Buffer | string, opts: PutOptions = {}): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: bucket, Key: key, Body: body, ContentType: opts.contentType ?? contentTypeOf(key), Metadata: opts.metadata },
      partSize: PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false, // abort the multipart upload on failure: no partial object
    });
    await this.call(`s3://${bucket}/${key}`, () => upload.done());
  }

  async delete(bucket: string, keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const cmd = new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } });
      addContentMd5(cmd);
      const r = await this.call(`s3://${bucket}`, () => this.client.send(cmd));
      const failed = r.Errors ?? [];
      if (failed.length) throw new CommandError(`s3://${bucket}: could not delete ${failed.length} object(s), e.g. '${failed[0].Key}': ${failed[0].Code ?? ''}`);
    }
  }

  async ensureBucket(bucket: string): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return false;
    } catch (err) {
      if (!isNotFound(err)) {
        // Some stores answer HEAD on a bucket one may write to but not list with 403: carry on.
        if ((err as S3ServiceException)?.$metadata?.httpStatusCode === 403) return false;
        throw this.error(err, `s3://${bucket}`);
      }
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
      return true;
    } catch (err) {
      if ((err as S3ServiceException)?.name === 'BucketAlreadyOwnedByYou') return false;
      throw this.error(err, `s3://${bucket}`);
    }
  }

  private async call<T>(url: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw this.error(err, url);
    }
  }

  private error(err: unknown, url: string): CommandError {
    if (err instanceof CommandError) return err;
    const e = err as S3ServiceException & { code?: string };
    const status = e?.$metadata?.httpStatusCode;
    const at = `'${url}' (${this.where})`;
    if (e?.name === 'NoSuchBucket') return new CommandError(`${at}: no such bucket`);
    if (isNotFound(err)) return new CommandError(`${at}: no such object`);
    if (status === 403 || ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch'].includes(e?.name))
      return new CommandError(`${at}: access denied (${e.name}); check ${this.opts.credentialHint ?? 'the credentials'}`);
    if (e?.code && ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'].includes(e.code))
      return new CommandError(`${at}: cannot reach the endpoint (${e.code})`);
    return new CommandError(`${at}: S3 error ${e?.name ?? ''}${status ? ` (HTTP ${status})` : ''}: ${String(e?.message ?? err).split('\n')[0]}`);
  }
}

export class DirStore implements ObjectStore {
  readonly where: string;

  constructor(private readonly root: string) {
    this.where = `dir ${root}`;
  }

  localPath(bucket: string, key: string): string {
    return join(this.root, bucket, key);
  }

  async list(bucket: string, prefix: string): Promise<ObjectHead[]> {
    const base = join(this.root, bucket);
    const out: ObjectHead[] = [];
    // Walk only below the prefix's directory part.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    for (const p of await localObjectFiles(join(base, dirPart))) {
      const key = relative(base, p).split('\\').join('/');
      if (key.startsWith(prefix)) out.push({ key, size: (await stat(p)).size, etag: await md5File(p) });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async head(bucket: string, key: string): Promise<ObjectHead | null> {
    const p = this.localPath(bucket, key);
    const s = await stat(p).catch(() => null);
    if (!s?.isFile()) return null;
    return { key, size: s.size, etag: await md5File(p), metadata: {} };
  }

  async readRange(bucket: string, key: string, start: number, length: number): Promise<Buffer> {
    const fh = await open(this.localPath(bucket, key)).catch((e) => notFound(e, bucket, key));
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, start);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async readText(bucket: string, key: string): Promise<string> {
    return readFile(this.localPath(bucket, key), 'utf8').catch((e) => notFound(e, bucket, key));
  }

  async get(bucket: string, key: string): Promise<Readable> {
    const p = this.localPath(bucket, key);
    await stat(p).catch((e) => notFound(e, bucket, key));
    return createReadStream(p);
  }

  async put(bucket: string, key: string, body: Readable | Buffer | string, _opts: PutOptions = {}): Promise<void> {
    const p = this.localPath(bucket, key);
    await mkdir(dirname(p), { recursive: true });
    const tmp = `${p}.cng-tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    try {
      await pipeline(typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([body]) : body, createWriteStream(tmp));
      await rename(tmp, p);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new CommandError(`'s3://${bucket}/${key}' (${this.where}): ${(err as Error).message}`);
    }
  }

  async delete(bucket: string, keys: string[]): Promise<void> {
    for (const k of keys) await rm(this.localPath(bucket, k), { force: true });
  }

  async ensureBucket(bucket: string): Promise<boolean> {
    const p = join(this.root, bucket);
    const existed = Boolean(await stat(p).catch(() => null));
    await mkdir(p, { recursive: true });
    return !existed;
  }
}

async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

function notFound(err: unknown, bucket: string, key: string): never {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') throw new CommandError(`'s3://${bucket}/${key}': no such object`);
  throw new CommandError(`'s3://${bucket}/${key}': ${e?.message ?? String(err)}`);
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^W\//, '').replace(/^"|"$/g, '');
}

function lowerKeys(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]));
}



