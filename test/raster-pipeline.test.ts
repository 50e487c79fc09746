/**
 * The raster pipeline's integration (issue #5): the raster dataset construct (synth, policy, spec
 * errors, both layouts), the docs stage over raster products (README + STAC from manifest.json and
 * the files), and end to end `cng local <raster>` and `cng run` of a raster dataset with the real
 * worker stages (cog, raster-hex, raster-manifest) and the directory store.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { cellToParent, getResolution, latLngToCell } from 'h3-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandArgs } from '../worker/core/command.ts';
import { checkDatasetDocs, docsInputFor } from '../cli/manifests/docs.ts';
import { localRasterSpec } from '../cli/local/run.ts';
import {
  checkManifests, ClusterProfile, parseDatasetSpec, synthesize, type DatasetProse, type DatasetSpec, type DocsInput, type Manifests,
} from '../constructs/index.ts';
import { padus41 } from '../datasets/padus-4-1.ts';
import { checkProse } from '../worker/publish/docs/check.ts';
import { generateDocs } from '../worker/publish/docs/stage.ts';
import { COG_MEDIA_TYPE } from '../worker/publish/docs/stac.ts';
import { STAGES, workerStages } from '../worker/main.ts';
import { excludedKey } from '../worker/publish/sync.ts';
import { DirStore, Storage } from '../worker/io/storage.ts';
import { writeRaster } from './raster-fixtures.ts';
import { cng, duckRows, repoCopy, ROOT, smallSpec, stacProblems } from './helpers.ts';

const NRP = ClusterProfile.NRP;
const jobsOf = (m: Manifests) => [...m.values()].flat().filter((o) => o.kind === 'Job');
const command = (job: any): string[] => job.spec.template.spec.containers[0].command;
const envOf = (job: any, name: string) => job.spec.template.spec.containers[0].env.find((e: any) => e.name === name)?.value;

/** Two rasters in pattern B: a continuous one and a categorical mosaic of two tiles. */
const CARBON: DatasetSpec = {
  name: 'carbon',
  title: 'Carbon',
  run: 1,
  bucket: 'public-carbon',
  prefix: 'carbon-2018',
  rasters: {
    'vulnerable-carbon': { source: 's3://public-carbon/raw/vulnerable_c_total_2018.tif', valueKind: 'continuous', hex: { parents: [6, 4] } },
    landcover: {
      source: ['s3://public-carbon/raw/lc_a.tif', 's3://public-carbon/raw/lc_b.tif'],
      valueKind: 'categorical',
      name: 'land-cover',
      bands: [1],
      nodata: [255],
      resources: { 'raster-hex': { memory: '6Gi' } },
    },
  },
  resources: { cog: { cpu: '4' } },
};

const PROSE: DatasetProse = {
  title: 'Carbon rasters (test)',
  description: 'Rasters for the raster pipeline tests.',
  license: 'CC-BY-4.0',
  citation: 'Test producer, 2025.',
  providers: [{ name: 'Test producer', roles: ['producer'] }],
  keywords: ['carbon', 'land cover'],
  temporal: ['2018-01-01T00:00:00Z', null],
  rasters: {
    'vulnerable-carbon': { title: 'Vulnerable carbon', description: 'Carbon lost when the land is converted.', units: 'Mg C / ha' },
    landcover: { title: 'Land cover', description: 'Land cover classes.', classes: { '1': 'Forest', '2': 'Water', '3': 'Urban' } },
  },
};

function specError(spec: unknown): string {
  try {
    parseDatasetSpec(spec as DatasetSpec);
  } catch (err) {
    return (err as Error).message;
  }
  return '(no error)';
}

