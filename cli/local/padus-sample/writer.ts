/**
 * `writePadusSample`: writes a small, deterministic Esri File Geodatabase shaped like PAD-US 4.1
 * (layer and table names, field names and types, CRS, lookup codes) and full of the geometries
 * that break converters: curves, antimeridian-crossing multiparts, features smaller than an H3
 * cell, slivers, a self-intersecting bow-tie, a NULL geometry and one very large polygon. The
 * library form of `cng sample padus`, for tests and local pipeline runs.
 *
 * Written with gdal-async (GDAL 3.6's OpenFileGDB driver can write).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import gdal, { type CoordinateTransformation, type SpatialReference } from 'gdal-async';
import { CommandError } from '../../../worker/core/errors.ts';
import type { Attrs } from './attributes.ts';
import { realize, writeLayer, writeTable, type Written } from './geodatabase.ts';
import { COMBINED_ORDER, LAYER_FIELDS, LAYER_ORDER, PADUS_LAYER_NAMES, type SourceKey } from './layers.ts';
import { PADUS_LOOKUP_TABLES } from './lookup-tables.ts';
import { planSample, type Plan } from './plan.ts';
import { Rng } from './random.ts';

export interface PadusSampleOptions {
  /** Output path; must end in `.gdb`. */
  out: string;
  /** Ordinary features in the Fee layer; the other layers get proportional counts. @default 300 */
  features?: number;
  /** PRNG seed (unsigned 32-bit integer). @default 1 */
  seed?: number;
  /** Vertices of the one very large polygon (Alaska). @default 200000 */
  bigVertices?: number;
  /** Replace an existing File Geodatabase at `out`. @default false */
  force?: boolean;
  /** Progress lines (without newline); silent when omitted. */
  log?: (line: string) => void;
}

export interface SampleSummary {
  out: string;
  seed: number;
  /** Spatial layer name → feature count (read back from the written geodatabase). */
  layers: Record<string, number>;
  /** Lookup table name → row count (read back). */
  tables: Record<string, number>;
  /** Spatial layer name → vertices written (curves: control points). */
  vertices: Record<string, number>;
  /** Size of the .gdb directory in bytes. */
  bytes: number;
  /** Wall-clock seconds to generate and write. */
  seconds: number;
}

export const PADUS_SAMPLE_DEFAULTS = { out: 'data/padus-sample.gdb', features: 300, seed: 1, bigVertices: 200_000 } as const;

const SQ_M_PER_ACRE = 4046.8564224;

/**
 * Writes the PAD-US-shaped sample geodatabase to `opts.out` and returns what it contains.
 *
 * Layers: the 6 PAD-US 4.1 spatial layers (MultiPolygon, ESRI:102039) and 8 lookup tables; Fee
 * gets `features` ordinary features plus the hard cases, the other layers proportional counts,
 * Combined the union of the other five. Same options → the same features, attributes and
 * geometries (the .gdb bytes may still differ: GDAL stores timestamps).
 *
 * @throws CommandError when `out` exists (without `force`, or when it is not a File Geodatabase),
 *   does not end in `.gdb`, or an option is out of range.
 */
export async function writePadusSample(opts: PadusSampleOptions): Promise<SampleSummary> {
  const started = Date.now();
  const features = checkCount('--features', opts.features, 1, 1_000_000) ?? PADUS_SAMPLE_DEFAULTS.features;
  const seed = checkCount('--seed', opts.seed, 0, 0xffffffff) ?? PADUS_SAMPLE_DEFAULTS.seed;
  const bigVertices = checkCount('--big-vertices', opts.bigVertices, 100, 10_000_000) ?? PADUS_SAMPLE_DEFAULTS.bigVertices;
  const log = opts.log ?? (() => {});
  const out = opts.out;
  prepareOutput(out, Boolean(opts.force));

  const albers = gdal.SpatialReference.fromUserInput('ESRI:102039');
  const ct = new gdal.CoordinateTransformation(gdal.SpatialReference.fromUserInput('OGC:CRS83'), albers);
  const toAlbers = (lon: number, lat: number): [number, number] => {
    const p = ct.transformPoint(lon, lat);
    return [p.x, p.y];
  };

  log(`planning: seed ${seed}, ${features} ordinary Fee features, big polygon ${bigVertices} vertices`);
  const written = realizePlan(planSample(new Rng(seed), features, bigVertices, toAlbers), ct);
  const vertices = await writeGeodatabase(out, written, albers, log);
  // Counts come from the written file, not from the plan.
  const { layers, tables } = await countRows(out);
  return { out, seed, layers, tables, vertices, bytes: directorySize(out), seconds: (Date.now() - started) / 1000 };
}

