import type { DatasetSpec } from '../constructs/index.ts';
import { calenviroscreen50 } from './calenviroscreen-5-0.ts';
import { carbon } from './carbon.ts';
import { carbonV2 } from './carbon-v2.ts';
import { census2024 } from './census-2024.ts';
import { cpad2025b } from './cpad-2025b.ts';
import { ecoregion } from './ecoregion.ts';
import { gbif } from './gbif.ts';
import { hydrobasins } from './hydrobasins.ts';
import { inaturalist } from './inaturalist.ts';
import { iucn2025 } from './iucn-2025.ts';
import { mappinginequality } from './mappinginequality.ts';
import { ncp } from './ncp.ts';
import { overturemaps } from './overturemaps.ts';
import { padus41 } from './padus-4-1.ts';
import { sviDataset } from './svi.ts';
import { wdpa } from './wdpa.ts';
import { wetlands } from './wetlands.ts';

/**
 * Every dataset the repository synthesizes. Add a new dataset file here, at the end: the order is
 * the order in which datasets that cannot run at once start (docs/policy.md, "Datasets in lanes"),
 * and appending leaves the datasets already listed exactly as they were.
 */
export const datasets: DatasetSpec[] = [
  padus41, cpad2025b,
  calenviroscreen50, census2024, ecoregion, mappinginequality, overturemaps, sviDataset, wdpa, iucn2025,
  carbon, ncp, wetlands,
  carbonV2, hydrobasins, inaturalist, gbif,
];
