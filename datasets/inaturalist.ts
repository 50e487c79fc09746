import type { DatasetSpec } from '../constructs/index.ts';
import { inaturalistProse } from './inaturalist.prose.ts';

/**
 * iNaturalist geomodel range maps: 27 GeoPackages `iNaturalist_geomodel_<taxa>.gpkg` (one feature
 * table each, named after the taxa; large groups split `_1`, `_2`, …), hand-downloaded from
 * inaturalist.org/pages/range_maps into `public-inat/raw/`, merged into one layer `ranges` with the
 * file of each row in `source_file`. The earlier notebook (`inat/inat-rangemaps.ipynb`) wrote one
 * parquet per taxa group (`polygon/<taxa>.parquet`), STRING h4 hex (`hex/<taxa>.parquet`) and a copy
 * by h0 (`range-maps/hex/`); the inaturalist STAC named `ranges.parquet`, which this file now writes,
 * with `ranges/hex/` (res 4 as before, parents 3, 2; UBIGINT).
 *
 * GUESSED: the glob (the raw key names), the feature count (~100,000 taxa, an ESTIMATE: the catalogue
 * gives none) and the vertices (range outlines follow H3 cells: many vertices each). Confirm with
 * `cng inspect 's3://public-inat/raw/iNaturalist_geomodel_*.gpkg'` before the run.
 */
export const inaturalist: DatasetSpec = {
  name: 'inaturalist',
  title: 'iNaturalist geomodel range maps',
  run: 1,
  bucket: 'public-inat',
  maxPods: 40,
  source: 's3://public-inat/raw/iNaturalist_geomodel_*.gpkg',
  sourceFileColumn: 'source_file',
  hex: { resolution: 4, parents: [3, 2] },
  layers: {
    ranges: {
      layer: '*',
      features: 100_000,
      vertices: 500_000_000,
      // Overlapping ranges of ~100,000 taxa: one archive of them all shows nothing useful at any
      // zoom (maps filter one taxon from the GeoParquet or the hex); the earlier product had none.
      pmtiles: false,
      hex: { featuresPerUnit: 500 },
    },
  },
  prose: inaturalistProse,
};
