/**
 * The `cog` stage (worker/raster/cog.ts) and the COG layout validator (worker/io/cogcheck.ts), on GeoTIFF
 * fixtures written here with GDAL; every output is read back (pixels, GDAL's metadata, our layout
 * check, the info JSON).
 */
import { describe, it, expect, beforeAll, afterAll, inject } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import gdal from 'gdal-async';
import { CommandError } from '../worker/core/errors.ts';
import { footprintBounds4326, makeCog, parseCogOptions, type CogInfo, type CogParams } from '../worker/raster/cog.ts';
import { validateCog } from '../worker/io/cogcheck.ts';
import { Storage } from '../worker/io/storage.ts';
import { ROOT, cng, s3TestBucket } from './helpers.ts';
import { writeRaster } from './raster-fixtures.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cng-cog-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NODATA = -9999;
/** A smooth continuous field with nodata holes (a disc and every 97th column). */
const field = (x: number, y: number) => ((x - 400) ** 2 + (y - 300) ** 2 < 60 ** 2 || x % 97 === 0 ? NODATA : Math.round(1000 * Math.sin(x / 50) * Math.cos(y / 70)) / 8);

function params(over: Partial<CogParams> & Pick<CogParams, 'sources'>): CogParams {
  const name = `out-${Math.random().toString(36).slice(2, 8)}`;
  return { out: join(dir, `${name}.tif`), info: join(dir, `${name}.json`), valueKind: 'continuous', nodata: [], ...over };
}

function read(path: string, band: number, x: number, y: number, w: number, h: number): number[] {
  const ds = gdal.open(path);
  try {
    return Array.from(ds.bands.get(band).pixels.read(x, y, w, h) as ArrayLike<number>);
  } finally {
    ds.close();
  }
}

function readInfo(path: string): CogInfo {
  return JSON.parse(readFileSync(path, 'utf8')) as CogInfo;
}

function gdalInfo(path: string) {
  const ds = gdal.open(path);
  try {
    return JSON.parse(gdal.info(ds, ['-json'])) as {
      metadata: Record<string, Record<string, string>>;
      bands: { block: number[]; overviews?: { size: number[] }[]; noDataValue?: number; description?: string; type: string }[];
      size: number[];
    };
  } finally {
    ds.close();
  }
}

async function failure(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CommandError);
  const message = (err as Error).message;
  expect(message).not.toContain('\n');
  return message;
}

describe('cog: a continuous Float32 raster with nodata holes', () => {
  let src: string;
  let p: CogParams;
  let info: CogInfo;
  beforeAll(async () => {
    src = writeRaster(join(dir, 'continuous.tif'), { width: 1300, height: 900, nodata: NODATA, geoTransform: [-120, 0.001, 0, 40, 0, -0.001], value: field });
    p = params({ sources: [src] });
    info = await makeCog(p);
  });

  it('is a valid COG by our layout check and by GDAL (LAYOUT=COG, 512 blocks, DEFLATE, predictor 3, overviews)', async () => {
    const check = await validateCog(p.out);
    expect(check.errors).toEqual([]);
    expect(check).toMatchObject({ valid: true, tiled: true, blockWidth: 512, blockHeight: 512, compression: 'DEFLATE', predictor: 3, bigtiff: false, layout: 'IFDS_BEFORE_DATA', width: 1300, height: 900, dataType: 'Float32' });
    expect(check.overviews).toEqual([{ width: 650, height: 450 }, { width: 325, height: 225 }]);
    const g = gdalInfo(p.out);
    expect(g.metadata.IMAGE_STRUCTURE).toMatchObject({ LAYOUT: 'COG', COMPRESSION: 'DEFLATE', PREDICTOR: '3' });
    expect(g.bands[0]!.block).toEqual([512, 512]);
    expect(g.bands[0]!.overviews).toHaveLength(2);
    expect(g.bands[0]!.noDataValue).toBe(NODATA);
  });

  it('keeps every pixel value (windows across tiles, holes included)', () => {
    for (const [x, y, w, h] of [[0, 0, 40, 30], [490, 480, 60, 50], [340, 240, 120, 120], [1250, 860, 50, 40]] as const) {
      const got = read(p.out, 1, x, y, w, h);
      const want = read(src, 1, x, y, w, h);
      expect(got).toEqual(want);
      for (let i = 0; i < got.length; i++) expect(got[i]).toBe(Math.fround(field(x + (i % w), y + Math.floor(i / w))));
    }
  });

  it('writes the info JSON of the contract', () => {
    const written = readInfo(p.info);
    expect(written).toEqual(info);
    expect(written).toEqual({
      version: 1, sources: [src], valueKind: 'continuous', width: 1300, height: 900,
      bands: [{ band: 1, name: 'band_1', dataType: 'Float32' }], crs: 'EPSG:4326', geoTransform: [-120, 0.001, 0, 40, 0, -0.001],
      bounds4326: written.bounds4326, nodata: NODATA, nodataCollapsed: [], copied: false, bigtiff: false, overviews: 2, bytes: statSync(p.out).size,
    });
    const [w, s, e, n] = written.bounds4326;
    expect(w).toBeCloseTo(-120, 9);
    expect(e).toBeCloseTo(-118.7, 9);
    expect(s).toBeCloseTo(39.1, 9);
    expect(n).toBeCloseTo(40, 9);
  });

  it('is idempotent: a re-run writes the same bytes', async () => {
    const before = readFileSync(p.out);
    const again = await makeCog(p);
    expect(again).toEqual(info);
    expect(readFileSync(p.out).equals(before)).toBe(true);
  });
});

