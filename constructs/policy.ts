import { undeclaredSecret, type ClusterProfile } from './profile.ts';
import { parseQuantity } from '../worker/core/text.ts';

/**
 * Cluster policy as executable rules. The constructs produce compliant objects by construction;
 * these rules re-check the final JSON (after every escape hatch and JSON patch) at synth time and
 * again over the committed `dist/` in `cng validate`, so a violation cannot reach the cluster.
 */

/** One broken rule, located precisely enough to fix. */
export interface Violation {
  /** Dataset the object belongs to (label `cng/dataset`), or '-' when unknown. */
  readonly dataset: string;
  /** `Kind/name` of the offending object. */
  readonly object: string;
  /** Stable rule id, e.g. `requests-equal-limits` (see docs/policy.md). */
  readonly rule: string;
  readonly message: string;
}

export class PolicyError extends Error {
  constructor(readonly violations: Violation[]) {
    super(`${violations.length} policy violation(s):\n${violations.map(formatViolation).join('\n')}`);
  }
}

export function formatViolation(v: Violation): string {
  return `  dataset ${v.dataset}, ${v.object}: [${v.rule}] ${v.message}`;
}

/** Every rule id, with the one-line statement printed in docs and errors. */
export const RULES = {
  'namespace': 'every object lives in the profile namespace',
  'dns-name': 'Job names are DNS labels short enough that every pod hostname `<job name>-<largest index>` fits 63 characters',
  'gpu-affinity': 'every pod requires the node label that marks GPU nodes to be NotIn ["true"]',
  'priority-class': 'every pod uses the preemptible priority class',
  'restart-policy': 'pods run with restartPolicy Never',
  'requests-equal-limits': 'every container requests exactly its limits for cpu, memory and ephemeral-storage',
  'secret-declared': 'every secret and key a manifest references is declared in the cluster profile (constructs/profile.ts secrets)',
  'credentials': 'credentials come only from secretKeyRef/secretRef to the S3 secret (or, for MIRROR_* variables, the mirror secret), never literal values',
  's3-endpoint': 'Jobs use the internal S3 endpoint',
  'image-pinned': 'images carry a pinned tag or digest, never :latest',
  'no-ttl': 'no ttlSecondsAfterFinished (Flux would re-create and re-run a TTL-deleted Job)',
  'indexed': 'Jobs are Indexed with backoffLimitPerIndex set',
  'max-completions': 'at most maxCompletionsPerJob (200) completions per Job',
  'preemption-tolerant': 'podFailurePolicy ignores DisruptionTarget (preempted pods are retried, not counted)',
  'parallelism': 'parallelism is between 1 and completions',
  'scratch-headroom': 'emptyDir volumes leave at least 256Mi of the ephemeral-storage limit for logs and the writable layer',
  'flux-gating': 'stage Kustomizations wait for their Jobs (wait: true) with a short timeout (at most 5m) and a retryInterval, so no reconcile holds a Flux worker for long',
  'service-account': 'every Kustomization applies as the profile\'s ServiceAccount (serviceAccountName), never with the controller\'s own rights',
  'pod-budget': 'the pods of Jobs Flux may run at the same time stay within the namespace pod budget',
} as const;

export type RuleId = keyof typeof RULES;

type Json = Record<string, any>;

const SECRETISH = /(SECRET|PASSWORD|TOKEN|ACCESS_KEY|CREDENTIAL|PRIVATE_KEY)/i;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RESOURCE_KEYS = ['cpu', 'memory', 'ephemeral-storage'] as const;

