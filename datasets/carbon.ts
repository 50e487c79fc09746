import type { DatasetSpec } from '../constructs/index.ts';
import { carbonProse } from './carbon.prose.ts';

/** The 18 COGs of Conservation International's carbon v1: 3 kinds × 3 pools × 2 years. */
const KINDS = ['irrecoverable', 'manageable', 'vulnerable'] as const;
const POOLS = ['biomass', 'soil', 'total'] as const;
const YEARS = [2010, 2018] as const;

/**
 * Irrecoverable, manageable and vulnerable carbon v1 (Noon et al. 2022; Zenodo 4091029):
 * 18 global rasters, integer megagrams of carbon (nodata 65535), already COGs at
 * `public-carbon/cogs/<kind>_c_<pool>_<year>.tif`. Every one is hexed at res 8 (the earlier runs hexed
 * only total 2018, as strings). Products under `v1/` (pattern B: `v1/cog/<name>.tif`,
 * `v1/hex/<name>/`), beside the v2 products under `v2/`; v2 (11 Zenodo zips, one unreadable)
 * waits for raster sets with failed-raster reporting (issue 15, item 3).
 */
export const carbon: DatasetSpec = {
  name: 'carbon',
  title: 'Irrecoverable, manageable and vulnerable carbon v1',
  run: 1,
  bucket: 'public-carbon',
  prefix: 'v1',
  layout: 'formats',
  maxPods: 100,
  rasters: Object.fromEntries(
    KINDS.flatMap((kind) =>
      POOLS.flatMap((pool) =>
        YEARS.map((year) => [
          `${kind}-c-${pool}-${year}`,
          {
            source: `s3://public-carbon/cogs/${kind}_c_${pool}_${year}.tif`,
            name: `${kind}_c_${pool}_${year}`,
            // Mg C per hectare, a density: area-weighted mean per cell (to confirm: the README says "Mg C").
            valueKind: 'continuous' as const,
            nodata: [65535],
          },
        ]),
      ),
    ),
  ),
  prose: carbonProse,
};
