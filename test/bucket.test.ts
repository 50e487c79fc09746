/**
 * The setup-bucket stage against a real S3 server (OpenStack Swift + s3api, test/global-setup.ts),
 * through Storage.setupPublicBucket and through the real CLI (`node bin/cng-worker.js`).
 *
 * What Swift's s3api (2.30) really supports, and what these tests therefore assert:
 * - PutBucketPolicy / GetBucketPolicy: NotImplemented (501). setupPublicBucket falls back to the
 *   canned `public-read` ACL, which Swift maps to the container read ACL `.r:*,.rlistings`
 *   (anonymous read and listing through Swift's own API).
 * - PutBucketAcl with a canned ACL: supported. GetBucketAcl answers, but (without s3_acl mode) only
 *   ever shows the owner's FULL_CONTROL: the public grant is checked through Swift's API instead.
 * - PutBucketCors / GetBucketCors: NotImplemented (501): setup-bucket warns.
 * Ceph RGW (production) implements policies and CORS; the assertions follow what the server says,
 * so they also hold there.
 */
import { describe, it, expect, beforeAll, afterAll, inject } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand, GetBucketAclCommand, GetBucketCorsCommand, GetBucketPolicyCommand, PutObjectCommand, S3ServiceException,
} from '@aws-sdk/client-s3';
import { ROOT, s3Client, s3Env } from './helpers.ts';
import { publicReadPolicy, PUBLIC_CORS, Storage } from '../worker/io/storage.ts';

const s3 = inject('s3');
const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
const env = s3Env(s3);
const client = s3Client(s3);
afterAll(() => client.destroy());

/** The S3 error name a call fails with, or 'ok'. */
async function outcome(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (err) {
    return (err as S3ServiceException).name;
  }
}

/** Swift's own API (tempauth): storage URL and token of test:tester. */
async function swiftAuth(): Promise<{ url: string; token: string }> {
  const r = await fetch(`${s3.endpoint}/auth/v1.0`, { headers: { 'X-Auth-User': s3.accessKeyId, 'X-Auth-Key': s3.secretAccessKey } });
  expect(r.status).toBe(200);
  return { url: r.headers.get('x-storage-url')!, token: r.headers.get('x-auth-token')! };
}

/** Runs the real worker CLI and returns its exit code and output. */
function cngWorker(args: string[], extraEnv: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, CNG_STORAGE_DIR: undefined, ...extraEnv };
    for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
    const child = spawn(process.execPath, [join(ROOT, 'bin/cng-worker.js'), ...args], { cwd: ROOT, env: childEnv as NodeJS.ProcessEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Asserts that `bucket` is publicly readable and carries CORS as far as the server supports it. */
async function expectPublic(bucket: string, r: { publicRead: string; cors: string }): Promise<void> {
  // Bucket policy: applied and read back, or really not implemented by the server.
  const policy = await client.send(new GetBucketPolicyCommand({ Bucket: bucket })).catch((e: S3ServiceException) => e);
  if (r.publicRead === 'policy') {
    expect(policy).not.toBeInstanceOf(Error);
    expect(JSON.parse((policy as { Policy: string }).Policy)).toEqual(publicReadPolicy(bucket));
  } else {
    expect(r.publicRead).toBe('acl');
    expect((policy as S3ServiceException).name).toBe('NotImplemented');
  }
  // ACL: GetBucketAcl works (owner FULL_CONTROL); on Swift it does not show the public grant, so the
  // public read is checked where Swift keeps it: the container read ACL, and an anonymous read.
  const acl = await client.send(new GetBucketAclCommand({ Bucket: bucket }));
  expect(acl.Grants).toContainEqual(expect.objectContaining({ Permission: 'FULL_CONTROL', Grantee: expect.objectContaining({ ID: s3.accessKeyId }) }));
  if (r.publicRead === 'acl') {
    const { url, token } = await swiftAuth();
    const head = await fetch(`${url}/${bucket}`, { method: 'HEAD', headers: { 'X-Auth-Token': token } });
    expect(head.headers.get('x-container-read')).toBe('.r:*,.rlistings');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'probe.txt', Body: 'public' }));
    const anon = await fetch(`${url}/${bucket}/probe.txt`); // no credentials at all
    expect(anon.status).toBe(200);
    expect(await anon.text()).toBe('public');
    const listing = await fetch(`${url}/${bucket}?format=json`);
    expect(listing.status).toBe(200);
    expect((await listing.json()).map((o: { name: string }) => o.name)).toContain('probe.txt');
  }
  // CORS: applied and read back, or really not implemented by the server.
  const cors = await client.send(new GetBucketCorsCommand({ Bucket: bucket })).catch((e: S3ServiceException) => e);
  if (r.cors === 'applied') {
    expect(cors).not.toBeInstanceOf(Error);
    expect((cors as { CORSRules: unknown[] }).CORSRules).toEqual([expect.objectContaining(PUBLIC_CORS.CORSRules[0])]);
  } else {
    expect(r.cors).toBe('unsupported');
    expect((cors as S3ServiceException).name).toBe('NotImplemented');
  }
}

