/**
 * What the cluster is doing with the datasets, collected for `cng status` and `cng doctor`: the
 * namespace read through the Kubernetes API (./k8s.ts) in four list calls (Flux Kustomizations,
 * Jobs, pods, the Jobs' FailedCreate events), grouped per dataset and stage, and compared with
 * what this checkout's datasets/ synthesize (which Jobs are current, which are missing).
 */
import {
  synthesize, type DatasetSpec, type ResolvedDatasetSpec, type StageKind,
} from '../../constructs/index.ts';
import { datasets as localDatasets } from '../../datasets/index.ts';
import { CommandError } from '../../worker/core/errors.ts';
import {
  classifyPod, countPods, FLUX_NAME_LABEL, fluxInfo, jobInfo, podJobName, secondsBetween,
  type FluxInfo, type JobInfo, type PodCounts, type PodInfo,
} from './classify.ts';
import type { ClusterReader, K8sObject } from './k8s.ts';

// ---------------------------------------------------------------------------------------------
// The report

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
  /** Each raster of the dataset file, in its order: complete (manifest stage done), failed (a stage failed), skipped (`skip`), else in progress. */
  rasters?: RasterStatus[];
}

export interface RasterStatus {
  key: string;
  status: 'complete' | 'failed' | 'in progress' | 'skipped';
  /** The failed stage, or the skip reason. */
  detail?: string;
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

export interface LocalDataset {
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

/** The listed objects, grouped by the Job they belong to. */
interface Listed {
  kustomizations: K8sObject[];
  podsByJob: Map<string, K8sObject[]>;
  /** Pods without a Job: Armada's. */
  armadaPods: K8sObject[];
  eventsByJob: Map<string, K8sObject[]>;
  now: string;
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

  const listed = groupByJob(kustomizations ?? [], pods, events, now);
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
    const order = (id: string) => loc?.stages.get(id)?.order ?? Number.MAX_SAFE_INTEGER;
    const stages = [...datasetStages(dataset, loc, listed.kustomizations, jobs)].sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b));
    const infos = stages.map(([stageId, { ks, jobs: stageJobs }]) => stageInfo(dataset, stageId, ks, stageJobs, loc?.stages.get(stageId), listed, podsByJob));
    const rasters = loc && Object.keys(loc.spec.rasters).length ? rasterStatus(loc.spec, infos) : undefined;
    report.datasets.push({ name: dataset, ...(loc ? { run: loc.spec.run } : {}), stages: infos, ...(rasters ? { rasters } : {}) });
  }
  return { report, podsByJob, local };
}

/** The status of each raster of a dataset from its stages (`<key>-cog`, `-raster-hex`, `-raster-manifest`). */
function rasterStatus(spec: ResolvedDatasetSpec, stages: StageInfo[]): RasterStatus[] {
  return Object.entries(spec.rasters).map(([key, r]): RasterStatus => {
    if (r.skip) return { key, status: 'skipped', detail: r.skip };
    const own = ['cog', 'raster-hex', 'raster-manifest'].map((k) => stages.find((s) => s.stageId === `${key}-${k}`));
    const failed = own.find((s) => s?.state === 'failed');
    if (failed) return { key, status: 'failed', detail: failed.stageId };
    return { key, status: own[2]?.state === 'complete' ? 'complete' : 'in progress' };
  });
}

function groupByJob(kustomizations: K8sObject[], pods: K8sObject[], events: K8sObject[], now: string): Listed {
  const podsByJob = new Map<string, K8sObject[]>();
  const armadaPods: K8sObject[] = [];
  for (const p of pods) {
    const j = podJobName(p);
    if (j) podsByJob.set(j, [...(podsByJob.get(j) ?? []), p]);
    else armadaPods.push(p);
  }
  const eventsByJob = new Map<string, K8sObject[]>();
  for (const e of events) {
    const n = e.involvedObject?.name;
    if (n) eventsByJob.set(n, [...(eventsByJob.get(n) ?? []), e]);
  }
  return { kustomizations, podsByJob, armadaPods, eventsByJob, now };
}

/** A dataset's stages (by stage id): its Kustomization and Jobs on the cluster, and the stages this checkout has. */
function datasetStages(dataset: string, loc: LocalDataset | undefined, kustomizations: K8sObject[], jobs: K8sObject[]): Map<string, { ks?: K8sObject; jobs: K8sObject[] }> {
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
  for (const k of kustomizations) {
    if (k.metadata?.labels?.['cng/dataset'] !== dataset) continue;
    const id = String(k.metadata.name).startsWith(`${dataset}-`) ? String(k.metadata.name).slice(dataset.length + 1) : k.metadata.name;
    entry(id).ks = k;
  }
  for (const j of jobs) if (j.metadata?.labels?.['cng/dataset'] === dataset) entry(stageOf(j)).jobs.push(j);
  for (const id of loc?.stages.keys() ?? []) entry(id);
  return stages;
}

/** One stage: its Jobs summarized (current ones first), work-unit sums, elapsed time, state. Fills `podsByJob`. */
function stageInfo(
  dataset: string, stageId: string, ks: K8sObject | undefined, stageJobs: K8sObject[], ls: LocalStage | undefined, listed: Listed, podsByJob: Map<string, PodInfo[]>,
): StageInfo {
  const { now } = listed;
  const expected = ls ? new Set(ls.jobs) : undefined;
  const jobInfos = stageJobs
    .map((j) => {
      const raw = listed.podsByJob.get(j.metadata.name) ?? [];
      const info = jobInfo(j, stageId, raw, listed.eventsByJob.get(j.metadata.name) ?? [], now, expected);
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
    ...(starts.length ? { elapsedSeconds: secondsBetween(starts[0], end) } : {}),
  };
  if (ls?.runner === 'armada') {
    const mine = listed.armadaPods
      .filter((p) => p.metadata?.labels?.['cng/dataset'] === dataset && p.metadata?.labels?.['cng/layer'] === ls.layer && p.metadata?.labels?.['cng/stage'] === ls.kind)
      .map((p) => classifyPod(p, (i) => i));
    info.armada = { ...(ls.jobSetId ? { jobSetId: ls.jobSetId } : {}), file: `dist/armada/${dataset}-${stageId}.yaml`, pods: countPods(mine) };
  }
  info.state = stageState(info, counted);
  return info;
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
