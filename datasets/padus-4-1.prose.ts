import type { DatasetProse } from '../constructs/index.ts';

/**
 * Documentation prose for PAD-US 4.1 (the dataset file's `prose`). The docs stage merges it with the
 * facts of the published files into README.md and stac-collection.json at the root of
 * `public-padus`. `npx cng docs padus-4-1 --check` checks it covers every column listed in
 * `padus-4-1.schema.json`; `npx cng docs padus-4-1 --brief` shows facts, sample values and gaps.
 *
 * Field meanings follow the PAD-US data standard as summarized in the project's reference notes
 * (shared/reference/padus-4-1.md). The easement-only fields (Term, Duration, EsmtHldr, EHoldTyp) are
 * described from general knowledge of PAD-US and must be confirmed against the PAD-US 4.1 data
 * standard and `cng inspect` of the real geodatabase before publishing.
 */

/** Agency_Type codes (Own_Type, Mang_Type, EHoldTyp). */
const AGENCY_TYPES = {
  DESG: 'Designation: the record is a designation, not an ownership or management unit',
  DIST: 'Regional agency special district (e.g. water, park or open-space districts)',
  FED: 'Federal',
  JNT: 'Joint: owned or managed jointly by several agencies',
  LOC: 'Local government (city, county, other local)',
  NGO: 'Non-governmental organization (e.g. land trusts, conservation organizations)',
  PVT: 'Private',
  STAT: 'State',
  TERR: 'Territorial government (U.S. territories)',
  TRIB: 'American Indian lands (tribal)',
  UNK: 'Unknown',
};

const DATE_TEXT = 'Stored as text as provided (a year or a date).';

