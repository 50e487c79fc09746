/**
 * `cng preview` end to end: real products from `cng local` on the PAD-US-like fixture, the preview
 * server on a free port, its HTTP API (layers, Range requests, hex cells) checked with fetch, and
 * the page driven in Debian Chromium through playwright-core (WebGL by SwiftShader): the map
 * renders the feature, the layer switcher hides it, the hex overlay renders, a click opens a popup
 * with the feature's attributes. Screenshot: test-artifacts/preview.png.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { cellToParent, getResolution, latLngToCell, polygonToCells } from 'h3-js';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError } from '../worker/core/errors.ts';
import { runCommand } from '../worker/core/command.ts';
import { cellRing, resolutionForZoom, viewBoxes } from '../cli/preview/hex-query.ts';
import { childRange, parentMasks } from '../worker/geo/h3/hierarchy.ts';
import { type LayerInfo, previewCommand, type PreviewServer, startPreviewServer } from '../cli/preview/preview.ts';
import { makePadusLikeGdb } from './fixtures.ts';
import { writeRaster } from './raster-fixtures.ts';
import { ROOT } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts');
/** The fixture's Yellowstone square (3 km), from the GeoParquet: its centre, in lon/lat. */
const YELLOWSTONE = { lon: -111.6606, lat: 44.4028, name: 'Yellowstone National Park' };
const FEE = 'padus4-1fee';
const MARINE = 'padus4-1marine';
/** The page's background colour (#f2efe9). */
const BACKGROUND = [0xf2, 0xef, 0xe9];

let work: string;
let out: string;
let server: PreviewServer;
let browser: BrowserContext | undefined;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cng-preview-'));
  out = join(work, 'out');
  const gdb = await makePadusLikeGdb(work);
  await buildProducts(gdb, out);
  server = await startPreviewServer({ dir: out, port: 0 });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** How long `cng local` may take on the fixture (~25 s on 2 quiet cores with six stages a layer; CI may be loaded). */
const LOCAL_TIMEOUT_MS = 100_000;

/**
 * `cng local` on the fixture's two polygon layers. While the hex stage is unfinished (it fails with
 * "not implemented yet", or does not finish in time), the hex chunks are made here with h3-js
 * (centre containment, as the stage specifies) and the real repartition and tiles stages are
 * run on them — with a warning, so nobody mistakes it for the full pipeline.
 */
async function buildProducts(gdb: string, dir: string): Promise<void> {
  const run = await nodeAsync(['bin/cng.js', 'local', gdb, '--out', dir, '--layers', 'PADUS4_1Fee,PADUS4_1Marine', '--jobs', '2'], LOCAL_TIMEOUT_MS);
  if (run.status === 0) return;
  const logs = join(dir, '.cng-run', 'logs');
  const hexLogs = existsSync(logs) ? readdirSync(logs).filter((f) => /-hex-/.test(f)).map((f) => readFileSync(join(logs, f), 'utf8')).join('\n') : '';
  const converted = [FEE, MARINE].every((s) => existsSync(join(dir, `${s}.parquet`)) && existsSync(join(dir, s, '_work', 'hex-plan.json')));
  const hexUnfinished = converted && (run.timedOut || /not implemented yet/.test(hexLogs));
  if (!hexUnfinished) throw new Error(`cng local failed (exit ${run.status}${run.timedOut ? ', timed out' : ''}):\n${run.stdout}\n${run.stderr}`);
  console.warn(
    `preview.test: WARNING: cng local's hex stage ${run.timedOut ? `did not finish in ${LOCAL_TIMEOUT_MS / 1000} s` : 'is not implemented yet'}: ` +
      'building the hex chunks with h3-js here, then running the real repartition and tiles stages',
  );
  for (const slug of [FEE, MARINE]) {
    rmSync(join(dir, slug, '_work', 'chunks'), { recursive: true, force: true });
    await standInHexChunk(dir, slug);
    const p = (s: string) => join(dir, s);
    for (const args of [
      ['repartition', '--input', p(`${slug}.parquet`), '--plan', p(`${slug}/_work/hex-plan.json`), '--chunks', p(`${slug}/_work/chunks`),
        '--resolution', '10', '--parents', '9,8', '--out', p(`${slug}/hex`), '--manifest', p(`${slug}/manifest.json`)],
      ['tiles', '--input', p(`${slug}.parquet`), '--parts', p(`${slug}/_work/tiles`), '--units', '1', '--index', '0', '--layer-name', slug],
      ['tiles-merge', '--parts', p(`${slug}/_work/tiles`), '--units', '1', '--out', p(`${slug}.pmtiles`), '--layer-name', slug],
    ]) {
      if (args[0].startsWith('tiles') && existsSync(p(`${slug}.pmtiles`))) continue;
      const r = await nodeAsync(['bin/cng-worker.js', ...args], 30_000, { TMPDIR: work });
      if (r.status !== 0) throw new Error(`cng-worker ${args[0]} failed:\n${r.stderr}`);
    }
  }
}

