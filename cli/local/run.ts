import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import {
  parseManifests, RASTER_VALUE_KINDS, readDist, slugify, synthesize, type DatasetSpec, type Manifests, type RasterValueKind,
} from '../../constructs/index.ts';
import { datasets } from '../../datasets/index.ts';
import { Storage } from '../../worker/io/storage.ts';
import { PointSource } from '../../worker/io/point-work.ts';
import { isGdalName } from '../../worker/io/gdal.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { type Command, flagOptions, str } from '../../worker/core/command.ts';
import { datasetStages, jobArg, runStages, selectStages, targetEnv, type RunStage, type StageResult } from './runner.ts';
import { inspectSource, isRasterSource } from './inspect.ts';
import { writePadusSample } from './padus-sample/writer.ts';
import { COMPLETE_MARKER, isCompleteDir, lockRun } from './workdirs.ts';
import { alignedTable, human } from '../../worker/core/text.ts';
import { localReencodeSpec, REENCODE_FLAGS, REENCODE_HELP, REENCODE_KINDS, reencodeSummary } from './reencode-local.ts';

/** Sample generators by dataset name: `cng run <dataset> --sample` puts one at the dataset's source. */
/** Writes a sample at `out`; `replace`: an incomplete one is there. */
type WriteSample = (out: string, replace: boolean) => Promise<unknown>;

const SAMPLES: Record<string, WriteSample> = {
  'padus-4-1': (out, replace) => writePadusSample({ out, force: replace }),
};

export const runCommand: Command = {
  name: 'run',
  summary: "run a dataset's synthesized Jobs on this machine, in Flux's stage order",
  help: `Usage: cng run <dataset> [--layers L1,L2] [--data-dir DIR] [--s3-endpoint URL] [--jobs N] [--force] [--sample] [--fresh]

Executes the same manifests Flux applies, without a cluster: stages in the order of the
Flux Kustomizations' dependsOn; each Indexed Job once per index with JOB_COMPLETION_INDEX
(and CNG_INDEX_OFFSET) set and the Job's env; at most N worker processes at once.
The cluster's S3 endpoint and secrets are mapped to the local target:
  - by default a directory store: s3://bucket/key is DIR/store/bucket/key (no server);
  - with --s3-endpoint, any S3 server (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
Resumable: completed indices (their Job name + index, with outputs present) are skipped;
--force redoes them. On a failure, no further stage starts; every stage that failed (stages
running at once may all fail) is marked FAILED in its stage line and in the summary table, with
its failing index's last log lines; the exit status is 1. Logs: DIR/runs/<dataset>/logs/.
One run of a dataset per data directory: a run holds DIR/runs/<dataset>/run.lock (pid, host,
start time, command); a second one is refused naming the first (exit 3); the lock of a run that
was killed is taken over, with a line saying so.

Options:
  --layers LIST      only these spatial layers, rasters (keys) and/or tables (comma-separated),
                     plus what they need
  --data-dir DIR     local data directory (default: data)
  --s3-endpoint URL  use this S3 endpoint instead of the directory store
  --jobs N           worker processes at once (default: CPU count)
  --force            redo completed stages and indices
  --sample           if the dataset's source is missing, write a sample dataset there first
                     (available for: ${Object.keys(SAMPLES).join(', ')})
  --fresh            synthesize the manifests in memory instead of reading dist/
  -h, --help         show this help

Exit status: 0 all stages complete, 1 a stage failed, 2 usage error, 3 another run of the
dataset holds the data directory's lock.

Examples:
  cng run padus-4-1 --sample
  cng run padus-4-1 --layers marine,Public_Access --jobs 2
  cng run cpad-2025b --s3-endpoint http://127.0.0.1:8080`,
  options: flagOptions(['layers', 'data-dir', 's3-endpoint', 'jobs'], ['force', 'sample', 'fresh']),
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('expected one dataset name');
    const [dataset] = positionals;
    const dataDir = resolve(str(values['data-dir']) ?? 'data');
    const jobs = jobsOption(values.jobs);
    const manifests: Manifests = values.fresh ? synthesize(datasets).manifests : parseManifests(readDist(resolve('dist')));
    const stages = selectStages(datasetStages(manifests, dataset), listOption(values.layers));
    const target = { storeDir: resolve(dataDir, 'store'), s3Endpoint: str(values['s3-endpoint']) };
    const stateDir = resolve(dataDir, 'runs', dataset);
    const results = await withRunLock(stateDir, 'cng run', `cng run ${process.argv.slice(3).join(' ')}`, async () => {
      if (values.sample) await ensureSample(dataset, stages, target);
      process.stderr.write(`cng run: ${dataset}: ${stages.length} stages, ${jobs} at once, target ${target.s3Endpoint ?? target.storeDir}\n`);
      return runStages({ dataset, stages, ...target, stateDir, jobs, force: Boolean(values.force) });
    });
    process.stdout.write(await summary(results, new Storage(targetEnv(target))));
    if (results.some((r) => r.status === 'failed' || r.status === 'blocked')) return EXIT.failure;
    if (!target.s3Endpoint) {
      const dataArg = str(values['data-dir']) ? ` --data-dir ${str(values['data-dir'])}` : '';
      process.stdout.write(`\nOutputs are under ${target.storeDir}/<bucket>/…\nPreview them on a map: npx cng preview ${dataset}${dataArg}\n`);
    }
    return EXIT.ok;
  },
};

