/**
 * `cng status` and `cng doctor`: what the cluster is doing with a dataset, and what to change in
 * git when it went wrong.
 *
 * Both read the namespace through the Kubernetes API (cli/k8s.ts): the Flux Kustomization of every
 * stage (Ready condition), the stage's Indexed Jobs (completed/failed indices, conditions, elapsed
 * time), their pods (waiting, running, OOM-killed, preempted, evicted, image-pull errors,
 * unschedulable) and the Jobs' FailedCreate events (quota). `doctor` turns that into one sentence
 * per problem with the concrete change, and `--apply` writes the change into the dataset file
 * (memory, a retry of only the failed work units, parallelism) and an entry in todo.md.
 *
 * Work units are reported as global indices (offsets and retry lists applied), the numbers a
 * dataset file's `hex.retry.indexes` takes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import {
  ClusterProfile, DEFAULT_RESOURCES, parseDatasetSpec, parseManifests, readDist, synthesize,
  type DatasetSpec, type ResolvedDatasetSpec, type StageKind,
} from '../../constructs/index.ts';
import { datasets as localDatasets } from '../../datasets/index.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { str, type Command } from '../../worker/core/command.ts';
import { connectCluster, type ClusterReader, type K8sObject } from './k8s.ts';
import { parseQuantity, plural } from '../../worker/core/text.ts';

// ---------------------------------------------------------------------------------------------
// The report

/** One pod, classified. */
export interface PodInfo {
  name: string;
  job: string;
  /** Completion index of the pod in its Job. */
  index?: number;
  /** Global work unit (offset / retry list applied). */
  unit?: number;
  phase: string;
  state: PodState;
  /** Why: container waiting/terminated reason, DisruptionTarget reason, eviction reason. */
  reason?: string;
  message?: string;
  exitCode?: number;
  node?: string;
  /** When it finished (failed pods). */
  finishedAt?: string;
}

export type PodState = 'waiting' | 'unschedulable' | 'image-pull' | 'running' | 'succeeded' | 'oom-killed' | 'preempted' | 'evicted' | 'failed';

export interface PodCounts {
  waiting: number;
  unschedulable: number;
  imagePull: number;
  running: number;
  succeeded: number;
  failed: number;
  oomKilled: number;
  preempted: number;
  evicted: number;
}

/** FailedCreate events of a Job: the Job controller could not create pods. */
export interface CreateFailures {
  /** Sum of event counts. */
  count: number;
  /** Latest message. */
  message: string;
  lastSeen?: string;
  /** Whether it is the namespace quota ("exceeded quota"). */
  quota: boolean;
  /** Quota object named in the message. */
  quotaName?: string;
  /** pods=… values in the message: requested, used, limited. */
  pods?: { requested: number; used: number; limited: number };
}

export type JobState = 'pending' | 'running' | 'complete' | 'failed' | 'suspended';

export interface JobInfo {
  name: string;
  stageId: string;
  part?: number;
  /** A retry Job (only some work units, CNG_INDEX_LIST). */
  retry: boolean;
  run?: number;
  state: JobState;
  completions: number;
  parallelism: number;
  indexOffset: number;
  /** CNG_INDEX_LIST of a retry Job. */
  indexList?: number[];
  succeeded: number;
  failed: number;
  active: number;
  ready?: number;
  /** `status.completedIndexes` / `status.failedIndexes` as the API gives them (completion indices). */
  completedIndexes: string;
  failedIndexes: string;
  /** Number of completed completion indices. */
  completed: number;
  /** Failed work units (global). */
  failedUnits: number[];
  conditions: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[];
  startTime?: string;
  completionTime?: string;
  elapsedSeconds?: number;
  resources: { cpu?: string; memory?: string; ephemeralStorage?: string };
  image?: string;
  pods: PodCounts;
  /** Pods worth a look: every pod not running, waiting normally or succeeded. */
  problemPods: PodInfo[];
  createFailures?: CreateFailures;
  /** In this checkout's dist/ (true), not in it (false: older or newer revision), or unknown. */
  current?: boolean;
}

export interface FluxInfo {
  ready: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  suspended: boolean;
  dependsOn: string[];
  lastAppliedRevision?: string;
}

export type StageState = 'complete' | 'failed' | 'running' | 'pending' | 'waiting' | 'suspended' | 'not-applied' | 'armada';

export interface StageInfo {
  stageId: string;
  kind?: string;
  layer?: string;
  kustomization: string;
  state: StageState;
  /** The Flux Kustomization; null when it is not on the cluster. */
  flux: FluxInfo | null;
  jobs: JobInfo[];
  /** Jobs this checkout's dist/ has for the stage. */
  expectedJobs: string[];
  /** Expected Jobs not (yet) on the cluster. */
  missingJobs: string[];
  /** Sums over the stage's current Jobs. */
  units: { total: number; completed: number; failed: number; active: number };
  elapsedSeconds?: number;
  /** Armada stages: the job set in dist/armada/ and the pods seen with its labels. */
  armada?: { jobSetId?: string; file: string; pods: PodCounts };
}

export interface DatasetInfo {
  name: string;
  run?: number;
  stages: StageInfo[];
}

