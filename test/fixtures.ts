/**
 * Small, fast test inputs written with gdal-async (GDAL 3.6's OpenFileGDB driver can write).
 */
import { join } from 'node:path';
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
