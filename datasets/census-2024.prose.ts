import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for TIGER/Line 2024 states, counties, census tracts and 119th-Congress districts. Column descriptions are TRANSCRIBED
 * from the lab's published STAC (data-workflows 574995b) and the TIGER/Line technical documentation,
 * not read from this pipeline's outputs; so is `census-2024.schema.json`. Regenerate it from the
 * first run (`cng docs census-2024 --brief --write-schema --s3-endpoint https://s3-west.nrp-nautilus.io`).
 */
export const census2024Prose: DatasetProse = {
  title: 'US Census TIGER/Line 2024: states, counties, tracts and congressional districts',
  description:
    "Boundaries of the United States' states, counties (and equivalents), census tracts and congressional districts of the 119th Congress from the US Census Bureau's TIGER/Line shapefiles, 2024 edition: " +
    'the 50 states, the District of Columbia and the island areas (Puerto Rico, American Samoa, Guam, the Northern Mariana Islands and the ' +
    'US Virgin Islands), with codes, names, land and water areas and internal points.\n\n' +
    'This collection republishes them as GeoParquet (EPSG:4326), PMTiles and H3 hexagons at resolution 10 (parents 9 and 8). ' +
    'Tracts and congressional districts come as 56 per-state files each, merged into one layer (the file of each row in `source_file`).',
  license: 'CC0-1.0',
  licenseText: 'TIGER/Line files are US Government works, in the public domain (no copyright in the United States); the Census Bureau asks to be credited as the source.',
  licenseUrl: 'https://www.census.gov/programs-surveys/geography/technical-documentation/complete-technical-documentation/tiger-geo-line.html',
  citation: 'U.S. Census Bureau, 2024. TIGER/Line Shapefiles 2024: States and equivalent entities; Counties and equivalent entities; Census Tracts; 119th Congressional Districts. https://www.census.gov/geographies/mapping-files/time-series/geo/tiger-line-file.html',
  providers: [{ name: 'U.S. Census Bureau', roles: ['producer', 'licensor'], url: 'https://www.census.gov/geographies/mapping-files/time-series/geo/tiger-line-file.html' }],
  keywords: ['census', 'TIGER/Line', 'boundaries', 'states', 'counties', 'census tracts', 'congressional districts', 'United States', 'H3', 'GeoParquet', 'PMTiles'],
  temporal: ['2024-01-01T00:00:00Z', '2024-12-31T23:59:59Z'],
  links: [
    { href: 'https://www2.census.gov/geo/tiger/TIGER2024/', title: 'TIGER/Line 2024 downloads', rel: 'via' },
    { href: 'https://www2.census.gov/geo/pdfs/maps-data/data/tiger/tgrshp2024/TGRSHP2024_TechDoc.pdf', title: 'TIGER/Line Shapefiles 2024 technical documentation', rel: 'describedby' },
  ],
  notes: [
    'Column descriptions are transcribed from the earlier published STAC; confirm them against the first run (the prose file says how).',
    'Tract and congressional-district columns are transcribed from the TIGER/Line 2024 technical documentation, not read from the files: confirm them with `cng inspect`.',
  ],
  layers: {
    state: {
      title: 'States and equivalent entities',
      description: 'The 56 states, the District of Columbia and island areas of TIGER/Line 2024.',
      columns: {
        REGION: "Census region code (1-digit): 1=Northeast, 2=Midwest, 3=South, 4=West, 9=Outlying areas (territories).",
        DIVISION: "Census division code (1-digit): Subdivisions of the four census regions (e.g., 1=New England, 2=Middle Atlantic, 3=East North Central, etc.).",
        STATEFP: "State FIPS code (2 digits). Federal Information Processing Standard code uniquely identifying each state and territory (e.g., '06' for California, '72' for Puerto Rico).",
        STATENS: "State GNIS identifier (8 digits). Geographic Names Information System feature identifier for the state/territory.",
        GEOID: "Geographic identifier. Complete unique identifier for the state/territory, same as STATEFP for states.",
        GEOIDFQ: "Fully qualified geographic identifier. Complete hierarchical identifier including nation code prefix.",
        STUSPS: "Two-letter state postal abbreviation (e.g., 'CA' for California, 'NY' for New York). Used by US Postal Service.",
        NAME: "State or territory name (e.g., 'California', 'Puerto Rico').",
        LSAD: "Legal/Statistical Area Description code. Identifies the type of entity (e.g., '00' for state, '10' for Commonwealth).",
        MTFCC: "MAF/TIGER Feature Class Code. Five-character code classifying geographic features (e.g., 'G4000' for state/territory).",
        FUNCSTAT: "Functional status code. Indicates the current functioning status of the entity: A=Active, N=Nonfunctioning, F=Fictitious.",
        ALAND: "Land area in square meters. Total land area of the state/territory as calculated from Census boundaries.",
        AWATER: "Water area in square meters. Total inland, coastal, Great Lakes, and territorial water area.",
        INTPTLAT: "Internal point latitude. Latitude of a point inside the state/territory (decimal degrees).",
        INTPTLON: "Internal point longitude. Longitude of a point inside the state/territory (decimal degrees).",
      },
    },
    county: {
      title: 'Counties and equivalent entities',
      description: 'The 3,235 counties and equivalent entities (parishes, boroughs, census areas, independent cities, municipios) of TIGER/Line 2024.',
      columns: {
        STATEFP: "State FIPS code (2 digits).",
        COUNTYFP: "County FIPS code (3 digits).",
        COUNTYNS: "County GNIS identifier (8 digits).",
        GEOID: "Geographic identifier (STATEFP + COUNTYFP, 5 digits total).",
        GEOIDFQ: "Fully qualified geographic identifier.",
        NAME: "County or equivalent name (e.g., 'Los Angeles', 'Orleans Parish').",
        NAMELSAD: "Full name with legal/statistical area description (e.g., 'Los Angeles County', 'Orleans Parish').",
        LSAD: "Legal/Statistical Area Description code: 00=Blank, 03=City and Borough, 04=Borough, 05=Census Area, 06=County, 07=District, 10=Island, 12=Municipality, 13=Municipio, 15=Parish, 25=City.",
        CLASSFP: "FIPS class code identifying type of county or equivalent (e.g., C1-C7 for counties, H1 for independent cities).",
        MTFCC: "MAF/TIGER Feature Class Code (G4020 for county/equivalent).",
        CSAFP: "Combined Statistical Area FIPS code (3 digits). Null if not in a CSA.",
        CBSAFP: "Core Based Statistical Area FIPS code (5 digits). Metropolitan/Micropolitan statistical area code. Null if not in a CBSA.",
        METDIVFP: "Metropolitan Division FIPS code (5 digits). Subdivision of large metropolitan areas. Null if not applicable.",
        FUNCSTAT: "Functional status: A=Active government, B=Active government that is partially consolidated, C=Active government consolidated with another, F=Fictitious entity, G=Active government consolidated with place, N=Nonfunctioning legal entity, S=Statistical entity.",
        ALAND: "Land area in square meters.",
        AWATER: "Water area in square meters.",
        INTPTLAT: "Internal point latitude (decimal degrees).",
        INTPTLON: "Internal point longitude (decimal degrees).",
      },
    },
    tract: {
      title: 'Census tracts',
      description: 'About 85,000 census tracts of TIGER/Line 2024 (small statistical subdivisions of counties, 1,200–8,000 people), merged from 56 per-state files.',
      columns: {
        STATEFP: "State FIPS code (2 digits).",
        COUNTYFP: "County FIPS code (3 digits).",
        TRACTCE: "Census tract code (6 digits).",
        GEOID: "Geographic identifier (STATEFP + COUNTYFP + TRACTCE, 11 digits).",
        GEOIDFQ: "Fully qualified geographic identifier.",
        NAME: "Tract name: the tract code with a decimal point (e.g. '4001.02').",
        NAMELSAD: "Name with legal/statistical area description (e.g. 'Census Tract 4001.02').",
        MTFCC: "MAF/TIGER Feature Class Code (G5020 for census tract).",
        FUNCSTAT: "Functional status code (S = statistical entity; N = nonfunctioning legal entity).",
        ALAND: "Land area in square meters.",
        AWATER: "Water area in square meters.",
        INTPTLAT: "Internal point latitude (decimal degrees).",
        INTPTLON: "Internal point longitude (decimal degrees).",
        source_file: "The per-state TIGER/Line zip the row was read from (e.g. 'tl_2024_06_tract.zip').",
      },
    },
    cd: {
      title: 'Congressional districts (119th Congress)',
      description: 'The 435 congressional districts of the 119th Congress plus the at-large delegate areas of DC, Puerto Rico and the island areas, merged from 56 per-state files.',
      columns: {
        STATEFP: "State FIPS code (2 digits).",
        CD119FP: "Congressional district code for the 119th Congress (2 digits; '00' at large, '98' non-voting delegate).",
        GEOID: "Geographic identifier (STATEFP + CD119FP, 4 digits).",
        GEOIDFQ: "Fully qualified geographic identifier.",
        NAMELSAD: "Name with legal/statistical area description (e.g. 'Congressional District 12').",
        LSAD: "Legal/Statistical Area Description code (C2 congressional district, C1 at large, C4 delegate district).",
        CDSESSN: "Congressional session code ('119').",
        MTFCC: "MAF/TIGER Feature Class Code (G5200 for congressional district).",
        FUNCSTAT: "Functional status code (S = statistical entity; N = nonfunctioning legal entity).",
        ALAND: "Land area in square meters.",
        AWATER: "Water area in square meters.",
        INTPTLAT: "Internal point latitude (decimal degrees).",
        INTPTLON: "Internal point longitude (decimal degrees).",
        source_file: "The per-state TIGER/Line zip the row was read from (e.g. 'tl_2024_06_cd119.zip').",
      },
    },
  },
};
