/**
 * `cng sample padus`: writes a small, deterministic Esri File Geodatabase shaped like PAD-US 4.1
 * (layer and table names, field names and types, CRS, lookup codes) and full of the geometries
 * that break converters: curves, antimeridian-crossing multiparts, features smaller than an H3
 * cell, slivers, a self-intersecting bow-tie, a NULL geometry and one very large polygon.
 * `writePadusSample` is the library form, for tests and local pipeline runs.
 *
 * Written with gdal-async (GDAL 3.6's OpenFileGDB driver can write). gdal-async cannot build curved
 * geometries in JavaScript, so each curved feature is appended by `vectorTranslate` (C++ side)
 * from a one-row CSV whose WKT column holds the curve.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import gdal, { type CoordinateTransformation, type Dataset, type Geometry, type Layer, type SpatialReference } from 'gdal-async';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { str, type Command } from '../../worker/core/command.ts';

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

export interface PadusSampleOptions {
  /** Output path; must end in `.gdb`. */
  out: string;
  /** Ordinary features in the Fee layer; the other layers get proportional counts. @default 300 */
  features?: number;
  /** PRNG seed (unsigned 32-bit integer). @default 1 */
  seed?: number;
  /** Vertices of the one very large polygon (Alaska). @default 200000 */
  bigVertices?: number;
  /** Replace an existing File Geodatabase at `out`. @default false */
  force?: boolean;
  /** Progress lines (without newline); silent when omitted. */
  log?: (line: string) => void;
}

export interface SampleSummary {
  out: string;
  seed: number;
  /** Spatial layer name → feature count (read back from the written geodatabase). */
  layers: Record<string, number>;
  /** Lookup table name → row count (read back). */
  tables: Record<string, number>;
  /** Spatial layer name → vertices written (curves: control points). */
  vertices: Record<string, number>;
  /** Size of the .gdb directory in bytes. */
  bytes: number;
  /** Wall-clock seconds to generate and write. */
  seconds: number;
}

export const PADUS_SAMPLE_DEFAULTS = { out: 'data/padus-sample.gdb', features: 300, seed: 1, bigVertices: 200_000 } as const;

/** The real PAD-US 4.1 layer names, by feature class. */
export const PADUS_LAYER_NAMES = {
  fee: 'PADUS4_1Fee',
  easement: 'PADUS4_1Easement',
  proclamation: 'PADUS4_1Proclamation',
  marine: 'PADUS4_1Marine',
  designation: 'PADUS4_1Designation',
  combined: 'PADUS4_1Combined_Proclamation_Marine_Fee_Designation_Easement',
} as const;

// ---------------------------------------------------------------------------------------------
// Lookup tables (the 8 non-spatial layers, 204 rows: 4, 7, 63, 4, 10, 44, 11, 61 as in the
// project's PAD-US 4.1 reference notes). Codes, descriptions, Old_Code and St_FIPS values are those
// of PAD-US 4.1's tables as listed in a public summary of their Parquet exports; that listing has
// all 63 Designation_Type and 44 Agency_Name rows but only 60 of the 61 State_Name rows, so one
// State_Name row is a clearly-labelled placeholder.
// ---------------------------------------------------------------------------------------------

type Row = Record<string, string | null>;
const rows = (cols: string[], data: (string | null)[][]): Row[] =>
  data.map((values) => Object.fromEntries(cols.map((c, i) => [c, values[i] ?? null])));

const PUBLIC_ACCESS = rows(['Code', 'Dom'], [
  ['OA', 'Open Access'], ['RA', 'Restricted Access'], ['UK', 'Unknown'], ['XA', 'Closed'],
]);

const CATEGORY = rows(['Code', 'Dom'], [
  ['Designation', 'Designation'], ['Easement', 'Easement'], ['Fee', 'Fee'], ['Marine', 'Marine Area'],
  ['Other', 'Other'], ['Proclamation', 'Approved, Proclamation or Extent Boundary'], ['Unknown', 'Unknown'],
]);

/** All 63 real Designation_Type codes (no placeholders were needed). */
const DESIGNATION_TYPE = rows(['Code', 'Dom'], [
  ['ACC', 'Access Area'], ['ACEC', 'Area of Critical Environmental Concern'], ['AGRE', 'Agricultural Easement'],
  ['CONE', 'Conservation Easement'], ['FACY', 'Facility'], ['FORE', 'Forest Stewardship Easement'],
  ['FOTH', 'Federal Other or Unknown'], ['HCA', 'Historic or Cultural Area'], ['HCAE', 'Historic or Cultural Easement'],
  ['IRA', 'Inventoried Roadless Area'], ['LCA', 'Local Conservation Area'], ['LHCA', 'Local Historic or Cultural Area'],
  ['LOTH', 'Local Other or Unknown'], ['LP', 'Local Park'], ['LREC', 'Local Recreation Area'],
  ['LRMA', 'Local Resource Management Area'], ['MIL', 'Military Land'], ['MIT', 'Mitigation Land or Bank'],
  ['MPA', 'Marine Protected Area'], ['NCA', 'Conservation Area'], ['ND', 'Not Designated'], ['NF', 'National Forest'],
  ['NG', 'National Grassland'], ['NLS', 'National Lakeshore or Seashore'], ['NM', 'National Monument'],
  ['NP', 'National Park'], ['NRA', 'National Recreation Area'], ['NSBV', 'National Scenic, Botanical or Volcanic Area'],
  ['NT', 'National Scenic or Historic Trail'], ['NWR', 'National Wildlife Refuge'], ['OCS', 'Outer Continental Shelf Area'],
  ['OTHE', 'Other Easement'], ['PAGR', 'Private Agricultural'], ['PCON', 'Private Conservation'],
  ['PFOR', 'Private Forest Stewardship'], ['PHCA', 'Private Historic or Cultural'], ['POTH', 'Private Other or Unknown'],
  ['PPRK', 'Private Park'], ['PRAN', 'Private Ranch'], ['PREC', 'Private Recreation or Education'],
  ['PROC', 'Approved or Proclamation Boundary'], ['PUB', 'National Public Lands'], ['RANE', 'Ranch Easement'],
  ['REA', 'Research or Educational Area'], ['REC', 'Recreation Management Area'], ['RECE', 'Recreation or Education Easement'],
  ['RMA', 'Resource Management Area'], ['RNA', 'Research Natural Area'], ['SCA', 'State Conservation Area'],
  ['SDA', 'Special Designation Area'], ['SHCA', 'State Historic or Cultural Area'], ['SOTH', 'State Other or Unknown'],
  ['SP', 'State Park'], ['SREC', 'State Recreation Area'], ['SRMA', 'State Resource Management Area'],
  ['SW', 'State Wilderness'], ['TRIBL', 'Native American Land Area'], ['UNK', 'Unknown'], ['UNKE', 'Unknown Easement'],
  ['WA', 'Wilderness Area'], ['WPA', 'Watershed Protection Area'], ['WSA', 'Wilderness Study Area'],
  ['WSR', 'Wild and Scenic River'],
]);

const GAP_STATUS = rows(['Code', 'Dom'], [
  ['1', 'managed for biodiversity - disturbance events proceed or are mimicked'],
  ['2', 'managed for biodiversity - disturbance events suppressed'],
  ['3', 'managed for multiple uses - subject to extractive (e.g. mining or logging) or OHV use'],
  ['4', 'no known mandate for biodiversity protection'],
]);

const IUCN_CATEGORY = rows(['CODE', 'DOM'], [
  ['Ia', 'Strict nature reserves'], ['Ib', 'Wilderness areas'], ['II', 'National park'],
  ['III', 'Natural monument or feature'], ['IV', 'Habitat / species management'], ['V', 'Protected landscape / seascape'],
  ['VI', 'Protected area with sustainable use of natural resources'], ['N/R', 'Not Reported'],
  ['Unassigned', 'Unassigned'], ['Other Conservation Area', 'Other Conservation Area'],
]);

