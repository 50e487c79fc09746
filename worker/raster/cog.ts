/**
 * `cog`: one or more GDAL rasters → one Cloud-Optimized GeoTIFF, plus the info JSON that the
 * raster-hex and raster-manifest stages read.
 *
 * Pipeline:
 * 1. Open every `--source` (`s3://` → the CNG_STORAGE_DIR file or `/vsis3/`; `http(s)://` →
 *    `/vsicurl/`; `/vsi*`; paths). Missing, corrupt (incl. TIFFs whose tiles or strips run past
 *    the end of the file) and non-raster sources fail with one line naming the source and GDAL's
 *    reason. Sources must agree on band count, data types and CRS (no implicit reprojection:
 *    mosaicking across CRSs is refused, reproject first). Sources with a rotated geotransform,
 *    without geotransform or without CRS are refused. With several sources of different pixel sizes the finest one is
 *    used (nearest neighbour), except for `count` rasters, where resampling would change the
 *    totals: refused.
 * 2. One nodata value: the first declared nodata of the sources (in --source order), else the
 *    first `--nodata` value, else none. Every other declared nodata value and every other
 *    `--nodata` value is collapsed into it: a VRT mosaic (gdalbuildvrt: each source's own nodata
 *    masks its pixels, the VRT's nodata fills them and any gap between sources; where sources
 *    overlap the later one wins) and, when `--nodata` lists values other than the output nodata,
 *    a block-by-block pass into a temporary tiled GeoTIFF rewriting those pixels. The collapsed
 *    values are listed in the info (`nodataCollapsed`). A NaN nodata of a float raster is kept as
 *    the COG's nodata but written as `null` in the info JSON (JSON has no NaN): NaN pixels of a
 *    float raster are never valid values.
 * 3. `--bands 1,3` keeps those bands in that order; names are the band descriptions, else
 *    `band_<n>` with n the band's number in the source.
 * 4. GDAL's COG driver: 512×512 tiles, DEFLATE + predictor (2 for integers, 3 for floats),
 *    internal overviews resampled with AVERAGE (continuous, count) or MODE (categorical),
 *    BigTIFF when the output might exceed 4 GB, NUM_THREADS = the pod's CPUs. The result is
 *    checked with validateCog (worker/io/cogcheck.ts) before it is uploaded (atomically, COG
 *    first, then the info JSON).
 * 5. A single source that already is a valid COG (DEFLATE, LZW or ZSTD, tiled, validated) and
 *    needs no band selection or nodata rewrite is copied byte for byte (`copied: true`).
 * Temporary files live in a mkdtemp directory under $TMPDIR and are removed. Re-runs rewrite
 * the same outputs.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { diskFullError, expectScratch, noteWriteFailure } from '../core/disk-full.ts';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import gdal, { type Dataset, type SpatialReference } from 'gdal-async';
import { CommandError, UsageError } from '../core/errors.ts';
import { validateCog, type CogCheck } from '../io/cogcheck.ts';
import { configureGdalS3, isGdalName, missingLocalPath, toGdalPath } from '../io/gdal.ts';
import { configureGdalCache, readLimits } from '../core/limits.ts';
import { log } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import { cogStageDef, type ValueKind } from './stages.ts';
import { Storage } from '../io/storage.ts';
import { firstLine } from '../core/text.ts';
import { crsName, footprintBounds4326 } from './footprint.ts';

export { crsName, footprintBounds4326 };

const STAGE = 'cog';

/** The info JSON written by `cog --info` (version 1), read by raster-hex and raster-manifest. */
export interface CogInfo {
  version: 1;
  /** The sources as given. */
  sources: string[];
  valueKind: ValueKind;
  width: number;
  height: number;
  /** The COG's bands: `band` is its 1-based number in the COG; `name` the description, else `band_<n>` (n: number in the source). */
  bands: { band: number; name: string; dataType: string }[];
  /** Authority code like 'EPSG:4326' when known, else WKT. */
  crs: string;
  /** The COG's geotransform. */
  geoTransform: number[];
  /** West, south, east, north of the footprint in lon/lat (west > east when it crosses 180°). */
  bounds4326: [number, number, number, number];
  /** The COG's single nodata value (null: none, or NaN for a float raster). */
  nodata: number | null;
  /** Other values that were rewritten to `nodata` (empty when none). */
  nodataCollapsed: number[];
  /** True when the input already was a valid COG and was copied as is. */
  copied: boolean;
  bigtiff: boolean;
  /** Internal overview levels. */
  overviews: number;
  /** COG size in bytes. */
  bytes: number;
  /** The hex value column of a one-band raster (`--value-column`); absent: `value` (categorical: `class`). */
  valueColumn?: string;
  /** Hexed value = raw aggregate × scale + offset (also the COG bands' GDAL scale and offset); absent: 1 and 0. */
  scale?: number;
  offset?: number;
}

