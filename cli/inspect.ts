/**
 * `cng inspect <source>`: what GDAL sees in a vector source (layers, tables, types, counts, CRS,
 * fields). `inspectSource` is the library form, reused by code that plans conversions.
 */
import type { Layer, SpatialReference } from 'gdal-async';
import { configureGdalS3, geometryTypeName, openVector } from '../worker/gdal.ts';
import { CommandError, EXIT, UsageError, str, type Command } from './command.ts';

/** A layer's coordinate reference system. */
export interface CrsInfo {
  /** `AUTHORITY:CODE`, e.g. 'EPSG:4326' or 'ESRI:102039', when GDAL can identify it. */
  authority?: string;
  /** The CRS name, e.g. 'NAD83 / Conus Albers'. */
  name?: string;
  /** Full definition (WKT1 as exported by GDAL); printed only with `--json`. */
  wkt?: string;
}

export interface FieldInfo {
  name: string;
  /** GDAL field type in lower case: 'integer', 'integer64', 'real', 'string', 'date', 'datetime', 'time', 'binary', 'string[]', ... */
  type: string;
  /** Declared width (e.g. string length), when the format records one. */
  width?: number;
}

export interface LayerInfo {
  name: string;
  /** Readable geometry type ('MultiPolygon', '3D MultiSurface', ...) or 'table' for non-spatial layers. */
  geometryType: string;
  /** Exact number of features (rows), counted by GDAL. */
  featureCount: number;
  crs: CrsInfo | null;
  /** [minx, miny, maxx, maxy] in the layer's own CRS; null for tables and empty layers. */
  extent: [number, number, number, number] | null;
  geometryColumn: string | null;
  fidColumn: string | null;
  fields: FieldInfo[];
}

export interface SourceInfo {
  /** The source as given by the caller. */
  source: string;
  /** GDAL driver short name, e.g. 'OpenFileGDB'. */
  driver: string;
  layers: LayerInfo[];
}

export interface InspectOptions {
  /** Describe only this layer; a name that does not exist is a CommandError listing the layers. */
  layer?: string;
}

/**
 * Opens `source` read-only and describes each of its layers (or only `options.layer`).
 * Accepts local paths, `s3://`, `https://` and GDAL `/vsi*` paths; configure S3 endpoints first
 * with `configureGdalS3()`.
 *
 * @throws CommandError when the source cannot be opened or the requested layer does not exist.
 */
export async function inspectSource(source: string, options: InspectOptions = {}): Promise<SourceInfo> {
  const ds = await openVector(source);
  try {
    const all: Layer[] = [];
    for await (const layer of ds.layers) all.push(layer);
    let selected = all;
    if (options.layer !== undefined) {
      selected = all.filter((l) => l.name === options.layer);
      if (selected.length === 0) {
        throw new CommandError(
          `no layer '${options.layer}' in '${source}'; available: ${all.map((l) => l.name).join(', ')}`,
        );
      }
    }
    const layers: LayerInfo[] = [];
    for (const layer of selected) layers.push(await describeLayer(layer));
    return { source, driver: ds.driver.description, layers };
  } finally {
    ds.close();
  }
}

/** Describes one layer; counts its features exactly (a full scan for formats without a count). */
async function describeLayer(layer: Layer): Promise<LayerInfo> {
  const geometryType = geometryTypeName(layer.geomType);
  const spatial = geometryType !== 'table';
  const featureCount = await layer.features.countAsync();
  const fields: FieldInfo[] = [];
  for (const f of layer.fields) {
    fields.push({ name: f.name, type: f.type.toLowerCase(), ...(f.width > 0 ? { width: f.width } : {}) });
  }
  return {
    name: layer.name,
    geometryType,
    featureCount,
    crs: spatial && layer.srs ? describeCrs(layer.srs) : null,
    extent: spatial && featureCount > 0 ? layerExtent(layer) : null,
    geometryColumn: layer.geomColumn || null,
    fidColumn: layer.fidColumn || null,
    fields,
  };
}

/** WKT nodes that can name a CRS, outermost first (a PROJCS contains a GEOGCS). */
const CRS_NAME_NODES = ['COMPD_CS', 'PROJCS', 'GEOGCS', 'GEOCCS', 'VERT_CS', 'LOCAL_CS'];

/**
 * Authority code, name and WKT of a CRS. When the definition carries no authority code,
 * GDAL's EPSG auto-identification is tried on a copy (it recognises e.g. UTM and WGS 84).
 */
