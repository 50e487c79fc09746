import { choice, coarserParents, defineStage, flag, int, intList, parents, resolution, text, textList } from '../stage.ts';

/**
 * The vector stages' command lines: convert, table, hex, repartition, tiles, tiles-merge (publish
 * is in worker/publish/stages.ts). Their modules are
 * imported when the stage runs, so `--help` and every stage start fast (no GDAL or DuckDB loaded
 * unless the stage uses them).
 */

const cellResolution = resolution('H3 resolution of the cells (0–15), e.g. 10');

/** What hex and repartition both read: convert's outputs, the chunks, and the cells' resolutions. */
const chunkOptions = {
  input: text('GeoParquet written by convert'),
  plan: text('hex plan written by convert'),
  chunks: text('directory/prefix of the chunk files'),
  resolution: cellResolution,
  parents: parents('comma-separated parent resolutions written as columns (default: 9,8)').optional(),
};

/** The parent resolutions of hex and repartition: --parents, else 9,8 (those coarser than --resolution). */
export function hexParents(given: number[] | undefined, res: number): number[] {
  return coarserParents(given ?? [9, 8].filter((p) => p < res), res);
}

/** Where convert and table read: one source or several merged (source-layer.ts), a path inside zips, the layer. */
const sourceOptions = {
  source: text('GDAL source: s3://…, https://…, a path, or a GDAL name passed as is: /vsizip/…, /vsis3/…, /vsicurl/…, NETCDF:"f.nc":var, GPKG:f.gpkg:table; several separated by commas, and file-name globs (s3://b/raw/tl_*_tract.zip, data/*.gpkg), are merged into one layer (files in name order)'),
  'source-path': text('path inside each .zip source, e.g. SVI2022_US_county.gdb (a .zip without it is opened at its root)').optional(),
  layer: text('layer name in the source, or a glob (hybas_*_lev03_v1c); with several files, a file with one layer is read whatever its name'),
};

export const convertStageDef = defineStage({
  name: 'convert',
  run: async (o) => (await import('./convert.ts')).convertStage(o),
  summary: 'one vector layer → GeoParquet (EPSG:4326) and the hex plan',
  description: 'Reads one layer of any GDAL source, linearizes curves, forces multi, drops Z/M, makes geometries valid, reprojects to EPSG:4326 (lon/lat), keeps null geometries as rows, adds _cng_fid, writes GeoParquet 1.1, and writes the hex plan: features grouped into --units work units of balanced estimated work, and the 122 h0 cells grouped into --repartition-units units of balanced estimated cells.',
  options: {
    ...sourceOptions,
    'source-file-column': text("with several source files: a column holding each row's file name").optional(),
    out: text('GeoParquet output (s3://… or path)'),
    plan: text('hex plan output (JSON)'),
    resolution: cellResolution,
    units: int('number of hex work units (the hex Job completions)', { min: 1, max: 1_000_000 }),
    'repartition-units': int('number of repartition units (groups of h0 cells; the repartition Job completions, default 1)', { min: 1, max: 122 }).default(1),
    'id-column': text('use this column as the feature id instead of a generated _cng_fid').optional(),
    encoding: text("the source's text encoding, e.g. ISO-8859-1 (a shapefile's .dbf without a right .cpg; GDAL's ENCODING open option)").optional(),
    'expected-features': int('declared feature count of the layer: fail, publishing nothing, when fewer than half are read').optional(),
    'bad-geometry': choice("a geometry no engine can use (NaN/infinite coordinates, GEOS fails on it): 'fail' (default; lists every such feature) or 'null' (keep the row with a NULL geometry, recorded in the plan and manifest.json)", ['fail', 'null']).default('fail'),
  },
  example: 'cng-worker convert --source s3://public-padus/raw/PADUS4_1Geodatabase.gdb --layer PADUS4_1Fee --out s3://public-padus/padus-4-1/fee/_work/run-1/fee.parquet --plan s3://public-padus/padus-4-1/fee/_work/run-1/hex-plan.json --resolution 10 --units 149 --repartition-units 8',
});

