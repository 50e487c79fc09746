import type { Manifests } from '../../constructs/synth.ts';
import { plural } from '../../worker/core/text.ts';

/**
 * Two sets of manifests (base → head) compared at the level reviewers care about, for `cng diff`.
 *
 * Job names are content-derived (`<dataset>-<stage>[-p<part>]-r<run>-<hash8>`, the hash covering
 * the Job spec, the upstream stages' hashes and the run number), so a re-run shows up in git as a
 * Job that disappears and another that appears. `diffManifests` pairs them again by identity
 * (dataset, stage id from the file path, part) and says why the name changed. A Job whose name
 * stays the same while its content changes is flagged: Job specs are immutable, Flux's apply fails.
 * Pure: no I/O.
 */

// ---------------------------------------------------------------------------------------------
// Types

/** A Job located by identity: dataset, stage id (its dist/ directory) and part (when the stage has several Jobs). */
export interface JobRef {
  dataset: string;
  stageId: string;
  part?: number;
  /** Job name (`metadata.name`). */
  name: string;
  /** File relative to dist/. */
  file: string;
}

export interface JobAdded extends JobRef {
  /** True when the whole stage is new (its Kustomization was added). */
  newStage: boolean;
}

export interface JobRemoved extends JobRef {
  /** True when the whole stage was removed (its Kustomization disappeared). */
  stageRemoved: boolean;
}

/** A Job present on both sides under the same identity but under a new name: Flux runs it again. */
export interface JobRerun {
  dataset: string;
  stageId: string;
  part?: number;
  file: string;
  oldName: string;
  newName: string;
  /** The `cng/run` label, when it changed. */
  run?: { old: string; new: string };
  /** The worker image, when it changed: the Job re-runs because the worker changed (docs/runbook.md, "A new worker"). */
  worker?: { old: string; new: string };
  /** Differences of the Job object, leaving out its name, `cng/run` label and (under `worker`) its image. */
  changes: FieldChange[];
  /** Upstream stage ids that changed in this diff (the name hash covers them); empty when the run was bumped. */
  upstream: string[];
  /** One-line explanation, e.g. `run bumped 1 → 2` or `upstream stage fee-hex changed`. */
  reason: string;
}

/** The same Job name on both sides with different content: should never happen (Job specs are immutable). */
export interface JobChangedInPlace extends JobRef {
  changes: FieldChange[];
}

/** Job fields Kubernetes lets Flux change on a live Job: such changes are applied in place, without a re-run. */
export const MUTABLE_JOB_FIELDS = ['spec.parallelism'];

/** A stage = a Flux Kustomization (`<dataset>-<stageId>`) and the Jobs under its path. */
export interface StageRef {
  dataset: string;
  stageId: string;
  kustomization: string;
  /** The Kustomization's `spec.path`, e.g. `./dist/padus-4-1/fee-hex`. */
  path?: string;
  /** `cng/stage` label (the stage kind). */
  kind?: string;
  /** `cng/layer` label. */
  layer?: string;
  /** Names of the Jobs in the stage's directory on that side. */
  jobs: string[];
}

export interface KustomizationChange {
  dataset: string;
  stageId: string;
  name: string;
  file: string;
  changes: FieldChange[];
}

export interface ArmadaRef {
  dataset: string;
  stageId: string;
  file: string;
  jobSetId: string;
  /** Number of Armada jobs (work units) in the set. */
  jobs: number;
}

export interface ArmadaChange {
  dataset: string;
  stageId: string;
  file: string;
  oldJobSetId: string;
  newJobSetId: string;
  oldJobs: number;
  newJobs: number;
  /** Differences of queue/jobSetId and of the first job (the pod template every job shares). */
  changes: FieldChange[];
  /** Content changed but the jobSetId did not: a submitted set will not be re-submitted. */
  inPlace: boolean;
}

/** Any other object (neither Job, Kustomization nor Armada job set). */
export interface OtherChange {
  dataset: string;
  file: string;
  /** `<kind>/<name>`. */
  object: string;
  change: 'added' | 'removed' | 'changed';
  changes: FieldChange[];
}

