import type { DatasetSpec } from '../constructs/index.ts';
import { calenviroscreen50Prose } from './calenviroscreen-5-0.prose.ts';

/**
 * CalEnviroScreen 5.0 (draft) — OEHHA's cumulative-impact screening of California's 9,106 census
 * tracts, read straight from the geodatabase inside the zip that data.ca.gov publishes (GDAL
 * `/vsizip//vsicurl/`: no hand-made preprocessing Job, no unzip). Layout as published:
 * `public-calenviroscreen/calenviroscreen-5-0/ces5.{parquet,pmtiles}`, `ces5/hex` (res 10).
 */
export const calenviroscreen50: DatasetSpec = {
  name: 'calenviroscreen-5-0',
  title: 'CalEnviroScreen 5.0 (draft)',
  run: 1,
  source:
    '/vsizip//vsicurl/https://data.ca.gov/dataset/b38b4e2c-7ef0-47b3-bff0-29e0a80c8ed8/resource/85639252-b28f-41ce-a8b2-0f03e4484fa6/download/calenviroscreen50_d_12226.gdb.zip/calenviroscreen50_D_12226.gdb',
  bucket: 'public-calenviroscreen',
  prefix: 'calenviroscreen-5-0',
  hex: { resolution: 10, parents: [9, 8] },
  maxPods: 20,
  layers: {
    ces5: { layer: 'CES5_Draft', features: 9_106 },
  },
  prose: calenviroscreen50Prose,
};
