import { existsSync } from 'node:fs';
import gdal, { type Dataset, type Feature, type Layer } from 'gdal-async';
import { CommandError } from '../core/errors.ts';
import { firstLine } from '../core/text.ts';
import { missingLocalPath, toGdalPath } from '../io/gdal.ts';
import { gdalLogOffset, gdalMessages, gdalReason } from '../io/gdal-log.ts';
import { Storage } from '../io/storage.ts';
import { readLimits } from '../core/limits.ts';
import { log } from '../core/log.ts';

/**
 * Opening a vector source for the vector stages: a local file (also an `s3://` object of the
 * directory store), `/vsis3/`, `/vsicurl/` or another `/vsi*` path, and finding a layer in it.
 */

/** Open options of GDAL's CSV driver: geometry from lon/lat columns, which are then not attributes. */
export const CSV_OPEN_OPTIONS = [
  'X_POSSIBLE_NAMES=lon,longitude,lng,long,x',
  'Y_POSSIBLE_NAMES=lat,latitude,y',
  'KEEP_GEOM_COLUMNS=NO',
];

/**
 * Opens a vector source read-only: `s3://` (a local file under CNG_STORAGE_DIR, else `/vsis3/`),
 * `http(s)://` (`/vsicurl/`), `/vsi*` or a path. CSV files get {@link CSV_OPEN_OPTIONS}; GeoJSON
 * arrays are read as JSON strings. `encoding` (e.g. ISO-8859-1) opens a shapefile with GDAL's
 * ENCODING open option.
 * @throws CommandError naming `source` when it is missing or unreadable, or not a shapefile when
 * `encoding` is given.
 */
export async function openSource(source: string, storage = new Storage(), encoding?: string): Promise<Dataset> {
  let path: string;
  if (/^s3:\/\//.test(source)) {
    const loc = storage.resolve(source);
    path = loc.kind === 'file' ? loc.path : toGdalPath(source);
  } else path = toGdalPath(source);
  // GDAL 3.6 opens `GPKG:<file>:<table>` as the whole vector GeoPackage, after logging a failed
  // lookup of a raster table of that name (which would fail the read): open the file; the layer
  // read is --layer.
  const gpkg = /^GPKG:(.+):[^:/]+$/.exec(path);
  if (gpkg) path = gpkg[1];
  if (missingLocalPath(path)) throw new CommandError(`'${source}': no such file or directory`);
  const previous = gdal.config.get('OGR_GEOJSON_ARRAY_AS_STRING');
  gdal.config.set('OGR_GEOJSON_ARRAY_AS_STRING', 'YES');
  const logStart = gdalLogOffset();
  let ds: Dataset;
  try {
    // Synchronous: gdal-async's Driver.openAsync ignores open options (its 3rd argument).
    if (encoding) ds = openShapefile(path, source, encoding);
    else ds = /\.(csv|tsv)$/i.test(path) ? gdal.drivers.get('CSV').open(path, 'r', CSV_OPEN_OPTIONS) : await gdal.openAsync(path, 'r');
  } catch (err) {
    if (err instanceof CommandError) throw err;
    const thrown = firstLine((err as Error).message);
    // GDAL throws its last error; "Cannot open x: Success" says nothing, an earlier one may.
    const reason = /: Success$/.test(thrown) ? gdalReason([...gdalMessages(logStart).errors, thrown], thrown) : thrown;
    throw new CommandError(`cannot open '${source}': ${reason}`);
  } finally {
    gdal.config.set('OGR_GEOJSON_ARRAY_AS_STRING', previous ?? null);
  }
  if ((await ds.layers.countAsync()) === 0) {
    const driver = ds.driver.description;
    ds.close();
    throw new CommandError(`'${source}' has no vector layers (driver ${driver})`);
  }
  return ds;
}

