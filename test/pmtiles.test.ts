/**
 * The pmtiles stage end to end with the real parts: a GeoParquet written by DuckDB, GDAL's MVT
 * driver, our PMTiles v3 writer, and the archive read back with the `pmtiles` npm reader; tiles
 * decoded with a minimal MVT (protobuf) decoder below.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { PMTiles, zxyToTileId as refTileId, tileIdToZxy as refZxy, type Source, type RangeResponse } from 'pmtiles';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError, UsageError } from '../worker/core/errors.ts';
import { buildPmtiles, centerOf, mergeTiles } from '../worker/vector/tiles-merge.ts';
import { tilesStage, tileUnit } from '../worker/vector/tiles.ts';
import { PmtilesWriter, tileIdToZxy, zxyToTileId } from '../worker/io/pmtiles-writer.ts';
import { Storage } from '../worker/io/storage.ts';
import { ROOT } from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// Reading archives and tiles
// ---------------------------------------------------------------------------------------------

/** A pmtiles Source over a local file (range reads with a file handle). */
class LocalSource implements Source {
  constructor(private readonly path: string) {}
  getKey(): string {
    return this.path;
  }
  async getBytes(offset: number, length: number): Promise<RangeResponse> {
    const fh = await open(this.path, 'r');
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      const data = buf.buffer.slice(buf.byteOffset, buf.byteOffset + bytesRead) as ArrayBuffer;
      return { data };
    } finally {
      await fh.close();
    }
  }
}

const archive = (path: string) => new PMTiles(new LocalSource(path));

/** Protobuf reader: just enough for the MVT schema. */
class Pbf {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  }
  /** Calls `f(field, wireType)` for each field; `f` must consume the value or return false to skip it. */
  fields(f: (field: number, wire: number) => boolean): void {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (f(field, wire)) continue;
      if (wire === 0) this.varint();
      else if (wire === 1) this.pos += 8;
      else if (wire === 2) this.pos += this.varint();
      else if (wire === 5) this.pos += 4;
      else throw new Error(`wire type ${wire}`);
    }
  }
  sub(): Pbf {
    const len = this.varint();
    const p = new Pbf(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return p;
  }
  string(): string {
    const len = this.varint();
    const s = Buffer.from(this.buf.subarray(this.pos, this.pos + len)).toString('utf8');
    this.pos += len;
    return s;
  }
  packed(): number[] {
    const p = this.sub();
    const out: number[] = [];
    while (p.pos < p.buf.length) out.push(p.varint());
    return out;
  }
}

type MvtValue = string | number | boolean;
interface MvtFeature {
  id?: number;
  type: number;
  properties: Record<string, MvtValue>;
  /** Bounding box of the geometry in tile units [minX, minY, maxX, maxY]. */
  bbox: [number, number, number, number];
}
interface MvtLayer {
  name: string;
  extent: number;
  features: MvtFeature[];
}

const zigzag = (n: number) => (n % 2 === 1 ? -(n + 1) / 2 : n / 2);

function decodeValue(p: Pbf): MvtValue {
  let v: MvtValue = '';
  p.fields((f, w) => {
    if (f === 1) v = p.string();
    else if (f === 2 && w === 5) {
      v = Buffer.from(p.buf.subarray(p.pos, p.pos + 4)).readFloatLE(0);
      p.pos += 4;
    } else if (f === 3 && w === 1) {
      v = Buffer.from(p.buf.subarray(p.pos, p.pos + 8)).readDoubleLE(0);
      p.pos += 8;
    } else if (f === 4 || f === 5) v = p.varint(); // (non-negative int64 only here)
    else if (f === 6) v = zigzag(p.varint());
    else if (f === 7) v = p.varint() !== 0;
    else return false;
    return true;
  });
  return v;
}

