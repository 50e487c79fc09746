import type { DatasetSpec } from '../constructs/index.ts';
import { padus41Prose } from './padus-4-1.prose.ts';

/**
 * PAD-US 4.1 — USGS Protected Areas Database of the United States (DOI 10.5066/P96WBCHS).
 * Every multipolygon layer → GeoParquet + PMTiles + H3 res-10 hex (parents 9, 8); the 8 lookup
 * tables → Parquet. Layer names and counts from `cng inspect` of the geodatabase.
 */
export const padus41: DatasetSpec = {
  name: 'padus-4-1',
  title: 'PAD-US 4.1',
  run: 1,
  source: 's3://public-padus/raw/PADUS4_1Geodatabase.gdb',
  bucket: 'public-padus',
  prefix: 'padus-4-1',
  hex: { resolution: 10, parents: [9, 8] },
  maxPods: 140,
  layers: {
    fee: { layer: 'PADUS4_1Fee', features: 296_456 },
    easement: { layer: 'PADUS4_1Easement', features: 341_954 },
    proclamation: { layer: 'PADUS4_1Proclamation', features: 3_439 },
    marine: { layer: 'PADUS4_1Marine', features: 1_739 },
    designation: { layer: 'PADUS4_1Designation', features: 13_398 },
    combined: { layer: 'PADUS4_1Combined_Proclamation_Marine_Fee_Designation_Easement', features: 656_986 },
  },
  tables: [
    'Public_Access', 'Category', 'Designation_Type', 'GAP_Status',
    'IUCN_Category', 'Agency_Name', 'Agency_Type', 'State_Name',
  ],
  mirror: { bucket: 'cboettig', prefix: 'padus/padus-4-1' },
  prose: padus41Prose,
};
