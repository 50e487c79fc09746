/**
 * Full-size proof, per pod (issue 12 item 3): does the largest unit of every stage fit its pod?
 *
 *   nice -n 10 npx tsx bench/scale.ts                     # full size: fee, easement, combined
 *   npx tsx bench/scale.ts --quick                        # 1% of the features (giants at 1/20)
 *   npx tsx bench/scale.ts --share 0.1 --layers combined  # any share of PAD-US
 *   npx tsx bench/scale.ts --stage hex                    # one stage kind (upstream already run)
 *   npx tsx bench/scale.ts --generate                     # only write the synthetic geodatabase
 *   options: --data DIR (default /work/scale-data), --force (measure again), --layers L1,L2,
 *   --resources hex.memory=8Gi (as the dataset file's resources), --largest-only (do not run the
 *   other units), --units 0,3 (with --stage: measure just these units)
 *
 * 1. Writes (once; cached under --data with a completion record) a File Geodatabase in USA
 *    Contiguous Albers with PAD-US 4.1's Fee, Easement and Combined layers at their real counts
 *    (bench/scale-data.ts).
 * 2. Synthesizes the PAD-US dataset file (datasets/padus-4-1.ts; with --share, its declared
 *    counts scaled) through the constructs: the real Jobs, args, completions, parallelism and
 *    pod resources. The geodatabase is put where the Jobs' --source points, in a directory store.
 * 3. Per layer, per stage (Flux's order): picks the stage's largest unit with a per-kind weight
 *    read from the hex plan (UNIT_WEIGHT), runs it alone as its pod would — the Job's container
 *    command line through bin/cng-worker.js, JOB_COMPLETION_INDEX and the Job's env, with
 *    CNG_CPU_LIMIT / CNG_MEMORY_LIMIT set from the pod's limits as the downward API sets them —
 *    under `/usr/bin/time -v` (wall, CPU-s, peak RSS) while sampling `du` of its TMPDIR; then
 *    runs the stage's other units with the local runner so the next stage has its inputs.
 * 4. Prints per stage: units, parallelism, the largest unit vs the pod (headroom = limit ÷ peak),
 *    the projected cluster wall time ceil(units ÷ parallelism) × largest unit, and the total
 *    along the stage DAG (critical path). Measurements are cached per Job name and index (names
 *    are content hashes), so a re-run only measures what changed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { synthesize, type DatasetSpec } from '../constructs/index.ts';
import { padus41 } from '../datasets/padus-4-1.ts';
import { datasetStages, jobArg, jobCommand, runStages, selectStages, targetEnv, type RunStage } from '../cli/local/runner.ts';
import { Storage } from '../worker/io/storage.ts';
import { parseQuantity } from '../worker/core/text.ts';
import { ensureScaleData, layerCount, type ScaleLayer, type ScaleOptions, scalePaths, scaleOptions } from './scale-data.ts';

const WORKER = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/cng-worker.js');

/**
 * How heavy each unit of a stage kind is, from the layer's hex plan (null: no plan yet). A stage
 * kind missing here with several units is measured at unit 0 (and says so).
 */
const UNIT_WEIGHT: Record<string, (plan: any, unit: number) => number | undefined> = {
  hex: (plan, u) => plan.workUnits?.[u] && plan.workUnits[u].estimatedCells + plan.workUnits[u].vertices,
  // Indexed repartition: a unit is a group of h0 cells with its estimated cells.
  repartition: (plan, u) => plan.repartition?.groups?.[u]?.estimatedCells,
};

// ---------------------------------------------------------------------------------------------
// Plan: the synthesized Jobs of the layers

/**
 * PAD-US 4.1's dataset file, its declared counts scaled to the share generated, with the pod
 * overrides of `--resources` (`hex.memory=8Gi,repartition.cpu=4`: the dataset file's `resources`).
 */
