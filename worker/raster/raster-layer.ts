/**
 * A raster's H3 layer as raster-hex writes it unit by unit and raster-manifest checks it whole: the
 * work units (the H3 base cells), the `h0=` partition names, the value columns, the per-unit stats
 * files, and the options and cog info both stages read.
 */
import { createHash } from 'node:crypto';
import * as h3 from 'h3-js';
import { CommandError } from '../core/errors.ts';
import { coarserParents, type OptionsOf } from '../stage.ts';
import { parseJson, Storage } from '../io/storage.ts';
import type { CogInfo } from './cog.ts';
import type { rasterHexStageDef, rasterManifestStageDef, ValueKind } from './stages.ts';

/** Number of work units: the H3 base cells. */
export const RASTER_UNITS = 122;

/** What one raster-hex unit writes to `<stats>/unit-<i>.json` for raster-manifest. */
export interface RasterUnitStats {
  version: 1;
  unit: number;
  /** The base cell as an H3 index string and as the decimal UBIGINT of the partition name. */
  cell: string;
  h0: string;
  /** Fingerprint of the info JSON and the options: raster-manifest ignores stats of another run. */
  fingerprint: string;
  valueKind: ValueKind;
  resolution: number;
  parents: number[];
  cells: number;
  /** The partition written (null when the unit has no cell) and its size. */
  partition: string | null;
  bytes: number;
  /** Valid pixels whose samples fell in this unit (fractions of pixels when sub-sampled). */
  validPixels: number;
  /** Per value column: min, max and sum of the hexed values (continuous and count). */
  columns: Record<string, { min: number | null; max: number | null; sum: number | null }>;
  /** Categorical: cells per majority class. */
  classes?: Record<string, number>;
  tiles: number;
  samples: number;
  seconds: number;
}

/** The H3 base cells in base-cell-number order: unit i ↔ `baseCells()[i]`. */
export function baseCells(): string[] {
  return h3.getRes0Cells().sort((a, b) => h3.getBaseCellNumber(a) - h3.getBaseCellNumber(b));
}

/** A cell index string as the decimal UBIGINT DuckDB writes in partition names. */
export function decimal(cell: string): string {
  return BigInt(`0x${cell}`).toString();
}

/**
 * The value columns of a layer: the info's `valueColumn` (the dataset file's), else `value`, for
 * one band (categorical: the class column, else `class`; then `fraction`, `fractions`), else one
 * column per band named by the band's name slug (lower case, non-alphanumerics → `_`), made
 * unique and kept clear of the cell and `coverage` columns.
 */
export function bandColumns(info: Pick<CogInfo, 'bands' | 'valueColumn'>, kind: ValueKind): string[] {
  if (info.valueColumn && info.bands.length > 1) throw new CommandError(`a value column name (${info.valueColumn}) is for a one-band raster; this one has ${info.bands.length} bands, named after the bands`);
  if (kind === 'categorical') return [info.valueColumn ?? 'class'];
  if (info.bands.length === 1) return [info.valueColumn ?? 'value'];
  const used = new Set<string>();
  return info.bands.map((b) => {
    let name = b.name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || `band_${b.band}`;
    if (/^\d/.test(name)) name = `band_${name}`;
    if (name === 'coverage' || /^h\d+$/.test(name) || used.has(name)) name = `${name}_${b.band}`;
    while (used.has(name)) name = `${name}_`;
    used.add(name);
    return name;
  });
}

/** The stats files' run fingerprint: the info JSON and the options that shape the values. */
export function fingerprint(infoText: string, kind: ValueKind, res: number, parents: number[]): string {
  return createHash('sha256').update(`${infoText}\n${kind}\n${res}\n${parents.join(',')}`).digest('hex').slice(0, 16);
}

async function readInfo(storage: Storage, url: string): Promise<{ info: CogInfo; text: string }> {
  const text = await storage.readText(url);
  const info = parseJson<CogInfo>(text, url);
  if (info?.version !== 1) throw new CommandError(`'${url}': unsupported raster info version ${String(info?.version)} (expected 1)`);
  if (!Number.isInteger(info.width) || !Number.isInteger(info.height) || !Array.isArray(info.bands) || info.bands.length === 0)
    throw new CommandError(`'${url}': a raster info needs width, height and bands`);
  return { info, text };
}

/** The options raster-hex and raster-manifest share, and the cog stage's info (its value kind must match). */
export async function commonOptions(o: OptionsOf<typeof rasterManifestStageDef> | OptionsOf<typeof rasterHexStageDef>) {
  const { input, out, stats: statsDir, valueKind: kind, resolution: res } = o;
  const parents = coarserParents(o.parents, res).sort((a, b) => b - a);
  const storage = new Storage();
  const { info, text: infoText } = await readInfo(storage, o.info);
  if (info.valueKind !== kind)
    throw new CommandError(`--value-kind is '${kind}' but '${o.info}' was written for '${info.valueKind}': re-run cog or fix the dataset`);
  return { input, out, statsDir, kind, res, parents, storage, info, infoText };
}
