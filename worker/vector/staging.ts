import { type DuckDBAppender, type DuckDBConnection, DuckDBDateValue, DuckDBTimestampValue, DuckDBTimeValue } from '@duckdb/node-api';
import type { Layer } from 'gdal-async';
import { CommandError } from '../core/errors.ts';
import { Progress } from '../core/log.ts';
import { oneLine, sqlIdent } from '../core/text.ts';
import { lonLatHilbert } from '../io/geoparquet.ts';
import { FeatureTally, type NormalizedGeometry, normalizeGeometry } from './geometry.ts';
import { streamTemp } from './gdal-pass.ts';

/**
 * The columns of a layer as the vector stages write them, and the values GDAL's pass delivers,
 * appended to DuckDB in each column's own type.
 * - Names: DuckDB and most Parquet readers ignore case, so a name equal (case-folded) to an
 *   earlier one, or to a column the stage itself writes, becomes `<name>_2` (`_3`, … skipping
 *   names the layer has), reported.
 * - Types: integer → INTEGER, integer64 → BIGINT, real → DOUBLE, string → VARCHAR, date → DATE,
 *   datetime → TIMESTAMP (values with a UTC offset converted to UTC, others kept as written),
 *   time → TIME, binary → BLOB, list types → VARCHAR (GeoJSON arrays as JSON text, other lists
 *   in GDAL's "(n:a,b)" form). 64-bit integers, dates and times arrive as GDAL's text form.
 */

/** How a GDAL field type is read and stored. */
type Kind = 'integer' | 'integer64' | 'real' | 'string' | 'date' | 'time' | 'datetime' | 'binary' | 'list';

const SQL_TYPES: Record<Kind, string> = {
  integer: 'INTEGER', integer64: 'BIGINT', real: 'DOUBLE', string: 'VARCHAR', date: 'DATE', time: 'TIME',
  datetime: 'TIMESTAMP', binary: 'BLOB', list: 'VARCHAR',
};

export interface Column {
  /** Output name (the source name, or `<name>_<k>` when taken). */
  name: string;
  /** Name in the source. */
  source: string;
  /** Field index in the source (and in the temporary file). */
  index: number;
  ogrType: string;
  kind: Kind;
  sqlType: string;
  append(appender: DuckDBAppender, value: unknown): void;
}

function kindOf(ogrType: string): Kind {
  switch (ogrType) {
    case 'integer': return 'integer';
    case 'integer64': return 'integer64';
    case 'real': return 'real';
    case 'string': case 'wideString': return 'string';
    case 'date': return 'date';
    case 'time': return 'time';
    case 'dateTime': return 'datetime';
    case 'binary': return 'binary';
    default: return 'list';
  }
}

/** DuckDB type of a GDAL field type (`FieldDefn.type`, e.g. 'integer64' → 'BIGINT'). */
export function duckdbTypeOf(ogrType: string): string {
  return SQL_TYPES[kindOf(ogrType)];
}

/**
 * Output columns of a layer's fields: names made unique case-insensitively (and distinct from
 * `reserved`) by appending `_2`, `_3`, …, each rename reported through `report`.
 */
export function planColumns(layer: Layer, reserved: string[], report: (msg: string) => void): Column[] {
  const fields = layer.fields.map((f) => ({ name: f.name, type: f.type }));
  // Names that stay: reserved ones and the first field of each case-folded name.
  const owner = new Map<string, string>(reserved.map((r) => [r.toLowerCase(), r]));
  const keeps = fields.map((f) => {
    const key = f.name.toLowerCase();
    if (owner.has(key)) return false;
    owner.set(key, f.name);
    return true;
  });
  const taken = new Set([...owner.keys()]);
  return fields.map((f, index) => {
    let name = f.name;
    if (!keeps[index]) {
      let k = 2;
      while (taken.has(`${f.name}_${k}`.toLowerCase())) k++;
      name = `${f.name}_${k}`;
      taken.add(name.toLowerCase());
      const clash = owner.get(f.name.toLowerCase())!;
      report(reserved.includes(clash)
        ? `column '${f.name}' renamed to '${name}' ('${clash}' is a column this stage writes)`
        : `column '${f.name}' renamed to '${name}' (same name as '${clash}' for DuckDB and Parquet readers, which ignore case)`);
    }
    const kind = kindOf(f.type);
    return { name, source: f.name, index, ogrType: f.type, kind, sqlType: SQL_TYPES[kind], append: appenderFor(kind, name) };
  });
}

