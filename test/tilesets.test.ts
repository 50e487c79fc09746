/**
 * Per-level layers and a tiered PMTiles (a dataset file's `tilesets`): three nested "levels" of
 * polygons made with GDAL (each level subdivides the previous one 2 × 2), shown at their own zooms
 * in one archive. Checked through the constructs (stages, dependsOn, arguments, validation), the
 * worker (member zooms, detail zoom, the merge), `cng local --tileset` and `cng run` of a small
 * dataset file; archives read back with the `pmtiles` reader and @mapbox/vector-tile.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import gdal from 'gdal-async';
import Pbf from 'pbf';
import { PMTiles, type Source } from 'pmtiles';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatasetSpec, publicKeys, synthesize, type DatasetSpec } from '../constructs/index.ts';
import type { DatasetProse } from '../constructs/prose.ts';
import { mergeTiles } from '../worker/vector/tiles-merge.ts';
import { tileUnit } from '../worker/vector/tiles.ts';
import { makeVectorDataset } from './fixtures.ts';
import { cng, repoCopy } from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// Fixture: level_a (4 squares of 20°), level_b (16 of 10°), level_c (64 of 5°) over ±20°
// ---------------------------------------------------------------------------------------------

const LEVELS = [
  { name: 'level_a', code: 'A', n: 2 },
  { name: 'level_b', code: 'B', n: 4 },
  { name: 'level_c', code: 'C', n: 8 },
];

function levelRows(code: string, n: number) {
  const size = 40 / n;
  const rows = [];
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const [w, s] = [-20 + i * size, -20 + j * size];
      rows.push({ level: code, cell: i * n + j, wkt: `MULTIPOLYGON(((${w} ${s},${w + size} ${s},${w + size} ${s + size},${w} ${s + size},${w} ${s})))` });
    }
  return rows;
}

async function makeLevels(path: string): Promise<string> {
  return makeVectorDataset(
    path,
    'GPKG',
    LEVELS.map((l) => ({ name: l.name, fields: [['level', gdal.OFTString], ['cell', gdal.OFTInteger]] as [string, string][], rows: levelRows(l.code, l.n) })),
  );
}

// ---------------------------------------------------------------------------------------------
// Reading archives
// ---------------------------------------------------------------------------------------------

function archive(path: string): PMTiles {
  const source: Source = {
    getKey: () => path,
    getBytes: async (offset, length) => {
      const fh = await open(path);
      try {
        const buf = Buffer.alloc(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        return { data: buf.buffer.slice(0, bytesRead) as ArrayBuffer };
      } finally {
        await fh.close();
      }
    },
  };
  return new PMTiles(source);
}

/** The `level` of every feature of source-layer `layer` in tile z/x/y (undefined: no tile). */
async function levelsIn(path: string, layer: string, z: number, x: number, y: number): Promise<string[] | undefined> {
  const t = await archive(path).getZxy(z, x, y);
  if (!t) return undefined;
  const tile = new VectorTile(new Pbf(new Uint8Array(t.data)));
  expect(Object.keys(tile.layers)).toEqual([layer]);
  const l = tile.layers[layer];
  return Array.from({ length: l.length }, (_, i) => String(l.feature(i).properties.level));
}

/** The z/x/y tile holding lon/lat. */
function tileAt(lon: number, lat: number, z: number): [number, number, number] {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  return [z, Math.floor(((lon + 180) / 360) * n), Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n)];
}

/** Checks an archive of the three levels at A 0–1, B 2–3, C 4–5: each zoom's tiles hold one level only. */
async function expectTiered(path: string, layer: string): Promise<void> {
  const expected: Record<number, string> = { 0: 'A', 1: 'A', 2: 'B', 3: 'B', 4: 'C', 5: 'C' };
  for (const [z, level] of Object.entries(expected)) {
    const got = await levelsIn(path, layer, ...tileAt(5, 5, Number(z)));
    expect(got?.length, `zoom ${z}`).toBeGreaterThan(0);
    expect(new Set(got), `zoom ${z}`).toEqual(new Set([level]));
  }
  // z0: all four level-A squares; nothing beyond the last zoom.
  expect((await levelsIn(path, layer, 0, 0, 0))?.length).toBe(4);
  expect(await levelsIn(path, layer, ...tileAt(5, 5, 6))).toBeUndefined();
  const p = archive(path);
  const h = await p.getHeader();
  expect([h.specVersion, h.minZoom, h.maxZoom]).toEqual([3, 0, 5]);
  expect([h.minLon, h.minLat, h.maxLon, h.maxLat].map((v) => Math.round(v))).toEqual([-20, -20, 20, 20]);
  const meta = (await p.getMetadata()) as any;
  expect(meta.vector_layers).toEqual([{ id: layer, description: '', minzoom: 0, maxzoom: 5, fields: expect.objectContaining({ level: 'String', cell: 'Number' }) }]);
  expect([meta.minzoom, meta.maxzoom]).toEqual([0, 5]);
  expect(meta.strategies.map((s: { zoom: number }) => s.zoom)).toEqual([0, 1, 2, 3, 4, 5]);
  expect(meta.members.map((m: any) => [m.minzoom, m.maxzoom, m.features])).toEqual([[0, 1, 4], [2, 3, 16], [4, 5, 64]]);
}

