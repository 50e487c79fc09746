import { describe, it, expect, beforeAll, afterAll, inject } from 'vitest';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from '../worker/core/errors.ts';
import { gdalReason } from '../worker/io/gdal-log.ts';
import { checkDeclaredCount, convertLayer } from '../worker/vector/convert.ts';
import { tableStage } from '../worker/vector/table.ts';
import { useIndependentCounts } from '../cli/local/layer-counts.ts';
import { datasetStages, runStages, type RunStage } from '../cli/local/runner.ts';
import { synthesize } from '../constructs/index.ts';
import { Storage } from '../worker/io/storage.ts';
import { ROOT, s3TestBucket } from './helpers.ts';
import { makePadusLikeGdb } from './fixtures.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';

/**
 * Issue 16, items 1 and 9: a source read that fails never publishes an empty or partial layer.
 * Faults: a FileGDB whose layer table is cut, a declared count the read falls far below, and an
 * HTTP 503 from a proxy in front of the test S3 server.
 */

/** The `.gdbtable` of PADUS4_1Fee in makePadusLikeGdb's geodatabase (tables are numbered in creation order). */
const FEE_TABLE = 'a00000009.gdbtable';

const dir = mkdtempSync(join(tmpdir(), 'cng-read-faults-'));
let gdb: string;

beforeAll(async () => void (gdb = await makePadusLikeGdb(dir)));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `cng-worker convert`; resolves with its exit status and stderr. */
function worker(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/cng-worker.js'), 'convert', ...args], { env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => done({ status, stderr }));
  });
}

const lastLine = (s: string) => s.trim().split('\n').pop()!;

/** The fix every failed read ends with (UNREADABLE_FIX), as a regular expression. */
const FIX = String.raw`; the source is damaged or cut short, or a network read failed: check it \(ogrinfo -al -so\), copy it again from its origin if it is cut short, and re-run; nothing was written$`;

describe('a FileGDB layer whose table is cut', () => {
  for (const size of [30, 300]) {
    it(`(${size} bytes left) fails naming the layer and GDAL's reason, and publishes nothing`, async () => {
      const cut = join(dir, `cut-${size}.gdb`);
      cpSync(gdb, cut, { recursive: true });
      truncateSync(join(cut, FEE_TABLE), size);
      const out = join(dir, `cut-${size}`);
      const r = await worker(['--source', cut, '--layer', 'PADUS4_1Fee', '--out', `${out}/fee.parquet`, '--plan', `${out}/plan.json`,
        '--resolution', '9', '--units', '2', '--expected-features', '3']);
      expect(r.status).toBe(1);
      expect(lastLine(r.stderr)).toMatch(new RegExp(`^cng-worker convert: cannot read layer 'PADUS4_1Fee' of '${cut}': Error occurred in .*filegdbtable\\.cpp at line \\d+${FIX}`));
      expect(existsSync(`${out}/fee.parquet`)).toBe(false);
      expect(existsSync(`${out}/plan.json`)).toBe(false);
    });
  }
});

describe('a FileGDB table (non-spatial) whose .gdbtable is cut', () => {
  it('fails the table stage naming the table and GDAL\'s reason, and publishes nothing', async () => {
    const cut = join(dir, 'cut-table.gdb');
    cpSync(gdb, cut, { recursive: true });
    truncateSync(join(cut, 'a0000000b.gdbtable'), 30); // Public_Access
    const out = join(dir, 'cut-table', 'Public_Access.parquet');
    await expect(tableStage({ source: cut, layer: 'Public_Access', out })).rejects.toThrow(
      new RegExp(`^cannot read table 'Public_Access' of '${cut}': Error occurred in .*filegdbtable\\.cpp at line \\d+${FIX}`));
    expect(existsSync(out)).toBe(false);
  });
});

