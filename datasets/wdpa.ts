import type { DatasetSpec } from '../constructs/index.ts';
import { wdpaProse } from './wdpa.prose.ts';

/**
 * WDPA, December 2025 release (UNEP-WCMC and IUCN, Protected Planet): the 296,046 protected-area
 * polygons of the release's geodatabase (the points layer is not used, as before). Hexed at res 8
 * (as published, now UBIGINT with parents 6 and 4; marine areas of millions of km² make res 10
 * impractical) with every feature. Layout: a release directory, `public-wdpa/dec-2025/wdpa.*`, so
 * the PMTiles source-layer stays `wdpa` from release to release (docs/data-organization.md).
 */
export const wdpa: DatasetSpec = {
  name: 'wdpa',
  title: 'World Database on Protected Areas (WDPA), December 2025',
  run: 1,
  source: 's3://public-wdpa/WDPA_Dec2025_Public.gdb',
  bucket: 'public-wdpa',
  prefix: 'dec-2025',
  hex: { resolution: 8, parents: [6, 4] },
  maxPods: 100,
  layers: {
    wdpa: { layer: 'WDPA_poly_Dec2025', features: 296_046 },
  },
  prose: wdpaProse,
};
