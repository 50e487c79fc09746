/**
 * `cng preflight <dataset>`: before a dataset's PR is merged, checks through the Kubernetes API
 * (the same client as `cng status`, ./k8s.ts) that what its manifests reference exists in the
 * namespace: every Secret and key the Jobs read, the pods' priority class, the ServiceAccount Flux
 * applies as, room in the namespace's ResourceQuotas for the most the dataset may run at once, and
 * the worker image (as far as the API can tell: a pod that already pulled it, or one that cannot).
 * One line per check; exit 1 when a check fails.
 */
import { ClusterProfile, maxConcurrentPods, synthesize, type Dataset, type DatasetSpec, type Stage } from '../../constructs/index.ts';
import { datasets as localDatasets } from '../../datasets/index.ts';
import { str, type Command } from '../../worker/core/command.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { parseQuantity } from '../../worker/core/text.ts';
import { classifyPod } from './classify.ts';
import { CLUSTER_OPTIONS, connectWithOptions, type ClusterReader, type K8sObject } from './k8s.ts';

export type CheckState = 'ok' | 'warn' | 'fail' | 'unknown';

export interface Check {
  readonly state: CheckState;
  /** One line: what was checked and the answer (with the fix when it failed). */
  readonly text: string;
}

const MARK: Record<CheckState, string> = { ok: '✓', warn: '!', fail: '✗', unknown: '?' };

/** Every check for one dataset, in a stable order. */
export async function preflight(reader: ClusterReader, spec: DatasetSpec, profile: ClusterProfile = ClusterProfile.NRP): Promise<Check[]> {
  const [dataset] = synthesize([spec], profile).datasets;
  const jobs = dataset.stages.flatMap((s) => s.jobs.map((j) => j.spec.spec));
  const ns = reader.namespace;
  const checks: Check[] = [];

  for (const [name, keys] of referencedSecrets(jobs)) checks.push(await secretCheck(reader, name, keys));
  checks.push(await existsCheck(reader, 'PriorityClass', profile.priorityClassName, 'priority class', 'ask the cluster admins, or set ClusterProfile priorityClassName to one that exists'));
  checks.push(
    await existsCheck(reader, 'ServiceAccount', profile.fluxServiceAccount, 'ServiceAccount', `Flux applies the stages as it: apply the bootstrap, kubectl apply -k flux/nrp`),
  );
  checks.push(...quotaChecks(await reader.listResourceQuotas(), dataset, ns));
  checks.push(imageCheck(await reader.listPods('app.kubernetes.io/part-of=cng-datasets'), profile.image, ns));
  return checks;
}