export const padus41Prose: DatasetProse = {
  title: 'PAD-US 4.1 — Protected Areas Database of the United States',
  description:
    "The USGS Protected Areas Database of the United States (PAD-US) is the nation's inventory of protected areas: public lands and " +
    'voluntarily provided private protected areas, held in fee, under easement, or designated by Congress, the Executive or agencies, ' +
    'on land and in marine waters of the 50 states and the U.S. territories. Each record carries its owner and manager (type and name), ' +
    'designation type, public access, the GAP Status Code (management intent to conserve biodiversity) and the IUCN protected-area ' +
    'category.\n\n' +
    'This collection republishes PAD-US 4.1 in cloud-native form: every multipolygon feature class as GeoParquet (EPSG:4326), PMTiles ' +
    'vector tiles and H3 hexagons at resolution 10 (with parents 9 and 8, partitioned by the resolution-0 cell), and the 8 lookup ' +
    "tables of the geodatabase as Parquet. Attributes are the source's, unchanged.",
  license: 'CC0-1.0',
  licenseText:
    'USGS-produced data are in the U.S. public domain (expressed here as CC0-1.0); no restrictions on use. Please cite PAD-US as below.',
  citation:
    'U.S. Geological Survey (USGS) Gap Analysis Project (GAP), 2025, Protected Areas Database of the United States (PAD-US) 4.1: ' +
    'U.S. Geological Survey data release, https://doi.org/10.5066/P96WBCHS.',
  doi: '10.5066/P96WBCHS',
  providers: [
    {
      name: 'U.S. Geological Survey (USGS) Gap Analysis Project (GAP)',
      roles: ['producer', 'licensor'],
      url: 'https://www.usgs.gov/gapanalysis/PAD-US-resources',
      description: 'Compiles PAD-US with federal, state, local and NGO data stewards (the PAD-US Partnership).',
    },
  ],
  keywords: ['protected areas', 'PAD-US', 'public lands', 'conservation', 'GAP status', 'IUCN', 'easements', 'United States', 'H3', 'GeoParquet', 'PMTiles'],
  // PAD-US 4.1 was released in 2025 (its citation); the inventory describes protected areas as of that release.
  temporal: ['2025-01-01T00:00:00Z', '2025-12-31T23:59:59Z'],
  links: [
    { href: 'https://www.sciencebase.gov/catalog/item/652d4fc5d34e44db0e2ee45e', title: 'PAD-US 4.1 on ScienceBase (downloads, metadata, data standard)', rel: 'via' },
    { href: 'https://www.usgs.gov/gapanalysis/PAD-US-resources', title: 'PAD-US resources (USGS)', rel: 'related' },
  ],
  notes: [
    'The source CRS is USA Contiguous Albers Equal Area (USGS version, NAD83) for every state and territory; products are EPSG:4326. Features crossing the antimeridian (Aleutians) are split at ±180°.',
    'SHAPE_Length, SHAPE_Area and GIS_Acres are the values of the source geodatabase, computed in its Albers CRS; they are not recomputed.',
    'Feature classes overlap by design (a designation over fee land, an easement inside a proclamation boundary): summing areas or cells across layers, or within the combined layer, counts overlaps more than once.',
    'The hex products keep the resolution everywhere (10, with parents 9 and 8): unlike an earlier hand-made product, no feature was hexed at a coarser resolution.',
    'The meanings of the easement-only fields Term, Duration, EsmtHldr and EHoldTyp are still to be confirmed against the PAD-US 4.1 data standard.',
  ],
  layers: {
    fee: {
      title: 'Fee',
      description:
        'Lands owned in fee (full and irrevocable ownership) by public agencies, tribes, NGOs and some private owners: the ownership parcels of the protected-areas estate.',
    },
    easement: {
      title: 'Easement',
      description:
        'Conservation, agricultural, forest, ranch and other easements: lands whose development rights are restricted by a legal agreement while ownership stays private. Many are provided voluntarily; sensitive easements may be generalized or withheld by the source.',
    },
    proclamation: {
      title: 'Proclamation and other planning boundaries',
      description:
        'Approved, proclamation or extent boundaries of federal and state units (e.g. national forest proclamation boundaries): the area within which an agency may acquire or manage land, not necessarily land it owns.',
    },
    marine: {
      title: 'Marine',
      description: 'Marine protected areas and other managed marine areas in U.S. waters (national marine sanctuaries, marine monuments, state MPAs, ...).',
    },
    designation: {
      title: 'Designation',
      description:
        'Congressional, executive and administrative designations (wilderness areas, national monuments, areas of critical environmental concern, inventoried roadless areas, ...) that overlay ownership. Published here for the first time: the earlier tool never processed this layer.',
    },
    combined: {
      title: 'Combined (Proclamation, Marine, Fee, Designation, Easement)',
      description:
        "All five feature classes in one layer, as the source's Combined feature class: the full PAD-US inventory for queries and web maps. FeatClass tells which feature class a record comes from; records overlap.",
    },
  },
  columns: {
    FeatClass: 'Feature class the record belongs to: Fee, Easement, Proclamation, Marine or Designation (distinguishes records in the combined layer).',
    Category: 'General category of the protection mechanism (Fee, Easement, Designation, Proclamation, Marine, Other, Unknown); see the Category lookup table.',
    Own_Type: 'Owner type: the broad category of the land owner, an Agency_Type code (FED, STAT, LOC, NGO, PVT, ...).',
    Own_Name: 'Owner name: the standardized owner, an Agency_Name code (e.g. NPS, BLM, USFS, FWS, SPR, CITY, NGO).',
    Loc_Own: "Local owner: the owner's name as provided by the data source (not standardized).",
    Mang_Type: 'Manager type: the broad category of the managing entity, an Agency_Type code.',
    Mang_Name: 'Manager name: the standardized managing agency, an Agency_Name code.',
    Loc_Mang: "Local manager: the manager's name as provided by the data source (not standardized).",
    Des_Tp: 'Designation type: the standardized kind of protected area (e.g. NP national park, NWR national wildlife refuge, WA wilderness area, CONE conservation easement); a Designation_Type code.',
    Loc_Ds: 'Local designation: the designation or protection type as provided by the data source.',
    Unit_Nm: 'Unit name: the name of the protected area (e.g. "Yellowstone National Park").',
    Loc_Nm: 'Local name: the name of the area or parcel as provided by the data source.',
    State_Nm: 'State or territory, a two-letter State_Name code (e.g. CA, AK, PR).',
    Agg_Src: 'Aggregator source: the organization or file through which the record was aggregated into PAD-US.',
    GIS_Src: 'GIS source: the original dataset or file the boundary comes from.',
    Src_Date: `Date of the source data. ${DATE_TEXT}`,
    GIS_Acres: 'Area in acres, computed in GIS by the producer from the source geometry (whole acres).',
    Source_PAID: "Source protected-area id: the record's identifier in the data steward's own dataset.",
    WDPA_Cd: 'World Database on Protected Areas (WDPA) site id for areas reported to the WDPA; 0 or empty where not reported.',
    Pub_Access: 'Public access: OA open, RA restricted, XA closed, UK unknown (see Codes and the Public_Access lookup table).',
    Access_Src: 'Source of the public access assignment.',
    Access_Dt: `Date of the public access assignment. ${DATE_TEXT}`,
    GAP_Sts: 'GAP Status Code, 1–4: the management intent to conserve biodiversity, 1 the strongest (see Codes and the GAP_Status lookup table).',
    GAPCdSrc: 'Source of the GAP Status Code assignment.',
    GAPCdDt: `Date of the GAP Status Code assignment. ${DATE_TEXT}`,
    IUCN_Cat: 'IUCN protected-area management category (Ia, Ib, II–VI), or "Other Conservation Area", "Unassigned" or "N/R" (see Codes and the IUCN_Category lookup table).',
    IUCNCtSrc: 'Source of the IUCN category assignment.',
    IUCNCtDt: `Date of the IUCN category assignment. ${DATE_TEXT}`,
    Date_Est: `Year (or date) the protected area was established, where known. ${DATE_TEXT}`,
    Comments: 'Free-text comments of the producer or data steward.',
    SHAPE_Length: 'Perimeter of the source polygon in metres, in the source CRS (USA Contiguous Albers), as stored in the geodatabase.',
    SHAPE_Area: 'Area of the source polygon in square metres, in the source CRS (USA Contiguous Albers, equal-area), as stored in the geodatabase.',
    Term: 'Easement term: the length of a term-limited easement (to be confirmed against the PAD-US 4.1 data standard); empty for permanent or unknown terms.',
    Duration: 'Easement duration: whether the easement is permanent or term-limited, as coded by the source (to be confirmed against the PAD-US 4.1 data standard).',
    EsmtHldr: 'Easement holder: the organization holding the easement, as provided by the source.',
    EHoldTyp: 'Easement holder type, an Agency_Type code (FED, STAT, LOC, NGO, ...).',
  },
  tables: {
    Public_Access: {
      title: 'Public_Access (domain of Pub_Access)',
      description: 'The public access codes used in Pub_Access, with their descriptions (4 rows).',
      columns: { Code: 'Public access code, the value of Pub_Access.', Dom: 'Description of the code.' },
    },
    Category: {
      title: 'Category (domain of Category)',
      description: 'The categories of protection mechanism used in the Category column (7 rows).',
      columns: { Code: 'Category code, the value of Category.', Dom: 'Description of the category.' },
    },
    Designation_Type: {
      title: 'Designation_Type (domain of Des_Tp)',
      description: 'The 63 standardized designation types of PAD-US, from access areas to wild and scenic rivers.',
      columns: { Code: 'Designation type code, the value of Des_Tp.', Dom: 'Name of the designation type.' },
    },
    GAP_Status: {
      title: 'GAP_Status (domain of GAP_Sts)',
      description: 'The four GAP Status Codes and the management intent each stands for.',
      columns: { Code: 'GAP Status Code (1–4), the value of GAP_Sts.', Dom: 'What the status means.' },
    },
    IUCN_Category: {
      title: 'IUCN_Category (domain of IUCN_Cat)',
      description: 'IUCN protected-area management categories plus the PAD-US values for areas outside them (10 rows). Its columns are upper-case in the source.',
      columns: { CODE: 'IUCN category code, the value of IUCN_Cat.', DOM: 'Name of the category.' },
    },
    Agency_Name: {
      title: 'Agency_Name (domain of Own_Name and Mang_Name)',
      description: 'The 44 standardized owner and manager names (agencies and owner groups).',
      columns: {
        Code: 'Agency code, the value of Own_Name and Mang_Name.',
        Dom: 'Name of the agency or owner group.',
        Old_Code: 'The numeric agency code of PAD-US 1.x, where one existed (empty otherwise).',
      },
    },
    Agency_Type: {
      title: 'Agency_Type (domain of Own_Type, Mang_Type and EHoldTyp)',
      description: 'The 11 owner/manager types.',
      columns: { Code: 'Agency type code, the value of Own_Type, Mang_Type and EHoldTyp.', Dom: 'Name of the agency type.' },
    },
    State_Name: {
      title: 'State_Name (domain of State_Nm)',
      description: 'States, the District of Columbia and the U.S. territories and freely associated states (61 rows).',
      columns: { Code: 'Two-letter code, the value of State_Nm.', Dom: 'Name of the state or territory.', St_FIPS: 'Two-digit state FIPS code (text; empty where none).' },
    },
  },
  codes: {
    Pub_Access: {
      table: 'Public_Access',
      values: {
        OA: 'Open Access: open to the public without special permission (fees, hours or seasonal closures may apply)',
        RA: 'Restricted Access: access requires a permit or permission, or is otherwise restricted',
        XA: 'Closed: no public access',
        UK: 'Unknown: access not known',
      },
    },
    GAP_Sts: {
      table: 'GAP_Status',
      values: {
        '1': 'Permanently protected from conversion of natural land cover, with a mandated management plan to maintain a natural state in which disturbance events proceed or are mimicked',
        '2': 'Permanently protected from conversion, managed for a primarily natural state, but natural disturbances may be suppressed',
        '3': 'Protected from conversion for most of the area, but subject to extractive uses (e.g. mining, logging) or off-highway vehicle use',
        '4': 'No known institutional mandate to prevent conversion of natural habitat (or unknown)',
      },
    },
    IUCN_Cat: {
      table: 'IUCN_Category',
      values: {
        Ia: 'Strict nature reserve',
        Ib: 'Wilderness area',
        II: 'National park',
        III: 'Natural monument or feature',
        IV: 'Habitat / species management area',
        V: 'Protected landscape / seascape',
        VI: 'Protected area with sustainable use of natural resources',
        'Other Conservation Area': 'Conserves nature but does not meet the IUCN protected-area definition',
        Unassigned: 'Meets the definition but no category has been assigned',
        'N/R': 'Not reported',
      },
    },
    Category: {
      table: 'Category',
      values: {
        Fee: 'Fee ownership',
        Easement: 'Easement',
        Designation: 'Designation (overlays ownership)',
        Proclamation: 'Approved, proclamation or extent boundary',
        Marine: 'Marine area',
        Other: 'Other',
        Unknown: 'Unknown',
      },
    },
    Own_Type: { table: 'Agency_Type', values: AGENCY_TYPES },
    Mang_Type: { table: 'Agency_Type', values: AGENCY_TYPES },
    EHoldTyp: { table: 'Agency_Type', values: AGENCY_TYPES },
  },
};
