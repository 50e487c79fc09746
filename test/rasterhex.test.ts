/**
 * raster-hex and raster-manifest (issue #5) against an independent per-cell computation: the
 * expected cells are brute-forced here with h3-js's public `latLngToCell` at every (sub-)sample of
 * every pixel, positions from the fixture's geotransform (lon/lat) or a GDAL transformation
 * (projected), values from the fixture's own function. COGs and info JSON come from the real
 * `cog` stage; outputs are read back with DuckDB.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, DuckDBMapValue } from '@duckdb/node-api';
import gdal from 'gdal-async';
import * as h3 from 'h3-js';
import { afterAll, describe, expect, it } from 'vitest';
import { cogStage } from '../worker/raster/cog.ts';
import { rasterHexStage, type RasterHexResult } from '../worker/raster/raster-hex.ts';
import { baseCells, type RasterUnitStats } from '../worker/raster/raster-layer.ts';
import { rasterManifestStage, type RasterManifest } from '../worker/raster/raster-manifest.ts';
import { writeRaster, type RasterFixture } from './raster-fixtures.ts';

const R = 6371007.180918475;
const D = Math.PI / 180;
const root = mkdtempSync(join(tmpdir(), 'cng-rasterhex-'));
afterAll(() => rm(root, { recursive: true, force: true }));

type Kind = 'continuous' | 'count' | 'categorical';

interface Case {
  name: string;
  fixture: RasterFixture;
  kind: Kind;
  res: number;
  parents?: number[];
}

interface Run {
  dir: string;
  opts: Record<string, string>;
  results: RasterHexResult[];
  /** k as the stage chose it (samples ÷ valid pixels = k²). */
  k: number;
  logs: string[];
}

/** Writes the fixture, makes the COG with the cog stage, runs raster-hex for the given units (default all 122). */
async function run(c: Case, units?: number[]): Promise<Run> {
  const dir = join(root, c.name);
  mkdirSync(dir, { recursive: true });
  const src = writeRaster(join(dir, 'src.tif'), c.fixture);
  const logs = await quiet(() => cogStage({ source: src, out: join(dir, 'cog.tif'), info: join(dir, 'cog.json'), 'value-kind': c.kind }));
  const opts: Record<string, string> = {
    input: join(dir, 'cog.tif'),
    info: join(dir, 'cog.json'),
    out: join(dir, 'hex'),
    stats: join(dir, 'stats'),
    'value-kind': c.kind,
    resolution: String(c.res),
    ...(c.parents ? { parents: c.parents.join(',') } : {}),
  };
  const results: RasterHexResult[] = [];
  logs.push(...(await quiet(async () => {
    for (const i of units ?? Array.from({ length: 122 }, (_, i) => i)) results.push(await rasterHexStage({ ...opts, index: String(i) }));
  })));
  const samples = results.reduce((a, r) => a + r.samples, 0);
  const valid = results.reduce((a, r) => a + r.validPixels, 0);
  return { dir, opts, results, k: valid > 0 ? Math.round(Math.sqrt(samples / valid)) : 1, logs };
}

/** Runs f with the worker's stderr log lines captured instead of printed. */
async function quiet(f: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    lines.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  try {
    await f();
  } finally {
    process.stderr.write = write;
  }
  return lines;
}

/** The units whose base cells (or their neighbours) any pixel corner or centre of the fixture falls in. */
function unitsNear(f: RasterFixture): number[] {
  const base = new Set<string>();
  const pos = positions(f, 1);
  for (let y = 0; y <= f.height; y += 0.5)
    for (let x = 0; x <= f.width; x += 0.5) {
      const p = pos.at(x, y);
      if (p) for (const n of h3.gridDisk(h3.latLngToCell(p[0], p[1], 0), 1)) base.add(n);
    }
  const order = baseCells();
  return [...base].map((b) => order.indexOf(b)).sort((a, b) => a - b);
}

/** Pixel coordinate → [lat, lng] of the fixture: the geotransform (lon/lat) or GDAL (projected). */
function positions(f: RasterFixture, _k: number) {
  const [x0, dx, , y0, , dy] = f.geoTransform;
  const srs = f.srs ?? 'EPSG:4326';
  const ct = srs === 'EPSG:4326' ? null : new gdal.CoordinateTransformation(gdal.SpatialReference.fromUserInput(srs), gdal.SpatialReference.fromEPSG(4326));
  return {
    lonlat: ct === null,
    at(px: number, py: number): [number, number] | null {
      const X = x0 + px * dx;
      const Y = y0 + py * dy;
      if (!ct) return Math.abs(Y) <= 90 ? [Y, ((((X + 180) % 360) + 360) % 360) - 180] : null;
      const p = ct.transformPoint(X, Y); // EPSG:4326 in authority order: x = lat, y = lon
      return [p.x, p.y];
    },
  };
}

