import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import gdal from 'gdal-async';
import { inspectSource, type SourceInfo } from '../cli/local/inspect.ts';
import { configureGdalS3, geometryTypeName, isGdalName, toGdalPath } from '../worker/io/gdal.ts';
import { makePadusLikeGdb, makeVectorDataset, zipFiles } from './fixtures.ts';
import { cng } from './helpers.ts';
import { writeRaster } from './raster-fixtures.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** Runs `node bin/cng.js inspect ...args` from the repository root. */
function cngInspect(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', ['bin/cng.js', 'inspect', ...args], { cwd: repo }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const PADUS_FIELDS = [
  { name: 'Unit_Nm', type: 'string' },
  { name: 'GIS_Acres', type: 'integer' },
  { name: 'SHAPE_Area', type: 'real' },
  { name: 'Des_Tp', type: 'string' },
];

let dir: string;
let gdb: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cng-inspect-'));
  gdb = await makePadusLikeGdb(dir);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The expectations shared by the library call and the CLI's JSON output. */
function expectPadus(info: SourceInfo): void {
  expect(info.driver).toBe('OpenFileGDB');
  expect(info.layers.map((l) => l.name)).toEqual(['PADUS4_1Fee', 'PADUS4_1Marine', 'Public_Access']);
  const [fee, marine, access] = info.layers;
  for (const [layer, count] of [[fee, 3], [marine, 2]] as const) {
    expect(layer.geometryType).toBe('MultiPolygon');
    expect(layer.featureCount).toBe(count);
    expect(layer.crs?.authority).toBe('ESRI:102039');
    expect(layer.crs?.name).toBe('USA_Contiguous_Albers_Equal_Area_Conic_USGS_version');
    expect(layer.crs?.wkt).toContain('Albers');
    expect(layer.fields).toEqual(PADUS_FIELDS);
    expect(layer.geometryColumn).toBe('SHAPE');
    expect(layer.fidColumn).toBe('OBJECTID');
  }
  expect(fee.extent).toEqual([-1_240_000, 500_000, 1_582_000, 2_483_000]);
  expect(access).toMatchObject({
    geometryType: 'table',
    featureCount: 4,
    crs: null,
    extent: null,
    geometryColumn: null,
    fields: [
      { name: 'Code', type: 'string' },
      { name: 'Dom', type: 'string' },
    ],
  });
}

describe('inspectSource', () => {
  it('describes both polygon layers and the non-spatial table', async () => {
    const info = await inspectSource(gdb);
    expect(info.source).toBe(gdb);
    expectPadus(info);
  });

  it('restricts to one layer and lists the layers for an unknown one', async () => {
    const info = await inspectSource(gdb, { layer: 'Public_Access' });
    expect(info.layers.map((l) => l.name)).toEqual(['Public_Access']);
    await expect(inspectSource(gdb, { layer: 'Nope' })).rejects.toThrow(
      /no layer 'Nope'.*PADUS4_1Fee, PADUS4_1Marine, Public_Access/,
    );
  });

  it('names a missing input', async () => {
    await expect(inspectSource(join(dir, 'missing.gdb'))).rejects.toThrow(/'.*missing\.gdb': no such file or directory/);
  });
});

