import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for SVI 2020 and 2022. The columns are generated below from the SVI
 * documentation's variable list (the same for counties and tracts and both years); they and
 * `svi.schema.json` are TRANSCRIBED, not read from CDC's geodatabases. After the first run:
 * `cng docs svi --brief --write-schema --s3-endpoint https://s3-west.nrp-nautilus.io` and fix what
 * `cng docs --check` reports.
 */

/** The 16 SVI variables, by suffix. */
const VARIABLES: Record<string, string> = {
  POV150: 'persons below 150% of the federal poverty level',
  UNEMP: 'civilian persons aged 16 and over who are unemployed',
  HBURD: 'housing cost-burdened occupied housing units with annual income under $75,000 (30% or more of income on housing)',
  NOHSDP: 'persons aged 25 and over with no high school diploma',
  UNINSUR: 'uninsured persons (civilian non-institutionalized population)',
  AGE65: 'persons aged 65 and over',
  AGE17: 'persons aged 17 and under',
  DISABL: 'civilian non-institutionalized persons with a disability',
  SNGPNT: 'single-parent households with children under 18',
  LIMENG: 'persons aged 5 and over who speak English "less than well"',
  MINRTY: 'persons of racial and ethnic minority status (all persons except white, non-Hispanic)',
  MUNIT: 'housing units in structures with 10 or more units',
  MOBILE: 'mobile homes',
  CROWD: 'occupied housing units with more people than rooms',
  NOVEH: 'households with no vehicle available',
  GROUPQ: 'persons in group quarters',
};
/** Adjunct variables (not in the index). */
const ADJUNCT: Record<string, string> = {
  NOINT: 'households without an internet subscription',
  AFAM: 'Black or African American, not Hispanic or Latino persons',
  HISP: 'Hispanic or Latino persons (of any race)',
  ASIAN: 'Asian, not Hispanic or Latino persons',
  AIAN: 'American Indian or Alaska Native, not Hispanic or Latino persons',
  NHPI: 'Native Hawaiian or Pacific Islander, not Hispanic or Latino persons',
  TWOMORE: 'persons of two or more races, not Hispanic or Latino',
  OTHERRACE: 'persons of some other race, not Hispanic or Latino',
};
const THEMES: Record<string, string> = { 1: 'Socioeconomic Status', 2: 'Household Characteristics', 3: 'Racial and Ethnic Minority Status', 4: 'Housing Type and Transportation' };

const columns: Record<string, string> = {
  ST: 'State FIPS code (2 digits).',
  STATE: 'State name.',
  ST_ABBR: 'State postal abbreviation.',
  STCNTY: 'County FIPS code (state + county, 5 digits).',
  COUNTY: 'County name.',
  FIPS: 'FIPS code of the unit: the county (5 digits) or the census tract (11 digits).',
  LOCATION: 'Text description of the unit (tract, county, state).',
  AREA_SQMI: 'Area of the unit in square miles.',
  E_TOTPOP: 'Population estimate (ACS 5-year).',
  M_TOTPOP: 'Margin of error of E_TOTPOP.',
  E_HU: 'Housing units estimate.',
  M_HU: 'Margin of error of E_HU.',
  E_HH: 'Households estimate.',
  M_HH: 'Margin of error of E_HH.',
  E_DAYPOP: 'Adjunct variable: estimated daytime population (LandScan).',
  SPL_THEMES: "Sum of the themes' percentile sums.",
  RPL_THEMES: 'Overall percentile ranking of social vulnerability (0–1; higher is more vulnerable).',
  F_TOTAL: 'Total number of flags of the unit, over every theme.',
  Shape_Length: 'Perimeter of the polygon as stored in the geodatabase (source CRS units).',
  Shape_Area: 'Area of the polygon as stored in the geodatabase (source CRS units).',
};
for (const [v, what] of Object.entries(VARIABLES)) {
  columns[`E_${v}`] = `Estimate of ${what}.`;
  columns[`M_${v}`] = `Margin of error of E_${v}.`;
  columns[`EP_${v}`] = `Percentage of ${what} (of the relevant total).`;
  columns[`MP_${v}`] = `Margin of error of EP_${v}.`;
  columns[`EPL_${v}`] = `Percentile rank of EP_${v} among all units of the file (0–1).`;
  columns[`F_${v}`] = `Flag: 1 when EPL_${v} is at the 90th percentile or above, else 0.`;
}
for (const [v, what] of Object.entries(ADJUNCT)) {
  columns[`E_${v}`] = `Adjunct variable: estimate of ${what}.`;
  columns[`M_${v}`] = `Margin of error of E_${v}.`;
  columns[`EP_${v}`] = `Adjunct variable: percentage of ${what}.`;
  columns[`MP_${v}`] = `Margin of error of EP_${v}.`;
}
for (const [t, theme] of Object.entries(THEMES)) {
  columns[`SPL_THEME${t}`] = `Sum of the percentile ranks of the variables of theme ${t}, ${theme}.`;
  columns[`RPL_THEME${t}`] = `Percentile ranking of theme ${t}, ${theme} (0–1; higher is more vulnerable).`;
  columns[`F_THEME${t}`] = `Number of flagged variables in theme ${t}, ${theme}.`;
}