describe('cog: overview resampling by value kind', () => {
  // 2×2 blocks of 1, 1, 1, 9: the mode is 1, the average 3.
  const value = (x: number, y: number) => (x % 2 === 1 && y % 2 === 1 ? 9 : 1);
  let src: string;
  beforeAll(() => {
    src = writeRaster(join(dir, 'classes.tif'), { width: 1024, height: 1024, type: 'Byte', nodata: 0, geoTransform: [10, 0.01, 0, 50, 0, -0.01], value });
  });

  it('categorical → MODE, continuous and count → AVERAGE', async () => {
    const results: Record<string, number[]> = {};
    for (const kind of ['categorical', 'continuous', 'count'] as const) {
      const p = params({ sources: [src], valueKind: kind });
      await makeCog(p);
      expect((await validateCog(p.out)).valid).toBe(true);
      const ds = gdal.open(p.out);
      const ov = ds.bands.get(1).overviews.get(0);
      expect(ov.size).toEqual({ x: 512, y: 512 });
      results[kind] = Array.from(ov.pixels.read(100, 100, 4, 4) as Uint8Array);
      ds.close();
      expect(read(p.out, 1, 0, 0, 4, 2)).toEqual([1, 1, 1, 1, 1, 9, 1, 9]);
    }
    expect(new Set(results.categorical)).toEqual(new Set([1]));
    expect(new Set(results.continuous)).toEqual(new Set([3]));
    expect(new Set(results.count)).toEqual(new Set([3]));
  });
});

