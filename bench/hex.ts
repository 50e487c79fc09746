/**
 * Benchmark of the hex stage (prints figures; not a test).
 *
 *   npx tsx bench/hex.ts            # default run (a few minutes at most on 2 cores)
 *   npx tsx bench/hex.ts --quick    # smaller inputs
 *
 * (a) Throughput at resolution 10, end to end including Parquet writing, on one synthetic
 *     PAD-US-like layer: the hex stage (runHex, threads = CPUs) against a naive baseline
 *     (per-feature h3-js polygonToCells, all cells in memory, parents by cellToParent, then a
 *     DuckDB table written to Parquet). Rates are cells per CPU-second of the whole process
 *     (all threads), so "per core", and robust to other load on the machine.
 * (b) One synthetic 1.7-million-vertex, ~80,000 km² multipolygon at Alaska-like latitudes (a
 *     wiggly coast plus islands) hexed at resolution 10: wall time, peak RSS (VmHWM of the process,
 *     worker threads included), cell count against area ÷ mean cell area.
 *
 * Every measured run is a child process of its own (with the hex pod's limits, 2 CPU / 4 GiB, in
 * CNG_CPU_LIMIT / CNG_MEMORY_LIMIT), so its CPU time and peak RSS are its alone. The machine may be
 * shared: wall times vary with other load, CPU-second rates much less.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import * as h3 from 'h3-js';
import { polygonAreaSphericalKm2, shapesBBox, vertexCount, type Polygon, type Shapes } from '../worker/geo/shapes.ts';
import { parseWkb, shapesToWkb } from '../worker/geo/wkb.ts';
import { runHex } from '../worker/vector/hex.ts';

const RES = 10;
const SELF = fileURLToPath(import.meta.url);
/** The hex pod's limits (2 CPU, 4 GiB), as the Job's downward API passes them. */
const POD = { CNG_CPU_LIMIT: '2000', CNG_MEMORY_LIMIT: String(4 * 2 ** 30) };

interface Measured {
  cells: number;
  wall: number;
  cpu: number;
  maxRssMB: number;
  extra?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Synthetic data

function rng(seed: number): () => number {
  let s = seed % 2147483647 || 1;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

/** A star-shaped (hence simple) polygon ring around (lng, lat) with noisy radius. */
function starRing(rand: () => number, lng: number, lat: number, rKm: number, n: number, rough = 0.35): Float64Array {
  const kx = 1 / (111.195 * Math.cos((lat * Math.PI) / 180));
  const ky = 1 / 111.195;
  const out = new Float64Array(2 * n);
  const p1 = rand() * 6.28;
  const p2 = rand() * 6.28;
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / n;
    const r = rKm * (1 - rough + rough * (0.5 + 0.3 * Math.sin(3 * t + p1) + 0.2 * Math.sin(7 * t + p2)) + 0.05 * rough * (rand() - 0.5));
    out[2 * i] = lng + r * Math.cos(t) * kx;
    out[2 * i + 1] = lat + r * Math.sin(t) * ky;
  }
  return out;
}

/** A wiggly coast: radius with fractal noise over many octaves (star-shaped, so simple). */
export function coast(lng: number, lat: number, rKm: number, n: number, seed = 1): Float64Array {
  const rand = rng(seed);
  const terms: [number, number, number][] = [];
  for (let f = 3; f < n / 4; f *= 2.7) terms.push([Math.round(f), 0.25 / Math.pow(f, 0.75), rand() * 2 * Math.PI]);
  const kx = 1 / (111.195 * Math.cos((lat * Math.PI) / 180));
  const ky = 1 / 111.195;
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / n;
    let f = 1;
    for (const [k, a, ph] of terms) f += a * Math.sin(k * t + ph);
    const r = rKm * Math.max(0.05, f);
    out[2 * i] = lng + r * Math.cos(t) * kx;
    out[2 * i + 1] = lat + r * Math.sin(t) * ky;
  }
  return out;
}

