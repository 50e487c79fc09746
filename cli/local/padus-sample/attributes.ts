import { readFileSync } from 'node:fs';
import { placeName, type Region, type Rng } from './shapes.ts';

/**
 * The 6 spatial layers of the PAD-US-shaped sample: their real PAD-US 4.1 names, fields (names and
 * types from padus-4-1.md; string widths are plausible values, not verified against the real
 * geodatabase, nor is the position of the easement fields) and feature classes.
 */

/** The real PAD-US 4.1 layer names, by feature class. */
export const PADUS_LAYER_NAMES = {
  fee: 'PADUS4_1Fee',
  easement: 'PADUS4_1Easement',
  proclamation: 'PADUS4_1Proclamation',
  marine: 'PADUS4_1Marine',
  designation: 'PADUS4_1Designation',
  combined: 'PADUS4_1Combined_Proclamation_Marine_Fee_Designation_Easement',
} as const;

export type LayerKey = keyof typeof PADUS_LAYER_NAMES;
/** The layers features are drawn for; Combined is their union. */
export type SourceKey = Exclude<LayerKey, 'combined'>;

/** The order the spatial layers are written in. */
export const LAYER_ORDER: LayerKey[] = ['fee', 'easement', 'proclamation', 'marine', 'designation', 'combined'];

export type FieldSpec = [name: string, type: 'string' | 'integer' | 'real', width?: number];

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

/** The fields of each spatial layer, in order. */
export const LAYER_FIELDS: Record<LayerKey, FieldSpec[]> = {
  fee: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  easement: [...COMMON_FIELDS, ...HOLDER_FIELDS, ...TERM_FIELDS, ...SHAPE_FIELDS],
  proclamation: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  marine: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  designation: [...COMMON_FIELDS, ...SHAPE_FIELDS],
  combined: [...COMMON_FIELDS, ...TERM_FIELDS, ...SHAPE_FIELDS],
};

/** The FeatClass attribute of each source layer's features. */
export const FEAT_CLASS: Record<SourceKey, string> = {
  fee: 'Fee', easement: 'Easement', proclamation: 'Proclamation', marine: 'Marine', designation: 'Designation',
};

/** Order of the source layers inside Combined, as its name says. */
export const COMBINED_ORDER: SourceKey[] = ['proclamation', 'marine', 'fee', 'designation', 'easement'];

/**
 * PAD-US 4.1's 8 lookup tables (the non-spatial layers, 204 rows: 4, 7, 63, 4, 10, 44, 11, 61 as in
 * the project's PAD-US 4.1 reference notes), read from lookup-tables.json beside this file. Codes,
 * descriptions, Old_Code and St_FIPS values are those of PAD-US 4.1's tables as listed in a public
 * summary of their Parquet exports; that listing has all 63 Designation_Type and 44 Agency_Name
 * rows but only 60 of the 61 State_Name rows, so one State_Name row (code 'ZZ', used by no
 * feature) is a clearly-labelled placeholder that keeps the count right.
 */

/** A table row: column name → value (NULL where the table has none). */
export type Row = Record<string, string | null>;

interface TableData {
  columns: string[];
  rows: (string | null)[][];
}

const DATA: Record<string, TableData> = JSON.parse(readFileSync(new URL('./lookup-tables.json', import.meta.url), 'utf8'));

/** The 8 lookup tables in the order they are written, with their rows. */
export const PADUS_LOOKUP_TABLES: Record<string, Row[]> = Object.fromEntries(
  Object.entries(DATA).map(([name, { columns, rows }]) => [
    name,
    rows.map((values) => Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null]))),
  ]),
);

/** Agency_Name codes by their Agency_Type (what kind of agency each is). */
const AGENCIES_BY_TYPE: Record<string, string[]> = {
  FED: ['ARS', 'BIA', 'BLM', 'BOEM', 'BPA', 'DOD', 'DOE', 'FWS', 'NOAA', 'NPS', 'NRCS', 'OTHF', 'TVA', 'USACE', 'USBR', 'USFS'],
  STAT: ['OTHS', 'SDC', 'SDNR', 'SDOL', 'SFW', 'SLB', 'SPR'],
  TERR: ['AS', 'FM', 'GU', 'MH', 'MP', 'PR', 'PW', 'UM', 'VI'],
  LOC: ['CITY', 'CNTY', 'UNKL'],
  DIST: ['REG', 'RWD'],
  UNK: ['OTHR', 'UNK'],
  DESG: ['DESG'], JNT: ['JNT'], NGO: ['NGO'], PVT: ['PVT'], TRIB: ['TRIB'],
};

/** Agency_Name code → its Agency_Type code. */
export const AGENCY_TYPE_OF: Record<string, string> = Object.fromEntries(
  Object.entries(AGENCIES_BY_TYPE).flatMap(([type, codes]) => codes.map((code) => [code, type])),
);

/** Agency_Name code → its description. */
export const AGENCY_DOM: Record<string, string> = Object.fromEntries(
  PADUS_LOOKUP_TABLES.Agency_Name.map((row) => [row.Code!, row.Dom!]),
);

/** Designation_Type code → its description. */
export function designationDom(code: string): string | null {
  return PADUS_LOOKUP_TABLES.Designation_Type.find((d) => d.Code === code)?.Dom ?? null;
}

/**
 * The sample's attribute rows: codes drawn so that they join the lookup tables (manager and owner
 * agencies, designation types, GAP status, IUCN category, public access) and plausible names,
 * sources and dates around them, per feature class.
 */

/** A feature's attribute values by field name (NULL = unset). */
export type Attrs = Record<string, string | number | null>;

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

/** The unit name a designation type gives a place ('Cedar Creek National Park'). */
function unitName(rng: Rng, desTp: string, place = placeName(rng)): string {
  return (NAME_PATTERN[desTp] ?? '{}').replace('{}', place);
}

/** A local owner's or manager's name, for some agency types and some features. */
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

/** What a feature's attributes are drawn from; the codes given are kept, the others drawn. */
export interface AttrInput {
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

/** The agency and designation codes of a feature (those not given), with its class's extra fields. */
function drawCodes(rng: Rng, input: AttrInput, place: string): { mang: string; own: string; desTp: string; extra: Attrs } {
  const { cls } = input;
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
  return { mang: mang!, own: own!, desTp: desTp!, extra };
}

/** Draws a full attribute row consistent with the lookup tables (codes that join). */
export function drawAttributes(rng: Rng, input: AttrInput): Attrs {
  const { cls, region } = input;
  const place = placeName(rng);
  const { mang, own, desTp, extra } = drawCodes(rng, input, place);
  const mangType = AGENCY_TYPE_OF[mang];
  const ownType = AGENCY_TYPE_OF[own];
  let gap = GAP_BY_DESIGNATION[desTp] ?? 4;
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
    Own_Name: own,
    Loc_Own: localName(rng, ownType, place),
    Mang_Type: mangType,
    Mang_Name: mang,
    Loc_Mang: localName(rng, mangType, place),
    Des_Tp: desTp,
    Loc_Ds: rng.chance(0.4) ? designationDom(desTp) : null,
    Unit_Nm: input.unit ?? unitName(rng, desTp, place),
    Loc_Nm: rng.chance(0.3) ? place : null,
    State_Nm: region.state,
    Agg_Src: aggSrc,
    GIS_Src: `${AGENCY_DOM[mang]} GIS data ${year()}`,
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
