/**
 * `cng inspect <source>`: what GDAL sees in a vector source (layers, tables, types, counts, CRS,
 * fields) or a raster (size, bands, nodata, CRS, pixel size, bounds, tiling, overviews, whether it
 * is a COG). `inspectSource` and `inspectRaster` are the library forms.
 */
import gdal, { type Layer, type SpatialReference } from 'gdal-async';
import { footprintBounds4326 } from '../../worker/raster/cog.ts';
import { validateCog } from '../../worker/io/cogcheck.ts';
import { configureGdalS3, geometryTypeName, missingLocalPath, openVector, toGdalPath } from '../../worker/io/gdal.ts';
import { slugify } from '../../constructs/spec.ts';
import { existsSync } from 'node:fs';
import { expandSources, gdalSourceName, isGlob, sourceList } from '../../worker/io/sources.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { type Command, flagOptions, str } from '../../worker/core/command.ts';
import { firstLine, plural } from '../../worker/core/text.ts';

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
  /** The files of a multi-file source (a list or globs), in name order; their layers are merged (counts summed). */
  files?: string[];
  layers: LayerInfo[];
}

export interface InspectOptions {
  /** Describe only this layer; a name that does not exist is a CommandError listing the layers. */
  layer?: string;
  /** Path inside each `.zip` source. */
  sourcePath?: string;
}

/**
 * Opens `source` read-only and describes each of its layers (or only `options.layer`).
 * Accepts local paths, `s3://`, `https://` and GDAL `/vsi*` paths; configure S3 endpoints first
 * with `configureGdalS3()`.
 *
 * @throws CommandError when the source cannot be opened or the requested layer does not exist.
 */
export async function inspectSource(source: string, options: InspectOptions = {}): Promise<SourceInfo> {
  const items = existsSync(source) ? [source] : sourceList(source);
  const files = await expandSources(items);
  if (files.length === 1 && !isGlob(source)) return { ...(await inspectFile(gdalSourceName(files[0], options.sourcePath), options)), source };
  const infos: SourceInfo[] = [];
  for (const f of files) infos.push(await inspectFile(gdalSourceName(f, options.sourcePath), {}));
  // Files of one layer each (per-state zips) merge under the first file's layer name, as convert reads them.
  const single = infos.every((i) => i.layers.length === 1);
  const byName = new Map<string, LayerInfo>();
  for (const info of infos)
    for (const l of info.layers) {
      const key = single ? infos[0].layers[0].name : l.name;
      const m = byName.get(key);
      if (!m) byName.set(key, { ...l, name: key, fields: [...l.fields] });
      else {
        m.featureCount += l.featureCount;
        for (const f of l.fields) if (!m.fields.some((x) => x.name.toLowerCase() === f.name.toLowerCase())) m.fields.push(f);
        if (m.extent && l.extent) m.extent = [Math.min(m.extent[0], l.extent[0]), Math.min(m.extent[1], l.extent[1]), Math.max(m.extent[2], l.extent[2]), Math.max(m.extent[3], l.extent[3])];
      }
    }
  const layers = [...byName.values()].filter((l) => options.layer === undefined || l.name === options.layer);
  if (!layers.length) throw new CommandError(`no layer '${options.layer}' in '${source}'; available: ${[...byName.keys()].join(', ')}`);
  return { source, driver: infos[0].driver, files, layers };
}