/** Checks one Job object (plain JSON as synthesized or read from dist/). */
export function checkJob(job: Json, profile: ClusterProfile): Violation[] {
  const out: Violation[] = [];
  const name: string = job?.metadata?.name ?? '<unnamed>';
  const v = (rule: RuleId, message: string) =>
    out.push({ dataset: job?.metadata?.labels?.['cng/dataset'] ?? '-', object: `Job/${name}`, rule, message });

  if (job?.metadata?.namespace !== profile.namespace)
    v('namespace', `namespace is ${JSON.stringify(job?.metadata?.namespace)}, expected "${profile.namespace}"`);
  const spec: Json = job?.spec ?? {};
  const hostname = `${name}-${Math.max(0, (spec.completions ?? 1) - 1)}`;
  if (!DNS_LABEL.test(name) || name.length > 63) v('dns-name', `"${name}" (${name.length} chars) is not a DNS label of ≤63 characters`);
  else if (hostname.length > 63)
    v('dns-name', `the pod hostname "${hostname}" (<job name>-<largest index>) is ${hostname.length} characters, over 63: the API server would reject the pod; shorten the Job name`);

  if (spec.ttlSecondsAfterFinished !== undefined)
    v('no-ttl', `ttlSecondsAfterFinished is ${spec.ttlSecondsAfterFinished}; remove it (Flux re-creates TTL-deleted Jobs and re-runs them)`);
  if (spec.completionMode !== 'Indexed') v('indexed', `completionMode is ${JSON.stringify(spec.completionMode)}, expected "Indexed"`);
  if (typeof spec.backoffLimitPerIndex !== 'number') v('indexed', 'backoffLimitPerIndex is not set');
  const completions = spec.completions ?? 1;
  if (completions > profile.maxCompletionsPerJob)
    v('max-completions', `completions is ${completions}, the limit is ${profile.maxCompletionsPerJob}; split the work into several Jobs`);
  const parallelism = spec.parallelism ?? 1;
  if (!(parallelism >= 1 && parallelism <= completions))
    v('parallelism', `parallelism ${parallelism} is not within 1..completions (${completions})`);
  const ignoresDisruption = (spec.podFailurePolicy?.rules ?? []).some(
    (r: Json) => r.action === 'Ignore' && (r.onPodConditions ?? []).some((c: Json) => c.type === 'DisruptionTarget'),
  );
  if (!ignoresDisruption) v('preemption-tolerant', 'podFailurePolicy has no rule {action: Ignore, onPodConditions: [{type: DisruptionTarget}]}');

  const pod: Json = spec.template?.spec ?? {};
  checkPod(pod, profile, v);
  return out;
}

