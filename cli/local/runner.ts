import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Manifests } from '../../constructs/index.ts';
import { Storage } from '../../worker/io/storage.ts';
import { CommandError } from '../../worker/core/errors.ts';
import { parseQuantity, plural } from '../../worker/core/text.ts';
import { claimScratch, releaseScratch } from './workdirs.ts';
import { useIndependentCounts } from './layer-counts.ts';

/**
 * The local runner: executes a dataset's synthesized Jobs on this machine, in the order Flux would
 * (the stage Kustomizations' dependsOn), each Indexed Job once per index with JOB_COMPLETION_INDEX
 * and the Job's own env — the same container command line, run as `node bin/cng-worker.js`.
 * Cluster specifics are mapped: secrets → this process's AWS_* variables, the internal S3 endpoint
 * → the local target (a directory store, or --s3-endpoint), resource limits → capped by this machine.
 */

const WORKER = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/cng-worker.js');

/** One stage (Kustomization) with its Jobs. */
export interface RunStage {
  readonly id: string;
  readonly kustomization: string;
  readonly kind: string;
  readonly layer?: string;
  readonly dependsOn: string[];
  readonly jobs: Record<string, any>[];
}

/** The stages of one dataset from manifests, in a valid (topological) order. */
export function datasetStages(manifests: Manifests, dataset: string): RunStage[] {
  const ks = manifests.get(`flux/${dataset}.yaml`);
  if (!ks) {
    const known = [...manifests.keys()].filter((p) => p.startsWith('flux/')).map((p) => p.slice(5, -5));
    throw new CommandError(`no dataset '${dataset}' in the manifests; known: ${known.join(', ') || '(none — run cng synth)'}`);
  }
  const stages: RunStage[] = ks.map((k) => {
    const id = String(k.spec.path).split('/').pop()!;
    return {
      id,
      kustomization: k.metadata.name,
      kind: k.metadata.labels?.['cng/stage'] ?? id,
      layer: k.metadata.labels?.['cng/layer'],
      dependsOn: (k.spec.dependsOn ?? []).map((d: any) => d.name),
      jobs: (manifests.get(`${dataset}/${id}/manifest.yaml`) ?? []).filter((o) => o.kind === 'Job'),
    };
  });
  return topoSort(stages);
}

function topoSort(stages: RunStage[]): RunStage[] {
  const byName = new Map(stages.map((s) => [s.kustomization, s]));
  const out: RunStage[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: RunStage) => {
    if (state.get(s.kustomization) === 'done') return;
    if (state.get(s.kustomization) === 'visiting') throw new CommandError(`dependsOn cycle through ${s.kustomization}`);
    state.set(s.kustomization, 'visiting');
    for (const d of s.dependsOn) if (byName.has(d)) visit(byName.get(d)!);
    state.set(s.kustomization, 'done');
    out.push(s);
  };
  stages.forEach(visit);
  return out;
}

/** Keeps the named layers' and tables' stages (and what they depend on). */
export function selectStages(stages: RunStage[], names: string[] | undefined): RunStage[] {
  if (!names?.length) return stages;
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const matches = (s: RunStage) =>
    (s.layer !== undefined && wanted.has(s.layer.toLowerCase())) ||
    (s.kind === 'table' && (wanted.has(s.id.replace(/^table-/, '')) || s.jobs.some((j) => wanted.has(tableName(j)?.toLowerCase() ?? ''))));
  const keep = new Set(stages.filter(matches).map((s) => s.kustomization));
  const unknown = names.filter((n) => !stages.some((s) => s.layer?.toLowerCase() === n.toLowerCase() || (s.kind === 'table' && (s.id === `table-${n.toLowerCase()}` || s.jobs.some((j) => tableName(j)?.toLowerCase() === n.toLowerCase())))));
  if (unknown.length) {
    const layers = [...new Set(stages.map((s) => s.layer).filter(Boolean))];
    const tables = stages.filter((s) => s.kind === 'table').map((s) => tableName(s.jobs[0]) ?? s.id);
    throw new CommandError(`unknown layer(s) ${unknown.join(', ')}; layers: ${layers.join(', ')}; tables: ${tables.join(', ') || '(none)'}`);
  }
  const byName = new Map(stages.map((s) => [s.kustomization, s]));
  const add = (n: string) => {
    for (const d of byName.get(n)?.dependsOn ?? []) if (!keep.has(d)) (keep.add(d), add(d));
  };
  [...keep].forEach(add);
  return stages.filter((s) => keep.has(s.kustomization));
}

