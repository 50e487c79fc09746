/**
 * Benchmark of the raster-hex stage (prints figures; not a test).
 *
 *   npx tsx bench/raster.ts                         # 20,000 × 20,000 pixels, resolution 8, EPSG:5070
 *   npx tsx bench/raster.ts --size 4096 --resolution 9 --crs EPSG:4326
 *
 * 1. Synthesizes a Float32 raster window of --size² pixels (30 m in EPSG:5070 over the central US,
 *    or 1 arc-second in EPSG:4326), a smooth field with ~3% nodata "lakes", as a tiled
 *    (512 × 512, DEFLATE + floating-point predictor) GeoTIFF — the COG layout minus overviews,
 *    which raster-hex never reads — written tile by tile, so never in memory. Kept in
 *    $TMPDIR/cng-bench-raster-<size>-<crs> and reused by later runs (--fresh rewrites it).
 * 2. Runs every raster-hex unit the raster touches (rasterUnits), each as its own worker process
 *    (`node bin/cng-worker.js raster-hex … --index i`, the raster-hex pod's limits: 1 CPU, 4 GiB,
 *    in CNG_CPU_LIMIT / CNG_MEMORY_LIMIT) under /usr/bin/time: CPU seconds (user + sys) and wall
 *    per unit, the worker's own `peak RSS` line. Rates are per CPU-second ("per core"), robust to
 *    other load on a shared machine; wall time is printed too.
 * 3. Baselines in the same run: the I/O floor (reading and decompressing every tile with GDAL,
 *    nothing else) and a naive per-pixel loop over one 512 × 512 tile (GDAL transformPoint unless
 *    lon/lat, then h3-js latLngToCell, then a Map of sums per cell), with the stage's ratio to each.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import gdal from 'gdal-async';
import * as h3 from 'h3-js';
import { rasterUnits } from '../worker/raster/raster-hex.ts';
import type { RasterUnitStats } from '../worker/raster/raster-layer.ts';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const SIZE = Number(arg('size', '20000'));
const RES = Number(arg('resolution', '8'));
const CRS = arg('crs', 'EPSG:5070');
const FRESH = process.argv.includes('--fresh');
const T = 512;
const NODATA = -9999;
const POD = { CNG_CPU_LIMIT: '1000', CNG_MEMORY_LIMIT: String(4 * 2 ** 30) };

const dir = join(process.env.TMPDIR ?? tmpdir(), `cng-bench-raster-${SIZE}-${CRS.replace(/\W/g, '')}`);
const cog = join(dir, 'raster.tif');
const info = join(dir, 'info.json');

/** The field: smooth waves plus ~3% circular nodata "lakes" on a 400-pixel lattice. */
function value(x: number, y: number): number {
  const lx = (x % 400) - 200;
  const ly = (y % 400) - 200;
  if (lx * lx + ly * ly < 44 * 44 && ((x / 400) | 0) % 3 === ((y / 400) | 0) % 2) return NODATA;
  return 100 + 50 * Math.sin(x / 900) * Math.cos(y / 1300) + 5 * Math.sin((x + 2 * y) / 37);
}