describe('the declared feature count', () => {
  it('fails a layer read far below it (naming the layer, the count read and the expected one) and publishes nothing', async () => {
    const out = join(dir, 'declared');
    const run = (expectedFeatures: number) => convertLayer({
      source: gdb, layer: 'PADUS4_1Marine', resolution: 9, units: 1, expectedFeatures,
      upload: { out: `${out}/${expectedFeatures}.parquet`, plan: `${out}/${expectedFeatures}.json` },
    });
    await expect(run(10)).rejects.toThrow(new CommandError(
      `layer 'PADUS4_1Marine' of '${gdb}': read 2 features, expected 10 (declared features; less than 50% is a failed read); nothing was written`,
    ));
    expect(existsSync(`${out}/10.parquet`) || existsSync(`${out}/10.json`)).toBe(false);
    expect((await run(4)).rows).toBe(2); // declared sizes are estimates: half is still a read
  });

  it('is checked only when declared: 0 read of 0 declared, or of none, passes; 0 of 1 fails', () => {
    expect(() => checkDeclaredCount(0, undefined, 'x')).not.toThrow();
    expect(() => checkDeclaredCount(0, 0, 'x')).not.toThrow();
    expect(() => checkDeclaredCount(0, 1, "layer 'x'")).toThrow(/^layer 'x': read 0 features, expected 1 /);
  });
});

describe('the local runner (cng run)', () => {
  it("replaces each convert Job's declared --expected-features by GDAL's own count of the layer", async () => {
    const command = ['cng-worker', 'convert', '--source', gdb, '--layer', 'PADUS4_1Fee', '--expected-features', '296456'];
    const missing = ['cng-worker', 'convert', '--source', join(dir, 'missing.gdb'), '--layer', 'x', '--expected-features', '7'];
    const job = (c: string[]) => ({ spec: { template: { spec: { containers: [{ command: c }] } } } });
    await useIndependentCounts([{ jobs: [job(command), job(missing)] } as unknown as RunStage], { CNG_STORAGE_DIR: dir });
    expect(command.at(-1)).toBe('3');
    expect(missing.at(-1)).toBe('7'); // unreadable here: convert reports it
  });
});

describe("GDAL's real reason", () => {
  it("replaces 'Cannot open …: Success' (errno 0) by an earlier error, or says what it means", () => {
    const success = 'Cannot open /vsis3/b/x.gdb/a00000004.gdbtable: Success';
    expect(gdalReason([success, 'HTTP response code: 503'], success)).toBe('HTTP response code: 503');
    expect(gdalReason([success], success)).toBe('Cannot open /vsis3/b/x.gdb/a00000004.gdbtable: the read failed without a system error (a network error or a truncated file)');
    expect(gdalReason([], 'thrown')).toBe('thrown');
  });
});

/**
 * A loopback proxy in front of the test S3 server that answers 503 to the first GET (`every`: to
 * every GET) of each object whose key ends with `suffix` (GDAL's read of the table header).
 */
function faultyProxy(target: string, suffix: string, every = false): Promise<FaultProxy> {
  const failed = new Set<string>();
  return startFaultProxy(target, {
    rule: ({ method, path }) => (method === 'GET' && path.endsWith(suffix) && (every || !failed.has(path)) && failed.add(path) ? '503' : undefined),
  });
}

describe('an HTTP 503 on the read of the table header (a proxy in front of the test S3 server)', () => {
  it('is retried (GDAL_HTTP_MAX_RETRY): convert succeeds with every feature; without retries it fails and publishes nothing', async () => {
    const s3 = inject('s3');
    const { bucket, env, storage } = await s3TestBucket(s3, 'test-read-faults');
    for (const f of readdirSync(gdb)) await storage.upload(join(gdb, f), `s3://${bucket}/raw/padus_like.gdb/${f}`);
    const proxy = await faultyProxy(s3.endpoint, FEE_TABLE);
    try {
      const run = (name: string, extra: NodeJS.ProcessEnv) => worker([
        '--source', `s3://${bucket}/raw/padus_like.gdb`, '--layer', 'PADUS4_1Fee', '--out', `s3://${bucket}/p/${name}.parquet`,
        '--plan', `s3://${bucket}/p/${name}.json`, '--resolution', '9', '--units', '2', '--expected-features', '3',
      ], { ...env, AWS_ENDPOINT_URL_S3: proxy.endpoint, ...extra });
      const retried = await run('retried', {});
      expect(retried.status, retried.stderr).toBe(0);
      expect(proxy.faults['503']).toBe(1);
      expect(retried.stderr).toMatch(/wrote s3:\/\/.*retried\.parquet \(3 rows\)/);

      // A second fault (a new proxy) with retries turned off: a failed read, never an empty layer.
      const noRetry = await faultyProxy(s3.endpoint, FEE_TABLE);
      try {
        const failed = await worker([
          '--source', `s3://${bucket}/raw/padus_like.gdb`, '--layer', 'PADUS4_1Fee', '--out', `s3://${bucket}/p/failed.parquet`,
          '--plan', `s3://${bucket}/p/failed.json`, '--resolution', '9', '--units', '2', '--expected-features', '3',
        ], { ...env, AWS_ENDPOINT_URL_S3: noRetry.endpoint, GDAL_HTTP_MAX_RETRY: '0' });
        expect(failed.status).toBe(1);
        // Exactly the fault of issue 16: before, GDAL reported 0 features and convert published them.
        expect(lastLine(failed.stderr)).toMatch(new RegExp(String.raw`^cng-worker convert: cannot read layer 'PADUS4_1Fee' of 's3://.*/raw/padus_like\.gdb': Error occurred in .*filegdbtable\.cpp at line \d+${FIX}`));
        expect(await storage.exists(`s3://${bucket}/p/failed.parquet`)).toBe(false);
        expect(await storage.exists(`s3://${bucket}/p/failed.json`)).toBe(false);
      } finally {
        await noRetry.close();
      }
    } finally {
      await proxy.close();
    }
  });
});

