/**
 * Dataset documentation (worker/publish/docs/, cli/manifests/docs.ts) and the manual's SQL, over a
 * small PAD-US product set built by the real pipeline: the PAD-US sample geodatabase, two layers (fee, marine)
 * and four lookup tables, synthesized from the PAD-US dataset file (with its prose) and run by the
 * local runner — convert, hex, repartition, tiles, tiles-merge, table, then the docs and sync stages.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { checkDatasetDocs, docsCommand, docsInputFor } from '../cli/manifests/docs.ts';
import { sqlCommand } from '../cli/local/sql.ts';
import { datasetStages, runStages, type StageResult } from '../cli/local/runner.ts';
import { writePadusSample } from '../cli/local/padus-sample/writer.ts';
import { synthesize, type DatasetSpec, type DocsInput } from '../constructs/index.ts';
import { datasets } from '../datasets/index.ts';
import { padus41 } from '../datasets/padus-4-1.ts';
import { checkProse, schemaSnapshot, type SchemaSnapshot } from '../worker/publish/docs/check.ts';
import { gatherFacts } from '../worker/publish/docs/facts.ts';
import { generateDocs } from '../worker/publish/docs/stage.ts';
import { DirStore, S3Store } from '../worker/io/storage.ts';
import { MIRRORED, ROOT, runCaptured, words, STAC_COLLECTION_SCHEMA, stacProblems, stacValidate } from './helpers.ts';

const TABLES = ['Public_Access', 'GAP_Status', 'Category', 'Designation_Type'];
/** PAD-US with two layers and four tables (sized for the sample), its prose and mirror unchanged. */
const spec: DatasetSpec = {
  ...padus41,
  layers: { fee: { ...padus41.layers!.fee, features: 40 }, marine: { ...padus41.layers!.marine, features: 10 } },
  tables: TABLES,
};

let dir: string;
let store: string;
let results: StageResult[];
let input: DocsInput;
let db: DuckDBConnection;
const file = (bucket: string, key: string) => join(store, bucket, key);
const json = (bucket: string, key: string) => JSON.parse(readFileSync(file(bucket, key), 'utf8'));

const cngDocs = (args: string[]) => runCaptured(docsCommand, args);
const cngSql = (args: string[]) => runCaptured(sqlCommand, args);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cng-docs-test-'));
  store = join(dir, 'store');
  await writePadusSample({ out: file('public-padus', 'raw/PADUS4_1Geodatabase.gdb'), features: 12, bigVertices: 2000, seed: 7 });
  const progress = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
  (progress as unknown as PassThrough).resume();
  results = await runStages({
    dataset: 'padus-4-1',
    stages: datasetStages(synthesize([spec], MIRRORED).manifests, 'padus-4-1'),
    storeDir: store,
    stateDir: join(dir, 'runs'),
    jobs: 2,
    out: progress,
  });
  input = docsInputFor(spec, MIRRORED);
  db = await (await DuckDBInstance.create(':memory:')).connect();
}, 600_000);

afterAll(() => db?.closeSync());

describe('the pipeline ends with docs and sync', () => {
  it('runs every stage, docs after the products and sync after docs', () => {
    const failed = results.filter((r) => r.status !== 'done');
    expect(failed.map((r) => r.stage.id), failureLogs(failed)).toEqual([]);
    const ids = results.map((r) => r.stage.id);
    expect(ids.slice(-2)).toEqual(['docs', 'sync']);
    const docs = results.find((r) => r.stage.id === 'docs')!.stage;
    expect(docs.dependsOn.sort()).toEqual(
      ['fee-publish', 'marine-publish', ...TABLES.map((t) => `table-${t.toLowerCase().replace(/_/g, '-')}`)]
        .map((s) => `padus-4-1-${s}`)
        .sort(),
    );
    expect(results.find((r) => r.stage.id === 'sync')!.stage.dependsOn).toEqual(['padus-4-1-docs']);
  });

  it('writes README.md and stac-collection.json at the bucket root, and mirrors products and docs', () => {
    expect(existsSync(file('public-padus', 'README.md'))).toBe(true);
    expect(existsSync(file('public-padus', 'stac-collection.json'))).toBe(true);
    for (const k of ['README.md', 'stac-collection.json', 'fee.parquet', 'marine.pmtiles', 'lookup/GAP_Status.parquet', 'fee/manifest.json'])
      expect(existsSync(file('cboettig', `padus/padus-4-1/${k}`)), k).toBe(true);
    expect(existsSync(file('cboettig', 'padus/padus-4-1/fee/_work'))).toBe(false);
    expect(existsSync(file('cboettig', 'padus/padus-4-1/raw'))).toBe(false);
  });
});

