/**
 * Writing the sample's features and tables into an open File Geodatabase (GDAL's OpenFileGDB
 * driver). gdal-async cannot build curved geometries in JavaScript, so each curved feature is
 * appended by `vectorTranslate` (C++ side) from a one-row CSV whose WKT column holds the curve.
 */
import gdal, { type CoordinateTransformation, type Dataset, type Geometry, type Layer, type SpatialReference } from 'gdal-async';
import type { Attrs } from './attributes.ts';
import type { FieldSpec } from './layers.ts';
import type { Row } from './lookup-tables.ts';
import { lonLatWkt, type Shape } from './shapes.ts';

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

function addFields(layer: Layer, fields: FieldSpec[]): void {
  for (const [name, type, width] of fields) {
    const def = new gdal.FieldDefn(name, fieldType(type));
    if (width) def.width = width;
    layer.fields.add(def);
  }
}

/** Only the attributes the layer has, NULLs left out (unset = NULL). */
function layerValues(attrs: Attrs, fields: FieldSpec[]): Record<string, string | number> {
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
