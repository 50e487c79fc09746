import { workerImage } from './worker-image.ts';

/** A node-selector requirement every pod must carry (scheduling away from some nodes). */
export interface AvoidNodes {
  readonly key: string;
  readonly values: string[];
}

/** Every cluster-wide fact a manifest depends on. Datasets never restate these. */
export interface ClusterProfileProps {
  /** Namespace of every object. @default 'biodiversity' */
  readonly namespace?: string;
  /** S3 endpoint the Jobs use (inside the cluster, no TLS). @default 'http://rook-ceph-rgw-nautiluss3.rook' */
  readonly s3InternalEndpoint?: string;
  /** S3 endpoint for published URLs (README, STAC). @default 'https://s3-west.nrp-nautilus.io' */
  readonly s3PublicEndpoint?: string;
  /** Secret holding `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`. @default 'aws' */
  readonly s3SecretName?: string;
  /** Region sent by S3 clients (Ceph ignores it, the SDK needs one). @default 'us-east-1' */
  readonly s3Region?: string;
  /** Priority class of every pod; preemptible on NRP. @default 'opportunistic' */
  readonly priorityClassName?: string;
  /** Node label that must NOT be 'true' (keeps pods off GPU nodes). @default pci-10de (NVIDIA) present */
  readonly avoidNodes?: AvoidNodes;
  /**
   * Worker image, pinned (never `:latest`). @default `ghcr.io/boettiger-lab/cng-worker:src-<digest>`,
   * the digest of the worker's sources, lockfile and Dockerfile (./worker-image.ts)
   */
  readonly image?: string;
  /** Completions allowed in one Job (etcd load). @default 200 */
  readonly maxCompletionsPerJob?: number;
  /** Pods the namespace may run at once, summed over every Job Flux may run concurrently. @default 200 */
  readonly podBudget?: number;
  /** Flux GitRepository that every stage Kustomization reads. @default 'cng-datasets' */
  readonly fluxSource?: string;
  /** Directory of the synthesized manifests inside the Git repository. @default 'dist' */
  readonly distPath?: string;
  /** Armada queue for stages rendered as Armada job sets. @default 'biodiversity' */
  readonly armadaQueue?: string;
  /** S3 endpoint of the mirror (source.coop) the sync stage copies products to. @default 'https://data.source.coop' */
  readonly mirrorEndpoint?: string;
  /**
   * Secret holding the mirror's `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, given to the sync
   * stage as `MIRROR_AWS_ACCESS_KEY_ID` / `MIRROR_AWS_SECRET_ACCESS_KEY`. @default 'source-coop'
   */
  readonly mirrorSecretName?: string;
  /**
   * The Secrets that exist in the namespace, with their keys: the only ones a manifest may
   * reference (synth refuses any other). @default NRP's `aws` (AWS_ACCESS_KEY_ID,
   * AWS_SECRET_ACCESS_KEY) and `rclone-config` (keys not used here, none declared)
   */
  readonly secrets?: readonly SecretDeclaration[];
  /**
   * ServiceAccount (in the namespace) that Flux's kustomize-controller impersonates to apply the
   * stages: every Kustomization sets it as `serviceAccountName`; flux/ creates it with a namespaced
   * Role (flux/base/tenant-rbac.yaml). @default 'cng-flux'
   */
  readonly fluxServiceAccount?: string;
  /**
   * How long one reconcile of a stage Kustomization may wait for its Jobs (`timeout`): kept short
   * so a running stage never holds one of kustomize-controller's few workers for long; it is
   * simply not Ready yet and is looked at again after `fluxRetryInterval`. @default '1m'
   */
  readonly fluxHealthTimeout?: string;
  /** How soon a not-yet-Ready stage is looked at again (`retryInterval`). @default '5m' */
  readonly fluxRetryInterval?: string;
}

/** A Secret of the namespace and the keys manifests may read from it. */
export interface SecretDeclaration {
  readonly name: string;
  readonly keys: readonly string[];
}

/** The keys of an S3 credentials secret (the `aws` secret, and the mirror's). */
export const S3_SECRET_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

/** The cluster profile: one place for namespace, endpoints, secrets, scheduling policy and image. */
export class ClusterProfile {
  /** NRP Nautilus, namespace `biodiversity`. */
  static readonly NRP = new ClusterProfile();

