/**
 * `cng doctor`'s reasoning: from the collected cluster state (./collect.ts), one finding per
 * problem of a dataset's stages, each a sentence with the concrete change and, where the change is
 * a dataset-file edit `--apply` can write, that edit (./spec-edit.ts):
 *   - OOM-killed work units: the stage's next memory step (capped, then smaller hex work units),
 *     and a retry of only the failed hex units;
 *   - preempted and evicted pods; failed pods with their last log lines (S3 access denied, a
 *     missing input, anything else);
 *   - image-pull errors, unschedulable pods, Jobs the quota keeps from creating pods (a lower
 *     maxPods or hex.parallelism);
 *   - Flux: stages waiting on an upstream stage, immutable Job specs, suspended stages waiting for
 *     an Armada job set, Kustomizations not created.
 * Edits are withheld while a stage still runs, or when its Jobs are not this checkout's.
 */
import { DEFAULT_RESOURCES, MAX_REPARTITION_UNITS, parseDatasetSpec, repartitionUnits, synthesize, type DatasetSpec, type ResolvedDatasetSpec, type StageKind } from '../../constructs/index.ts';
import { parseQuantity, plural } from '../../worker/core/text.ts';
import { podStartFix, reasonCounts, unitsText, type JobInfo, type PodInfo, type PodState } from './classify.ts';
import type { ClusterState, DatasetInfo, LocalDataset, StageInfo } from './collect.ts';
import { tsString, type SpecEdit } from './spec-edit.ts';

// ---------------------------------------------------------------------------------------------
// Findings

export type FindingKind =
  | 'oom' | 'preempted' | 'evicted' | 'quota' | 'create-failed' | 's3-denied' | 's3-missing' | 'failed' | 'image-pull' | 'config-error'
  | 'unschedulable' | 'dependency' | 'flux' | 'armada' | 'stale' | 'running';

export interface Finding {
  kind: FindingKind;
  stageId: string;
  layer?: string;
  job?: string;
  /** Global work units concerned. */
  units?: number[];
  /** The explanation with the concrete change, one sentence. */
  sentence: string;
  /** Changes --apply writes for this finding. */
  edits?: SpecEdit[];
  /** Last log lines of a failed pod. */
  log?: { pod: string; lines: string[] };
  /** A warning attached (e.g. the memory cap was reached). */
  warning?: string;
}

export interface HexPlanFile {
  layer: string;
  units: number;
  workUnits: { index: number; estimatedCells?: number; vertices?: number; items?: unknown[] }[];
}

/** Memory steps a stage climbs when OOM-killed, and the highest each stage kind may get. */
export const MEMORY_STEPS = ['512Mi', '1Gi', '2Gi', '4Gi', '8Gi', '16Gi', '32Gi', '64Gi'];
export const MEMORY_CAP: Record<string, string> = { hex: '16Gi', tiles: '16Gi', default: '32Gi' };
const STORAGE_STEPS = ['1Gi', '2Gi', '5Gi', '10Gi', '20Gi', '40Gi', '60Gi', '100Gi', '200Gi'];

/**
 * The next memory step above `current` for a stage kind, `steps` steps up, never above the cap.
 * `capped` says the cap is reached (by the value, or already by `current`: then no value).
 */
export function nextMemory(current: string, kind: string, steps = 1): { value?: string; cap: string; capped: boolean } {
  const cap = MEMORY_CAP[kind] ?? MEMORY_CAP.default;
  const now = parseQuantity(current);
  const above = MEMORY_STEPS.filter((s) => parseQuantity(s) > now && parseQuantity(s) <= parseQuantity(cap));
  if (!above.length) return { cap, capped: true };
  const value = above[Math.min(steps, above.length) - 1];
  return { value, cap, capped: value === cap };
}

function nextStorage(current: string): string | undefined {
  return STORAGE_STEPS.find((s) => parseQuantity(s) >= 2 * parseQuantity(current)) ?? STORAGE_STEPS.find((s) => parseQuantity(s) > parseQuantity(current));
}

export interface DiagnoseOptions {
  plans?: HexPlanFile[];
  /** Reads a pod's last log lines (doctor passes the cluster reader). */
  podLog?: (pod: string) => Promise<string>;
}