/** Agency_Name: code, description, Old_Code (PAD-US 1.x numeric code; NULL where none) and its Agency_Type. */
const AGENCIES: [code: string, dom: string, oldCode: string | null, type: string][] = [
  ['ARS', 'Agricultural Research Service', '0155', 'FED'], ['AS', 'American Samoa Government', '1002', 'TERR'],
  ['BIA', 'Bureau of Indian Affairs', '0160', 'FED'], ['BLM', 'Bureau of Land Management', '0110', 'FED'],
  ['BOEM', 'Bureau of Ocean Energy Management', '0115', 'FED'], ['BPA', 'Bonneville Power Administration', null, 'FED'],
  ['CITY', 'City Land', '0510', 'LOC'], ['CNTY', 'County Land', '0520', 'LOC'], ['DESG', 'Designation', null, 'DESG'],
  ['DOD', 'Department of Defense', '0135', 'FED'], ['DOE', 'Department of Energy', '0140', 'FED'],
  ['FM', 'Federated States of Micronesia Government', '1006', 'TERR'], ['FWS', 'U.S. Fish and Wildlife Service', '0125', 'FED'],
  ['GU', 'Guam Government', '1003', 'TERR'], ['JNT', 'Joint', '0800', 'JNT'], ['MH', 'Marshall Islands Government', '1007', 'TERR'],
  ['MP', 'Mariana Islands Government', '1004', 'TERR'], ['NGO', 'Non-Governmental Organization', null, 'NGO'],
  ['NOAA', 'National Oceanic and Atmospheric Administration', '0165', 'FED'], ['NPS', 'National Park Service', '0145', 'FED'],
  ['NRCS', 'Natural Resources Conservation Service', '0150', 'FED'], ['OTHF', 'Other or Unknown Federal Land', '0170', 'FED'],
  ['OTHR', 'Other', '0810', 'UNK'], ['OTHS', 'Other or Unknown State Land', '0395', 'STAT'],
  ['PR', 'Puerto Rico Government', '1005', 'TERR'], ['PVT', 'Private', '0710', 'PVT'], ['PW', 'Palau Government', '1008', 'TERR'],
  ['REG', 'Regional Agency Land', '0410', 'DIST'], ['RWD', 'Regional Water Districts', '0420', 'DIST'],
  ['SDC', 'State Department of Conservation', '0315', 'STAT'], ['SDNR', 'State Department of Natural Resources', '0340', 'STAT'],
  ['SDOL', 'State Department of Land', '0350', 'STAT'], ['SFW', 'State Fish and Wildlife', '0330', 'STAT'],
  ['SLB', 'State Land Board', '0320', 'STAT'], ['SPR', 'State Park and Recreation', '0310', 'STAT'],
  ['TRIB', 'American Indian Lands', '0220', 'TRIB'], ['TVA', 'Tennessee Valley Authority', '0100', 'FED'],
  ['UM', 'U.S. Minor Outlying Islands Government', '1009', 'TERR'], ['UNK', 'Unknown', '0910', 'UNK'],
  ['UNKL', 'Other or Unknown Local Government', null, 'LOC'], ['USACE', 'Army Corps of Engineers', null, 'FED'],
  ['USBR', 'Bureau of Reclamation', '0120', 'FED'], ['USFS', 'Forest Service', '0130', 'FED'],
  ['VI', 'U.S. Virgin Islands Government', '1001', 'TERR'],
];
const AGENCY_NAME = rows(['Code', 'Dom', 'Old_Code'], AGENCIES.map(([c, d, o]) => [c, d, o]));
const AGENCY_DOM = Object.fromEntries(AGENCIES.map(([c, d]) => [c, d]));
const AGENCY_TYPE_OF = Object.fromEntries(AGENCIES.map(([c, , , t]) => [c, t]));

const AGENCY_TYPE = rows(['Code', 'Dom'], [
  ['DESG', 'Designation'], ['DIST', 'Regional Agency Special District'], ['FED', 'Federal'], ['JNT', 'Joint'],
  ['LOC', 'Local Government'], ['NGO', 'Non-Governmental Organization'], ['PVT', 'Private'], ['STAT', 'State'],
  ['TERR', 'Territorial'], ['TRIB', 'American Indian Lands'], ['UNK', 'Unknown'],
]);

const STATES: [code: string, name: string, fips: string | null][] = [
  ['AK', 'Alaska', '02'], ['AL', 'Alabama', '01'], ['AR', 'Arkansas', '05'], ['AS', 'American Samoa', '60'],
  ['AZ', 'Arizona', '04'], ['CA', 'California', '06'], ['CO', 'Colorado', '08'], ['CT', 'Connecticut', '09'],
  ['DC', 'District of Columbia', '11'], ['DE', 'Delaware', '10'], ['FL', 'Florida', '12'],
  ['FM', 'Federated States of Micronesia', '64'], ['GA', 'Georgia', '13'], ['GU', 'Guam', '66'], ['HI', 'Hawaii', '15'],
  ['IA', 'Iowa', '19'], ['ID', 'Idaho', '16'], ['IL', 'Illinois', '17'], ['IN', 'Indiana', '18'], ['KS', 'Kansas', '20'],
  ['KY', 'Kentucky', '21'], ['LA', 'Louisiana', '22'], ['MA', 'Massachusetts', '25'], ['MD', 'Maryland', '24'],
  ['ME', 'Maine', '23'], ['MH', 'Marshall Islands', '68'], ['MI', 'Michigan', '26'], ['MN', 'Minnesota', '27'],
  ['MO', 'Missouri', '29'], ['MP', 'Mariana Islands', '65'], ['MS', 'Mississippi', '28'], ['MT', 'Montana', '30'],
  ['NC', 'North Carolina', '37'], ['ND', 'North Dakota', '38'], ['NE', 'Nebraska', '31'], ['NH', 'New Hampshire', '33'],
  ['NJ', 'New Jersey', '34'], ['NM', 'New Mexico', '35'], ['NV', 'Nevada', '32'], ['NY', 'New York', '36'],
  ['OH', 'Ohio', '39'], ['OK', 'Oklahoma', '40'], ['OR', 'Oregon', '41'], ['PA', 'Pennsylvania', '42'],
  ['PR', 'Puerto Rico', '72'], ['PW', 'Palau', '70'], ['RI', 'Rhode Island', '44'], ['SC', 'South Carolina', '45'],
  ['SD', 'South Dakota', '46'], ['TN', 'Tennessee', '47'], ['TX', 'Texas', '48'], ['UM', 'U.S. Minor Outlying Islands', '74'],
  ['UT', 'Utah', '49'], ['VA', 'Virginia', '51'], ['VI', 'U.S. Virgin Islands', '78'], ['VT', 'Vermont', '50'],
  ['WA', 'Washington', '53'], ['WI', 'Wisconsin', '55'], ['WV', 'West Virginia', '54'], ['WY', 'Wyoming', '56'],
  // PLACEHOLDER: PAD-US 4.1's State_Name has 61 rows, but the public listing these come from shows
  // only the 60 above; this clearly-labelled row keeps the count right. No feature uses it.
  ['ZZ', 'PLACEHOLDER (61st State_Name row, not publicly listed)', null],
];
const STATE_NAME = rows(['Code', 'Dom', 'St_FIPS'], STATES);

/** The 8 lookup tables in the order they are written, with their rows. */
export const PADUS_LOOKUP_TABLES: Record<string, Row[]> = {
  Public_Access: PUBLIC_ACCESS,
  Category: CATEGORY,
  Designation_Type: DESIGNATION_TYPE,
  GAP_Status: GAP_STATUS,
  IUCN_Category: IUCN_CATEGORY,
  Agency_Name: AGENCY_NAME,
  Agency_Type: AGENCY_TYPE,
  State_Name: STATE_NAME,
};

// ---------------------------------------------------------------------------------------------
// Fields of the spatial layers (names and types from padus-4-1.md; string widths are plausible
// values, not verified against the real geodatabase, nor is the position of the easement fields).
// ---------------------------------------------------------------------------------------------

type FieldSpec = [name: string, type: 'string' | 'integer' | 'real', width?: number];

const COMMON_FIELDS: FieldSpec[] = [
  ['FeatClass', 'string', 12], ['Category', 'string', 12], ['Own_Type', 'string', 5], ['Own_Name', 'string', 5],
  ['Loc_Own', 'string', 254], ['Mang_Type', 'string', 5], ['Mang_Name', 'string', 5], ['Loc_Mang', 'string', 254],
  ['Des_Tp', 'string', 5], ['Loc_Ds', 'string', 254], ['Unit_Nm', 'string', 254], ['Loc_Nm', 'string', 254],
  ['State_Nm', 'string', 3], ['Agg_Src', 'string', 254], ['GIS_Src', 'string', 254], ['Src_Date', 'string', 10],
  ['GIS_Acres', 'integer'], ['Source_PAID', 'string', 254], ['WDPA_Cd', 'integer'], ['Pub_Access', 'string', 3],
  ['Access_Src', 'string', 254], ['Access_Dt', 'string', 10], ['GAP_Sts', 'string', 2], ['GAPCdSrc', 'string', 254],
  ['GAPCdDt', 'string', 10], ['IUCN_Cat', 'string', 30], ['IUCNCtSrc', 'string', 254], ['IUCNCtDt', 'string', 10],
  ['Date_Est', 'string', 10], ['Comments', 'string', 254],
];
const SHAPE_FIELDS: FieldSpec[] = [['SHAPE_Length', 'real'], ['SHAPE_Area', 'real']];
const TERM_FIELDS: FieldSpec[] = [['Term', 'integer'], ['Duration', 'string', 10]];
const HOLDER_FIELDS: FieldSpec[] = [['EsmtHldr', 'string', 254], ['EHoldTyp', 'string', 5]];

type LayerKey = keyof typeof PADUS_LAYER_NAMES;
type SourceKey = Exclude<LayerKey, 'combined'>;

