/**
 * Polygons around a pole (issue #14 C1), through the real convert and hex stages: a southern
 * "continent" written the Natural Earth way (its coast runs −180 → 180 and the ring closes along
 * −90) and a northern cap whose ring starts at 30°E and simply crosses 180° (no pole vertices).
 * convert closes each ring along its pole and cuts it at 180° into a valid MultiPolygon; hex must
 * give exactly the cells of an independent computation: the region between the coast and the
 * pole cut into 30°-wide strips here, each polyfilled by h3-js's own polygonToCells.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import gdal from 'gdal-async';
import * as h3 from 'h3-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertLayer } from '../worker/vector/convert.ts';
import { runHex } from '../worker/vector/hex.ts';

const dir = mkdtempSync(join(tmpdir(), 'cng-poles-'));
let db: DuckDBConnection;
beforeAll(async () => {
  db = await (await DuckDBInstance.create(':memory:')).connect();
});
afterAll(() => {
  db?.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

/** The coast of each feature: latitude as a function of longitude (degrees), sampled every 0.5°. */
const coasts: Record<number, { pole: -90 | 90; lat: (lng: number) => number }> = {
  1: { pole: -90, lat: (x) => -68 + 4 * Math.sin((3 * x * Math.PI) / 180) + 1.5 * Math.cos((11 * x * Math.PI) / 180) },
  2: { pole: 90, lat: (x) => 72 + 5 * Math.cos((2 * x * Math.PI) / 180) + Math.sin((7 * x * Math.PI) / 180) },
};
const STEP = 0.5;
const lngs = Array.from({ length: 360 / STEP + 1 }, (_, i) => -180 + i * STEP);

/** The source file: feature 1 closed along −90 through (±180, −90); feature 2 a ring from 30°E round to 29.5°E. */
function writeSource(): string {
  const south = [...lngs.map((x) => [x, coasts[1].lat(x)]), [180, -90], [-180, -90], [-180, coasts[1].lat(-180)]];
  const start = lngs.indexOf(30);
  const round = [...lngs.slice(start, -1), ...lngs.slice(0, start)].map((x) => [x, coasts[2].lat(x)]);
  const north = [...round, round[0]];
  const fc = {
    type: 'FeatureCollection',
    features: [
      { type: 'Feature', properties: { name: 'south' }, geometry: { type: 'Polygon', coordinates: [south] } },
      { type: 'Feature', properties: { name: 'north' }, geometry: { type: 'Polygon', coordinates: [north] } },
    ],
  };
  const path = join(dir, 'poles.geojson');
  writeFileSync(path, JSON.stringify(fc));
  return path;
}

/** Planar lon/lat area (deg²) between a coast and its pole: Σ trapezoids. */
function capAreaDeg2(f: number): number {
  const { pole, lat } = coasts[f];
  let a = 0;
  for (let i = 0; i + 1 < lngs.length; i++) a += STEP * (Math.abs(pole - lat(lngs[i])) + Math.abs(pole - lat(lngs[i + 1]))) / 2;
  return a;
}

/** The reference cells: 30°-wide strips of the region between coast and pole, each through h3-js. */
function stripCells(f: number, res: number): Set<string> {
  const { pole, lat } = coasts[f];
  const cells = new Set<string>();
  for (let a = -180; a < 180; a += 30) {
    const xs = lngs.filter((x) => x >= a && x <= a + 30);
    const ring = [...xs.map((x) => [lat(x), x]), [pole, a + 30], [pole, a]];
    for (const c of h3.polygonToCells([ring], res)) cells.add(c);
  }
  return cells;
}

let source: string;
const converted = new Map<number, { out: string; plan: string; stats: Record<string, number> }>();

async function convert(res: number) {
  if (!converted.has(res)) {
    const out = join(dir, `poles-${res}.parquet`);
    const plan = join(dir, `poles-${res}.plan.json`);
    const r = await convertLayer({ source, layer: 'poles', resolution: res, units: 1, upload: { out, plan } });
    converted.set(res, { out, plan, stats: r.stats as unknown as Record<string, number> });
  }
  return converted.get(res)!;
}

describe('a polygon around a pole (convert → hex)', () => {
  beforeAll(() => {
    source = writeSource();
  });

  it('convert closes each ring along its pole and writes a valid MultiPolygon within ±180°', async () => {
    const c = await convert(3);
    expect(c.stats.aroundPole).toBe(2);
    const rows = (await db.runAndReadAll(`SELECT name, ST_AsWKB(geometry) AS wkb, bbox FROM read_parquet('${c.out}') ORDER BY _cng_fid`)).getRowObjectsJS();
    expect(rows.map((r) => r.name)).toEqual(['south', 'north']);
    rows.forEach((r, i) => {
      const g = gdal.Geometry.fromWKB(Buffer.from(r.wkb as Uint8Array));
      expect(g.wkbType).toBe(gdal.wkbMultiPolygon);
      expect(g.isValid(), `${r.name} is valid`).toBe(true);
      const env = g.getEnvelope();
      expect(env.minX).toBeGreaterThanOrEqual(-180);
      expect(env.maxX).toBeLessThanOrEqual(180);
      expect(i === 0 ? env.minY : env.maxY).toBe(i === 0 ? -90 : 90); // reaches its pole
      // nothing lost or doubled: the planar area is the region between the coast and the pole
      expect((g as gdal.MultiPolygon).getArea() / capAreaDeg2(i + 1)).toBeCloseTo(1, 9);
    });
  });

  for (const res of [3, 4])
    it(`hex at resolution ${res}: the cells of h3-js on 30° strips that close along the pole, in both hemispheres`, async () => {
      const c = await convert(res);
      const chunks = join(dir, `chunks-${res}`);
      const summary = await runHex({ input: c.out, plan: c.plan, chunks, resolution: String(res), index: '0' });
      const got = new Map<number, Set<string>>();
      for (const [fid, cell] of (await db.runAndReadAll(`SELECT _cng_fid, h${res} FROM read_parquet('${summary.chunk}')`)).getRows()) {
        const s = got.get(Number(fid)) ?? new Set<string>();
        s.add((cell as bigint).toString(16));
        got.set(Number(fid), s);
      }
      for (const fid of [1, 2]) {
        const want = stripCells(fid, res);
        const have = got.get(fid) ?? new Set<string>();
        const missing = [...want].filter((x) => !have.has(x)).length;
        const extra = [...have].filter((x) => !want.has(x)).length;
        expect({ fid, missing, extra, size: have.size }).toEqual({ fid, missing: 0, extra: 0, size: want.size });
        // the cap's area in cells: the whole region, not half of it
        const km2 = [...have].reduce((a, x) => a + h3.cellArea(x, 'km2'), 0);
        const { pole, lat } = coasts[fid];
        const sphere = lngs.slice(1).reduce((a, x) => a + (STEP * Math.PI / 180) * 6371.007180918475 ** 2 * Math.abs(Math.sin((pole * Math.PI) / 180) - Math.sin((lat(x - STEP / 2) * Math.PI) / 180)), 0);
        expect(km2 / sphere).toBeGreaterThan(0.97);
        expect(km2 / sphere).toBeLessThan(1.03);
      }
      expect(JSON.parse(readFileSync(c.plan, 'utf8')).resolution).toBe(res);
    });
});