export const tableStageDef = defineStage({
  name: 'table',
  run: async (o) => (await import('./table.ts')).tableStage(o),
  summary: 'one non-spatial layer → Parquet (original names and types)',
  description: 'Exports every row and column of a non-spatial layer (e.g. a geodatabase lookup table) to Parquet, keeping column names and types; the file is named after the table.',
  options: {
    ...sourceOptions,
    out: text('Parquet output'),
  },
  example: 'cng-worker table --source s3://public-padus/raw/PADUS4_1Geodatabase.gdb --layer Public_Access --out s3://public-padus/padus-4-1/lookup/Public_Access.parquet',
});

export const hexStageDef = defineStage({
  name: 'hex',
  run: async (o) => (await import('./hex.ts')).hexStage(o),
  summary: 'one work unit of the hex plan → H3 cells, one chunk per h0 cell (Indexed)',
  description: 'Hexes the features of work unit JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET at the given resolution with parent columns, all UBIGINT, writes <chunks>/h0=<cell>/unit-<index>.parquet for every h0 cell it has cells in, then its report <chunks>/_units/unit-<index>.json (cells per h0 cell) last.',
  options: {
    ...chunkOptions,
    containment: choice("'center' (default) or 'overlap'", ['center', 'overlap'], { centre: 'center' }).default('center'),
    index: int('work unit to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)').optional(),
  },
  example: 'cng-worker hex --input s3://public-padus/padus-4-1/fee/_work/run-1/fee.parquet --plan s3://public-padus/padus-4-1/fee/_work/run-1/hex-plan.json --chunks s3://public-padus/padus-4-1/fee/_work/run-1/chunks --resolution 10 --parents 9,8 --index 0',
});

export const repartitionStageDef = defineStage({
  name: 'repartition',
  run: async (o) => (await import('./repartition.ts')).repartitionStage(o),
  summary: "one group of h0 cells: their chunks → staged h0=<cell>/data_0.parquet with attributes (Indexed)",
  description: "Repartition unit JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET of the plan: checks that every hex unit has reported and every chunk of its h0 cells is there, then per h0 cell reads only that cell's chunks, joins the attributes of just the features present (from the staged GeoParquet, by id), sorts by (cell, id) and writes <out>/h0=<cell>/data_0.parquet; last, its report <reports>/unit-<index>.json (cells, bytes and sha256 per partition) and the ids it saw, <reports>/ids-<index>.parquet. Publishes nothing: the publish stage does.",
  options: {
    ...chunkOptions,
    out: text('staged hex prefix (…/_work/run-<run>/hex)'),
    reports: text('directory/prefix of the repartition unit reports (…/_work/run-<run>/repartition)'),
    index: int('repartition unit to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)').optional(),
  },
  example: 'cng-worker repartition --input s3://public-padus/padus-4-1/fee/_work/run-1/fee.parquet --plan s3://public-padus/padus-4-1/fee/_work/run-1/hex-plan.json --chunks s3://public-padus/padus-4-1/fee/_work/run-1/chunks --resolution 10 --parents 9,8 --out s3://public-padus/padus-4-1/fee/_work/run-1/hex --reports s3://public-padus/padus-4-1/fee/_work/run-1/repartition --index 0',
});

const zoomOptions = {
  'layer-name': text('vector tile source-layer name'),
  'min-zoom': int('lowest zoom (default 0)', { max: 22 }).default(0),
  'max-zoom': int('highest zoom (default 14)', { max: 22 }).default(14),
  parts: text('prefix (run work dir) of the units\' part files'),
  units: int('number of tiles work units (the tiles Job completions)', { min: 1, max: 100_000 }),
};