function tableName(job: Record<string, any> | undefined): string | undefined {
  return jobArg(job, '--layer');
}

/** A Job's container command line (`cng-worker <stage> --flag value ...`); empty without a Job. */
export function jobCommand(job: Record<string, any> | undefined): string[] {
  return job?.spec?.template?.spec?.containers?.[0]?.command ?? [];
}

/** The value of `flag` on a Job's command line, if given. */
export function jobArg(job: Record<string, any> | undefined, flag: string): string | undefined {
  const cmd = jobCommand(job);
  const i = cmd.indexOf(flag);
  return i >= 0 ? cmd[i + 1] : undefined;
}

export interface RunOptions {
  readonly dataset: string;
  readonly stages: RunStage[];
  /** Directory store root (`s3://bucket/key` → `<storeDir>/bucket/key`) unless s3Endpoint is set. */
  readonly storeDir?: string;
  /** An S3 endpoint to use instead of the directory store (credentials from AWS_* env). */
  readonly s3Endpoint?: string;
  /** Where logs and completion markers live. */
  readonly stateDir: string;
  /** Processes at once. @default CPU count */
  readonly jobs?: number;
  /** Redo completed work. @default false */
  readonly force?: boolean;
  /** Progress output stream. @default process.stderr */
  readonly out?: NodeJS.WriteStream;
}

export interface StageResult {
  readonly stage: RunStage;
  readonly status: 'done' | 'skipped' | 'failed' | 'blocked';
  readonly seconds: number;
  readonly indices: number;
  readonly ran: number;
}

/** Runs the stages, each convert checked against GDAL's own count of its layer (layer-counts.ts); returns per-stage results (throws nothing for a failed index: see status). */
export async function runStages(opts: RunOptions): Promise<StageResult[]> {
  await useIndependentCounts(opts.stages, targetEnv(opts));
  const run = new Run(opts);
  const scratch = join(opts.stateDir, 'scratch');
  const cleaned = claimScratch(scratch);
  if (cleaned) run.line(`cng run: ${cleaned}`);
  try {
    const results = await scheduleStages(run);
    reportFailures(run.out, run.failures, results);
    return opts.stages.map((s) => results.get(s.kustomization)!);
  } finally {
    releaseScratch(scratch);
  }
}

/** A stage's first failed index: no stage starts after a failure. */
interface Failure {
  stage: RunStage;
  index: number;
  job: string;
  log: string;
}

/** One index of one Job. */
interface Task {
  job: Record<string, any>;
  index: number;
}

/** What all stages of one run share: the options, the progress output, the process slots and the failures. */
class Run {
  readonly out: NodeJS.WriteStream;
  readonly tty: boolean;
  /** Worker processes at once, over all stages. */
  readonly maxProcs: number;
  readonly storage: Storage;
  /** Each failed stage's first failed index, in the order they failed (stages running at once may all fail). */
  readonly failures: Failure[] = [];
  /** The process slots, with a lane for heavy stages. */
  readonly slots: Slots;

  constructor(readonly opts: RunOptions) {
    this.out = opts.out ?? process.stderr;
    this.tty = Boolean(this.out.isTTY);
    this.maxProcs = Math.max(1, opts.jobs ?? availableParallelism());
    this.slots = new Slots(this.maxProcs);
    this.storage = new Storage(targetEnv(opts));
  }

