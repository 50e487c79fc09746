import type { DatasetSpec } from '../constructs/index.ts';
import { hydrobasinsProse } from './hydrobasins.prose.ts';

/** HydroBASINS' nine regions: Africa, Arctic, Asia, Australasia, Europe, Greenland, North and South America, Siberia. */
type LayerInput = NonNullable<DatasetSpec['layers']>[string];

const CONTINENTS = ['af', 'ar', 'as', 'au', 'eu', 'gr', 'na', 'sa', 'si'] as const;

/**
 * Per level: features (the lab's README: the sum over the nine regions), vertices (a GUESS for sizing
 * only: every level traces the same coastlines, finer levels add inner divides; confirm with
 * `cng inspect`), and hex features per work unit (coarse levels have continent-sized basins of
 * ~10–20 million res-8 cells each: one or a few per pod, with more memory).
 */
const LEVELS: [level: number, features: number, vertices: number, featuresPerUnit: number, hexMemory?: string][] = [
  [1, 10, 20_000_000, 1, '32Gi'],
  [2, 62, 22_000_000, 1, '32Gi'],
  [3, 292, 25_000_000, 2, '16Gi'],
  [4, 1_342, 30_000_000, 8, '16Gi'],
  [5, 4_734, 40_000_000, 25, '8Gi'],
  [6, 16_397, 55_000_000, 80],
  [7, 57_646, 75_000_000, 250],
  [8, 190_675, 100_000_000, 800],
  [9, 508_190, 130_000_000, 2_000],
  [10, 941_012, 160_000_000, 4_000],
  [11, 1_031_785, 175_000_000, 4_000],
  [12, 1_034_083, 180_000_000, 4_000],
];

const nn = (level: number) => String(level).padStart(2, '0');

/** One level: the nine regions' shapefiles merged into one layer, the region's file in `source_file`. */
function level([level, features, vertices, featuresPerUnit, hexMemory]: (typeof LEVELS)[number]): LayerInput {
  return {
    source: CONTINENTS.map((c) => `s3://public-hydrobasins/raw/hybas_${c}_lev${nn(level)}_v1c.shp`),
    sourceFileColumn: 'source_file',
    layer: `hybas_*_lev${nn(level)}_v1c`,
    name: `level_${nn(level)}`,
    features,
    vertices,
    hex: { featuresPerUnit },
    ...(hexMemory ? { resources: { hex: { memory: hexMemory } } } : {}),
  };
}

/**
 * HydroBASINS v1c (Lehner & Grill 2013): nested watershed boundaries in 12 Pfafstetter levels, each
 * level one layer merged from the nine regional shapefiles (9 × 12 = 108; the earlier parquet files
 * were merged by hand, with no script). Keys as published: `level_NN.parquet` (now with
 * `level_NN.pmtiles` and `level_NN/hex/`), and `hydrobasins_unified.pmtiles` (source-layer
 * `hydrobasins`: L3 at z0–1, L4 z2, L5 z3–4, L6 z5–12, as `create_combined_pmtiles.sh` made it).
 * Every level is hexed at res 8 (parents 7…3) as UBIGINT; the earlier hex covered L3–6 only, as
 * STRING h8 (`level_NN/hexes/`, then renamed copies `L3/`…`L5/`).
 *
 * The sources are a GUESS: the nine regions' v1c shapefiles (`hybas_<region>_lev<NN>_v1c.shp`, as
 * HydroSHEDS distributes them in `hybas_<region>_lev01-12_v1c.zip`) unzipped into
 * `public-hydrobasins/raw/`. Confirm with `cng inspect 's3://public-hydrobasins/raw/hybas_*_lev03_v1c.shp'`
 * (or upload them there) before merging.
 */
export const hydrobasins: DatasetSpec = {
  name: 'hydrobasins',
  title: 'HydroBASINS v1c',
  run: 1,
  bucket: 'public-hydrobasins',
  hex: { resolution: 8, parents: [7, 6, 5, 4, 3] },
  maxPods: 60,
  layers: Object.fromEntries(LEVELS.map((l) => [`l${l[0]}`, level(l)])),
  tilesets: {
    unified: {
      name: 'hydrobasins_unified',
      layer: 'hydrobasins',
      zooms: { l3: [0, 1], l4: [2, 2], l5: [3, 4], l6: [5, 12] },
    },
  },
  prose: hydrobasinsProse,
};
