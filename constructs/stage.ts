import { createHash } from 'node:crypto';
import { ApiObject, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { undeclaredSecret, type ClusterProfile } from './profile.ts';
import { parseQuantity } from '../worker/core/text.ts';

/** CPU, memory and scratch disk of one pod. Requests always equal limits. */
export interface StageResources {
  /** CPU cores, e.g. '2' or '500m'. */
  readonly cpu: string;
  /** Memory, e.g. '4Gi'. OOM kills happen at this value. */
  readonly memory: string;
  /**
   * The container's ephemeral-storage limit, e.g. '10Gi'. The scratch volume at /scratch (TMPDIR)
   * gets this less a headroom ({@link scratchSize}) for the container's logs and writable layer.
   */
  readonly ephemeralStorage: string;
}

/** The stages a worker knows (`cng-worker <stage>`). */
export type StageKind =
  | 'setup-bucket' | 'fetch' | 'convert' | 'table' | 'hex' | 'repartition' | 'tiles' | 'tiles-merge' | 'publish'
  | 'cog' | 'raster-hex' | 'raster-manifest'
  | 'reencode' | 'reencode-merge' | 'reencode-publish'
  | 'points-hex' | 'points-repartition' | 'points-publish'
  | 'docs' | 'sync';

/** Identity of a dataset as every stage needs it. */
export interface DatasetContext {
  /** Dataset name, a DNS label, e.g. 'padus-4-1'. */
  readonly name: string;
  /** Run number: bumping it re-runs every stage. */
  readonly run: number;
  readonly profile: ClusterProfile;
}

export interface StageJobProps {
  readonly dataset: DatasetContext;
  /** Stage id inside the dataset, e.g. 'fee-hex'. */
  readonly stageId: string;
  readonly kind: StageKind;
  /** Arguments after `cng-worker <kind>`. */
  readonly args: string[];
  readonly resources: StageResources;
  /** Indexed completions of this Job. @default 1 */
  readonly completions?: number;
  /** Pods at once. @default completions */
  readonly parallelism?: number;
  /** Added to JOB_COMPLETION_INDEX to get the work-unit index (env CNG_INDEX_OFFSET). @default 0 */
  readonly indexOffset?: number;
  /**
   * The work units of a retry Job: completion index k runs work unit `indexList[k]` (env
   * CNG_INDEX_LIST, comma-separated; CNG_INDEX_OFFSET is then 0). @default none
   */
  readonly indexList?: number[];
  /** Retries per index for failures other than preemption. @default 2 */
  readonly backoffLimitPerIndex?: number;
  /** Hashes of the stages this one reads from; part of the name so re-runs cascade. @default [] */
  readonly upstream?: string[];
  /** Part number when a stage is split into several Jobs. @default none */
  readonly part?: number;
  /** Labels added to the Job and its pods. */
  readonly labels?: Record<string, string>;
  /** Extra container env after the standard variables (e.g. the sync stage's mirror endpoint and secret refs). @default [] */
  readonly env?: k8s.EnvVar[];
  /** The stage's re-run number (dataset file `rerun`): part of the hash, label `cng/rerun`. @default none */
  readonly rerun?: number;
}

/**
 * One Indexed Job with every cluster policy applied: GPU-avoiding affinity, preemptible priority
 * class, requests == limits, credentials from the S3 secret, internal S3 endpoint, preemption-tolerant
 * retries per index, no TTL, and a name derived from its content (spec + upstream + run).
 */
export class StageJob extends Construct {
  /** Content hash (8 hex chars) of the spec, the upstream hashes and the run number. */
  readonly hash: string;
  /** The Job name: `<dataset>-<stage>[-p<part>]-r<run>-<hash>`, a DNS label ≤ 63 chars. */
  readonly jobName: string;
  /** The Job as JSON (what lands in dist/). */
  readonly spec: Record<string, any>;
  readonly apiObject: ApiObject;

  constructor(scope: Construct, id: string, props: StageJobProps) {
    super(scope, id);
    const job = buildJob(props);
    this.hash = job.hash;
    this.jobName = job.name;
    this.apiObject = new k8s.KubeJob(this, 'job', { metadata: { name: job.name, labels: job.labels }, spec: job.spec });
    this.spec = this.apiObject.toJson();
  }
}

/** The Job a StageJob synthesizes, as typed spec plus its content-derived name. */
export function buildJob(props: StageJobProps): { name: string; hash: string; labels: Record<string, string>; spec: k8s.JobSpec } {
  const { dataset, resources } = props;
  const profile = dataset.profile;
  const completions = props.completions ?? 1;
  const labels = { ...props.labels, ...(props.rerun ? { 'cng/rerun': String(props.rerun) } : {}) };
  const quantity = (v: string) => k8s.Quantity.fromString(v);
  const limits = { cpu: quantity(resources.cpu), memory: quantity(resources.memory), 'ephemeral-storage': quantity(resources.ephemeralStorage) };
  const secret = (key: string) => ({ valueFrom: { secretKeyRef: { name: profile.s3SecretName, key } } });

  const spec: k8s.JobSpec = {
    completionMode: 'Indexed',
    completions,
    parallelism: props.parallelism ?? completions,
    backoffLimitPerIndex: props.backoffLimitPerIndex ?? 2,
    podFailurePolicy: {
      rules: [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }],
    },
    template: {
      metadata: { labels },
      spec: {
        restartPolicy: 'Never',
        priorityClassName: profile.priorityClassName,
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: profile.avoidNodes.key, operator: 'NotIn', values: [...profile.avoidNodes.values] }] },
              ],
            },
          },
        },
        containers: [
          {
            name: 'worker',
            image: profile.image,
            command: ['cng-worker', props.kind, ...props.args],
            env: [
              { name: 'AWS_ENDPOINT_URL_S3', value: profile.s3InternalEndpoint },
              { name: 'AWS_REGION', value: profile.s3Region },
              { name: 'AWS_ACCESS_KEY_ID', ...secret('AWS_ACCESS_KEY_ID') },
              { name: 'AWS_SECRET_ACCESS_KEY', ...secret('AWS_SECRET_ACCESS_KEY') },
              { name: 'CNG_INDEX_OFFSET', value: String(props.indexOffset ?? 0) },
              ...(props.indexList ? [{ name: 'CNG_INDEX_LIST', value: props.indexList.join(',') }] : []),
              { name: 'CNG_CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: quantity('1m') } } },
              { name: 'CNG_MEMORY_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
              { name: 'TMPDIR', value: '/scratch' },
              ...(props.env ?? []),
            ],
            resources: { requests: limits, limits },
            volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
          },
        ],
        volumes: [{ name: 'scratch', emptyDir: { sizeLimit: quantity(scratchSize(resources.ephemeralStorage)) } }],
      },
    },
  };
  for (const e of spec.template.spec!.containers[0].env ?? []) {
    const problem = undeclaredSecret(profile, e.valueFrom?.secretKeyRef);
    if (problem) throw new Error(`dataset ${dataset.name}, stage ${props.stageId}: env ${e.name} reads ${problem}`);
  }
  // parallelism is mutable on a live Job (Flux applies it in place), so it stays out of the name:
  // re-balancing pods across layers never re-runs work.
  const { parallelism: _mutable, ...immutable } = k8s.toJson_JobSpec(spec)!;
  const hash = contentHash({ spec: immutable, upstream: props.upstream ?? [], run: dataset.run, ...(props.rerun ? { rerun: props.rerun } : {}) });
  return {
    name: jobName(dataset.name, props.stageId, props.part, dataset.run, hash, completions),
    hash,
    labels: { ...labels, 'cng/run': String(dataset.run) },
    spec,
  };
}

