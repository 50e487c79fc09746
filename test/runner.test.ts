/**
 * The local runner (`cng run`) and `cng local` on a two-layer FileGDB fixture, with the real worker:
 * DAG order equals Flux's dependsOn, outputs equal a by-hand run of the same Job commands, a failing
 * stage blocks its dependents with a clear message, re-runs resume, and the Swift S3 target gives
 * the same products as the directory store.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseManifests, readDist } from '../constructs/index.ts';
import { datasetStages, Slots } from '../cli/local/runner.ts';
import { readPmtilesInfo } from '../cli/preview/products.ts';
import { Storage } from '../worker/io/storage.ts';
import gdal from 'gdal-async';
import { makePadusLikeGdb, makeVectorDataset } from './fixtures.ts';
import { writeRaster } from './raster-fixtures.ts';
import { cng, parquetRows, repoCopy } from './helpers.ts';

const FIXTURE_SPEC = `import type { DatasetSpec } from '../constructs/index.ts';
export const fixture: DatasetSpec = {
  name: 'fixture',
  title: 'Runner fixture',
  run: 1,
  source: 's3://public-fixture/raw/fixture.gdb',
  bucket: 'public-fixture',
  prefix: 'fixture-1',
  maxPods: 40,
  layers: {
    fee: { layer: 'PADUS4_1Fee', features: 3, hex: { featuresPerUnit: 1 } },
    marine: { layer: 'PADUS4_1Marine', features: 2 },
  },
  tables: ['Public_Access'],
};
`;

let repo: string;
let gdb: string;

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return cng(['run', 'fixture', ...args], { cwd: repo, env, timeout: 300_000 });
}

beforeAll(async () => {
  repo = repoCopy();
  writeFileSync(join(repo, 'datasets/fixture.ts'), FIXTURE_SPEC);
  writeFileSync(join(repo, 'datasets/index.ts'), "import { fixture } from './fixture.ts';\nexport const datasets = [fixture];\n");
  expect(cng(['synth'], { cwd: repo }).code).toBe(0);
  gdb = await makePadusLikeGdb(mkdtempSync(join(tmpdir(), 'cng-runner-src-')));
});

afterAll(() => rmSync(repo, { recursive: true, force: true }));

describe('cng run (directory store)', () => {
  let data: string;
  let first: ReturnType<typeof run>;
  beforeAll(() => {
    data = mkdtempSync(join(tmpdir(), 'cng-runner-data-'));
    cpSync(gdb, join(data, 'store/public-fixture/raw/fixture.gdb'), { recursive: true });
    first = run(['--data-dir', data, '--jobs', '2']);
  }, 320_000);

  it('runs every stage and writes the documented products', () => {
    expect(first.stderr).not.toMatch(/failed/);
    expect(first.code).toBe(0);
    const root = join(data, 'store/public-fixture/fixture-1');
    for (const f of ['fee.parquet', 'fee.pmtiles', 'fee/manifest.json', 'marine.parquet', 'marine.pmtiles', 'marine/manifest.json', 'lookup/Public_Access.parquet'])
      expect(existsSync(join(root, f)), f).toBe(true);
    expect(readdirSync(join(root, 'fee/hex')).every((d) => /^h0=\d+$/.test(d))).toBe(true);
    const m = JSON.parse(readFileSync(join(root, 'fee/manifest.json'), 'utf8'));
    expect(m).toMatchObject({ features: 3, features_hexed: 3, resolution: 10 });
    expect(first.stdout).toMatch(/fee\s+3\s+\d+/); // the per-layer summary table
    expect(first.stdout).toContain('Public_Access');
  });

  it('starts each stage only after the stages its Flux Kustomization dependsOn', () => {
    const stages = datasetStages(parseManifests(readDist(join(repo, 'dist'))), 'fixture');
    const doneAt = new Map<string, number>();
    const startAt = new Map<string, number>();
    first.stderr.split('\n').forEach((line, i) => {
      const m = /^([a-z0-9-]+): (done in|0\/\d+)/.exec(line);
      if (!m) return;
      if (m[2] === 'done in') doneAt.set(m[1], i);
      else if (!startAt.has(m[1])) startAt.set(m[1], i);
    });
    for (const s of stages)
      for (const dep of s.dependsOn) {
        const d = stages.find((x) => x.kustomization === dep)!;
        expect(doneAt.get(d.id), `${d.id} done`).toBeDefined();
        expect(doneAt.get(d.id)!, `${d.id} before ${s.id}`).toBeLessThan(startAt.get(s.id) ?? doneAt.get(s.id)!);
      }
    // fee has 3 hex work units (featuresPerUnit 1): all ran.
    expect(first.stderr).toMatch(/fee-hex: 3\/3 indices done/);
  });

  it("runs an Indexed Job's indices in reused worker processes, one log per index", () => {
    // fee's hex Job has 3 indices (featuresPerUnit 1); --jobs 2 → 2 processes, not 3.
    expect(first.stderr).toMatch(/^fee-hex: done in [\d.]+s \(3 indices in 2 worker processes\)$/m);
    const logs = join(data, 'runs/fixture/logs');
    for (const i of [0, 1, 2]) {
      const name = readdirSync(logs).find((f) => /-fee-hex-r1-[0-9a-f]{8}-\d+\.log$/.test(f) && f.endsWith(`-${i}.log`))!;
      const text = readFileSync(join(logs, name), 'utf8');
      expect(text).toMatch(new RegExp(`unit ${i}/3`));
      expect(text).not.toMatch(new RegExp(`unit ${(i + 1) % 3}/3|\x1e|CNG-DONE`));
      expect(text).toMatch(/peak RSS \d+ MiB\n$/);
    }
  });

  it('produces what running the Jobs\' commands by hand produces', async () => {
    const byHand = mkdtempSync(join(tmpdir(), 'cng-runner-hand-'));
    cpSync(gdb, join(byHand, 'public-fixture/raw/fixture.gdb'), { recursive: true });
    const stages = datasetStages(parseManifests(readDist(join(repo, 'dist'))), 'fixture');
    for (const s of stages)
      for (const job of s.jobs)
        for (let i = 0; i < job.spec.completions; i++) {
          const [, ...args] = job.spec.template.spec.containers[0].command;
          const env: NodeJS.ProcessEnv = { ...process.env, CNG_STORAGE_DIR: byHand, JOB_COMPLETION_INDEX: String(i), CNG_INDEX_OFFSET: '0', TMPDIR: tmpdir() };
          delete env.AWS_ENDPOINT_URL_S3;
          const r = spawnSync(process.execPath, [join(repo, 'bin/cng-worker.js'), ...args], { env, encoding: 'utf8' });
          expect(r.status, `${s.id} ${i}: ${r.stderr}`).toBe(0);
        }
    const a = join(data, 'store/public-fixture/fixture-1');
    const b = join(byHand, 'public-fixture/fixture-1');
    for (const g of ['fee.parquet', 'marine.parquet', 'lookup/Public_Access.parquet', 'fee/hex/*/*.parquet', 'marine/hex/*/*.parquet'])
      expect(await parquetRows(join(a, g)), g).toEqual(await parquetRows(join(b, g)));
    const strip = (p: string) => ({ ...JSON.parse(readFileSync(p, 'utf8')), bytes: 0 });
    expect(strip(join(a, 'fee/manifest.json'))).toEqual(strip(join(b, 'fee/manifest.json')));
  }, 900_000);

  it("resumes: a second run skips everything; a deleted product re-runs only its layer's stages, rewriting the same bytes", () => {
    const again = run(['--data-dir', data]);
    expect(again.code).toBe(0);
    expect(again.stderr.match(/complete, skipped/g)?.length).toBe(datasetStages(parseManifests(readDist(join(repo, 'dist'))), 'fixture').length);
    const root = join(data, 'store/public-fixture/fixture-1');
    const manifest = readFileSync(join(root, 'marine/manifest.json'));
    unlinkSync(join(root, 'marine.pmtiles'));
    // The layer's work files went with its publication: its stages run again, the other layer's do not.
    const third = run(['--data-dir', data]);
    expect(third.code).toBe(0);
    expect(third.stderr).toMatch(/marine-tiles-merge: done in/);
    expect(third.stderr).toMatch(/marine-publish: done in/);
    expect(third.stderr).toMatch(/fee-convert: complete, skipped/);
    expect(existsSync(join(root, 'marine.pmtiles'))).toBe(true);
    // Deterministic: the manifest (sha256 of every published file) is byte-identical.
    expect(readFileSync(join(root, 'marine/manifest.json')).equals(manifest)).toBe(true);
    expect(existsSync(join(root, 'marine/_work'))).toBe(false);
  }, 320_000);

  it("removes a killed run's scratch at the start of the next run (one line), never a running one's", () => {
    const scratch = join(data, 'runs/fixture/scratch');
    const plant = (owner: number) => {
      mkdirSync(join(scratch, 'fixture-1-fee-hex-0/duckdb'), { recursive: true });
      for (const f of ['a.tmp', 'b.tmp', 'duckdb/c.wal']) writeFileSync(join(scratch, 'fixture-1-fee-hex-0', f), 'x'.repeat(100));
      writeFileSync(join(scratch, 'owner.pid'), `${owner}\n`);
    };
    const dead = spawnSync('true').pid!;
    plant(dead);
    const next = run(['--data-dir', data]);
    expect(next.code).toBe(0);
    expect(next.stderr).toContain(`cng run: removed 3 scratch files (300 B) left by an earlier run in ${scratch}\n`);
    expect(readdirSync(scratch).some((f) => f.startsWith('fixture-1-fee-hex-0'))).toBe(false);
    expect(existsSync(join(scratch, 'owner.pid'))).toBe(false);
    plant(process.pid); // a run still going: this test process, alive and not the new run
    const beside = run(['--data-dir', data]);
    expect(beside.code).toBe(0);
    expect(beside.stderr).toContain(`cng run: scratch in ${scratch} belongs to a run still going (pid ${process.pid}); not removing it\n`);
    expect(readdirSync(join(scratch, 'fixture-1-fee-hex-0')).sort()).toEqual(['a.tmp', 'b.tmp', 'duckdb']);
    rmSync(scratch, { recursive: true, force: true });
  }, 300_000);

  it('--layers runs one layer and what it needs; an unknown layer is a clear error', () => {
    const only = run(['--data-dir', data, '--layers', 'marine', '--force']);
    expect(only.code).toBe(0);
    expect(only.stderr).toMatch(/marine-convert: done/);
    expect(only.stderr).not.toMatch(/fee-/);
    const bad = run(['--data-dir', data, '--layers', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown layer\(s\) nope; layers: fee, marine; tables: Public_Access/);
  }, 300_000);
});

describe('cng run failures', () => {
  it('a failing stage stops its dependents, prints the log tail and exits 1', () => {
    const data = mkdtempSync(join(tmpdir(), 'cng-runner-fail-'));
    mkdirSync(join(data, 'store/public-fixture/raw'), { recursive: true });
    writeFileSync(join(data, 'store/public-fixture/raw/fixture.gdb'), 'not a geodatabase');
    const r = run(['--data-dir', data, '--layers', 'marine']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stage marine-convert failed at work unit 0 \(Job fixture-marine-convert-r1-[0-9a-f]{8}\)/);
    expect(r.stderr).toMatch(/\| .*fixture\.gdb/); // the worker's one-line error, from the log tail
    expect(r.stderr).toMatch(/Not started because of it: .*marine-hex/);
    expect(r.stdout).toMatch(/blocked/);
  }, 60_000);

  it('two layers failing at once: both show as failed in the stage lines, the report, the table and the exit status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cng-runner-2fail-'));
    const row = { wkt: 'POLYGON((0 0,1 0,1 1,0 1,0 0))', n: 1 };
    const src = await makeVectorDataset(join(dir, 'nocrs'), 'ESRI Shapefile', [
      { name: 'first', srs: null, geometryType: gdal.wkbPolygon, fields: [['n', gdal.OFTInteger]], rows: [row] },
      { name: 'second', srs: null, geometryType: gdal.wkbPolygon, fields: [['n', gdal.OFTInteger]], rows: [row] },
    ]);
    const r = cng(['local', src, '--out', join(dir, 'out'), '--jobs', '2']);
    expect(r.code).toBe(1);
    for (const layer of ['l1', 'l2']) {
      expect(r.stderr).toMatch(new RegExp(`^${layer}-convert: FAILED at work unit 0`, 'm'));
      expect(r.stderr).not.toMatch(new RegExp(`^${layer}-convert: done`, 'm'));
      expect(r.stderr).toMatch(new RegExp(`cng run: stage ${layer}-convert failed at work unit 0`));
    }
    expect(r.stderr.match(/has no coordinate reference system/g)).toHaveLength(2);
    expect(r.stderr).toMatch(/Not started because of them: .*l1-hex/);
    // The summary table: both layers' convert column says failed, nothing downstream has a time.
    for (const name of ['first', 'second']) expect(r.stdout).toMatch(new RegExp(`^${name}\\s.*\\sfailed\\s+blocked\\s+blocked\\s+blocked$`, 'm'));
  }, 60_000);

  it('an unknown dataset names the known ones', () => {
    const r = cng(['run', 'nope'], { cwd: repo });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no dataset 'nope' in the manifests; known: fixture/);
  });
});

describe('two cng runs of one dataset and data directory', () => {
  it('refuses the second while the first goes (exit 3, one line naming it); takes over the lock of a killed run', async () => {
    const data = mkdtempSync(join(tmpdir(), 'cng-runner-lock-'));
    cpSync(gdb, join(data, 'store/public-fixture/raw/fixture.gdb'), { recursive: true });
    const lock = join(data, 'runs/fixture/run.lock');
    const args = ['run', 'fixture', '--data-dir', data, '--layers', 'marine'];
    const first = spawn(process.execPath, [join(repo, 'bin/cng.js'), ...args], { cwd: repo, stdio: 'ignore' });
    const firstDone = new Promise<number | null>((done) => first.on('close', done));
    while (!existsSync(lock) && first.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    const owner = JSON.parse(readFileSync(lock, 'utf8'));
    expect(owner).toEqual({ pid: first.pid, host: hostname(), started: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), command: `cng run ${args.slice(1).join(' ')}` });
    const second = run(args.slice(2));
    expect(second.code).toBe(3);
    expect(second.stderr).toBe(
      `cng run: another run holds ${lock} (pid ${first.pid} on ${hostname()}, started ${owner.started}: cng run ${args.slice(1).join(' ')}); wait for it to end, or use another data directory; if that process is gone, delete the file\n`,
    );
    expect(await firstDone).toBe(0); // undisturbed
    expect(existsSync(lock)).toBe(false); // released

    const dead = spawnSync('true').pid!;
    const stale = { pid: dead, host: hostname(), started: '2026-01-01T00:00:00.000Z', command: 'cng run fixture' };
    writeFileSync(lock, JSON.stringify(stale));
    const next = run(args.slice(2));
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr.split('\n')[0]).toBe(`cng run: took over the lock of a run that is gone (pid ${dead} on ${hostname()}, started 2026-01-01T00:00:00.000Z: cng run fixture)`);
    expect(existsSync(lock)).toBe(false);
  }, 180_000);
});

describe('cng run against S3 (Swift)', () => {
  it('gives the same products as the directory store', async () => {
    const s3 = inject('s3');
    const env = { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1' };
    const storage = new Storage(env);
    await storage.setupPublicBucket('public-fixture');
    const files = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)]));
    for (const f of files(gdb)) await storage.upload(f, `s3://public-fixture/raw/fixture.gdb/${relative(gdb, f)}`);
    const data = mkdtempSync(join(tmpdir(), 'cng-runner-s3-'));
    const r = run(['--data-dir', data, '--s3-endpoint', s3.endpoint, '--layers', 'marine,Public_Access'], env);
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.code).toBe(0);
    // Same products as a directory-store run of the same layers.
    const dir = mkdtempSync(join(tmpdir(), 'cng-runner-dir-'));
    cpSync(gdb, join(dir, 'store/public-fixture/raw/fixture.gdb'), { recursive: true });
    expect(run(['--data-dir', dir, '--layers', 'marine,Public_Access']).code).toBe(0);
    const local = join(dir, 'store/public-fixture/fixture-1');
    const fromS3 = mkdtempSync(join(tmpdir(), 'cng-runner-s3-dl-'));
    for (const o of await storage.list('s3://public-fixture/fixture-1/')) await storage.download(o.url, join(fromS3, o.key.slice('fixture-1/'.length)));
    for (const g of ['marine.parquet', 'lookup/Public_Access.parquet', 'marine/hex/*/*.parquet'])
      expect(await parquetRows(join(fromS3, g)), g).toEqual(await parquetRows(join(local, g)));
    expect(readdirSync(join(fromS3, 'marine/hex')).sort()).toEqual(readdirSync(join(local, 'marine/hex')).sort());
  }, 400_000);
});

