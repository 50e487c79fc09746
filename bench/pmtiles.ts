/**
 * Benchmark: the pmtiles stage (GeoParquet → DuckDB → FlatGeobuf → GDAL MVT → PMTiles) against
 * plain `ogr2ogr -f MVT` (the GDAL binary writing a tile directory from a FlatGeobuf) on the same
 * synthetic polygon layer at the same zooms. Target: stage ≤ 1.5× ogr2ogr.
 *
 *   npx tsx bench/pmtiles.ts [--features 20000] [--min-zoom 0] [--max-zoom 12] [--runs 2]
 *
 * The layer: PAD-US-like polygons scattered over the contiguous US (mostly 0.3–5 km across, one in
 * twenty up to ~60 km; 24–96 vertices), with the attributes _cng_fid, unit_name, gis_acres,
 * des_tp, open_access.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { buildPmtiles } from '../worker/vector/pmtiles.ts';

const { values } = parseArgs({
  options: {
    features: { type: 'string', default: '20000' },
    'min-zoom': { type: 'string', default: '0' },
    'max-zoom': { type: 'string', default: '12' },
    runs: { type: 'string', default: '2' },
  },
});
const N = Number(values.features);
const MIN_ZOOM = Number(values['min-zoom']);
const MAX_ZOOM = Number(values['max-zoom']);
const RUNS = Number(values.runs);

const work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'cng-bench-pmtiles-'));
process.env.TMPDIR = work; // the stage's scratch space

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function makeLayer(parquet: string, fgb: string): Promise<void> {
  const rand = rng(42);
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  await c.run('CREATE TABLE t (_cng_fid BIGINT, unit_name VARCHAR, gis_acres DOUBLE, des_tp VARCHAR, open_access BOOLEAN, wkb BLOB, xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE)');
  const ap = await c.createAppender('t');
  const ds = gdal.open(fgb, 'w', 'FlatGeobuf');
  const layer = ds.layers.create('fee', gdal.SpatialReference.fromEPSG(4326), gdal.wkbMultiPolygon);
  for (const [name, type] of [['_cng_fid', gdal.OFTInteger64], ['unit_name', gdal.OFTString], ['gis_acres', gdal.OFTReal], ['des_tp', gdal.OFTString], ['open_access', gdal.OFTInteger]] as const)
    layer.fields.add(new gdal.FieldDefn(name, type));
  const types = ['NP', 'NF', 'SP', 'WA', 'NWR', 'LP', 'CONE'];
  for (let i = 1; i <= N; i++) {
    const lon = -124 + rand() * 57;
    const lat = 25 + rand() * 24;
    const km = rand() < 0.05 ? 5 + rand() * 25 : 0.15 + rand() * 2.5;
    const nv = 24 + Math.floor(rand() * 72);
    const ring: string[] = [];
    for (let k = 0; k < nv; k++) {
      const a = (2 * Math.PI * k) / nv;
      const r = km * (0.6 + 0.4 * rand());
      ring.push(`${(lon + (r / (111.32 * Math.cos((lat * Math.PI) / 180))) * Math.cos(a)).toFixed(7)} ${(lat + (r / 110.57) * Math.sin(a)).toFixed(7)}`);
    }
    ring.push(ring[0]);
    const g = gdal.Geometry.fromWKT(`MULTIPOLYGON(((${ring.join(',')})))`);
    const env = g.getEnvelope();
    const attrs = { _cng_fid: i, unit_name: `Unit ${i}`, gis_acres: Math.round(km * km * 247.1 * Math.PI), des_tp: types[i % types.length], open_access: i % 3 === 0 };
    ap.appendBigInt(BigInt(i));
    ap.appendVarchar(attrs.unit_name);
    ap.appendDouble(attrs.gis_acres);
    ap.appendVarchar(attrs.des_tp);
    ap.appendBoolean(attrs.open_access);
    ap.appendBlob(new Uint8Array(g.toWKB()));
    for (const v of [env.minX, env.minY, env.maxX, env.maxY]) ap.appendDouble(v);
    ap.endRow();
    const f = new gdal.Feature(layer);
    f.fields.set({ ...attrs, open_access: attrs.open_access ? 1 : 0 });
    f.setGeometry(g);
    layer.features.add(f);
  }
  ap.closeSync();
  ds.close();
  await c.run(`COPY (SELECT _cng_fid, unit_name, gis_acres, des_tp, open_access, ST_GeomFromWKB(wkb) AS geometry,
      {'xmin': xmin, 'ymin': ymin, 'xmax': xmax, 'ymax': ymax} AS bbox FROM t ORDER BY _cng_fid)
    TO '${parquet}' (FORMAT parquet, COMPRESSION zstd)`);
  c.closeSync();
}

function dirStats(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.pbf')) {
        files++;
        bytes += statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

const parquet = join(work, 'fee.parquet');
const fgb = join(work, 'fee.fgb');
let t0 = process.hrtime.bigint();
await makeLayer(parquet, fgb);
console.log(`layer: ${N} polygons (GeoParquet ${statSync(parquet).size} B, FlatGeobuf ${statSync(fgb).size} B) in ${secs(t0).toFixed(1)}s`);
console.log(`zooms ${MIN_ZOOM}..${MAX_ZOOM}, GDAL ${gdal.version}, ${RUNS} run(s) each, best time counts`);

/**
 * ogr2ogr through bash's `time`, which reports the child's wall, user and system seconds. The
 * machine may be shared, so CPU seconds (user + system, all threads) are reported next to wall
 * time: they do not grow when other processes compete for the cores.
 */