const LAYER_FIELDS: Record<LayerKey, FieldSpec[]> = {
  fee: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  easement: [...COMMON_FIELDS, ...HOLDER_FIELDS, ...TERM_FIELDS, ...SHAPE_FIELDS],
  proclamation: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  marine: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  designation: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  combined: [...COMMON_FIELDS, ...TERM_FIELDS, ...SHAPE_FIELDS],
};

const FEAT_CLASS: Record<SourceKey, string> = {
  fee: 'Fee', easement: 'Easement', proclamation: 'Proclamation', marine: 'Marine', designation: 'Designation',
};

/** Order of the source layers inside Combined, as its name says. */
const COMBINED_ORDER: SourceKey[] = ['proclamation', 'marine', 'fee', 'designation', 'easement'];

// ---------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; same seed → same sequence everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Log-uniform in [lo, hi). */
  logRange(lo: number, hi: number): number {
    return Math.exp(this.range(Math.log(lo), Math.log(hi)));
  }
  /** Integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  /** One of `choices` with probability proportional to its weight. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [value, w] of choices) {
      r -= w;
      if (r < 0) return value;
    }
    return choices[choices.length - 1][0];
  }
}

// ---------------------------------------------------------------------------------------------
// Places
// ---------------------------------------------------------------------------------------------

/** A region to scatter features in: approximate interior point (lon/lat, NAD83) and spread (degrees of latitude). */
interface Region {
  state: string;
  lon: number;
  lat: number;
  spread: number;
}

const r = (state: string, lon: number, lat: number, spread: number): Region => ({ state, lon, lat, spread });

const LAND_REGIONS: Region[] = [
  r('AL', -86.8, 32.8, 0.8), r('AZ', -111.7, 34.3, 1.4), r('AR', -92.4, 34.9, 0.8), r('CA', -119.8, 37.5, 1.5),
  r('CA', -116.5, 34.5, 0.8), r('CO', -105.5, 39.0, 1.2), r('CT', -72.7, 41.6, 0.2), r('FL', -81.7, 28.6, 0.8),
  r('GA', -83.4, 32.7, 0.8), r('ID', -114.6, 44.4, 1.2), r('IL', -89.2, 40.0, 1.0), r('IN', -86.3, 39.9, 0.8),
  r('IA', -93.5, 42.1, 0.8), r('KS', -98.4, 38.5, 1.0), r('KY', -85.3, 37.5, 0.6), r('LA', -92.0, 31.1, 0.7),
  r('ME', -69.2, 45.4, 0.8), r('MD', -76.8, 39.1, 0.2), r('MA', -71.8, 42.3, 0.25), r('MI', -84.7, 43.8, 0.8),
  r('MN', -94.3, 46.3, 1.2), r('MS', -89.7, 32.7, 0.8), r('MO', -92.5, 38.4, 1.0), r('MT', -109.6, 47.0, 1.6),
  r('NE', -99.8, 41.5, 1.0), r('NV', -116.6, 39.3, 1.5), r('NH', -71.6, 43.7, 0.4), r('NJ', -74.7, 40.1, 0.3),
  r('NM', -106.1, 34.4, 1.4), r('NY', -75.5, 42.9, 0.8), r('NC', -79.4, 35.5, 0.6), r('ND', -100.5, 47.4, 1.0),
  r('OH', -82.8, 40.3, 0.8), r('OK', -97.5, 35.6, 0.9), r('OR', -120.5, 43.9, 1.4), r('PA', -77.8, 40.9, 0.7),
  r('RI', -71.5, 41.7, 0.08), r('SC', -80.9, 33.9, 0.6), r('SD', -100.2, 44.4, 1.0), r('TN', -86.3, 35.8, 0.5),
  r('TX', -99.3, 31.4, 2.5), r('UT', -111.7, 39.3, 1.2), r('VT', -72.7, 44.0, 0.3), r('VA', -78.8, 37.5, 0.6),
  r('WA', -120.4, 47.4, 1.2), r('WV', -80.6, 38.6, 0.5), r('WI', -89.8, 44.6, 0.8), r('WY', -107.5, 43.0, 1.5),
  // Alaska (still projected to the CONUS Albers CRS, as PAD-US does) and Hawaii.
  r('AK', -150.0, 63.5, 2.5), r('AK', -147.0, 66.5, 1.5), r('AK', -134.5, 57.5, 0.8), r('AK', -161.5, 60.5, 1.2),
  r('HI', -155.5, 19.6, 0.3), r('HI', -156.3, 20.8, 0.12), r('HI', -157.97, 21.45, 0.1), r('HI', -159.5, 22.05, 0.08),
];

const MARINE_REGIONS: Region[] = [
  r('CA', -119.6, 33.9, 0.3), r('CA', -122.3, 36.7, 0.2), r('FL', -81.2, 24.6, 0.2), r('MA', -70.3, 42.4, 0.2),
  r('LA', -90.0, 28.9, 0.3), r('WA', -124.9, 47.6, 0.3), r('HI', -157.0, 21.0, 0.2), r('AK', -152.5, 57.5, 0.4),
  r('NC', -75.6, 35.0, 0.2), r('TX', -94.0, 28.4, 0.3), r('ME', -68.5, 44.0, 0.2),
];

const PLACE_A = [
  'Cedar', 'Bear', 'Eagle', 'Pine', 'Willow', 'Coyote', 'Elk', 'Red Rock', 'Silver', 'Maple', 'Blue Ridge', 'Antelope',
  'Crystal', 'Buffalo', 'Cottonwood', 'Heron', 'Aspen', 'Granite', 'Sandy', 'Hidden', 'Juniper', 'Otter', 'Spruce',
  'Big Sky', 'Mill', 'Sugarloaf', 'Turkey', 'Black Hawk', 'Indian Grass', 'Wolf', 'Beaver', 'Laurel', 'Salmon', 'Crane',
];
const PLACE_B = [
  'Creek', 'Mountain', 'Valley', 'Lake', 'Ridge', 'Meadows', 'Canyon', 'Bluff', 'Hollow', 'Springs', 'Prairie', 'Marsh',
  'Point', 'Flats', 'Knob', 'Bottoms', 'Island', 'River', 'Pond', 'Butte', 'Woods', 'Gap', 'Bay', 'Mesa',
];

/** Unit_Nm pattern by designation type ('{}' is a place name). */
const NAME_PATTERN: Record<string, string> = {
  NP: '{} National Park', NM: '{} National Monument', NRA: '{} National Recreation Area', NLS: '{} National Seashore',
  HCA: '{} National Historic Site', NT: '{} National Scenic Trail', NWR: '{} National Wildlife Refuge',
  NF: '{} National Forest', NG: '{} National Grassland', RNA: '{} Research Natural Area', REC: '{} Recreation Area',
  PUB: '{} Public Lands', NCA: '{} National Conservation Area', ACEC: '{} ACEC', SDA: '{} Special Management Area',
  MIL: '{} Military Reservation', FOTH: '{} Federal Lands', REA: '{} Experimental Range', MPA: '{} Marine Protected Area',
  TRIBL: '{} Reservation', OCS: '{} Outer Continental Shelf Area', MIT: '{} Mitigation Bank',
  WPA: '{} Watershed Protection Area', SP: '{} State Park', SW: '{} State Wilderness', SCA: '{} State Natural Area',
  SREC: '{} State Recreation Area', SHCA: '{} State Historic Site', SRMA: '{} State Forest', SOTH: '{} State Lands',
  LP: '{} Park', LREC: '{} Recreation Area', LCA: '{} Nature Preserve', LHCA: '{} Historic Park', LRMA: '{} County Forest',
  LOTH: '{} Open Space', RMA: '{} Cooperative Management Area', PCON: '{} Preserve', PREC: '{} Nature Center',
  PHCA: '{} Historic Farm', PPRK: '{} Park', PAGR: '{} Farm', PFOR: '{} Forest', PRAN: '{} Ranch', POTH: '{} Property',
  CONE: '{} Conservation Easement', AGRE: '{} Farmland Easement', FORE: '{} Forest Legacy Easement',
  RANE: '{} Ranch Easement', HCAE: '{} Historic Preservation Easement', RECE: '{} Recreation Easement',
  OTHE: '{} Easement', UNKE: '{} Easement', PROC: '{} Proclamation Boundary', WA: '{} Wilderness',
  WSA: '{} Wilderness Study Area', WSR: '{} Wild and Scenic River', IRA: '{} Roadless Area', NSBV: '{} Scenic Area',
  ACC: '{} Access Area', FACY: '{} Facility', UNK: '{}', ND: '{}',
};

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

type Attrs = Record<string, string | number | null>;

const STATE_AGENCIES = ['SDC', 'SDNR', 'SDOL', 'SFW', 'SLB', 'SPR', 'OTHS'];
const LOCAL_AGENCIES = ['CITY', 'CITY', 'CNTY', 'CNTY', 'UNKL'];

