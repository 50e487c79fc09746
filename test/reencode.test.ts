/**
 * Re-encoding an earlier hex product: old-layout Parquet written here with DuckDB (STRING cells
 * in both cases, a hive h0=<string> layout, odd column names, a stale STRING parent, a list
 * column, a bad cell, a cell of another resolution, a mismatched h0) through `cng local` and
 * `cng run` of a dataset file; the products read back with DuckDB and compared with h3-js.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { cellToParent, getResolution, latLngToCell } from 'h3-js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDatasetSpec, publicKeys, synthesize, type DatasetSpec } from '../constructs/index.ts';
import { cng, repoCopy, s3TestBucket } from './helpers.ts';
import { reencodeStage } from '../worker/vector/reencode.ts';
import { reencodeMergeStage, reencodePublishStage } from '../worker/vector/reencode-publish.ts';

async function sql(query: string): Promise<Record<string, any>[]> {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  try {
    return (await db.runAndReadAll(query)).getRowObjects() as Record<string, any>[];
  } finally {
    db.closeSync();
  }
}

const u64 = (cell: string) => BigInt(`0x${cell.toLowerCase()}`);
const quote = (s: string | null) => (s === null ? 'NULL' : `'${s}'`);

/** Points in three base cells; each row's cell at res 8. */
const POINTS: [number, number][] = [[37.77, -122.42], [37.8, -122.27], [40.71, -74.0], [40.75, -73.98], [48.85, 2.35], [48.86, 2.29], [37.771, -122.421]];
const CELLS = POINTS.map(([lat, lng]) => latLngToCell(lat, lng, 8));

/**
 * WDPA/IUCN-like old layout: `<dir>/h0=<STRING h0>/part-0.parquet` with `name`, `Z` INTEGER, STRING
 * `h8` (some upper case), a stale STRING `h7`, a STRING `h0` column; plus a bad cell, a res-9 cell
 * and one row whose h0 column disagrees with its cell.
 */
async function writeOldLayout(dir: string): Promise<{ good: { name: string; z: number; cell: string }[] }> {
  const rows = CELLS.map((cell, i) => ({ name: `site-${i}`, z: i * 3, cell: i % 2 ? cell.toUpperCase() : cell, h0: cellToParent(cell, 0) }));
  const wrongH0 = rows.find((r) => r.h0 !== rows[0].h0)!.h0;
  rows[1].h0 = wrongH0; // mismatched: stays in the file of its (wrong) h0 directory
  const bad = [
    { name: 'bad-string', z: 1, cell: 'zzz', h0: rows[0].h0 },
    { name: 'bad-res', z: 2, cell: latLngToCell(37.77, -122.42, 9), h0: rows[0].h0 },
  ];
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  for (const h0 of [...new Set([...rows, ...bad].map((r) => r.h0))]) {
    const mine = [...rows, ...bad].filter((r) => r.h0 === h0);
    mkdirSync(join(dir, `h0=${h0}`), { recursive: true });
    const values = mine.map((r) => `(${quote(r.name)}, ${r.z}, ${quote(r.cell)}, ${quote(getResolution(r.cell.toLowerCase()) === 8 ? cellToParent(r.cell.toLowerCase(), 7) : null)}, ${quote(r.h0)})`);
    await db.run(`COPY (SELECT * FROM (VALUES ${values.join(', ')}) t(name, Z, h8, h7, h0)) TO '${join(dir, `h0=${h0}`, 'part-0.parquet')}' (FORMAT parquet)`);
  }
  db.closeSync();
  return { good: rows.map((r) => ({ name: r.name, z: r.z, cell: r.cell.toLowerCase() })) };
}

/** Census-2022-like single file: `GEOID`, `h10` a list of STRING cells (one list empty). */
async function writeListFile(file: string): Promise<{ geoid: string; cells: string[] }[]> {
  const rows = [
    { geoid: '06075', cells: POINTS.slice(0, 2).map(([a, b]) => latLngToCell(a, b, 10)) },
    { geoid: '36061', cells: POINTS.slice(2, 4).map(([a, b]) => latLngToCell(a, b, 10).toUpperCase()) },
    { geoid: '99999', cells: [] },
  ];
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  const values = rows.map((r) => `('${r.geoid}', [${r.cells.map(quote).join(', ')}]::VARCHAR[])`);
  await db.run(`COPY (SELECT * FROM (VALUES ${values.join(', ')}) t(GEOID, h10)) TO '${file}' (FORMAT parquet)`);
  db.closeSync();
  return rows;
}