  /** The first failure, if any: once set, no further stage or index starts. */
  get failed(): Failure | undefined {
    return this.failures[0];
  }

  /** Records a stage's failed index (only its first one). */
  fail(f: Failure): void {
    if (!this.failures.some((x) => x.stage === f.stage)) this.failures.push(f);
  }

  line(text: string, transient = false): void {
    line(this.out, this.tty, text, transient);
  }

  /** Where an index's completion marker is. */
  marker(t: Task): string {
    return join(this.opts.stateDir, 'done', t.job.metadata.name, String(t.index));
  }
}

/**
 * Stage kinds whose single index can run for many minutes (tiling a whole layer, writing a COG).
 * They share at most `maxProcs - 1` process slots (all of them with one slot), so short stages —
 * other layers' convert, hex and repartition, tables — never wait behind two long tile jobs.
 */
export const HEAVY_KINDS = new Set(['pmtiles', 'tiles', 'tiles-merge', 'cog']);

/**
 * Worker process slots: at most `max` at once, heavy ones at most `heavyMax`
 * (default `max - 1`, at least 1). A freed slot goes to the longest-waiting light index first,
 * then to a heavy one if the heavy lane has room.
 */
export class Slots {
  private running = 0;
  private heavyRunning = 0;
  private readonly waiting: { heavy: boolean; go: () => void }[] = [];

  constructor(
    readonly max: number,
    readonly heavyMax = Math.max(1, max - 1),
  ) {}

  /** Waits for a slot (those still waiting when one is free are heavy ones the heavy lane has no room for). */
  acquire(heavy: boolean): Promise<void> {
    if (this.fits(heavy)) return Promise.resolve(this.take(heavy));
    return new Promise<void>((go) => this.waiting.push({ heavy, go }));
  }

  release(heavy: boolean): void {
    this.running--;
    if (heavy) this.heavyRunning--;
    for (;;) {
      const i = [this.waiting.findIndex((w) => !w.heavy), this.waiting.findIndex((w) => w.heavy)].find((j) => j >= 0 && this.fits(this.waiting[j].heavy));
      if (i === undefined) return;
      const [w] = this.waiting.splice(i, 1);
      this.take(w.heavy);
      w.go();
    }
  }

  /** Slots in use: all, and heavy. */
  get inUse(): { all: number; heavy: number } {
    return { all: this.running, heavy: this.heavyRunning };
  }

  private fits(heavy: boolean): boolean {
    return this.running < this.max && (!heavy || this.heavyRunning < this.heavyMax);
  }

  private take(heavy: boolean): void {
    this.running++;
    if (heavy) this.heavyRunning++;
  }
}

/** Starts each stage as soon as everything it depends on (within this run) has finished; results by Kustomization. */
async function scheduleStages(run: Run): Promise<Map<string, StageResult>> {
  const results = new Map<string, StageResult>();
  const pending = new Map(run.opts.stages.map((s) => [s.kustomization, s]));
  const inSet = new Set(run.opts.stages.map((s) => s.kustomization));
  const inflight = new Map<string, Promise<void>>();
  const launch = (): void => {
    for (const [name, stage] of pending) {
      const deps = stage.dependsOn.filter((d) => inSet.has(d));
      if (deps.some((d) => !results.has(d))) continue;
      pending.delete(name);
      const blocked = run.failed || deps.some((d) => ['failed', 'blocked'].includes(results.get(d)!.status));
      if (blocked) {
        results.set(name, { stage, status: 'blocked', seconds: 0, indices: 0, ran: 0 });
        continue;
      }
      inflight.set(
        name,
        runStage(run, stage).then((r) => {
          results.set(name, r);
          inflight.delete(name);
          launch();
        }),
      );
    }
  };
  launch();
  while (inflight.size) await Promise.race(inflight.values());
  for (const [name, stage] of pending) results.set(name, { stage, status: 'blocked', seconds: 0, indices: 0, ran: 0 });
  return results;
}

