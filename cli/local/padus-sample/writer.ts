import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import gdal, { type CoordinateTransformation, type Dataset, type Geometry, type Layer, type SpatialReference } from 'gdal-async';
import { type Attrs, COMBINED_ORDER, type FieldSpec, LAYER_FIELDS, LAYER_ORDER, PADUS_LAYER_NAMES, PADUS_LOOKUP_TABLES, type Row, type SourceKey } from './attributes.ts';
import { lonLatWkt, Rng, type Shape } from './shapes.ts';
import { CommandError } from '../../../worker/core/errors.ts';
import { type Plan, planSample } from './plan.ts';
import { writeDirAtomically } from '../workdirs.ts';

/**
 * Writing the sample's features and tables into an open File Geodatabase (GDAL's OpenFileGDB
 * driver). gdal-async cannot build curved geometries in JavaScript, so each curved feature is
 * appended by `vectorTranslate` (C++ side) from a one-row CSV whose WKT column holds the curve.
 */

/** A feature ready to write. */
export interface Realized {
  /** Linear geometry in Albers, written by gdal-async. */
  geometry: Geometry | null;
  /** Curved WKT in Albers, written through vectorTranslate. */
  curveWkt: string | null;
  area: number | null;
  length: number | null;
  vertices: number;
}

/** Area of a (multi)polygon or collection; gdal-async types it only on the surface classes. */
const areaOf = (g: Geometry) => (g as unknown as { getArea(): number }).getArea();

/** Projects a planned shape to Albers and measures it (area, perimeter, vertices). */
export function realize(shape: Shape, ct: CoordinateTransformation): Realized {
  switch (shape.kind) {
    case 'none':
      return { geometry: null, curveWkt: null, area: null, length: null, vertices: 0 };
    case 'curve':
      return { geometry: null, curveWkt: shape.wkt, area: shape.area, length: shape.length, vertices: shape.vertices };
    case 'lonlat':
    case 'albers': {
      const geometry = gdal.Geometry.fromWKT(shape.kind === 'lonlat' ? lonLatWkt(shape.polygons) : shape.wkt);
      if (shape.kind === 'lonlat') geometry.transform(ct);
      // The area of an invalid geometry (bow-tie) is that of its repaired form: both lobes count.
      const area = areaOf(geometry.isValid() ? geometry : geometry.makeValid());
      const length = (geometry.boundary() as unknown as { getLength(): number }).getLength();
      const vertices = shape.kind === 'lonlat'
        ? shape.polygons.reduce((s, rings) => s + rings.reduce((t, rg) => t + rg.length, 0), 0)
        : shape.wkt.split(',').length;
      return { geometry, curveWkt: null, area, length, vertices };
    }
  }
}

/** The OGR field type of a field spec's type. */
function fieldType(t: FieldSpec[1]): string {
  return t === 'integer' ? gdal.OFTInteger : t === 'real' ? gdal.OFTReal : gdal.OFTString;
}

export function addFields(layer: Layer, fields: FieldSpec[]): void {
  for (const [name, type, width] of fields) {
    const def = new gdal.FieldDefn(name, fieldType(type));
    if (width) def.width = width;
    layer.fields.add(def);
  }
}

/** Only the attributes the layer has, NULLs left out (unset = NULL). */
export function layerValues(attrs: Attrs, fields: FieldSpec[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [name] of fields) {
    const v = attrs[name];
    if (v !== null && v !== undefined) out[name] = v;
  }
  return out;
}

/** A quoted CSV cell. */
const csvCell = (v: string | number) => `"${String(v).replace(/"/g, '""')}"`;

let curveCounter = 0;

/**
 * Appends one curved feature: gdal-async cannot create curve geometries in JavaScript, so the
 * feature goes through a one-row in-memory CSV (WKT column + the non-NULL attributes) that
 * ogr2ogr (`vectorTranslate -append`) copies into the open geodatabase on the C++ side.
 */