/** A shapefile (or a directory of them) read in `encoding`. @throws CommandError when it is not one. */
function openShapefile(path: string, source: string, encoding: string): Dataset {
  let ds: Dataset;
  try {
    ds = gdal.drivers.get('ESRI Shapefile').open(path, 'r', [`ENCODING=${encoding}`]);
  } catch {
    throw new CommandError(`--encoding ${encoding}: '${source}' is not a shapefile (the encoding of other formats is their driver's)`);
  }
  return ds;
}

/** The layer named `name` (exact name). @throws CommandError listing the available layers. */
export async function findLayer(ds: Dataset, name: string, source: string): Promise<Layer> {
  const names: string[] = [];
  for await (const l of ds.layers) {
    if (l.name === name) return l;
    names.push(l.name);
  }
  throw new CommandError(`no layer '${name}' in '${source}'; available: ${names.join(', ')}`);
}

/**
 * The GDAL pass of the convert and table stages: one `vectorTranslate` (C++, in a libuv thread)
 * from the source layer into a temporary GeoPackage (for a spatial layer: curves linearized, multi
 * forced, Z/M dropped, reprojected to EPSG:4326 lon/lat),
 * read back feature by feature while GDAL is still writing it. 64-bit integers and dates/times
 * travel as GDAL's text form so nothing is rounded (JavaScript numbers, and gdal-async's
 * whole-second date objects, would lose digits). GDAL's own messages go to a log file so that a
 * failed pass reports its real cause.
 */

/** A failed GDAL pass, with the errors GDAL logged (convert looks for unreadable rows in them). */
export class GdalPassError extends CommandError {
  constructor(message: string, readonly gdalErrors: string[]) {
    super(message);
  }
}

/** GDAL types that travel as text through the temporary GeoPackage (exact values). */
const TEXT_TYPES = 'Integer64=String,Date=String,DateTime=String,Time=String';

/**
 * The arguments of the GDAL pass of a spatial layer: linearize, force multi, 2-D, EPSG:4326
 * lon/lat. No `-wrapdateline`: GDAL 3.6's drops the points of every GeometryCollection (even far
 * from 180°); convert wraps longitudes into [-180, 180] itself (geometry.ts).
 */
export const GEOMETRY_ARGS = [
  '-nlt', 'CONVERT_TO_LINEAR', '-nlt', 'PROMOTE_TO_MULTI', '-dim', 'XY', '-t_srs', 'EPSG:4326',
];

/** FID column of the temporary GeoPackage (1…N in source order). */
const TMP_FID = '__cng_gpkg_fid';

/**
 * The GDAL pass into a temporary GeoPackage, written in WAL mode with a commit every 4096
 * features so that {@link streamTemp} can read committed features while GDAL is still writing
 * (the two passes overlap on two cores). Resolves when GDAL is done.
 */
