import { join } from 'node:path';
import gdal, { type Dataset, type Layer, type SpatialReference } from 'gdal-async';
import { CommandError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { sqlIdent, sqlString } from '../core/text.ts';
import { geometryTypeName } from '../io/gdal.ts';
import { expandSources, type FetchRecord, gdalSourceName, isGlob, readFetchRecords, sourceFileName, sourceList } from '../io/sources.ts';
import { Storage } from '../io/storage.ts';
import { openSource } from './gdal-pass.ts';

/**
 * The layer convert and table read: one file's layer, or the layers of several files (a list, or
 * globs) merged into one temporary GeoPackage layer first — files in name order, columns the union
 * of theirs (a column a file lacks is NULL in its rows; integer widths widen, integer → real;
 * other type differences are an error naming the column, files and types), geometries in the
 * first file's CRS (other files reprojected, logged), and, when asked, a column holding each
 * row's file name.
 */

export interface LayerSourceOptions {
  /** `--source`: a comma-separated list of files/URLs/GDAL names, items may be file-name globs. */
  source: string;
  /** Path inside each `.zip` source (`--source-path`). */
  sourcePath?: string;
  /** Layer name: exact, or a glob (`hybas_*_lev03_v1c`); in a multi-file source a file with one layer is read whatever its name. */
  layer: string;
  /** Column holding each row's source file name. */
  sourceFileColumn?: string;
  encoding?: string;
  stage: string;
}

export interface LayerSource {
  ds: Dataset;
  layer: Layer;
  /** 'layer 'X' of 'source'' for messages. */
  where: string;
  /** The source files read (globs expanded), in order. */
  files: string[];
  /** Fetch records of the files that are fetched raw copies. */
  fetched: FetchRecord[];
}

/** Opens the layer to read; `work` is a scratch directory for a merge. The caller closes `ds`. */
export async function openLayerSource(o: LayerSourceOptions, work: string, storage = new Storage()): Promise<LayerSource> {
  const items = sourceList(o.source);
  const files = await expandSources(items, storage);
  const fetched = await readFetchRecords(files, storage);
  const multi = files.length > 1 || items.some(isGlob);
  if (!multi && !o.sourceFileColumn) {
    const name = gdalSourceName(files[0], o.sourcePath);
    const ds = await openSource(name, storage, o.encoding);
    try {
      const layer = await pickLayer(ds, o.layer, name, false);
      return { ds, layer, where: `layer '${layer.name}' of '${name}'`, files, fetched };
    } catch (err) {
      ds.close();
      throw err;
    }
  }
  const label = `${o.source}${o.sourcePath ? ` (${o.sourcePath})` : ''}`;
  const merged = join(work, 'merged.gpkg');
  await mergeFiles(files, o, merged, storage);
  const ds = await openSource(merged, storage);
  return { ds, layer: ds.layers.get(0), where: `layer '${o.layer}' of ${files.length} files '${label}'`, files, fetched };
}

/** `*` and `?` of a layer-name glob. */
const layerGlob = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);

/**
 * The layer named `pattern` (exact, else the one layer a glob matches); in a file of a multi-file
 * source (`single`) also the file's only layer. @throws CommandError listing the layers.
 */
export async function pickLayer(ds: Dataset, pattern: string, source: string, single: boolean): Promise<Layer> {
  const layers: Layer[] = [];
  for await (const l of ds.layers) layers.push(l);
  const exact = layers.find((l) => l.name === pattern);
  if (exact) return exact;
  const matched = isGlob(pattern) ? layers.filter((l) => layerGlob(pattern).test(l.name)) : [];
  if (matched.length === 1) return matched[0];
  if (!matched.length && single && layers.length === 1) return layers[0];
  const names = layers.map((l) => l.name).join(', ');
  if (matched.length > 1) throw new CommandError(`layer pattern '${pattern}' matches ${matched.length} layers of '${source}' (${matched.map((l) => l.name).join(', ')}); make it match one`);
  throw new CommandError(`no layer '${pattern}' in '${source}'; available: ${names}`);
}

/** Numeric types that widen into each other (integer → integer64 → real). */
const WIDENING = ['integer', 'integer64', 'real'];

/** One column of the merged layer: its type, and for an error, which files have which type. */
interface MergedField {
  name: string;
  type: string;
  byType: Map<string, string[]>;
}

/** A file of the merge, opened, with its layer. */
interface Part {
  file: string;
  ds: Dataset;
  layer: Layer;
  srs: SpatialReference | null;
  count: number;
}

/** Geometry family of an OGR type (points, lines, polygons; curves with their linear kin), or null. */
function family(wkbType: number): number | null {
  const base = ((wkbType >>> 0) & 0x7fffffff) % 1000;
  const families: Record<number, number> = { 1: 4, 4: 4, 2: 5, 5: 5, 8: 5, 9: 5, 11: 5, 3: 6, 6: 6, 10: 6, 12: 6 };
  return families[base] ?? null;
}

