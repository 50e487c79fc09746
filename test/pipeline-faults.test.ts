/**
 * S3 faults during a whole pipeline run (issue 14, B3): the local runner runs a small dataset's
 * stages (real worker processes: convert, hex, repartition, pmtiles, table) against the test S3
 * server twice — once directly, once through the fault proxy (test/fault-proxy.ts: 500s, 503s,
 * connection resets and slow answers on a seeded share of requests, bounded). The faulty run must
 * finish with outputs identical in content to the clean run's, and leave no partial or stale
 * temporary object (nor any incomplete multipart upload) in its bucket.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { datasetStages, runStages } from '../cli/local/runner.ts';
import { synthesize, type DatasetSpec } from '../constructs/index.ts';
import { Storage } from '../worker/io/storage.ts';
import { makePadusLikeGdb } from './fixtures.ts';
import { startFaultProxy } from './fault-proxy.ts';
import { parquetRows, s3Client, s3Env } from './helpers.ts';

const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** The fixture dataset in `bucket`: two layers (one of 3 hex work units) and a table. */
const spec = (bucket: string): DatasetSpec => ({
  name: 'faults', title: 'S3 faults', run: 1, source: `s3://${bucket}/raw/fixture.gdb`, bucket, prefix: 'faults-1', maxPods: 40,
  layers: {
    fee: { layer: 'PADUS4_1Fee', features: 3, hex: { featuresPerUnit: 1 }, pmtiles: { maxZoom: 8 } },
    marine: { layer: 'PADUS4_1Marine', features: 2, pmtiles: { maxZoom: 8 } },
  },
  tables: ['Public_Access'],
});

let dir: string;
let gdb: string;
const s3 = inject('s3');
const storage = new Storage(s3Env(s3));
const saved = { ...process.env };

beforeAll(async () => {
  Object.assign(process.env, s3Env(s3)); // the worker processes' credentials (the runner passes its env on)
  dir = mkdtempSync(join(tmpdir(), 'cng-pipeline-faults-'));
  gdb = await makePadusLikeGdb(dir);
});

afterAll(() => {
  for (const k of Object.keys(s3Env(s3))) if (saved[k] === undefined) delete process.env[k];
  rmSync(dir, { recursive: true, force: true });
});

/** Uploads the source into `bucket` and runs every stage of the dataset with the runner, against `endpoint`. */
async function runPipeline(bucket: string, endpoint: string) {
  await storage.setupPublicBucket(bucket);
  for (const f of readdirSync(gdb)) await storage.upload(join(gdb, f), `s3://${bucket}/raw/fixture.gdb/${f}`);
  const out = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
  let log = '';
  (out as unknown as PassThrough).on('data', (d) => (log += d));
  const stages = datasetStages(synthesize([spec(bucket)]).manifests, 'faults');
  const results = await runStages({ dataset: 'faults', stages, s3Endpoint: endpoint, stateDir: join(dir, bucket), jobs: 2, out });
  return { results, log, logs: join(dir, bucket, 'logs') };
}

/** Every object of a bucket, downloaded under `to`; their keys. */
async function download(bucket: string, to: string): Promise<string[]> {
  const keys: string[] = [];
  for (const o of await storage.list(`s3://${bucket}/`)) {
    keys.push(o.key);
    await storage.download(o.url, join(to, o.key));
  }
  return keys;
}

describe('the pipeline through a fault-injecting proxy in front of S3', () => {
  it('finishes with outputs identical in content to a clean run, and leaves no partial or stale object', async () => {
    const clean = `public-faults-clean-${run}`;
    const faulty = `public-faults-proxy-${run}`;
    const a = await runPipeline(clean, s3.endpoint);
    expect(a.results.filter((r) => r.status !== 'done').map((r) => r.stage.id), a.log).toEqual([]);

    const proxy = await startFaultProxy(s3.endpoint, { seed: 14, rate: 0.08, maxFaults: 30, maxPerRequest: 1, slowMs: 200 });
    let b;
    try {
      b = await runPipeline(faulty, proxy.endpoint);
    } finally {
      await proxy.close();
    }
    const failed = b.results.filter((r) => r.status !== 'done').map((r) => r.stage.id);
    expect(failed, `${b.log}\n${failed.length ? readdirSync(b.logs).map((f) => readFileSync(join(b.logs, f), 'utf8')).join('\n') : ''}`).toEqual([]);
    // Faults of every kind reached the stages (the seed makes this run's draw repeatable).
    for (const kind of ['500', '503', 'reset', 'slow'] as const) expect(proxy.faults[kind], kind).toBeGreaterThan(0);

    const ca = join(dir, 'dl-clean');
    const fa = join(dir, 'dl-faulty');
    const cleanKeys = await download(clean, ca);
    const faultyKeys = await download(faulty, fa);
    // The same objects, no more: no chunk, temporary or partial object left behind.
    expect(faultyKeys).toEqual(cleanKeys);
    expect(faultyKeys.filter((k) => /chunk-|\.tmp|\.partial/.test(k))).toEqual([]);
    expect((await s3Client(s3).send(new ListMultipartUploadsCommand({ Bucket: faulty }))).Uploads ?? []).toEqual([]);

    // The same content: GeoParquet, PMTiles, tables and plans byte for byte; hex partitions row for
    // row (their bytes are not deterministic); manifests but for those bytes.
    for (const key of cleanKeys) {
      if (key.startsWith('raw/')) continue;
      const [x, y] = [join(ca, key), join(fa, key)];
      if (/\/hex\/h0=/.test(key)) expect(await parquetRows(y), key).toEqual(await parquetRows(x));
      else if (key.endsWith('manifest.json')) expect({ ...JSON.parse(readFileSync(y, 'utf8')), bytes: 0 }, key).toEqual({ ...JSON.parse(readFileSync(x, 'utf8')), bytes: 0 });
      else expect(readFileSync(y).equals(readFileSync(x)), key).toBe(true);
    }
    expect(cleanKeys.map((k) => relative('faults-1', k)).filter((k) => !k.startsWith('..')).sort()).toEqual(expect.arrayContaining(['fee.parquet', 'fee.pmtiles', 'fee/manifest.json', 'marine.parquet', 'lookup/Public_Access.parquet']));
  }, 900_000);
});