interface Expect {
  w: number; // valid area, m²
  t: number; // area of all samples, valid or not, m²
  edge: boolean; // a sample from a pixel on the raster's outer edge (not a 360° wrap or a pole)
  v: number[]; // per band: Σ area·value (continuous) or Σ share·value (count)
  wb: number[]; // per band valid area
  classes: Map<number, number>;
}

/**
 * Brute force: every k×k sub-sample of every pixel → h3-js latLngToCell → sums per cell (the
 * valid ones' values and area, every sample's area and whether the cell touches the raster's edge).
 */
function bruteForce(c: Case, k: number): Map<string, Expect> {
  const f = c.fixture;
  const bands = f.bands ?? 1;
  const round = (v: number) => ((f.type ?? 'Float32') === 'Float32' ? Math.fround(v) : v);
  const pos = positions(f, k);
  const out = new Map<string, Expect>();
  const sphArea = (pts: [number, number][]) => {
    // spherical polygon area of a small quad (lat/lng corners, counter-clockwise or not) by two triangles
    const v = pts.map(([la, lo]) => [Math.cos(la * D) * Math.cos(lo * D), Math.cos(la * D) * Math.sin(lo * D), Math.sin(la * D)]);
    const tri = (a: number[], b: number[], cc: number[]) => {
      const t = a[0] * (b[1] * cc[2] - b[2] * cc[1]) - a[1] * (b[0] * cc[2] - b[2] * cc[0]) + a[2] * (b[0] * cc[1] - b[1] * cc[0]);
      const d = 1 + a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + b[0] * cc[0] + b[1] * cc[1] + b[2] * cc[2] + cc[0] * a[0] + cc[1] * a[1] + cc[2] * a[2];
      return Math.abs(2 * Math.atan2(t, d));
    };
    return (tri(v[0], v[1], v[2]) + tri(v[0], v[2], v[3])) * R * R;
  };
  const [, gdx, , gy0, , gdy] = f.geoTransform;
  const wraps = pos.lonlat && f.width * Math.abs(gdx) >= 360;
  const onEdge = (x: number, y: number) =>
    (!wraps && (x === 0 || x === f.width - 1)) ||
    (y === 0 && !(pos.lonlat && Math.abs(gy0) >= 90)) ||
    (y === f.height - 1 && !(pos.lonlat && Math.abs(gy0 + f.height * gdy) >= 90));
  for (let y = 0; y < f.height; y++)
    for (let x = 0; x < f.width; x++) {
      const vals = Array.from({ length: bands }, (_, b) => round(f.value(x, y, b + 1)));
      const ok = vals.map((v) => !Number.isNaN(v) && v !== (f.nodata === undefined ? undefined : round(f.nodata)));
      const valid = ok.some(Boolean);
      let pixArea = 0;
      if (!pos.lonlat) {
        const corners = [pos.at(x, y), pos.at(x + 1, y), pos.at(x + 1, y + 1), pos.at(x, y + 1)] as [number, number][];
        pixArea = sphArea(corners);
      }
      for (let b = 0; b < k; b++)
        for (let a = 0; a < k; a++) {
          const p = pos.at(x + (a + 0.5) / k, y + (b + 0.5) / k);
          if (!p) continue;
          let area: number;
          let share: number;
          if (pos.lonlat) {
            const [, dx, , y0, , dy] = f.geoTransform;
            const lat = (py: number) => Math.max(-90, Math.min(90, y0 + py * dy)) * D;
            const band = Math.abs(Math.sin(lat(y + b / k)) - Math.sin(lat(y + (b + 1) / k)));
            area = (R * R * Math.abs(dx) * D * band) / k;
            share = band / Math.abs(Math.sin(lat(y)) - Math.sin(lat(y + 1))) / k;
          } else {
            area = pixArea / (k * k);
            share = 1 / (k * k);
          }
          const cell = h3.latLngToCell(p[0], p[1], c.res);
          let e = out.get(cell);
          if (!e) out.set(cell, (e = { w: 0, t: 0, edge: false, v: new Array(bands).fill(0), wb: new Array(bands).fill(0), classes: new Map() }));
          e.t += area;
          e.edge ||= onEdge(x, y);
          if (!valid) continue;
          e.w += area;
          vals.forEach((v, i) => {
            if (!ok[i]) return;
            e.v[i] += c.kind === 'count' ? v * share : v * area;
            e.wb[i] += area;
          });
          if (c.kind === 'categorical') e.classes.set(vals[0], (e.classes.get(vals[0]) ?? 0) + area);
        }
    }
  for (const [cell, e] of out) if (e.w === 0) out.delete(cell);
  return out;
}