describe('GDAL helpers', () => {
  it('maps URLs to GDAL virtual paths', () => {
    expect(toGdalPath('s3://bucket/padus/PADUS.gdb')).toBe('/vsis3/bucket/padus/PADUS.gdb');
    expect(toGdalPath('https://example.org/a.zip')).toBe('/vsicurl/https://example.org/a.zip');
    expect(toGdalPath('/vsis3/bucket/key')).toBe('/vsis3/bucket/key');
    expect(toGdalPath('data/x.gdb')).toBe('data/x.gdb');
  });

  it('names geometry types', () => {
    expect(geometryTypeName(gdal.wkbMultiPolygon)).toBe('MultiPolygon');
    expect(geometryTypeName(gdal.wkbMultiPolygon25D)).toBe('3D MultiPolygon');
    // gdal-async has no wkbMultiSurface/wkbCurvePolygon constants: use the WKB codes.
    expect(geometryTypeName(12)).toBe('MultiSurface');
    expect(geometryTypeName(10)).toBe('CurvePolygon');
    expect(geometryTypeName(1012)).toBe('3D MultiSurface'); // wkbMultiSurfaceZ
    expect(geometryTypeName(2001)).toBe('Measured Point'); // wkbPointM
    expect(geometryTypeName(gdal.wkbPoint)).toBe('Point');
    expect(geometryTypeName(gdal.wkbUnknown)).toBe('Geometry');
    expect(geometryTypeName(gdal.wkbNone)).toBe('table');
  });

  it('configures an S3 endpoint only when one is given', () => {
    const keys = ['AWS_S3_ENDPOINT', 'AWS_HTTPS', 'AWS_VIRTUAL_HOSTING', 'CPL_VSIL_USE_TEMP_FILE_FOR_RANDOM_WRITE'];
    const before = keys.map((k) => gdal.config.get(k));
    try {
      expect(configureGdalS3({})).toBeNull();
      expect(configureGdalS3({ AWS_ENDPOINT_URL: 'http://rook-ceph-rgw-nautiluss3.rook' })).toMatchObject({
        AWS_S3_ENDPOINT: 'rook-ceph-rgw-nautiluss3.rook',
        AWS_HTTPS: 'NO',
      });
      configureGdalS3({ AWS_ENDPOINT_URL_S3: 'https://127.0.0.1:8080', AWS_ENDPOINT_URL: 'http://other' });
      expect(keys.map((k) => gdal.config.get(k))).toEqual(['127.0.0.1:8080', 'YES', 'FALSE', 'YES']);
      expect(() => configureGdalS3({ AWS_ENDPOINT_URL: 'ftp://x' })).toThrow(/http/);
    } finally {
      keys.forEach((k, i) => gdal.config.set(k, before[i]));
    }
  });
});