describe('cng local', () => {
  it('writes the documented layout for every layer of a source', () => {
    const out = mkdtempSync(join(tmpdir(), 'cng-local-'));
    const r = cng(['local', gdb, '--out', out, '--resolution', '9', '--parents', '8'], { timeout: 300_000 });
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.code).toBe(0);
    for (const f of ['padus4-1fee.parquet', 'padus4-1fee.pmtiles', 'padus4-1fee/manifest.json', 'padus4-1marine.parquet', 'public-access.parquet'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const m = JSON.parse(readFileSync(join(out, 'padus4-1fee/manifest.json'), 'utf8'));
    expect(m).toMatchObject({ resolution: 9, parents: [8], features: 3 });
    expect(readdirSync(join(out, 'padus4-1fee/hex')).length).toBe(m.partitions);
    const bad = cng(['local', gdb, '--out', out, '--layers', 'Nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no layer 'Nope' in .*available: PADUS4_1Fee, PADUS4_1Marine, Public_Access/);
  }, 320_000);
});

describe('the local runner\'s process slots', () => {
  /** Acquires in order; returns the order in which the acquisitions were granted. */
  const granted: string[] = [];
  const take = (slots: Slots, name: string, heavy: boolean) => slots.acquire(heavy).then(() => void granted.push(name));
  const settle = () => new Promise((r) => setImmediate(r));

  it('keeps a slot for short stages: heavy (tiling, COG) indices use at most all but one', async () => {
    granted.length = 0;
    const slots = new Slots(2);
    void take(slots, 'tiles-a', true);
    void take(slots, 'tiles-b', true); // waits: the heavy lane (1 of 2 slots) is full
    void take(slots, 'hex-1', false);
    await settle();
    expect(granted).toEqual(['tiles-a', 'hex-1']);
    expect(slots.inUse).toEqual({ all: 2, heavy: 1 });
    void take(slots, 'hex-2', false);
    slots.release(false); // hex-1 done: the short stage waiting goes before the heavy one
    await settle();
    expect(granted).toEqual(['tiles-a', 'hex-1', 'hex-2']);
    slots.release(true); // tiles-a done: tiles-b gets the heavy lane
    await settle();
    expect(granted).toEqual(['tiles-a', 'hex-1', 'hex-2', 'tiles-b']);
    expect(slots.inUse).toEqual({ all: 2, heavy: 1 });
  });

  it('with one slot, heavy stages still run (one at a time, after the short ones waiting)', async () => {
    granted.length = 0;
    const slots = new Slots(1);
    void take(slots, 'convert', false);
    void take(slots, 'tiles', true);
    void take(slots, 'hex', false);
    await settle();
    slots.release(false);
    await settle();
    slots.release(false);
    await settle();
    expect(granted).toEqual(['convert', 'hex', 'tiles']);
  });
});

describe('cng local options', () => {
  it('--min-zoom/--max-zoom set the tiles\' zoom range (the layer spec\'s pmtiles zooms)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'cng-local-zoom-'));
    const r = cng(['local', gdb, '--out', out, '--layers', 'PADUS4_1Marine', '--min-zoom', '2', '--max-zoom', '6', '--resolution', '8', '--parents', '7']);
    expect(r.code, r.stderr).toBe(0);
    const info = await readPmtilesInfo(join(out, 'padus4-1marine.pmtiles'));
    expect([info.minzoom, info.maxzoom]).toEqual([2, 6]);
  }, 120_000);

  it('--nodata makes an undeclared background value no data', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cng-local-nodata-'));
    // Classes 1 and 2 on the left half, background 0 (declared nowhere) on the right half.
    const tif = writeRaster(join(dir, 'landcover.tif'), { width: 40, height: 20, type: 'Byte', geoTransform: [-100, 0.05, 0, 40, 0, -0.05], value: (x, y) => (x >= 20 ? 0 : 1 + (y % 2)) });
    const r = cng(['local', tif, '--out', join(dir, 'out'), '--value-kind', 'categorical', '--nodata', '0', '--resolution', '5', '--jobs', '2']);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(dir, 'out/landcover/manifest.json'), 'utf8'));
    expect(Object.keys(m.classes).sort()).toEqual(['1', '2']);
    expect(m.nodataShare).toBeCloseTo(0.5, 2);
  }, 180_000);

  it('refuses zoom and nodata options that do not fit (exit 2)', () => {
    const cases: [string[], RegExp][] = [
      [['--max-zoom', '16'], /--max-zoom must be a zoom level 0\.\.15, got '16'/],
      [['--min-zoom', '9', '--max-zoom', '5'], /--min-zoom 9 is above --max-zoom 5/],
      [['--min-zoom', '15'], /--min-zoom 15 is above --max-zoom 14 \(the default\)/],
      [['--nodata', '0'], /--nodata applies to raster sources/],
    ];
    for (const [args, message] of cases) {
      const r = cng(['local', gdb, '--out', join(tmpdir(), 'never-written'), ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);
});