/** Coverage as documented: w ÷ t inside the raster, min(w ÷ cell area, w ÷ t) for cells on its edge. */
function expectedCoverage(cell: string, e: Expect): number {
  return Math.min(1, e.edge ? Math.min(e.w / h3.cellArea(cell, 'm2'), e.w / e.t) : e.w / e.t);
}

/** Every row of the hex output (all partitions), cells as h3 strings; `_partition` = the h0 directory. */
async function readBack(out: string): Promise<Record<string, unknown>[]> {
  const files: string[] = [];
  for (const d of await readdir(out).catch(() => [])) if (d.startsWith('h0=')) for (const f of await readdir(join(out, d))) files.push(join(out, d, f));
  if (files.length === 0) return [];
  const con = await (await DuckDBInstance.create(':memory:')).connect();
  const rows = (await con.runAndReadAll(`SELECT *, filename AS _file FROM read_parquet([${files.map((f) => `'${f}'`).join(',')}], hive_partitioning = true, filename = true)`)).getRowObjects();
  return rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) {
      if (/^h\d+$/.test(k) && typeof v === 'bigint') o[k] = v.toString(16);
      else if (v instanceof DuckDBMapValue) o[k] = new Map(v.entries.map((e) => [Number(e.key), Number(e.value)]));
      else o[k] = v;
    }
    return o;
  });
}

