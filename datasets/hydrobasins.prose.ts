import type { DatasetProse } from '../constructs/index.ts';

const COUNTS = [10, 62, 292, 1_342, 4_734, 16_397, 57_646, 190_675, 508_190, 941_012, 1_031_785, 1_034_083];

/**
 * Documentation prose for HydroBASINS v1c. Column descriptions are TRANSCRIBED from the HydroBASINS
 * technical documentation (v1c), not read from the shapefiles; so is `hydrobasins.schema.json`.
 * Regenerate it from the first run (`cng docs hydrobasins --brief --write-schema --s3-endpoint …`).
 */
export const hydrobasinsProse: DatasetProse = {
  title: 'HydroBASINS v1c: nested watershed boundaries, levels 1–12',
  description:
    'HydroBASINS delineates sub-basins of the whole land surface (without Antarctica) in 12 nested levels following the Pfafstetter ' +
    'coding: level 1 holds 10 continental basins, level 12 over a million sub-basins. Derived from HydroSHEDS at 15 arc-seconds ' +
    '(Lehner & Grill 2013), version 1c, distributed as nine regional shapefiles per level.\n\n' +
    'This collection merges the nine regions of each level into one layer and republishes every level as GeoParquet (EPSG:4326), ' +
    'PMTiles and H3 hexagons at resolution 8 (parents 7 to 3), plus `hydrobasins_unified.pmtiles`, one archive (source-layer ' +
    '`hydrobasins`) showing level 3 at zooms 0–1, level 4 at zoom 2, level 5 at zooms 3–4 and level 6 at zooms 5–12.',
  license: 'other',
  licenseText:
    'HydroSHEDS data are free for non-commercial and commercial use under the HydroSHEDS license agreement, which requires attribution ' +
    '(to confirm for republication before publishing).',
  licenseUrl: 'https://www.hydrosheds.org/products/hydrobasins',
  citation:
    'Lehner, B., Grill G. (2013). Global river hydrography and network routing: baseline data and new approaches to study the world\'s large river systems. Hydrological Processes, 27(15): 2171–2186.',
  doi: '10.1002/hyp.9740',
  providers: [{ name: 'WWF / McGill University (HydroSHEDS)', roles: ['producer', 'licensor'], url: 'https://www.hydrosheds.org/products/hydrobasins' }],
  keywords: ['watersheds', 'river basins', 'HydroSHEDS', 'HydroBASINS', 'Pfafstetter', 'global', 'H3', 'GeoParquet', 'PMTiles'],
  temporal: [null, null],
  links: [
    { href: 'https://www.hydrosheds.org/products/hydrobasins', title: 'HydroSHEDS: HydroBASINS', rel: 'via' },
    { href: 'https://data.hydrosheds.org/file/technical-documentation/HydroBASINS_TechDoc_v1c.pdf', title: 'HydroBASINS technical documentation v1c', rel: 'describedby' },
  ],
  notes: [
    'Columns are transcribed from the HydroBASINS v1c technical documentation; confirm them against the first run (the prose file says how).',
    'Feature counts per level are the lab\'s earlier README\'s; the sources (the nine regional shapefiles per level in `raw/`) are to confirm.',
  ],
  layers: Object.fromEntries(
    COUNTS.map((n, i) => [
      `l${i + 1}`,
      { title: `Level ${i + 1}`, description: `The ${n.toLocaleString('en-US')} basins of Pfafstetter level ${i + 1}, nine regional files merged (region in \`source_file\`).` },
    ]),
  ),
  columns: {
    HYBAS_ID: 'Unique basin identifier (12 digits): region, level and a running number; stable across the levels\' files.',
    NEXT_DOWN: 'HYBAS_ID of the next basin downstream; 0 where there is none (an outlet to the ocean or an endorheic sink).',
    NEXT_SINK: 'HYBAS_ID of the next downstream sink (the outlet to the ocean, or the endorheic sink).',
    MAIN_BAS: 'HYBAS_ID of the most downstream sink, i.e. the main basin this basin belongs to.',
    DIST_SINK: 'Distance from the basin\'s outlet to the next downstream sink, in km.',
    DIST_MAIN: 'Distance from the basin\'s outlet to the most downstream sink, in km.',
    SUB_AREA: 'Area of the basin itself, in km².',
    UP_AREA: 'Total upstream area draining through the basin\'s outlet, including the basin itself, in km².',
    PFAF_ID: 'Pfafstetter code of the basin (one digit per level).',
    ENDO: 'Endorheic flag: 0 not endorheic, 1 part of an endorheic basin without a sink, 2 the sink of an endorheic basin.',
    COAST: 'Coastal flag: 1 a lumped coastal basin (small basins draining directly to the ocean), 0 otherwise.',
    ORDER: 'Classical stream order of the basin\'s river (1 the main stem to the ocean or sink, 2 its tributaries, …); 0 for coastal basins.',
    SORT: 'Running number in upstream-to-downstream order: sorting by it puts every basin after its upstream ones.',
    source_file: 'The regional shapefile the row was read from (e.g. hybas_af_lev03_v1c.shp: region af, Africa).',
  },
};
