/**
 * Points at scale (issue 15, item 4): a points source of many Parquet files hexed per slice of
 * files, repartitioned by h0, bad coordinates counted. The constructs' sizing and Jobs, then the
 * real stages on a generated multi-file Parquet fixture (bad coordinates of every kind, rows on
 * the antimeridian and at the poles) through `cng local` and through `cng run` of a small dataset
 * file, every product read back.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { cellToParent, latLngToCell } from 'h3-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterProfile, parseDatasetSpec, synthesize, type DatasetSpec, type Manifests } from '../constructs/index.ts';
import { pointsSizing } from '../constructs/points.ts';
import { cng, repoCopy } from './helpers.ts';

const jobsOf = (m: Manifests, dir: string) => [...m.entries()].filter(([k]) => k.startsWith(`${dir}/`)).flatMap(([, v]) => v).filter((o) => o.kind === 'Job');
const command = (job: any): string[] => job.spec.template.spec.containers[0].command;
const limits = (job: any) => job.spec.template.spec.containers[0].resources.limits;

const GBIF: DatasetSpec = {
  name: 'gbif-test',
  title: 'GBIF occurrences',
  run: 1,
  bucket: 'public-gbif',
  points: {
    occurrence: {
      source: 's3://gbif-open-data-us-east-1/occurrence/2025-06-01/occurrence.parquet/*',
      sourceEndpoint: 'https://s3.us-east-1.amazonaws.com',
      files: 4600,
      rows: 2_500_000_000,
      lon: 'decimallongitude',
      lat: 'decimallatitude',
      columns: ['gbifid', 'species', 'decimallongitude', 'decimallatitude'],
      filesPerUnit: 25,
      name: '2025-06',
    },
  },
};

describe('a points source in a dataset file (constructs)', () => {
  it('sizes points-hex from the declared files (≤200 completions a Job), repartition from the rows, pods from one unit', () => {
    const m = synthesize([GBIF]).manifests;
    const hex = jobsOf(m, 'gbif-test/occurrence-points-hex');
    expect(hex.map((j) => j.spec.completions)).toEqual([184]);
    const cmd = command(hex[0]);
    expect(cmd.slice(0, 2)).toEqual(['cng-worker', 'points-hex']);
    for (const [flag, value] of [
      ['--source', 's3://gbif-open-data-us-east-1/occurrence/2025-06-01/occurrence.parquet/*'], ['--source-endpoint', 'https://s3.us-east-1.amazonaws.com'],
      ['--units', '184'], ['--resolution', '10'], ['--parents', '9,8,7,6,5,4,3,2,1,0'], ['--chunks', 's3://public-gbif/2025-06/_work/run-1/chunks'],
      ['--columns', 'gbifid,species,decimallongitude,decimallatitude'], ['--null-island', 'bad'], ['--expected-files', '4600'],
    ])
      expect(cmd[cmd.indexOf(flag) + 1], flag).toBe(value);
    // One unit is 25 files of ~543,000 rows: the pod is sized for one file's rows, not the table.
    expect(limits(hex[0])).toMatchObject({ memory: '4Gi' });
    const rep = jobsOf(m, 'gbif-test/occurrence-points-repartition');
    expect(rep.map((j) => j.spec.completions)).toEqual([100]);
    const pub = command(jobsOf(m, 'gbif-test/occurrence-points-publish')[0]);
    expect(pub[pub.indexOf('--out-hex') + 1]).toBe('s3://public-gbif/2025-06/hex');
    expect(pub[pub.indexOf('--manifest') + 1]).toBe('s3://public-gbif/2025-06/manifest.json');
    const setup = command(jobsOf(m, 'gbif-test/setup-bucket')[0]);
    expect(setup[setup.indexOf('--public') + 1]).toBe('2025-06/manifest.json,2025-06/hex/');
  });

  it('splits more than 200 units into Jobs of ≤200 with offsets, or renders an Armada job set', () => {
    const many: DatasetSpec = { ...GBIF, points: { occurrence: { ...GBIF.points!.occurrence, filesPerUnit: 10 } } };
    const hex = jobsOf(synthesize([many]).manifests, 'gbif-test/occurrence-points-hex');
    expect(hex.map((j) => j.spec.completions)).toEqual([200, 200, 60]);
    expect(hex.map((j) => j.spec.template.spec.containers[0].env.find((e: any) => e.name === 'CNG_INDEX_OFFSET').value)).toEqual(['0', '200', '400']);
    const armada: DatasetSpec = { ...GBIF, points: { occurrence: { ...GBIF.points!.occurrence, filesPerUnit: 10, hex: { runner: 'armada' } } } };
    const r = synthesize([armada]);
    expect([...r.manifests.keys()].some((k) => k.startsWith('armada/') && k.includes('points-hex'))).toBe(true);
  });

  it('defaults: ~13.75 M rows a unit, every coarser parent; and names the field of a bad points entry', () => {
    expect(pointsSizing({ files: 4600, rows: 2_500_000_000 })).toMatchObject({ filesPerUnit: 25, units: 184, repartitionUnits: 100 });
    expect(pointsSizing({ files: 3, rows: 3000 })).toMatchObject({ filesPerUnit: 3, units: 1, repartitionUnits: 1 });
    const bad = { ...GBIF, points: { occurrence: { ...GBIF.points!.occurrence, source: 's3://b/dir/file.parquet', hex: { resolution: 8, parents: [9] } } } };
    expect(() => parseDatasetSpec(bad)).toThrow(/points\.occurrence\.source: must be a directory and a file-name pattern/);
    const parents = { ...GBIF, points: { occurrence: { ...GBIF.points!.occurrence, hex: { resolution: 8, parents: [9] } } } };
    expect(() => parseDatasetSpec(parents)).toThrow(/points\.occurrence\.hex\.parents: parent resolution\(s\) 9 are not coarser than the resolution 8/);
    expect(() => synthesize([GBIF], ClusterProfile.NRP)).not.toThrow();
  });
});

/**
 * The fixture: `files` Parquet files of ROWS rows (gbifid, species, year, lon, lat; more than one
 * DuckDB vector of 2,048 rows). Row i of file f: i % 25 picks a special case — 1 null lon, 2 null
 * lat, 3 NaN, 4 infinite, 5 lon 181, 6 lat −91, 7 at 0/0, 8 lon 180, 9 lon −180, 10 lat 90, 11 lat
 * −90, 12 lon 179.9999, 13 lon −179.9999 — others a pseudo-random point. Per file: K = ROWS / 25
 * rows of each case: 2K null, 2K not finite, 2K out of range, K at 0/0.
 */