/** Runs `node <args>` in its own process group; on timeout the whole group (workers too) is killed. */
function nodeAsync(args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ status: number | null; stdout: string; stderr: string; timedOut: boolean }>((ok) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid!, 'SIGKILL');
    }, timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      ok({ status, stdout, stderr, timedOut });
    });
  });
}

/** `<slug>/_work/chunks/chunk-000000.parquet` (_cng_fid, h10, h9, h8, h0) from the GeoParquet. */
async function standInHexChunk(dir: string, slug: string): Promise<void> {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  try {
    const rows = (await db.runAndReadAll(`SELECT _cng_fid AS id, geometry::VARCHAR AS wkt FROM read_parquet('${join(dir, `${slug}.parquet`)}') WHERE geometry IS NOT NULL`)).getRowObjectsJson();
    const values: string[] = [];
    for (const r of rows) {
      const polygons = String(r.wkt).replace(/^MULTIPOLYGON \(\(\(/, '').replace(/\)\)\)$/, '').split(/\)\),\s*\(\(/);
      for (const polygon of polygons) {
        const rings = polygon.split(/\),\s*\(/).map((ring) => ring.split(',').map((pt) => pt.trim().split(/\s+/).map(Number)));
        let cells = polygonToCells(rings, 10, true);
        if (!cells.length) cells = [latLngToCell(rings[0][0][1], rings[0][0][0], 10)];
        for (const c of cells) values.push(`(${r.id}, ${[c, cellToParent(c, 9), cellToParent(c, 8), cellToParent(c, 0)].map((x) => BigInt(`0x${x}`)).join(', ')})`);
      }
    }
    mkdirSync(join(dir, slug, '_work', 'chunks'), { recursive: true });
    await db.run('CREATE TABLE c (_cng_fid BIGINT, h10 UBIGINT, h9 UBIGINT, h8 UBIGINT, h0 UBIGINT)');
    await db.run(`INSERT INTO c VALUES ${values.join(', ')}`);
    await db.run(`COPY c TO '${join(dir, slug, '_work', 'chunks', 'chunk-000000.parquet')}' (FORMAT parquet)`);
  } finally {
    db.closeSync();
  }
}

const api = (path: string, init?: RequestInit) => fetch(new URL(path, server.url), init);