export interface DatasetDiff {
  dataset: string;
  /** 'added': a dataset the base does not have (every stage new); 'removed': one the head no longer has. */
  change: 'added' | 'removed' | 'changed';
  stagesAdded: StageRef[];
  stagesRemoved: StageRef[];
  jobsRerun: JobRerun[];
  jobsAdded: JobAdded[];
  jobsRemoved: JobRemoved[];
  changedInPlace: JobChangedInPlace[];
  /** Same Job name, only mutable fields (parallelism) changed: applied in place, no re-run. */
  scaled: JobChangedInPlace[];
  kustomizationsChanged: KustomizationChange[];
  armadaAdded: ArmadaRef[];
  armadaRemoved: ArmadaRef[];
  armadaChanged: ArmadaChange[];
  otherChanges: OtherChange[];
}

export interface DiffSummary {
  datasetsChanged: number;
  /** Of datasetsChanged: new datasets, and datasets no longer synthesized. */
  datasetsAdded: number;
  datasetsRemoved: number;
  jobsRerun: number;
  /** Of jobsRerun: the Jobs whose worker image changed. */
  jobsRerunForWorker: number;
  stagesAdded: number;
  stagesRemoved: number;
  /** Jobs added/removed outside added/removed stages (e.g. a stage split into more parts). */
  jobsAdded: number;
  jobsRemoved: number;
  changedInPlace: number;
  scaled: number;
  kustomizationsChanged: number;
  armadaAdded: number;
  armadaRemoved: number;
  armadaChanged: number;
}

export interface ManifestDiff {
  /** Whether any manifest differs. */
  changed: boolean;
  summary: DiffSummary;
  /** Datasets with at least one change, by name. */
  datasets: DatasetDiff[];
  /** File-level changes (paths relative to dist/); `modified` compares parsed content, not bytes. */
  files: { added: string[]; removed: string[]; modified: string[] };
}

// ---------------------------------------------------------------------------------------------
// Pure diff

type Obj = Record<string, any>;

interface JobEntry extends JobRef {
  obj: Obj;
}
interface KustEntry {
  dataset: string;
  stageId: string;
  name: string;
  file: string;
  obj: Obj;
}
interface ArmadaEntry extends ArmadaRef {
  obj: Obj;
}
interface OtherEntry {
  dataset: string;
  file: string;
  key: string;
  obj: Obj;
}
interface Side {
  jobs: JobEntry[];
  kusts: KustEntry[];
  armada: ArmadaEntry[];
  others: OtherEntry[];
  datasets: Set<string>;
}

const JOB_SUFFIX = /(?:-p(\d+))?-r(\d+)-[0-9a-f]{8}$/;