/** Decodes an MVT tile (gzipped or not) into layers, features, properties and geometry boxes. */
function decodeMvt(data: Uint8Array): MvtLayer[] {
  const raw = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  const tile = new Pbf(raw);
  const layers: MvtLayer[] = [];
  tile.fields((f) => {
    if (f !== 3) return false;
    const l = tile.sub();
    const layer: MvtLayer = { name: '', extent: 4096, features: [] };
    const keys: string[] = [];
    const values: MvtValue[] = [];
    const raws: { id?: number; type: number; tags: number[]; geometry: number[] }[] = [];
    l.fields((lf) => {
      if (lf === 1) layer.name = l.string();
      else if (lf === 5) layer.extent = l.varint();
      else if (lf === 3) keys.push(l.string());
      else if (lf === 4) values.push(decodeValue(l.sub()));
      else if (lf === 2) {
        const fp = l.sub();
        const feat: (typeof raws)[number] = { type: 0, tags: [], geometry: [] };
        fp.fields((ff) => {
          if (ff === 1) feat.id = fp.varint();
          else if (ff === 2) feat.tags = fp.packed();
          else if (ff === 3) feat.type = fp.varint();
          else if (ff === 4) feat.geometry = fp.packed();
          else return false;
          return true;
        });
        raws.push(feat);
      } else return false;
      return true;
    });
    for (const r of raws) {
      const properties: Record<string, MvtValue> = {};
      for (let i = 0; i + 1 < r.tags.length; i += 2) properties[keys[r.tags[i]]] = values[r.tags[i + 1]];
      let x = 0, y = 0;
      const bbox: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
      for (let i = 0; i < r.geometry.length; ) {
        const cmd = r.geometry[i++];
        const id = cmd & 7;
        const count = cmd >> 3;
        if (id === 7) continue;
        for (let k = 0; k < count; k++) {
          x += zigzag(r.geometry[i++]);
          y += zigzag(r.geometry[i++]);
          bbox[0] = Math.min(bbox[0], x);
          bbox[1] = Math.min(bbox[1], y);
          bbox[2] = Math.max(bbox[2], x);
          bbox[3] = Math.max(bbox[3], y);
        }
      }
      layer.features.push({ id: r.id, type: r.type, properties, bbox });
    }
    layers.push(layer);
    return true;
  });
  return layers;
}

/** The z/x/y tile containing lon/lat (Web Mercator). */
function tileOf(lon: number, lat: number, z: number): [number, number] {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  const x = Math.floor(((lon + 180) / 360) * n);
  const y = Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n);
  return [Math.min(n - 1, x), Math.min(n - 1, y)];
}

async function tileLayers(path: string, z: number, x: number, y: number): Promise<MvtLayer[] | undefined> {
  const t = await archive(path).getZxy(z, x, y);
  return t ? decodeMvt(new Uint8Array(t.data)) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Test GeoParquet (DuckDB, like convert writes it)
// ---------------------------------------------------------------------------------------------

interface Row {
  fid: number;
  name: string;
  acres: number;
  open: boolean;
  wkt: string | null;
}

const rect = (w: number, s: number, e: number, n: number) => `((${w} ${s},${e} ${s},${e} ${n},${w} ${n},${w} ${s}))`;

const ROWS: Row[] = [
  { fid: 1, name: 'Yosemite-ish', acres: 747956.5, open: true, wkt: `MULTIPOLYGON(${rect(-119.9, 37.5, -119.3, 38.0)})` },
  { fid: 2, name: 'Santa Monica Mountains', acres: 156670, open: false, wkt: `MULTIPOLYGON(${rect(-118.9, 34.0, -118.5, 34.2)})` },
  { fid: 3, name: 'Nowhere (null geometry)', acres: 0, open: true, wkt: null },
  { fid: 4, name: 'Joshua Tree-ish', acres: 795156, open: true, wkt: `MULTIPOLYGON(${rect(-116.4, 33.7, -115.5, 34.1)})` },
  // Straddles the antimeridian: already split at ±180 into two parts, as convert writes it.
  { fid: 5, name: 'Fiji-ish', acres: 1234, open: false, wkt: `MULTIPOLYGON(${rect(179.5, -17, 180, -16.5)},${rect(-180, -17, -179.5, -16.5)})` },
];

async function writeGeoParquet(path: string, rows: Row[]): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run('CREATE TABLE t (_cng_fid BIGINT, unit_name VARCHAR, gis_acres DOUBLE, open_access BOOLEAN, wkb BLOB, xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE)');
    const ap = await c.createAppender('t');
    for (const r of rows) {
      ap.appendBigInt(BigInt(r.fid));
      ap.appendVarchar(r.name);
      ap.appendDouble(r.acres);
      ap.appendBoolean(r.open);
      if (r.wkt) {
        const g = gdal.Geometry.fromWKT(r.wkt);
        const env = g.getEnvelope();
        ap.appendBlob(new Uint8Array(g.toWKB()));
        for (const v of [env.minX, env.minY, env.maxX, env.maxY]) ap.appendDouble(v);
      } else {
        for (let i = 0; i < 5; i++) ap.appendNull();
      }
      ap.endRow();
    }
    ap.closeSync();
    await c.run(`COPY (
        SELECT _cng_fid, unit_name, gis_acres, open_access, ST_GeomFromWKB(wkb) AS geometry,
               CASE WHEN wkb IS NULL THEN NULL ELSE {'xmin': xmin, 'ymin': ymin, 'xmax': xmax, 'ymax': ymax} END AS bbox
        FROM t ORDER BY _cng_fid)
      TO '${path}' (FORMAT parquet, COMPRESSION zstd)`);
  } finally {
    c.closeSync();
  }
}

