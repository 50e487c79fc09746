/**
 * The sync stage (worker/publish/sync.ts) against the real S3 server: the "two systems" are two buckets
 * on the same server, reached through the stage's separate AWS_* and MIRROR_* settings.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { DirStore, S3Store } from '../worker/io/storage.ts';
import { excludedKey, syncObjects } from '../worker/publish/sync.ts';
import { ROOT } from './helpers.ts';

const s3 = inject('s3');
const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
const SRC = `test-sync-src-${suffix}`;
const MIRROR = `test-sync-mirror-${suffix}`;
const store = () => new S3Store({ endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
const src = store();
const dst = store();
const quiet = () => {};
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const MiB = 1024 * 1024;

async function body(bucket: string, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await dst.get(bucket, key)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Runs `cng-worker sync …` as a Job container would, with separate source and mirror settings. */
function worker(args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/cng-worker.js'), 'sync', ...args], {
    env: {
      PATH: process.env.PATH,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      MIRROR_ENDPOINT_URL_S3: s3.endpoint,
      MIRROR_AWS_ACCESS_KEY_ID: s3.accessKeyId,
      MIRROR_AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stderr: r.stderr };
}

const big = randomBytes(17 * MiB); // two 16 MiB parts: a multipart ETag
const files: Record<string, Buffer> = {
  'ds-1/fee.parquet': Buffer.from('PAR1 fee v1 PAR1'),
  'ds-1/fee.pmtiles': Buffer.from('pmtiles v1'),
  'ds-1/fee/hex/h0=577199624117288959/data_0.parquet': Buffer.from('hex partition a'),
  'ds-1/fee/hex/h0=577234808489377791/data_0.parquet': Buffer.from('hex partition b'),
  'ds-1/fee/manifest.json': Buffer.from('{"cells": 2}'),
  'ds-1/fee/_work/hex-plan.json': Buffer.from('{"units": 1}'),
  'ds-1/fee/_work/chunks/chunk-000000.parquet': Buffer.from('chunk'),
  'ds-1/big.parquet': big,
  'raw/source.gdb/a0000001.gdbtable': Buffer.from('raw input'),
  'README.md': Buffer.from('# Demo\n'),
  'stac-collection.json': Buffer.from('{"type":"Collection"}'),
};

beforeAll(async () => {
  await src.ensureBucket(SRC);
  for (const [k, b] of Object.entries(files)) await src.put(SRC, k, b);
  expect((await src.head(SRC, 'ds-1/big.parquet'))!.etag).toMatch(/^[0-9a-f]{32}-2$/);
}, 120_000);

const from = `s3://${SRC}/ds-1`;
const to = `s3://${MIRROR}/mirror/ds-1`;
const extra = [`s3://${SRC}/README.md`, `s3://${SRC}/stac-collection.json`];

