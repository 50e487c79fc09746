/**
 * Bad inputs (issue 14, B1, B2, B6): each gives one line naming the input, the feature (its FID in
 * the source) and the fix, or — when the dataset asks for it — a product in which every input
 * feature is accounted for. Real GDAL, GEOS and DuckDB; the last case runs the whole pipeline
 * (the local runner, in-process) on a dataset file with `badGeometry: 'null'`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docsInputFor } from '../cli/manifests/docs.ts';
import { datasetStages, runStages } from '../cli/local/runner.ts';
import { synthesize, type DatasetSpec } from '../constructs/index.ts';
import { gatherFacts } from '../worker/publish/docs/facts.ts';
import { renderReadme } from '../worker/publish/docs/readme.ts';
import { DirStore } from '../worker/io/storage.ts';
import { readGeoParquetMeta } from '../worker/io/geoparquet.ts';
import { convertLayer } from '../worker/vector/convert.ts';
import { checkHexPlan, type HexPlan } from '../worker/vector/plan.ts';
import type { LayerManifest } from '../worker/io/layer-work.ts';
import { makePadusLikeGdb } from './fixtures.ts';
import { ROOT } from './helpers.ts';

let dir: string;
let db: DuckDBConnection;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cng-bad-input-'));
  db = await (await DuckDBInstance.create(':memory:')).connect();
});

afterAll(() => {
  db?.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

/** A GeoJSON FeatureCollection of triangles (`name`, ring as [x, y] pairs); NaN/Infinity written as JSON-C reads them. */
function geojson(path: string, features: [string, number[][]][], crs?: string): string {
  const body = JSON.stringify({
    type: 'FeatureCollection',
    ...(crs ? { crs: { type: 'name', properties: { name: crs } } } : {}),
    features: features.map(([name, ring]) => ({ type: 'Feature', properties: { name }, geometry: { type: 'Polygon', coordinates: [ring.map((p) => p.map((v) => (Number.isFinite(v) ? v : `@${v}@`)))] } })),
  }).replace(/"@(NaN|Infinity|-Infinity)@"/g, '$1');
  writeFileSync(path, body);
  return path;
}

const tri = (x: number, bad?: number): number[][] => [[x, 0], [x + 1, 0], [x + 1, bad ?? 1], [x, 0]];

/** Five features; GDAL's FIDs 0–4: FID 1 has a NaN, FID 3 an infinite coordinate. */
const FIVE: [string, number[][]][] = [['a', tri(0)], ['nan', tri(2, NaN)], ['c', tri(4)], ['inf', tri(6, Infinity)], ['e', tri(8)]];