/** Findings for one dataset, in stage order. */
export async function diagnose(state: ClusterState, dataset: string, opts: DiagnoseOptions = {}): Promise<Finding[]> {
  const d = state.report.datasets.find((x) => x.name === dataset);
  if (!d) return [];
  const findings: Finding[] = [];
  for (const s of d.stages) findings.push(...(await stageFindings(stageContext(state, d, s), opts)));
  // Group the "not created" Flux findings into one line when the whole dataset is missing.
  const notCreated = findings.filter((f) => f.kind === 'flux' && f.sentence.includes('has not created'));
  if (notCreated.length > 1 && notCreated.length === d.stages.filter((s) => !s.armada).length)
    return [
      {
        kind: 'flux',
        stageId: '*',
        sentence: `${dataset}: no stage Kustomization is on the cluster; merge the PR that adds dist/flux/${dataset}.yaml, then check flux get kustomizations -n ${state.report.namespace}.`,
      },
    ];
  return findings;
}

/** One stage's findings; each looks at one kind of problem. */
async function stageFindings(c: StageContext, opts: DiagnoseOptions): Promise<Finding[]> {
  const found: Finding[] = [];
  const add = (f: Finding | undefined) => void (f && found.push(f));
  add(preemptionFinding(c));
  const oom = oomFinding(c, opts.plans);
  add(oom?.finding);
  add(evictionFinding(c));
  add(await failureFinding(c, opts.podLog));
  if (!oom?.resplit) addRetry(c, found);
  if (!c.editable) withholdEdits(c, found);
  add(runningFinding(c));
  add(podStartFinding(c, 'image-pull'));
  add(podStartFinding(c, 'config-error'));
  add(unschedulableFinding(c));
  found.push(...createFailureFindings(c));
  add(fluxFinding(c, found));
  add(suspendedFinding(c));
  add(notCreatedFinding(c));
  return found;
}

// ---------------------------------------------------------------------------------------------
// A stage, as the findings see it

interface StageContext {
  state: ClusterState;
  d: DatasetInfo;
  s: StageInfo;
  loc?: LocalDataset;
  spec?: ResolvedDatasetSpec;
  /** `<dataset> <stageId>`, how every sentence starts. */
  label: string;
  layer?: string;
  kind: string;
  /** The Jobs looked at: those this checkout renders, else all. */
  jobs: JobInfo[];
  /** Jobs this checkout no longer renders (older or newer revision). */
  stale: JobInfo[];
  running: JobInfo[];
  failedUnits: number[];
  oomPods: PodInfo[];
  oomUnits: number[];
  /** Whether the stage's edits may be written: nothing of it runs and its Jobs are this checkout's. */
  editable: boolean;
  /** Path of a resource field of the stage in the dataset file. */
  resourcesPath(field: string): string[];
}

function stageContext(state: ClusterState, d: DatasetInfo, s: StageInfo): StageContext {
  const loc = state.local.get(d.name);
  const spec = loc?.spec;
  const layer = s.layer;
  const kind = s.kind ?? '';
  const current = s.jobs.filter((j) => j.current !== false);
  const jobs = current.length ? current : s.jobs;
  const running = jobs.filter((j) => j.state === 'running' || j.active > 0);
  // A stage's layer label is a key of the dataset file's `layers` or `rasters`.
  const group = layer && (spec as { rasters?: Record<string, unknown> } | undefined)?.rasters?.[layer] ? 'rasters' : 'layers';
  const oomPods = podsIn(jobs, 'oom-killed');
  return {
    state, d, s, loc, spec, label: `${d.name} ${s.stageId}`, layer, kind, jobs,
    stale: s.jobs.filter((j) => j.current === false),
    running,
    failedUnits: unique(jobs.flatMap((j) => j.failedUnits)),
    oomPods,
    oomUnits: unique(oomPods.map((p) => p.unit)),
    // Stage edits re-create the stage's Jobs: only once nothing of it is running any more.
    // Findings about Jobs this checkout no longer renders (older or newer revision) are not edited.
    editable: !running.length && loc !== undefined && current.length > 0,
    resourcesPath: (field) => (layer ? [group, layer, 'resources', kind, field] : ['resources', kind, field]),
  };
}

/** The start of a finding about the stage (kind, stage, layer). */
function about(c: StageContext, kind: FindingKind): Pick<Finding, 'kind' | 'stageId' | 'layer'> {
  return { kind, stageId: c.s.stageId, ...(c.layer ? { layer: c.layer } : {}) };
}

/** `work unit 3` or `work units 3, 17`. */
function workUnitsText(units: number[]): string {
  return `work ${units.length === 1 ? 'unit' : 'units'} ${unitsText(units)}`;
}

