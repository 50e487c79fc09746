import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for the iNaturalist range maps. Columns are TRANSCRIBED from code that reads
 * the GeoPackages (`taxon_id`, `name`, `rank`, `geomodel_version`), not from the files; so is
 * `inaturalist.schema.json`. Confirm with `cng inspect` and regenerate after the first run
 * (`cng docs inaturalist --brief --write-schema --s3-endpoint …`).
 */
export const inaturalistProse: DatasetProse = {
  title: 'iNaturalist geomodel range maps',
  description:
    "Modelled range maps of the taxa iNaturalist's geomodel covers, as iNaturalist publishes them (Open Range Map Dataset): one " +
    'polygon per taxon, predicted from research-grade observations and thresholded, distributed as 27 GeoPackages by iconic taxon ' +
    '(the largest groups split in several files).\n\n' +
    'This collection merges the 27 files into one GeoParquet (EPSG:4326; the file of each row in `source_file`) and H3 hexagons at ' +
    'resolution 4 (parents 3 and 2): one row per taxon and cell. There is no PMTiles archive: the ranges overlap.',
  license: 'CC-BY-4.0',
  licenseText: 'iNaturalist publishes the range maps under CC-BY 4.0 (confirm for the downloaded release before publishing).',
  licenseUrl: 'https://www.inaturalist.org/pages/range_maps',
  citation: 'iNaturalist. Open Range Map Dataset (geomodel range maps). https://www.inaturalist.org/pages/range_maps (release and access date to record).',
  providers: [{ name: 'iNaturalist', roles: ['producer', 'licensor'], url: 'https://www.inaturalist.org/pages/range_maps' }],
  keywords: ['species ranges', 'range maps', 'iNaturalist', 'geomodel', 'biodiversity', 'global', 'H3', 'GeoParquet'],
  temporal: [null, null],
  links: [{ href: 'https://www.inaturalist.org/pages/range_maps', title: 'iNaturalist range maps', rel: 'via' }],
  notes: [
    'The feature count (~100,000 taxa) is an estimate and the columns are transcribed: confirm both with `cng inspect` before the run.',
    'The earlier release and its download date are not recorded; record them in `raw/` (the GeoPackages are hand-downloaded).',
  ],
  layers: {
    ranges: {
      title: 'Range maps',
      description: 'One (multi)polygon per taxon: the area where the geomodel predicts the taxon to occur, above its threshold.',
      columns: {
        taxon_id: 'iNaturalist taxon id (https://www.inaturalist.org/taxa/<taxon_id>).',
        name: 'Scientific name of the taxon.',
        rank: "Taxonomic rank of the taxon (e.g. 'species').",
        geomodel_version: 'Version of the iNaturalist geomodel that produced the range.',
        source_file: "The GeoPackage the row was read from, naming the iconic taxon group (e.g. 'iNaturalist_geomodel_Aves_1.gpkg').",
      },
    },
  },
};