/**
 * A PAD-US-like layer: many small parcels, fewer tracts, some large and a few very large detailed
 * features (PAD-US's cells are dominated by its large features; its largest — 1–2 M vertices —
 * are part (b)). Vertex counts are kept where the naive baseline still finishes in about a minute.
 */
function layer(quick: boolean): Shapes[] {
  const rand = rng(42);
  const out: Shapes[] = [];
  const scale = quick ? 0.25 : 1;
  const place = () => [-120 + rand() * 30, 33 + rand() * 12];
  const add = (count: number, kmMin: number, kmMax: number, vMin: number, vMax: number) => {
    for (let i = 0; i < Math.round(count * scale); i++) {
      const [x, y] = place();
      const r = kmMin * Math.pow(kmMax / kmMin, rand());
      const v = Math.round(vMin * Math.pow(vMax / vMin, rand()));
      out.push({ polygons: [[starRing(rand, x, y, r, v)]], lines: [], points: [] });
    }
  };
  add(3000, 0.1, 1.2, 5, 60); // parcels: ~0.03–4 km²
  add(500, 1.5, 8, 60, 600); // tracts: ~7–200 km²
  add(40, 8, 20, 600, 3000); // large: ~200–1,200 km²
  add(4, 32, 45, 5000, 10000); // very large (national-forest-like): ~2,500–5,000 km²
  return out;
}

/** ~1.7 M vertices, ~80,000 km² near 61°N: one coast of 1.5 M vertices plus 250 islands. */
function giant(quick: boolean): Shapes {
  const rand = rng(7);
  const main = quick ? 300_000 : 1_500_000;
  const polygons: Polygon[] = [[coast(-152, 61.5, 150, main, 3)]];
  const islands = quick ? 50 : 250;
  for (let i = 0; i < islands; i++) {
    const t = (2 * Math.PI * i) / islands;
    const d = 300 + rand() * 60; // beyond the coast's reach (≤ ~1.5 × 150 km… see coast())
    const lng = -152 + (d * Math.cos(t)) / (111.195 * Math.cos((61.5 * Math.PI) / 180));
    const lat = 61.5 + (d * Math.sin(t)) / 111.195;
    polygons.push([starRing(rand, lng, lat, 1 + rand() * 6, Math.round((quick ? 200 : 800) * (0.5 + rand())))]);
  }
  return { polygons, lines: [], points: [] };
}

// ---------------------------------------------------------------------------------------------
// Inputs on disk

async function writeInput(dir: string, features: Shapes[]): Promise<{ input: string; plan: string }> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  await con.run('CREATE TABLE f (fid BIGINT, wkb BLOB, xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE)');
  const app = await con.createAppender('f');
  features.forEach((s, i) => {
    const b = shapesBBox(s);
    app.appendBigInt(BigInt(i + 1));
    app.appendBlob(shapesToWkb(s));
    for (const v of [b.xmin, b.ymin, b.xmax, b.ymax]) app.appendDouble(v);
    app.endRow();
  });
  app.closeSync();
  const input = join(dir, 'input.parquet');
  await con.run(`COPY (SELECT fid AS _cng_fid, 'x' AS Unit_Nm, ST_GeomFromWKB(wkb) AS geometry, {'xmin': xmin, 'ymin': ymin, 'xmax': xmax, 'ymax': ymax} AS bbox FROM f) TO '${input}' (FORMAT parquet, COMPRESSION zstd)`);
  con.closeSync();
  const plan = join(dir, 'plan.json');
  writeFileSync(plan, JSON.stringify({ version: 1, layer: 'bench', resolution: RES, units: 1, workUnits: [{ index: 0, items: features.map((_, i) => ({ fid: i + 1 })) }] }));
  return { input, plan };
}

// ---------------------------------------------------------------------------------------------
// Child-process parts

