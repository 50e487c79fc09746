import type { DatasetSpec } from '../constructs/index.ts';
import { sviProse } from './svi.prose.ts';

const svi = (year: number, path: string) =>
  `/vsizip//vsicurl/https://svi.cdc.gov/Documents/Data/${year}/db/${path}`;

/**
 * CDC/ATSDR Social Vulnerability Index 2020 and 2022, US counties and census tracts, each read from
 * the geodatabase inside CDC's zip over HTTPS (the paths of the lab's `data-prep.py`; 2020's tract
 * zip has a sub-directory). One dataset for the bucket (its README and STAC cover both years), in
 * CPAD's `<product>-<release>-<layer>` layout at the bucket root: `svi-2022-tract/hex` is where the
 * earlier (truncated) tract hex already is. Layer names and counts (~3,143
 * counties, ~84,000 tracts a year) are estimates: confirm with `cng inspect` before the run (the
 * hex plan covers every feature whatever the count says).
 */
export const sviDataset: DatasetSpec = {
  name: 'svi',
  title: 'CDC/ATSDR Social Vulnerability Index 2020 and 2022',
  run: 1,
  bucket: 'public-social-vulnerability',
  hex: { resolution: 10, parents: [9, 8] },
  maxPods: 80,
  layers: {
    'svi-2020-county': { layer: 'SVI2020_US_county', features: 3_143, source: svi(2020, 'states_counties/SVI_2020_US_county.zip/SVI2020_US_county.gdb') },
    'svi-2020-tract': { layer: 'SVI2020_US_tract', features: 84_000, source: svi(2020, 'states/SVI_2020_US.zip/SVI_2020_US/SVI2020_US_tract.gdb') },
    'svi-2022-county': { layer: 'SVI2022_US_county', features: 3_144, source: svi(2022, 'states_counties/SVI_2022_US_county.zip/SVI2022_US_county.gdb') },
    'svi-2022-tract': { layer: 'SVI2022_US_tract', features: 84_000, source: svi(2022, 'states/SVI_2022_US.zip/SVI2022_US_tract.gdb') },
  },
  prose: sviProse,
};
