import type { DatasetSpec } from '../constructs/index.ts';
import { ncpProse } from './ncp.prose.ts';

/**
 * Nature's contributions to people (NCP): two global integer rasters, values −128…19 with −128 as
 * nodata, at the bucket root of `public-ncp`. Both are hexed at res 8 (the earlier run hexed only
 * `ncp_biod_nathab`; the `ncp_only` line was commented out) into `hex/<name>/`, the published path.
 *
 * The hexed value is the published 0–1 score, `ncp = value / 19` (`scale: 1 / 19`, column `ncp`), as
 * the earlier `post-process.ipynb` wrote it to `rehex/<layer>/` (a separate pass over STRING cells).
 * The COGs keep the raw integer scores.
 */
export const ncp: DatasetSpec = {
  name: 'ncp',
  title: "Nature's contributions to people (NCP)",
  run: 1,
  bucket: 'public-ncp',
  maxPods: 40,
  rasters: {
    'ncp-biod-nathab': { source: 's3://public-ncp/NCP_biod_nathab_cog.tif', name: 'ncp_biod_nathab', valueKind: 'continuous', nodata: [-128], valueColumn: 'ncp', scale: 1 / 19 },
    'ncp-only': { source: 's3://public-ncp/NCP_only_cog.tif', name: 'ncp_only', valueKind: 'continuous', nodata: [-128], valueColumn: 'ncp', scale: 1 / 19 },
  },
  prose: ncpProse,
};
