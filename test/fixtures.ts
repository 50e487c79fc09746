/**
 * Small, fast test inputs written with gdal-async (GDAL 3.6's OpenFileGDB driver can write).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { crc32 } from 'node:zlib';
import gdal, { type Layer } from 'gdal-async';

/** PAD-US's own CRS: USA Contiguous Albers Equal Area Conic (USGS version). */
const PADUS_CRS = 'ESRI:102039';

/** Rows of a PAD-US-like polygon layer: attributes plus a WKT geometry in Albers metres. */
type PadusFeature = {
  Unit_Nm: string;
  GIS_Acres: number;
  SHAPE_Area: number;
  Des_Tp: string;
  wkt: string;
};

/** Square multipolygon of side `km` kilometres with its south-west corner at (x, y) metres. */
function square(x: number, y: number, km: number): string {
  const s = km * 1000;
  return `MULTIPOLYGON (((${x} ${y}, ${x + s} ${y}, ${x + s} ${y + s}, ${x} ${y + s}, ${x} ${y})))`;
}

/** Area in m² and acres of a `km`-kilometre square. */
function areas(km: number): { SHAPE_Area: number; GIS_Acres: number } {
  const m2 = km * km * 1e6;
  return { SHAPE_Area: m2, GIS_Acres: Math.round(m2 / 4046.8564224) };
}

const FEE: PadusFeature[] = [
  { Unit_Nm: 'Yellowstone National Park', Des_Tp: 'NP', ...areas(3), wkt: square(-1_240_000, 2_480_000, 3) },
  { Unit_Nm: 'Shenandoah National Park', Des_Tp: 'NP', ...areas(2), wkt: square(1_580_000, 1_900_000, 2) },
  { Unit_Nm: 'Everglades Wildlife Management Area', Des_Tp: 'SREC', ...areas(1), wkt: square(1_500_000, 500_000, 1) },
];

const MARINE: PadusFeature[] = [
  { Unit_Nm: 'Channel Islands National Marine Sanctuary', Des_Tp: 'MPA', ...areas(4), wkt: square(-2_100_000, 1_400_000, 4) },
  { Unit_Nm: 'Florida Keys National Marine Sanctuary', Des_Tp: 'MPA', ...areas(5), wkt: square(1_450_000, 300_000, 5) },
];

/** PAD-US's `Public_Access` domain table. */
const PUBLIC_ACCESS = [
  { Code: 'OA', Dom: 'Open Access' },
  { Code: 'RA', Dom: 'Restricted Access' },
  { Code: 'UK', Dom: 'Unknown' },
  { Code: 'XA', Dom: 'Closed' },
];

/** PAD-US attribute fields of the polygon layers, in PAD-US's order. */
const PADUS_FIELDS: [string, string][] = [
  ['Unit_Nm', gdal.OFTString],
  ['GIS_Acres', gdal.OFTInteger],
  ['SHAPE_Area', gdal.OFTReal],
  ['Des_Tp', gdal.OFTString],
];

/** Adds `fields` to `layer` and appends `rows`; a row's `wkt` (if any) becomes its geometry. */
function writeRows(layer: Layer, fields: [string, string][], rows: readonly Record<string, string | number>[]): void {
  for (const [name, type] of fields) layer.fields.add(new gdal.FieldDefn(name, type));
  for (const { wkt, ...attributes } of rows) {
    const feature = new gdal.Feature(layer);
    feature.fields.set(attributes);
    if (typeof wkt === 'string') feature.setGeometry(gdal.Geometry.fromWKT(wkt));
    layer.features.add(feature);
  }
}

/**
 * Writes `<dir>/padus_like.gdb`, a miniature PAD-US 4.1 geodatabase: MultiPolygon layers
 * `PADUS4_1Fee` (3 features) and `PADUS4_1Marine` (2) in ESRI:102039 with fields Unit_Nm (string),
 * GIS_Acres (integer), SHAPE_Area (real), Des_Tp (string), and the non-spatial table
 * `Public_Access` (Code, Dom) with rows OA, RA, UK, XA. Returns the .gdb path.
 */
