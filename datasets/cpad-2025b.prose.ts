import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for CPAD 2025b and CCED 2025b (the dataset file's `prose`), merged by the docs
 * stage with the facts of the published files into README.md and stac-collection.json at the root
 * of `public-cpad`.
 *
 * TO CONFIRM: the field lists below are written from the CPAD data manual's field list of recent
 * releases (Holdings/Units) and from general knowledge of CCED; they were NOT read from the 2025b
 * geodatabases. `cpad-2025b.schema.json` is a transcription of the same lists. After the first run:
 *   npx cng inspect s3://public-cpad/raw/CPAD_2025b.gdb      (and CCED_2025b.gdb)
 *   npx cng docs cpad-2025b --brief --write-schema --s3-endpoint https://s3-west.nrp-nautilus.io
 * then describe every column `cng docs cpad-2025b --check` reports, and drop columns that do not exist.
 * The docs stage refuses to publish a README while any published column lacks a description.
 */

const ACCESS = {
  'Open Access': 'Open to the public (hours, fees or seasonal limits may apply)',
  'Restricted Access': 'Access requires a permit or permission, or is limited (e.g. guided only)',
  'No Public Access': 'Closed to the public',
  'Unknown Access': 'Access not known',
};

const LEVELS =
  'Agency level: Federal, State, County, City, Special District, Non Profit, Joint, Private or Tribal (confirm the exact values with cng docs --brief).';

export const cpad2025bProse: DatasetProse = {
  title: 'CPAD 2025b — California Protected Areas Database, and CCED 2025b — California Conservation Easement Database',
  description:
    'The California Protected Areas Database (CPAD) maps lands in California owned in fee and protected for open-space purposes by ' +
    'over a thousand public agencies and non-profit organizations, from small urban parks to national parks and forests, mostly ' +
    'aligned to assessor parcels. Holdings are the parcels with the most detailed attributes; Units group holdings with a common ' +
    'name, owner and access within a county. The California Conservation Easement Database (CCED) maps conservation easements on ' +
    'private land. Both are published by GreenInfo Network.\n\n' +
    'This collection republishes the 2025b releases as GeoParquet (EPSG:4326), PMTiles vector tiles and H3 hexagons at resolution 10 ' +
    "(parents 9 and 8, partitioned by the resolution-0 cell): the lab's gold-standard layout of `<product>-<release>-<layer>` files at the bucket root.",
  license: 'proprietary',
  licenseText:
    'Free to use with attribution ("California Protected Areas Database (www.calands.org), 2025b" and the CCED equivalent) under the terms published by GreenInfo Network; confirm the current terms at calands.org before redistribution.',
  licenseUrl: 'https://www.calands.org/cpad/',
  citation: 'GreenInfo Network, 2025. California Protected Areas Database (CPAD) 2025b and California Conservation Easement Database (CCED) 2025b. www.calands.org.',
  providers: [
    { name: 'GreenInfo Network', roles: ['producer', 'licensor'], url: 'https://www.calands.org/', description: 'Publishes CPAD and CCED.' },
  ],
  keywords: ['protected areas', 'CPAD', 'CCED', 'conservation easements', 'parks', 'open space', 'California', 'H3', 'GeoParquet', 'PMTiles'],
  // The 2025b releases (second release of 2025).
  temporal: ['2025-01-01T00:00:00Z', '2025-12-31T23:59:59Z'],
  links: [
    { href: 'https://www.calands.org/cpad/', title: 'CPAD (GreenInfo Network): data manual and downloads', rel: 'via' },
    { href: 'https://www.calands.org/cced/', title: 'CCED (GreenInfo Network)', rel: 'via' },
  ],
  notes: [
    'Field lists and descriptions are still to be confirmed against the 2025b geodatabases (see the prose file).',
    'CPAD holdings are fee lands; CCED easements are on private land; the two can overlap, and units aggregate holdings (do not add them up).',
    'SHAPE_Length and SHAPE_Area are the source values in its projected CRS (NAD83 California Albers, metres); ACRES is the producer\'s acreage.',
  ],
  layers: {
    holdings: {
      title: 'CPAD Holdings',
      description: 'Individual fee-owned protected parcels (holdings), the most detailed level of CPAD, each with owner, manager, access and GAP acreage.',
    },
    units: {
      title: 'CPAD Units',
      description: 'Holdings aggregated into commonly named protected areas within a county (e.g. a state park), with summary attributes.',
    },
    cced: {
      title: 'CCED 2025b easements',
      description: 'Conservation easements in California: private lands whose development rights are restricted by an easement held by an agency or land trust.',
      columns: {
        sitename: 'Name of the easement site.',
        esmthldr: 'Easement holder: the agency or organization that holds the easement.',
        eholdtyp: 'Type of easement holder (e.g. Federal, State, Local, Non Profit).',
        s_emthd1: 'Method by which the easement was acquired (as coded by CCED; confirm the values).',
        year_est: 'Year the easement was established (0 or empty when unknown).',
        gis_acres: 'Area in acres computed in GIS by the producer.',
        pubaccess: 'Public access to the easement land (most easements have none).',
        duration: 'Whether the easement is permanent or term-limited.',
        term: 'Term of a term-limited easement (confirm the unit in the CCED manual).',
        gapcat: 'GAP status category (1–4) of the easement land.',
        iucncat: 'IUCN protected-area category, where assigned.',
        county: 'County the easement lies in.',
      },
    },
  },
  columns: {
    HOLDING_ID: 'Unique id of the holding (parcel-level record).',
    ACCESS_TYP: 'Public access: Open Access, Restricted Access, No Public Access or Unknown Access (see Codes).',
    UNIT_ID: 'Id of the unit the holding belongs to (joins holdings to units).',
    UNIT_NAME: 'Name of the unit (the commonly used name of the protected area, e.g. "Mount Diablo State Park").',
    PARK_NAME: 'Name of the park or super unit, where present (super units group units across counties).',
    SUID_NMA: 'Id of the super unit the record belongs to.',
    AGNCY_ID: 'Id of the owning agency.',
    AGNCY_NAME: 'Name of the owning agency or organization.',
    AGNCY_LEV: `Level of the owning agency. ${LEVELS}`,
    AGNCY_TYP: 'Type of the owning agency (a finer classification within its level).',
    AGNCY_WEB: "Web site of the owning agency.",
    LAYER: 'CPAD layer the record is shown in, by owner level (e.g. Federal, State, County, City, Special District, Non Profit).',
    MNG_AG_ID: 'Id of the managing agency.',
    MNG_AGENCY: 'Name of the managing agency (may differ from the owner).',
    MNG_AG_LEV: `Level of the managing agency. ${LEVELS}`,
    MNG_AG_TYP: 'Type of the managing agency.',
    PARK_URL: 'Web page of the park or unit, where known.',
    COUNTY: 'County the record lies in.',
    ACRES: 'Area in acres as computed by the producer.',
    LABEL_NAME: 'Short name for map labels.',
    YR_EST: 'Year the area was established or acquired (0 when unknown).',
    DES_TP: 'Designation type (a PAD-US style designation code, e.g. SP state park, LP local park).',
    GAP1_acres: 'Acres of the area in GAP status 1 (permanent protection, natural disturbance allowed).',
    GAP2_acres: 'Acres in GAP status 2 (permanent protection, disturbance may be suppressed).',
    GAP3_acres: 'Acres in GAP status 3 (protected from conversion, extractive or OHV use allowed).',
    GAP4_acres: 'Acres in GAP status 4 (no known mandate for biodiversity protection).',
    GAP_tot_ac: 'Total acres with a GAP status (sum of GAP1–GAP4 acres).',
    SHAPE_Length: 'Perimeter of the source polygon in metres in the source CRS, as stored in the geodatabase.',
    SHAPE_Area: 'Area of the source polygon in square metres in the source CRS, as stored in the geodatabase.',
  },
  tables: {},
  codes: {
    ACCESS_TYP: { values: ACCESS },
  },
};