function synthesize(): void {
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const ds = gdal.open(cog, 'w', 'GTiff', SIZE, SIZE, 1, 'Float32', [
    'TILED=YES', `BLOCKXSIZE=${T}`, `BLOCKYSIZE=${T}`, 'COMPRESS=DEFLATE', 'PREDICTOR=3', 'BIGTIFF=IF_SAFER', 'NUM_THREADS=ALL_CPUS',
  ]);
  ds.srs = gdal.SpatialReference.fromUserInput(CRS);
  const gt = CRS === 'EPSG:4326' ? [-100, 1 / 3600, 0, 41, 0, -1 / 3600] : [-300_000, 30, 0, 2_000_000, 0, -30];
  ds.geoTransform = gt;
  const band = ds.bands.get(1);
  band.noDataValue = NODATA;
  const buf = new Float32Array(T * T);
  for (let by = 0; by < SIZE; by += T) {
    for (let bx = 0; bx < SIZE; bx += T) {
      const w = Math.min(T, SIZE - bx);
      const h = Math.min(T, SIZE - by);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) buf[y * w + x] = value(bx + x, by + y);
      band.pixels.write(bx, by, w, h, buf.subarray(0, w * h));
    }
    ds.flush(); // written rows of tiles leave the block cache
  }
  ds.close();
  const bytes = statSync(cog).size;
  // The info JSON the cog stage would write for it (raster-hex checks size, bands and kind).
  writeFileSync(info, JSON.stringify({
    version: 1, sources: [cog], valueKind: 'continuous', width: SIZE, height: SIZE,
    bands: [{ band: 1, name: 'band_1', dataType: 'Float32' }], crs: CRS, geoTransform: gt, bounds4326: [0, 0, 0, 0],
    nodata: NODATA, nodataCollapsed: [], copied: false, bigtiff: bytes > 2 ** 32, overviews: 0, bytes,
  }));
  console.log(`  synthesized ${SIZE}×${SIZE} Float32 (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${((Date.now() - t0) / 1000).toFixed(0)} s → ${cog}`);
}

interface UnitRun {
  unit: number;
  wall: number;
  cpu: number;
  rssMiB: number;
  cells: number;
  pixelsRead: number;
  samples: number;
  h3: number;
}

