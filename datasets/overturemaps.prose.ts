import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for the Overture divisions extracts. The lab's extraction (from the
 * 2025-07-23.0 release's `divisions/division_area`) is not in any repository; the columns below are
 * those the earlier regions hex kept (`id, country, region, name`), ASSUMED the same for counties.
 * `overturemaps.schema.json` transcribes them. Confirm with `cng inspect` and `cng docs overturemaps
 * --brief --write-schema` after the first run.
 */
export const overturemapsProse: DatasetProse = {
  title: 'Overture Maps divisions 2025-07-23.0: regions, counties and countries',
  description:
    "Countries, administrative regions (first-level subdivisions: states, provinces) and counties (second-level subdivisions) of the world, extracted by the lab " +
    "from the Overture Maps Foundation's divisions theme, release 2025-07-23.0.\n\n" +
    'This collection republishes the extracts as GeoParquet (EPSG:4326), PMTiles and H3 hexagons at resolution 10 (parents 9 and 8; countries at resolution 8, parents 6 and 4), every feature hexed.',
  license: 'ODbL-1.0',
  licenseText:
    'Overture divisions are derived from OpenStreetMap and other sources: ODbL-1.0 (the earlier STAC said CDLA-Permissive-2.0, which covers other Overture themes). Check the release notes before publishing.',
  licenseUrl: 'https://docs.overturemaps.org/attribution/',
  citation: 'Overture Maps Foundation (2025). Overture Maps divisions, release 2025-07-23.0. https://overturemaps.org. © OpenStreetMap contributors.',
  providers: [{ name: 'Overture Maps Foundation', roles: ['producer', 'licensor'], url: 'https://overturemaps.org/' }],
  keywords: ['administrative boundaries', 'divisions', 'Overture Maps', 'regions', 'counties', 'countries', 'global', 'H3', 'GeoParquet', 'PMTiles'],
  temporal: ['2025-07-23T00:00:00Z', '2025-07-23T23:59:59Z'],
  links: [{ href: 'https://docs.overturemaps.org/guides/divisions/', title: 'Overture Maps: divisions guide', rel: 'via' }],
  notes: ['The extraction from the Overture release is not recorded; counties\' and countries\' columns are assumed equal to regions\' until the first run shows them.'],
  layers: {
    regions: { title: 'Regions', description: 'First-level administrative subdivisions (division areas of subtype region).' },
    counties: { title: 'Counties', description: 'Second-level administrative subdivisions (division areas of subtype county).' },
    countries: { title: 'Countries', description: 'Countries and dependencies (division areas of subtype country), hexed at resolution 8 (parents 6 and 4).' },
  },
  columns: {
    id: "Overture GERS id of the division area.",
    country: "ISO 3166-1 alpha-2 country code.",
    region: "ISO 3166-2 code of the region the division lies in.",
    name: "Primary name of the division.",
  },
};