function describeCrs(srs: SpatialReference): CrsInfo {
  const crs: CrsInfo = {};
  let authority = srs.getAuthorityName(null);
  let code = srs.getAuthorityCode(null);
  if (!authority || !code) {
    const copy = srs.clone();
    try {
      copy.autoIdentifyEPSG();
      authority = copy.getAuthorityName(null);
      code = copy.getAuthorityCode(null);
    } catch {
      // Not identifiable: report the name and WKT only.
    }
  }
  if (authority && code) crs.authority = `${authority}:${code}`;
  const name = CRS_NAME_NODES.map((node) => srs.getAttrValue(node)).find((v) => v);
  if (name) crs.name = name;
  crs.wkt = srs.toWKT();
  return crs;
}

/** The layer's extent, or null when the driver cannot compute one. */
function layerExtent(layer: Layer): LayerInfo['extent'] {
  try {
    const e = layer.getExtent(true);
    return [e.minX, e.minY, e.maxX, e.maxY];
  } catch {
    return null;
  }
}

/** Human-readable report: one block per layer, fields aligned in a two-column table. */
export function formatSourceInfo(info: SourceInfo): string {
  const n = info.layers.length;
  const out = [`${info.source}  (driver ${info.driver}, ${n} layer${n === 1 ? '' : 's'})`];
  for (const layer of info.layers) {
    const spatial = layer.geometryType !== 'table';
    out.push('', layer.name);
    const row = (label: string, value: string) => out.push(`  ${label.padEnd(10)}${value}`);
    row('type', spatial && layer.geometryColumn ? `${layer.geometryType} (column ${layer.geometryColumn})` : layer.geometryType);
    row(spatial ? 'features' : 'rows', layer.featureCount.toLocaleString('en-US'));
    if (spatial) {
      const crs = layer.crs;
      row('crs', crs ? [crs.authority, crs.name].filter(Boolean).join('  ') || 'unnamed CRS' : 'none');
      row('extent', layer.extent ? formatExtent(layer.extent) : 'empty');
    }
    if (layer.fidColumn) row('fid', layer.fidColumn);
    row('fields', String(layer.fields.length));
    const width = Math.max(0, ...layer.fields.map((f) => f.name.length)) + 2;
    for (const f of layer.fields) {
      out.push(`    ${f.name.padEnd(width)}${f.type}${f.width ? `(${f.width})` : ''}`);
    }
  }
  return out.join('\n') + '\n';
}

/** Extent as 'minx, miny — maxx, maxy': 6 decimals for degrees, 2 for projected units. */
function formatExtent([minx, miny, maxx, maxy]: [number, number, number, number]): string {
  const degrees = Math.max(Math.abs(minx), Math.abs(miny), Math.abs(maxx), Math.abs(maxy)) <= 360;
  const f = (v: number) => String(Number(v.toFixed(degrees ? 6 : 2)));
  return `${f(minx)}, ${f(miny)} — ${f(maxx)}, ${f(maxy)}`;
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'describe a vector source: layers, geometry types, counts, CRS, fields',
  help: `Usage: cng inspect <source> [--json] [--layer NAME]

Describe a vector source as GDAL sees it: the driver and, for every layer and
non-spatial table, its geometry type, exact feature count, CRS, extent (in the
layer's own CRS), FID and geometry columns, and fields with their types. Use it
to choose the layers and columns a dataset definition converts.

<source> is a local file or directory (e.g. a .gdb), s3://bucket/key,
https://..., or a GDAL virtual path (/vsis3/, /vsicurl/, /vsizip/...).
For S3 outside AWS set AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), plus
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.

Options:
  --json          Print JSON (one object with a "layers" array; includes each
                  CRS's WKT) instead of the readable report
  --layer NAME    Describe only layer NAME (an unknown name lists the layers)
  -h, --help      Show this help

Exit status: 0 on success, 1 if the source cannot be read or the layer does
not exist, 2 on a usage error.

Examples:
  cng inspect PADUS4_1Geodatabase.gdb
  cng inspect s3://public-padus/PADUS4_1Geodatabase.gdb --layer PADUS4_1Fee --json
`,
  options: {
    json: { type: 'boolean' },
    layer: { type: 'string' },
  },
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length === 0 ? 'missing <source>' : `expected one <source>, got ${positionals.length}`);
    }
    configureGdalS3();
    const info = await inspectSource(positionals[0], { layer: str(values.layer) });
    process.stdout.write(values.json ? JSON.stringify(info, null, 2) + '\n' : formatSourceInfo(info));
    return EXIT.ok;
  },
};
