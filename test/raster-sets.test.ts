/**
 * Raster sets (issue #15 item 3): many rasters of one product declared with `rasterSet`, a value
 * column, value kind and scale per raster, zipped sources (`/vsizip/`), and a raster that cannot
 * be read — a failed cog stage naming the raster and its source, or a declared `skip` the README
 * and STAC state. Fixtures are written here with GDAL (GeoTIFFs, a zip, a TIFF with a broken IFD).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import gdal from 'gdal-async';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatasetSpec, publicKeys, rasterSet, synthesize, type DatasetSpec, type Manifests } from '../constructs/index.ts';
import { cogStage } from '../worker/raster/cog.ts';
import { collectStatus } from '../cli/cluster/collect.ts';
import type { ClusterReader } from '../cli/cluster/k8s.ts';
import { rasterSetLine } from '../cli/cluster/status.ts';
import { corruptIfd, writeRaster } from './raster-fixtures.ts';
import { zipFiles } from './fixtures.ts';
import { cng, duckRows, repoCopy, ROOT, stacProblems } from './helpers.ts';

const query = duckRows;

const hexGlob = (dir: string) => `read_parquet('${dir}/**/*.parquet', hive_partitioning = true, hive_types = {'h0': UBIGINT})`;

/** A 1° × 1° lon/lat raster of 20 × 20 pixels, one value everywhere but nodata in its first row. */
function uniform(path: string, type: 'Int16' | 'UInt16' | 'Float32', value: number, nodata: number): string {
  return writeRaster(path, { width: 20, height: 20, type, nodata, geoTransform: [10, 0.05, 0, 46, 0, -0.05], value: (_x, y) => (y === 0 ? nodata : value) });
}

function specError(spec: DatasetSpec): string {
  try {
    parseDatasetSpec(spec);
  } catch (err) {
    return (err as Error).message;
  }
  return '(no error)';
}

const GROUPS = ['Birds_SR', 'Combined_RWR'];

/** The fixture set as a dataset file would write it (also the docs' example shape). */
function setSpec(over: Partial<DatasetSpec> = {}): DatasetSpec {
  return {
    name: 'rset',
    title: 'Raster set fixture',
    run: 1,
    bucket: 'public-rset',
    maxPods: 20,
    rasters: rasterSet(
      {
        ...Object.fromEntries(GROUPS.map((g) => [g, {}])),
        Vulnerable_2018: { source: '/vsizip//vsis3/public-rset/raw/vulnerable_2018.zip', valueColumn: 'carbon' },
        Irrecoverable_2010: { source: '/vsizip//vsis3/public-rset/raw/irrecoverable_2010.zip', valueColumn: 'carbon', skip: 'corrupt TIFF IFD in the published zip' },
      },
      { source: 's3://public-rset/raw/{name}.tif', valueKind: 'continuous', valueColumn: '{column}', hex: { resolution: 5 } },
    ),
    ...over,
  };
}