const ROWS = 3000;
const K = ROWS / 25;
async function writeFixture(dir: string, files: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  for (let f = 0; f < files; f++)
    await db.run(`COPY (SELECT ${f} * 1000 + i AS gbifid, 'species ' || (i % 7) AS species, (1990 + i % 30)::INTEGER AS year,
        CASE i % 25 WHEN 1 THEN NULL WHEN 3 THEN 'NaN'::DOUBLE WHEN 4 THEN 'inf'::DOUBLE WHEN 5 THEN 181 WHEN 7 THEN 0 WHEN 8 THEN 180 WHEN 9 THEN -180
          WHEN 12 THEN 179.9999 WHEN 13 THEN -179.9999 ELSE ((i * 7919 + ${f} * 104729) % 35999 + 1) / 100.0 - 180 END AS decimallongitude,
        CASE i % 25 WHEN 2 THEN NULL WHEN 6 THEN -91 WHEN 7 THEN 0 WHEN 10 THEN 90 WHEN 11 THEN -90
          ELSE ((i * 6271 + ${f} * 7907) % 17000) / 100.0 - 85 END AS decimallatitude
      FROM range(${ROWS}) t(i)) TO ${`'${join(dir, `part-${String(f).padStart(3, '0')}.parquet`)}'`} (FORMAT parquet)`);
  db.closeSync();
}