async function appendCurve(ds: Dataset, layerName: string, wkt: string, values: Record<string, string | number>): Promise<void> {
  const cols = Object.keys(values);
  const csv = `WKT,${cols.join(',')}\n${[csvCell(wkt), ...cols.map((c) => csvCell(values[c]))].join(',')}\n`;
  const path = `/vsimem/cng-sample-curve-${process.pid}-${curveCounter++}.csv`;
  gdal.vsimem.set(Buffer.from(csv), path);
  try {
    const src = await gdal.openAsync(path);
    try {
      await gdal.vectorTranslateAsync(ds, src, ['-append', '-nln', layerName]);
    } finally {
      src.close();
    }
  } finally {
    gdal.vsimem.release(path);
  }
}

/** A feature with its final attributes, ready to write. */
export interface Written {
  attrs: Attrs;
  real: Realized;
}

/** Creates a MultiPolygon layer with its fields and writes its features; returns the vertices written. */
export async function writeLayer(ds: Dataset, name: string, fields: FieldSpec[], items: Written[], albers: SpatialReference): Promise<number> {
  const layer = await ds.layers.createAsync(name, albers, gdal.wkbMultiPolygon);
  addFields(layer, fields);
  let vertices = 0;
  for (const { attrs, real } of items) {
    const values = layerValues(attrs, fields);
    vertices += real.vertices;
    if (real.curveWkt) {
      await appendCurve(ds, name, real.curveWkt, values);
      continue;
    }
    const feature = new gdal.Feature(layer);
    feature.fields.set(values);
    if (real.geometry) feature.setGeometry(real.geometry);
    layer.features.add(feature);
  }
  return vertices;
}

/** Creates a non-spatial table (every column a 254-character string) and writes its rows (NULLs unset). */
export async function writeTable(ds: Dataset, name: string, tableRows: Row[]): Promise<void> {
  const table = await ds.layers.createAsync(name, null, gdal.wkbNone);
  addFields(table, Object.keys(tableRows[0]).map((c) => [c, 'string', 254] as FieldSpec));
  for (const row of tableRows) {
    const feature = new gdal.Feature(table);
    feature.fields.set(Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)) as Record<string, string>);
    table.features.add(feature);
  }
}

/**
 * `writePadusSample`: writes a small, deterministic Esri File Geodatabase shaped like PAD-US 4.1
 * (layer and table names, field names and types, CRS, lookup codes) and full of the geometries
 * that break converters: curves, antimeridian-crossing multiparts, features smaller than an H3
 * cell, slivers, a self-intersecting bow-tie, a NULL geometry and one very large polygon. The
 * library form of `cng sample padus`, for tests and local pipeline runs.
 *
 * Written with gdal-async (GDAL 3.6's OpenFileGDB driver can write).
 */

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
  const replace = checkOutput(out, Boolean(opts.force));

  const albers = gdal.SpatialReference.fromUserInput('ESRI:102039');
  const ct = new gdal.CoordinateTransformation(gdal.SpatialReference.fromUserInput('OGC:CRS83'), albers);
  const toAlbers = (lon: number, lat: number): [number, number] => {
    const p = ct.transformPoint(lon, lat);
    return [p.x, p.y];
  };

  log(`planning: seed ${seed}, ${features} ordinary Fee features, big polygon ${bigVertices} vertices`);
  const written = realizePlan(planSample(new Rng(seed), features, bigVertices, toAlbers), ct);
  // Written next to `out` and renamed into place when complete: a failed write leaves no `out`.
  const { vertices, layers, tables } = await writeDirAtomically(out, replace, async (dir) => {
    const vertices = await writeGeodatabase(dir, written, albers, log);
    // Counts come from the written file, not from the plan.
    return { vertices, ...(await countRows(dir)) };
  });
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

/** Checks the output path; true when an existing File Geodatabase is to be replaced (only with `force`). */
function checkOutput(out: string, force: boolean): boolean {
  if (!/\.gdb$/i.test(out)) throw new CommandError(`output must be a File Geodatabase path ending in .gdb, got '${out}'`);
  if (!existsSync(out)) return false;
  if (!force) throw new CommandError(`'${out}' already exists; pass --force to replace it`);
  if (!looksLikeFileGdb(out)) throw new CommandError(`refusing to replace '${out}': it is not a File Geodatabase directory`);
  return true;
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