function podsIn(jobs: JobInfo[], state: PodState): PodInfo[] {
  return jobs.flatMap((j) => j.problemPods.filter((p) => p.state === state));
}

// ---------------------------------------------------------------------------------------------
// Pods: preempted, OOM-killed, evicted, failed

/** Preemptions: informational. */
function preemptionFinding(c: StageContext): Finding | undefined {
  const preempted = podsIn(c.jobs, 'preempted');
  if (!preempted.length) return undefined;
  return {
    ...about(c, 'preempted'),
    units: unique(preempted.map((p) => p.unit)),
    sentence: `${c.label}: ${plural(preempted.length, 'pod was', 'pods were')} preempted (${reasonCounts(preempted)}); nothing to do: Kubernetes re-ran those work units without counting them as failures.`,
  };
}

/** OOM kills: the next memory step, at the cap smaller hex work units (`resplit`). */
function oomFinding(c: StageContext, plans: HexPlanFile[] | undefined): { finding: Finding; resplit?: boolean } | undefined {
  const { kind, layer, spec, jobs, oomPods, oomUnits, label } = c;
  if (!oomPods.length) return undefined;
  const oomFailed = oomUnits.filter((u) => c.failedUnits.includes(u));
  const job = jobs.find((j) => j.problemPods.some((p) => p.state === 'oom-killed'))!;
  const memory = job.resources.memory ?? DEFAULT_RESOURCES[kind as StageKind]?.memory ?? '?';
  const plan = layer && spec ? plans?.find((p) => p.layer === spec.layers[layer]?.layer) : undefined;
  const estimate = plan ? planEstimate(plan, oomFailed.length ? oomFailed : oomUnits) : undefined;
  const steps = estimate && estimate.ratio > 4 ? 2 : 1;
  const next = nextMemory(memory, kind, steps);
  const where = kind === 'hex' || oomUnits.length > 1 || (job.completions ?? 1) > 1 ? `${workUnitsText(oomUnits)} ` : '';
  const est = estimate ? ` (${estimate.text})` : '';
  const start = { ...about(c, 'oom'), job: job.name };
  if (!oomFailed.length && !jobs.some((j) => j.state === 'failed'))
    return {
      finding: {
        ...start,
        units: oomUnits,
        sentence: `${label}: ${where}${plural(oomPods.length, 'pod was', 'pods were')} OOM-killed at the ${memory} limit${est} but ${c.running.length ? 'are being retried' : 'succeeded on retry'}; nothing to change yet${next.value ? ` (if they fail, the fix is ${next.value})` : ''}.`,
      },
    };
  if (next.value) {
    const path = c.resourcesPath('memory');
    return {
      finding: {
        ...start,
        units: oomFailed.length ? oomFailed : oomUnits,
        sentence: `${label}: ${where}${oomFailed.length ? 'failed, ' : ''}OOM-killed at the ${memory} memory limit (exit 137, ${plural(oomPods.length, 'pod')})${est}; give the stage ${next.value} (${path.join('.')}: '${next.value}')${kind === 'hex' && oomFailed.length ? ' and re-run only those units' : ''}.`,
        edits: [{ path, value: tsString(next.value) }],
        ...(next.capped ? { warning: `${next.value} is the cap for ${kind || 'this'} stages (${next.cap}); if it is still not enough, give the layer more work units (${kind === 'repartition' ? 'raise repartition.units' : 'lower hex.featuresPerUnit'})` } : {}),
      },
    };
  }
  // At the cap: more, smaller work units for hex (re-runs convert and everything after it).
  const fpu = layer && spec ? (spec.layers[layer]?.hex?.featuresPerUnit ?? spec.hex.featuresPerUnit ?? 2000) : undefined;
  if (kind === 'hex' && layer && fpu && fpu > 1) {
    const newFpu = Math.max(1, Math.floor(fpu / 2));
    const edits: SpecEdit[] = [{ path: ['layers', layer, 'hex', 'featuresPerUnit'], value: String(newFpu) }];
    if (spec?.layers[layer]?.hex?.retry) edits.push({ path: ['layers', layer, 'hex', 'retry'] });
    return {
      resplit: true,
      finding: {
        ...start,
        units: oomUnits,
        sentence: `${label}: ${where}OOM-killed at ${memory}, already the memory cap for hex pods (${next.cap})${est}; split the work into smaller units instead (layers.${layer}.hex.featuresPerUnit: ${fpu} → ${newFpu}), which re-runs the layer's convert, hex and downstream stages.`,
        edits,
        warning: `memory is capped at ${next.cap} for hex stages`,
      },
    };
  }
  // At the cap: a repartition unit holds a group of h0 cells; more units mean smaller groups.
  const l = layer ? spec?.layers[layer] : undefined;
  const groups = l && repartitionUnits(l.features, l.repartition?.units);
  if (kind === 'repartition' && layer && groups && groups < MAX_REPARTITION_UNITS) {
    const more = Math.min(MAX_REPARTITION_UNITS, groups * 2);
    return {
      finding: {
        ...start,
        units: oomUnits,
        sentence: `${label}: ${where}OOM-killed at ${memory}, already the memory cap (${next.cap})${est}; spread the h0 cells over more repartition units (layers.${layer}.repartition.units: ${groups} → ${more}), which re-runs the layer's convert (a new plan) and the stages after it.`,
        edits: [{ path: ['layers', layer, 'repartition', 'units'], value: String(more) }],
        warning: `memory is capped at ${next.cap} for repartition stages; one h0 cell per unit is the limit`,
      },
    };
  }
  const tiles = kind === 'tiles' && layer ? tilesResplit(c, job.completions ?? 1) : undefined;
  if (tiles) {
    return {
      finding: {
        ...start,
        units: oomUnits,
        sentence: `${label}: ${where}OOM-killed at ${memory}, already the memory cap for tiles pods (${next.cap})${est}; ${tiles.text}, which re-runs the layer's tiles and tiles-merge.`,
        edits: [tiles.edit],
        warning: `memory is capped at ${next.cap} for tiles stages`,
      },
    };
  }
  return {
    finding: {
      ...start,
      units: oomUnits,
      sentence: `${label}: OOM-killed at ${memory}, already the memory cap (${next.cap}) for ${kind || 'this'} stages; this needs a person: a smaller input or a change to the worker.`,
      warning: `memory is capped at ${next.cap}`,
    },
  };
}

