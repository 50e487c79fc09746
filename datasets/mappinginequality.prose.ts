import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for Mapping Inequality. Column descriptions are TRANSCRIBED from the lab's
 * published STAC (data-workflows 574995b), which listed fewer columns than the GeoPackage may have:
 * `mappinginequality.schema.json` holds only those. Regenerate from the first run
 * (`cng docs mappinginequality --brief --write-schema --s3-endpoint https://s3-west.nrp-nautilus.io`).
 */
export const mappinginequalityProse: DatasetProse = {
  title: 'Mapping Inequality: redlining in New Deal America',
  description:
    "The Home Owners' Loan Corporation (HOLC) graded the neighbourhoods of some 200 US cities for mortgage risk in the 1930s, from A " +
    '("Best") to D ("Hazardous", outlined in red: "redlining"). Mapping Inequality, by the University of Richmond\'s Digital Scholarship ' +
    'Lab and partners, digitized those maps.\n\n' +
    'This collection republishes its GeoPackage as GeoParquet (EPSG:4326), PMTiles (source-layer `mappinginequality`) and H3 hexagons at ' +
    'resolution 10 (parents 9 and 8).',
  license: 'CC-BY-NC-SA-4.0',
  licenseText: 'Creative Commons Attribution-NonCommercial-ShareAlike 4.0 (as the lab\'s earlier STAC stated; confirm on the Mapping Inequality site).',
  licenseUrl: 'https://creativecommons.org/licenses/by-nc-sa/4.0/',
  citation:
    'Robert K. Nelson, LaDale Winling, et al., "Mapping Inequality: Redlining in New Deal America," edited by Robert K. Nelson and Edward L. Ayers, American Panorama: An Atlas of United States History (2023). https://dsl.richmond.edu/panorama/redlining',
  providers: [{ name: 'Digital Scholarship Lab, University of Richmond', roles: ['producer', 'licensor'], url: 'https://dsl.richmond.edu/panorama/redlining' }],
  keywords: ['redlining', 'HOLC', 'Mapping Inequality', 'environmental justice', 'United States', 'H3', 'GeoParquet', 'PMTiles'],
  temporal: ['1935-01-01T00:00:00Z', '1940-12-31T23:59:59Z'],
  links: [{ href: 'https://dsl.richmond.edu/panorama/redlining', title: 'Mapping Inequality', rel: 'via' }],
  notes: ['Columns beyond those listed here may exist in the GeoPackage; the first run\'s schema snapshot will show them (the prose file says how).'],
  layers: {
    mappinginequality: { title: 'HOLC graded areas', description: 'One polygon per HOLC-graded neighbourhood of a city survey, with its grade and label.' },
  },
  columns: {
    area_id: "ID of the specific polygon area",
    city: "Name of the city",
    state: "Two-letter state abbreviation",
    grade: "HOLC Grade: A (Best), B (Still Desirable), C (Definitely Declining), D (Hazardous)",
    label: "Full area label (e.g., A1, B2)",
    fill: "Hex color code used in original maps",
  },
};
