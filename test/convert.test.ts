import { describe, it, expect, beforeAll, afterAll, inject, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { getHexagonAreaAvg } from 'h3-js';
import { CommandError, UsageError } from '../worker/core/errors.ts';
import { parseOgrDateTime, parseOgrTime } from '../worker/vector/staging.ts';
import { convertLayer, convertStage, type ConvertResult } from '../worker/vector/convert.ts';
import { openSource } from '../worker/vector/gdal-pass.ts';
import { tableStage } from '../worker/vector/table.ts';
import { hilbertIndex, lonLatHilbert, readGeoParquetMeta } from '../worker/io/geoparquet.ts';
import { decodeWkb, encodeWkb, scanWkb, toMultiWkb, unwrapAntimeridian, type Geom } from '../worker/geo/wkb.ts';
import { buildHexPlan, checkHexPlan, estimateCells, type HexPlan, type PlanFeature } from '../worker/vector/plan.ts';
import { Storage } from '../worker/io/storage.ts';
import { ROOT, s3TestBucket } from './helpers.ts';
import { makeAleutianGpkg, makeCurvedGpkg, makePadusLikeGdb, makeVectorDataset, projectedBoxWkt } from './fixtures.ts';

let dir: string;
let db: DuckDBConnection;
let gdb: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cng-convert-'));
  db = await (await DuckDBInstance.create(':memory:')).connect();
  gdb = await makePadusLikeGdb(dir);
});

afterAll(() => {
  db?.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

interface Converted {
  result: ConvertResult;
  out: string;
  plan: HexPlan;
}

let runs = 0;
async function convert(source: string, layer: string, o: { units?: number; resolution?: number; idColumn?: string } = {}): Promise<Converted> {
  const n = ++runs;
  const out = join(dir, 'out', `${n}.parquet`);
  const planPath = join(dir, 'out', `${n}.plan.json`);
  const result = await convertLayer({
    source, layer, resolution: o.resolution ?? 10, units: o.units ?? 3, idColumn: o.idColumn, upload: { out, plan: planPath },
  });
  return { result, out, plan: JSON.parse(readFileSync(planPath, 'utf8')) as HexPlan };
}

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await db.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}

/** Output rows ordered by id, with WKB geometry and the bbox struct. */
async function readBack(path: string, id = '_cng_fid'): Promise<Record<string, unknown>[]> {
  return rows(`SELECT * EXCLUDE (geometry), ST_AsWKB(geometry) AS wkb FROM read_parquet(${q(path)}) ORDER BY "${id}"`);
}

/** The contract checks every GeoParquet output must pass (docs/stages.md). */
async function expectGeoParquet(c: Converted, expectedRows: number, id = '_cng_fid'): Promise<Record<string, unknown>[]> {
  const { out, plan } = c;
  const kv = await rows(`SELECT decode(key) AS k FROM parquet_kv_metadata(${q(out)})`);
  expect(kv.filter((r) => r.k === 'geo')).toHaveLength(1);
  const geo = (await readGeoParquetMeta(db, out))!;
  expect(geo.version).toBe('1.1.0');
  expect(geo.primary_column).toBe('geometry');
  const col = geo.columns.geometry;
  expect(col.encoding).toBe('WKB');
  expect(col.covering).toEqual({ bbox: { xmin: ['bbox', 'xmin'], ymin: ['bbox', 'ymin'], xmax: ['bbox', 'xmax'], ymax: ['bbox', 'ymax'] } });
  expect(geo).not.toHaveProperty('columns.geometry.crs');

  const schema = Object.fromEntries((await rows(`DESCRIBE SELECT * FROM read_parquet(${q(out)})`)).map((r) => [r.column_name, r.column_type]));
  expect(schema.geometry).toBe('GEOMETRY');
  expect(schema.bbox).toBe('STRUCT(xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE)');
  if (id === '_cng_fid') expect(schema._cng_fid).toBe('BIGINT');
  const meta = await rows(`SELECT DISTINCT compression, row_group_num_rows FROM parquet_metadata(${q(out)}) WHERE path_in_schema = 'geometry'`);
  for (const m of meta) {
    expect(m.compression).toBe('ZSTD');
    expect(Number(m.row_group_num_rows)).toBeLessThanOrEqual(50_000);
  }

  const data = await readBack(out, id);
  expect(data).toHaveLength(expectedRows);
  if (id === '_cng_fid') expect(data.map((r) => Number(r._cng_fid))).toEqual(Array.from({ length: expectedRows }, (_, i) => i + 1));
  const types = new Set<string>();
  let [xmin, ymin, xmax, ymax] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const r of data) {
    if (r.wkb === null) {
      expect(r.bbox).toBeNull();
      continue;
    }
    const info = scanWkb(r.wkb as Uint8Array);
    types.add(['', 'Point', 'LineString', 'Polygon', 'MultiPoint', 'MultiLineString', 'MultiPolygon', 'GeometryCollection'][info.type]);
    expect(r.bbox).toEqual({ xmin: info.xmin, ymin: info.ymin, xmax: info.xmax, ymax: info.ymax });
    const env = gdal.Geometry.fromWKB(Buffer.from(r.wkb as Uint8Array)).getEnvelope();
    expect([env.minX, env.minY, env.maxX, env.maxY]).toEqual([info.xmin, info.ymin, info.xmax, info.ymax]);
    [xmin, ymin, xmax, ymax] = [Math.min(xmin, info.xmin), Math.min(ymin, info.ymin), Math.max(xmax, info.xmax), Math.max(ymax, info.ymax)];
  }
  expect(col.geometry_types).toEqual([...types].sort());
  if (types.size) expect(col.bbox).toEqual([xmin, ymin, xmax, ymax]);

  // Rows are in Hilbert order of bbox centres, null geometries last.
  const order = await rows(`SELECT bbox FROM read_parquet(${q(out)})`);
  const keys = order.map((r) => (r.bbox ? lonLatHilbert(((r.bbox as any).xmin + (r.bbox as any).xmax) / 2, ((r.bbox as any).ymin + (r.bbox as any).ymax) / 2) : Infinity));
  expect(keys).toEqual([...keys].sort((a, b) => a - b));

  // The plan covers every feature with a geometry.
  const planned = checkHexPlan(plan);
  const withGeometry = data.filter((r) => r.wkb !== null).map((r) => Number(r[id]));
  expect([...planned].sort((a, b) => a - b)).toEqual(withGeometry.sort((a, b) => a - b));
  expect(plan.features).toBe(expectedRows);
  expect(plan.nullGeometries).toBe(data.filter((r) => r.wkb === null).length);
  return data;
}

