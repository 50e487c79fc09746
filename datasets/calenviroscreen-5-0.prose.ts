import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for CalEnviroScreen 5.0 (draft). Column descriptions are TRANSCRIBED from the
 * lab's published STAC (data-workflows 574995b), not read from this pipeline's outputs; so is
 * `calenviroscreen-5-0.schema.json`. After the first run: `cng docs calenviroscreen-5-0 --brief
 * --write-schema --s3-endpoint https://s3-west.nrp-nautilus.io`, then fix what `--check` reports.
 */
export const calenviroscreen50Prose: DatasetProse = {
  title: 'CalEnviroScreen 5.0 (draft)',
  description:
    "Draft CalEnviroScreen 5.0 (released January 2026) is the cumulative environmental pollution and population vulnerability screening tool of " +
    "California's Office of Environmental Health Hazard Assessment (OEHHA). It scores all 9,106 California census tracts (2020 geography) by " +
    'combining Pollution Burden indicators (exposures and environmental effects) with Population Characteristics indicators (sensitive ' +
    'populations and socioeconomic factors): CES score = Pollution Burden score × Population Characteristics score. Version 5.0 adds ' +
    "Children's Lead Risk from Housing and Small Air Toxic Sites and updates every other indicator.\n\n" +
    'This collection republishes the draft geodatabase as GeoParquet (EPSG:4326), PMTiles and H3 hexagons at resolution 10 (parents 9 and 8).',
  license: 'proprietary',
  licenseText: 'Terms of use: not stated in the source; check before publishing (data.ca.gov lists the dataset; OEHHA asks that CalEnviroScreen be cited).',
  licenseUrl: 'https://data.ca.gov/dataset/draft-calenviroscreen-5-0',
  citation: 'California Office of Environmental Health Hazard Assessment (OEHHA), 2026. Draft CalEnviroScreen 5.0. https://oehha.ca.gov/calenviroscreen',
  providers: [
    { name: 'California Office of Environmental Health Hazard Assessment (OEHHA)', roles: ['producer', 'licensor'], url: 'https://oehha.ca.gov/calenviroscreen' },
  ],
  keywords: ['environmental justice', 'CalEnviroScreen', 'pollution burden', 'census tracts', 'California', 'H3', 'GeoParquet', 'PMTiles'],
  temporal: ['2026-01-01T00:00:00Z', null],
  links: [
    { href: 'https://oehha.ca.gov/calenviroscreen/general-info/draft-calenviroscreen-50', title: 'OEHHA: Draft CalEnviroScreen 5.0', rel: 'via' },
    { href: 'https://data.ca.gov/dataset/draft-calenviroscreen-5-0', title: 'California Open Data Portal: Draft CalEnviroScreen 5.0', rel: 'via' },
    {
      href: 'https://data.ca.gov/dataset/b38b4e2c-7ef0-47b3-bff0-29e0a80c8ed8/resource/428d0c6f-88cb-4209-bdd4-b1f44188cf01/download/draft-calenviroscreen-5.0-data-dictionary.pdf',
      title: 'Draft CalEnviroScreen 5.0 data dictionary (PDF)',
      rel: 'describedby',
    },
  ],
  notes: [
    'A draft release: OEHHA may revise scores and indicators in the final 5.0.',
    'Column descriptions are transcribed from the earlier published STAC and are to be confirmed against the geodatabase (the prose file says how).',
  ],
  layers: {
    ces5: { title: 'CalEnviroScreen 5.0 draft, by census tract', description: 'One polygon per California census tract (2020 geography) with every CalEnviroScreen 5.0 indicator, its percentile and the composite scores.' },
  },
  columns: {
    tract: "Census Tract ID from 2020 Decennial Census",
    ZIP: "Postal ZIP code",
    AppoxLoc: "Approximate city or unincorporated area (reference only)",
    county: "California county",
    region: "California region",
    Population: "2023 5-year ACS population estimate",
    CIscore: "Draft CES 5.0 Score (Pollution Burden Score × Population Characteristics Score)",
    CIscore_Pctl: "Percentile of the CES 5.0 Score (0–100)",
    AirOzone: "Mean summer daily max 8-hour ozone concentration",
    AirOzone_Pctl: "Ozone percentile",
    AirPM25: "Annual mean PM2.5 concentration (µg/m³)",
    AirPM25_Pctl: "PM2.5 percentile",
    ChildLead: "Potential risk for lead exposure in children in low-income communities with older housing (new in v5.0)",
    ChildLead_Pctl: "Children's Lead Risk from Housing percentile",
    DieselPM: "Diesel PM emissions from on-road and non-road sources near populated blocks",
    DieselPM_Pctl: "Diesel PM percentile",
    DrinkingWater: "Drinking water contaminant index for selected contaminants",
    DrinkingWater_Pctl: "Drinking Water Contaminants percentile",
    Pesticides: "Total pounds of selected active pesticide ingredients per square mile",
    Pesticides_Pctl: "Pesticide Use percentile",
    ToxReleases: "Toxicity-weighted air concentrations from chemical releases by large facilities",
    ToxReleases_Pctl: "Toxic Releases from Facilities percentile",
    TrafficImp: "Traffic density in vehicle-km/hr per road length within 150m of census tract boundary",
    TrafficImp_Pctl: "Traffic Impacts percentile",
    CleanupSites: "Sum of weighted EnviroStor and NPL Superfund sites within buffered distances",
    CleanupSites_Pctl: "Cleanup Sites percentile",
    gwthreats: "Sum of weighted GeoTracker cleanup, UST, produced water pond, dairy/feedlot sites",
    GWThreats_Pctl: "Groundwater Threats percentile",
    HazWaste: "Sum of weighted hazardous waste facilities and large quantity generators",
    HazWaste_Pctl: "Hazardous Waste percentile",
    ImpWaters: "Sum of pollutants across impaired water bodies within buffered distances",
    ImpWaters_Pctl: "Impaired Waters percentile",
    SmAirToxSites: "Sum of CEIDARS emissions sites and oil/gas well sites within buffered distances (new in v5.0)",
    SmAirToxSites_Pctl: "Small Air Toxic Sites percentile",
    SolidWaste: "Sum of weighted solid waste sites (SWIS) within buffered distances",
    SolidWaste_Pctl: "Solid Waste percentile",
    Pollution: "Average of Pollution Burden percentiles (Environmental Effects weighted 0.5×)",
    PollutionScore: "Pollution Burden scaled 0–10 (used to calculate CES Score)",
    Pollution_Pctl: "Pollution Burden percentile",
    asthma: "Age-adjusted rate of ED visits for asthma",
    Asthma_Pctl: "Asthma percentile",
    Cardiovascular: "Age-adjusted rate of ED visits for heart attacks per 10,000",
    Cardiovascular_Pctl: "Cardiovascular Disease percentile",
    DiabetesPrev: "Model-based prevalence of diabetes in adults ≥18",
    DiabetesPrev_Pctl: "Diabetes Prevalence percentile",
    LowBirthWeight: "Percent of infants weighing less than 2,500g",
    LowBirthWeight_Pctl: "Low-Birth-Weight Infants percentile",
    Education: "% of population over 25 with less than high school education",
    Education_Pctl: "Educational Attainment percentile",
    HousingBurden: "% of households that are low-income AND severely burdened by housing costs",
    HousingBurden_Pctl: "Housing Burden percentile",
    LinguisticIso: "% of households where no one over age 14 speaks English well",
    LinguisticIso_Pctl: "Linguistic Isolation percentile",
    Poverty: "% of people living below twice the federal poverty level",
    Poverty_Pctl: "Poverty percentile",
    Unemployment: "% of people aged 16+ who are unemployed and in the workforce",
    Unemployment_Pctl: "Unemployment percentile",
    PopChar: "Average of Population Characteristics percentiles",
    PopCharScore: "Population Characteristics scaled 0–10 (used to calculate CES Score)",
    PopChar_Pctl: "Population Characteristics percentile",
    PopUnd_10: "% of population under 10 years old (2023 5-year ACS)",
    Pop10_64: "% of population aged 10–64 (2023 5-year ACS)",
    PopOver_65: "% of population 65 and older (2023 5-year ACS)",
    White_Pct: "% non-Hispanic White",
    Hispanic_Pct: "% Hispanic or Latino",
    Black_Pct: "% non-Hispanic African American or Black",
    NatAmeri_Pct: "% non-Hispanic Native American",
    Asian_Pct: "% non-Hispanic Asian or Pacific Islander",
    OtherMulti_Pct: "% non-Hispanic other or multiple races",
  },
};