describe('cog: mosaics', () => {
  it('mosaics a 2×2 grid of tiles into one COG (values at each tile position)', async () => {
    const tiles: string[] = [];
    for (const [i, j] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
      tiles.push(writeRaster(join(dir, 'grid', `t${i}${j}.tif`), {
        width: 400, height: 300, type: 'Int16', nodata: -1, geoTransform: [5 + i * 4, 0.01, 0, 45 - j * 3, 0, -0.01],
        value: (x, y) => 1000 * (1 + i + 2 * j) + (x % 10) + 10 * (y % 10),
      }));
    }
    const p = params({ sources: tiles });
    const info = await makeCog(p);
    expect(info).toMatchObject({ width: 800, height: 600, geoTransform: [5, 0.01, 0, 45, 0, -0.01], nodata: -1, nodataCollapsed: [], copied: false });
    expect((await validateCog(p.out)).valid).toBe(true);
    for (const [i, j] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
      for (const [x, y] of [[0, 0], [123, 45], [399, 299]]) {
        expect(read(p.out, 1, i * 400 + x, j * 300 + y, 1, 1)).toEqual([1000 * (1 + i + 2 * j) + (x % 10) + 10 * (y % 10)]);
      }
    }
    const [w, s, e, n] = info.bounds4326;
    expect([w, s, e, n].map((v) => Number(v.toFixed(9)))).toEqual([5, 39, 13, 45]);
  });

  it('collapses several nodata values into one: the sources\' own and the --nodata extras', async () => {
    // a: nodata -1 (column 0), extra -5 every 7th row; b: nodata -2 (row 0), extra -7 at x % 11 === 3.
    const a = writeRaster(join(dir, 'nd', 'a.tif'), {
      width: 300, height: 200, type: 'Int32', nodata: -1, geoTransform: [0, 1, 0, 200, 0, -1],
      value: (x, y) => (x === 0 ? -1 : y % 7 === 0 ? -5 : 10 + x),
    });
    const b = writeRaster(join(dir, 'nd', 'b.tif'), {
      width: 300, height: 200, type: 'Int32', nodata: -2, geoTransform: [300, 1, 0, 200, 0, -1],
      value: (x, y) => (y === 0 ? -2 : x % 11 === 3 ? -7 : 20 + y),
    });
    const p = params({ sources: [a, b], nodata: [-5, -7, -1] });
    const info = await makeCog(p);
    expect(info.nodata).toBe(-1);
    expect(info.nodataCollapsed).toEqual([-2, -5, -7]);
    expect(readInfo(p.info).nodataCollapsed).toEqual([-2, -5, -7]);
    const px = read(p.out, 1, 0, 0, 600, 200);
    for (const v of [-2, -5, -7]) expect(px.filter((x) => x === v)).toHaveLength(0);
    let expectedNodata = 0;
    for (let y = 0; y < 200; y++) {
      for (let x = 0; x < 600; x++) {
        const isNodata = x < 300 ? x === 0 || y % 7 === 0 : y === 0 || (x - 300) % 11 === 3;
        if (isNodata) expectedNodata++;
        expect(px[y * 600 + x]).toBe(isNodata ? -1 : x < 300 ? 10 + x : 20 + y);
      }
    }
    expect(px.filter((v) => v === -1)).toHaveLength(expectedNodata);
    expect(gdalInfo(p.out).bands[0]!.noDataValue).toBe(-1);
  });

  it('takes the first --nodata value when no source declares one', async () => {
    const src = writeRaster(join(dir, 'nd', 'none.tif'), { width: 64, height: 64, type: 'Int16', geoTransform: [0, 1, 0, 64, 0, -1], value: (x) => (x < 8 ? -3 : x < 16 ? -4 : x) });
    const p = params({ sources: [src], nodata: [-3, -4] });
    const info = await makeCog(p);
    expect(info).toMatchObject({ nodata: -3, nodataCollapsed: [-4] });
    expect(read(p.out, 1, 0, 5, 20, 1)).toEqual([...Array(16).fill(-3), 16, 17, 18, 19]);
  });

  it('categorical without any nodata keeps none', async () => {
    const src = writeRaster(join(dir, 'nd', 'cls.tif'), { width: 64, height: 64, type: 'Byte', geoTransform: [0, 1, 0, 64, 0, -1], value: (x) => x % 4 });
    const info = await makeCog(params({ sources: [src], valueKind: 'categorical' }));
    expect(info).toMatchObject({ nodata: null, nodataCollapsed: [] });
  });

  it('refuses sources with different CRSs, band counts or data types', async () => {
    const gt: [number, number, number, number, number, number] = [0, 1, 0, 10, 0, -1];
    const base = writeRaster(join(dir, 'mix', 'base.tif'), { width: 10, height: 10, geoTransform: gt, value: () => 1 });
    const utm = writeRaster(join(dir, 'mix', 'utm.tif'), { width: 10, height: 10, geoTransform: [500000, 30, 0, 4000000, 0, -30], srs: 'EPSG:32610', value: () => 1 });
    const two = writeRaster(join(dir, 'mix', 'two.tif'), { width: 10, height: 10, bands: 2, geoTransform: gt, value: () => 1 });
    const int = writeRaster(join(dir, 'mix', 'int.tif'), { width: 10, height: 10, type: 'Int16', geoTransform: gt, value: () => 1 });
    expect(await failure(makeCog(params({ sources: [base, utm] })))).toBe(
      `sources have different CRSs: '${base}' is EPSG:4326, '${utm}' is EPSG:32610; reproject them to one CRS first (the cog stage does not warp)`,
    );
    expect(await failure(makeCog(params({ sources: [base, two] })))).toBe(`sources have different band counts: '${base}' has 1, '${two}' has 2`);
    expect(await failure(makeCog(params({ sources: [base, int] })))).toBe(`sources have different data types: '${base}' is Float32, '${int}' is Int16`);
    const rotated = writeRaster(join(dir, 'mix', 'rotated.tif'), { width: 10, height: 10, geoTransform: [0, 1, 0.2, 10, 0.1, -1], value: () => 1 });
    expect(await failure(makeCog(params({ sources: [rotated] })))).toBe(`'${rotated}' has a rotated geotransform; the pipeline needs north-up rasters (warp it first, e.g. gdalwarp)`);
  });
});