/** Runs a stage's indices not yet complete (all of them with `force`), at most `maxProcs` at once. */
async function runStage(run: Run, stage: RunStage): Promise<StageResult> {
  const started = Date.now();
  const tasks: Task[] = [];
  for (const job of stage.jobs) for (let i = 0; i < (job.spec.completions ?? 1); i++) tasks.push({ job, index: i });
  const todo: Task[] = [];
  for (const t of tasks) if (run.opts.force || !(existsSync(run.marker(t)) && (await outputsExist(run.storage, t.job, t.index)))) todo.push(t);
  if (todo.length === 0) {
    run.line(`${stage.id}: complete, skipped (${plural(tasks.length, 'index', 'indices')})`);
    return { stage, status: 'skipped', seconds: 0, indices: tasks.length, ran: 0 };
  }
  const progress = new StageProgress(run, stage, started, tasks.length, tasks.length - todo.length);
  progress.report();
  const queue = [...todo];
  await Promise.all(Array.from({ length: Math.min(run.maxProcs, todo.length) }, () => runLane(run, stage, queue, progress)));
  const seconds = progress.seconds();
  const failure = run.failures.find((f) => f.stage === stage);
  if (failure) {
    run.line(`${stage.id}: FAILED at work unit ${failure.index} after ${seconds.toFixed(1)}s`);
    return { stage, status: 'failed', seconds, indices: tasks.length, ran: progress.done };
  }
  if (progress.done < tasks.length) {
    // Another stage failed while this one waited for process slots: its remaining indices never ran.
    run.line(`${stage.id}: stopped at ${progress.done}/${plural(tasks.length, 'index', 'indices')} (stage ${run.failed?.stage.id} failed)`);
    return { stage, status: 'blocked', seconds, indices: tasks.length, ran: progress.done };
  }
  const how = todo.length > 1 ? ` (${todo.length} indices in ${plural(progress.processes, 'worker process', 'worker processes')})` : '';
  run.line(`${stage.id}: done in ${seconds.toFixed(1)}s${how}`);
  return { stage, status: 'done', seconds, indices: tasks.length, ran: todo.length };
}

/** A stage's progress: indices done (with an ETA), its clock and the worker processes it started. */
class StageProgress {
  private firstSlot = true;
  done: number;
  processes = 0;

  constructor(
    private readonly run: Run,
    private readonly stage: RunStage,
    /** A stage's clock starts when its first index gets a process slot, not while it waits for one. */
    private started: number,
    private readonly total: number,
    private readonly complete: number,
  ) {
    this.done = complete;
  }

  slotTaken(): void {
    if (this.firstSlot) (this.firstSlot = false), (this.started = Date.now());
  }

  indexDone(): void {
    this.done++;
    this.report();
  }

  seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  report(): void {
    const secs = this.seconds();
    const ran = this.done - this.complete;
    const eta = ran > 0 && this.done < this.total ? `, ETA ${Math.ceil((secs / ran) * (this.total - this.done))}s` : '';
    this.run.line(`${this.stage.id}: ${this.done}/${plural(this.total, 'index', 'indices')} done${eta}`, this.done < this.total);
  }
}

/**
 * One lane of a stage: a worker process reused for index after index of the same Job, taking
 * indices from the shared queue until it is empty or an index failed (a process slot is held only
 * while an index runs).
 */