function datasetSpec(opts: ScaleOptions, overrides: string | undefined): DatasetSpec {
  const layers = Object.fromEntries(
    Object.entries(padus41.layers ?? {}).map(([k, l]) => [k, k in SCALED && opts.share !== 1 ? { ...l, features: layerCount(k as ScaleLayer, opts.share) } : l]),
  );
  const resources: Record<string, Record<string, string>> = structuredClone((padus41 as { resources?: Record<string, Record<string, string>> }).resources ?? {});
  for (const o of overrides?.split(',').filter(Boolean) ?? []) {
    const m = /^([a-z-]+)\.(cpu|memory|ephemeralStorage)=(\S+)$/.exec(o);
    if (!m) throw new Error(`--resources: expected <stage>.<cpu|memory|ephemeralStorage>=<value>, got '${o}'`);
    (resources[m[1]] ??= {})[m[2]] = m[3];
  }
  return { ...padus41, layers, resources } as DatasetSpec;
}

const SCALED = { fee: 1, easement: 1, combined: 1 };

/** Stages of the chosen layers (no dataset-level stages), in Flux's order. */
function layerStages(spec: DatasetSpec, layers: string[]): RunStage[] {
  const stages = datasetStages(synthesize([spec]).manifests, spec.name);
  return selectStages(stages, layers).filter((s) => s.layer !== undefined);
}

/** Global work-unit indices of a stage: [Job, index inside it, global index]. */
function units(stage: RunStage): { job: Record<string, any>; index: number; unit: number }[] {
  return stage.jobs.flatMap((job) =>
    Array.from({ length: job.spec.completions ?? 1 }, (_, index) => ({ job, index, unit: envValue(job, 'CNG_INDEX_OFFSET', 0) + index })),
  );
}

/** Pods of a stage at once: the sum over its Jobs (they are applied together). */
function parallelismOf(stage: RunStage): number {
  return stage.jobs.reduce((n, j) => n + (j.spec.parallelism ?? 1), 0);
}

function container(job: Record<string, any>): Record<string, any> {
  return job.spec.template.spec.containers[0];
}

function envValue(job: Record<string, any>, name: string, fallback: number): number {
  const e = container(job).env?.find((x: any) => x.name === name);
  return e?.value !== undefined ? Number(e.value) : fallback;
}

/** Pod limits of a Job: CPU cores, memory and scratch bytes. */
function podLimits(job: Record<string, any>): { cpu: number; memory: number; disk: number } {
  const l = container(job).resources.limits;
  return { cpu: parseQuantity(String(l.cpu)), memory: parseQuantity(String(l.memory)), disk: parseQuantity(String(l['ephemeral-storage'])) };
}

/** A unit to measure: its Job, index inside the Job, global unit index, and why it was chosen. */
interface Pick {
  job: Record<string, any>;
  index: number;
  unit: number;
  why: string;
}

/**
 * The units of a stage to measure: the heaviest by its kind's weight (the others then run through
 * the local runner), or — for a kind without a weight — every unit (the slowest is reported).
 */
function unitsToMeasure(stage: RunStage, plan: any, chosen?: number[]): { picks: Pick[]; all: boolean } {
  const all = units(stage);
  if (chosen) return { picks: all.filter((u) => chosen.includes(u.unit)).map((u) => ({ ...u, why: 'chosen (--units)' })), all: true };
  const weigh = UNIT_WEIGHT[stage.kind] as ((plan: any, unit: number) => number | undefined) | undefined;
  if (all.length === 1) return { picks: [{ ...all[0], why: 'the only unit' }], all: true };
  const weights = weigh && plan ? all.map((u) => weigh(plan, u.unit)) : [];
  if (!weights.length || weights.some((w) => !Number.isFinite(w))) return { picks: all.map((u) => ({ ...u, why: `all ${all.length} measured` })), all: true };
  let best = all[0];
  let bestW = -1;
  all.forEach((u, i) => {
    if (weights[i]! > bestW) (best = u), (bestW = weights[i]!);
  });
  return { picks: [{ ...best, why: `heaviest, weight ${Math.round(bestW).toLocaleString('en-US')}` }], all: false };
}