function ogr2ogr(out: string): { wall: number; cpu: number } {
  const args = ['-f', 'MVT', out, fgb, '-dsco', `MINZOOM=${MIN_ZOOM}`, '-dsco', `MAXZOOM=${MAX_ZOOM}`, '-dsco', `TEMPORARY_DB=${out}.temp.db`];
  const r = spawnSync('bash', ['-c', `TIMEFORMAT='%R %U %S'; time ogr2ogr "$@" >/dev/null 2>&1`, 'bash', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ogr2ogr failed: ${r.stderr}`);
  const [wall, user, sys] = r.stderr.trim().split('\n').pop()!.split(/\s+/).map(Number);
  return { wall, cpu: user + sys };
}

const best = { ogrWall: Infinity, ogrCpu: Infinity, stageWall: Infinity, stageCpu: Infinity };
let ogrTiles = { files: 0, bytes: 0 };
let stageResult: Awaited<ReturnType<typeof buildPmtiles>> | undefined;
for (let run = 1; run <= RUNS; run++) {
  const mvt = join(work, `ogr-${run}`);
  const ogr = ogr2ogr(mvt);
  ogrTiles = dirStats(mvt);
  rmSync(mvt, { recursive: true, force: true });
  rmSync(`${mvt}.temp.db`, { force: true });

  const out = join(work, 'out', `fee-${run}.pmtiles`);
  mkdirSync(join(work, 'out'), { recursive: true });
  t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  stageResult = await buildPmtiles({ input: parquet, out, layerName: 'fee', minZoom: MIN_ZOOM, maxZoom: MAX_ZOOM });
  const c = process.cpuUsage(c0);
  const stage = { wall: secs(t0), cpu: (c.user + c.system) / 1e6 };
  rmSync(out, { force: true });
  console.log(`run ${run}: ogr2ogr -f MVT ${ogr.wall.toFixed(2)}s wall / ${ogr.cpu.toFixed(2)}s CPU; pmtiles stage ${stage.wall.toFixed(2)}s wall / ${stage.cpu.toFixed(2)}s CPU`);
  best.ogrWall = Math.min(best.ogrWall, ogr.wall);
  best.ogrCpu = Math.min(best.ogrCpu, ogr.cpu);
  best.stageWall = Math.min(best.stageWall, stage.wall);
  best.stageCpu = Math.min(best.stageCpu, stage.cpu);
}

const r = stageResult!;
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log('');
console.log(`ogr2ogr -f MVT (directory):  ${best.ogrWall.toFixed(2)} s wall, ${best.ogrCpu.toFixed(2)} s CPU  ${ogrTiles.files} tiles, ${(ogrTiles.bytes / 2 ** 20).toFixed(1)} MiB`);
console.log(`pmtiles stage (archive):     ${best.stageWall.toFixed(2)} s wall, ${best.stageCpu.toFixed(2)} s CPU  ${r.archive.addressedTiles} tiles (${r.archive.tileContents} distinct), ${(r.archive.bytes / 2 ** 20).toFixed(1)} MiB`);
console.log(`  steps (last run): read ${r.timings.read.toFixed(2)} s, GDAL render ${r.timings.render.toFixed(2)} s, pack ${r.timings.pack.toFixed(2)} s, upload ${r.timings.upload.toFixed(2)} s`);
console.log(`ratio stage / ogr2ogr:       ${(best.stageWall / best.ogrWall).toFixed(2)}× wall, ${(best.stageCpu / best.ogrCpu).toFixed(2)}× CPU  (target ≤ 1.5×; load average ${load})`);
rmSync(work, { recursive: true, force: true });