function measure<T>(f: () => Promise<T>): Promise<{ value: T; wall: number; cpu: number; maxRssMB: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return f().then((value) => {
    const wall = (performance.now() - t0) / 1000;
    const u = process.cpuUsage(c0);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
    return { value, wall, cpu: (u.user + u.system) / 1e6, maxRssMB: Math.max(hwm, process.resourceUsage().maxRSS / 1024) };
  });
}

/** The hex stage on the whole input as one work unit. */
async function partStage(dir: string): Promise<Measured> {
  const m = await measure(() => runHex({ input: join(dir, 'input.parquet'), plan: join(dir, 'plan.json'), chunks: join(dir, 'chunks'), resolution: String(RES), index: '0' }));
  return { cells: m.value.cells, wall: m.wall, cpu: m.cpu, maxRssMB: m.maxRssMB, extra: { threads: m.value.threads, fastH3: m.value.fastH3, chunk: m.value.chunk } };
}

/** The naive way: per feature polygonToCells, everything in memory, then one write. */
async function partBaseline(dir: string): Promise<Measured> {
  const m = await measure(async () => {
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const rows = (await con.runAndReadAll(`SELECT _cng_fid, ST_AsWKB(geometry) FROM read_parquet('${join(dir, 'input.parquet')}')`)).getRows();
    const all: { fid: number; cells: string[] }[] = [];
    for (const [fid, wkb] of rows) {
      const shapes = parseWkb((wkb as { bytes: Uint8Array }).bytes);
      const cells: string[] = [];
      for (const p of shapes.polygons) {
        const coords = p.map((r) => Array.from({ length: r.length / 2 }, (_, i) => [r[2 * i], r[2 * i + 1]]));
        for (const c of h3.polygonToCells(coords, RES, true)) cells.push(c);
      }
      all.push({ fid: Number(fid), cells });
    }
    await con.run('CREATE TABLE cells (_cng_fid BIGINT, h10 UBIGINT, h9 UBIGINT, h8 UBIGINT, h0 UBIGINT)');
    const app = await con.createAppender('cells');
    let n = 0;
    for (const { fid, cells } of all)
      for (const c of cells) {
        app.appendBigInt(BigInt(fid));
        app.appendUBigInt(BigInt(`0x${c}`));
        app.appendUBigInt(BigInt(`0x${h3.cellToParent(c, 9)}`));
        app.appendUBigInt(BigInt(`0x${h3.cellToParent(c, 8)}`));
        app.appendUBigInt(BigInt(`0x${h3.cellToParent(c, 0)}`));
        app.endRow();
        n++;
      }
    app.closeSync();
    await con.run(`COPY cells TO '${join(dir, 'baseline.parquet')}' (FORMAT parquet, COMPRESSION zstd)`);
    con.closeSync();
    return n;
  });
  return { cells: m.value, wall: m.wall, cpu: m.cpu, maxRssMB: m.maxRssMB };
}