/** Fee managers by weight. */
const FEE_MANAGERS: [string, number][] = [
  ['BLM', 8], ['USFS', 8], ['NPS', 4], ['FWS', 5], ['DOD', 2], ['USBR', 1], ['USACE', 1], ['DOE', 0.5], ['TVA', 0.3],
  ['ARS', 0.3], ['NRCS', 0.3], ['BIA', 0.5], ['OTHF', 0.5], ['BPA', 0.2],
  ...STATE_AGENCIES.map((a) => [a, 4] as [string, number]),
  ...LOCAL_AGENCIES.map((a) => [a, 4] as [string, number]),
  ['REG', 1.5], ['RWD', 1], ['JNT', 0.6], ['NGO', 5], ['PVT', 2], ['TRIB', 0.7], ['UNK', 0.5], ['OTHR', 0.3],
];

/** Fee designation types by manager (or by manager type for state/local agencies). */
const FEE_DESIGNATIONS: Record<string, string[]> = {
  NPS: ['NP', 'NP', 'NM', 'NRA', 'NLS', 'HCA', 'NT'], FWS: ['NWR', 'NWR', 'NWR', 'MIT'],
  USFS: ['NF', 'NF', 'NF', 'NG', 'RNA', 'NSBV'], BLM: ['PUB', 'PUB', 'PUB', 'NCA', 'NM', 'ACEC', 'SDA'],
  DOD: ['MIL'], DOE: ['FOTH', 'REA'], USBR: ['REC', 'FOTH'], USACE: ['REC', 'FOTH', 'ACC'], TVA: ['REC', 'FOTH'],
  ARS: ['REA'], NRCS: ['FOTH'], NOAA: ['MPA', 'REA'], BIA: ['TRIBL'], BPA: ['FOTH', 'FACY'], BOEM: ['OCS'], OTHF: ['FOTH'],
  STAT: ['SP', 'SP', 'SW', 'SCA', 'SREC', 'SHCA', 'SRMA', 'SOTH', 'MIT', 'ACC'],
  LOC: ['LP', 'LP', 'LREC', 'LCA', 'LHCA', 'LRMA', 'LOTH', 'WPA'], DIST: ['LRMA', 'LCA', 'LREC', 'WPA', 'RMA'],
  JNT: ['RMA', 'SCA'], NGO: ['PCON', 'PCON', 'PREC', 'PHCA', 'PPRK'], PVT: ['PAGR', 'PFOR', 'PRAN', 'POTH', 'PCON'],
  TRIB: ['TRIBL'], UNK: ['UNK', 'ND'], TERR: ['SP', 'SCA', 'SOTH'],
};

/** Typical GAP status by designation type (default 4). */
const GAP_BY_DESIGNATION: Record<string, number> = {
  WA: 1, SW: 1, RNA: 1, NP: 2, NWR: 2, NM: 2, WSA: 2, NCA: 2, PCON: 2, SCA: 2, LCA: 2, ACEC: 2, WSR: 2, NSBV: 2,
  CONE: 2, NF: 3, NG: 3, PUB: 3, NRA: 3, SRMA: 3, SP: 3, SREC: 3, IRA: 3, REC: 3, NLS: 2, MPA: 2, OCS: 3, FORE: 3,
  RANE: 3, LRMA: 3, PFOR: 3, SDA: 3, PROC: 4,
};

const IUCN_BY_GAP: Record<number, string[]> = {
  1: ['Ia', 'Ib', 'Ib'],
  2: ['II', 'III', 'IV', 'IV'],
  3: ['V', 'VI', 'VI', 'Other Conservation Area'],
  4: ['Unassigned', 'Unassigned', 'N/R', 'Other Conservation Area'],
};

const YEARS = Array.from({ length: 14 }, (_, i) => String(2010 + i));

function placeName(rng: Rng): string {
  return `${rng.pick(PLACE_A)} ${rng.pick(PLACE_B)}`;
}

function unitName(rng: Rng, desTp: string, place = placeName(rng)): string {
  return (NAME_PATTERN[desTp] ?? '{}').replace('{}', place);
}

function localName(rng: Rng, agencyType: string, place: string): string | null {
  if (!rng.chance(0.45)) return null;
  switch (agencyType) {
    case 'LOC': return rng.pick([`City of ${place}`, `${place} County`, `${place} Township`]);
    case 'DIST': return `${place} Park District`;
    case 'NGO': return rng.pick(['The Nature Conservancy', `${place} Land Trust`, `${place} Audubon Society`]);
    case 'PVT': return rng.pick([`${place} Ranch LLC`, `${place} Family Trust`, 'Private landowner']);
    case 'STAT': return rng.pick(['State Parks Division', 'Department of Fish and Game', 'State Forestry Division']);
    default: return null;
  }
}

interface AttrInput {
  cls: SourceKey;
  region: Region;
  /** Manager agency code; drawn when absent. */
  mang?: string;
  /** Owner agency code; derived when absent. */
  own?: string;
  desTp?: string;
  unit?: string;
  comments?: string;
}