// ---------------------------------------------------------------------------------------------
// Constructs
// ---------------------------------------------------------------------------------------------

const SPEC: DatasetSpec = {
  name: 'levels',
  title: 'Nested levels',
  run: 1,
  source: 's3://public-levels/raw/levels.gpkg',
  bucket: 'public-levels',
  maxPods: 20,
  hex: { resolution: 3, parents: [2] },
  layers: {
    a: { layer: 'level_a', name: 'level_01', features: 4, pmtiles: { maxZoom: 3 } },
    b: { layer: 'level_b', name: 'level_02', features: 16, pmtiles: { maxZoom: 3 } },
    // Only in the tiered archive: no level_03.pmtiles of its own.
    c: { layer: 'level_c', name: 'level_03', features: 64, pmtiles: false },
  },
  tilesets: { unified: { name: 'levels_unified', layer: 'levels', zooms: { a: [0, 1], b: [2, 3], c: [4, 5] } } },
};

function specError(over: Partial<DatasetSpec>): string {
  try {
    parseDatasetSpec({ ...SPEC, ...over });
  } catch (err) {
    return (err as Error).message;
  }
  return '(no error)';
}

describe('the tilesets construct (synth)', () => {
  const { manifests, datasets } = synthesize([SPEC]);
  const flux = manifests.get('flux/levels.yaml')!;
  const dependsOn = (id: string) => (flux.find((k) => k.metadata.name === `levels-${id}`)!.spec.dependsOn ?? []).map((d: { name: string }) => d.name);
  const args = (id: string) => manifests.get(`levels/${id}/manifest.yaml`)!.find((o) => o.kind === 'Job')!.spec.template.spec.containers[0].command as string[];
  const arg = (a: string[], flag: string) => a[a.indexOf(flag) + 1];

  it('renders each member after its layer is published, at its zooms only, then one merge that publishes', () => {
    expect(dependsOn('unified-a-tiles')).toEqual(['levels-a-publish']);
    expect(dependsOn('unified-c-tiles')).toEqual(['levels-c-publish']);
    expect(dependsOn('unified-tiles-merge')).toEqual(['levels-unified-a-tiles', 'levels-unified-b-tiles', 'levels-unified-c-tiles']);
    const documented = synthesize([{ ...SPEC, prose: PROSE }]).manifests.get('flux/levels.yaml')!;
    expect(documented.find((k) => k.metadata.name === 'levels-docs')!.spec.dependsOn.map((d: { name: string }) => d.name)).toContain('levels-unified-tiles-merge');
    const a = args('unified-a-tiles');
    expect([arg(a, '--input'), arg(a, '--layer-name'), arg(a, '--min-zoom'), arg(a, '--max-zoom'), arg(a, '--detail-zoom')]).toEqual([
      's3://public-levels/level_01.parquet', 'levels', '0', '1', '2',
    ]);
    expect(arg(a, '--parts')).toBe('s3://public-levels/levels_unified/_work/run-1/tiles/a');
    // The last member is over-zoomed: full detail at its max zoom.
    expect(args('unified-c-tiles')).not.toContain('--detail-zoom');
    const m = args('unified-tiles-merge');
    expect([arg(m, '--min-zoom'), arg(m, '--max-zoom'), arg(m, '--members'), arg(m, '--units')]).toEqual(['0', '5', 'a,b,c', '1,1,1']);
    expect([arg(m, '--out'), arg(m, '--manifest'), arg(m, '--work')]).toEqual([
      's3://public-levels/levels_unified.pmtiles', 's3://public-levels/levels_unified/manifest.json', 's3://public-levels/levels_unified/_work/run-1',
    ]);
    expect(publicKeys(datasets[0].spec)).toEqual(expect.arrayContaining(['levels_unified.pmtiles', 'levels_unified/manifest.json']));
    expect(datasets[0].docsInput.tilesets).toEqual([
      {
        key: 'unified', name: 'levels_unified', pmtiles: 's3://public-levels/levels_unified.pmtiles', pmtilesLayer: 'levels',
        manifest: 's3://public-levels/levels_unified/manifest.json',
        zooms: [{ layer: 'a', name: 'level_01', minZoom: 0, maxZoom: 1 }, { layer: 'b', name: 'level_02', minZoom: 2, maxZoom: 3 }, { layer: 'c', name: 'level_03', minZoom: 4, maxZoom: 5 }],
      },
    ]);
  });

  it('gives a layer with pmtiles: false no tiles stages and no archive of its own; the tileset still tiles it', () => {
    const ids = datasets[0].stages.map((s) => s.stageId);
    expect(ids.filter((id) => id.startsWith('c-'))).toEqual(['c-convert', 'c-hex', 'c-repartition', 'c-publish']);
    expect(ids).toContain('unified-c-tiles');
    expect(dependsOn('c-publish')).toEqual(['levels-c-repartition']);
    expect(args('c-publish')).not.toContain('--out-pmtiles');
    expect(args('c-publish')).not.toContain('--tiles');
    expect(arg(args('b-publish'), '--out-pmtiles')).toBe('s3://public-levels/level_02.pmtiles');
    expect(publicKeys(datasets[0].spec)).not.toContain('level_03.pmtiles');
    expect(datasets[0].docsInput.layers.find((l) => l.key === 'c')).not.toHaveProperty('pmtiles');
    expect(specError({ layers: { a: { layer: 'level_a', features: 4, pmtiles: true as never } } })).toMatch(/layers\.a\.pmtiles/);
  });

  it('keeps the manifests of a dataset without tilesets as they were (no tilesets in the docs input)', () => {
    const { datasets: plain } = synthesize([{ ...SPEC, tilesets: undefined }]);
    expect(plain[0].docsInput).not.toHaveProperty('tilesets');
    expect(plain[0].stages.map((s) => s.stageId).filter((id) => id.startsWith('unified'))).toEqual([]);
  });

  it('refuses overlapping or gapped zooms, unknown layers, zooms beyond 15 and clashing names', () => {
    const zooms = (z: Record<string, [number, number]>) => specError({ tilesets: { unified: { zooms: z } } });
    expect(zooms({ a: [0, 2], b: [2, 3] })).toMatch(/tilesets\.unified\.zooms\.b: zooms of b start at 2, within a's \(up to 2\)/);
    expect(zooms({ a: [0, 1], c: [4, 5] })).toMatch(/tilesets\.unified\.zooms\.c: no layer for zooms 2–3 \(between a and c\)/);
    expect(zooms({ a: [0, 1], x: [2, 3] })).toMatch(/tilesets\.unified\.zooms\.x: no layer x \(layers: a, b, c\)/);
    expect(zooms({ a: [0, 16] })).toMatch(/tilesets\.unified\.zooms\.a\.1: must be a zoom 0\.\.15/);
    expect(zooms({ a: [3, 1] })).toMatch(/first zoom 3 is above last zoom 1/);
    expect(zooms({})).toMatch(/list at least one layer/);
    expect(specError({ tilesets: { unified: { name: 'level_02', zooms: { a: [0, 1] } } } })).toMatch(/tilesets\.unified\.name: product name "level_02" is also layer b's/);
    expect(specError({ tilesets: { a: { zooms: { a: [0, 1] } } } })).toMatch(/tilesets\.a: "a" is also a layer key/);
    expect(specError({ tilesets: { unified: { zooms: { a: [0, 1] }, units: { b: 2 } } } })).toMatch(/tilesets\.unified\.units\.b: b is not a member/);
  });
});

// ---------------------------------------------------------------------------------------------
// Worker, cng local, cng run
// ---------------------------------------------------------------------------------------------

let dir: string;
let gpkg: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cng-tilesets-'));
  gpkg = await makeLevels(join(dir, 'levels.gpkg'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tiles members and the merge (worker)', () => {
  let parquet: Record<string, string>;
  beforeAll(() => {
    // The three levels as GeoParquet, as convert writes them.
    parquet = {};
    for (const l of LEVELS) {
      const out = join(dir, 'gp', `${l.name}.parquet`);
      mkdirSync(join(dir, 'gp'), { recursive: true });
      const r = cng(['worker', 'convert', '--source', gpkg, '--layer', l.name, '--out', out, '--plan', join(dir, 'gp', `${l.name}.json`), '--resolution', '3', '--units', '1']);
      expect(r.code, r.stderr).toBe(0);
      parquet[l.code] = out;
    }
  }, 120_000);

  const unit = (code: string, minZoom: number, maxZoom: number, parts: string, extra: object = {}) =>
    tileUnit({ input: parquet[code], parts, layerName: 'levels', minZoom, maxZoom, units: 1, index: 0, ...extra });

  it('budgets and simplifies the last zoom of a member that is not over-zoomed (--detail-zoom)', async () => {
    const over = await unit('C', 0, 1, join(dir, 'detail', 'full'), { maxTileFeatures: 8 });
    const detail = await unit('C', 0, 1, join(dir, 'detail', 'budgeted'), { maxTileFeatures: 8, detailZoom: 2 });
    // At its max zoom a layer is over-zoomed: nothing is dropped, the tile is oversize.
    expect(over.zoomStats[1]).toMatchObject({ coalesced: 0, dropped: 0 });
    expect(over.zoomStats[1].oversize).toBeGreaterThan(0);
    expect(detail.zoomStats[1].oversize).toBe(0);
    expect(detail.zoomStats[1].coalesced).toBeGreaterThan(0);
    await expect(unit('C', 0, 3, join(dir, 'detail', 'bad'), { detailZoom: 2 })).rejects.toThrow(/--detail-zoom \(2\) is below --max-zoom \(3\)/);
  });

  it('merges members rendered at their zooms into one archive, and refuses members sharing a zoom', async () => {
    const parts = (m: string) => join(dir, 'merge', m);
    await unit('A', 0, 1, parts('a'), { detailZoom: 2 });
    await unit('B', 2, 3, parts('b'), { detailZoom: 4 });
    await unit('C', 4, 5, parts('c'));
    const out = join(dir, 'merge', 'levels.pmtiles');
    const report = await mergeTiles({ parts: [parts('a'), parts('b'), parts('c')], units: [1, 1, 1], members: ['a', 'b', 'c'], layerName: 'levels', minZoom: 0, maxZoom: 5, out });
    await expectTiered(out, 'levels');
    expect(report.members).toEqual([
      { layer: 'a', minZoom: 0, maxZoom: 1, rows: 4, features: 4 },
      { layer: 'b', minZoom: 2, maxZoom: 3, rows: 16, features: 16 },
      { layer: 'c', minZoom: 4, maxZoom: 5, rows: 64, features: 64 },
    ]);
    expect(report.features).toBe(84);

    await unit('B', 1, 2, parts('b-overlap'), { detailZoom: 3 });
    const overlap = mergeTiles({ parts: [parts('a'), parts('b-overlap')], units: [1, 1], members: ['a', 'b'], layerName: 'levels', minZoom: 0, maxZoom: 2, out: join(dir, 'merge', 'never.pmtiles') });
    await expect(overlap).rejects.toThrow(/members a and b both have tiles at zoom 1/);
    expect(existsSync(join(dir, 'merge', 'never.pmtiles'))).toBe(false);
  }, 120_000);
});

describe('cng local --tileset', () => {
  it('writes the per-level products and the tiered archive with its manifest', async () => {
    const out = join(dir, 'local');
    const r = cng(['local', gpkg, '--out', out, '--resolution', '3', '--parents', '2', '--max-zoom', '2', '--tileset', 'levels:level_a=0-1,level_b=2-3,level_c=4-5', '--jobs', '2'], { timeout: 300_000 });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    for (const f of ['level-a.parquet', 'level-b.pmtiles', 'level-c/manifest.json', 'levels.pmtiles', 'levels/manifest.json']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(r.stdout).toMatch(/levels\.pmtiles\s+0–5/);
    await expectTiered(join(out, 'levels.pmtiles'), 'levels');
    const m = JSON.parse(readFileSync(join(out, 'levels/manifest.json'), 'utf8'));
    expect(m).toMatchObject({ version: 1, kind: 'tileset', run: 1, layer: 'levels', files: { 'levels.pmtiles': { bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } } });
    expect(m.members.map((x: { layer: string }) => x.layer)).toEqual(['l1', 'l2', 'l3']);
    // The parts are gone once published.
    expect(existsSync(join(out, 'levels/_work'))).toBe(false);
    expect(cng(['local', gpkg, '--out', join(dir, 'bad'), '--tileset', 'levels:level_x=0-1']).stderr).toMatch(/--tileset: no layer 'level_x'/);
  }, 300_000);
});

/** Prose for the docs stage: every column of the levels described once, each layer titled. */
const PROSE: DatasetProse = {
  title: 'Nested levels (test)', description: 'Three nested levels of squares.', keywords: ['levels'],
  license: 'CC0-1.0', citation: 'Test producer, 2026.', temporal: ['2026-01-01T00:00:00Z', null], providers: [{ name: 'Test producer', roles: ['producer'] }],
  columns: { level: 'The level of the square (A, B or C).', cell: 'Number of the square within its level.' },
  layers: Object.fromEntries(['a', 'b', 'c'].map((k) => [k, { title: `Level ${k}`, description: `The squares of level ${k}.` }])),
};

describe('cng run of a dataset file with a tileset', () => {
  let repo: string;
  beforeAll(() => {
    repo = repoCopy();
    writeFileSync(join(repo, 'datasets/levels.ts'), `import type { DatasetSpec } from '../constructs/index.ts';\nexport const levels: DatasetSpec = ${JSON.stringify({ ...SPEC, prose: PROSE }, null, 2)};\n`);
    writeFileSync(join(repo, 'datasets/index.ts'), "import { levels } from './levels.ts';\nexport const datasets = [levels];\n");
  });
  afterAll(() => repo && rmSync(repo, { recursive: true, force: true }));

  it('synthesizes, validates, runs every stage and lists the archive in the README and STAC', async () => {
    for (const cmd of [['synth'], ['validate']]) {
      const r = cng(cmd, { cwd: repo });
      expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const data = mkdtempSync(join(tmpdir(), 'cng-tilesets-run-'));
    mkdirSync(join(data, 'store/public-levels/raw'), { recursive: true });
    writeFileSync(join(data, 'store/public-levels/raw/levels.gpkg'), readFileSync(gpkg));
    const r = cng(['run', 'levels', '--data-dir', data, '--jobs', '2'], { cwd: repo, timeout: 400_000 });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const root = join(data, 'store/public-levels');
    await expectTiered(join(root, 'levels_unified.pmtiles'), 'levels');
    const m = JSON.parse(readFileSync(join(root, 'levels_unified/manifest.json'), 'utf8'));
    expect(m.tiles.zooms.map((z: { zoom: number; tiles: number }) => z.zoom)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(existsSync(join(root, 'levels_unified/_work'))).toBe(false);
    expect(existsSync(join(root, 'level_02.pmtiles'))).toBe(true);
    expect(existsSync(join(root, 'level_03.pmtiles'))).toBe(false);
    expect(existsSync(join(root, 'level_03/manifest.json'))).toBe(true);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toMatch(/\| unified \| `levels` \| 0–1: a, 2–3: b, 4–5: c \| \[levels_unified\.pmtiles\]/);
    const stac = JSON.parse(readFileSync(join(root, 'stac-collection.json'), 'utf8'));
    expect(stac.assets['levels_unified-pmtiles']).toMatchObject({
      type: 'application/vnd.pmtiles',
      'cng:zoom_layers': [{ layer: 'a', minzoom: 0, maxzoom: 1 }, { layer: 'b', minzoom: 2, maxzoom: 3 }, { layer: 'c', minzoom: 4, maxzoom: 5 }],
      'cng:vector_layers': [{ id: 'levels', minzoom: 0, maxzoom: 5 }],
    });
    rmSync(data, { recursive: true, force: true });
  }, 600_000);
});

describe('the manual', () => {
  it("synthesizes docs/datasets.md's HydroBASINS tileset example: L3 z0–1, L4 z2, L5 z3–4, L6 z5–12", () => {
    const md = readFileSync(join(import.meta.dirname, '../docs/datasets.md'), 'utf8');
    const section = md.slice(md.indexOf('### Per-level layers and a tiered PMTiles'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1];
    const literal = code.replace(/^import .*$/m, '').replace(/export const \w+: DatasetSpec = /, 'return ');
    const spec = new Function(literal)() as DatasetSpec;
    const { datasets } = synthesize([spec]);
    const stages = datasets[0].stages.filter((s) => s.layer === 'unified');
    expect(stages.map((s) => [s.stageId, s.dependsOn.map((d) => d.stageId)])).toEqual([
      ['unified-l3-tiles', ['l3-publish']], ['unified-l4-tiles', ['l4-publish']], ['unified-l5-tiles', ['l5-publish']], ['unified-l6-tiles', ['l6-publish']],
      ['unified-tiles-merge', ['unified-l3-tiles', 'unified-l4-tiles', 'unified-l5-tiles', 'unified-l6-tiles']],
    ]);
    expect(datasets[0].docsInput.tilesets![0]).toMatchObject({ pmtiles: 's3://public-hydrobasins/hydrobasins_unified.pmtiles', pmtilesLayer: 'hydrobasins' });
    expect(datasets[0].docsInput.tilesets![0].zooms.map((z) => [z.name, z.minZoom, z.maxZoom])).toEqual([
      ['level_03', 0, 1], ['level_04', 2, 2], ['level_05', 3, 4], ['level_06', 5, 12],
    ]);
  });
});
