import { ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { ClusterProfile } from './profile.ts';
import {
  DEFAULT_RESOURCES, DEFAULT_TIMEOUTS, hexWorkUnits, layerHexSettings, parseDatasetSpec, RASTER_HEX_DEFAULTS, RASTER_HEX_UNITS, repartitionResources,
  repartitionUnits, tableStageId, tilesSizing,
  type DatasetSpec, type HexSettings, type LayerSpec, type RasterSpec, type ResolvedDatasetSpec, type TableSpec,
} from './spec.ts';
import { scratchStorage, type SizeEstimate } from './defaults.ts';
import { hexBudgetIssues, hexJobCounts, SpecError, type SpecIssue } from './spec-rules.ts';
import type { DatasetProse, DocsInput, DocsLayer, DocsRaster, DocsTable } from './prose.ts';
import { fileNameOf } from '../worker/core/text.ts';
import { Stage, type DatasetContext, type StageKind, type StageProps, type StageResources } from './stage.ts';
import { ReencodePipeline, reencodePaths } from './reencode.ts';
import { PointsPipeline, pointsPaths, pointsSizing } from './points.ts';
import { TilesetPipeline, tilesetPaths } from './tilesets.ts';

const s3 = (bucket: string, key: string) => `s3://${bucket}/${key}`;
const join = (...parts: string[]) => parts.filter((p) => p !== '').join('/');

/**
 * A dataset: one run-numbered unit of processing, holding its stages and the Flux Kustomizations
 * that order them (`dist/flux/<dataset>.yaml`). Built from a dataset file's spec.
 */
export class Dataset extends Construct {
  readonly spec: ResolvedDatasetSpec;
  readonly context: DatasetContext;
  readonly stages: Stage[] = [];
  /** What synthesis should tell the user about this dataset (e.g. a mirror without its secret: no sync stage). */
  readonly notes: string[] = [];
  /** Chart of the Flux Kustomization objects, one per Flux-applied stage. */
  readonly flux: Chart;
  /** The earlier hex products re-encoded (`reencode`). */
  readonly reencodes: ReencodePipeline[] = [];
  private bucketStage?: Stage;
  /** Armada stages whose job set the dataset file declares completed (`hex.completedJobSet`). */
  private readonly armadaCompleted = new Map<Stage, string>();

  constructor(scope: Construct, spec: DatasetSpec, profile: ClusterProfile = ClusterProfile.NRP) {
    const resolved = parseDatasetSpec(spec);
    // Before any Job is built: hex Jobs that cannot fit the dataset's pods.
    const budget = hexBudgetIssues(resolved, profile);
    if (budget.length) throw new SpecError(resolved.name, budget);
    super(scope, resolved.name);
    this.spec = resolved;
    // A pinned worker replaces only the tag of the profile's image.
    if (resolved.worker) profile = profile.with({ image: `${profile.image.replace(/[:@][^/]*$/, '')}:${resolved.worker}` });
    this.context = { name: resolved.name, run: resolved.run, profile };
    this.flux = new Chart(this, 'flux', { namespace: profile.namespace, disableResourceNameHashes: true });

    // Hex pods (vector hex and raster-hex Jobs, which may run at the same time) share what the
    // single-pod stages leave of maxPods.
    const rasterEntries = Object.entries(resolved.rasters).filter(([, r]) => !r.skip);
    const hexJobs = hexJobCounts(resolved, profile).total;
    // Per layer: convert, pmtiles, publish, and the repartition units.
    const layerPods = Object.values(resolved.layers).reduce((n, l) => n + 3 + repartitionUnits(l.features, l.repartition?.units), 0);
    const pointPods = Object.values(resolved.points).reduce((n, p) => n + 1 + pointsSizing(p).repartitionUnits, 0);
    const singlePodStages = 1 + layerPods + pointPods + resolved.tables.length + rasterEntries.length * 2;
    const hexParallelism = Math.max(1, Math.floor((resolved.maxPods - singlePodStages) / Math.max(1, hexJobs)));

    type Read = { source: string; sourcePath?: string; fetched: boolean };
    const bySource = new Map<string, Read & { layers: Record<string, LayerSpec>; tables: TableSpec[] }>();
    const fetchUrls = new Set<string>();
    // A fetched source is read from its raw/ copy; sourcePath and fetch go with the source they are declared next to.
    const group = (src: string | string[], sourcePath: string | undefined, fetch: boolean | undefined) => {
      const items = typeof src === 'string' ? [src] : src;
      if (fetch) items.forEach((u) => fetchUrls.add(u));
      const read: Read = { source: (fetch ? items.map((u) => this.url(`raw/${fileNameOf(u)}`)) : items).join(','), sourcePath, fetched: Boolean(fetch) };
      const id = JSON.stringify(read);
      return bySource.get(id) ?? bySource.set(id, { ...read, layers: {}, tables: [] }).get(id)!;
    };
    // The schema guarantees a dataset source wherever a layer has none, and whenever there are tables.
    for (const [key, l] of Object.entries(resolved.layers))
      group(l.source ?? resolved.source!, l.sourcePath ?? (l.source ? undefined : resolved.sourcePath), l.source ? l.fetch : resolved.fetch).layers[key] = l;
    for (const t of resolved.tables) group(resolved.source!, resolved.sourcePath, resolved.fetch).tables.push(t);
    const fetch = fetchUrls.size
      ? this.addStage('fetch', 'fetch', { dependsOn: [this.setupBucket()], args: ['--source', [...fetchUrls].join(','), '--raw', this.url('raw')] })
      : undefined;
    let i = 0;
    const sources: GeodatabaseSource[] = [];
    for (const g of bySource.values())
      sources.push(new GeodatabaseSource(this, `source${i++}`, { ...g, ...(g.fetched ? { after: fetch } : {}), hexParallelism }));
    const rasters = rasterEntries.map(([key, raster]) => new RasterLayerPipeline(this, key, { raster, hexParallelism }));
    this.reencodes = Object.entries(resolved.reencode).map(([key, r]) => new ReencodePipeline(this, key, r, hexParallelism));
    const points = Object.entries(resolved.points).map(([key, p]) => new PointsPipeline(this, key, { points: p, hexParallelism }));
    const layers = new Map(sources.flatMap((s) => s.pipelines.map((p) => [p.products.key, p] as const)));
    const tilesets = Object.entries(resolved.tilesets).map(([key, tileset]) => new TilesetPipeline(this, key, { tileset, layers, parallelism: hexParallelism }));
    this.addDocsAndSync(sources, rasters, points, tilesets);
    const reruns = rerunIssues(resolved, this.stages);
    if (reruns.length) throw new SpecError(resolved.name, reruns);

    this.addKustomizations();
  }

  /**
   * What the docs stage reads and writes (`cng-worker docs --dataset-json`): every product URL,
   * the public endpoint and the prose (when the dataset has some; only then is there a docs stage).
   */
  docsInput!: DocsInput;

  /**
   * Dataset-level stages after every product: `docs` (when the dataset has prose) writes README.md
   * and stac-collection.json at the bucket root; `sync` (when it has a mirror) copies the products
   * and docs to source.coop.
   */
  private addDocsAndSync(sources: GeodatabaseSource[], rasters: RasterLayerPipeline[], points: PointsPipeline[], tilesets: TilesetPipeline[]): void {
    const spec = this.spec;
    const profile = this.context.profile;
    const pipelines = sources.flatMap((s) => s.pipelines);
    const tables = sources.flatMap((s) => s.tables);
    const mirror = spec.mirror && profile.mirrorSecretDeclared ? spec.mirror : undefined;
    if (spec.mirror && !mirror)
      this.notes.push(
        `dataset ${spec.name}: no sync stage to the mirror (${spec.mirror.bucket}): the cluster profile declares no secret "${profile.mirrorSecretName}" ` +
          `with keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; create it in namespace ${profile.namespace} and declare it in constructs/profile.ts (docs/runbook.md#the-mirror-secret)`,
      );
    const products = [...pipelines.map((p) => p.publish), ...tables.map((t) => t.stage), ...rasters.map((r) => r.manifest), ...this.reencodes.map((r) => r.publish), ...points.map((p) => p.publish), ...tilesets.map((t) => t.merge)];
    this.docsInput = {
      version: 1,
      name: spec.name,
      title: spec.title,
      run: spec.run,
      source: typeof spec.source === 'string' || spec.source === undefined ? spec.source : spec.source.join(', '),
      bucket: spec.bucket,
      prefix: spec.prefix,
      publicEndpoint: profile.s3PublicEndpoint,
      readme: s3(spec.bucket, 'README.md'),
      stac: s3(spec.bucket, 'stac-collection.json'),
      layers: pipelines.map((p) => p.products),
      tables: tables.map((t) => t.products),
      // Only when there are rasters, so the docs Jobs of vector datasets keep their names.
      ...(Object.keys(spec.rasters).length ? { rasters: docsRasters(spec, rasters, (k) => this.key(k), (k) => this.url(k)) } : {}),
      ...(tilesets.length ? { tilesets: tilesets.map((t) => t.products) } : {}),
      ...(points.length + this.reencodes.length ? { hexProducts: [...this.reencodes, ...points].map((p) => p.docs) } : {}),
      // The README and STAC name the mirror only when a sync stage writes it.
      ...(mirror ? { mirror: { endpoint: profile.mirrorEndpoint, bucket: mirror.bucket, prefix: mirror.prefix } } : {}),
      ...(spec.prose ? { prose: spec.prose } : {}),
    };
    let docs: Stage | undefined;
    if (spec.prose) {
      const json = JSON.stringify(this.docsInput);
      // One argv string must stay under Linux's MAX_ARG_STRLEN (128 KiB).
      if (json.length > 100_000)
        throw new Error(`dataset ${spec.name}: the docs stage's --dataset-json is ${json.length} characters (limit 100000); shorten the prose`);
      docs = this.addStage('docs', 'docs', { dependsOn: products, args: ['--dataset-json', json] });
    }
    if (mirror) {
      const mirrorSecret = (key: string) => ({ valueFrom: { secretKeyRef: { name: profile.mirrorSecretName, key } } });
      const from = spec.prefix ? s3(spec.bucket, spec.prefix) : `s3://${spec.bucket}`;
      const to = mirror.prefix ? s3(mirror.bucket, mirror.prefix) : `s3://${mirror.bucket}`;
      this.addStage('sync', 'sync', {
        dependsOn: docs ? [docs] : products,
        args: [
          '--from', from, '--to', to,
          ...(docs ? ['--extra', `${this.docsInput.readme},${this.docsInput.stac}`] : []),
          ...(mirror.delete ? ['--delete'] : []),
        ],
        env: [
          { name: 'MIRROR_ENDPOINT_URL_S3', value: profile.mirrorEndpoint },
          { name: 'MIRROR_AWS_ACCESS_KEY_ID', ...mirrorSecret('AWS_ACCESS_KEY_ID') },
          { name: 'MIRROR_AWS_SECRET_ACCESS_KEY', ...mirrorSecret('AWS_SECRET_ACCESS_KEY') },
        ],
      });
    }
  }

  /**
   * The setup-bucket stage (created once, shared by every pipeline). It makes the dataset's
   * published keys world-readable (`--public`, statements named after `--dataset`). Stages
   * downstream depend on the bucket, not on who may read it: their names follow `--bucket` only,
   * so a changed product list re-applies the policy and re-runs nothing else.
   */
  setupBucket(): Stage {
    const bucket = ['--bucket', this.spec.bucket];
    return (this.bucketStage ??= this.addStage('setup-bucket', 'setup-bucket', {
      args: [...bucket, '--dataset', this.spec.name, '--public', publicKeys(this.spec).join(',')],
      dependentArgs: bucket,
    }));
  }

  /** Adds a stage with the dataset's resource overrides and the stage kind's default timeout. */
  addStage(
    stageId: string,
    kind: StageKind,
    props: {
      args: string[]; layer?: string; workItems?: number; parallelism?: number; dependsOn?: Stage[]; runner?: 'flux' | 'armada';
      resources?: Partial<StageResources>; retryIndexes?: number[]; env?: StageProps['env']; dependentArgs?: string[];
    },
  ): Stage {
    // Stage ids name charts (cdk8s rejects a repeat with a stack trace) and Kustomizations.
    if (this.stages.some((s) => s.stageId === stageId))
      throw new SpecError(this.context.name, [{ path: [], message: `two stages would be named "${stageId}" (layer keys and table names make the stage ids); rename one` }]);
    const owner = props.layer === undefined ? undefined : (this.spec.layers[props.layer] ?? this.spec.rasters[props.layer] ?? this.spec.reencode[props.layer] ?? this.spec.points[props.layer] ?? this.spec.tilesets[props.layer]);
    const rerun = props.layer === undefined ? this.spec.rerun[stageId] : (owner?.rerun as Record<string, number | undefined> | undefined)?.[kind];
    const stage = new Stage(this, stageId, {
      dataset: this.context,
      stageId,
      kind,
      timeout: DEFAULT_TIMEOUTS[kind],
      ...(rerun ? { rerun } : {}),
      ...props,
      resources: { ...DEFAULT_RESOURCES[kind], ...this.scratch(kind, props.layer), ...this.spec.resources[kind], ...props.resources },
    });
    this.stages.push(stage);
    return stage;
  }

  /** The scratch disk a layer's or raster's stage needs for its declared size (overridden by `resources`). */
  private scratch(kind: StageKind, key: string | undefined): Partial<StageResources> {
    const layer = key === undefined ? undefined : this.spec.layers[key];
    const raster = key === undefined ? undefined : this.spec.rasters[key];
    const estimate: SizeEstimate | null = layer
      ? { features: layer.features, vertices: layer.vertices }
      : raster?.size
        ? { samples: raster.size.width * raster.size.height * (raster.bands?.length ?? raster.size.bands ?? 1) }
        : null;
    const storage = estimate && scratchStorage(kind, estimate);
    return storage ? { ephemeralStorage: storage } : {};
  }

  /** Effective hex settings of a layer (dataset defaults, then the layer's overrides). */
  hexSettings(l: LayerSpec): HexSettings {
    return layerHexSettings(this.spec.hex, l.hex);
  }

  /** Work units of a layer's hex stage. */
  hexUnits(l: LayerSpec): number {
    return hexWorkUnits(l.features, this.hexSettings(l).featuresPerUnit);
  }

  /**
   * Records that an Armada stage's job set has completed (the dataset file's `hex.completedJobSet`),
   * so the stages downstream are applied unsuspended. It must name the stage's current job set.
   */
  markArmadaCompleted(stage: Stage, jobSetId: string, field: string): void {
    if (stage.runner !== 'armada')
      throw new Error(`dataset ${this.context.name}: ${field} applies only with runner 'armada' (stage ${stage.stageId} runs through Flux)`);
    if (jobSetId !== stage.jobSetId)
      throw new Error(
        `dataset ${this.context.name}: ${field} is '${jobSetId}' but stage ${stage.stageId}'s job set is now '${stage.jobSetId}'` +
          ` (the stage changed); submit dist/armada/${this.context.name}-${stage.stageId}.yaml and set ${field} to the new id once it has completed, or remove it`,
      );
    this.armadaCompleted.set(stage, jobSetId);
  }

  /** `s3://<bucket>/<key>`: the URL of an object of this dataset's bucket. */
  url(key: string): string {
    return s3(this.spec.bucket, key);
  }

  /** Object key of a product: `<prefix>/<name><suffix>`. */
  key(name: string, suffix = ''): string {
    return join(this.spec.prefix, `${name}${suffix}`);
  }

  private addKustomizations(): void {
    const profile = this.context.profile;
    const viaArmada = new Set(this.stages.filter((s) => s.runner === 'armada'));
    for (const stage of this.stages) {
      if (viaArmada.has(stage)) continue;
      // A stage downstream of an Armada job set cannot be ordered by Flux: it is applied suspended
      // and un-suspended by a PR once the job set has completed (docs/runbook.md#armada).
      const waitsOnArmada = stage.dependsOn.some((d) => viaArmada.has(d) && !this.armadaCompleted.has(d));
      new ApiObject(this.flux, stage.stageId, {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: {
          name: stage.kustomizationName,
          labels: {
            'app.kubernetes.io/part-of': 'cng-datasets',
            'cng/dataset': this.context.name,
            'cng/stage': stage.kind,
            ...(stage.layer ? { 'cng/layer': stage.layer } : {}),
          },
        },
        spec: {
          ...(stage.dependsOn.length
            ? { dependsOn: stage.dependsOn.filter((d) => !viaArmada.has(d)).map((d) => ({ name: d.kustomizationName })) }
            : {}),
          // Gating that never holds a kustomize-controller worker for long: each reconcile applies
          // the Jobs and waits at most `timeout` for them; a running stage is then simply not Ready
          // (HealthCheckFailed: "timeout waiting for … 'InProgress'") and is looked at again after
          // retryInterval. Ready (so a dependsOn downstream proceeds) only once every Job is Complete.
          interval: '30m',
          retryInterval: profile.fluxRetryInterval,
          timeout: profile.fluxHealthTimeout,
          path: `./${profile.distPath}/${this.context.name}/${stage.stageId}`,
          prune: true,
          wait: true,
          sourceRef: { kind: 'GitRepository', name: profile.fluxSource },
          targetNamespace: profile.namespace,
          serviceAccountName: profile.fluxServiceAccount,
          ...(waitsOnArmada ? { suspend: true } : {}),
        },
      });
    }
  }
}

/**
 * `rerun` entries that name no stage: a layer's or raster's keys must be kinds of its own stages,
 * the dataset's keys stage ids of the stages without a layer. Generic over the stages built.
 */
function rerunIssues(spec: ResolvedDatasetSpec, stages: Stage[]): SpecIssue[] {
  const out: SpecIssue[] = [];
  const owners: [string, string, Record<string, number | undefined> | undefined][] = [
    ...Object.entries(spec.layers).map(([k, l]): [string, string, typeof l.rerun] => ['layers', k, l.rerun]),
    ...Object.entries(spec.rasters).map(([k, r]): [string, string, typeof r.rerun] => ['rasters', k, r.rerun]),
    ...Object.entries(spec.reencode).map(([k, r]): [string, string, typeof r.rerun] => ['reencode', k, r.rerun]),
    ...Object.entries(spec.points).map(([k, p]): [string, string, typeof p.rerun] => ['points', k, p.rerun]),
    ...Object.entries(spec.tilesets).map(([k, t]): [string, string, typeof t.rerun] => ['tilesets', k, t.rerun]),
  ];
  for (const [field, key, rerun] of owners) {
    const kinds = stages.filter((s) => s.layer === key).map((s) => s.kind);
    for (const kind of Object.keys(rerun ?? {}))
      if (!kinds.includes(kind as StageKind))
        out.push({ path: [field, key, 'rerun', kind], message: `${field}.${key} has no ${kind} stage (its stages: ${kinds.join(', ')})` });
  }
  const datasetLevel = stages.filter((s) => s.layer === undefined).map((s) => s.stageId);
  for (const id of Object.keys(spec.rerun))
    if (!datasetLevel.includes(id))
      out.push({
        path: ['rerun', id],
        message: `no dataset-level stage ${id} (these are: ${datasetLevel.join(', ')}; a layer's stage is re-run with layers.<key>.rerun.<stage>)`,
      });
  return out;
}

export interface GeodatabaseSourceProps {
  /** GDAL-readable source holding the layers and tables (several, comma-separated, are merged). */
  readonly source: string;
  /** Path inside each `.zip` source. */
  readonly sourcePath?: string;
  /** The stage the reads wait for (the fetch stage of a fetched source). @default setup-bucket */
  readonly after?: Stage;
  /** Spatial layers by key. */
  readonly layers: Record<string, LayerSpec>;
  /** Non-spatial layers. @default [] */
  readonly tables?: TableSpec[];
  /** Pods at once per hex Job unless a layer sets its own. */
  readonly hexParallelism: number;
}

/** Fans one multi-layer source (e.g. a FileGDB) out: a vector pipeline per layer, a table export per table. */
export class GeodatabaseSource extends Construct {
  readonly pipelines: VectorLayerPipeline[] = [];
  readonly tables: TableExport[] = [];

  constructor(dataset: Dataset, id: string, props: GeodatabaseSourceProps) {
    super(dataset, id);
    for (const [key, layer] of Object.entries(props.layers))
      this.pipelines.push(new VectorLayerPipeline(dataset, key, { source: props.source, sourcePath: props.sourcePath, after: props.after, layer, hexParallelism: props.hexParallelism }));
    const read = { source: props.source, sourcePath: props.sourcePath, after: props.after };
    for (const t of props.tables ?? []) this.tables.push(new TableExport(dataset, typeof t === 'string' ? { ...read, table: t } : { ...read, table: t.layer, name: t.name }));
  }
}

/** Where a layer or table is read, as convert and table take it: `--source`, `--source-path`. */
function readArgs(props: { source: string; sourcePath?: string }): string[] {
  return ['--source', props.source, ...(props.sourcePath ? ['--source-path', props.sourcePath] : [])];
}

export interface VectorLayerPipelineProps {
  readonly source: string;
  readonly sourcePath?: string;
  /** The stage convert waits for. @default setup-bucket */
  readonly after?: Stage;
  readonly layer: LayerSpec;
  /** Pods at once per hex Job. @default layer.hex.parallelism, else all completions */
  readonly hexParallelism?: number;
}

/**
 * One spatial layer: setup-bucket → convert → (hex → repartition ∥ tiles → tiles-merge) → publish.
 * Products: `<prefix>/<name>.parquet`, `<name>.pmtiles`, `<name>/hex/h0=<cell>/data_0.parquet`,
 * `<name>/manifest.json`, all written by publish alone; every intermediate (the staged GeoParquet,
 * the plan, chunks, staged partitions, PMTiles) under `<name>/_work/run-<run>/` (see layerPaths).
 */
export class VectorLayerPipeline {
  /** Where this layer's products are (for the docs stage). */
  readonly products: DocsLayer;
  readonly convert: Stage;
  readonly hex: Stage;
  readonly repartition: Stage;
  /** Indexed: one completion per tiles work unit (none with `pmtiles: false`). */
  readonly tiles?: Stage;
  readonly tilesMerge?: Stage;
  readonly publish: Stage;

  constructor(dataset: Dataset, key: string, props: VectorLayerPipelineProps) {
    const { layer } = props;
    const name = layer.name ?? key;
    const paths = layerPaths((p) => dataset.key(p), name, dataset.spec.run);
    const url = (k: string) => dataset.url(k);
    const staged = Object.fromEntries(Object.entries(paths.staged).map(([k, v]) => [k, url(v)])) as Record<keyof typeof paths.staged, string>;
    const hex = dataset.hexSettings(layer);
    const units = dataset.hexUnits(layer);
    const repartitionCount = repartitionUnits(layer.features, layer.repartition?.units);
    const res = (kind: StageKind) => layer.resources?.[kind];
    const cells = ['--resolution', String(hex.resolution), '--parents', hex.parents.join(',')];
    const reads = ['--input', staged.geoparquet, '--plan', staged.plan, '--chunks', staged.chunks];
    this.products = {
      key,
      name,
      sourceLayer: layer.layer,
      geoparquet: url(paths.geoparquet),
      ...(layer.pmtiles === false ? {} : { pmtiles: url(paths.pmtiles) }),
      pmtilesLayer: name,
      hex: url(paths.hex),
      manifest: url(paths.manifest),
      resolution: hex.resolution,
      parents: hex.parents,
    };

    this.convert = dataset.addStage(`${key}-convert`, 'convert', {
      layer: key,
      dependsOn: [props.after ?? dataset.setupBucket()],
      resources: res('convert'),
      args: [
        ...readArgs(props), '--layer', layer.layer, '--out', staged.geoparquet, '--plan', staged.plan,
        '--resolution', String(hex.resolution), '--units', String(units), '--repartition-units', String(repartitionCount),
        ...(layer.idColumn ? ['--id-column', layer.idColumn] : []),
        ...(layer.encoding ? ['--encoding', layer.encoding] : []),
        ...((layer.sourceFileColumn ?? dataset.spec.sourceFileColumn) ? ['--source-file-column', (layer.sourceFileColumn ?? dataset.spec.sourceFileColumn)!] : []),
        '--expected-features', String(layer.features),
        ...(layer.badGeometry === 'null' ? ['--bad-geometry', 'null'] : []),
      ],
    });
    this.hex = dataset.addStage(`${key}-hex`, 'hex', {
      layer: key,
      dependsOn: [this.convert],
      workItems: units,
      parallelism: hex.parallelism ?? props.hexParallelism,
      runner: hex.runner,
      resources: res('hex'),
      retryIndexes: layer.hex?.retry?.indexes,
      args: [...reads, ...cells, '--containment', hex.containment],
    });
    if (layer.hex?.completedJobSet) dataset.markArmadaCompleted(this.hex, layer.hex.completedJobSet, `layers.${key}.hex.completedJobSet`);
    this.repartition = dataset.addStage(`${key}-repartition`, 'repartition', {
      layer: key,
      dependsOn: [this.hex],
      workItems: repartitionCount,
      resources: { ...repartitionResources(layer.features), ...dataset.spec.resources.repartition, ...res('repartition') },
      args: [...reads, ...cells, '--out', staged.hex, '--reports', staged.reports],
    });
    // No tiles stages for a layer without its own archive (`pmtiles: false`).
    const tiles = layer.pmtiles === false ? undefined : layerTiles(dataset, key, layer.pmtiles ?? {}, { ...layer, name }, staged, this.convert, props.hexParallelism);
    this.tiles = tiles?.tiles;
    this.tilesMerge = tiles?.merge;
    this.publish = dataset.addStage(`${key}-publish`, 'publish', {
      layer: key,
      dependsOn: [this.repartition, ...(this.tilesMerge ? [this.tilesMerge] : [])],
      resources: res('publish'),
      args: [
        ...reads, '--staged-hex', staged.hex, '--reports', staged.reports,
        ...(tiles ? ['--tiles', staged.pmtiles, '--tiles-report', staged.tilesReport] : []),
        '--run', String(dataset.spec.run), '--containment', hex.containment, ...cells, '--work', staged.work,
        '--out', url(paths.geoparquet), '--out-hex', url(paths.hex), ...(tiles ? ['--out-pmtiles', url(paths.pmtiles)] : []), '--manifest', url(paths.manifest),
      ],
    });
  }
}

/** A layer's `<key>-tiles` (Indexed) and `<key>-tiles-merge` stages, after its convert. */
function layerTiles(
  dataset: Dataset, key: string, tiles: Exclude<LayerSpec['pmtiles'], false | undefined>, layer: LayerSpec & { name: string },
  staged: { work: string; geoparquet: string; pmtiles: string; tilesReport: string }, convert: Stage, hexParallelism: number | undefined,
): { tiles: Stage; merge: Stage } {
  const sizing = tilesSizing(layer.features, { ...tiles, vertices: tiles.vertices ?? layer.vertices });
  const zooms = [
    '--layer-name', layer.name, '--min-zoom', String(tiles.minZoom ?? 0), '--max-zoom', String(tiles.maxZoom ?? 14),
    '--parts', `${staged.work}/tiles`, '--units', String(sizing.units),
  ];
  const sized = (kind: 'tiles' | 'tiles-merge', computed: StageResources) => ({ ...computed, ...dataset.spec.resources[kind], ...layer.resources?.[kind] });
  const stage = dataset.addStage(`${key}-tiles`, 'tiles', {
    layer: key,
    dependsOn: [convert],
    workItems: sizing.units,
    parallelism: Math.min(sizing.units, hexParallelism ?? sizing.units),
    resources: sized('tiles', sizing.tiles),
    args: [
      '--input', staged.geoparquet, ...zooms,
      ...(tiles.splitZoom !== undefined ? ['--split-zoom', String(tiles.splitZoom)] : []),
      '--strategy', tiles.strategy ?? 'coalesce-densest',
    ],
  });
  const merge = dataset.addStage(`${key}-tiles-merge`, 'tiles-merge', {
    layer: key,
    dependsOn: [stage],
    resources: sized('tiles-merge', sizing.merge),
    args: [...zooms, '--out', staged.pmtiles, '--report', staged.tilesReport],
  });
  return { tiles: stage, merge };
}

export interface TableExportProps {
  readonly source: string;
  readonly sourcePath?: string;
  /** The stage the export waits for. @default setup-bucket */
  readonly after?: Stage;
  /** Table (non-spatial layer) name in the source. */
  readonly table: string;
  /** Output file name without `.parquet`. @default the table name */
  readonly name?: string;
}

/** A non-spatial layer → `<prefix>/<tablesDir>/<Table>.parquet`, original names and types. */
export class TableExport {
  readonly stage: Stage;
  /** Where the table's Parquet is (for the docs stage). */
  readonly products: DocsTable;

  constructor(dataset: Dataset, props: TableExportProps) {
    const out = dataset.url(tablePath(dataset.spec, props.name ?? props.table));
    this.products = { name: props.name ?? props.table, sourceLayer: props.table, url: out };
    this.stage = dataset.addStage(tableStageId(props.table), 'table', {
      dependsOn: [props.after ?? dataset.setupBucket()],
      args: [...readArgs(props), '--layer', props.table, '--out', out],
    });
  }
}

export interface RasterLayerPipelineProps {
  readonly raster: RasterSpec;
  /** raster-hex pods at once. @default raster.hex.parallelism, else all 122 completions */
  readonly hexParallelism?: number;
}

/**
 * One raster (one or more source files or tiles): setup-bucket → `<key>-cog` → `<key>-raster-hex`
 * (Indexed, 122 completions: one per H3 resolution-0 cell) → `<key>-raster-manifest`.
 * Products with the dataset's `layout` 'formats' (pattern B, the default): `<prefix>/cog/<name>.tif`,
 * `<prefix>/hex/<name>/h0=<cell>/data_0.parquet`, `<prefix>/hex/<name>/manifest.json`, work files
 * (`cog.json`, `stats/`) under `<prefix>/_work/<name>/`; with 'named' (pattern A):
 * `<prefix>/<name>.tif`, `<prefix>/<name>/hex/h0=…`, `<prefix>/<name>/manifest.json`, work files
 * under `<prefix>/<name>/_work/`.
 */
export class RasterLayerPipeline {
  /** Where this raster's products are (for the docs stage). */
  readonly products: DocsRaster;
  readonly cog: Stage;
  readonly hex: Stage;
  readonly manifest: Stage;

  constructor(dataset: Dataset, key: string, props: RasterLayerPipelineProps) {
    const { raster } = props;
    const name = raster.name ?? key;
    const paths = rasterPaths(dataset.spec.layout, (suffix) => dataset.key(suffix), name);
    const url = (k: string) => dataset.url(k);
    const sources = typeof raster.source === 'string' ? [raster.source] : raster.source;
    const resolution = raster.hex?.resolution ?? RASTER_HEX_DEFAULTS.resolution;
    const parents = raster.hex?.parents ?? [...RASTER_HEX_DEFAULTS.parents];
    const res = (kind: StageKind) => raster.resources?.[kind];
    const kind = ['--value-kind', raster.valueKind];
    const cells = ['--resolution', String(resolution), ...(parents.length ? ['--parents', parents.join(',')] : [])];
    const cog = url(paths.cog);
    const info = url(paths.info);
    const hex = url(paths.hex);
    const stats = url(paths.stats);
    const manifest = url(paths.manifest);
    this.products = { key, name, sources, valueKind: raster.valueKind, cog, info, hex, manifest, resolution, parents, ...rasterValueFields(raster) };

    this.cog = dataset.addStage(`${key}-cog`, 'cog', {
      layer: key,
      dependsOn: [dataset.setupBucket()],
      resources: res('cog'),
      args: [
        '--source', sources.join(','), '--out', cog, '--info', info, ...kind, '--raster', key,
        ...(raster.bands ? ['--bands', raster.bands.join(',')] : []),
        // A list starting with a negative value goes as `--nodata=-128`: as a separate argument the
        // worker's parser would take it for an option ("argument is ambiguous").
        ...(raster.nodata ? (raster.nodata[0] < 0 ? [`--nodata=${raster.nodata.join(',')}`] : ['--nodata', raster.nodata.join(',')]) : []),
        ...(raster.valueColumn ? ['--value-column', raster.valueColumn] : []),
        ...(raster.scale !== undefined ? ['--scale', String(raster.scale)] : []),
        ...(raster.offset !== undefined ? ['--offset', String(raster.offset)] : []),
      ],
    });
    this.hex = dataset.addStage(`${key}-raster-hex`, 'raster-hex', {
      layer: key,
      dependsOn: [this.cog],
      workItems: RASTER_HEX_UNITS,
      parallelism: raster.hex?.parallelism ?? props.hexParallelism,
      resources: res('raster-hex'),
      args: ['--input', cog, '--info', info, '--out', hex, '--stats', stats, ...kind, ...cells],
    });
    this.manifest = dataset.addStage(`${key}-raster-manifest`, 'raster-manifest', {
      layer: key,
      dependsOn: [this.hex],
      resources: res('raster-manifest'),
      args: ['--input', cog, '--info', info, '--out', hex, '--stats', stats, ...kind, ...cells, '--manifest', manifest],
    });
  }
}

/** The value column, scale and offset a raster declares (only those it declares). */
function rasterValueFields(r: RasterSpec): Pick<DocsRaster, 'valueColumn' | 'scale' | 'offset'> {
  return { ...(r.valueColumn ? { valueColumn: r.valueColumn } : {}), ...(r.scale !== undefined ? { scale: r.scale } : {}), ...(r.offset !== undefined ? { offset: r.offset } : {}) };
}

/**
 * Every raster of the dataset for the docs stage, in the dataset file's order: the pipelines'
 * products, and each skipped raster with its reason (`skip`) and where its products would be.
 */
function docsRasters(spec: ResolvedDatasetSpec, pipelines: RasterLayerPipeline[], key: (p: string) => string, url: (k: string) => string): DocsRaster[] {
  return Object.entries(spec.rasters).map(([k, r]) => {
    const built = pipelines.find((p) => p.products.key === k);
    if (built) return built.products;
    const name = r.name ?? k;
    const p = rasterPaths(spec.layout, key, name);
    return {
      key: k, name, sources: typeof r.source === 'string' ? [r.source] : r.source, valueKind: r.valueKind,
      cog: url(p.cog), info: url(p.info), hex: url(p.hex), manifest: url(p.manifest),
      resolution: r.hex?.resolution ?? RASTER_HEX_DEFAULTS.resolution, parents: r.hex?.parents ?? [...RASTER_HEX_DEFAULTS.parents], ...rasterValueFields(r), skip: r.skip,
    };
  });
}

/** Object keys of a raster's products and work files in a layout (`key` adds the dataset prefix). */
export function rasterPaths(
  layout: 'formats' | 'named',
  key: (path: string) => string,
  name: string,
): { cog: string; hex: string; manifest: string; work: string; info: string; stats: string } {
  const p =
    layout === 'formats'
      ? { cog: key(`cog/${name}.tif`), hex: key(`hex/${name}`), manifest: key(`hex/${name}/manifest.json`), work: key(`_work/${name}`) }
      : { cog: key(`${name}.tif`), hex: key(`${name}/hex`), manifest: key(`${name}/manifest.json`), work: key(`${name}/_work`) };
  return { ...p, info: `${p.work}/cog.json`, stats: `${p.work}/stats` };
}


/**
 * Object keys of a vector layer's products and work files (`key` adds the dataset prefix). Every
 * intermediate of run `run` is under `staged.work` = `<name>/_work/run-<run>/`: convert's staged
 * GeoParquet and hex plan, the hex chunks (`chunks/h0=<cell>/unit-NNNNNN.parquet`, unit reports in
 * `chunks/_units/`), the staged partitions (`hex/h0=<cell>/data_0.parquet`), the repartition unit
 * reports and id lists, and the tiles (`<name>.pmtiles`, `tiles.json`). Publish copies the
 * products from there into place and removes it.
 */
export function layerPaths(key: (path: string) => string, name: string, run: number) {
  const work = key(`${name}/_work`);
  const runWork = `${work}/run-${run}`;
  return {
    geoparquet: key(`${name}.parquet`), pmtiles: key(`${name}.pmtiles`), hex: key(`${name}/hex`), manifest: key(`${name}/manifest.json`), work,
    staged: {
      work: runWork, geoparquet: `${runWork}/${name}.parquet`, plan: `${runWork}/hex-plan.json`, chunks: `${runWork}/chunks`,
      hex: `${runWork}/hex`, reports: `${runWork}/repartition`, pmtiles: `${runWork}/${name}.pmtiles`, tilesReport: `${runWork}/tiles.json`,
    },
  };
}

/** Object key of a table export: `<prefix>/<tablesDir>/<name>.parquet`. */
export function tablePath(spec: Pick<ResolvedDatasetSpec, 'prefix' | 'tablesDir'>, name: string): string {
  return join(spec.prefix, spec.tablesDir, `${name}.parquet`);
}

/**
 * What a dataset publishes, as setup-bucket's `--public` list: the object keys README/STAC point
 * at, and (ending in '/') the directories readers list, i.e. the hex partitions. Never `raw/`
 * sources or `_work/` files. README.md and stac-collection.json only with a docs stage.
 */
export function publicKeys(spec: ResolvedDatasetSpec): string[] {
  const key = (p: string) => join(spec.prefix, p);
  const out = spec.prose ? ['README.md', 'stac-collection.json'] : [];
  for (const [k, l] of Object.entries(spec.layers)) {
    const p = layerPaths(key, l.name ?? k, spec.run);
    out.push(p.geoparquet, ...(l.pmtiles === false ? [] : [p.pmtiles]), p.manifest, `${p.hex}/`);
  }
  for (const t of spec.tables) out.push(tablePath(spec, typeof t === 'string' ? t : t.name));
  for (const [k, r] of Object.entries(spec.rasters)) {
    if (r.skip) continue;
    const p = rasterPaths(spec.layout, key, r.name ?? k);
    out.push(p.cog, `${p.hex}/`, ...(p.manifest.startsWith(`${p.hex}/`) ? [] : [p.manifest]));
  }
  for (const [k, r] of Object.entries(spec.reencode)) {
    const p = reencodePaths(key, r.name ?? k, spec.run);
    out.push(p.manifest, `${p.hex}/`);
  }
  for (const [k, pt] of Object.entries(spec.points)) {
    const p = pointsPaths(key, pt.name ?? k, spec.run);
    out.push(p.manifest, `${p.hex}/`);
  }
  for (const [k, t] of Object.entries(spec.tilesets)) {
    const p = tilesetPaths(key, t.name ?? k, spec.run);
    out.push(p.pmtiles, p.manifest);
  }
  return out;
}