describe('cng inspect', () => {
  it('prints JSON', async () => {
    const { code, stdout } = await cngInspect(gdb, '--json');
    expect(code).toBe(0);
    expectPadus(JSON.parse(stdout));
  });

  it('prints a readable report', async () => {
    const { code, stdout } = await cngInspect(gdb, '--layer', 'PADUS4_1Fee');
    expect(code).toBe(0);
    expect(stdout).toMatch(/PADUS4_1Fee\n\s+type\s+MultiPolygon/);
    expect(stdout).toMatch(/features\s+3/);
    expect(stdout).toContain('ESRI:102039');
    expect(stdout).toMatch(/GIS_Acres\s+integer/);
    expect(stdout).not.toContain('PROJCS');
  });

  it('lists the layers when --layer is unknown (exit 1)', async () => {
    const { code, stderr } = await cngInspect(gdb, '--layer', 'Nope');
    expect(code).toBe(1);
    expect(stderr).toMatch(/no layer 'Nope'.*PADUS4_1Fee, PADUS4_1Marine, Public_Access/);
  });

  it('names a missing file (exit 1)', async () => {
    const { code, stderr } = await cngInspect('does-not-exist.gdb');
    expect(code).toBe(1);
    expect(stderr).toContain("'does-not-exist.gdb': no such file or directory");
  });

  it('requires a source (exit 2)', async () => {
    const { code, stderr } = await cngInspect();
    expect(code).toBe(2);
    expect(stderr).toMatch(/missing <source>\nUsage: cng inspect <source>/);
  });

  it('has help (exit 0)', async () => {
    const { code, stdout } = await cngInspect('--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: cng inspect <source>/);
    expect(stdout).toContain('--layer NAME');
    expect(stdout).toContain('Examples:');
  });
});

describe('cng inspect on rasters', () => {
  let plain: string;
  let cog: string;
  beforeAll(() => {
    // A 2-band Int16 raster in Alaska Albers with nodata and band names; and a 1-band Byte COG.
    plain = writeRaster(join(dir, 'cover.tif'), {
      width: 300, height: 200, bands: 2, type: 'Int16', srs: 'EPSG:3338', nodata: -32768,
      geoTransform: [-200_000, 30, 0, 1_500_000, 0, -30], descriptions: ['tree cover', 'shrub cover'],
      value: (x, y, b) => (x + y * b) % 100,
    });
    cog = writeRaster(join(dir, 'classes.tif'), {
      width: 1200, height: 900, type: 'Byte', driver: 'COG', geoTransform: [170, 0.01, 0, 60, 0, -0.01],
      value: (x) => (x < 600 ? 1 : 2),
    });
  });

  it('--json: size, bands, nodata, CRS, pixel size, lon/lat bounds, blocks and the COG check', async () => {
    const { code, stdout } = await cngInspect(plain, '--json');
    expect(code).toBe(0);
    const info = JSON.parse(stdout);
    expect(info).toMatchObject({ driver: 'GTiff', width: 300, height: 200, pixelSize: [30, 30], suggestedValueKind: 'continuous' });
    expect(info.crs.authority).toBe('EPSG:3338');
    expect(info.bands.map((b: any) => [b.band, b.dataType, b.nodata, b.description])).toEqual([
      [1, 'Int16', -32768, 'tree cover'],
      [2, 'Int16', -32768, 'shrub cover'],
    ]);
    // 9 km × 6 km near (-154°, 63.5°) in Alaska Albers's frame.
    const [w, s, e, n] = info.bounds4326;
    expect(w).toBeLessThan(e);
    expect(e - w).toBeGreaterThan(0.1);
    expect(e - w).toBeLessThan(0.5);
    expect(s).toBeGreaterThan(60);
    expect(n).toBeLessThan(70);
    expect(info.cog.valid).toBe(false);
    expect(info.cog.errors.join(' ')).toMatch(/not tiled|strips/);
  });

  it('a COG across 180°: valid, west > east; the report ends in the dataset-file entry', async () => {
    const json = JSON.parse((await cngInspect(cog, '--json')).stdout);
    expect(json.cog).toEqual({ valid: true, errors: [] });
    expect(json.bounds4326[0]).toBeCloseTo(170, 6);
    expect(json.bounds4326[2]).toBeCloseTo(-178, 6);
    const { code, stdout } = await cngInspect(cog);
    expect(code).toBe(0);
    expect(stdout).toMatch(/raster 1,200 × 900, 1 band\)/);
    expect(stdout).toMatch(/crosses 180°/);
    expect(stdout).toMatch(/cog\s+valid Cloud-Optimized GeoTIFF/);
    expect(stdout).toContain(`rasters: { 'classes': { source: '${cog}', valueKind: 'continuous' } },`);
  });

  it('--layer is a usage error for a raster (exit 2)', async () => {
    const { code, stderr } = await cngInspect(plain, '--layer', 'x');
    expect(code).toBe(2);
    expect(stderr).toMatch(/--layer applies to vector sources/);
  });
});

