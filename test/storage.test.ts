/**
 * worker/io/storage.ts against a real S3 server (Swift + s3api, started once per run by
 * test/global-setup.ts) and in the local directory mode (CNG_STORAGE_DIR).
 */
import { describe, it, expect, beforeAll, afterAll, inject, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { CommandError } from '../worker/core/errors.ts';
import { Storage } from '../worker/io/storage.ts';
import { s3Client, s3Env } from './helpers.ts';
import { startFaultProxy } from './fault-proxy.ts';

// Failure injection for "an upload that fails midway": while `failAfter.bytes` > 0, every read
// stream that worker/io/storage.ts opens errors once it has delivered that many bytes (a disk error
// in the middle of a large upload).
const failAfter = vi.hoisted(() => ({ bytes: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const { Transform } = await import('node:stream');
  const createReadStream = ((...args: Parameters<typeof fs.createReadStream>) => {
    const src = fs.createReadStream(...args);
    const limit = failAfter.bytes;
    if (!limit) return src;
    let seen = 0;
    const out = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (seen > limit) cb(new Error(`simulated read error after ${limit} bytes`));
        else cb(null, chunk);
      },
    });
    src.on('error', (e) => out.destroy(e));
    out.on('close', () => src.destroy());
    return src.pipe(out);
  }) as typeof fs.createReadStream;
  return { ...fs, createReadStream, default: { ...fs, createReadStream } };
});

const MiB = 1024 * 1024;
const s3 = inject('s3');
const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
const bucket = `test-storage-${suffix}`;
const env = s3Env(s3);
const client = s3Client(s3);

let work: string;
let big: string; // 40 MiB of random bytes: three 16 MiB parts
let bigBytes: Buffer;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cng-storage-test-'));
  bigBytes = randomBytes(40 * MiB);
  big = join(work, 'big.bin');
  writeFileSync(big, bigBytes);
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  client.destroy();
});

/** Runs f and returns the CommandError it throws (fails the test when it does not throw one). */
async function commandError(f: () => Promise<unknown>): Promise<CommandError> {
  try {
    await f();
  } catch (err) {
    expect(err).toBeInstanceOf(CommandError);
    return err as CommandError;
  }
  throw new Error('expected a CommandError, but the call succeeded');
}

/** Writes `n` small objects under `prefix`, `batch` at a time. */
async function writeMany(storage: Storage, prefix: string, n: number, batch = 64): Promise<void> {
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, (_, j) => storage.writeText(`${prefix}/obj-${String(i + j).padStart(5, '0')}.txt`, `${i + j}`)),
    );
  }
}

/** Every file under dir (recursively), relative paths. */
function walk(dir: string): string[] {
  return existsSync(dir) ? (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[]).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)) : [];
}