/** Readable summary: one line per layer and table. */
export function formatSampleSummary(s: SampleSummary): string {
  const width = Math.max(...[...Object.keys(s.layers), ...Object.keys(s.tables)].map((n) => n.length)) + 2;
  const n = (v: number) => v.toLocaleString('en-US');
  const lines = [`wrote ${s.out} (${(s.bytes / 1e6).toFixed(1)} MB) in ${s.seconds.toFixed(1)} s, seed ${s.seed}`];
  for (const [name, count] of Object.entries(s.layers)) {
    lines.push(`  ${name.padEnd(width)}${n(count).padStart(8)} features ${n(s.vertices[name] ?? 0).padStart(10)} vertices`);
  }
  for (const [name, count] of Object.entries(s.tables)) lines.push(`  ${name.padEnd(width)}${n(count).padStart(8)} rows`);
  return lines.join('\n') + '\n';
}

function checkCount(name: string, value: number | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CommandError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** Checks the output path and clears the way: an existing File Geodatabase is removed only with `force`. */
function prepareOutput(out: string, force: boolean): void {
  if (!/\.gdb$/i.test(out)) throw new CommandError(`output must be a File Geodatabase path ending in .gdb, got '${out}'`);
  if (existsSync(out)) {
    if (!force) throw new CommandError(`'${out}' already exists; pass --force to replace it`);
    if (!looksLikeFileGdb(out)) throw new CommandError(`refusing to replace '${out}': it is not a File Geodatabase directory`);
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(dirname(out), { recursive: true });
}

/** True for a directory that GDAL wrote as a File Geodatabase (or an empty one). */
function looksLikeFileGdb(path: string): boolean {
  if (!statSync(path).isDirectory()) return false;
  const entries = readdirSync(path);
  return entries.length === 0 || (entries.includes('gdb') && entries.includes('a00000001.gdbtable'));
}

/** The planned features projected and measured, with GIS_Acres, SHAPE_Length and SHAPE_Area set. */
function realizePlan(plan: Plan, ct: CoordinateTransformation): Record<SourceKey, Written[]> {
  const written: Record<SourceKey, Written[]> = { fee: [], easement: [], proclamation: [], marine: [], designation: [] };
  for (const key of Object.keys(plan.layers) as SourceKey[]) {
    for (const f of plan.layers[key]) {
      const real = realize(f.shape, ct);
      const attrs: Attrs = {
        ...f.attrs,
        GIS_Acres: real.area === null ? null : Math.round(real.area / SQ_M_PER_ACRE),
        SHAPE_Length: real.length,
        SHAPE_Area: real.area,
      };
      written[key].push({ attrs, real });
    }
  }
  return written;
}

/** Writes the 6 spatial layers (Combined = the others in its name's order) and the 8 tables; returns vertices by layer. */
async function writeGeodatabase(
  out: string,
  written: Record<SourceKey, Written[]>,
  albers: SpatialReference,
  log: (line: string) => void,
): Promise<Record<string, number>> {
  const combined = COMBINED_ORDER.flatMap((k) => written[k]);
  const vertices: Record<string, number> = {};
  const ds = await gdal.openAsync(out, 'w', 'OpenFileGDB', 0, 0, 0);
  try {
    for (const key of LAYER_ORDER) {
      const name = PADUS_LAYER_NAMES[key];
      const items = key === 'combined' ? combined : written[key];
      log(`writing ${name}: ${items.length} features`);
      vertices[name] = await writeLayer(ds, name, LAYER_FIELDS[key], items, albers);
    }
    for (const [name, tableRows] of Object.entries(PADUS_LOOKUP_TABLES)) {
      log(`writing table ${name}: ${tableRows.length} rows`);
      await writeTable(ds, name, tableRows);
    }
  } finally {
    ds.close();
  }
  return vertices;
}

/** Feature counts of the spatial layers and row counts of the tables, read from the written file. */
async function countRows(out: string): Promise<{ layers: Record<string, number>; tables: Record<string, number> }> {
  const layers: Record<string, number> = {};
  const tables: Record<string, number> = {};
  const check = await gdal.openAsync(out);
  try {
    for (const layer of check.layers) {
      (layer.geomType === gdal.wkbNone ? tables : layers)[layer.name] = layer.features.count();
    }
  } finally {
    check.close();
  }
  return { layers, tables };
}

function directorySize(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((s, f) => s + directorySize(join(path, f)), 0);
}