/** Polygons of a decoded MultiPolygon. */
function polygons(wkb: unknown): Geom[] {
  const g = decodeWkb(wkb as Uint8Array);
  return g.type === 6 ? g.parts : g.type === 3 ? [g] : [];
}

/** `<dir>/<layer>.gpkg`: a MultiPolygon layer (EPSG:4326) of features with a `name` and the given WKT, in order. */
function namedShapes(layer: string, shapes: Record<string, string>): Promise<string> {
  return makeVectorDataset(join(dir, `${layer}.gpkg`), 'GPKG', [{
    name: layer, fields: [['name', gdal.OFTString]], rows: Object.entries(shapes).map(([name, wkt]) => ({ name, wkt })),
  }]);
}

function planarArea(wkb: unknown): number {
  return (gdal.Geometry.fromWKB(Buffer.from(wkb as Uint8Array)) as unknown as { getArea(): number }).getArea();
}

describe('convert: a PAD-US-like FileGDB layer (ESRI:102039 → EPSG:4326)', () => {
  it('writes GeoParquet 1.1 with every feature and attribute, and a hex plan', async () => {
    const c = await convert(gdb, 'PADUS4_1Fee');
    const data = await expectGeoParquet(c, 3);
    expect(data.map((r) => [r.Unit_Nm, r.GIS_Acres, r.SHAPE_Area, r.Des_Tp])).toEqual([
      ['Yellowstone National Park', 2224, 9e6, 'NP'],
      ['Shenandoah National Park', 988, 4e6, 'NP'],
      ['Everglades Wildlife Management Area', 247, 1e6, 'SREC'],
    ]);
    const schema = await rows(`DESCRIBE SELECT * FROM read_parquet(${q(c.out)})`);
    expect(schema.map((r) => [r.column_name, r.column_type])).toEqual([
      ['_cng_fid', 'BIGINT'], ['Unit_Nm', 'VARCHAR'], ['GIS_Acres', 'INTEGER'], ['SHAPE_Area', 'DOUBLE'], ['Des_Tp', 'VARCHAR'],
      ['geometry', 'GEOMETRY'], ['bbox', 'STRUCT(xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE)'],
    ]);
    // Lon/lat order: the Yellowstone square's south-west corner, transformed independently.
    const ct = new gdal.CoordinateTransformation(gdal.SpatialReference.fromUserInput('ESRI:102039'), gdal.SpatialReference.fromEPSG(4326));
    const sw = ct.transformPoint(-1_240_000, 2_480_000); // EPSG:4326 authority order: x = lat, y = lon
    const ring = polygons(data[0].wkb)[0] as { rings: Float64Array[] };
    const nearest = Math.min(...Array.from({ length: ring.rings[0].length / 2 }, (_, i) => Math.hypot(ring.rings[0][2 * i] - sw.y, ring.rings[0][2 * i + 1] - sw.x)));
    expect(nearest).toBeLessThan(1e-9);
    expect(sw.y).toBeLessThan(-100); // longitude first in the output
    expect(sw.x).toBeGreaterThan(40);
    // Plan: ~9, 4, 1 km² → cells at res 10 (0.01505 km²), + 5 vertices each.
    expect(c.plan).toMatchObject({ version: 1, layer: 'PADUS4_1Fee', idColumn: '_cng_fid', resolution: 10, units: 3, features: 3, nullGeometries: 0 });
    expect(c.plan.estimatedCells).toBeGreaterThan(14 / 0.01505 - 30);
    expect(c.plan.estimatedCells).toBeLessThan(14 / 0.01505 + 30);
    expect(c.plan.workUnits.reduce((s, u) => s + u.vertices, 0)).toBe(15);
  });

  it('gives the same result in a 1-CPU pod, where the GDAL pass and the streaming run in sequence', async () => {
    const a = await convert(gdb, 'PADUS4_1Marine');
    process.env.CNG_CPU_LIMIT = '1000';
    try {
      const b = await convert(gdb, 'PADUS4_1Marine');
      expect(await readBack(b.out)).toEqual(await readBack(a.out));
      expect(b.plan).toEqual(a.plan);
    } finally {
      delete process.env.CNG_CPU_LIMIT;
    }
  });

  it('uses --id-column instead of _cng_fid when it is an integer, unique and non-null', async () => {
    const c = await convert(gdb, 'PADUS4_1Fee', { idColumn: 'GIS_Acres' });
    const data = await expectGeoParquet(c, 3, 'GIS_Acres');
    expect(data[0]).not.toHaveProperty('_cng_fid');
    expect(c.plan.idColumn).toBe('GIS_Acres');
    expect([...checkHexPlan(c.plan)].sort((a, b) => a - b)).toEqual([247, 988, 2224]);
    await expect(convert(gdb, 'PADUS4_1Fee', { idColumn: 'Unit_Nm' })).rejects.toThrow(/--id-column 'Unit_Nm' .* is string, not an integer column/);
    await expect(convert(gdb, 'PADUS4_1Fee', { idColumn: 'OBJECTID' })).rejects.toThrow(/--id-column 'OBJECTID' is not a column .*'OBJECTID' is the layer's FID.*columns: Unit_Nm, GIS_Acres, SHAPE_Area, Des_Tp/);
  });
});

describe('table', () => {
  it('writes a non-spatial table with original names, types and rows', async () => {
    const out = join(dir, 'lookup', 'Public_Access.parquet');
    await tableStage({ source: gdb, layer: 'Public_Access', out });
    expect(await rows(`SELECT * FROM read_parquet(${q(out)})`)).toEqual([
      { Code: 'OA', Dom: 'Open Access' },
      { Code: 'RA', Dom: 'Restricted Access' },
      { Code: 'UK', Dom: 'Unknown' },
      { Code: 'XA', Dom: 'Closed' },
    ]);
    expect((await rows(`DESCRIBE SELECT * FROM read_parquet(${q(out)})`)).map((r) => r.column_type)).toEqual(['VARCHAR', 'VARCHAR']);
  });

  it('refuses a spatial layer (suggesting convert), and convert refuses a table', async () => {
    await expect(tableStage({ source: gdb, layer: 'PADUS4_1Fee', out: join(dir, 'x.parquet') })).rejects.toThrow(
      /layer 'PADUS4_1Fee' .* has geometries \(MultiPolygon\); use 'cng-worker convert'/,
    );
    await expect(convert(gdb, 'Public_Access')).rejects.toThrow(/no geometry column \(a table\); use 'cng-worker table'/);
  });
});

describe('convert: awkward geometries and attributes', () => {
  let kitchen: string;
  beforeAll(async () => {
    kitchen = await makeVectorDataset(join(dir, 'kitchen.gpkg'), 'GPKG', [{
      name: 'x',
      fields: [['name', gdal.OFTString], ['n', gdal.OFTInteger], ['big', gdal.OFTInteger64], ['r', gdal.OFTReal], ['d', gdal.OFTDate], ['dt', gdal.OFTDateTime], ['blob', gdal.OFTBinary]],
      rows: [
        { name: 'plain', n: 1, big: '9007199254740993', r: 1.5, d: '2020/01/02', dt: '2020/01/02 03:04:05.678+01', wkt: 'POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))' },
        { name: 'bow-tie   ', n: null, big: '-5', wkt: 'POLYGON ((10 0, 12 2, 12 0, 10 2, 10 0))' },
        { name: 'empty', n: 3, wkt: 'POLYGON EMPTY' },
        { name: 'null', n: 4 },
        { name: '3d', n: 5, wkt: 'POLYGON Z ((20 0 5, 21 0 5, 21 1 5, 20 0 5))' },
        { name: 'measured', n: 6, wkt: 'POLYGON M ((30 0 1, 31 0 1, 31 1 1, 30 0 1))' },
        { name: 'collapsed', n: 7, wkt: 'POLYGON ((40 0, 41 1, 42 2, 40 0))' },
        { name: 'with a sliver', n: 8, wkt: 'MULTIPOLYGON (((50 0, 51 0, 51 1, 50 1, 50 0)), ((52 2, 53 3, 54 4, 52 2)))' },
      ],
    }]);
    const ds = await gdal.openAsync(kitchen, 'r+');
    try {
      ds.executeSQL(`UPDATE x SET blob = X'00FF10' WHERE fid = 1`); // gdal-async cannot set binary fields
    } catch {
      // executeSQL throws when a statement returns no layer; the UPDATE has been applied
    }
    ds.close();
  });

  it('keeps null/empty geometries as NULL rows, repairs invalid ones, drops Z/M, keeps types', async () => {
    const c = await convert(kitchen, 'x');
    const data = await expectGeoParquet(c, 8);
    expect(c.result.stats).toMatchObject({ nullGeometries: 2, repaired: 3, collapsed: 1, splitAtAntimeridian: 0 });
    expect(c.plan.nullGeometries).toBe(2);
    const by = Object.fromEntries(data.map((r) => [r.name as string, r]));
    expect(Object.keys(by)).toEqual(['plain', 'bow-tie   ', 'empty', 'null', '3d', 'measured', 'collapsed', 'with a sliver']);
    expect(by.empty.wkb).toBeNull();
    expect(by.null.wkb).toBeNull();
    expect(by.empty.n).toBe(3); // the row and its attributes are kept
    // Bow-tie → two triangles of area 1 (degrees²).
    expect(wkbTypeName(by['bow-tie   '].wkb)).toBe('MultiPolygon');
    expect(polygons(by['bow-tie   '].wkb)).toHaveLength(2);
    expect(planarArea(by['bow-tie   '].wkb)).toBeCloseTo(2, 9);
    // Z and M dropped.
    for (const k of ['3d', 'measured']) {
      const g = gdal.Geometry.fromWKB(Buffer.from(by[k].wkb as Uint8Array));
      expect(g.wkbType).toBe(gdal.wkbMultiPolygon);
      expect(planarArea(by[k].wkb)).toBeCloseTo(0.5, 9);
    }
    // A polygon without area stays (as lines); a collapsed part next to a polygon is dropped.
    expect(wkbTypeName(by.collapsed.wkb)).toBe('MultiLineString');
    expect(wkbTypeName(by['with a sliver'].wkb)).toBe('MultiPolygon');
    expect(polygons(by['with a sliver'].wkb)).toHaveLength(1);
    // Types and exact values.
    const schema = Object.fromEntries((await rows(`DESCRIBE SELECT * FROM read_parquet(${q(c.out)})`)).map((r) => [r.column_name, r.column_type]));
    expect(schema).toMatchObject({ name: 'VARCHAR', n: 'INTEGER', big: 'BIGINT', r: 'DOUBLE', d: 'DATE', dt: 'TIMESTAMP', blob: 'BLOB' });
    const exact = await rows(`SELECT big, d::VARCHAR AS d, strftime(dt, '%Y-%m-%d %H:%M:%S.%g') AS dt, hex(blob) AS blob, r FROM read_parquet(${q(c.out)}) WHERE name = 'plain'`);
    expect(exact).toEqual([{ big: 9007199254740993n, d: '2020-01-02', dt: '2020-01-02 02:04:05.678', blob: '00FF10', r: 1.5 }]);
    expect(by['bow-tie   '].n).toBeNull();
    expect(by['bow-tie   '].big).toBe(-5n);
    // Every attribute equals what GDAL reads from the source.
    const src = gdal.open(kitchen);
    const source = src.layers.get(0).features.map((f) => f.fields.toObject());
    src.close();
    expect(data.map((r) => [r.name, r.n, r.r])).toEqual(source.map((s) => [s.name, s.n, s.r]));
  });

  it('linearizes curved geometries (CurvePolygon, MultiSurface, CompoundCurve) into MultiPolygons', async () => {
    const c = await convert(await makeCurvedGpkg(dir), 'curves');
    const data = await expectGeoParquet(c, 4);
    for (const r of data) expect(wkbTypeName(r.wkb)).toBe('MultiPolygon');
    expect(scanWkb(data[0].wkb as Uint8Array).vertices).toBeGreaterThan(30);
    expect(planarArea(data[0].wkb)).toBeCloseTo(Math.PI, 2); // circle of radius 1
    expect(polygons(data[1].wkb)).toHaveLength(2);
    expect(planarArea(data[1].wkb)).toBeCloseTo(Math.PI + 1, 2);
    expect(planarArea(data[2].wkb)).toBeCloseTo(Math.PI / 2, 2); // half disc
    expect(planarArea(data[3].wkb)).toBeCloseTo(1, 9);
  });

  it('reprojects a projected layer: EPSG:5070 (0, 0) is lon −96, lat 23', async () => {
    const path = await makeVectorDataset(join(dir, 'albers.gpkg'), 'GPKG', [{
      name: 'albers', srs: 'EPSG:5070', fields: [['name', gdal.OFTString]],
      rows: [{ name: 'origin', wkt: 'POLYGON ((-1000 -1000, 1000 -1000, 1000 1000, -1000 1000, -1000 -1000))' }],
    }]);
    const [row] = await expectGeoParquet(await convert(path, 'albers'), 1);
    const b = row.bbox as { xmin: number; ymin: number; xmax: number; ymax: number };
    expect((b.xmin + b.xmax) / 2).toBeCloseTo(-96, 5);
    expect((b.ymin + b.ymax) / 2).toBeCloseTo(23, 3);
    expect(b.xmax - b.xmin).toBeCloseTo(2 / (111.32 * Math.cos((23 * Math.PI) / 180)), 2);
  });

  it('splits a feature crossing the antimeridian (Alaska Albers) into parts on both sides', async () => {
    const c = await convert(await makeAleutianGpkg(dir), 'islands');
    const [across, anchorage] = await expectGeoParquet(c, 2);
    expect(c.result.stats.splitAtAntimeridian).toBe(1);
    const parts = polygons(across.wkb);
    expect(parts.length).toBe(2);
    const boxes = parts.map((p) => scanWkb(encodeWkb(p)));
    for (const b of boxes) expect(b.xmax - b.xmin).toBeLessThan(180);
    const b = across.bbox as { xmin: number; xmax: number };
    expect(b.xmin).toBeCloseTo(-180, 9);
    expect(b.xmax).toBeCloseTo(180, 9);
    expect(boxes.map((x) => [x.xmin, x.xmax].map((v) => Math.round(v * 10) / 10)).sort()).toEqual([[-180, -179.5], [179.5, 180]]);
    // Nothing lost: the parts add up to the 1° × 1° box at 51–52°N.
    const expected = (6371.007180918475 ** 2 * Math.PI / 180) * (Math.sin((52 * Math.PI) / 180) - Math.sin((51 * Math.PI) / 180));
    expect(scanWkb(across.wkb as Uint8Array).areaKm2 / expected).toBeCloseTo(1, 3);
    expect(polygons(anchorage.wkb)).toHaveLength(1);
    expect((anchorage.bbox as { xmin: number }).xmin).toBeCloseTo(-150, 3);
  });

  it('wraps longitudes beyond 180° itself (no GDAL -wrapdateline) and cuts what then crosses the antimeridian', async () => {
    const path = await namedShapes('over', {
      across: 'POLYGON ((170 0, 190 0, 190 1, 170 1, 170 0))',
      east: 'POLYGON ((200 0, 201 0, 201 1, 200 1, 200 0))',
    });
    const c = await convert(path, 'over');
    const [across, east] = await expectGeoParquet(c, 2);
    expect(c.result.stats.splitAtAntimeridian).toBe(1);
    expect(polygons(across.wkb)).toHaveLength(2);
    expect(planarArea(across.wkb)).toBeCloseTo(20, 9);
    expect(across.bbox).toEqual({ xmin: -180, ymin: 0, xmax: 180, ymax: 1 });
    expect(east.bbox).toEqual({ xmin: -160, ymin: 0, xmax: -159, ymax: 1 });
  });

  it('keeps the parts of a GeometryCollection the layer can hold, and reports the others with their ids', async () => {
    const path = await namedShapes('gc', {
      polygon: 'POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))',
      'point+polygon': 'GEOMETRYCOLLECTION (POINT (5 5), POLYGON ((2 0, 3 0, 3 1, 2 1, 2 0)))',
      'point+line': 'GEOMETRYCOLLECTION (POINT (6 6), LINESTRING (0 0, 1 1))',
    });
    const err: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    let c: Converted;
    try {
      c = await convert(path, 'gc');
    } finally {
      spy.mockRestore();
    }
    const [polygon, withPoint, withLine] = await expectGeoParquet(c, 3);
    expect(wkbTypeName(polygon.wkb)).toBe('MultiPolygon');
    expect(wkbTypeName(withPoint.wkb)).toBe('MultiPolygon'); // the polygon is kept
    expect(planarArea(withPoint.wkb)).toBeCloseTo(1, 9);
    expect(wkbTypeName(withLine.wkb)).toBe('MultiLineString'); // no polygon: the highest dimension is kept
    expect(c.result.stats.partsDropped).toBe(2);
    expect(c.plan.droppedParts).toEqual({ features: 2, parts: 2, ids: [2, 3] });
    const line = err.filter((l) => l.includes('parts dropped (other dimension)'));
    expect(line).toEqual(['cng-worker convert: parts dropped (other dimension): 2 parts of 2 features not of the layer\'s geometry type (_cng_fid: 2, 3); recorded in the hex plan and manifest.json as dropped_parts\n']);
    // A layer of unknown type (GeoJSON) keeps the whole collection: nothing dropped.
    const gj = join(dir, 'collections.geojson');
    writeFileSync(gj, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: { type: 'GeometryCollection', geometries: [{ type: 'Point', coordinates: [5, 5] }, { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] }] } }] }));
    const whole = await convert(gj, 'collections');
    const [kept] = await expectGeoParquet(whole, 1);
    expect(wkbTypeName(kept.wkb)).toBe('GeometryCollection');
    expect(whole.result.stats.partsDropped).toBe(0);
    expect(whole.plan).not.toHaveProperty('droppedParts');
  });

  it('keeps strings as they are (trailing spaces, Latin-1 shapefiles) and refuses bytes that are not UTF-8', async () => {
    // A shapefile whose DBF is ISO-8859-1 (declared in its .cpg): GDAL recodes to UTF-8.
    const shp = await makeVectorDataset(join(dir, 'latin1.shp'), 'ESRI Shapefile', [{
      name: 'latin1', geometryType: gdal.wkbPolygon, options: ['ENCODING=ISO-8859-1'], fields: [['name', gdal.OFTString]],
      rows: [{ name: 'Café Zoë', wkt: 'POLYGON ((0 0, 1 0, 1 1, 0 0))' }],
    }]);
    expect(readFileSync(join(dir, 'latin1.dbf')).includes(Buffer.from([0xe9]))).toBe(true);
    const [latin] = await expectGeoParquet(await convert(shp, 'latin1'), 1);
    expect(latin.name).toBe('Café Zoë');
    // A CSV with bytes that are not UTF-8 and trailing spaces; geometry from lon/lat columns.
    const csv = join(dir, 'points.csv');
    writeFileSync(csv, Buffer.concat([Buffer.from('lon,lat,name\n10,20,ok\n-120.5,38.25,"A'), Buffer.from([0xff, 0xfe]), Buffer.from('B  "\n')]));
    await expect(convert(csv, 'points')).rejects.toThrow(
      `layer 'points' of '${csv}': column 'name' has text that is not valid UTF-8 (feature 2: 'A\uFFFD\uFFFDB'): the source is in a legacy encoding; declare encoding: 'ISO-8859-1' (or the right one) for this layer (cng-worker convert --encoding)`,
    );
    writeFileSync(csv, 'lon,lat,name\n-120.5,38.25,"AB  "\n10,20,ok\n');
    const c = await convert(csv, 'points');
    const [a, ok] = await expectGeoParquet(c, 2);
    expect(a.name).toBe('AB  ');
    expect(ok.name).toBe('ok');
    expect(wkbTypeName(a.wkb)).toBe('MultiPoint');
    expect(a.bbox).toEqual({ xmin: -120.5, ymin: 38.25, xmax: -120.5, ymax: 38.25 });
    expect(Object.keys(a)).not.toContain('lon');
  });

  it('renames columns that collide case-insensitively (or with geometry/bbox/_cng_fid) and keeps arrays as JSON', async () => {
    const path = join(dir, 'dup.geojson');
    writeFileSync(path, JSON.stringify({
      type: 'FeatureCollection',
      features: [{
        type: 'Feature', geometry: { type: 'Point', coordinates: [1, 2] },
        properties: { Name: 'a', NAME: 'b', name_2: 'c', bbox: 'd', _cng_fid: 7, list: [1, 2, 3], t: ' spaced  ' },
      }],
    }));
    const c = await convert(path, 'dup');
    expect(c.result.columns).toEqual(['Name', 'NAME_3', 'name_2', 'bbox_2', '_cng_fid_2', 'list', 't']);
    const [row] = await expectGeoParquet(c, 1);
    expect(row).toMatchObject({ _cng_fid: 1n, Name: 'a', NAME_3: 'b', name_2: 'c', bbox_2: 'd', _cng_fid_2: 7, t: ' spaced  ' });
    expect(JSON.parse(row.list as string)).toEqual([1, 2, 3]);
  });
});