const layer = (year: number, unit: 'county' | 'tract') => ({
  title: `SVI ${year}, ${unit === 'county' ? 'counties' : 'census tracts'}`,
  description: `Social vulnerability of every US ${unit === 'county' ? 'county' : 'census tract'} in SVI ${year} (ACS ${year - 4}–${year} 5-year estimates), ranked against all US ${unit === 'county' ? 'counties' : 'tracts'}.`,
});

export const sviProse: DatasetProse = {
  title: 'CDC/ATSDR Social Vulnerability Index (SVI) 2020 and 2022',
  description:
    "The CDC/ATSDR Social Vulnerability Index ranks every US county and census tract on 16 social factors from the American Community Survey, grouped into " +
    'four themes (socioeconomic status, household characteristics, racial and ethnic minority status, housing type and transportation), and ' +
    'overall. It helps public-health officials and emergency planners find communities that may need support before, during and after hazards.\n\n' +
    'This collection republishes the 2020 and 2022 US county and tract geodatabases as GeoParquet (EPSG:4326), PMTiles and H3 hexagons at ' +
    'resolution 10 (parents 9 and 8), every feature hexed, named `svi-<year>-<county|tract>`.',
  license: 'proprietary',
  licenseText: 'Terms of use: not stated in the source files; CDC/ATSDR data are generally public-domain US Government works, and CDC asks for the citation below. Check before publishing.',
  licenseUrl: 'https://www.atsdr.cdc.gov/place-health/php/svi/',
  citation:
    'Centers for Disease Control and Prevention/Agency for Toxic Substances and Disease Registry/Geospatial Research, Analysis, and Services Program. CDC/ATSDR Social Vulnerability Index 2020 and 2022 Database US. https://www.atsdr.cdc.gov/place-health/php/svi/',
  providers: [{ name: 'CDC/ATSDR Geospatial Research, Analysis, and Services Program (GRASP)', roles: ['producer', 'licensor'], url: 'https://www.atsdr.cdc.gov/place-health/php/svi/' }],
  keywords: ['social vulnerability', 'SVI', 'CDC', 'ATSDR', 'census tracts', 'counties', 'United States', 'H3', 'GeoParquet', 'PMTiles'],
  temporal: ['2016-01-01T00:00:00Z', '2022-12-31T23:59:59Z'],
  links: [{ href: 'https://www.atsdr.cdc.gov/place-health/php/svi/svi-data-documentation-download.html', title: 'SVI data and documentation', rel: 'via' }],
  notes: [
    'The value -999 means "no data" in the source (e.g. a tract without population); it is kept as is.',
    'Percentile ranks compare units within one file (national, one year): do not compare ranks across years or between counties and tracts.',
    'Column descriptions are transcribed from the SVI documentation; confirm them against the first run (the prose file says how).',
  ],
  layers: {
    'svi-2020-county': layer(2020, 'county'),
    'svi-2020-tract': layer(2020, 'tract'),
    'svi-2022-county': layer(2022, 'county'),
    'svi-2022-tract': layer(2022, 'tract'),
  },
  columns,
};