  readonly namespace: string;
  readonly s3InternalEndpoint: string;
  readonly s3PublicEndpoint: string;
  readonly s3SecretName: string;
  readonly s3Region: string;
  readonly priorityClassName: string;
  readonly avoidNodes: AvoidNodes;
  readonly image: string;
  readonly maxCompletionsPerJob: number;
  readonly podBudget: number;
  readonly fluxSource: string;
  readonly distPath: string;
  readonly armadaQueue: string;
  readonly mirrorEndpoint: string;
  readonly mirrorSecretName: string;
  readonly secrets: readonly SecretDeclaration[];
  readonly fluxServiceAccount: string;
  readonly fluxHealthTimeout: string;
  readonly fluxRetryInterval: string;

  constructor(props: ClusterProfileProps = {}) {
    this.namespace = props.namespace ?? 'biodiversity';
    this.s3InternalEndpoint = props.s3InternalEndpoint ?? 'http://rook-ceph-rgw-nautiluss3.rook';
    this.s3PublicEndpoint = props.s3PublicEndpoint ?? 'https://s3-west.nrp-nautilus.io';
    this.s3SecretName = props.s3SecretName ?? 'aws';
    this.s3Region = props.s3Region ?? 'us-east-1';
    this.priorityClassName = props.priorityClassName ?? 'opportunistic';
    this.avoidNodes = props.avoidNodes ?? { key: 'feature.node.kubernetes.io/pci-10de.present', values: ['true'] };
    this.image = props.image ?? workerImage();
    this.maxCompletionsPerJob = props.maxCompletionsPerJob ?? 200;
    this.podBudget = props.podBudget ?? 200;
    this.fluxSource = props.fluxSource ?? 'cng-datasets';
    this.distPath = props.distPath ?? 'dist';
    this.armadaQueue = props.armadaQueue ?? 'biodiversity';
    this.mirrorEndpoint = props.mirrorEndpoint ?? 'https://data.source.coop';
    this.mirrorSecretName = props.mirrorSecretName ?? 'source-coop';
    this.secrets = props.secrets ?? [
      { name: 'aws', keys: [...S3_SECRET_KEYS] },
      { name: 'rclone-config', keys: [] },
    ];
    this.fluxServiceAccount = props.fluxServiceAccount ?? 'cng-flux';
    this.fluxHealthTimeout = props.fluxHealthTimeout ?? '1m';
    this.fluxRetryInterval = props.fluxRetryInterval ?? '5m';
    const s3 = this.secret(this.s3SecretName);
    const missing = S3_SECRET_KEYS.filter((k) => !s3?.keys.includes(k));
    if (missing.length)
      throw new Error(
        `cluster profile: the S3 secret "${this.s3SecretName}" ${s3 ? `is declared without key(s) ${missing.join(', ')}` : 'is not declared'} in secrets (declared: ${this.secrets.map((x) => x.name).join(', ') || 'none'})`,
      );
  }

  /** The declared Secret of that name, if any. */
  secret(name: string): SecretDeclaration | undefined {
    return this.secrets.find((x) => x.name === name);
  }

  /** Whether the mirror (source.coop) secret is declared with both S3 keys: only then is there a sync stage. */
  get mirrorSecretDeclared(): boolean {
    const m = this.secret(this.mirrorSecretName);
    return Boolean(m && S3_SECRET_KEYS.every((k) => m.keys.includes(k)));
  }

  /** A copy that also declares a Secret (e.g. the mirror's, once it exists in the namespace). */
  withSecret(secret: SecretDeclaration): ClusterProfile {
    return this.with({ secrets: [...this.secrets.filter((x) => x.name !== secret.name), secret] });
  }

  /** A copy with some settings changed. */
  with(props: ClusterProfileProps): ClusterProfile {
    return new ClusterProfile({ ...this.props(), ...props });
  }

  /** Public HTTPS URL of an object, for README/STAC links. */
  publicUrl(bucket: string, key: string): string {
    return `${this.s3PublicEndpoint.replace(/\/$/, '')}/${bucket}/${key}`;
  }

  private props(): ClusterProfileProps {
    const { ...p } = this;
    return p;
  }
}

/**
 * Why a secret reference is not allowed by the profile (the secret, or the key, is not declared
 * in `ClusterProfile.secrets`), as the end of a sentence; undefined when it is declared.
 */
export function undeclaredSecret(profile: ClusterProfile, ref: { name?: string; key?: string } | undefined): string | undefined {
  if (!ref) return undefined;
  const declared = profile.secret(String(ref.name));
  if (!declared)
    return `secret "${ref.name}", which the cluster profile does not declare (declared: ${profile.secrets.map((x) => x.name).join(', ')}); create it in namespace ${profile.namespace}, then declare it with its keys in constructs/profile.ts`;
  if (ref.key !== undefined && !declared.keys.includes(ref.key))
    return `key "${ref.key}" of secret "${ref.name}", which the cluster profile does not declare (its keys: ${declared.keys.join(', ') || 'none'})`;
  return undefined;
}