/** sha256 of every object under a prefix except the work files, by key. */
async function published(storage: Storage, prefix: string, dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of await storage.list(prefix)) {
    if (o.key.includes('/_work/')) continue;
    const local = join(dir, 'objects', o.key);
    await storage.download(o.url, local);
    out[o.key] = createHash('sha256').update(readFileSync(local)).digest('hex');
  }
  return out;
}

describe('issue 16 item 2: a --force re-run whose source read fails (through the fault proxy) leaves the published layer as it was', () => {
  it('publishes a good layer; the re-run exits non-zero naming the layer, and every published object is byte-identical', async () => {
    const s3 = inject('s3');
    const { bucket, env, storage } = await s3TestBucket(s3, 'test-rerun-fault');
    for (const f of readdirSync(gdb)) await storage.upload(join(gdb, f), `s3://${bucket}/raw/padus_like.gdb/${f}`);
    const spec = {
      name: 'rerun-fault', title: 'Re-run fault', run: 1, source: `s3://${bucket}/raw/padus_like.gdb`, bucket, prefix: 'fx',
      layers: { fee: { layer: 'PADUS4_1Fee', features: 3 } },
    };
    const stages = datasetStages(synthesize([spec]).manifests, 'rerun-fault');
    const work = mkdtempSync(join(dir, 'rerun-'));
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const proxy = await faultyProxy(s3.endpoint, FEE_TABLE, true);
    try {
      const good = await runStages({ dataset: spec.name, stages, s3Endpoint: s3.endpoint, stateDir: join(work, 'state'), jobs: 2 });
      expect(good.map((r) => `${r.stage.id} ${r.status}`)).toEqual(stages.map((s) => `${s.id} done`));
      const before = await published(storage, `s3://${bucket}/fx/`, join(work, 'before'));
      expect(Object.keys(before).sort()).toEqual(expect.arrayContaining(['fx/fee.parquet', 'fx/fee.pmtiles', 'fx/fee/manifest.json']));
      expect(Object.keys(before).some((k) => /^fx\/fee\/hex\/h0=\d+\/data_0\.parquet$/.test(k))).toBe(true);

      process.env.GDAL_HTTP_MAX_RETRY = '0';
      const again = await runStages({ dataset: spec.name, stages, s3Endpoint: proxy.endpoint, stateDir: join(work, 'state'), jobs: 2, force: true });
      const convert = again.find((r) => r.stage.id === 'fee-convert')!;
      expect(convert.status).toBe('failed');
      expect(again.filter((r) => r.stage.layer === 'fee' && r.stage.id !== 'fee-convert').map((r) => r.status)).toEqual(['blocked', 'blocked', 'blocked', 'blocked']);
      expect(proxy.faults['503']).toBeGreaterThan(0);
      const logs = join(work, 'state', 'logs');
      const log = readFileSync(join(logs, readdirSync(logs).find((f) => /-fee-convert-r1-[0-9a-f]{8}-0\.log$/.test(f))!), 'utf8');
      expect(lastLine(log)).toMatch(/^cng-worker convert: cannot read layer 'PADUS4_1Fee' of 's3:\/\/.*\/raw\/padus_like\.gdb': .*; nothing was written$/);
      expect(await published(storage, `s3://${bucket}/fx/`, join(work, 'after'))).toEqual(before);
    } finally {
      await proxy.close();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }, 600_000);
});