describe('the STAC collection', () => {
  let stac: any;
  beforeAll(() => (stac = json('public-padus', 'stac-collection.json')));

  it('is valid STAC 1.0.0 with the table and file extensions (vendored schemas, offline)', () => {
    expect(stacProblems(stac)).toEqual([]);
    expect(stac.stac_extensions.sort()).toEqual(['https://stac-extensions.github.io/file/v2.1.0/schema.json', 'https://stac-extensions.github.io/table/v1.2.0/schema.json']);
    // The schemas can fail: a broken collection is rejected.
    const bad = structuredClone(stac);
    bad.assets['fee-geoparquet']['file:size'] = -1;
    bad.assets['fee-geoparquet']['table:columns'] = 'x';
    delete bad.license;
    expect(stacValidate(STAC_COLLECTION_SCHEMA, bad).ok).toBe(false);
    expect(stacValidate('https://stac-extensions.github.io/file/v2.1.0/schema.json', bad).ok).toBe(false);
    expect(stacValidate('https://stac-extensions.github.io/table/v1.2.0/schema.json', bad).ok).toBe(false);
  });

  it('has an asset per GeoParquet, PMTiles, hex directory and table, with facts from the files', async () => {
    expect(Object.keys(stac.assets).sort()).toEqual(
      ['fee-geoparquet', 'fee-hex', 'fee-pmtiles', 'marine-geoparquet', 'marine-hex', 'marine-pmtiles', ...TABLES.map((t) => `table-${t}`)].sort(),
    );
    const fee = stac.assets['fee-geoparquet'];
    expect(fee).toMatchObject({ href: 'https://s3-west.nrp-nautilus.io/public-padus/padus-4-1/fee.parquet', type: 'application/vnd.apache.parquet', roles: ['data'] });
    expect(fee['file:size']).toBe(statSync(file('public-padus', 'padus-4-1/fee.parquet')).size);
    const [[rows]] = (await db.runAndReadAll(`SELECT count(*) FROM read_parquet('${file('public-padus', 'padus-4-1/fee.parquet')}')`)).getRows();
    expect(fee['table:row_count']).toBe(Number(rows));
    const described = await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file('public-padus', 'padus-4-1/fee.parquet')}')`);
    expect(fee['table:columns'].map((c: any) => [c.name, c.type])).toEqual(described.getRows().map((r) => [r[0], r[1]]));
    for (const a of Object.values<any>(stac.assets))
      for (const c of a['table:columns'] ?? []) expect(c.description, `${a.href} ${c.name}`).not.toMatch(/not yet described/i);
    expect(fee['table:columns'].find((c: any) => c.name === 'Pub_Access').description).toMatch(/Codes: OA = Open Access.*; XA = Closed/);

    const hex = stac.assets['fee-hex'];
    const manifest = json('public-padus', 'padus-4-1/fee/manifest.json');
    expect(hex).toMatchObject({ href: 'https://s3-west.nrp-nautilus.io/public-padus/padus-4-1/fee/hex/', type: 'application/vnd.apache.parquet', roles: ['data'] });
    expect(hex['table:row_count']).toBe(manifest.cells);
    expect(hex['cng:h3']).toMatchObject({ resolution: 10, parents: [9, 8], encoding: 'UBIGINT', partition_key: 'h0', partitions: manifest.partitions });
    expect(hex['table:columns'].slice(-4).map((c: any) => [c.name, c.type])).toEqual([['h10', 'UBIGINT'], ['h9', 'UBIGINT'], ['h8', 'UBIGINT'], ['h0', 'UBIGINT']]);

    const pm = stac.assets['fee-pmtiles'];
    expect(pm).toMatchObject({ type: 'application/vnd.pmtiles', 'file:size': statSync(file('public-padus', 'padus-4-1/fee.pmtiles')).size });
    expect(pm['cng:vector_layers'].map((l: any) => l.id)).toEqual(['fee']);
    expect(pm['cng:vector_layers'][0].fields).toContain('GAP_Sts');

    expect(stac.assets['table-GAP_Status']).toMatchObject({ href: 'https://s3-west.nrp-nautilus.io/public-padus/padus-4-1/lookup/GAP_Status.parquet', 'table:row_count': 4 });
  });

  it('has extents from the GeoParquet metadata and the links a collection needs', () => {
    const [union, ...layers] = stac.extent.spatial.bbox;
    expect(layers).toHaveLength(2);
    expect(union[0]).toBe(Math.min(layers[0][0], layers[1][0]));
    expect(union[3]).toBe(Math.max(layers[0][3], layers[1][3]));
    expect(stac.extent.temporal.interval).toEqual([['2025-01-01T00:00:00Z', '2025-12-31T23:59:59Z']]);
    const rel = (r: string) => stac.links.filter((l: any) => l.rel === r).map((l: any) => l.href);
    expect(rel('self')).toEqual(['https://s3-west.nrp-nautilus.io/public-padus/stac-collection.json']);
    expect(rel('root')).toEqual(rel('self'));
    expect(rel('parent')).toEqual(rel('self'));
    expect(rel('describedby')).toEqual(['https://s3-west.nrp-nautilus.io/public-padus/README.md']);
    expect(rel('cite-as')).toEqual(['https://doi.org/10.5066/P96WBCHS']);
    expect(rel('alternate')).toEqual(['https://data.source.coop/cboettig/padus/padus-4-1/']);
    expect(stac).toMatchObject({ id: 'padus-4-1', license: 'CC0-1.0', stac_version: '1.0.0', type: 'Collection' });
  });
});

