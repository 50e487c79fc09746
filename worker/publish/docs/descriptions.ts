/**
 * Column descriptions: the dataset's prose first (a layer's own, then the dataset's shared
 * columns; a raster's own), then the pipeline's own columns, described by the tool itself
 * (`_cng_fid`, `geometry`, `bbox`, `h<res>`, parents, `h0`; a raster's `value`, `coverage`,
 * `class`, band columns …). Code meanings are appended where the prose gives them.
 */
import type { DocsLayer, DocsRaster, ResolvedProse } from '../../../constructs/prose.ts';
import type { RasterManifest } from './facts.ts';

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
  prose: ResolvedProse,
  layer: Pick<DocsLayer, 'key' | 'resolution' | 'parents'>,
  column: string,
  containment?: string,
): { text: string; from: DescriptionSource } | undefined {
  const own = prose.layers[layer.key]?.columns[column];
  if (own) return { text: own, from: 'layer' };
  if (prose.columns[column]) return { text: prose.columns[column], from: 'dataset' };
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
  raster: Pick<DocsRaster, 'resolution' | 'parents' | 'valueKind'>,
  opts: { units?: string; bands?: RasterManifest['bands'] } = {},
): string | undefined {
  const res = raster.resolution;
  const unit = opts.units ? ` Unit: ${opts.units}.` : '';
  if (name === `h${res}`) return `H3 cell at resolution ${res} (UBIGINT), one row per cell with at least one valid (non-nodata) pixel.`;
  const key = parentOrPartitionColumn(name, res, raster.parents);
  if (key) return key;
  if (name === 'coverage') return "Share of the cell's area covered by valid (non-nodata) pixels, in (0, 1].";
  if (raster.valueKind === 'categorical') {
    if (name === 'class') return `Majority class: the class code covering the largest share of the cell's valid area.`;
    if (name === 'fraction') return "Share (0–1) of the cell's valid area covered by the majority class.";
    if (name === 'fractions') return "Every class present in the cell → its share of the cell's valid area (MAP(INTEGER, DOUBLE); the shares sum to 1).";
    return undefined;
  }
  const what =
    raster.valueKind === 'continuous'
      ? "area-weighted mean of the pixel values over the cell's valid area"
      : 'sum of the pixel values in the cell, each pixel split across the cells it overlaps by area (mass-conserving: the column sums to the raster total)';
  if (name === 'value') return `${what[0].toUpperCase()}${what.slice(1)}.${unit}`;
  const band = opts.bands?.find((b) => bandColumn(b.name) === name);
  if (band) return `Band ${band.band} (${band.name}): ${what}.${unit}`;
  return undefined;
}

/** A raster hex column's description and where it was found, or undefined. */
export function rasterColumnDescription(
  prose: ResolvedProse,
  raster: Pick<DocsRaster, 'key' | 'resolution' | 'parents' | 'valueKind'>,
  column: string,
  bands?: RasterManifest['bands'],
): { text: string; from: DescriptionSource } | undefined {
  const rp = prose.rasters?.[raster.key];
  const own = rp?.columns[column];
  if (own) return { text: own, from: 'raster' };
  const builtin = rasterPipelineColumn(column, raster, { units: rp?.units, bands });
  if (!builtin) return undefined;
  const classes = column === 'class' && rp?.classes ? ` Classes: ${Object.entries(rp.classes).map(([k, v]) => `${k} = ${v}`).join('; ')}.` : '';
  return { text: builtin + classes, from: 'pipeline' };
}

/** The description with the column's code meanings appended (for STAC and the README's column tables). */
export function withCodes(prose: ResolvedProse, column: string, text: string): string {
  const codes = prose.codes[column];
  if (!codes) return text;
  const list = Object.entries(codes.values).map(([k, v]) => `${k} = ${v}`).join('; ');
  return `${text} Codes: ${list}.`;
}
