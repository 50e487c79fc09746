import { choice, defineStage, int, parents, resolution, text, textList } from '../stage.ts';

/**
 * The points stages' command lines (docs/stages.md#points-hex): points-hex (source files → chunks)
 * and points-repartition (chunks → sorted h0 partitions). Their modules are imported when the stage runs.
 */

const source = {
  source: text('the Parquet files: a prefix ending in a file-name pattern, s3://bucket/dir/*.parquet or dir/* (only * and ? in the last part)'),
  'source-endpoint': text("S3 endpoint of the source when it is not the dataset's store (read unsigned: a public bucket), e.g. https://s3.us-east-1.amazonaws.com").optional(),
};

const cells = {
  resolution: resolution('H3 resolution of the cells (1–15), e.g. 10', { min: 1 }),
  parents: parents('comma-separated parent resolutions written as columns (default: every coarser one)').optional(),
};

const work = {
  chunks: text('prefix of the chunk files (…/_work/run-<run>/chunks)'),
  units: int('number of points-hex work units (the points-hex Job completions)', { min: 1, max: 1_000_000 }),
};

const repartition = {
  'repartition-units': int('number of points-repartition units (groups of h0 cells)', { min: 1, max: 122 }),
  'staged-hex': text('staged hex prefix (…/_work/run-<run>/hex)'),
  reports: text('prefix of the points-repartition reports (…/_work/run-<run>/repartition)'),
};

export const pointsHexStageDef = defineStage({
  name: 'points-hex',
  run: async (o) => (await import('./points-hex.ts')).pointsHexStage(o),
  summary: 'one slice of a points source\'s Parquet files → H3 chunks by h0 cell (Indexed)',
  description:
    'Lists the source files (sorted by name), takes work unit i\'s contiguous slice of them (every file in exactly one of --units slices), and for each file: counts the rows whose coordinates are unusable (null, not finite, out of range, 0/0 unless --null-island keep), computes the H3 cell of every other row (h3-js) and its parents (bit operations in DuckDB), keeping --columns. Writes <chunks>/h0=<cell>/unit-<i>.parquet per h0 cell, then its report <chunks>/_units/unit-<i>.json (rows read, written and bad per file) last.',
  options: {
    ...source,
    lon: text('longitude column (degrees, WGS84)'),
    lat: text('latitude column (degrees, WGS84)'),
    columns: textList('comma-separated columns to keep (default: every column)').optional(),
    'null-island': choice("a row at exactly 0,0: 'bad' (default: counted as a bad coordinate and dropped) or 'keep'", ['bad', 'keep']).default('bad'),
    'expected-files': int('declared file count: fail when fewer than half are listed').optional(),
    ...cells,
    ...work,
    index: int('work unit to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)').optional(),
  },
  example:
    'cng-worker points-hex --source s3://gbif-open-data-us-east-1/occurrence/2025-06-01/occurrence.parquet/* --source-endpoint https://s3.us-east-1.amazonaws.com --lon decimallongitude --lat decimallatitude --resolution 10 --chunks s3://public-gbif/2025-06/_work/run-1/chunks --units 184 --index 0',
});

export const pointsRepartitionStageDef = defineStage({
  name: 'points-repartition',
  run: async (o) => (await import('./points-repartition.ts')).pointsRepartitionStage(o),
  summary: 'one group of h0 cells: their point chunks → staged h0=<cell>/data_0.parquet sorted by cell (Indexed)',
  description:
    'Checks that every points-hex unit has reported, groups the h0 cells into --repartition-units groups balanced by the reported rows (the same grouping in every unit), and for each h0 cell of group i reads its chunks and writes <staged-hex>/h0=<cell>/data_0.parquet sorted by the cell column (DuckDB, memory limit and spill directory from the pod\'s limits: memory is bounded by the sort, not by the cell\'s size), then its report <reports>/unit-<i>.json.',
  options: { ...cells, ...work, ...repartition, index: int('repartition unit to process (default: JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET)').optional() },
  example:
    'cng-worker points-repartition --chunks s3://public-gbif/2025-06/_work/run-1/chunks --units 184 --repartition-units 122 --staged-hex s3://public-gbif/2025-06/_work/run-1/hex --reports s3://public-gbif/2025-06/_work/run-1/repartition --resolution 10 --index 0',
});

/** points-publish is declared with the other publishing stages (worker/publish/stages.ts). */
export const POINTS_STAGES = [pointsHexStageDef, pointsRepartitionStageDef];

/** The parent resolutions of the points stages: --parents, else every coarser resolution (res−1 … 0). */
export function pointParents(given: number[] | undefined, res: number): number[] {
  return (given ?? Array.from({ length: res }, (_, i) => res - 1 - i)).filter((p) => p < res).sort((a, b) => b - a);
}
