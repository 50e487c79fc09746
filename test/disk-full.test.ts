/**
 * A full disk reads the same in every command: `<prog> <stage>: no space left in <dir> (needed ~N,
 * have M)`, one line, exit 1 (worker/core/disk-full.ts through runCommand); a JSON file cut short
 * by a failed write fails naming the file. Free space is mocked (statfsSync); the errors are the
 * ones Node, DuckDB and GDAL throw.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { type Command, runCommand } from '../worker/core/command.ts';
import { noteSpace } from '../worker/core/disk-full.ts';
import { CommandError } from '../worker/core/errors.ts';
import { parseJson, Storage } from '../worker/io/storage.ts';
import { ROOT } from './helpers.ts';
import { writeRaster } from './raster-fixtures.ts';
import { baseCells } from '../worker/raster/raster-layer.ts';
import * as h3 from 'h3-js';

const space = vi.hoisted(() => ({ blocks: 3, failCopy: false }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return { ...fs, statfsSync: (path: string) => ({ ...fs.statfsSync(path), bavail: space.blocks, bsize: 1024 }) };
});

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const copyFile = (src: string, dest: string) =>
    space.failCopy ? Promise.reject(Object.assign(new Error(`ENOSPC: no space left on device, copyfile '${src}' -> '${dest}'`), { code: 'ENOSPC', path: src, dest })) : fs.copyFile(src, dest);
  return { ...fs, copyFile };
});

const dir = mkdtempSync(join(tmpdir(), 'cng-disk-full-'));
mkdirSync(join(dir, 'work'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a stage that throws `err`; its exit code and stderr. */
async function failWith(err: unknown): Promise<{ code: number; stderr: string }> {
  const stage: Command = { name: 'pmtiles', summary: '', help: 'Usage: x', options: {}, run: () => Promise.reject(err) };
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  try {
    return { code: await runCommand(stage, [], 'cng-worker'), stderr };
  } finally {
    spy.mockRestore();
  }
}

describe('disk full: one line, exit 1', () => {
  const tmpEnv = process.env.TMPDIR;
  afterEach(() => {
    space.blocks = 3;
    if (tmpEnv === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpEnv;
  });

  it("Node's ENOSPC names the directory of the file it was writing", async () => {
    const err = Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', path: join(dir, 'work/tiles/3/4/5.pbf') });
    expect(await failWith(err)).toEqual({ code: 1, stderr: `cng-worker pmtiles: no space left in ${join(dir, 'work')} (have 3.0 KiB)\n` });
  });

  it("DuckDB's and GDAL's 'No space left on device' name the quoted path, else TMPDIR", async () => {
    const duck = new Error(`IO Error: Could not write file "${dir}/work/out.parquet": No space left on device`);
    expect(await failWith(duck)).toEqual({ code: 1, stderr: `cng-worker pmtiles: no space left in ${join(dir, 'work')} (have 3.0 KiB)\n` });
    process.env.TMPDIR = dir;
    const gdal = new Error('Write error: No space left on device\n    at Dataset.flush (gdal.node)');
    expect(await failWith(gdal)).toEqual({ code: 1, stderr: `cng-worker pmtiles: no space left in ${dir} (have 3.0 KiB)\n` });
  });

  it('a wrapped CommandError and a stage that knows what it needs', async () => {
    const wrapped = new CommandError(`'${dir}/work/input.parquet': ENOSPC: no space left on device, write`);
    noteSpace(wrapped, join(dir, 'work'), 5 * 2 ** 20);
    expect(await failWith(wrapped)).toEqual({ code: 1, stderr: `cng-worker pmtiles: no space left in ${join(dir, 'work')} (needed ~5.0 MiB, have 3.0 KiB)\n` });
  });

  it('a download that fills the disk says how much the object needs', async () => {
    writeFileSync(join(dir, 'source.parquet'), Buffer.alloc(2048));
    space.failCopy = true;
    const err = await new Storage({}).download(join(dir, 'source.parquet'), join(dir, 'work/input.parquet')).catch((e: unknown) => e);
    space.failCopy = false;
    expect(await failWith(err)).toEqual({ code: 1, stderr: `cng-worker pmtiles: no space left in ${join(dir, 'work')} (needed ~2.0 KiB, have 3.0 KiB)\n` });
  });

  it("an object store's full disk is reported as the S3 error it is", async () => {
    const s3 = new CommandError("'s3://b/k.parquet': S3 error InsufficientStorage (HTTP 507): No space left on device");
    expect(await failWith(s3)).toEqual({ code: 1, stderr: `cng-worker pmtiles: ${s3.message}\n` });
  });

  it("GDAL's 'Unexpected I/O failure' is a full disk only when the disk is (nearly) full", async () => {
    process.env.TMPDIR = dir;
    const io = new Error('Unexpected I/O failure: reading feature offset');
    expect(await failWith(io)).toEqual({ code: 1, stderr: `cng-worker pmtiles: no space left in ${dir} (have 3.0 KiB)\n` });
    space.blocks = 10 * 2 ** 20; // 10 GiB free: some other I/O failure, reported as it is
    const other = await failWith(new Error('Unexpected I/O failure: reading feature offset'));
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^cng-worker pmtiles: Error: Unexpected I\/O failure: reading feature offset\n    at /);
  });

  it('a JSON file cut short by a failed write fails naming the file, not with a SyntaxError', () => {
    expect(() => parseJson('{"features": 12, "partit', 's3://b/fee/manifest.json')).toThrow(
      new CommandError("'s3://b/fee/manifest.json' is cut short (24 bytes of JSON): its write failed, e.g. on a full disk; run the stage that writes it again"),
    );
    expect(() => parseJson('', '/data/plan.json')).toThrow(/^'\/data\/plan\.json' is cut short \(0 bytes of JSON\)/);
    expect(() => parseJson('{"a": nope}', 'x.json')).toThrow(/^'x\.json' is not valid JSON: /);
  });
});

