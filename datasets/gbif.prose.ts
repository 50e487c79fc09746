import type { DatasetProse } from '../constructs/index.ts';

/** Documentation prose for the GBIF occurrence snapshot (points: the hex columns are the kept source columns and the pipeline's own). */
export const gbifProse: DatasetProse = {
  title: 'GBIF occurrences, 2025-06-01 snapshot, on H3',
  description:
    "Every georeferenced occurrence record of the Global Biodiversity Information Facility's monthly snapshot of 1 June 2025 " +
    '(about 2.5 billion records, the GBIF open-data Parquet export on AWS), indexed by H3 cell at resolution 10 with every coarser ' +
    'parent (UBIGINT), partitioned by resolution-0 cell. Records without usable coordinates (missing, not finite, out of range, or ' +
    'exactly 0, 0) are counted in the manifest and left out; nothing is de-duplicated.',
  license: 'CC-BY-NC-4.0',
  licenseText:
    'Occurrence records carry their publishers\' licenses (CC0, CC-BY 4.0 or CC-BY-NC 4.0, per record: column `license` of the source, ' +
    'not kept here; `datasetkey` names the dataset). The most restrictive, CC-BY-NC 4.0, is given; cite the snapshot by its DOI when using it.',
  licenseUrl: 'https://www.gbif.org/terms',
  citation: 'GBIF.org (1 June 2025) GBIF Occurrence Data, AWS open-data snapshot s3://gbif-open-data-us-east-1/occurrence/2025-06-01/ (a derived-dataset DOI should be registered for a publication).',
  providers: [{ name: 'GBIF (Global Biodiversity Information Facility)', roles: ['producer', 'licensor', 'host'], url: 'https://www.gbif.org/' }],
  keywords: ['occurrences', 'biodiversity', 'GBIF', 'species', 'points', 'global', 'H3'],
  temporal: [null, '2025-06-01T00:00:00Z'],
  links: [{ href: 'https://registry.opendata.aws/gbif/', title: 'GBIF on the AWS open-data registry', rel: 'via' }],
  notes: [
    'The Mapping Inequality join (`redlined_cities_gbif.parquet`), `taxonomy/` and `taxa.parquet` listed in the earlier STAC have no code in the catalogue and are not made here.',
  ],
};