const hexGlob = (dir: string) => `read_parquet('${dir}/hex/*/*.parquet', hive_partitioning = true, hive_types = {'h0': UBIGINT})`;

describe('cng local: re-encoding an earlier hex product', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'cng-reencode-'));
  });
  afterAll(() => root && rmSync(root, { recursive: true, force: true }));

  it('writes UBIGINT cells, parents and h0 partitions, carries every row over and reports invalid cells and h0 mismatches', async () => {
    const input = join(root, 'old-wdpa');
    const { good } = await writeOldLayout(input);
    const out = join(root, 'out');
    const r = cng(['local', input, '--out', out, '--cell', 'h8', '--parents', '7,5', '--rename', 'Z=ncp', '--divide', 'ncp=19', '--invalid', 'report', '--jobs', '1']);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout).toMatch(/old-wdpa +9 +7 +2 +1 +3 /); // rows in, out, invalid, h0 mismatches, partitions
    const dir = join(out, 'old-wdpa');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(m).toMatchObject({ kind: 'reencode', rows_in: 9, cells_in: 9, rows_out: 7, cells: 7, resolution: 8, parents: [7, 5], invalid: 'report', dropped_columns: ['h7', 'h0'] });
    expect(m.invalid_cells.rows).toBe(2);
    expect(m.invalid_cells.samples.map((s: any) => [s.value, s.reason]).sort()).toEqual([[latLngToCell(37.77, -122.42, 9), 'resolution 9, expected 8'], ['zzz', 'not an H3 cell']].sort());
    expect(m.h0_mismatches).toMatchObject({ rows: 1, samples: [{ cell: good[1].cell }] });

    const types = await sql(`DESCRIBE SELECT * FROM ${hexGlob(dir)}`);
    expect(Object.fromEntries(types.map((t) => [t.column_name, t.column_type]))).toEqual({ name: 'VARCHAR', ncp: 'DOUBLE', h8: 'UBIGINT', h7: 'UBIGINT', h5: 'UBIGINT', h0: 'UBIGINT' });
    const rows = await sql(`SELECT name, ncp, h8, h7, h5, h0 FROM ${hexGlob(dir)} ORDER BY name`);
    expect(rows.length).toBe(good.length);
    for (const g of good) {
      const row = rows.find((x) => x.name === g.name)!;
      expect(row.h8).toBe(u64(g.cell));
      expect(row.h7).toBe(u64(cellToParent(g.cell, 7)));
      expect(row.h5).toBe(u64(cellToParent(g.cell, 5)));
      expect(row.h0).toBe(u64(cellToParent(g.cell, 0)));
      expect(row.ncp).toBeCloseTo(g.z / 19, 12);
    }
    // Partitions named by the UBIGINT h0, each sorted by the cell, listed with their sha256.
    const parts = readdirSync(join(dir, 'hex')).sort();
    expect(parts).toEqual([...new Set(good.map((g) => `h0=${u64(cellToParent(g.cell, 0))}`))].sort());
    for (const p of parts) {
      const file = join(dir, 'hex', p, 'data_0.parquet');
      const cells = (await sql(`SELECT h8 FROM read_parquet('${file}')`)).map((x) => x.h8);
      expect(cells).toEqual([...cells].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(m.files[`old-wdpa/hex/${p}/data_0.parquet`].sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    }
    expect(existsSync(join(dir, '_work'))).toBe(false);
  }, 300_000);

  it('fails on an invalid cell by default, naming it, and publishes nothing', async () => {
    const input = join(root, 'old-fail');
    await writeOldLayout(input);
    const out = join(root, 'out-fail');
    const r = cng(['local', input, '--out', out, '--cell', 'h8', '--jobs', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid cells? in h8: .*'zzz' \(not an H3 cell\)/);
    expect(r.stderr).toMatch(/invalidCells: 'report'/);
    expect(existsSync(join(out, 'old-fail', 'manifest.json'))).toBe(false);
    expect(existsSync(join(out, 'old-fail', 'hex'))).toBe(false);
  }, 300_000);

  it('unnests a list-of-STRING cell column, one row per element', async () => {
    const file = join(root, 'tracts-hex-z10.parquet');
    const input = await writeListFile(file);
    const out = join(root, 'out-list');
    const r = cng(['local', file, '--out', out, '--cell', 'h10', '--list', '--parents', '8', '--invalid', 'report', '--jobs', '1']);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const dir = join(out, 'tracts-hex-z10');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(m).toMatchObject({ rows_in: 3, cells_in: 5, rows_out: 4, list: true, invalid_cells: { rows: 1, samples: [{ value: null, reason: 'no cell' }] } });
    const rows = await sql(`SELECT GEOID, h10, h8, h0 FROM ${hexGlob(dir)} ORDER BY GEOID, h10`);
    const want = input.flatMap((x) => x.cells.map((c) => ({ GEOID: x.geoid, h10: u64(c), h8: u64(cellToParent(c.toLowerCase(), 8)), h0: u64(cellToParent(c.toLowerCase(), 0)) })));
    want.sort((a, b) => (a.GEOID < b.GEOID ? -1 : a.GEOID > b.GEOID ? 1 : a.h10 < b.h10 ? -1 : 1));
    expect(rows).toEqual(want);
  }, 300_000);
});

