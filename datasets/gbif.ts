import type { DatasetSpec } from '../constructs/index.ts';
import { gbifProse } from './gbif.prose.ts';

/**
 * GBIF occurrences, the 2025-06-01 snapshot of GBIF's AWS open-data bucket (~4,600 Parquet files,
 * ~2.5 billion rows), hexed straight from the files (no GeoParquet, no PMTiles) at res 10 with every
 * coarser parent, UBIGINT — as the earlier `process_gbif_h3.py` (25 files a pod, h0–h10) and
 * `consolidate-job.yaml` did, at the same published path `public-gbif/2025-06/hex/h0=<cell>/`.
 *
 * Sizing as docs/datasets.md recommends (files 4,600, rows 2.5e9, 25 files a unit: 184 points-hex
 * pods of 2 CPU / 4 GiB), except the repartition: 40 units instead of the default 100. Each
 * points-repartition pod sorts one h0 cell at a time with a scratch disk sized for the largest cell
 * (~140 GiB), whatever the unit count; fewer units ask for 40 × 140 GiB of node disk at once instead
 * of 100 × 140 GiB (14 TiB), which the namespace's nodes are unlikely to have free. The run takes
 * longer only where a unit holds several large cells (the largest cell bounds it either way).
 */
export const gbif: DatasetSpec = {
  name: 'gbif',
  title: 'GBIF occurrences, 2025-06-01 snapshot',
  run: 1,
  bucket: 'public-gbif',
  maxPods: 100,
  points: {
    occurrence: {
      source: 's3://gbif-open-data-us-east-1/occurrence/2025-06-01/occurrence.parquet/*',
      sourceEndpoint: 'https://s3.us-east-1.amazonaws.com',
      files: 4600,
      rows: 2_500_000_000,
      bytes: 250_000_000_000,
      lon: 'decimallongitude',
      lat: 'decimallatitude',
      columns: ['gbifid', 'datasetkey', 'kingdom', 'phylum', 'class', 'order', 'family', 'genus', 'species', 'taxonkey',
        'countrycode', 'eventdate', 'year', 'basisofrecord', 'coordinateuncertaintyinmeters', 'decimallongitude', 'decimallatitude'],
      filesPerUnit: 25,
      hex: { resolution: 10, parents: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0] },
      repartition: { units: 40 },
      name: '2025-06',
    },
  },
  prose: gbifProse,
};
