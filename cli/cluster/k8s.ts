/**
 * A small read-only Kubernetes client for `cng status` and `cng doctor`, over
 * @kubernetes/client-node (loaded lazily: the other commands never pay for it).
 *
 * The kubeconfig comes from KubeConfig.loadFromDefault(): $KUBECONFIG (every file it names),
 * else ~/.kube/config, else the in-cluster service account. Every failure becomes a one-line
 * CommandError (no kubeconfig, unknown context, unreachable API server, 401/403, …). The two
 * commands share their --namespace and --context options (CLUSTER_OPTIONS) from here.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ClusterProfile } from '../../constructs/index.ts';
import { str, type ParsedArgs } from '../../worker/core/command.ts';
import { CommandError } from '../../worker/core/errors.ts';
import { oneLine } from '../../worker/core/text.ts';

/** A Kubernetes object as the client returns it (dates may be Date objects). */
export type K8sObject = Record<string, any>;

/** What status and doctor read from the namespace. */
export interface ClusterReader {
  readonly namespace: string;
  /** Kubeconfig context in use. */
  readonly context: string;
  /** API server URL of that context. */
  readonly server: string;
  listJobs(labelSelector: string): Promise<K8sObject[]>;
  listPods(labelSelector: string): Promise<K8sObject[]>;
  listEvents(fieldSelector: string): Promise<K8sObject[]>;
  /** Flux Kustomizations (kustomize.toolkit.fluxcd.io/v1); undefined when the Flux CRD is not installed. */
  listKustomizations(labelSelector: string): Promise<K8sObject[] | undefined>;
  /** The last `tailLines` lines of a pod's log (container `worker` unless named). */
  podLog(name: string, tailLines: number, container?: string): Promise<string>;
  /** One object by name, for `cng preflight` (a Secret's values are never kept, only its keys). */
  read(kind: ReadableKind, name: string): Promise<ReadResult>;
  listResourceQuotas(): Promise<K8sObject[]>;
}

/** What `cng preflight` reads one by one: namespaced Secrets and ServiceAccounts, cluster-wide PriorityClasses. */
export type ReadableKind = 'Secret' | 'ServiceAccount' | 'PriorityClass';

/**
 * An object read by name: found (a Secret with its data keys only), absent (404) or not readable
 * with these credentials (403) — the last two are answers for preflight, not errors.
 */
export type ReadResult = { found: K8sObject } | { absent: true } | { forbidden: string };

export interface ConnectOptions {
  namespace: string;
  /** Kubeconfig context; default the current one. */
  context?: string;
}

/** The options of the commands that read the cluster: --namespace and --context. */
export const CLUSTER_OPTIONS = {
  namespace: { type: 'string' },
  context: { type: 'string' },
} as const;

/** Connects as CLUSTER_OPTIONS say (namespace default: the NRP cluster profile's). Throws CommandError. */
export function connectWithOptions(values: ParsedArgs['values']): Promise<ClusterReader> {
  return connectCluster({ namespace: str(values.namespace) ?? ClusterProfile.NRP.namespace, context: str(values.context) });
}