describe('rasterSet and the raster fields of a dataset file', () => {
  it('makes one raster per name: keys, {name}/{key}/{column} filled in, per-name fields override the template', () => {
    const r = setSpec().rasters!;
    expect(Object.keys(r)).toEqual(['birds-sr', 'combined-rwr', 'vulnerable-2018', 'irrecoverable-2010']);
    expect(r['birds-sr']).toEqual({ source: 's3://public-rset/raw/Birds_SR.tif', valueKind: 'continuous', valueColumn: 'birds_sr', hex: { resolution: 5 } });
    expect(r['vulnerable-2018']).toMatchObject({ source: '/vsizip//vsis3/public-rset/raw/vulnerable_2018.zip', valueColumn: 'carbon' });
    expect(r['irrecoverable-2010'].skip).toBe('corrupt TIFF IFD in the published zip');
    expect(() => rasterSet(['A_b', 'a-B'], { valueKind: 'count', source: 'x.tif' })).toThrow(/'a-B' gives the key 'a-b' of an earlier name/);
    expect(specError(setSpec())).toBe('(no error)');
  });

  it('refuses value columns the pipeline writes, scales of class codes, offsets of counts, one column for many bands, and a set with every raster skipped', () => {
    const one = (raster: Record<string, unknown>) => specError(setSpec({ rasters: { a: { source: 'a.tif', valueKind: 'continuous', ...raster } as any } }));
    expect(one({ valueColumn: 'coverage' })).toMatch(/rasters\.a\.valueColumn: is a column the pipeline writes itself/);
    expect(one({ valueColumn: 'h8' })).toMatch(/rasters\.a\.valueColumn/);
    expect(one({ valueColumn: 'Birds SR' })).toMatch(/rasters\.a\.valueColumn: must be lower-case letters/);
    expect(one({ valueKind: 'categorical', scale: 2 })).toMatch(/rasters\.a\.scale: a categorical raster has class codes/);
    expect(one({ valueKind: 'count', offset: 1 })).toMatch(/rasters\.a\.offset: a count raster's cells sum/);
    expect(one({ scale: 0 })).toMatch(/rasters\.a\.scale: must not be 0/);
    expect(one({ bands: [1, 2], valueColumn: 'x' })).toMatch(/rasters\.a\.valueColumn: names the one value column of a single-band raster; 2 bands/);
    expect(one({ skip: 'gone' })).toMatch(/rasters: every raster is skipped/);
  });

  it('synth: a skipped raster has no stages and no public keys; the others pass --raster, --value-column and --scale to cog; docs list every raster', () => {
    const spec = setSpec({ rasters: { ...setSpec().rasters, ncp: { source: 's3://public-rset/raw/ncp.tif', valueKind: 'continuous', valueColumn: 'ncp', scale: 1 / 19 } }, prose: PROSE });
    const { manifests } = synthesize([spec]);
    const ids = (manifests.get('flux/rset.yaml') ?? []).map((k: any) => String(k.spec.path).split('/').pop()!);
    expect(ids.filter((s) => s.startsWith('irrecoverable'))).toEqual([]);
    expect(ids).toContain('vulnerable-2018-raster-manifest');
    const cog = jobArgs(manifests, 'ncp-cog');
    expect(cog.slice(cog.indexOf('--raster'), cog.indexOf('--raster') + 2)).toEqual(['--raster', 'ncp']);
    expect(cog.slice(cog.indexOf('--value-column'))).toEqual(['--value-column', 'ncp', '--scale', String(1 / 19)]);
    const docs = JSON.parse(jobArgs(manifests, 'docs').at(-1)!);
    expect(docs.rasters.map((r: any) => [r.key, r.skip ?? null])).toEqual([
      ['birds-sr', null], ['combined-rwr', null], ['vulnerable-2018', null], ['irrecoverable-2010', 'corrupt TIFF IFD in the published zip'], ['ncp', null],
    ]);
    expect(docs.rasters.at(-1)).toMatchObject({ valueColumn: 'ncp', scale: 1 / 19 });
    expect(publicKeys(parseDatasetSpec(spec)).filter((k) => k.includes('irrecoverable'))).toEqual([]);
  });
});

describe('cng status of a raster set', () => {
  it('says per raster: complete, FAILED with its stage, skipped with the reason, in progress', async () => {
    const spec = setSpec();
    const { manifests } = synthesize([spec]);
    const done = { conditions: [{ type: 'Complete', status: 'True' }], succeeded: 1, startTime: '2026-01-01T00:00:00Z', completionTime: '2026-01-01T00:10:00Z' };
    const failed = { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }], failed: 1, startTime: '2026-01-01T00:00:00Z' };
    const statusOf = (stage: string) =>
      /^birds-sr-/.test(stage) || stage === 'setup-bucket' ? done : stage === 'vulnerable-2018-cog' ? failed : stage === 'combined-rwr-cog' ? { active: 1, startTime: '2026-01-01T00:00:00Z' } : {};
    const jobs = [...manifests].flatMap(([path, objs]) => {
      const stage = /^rset\/([^/]+)\/manifest\.yaml$/.exec(path)?.[1];
      return stage ? objs.filter((o: any) => o.kind === 'Job').map((j: any) => ({ ...j, status: statusOf(stage) })) : [];
    });
    const reader = {
      namespace: 'biodiversity', context: 'test', server: 'http://127.0.0.1:1',
      listJobs: async () => jobs, listPods: async () => [], listEvents: async () => [], listKustomizations: async () => [], podLog: async () => '',
      read: async () => undefined, listResourceQuotas: async () => [],
    } as unknown as ClusterReader;
    const { report } = await collectStatus(reader, { dataset: 'rset', specs: [spec], now: '2026-01-01T01:00:00Z' });
    expect(report.datasets[0].rasters).toEqual([
      { key: 'birds-sr', status: 'complete' },
      { key: 'combined-rwr', status: 'in progress' },
      { key: 'vulnerable-2018', status: 'failed', detail: 'vulnerable-2018-cog' },
      { key: 'irrecoverable-2010', status: 'skipped', detail: 'corrupt TIFF IFD in the published zip' },
    ]);
    expect(rasterSetLine(report.datasets[0].rasters!)).toBe(
      'rasters: 1 of 4 complete; FAILED vulnerable-2018 (stage vulnerable-2018-cog); skipped irrecoverable-2010 (corrupt TIFF IFD in the published zip); in progress combined-rwr',
    );
  });
});