/** Runs `cng-worker convert`; exit status and stderr. */
function worker(args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/cng-worker.js'), 'convert', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

const lastLine = (s: string) => s.trim().split('\n').pop()!;

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await db.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

describe('a layer with NaN and infinite coordinates (GeoJSON)', () => {
  let src: string;
  beforeAll(() => void (src = geojson(join(dir, 'five.geojson'), FIVE)));

  it('fails by default: one line naming the input, every bad feature by source FID, the reason and the fix; nothing written', () => {
    const out = join(dir, 'five-fail');
    const r = worker(['--source', src, '--layer', 'five', '--out', `${out}/x.parquet`, '--plan', `${out}/plan.json`, '--resolution', '6', '--units', '2']);
    expect(r.status).toBe(1);
    expect(lastLine(r.stderr)).toBe(
      `cng-worker convert: layer 'five' of '${src}': 2 features with an unusable geometry (source FIDs 1, 3: coordinates that are not finite numbers (NaN or infinite)); fix the source, or set badGeometry: 'null' on the layer to keep these rows with a NULL geometry (cng-worker convert --bad-geometry null); nothing was written`,
    );
    expect(r.stderr).not.toMatch(/IllegalArgumentException|orientationIndex|    at /);
    expect(existsSync(out)).toBe(false);
  });

  it("with --bad-geometry null keeps every row (bad ones with a NULL geometry), logs them and records them in the plan", () => {
    const out = join(dir, 'five-null');
    const r = worker(['--source', src, '--layer', 'five', '--out', `${out}/x.parquet`, '--plan', `${out}/plan.json`, '--resolution', '6', '--units', '2', '--bad-geometry', 'null']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "cng-worker convert: 2 features with an unusable geometry kept as rows with a NULL geometry (--bad-geometry null; source FIDs 1, 3: coordinates that are not finite numbers (NaN or infinite); _cng_fid: 2, 4); recorded in the hex plan and manifest.json as bad_geometries\n",
    );
    const plan = JSON.parse(readFileSync(`${out}/plan.json`, 'utf8')) as HexPlan;
    expect(plan).toMatchObject({ features: 5, nullGeometries: 2, badGeometries: { features: 2, ids: [2, 4], sourceFids: [1, 3] } });
    expect([...checkHexPlan(plan)].sort()).toEqual([1, 3, 5]);
  });

  it('every input feature is accounted for: 5 rows, the 2 bad ones with a NULL geometry and bbox', async () => {
    const out = join(dir, 'five-null', 'x.parquet');
    const got = await rows(`SELECT _cng_fid AS id, name, geometry IS NULL AS nogeom, bbox IS NULL AS nobbox FROM read_parquet('${out}') ORDER BY 1`);
    expect(got).toEqual(FIVE.map(([name], i) => ({ id: String(i + 1), name, nogeom: i === 1 || i === 3, nobbox: i === 1 || i === 3 })));
    const geo = (await readGeoParquetMeta(db, out))!;
    expect(geo.columns.geometry.bbox).toEqual([0, 0, 9, 1]);
  });

  it('a projected layer (EPSG:3857) with a NaN coordinate names it the same way (the NaN survives reprojection)', async () => {
    const m = (x: number, bad?: number) => tri(x, bad).map(([a, b]) => [a * 1000, b * 1000]);
    const proj = geojson(join(dir, 'proj.geojson'), [['a', m(0)], ['nan', m(2, NaN)]], 'urn:ogc:def:crs:EPSG::3857');
    const out = join(dir, 'proj');
    await expect(convertLayer({ source: proj, layer: 'proj', resolution: 6, units: 1, upload: { out: `${out}/x.parquet`, plan: `${out}/p.json` } })).rejects.toThrow(
      `layer 'proj' of '${proj}': 1 feature with an unusable geometry (source FID 1: coordinates that are not finite numbers (NaN or infinite)); fix the source`,
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe('a FileGDB layer whose .gdbtable is cut inside its rows', () => {
  it('fails naming the input, the unreadable source FIDs, GDAL\'s reason and the fix; the others are accounted for; nothing written', async () => {
    const gdb = await makePadusLikeGdb(mkdtempSync(join(dir, 'gdb-')));
    const cut = join(dir, 'cut-rows.gdb');
    cpSync(gdb, cut, { recursive: true });
    const table = join(cut, 'a00000009.gdbtable'); // PADUS4_1Fee: FIDs 1–3, the last row at the end
    truncateSync(table, readFileSync(table).length - 1);
    const out = join(dir, 'cut-rows');
    const r = worker(['--source', cut, '--layer', 'PADUS4_1Fee', '--out', `${out}/x.parquet`, '--plan', `${out}/plan.json`, '--resolution', '6', '--units', '1']);
    expect(r.status).toBe(1);
    expect(lastLine(r.stderr)).toMatch(new RegExp(
      `^cng-worker convert: cannot read layer 'PADUS4_1Fee' of '${cut}': 1 of its 3 features is unreadable \\(source FID 3; GDAL: Error occurred in .*filegdbtable\\.cpp at line \\d+\\); the source is damaged or cut short, or a network read failed: check it \\(ogrinfo -al -so\\), copy it again from its origin if it is cut short, and re-run; nothing was written$`,
    ));
    expect(existsSync(out)).toBe(false);
  });
});

describe('a layer with 0 features', () => {
  it('converts to a valid empty GeoParquet and a plan of empty work units, saying so in one line', async () => {
    const src = geojson(join(dir, 'none.geojson'), []);
    const out = join(dir, 'none');
    const r = worker(['--source', src, '--layer', 'none', '--out', `${out}/x.parquet`, '--plan', `${out}/plan.json`, '--resolution', '6', '--units', '2', '--expected-features', '0']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`cng-worker convert: layer 'none' of '${src}' has 0 features: writing an empty GeoParquet and a plan of 2 empty work unit(s)\n`);
    const plan = JSON.parse(readFileSync(`${out}/plan.json`, 'utf8')) as HexPlan;
    expect(plan).toMatchObject({ features: 0, nullGeometries: 0, estimatedCells: 0 });
    expect(plan.workUnits.map((u) => u.items)).toEqual([[], []]);
    expect(checkHexPlan(plan).size).toBe(0);
    expect(await rows(`SELECT count(*) AS n FROM read_parquet('${out}/x.parquet')`)).toEqual([{ n: '0' }]);
    const geo = (await readGeoParquetMeta(db, `${out}/x.parquet`))!;
    expect(geo).toMatchObject({ version: '1.1.0', primary_column: 'geometry', columns: { geometry: { encoding: 'WKB', geometry_types: [] } } });
    expect(geo.columns.geometry).not.toHaveProperty('bbox');
  });
});

describe("the whole pipeline with badGeometry: 'null' (dataset file → local runner)", () => {
  it('records the bad rows in manifest.json and the README, and every feature is in the products', async () => {
    const spec: DatasetSpec = {
      name: 'badgeom', title: 'Bad geometries', run: 1, source: 's3://public-badgeom/raw/five.geojson', bucket: 'public-badgeom', prefix: 'badgeom-1',
      hex: { resolution: 5, parents: [4] },
      layers: { five: { layer: 'five', features: 5, badGeometry: 'null', pmtiles: { maxZoom: 4 } } },
    };
    const store = join(dir, 'store');
    mkdirSync(join(store, 'public-badgeom/raw'), { recursive: true });
    geojson(join(store, 'public-badgeom/raw/five.geojson'), FIVE);
    const stages = datasetStages(synthesize([spec]).manifests, 'badgeom');
    const convert = stages.find((s) => s.kind === 'convert')!.jobs[0].spec.template.spec.containers[0].command as string[];
    expect(convert.slice(convert.indexOf('--bad-geometry'), convert.indexOf('--bad-geometry') + 2)).toEqual(['--bad-geometry', 'null']);
    const quiet = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    (quiet as unknown as PassThrough).resume();
    const results = await runStages({ dataset: 'badgeom', stages, storeDir: store, stateDir: join(dir, 'runs'), jobs: 2, out: quiet });
    expect(results.filter((r) => r.status !== 'done').map((r) => r.stage.id)).toEqual([]);

    const root = join(store, 'public-badgeom/badgeom-1');
    const manifest = JSON.parse(readFileSync(join(root, 'five/manifest.json'), 'utf8')) as LayerManifest;
    expect(manifest).toMatchObject({ features: 5, null_geometries: 2, features_hexed: 3, bad_geometries: { features: 2, ids: [2, 4], sourceFids: [1, 3] } });
    // Every feature: in the GeoParquet, and in the hex product unless its geometry was unusable.
    const hexed = await rows(`SELECT DISTINCT _cng_fid AS id FROM read_parquet('${root}/five/hex/*/*.parquet') ORDER BY 1`);
    expect(hexed.map((r) => Number(r.id))).toEqual([1, 3, 5]);
    expect(await rows(`SELECT count(*) AS n FROM read_parquet('${root}/five.parquet')`)).toEqual([{ n: '5' }]);

    const prose = {
      title: 'Bad geometries', description: 'Five triangles, two of them broken.', license: 'CC0-1.0', citation: 'Test.',
      providers: [{ name: 'Test', roles: ['producer'] }], keywords: ['test'], temporal: [null, null],
    };
    const input = { ...docsInputFor(spec), prose } as ReturnType<typeof docsInputFor>;
    const { facts } = await gatherFacts(input, new DirStore(store));
    expect(renderReadme(input, facts)).toContain(
      '- Note: 2 features had an unusable geometry in the source (NaN or infinite coordinates, or one GEOS cannot process) and are kept with a NULL geometry (ids 2, 4; source FIDs 1, 3).',
    );
  }, 180_000);
});