describe('the raster dataset construct (synth)', () => {
  const { manifests, datasets } = synthesize([CARBON]);
  const stage = (id: string) => manifests.get(`carbon/${id}/manifest.yaml`)!.filter((o) => o.kind === 'Job');
  const flux = manifests.get('flux/carbon.yaml')!;
  const kustomization = (id: string) => flux.find((k) => k.metadata.name === `carbon-${id}`)!;

  it('orders setup-bucket → cog → raster-hex → raster-manifest per raster, with Flux dependsOn and labels', () => {
    expect(flux.map((k) => k.metadata.name).sort()).toEqual(
      ['setup-bucket', 'landcover-cog', 'landcover-raster-hex', 'landcover-raster-manifest', 'vulnerable-carbon-cog', 'vulnerable-carbon-raster-hex', 'vulnerable-carbon-raster-manifest']
        .map((s) => `carbon-${s}`)
        .sort(),
    );
    for (const key of ['vulnerable-carbon', 'landcover']) {
      expect(kustomization(`${key}-cog`).spec.dependsOn).toEqual([{ name: 'carbon-setup-bucket' }]);
      expect(kustomization(`${key}-raster-hex`).spec.dependsOn).toEqual([{ name: `carbon-${key}-cog` }]);
      expect(kustomization(`${key}-raster-manifest`).spec.dependsOn).toEqual([{ name: `carbon-${key}-raster-hex` }]);
      for (const kind of ['cog', 'raster-hex', 'raster-manifest']) {
        const k = kustomization(`${key}-${kind}`);
        expect(k.metadata.labels).toMatchObject({ 'cng/stage': kind, 'cng/layer': key, 'cng/dataset': 'carbon' });
        // short health checks, polled: a running stage holds no Flux worker (docs/runbook.md)
        expect([k.spec.wait, k.spec.timeout, k.spec.retryInterval]).toEqual([true, '1m', '5m']);
      }
    }
    // No prose, no mirror: no docs or sync stage.
    expect(datasets[0].stages.map((s) => s.kind)).not.toContain('docs');
  });

  it('points every argument at the pattern B keys (cog/<name>.tif, hex/<name>/, _work/<name>/)', () => {
    const p = 's3://public-carbon/carbon-2018';
    expect(command(stage('vulnerable-carbon-cog')[0])).toEqual([
      'cng-worker', 'cog', '--source', 's3://public-carbon/raw/vulnerable_c_total_2018.tif', '--out', `${p}/cog/vulnerable-carbon.tif`,
      '--info', `${p}/_work/vulnerable-carbon/cog.json`, '--value-kind', 'continuous', '--raster', 'vulnerable-carbon',
    ]);
    const hexArgs = [
      '--input', `${p}/cog/vulnerable-carbon.tif`, '--info', `${p}/_work/vulnerable-carbon/cog.json`, '--out', `${p}/hex/vulnerable-carbon`,
      '--stats', `${p}/_work/vulnerable-carbon/stats`, '--value-kind', 'continuous', '--resolution', '8', '--parents', '6,4',
    ];
    expect(command(stage('vulnerable-carbon-raster-hex')[0])).toEqual(['cng-worker', 'raster-hex', ...hexArgs]);
    expect(command(stage('vulnerable-carbon-raster-manifest')[0])).toEqual([
      'cng-worker', 'raster-manifest', ...hexArgs, '--manifest', `${p}/hex/vulnerable-carbon/manifest.json`,
    ]);
    // Tiles become one comma-separated --source; bands and nodata are passed; the product name is used; no parents, no --parents.
    expect(command(stage('landcover-cog')[0])).toEqual([
      'cng-worker', 'cog', '--source', 's3://public-carbon/raw/lc_a.tif,s3://public-carbon/raw/lc_b.tif', '--out', `${p}/cog/land-cover.tif`,
      '--info', `${p}/_work/land-cover/cog.json`, '--value-kind', 'categorical', '--raster', 'landcover', '--bands', '1', '--nodata', '255',
    ]);
    expect(command(stage('landcover-raster-hex')[0]).slice(-4)).toEqual(['--value-kind', 'categorical', '--resolution', '8']);
  });

  it('passes a negative nodata as --nodata=<list>, which the cog stage parses (as a separate argument it reads as an option)', () => {
    const spec = { ...CARBON, rasters: { ncp: { source: 's3://public-carbon/raw/ncp.tif', valueKind: 'continuous' as const, nodata: [-128, 127] } } };
    const cmd: string[] = command(jobsOf(synthesize([spec]).manifests).find((j) => j.metadata.labels['cng/stage'] === 'cog'));
    expect(cmd.slice(-1)).toEqual(['--nodata=-128,127']);
    const cog = workerStages.find((s) => s.name === 'cog')!;
    expect(parseCommandArgs(cog, cmd.slice(2)).values.nodata).toBe('-128,127');
    expect(() => parseCommandArgs(cog, [...cmd.slice(2, -1), '--nodata', '-128,127'])).toThrow(/ambiguous/);
  });

  it('runs raster-hex as one Indexed Job of 122 completions (one per H3 base cell), parallelism from maxPods', () => {
    for (const key of ['vulnerable-carbon', 'landcover']) {
      const jobs = stage(`${key}-raster-hex`);
      expect(jobs).toHaveLength(1);
      expect(jobs[0].spec).toMatchObject({ completionMode: 'Indexed', completions: 122, backoffLimitPerIndex: 2 });
      expect(envOf(jobs[0], 'CNG_INDEX_OFFSET')).toBe('0');
      // maxPods 100 − (setup-bucket + 2 single-pod stages per raster) = 95, shared by 2 raster-hex Jobs.
      expect(jobs[0].spec.parallelism).toBe(47);
      for (const s of ['cog', 'raster-manifest']) expect(stage(`${key}-${s}`)[0].spec.completions).toBe(1);
    }
    const single = synthesize([{ ...CARBON, rasters: { x: { source: 'a.tif', valueKind: 'count', hex: { parallelism: 10 } } } }]).manifests;
    expect(single.get('carbon/x-raster-hex/manifest.yaml')![0].spec.parallelism).toBe(10);
  });

  it('sizes pods from the stage defaults and the dataset/raster overrides (requests == limits)', () => {
    const limits = (id: string) => stage(id)[0].spec.template.spec.containers[0].resources;
    expect(limits('vulnerable-carbon-cog').limits).toEqual({ cpu: '4', memory: '8Gi', 'ephemeral-storage': '100Gi' });
    expect(limits('vulnerable-carbon-raster-hex').limits).toEqual({ cpu: '1', memory: '4Gi', 'ephemeral-storage': '20Gi' });
    expect(limits('landcover-raster-hex').limits).toEqual({ cpu: '1', memory: '6Gi', 'ephemeral-storage': '20Gi' });
    expect(limits('landcover-raster-manifest').limits).toEqual({ cpu: '500m', memory: '1Gi', 'ephemeral-storage': '1Gi' });
    for (const job of jobsOf(manifests)) expect(job.spec.template.spec.containers[0].resources.requests).toEqual(job.spec.template.spec.containers[0].resources.limits);
  });

  it('passes every policy rule and runs only commands the worker accepts, with every required option', () => {
    expect(checkManifests(manifests, NRP)).toEqual([]);
    for (const job of jobsOf(manifests)) {
      expect(job.spec.template.spec.priorityClassName).toBe('opportunistic');
      expect(job.spec.podFailurePolicy.rules).toContainEqual({ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] });
      const [bin, name, ...args] = command(job);
      expect(bin).toBe('cng-worker');
      const cmd = workerStages.find((s) => s.name === name)!;
      const parsed = parseCommandArgs(cmd, args);
      for (const [k, o] of Object.entries(STAGES.find((s) => s.name === name)!.options)) if (o.required) expect(parsed.values[k], `${name} --${k}`).toBeDefined();
    }
  });

  it("layout 'named' writes pattern A (<name>.tif, <name>/hex/, <name>/manifest.json, work files under <name>/_work/)", () => {
    const m = synthesize([{ ...CARBON, prefix: '', layout: 'named' }]).manifests;
    const cmd = (id: string) => command(m.get(`carbon/${id}/manifest.yaml`)![0]);
    const arg = (c: string[], flag: string) => c[c.indexOf(flag) + 1];
    const manifestCmd = cmd('landcover-raster-manifest');
    expect(arg(cmd('landcover-cog'), '--out')).toBe('s3://public-carbon/land-cover.tif');
    expect(arg(cmd('landcover-cog'), '--info')).toBe('s3://public-carbon/land-cover/_work/cog.json');
    expect(arg(manifestCmd, '--out')).toBe('s3://public-carbon/land-cover/hex');
    expect(arg(manifestCmd, '--stats')).toBe('s3://public-carbon/land-cover/_work/stats');
    expect(arg(manifestCmd, '--manifest')).toBe('s3://public-carbon/land-cover/manifest.json');
  });

  it('a mixed dataset: docs waits for every raster manifest and gets the raster products; vector stages unchanged', () => {
    const mixed = synthesize([{ ...smallSpec(), rasters: CARBON.rasters, prose: { ...PROSE, layers: {} } }]);
    const docs = mixed.datasets[0].stages.find((s) => s.kind === 'docs')!;
    expect(docs.dependsOn.map((s) => s.stageId)).toEqual(
      expect.arrayContaining(['fee-publish', 'marine-publish', 'table-public-access', 'vulnerable-carbon-raster-manifest', 'landcover-raster-manifest']),
    );
    const input = mixed.datasets[0].docsInput;
    expect(input.source).toBe('s3://public-demo/raw/demo.gdb');
    expect(input.rasters!.map((r) => [r.key, r.name, r.valueKind, r.cog, r.hex, r.manifest, r.resolution, r.parents])).toEqual([
      ['vulnerable-carbon', 'vulnerable-carbon', 'continuous', 's3://public-demo/demo-1/cog/vulnerable-carbon.tif', 's3://public-demo/demo-1/hex/vulnerable-carbon', 's3://public-demo/demo-1/hex/vulnerable-carbon/manifest.json', 8, [6, 4]],
      ['landcover', 'land-cover', 'categorical', 's3://public-demo/demo-1/cog/land-cover.tif', 's3://public-demo/demo-1/hex/land-cover', 's3://public-demo/demo-1/hex/land-cover/manifest.json', 8, []],
    ]);
    expect(input.rasters![1].sources).toEqual(['s3://public-carbon/raw/lc_a.tif', 's3://public-carbon/raw/lc_b.tif']);
    expect(JSON.parse(command(jobsOf(mixed.manifests).find((j) => j.metadata.labels['cng/stage'] === 'docs'))[3]).rasters).toHaveLength(2);
    expect(checkManifests(mixed.manifests, NRP)).toEqual([]);
    // The vector pipeline keeps its commands (only hex parallelism is shared with raster-hex).
    const plain = synthesize([smallSpec()]).manifests;
    for (const id of ['fee-convert', 'fee-hex', 'fee-repartition', 'table-public-access'])
      expect(command(mixed.manifests.get(`demo-1/${id}/manifest.yaml`)![0])).toEqual(command(plain.get(`demo-1/${id}/manifest.yaml`)![0]));
  });

  it('the sync stage never mirrors raster work files, in either layout', () => {
    for (const layout of ['formats', 'named'] as const)
      for (const prefix of ['', 'carbon-2018']) {
        const m = synthesize([{ ...CARBON, prefix, layout }]).manifests;
        const arg = (id: string, flag: string) => {
          const c = command(m.get(`carbon/${id}/manifest.yaml`)![0]);
          return c[c.indexOf(flag) + 1].replace('s3://public-carbon/', '');
        };
        const relative = (key: string) => (prefix ? key.slice(prefix.length + 1) : key);
        for (const key of [arg('landcover-cog', '--info'), `${arg('landcover-raster-hex', '--stats')}/unit-7.json`]) {
          expect(excludedKey(key), key).toBe(true);
          expect(excludedKey(relative(key)), relative(key)).toBe(true);
        }
        for (const key of [arg('landcover-cog', '--out'), arg('landcover-raster-manifest', '--manifest')]) expect(excludedKey(relative(key)), key).toBe(false);
      }
  });

  it('datasets without rasters keep their docs input (no rasters key, prose unchanged)', () => {
    const input = docsInputFor(padus41);
    expect('rasters' in input).toBe(false);
    expect('rasters' in (input.prose as object)).toBe(false);
  });
});