function child(part: string, dir: string): Measured {
  // (not as --options: gdal-async's node-pre-gyp parses process.argv and takes --dir for itself)
  const r = spawnSync(process.execPath, [...process.execArgv, SELF], { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, CNG_BENCH_PART: part, CNG_BENCH_DIR: dir, ...POD } });
  if (r.status !== 0) throw new Error(`part ${part} failed (exit ${r.status}):\n${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(last) as Measured;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const part = process.env.CNG_BENCH_PART;
  if (part) {
    const dir = process.env.CNG_BENCH_DIR!;
    const result = part === 'stage' ? await partStage(dir) : await partBaseline(dir);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0); // a spent pool or DuckDB must not hold the child
  }
  const quick = args.includes('--quick');
  const cpus = availableParallelism();
  const root = mkdtempSync(join(tmpdir(), 'cng-bench-hex-'));
  const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
  const rate = (m: Measured) => m.cells / m.cpu;
  try {
    let gitRev = '';
    try {
      gitRev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      // not a checkout
    }
    console.log(`hex benchmark — npx tsx bench/hex.ts${quick ? ' --quick' : ''} — ${cpus} CPUs, Node ${process.version}, res ${RES}${gitRev ? `, commit ${gitRev}` : ''}`);
    console.log(`(load average now: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}; rates are per CPU-second, so per core)\n`);

    // (a)
    const dirA = join(root, 'a');
    const features = layer(quick);
    const verts = features.reduce((a, f) => a + vertexCount(f), 0);
    await writeInput(mkdirp(dirA), features);
    console.log(`(a) synthetic layer: ${fmt(features.length)} polygons, ${fmt(verts)} vertices`);
    const stage = child('stage', dirA);
    console.log(`    hex stage : ${fmt(stage.cells)} cells, wall ${stage.wall.toFixed(1)} s, CPU ${stage.cpu.toFixed(1)} s → ${fmt(rate(stage))} cells/s/core (${threadsText(stage)}), peak RSS ${fmt(stage.maxRssMB)} MB`);
    const base = child('baseline', dirA);
    console.log(`    baseline  : ${fmt(base.cells)} cells, wall ${base.wall.toFixed(1)} s, CPU ${base.cpu.toFixed(1)} s → ${fmt(rate(base))} cells/s/core, peak RSS ${fmt(base.maxRssMB)} MB`);
    console.log(`    ratio     : ${(rate(stage) / rate(base)).toFixed(1)}× per core (wall ${(base.wall / stage.wall).toFixed(1)}×); same cell count: ${stage.cells === base.cells}`);
    console.log(`    targets   : ≥ 5× baseline, ≥ 1,500,000 cells/s/core\n`);
    rmSync(dirA, { recursive: true, force: true });

    // (b)
    const dirB = join(root, 'b');
    const g = giant(quick);
    const area = g.polygons.reduce((a, p) => a + polygonAreaSphericalKm2(p), 0);
    await writeInput(mkdirp(dirB), [g]);
    console.log(`(b) one multipolygon: ${fmt(vertexCount(g))} vertices (${g.polygons.length} polygons), ${fmt(area)} km² near 61.5°N`);
    const big = child('stage', dirB);
    const mean = h3.getHexagonAreaAvg(RES, h3.UNITS.km2);
    const local = localCellArea(g);
    console.log(`    hex stage : ${fmt(big.cells)} cells, wall ${big.wall.toFixed(1)} s, CPU ${big.cpu.toFixed(1)} s (${fmt(rate(big))} cells/s/core, ${threadsText(big)}), peak RSS ${fmt(big.maxRssMB)} MB (VmHWM, worker threads included)`);
    console.log(`    cells vs area ÷ global mean res-10 cell area (${mean.toFixed(5)} km²): ${fmt(area / mean)} → ratio ${(big.cells / (area / mean)).toFixed(4)}`);
    console.log(`    cells vs area ÷ local mean cell area here (${local.toFixed(5)} km², H3 cells are ${((1 - local / mean) * 100).toFixed(1)}% smaller at 61°N): ${fmt(area / local)} → ratio ${(big.cells / (area / local)).toFixed(4)} (target within 1%)`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function threadsText(m: Measured): string {
  const t = Number(m.extra?.threads ?? 1);
  return `main thread + ${t - 1} worker thread${t === 2 ? '' : 's'}${m.extra?.fastH3 ? '' : ', h3-js public API only'}`;
}

function mkdirp(d: string): string {
  execFileSync('mkdir', ['-p', d]);
  return d;
}

/** Mean area of res-10 cells over a grid of points inside the feature's bbox. */
function localCellArea(s: Shapes): number {
  const b = shapesBBox(s);
  let sum = 0;
  let n = 0;
  for (let i = 0; i < 30; i++)
    for (let j = 0; j < 30; j++) {
      const c = h3.latLngToCell(b.ymin + ((b.ymax - b.ymin) * (i + 0.5)) / 30, b.xmin + ((b.xmax - b.xmin) * (j + 0.5)) / 30, RES);
      sum += h3.cellArea(c, h3.UNITS.km2);
      n++;
    }
  return sum / n;
}

await main();
