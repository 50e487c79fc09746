/**
 * The Kubernetes objects of a dataset read into records: each pod classified by the one state
 * that explains it best (waiting, running, OOM-killed, preempted, evicted, image-pull errors,
 * unschedulable, …), each Indexed Job summarized (completed and failed work units, conditions,
 * elapsed time, resources, pods, FailedCreate events), each Flux Kustomization's Ready condition.
 *
 * Work units are reported as global indices (offsets and retry lists applied), the numbers a
 * dataset file's `hex.retry.indexes` takes.
 */
import type { K8sObject } from './k8s.ts';

// ---------------------------------------------------------------------------------------------
// Records

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

export type PodState = 'waiting' | 'unschedulable' | 'image-pull' | 'config-error' | 'running' | 'succeeded' | 'oom-killed' | 'preempted' | 'evicted' | 'failed';

export interface PodCounts {
  waiting: number;
  unschedulable: number;
  imagePull: number;
  /** Pods the kubelet cannot start: a secret or key they read is missing (CreateContainerConfigError). */
  configError: number;
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

/** Work units as text: `3, 17`, or the first `max` then `… (N in all)`. */
export function unitsText(xs: number[], max = 12): string {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  return s.length > max ? `${s.slice(0, max).join(', ')}, … (${s.length} in all)` : s.join(', ');
}

// ---------------------------------------------------------------------------------------------
// Reading objects

const iso = (v: unknown): string | undefined =>
  v instanceof Date ? (isNaN(v.getTime()) ? undefined : v.toISOString().replace('.000Z', 'Z')) : typeof v === 'string' && v ? v : undefined;
/** Seconds from one ISO time to another (undefined when either is missing). */
export const secondsBetween = (a?: string, b?: string) => (a && b ? Math.max(0, Math.round((Date.parse(b) - Date.parse(a)) / 1000)) : undefined);
const JOB_NAME_LABELS = ['batch.kubernetes.io/job-name', 'job-name'];
const INDEX_KEY = 'batch.kubernetes.io/job-completion-index';
export const FLUX_NAME_LABEL = 'kustomize.toolkit.fluxcd.io/name';
const IMAGE_PULL = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable']);
const CONFIG_ERROR = new Set(['CreateContainerConfigError']);

/**
 * The fix for a pod that cannot start, from the kubelet's reason and message: a missing Secret
 * or key (CreateContainerConfigError: the Job neither runs nor fails, Flux waits), an image the
 * node cannot pull (ErrImagePull, ImagePullBackOff). Undefined for other pods.
 */
export function podStartFix(p: Pick<PodInfo, 'state' | 'reason' | 'message'>, namespace: string, dataset = '<dataset>'): string | undefined {
  const msg = p.message ?? '';
  if (p.state === 'config-error') {
    const secret = /secret "([^"]+)" not found/i.exec(msg)?.[1];
    const key = /couldn't find key (\S+) in Secret (?:[^/\s]+\/)?(\S+)/i.exec(msg);
    const then = `then the pods start by themselves (cng preflight ${dataset} checks every secret the Jobs read)`;
    if (secret) return `create secret ${secret} in namespace ${namespace} (docs/runbook.md#the-mirror-secret) and declare it in constructs/profile.ts, ${then}`;
    if (key) return `add key ${key[1]} to secret ${key[2]} in namespace ${namespace}, ${then}`;
    return `a Secret or ConfigMap the pod reads is missing or incomplete (kubectl describe pod -n ${namespace}); fix it, ${then}`;
  }
  if (p.state === 'image-pull') {
    if (/not found|manifest unknown|NotFound/i.test(msg)) return "the registry has no such image: the tag is a digest of the worker's files (cng image-tag) and the image workflow pushes it after the merge; check that workflow's run (docs/runbook.md#a-new-worker) or re-synthesize with the image that was published";
    if (/unauthorized|denied|forbidden|401|403/i.test(msg)) return 'the registry refuses the node: make the ghcr.io package public (or give the pods an imagePullSecret)';
    return `the node cannot pull the image (kubectl describe pod -n ${namespace} shows why): check it exists and is public (docker manifest inspect <image>)`;
  }
  return undefined;
}

/** The Job a pod belongs to (label, else owner reference). */
export function podJobName(pod: K8sObject): string | undefined {
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
  if (waiting && CONFIG_ERROR.has(waiting.reason)) return { ...base, state: 'config-error', reason: waiting.reason, message: waiting.message };
  if (status.phase === 'Running') return { ...base, state: 'running' };
  const unschedulable = conditions.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
  if (unschedulable) return { ...base, state: 'unschedulable', reason: 'Unschedulable', message: unschedulable.message };
  return { ...base, state: 'waiting', reason: waiting?.reason ?? 'Pending', ...(waiting?.message ? { message: waiting.message } : {}) };
}

export function countPods(pods: PodInfo[]): PodCounts {
  const c: PodCounts = { waiting: 0, unschedulable: 0, imagePull: 0, configError: 0, running: 0, succeeded: 0, failed: 0, oomKilled: 0, preempted: 0, evicted: 0 };
  const key: Record<PodState, keyof PodCounts> = {
    waiting: 'waiting', unschedulable: 'unschedulable', 'image-pull': 'imagePull', 'config-error': 'configError', running: 'running', succeeded: 'succeeded',
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
    ...(startTime ? { elapsedSeconds: secondsBetween(startTime, end) } : {}),
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

export function fluxInfo(k: K8sObject): FluxInfo {
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


/** Pods' reasons with counts: `OOMKilled ×3; Error, exit 1`. */
export function reasonCounts(pods: PodInfo[]): string {
  const m = new Map<string, number>();
  for (const p of pods) {
    const k = `${p.reason ?? p.state}${p.exitCode !== undefined && p.state === 'failed' ? `, exit ${p.exitCode}` : ''}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join('; ');
}