/** Draws a full attribute row consistent with the lookup tables (codes that join). */
function drawAttributes(rng: Rng, input: AttrInput): Attrs {
  const { cls, region } = input;
  const place = placeName(rng);
  let mang = input.mang;
  let own = input.own;
  let desTp = input.desTp;
  const extra: Attrs = {};
  switch (cls) {
    case 'fee': {
      mang ??= rng.weighted(FEE_MANAGERS);
      own ??= rng.chance(0.85) ? mang : rng.weighted(FEE_MANAGERS);
      const mt = AGENCY_TYPE_OF[mang];
      desTp ??= rng.pick(FEE_DESIGNATIONS[mang] ?? FEE_DESIGNATIONS[mt] ?? ['UNK']);
      break;
    }
    case 'easement': {
      mang ??= rng.weighted<string>([['NGO', 10], ['NRCS', 4], ['USFS', 1], ['FWS', 2], ['SDNR', 2], ['SFW', 2], ['SDC', 1], ['CNTY', 2], ['CITY', 1], ['REG', 0.5], ['JNT', 0.3], ['UNK', 0.5]]);
      own ??= rng.chance(0.9) ? 'PVT' : 'UNK';
      desTp ??= rng.weighted<string>([['CONE', 10], ['AGRE', 4], ['FORE', 2], ['RANE', 2], ['HCAE', 0.5], ['RECE', 0.5], ['OTHE', 0.5], ['UNKE', 0.5]]);
      const perm = rng.chance(0.88);
      extra.EsmtHldr = AGENCY_TYPE_OF[mang] === 'NGO' ? rng.pick(['The Nature Conservancy', `${place} Land Trust`, 'American Farmland Trust', `${place} Conservancy`]) : AGENCY_DOM[mang];
      extra.EHoldTyp = AGENCY_TYPE_OF[mang];
      // Duration codes are plausible, not verified against the real geodatabase.
      extra.Duration = perm ? 'PERM' : rng.chance(0.7) ? 'TEMP' : 'UNK';
      extra.Term = perm ? null : rng.pick([10, 15, 20, 30, 50]);
      break;
    }
    case 'proclamation': {
      mang ??= rng.weighted<string>([['USFS', 4], ['FWS', 3], ['NPS', 3], ['BLM', 1], ['DOD', 1], ['SPR', 1], ['SFW', 1]]);
      own ??= mang;
      desTp ??= rng.chance(0.3) ? 'PROC' : rng.pick(FEE_DESIGNATIONS[mang] ?? FEE_DESIGNATIONS[AGENCY_TYPE_OF[mang]]);
      break;
    }
    case 'marine': {
      mang ??= rng.weighted<string>([['NOAA', 4], ['FWS', 2], ['NPS', 2], ['SFW', 3], ['SDNR', 1], ['BOEM', 0.5], ['JNT', 0.5]]);
      own ??= mang;
      desTp ??= mang === 'BOEM' ? 'OCS' : rng.weighted<string>([['MPA', 8], ['NWR', mang === 'FWS' ? 6 : 0], ['NP', mang === 'NPS' ? 6 : 0], ['SCA', 1]]);
      break;
    }
    case 'designation': {
      mang ??= rng.weighted<string>([['BLM', 4], ['USFS', 5], ['NPS', 2], ['FWS', 2], ['SDNR', 1], ['SPR', 1]]);
      own ??= 'DESG';
      desTp ??= rng.weighted<string>([['WA', 5], ['WSA', 3], ['IRA', 4], ['ACEC', 3], ['WSR', 1], ['RNA', 1], ['SDA', 1], ['NSBV', 0.5], ['NT', 0.5], ['NRA', 0.5]]);
      break;
    }
  }
  const mangType = AGENCY_TYPE_OF[mang!];
  const ownType = AGENCY_TYPE_OF[own!];
  let gap = GAP_BY_DESIGNATION[desTp!] ?? 4;
  if (rng.chance(0.15)) gap = Math.min(4, Math.max(1, gap + (rng.chance(0.5) ? 1 : -1)));
  const military = desTp === 'MIL';
  const pubAccess = cls === 'easement'
    ? rng.weighted<string>([['XA', 60], ['RA', 20], ['UK', 15], ['OA', 5]])
    : military ? rng.weighted<string>([['XA', 3], ['RA', 2]])
    : mangType === 'PVT' ? rng.weighted<string>([['XA', 5], ['RA', 3], ['UK', 2]])
    : rng.weighted<string>([['OA', 70], ['RA', 15], ['UK', 10], ['XA', 5]]);
  const year = () => rng.pick(YEARS);
  const defaultSrc = 'GAP - Default by Designation Type';
  const aggSrc = mangType === 'FED' ? `${mang}_${mang}_${year()}` : `${region.state}_State_Data_${year()}`;
  const acresPlaceholder = 0; // replaced by the real GIS_Acres once the geometry is built
  return {
    FeatClass: FEAT_CLASS[cls],
    Category: cls === 'fee' ? rng.weighted<string>([['Fee', 97], ['Other', 2], ['Unknown', 1]]) : FEAT_CLASS[cls],
    Own_Type: ownType,
    Own_Name: own!,
    Loc_Own: localName(rng, ownType, place),
    Mang_Type: mangType,
    Mang_Name: mang!,
    Loc_Mang: localName(rng, mangType, place),
    Des_Tp: desTp!,
    Loc_Ds: rng.chance(0.4) ? DESIGNATION_TYPE.find((d) => d.Code === desTp)?.Dom ?? null : null,
    Unit_Nm: input.unit ?? unitName(rng, desTp!, place),
    Loc_Nm: rng.chance(0.3) ? place : null,
    State_Nm: region.state,
    Agg_Src: aggSrc,
    GIS_Src: `${AGENCY_DOM[mang!]} GIS data ${year()}`,
    Src_Date: year(),
    GIS_Acres: acresPlaceholder,
    Source_PAID: `${region.state}${mang}${rng.int(100_000, 999_999)}`,
    WDPA_Cd: rng.chance(0.65) ? rng.int(100_000, 555_799_999) : 0,
    Pub_Access: pubAccess,
    Access_Src: rng.chance(0.7) ? defaultSrc : `${mang} data`,
    Access_Dt: year(),
    GAP_Sts: String(gap),
    GAPCdSrc: rng.chance(0.8) ? defaultSrc : 'GAP - Expert Review',
    GAPCdDt: year(),
    IUCN_Cat: rng.pick(IUCN_BY_GAP[gap]),
    IUCNCtSrc: defaultSrc,
    IUCNCtDt: year(),
    Date_Est: rng.chance(0.6) ? String(rng.int(1872, 2023)) : null,
    Comments: input.comments ?? null,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------------

type Ring = [number, number][];

/** A feature's geometry before projection: linear lon/lat (NAD83) rings, linear Albers WKT, curved Albers WKT, or none. */
type Shape =
  | { kind: 'lonlat'; polygons: Ring[][] }
  | { kind: 'albers'; wkt: string }
  | { kind: 'curve'; wkt: string; area: number; length: number; vertices: number }
  | { kind: 'none' };

/** A feature ready to write. */
interface Realized {
  /** Linear geometry in Albers, written by gdal-async. */
  geometry: Geometry | null;
  /** Curved WKT in Albers, written through vectorTranslate. */
  curveWkt: string | null;
  area: number | null;
  length: number | null;
  vertices: number;
}

const KM_PER_DEG_LAT = 110.574;
const KM_PER_DEG_LON_EQ = 111.32;
const SQ_M_PER_ACRE = 4046.8564224;

function ringArea(ring: [number, number][]): number {
  let s = 0;
  for (let i = 0; i < ring.length - 1; i++) s += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  return s / 2;
}

/**
 * A closed, simple, star-shaped ring of `n` vertices around (lon0, lat0) with an area of about
 * `areaKm2`: vertex angles increase monotonically and radii stay positive, so the ring never
 * self-intersects however wiggly it is. `waves` sinusoids of total relative amplitude `amp`
 * (frequencies up to `maxFreq`, amplitudes falling as 1/f) shape the outline.
 */
function starRing(rng: Rng, lon0: number, lat0: number, areaKm2: number, n: number, amp = 0.3, waves = 3, maxFreq = 7): Ring {
  const comps: [f: number, a: number, phase: number][] = [];
  for (let k = 0; k < waves; k++) {
    const f = rng.int(1 + Math.floor((k * maxFreq) / waves), Math.max(2, Math.floor(((k + 1) * maxFreq) / waves)));
    comps.push([f, 1 / Math.pow(f, 0.8), rng.range(0, 2 * Math.PI)]);
  }
  const norm = comps.reduce((s, [, a]) => s + a, 0) || 1;
  const jitter = Array.from({ length: n }, () => rng.range(-0.35, 0.35));
  const unit: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * (i + jitter[i])) / n;
    let rad = 1;
    for (const [f, a, p] of comps) rad += (amp * a * Math.sin(f * t + p)) / norm;
    unit.push([rad * Math.cos(t), rad * Math.sin(t)]);
  }
  unit.push(unit[0]);
  const scale = Math.sqrt(areaKm2 / ringArea(unit));
  const kmPerDegLon = KM_PER_DEG_LON_EQ * Math.cos((lat0 * Math.PI) / 180);
  return unit.map(([x, y]) => [lon0 + (x * scale) / kmPerDegLon, lat0 + (y * scale) / KM_PER_DEG_LAT]);
}

/** A circle-ish ring (clockwise, for holes) of radius `radiusKm`. */
function holeRing(lon0: number, lat0: number, radiusKm: number, n: number): Ring {
  const kmPerDegLon = KM_PER_DEG_LON_EQ * Math.cos((lat0 * Math.PI) / 180);
  const ring: Ring = [];
  for (let i = 0; i < n; i++) {
    const t = (-2 * Math.PI * i) / n;
    ring.push([lon0 + (radiusKm * Math.cos(t)) / kmPerDegLon, lat0 + (radiusKm * Math.sin(t)) / KM_PER_DEG_LAT]);
  }
  ring.push(ring[0]);
  return ring;
}

/** Random point inside a region (lon/lat). */
function pointIn(rng: Rng, region: Region): [number, number] {
  const lat = region.lat + rng.range(-1, 1) * region.spread;
  const lon = region.lon + (rng.range(-1, 1) * region.spread) / Math.cos((lat * Math.PI) / 180);
  return [lon, lat];
}

/** An ordinary feature: 8–200 vertices, 0.05–50 km²; sometimes multipart, sometimes with a hole. */
function ordinaryShape(rng: Rng, region: Region): Shape {
  const [lon, lat] = pointIn(rng, region);
  const area = rng.logRange(0.05, 50);
  const vertices = rng.int(8, 200);
  const amp = rng.range(0.05, 0.45);
  const style = rng.weighted<'single' | 'multi' | 'hole'>([['single', 85], ['multi', 10], ['hole', 5]]);
  if (style === 'multi') {
    const parts = rng.int(2, 4);
    const partArea = area / parts;
    const stepKm = 3 * Math.sqrt(partArea / Math.PI) * (1 + amp);
    const heading = rng.range(0, Math.PI);
    const kmPerDegLon = KM_PER_DEG_LON_EQ * Math.cos((lat * Math.PI) / 180);
    const polygons: Ring[][] = [];
    for (let p = 0; p < parts; p++) {
      const plon = lon + (p * stepKm * Math.cos(heading)) / kmPerDegLon;
      const plat = lat + (p * stepKm * Math.sin(heading)) / KM_PER_DEG_LAT;
      polygons.push([starRing(rng, plon, plat, partArea, Math.max(8, Math.floor(vertices / parts)), amp)]);
    }
    return { kind: 'lonlat', polygons };
  }
  if (style === 'hole') {
    // The hole takes ~4% of the outer area, well inside the outline (amplitude kept small).
    const outer = starRing(rng, lon, lat, area * 1.04, Math.max(8, vertices - 12), Math.min(amp, 0.2));
    const holeRadius = 0.2 * Math.sqrt((area * 1.04) / Math.PI);
    return { kind: 'lonlat', polygons: [[outer, holeRing(lon, lat, holeRadius, 12)]] };
  }
  return { kind: 'lonlat', polygons: [[starRing(rng, lon, lat, area, vertices, amp)]] };
}

const fmt = (v: number) => String(Number(v.toFixed(3)));

/** Formats Albers coordinates (metres, 1 mm) as a WKT point list. */
function pts(points: [number, number][]): string {
  return points.map(([x, y]) => `${fmt(x)} ${fmt(y)}`).join(',');
}

/** WKT of a lon/lat multipolygon (1e-7 degree ≈ 1 cm). */
function lonLatWkt(polygons: Ring[][]): string {
  const ring = (rg: Ring) => `(${rg.map(([x, y]) => `${x.toFixed(7)} ${y.toFixed(7)}`).join(',')})`;
  return `MULTIPOLYGON(${polygons.map((rings) => `(${rings.map(ring).join(',')})`).join(',')})`;
}