/** Pod-level rules, shared by Jobs and Armada job-set entries. */
export function checkPod(pod: Json, profile: ClusterProfile, v: (rule: RuleId, message: string) => void): void {
  if (pod.priorityClassName !== profile.priorityClassName)
    v('priority-class', `priorityClassName is ${JSON.stringify(pod.priorityClassName)}, expected "${profile.priorityClassName}"`);
  if (pod.restartPolicy !== 'Never') v('restart-policy', `restartPolicy is ${JSON.stringify(pod.restartPolicy)}, expected "Never"`);

  const terms: Json[] = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const avoids = (t: Json) =>
    (t.matchExpressions ?? []).some(
      (e: Json) =>
        e.key === profile.avoidNodes.key &&
        e.operator === 'NotIn' &&
        profile.avoidNodes.values.every((x) => (e.values ?? []).includes(x)),
    );
  if (terms.length === 0 || !terms.every(avoids))
    v('gpu-affinity', `required node affinity must have ${profile.avoidNodes.key} NotIn ${JSON.stringify(profile.avoidNodes.values)} in every nodeSelectorTerm`);

  const containers: Json[] = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
  if (containers.length === 0) v('requests-equal-limits', 'pod has no containers');
  for (const c of containers) {
    const where = `container ${c.name ?? '?'}`;
    for (const key of RESOURCE_KEYS) {
      const req = c.resources?.requests?.[key];
      const lim = c.resources?.limits?.[key];
      if (req === undefined || lim === undefined) v('requests-equal-limits', `${where}: ${key} must be set in both requests and limits`);
      else if (parseQuantity(String(req)) !== parseQuantity(String(lim)))
        v('requests-equal-limits', `${where}: ${key} request ${req} differs from limit ${lim}`);
    }
    const storage = parseQuantity(String(c.resources?.limits?.['ephemeral-storage'] ?? NaN));
    const scratch = (pod.volumes ?? []).reduce((n: number, vol: Json) => n + (vol.emptyDir ? parseQuantity(String(vol.emptyDir.sizeLimit ?? Infinity)) : 0), 0);
    if (scratch > 0 && !(scratch <= storage - 256 * 2 ** 20))
      v('scratch-headroom', `${where}: emptyDir volumes of ${(pod.volumes ?? []).map((vol: Json) => vol.emptyDir?.sizeLimit).filter(Boolean).join(' + ') || 'no size limit'} leave under 256Mi of the ephemeral-storage limit ${c.resources?.limits?.['ephemeral-storage']} (logs and the writable layer count against it too: the kubelet would evict the pod)`);
    const image: string = c.image ?? '';
    if (!/@sha256:[0-9a-f]{64}$/.test(image) && (!/:[\w][\w.-]*$/.test(image.split('/').pop() ?? '') || image.endsWith(':latest')))
      v('image-pinned', `${where}: image "${image}" must have a pinned tag or digest (not :latest)`);

    const env: Json[] = c.env ?? [];
    for (const e of env) {
      if (e.value !== undefined && SECRETISH.test(e.name))
        v('credentials', `${where}: env ${e.name} has a literal value; use secretKeyRef to secret "${profile.s3SecretName}"`);
      const ref = e.valueFrom?.secretKeyRef;
      // The mirror secret (source.coop) may be read only into MIRROR_* variables (the sync stage).
      const mirrorRef = ref?.name === profile.mirrorSecretName && String(e.name).startsWith('MIRROR_');
      if (ref && ref.name !== profile.s3SecretName && !mirrorRef)
        v(
          'credentials',
          ref.name === profile.mirrorSecretName
            ? `${where}: env ${e.name} reads the mirror secret "${ref.name}"; only MIRROR_* variables may`
            : `${where}: env ${e.name} reads secret "${ref.name}"; only "${profile.s3SecretName}" (and "${profile.mirrorSecretName}" for MIRROR_* variables) is allowed`,
        );
    }
    for (const e of env) {
      const problem = undeclaredSecret(profile, e.valueFrom?.secretKeyRef);
      if (problem) v('secret-declared', `${where}: env ${e.name} reads ${problem}`);
    }
    for (const from of c.envFrom ?? []) {
      const problem = undeclaredSecret(profile, from.secretRef ? { name: from.secretRef.name } : undefined);
      if (problem) v('secret-declared', `${where}: envFrom reads ${problem}`);
      if (from.secretRef && from.secretRef.name !== profile.s3SecretName)
        v('credentials', `${where}: envFrom secretRef "${from.secretRef.name}"; only "${profile.s3SecretName}" is allowed`);
    }
    const endpoint = env.find((e) => e.name === 'AWS_ENDPOINT_URL_S3');
    if (endpoint?.value !== profile.s3InternalEndpoint)
      v('s3-endpoint', `${where}: AWS_ENDPOINT_URL_S3 is ${JSON.stringify(endpoint?.value)}, expected the internal endpoint "${profile.s3InternalEndpoint}"`);
  }
}


