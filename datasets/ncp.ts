import type { DatasetSpec } from '../constructs/index.ts';
import { ncpProse } from './ncp.prose.ts';

/**
 * Nature's contributions to people (NCP): two global integer rasters, values −128…19 with −128 as
 * nodata, at the bucket root of `public-ncp`. Both are hexed at res 8 (the earlier run hexed only
 * `ncp_biod_nathab`; the `ncp_only` line was commented out) into `hex/<name>/`, the published path.
 *
 * NOT YET: the published product divides by 19 (`ncp = Z / 19`, a 0–1 score, `post-process.ipynb`
 * → `rehex/`). This file publishes the raw 0–19 values as `value` until rasters get a per-raster
 * scale (issue 15, item 3); then `scale: 1 / 19` goes on each raster and the run is bumped.
 */
export const ncp: DatasetSpec = {
  name: 'ncp',
  title: "Nature's contributions to people (NCP)",
  run: 1,
  bucket: 'public-ncp',
  maxPods: 40,
  rasters: {
    'ncp-biod-nathab': { source: 's3://public-ncp/NCP_biod_nathab_cog.tif', name: 'ncp_biod_nathab', valueKind: 'continuous', nodata: [-128] },
    'ncp-only': { source: 's3://public-ncp/NCP_only_cog.tif', name: 'ncp_only', valueKind: 'continuous', nodata: [-128] },
  },
  prose: ncpProse,
};