/**
 * Real stages on a real full disk: TMPDIR on a 4 MiB tmpfs (needs permission to mount, as root
 * in the project's containers; skipped, and said so, where mounting is not allowed). Each stage
 * fails with the one line and exit 1, writes nothing to the store and leaves no scratch behind.
 */
const full = join(dir, 'full');
mkdirSync(full);
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', full]).status === 0;
if (!mounted) console.warn('disk-full: cannot mount a tmpfs here (not root?): the real full-disk stage runs are skipped');
afterAll(() => {
  if (mounted) spawnSync('umount', [full]);
});

describe.runIf(mounted)('disk full: real stages with TMPDIR on a 4 MiB tmpfs', () => {
  const store = join(dir, 'store');
  const inputs = join(dir, 'inputs');
  mkdirSync(store);
  mkdirSync(inputs);
  const worker = (args: string[], tmp = full) => spawnSync(process.execPath, [join(ROOT, 'bin/cng-worker.js'), ...args], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8' });
  const listStore = () => readdirSync(store, { recursive: true }).map(String).sort();
  /** The stage failed with exactly the one disk-full line last, wrote nothing and left no scratch. */
  function expectFull(stage: string, r: ReturnType<typeof worker>, before: string[]) {
    expect(r.status, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(new RegExp(`^cng-worker ${stage}: no space left in ${full} \\(needed ~[\\d.]+ [KMG]?i?B, have [\\d.]+ [KMG]?i?B\\)$`));
    expect(lines.filter((l) => /no space/i.test(l))).toHaveLength(1);
    expect(listStore()).toEqual(before);
    expect(readdirSync(full).filter((f) => f.startsWith('cng-'))).toEqual([]);
  }

  // 3,000 circles of 40 vertices (4.8 MB of GeoJSON)
  const geojson = join(inputs, 'circles.geojson');
  const features = Array.from({ length: 3000 }, (_, i) => {
    const x = -120 + (i % 60) * 0.1, y = 35 + Math.floor(i / 60) * 0.1;
    const ring = Array.from({ length: 41 }, (_, k) => [x + 0.04 * Math.cos((2 * Math.PI * (k % 40)) / 40), y + 0.04 * Math.sin((2 * Math.PI * (k % 40)) / 40)]);
    return { type: 'Feature', properties: { name: `feature ${i}`, n: i }, geometry: { type: 'Polygon', coordinates: [ring] } };
  });
  writeFileSync(geojson, JSON.stringify({ type: 'FeatureCollection', features }));

  it('convert', () => {
    const before = listStore();
    const r = worker(['convert', '--source', geojson, '--layer', 'circles', '--out', join(store, 'circles.parquet'), '--plan', join(store, 'plan.json'), '--resolution', '9', '--units', '1']);
    expectFull('convert', r, before);
  });

  it('hex', () => {
    const parquet = join(inputs, 'circles.parquet');
    const plan = join(inputs, 'plan.json');
    expect(worker(['convert', '--source', geojson, '--layer', 'circles', '--out', parquet, '--plan', plan, '--resolution', '9', '--units', '1'], tmpdir()).status).toBe(0);
    const before = listStore();
    const r = worker(['hex', '--input', parquet, '--plan', plan, '--chunks', join(store, 'chunks'), '--resolution', '9', '--index', '0']);
    expectFull('hex', r, before);
  }, 240_000);

  it('cog', () => {
    const src = writeRaster(join(inputs, 'noise.tif'), { width: 1500, height: 1500, geoTransform: [-100, 0.001, 0, 40, 0, -0.001], value: (x, y) => Math.sin(x * 12.9898 + y * 78.233) * 43758.5453 % 1 });
    const before = listStore();
    const r = worker(['cog', '--source', src, '--out', join(store, 'noise.tif'), '--info', join(store, 'noise.json'), '--value-kind', 'continuous']);
    expectFull('cog', r, before);
  });

  it('raster-hex', () => {
    const cog = join(inputs, 'noise-cog.tif');
    const info = join(inputs, 'noise-cog.json');
    expect(worker(['cog', '--source', join(inputs, 'noise.tif'), '--out', cog, '--info', info, '--value-kind', 'continuous'], tmpdir()).status).toBe(0);
    const unit = baseCells().indexOf(h3.latLngToCell(39.25, -99.25, 0));
    const before = listStore();
    const r = worker(['raster-hex', '--input', cog, '--info', info, '--out', join(store, 'hex'), '--stats', join(store, 'stats'), '--value-kind', 'continuous', '--resolution', '9', '--index', String(unit)]);
    expectFull('raster-hex', r, before);
  }, 240_000);
});
