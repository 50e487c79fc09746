import { type DocsInput, type DocsLayer, type DocsRaster, proseSchema, type ResolvedProse } from '../../../constructs/prose.ts';
import { CommandError } from '../../core/errors.ts';
import type { ColumnFact, Facts, RasterManifest } from './facts.ts';

/**
 * The prose against the facts: the schema snapshot (`datasets/<name>.schema.json`, the columns of
 * the published files, so CI can check without outputs) and every gap in the prose, with the
 * prose field to fill.
 */

/** `datasets/<name>.schema.json`: the columns of the published files, so CI can check the prose without outputs. */
export interface SchemaSnapshot {
  readonly dataset: string;
  /** Where the columns came from (a run's outputs, or a transcription to be confirmed). */
  readonly origin: string;
  readonly layers: Record<string, { geoparquet: ColumnFact[]; hex: ColumnFact[] }>;
  readonly tables: Record<string, ColumnFact[]>;
  /** Hex columns per raster key; present only for datasets with rasters. */
  readonly rasters?: Record<string, ColumnFact[]>;
}

/** The snapshot of gathered facts (layers and tables that were found). */
export function schemaSnapshot(input: DocsInput, facts: Facts, origin: string): SchemaSnapshot {
  const layers: SchemaSnapshot['layers'] = {};
  for (const l of facts.layers)
    if (l.geoparquet && l.hex) layers[l.layer.key] = { geoparquet: l.geoparquet.columns, hex: l.hex.columns };
  const tables: SchemaSnapshot['tables'] = {};
  for (const t of facts.tables) if (t.parquet) tables[t.table.sourceLayer] = t.parquet.columns;
  if (!input.rasters?.length) return { dataset: input.name, origin, layers, tables };
  const rasters: NonNullable<SchemaSnapshot['rasters']> = {};
  for (const r of facts.rasters) if (r.hexColumns) rasters[r.raster.key] = r.hexColumns;
  return { dataset: input.name, origin, layers, tables, rasters };
}

/** One gap in the prose, with where to fill it. */
export interface ProseProblem {
  /**
   * `missing`: something published has no description (or no schema is known); `invalid`: the prose
   * does not parse; `extra`: prose for something the dataset does not publish (stale or a typo).
   */
  readonly kind: 'missing' | 'invalid' | 'extra';
  /** e.g. `layer fee`, `column Loc_Own`, `table Category column Dom`. */
  readonly what: string;
  /** The prose field to write, e.g. `columns.Loc_Own` or `tables.Category.columns.Dom`. */
  readonly field: string;
  readonly message: string;
}

/** What the check needs of the docs input. */
type CheckedInput = Pick<DocsInput, 'name' | 'layers' | 'tables' | 'rasters'>;

/**
 * Every missing description: the prose against the columns of the published files (a snapshot, or
 * the facts of a run). Also flags prose for layers/tables the dataset does not have.
 */
export function checkProse(input: CheckedInput, proseIn: unknown, schema: SchemaSnapshot): ProseProblem[] {
  const out: ProseProblem[] = [];
  if (proseIn === undefined) {
    // Everything a writer must describe, as for an empty prose (the pipeline's own columns excepted).
    out.push({ kind: 'missing', what: 'prose', field: `datasets/${input.name}.prose.ts`, message: "the dataset has no prose: write a DatasetProse and set the dataset file's prose field" });
    return [...out, ...layerProblems(input, EMPTY_PROSE, schema), ...tableProblems(input, EMPTY_PROSE, schema), ...rasterProblems(input, EMPTY_PROSE, schema)];
  }
  const parsed = proseSchema.safeParse(proseIn);
  if (!parsed.success) {
    for (const i of parsed.error.issues) out.push({ kind: 'invalid', what: 'prose', field: i.path.join('.') || '(prose)', message: i.message });
    return out;
  }
  const prose = parsed.data;
  return [...layerProblems(input, prose, schema), ...tableProblems(input, prose, schema), ...rasterProblems(input, prose, schema), ...extraProse(input, prose, schema)];
}

/** No descriptions at all: what a dataset without prose (or with prose that does not parse) describes — only the pipeline's own columns. */
const EMPTY_PROSE = { layers: {}, columns: {}, tables: {}, codes: {}, rasters: {}, notes: [], links: [] } as unknown as ResolvedProse;

