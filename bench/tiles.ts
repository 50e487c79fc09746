/**
 * Benchmark: the tiles stage (every `cng-worker tiles` unit, then `tiles-merge`, each a process as
 * in the cluster) in CPU seconds (user + sys from /usr/bin/time), next to tippecanoe's figures
 * measured on the same inputs at zooms 0–14 (issue #12: tippecanoe built from source on this
 * machine):
 * - the Fee layer of the 10,000-per-layer PAD-US-shaped sample (`cng sample padus --features
 *   10000`, converted with `cng-worker convert`): tippecanoe 58 CPU-s, the GDAL MVT stage 169;
 * - one 200,000-vertex polygon of ~5,000 km² (a jagged disc, deterministic): tippecanoe 4.5
 *   CPU-s, GDAL MVT 176.
 * Target: within 2× of tippecanoe. Node start-up (~1 CPU-s per process) is included.
 *
 *   npx tsx bench/tiles.ts [--features 10000] [--units 1,4] [--max-zoom 14] [--vertices 200000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import gdal from 'gdal-async';

const { values } = parseArgs({
  options: {
    features: { type: 'string', default: '10000' },
    units: { type: 'string', default: '1,4' },
    'max-zoom': { type: 'string', default: '14' },
    vertices: { type: 'string', default: '200000' },
  },
});
const ROOT = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'cng-bench-tiles-'));

/** Runs a command under /usr/bin/time; CPU seconds (user + sys) and peak RSS. */
function timed(cmd: string, args: string[]): { cpu: number; rssMiB: number; wall: number } {
  const t = Date.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'CNG-TIME %U %S %M', cmd, ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
  const m = /CNG-TIME ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr.slice(-3000)}`);
  return { cpu: Number(m[1]) + Number(m[2]), rssMiB: Number(m[3]) / 1024, wall: (Date.now() - t) / 1000 };
}

const node = (script: string, args: string[]) => timed(process.execPath, [join(ROOT, script), ...args]);

/** One jagged polygon of `n` vertices and ~5,000 km² (radius 40 km ± 8%) near Yellowstone. */
async function bigPolygon(path: string, n: number): Promise<void> {
  const [lon, lat, r] = [-110.5, 44.5, 40 / 111.2];
  const pts: string[] = [];
  for (let k = 0; k <= n; k++) {
    const a = (-2 * Math.PI * (k % n)) / n;
    const rr = r * (1 + 0.05 * Math.sin(a * 37) + 0.03 * Math.sin(a * 1013) + 0.01 * Math.sin(a * 7919));
    pts.push(`${lon + (rr * Math.cos(a)) / Math.cos((lat * Math.PI) / 180)} ${lat + rr * Math.sin(a)}`);
  }
  const g = gdal.Geometry.fromWKT(`MULTIPOLYGON(((${pts.join(',')})))`);
  const e = g.getEnvelope();
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  await c.run('CREATE TABLE t (_cng_fid BIGINT, unit_name VARCHAR, wkb BLOB)');
  const ap = await c.createAppender('t');
  ap.appendBigInt(1n);
  ap.appendVarchar('big polygon');
  ap.appendBlob(new Uint8Array(g.toWKB()));
  ap.endRow();
  ap.closeSync();
  await c.run(`COPY (SELECT _cng_fid, unit_name, ST_GeomFromWKB(wkb) AS geometry,
      {'xmin': ${e.minX}, 'ymin': ${e.minY}, 'xmax': ${e.maxX}, 'ymax': ${e.maxY}} AS bbox FROM t) TO '${path}' (FORMAT parquet)`);
  c.closeSync();
}

/** Every unit, then the merge; summed CPU seconds and the largest unit's. */
function tiles(input: string, name: string, units: number) {
  const parts = join(work, `${name}-${units}-parts`);
  const zooms = ['--layer-name', name, '--min-zoom', '0', '--max-zoom', values['max-zoom']!, '--units', String(units), '--parts', parts];
  const runs = Array.from({ length: units }, (_, i) => node('bin/cng-worker.js', ['tiles', '--input', input, ...zooms, '--index', String(i)]));
  const out = join(work, `${name}-${units}.pmtiles`);
  const merge = node('bin/cng-worker.js', ['tiles-merge', ...zooms, '--out', out]);
  const cpu = runs.reduce((s, r) => s + r.cpu, 0) + merge.cpu;
  return { cpu, maxUnitCpu: Math.max(...runs.map((r) => r.cpu)), maxRss: Math.max(merge.rssMiB, ...runs.map((r) => r.rssMiB)), mergeCpu: merge.cpu, bytes: statSync(out).size };
}

try {
  console.log(`bench/tiles: zooms 0–${values['max-zoom']}, node ${process.version}, units ${values.units}`);
  const gdb = join(work, 'padus.gdb');
  const fee = join(work, 'fee.parquet');
  node('bin/cng.js', ['sample', 'padus', '--out', gdb, '--features', values.features!, '--json']);
  node('bin/cng-worker.js', ['convert', '--source', gdb, '--layer', 'PADUS4_1Fee', '--out', fee, '--plan', join(work, 'plan.json'), '--resolution', '10', '--units', '1']);
  const big = join(work, 'big.parquet');
  await bigPolygon(big, Number(values.vertices));
  const startup = node('bin/cng-worker.js', ['--help']).cpu;
  console.log(`node + tsx start-up of one worker process: ${startup.toFixed(2)} CPU-s (included below)`);
  console.log('input                                   units  CPU-s (all)  largest unit  merge  peak RSS   archive   tippecanoe  ratio  GDAL MVT');
  for (const [label, input, name, tippecanoe, gdalMvt] of [
    [`Fee, ${values.features}-per-layer sample`, fee, 'fee', 58, 169],
    [`one ${values.vertices}-vertex polygon, ~5,000 km²`, big, 'big', 4.5, 176],
  ] as const) {
    for (const units of values.units!.split(',').map(Number)) {
      const r = tiles(input, name, units);
      console.log(
        `${label.padEnd(40)}${String(units).padStart(5)}  ${r.cpu.toFixed(1).padStart(11)}  ${r.maxUnitCpu.toFixed(1).padStart(12)}  ${r.mergeCpu.toFixed(1).padStart(5)}  ${r.maxRss.toFixed(0).padStart(5)} MiB  ${(r.bytes / 2 ** 20).toFixed(1).padStart(5)} MiB  ${String(tippecanoe).padStart(10)}  ${(r.cpu / tippecanoe).toFixed(2).padStart(5)}×  ${gdalMvt}`,
      );
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