export interface StageProps {
  readonly dataset: DatasetContext;
  /** Stage id inside the dataset, e.g. 'fee-hex'; also its dist/ directory and Kustomization suffix. */
  readonly stageId: string;
  readonly kind: StageKind;
  /** Layer slug the stage works on, if any (label `cng/layer`). */
  readonly layer?: string;
  readonly args: string[];
  readonly resources: StageResources;
  /** Work units (indices). Split into Jobs of at most maxCompletionsPerJob. @default 1 */
  readonly workItems?: number;
  /** Pods at once per Job. @default all of its completions */
  readonly parallelism?: number;
  /** Stages that must complete first (Flux dependsOn; their hashes enter this stage's names). @default [] */
  readonly dependsOn?: Stage[];
  /** How long the stage usually may take at most, e.g. '12h' (informative; Flux re-checks it every retryInterval). */
  readonly timeout: string;
  /** 'flux' applies Jobs through a Kustomization; 'armada' renders a job set in dist/armada/. @default 'flux' */
  readonly runner?: 'flux' | 'armada';
  /**
   * Re-run only these work units (global indices, offsets included): the stage renders one retry
   * Job (`<dataset>-<stage>-retry-r<run>-<hash>`, several of ≤200 when longer) with CNG_INDEX_LIST
   * instead of its full Jobs. @default none (every work unit)
   */
  readonly retryIndexes?: number[];
  /** Extra container env of the stage's Jobs. @default [] */
  readonly env?: k8s.EnvVar[];
  /**
   * The arguments the stages downstream depend on: `hash` (which their names include) is taken
   * over this stage's Jobs with only these arguments, so changing the others re-runs this stage
   * alone (setup-bucket's public key list). Flux Jobs without retry only. @default args
   */
  readonly dependentArgs?: string[];
  /** Re-run number of this stage alone (renames its Jobs and, through its hash, those downstream). @default none */
  readonly rerun?: number;
}

