import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for WDPA December 2025. Column descriptions are TRANSCRIBED from the lab's
 * published STAC (data-workflows 574995b; the 2025 WDPA schema with SITE_ID/SITE_PID), not read
 * from this pipeline's outputs; so is `wdpa.schema.json`. Regenerate from the first run
 * (`cng docs wdpa --brief --write-schema --s3-endpoint https://s3-west.nrp-nautilus.io`).
 */
export const wdpaProse: DatasetProse = {
  title: 'World Database on Protected Areas (WDPA), December 2025',
  description:
    'The World Database on Protected Areas is the most comprehensive global database of marine and terrestrial protected areas, a joint ' +
    'project of the UN Environment Programme and IUCN managed by UNEP-WCMC and published on Protected Planet. This is the December 2025 ' +
    'release: protected-area polygons with designations, IUCN management categories, governance, ownership and status.\n\n' +
    'This collection republishes the polygons as GeoParquet (EPSG:4326), PMTiles (source-layer `wdpa`) and H3 hexagons at resolution 8 ' +
    '(parents 6 and 4). Protected areas overlap: count DISTINCT cells when computing coverage.',
  license: 'proprietary',
  licenseText:
    'WDPA terms of use (UNEP-WCMC): free for non-commercial use with attribution; no commercial use or redistribution of the data as such without permission. Check the terms before publishing.',
  licenseUrl: 'https://www.protectedplanet.net/en/legal',
  citation: 'UNEP-WCMC and IUCN (2025), Protected Planet: The World Database on Protected Areas (WDPA), December 2025, Cambridge, UK: UNEP-WCMC and IUCN. Available at: www.protectedplanet.net.',
  providers: [
    { name: 'UNEP-WCMC', roles: ['producer', 'licensor'], url: 'https://www.unep-wcmc.org/' },
    { name: 'IUCN', roles: ['producer'], url: 'https://www.iucn.org/' },
  ],
  keywords: ['protected areas', 'WDPA', 'Protected Planet', 'conservation', 'global', 'H3', 'GeoParquet', 'PMTiles'],
  temporal: ['2025-12-01T00:00:00Z', '2025-12-31T23:59:59Z'],
  links: [{ href: 'https://www.protectedplanet.net/en/thematic-areas/wdpa', title: 'Protected Planet: WDPA', rel: 'via' }],
  notes: [
    'Only the polygons layer; protected areas reported as points only are not included.',
    'Column descriptions are transcribed from the earlier published STAC; confirm them against the first run (the prose file says how).',
  ],
  layers: {
    wdpa: { title: 'Protected areas (polygons)', description: 'One polygon (or multipolygon) per protected area or OECM site of the December 2025 release.' },
  },
  columns: {
    SITE_ID: "Unique site identifier",
    SITE_PID: "Protected Site ID",
    SITE_TYPE: "Type of site (e.g., polygon, point)",
    NAME: "Site name in original language",
    NAME_ENG: "Site name in English",
    DESIG: "Designation type in original language",
    DESIG_ENG: "Designation type in English (e.g., National Park, Nature Reserve)",
    DESIG_TYPE: "Designation classification",
    IUCN_CAT: "IUCN Protected Area Management Category (Ia, Ib, II, III, IV, V, VI, Not Reported)",
    INT_CRIT: "International criteria designation",
    REALM: "Terrestrial or Marine realm",
    GIS_AREA: "GIS-calculated area in km² (most reliable area measure)",
    REP_AREA: "Reported area in km²",
    GIS_M_AREA: "GIS-calculated marine area in km²",
    REP_M_AREA: "Reported marine area in km²",
    NO_TAKE: "No-take zone designation",
    NO_TK_AREA: "No-take area in km²",
    STATUS: "Current status (e.g., Designated, Proposed, Inscribed)",
    STATUS_YR: "Year of status designation",
    GOV_TYPE: "Governance type (e.g., Federal or national ministry, Collaborative, Indigenous peoples)",
    GOVSUBTYPE: "Governance sub-type (detailed classification)",
    OWN_TYPE: "Ownership type (e.g., State, Community, Private, Joint, Not Reported)",
    OWNSUBTYPE: "Ownership sub-type",
    MANG_AUTH: "Managing authority name",
    MANG_PLAN: "Management plan status",
    VERIF: "Verification status",
    METADATAID: "Metadata record identifier",
    ISO3: "Country ISO 3-letter code",
    PRNT_ISO3: "Parent country ISO code (for territories)",
    SUPP_INFO: "Supplementary information",
    CONS_OBJ: "Conservation objectives",
    INLND_WTRS: "Inland waters designation",
    OECM_ASMT: "Other Effective Area-Based Conservation Measures assessment",
  },
};