async function runLane(run: Run, stage: RunStage, queue: Task[], progress: StageProgress): Promise<void> {
  let worker: WorkerProcess | undefined;
  try {
    for (let t = queue.shift(); t && !run.failed; t = queue.shift()) {
      await run.slots.acquire(HEAVY_KINDS.has(stage.kind));
      progress.slotTaken();
      try {
        if (run.failed) return;
        if (worker?.job !== t.job) {
          await worker?.close();
          worker = new WorkerProcess(t.job, run.opts, () => progress.processes++);
        }
        const log = join(run.opts.stateDir, 'logs', `${t.job.metadata.name}-${t.index}.log`);
        const tmp = join(run.opts.stateDir, 'scratch', `${t.job.metadata.name}-${t.index}`);
        const code = await worker.run(t.index, log, tmp);
        if (code !== 0) {
          run.fail({ stage, index: offset(t.job) + t.index, job: t.job.metadata.name, log });
          return;
        }
        mkdirSync(dirname(run.marker(t)), { recursive: true });
        writeFileSync(run.marker(t), new Date().toISOString() + '\n');
        progress.indexDone();
      } finally {
        run.slots.release(HEAVY_KINDS.has(stage.kind));
      }
    }
  } finally {
    await worker?.close();
  }
}

/** Which index of each failed stage failed, its last log lines, and the stages not started because of them. */
function reportFailures(out: NodeJS.WriteStream, failures: Failure[], results: Map<string, StageResult>): void {
  if (!failures.length) return;
  for (const failed of failures) {
    const tail = existsSync(failed.log) ? readFileSync(failed.log, 'utf8').trimEnd().split('\n').slice(-20) : [];
    out.write(
      `\ncng run: stage ${failed.stage.id} failed at work unit ${failed.index} (Job ${failed.job}).\n` +
        `Last log lines (${failed.log}):\n${tail.map((l) => `  | ${l}`).join('\n')}\n`,
    );
  }
  const blocked = [...results.values()].filter((r) => r.status === 'blocked').map((r) => r.stage.id);
  if (blocked.length) out.write(`Not started because of ${failures.length > 1 ? 'them' : 'it'}: ${blocked.join(', ')}\n`);
}

function offset(job: Record<string, any>): number {
  const e = job.spec.template.spec.containers[0].env?.find((x: any) => x.name === 'CNG_INDEX_OFFSET');
  return Number(e?.value ?? 0);
}

/** The storage environment of the local target. */
export function targetEnv(opts: Pick<RunOptions, 'storeDir' | 's3Endpoint'>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CNG_STORAGE_DIR;
  if (opts.s3Endpoint) env.AWS_ENDPOINT_URL_S3 = opts.s3Endpoint;
  else env.CNG_STORAGE_DIR = resolve(opts.storeDir!);
  return env;
}

/** The Job's container command line and env, mapped to this machine (all but the index). */
function jobProcess(job: Record<string, any>, opts: RunOptions): { args: string[]; env: NodeJS.ProcessEnv } {
  const c = job.spec.template.spec.containers[0];
  const [bin, ...args] = c.command as string[];
  if (bin !== 'cng-worker') throw new CommandError(`Job ${job.metadata.name}: container command '${bin}' is not cng-worker`);
  const env = targetEnv(opts);
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      // Secrets map to this process's own variables (unset in directory-store mode: not needed).
      if (process.env[e.name] !== undefined) env[e.name] = process.env[e.name];
    } else if (e.valueFrom?.resourceFieldRef) {
      const limits = c.resources?.limits ?? {};
      if (e.valueFrom.resourceFieldRef.resource === 'limits.cpu')
        env[e.name] = String(Math.min(parseQuantity(String(limits.cpu ?? '1')), availableParallelism()) * 1000);
      if (e.valueFrom.resourceFieldRef.resource === 'limits.memory')
        env[e.name] = String(Math.min(parseQuantity(String(limits.memory ?? '1Gi')), Math.floor(totalmem() / 2)));
    }
  }
  // The cluster endpoint means "the object store": the local target.
  if (opts.s3Endpoint) env.AWS_ENDPOINT_URL_S3 = opts.s3Endpoint;
  else delete env.AWS_ENDPOINT_URL_S3;
  // The sync stage's mirror (source.coop) is the local target too: a local run never writes to it.
  // Its bucket (e.g. cboettig) then sits next to the product buckets; credentials as for AWS_*.
  if (env.MIRROR_ENDPOINT_URL_S3 !== undefined) {
    if (opts.s3Endpoint) env.MIRROR_ENDPOINT_URL_S3 = opts.s3Endpoint;
    else delete env.MIRROR_ENDPOINT_URL_S3;
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'])
      if (process.env[`MIRROR_${k}`] === undefined && env[k] !== undefined) env[`MIRROR_${k}`] = env[k];
  }
  return { args, env };
}