/** Parsed `cog` options. */
export interface CogParams {
  sources: string[];
  out: string;
  info: string;
  valueKind: ValueKind;
  /** 1-based source bands to keep, in this order (undefined: all). */
  bands?: number[];
  /** Extra values meaning "no data". */
  nodata: number[];
  /** The raster's key in the dataset file, named in errors and the failure record. */
  raster?: string;
  valueColumn?: string;
  scale?: number;
  offset?: number;
}

/** What a failed cog stage leaves next to its info JSON (`cog-failed.json`): the docs stage and `cng run` name it. */
export interface CogFailure {
  version: 1;
  raster: string | null;
  sources: string[];
  error: string;
  time: string;
}

/** Where the failure record of the info JSON at `info` is. */
export function failureUrl(info: string): string {
  return info.replace(/[^/]*$/, 'cog-failed.json');
}

/** The `cog` stage: see the module comment. */
export async function cogStage(opts: RawOptions): Promise<void> {
  const p = parseCogOptions(opts);
  const storage = new Storage();
  const record = failureUrl(p.info);
  try {
    await makeCog(p);
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    // One line naming the raster and its source(s); the record says the same to the docs stage.
    const named = p.raster ? `raster ${p.raster}: ${err.message}` : err.message;
    const message = p.sources.some((u) => named.includes(u)) ? named : `${named} (source ${quoted(p.sources)})`;
    const failure: CogFailure = { version: 1, raster: p.raster ?? null, sources: p.sources, error: message, time: new Date().toISOString() };
    // A full scratch disk is the pod's failure, not the raster's: it writes nothing (docs/stages.md, cog).
    if (!diskFullError(err)) await storage.writeText(record, JSON.stringify(failure, null, 2) + '\n').catch(() => undefined);
    err.message = message; // keeps the error's class (its exit code)
    throw err;
  }
  if (await storage.exists(record)) await storage.deletePrefix(record);
}

/** Validates the stage's options. @throws UsageError for malformed values. */
export function parseCogOptions(opts: RawOptions): CogParams {
  const { source: sources, valueKind, valueColumn, ...o } = cogStageDef.parse(opts);
  if (o.bands && new Set(o.bands).size !== o.bands.length) throw new UsageError(`--bands lists a band twice: '${opts.bands}'`);
  if (valueKind === 'categorical' && (o.scale !== undefined || o.offset !== undefined)) throw new UsageError('--scale and --offset apply to continuous and count rasters, not class codes');
  if (valueKind === 'count' && o.offset !== undefined) throw new UsageError('--offset would be added once per pixel of a count raster; use --scale only');
  if (o.scale === 0) throw new UsageError("--scale must not be 0, got '0'");
  return { sources, valueKind, ...o, ...(valueColumn ? { valueColumn } : {}) };
}

/** One opened source raster. */
interface Source {
  url: string;
  /** What GDAL opens. */
  path: string;
  ds: Dataset;
  width: number;
  height: number;
  bandCount: number;
  dataTypes: string[];
  nodata: (number | null)[];
  descriptions: string[];
  /** Each band's GDAL scale and offset metadata (1 and 0 when none). */
  scaling: { scale: number; offset: number }[];
  srs: SpatialReference;
  geoTransform: number[];
  /** Layout check of a TIFF source (null: not a TIFF, or not range-readable). */
  check: CogCheck | null;
}

/**
 * Runs the whole stage: builds (or copies) the COG, uploads it to `p.out` and writes the info
 * JSON to `p.info`. Returns the info.
 */
