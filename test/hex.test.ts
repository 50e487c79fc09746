/**
 * The hex stage on real parts: GeoParquet inputs written with DuckDB, plans as JSON, the stage run
 * in-process and through the real CLI, chunks read back with DuckDB and checked against h3-js.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import * as h3 from 'h3-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError } from '../worker/core/errors.ts';
import { shapesBBox, type Polygon, type Shapes } from '../worker/geo/shapes.ts';
import { shapesToWkb } from '../worker/geo/wkb.ts';
import { H3Engine, pairsToBigInts } from '../worker/geo/h3/engine.ts';
import { DEFAULT_SPLIT, polygonCells, type SplitLimits } from '../worker/geo/h3/tasks.ts';
import { runHex, type HexPlan, type HexTuning } from '../worker/vector/hex.ts';
import { ROOT } from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures

const dir = mkdtempSync(join(tmpdir(), 'cng-hex-test-'));
let db: DuckDBInstance;
let con: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  con = await db.connect();
});
afterAll(() => con?.closeSync());

type Feature = { fid: number; shapes: Shapes | null; name?: string };

const poly = (...rings: number[][][]): Shapes => ({ polygons: [rings.map((r) => Float64Array.from(r.flat()))], lines: [], points: [] });
const multi = (...polys: Shapes[]): Shapes => ({ polygons: polys.flatMap((p) => p.polygons), lines: polys.flatMap((p) => p.lines), points: polys.flatMap((p) => p.points) });
const rect = (x: number, y: number, w: number, h: number) => poly([[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]);

/** A wiggly closed ring (star-shaped, so simple) of n vertices around (lng, lat). */
function blob(lng: number, lat: number, rKm: number, n: number, wiggle = 0.01): Float64Array {
  const r = new Float64Array(2 * n);
  const kx = 1 / (111.195 * Math.cos((lat * Math.PI) / 180));
  const ky = 1 / 111.195;
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / n;
    const f = rKm * (1 + 0.15 * Math.sin(3 * t) + 0.05 * Math.sin(17 * t + 1) + wiggle * Math.sin(211 * t + 2) + 0.002 * Math.sin(4999 * t));
    r[2 * i] = lng + f * Math.cos(t) * kx;
    r[2 * i + 1] = lat + f * Math.sin(t) * ky;
  }
  return r;
}

let counter = 0;
/** Writes a GeoParquet in the documented layout: _cng_fid, attributes, geometry (WKB), bbox. */
async function geoparquet(features: Feature[]): Promise<string> {
  const path = join(dir, `in-${++counter}.parquet`);
  const t = `feat_${counter}`;
  await con.run(`CREATE TABLE ${t} (fid BIGINT, name VARCHAR, wkb BLOB, xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE)`);
  const app = await con.createAppender(t);
  for (const f of features) {
    app.appendBigInt(BigInt(f.fid));
    app.appendVarchar(f.name ?? `feature ${f.fid}`);
    if (f.shapes) {
      const b = shapesBBox(f.shapes);
      app.appendBlob(shapesToWkb(f.shapes));
      for (const v of [b.xmin, b.ymin, b.xmax, b.ymax]) app.appendDouble(v);
    } else for (let i = 0; i < 5; i++) app.appendNull();
    app.endRow();
  }
  app.closeSync();
  await con.run(`COPY (SELECT fid AS _cng_fid, name, ST_GeomFromWKB(wkb) AS geometry,
      CASE WHEN wkb IS NULL THEN NULL ELSE {'xmin': xmin, 'ymin': ymin, 'xmax': xmax, 'ymax': ymax} END AS bbox
    FROM ${t}) TO '${path}' (FORMAT parquet, COMPRESSION zstd)`);
  return path;
}

function planFile(units: HexPlan['workUnits'], resolution = 10, total = units.length): string {
  const path = join(dir, `plan-${++counter}.json`);
  const plan: HexPlan = { version: 1, layer: 'test', resolution, units: total, workUnits: units };
  writeFileSync(path, JSON.stringify(plan));
  return path;
}

