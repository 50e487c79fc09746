import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  ListObjectsV2Command, PutBucketAclCommand, PutBucketCorsCommand, PutBucketPolicyCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CommandError } from '../cli/command.ts';

/**
 * Object storage for the worker: `s3://bucket/key` URLs or local paths, one interface.
 *
 * - S3 endpoint from AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL), path-style, checksums only when
 *   required (Ceph RGW and Swift reject the SDK's default ones); credentials AWS_ACCESS_KEY_ID /
 *   AWS_SECRET_ACCESS_KEY of the environment given to the constructor (in Jobs: the `aws` secret),
 *   else the SDK's default chain.
 * - With CNG_STORAGE_DIR set, `s3://bucket/key` means the file DIR/bucket/key: a directory acting as
 *   the object store for the local runner, with no server.
 * - Writes are atomic: an object appears under its final key only when complete (S3 multipart
 *   upload, aborted on failure; local temp file + rename). A killed process leaves no partial object.
 * - Errors become one-line CommandErrors naming the URL.
 */

export interface ObjectInfo {
  /** Full URL (`s3://bucket/key` or path). */
  readonly url: string;
  /** Key (S3) or path relative to the listed prefix's bucket root. */
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
   * How public read was granted: the bucket policy; or, on a store without bucket policies
   * (OpenStack Swift's s3api answers NotImplemented), the canned `public-read` ACL; 'none' locally.
   */
  readonly publicRead: 'policy' | 'acl' | 'none';
  /** CORS rules applied, or the store does not implement PutBucketCors (Swift); 'none' locally. */
  readonly cors: 'applied' | 'unsupported' | 'none';
}

/** Parses `s3://bucket/key`, `file:///path` or a path. */
export function parseLocation(url: string): Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (m) return { kind: 's3', bucket: m[1], key: m[2] };
  if (url.startsWith('file://')) return { kind: 'file', path: new URL(url).pathname };
  return { kind: 'file', path: url };
}

/** Joins a URL/path prefix and a relative key with exactly one '/'. */
export function joinUrl(prefix: string, ...parts: string[]): string {
  return [prefix.replace(/\/+$/, ''), ...parts.map((p) => p.replace(/^\/+|\/+$/g, ''))].filter((p) => p !== '').join('/');
}

export class Storage {
  private client?: S3Client;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** The S3 endpoint in use, or 'AWS' when none is configured. */
  get endpoint(): string {
    return this.env.AWS_ENDPOINT_URL_S3 ?? this.env.AWS_ENDPOINT_URL ?? 'AWS';
  }

  /** Where a URL really lives: S3, or a local file (paths, and s3:// under CNG_STORAGE_DIR). */
  resolve(url: string): Location {
    const loc = parseLocation(url);
    const dir = this.env.CNG_STORAGE_DIR;
    if (loc.kind === 's3' && dir) return { kind: 'file', path: join(dir, loc.bucket, loc.key) };
    return loc;
  }