export interface StatusReport {
  namespace: string;
  context: string;
  server: string;
  time: string;
  datasets: DatasetInfo[];
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Index sets ("0-2,4-16,18-148")

/** Expands a Kubernetes index set such as "0-2,4,7-9". */
export function parseIndexSet(s: string | undefined | null): number[] {
  const out: number[] = [];
  for (const part of (s ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

/** Compresses indices into "0-2,4,7-9". */
export function formatIndexSet(xs: number[]): string {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(j === i ? String(s[i]) : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

function countIndexSet(s: string | undefined | null): number {
  let n = 0;
  for (const part of (s ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m) n += (m[2] === undefined ? 0 : Number(m[2]) - Number(m[1])) + 1;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Reading objects

const iso = (v: unknown): string | undefined =>
  v instanceof Date ? (isNaN(v.getTime()) ? undefined : v.toISOString().replace('.000Z', 'Z')) : typeof v === 'string' && v ? v : undefined;
const seconds = (a?: string, b?: string) => (a && b ? Math.max(0, Math.round((Date.parse(b) - Date.parse(a)) / 1000)) : undefined);
const JOB_NAME_LABELS = ['batch.kubernetes.io/job-name', 'job-name'];
const INDEX_KEY = 'batch.kubernetes.io/job-completion-index';
const FLUX_NAME_LABEL = 'kustomize.toolkit.fluxcd.io/name';
const IMAGE_PULL = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable']);

function podJobName(pod: K8sObject): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  for (const k of JOB_NAME_LABELS) if (labels[k]) return labels[k];
  const owner = (pod.metadata?.ownerReferences ?? []).find((o: any) => o.kind === 'Job');
  return owner?.name;
}

/** Classifies a pod: the one state that explains it best. */
export function classifyPod(pod: K8sObject, unitOf: (index: number) => number | undefined = (i) => i): PodInfo {
  const meta = pod.metadata ?? {};
  const status = pod.status ?? {};
  const rawIndex = meta.annotations?.[INDEX_KEY] ?? meta.labels?.[INDEX_KEY];
  const index = rawIndex !== undefined && /^\d+$/.test(String(rawIndex)) ? Number(rawIndex) : undefined;
  const base: PodInfo = {
    name: meta.name,
    job: podJobName(pod) ?? '',
    ...(index !== undefined ? { index, unit: unitOf(index) } : {}),
    phase: status.phase ?? 'Unknown',
    state: 'waiting',
    ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
  };
  const statuses: any[] = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];
  const conditions: any[] = status.conditions ?? [];
  const terminated = statuses.map((c) => c.state?.terminated ?? c.lastState?.terminated).filter(Boolean);
  const oom = terminated.find((t) => t.reason === 'OOMKilled');
  const disruption = conditions.find((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  const waiting = statuses.map((c) => c.state?.waiting).find(Boolean);
  const finishedAt = (t: any) => iso(t?.finishedAt);

  if (oom) return { ...base, state: 'oom-killed', reason: 'OOMKilled', exitCode: oom.exitCode ?? 137, ...(finishedAt(oom) ? { finishedAt: finishedAt(oom) } : {}) };
  if (status.reason === 'Evicted')
    return { ...base, state: 'evicted', reason: disruption?.reason ? `Evicted (${disruption.reason})` : 'Evicted', message: status.message };
  if (disruption && (status.phase === 'Failed' || meta.deletionTimestamp))
    return { ...base, state: 'preempted', reason: disruption.reason ?? 'DisruptionTarget', message: disruption.message };
  if (status.phase === 'Succeeded') return { ...base, state: 'succeeded' };
  if (status.phase === 'Failed') {
    const t = terminated.find((x) => (x.exitCode ?? 0) !== 0) ?? terminated[0];
    return {
      ...base,
      state: 'failed',
      reason: t?.reason ?? status.reason ?? 'Failed',
      ...(t?.exitCode !== undefined ? { exitCode: t.exitCode } : {}),
      ...(t?.message || status.message ? { message: t?.message ?? status.message } : {}),
      ...(finishedAt(t) ? { finishedAt: finishedAt(t) } : {}),
    };
  }
  if (waiting && IMAGE_PULL.has(waiting.reason)) return { ...base, state: 'image-pull', reason: waiting.reason, message: waiting.message };
  if (status.phase === 'Running') return { ...base, state: 'running' };
  const unschedulable = conditions.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
  if (unschedulable) return { ...base, state: 'unschedulable', reason: 'Unschedulable', message: unschedulable.message };
  return { ...base, state: 'waiting', reason: waiting?.reason ?? 'Pending', ...(waiting?.message ? { message: waiting.message } : {}) };
}

function countPods(pods: PodInfo[]): PodCounts {
  const c: PodCounts = { waiting: 0, unschedulable: 0, imagePull: 0, running: 0, succeeded: 0, failed: 0, oomKilled: 0, preempted: 0, evicted: 0 };
  const key: Record<PodState, keyof PodCounts> = {
    waiting: 'waiting', unschedulable: 'unschedulable', 'image-pull': 'imagePull', running: 'running', succeeded: 'succeeded',
    failed: 'failed', 'oom-killed': 'oomKilled', preempted: 'preempted', evicted: 'evicted',
  };
  for (const p of pods) c[key[p.state]]++;
  return c;
}

function containerEnv(job: K8sObject, name: string): string | undefined {
  const env: any[] = job.spec?.template?.spec?.containers?.[0]?.env ?? [];
  return env.find((e) => e.name === name)?.value;
}

/** Reads the FailedCreate events of one Job. */
export function createFailures(events: K8sObject[]): CreateFailures | undefined {
  if (!events.length) return undefined;
  const when = (e: K8sObject) => iso(e.lastTimestamp) ?? iso(e.eventTime) ?? iso(e.series?.lastObservedTime) ?? iso(e.metadata?.creationTimestamp) ?? '';
  const sorted = [...events].sort((a, b) => when(a).localeCompare(when(b)));
  const last = sorted[sorted.length - 1];
  const message: string = last.message ?? '';
  const count = events.reduce((n, e) => n + (e.series?.count ?? e.count ?? 1), 0);
  const quotaName = /exceeded quota: ([^,\s]+)/.exec(message)?.[1];
  const pods = [...message.matchAll(/\bpods=(\d+)/g)].map((m) => Number(m[1]));
  return {
    count,
    message,
    ...(when(last) ? { lastSeen: when(last) } : {}),
    quota: /exceeded quota/.test(message),
    ...(quotaName ? { quotaName } : {}),
    ...(pods.length === 3 ? { pods: { requested: pods[0], used: pods[1], limited: pods[2] } } : {}),
  };
}

/** A Job with its pods and events, summarized. */
export function jobInfo(job: K8sObject, stageId: string, pods: K8sObject[], events: K8sObject[], now: string, expected?: Set<string>): JobInfo {
  const spec = job.spec ?? {};
  const st = job.status ?? {};
  const name: string = job.metadata?.name;
  const labels = job.metadata?.labels ?? {};
  const offset = Number(containerEnv(job, 'CNG_INDEX_OFFSET') ?? 0) || 0;
  const listRaw = containerEnv(job, 'CNG_INDEX_LIST');
  const indexList = listRaw ? listRaw.split(',').map((x) => Number(x.trim())) : undefined;
  const unitOf = (k: number) => (indexList ? indexList[k] : k + offset);
  const conditions = (st.conditions ?? []).map((c: any) => ({
    type: c.type,
    status: c.status,
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.message ? { message: c.message } : {}),
    ...(iso(c.lastTransitionTime) ? { lastTransitionTime: iso(c.lastTransitionTime) } : {}),
  }));
  const isTrue = (t: string) => conditions.find((c: any) => c.type === t && c.status === 'True');
  const active = st.active ?? 0;
  const state: JobState = isTrue('Complete') || isTrue('SuccessCriteriaMet')
    ? 'complete'
    : isTrue('Failed') || isTrue('FailureTarget')
      ? 'failed'
      : spec.suspend
        ? 'suspended'
        : active > 0 || st.startTime
          ? 'running'
          : 'pending';
  const startTime = iso(st.startTime);
  const completionTime = iso(st.completionTime);
  const end = completionTime ?? (state === 'failed' ? (isTrue('Failed') ?? isTrue('FailureTarget'))?.lastTransitionTime : undefined) ?? (state === 'complete' ? isTrue('Complete')?.lastTransitionTime : undefined) ?? now;
  const infos = pods.map((p) => classifyPod(p, unitOf)).sort((a, b) => (a.index ?? -1) - (b.index ?? -1) || a.name.localeCompare(b.name));
  const c = spec.template?.spec?.containers?.[0] ?? {};
  const limits = c.resources?.limits ?? {};
  const partLabel = labels['cng/part'];
  const failedUnits = parseIndexSet(st.failedIndexes).map(unitOf).filter((u): u is number => u !== undefined);
  const cf = createFailures(events);
  return {
    name,
    stageId,
    ...(partLabel !== undefined ? { part: Number(partLabel) } : {}),
    retry: labels['cng/retry'] === 'true' || indexList !== undefined,
    ...(labels['cng/run'] ? { run: Number(labels['cng/run']) } : {}),
    state,
    completions: spec.completions ?? 1,
    parallelism: spec.parallelism ?? 1,
    indexOffset: offset,
    ...(indexList ? { indexList } : {}),
    succeeded: st.succeeded ?? 0,
    failed: st.failed ?? 0,
    active,
    ...(st.ready !== undefined ? { ready: st.ready } : {}),
    completedIndexes: st.completedIndexes ?? '',
    failedIndexes: st.failedIndexes ?? '',
    completed: st.completedIndexes !== undefined ? countIndexSet(st.completedIndexes) : (st.succeeded ?? 0),
    failedUnits,
    conditions,
    ...(startTime ? { startTime } : {}),
    ...(completionTime ? { completionTime } : {}),
    ...(startTime ? { elapsedSeconds: seconds(startTime, end) } : {}),
    resources: {
      ...(limits.cpu !== undefined ? { cpu: String(limits.cpu) } : {}),
      ...(limits.memory !== undefined ? { memory: String(limits.memory) } : {}),
      ...(limits['ephemeral-storage'] !== undefined ? { ephemeralStorage: String(limits['ephemeral-storage']) } : {}),
    },
    ...(c.image ? { image: c.image } : {}),
    pods: countPods(infos),
    problemPods: infos.filter((p) => !['running', 'succeeded', 'waiting'].includes(p.state) || (p.state === 'waiting' && p.reason !== 'ContainerCreating' && p.reason !== 'PodInitializing' && p.reason !== 'Pending')),
    ...(cf ? { createFailures: cf } : {}),
    ...(expected ? { current: expected.has(name) } : {}),
  };
}

function fluxInfo(k: K8sObject): FluxInfo {
  const ready = (k.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
  return {
    ready: ready?.status === 'True' ? 'True' : ready?.status === 'False' ? 'False' : 'Unknown',
    ...(ready?.reason ? { reason: ready.reason } : {}),
    ...(ready?.message ? { message: ready.message } : {}),
    suspended: Boolean(k.spec?.suspend),
    dependsOn: (k.spec?.dependsOn ?? []).map((d: any) => d.name),
    ...(k.status?.lastAppliedRevision ? { lastAppliedRevision: k.status.lastAppliedRevision } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// What this checkout expects (a fresh synth of datasets/)

interface LocalStage {
  stageId: string;
  kind: StageKind;
  layer?: string;
  kustomization: string;
  runner: 'flux' | 'armada';
  jobs: string[];
  jobSetId?: string;
  order: number;
}

interface LocalDataset {
  spec: ResolvedDatasetSpec;
  raw: DatasetSpec;
  stages: Map<string, LocalStage>;
  jobToStage: Map<string, string>;
}

function localExpectations(specs: DatasetSpec[], warnings: string[]): Map<string, LocalDataset> {
  const out = new Map<string, LocalDataset>();
  let synth;
  try {
    synth = synthesize(specs);
  } catch (err) {
    warnings.push(`this checkout's datasets/ do not synthesize (${(err as Error).message.split('\n')[0]}); stages are taken from the cluster only`);
    return out;
  }
  synth.datasets.forEach((d, i) => {
    const stages = new Map<string, LocalStage>();
    const jobToStage = new Map<string, string>();
    d.stages.forEach((s, order) => {
      stages.set(s.stageId, {
        stageId: s.stageId, kind: s.kind, layer: s.layer, kustomization: s.kustomizationName, runner: s.runner,
        jobs: s.jobs.map((j) => j.jobName), ...(s.jobSetId ? { jobSetId: s.jobSetId } : {}), order,
      });
      for (const j of s.jobs) jobToStage.set(j.jobName, s.stageId);
    });
    out.set(d.spec.name, { spec: d.spec, raw: specs[i], stages, jobToStage });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Collecting the status

export interface CollectOptions {
  dataset?: string;
  specs?: DatasetSpec[];
  now?: string;
}

/** Everything status and doctor need, read in four list calls. */
export interface ClusterState {
  report: StatusReport;
  /** Raw pods by Job name (doctor reads logs of some). */
  podsByJob: Map<string, PodInfo[]>;
  local: Map<string, LocalDataset>;
}

export async function collectStatus(reader: ClusterReader, opts: CollectOptions = {}): Promise<ClusterState> {
  const now = opts.now ?? new Date().toISOString();
  const warnings: string[] = [];
  const local = localExpectations(opts.specs ?? localDatasets, warnings);
  const selector = opts.dataset ? `cng/dataset=${opts.dataset}` : 'app.kubernetes.io/part-of=cng-datasets';
  const [kustomizations, jobs, pods, events] = await Promise.all([
    reader.listKustomizations(selector),
    reader.listJobs(selector),
    reader.listPods(selector),
    reader.listEvents('involvedObject.kind=Job,reason=FailedCreate'),
  ]);
  if (kustomizations === undefined) warnings.push(`no Flux Kustomization API (kustomize.toolkit.fluxcd.io/v1) in this cluster: is Flux installed in ${reader.namespace}?`);

  const names = new Set<string>();
  if (opts.dataset) names.add(opts.dataset);
  else for (const n of local.keys()) names.add(n);
  for (const o of [...(kustomizations ?? []), ...jobs]) if (o.metadata?.labels?.['cng/dataset']) names.add(o.metadata.labels['cng/dataset']);
  if (opts.dataset && !local.has(opts.dataset) && !(kustomizations ?? []).length && !jobs.length)
    throw new CommandError(
      `no dataset '${opts.dataset}': nothing labelled cng/dataset=${opts.dataset} in namespace ${reader.namespace}, and no such dataset in datasets/ (known: ${[...local.keys()].join(', ') || 'none'})`,
    );

  const podsByJobRaw = new Map<string, K8sObject[]>();
  const armadaPods: K8sObject[] = [];
  for (const p of pods) {
    const j = podJobName(p);
    if (j) podsByJobRaw.set(j, [...(podsByJobRaw.get(j) ?? []), p]);
    else armadaPods.push(p);
  }
  const eventsByJob = new Map<string, K8sObject[]>();
  for (const e of events) {
    const n = e.involvedObject?.name;
    if (n) eventsByJob.set(n, [...(eventsByJob.get(n) ?? []), e]);
  }

  const podsByJob = new Map<string, PodInfo[]>();
  const report: StatusReport = {
    namespace: reader.namespace,
    context: reader.context,
    server: reader.server,
    time: now,
    datasets: [],
    warnings,
  };

  for (const dataset of [...names].sort()) {
    const loc = local.get(dataset);
    const stageOf = (job: K8sObject): string => {
      const name: string = job.metadata?.name ?? '';
      const flux = job.metadata?.labels?.[FLUX_NAME_LABEL];
      if (flux && flux.startsWith(`${dataset}-`)) return flux.slice(dataset.length + 1);
      const known = loc?.jobToStage.get(name);
      if (known) return known;
      return name.replace(new RegExp(`^${dataset}-`), '').replace(/(-p\d+)?-r\d+-[0-9a-f]{8}$/, '').replace(/-retry$/, '');
    };
    const stages = new Map<string, { ks?: K8sObject; jobs: K8sObject[] }>();
    const entry = (id: string) => stages.get(id) ?? stages.set(id, { jobs: [] }).get(id)!;
    for (const k of kustomizations ?? []) {
      if (k.metadata?.labels?.['cng/dataset'] !== dataset) continue;
      const id = String(k.metadata.name).startsWith(`${dataset}-`) ? String(k.metadata.name).slice(dataset.length + 1) : k.metadata.name;
      entry(id).ks = k;
    }
    for (const j of jobs) if (j.metadata?.labels?.['cng/dataset'] === dataset) entry(stageOf(j)).jobs.push(j);
    for (const id of loc?.stages.keys() ?? []) entry(id);

    const order = (id: string) => loc?.stages.get(id)?.order ?? Number.MAX_SAFE_INTEGER;
    const infos: StageInfo[] = [];
    for (const [stageId, { ks, jobs: stageJobs }] of [...stages].sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b))) {
      const ls = loc?.stages.get(stageId);
      const expected = ls ? new Set(ls.jobs) : undefined;
      const jobInfos = stageJobs
        .map((j) => {
          const raw = podsByJobRaw.get(j.metadata.name) ?? [];
          const info = jobInfo(j, stageId, raw, eventsByJob.get(j.metadata.name) ?? [], now, expected);
          const offset = info.indexOffset;
          podsByJob.set(info.name, raw.map((p) => classifyPod(p, (k) => (info.indexList ? info.indexList[k] : k + offset))));
          return info;
        })
        .sort((a, b) => Number(a.current === false) - Number(b.current === false) || (a.part ?? -1) - (b.part ?? -1) || a.name.localeCompare(b.name));
      const labels = ks?.metadata?.labels ?? stageJobs[0]?.metadata?.labels ?? {};
      const flux = ks ? fluxInfo(ks) : null;
      const current = jobInfos.filter((j) => j.current !== false);
      const counted = current.length ? current : jobInfos;
      const units = {
        total: counted.reduce((n, j) => n + j.completions, 0),
        completed: counted.reduce((n, j) => n + j.completed, 0),
        failed: counted.reduce((n, j) => n + j.failedUnits.length, 0),
        active: counted.reduce((n, j) => n + j.active, 0),
      };
      const starts = counted.map((j) => j.startTime).filter((x): x is string => Boolean(x)).sort();
      const ends = counted.map((j) => j.completionTime ?? (j.state === 'failed' ? j.conditions.find((c) => c.type === 'Failed' || c.type === 'FailureTarget')?.lastTransitionTime : undefined));
      const end = counted.length && ends.every(Boolean) ? (ends as string[]).sort().at(-1) : now;
      const missingJobs = ls ? ls.jobs.filter((n) => !jobInfos.some((j) => j.name === n)) : [];
      const info: StageInfo = {
        stageId,
        ...(ls?.kind ?? labels['cng/stage'] ? { kind: ls?.kind ?? labels['cng/stage'] } : {}),
        ...(ls?.layer ?? labels['cng/layer'] ? { layer: ls?.layer ?? labels['cng/layer'] } : {}),
        kustomization: ls?.kustomization ?? `${dataset}-${stageId}`,
        state: 'pending',
        flux,
        jobs: jobInfos,
        expectedJobs: ls?.jobs ?? [],
        missingJobs,
        units,
        ...(starts.length ? { elapsedSeconds: seconds(starts[0], end) } : {}),
      };
      if (ls?.runner === 'armada') {
        const mine = armadaPods
          .filter((p) => p.metadata?.labels?.['cng/dataset'] === dataset && p.metadata?.labels?.['cng/layer'] === ls.layer && p.metadata?.labels?.['cng/stage'] === ls.kind)
          .map((p) => classifyPod(p, (i) => i));
        info.armada = { ...(ls.jobSetId ? { jobSetId: ls.jobSetId } : {}), file: `dist/armada/${dataset}-${stageId}.yaml`, pods: countPods(mine) };
      }
      info.state = stageState(info, counted);
      infos.push(info);
    }
    report.datasets.push({ name: dataset, ...(loc ? { run: loc.spec.run } : {}), stages: infos });
  }
  return { report, podsByJob, local };
}

function stageState(s: StageInfo, jobs: JobInfo[]): StageState {
  if (s.armada) return 'armada';
  if (s.flux?.suspended) return 'suspended';
  if (jobs.some((j) => j.state === 'failed')) return 'failed';
  if (jobs.some((j) => j.state === 'running' || j.active > 0)) return 'running';
  if (jobs.length && jobs.every((j) => j.state === 'complete') && !s.missingJobs.length) return 'complete';
  if (s.flux && s.flux.ready !== 'True' && s.flux.reason === 'DependencyNotReady') return 'waiting';
  if (!s.flux && !jobs.length) return 'not-applied';
  return 'pending';
}

// ---------------------------------------------------------------------------------------------
// Rendering

export function formatDuration(s: number | undefined): string {
  if (s === undefined) return '';
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}


function unitsText(xs: number[], max = 12): string {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  return s.length > max ? `${s.slice(0, max).join(', ')}, … (${s.length} in all)` : s.join(', ');
}

function fluxText(s: StageInfo): string {
  if (!s.flux) return s.armada ? 'Armada (no Flux)' : 'not applied';
  if (s.flux.suspended) return 'suspended';
  if (s.flux.ready === 'True') return 'Ready';
  return `${s.flux.ready === 'False' ? 'not ready' : 'in progress'}${s.flux.reason ? `: ${s.flux.reason}` : ''}`;
}

function podNotes(c: PodCounts): string[] {
  const out: string[] = [];
  if (c.oomKilled) out.push(`${c.oomKilled} OOM-killed`);
  if (c.failed) out.push(`${c.failed} failed`);
  if (c.preempted) out.push(`${c.preempted} preempted (re-run)`);
  if (c.evicted) out.push(`${c.evicted} evicted`);
  if (c.imagePull) out.push(`${c.imagePull} image-pull errors`);
  if (c.unschedulable) out.push(`${c.unschedulable} unschedulable`);
  return out;
}

function stageNotes(s: StageInfo): string {
  const notes: string[] = [];
  const sum = (k: keyof PodCounts) => s.jobs.reduce((n, j) => n + j.pods[k], 0);
  notes.push(...podNotes({
    waiting: 0, running: 0, succeeded: 0,
    failed: sum('failed'), oomKilled: sum('oomKilled'), preempted: sum('preempted'), evicted: sum('evicted'),
    imagePull: sum('imagePull'), unschedulable: sum('unschedulable'),
  }));
  const quota = s.jobs.filter((j) => j.createFailures);
  if (quota.length) notes.push(`${quota.some((j) => j.createFailures!.quota) ? 'quota' : 'pod creation'}: ${plural(quota.reduce((n, j) => n + j.createFailures!.count, 0), 'failed create')}`);
  if (s.flux?.reason === 'DependencyNotReady') {
    const dep = /dependency '(?:[^/']+\/)?([^']+)'/.exec(s.flux.message ?? '')?.[1];
    notes.push(`waiting for ${dep ?? 'an upstream stage'}`);
  }
  if (s.flux?.suspended) notes.push('waits for an Armada job set');
  if (s.armada) notes.push(`job set ${s.armada.jobSetId ?? '?'}: ${s.armada.pods.succeeded} done, ${s.armada.pods.running} running, ${s.armada.pods.failed + s.armada.pods.oomKilled} failed`);
  const stale = s.jobs.filter((j) => j.current === false);
  if (stale.length) notes.push(`${plural(stale.length, 'Job')} not in this checkout's dist/`);
  if (s.missingJobs.length && s.flux?.ready === 'True') notes.push(`${plural(s.missingJobs.length, 'Job')} of dist/ not on the cluster (Flux not reconciled yet?)`);
  return notes.join('; ');
}

/** The human table. */
export function renderStatus(r: StatusReport): string {
  const lines: string[] = [];
  for (const d of r.datasets) {
    lines.push(`${d.name}${d.run !== undefined ? ` (run ${d.run})` : ''} — namespace ${r.namespace}, context ${r.context}, ${r.time.replace(/\.\d+Z$/, 'Z')}`);
    const rows = [['STAGE', 'STATE', 'FLUX', 'JOBS', 'UNITS', 'ACTIVE', 'ELAPSED', 'NOTES']];
    for (const s of d.stages) {
      const cur = s.jobs.filter((j) => j.current !== false);
      const jobs = s.jobs.length || s.expectedJobs.length ? `${cur.filter((j) => j.state === 'complete').length}/${Math.max(cur.length, s.expectedJobs.length)}` : '-';
      const units = s.units.total ? `${s.units.completed}/${s.units.total}${s.units.failed ? ` ✗${s.units.failed}` : ''}` : '-';
      rows.push([s.stageId, s.state, fluxText(s), jobs, units, s.units.active ? String(s.units.active) : '', formatDuration(s.elapsedSeconds), stageNotes(s)]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    for (const row of rows) lines.push(`  ${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}`.trimEnd());

    const problems: string[] = [];
    for (const s of d.stages)
      for (const j of s.jobs) {
        const head = `  ${s.stageId}  Job ${j.name}${j.current === false ? ' (not in dist/)' : ''}`;
        const items: string[] = [];
        if (j.failedUnits.length) items.push(j.completions === 1 && !j.retry ? 'failed' : `failed work units: ${unitsText(j.failedUnits)}`);
        const byState = (st: PodState) => j.problemPods.filter((p) => p.state === st);
        const oom = byState('oom-killed');
        if (oom.length) items.push(`OOM-killed at the ${j.resources.memory ?? '?'} limit (exit 137): ${plural(oom.length, 'pod')}, work units ${unitsText(oom.map((p) => p.unit!).filter((u) => u !== undefined))}`);
        const pre = byState('preempted');
        if (pre.length) items.push(`preempted and re-run (nothing to do): ${plural(pre.length, 'pod')} (${reasonCounts(pre)})`);
        const ev = byState('evicted');
        if (ev.length) items.push(`evicted: ${plural(ev.length, 'pod')} — ${ev[0].message ?? ev[0].reason}`);
        const failed = byState('failed');
        if (failed.length) items.push(`failed: ${plural(failed.length, 'pod')} (${reasonCounts(failed)})${j.completions > 1 ? `, work units ${unitsText(failed.map((p) => p.unit!).filter((u) => u !== undefined))}` : ''}`);
        const img = byState('image-pull');
        if (img.length) items.push(`cannot pull image ${j.image ?? ''}: ${img[0].reason}${img[0].message ? ` — ${img[0].message}` : ''}`);
        const un = byState('unschedulable');
        if (un.length) items.push(`${plural(un.length, 'pod')} cannot be scheduled: ${un[0].message ?? ''}`);
        if (j.createFailures) items.push(`${j.createFailures.quota ? 'quota' : 'pod creation'}: ${plural(j.createFailures.count, 'failed create')} — ${j.createFailures.message}`);
        if (items.length) problems.push(head, ...items.map((x) => `    ${x}`));
      }
    if (problems.length) lines.push('', '  Problems:', ...problems, '', `  Run 'cng doctor ${d.name}' for what to change.`);
    lines.push('');
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n').trimEnd() + '\n';
}

function reasonCounts(pods: PodInfo[]): string {
  const m = new Map<string, number>();
  for (const p of pods) {
    const k = `${p.reason ?? p.state}${p.exitCode !== undefined && p.state === 'failed' ? `, exit ${p.exitCode}` : ''}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join('; ');
}

// ---------------------------------------------------------------------------------------------
// cng status

const CLUSTER_OPTIONS = {
  namespace: { type: 'string' },
  context: { type: 'string' },
} as const;

export const statusCommand: Command = {
  name: 'status',
  summary: 'what the cluster is doing: Flux stages, Jobs, work units, OOM kills, preemptions, quota',
  help: `Usage: cng status [dataset] [--watch] [--interval SECONDS] [--json] [--namespace NS] [--context CTX]

Reads the namespace through the Kubernetes API (kubeconfig from $KUBECONFIG or
~/.kube/config) and shows, per dataset and stage: the Flux Kustomization's Ready
condition, each Job's completed and failed work units, active pods and elapsed time,
and pods that were OOM-killed, preempted (re-run automatically), evicted, cannot pull
their image or cannot be scheduled, and Jobs that cannot create pods (quota).
Work units are global indices (offsets applied), as hex.retry takes them.

Options:
  --watch              refresh until interrupted (clears the screen on a terminal)
  --interval SECONDS   refresh period with --watch (default 10)
  --json               machine-readable report (one JSON document per refresh)
  --namespace NS       namespace (default: the cluster profile's, biodiversity)
  --context CTX        kubeconfig context (default: the current one)
  -h, --help           show this help

Exit status: 0 the cluster was read (even if Jobs failed), 1 API or kubeconfig error,
2 usage error.

Examples:
  cng status
  cng status padus-4-1
  cng status padus-4-1 --watch --interval 30
  cng status padus-4-1 --json`,
  options: { ...CLUSTER_OPTIONS, watch: { type: 'boolean' }, interval: { type: 'string' }, json: { type: 'boolean' } },
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError(`expected at most one dataset, got ${positionals.join(' ')}`);
    const dataset = positionals[0];
    const interval = str(values.interval) === undefined ? 10 : Number(values.interval);
    if (!(interval >= 1)) throw new UsageError(`--interval must be a number of seconds ≥ 1, got '${values.interval}'`);
    if (values.interval !== undefined && !values.watch) throw new UsageError('--interval needs --watch');
    const reader = await connectCluster({ namespace: str(values.namespace) ?? ClusterProfile.NRP.namespace, context: str(values.context) });
    const once = async () => {
      const { report } = await collectStatus(reader, { dataset });
      return values.json ? JSON.stringify(report, null, values.watch ? undefined : 2) + '\n' : renderStatus(report);
    };
    if (!values.watch) {
      process.stdout.write(await once());
      return EXIT.ok;
    }
    const tty = process.stdout.isTTY;
    let first = true;
    let stop = false;
    let wake: () => void = () => {};
    const onSignal = () => {
      stop = true;
      wake();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      while (!stop) {
        let text: string;
        try {
          text = await once();
        } catch (err) {
          if (first) throw err; // unreadable from the start: the one-line error, exit 1
          text = `cng status: ${(err as Error).message} (retrying in ${interval}s)\n`;
        }
        first = false;
        if (tty && !values.json) process.stdout.write('\x1b[2J\x1b[H');
        process.stdout.write(text + (tty || values.json ? '' : `--- every ${interval}s; Ctrl-C to stop\n`));
        await new Promise<void>((res) => {
          const t = setTimeout(res, interval * 1000);
          wake = () => {
            clearTimeout(t);
            res();
          };
        });
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return EXIT.ok;
  },
};

// ---------------------------------------------------------------------------------------------
// cng doctor: findings

/** A change to a dataset file: set (or delete) the value at a path of its object literal. */
export interface SpecEdit {
  /** Property path from the dataset object, e.g. ['layers', 'fee', 'resources', 'hex', 'memory']. */
  path: string[];
  /** TypeScript source of the value; undefined deletes the property. */
  value?: string;
}

export type FindingKind =
  | 'oom' | 'preempted' | 'evicted' | 'quota' | 'create-failed' | 's3-denied' | 's3-missing' | 'failed' | 'image-pull'
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
export const MEMORY_CAP: Record<string, string> = { hex: '16Gi', default: '32Gi' };
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

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export interface DiagnoseOptions {
  plans?: HexPlanFile[];
  /** Reads a pod's last log lines (doctor passes the cluster reader). */
  podLog?: (pod: string) => Promise<string>;
}

/** Findings for one dataset, in stage order. */
export async function diagnose(state: ClusterState, dataset: string, opts: DiagnoseOptions = {}): Promise<Finding[]> {
  const d = state.report.datasets.find((x) => x.name === dataset);
  if (!d) return [];
  const loc = state.local.get(dataset);
  const spec = loc?.spec;
  const findings: Finding[] = [];
  const label = (s: StageInfo) => `${dataset} ${s.stageId}`;

  for (const s of d.stages) {
    const layer = s.layer;
    const kind = s.kind ?? '';
    const current = s.jobs.filter((j) => j.current !== false);
    const stale = s.jobs.filter((j) => j.current === false);
    const jobs = current.length ? current : s.jobs;
    const running = jobs.filter((j) => j.state === 'running' || j.active > 0);
    // A stage's layer label is a key of the dataset file's `layers` or `rasters`.
    const group = layer && (spec as { rasters?: Record<string, unknown> } | undefined)?.rasters?.[layer] ? 'rasters' : 'layers';
    const resourcesPath = (field: string) => (layer ? [group, layer, 'resources', kind, field] : ['resources', kind, field]);
    // Stage edits re-create the stage's Jobs: only once nothing of it is running any more.
    const settled = !running.length;
    // Findings about Jobs this checkout no longer renders (older or newer revision) are not edited.
    const editable = settled && loc !== undefined && current.length > 0;

    // Preemptions: informational.
    const preempted = jobs.flatMap((j) => j.problemPods.filter((p) => p.state === 'preempted'));
    if (preempted.length)
      findings.push({
        kind: 'preempted',
        stageId: s.stageId,
        ...(layer ? { layer } : {}),
        units: unique(preempted.map((p) => p.unit)),
        sentence: `${label(s)}: ${plural(preempted.length, 'pod was', 'pods were')} preempted (${reasonCounts(preempted)}); nothing to do: Kubernetes re-ran those work units without counting them as failures.`,
      });

    // OOM kills.
    const oomPods = jobs.flatMap((j) => j.problemPods.filter((p) => p.state === 'oom-killed'));
    const failedUnits = unique(jobs.flatMap((j) => j.failedUnits));
    const oomUnits = unique(oomPods.map((p) => p.unit));
    const oomFailed = oomUnits.filter((u) => failedUnits.includes(u));
    let memoryEdit: SpecEdit | undefined;
    let unitsEdit: SpecEdit[] | undefined;
    if (oomPods.length) {
      const job = jobs.find((j) => j.problemPods.some((p) => p.state === 'oom-killed'))!;
      const memory = job.resources.memory ?? DEFAULT_RESOURCES[kind as StageKind]?.memory ?? '?';
      const plan = layer && spec ? opts.plans?.find((p) => p.layer === spec.layers[layer]?.layer) : undefined;
      const estimate = plan ? planEstimate(plan, oomFailed.length ? oomFailed : oomUnits) : undefined;
      const steps = estimate && estimate.ratio > 4 ? 2 : 1;
      const next = nextMemory(memory, kind, steps);
      const where = kind === 'hex' || oomUnits.length > 1 || (job.completions ?? 1) > 1 ? `work ${oomUnits.length === 1 ? 'unit' : 'units'} ${unitsText(oomUnits)} ` : '';
      const est = estimate ? ` (${estimate.text})` : '';
      if (!oomFailed.length && !jobs.some((j) => j.state === 'failed')) {
        findings.push({
          kind: 'oom',
          stageId: s.stageId,
          ...(layer ? { layer } : {}),
          job: job.name,
          units: oomUnits,
          sentence: `${label(s)}: ${where}${plural(oomPods.length, 'pod was', 'pods were')} OOM-killed at the ${memory} limit${est} but ${running.length ? 'are being retried' : 'succeeded on retry'}; nothing to change yet${next.value ? ` (if they fail, the fix is ${next.value})` : ''}.`,
        });
      } else if (next.value) {
        const path = resourcesPath('memory');
        memoryEdit = { path, value: quote(next.value) };
        findings.push({
          kind: 'oom',
          stageId: s.stageId,
          ...(layer ? { layer } : {}),
          job: job.name,
          units: oomFailed.length ? oomFailed : oomUnits,
          sentence: `${label(s)}: ${where}${oomFailed.length ? 'failed, ' : ''}OOM-killed at the ${memory} memory limit (exit 137, ${plural(oomPods.length, 'pod')})${est}; give the stage ${next.value} (${path.join('.')}: '${next.value}')${kind === 'hex' && oomFailed.length ? ' and re-run only those units' : ''}.`,
          edits: [memoryEdit],
          ...(next.capped ? { warning: `${next.value} is the cap for ${kind || 'this'} stages (${next.cap}); if it is still not enough, give the layer more work units (lower hex.featuresPerUnit)` } : {}),
        });
      } else {
        // At the cap: more, smaller work units for hex (re-runs convert and everything after it).
        const fpu = layer && spec ? (spec.layers[layer]?.hex?.featuresPerUnit ?? spec.hex.featuresPerUnit ?? 2000) : undefined;
        if (kind === 'hex' && layer && fpu && fpu > 1) {
          const newFpu = Math.max(1, Math.floor(fpu / 2));
          unitsEdit = [{ path: ['layers', layer, 'hex', 'featuresPerUnit'], value: String(newFpu) }];
          if (spec?.layers[layer]?.hex?.retry) unitsEdit.push({ path: ['layers', layer, 'hex', 'retry'] });
          findings.push({
            kind: 'oom',
            stageId: s.stageId,
            layer,
            job: job.name,
            units: oomUnits,
            sentence: `${label(s)}: ${where}OOM-killed at ${memory}, already the memory cap for hex pods (${next.cap})${est}; split the work into smaller units instead (layers.${layer}.hex.featuresPerUnit: ${fpu} → ${newFpu}), which re-runs the layer's convert, hex and downstream stages.`,
            edits: unitsEdit,
            warning: `memory is capped at ${next.cap} for hex stages`,
          });
        } else
          findings.push({
            kind: 'oom',
            stageId: s.stageId,
            ...(layer ? { layer } : {}),
            job: job.name,
            units: oomUnits,
            sentence: `${label(s)}: OOM-killed at ${memory}, already the memory cap (${next.cap}) for ${kind || 'this'} stages; this needs a person: a smaller input or a change to the worker.`,
            warning: `memory is capped at ${next.cap}`,
          });
      }
    }

    // Evictions (node pressure, or the pod's own ephemeral-storage limit).
    const evicted = jobs.flatMap((j) => j.problemPods.filter((p) => p.state === 'evicted'));
    if (evicted.length) {
      const storage = evicted.find((p) => /ephemeral[- ]local storage|ephemeral-storage/i.test(p.message ?? ''));
      const job = jobs.find((j) => j.problemPods.includes(storage ?? evicted[0]))!;
      const current = job.resources.ephemeralStorage ?? DEFAULT_RESOURCES[kind as StageKind]?.ephemeralStorage;
      const next = storage && current ? nextStorage(current) : undefined;
      if (next) {
        const path = resourcesPath('ephemeralStorage');
        findings.push({
          kind: 'evicted',
          stageId: s.stageId,
          ...(layer ? { layer } : {}),
          job: job.name,
          units: unique(evicted.map((p) => p.unit)),
          sentence: `${label(s)}: ${plural(evicted.length, 'pod was', 'pods were')} evicted for using more scratch disk than its ${current} limit; give the stage ${next} (${path.join('.')}: '${next}').`,
          edits: [{ path, value: quote(next) }],
        });
      } else
        findings.push({
          kind: 'evicted',
          stageId: s.stageId,
          ...(layer ? { layer } : {}),
          units: unique(evicted.map((p) => p.unit)),
          sentence: `${label(s)}: ${plural(evicted.length, 'pod was', 'pods were')} evicted by the kubelet (${evicted[0].message ?? evicted[0].reason}); they are re-run, nothing to change unless it keeps happening.`,
        });
    }

    // Other failures: read the logs.
    const otherFailedUnits = failedUnits.filter((u) => !oomUnits.includes(u));
    const failedPods = jobs.flatMap((j) => j.problemPods.filter((p) => p.state === 'failed'));
    const failedNonIndexed = jobs.filter((j) => j.state === 'failed' && !j.failedUnits.length && !oomPods.length);
    if (otherFailedUnits.length || (failedNonIndexed.length && failedPods.length)) {
      const byUnit = new Map<number | undefined, PodInfo[]>();
      for (const p of failedPods) if (p.unit === undefined || otherFailedUnits.includes(p.unit)) byUnit.set(p.unit, [...(byUnit.get(p.unit) ?? []), p]);
      const pods = [...byUnit.values()].map((ps) => ps.sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? '')).at(-1)!);
      const read: { pod: PodInfo; lines: string[] }[] = [];
      for (const p of pods.slice(0, 3)) {
        let lines: string[] = [];
        if (opts.podLog) {
          try {
            lines = (await opts.podLog(p.name)).trimEnd().split('\n').slice(-20);
          } catch (err) {
            lines = [`(log unavailable: ${(err as Error).message})`];
          }
        }
        read.push({ pod: p, lines });
      }
      const text = read.flatMap((r) => r.lines).join('\n');
      const denied = /'(s3:\/\/[^']+|\/vsis3\/[^']+)': access denied(?: \(([^)]+)\))?/.exec(text) ?? (/AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|HTTP (?:response )?code:? 403/.test(text) ? ([] as unknown as RegExpExecArray) : null);
      const missing = /'(s3:\/\/[^']+|\/vsis3\/[^']+)': no such object/.exec(text) ?? (/NoSuchKey|NoSuchBucket|HTTP (?:response )?code:? 404/.test(text) ? ([] as unknown as RegExpExecArray) : null);
      const units = otherFailedUnits;
      const unitWords = units.length && (kind === 'hex' || jobs.some((j) => j.completions > 1)) ? `work ${units.length === 1 ? 'unit' : 'units'} ${unitsText(units)}` : 'the stage';
      const first = read[0];
      const exit = first?.pod.exitCode !== undefined ? `exit code ${first.pod.exitCode}` : first?.pod.reason ?? 'failed';
      const upstream = d.stages.find((x) => x.layer === layer && x.kind === 'convert' && x.stageId !== s.stageId);
      const rerun = kind === 'hex' ? 're-run only those units' : 're-run the stage (a failed Job stays failed: bump run, or change the stage)';
      let sentence: string;
      let kindOf: FindingKind = 'failed';
      if (denied) {
        kindOf = 's3-denied';
        sentence = `${label(s)}: ${unitWords} failed because S3 denied access${denied[1] ? ` to '${denied[1]}'` : ''}${denied[2] ? ` (${denied[2]})` : ''}; check the credentials in the 'aws' secret of namespace ${state.report.namespace} (they must read the source and write bucket ${spec?.bucket ?? 'of the dataset'}), then ${rerun}.`;
      } else if (missing) {
        kindOf = 's3-missing';
        sentence = `${label(s)}: ${unitWords} failed because an input is missing${missing[1] ? `: '${missing[1]}'` : ''}; ${kind === 'convert' || kind === 'table' ? "check the dataset's source path (cng inspect)" : `check that ${upstream ? `stage ${upstream.stageId}` : 'the upstream stage'} completed and wrote it`}, then ${rerun}.`;
      } else {
        const lastLine = read.flatMap((r) => r.lines).filter((l) => l.trim()).at(-1);
        sentence = `${label(s)}: ${unitWords} failed (${exit})${lastLine ? `, last log line: ${lastLine.trim().slice(0, 200)}` : ''}; fix the cause, then ${rerun}.`;
      }
      findings.push({
        kind: kindOf,
        stageId: s.stageId,
        ...(layer ? { layer } : {}),
        ...(first ? { job: first.pod.job } : {}),
        units,
        sentence,
        ...(first ? { log: { pod: first.pod.name, lines: first.lines } } : {}),
      });
    }

    // Retry only the failed work units of a hex stage (whatever the cause) once the stage settled.
    if (kind === 'hex' && layer && failedUnits.length && !unitsEdit) {
      const retryEdit: SpecEdit = { path: ['layers', layer, 'hex', 'retry'], value: `{ run: ${d.run ?? spec?.run ?? 1}, indexes: [${[...failedUnits].sort((a, b) => a - b).join(', ')}] }` };
      const target = findings.filter((f) => f.stageId === s.stageId && ['oom', 's3-denied', 's3-missing', 'failed'].includes(f.kind) && (f.units ?? []).some((u) => failedUnits.includes(u)));
      const holder = target.find((f) => f.edits?.length) ?? target[0];
      if (holder) holder.edits = [...(holder.edits ?? []), retryEdit];
    }
    if (!editable) {
      for (const f of findings.filter((x) => x.stageId === s.stageId && x.edits?.length)) {
        f.edits = undefined;
        f.warning = running.length
          ? `${plural(running.reduce((n, j) => n + j.active, 0), 'pod is', 'pods are')} still running in this stage: wait until its Jobs finish, then run cng doctor again (changing the stage now would replace the running Jobs)`
          : stale.length
            ? `the failed Job is not in this checkout's dist/ (pull the latest main, or the fix is already merged)`
            : 'this dataset is not in this checkout';
      }
    }
    if (running.length && (failedUnits.length || oomPods.length))
      findings.push({
        kind: 'running',
        stageId: s.stageId,
        ...(layer ? { layer } : {}),
        sentence: `${label(s)}: still running (${plural(s.units.active, 'pod')} active, ${s.units.completed}/${s.units.total} work units done); the changes above can be applied once it has finished.`,
      });

    // Image pull errors.
    const images = jobs.flatMap((j) => j.problemPods.filter((p) => p.state === 'image-pull').map((p) => ({ p, j })));
    if (images.length) {
      const { p, j } = images[0];
      findings.push({
        kind: 'image-pull',
        stageId: s.stageId,
        ...(layer ? { layer } : {}),
        job: j.name,
        sentence: `${label(s)}: ${plural(images.length, 'pod')} cannot pull image ${j.image ?? '?'} (${p.reason}${p.message ? `: ${p.message.slice(0, 160)}` : ''}); the tag is package.json's version (constructs/profile.ts): publish that image (the image workflow) or fix the version, then re-synthesize.`,
      });
    }

    // Unschedulable pods.
    const unsched = jobs.flatMap((j) => j.problemPods.filter((p) => p.state === 'unschedulable'));
    if (unsched.length) {
      const j = jobs.find((x) => x.problemPods.includes(unsched[0]))!;
      findings.push({
        kind: 'unschedulable',
        stageId: s.stageId,
        ...(layer ? { layer } : {}),
        job: j.name,
        sentence: `${label(s)}: ${plural(unsched.length, 'pod')} cannot be scheduled (${(unsched[0].message ?? '').slice(0, 200)}); a ${j.resources.cpu ?? '?'} CPU / ${j.resources.memory ?? '?'} pod may fit no free node: wait if the cluster is busy, or lower the stage's resources.`,
      });
    }

    // Pod creation failures: quota.
    for (const j of jobs.filter((x) => x.createFailures)) {
      const cf = j.createFailures!;
      if (/priority-ban/.test(cf.quotaName ?? '')) {
        findings.push({
          kind: 'create-failed',
          stageId: s.stageId,
          job: j.name,
          sentence: `${label(s)}: the namespace rejects the pods' priority class (quota ${cf.quotaName}, ${plural(cf.count, 'attempt')}); set ClusterProfile's priorityClassName to a class NRP allows (opportunistic) and re-synthesize.`,
        });
        continue;
      }
      if (!cf.quota) {
        findings.push({
          kind: 'create-failed',
          stageId: s.stageId,
          job: j.name,
          sentence: `${label(s)}: the Job controller cannot create pods (${plural(cf.count, 'attempt')}): ${cf.message.slice(0, 240)}.`,
        });
        continue;
      }
      const q = quotaProposal(state, d, j, loc?.raw);
      findings.push({
        kind: 'quota',
        stageId: s.stageId,
        ...(layer ? { layer } : {}),
        job: j.name,
        sentence: `${label(s)}: the Job could not create pods ${plural(cf.count, 'time')} because the namespace quota is exhausted (${cf.quotaName ?? 'quota'}${cf.pods ? `: ${cf.pods.used} of ${cf.pods.limited} pods in use` : ''}); ${q.text}`,
        ...(q.edit ? { edits: [q.edit] } : {}),
      });
    }

    // Flux.
    if (s.flux && s.flux.ready !== 'True' && !s.flux.suspended) {
      const msg = s.flux.message ?? '';
      const dep = /dependency '(?:[^/']+\/)?([^']+)' is not ready/.exec(msg)?.[1];
      if (s.flux.reason === 'DependencyNotReady' || dep) {
        const up = d.stages.find((x) => x.kustomization === dep);
        findings.push({
          kind: 'dependency',
          stageId: s.stageId,
          ...(layer ? { layer } : {}),
          sentence: `${label(s)}: Flux holds this stage until its upstream stage ${up ? up.stageId : dep ?? '?'} is Ready${up ? ` (now ${up.state})` : ''}; fix ${up ? up.stageId : 'that stage'} first, nothing to change here.`,
        });
      } else if (/immutable/i.test(msg)) {
        findings.push({
          kind: 'flux',
          stageId: s.stageId,
          sentence: `${label(s)}: Flux cannot apply the stage because a Job's spec changed under the same name (Job specs are immutable): dist/ was probably edited by hand; run cng synth and cng validate, and check cng diff for Jobs "changed in place".`,
        });
      } else if (!jobs.some((j) => j.state === 'failed') && !findings.some((f) => f.stageId === s.stageId)) {
        findings.push({
          kind: 'flux',
          stageId: s.stageId,
          sentence: `${label(s)}: the Flux Kustomization ${s.kustomization} is ${s.flux.ready === 'False' ? 'not Ready' : 'not Ready yet'} (${s.flux.reason ?? 'no reason'}${msg ? `: ${msg.slice(0, 240)}` : ''}); see flux get kustomizations -n ${state.report.namespace}.`,
        });
      }
    }
    if (s.flux?.suspended) {
      const armadaUp = d.stages.find((x) => x.armada && (s.flux?.dependsOn.includes(x.kustomization) || x.layer === s.layer));
      findings.push({
        kind: 'armada',
        stageId: s.stageId,
        ...(layer ? { layer } : {}),
        sentence: armadaUp
          ? `${label(s)}: suspended until the Armada job set ${armadaUp.armada?.jobSetId ?? ''} has completed; submit it with armadactl submit ${armadaUp.armada?.file}, and once every job succeeded set layers.${armadaUp.layer}.hex.completedJobSet: '${armadaUp.armada?.jobSetId}' in a PR.`
          : `${label(s)}: the Kustomization is suspended; a PR that un-suspends it (see docs/runbook.md) lets Flux apply it.`,
      });
    }
    if (!s.flux && s.expectedJobs.length && !s.armada && state.report.datasets.length)
      findings.push({
        kind: 'flux',
        stageId: s.stageId,
        sentence: `${label(s)}: Flux has not created the Kustomization ${s.kustomization}; if the change is merged, check flux get kustomizations -n ${state.report.namespace} (the root cng-datasets Kustomization).`,
      });
  }
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
function quotaProposal(state: ClusterState, d: DatasetInfo, j: JobInfo, raw: DatasetSpec | undefined): { text: string; edit?: SpecEdit } {
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

// ---------------------------------------------------------------------------------------------
// Editing a dataset file as text

/**
 * A careful editor of the dataset object literal in a dataset file: finds properties by key
 * (skipping strings, comments and nested brackets), replaces values, inserts properties in the
 * file's own style, deletes them. It refuses (throws) rather than guess: a value that is not an
 * object literal on the way, a spread that might define the key, no exported object literal.
 */
export class SpecFileEditor {
  text: string;
  private readonly root: number;

  constructor(text: string) {
    this.text = text;
    const m = /export\s+const\s+[A-Za-z_$][\w$]*\s*(?::\s*[A-Za-z_$][\w$.<>]*\s*)?=\s*\{/.exec(text);
    if (!m) throw new Error('no `export const … = { … }` object literal in the dataset file');
    this.root = m.index + m[0].length - 1;
  }

  /** Sets the value at `path` (TypeScript source), creating objects on the way; deletes it when value is undefined. */
  apply(edit: SpecEdit): void {
    if (edit.value === undefined) this.delete(edit.path);
    else this.set(edit.path, edit.value);
  }

  set(path: string[], value: string): void {
    let obj = this.root;
    for (let i = 0; i < path.length; i++) {
      const key = path[i];
      const props = this.props(obj);
      const p = props.find((x) => x.key === key);
      const last = i === path.length - 1;
      if (!p) {
        if (props.some((x) => x.key === undefined))
          throw new Error(`cannot add ${path.slice(0, i + 1).join('.')}: the object holds a spread or computed entry that might define it; edit the file by hand`);
        this.insert(obj, props, key, nest(path.slice(i + 1), value));
        return;
      }
      if (last) {
        this.text = this.text.slice(0, p.valueStart) + value + this.text.slice(p.valueEnd);
        return;
      }
      if (this.text[p.valueStart] !== '{')
        throw new Error(`cannot edit ${path.slice(0, i + 1).join('.')}: its value is not an object literal (${this.text.slice(p.valueStart, p.valueEnd).slice(0, 40)}); edit the file by hand`);
      obj = p.valueStart;
    }
  }

  delete(path: string[]): void {
    let obj = this.root;
    for (let i = 0; i < path.length; i++) {
      const props = this.props(obj);
      const p = props.find((x) => x.key === path[i]);
      if (!p) return;
      if (i < path.length - 1) {
        if (this.text[p.valueStart] !== '{') return;
        obj = p.valueStart;
        continue;
      }
      const idx = props.indexOf(p);
      const t = this.text;
      const lineStart = t.lastIndexOf('\n', p.start - 1) + 1;
      const restOfLine = /^[ \t]*(\/\/[^\n]*)?\n/.exec(t.slice(p.end));
      if (/^\s*$/.test(t.slice(lineStart, p.start)) && restOfLine) this.text = t.slice(0, lineStart) + t.slice(p.end + restOfLine[0].length);
      else if (idx < props.length - 1) this.text = t.slice(0, p.start) + t.slice(props[idx + 1].start);
      else if (idx > 0) this.text = t.slice(0, props[idx - 1].valueEnd) + t.slice(p.valueEnd);
      else this.text = t.slice(0, obj + 1) + t.slice(this.matching(obj));
    }
  }

  /** The value source at a path, or undefined. */
  get(path: string[]): string | undefined {
    let obj = this.root;
    for (let i = 0; i < path.length; i++) {
      const p = this.props(obj).find((x) => x.key === path[i]);
      if (!p) return undefined;
      if (i === path.length - 1) return this.text.slice(p.valueStart, p.valueEnd);
      if (this.text[p.valueStart] !== '{') return undefined;
      obj = p.valueStart;
    }
    return undefined;
  }

  private insert(obj: number, props: Prop[], key: string, value: string): void {
    const t = this.text;
    const close = this.matching(obj);
    const entry = `${propKey(key)}: ${value}`;
    const inner = t.slice(obj + 1, close);
    if (!props.length) {
      if (inner.includes('\n')) {
        const indent = lineIndent(t, obj) + '  ';
        this.text = `${t.slice(0, obj + 1)}\n${indent}${entry},\n${lineIndent(t, obj)}${t.slice(close)}`;
      } else this.text = `${t.slice(0, obj + 1)} ${entry} ${t.slice(close)}`;
      return;
    }
    const last = props[props.length - 1];
    const trailingComma = t.slice(last.valueEnd, close).trimStart().startsWith(',');
    if (!inner.includes('\n')) {
      const oneLine = `${t.slice(0, last.valueEnd)}, ${entry}${trailingComma ? ',' : ''}${t.slice(trailingComma ? t.indexOf(',', last.valueEnd) + 1 : last.valueEnd)}`;
      const lineStart = t.lastIndexOf('\n', obj) + 1;
      const lineEnd = oneLine.indexOf('\n', lineStart);
      if ((lineEnd < 0 ? oneLine.length : lineEnd) - lineStart <= 120 || this.hasComment(obj + 1, close)) {
        this.text = oneLine;
        return;
      }
      // Too long for one line: lay the object out one property per line.
      const indent = lineIndent(t, obj);
      const entries = [...props.map((p) => t.slice(p.start, p.valueEnd)), entry];
      this.text = `${t.slice(0, obj)}{\n${entries.map((e) => `${indent}  ${e},`).join('\n')}\n${indent}}${t.slice(close + 1)}`;
      return;
    }
    const indent = lineIndent(t, last.start);
    let at = trailingComma ? t.indexOf(',', last.valueEnd) + 1 : last.valueEnd;
    const comment = /^[ \t]*\/\/[^\n]*/.exec(t.slice(at));
    if (comment) at += comment[0].length;
    const sep = trailingComma ? '' : ',';
    const before = trailingComma ? t.slice(0, at) : t.slice(0, last.valueEnd) + sep + t.slice(last.valueEnd, at);
    this.text = `${before}\n${indent}${entry}${trailingComma ? ',' : ''}${t.slice(at)}`;
  }

  /** Whether a comment occurs between from and to (strings skipped). */
  private hasComment(from: number, to: number): boolean {
    const t = this.text;
    for (let j = from; j < to; ) {
      const c = t[j];
      if (c === '/' && (t[j + 1] === '/' || t[j + 1] === '*')) return true;
      j = c === "'" || c === '"' || c === '`' ? this.skipString(j) : j + 1;
    }
    return false;
  }

  /** Properties of the object literal whose `{` is at `open`. */
  private props(open: number): Prop[] {
    const t = this.text;
    const close = this.matching(open);
    const out: Prop[] = [];
    let i = open + 1;
    while (true) {
      i = this.skipTrivia(i);
      if (i >= close) break;
      const start = i;
      let key: string | undefined;
      const c = t[i];
      if (c === "'" || c === '"') {
        const end = this.skipString(i);
        key = JSON.parse(c === '"' ? t.slice(i, end) : `"${t.slice(i + 1, end - 1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"`);
        i = end;
      } else {
        const m = /^[A-Za-z_$][\w$]*|^\d+/.exec(t.slice(i, close));
        if (m) {
          key = m[0];
          i += m[0].length;
        }
      }
      const afterKey = this.skipTrivia(i);
      let valueStart: number;
      if (key !== undefined && t[afterKey] === ':') valueStart = this.skipTrivia(afterKey + 1);
      else {
        key = undefined; // spread, shorthand, method or computed key: opaque
        valueStart = start;
      }
      const valueEnd = this.valueEnd(valueStart, close);
      let end = this.skipTrivia(valueEnd);
      if (t[end] === ',') end++;
      out.push({ key, start, valueStart, valueEnd, end });
      i = end;
      if (i <= start) break;
    }
    return out;
  }

  /** End (exclusive, trailing whitespace trimmed) of the value starting at i. */
  private valueEnd(i: number, limit: number): number {
    const t = this.text;
    let j = i;
    let lastSignificant = i;
    while (j < limit) {
      const c = t[j];
      if (c === ',') break;
      if (c === '/' && (t[j + 1] === '/' || t[j + 1] === '*')) {
        j = this.skipTrivia(j);
        continue;
      }
      if (c === "'" || c === '"' || c === '`') j = this.skipString(j);
      else if (c === '{' || c === '[' || c === '(') j = this.matching(j) + 1;
      else if (/\s/.test(c)) {
        j++;
        continue;
      } else j++;
      lastSignificant = j;
    }
    return lastSignificant;
  }

  private skipTrivia(i: number): number {
    const t = this.text;
    while (i < t.length) {
      if (/\s/.test(t[i])) i++;
      else if (t.startsWith('//', i)) i = t.indexOf('\n', i) < 0 ? t.length : t.indexOf('\n', i);
      else if (t.startsWith('/*', i)) i = t.indexOf('*/', i + 2) < 0 ? t.length : t.indexOf('*/', i + 2) + 2;
      else break;
    }
    return i;
  }

  /** Index just after the string literal starting at i. */
  private skipString(i: number): number {
    const t = this.text;
    const q = t[i];
    let j = i + 1;
    while (j < t.length) {
      if (t[j] === '\\') j += 2;
      else if (t[j] === q) return j + 1;
      else if (q === '`' && t.startsWith('${', j)) j = this.matching(j + 1) + 1;
      else j++;
    }
    throw new Error('unterminated string in the dataset file');
  }

  /** Index of the bracket matching the one at i. */
  private matching(i: number): number {
    const t = this.text;
    const open = t[i];
    const closeCh = ({ '{': '}', '[': ']', '(': ')' } as Record<string, string>)[open];
    if (!closeCh) throw new Error(`internal: no bracket at ${i}`);
    let j = i + 1;
    while (j < t.length) {
      const c = t[j];
      if (c === closeCh) return j;
      if (c === "'" || c === '"' || c === '`') j = this.skipString(j);
      else if (c === '/' && (t[j + 1] === '/' || t[j + 1] === '*')) j = this.skipTrivia(j);
      else if (c === '{' || c === '[' || c === '(') j = this.matching(j) + 1;
      else j++;
    }
    throw new Error('unbalanced brackets in the dataset file');
  }
}

interface Prop {
  /** undefined for spreads and other entries the editor does not interpret. */
  key?: string;
  start: number;
  valueStart: number;
  valueEnd: number;
  /** After the separating comma. */
  end: number;
}

function propKey(k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k);
}

function nest(rest: string[], value: string): string {
  return rest.length ? `{ ${propKey(rest[0])}: ${nest(rest.slice(1), value)} }` : value;
}

function lineIndent(t: string, at: number): string {
  const start = t.lastIndexOf('\n', at - 1) + 1;
  return /^[ \t]*/.exec(t.slice(start))![0];
}

// ---------------------------------------------------------------------------------------------
// todo.md

/** Adds bullets under `### <dataset> — run <n>` in the "## Runs" section (creating what is missing). */
export function addTodoEntry(todo: string, dataset: string, run: number, bullets: string[]): string {
  const heading = `### ${dataset} — run ${run}`;
  const lines = todo.split('\n');
  const add = bullets.map((b) => `- ${b}`);
  let runs = lines.findIndex((l) => /^##\s+Runs\s*$/.test(l));
  if (runs < 0) {
    const body = todo.trimEnd();
    return `${body}${body ? '\n\n' : ''}## Runs\n\n${heading}\n${add.join('\n')}\n`;
  }
  let sectionEnd = lines.findIndex((l, i) => i > runs && /^##\s/.test(l));
  if (sectionEnd < 0) sectionEnd = lines.length;
  const h = lines.findIndex((l, i) => i > runs && i < sectionEnd && l.trim() === heading);
  if (h >= 0) {
    let end = lines.findIndex((l, i) => i > h && (/^#{2,3}\s/.test(l)));
    if (end < 0) end = lines.length;
    let at = end;
    while (at > h + 1 && lines[at - 1].trim() === '') at--;
    lines.splice(at, 0, ...add);
    return lines.join('\n');
  }
  let at = sectionEnd;
  while (at > runs + 1 && lines[at - 1].trim() === '') at--;
  lines.splice(at, 0, '', heading, ...add);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Applying

const ROOT = resolve(import.meta.dirname, '../..');

/** The datasets/*.ts file that defines a dataset name. */
export function datasetFile(root: string, dataset: string): string {
  const dir = join(root, 'datasets');
  const re = new RegExp(`\\bname:\\s*['"\`]${dataset.replace(/[-.]/g, '\\$&')}['"\`]`);
  const hits = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && f !== 'index.ts')
    .filter((f) => re.test(readFileSync(join(dir, f), 'utf8')));
  if (hits.length !== 1)
    throw new CommandError(hits.length ? `dataset ${dataset} is named in several files: ${hits.join(', ')}` : `no file in datasets/ defines dataset '${dataset}'`);
  return join(dir, hits[0]);
}

/** A small unified diff (for showing what --apply changed). */
export function unifiedDiff(a: string, b: string, name: string, context = 2): string {
  const x = a.split('\n'), y = b.split('\n');
  const n = x.length, m = y.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops: { op: ' ' | '-' | '+'; line: string; ai: number; bi: number }[] = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) ops.push({ op: ' ', line: x[i], ai: i++, bi: j++ });
    else if (i < n && (j >= m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ op: '-', line: x[i], ai: i++, bi: j });
    else ops.push({ op: '+', line: y[j], ai: i, bi: j++ });
  }
  const out = [`--- a/${name}`, `+++ b/${name}`];
  for (let k = 0; k < ops.length; ) {
    if (ops[k].op === ' ') {
      k++;
      continue;
    }
    let s = Math.max(0, k - context);
    let e = k;
    while (e < ops.length) {
      if (ops[e].op !== ' ') {
        e++;
        continue;
      }
      let run = e;
      while (run < ops.length && ops[run].op === ' ') run++;
      if (run - e > 2 * context || run === ops.length) {
        e = Math.min(run, e + context);
        break;
      }
      e = run;
    }
    const hunk = ops.slice(s, e);
    const aStart = hunk[0].ai + 1, bStart = hunk[0].bi + 1;
    out.push(`@@ -${aStart},${hunk.filter((o) => o.op !== '+').length} +${bStart},${hunk.filter((o) => o.op !== '-').length} @@`);
    for (const o of hunk) out.push(`${o.op}${o.line}`);
    k = e;
  }
  return out.join('\n') + '\n';
}

export interface ApplyResult {
  datasetFile: string;
  todoFile: string;
  edits: SpecEdit[];
  /** Jobs of the edited stages after re-synthesis. */
  jobs: { stageId: string; name: string; completions: number; indexList?: string; memory?: string; parallelism: number }[];
  diff: string;
}

/** Writes the findings' edits into the dataset file and todo.md, then proves the result synthesizes. */
export function applyFindings(root: string, dataset: string, run: number, findings: Finding[]): ApplyResult | undefined {
  const withEdits = findings.filter((f) => f.edits?.length);
  if (!withEdits.length) return undefined;
  const file = datasetFile(root, dataset);
  const todoFile = join(root, 'todo.md');
  const before = readFileSync(file, 'utf8');
  const todoBefore = existsSync(todoFile) ? readFileSync(todoFile, 'utf8') : '# Datasets needing a (re-)run\n';
  let editor: SpecFileEditor;
  const edits = withEdits.flatMap((f) => f.edits!);
  try {
    editor = new SpecFileEditor(before);
    for (const e of edits) editor.apply(e);
  } catch (err) {
    throw new CommandError(`cannot edit ${relative(root, file)}: ${(err as Error).message}`);
  }
  const todo = addTodoEntry(todoBefore, dataset, run, withEdits.map((f) => `doctor: ${f.sentence}`));
  writeFileSync(file, editor.text);
  writeFileSync(todoFile, todo);

  // Prove the edited file still parses and synthesizes (a child process: fresh module cache).
  const out = mkdtempSync(join(tmpdir(), 'cng-doctor-'));
  try {
    const r = spawnSync(process.execPath, [join(root, 'bin/cng.js'), 'synth', '--out', out], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) {
      writeFileSync(file, before);
      writeFileSync(todoFile, todoBefore);
      throw new CommandError(`the edited ${relative(root, file)} does not synthesize, so nothing was changed:\n${(r.stderr || r.stdout).trim()}`);
    }
    const manifests = parseManifests(readDist(out));
    const stageIds = new Set(withEdits.map((f) => f.stageId));
    const jobs: ApplyResult['jobs'] = [];
    for (const [path, objs] of manifests) {
      const m = new RegExp(`^${dataset}/([^/]+)/manifest\\.yaml$`).exec(path);
      if (!m || !stageIds.has(m[1])) continue;
      for (const o of objs.filter((x) => x.kind === 'Job')) {
        const c = o.spec.template.spec.containers[0];
        const list = c.env?.find((e: any) => e.name === 'CNG_INDEX_LIST')?.value;
        jobs.push({ stageId: m[1], name: o.metadata.name, completions: o.spec.completions, ...(list ? { indexList: list } : {}), memory: c.resources?.limits?.memory, parallelism: o.spec.parallelism });
      }
    }
    // The retry Job must cover exactly the listed units.
    for (const e of edits.filter((x) => x.path[3] === 'retry' && x.value)) {
      const want = /\[([^\]]*)\]/.exec(e.value!)![1].split(',').map((x) => x.trim()).join(',');
      const got = jobs.filter((j) => j.stageId === `${e.path[1]}-hex`).map((j) => j.indexList ?? '');
      if (got.join(',') !== want) {
        writeFileSync(file, before);
        writeFileSync(todoFile, todoBefore);
        throw new CommandError(`internal check failed: the retry Job of ${e.path[1]}-hex covers '${got.join(',')}', expected '${want}'; nothing was changed`);
      }
    }
    return {
      datasetFile: file,
      todoFile,
      edits,
      jobs,
      diff: unifiedDiff(before, editor.text, relative(root, file)) + unifiedDiff(todoBefore, todo, relative(root, todoFile)),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// cng doctor

export function renderFindings(dataset: string, findings: Finding[]): string {
  if (!findings.length) return `${dataset}: nothing to fix.\n`;
  const out: string[] = [];
  for (const f of findings) {
    out.push(`• ${f.sentence}`);
    if (f.warning) out.push(`  warning: ${f.warning}`);
    if (f.edits?.length) for (const e of f.edits) out.push(`  change: ${e.path.join('.')}${e.value === undefined ? ' (remove)' : `: ${e.value}`}`);
    if (f.log?.lines.length) out.push(`  last log lines of ${f.log.pod}:`, ...f.log.lines.map((l) => `    | ${l}`));
  }
  const applicable = findings.some((f) => f.edits?.length);
  if (applicable) out.push('', `Run 'cng doctor ${dataset} --apply' to write these changes into the dataset file and todo.md.`);
  return out.join('\n') + '\n';
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: "explain a dataset's failures on the cluster and the change that fixes each (--apply writes it)",
  help: `Usage: cng doctor <dataset> [--apply] [--plan FILE]... [--json] [--namespace NS] [--context CTX]

Reads the same state as 'cng status' and explains each problem in one sentence with the
concrete change:
  - OOM-killed work units: the stage's next memory step (4Gi → 8Gi → 16Gi; capped, with a
    warning, then more work units), and a retry of only the failed units (hex);
  - preempted pods: nothing to do (they are re-run; counted);
  - quota exhausted: a lower maxPods (or hex.parallelism), applied in place;
  - other failures: the last 20 log lines of the failed pod, recognising S3 access denied
    (the 'aws' secret) and missing inputs; a retry of the failed hex units;
  - image pull errors, unschedulable pods, Flux stages waiting on an upstream stage.
A failed Job stays failed: the fix is a change in git. --apply writes the changes into
datasets/<file>.ts (e.g. layers.fee.hex.retry.indexes, layers.fee.resources.hex.memory)
and a "doctor: …" entry under '### <dataset> — run <n>' in todo.md, checks that the
edited file still synthesizes, and shows the diff; then run cng synth, commit and open
a pull request.

Options:
  --apply            write the changes (dataset file and todo.md)
  --plan FILE        a layer's hex-plan.json (copied from S3): per-unit work estimates
                     inform the OOM proposal; may be repeated
  --json             machine-readable findings
  --namespace NS     namespace (default: the cluster profile's, biodiversity)
  --context CTX      kubeconfig context (default: the current one)
  -h, --help         show this help

Exit status: 0 the cluster was read (whatever it found), 1 API error or a failed edit,
2 usage error.

Examples:
  cng doctor padus-4-1
  cng doctor padus-4-1 --apply
  cng doctor padus-4-1 --plan hex-plan.json`,
  options: { ...CLUSTER_OPTIONS, apply: { type: 'boolean' }, json: { type: 'boolean' }, plan: { type: 'string', multiple: true } },
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one dataset, got ${positionals.join(' ')}` : 'which dataset? e.g. cng doctor padus-4-1');
    const dataset = positionals[0];
    const plans = ((values.plan as string[] | undefined) ?? []).map((f) => {
      try {
        const p = JSON.parse(readFileSync(f, 'utf8')) as HexPlanFile;
        if (typeof p.layer !== 'string' || !Array.isArray(p.workUnits)) throw new Error('not a hex plan (expects layer and workUnits)');
        return p;
      } catch (err) {
        throw new CommandError(`--plan ${f}: ${(err as Error).message}`);
      }
    });
    const reader = await connectCluster({ namespace: str(values.namespace) ?? ClusterProfile.NRP.namespace, context: str(values.context) });
    const state = await collectStatus(reader, { dataset });
    const findings = await diagnose(state, dataset, { plans, podLog: (pod) => reader.podLog(pod, 20) });
    const run = state.local.get(dataset)?.spec.run;
    let applied: ApplyResult | undefined;
    if (values.apply) {
      if (run === undefined) throw new CommandError(`dataset ${dataset} is not in this checkout's datasets/; nothing to apply`);
      applied = applyFindings(ROOT, dataset, run, findings);
    }
    if (values.json) {
      process.stdout.write(JSON.stringify({ dataset, namespace: reader.namespace, findings, ...(values.apply ? { applied: applied ?? null } : {}), warnings: state.report.warnings }, null, 2) + '\n');
      return EXIT.ok;
    }
    process.stdout.write(renderFindings(dataset, findings).replace(/\n\nRun 'cng doctor .*--apply'.*\n$/, values.apply ? '\n' : '$&'));
    for (const w of state.report.warnings) process.stdout.write(`warning: ${w}\n`);
    if (values.apply) {
      if (!applied) process.stdout.write('\nNothing to apply.\n');
      else {
        const rel = (p: string) => relative(ROOT, p);
        process.stdout.write(
          `\nWrote ${rel(applied.datasetFile)} and ${rel(applied.todoFile)} (the edited file synthesizes):\n\n${applied.diff}\n` +
            (applied.jobs.length
              ? `Jobs of the changed stages after 'cng synth':\n${applied.jobs.map((j) => `  ${j.stageId}: ${j.name} — ${j.completions} completions${j.indexList ? `, work units ${j.indexList}` : ''}${j.memory ? `, memory ${j.memory}` : ''}, parallelism ${j.parallelism}`).join('\n')}\n\n`
              : '') +
            `Next: npx cng synth && npx cng validate && npx cng diff, then commit ${rel(applied.datasetFile)}, todo.md and dist/ and open a pull request.\n`,
        );
      }
    }
    return EXIT.ok;
  },
};
