/**
 * `cng sample padus`: a small PAD-US-shaped File Geodatabase, checked by reading it back with GDAL
 * (layers, tables, fields, CRS, lookup codes, every hard case, determinism, CLI errors).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import gdal, { type Geometry, type MultiPolygon, type Polygon } from 'gdal-async';
import { CommandError, UsageError } from '../worker/core/errors.ts';
import { parseCommandArgs } from '../worker/core/command.ts';
import { inspectSource, type SourceInfo } from '../cli/local/inspect.ts';
import { sampleCommand } from '../cli/local/sample.ts';
import { writePadusSample, type SampleSummary } from '../cli/local/padus-sample/writer.ts';
import { placeSample } from '../cli/local/run.ts';
import { COMPLETE_MARKER, writeDirAtomically } from '../cli/local/workdirs.ts';
import { cng } from './helpers.ts';

const FEE = 'PADUS4_1Fee';
const EASEMENT = 'PADUS4_1Easement';
const PROCLAMATION = 'PADUS4_1Proclamation';
const MARINE = 'PADUS4_1Marine';
const DESIGNATION = 'PADUS4_1Designation';
const COMBINED = 'PADUS4_1Combined_Proclamation_Marine_Fee_Designation_Easement';
const SPATIAL = [FEE, EASEMENT, PROCLAMATION, MARINE, DESIGNATION, COMBINED];
const SOURCES = [PROCLAMATION, MARINE, FEE, DESIGNATION, EASEMENT];

/** Row counts and columns of the lookup tables, as in shared/reference/padus-4-1.md (204 rows). */
const TABLES: Record<string, { rows: number; columns: string[] }> = {
  Public_Access: { rows: 4, columns: ['Code', 'Dom'] },
  Category: { rows: 7, columns: ['Code', 'Dom'] },
  Designation_Type: { rows: 63, columns: ['Code', 'Dom'] },
  GAP_Status: { rows: 4, columns: ['Code', 'Dom'] },
  IUCN_Category: { rows: 10, columns: ['CODE', 'DOM'] },
  Agency_Name: { rows: 44, columns: ['Code', 'Dom', 'Old_Code'] },
  Agency_Type: { rows: 11, columns: ['Code', 'Dom'] },
  State_Name: { rows: 61, columns: ['Code', 'Dom', 'St_FIPS'] },
};

const INTEGER_FIELDS = new Set(['GIS_Acres', 'WDPA_Cd', 'Term']);
const REAL_FIELDS = new Set(['SHAPE_Length', 'SHAPE_Area']);
const COMMON = [
  'FeatClass', 'Category', 'Own_Type', 'Own_Name', 'Loc_Own', 'Mang_Type', 'Mang_Name', 'Loc_Mang', 'Des_Tp', 'Loc_Ds',
  'Unit_Nm', 'Loc_Nm', 'State_Nm', 'Agg_Src', 'GIS_Src', 'Src_Date', 'GIS_Acres', 'Source_PAID', 'WDPA_Cd', 'Pub_Access',
  'Access_Src', 'Access_Dt', 'GAP_Sts', 'GAPCdSrc', 'GAPCdDt', 'IUCN_Cat', 'IUCNCtSrc', 'IUCNCtDt', 'Date_Est', 'Comments',
];
const typeOf = (name: string) => (INTEGER_FIELDS.has(name) ? 'integer' : REAL_FIELDS.has(name) ? 'real' : 'string');
const fields = (names: string[]) => names.map((name) => ({ name, type: typeOf(name) }));

const SMALL = ['--features', '40', '--big-vertices', '20000'];

let dir: string;
/** Written by the CLI with seed 7. */
let a: string;
/** Written by the library with seed 7 (same options as `a`). */
let b: string;
/** Seed 8. */
let c: string;
let cliSummary: SampleSummary;
let libSummary: SampleSummary;
let info: SourceInfo;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cng-sample-'));
  a = join(dir, 'a.gdb');
  b = join(dir, 'b.gdb');
  c = join(dir, 'c.gdb');
  const run = cng(['sample', 'padus', '--out', a, ...SMALL, '--seed', '7', '--json']);
  expect(run.stderr).toContain('writing PADUS4_1Fee');
  expect(run.code, run.stderr).toBe(0);
  cliSummary = JSON.parse(run.stdout);
  libSummary = await writePadusSample({ out: b, features: 40, bigVertices: 20_000, seed: 7 });
  await writePadusSample({ out: c, features: 40, bigVertices: 20_000, seed: 8 });
  info = await inspectSource(a);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

