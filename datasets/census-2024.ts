import type { DatasetSpec } from '../constructs/index.ts';
import { census2024Prose } from './census-2024.prose.ts';

const TIGER = 'https://www2.census.gov/geo/tiger/TIGER2024';

/** The 56 FIPS codes TIGER/Line publishes per-state files for: 50 states, DC and 5 island areas. */
const FIPS = [
  '01', '02', '04', '05', '06', '08', '09', '10', '11', '12', '13', '15', '16', '17', '18', '19', '20', '21', '22',
  '23', '24', '25', '26', '27', '28', '29', '30', '31', '32', '33', '34', '35', '36', '37', '38', '39', '40', '41',
  '42', '44', '45', '46', '47', '48', '49', '50', '51', '53', '54', '55', '56', '60', '66', '69', '72', '78',
];
const perState = (dir: string, suffix: string) => FIPS.map((f) => `${TIGER}/${dir}/tl_2024_${f}_${suffix}.zip`);

/**
 * US Census TIGER/Line 2024 boundaries, each layer read from the Census Bureau's zipped shapefile
 * over HTTPS (`/vsizip//vsicurl/`). Layout as published: `public-census/census-2024/<level>.{parquet,pmtiles}`,
 * `<level>/hex` (res 10, parents 9, 8).
 *
 * `tract` and `cd` are multi-file layers: 56 per-state zips each (the 51 state FIPS codes incl. DC,
 * plus 60 American Samoa, 66 Guam, 69 Northern Mariana Islands, 72 Puerto Rico, 78 US Virgin
 * Islands), fetched once into `raw/` (the earlier tool rejected several of them when read in place)
 * and merged into one layer with the zip's name in `source_file`. The earlier tract hex stopped at
 * 10,000 of ~85,000 tracts (50 × 200 fallback chunks).
 */
export const census2024: DatasetSpec = {
  name: 'census-2024',
  title: 'US Census TIGER/Line 2024 boundaries',
  run: 1,
  bucket: 'public-census',
  prefix: 'census-2024',
  hex: { resolution: 10, parents: [9, 8] },
  maxPods: 40,
  layers: {
    state: { layer: 'tl_2024_us_state', features: 56, source: `/vsizip//vsicurl/${TIGER}/STATE/tl_2024_us_state.zip/tl_2024_us_state.shp` },
    county: { layer: 'tl_2024_us_county', features: 3_235, source: `/vsizip//vsicurl/${TIGER}/COUNTY/tl_2024_us_county.zip/tl_2024_us_county.shp` },
    // ~85,000 tracts (catalogue; 85,529 in the docs' example): confirm the sum with `cng inspect 's3://public-census/raw/tl_2024_*_tract.zip'`.
    tract: { source: perState('TRACT', 'tract'), fetch: true, sourceFileColumn: 'source_file', layer: 'tl_2024_*_tract', features: 85_529 },
    // 435 districts + 6 non-voting delegates (DC, PR, 4 island areas) = 441 (catalogue: ~435); confirm with `cng inspect`.
    cd: { source: perState('CD', 'cd119'), fetch: true, sourceFileColumn: 'source_file', layer: 'tl_2024_*_cd119', features: 441 },
  },
  reencode: {
    // The 2022 tract crosswalk of the earlier STAC (no dataset file makes 2022 tracts): one row per
    // tract with a LIST of STRING h10 cells → one row per cell, UBIGINT, parents 9 and 8. Empty lists
    // are counted, not a failure. Its columns and row count (~85,000 tracts) to confirm with `cng inspect`.
    'tract-2022': {
      from: 's3://public-census/year=2022/tracts-hex-z10.parquet',
      cell: { column: 'h10', resolution: 10, list: true },
      parents: [9, 8],
      invalidCells: 'report',
      rows: 85_000,
      units: 1,
    },
  },
  prose: census2024Prose,
};
