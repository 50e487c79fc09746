/**
 * Small GDAL helpers shared by the CLI and the worker: S3 configuration, source paths,
 * opening vector datasets with readable errors, and geometry type names.
 *
 * Everything goes through gdal-async built against the system GDAL (3.6.2 on Debian 12).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import gdal, { type Dataset } from 'gdal-async';
import { CommandError } from '../core/errors.ts';
import { firstLine } from '../core/text.ts';

/** GDAL config options derived from an S3 endpoint URL (no secrets in here). */
export interface GdalS3Options {
  AWS_S3_ENDPOINT: string;
  AWS_HTTPS: 'YES' | 'NO';
  AWS_VIRTUAL_HOSTING: 'FALSE';
  CPL_VSIL_USE_TEMP_FILE_FOR_RANDOM_WRITE: 'YES';
}

/**
 * Points GDAL's `/vsis3/` at a non-AWS S3 endpoint (Ceph RGW, Swift, MinIO...).
 *
 * The endpoint comes from `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (the AWS SDK's names),
 * e.g. `http://rook-ceph-rgw-nautiluss3.rook` or `http://127.0.0.1:8080`. GDAL 3.6 does not read
 * those variables itself, so they are translated into `AWS_S3_ENDPOINT` (host[:port]),
 * `AWS_HTTPS` (from the scheme) and path-style addressing; random writes (e.g. COG output) are
 * staged in a temporary file. Without an endpoint nothing is changed, so real AWS keeps working.
 * Credentials are left to GDAL, which reads `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` itself.
 * GDAL's HTTP retries ({@link GDAL_HTTP_RETRY}) are set in every case, for `/vsicurl/` as well.
 *
 * @returns the options that were set, or `null` when no endpoint is configured.
 * @throws CommandError when the endpoint is not an http(s) URL.
 */
export function configureGdalS3(env: NodeJS.ProcessEnv = process.env): GdalS3Options | null {
  configureGdalHttpRetry(env);
  const variable = env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : env.AWS_ENDPOINT_URL ? 'AWS_ENDPOINT_URL' : null;
  if (variable === null) return null;
  const value = env[variable] as string;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CommandError(`${variable} is not a URL: '${value}' (expected e.g. http://host:port)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CommandError(`${variable} must start with http:// or https://, got '${value}'`);
  }
  const options: GdalS3Options = {
    AWS_S3_ENDPOINT: url.host,
    AWS_HTTPS: url.protocol === 'https:' ? 'YES' : 'NO',
    AWS_VIRTUAL_HOSTING: 'FALSE',
    CPL_VSIL_USE_TEMP_FILE_FOR_RANDOM_WRITE: 'YES',
  };
  for (const [key, val] of Object.entries(options)) gdal.config.set(key, val);
  return options;
}

/**
 * GDAL's retries of a failed HTTP request (`/vsis3/`, `/vsicurl/`; GDAL 3.6: 429, 500, 502,
 * 503, 504, and connection resets/timeouts): 5 retries, the first after 1 s, each delay about
 * doubling (≈ 31 s in all). GDAL's default is no retry, so one transient error failed a read.
 */
export const GDAL_HTTP_RETRY = { GDAL_HTTP_MAX_RETRY: '5', GDAL_HTTP_RETRY_DELAY: '1' } as const;

/** Sets {@link GDAL_HTTP_RETRY}, except an option given in the environment (GDAL reads that itself). */
export function configureGdalHttpRetry(env: NodeJS.ProcessEnv = process.env): void {
  for (const [key, val] of Object.entries(GDAL_HTTP_RETRY)) if (env[key] === undefined) gdal.config.set(key, val);
}

/**
 * Maps a source URL to the path GDAL opens: `s3://bucket/key` → `/vsis3/bucket/key` (or, when
 * CNG_STORAGE_DIR names a directory store as for the local runner, `<dir>/bucket/key`, as
 * worker/storage.ts resolves it), `http(s)://...` → `/vsicurl/http(s)://...`. Local paths and
 * `/vsi*` paths are returned unchanged.
 */
