import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { App } from 'cdk8s';
import YAML from 'yaml';
import { datasetOrder, type LanePlacement } from './lanes.ts';
import { Dataset } from './pipelines.ts';
import { checkJob, checkPod, checkPodBudget, PolicyError, type RuleId, type ScheduledStage, type Violation } from './policy.ts';
import { ClusterProfile } from './profile.ts';
import { parseDatasetSpec, type DatasetSpec } from './spec.ts';
import { datasetsTogetherIssues, SpecError } from './spec-rules.ts';

/** Manifests by path relative to dist/ (e.g. `padus-4-1/fee-hex/manifest.yaml`), each a list of objects. */
export type Manifests = Map<string, Record<string, any>[]>;

export interface Synthesis {
  readonly manifests: Manifests;
  readonly datasets: Dataset[];
  /** What the user should know that is not an error (e.g. a mirror without its secret: no sync stage). */
  readonly notes: string[];
  /** Where each dataset runs when they cannot all run at once (docs/policy.md, "Datasets in lanes"). */
  readonly lanes: LanePlacement[];
}

/**
 * Builds every dataset's constructs and returns the manifests dist/ must hold, after checking
 * every policy rule. Throws PolicyError naming dataset, object and rule on any violation.
 */
export function synthesize(specs: DatasetSpec[], profile: ClusterProfile = ClusterProfile.NRP): Synthesis {
  const datasets = buildDatasets(new App({ outdir: join(tmpdir(), 'cng-unused-cdk8s-out') }), specs, profile);
  const manifests = collectManifests(datasets);
  const lanes = orderDatasets(manifests, profile, datasets.map((d) => d.context.name));
  const violations = checkManifests(manifests, profile);
  if (violations.length) throw new PolicyError(violations);
  return { manifests, datasets, notes: datasets.flatMap((d) => d.notes), lanes };
}

/**
 * Orders datasets that cannot all run at once within the namespace pod budget (lanes.ts): the first
 * stages of a dataset that must wait get `dependsOn` the last stages of the datasets before it in
 * its lane. `order`: the datasets in the order of `datasets/index.ts` (default: by name).
 */
export function orderDatasets(manifests: Manifests, profile: ClusterProfile, order?: string[]): LanePlacement[] {
  const stages = fluxStages(manifests, profile);
  const names = order ?? [...new Set(stages.map((s) => s.dataset))];
  const graphs = names.map((name) => ({ name, stages: stages.filter((s) => s.dataset === name).map((s) => s.stage) }));
  const { lanes, waits } = datasetOrder(graphs, profile.podBudget);
  for (const [dataset, { roots, after }] of waits)
    for (const k of manifests.get(`flux/${dataset}.yaml`) ?? [])
      if (roots.includes(k.metadata?.name)) k.spec.dependsOn = [...(k.spec.dependsOn ?? []), ...after.map((name) => ({ name }))];
  return lanes;
}

/**
 * Instantiates one Dataset construct per spec. Names must be unique and no two datasets may share
 * a bucket and prefix. Every invalid dataset file is reported, not just the first: throws its
 * SpecError, or for several one Error holding their messages in the order of `specs`.
 */
export function buildDatasets(app: App, specs: DatasetSpec[], profile: ClusterProfile): Dataset[] {
  const names = new Set<string>();
  for (const spec of specs) {
    if (names.has(spec.name)) throw new Error(`dataset ${spec.name}: defined twice`);
    names.add(spec.name);
  }
  const errors = new Map<number, SpecError>();
  const attempt = <T>(i: number, f: () => T): T | undefined => {
    try {
      return f();
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      errors.set(i, err);
      return undefined;
    }
  };
  const parsed = specs.map((spec, i) => attempt(i, () => parseDatasetSpec(spec)));
  const together = datasetsTogetherIssues(parsed.filter((d) => d !== undefined));
  const datasets = specs.map((spec, i) => {
    const issues = parsed[i] && together.get(parsed[i].name);
    if (issues) errors.set(i, new SpecError(spec.name, issues));
    else if (parsed[i]) return attempt(i, () => new Dataset(app, spec, profile));
    return undefined;
  });
  const all = [...errors].sort(([a], [b]) => a - b).map(([, e]) => e);
  if (all.length === 1) throw all[0];
  if (all.length) throw new Error(all.map((e) => e.message).join('\n'));
  return datasets as Dataset[];
}