/** Every product row read back, with the h0 partition of its file. */
async function readBack(hexDir: string) {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  const glob = `'${hexDir}/*/*.parquet'`;
  const types = Object.fromEntries(
    (await db.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${glob}, hive_partitioning = false))`)).getRows().map((r) => [String(r[0]), String(r[1])]),
  );
  const rows = (await db.runAndReadAll(`SELECT gbifid, decimallongitude, decimallatitude, h10, h9, h5, h0, regexp_extract(filename, 'h0=([0-9]+)', 1) AS part, file_row_number
      FROM read_parquet(${glob}, hive_partitioning = false, filename = true, file_row_number = true) ORDER BY part, file_row_number`)).getRowObjects();
  db.closeSync();
  return { types, rows };
}

const hexOf = (v: unknown) => BigInt(v as bigint).toString(16);

function checkProducts(hexDir: string, manifest: any, got: Awaited<ReturnType<typeof readBack>>, files: number) {
  for (const c of ['h10', 'h9', 'h5', 'h0']) expect(got.types[c], c).toBe('UBIGINT');
  const valid = files * (ROWS - 7 * K);
  expect(manifest).toMatchObject({
    kind: 'points', resolution: 10, source_files: files, rows_read: files * ROWS, rows_written: valid, cells: valid,
    bad_coordinates: { null: 2 * K * files, not_finite: 2 * K * files, out_of_range: 2 * K * files, null_island: K * files },
  });
  expect(Object.keys(manifest.files_read)).toHaveLength(files);
  for (const c of Object.values(manifest.files_read) as any[]) expect(c).toMatchObject({ rows: ROWS, written: ROWS - 7 * K });
  expect(got.rows).toHaveLength(valid);
  let prev = { part: '', h10: -1n };
  for (const r of got.rows) {
    const cell = latLngToCell(Number(r.decimallatitude), Number(r.decimallongitude), 10);
    expect(hexOf(r.h10)).toBe(cell);
    expect(hexOf(r.h9)).toBe(cellToParent(cell, 9));
    expect(hexOf(r.h5)).toBe(cellToParent(cell, 5));
    expect(hexOf(r.h0)).toBe(cellToParent(cell, 0));
    expect(BigInt(r.part as string)).toBe(BigInt(r.h0 as bigint));
    // sorted by cell within each partition
    if (r.part === prev.part) expect(BigInt(r.h10 as bigint) >= prev.h10).toBe(true);
    prev = { part: r.part as string, h10: BigInt(r.h10 as bigint) };
  }
  // the antimeridian and both poles are there
  expect(got.rows.filter((r) => Math.abs(Number(r.decimallongitude)) === 180)).toHaveLength(2 * K * files);
  expect(got.rows.filter((r) => Math.abs(Number(r.decimallatitude)) === 90)).toHaveLength(2 * K * files);
  expect(readdirSync(hexDir).length).toBe(manifest.partitions);
}

describe('points end to end (real stages, generated multi-file Parquet)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cng-points-'));
    await writeFixture(join(dir, 'occurrence'), 5);
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('cng local <files> --lon --lat: hex partitions with UBIGINT cells, h0 = parent, sorted, bad coordinates counted', async () => {
    const out = join(dir, 'local');
    const r = cng(['local', join(dir, 'occurrence/*.parquet'), '--lon', 'decimallongitude', '--lat', 'decimallatitude', '--out', out, '--jobs', '2'], { timeout: 300_000 });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`occurrence\\s+5\\s+${5 * ROWS}\\s+${5 * (ROWS - 7 * K)}\\s+${5 * 7 * K}`));
    const manifest = JSON.parse(readFileSync(join(out, 'occurrence/manifest.json'), 'utf8'));
    checkProducts(join(out, 'occurrence/hex'), manifest, await readBack(join(out, 'occurrence/hex')), 5);
    expect(readdirSync(join(out, 'occurrence')).sort()).toEqual(['hex', 'manifest.json']);
  }, 300_000);

  it('cng run of a dataset file: 3 points-hex units over 5 files, 2 repartition units, the same products', async () => {
    const repo = repoCopy();
    try {
      const spec = `import type { DatasetSpec } from '../constructs/index.ts';
export const pointsfix: DatasetSpec = {
  name: 'pointsfix', title: 'Points fixture', run: 1, bucket: 'public-pointsfix', prefix: 'occ',
  points: {
    occurrence: {
      source: 's3://public-pointsfix/raw/occurrence/*.parquet', files: 5, rows: 15000, filesPerUnit: 2,
      lon: 'decimallongitude', lat: 'decimallatitude', columns: ['gbifid', 'year', 'decimallongitude', 'decimallatitude'],
      hex: { resolution: 10 }, repartition: { units: 2 },
    },
  },
  prose: {
    title: 'Points fixture', description: 'Generated occurrences.', license: 'CC0-1.0', citation: 'Generated by the tests.',
    providers: [{ name: 'the tests', roles: ['producer'] }], keywords: ['points'], temporal: [null, null],
  },
};
`;
      writeFileSync(join(repo, 'datasets/pointsfix.ts'), spec);
      writeFileSync(join(repo, 'datasets/index.ts'), "import { pointsfix } from './pointsfix.ts';\nexport const datasets = [pointsfix];\n");
      for (const c of [['synth'], ['validate']]) {
        const x = cng(c, { cwd: repo });
        expect(x.code, x.stderr).toBe(0);
      }
      expect(readdirSync(join(repo, 'dist/pointsfix')).sort()).toEqual(['docs', 'occurrence-points-hex', 'occurrence-points-publish', 'occurrence-points-repartition', 'setup-bucket']);
      const data = join(dir, 'run');
      await writeFixture(join(data, 'store/public-pointsfix/raw/occurrence'), 5);
      const r = cng(['run', 'pointsfix', '--data-dir', data, '--jobs', '2'], { cwd: repo, timeout: 300_000 });
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      const root = join(data, 'store/public-pointsfix/occ/occurrence');
      const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));
      expect(manifest).toMatchObject({ layer: 'occurrence', run: 1, parents: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0] });
      const got = await readBack(join(root, 'hex'));
      checkProducts(join(root, 'hex'), manifest, got, 5);
      expect(Object.keys(got.types).sort()).toEqual(['decimallatitude', 'decimallongitude', 'gbifid', 'h0', 'h1', 'h10', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8', 'h9', 'year']);
      expect(readdirSync(root).sort()).toEqual(['hex', 'manifest.json']); // the work directory is gone
      // The docs stage describes the product: its counts in the README, its hex asset in the STAC.
      const bad = Object.values(manifest.bad_coordinates as Record<string, number>).reduce((a, b) => a + b, 0);
      const readme = readFileSync(join(data, 'store/public-pointsfix/README.md'), 'utf8');
      expect(readme).toContain(`| occurrence (points) | s3://public-pointsfix/raw/occurrence/*.parquet | ${manifest.rows_read.toLocaleString('en-US')} read from 5 files, ${manifest.rows_written.toLocaleString('en-US')} hexed; bad coordinates left out:`);
      expect(manifest.rows_written + bad).toBe(manifest.rows_read);
      const stac = JSON.parse(readFileSync(join(data, 'store/public-pointsfix/stac-collection.json'), 'utf8'));
      expect(stac.assets['occurrence-hex']).toMatchObject({ 'table:row_count': manifest.cells, 'file:size': manifest.bytes, 'cng:h3': { resolution: 10, partitions: manifest.partitions } });
      expect(stac.assets['occurrence-hex'].href).toMatch(/\/public-pointsfix\/occ\/occurrence\/hex\/$/);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  }, 600_000);
});
