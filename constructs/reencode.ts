import { z } from 'zod';
import type { Dataset } from './pipelines.ts';
import type { DocsHexProduct } from './prose.ts';
import type { ResolvedDatasetSpec } from './spec.ts';
import type { SpecIssue } from './spec-rules.ts';
import type { Stage, StageKind } from './stage.ts';

/**
 * Re-encoding an earlier hex product (docs/datasets.md#re-encoding-an-earlier-hex-product): its
 * Parquet with STRING H3 cells → the standard layout (UBIGINT `h<res>` + parents, `h0` hive
 * partitions, manifest.json), without the source. The dataset file's `reencode` entries, their
 * rules, and the pipeline reencode → reencode-merge → reencode-publish.
 */

/** Rows per reencode work unit and per merge unit when the dataset file does not set them. */
export const REENCODE_ROWS_PER_UNIT = 5_000_000;
export const REENCODE_ROWS_PER_MERGE_UNIT = 10_000_000;

const stageKeys = ['reencode', 'reencode-merge', 'reencode-publish'] as const;
const quantity = z.string().regex(/^[0-9.]+(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/, 'must be a Kubernetes quantity like "2", "500m" or "4Gi"');
const resources = z.object({ cpu: quantity, memory: quantity, ephemeralStorage: quantity }).partial().strict();

export const reencodeSchema = z
  .object({
    /**
     * The earlier product's hex Parquet: a prefix (every .parquet under it: hive `h0=<cell>`
     * directories or plain files), a .parquet file, or a list of them. s3:// URLs or paths.
     */
    from: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** The cell column and the resolution every cell must have; `list: true` for a list of cells (one row out per element). */
    cell: z
      .object({
        /** @default `h<resolution>` */
        column: z.string().min(1).optional(),
        resolution: z.number().int().min(1).max(15),
        list: z.boolean().optional(),
      })
      .strict(),
    /** Parent resolutions written as UBIGINT columns (h0 is always the partition). @default [] */
    parents: z.array(z.number().int().min(0).max(15)).optional(),
    /** Column renames, old → new, e.g. `{ Z: 'ncp' }`. @default {} */
    rename: z.record(z.string().min(1), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain column name')).optional(),
    /** Columns (names after renaming) divided by a number, becoming DOUBLE, e.g. `{ ncp: 19 }`. @default {} */
    divide: z.record(z.string().min(1), z.number().refine((n) => n !== 0 && Number.isFinite(n), 'must be a non-zero number')).optional(),
    /**
     * A cell that is missing, not an H3 cell or of another resolution: 'fail' the stage naming
     * examples, or 'report' (left out, counted with examples in manifest.json). @default 'fail'
     */
    invalidCells: z.enum(['fail', 'report']).optional(),
    /** Input rows (an estimate is fine): sizes the work units. */
    rows: z.number().int().nonnegative(),
    /** reencode work units (input files shared by size). @default ceil(rows / 5,000,000) */
    units: z.number().int().min(1).max(10_000).optional(),
    /** reencode-merge work units (h0 cells shared by rows). @default ceil(rows / 10,000,000), at most 122 */
    mergeUnits: z.number().int().min(1).max(122).optional(),
    /** reencode and reencode-merge pods at once. @default derived from the dataset's maxPods */
    parallelism: z.number().int().positive().optional(),
    /** Product name (`<prefix>/<name>/hex/`, `<prefix>/<name>/manifest.json`). @default the key */
    name: z.string().regex(/^[a-z0-9][-a-z0-9_.]*$/).optional(),
    resources: z.object(Object.fromEntries(stageKeys.map((k) => [k, resources.optional()])) as Record<(typeof stageKeys)[number], z.ZodOptional<typeof resources>>).strict().optional(),
    /** Re-run single stages, e.g. `{ 'reencode-publish': 2 }`. @default {} */
    rerun: z.object(Object.fromEntries(stageKeys.map((k) => [k, z.number().int().positive().optional()])) as Record<(typeof stageKeys)[number], z.ZodOptional<z.ZodNumber>>).strict().optional(),
  })
  .strict();

export type ReencodeSpec = z.output<typeof reencodeSchema>;

const sources = (r: ReencodeSpec) => (typeof r.from === 'string' ? [r.from] : r.from);
const units = (r: ReencodeSpec) => r.units ?? Math.max(1, Math.ceil(r.rows / REENCODE_ROWS_PER_UNIT));
const mergeUnits = (r: ReencodeSpec) => r.mergeUnits ?? Math.min(122, Math.max(1, Math.ceil(r.rows / REENCODE_ROWS_PER_MERGE_UNIT)));

/** Object keys of a re-encoded product: pattern A, like a vector layer's hex. */
export function reencodePaths(key: (path: string) => string, name: string, run: number) {
  return { hex: key(`${name}/hex`), manifest: key(`${name}/manifest.json`), work: key(`${name}/_work/run-${run}`) };
}

/** The `reencode` entries' rules: parents coarser, names free, input and output apart. */
export function reencodeIssues(d: ResolvedDatasetSpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  const taken = new Set([...Object.entries(d.layers).map(([k, l]) => l.name ?? k), ...Object.entries(d.rasters).map(([k, r]) => r.name ?? k)]);
  const keys = new Set([...Object.keys(d.layers), ...Object.keys(d.rasters)]);
  for (const [key, r] of Object.entries(d.reencode)) {
    const at = (...p: string[]) => ['reencode', key, ...p];
    const name = r.name ?? key;
    if (keys.has(key)) out.push({ path: at(), message: `"${key}" is also a layer or raster key; keys must differ (they name the stages)` });
    if (taken.has(name)) out.push({ path: at('name'), message: `product name "${name}" is also a layer's or raster's; give it its own name` });
    taken.add(name);
    const bad = (r.parents ?? []).filter((p) => p >= r.cell.resolution);
    if (bad.length) out.push({ path: at('parents'), message: `parent resolution(s) ${bad.join(', ')} are not coarser than the resolution ${r.cell.resolution}` });
    const target = `s3://${d.bucket}/${reencodePaths((p) => [d.prefix, p].filter(Boolean).join('/'), name, d.run).hex.replace(/\/hex$/, '')}/`;
    for (const [i, f] of sources(r).entries()) {
      const src = f.endsWith('/') || /\.parquet$/i.test(f) ? f : `${f}/`;
      if (src.startsWith(target) || target.startsWith(src))
        out.push({ path: typeof r.from === 'string' ? at('from') : at('from', String(i)), message: `'${f}' and the product's place ${target} overlap: a run would read its own output; change the name or prefix` });
    }
  }
  return out;
}

/**
 * One earlier hex product: setup-bucket → `<key>-reencode` (Indexed over input files) →
 * `<key>-reencode-merge` (Indexed over h0 cells) → `<key>-reencode-publish`. Products
 * `<prefix>/<name>/hex/h0=<cell>/data_0.parquet` and `<prefix>/<name>/manifest.json`, written by
 * publish alone; work files under `<prefix>/<name>/_work/run-<run>/`.
 */
export class ReencodePipeline {
  readonly publish: Stage;
  readonly hex: string;
  readonly manifest: string;
  /** What the docs stage describes. */
  readonly docs: DocsHexProduct;

  constructor(dataset: Dataset, key: string, r: ReencodeSpec, hexParallelism: number) {
    const name = r.name ?? key;
    const p = reencodePaths((k) => dataset.key(k), name, dataset.spec.run);
    [this.hex, this.manifest] = [dataset.url(p.hex), dataset.url(p.manifest)];
    this.docs = { key, kind: 'reencode', name, source: sources(r).join(', '), hex: this.hex, manifest: this.manifest };
    const u = units(r);
    const m = mergeUnits(r);
    const common = [
      '--from', sources(r).join(','), '--cell-column', r.cell.column ?? `h${r.cell.resolution}`, ...(r.cell.list ? ['--list'] : []),
      '--resolution', String(r.cell.resolution), ...(r.parents?.length ? ['--parents', r.parents.join(',')] : []),
      '--units', String(u), '--merge-units', String(m), '--work', dataset.url(p.work),
    ];
    const invalid = ['--invalid', r.invalidCells ?? 'fail'];
    const stage = (kind: StageKind, dependsOn: Stage[], args: string[], workItems = 1) =>
      dataset.addStage(`${key}-${kind}`, kind, {
        layer: key, dependsOn, args, workItems, resources: r.resources?.[kind as (typeof stageKeys)[number]],
        ...(workItems > 1 ? { parallelism: Math.min(workItems, r.parallelism ?? hexParallelism) } : {}),
      });
    const reencode = stage('reencode', [dataset.setupBucket()], [
      ...common, ...invalid,
      ...(r.rename ? ['--rename', Object.entries(r.rename).map(([a, b]) => `${a}=${b}`).join(',')] : []),
      ...(r.divide ? ['--divide', Object.entries(r.divide).map(([a, b]) => `${a}=${b}`).join(',')] : []),
    ], u);
    const merge = stage('reencode-merge', [reencode], common, m);
    this.publish = stage('reencode-publish', [merge], [...common, ...invalid, '--out-hex', this.hex, '--manifest', this.manifest, '--run', String(dataset.spec.run)]);
  }
}
