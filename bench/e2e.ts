/**
 * Benchmark: the whole vector pipeline end to end (`cng local` = the local runner over the same
 * constructs and worker as the cluster) on the PAD-US-shaped sample at several sizes. Prints, per
 * size: per-stage seconds (sum over layers and indices) and peak RSS of any one worker process,
 * features/s and cells/s overall; and the Fee layer's tiles stages (one unit + merge) against plain
 * `ogr2ogr -f MVT` of the same layer at the same zooms (0–14), each run alone after the pipeline.
 * bench/tiles.ts compares the tiles stages with tippecanoe's CPU time.
 *
 *   npx tsx bench/e2e.ts [--sizes 2000,20000] [--jobs 2] [--big-vertices 200000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '2000,20000' },
    jobs: { type: 'string', default: '2' },
    'big-vertices': { type: 'string', default: '200000' },
  },
});
const CNG = resolve(import.meta.dirname, '../bin/cng.js');

function cng(args: string[]) {
  const t = Date.now();
  const r = spawnSync(process.execPath, [CNG, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`cng ${args.join(' ')} failed:\n${r.stderr.slice(-3000)}`);
  return { seconds: (Date.now() - t) / 1000, stdout: r.stdout, stderr: r.stderr };
}

console.log(`bench/e2e: sizes ${values.sizes}, ${values.jobs} worker processes at once, node ${process.version}`);
for (const n of values.sizes!.split(',').map(Number)) {
  const dir = mkdtempSync(join(tmpdir(), `cng-bench-e2e-${n}-`));
  const gdb = join(dir, 'padus.gdb');
  const sample = cng(['sample', 'padus', '--out', gdb, '--features', String(n), '--big-vertices', values['big-vertices']!, '--json']);
  const out = join(dir, 'out');
  const run = cng(['local', gdb, '--out', out, '--jobs', values.jobs!]);

  // Per stage kind: seconds (from each index's "in X s"/process lifetime is not logged: use the
  // runner's per-stage table) and peak RSS from the worker's closing line.
  const logs = join(out, '.cng-run', 'logs');
  const rss = new Map<string, number>();
  for (const f of readdirSync(logs)) {
    const m = /peak RSS (\d+) MiB/.exec(readFileSync(join(logs, f), 'utf8'));
    const stage = /-(convert|hex|repartition|tiles-merge|tiles|table|setup-bucket)(-p\d+)?-r\d+-/.exec(f)?.[1] ?? 'other';
    if (m) rss.set(stage, Math.max(rss.get(stage) ?? 0, Number(m[1])));
  }
  const seconds = new Map<string, number>();
  const header = run.stdout.split('\n').find((l) => l.startsWith('layer'));
  const cols = header?.trim().split(/\s{2,}/) ?? [];
  let features = 0;
  let cells = 0;
  for (const line of run.stdout.split('\n')) {
    const f = line.trim().split(/\s{2,}/);
    if (f.length !== cols.length || f[0] === 'layer' || /^-+$/.test(f[0])) continue;
    features += Number(f[cols.indexOf('features')]) || 0;
    cells += Number(f[cols.indexOf('cells')]) || 0;
    for (const [k, name] of [['convert s', 'convert'], ['hex s', 'hex'], ['repart. s', 'repartition'], ['tiles s', 'tiles']] as const)
      seconds.set(name, (seconds.get(name) ?? 0) + (Number(f[cols.indexOf(k)]) || 0));
  }
  console.log(`\n== sample --features ${n}: ${features} features in ${JSON.parse(sample.stdout).layers ? 'all layers' : ''}, sample written in ${sample.seconds.toFixed(1)} s`);
  console.log(`end to end: ${run.seconds.toFixed(1)} s wall, ${(features / run.seconds).toFixed(0)} features/s, ${(cells / run.seconds).toFixed(0)} cells/s (${cells} res-10 cells)`);
  console.log('stage         seconds (sum over layers)   peak RSS of one worker process (reused across indices)');
  for (const s of ['convert', 'hex', 'repartition', 'tiles', 'table'])
    console.log(`${s.padEnd(14)}${(seconds.get(s)?.toFixed(1) ?? '-').padStart(10)}   ${String(rss.get(s) ?? '-').padStart(26)} MiB`);
  // The Fee layer's pmtiles stage again, alone (in the run it shared the CPUs with other stages),
  // then the baseline: GDAL's own MVT writer on the same layer, straight from the geodatabase.
  const feeParquet = readdirSync(out).find((f) => /fee\.parquet$/.test(f))!;
  const zooms = ['--layer-name', 'fee', '--min-zoom', '0', '--max-zoom', '14', '--units', '1', '--parts', join(dir, 'fee-parts')];
  const unit = cng(['worker', 'tiles', '--input', join(out, feeParquet), ...zooms, '--index', '0']);
  const merge = cng(['worker', 'tiles-merge', ...zooms, '--out', join(dir, 'fee-alone.pmtiles')]);
  const stage = { seconds: unit.seconds + merge.seconds };
  const t = Date.now();
  const ogr = spawnSync('ogr2ogr', ['-f', 'MVT', '-dsco', 'MINZOOM=0', '-dsco', 'MAXZOOM=14', '-dsco', 'FORMAT=DIRECTORY', join(dir, 'ogr-mvt'), gdb, 'PADUS4_1Fee'], { encoding: 'utf8' });
  const ogrSeconds = (Date.now() - t) / 1000;
  if (ogr.status !== 0) console.log(`ogr2ogr -f MVT failed: ${ogr.stderr.slice(-500)}`);
  else
    console.log(
      `Fee layer, zooms 0–14, each alone: tiles + tiles-merge ${stage.seconds.toFixed(1)} s, ogr2ogr -f MVT ${ogrSeconds.toFixed(1)} s → ${(stage.seconds / ogrSeconds).toFixed(2)}× (target ≤ 1.5×)`,
    );
  rmSync(dir, { recursive: true, force: true });
}
