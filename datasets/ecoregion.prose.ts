import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for the ecoregions. The catalogue records no README, STAC or schema for this
 * product: the source is inferred to be RESOLVE Ecoregions 2017 (846 ecoregions) from its feature
 * count, and the columns below (and `ecoregion.schema.json`) are that release's field list, NOT
 * read from `raw/ecoregions.gdb`. Confirm with `cng inspect s3://public-ecoregion/raw/ecoregions.gdb`
 * and `cng docs ecoregion --brief --write-schema` after the first run.
 */
export const ecoregionProse: DatasetProse = {
  title: 'Terrestrial ecoregions of the world (RESOLVE Ecoregions 2017)',
  description:
    'The 846 terrestrial ecoregions of the world grouped into 14 biomes and 8 realms, as mapped by Dinerstein et al. (2017), "An ' +
    'Ecoregion-Based Approach to Protecting Half the Terrestrial Realm", with the Nature Needs Half protection categories.\n\n' +
    'This collection republishes them as GeoParquet (EPSG:4326), PMTiles and H3 hexagons at resolution 8 (parents 6 and 4). ' +
    'The source release is inferred from the feature count; see the notes.',
  license: 'CC-BY-4.0',
  licenseText: 'RESOLVE Ecoregions 2017 is published under CC-BY 4.0 (its LICENSE field); confirm that raw/ecoregions.gdb is that release before publishing.',
  licenseUrl: 'https://creativecommons.org/licenses/by/4.0/',
  citation: 'Dinerstein, E., Olson, D., Joshi, A., et al. (2017). An Ecoregion-Based Approach to Protecting Half the Terrestrial Realm. BioScience 67(6), 534–545.',
  doi: '10.1093/biosci/bix014',
  providers: [{ name: 'RESOLVE', roles: ['producer', 'licensor'], url: 'https://ecoregions.appspot.com/' }],
  keywords: ['ecoregions', 'biomes', 'biogeography', 'Nature Needs Half', 'global', 'H3', 'GeoParquet', 'PMTiles'],
  temporal: ['2017-01-01T00:00:00Z', '2017-12-31T23:59:59Z'],
  links: [{ href: 'https://ecoregions.appspot.com/', title: 'RESOLVE Ecoregions 2017', rel: 'via' }],
  notes: ['Source release, layer name and fields are inferred (846–850 features, no README or STAC in the catalogue): to confirm before the run.'],
  layers: {
    ecoregion: { title: 'Ecoregions', description: 'One (multi)polygon per terrestrial ecoregion, with its biome, realm and Nature Needs Half category.' },
  },
  columns: {
    ECO_NAME: "Name of the ecoregion.",
    BIOME_NUM: "Number of the biome the ecoregion belongs to (1–14).",
    BIOME_NAME: "Name of the biome (e.g. Tropical & Subtropical Moist Broadleaf Forests).",
    REALM: "Biogeographic realm (e.g. Neotropic, Palearctic).",
    ECO_BIOME_: "Realm and biome code of the ecoregion.",
    NNH: "Nature Needs Half category (1 Half Protected … 4 Nature Imperiled), from Dinerstein et al. 2017.",
    ECO_ID: "Ecoregion id.",
    SHAPE_LENG: "Perimeter of the source polygon, as stored by the producer (degrees).",
    SHAPE_AREA: "Area of the source polygon, as stored by the producer (square degrees).",
    NNH_NAME: "Name of the Nature Needs Half category.",
    COLOR: "Map colour of the ecoregion (hex).",
    COLOR_BIO: "Map colour of the biome (hex).",
    COLOR_NNH: "Map colour of the Nature Needs Half category (hex).",
    LICENSE: "Licence of the record, as given by the producer (CC-BY 4.0).",
    Shape_Length: "Perimeter of the polygon as stored in the geodatabase (source CRS units).",
    Shape_Area: "Area of the polygon as stored in the geodatabase (source CRS units).",
  },
};