/** Curved hard cases, built in Albers metres around (x, y), with exact area and perimeter. */
const CURVES = {
  /** A full circle as two arcs: MULTISURFACE(CURVEPOLYGON(CIRCULARSTRING(...))). */
  circle(x: number, y: number, radius: number): Shape {
    const c = [[x - radius, y], [x, y - radius], [x + radius, y], [x, y + radius], [x - radius, y]] as [number, number][];
    return {
      kind: 'curve', wkt: `MULTISURFACE(CURVEPOLYGON(CIRCULARSTRING(${pts(c)})))`,
      area: Math.PI * radius ** 2, length: 2 * Math.PI * radius, vertices: 5,
    };
  },
  /** A stadium (two straight sides, two half-circle ends: a COMPOUNDCURVE) with a circular hole. */
  stadiumWithHole(x: number, y: number, half: number, radius: number, hole: number): Shape {
    const ext = `COMPOUNDCURVE((${pts([[x - half, y - radius], [x + half, y - radius]])}),` +
      `CIRCULARSTRING(${pts([[x + half, y - radius], [x + half + radius, y], [x + half, y + radius]])}),` +
      `(${pts([[x + half, y + radius], [x - half, y + radius]])}),` +
      `CIRCULARSTRING(${pts([[x - half, y + radius], [x - half - radius, y], [x - half, y - radius]])}))`;
    const inner = `CIRCULARSTRING(${pts([[x - hole, y], [x, y + hole], [x + hole, y], [x, y - hole], [x - hole, y]])})`;
    return {
      kind: 'curve', wkt: `MULTISURFACE(CURVEPOLYGON(${ext},${inner}))`,
      area: 4 * half * radius + Math.PI * (radius ** 2 - hole ** 2),
      length: 4 * half + 2 * Math.PI * (radius + hole), vertices: 11 + 5,
    };
  },
  /** A half-disc (straight base + one arc), optionally with a plain square part beside it (mixed MultiSurface). */
  halfDisc(x: number, y: number, radius: number, squareSide = 0): Shape {
    let wkt = `CURVEPOLYGON(COMPOUNDCURVE((${pts([[x - radius, y], [x + radius, y]])}),` +
      `CIRCULARSTRING(${pts([[x + radius, y], [x, y + radius], [x - radius, y]])})))`;
    let area = (Math.PI * radius ** 2) / 2;
    let length = Math.PI * radius + 2 * radius;
    let vertices = 4;
    if (squareSide > 0) {
      const sx = x + radius * 1.5;
      const sq: [number, number][] = [[sx, y], [sx + squareSide, y], [sx + squareSide, y + squareSide], [sx, y + squareSide], [sx, y]];
      wkt += `,((${pts(sq)}))`;
      area += squareSide ** 2;
      length += 4 * squareSide;
      vertices += 5;
    }
    return { kind: 'curve', wkt: `MULTISURFACE(${wkt})`, area, length, vertices };
  },
};

function albersRect(x: number, y: number, width: number, height: number, angle: number): Shape {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const corners: [number, number][] = [[0, 0], [width, 0], [width, height], [0, height], [0, 0]].map(([u, v]) => [x + u * c - v * s, y + u * s + v * c]);
  return { kind: 'albers', wkt: `MULTIPOLYGON(((${pts(corners)})))` };
}

/** A self-intersecting bow-tie (two unequal lobes), about `km` kilometres across. */
function bowTie(x: number, y: number, km: number): Shape {
  const k = km * 1000 / 3;
  const ring: [number, number][] = [[0, 0], [3, 2], [3, 0], [0, 1], [0, 0]].map(([u, v]) => [x + u * k, y + v * k]);
  return { kind: 'albers', wkt: `MULTIPOLYGON(((${pts(ring)})))` };
}

// ---------------------------------------------------------------------------------------------
// Feature plan
// ---------------------------------------------------------------------------------------------

interface PlannedFeature {
  cls: SourceKey;
  attrs: Attrs;
  shape: Shape;
}

interface Plan {
  layers: Record<SourceKey, PlannedFeature[]>;
}

/** Inserts `hard` features evenly among `ordinary` ones (deterministic positions). */
function interleave<T>(ordinary: T[], hard: T[]): T[] {
  const out = [...ordinary];
  for (let i = hard.length - 1; i >= 0; i--) {
    const at = Math.round(((i + 1) * ordinary.length) / (hard.length + 1));
    out.splice(at, 0, hard[i]);
  }
  return out;
}

function regionOf(state: string, list = LAND_REGIONS): Region {
  return list.find((rg) => rg.state === state)!;
}