function classify(m: Manifests): Side {
  const side: Side = { jobs: [], kusts: [], armada: [], others: [], datasets: new Set() };
  // Dataset names known from flux/<dataset>.yaml and <dataset>/<stage>/ directories (to read armada/ file names).
  for (const file of m.keys()) {
    const f = /^flux\/([^/]+)\.ya?ml$/.exec(file);
    if (f) side.datasets.add(f[1]);
    else if (!file.startsWith('armada/') && file.includes('/')) side.datasets.add(file.split('/')[0]);
  }
  for (const [file, objects] of m) {
    const stageDir = /^([^/]+)\/([^/]+)\/[^/]+$/.exec(file);
    for (const obj of objects) {
      if (!obj || typeof obj !== 'object') continue;
      const labels: Obj = obj.metadata?.labels ?? {};
      if (file.startsWith('armada/') && Array.isArray(obj.jobs)) {
        const base = file.replace(/^armada\//, '').replace(/\.ya?ml$/, '');
        const jobLabels: Obj = obj.jobs[0]?.labels ?? {};
        let dataset: string = jobLabels['cng/dataset'] ?? [...side.datasets].find((d) => base.startsWith(`${d}-`)) ?? '-';
        const stageId = base.startsWith(`${dataset}-`) ? base.slice(dataset.length + 1) : base;
        side.armada.push({ dataset, stageId, file, jobSetId: String(obj.jobSetId ?? ''), jobs: obj.jobs.length, obj });
      } else if (obj.kind === 'Job') {
        const name = String(obj.metadata?.name ?? '');
        const dataset = stageDir && stageDir[1] !== 'flux' && stageDir[1] !== 'armada' ? stageDir[1] : (labels['cng/dataset'] ?? file.split('/')[0]);
        const stageId = stageDir && stageDir[1] !== 'flux' && stageDir[1] !== 'armada' ? stageDir[2] : (labels['cng/stage'] ?? file);
        const partLabel = labels['cng/part'] ?? JOB_SUFFIX.exec(name)?.[1];
        const part = partLabel === undefined ? undefined : Number(partLabel);
        side.jobs.push({ dataset, stageId, ...(part === undefined ? {} : { part }), name, file, obj });
      } else if (obj.kind === 'Kustomization') {
        const name = String(obj.metadata?.name ?? '');
        const dataset: string = labels['cng/dataset'] ?? /^flux\/([^/]+)\.ya?ml$/.exec(file)?.[1] ?? '-';
        const fromPath = typeof obj.spec?.path === 'string' ? obj.spec.path.replace(/\/+$/, '').split('/').pop() : undefined;
        const stageId = fromPath || (name.startsWith(`${dataset}-`) ? name.slice(dataset.length + 1) : name);
        side.kusts.push({ dataset, stageId, name, file, obj });
      } else {
        const dataset: string = labels['cng/dataset'] ?? file.split('/')[0];
        side.others.push({ dataset, file, key: `${obj.kind ?? '?'}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`, obj });
      }
    }
  }
  return side;
}

const jobIdentity = (j: { dataset: string; stageId: string; part?: number }) => `${j.dataset}\u0000${j.stageId}\u0000${j.part ?? ''}`;
const stageKey = (dataset: string, stageId: string) => `${dataset}\u0000${stageId}`;
const byRef = (a: { file: string; part?: number; name?: string }, b: { file: string; part?: number; name?: string }) =>
  a.file < b.file ? -1 : a.file > b.file ? 1 : (a.part ?? -1) - (b.part ?? -1) || String(a.name ?? '').localeCompare(String(b.name ?? ''));

/** The diffs of the datasets seen so far, each created on first use. */
class DatasetDiffs extends Map<string, DatasetDiff> {
  of(name: string): DatasetDiff {
    let d = this.get(name);
    if (!d) {
      d = {
        dataset: name, change: 'changed', stagesAdded: [], stagesRemoved: [], jobsRerun: [], jobsAdded: [], jobsRemoved: [], changedInPlace: [], scaled: [],
        kustomizationsChanged: [], armadaAdded: [], armadaRemoved: [], armadaChanged: [], otherChanges: [],
      };
      this.set(name, d);
    }
    return d;
  }
}

/** A Job paired across the sides by identity, under a new name. */
interface Rerun {
  old: JobEntry;
  now: JobEntry;
}

/**
 * Compares two sets of manifests (base → head) at the level reviewers care about: stages
 * (Kustomizations) added or removed, Jobs re-run (same identity, new name) and why, Jobs added or
 * removed, Jobs changed in place (same name, new content: flagged), Kustomization field changes and
 * Armada job sets. Pure: no I/O.
 */
export function diffManifests(base: Manifests, head: Manifests): ManifestDiff {
  const files = diffFiles(base, head);
  const b = classify(base);
  const h = classify(head);
  const ds = new DatasetDiffs();
  const { added, removed } = compareStages(b, h, ds);
  const reruns = compareJobs(b, h, ds, added, removed);
  compareArmada(b, h, ds);
  compareOthers(b, h, ds);
  explainReruns(h, ds, reruns, added);

  // Stable order: datasets by name; stages in pipeline (file) order; Jobs by file and part.
  for (const d of ds.values()) {
    d.jobsRerun.sort(byRef);
    d.jobsAdded.sort(byRef);
    d.jobsRemoved.sort(byRef);
    d.changedInPlace.sort(byRef);
    d.scaled.sort(byRef);
  }
  for (const d of ds.values()) d.change = !b.datasets.has(d.dataset) ? 'added' : !h.datasets.has(d.dataset) ? 'removed' : 'changed';
  const datasets = [...ds.values()].sort((x, y) => x.dataset.localeCompare(y.dataset));
  const changed = files.added.length + files.removed.length + files.modified.length > 0;
  return { changed, summary: summarize(datasets), datasets, files };
}

const jobRef = (j: JobEntry): JobRef => ({ dataset: j.dataset, stageId: j.stageId, ...(j.part === undefined ? {} : { part: j.part }), name: j.name, file: j.file });

/** Kustomizations → stages added / removed / changed. Returns the keys of the stages added and removed. */
function compareStages(b: Side, h: Side, ds: DatasetDiffs): { added: Set<string>; removed: Set<string> } {
  const bK = new Map(b.kusts.map((k) => [k.name, k]));
  const hK = new Map(h.kusts.map((k) => [k.name, k]));
  const jobsIn = (side: Side, dataset: string, stageId: string) =>
    side.jobs.filter((j) => j.dataset === dataset && j.stageId === stageId).sort(byRef).map((j) => j.name);
  const stageRef = (k: KustEntry, side: Side): StageRef => ({
    dataset: k.dataset,
    stageId: k.stageId,
    kustomization: k.name,
    ...(typeof k.obj.spec?.path === 'string' ? { path: k.obj.spec.path } : {}),
    ...(k.obj.metadata?.labels?.['cng/stage'] ? { kind: k.obj.metadata.labels['cng/stage'] } : {}),
    ...(k.obj.metadata?.labels?.['cng/layer'] ? { layer: k.obj.metadata.labels['cng/layer'] } : {}),
    jobs: jobsIn(side, k.dataset, k.stageId),
  });
  const added = new Set<string>();
  const removed = new Set<string>();
  for (const k of h.kusts)
    if (!bK.has(k.name)) {
      ds.of(k.dataset).stagesAdded.push(stageRef(k, h));
      added.add(stageKey(k.dataset, k.stageId));
    }
  for (const k of b.kusts)
    if (!hK.has(k.name)) {
      ds.of(k.dataset).stagesRemoved.push(stageRef(k, b));
      removed.add(stageKey(k.dataset, k.stageId));
    }
  for (const k of h.kusts) {
    const old = bK.get(k.name);
    if (!old) continue;
    const changes = diffValues(old.obj, k.obj);
    if (changes.length) ds.of(k.dataset).kustomizationsChanged.push({ dataset: k.dataset, stageId: k.stageId, name: k.name, file: k.file, changes });
  }
  return { added, removed };
}

/** Jobs: same name → unchanged, rescaled or changed in place; else same identity → re-run (returned); else added / removed. */
function compareJobs(b: Side, h: Side, ds: DatasetDiffs, addedStages: Set<string>, removedStages: Set<string>): Rerun[] {
  const hByName = new Map<string, JobEntry>();
  for (const j of h.jobs) if (!hByName.has(j.name)) hByName.set(j.name, j);
  const matchedB = new Set<JobEntry>();
  const matchedH = new Set<JobEntry>();
  for (const j of b.jobs) {
    const other = hByName.get(j.name);
    if (!other || matchedH.has(other)) continue;
    matchedB.add(j);
    matchedH.add(other);
    if (deepEqual(j.obj, other.obj)) continue;
    const changes = diffValues(j.obj, other.obj);
    const mutableOnly = changes.every((c) => MUTABLE_JOB_FIELDS.includes(c.path));
    ds.of(other.dataset)[mutableOnly ? 'scaled' : 'changedInPlace'].push({ ...jobRef(other), changes });
  }
  const hById = new Map<string, JobEntry[]>();
  for (const j of h.jobs) if (!matchedH.has(j)) (hById.get(jobIdentity(j)) ?? hById.set(jobIdentity(j), []).get(jobIdentity(j))!).push(j);
  const reruns: Rerun[] = [];
  for (const j of b.jobs) {
    if (matchedB.has(j)) continue;
    const candidates = hById.get(jobIdentity(j));
    const now = candidates?.shift();
    if (!now) continue;
    matchedB.add(j);
    matchedH.add(now);
    reruns.push({ old: j, now });
  }
  for (const j of h.jobs)
    if (!matchedH.has(j)) ds.of(j.dataset).jobsAdded.push({ ...jobRef(j), newStage: addedStages.has(stageKey(j.dataset, j.stageId)) });
  for (const j of b.jobs)
    if (!matchedB.has(j)) ds.of(j.dataset).jobsRemoved.push({ ...jobRef(j), stageRemoved: removedStages.has(stageKey(j.dataset, j.stageId)) });
  return reruns;
}

/** Armada job sets, by file. */
function compareArmada(b: Side, h: Side, ds: DatasetDiffs): void {
  const bA = new Map(b.armada.map((a) => [a.file, a]));
  const hA = new Map(h.armada.map((a) => [a.file, a]));
  const aref = ({ obj: _obj, ...r }: ArmadaEntry): ArmadaRef => r;
  for (const a of h.armada) if (!bA.has(a.file)) ds.of(a.dataset).armadaAdded.push(aref(a));
  for (const a of b.armada) if (!hA.has(a.file)) ds.of(a.dataset).armadaRemoved.push(aref(a));
  for (const a of h.armada) {
    const old = bA.get(a.file);
    if (!old || deepEqual(old.obj, a.obj)) continue;
    const { jobs: oj, ...oRest } = old.obj;
    const { jobs: nj, ...nRest } = a.obj;
    const changes = [...diffValues(oRest, nRest), ...diffValues(oj?.[0], nj?.[0], 'jobs[0]')];
    if ((oj?.length ?? 0) !== (nj?.length ?? 0)) changes.push({ path: 'jobs.length', old: oj?.length ?? 0, new: nj?.length ?? 0 });
    ds.of(a.dataset).armadaChanged.push({
      dataset: a.dataset, stageId: a.stageId, file: a.file, oldJobSetId: old.jobSetId, newJobSetId: a.jobSetId,
      oldJobs: old.jobs, newJobs: a.jobs, changes, inPlace: old.jobSetId === a.jobSetId,
    });
  }
}

/** Anything else, by kind/namespace/name. */
function compareOthers(b: Side, h: Side, ds: DatasetDiffs): void {
  const bO = new Map(b.others.map((o) => [o.key, o]));
  const hO = new Map(h.others.map((o) => [o.key, o]));
  const okey = (o: OtherEntry) => o.key.replace(/\/[^/]*\//, '/');
  for (const o of h.others) {
    const old = bO.get(o.key);
    if (!old) ds.of(o.dataset).otherChanges.push({ dataset: o.dataset, file: o.file, object: okey(o), change: 'added', changes: [] });
    else if (!deepEqual(old.obj, o.obj)) ds.of(o.dataset).otherChanges.push({ dataset: o.dataset, file: o.file, object: okey(o), change: 'changed', changes: diffValues(old.obj, o.obj) });
  }
  for (const o of b.others)
    if (!hO.has(o.key)) ds.of(o.dataset).otherChanges.push({ dataset: o.dataset, file: o.file, object: okey(o), change: 'removed', changes: [] });
}

/**
 * Why each re-run happened: the run bumped, the spec changed, or an upstream stage changed. A
 * stage's hash (what downstream names cover) changed iff the names of its Jobs or its job set id
 * changed; a Job changed in place kept its name, so it does not count.
 */
function explainReruns(h: Side, ds: DatasetDiffs, reruns: Rerun[], addedStages: Set<string>): void {
  const changedStages = new Set<string>([...addedStages]);
  for (const { now } of reruns) changedStages.add(stageKey(now.dataset, now.stageId));
  for (const d of ds.values()) {
    for (const j of [...d.jobsAdded, ...d.jobsRemoved]) changedStages.add(stageKey(j.dataset, j.stageId));
    for (const a of [...d.armadaAdded, ...d.armadaChanged.filter((c) => !c.inPlace)]) changedStages.add(stageKey(a.dataset, a.stageId));
  }
  const hK = new Map(h.kusts.map((k) => [k.name, k]));
  const hKByStage = new Map(h.kusts.map((k) => [stageKey(k.dataset, k.stageId), k]));
  const changedArmada = [...ds.values()].flatMap((d) => [...d.armadaAdded, ...d.armadaChanged]);
  for (const { old, now } of reruns) {
    const oldRun = String(old.obj.metadata?.labels?.['cng/run'] ?? JOB_SUFFIX.exec(old.name)?.[2] ?? '');
    const newRun = String(now.obj.metadata?.labels?.['cng/run'] ?? JOB_SUFFIX.exec(now.name)?.[2] ?? '');
    const run = oldRun !== newRun ? { old: oldRun, new: newRun } : undefined;
    const worker = imageChange(old.obj, now.obj);
    const changes = diffValues(withoutIdentity(old.obj), withoutIdentity(now.obj)).filter((c) => !(worker && IMAGE_FIELD.test(c.path)));
    let upstream: string[] = [];
    if (!run) {
      const k = hKByStage.get(stageKey(now.dataset, now.stageId));
      for (const dep of (k?.obj.spec?.dependsOn ?? []) as Obj[]) {
        const up = hK.get(dep?.name);
        const upStage = up ? up.stageId : String(dep?.name ?? '').replace(`${now.dataset}-`, '');
        if (changedStages.has(stageKey(now.dataset, upStage))) upstream.push(upStage);
      }
      // A stage after an Armada job set is suspended with that dependency left out of dependsOn.
      if (!upstream.length && k?.obj.spec?.suspend) {
        const layer = now.obj.metadata?.labels?.['cng/layer'];
        upstream = changedArmada
          .filter((a) => !('inPlace' in a && a.inPlace))
          .filter((a) => a.dataset === now.dataset && layer !== undefined && armadaLayer(h, a.file) === layer)
          .map((a) => a.stageId);
      }
    }
    ds.of(now.dataset).jobsRerun.push({
      dataset: now.dataset,
      stageId: now.stageId,
      ...(now.part === undefined ? {} : { part: now.part }),
      file: now.file,
      oldName: old.name,
      newName: now.name,
      ...(run ? { run } : {}),
      ...(worker ? { worker } : {}),
      changes,
      upstream,
      reason: rerunReason(run, worker, changes, upstream),
    });
  }
}

function summarize(datasets: DatasetDiff[]): DiffSummary {
  const sum = (f: (d: DatasetDiff) => number) => datasets.reduce((n, d) => n + f(d), 0);
  return {
    datasetsChanged: datasets.length,
    datasetsAdded: datasets.filter((d) => d.change === 'added').length,
    datasetsRemoved: datasets.filter((d) => d.change === 'removed').length,
    jobsRerun: sum((d) => d.jobsRerun.length),
    jobsRerunForWorker: sum((d) => d.jobsRerun.filter((j) => j.worker).length),
    stagesAdded: sum((d) => d.stagesAdded.length),
    stagesRemoved: sum((d) => d.stagesRemoved.length),
    jobsAdded: sum((d) => d.jobsAdded.filter((j) => !j.newStage).length),
    jobsRemoved: sum((d) => d.jobsRemoved.filter((j) => !j.stageRemoved).length),
    changedInPlace: sum((d) => d.changedInPlace.length),
    scaled: sum((d) => d.scaled.length),
    kustomizationsChanged: sum((d) => d.kustomizationsChanged.length),
    armadaAdded: sum((d) => d.armadaAdded.length),
    armadaRemoved: sum((d) => d.armadaRemoved.length),
    armadaChanged: sum((d) => d.armadaChanged.length),
  };
}

function armadaLayer(side: Side, file: string): string | undefined {
  return side.armada.find((a) => a.file === file)?.obj.jobs?.[0]?.labels?.['cng/layer'];
}

/** A Job without what a re-run is expected to change: its name and its run label. */
function withoutIdentity(job: Obj): Obj {
  const { name: _name, labels, ...metadata } = job.metadata ?? {};
  const { 'cng/run': _run, ...rest } = labels ?? {};
  return { ...job, metadata: { ...metadata, ...(labels ? { labels: rest } : {}) } };
}

/** A container image field of a Job. */
const IMAGE_FIELD = /^spec\.template\.spec\.(init)?[cC]ontainers\[[^\]]+\]\.image$/;

/** The worker image of a Job (its first container's), old → new, when it changed. */
function imageChange(old: Obj, now: Obj): JobRerun['worker'] {
  const image = (j: Obj) => String(j.spec?.template?.spec?.containers?.[0]?.image ?? '');
  return image(old) !== image(now) ? { old: image(old), new: image(now) } : undefined;
}

function rerunReason(run: JobRerun['run'], worker: JobRerun['worker'], changes: FieldChange[], upstream: string[]): string {
  const parts: string[] = [];
  if (run) parts.push(`run bumped ${run.old} → ${run.new}`);
  if (worker) parts.push(`the worker changed (${worker.old} → ${worker.new})`);
  if (changes.length) parts.push(`spec changed (${plural(changes.length, 'field')})`);
  if (upstream.length) parts.push(`upstream ${upstream.length > 1 ? 'stages' : 'stage'} ${upstream.join(', ')} changed`);
  if (!parts.length) parts.push('an upstream stage changed (the spec and run number are the same)');
  return parts.join('; ');
}

function diffFiles(base: Manifests, head: Manifests): ManifestDiff['files'] {
  const sorted = (xs: string[]) => xs.sort();
  return {
    added: sorted([...head.keys()].filter((p) => !base.has(p))),
    removed: sorted([...base.keys()].filter((p) => !head.has(p))),
    modified: sorted([...head.keys()].filter((p) => base.has(p) && !deepEqual(base.get(p), head.get(p)))),
  };
}

/**
 * Field-level differences between two JSON values (two versions of a manifest object), and the
 * order-insensitive equality they rest on. Pure.
 */

/** One field that differs, addressed by a JSON path such as `spec.template.spec.containers[0].resources.limits.memory`. */
export interface FieldChange {
  path: string;
  /** Value on the base side; absent when the field was added. */
  old?: unknown;
  /** Value on the head side; absent when the field was removed. */
  new?: unknown;
}


const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A JSON scalar (string, number, boolean, null). */
export const isScalar = (v: unknown) => v === null || (typeof v !== 'object' && typeof v !== 'function');

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

/** Equal as JSON, whatever the order of object keys. */
export function deepEqual(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function keyPath(path: string, key: string): string {
  const k = /^[A-Za-z_$][\w$-]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  return !path ? k : k.startsWith('[') ? `${path}${k}` : `${path}.${k}`;
}

/**
 * Field-level differences between two JSON values. Objects recurse by key; arrays of scalars (a
 * command line) and lists of `{name}` (dependsOn) are one change; lists of named objects (env,
 * containers) are matched by name when their order or membership changed, else by index.
 */
export function diffValues(a: unknown, b: unknown, path = ''): FieldChange[] {
  const out: FieldChange[] = [];
  walk(a, b, path, out);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: FieldChange[]): void {
  if (deepEqual(a, b)) return;
  const change = (): void => {
    out.push({ path: path || '(root)', ...(a === undefined ? {} : { old: a }), ...(b === undefined ? {} : { new: b }) });
  };
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[k], b[k], keyPath(path, k), out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const nameOnly = (xs: unknown[]) => xs.every((x) => isObj(x) && Object.keys(x).length === 1 && typeof x.name === 'string');
    if (a.every(isScalar) && b.every(isScalar)) return change();
    if (nameOnly(a) && nameOnly(b)) {
      out.push({ path, old: a.map((x: any) => x.name), new: b.map((x: any) => x.name) });
      return;
    }
    const names = (xs: unknown[]) => (xs.every((x) => isObj(x) && typeof x.name === 'string') ? xs.map((x: any) => x.name as string) : undefined);
    const an = names(a);
    const bn = names(b);
    if (an && bn && new Set(an).size === an.length && new Set(bn).size === bn.length && an.join('\u0000') !== bn.join('\u0000')) {
      for (const n of [...new Set([...an, ...bn])]) walk(a[an.indexOf(n)], b[bn.indexOf(n)], `${path}[name=${n}]`, out);
      return;
    }
    for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], `${path}[${i}]`, out);
    return;
  }
  change();
}