/** The dist/ files of built datasets, in a stable order (escape-hatch patches included). */
export function collectManifests(datasets: Dataset[]): Manifests {
  const manifests: Manifests = new Map();
  for (const d of datasets) {
    const name = d.context.name;
    manifests.set(`flux/${name}.yaml`, d.flux.toJson());
    for (const stage of d.stages) {
      if (stage.armadaJobSet) manifests.set(`armada/${name}-${stage.stageId}.yaml`, [stage.armadaJobSet]);
      else manifests.set(`${name}/${stage.stageId}/manifest.yaml`, stage.toJson());
    }
  }
  return new Map([...manifests].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Every policy rule over a set of manifests: per Job, per Armada job, per Kustomization, and the
 * namespace pod budget over the Flux dependsOn graph. Shared by synth and `cng validate`.
 */
export function checkManifests(manifests: Manifests, profile: ClusterProfile): Violation[] {
  const out: Violation[] = [];
  for (const [path, objects] of manifests) {
    for (const obj of objects) {
      if (path.startsWith('armada/')) {
        for (const [i, job] of (obj.jobs ?? []).entries()) {
          const at = { dataset: job.labels?.['cng/dataset'] ?? '-', object: `ArmadaJob/${obj.jobSetId}[${i}]` };
          if (job.namespace !== profile.namespace) out.push({ ...at, rule: 'namespace', message: `namespace is ${JSON.stringify(job.namespace)}` });
          checkPod({ ...job.podSpec, priorityClassName: job.priorityClassName ?? job.podSpec?.priorityClassName }, profile, (rule: RuleId, message: string) =>
            out.push({ ...at, rule, message }),
          );
        }
      } else if (obj.kind === 'Job') out.push(...checkJob(obj, profile));
      else if (obj.kind === 'Kustomization') {
        out.push(...checkKustomization(obj, profile));
      } else
        out.push({
          dataset: obj.metadata?.labels?.['cng/dataset'] ?? '-',
          object: `${obj.kind}/${obj.metadata?.name}`,
          rule: 'namespace',
          message: `unexpected object kind ${obj.kind} in dist/${path}`,
        });
    }
  }
  out.push(...checkPodBudget(fluxStages(manifests, profile).map((s) => s.stage), profile));
  return out;
}

/** Every stage Kustomization Flux applies unsuspended, with its dataset and the pods its Jobs may run at once. */
function fluxStages(manifests: Manifests, profile: ClusterProfile): { dataset: string; stage: ScheduledStage & { kind?: string } }[] {
  return [...manifests.values()]
    .flat()
    .filter((k) => k.kind === 'Kustomization' && !k.spec?.suspend)
    .map((k) => ({
      dataset: k.metadata?.labels?.['cng/dataset'] ?? '-',
      stage: {
        name: k.metadata.name,
        kind: k.metadata?.labels?.['cng/stage'],
        dependsOn: (k.spec?.dependsOn ?? []).map((d: any) => d.name),
        pods: jobsUnder(manifests, k.spec?.path, profile).reduce((n, j) => n + (j.spec?.parallelism ?? 1), 0),
      },
    }));
}

function checkKustomization(k: Record<string, any>, profile: ClusterProfile): Violation[] {
  const out: Violation[] = [];
  const at = { dataset: k.metadata?.labels?.['cng/dataset'] ?? '-', object: `Kustomization/${k.metadata?.name}` };
  const name: string = k.metadata?.name ?? '';
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63)
    out.push({ ...at, rule: 'dns-name', message: `"${name}" must be a DNS label of ≤63 characters (Flux puts it in a label value)` });
  if (k.metadata?.namespace !== profile.namespace)
    out.push({ ...at, rule: 'namespace', message: `namespace is ${JSON.stringify(k.metadata?.namespace)}, expected "${profile.namespace}"` });
  if (k.spec?.targetNamespace !== profile.namespace)
    out.push({ ...at, rule: 'namespace', message: `targetNamespace is ${JSON.stringify(k.spec?.targetNamespace)}, expected "${profile.namespace}"` });
  if (k.spec?.serviceAccountName !== profile.fluxServiceAccount)
    out.push({
      ...at,
      rule: 'service-account',
      message: `serviceAccountName is ${JSON.stringify(k.spec?.serviceAccountName)}, expected "${profile.fluxServiceAccount}" (the ServiceAccount of flux/base/tenant-rbac.yaml)`,
    });
  const timeout = parseDuration(k.spec?.timeout);
  if (k.spec?.wait !== true) out.push({ ...at, rule: 'flux-gating', message: 'wait must be true: the stage is Ready (and its dependents start) only when its Jobs are Complete' });
  if (!(timeout <= MAX_FLUX_HEALTH_TIMEOUT_SECONDS))
    out.push({ ...at, rule: 'flux-gating', message: `timeout ${JSON.stringify(k.spec?.timeout)} would hold a kustomize-controller worker that long while the Jobs run; at most 5m (a running stage is re-checked every retryInterval)` });
  if (!(parseDuration(k.spec?.retryInterval) > 0)) out.push({ ...at, rule: 'flux-gating', message: 'retryInterval must be set: it is how often a running stage is re-checked' });
  return out;
}

/** Longest `timeout` a stage Kustomization may have: the most a reconcile may hold a Flux worker. */
export const MAX_FLUX_HEALTH_TIMEOUT_SECONDS = 300;

/** Seconds of a Go duration such as '1m', '30s' or '1h30m'; NaN when it is not one. */
export function parseDuration(d: unknown): number {
  if (typeof d !== 'string' || !/^(\d+(\.\d+)?(h|m|s|ms))+$/.test(d)) return NaN;
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  return [...d.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)].reduce((n, m) => n + Number(m[1]) * unit[m[2]], 0);
}

