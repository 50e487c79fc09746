/**
 * Benchmark of the convert stage against GDAL alone.
 *
 *   npx tsx bench/convert.ts [features=50000] [runs=2]
 *
 * Input: a synthetic GeoPackage layer in EPSG:5070 (Albers) of star-shaped polygons with
 * 200–400 vertices each (test/fixtures.ts makeSyntheticPolygons), cached in
 * $TMPDIR/cng-bench-convert-<features>/. Compared:
 * - `ogr2ogr -f FlatGeobuf out.fgb in.gpkg -t_srs EPSG:4326` (the target: convert ≤ 2× this),
 * - the same with convert's GDAL options (-nlt CONVERT_TO_LINEAR -nlt PROMOTE_TO_MULTI -dim XY
 *   -makevalid -wrapdateline), for reference,
 * - `convertLayer` (GeoParquet + hex plan at resolution 10, 8 units), with the machine's CPUs
 *   (GDAL pass and streaming overlap) and as a 1-CPU pod (CNG_CPU_LIMIT=1000: in sequence).
 * Prints wall and CPU seconds (best of `runs`) and the ratios. Wall time is what the target is
 * about; CPU time is steadier on a busy machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertLayer } from '../worker/vector/convert.ts';
import { makeSyntheticPolygons } from '../test/fixtures.ts';

const features = Number(process.argv[2] ?? 50_000);
const runs = Number(process.argv[3] ?? 2);
const cpuLimit = process.env.CNG_CPU_LIMIT;
const dir = join(process.env.TMPDIR ?? tmpdir(), `cng-bench-convert-${features}`);
mkdirSync(dir, { recursive: true });

const source = join(dir, 'synthetic.gpkg');
if (!existsSync(join(dir, 'ready'))) {
  const t = Date.now();
  for (const f of ['synthetic.gpkg', 'synthetic.fgb']) rmSync(join(dir, f), { force: true });
  await makeSyntheticPolygons(dir, features);
  writeFileSync(join(dir, 'ready'), '');
  console.log(`built ${source} (${features} polygons) in ${((Date.now() - t) / 1000).toFixed(1)}s`);
}

/** CPU seconds (user + system) of this process's waited-for children, from /proc/self/stat. */
function childCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100; // cutime, cstime (clock ticks, USER_HZ = 100)
}

interface Timing { wall: number; cpu: number; bytes: number }

function ogr2ogr(extra: string[]): Timing {
  const out = join(dir, 'out.fgb');
  rmSync(out, { force: true });
  const cpu0 = childCpu();
  const t = performance.now();
  const r = spawnSync('ogr2ogr', ['-f', 'FlatGeobuf', out, source, '-t_srs', 'EPSG:4326', ...extra], { encoding: 'utf8' });
  const wall = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`ogr2ogr failed: ${r.stderr}`);
  return { wall, cpu: childCpu() - cpu0, bytes: statSync(out).size };
}

async function convert(cpuLimit?: string): Promise<Timing> {
  const out = join(dir, 'out.parquet');
  if (cpuLimit === undefined) delete process.env.CNG_CPU_LIMIT;
  else process.env.CNG_CPU_LIMIT = cpuLimit;
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  await convertLayer({ source, layer: 'synthetic', resolution: 10, units: 8, upload: { out, plan: join(dir, 'plan.json') } });
  const wall = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6, bytes: statSync(out).size };
}

const best = (ts: Timing[]): Timing => ({ wall: Math.min(...ts.map((t) => t.wall)), cpu: Math.min(...ts.map((t) => t.cpu)), bytes: ts[0].bytes });
const plain: Timing[] = [];
const same: Timing[] = [];
const ours: Timing[] = [];
const oneCpu: Timing[] = [];
const FULL = ['-nlt', 'CONVERT_TO_LINEAR', '-nlt', 'PROMOTE_TO_MULTI', '-dim', 'XY', '-makevalid', '-wrapdateline'];
for (let i = 0; i < runs; i++) {
  plain.push(ogr2ogr([]));
  same.push(ogr2ogr(FULL));
  ours.push(await convert(cpuLimit));
  oneCpu.push(await convert('1000'));
}
const [p, s, o, o1] = [best(plain), best(same), best(ours), best(oneCpu)];
const row = (name: string, t: Timing) =>
  `${name.padEnd(58)}${t.wall.toFixed(2).padStart(8)}s${t.cpu.toFixed(2).padStart(8)}s${(t.bytes / 2 ** 20).toFixed(1).padStart(9)} MiB`;
console.log(`\nconvert benchmark: ${features} polygons (200–400 vertices, EPSG:5070 GPKG), best of ${runs}; ${availableParallelism()} CPUs, load average ${loadavg()[0].toFixed(1)}`);
console.log(`${''.padEnd(58)}${'wall'.padStart(9)}${'cpu'.padStart(9)}${'output'.padStart(13)}`);
console.log(row('ogr2ogr -f FlatGeobuf -t_srs EPSG:4326', p));
console.log(row('ogr2ogr -f FlatGeobuf -t_srs EPSG:4326 + convert GDAL opts', s));
console.log(row(`cng-worker convert (GeoParquet + hex plan), ${cpuLimit ? `${cpuLimit}m` : 'all'} CPUs`, o));
console.log(row('cng-worker convert, CNG_CPU_LIMIT=1000 (passes in sequence)', o1));
for (const f of ['out.fgb', 'out.parquet', 'plan.json']) rmSync(join(dir, f), { force: true });
console.log(`ratio convert / ogr2ogr: wall ${(o.wall / p.wall).toFixed(2)}× (1 CPU: ${(o1.wall / p.wall).toFixed(2)}×), cpu ${(o.cpu / p.cpu).toFixed(2)}× (target ≤ 2× wall)`);