describe('cog: bands', () => {
  it('keeps the --bands in their order, named by description else band_<n>', async () => {
    const src = writeRaster(join(dir, 'multi.tif'), {
      width: 600, height: 550, bands: 3, type: 'UInt16', nodata: 0, geoTransform: [0, 10, 0, 5500, 0, -10], srs: 'EPSG:32633',
      descriptions: ['red', '', 'nir'], value: (x, y, b) => b * 1000 + ((x + y) % 100) + 1,
    });
    const p = params({ sources: [src], bands: [3, 2] });
    const info = await makeCog(p);
    expect(info.bands).toEqual([{ band: 1, name: 'nir', dataType: 'UInt16' }, { band: 2, name: 'band_2', dataType: 'UInt16' }]);
    expect(info.crs).toBe('EPSG:32633');
    const g = gdalInfo(p.out);
    expect(g.bands).toHaveLength(2);
    expect(g.bands[0]!.description).toBe('nir');
    expect(read(p.out, 1, 500, 500, 3, 1)).toEqual([3001, 3002, 3003]);
    expect(read(p.out, 2, 500, 500, 3, 1)).toEqual([2001, 2002, 2003]);
    expect((await validateCog(p.out)).valid).toBe(true);
    const all = await makeCog(params({ sources: [src] }));
    expect(all.bands.map((b) => b.name)).toEqual(['red', 'band_2', 'nir']);
    expect(await failure(makeCog(params({ sources: [src], bands: [4] })))).toBe(`--bands 4: '${src}' has only 3 band(s)`);
  });
});

describe('cog: inputs that already are COGs, and bad inputs', () => {
  it('copies a valid COG byte for byte (and rewrites it when bands or nodata change)', async () => {
    const src = writeRaster(join(dir, 'already.tif'), {
      width: 1100, height: 700, driver: 'COG', creationOptions: ['COMPRESS=DEFLATE', 'BLOCKSIZE=256'], nodata: -1, geoTransform: [0, 0.01, 0, 7, 0, -0.01], value: (x, y) => x + y,
    });
    expect((await validateCog(src)).valid).toBe(true);
    const p = params({ sources: [src], nodata: [-1] });
    const info = await makeCog(p);
    expect(info).toMatchObject({ copied: true, width: 1100, height: 700, nodata: -1, nodataCollapsed: [], bytes: statSync(src).size, overviews: 3 });
    expect(readFileSync(p.out).equals(readFileSync(src))).toBe(true);
    expect(readInfo(p.info).copied).toBe(true);

    const rewritten = await makeCog(params({ sources: [src], nodata: [-1, 5] }));
    expect(rewritten).toMatchObject({ copied: false, nodata: -1, nodataCollapsed: [5] });
  });

  it('rejects a truncated TIFF and garbage bytes with one line, writing nothing', async () => {
    const good = writeRaster(join(dir, 'bad', 'good.tif'), { width: 500, height: 400, geoTransform: [0, 1, 0, 400, 0, -1], value: (x) => x });
    const truncated = join(dir, 'bad', 'truncated.tif');
    writeFileSync(truncated, readFileSync(good).subarray(0, 20_000));
    const garbage = join(dir, 'bad', 'garbage.tif');
    writeFileSync(garbage, Buffer.from('not a tiff, just text\n'.repeat(100)));
    const p = params({ sources: [truncated] });
    expect(await failure(makeCog(p))).toMatch(new RegExp(`^'${truncated}' is a corrupt TIFF: the strip data of the main image extends to byte \\d+, past the end of the file \\(20000 bytes\\): truncated\\?$`));
    expect(existsSync(p.out) || existsSync(p.info)).toBe(false);
    const q = params({ sources: [garbage] });
    expect(await failure(makeCog(q))).toBe(`cannot open '${garbage}' as a raster: \`${garbage}' not recognized as a supported file format.`);
    expect(existsSync(q.out) || existsSync(q.info)).toBe(false);
    expect(await failure(makeCog(params({ sources: [join(dir, 'bad', 'missing.tif')] })))).toBe(`'${join(dir, 'bad', 'missing.tif')}': no such file or directory`);
  });
  it('rejects a vector file and a TIFF with corrupt tile data, naming the source and GDAL\'s reason', async () => {
    const geojson = join(dir, 'bad', 'points.geojson');
    mkdirSync(join(dir, 'bad'), { recursive: true });
    writeFileSync(geojson, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: [1, 2] } }] }));
    expect(await failure(makeCog(params({ sources: [geojson] })))).toBe(`'${geojson}' is not a raster (driver GeoJSON, no bands)`);
    const good = writeRaster(join(dir, 'bad', 'deflate.tif'), {
      width: 512, height: 512, geoTransform: [0, 1, 0, 512, 0, -1], value: (x, y) => Math.sin(x * y),
      creationOptions: ['TILED=YES', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256', 'COMPRESS=DEFLATE'],
    });
    const bytes = readFileSync(good);
    const check = await validateCog(good);
    bytes.fill(0x33, check.dataOffsets[0]!, check.dataOffsets[0]! + 200); // garbage in the first tile's DEFLATE stream
    const broken = join(dir, 'bad', 'broken-tile.tif');
    writeFileSync(broken, bytes);
    const p = params({ sources: [broken] });
    const message = await failure(makeCog(p));
    expect(message).toMatch(new RegExp(`^cannot write the COG from '${broken}': .*${broken}.*(IReadBlock|TIFFReadEncodedTile|Decoding error)`));
    expect(existsSync(p.out) || existsSync(p.info)).toBe(false);
  });
});