describe('raster dataset spec errors name the field', () => {
  const base = { name: 'carbon', title: 'Carbon', run: 1, bucket: 'public-carbon' };
  const ok = { source: 'a.tif', valueKind: 'count' };

  it('a raster-only dataset needs no dataset source; vector layers and tables still do', () => {
    expect(() => parseDatasetSpec({ ...base, rasters: { r: ok } } as DatasetSpec)).not.toThrow();
    expect(specError({ ...base, layers: { a: { layer: 'A', features: 1 } } })).toMatch(/\n  source: Required$/);
    expect(specError({ ...base, rasters: { r: ok }, tables: ['T'] })).toMatch(/source: Required by the layers without their own source and the tables/);
    expect(() => parseDatasetSpec({ ...base, rasters: { r: ok }, layers: { a: { layer: 'A', features: 1, source: 'x.gpkg' } } } as DatasetSpec)).not.toThrow();
    expect(specError(base)).toMatch(/a dataset needs at least one layer, table, raster, points source or reencode/);
  });

  it('bad value kind, missing source, bad names, parents and bands', () => {
    expect(specError({ ...base, rasters: { r: { source: 'a.tif', valueKind: 'mean' } } })).toMatch(/rasters\.r\.valueKind: Invalid enum value\. Expected 'continuous' \| 'count' \| 'categorical'/);
    expect(specError({ ...base, rasters: { r: { source: 'a.tif' } } })).toMatch(/rasters\.r\.valueKind: Required/);
    expect(specError({ ...base, rasters: { r: { valueKind: 'count' } } })).toMatch(/rasters\.r\.source: Required/);
    expect(specError({ ...base, rasters: { r: { ...ok, source: [] } } })).toMatch(/rasters\.r\.source: list at least one source/);
    expect(specError({ ...base, rasters: { r: { ...ok, source: 'a.tif,b.tif' } } })).toMatch(/rasters\.r\.source: must not contain ","/);
    expect(specError({ ...base, rasters: { Bad_Key: ok } })).toMatch(/rasters\.Bad_Key: must be lower-case letters, digits and "-"/);
    expect(specError({ ...base, rasters: { r: { ...ok, name: 'Carbon Map' } } })).toMatch(/rasters\.r\.name: must be lower-case/);
    expect(specError({ ...base, rasters: { r: { ...ok, colour: 'red' } } })).toMatch(/rasters\.r: Unrecognized key\(s\) in object: 'colour'/);
    expect(specError({ ...base, rasters: { r: { ...ok, hex: { resolution: 6, parents: [4, 6, 7] } } } })).toMatch(/rasters\.r\.hex\.parents: parent resolution\(s\) 6, 7 are not coarser than the resolution 6/);
    expect(specError({ ...base, rasters: { r: { ...ok, hex: { resolution: 16 } } } })).toMatch(/rasters\.r\.hex\.resolution: Number must be less than or equal to 15/);
    expect(specError({ ...base, rasters: { r: { ...ok, valueKind: 'categorical', bands: [1, 2] } } })).toMatch(/rasters\.r\.bands: a categorical raster has one band; got 2/);
    expect(specError({ ...base, rasters: { r: { ...ok, resources: { 'raster-hex': { memory: 'lots' } } } } })).toMatch(/rasters\.r\.resources\.raster-hex\.memory: must be a Kubernetes quantity/);
  });

  it('stage names that cannot fit 63 characters, and product names used twice', () => {
    const key = 'a-very-long-raster-key-of-forty-chars-xx';
    expect(key).toHaveLength(40);
    const msg = specError({ ...base, name: 'carbon-dataset-2025', rasters: { [key]: ok } });
    expect(msg).toMatch(new RegExp(`rasters\\.${key}: stage name "carbon-dataset-2025-${key}-raster-manifest" is \\d+ characters; shorten the dataset name or this key so it fits 63`));
    expect(specError({ ...base, rasters: { a: { ...ok, name: 'x' }, b: { ...ok, name: 'x' } } })).toMatch(/rasters\.b\.name: product name "x" is also raster a's/);
    expect(specError({ ...base, source: 's.gpkg', layers: { fee: { layer: 'Fee', features: 1 } }, rasters: { r: { ...ok, name: 'fee' } } })).toMatch(/rasters\.r\.name: product name "fee" is also layer fee's/);
    expect(specError({ ...base, source: 's.gpkg', layers: { fee: { layer: 'Fee', features: 1 } }, rasters: { fee: ok } })).toMatch(/rasters\.fee: "fee" is also a layer key/);
    expect(specError({ ...base, rasters: { r: ok }, layout: 'folders' })).toMatch(/layout: Invalid enum value\. Expected 'formats' \| 'named'/);
  });

  it('cng local: raster-only options are usage errors for a vector source', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cng-raster-usage-'));
    const geojson = join(dir, 'parks.geojson');
    writeFileSync(geojson, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { a: 1 }, geometry: { type: 'Point', coordinates: [-99.5, 40.5] } }] }));
    const r = cng(['local', geojson, '--out', join(dir, 'out'), '--value-kind', 'count']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--value-kind applies to raster sources; '.*parks\.geojson' is not a raster/);
  });

  it('cng local builds a pattern A raster spec named after the file', () => {
    const spec = localRasterSpec(['/data/Vulnerable_C_Total_2018.tif', '/data/b.tif'], { valueKind: 'count', resolution: 6, parents: [4] });
    expect(spec).toMatchObject({ layout: 'named', bucket: 'local-out', rasters: { r1: { name: 'vulnerable-c-total-2018', valueKind: 'count', source: ['/data/Vulnerable_C_Total_2018.tif', '/data/b.tif'], hex: { resolution: 6, parents: [4] } } } });
    expect(checkManifests(synthesize([spec]).manifests, NRP)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The docs stage over raster products (written here as the stages' contract describes them)
// ---------------------------------------------------------------------------------------------


/** Writes products of one raster where the docs input says, as cog/raster-hex/raster-manifest would. */
async function writeRasterProducts(db: DuckDBConnection, storeDir: string, input: DocsInput, key: string, kind: 'continuous' | 'categorical'): Promise<void> {
  const r = input.rasters!.find((x) => x.key === key)!;
  const path = (url: string) => join(storeDir, url.replace(/^s3:\/\//, ''));
  writeRaster(path(r.cog), { width: 16, height: 16, geoTransform: [-100, 0.0625, 0, 41, 0, -0.0625], driver: 'COG', type: kind === 'categorical' ? 'Byte' : 'Float32', nodata: kind === 'categorical' ? 255 : -9999, value: (x, y) => (kind === 'categorical' ? 1 + ((x + y) % 2) : x * 0.5 + y) });
  mkdirSync(dirname(path(r.info)), { recursive: true });
  writeFileSync(path(r.info), JSON.stringify({ version: 1, bounds4326: [-100, 40, -99, 41] }));
  const cells = [[40.2, -99.8], [40.5, -99.5], [40.8, -99.2]].map(([lat, lng]) => latLngToCell(lat, lng, r.resolution));
  const h0 = BigInt(`0x${cellToParent(cells[0], 0)}`);
  expect(getResolution(cells[0])).toBe(r.resolution);
  const dir = join(path(r.hex), `h0=${h0}`);
  mkdirSync(dir, { recursive: true });
  const rows = cells.map((c, i) => {
    const cols = [`${BigInt(`0x${c}`)}::UBIGINT AS h${r.resolution}`, ...r.parents.map((p) => `${BigInt(`0x${cellToParent(c, p)}`)}::UBIGINT AS h${p}`)];
    if (kind === 'categorical') cols.push(`${1 + (i % 2)}::INTEGER AS class`, '0.75::DOUBLE AS fraction', `MAP {${1 + (i % 2)}: 0.75, ${2 - (i % 2)}: 0.25}::MAP(INTEGER, DOUBLE) AS fractions`);
    else cols.push(`${10 + i}.5::DOUBLE AS value`);
    cols.push('1.0::DOUBLE AS coverage');
    return `SELECT ${cols.join(', ')}`;
  });
  await db.run(`COPY (${rows.join(' UNION ALL ')}) TO '${join(dir, 'data_0.parquet')}' (FORMAT parquet)`);
  const manifest = {
    version: 1, kind: 'raster', valueKind: kind,
    method: kind === 'categorical' ? 'majority class with per-class area fractions' : 'area-weighted mean',
    resolution: r.resolution, parents: r.parents, cells: 3, partitions: 1, nodataShare: 0.125,
    ...(kind === 'categorical' ? { classes: { '1': 2, '2': 1 } } : { valueRange: { value: [10.5, 12.5] } }),
    bands: [{ band: 1, name: 'band_1', dataType: kind === 'categorical' ? 'Byte' : 'Float32' }],
    nodata: kind === 'categorical' ? 255 : -9999, nodataCollapsed: [],
    cog: { url: r.cog, bytes: statSync(path(r.cog)).size, width: 16, height: 16, crs: 'EPSG:4326', overviews: 0, copied: false },
    bytes: statSync(join(dir, 'data_0.parquet')).size,
  };
  writeFileSync(path(r.manifest), JSON.stringify(manifest));
}

describe('the docs stage over raster products', () => {
  let storeDir: string;
  let input: DocsInput;
  let db: DuckDBConnection;
  let readme: string;
  let stac: any;
  beforeAll(async () => {
    storeDir = mkdtempSync(join(tmpdir(), 'cng-raster-docs-'));
    input = docsInputFor({ ...CARBON, prose: PROSE });
    db = await (await DuckDBInstance.create(':memory:')).connect();
    await writeRasterProducts(db, storeDir, input, 'vulnerable-carbon', 'continuous');
    await writeRasterProducts(db, storeDir, input, 'landcover', 'categorical');
    const r = await generateDocs(input, { store: new DirStore(storeDir), storage: new Storage({ ...process.env, CNG_STORAGE_DIR: storeDir }) });
    expect(r.problems).toEqual([]);
    readme = readFileSync(join(storeDir, 'public-carbon/README.md'), 'utf8');
    stac = JSON.parse(readFileSync(join(storeDir, 'public-carbon/stac-collection.json'), 'utf8'));
  });
  afterAll(() => db?.closeSync());

  it('writes a valid STAC collection with a COG and a hex asset per raster, facts from manifest.json', () => {
    expect(stacProblems(stac)).toEqual([]);
    expect(Object.keys(stac.assets).sort()).toEqual(['land-cover-cog', 'land-cover-hex', 'vulnerable-carbon-cog', 'vulnerable-carbon-hex']);
    const cog = stac.assets['vulnerable-carbon-cog'];
    expect(cog).toMatchObject({
      href: 'https://s3-west.nrp-nautilus.io/public-carbon/carbon-2018/cog/vulnerable-carbon.tif',
      type: 'image/tiff; application=geotiff; profile=cloud-optimized',
      roles: ['data'],
      'file:size': statSync(join(storeDir, 'public-carbon/carbon-2018/cog/vulnerable-carbon.tif')).size,
    });
    expect(COG_MEDIA_TYPE).toBe(cog.type);
    expect(cog['cng:raster']).toMatchObject({ value_kind: 'continuous', width: 16, height: 16, crs: 'EPSG:4326', nodata: -9999 });
    const hex = stac.assets['vulnerable-carbon-hex'];
    expect(hex).toMatchObject({ href: 'https://s3-west.nrp-nautilus.io/public-carbon/carbon-2018/hex/vulnerable-carbon/', type: 'application/vnd.apache.parquet', roles: ['data'], 'table:row_count': 3 });
    expect(hex['cng:h3']).toMatchObject({ resolution: 8, parents: [6, 4], partitions: 1, method: 'area-weighted mean', nodata_share: 0.125, value_range: { value: [10.5, 12.5] } });
    expect(hex['table:columns'].map((c: any) => [c.name, c.type])).toEqual([['h8', 'UBIGINT'], ['h6', 'UBIGINT'], ['h4', 'UBIGINT'], ['value', 'DOUBLE'], ['coverage', 'DOUBLE'], ['h0', 'UBIGINT']]);
    expect(hex['table:columns'].find((c: any) => c.name === 'value').description).toMatch(/^Area-weighted mean .* Unit: Mg C \/ ha\.$/);
    const lc = stac.assets['land-cover-hex']['table:columns'];
    expect(lc.map((c: any) => c.name)).toEqual(['h8', 'class', 'fraction', 'fractions', 'coverage', 'h0']);
    expect(lc.find((c: any) => c.name === 'class').description).toMatch(/Majority class.*Classes: 1 = Forest; 2 = Water; 3 = Urban\./);
    for (const a of Object.values<any>(stac.assets)) for (const c of a['table:columns'] ?? []) expect(c.description).not.toMatch(/not yet described/i);
    expect(stac.extent.spatial.bbox[0]).toEqual([-100, 40, -99, 41]);
  });

  it('describes every raster in the README: contents, layout, facts, columns, classes, sources, how to read', () => {
    expect(readme).toContain('| [vulnerable-carbon](#raster-vulnerable-carbon) | continuous | [vulnerable-carbon.tif](https://s3-west.nrp-nautilus.io/public-carbon/carbon-2018/cog/vulnerable-carbon.tif)');
    expect(readme).not.toContain('| layer | features |');
    expect(readme).toContain('carbon-2018/cog/<raster>.tif');
    expect(readme).toContain('carbon-2018/hex/<raster>/h0=<cell>/data_0.parquet');
    expect(readme).toContain('## Raster landcover');
    expect(readme).toMatch(/\*\*Vulnerable carbon\*\* — continuous values \(Mg C \/ ha\)\./);
    expect(readme).toMatch(/- H3 hex: https:\/\/s3-west\.nrp-nautilus\.io\/public-carbon\/carbon-2018\/hex\/vulnerable-carbon\/ — resolution 8 \(parents 6, 4\), area-weighted mean, 3 cells, 1 partitions by h0, .*12\.5% of the raster's pixels are nodata; values value 10\.5 to 12\.5/);
    expect(readme).toContain('| `1` | Forest | 2 |');
    expect(readme).toMatch(/\| `coverage` \| DOUBLE \| Share of the cell's area covered by valid/);
    expect(readme).toContain('gdalinfo /vsicurl/https://s3-west.nrp-nautilus.io/public-carbon/carbon-2018/cog/vulnerable-carbon.tif');
    expect(readme).toContain("FROM read_parquet('s3://public-carbon/carbon-2018/hex/vulnerable-carbon/**/*.parquet', hive_partitioning = true, hive_types = {'h0': UBIGINT})");
    expect(readme).toContain('- Source of raster landcover: `s3://public-carbon/raw/lc_a.tif`, `s3://public-carbon/raw/lc_b.tif`');
    expect(readme).not.toMatch(/- Source: /);
  });

  it('the README\'s raster SQL runs against the products', async () => {
    const sql = /```sql\n([\s\S]*?)```/.exec(readme)![1].replaceAll('s3://public-carbon/', `${storeDir}/public-carbon/`);
    const rows = (await db.runAndReadAll(sql)).getRowObjects();
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => Number(r.value)).sort()).toEqual([10.5, 11.5, 12.5]);
  });

  it('docs/reading-products.md: every raster sql block runs against these products', async () => {
    const md = readFileSync(join(ROOT, 'docs/reading-products.md'), 'utf8');
    const blocks = [...md.matchAll(/<!-- docs-test: raster -->\n```sql\n([\s\S]*?)```/g)].map((b) => b[1]);
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    for (const sql of blocks) {
      const local = sql.replaceAll('s3://public-carbon/', `${storeDir}/public-carbon/`);
      expect(local, 'the examples read the carbon-2018 products').not.toBe(sql);
      const rows = await db.runAndReadAll(local).then((r) => r.getRowObjects(), (err) => Promise.reject(new Error(`${sql}\n${err.message}`)));
      expect(rows.length, sql).toBeGreaterThan(0);
    }
  });

  it('checks the prose: a raster without prose is missing, prose for an unknown raster is extra', async () => {
    const { rasters, ...rest } = PROSE;
    const problems = checkProse(input, { ...rest, rasters: { landcover: rasters!.landcover, forest: rasters!.landcover } }, { dataset: 'carbon', origin: 'test', layers: {}, tables: {} });
    expect(problems.map((p) => [p.kind, p.field])).toEqual([['missing', 'rasters.vulnerable-carbon'], ['extra', 'rasters.forest']]);
    // A raster-only dataset needs no schema snapshot for `cng docs --check`.
    expect(checkDatasetDocs({ ...CARBON, prose: PROSE })).toEqual([]);
    await expect(generateDocs({ ...input, prose: { ...rest } }, { store: new DirStore(storeDir), write: false })).rejects.toThrow(/raster vulnerable-carbon: no title and description → rasters\.vulnerable-carbon/);
  });

  it('fails naming a missing raster product', async () => {
    const gone = { ...input, rasters: input.rasters!.map((r) => (r.key === 'landcover' ? { ...r, cog: 's3://public-carbon/carbon-2018/cog/nope.tif' } : r)) };
    await expect(generateDocs(gone, { store: new DirStore(storeDir), write: false })).rejects.toThrow(/1 product\(s\) missing: s3:\/\/public-carbon\/carbon-2018\/cog\/nope\.tif/);
  });
});

// ---------------------------------------------------------------------------------------------
// End to end, with the real worker stages
// ---------------------------------------------------------------------------------------------

/** A 1° box at lon −100..−99, lat 40..41 of 20×20 counts; pixel (0, 0) is nodata. */
function countFixture(path: string): { path: string; total: number } {
  const value = (x: number, y: number) => (x === 0 && y === 0 ? -1 : 1 + ((x * 7 + y * 3) % 11));
  writeRaster(path, { width: 20, height: 20, geoTransform: [-100, 0.05, 0, 41, 0, -0.05], type: 'Float32', nodata: -1, value });
  let total = 0;
  for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) if (value(x, y) !== -1) total += value(x, y);
  return { path, total };
}

const query = duckRows;

describe('cng local <raster>', () => {
  it('writes DIR/<slug>.tif (a COG), DIR/<slug>/hex/h0=<cell>/data_0.parquet and DIR/<slug>/manifest.json; the hex conserves the total', async () => {
    const src = mkdtempSync(join(tmpdir(), 'cng-raster-local-src-'));
    const { path, total } = countFixture(join(src, 'Pop_Count 2020.tif'));
    const out = mkdtempSync(join(tmpdir(), 'cng-raster-local-'));
    const r = cng(['local', path, '--out', out, '--value-kind', 'count', '--resolution', '6', '--jobs', '2']);
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(out, 'pop-count-2020.tif'))).toBe(true);
    const ds = gdal.open(join(out, 'pop-count-2020.tif'));
    expect(ds.getMetadata('IMAGE_STRUCTURE').LAYOUT).toBe('COG');
    expect([ds.rasterSize.x, ds.rasterSize.y]).toEqual([20, 20]);
    ds.close();
    const partitions = readdirSync(join(out, 'pop-count-2020/hex')).filter((d) => d.startsWith('h0='));
    expect(partitions.length).toBeGreaterThan(0);
    for (const p of partitions) {
      expect(p).toMatch(/^h0=\d+$/);
      expect(readdirSync(join(out, 'pop-count-2020/hex', p))).toEqual(['data_0.parquet']);
    }
    const m = JSON.parse(readFileSync(join(out, 'pop-count-2020/manifest.json'), 'utf8'));
    expect(m).toMatchObject({ kind: 'raster', valueKind: 'count', resolution: 6, parents: [], partitions: partitions.length });
    expect(m.nodataShare).toBeCloseTo(1 / 400, 6);
    const [row] = await query(
      `SELECT count(*) AS cells, count(DISTINCT h6) AS distinct_cells, sum(value) AS total, min(coverage) AS min_cov, max(coverage) AS max_cov
       FROM read_parquet('${out}/pop-count-2020/hex/**/*.parquet', hive_partitioning = true, hive_types = {'h0': UBIGINT})`,
    );
    expect(Number(row.cells)).toBe(m.cells);
    expect(Number(row.distinct_cells)).toBe(m.cells);
    // About 9,400 km² at ~36 km² per resolution-6 cell, plus the cells the box's edges cut.
    expect(Number(row.cells)).toBeGreaterThan(200);
    expect(Number(row.cells)).toBeLessThan(400);
    expect(Math.abs(Number(row.total) - total) / total).toBeLessThan(1e-6);
    expect(Number(row.min_cov)).toBeGreaterThan(0);
    expect(Number(row.max_cov)).toBeLessThanOrEqual(1 + 1e-9);
    expect(r.stdout).toMatch(/pop-count-2020\s+\d+\s+\d+/); // the raster summary table
    // Resumable: a second run skips every stage.
    const again = cng(['local', path, '--out', out, '--value-kind', 'count', '--resolution', '6', '--jobs', '2']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/complete, skipped/g)).toHaveLength(4);
    // Usage errors: a vector option on a raster, a bad value kind.
    expect(cng(['local', path, '--out', out, '--containment', 'overlap']).code).toBe(2);
    expect(cng(['local', path, '--out', out, '--value-kind', 'mean']).stderr).toMatch(/--value-kind must be continuous, count, categorical; got 'mean'/);
  }, 600_000);
});

const RUN_SPEC = `import type { DatasetSpec } from '../constructs/index.ts';
export const rasterfix: DatasetSpec = {
  name: 'rasterfix',
  title: 'Raster fixture',
  run: 1,
  bucket: 'public-rasterfix',
  maxPods: 20,
  rasters: {
    landcover: { source: 's3://public-rasterfix/raw/landcover.tif', valueKind: 'categorical', hex: { resolution: 6, parents: [4] } },
  },
  prose: ${JSON.stringify({ ...PROSE, rasters: { landcover: PROSE.rasters!.landcover } })},
};
`;

describe('cng run of a raster dataset (directory store)', () => {
  let repo: string;
  beforeAll(() => {
    repo = repoCopy();
    writeFileSync(join(repo, 'datasets/rasterfix.ts'), RUN_SPEC);
    writeFileSync(join(repo, 'datasets/index.ts'), "import { rasterfix } from './rasterfix.ts';\nexport const datasets = [rasterfix];\n");
  });
  afterAll(() => repo && rmSync(repo, { recursive: true, force: true }));

  it('cng synth, cng validate and cng docs --check accept a raster dataset file', () => {
    const synth = cng(['synth'], { cwd: repo });
    expect(synth.code, synth.stderr).toBe(0);
    expect(readdirSync(join(repo, 'dist/rasterfix')).sort()).toEqual(['docs', 'landcover-cog', 'landcover-raster-hex', 'landcover-raster-manifest', 'setup-bucket']);
    const validate = cng(['validate'], { cwd: repo });
    expect(validate.code, validate.stderr).toBe(0);
    const check = cng(['docs', '--check'], { cwd: repo });
    expect(check.code, check.stderr).toBe(0);
  }, 120_000);

  it('runs every stage and writes the pattern B products, then README and STAC', async () => {

    const data = mkdtempSync(join(tmpdir(), 'cng-raster-run-'));
    // Classes 1..3 in vertical stripes, 0 = nodata in the first row.
    writeRaster(join(data, 'store/public-rasterfix/raw/landcover.tif'), {
      width: 24, height: 24, type: 'Byte', nodata: 0, geoTransform: [-100, 1 / 24, 0, 41, 0, -1 / 24], value: (x, y) => (y === 0 ? 0 : 1 + Math.floor(x / 8)),
    });
    const r = cng(['run', 'rasterfix', '--data-dir', data, '--jobs', '2'], { cwd: repo });
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const root = join(data, 'store/public-rasterfix');
    for (const f of ['cog/landcover.tif', 'hex/landcover/manifest.json', '_work/landcover/cog.json', 'README.md', 'stac-collection.json'])
      expect(existsSync(join(root, f)), f).toBe(true);
    const m = JSON.parse(readFileSync(join(root, 'hex/landcover/manifest.json'), 'utf8'));
    expect(m).toMatchObject({ kind: 'raster', valueKind: 'categorical', resolution: 6, parents: [4] });
    expect(Object.keys(m.classes).sort()).toEqual(['1', '2', '3']);
    const rows = await query(
      `SELECT class, count(*) AS cells, min(fraction) AS fmin, max(abs(list_sum(map_values(fractions)) - 1)) AS err
       FROM read_parquet('${root}/hex/landcover/**/*.parquet', hive_partitioning = true, hive_types = {'h0': UBIGINT}) GROUP BY class ORDER BY class`,
    );
    expect(rows.map((x) => Number(x.class))).toEqual([1, 2, 3]);
    expect(rows.reduce((n, x) => n + Number(x.cells), 0)).toBe(m.cells);
    for (const x of rows) expect(Number(x.err)).toBeLessThan(1e-9);

    const stac = JSON.parse(readFileSync(join(root, 'stac-collection.json'), 'utf8'));
    expect(stacProblems(stac)).toEqual([]);
    expect(stac.assets['landcover-cog']).toMatchObject({ type: COG_MEDIA_TYPE, 'file:size': statSync(join(root, 'cog/landcover.tif')).size });
    expect(stac.assets['landcover-hex']['table:row_count']).toBe(m.cells);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('## Raster landcover');
    expect(readme).toContain('| `3` | Urban |');
    expect(readme).not.toMatch(/not yet described/);
  }, 900_000);
});