/** Secret name → keys read by the Jobs (secretKeyRef and envFrom). */
function referencedSecrets(jobs: Record<string, any>[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (name: string, key?: string) => {
    const keys = out.get(name) ?? out.set(name, new Set()).get(name)!;
    if (key) keys.add(key);
  };
  for (const job of jobs)
    for (const c of job.template?.spec?.containers ?? []) {
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) add(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
      for (const f of c.envFrom ?? []) if (f.secretRef) add(f.secretRef.name);
    }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

async function secretCheck(reader: ClusterReader, name: string, keys: Set<string>): Promise<Check> {
  const r = await reader.read('Secret', name);
  const wanted = [...keys].sort();
  if ('absent' in r)
    return {
      state: 'fail',
      text: `secret ${name}: not found in namespace ${reader.namespace} — pods reading it would stay in CreateContainerConfigError; create it: kubectl create secret generic ${name} -n ${reader.namespace} ${wanted.map((k) => `--from-literal=${k}=…`).join(' ')}`,
    };
  if ('forbidden' in r) return { state: 'unknown', text: `secret ${name}: cannot check (${r.forbidden})` };
  const present: string[] = r.found.keys ?? [];
  const missing = wanted.filter((k) => !present.includes(k));
  if (missing.length)
    return { state: 'fail', text: `secret ${name}: no key ${missing.join(', ')} (it has ${present.join(', ') || 'no keys'}) — add it, e.g. kubectl edit secret ${name} -n ${reader.namespace}` };
  return { state: 'ok', text: `secret ${name}: has ${wanted.join(', ') || 'the secret itself'}` };
}

async function existsCheck(reader: ClusterReader, kind: 'PriorityClass' | 'ServiceAccount', name: string, label: string, fix: string): Promise<Check> {
  const r = await reader.read(kind, name);
  const what = `${label} ${name}`;
  if ('absent' in r) return { state: 'fail', text: `${what}: not found — ${fix}` };
  if ('forbidden' in r) return { state: 'unknown', text: `${what}: cannot check (${r.forbidden})` };
  const detail = kind === 'PriorityClass' ? ` (value ${r.found.value}${r.found.preemptionPolicy ? `, preemptionPolicy ${r.found.preemptionPolicy}` : ''})` : '';
  return { state: 'ok', text: `${what}: exists${detail}` };
}

/** The resources a quota may limit, and how much of each one pod of a Job takes. */
const QUOTA_RESOURCES: Record<string, (job: Record<string, any>) => number> = {
  pods: () => 1,
  'requests.cpu': (j) => quantityOf(j, 'requests', 'cpu'),
  'limits.cpu': (j) => quantityOf(j, 'limits', 'cpu'),
  cpu: (j) => quantityOf(j, 'requests', 'cpu'),
  'requests.memory': (j) => quantityOf(j, 'requests', 'memory'),
  'limits.memory': (j) => quantityOf(j, 'limits', 'memory'),
  memory: (j) => quantityOf(j, 'requests', 'memory'),
  'requests.ephemeral-storage': (j) => quantityOf(j, 'requests', 'ephemeral-storage'),
  'limits.ephemeral-storage': (j) => quantityOf(j, 'limits', 'ephemeral-storage'),
};

function quantityOf(job: Record<string, any>, side: 'requests' | 'limits', key: string): number {
  return parseQuantity(String(job.template?.spec?.containers?.[0]?.resources?.[side]?.[key] ?? 0));
}

/** The most of one resource the dataset's stages may hold at once (the dependsOn graph's heaviest antichain). */
function peak(dataset: Dataset, per: (job: Record<string, any>) => number): number {
  const pods = (s: Stage) => s.jobs.reduce((n, j) => n + (j.spec.spec.parallelism ?? 1) * per(j.spec.spec), 0);
  // maxConcurrentPods works on integers: count in thousandths (CPU) or MiB (bytes).
  const scale = (x: number) => Math.ceil(x >= 2 ** 20 ? x / 2 ** 20 : x * 1000);
  const unscale = (x: number, sample: number) => (sample >= 2 ** 20 ? x * 2 ** 20 : x / 1000);
  const sample = Math.max(0, ...dataset.stages.flatMap((s) => s.jobs.map((j) => per(j.spec.spec))));
  const stages = dataset.stages.map((s) => ({ name: s.kustomizationName, dependsOn: s.dependsOn.map((d) => d.kustomizationName), pods: scale(pods(s)) }));
  return unscale(maxConcurrentPods(stages).pods, sample);
}

/** One line per ResourceQuota: for each resource it limits, the dataset's peak against what is free. */
function quotaChecks(quotas: K8sObject[], dataset: Dataset, ns: string): Check[] {
  if (!quotas.length) return [{ state: 'ok', text: `quota: no ResourceQuota in namespace ${ns}` }];
  const jobCount = dataset.stages.reduce((n, s) => n + s.jobs.length, 0);
  return quotas.map((q) => {
    const hard: Record<string, string> = q.status?.hard ?? q.spec?.hard ?? {};
    const used: Record<string, string> = q.status?.used ?? {};
    let state: CheckState = 'ok';
    const parts: string[] = [];
    for (const [res, limit] of Object.entries(hard)) {
      const per = QUOTA_RESOURCES[res];
      const need = per ? peak(dataset, per) : res === 'count/jobs.batch' ? jobCount : undefined;
      if (need === undefined || need === 0) continue;
      const h = parseQuantity(limit), u = parseQuantity(used[res] ?? '0');
      const show = (x: number) => (res.includes('memory') || res.includes('storage') ? `${Math.round(x / 2 ** 30)}Gi` : String(Math.round(x * 100) / 100));
      parts.push(`${res} ${show(u)}/${show(h)} used, ${dataset.context.name} needs up to ${show(need)}`);
      if (need > h) state = 'fail';
      else if (need > h - u && state === 'ok') state = 'warn';
    }
    const verdict =
      state === 'fail'
        ? ' — more than the quota allows at all: lower maxPods or hex parallelism'
        : state === 'warn'
          ? ' — not free now: pods beyond it fail to be created (FailedCreate) until others finish'
          : '';
    return { state, text: `quota ${q.metadata?.name}: ${parts.join('; ') || 'limits nothing the dataset uses'}${verdict}` };
  });
}

/** The image: a pod that ran it proves the registry serves it to the nodes; one that cannot pull it proves the opposite. */
function imageCheck(pods: K8sObject[], image: string, ns: string): Check {
  const mine = pods.filter((p) => (p.spec?.containers ?? []).some((c: any) => c.image === image));
  const pulled = mine.find((p) => (p.status?.containerStatuses ?? []).some((c: any) => c.imageID && (c.image === image || c.imageID.includes('@sha256:'))));
  const failing = mine.map((p) => classifyPod(p)).find((p) => p.state === 'image-pull');
  if (failing) return { state: 'fail', text: `image ${image}: pod ${failing.name} cannot pull it (${failing.reason}${failing.message ? `: ${failing.message.slice(0, 160)}` : ''}) — publish it, or make the registry package public` };
  if (pulled) {
    const id = (pulled.status.containerStatuses as any[]).find((c) => c.imageID)?.imageID;
    return { state: 'ok', text: `image ${image}: pulled by pod ${pulled.metadata?.name}${pulled.spec?.nodeName ? ` on ${pulled.spec.nodeName}` : ''} (${String(id).split('@').pop()})` };
  }
  return {
    state: 'unknown',
    text: `image ${image}: cannot check from the API (no pod in ${ns} has run it yet; the API does not look into registries) — check with: docker manifest inspect ${image}`,
  };
}

export function renderChecks(dataset: string, reader: ClusterReader, checks: Check[]): string {
  const failed = checks.filter((c) => c.state === 'fail').length;
  return [
    `preflight ${dataset} — namespace ${reader.namespace}, context ${reader.context}`,
    ...checks.map((c) => `  ${MARK[c.state]} ${c.text}`),
    failed ? `${failed} check(s) failed: fix them before merging the dataset's PR.` : 'Nothing missing (✓ ok, ! works but slower, ? cannot be checked from the API).',
  ].join('\n') + '\n';
}

export const preflightCommand: Command = {
  name: 'preflight',
  summary: "check the cluster has what a dataset's manifests reference: secrets, priority class, quota, image",
  help: `Usage: cng preflight <dataset> [--json] [--namespace NS] [--context CTX]

Before merging a dataset's PR, reads the namespace through the Kubernetes API (kubeconfig
from $KUBECONFIG or ~/.kube/config, as 'cng status') and checks, one line each:
  ✓/✗ every Secret the dataset's Jobs read, and each key they read from it (a missing one
      leaves pods in CreateContainerConfigError: the Job neither runs nor fails);
  ✓/✗ the pods' priority class (cluster-wide; '?' when the kubeconfig may not read it);
  ✓/✗ the ServiceAccount Flux applies the stages as (flux/base/tenant-rbac.yaml);
  ✓/!/✗ each ResourceQuota: the most pods, CPU and memory the dataset may run at once
      against what the quota allows (✗) and what is free now (!);
  ✓/✗/? the worker image: pulled by a pod already (✓), failing to pull (✗), or not
      checkable from the API (?).
Secret values are never read into the output, only their key names.

Options:
  --json           print the checks as JSON
  --namespace NS   namespace (default: the cluster profile's, biodiversity)
  --context CTX    kubeconfig context (default: the current one)
  -h, --help       show this help

Exit status: 0 nothing failed ('!' and '?' included), 1 a check failed or the cluster
could not be read, 2 usage error.

Example:
  cng preflight padus-4-1`,
  options: { json: { type: 'boolean' }, ...CLUSTER_OPTIONS },
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('expected one dataset name');
    const name = positionals[0];
    const spec = localDatasets.find((d) => d.name === name);
    if (!spec) throw new CommandError(`no dataset '${name}' in datasets/ (known: ${localDatasets.map((d) => d.name).join(', ')})`);
    const reader = await connectWithOptions(values);
    const profile = str(values.namespace) ? ClusterProfile.NRP.with({ namespace: str(values.namespace) }) : ClusterProfile.NRP;
    const checks = await preflight(reader, spec, profile);
    process.stdout.write(values.json ? `${JSON.stringify({ dataset: name, namespace: reader.namespace, checks }, null, 2)}\n` : renderChecks(name, reader, checks));
    return checks.some((c) => c.state === 'fail') ? EXIT.failure : EXIT.ok;
  },
};
