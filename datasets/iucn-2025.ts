import type { DatasetSpec } from '../constructs/index.ts';
import { iucn2025Prose } from './iucn-2025.prose.ts';

/** The 14 richness rasters: species richness (SR) and threatened-species richness (THR_SR) per group, and range-size rarity (RWR). */
const GROUPS = ['Amphibians', 'Birds', 'Mammals', 'Reptiles', 'FW_Fish', 'Combined'] as const;
const RICHNESS = [...GROUPS.flatMap((g) => [`${g}_SR_2025`, `${g}_THR_SR_2025`]), 'Combined_RWR_2025', 'Combined_THR_RWR_2025'];

/**
 * IUCN Red List 2025 in one dataset (the bucket has one README and STAC): the amphibian range maps
 * (the only range-map group processed so far) and the 14 richness rasters.
 * - `amphibians`: polygons from `raw/rangemaps/AMPHIBIANS.zip` (read inside the zip), res 10, as
 *   published at `public-iucn/amphibians.{parquet,pmtiles}`, `amphibians/hex` (~10,500 polygons:
 *   53 × 199 in the earlier job, inferred). Mammals, reptiles, plants and birds (BOTW) follow.
 * - richness: `raw/richness/<file>.tif` → `cog/<name>.tif`, `hex/<name>/` (pattern B; the hex path
 *   is the published one, e.g. `hex/birds_sr/`), res 8. Richness is a number of species per pixel,
 *   not additive over pixels: `continuous` (area-weighted mean per cell), and RWR keeps its
 *   fractions (the earlier hex read it as integers).
 */
export const iucn2025: DatasetSpec = {
  name: 'iucn-2025',
  title: 'IUCN Red List 2025: amphibian range maps and species richness',
  run: 1,
  bucket: 'public-iucn',
  hex: { resolution: 10, parents: [9, 8] },
  maxPods: 100,
  layers: {
    amphibians: {
      // Layer name inferred (a shapefile named after the group); confirm with `cng inspect`. Should the
      // zip hold several parts (AMPHIBIANS_PART1, _PART2), this waits for multi-file layers (item 2).
      layer: 'AMPHIBIANS',
      features: 10_500,
      source: '/vsizip//vsis3/public-iucn/raw/rangemaps/AMPHIBIANS.zip',
    },
  },
  rasters: Object.fromEntries(
    RICHNESS.map((file) => {
      const name = file.replace(/_2025$/, '').toLowerCase();
      return [name.replace(/_/g, '-'), { source: `s3://public-iucn/raw/richness/${file}.tif`, name, valueKind: 'continuous' as const }];
    }),
  ),
  prose: iucn2025Prose,
};