  /** Copies an object to a local file (written atomically). */
  async download(url: string, localPath: string): Promise<void> {
    const loc = this.resolve(url);
    await mkdir(dirname(localPath), { recursive: true });
    const tmp = tempName(localPath);
    try {
      if (loc.kind === 'file') await copyFile(loc.path, tmp).catch((e) => fileError(e, url));
      else
        await this.s3(url, async () => {
          const r = await this.s3client().send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
          await pipeline(r.Body as Readable, createWriteStream(tmp)); // a dropped connection is an S3 error too
        });
      await rename(tmp, localPath);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Uploads a local file so that it appears under `url` only when complete. */
  async upload(localPath: string, url: string, contentType?: string): Promise<void> {
    const loc = this.resolve(url);
    const source = await stat(localPath).catch((e) => fileError(e, localPath));
    if (!source.isFile()) throw new CommandError(`'${localPath}': not a file (uploading to '${url}')`);
    if (loc.kind === 'file') return writeLocal(loc.path, url, (tmp) => copyFile(localPath, tmp));
    const upload = new Upload({
      client: this.s3client(),
      params: { Bucket: loc.bucket, Key: loc.key, Body: createReadStream(localPath), ContentType: contentType ?? contentTypeOf(loc.key) },
      partSize: 16 * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false, // abort the multipart upload on failure
    });
    await this.s3(url, () => upload.done());
  }

  /** Writes a small text object atomically. */
  async writeText(url: string, text: string, contentType?: string): Promise<void> {
    const loc = this.resolve(url);
    if (loc.kind === 'file') return writeLocal(loc.path, url, (tmp) => writeFile(tmp, text));
    const upload = new Upload({
      client: this.s3client(),
      params: { Bucket: loc.bucket, Key: loc.key, Body: text, ContentType: contentType ?? contentTypeOf(loc.key) },
    });
    await this.s3(url, () => upload.done());
  }

  async readText(url: string): Promise<string> {
    const loc = this.resolve(url);
    if (loc.kind === 'file') return readFile(loc.path, 'utf8').catch((e) => fileError(e, url));
    return this.s3(url, async () => {
      const r = await this.s3client().send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
      return r.Body!.transformToString('utf8');
    });
  }

  /** Size and ETag of an object, or null when it does not exist. */
  async stat(url: string): Promise<ObjectInfo | null> {
    const loc = this.resolve(url);
    if (loc.kind === 'file') {
      const s = await stat(loc.path).catch(() => null);
      return s?.isFile() ? { url, key: this.localKey(url, loc.path), size: s.size, etag: `${s.size}-${s.mtimeMs}` } : null;
    }
    try {
      const h = await this.s3client().send(new HeadObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
      return { url, key: loc.key, size: h.ContentLength ?? 0, etag: h.ETag ?? '' };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw s3Error(err, url, this.endpoint);
    }
  }

  async exists(url: string): Promise<boolean> {
    return (await this.stat(url)) !== null;
  }

  /** Every object under a prefix (recursively), sorted by key. */
  async list(prefix: string): Promise<ObjectInfo[]> {
    const loc = this.resolve(prefix);
    if (loc.kind === 'file') {
      const out: ObjectInfo[] = [];
      for (const p of await localObjectFiles(loc.path)) {
        const s = await stat(p);
        const u = joinUrl(prefix, relative(loc.path, p));
        out.push({ url: u, key: this.localKey(u, p), size: s.size, etag: `${s.size}-${s.mtimeMs}` });
      }
      return out.sort((a, b) => (a.url < b.url ? -1 : 1));
    }
    const out: ObjectInfo[] = [];
    const bucketUrl = `s3://${loc.bucket}/`;
    const keyPrefix = loc.key === '' || loc.key.endsWith('/') ? loc.key : `${loc.key}/`;
    let token: string | undefined;
    do {
      const r = await this.s3(prefix, () =>
        this.s3client().send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: keyPrefix, ContinuationToken: token })),
      );
      for (const o of r.Contents ?? []) out.push({ url: bucketUrl + o.Key!, key: o.Key!, size: o.Size ?? 0, etag: o.ETag ?? '' });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /**
   * Deletes every object under a prefix, and the object named exactly `prefix` if there is one (as
   * `rm -r` does locally). Returns how many objects were deleted.
   */
  async deletePrefix(prefix: string): Promise<number> {
    const loc = this.resolve(prefix);
    if (loc.kind === 'file') {
      const s = await stat(loc.path).catch(() => null);
      const n = s?.isFile() ? 1 : (await this.list(prefix)).length;
      await rm(loc.path, { recursive: true, force: true });
      // In the directory store, prune up to the bucket's directory (a bucket stays, as on S3); for
      // plain paths at most the one parent.
      const p = parseLocation(prefix);
      const root = this.env.CNG_STORAGE_DIR && p.kind === 's3' ? join(this.env.CNG_STORAGE_DIR, p.bucket) : dirname(dirname(loc.path));
      await pruneEmptyParents(dirname(loc.path), root);
      return n;
    }
    const objects: { key: string }[] = await this.list(prefix);
    if (loc.key !== '' && !loc.key.endsWith('/') && (await this.stat(prefix))) objects.push({ key: loc.key });
    for (let i = 0; i < objects.length; i += 1000) {
      const batch = objects.slice(i, i + 1000);
      const r = await this.s3(prefix, () => {
        const cmd = new DeleteObjectsCommand({ Bucket: loc.bucket, Delete: { Objects: batch.map((o) => ({ Key: o.key })), Quiet: true } });
        addContentMd5(cmd);
        return this.s3client().send(cmd);
      });
      const failed = r.Errors ?? [];
      if (failed.length > 0)
        throw new CommandError(`'${prefix}': could not delete ${failed.length} object(s), e.g. '${failed[0].Key}': ${failed[0].Code ?? ''} ${failed[0].Message ?? ''}`.trimEnd());
    }
    return objects.length;
  }

  /**
   * Creates a bucket when missing and applies a public-read policy and CORS for browsers
   * (range reads of PMTiles/Parquet). Idempotent. Where the store answers NotImplemented (OpenStack
   * Swift's s3api has neither bucket policies nor CORS), public read falls back to the canned
   * `public-read` ACL and CORS is reported as unsupported: the result says what was applied.
   */
  async setupPublicBucket(bucket: string): Promise<BucketSetup> {
    const url = `s3://${bucket}`;
    const loc = this.resolve(`${url}/`);
    if (loc.kind === 'file') {
      const created = !(await stat(loc.path).catch(() => null));
      await mkdir(loc.path, { recursive: true }).catch((e) => fileError(e, url));
      return { created, publicRead: 'none', cors: 'none' };
    }
    const c = this.s3client();
    let created = false;
    try {
      await c.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if (!isNotFound(err)) throw s3Error(err, url, this.endpoint);
      try {
        await c.send(new CreateBucketCommand({ Bucket: bucket }));
        created = true;
      } catch (e) {
        // Another run created it in between: that is fine (idempotent).
        if ((e as S3ServiceException)?.name !== 'BucketAlreadyOwnedByYou') throw s3Error(e, url, this.endpoint);
      }
    }
    let publicRead: BucketSetup['publicRead'] = 'policy';
    try {
      await c.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(publicReadPolicy(bucket)) }));
    } catch (err) {
      if (!isNotImplemented(err)) throw s3Error(err, url, this.endpoint);
      // No bucket policies (OpenStack Swift's s3api): the canned ACL grants the same public read.
      await this.s3(url, () => c.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'public-read' })));
      publicRead = 'acl';
    }
    let cors: BucketSetup['cors'] = 'applied';
    try {
      await c.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: PUBLIC_CORS }));
    } catch (err) {
      if (!isNotImplemented(err)) throw s3Error(err, url, this.endpoint);
      cors = 'unsupported';
    }
    return { created, publicRead, cors };
  }

  /** ObjectInfo.key of a local file: the object key for `s3://` URLs (as on S3), else the path. */
  private localKey(url: string, path: string): string {
    const loc = parseLocation(url);
    return loc.kind === 's3' ? loc.key : path;
  }

  private s3client(): S3Client {
    const endpoint = this.env.AWS_ENDPOINT_URL_S3 ?? this.env.AWS_ENDPOINT_URL;
    const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = this.env;
    return (this.client ??= new S3Client({
      endpoint,
      region: this.env.AWS_REGION ?? 'us-east-1',
      // The constructor's environment, not only process.env (which the SDK's default chain reads).
      ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, sessionToken } } : {}),
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 5,
    }));
  }

  private async s3<T>(url: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw s3Error(err, url, this.endpoint);
    }
  }
}