function jobArgs(manifests: Manifests, stage: string): string[] {
  const job = (manifests.get(`rset/${stage}/manifest.yaml`) ?? []).find((o: any) => o.kind === 'Job');
  return job!.spec.template.spec.containers[0].command;
}

describe('the cog stage on a raster it cannot read', () => {
  it('fails with one line naming the raster and the source, writes cog-failed.json next to the info; a later success removes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cng-rset-cog-'));
    try {
      const tif = corruptIfd(uniform(join(dir, 'Irrecoverable_Carbon_2010.tif'), 'UInt16', 80, 65535));
      const zip = zipFiles(join(dir, 'irrecoverable_2010.zip'), [tif]);
      const source = `/vsizip/${zip}`;
      const opts = { source, out: join(dir, 'cog/irr.tif'), info: join(dir, '_work/irr/cog.json'), 'value-kind': 'continuous', raster: 'irrecoverable-2010' };
      const err = await cogStage(opts).then(() => null, (e: Error) => e);
      expect(err?.message).toMatch(new RegExp(`^raster irrecoverable-2010: cannot open '${source}' as a raster: .*TIFF`));
      expect(err?.message).not.toContain('\n');
      const record = JSON.parse(readFileSync(join(dir, '_work/irr/cog-failed.json'), 'utf8'));
      expect(record).toMatchObject({ version: 1, raster: 'irrecoverable-2010', sources: [source], error: err!.message });
      expect(existsSync(opts.out)).toBe(false);
      // The same raster fixed upstream: the cog stage succeeds and the failure record goes.
      const good = zipFiles(join(dir, 'fixed.zip'), [uniform(join(dir, 'fixed/Irrecoverable_Carbon_2010.tif'), 'UInt16', 80, 65535)]);
      await cogStage({ ...opts, source: `/vsizip/${good}` });
      expect(existsSync(join(dir, '_work/irr/cog-failed.json'))).toBe(false);
      expect(JSON.parse(readFileSync(opts.info, 'utf8')).sources).toEqual([`/vsizip/${good}`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cng local: value column, scale and zipped rasters', () => {
  it("NCP's value / 19: the hex column is named, its values scaled; the COG keeps raw pixels with GDAL scale metadata", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cng-rset-local-'));
    try {
      const zip = zipFiles(join(dir, 'ncp_only.zip'), [uniform(join(dir, 'src/NCP_only.tif'), 'Int16', 19, -128)]);
      const out = join(dir, 'out');
      const r = cng(['local', `/vsizip/${zip}`, '--out', out, '--value-column', 'ncp', '--scale', '1/19', '--resolution', '5', '--jobs', '2'], { timeout: 600_000 });
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      const m = JSON.parse(readFileSync(join(out, 'ncp-only/manifest.json'), 'utf8'));
      expect(m).toMatchObject({ valueKind: 'continuous', scale: 1 / 19, offset: 0, bands: [{ column: 'ncp', dataType: 'Int16' }] });
      expect(m.valueRange.ncp[0]).toBeCloseTo(1, 12);
      expect(m.valueRange.ncp[1]).toBeCloseTo(1, 12);
      const [row] = await query(`SELECT count(*) AS n, min(ncp) AS lo, max(ncp) AS hi FROM ${hexGlob(join(out, 'ncp-only/hex'))}`);
      expect(Number(row.n)).toBe(m.cells);
      expect(Number(row.lo)).toBeCloseTo(1, 12);
      expect(Number(row.hi)).toBeCloseTo(1, 12);
      const cols = await query(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${hexGlob(join(out, 'ncp-only/hex'))})`);
      expect(cols.map((c) => c.column_name)).toEqual(['h5', 'ncp', 'coverage', 'h0']);
      const ds = gdal.open(join(out, 'ncp-only.tif'));
      const band = ds.bands.get(1);
      expect([band.dataType, band.scale, band.offset]).toEqual(['Int16', 1 / 19, 0]);
      expect(band.pixels.read(0, 5, 1, 1)[0]).toBe(19); // raw
      ds.close();
      // A zip whose TIFF is broken: one line naming the source, exit 1, nothing written.
      const bad = zipFiles(join(dir, 'bad.zip'), [corruptIfd(uniform(join(dir, 'src2/Irr_2010.tif'), 'UInt16', 80, 65535))]);
      const f = cng(['local', `/vsizip/${bad}`, '--out', join(dir, 'bad-out')]);
      expect(f.code).toBe(1);
      expect(f.stderr.trim()).toMatch(new RegExp(`^cng local: cannot open '/vsizip/${bad}': .*TIFF`));
      expect(cng(['local', `/vsizip/${zip}`, '--out', out, '--scale', 'a third']).stderr).toMatch(/--scale must be a number or a fraction such as 1\/19, got 'a third'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});

const PROSE = {
  title: 'Raster set fixture',
  description: 'Rasters for the raster set tests.',
  license: 'CC-BY-4.0',
  citation: 'Test producer, 2026.',
  providers: [{ name: 'Test producer', roles: ['producer' as const] }],
  keywords: ['richness', 'carbon'],
  temporal: ['2018-01-01T00:00:00Z', null] as [string, null],
  rasters: {
    'birds-sr': { title: 'Bird species richness', description: 'Species per pixel.', units: 'species' },
    'combined-rwr': { title: 'Range-weighted richness', description: 'Range-weighted richness.' },
    'vulnerable-2018': { title: 'Vulnerable carbon 2018', description: 'Carbon lost on conversion.', units: 'Mg C / ha' },
    'irrecoverable-2010': { title: 'Irrecoverable carbon 2010', description: 'Carbon that cannot recover by 2050.', units: 'Mg C / ha' },
  },
};

const DATASETS = `import { rasterSet, type DatasetSpec } from '../constructs/index.ts';
const prose = ${JSON.stringify(PROSE)};
export const rset: DatasetSpec = ${JSON.stringify({ ...setSpec(), prose: '@PROSE@' })};
/** The same set without the skip: its irrecoverable 2010 raster fails. */
export const rsetbad: DatasetSpec = ${JSON.stringify({
  ...setSpec(), name: 'rsetbad', bucket: 'public-rsetbad', prose: '@PROSE@',
  rasters: { 'irrecoverable-2010': { ...setSpec().rasters!['irrecoverable-2010'], source: '/vsizip//vsis3/public-rsetbad/raw/irrecoverable_2010.zip', skip: undefined } },
})};
`.replaceAll('"@PROSE@"', 'prose');

describe('cng run of a raster set (directory store)', () => {
  let repo: string;
  let data: string;
  beforeAll(() => {
    repo = repoCopy();
    data = mkdtempSync(join(tmpdir(), 'cng-rset-run-'));
    writeFileSync(join(repo, 'datasets/rset.ts'), DATASETS);
    // docs/datasets.md's complete raster set example, as a dataset file of its own
    const md = readFileSync(join(ROOT, 'docs/datasets.md'), 'utf8');
    writeFileSync(join(repo, 'datasets/carbon-v2.ts'), /### Raster sets[\s\S]*?```ts\n([\s\S]*?)```/.exec(md)![1]);
    writeFileSync(
      join(repo, 'datasets/index.ts'),
      "import { rset, rsetbad } from './rset.ts';\nimport { carbonV2 } from './carbon-v2.ts';\nexport const datasets = [rset, rsetbad, carbonV2];\n",
    );
    const raw = join(data, 'store/public-rset/raw');
    uniform(join(raw, 'Birds_SR.tif'), 'Int16', 7, -1);
    uniform(join(raw, 'Combined_RWR.tif'), 'Float32', 0.375, -1);
    zipFiles(join(raw, 'vulnerable_2018.zip'), [uniform(join(data, 'src/Vulnerable_C_Total_2018.tif'), 'UInt16', 120, 65535)]);
    const broken = corruptIfd(uniform(join(data, 'src/Irrecoverable_C_Total_2010.tif'), 'UInt16', 80, 65535));
    zipFiles(join(raw, 'irrecoverable_2010.zip'), [broken]);
    mkdirSync(join(data, 'store/public-rsetbad/raw'), { recursive: true });
    zipFiles(join(data, 'store/public-rsetbad/raw/irrecoverable_2010.zip'), [broken]);
  });
  afterAll(() => {
    if (repo) rmSync(repo, { recursive: true, force: true });
    if (data) rmSync(data, { recursive: true, force: true });
  });

  it('synthesizes and validates', () => {
    const synth = cng(['synth'], { cwd: repo });
    expect(synth.code, synth.stderr).toBe(0);
    expect(cng(['validate'], { cwd: repo }).code).toBe(0);
    // The docs example: its skipped raster has no stages, the others read their Zenodo zip in place.
    const ids = readdirSync(join(repo, 'dist/carbon-v2')).sort();
    expect(ids).toEqual(['irrecoverable-2018-cog', 'irrecoverable-2018-raster-hex', 'irrecoverable-2018-raster-manifest', 'setup-bucket', 'vulnerable-2018-cog', 'vulnerable-2018-raster-hex', 'vulnerable-2018-raster-manifest']);
    const cog = readFileSync(join(repo, 'dist/carbon-v2/vulnerable-2018-cog/manifest.yaml'), 'utf8');
    expect(cog).toContain('/vsizip/{/vsicurl/https://zenodo.org/records/17645053/files/07_Vulnerable_Carbon_Total_v1a_300m_2018.zip?download=1}');
  }, 120_000);

  it('publishes every raster but the skipped one: named value columns, floats kept, a zipped source; README and STAC say which one is not published', async () => {
    const r = cng(['run', 'rset', '--data-dir', data, '--jobs', '2'], { cwd: repo, timeout: 900_000 });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const root = join(data, 'store/public-rset');
    const values: Record<string, [string, number]> = { 'birds-sr': ['birds_sr', 7], 'combined-rwr': ['combined_rwr', 0.375], 'vulnerable-2018': ['carbon', 120] };
    for (const [key, [column, value]] of Object.entries(values)) {
      const m = JSON.parse(readFileSync(join(root, `hex/${key}/manifest.json`), 'utf8'));
      expect(m.bands.map((b: any) => b.column)).toEqual([column]);
      const [row] = await query(`SELECT count(*) AS n, min(${column}) AS lo, max(${column}) AS hi FROM ${hexGlob(join(root, `hex/${key}`))}`);
      expect(Number(row.n), key).toBe(m.cells);
      // The area-weighted mean of one value is that value (floats stay floats: 0.375, not 0).
      expect(Number(row.lo), key).toBeCloseTo(value, 9);
      expect(Number(row.hi), key).toBeCloseTo(value, 9);
    }
    expect(existsSync(join(root, 'cog/irrecoverable-2010.tif'))).toBe(false);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('**3 of 4 rasters published.** Not published: irrecoverable-2010 (corrupt TIFF IFD in the published zip).');
    expect(readme).toContain('**Not published**: corrupt TIFF IFD in the published zip (source `/vsizip//vsis3/public-rset/raw/irrecoverable_2010.zip`).');
    const stac = JSON.parse(readFileSync(join(root, 'stac-collection.json'), 'utf8'));
    expect(stacProblems(stac)).toEqual([]);
    expect(stac['cng:rasters']).toEqual({
      'birds-sr': { status: 'published' }, 'combined-rwr': { status: 'published' }, 'vulnerable-2018': { status: 'published' },
      'irrecoverable-2010': { status: 'skipped', reason: 'corrupt TIFF IFD in the published zip' },
    });
    expect(Object.keys(stac.assets).filter((a) => a.startsWith('irrecoverable'))).toEqual([]);
    expect(stac.assets['vulnerable-2018-hex']['table:columns'].map((c: any) => c.name)).toContain('carbon');
  }, 900_000);

  it('an unreadable raster without skip: its cog stage fails naming raster and source, the docs stage is not run, and cng docs says which raster failed', () => {
    const r = cng(['run', 'rsetbad', '--data-dir', data, '--jobs', '2'], { cwd: repo, timeout: 300_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stage irrecoverable-2010-cog failed/);
    expect(r.stderr).toMatch(/raster irrecoverable-2010: cannot open '\/vsizip\/\/vsis3\/public-rsetbad\/raw\/irrecoverable_2010\.zip' as a raster: .*TIFF/);
    const root = join(data, 'store/public-rsetbad');
    expect(JSON.parse(readFileSync(join(root, '_work/irrecoverable-2010/cog-failed.json'), 'utf8')).raster).toBe('irrecoverable-2010');
    expect(existsSync(join(root, 'README.md'))).toBe(false);
    const docs = cng(['docs', 'rsetbad', '--data-dir', data, '--out', join(data, 'docs-out')], { cwd: repo });
    expect(docs.code).toBe(1);
    expect(docs.stderr).toMatch(/raster irrecoverable-2010 failed \(raster irrecoverable-2010: cannot open .*\): fix its source or declare it rasters\.irrecoverable-2010\.skip: '<reason>'/);
  }, 300_000);
});