/**
 * A worker process running one Job's container command line, index after index: each `run` sets
 * JOB_COMPLETION_INDEX and TMPDIR as a pod of that index would have them (bin/cng-worker.js,
 * CNG_WORKER_SERVE). The process ends after a failed index; `run` then starts a new one. Output
 * goes to each index's own log file.
 */
class WorkerProcess {
  private child?: ChildProcess;
  private pending = '';
  private current?: { index: number; log: WriteStream; resolve: (code: number) => void };
  private lastLog?: WriteStream;

  constructor(
    readonly job: Record<string, any>,
    private readonly opts: RunOptions,
    /** Called for every process started. */
    private readonly onStart: () => void = () => {},
  ) {}

  run(index: number, logPath: string, tmpdir: string): Promise<number> {
    mkdirSync(tmpdir, { recursive: true });
    mkdirSync(dirname(logPath), { recursive: true });
    this.lastLog?.end();
    const log = (this.lastLog = createWriteStream(logPath));
    return new Promise((resolvePromise) => {
      this.current = { index, log, resolve: resolvePromise };
      const child = this.child ?? this.start();
      if (child) child.send({ index, tmpdir });
    });
  }

  private start(): ChildProcess | undefined {
    const { args, env } = jobProcess(this.job, this.opts);
    env.CNG_WORKER_SERVE = '1';
    this.onStart();
    const child = spawn(process.execPath, [WORKER, ...args], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.current?.log ?? this.lastLog)?.write(d));
    child.stderr!.on('data', (d: Buffer) => this.stderr(d.toString('utf8')));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.finish(code ?? 1, signal ? `killed by ${signal}\n` : '');
    });
    child.on('error', (err) => {
      if (this.child === child) this.child = undefined;
      this.finish(1, `${err.message}\n`);
    });
    return child;
  }

  /** Copies stderr to the current index's log, up to the end-of-index record. */
  private stderr(text: string): void {
    this.pending += text;
    for (;;) {
      const rs = this.pending.indexOf('\x1e');
      if (rs < 0) {
        (this.current?.log ?? this.lastLog)?.write(this.pending);
        this.pending = '';
        return;
      }
      (this.current?.log ?? this.lastLog)?.write(this.pending.slice(0, rs));
      const nl = this.pending.indexOf('\n', rs);
      if (nl < 0) {
        this.pending = this.pending.slice(rs);
        return;
      }
      const m = /^\x1eCNG-DONE (\d+) (-?\d+)$/.exec(this.pending.slice(rs, nl));
      this.pending = this.pending.slice(nl + 1);
      if (m && this.current && Number(m[1]) === this.current.index) this.finish(Number(m[2]), '');
    }
  }

  private finish(code: number, note: string): void {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    if (this.pending) cur.log.write(this.pending), (this.pending = '');
    if (note) cur.log.write(note);
    cur.resolve(code);
  }

  /** Ends the process (after its current index) and closes the last log. */
  async close(): Promise<void> {
    const child = this.child;
    if (child?.connected) {
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      await exited;
    }
    this.lastLog?.end();
  }
}

