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
 * - Lifecycle rules: s3api ignores the `?lifecycle` subresource: GET answers as a bucket listing
 *   (no rules), PUT as a bucket creation, MalformedXML (400): setup-bucket warns.
 * Ceph RGW (production) implements policies, CORS and lifecycle rules; the assertions follow what
 * the server says, so they also hold there. That path (policy merged, lifecycle rule set) is
 * tested against a minimal loopback server that keeps a policy and lifecycle rules, as RGW does.
 */
import { describe, it, expect, beforeAll, afterAll, inject } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand, GetBucketAclCommand, GetBucketCorsCommand, GetBucketLifecycleConfigurationCommand, GetBucketPolicyCommand,
  PutBucketLifecycleConfigurationCommand, PutObjectCommand, S3ServiceException,
} from '@aws-sdk/client-s3';
import { ROOT, s3Client, s3Env } from './helpers.ts';
import { PUBLIC_CORS, Storage, type PublicScope } from '../worker/io/storage.ts';
import { ABORT_UPLOADS_RULE_ID, addContentMd5, mergeBucketPolicy, mergeLifecycleRules, publicReadStatements } from '../worker/io/bucket-settings.ts';

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
async function expectPublic(bucket: string, r: { publicRead: string; cors: string }, scope?: PublicScope): Promise<void> {
  // Bucket policy: applied and read back, or really not implemented by the server.
  const policy = await client.send(new GetBucketPolicyCommand({ Bucket: bucket })).catch((e: S3ServiceException) => e);
  if (r.publicRead === 'policy') {
    expect(policy).not.toBeInstanceOf(Error);
    expect(JSON.parse((policy as { Policy: string }).Policy).Statement).toEqual(expect.arrayContaining(publicReadStatements(bucket, scope!)));
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

  it('lifecycle rules: GET answers as a listing (no rules), PUT is MalformedXML', async () => {
    const bucket = `facts-lc-${suffix}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    expect((await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules).toBeUndefined();
    const put = new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: mergeLifecycleRules([]) } });
    addContentMd5(put);
    expect(await outcome(() => client.send(put))).toBe('MalformedXML');
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

const SCOPE: PublicScope = { dataset: 'demo-1', keys: ['README.md', 'demo-1/fee.parquet', 'demo-1/fee/manifest.json', 'demo-1/fee/hex/'] };

describe('the public-read policy document (pure)', () => {
  it("grants GetObject on the dataset's keys and directories, ListBucket inside the directories, nothing else", () => {
    expect(publicReadStatements('public-demo', SCOPE)).toEqual([
      {
        Sid: 'cng:demo-1:get',
        Effect: 'Allow',
        Principal: '*',
        Action: ['s3:GetObject'],
        Resource: [
          'arn:aws:s3:::public-demo/README.md',
          'arn:aws:s3:::public-demo/demo-1/fee.parquet',
          'arn:aws:s3:::public-demo/demo-1/fee/manifest.json',
          'arn:aws:s3:::public-demo/demo-1/fee/hex/*',
        ],
      },
      {
        Sid: 'cng:demo-1:list',
        Effect: 'Allow',
        Principal: '*',
        Action: ['s3:ListBucket'],
        Resource: ['arn:aws:s3:::public-demo'],
        Condition: { StringLike: { 's3:prefix': ['demo-1/fee/hex', 'demo-1/fee/hex/*'] } },
      },
      { Sid: 'cng:locate', Effect: 'Allow', Principal: '*', Action: ['s3:GetBucketLocation'], Resource: ['arn:aws:s3:::public-demo'] },
    ]);
    const json = JSON.stringify(publicReadStatements('public-demo', SCOPE));
    expect(json).not.toMatch(/raw\/|_work|public-demo\/\*"/);
  });

  it('without directories there is no ListBucket statement', () => {
    expect(publicReadStatements('b', { dataset: 'd', keys: ['x.parquet'] }).map((s) => s.Sid)).toEqual(['cng:d:get', 'cng:locate']);
  });
});

describe('merging into an existing bucket policy (pure)', () => {
  const foreign = { Sid: 'LabWrite', Effect: 'Allow', Principal: { AWS: ['arn:aws:iam:::user/lab'] }, Action: ['s3:PutObject'], Resource: ['arn:aws:s3:::public-demo/*'] };
  const otherDataset = publicReadStatements('public-demo', { dataset: 'other-1', keys: ['other-1/a.parquet'] })[0];
  /** What earlier versions wrote: the whole bucket, raw/ and _work/ included. */
  const earlier = [
    { Sid: 'PublicList', Effect: 'Allow', Principal: '*', Action: ['s3:ListBucket', 's3:GetBucketLocation'], Resource: ['arn:aws:s3:::public-demo'] },
    { Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::public-demo/*'] },
  ];
  const ours = publicReadStatements('public-demo', SCOPE);

  it('a bucket without a policy gets exactly ours', () => {
    expect(mergeBucketPolicy(undefined, 'public-demo', SCOPE)).toEqual({ policy: { Version: '2012-10-17', Statement: ours }, dropped: [] });
  });

  it("keeps other statements (the lab's, another dataset's), replaces ours, drops the earlier whole-bucket grant", () => {
    const stale = { ...ours[0], Resource: ['arn:aws:s3:::public-demo/demo-1/gone.parquet'] };
    const existing = JSON.stringify({ Version: '2012-10-17', Id: 'lab', Statement: [foreign, ...earlier, stale, otherDataset, ours[2]] });
    const { policy, dropped } = mergeBucketPolicy(existing, 'public-demo', SCOPE);
    expect(policy).toEqual({ Version: '2012-10-17', Id: 'lab', Statement: [foreign, otherDataset, ...ours] });
    expect(dropped).toEqual(['PublicList', 'PublicRead']);
    // Idempotent: merging again changes nothing.
    expect(mergeBucketPolicy(JSON.stringify(policy), 'public-demo', SCOPE)).toEqual({ policy, dropped: [] });
  });

  it('keeps a statement named like an earlier one that says something else; takes a single Statement object', () => {
    const human = { ...earlier[1], Resource: ['arn:aws:s3:::public-demo/public/*'] };
    expect(mergeBucketPolicy(JSON.stringify({ Statement: human }), 'public-demo', SCOPE).policy.Statement).toEqual([human, ...ours]);
  });

  it('a policy that is not JSON: one line naming the bucket', () => {
    expect(() => mergeBucketPolicy('{oops', 'public-demo', SCOPE)).toThrow(/^'s3:\/\/public-demo': its bucket policy is not JSON \(.*\); fix or delete it, then re-run setup-bucket$/);
  });
});

describe('the lifecycle rule (pure)', () => {
  const ours = { ID: ABORT_UPLOADS_RULE_ID, Status: 'Enabled' as const, Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } };

  it('is added next to the existing rules, and replaces an earlier copy of itself', () => {
    const logs = { ID: 'expire-logs', Status: 'Enabled' as const, Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } };
    expect(mergeLifecycleRules([])).toEqual([ours]);
    expect(mergeLifecycleRules([logs, { ...ours, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }])).toEqual([logs, ours]);
  });

  it('follows the old top-level Prefix form when the existing rules use it (a configuration cannot mix them)', () => {
    const old = { ID: 'old', Status: 'Enabled' as const, Prefix: 'tmp/', Expiration: { Days: 1 } };
    const { Filter: _f, ...rest } = ours;
    expect(mergeLifecycleRules([old])).toEqual([old, { ...rest, Prefix: '' }]);
  });
});

describe('setup-bucket with the published keys on Swift (no policies, no lifecycle): ACL fallback, one warning each', () => {
  const storage = new Storage(env);

  it('Storage: public-read ACL, CORS and lifecycle unsupported', async () => {
    const bucket = `public-scope-${suffix}`;
    const r = await storage.setupPublicBucket(bucket, SCOPE);
    expect(r).toEqual({ created: true, publicRead: 'acl', cors: 'unsupported' });
    await expectPublic(bucket, r, SCOPE);
    expect(await storage.expireIncompleteUploads(bucket)).toEqual({ result: 'unsupported', answer: 'MalformedXML' });
  });

  it('the real CLI: exit 0, the bucket public, one line per setting', async () => {
    const bucket = `public-scope-cli-${suffix}`;
    const r = await cngWorker(['setup-bucket', '--bucket', bucket, '--dataset', 'demo-1', '--public', SCOPE.keys.join(',')], env);
    expect(r.code).toBe(0);
    expect(settingLines(r.stderr)).toEqual([
      `cng-worker setup-bucket: created bucket s3://${bucket} (endpoint ${s3.endpoint})`,
      'cng-worker setup-bucket: warning: the store does not implement bucket policies; applied the canned public-read ACL instead (it makes every key readable, raw/ and _work/ included)',
      'cng-worker setup-bucket: warning: the store does not implement bucket CORS (PutBucketCors: NotImplemented); browsers on other origins cannot read this bucket',
      'cng-worker setup-bucket: warning: the store does not take bucket lifecycle rules (PutBucketLifecycleConfiguration: MalformedXML); parts of an upload whose abort failed too are not removed automatically',
    ]);
    await expectPublic(bucket, { publicRead: 'acl', cors: 'unsupported' }, SCOPE);
  });

  it.each([
    [['--dataset', 'demo-1'], '--dataset and --public go together'],
    [['--public', 'a.parquet'], '--dataset and --public go together'],
    [['--dataset', 'Demo', '--public', 'a.parquet'], "--dataset 'Demo' is not a dataset name"],
    [['--dataset', 'demo-1', '--public', 'a.parquet,demo-1/*'], "--public entry 'demo-1/*' is not an object key or directory"],
    [['--dataset', 'demo-1', '--public', 'a.parquet,,b.parquet'], "--public entry '' is not an object key or directory"],
  ])('%j: usage error, exit 2', async (args, message) => {
    const r = await cngWorker(['setup-bucket', '--bucket', `public-usage-${suffix}`, ...args], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});

/**
 * A loopback S3 endpoint that keeps a bucket policy and lifecycle rules as Ceph RGW does (GET/PUT
 * `?policy`, `?lifecycle`, PUT `?cors`, HEAD bucket), records each request, and can play a second
 * writer that replaces the policy right after our PUT.
 */
interface FakeState {
  policy?: string;
  lifecycle?: string;
  requests: string[];
  /** Content-MD5 of each lifecycle PUT matched its body. */
  md5: boolean[];
  /** Policies another writer PUTs right after ours, one per PUT. */
  otherWriter: string[];
}

async function rgwLike(state: FakeState): Promise<{ server: Server; env: Record<string, string> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const q = new URL(req.url!, 'http://x').searchParams;
      const sub = ['policy', 'lifecycle', 'cors', 'acl'].find((k) => q.has(k)) ?? '';
      state.requests.push(`${req.method} ${sub}`.trim());
      const send = (status: number, text = '', type = 'application/xml') => res.writeHead(status, { 'content-type': type }).end(text);
      const error = (status: number, code: string) => send(status, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`);
      if (req.method === 'HEAD' && sub === '') return send(200);
      if (sub === 'policy' && req.method === 'GET') return state.policy ? send(200, state.policy, 'application/json') : error(404, 'NoSuchBucketPolicy');
      if (sub === 'policy' && req.method === 'PUT') {
        state.policy = state.otherWriter.shift() ?? body.toString();
        return send(204);
      }
      if (sub === 'lifecycle' && req.method === 'GET') return state.lifecycle ? send(200, state.lifecycle) : error(404, 'NoSuchLifecycleConfiguration');
      if (sub === 'lifecycle' && req.method === 'PUT') {
        state.md5.push(req.headers['content-md5'] === createHash('md5').update(body).digest('base64'));
        state.lifecycle = body.toString();
        return send(200);
      }
      if (sub === 'cors' && req.method === 'PUT') return send(200);
      return error(501, 'NotImplemented');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, env: { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`, AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' } };
}

describe('setup-bucket on a store with bucket policies and lifecycle rules (an RGW-like loopback server)', () => {
  const earlier = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'LabWrite', Effect: 'Allow', Principal: { AWS: ['arn:aws:iam:::user/lab'] }, Action: ['s3:PutObject'], Resource: ['arn:aws:s3:::public-demo/*'] },
      { Sid: 'PublicList', Effect: 'Allow', Principal: '*', Action: ['s3:ListBucket', 's3:GetBucketLocation'], Resource: ['arn:aws:s3:::public-demo'] },
      { Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::public-demo/*'] },
    ],
  });
  const logsRule =
    '<LifecycleConfiguration><Rule><ID>expire-logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule></LifecycleConfiguration>';
  let fake: { server: Server; env: Record<string, string> };
  const state: FakeState = { requests: [], md5: [], otherWriter: [] };
  beforeAll(async () => {
    fake = await rgwLike(state);
  });
  afterAll(() => fake.server.close());

  it('merges the scoped policy (earlier whole-bucket grant dropped, the lab statement kept) and adds the lifecycle rule beside the others', async () => {
    Object.assign(state, { policy: earlier, lifecycle: logsRule, requests: [], md5: [] });
    const storage = new Storage(fake.env);
    const r = await storage.setupPublicBucket('public-demo', SCOPE);
    expect(r).toEqual({ created: false, publicRead: 'policy', cors: 'applied', dropped: ['PublicList', 'PublicRead'] });
    expect(JSON.parse(state.policy!)).toEqual({ Version: '2012-10-17', Statement: [JSON.parse(earlier).Statement[0], ...publicReadStatements('public-demo', SCOPE)] });
    expect(await storage.expireIncompleteUploads('public-demo')).toEqual({ result: 'applied' });
    expect(state.md5).toEqual([true]);
    expect(state.requests).toEqual(['HEAD', 'GET policy', 'PUT policy', 'GET policy', 'PUT cors', 'GET lifecycle', 'PUT lifecycle']);
    const rules = (await s3ClientOf(fake.env).send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'public-demo' }))).Rules;
    expect(rules?.map((x) => [x.ID, x.AbortIncompleteMultipartUpload?.DaysAfterInitiation, x.Expiration?.Days])).toEqual([
      ['expire-logs', undefined, 30],
      [ABORT_UPLOADS_RULE_ID, 1, undefined],
    ]);
  });

  it('another writer replacing the policy meanwhile: merged again until our statements stay', async () => {
    const other = JSON.stringify({ Statement: publicReadStatements('public-demo', { dataset: 'other-1', keys: ['other-1/a.parquet'] }) });
    Object.assign(state, { policy: undefined, requests: [], otherWriter: [other] });
    const r = await new Storage(fake.env).setupPublicBucket('public-demo', SCOPE);
    expect(r.publicRead).toBe('policy');
    expect(JSON.parse(state.policy!).Statement.map((x: { Sid: string }) => x.Sid)).toEqual(['cng:other-1:get', 'cng:demo-1:get', 'cng:demo-1:list', 'cng:locate']);
    expect(state.requests.filter((x) => x.endsWith('policy'))).toEqual(['GET policy', 'PUT policy', 'GET policy', 'GET policy', 'PUT policy', 'GET policy']);
  });

  it('without --public the policy is left as it is', async () => {
    Object.assign(state, { policy: earlier, requests: [] });
    expect(await new Storage(fake.env).setupPublicBucket('public-demo')).toEqual({ created: false, publicRead: 'none', cors: 'applied' });
    expect(state.policy).toBe(earlier);
    expect(state.requests).not.toContain('PUT policy');
  });

  it('the real CLI: one line per setting', async () => {
    Object.assign(state, { policy: earlier, lifecycle: undefined, requests: [], md5: [] });
    const r = await cngWorker(['setup-bucket', '--bucket', 'public-demo', '--dataset', 'demo-1', '--public', SCOPE.keys.join(',')], fake.env);
    expect(r.code).toBe(0);
    expect(settingLines(r.stderr)).toEqual([
      `cng-worker setup-bucket: bucket exists: s3://public-demo (endpoint ${fake.env.AWS_ENDPOINT_URL_S3})`,
      'cng-worker setup-bucket: public-read bucket policy merged: GetObject on 3 keys and 1 directory, ListBucket inside those directories (statements cng:demo-1:*; other statements kept)',
      'cng-worker setup-bucket: removed the whole-bucket public-read statement(s) of earlier versions: PublicList, PublicRead',
      'cng-worker setup-bucket: CORS applied (GET/HEAD from any origin; exposes ETag, Content-Length, Content-Type, Accept-Ranges, Content-Range)',
      'cng-worker setup-bucket: lifecycle rule applied: multipart uploads still incomplete after 1 day are aborted (other rules kept)',
    ]);
    expect(state.md5).toEqual([true]);
  });
});

/** The worker's lines about the bucket (without the closing resource report). */
function settingLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('cng-worker') && !/: peak RSS /.test(l));
}

function s3ClientOf(e: Record<string, string>) {
  return s3Client({ endpoint: e.AWS_ENDPOINT_URL_S3, accessKeyId: e.AWS_ACCESS_KEY_ID, secretAccessKey: e.AWS_SECRET_ACCESS_KEY });
}
