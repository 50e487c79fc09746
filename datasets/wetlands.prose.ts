import type { DatasetProse } from '../constructs/index.ts';

export const wetlandsProse: DatasetProse = {
  title: 'Wetlands: Global Lakes and Wetlands Database v2 (GLWD v2.0) and the US National Wetlands Inventory (NWI)',
  description:
    'The Global Lakes and Wetlands Database version 2 maps 33 classes of lakes, rivers and wetlands worldwide at about 500 m (15 arc-seconds) ' +
    '(Lehner et al. 2024, WWF and McGill University). This collection republishes its main-class raster as a Cloud-Optimized GeoTIFF and ' +
    'H3 hexagons at resolution 8 (majority class per cell, with per-class area fractions).\n\n' +
    "The US Fish and Wildlife Service's National Wetlands Inventory maps wetlands and deepwater habitats of the United States " +
    '(about 38 million polygons, Cowardin classification). Its per-state GeoParquet files are merged into one layer and republished ' +
    'as GeoParquet (EPSG:4326), PMTiles and H3 hexagons at resolution 10 (parents 9 and 8; every cell a wetland overlaps). ' +
    'Ramsar sites join this bucket later.',
  license: 'CC-BY-4.0',
  licenseText: 'GLWD v2 is distributed under CC-BY 4.0 (as its producers state; confirm before publishing). NWI data are US Government works in the public domain; credit the US Fish and Wildlife Service.',
  licenseUrl: 'https://www.hydrosheds.org/products/glwd',
  citation:
    'Lehner, B., Anand, M., Fluet-Chouinard, E., et al. (2024). Mapping the world\'s inland surface waters: an update to the Global Lakes and Wetlands Database (GLWD v2). Earth System Science Data Discussions. ' +
    'U.S. Fish and Wildlife Service. National Wetlands Inventory. https://www.fws.gov/program/national-wetlands-inventory',
  providers: [
    { name: 'WWF and McGill University (HydroSHEDS)', roles: ['producer', 'licensor'], url: 'https://www.hydrosheds.org/products/glwd' },
    { name: 'U.S. Fish and Wildlife Service, National Wetlands Inventory', roles: ['producer'], url: 'https://www.fws.gov/program/national-wetlands-inventory' },
    { name: 'Qiusheng Wu (GeoParquet conversion, source.coop giswqs/nwi)', roles: ['processor'], url: 'https://source.coop/giswqs/nwi' },
  ],
  keywords: ['wetlands', 'lakes', 'rivers', 'GLWD', 'HydroSHEDS', 'NWI', 'United States', 'global', 'H3', 'COG', 'GeoParquet', 'PMTiles'],
  temporal: [null, null],
  links: [
    { href: 'https://www.hydrosheds.org/products/glwd', title: 'HydroSHEDS: GLWD', rel: 'via' },
    { href: 'https://source.coop/giswqs/nwi', title: 'NWI as GeoParquet on source.coop', rel: 'via' },
  ],
  notes: [
    'Class 0 (no wetland) is treated as nodata. The class names are not listed here yet: take them from the GLWD v2 technical documentation (todo.md).',
    'NWI: the count (~38 million), the state files and the columns are transcribed or inferred, not read from the files: confirm with `cng inspect` (todo.md).',
  ],
  layers: {
    nwi: {
      title: 'National Wetlands Inventory',
      description: 'Wetland and deepwater polygons of the United States (NWI), one per mapped wetland, merged from the per-state files.',
      columns: {
        ATTRIBUTE: "Cowardin classification code of the wetland (system, subsystem, class, subclass, water regime and special modifiers, e.g. 'PFO1A').",
        WETLAND_TYPE: "Simplified wetland type derived from ATTRIBUTE (e.g. 'Freshwater Forested/Shrub Wetland', 'Lake', 'Riverine').",
        ACRES: 'Area of the polygon in acres, as computed by NWI.',
        Shape_Length: 'Perimeter of the polygon in the source projection (metres), from the source geodatabase.',
        Shape_Area: 'Area of the polygon in the source projection (square metres), from the source geodatabase.',
        source_file: "The per-state file the row was read from (e.g. 'CA_Wetlands.parquet').",
      },
    },
  },
  rasters: {
    glwd: { title: 'GLWD v2 main class', description: 'The dominant lake, river or wetland class of each pixel (GLWD v2 main classes 1–33).' },
  },
};
