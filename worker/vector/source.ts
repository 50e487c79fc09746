/**
 * Opening a vector source for the vector stages: a local file (also an `s3://` object of the
 * directory store), `/vsis3/`, `/vsicurl/` or another `/vsi*` path, and finding a layer in it.
 */
import { existsSync } from 'node:fs';
import gdal, { type Dataset, type Layer } from 'gdal-async';
import { CommandError } from '../core/errors.ts';
import { firstLine } from '../core/text.ts';
import { toGdalPath } from '../io/gdal.ts';
import { Storage } from '../io/storage.ts';

/** Open options of GDAL's CSV driver: geometry from lon/lat columns, which are then not attributes. */
export const CSV_OPEN_OPTIONS = [
  'X_POSSIBLE_NAMES=lon,longitude,lng,long,x',
  'Y_POSSIBLE_NAMES=lat,latitude,y',
  'KEEP_GEOM_COLUMNS=NO',
];

/**
 * Opens a vector source read-only: `s3://` (a local file under CNG_STORAGE_DIR, else `/vsis3/`),
 * `http(s)://` (`/vsicurl/`), `/vsi*` or a path. CSV files get {@link CSV_OPEN_OPTIONS}; GeoJSON
 * arrays are read as JSON strings.
 * @throws CommandError naming `source` when it is missing or unreadable.
 */
export async function openSource(source: string, storage = new Storage()): Promise<Dataset> {
  let path: string;
  if (/^s3:\/\//.test(source)) {
    const loc = storage.resolve(source);
    path = loc.kind === 'file' ? loc.path : toGdalPath(source);
  } else path = toGdalPath(source);
  if (!path.startsWith('/vsi') && !existsSync(path)) throw new CommandError(`'${source}': no such file or directory`);
  const previous = gdal.config.get('OGR_GEOJSON_ARRAY_AS_STRING');
  gdal.config.set('OGR_GEOJSON_ARRAY_AS_STRING', 'YES');
  let ds: Dataset;
  try {
    // Synchronous: gdal-async's Driver.openAsync ignores open options (its 3rd argument).
    ds = /\.(csv|tsv)$/i.test(path) ? gdal.drivers.get('CSV').open(path, 'r', CSV_OPEN_OPTIONS) : await gdal.openAsync(path, 'r');
  } catch (err) {
    throw new CommandError(`cannot open '${source}': ${firstLine((err as Error).message)}`);
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

/** The layer named `name` (exact name). @throws CommandError listing the available layers. */
export async function findLayer(ds: Dataset, name: string, source: string): Promise<Layer> {
  const names: string[] = [];
  for await (const l of ds.layers) {
    if (l.name === name) return l;
    names.push(l.name);
  }
  throw new CommandError(`no layer '${name}' in '${source}'; available: ${names.join(', ')}`);
}