/**
 * Tiles at the memory cap: the low-zoom unit 0 (of several) holds the whole layer simplified for
 * the split zoom − 1, so a lower split zoom shrinks it; a high-zoom unit holds its share of the
 * layer, so more units shrink it.
 */
function tilesResplit(c: StageContext, units: number): { text: string; edit: SpecEdit } | undefined {
  const layer = c.layer!;
  const declared = c.spec?.layers[layer]?.pmtiles || undefined;
  if (units > 1 && c.oomUnits.length === 1 && c.oomUnits[0] === 0) {
    const split = declared?.splitZoom ?? 7;
    if (split <= 1) return undefined;
    return { text: `the low-zoom unit 0 holds the whole layer: render fewer zooms in it (layers.${layer}.pmtiles.splitZoom: ${split} → ${split - 1})`, edit: { path: ['layers', layer, 'pmtiles', 'splitZoom'], value: String(split - 1) } };
  }
  return { text: `split the tiles into more units (layers.${layer}.pmtiles.units: ${units} → ${units * 2})`, edit: { path: ['layers', layer, 'pmtiles', 'units'], value: String(units * 2) } };
}

/** Evictions (node pressure, or the pod's own ephemeral-storage limit). */
function evictionFinding(c: StageContext): Finding | undefined {
  const evicted = podsIn(c.jobs, 'evicted');
  if (!evicted.length) return undefined;
  const storage = evicted.find((p) => /ephemeral[- ]local storage|ephemeral-storage/i.test(p.message ?? ''));
  const job = c.jobs.find((j) => j.problemPods.includes(storage ?? evicted[0]))!;
  const limit = job.resources.ephemeralStorage ?? DEFAULT_RESOURCES[c.kind as StageKind]?.ephemeralStorage;
  const next = storage && limit ? nextStorage(limit) : undefined;
  const pods = plural(evicted.length, 'pod was', 'pods were');
  if (!next)
    return {
      ...about(c, 'evicted'),
      units: unique(evicted.map((p) => p.unit)),
      sentence: `${c.label}: ${pods} evicted by the kubelet (${evicted[0].message ?? evicted[0].reason}); they are re-run, nothing to change unless it keeps happening.`,
    };
  const path = c.resourcesPath('ephemeralStorage');
  return {
    ...about(c, 'evicted'),
    job: job.name,
    units: unique(evicted.map((p) => p.unit)),
    sentence: `${c.label}: ${pods} evicted for using more scratch disk than its ${limit} limit; give the stage ${next} (${path.join('.')}: '${next}').`,
    edits: [{ path, value: tsString(next) }],
  };
}

