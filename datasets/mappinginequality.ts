import type { DatasetSpec } from '../constructs/index.ts';
import { mappinginequalityProse } from './mappinginequality.prose.ts';

/**
 * Mapping Inequality — the HOLC "redlining" maps digitized by the University of Richmond's Digital
 * Scholarship Lab, read from the GeoPackage it publishes over HTTPS. Layout as published:
 * `public-mappinginequality/mappinginequality.{parquet,pmtiles}`, `mappinginequality/hex` (res 10,
 * UBIGINT). The PMTiles source-layer is `mappinginequality` (the STAC said `redlining`).
 */
export const mappinginequality: DatasetSpec = {
  name: 'mappinginequality',
  title: 'Mapping Inequality: redlining in New Deal America',
  run: 1,
  source: '/vsicurl/https://dsl.richmond.edu/panorama/redlining/static/mappinginequality.gpkg',
  bucket: 'public-mappinginequality',
  hex: { resolution: 10, parents: [9, 8] },
  maxPods: 20,
  layers: {
    // Layer name and count not recorded in the catalogue (about 10,000 HOLC areas): confirm with
    // `cng inspect`; the hex plan covers every feature whatever the count says.
    mappinginequality: { layer: 'mappinginequality', features: 10_000 },
  },
  prose: mappinginequalityProse,
};