/**
 * A pipeline stage: its own chart (→ `dist/<dataset>/<stageId>/`), one or more Indexed Jobs of at
 * most 200 completions (each told its index offset), and the Flux Kustomization that orders it.
 */
export class Stage extends Chart {
  readonly stageId: string;
  readonly kind: StageKind;
  readonly layer?: string;
  /** Hash over all of this stage's Jobs (with `dependentArgs` only, when given): what downstream names depend on. */
  readonly hash: string;
  readonly jobs: StageJob[] = [];
  readonly dependsOn: Stage[];
  readonly timeout: string;
  readonly runner: 'flux' | 'armada';
  readonly workItems: number;
  /** Kustomization name, `<dataset>-<stageId>`. */
  readonly kustomizationName: string;
  /** The Armada job set when runner is 'armada'. */
  readonly armadaJobSet?: Record<string, any>;
  /** Work units a retry renders (sorted), when the stage re-runs only some. */
  readonly retryIndexes?: number[];

  constructor(scope: Construct, id: string, props: StageProps) {
    super(scope, id, { namespace: props.dataset.profile.namespace, disableResourceNameHashes: true });
    const { dataset } = props;
    this.stageId = props.stageId;
    this.kind = props.kind;
    this.layer = props.layer;
    this.dependsOn = props.dependsOn ?? [];
    this.timeout = props.timeout;
    this.runner = props.runner ?? 'flux';
    this.kustomizationName = `${dataset.name}-${props.stageId}`;
    const items = (this.workItems = props.workItems ?? 1);
    if (!Number.isInteger(items) || items < 1) throw new Error(`stage ${this.kustomizationName}: workItems must be a positive integer, got ${items}`);

    const upstream = this.dependsOn.map((s) => s.hash);
    const labels: Record<string, string> = {
      'app.kubernetes.io/part-of': 'cng-datasets',
      'cng/dataset': dataset.name,
      'cng/stage': props.kind,
      ...(props.layer ? { 'cng/layer': props.layer } : {}),
    };
    const perJob = dataset.profile.maxCompletionsPerJob;
    const parts = Math.ceil(items / perJob);
    const jobProps = (part: number): StageJobProps => {
      const completions = Math.min(perJob, items - part * perJob);
      return {
        dataset,
        stageId: props.stageId,
        kind: props.kind,
        args: props.args,
        resources: props.resources,
        completions,
        parallelism: Math.min(props.parallelism ?? completions, completions),
        indexOffset: part * perJob,
        upstream,
        part: parts > 1 ? part : undefined,
        labels: { ...labels, ...(parts > 1 ? { 'cng/part': String(part) } : {}) },
        ...(props.env ? { env: props.env } : {}),
        ...(props.rerun ? { rerun: props.rerun } : {}),
      };
    };

    const retry = props.retryIndexes ? (this.retryIndexes = checkRetryIndexes(this.kustomizationName, props.retryIndexes, items)) : undefined;

    if (this.runner === 'flux' && retry) {
      // Only the listed work units: completion index k runs unit retry[k]. Several Jobs only when
      // more than maxCompletionsPerJob units are listed.
      const groups = chunk(retry, perJob);
      groups.forEach((units, p) => {
        const split = groups.length > 1;
        this.jobs.push(
          new StageJob(this, `retry${p}`, {
            ...jobProps(0),
            stageId: `${props.stageId}-retry`,
            completions: units.length,
            parallelism: Math.min(props.parallelism ?? units.length, units.length),
            indexOffset: 0,
            indexList: units,
            part: split ? p : undefined,
            labels: { ...labels, 'cng/retry': 'true', ...(split ? { 'cng/part': String(p) } : {}) },
          }),
        );
      });
      this.hash = contentHash(this.jobs.map((j) => j.hash));
    } else if (this.runner === 'flux') {
      for (let p = 0; p < parts; p++) this.jobs.push(new StageJob(this, `part${p}`, jobProps(p)));
      const dependent = props.dependentArgs;
      this.hash = contentHash(dependent ? this.jobs.map((_, p) => buildJob({ ...jobProps(p), args: dependent }).hash) : this.jobs.map((j) => j.hash));
    } else {
      // Armada runs one pod per work unit: the Job's pod template, given its index directly.
      const template = buildJob({ ...jobProps(0), part: undefined, labels, completions: 1, parallelism: 1 });
      this.hash = contentHash(retry ? { template: template.hash, items, retry } : { template: template.hash, items });
      const pod = k8s.toJson_JobSpec(template.spec)!.template.spec;
      const units = retry ?? Array.from({ length: items }, (_, i) => i);
      this.armadaJobSet = armadaJobSet(dataset, `${this.kustomizationName}-r${dataset.run}-${this.hash}`, template.labels, pod, units);
    }
  }

