import type { DatasetSpec } from '../constructs/index.ts';
import { wetlandsProse } from './wetlands.prose.ts';

/** NWI's per-state files: the 50 states, DC and Puerto Rico (to confirm against the source.coop listing; island areas may have files too). */
const NWI_STATES = [
  'AK', 'AL', 'AR', 'AZ', 'CA', 'CO', 'CT', 'DC', 'DE', 'FL', 'GA', 'HI', 'IA', 'ID', 'IL', 'IN', 'KS', 'KY', 'LA', 'MA', 'MD', 'ME', 'MI', 'MN',
  'MO', 'MS', 'MT', 'NC', 'ND', 'NE', 'NH', 'NJ', 'NM', 'NV', 'NY', 'OH', 'OK', 'OR', 'PA', 'PR', 'RI', 'SC', 'SD', 'TN', 'TX', 'UT', 'VA', 'VT',
  'WA', 'WI', 'WV', 'WY',
];

/**
 * The `public-wetlands` bucket, one dataset (the bucket has one README and STAC): so far the
 * Global Lakes and Wetlands Database v2 main-class raster (Lehner et al. 2024), categorical, hexed
 * at res 8 into the layout its STAC already names: `glwd.tif` (a real COG; the earlier TIFFs were
 * not), `glwd/hex/`, `glwd/manifest.json` (pattern A, `layout: 'named'`; the earlier run wrote the
 * partitions at the bucket root, `hex/`, with STRING cells).
 *
 * NWI: the US National Wetlands Inventory as per-state GeoParquet files (EPSG:5070) on source.coop
 * (`giswqs/nwi/wetlands/<ST>_Wetlands.parquet`), fetched once into `raw/` and merged into one layer
 * `nwi` (~38 million polygons: the earlier `single-job.yaml` ran 381 × 100,000 rows, so the count is
 * an inference), `source_file` naming the state. The earlier run wrote only a STRING h8 hex
 * (`nwi/bigchunks` → `nwi/hex`, memory tiers up to 320Gi); now `nwi.parquet`, `nwi.pmtiles`,
 * `nwi/hex/` at res 10 with overlap containment (most wetlands are smaller than a res-8 cell and
 * would get no cell by their centre), parents 9 and 8.
 * The state list (50 states, DC, PR) and the vertex count (scratch sizing) are to confirm.
 * Ramsar (a custom fuzzy join, prepared outside) joins this file as a layer later (todo.md); until
 * then its earlier STRING hex is re-encoded into `ramsar-sites/hex/`.
 */
export const wetlands: DatasetSpec = {
  name: 'wetlands',
  title: 'Wetlands: Global Lakes and Wetlands Database v2 and the US National Wetlands Inventory',
  run: 1,
  bucket: 'public-wetlands',
  layout: 'named',
  maxPods: 40,
  layers: {
    nwi: {
      source: NWI_STATES.map((st) => `https://data.source.coop/giswqs/nwi/wetlands/${st}_Wetlands.parquet`),
      fetch: true,
      sourceFileColumn: 'source_file',
      layer: '*_Wetlands',
      features: 38_000_000,
      // A GUESS, ~65 vertices a polygon (NWI outlines are digitised at 1:24,000 or finer): sizes the
      // convert scratch (3 × (16 B × vertices + 2 KiB × features) ≈ 350 GiB, the merge's temporary
      // GeoPackage included) and the tiles. Replace with the real count from `cng inspect`.
      vertices: 2_500_000_000,
      hex: { resolution: 10, parents: [9, 8], containment: 'overlap', featuresPerUnit: 10_000 },
      // Each repartition pod holds the whole GeoParquet (~190 GiB scratch): 40 units, not 122, so 7.5 TiB at once, not 23.
      repartition: { units: 40 },
    },
  },
  rasters: {
    glwd: {
      source: 's3://public-wetlands/GLWD_v2_0/GLWD_v2_0_combined_classes/GLWD_v2_0_main_class.tif',
      // Class codes 1–33 (main classes); 0 is background (no wetland) — confirm with `cng inspect`.
      valueKind: 'categorical',
      nodata: [0],
    },
  },
  reencode: {
    // Ramsar's earlier hex (a hand-run job over the fuzzy-joined sites, res 9 + h8…h0 STRING, 167 × 50
    // rows a chunk): the join is not reproducible yet (todo.md backlog), so the hex is re-encoded, not
    // re-made. Under its own name: re-encoding into `ramsar/hex/` would mix with its own input.
    // ~25 million rows is an ESTIMATE (Ramsar sites cover ~2.5 million km²; a res-9 cell is 0.1 km²).
    ramsar: {
      from: 's3://public-wetlands/ramsar/hex/',
      name: 'ramsar-sites',
      cell: { resolution: 9 },
      parents: [8, 7, 6, 5, 4, 3, 2, 1],
      rows: 25_000_000,
    },
  },
  prose: wetlandsProse,
};