/** Layers without title and description or without columns in the snapshot, and undescribed layer columns. */
function layerProblems(input: CheckedInput, prose: ResolvedProse, schema: SchemaSnapshot): ProseProblem[] {
  const out: ProseProblem[] = [];
  // Undescribed columns, grouped so one shared column is reported once with its layers.
  const shared = new Map<string, string[]>();
  for (const layer of input.layers) {
    if (!prose.layers[layer.key]) out.push({ kind: 'missing', what: `layer ${layer.key}`, field: `layers.${layer.key}`, message: 'no title and description' });
    const cols = schema.layers[layer.key];
    if (!cols) {
      out.push({ kind: 'missing', what: `layer ${layer.key}`, field: `(schema snapshot)`, message: `no columns for layer ${layer.key} in the schema snapshot: run 'cng docs ${input.name} --brief --write-schema' over a run's outputs` });
      continue;
    }
    for (const c of uniqueColumns([...cols.geoparquet, ...cols.hex]))
      if (!layerColumnDescription(prose, layer, c.name)) shared.set(c.name, [...(shared.get(c.name) ?? []), layer.key]);
  }
  for (const [col, layers] of shared)
    out.push({
      kind: 'missing',
      what: `column ${col}`,
      field: layers.length > 1 ? `columns.${col}` : `columns.${col} or layers.${layers[0]}.columns.${col}`,
      message: `no description (layer${layers.length > 1 ? 's' : ''} ${layers.join(', ')})`,
    });
  return out;
}

/** Tables without description or without columns in the snapshot, and undescribed table columns. */
function tableProblems(input: CheckedInput, prose: ResolvedProse, schema: SchemaSnapshot): ProseProblem[] {
  const out: ProseProblem[] = [];
  for (const t of input.tables) {
    const name = t.sourceLayer;
    const p = prose.tables[name];
    if (!p) out.push({ kind: 'missing', what: `table ${name}`, field: `tables.${name}`, message: 'no description' });
    const cols = schema.tables[name];
    if (!cols) {
      out.push({ kind: 'missing', what: `table ${name}`, field: '(schema snapshot)', message: `no columns for table ${name} in the schema snapshot: run 'cng docs ${input.name} --brief --write-schema'` });
      continue;
    }
    for (const c of cols) if (!p?.columns[c.name]) out.push({ kind: 'missing', what: `table ${name} column ${c.name}`, field: `tables.${name}.columns.${c.name}`, message: 'no description' });
  }
  return out;
}

/**
 * Rasters: a title and description each; their hex columns are the pipeline's own (checked when
 * the snapshot or the run lists them: a band column named by the source is described generically).
 */
function rasterProblems(input: CheckedInput, prose: ResolvedProse, schema: SchemaSnapshot): ProseProblem[] {
  const out: ProseProblem[] = [];
  for (const raster of input.rasters ?? []) {
    if (raster.skip) continue; // not published: its prose is optional
    if (!prose.rasters?.[raster.key]) out.push({ kind: 'missing', what: `raster ${raster.key}`, field: `rasters.${raster.key}`, message: 'no title and description' });
    for (const c of schema.rasters?.[raster.key] ?? [])
      if (!rasterColumnDescription(prose, raster, c.name, c.name === (raster.valueColumn ?? 'value') ? undefined : [{ band: 0, name: c.name, dataType: c.type }]))
        out.push({ kind: 'missing', what: `raster ${raster.key} column ${c.name}`, field: `rasters.${raster.key}.columns.${c.name}`, message: 'no description' });
  }
  return out;
}