  /** The Armada job set id when runner is 'armada'. */
  get jobSetId(): string | undefined {
    return this.armadaJobSet?.jobSetId;
  }

  /** Pods the stage may run at once (sum of its Jobs' parallelism). */
  get pods(): number {
    return this.jobs.reduce((n, j) => n + (j.spec.spec.parallelism ?? 1), 0);
  }
}

/**
 * An Armada job-set file for `armadactl submit` (Armada's documented format: `queue`, `jobSetId`,
 * `jobs[]` of `JobSubmitRequestItem`: `priority`, `namespace`, `clientId`, `labels`,
 * `annotations`, `podSpec`). One job per work unit, its index given as JOB_COMPLETION_INDEX (and
 * CNG_INDEX_OFFSET 0). The priority class is a pod-spec field (`podSpec.priorityClassName`):
 * Armada has no job-level priorityClassName and silently drops unknown keys. `clientId` makes a
 * repeated submission of the same file a no-op instead of a second run.
 */
function armadaJobSet(
  dataset: DatasetContext,
  jobSetId: string,
  labels: Record<string, string>,
  pod: Record<string, any>,
  units: number[],
): Record<string, any> {
  const profile = dataset.profile;
  return {
    queue: profile.armadaQueue,
    jobSetId,
    jobs: units.map((i) => ({
      priority: 0,
      namespace: profile.namespace,
      clientId: `${jobSetId}-${i}`,
      labels: { ...labels, 'cng/index': String(i) },
      podSpec: {
        ...pod,
        priorityClassName: profile.priorityClassName,
        containers: pod.containers.map((c: any) => ({
          ...c,
          env: [
            ...c.env.filter((e: any) => !['CNG_INDEX_OFFSET', 'CNG_INDEX_LIST', 'JOB_COMPLETION_INDEX'].includes(e.name)),
            { name: 'CNG_INDEX_OFFSET', value: '0' },
            { name: 'JOB_COMPLETION_INDEX', value: String(i) },
          ],
        })),
      },
    })),
  };
}

