import type { DatasetProse } from '../constructs/index.ts';

export const ncpProse: DatasetProse = {
  title: "Nature's contributions to people (NCP)",
  description:
    "Two global rasters of nature's contributions to people, as integer scores from 0 to 19 (−128 is nodata): `ncp_biod_nathab`, combined with " +
    'biodiversity and natural habitat, and `ncp_only`.\n\nThis collection republishes them as Cloud-Optimized GeoTIFFs and H3 hexagons at resolution 8 ' +
    '(area-weighted mean per cell, divided by 19: column `ncp`, a score from 0 to 1).',
  license: 'proprietary',
  licenseText: 'License: not stated in the source; check before publishing.',
  licenseUrl: 'https://s3-west.nrp-nautilus.io/public-ncp/README.md',
  citation: 'Source and citation: not stated in the catalogue; check the producer before publishing.',
  providers: [{ name: 'Producer not recorded in the catalogue (to confirm)', roles: ['producer'] }],
  keywords: ["nature's contributions to people", 'ecosystem services', 'biodiversity', 'global', 'H3', 'COG'],
  temporal: [null, null],
  notes: [
    'The COGs hold the raw integer scores 0–19; the hexagons hold `ncp`, the area-weighted mean divided by 19 (0–1), as the earlier product did.',
    'Producer, license, citation and date are not recorded in the catalogue: to confirm before publishing.',
  ],
  rasters: {
    'ncp-biod-nathab': { title: 'NCP with biodiversity and natural habitat', description: "Nature's contributions to people combined with biodiversity and natural habitat, score 0–19 in the COG, 0–1 (÷ 19) in the hexagons.", units: 'score (COG 0–19; hex 0–1)' },
    'ncp-only': { title: 'NCP only', description: "Nature's contributions to people alone, score 0–19 in the COG, 0–1 (÷ 19) in the hexagons.", units: 'score (COG 0–19; hex 0–1)' },
  },
};