// ---------------------------------------------------------------------------------------------

let dir: string;
let input: string;
let output: string;
let result: Awaited<ReturnType<typeof buildPmtiles>>;
const MAX_ZOOM = 8;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cng-pmtiles-test-'));
  input = join(dir, 'fee.parquet');
  output = join(dir, 'out', 'fee.pmtiles');
  await writeGeoParquet(input, ROWS);
  result = await buildPmtiles({ input, out: output, layerName: 'fee', minZoom: 0, maxZoom: MAX_ZOOM, units: 3, splitZoom: 4 });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('pmtiles stage', () => {
  it('reports what it read and wrote', () => {
    expect(result.features).toBe(4);
    expect(result.units).toBe(3);
    expect(result.nullGeometries).toBe(1);
    expect(result.archive.addressedTiles).toBeGreaterThan(MAX_ZOOM);
    expect(existsSync(output)).toBe(true);
    // no staging files left next to the output
    expect(readFileSync(output).subarray(0, 7).toString('ascii')).toBe('PMTiles');
  });

  it('writes a v3 header: MVT, gzip, clustered, zooms, bounds of the data and a centre inside them', async () => {
    const h = await archive(output).getHeader();
    expect(h.specVersion).toBe(3);
    expect(h.tileType).toBe(1); // MVT
    expect(h.tileCompression).toBe(2); // gzip
    expect(h.internalCompression).toBe(2);
    expect(h.clustered).toBe(true);
    expect(h.minZoom).toBe(0);
    expect(h.maxZoom).toBe(MAX_ZOOM);
    // The antimeridian feature makes the extent span the whole width: -180..180, not a band.
    expect(h.minLon).toBe(-180);
    expect(h.maxLon).toBe(180);
    expect(h.minLat).toBeCloseTo(-17, 5);
    expect(h.maxLat).toBeCloseTo(38, 5);
    expect(h.centerLon).toBeGreaterThanOrEqual(h.minLon);
    expect(h.centerLon).toBeLessThanOrEqual(h.maxLon);
    expect(h.centerLat).toBeGreaterThanOrEqual(h.minLat);
    expect(h.centerLat).toBeLessThanOrEqual(h.maxLat);
    expect(h.centerZoom).toBeGreaterThanOrEqual(h.minZoom);
    expect(h.centerZoom).toBeLessThanOrEqual(h.maxZoom);
    expect(h.numTileContents).toBeLessThanOrEqual(h.numAddressedTiles);
    expect(h.rootDirectoryOffset).toBe(127);
    expect(h.rootDirectoryOffset + h.rootDirectoryLength).toBeLessThanOrEqual(16384);
    expect(h.tileDataOffset + (h.tileDataLength ?? NaN)).toBe(readFileSync(output).length);
  });

  it('writes metadata with vector_layers for the layer name (fields from the GeoParquet)', async () => {
    const m = (await archive(output).getMetadata()) as { vector_layers: { id: string; fields: Record<string, string>; minzoom: number; maxzoom: number }[] };
    expect(m.vector_layers).toHaveLength(1);
    expect(m.vector_layers[0].id).toBe('fee');
    expect(m.vector_layers[0].minzoom).toBe(0);
    expect(m.vector_layers[0].maxzoom).toBe(MAX_ZOOM);
    expect(m.vector_layers[0].fields).toMatchObject({ _cng_fid: 'Number', unit_name: 'String', gis_acres: 'Number', open_access: 'Boolean' });
    expect(m.vector_layers[0].fields).not.toHaveProperty('bbox');
    expect(m.vector_layers[0].fields).not.toHaveProperty('geometry');
  });

  it('has the polygon with its attributes in the tile covering it, at every zoom', async () => {
    for (const z of [0, 4, MAX_ZOOM]) {
      const [x, y] = tileOf(-119.6, 37.75, z);
      const layers = await tileLayers(output, z, x, y);
      expect(layers, `tile ${z}/${x}/${y}`).toBeDefined();
      expect(layers!.map((l) => l.name)).toEqual(['fee']);
      const f = layers![0].features.find((ft) => ft.properties._cng_fid === 1);
      expect(f, `feature 1 in ${z}/${x}/${y}`).toBeDefined();
      expect(f!.type).toBe(3); // polygon
      expect(f!.properties).toMatchObject({ unit_name: 'Yosemite-ish', gis_acres: 747956.5, open_access: true });
    }
    // A z8 tile with Joshua Tree only; Santa Monica's false boolean survives.
    const [x, y] = tileOf(-118.7, 34.1, MAX_ZOOM);
    const sm = (await tileLayers(output, MAX_ZOOM, x, y))![0].features.find((f) => f.properties._cng_fid === 2);
    expect(sm?.properties).toMatchObject({ unit_name: 'Santa Monica Mountains', open_access: false });
  });

  it('has no tile where there is no data', async () => {
    const [x, y] = tileOf(-100, 45, MAX_ZOOM); // South Dakota
    expect(await archive(output).getZxy(MAX_ZOOM, x, y)).toBeUndefined();
  });

  it('puts the antimeridian feature at both edges: x = 0 and x = 2^z - 1', async () => {
    for (const z of [1, 5, MAX_ZOOM]) {
      const n = 2 ** z;
      const [, y] = tileOf(-179.9, -16.75, z);
      const west = (await tileLayers(output, z, 0, y))?.[0].features.find((f) => f.properties._cng_fid === 5);
      const east = (await tileLayers(output, z, n - 1, y))?.[0].features.find((f) => f.properties._cng_fid === 5);
      expect(west, `z${z} x=0`).toBeDefined();
      expect(east, `z${z} x=${n - 1}`).toBeDefined();
      expect(west!.properties.unit_name).toBe('Fiji-ish');
      // The west part starts at the tile's left edge, the east part ends at the right edge.
      expect(west!.bbox[0]).toBeLessThanOrEqual(0);
      expect(east!.bbox[2]).toBeGreaterThanOrEqual(4096);
      if (z === MAX_ZOOM) {
        expect(west!.bbox[2]).toBeLessThan(2048);
        expect(east!.bbox[0]).toBeGreaterThan(2048);
      }
    }
  });

  it('runs through the real CLI (exit 0): tiles units, then tiles-merge', async () => {
    const out = join(dir, 'cli', 'fee.pmtiles');
    const parts = join(dir, 'cli', 'parts');
    const worker = (args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'bin/cng-worker.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 50_000 });
    const common = ['--parts', parts, '--layer-name', 'fee', '--max-zoom', '8', '--units', '2'];
    for (const index of ['0', '1']) {
      const r = worker(['tiles', '--input', input, ...common, '--split-zoom', '5', '--index', index]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`cng-worker tiles: unit ${index}: \\d+ tiles`));
    }
    const r = worker(['tiles-merge', ...common, '--out', out, '--report', join(dir, 'cli', 'tiles.json')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/cng-worker tiles-merge: .*tiles packed/);
    expect(readdirSync(parts).sort()).toEqual(['part-000000.idx', 'part-000000.json', 'part-000000.tiles', 'part-000001.idx', 'part-000001.json', 'part-000001.tiles']);
    const h = await archive(out).getHeader();
    expect([h.specVersion, h.minZoom, h.maxZoom, h.tileType]).toEqual([3, 0, 8, 1]);
    const [x, y] = tileOf(-116, 33.9, 8);
    const f = (await tileLayers(out, 8, x, y))![0].features.find((ft) => ft.properties._cng_fid === 4);
    expect(f?.properties.unit_name).toBe('Joshua Tree-ish');
    const report = JSON.parse(readFileSync(join(dir, 'cli', 'tiles.json'), 'utf8'));
    expect(report).toMatchObject({ layer: 'fee', features: 4, nullGeometries: 1, units: 2 });
    expect(report.zooms.map((z: { zoom: number }) => z.zoom)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('fails naming the units whose parts are missing', async () => {
    const parts = join(dir, 'missing-parts');
    await tileUnit({ input, parts, layerName: 'fee', minZoom: 0, maxZoom: 3, units: 3, index: 1 });
    const p = mergeTiles({ parts, units: 3, layerName: 'fee', minZoom: 0, maxZoom: 3, out: join(dir, 'never.pmtiles') });
    await expect(p).rejects.toThrow(/2 of 3 tiles units have no part under .* \(units 0, 2\)/);
  });

  it('reads and writes s3:// URLs through Storage (local object store)', async () => {
    const store = join(dir, 'store');
    mkdirSync(join(store, 'bucket', 'padus'), { recursive: true });
    copyFileSync(input, join(store, 'bucket', 'padus', 'fee.parquet'));
    const storage = new Storage({ CNG_STORAGE_DIR: store });
    await buildPmtiles({ input: 's3://bucket/padus/fee.parquet', out: 's3://bucket/padus/fee.pmtiles', layerName: 'fee', maxZoom: 3, storage });
    const h = await archive(join(store, 'bucket', 'padus', 'fee.pmtiles')).getHeader();
    expect([h.minZoom, h.maxZoom]).toEqual([0, 3]);
    expect(readdirSync(join(store, 'bucket', 'padus')).sort()).toEqual(['fee.parquet', 'fee.pmtiles']);
  });

  it('clips polar geometries to Web Mercator and keeps the bounds inside ±85.0511°', async () => {
    const polar = join(dir, 'polar.parquet');
    await writeGeoParquet(polar, [
      { fid: 1, name: 'Arctic', acres: 1, open: true, wkt: `MULTIPOLYGON(${rect(-30, 80, -20, 89)})` },
      { fid: 2, name: 'Pole cap', acres: 1, open: true, wkt: `MULTIPOLYGON(${rect(-10, 86, 10, 90)})` },
    ]);
    const out = join(dir, 'polar.pmtiles');
    const r = await buildPmtiles({ input: polar, out, layerName: 'polar', maxZoom: 3 });
    expect(r.features).toBe(1); // the cap lies entirely beyond 85.0511° and cannot be tiled
    const h = await archive(out).getHeader();
    expect(h.maxLat).toBeCloseTo(85.0511288, 6);
    expect(h.minLat).toBeCloseTo(80, 6);
    const f = (await tileLayers(out, 3, 3, 0))?.[0].features.find((ft) => ft.properties._cng_fid === 1);
    expect(f?.bbox[1]).toBeLessThanOrEqual(0); // reaches the top edge of the top row
  });

  it('writes a valid archive without tiles for a layer whose rows all lack a geometry', async () => {
    const empty = join(dir, 'empty.parquet');
    await writeGeoParquet(empty, ROWS.map((r) => ({ ...r, wkt: null })));
    const out = join(dir, 'empty.pmtiles');
    const r = await buildPmtiles({ input: empty, out, layerName: 'fee', maxZoom: 4, units: 2 });
    expect(r).toMatchObject({ rows: 5, features: 0, nullGeometries: 5 });
    expect(r.archive.addressedTiles).toBe(0);
    const h = await archive(out).getHeader();
    expect([h.specVersion, h.numAddressedTiles, h.minZoom, h.maxZoom]).toEqual([3, 0, 0, 4]);
    expect(await archive(out).getZxy(0, 0, 0)).toBeUndefined();
    const m = (await archive(out).getMetadata()) as { vector_layers: { id: string; fields: Record<string, string> }[] };
    expect(m.vector_layers[0]).toMatchObject({ id: 'fee', fields: { unit_name: 'String' } });
  });

  it('fails with a CommandError naming a missing input', async () => {
    const missing = join(dir, 'nope.parquet');
    const p = buildPmtiles({ input: missing, out: join(dir, 'nope.pmtiles'), layerName: 'fee' });
    await expect(p).rejects.toBeInstanceOf(CommandError);
    await expect(p).rejects.toThrow(missing);
  });

  it('rejects bad zoom options as usage errors', async () => {
    const unit = { input, parts: join(dir, 'x'), 'layer-name': 'fee', units: '1', index: '0' };
    await expect(tilesStage({ ...unit, 'min-zoom': '9', 'max-zoom': '8' })).rejects.toBeInstanceOf(UsageError);
    await expect(tilesStage({ ...unit, 'max-zoom': 'high' })).rejects.toThrow(/--max-zoom/);
    await expect(tilesStage({ ...unit, strategy: 'drop-all' })).rejects.toThrow(/--strategy must be one of coalesce-densest, drop-densest/);
  });

  it('centres on the data at a zoom where it fits', () => {
    const [lon, lat, z] = centerOf([-120, 37, -119, 38], 0, 14);
    expect(lon).toBe(-119.5);
    expect(lat).toBe(37.5);
    expect(z).toBe(8);
    expect(centerOf([-180, -17, 180, 38], 0, 14)[2]).toBe(0);
    expect(centerOf([10, 10, 10, 10], 2, 12)[2]).toBe(12);
  });
});

// ---------------------------------------------------------------------------------------------
// Units, determinism and the tile budget
// ---------------------------------------------------------------------------------------------

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Every (tile, feature id) of an archive at zoom z. */
async function featuresAtZoom(path: string, z: number): Promise<Map<number, number>> {
  const pm = archive(path);
  const seen = new Map<number, number>();
  const n = 2 ** z;
  for (let x = 0; x < n; x++)
    for (let y = 0; y < n; y++) {
      const t = await pm.getZxy(z, x, y);
      if (!t) continue;
      for (const f of decodeMvt(new Uint8Array(t.data))[0].features) seen.set(Number(f.properties._cng_fid), (seen.get(Number(f.properties._cng_fid)) ?? 0) + 1);
    }
  return seen;
}

describe('tiles units', () => {
  it('gives byte-identical archives for the same input (two builds, same sha256)', async () => {
    const a = join(dir, 'det-a.pmtiles');
    const b = join(dir, 'det-b.pmtiles');
    await buildPmtiles({ input, out: a, layerName: 'fee', maxZoom: 8, units: 3, splitZoom: 4 });
    await buildPmtiles({ input, out: b, layerName: 'fee', maxZoom: 8, units: 3, splitZoom: 4 });
    expect(sha256(a)).toBe(sha256(b));
  });

  it('addresses the same tiles with one unit as with several', async () => {
    const one = join(dir, 'one-unit.pmtiles');
    const r = await buildPmtiles({ input, out: one, layerName: 'fee', maxZoom: MAX_ZOOM, units: 1 });
    expect(r.archive.addressedTiles).toBe(result.archive.addressedTiles);
    expect(r.zooms.map((z) => z.tiles)).toEqual(result.zooms.map((z) => z.tiles));
    expect([...(await featuresAtZoom(one, MAX_ZOOM)).keys()].sort()).toEqual([...(await featuresAtZoom(output, MAX_ZOOM)).keys()].sort());
  });
});

/** A dense layer: `n` overlapping 64-vertex stars (radius alternating r and 0.7 r, r 0.5–2°) with a long name, over 16°×16°. */
async function writeDenseLayer(path: string, n: number): Promise<void> {
  const rows: Row[] = [];
  for (let i = 1; i <= n; i++) {
    const [x, y, r] = [-100 + 16 * ((i * 0.6180339887) % 1), 30 + 16 * ((i * 0.7548776662) % 1), 0.5 + 1.5 * ((i * 0.569840291) % 1)];
    const ring = Array.from({ length: 65 }, (_, k) => `${x + r * (k % 2 ? 0.7 : 1) * Math.cos((-2 * Math.PI * (k % 64)) / 64)} ${y + r * (k % 2 ? 0.7 : 1) * Math.sin((-2 * Math.PI * (k % 64)) / 64)}`);
    rows.push({ fid: i, name: `unit ${i} ${String.fromCharCode(65 + (i % 26)).repeat(40)}`, acres: i, open: i % 2 === 0, wkt: `MULTIPOLYGON(((${ring.join(',')})))` });
  }
  await writeGeoParquet(path, rows);
}

describe('tile budget', () => {
  const N = 12_000;
  const TOP = 6;
  let dense: string;
  beforeAll(async () => {
    dense = join(dir, 'dense.parquet');
    await writeDenseLayer(dense, N);
  });

  it('plain tiling of the dense layer makes z0–z5 tiles over 500 KB', async () => {
    const r = await buildPmtiles({ input: dense, out: join(dir, 'dense-plain.pmtiles'), layerName: 'dense', maxZoom: TOP, units: 2, splitZoom: 3, maxTileBytes: 1e9 });
    for (const z of r.zooms.filter((z) => z.zoom < TOP)) expect(z.largestTileBytes, `z${z.zoom}`).toBeGreaterThan(500_000);
    expect(r.zooms.every((z) => z.dropped === 0 && z.coalesced === 0)).toBe(true);
  });

  for (const strategy of ['coalesce-densest', 'drop-densest'] as const) {
    it(`${strategy}: every tile ≤ 500 KB below the max zoom, counts reported, max zoom keeps every feature`, async () => {
      const out = join(dir, `dense-${strategy}.pmtiles`);
      const report = join(dir, `dense-${strategy}.json`);
      const r = await buildPmtiles({ input: dense, out, layerName: 'dense', maxZoom: TOP, units: 2, splitZoom: 3, strategy, report });
      for (const z of r.zooms.filter((z) => z.zoom < TOP)) {
        expect(z.largestTileBytes, `z${z.zoom}`).toBeLessThanOrEqual(500_000);
        expect(z.dropped + z.coalesced, `z${z.zoom}`).toBeGreaterThan(0);
        expect(z.oversize).toBe(0);
      }
      if (strategy === 'coalesce-densest') expect(r.zooms.some((z) => z.coalesced > 0)).toBe(true);
      else expect(r.zooms.every((z) => z.coalesced === 0)).toBe(true);
      const top = r.zooms.find((z) => z.zoom === TOP)!;
      expect([top.dropped, top.coalesced]).toEqual([0, 0]);
      const atTop = await featuresAtZoom(out, TOP);
      expect(atTop.size).toBe(N);
      // The same figures in tiles.json and in the archive's metadata (like tippecanoe's `strategies`).
      expect(JSON.parse(readFileSync(report, 'utf8')).zooms).toEqual(r.zooms);
      const m = (await archive(out).getMetadata()) as { strategies: { zoom: number; dropped_as_needed: number; coalesced_as_needed: number }[] };
      expect(m.strategies.map((s) => s.dropped_as_needed)).toEqual(r.zooms.map((z) => z.dropped));
      expect(m.strategies.map((s) => s.coalesced_as_needed)).toEqual(r.zooms.map((z) => z.coalesced));
      // Read back: the largest tile in the archive is within the budget.
      const pm = archive(out);
      for (const z of [0, 1, 2])
        for (let x = 0; x < 2 ** z; x++)
          for (let y = 0; y < 2 ** z; y++) {
            const t = await pm.getZxy(z, x, y);
            if (t) expect(gzipSync(Buffer.from(t.data)).length).toBeLessThanOrEqual(520_000);
          }
    }, 120_000);
  }
});

// ---------------------------------------------------------------------------------------------
// The archive writer on its own
// ---------------------------------------------------------------------------------------------

describe('PMTiles writer', () => {
  it('numbers tiles like the reference reader (Hilbert curve per zoom)', () => {
    for (let z = 0; z <= 7; z++)
      for (let x = 0; x < 2 ** z; x++)
        for (let y = 0; y < 2 ** z; y++) {
          const id = zxyToTileId(z, x, y);
          if (id !== refTileId(z, x, y)) expect.fail(`${z}/${x}/${y}: ${id} != ${refTileId(z, x, y)}`);
          const [zz, xx, yy] = tileIdToZxy(id);
          if (zz !== z || xx !== x || yy !== y) expect.fail(`inverse of ${id}: ${zz}/${xx}/${yy}`);
        }
    for (const [z, x, y] of [[14, 2813, 6333], [20, 181234, 412345], [26, 2 ** 26 - 1, 0]]) {
      expect(zxyToTileId(z, x, y)).toBe(refTileId(z, x, y));
      expect(refZxy(zxyToTileId(z, x, y))).toEqual([z, x, y]);
    }
    expect(() => zxyToTileId(3, 8, 0)).toThrow(RangeError);
  });

  it('stores identical tiles once, as runs or back-references, and rejects out-of-order ids', async () => {
    const path = join(dir, 'dedup.pmtiles');
    const w = await PmtilesWriter.create(`${path}.tiledata`);
    const A = gzipSync(Buffer.from('tile A'));
    const B = gzipSync(Buffer.from('tile B'));
    const content = (id: number) => (id >= 5 && id <= 40 ? A : id % 7 === 0 ? B : gzipSync(Buffer.from(`tile ${id}`)));
    const ids = [0, 1, 2, ...Array.from({ length: 40 }, (_, i) => i + 5), 50, 56, 63, 70, 77, 80];
    for (const id of ids) await w.addTile(id, content(id));
    await expect(w.addTile(80, A)).rejects.toThrow(/not after/);
    const stats = await w.finish(path, { minZoom: 0, maxZoom: 3, bounds: [-10, -10, 10, 10], center: [0, 0, 0] }, { vector_layers: [] });
    expect(existsSync(`${path}.tiledata`)).toBe(false);
    expect(stats.addressedTiles).toBe(ids.length);
    expect(stats.tileEntries).toBeLessThan(ids.length);
    // distinct: A, B and the "tile id" ones outside 5..40 that are not multiples of 7
    const distinct = new Set(ids.map((id) => content(id).toString('hex'))).size;
    expect(stats.tileContents).toBe(distinct);
    const h = await archive(path).getHeader();
    expect([h.numAddressedTiles, h.numTileEntries, h.numTileContents]).toEqual([stats.addressedTiles, stats.tileEntries, stats.tileContents]);
    expect(h.tileDataLength).toBe(stats.tileDataBytes);
    const pm = archive(path);
    for (const id of [...ids, 3, 4, 41, 79]) {
      const [z, x, y] = tileIdToZxy(id);
      const t = await pm.getZxy(z, x, y);
      if (ids.includes(id)) expect(Buffer.from(t!.data).toString(), `tile ${id}`).toBe(gunzipSync(content(id)).toString());
      else expect(t, `tile ${id}`).toBeUndefined();
    }
  });

  it('splits large directories into leaf directories the reader follows', async () => {
    const path = join(dir, 'leaves.pmtiles');
    const w = await PmtilesWriter.create(`${path}.tiledata`);
    // A deterministic pseudo-random sequence (xorshift32): irregular id gaps and tile lengths make
    // the directory compress badly enough to overflow the 16 KiB root.
    let seed = 2463534242;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const ids: number[] = [];
    const lengths: number[] = [];
    let id = 0;
    for (let i = 0; i < 30_000; i++) {
      id += 1 + rand(16);
      ids.push(id);
      lengths.push(8 + rand(512));
      await w.addTile(id, randomBytes(lengths[i])); // stored as is (tileCompression none)
    }
    const stats = await w.finish(path, { minZoom: 0, maxZoom: 9, bounds: [-180, -85, 180, 85], center: [0, 0, 0], tileCompression: 1 }, {});
    expect(stats.leafDirectories).toBeGreaterThan(1);
    const h = await archive(path).getHeader();
    expect(h.leafDirectoryLength).toBeGreaterThan(0);
    expect(h.rootDirectoryLength + 127).toBeLessThanOrEqual(16384);
    const pm = archive(path);
    for (const i of [0, 1, 4095, 4096, 4097, 12345, 29_999]) {
      const [z, x, y] = tileIdToZxy(ids[i]);
      const t = await pm.getZxy(z, x, y);
      expect(t?.data.byteLength, `tile #${i}`).toBe(lengths[i]);
    }
    const [z, x, y] = tileIdToZxy(ids[100] + 1);
    if (!ids.includes(ids[100] + 1)) expect(await pm.getZxy(z, x, y)).toBeUndefined();
  });
});