export function toGdalPath(source: string, env: NodeJS.ProcessEnv = process.env): string {
  if (source.startsWith('s3://')) {
    const key = source.slice('s3://'.length);
    return env.CNG_STORAGE_DIR ? join(env.CNG_STORAGE_DIR, key) : `/vsis3/${key}`;
  }
  if (/^https?:\/\//i.test(source)) return `/vsicurl/${source}`;
  // A directory store stands for S3 inside GDAL names too: /vsizip//vsis3/b/k.zip/x.shp → /vsizip/<dir>/b/k.zip/x.shp.
  if (env.CNG_STORAGE_DIR && isGdalName(source)) return source.replaceAll('/vsis3/', `${env.CNG_STORAGE_DIR.replace(/\/+$/, '')}/`);
  return source;
}

/**
 * Whether GDAL opens `path` by name rather than as a local file: `/vsi…` paths (`/vsizip/`,
 * `/vsicurl/`, `/vsis3/`, …) and subdataset names `DRIVER:…` (`NETCDF:"file.nc":var`,
 * `GPKG:file.gpkg:table`, `HDF5:"f.h5"://path`). Such names are passed to GDAL unchanged, never
 * resolved or checked as paths.
 */
export function isGdalName(path: string): boolean {
  return path.startsWith('/vsi') || /^[A-Z][A-Z0-9_]*[A-Z0-9]:/.test(path);
}

/** A plain local path that does not exist (GDAL names are left to GDAL, which says what is wrong). */
export function missingLocalPath(path: string): boolean {
  return !isGdalName(path) && !existsSync(path);
}

/**
 * Opens a vector dataset read-only (`s3://`, `https://`, `/vsi*` or local path).
 *
 * @throws CommandError with a one-line message naming `source`: `'x.gdb': no such file or
 *   directory` for a missing local path, `cannot open 'x': <GDAL message>` when GDAL fails, and
 *   `'x' has no vector layers` for e.g. a raster.
 */
export async function openVector(source: string): Promise<Dataset> {
  const path = toGdalPath(source);
  if (missingLocalPath(path)) throw new CommandError(`'${source}': no such file or directory`);
  let ds: Dataset;
  try {
    ds = await gdal.openAsync(path, 'r');
  } catch (err) {
    throw new CommandError(`cannot open '${source}': ${firstLine((err as Error).message)}`);
  }
  if ((await ds.layers.countAsync()) === 0) {
    const driver = ds.driver.description;
    ds.close();
    throw new CommandError(`'${source}' has no vector layers (driver ${driver})`);
  }
  return ds;
}

/** ISO names of the base geometry types, indexed by their WKB code (0-17). */
const BASE_GEOMETRY_NAMES = [
  'Geometry', 'Point', 'LineString', 'Polygon', 'MultiPoint', 'MultiLineString', 'MultiPolygon',
  'GeometryCollection', 'CircularString', 'CompoundCurve', 'CurvePolygon', 'MultiCurve',
  'MultiSurface', 'Curve', 'Surface', 'PolyhedralSurface', 'TIN', 'Triangle',
];

/**
 * Readable name of an OGR geometry type (`layer.geomType`): 'MultiPolygon', 'MultiSurface',
 * '3D MultiPolygon', 'Measured Point', '3D Measured LineString'; 'Geometry' for a layer of mixed
 * types (wkbUnknown) and 'table' for a layer without geometry (wkbNone).
 *
 * gdal-async has no `wkbTypeToString`; its `Geometry.getName()` returns GDAL's spaced names
 * ('3D Multi Polygon'), so the name is decoded here: 2.5D types carry `wkb25DBit`, ISO types add
 * 1000 (Z), 2000 (M) or 3000 (ZM) to the base code.
 */
export function geometryTypeName(wkbType: number): string {
  if (wkbType === gdal.wkbNone) return 'table';
  const code = wkbType >>> 0;
  const has25D = (code & (gdal.wkb25DBit >>> 0)) !== 0;
  const iso = code & 0x7fffffff;
  const base = BASE_GEOMETRY_NAMES[iso % 1000];
  const dims = Math.floor(iso / 1000);
  if (base === undefined || dims > 3) return `unknown geometry type ${wkbType}`;
  const z = has25D || dims === 1 || dims === 3 ? '3D ' : '';
  const m = dims >= 2 ? 'Measured ' : '';
  return `${z}${m}${base}`;
}

/** First non-empty line of a (GDAL) error message. */