/** Runs the stage in-process; returns the chunk's rows by fid (cells as bigint). */
async function hex(input: string, plan: string, o: { index?: number; res?: number; containment?: string; parents?: string; tuning?: Partial<HexTuning>; chunks?: string } = {}) {
  const chunks = o.chunks ?? join(dir, `chunks-${++counter}`);
  const summary = await runHex(
    { input, plan, chunks, resolution: String(o.res ?? 10), index: String(o.index ?? 0), containment: o.containment, parents: o.parents },
    o.tuning,
  );
  return { summary, chunk: summary.chunk, files: summary.files, ...(await readChunk(summary.files.length ? summary.chunk : null, o.res ?? 10)) };
}

/** Whether two runs wrote the same chunk files, byte for byte (one per h0 cell). */
const sameChunks = (a: { files: string[] }, b: { files: string[] }) =>
  a.files.length === b.files.length && a.files.every((f, i) => f.split('/').at(-2) === b.files[i].split('/').at(-2) && readFileSync(f).equals(readFileSync(b.files[i])));

async function readChunk(path: string | null, res = 10) {
  const rows = path ? (await con.runAndReadAll(`SELECT _cng_fid, h${res} FROM read_parquet('${path}', hive_partitioning=false)`)).getRows() : [];
  const byFid = new Map<number, Set<bigint>>();
  for (const [fid, h] of rows) {
    const s = byFid.get(Number(fid)) ?? new Set<bigint>();
    s.add(h as bigint);
    byFid.set(Number(fid), s);
  }
  return { rows: rows.length, byFid };
}

const big = (hex: string) => BigInt(`0x${hex}`);
const setOf = (cells: string[]) => new Set(cells.map(big));
const coords = (p: Polygon) => p.map((r) => Array.from({ length: r.length / 2 }, (_, i) => [r[2 * i], r[2 * i + 1]]));
/** The independent reference: h3-js's classic polygonToCells on each polygon. */
const reference = (s: Shapes, res: number) => setOf(s.polygons.flatMap((p) => h3.polygonToCells(coords(p), res, true)));
const lngOf = (c: bigint) => h3.cellToLatLng(c.toString(16))[1];

function expectSameSet(actual: Set<bigint> | undefined, expected: Set<bigint>) {
  expect(actual, 'no cells').toBeDefined();
  const missing = [...expected].filter((c) => !actual!.has(c));
  const extra = [...actual!].filter((c) => !expected.has(c));
  expect({ missing: missing.length, extra: extra.length, size: actual!.size }).toEqual({ missing: 0, extra: 0, size: expected.size });
}

// ---------------------------------------------------------------------------------------------