export const tilesStageDef = defineStage({
  name: 'tiles',
  run: async (o) => (await import('./tiles.ts')).tilesStage(o),
  summary: 'one work unit of a layer\'s vector tiles → a tile-set part (Indexed)',
  description:
    'Unit 0 renders the zooms below --split-zoom for the whole layer (features pre-simplified as they stream in); units 1… render --split-zoom…--max-zoom for balanced ranges of the split zoom\'s tiles along the Hilbert curve. Tiles are cut hierarchically with geojson-vt (simplified per zoom), encoded with vt-pbf, gzipped, and kept within --max-tile-bytes/--max-tile-features by coalescing or dropping the smallest features (never at --max-zoom). Writes <parts>/part-<unit>.tiles/.idx/.json.',
  options: {
    input: text('GeoParquet written by convert (the staged one)'),
    ...zoomOptions,
    'split-zoom': int('first zoom of the high-zoom units (default 7)', { max: 22 }).optional(),
    strategy: choice("what to do with the smallest features of a tile over budget: 'coalesce-densest' (default) or 'drop-densest'", ['coalesce-densest', 'drop-densest']).default('coalesce-densest'),
    'max-tile-bytes': int('gzipped tile size budget (default 500000)', { min: 1000 }).optional(),
    'max-tile-features': int('features per tile budget (default 200000)', { min: 1 }).optional(),
    'detail-zoom': int('the zoom kept at full detail, never thinned (default --max-zoom); above --max-zoom for a tileset member whose zooms end below the archive\'s, so its last zoom is simplified and kept within budget', { max: 22 }).optional(),
    index: int('work unit to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)').optional(),
  },
  example: 'cng-worker tiles --input s3://public-padus/padus-4-1/fee/_work/run-1/fee.parquet --parts s3://public-padus/padus-4-1/fee/_work/run-1/tiles --layer-name fee --units 8 --max-zoom 14 --index 0',
});

export const tilesMergeStageDef = defineStage({
  name: 'tiles-merge',
  run: async (o) => (await import('./tiles-merge.ts')).tilesMergeStage(o),
  summary: 'every tiles unit\'s part → one PMTiles v3 archive and tiles.json',
  description: 'Packs the parts of all --units units into one clustered, de-duplicated PMTiles v3 archive (header bounds, centre and zooms from the data; metadata with vector_layers and per-zoom strategies), and writes the per-zoom report; the parts stay (a re-run of the merge alone gives the same archive).',
  options: {
    ...zoomOptions,
    parts: textList("prefix (run work dir) of the units' part files; a tileset: one per member, comma-separated"),
    units: intList('number of tiles work units; a tileset: one count per member, comma-separated', { noun: 'counts', min: 1, max: 100_000, nonEmpty: true }),
    members: textList("a tileset's member layers, one per --parts: the tiles of a zoom must all come from one member").optional(),
    out: text('PMTiles output (staged: the publish stage copies it into place; a tileset\'s published key)'),
    report: text('tiles.json output (per-zoom kept/dropped/coalesced features, largest tile)').optional(),
    manifest: text("a tileset's manifest.json, written after --out (publishes; then --work is removed)").optional(),
    run: int('the run number recorded in --manifest', { min: 1 }).optional(),
    work: text('the run work directory removed after --manifest is written').optional(),
  },
  example: 'cng-worker tiles-merge --parts s3://public-padus/padus-4-1/fee/_work/run-1/tiles --units 8 --layer-name fee --max-zoom 14 --out s3://public-padus/padus-4-1/fee/_work/run-1/fee.pmtiles --report s3://public-padus/padus-4-1/fee/_work/run-1/tiles.json',
});

/** What every reencode stage is told: the earlier product, its cell column, the new layout's cells, the work units. */
const reencodeOptions = {
  from: textList("the earlier product's hex Parquet: prefixes (every .parquet under them, hive h0=… directories or plain files) or .parquet files, comma-separated"),
  'cell-column': text('column holding the H3 cells (STRING hex, any case, or an integer; a list of them with --list)'),
  list: flag('the cell column is a list of cells: one output row per element'),
  resolution: resolution('H3 resolution every cell must have (written as h<resolution> UBIGINT)', { min: 1 }),
  parents: parents('comma-separated parent resolutions written as UBIGINT columns (h0 is the partition)').default([]),
  units: int('reencode work units (the reencode Job\'s completions): input files are shared among them by size', { min: 1 }),
  'merge-units': int('reencode-merge work units: the h0 cells are shared among them by rows', { min: 1, max: 122 }),
  work: text("the run's work directory (…/<name>/_work/run-<run>): chunks/, hex/, merge/"),
};

