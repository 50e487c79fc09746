/**
 * Raster test inputs written with gdal-async: small GeoTIFFs (or any GDAL raster driver) whose
 * pixel values come from a function, so tests can compute the expected answer independently.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import gdal from 'gdal-async';

export interface RasterFixture {
  width: number;
  height: number;
  /** Bands. @default 1 */
  bands?: number;
  /** GDAL data type name. @default 'Float32' */
  type?: 'Byte' | 'Int16' | 'UInt16' | 'Int32' | 'UInt32' | 'Float32' | 'Float64';
  /** Any CRS GDAL understands ('EPSG:4326', 'EPSG:5070', 'ESRI:102039', WKT). @default 'EPSG:4326' */
  srs?: string;
  /** GDAL geotransform [x0, dx, 0, y0, 0, dy] (dy < 0 for north-up). */
  geoTransform: [number, number, number, number, number, number];
  /** Declared nodata value of every band. @default none */
  nodata?: number;
  /** Pixel value at column x, row y of 1-based band b. */
  value: (x: number, y: number, band: number) => number;
  /** GDAL driver. @default 'GTiff' */
  driver?: string;
  /** Creation options, e.g. ['TILED=YES', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256']. @default [] */
  creationOptions?: string[];
  /** Band descriptions (names), written to the `<path>.aux.xml` side-car GDAL reads them from. @default none */
  descriptions?: string[];
}

/**
 * Writes a raster fixture to `path` and returns `path`. The data is built in memory, one band at
 * a time, so keep fixtures small (a few million pixels at most). Use driver 'COG' for a file that
 * already is a Cloud-Optimized GeoTIFF (written through a MEM dataset and `gdal.translate`).
 */
export function writeRaster(path: string, f: RasterFixture): string {
  mkdirSync(dirname(path), { recursive: true });
  const bands = f.bands ?? 1;
  const type = f.type ?? 'Float32';
  const cog = (f.driver ?? 'GTiff') === 'COG';
  const target = cog ? gdal.open('mem', 'w', 'MEM', f.width, f.height, bands, type)
    : gdal.open(path, 'w', f.driver ?? 'GTiff', f.width, f.height, bands, type, f.creationOptions ?? []);
  target.srs = gdal.SpatialReference.fromUserInput(f.srs ?? 'EPSG:4326');
  target.geoTransform = f.geoTransform;
  const Array_ = arrayType(type);
  for (let b = 1; b <= bands; b++) {
    const band = target.bands.get(b);
    if (f.nodata !== undefined) band.noDataValue = f.nodata;
    const data = new Array_(f.width * f.height);
    for (let y = 0; y < f.height; y++) for (let x = 0; x < f.width; x++) data[y * f.width + x] = f.value(x, y, b);
    band.pixels.write(0, 0, f.width, f.height, data);
  }
  target.flush();
  if (cog) {
    gdal.translate(path, target, ['-of', 'COG', ...(f.creationOptions ?? []).flatMap((o) => ['-co', o])]).close();
  }
  target.close();
  // gdal-async cannot set band descriptions: GDAL reads them from the PAM side-car file.
  if (f.descriptions?.length) {
    const esc = (t: string) => t.replaceAll('&', '&amp;').replaceAll('<', '&lt;');
    const bandsXml = f.descriptions.map((d, i) => `  <PAMRasterBand band="${i + 1}">\n    <Description>${esc(d)}</Description>\n  </PAMRasterBand>`).join('\n');
    writeFileSync(`${path}.aux.xml`, `<PAMDataset>\n${bandsXml}\n</PAMDataset>\n`);
  }
  return path;
}

function arrayType(type: NonNullable<RasterFixture['type']>) {
  switch (type) {
    case 'Byte': return Uint8Array;
    case 'Int16': return Int16Array;
    case 'UInt16': return Uint16Array;
    case 'Int32': return Int32Array;
    case 'UInt32': return Uint32Array;
    case 'Float32': return Float32Array;
    case 'Float64': return Float64Array;
  }
}

/**
 * Breaks a (little-endian) TIFF's first IFD the way carbon v2's irrecoverable 2010 file is
 * broken: its entry count is overwritten with 0xFFFF, so libtiff cannot read the directory.
 */
export function corruptIfd(path: string): string {
  const b = readFileSync(path);
  if (b.toString('latin1', 0, 2) !== 'II') throw new Error(`${path}: not a little-endian TIFF`);
  const ifd = b.readUInt32LE(4);
  b.writeUInt16LE(0xffff, ifd);
  writeFileSync(path, b);
  return path;
}
