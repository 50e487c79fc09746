/**
 * Zipped, remote (fetched) and multi-file vector sources, with real GDAL, the real worker and a
 * loopback HTTP server (a child process, so that `cng run`, a synchronous child, can reach it):
 * `cng local` on a zipped GDB and on a glob of per-state zipped shapefiles, `cng inspect` of both,
 * `cng run` of a dataset that fetches an HTTP zip and merges a glob over its bucket's raw/, and
 * the fetch stage's errors and idempotence.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeVectorDataset } from './fixtures.ts';
import { cng, repoCopy, s3TestBucket } from './helpers.ts';
import { fetchOne } from '../worker/publish/fetch.ts';
import { Storage } from '../worker/io/storage.ts';
import { convertLayer } from '../worker/vector/convert.ts';
import { synthesize, type DatasetSpec } from '../constructs/index.ts';

const box = (x: number, y = 0) => `MULTIPOLYGON(((${x} ${y},${x + 0.4} ${y},${x + 0.4} ${y + 0.4},${x} ${y + 0.4},${x} ${y})))`;

/** Serves `dir`: `/cut/<file>` announces more bytes than it sends; other missing files are 404. ETag = sha256. */
const SERVER = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path'), crypto = require('node:crypto');
const dir = process.argv[1];
const server = http.createServer((req, res) => {
  const cut = req.url.startsWith('/cut/');
  const file = path.join(dir, path.basename(req.url));
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404); return res.end('not found'); }
  const body = fs.readFileSync(file);
  const etag = '"' + crypto.createHash('sha256').update(body).digest('hex').slice(0, 16) + '"';
  res.writeHead(200, { 'content-length': cut ? body.length + 1000 : body.length, etag });
  if (req.method === 'HEAD') return res.end();
  if (cut) { res.write(body.subarray(0, 100)); return setTimeout(() => res.destroy(), 50); }
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

let dir: string;
let server: ChildProcess;
let base: string;

/** Three per-state zipped shapefiles: 01 (Integer ALAND), 02 (+ EXTRA column), 06 (Real ALAND, Web Mercator). */
async function writeTracts(out: string): Promise<void> {
  for (const [i, st] of ['01', '02', '06'].entries()) {
    const fields: [string, string][] = [['GEOID', gdal.OFTString], ['ALAND', i === 2 ? gdal.OFTReal : gdal.OFTInteger]];
    if (i === 1) fields.push(['EXTRA', gdal.OFTString]);
    const shpDir = join(dir, 'shp', st);
    mkdirSync(shpDir, { recursive: true });
    const name = `tl_2024_${st}_tract`;
    const rows = [0, 1].map((k) => ({ GEOID: `${st}00${k}`, ALAND: 100 + k, ...(i === 1 ? { EXTRA: `x${k}` } : {}), wkt: i === 2 ? mercatorBox(i + k * 0.5) : box(i + k * 0.5, 30) }));
    await makeVectorDataset(join(shpDir, `${name}.shp`), 'ESRI Shapefile', [{ name, fields, rows, srs: i === 2 ? 'EPSG:3857' : 'EPSG:4269', geometryType: gdal.wkbPolygon }]);
    execFileSync('zip', ['-qj', join(out, `${name}.zip`), ...['shp', 'shx', 'dbf', 'prj'].map((e) => join(shpDir, `${name}.${e}`))]);
  }
}