// ---------------------------------------------------------------------------------------------
// Measure: one unit as its pod would run it

interface Measured {
  stage: string;
  kind: string;
  job: string;
  unit: number;
  why: string;
  exit: number;
  wall: number;
  cpu: number;
  rssBytes: number;
  diskBytes: number;
  load: string;
  workerLine?: string;
}

/** The Job's env as the pod has it: values, the downward-API limits (uncapped), local storage. */
function podEnv(job: Record<string, any>, store: string, tmp: string, index: number): NodeJS.ProcessEnv {
  const env = targetEnv({ storeDir: store });
  const limits = podLimits(job);
  for (const e of container(job).env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.resourceFieldRef?.resource === 'limits.cpu') env[e.name] = String(Math.round(limits.cpu * 1000));
    else if (e.valueFrom?.resourceFieldRef?.resource === 'limits.memory') env[e.name] = String(limits.memory);
  }
  delete env.AWS_ENDPOINT_URL_S3;
  env.TMPDIR = tmp;
  env.JOB_COMPLETION_INDEX = String(index);
  return env;
}

/** Bytes under a directory (`du -sb`), 0 when it is gone. */
function du(dir: string): Promise<number> {
  return new Promise((done) => {
    const p = spawn('du', ['-sb', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', () => done(Number(out.split(/\s/)[0]) || 0));
  });
}

const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

/** Runs one unit under /usr/bin/time -v, sampling its TMPDIR every 2 s; returns the figures. */
async function measureUnit(stage: RunStage, pick: Pick, dirs: { store: string; work: string }): Promise<Measured> {
  const [, kind, ...args] = jobCommand(pick.job);
  const tag = `${pick.job.metadata.name}-${pick.index}`;
  const tmp = join(dirs.work, 'scratch', tag);
  const timeFile = join(dirs.work, 'logs', `${tag}.time`);
  const logFile = join(dirs.work, 'logs', `${tag}.log`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  mkdirSync(dirname(logFile), { recursive: true });
  const loadBefore = load();
  const started = Date.now();
  const child = spawn('/usr/bin/time', ['-v', '-o', timeFile, process.execPath, WORKER, kind, ...args], {
    env: podEnv(pick.job, dirs.store, tmp, pick.index),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const keep = (d: Buffer) => {
    const text = d.toString('utf8');
    log.push(text);
    process.stderr.write(text.split('\n').filter(Boolean).map((l) => `    | ${l}\n`).join(''));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let disk = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      disk = Math.max(disk, await du(tmp));
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  const exit: number = await new Promise((done) => child.on('close', (code) => done(code ?? 1)));
  sampling = false;
  await sampler;
  const wall = (Date.now() - started) / 1000;
  writeFileSync(logFile, log.join(''));
  const time = existsSync(timeFile) ? readFileSync(timeFile, 'utf8') : '';
  const field = (name: string) => Number(new RegExp(`${name}[^:]*:\\s*([\\d.]+)`).exec(time)?.[1] ?? NaN);
  rmSync(tmp, { recursive: true, force: true });
  return {
    stage: stage.id, kind: stage.kind, job: pick.job.metadata.name, unit: pick.unit, why: pick.why, exit, wall,
    cpu: field('User time') + field('System time'),
    rssBytes: field('Maximum resident set size') * 1024,
    diskBytes: disk,
    load: `${loadBefore} → ${load()}`,
    workerLine: log.join('').match(/cng-worker \S+: peak RSS \d+ MiB/)?.[0],
  };
}

/** Runs a stage's other units (the local runner; the measured one is marked done). */
async function runOthers(stage: RunStage, measured: { job: Record<string, any>; index: number }, dirs: { store: string; work: string }): Promise<boolean> {
  if (units(stage).length === 1) return true;
  const stateDir = join(dirs.work, 'runner');
  const marker = join(stateDir, 'done', measured.job.metadata.name, String(measured.index));
  mkdirSync(dirname(marker), { recursive: true });
  writeFileSync(marker, new Date().toISOString() + '\n');
  const [result] = await runStages({ dataset: 'padus-4-1', stages: [stage], storeDir: dirs.store, stateDir, jobs: 2 });
  return result.status === 'done' || result.status === 'skipped';
}

/**
 * Measurements by stage, work unit and pod limits. Not by Job name: every merge that changes the
 * worker image renames every Job, while a unit's work stays the same (--force measures again).
 */
class Cache {
  private readonly data: Record<string, Measured>;
  constructor(private readonly file: string) {
    this.data = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  }
  static key(stage: RunStage, p: Pick): string {
    const l = podLimits(p.job);
    return `${stage.id}#${p.unit}#${l.cpu}/${l.memory}/${l.disk}`;
  }
  get(stage: RunStage, p: Pick): Measured | undefined {
    return this.data[Cache.key(stage, p)];
  }
  set(stage: RunStage, p: Pick, m: Measured): void {
    this.data[Cache.key(stage, p)] = m;
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(this.file, JSON.stringify(this.data, null, 2));
  }
}

interface StageContext {
  dirs: { store: string; work: string };
  cache: Cache;
  /** Run only stages of this kind (others: cached figures). */
  only?: string;
  force: boolean;
  /** Measure the largest units only; the others are not run (nor, then, the stages after them). */
  largestOnly: boolean;
  /** With `only`: measure these units of that stage (nothing else runs). */
  units?: number[];
  log: (l: string) => void;
}

/** Measures a stage's largest unit (or all its units) and runs the rest; its table row. */
async function stageRow(stage: RunStage, ctx: StageContext): Promise<Row> {
  const storage = new Storage(targetEnv({ storeDir: ctx.dirs.store }));
  const planUrl = jobArg(stage.jobs[0], '--plan');
  const plan = planUrl && (await storage.exists(planUrl)) ? JSON.parse(await storage.readText(planUrl)) : undefined;
  const { picks, all } = unitsToMeasure(stage, plan, ctx.only === stage.kind ? ctx.units : undefined);
  const row: Row = {
    layer: stage.layer!, stage, units: units(stage).length, measured: [], failed: false,
    parallelism: parallelismOf(stage), limits: podLimits(picks[0].job),
  };
  const run = !ctx.only || ctx.only === stage.kind;
  for (const pick of picks) {
    let m = ctx.cache.get(stage, pick);
    if (run && (ctx.force || !m || m.exit !== 0)) {
      ctx.log(`${stage.id}: measuring unit ${pick.unit} of ${row.units} (${pick.why})`);
      m = await measureUnit(stage, pick, ctx.dirs);
      ctx.cache.set(stage, pick, m);
    }
    if (m) row.measured.push(m);
    if (m && m.exit !== 0) {
      ctx.log(`${stage.id}: unit ${pick.unit} failed (exit ${m.exit}); stages after it are not run`);
      return { ...row, failed: true };
    }
  }
  if (run && !all && ctx.largestOnly) {
    ctx.log(`${stage.id}: the other ${row.units - 1} units are not run (--largest-only): the stages after it cannot run`);
    row.failed = true;
  } else if (run && !all) {
    ctx.log(`${stage.id}: running the other ${row.units - 1} units`);
    if (!(await runOthers(stage, picks[0], ctx.dirs))) {
      ctx.log(`${stage.id}: another unit failed; stages after it are not run`);
      return { ...row, failed: true };
    }
  }
  const slowest = row.measured.reduce<Measured | undefined>((a, b) => (!a || b.wall > a.wall ? b : a), undefined);
  if (slowest && row.measured.length === picks.length) {
    const rounds = Math.ceil(row.units / row.parallelism);
    row.projected = { wall: rounds * slowest.wall, cpu: rounds * Math.max(...row.measured.map((m) => m.cpu / Math.min(row.limits.cpu, availableParallelism()))) };
  }
  return row;
}

// ---------------------------------------------------------------------------------------------
// Report

interface Row {
  layer: string;
  stage: RunStage;
  units: number;
  parallelism: number;
  limits: ReturnType<typeof podLimits>;
  /** The measured units (one, or all of a stage without a weight). */
  measured: Measured[];
  /** A unit failed, or not all were run: the stages after it are not run. */
  failed: boolean;
  /**
   * Projected cluster time of the stage: ceil(units ÷ parallelism) × the largest unit, with the
   * unit's wall time here (`wall`: this machine is shared, so an upper bound) and with its CPU
   * seconds spread over the pod's CPUs (`cpu`: a lower bound, perfect use of the pod's cores).
   */
  projected?: { wall: number; cpu: number };
}

const gib = (b: number) => (b < 2 ** 30 ? `${Math.round(b / 2 ** 20)}M` : `${(b / 2 ** 30).toFixed(1)}G`);
const ratio = (limit: number, peak: number) => (peak > 0 ? `${(limit / peak).toFixed(1)}×` : '-');
const hms = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`);

/** Longest path over the stages' dependsOn (one of the projected times), per layer. */
function criticalPath(rows: Row[], which: 'wall' | 'cpu'): number {
  const by = new Map(rows.map((r) => [r.stage.kustomization, r]));
  const memo = new Map<string, number>();
  const finish = (r: Row): number => {
    if (memo.has(r.stage.kustomization)) return memo.get(r.stage.kustomization)!;
    const before = Math.max(0, ...r.stage.dependsOn.map((d) => by.get(d)).filter((x): x is Row => !!x).map(finish));
    const t = before + (r.projected?.[which] ?? 0);
    memo.set(r.stage.kustomization, t);
    return t;
  };
  return Math.max(0, ...rows.map(finish));
}

/** The row's figures: the slowest measured unit's wall and CPU, the peaks of RSS and disk over the measured units. */
function peak(r: Row): Measured | undefined {
  if (!r.measured.length) return undefined;
  const slowest = r.measured.reduce((a, b) => (b.exit !== 0 || (a.exit === 0 && b.wall > a.wall) ? b : a));
  return {
    ...slowest,
    rssBytes: Math.max(...r.measured.map((m) => m.rssBytes)),
    diskBytes: Math.max(...r.measured.map((m) => m.diskBytes)),
  };
}

function table(rows: Row[]): string {
  const head = ['stage', 'units', 'par', 'pod cpu/mem/disk', 'largest', 'wall', 'CPU-s', 'peak RSS', 'mem headroom', 'temp disk', 'disk headroom', 'projected (wall here | CPU-s/pod CPUs)', 'load (1/5/15 before → after)'];
  const body = rows.map((r) => {
    const m = peak(r);
    return [
      r.stage.id, String(r.units), String(r.parallelism), `${r.limits.cpu}/${gib(r.limits.memory)}/${gib(r.limits.disk)}`,
      m ? `#${m.unit} (${m.why})` : 'not run', m ? (m.exit === 0 ? hms(m.wall) : `FAILED ${m.exit}`) : '-', m ? m.cpu.toFixed(0) : '-',
      m ? gib(m.rssBytes) : '-', m ? ratio(r.limits.memory, m.rssBytes) : '-', m ? gib(m.diskBytes) : '-', m ? ratio(r.limits.disk, m.diskBytes) : '-',
      r.projected ? `${hms(r.projected.wall)} | ${hms(r.projected.cpu)}` : '-', m?.load ?? '',
    ];
  });
  const all = [head, ...body];
  const w = head.map((_, c) => Math.max(...all.map((x) => x[c].length)));
  const fmt = (x: string[]) => x.map((v, c) => (c === 0 || c === 4 || c === 12 ? v.padEnd(w[c]) : v.padStart(w[c]))).join('  ');
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(fmt)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' }, quick: { type: 'boolean' }, share: { type: 'string' }, stage: { type: 'string' },
      layers: { type: 'string' }, generate: { type: 'boolean' }, force: { type: 'boolean' }, resources: { type: 'string' },
      'largest-only': { type: 'boolean' }, units: { type: 'string' },
    },
  });
  const opts = scaleOptions(values.quick ? 0.01 : Number(values.share ?? 1));
  const dataDir = resolve(values.data ?? '/work/scale-data');
  const log = (l: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${l}\n`);
  const record = await ensureScaleData(dataDir, opts, log);
  log(`data: ${Object.values(record.layers).map((l) => `${l.name} ${l.features} features, ${(l.vertices / 1e6).toFixed(1)} M vertices, ${Math.round(l.areaKm2)} km²`).join('; ')}`);
  if (values.generate) return;

  const { gdb, root } = scalePaths(dataDir, opts);
  const store = join(root, 'store');
  const dirs = { store, work: join(root, 'bench') };
  const spec = datasetSpec(opts, values.resources);
  const layers = (values.layers ?? 'combined,fee,easement').split(',');
  const stages = layerStages(spec, layers);
  // The Jobs read the dataset file's source: the synthetic geodatabase is put there.
  const source = new Storage(targetEnv({ storeDir: store })).resolve(jobArg(stages.find((s) => s.kind === 'convert')?.jobs[0], '--source')!);
  if (source.kind !== 'file') throw new Error('expected a directory-store source');
  if (!existsSync(source.path)) (mkdirSync(dirname(source.path), { recursive: true }), symlinkSync(gdb, source.path));

  const cache = new Cache(join(dirs.work, 'measured.json'));
  const rows: Row[] = [];
  // A stage whose units did not all complete blocks the stages after it (the other layers go on).
  const blocked = new Set<string>();
  for (const stage of stages) {
    if (stage.dependsOn.some((d) => blocked.has(d))) {
      blocked.add(stage.kustomization);
      rows.push({ layer: stage.layer!, stage, units: units(stage).length, measured: [], failed: true, parallelism: parallelismOf(stage), limits: podLimits(stage.jobs[0]) });
      continue;
    }
    const row = await stageRow(stage, { dirs, cache, only: values.stage, force: Boolean(values.force), largestOnly: Boolean(values['largest-only']), units: values.units?.split(',').map(Number), log });
    rows.push(row);
    if (row.failed) blocked.add(stage.kustomization);
  }

  const share = opts.share === 1 ? 'full size' : `${opts.share * 100}% of PAD-US's features, giants at ${opts.giantScale}×`;
  console.log(`\nbench/scale.ts — ${share}; pods from datasets/padus-4-1.ts via the constructs; load average now ${load()} (2 cores shared)\n`);
  for (const layer of layers) {
    const lr = rows.filter((r) => r.layer === layer);
    const rec = record.layers[layer as ScaleLayer];
    if (!lr.length) continue;
    console.log(`${layer}: ${rec ? `${rec.features.toLocaleString('en-US')} features, ${(rec.vertices / 1e6).toFixed(1)} M vertices, ${Math.round(rec.areaKm2).toLocaleString('en-US')} km²` : ''}`);
    console.log(table(lr));
    console.log(`projected ${layer} time along the stage DAG (critical path of ceil(units ÷ par) × largest unit): ${hms(criticalPath(lr, 'wall'))} with wall times here, ${hms(criticalPath(lr, 'cpu'))} with CPU-s ÷ pod CPUs\n`);
  }
  const low = rows.filter((r) => peak(r) && r.limits.memory / peak(r)!.rssBytes < 1.5);
  console.log(low.length ? `below 1.5× memory headroom: ${low.map((r) => `${r.stage.id} (${ratio(r.limits.memory, peak(r)!.rssBytes)})`).join(', ')}` : 'every measured stage has ≥ 1.5× memory headroom');
}

await main();