/** Merges the files' layers into `dest` (a GeoPackage with one layer, `merged`). */
async function mergeFiles(files: string[], o: LayerSourceOptions, dest: string, storage: Storage): Promise<void> {
  const parts: Part[] = [];
  try {
    for (const file of files) {
      const name = gdalSourceName(file, o.sourcePath);
      const ds = await openSource(name, storage, o.encoding);
      let layer: Layer;
      try {
        layer = await pickLayer(ds, o.layer, name, true);
      } catch (err) {
        ds.close();
        throw err;
      }
      const srs = layer.srs ?? (ds.driver.description === 'CSV' ? gdal.SpatialReference.fromEPSG(4326) : null);
      parts.push({ file, ds, layer, srs, count: await layer.features.countAsync() });
    }
    const fields = reconcileFields(parts);
    if (o.sourceFileColumn && fields.some((f) => f.name.toLowerCase() === o.sourceFileColumn!.toLowerCase()))
      throw new CommandError(`sourceFileColumn '${o.sourceFileColumn}' is already a column of the source; choose another name`);
    const geomType = mergedGeometryType(parts);
    const srs = parts[0].srs;
    const out = gdal.drivers.get('GPKG').create(dest);
    const layer = out.layers.create('merged', srs, geomType, ['FID=fid', 'SPATIAL_INDEX=NO']);
    for (const f of fields) layer.fields.add(new gdal.FieldDefn(f.name, f.type));
    if (o.sourceFileColumn) layer.fields.add(new gdal.FieldDefn(o.sourceFileColumn, gdal.OFTString));
    out.close();
    let total = 0;
    for (const p of parts) {
      const reproject = srs && p.srs && !p.srs.isSame(srs);
      if (reproject) log(o.stage, `${sourceFileName(p.file)}: CRS differs from the first file's; reprojected to it`);
      if (!!srs !== !!p.srs) throw new CommandError(`'${p.file}' ${p.srs ? 'has' : 'has no'} coordinate reference system, unlike '${parts[0].file}'; every file of a merged source needs one`);
      const args = [
        '-update', '-append', '-nln', 'merged',
        ...(geomType !== gdal.wkbNone && geomType !== gdal.wkbUnknown ? ['-nlt', 'CONVERT_TO_LINEAR', '-nlt', 'PROMOTE_TO_MULTI', '-dim', 'XY'] : []),
        ...(p.srs && !p.layer.srs ? ['-s_srs', 'EPSG:4326'] : []),
        ...(reproject ? ['-t_srs', srs.toWKT()] : []),
        // OGR SQL adds the file name as a constant column.
        ...(o.sourceFileColumn ? ['-sql', `SELECT *, ${sqlString(sourceFileName(p.file))} AS ${sqlIdent(o.sourceFileColumn)} FROM ${sqlIdent(p.layer.name)}`] : [p.layer.name]),
      ];
      await gdal.vectorTranslateAsync(dest, p.ds, args).then((d) => d.close()).catch((err) => {
        throw new CommandError(`cannot merge '${p.file}' into ${files.length} files' layer: ${(err as Error).message.split('\n')[0]}`);
      });
      const done = gdal.open(dest);
      try {
        const now = done.layers.get('merged').features.count();
        if (now - total !== p.count) throw new CommandError(`merging '${p.file}': ${now - total} of its ${p.count} features were written; nothing was written`);
        total = now;
      } finally {
        done.close();
      }
    }
    log(o.stage, `merged ${files.length} files (${total} features) into one layer${o.sourceFileColumn ? `, file names in '${o.sourceFileColumn}'` : ''}`);
  } finally {
    for (const p of parts) p.ds.close();
  }
}

/** The merged layer's columns, in first-seen order. @throws CommandError for a column of conflicting types. */
function reconcileFields(parts: Part[]): MergedField[] {
  const byName = new Map<string, MergedField>();
  for (const p of parts)
    for (const f of p.layer.fields) {
      const key = f.name.toLowerCase();
      const m = byName.get(key) ?? byName.set(key, { name: f.name, type: f.type, byType: new Map() }).get(key)!;
      (m.byType.get(f.type) ?? m.byType.set(f.type, []).get(f.type)!).push(sourceFileName(p.file));
      if (m.type === f.type) continue;
      if (WIDENING.includes(m.type) && WIDENING.includes(f.type)) {
        m.type = WIDENING[Math.max(WIDENING.indexOf(m.type), WIDENING.indexOf(f.type))];
        continue;
      }
      const sides = [...m.byType].map(([t, fs]) => `${t} in ${fs.slice(0, 3).join(', ')}${fs.length > 3 ? ` and ${fs.length - 3} more` : ''}`);
      throw new CommandError(`column '${f.name}' has conflicting types across the source files: ${sides.join('; ')}; convert them to one type first`);
    }
  return [...byName.values()];
}

/** One geometry type for the merged layer: the multi type of a common family, else Unknown (mixed); None for tables. */
function mergedGeometryType(parts: Part[]): number {
  const none = parts.filter((p) => p.layer.geomType === gdal.wkbNone);
  if (none.length === parts.length) return gdal.wkbNone;
  if (none.length)
    throw new CommandError(`'${none[0].file}' is a table (no geometry) but '${parts.find((p) => p.layer.geomType !== gdal.wkbNone)!.file}' has geometries (${geometryTypeName(parts.find((p) => p.layer.geomType !== gdal.wkbNone)!.layer.geomType)})`);
  const families = new Set(parts.map((p) => family(p.layer.geomType)));
  const [only] = families;
  return families.size === 1 && only !== null ? only : gdal.wkbUnknown;
}