/** The single-object outputs of each stage, by option (prefix outputs are covered by a manifest or a unit report). */
const STAGE_OUTPUTS: Record<string, string[]> = {
  convert: ['--out', '--plan'],
  table: ['--out'],
  'tiles-merge': ['--out'],
  publish: ['--manifest'],
  'points-publish': ['--manifest'],
  cog: ['--out', '--info'],
  'raster-manifest': ['--manifest'],
  'reencode-publish': ['--manifest'],
};

/** The report an index of an Indexed stage writes last, by stage: from the Job's option and the work unit. */
const UNIT_REPORTS: Record<string, (arg: (flag: string) => string | undefined, unit: number) => string | undefined> = {
  // A raster-hex index always writes its unit's stats file (its h0 partition only when it has cells).
  'raster-hex': (arg, u) => arg('--stats') && `${arg('--stats')!.replace(/\/+$/, '')}/unit-${u}.json`,
  hex: (arg, u) => arg('--chunks') && `${arg('--chunks')!.replace(/\/+$/, '')}/_units/unit-${String(u).padStart(6, '0')}.json`,
  repartition: (arg, u) => arg('--reports') && `${arg('--reports')!.replace(/\/+$/, '')}/unit-${String(u).padStart(6, '0')}.json`,
  reencode: (arg, u) => arg('--work') && `${arg('--work')!.replace(/\/+$/, '')}/chunks/_units/unit-${String(u).padStart(6, '0')}.json`,
  'reencode-merge': (arg, u) => arg('--work') && `${arg('--work')!.replace(/\/+$/, '')}/merge/unit-${String(u).padStart(6, '0')}.json`,
  // The points stages write the same reports (a points layer's work files, docs/stages.md#points-hex).
  'points-hex': (arg, u) => UNIT_REPORTS.hex(arg, u),
  'points-repartition': (arg, u) => UNIT_REPORTS.repartition(arg, u),
  // A tiles unit writes its part's .json last.
  tiles: (arg, u) => arg('--parts') && `${arg('--parts')!.replace(/\/+$/, '')}/part-${String(u).padStart(6, '0')}.json`,
};

/**
 * Whether the objects a Job's index writes exist (completion markers alone can be stale). A vector
 * layer's work files (`<name>/_work/run-<run>/…`) are gone once publish has run: they count as
 * there while the layer stays published by that run.
 */
async function outputsExist(storage: Storage, job: Record<string, any>, index: number): Promise<boolean> {
  const cmd = jobCommand(job);
  const arg = (flag: string) => jobArg(job, flag);
  const urls = (STAGE_OUTPUTS[cmd[1]] ?? []).map(arg);
  urls.push(UNIT_REPORTS[cmd[1]]?.(arg, offset(job) + index));
  for (const url of urls) {
    if (url === undefined || (await storage.exists(url))) continue;
    const work = /^(.*)\/_work\/run-(\d+)\//.exec(url);
    if (!work || !(await published(storage, `${work[1]}/manifest.json`, Number(work[2])))) return false;
  }
  return cmd[1] === 'publish' || cmd[1] === 'reencode-publish' || cmd[1] === 'points-publish' ? published(storage, arg('--manifest')!, Number(arg('--run'))) : true;
}

/** Whether a layer's manifest.json says run `run` and every file it lists is there. */
async function published(storage: Storage, manifestUrl: string, run: number): Promise<boolean> {
  const m = await storage.readText(manifestUrl).then((t) => JSON.parse(t) as { run?: number; files?: Record<string, unknown> }).catch(() => undefined);
  if (m?.run !== run || !m.files) return false;
  const base = manifestUrl.replace(/\/[^/]+\/manifest\.json$/, '');
  for (const f of Object.keys(m.files)) if (!(await storage.exists(`${base}/${f}`))) return false;
  return true;
}

/** On a terminal, progress redraws one line; otherwise every update is a plain log line. */
function line(out: NodeJS.WriteStream, tty: boolean, text: string, transient = false): void {
  out.write(tty ? `\r\x1b[2K${text}${transient ? '' : '\n'}` : `${text}\n`);
}