/** Other failures: the last log lines of (at most three of) the failed pods say why. */
async function failureFinding(c: StageContext, podLog: DiagnoseOptions['podLog']): Promise<Finding | undefined> {
  const { jobs, oomUnits } = c;
  const units = c.failedUnits.filter((u) => !oomUnits.includes(u));
  const failedPods = podsIn(jobs, 'failed');
  const failedNonIndexed = jobs.filter((j) => j.state === 'failed' && !j.failedUnits.length && !c.oomPods.length);
  if (!units.length && !(failedNonIndexed.length && failedPods.length)) return undefined;
  // The latest failed pod of each failed unit.
  const byUnit = new Map<number | undefined, PodInfo[]>();
  for (const p of failedPods) if (p.unit === undefined || units.includes(p.unit)) byUnit.set(p.unit, [...(byUnit.get(p.unit) ?? []), p]);
  const pods = [...byUnit.values()].map((ps) => ps.sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? '')).at(-1)!);
  const read: { pod: PodInfo; lines: string[] }[] = [];
  for (const p of pods.slice(0, 3)) {
    let lines: string[] = [];
    if (podLog) {
      try {
        lines = (await podLog(p.name)).trimEnd().split('\n').slice(-20);
      } catch (err) {
        lines = [`(log unavailable: ${(err as Error).message})`];
      }
    }
    read.push({ pod: p, lines });
  }
  const first = read[0];
  const { kind, sentence } = failureCause(c, units, read);
  return {
    ...about(c, kind),
    ...(first ? { job: first.pod.job } : {}),
    units,
    sentence,
    ...(first ? { log: { pod: first.pod.name, lines: first.lines } } : {}),
  };
}

/** Why the units failed, from the pods' logs: S3 denied access, an input is missing, or the last log line. */
function failureCause(c: StageContext, units: number[], read: { pod: PodInfo; lines: string[] }[]): { kind: FindingKind; sentence: string } {
  const { kind, layer, label, d, s } = c;
  const text = read.flatMap((r) => r.lines).join('\n');
  const denied = /'(s3:\/\/[^']+|\/vsis3\/[^']+)': access denied(?: \(([^)]+)\))?/.exec(text) ?? (/AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|HTTP (?:response )?code:? 403/.test(text) ? ([] as unknown as RegExpExecArray) : null);
  const missing = /'(s3:\/\/[^']+|\/vsis3\/[^']+)': no such object/.exec(text) ?? (/NoSuchKey|NoSuchBucket|HTTP (?:response )?code:? 404/.test(text) ? ([] as unknown as RegExpExecArray) : null);
  const unitWords = units.length && (kind === 'hex' || c.jobs.some((j) => j.completions > 1)) ? workUnitsText(units) : 'the stage';
  const first = read[0];
  const exit = first?.pod.exitCode !== undefined ? `exit code ${first.pod.exitCode}` : first?.pod.reason ?? 'failed';
  const upstream = d.stages.find((x) => x.layer === layer && x.kind === 'convert' && x.stageId !== s.stageId);
  const rerun = kind === 'hex' ? 're-run only those units' : 're-run the stage (a failed Job stays failed: bump run, or change the stage)';
  if (denied)
    return {
      kind: 's3-denied',
      sentence: `${label}: ${unitWords} failed because S3 denied access${denied[1] ? ` to '${denied[1]}'` : ''}${denied[2] ? ` (${denied[2]})` : ''}; check the credentials in the 'aws' secret of namespace ${c.state.report.namespace} (they must read the source and write bucket ${c.spec?.bucket ?? 'of the dataset'}), then ${rerun}.`,
    };
  if (missing)
    return {
      kind: 's3-missing',
      sentence: `${label}: ${unitWords} failed because an input is missing${missing[1] ? `: '${missing[1]}'` : ''}; ${kind === 'convert' || kind === 'table' ? "check the dataset's source path (cng inspect)" : `check that ${upstream ? `stage ${upstream.stageId}` : 'the upstream stage'} completed and wrote it`}, then ${rerun}.`,
    };
  const lastLine = read.flatMap((r) => r.lines).filter((l) => l.trim()).at(-1);
  return { kind: 'failed', sentence: `${label}: ${unitWords} failed (${exit})${lastLine ? `, last log line: ${lastLine.trim().slice(0, 200)}` : ''}; fix the cause, then ${rerun}.` };
}