function close(a: number, b: number, rel = 1e-9): boolean {
  return Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Asserts cell set, values and coverage equal the brute force. */
function compare(c: Case, rows: Record<string, unknown>[], exp: Map<string, Expect>, columns = ['value'], rel = 1e-9) {
  const col = `h${c.res}`;
  const got = new Map(rows.map((r) => [r[col] as string, r]));
  expect(got.size).toBe(rows.length); // one row per cell
  expect([...got.keys()].sort()).toEqual([...exp.keys()].sort());
  for (const [cell, e] of exp) {
    const r = got.get(cell)!;
    expect(close(r.coverage as number, expectedCoverage(cell, e), rel), `coverage of ${cell}: ${r.coverage} vs ${expectedCoverage(cell, e)}`).toBe(true);
    if (c.kind === 'categorical') {
      const total = [...e.classes.values()].reduce((a, b) => a + b, 0);
      const best = [...e.classes.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
      expect(r.class).toBe(best[0]);
      expect(close(r.fraction as number, best[1] / total, rel)).toBe(true);
      const fr = r.fractions as Map<number, number>;
      expect([...fr.keys()].sort((a, b) => a - b)).toEqual([...e.classes.keys()].sort((a, b) => a - b));
      for (const [k, w] of e.classes) expect(close(fr.get(k)!, w / total, rel)).toBe(true);
      expect(close([...fr.values()].reduce((a, b) => a + b, 0), 1, 1e-12)).toBe(true);
      continue;
    }
    columns.forEach((name, b) => {
      const want = e.wb[b] > 0 ? (c.kind === 'count' ? e.v[b] : e.v[b] / e.wb[b]) : null;
      if (want === null) expect(r[name], `${name} of ${cell}`).toBeNull();
      else expect(close(r[name] as number, want, rel), `${name} of ${cell}: ${r[name]} vs ${want}`).toBe(true);
    });
  }
  // parents and partition
  for (const r of rows) {
    for (const p of c.parents ?? []) expect(r[`h${p}`]).toBe(h3.cellToParent(r[col] as string, p));
    expect(String(r._file)).toContain(`h0=${BigInt(`0x${h3.cellToParent(r[col] as string, 0)}`)}/data_0.parquet`);
  }
  // sorted by cell inside each file
  const byFile = new Map<string, bigint[]>();
  for (const r of rows) byFile.set(String(r._file), [...(byFile.get(String(r._file)) ?? []), BigInt(`0x${r[col]}`)]);
  for (const cells of byFile.values()) expect(cells).toEqual([...cells].sort((a, b) => (a < b ? -1 : 1)));
}

function sumOf(rows: Record<string, unknown>[], col = 'value'): number {
  return rows.reduce((a, r) => a + ((r[col] as number) ?? 0), 0);
}

// A corner shared by three base cells: the raster spans three work units.
const [vlat, vlng] = h3.cellToBoundary(baseCells()[20])[0];
const smooth = (x: number, y: number) => 50 + 30 * Math.sin(x / 7) * Math.cos(y / 5) + x * 0.3;
const hole = (x: number, y: number) => (x >= 45 && x < 70 && y >= 5 && y < 30) || (x * 7 + y * 3) % 23 === 0;

describe('raster-hex against an independent per-pixel computation (lon/lat)', () => {
  const grid = { width: 80, height: 60, geoTransform: [vlng - 0.4, 0.01, 0, vlat + 0.3, 0, -0.01] as RasterFixture['geoTransform'] };

  it('continuous: area-weighted means, coverage, parents, partitions; nodata cells omitted', async () => {
    const c: Case = { name: 'cont', kind: 'continuous', res: 6, parents: [5, 3], fixture: { ...grid, nodata: -9999, value: (x, y) => (hole(x, y) ? -9999 : smooth(x, y)) } };
    const r = await run(c, unitsNear(c.fixture));
    expect(r.k).toBe(1);
    const rows = await readBack(join(r.dir, 'hex'));
    expect(new Set(rows.map((x) => h3.getBaseCellNumber(x.h6 as string))).size).toBe(3); // three units contributed
    compare(c, rows, bruteForce(c, 1));
    // the 25×25-pixel hole (~25 km across, cells ~7 km) leaves its inner cells out
    const inHole = h3.latLngToCell(vlat + 0.3 - 0.175 * 1, vlng - 0.4 + 0.575, 6);
    expect(rows.some((x) => x.h6 === inHole)).toBe(false);
  });

  it('count: sums per cell equal the pixel values split by area, and the total is conserved', async () => {
    const c: Case = { name: 'count', kind: 'count', res: 6, fixture: { ...grid, nodata: -1, value: (x, y) => (hole(x, y) ? -1 : Math.round(smooth(x, y))) } };
    const r = await run(c, unitsNear(c.fixture));
    const rows = await readBack(join(r.dir, 'hex'));
    compare(c, rows, bruteForce(c, 1));
    let total = 0;
    for (let y = 0; y < 60; y++) for (let x = 0; x < 80; x++) if (!hole(x, y)) total += Math.round(smooth(x, y));
    expect(close(sumOf(rows), total, 1e-12)).toBe(true);
  });

  it('categorical: majority class, its fraction and every class fraction (summing to 1); all 122 units and the manifest', async () => {
    const c: Case = {
      name: 'cat',
      kind: 'categorical',
      res: 6,
      fixture: { ...grid, type: 'Byte', nodata: 0, value: (x, y) => (hole(x, y) ? 0 : 1 + ((Math.floor(x / 6) + 2 * Math.floor(y / 9)) % 4) * 10) },
    };
    const r = await run(c);
    const rows = await readBack(join(r.dir, 'hex'));
    compare(c, rows, bruteForce(c, 1));
    const m = await manifest(r);
    expect(m.valueKind).toBe('categorical');
    expect(m.method).toBe('majority class with per-class area fractions');
    const classes: Record<string, number> = {};
    for (const x of rows) classes[String(x.class)] = (classes[String(x.class)] ?? 0) + 1;
    expect(m.classes).toEqual(classes);
    expect(m.valueRange).toBeUndefined();
  });
});

describe('raster-hex coverage: exact for fully covered cells, unbiased overall', () => {
  /** Σ R²·Δλ·|Δ sin φ| over the fixture's valid pixels (lon/lat): the valid-pixel area, m². */
  const validArea = (f: RasterFixture, valid: (x: number, y: number) => boolean) => {
    const [, dx, , y0, , dy] = f.geoTransform;
    let a = 0;
    for (let y = 0; y < f.height; y++) {
      const band = Math.abs(Math.sin((y0 + y * dy) * D) - Math.sin((y0 + (y + 1) * dy) * D));
      for (let x = 0; x < f.width; x++) if (valid(x, y)) a += R * R * Math.abs(dx) * D * band;
    }
    return a;
  };
  /** Whether a cell lies inside the fixture's extent with a pixel to spare (its boundary vertices). */
  const inside = (f: RasterFixture, cell: string) => {
    const [x0, dx, , y0, , dy] = f.geoTransform;
    return h3.cellToBoundary(cell).every(([lat, lng]) => lng > x0 + dx && lng < x0 + (f.width - 1) * dx && lat < y0 + dy && lat > y0 + (f.height - 1) * dy);
  };
  const cases: { name: string; res: number; step: number; deg: number; hole: boolean; k: number }[] = [
    { name: 'cov-full-r7', res: 7, step: 0.005, deg: 1.5, hole: false, k: 1 }, // ~20 samples a cell
    { name: 'cov-holes-r5', res: 5, step: 0.05, deg: 5, hole: true, k: 2 }, // pixels ≈ cells: 2×2 samples a pixel
  ];
  for (const t of cases)
    it(`${t.name}: interior cells of valid pixels have coverage 1; Σ coverage × cell area = the valid-pixel area (±0.1%)`, async () => {
      const n = Math.round(t.deg / t.step);
      const valid = (x: number, y: number) => !t.hole || !(hole((x * 80) / n, (y * 60) / n) && (x + y) % 3 !== 0);
      const fixture: RasterFixture = { width: n, height: n, geoTransform: [-100, t.step, 0, 41, 0, -t.step], nodata: -9999, value: (x, y) => (valid(x, y) ? smooth(x, y) : -9999) };
      const c: Case = { name: t.name, kind: 'continuous', res: t.res, fixture };
      const r = await run(c, unitsNear(fixture));
      expect(r.k).toBe(t.k);
      const rows = await readBack(join(r.dir, 'hex'));
      const col = `h${t.res}`;
      const sum = rows.reduce((a, x) => a + (x.coverage as number) * h3.cellArea(x[col] as string, 'm2'), 0);
      const want = validArea(fixture, valid);
      expect(Math.abs(sum / want - 1), `Σ coverage × area ${sum} vs ${want}`).toBeLessThan(0.001);
      if (!t.hole) {
        const interior = rows.filter((x) => inside(fixture, x[col] as string));
        expect(interior.length).toBeGreaterThan(rows.length / 2);
        for (const x of interior) expect(x.coverage, `coverage of ${x[col]}`).toBe(1);
      }
      expect(Math.max(...rows.map((x) => x.coverage as number))).toBeLessThanOrEqual(1);
    });
});

describe('raster-hex spilling partial sums', () => {
  it('gives the same cells when the open sums are spilled every few cells (continuous, categorical)', async () => {
    // 35 leaves of 64×64 pixels (the sums are spilled between leaves)
    const grid = { width: 400, height: 300, geoTransform: [vlng - 0.4, 0.002, 0, vlat + 0.3, 0, -0.002] as RasterFixture['geoTransform'] };
    const cont: Case = { name: 'spill-cont', kind: 'continuous', res: 6, fixture: { ...grid, nodata: -9999, value: (x, y) => (hole(x / 5, y / 5) ? -9999 : smooth(x / 5, y / 5)) } };
    const cat: Case = { name: 'spill-cat', kind: 'categorical', res: 6, fixture: { ...grid, type: 'Byte', nodata: 0, value: (x, y) => 1 + ((Math.floor(x / 9) + Math.floor(y / 7)) % 3) } };
    process.env.CNG_RASTER_SPILL_CELLS = '7';
    try {
      for (const c of [cont, cat]) {
        const r = await run(c, unitsNear(c.fixture));
        expect(r.logs.join('').match(/(\d+) spill\(s\)/g)!.some((m) => parseInt(m) > 5)).toBe(true);
        compare(c, await readBack(join(r.dir, 'hex')), bruteForce(c, 1));
      }
    } finally {
      delete process.env.CNG_RASTER_SPILL_CELLS;
    }
  });
});

describe('raster-hex: sub-sampling, antimeridian, poles, pentagons, projected CRSs', () => {
  it('splits pixels larger than cells into k×k samples: count total conserved, cells as the brute force at that k', async () => {
    const c: Case = {
      name: 'coarse',
      kind: 'count',
      res: 6,
      fixture: { width: 30, height: 20, geoTransform: [-100.5, 0.09, 0, 40.2, 0, -0.09], nodata: -1, value: (x, y) => (x === 3 && y === 4 ? -1 : 1000 + 37 * ((x * 13 + y * 7) % 11)) },
    };
    const r = await run(c, unitsNear(c.fixture));
    expect(r.k).toBeGreaterThan(3); // 10 km pixels, 3.7 km cell edges
    const rows = await readBack(join(r.dir, 'hex'));
    compare(c, rows, bruteForce(c, r.k));
    let total = 0;
    for (let y = 0; y < 20; y++) for (let x = 0; x < 30; x++) if (!(x === 3 && y === 4)) total += 1000 + 37 * ((x * 13 + y * 7) % 11);
    expect(Math.abs(sumOf(rows) - total) / total).toBeLessThan(1e-12); // the contract asks for 1%
  });

  it('a lon/lat raster from 175°E to 185°E: cells on both sides of 180°, total conserved (all 122 units)', async () => {
    const c: Case = { name: 'am', kind: 'count', res: 3, fixture: { width: 40, height: 20, geoTransform: [175, 0.25, 0, 50, 0, -0.25], value: (x, y) => 1 + x + 40 * y } };
    const r = await run(c);
    const rows = await readBack(join(r.dir, 'hex'));
    compare(c, rows, bruteForce(c, r.k));
    const lngs = rows.map((x) => h3.cellToLatLng(x.h3 as string)[1]);
    expect(lngs.some((l) => l > 175)).toBe(true);
    expect(lngs.some((l) => l < -175)).toBe(true);
    const m = await manifest(r);
    expect(m.total!.value).toBeCloseTo((800 * 801) / 2, 6);
    expect(m.nodataShare).toBe(0);
    expect(m.cells).toBe(rows.length);
  });

  it('a lon/lat raster over the north pole (80–90°N, all longitudes): total conserved, cells as the brute force (all 122 units)', async () => {
    const c: Case = { name: 'pole', kind: 'count', res: 2, fixture: { width: 36, height: 10, geoTransform: [-180, 10, 0, 90, 0, -1], value: (x, y) => 10 + x + y } };
    const r = await run(c);
    const rows = await readBack(join(r.dir, 'hex'));
    compare(c, rows, bruteForce(c, r.k));
    expect(rows.some((x) => x.h2 === h3.latLngToCell(90, 0, 2))).toBe(true);
    expect(close(sumOf(rows), [...Array(360)].reduce((a, _, i) => a + 10 + (i % 36) + Math.floor(i / 36), 0), 1e-12)).toBe(true);
  });

  it('around a pentagon base cell: continuous means as the brute force', async () => {
    const pent = baseCells().find((b) => h3.isPentagon(b))!;
    const [lat, lng] = h3.cellToLatLng(pent);
    const c: Case = { name: 'pent', kind: 'continuous', res: 4, fixture: { width: 60, height: 60, geoTransform: [lng - 0.6, 0.02, 0, lat + 0.6, 0, -0.02], value: (x, y) => smooth(x, y) } };
    const r = await run(c, unitsNear(c.fixture));
    const rows = await readBack(join(r.dir, 'hex'));
    compare(c, rows, bruteForce(c, r.k));
    expect(rows.some((x) => x.h4 === h3.cellToCenterChild(pent, 4))).toBe(true);
  });

  /** Projected: positions interpolated from a control grid (within 1/1000 of a pixel), so a pixel centre right at a cell edge may land on the other side. */
  function compareProjected(c: Case, rows: Record<string, unknown>[], exp: Map<string, Expect>) {
    const col = `h${c.res}`;
    const got = new Map(rows.map((r) => [r[col] as string, r.value as number]));
    let diff = 0;
    let total = 0;
    let equal = 0;
    for (const [cell, e] of exp) {
      total += e.v[0];
      diff += Math.abs((got.get(cell) ?? 0) - e.v[0]);
      if (close(got.get(cell) ?? NaN, e.v[0], 1e-9)) equal++;
    }
    for (const [cell, v] of got) if (!exp.has(cell)) diff += Math.abs(v);
    expect(equal / exp.size).toBeGreaterThan(0.98);
    expect(diff / total).toBeLessThan(0.005);
    expect(close(sumOf(rows), total, 1e-12)).toBe(true);
  }

  it('a projected raster (EPSG:5070): cells where the pixels are, total conserved', async () => {
    const c: Case = { name: 'albers', kind: 'count', res: 4, fixture: { width: 40, height: 30, srs: 'EPSG:5070', geoTransform: [-1.2e6, 5000, 0, 1.9e6, 0, -5000], nodata: -1, value: (x, y) => (y === 7 ? -1 : 5 + ((x * y) % 17)) } };
    const r = await run(c, unitsNear(c.fixture));
    expect(r.k).toBe(1);
    compareProjected(c, await readBack(join(r.dir, 'hex')), bruteForce(c, 1));
  });

  it('a projected raster across 180° (EPSG:3338 Alaska Albers): cells on both sides, total conserved (all 122 units)', async () => {
    const to = new gdal.CoordinateTransformation(gdal.SpatialReference.fromEPSG(4326), gdal.SpatialReference.fromEPSG(3338));
    const p = to.transformPoint(55, 180); // authority order: lat, lon
    const c: Case = { name: 'aleutians', kind: 'count', res: 3, fixture: { width: 40, height: 30, srs: 'EPSG:3338', geoTransform: [p.x - 200_000, 10_000, 0, p.y + 150_000, 0, -10_000], value: (x, y) => 1 + ((x + 3 * y) % 9) } };
    const r = await run(c);
    const rows = await readBack(join(r.dir, 'hex'));
    compareProjected(c, rows, bruteForce(c, r.k));
    const lngs = rows.map((x) => h3.cellToLatLng(x.h3 as string)[1]);
    expect(lngs.some((l) => l > 170)).toBe(true);
    expect(lngs.some((l) => l < -170)).toBe(true);
  });

  it('a polar stereographic raster on the pole (EPSG:3413): total conserved, cells as the brute force', async () => {
    const c: Case = { name: 'polar', kind: 'count', res: 3, fixture: { width: 40, height: 40, srs: 'EPSG:3413', geoTransform: [-500_000, 25_000, 0, 500_000, 0, -25_000], value: (x, y) => 2 + ((x * 5 + y) % 7) } };
    const r = await run(c, unitsNear(c.fixture));
    compareProjected(c, await readBack(join(r.dir, 'hex')), bruteForce(c, r.k));
  });

  it('a multi-band raster: one column per band named by its description, each over its own valid pixels', async () => {
    const c: Case = {
      name: 'multi',
      kind: 'continuous',
      res: 4,
      fixture: {
        width: 40, height: 30, bands: 2, srs: 'EPSG:5070', geoTransform: [-1.2e6, 5000, 0, 1.9e6, 0, -5000], nodata: -9999, descriptions: ['Tree Cover', 'NDVI (x100)'],
        value: (x, y, b) => (b === 2 && x < 20 ? -9999 : b === 1 ? smooth(x, y) : 100 - smooth(y, x)),
      },
    };
    const r = await run(c, unitsNear(c.fixture));
    const rows = await readBack(join(r.dir, 'hex'));
    expect(Object.keys(rows[0])).toEqual(expect.arrayContaining(['h4', 'tree_cover', 'ndvi_x100', 'coverage']));
    expect(rows.some((x) => x.ndvi_x100 === null && x.tree_cover !== null)).toBe(true);
    const exp = bruteForce(c, r.k);
    // Cells as the brute force (but for the projected caveat of compareProjected); means within
    // 1e-4: pixel areas come from a 16-pixel control grid here, from each pixel's corners there.
    let same = 0;
    let close4 = 0;
    for (const x of rows) {
      const e = exp.get(x.h4 as string);
      if (!e) continue;
      same++;
      const ok = [0, 1].every((b) => {
        const got = x[['tree_cover', 'ndvi_x100'][b]] as number | null;
        return e.wb[b] === 0 ? got === null : got !== null && close(got, e.v[b] / e.wb[b], 1e-4);
      });
      if (ok) close4++;
    }
    expect(same / exp.size).toBeGreaterThan(0.98);
    expect(close4 / same).toBeGreaterThan(0.95);
  });
});

async function manifest(r: Run, extra: Record<string, string> = {}): Promise<RasterManifest> {
  await quiet(() => rasterManifestStage({ ...r.opts, manifest: join(r.dir, 'hex', 'manifest.json'), ...extra }));
  return JSON.parse(await readFile(join(r.dir, 'hex', 'manifest.json'), 'utf8')) as RasterManifest;
}

describe('raster-manifest', () => {
  it('checks all 122 units, removes stale partitions, writes the manifest; names missing units', async () => {
    const c: Case = {
      name: 'manifest',
      kind: 'continuous',
      res: 5,
      parents: [3],
      fixture: { width: 80, height: 60, geoTransform: [vlng - 0.4, 0.01, 0, vlat + 0.3, 0, -0.01], nodata: -9999, value: (x, y) => (hole(x, y) ? -9999 : smooth(x, y)) },
    };
    // a partition of an earlier run that this run does not write, and an unrelated object
    const dir = join(root, c.name);
    mkdirSync(join(dir, 'hex', 'h0=576460752303423487'), { recursive: true });
    writeFileSync(join(dir, 'hex', 'h0=576460752303423487', 'data_0.parquet'), 'stale');
    writeFileSync(join(dir, 'hex', 'README.txt'), 'keep me');
    const r = await run(c);
    const m = await manifest(r);
    const rows = await readBack(join(r.dir, 'hex'));
    let nodata = 0;
    for (let y = 0; y < 60; y++) for (let x = 0; x < 80; x++) if (hole(x, y)) nodata++;
    const values = rows.map((x) => x.value as number);
    const parts = (await readdir(join(r.dir, 'hex'))).filter((d) => d.startsWith('h0='));
    let bytes = 0;
    for (const p of parts) bytes += (await stat(join(r.dir, 'hex', p, 'data_0.parquet'))).size;
    const info = JSON.parse(await readFile(join(r.dir, 'cog.json'), 'utf8'));
    expect(m).toMatchObject({
      version: 1,
      kind: 'raster',
      valueKind: 'continuous',
      method: 'area-weighted mean',
      resolution: 5,
      parents: [3],
      cells: rows.length,
      partitions: 3,
      valueRange: { value: [Math.min(...values), Math.max(...values)] },
      bands: [{ band: 1, name: 'band_1', dataType: 'Float32', column: 'value' }],
      nodata: -9999,
      nodataCollapsed: [],
      cog: { url: r.opts.input, bytes: info.bytes, width: 80, height: 60, crs: 'EPSG:4326', overviews: info.overviews, copied: info.copied },
      bytes,
    });
    expect(m.nodataShare).toBeCloseTo(nodata / 4800, 9);
    expect(parts.sort()).toEqual([...new Set(rows.map((x) => `h0=${BigInt(`0x${h3.cellToParent(x.h5 as string, 0)}`)}`))].sort());
    expect(await readFile(join(r.dir, 'hex', 'README.txt'), 'utf8')).toBe('keep me');
    const stats = JSON.parse(await readFile(join(r.dir, 'stats', 'unit-20.json'), 'utf8')) as RasterUnitStats;
    expect(stats).toMatchObject({ unit: 20, cell: baseCells()[20], resolution: 5, parents: [3] });

    // a partition its unit's stats promise, gone
    const unitOf = baseCells().findIndex((b) => `h0=${BigInt(`0x${b}`)}` === parts[0]);
    await rm(join(r.dir, 'hex', parts[0]), { recursive: true });
    await expect(manifest(r)).rejects.toThrow(`the partitions of raster-hex units ${unitOf} are missing under '${r.opts.out}' though their stats list cells; re-run those indices`);

    // missing and foreign stats
    for (const i of [3, 17, 18, 19]) await rm(join(r.dir, 'stats', `unit-${i}.json`));
    await expect(manifest(r)).rejects.toThrow(`4 of 122 raster-hex units missing under '${r.opts.stats}': units 3, 17–19; re-run those indices`);
    await expect(manifest(r, { resolution: '6' })).rejects.toThrow(/122 of 122 raster-hex units missing .*: units 0–121 \(118 of them from another run: other input or options\); re-run those indices/);
  });

  it('a re-run covering fewer units drops the partitions it no longer writes', async () => {
    const c: Case = { name: 'rerun', kind: 'count', res: 5, fixture: { width: 80, height: 60, geoTransform: [vlng - 0.4, 0.01, 0, vlat + 0.3, 0, -0.01], value: () => 1 } };
    const r = await run(c);
    expect((await readdir(join(r.dir, 'hex'))).filter((d) => d.startsWith('h0=')).length).toBe(3);
    // same layer, now only west of the corner: one unit's partition disappears (the unit removes it)
    const west: Case = { ...c, fixture: { ...c.fixture, width: 30, geoTransform: [vlng - 0.4, 0.01, 0, vlat + 0.3, 0, -0.01] } };
    const r2 = await run(west);
    const m = await manifest(r2);
    const parts = (await readdir(join(r2.dir, 'hex'))).filter((d) => d.startsWith('h0='));
    expect(parts.length).toBe(m.partitions);
    expect(m.total!.value).toBeCloseTo(30 * 60, 6);
  });
});

describe('raster-hex errors', () => {
  const dir = join(root, 'errors');
  const base = () => ({ input: join(dir, 'cog.tif'), info: join(dir, 'cog.json'), out: join(dir, 'hex'), stats: join(dir, 'stats'), resolution: '5', index: '20' });

  it('refuses a value kind other than the info says, a unit beyond 121, a multi-band categorical raster, non-integer classes', async () => {
    mkdirSync(dir, { recursive: true });
    const src = writeRaster(join(dir, 'src.tif'), { width: 10, height: 10, geoTransform: [vlng, 0.01, 0, vlat, 0, -0.01], value: (x) => x + 0.5 });
    await quiet(() => cogStage({ source: src, out: join(dir, 'cog.tif'), info: join(dir, 'cog.json'), 'value-kind': 'continuous' }));
    await expect(rasterHexStage({ ...base(), 'value-kind': 'count' })).rejects.toThrow(/--value-kind is 'count' but .* was written for 'continuous'/);
    await expect(rasterHexStage({ ...base(), 'value-kind': 'continuous', index: '122' })).rejects.toThrow(/work unit 122 does not exist: raster-hex has 122 units/);
    await expect(rasterHexStage({ ...base(), 'value-kind': 'continuous', resolution: '0' })).rejects.toThrow(/--resolution must be an integer from 1 to 15, got '0'/);
    // the same pixels declared categorical: 0.5 steps are not class codes
    await quiet(() => cogStage({ source: src, out: join(dir, 'cog.tif'), info: join(dir, 'cog.json'), 'value-kind': 'categorical' }));
    await expect(quiet(() => rasterHexStage({ ...base(), 'value-kind': 'categorical' }))).rejects.toThrow(/has a non-integer value 0.5 at pixel \(0, 0\): class codes must be integers/);
    const two = writeRaster(join(dir, 'two.tif'), { width: 10, height: 10, bands: 2, type: 'Byte', geoTransform: [vlng, 0.01, 0, vlat, 0, -0.01], value: () => 1 });
    await quiet(() => cogStage({ source: two, out: join(dir, 'cog.tif'), info: join(dir, 'cog.json'), 'value-kind': 'categorical' }));
    await expect(rasterHexStage({ ...base(), 'value-kind': 'categorical' })).rejects.toThrow(/a categorical raster must have one band, .* has 2/);
  });
});