/**
 * A string value with bytes that were not valid UTF-8 (GDAL passes a shapefile's bytes through
 * when its .cpg is missing or wrong; they arrive as U+FFFD).
 */
class NotUtf8 extends CommandError {
  constructor(readonly column: string, readonly value: string) {
    super(`column '${column}' has text that is not valid UTF-8: '${oneLine(value, 80)}'`);
  }
}

/** The one-line error for {@link NotUtf8} in feature `seq` of `where`, with the fix. */
function notUtf8Error(e: NotUtf8, seq: number, where: string): CommandError {
  return new CommandError(
    `${where}: column '${e.column}' has text that is not valid UTF-8 (feature ${seq}: '${oneLine(e.value, 80)}'): the source is in a legacy encoding; declare encoding: 'ISO-8859-1' (or the right one) for this layer (cng-worker convert --encoding)`,
  );
}

function appenderFor(kind: Kind, column: string): Column['append'] {
  /** GDAL's text form of a value, parsed: null stays null, text that does not parse is an error. */
  const fromText = <T>(parse: (s: string) => T | null, append: (a: DuckDBAppender, value: T) => void): Column['append'] =>
    (a, v) => {
      if (v === null || v === undefined) return a.appendNull();
      const parsed = parse(String(v));
      if (parsed === null) throw new CommandError(`column '${column}': cannot read value '${String(v)}' as ${kind}`);
      append(a, parsed);
    };
  switch (kind) {
    case 'integer':
      return (a, v) => (v === null || v === undefined ? a.appendNull() : a.appendInteger(v as number));
    case 'integer64':
      return (a, v) => (v === null || v === undefined ? a.appendNull() : a.appendBigInt(BigInt(v as string)));
    case 'real':
      return (a, v) => (v === null || v === undefined ? a.appendNull() : a.appendDouble(v as number));
    case 'string':
      return (a, v) => {
        if (v === null || v === undefined) return a.appendNull();
        const text = typeof v === 'string' ? v : JSON.stringify(v);
        if (text.includes('\uFFFD')) throw new NotUtf8(column, text);
        a.appendVarchar(text);
      };
    case 'list':
      return (a, v) => (v === null || v === undefined ? a.appendNull() : a.appendVarchar(typeof v === 'string' ? v : JSON.stringify(v)));
    case 'binary':
      return (a, v) => (v === null ? a.appendNull() : a.appendBlob(v === undefined ? new Uint8Array() : (v as Uint8Array)));
    case 'date':
      return fromText(parseOgrDateTime, (a, d) => a.appendDate(new DuckDBDateValue(d.days)));
    case 'time':
      return fromText(parseOgrTime, (a, t) => a.appendTime(new DuckDBTimeValue(t)));
    case 'datetime':
      return fromText(parseOgrDateTime, (a, d) => a.appendTimestamp(new DuckDBTimestampValue(d.micros)));
  }
}

/** Days from 1970-01-01 of a proleptic Gregorian date (any year). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Parses GDAL's text form of a date or datetime ('2020/01/02', '2020/01/02 03:04:05.678+01',
 * '…-0330'; '-' separators accepted too). A UTC offset converts the time to UTC; without one
 * the time is kept as written. Returns days (of the date part) and microseconds since epoch.
 */
export function parseOgrDateTime(s: string): { days: number; micros: bigint } | null {
  const m = /^\s*(-?\d{1,6})[/-](\d{1,2})[/-](\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$/.exec(s);
  if (!m) return null;
  const days = daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3]));
  const frac = m[7] ? BigInt((m[7] + '000000').slice(0, 6)) : 0n;
  let secs = BigInt(days) * 86400n + BigInt(Number(m[4] ?? 0) * 3600 + Number(m[5] ?? 0) * 60 + Number(m[6] ?? 0));
  if (m[8] && m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    const digits = m[8].slice(1).replace(':', '');
    const offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0));
    secs -= BigInt(offset * 60);
  }
  return { days, micros: secs * 1_000_000n + frac };
}

/** Parses GDAL's text form of a time ('03:04:05', '03:04:05.678') into microseconds. */
export function parseOgrTime(s: string): bigint | null {
  const m = /^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?/.exec(s);
  if (!m) return null;
  const frac = m[4] ? BigInt((m[4] + '000000').slice(0, 6)) : 0n;
  return BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0)) * 1_000_000n + frac;
}