describe('Storage against a real S3 server (Swift s3api)', () => {
  const storage = new Storage(env);
  const url = (key: string) => `s3://${bucket}/${key}`;

  beforeAll(async () => {
    expect(await storage.setupPublicBucket(bucket)).toMatchObject({ created: true });
  });

  it('setupPublicBucket creates the bucket once', async () => {
    expect(await storage.setupPublicBucket(bucket)).toMatchObject({ created: false });
    await storage.writeText(url('hello.txt'), 'hi');
    expect(await storage.readText(url('hello.txt'))).toBe('hi');
  });

  it('uploads and downloads a multipart (> 16 MiB) file byte for byte', async () => {
    await storage.upload(big, url('dir/big.parquet'));
    const info = await storage.stat(url('dir/big.parquet'));
    expect(info).toMatchObject({ url: url('dir/big.parquet'), key: 'dir/big.parquet', size: 40 * MiB });
    expect(info!.etag).toMatch(/-3"?$/); // a multipart upload of three parts
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dir/big.parquet' }));
    expect(head.ContentType).toBe('application/vnd.apache.parquet');

    const back = join(work, 'down', 'big.bin');
    await storage.download(url('dir/big.parquet'), back);
    expect(readFileSync(back).equals(bigBytes)).toBe(true);
    expect(readdirSync(join(work, 'down'))).toEqual(['big.bin']); // no temp file left
  });

  it('uploads and downloads a small file', async () => {
    const small = join(work, 'small.json');
    writeFileSync(small, '{"a":1}');
    await storage.upload(small, url('small.json'));
    expect(await storage.readText(url('small.json'))).toBe('{"a":1}');
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'small.json' }));
    expect(head.ContentType).toBe('application/json');
  });

  it('writeText / readText / stat / exists', async () => {
    const text = 'héllo wörld\n'.repeat(100);
    await storage.writeText(url('t/a.md'), text);
    expect(await storage.readText(url('t/a.md'))).toBe(text);
    const info = await storage.stat(url('t/a.md'));
    expect(info?.size).toBe(Buffer.byteLength(text));
    expect(await storage.exists(url('t/a.md'))).toBe(true);
    expect(await storage.exists(url('t/missing.md'))).toBe(false);
    expect(await storage.stat(url('t/missing.md'))).toBeNull();
    expect(await storage.stat(`s3://no-such-bucket-${suffix}/x`)).toBeNull();
    // overwriting changes the etag
    await storage.writeText(url('t/a.md'), 'other');
    expect((await storage.stat(url('t/a.md')))!.etag).not.toBe(info!.etag);
  });

  it('lists nested prefixes recursively, sorted, with the prefix as a directory', async () => {
    for (const k of ['n/a/b/c.txt', 'n/a/d.txt', 'n/a/b/e.txt', 'n/ab.txt', 'n/z.txt']) await storage.writeText(url(k), k);
    const a = await storage.list(url('n/a'));
    expect(a.map((o) => o.key)).toEqual(['n/a/b/c.txt', 'n/a/b/e.txt', 'n/a/d.txt']);
    expect(a.map((o) => o.url)).toEqual(['n/a/b/c.txt', 'n/a/b/e.txt', 'n/a/d.txt'].map(url));
    expect(a[0].size).toBe('n/a/b/c.txt'.length);
    expect((await storage.list(url('n/a/'))).length).toBe(3);
    expect((await storage.list(url('n'))).map((o) => o.key)).toEqual(['n/a/b/c.txt', 'n/a/b/e.txt', 'n/a/d.txt', 'n/ab.txt', 'n/z.txt']);
    expect(await storage.list(url('nothing-here'))).toEqual([]);
  });

  it('lists and deletes more than 1000 objects (pagination)', async () => {
    await writeMany(storage, url('many'), 1010);
    const listed = await storage.list(url('many'));
    expect(listed.length).toBe(1010);
    expect(new Set(listed.map((o) => o.key)).size).toBe(1010);
    expect(listed[0].key).toBe('many/obj-00000.txt');
    expect(listed[1009].key).toBe('many/obj-01009.txt');
    expect(await storage.deletePrefix(url('many'))).toBe(1010);
    expect(await storage.list(url('many'))).toEqual([]);
  });

  it('deletePrefix removes a prefix (not its siblings) and an exact object key', async () => {
    for (const k of ['d/x/1.txt', 'd/x/2/3.txt', 'd/xy.txt', 'd/keep.txt']) await storage.writeText(url(k), k);
    expect(await storage.deletePrefix(url('d/x'))).toBe(2);
    expect((await storage.list(url('d'))).map((o) => o.key)).toEqual(['d/keep.txt', 'd/xy.txt']);
    expect(await storage.deletePrefix(url('d/xy.txt'))).toBe(1);
    expect((await storage.list(url('d'))).map((o) => o.key)).toEqual(['d/keep.txt']);
    expect(await storage.deletePrefix(url('d/nothing'))).toBe(0);
  });

  it('a missing object is a CommandError naming the URL', async () => {
    const e = await commandError(() => storage.readText(url('no/such.json')));
    expect(e.message).toContain(url('no/such.json'));
    expect(e.message).toContain('no such object');
    const d = await commandError(() => storage.download(url('no/such.json'), join(work, 'dl', 'x.json')));
    expect(d.message).toContain('no such object');
    expect(walk(join(work, 'dl'))).toEqual([]); // neither the file nor a temp file
  });

  it('a missing bucket is a CommandError naming the URL', async () => {
    const missing = `s3://no-such-bucket-${suffix}/k.txt`;
    const e = await commandError(() => storage.readText(missing));
    expect(e.message).toContain(missing);
    expect(e.message).toContain('no such bucket');
    expect((await commandError(() => storage.list(`s3://no-such-bucket-${suffix}/p`))).message).toContain('no such bucket');
  });

  it('wrong credentials: access denied', async () => {
    const bad = new Storage({ ...env, AWS_SECRET_ACCESS_KEY: 'wrong' });
    const e = await commandError(() => bad.readText(url('hello.txt')));
    expect(e.message).toContain(url('hello.txt'));
    expect(e.message).toContain('access denied');
    const unknown = new Storage({ ...env, AWS_ACCESS_KEY_ID: 'nobody:nobody' });
    expect((await commandError(() => unknown.writeText(url('x.txt'), 'x'))).message).toContain('access denied');
    expect((await commandError(() => unknown.stat(url('hello.txt')))).message).toContain('access denied');
  });

  it('unreachable endpoint: cannot reach', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const down = new Storage({ ...env, AWS_ENDPOINT_URL_S3: endpoint });
    const e = await commandError(() => down.readText(url('hello.txt')));
    expect(e.message).toContain(url('hello.txt'));
    expect(e.message).toContain(`cannot reach S3 endpoint ${endpoint}`);
    expect((await commandError(() => down.stat(url('hello.txt')))).message).toContain('cannot reach');
  });

  it('an upload that fails midway leaves no object and no pending multipart upload', async () => {
    const key = 'fail/midway.bin';
    const cases = [
      // after the first 16 MiB part went up: a multipart upload was started, and must be aborted
      // (first a look for uploads of the key an earlier run left; last a check that the abort took)
      { bytes: 20 * MiB, requests: ['ListMultipartUploadsCommand', 'CreateMultipartUploadCommand', 'UploadPartCommand', 'AbortMultipartUploadCommand', 'AbortMultipartUploadCommand'] },
      // before a whole part was read: nothing was sent but the look for left uploads
      { bytes: 3 * MiB, requests: ['ListMultipartUploadsCommand'] },
    ];
    for (const { bytes, requests } of cases) {
      failAfter.bytes = bytes;
      const send = vi.spyOn(S3Client.prototype, 'send'); // records the requests, calls through
      try {
        const e = await commandError(() => storage.upload(big, url(key)));
        expect(e.message).toContain(url(key));
        expect(e.message).toContain('simulated read error');
        expect(send.mock.calls.map(([cmd]) => cmd.constructor.name)).toEqual(requests);
      } finally {
        failAfter.bytes = 0;
        send.mockRestore();
      }
      expect(await storage.exists(url(key))).toBe(false);
      expect(await storage.list(url('fail'))).toEqual([]);
      const mpu = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      expect(mpu.Uploads ?? []).toEqual([]);
    }
    // The same upload without the failure works (and is the only thing there).
    await storage.upload(big, url(key));
    expect((await storage.stat(url(key)))?.size).toBe(40 * MiB);
    expect((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).toEqual([]);
  });

  it('a multipart upload whose parts and abort both fail is recorded in one line and aborted by the next upload of the key', async () => {
    const key = 'fail/abort-failed.bin';
    // Through the fault proxy: every UploadPart and every AbortMultipartUpload answers 500.
    const proxy = await startFaultProxy(s3.endpoint, {
      rule: ({ method, query }) => ((method === 'PUT' && query.has('partNumber')) || (method === 'DELETE' && query.has('uploadId')) ? '500' : undefined),
    });
    const lines: string[] = [];
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((t) => (lines.push(String(t)), true));
    try {
      const e = await commandError(() => new Storage({ ...env, AWS_ENDPOINT_URL_S3: proxy.endpoint }).upload(big, url(key)));
      expect(e.message).toMatch(new RegExp(`^'${url(key)}': S3 error .*\\(HTTP 500\\)`));
    } finally {
      stderr.mockRestore();
      await proxy.close();
    }
    expect(proxy.faults['500']).toBeGreaterThanOrEqual(2);
    const left = (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }))).Uploads ?? [];
    expect(left.map((u) => u.Key)).toEqual([key]);
    const id = left[0].UploadId!;
    expect(lines.filter((l) => l.includes('incomplete multipart upload'))).toEqual([
      expect.stringMatching(new RegExp(`^cng-worker upload: incomplete multipart upload left on the server: bucket ${bucket}, key ${key}, upload id ${id.replace(/[.+]/g, '\\$&')} \\(the upload failed: .*HTTP 500.*; its abort failed: .*HTTP 500.*\\); the next upload of ${url(key)} aborts it\n$`)),
    ]);
    // The next upload of the key (the stage's re-run) aborts it first, then uploads.
    const next: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((t) => (next.push(String(t)), true));
    try {
      await storage.upload(big, url(key));
    } finally {
      spy.mockRestore();
    }
    expect(next).toEqual([expect.stringMatching(new RegExp(`^cng-worker upload: aborted multipart upload ${id.replace(/[.+]/g, '\\$&')} of ${url(key)} left incomplete by an earlier run \\(started \\d{4}-`))]);
    expect((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }))).Uploads ?? []).toEqual([]);
    expect((await storage.stat(url(key)))?.size).toBe(40 * MiB);
  });

  it('an upload of a missing local file names the file', async () => {
    const e = await commandError(() => storage.upload(join(work, 'nope.bin'), url('nope.bin')));
    expect(e.message).toContain(join(work, 'nope.bin'));
    expect(await storage.exists(url('nope.bin'))).toBe(false);
  });
});