describe('convert: bad input gives one clear line naming the input', () => {
  it('unknown layer lists the available layers', async () => {
    await expect(convert(gdb, 'Nope')).rejects.toThrow(new CommandError(`no layer 'Nope' in '${gdb}'; available: PADUS4_1Fee, PADUS4_1Marine, Public_Access`));
  });

  it('missing and corrupt files', async () => {
    await expect(convert(join(dir, 'missing.gpkg'), 'x')).rejects.toThrow(/^'.*missing\.gpkg': no such file or directory$/);
    const garbage = join(dir, 'garbage.gpkg');
    writeFileSync(garbage, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
    const err = await convert(garbage, 'x').catch((e) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(err.message).toMatch(/^cannot open '.*garbage\.gpkg': /);
    expect(err.message).not.toContain('\n');
  });

  it('a layer without CRS is refused (with a lon/lat hint); a wrong CRS is caught by the range check', async () => {
    const shp = await makeVectorDataset(join(dir, 'noprj.shp'), 'ESRI Shapefile', [
      { name: 'noprj', srs: null, geometryType: gdal.wkbPolygon, fields: [['v', gdal.OFTInteger]], rows: [{ v: 1, wkt: 'POLYGON ((0 0, 1 0, 1 1, 0 0))' }] },
    ]);
    await expect(convert(shp, 'noprj')).rejects.toThrow(/^layer 'noprj' of '.*noprj\.shp' has no coordinate reference system \(its extent 0, 0, 1, 1 looks like lon\/lat: if so, assign EPSG:4326\); assign one in the source/);
    // GeoPackage's "Undefined geographic SRS" (srs_id 0) is lon/lat with an unknown datum: accepted.
    const path = await makeVectorDataset(join(dir, 'crs.gpkg'), 'GPKG', [
      { name: 'undefined', srs: null, fields: [], rows: [{ wkt: 'POLYGON ((0 0, 1 0, 1 1, 0 0))' }] },
      { name: 'lies', srs: 'EPSG:4326', fields: [], rows: [{ wkt: projectedBoxWkt('EPSG:5070', -100, 40, -99, 41) }] },
    ]);
    const [row] = await expectGeoParquet(await convert(path, 'undefined'), 1);
    expect(row.bbox).toEqual({ xmin: 0, ymin: 0, xmax: 1, ymax: 1 });
    await expect(convert(path, 'lies')).rejects.toThrow(/^layer 'lies' of '.*': extent -338390.588, 1890984.272, .* is not lon\/lat, but the layer's CRS \(EPSG:4326\) is geographic: the declared CRS is probably wrong$/);
    // Coordinates a projection cannot invert: GDAL's own first error, not its cleanup noise.
    const utm = await makeVectorDataset(join(dir, 'utm.gpkg'), 'GPKG', [{
      name: 'utm', srs: 'EPSG:32610', fields: [],
      rows: [{ wkt: 'POLYGON ((500000 4000000, 501000 4000000, 501000 4001000, 500000 4000000))' }, { wkt: 'POLYGON ((1e12 1e12, 2e12 1e12, 2e12 2e12, 1e12 1e12))' }],
    }]);
    await expect(convert(utm, 'utm')).rejects.toThrow(/^cannot convert layer 'utm' of '.*utm\.gpkg': Failed to reproject feature 2 \(geometry probably out of source or destination SRS\)\.( \([^\n]*\))?$/); // GDAL's follow-up detail line varies with timing; the cause above is stable
  });

  it('--id-column must be unique and non-null', async () => {
    const path = await makeVectorDataset(join(dir, 'ids.gpkg'), 'GPKG', [
      { name: 'dups', fields: [['id', gdal.OFTInteger]], rows: [{ id: 1, wkt: 'POINT (0 0)' }, { id: 1, wkt: 'POINT (1 1)' }], geometryType: gdal.wkbPoint },
      { name: 'nulls', fields: [['id', gdal.OFTInteger64]], rows: [{ id: 1, wkt: 'POINT (0 0)' }, { wkt: 'POINT (1 1)' }], geometryType: gdal.wkbPoint },
    ]);
    await expect(convert(path, 'dups', { idColumn: 'id' })).rejects.toThrow(/--id-column 'id' .* is not unique: 1 \(2×\)/);
    await expect(convert(path, 'nulls', { idColumn: 'id' })).rejects.toThrow(/--id-column 'id' .* is null in feature 2/);
  });

  it('--units and --resolution must be integers in range (usage errors)', async () => {
    const base = { source: gdb, layer: 'PADUS4_1Fee', out: join(dir, 'u.parquet'), plan: join(dir, 'u.json') };
    await expect(convertStage({ ...base, resolution: '10', units: '0' })).rejects.toThrow(new UsageError("--units must be an integer from 1 to 1000000, got '0'"));
    await expect(convertStage({ ...base, resolution: '16', units: '2' })).rejects.toThrow(new UsageError("--resolution must be an integer from 0 to 15, got '16'"));
    await expect(convertStage({ ...base, resolution: 'ten', units: '2' })).rejects.toThrow(UsageError);
  });

  it('an s3:// source under CNG_STORAGE_DIR is the local file', async () => {
    const root = join(dir, 'store');
    mkdirSync(join(root, 'bucket', 'raw'), { recursive: true });
    writeFileSync(join(root, 'bucket', 'raw', 'p.csv'), 'lon,lat\n1,2\n');
    const ds = await openSource('s3://bucket/raw/p.csv', new Storage({ CNG_STORAGE_DIR: root }));
    expect(ds.driver.description).toBe('CSV');
    ds.close();
    await expect(openSource('s3://bucket/raw/none.gpkg', new Storage({ CNG_STORAGE_DIR: root }))).rejects.toThrow(/^'s3:\/\/bucket\/raw\/none\.gpkg': no such file or directory$/);
  });
});

describe('the real CLI', () => {
  it('convert exits 0 and writes both outputs; an unknown layer exits 1 with one line on stderr', async () => {
    const gpkg = await makeVectorDataset(join(dir, 'cli.gpkg'), 'GPKG', [{
      name: 'x', srs: 'EPSG:5070', fields: [['v', gdal.OFTInteger]],
      rows: [0, 1, 2, 3, 4].map((i) => ({ v: i, wkt: `POLYGON ((${i * 5000} 0, ${i * 5000 + 3000} 0, ${i * 5000 + 3000} 3000, ${i * 5000} 0))` })),
    }]);
    const out = join(dir, 'cli');
    const run = (layer: string) =>
      spawnSync(process.execPath, [join(ROOT, 'bin/cng-worker.js'), 'convert', '--source', gpkg, '--layer', layer, '--out', `${out}/x.parquet`, '--plan', `${out}/plan.json`, '--resolution', '10', '--units', '3'], { encoding: 'utf8', timeout: 60_000 });
    const ok = run('x');
    expect(ok.status, ok.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(`${out}/plan.json`, 'utf8')) as HexPlan;
    expect(plan.workUnits).toHaveLength(3);
    expect(checkHexPlan(plan).size).toBe(5);
    expect((await rows(`SELECT count(*) AS n FROM read_parquet(${q(`${out}/x.parquet`)})`))[0].n).toBe(5n);
    const bad = run('y');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(`cng-worker convert: no layer 'y' in '${gpkg}'; available: x\n`);
  });
});

describe('a shapefile in a legacy encoding (Latin-1 .dbf without a right .cpg)', () => {
  let shp: string;
  beforeAll(async () => {
    mkdirSync(join(dir, 'latin'), { recursive: true });
    shp = await makeVectorDataset(join(dir, 'latin', 'places.shp'), 'ESRI Shapefile', [{
      name: 'places', geometryType: gdal.wkbPolygon, options: ['ENCODING=ISO-8859-1'], fields: [['name', gdal.OFTString]],
      rows: [{ name: 'plain', wkt: 'POLYGON ((0 0, 1 0, 1 1, 0 0))' }, { name: 'Café Zürich', wkt: 'POLYGON ((2 0, 3 0, 3 1, 2 0))' }],
    }]);
    rmSync(join(dir, 'latin', 'places.cpg'));
    expect(readFileSync(join(dir, 'latin', 'places.dbf')).includes(Buffer.from('Caf\xe9 Z\xfcrich', 'latin1'))).toBe(true);
  });
  const run = (out: string, extra: string[] = []) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/cng-worker.js'), 'convert', '--source', shp, '--layer', 'places', '--out', `${out}/p.parquet`, '--plan', `${out}/plan.json`, '--resolution', '8', '--units', '1', ...extra], { encoding: 'utf8', timeout: 60_000 });
  const refused = (stderr: string) => stderr.split('\n').filter((l) => / not valid UTF-8/.test(l));

  it('fails without --encoding, naming the column, a sample row and the fix (also with a wrong UTF-8 .cpg)', () => {
    for (const cpg of [undefined, 'UTF-8']) {
      if (cpg) writeFileSync(join(dir, 'latin', 'places.cpg'), cpg);
      const out = join(dir, 'latin-out', cpg ?? 'none');
      const r = run(out);
      expect(r.status).toBe(1);
      expect(refused(r.stderr)).toEqual([
        `cng-worker convert: layer 'places' of '${shp}': column 'name' has text that is not valid UTF-8 (feature 2: 'Caf\uFFFD Z\uFFFDrich'): the source is in a legacy encoding; declare encoding: 'ISO-8859-1' (or the right one) for this layer (cng-worker convert --encoding)`,
      ]);
      expect(readdirSync(dir)).not.toContain('latin-out'); // nothing written
    }
    rmSync(join(dir, 'latin', 'places.cpg'));
  });

  it('with --encoding ISO-8859-1, "Café Zürich" round-trips into the GeoParquet', async () => {
    const out = join(dir, 'latin-ok');
    const r = run(out, ['--encoding', 'ISO-8859-1']);
    expect(r.status, r.stderr).toBe(0);
    const names = await rows(`SELECT name FROM read_parquet(${q(`${out}/p.parquet`)}) ORDER BY _cng_fid`);
    expect(names).toEqual([{ name: 'plain' }, { name: 'Café Zürich' }]);
    const bad = spawnSync(process.execPath, [join(ROOT, 'bin/cng-worker.js'), 'convert', '--source', gdb, '--layer', 'PADUS4_1Fee', '--out', `${out}/g.parquet`, '--plan', `${out}/g.json`, '--resolution', '8', '--units', '1', '--encoding', 'ISO-8859-1'], { encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(`cng-worker convert: --encoding ISO-8859-1: '${gdb}' is not a shapefile (the encoding of other formats is their driver's)\n`);
  });
});

describe('S3 (a real S3 server)', () => {
  it('converts a FileGDB read through /vsis3/ and uploads the GeoParquet and plan', async () => {
    const s3 = inject('s3');
    const { bucket, env, client, storage } = await s3TestBucket(s3, 'test-convert');
    for (const f of readdirSync(gdb)) await storage.upload(join(gdb, f), `s3://${bucket}/raw/padus_like.gdb/${f}`);
    const r = spawnSync(process.execPath, [
      join(ROOT, 'bin/cng-worker.js'), 'convert', '--source', `s3://${bucket}/raw/padus_like.gdb`, '--layer', 'PADUS4_1Marine',
      '--out', `s3://${bucket}/p/marine.parquet`, '--plan', `s3://${bucket}/p/marine/_work/hex-plan.json`, '--resolution', '9', '--units', '2',
    ], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
    expect(r.status, r.stderr).toBe(0);
    const local = join(dir, 's3', 'marine.parquet');
    await storage.download(`s3://${bucket}/p/marine.parquet`, local);
    const plan = JSON.parse(await storage.readText(`s3://${bucket}/p/marine/_work/hex-plan.json`)) as HexPlan;
    expect(plan).toMatchObject({ layer: 'PADUS4_1Marine', resolution: 9, units: 2, features: 2 });
    const data = await expectGeoParquet({ result: undefined as unknown as ConvertResult, out: local, plan }, 2);
    expect(data.map((d) => d.Unit_Nm)).toEqual(['Channel Islands National Marine Sanctuary', 'Florida Keys National Marine Sanctuary']);
  });
});

describe('hex plan', () => {
  const features = (works: number[]): PlanFeature[] => works.map((w, i) => ({ fid: i + 1, cells: Math.ceil(w / 2), vertices: Math.floor(w / 2) }));
  const load = (plan: HexPlan, fs: PlanFeature[]) => {
    const byFid = new Map(fs.map((f) => [f.fid, f.cells + f.vertices]));
    return plan.workUnits.map((u) => u.items.reduce((s, it) => s + byFid.get(it.fid)! / (it.pieces ?? 1), 0));
  };

  it('has exactly `units` units and plans every feature once (or all its pieces)', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 48271) % 2147483647), seed / 2147483647);
    const fs = features(Array.from({ length: 2000 }, () => Math.floor(10 ** (1 + 4 * rnd()))));
    const plan = buildHexPlan({ layer: 'L', idColumn: '_cng_fid', resolution: 10, units: 37, featureCount: 2003, nullGeometries: 3, features: fs });
    expect(plan.workUnits.map((u) => u.index)).toEqual(Array.from({ length: 37 }, (_, i) => i));
    expect(checkHexPlan(plan).size).toBe(2000);
    expect(plan.estimatedCells).toBe(fs.reduce((s, f) => s + f.cells, 0));
    expect(plan.workUnits.reduce((s, u) => s + u.vertices, 0)).toBe(fs.reduce((s, f) => s + f.vertices, 0));
    const loads = load(plan, fs);
    const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
    expect(Math.max(...loads) / mean).toBeLessThan(1.02);
  });

  it('splits features larger than one unit share into longitude-strip pieces on different units', () => {
    const fs = features([1000, 10, 10, 10, 10, 10, 10, 10, 10, 10]);
    const plan = buildHexPlan({ layer: 'L', idColumn: '_cng_fid', resolution: 10, units: 4, featureCount: 10, nullGeometries: 0, features: fs });
    checkHexPlan(plan);
    const pieces = plan.workUnits.flatMap((u) => u.items.filter((i) => i.fid === 1).map((i) => ({ ...i, unit: u.index })));
    const share = 1090 / 4;
    expect(pieces).toHaveLength(Math.ceil(1000 / share));
    expect(new Set(pieces.map((p) => p.unit)).size).toBe(pieces.length);
    expect(pieces.map((p) => p.piece).sort()).toEqual([0, 1, 2, 3]);
    const loads = load(plan, fs);
    expect(Math.max(...loads)).toBeLessThanOrEqual(share + 10);
  });

  it('is deterministic, keeps empty units, and its checker catches violations', () => {
    const fs = features([5, 50, 500, 5]);
    const a = buildHexPlan({ layer: 'L', idColumn: '_cng_fid', resolution: 8, units: 10, featureCount: 4, nullGeometries: 0, features: fs });
    const b = buildHexPlan({ layer: 'L', idColumn: '_cng_fid', resolution: 8, units: 10, featureCount: 4, nullGeometries: 0, features: [...fs].reverse() });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    // Splitting leaves at least `units` items, so only a layer without geometries has empty units.
    const empty = buildHexPlan({ layer: 'L', idColumn: '_cng_fid', resolution: 8, units: 4, featureCount: 2, nullGeometries: 2, features: [] });
    expect(empty.workUnits).toEqual([0, 1, 2, 3].map((index) => ({ index, estimatedCells: 0, vertices: 0, items: [] })));
    checkHexPlan(empty);
    const broken = structuredClone(a);
    broken.workUnits[0].items.push({ ...broken.workUnits.find((u) => u.items.some((i) => i.pieces === undefined))!.items.find((i) => i.pieces === undefined)! });
    expect(() => checkHexPlan(broken)).toThrow(/planned twice/);
    const missing = structuredClone(a);
    const unit = missing.workUnits.find((u) => u.items.some((i) => i.pieces !== undefined))!;
    unit.items = unit.items.filter((i) => i.pieces === undefined);
    expect(() => checkHexPlan(missing)).toThrow(/pieces planned/);
  });

  it('estimates cells from spherical area (at least 1)', () => {
    const square = scanWkb(wkbOf('POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))'));
    const area = (6371.007180918475 ** 2 * Math.PI / 180) * Math.sin(Math.PI / 180);
    expect(square.areaKm2).toBeCloseTo(area, 6);
    expect(estimateCells(square, 10)).toBe(Math.round(area / getHexagonAreaAvg(10, 'km2')));
    expect(getHexagonAreaAvg(10, 'km2')).toBeCloseTo(0.01505, 5);
    expect(estimateCells(scanWkb(wkbOf('POLYGON ((0 0, 1e-6 0, 0 1e-6, 0 0))')), 10)).toBe(1);
    expect(estimateCells(scanWkb(wkbOf('MULTIPOINT ((0 0), (1 1))')), 10)).toBe(2);
  });
});

describe('helpers', () => {
  it('Hilbert index visits every cell once, moving to a neighbour each step', () => {
    const seen = new Map<number, [number, number]>();
    for (let x = 0; x < 16; x++) for (let y = 0; y < 16; y++) seen.set(hilbertIndex(x, y, 4), [x, y]);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 256 }, (_, i) => i));
    for (let d = 1; d < 256; d++) {
      const [a, b] = [seen.get(d - 1)!, seen.get(d)!];
      expect(Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1])).toBe(1);
    }
    expect(lonLatHilbert(-180, -90)).toBe(0);
    expect(lonLatHilbert(180, 90)).toBeLessThan(2 ** 32);
  });

  it('unwraps an antimeridian ring and promotes single geometries to multi', () => {
    const { geom: g, poles } = unwrapAntimeridian(decodeWkb(wkbOf('POLYGON ((179 0, -179 0, -179 1, 179 1, 179 0))')));
    expect(g.type === 3 && Array.from(g.rings[0])).toEqual([179, 0, 181, 0, 181, 1, 179, 1, 179, 0]);
    expect(poles).toBe(0);
    // A cap around the north pole does not close once unwrapped: closed along +90, a vertex every 45°.
    const cap = unwrapAntimeridian(decodeWkb(wkbOf('POLYGON ((-60 80, 60 80, 180 80, -60 80))')));
    expect(cap.poles).toBe(1);
    const r = cap.geom.type === 3 ? Array.from(cap.geom.rings[0]) : [];
    expect(r.slice(0, 8)).toEqual([-60, 80, 60, 80, 180, 80, 300, 80]);
    expect(r.slice(8)).toEqual([300, 90, 255, 90, 210, 90, 165, 90, 120, 90, 75, 90, 30, 90, -15, 90, -60, 90, -60, 80]);
    expect(scanWkb(toMultiWkb(wkbOf('POINT (1 2)'))).type).toBe(4);
  });

  it('parses GDAL date/time text exactly', () => {
    expect(parseOgrDateTime('2020/01/02')).toEqual({ days: 18263, micros: 18263n * 86_400_000_000n });
    expect(parseOgrDateTime('2020/01/02 03:04:05.678+01')!.micros).toBe(BigInt(Date.UTC(2020, 0, 2, 2, 4, 5, 678)) * 1000n);
    expect(parseOgrDateTime('1969/12/31 23:59:59-0130')!.micros).toBe(BigInt(Date.UTC(1970, 0, 1, 1, 29, 59)) * 1000n);
    const year99 = new Date(Date.UTC(2000, 2, 1));
    year99.setUTCFullYear(99);
    expect(parseOgrDateTime('0099/03/01')!.days).toBe(year99.getTime() / 86_400_000);
    expect(parseOgrTime('12:34:56.5')).toBe(45_296_500_000n);
    expect(parseOgrDateTime('not a date')).toBeNull();
  });
});

function wkbOf(wkt: string): Uint8Array {
  return gdal.Geometry.fromWKT(wkt).toWKB(gdal.wkbNDR);
}

function wkbTypeName(wkb: unknown): string {
  return ['', 'Point', 'LineString', 'Polygon', 'MultiPoint', 'MultiLineString', 'MultiPolygon', 'GeometryCollection'][scanWkb(wkb as Uint8Array).type];
}