// ---------------------------------------------------------------------------------------------
// Edits: a retry of the failed hex units, and none while the stage runs or is not this checkout's

/** Retry only the failed work units of a hex stage (whatever the cause): an edit on the finding that explains them. */
function addRetry(c: StageContext, found: Finding[]): void {
  const { layer, failedUnits } = c;
  if (c.kind !== 'hex' || !layer || !failedUnits.length) return;
  const retryEdit: SpecEdit = { path: ['layers', layer, 'hex', 'retry'], value: `{ run: ${c.d.run ?? c.spec?.run ?? 1}, indexes: [${[...failedUnits].sort((a, b) => a - b).join(', ')}] }` };
  const target = found.filter((f) => ['oom', 's3-denied', 's3-missing', 'failed'].includes(f.kind) && (f.units ?? []).some((u) => failedUnits.includes(u)));
  const holder = target.find((f) => f.edits?.length) ?? target[0];
  if (holder) holder.edits = [...(holder.edits ?? []), retryEdit];
}

/** Drops the edits of a stage that still runs or whose Jobs are not this checkout's, saying why. */
function withholdEdits(c: StageContext, found: Finding[]): void {
  const { running, stale } = c;
  for (const f of found.filter((x) => x.edits?.length)) {
    f.edits = undefined;
    f.warning = running.length
      ? `${plural(running.reduce((n, j) => n + j.active, 0), 'pod is', 'pods are')} still running in this stage: wait until its Jobs finish, then run cng doctor again (changing the stage now would replace the running Jobs)`
      : stale.length
        ? `the failed Job is not in this checkout's dist/ (pull the latest main, or the fix is already merged)`
        : 'this dataset is not in this checkout';
  }
}

function runningFinding(c: StageContext): Finding | undefined {
  const { s } = c;
  if (!c.running.length || !(c.failedUnits.length || c.oomPods.length)) return undefined;
  return {
    ...about(c, 'running'),
    sentence: `${c.label}: still running (${plural(s.units.active, 'pod')} active, ${s.units.completed}/${s.units.total} work units done); the changes above can be applied once it has finished.`,
  };
}

// ---------------------------------------------------------------------------------------------
// Pods that do not start: image pull, scheduling, quota

/**
 * Pods that do not start: an image the node cannot pull, or a Secret or key the pod reads that is
 * missing (CreateContainerConfigError: the Job neither runs nor fails). The fix from classify.ts.
 */
function podStartFinding(c: StageContext, state: 'image-pull' | 'config-error'): Finding | undefined {
  const pods = c.jobs.flatMap((j) => j.problemPods.filter((p) => p.state === state).map((p) => ({ p, j })));
  if (!pods.length) return undefined;
  const { p, j } = pods[0];
  const why = `${p.reason}${p.message ? `: ${p.message.slice(0, 160)}` : ''}`;
  const what = state === 'image-pull' ? `cannot pull image ${j.image ?? '?'} (${why})` : `cannot start (${why}), so the Job neither runs nor fails`;
  return { ...about(c, state), job: j.name, sentence: `${c.label}: ${plural(pods.length, 'pod')} ${what}; ${podStartFix(p, c.state.report.namespace, c.d.name)}.` };
}

function unschedulableFinding(c: StageContext): Finding | undefined {
  const unsched = podsIn(c.jobs, 'unschedulable');
  if (!unsched.length) return undefined;
  const j = c.jobs.find((x) => x.problemPods.includes(unsched[0]))!;
  return {
    ...about(c, 'unschedulable'),
    job: j.name,
    sentence: `${c.label}: ${plural(unsched.length, 'pod')} cannot be scheduled (${(unsched[0].message ?? '').slice(0, 200)}); a ${j.resources.cpu ?? '?'} CPU / ${j.resources.memory ?? '?'} pod may fit no free node: wait if the cluster is busy, or lower the stage's resources.`,
  };
}

