/**
 * Benchmark of the points stages (prints figures; not a test): one points-hex work unit at GBIF's
 * real size — 25 files of ~550,000 rows (GBIF's 2025-06 snapshot: ~2.5 B rows in ~4,600 files) —
 * and the repartition of what it wrote, each run as the Jobs run them (the worker CLI, niced) under
 * the pods' limits and measured with `/usr/bin/time -v` (wall time, peak RSS). Prints rows/s, RSS
 * against the limit, and the projected cluster time for 2.5 B rows.
 *
 *   npx tsx bench/points.ts                         # 25 files × 550,000 rows
 *   npx tsx bench/points.ts --files 4 --rows 100000 # a quick look
 *
 * The files are generated locally with DuckDB (GBIF-like columns: ids, names, codes, dates, the two
 * coordinates, ~1% bad coordinates), in the directory store, so no download is measured: on the
 * cluster, add the transfer of ~25 × the file size per unit from AWS.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { pointsSizing } from '../constructs/points.ts';

const text = (d: string) => ({ type: 'string' as const, default: d });
const { values } = parseArgs({ options: { files: text('25'), rows: text('550000'), pods: text('184'), keep: { type: 'boolean' as const, default: false } } });
const ROOT = resolve(import.meta.dirname, '..');
const FILES = Number(values.files);
const ROWS = Number(values.rows);
const GBIF = { rows: 2_500_000_000, files: 4600 };
const sizing = pointsSizing({ ...GBIF, filesPerUnit: 25 });
const limitBytes = (q: string) => Number(q.replace('Gi', '')) * 2 ** 30;
const HEX_POD = { CNG_CPU_LIMIT: '2000', CNG_MEMORY_LIMIT: String(limitBytes(sizing.hex.memory)) };
const REP_POD = { CNG_CPU_LIMIT: '2000', CNG_MEMORY_LIMIT: String(limitBytes(sizing.repartition.memory)) };

/** Runs the worker niced under /usr/bin/time -v with a pod's limits: wall seconds and peak RSS (MiB). */
function measured(args: string[], env: NodeJS.ProcessEnv): { seconds: number; cpu: number; rssMiB: number } {
  const r = spawnSync('/usr/bin/time', ['-v', 'nice', '-n', '10', process.execPath, join(ROOT, 'bin/cng-worker.js'), ...args], {
    encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`${args[0]} failed:\n${r.stderr.slice(-3000)}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]) / 1024;
  const [, h, m, s] = /Elapsed \(wall clock\) time.*?: (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr) ?? [];
  const cpu = ['User', 'System'].reduce((n, k) => n + Number(new RegExp(`${k} time \\(seconds\\): ([\\d.]+)`).exec(r.stderr)?.[1] ?? 0), 0);
  return { seconds: Number(h ?? 0) * 3600 + Number(m) * 60 + Number(s), cpu, rssMiB: rss };
}

async function generate(dir: string): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const db = await (await DuckDBInstance.create(':memory:', { threads: '1' })).connect();
  for (let f = 0; f < FILES; f++)
    await db.run(`COPY (SELECT ${f}::BIGINT * ${ROWS} + i AS gbifid, 'dataset-' || (i % 500) AS datasetkey, 'Species ' || hash(i % 90000) % 1000000 AS species,
        'Genus ' || (i % 9000) AS genus, 'Familia ' || (i % 900) AS family, ['US','DE','FR','GB','AU','BR','SE','NL'][1 + i % 8] AS countrycode,
        ['HUMAN_OBSERVATION','PRESERVED_SPECIMEN','OCCURRENCE'][1 + i % 3] AS basisofrecord, (1900 + i % 125)::INTEGER AS year,
        DATE '2000-01-01' + (i % 9000)::INTEGER AS eventdate, (i % 1000)::DOUBLE AS coordinateuncertaintyinmeters,
        CASE WHEN i % 97 = 0 THEN NULL WHEN i % 389 = 0 THEN 0 ELSE ((hash(i + ${f} * 7) % 3600000) / 10000.0 - 180) END AS decimallongitude,
        CASE WHEN i % 97 = 0 THEN NULL WHEN i % 389 = 0 THEN 0 ELSE ((hash(i * 31 + ${f}) % 1700000) / 10000.0 - 85) END AS decimallatitude
      FROM range(${ROWS}) t(i)) TO '${join(dir, `${String(f).padStart(6, '0')}.parquet`)}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)`);
  db.closeSync();
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

const data = mkdtempSync(join(tmpdir(), 'cng-bench-points-'));
const store = join(data, 'store');
const env = { CNG_STORAGE_DIR: store, TMPDIR: join(data, 'scratch') };
mkdirSync(env.TMPDIR, { recursive: true });
try {
  process.stderr.write(`generating ${FILES} files × ${ROWS} rows …\n`);
  const bytes = await generate(join(store, 'src/occurrence'));
  const cells = ['--resolution', '10', '--chunks', 's3://out/w/chunks', '--units', '1'];
  const hex = measured(['points-hex', '--source', 's3://src/occurrence/*', '--lon', 'decimallongitude', '--lat', 'decimallatitude', ...cells, '--index', '0'], { ...env, ...HEX_POD });
  const report = JSON.parse(readFileSync(join(store, 'out/w/chunks/_units/unit-000000.json'), 'utf8'));
  const rep = measured(['points-repartition', ...cells, '--repartition-units', '1', '--staged-hex', 's3://out/w/hex', '--reports', 's3://out/w/rep', '--index', '0'], { ...env, ...REP_POD });
  const rows = FILES * ROWS;
  // The machine is shared: rates per CPU-second (user + system) are what a pod of its own gets,
  // as long as one thread dominates (h3-js runs on one; DuckDB's parts use the pod's two).
  const hexRate = rows / hex.cpu;
  const repRate = report.written / rep.cpu;
  const pods = Math.min(Number(values.pods), sizing.units);
  const hexHours = (Math.ceil(sizing.units / pods) * (GBIF.rows / sizing.units)) / hexRate / 3600;
  // Repartition: the largest h0 group bounds the stage (assumed POINT_MAX_H0_SHARE = 15% of the rows in one pod).
  const repHours = (0.15 * GBIF.rows) / repRate / 3600;
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  const out = [
    `points-hex unit: ${FILES} files × ${ROWS} rows = ${rows} rows (${mib(bytes)} MiB Parquet), ${report.written} written, bad ${JSON.stringify(report.bad)}`,
    `  ${hex.seconds.toFixed(1)} s wall on a shared machine, ${hex.cpu.toFixed(1)} s CPU: ${Math.round(hexRate).toLocaleString('en-US')} rows per CPU-second, peak RSS ${hex.rssMiB.toFixed(0)} MiB of the pod's ${sizing.hex.memory} (${((hex.rssMiB / (limitBytes(sizing.hex.memory) / 2 ** 20)) * 100).toFixed(0)}%)`,
    `points-repartition of that unit's ${report.written} rows (${Object.keys(report.h0).length} h0 cells, one pod): ${rep.seconds.toFixed(1)} s wall, ${rep.cpu.toFixed(1)} s CPU: ${Math.round(repRate).toLocaleString('en-US')} rows per CPU-second, peak RSS ${rep.rssMiB.toFixed(0)} MiB of ${sizing.repartition.memory}`,
    `projection for GBIF (${GBIF.rows.toLocaleString('en-US')} rows, ${GBIF.files} files, ${sizing.units} units of 25 files, ${pods} pods at once, at the CPU-second rates; no download time):`,
    `  points-hex ≈ ${hexHours.toFixed(2)} h (${Math.ceil(sizing.units / pods)} wave(s) of ${(GBIF.rows / sizing.units / hexRate / 60).toFixed(1)} min)`,
    `  points-repartition ≈ ${repHours.toFixed(2)} h for the largest group (15% of the rows in one h0 cell, ${sizing.repartitionUnits} units, ${sizing.repartition.memory} / ${sizing.repartition.ephemeralStorage} scratch)`,
  ];
  process.stdout.write(out.join('\n') + '\n');
} finally {
  if (!values.keep) rmSync(data, { recursive: true, force: true });
}