/** Jobs in the dist/ directory a Kustomization's `path` points at. */
function jobsUnder(manifests: Manifests, path: string | undefined, profile: ClusterProfile): Record<string, any>[] {
  if (!path) return [];
  const dir = path.replace(/^\.\//, '').replace(new RegExp(`^${profile.distPath}/`), '').replace(/\/?$/, '/');
  return [...manifests].filter(([p]) => p.startsWith(dir)).flatMap(([, objs]) => objs.filter((o) => o.kind === 'Job'));
}

const HEADER = '# Generated by `cng synth` from datasets/ and constructs/. Do not edit: change the dataset file and re-synthesize.\n';

/** Serializes manifests to file contents (deterministic: stable order, no timestamps). */
export function renderManifests(manifests: Manifests): Map<string, string> {
  const files = new Map<string, string>();
  for (const [path, objects] of manifests)
    files.set(path, HEADER + objects.map((o) => YAML.stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n'));
  return files;
}

/** Replaces the contents of `dir` with `files`. */
export function writeDist(files: Map<string, string>, dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  for (const [path, content] of files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** Reads every YAML file under `dir` (relative paths → content). */
export function readDist(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(name)) files.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  try {
    walk(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return files;
}

/** Parses YAML files into manifests; a YAML syntax error names the file. */
export function parseManifests(files: Map<string, string>): Manifests {
  const m: Manifests = new Map();
  for (const [path, content] of files) {
    const docs = YAML.parseAllDocuments(content);
    const bad = docs.find((d) => d.errors.length);
    if (bad) throw new Error(`dist/${path}: ${bad.errors[0].message.split('\n')[0]}`);
    m.set(path, docs.map((d) => d.toJS()).filter((o) => o !== null));
  }
  return m;
}

export interface Drift {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
}

/** Differences between what dist/ holds and what a fresh synth produces. */
export function compareFiles(expected: Map<string, string>, actual: Map<string, string>): Drift {
  return {
    added: [...expected.keys()].filter((p) => !actual.has(p)),
    removed: [...actual.keys()].filter((p) => !expected.has(p)),
    changed: [...expected.keys()].filter((p) => actual.has(p) && actual.get(p) !== expected.get(p)),
  };
}