export async function translate(
  ds: Dataset, layerName: string, dest: string, o: { spatial: boolean; extra?: string[]; stage: string; where: string },
): Promise<void> {
  const args = [
    '-f', 'GPKG', '-nln', 'features', '-gt', '4096',
    // Names no attribute is likely to have, so no attribute is taken for the FID or geometry.
    '-lco', `FID=${TMP_FID}`, '-lco', 'GEOMETRY_NAME=__cng_gpkg_geom', '-lco', 'SPATIAL_INDEX=NO',
    '-mapFieldType', TEXT_TYPES,
    ...(o.spatial ? GEOMETRY_ARGS : []),
    ...(o.extra ?? []),
    layerName,
  ];
  let last = Date.now();
  const started = last;
  log(o.stage, `GDAL pass: ${layerName} → temporary GeoPackage`);
  const logStart = gdalLogOffset();
  const restore = setConfig({ OGR_SQLITE_JOURNAL: 'WAL', OGR_SQLITE_SYNCHRONOUS: 'OFF' });
  let out: Dataset;
  try {
    const running = gdal.vectorTranslateAsync(dest, ds, args, {
      progress_cb: (complete: number) => {
        const now = Date.now();
        if (now - last >= 5000) {
          last = now;
          log(o.stage, `GDAL pass ${(complete * 100).toFixed(1)}%`);
        }
      },
    });
    out = await running;
  } catch (err) {
    const { errors } = gdalMessages(logStart, dest);
    // GDAL reports its first error (e.g. "Failed to reproject feature 2") in the log; the thrown
    // message is its last one, often cleanup noise of the temporary file.
    const cause = errors.find((e) => /Failed to reproject/.test(e)) ?? errors[0] ?? firstLine((err as Error).message);
    const detail = errors[0] && errors[0] !== cause ? ` (${errors[0]})` : '';
    throw new GdalPassError(`cannot convert ${o.where}: ${cause}${detail}`, errors);
  } finally {
    restore(); // read by GDAL's thread when it creates the file: restored only when it is done
  }
  out.close();
  const { warnings } = gdalMessages(logStart, dest);
  for (const w of warnings.slice(0, 5)) log(o.stage, `GDAL: ${w}`);
  if (warnings.length > 5) log(o.stage, `GDAL: … and ${warnings.length - 5} more distinct warnings`);
  log(o.stage, `GDAL pass done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

/** Sets GDAL config options; returns a function restoring the previous values. */
function setConfig(options: Record<string, string>): () => void {
  const previous = Object.fromEntries(Object.keys(options).map((k) => [k, gdal.config.get(k)]));
  for (const [k, v] of Object.entries(options)) gdal.config.set(k, v);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const [k, v] of Object.entries(previous)) gdal.config.set(k, v ?? null);
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the GDAL pass (`start`) and calls `onFeature` for every feature of the temporary
 * GeoPackage in FID order (1, 2, …) while the pass is still producing it (when the pod has two
 * CPUs or more; with one, after it): rounds of `FID > last` queries over what is committed,
 * until the pass has finished and a last round finds nothing new.
 * The file is read only once its table has all `fields` columns. Returns the number of features.
 * Rejects with the GDAL pass's error if it fails; never returns before the pass has ended.
 */
export async function streamTemp(path: string, start: () => Promise<void>, fields: number, onFeature: (f: Feature) => void): Promise<number> {
  const writing = start();
  // With one CPU the two passes cannot overlap; reading a file being written only adds
  // contention then (measured: GDAL pass 4.5 s alone, 7–10 s while being read on a busy machine).
  if (readLimits().cpus < 2) await writing.catch(() => undefined);
  let finished = false;
  let failure: unknown;
  writing.then(() => (finished = true), (e) => ((failure = e), (finished = true)));
  let ds: Dataset | null = null;
  let last = 0;
  try {
    for (;;) {
      const wasFinished = finished;
      if (failure) throw failure;
      if (!ds && existsSync(path)) {
        try {
          ds = gdal.open(path);
          if (ds.layers.count() === 0 || ds.layers.get(0).fields.count() !== fields) {
            ds.close();
            ds = null;
          }
        } catch {
          ds = null; // not created yet
        }
      }
      let got = 0;
      if (ds) {
        const layer = ds.layers.get(0);
        // A bounded window keeps each read snapshot short, so SQLite can checkpoint the WAL.
        layer.setAttributeFilter(`"${TMP_FID}" > ${last} AND "${TMP_FID}" <= ${last + 16384}`);
        for (const f of layer.features) {
          if (f.fid !== last + 1) throw new Error(`temporary file: feature ${f.fid} follows ${last}`);
          last = f.fid;
          got++;
          onFeature(f);
        }
      } else if (wasFinished) throw new Error(`GDAL wrote no readable temporary file at ${path} (with ${fields} fields)`);
      if (wasFinished && got === 0) break;
      await sleep(got === 0 ? 20 : 0);
    }
  } finally {
    ds?.close();
    await writing.catch(() => undefined);
  }
  return last;
}