/** Keys Armada's job-set file accepts (`armadactl submit`), top level and per job. */
export const ARMADA_JOB_SET_KEYS = ['queue', 'jobSetId', 'jobs'] as const;
export const ARMADA_JOB_KEYS = ['priority', 'namespace', 'clientId', 'labels', 'annotations', 'podSpec', 'podSpecs', 'ingress', 'services', 'scheduler'] as const;

/**
 * Problems of an Armada job-set file against Armada's documented format (strict keys) and this
 * repository's rules for it: one pod spec per job, requests == limits, the preemptible priority
 * class, the work unit given per job. Empty when the file is fine.
 */
export function armadaJobSetProblems(o: unknown, profile: ClusterProfile): string[] {
  const out: string[] = [];
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const stringMap = (v: unknown) => isMap(v) && Object.values(v).every((x) => typeof x === 'string');
  if (!isMap(o)) return ['the file must hold one mapping {queue, jobSetId, jobs}'];
  for (const k of Object.keys(o)) if (!(ARMADA_JOB_SET_KEYS as readonly string[]).includes(k)) out.push(`unknown key '${k}' (Armada accepts ${ARMADA_JOB_SET_KEYS.join(', ')})`);
  if (typeof o.queue !== 'string' || !o.queue) out.push('queue must be a non-empty string');
  if (typeof o.jobSetId !== 'string' || !o.jobSetId) out.push('jobSetId must be a non-empty string');
  if (!Array.isArray(o.jobs) || o.jobs.length === 0) return [...out, 'jobs must be a non-empty list'];
  const seenUnits = new Set<string>();
  const seenClients = new Set<string>();
  o.jobs.forEach((j: unknown, i: number) => {
    const at = `jobs[${i}]`;
    if (!isMap(j)) return out.push(`${at} must be a mapping`);
    for (const k of Object.keys(j)) if (!(ARMADA_JOB_KEYS as readonly string[]).includes(k)) out.push(`${at}: unknown key '${k}' (Armada accepts ${ARMADA_JOB_KEYS.join(', ')})`);
    if (typeof j.priority !== 'number' || !(j.priority >= 0)) out.push(`${at}.priority must be a non-negative number`);
    if (j.namespace !== profile.namespace) out.push(`${at}.namespace must be "${profile.namespace}"`);
    if (j.clientId !== undefined) {
      if (typeof j.clientId !== 'string' || !j.clientId) out.push(`${at}.clientId must be a non-empty string`);
      else if (seenClients.has(j.clientId)) out.push(`${at}.clientId ${j.clientId} is used twice (the second job would be dropped)`);
      else seenClients.add(j.clientId);
    }
    for (const k of ['labels', 'annotations'] as const) if (j[k] !== undefined && !stringMap(j[k])) out.push(`${at}.${k} must map strings to strings`);
    if (j.podSpecs !== undefined) out.push(`${at}: use podSpec (one pod per job), not podSpecs`);
    const pod = j.podSpec;
    if (!isMap(pod)) return out.push(`${at}.podSpec must be a pod spec`);
    if (pod.priorityClassName !== profile.priorityClassName) out.push(`${at}.podSpec.priorityClassName must be "${profile.priorityClassName}" (preemptible)`);
    if (pod.restartPolicy !== 'Never') out.push(`${at}.podSpec.restartPolicy must be Never`);
    const containers = Array.isArray(pod.containers) ? pod.containers : [];
    if (!containers.length) out.push(`${at}.podSpec.containers must not be empty`);
    for (const [n, c] of containers.entries()) {
      const r = c?.resources ?? {};
      const keys = new Set([...Object.keys(r.requests ?? {}), ...Object.keys(r.limits ?? {})]);
      if (!r.limits || !keys.size) out.push(`${at}.podSpec.containers[${n}]: resources.requests and limits are required (Armada requires requests == limits)`);
      for (const k of keys)
        if (String(r.requests?.[k]) !== String(r.limits?.[k]))
          out.push(`${at}.podSpec.containers[${n}]: ${k} request ${r.requests?.[k]} differs from limit ${r.limits?.[k]} (Armada requires requests == limits)`);
    }
    const env = (containers[0]?.env ?? []) as { name: string; value?: string }[];
    const index = env.find((e) => e.name === 'JOB_COMPLETION_INDEX')?.value;
    if (index === undefined || !/^\d+$/.test(index)) out.push(`${at}: container env JOB_COMPLETION_INDEX must give the work unit`);
    else if (seenUnits.has(index)) out.push(`${at}: work unit ${index} appears twice`);
    else seenUnits.add(index);
    if (env.find((e) => e.name === 'CNG_INDEX_OFFSET')?.value !== '0') out.push(`${at}: CNG_INDEX_OFFSET must be "0" (the index is given directly)`);
    if (env.some((e) => e.name === 'CNG_INDEX_LIST')) out.push(`${at}: CNG_INDEX_LIST has no meaning in an Armada job`);
    if (isMap(j.labels) && j.labels['cng/index'] !== undefined && j.labels['cng/index'] !== index) out.push(`${at}: label cng/index ${String(j.labels['cng/index'])} differs from JOB_COMPLETION_INDEX ${index}`);
  });
  return out;
}