describe('Storage in local mode (CNG_STORAGE_DIR)', () => {
  let dir: string;
  let storage: Storage;
  const url = (key: string) => `s3://public-local/${key}`;
  const tmpFiles = () => walk(dir).filter((p) => p.includes('.cng-tmp-'));

  beforeAll(() => {
    dir = join(work, 'store');
    mkdirSync(dir);
    storage = new Storage({ CNG_STORAGE_DIR: dir });
  });
  afterAll(() => expect(tmpFiles()).toEqual([])); // atomic temp+rename leaves nothing behind

  it('maps s3://bucket/key to DIR/bucket/key', () => {
    expect(storage.resolve('s3://b/k/x.parquet')).toEqual({ kind: 'file', path: join(dir, 'b', 'k', 'x.parquet') });
  });

  it('setupPublicBucket creates the bucket directory once', async () => {
    expect(await storage.setupPublicBucket('public-local')).toEqual({ created: true, publicRead: 'none', cors: 'none' });
    expect(existsSync(join(dir, 'public-local'))).toBe(true);
    expect(await storage.setupPublicBucket('public-local')).toMatchObject({ created: false });
  });

  it('a directory store has no policy or lifecycle rules: published keys and the upload rule are no-ops', async () => {
    const before = walk(dir);
    expect(await storage.setupPublicBucket('public-local', { dataset: 'demo-1', keys: ['demo-1/a.parquet', 'demo-1/a/hex/'] })).toEqual({
      created: false,
      publicRead: 'none',
      cors: 'none',
    });
    expect(await storage.expireIncompleteUploads('public-local')).toEqual({ result: 'none' });
    expect(walk(dir)).toEqual(before);
  });

  it('uploads and downloads byte for byte', async () => {
    await storage.upload(big, url('dir/big.bin'));
    expect(readFileSync(join(dir, 'public-local', 'dir', 'big.bin')).equals(bigBytes)).toBe(true);
    const back = join(work, 'local-down', 'big.bin');
    await storage.download(url('dir/big.bin'), back);
    expect(readFileSync(back).equals(bigBytes)).toBe(true);
    expect(readdirSync(join(work, 'local-down'))).toEqual(['big.bin']);
  });

  it('writeText / readText / stat / exists', async () => {
    await storage.writeText(url('t/a.md'), 'hello');
    expect(readFileSync(join(dir, 'public-local', 't', 'a.md'), 'utf8')).toBe('hello');
    expect(await storage.readText(url('t/a.md'))).toBe('hello');
    expect(await storage.stat(url('t/a.md'))).toMatchObject({ url: url('t/a.md'), key: 't/a.md', size: 5 });
    expect(await storage.exists(url('t/a.md'))).toBe(true);
    expect(await storage.exists(url('t/missing.md'))).toBe(false);
    expect(await storage.exists(url('t'))).toBe(false); // a directory is not an object
  });

  it('lists nested prefixes (never temp files) and deletes prefixes', async () => {
    for (const k of ['n/a/b/c.txt', 'n/a/d.txt', 'n/a/b/e.txt', 'n/ab.txt', 'n/z.txt']) await storage.writeText(url(k), k);
    // A temp file of an interrupted write is not an object.
    writeFileSync(join(dir, 'public-local', 'n', 'a', 'f.txt.cng-tmp-1-abc'), 'partial');
    const a = await storage.list(url('n/a'));
    expect(a.map((o) => o.url)).toEqual(['n/a/b/c.txt', 'n/a/b/e.txt', 'n/a/d.txt'].map(url));
    expect(a.map((o) => o.key)).toEqual(['n/a/b/c.txt', 'n/a/b/e.txt', 'n/a/d.txt']);
    expect((await storage.list(url('n'))).length).toBe(5);
    expect(await storage.list(url('nothing-here'))).toEqual([]);
    expect(await storage.exists(url('n/a/f.txt'))).toBe(false);
    rmSync(join(dir, 'public-local', 'n', 'a', 'f.txt.cng-tmp-1-abc'));

    expect(await storage.deletePrefix(url('n/a'))).toBe(3);
    expect((await storage.list(url('n'))).map((o) => o.key)).toEqual(['n/ab.txt', 'n/z.txt']);
    expect(await storage.deletePrefix(url('n/ab.txt'))).toBe(1);
    expect(await storage.deletePrefix(url('n'))).toBe(1);
    expect(existsSync(join(dir, 'public-local'))).toBe(true); // the bucket stays
  });

  it('lists and deletes more than 1000 objects', async () => {
    await writeMany(storage, url('many'), 1010);
    expect((await storage.list(url('many'))).length).toBe(1010);
    expect(await storage.deletePrefix(url('many'))).toBe(1010);
    expect(await storage.list(url('many'))).toEqual([]);
  });

  it('a missing object is a CommandError naming the URL; a failed download leaves nothing', async () => {
    const e = await commandError(() => storage.readText(url('no/such.json')));
    expect(e.message).toContain(url('no/such.json'));
    expect(e.message).toMatch(/no such (file or )?object/);
    await commandError(() => storage.download(url('no/such.json'), join(work, 'local-dl', 'x.json')));
    expect(walk(join(work, 'local-dl'))).toEqual([]);
    const u = await commandError(() => storage.upload(join(work, 'nope.bin'), url('nope.bin')));
    expect(u.message).toContain(join(work, 'nope.bin'));
    expect(await storage.exists(url('nope.bin'))).toBe(false);
  });
});
