import type { DatasetSpec } from '../constructs/index.ts';
import { census2024Prose } from './census-2024.prose.ts';

const TIGER = 'https://www2.census.gov/geo/tiger/TIGER2024';

/**
 * US Census TIGER/Line 2024 boundaries, each layer read from the Census Bureau's zipped shapefile
 * over HTTPS (`/vsizip//vsicurl/`). Layout as published: `public-census/census-2024/<level>.{parquet,pmtiles}`,
 * `<level>/hex` (res 10, parents 9, 8).
 *
 * Not yet here: `tract` (56 zips `TRACT/tl_2024_<FIPS>_tract.zip`, ~85,000 tracts) and `cd`
 * (`CD/tl_2024_<FIPS>_cd119.zip` ×56, ~435 districts) need a multi-file source merged into one
 * layer (issue 15, item 2); they join this file as layers `tract` and `cd` when it lands (todo.md).
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
  },
  prose: census2024Prose,
};