describe('cng preview: server', () => {
  it('lists the layers with PMTiles, vector layer, bounds and hex info', async () => {
    const res = await api('/api/layers');
    expect(res.status).toBe(200);
    const { layers } = (await res.json()) as { layers: LayerInfo[] };
    expect(layers.map((l) => l.name)).toEqual([FEE, MARINE]);
    const fee = layers[0];
    const manifest = JSON.parse(readFileSync(join(out, FEE, 'manifest.json'), 'utf8'));
    expect(fee).toMatchObject({
      pmtiles: `/tiles/${FEE}.pmtiles`,
      vectorLayer: FEE,
      hex: { resolution: 10, parents: [9, 8], cells: manifest.cells, features: 3, idColumn: '_cng_fid', attribute: 'Unit_Nm' },
    });
    expect(fee.fields).toContain('Unit_Nm');
    // Bounds from the PMTiles header: Yellowstone (west, north) to Shenandoah (east).
    const [w, s, e, n] = fee.bounds!;
    expect(w).toBeCloseTo(-111.68, 1);
    expect(n).toBeCloseTo(44.42, 1);
    expect(e).toBeCloseTo(-77.51, 1);
    expect(s).toBeCloseTo(26.49, 1);
  });

  it('answers Range requests on the archives with 206 and the right bytes', async () => {
    const file = readFileSync(join(out, `${FEE}.pmtiles`));
    const size = file.length;
    const full = await api(`/tiles/${FEE}.pmtiles`);
    expect(full.status).toBe(200);
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await full.arrayBuffer()).equals(file)).toBe(true);
    for (const [range, start, end] of [['bytes=0-126', 0, 126], ['bytes=100-1099', 100, 1099], [`bytes=${size - 10}-`, size - 10, size - 1], ['bytes=-50', size - 50, size - 1], [`bytes=5-${size + 100}`, 5, size - 1]] as const) {
      const r = await api(`/tiles/${FEE}.pmtiles`, { headers: { Range: range } });
      expect(r.status, range).toBe(206);
      expect(r.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${size}`);
      expect(Number(r.headers.get('content-length'))).toBe(end - start + 1);
      expect(Buffer.from(await r.arrayBuffer()).equals(file.subarray(start, end + 1)), range).toBe(true);
    }
    const bad = await api(`/tiles/${FEE}.pmtiles`, { headers: { Range: `bytes=${size}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${size}`);
    const head = await api(`/tiles/${FEE}.pmtiles`, { method: 'HEAD', headers: { Range: 'bytes=0-9' } });
    expect([head.status, head.headers.get('content-length')]).toEqual([206, '10']);
    expect((await api('/tiles/nope.pmtiles')).status).toBe(404);
    expect((await api('/tiles/..%2F..%2Fetc%2Fpasswd.pmtiles')).status).toBe(404);
  });

  it('serves the page and the MapLibre/pmtiles builds from node_modules', async () => {
    const html = await (await api('/')).text();
    expect(html).toContain('/vendor/maplibre-gl.js');
    expect(html).not.toMatch(/https?:\/\//);
    for (const path of ['/vendor/maplibre-gl.js', '/vendor/maplibre-gl.css', '/vendor/pmtiles.js', '/app.js', '/preview.css']) {
      const r = await api(path);
      expect(r.status, path).toBe(200);
      expect((await r.arrayBuffer()).byteLength, path).toBeGreaterThan(100);
    }
  });

  it('returns the hex cells in view: finest cells with ids and attribute when zoomed in', async () => {
    const bbox = '-111.70,44.38,-111.62,44.43';
    const r = await api(`/api/hex?layer=${FEE}&bbox=${bbox}&zoom=15`);
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body).toMatchObject({ type: 'FeatureCollection', resolution: 10, layerResolution: 10, capped: false, attribute: 'Unit_Nm' });
    expect(body.features.length).toBeGreaterThan(300); // a 9 km² square ≈ 600 res-10 cells
    for (const f of body.features) {
      expect(getResolution(f.properties.cell)).toBe(10);
      expect(f.properties).toMatchObject({ count: 1, ids: '1', Unit_Nm: YELLOWSTONE.name });
      expect(f.geometry.type).toBe('Polygon');
      expect(f.geometry.coordinates[0]).toHaveLength(7); // closed hexagon, GeoJSON order (lon, lat)
      expect(f.geometry.coordinates[0][0][0]).toBeCloseTo(-111.66, 1);
    }
  });

  it('aggregates to a coarser resolution when zoomed out, every cell counted once', async () => {
    const manifest = JSON.parse(readFileSync(join(out, FEE, 'manifest.json'), 'utf8'));
    const body = await (await api(`/api/hex?layer=${FEE}&bbox=-125,24,-66,50&zoom=3.5`)).json();
    expect(body.resolution).toBeLessThan(6);
    expect(body.features.length).toBe(3); // one cell per (far apart) feature
    expect(body.features.reduce((n: number, f: any) => n + f.properties.count, 0)).toBe(manifest.cells);
    for (const f of body.features) expect(getResolution(f.properties.cell)).toBe(body.resolution);
    // Mid zoom: a stored parent column (res 8 or 9) or a computed parent; the totals still add up.
    const mid = await (await api(`/api/hex?layer=${FEE}&bbox=-111.9,44.2,-111.4,44.6&zoom=11`)).json();
    expect(mid.resolution).toBeGreaterThan(body.resolution);
    expect(mid.resolution).toBeLessThan(10);
    const ys = (await (await api(`/api/hex?layer=${FEE}&bbox=-111.70,44.38,-111.62,44.43&zoom=15`)).json()).features.length;
    expect(mid.features.reduce((n: number, f: any) => n + f.properties.count, 0)).toBe(ys);
  });

  it('caps the answer and says so; rejects bad requests', async () => {
    const capped = await (await api(`/api/hex?layer=${FEE}&bbox=-111.70,44.38,-111.62,44.43&zoom=15&limit=25`)).json();
    expect(capped).toMatchObject({ capped: true, limit: 25 });
    expect(capped.features).toHaveLength(25);
    expect((await api(`/api/hex?layer=nope&bbox=0,0,1,1&zoom=3`)).status).toBe(404);
    expect((await api(`/api/hex?layer=${FEE}&bbox=0,0,1&zoom=3`)).status).toBe(400);
    expect((await api(`/api/hex?layer=${FEE}&bbox=0,0,1,1&zoom=x`)).status).toBe(400);
    // A view wrapping the world several times is fine too.
    const world = await (await api(`/api/hex?layer=${MARINE}&bbox=-540,-85,540,85&zoom=0`)).json();
    expect(world.features.length).toBeGreaterThan(0);
  });

  it('has H3 arithmetic matching h3-js and handles the antimeridian', () => {
    const cell = latLngToCell(44.4, -111.66, 10);
    const int = BigInt(`0x${cell}`);
    for (const r of [9, 8, 5, 0]) {
      const { keep, set } = parentMasks(r);
      expect(((int & keep) | set).toString(16)).toBe(cellToParent(cell, r));
      const parent = BigInt(`0x${cellToParent(cell, r)}`);
      const [lo, hi] = childRange(parent, r, 10);
      expect(int >= lo && int <= hi).toBe(true);
    }
    expect(resolutionForZoom(20, 45, 10)).toBe(10);
    expect(resolutionForZoom(0, 0, 10)).toBeLessThan(2);
    // A cell straddling ±180 is drawn on one side, not as a band around the world.
    const fiji = latLngToCell(-16.5, 179.99, 4); // its raw boundary spans 359.9° of longitude
    for (const centre of [179, -179]) {
      const lons = cellRing(fiji, centre).map((p) => p[0]);
      expect(Math.max(...lons) - Math.min(...lons)).toBeLessThan(10);
      expect(Math.sign(lons.reduce((a, b) => a + b) / lons.length)).toBe(Math.sign(centre));
    }
    // Views across the antimeridian split into boxes inside [-180, 180].
    expect(viewBoxes(170, 0, 190, 10)).toEqual([[170, 0, 180, 10], [-180, 0, -170, 10]]);
    expect(viewBoxes(-200, 0, -170, 10)).toEqual([[160, 0, 180, 10], [-180, 0, -170, 10]]);
  });

  it('dataset mode reads the outputs the Jobs name from the directory store', async () => {
    const data = join(work, 'data');
    await expect(startPreviewServer({ dataset: 'padus-4-1', dataDir: data, distDir: join(ROOT, 'dist'), port: 0 })).rejects.toThrow(
      /padus-4-1.*no outputs yet.*run `cng run padus-4-1` first/,
    );
    const prefix = join(data, 'store', 'public-padus', 'padus-4-1');
    mkdirSync(join(prefix, 'fee'), { recursive: true });
    cpSync(join(out, `${FEE}.pmtiles`), join(prefix, 'fee.pmtiles'));
    cpSync(join(out, FEE, 'hex'), join(prefix, 'fee', 'hex'), { recursive: true });
    cpSync(join(out, FEE, 'manifest.json'), join(prefix, 'fee', 'manifest.json'));
    const s = await startPreviewServer({ dataset: 'padus-4-1', dataDir: data, distDir: join(ROOT, 'dist'), port: 0 });
    try {
      expect(s.layers.map((l) => l.name)).toEqual(['fee']);
      expect(s.layers[0]).toMatchObject({ pmtiles: '/tiles/fee.pmtiles', vectorLayer: FEE, hex: { resolution: 10 } });
      const hex = await (await fetch(new URL(`/api/hex?layer=fee&bbox=-111.70,44.38,-111.62,44.43&zoom=15`, s.url))).json();
      expect(hex.features.length).toBeGreaterThan(300);
    } finally {
      await s.close();
    }
  });

  it('fails clearly with nothing to show', async () => {
    const empty = mkdtempSync(join(work, 'empty-'));
    await expect(startPreviewServer({ dir: empty, port: 0 })).rejects.toThrow(CommandError);
    await expect(startPreviewServer({ dir: empty, port: 0 })).rejects.toThrow(/no products in/);
    const stderr: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => (stderr.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await runCommand(previewCommand, [empty, '--port', '0'], 'cng')).toBe(1);
      expect(await runCommand(previewCommand, [], 'cng')).toBe(2);
      expect(await runCommand(previewCommand, [out, '--port', 'x'], 'cng')).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(stderr.join('')).toMatch(/cng preview: no products in/);
  });

  it('the command prints the URL and stops cleanly on SIGTERM', async () => {
    const script = `import { runCommand } from './worker/core/command.ts'; import { previewCommand } from './cli/preview/preview.ts';
      process.exitCode = await runCommand(previewCommand, process.argv.slice(1), 'cng');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, out, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const url = await new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no URL printed: ${stdout}`)), 30_000);
      child.stdout.on('data', () => {
        const m = /serving (http:\/\/\S+)/.exec(stdout);
        if (m) (clearTimeout(timer), ok(m[1]));
      });
      child.on('exit', (code) => fail(new Error(`exited ${code}: ${stdout}`)));
    });
    expect((await fetch(new URL('/api/layers', url))).status).toBe(200);
    const code = await new Promise<number | null>((ok) => {
      child.on('exit', (c) => ok(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});

describe('cng preview: raster hex products', () => {
  let dir: string;
  let srv: PreviewServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cng-preview-raster-'));
    // A count raster (people per pixel) and a class raster, through the real pipeline (cng local).
    const pop = writeRaster(join(dir, 'src/people.tif'), {
      width: 120, height: 90, nodata: -1, geoTransform: [-122.6, 0.01, 0, 38.2, 0, -0.01],
      value: (x, y) => (x % 13 === 0 ? -1 : ((x * 7 + y * 3) % 10) + 0.5),
    });
    const cls = writeRaster(join(dir, 'src/cover.tif'), {
      width: 120, height: 90, type: 'Byte', nodata: 0, geoTransform: [-122.6, 0.01, 0, 38.2, 0, -0.01],
      value: (x, y) => (x < 80 ? 3 : y < 30 ? 7 : 5),
    });
    for (const [src, kind] of [[pop, 'count'], [cls, 'categorical']])
      expect((await nodeAsync(['bin/cng.js', 'local', src, '--out', join(dir, 'out'), '--value-kind', kind, '--resolution', '7', '--jobs', '2'], LOCAL_TIMEOUT_MS)).status).toBe(0);
    srv = await startPreviewServer({ dir: join(dir, 'out'), port: 0 });
  }, LOCAL_TIMEOUT_MS * 2);
  afterAll(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const hex = async (layer: string, zoom: number) => (await fetch(`${srv.url}api/hex?layer=${layer}&bbox=-123,37,-121,38.5&zoom=${zoom}`)).json();

  it('lists rasters with their value kind and value columns', () => {
    const people = srv.layers.find((l) => l.name === 'people')!;
    expect(people.pmtiles).toBeNull();
    expect(people.hex).toMatchObject({ resolution: 7, idColumn: null, attribute: null, raster: { valueKind: 'count', columns: ['value'] } });
    expect(srv.layers.find((l) => l.name === 'cover')!.hex!.raster).toMatchObject({ valueKind: 'categorical', columns: ['class'], classes: [3, 5, 7] });
  });

  it('count cells keep the total at every display resolution; categorical cells show the majority class', async () => {
    const total = JSON.parse(readFileSync(join(dir, 'out/people/manifest.json'), 'utf8')).total.value;
    for (const zoom of [10, 6, 4]) {
      const body = await hex('people', zoom);
      expect(body.resolution).toBeLessThanOrEqual(7);
      const sum = body.features.reduce((a: number, f: any) => a + f.properties.value, 0);
      expect(Math.abs(sum / total - 1), `zoom ${zoom}, res ${body.resolution}`).toBeLessThan(1e-9);
      expect(body.features.every((f: any) => f.properties.coverage > 0 && f.properties.coverage <= 1)).toBe(true);
    }
    const fine = await hex('cover', 10);
    expect(fine.resolution).toBe(7);
    expect(new Set(fine.features.map((f: any) => f.properties.class))).toEqual(new Set([3, 5, 7]));
    expect(fine.features.every((f: any) => f.properties.fraction > 0 && f.properties.fraction <= 1)).toBe(true);
    // Coarse: the most frequent class among a coarse cell's stored cells (3 covers two thirds of the raster).
    const coarse = await hex('cover', 4);
    expect(coarse.resolution).toBeLessThan(7);
    expect(coarse.features.some((f: any) => f.properties.class === 3)).toBe(true);
  });
});

describe('cng preview: the page in Chromium', () => {
  let page: Page;
  const errors: string[] = [];
  const foreign: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing (${CHROMIUM}): run scripts/setup.sh, which installs Debian's chromium`);
    // A fresh profile directory (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(mkdtempSync(join(work, 'chromium-')), {
      executablePath: CHROMIUM,
      viewport: { width: 1024, height: 700 },
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
        '--disable-component-update', '--disable-sync',
        // WebGL without a GPU: ANGLE on SwiftShader.
        '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    const origin = new URL(server.url).origin;
    page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(`${origin}/`) && !/^(blob|data):/.test(u)) foreign.push(u);
    });
    await page.goto(server.url);
    await page.waitForFunction(() => (window as any).__preview?.map?.loaded(), null, { timeout: 20_000 });
    await settle();
  }, 60_000);

  const settle = () => page.evaluate(() => (window as any).__preview.settled());

  /** RGB of the map canvas at the screen position of a lon/lat. */
  const pixelAt = (lon: number, lat: number) =>
    page.evaluate(([lon, lat]) => {
      const map = (window as any).__preview.map;
      const p = map.project([lon, lat]);
      const gl = map.getCanvas() as HTMLCanvasElement;
      const c = document.createElement('canvas');
      c.width = gl.width;
      c.height = gl.height;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(gl, 0, 0);
      const ratio = gl.width / gl.clientWidth;
      return Array.from(ctx.getImageData(Math.round(p.x * ratio), Math.round(p.y * ratio), 1, 1).data.slice(0, 3));
    }, [lon, lat]);
  const isBackground = (rgb: number[]) => rgb.every((v, i) => Math.abs(v - BACKGROUND[i]) <= 3);

  it('fits the data, loads tiles and hex cells without errors or foreign requests', async () => {
    const view = await page.evaluate(() => {
      const { map, hex } = (window as any).__preview;
      const b = map.getBounds();
      return { west: b.getWest(), east: b.getEast(), south: b.getSouth(), north: b.getNorth(), hex: Object.fromEntries(Object.entries(hex).map(([k, v]: any) => [k, v.cells])) };
    });
    expect(view.west).toBeLessThan(-118.9); // marine's Channel Islands
    expect(view.east).toBeGreaterThan(-77.5); // fee's Shenandoah
    expect(view.hex[FEE]).toBeGreaterThan(0);
    expect(view.hex[MARINE]).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
  });

  it('draws the feature, hides it with the switcher, renders the hex overlay, and shows attributes on click', async () => {
    await page.evaluate(([lon, lat]) => (window as any).__preview.map.jumpTo({ center: [lon, lat], zoom: 13 }), [YELLOWSTONE.lon, YELLOWSTONE.lat]);
    await settle();
    const all = await pixelAt(YELLOWSTONE.lon, YELLOWSTONE.lat);
    expect(isBackground(all), `pixel ${all}`).toBe(false);
    const rendered = await page.evaluate((name) => (window as any).__preview.map.querySourceFeatures(`tiles:${name}`, { sourceLayer: name }).length, FEE);
    expect(rendered).toBeGreaterThan(0);

    // Hex off: the tiles alone still cover the point.
    await page.click(`#toggle-hex-${FEE}`);
    await settle();
    expect(isBackground(await pixelAt(YELLOWSTONE.lon, YELLOWSTONE.lat))).toBe(false);
    // Tiles off too: background.
    await page.click(`#toggle-tiles-${FEE}`);
    await settle();
    const none = await pixelAt(YELLOWSTONE.lon, YELLOWSTONE.lat);
    expect(isBackground(none), `pixel ${none}`).toBe(true);
    // Hex alone: cells at the layer's (or a parent) resolution cover the point.
    await page.click(`#toggle-hex-${FEE}`);
    await settle();
    const hex = await page.evaluate((name) => {
      const p = (window as any).__preview;
      return { ...p.hex[name], pending: undefined, controller: undefined, drawn: p.map.queryRenderedFeatures({ layers: [`hex:${name}:fill`] }).length };
    }, FEE);
    expect(hex.cells).toBeGreaterThan(50);
    expect(hex.resolution).toBeGreaterThanOrEqual(9);
    expect(hex.drawn).toBeGreaterThan(0);
    const hexPixel = await pixelAt(YELLOWSTONE.lon, YELLOWSTONE.lat);
    expect(isBackground(hexPixel), `pixel ${hexPixel}`).toBe(false);
    expect(await page.textContent(`#hex-status-${FEE}`)).toMatch(/cells in view at res (9|10)/);
    await page.click(`#toggle-tiles-${FEE}`);
    await settle();

    // Click → popup with the feature's attributes (and the hex cell's).
    const p = await page.evaluate(([lon, lat]) => (window as any).__preview.map.project([lon, lat]), [YELLOWSTONE.lon, YELLOWSTONE.lat]);
    await page.mouse.click(p.x, p.y);
    const popup = page.locator('.maplibregl-popup');
    await popup.waitFor({ timeout: 5_000 });
    const text = await popup.textContent();
    expect(text).toContain('Unit_Nm');
    expect(text).toContain(YELLOWSTONE.name);
    expect(text).toMatch(/hex cell/);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'preview.png') });
    expect(statSync(join(ARTIFACTS, 'preview.png')).size).toBeGreaterThan(10_000);
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
  });
});