let scratch = 0;

/** The layer as CSV text with its geometry as WKT, curves kept (GDAL converts on the C++ side). */
async function dump(gdb: string, layer: string): Promise<string> {
  const src = await gdal.openAsync(gdb);
  const path = `/vsimem/sample-test-${scratch++}.csv`;
  try {
    const out = await gdal.vectorTranslateAsync(path, src, ['-f', 'CSV', '-lco', 'GEOMETRY=AS_WKT', layer]);
    out.close();
    return gdal.vsimem.release(path).toString('utf8');
  } finally {
    src.close();
  }
}

/** What the tests need to know of one feature once its curves are linearized. */
interface Facts {
  attrs: Record<string, unknown>;
  isNull: boolean;
  valid: boolean;
  area: number;
  points: number;
  /** [minX, maxX] of each part. */
  parts: [number, number][];
}

function polygonsOf(geom: Geometry): Polygon[] {
  if (geom instanceof gdal.MultiPolygon) return (geom as MultiPolygon).children.map((g) => g as Polygon);
  return [geom as Polygon];
}

/**
 * Reads a layer after `-nlt CONVERT_TO_LINEAR` (gdal-async cannot hand curves to JavaScript),
 * optionally reprojected (`-t_srs`), and summarises each feature.
 */
async function linearFacts(gdb: string, layer: string, tSrs?: string): Promise<Facts[]> {
  const src = await gdal.openAsync(gdb);
  const path = join(dir, `linear-${scratch++}.gpkg`);
  const args = ['-f', 'GPKG', '-nlt', 'CONVERT_TO_LINEAR', '-nlt', 'PROMOTE_TO_MULTI', ...(tSrs ? ['-t_srs', tSrs] : []), layer];
  const ds = await gdal.vectorTranslateAsync(path, src, args);
  src.close();
  const facts: Facts[] = [];
  try {
    for (const f of ds.layers.get(0).features) {
      const geom = f.getGeometry();
      const attrs = f.fields.toObject();
      if (!geom) {
        facts.push({ attrs, isNull: true, valid: true, area: 0, points: 0, parts: [] });
        continue;
      }
      const polygons = polygonsOf(geom);
      const points = polygons.reduce((s, p) => s + p.rings.map((r) => r.points.count()).reduce((t, n) => t + n, 0), 0);
      const parts = polygons.map((p) => {
        const e = p.getEnvelope();
        return [e.minX, e.maxX] as [number, number];
      });
      facts.push({ attrs, isNull: false, valid: geom.isValid(), area: polygons.reduce((s, p) => s + p.getArea(), 0), points, parts });
    }
  } finally {
    ds.close();
  }
  return facts;
}

/** Values of one column of a lookup table. */
async function codes(gdb: string, table: string, column: string): Promise<Set<string>> {
  const ds = await gdal.openAsync(gdb);
  try {
    const values = new Set<string>();
    for (const f of ds.layers.get(table).features) values.add(String(f.fields.get(column)));
    return values;
  } finally {
    ds.close();
  }
}