function runUnit(unit: number): UnitRun {
  const out = join(dir, 'hex');
  const stats = join(dir, 'stats');
  const args = ['-f', 'TIME %e %U %S %M', process.execPath, join(ROOT, 'bin/cng-worker.js'), 'raster-hex',
    '--input', cog, '--info', info, '--out', out, '--stats', stats, '--value-kind', 'continuous', '--resolution', String(RES), '--index', String(unit)];
  const r = spawnSync('/usr/bin/time', args, { encoding: 'utf8', env: { ...process.env, ...POD }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`raster-hex unit ${unit} failed:\n${r.stderr}`);
  const time = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  const rss = /peak RSS (\d+) MiB/.exec(r.stderr);
  const line = /unit \d+: (\d+) cells from (\d+) pixels read \((\d+) samples, (\d+) H3 lookups/.exec(r.stderr);
  const s = JSON.parse(readFileSync(join(stats, `unit-${unit}.json`), 'utf8')) as RasterUnitStats;
  return {
    unit,
    wall: Number(time?.[1] ?? NaN),
    cpu: Number(time?.[2] ?? NaN) + Number(time?.[3] ?? NaN),
    rssMiB: Number(rss?.[1] ?? NaN),
    cells: s.cells,
    pixelsRead: Number(line?.[2] ?? NaN),
    samples: s.samples,
    h3: Number(line?.[4] ?? NaN),
  };
}

/** Reads and decompresses every tile (GDAL only): the I/O floor. */
async function ioFloor(): Promise<{ cpu: number; wall: number }> {
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  const ds = await gdal.openAsync(cog);
  const band = ds.bands.get(1);
  const buf = new Float64Array(T * T);
  let sum = 0;
  for (let y = 0; y < SIZE; y += T)
    for (let x = 0; x < SIZE; x += T) {
      const w = Math.min(T, SIZE - x);
      const h = Math.min(T, SIZE - y);
      const d = (await band.pixels.readAsync(x, y, w, h, buf.subarray(0, w * h))) as Float64Array;
      sum += d[0];
    }
  ds.close();
  const u = process.cpuUsage(c0);
  if (Number.isNaN(sum)) console.log('');
  return { cpu: (u.user + u.system) / 1e6, wall: (Date.now() - t0) / 1000 };
}

/** The naive loop over the raster's middle tile: per pixel transformPoint, latLngToCell, a Map. */
function naiveTile(): { pixels: number; cpu: number } {
  const ds = gdal.open(cog);
  const band = ds.bands.get(1);
  const gt = ds.geoTransform!;
  const x0 = Math.floor(SIZE / 2 / T) * T;
  const y0 = x0;
  const w = Math.min(T, SIZE - x0);
  const h = Math.min(T, SIZE - y0);
  const data = band.pixels.read(x0, y0, w, h, new Float64Array(w * h));
  const ct = CRS === 'EPSG:4326' ? null : new gdal.CoordinateTransformation(ds.srs!, gdal.SpatialReference.fromEPSG(4326));
  const c0 = process.cpuUsage();
  const sums = new Map<string, [number, number]>();
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = data[y * w + x];
      if (v === NODATA) continue;
      const X = gt[0] + (x0 + x + 0.5) * gt[1];
      const Y = gt[3] + (y0 + y + 0.5) * gt[5];
      const p = ct ? ct.transformPoint(X, Y) : { x: Y, y: X }; // EPSG:4326 axis order: lat, lon
      const cell = h3.latLngToCell(p.x, p.y, RES);
      const e = sums.get(cell) ?? [0, 0];
      e[0] += v;
      e[1] += 1;
      sums.set(cell, e);
    }
  const u = process.cpuUsage(c0);
  ds.close();
  return { pixels: w * h, cpu: (u.user + u.system) / 1e6 };
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

async function main(): Promise<void> {
  console.log(`raster-hex benchmark — npx tsx bench/raster.ts --size ${SIZE} --resolution ${RES} --crs ${CRS} — ${availableParallelism()} CPUs, Node ${process.version}`);
  if (FRESH) rmSync(dir, { recursive: true, force: true });
  if (!existsSync(info)) synthesize();
  else console.log(`  reusing ${cog}`);
  rmSync(join(dir, 'hex'), { recursive: true, force: true });
  rmSync(join(dir, 'stats'), { recursive: true, force: true });

  const units = await rasterUnits(cog, RES);
  console.log(`  units touching the raster: ${units.join(', ')}`);
  const runs: UnitRun[] = [];
  for (const u of units) {
    const r = runUnit(u);
    runs.push(r);
    console.log(`    unit ${String(u).padStart(3)}: ${fmt(r.cells)} cells, ${fmt(r.pixelsRead)} pixels read, ${fmt(r.samples)} samples (${((100 * r.h3) / Math.max(1, r.samples)).toFixed(1)}% via H3), CPU ${r.cpu.toFixed(1)} s, wall ${r.wall.toFixed(1)} s, peak RSS ${r.rssMiB} MiB`);
  }
  const pixels = SIZE * SIZE;
  const cpu = runs.reduce((a, r) => a + r.cpu, 0);
  const wall = runs.reduce((a, r) => a + r.wall, 0);
  const cells = runs.reduce((a, r) => a + r.cells, 0);
  const rss = Math.max(...runs.map((r) => r.rssMiB));
  const stage = pixels / cpu;
  console.log(`  raster-hex  : ${fmt(pixels)} pixels → ${fmt(cells)} cells; CPU ${cpu.toFixed(1)} s, wall ${wall.toFixed(1)} s (units in a row)`);
  console.log(`                ${fmt(stage)} pixels/s per core, ${fmt(cells / cpu)} cells/s per core; peak RSS ${rss} MiB (largest unit)`);
  const io = await ioFloor();
  console.log(`  I/O floor   : read + decompress every tile: CPU ${io.cpu.toFixed(1)} s, wall ${io.wall.toFixed(1)} s → ${fmt(pixels / io.cpu)} pixels/s per core; raster-hex runs at ${((100 * stage) / (pixels / io.cpu)).toFixed(0)}% of it`);
  const naive = naiveTile();
  const naiveRate = naive.pixels / naive.cpu;
  console.log(`  naive loop  : one ${T}×${T} tile, per pixel transformPoint + h3-js latLngToCell + Map: ${fmt(naiveRate)} pixels/s per core → raster-hex is ${(stage / naiveRate).toFixed(1)}× faster`);
}

await main();