describe('the README', () => {
  it('documents every layer, column, table and code with public URLs and the facts', async () => {
    const md = readFileSync(file('public-padus', 'README.md'), 'utf8');
    expect(md).toMatch(/^# PAD-US 4\.1 — Protected Areas Database of the United States/);
    const cols = (await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file('public-padus', 'padus-4-1/fee.parquet')}')`)).getRows().map((r) => String(r[0]));
    for (const c of cols) expect(md).toMatch(new RegExp(`\\| \`${c}\` \\| [^|]+ \\| (both|GeoParquet) \\| [A-Z]`));
    expect(md).not.toMatch(/not yet described/);
    for (const t of TABLES) expect(md).toContain(`https://s3-west.nrp-nautilus.io/public-padus/padus-4-1/lookup/${t}.parquet`);
    expect(md).toContain('| `XA` | Closed: no public access |');
    expect(md).toContain('https://s3-west.nrp-nautilus.io/public-padus/padus-4-1/fee/hex/');
    expect(md).toContain('Mirror: https://data.source.coop/cboettig/padus/padus-4-1/');
    expect(md).toContain('**Cite as:** U.S. Geological Survey (USGS) Gap Analysis Project (GAP), 2025');
    const manifest = json('public-padus', 'padus-4-1/fee/manifest.json');
    expect(md).toContain(`${manifest.cells.toLocaleString('en-US')} rows (feature × cell)`);
  });
});

describe('facts over S3 (sparse footer reads) equal facts over the directory store', () => {
  it('reads schemas, counts, bboxes, tile layers and samples without downloading whole files', async () => {
    const s3 = inject('s3');
    const bucket = `test-docs-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
    const remote = new S3Store({ endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    await remote.ensureBucket(bucket);
    const local = new DirStore(store);
    for (const o of await local.list('public-padus', 'padus-4-1/'))
      if (!o.key.includes('/_work/')) await remote.put(bucket, o.key, readFileSync(file('public-padus', o.key)));
    const s3Input = docsInputFor({ ...spec, bucket }, MIRRORED);
    const a = await gatherFacts(input, local, { samples: true });
    const b = await gatherFacts(s3Input, remote, { samples: true });
    expect(b.facts.missing).toEqual([]);
    const strip = (f: typeof a.facts) => JSON.parse(JSON.stringify(f).replaceAll(bucket, 'public-padus'));
    expect(strip(b.facts)).toEqual(strip(a.facts));
    expect(b.samples).toEqual(a.samples);
    expect(a.samples!.counts.fee.GAP_Sts.length).toBeGreaterThan(0);
    expect(a.samples!.rows.GAP_Status).toHaveLength(4);
  }, 120_000);
});

describe('the completeness check', () => {
  const committed = (name: string) => JSON.parse(readFileSync(join(ROOT, 'datasets', `${name}.schema.json`), 'utf8')) as SchemaSnapshot;

  it('CI: every dataset\'s prose describes every column of its schema snapshot', () => {
    // A dataset without prose in a bucket another dataset documents is not checked (cng synth allows one documenter a bucket).
    const checked = datasets.filter((d) => d.prose || !datasets.some((o) => o.bucket === d.bucket && o.prose));
    expect(checked.length).toBeGreaterThanOrEqual(datasets.length - 1);
    for (const d of checked) expect(checkDatasetDocs(d), d.name).toEqual([]);
  });

  it("the committed PAD-US snapshot matches what the pipeline publishes now (names and types)", async () => {
    const { facts } = await gatherFacts(input, new DirStore(store));
    const now = schemaSnapshot(input, facts, 'test');
    const snap = committed('padus-4-1');
    for (const key of ['fee', 'marine']) expect(now.layers[key], key).toEqual(snap.layers[key]);
    for (const t of TABLES) expect(now.tables[t], t).toEqual(snap.tables[t]);
  });

  it('names each undescribed column, layer and table with the field to fill, and flags stale prose', () => {
    const snap = committed('padus-4-1');
    const full = docsInputFor(padus41);
    const prose = structuredClone(padus41.prose!) as any;
    delete prose.columns.Loc_Own;
    delete prose.layers.marine;
    delete prose.tables.Category.columns.Dom;
    prose.layers.bogus = { title: 'x', description: 'y' };
    const problems = checkProse(full, prose, snap);
    expect(problems).toEqual(
      expect.arrayContaining([
        { kind: 'missing', what: 'layer marine', field: 'layers.marine', message: 'no title and description' },
        { kind: 'missing', what: 'column Loc_Own', field: 'columns.Loc_Own', message: 'no description (layers fee, easement, proclamation, marine, designation, combined)' },
        { kind: 'missing', what: 'table Category column Dom', field: 'tables.Category.columns.Dom', message: 'no description' },
        { kind: 'extra', what: 'layer bogus', field: 'layers.bogus', message: 'described in the prose but not a layer of the dataset' },
      ]),
    );
    expect(problems).toHaveLength(4);
    // A column only one layer has is reported with both places it may be described.
    const p2 = structuredClone(padus41.prose!) as any;
    delete p2.columns.EsmtHldr;
    expect(checkProse(full, p2, snap)).toEqual([
      { kind: 'missing', what: 'column EsmtHldr', field: 'columns.EsmtHldr or layers.easement.columns.EsmtHldr', message: 'no description (layer easement)' },
    ]);
    expect(checkProse(full, undefined, snap)[0]).toMatchObject({ kind: 'missing', what: 'prose' });
    expect(checkProse(full, { ...padus41.prose, license: 'not a license!' }, snap)[0]).toMatchObject({ kind: 'invalid', field: 'license' });
  });

  it('a dataset without a snapshot fails the check', () => {
    const problems = checkDatasetDocs({ ...padus41, name: 'padus-9-9' });
    expect(problems).toEqual([expect.objectContaining({ what: 'schema snapshot', field: 'datasets/padus-9-9.schema.json' })]);
  });

  it('the docs stage writes nothing while a published column lacks a description', async () => {
    const prose = structuredClone(padus41.prose!) as any;
    delete prose.columns.GAP_Sts;
    const out = mkdtempSync(join(tmpdir(), 'cng-docs-out-'));
    const opts = { store: new DirStore(store), readmeUrl: join(out, 'README.md'), stacUrl: join(out, 'stac.json') };
    await expect(generateDocs({ ...input, prose }, opts)).rejects.toThrow(/column GAP_Sts: no description \(layers fee, marine\) → columns\.GAP_Sts[\s\S]*nothing was written|nothing was written[\s\S]*column GAP_Sts/);
    expect(existsSync(join(out, 'README.md'))).toBe(false);
    const r = await generateDocs({ ...input, prose }, { ...opts, allowUndescribed: true });
    expect(r.readme).toMatch(/\| `GAP_Sts` \| VARCHAR \| both \| _not yet described_/);
    expect(existsSync(join(out, 'README.md'))).toBe(true);
  });
});

describe('cng docs', () => {
  it('--check passes for the repository and names problems otherwise', async () => {
    const r = await cngDocs(['--check']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('cng docs --check: padus-4-1: every published column is described');
    expect(r.stdout).toContain('cng docs --check: cpad-2025b: every published column is described');
    // A dataset without prose in a bucket another dataset documents (cng synth allows only one).
    expect(r.stdout).toContain('cng docs --check: carbon-v2: no prose (bucket public-carbon is documented by dataset carbon); not checked');
    expect((await cngDocs(['nope-1', '--check'])).code).toBe(1);
  });

  it('--brief prints facts, samples, value counts and what is missing (here: layers not run)', async () => {
    const r = await cngDocs(['padus-4-1', '--brief', '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# Writing brief: padus-4-1/);
    expect(r.stdout).toContain('## Layer fee (source layer `PADUS4_1Fee`)');
    expect(r.stdout).toMatch(/\| `GAP_Sts` \| VARCHAR \| dataset \| `[1-4]`/);
    expect(r.stdout).toMatch(/- `Pub_Access` \(codes described\): [A-Z]{2} \d+/);
    expect(r.stdout).toContain('- DOI: https://doi.org/10.5066/P96WBCHS');
    // The run covered two of six layers and four of eight tables.
    expect(r.stdout).toContain('## Products not found');
    expect(r.stdout).toContain('s3://public-padus/padus-4-1/easement.parquet');
    expect(r.stdout).toMatch(/layer easement: no columns for layer easement in the schema snapshot/);
    // Refuses to write an incomplete snapshot.
    const before = readFileSync(join(ROOT, 'datasets/padus-4-1.schema.json'), 'utf8');
    const w = await cngDocs(['padus-4-1', '--brief', '--write-schema', '--data-dir', dir]);
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/not writing the schema snapshot: \d+ product\(s\) missing/);
    expect(readFileSync(join(ROOT, 'datasets/padus-4-1.schema.json'), 'utf8')).toBe(before);
  });

  it('--print-input prints the docs stage input the synth writes into the docs Job', async () => {
    const r = await cngDocs(['padus-4-1', '--print-input']);
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.stdout);
    const job = [...synthesize([padus41]).manifests.get('padus-4-1/docs/manifest.yaml')!].find((o) => o.kind === 'Job')!;
    const cmd: string[] = job.spec.template.spec.containers[0].command;
    expect(cmd.slice(0, 3)).toEqual(['cng-worker', 'docs', '--dataset-json']);
    expect(JSON.parse(cmd[3])).toEqual(printed);
    expect(printed).toMatchObject({ bucket: 'public-padus', readme: 's3://public-padus/README.md', stac: 's3://public-padus/stac-collection.json', publicEndpoint: 'https://s3-west.nrp-nautilus.io' });
    expect(printed.layers.map((l: any) => l.key)).toEqual(['fee', 'easement', 'proclamation', 'marine', 'designation', 'combined']);
  });

  it('usage errors', async () => {
    expect((await cngDocs(['padus-4-1', '--brief', '--check'])).code).toBe(2);
    expect((await cngDocs(['padus-4-1', '--write-schema'])).code).toBe(2);
    expect((await cngDocs([])).code).toBe(2);
  });
});

describe('docs/reading-products.md', () => {
  const md = readFileSync(join(ROOT, 'docs/reading-products.md'), 'utf8');
  // Raster blocks (`<!-- docs-test: raster -->`) run in test/raster-pipeline.test.ts, over raster products.
  const blocks = [...md.matchAll(/(<!-- docs-test: (?:skip \(([^)]*)\)|raster) -->\n)?```sql\n([\s\S]*?)```/g)].filter((b) => !b[1]?.includes('docs-test: raster'));

  /** A query through `cng sql padus-4-1` over the fixture run (its s3:// literals read the directory store), as JSON rows. */
  const viaCngSql = async (sql: string) => {
    const r = await cngSql(['padus-4-1', '--data-dir', dir, '--format', 'json', sql]);
    expect(r.code, `${sql}\n${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>[];
  };

  it('every sql block runs unchanged through cng sql against the fixture products', async () => {
    const run = blocks.filter((b) => !b[1]);
    expect(run.length).toBeGreaterThanOrEqual(8);
    for (const [, , , sql] of run) {
      expect(sql, 'the examples read the PAD-US products').toContain('s3://public-padus/');
      expect(Array.isArray(await viaCngSql(sql)), sql).toBe(true);
    }
  });

  it('the GAP status example counts cells per status joined to its lookup table', async () => {
    const sql = blocks.map((b) => b[3]).find((s) => s.includes('GAP_Status.parquet'))!;
    const rows = await viaCngSql(sql);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => ['1', '2', '3', '4'].includes(String(r.gap_status)) && Number(r.cells) > 0)).toBe(true);
    const direct = (await db.runAndReadAll(sql.replaceAll('s3://public-padus/', `${store}/public-padus/`))).getRowObjectsJson();
    expect(rows.map((r) => [r.gap_status, r.cells])).toEqual(direct.map((r) => [r.gap_status, Number(r.cells)]));
  });

  it('the types the attribute-types table gives are the published ones', async () => {
    const md2 = md.slice(md.indexOf('### Attribute types'), md.indexOf('### Features (GeoParquet)'));
    const described = await viaCngSql('DESCRIBE fee');
    const hex = await viaCngSql('DESCRIBE fee_hex');
    const typeOf = new Map([...described, ...hex].map((r) => [String(r.column_name), String(r.column_type).replaceAll('"', '')]));
    let n = 0;
    for (const [, cols, type] of md2.matchAll(/^\| (`[^|]+`) \| ([^|]+?) \|/gm))
      for (const [, col] of cols.matchAll(/`([^`]+)`/g)) {
        n++;
        expect(typeOf.get(col), col).toBe(type.replace(' (WKB)', ''));
      }
    expect(n).toBeGreaterThanOrEqual(10);
  });

  it('skips only network setup blocks, and says why', () => {
    const skipped = blocks.filter((b) => b[1]);
    expect(skipped).toHaveLength(1);
    for (const b of skipped) {
      expect(b[2]).toMatch(/network/);
      for (const stmt of b[3].split(';').map((s) => s.trim()).filter(Boolean)) expect(stmt).toMatch(/^(INSTALL|LOAD|CREATE SECRET|SET)\b/);
    }
  });
});

describe('cng sql', () => {
  const md = readFileSync(join(ROOT, 'docs/reading-products.md'), 'utf8');

  it('lists a dataset\'s views over the local run and names the products not found', async () => {
    const r = await cngSql(['padus-4-1', '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    const views = r.stdout.split('\n').slice(2).filter(Boolean).map((l) => l.split(/\s+/).slice(0, 2).join(' '));
    expect(views.sort()).toEqual(
      ['fee parquet', 'fee_hex hex', 'fee_manifest manifest', 'marine parquet', 'marine_hex hex', 'marine_manifest manifest', ...TABLES.map((t) => `${t} parquet`)].sort(),
    );
    expect(r.stderr).toMatch(/^cng sql: not in .*\/store \(no view\): easement, easement_hex, easement_manifest, .*combined_manifest, IUCN_Category, .*State_Name$/m);
  });

  it('runs the manual\'s cng sql command lines against the fixture run', async () => {
    const lines = [...md.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((b) => b[1].split('\n')).map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.startsWith('npx cng sql '));
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) {
      const [target, ...rest] = words(line).slice(3);
      const args = target.startsWith('data/') ? [join(dir, target.slice('data/'.length)), ...rest] : [target, '--data-dir', dir, ...rest];
      const r = await cngSql(args);
      expect(r.code, `${line}\n${r.stderr}`).toBe(0);
      expect(r.stdout.trim().split('\n').length, line).toBeGreaterThanOrEqual(2);
    }
  });

  it('views read the same rows as the files, with h0 typed UBIGINT; a directory gives the same views', async () => {
    const hexGlob = `${store}/public-padus/padus-4-1/fee/hex/**/*.parquet`;
    const [[rows, cells]] = (await db.runAndReadAll(`SELECT count(*), count(DISTINCT h10) FROM read_parquet('${hexGlob}')`)).getRows();
    const q = 'SELECT count(*) AS n, count(DISTINCT h10) AS cells, any_value(typeof(h0)) AS h0_type FROM fee_hex';
    const expected = [{ n: Number(rows), cells: Number(cells), h0_type: 'UBIGINT' }];
    expect(await viaSql(['padus-4-1', '--data-dir', dir, '--format', 'json', q])).toEqual(expected);
    expect(await viaSql([join(store, 'public-padus/padus-4-1'), '--format', 'json', q])).toEqual(expected);
  });

  it('prints an aligned table with types, CSV, or reads --file', async () => {
    const q = "SELECT Code, Dom FROM GAP_Status WHERE Code IN ('1', '2') ORDER BY Code";
    const t = await cngSql(['padus-4-1', '--data-dir', dir, q]);
    const lines = t.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Code\s+Dom$/);
    expect(lines[1]).toMatch(/^-+\s+-+$/);
    expect(lines[2]).toMatch(/^VARCHAR\s+VARCHAR$/);
    expect(lines[3]).toMatch(/^1\s+\S/);
    expect(lines.at(-1)).toBe('(2 rows)');
    const file = join(dir, 'q.sql');
    writeFileSync(file, `-- a comment\n${q};\n`);
    const csv = await cngSql(['padus-4-1', '--data-dir', dir, '--file', file, '--format', 'csv']);
    expect(csv.code, csv.stderr).toBe(0);
    const [header, ...body] = csv.stdout.trimEnd().split('\n');
    expect(header).toBe('Code,Dom');
    expect(body.map((l) => l.split(',')[0])).toEqual(['1', '2']);
    const limited = await cngSql(['padus-4-1', '--data-dir', dir, '--max-rows', '1', q]);
    expect(limited.stdout).toContain('(1 more row: --max-rows, or --format csv for all)');
  });

  it('exit status 1 with DuckDB\'s message (and why, for spatial functions), 2 for usage errors', async () => {
    const bad = await cngSql(['padus-4-1', '--data-dir', dir, 'SELECT nope FROM fee']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^cng sql: Binder Error: .*nope/m);
    const spatial = await cngSql(['padus-4-1', '--data-dir', dir, 'SELECT ST_Area(geometry) FROM fee']);
    expect(spatial.code).toBe(1);
    expect(spatial.stderr).toMatch(/spatial extension[\s\S]*not available offline/);
    const empty = await cngSql(['padus-4-1', '--data-dir', join(dir, 'nothing-here'), 'SELECT 1']);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/no products found for 'padus-4-1'/);
    expect((await cngSql([])).code).toBe(2);
    expect((await cngSql(['padus-4-1', 'SELECT 1', '--file', 'x.sql'])).code).toBe(2);
    expect((await cngSql(['padus-4-1', 'SELECT 1', '--format', 'xml'])).code).toBe(2);
    expect((await cngSql(['padus-4-1', 'SELECT', '1'])).code).toBe(2);
  });
});

/** JSON rows of `cng sql … --format json`. */
async function viaSql(args: string[]): Promise<Record<string, unknown>[]> {
  const r = await cngSql(args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** The last log lines of the stages that did not finish, for the failure message. */
function failureLogs(failed: StageResult[]): string {
  const logs = join(dir, 'runs', 'logs');
  const files = existsSync(logs) ? readdirSync(logs) : [];
  return failed
    .map((r) => files.filter((f) => f.includes(`-${r.stage.id}-`)).map((f) => readFileSync(join(logs, f), 'utf8').split('\n').slice(-15).join('\n')).join('\n'))
    .join('\n');
}
