/**
 * PAD-US 4.1's 8 lookup tables (the non-spatial layers, 204 rows: 4, 7, 63, 4, 10, 44, 11, 61 as in
 * the project's PAD-US 4.1 reference notes), read from lookup-tables.json beside this file. Codes,
 * descriptions, Old_Code and St_FIPS values are those of PAD-US 4.1's tables as listed in a public
 * summary of their Parquet exports; that listing has all 63 Designation_Type and 44 Agency_Name
 * rows but only 60 of the 61 State_Name rows, so one State_Name row (code 'ZZ', used by no
 * feature) is a clearly-labelled placeholder that keeps the count right.
 */
import { readFileSync } from 'node:fs';

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