/** Pod creation failures: a priority class the namespace bans, the quota (lower maxPods), anything else. */
function createFailureFindings(c: StageContext): Finding[] {
  const { s, label } = c;
  return c.jobs.filter((x) => x.createFailures).map((j): Finding => {
    const cf = j.createFailures!;
    if (/priority-ban/.test(cf.quotaName ?? ''))
      return {
        kind: 'create-failed',
        stageId: s.stageId,
        job: j.name,
        sentence: `${label}: the namespace rejects the pods' priority class (quota ${cf.quotaName}, ${plural(cf.count, 'attempt')}); set ClusterProfile's priorityClassName to a class NRP allows (opportunistic) and re-synthesize.`,
      };
    if (!cf.quota)
      return {
        kind: 'create-failed',
        stageId: s.stageId,
        job: j.name,
        sentence: `${label}: the Job controller cannot create pods (${plural(cf.count, 'attempt')}): ${cf.message.slice(0, 240)}.`,
      };
    const q = quotaProposal(c.d, j, c.loc?.raw);
    return {
      ...about(c, 'quota'),
      job: j.name,
      sentence: `${label}: the Job could not create pods ${plural(cf.count, 'time')} because the namespace quota is exhausted (${cf.quotaName ?? 'quota'}${cf.pods ? `: ${cf.pods.used} of ${cf.pods.limited} pods in use` : ''}); ${q.text}`,
      ...(q.edit ? { edits: [q.edit] } : {}),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Flux

/** A Kustomization that is not Ready: waiting on its upstream stage, an immutable Job spec, or else (when nothing else explains it). */
function fluxFinding(c: StageContext, found: Finding[]): Finding | undefined {
  const { s, label } = c;
  if (!s.flux || s.flux.ready === 'True' || s.flux.suspended) return undefined;
  const msg = s.flux.message ?? '';
  const dep = /dependency '(?:[^/']+\/)?([^']+)' is not ready/.exec(msg)?.[1];
  if (s.flux.reason === 'DependencyNotReady' || dep) {
    const up = c.d.stages.find((x) => x.kustomization === dep);
    return {
      ...about(c, 'dependency'),
      sentence: `${label}: Flux holds this stage until its upstream stage ${up ? up.stageId : dep ?? '?'} is Ready${up ? ` (now ${up.state})` : ''}; fix ${up ? up.stageId : 'that stage'} first, nothing to change here.`,
    };
  }
  if (/immutable/i.test(msg))
    return {
      kind: 'flux',
      stageId: s.stageId,
      sentence: `${label}: Flux cannot apply the stage because a Job's spec changed under the same name (Job specs are immutable): dist/ was probably edited by hand; run cng synth and cng validate, and check cng diff for Jobs "changed in place".`,
    };
  if (c.jobs.some((j) => j.state === 'failed') || found.length) return undefined;
  return {
    kind: 'flux',
    stageId: s.stageId,
    sentence: `${label}: the Flux Kustomization ${s.kustomization} is ${s.flux.ready === 'False' ? 'not Ready' : 'not Ready yet'} (${s.flux.reason ?? 'no reason'}${msg ? `: ${msg.slice(0, 240)}` : ''}); see flux get kustomizations -n ${c.state.report.namespace}.`,
  };
}

/** A suspended stage: it waits for an Armada job set (or a PR that un-suspends it). */
function suspendedFinding(c: StageContext): Finding | undefined {
  const { s, label } = c;
  if (!s.flux?.suspended) return undefined;
  const armadaUp = c.d.stages.find((x) => x.armada && (s.flux?.dependsOn.includes(x.kustomization) || x.layer === s.layer));
  return {
    ...about(c, 'armada'),
    sentence: armadaUp
      ? `${label}: suspended until the Armada job set ${armadaUp.armada?.jobSetId ?? ''} has completed; submit it with armadactl submit ${armadaUp.armada?.file}, and once every job succeeded set layers.${armadaUp.layer}.hex.completedJobSet: '${armadaUp.armada?.jobSetId}' in a PR.`
      : `${label}: the Kustomization is suspended; a PR that un-suspends it (see docs/runbook.md) lets Flux apply it.`,
  };
}

function notCreatedFinding(c: StageContext): Finding | undefined {
  const { s, state } = c;
  if (s.flux || !s.expectedJobs.length || s.armada || !state.report.datasets.length) return undefined;
  return {
    kind: 'flux',
    stageId: s.stageId,
    sentence: `${c.label}: Flux has not created the Kustomization ${s.kustomization}; if the change is merged, check flux get kustomizations -n ${state.report.namespace} (the root cng-datasets Kustomization).`,
  };
}

// ---------------------------------------------------------------------------------------------
// Proposals: memory estimates from a hex plan, a maxPods that fits the quota

function unique(xs: (number | undefined)[]): number[] {
  return [...new Set(xs.filter((x): x is number => x !== undefined))].sort((a, b) => a - b);
}

/** Work estimates of some units against the plan's median unit. */
function planEstimate(plan: HexPlanFile, units: number[]): { text: string; ratio: number } | undefined {
  const work = (u: HexPlanFile['workUnits'][number]) => (u.estimatedCells ?? 0) + (u.vertices ?? 0);
  const all = plan.workUnits.map(work).sort((a, b) => a - b);
  if (!all.length) return undefined;
  const median = all[Math.floor(all.length / 2)] || 1;
  const parts: string[] = [];
  let ratio = 0;
  for (const u of units.slice(0, 4)) {
    const w = plan.workUnits.find((x) => x.index === u);
    if (!w) continue;
    const r = work(w) / median;
    ratio = Math.max(ratio, r);
    parts.push(`unit ${u}: ~${fmtNum(w.estimatedCells ?? 0)} cells, ${fmtNum(w.vertices ?? 0)} vertices, ${r.toFixed(1)}× the median unit`);
  }
  return parts.length ? { text: `hex plan: ${parts.join('; ')}`, ratio } : undefined;
}

function fmtNum(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${Math.round(n / 1e3)}k` : String(n);
}

/** What to lower when the quota ran out: the dataset's maxPods (or an explicit hex.parallelism). */
function quotaProposal(d: DatasetInfo, j: JobInfo, raw: DatasetSpec | undefined): { text: string; edit?: SpecEdit } {
  const serialize = 'or let the other work in the namespace finish first (parallelism is changed in place: nothing re-runs).';
  if (!raw) return { text: `lower the dataset's maxPods or hex.parallelism, ${serialize}` };
  const spec = parseDatasetSpec(raw);
  // This dataset's pods now: the Jobs' active counts (pod lists may be partial).
  const active = d.stages.reduce((n, s) => n + s.jobs.reduce((m, x) => m + x.active, 0), 0);
  const p = j.createFailures?.pods;
  const layerKey = d.stages.find((s) => s.stageId === j.stageId)?.layer;
  const layerParallelism = layerKey ? raw.layers?.[layerKey]?.hex?.parallelism : undefined;
  const datasetParallelism = raw.hex?.parallelism;
  if (layerParallelism !== undefined || datasetParallelism !== undefined) {
    const old = (layerParallelism ?? datasetParallelism)!;
    const next = Math.max(1, Math.floor(old / 2));
    const path = layerParallelism !== undefined ? ['layers', layerKey!, 'hex', 'parallelism'] : ['hex', 'parallelism'];
    return { text: `lower ${path.join('.')} from ${old} to ${next}, ${serialize}`, edit: { path, value: String(next) } };
  }
  const others = p ? Math.max(0, p.used - active) : undefined;
  // The largest maxPods below the current one whose running hex Jobs fit what the others leave.
  const runningStages = new Set(d.stages.filter((s) => s.jobs.some((x) => x.current !== false && (x.state === 'running' || x.active > 0))).map((s) => s.stageId));
  const podsAt = (maxPods: number): { total: number; perJob?: number } | undefined => {
    try {
      const { manifests } = synthesize([{ ...raw, maxPods }]);
      let total = 0;
      let perJob: number | undefined;
      for (const [path, objs] of manifests) {
        const stageId = new RegExp(`^${d.name}/([^/]+)/manifest\\.yaml$`).exec(path)?.[1];
        if (!stageId || !runningStages.has(stageId)) continue;
        for (const o of objs.filter((x) => x.kind === 'Job')) {
          total += o.spec.parallelism ?? 1;
          if (stageId === j.stageId) perJob = o.spec.parallelism;
        }
      }
      return { total, perJob };
    } catch {
      return undefined;
    }
  };
  const room = p && others !== undefined ? p.limited - others - Math.ceil(p.limited * 0.05) : undefined;
  let next: number | undefined;
  if (room !== undefined && room > 0) {
    let lo = 1, hi = spec.maxPods - 1;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const at = podsAt(mid);
      if (at && at.total <= room) {
        next = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
  }
  const fits = next !== undefined;
  next ??= Math.max(1, Math.floor(spec.maxPods / 2));
  const after = podsAt(next)?.perJob;
  const perJob = after !== undefined ? ` (hex pods per Job ${j.parallelism} → ${after})` : '';
  const why = others !== undefined ? `${others} pods of other work are in the namespace, so ` : '';
  return {
    text: `${why}lower ${d.name}'s maxPods from ${spec.maxPods} to ${next}${perJob}${fits ? '' : ' (even that may not fit: serializing is safer)'}, ${serialize}`,
    edit: { path: ['maxPods'], value: String(next) },
  };
}