/** Sorted retry work units; throws naming the stage when one is outside 0..items-1 or repeated. */
function checkRetryIndexes(stage: string, indexes: number[], items: number): number[] {
  const sorted = [...indexes].sort((a, b) => a - b);
  const bad = sorted.filter((i) => !Number.isInteger(i) || i < 0 || i >= items);
  if (bad.length) throw new Error(`stage ${stage}: retry work unit(s) ${bad.join(', ')} outside 0..${items - 1}`);
  const dup = sorted.filter((i, n) => n > 0 && sorted[n - 1] === i);
  if (dup.length) throw new Error(`stage ${stage}: retry work unit(s) ${[...new Set(dup)].join(', ')} listed twice`);
  return sorted;
}

function chunk<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * Size of the scratch volume of a pod whose ephemeral-storage limit is `limit`: the limit less a
 * headroom of 10% (at least 256Mi) for what else counts against it (the container's logs and
 * writable layer), so a full scratch disk is the worker's one-line "no space left" rather than
 * the kubelet evicting the pod for exceeding its limit. In Mi, e.g. '10Gi' → '9216Mi'.
 */
export function scratchSize(limit: string): string {
  const mi = Math.floor(parseQuantity(limit) / 2 ** 20);
  const headroom = Math.max(256, Math.ceil(mi / 10));
  if (!(mi - headroom >= 256)) throw new Error(`ephemeral-storage ${limit} leaves no scratch space after the ${headroom}Mi headroom; give the stage at least 512Mi`);
  return `${mi - headroom}Mi`;
}

/** Short, stable hash of a JSON value (keys sorted). */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 8);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as any)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/**
 * Longest name a Job of `completions` Indexed completions may have: the Job controller names each
 * pod's hostname `<job-name>-<index>` without truncating it, and a hostname is a DNS label of at
 * most 63 characters, so the name leaves room for `-<largest index>`.
 */
export function maxJobNameLength(completions: number): number {
  return 63 - `-${Math.max(0, completions - 1)}`.length;
}

/**
 * `<dataset>-<stage>[-p<part>]-r<run>-<hash>`, shortening the descriptive part so that the pods'
 * hostnames (`<name>-<largest index>`) fit 63 characters.
 */
export function jobName(dataset: string, stageId: string, part: number | undefined, run: number, hash: string, completions = 1): string {
  const suffix = `${part === undefined ? '' : `-p${part}`}-r${run}-${hash}`;
  const base = `${dataset}-${stageId}`.slice(0, maxJobNameLength(completions) - suffix.length).replace(/-+$/, '');
  return `${base}${suffix}`;
}