describe('sync stage', () => {
  it('never mirrors raw/ or _work/', () => {
    expect(excludedKey('raw/x.gdb/a')).toBe(true);
    expect(excludedKey('padus-4-1/fee/_work/hex-plan.json')).toBe(true);
    expect(excludedKey('_work/x')).toBe(true);
    expect(excludedKey('padus-4-1/fee/hex/h0=1/data_0.parquet')).toBe(false);
    expect(excludedKey('padus-4-1/raw.parquet')).toBe(false);
  });

  it('first run (the cng-worker command): copies every product and the docs, creating the mirror bucket; multipart for large objects', async () => {
    const r = worker(['--from', from, '--to', to, '--extra', extra.join(',')]);
    expect(r.stderr).toMatch(/created bucket test-sync-mirror/);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/copied 8 object\(s\) .* 0 unchanged, 0 stale on the mirror \(kept\), 2 excluded \(raw\/, _work\/\)/);
    expect(r.stderr).toContain(`copy  s3://${SRC}/ds-1/big.parquet → s3://${MIRROR}/mirror/ds-1/big.parquet (17.0 MiB, new)`);
    const keys = (await dst.list(MIRROR, 'mirror/')).map((o) => o.key);
    expect(keys).toEqual([
      'mirror/ds-1/README.md',
      'mirror/ds-1/big.parquet',
      'mirror/ds-1/fee.parquet',
      'mirror/ds-1/fee.pmtiles',
      'mirror/ds-1/fee/hex/h0=577199624117288959/data_0.parquet',
      'mirror/ds-1/fee/hex/h0=577234808489377791/data_0.parquet',
      'mirror/ds-1/fee/manifest.json',
      'mirror/ds-1/stac-collection.json',
    ]);
    expect(md5(await body(MIRROR, 'mirror/ds-1/big.parquet'))).toBe(md5(big));
    const head = (await dst.head(MIRROR, 'mirror/ds-1/big.parquet'))!;
    expect(head.etag).toMatch(/-\d+$/); // multipart on the mirror too
    expect(head.metadata!['cng-source-etag']).toBe((await src.head(SRC, 'ds-1/big.parquet'))!.etag);
    expect((await dst.head(MIRROR, 'mirror/ds-1/fee.parquet'))!.metadata!['cng-md5']).toBe(md5(files['ds-1/fee.parquet']));
  }, 120_000);

  it('a re-run copies nothing (multipart objects recognized by the stored source ETag)', async () => {
    const lines: string[] = [];
    const r = await syncObjects({ from, to, extra, source: src, dest: dst, log: (l) => lines.push(l) });
    expect(r.copied).toEqual([]);
    expect(r.skipped).toHaveLength(8);
    expect(lines).toContain(`skip  s3://${MIRROR}/mirror/ds-1/big.parquet (unchanged)`);
  });

  it('re-copies a changed object (same size, other content) and one whose size changed', async () => {
    await src.put(SRC, 'ds-1/fee.parquet', Buffer.from('PAR1 fee v2 PAR1'));
    await src.put(SRC, 'ds-1/fee.pmtiles', Buffer.from('pmtiles v2, longer'));
    const r = await syncObjects({ from, to, extra, source: src, dest: dst, log: quiet });
    expect(r.copied).toEqual([
      { key: 'mirror/ds-1/fee.parquet', size: 16, reason: 'content changed' },
      { key: 'mirror/ds-1/fee.pmtiles', size: 18, reason: 'size 10 → 18' },
    ]);
    expect((await body(MIRROR, 'mirror/ds-1/fee.parquet')).toString()).toBe('PAR1 fee v2 PAR1');
  });

  it('a mirror object of the same size but unknown provenance is re-copied', async () => {
    // Written on the mirror by someone else: same size as the source, no cng metadata, multipart source.
    await dst.put(MIRROR, 'mirror/ds-1/big.parquet', randomBytes(17 * MiB));
    const r = await syncObjects({ from, to, extra, source: src, dest: dst, log: quiet });
    expect(r.copied.map((c) => [c.key, c.reason])).toEqual([['mirror/ds-1/big.parquet', 'content changed']]);
    expect(md5(await body(MIRROR, 'mirror/ds-1/big.parquet'))).toBe(md5(big));
  }, 120_000);

  it('a deleted source object stays on the mirror (reported), and --delete removes it', async () => {
    await src.delete(SRC, ['ds-1/fee/hex/h0=577234808489377791/data_0.parquet']);
    const lines: string[] = [];
    const kept = await syncObjects({ from, to, extra, source: src, dest: dst, log: (l) => lines.push(l) });
    expect(kept.stale).toEqual(['mirror/ds-1/fee/hex/h0=577234808489377791/data_0.parquet']);
    expect(kept.deleted).toEqual([]);
    expect(lines.join('\n')).toMatch(/stale s3:\/\/.*h0=577234808489377791\/data_0\.parquet \(not at the source; kept, --delete removes it\)/);
    expect(lines.join('\n')).toMatch(/stale hex partitions on the mirror are read by hex\/\*\* globs/);
    expect(await dst.head(MIRROR, 'mirror/ds-1/fee/hex/h0=577234808489377791/data_0.parquet')).not.toBeNull();

    const r = worker(['--from', from, '--to', to, '--extra', extra.join(','), '--delete']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/copied 0 object\(s\) \(0 B\), 7 unchanged, 1 stale on the mirror \(1 deleted\)/);
    expect(await dst.head(MIRROR, 'mirror/ds-1/fee/hex/h0=577234808489377791/data_0.parquet')).toBeNull();
  }, 120_000);

  it('a whole bucket (CPAD layout, prefix ""): raw/ and _work/ stay behind; --dry-run writes nothing', async () => {
    const whole = `s3://${MIRROR}/whole`;
    const dry = await syncObjects({ from: `s3://${SRC}`, to: whole, source: src, dest: dst, dryRun: true, log: quiet });
    expect(dry.copied.length).toBeGreaterThan(0);
    expect(await dst.list(MIRROR, 'whole/')).toEqual([]);
    const r = await syncObjects({ from: `s3://${SRC}`, to: whole, source: src, dest: dst, log: quiet });
    expect(r.excluded.sort()).toEqual(['ds-1/fee/_work/chunks/chunk-000000.parquet', 'ds-1/fee/_work/hex-plan.json', 'raw/source.gdb/a0000001.gdbtable']);
    const keys = (await dst.list(MIRROR, 'whole/')).map((o) => o.key);
    expect(keys).toContain('whole/README.md');
    expect(keys).toContain('whole/ds-1/fee.parquet');
    expect(keys.some((k) => k.includes('raw/') || k.includes('_work/'))).toBe(false);
  }, 120_000);

  it('works between directory stores (the local runner) and compares by content MD5', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cng-sync-dir-'));
    const dir = new DirStore(root);
    await dir.put('public-demo', 'demo-1/a.parquet', Buffer.from('a'));
    await dir.put('public-demo', 'demo-1/a/_work/x', Buffer.from('x'));
    await dir.put('public-demo', 'README.md', Buffer.from('# r'));
    const opts = { from: 's3://public-demo/demo-1', to: 's3://cboettig/demo', extra: ['s3://public-demo/README.md'], source: dir, dest: dir, log: quiet };
    expect((await syncObjects(opts)).copied.map((c) => c.key)).toEqual(['demo/README.md', 'demo/a.parquet']);
    expect((await syncObjects(opts)).copied).toEqual([]);
    await dir.put('public-demo', 'demo-1/a.parquet', Buffer.from('b'));
    expect((await syncObjects(opts)).copied).toEqual([{ key: 'demo/a.parquet', size: 1, reason: 'content changed' }]);
  });

  it('fails clearly on an empty source and on overlapping prefixes', async () => {
    await expect(syncObjects({ from: `s3://${SRC}/nothing-here`, to, source: src, dest: dst, log: quiet })).rejects.toThrow(/nothing to mirror under/);
    await expect(syncObjects({ from: `s3://${SRC}/ds-1`, to: `s3://${SRC}/ds-1/copy`, source: src, dest: src, log: quiet })).rejects.toThrow(/overlap/);
    const r = worker(['--from', from]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--to is required/);
  });
});