describe('cog: NaN nodata', () => {
  it('keeps NaN as the COG nodata (null in the info JSON) and collapses --nodata values into it', async () => {
    const src = writeRaster(join(dir, 'nan.tif'), { width: 50, height: 40, nodata: NaN, geoTransform: [0, 1, 0, 40, 0, -1], value: (x) => (x === 0 ? NaN : x === 1 ? -9999 : x) });
    const p = params({ sources: [src], nodata: [-9999] });
    const info = await makeCog(p);
    expect(info).toMatchObject({ nodata: null, nodataCollapsed: [-9999] });
    expect(readFileSync(p.info, 'utf8')).toContain('"nodata": null');
    const ds = gdal.open(p.out);
    expect(Number.isNaN(ds.bands.get(1).noDataValue)).toBe(true);
    ds.close();
    const row = read(p.out, 1, 0, 7, 4, 1);
    expect(Number.isNaN(row[0]) && Number.isNaN(row[1])).toBe(true);
    expect(row.slice(2)).toEqual([2, 3]);
  });
});

describe('validateCog', () => {
  it('rejects a striped GeoTIFF and a tiled one without overviews, naming the problem', async () => {
    const value = (x: number, y: number) => x * y;
    const gt: [number, number, number, number, number, number] = [0, 1, 0, 800, 0, -1];
    const striped = writeRaster(join(dir, 'v', 'striped.tif'), { width: 1000, height: 800, geoTransform: gt, value });
    const tiled = writeRaster(join(dir, 'v', 'tiled.tif'), { width: 1000, height: 800, geoTransform: gt, value, creationOptions: ['TILED=YES', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256', 'COMPRESS=DEFLATE'] });
    const s = await validateCog(striped);
    expect(s.valid).toBe(false);
    expect(s.tiled).toBe(false);
    expect(s.errors).toContain('the main image (1000×800) is not tiled: stored in strips of 2 rows');
    expect(s.errors).toContain('no internal overviews, although the image (1000×800) is larger than one tile (512×512)');
    const t = await validateCog(tiled);
    expect(t).toMatchObject({ valid: false, tiled: true, blockWidth: 256, compression: 'DEFLATE', overviews: [] });
    expect(t.errors).toEqual(['no internal overviews, although the image (1000×800) is larger than one tile (256×256)']);
    expect(t.warnings).toContain("no GDAL structural metadata (LAYOUT=IFDS_BEFORE_DATA) at the start of the file: not written by GDAL's COG driver");
  });

  it('rejects a COG edited in place (overviews appended after the data) and a truncated COG', async () => {
    const cog = writeRaster(join(dir, 'v', 'cog.tif'), { width: 1100, height: 900, driver: 'COG', geoTransform: [0, 1, 0, 900, 0, -1], value: (x, y) => (x ^ y) & 255 });
    expect((await validateCog(cog)).valid).toBe(true);
    const edited = join(dir, 'v', 'edited.tif');
    writeFileSync(edited, readFileSync(cog));
    const ds = gdal.open(edited, 'r+');
    gdal.quiet();
    ds.buildOverviews('AVERAGE', [2, 4, 8]);
    ds.close();
    const e = await validateCog(edited);
    expect(e.valid).toBe(false);
    expect(e.errors[0]).toBe('KNOWN_INCOMPATIBLE_EDITION=YES: the file was modified after it was written as a COG, its layout is no longer guaranteed');
    expect(e.errors.some((m) => /^the IFD of overview 2 \(byte \d+\) lies after the start of the tile data/.test(m))).toBe(true);
    const cut = join(dir, 'v', 'cut.tif');
    const bytes = readFileSync(cog);
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    const c = await validateCog(cut);
    expect(c.valid).toBe(false);
    expect(c.errors.some((m) => /^the tile data of the main image extends to byte \d+, past the end of the file/.test(m))).toBe(true);
    const notTiff = join(dir, 'v', 'text.tif');
    writeFileSync(notTiff, 'hello world');
    expect((await validateCog(notTiff)).errors).toEqual(['not a readable TIFF: bad byte-order mark "he" (expected \'II\' or \'MM\')']);
  });

  it('reads BigTIFF headers', async () => {
    const big = writeRaster(join(dir, 'v', 'big.tif'), { width: 600, height: 600, driver: 'COG', creationOptions: ['BIGTIFF=YES'], geoTransform: [0, 1, 0, 600, 0, -1], value: (x) => x });
    const r = await validateCog(big);
    expect(r).toMatchObject({ valid: true, bigtiff: true, width: 600, height: 600, overviews: [{ width: 300, height: 300 }] });
    expect(r.ifdOffsets[0]).toBeGreaterThan(16);
  });
});

describe('bounds4326', () => {
  const srs = (s: string) => gdal.SpatialReference.fromUserInput(s);
  const round = (b: number[]) => b.map((v) => Math.round(v * 1e6) / 1e6);

  it('lon/lat rasters, including ones past ±180° (west > east)', () => {
    expect(round(footprintBounds4326(srs('EPSG:4326'), [-10, 0.5, 0, 50, 0, -0.5], 40, 20))).toEqual([-10, 40, 10, 50]);
    expect(round(footprintBounds4326(srs('EPSG:4326'), [170, 0.5, 0, 10, 0, -0.5], 40, 20))).toEqual([170, 0, -170, 10]);
    expect(round(footprintBounds4326(srs('EPSG:4326'), [-190, 0.5, 0, 10, 0, -0.5], 40, 20))).toEqual([170, 0, -170, 10]);
    expect(round(footprintBounds4326(srs('EPSG:4326'), [0, 1, 0, 90, 0, -1], 360, 180))).toEqual([-180, -90, 180, 90]);
    expect(round(footprintBounds4326(srs('EPSG:4326'), [-180, 1, 0, 90, 0, -1], 360, 180))).toEqual([-180, -90, 180, 90]);
  });

  it('projected rasters: across the antimeridian, and around a pole', () => {
    // Pacific-centred Mercator (EPSG:3832, central meridian 150°E): x from 2,000 km to 5,000 km east of it.
    const [w, s, e, n] = footprintBounds4326(srs('EPSG:3832'), [2_000_000, 1000, 0, 1_000_000, 0, -1000], 3000, 1000);
    expect(w).toBeGreaterThan(167);
    expect(w).toBeLessThan(169);
    expect(e).toBeGreaterThan(-166);
    expect(e).toBeLessThan(-164);
    expect(s).toBeCloseTo(0, 6);
    expect(n).toBeGreaterThan(8.9);
    // Polar stereographic (EPSG:3413) square around the North Pole.
    const polar = footprintBounds4326(srs('EPSG:3413'), [-1_000_000, 10_000, 0, 1_000_000, 0, -10_000], 200, 200);
    expect(polar[0]).toBe(-180);
    expect(polar[2]).toBe(180);
    expect(polar[3]).toBe(90);
    // The corners are √2·1000 km from the pole: about 77°N.
    expect(polar[1]).toBeGreaterThan(76.5);
    expect(polar[1]).toBeLessThan(77.5);
  });

  it('are in the info of a COG built from a lon/lat raster crossing 180°', async () => {
    const src = writeRaster(join(dir, 'am.tif'), { width: 200, height: 100, geoTransform: [175, 0.05, 0, -15, 0, -0.05], value: () => 1 });
    const info = await makeCog(params({ sources: [src] }));
    expect(round(info.bounds4326)).toEqual([175, -20, -175, -15]);
  });
});

describe('cog: storage', () => {
  it('reads and writes s3:// URLs in the directory store (CNG_STORAGE_DIR)', async () => {
    const store = join(dir, 'store');
    writeRaster(join(store, 'public-test', 'raw', 'in.tif'), { width: 700, height: 600, nodata: NODATA, geoTransform: [-100, 0.01, 0, 45, 0, -0.01], value: field });
    const env = { ...process.env, CNG_STORAGE_DIR: store };
    const p: CogParams = { sources: ['s3://public-test/raw/in.tif'], out: 's3://public-test/cog/out.tif', info: 's3://public-test/_work/cog.json', valueKind: 'continuous', nodata: [] };
    const info = await makeCog(p, env);
    const local = join(store, 'public-test', 'cog', 'out.tif');
    expect(info).toMatchObject({ width: 700, height: 600, copied: false, sources: ['s3://public-test/raw/in.tif'], bytes: statSync(local).size });
    expect(JSON.parse(await new Storage(env).readText(p.info))).toEqual(info);
    expect((await validateCog('s3://public-test/cog/out.tif', { env })).valid).toBe(true);
    expect(read(local, 1, 300, 200, 5, 1)).toEqual(read(join(store, 'public-test', 'raw', 'in.tif'), 1, 300, 200, 5, 1));
    // The COG as a source is copied.
    const again = await makeCog({ ...p, sources: ['s3://public-test/cog/out.tif'], out: 's3://public-test/cog/copy.tif' }, env);
    expect(again.copied).toBe(true);
    expect(readFileSync(join(store, 'public-test', 'cog', 'copy.tif')).equals(readFileSync(local))).toBe(true);
  });

  it('reads through /vsis3/ and range-validates on a real S3 server (CLI run)', async () => {
    const s3 = inject('s3');
    const { bucket, env, client, storage } = await s3TestBucket(s3, 'test-cog');
    const a = writeRaster(join(dir, 's3', 'a.tif'), { width: 600, height: 520, type: 'Int16', nodata: -1, geoTransform: [0, 0.01, 0, 10, 0, -0.01], value: (x, y) => (x + y) % 300 });
    const b = writeRaster(join(dir, 's3', 'b.tif'), { width: 600, height: 520, type: 'Int16', nodata: -2, geoTransform: [6, 0.01, 0, 10, 0, -0.01], value: (x) => (x % 5 === 0 ? -2 : 7) });
    await storage.upload(a, `s3://${bucket}/raw/a.tif`);
    await storage.upload(b, `s3://${bucket}/raw/b.tif`);
    const r = spawnSync(process.execPath, [
      join(ROOT, 'bin/cng.js'), 'worker', 'cog', '--source', `s3://${bucket}/raw/a.tif,s3://${bucket}/raw/b.tif`, '--out', `s3://${bucket}/cog/ab.tif`,
      '--info', `s3://${bucket}/_work/ab.json`, '--value-kind', 'count',
    ], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env, CNG_STORAGE_DIR: '' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/cng-worker cog: wrote s3:\/\/.*\/cog\/ab\.tif \(1200×520, 1 band\(s\) Int16, 2 overviews, .*nodata -1, collapsed -2\)/);
    const check = await validateCog(`s3://${bucket}/cog/ab.tif`, { env });
    expect(check).toMatchObject({ valid: true, width: 1200, height: 520, compression: 'DEFLATE', predictor: 2 });
    const info = JSON.parse(await storage.readText(`s3://${bucket}/_work/ab.json`)) as CogInfo;
    expect(info).toMatchObject({ valueKind: 'count', nodata: -1, nodataCollapsed: [-2], width: 1200, bytes: check.bytes });
    const local = join(dir, 's3', 'ab.tif');
    await storage.download(`s3://${bucket}/cog/ab.tif`, local);
    expect(read(local, 1, 598, 3, 8, 1)).toEqual([(598 + 3) % 300, (599 + 3) % 300, -1, 7, 7, 7, 7, -1]);
  });
});

describe('cog: http(s) sources', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    // A static file server with HEAD and single Range requests, as /vsicurl/ and our range reader need.
    server = createServer((req, res) => {
      const file = join(dir, 'www', decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      if (!existsSync(file) || !statSync(file).isFile()) return res.writeHead(404).end();
      const data = readFileSync(file);
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (!m) return res.writeHead(200, { 'Content-Length': data.length, 'Accept-Ranges': 'bytes' }).end(req.method === 'HEAD' ? undefined : data);
      const start = Number(m[1]);
      const end = Math.min(data.length - 1, m[2] ? Number(m[2]) : data.length - 1);
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${data.length}`, 'Content-Length': end - start + 1, 'Accept-Ranges': 'bytes' });
      res.end(req.method === 'HEAD' ? undefined : data.subarray(start, end + 1));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  it('validates by range requests, copies a remote COG and converts a remote GeoTIFF through /vsicurl/', async () => {
    const cog = writeRaster(join(dir, 'www', 'c.tif'), { width: 900, height: 700, driver: 'COG', creationOptions: ['COMPRESS=ZSTD'], nodata: 0, type: 'UInt16', geoTransform: [0, 1, 0, 700, 0, -1], value: (x, y) => 1 + ((x * y) % 1000) });
    writeRaster(join(dir, 'www', 'g.tif'), { width: 300, height: 200, type: 'Byte', geoTransform: [0, 1, 0, 200, 0, -1], value: (x) => x % 256 });
    const check = await validateCog(`${base}/c.tif`);
    expect(check).toMatchObject({ valid: true, compression: 'ZSTD', bytes: statSync(cog).size, width: 900 });
    const p = params({ sources: [`${base}/c.tif`] });
    expect(await makeCog(p)).toMatchObject({ copied: true, nodata: 0, width: 900, height: 700 });
    expect(readFileSync(p.out).equals(readFileSync(cog))).toBe(true);
    const q = params({ sources: [`/vsicurl/${base}/g.tif`], valueKind: 'categorical' });
    expect(await makeCog(q)).toMatchObject({ copied: false, width: 300, height: 200, nodata: null });
    expect(read(q.out, 1, 250, 10, 8, 1)).toEqual([250, 251, 252, 253, 254, 255, 0, 1]);
    expect(await failure(makeCog(params({ sources: [`${base}/missing.tif`] })))).toMatch(new RegExp(`^cannot open '${base}/missing.tif' as a raster: `));
  });
});

describe('cog: CLI', () => {
  it('exit 0 on success, 1 with one stderr line for a bad source, 2 for a usage error', () => {
    const src = writeRaster(join(dir, 'cli', 'in.tif'), { width: 100, height: 80, type: 'Byte', geoTransform: [0, 1, 0, 80, 0, -1], value: (x) => x % 3 });
    const out = join(dir, 'cli', 'out.tif');
    const info = join(dir, 'cli', 'info.json');
    const ok = cng(['worker', 'cog', '--source', src, '--out', out, '--info', info, '--value-kind', 'categorical']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readInfo(info)).toMatchObject({ valueKind: 'categorical', width: 100, height: 80, nodata: null, overviews: 0 });
    const missing = join(dir, 'cli', 'missing.tif');
    const bad = cng(['worker', 'cog', '--source', missing, '--out', out, '--info', info, '--value-kind', 'categorical']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`cng worker cog: '${missing}': no such file or directory\n`);
    const usage = cng(['worker', 'cog', '--source', src, '--info', info, '--value-kind', 'categorical']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--out is required');
    const kind = cng(['worker', 'cog', '--source', src, '--out', out, '--info', info, '--value-kind', 'median']);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain("--value-kind must be one of continuous, count, categorical, got 'median'");
  });

  it('parses options strictly', () => {
    const base = { source: 'a.tif, b.tif', out: 'o.tif', info: 'i.json', 'value-kind': 'count' };
    expect(parseCogOptions({ ...base, bands: '3,1', nodata: '-9999, nan,0' })).toMatchObject({ sources: ['a.tif', 'b.tif'], bands: [3, 1], nodata: [-9999, NaN, 0] });
    expect(() => parseCogOptions({ ...base, bands: '0' })).toThrow('--bands must be comma-separated band numbers from 1');
    expect(() => parseCogOptions({ ...base, nodata: 'x' })).toThrow('--nodata must be comma-separated numbers');
  });
});