/** Describes the layers of one GDAL source (or only `options.layer`). */
async function inspectFile(source: string, options: InspectOptions): Promise<SourceInfo> {
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

/** One band of a raster. */
export interface RasterBandInfo {
  band: number;
  /** Band description, when the file has one. */
  description: string | null;
  /** GDAL data type, e.g. 'Float32', 'Byte'. */
  dataType: string;
  nodata: number | null;
  /** Whether the band has a colour table (typical of class rasters). */
  colorTable: boolean;
  /** Internal overview levels. */
  overviews: number;
  /** GDAL block (tile or strip) size. */
  block: [number, number];
}

export interface RasterInfo {
  source: string;
  /** GDAL driver short name, e.g. 'GTiff'. */
  driver: string;
  width: number;
  height: number;
  bands: RasterBandInfo[];
  crs: CrsInfo | null;
  geoTransform: number[] | null;
  /** [x, y] pixel size in CRS units (y positive). */
  pixelSize: [number, number] | null;
  /** West, south, east, north in lon/lat (west > east across 180°); null without CRS. */
  bounds4326: [number, number, number, number] | null;
  /** For TIFFs: the COG layout check (worker/io/cogcheck.ts); null for other formats. */
  cog: { valid: boolean; errors: string[] } | null;
  /** The value kind a dataset file would most likely declare (a guess: check it). */
  suggestedValueKind: 'continuous' | 'categorical';
}

/**
 * Describes a raster without reading its pixels: size, bands, nodata, CRS, pixel size, lon/lat
 * bounds, blocks, overviews and (for TIFFs) whether the file is a valid COG.
 * @throws CommandError when the source cannot be opened or has no raster bands.
 */
export async function inspectRaster(source: string): Promise<RasterInfo> {
  const path = toGdalPath(source);
  if (missingLocalPath(path)) throw new CommandError(`'${source}': no such file or directory`);
  let ds: gdal.Dataset;
  try {
    ds = await gdal.openAsync(path, 'r');
  } catch (err) {
    throw new CommandError(`cannot open '${source}': ${firstLine((err as Error).message)}`);
  }
  try {
    const count = ds.bands.count();
    if (count === 0) throw new CommandError(`'${source}' has no raster bands (driver ${ds.driver.description})`);
    const bands: RasterBandInfo[] = [];
    for (let b = 1; b <= count; b++) {
      const band = ds.bands.get(b);
      bands.push({
        band: b,
        description: band.description || null,
        dataType: band.dataType ?? 'unknown',
        nodata: band.noDataValue ?? null,
        colorTable: band.colorTable !== null && band.colorTable !== undefined,
        overviews: band.overviews.count(),
        block: [band.blockSize.x, band.blockSize.y],
      });
    }
    const { x: width, y: height } = ds.rasterSize;
    const gt = ds.geoTransform;
    const srs = ds.srs;
    let bounds: RasterInfo['bounds4326'] = null;
    if (srs && gt) {
      try {
        bounds = footprintBounds4326(srs, gt, width, height);
      } catch {
        bounds = null;
      }
    }
    const tiff = ds.driver.description === 'GTiff' || ds.driver.description === 'COG';
    const check = tiff ? await validateCog(source).catch(() => null) : null;
    const integer = /Byte|Int/.test(bands[0]!.dataType);
    return {
      source,
      driver: ds.driver.description,
      width,
      height,
      bands,
      crs: srs ? describeCrs(srs) : null,
      geoTransform: gt ?? null,
      pixelSize: gt ? [Math.hypot(gt[1]!, gt[4]!), Math.hypot(gt[2]!, gt[5]!)] : null,
      bounds4326: bounds,
      cog: check ? { valid: check.valid, errors: check.errors } : null,
      suggestedValueKind: count === 1 && integer && bands[0]!.colorTable ? 'categorical' : 'continuous',
    };
  } finally {
    ds.close();
  }
}

/**
 * Whether GDAL opens `source` as a raster: it has raster bands and no vector layers. False when
 * GDAL cannot open it at all (the vector path then reports why).
 */
export async function isRasterSource(source: string): Promise<boolean> {
  configureGdalS3();
  const path = toGdalPath(source);
  if (missingLocalPath(path)) return false;
  let ds: gdal.Dataset;
  try {
    ds = await gdal.openAsync(path, 'r');
  } catch {
    return false;
  }
  try {
    // A vector-only dataset has no band collection at all (null), a raster-only one no layers.
    const bands = ds.bands ? await ds.bands.countAsync() : 0;
    const layers = ds.layers ? await ds.layers.countAsync() : 0;
    return bands > 0 && layers === 0;
  } finally {
    ds.close();
  }
}

/** Human-readable raster report, ending in the dataset-file entry that would process it. */
export function formatRasterInfo(info: RasterInfo): string {
  const out = [`${info.source}  (driver ${info.driver}, raster ${info.width.toLocaleString('en-US')} × ${info.height.toLocaleString('en-US')}, ${plural(info.bands.length, 'band')})`, ''];
  const row = (label: string, value: string) => out.push(`  ${label.padEnd(10)}${value}`);
  const crs = info.crs;
  row('crs', crs ? [crs.authority, crs.name].filter(Boolean).join('  ') || 'unnamed CRS' : 'none');
  if (info.pixelSize) row('pixel', `${info.pixelSize.map((v) => String(Number(v.toPrecision(6)))).join(' × ')} (CRS units)`);
  row('bounds', info.bounds4326 ? `${formatExtent(info.bounds4326)} (lon/lat${info.bounds4326[0] > info.bounds4326[2] ? ', crosses 180°' : ''})` : 'unknown');
  const b0 = info.bands[0]!;
  row('blocks', `${b0.block[0]} × ${b0.block[1]}, ${plural(b0.overviews, 'overview')}`);
  row('cog', info.cog ? (info.cog.valid ? 'valid Cloud-Optimized GeoTIFF' : `no (${info.cog.errors[0] ?? 'not a COG'})`) : 'not a TIFF');
  row('bands', String(info.bands.length));
  for (const b of info.bands)
    out.push(`    ${String(b.band).padEnd(4)}${b.dataType.padEnd(9)}nodata ${b.nodata === null ? 'none' : String(b.nodata)}${b.colorTable ? ', colour table' : ''}${b.description ? `  "${b.description}"` : ''}`);
  const key = slugify(info.source.split('/').pop()!.replace(/\.[^.]*$/, '')) || 'raster';
  out.push(
    '',
    'In a dataset file (docs/datasets.md#raster-datasets; value kind guessed: continuous, count or categorical):',
    `  rasters: { '${key}': { source: '${info.source}', valueKind: '${info.suggestedValueKind}' } },`,
  );
  return out.join('\n') + '\n';
}

/** Human-readable report: one block per layer, fields aligned in a two-column table. */
export function formatSourceInfo(info: SourceInfo): string {
  const out = [`${info.source}  (driver ${info.driver}, ${plural(info.layers.length, 'layer')}${info.files ? `, merged from ${plural(info.files.length, 'file')}` : ''})`];
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
  summary: 'describe a source: layers, types, counts, CRS, fields; or a raster\'s bands, grid and COG layout',
  help: `Usage: cng inspect <source> [--json] [--layer NAME] [--source-path PATH]

Describe a vector source as GDAL sees it: the driver and, for every layer and
non-spatial table, its geometry type, exact feature count, CRS, extent (in the
layer's own CRS), FID and geometry columns, and fields with their types. Use it
to choose the layers and columns a dataset definition converts.

For a raster (GDAL finds bands and no vector layers): size, bands (type, nodata,
description, colour table), CRS, pixel size, lon/lat bounds, blocks, overviews,
whether it already is a valid COG, and the dataset-file entry that processes it.
No pixels are read.

<source> is a local file or directory (e.g. a .gdb), s3://bucket/key,
https://..., or a GDAL virtual path (/vsis3/, /vsicurl/, /vsizip/...). A .zip
(local, s3:// or https://) is read through /vsizip/, at PATH inside it with
--source-path. Several files (comma-separated, or a file-name glob such as
'raw/tl_2024_*_tract.zip') are described as convert merges them: their layers
by name (files of one layer each under the first file's layer name), feature
counts summed.
For S3 outside AWS set AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), plus
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.

Options:
  --json          Print JSON (one object with a "layers" array; includes each
                  CRS's WKT) instead of the readable report
  --layer NAME    Describe only layer NAME (an unknown name lists the layers)
  --source-path PATH  the path inside each .zip source, e.g. SVI2022_US_county.gdb
  -h, --help      Show this help

Exit status: 0 on success, 1 if the source cannot be read or the layer does
not exist, 2 on a usage error.

Examples:
  cng inspect PADUS4_1Geodatabase.gdb
  cng inspect s3://public-padus/PADUS4_1Geodatabase.gdb --layer PADUS4_1Fee --json
  cng inspect s3://public-carbon/raw/vulnerable_c_total_2018.tif
  cng inspect https://svi.cdc.gov/Documents/Data/2022/db/states_counties/SVI_2022_US_county.zip --source-path SVI2022_US_county.gdb
  cng inspect 'data/tl_2024_*_tract.zip'
`,
  options: flagOptions(['layer', 'source-path'], ['json']),
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length === 0 ? 'missing <source>' : `expected one <source>, got ${positionals.length}`);
    }
    configureGdalS3();
    if (await isRasterSource(positionals[0])) {
      if (str(values.layer) !== undefined) throw new UsageError('--layer applies to vector sources; this is a raster');
      const raster = await inspectRaster(positionals[0]);
      process.stdout.write(values.json ? JSON.stringify(raster, null, 2) + '\n' : formatRasterInfo(raster));
      return EXIT.ok;
    }
    const info = await inspectSource(positionals[0], { layer: str(values.layer), sourcePath: str(values['source-path']) });
    process.stdout.write(values.json ? JSON.stringify(info, null, 2) + '\n' : formatSourceInfo(info));
    return EXIT.ok;
  },
};