describe('GDAL names pass through (zip archives, subdatasets)', () => {
  let shpZip: string;
  let gpkgZip: string;
  let gpkg: string;
  let nc: string;
  beforeAll(async () => {
    const src = mkdtempSync(join(dir, 'names-'));
    const square = (i: number) => `MULTIPOLYGON(((${i} 0,${i + 0.5} 0,${i + 0.5} 0.5,${i} 0.5,${i} 0)))`;
    const parks = { name: 'parks', fields: [['n', gdal.OFTInteger]] as [string, string][], rows: [0, 1, 2].map((i) => ({ n: i, wkt: square(i) })) };
    await makeVectorDataset(join(src, 'parks.shp'), 'ESRI Shapefile', [{ ...parks, name: 'parks' }]);
    shpZip = zipFiles(join(src, 'parks-shp.zip'), ['shp', 'shx', 'dbf', 'prj'].map((e) => join(src, `parks.${e}`)));
    gpkg = await makeVectorDataset(join(src, 'parks.gpkg'), 'GPKG', [parks, { ...parks, name: 'other', rows: parks.rows.slice(0, 1) }]);
    gpkgZip = zipFiles(join(src, 'parks-gpkg.zip'), [gpkg]);
    nc = writeRaster(join(src, 'grid.nc'), { driver: 'netCDF', width: 20, height: 10, geoTransform: [-10, 0.5, 0, 5, 0, -0.5], value: (x, y) => x + 20 * y });
  });

  it('isGdalName and toGdalPath keep /vsi paths and DRIVER: names; a directory store stands for /vsis3/ inside them', () => {
    for (const n of ['/vsizip/a.zip/b.shp', '/vsicurl/https://x/y.tif', 'NETCDF:"f.nc":tas', 'GPKG:f.gpkg:t', 'HDF5:"f.h5"://g/v']) {
      expect(isGdalName(n), n).toBe(true);
      expect(toGdalPath(n, {}), n).toBe(n);
    }
    for (const p of ['parks.shp', '/data/x.gpkg', 'C:/x.shp', 'data:1']) expect(isGdalName(p), p).toBe(false);
    expect(toGdalPath('/vsizip//vsis3/public-x/raw/p.zip/p.shp', { CNG_STORAGE_DIR: '/tmp/store/' })).toBe('/vsizip//tmp/store/public-x/raw/p.zip/p.shp');
  });

  it('cng inspect reads a zipped shapefile and GeoPackage, a GPKG: name and a NETCDF: subdataset', async () => {
    for (const source of [`/vsizip/${shpZip}/parks.shp`, `/vsizip/${gpkgZip}/parks.gpkg`, `GPKG:${gpkg}:parks`]) {
      const r = await cngInspect(source, '--json');
      expect(r.code, `${source}: ${r.stderr}`).toBe(0);
      expect(JSON.parse(r.stdout).layers.find((l: any) => l.name === 'parks'), source).toMatchObject({ featureCount: 3 });
    }
    const r = await cngInspect(`NETCDF:"${nc}":Band1`, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ width: 20, height: 10 });
    const missing = await cngInspect(`GPKG:${join(dir, 'nope.gpkg')}:parks`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot open 'GPKG:.*nope\.gpkg:parks'/);
  });

  it('the worker converts a GPKG: name, and in a directory store a zip under /vsis3/', () => {
    const out = mkdtempSync(join(dir, 'worker-'));
    const convert = (source: string, name: string, env: NodeJS.ProcessEnv = {}) =>
      spawnSync(process.execPath, [join(repo, 'bin/cng-worker.js'), 'convert', '--source', source, '--layer', 'parks', '--out', join(out, `${name}.parquet`), '--plan', join(out, `${name}.json`), '--resolution', '6', '--units', '1'], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      });
    const a = convert(`GPKG:${gpkg}:parks`, 'a');
    expect(a.status, a.stderr).toBe(0);
    mkdirSync(join(out, 'store/public-x/raw'), { recursive: true });
    copyFileSync(shpZip, join(out, 'store/public-x/raw/parks.zip'));
    const b = convert('/vsizip//vsis3/public-x/raw/parks.zip/parks.shp', 'b', { CNG_STORAGE_DIR: join(out, 'store') });
    expect(b.status, b.stderr).toBe(0);
    for (const name of ['a', 'b']) expect(JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8')).features, name).toBe(3);
  }, 60_000);

  it('cng local runs a zipped shapefile and a NETCDF: subdataset end to end', () => {
    const out = mkdtempSync(join(dir, 'local-'));
    const v = cng(['local', `/vsizip/${shpZip}/parks.shp`, '--out', join(out, 'v'), '--resolution', '6', '--parents', '5', '--jobs', '2']);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'v/parks/manifest.json'), 'utf8'))).toMatchObject({ features: 3, features_hexed: 3 });
    const r = cng(['local', `NETCDF:"${nc}":Band1`, '--out', join(out, 'r'), '--resolution', '4', '--jobs', '2']);
    expect(r.code, r.stderr).toBe(0);
    const name = readdirSync(join(out, 'r')).find((f) => f.endsWith('.tif'))!;
    expect(JSON.parse(readFileSync(join(out, 'r', name.replace(/\.tif$/, ''), 'manifest.json'), 'utf8')).cells).toBeGreaterThan(0);
  }, 300_000);
});