describe('hex stage: polygons, parents, types', () => {
  const features: Feature[] = [
    { fid: 1, shapes: rect(-122.5, 37.7, 0.05, 0.04) },
    { fid: 2, shapes: poly([[-120, 40], [-119.9, 40], [-119.9, 40.08], [-120, 40.08], [-120, 40]], [[-119.97, 40.02], [-119.93, 40.02], [-119.95, 40.06], [-119.97, 40.02]]) },
    { fid: 3, shapes: multi(rect(-105, 39, 0.02, 0.02), rect(-104.9, 39, 0.03, 0.01)) },
    { fid: 4, shapes: rect(-100.2, 45, 0.0001, 0.0001) }, // far smaller than a res-10 cell
    { fid: 5, shapes: rect(-99, 45, 0.3, 0.000002) }, // a 24 km sliver 20 cm wide
    { fid: 6, shapes: null },
    { fid: 7, shapes: { polygons: [[blob(-110, 35, 3, 400)]], lines: [], points: [] } },
  ];
  let input: string;
  let result: Awaited<ReturnType<typeof hex>>;

  beforeAll(async () => {
    input = await geoparquet(features);
    result = await hex(input, planFile([{ index: 0, items: [1, 2, 3, 4, 5, 7].map((fid) => ({ fid })) }]));
  });

  it('gives the cells of an independent h3-js polygonToCells (centre containment)', () => {
    for (const f of features.filter((x) => [1, 2, 3, 7].includes(x.fid))) expectSameSet(result.byFid.get(f.fid), reference(f.shapes!, 10));
  });

  it('gives every non-empty feature at least one cell: the cell of a point on its surface', () => {
    expect(reference(features[3].shapes!, 10).size).toBe(0);
    expect(reference(features[4].shapes!, 10).size).toBe(0);
    expect([...result.byFid.get(4)!]).toEqual([big(h3.latLngToCell(45.00005, -100.19995, 10))]);
    const sliver = [...result.byFid.get(5)!];
    expect(sliver).toHaveLength(1);
    const [lat, lng] = h3.cellToLatLng(sliver[0].toString(16));
    expect(Math.abs(lat - 45)).toBeLessThan(0.001);
    expect(lng).toBeGreaterThan(-99.001);
    expect(lng).toBeLessThan(-98.699);
    expect(result.byFid.has(6)).toBe(false);
    expect(result.summary.fallbackCells).toBe(2);
  });

  it('writes _cng_fid BIGINT, h10/h9/h8/h0 UBIGINT, parents equal to cellToParent, no duplicates', async () => {
    const cols = (await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${result.chunk}', hive_partitioning=false)`)).getRows().map((r) => `${r[0]} ${r[1]}`);
    expect(cols).toEqual(['_cng_fid BIGINT', 'h10 UBIGINT', 'h9 UBIGINT', 'h8 UBIGINT', 'h0 UBIGINT']);
    const rows = (await con.runAndReadAll(`SELECT h10, h9, h8, h0 FROM read_parquet('${result.chunk}', hive_partitioning=false)`)).getRows() as bigint[][];
    for (const [h10, h9, h8, h0] of rows) {
      const s = h10.toString(16);
      expect([h9, h8, h0].map((x) => x.toString(16))).toEqual([h3.cellToParent(s, 9), h3.cellToParent(s, 8), h3.cellToParent(s, 0)]);
    }
    const [[n, distinct]] = (await con.runAndReadAll(`SELECT count(*), count(DISTINCT (_cng_fid, h10)) FROM read_parquet('${result.chunk}', hive_partitioning=false)`)).getRows();
    expect(n).toBe(distinct);
    expect(Number(n)).toBe(result.rows);
  });

  it('is deterministic: the same unit twice gives byte-identical chunks', async () => {
    const again = await hex(input, planFile([{ index: 0, items: [1, 2, 3, 4, 5, 7].map((fid) => ({ fid })) }]));
    expect(sameChunks(again, result)).toBe(true);
  });

  it('writes parents as asked (and always h0), at other resolutions', async () => {
    const r = await hex(input, planFile([{ index: 0, items: [{ fid: 1 }] }], 8), { res: 8, parents: '6' });
    const cols = (await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${r.chunk}', hive_partitioning=false)`)).getRows().map((x) => x[0]);
    expect(cols).toEqual(['_cng_fid', 'h8', 'h6', 'h0']);
    expectSameSet(r.byFid.get(1), reference(features[0].shapes!, 8));
  });

  it('gives the same cells without the fast h3-js path and in the main thread', async () => {
    const r = await hex(input, planFile([{ index: 0, items: [1, 2, 3, 4, 5, 7].map((fid) => ({ fid })) }]), { tuning: { fastH3: false, threads: 0 } });
    expect(r.summary.fastH3).toBe(false);
    expect(r.rows).toBe(result.rows);
    for (const [fid, cells] of result.byFid) expectSameSet(r.byFid.get(fid), cells);
  });
});

describe('hex stage: the antimeridian and the poles', () => {
  // Aleutian-like chain: islands on both sides, some touching ±180 exactly.
  const islands: Shapes[] = [];
  for (let i = 0; i < 6; i++) islands.push(rect(172 + i * 1.3, 51 + (i % 3) * 0.2, 0.4, 0.15));
  islands.push(rect(179.8, 51.6, 0.2, 0.1)); // touches 180
  islands.push(rect(-180, 51.6, 0.25, 0.1)); // touches -180
  for (let i = 0; i < 5; i++) islands.push(rect(-179 + i * 1.7, 51.5 + (i % 2) * 0.3, 0.5, 0.12));
  const features: Feature[] = [
    { fid: 10, shapes: multi(...islands) },
    // one feature split by convert at the antimeridian: 170°E..180 and -180..-170°W
    { fid: 11, shapes: multi(rect(170, 60, 10, 0.2), rect(-180, 60, 10, 0.2)) },
    // a west-side island written with 180 where -180 is meant (H3 would read a 359.9° edge)
    { fid: 12, shapes: poly([[180, 53], [-179.9, 53], [-179.9, 53.1], [180, 53.1], [180, 53]]) },
    // a ring that crosses the antimeridian (not split)
    { fid: 13, shapes: poly([[179.9, 54], [-179.9, 54], [-179.9, 54.1], [179.9, 54.1], [179.9, 54]]) },
    { fid: 14, shapes: poly([[-10, 85], [10, 85], [10, 89.9], [-10, 89.9], [-10, 85]]) },
    { fid: 15, shapes: poly([[30, -89.5], [60, -89.5], [60, -85], [30, -85], [30, -89.5]]) },
  ];
  let r: Awaited<ReturnType<typeof hex>>;
  beforeAll(async () => {
    const input = await geoparquet(features);
    r = await hex(input, planFile([{ index: 0, items: features.map((f) => ({ fid: f.fid })) }], 7), { res: 7, parents: '5' });
  });

  it('puts cells only near ±180 for features touching or crossing it, never round the globe', () => {
    for (const fid of [10, 11, 12, 13]) {
      const cells = [...r.byFid.get(fid)!];
      expect(cells.length, `fid ${fid}`).toBeGreaterThan(0);
      expect(Math.min(...cells.map((c) => Math.abs(lngOf(c)))), `fid ${fid}`).toBeGreaterThan(170);
    }
    expectSameSet(r.byFid.get(10), reference(features[0].shapes!, 7));
    expectSameSet(r.byFid.get(11), reference(features[1].shapes!, 7));
    expectSameSet(r.byFid.get(12), reference(rect(-180, 53, 0.1, 0.1), 7));
    expectSameSet(r.byFid.get(13), setOf([...h3.polygonToCells(coords(rect(179.9, 54, 0.1, 0.1).polygons[0]), 7, true), ...h3.polygonToCells(coords(rect(-180, 54, 0.1, 0.1).polygons[0]), 7, true)]));
  });

  it('is correct near the poles', () => {
    expectSameSet(r.byFid.get(14), reference(features[4].shapes!, 7));
    expectSameSet(r.byFid.get(15), reference(features[5].shapes!, 7));
    expect(Math.min(...[...r.byFid.get(14)!].map((c) => h3.cellToLatLng(c.toString(16))[0]))).toBeGreaterThan(84.9);
  });
});

describe('hex stage: points, lines, collections', () => {
  const line = [[-122.4, 37.7], [-122.3, 37.75], [-122.25, 37.72]];
  const features: Feature[] = [
    { fid: 20, shapes: { polygons: [], lines: [], points: [-122.4194, 37.7749] } },
    { fid: 21, shapes: { polygons: [], lines: [], points: [-122.4194, 37.7749, -122.4195, 37.7749, -73.98, 40.75] } },
    { fid: 22, shapes: { polygons: [], lines: [Float64Array.from(line.flat())], points: [] } },
    { fid: 23, shapes: { polygons: rect(-100, 40, 0.02, 0.02).polygons, lines: [Float64Array.from([-101, 40, -101.01, 40.01])], points: [-102, 41] } },
  ];
  let r: Awaited<ReturnType<typeof hex>>;
  beforeAll(async () => {
    const input = await geoparquet(features);
    r = await hex(input, planFile([{ index: 0, items: features.map((f) => ({ fid: f.fid })) }], 9), { res: 9 });
  });

  it('gives points their cell', () => {
    expect([...r.byFid.get(20)!]).toEqual([big(h3.latLngToCell(37.7749, -122.4194, 9))]);
    expect(r.byFid.get(21)).toEqual(setOf([h3.latLngToCell(37.7749, -122.4194, 9), h3.latLngToCell(37.7749, -122.4195, 9), h3.latLngToCell(40.75, -73.98, 9)]));
  });

  it('gives lines the cells they pass through', () => {
    const dense = new Set<bigint>();
    for (let i = 0; i + 1 < line.length; i++)
      for (let k = 0; k <= 20000; k++) {
        const t = k / 20000;
        dense.add(big(h3.latLngToCell(line[i][1] + (line[i + 1][1] - line[i][1]) * t, line[i][0] + (line[i + 1][0] - line[i][0]) * t, 9)));
      }
    const got = r.byFid.get(22)!;
    expect([...got].filter((c) => !dense.has(c))).toEqual([]); // nothing the line does not touch
    expect(got.size).toBeGreaterThanOrEqual(dense.size - 1); // at most a corner clipped by a few metres
    for (const [x, y] of line) expect(got.has(big(h3.latLngToCell(y, x, 9)))).toBe(true);
  });

  it('handles geometry collections (polygon + line + point)', () => {
    const got = r.byFid.get(23)!;
    for (const c of reference(features[3].shapes!, 9)) expect(got.has(c)).toBe(true);
    expect(got.has(big(h3.latLngToCell(41, -102, 9)))).toBe(true);
    expect(got.has(big(h3.latLngToCell(40, -101, 9)))).toBe(true);
  });
});

describe('hex stage: large polygons, pieces, overlap', () => {
  it('cuts a 50,000-vertex polygon into pieces and gets exactly the cells of the whole', async () => {
    const ring = blob(-120, 45, 40, 50_000);
    const shapes: Shapes = { polygons: [[ring]], lines: [], points: [] };
    const input = await geoparquet([{ fid: 1, shapes }]);
    const r = await hex(input, planFile([{ index: 0, items: [{ fid: 1 }] }]), { tuning: { taskVertices: 10_000 } });
    // The whole polygon in one h3-js call takes over a minute at this size (vertices × cells),
    // so the reference is the definition itself: every res-10 cell of the bbox whose centre is
    // inside the ring (even-odd rule, edges as straight lon/lat lines, as H3).
    const b = shapesBBox(shapes);
    const candidates = h3.polygonToCellsExperimental(
      [[[b.xmin, b.ymin], [b.xmax, b.ymin], [b.xmax, b.ymax], [b.xmin, b.ymax]]], 10, h3.POLYGON_TO_CELLS_FLAGS.containmentCenter, true);
    const inside = ringTester(ring);
    const expected = new Set(candidates.filter((c) => { const [lat, lng] = h3.cellToLatLng(c); return inside(lng, lat); }).map(big));
    expect(expected.size).toBeGreaterThan(300_000);
    expectSameSet(r.byFid.get(1), expected);
  });

  it('gives the same cells cut into small pieces as in one h3-js call (fast path and H3 path)', () => {
    const p: Polygon = [blob(-100, 50, 12, 3000, 0.05), blob(-100, 50, 3, 500)];
    p[1].reverse(); // orientation does not matter to H3
    const engine = new H3Engine();
    expect(engine.fast).toBe(true);
    const whole = new Set(pairsToBigInts(engine.polyfill(p, 10, 'center')));
    expect(whole.size).toBeGreaterThan(20_000);
    const small: SplitLimits = { minVertices: 4, maxVertices: 64, work: 2_000, maxCells: 500 };
    const fast = pairsToBigInts(polygonCells(engine, p, 10, 'center', DEFAULT_SPLIT, small));
    const slow = pairsToBigInts(polygonCells(new H3Engine({ fast: false }), p, 10, 'center', small));
    for (const cut of [fast, slow]) {
      expect(cut.length).toBe(whole.size);
      expectSameSet(new Set(cut), whole);
    }
  });

  it('fast centre polyfill equals H3 on random polygons (holes, pentagons, ±180, res 7–11)', () => {
    const engine = new H3Engine();
    let s = 11;
    const rand = () => (s = (s * 16807) % 2147483647) / 2147483647;
    const pentagons = h3.getPentagons(9).map((c) => h3.cellToLatLng(c));
    let compared = 0;
    for (let i = 0; i < 120; i++) {
      let [lat, lng] = [-70 + rand() * 140, -175 + rand() * 350];
      if (i % 6 === 0) [lat, lng] = pentagons[i % pentagons.length].map((v) => v + (rand() - 0.5) * 0.1);
      if (i % 7 === 1) lng = 179.95 - rand() * 0.3;
      const rKm = 0.05 * Math.pow(200, rand());
      const res = 7 + (i % 5);
      const p: Polygon = [blob(lng, lat, rKm, 5 + Math.floor(rand() * 200), 0.1)];
      if (i % 3 === 0) p.push(blob(lng, lat, rKm * 0.3, 12).reverse());
      if (p[0].some((v, k) => k % 2 === 0 && Math.abs(v) > 180)) continue;
      const fast = engine.polyfillCenterFast(p, res);
      expect(fast).not.toBeNull();
      const got = pairsToBigInts(fast!);
      expect(got.length).toBe(new Set(got).size);
      expectSameSet(new Set(got), new Set(pairsToBigInts(engine.polyfill(p, res, 'center'))));
      compared++;
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('splits a feature into longitude-strip pieces whose cells together are the whole', async () => {
    const shapes = multi({ polygons: [[blob(-110, 40, 15, 2000, 0.05)]], lines: [], points: [] }, rect(-110.4, 40.3, 0.001, 0.001), rect(-109.9, 39.9, 0.01, 0.000003));
    const input = await geoparquet([{ fid: 7, shapes }]);
    const whole = await hex(input, planFile([{ index: 0, items: [{ fid: 7 }] }]), { tuning: { threads: 0, fastSplit: { minVertices: 0, maxVertices: Infinity, work: Infinity, maxCells: 3000 } } });
    const k = 5;
    const plan = planFile([
      { index: 0, items: [{ fid: 7, piece: 0, pieces: k }, { fid: 7, piece: 3, pieces: k }] },
      { index: 1, items: [{ fid: 7, piece: 1, pieces: k }] },
      { index: 2, items: [{ fid: 7, piece: 2, pieces: k }, { fid: 7, piece: 4, pieces: k }] },
    ]);
    const chunks = join(dir, 'pieces');
    const union = new Set<bigint>();
    let rows = 0;
    for (const index of [0, 1, 2]) {
      const r = await hex(input, plan, { index, chunks, tuning: { threads: 0 } });
      expect(r.byFid.get(7)?.size, `unit ${index}`).toBeGreaterThan(0);
      for (const c of r.byFid.get(7)!) union.add(c);
      rows += r.rows;
    }
    // the tiny square and the sliver get their surface cells in whole and in pieces alike
    expectSameSet(union, whole.byFid.get(7)!);
    expect(rows).toBe(union.size);
  });

  it('overlap containment: every cell the polygon touches, the same when cut (GEOS) as whole', async () => {
    const shapes: Shapes = { polygons: [[blob(-90, 35, 4, 1500, 0.05)]], lines: [], points: [] };
    const input = await geoparquet([{ fid: 3, shapes }]);
    const plan = planFile([{ index: 0, items: [{ fid: 3 }] }], 9);
    const whole = setOf(h3.polygonToCellsExperimental(coords(shapes.polygons[0]), 9, h3.POLYGON_TO_CELLS_FLAGS.containmentOverlapping, true));
    const a = await hex(input, plan, { res: 9, containment: 'overlap', tuning: { threads: 0 } });
    expectSameSet(a.byFid.get(3), whole);
    const b = await hex(input, plan, { res: 9, containment: 'overlap', tuning: { threads: 0, split: { minVertices: 4, maxVertices: 100, work: 1e4, maxCells: 300 } } });
    expectSameSet(b.byFid.get(3), whole);
    expect(b.rows).toBe(whole.size);
    expect(whole.size).toBeGreaterThan(reference(shapes, 9).size);
  });
});

describe('hex stage: units, errors, the CLI', () => {
  let input: string;
  let plan: string;
  beforeAll(async () => {
    input = await geoparquet([
      { fid: 1, shapes: rect(-122.5, 37.7, 0.05, 0.04) },
      { fid: 2, shapes: { polygons: [[blob(-150, 61, 40, 20_000, 0.05)]], lines: [], points: [] } }, // ~2.7 M res-11 cells
    ]);
    plan = planFile([{ index: 0, items: [{ fid: 1 }], estimatedCells: 60_000 }, { index: 1, items: [] }, { index: 2, items: [{ fid: 2 }] }], 11);
  });

  it('hexes a small unit (by the plan estimate) without worker threads', async () => {
    const r = await hex(input, plan, { index: 0, res: 11 });
    expect(r.summary.threads).toBe(1);
    expect(r.rows).toBeGreaterThan(5_000);
  });

  it('writes no chunk but a report of 0 cells for a unit without items', async () => {
    const chunks = join(dir, 'empty-unit');
    const r = await hex(input, plan, { index: 1, res: 11, chunks });
    expect(r.rows).toBe(0);
    expect(r.files).toEqual([]);
    expect(readdirSync(chunks)).toEqual(['_units']);
    expect(JSON.parse(readFileSync(join(chunks, '_units/unit-000001.json'), 'utf8'))).toEqual({ version: 1, index: 1, features: 0, cells: 0, h0: {} });
  });

  it('splits a unit\'s cells by h0 cell: one chunk per h0 cell, all of whose rows have that h0, and a report of the counts', async () => {
    const chunks = join(dir, 'by-h0');
    const r = await hex(input, plan, { index: 0, res: 11, chunks });
    const report = JSON.parse(readFileSync(join(chunks, '_units/unit-000000.json'), 'utf8'));
    expect(r.files.map((f) => f.split('/').at(-2)).sort()).toEqual(Object.keys(report.h0).map((h) => `h0=${h}`).sort());
    for (const f of r.files) {
      const [[n, h0s, h0]] = (await con.runAndReadAll(`SELECT count(*), count(DISTINCT h0), any_value(h0) FROM read_parquet('${f}')`)).getRows();
      expect([Number(h0s), `h0=${h0}`]).toEqual([1, f.split('/').at(-2)]);
      expect(Number(n)).toBe(report.h0[String(h0)]);
    }
    expect(report.cells).toBe(r.rows);
  });

  it('fails clearly: index beyond the plan, no index, a table without geometry, ids missing', async () => {
    const opts = { input, plan, chunks: join(dir, 'err'), resolution: '11' };
    await expect(runHex({ ...opts, index: '3' })).rejects.toThrow(/work unit 3 does not exist: .* has 3 units/);
    await expect(runHex(opts, {}, { ...process.env, JOB_COMPLETION_INDEX: undefined })).rejects.toThrow(CommandError);
    await expect(runHex(opts, {}, { ...process.env, JOB_COMPLETION_INDEX: '1', CNG_INDEX_OFFSET: '2' })).rejects.toThrow(/work unit 3 does not exist/);
    await expect(runHex({ ...opts, resolution: '10', index: '0' })).rejects.toThrow(/differs from the plan's resolution 11/);
    const table = join(dir, 'table.parquet');
    await con.run(`COPY (SELECT 1::BIGINT AS _cng_fid, 'x' AS Code) TO '${table}' (FORMAT parquet)`);
    await expect(runHex({ ...opts, input: table, index: '0' })).rejects.toThrow(/has no geometry column \(is it a table\?\)/);
    const other = planFile([{ index: 0, items: [{ fid: 1 }, { fid: 99 }] }], 11);
    await expect(runHex({ ...opts, plan: other, index: '0' })).rejects.toThrow(/no feature with _cng_fid 99/);
  });

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/cng-worker.js'), 'hex', ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });

  it('runs through the real CLI (exit 0), and exits 1 on a bad index', () => {
    const chunks = join(dir, 'cli');
    const ok = cli(['--input', input, '--plan', plan, '--chunks', chunks, '--resolution', '11', '--index', '0']);
    expect(ok.stderr).toMatch(/unit 0: 1 features/);
    expect(ok.status).toBe(0);
    expect(existsSync(join(chunks, '_units/unit-000000.json'))).toBe(true);
    const bad = cli(['--input', input, '--plan', plan, '--chunks', chunks, '--resolution', '11', '--index', '7']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/cng-worker hex: work unit 7 does not exist/);
  });

  it('leaves no chunk when killed mid-run; the re-run equals an uninterrupted run', async () => {
    const chunks = join(dir, 'killed');
    const scratch = mkdtempSync(join(dir, 'scratch-'));
    const args = [join(ROOT, 'bin/cng-worker.js'), 'hex', '--input', input, '--plan', plan, '--chunks', chunks, '--resolution', '11'];
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, JOB_COMPLETION_INDEX: '2', TMPDIR: scratch }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d) => {
        stderr += String(d);
        if (/unit 2\/3/.test(stderr)) setTimeout(() => child.kill('SIGKILL'), 300);
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    expect(stderr).not.toMatch(/unit 2: 1 features/); // it was killed while hexing
    expect(existsSync(join(chunks, '_units/unit-000002.json'))).toBe(false);
    expect(existsSync(chunks) ? readdirSync(chunks) : []).toEqual([]);
    const rerun = await hex(input, plan, { index: 2, res: 11, chunks });
    const clean = await hex(input, plan, { index: 2, res: 11 });
    expect(rerun.rows).toBeGreaterThan(2_000_000);
    expect(sameChunks(rerun, clean)).toBe(true);
  }, 180_000);
});

/** Even-odd point-in-ring with a latitude bucket index (the test's own, independent of H3). */
function ringTester(ring: Float64Array): (x: number, y: number) => boolean {
  const n = ring.length / 2;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (let i = 1; i < ring.length; i += 2) {
    ymin = Math.min(ymin, ring[i]);
    ymax = Math.max(ymax, ring[i]);
  }
  const B = 2048;
  const bucket = (y: number) => Math.min(B - 1, Math.max(0, Math.floor(((y - ymin) / (ymax - ymin)) * B)));
  const edges: number[][] = Array.from({ length: B }, () => []);
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const a = bucket(Math.min(ring[2 * i + 1], ring[2 * j + 1]));
    const b = bucket(Math.max(ring[2 * i + 1], ring[2 * j + 1]));
    for (let k = a; k <= b; k++) edges[k].push(i);
  }
  return (x, y) => {
    if (y < ymin || y > ymax) return false;
    let inside = false;
    for (const i of edges[bucket(y)]) {
      const j = (i + 1) % n;
      const xi = ring[2 * i];
      const yi = ring[2 * i + 1];
      const xj = ring[2 * j];
      const yj = ring[2 * j + 1];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  };
}

describe('retry Jobs', () => {
  it('the hex stage takes its work unit from CNG_INDEX_LIST when a retry Job sets it', async () => {
    const { workUnitIndex } = await import('../worker/vector/hex.ts');
    expect(workUnitIndex(undefined, { JOB_COMPLETION_INDEX: '1', CNG_INDEX_LIST: '3,17,205' })).toBe(17);
    expect(workUnitIndex(undefined, { JOB_COMPLETION_INDEX: '1', CNG_INDEX_OFFSET: '200' })).toBe(201);
    expect(workUnitIndex('9', { JOB_COMPLETION_INDEX: '1', CNG_INDEX_LIST: '3,17' })).toBe(9);
    expect(() => workUnitIndex(undefined, { JOB_COMPLETION_INDEX: '2', CNG_INDEX_LIST: '3,17' })).toThrow(/out of range/);
  });
});
