import { choice, defineStage, int, intList, number, numberList, parents, resolution, text, textList } from '../stage.ts';

/**
 * The raster stages' command lines: cog, raster-hex, raster-manifest. Their modules are imported
 * when the stage runs, so `--help` and every stage start fast (no GDAL or DuckDB loaded unless the
 * stage uses them).
 */

const VALUE_KINDS = ['continuous', 'count', 'categorical'] as const;
export type ValueKind = (typeof VALUE_KINDS)[number];

const valueKind = choice("'continuous', 'count' or 'categorical'", VALUE_KINDS);

export const cogStageDef = defineStage({
  name: 'cog',
  run: async (o) => (await import('./cog.ts')).cogStage(o),
  summary: 'raster source(s) → one Cloud-Optimized GeoTIFF and its info JSON',
  description:
    'Mosaics one or more GDAL rasters (comma-separated) into a COG: 512×512 tiles, DEFLATE with predictor, internal overviews resampled for the value kind (AVERAGE for continuous and count, MODE for categorical), BigTIFF when needed, one nodata value (the --nodata values and each source\'s own nodata collapsed into it). A single source that already is a valid COG is copied as is. Writes --info (size, bands, CRS, bounds, nodata, what was collapsed, value column, scale and offset) for the hex and manifest stages. On failure (other than a full scratch disk, which writes nothing), writes cog-failed.json (raster, sources, error) next to --info and exits with one line naming the raster and source; a success removes it.',
  options: {
    source: textList('GDAL raster(s), comma-separated: s3://…, https://…, paths, or GDAL names passed as is (/vsizip/…, /vsis3/…, /vsicurl/…, NETCDF:"f.nc":var)'),
    out: text('COG output (s3://… or path)'),
    info: text('info JSON output (read by raster-hex and raster-manifest)'),
    'value-kind': valueKind,
    bands: intList('comma-separated 1-based bands to keep (default: all)', { noun: 'band numbers', min: 1, nonEmpty: true }).optional(),
    nodata: numberList('comma-separated extra values that mean "no data" (collapsed into the output nodata)').default([]),
    raster: text('the raster\'s key in the dataset file: named in errors and in the failure record').optional(),
    'value-column': text('name of the hex value column of a one-band raster (categorical: instead of class); recorded in the info').optional(),
    scale: number('hexed value = raw aggregate × scale + offset; the COG keeps raw pixels with this GDAL scale (default 1)').optional(),
    offset: number('added after --scale (continuous rasters; default 0); GDAL offset metadata of the COG').optional(),
  },
  example: 'cng-worker cog --source s3://public-carbon/raw/vulnerable_c_total_2018.tif --out s3://public-carbon/cog/vulnerable-carbon.tif --info s3://public-carbon/_work/vulnerable-carbon/cog.json --value-kind continuous',
});

export const rasterHexStageDef = defineStage({
  name: 'raster-hex',
  run: async (o) => void (await (await import('./raster-hex.ts')).rasterHexStage(o)),
  summary: 'one resolution-0 cell of a COG → its h0 partition of H3 cell values (Indexed)',
  description:
    'Work unit i is H3 base cell i (0–121). Reads the COG window by window (range reads) where it overlaps that base cell and writes <out>/h0=<cell>/data_0.parquet: per H3 cell the area-weighted mean (continuous), the mass-conserving sum (count: pixels split across cells by area) or the majority class with per-class fractions (categorical), with parent columns, all UBIGINT; nodata-only cells are omitted. Writes <stats>/unit-<i>.json for raster-manifest.',
  options: {
    input: text('COG written by the cog stage'),
    info: text('info JSON written by the cog stage'),
    out: text('hex output prefix (…/hex/<layer> or …/<layer>/hex)'),
    stats: text('directory/prefix of the per-unit stats files'),
    'value-kind': valueKind,
    // 0 would make the cell column the partition column h0; a raster at 0 is never wanted
    resolution: resolution('H3 resolution of the cells (1–15; 0 is the h0 partition itself), e.g. 8', { min: 1 }),
    parents: parents('comma-separated parent resolutions written as columns (default: none)').default([]),
    index: int('work unit (base cell number 0–121) to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)').optional(),
  },
  example: 'cng-worker raster-hex --input s3://public-carbon/cog/vulnerable-carbon.tif --info s3://public-carbon/_work/vulnerable-carbon/cog.json --out s3://public-carbon/hex/vulnerable-carbon --stats s3://public-carbon/_work/vulnerable-carbon/stats --value-kind continuous --resolution 8 --index 0',
});

export const rasterManifestStageDef = defineStage({
  name: 'raster-manifest',
  run: async (o) => void (await (await import('./raster-manifest.ts')).rasterManifestStage(o)),
  summary: 'check every raster-hex unit finished; write manifest.json; remove stale partitions',
  description:
    'Fails listing the missing work units unless all 122 raster-hex stats files exist; removes h0 partitions no unit wrote in this run; writes manifest.json (cells, nodata share, value range or classes, resolution, parents, method, nodata and collapsed values, COG facts).',
  options: {
    input: text('the COG (recorded in the manifest)'),
    info: text('info JSON written by the cog stage'),
    out: text('hex output prefix the raster-hex units wrote'),
    stats: text('directory/prefix of the per-unit stats files'),
    'value-kind': valueKind,
    resolution: resolution('H3 resolution of the cells', { min: 1 }),
    parents: parents('comma-separated parent resolutions (default: none)').default([]),
    manifest: text('manifest.json output'),
  },
  example: 'cng-worker raster-manifest --input s3://public-carbon/cog/vulnerable-carbon.tif --info s3://public-carbon/_work/vulnerable-carbon/cog.json --out s3://public-carbon/hex/vulnerable-carbon --stats s3://public-carbon/_work/vulnerable-carbon/stats --value-kind continuous --resolution 8 --manifest s3://public-carbon/hex/vulnerable-carbon/manifest.json',
});

/** In `cng-worker --help` order. */
export const RASTER_STAGES = [cogStageDef, rasterHexStageDef, rasterManifestStageDef];