/** The dataset file `cng run` runs: the old layout at s3://public-reencodefix/hex/, two units of each kind. */
const RUN_SPEC: DatasetSpec = {
  name: 'reencodefix', title: 'Re-encoding fixture', run: 1, bucket: 'public-reencodefix', maxPods: 20,
  reencode: {
    wdpa: { from: 's3://public-reencodefix/hex/', cell: { column: 'h8', resolution: 8 }, parents: [6], rename: { Z: 'score' }, invalidCells: 'report', rows: 9, units: 2, mergeUnits: 2 },
  },
};

/** Prose for the cng run test: its docs stage describes the re-encoded product. */
const RUN_PROSE = {
  title: 'Re-encoding fixture', description: 'An old hex product.', license: 'CC0-1.0', citation: 'Generated by the tests.',
  providers: [{ name: 'the tests', roles: ['producer'] }], keywords: ['hex'], temporal: [null, null],
};

describe('the reencode field of a dataset file', () => {
  const spec = (over: Record<string, unknown> = {}, name = 'wdpa'): DatasetSpec => ({
    ...RUN_SPEC,
    reencode: { [name]: { ...RUN_SPEC.reencode!.wdpa, ...over } as any },
  });
  const issues = (s: DatasetSpec) => {
    try {
      parseDatasetSpec(s);
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('rejects parents not coarser than the cell, an output inside its input, and a credential in from', () => {
    expect(issues(spec())).toBe('');
    expect(issues(spec({ parents: [8, 6] }))).toMatch(/reencode\.wdpa\.parents: parent resolution\(s\) 8 are not coarser than the resolution 8/);
    expect(issues(spec({ from: 's3://public-reencodefix/' }))).toMatch(/reencode\.wdpa\.from: .*overlap: a run would read its own output/);
    expect(issues(spec({ from: 's3://public-reencodefix/wdpa/hex/' }))).toMatch(/overlap/);
    expect(issues(spec({ from: ['s3://public-reencodefix/hex/', 'https://user:secret@example.org/x.parquet'] }))).toMatch(/reencode\.wdpa\.from\.1: contains a credential/);
  });

  it('synthesizes Indexed Jobs sized from rows, and publishes the hex directory and manifest', () => {
    const s = spec({ rows: 38_000_000, units: undefined, mergeUnits: undefined });
    const jobs = synthesize([s]).manifests;
    const completions = (stage: string) => [...jobs.entries()].filter(([k]) => k.startsWith(`reencodefix/${stage}/`)).flatMap(([, objs]) => objs).map((o: any) => o.spec?.completions);
    expect(completions('wdpa-reencode')).toEqual([8]); // ceil(38M / 5M)
    expect(completions('wdpa-reencode-merge')).toEqual([4]); // ceil(38M / 10M)
    expect(completions('wdpa-reencode-publish')).toEqual([1]);
    expect(publicKeys(parseDatasetSpec(s))).toEqual(['wdpa/manifest.json', 'wdpa/hex/']);
  });
});

describe('cng run of a dataset file with a reencode entry (directory store)', () => {
  let repo: string;
  beforeAll(() => {
    repo = repoCopy();
    writeFileSync(join(repo, 'datasets/reencodefix.ts'), `import { parseDatasetSpec, publicKeys, synthesize, type DatasetSpec } from '../constructs/index.ts';\nexport const reencodefix: DatasetSpec = ${JSON.stringify({ ...RUN_SPEC, prose: RUN_PROSE })};\n`);
    writeFileSync(join(repo, 'datasets/index.ts'), "import { reencodefix } from './reencodefix.ts';\nexport const datasets = [reencodefix];\n");
  });
  afterAll(() => repo && rmSync(repo, { recursive: true, force: true }));

  it('synthesizes three stages (two Indexed) and runs them: the products match the input', async () => {
    const synth = cng(['synth'], { cwd: repo });
    expect(synth.code, synth.stderr).toBe(0);
    expect(readdirSync(join(repo, 'dist/reencodefix')).sort()).toEqual(['docs', 'setup-bucket', 'wdpa-reencode', 'wdpa-reencode-merge', 'wdpa-reencode-publish']);
    const job = readFileSync(join(repo, 'dist/reencodefix/wdpa-reencode/manifest.yaml'), 'utf8');
    expect(job).toMatch(/completions: 2/);
    const validate = cng(['validate'], { cwd: repo });
    expect(validate.code, validate.stderr).toBe(0);

    const data = mkdtempSync(join(tmpdir(), 'cng-reencode-run-'));
    const { good } = await writeOldLayout(join(data, 'store/public-reencodefix/hex'));
    const r = cng(['run', 'reencodefix', '--data-dir', data, '--jobs', '2'], { cwd: repo });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const dir = join(data, 'store/public-reencodefix/wdpa');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(m).toMatchObject({ run: 1, input_files: 3, rows_in: 9, rows_out: 7, invalid_cells: { rows: 2 }, h0_mismatches: { rows: 1 } });
    const rows = await sql(`SELECT name, score, h8, h6, h0 FROM ${hexGlob(dir)} ORDER BY name`);
    expect(rows.map((x) => [x.name, x.score, x.h8, x.h6, x.h0])).toEqual(
      good.map((g) => [g.name, g.z, u64(g.cell), u64(cellToParent(g.cell, 6)), u64(cellToParent(g.cell, 0))]).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    );
    // The docs stage describes it: rows in and out, invalid cells, and the hex asset.
    const readme = readFileSync(join(data, 'store/public-reencodefix/README.md'), 'utf8');
    expect(readme).toContain('| wdpa (reencode) | s3://public-reencodefix/hex/ | 9 in from 3 files, 7 out; 2 invalid cells left out | [wdpa/hex/]');
    const stac = JSON.parse(readFileSync(join(data, 'store/public-reencodefix/stac-collection.json'), 'utf8'));
    expect(stac.assets['wdpa-hex']).toMatchObject({ 'table:row_count': 7, 'cng:h3': { resolution: 8, parents: [6] } });
    rmSync(data, { recursive: true, force: true });
  }, 600_000);
});

describe('the reencode stages on S3 (the tests\' S3 server)', () => {
  it('read the old layout from a bucket prefix, stage under _work, publish, and refuse an input that changed', async () => {
    const { bucket, env, storage } = await s3TestBucket(inject('s3'), 'reencode');
    const local = mkdtempSync(join(tmpdir(), 'cng-reencode-s3-'));
    const { good } = await writeOldLayout(join(local, 'hex'));
    for (const d of readdirSync(join(local, 'hex'))) await storage.upload(join(local, 'hex', d, 'part-0.parquet'), `s3://${bucket}/hex/${d}/part-0.parquet`);
    const common = {
      from: `s3://${bucket}/hex/`, 'cell-column': 'h8', resolution: '8', units: '2', 'merge-units': '2', invalid: 'report', work: `s3://${bucket}/wdpa/_work/run-1`,
    };
    const units = await Promise.all([0, 1].map((i) => reencodeStage({ ...common, index: String(i) }, env)));
    expect(units.flatMap((u) => u.files).sort()).toEqual((await storage.list(`s3://${bucket}/hex/`)).map((o) => o.url).sort());
    for (const i of [0, 1]) await reencodeMergeStage({ ...common, index: String(i) }, env);
    const publish = { ...common, 'out-hex': `s3://${bucket}/wdpa/hex`, manifest: `s3://${bucket}/wdpa/manifest.json`, run: '1' };

    // A file added after the units listed the input: nothing is published.
    await storage.writeText(`s3://${bucket}/hex/late.parquet`, 'x');
    await expect(reencodePublishStage(publish, env)).rejects.toThrow(/the input changed since the reencode units listed it .*nothing was published/);
    expect(await storage.exists(publish.manifest)).toBe(false);
    await storage.deletePrefix(`s3://${bucket}/hex/late.parquet`);

    const m = await reencodePublishStage(publish, env);
    expect(m).toMatchObject({ rows_in: 9, rows_out: good.length, input_files: 3 });
    expect(Object.keys(m.files).sort()).toEqual((await storage.list(`s3://${bucket}/wdpa/hex`)).map((o) => o.key).sort());
    expect(await storage.list(`s3://${bucket}/wdpa/_work`)).toEqual([]);
    // Run again (a preempted pod): the manifest of this run says it is done.
    expect((await reencodePublishStage(publish, env)).files).toEqual(m.files);
    rmSync(local, { recursive: true, force: true });
  }, 300_000);
});

describe('odd old layouts (the stages in-process, local paths)', () => {
  it('plain files without h0 (iNat-like `h3_cell` at res 4, `id`), and an integer cell column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cng-reencode-odd-'));
    const cells = POINTS.map(([lat, lng]) => latLngToCell(lat, lng, 4));
    const db = await (await DuckDBInstance.create(':memory:')).connect();
    mkdirSync(join(dir, 'hex'));
    await db.run(`COPY (SELECT * FROM (VALUES ${cells.map((c, i) => `(${i + 1}, '${c.toUpperCase()}')`).join(', ')}) t(id, h3_cell)) TO '${join(dir, 'hex', 'amphibians.parquet')}' (FORMAT parquet)`);
    await db.run(`COPY (SELECT 7 AS id, ${u64(cells[0])}::UBIGINT AS cell) TO '${join(dir, 'ints.parquet')}' (FORMAT parquet)`);
    db.closeSync();
    const run = async (from: string, column: string, name: string) => {
      const common = { from, 'cell-column': column, resolution: '4', parents: '2', units: '1', 'merge-units': '1', work: join(dir, name, '_work/run-1') };
      await reencodeStage({ ...common, index: '0' });
      await reencodeMergeStage({ ...common, index: '0' });
      return reencodePublishStage({ ...common, 'out-hex': join(dir, name, 'hex'), manifest: join(dir, name, 'manifest.json'), run: '1' });
    };
    const m = await run(join(dir, 'hex'), 'h3_cell', 'inat');
    expect(m).toMatchObject({ rows_in: cells.length, rows_out: cells.length, h0_mismatches: { rows: 0 }, columns: ['id'] });
    const rows = await sql(`SELECT id, h4, h2, h0 FROM ${hexGlob(join(dir, 'inat'))} ORDER BY id`);
    expect(rows.map((r) => [r.id, r.h4, r.h2, r.h0])).toEqual(cells.map((c, i) => [i + 1, u64(c), u64(cellToParent(c, 2)), u64(cellToParent(c, 0))]));
    await run(join(dir, 'ints.parquet'), 'cell', 'ints');
    expect(await sql(`SELECT id, h4 FROM ${hexGlob(join(dir, 'ints'))}`)).toEqual([{ id: 7, h4: u64(cells[0]) }]);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