/** Runs `f` holding the run lock of `stateDir` (workdirs.ts: another run there is refused, exit 3). */
async function withRunLock<T>(stateDir: string, prog: string, command: string, f: () => Promise<T>): Promise<T> {
  const lock = lockRun(stateDir, command);
  if (lock.tookOver) process.stderr.write(`${prog}: ${lock.tookOver}\n`);
  try {
    return await f();
  } finally {
    lock.release();
  }
}

/** `--jobs N`: worker processes at once, by default one per CPU. */
function jobsOption(value: unknown): number {
  const jobs = value === undefined ? availableParallelism() : Number(value);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs must be a positive integer, got '${value}'`);
  return jobs;
}

/** A comma-separated list option (`--layers a,b`), blanks dropped; undefined when not given. */
function listOption(value: unknown): string[] | undefined {
  return str(value)?.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * `--min-zoom`/`--max-zoom`: the layers' `pmtiles` zoom range (what a dataset file's
 * `layers.<key>.pmtiles` sets), undefined when neither is given.
 */
function zoomOptions(min: unknown, max: unknown): { minZoom?: number; maxZoom?: number } | undefined {
  const zoom = (v: unknown, flag: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 15) throw new UsageError(`--${flag} must be a zoom level 0..15, got '${v}'`);
    return n;
  };
  const minZoom = zoom(min, 'min-zoom');
  const maxZoom = zoom(max, 'max-zoom');
  if (minZoom === undefined && maxZoom === undefined) return undefined;
  if ((minZoom ?? 0) > (maxZoom ?? 14)) throw new UsageError(`--min-zoom ${minZoom} is above --max-zoom ${maxZoom ?? '14 (the default)'}`);
  return { ...(minZoom === undefined ? {} : { minZoom }), ...(maxZoom === undefined ? {} : { maxZoom }) };
}

/** `--nodata 0,255`: extra nodata values of a raster. */
function nodataOption(value: unknown): number[] | undefined {
  const list = listOption(value)?.map(Number);
  if (list?.some((n) => !Number.isFinite(n))) throw new UsageError(`--nodata must be numbers separated by commas, got '${value}'`);
  return list;
}

/** The `--source` every convert/table Job reads. */
function sources(stages: RunStage[]): string[] {
  const out = new Set<string>();
  for (const s of stages)
    for (const j of s.jobs) {
      const source = jobArg(j, '--source');
      if (source !== undefined) out.add(source);
    }
  return [...out];
}

async function ensureSample(dataset: string, stages: RunStage[], target: { storeDir: string; s3Endpoint?: string }): Promise<void> {
  const make = SAMPLES[dataset];
  if (!make) throw new UsageError(`no sample for '${dataset}'; samples exist for: ${Object.keys(SAMPLES).join(', ')}`);
  if (target.s3Endpoint) throw new UsageError('--sample writes into the directory store; it cannot be combined with --s3-endpoint');
  const storage = new Storage(targetEnv(target));
  for (const src of sources(stages)) {
    const loc = storage.resolve(src);
    if (loc.kind !== 'file') throw new CommandError(`cannot place a sample at '${src}'`);
    await placeSample(loc.path, dataset, make);
  }
}

/**
 * Writes a sample `dataset` source at `path` unless a complete one is there; a sample without its
 * completion marker was cut short (killed, disk full) and is written again. Returns whether it wrote.
 */
export async function placeSample(path: string, dataset: string, make: WriteSample): Promise<boolean> {
  const exists = existsSync(path);
  if (exists && isCompleteDir(path)) return false;
  if (exists) process.stderr.write(`cng run: ${path} is an incomplete sample (no ${COMPLETE_MARKER}); writing it again\n`);
  else process.stderr.write(`cng run: writing a sample ${dataset} source at ${path}\n`);
  await make(path, exists);
  return true;
}

/** Stage kinds of a raster pipeline (the others with a layer label are vector stages). */
const RASTER_KINDS = new Set(['cog', 'raster-hex', 'raster-manifest']);

/** Per-layer table: features, cells, partitions, output sizes, seconds per stage; then tables, then rasters. */
async function summary(results: StageResult[], storage: Storage): Promise<string> {
  const byLayer = new Map<string, Map<string, StageResult>>();
  const byRaster = new Map<string, Map<string, StageResult>>();
  const byPoints = new Map<string, Map<string, StageResult>>();
  const tables: StageResult[] = [];
  // A tileset's stages carry its key as their layer; its merge names the members.
  const tilesetKeys = new Set(results.filter((r) => jobArg(r.stage.jobs[0], '--members') !== undefined).map((r) => r.stage.layer));
  const tilesets: StageResult[] = [];
  for (const r of results) {
    if (r.stage.kind === 'table') tables.push(r);
    else if (r.stage.layer && tilesetKeys.has(r.stage.layer)) {
      if (r.stage.kind === 'tiles-merge') tilesets.push(r);
    } else if (r.stage.layer && !REENCODE_KINDS.has(r.stage.kind)) {
      const map = RASTER_KINDS.has(r.stage.kind) ? byRaster : r.stage.kind.startsWith('points-') ? byPoints : byLayer;
      (map.get(r.stage.layer) ?? map.set(r.stage.layer, new Map()).get(r.stage.layer)!).set(r.stage.kind, r);
    }
  }
  const arg = (r: StageResult | undefined, flag: string) => jobArg(r?.stage.jobs[0], flag);
  const size = async (url?: string) => (url ? (await storage.stat(url).catch(() => null))?.size : undefined);
  const secs = (r?: StageResult) => (r ? (r.status === 'skipped' ? 'skip' : r.status === 'done' ? r.seconds.toFixed(1) : r.status) : '-');
  // tiles (all units) + tiles-merge
  const tilesSecs = (a?: StageResult, b?: StageResult) => (a?.status === 'done' && b?.status === 'done' ? (a.seconds + b.seconds).toFixed(1) : secs(a?.status === 'done' ? b : a));
  const rows: string[][] = [['layer', 'features', 'cells', 'partitions', 'parquet', 'pmtiles', 'hex', 'convert s', 'hex s', 'repart. s', 'tiles s']];
  for (const [layer, st] of byLayer) {
    const manifestUrl = arg(st.get('publish'), '--manifest');
    const m = manifestUrl ? await storage.readText(manifestUrl).then(JSON.parse).catch(() => undefined) : undefined;
    const product = arg(st.get('publish'), '--out')?.split('/').pop()?.replace(/\.parquet$/, '');
    rows.push([
      product ?? layer,
      m ? String(m.features) : '-',
      m ? String(m.cells) : '-',
      m ? String(m.partitions) : '-',
      human(await size(arg(st.get('publish'), '--out'))),
      human(await size(arg(st.get('publish'), '--out-pmtiles'))),
      human(m?.bytes),
      secs(st.get('convert')), secs(st.get('hex')), secs(st.get('repartition')), tilesSecs(st.get('tiles'), st.get('tiles-merge')),
    ]);
  }
  let text = byLayer.size ? `\n${alignedTable(rows)}` : '';
  if (tables.length) {
    const t = [['table', 'parquet', 'seconds']];
    for (const r of tables) t.push([arg(r, '--layer') ?? r.stage.id, human(await size(arg(r, '--out'))), secs(r)]);
    text += `\n${alignedTable(t)}`;
  }
  if (tilesets.length) {
    const t = [['tileset', 'zooms', 'pmtiles', 'merge s']];
    for (const r of tilesets) t.push([arg(r, '--out')?.split('/').pop() ?? r.stage.id, `${arg(r, '--min-zoom')}–${arg(r, '--max-zoom')}`, human(await size(arg(r, '--out'))), secs(r)]);
    text += `\n${alignedTable(t)}`;
  }
  if (byRaster.size) {
    const t = [['raster', 'cells', 'partitions', 'nodata', 'cog', 'hex', 'cog s', 'hex s', 'manifest s']];
    for (const [layer, st] of byRaster) {
      const manifestUrl = arg(st.get('raster-manifest'), '--manifest');
      const m = manifestUrl ? await storage.readText(manifestUrl).then(JSON.parse).catch(() => undefined) : undefined;
      const cog = arg(st.get('cog'), '--out');
      t.push([
        cog?.split('/').pop()?.replace(/\.tif$/, '') ?? layer,
        m ? String(m.cells) : '-',
        m ? String(m.partitions) : '-',
        typeof m?.nodataShare === 'number' ? `${(m.nodataShare * 100).toFixed(1)}%` : '-',
        human(await size(cog)),
        human(m?.bytes),
        secs(st.get('cog')), secs(st.get('raster-hex')), secs(st.get('raster-manifest')),
      ]);
    }
    text += `\n${alignedTable(t)}`;
  }
  if (byPoints.size) {
    const t = [['points', 'files', 'rows read', 'written', 'bad coords', 'partitions', 'hex', 'hex s', 'repart. s', 'publish s']];
    for (const [key, st] of byPoints) {
      const m = await storage.readText(arg(st.get('points-publish'), '--manifest') ?? '').then(JSON.parse).catch(() => undefined);
      const bad = m ? Object.values(m.bad_coordinates as Record<string, number>).reduce((a, b) => a + b, 0) : undefined;
      const n = (v: unknown) => (v === undefined ? '-' : String(v));
      t.push([m?.layer ?? key, n(m?.source_files), n(m?.rows_read), n(m?.rows_written), n(bad), n(m?.partitions), human(m?.bytes), secs(st.get('points-hex')), secs(st.get('points-repartition')), secs(st.get('points-publish'))]);
    }
    text += `\n${alignedTable(t)}`;
  }
  return text + (await reencodeSummary(results, storage));
}


export const localCommand: Command = {
  name: 'local',
  summary: 'the whole pipeline for any GDAL source, no dataset file: vector → .parquet/.pmtiles/hex, raster → COG + hex',
  help: `Usage: cng local <source> --out DIR [--layers L1,L2] [--resolution 10] [--parents 9,8] [--containment center|overlap] [--min-zoom 0] [--max-zoom 14] [--tileset NAME:L1=Z0-Z1,L2=Z2,…] [--jobs N] [--force]
       cng local <raster>[,<tile>…] --out DIR [--value-kind continuous|count|categorical] [--nodata LIST] [--value-column NAME] [--scale S] [--offset O] [--resolution 8] [--parents LIST] [--jobs N] [--force]

Runs a dataset's stages for a GDAL-readable source on this machine, through the same constructs
and worker as the cluster (an in-memory dataset spec, run by the local runner).

A vector source (any source with vector layers): convert, hex, repartition, pmtiles and publish for every
spatial layer and a Parquet export for every non-spatial layer. Writes, for each layer, with
<slug> = the layer name lower-cased with runs of non-alphanumerics replaced by '-':
  DIR/<slug>.parquet                   GeoParquet (plain Parquet for non-spatial layers)
  DIR/<slug>.pmtiles                   vector tiles, source-layer <slug>
  DIR/<slug>/hex/h0=<cell>/data_0.parquet   H3 cells with the attributes
  DIR/<slug>/manifest.json             counts, run, sha256 of every file (written last)
With --tileset NAME:L1=0-1,L2=2-3,…, also one tiered archive of those layers (names or slugs),
each shown at its zooms only (docs/datasets.md#per-level-layers-and-a-tiered-pmtiles):
  DIR/NAME.pmtiles                     vector tiles, source-layer NAME
  DIR/NAME/manifest.json               members, per-zoom counts, sha256

A raster source (GDAL opens it with raster bands and no vector layers; several files separated
by commas are tiles mosaicked into one): cog, raster-hex and raster-manifest. With <slug> = the
(first) file name without extension, slugified:
  DIR/<slug>.tif                       Cloud-Optimized GeoTIFF
  DIR/<slug>/hex/h0=<cell>/data_0.parquet   H3 cells with the aggregated values
  DIR/<slug>/manifest.json             cells, nodata share, value range, method
--value-kind says what a pixel value is: continuous (a density: area-weighted mean per cell),
count (an amount per pixel: mass-conserving sum) or categorical (class codes: majority class
and per-class fractions).

<source> may be a GDAL name, passed to GDAL as is: /vsizip/parks.zip/parks.shp (a zipped
shapefile or GeoPackage), /vsicurl/…, NETCDF:"file.nc":var, GPKG:file.gpkg:table. A .zip
(local, s3:// or https://) is read through /vsizip/: at its root (a directory of shapefiles),
or at --source-path PATH inside it. Vector files separated by commas, or a file-name glob
('tracts/tl_2024_*_tract.zip'), are merged into one layer per layer name (files of one layer
each: one layer), files in name order; --source-file-column NAME keeps each row's file name.

Logs and resume markers go to DIR/.cng-run/ (with the lock that refuses a second run of the
same DIR at once, exit 3). Use it to try a dataset before opening a PR.

Options:
  --out DIR             output directory (required)
  --layers LIST         vector: only these layers (names or slugs, comma-separated)
  --source-path PATH    vector: the path inside each .zip source, e.g. ces.gdb
  --source-file-column NAME  vector, several files: a column holding each row's file name
  --resolution N        H3 resolution (default 10 for vector sources, 8 for rasters)
  --parents LIST        parent resolutions (default 9,8 for vector sources, none for rasters)
  --containment MODE    vector: center (default) or overlap
  --min-zoom N          vector: lowest tile zoom (default 0)
  --max-zoom N          vector: highest tile zoom (default 14); each zoom level more roughly
                        quadruples the tiling work, so a world-wide layer is tried at e.g. 7
  --tileset SPEC        vector: a tiered archive NAME:LAYER=FIRST-LAST,… (LAYER=Z: one zoom)
  --value-kind KIND     raster: continuous (default), count or categorical
  --nodata LIST         raster: values that also mean "no data" (comma-separated), for a raster
                        whose background value is not declared (e.g. a land-cover 0)
  --lon COL, --lat COL  points: <source> is Parquet files (a directory and a file-name pattern,
                        e.g. 'dir/*.parquet'), these their coordinate columns: points-hex,
                        points-repartition, points-publish → DIR/<slug>/hex/, DIR/<slug>/manifest.json
                        (<slug> = the directory's name); resolution 10 and every parent by default
  --columns LIST        points: columns to keep (default: all)
  --value-column NAME   raster: name of the hex value column (default value; categorical: class)
  --scale S             raster: hexed value = raw aggregate × S (+ --offset); a number or a
                        fraction such as 1/19; the COG keeps raw pixels with GDAL scale metadata
  --offset O            raster: added after --scale (continuous rasters only)
  --jobs N              worker processes at once (default: CPU count)
  --force               redo completed work
  -h, --help            show this help

Exit status: 0 done, 1 failed, 2 usage error, 3 another run uses DIR.

Examples:
  cng local data/store/public-padus/raw/PADUS4_1Geodatabase.gdb --out out/padus --layers PADUS4_1Marine
  cng local parks.gpkg --out out/parks --resolution 9 --parents 8,7
  cng local population_2020.tif --out out/pop --value-kind count --resolution 7 --parents 5
  cng local landcover_n40.tif,landcover_n50.tif --out out/landcover --value-kind categorical --nodata 0
  cng local NCP_only_cog.tif --out out/ncp --value-column ncp --scale 1/19
  cng local /vsizip/irrecoverable_2018.zip --out out/irr --value-column carbon
  cng local world-countries.gpkg --out out/countries --max-zoom 7
  cng local /vsizip/parks.zip/parks.shp --out out/parks
  cng local 'occurrence/*.parquet' --lon decimallongitude --lat decimallatitude --out out/occ
  cng local 'tracts/tl_2024_*_tract.zip' --out out/tracts --source-file-column source_file
  cng local basins.gpkg --out out/basins --max-zoom 6 --tileset basins:level_03=0-1,level_04=2-3,level_05=4-6
${REENCODE_HELP}`,
  options: flagOptions(['out', 'layers', 'source-path', 'source-file-column', 'resolution', 'parents', 'containment', 'value-kind', 'nodata', 'value-column', 'scale', 'offset', 'min-zoom', 'max-zoom', 'tileset', 'lon', 'lat', 'columns', 'jobs', ...REENCODE_FLAGS.values], ['force', ...REENCODE_FLAGS.switches]),
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('expected one source');
    const outArg = str(values.out);
    if (!outArg) throw new UsageError('--out DIR is required');
    const jobs = jobsOption(values.jobs);

    const [sourceArg] = positionals;
    if (values.lon !== undefined || values.lat !== undefined) return localPoints(sourceArg, values, jobs);
    const reencode = localReencodeSpec(sourceArg, values);
    const spec = reencode ?? (await sourceSpec(sourceArg, values));
    return runLocal(spec, resolve(outArg), jobs, Boolean(values.force));
  },
};

/** Runs a local spec's stages into `out` (the bucket) and prints the summary; the exit code. */
async function runLocal(spec: DatasetSpec, out: string, jobs: number, force: boolean): Promise<number> {
  // The directory store maps s3://<bucket>/<key> to <store>/<bucket>/<key>; the bucket is a link to DIR.
  const { mkdirSync, rmSync, symlinkSync } = await import('node:fs');
  mkdirSync(out, { recursive: true });
  const store = resolve(out, '.cng-run', 'store');
  const stages = datasetStages(synthesize([spec]).manifests, spec.name);
  const results = await withRunLock(resolve(out, '.cng-run'), 'cng local', `cng local ${process.argv.slice(3).join(' ')}`, async () => {
    rmSync(store, { recursive: true, force: true });
    mkdirSync(store, { recursive: true });
    symlinkSync(out, resolve(store, spec.bucket));
    return runStages({ dataset: spec.name, stages, storeDir: store, stateDir: resolve(out, '.cng-run'), jobs, force });
  });
  process.stdout.write(await summary(results, new Storage(targetEnv({ storeDir: store }))));
  return results.some((r) => r.status === 'failed' || r.status === 'blocked') ? EXIT.failure : EXIT.ok;
}

/** `cng local <files> --lon X --lat Y`: a points source (docs/datasets.md#points-at-scale). */
async function localPoints(sourceArg: string, values: Record<string, unknown>, jobs: number): Promise<number> {
  const [lon, lat, outArg] = [str(values.lon), str(values.lat), str(values.out)];
  if (!lon || !lat) throw new UsageError('a points source needs both --lon and --lat');
  if (!outArg) throw new UsageError('--out DIR is required');
  for (const flag of ['layers', 'containment', 'value-kind', 'nodata', 'value-column', 'scale', 'offset', 'min-zoom', 'max-zoom', 'tileset'])
    if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to a points source`);
  const source = /^[a-z0-9]+:\/\//.test(sourceArg) ? sourceArg : resolve(sourceArg);
  const files = (await new PointSource(source, undefined, new Storage()).list()).length;
  if (files === 0) throw new CommandError(`no file matches '${sourceArg}'`);
  const resolution = values.resolution === undefined ? 10 : Number(values.resolution);
  if (!Number.isInteger(resolution) || resolution < 1 || resolution > 15) throw new UsageError(`--resolution must be 1..15, got '${values.resolution}'`);
  const parents = str(values.parents)?.split(',').filter(Boolean).map(Number);
  if (parents?.some((p) => !Number.isInteger(p) || p < 0 || p >= resolution)) throw new UsageError(`--parents must be resolutions below ${resolution}`);
  const name = slugify(basename(dirname(source)).replace(/\.parquet$/, '')) || 'points';
  const spec: DatasetSpec = {
    name: 'local',
    title: `Ad-hoc run of ${source}`,
    run: 1,
    bucket: 'local-out',
    points: {
      p1: { source, lon, lat, files, rows: files, name, ...(listOption(values.columns) ? { columns: listOption(values.columns) } : {}), hex: { resolution, ...(parents ? { parents } : {}) } },
    },
  };
  return runLocal(spec, resolve(outArg), jobs, Boolean(values.force));
}

/** The in-memory dataset spec of `cng local` for a GDAL source: one raster (mosaic) or every selected vector layer. */
async function sourceSpec(sourceArg: string, values: Record<string, unknown>): Promise<DatasetSpec> {
  // URLs and GDAL names (/vsizip/…, NETCDF:"f.nc":var, GPKG:f.gpkg:table) go to GDAL as given.
  const absolute = (s: string) => (/^[a-z0-9]+:\/\//.test(s) || isGdalName(s) ? s : resolve(s));
  // Comma-separated tiles, unless the whole argument is one existing path.
  const tiles = sourceArg.includes(',') && !existsSync(sourceArg) ? sourceArg.split(',').map((t) => t.trim()).filter(Boolean).map(absolute) : [absolute(sourceArg)];
  const raster = await isRasterSource(tiles[0]);
  const kind = raster ? 'raster' : 'vector';

  const resolution = values.resolution === undefined ? (raster ? 8 : 10) : Number(values.resolution);
  if (!Number.isInteger(resolution) || resolution < 0 || resolution > 15) throw new UsageError(`--resolution must be 0..15, got '${values.resolution}'`);
  const parents = (str(values.parents) ?? (raster ? '' : '9,8')).split(',').filter(Boolean).map(Number);
  if (parents.some((p) => !Number.isInteger(p) || p < 0 || p >= resolution)) throw new UsageError(`--parents must be resolutions below ${resolution}`);
  for (const [flag, only] of [['value-kind', 'raster'], ['nodata', 'raster'], ['value-column', 'raster'], ['scale', 'raster'], ['offset', 'raster'], ['layers', 'vector'], ['containment', 'vector'], ['min-zoom', 'vector'], ['max-zoom', 'vector'], ['tileset', 'vector']] as const)
    if (values[flag] !== undefined && only !== kind)
      throw new UsageError(`--${flag} applies to ${only} sources; '${sourceArg}' ${raster ? 'is a raster source' : 'is not a raster (GDAL opens no raster-only dataset there)'}`);

  let spec: DatasetSpec;
  if (raster) {
    const valueKind = str(values['value-kind']) ?? 'continuous';
    if (!(RASTER_VALUE_KINDS as readonly string[]).includes(valueKind))
      throw new UsageError(`--value-kind must be ${RASTER_VALUE_KINDS.join(', ')}; got '${valueKind}'`);
    spec = localRasterSpec(tiles, {
      valueKind: valueKind as RasterValueKind, resolution, parents, nodata: nodataOption(values.nodata),
      valueColumn: str(values['value-column']), scale: numberOption('scale', values.scale), offset: numberOption('offset', values.offset),
    });
  } else {
    const containment = str(values.containment) ?? 'center';
    if (containment !== 'center' && containment !== 'overlap') throw new UsageError(`--containment must be center or overlap, got '${containment}'`);
    const local = await localSpec(tiles.length > 1 ? tiles : tiles[0], {
      sourcePath: str(values['source-path']),
      sourceFileColumn: str(values['source-file-column']),
      layers: listOption(values.layers),
      resolution,
      parents,
      containment,
      pmtiles: zoomOptions(values['min-zoom'], values['max-zoom']),
    });
    for (const s of local.skipped) process.stderr.write(`cng local: skipping layer ${s}\n`);
    spec = withTileset(local.spec, str(values.tileset));
  }
  return spec;
}

/** `--scale`/`--offset`: a finite number or a fraction `a/b` (e.g. 1/19). */
function numberOption(flag: string, raw: unknown): number | undefined {
  const text = str(raw);
  if (text === undefined) return undefined;
  const m = /^\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*(?:\/\s*([\d.]+(?:e[-+]?\d+)?))?\s*$/i.exec(text);
  const v = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
  if (!Number.isFinite(v)) throw new UsageError(`--${flag} must be a number or a fraction such as 1/19, got '${text}'`);
  return v;
}

/**
 * `--tileset NAME:LAYER=FIRST-LAST,…`: the spec with one tileset named NAME (file and source-layer)
 * of those layers (names or slugs, as `--layers` takes them). The dataset file's rules check it.
 */
export function withTileset(spec: DatasetSpec, option: string | undefined): DatasetSpec {
  if (option === undefined) return spec;
  const m = /^([a-z0-9][-a-z0-9_.]*):(.+)$/.exec(option);
  if (!m) throw new UsageError(`--tileset must be NAME:LAYER=FIRST-LAST,… (NAME lower-case letters, digits, '-', '_', '.'), got '${option}'`);
  const layers = Object.entries(spec.layers ?? {});
  const zooms: Record<string, [number, number]> = {};
  for (const item of m[2].split(',')) {
    const z = /^(.+)=(\d+)(?:-(\d+))?$/.exec(item.trim());
    if (!z) throw new UsageError(`--tileset: '${item}' is not LAYER=FIRST-LAST or LAYER=ZOOM`);
    const key = layers.find(([, l]) => l.layer.toLowerCase() === z[1].toLowerCase() || l.name === z[1].toLowerCase())?.[0];
    if (!key) throw new UsageError(`--tileset: no layer '${z[1]}' (layers: ${layers.map(([, l]) => l.layer).join(', ')})`);
    zooms[key] = [Number(z[2]), Number(z[3] ?? z[2])];
  }
  return { ...spec, tilesets: { [slugify(m[1]) || 'tileset']: { name: m[1], layer: m[1], zooms } } };
}

/**
 * A dataset spec for one raster (several files = tiles of one mosaic), layout 'named': products
 * `<slug>.tif`, `<slug>/hex/`, `<slug>/manifest.json` with <slug> the first file's name without
 * extension, slugified.
 */
export function localRasterSpec(
  sources: string[],
  opts: { valueKind: RasterValueKind; resolution: number; parents: number[]; nodata?: number[]; valueColumn?: string; scale?: number; offset?: number },
): DatasetSpec {
  const file = basename(sources[0].replace(/\/+$/, ''));
  const name = slugify(file.replace(/\.[^.]*$/, '')) || 'raster';
  return {
    name: 'local',
    title: `Ad-hoc run of ${sources.join(', ')}`,
    run: 1,
    bucket: 'local-out',
    layout: 'named',
    rasters: {
      r1: {
        source: sources.length === 1 ? sources[0] : sources,
        valueKind: opts.valueKind,
        ...(opts.nodata?.length ? { nodata: opts.nodata } : {}),
        ...(opts.valueColumn ? { valueColumn: opts.valueColumn } : {}),
        ...(opts.scale !== undefined ? { scale: opts.scale } : {}),
        ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
        name,
        hex: { resolution: opts.resolution, parents: opts.parents },
      },
    },
  };
}

/** A dataset spec for every (selected) layer of a source, products named by layer slug. */
export async function localSpec(
  source: string | string[],
  opts: { sourcePath?: string; sourceFileColumn?: string; layers?: string[]; resolution: number; parents: number[]; containment: 'center' | 'overlap'; pmtiles?: { minZoom?: number; maxZoom?: number } },
): Promise<{ spec: DatasetSpec; skipped: string[] }> {
  const info = await inspectSource(typeof source === 'string' ? source : source.join(','), { sourcePath: opts.sourcePath });
  const wanted = opts.layers?.map((l) => l.toLowerCase());
  const chosen = info.layers.filter((l) => !wanted || wanted.includes(l.name.toLowerCase()) || wanted.includes(slugify(l.name)));
  const missing = (opts.layers ?? []).filter((w) => !info.layers.some((l) => l.name.toLowerCase() === w.toLowerCase() || slugify(l.name) === w.toLowerCase()));
  if (missing.length) throw new CommandError(`no layer ${missing.map((m) => `'${m}'`).join(', ')} in '${source}'; available: ${info.layers.map((l) => l.name).join(', ')}`);
  const layers: NonNullable<DatasetSpec['layers']> = {};
  const tables: NonNullable<DatasetSpec['tables']> = [];
  const skipped: string[] = [];
  chosen.forEach((l, i) => {
    const slug = slugify(l.name) || `layer-${i + 1}`;
    if (l.geometryType === 'table') tables.push({ layer: l.name, name: slug });
    else layers[`l${i + 1}`] = { layer: l.name, name: slug, features: l.featureCount, ...(opts.pmtiles ? { pmtiles: opts.pmtiles } : {}) };
  });
  if (Object.keys(layers).length + tables.length === 0) skipped.push('(none selected)');
  return {
    spec: {
      name: 'local',
      title: `Ad-hoc run of ${source}`,
      run: 1,
      source,
      ...(opts.sourcePath ? { sourcePath: opts.sourcePath } : {}),
      ...(opts.sourceFileColumn ? { sourceFileColumn: opts.sourceFileColumn } : {}),
      bucket: 'local-out',
      tablesDir: '',
      hex: { resolution: opts.resolution, parents: opts.parents, containment: opts.containment },
      layers,
      tables,
    },
    skipped,
  };
}
