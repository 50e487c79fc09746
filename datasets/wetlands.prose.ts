import type { DatasetProse } from '../constructs/index.ts';

export const wetlandsProse: DatasetProse = {
  title: 'Global Lakes and Wetlands Database v2 (GLWD v2.0)',
  description:
    'The Global Lakes and Wetlands Database version 2 maps 33 classes of lakes, rivers and wetlands worldwide at about 500 m (15 arc-seconds) ' +
    '(Lehner et al. 2024, WWF and McGill University). This collection republishes its main-class raster as a Cloud-Optimized GeoTIFF and ' +
    'H3 hexagons at resolution 8 (majority class per cell, with per-class area fractions). Ramsar sites and the US National Wetlands Inventory ' +
    'join this bucket later.',
  license: 'CC-BY-4.0',
  licenseText: 'GLWD v2 is distributed under CC-BY 4.0 (as its producers state; confirm before publishing).',
  licenseUrl: 'https://www.hydrosheds.org/products/glwd',
  citation:
    'Lehner, B., Anand, M., Fluet-Chouinard, E., et al. (2024). Mapping the world\'s inland surface waters: an update to the Global Lakes and Wetlands Database (GLWD v2). Earth System Science Data Discussions.',
  providers: [{ name: 'WWF and McGill University (HydroSHEDS)', roles: ['producer', 'licensor'], url: 'https://www.hydrosheds.org/products/glwd' }],
  keywords: ['wetlands', 'lakes', 'rivers', 'GLWD', 'HydroSHEDS', 'global', 'H3', 'COG'],
  temporal: [null, null],
  links: [{ href: 'https://www.hydrosheds.org/products/glwd', title: 'HydroSHEDS: GLWD', rel: 'via' }],
  notes: ['Class 0 (no wetland) is treated as nodata. The class names are not listed here yet: take them from the GLWD v2 technical documentation (todo.md).'],
  rasters: {
    glwd: { title: 'GLWD v2 main class', description: 'The dominant lake, river or wetland class of each pixel (GLWD v2 main classes 1–33).' },
  },
};
