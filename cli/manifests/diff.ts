/**
 * `cng diff`: what a change to dist/ will do on the cluster, written for a PR comment.
 *
 * Job names are content-derived (`<dataset>-<stage>[-p<part>]-r<run>-<hash8>`, the hash covering
 * the Job spec, the upstream stages' hashes and the run number), so a re-run shows up in git as a
 * Job that disappears and another that appears. This command pairs them again by identity
 * (dataset, stage id from the file path, part) and says why the name changed. A Job whose name
 * stays the same while its content changes is flagged: Job specs are immutable, Flux's apply fails.
 *
 * `diffManifests` and `formatDiffMarkdown` are pure; `readRevisionManifests` reads a git revision.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { parseManifests, readDist, type Manifests } from '../../constructs/synth.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { str, type Command } from '../../worker/core/command.ts';
import { plural } from '../../worker/core/text.ts';

// ---------------------------------------------------------------------------------------------
// Types

/** One field that differs, addressed by a JSON path such as `spec.template.spec.containers[0].resources.limits.memory`. */
export interface FieldChange {
  path: string;
  /** Value on the base side; absent when the field was added. */
  old?: unknown;
  /** Value on the head side; absent when the field was removed. */
  new?: unknown;
}

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
  /** Differences of the Job object, leaving out its name and `cng/run` label. */
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
  jobsRerun: number;
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
  const ds = new Map<string, DatasetDiff>();
  const dd = (name: string): DatasetDiff => {
    let d = ds.get(name);
    if (!d) {
      d = {
        dataset: name, stagesAdded: [], stagesRemoved: [], jobsRerun: [], jobsAdded: [], jobsRemoved: [], changedInPlace: [], scaled: [],
        kustomizationsChanged: [], armadaAdded: [], armadaRemoved: [], armadaChanged: [], otherChanges: [],
      };
      ds.set(name, d);
    }
    return d;
  };
  const ref = (j: JobEntry): JobRef => ({ dataset: j.dataset, stageId: j.stageId, ...(j.part === undefined ? {} : { part: j.part }), name: j.name, file: j.file });

  // Kustomizations → stages added / removed / changed.
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
  const addedStages = new Set<string>();
  const removedStages = new Set<string>();
  for (const k of h.kusts)
    if (!bK.has(k.name)) {
      dd(k.dataset).stagesAdded.push(stageRef(k, h));
      addedStages.add(stageKey(k.dataset, k.stageId));
    }
  for (const k of b.kusts)
    if (!hK.has(k.name)) {
      dd(k.dataset).stagesRemoved.push(stageRef(k, b));
      removedStages.add(stageKey(k.dataset, k.stageId));
    }
  for (const k of h.kusts) {
    const old = bK.get(k.name);
    if (!old) continue;
    const changes = diffValues(old.obj, k.obj);
    if (changes.length) dd(k.dataset).kustomizationsChanged.push({ dataset: k.dataset, stageId: k.stageId, name: k.name, file: k.file, changes });
  }

  // Jobs: same name → unchanged or changed in place; else same identity → re-run; else added / removed.
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
    dd(other.dataset)[mutableOnly ? 'scaled' : 'changedInPlace'].push({ ...ref(other), changes });
  }
  const hById = new Map<string, JobEntry[]>();
  for (const j of h.jobs) if (!matchedH.has(j)) (hById.get(jobIdentity(j)) ?? hById.set(jobIdentity(j), []).get(jobIdentity(j))!).push(j);
  const pendingReruns: { old: JobEntry; now: JobEntry }[] = [];
  for (const j of b.jobs) {
    if (matchedB.has(j)) continue;
    const candidates = hById.get(jobIdentity(j));
    const now = candidates?.shift();
    if (!now) continue;
    matchedB.add(j);
    matchedH.add(now);
    pendingReruns.push({ old: j, now });
  }
  for (const j of h.jobs)
    if (!matchedH.has(j)) dd(j.dataset).jobsAdded.push({ ...ref(j), newStage: addedStages.has(stageKey(j.dataset, j.stageId)) });
  for (const j of b.jobs)
    if (!matchedB.has(j)) dd(j.dataset).jobsRemoved.push({ ...ref(j), stageRemoved: removedStages.has(stageKey(j.dataset, j.stageId)) });

  // Armada job sets, by file.
  const bA = new Map(b.armada.map((a) => [a.file, a]));
  const hA = new Map(h.armada.map((a) => [a.file, a]));
  const aref = ({ obj: _obj, ...r }: ArmadaEntry): ArmadaRef => r;
  for (const a of h.armada) if (!bA.has(a.file)) dd(a.dataset).armadaAdded.push(aref(a));
  for (const a of b.armada) if (!hA.has(a.file)) dd(a.dataset).armadaRemoved.push(aref(a));
  for (const a of h.armada) {
    const old = bA.get(a.file);
    if (!old || deepEqual(old.obj, a.obj)) continue;
    const { jobs: oj, ...oRest } = old.obj;
    const { jobs: nj, ...nRest } = a.obj;
    const changes = [...diffValues(oRest, nRest), ...diffValues(oj?.[0], nj?.[0], 'jobs[0]')];
    if ((oj?.length ?? 0) !== (nj?.length ?? 0)) changes.push({ path: 'jobs.length', old: oj?.length ?? 0, new: nj?.length ?? 0 });
    dd(a.dataset).armadaChanged.push({
      dataset: a.dataset, stageId: a.stageId, file: a.file, oldJobSetId: old.jobSetId, newJobSetId: a.jobSetId,
      oldJobs: old.jobs, newJobs: a.jobs, changes, inPlace: old.jobSetId === a.jobSetId,
    });
  }

  // Anything else, by kind/namespace/name.
  const bO = new Map(b.others.map((o) => [o.key, o]));
  const hO = new Map(h.others.map((o) => [o.key, o]));
  const okey = (o: OtherEntry) => o.key.replace(/\/[^/]*\//, '/');
  for (const o of h.others) {
    const old = bO.get(o.key);
    if (!old) dd(o.dataset).otherChanges.push({ dataset: o.dataset, file: o.file, object: okey(o), change: 'added', changes: [] });
    else if (!deepEqual(old.obj, o.obj)) dd(o.dataset).otherChanges.push({ dataset: o.dataset, file: o.file, object: okey(o), change: 'changed', changes: diffValues(old.obj, o.obj) });
  }
  for (const o of b.others)
    if (!hO.has(o.key)) dd(o.dataset).otherChanges.push({ dataset: o.dataset, file: o.file, object: okey(o), change: 'removed', changes: [] });

  // Why each re-run happened. A stage's hash (what downstream names cover) changed iff the names of
  // its Jobs or its job set id changed; a Job changed in place kept its name, so it does not count.
  const changedStages = new Set<string>([...addedStages]);
  for (const { now } of pendingReruns) changedStages.add(stageKey(now.dataset, now.stageId));
  for (const d of ds.values()) {
    for (const j of [...d.jobsAdded, ...d.jobsRemoved]) changedStages.add(stageKey(j.dataset, j.stageId));
    for (const a of [...d.armadaAdded, ...d.armadaChanged.filter((c) => !c.inPlace)]) changedStages.add(stageKey(a.dataset, a.stageId));
  }
  const hKByStage = new Map(h.kusts.map((k) => [stageKey(k.dataset, k.stageId), k]));
  const changedArmada = [...ds.values()].flatMap((d) => [...d.armadaAdded, ...d.armadaChanged]);
  for (const { old, now } of pendingReruns) {
    const oldRun = String(old.obj.metadata?.labels?.['cng/run'] ?? JOB_SUFFIX.exec(old.name)?.[2] ?? '');
    const newRun = String(now.obj.metadata?.labels?.['cng/run'] ?? JOB_SUFFIX.exec(now.name)?.[2] ?? '');
    const run = oldRun !== newRun ? { old: oldRun, new: newRun } : undefined;
    const changes = diffValues(withoutIdentity(old.obj), withoutIdentity(now.obj));
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
    dd(now.dataset).jobsRerun.push({
      dataset: now.dataset,
      stageId: now.stageId,
      ...(now.part === undefined ? {} : { part: now.part }),
      file: now.file,
      oldName: old.name,
      newName: now.name,
      ...(run ? { run } : {}),
      changes,
      upstream,
      reason: rerunReason(run, changes, upstream),
    });
  }

  // Stable order: datasets by name; stages in pipeline (file) order; Jobs by file and part.
  for (const d of ds.values()) {
    d.jobsRerun.sort(byRef);
    d.jobsAdded.sort(byRef);
    d.jobsRemoved.sort(byRef);
    d.changedInPlace.sort(byRef);
    d.scaled.sort(byRef);
  }
  const datasets = [...ds.values()].sort((x, y) => x.dataset.localeCompare(y.dataset));
  const sum = (f: (d: DatasetDiff) => number) => datasets.reduce((n, d) => n + f(d), 0);
  const summary: DiffSummary = {
    datasetsChanged: datasets.length,
    jobsRerun: sum((d) => d.jobsRerun.length),
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
  const changed = files.added.length + files.removed.length + files.modified.length > 0;
  return { changed, summary, datasets, files };
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

function rerunReason(run: JobRerun['run'], changes: FieldChange[], upstream: string[]): string {
  const parts: string[] = [];
  if (run) parts.push(`run bumped ${run.old} → ${run.new}`);
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

// ---------------------------------------------------------------------------------------------
// Field-level value diff

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || (typeof v !== 'object' && typeof v !== 'function');

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
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

// ---------------------------------------------------------------------------------------------
// Markdown

/** First line of every comment, so CI can find and update its previous comment. */
export const DIFF_MARKER = '<!-- cng-manifest-diff -->';
/** Field changes shown per object before "… and N more". */
const MAX_FIELDS = 10;

export interface DiffLabels {
  /** What the base side is, e.g. `origin/main`. */
  base?: string;
  /** What the head side is, e.g. `HEAD` or `working tree (dist/)`. */
  head?: string;
}


function code(s: string): string {
  const t = s.replace(/\n/g, '⏎');
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``;
}

function shorten(s: string, max = 120): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function token(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return typeof v === 'string' && (v === '' || /\s/.test(v)) ? JSON.stringify(v) : s;
}

function renderValue(v: unknown): string {
  if (v === undefined) return '(none)';
  if (typeof v === 'string') return code(shorten(v));
  if (Array.isArray(v) && v.every(isScalar)) return code(shorten(v.length ? v.map(token).join(' ') : '[]'));
  return code(shorten(JSON.stringify(v)));
}

/** `old → new` of one field; a long command line is shown around the tokens that differ. */
function renderChange(c: FieldChange): string {
  const { old: a, new: b } = c;
  if (Array.isArray(a) && Array.isArray(b) && a.every(isScalar) && b.every(isScalar)) {
    const whole = (xs: unknown[]) => xs.map(token).join(' ');
    if (whole(a).length + whole(b).length <= 100) return `${renderValue(a)} → ${renderValue(b)}`;
    let p = 0;
    while (p < a.length && p < b.length && a[p] === b[p]) p++;
    let s = 0;
    while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
    // Keep the flag in front of a changed value as context (`--max-zoom 14 → --max-zoom 16`).
    const from = p > 0 && /^-/.test(String(a[p - 1])) ? p - 1 : p;
    const part = (xs: unknown[]) => {
      const mid = xs.slice(from, xs.length - s);
      const text = mid.length ? mid.map(token).join(' ') : '(nothing)';
      return code(shorten(`${from > 0 ? '… ' : ''}${text}${s > 0 ? ' …' : ''}`));
    };
    return `${part(a)} → ${part(b)}`;
  }
  return `${renderValue(a)} → ${renderValue(b)}`;
}

function fieldLines(changes: FieldChange[], indent = '  '): string[] {
  const lines = changes.slice(0, MAX_FIELDS).map((c) => `${indent}- ${code(c.path)}: ${renderChange(c)}`);
  if (changes.length > MAX_FIELDS) lines.push(`${indent}- … and ${changes.length - MAX_FIELDS} more`);
  return lines;
}

function jobLabel(j: { stageId: string; part?: number }): string {
  return `${code(j.stageId)}${j.part === undefined ? '' : ` part ${j.part}`}`;
}

/** The one-line summary, e.g. `2 datasets changed: 3 Jobs re-run, 1 stage added, 0 removed`. */
export function summaryLine(diff: ManifestDiff): string {
  const s = diff.summary;
  if (!diff.changed) return 'No manifest changes.';
  const parts = [`${plural(s.jobsRerun, 'Job')} re-run`, `${plural(s.stagesAdded, 'stage')} added`, `${s.stagesRemoved} removed`];
  if (s.jobsAdded || s.jobsRemoved) parts.push(`${plural(s.jobsAdded, 'Job')} added, ${s.jobsRemoved} removed in existing stages`);
  if (s.scaled) parts.push(`${plural(s.scaled, 'Job')} rescaled in place`);
  if (s.kustomizationsChanged) parts.push(`${plural(s.kustomizationsChanged, 'Kustomization')} changed`);
  const armada = [
    s.armadaAdded ? `${s.armadaAdded} added` : '',
    s.armadaRemoved ? `${s.armadaRemoved} removed` : '',
    s.armadaChanged ? `${s.armadaChanged} changed` : '',
  ].filter(Boolean);
  if (armada.length) parts.push(`Armada job sets ${armada.join(', ')}`);
  if (s.changedInPlace) parts.push(`⚠ ${plural(s.changedInPlace, 'Job')} changed in place`);
  return `${plural(s.datasetsChanged, 'dataset')} changed: ${parts.join(', ')}`;
}

/** Renders a diff as the markdown of a PR comment (starts with DIFF_MARKER). */
export function formatDiffMarkdown(diff: ManifestDiff, labels: DiffLabels = {}): string {
  const out: string[] = [DIFF_MARKER];
  const sides = labels.base || labels.head ? `: ${code(labels.base ?? 'base')} → ${labels.head ? code(labels.head) : 'head'}` : '';
  out.push(`## Manifest diff${sides}`, '');
  if (!diff.changed) {
    out.push('No manifest changes.');
    return out.join('\n') + '\n';
  }
  out.push(summaryLine(diff) + '.', '');
  if (diff.summary.changedInPlace) {
    const names = diff.datasets.flatMap((d) => d.changedInPlace.map((j) => code(j.name)));
    out.push(
      '> [!CAUTION]',
      `> ⚠ ${plural(names.length, 'Job')} changed in place: ${names.join(', ')}. Job specs are immutable, so Flux's apply will fail. ` +
        'Job names must change with their content: re-synthesize with `cng synth` instead of editing dist/ by hand.',
      '',
    );
  }

  for (const d of diff.datasets) {
    out.push(`### ${code(d.dataset)}`, '');
    const section = (title: string, lines: string[]) => {
      if (lines.length) out.push(`**${title}**`, '', ...lines, '');
    };

    section(
      `⚠ Changed in place (${d.changedInPlace.length}): same Job name, different content; Flux's apply will fail`,
      d.changedInPlace.flatMap((j) => [`- ⚠ ${jobLabel(j)} ${code(j.name)}`, ...fieldLines(j.changes)]),
    );
    const stageLine = (s: StageRef, what: string) => {
      const jobs = s.jobs.length === 0 ? '' : s.jobs.length <= 3 ? ` — ${what} ${s.jobs.map(code).join(', ')}` : ` — ${what} ${plural(s.jobs.length, 'Job')}`;
      return `- ${code(s.stageId)}${s.path ? ` → ${code(s.path)}` : ''}${jobs}`;
    };
    // A stage that moved between Flux Jobs and an Armada job set shows up as a stage removed + a job set added.
    const moved = (s: StageRef, sets: ArmadaRef[], note: string) => (sets.some((a) => a.stageId === s.stageId) ? ` (${note})` : '');
    section(
      `Stages added (${d.stagesAdded.length})`,
      d.stagesAdded.map((s) => stageLine(s, 'Job') + moved(s, d.armadaRemoved, 'was an Armada job set')),
    );
    section(
      `Stages removed (${d.stagesRemoved.length})`,
      d.stagesRemoved.map((s) => stageLine(s, 'Job') + moved(s, d.armadaAdded, 'now an Armada job set, see below')),
    );

    section(
      `Jobs re-run (${d.jobsRerun.length})`,
      d.jobsRerun.flatMap((j) => {
        const why: string[] = [];
        if (j.run) why.push(`run bumped (${code('cng/run')} ${j.run.old} → ${j.run.new})`);
        if (j.upstream.length) why.push(`upstream ${j.upstream.length > 1 ? 'stages' : 'stage'} ${j.upstream.map(code).join(', ')} changed`);
        if (j.changes.length) why.push(plural(j.changes.length, 'field') + ' changed:');
        if (!why.length) why.push(j.reason);
        return [`- ${jobLabel(j)}: ${code(j.oldName)} → ${code(j.newName)} — ${why.join('; ')}`, ...fieldLines(j.changes)];
      }),
    );

    const jobsAdded = d.jobsAdded.filter((j) => !j.newStage);
    const jobsRemoved = d.jobsRemoved.filter((j) => !j.stageRemoved);
    section(`Jobs added (${jobsAdded.length})`, jobsAdded.map((j) => `- ${jobLabel(j)}: ${code(j.name)}`));
    section(`Jobs removed (${jobsRemoved.length})`, jobsRemoved.map((j) => `- ${jobLabel(j)}: ${code(j.name)}`));

    section(
      `Rescaled in place (${d.scaled.length}): parallelism is mutable, Flux applies it to the live Job without a re-run`,
      d.scaled.flatMap((j) => [`- ${jobLabel(j)} ${code(j.name)}`, ...fieldLines(j.changes)]),
    );
    section(
      `Kustomizations changed (${d.kustomizationsChanged.length})`,
      d.kustomizationsChanged.flatMap((k) => [`- ${code(k.name)}`, ...fieldLines(k.changes)]),
    );

    const armada = [
      ...d.armadaAdded.map((a) => `- added ${code(a.stageId)}: job set ${code(a.jobSetId)}, ${plural(a.jobs, 'job')}`),
      ...d.armadaRemoved.map((a) => `- removed ${code(a.stageId)}: job set ${code(a.jobSetId)}, ${plural(a.jobs, 'job')}`),
      ...d.armadaChanged.flatMap((a) => [
        `- ${a.inPlace ? '⚠ changed in place' : 'changed'} ${code(a.stageId)}: ${
          a.inPlace ? `job set ${code(a.newJobSetId)} kept its id (it will not be re-submitted)` : `job set ${code(a.oldJobSetId)} → ${code(a.newJobSetId)}`
        }${a.oldJobs !== a.newJobs ? `, jobs ${a.oldJobs} → ${a.newJobs}` : ''}`,
        ...fieldLines(a.changes.filter((c) => c.path !== 'jobSetId' && c.path !== 'jobs.length')),
      ]),
    ];
    section(`Armada job sets (${d.armadaAdded.length + d.armadaRemoved.length + d.armadaChanged.length})`, armada);

    section(
      `Other objects (${d.otherChanges.length})`,
      d.otherChanges.flatMap((o) => [`- ${o.change} ${code(o.object)} in ${code(o.file)}`, ...fieldLines(o.changes)]),
    );
  }

  const f = diff.files;
  const fileLines = [
    ...f.added.map((p) => `A  ${p}`),
    ...f.removed.map((p) => `D  ${p}`),
    ...f.modified.map((p) => `M  ${p}`),
  ].sort((x, y) => x.slice(3).localeCompare(y.slice(3)));
  out.push(
    '<details>',
    `<summary>Files: ${f.added.length} added, ${f.removed.length} removed, ${f.modified.length} modified</summary>`,
    '',
    '```',
    ...fileLines,
    '```',
    '',
    '</details>',
  );
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Reading revisions

function git(args: string[], cwd: string, input?: string): Buffer {
  return execFileSync('git', args, { cwd, input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

function gitError(err: unknown): string {
  const e = err as { stderr?: Buffer | string; message?: string; code?: string };
  if (e.code === 'ENOENT') return 'git is not installed or not on PATH';
  return String(e.stderr ?? e.message ?? err).trim().split('\n')[0];
}

/** `dir` as a path relative to `cwd` (git path specs are relative to the working directory). */
function gitDir(dir: string, cwd: string): string {
  const rel = (isAbsolute(dir) ? relative(cwd, dir) : dir).replace(/\\/g, '/').replace(/\/+$/, '');
  return rel === '' ? '.' : rel;
}

/**
 * The manifests under `dir` (e.g. `dist`) at git revision `ref`, read with `git ls-tree` and
 * `git cat-file` from the repository containing `cwd`. Paths are relative to `dir`.
 *
 * @throws CommandError when `cwd` is not in a git repository or `ref` names no commit.
 */
export function readRevisionManifests(ref: string, dir = 'dist', cwd = process.cwd()): Manifests {
  try {
    git(['rev-parse', '--git-dir'], cwd);
  } catch (err) {
    throw new CommandError(`not a git repository (${cwd}): ${gitError(err)}`);
  }
  let commit: string;
  try {
    commit = git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], cwd).toString().trim();
  } catch {
    throw new CommandError(`git revision '${ref}' not found (no such branch, tag or commit)`);
  }
  const d = gitDir(dir, cwd);
  let listing: string;
  try {
    listing = git(['ls-tree', '-r', '-z', commit, '--', `${d}/`], cwd).toString();
  } catch (err) {
    throw new CommandError(`cannot list ${d}/ at '${ref}': ${gitError(err)}`);
  }
  const entries = listing
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta, path] = line.split('\t');
      const [, type, oid] = meta.split(' ');
      return { type, oid, path: relative(d, path).replace(/\\/g, '/') };
    })
    .filter((e) => e.type === 'blob' && /\.ya?ml$/.test(e.path));
  const files = new Map<string, string>();
  if (entries.length) {
    let buf: Buffer;
    try {
      buf = git(['cat-file', '--batch'], cwd, entries.map((e) => e.oid).join('\n') + '\n');
    } catch (err) {
      throw new CommandError(`cannot read ${d}/ at '${ref}': ${gitError(err)}`);
    }
    let at = 0;
    for (const e of entries) {
      const nl = buf.indexOf(10, at);
      const header = buf.subarray(at, nl).toString();
      const size = Number(header.split(' ')[2]);
      if (!header.startsWith(e.oid) || !Number.isFinite(size)) throw new CommandError(`unexpected git cat-file output for ${e.path} at '${ref}': ${header}`);
      files.set(e.path, buf.subarray(nl + 1, nl + 1 + size).toString('utf8'));
      at = nl + 1 + size + 1;
    }
  }
  try {
    return parseManifests(new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  } catch (err) {
    throw new CommandError(`at '${ref}': ${(err as Error).message}`);
  }
}

/** The manifests in the working tree's `dir`. @throws CommandError when `dir` is missing or holds invalid YAML. */
export function readWorkingTreeManifests(dir = 'dist', cwd = process.cwd()): Manifests {
  const abs = isAbsolute(dir) ? dir : `${cwd}/${dir}`;
  if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new CommandError(`directory '${dir}' not found (run 'cng synth' first, or pass --dist)`);
  try {
    return parseManifests(readDist(abs));
  } catch (err) {
    throw new CommandError(`working tree: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Command

export const diffCommand: Command = {
  name: 'diff',
  summary: 'compare the manifests of two revisions (markdown for a PR comment)',
  help: `Usage: cng diff [--base <git-ref>] [--head <git-ref>] [--dist DIR] [--json]

Compares the synthesized manifests (dist/) of two revisions and reports what Flux will do:
stages (Kustomizations) added or removed; Jobs re-run, i.e. the same dataset/stage/part under a
new content-derived name, with the reason (run number bumped, the spec fields that changed, or an
upstream stage that changed); Jobs added or removed; Kustomization field changes (dependsOn,
timeout, suspend, path, ...); Armada job sets added, removed or changed. A Job whose name stayed
the same while its content changed is flagged with ⚠: Job specs are immutable, so Flux's apply
would fail.

The output is markdown for a pull-request comment. Its first line is the marker
'<!-- cng-manifest-diff -->' so CI can find and update an earlier comment. The exit status is 0
whether or not there are differences (it is a report) and 1 on errors (e.g. an unknown revision).

Options:
  --base <git-ref>  Revision to compare from. Default: HEAD
  --head <git-ref>  Revision to compare to. Default: the working tree's DIR, so 'cng diff' alone
                    shows the uncommitted changes of dist/
  --dist DIR        Directory of the manifests, relative to the current directory (inside the
                    git repository). Default: dist
  --json            Print the diff as a JSON object instead of markdown
  -h, --help        Show this help

Examples:
  cng synth && cng diff                       # what re-synthesizing changed, before committing
  cng diff --base origin/main                 # a PR branch (working tree) against main
  cng diff --base origin/main --head HEAD > comment.md
  cng diff --base HEAD~1 --head HEAD --json
`,
  options: {
    base: { type: 'string' },
    head: { type: 'string' },
    dist: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values }) {
    const base = str(values.base) ?? 'HEAD';
    const head = str(values.head);
    const dist = str(values.dist) ?? 'dist';
    for (const [flag, v] of [['--base', base], ['--head', head], ['--dist', dist]] as const)
      if (v !== undefined && v.trim() === '') throw new UsageError(`${flag} must not be empty`);
    const baseManifests = readRevisionManifests(base, dist);
    const headManifests = head === undefined ? readWorkingTreeManifests(dist) : readRevisionManifests(head, dist);
    const labels = { base, head: head ?? `working tree (${gitDir(dist, process.cwd())}/)` };
    if (baseManifests.size === 0 && headManifests.size === 0)
      throw new CommandError(`no manifests under ${gitDir(dist, process.cwd())}/ in '${labels.base}' or ${head ? `'${head}'` : 'the working tree'} (wrong --dist?)`);
    const diff = diffManifests(baseManifests, headManifests);
    if (values.json) process.stdout.write(JSON.stringify({ ...labels, ...diff }, null, 2) + '\n');
    else process.stdout.write(formatDiffMarkdown(diff, labels));
    return EXIT.ok;
  },
};