export async function makeCog(p: CogParams, env: NodeJS.ProcessEnv = process.env): Promise<CogInfo> {
  const started = Date.now();
  const storage = new Storage(env);
  configureGdalS3(env);
  configureGdalCache();
  const sources: Source[] = [];
  let work: string | undefined;
  try {
    for (const url of p.sources) sources.push(await openSource(url, storage, env));
    const first = sources[0]!;
    log(STAGE, `${sources.length} source(s): ${first.width}×${first.height}${sources.length > 1 ? ' (first)' : ''}, ${first.bandCount} band(s) ${[...new Set(first.dataTypes)].join('/')}, ${crsName(first.srs)}`);
    checkCompatible(sources, p.valueKind);
    const bands = p.bands ?? Array.from({ length: first.bandCount }, (_, i) => i + 1);
    for (const b of bands) if (b > first.bandCount) throw new CommandError(`--bands ${b}: '${first.url}' has only ${first.bandCount} band(s)`);
    const dataType = first.dataTypes[bands[0]! - 1]!;
    if (bands.some((b) => first.dataTypes[b - 1] !== dataType))
      throw new CommandError(`the selected bands have different data types (${bands.map((b) => first.dataTypes[b - 1]).join(', ')}); a GeoTIFF has one: select bands of one type with --bands`);
    if (p.valueKind === 'categorical' && /Float/.test(dataType)) log(STAGE, `warning: categorical raster with ${dataType} values (classes are usually integers)`);

    const plan = nodataPlan(sources, bands, p.nodata, dataType);
    if (plan.unrepresentable.length)
      log(STAGE, `--nodata value(s) ${plan.unrepresentable.join(', ')} cannot occur in ${dataType} pixels: ignored`);
    if (plan.nodata !== null && !fits(plan.nodata, dataType))
      throw new CommandError(`nodata ${plan.nodata} cannot be stored in ${dataType} pixels; give a --nodata value that fits the data type first`);
    const names = bands.map((b) => first.descriptions[b - 1] || `band_${b}`);

    // Already a COG: copy as is.
    const identityBands = bands.length === first.bandCount && bands.every((b, i) => b === i + 1);
    const scaling = { scale: p.scale ?? 1, offset: p.offset ?? 0 };
    let why = copyBlocker(sources, identityBands, plan) ?? scalingBlocker(first, bands, scaling);
    if (why === null && existsSync(first.path)) {
      // A local file: the full check too (tile order, leader and trailer bytes) before trusting it.
      const full = await validateCog(first.path, { env, fullCheck: true });
      if (!full.valid) why = `not a valid COG (${full.errors[0]})`;
    }
    if (why === null) {
      log(STAGE, `'${first.url}' already is a valid COG (${first.check!.compression}, ${first.check!.blockWidth}×${first.check!.blockHeight} tiles, ${first.check!.overviews.length} overviews): copying it as is`);
      const info = await describe(p, first.ds, first.check!, names, plan, true);
      if (!sameLocation(first.url, p.out, storage)) {
        work = await mkdtemp(join(env.TMPDIR ?? tmpdir(), 'cng-cog-'));
        await copyObject(first.url, p.out, storage, work);
      }
      await storage.writeText(p.info, JSON.stringify(info, null, 2) + '\n');
      log(STAGE, `copied '${first.url}' to ${p.out} (${mb(info.bytes)}, ${info.width}×${info.height}, ${info.overviews} overviews) and wrote ${p.info} in ${secs(started)}`);
      return info;
    }
    if (sources.length === 1 && first.check?.valid) log(STAGE, `'${first.url}' is a valid COG but is rewritten: ${why}`);

    work = await mkdtemp(join(env.TMPDIR ?? tmpdir(), 'cng-cog-'));
    const threads = readLimits(env).cpus;
    let input = await mosaic(sources, bands, names, plan.nodata, join(work, 'mosaic.vrt'), sources.length > 1 && !sameResolution(sources), scaling);
    const bytesPerSample = Number(/\d+/.exec(input.bands.get(1).dataType ?? '')?.[0] ?? 8) / 8; // Float32: 4, Byte: 1
    expectScratch(work, (plan.rewrite.length > 0 ? 2 : 1) * 1.34 * input.rasterSize.x * input.rasterSize.y * input.bands.count() * bytesPerSample); // the COG with overviews (and the collapsed copy)
    const local = join(work, 'out.tif');
    try {
      if (plan.rewrite.length > 0) {
        const collapsed = await collapseNodata(input, plan.rewrite, plan.nodata!, join(work, 'collapsed.tif'), threads, quoted(p.sources));
        input.close();
        input = collapsed;
      }
      await writeCog(input, local, p.valueKind, threads, p.sources);
    } finally {
      input.close();
    }

    const check = await validateCog(local, { env });
    if (!check.valid) throw new CommandError(`GDAL wrote a COG that fails the layout check: ${check.errors.join('; ')}`);
    const cog = await gdal.openAsync(local);
    let info: CogInfo;
    try {
      info = await describe(p, cog, check, names, plan, false);
    } finally {
      cog.close();
    }
    await storage.upload(local, p.out);
    await storage.writeText(p.info, JSON.stringify(info, null, 2) + '\n');
    const collapsed = info.nodataCollapsed.length ? `, collapsed ${info.nodataCollapsed.join(', ')}` : '';
    log(STAGE, `wrote ${p.out} (${info.width}×${info.height}, ${info.bands.length} band(s) ${dataType}, ${info.overviews} overviews, ${mb(info.bytes)}${info.bigtiff ? ', BigTIFF' : ''}, nodata ${nodataText(plan.nodata)}${collapsed}) and ${p.info} in ${secs(started)}`);
    return info;
  } finally {
    for (const s of sources) s.ds.close();
    if (work) await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Sources

/** Opens a source raster. @throws CommandError naming the source and GDAL's reason. */
async function openSource(url: string, storage: Storage, env: NodeJS.ProcessEnv): Promise<Source> {
  let path = toGdalPath(url);
  if (url.startsWith('s3://')) {
    const loc = storage.resolve(url);
    if (loc.kind === 'file') path = loc.path;
  }
  if (missingLocalPath(path)) throw new CommandError(`'${url}': no such file or directory`);
  let ds: Dataset;
  try {
    ds = await gdal.openAsync(path, 'r');
  } catch (err) {
    throw new CommandError(`cannot open '${url}' as a raster: ${firstLine((err as Error).message)}`);
  }
  try {
    // Async getters: for a remote source GDAL may fetch bytes (e.g. probe side-car files), which
    // must not block the event loop.
    const bandCount = await ds.bands.countAsync();
    if (bandCount === 0) throw new CommandError(`'${url}' is not a raster (driver ${ds.driver.description}, no bands)`);
    const srs = await ds.srsAsync;
    if (!srs) throw new CommandError(`'${url}' has no CRS: its coordinates cannot be placed (assign one, e.g. gdal_edit.py -a_srs EPSG:4326)`);
    const gt = await ds.geoTransformAsync;
    if (!gt || (gt[0] === 0 && gt[1] === 1 && gt[3] === 0 && gt[5] === 1)) throw new CommandError(`'${url}' has no geotransform (not georeferenced)`);
    const size = await ds.rasterSizeAsync;
    const dataTypes: string[] = [];
    const nodata: (number | null)[] = [];
    const descriptions: string[] = [];
    const scaling: Source['scaling'] = [];
    for (let b = 1; b <= bandCount; b++) {
      const band = await ds.bands.getAsync(b);
      dataTypes.push((await band.dataTypeAsync) ?? 'unknown');
      nodata.push(await band.noDataValueAsync);
      descriptions.push((await band.descriptionAsync) ?? '');
      scaling.push({ scale: (await band.scaleAsync) ?? 1, offset: (await band.offsetAsync) ?? 0 });
    }
    let check: CogCheck | null = null;
    // The TIFF layout is checked on local files, /vsis3/ and /vsicurl/; not inside archives or subdataset names.
    if (ds.driver.description === 'GTiff' && !(isGdalName(url) && !/^\/vsi(s3|curl)\//.test(url))) {
      try {
        check = await validateCog(path.startsWith('/vsi') ? url : path, { env, fullCheck: false });
      } catch (err) {
        if (!(err instanceof CommandError)) throw err;
        log(STAGE, `cannot inspect the TIFF layout of '${url}': ${err.message}`);
      }
      const broken = check?.errors.find((e) => /past the end of the file|not a readable TIFF/.test(e));
      if (broken) throw new CommandError(`'${url}' is a corrupt TIFF: ${broken}`);
    }
    return { url, path, ds, width: size.x, height: size.y, bandCount, dataTypes, nodata, descriptions, scaling, srs, geoTransform: gt, check };
  } catch (err) {
    ds.close();
    throw err;
  }
}

/** Refuses sources that cannot be mosaicked into one COG. */
function checkCompatible(sources: Source[], kind: ValueKind): void {
  const first = sources[0]!;
  for (const s of sources) {
    if (s.geoTransform[2] !== 0 || s.geoTransform[4] !== 0)
      throw new CommandError(`'${s.url}' has a rotated geotransform; the pipeline needs north-up rasters (warp it first, e.g. gdalwarp)`);
    if (s === first) continue;
    if (s.bandCount !== first.bandCount)
      throw new CommandError(`sources have different band counts: '${first.url}' has ${first.bandCount}, '${s.url}' has ${s.bandCount}`);
    if (s.dataTypes.join() !== first.dataTypes.join())
      throw new CommandError(`sources have different data types: '${first.url}' is ${first.dataTypes.join('/')}, '${s.url}' is ${s.dataTypes.join('/')}`);
    if (!s.srs.isSame(first.srs))
      throw new CommandError(`sources have different CRSs: '${first.url}' is ${crsName(first.srs)}, '${s.url}' is ${crsName(s.srs)}; reproject them to one CRS first (the cog stage does not warp)`);
  }
  if (sources.length > 1 && !sameResolution(sources)) {
    const res = sources.map((s) => `${s.url}: ${Math.abs(s.geoTransform[1]!)}×${Math.abs(s.geoTransform[5]!)}`).join(', ');
    if (kind === 'count') throw new CommandError(`sources have different pixel sizes (${res}); a count raster cannot be resampled without changing its totals`);
    log(STAGE, `warning: sources have different pixel sizes (${res}); mosaicking at the finest one (nearest neighbour)`);
  }
}

function sameResolution(sources: Source[]): boolean {
  const [dx, dy] = [sources[0]!.geoTransform[1]!, sources[0]!.geoTransform[5]!];
  const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  return sources.every((s) => near(s.geoTransform[1]!, dx) && near(s.geoTransform[5]!, dy));
}

// ---------------------------------------------------------------------------------------------
// Nodata

interface NodataPlan {
  /** The output nodata (null: none). */
  nodata: number | null;
  /** Values collapsed into it (declared by sources, or --nodata), in first-seen order. */
  collapsed: number[];
  /** --nodata values whose pixels must be rewritten (sources' declared ones are masked by the VRT). */
  rewrite: number[];
  /** --nodata values that cannot occur in the data type. */
  unrepresentable: number[];
  /** Whether the output nodata comes from --nodata (no source declared one). */
  assigned: boolean;
}

/** Chooses the output nodata and what collapses into it (see the module comment). */
export function nodataPlanFor(declared: (number | null)[], extra: number[], dataType: string): NodataPlan {
  const same = (a: number, b: number) => a === b || (Number.isNaN(a) && Number.isNaN(b));
  const firstDeclared = declared.find((v): v is number => v !== null);
  const nodata = firstDeclared ?? extra[0] ?? null;
  const collapsed: number[] = [];
  for (const v of [...declared.filter((v): v is number => v !== null), ...extra])
    if (nodata !== null && !same(v, nodata) && !collapsed.some((c) => same(c, v))) collapsed.push(v);
  const unrepresentable = extra.filter((v) => !fits(v, dataType));
  const rewrite = extra.filter((v) => nodata !== null && !same(v, nodata) && fits(v, dataType)).filter((v, i, a) => a.findIndex((w) => same(w, v)) === i);
  return { nodata, collapsed: collapsed.filter((v) => fits(v, dataType) || declared.includes(v)), rewrite, unrepresentable, assigned: firstDeclared === undefined && nodata !== null };
}

function nodataPlan(sources: Source[], bands: number[], extra: number[], dataType: string): NodataPlan {
  return nodataPlanFor(sources.flatMap((s) => bands.map((b) => s.nodata[b - 1]!)), extra, dataType);
}

/** Whether a value can be a pixel value of a GDAL data type. */
function fits(v: number, dataType: string): boolean {
  if (/Float/.test(dataType)) return dataType !== 'Float32' || Number.isNaN(v) || Math.abs(v) <= 3.4028234663852886e38;
  if (!Number.isInteger(v)) return false;
  const range: Record<string, [number, number]> = {
    Byte: [0, 255], Int8: [-128, 127], UInt16: [0, 65535], Int16: [-32768, 32767], UInt32: [0, 4294967295], Int32: [-2147483648, 2147483647],
    UInt64: [0, Number.MAX_SAFE_INTEGER], Int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  };
  const r = range[dataType];
  return r ? v >= r[0] && v <= r[1] : true;
}

// ---------------------------------------------------------------------------------------------
// Copying an existing COG

/** Why a source's bands cannot keep their scale and offset metadata (null: they already are `want`). */
function scalingBlocker(s: Source, bands: number[], want: { scale: number; offset: number }): string | null {
  const off = bands.find((b) => s.scaling[b - 1]!.scale !== want.scale || s.scaling[b - 1]!.offset !== want.offset);
  return off === undefined ? null : `band ${off} needs scale ${want.scale} and offset ${want.offset} (it has ${s.scaling[off - 1]!.scale} and ${s.scaling[off - 1]!.offset})`;
}

/** Why a single source cannot just be copied (null: it can). */
function copyBlocker(sources: Source[], identityBands: boolean, plan: NodataPlan): string | null {
  if (sources.length > 1) return 'several sources';
  const s = sources[0]!;
  if (!s.check) return 'not a GeoTIFF';
  if (!s.check.valid) return `not a valid COG (${s.check.errors[0]})`;
  if (!['DEFLATE', 'LZW', 'ZSTD'].includes(s.check.compression)) return `compression ${s.check.compression}`;
  if (!s.check.tiled) return 'not tiled';
  if (!identityBands) return '--bands selects bands';
  if (plan.assigned) return `nodata ${plan.nodata} must be assigned`;
  if (plan.collapsed.length > 0) return `nodata values ${plan.collapsed.join(', ')} must be collapsed`;
  return null;
}

function sameLocation(a: string, b: string, storage: Storage): boolean {
  const x = storage.resolve(a);
  const y = storage.resolve(b);
  if (x.kind === 'file' && y.kind === 'file') return x.path === y.path;
  return x.kind === 's3' && y.kind === 's3' && x.bucket === y.bucket && x.key === y.key;
}

/** Copies the source's bytes to `out` (through a local file unless the source is one). */
async function copyObject(url: string, out: string, storage: Storage, work: string): Promise<void> {
  let local: string;
  const vsis3 = url.startsWith('/vsis3/') ? `s3://${url.slice('/vsis3/'.length)}` : url;
  const loc = storage.resolve(vsis3);
  if (loc.kind === 'file' && !/^https?:\/\/|^\/vsicurl\//i.test(url)) local = loc.path;
  else if (loc.kind === 's3' && vsis3.startsWith('s3://')) {
    local = join(work, 'copy.tif');
    await storage.download(vsis3, local);
  } else {
    local = join(work, 'copy.tif');
    const href = url.replace(/^\/vsicurl\//, '');
    const r = await fetch(href).catch((err) => {
      throw new CommandError(`'${url}': ${(err as Error).message}`);
    });
    if (!r.ok || !r.body) throw new CommandError(`'${url}': HTTP ${r.status}`);
    await pipeline(Readable.fromWeb(r.body as import('node:stream/web').ReadableStream), createWriteStream(local));
  }
  await storage.upload(local, out);
}

// ---------------------------------------------------------------------------------------------
// Building the COG

/**
 * A VRT of the sources with the selected bands, the output nodata (masking each source's own
 * nodata, filling gaps) and the band descriptions.
 */
async function mosaic(
  sources: Source[], bands: number[], names: string[], nodata: number | null, vrtPath: string, mixedResolution: boolean, scaling: { scale: number; offset: number },
): Promise<Dataset> {
  const args = [...bands.flatMap((b) => ['-b', String(b)]), '-vrtnodata', nodata === null ? 'None' : nodataText(nodata)];
  if (mixedResolution) args.push('-resolution', 'highest');
  if (sources.length > 1) log(STAGE, `mosaicking ${sources.length} sources`);
  let vrt: Dataset;
  try {
    vrt = await gdal.buildVRTAsync(vrtPath, sources.map((s) => s.path), args);
  } catch (err) {
    throw new CommandError(`cannot mosaic ${sources.map((s) => `'${s.url}'`).join(', ')}: ${firstLine((err as Error).message)}`);
  }
  if ((await vrt.bands.countAsync()) !== bands.length) {
    vrt.close();
    throw new CommandError(`cannot mosaic ${sources.map((s) => `'${s.url}'`).join(', ')}: GDAL left sources out (incompatible georeferencing)`);
  }
  const described = bands.map((b, i) => (sources[0]!.descriptions[b - 1] ? names[i]! : ''));
  vrt.close();
  // gdal-async cannot set band descriptions: they go into the VRT's XML, with the scale and
  // offset metadata (the pixels stay raw: the COG carries the scale for GDAL-aware readers).
  const scaled = scaling.scale !== 1 || scaling.offset !== 0 ? `\n    <Offset>${scaling.offset}</Offset>\n    <Scale>${scaling.scale}</Scale>` : '';
  let xml = await readFile(vrtPath, 'utf8');
  xml = xml.replace(/(<VRTRasterBand\b[^>]*\bband="(\d+)"[^>]*>)/g, (tag, _open, n: string) => {
    const d = described[Number(n) - 1];
    return `${tag}${d ? `\n    <Description>${escapeXml(d)}</Description>` : ''}${scaled}`;
  });
  await writeFile(vrtPath, xml);
  return gdal.openAsync(vrtPath);
}

/**
 * Copies `src` into a temporary tiled GeoTIFF, window by window, rewriting the pixels equal to
 * one of `values` to `nodata`. Returns the new dataset (src stays open).
 */
async function collapseNodata(src: Dataset, values: number[], nodata: number, path: string, threads: number, what: string): Promise<Dataset> {
  const { x: width, y: height } = src.rasterSize;
  const count = src.bands.count();
  const dst = await gdal.openAsync(path, 'w', 'GTiff', width, height, count, src.bands.get(1).dataType!, [
    'TILED=YES', 'BLOCKXSIZE=512', 'BLOCKYSIZE=512', 'COMPRESS=ZSTD', 'ZSTD_LEVEL=1', 'BIGTIFF=IF_SAFER', `NUM_THREADS=${threads}`,
  ]);
  const descriptions: string[] = [];
  let rewritten: Map<number, number>;
  try {
    dst.srs = src.srs;
    dst.geoTransform = src.geoTransform;
    for (let b = 1; b <= count; b++) {
      const band = dst.bands.get(b);
      band.noDataValue = nodata;
      band.scale = src.bands.get(b).scale ?? 1;
      band.offset = src.bands.get(b).offset ?? 0;
      descriptions.push(src.bands.get(b).description ?? '');
    }
    log(STAGE, `collapsing nodata value(s) ${values.map(nodataText).join(', ')} into ${nodataText(nodata)} (${count} band(s))`);
    rewritten = await rewriteWindows(src, dst, values, nodata, what);
    await dst.flushAsync();
  } finally {
    dst.close();
  }
  // gdal-async cannot set band descriptions: GDAL reads them from the PAM side-car.
  if (descriptions.some((d) => d)) {
    const bandsXml = descriptions.map((d, i) => (d ? `  <PAMRasterBand band="${i + 1}">\n    <Description>${escapeXml(d)}</Description>\n  </PAMRasterBand>\n` : '')).join('');
    await writeFile(`${path}.aux.xml`, `<PAMDataset>\n${bandsXml}</PAMDataset>\n`);
  }
  const counts = [...rewritten].map(([v, n]) => `${nodataText(v)}: ${n} pixel(s)`);
  log(STAGE, `collapsed nodata: ${counts.length ? counts.join(', ') : 'no pixels had those values'}`);
  return gdal.openAsync(path);
}

/**
 * Copies every band of `src` to `dst` in windows of 512 rows × up to 8192 columns (whole tiles of
 * the destination), replacing `values` by `nodata`. Returns how many pixels had each value.
 */
async function rewriteWindows(src: Dataset, dst: Dataset, values: number[], nodata: number, what: string): Promise<Map<number, number>> {
  const { x: width, y: height } = src.rasterSize;
  const count = src.bands.count();
  const hasNaN = values.some((v) => Number.isNaN(v));
  const set = new Set(values.filter((v) => !Number.isNaN(v)));
  const single = set.size === 1 && !hasNaN ? values[0]! : undefined;
  const rewritten = new Map<number, number>();
  const winW = Math.min(width, 8192);
  const winH = 512;
  const windows = Math.ceil(width / winW) * Math.ceil(height / winH);
  let done = 0;
  let last = Date.now();
  for (let y = 0; y < height; y += winH) {
    const h = Math.min(winH, height - y);
    for (let x = 0; x < width; x += winW) {
      const w = Math.min(winW, width - x);
      for (let b = 1; b <= count; b++) {
        let data;
        try {
          data = await src.bands.get(b).pixels.readAsync(x, y, w, h);
        } catch (err) {
          throw new CommandError(`cannot read the pixels of ${what}: ${firstLine((err as Error).message)}`);
        }
        if (single !== undefined) {
          let n = 0;
          for (let i = 0; i < data.length; i++) if (data[i] === single) (data[i] = nodata), n++;
          if (n) rewritten.set(single, (rewritten.get(single) ?? 0) + n);
        } else {
          for (let i = 0; i < data.length; i++) {
            const v = data[i] as number;
            if (set.has(v) || (hasNaN && v !== v)) {
              rewritten.set(v, (rewritten.get(v) ?? 0) + 1);
              data[i] = nodata;
            }
          }
        }
        await dst.bands.get(b).pixels.writeAsync(x, y, w, h, data);
      }
      done++;
      if (Date.now() - last >= 5000) {
        last = Date.now();
        log(STAGE, `collapsing nodata: ${done}/${windows} windows (${((100 * done) / windows).toFixed(0)}%)`);
      }
    }
  }
  return rewritten;
}

/** gdal_translate -of COG with the pipeline's creation options. */
async function writeCog(src: Dataset, path: string, kind: ValueKind, threads: number, sources: string[]): Promise<void> {
  const resampling = kind === 'categorical' ? 'MODE' : 'AVERAGE';
  const args = [
    '-of', 'COG', '-co', 'BLOCKSIZE=512', '-co', 'COMPRESS=DEFLATE', '-co', 'PREDICTOR=YES', '-co', `RESAMPLING=${resampling}`,
    '-co', 'BIGTIFF=IF_SAFER', '-co', `NUM_THREADS=${threads}`,
  ];
  log(STAGE, `writing the COG (${src.rasterSize.x}×${src.rasterSize.y}, DEFLATE + predictor, overviews ${resampling}, ${threads} thread(s))`);
  let lastPct = -1;
  let lastTime = 0;
  try {
    const out = await gdal.translateAsync(path, src, args, {
      progress_cb: (complete: number) => {
        const pct = Math.floor(complete * 100);
        if (pct >= lastPct + 10 && Date.now() - lastTime >= 2000) {
          lastPct = pct;
          lastTime = Date.now();
          log(STAGE, `COG ${pct}%`);
        }
      },
    });
    out.close();
  } catch (err) {
    const e = new CommandError(`cannot write the COG from ${quoted(sources)}: ${firstLine((err as Error).message)}`);
    noteWriteFailure(e, dirname(path)); // GDAL's TIFF writer does not say its disk is full
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Info

async function describe(p: CogParams, ds: Dataset, check: CogCheck, names: string[], plan: NodataPlan, copied: boolean): Promise<CogInfo> {
  const gt = (await ds.geoTransformAsync)!;
  const srs = (await ds.srsAsync)!;
  const { x: width, y: height } = await ds.rasterSizeAsync;
  const bands: CogInfo['bands'] = [];
  for (let i = 0; i < names.length; i++) bands.push({ band: i + 1, name: names[i]!, dataType: (await (await ds.bands.getAsync(i + 1)).dataTypeAsync) ?? 'unknown' });
  return {
    version: 1,
    sources: p.sources,
    valueKind: p.valueKind,
    width,
    height,
    bands,
    crs: crsName(srs, true),
    geoTransform: [...gt],
    bounds4326: footprintBounds4326(srs, gt, width, height),
    nodata: plan.nodata === null || Number.isNaN(plan.nodata) ? null : plan.nodata,
    nodataCollapsed: plan.collapsed.filter((v) => !Number.isNaN(v)),
    copied,
    bigtiff: check.bigtiff,
    overviews: await (await ds.bands.getAsync(1)).overviews.countAsync(),
    bytes: check.bytes,
    ...(p.valueColumn ? { valueColumn: p.valueColumn } : {}),
    ...(p.scale !== undefined && p.scale !== 1 ? { scale: p.scale } : {}),
    ...(p.offset !== undefined && p.offset !== 0 ? { offset: p.offset } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function quoted(urls: string[]): string {
  return urls.map((u) => `'${u}'`).join(', ');
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function nodataText(v: number | null): string {
  return v === null ? 'none' : Number.isNaN(v) ? 'nan' : String(v);
}

function mb(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

function secs(started: number): string {
  return `${((Date.now() - started) / 1000).toFixed(1)} s`;
}

/** First non-empty line of a (GDAL) error message. */
