import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import gdal from 'gdal-async';
import { inspectSource, type SourceInfo } from '../cli/inspect.ts';
import { configureGdalS3, geometryTypeName, toGdalPath } from '../worker/gdal.ts';
import { makePadusLikeGdb } from './fixtures.ts';

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