/** Builds every feature (attributes and unprojected shape) from the seed. */
function planSample(rng: Rng, features: number, bigVertices: number, toAlbers: (lon: number, lat: number) => [number, number]): Plan {
  const counts: Record<SourceKey, number> = {
    fee: features,
    easement: Math.round(features * 1.1),
    proclamation: Math.max(1, Math.round(features / 10)),
    marine: Math.max(1, Math.round(features / 20)),
    designation: Math.max(1, Math.round(features / 10)),
  };
  const landWeights = LAND_REGIONS.map((rg) => [rg, rg.spread] as const);
  const ordinary = (cls: SourceKey, n: number, regions: readonly (readonly [Region, number])[]): PlannedFeature[] =>
    Array.from({ length: n }, () => {
      const region = rng.weighted(regions);
      const attrs = drawAttributes(rng, { cls, region });
      return { cls, attrs, shape: ordinaryShape(rng, region) };
    });
  const hard = (cls: SourceKey, region: Region, shape: Shape, comments: string, extra: Omit<AttrInput, 'cls' | 'region' | 'comments'> = {}): PlannedFeature => ({
    cls, shape, attrs: drawAttributes(rng, { cls, region, comments: `Synthetic hard case: ${comments}`, ...extra }),
  });
  /** An Albers anchor point inside a random CONUS region. */
  const anchor = (region = rng.pick(LAND_REGIONS.filter((rg) => rg.state !== 'AK' && rg.state !== 'HI'))) => {
    const [lon, lat] = pointIn(rng, region);
    return { region, xy: toAlbers(lon, lat) };
  };

  const fee = ordinary('fee', counts.fee, landWeights);
  const easement = ordinary('easement', counts.easement, landWeights.filter(([rg]) => rg.state !== 'AK'));
  const proclamation = ordinary('proclamation', counts.proclamation, landWeights);
  const marine = ordinary('marine', counts.marine, MARINE_REGIONS.map((rg) => [rg, 1] as const));
  const designation = ordinary('designation', counts.designation, landWeights);

  // Aleutian islands on both sides of 180°, ~52°N: one multipart feature (never crossing 180° itself).
  const aleutians = (): Shape => {
    const centres: [number, number][] = [[178.85, 51.55], [179.2, 51.4], [179.62, 51.95], [179.88, 51.75], [-179.85, 51.8], [-179.55, 51.65], [-179.2, 51.5], [-178.9, 51.85]];
    return {
      kind: 'lonlat',
      polygons: centres.map(([lon, lat]) => [starRing(rng, lon + rng.range(-0.02, 0.02), lat + rng.range(-0.05, 0.05), rng.logRange(1, 20), rng.int(16, 60), 0.3)]),
    };
  };
  const ak = regionOf('AK');

  // Fee hard cases.
  {
    const a = anchor();
    const b = anchor();
    const c = anchor();
    const sq = anchor();
    const sl = anchor();
    const bt = anchor();
    const keys = regionOf('FL');
    const archipelago: Ring[][] = [];
    const parts = rng.int(15, 25);
    for (let i = 0; i < parts; i++) {
      const t = i / (parts - 1);
      archipelago.push([starRing(rng, -81.75 + 1.25 * t, 24.56 + 0.45 * t * t, rng.logRange(0.05, 2), rng.int(8, 40), 0.35)]);
    }
    const bigLon = -162.6;
    const bigLat = 61.2;
    const hardFee: PlannedFeature[] = [
      hard('fee', a.region, CURVES.circle(a.xy[0], a.xy[1], rng.range(600, 2500)), 'curved (MultiSurface, CircularString circle)'),
      hard('fee', b.region, CURVES.stadiumWithHole(b.xy[0], b.xy[1], rng.range(800, 2000), rng.range(700, 1500), rng.range(150, 500)), 'curved (CompoundCurve ring with a circular hole)'),
      hard('fee', c.region, CURVES.halfDisc(c.xy[0], c.xy[1], rng.range(500, 1800), rng.range(300, 900)), 'curved multipart (CurvePolygon + Polygon in one MultiSurface)'),
      hard('fee', ak, aleutians(), 'multipart island chain crossing the antimeridian (179°E..179°W)', { mang: 'FWS', own: 'FWS', desTp: 'NWR', unit: 'Alaska Maritime National Wildlife Refuge' }),
      hard('fee', keys, { kind: 'lonlat', polygons: archipelago }, `multipart archipelago (${parts} parts)`, { mang: 'FWS', own: 'FWS', desTp: 'NWR' }),
      hard('fee', sq.region, albersRect(sq.xy[0], sq.xy[1], 50, 50, 0), 'smaller than an H3 res-10 cell (50 m square, 0.0025 km²)', { mang: 'CITY', own: 'CITY', desTp: 'LP' }),
      hard('fee', sl.region, albersRect(sl.xy[0], sl.xy[1], 2000, 5, rng.range(0, Math.PI)), 'sliver (5 m x 2 km)'),
      hard('fee', bt.region, bowTie(bt.xy[0], bt.xy[1], rng.range(0.8, 3)), 'invalid self-intersecting bow-tie'),
      hard('fee', rng.pick(LAND_REGIONS), { kind: 'none' }, 'NULL geometry'),
      // Large in vertices, moderate in area (200–300 km²): its cost in every stage is the vertex
      // count; a larger area would only multiply the zoom-14 tiles GDAL clips it into.
      hard('fee', ak, { kind: 'lonlat', polygons: [[starRing(rng, bigLon, bigLat, rng.range(200, 300), bigVertices, 0.55, 40, 4000)]] }, `very large polygon (${bigVertices} vertices, 200–300 km²)`, { mang: 'FWS', own: 'FWS', desTp: 'NWR', unit: 'Yukon Delta National Wildlife Refuge' }),
    ];
    fee.splice(0, fee.length, ...interleave(fee, hardFee));
  }
  // Hard cases in the other layers.
  {
    const e1 = anchor();
    const e2 = anchor();
    const e3 = anchor();
    const p1 = anchor();
    const d1 = anchor();
    const m = rng.pick(MARINE_REGIONS.filter((rg) => rg.state !== 'AK' && rg.state !== 'HI'));
    const [mlon, mlat] = pointIn(rng, m);
    const mxy = toAlbers(mlon, mlat);
    easement.splice(0, easement.length, ...interleave(easement, [
      hard('easement', e1.region, albersRect(e1.xy[0], e1.xy[1], 30, 30, rng.range(0, 1)), 'smaller than an H3 res-10 cell (30 m square)'),
      hard('easement', e2.region, CURVES.halfDisc(e2.xy[0], e2.xy[1], rng.range(300, 1200)), 'curved (half disc)'),
      hard('easement', e3.region, bowTie(e3.xy[0], e3.xy[1], rng.range(0.3, 1)), 'invalid self-intersecting bow-tie'),
    ]));
    proclamation.splice(0, proclamation.length, ...interleave(proclamation, [
      hard('proclamation', p1.region, CURVES.stadiumWithHole(p1.xy[0], p1.xy[1], rng.range(2000, 4000), rng.range(1500, 2500), rng.range(200, 600)), 'curved (CompoundCurve ring with a circular hole)'),
    ]));
    marine.splice(0, marine.length, ...interleave(marine, [
      hard('marine', m, CURVES.circle(mxy[0], mxy[1], rng.range(1000, 3500)), 'curved (circular marine area)'),
    ]));
    designation.splice(0, designation.length, ...interleave(designation, [
      hard('designation', ak, aleutians(), 'multipart island chain crossing the antimeridian (179°E..179°W)', { mang: 'FWS', desTp: 'WA', unit: 'Aleutian Islands Wilderness' }),
      hard('designation', d1.region, albersRect(d1.xy[0], d1.xy[1], 3000, 10, rng.range(0, Math.PI)), 'sliver (10 m x 3 km river corridor)', { desTp: 'WSR' }),
      hard('designation', rng.pick(LAND_REGIONS), { kind: 'none' }, 'NULL geometry'),
    ]));
  }
  return { layers: { fee, easement, proclamation, marine, designation } };
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/** Area of a (multi)polygon or collection; gdal-async types it only on the surface classes. */
const areaOf = (g: Geometry) => (g as unknown as { getArea(): number }).getArea();

function realize(shape: Shape, ct: CoordinateTransformation): Realized {
  switch (shape.kind) {
    case 'none':
      return { geometry: null, curveWkt: null, area: null, length: null, vertices: 0 };
    case 'curve':
      return { geometry: null, curveWkt: shape.wkt, area: shape.area, length: shape.length, vertices: shape.vertices };
    case 'lonlat':
    case 'albers': {
      const geometry = gdal.Geometry.fromWKT(shape.kind === 'lonlat' ? lonLatWkt(shape.polygons) : shape.wkt);
      if (shape.kind === 'lonlat') geometry.transform(ct);
      // The area of an invalid geometry (bow-tie) is that of its repaired form: both lobes count.
      const area = areaOf(geometry.isValid() ? geometry : geometry.makeValid());
      const length = (geometry.boundary() as unknown as { getLength(): number }).getLength();
      const vertices = shape.kind === 'lonlat'
        ? shape.polygons.reduce((s, rings) => s + rings.reduce((t, rg) => t + rg.length, 0), 0)
        : shape.wkt.split(',').length;
      return { geometry, curveWkt: null, area, length, vertices };
    }
  }
}

function fieldType(t: FieldSpec[1]): string {
  return t === 'integer' ? gdal.OFTInteger : t === 'real' ? gdal.OFTReal : gdal.OFTString;
}

function addFields(layer: Layer, fields: FieldSpec[]): void {
  for (const [name, type, width] of fields) {
    const def = new gdal.FieldDefn(name, fieldType(type));
    if (width) def.width = width;
    layer.fields.add(def);
  }
}

/** Only the attributes the layer has, NULLs left out (unset = NULL). */
function layerValues(attrs: Attrs, fields: FieldSpec[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [name] of fields) {
    const v = attrs[name];
    if (v !== null && v !== undefined) out[name] = v;
  }
  return out;
}

const csvCell = (v: string | number) => `"${String(v).replace(/"/g, '""')}"`;

let curveCounter = 0;

/**
 * Appends one curved feature: gdal-async cannot create curve geometries in JavaScript, so the
 * feature goes through a one-row in-memory CSV (WKT column + the non-NULL attributes) that
 * ogr2ogr (`vectorTranslate -append`) copies into the open geodatabase on the C++ side.
 */
async function appendCurve(ds: Dataset, layerName: string, wkt: string, values: Record<string, string | number>): Promise<void> {
  const cols = Object.keys(values);
  const csv = `WKT,${cols.join(',')}\n${[csvCell(wkt), ...cols.map((c) => csvCell(values[c]))].join(',')}\n`;
  const path = `/vsimem/cng-sample-curve-${process.pid}-${curveCounter++}.csv`;
  gdal.vsimem.set(Buffer.from(csv), path);
  try {
    const src = await gdal.openAsync(path);
    try {
      await gdal.vectorTranslateAsync(ds, src, ['-append', '-nln', layerName]);
    } finally {
      src.close();
    }
  } finally {
    gdal.vsimem.release(path);
  }
}

interface Written {
  attrs: Attrs;
  real: Realized;
}

async function writeLayer(ds: Dataset, name: string, fields: FieldSpec[], items: Written[], albers: SpatialReference): Promise<number> {
  const layer = await ds.layers.createAsync(name, albers, gdal.wkbMultiPolygon);
  addFields(layer, fields);
  let vertices = 0;
  for (const { attrs, real } of items) {
    const values = layerValues(attrs, fields);
    vertices += real.vertices;
    if (real.curveWkt) {
      await appendCurve(ds, name, real.curveWkt, values);
      continue;
    }
    const feature = new gdal.Feature(layer);
    feature.fields.set(values);
    if (real.geometry) feature.setGeometry(real.geometry);
    layer.features.add(feature);
  }
  return vertices;
}

function directorySize(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((s, f) => s + directorySize(join(path, f)), 0);
}

/** True for a directory that GDAL wrote as a File Geodatabase (or an empty one). */
function looksLikeFileGdb(path: string): boolean {
  if (!statSync(path).isDirectory()) return false;
  const entries = readdirSync(path);
  return entries.length === 0 || (entries.includes('gdb') && entries.includes('a00000001.gdbtable'));
}

function checkCount(name: string, value: number | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CommandError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/**
 * Writes the PAD-US-shaped sample geodatabase to `opts.out` and returns what it contains.
 *
 * Layers: the 6 PAD-US 4.1 spatial layers (MultiPolygon, ESRI:102039) and 8 lookup tables; Fee
 * gets `features` ordinary features plus the hard cases, the other layers proportional counts,
 * Combined the union of the other five. Same options → the same features, attributes and
 * geometries (the .gdb bytes may still differ: GDAL stores timestamps).
 *
 * @throws CommandError when `out` exists (without `force`, or when it is not a File Geodatabase),
 *   does not end in `.gdb`, or an option is out of range.
 */
export async function writePadusSample(opts: PadusSampleOptions): Promise<SampleSummary> {
  const started = Date.now();
  const features = checkCount('--features', opts.features, 1, 1_000_000) ?? PADUS_SAMPLE_DEFAULTS.features;
  const seed = checkCount('--seed', opts.seed, 0, 0xffffffff) ?? PADUS_SAMPLE_DEFAULTS.seed;
  const bigVertices = checkCount('--big-vertices', opts.bigVertices, 100, 10_000_000) ?? PADUS_SAMPLE_DEFAULTS.bigVertices;
  const log = opts.log ?? (() => {});
  const out = opts.out;
  if (!/\.gdb$/i.test(out)) throw new CommandError(`output must be a File Geodatabase path ending in .gdb, got '${out}'`);
  if (existsSync(out)) {
    if (!opts.force) throw new CommandError(`'${out}' already exists; pass --force to replace it`);
    if (!looksLikeFileGdb(out)) throw new CommandError(`refusing to replace '${out}': it is not a File Geodatabase directory`);
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(dirname(out), { recursive: true });

  const albers = gdal.SpatialReference.fromUserInput('ESRI:102039');
  const ct = new gdal.CoordinateTransformation(gdal.SpatialReference.fromUserInput('OGC:CRS83'), albers);
  const toAlbers = (lon: number, lat: number): [number, number] => {
    const p = ct.transformPoint(lon, lat);
    return [p.x, p.y];
  };

  log(`planning: seed ${seed}, ${features} ordinary Fee features, big polygon ${bigVertices} vertices`);
  const plan = planSample(new Rng(seed), features, bigVertices, toAlbers);

  const written: Record<SourceKey, Written[]> = { fee: [], easement: [], proclamation: [], marine: [], designation: [] };
  for (const key of Object.keys(plan.layers) as SourceKey[]) {
    for (const f of plan.layers[key]) {
      const real = realize(f.shape, ct);
      const attrs: Attrs = {
        ...f.attrs,
        GIS_Acres: real.area === null ? null : Math.round(real.area / SQ_M_PER_ACRE),
        SHAPE_Length: real.length,
        SHAPE_Area: real.area,
      };
      written[key].push({ attrs, real });
    }
  }
  const combined = COMBINED_ORDER.flatMap((k) => written[k]);

  const vertices: Record<string, number> = {};
  const ds = await gdal.openAsync(out, 'w', 'OpenFileGDB', 0, 0, 0);
  try {
    const order: LayerKey[] = ['fee', 'easement', 'proclamation', 'marine', 'designation', 'combined'];
    for (const key of order) {
      const name = PADUS_LAYER_NAMES[key];
      const items = key === 'combined' ? combined : written[key];
      log(`writing ${name}: ${items.length} features`);
      vertices[name] = await writeLayer(ds, name, LAYER_FIELDS[key], items, albers);
    }
    for (const [name, tableRows] of Object.entries(PADUS_LOOKUP_TABLES)) {
      log(`writing table ${name}: ${tableRows.length} rows`);
      const table = await ds.layers.createAsync(name, null, gdal.wkbNone);
      addFields(table, Object.keys(tableRows[0]).map((c) => [c, 'string', 254] as FieldSpec));
      for (const row of tableRows) {
        const feature = new gdal.Feature(table);
        feature.fields.set(Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)) as Record<string, string>);
        table.features.add(feature);
      }
    }
  } finally {
    ds.close();
  }

  // Counts come from the written file, not from the plan.
  const layers: Record<string, number> = {};
  const tables: Record<string, number> = {};
  const check = await gdal.openAsync(out);
  try {
    for (const layer of check.layers) {
      (layer.geomType === gdal.wkbNone ? tables : layers)[layer.name] = layer.features.count();
    }
  } finally {
    check.close();
  }
  return { out, seed, layers, tables, vertices, bytes: directorySize(out), seconds: (Date.now() - started) / 1000 };
}

/** Readable summary: one line per layer and table. */
export function formatSampleSummary(s: SampleSummary): string {
  const width = Math.max(...[...Object.keys(s.layers), ...Object.keys(s.tables)].map((n) => n.length)) + 2;
  const n = (v: number) => v.toLocaleString('en-US');
  const lines = [`wrote ${s.out} (${(s.bytes / 1e6).toFixed(1)} MB) in ${s.seconds.toFixed(1)} s, seed ${s.seed}`];
  for (const [name, count] of Object.entries(s.layers)) {
    lines.push(`  ${name.padEnd(width)}${n(count).padStart(8)} features ${n(s.vertices[name] ?? 0).padStart(10)} vertices`);
  }
  for (const [name, count] of Object.entries(s.tables)) lines.push(`  ${name.padEnd(width)}${n(count).padStart(8)} rows`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Command
// ---------------------------------------------------------------------------------------------

const SAMPLE_KINDS = ['padus'] as const;

function intOption(name: string, value: unknown): number | undefined {
  const s = str(value);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s)) throw new UsageError(`--${name} must be a non-negative integer, got '${s}'`);
  return Number(s);
}

export const sampleCommand: Command = {
  name: 'sample',
  summary: 'write a small synthetic source shaped like a real one (padus: a PAD-US 4.1 File Geodatabase)',
  help: `Usage: cng sample padus [--out PATH] [--features N] [--seed S] [--big-vertices V] [--force] [--json]

Write a deterministic File Geodatabase shaped like PAD-US 4.1, for running the
whole pipeline locally: the 6 spatial layers with their real names
(PADUS4_1Fee, PADUS4_1Easement, PADUS4_1Proclamation, PADUS4_1Marine,
PADUS4_1Designation, PADUS4_1Combined_Proclamation_Marine_Fee_Designation_Easement),
MultiPolygon in USA Contiguous Albers (ESRI:102039, also for Alaska and Hawaii),
the real field names and types, attribute codes drawn from the 8 lookup tables
(Public_Access, Category, Designation_Type, GAP_Status, IUCN_Category,
Agency_Name, Agency_Type, State_Name; 204 rows, written too).

Polygons (0.05-50 km², 8-200 vertices) spread over the conterminous US, Alaska
and Hawaii, plus the hard cases: curved geometries (MultiSurface with circular
arcs), multipart features, an Aleutian island chain crossing 180° as one
feature, features smaller than an H3 res-10 cell, thin slivers, a self-
intersecting bow-tie, NULL geometries and one polygon of --big-vertices
vertices. Hard cases say so in their Comments field. The same options always
give the same features; a different --seed gives different ones.

Options:
  --out PATH          Output .gdb directory (default ${PADUS_SAMPLE_DEFAULTS.out})
  --features N        Ordinary features in PADUS4_1Fee (default ${PADUS_SAMPLE_DEFAULTS.features}); Easement
                      gets 1.1×N, Proclamation and Designation N/10, Marine N/20,
                      Combined the sum of the other five
  --seed S            Seed of the random generator, 0-4294967295 (default ${PADUS_SAMPLE_DEFAULTS.seed})
  --big-vertices V    Vertices of the one very large polygon (default ${PADUS_SAMPLE_DEFAULTS.bigVertices})
  --force             Replace an existing File Geodatabase at PATH
  --json              Print the summary as JSON
  -h, --help          Show this help

Progress goes to stderr, the summary to stdout.
Exit status: 0 on success, 1 if PATH exists (without --force) or writing
fails, 2 on a usage error (e.g. an unknown sample kind).

Examples:
  cng sample padus
  cng sample padus --out /tmp/padus-small.gdb --features 40 --big-vertices 20000 --seed 7
`,
  options: {
    out: { type: 'string' },
    features: { type: 'string' },
    seed: { type: 'string' },
    'big-vertices': { type: 'string' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  positionals: true,
  async run({ values, positionals }) {
    const kinds = SAMPLE_KINDS.join(', ');
    if (positionals.length === 0) throw new UsageError(`missing sample kind; available: ${kinds}`);
    if (positionals.length > 1) throw new UsageError(`expected one sample kind, got ${positionals.length}: ${positionals.join(' ')}`);
    const kind = positionals[0];
    if (!(SAMPLE_KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown sample kind '${kind}'; available: ${kinds}`);
    const out = str(values.out) ?? PADUS_SAMPLE_DEFAULTS.out;
    if (!/\.gdb$/i.test(out)) throw new UsageError(`--out must end in .gdb (a File Geodatabase directory), got '${out}'`);
    const features = intOption('features', values.features);
    if (features === 0) throw new UsageError('--features must be at least 1');
    const seed = intOption('seed', values.seed);
    if (seed !== undefined && seed > 0xffffffff) throw new UsageError(`--seed must be at most 4294967295, got ${seed}`);
    const bigVertices = intOption('big-vertices', values['big-vertices']);
    if (bigVertices !== undefined && bigVertices < 100) throw new UsageError(`--big-vertices must be at least 100, got ${bigVertices}`);
    const summary = await writePadusSample({
      out, features, seed, bigVertices, force: Boolean(values.force),
      log: (line) => process.stderr.write(`cng sample: ${line}\n`),
    });
    process.stdout.write(values.json ? JSON.stringify(summary, null, 2) + '\n' : formatSampleSummary(summary));
    return EXIT.ok;
  },
};