/** A box at lon x, lat 30, in EPSG:3857 metres. */
function mercatorBox(x: number): string {
  const R = 6378137;
  const mx = (lon: number) => (R * lon * Math.PI) / 180;
  const my = (lat: number) => R * Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));
  const [x0, x1, y0, y1] = [mx(x), mx(x + 0.4), my(30), my(30.4)];
  return `MULTIPOLYGON(((${x0} ${y0},${x1} ${y0},${x1} ${y1},${x0} ${y1},${x0} ${y0})))`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cng-sources-'));
  mkdirSync(join(dir, 'www'));
  mkdirSync(join(dir, 'tracts'));
  // A FileGDB in a zip, as CalEnviroScreen ships it.
  await makeVectorDataset(join(dir, 'ces.gdb'), 'OpenFileGDB', [
    { name: 'CES', fields: [['Tract', gdal.OFTString], ['Score', gdal.OFTReal]], rows: [0, 1, 2].map((k) => ({ Tract: `t${k}`, Score: k / 2, wkt: box(-120 + k, 36) })) },
  ]);
  execFileSync('zip', ['-qr', join(dir, 'www', 'ces.gdb.zip'), 'ces.gdb'], { cwd: dir });
  await writeTracts(join(dir, 'tracts'));
  server = spawn(process.execPath, ['-e', SERVER, join(dir, 'www')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((ok) => server.stdout!.once('data', (d) => ok(String(d).trim())));
  base = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(() => {
  server?.kill();
  rmSync(dir, { recursive: true, force: true });
});

async function query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjectsJson() as T[];
  } finally {
    c.closeSync();
  }
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('zipped and multi-file sources through cng inspect and cng local', () => {
  it('inspects a zipped GDB (local and over HTTP) and a glob of zips (counts summed)', () => {
    for (const src of [join(dir, 'www', 'ces.gdb.zip'), `${base}/ces.gdb.zip`]) {
      const r = cng(['inspect', src, '--source-path', 'ces.gdb', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const info = JSON.parse(r.stdout);
      expect(info.layers.map((l: { name: string; featureCount: number }) => [l.name, l.featureCount])).toEqual([['CES', 3]]);
    }
    const glob = cng(['inspect', join(dir, 'tracts', 'tl_2024_*_tract.zip'), '--json']);
    expect(glob.code, glob.stderr).toBe(0);
    const info = JSON.parse(glob.stdout);
    expect(info.files.map((f: string) => f.split('/').pop())).toEqual(['tl_2024_01_tract.zip', 'tl_2024_02_tract.zip', 'tl_2024_06_tract.zip']);
    expect(info.layers).toHaveLength(1);
    expect(info.layers[0]).toMatchObject({ name: 'tl_2024_01_tract', featureCount: 6 });
    expect(info.layers[0].fields.map((f: { name: string }) => f.name)).toEqual(['GEOID', 'ALAND', 'EXTRA']);
  });

  it('cng local: a zipped GDB at --source-path', async () => {
    const out = join(dir, 'out-ces');
    const r = cng(['local', join(dir, 'www', 'ces.gdb.zip'), '--source-path', 'ces.gdb', '--out', out, '--resolution', '5', '--parents', '4', '--max-zoom', '3', '--jobs', '2'], { timeout: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const [row] = await query<{ n: number; tracts: string }>(`SELECT count(*)::INT AS n, string_agg(Tract, ',' ORDER BY Tract) AS tracts FROM '${out}/ces.parquet'`);
    expect(row).toEqual({ n: 3, tracts: 't0,t1,t2' });
    expect(JSON.parse(readFileSync(join(out, 'ces', 'manifest.json'), 'utf8')).features).toBe(3);
  }, 300_000);

  it('cng local: a glob of per-state zips merged into one layer, with the file names, nulls and one id sequence', async () => {
    const out = join(dir, 'out-tracts');
    const r = cng(['local', join(dir, 'tracts', 'tl_2024_*_tract.zip'), '--source-file-column', 'source_file', '--out', out, '--resolution', '5', '--parents', '4', '--max-zoom', '3', '--jobs', '2'], { timeout: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const p = `${out}/tl-2024-01-tract.parquet`;
    const rows = await query<{ fid: number; GEOID: string; EXTRA: string | null; source_file: string; ALAND: number }>(`SELECT _cng_fid::INT AS fid, GEOID, EXTRA, source_file, ALAND FROM '${p}' ORDER BY fid`);
    expect(rows.map((x) => x.fid)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rows.map((x) => [x.GEOID, x.source_file, x.EXTRA])).toEqual([
      ['01000', 'tl_2024_01_tract.zip', null], ['01001', 'tl_2024_01_tract.zip', null],
      ['02000', 'tl_2024_02_tract.zip', 'x0'], ['02001', 'tl_2024_02_tract.zip', 'x1'],
      ['06000', 'tl_2024_06_tract.zip', null], ['06001', 'tl_2024_06_tract.zip', null],
    ]);
    const [types] = await query<{ t: string }>(`SELECT typeof(ALAND) AS t FROM '${p}' LIMIT 1`);
    expect(types.t).toBe('DOUBLE'); // Integer in 01 and 02, Real in 06
    // The Web Mercator file was reprojected: its boxes are at lon 2 and 2.5, lat 30.
    const [bbox] = await query<{ x: number; y: number }>(`SELECT round(bbox.xmin, 6) AS x, round(bbox.ymin, 6) AS y FROM '${p}' WHERE GEOID = '06000'`);
    expect(bbox).toEqual({ x: 2, y: 30 });
    const manifest = JSON.parse(readFileSync(join(out, 'tl-2024-01-tract', 'manifest.json'), 'utf8'));
    expect(manifest.features).toBe(6);
    expect(manifest.sources.files).toHaveLength(3);
  }, 300_000);

  it('a column of conflicting types across files is one clear error naming the column, files and types', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    for (const [i, type] of [gdal.OFTString, gdal.OFTInteger].entries())
      await makeVectorDataset(join(bad, `part${i}.gpkg`), 'GPKG', [{ name: 'p', fields: [['code', type]], rows: [{ code: i === 0 ? 'A' : 1, wkt: box(i) }] }]);
    const err = await convertLayer({ source: join(bad, '*.gpkg'), layer: 'p', resolution: 4, units: 1, upload: { out: join(bad, 'o.parquet'), plan: join(bad, 'plan.json') } }).catch((e) => e);
    expect(String(err.message)).toMatch(/column 'code' has conflicting types across the source files: string in part0\.gpkg; integer in part1\.gpkg/);
    expect(readdirSync(bad).sort()).toEqual(['part0.gpkg', 'part1.gpkg']);
  });
});

describe('dataset files with zipped, fetched and multi-file sources', () => {
  const spec = (over: Partial<DatasetSpec>): DatasetSpec => ({ name: 'srcspec', title: 'Sources', run: 1, bucket: 'public-srcspec', layers: { a: { layer: 'a', features: 10 } }, ...over });
  const jobArgs = (manifests: Map<string, Record<string, any>[]>, stage: string): string[] =>
    manifests.get(`srcspec/${stage}/manifest.yaml`)!.find((o) => o.kind === 'Job')!.spec.template.spec.containers[0].command;

  it('a fetched source: one fetch stage before convert and table, which read the raw/ copy at sourcePath', () => {
    const { manifests } = synthesize([spec({ source: ['https://h.example/a/x.zip?download=1', 'https://h.example/b/y.zip'], sourcePath: 'x.gdb', fetch: true, tables: ['t'] })]);
    expect(jobArgs(manifests, 'fetch')).toEqual(expect.arrayContaining(['--source', 'https://h.example/a/x.zip?download=1,https://h.example/b/y.zip', '--raw', 's3://public-srcspec/raw']));
    for (const stage of ['a-convert', 'table-t'])
      expect(jobArgs(manifests, stage)).toEqual(expect.arrayContaining(['--source', 's3://public-srcspec/raw/x.zip,s3://public-srcspec/raw/y.zip', '--source-path', 'x.gdb']));
    const flux = manifests.get('flux/srcspec.yaml')!;
    const convert = flux.find((k) => k.metadata.name === 'srcspec-a-convert')!;
    expect(convert.spec.dependsOn).toEqual([{ name: 'srcspec-fetch' }]);
  });

  it('rejects fetch of a glob or a non-http source, two URLs with one file name, and commas in a source', () => {
    expect(() => synthesize([spec({ source: 's3://b/raw/*.zip', fetch: true })])).toThrow(/fetch: fetch downloads http\(s\) URLs of files; 's3:\/\/b\/raw\/\*\.zip' is not one/);
    expect(() => synthesize([spec({ source: ['https://a.example/x.zip', 'https://b.example/x.zip'], fetch: true })])).toThrow(/'https:\/\/b\.example\/x\.zip' and 'https:\/\/a\.example\/x\.zip' would both be fetched to raw\/x\.zip/);
    expect(() => synthesize([spec({ source: 'a.gpkg,b.gpkg' })])).toThrow(/must not contain ","/);
  });
});

describe('the fetch stage', () => {
  it('records size and sha256, skips an unchanged file, and writes nothing on 404 or a cut-short download', async () => {
    const raw = join(dir, 'raw');
    const storage = new Storage();
    const first = await fetchOne(`${base}/ces.gdb.zip`, join(raw, 'ces.gdb.zip'), storage);
    const want = sha256(join(dir, 'www', 'ces.gdb.zip'));
    expect(first).toMatchObject({ sha256: want, bytes: readFileSync(join(dir, 'www', 'ces.gdb.zip')).length, url: `${base}/ces.gdb.zip` });
    expect(first.etag).toMatch(/^"/);
    expect(sha256(join(raw, 'ces.gdb.zip'))).toBe(want);
    const record = readFileSync(join(raw, 'ces.gdb.zip.fetch.json'), 'utf8');
    expect(JSON.parse(record).sha256).toBe(want);
    const again = await fetchOne(`${base}/ces.gdb.zip`, join(raw, 'ces.gdb.zip'), storage);
    expect(again.unchanged).toBe(true);
    expect(readFileSync(join(raw, 'ces.gdb.zip.fetch.json'), 'utf8')).toBe(record);
    // Without validators in the record: downloaded again, the same sha256, nothing written.
    writeFileSync(join(raw, 'ces.gdb.zip.fetch.json'), JSON.stringify({ ...JSON.parse(record), etag: undefined, lastModified: undefined }));
    const third = await fetchOne(`${base}/ces.gdb.zip`, join(raw, 'ces.gdb.zip'), storage);
    expect(third.unchanged).toBe(true);

    await expect(fetchOne(`${base}/missing.zip`, join(raw, 'missing.zip'), storage)).rejects.toThrow(`fetch ${base}/missing.zip: HTTP 404 Not Found; nothing was written to ${join(raw, 'missing.zip')}`);
    await expect(fetchOne(`${base}/cut/ces.gdb.zip`, join(raw, 'cut.zip'), storage)).rejects.toThrow(/^fetch http:\/\/127\.0\.0\.1:\d+\/cut\/ces\.gdb\.zip: the download broke off after 100 .*; nothing was written/);
    expect(readdirSync(raw).sort()).toEqual(['ces.gdb.zip', 'ces.gdb.zip.fetch.json']);
  });
});

describe('on the S3 test server', () => {
  it('cng-worker fetch into raw/, convert of the zipped raw copy, and a glob over the S3 listing', async () => {
    const { bucket, env, storage } = await s3TestBucket(inject('s3'), 'test-sources');
    const worker = (...args: string[]) => cng(['worker', ...args], { env, timeout: 120_000 });
    const f = worker('fetch', '--source', `${base}/ces.gdb.zip`, '--raw', `s3://${bucket}/raw`);
    expect(f.code, f.stderr).toBe(0);
    const record = JSON.parse(await storage.readText(`s3://${bucket}/raw/ces.gdb.zip.fetch.json`));
    expect(record.sha256).toBe(sha256(join(dir, 'www', 'ces.gdb.zip')));
    expect((await storage.stat(`s3://${bucket}/raw/ces.gdb.zip`))?.size).toBe(record.bytes);
    const again = worker('fetch', '--source', `${base}/ces.gdb.zip`, '--raw', `s3://${bucket}/raw`);
    expect(again.stderr).toMatch(/unchanged/);
    const missing = worker('fetch', '--source', `${base}/nope.zip`, '--raw', `s3://${bucket}/raw`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`fetch ${base}/nope.zip: HTTP 404 Not Found; nothing was written to s3://${bucket}/raw/nope.zip`);

    const convert = (out: string, ...args: string[]) =>
      worker('convert', ...args, '--out', `s3://${bucket}/${out}.parquet`, '--plan', `s3://${bucket}/${out}.json`, '--resolution', '4', '--units', '1');
    const ces = convert('ces', '--source', `s3://${bucket}/raw/ces.gdb.zip`, '--source-path', 'ces.gdb', '--layer', 'CES');
    expect(ces.code, ces.stderr).toBe(0);
    const plan = JSON.parse(await storage.readText(`s3://${bucket}/ces.json`));
    expect(plan.features).toBe(3);
    expect(plan.sources.fetched).toEqual([record]);

    for (const z of readdirSync(join(dir, 'tracts'))) await storage.upload(join(dir, 'tracts', z), `s3://${bucket}/raw/${z}`);
    const tracts = convert('tracts', '--source', `s3://${bucket}/raw/tl_2024_*_tract.zip`, '--layer', 'tl_2024_*_tract', '--source-file-column', 'file');
    expect(tracts.code, tracts.stderr).toBe(0);
    const tplan = JSON.parse(await storage.readText(`s3://${bucket}/tracts.json`));
    expect(tplan.features).toBe(6);
    expect(tplan.sources.files).toEqual(['01', '02', '06'].map((st) => `s3://${bucket}/raw/tl_2024_${st}_tract.zip`));
  }, 300_000);
});

describe('cng run of a dataset with a fetched zipped source and a glob over raw/', () => {
  it('fetches once, reads the raw copy, merges the glob, and records both in manifest.json', async () => {
    const repo = repoCopy();
    try {
      const spec: DatasetSpec = {
        name: 'srcfix', title: 'Source kinds fixture', run: 1, bucket: 'public-srcfix', maxPods: 40, hex: { resolution: 5, parents: [4] },
        layers: {
          ces: { source: `${base}/ces.gdb.zip`, sourcePath: 'ces.gdb', fetch: true, layer: 'CES', features: 3, pmtiles: { maxZoom: 3 } },
          tracts: { source: 's3://public-srcfix/raw/tl_2024_*_tract.zip', layer: 'tl_2024_*_tract', sourceFileColumn: 'source_file', features: 6, pmtiles: { maxZoom: 3 } },
        },
      };
      writeFileSync(join(repo, 'datasets/srcfix.ts'), `import type { DatasetSpec } from '../constructs/index.ts';\nexport const srcfix: DatasetSpec = ${JSON.stringify(spec, null, 2)};\n`);
      writeFileSync(join(repo, 'datasets/index.ts'), "import { srcfix } from './srcfix.ts';\nexport const datasets = [srcfix];\n");
      expect(cng(['synth'], { cwd: repo }).code).toBe(0);
      const fetchJob = readFileSync(join(repo, 'dist/srcfix/fetch/manifest.yaml'), 'utf8');
      expect(fetchJob).toContain(`${base}/ces.gdb.zip`);
      expect(readFileSync(join(repo, 'dist/srcfix/ces-convert/manifest.yaml'), 'utf8')).toMatch(/s3:\/\/public-srcfix\/raw\/ces\.gdb\.zip[\s\S]*--source-path[\s\S]*ces\.gdb/);
      const data = join(dir, 'run-data');
      cpSync(join(dir, 'tracts'), join(data, 'store/public-srcfix/raw'), { recursive: true });
      const r = cng(['run', 'srcfix', '--data-dir', data, '--jobs', '2'], { cwd: repo, timeout: 400_000 });
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const store = join(data, 'store/public-srcfix');
      const fetched = JSON.parse(readFileSync(join(store, 'raw/ces.gdb.zip.fetch.json'), 'utf8'));
      expect(fetched.sha256).toBe(sha256(join(dir, 'www', 'ces.gdb.zip')));
      expect(sha256(join(store, 'raw/ces.gdb.zip'))).toBe(fetched.sha256);
      const ces = JSON.parse(readFileSync(join(store, 'ces/manifest.json'), 'utf8'));
      expect(ces.features).toBe(3);
      expect(ces.sources.fetched[0]).toMatchObject({ url: `${base}/ces.gdb.zip`, sha256: fetched.sha256, bytes: fetched.bytes });
      const tracts = JSON.parse(readFileSync(join(store, 'tracts/manifest.json'), 'utf8'));
      expect(tracts.features).toBe(6);
      const [row] = await query<{ n: number; files: number; nulls: number }>(`SELECT count(*)::INT AS n, count(DISTINCT source_file)::INT AS files, count(*) FILTER (WHERE EXTRA IS NULL)::INT AS nulls FROM '${store}/tracts.parquet'`);
      expect(row).toEqual({ n: 6, files: 3, nulls: 4 });
      const [hex] = await query<{ ids: number }>(`SELECT count(DISTINCT _cng_fid)::INT AS ids FROM read_parquet('${store}/tracts/hex/*/*.parquet')`);
      expect(hex.ids).toBe(6);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  }, 420_000);
});