/** The bucket policy that makes products world-readable (list, locate, get). */
export function publicReadPolicy(bucket: string) {
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'PublicList', Effect: 'Allow', Principal: '*', Action: ['s3:ListBucket', 's3:GetBucketLocation'], Resource: [`arn:aws:s3:::${bucket}`] },
      { Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${bucket}/*`] },
    ],
  };
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

/** Removes directories left empty by a delete (a directory store has no empty "folders"). */
async function pruneEmptyParents(dir: string, root: string): Promise<void> {
  for (let d = dir; d !== dirname(d) && d.startsWith(root + '/'); d = dirname(d)) {
    const entries = await readdir(d).catch(() => null);
    if (entries === null || entries.length > 0) return;
    await rm(d, { recursive: true, force: true });
  }
}

/** Files below a directory of the directory store (recursively), leaving out in-flight temp files. */
export async function localObjectFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await localObjectFiles(p)));
    else if (e.isFile() && !e.name.includes('.cng-tmp-')) out.push(p);
  }
  return out;
}

/** Writes a local file atomically: into a temp file next to it, then renamed into place. */
async function writeLocal(path: string, url: string, write: (tmp: string) => Promise<void>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempName(path);
  try {
    await write(tmp);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fileError(err, url);
  }
}

function tempName(path: string): string {
  return `${path}.cng-tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
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

function isNotImplemented(err: unknown): boolean {
  const e = err as S3ServiceException;
  return e?.name === 'NotImplemented' || e?.$metadata?.httpStatusCode === 501;
}

/**
 * DeleteObjects must carry Content-MD5 on Swift's s3api (and older Ceph RGW); recent SDKs send only
 * a CRC32 checksum. Adds it after serialization, before signing.
 */
export function addContentMd5(cmd: DeleteObjectsCommand): void {
  cmd.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { headers?: Record<string, string>; body?: unknown };
      if (req?.headers && (typeof req.body === 'string' || req.body instanceof Uint8Array))
        req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
      return next(args);
    },
    { step: 'build', name: 'cngContentMd5' },
  );
}

export function isNotFound(err: unknown): boolean {
  const e = err as S3ServiceException;
  return e?.$metadata?.httpStatusCode === 404 || ['NotFound', 'NoSuchKey', 'NoSuchBucket'].includes(e?.name);
}

/** One line naming the URL and what to check. */
function s3Error(err: unknown, url: string, endpoint: string): CommandError {
  if (err instanceof CommandError) return err;
  const e = err as S3ServiceException & { code?: string };
  const status = e?.$metadata?.httpStatusCode;
  if (e?.name === 'NoSuchBucket') return new CommandError(`'${url}': no such bucket (endpoint ${endpoint})`);
  if (isNotFound(err)) return new CommandError(`'${url}': no such object (endpoint ${endpoint})`);
  if (status === 403 || ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch'].includes(e?.name))
    return new CommandError(`'${url}': access denied (${e.name}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (the 'aws' secret on the cluster)`);
  if (e?.code && ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'].includes(e.code))
    return new CommandError(`'${url}': cannot reach S3 endpoint ${endpoint} (${e.code})`);
  return new CommandError(`'${url}': S3 error ${e?.name ?? ''}${status ? ` (HTTP ${status})` : ''}: ${String(e?.message ?? err).split('\n')[0]}`);
}

function fileError(err: unknown, url: string): never {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') throw new CommandError(`'${url}': no such file or object`);
  throw new CommandError(`'${url}': ${e?.message ?? String(err)}`);
}