describe('what Swift s3api supports (the facts the fallbacks rely on)', () => {
  it('bucket policy and CORS are NotImplemented; canned ACLs work', async () => {
    const bucket = `facts-${suffix}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    expect(await outcome(() => client.send(new GetBucketPolicyCommand({ Bucket: bucket })))).toBe('NotImplemented');
    expect(await outcome(() => client.send(new GetBucketCorsCommand({ Bucket: bucket })))).toBe('NotImplemented');
    expect(await outcome(() => client.send(new GetBucketAclCommand({ Bucket: bucket })))).toBe('ok');
  });
});

describe('Storage.setupPublicBucket', () => {
  const storage = new Storage(env);

  it('creates a public bucket, and is idempotent', async () => {
    const bucket = `public-setup-${suffix}`;
    const first = await storage.setupPublicBucket(bucket);
    expect(first.created).toBe(true);
    // On Swift: the ACL fallback and no CORS (asserted against the server in expectPublic).
    expect(first).toEqual({ created: true, publicRead: 'acl', cors: 'unsupported' });
    await expectPublic(bucket, first);
    const second = await storage.setupPublicBucket(bucket);
    expect(second).toEqual({ ...first, created: false });
    await expectPublic(bucket, second);
  });

  it('makes an existing private bucket public (created=false)', async () => {
    const bucket = `public-private-${suffix}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'probe.txt', Body: 'public' }));
    const { url } = await swiftAuth();
    expect((await fetch(`${url}/${bucket}/probe.txt`)).status).toBe(401); // private before
    const r = await storage.setupPublicBucket(bucket);
    expect(r.created).toBe(false);
    await expectPublic(bucket, r);
  });

  it('wrong credentials: access denied', async () => {
    const bad = new Storage({ ...env, AWS_SECRET_ACCESS_KEY: 'wrong' });
    await expect(bad.setupPublicBucket(`public-denied-${suffix}`)).rejects.toThrow(/access denied/);
  });
});

describe('cng-worker setup-bucket (the real CLI)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cng-bucket-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the bucket (exit 0), and again (exit 0, created=false)', async () => {
    const bucket = `public-x-${suffix}`;
    const first = await cngWorker(['setup-bucket', '--bucket', bucket], env);
    expect(first.stderr).toContain(`cng-worker setup-bucket: created bucket s3://${bucket} (endpoint ${s3.endpoint})`);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/warning: the store does not implement bucket policies; applied the canned public-read ACL/);
    expect(first.stderr).toMatch(/warning: the store does not implement bucket CORS/);
    await expectPublic(bucket, { publicRead: 'acl', cors: 'unsupported' });

    const second = await cngWorker(['setup-bucket', '--bucket', bucket], env);
    expect(second.code).toBe(0);
    expect(second.stderr).toContain(`bucket exists: s3://${bucket}`);
  });

  it('without --bucket: usage error, exit 2', async () => {
    const r = await cngWorker(['setup-bucket'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--bucket is required');
  });

  it('an invalid bucket name: usage error, exit 2', async () => {
    const r = await cngWorker(['setup-bucket', '--bucket', 'Public_X'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'Public_X' is not a valid S3 bucket name");
  });

  it('wrong credentials: exit 1 with a one-line reason', async () => {
    const r = await cngWorker(['setup-bucket', '--bucket', `public-y-${suffix}`], { ...env, AWS_SECRET_ACCESS_KEY: 'wrong' });
    expect(r.code).toBe(1);
    // One line of ours and no stack trace (the AWS SDK may add its own Node-version warning).
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('cng-worker'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/^cng-worker setup-bucket: 's3:\/\/public-y-.*': access denied/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('local directory store (CNG_STORAGE_DIR): creates the directory, idempotent', async () => {
    const first = await cngWorker(['setup-bucket', '--bucket', 'public-local'], { CNG_STORAGE_DIR: dir });
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('created bucket s3://public-local');
    expect(existsSync(join(dir, 'public-local'))).toBe(true);
    const second = await cngWorker(['setup-bucket', '--bucket', 'public-local'], { CNG_STORAGE_DIR: dir });
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('bucket exists: s3://public-local');
  });
});