export const reencodeStageDef = defineStage({
  name: 'reencode',
  run: async (o) => (await import('./reencode.ts')).reencodeStage(o),
  summary: "one group of an earlier hex product's files → UBIGINT cells in chunks by h0 (Indexed)",
  description:
    "Work unit JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET takes its share of the --from files (all units list them and share them by size the same way). Every cell string is validated with h3-js (an H3 cell of --resolution); the cell becomes h<res> UBIGINT with the --parents, h0 is recomputed from it (an input h0, column or h0=… directory, that disagrees is counted), --rename and --divide are applied, the input's h0 and coarser h<N> columns are dropped. Invalid cells fail the unit (--invalid fail) or are counted and left out (--invalid report). Writes <work>/chunks/h0=<cell>/unit-<index>-<k>.parquet and, last, <work>/chunks/_units/unit-<index>.json.",
  options: {
    ...reencodeOptions,
    rename: textList('comma-separated OLD=NEW column renames').default([]),
    divide: textList('comma-separated COLUMN=DIVISOR (after renaming): the column becomes DOUBLE value / divisor').default([]),
    invalid: choice("'fail' (default) or 'report': what an invalid or missing cell does", ['fail', 'report'] as const).default('fail'),
    index: int('work unit to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)').optional(),
  },
  example: 'cng-worker reencode --from s3://public-wdpa/hex/ --cell-column h8 --resolution 8 --parents 7,6 --units 4 --merge-units 2 --work s3://public-wdpa/wdpa/_work/run-1 --index 0',
});

export const reencodeMergeStageDef = defineStage({
  name: 'reencode-merge',
  run: async (o) => (await import('./reencode-publish.ts')).reencodeMergeStage(o),
  summary: 'one group of h0 cells: their reencode chunks → staged h0=<cell>/data_0.parquet (Indexed)',
  description:
    'Needs every reencode unit\'s report. Shares the h0 cells among --merge-units by rows (every unit computes the same groups); per h0 cell of its group reads only that cell\'s chunks, sorts by (cell, input file, input row) and writes <work>/hex/h0=<cell>/data_0.parquet; last its report <work>/merge/unit-<index>.json (rows, bytes, sha256 per partition).',
  options: { ...reencodeOptions, index: int('merge unit to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)').optional() },
  example: 'cng-worker reencode-merge --from s3://public-wdpa/hex/ --cell-column h8 --resolution 8 --units 4 --merge-units 2 --work s3://public-wdpa/wdpa/_work/run-1 --index 0',
});

export const reencodePublishStageDef = defineStage({
  name: 'reencode-publish',
  run: async (o) => (await import('./reencode-publish.ts')).reencodePublishStage(o),
  summary: 'check every input row is carried over, copy the partitions into place, write manifest.json',
  description:
    'Checks, publishing nothing when one fails: the --from files are exactly the ones the reencode units read; every unit reported; every h0 cell has its staged partition with the reported rows and size; cell values in = rows out + invalid cells. Then copies the partitions to --out-hex, removes published partitions this run did not write, writes --manifest (rows in and out, invalid cells, h0 mismatches, sha256 per file) and removes the work directory.',
  options: {
    ...reencodeOptions,
    invalid: choice("'fail' or 'report' (recorded in the manifest)", ['fail', 'report'] as const).default('fail'),
    'out-hex': text('published hex prefix (…/<name>/hex)'),
    manifest: text('manifest.json output (…/<name>/manifest.json)'),
    run: int('the dataset run (recorded in the manifest)', { min: 1 }),
  },
  example: 'cng-worker reencode-publish --from s3://public-wdpa/hex/ --cell-column h8 --resolution 8 --units 4 --merge-units 2 --work s3://public-wdpa/wdpa/_work/run-1 --out-hex s3://public-wdpa/wdpa/hex --manifest s3://public-wdpa/wdpa/manifest.json --run 1',
});

/** In `cng-worker --help` order. */
export const VECTOR_STAGES = [
  convertStageDef, tableStageDef, hexStageDef, repartitionStageDef, tilesStageDef, tilesMergeStageDef, reencodeStageDef, reencodeMergeStageDef, reencodePublishStageDef,
];
