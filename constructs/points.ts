import { MAX_REPARTITION_UNITS } from './defaults.ts';
import type { Dataset } from './pipelines.ts';
import type { DocsHexProduct } from './prose.ts';
import type { PointsSpec } from './spec.ts';
import type { Stage, StageKind, StageResources } from './stage.ts';

/**
 * A points source (docs/datasets.md#points-at-scale): setup-bucket → `<key>-points-hex` (Indexed,
 * one completion per slice of source files) → `<key>-points-repartition` (Indexed, one per group of
 * h0 cells) → `<key>-points-publish`. Products: `<prefix>/<name>/hex/h0=<cell>/data_0.parquet` and
 * `<prefix>/<name>/manifest.json`, written by points-publish alone; work files under
 * `<prefix>/<name>/_work/run-<run>/` (chunks, staged partitions, reports).
 */

/** Rows a points-hex unit is sized for when the dataset file gives no filesPerUnit: 25 of GBIF's ~550,000-row files. */
export const POINT_UNIT_ROWS = 13_750_000;
/** Rows per points-repartition unit when the dataset file does not set `repartition.units`. */
export const POINT_ROWS_PER_REPARTITION_UNIT = 25_000_000;
/** Bytes per row assumed when the dataset file does not declare `bytes` (GBIF's Parquet: ~100 B a row). */
export const POINT_BYTES_PER_ROW = 100;
/** The largest share of all rows one h0 cell is assumed to hold (sizes the repartition scratch disk). */
export const POINT_MAX_H0_SHARE = 0.15;

const gib = (bytes: number) => Math.ceil(bytes / 2 ** 30);

/**
 * Work units and pod sizes of a points source from its declared files, rows and bytes. points-hex:
 * one unit = `filesPerUnit` files; memory follows one file (DuckDB holds one file's rows and cells:
 * 2 GiB + 1 GiB per million rows a file, at least 4 GiB); scratch = 3 × the unit's bytes (the parts
 * of every file, the chunk being merged) + 2 files + 2 GiB. points-repartition: memory is DuckDB's
 * sort limit (8 GiB, spilling); scratch = 4 × the bytes of the largest h0 cell (chunks, sort spill ×2,
 * partition), assumed {@link POINT_MAX_H0_SHARE} of all rows, at least 20 GiB.
 */
export function pointsSizing(p: Pick<PointsSpec, 'files' | 'rows' | 'bytes' | 'filesPerUnit' | 'repartition'>): {
  filesPerUnit: number; units: number; repartitionUnits: number; hex: StageResources; repartition: StageResources;
} {
  const rowsPerFile = p.rows / p.files;
  const bytesPerFile = (p.bytes ?? p.rows * POINT_BYTES_PER_ROW) / p.files;
  const filesPerUnit = p.filesPerUnit ?? Math.min(p.files, Math.max(1, Math.round(POINT_UNIT_ROWS / Math.max(1, rowsPerFile))));
  const units = Math.max(1, Math.ceil(p.files / filesPerUnit));
  const repartitionUnits = p.repartition?.units ?? Math.min(MAX_REPARTITION_UNITS, Math.max(1, Math.ceil(p.rows / POINT_ROWS_PER_REPARTITION_UNIT)));
  const hexMemory = Math.max(4, 2 + Math.ceil(rowsPerFile / 1e6));
  return {
    filesPerUnit,
    units,
    repartitionUnits,
    hex: { cpu: '2', memory: `${hexMemory}Gi`, ephemeralStorage: `${gib(3 * filesPerUnit * bytesPerFile + 2 * bytesPerFile) + 2}Gi` },
    repartition: { cpu: '2', memory: '8Gi', ephemeralStorage: `${Math.max(20, gib(4 * POINT_MAX_H0_SHARE * p.files * bytesPerFile))}Gi` },
  };
}

/** Object keys of a points product and its work files (`key` adds the dataset prefix). */
export function pointsPaths(key: (path: string) => string, name: string, run: number) {
  const work = `${key(`${name}/_work`)}/run-${run}`;
  return { hex: key(`${name}/hex`), manifest: key(`${name}/manifest.json`), work, chunks: `${work}/chunks`, staged: `${work}/hex`, reports: `${work}/repartition` };
}

export interface PointsPipelineProps {
  readonly points: PointsSpec;
  /** points-hex pods at once. @default points.hex.parallelism, else all completions */
  readonly hexParallelism?: number;
}

export class PointsPipeline {
  readonly hex: Stage;
  readonly repartition: Stage;
  readonly publish: Stage;
  /** The published URLs (hex prefix, manifest). */
  readonly products: { key: string; name: string; hex: string; manifest: string; resolution: number; parents: number[] };
  /** What the docs stage describes. */
  readonly docs: DocsHexProduct;

  constructor(dataset: Dataset, key: string, props: PointsPipelineProps) {
    const p = props.points;
    const name = p.name ?? key;
    const url = (k: string) => dataset.url(k);
    const paths = pointsPaths((k) => dataset.key(k), name, dataset.spec.run);
    const sizing = pointsSizing(p);
    const resolution = p.hex?.resolution ?? 10;
    const parents = p.hex?.parents ?? Array.from({ length: resolution }, (_, i) => resolution - 1 - i);
    const res = (kind: StageKind) => ({ ...dataset.spec.resources[kind], ...p.resources?.[kind] });
    const source = ['--source', p.source, ...(p.sourceEndpoint ? ['--source-endpoint', p.sourceEndpoint] : [])];
    const cells = ['--resolution', String(resolution), '--parents', parents.join(',')];
    const work = ['--chunks', url(paths.chunks), '--units', String(sizing.units)];
    const staged = ['--repartition-units', String(sizing.repartitionUnits), '--staged-hex', url(paths.staged), '--reports', url(paths.reports)];
    this.products = { key, name, hex: url(paths.hex), manifest: url(paths.manifest), resolution, parents };
    this.docs = { key, kind: 'points', name, source: p.source, hex: this.products.hex, manifest: this.products.manifest };

    this.hex = dataset.addStage(`${key}-points-hex`, 'points-hex', {
      layer: key,
      dependsOn: [dataset.setupBucket()],
      workItems: sizing.units,
      parallelism: p.hex?.parallelism ?? props.hexParallelism,
      runner: p.hex?.runner ?? 'flux',
      resources: { ...sizing.hex, ...res('points-hex') },
      args: [
        ...source, '--lon', p.lon, '--lat', p.lat, ...(p.columns ? ['--columns', p.columns.join(',')] : []),
        '--null-island', p.nullIsland ?? 'bad', '--expected-files', String(p.files), ...cells, ...work,
      ],
    });
    this.repartition = dataset.addStage(`${key}-points-repartition`, 'points-repartition', {
      layer: key,
      dependsOn: [this.hex],
      workItems: sizing.repartitionUnits,
      resources: { ...sizing.repartition, ...res('points-repartition') },
      args: [...cells, ...work, ...staged],
    });
    this.publish = dataset.addStage(`${key}-points-publish`, 'points-publish', {
      layer: key,
      dependsOn: [this.repartition],
      resources: res('points-publish'),
      args: [
        ...source, ...cells, ...work, ...staged, '--out-hex', url(paths.hex), '--manifest', url(paths.manifest),
        '--name', name, '--run', String(dataset.spec.run), '--work', url(paths.work),
      ],
    });
  }
}
