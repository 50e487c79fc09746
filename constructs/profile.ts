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
}

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
