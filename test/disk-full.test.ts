/**
 * A full disk reads the same in every command: `<prog> <stage>: no space left in <dir> (needed ~N,
 * have M)`, one line, exit 1 (worker/core/disk-full.ts through runCommand); a JSON file cut short
 * by a failed write fails naming the file. Free space is mocked (statfsSync); the errors are the
 * ones Node, DuckDB and GDAL throw.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { type Command, runCommand } from '../worker/core/command.ts';
import { noteSpace } from '../worker/core/disk-full.ts';
import { CommandError } from '../worker/core/errors.ts';
import { parseJson, Storage } from '../worker/io/storage.ts';

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