export async function makePadusLikeGdb(dir: string): Promise<string> {
  const path = join(dir, 'padus_like.gdb');
  // The async open pads missing arguments with undefined, so the (unused) raster size must be given.
  const ds = await gdal.openAsync(path, 'w', 'OpenFileGDB', 0, 0, 0);
  try {
    const albers = gdal.SpatialReference.fromUserInput(PADUS_CRS);
    for (const [name, rows] of [['PADUS4_1Fee', FEE], ['PADUS4_1Marine', MARINE]] as const) {
      writeRows(await ds.layers.createAsync(name, albers, gdal.wkbMultiPolygon), PADUS_FIELDS, rows);
    }
    const table = await ds.layers.createAsync('Public_Access', null, gdal.wkbNone);
    writeRows(table, [['Code', gdal.OFTString], ['Dom', gdal.OFTString]], PUBLIC_ACCESS);
  } finally {
    ds.close();
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// Generic builders (convert/table tests, benchmark)
// ---------------------------------------------------------------------------------------------

/** One feature of a fixture layer: attribute values by field name, geometry as WKT (absent/null = none). */
export type FixtureRow = { wkt?: string | null } & Record<string, string | number | null | undefined>;

export interface FixtureLayer {
  name: string;
  /** CRS as any GDAL user input ('EPSG:5070', 'ESRI:102039'); null = no CRS. @default 'EPSG:4326' */
  srs?: string | null;
  /** Layer geometry type (gdal.wkb*; gdal.wkbNone for a table). @default gdal.wkbMultiPolygon */
  geometryType?: number;
  /** Fields in order: [name, gdal.OFT* type]. */
  fields: [string, string][];
  rows: FixtureRow[];
  /** Layer creation options, e.g. ['ENCODING=ISO-8859-1'] for a shapefile. */
  options?: string[];
}

/**
 * Writes a vector dataset with gdal-async (GPKG, OpenFileGDB, ESRI Shapefile, GeoJSON,
 * FlatGeobuf, ...): one layer per entry, attribute values set as GDAL parses strings (dates as
 * '2020/01/02', 64-bit integers as decimal strings), null = unset. Linear WKT only (gdal-async
 * cannot hold curves: see {@link makeCurvedGpkg}). Returns `path`.
 */
export async function makeVectorDataset(path: string, driver: string, layers: FixtureLayer[]): Promise<string> {
  const ds = await gdal.openAsync(path, 'w', driver, 0, 0, 0);
  try {
    for (const spec of layers) {
      const srs = spec.srs === null ? null : gdal.SpatialReference.fromUserInput(spec.srs ?? 'EPSG:4326');
      const layer = await ds.layers.createAsync(spec.name, srs, spec.geometryType ?? gdal.wkbMultiPolygon, spec.options ?? []);
      for (const [name, type] of spec.fields) layer.fields.add(new gdal.FieldDefn(name, type));
      for (const { wkt, ...attributes } of spec.rows) {
        const feature = new gdal.Feature(layer);
        const values = Object.fromEntries(Object.entries(attributes).filter(([, v]) => v !== null && v !== undefined));
        feature.fields.set(values);
        if (typeof wkt === 'string') feature.setGeometry(gdal.Geometry.fromWKT(wkt));
        layer.features.add(feature);
      }
    }
  } finally {
    ds.close();
  }
  return path;
}

/** Rows of {@link makeCurvedGpkg}: curved WKT that gdal-async itself cannot represent. */
export const CURVED_WKT = [
  'CURVEPOLYGON (CIRCULARSTRING (0 0, 1 1, 2 0, 1 -1, 0 0))',
  'MULTISURFACE (CURVEPOLYGON (CIRCULARSTRING (10 0, 11 1, 12 0, 11 -1, 10 0)), ((20 0, 21 0, 21 1, 20 1, 20 0)))',
  'CURVEPOLYGON (COMPOUNDCURVE (CIRCULARSTRING (30 0, 31 1, 32 0), (32 0, 30 0)))',
  'POLYGON ((40 0, 41 0, 41 1, 40 1, 40 0))',
];

/**
 * Writes `<dir>/curves.gpkg` with layer `curves` (MultiSurface, EPSG:4326, field `name`) holding
 * {@link CURVED_WKT}: a circle, a multisurface (circle + square), a half disc bounded by a
 * compound curve and a plain square. Built through GDAL's C++ side (CSV with WKT → GPKG), since
 * gdal-async cannot create curved geometries.
 */
export async function makeCurvedGpkg(dir: string): Promise<string> {
  const csv = join(dir, 'curves.csv');
  writeFileSync(csv, `name,WKT\n${CURVED_WKT.map((w, i) => `shape${i + 1},"${w}"`).join('\n')}\n`);
  const src = await gdal.drivers.get('CSV').openAsync(csv, 'r', ['GEOM_POSSIBLE_NAMES=WKT', 'KEEP_GEOM_COLUMNS=NO']);
  const path = join(dir, 'curves.gpkg');
  const out = await gdal.vectorTranslateAsync(path, src, ['-f', 'GPKG', '-a_srs', 'EPSG:4326', '-nln', 'curves', '-nlt', 'MULTISURFACE']);
  out.close();
  src.close();
  return path;
}

/** A lon/lat ring (densified every 0.1°) around [lon0, lon1] × [lat0, lat1], closed. */
function lonLatRing(lon0: number, lat0: number, lon1: number, lat1: number): [number, number][] {
  const pts: [number, number][] = [];
  const steps = (a: number, b: number) => Math.max(1, Math.round(Math.abs(b - a) / 0.1));
  const edge = (x0: number, y0: number, x1: number, y1: number) => {
    const n = steps(x0, x1) * steps(y0, y1);
    for (let i = 0; i < n; i++) pts.push([x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n]);
  };
  edge(lon0, lat0, lon1, lat0);
  edge(lon1, lat0, lon1, lat1);
  edge(lon1, lat1, lon0, lat1);
  edge(lon0, lat1, lon0, lat0);
  pts.push(pts[0]);
  return pts;
}

/** The WKT polygon, in `srs`, of a lon/lat box (longitudes may exceed 180 to cross the antimeridian). */
export function projectedBoxWkt(srs: string, lon0: number, lat0: number, lon1: number, lat1: number): string {
  const wgs84 = gdal.SpatialReference.fromEPSG(4326); // axis order lat, lon
  const ct = new gdal.CoordinateTransformation(wgs84, gdal.SpatialReference.fromUserInput(srs));
  const xy = lonLatRing(lon0, lat0, lon1, lat1).map(([lon, lat]) => ct.transformPoint(lat, lon > 180 ? lon - 360 : lon));
  return `POLYGON ((${xy.map((p) => `${p.x} ${p.y}`).join(', ')}))`;
}

/**
 * Writes `<dir>/aleutians.gpkg`, layer `islands` in Alaska Albers (EPSG:3338): feature 1 an
 * island spanning 179.5°E–179.5°W (across the antimeridian) at 51–52°N, feature 2 a box near
 * Anchorage (−150…−149°, 61…61.5°N) that crosses nothing.
 */
export async function makeAleutianGpkg(dir: string): Promise<string> {
  return makeVectorDataset(join(dir, 'aleutians.gpkg'), 'GPKG', [{
    name: 'islands', srs: 'EPSG:3338', fields: [['name', gdal.OFTString]],
    rows: [
      { name: 'across 180', wkt: projectedBoxWkt('EPSG:3338', 179.5, 51, 180.5, 52) },
      { name: 'anchorage', wkt: projectedBoxWkt('EPSG:3338', -150, 61, -149, 61.5) },
    ],
  }]);
}

/**
 * A synthetic polygon layer for benchmarks: `count` star-shaped polygons of 200–400 vertices
 * (radius 1–5 km) scattered over CONUS in EPSG:5070 (Albers), fields name/code/value, written to
 * `<dir>/synthetic.gpkg` (layer `synthetic`). Deterministic. Built as FlatGeobuf, then copied to
 * GPKG by GDAL in one transaction-grouped pass.
 */
export async function makeSyntheticPolygons(dir: string, count: number): Promise<string> {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed / 2147483648);
  const fgb = join(dir, 'synthetic.fgb');
  const ds = await gdal.openAsync(fgb, 'w', 'FlatGeobuf', 0, 0, 0);
  const layer = await ds.layers.createAsync('synthetic', gdal.SpatialReference.fromUserInput('EPSG:5070'), gdal.wkbPolygon, ['SPATIAL_INDEX=NO']);
  layer.fields.add(new gdal.FieldDefn('name', gdal.OFTString));
  layer.fields.add(new gdal.FieldDefn('code', gdal.OFTInteger));
  layer.fields.add(new gdal.FieldDefn('value', gdal.OFTReal));
  for (let i = 0; i < count; i++) {
    const cx = -2.3e6 + rnd() * 4.5e6;
    const cy = 0.3e6 + rnd() * 2.8e6;
    const r = 1000 + rnd() * 4000;
    const nv = 200 + Math.floor(rnd() * 200);
    const wkb = Buffer.alloc(13 + (nv + 1) * 16);
    wkb.writeUInt8(1, 0);
    wkb.writeUInt32LE(3, 1);
    wkb.writeUInt32LE(1, 5);
    wkb.writeUInt32LE(nv + 1, 9);
    for (let k = 0; k <= nv; k++) {
      const a = (2 * Math.PI * (k % nv)) / nv;
      const rr = r * (0.7 + 0.3 * Math.sin(a * 7 + i));
      wkb.writeDoubleLE(cx + rr * Math.cos(a), 13 + k * 16);
      wkb.writeDoubleLE(cy + rr * Math.sin(a), 21 + k * 16);
    }
    const f = new gdal.Feature(layer);
    f.fields.set([`feature ${i}`, i % 1000, rnd() * 100]);
    f.setGeometry(gdal.Geometry.fromWKB(wkb));
    layer.features.add(f);
  }
  ds.close();
  const src = await gdal.openAsync(fgb);
  const path = join(dir, 'synthetic.gpkg');
  const out = await gdal.vectorTranslateAsync(path, src, ['-f', 'GPKG', '-nln', 'synthetic', '-nlt', 'PROMOTE_TO_MULTI']);
  out.close();
  src.close();
  return path;
}

/**
 * Writes a ZIP archive (stored, no compression) of `files` under their base names, as a zipped
 * shapefile or GeoPackage is published; GDAL reads it through `/vsizip/`. Returns `zipPath`.
 */
export function zipFiles(zipPath: string, files: string[]): string {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const file of files) {
    const name = Buffer.from(basename(file));
    const data = readFileSync(file);
    const crc = crc32(data);
    const head = Buffer.alloc(30);
    head.writeUInt32LE(0x04034b50, 0); // local file header: version 10, no flags, stored
    head.writeUInt16LE(10, 4);
    head.writeUInt32LE(crc, 14);
    head.writeUInt32LE(data.length, 18);
    head.writeUInt32LE(data.length, 22);
    head.writeUInt16LE(name.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0); // central directory entry
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(10, 6);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(data.length, 20);
    dir.writeUInt32LE(data.length, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE(offset, 42);
    locals.push(head, name, data);
    central.push(dir, name);
    offset += head.length + name.length + data.length;
  }
  const size = central.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); // end of central directory
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(size, 12);
  end.writeUInt32LE(offset, 16);
  writeFileSync(zipPath, Buffer.concat([...locals, ...central, end]));
  return zipPath;
}