/** What the stage Kustomizations' ServiceAccount must be allowed to do in the namespace. */
export const TENANT_RIGHTS = [
  { group: 'batch', resource: 'jobs', verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { group: 'kustomize.toolkit.fluxcd.io', resource: 'kustomizations', verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
] as const;

/**
 * The Flux bootstrap (flux/) against the profile's tenant identity: the ServiceAccount Flux
 * impersonates exists in the namespace, a namespaced Role bound to it grants what the stages need
 * (TENANT_RIGHTS), nothing is cluster-wide, and every Kustomization applies as it. One line per problem.
 */
export function tenantProblems(objects: Json[], profile: ClusterProfile): string[] {
  const out: string[] = [];
  const sa = profile.fluxServiceAccount;
  const ns = profile.namespace;
  const of = (kind: string) => objects.filter((o) => o.kind === kind);
  for (const o of [...of('ClusterRole'), ...of('ClusterRoleBinding')]) out.push(`${o.kind}/${o.metadata?.name}: nothing cluster-wide; use a Role and RoleBinding in ${ns}`);
  if (!of('ServiceAccount').some((o) => o.metadata?.name === sa && o.metadata?.namespace === ns))
    out.push(`no ServiceAccount ${sa} in namespace ${ns} (the profile's fluxServiceAccount, which every Kustomization applies as)`);
  const bound = of('RoleBinding').filter(
    (b) => b.metadata?.namespace === ns && b.roleRef?.kind === 'Role' && (b.subjects ?? []).some((x: Json) => x.kind === 'ServiceAccount' && x.name === sa && (x.namespace ?? ns) === ns),
  );
  for (const b of of('RoleBinding')) if (b.roleRef?.kind !== 'Role') out.push(`RoleBinding/${b.metadata?.name}: binds ${b.roleRef?.kind}/${b.roleRef?.name}; bind a namespaced Role`);
  const rules: Json[] = of('Role')
    .filter((r) => r.metadata?.namespace === ns && bound.some((b) => b.roleRef?.name === r.metadata?.name))
    .flatMap((r) => r.rules ?? []);
  for (const right of TENANT_RIGHTS) {
    const missing = right.verbs.filter(
      (verb) => !rules.some((r) => (r.apiGroups ?? []).includes(right.group) && (r.resources ?? []).includes(right.resource) && (r.verbs ?? []).includes(verb)),
    );
    if (missing.length) out.push(`ServiceAccount ${sa} may not ${missing.join(', ')} ${right.resource}.${right.group} in ${ns} (no Role bound to it in ${ns} grants it)`);
  }
  for (const k of of('Kustomization'))
    if (k.apiVersion?.startsWith('kustomize.toolkit.fluxcd.io/') && k.spec?.serviceAccountName !== sa)
      out.push(`Kustomization/${k.metadata?.name}: serviceAccountName is ${JSON.stringify(k.spec?.serviceAccountName)}, expected "${sa}"`);
  return out;
}

/** A unit of Flux ordering (one Kustomization) with the pods its Jobs may run at once. */
export interface ScheduledStage {
  readonly name: string;
  readonly pods: number;
  readonly dependsOn: string[];
}

/**
 * The largest number of pods that may run at the same time: the maximum-weight antichain of the
 * `dependsOn` partial order (stages neither of which waits for the other can overlap).
 * Computed exactly as a minimum flow with lower bounds (weighted Dilworth), so the check is
 * neither fooled by independent datasets nor too strict for chained stages.
 */
export function maxConcurrentPods(stages: ScheduledStage[]): { pods: number; stages: string[] } {
  const n = stages.length;
  if (n === 0) return { pods: 0, stages: [] };
  const index = new Map(stages.map((s, i) => [s.name, i]));
  // Transitive closure of "i must finish before j starts".
  const before: boolean[][] = stages.map(() => new Array(n).fill(false));
  const visit = (i: number, from: number, seen: Set<number>) => {
    for (const d of stages[i].dependsOn) {
      const j = index.get(d);
      if (j === undefined || seen.has(j)) continue;
      seen.add(j);
      before[j][from] = true;
      visit(j, from, seen);
    }
  };
  stages.forEach((_, i) => visit(i, i, new Set()));

  // Network: S, T, in_i, out_i. Lower bound w_i on in_i→out_i. Min flow S→T covering all bounds.
  const INF = 1e12;
  const S = 2 * n, T = 2 * n + 1, SS = 2 * n + 2, TT = 2 * n + 3;
  const g = new FlowGraph(2 * n + 4);
  const excess = new Array(2 * n + 4).fill(0);
  stages.forEach((s, i) => {
    g.add(S, 2 * i, INF);
    g.add(2 * i + 1, T, INF);
    g.add(2 * i, 2 * i + 1, INF); // capacity above the lower bound
    excess[2 * i + 1] += s.pods;
    excess[2 * i] -= s.pods;
    for (let j = 0; j < n; j++) if (before[i][j]) g.add(2 * i + 1, 2 * j, INF);
  });
  const back = g.add(T, S, INF);
  excess.forEach((e, v) => {
    if (e > 0) g.add(SS, v, e);
    if (e < 0) g.add(v, TT, -e);
  });
  g.maxflow(SS, TT);
  const feasible = g.flowOn(back);
  g.remove(back);
  const reduced = g.maxflow(T, S);
  const pods = feasible - reduced;

  // The antichain itself: the lower-bound edges that cross the cut left by the T→S reduction
  // (out-node reachable from T in the residual graph, in-node not). Named in the error message.
  const reach = g.reachable(T);
  const names = stages.filter((_, i) => reach[2 * i + 1] && !reach[2 * i]).map((s) => s.name);
  return { pods, stages: names };
}

/** Checks the namespace pod budget over all stages Flux applies. */
export function checkPodBudget(stages: ScheduledStage[], profile: ClusterProfile): Violation[] {
  const { pods, stages: overlap } = maxConcurrentPods(stages);
  if (pods <= profile.podBudget) return [];
  return [
    {
      dataset: '*',
      object: 'Kustomizations',
      rule: 'pod-budget',
      message: `up to ${pods} pods may run at once, over the namespace budget of ${profile.podBudget}; these stages can overlap: ${overlap.join(', ')}. Lower hex parallelism (dataset maxPods) or add dependsOn between stages.`,
    },
  ];
}

/** Dinic max-flow on a small graph, with edge removal for the min-flow reduction. */
class FlowGraph {
  private to: number[] = [];
  private cap: number[] = [];
  private orig: number[] = [];
  private adj: number[][];
  constructor(n: number) {
    this.adj = Array.from({ length: n }, () => []);
  }
  add(u: number, v: number, c: number): number {
    const id = this.to.length;
    this.to.push(v, u);
    this.cap.push(c, 0);
    this.orig.push(c, 0);
    this.adj[u].push(id);
    this.adj[v].push(id + 1);
    return id;
  }
  flowOn(e: number): number {
    return this.orig[e] - this.cap[e];
  }
  remove(e: number): void {
    this.cap[e] = 0;
    this.cap[e + 1] = 0;
  }
  reachable(s: number): boolean[] {
    const seen = new Array(this.adj.length).fill(false);
    const stack = [s];
    seen[s] = true;
    while (stack.length) {
      const u = stack.pop()!;
      for (const e of this.adj[u]) if (this.cap[e] > 0 && !seen[this.to[e]]) (seen[this.to[e]] = true), stack.push(this.to[e]);
    }
    return seen;
  }
  maxflow(s: number, t: number): number {
    let total = 0;
    for (;;) {
      const level = new Array(this.adj.length).fill(-1);
      level[s] = 0;
      const q = [s];
      for (let h = 0; h < q.length; h++)
        for (const e of this.adj[q[h]]) if (this.cap[e] > 0 && level[this.to[e]] < 0) (level[this.to[e]] = level[q[h]] + 1), q.push(this.to[e]);
      if (level[t] < 0) return total;
      const it = new Array(this.adj.length).fill(0);
      const dfs = (u: number, f: number): number => {
        if (u === t) return f;
        for (; it[u] < this.adj[u].length; it[u]++) {
          const e = this.adj[u][it[u]];
          const w = this.to[e];
          if (this.cap[e] > 0 && level[w] === level[u] + 1) {
            const d = dfs(w, Math.min(f, this.cap[e]));
            if (d > 0) {
              this.cap[e] -= d;
              this.cap[e ^ 1] += d;
              return d;
            }
          }
        }
        return 0;
      };
      for (let f = dfs(s, Infinity); f > 0; f = dfs(s, Infinity)) total += f;
    }
  }
}