/** Prose for rasters, layers, tables or coded columns the dataset does not publish (stale or a typo). */
function extraProse(input: CheckedInput, prose: ResolvedProse, schema: SchemaSnapshot): ProseProblem[] {
  const out: ProseProblem[] = [];
  const rasterKeys = new Set((input.rasters ?? []).map((r) => r.key));
  for (const k of Object.keys(prose.rasters ?? {}))
    if (!rasterKeys.has(k)) out.push({ kind: 'extra', what: `raster ${k}`, field: `rasters.${k}`, message: 'described in the prose but not a raster of the dataset' });
  const layerKeys = new Set(input.layers.map((l) => l.key));
  for (const k of Object.keys(prose.layers)) if (!layerKeys.has(k)) out.push({ kind: 'extra', what: `layer ${k}`, field: `layers.${k}`, message: 'described in the prose but not a layer of the dataset' });
  const tableNames = new Set(input.tables.map((t) => t.sourceLayer));
  for (const k of Object.keys(prose.tables)) if (!tableNames.has(k)) out.push({ kind: 'extra', what: `table ${k}`, field: `tables.${k}`, message: 'described in the prose but not a table of the dataset' });
  const allColumns = new Set([
    ...Object.values(schema.layers).flatMap((l) => [...l.geoparquet, ...l.hex].map((c) => c.name)),
    ...Object.values(schema.tables).flatMap((cols) => cols.map((c) => c.name)),
  ]);
  for (const k of Object.keys(prose.codes))
    if (!allColumns.has(k)) out.push({ kind: 'extra', what: `codes ${k}`, field: `codes.${k}`, message: 'code meanings for a column no published file has' });
  return out;
}

/** The columns without repeats (first occurrence kept): a layer's GeoParquet and hex columns together. */
export function uniqueColumns(cols: ColumnFact[]): ColumnFact[] {
  const seen = new Set<string>();
  return cols.filter((c) => !seen.has(c.name) && (seen.add(c.name), true));
}

/** The problems, one indented line each: `what: message → field`. */
export function formatProblems(problems: ProseProblem[]): string {
  return problems.map((p) => `  ${p.what}: ${p.message} → ${p.field}`).join('\n');
}