describe('cng sample padus: structure', () => {
  it('writes the 6 PAD-US 4.1 layers and the 8 lookup tables with their exact row counts', () => {
    expect(info.driver).toBe('OpenFileGDB');
    expect(info.layers.map((l) => l.name)).toEqual([...SPATIAL, ...Object.keys(TABLES)]);
    for (const name of SPATIAL) {
      const layer = info.layers.find((l) => l.name === name)!;
      expect(layer.geometryType, name).toBe('MultiPolygon');
      expect(layer.crs?.authority, name).toBe('ESRI:102039');
      expect(layer.crs?.name, name).toBe('USA_Contiguous_Albers_Equal_Area_Conic_USGS_version');
      expect(layer.geometryColumn).toBe('SHAPE');
      expect(layer.fidColumn).toBe('OBJECTID');
    }
    let total = 0;
    for (const [name, { rows, columns }] of Object.entries(TABLES)) {
      const table = info.layers.find((l) => l.name === name)!;
      expect(table.geometryType, name).toBe('table');
      expect(table.featureCount, name).toBe(rows);
      expect(table.fields.map((f) => f.name), name).toEqual(columns);
      total += table.featureCount;
    }
    expect(total).toBe(204);
  });

  it('uses the PAD-US field names and types (Easement and Combined add Term and Duration)', () => {
    const fieldsOf = (name: string) => info.layers.find((l) => l.name === name)!.fields.map(({ name: n, type }) => ({ name: n, type }));
    const plain = fields([...COMMON, 'SHAPE_Length', 'SHAPE_Area']);
    for (const name of [FEE, PROCLAMATION, MARINE, DESIGNATION]) expect(fieldsOf(name), name).toEqual(plain);
    expect(fieldsOf(EASEMENT)).toEqual(fields([...COMMON, 'EsmtHldr', 'EHoldTyp', 'Term', 'Duration', 'SHAPE_Length', 'SHAPE_Area']));
    expect(fieldsOf(COMBINED)).toEqual(fields([...COMMON, 'Term', 'Duration', 'SHAPE_Length', 'SHAPE_Area']));
  });

  it('sizes the layers from --features; Combined is the union of the other five', async () => {
    const count = (name: string) => info.layers.find((l) => l.name === name)!.featureCount;
    expect(count(FEE)).toBeGreaterThanOrEqual(40 + 8); // 40 ordinary + the hard cases
    expect(count(FEE)).toBeLessThan(40 + 20);
    expect(count(EASEMENT)).toBeGreaterThanOrEqual(44);
    expect(count(PROCLAMATION)).toBeGreaterThanOrEqual(4);
    expect(count(MARINE)).toBeGreaterThanOrEqual(2);
    expect(count(DESIGNATION)).toBeGreaterThanOrEqual(4);
    expect(count(COMBINED)).toBe(SOURCES.reduce((s, n) => s + count(n), 0));
    // The summary (CLI --json and library) reports what the file holds.
    for (const summary of [cliSummary, libSummary]) {
      expect(summary.layers).toEqual(Object.fromEntries(SPATIAL.map((n) => [n, count(n)])));
      expect(summary.tables).toEqual(Object.fromEntries(Object.entries(TABLES).map(([n, t]) => [n, t.rows])));
    }
    // Same features in Combined as in the five layers.
    const key = (f: Facts) => `${f.attrs.FeatClass}|${f.attrs.Unit_Nm}|${f.attrs.SHAPE_Area}|${f.points}`;
    const fromSources = (await Promise.all(SOURCES.map((n) => linearFacts(a, n)))).flat().map(key).sort();
    const combined = (await linearFacts(a, COMBINED)).map(key).sort();
    expect(combined).toEqual(fromSources);
    expect(new Set(combined.map((k) => k.split('|')[0]))).toEqual(new Set(['Fee', 'Easement', 'Proclamation', 'Marine', 'Designation']));
  });

  it('draws attribute values from the lookup tables', async () => {
    const lookups: [string[], string, string][] = [
      [['Category'], 'Category', 'Code'],
      [['Pub_Access'], 'Public_Access', 'Code'],
      [['Des_Tp'], 'Designation_Type', 'Code'],
      [['GAP_Sts'], 'GAP_Status', 'Code'],
      [['IUCN_Cat'], 'IUCN_Category', 'CODE'],
      [['Mang_Name', 'Own_Name'], 'Agency_Name', 'Code'],
      [['Mang_Type', 'Own_Type'], 'Agency_Type', 'Code'],
      [['State_Nm'], 'State_Name', 'Code'],
    ];
    const features = await linearFacts(a, COMBINED);
    for (const [columns, table, codeColumn] of lookups) {
      const allowed = await codes(a, table, codeColumn);
      for (const column of columns) {
        const values = new Set(features.map((f) => String(f.attrs[column])));
        expect([...values].filter((v) => !allowed.has(v)), `${column} ∉ ${table}`).toEqual([]);
      }
    }
    const states = new Set(features.map((f) => f.attrs.State_Nm));
    expect(states).toContain('AK');
    expect(states).toContain('HI');
    expect(new Set(features.map((f) => f.attrs.GAP_Sts)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(features.map((f) => f.attrs.Pub_Access)).size).toBeGreaterThanOrEqual(3);
  });

  it('fills SHAPE_Area, SHAPE_Length and GIS_Acres from the geometry', async () => {
    for (const name of [FEE, EASEMENT, MARINE]) {
      for (const f of await linearFacts(a, name)) {
        if (f.isNull) {
          expect(f.attrs.SHAPE_Area).toBeNull();
          continue;
        }
        expect(f.attrs.SHAPE_Length as number).toBeGreaterThan(0);
        expect(f.attrs.GIS_Acres).toBe(Math.round((f.attrs.SHAPE_Area as number) / 4046.8564224));
        // Curves are linearized here, so allow 1 %; an invalid bow-tie's area is that of its repaired form.
        if (f.valid) expect(Math.abs(f.area / (f.attrs.SHAPE_Area as number) - 1), `${name} ${f.attrs.Unit_Nm}`).toBeLessThan(0.01);
      }
    }
  });
});

describe('cng sample padus: hard cases', () => {
  for (const layer of [FEE, COMBINED]) {
    describe(layer === FEE ? 'Fee' : 'Combined', () => {
      it('has curved geometries, written as curves', async () => {
        const csv = await dump(a, layer);
        expect(csv).toMatch(/^"MULTISURFACE \(CURVEPOLYGON \(COMPOUNDCURVE \(CIRCULARSTRING/m);
        // gdal-async itself refuses to hand such a geometry to JavaScript.
        const ds = await gdal.openAsync(a);
        try {
          const errors: string[] = [];
          for (const f of ds.layers.get(layer).features) {
            try {
              f.getGeometry();
            } catch (err) {
              errors.push((err as Error).message);
            }
          }
          expect(errors.length).toBeGreaterThanOrEqual(3);
          expect(errors[0]).toMatch(/unsupported geometry type/);
        } finally {
          ds.close();
        }
      });

      it('has a NULL geometry, an invalid bow-tie, a feature < 0.01 km², a sliver and one of ≥ 20,000 vertices', async () => {
        const facts = await linearFacts(a, layer);
        expect(facts.filter((f) => f.isNull).length).toBeGreaterThanOrEqual(1);
        const invalid = facts.filter((f) => !f.isNull && !f.valid);
        expect(invalid.length).toBeGreaterThanOrEqual(1);
        expect(invalid[0].points).toBe(5); // one ring of 4 corners: a bow-tie
        expect(facts.some((f) => !f.isNull && f.area > 0 && f.area < 10_000)).toBe(true);
        expect(facts.some((f) => f.points === 5 && f.area > 9_000 && f.area < 10_500 && (f.attrs.SHAPE_Length as number) > 3_900)).toBe(true);
        expect(Math.max(...facts.map((f) => f.points))).toBeGreaterThanOrEqual(20_000);
        const ordinary = facts.filter((f) => !f.isNull && !String(f.attrs.Comments ?? '').startsWith('Synthetic hard case'));
        expect(ordinary.length).toBeGreaterThanOrEqual(40);
        for (const f of ordinary) {
          expect(f.valid).toBe(true);
          expect(f.area).toBeGreaterThan(0.04e6);
          expect(f.area).toBeLessThan(55e6);
        }
      });

      it('has a multipart feature on both sides of 180° once in EPSG:4326', async () => {
        const facts = await linearFacts(a, layer, 'EPSG:4326');
        const crossing = facts.filter((f) => f.parts.some(([minX]) => minX > 170) && f.parts.some(([, maxX]) => maxX < -170));
        expect(crossing.length).toBeGreaterThanOrEqual(1);
        expect(crossing[0].parts.length).toBeGreaterThanOrEqual(4);
        expect(crossing[0].attrs.State_Nm).toBe('AK');
        expect(facts.some((f) => f.parts.length >= 2 && f.parts.every(([minX, maxX]) => maxX < -60 && minX > -130))).toBe(true);
      });
    });
  }
});

describe('cng sample padus: determinism', () => {
  const layers = [...SPATIAL, ...Object.keys(TABLES)];

  it('writes the same features for the same seed (CLI and library alike)', async () => {
    for (const layer of layers) expect(await dump(b, layer), layer).toBe(await dump(a, layer));
  });

  it('writes different attributes and geometries for a different seed', async () => {
    const geometries = (csv: string) => csv.split('\n').slice(1).map((line) => line.match(/^"([^"]*)"/)?.[1] ?? '');
    const [fa, fc] = [await dump(a, FEE), await dump(c, FEE)];
    expect(fc).not.toBe(fa);
    const ga = new Set(geometries(fa));
    expect(geometries(fc).filter((g) => g && ga.has(g))).toEqual([]);
    const names = async (gdb: string) => (await linearFacts(gdb, FEE)).map((f) => f.attrs.Unit_Nm);
    expect(await names(c)).not.toEqual(await names(a));
    // The lookup tables are fixed data.
    expect(await dump(c, 'Designation_Type')).toBe(await dump(a, 'Designation_Type'));
  });
});

describe('cng sample: command line', () => {
  it('refuses to overwrite an existing path without --force (exit 1)', () => {
    const before = readdirSync(a).sort();
    const r = cng(['sample', 'padus', '--out', a, ...SMALL]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/'.*a\.gdb' already exists; pass --force to replace it/);
    expect(readdirSync(a).sort()).toEqual(before);
  });

  it('rejects an unknown sample kind (exit 2, listing the kinds)', () => {
    const nope = cng(['sample', 'nope']);
    expect(nope.code).toBe(2);
    expect(nope.stderr).toMatch(/unknown sample kind 'nope'; available: padus/);
  });

  it('replaces a File Geodatabase with force, but never a directory that is not one', async () => {
    const gdb = join(dir, 'force.gdb');
    await writePadusSample({ out: gdb, features: 3, bigVertices: 200, seed: 1 });
    await expect(writePadusSample({ out: gdb, features: 5, bigVertices: 500 })).rejects.toThrow(CommandError);
    const replaced = await writePadusSample({ out: gdb, features: 5, bigVertices: 500, seed: 2, force: true });
    expect(replaced.layers[FEE]).toBeGreaterThanOrEqual(5 + 8);
    const notGdb = join(dir, 'precious.gdb');
    mkdirSync(notGdb);
    writeFileSync(join(notGdb, 'notes.txt'), 'keep me');
    await expect(writePadusSample({ out: notGdb, force: true })).rejects.toThrow(/refusing to replace .*not a File Geodatabase/);
    expect(readdirSync(notGdb)).toEqual(['notes.txt']);
  });

  it('treats a missing kind and malformed options as usage errors', async () => {
    const run = (argv: string[]) => sampleCommand.run(parseCommandArgs(sampleCommand, argv));
    await expect(run([])).rejects.toThrow(new UsageError('missing sample kind; available: padus'));
    await expect(run(['padus', 'padus'])).rejects.toThrow(UsageError);
    await expect(run(['padus', '--features', 'many'])).rejects.toThrow(/--features must be a non-negative integer, got 'many'/);
    await expect(run(['padus', '--features', '0'])).rejects.toThrow(UsageError);
    await expect(run(['padus', '--big-vertices', '10'])).rejects.toThrow(/--big-vertices must be at least 100/);
    await expect(run(['padus', '--out', join(dir, 'x.zip')])).rejects.toThrow(/--out must end in \.gdb/);
    expect(() => parseCommandArgs(sampleCommand, ['padus', '--bogus'])).toThrow(UsageError);
    expect(sampleCommand.help).toMatch(/^Usage: cng sample padus \[--out PATH\] \[--features N\] \[--seed S\] \[--big-vertices V\]/);
  });
});

describe('cng sample: a write cut short (disk full, killed)', () => {
  const tiny = (out: string, force: boolean) => writePadusSample({ out, force, features: 3, bigVertices: 200, seed: 1 });

  it('writes the sample next to the target and renames it into place, marker last', async () => {
    const out = join(dir, 'atomic.gdb');
    await tiny(out, false);
    expect(readdirSync(out)).toContain(COMPLETE_MARKER);
    expect(readdirSync(dir).filter((f) => f.startsWith('.partial-'))).toEqual([]);
  });

  it('a failed write leaves no target directory and no temporary one', async () => {
    const out = join(dir, 'full.gdb');
    const spy = vi.spyOn(gdal, 'vectorTranslateAsync').mockRejectedValue(new Error('No space left on device'));
    try {
      await expect(tiny(out, false)).rejects.toThrow(/No space left on device/);
    } finally {
      spy.mockRestore();
    }
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('.partial-'))).toEqual([]);
    const failing = join(dir, 'failing');
    await expect(writeDirAtomically(failing, false, async (tmp) => {
      mkdirSync(tmp);
      writeFileSync(join(tmp, 'a'), 'x');
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    })).rejects.toThrow(/ENOSPC/);
    expect(existsSync(failing)).toBe(false);
  });

  it('cng run --sample rebuilds a sample directory left incomplete (no marker) and reuses a complete one', async () => {
    const out = join(dir, 'cut-short.gdb');
    mkdirSync(out);
    for (const f of ['gdb', 'a00000001.gdbtable', 'a00000001.gdbtablx', 'a00000004.gdbtable']) writeFileSync(join(out, f), 'partial');
    expect(await placeSample(out, 'padus-4-1', tiny)).toBe(true);
    expect(readdirSync(out)).toContain(COMPLETE_MARKER);
    const ds = gdal.open(out);
    expect(ds.layers.get(FEE).features.count()).toBeGreaterThan(0);
    ds.close();
    expect(await placeSample(out, 'padus-4-1', () => Promise.reject(new Error('must not rewrite')))).toBe(false);
  });
});