/**
 * The DuckDB staging table of the convert and table stages: one row per feature in source order
 * (`__cng_seq`), its attributes in their own types and, for a spatial layer, the normalized
 * geometry with its bbox and Hilbert key. Filled through the appender while GDAL's pass is still
 * writing (spilling to $TMPDIR under the pod's memory limit); nothing is kept in JavaScript memory
 * but what the {@link FeatureTally} keeps.
 */

/** Internal columns of the staging table (reserved: attributes with these names are renamed). */
export const SEQ = '__cng_seq';
export const WKB = '__cng_wkb';
export const BB = ['__cng_xmin', '__cng_ymin', '__cng_xmax', '__cng_ymax'] as const;
export const HILBERT = '__cng_hilbert';

/** Creates `staging`: the sequence number, the attribute columns and (`spatial`) the geometry columns. */
export async function createStaging(db: DuckDBConnection, columns: Column[], spatial: boolean): Promise<void> {
  const geometry = spatial ? [`${sqlIdent(WKB)} BLOB`, ...BB.map((b) => `${sqlIdent(b)} DOUBLE`), `${sqlIdent(HILBERT)} UINTEGER`] : [];
  await db.run(`CREATE TABLE staging (${[`${sqlIdent(SEQ)} BIGINT`, ...columns.map((c) => `${sqlIdent(c.name)} ${c.sqlType}`), ...geometry].join(', ')})`);
}

/**
 * Runs the GDAL pass (`pass`, writing `tmpPath`) and appends every feature it writes to
 * `staging`: attributes, normalized geometry, bbox and Hilbert key; counts and plan estimates go
 * to the returned tally. Ids come from `idCol` when given (non-null, within ±2^53), else from the
 * position in the source.
 */
export async function loadFeatures(
  db: DuckDBConnection, tmpPath: string, pass: () => Promise<void>, columns: Column[], idCol: Column | undefined, total: number,
  resolution: number, where: string, layerDim?: 0 | 1 | 2,
): Promise<FeatureTally> {
  const appender = await db.createAppender('staging');
  const tally = new FeatureTally(resolution);
  let seq = 0;
  const progress = new Progress('convert', 'features', total);
  try {
    await streamTemp(tmpPath, pass, columns.length, (f) => {
      seq++;
      const values = f.fields.toArray();
      let fid = seq;
      if (idCol) {
        const v = values[idCol.index];
        if (v === null || v === undefined) throw new CommandError(`--id-column '${idCol.source}' of ${where} is null in feature ${seq}`);
        fid = Number(v);
        if (!Number.isSafeInteger(fid)) throw new CommandError(`--id-column '${idCol.source}' of ${where}: value ${v} is beyond ±2^53`);
      }
      appender.appendBigInt(BigInt(seq));
      try {
        for (const c of columns) c.append(appender, values[c.index]);
      } catch (e) {
        throw e instanceof NotUtf8 ? notUtf8Error(e, seq, where) : e;
      }
      const g = normalizeGeometry(f.getGeometry(), layerDim);
      tally.add(fid, g, seq);
      appendGeometry(appender, g);
      appender.endRow();
      if ((seq & 1023) === 0) progress.update(seq);
    });
    progress.done(seq);
  } finally {
    appender.closeSync();
  }
  return tally;
}

/** The geometry columns of one row: WKB, bbox and Hilbert key of the bbox centre (all NULL for no geometry). */
function appendGeometry(appender: DuckDBAppender, g: NormalizedGeometry): void {
  if (g.wkb === null || g.info === null) {
    for (let i = 0; i < 6; i++) appender.appendNull();
    return;
  }
  const i = g.info;
  appender.appendBlob(g.wkb);
  appender.appendDouble(i.xmin);
  appender.appendDouble(i.ymin);
  appender.appendDouble(i.xmax);
  appender.appendDouble(i.ymax);
  appender.appendUInteger(lonLatHilbert((i.xmin + i.xmax) / 2, (i.ymin + i.ymax) / 2));
}

/** @throws CommandError naming up to 5 values of `column` that occur more than once in `staging`. */
export async function checkUniqueIds(db: DuckDBConnection, column: string, given: string, where: string): Promise<void> {
  const dups = (
    await db.runAndReadAll(`SELECT ${sqlIdent(column)}, count(*) FROM staging GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 5`)
  ).getRows();
  if (dups.length)
    throw new CommandError(`--id-column '${given}' of ${where} is not unique: ${dups.map(([v, n]) => `${v} (${n}×)`).join(', ')}`);
}