/** The dataset's prose with defaults filled in. @throws CommandError when it is absent or invalid. */
export function resolveProse(input: DocsInput): ResolvedProse {
  if (input.prose === undefined) throw new CommandError(`dataset ${input.name}: no prose (datasets/${input.name}.prose.ts); 'cng docs ${input.name} --brief' shows what to write`);
  const r = proseSchema.safeParse(input.prose);
  if (!r.success) throw new CommandError(`dataset ${input.name}: invalid prose:\n${r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  return r.data;
}

/**
 * Column descriptions: the dataset's prose first (a layer's own, then the dataset's shared
 * columns; a raster's own), then the pipeline's own columns, described by the tool itself
 * (`_cng_fid`, `geometry`, `bbox`, `h<res>`, parents, `h0`; a raster's `value`, `coverage`,
 * `class`, band columns …). Code meanings are appended where the prose gives them.
 */

/** Where a column's description comes from, for messages. */
export type DescriptionSource = 'layer' | 'dataset' | 'table' | 'raster' | 'pipeline';

/** The pipeline's own columns, described by the tool itself (prose may override). */
export function pipelineColumn(name: string, layer: Pick<DocsLayer, 'resolution' | 'parents'>, containment = 'center'): string | undefined {
  const res = layer.resolution;
  if (name === '_cng_fid') return 'Feature id added by the pipeline: the 1-based position of the feature in the source layer. Joins the hex rows to the GeoParquet rows.';
  if (name === 'geometry')
    return 'Feature geometry: WKB (GeoParquet 1.1), EPSG:4326 longitude/latitude, made valid, curves linearized, split at the antimeridian; null where the source geometry was null or empty.';
  if (name === 'bbox') return 'Bounding box of the geometry (xmin, ymin, xmax, ymax in degrees): the GeoParquet 1.1 covering column, for fast spatial filtering.';
  if (name === `h${res}`)
    return `H3 cell at resolution ${res} (UBIGINT), one row per (feature, cell): ${containment === 'overlap' ? 'every cell the feature touches' : 'cells whose centre lies in the feature, or for features smaller than a cell the cell containing a point on their surface'}.`;
  return parentOrPartitionColumn(name, res, layer.parents);
}

/** The parent cell columns `h<p>` of `h<res>` and the partition key `h0` of every hex product. */
function parentOrPartitionColumn(name: string, res: number, parents: number[]): string | undefined {
  const p = /^h(\d+)$/.exec(name);
  if (p && parents.includes(Number(p[1]))) return `Parent H3 cell at resolution ${p[1]} of h${res} (UBIGINT).`;
  if (name === 'h0')
    return `Resolution-0 H3 cell of h${res}, the hive partition key: stored in the directory name h0=<cell> (decimal UBIGINT), not in the files; read with hive_partitioning (hive_types {'h0': UBIGINT}).`;
  return undefined;
}

/** A layer column's description and where it was found, or undefined. */
export function layerColumnDescription(
  prose: ResolvedProse | undefined,
  layer: Pick<DocsLayer, 'key' | 'resolution' | 'parents'>,
  column: string,
  containment?: string,
): { text: string; from: DescriptionSource } | undefined {
  const own = prose?.layers[layer.key]?.columns[column];
  if (own) return { text: own, from: 'layer' };
  if (prose?.columns[column]) return { text: prose.columns[column], from: 'dataset' };
  const builtin = pipelineColumn(column, layer, containment);
  return builtin ? { text: builtin, from: 'pipeline' } : undefined;
}

/** The slug a band's name becomes as a hex column (multi-band rasters): lower-case, non-alphanumerics → `_`. */
export function bandColumn(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '_');
}

/** The raster pipeline's own hex columns, described by the tool (prose may override). */
export function rasterPipelineColumn(
  name: string,
  raster: Pick<DocsRaster, 'resolution' | 'parents' | 'valueKind' | 'valueColumn' | 'scale' | 'offset'>,
  opts: { units?: string; bands?: RasterManifest['bands'] } = {},
): string | undefined {
  const res = raster.resolution;
  const unit = opts.units ? ` Unit: ${opts.units}.` : '';
  if (name === `h${res}`) return `H3 cell at resolution ${res} (UBIGINT), one row per cell with at least one valid (non-nodata) pixel.`;
  const key = parentOrPartitionColumn(name, res, raster.parents);
  if (key) return key;
  if (name === 'coverage') return "Share of the cell's area covered by valid (non-nodata) pixels, in (0, 1].";
  if (raster.valueKind === 'categorical') {
    if (name === (raster.valueColumn ?? 'class')) return `Majority class: the class code covering the largest share of the cell's valid area.`;
    if (name === 'fraction') return "Share (0–1) of the cell's valid area covered by the majority class.";
    if (name === 'fractions') return "Every class present in the cell → its share of the cell's valid area (MAP(INTEGER, DOUBLE); the shares sum to 1).";
    return undefined;
  }
  const what =
    raster.valueKind === 'continuous'
      ? "area-weighted mean of the pixel values over the cell's valid area"
      : 'sum of the pixel values in the cell, each pixel split across the cells it overlaps by area (mass-conserving: the column sums to the raster total)';
  const scale = raster.scale ?? 1;
  const offset = raster.offset ?? 0;
  const scaled = scale !== 1 || offset !== 0 ? ` Scaled from the raw pixel values: raw × ${scale}${offset ? ` + ${offset}` : ''} (the COG keeps the raw values, with this GDAL scale and offset).` : '';
  if (name === (raster.valueColumn ?? 'value')) return `${what[0].toUpperCase()}${what.slice(1)}.${scaled}${unit}`;
  const band = opts.bands?.find((b) => bandColumn(b.name) === name);
  if (band) return `Band ${band.band} (${band.name}): ${what}.${scaled}${unit}`;
  return undefined;
}

/** A raster hex column's description and where it was found, or undefined. */
export function rasterColumnDescription(
  prose: ResolvedProse | undefined,
  raster: Pick<DocsRaster, 'key' | 'resolution' | 'parents' | 'valueKind' | 'valueColumn' | 'scale' | 'offset'>,
  column: string,
  bands?: RasterManifest['bands'],
): { text: string; from: DescriptionSource } | undefined {
  const rp = prose?.rasters?.[raster.key];
  const own = rp?.columns[column];
  if (own) return { text: own, from: 'raster' };
  const builtin = rasterPipelineColumn(column, raster, { units: rp?.units, bands });
  if (!builtin) return undefined;
  const classes = raster.valueKind === 'categorical' && column === (raster.valueColumn ?? 'class') && rp?.classes ? ` Classes: ${Object.entries(rp.classes).map(([k, v]) => `${k} = ${v}`).join('; ')}.` : '';
  return { text: builtin + classes, from: 'pipeline' };
}

/** The description with the column's code meanings appended (for STAC and the README's column tables). */
export function withCodes(prose: ResolvedProse, column: string, text: string): string {
  const codes = prose.codes[column];
  if (!codes) return text;
  const list = Object.entries(codes.values).map(([k, v]) => `${k} = ${v}`).join('; ');
  return `${text} Codes: ${list}.`;
}