/** Loads the kubeconfig and returns a reader bound to one namespace. Throws CommandError. */
export async function connectCluster(opts: ConnectOptions): Promise<ClusterReader> {
  checkKubeconfigPresent();
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new CommandError(`cannot read the kubeconfig (${kubeconfigSource()}): ${oneLine((err as Error).message)}`);
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const names = kc.getContexts().map((c) => c.name);
      throw new CommandError(`no context '${opts.context}' in the kubeconfig (${kubeconfigSource()}); contexts: ${names.join(', ') || 'none'}`);
    }
    kc.setCurrentContext(opts.context);
  }
  const context = kc.getCurrentContext();
  const cluster = kc.getCurrentCluster();
  if (!context || !cluster) throw new CommandError(`the kubeconfig (${kubeconfigSource()}) has no current context; pass --context NAME`);
  const server = cluster.server;
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const scheduling = kc.makeApiClient(k8s.SchedulingV1Api);
  const ns = opts.namespace;

  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw apiError(err, what, server, ns);
    }
  };
  const items = (list: any): K8sObject[] => (Array.isArray(list?.items) ? list.items : []);

  return {
    namespace: ns,
    context,
    server,
    listJobs: (labelSelector) => call('listing Jobs', async () => items(await batch.listNamespacedJob({ namespace: ns, labelSelector }))),
    listPods: (labelSelector) => call('listing pods', async () => items(await core.listNamespacedPod({ namespace: ns, labelSelector }))),
    listEvents: (fieldSelector) => call('listing events', async () => items(await core.listNamespacedEvent({ namespace: ns, fieldSelector }))),
    async listKustomizations(labelSelector) {
      try {
        return items(
          await custom.listNamespacedCustomObject({ group: 'kustomize.toolkit.fluxcd.io', version: 'v1', namespace: ns, plural: 'kustomizations', labelSelector }),
        );
      } catch (err) {
        if (statusCode(err) === 404) return undefined; // no Flux CRD (or not v1) in this cluster
        throw apiError(err, 'listing Flux Kustomizations', server, ns);
      }
    },
    async read(kind, name) {
      try {
        const o: K8sObject =
          kind === 'Secret'
            ? await core.readNamespacedSecret({ name, namespace: ns })
            : kind === 'ServiceAccount'
              ? await core.readNamespacedServiceAccount({ name, namespace: ns })
              : await scheduling.readPriorityClass({ name });
        // Keep a Secret's key names only: its values never leave this function.
        return { found: kind === 'Secret' ? { metadata: { name: o.metadata?.name }, keys: Object.keys({ ...o.data, ...o.stringData }) } : o };
      } catch (err) {
        if (statusCode(err) === 404) return { absent: true };
        if (statusCode(err) === 403) return { forbidden: apiError(err, `reading ${kind} ${name}`, server, ns).message };
        throw apiError(err, `reading ${kind} ${name}`, server, ns);
      }
    },
    listResourceQuotas: () => call('listing resource quotas', async () => items(await core.listNamespacedResourceQuota({ namespace: ns }))),
    podLog: (name, tailLines, container = 'worker') =>
      call(`reading the log of pod ${name}`, async () => String(await core.readNamespacedPodLog({ name, namespace: ns, container, tailLines }))),
  };
}

/** Fails early, with the fix, when no kubeconfig can be found at all. */
function checkKubeconfigPresent(): void {
  const env = process.env.KUBECONFIG;
  if (env) {
    const files = env.split(delimiter).filter(Boolean);
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length) throw new CommandError(`no kubeconfig: KUBECONFIG names ${missing.join(', ')}, which does not exist`);
    return;
  }
  if (existsSync(join(process.env.HOME || homedir(), '.kube', 'config'))) return;
  if (process.env.KUBERNETES_SERVICE_HOST) return; // in a pod: the service account
  throw new CommandError('no kubeconfig: set KUBECONFIG or put the NRP kubeconfig in ~/.kube/config (see https://nrp.ai/documentation/)');
}

function kubeconfigSource(): string {
  return process.env.KUBECONFIG ? `KUBECONFIG=${process.env.KUBECONFIG}` : '~/.kube/config';
}

function statusCode(err: unknown): number | undefined {
  const code = (err as any)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** One line saying what failed and why, for any client error. */
export function apiError(err: unknown, what: string, server: string, namespace: string): CommandError {
  const code = statusCode(err);
  if (code !== undefined) {
    let detail = '';
    const body = (err as any).body;
    try {
      detail = (typeof body === 'string' ? JSON.parse(body) : body)?.message ?? '';
    } catch {
      detail = typeof body === 'string' ? body : '';
    }
    const hint =
      code === 401
        ? ' — the kubeconfig credentials were rejected (log in again / refresh the token)'
        : code === 403
          ? ` — the kubeconfig user may not do this in namespace ${namespace}`
          : '';
    return new CommandError(`Kubernetes API ${server}: ${what} in namespace ${namespace} failed with HTTP ${code}${detail ? `: ${oneLine(detail)}` : ''}${hint}`);
  }
  const e = err as any;
  const sys = e?.code ?? e?.cause?.code ?? e?.errno;
  if (typeof sys === 'string' && /^E[A-Z]+/.test(sys))
    return new CommandError(`cannot reach the Kubernetes API at ${server} (${sys}) while ${what}; check the network/VPN and the kubeconfig context`);
  return new CommandError(`Kubernetes API ${server}: ${what} failed: ${oneLine(String(e?.message ?? err))}`);
}

