import type { DatasetSpec } from '../constructs/index.ts';
import { wetlandsProse } from './wetlands.prose.ts';

/**
 * The `public-wetlands` bucket, one dataset (the bucket has one README and STAC): so far the
 * Global Lakes and Wetlands Database v2 main-class raster (Lehner et al. 2024), categorical, hexed
 * at res 8 into the layout its STAC already names: `glwd.tif` (a real COG; the earlier TIFFs were
 * not), `glwd/hex/`, `glwd/manifest.json` (pattern A, `layout: 'named'`; the earlier run wrote the
 * partitions at the bucket root, `hex/`, with STRING cells).
 * Ramsar (a custom fuzzy join, prepared outside) and NWI (per-state files, item 2) join this file
 * as layers later (todo.md).
 */
export const wetlands: DatasetSpec = {
  name: 'wetlands',
  title: 'Wetlands: Global Lakes and Wetlands Database v2',
  run: 1,
  bucket: 'public-wetlands',
  layout: 'named',
  maxPods: 40,
  rasters: {
    glwd: {
      source: 's3://public-wetlands/GLWD_v2_0/GLWD_v2_0_combined_classes/GLWD_v2_0_main_class.tif',
      // Class codes 1–33 (main classes); 0 is background (no wetland) — confirm with `cng inspect`.
      valueKind: 'categorical',
      nodata: [0],
    },
  },
  prose: wetlandsProse,
};
