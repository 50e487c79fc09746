import type { DatasetSpec } from '../constructs/index.ts';
import { ecoregionProse } from './ecoregion.prose.ts';

/**
 * Terrestrial ecoregions of the world (846–850 polygons; RESOLVE Ecoregions 2017 by the count —
 * to confirm with `cng inspect`). Layout as published: `public-ecoregion/ecoregion.{parquet,pmtiles}`,
 * `ecoregion/hex`. Resolution 8, as published, but now labelled and with real parents (the earlier
 * job asked for parents "9,8,0" at resolution 8 and got h0 only). Global polygons are few and huge:
 * small work units (5 features) with more memory, as the earlier job needed.
 */
export const ecoregion: DatasetSpec = {
  name: 'ecoregion',
  title: 'Terrestrial ecoregions of the world',
  run: 1,
  // The earlier jobs read public-ecoregions (a typo) in one place and public-ecoregion in another.
  source: 's3://public-ecoregion/raw/ecoregions.gdb',
  bucket: 'public-ecoregion',
  maxPods: 30,
  layers: {
    ecoregion: {
      // Layer name inferred (RESOLVE's 2017 release); confirm with `cng inspect` before the run.
      layer: 'Ecoregions2017',
      features: 846,
      hex: { resolution: 8, parents: [6, 4], featuresPerUnit: 5 },
      resources: { hex: { memory: '16Gi' } },
    },
  },
  prose: ecoregionProse,
};
