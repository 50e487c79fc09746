import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { getResolution, isValidCell } from 'h3-js';
import { CommandError } from '../core/errors.ts';
import { openDuckDB } from '../core/limits.ts';
import { log } from '../core/log.ts';
import { plural, sqlIdent, sqlString } from '../core/text.ts';
import { parentSql } from '../geo/h3/hierarchy.ts';
import { joinUrl, Storage } from '../io/storage.ts';
import { unitName } from '../io/layer-work.ts';
import { workUnitIndex, type RawOptions } from '../stage.ts';
import { hexParents, reencodeStageDef } from './stages.ts';

/**
 * `reencode`: one work unit of an earlier product's hex Parquet (STRING H3 cells, odd column
 * names, hive `h0=<string>` directories or plain files) → UBIGINT cells in chunks by h0, like the
 * hex stage's. reencode-merge sorts them into partitions, reencode-publish checks the counts and
 * publishes (reencode-publish.ts). Memory and disk per pod follow one unit's files.
 */

/** At most this many examples of invalid cells and h0 mismatches are kept (reports, manifest). */
const SAMPLES = 20;

/** `<work>/chunks/_units/unit-N.json`: what one reencode unit read and wrote. */
export interface ReencodeUnitReport {
  version: 1;
  index: number;
  /** The input files this unit read (URLs, in listing order). */
  files: string[];
  /** Input rows. */
  rows_in: number;
  /** Cell values: rows, or list elements (a NULL or empty list counts as one missing cell). */
  cells_in: number;
  rows_out: number;
  invalid_cells: Counted<{ file: string; row: number; value: string | null; reason: string }>;
  h0_mismatches: Counted<{ file: string; row: number; cell: string; h0_in: string; h0: string }>;
  dropped_columns: string[];
  columns: string[];
  /** Rows and chunk files written per h0 cell (decimal, as in `h0=<cell>`). */
  h0: Record<string, { rows: number; chunks: string[] }>;
}

export interface Counted<T> {
  rows: number;
  samples: T[];
}

export type ReencodeOptions = ReturnType<typeof reencodeStageDef.parse>;

/** Where the reencode stages hand each other their files. */
export const reencodePaths = (work: string) => ({
  chunks: joinUrl(work, 'chunks'),
  report: (i: number) => joinUrl(work, 'chunks', '_units', `${unitName(i)}.json`),
  hex: joinUrl(work, 'hex'),
  mergeReport: (i: number) => joinUrl(work, 'merge', `${unitName(i)}.json`),
});

/** Every input .parquet file of `from` (prefixes listed, files stat'ed), sorted by URL. */
export async function inputFiles(storage: Storage, from: string[]): Promise<{ url: string; size: number }[]> {
  const out: { url: string; size: number }[] = [];
  for (const f of from) {
    if (/\.parquet$/i.test(f)) {
      const s = await storage.stat(f);
      if (!s) throw new CommandError(`no input file '${f}'`);
      out.push({ url: f, size: s.size });
      continue;
    }
    const found = (await storage.list(f)).filter((o) => /\.parquet$/i.test(o.url) && !/(^|\/)_work\//.test(o.url.slice(f.length)));
    if (!found.length) throw new CommandError(`no .parquet files under '${f}'`);
    out.push(...found.map((o) => ({ url: o.url, size: o.size })));
  }
  return [...new Map(out.map((o) => [o.url, o])).values()].sort((a, b) => (a.url < b.url ? -1 : 1));
}

/** Items shared among `units` by weight: largest first to the least-loaded unit (ties: lowest index), the same in every pod. */
export function shareByWeight<T>(items: T[], weight: (t: T) => number, units: number, key: (t: T) => string): T[][] {
  const groups: T[][] = Array.from({ length: units }, () => []);
  const load = new Array<number>(units).fill(0);
  const sorted = [...items].sort((a, b) => weight(b) - weight(a) || (key(a) < key(b) ? -1 : 1));
  for (const it of sorted) {
    const g = load.indexOf(Math.min(...load));
    groups[g].push(it);
    load[g] += weight(it) || 1;
  }
  return groups.map((g) => g.sort((a, b) => (key(a) < key(b) ? -1 : 1)));
}

/** `A=B` pairs of a list option. */
export function pairs(items: string[], flagName: string): [string, string][] {
  return items.map((s) => {
    const i = s.indexOf('=');
    if (i <= 0 || i === s.length - 1) throw new CommandError(`--${flagName}: '${s}' is not NAME=VALUE`);
    return [s.slice(0, i), s.slice(i + 1)];
  });
}

export async function reencodeStage(opts: RawOptions, env: NodeJS.ProcessEnv = process.env): Promise<ReencodeUnitReport> {
  const o = reencodeStageDef.parse(opts);
  const storage = new Storage(env);
  const index = o.index ?? workUnitIndex(env);
  if (index >= o.units) throw new CommandError(`reencode unit ${index} does not exist: --units is ${o.units} (0–${o.units - 1})`);
  const all = await inputFiles(storage, o.from);
  const mine = shareByWeight(all, (f) => f.size, o.units, (f) => f.url)[index];
  const paths = reencodePaths(o.work);
  const work = await mkdtemp(join(env.TMPDIR ?? tmpdir(), 'cng-reencode-'));
  const db = await openDuckDB({ share: 0.6 });
  try {
    // Files are numbered in the whole listing: (cell, file, row) orders every row of the product.
    const report = await reencodeFiles(db, storage, o, index, mine.map((f) => ({ url: f.url, number: all.indexOf(f) })), work);
    await storage.writeText(paths.report(index), JSON.stringify(report, null, 2) + '\n');
    log(
      'reencode',
      `unit ${index}/${o.units}: ${plural(mine.length, 'file')}, ${report.rows_in} rows, ${report.cells_in} cells in → ${report.rows_out} rows in ${Object.keys(report.h0).length} h0 cells` +
        `; ${report.invalid_cells.rows} invalid, ${report.h0_mismatches.rows} h0 mismatches`,
    );
    return report;
  } finally {
    db.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}

const emptyReport = (index: number, files: string[]): ReencodeUnitReport => ({
  version: 1, index, files, rows_in: 0, cells_in: 0, rows_out: 0,
  invalid_cells: { rows: 0, samples: [] }, h0_mismatches: { rows: 0, samples: [] }, dropped_columns: [], columns: [], h0: {},
});

/** The unit's files: downloaded, validated, converted and written as chunks by h0; returns the report (not yet written). */
async function reencodeFiles(db: DuckDBConnection, storage: Storage, o: ReencodeOptions, index: number, mine: { url: string; number: number }[], work: string): Promise<ReencodeUnitReport> {
  const files = mine.map((f) => f.url);
  const report = emptyReport(index, files);
  if (!files.length) return report;
  const local = files.map((_, i) => join(work, `in-${i}.parquet`));
  await Promise.all(files.map((f, i) => storage.download(f, local[i])));
  const pathH0 = (url: string) => /(?:^|\/)h0=([^/]+)\//.exec(url)?.[1] ?? null;
  await db.run(`CREATE TABLE files (fname VARCHAR, idx INTEGER, url VARCHAR, path_h0 VARCHAR)`);
  for (const [i, f] of files.entries())
    await db.run(`INSERT INTO files VALUES (${sqlString(local[i])}, ${mine[i].number}, ${sqlString(f)}, ${pathH0(f) === null ? 'NULL' : sqlString(pathH0(f)!)})`);
  await db.run(`CREATE VIEW raw AS SELECT * FROM read_parquet([${local.map(sqlString).join(', ')}], union_by_name = true, filename = '__cng_file', file_row_number = true, hive_partitioning = false)`);
  const types = new Map((await db.runAndReadAll('DESCRIBE raw')).getRows().map((r) => [String(r[0]), String(r[1])]));
  const { select, dropped, columns, inputH0 } = attributeColumns(o, types);
  report.dropped_columns = dropped;
  report.columns = columns;
  const cellType = types.get(o.cellColumn)!;
  const value = o.list ? `UNNEST(CASE WHEN len(r.${sqlIdent(o.cellColumn)}) > 0 THEN r.${sqlIdent(o.cellColumn)} ELSE [NULL] END)` : `r.${sqlIdent(o.cellColumn)}`;
  const isInteger = /INT/.test(cellType);
  await db.run(
    `CREATE TABLE e AS SELECT *, TRY_CAST('0x' || __s AS UBIGINT) AS __cell FROM (
       SELECT ${select.length ? `${select.join(', ')}, ` : ''}f.idx AS __file, r.file_row_number AS __row, ${inputH0 ? `CAST(r.h0 AS VARCHAR)` : 'f.path_h0'} AS __h0_in,
              ${isInteger ? 'lower(hex(CAST(__v AS UBIGINT)))' : 'lower(trim(CAST(__v AS VARCHAR)))'} AS __s, CAST(__v AS VARCHAR) AS __raw
       FROM (SELECT r.*, ${value} AS __v FROM raw r) r JOIN files f ON r.__cng_file = f.fname)`,
  );
  [report.rows_in] = (await db.runAndReadAll(`SELECT count(*) FROM raw`)).getRows()[0].map(Number);
  [report.cells_in] = (await db.runAndReadAll(`SELECT count(*) FROM e`)).getRows()[0].map(Number);
  await validateCells(db, o.resolution);
  const sample = (sql: string) => db.runAndReadAll(sql).then((r) => r.getRowObjectsJson() as Record<string, any>[]);
  const invalid = `FROM e LEFT JOIN bad USING (__s) WHERE e.__s IS NULL OR e.__s = '' OR bad.reason IS NOT NULL`;
  report.invalid_cells = {
    rows: Number((await db.runAndReadAll(`SELECT count(*) ${invalid}`)).getRows()[0][0]),
    samples: (await sample(`SELECT f.url AS file, __row AS row, __raw AS value, coalesce(bad.reason, 'no cell') AS reason ${invalid.replace('FROM e', 'FROM e JOIN files f ON f.idx = e.__file')} ORDER BY __file, __row LIMIT ${SAMPLES}`)).map((r) => ({
      file: r.file, row: Number(r.row), value: r.value ?? null, reason: r.reason,
    })),
  };
  if (report.invalid_cells.rows && o.invalid === 'fail') {
    const s = report.invalid_cells.samples.slice(0, 3).map((x) => `${x.value === null ? 'NULL' : `'${x.value}'`} (${x.reason}) in '${x.file}' row ${x.row}`);
    throw new CommandError(
      `reencode unit ${index}: ${plural(report.invalid_cells.rows, 'invalid cell')} in ${o.cellColumn}: ${s.join('; ')}; fix the input, or set invalidCells: 'report' ` +
        `to leave them out, counted in manifest.json (cng-worker reencode --invalid report); nothing was written`,
    );
  }
  const h0 = parentSql('__cell', 0);
  await db.run(`CREATE TABLE ok AS SELECT e.*, ${h0} AS h0 FROM e WHERE __s <> '' AND __s NOT IN (SELECT __s FROM bad)`);
  const h0In = `CASE WHEN regexp_full_match(trim(__h0_in), '[0-9]+') THEN TRY_CAST(trim(__h0_in) AS UBIGINT) ELSE TRY_CAST('0x' || trim(__h0_in) AS UBIGINT) END`;
  const mismatch = `FROM ok JOIN files f ON f.idx = ok.__file WHERE __h0_in IS NOT NULL AND (${h0In}) IS DISTINCT FROM h0`;
  report.h0_mismatches = {
    rows: Number((await db.runAndReadAll(`SELECT count(*) ${mismatch}`)).getRows()[0][0]),
    samples: (await sample(`SELECT f.url AS file, __row AS row, __s AS cell, __h0_in AS h0_in, lower(hex(h0)) AS h0 ${mismatch} ORDER BY __file, __row LIMIT ${SAMPLES}`)).map((r) => ({
      file: r.file, row: Number(r.row), cell: r.cell, h0_in: r.h0_in, h0: r.h0,
    })),
  };
  const cells = [`__cell AS ${sqlIdent(`h${o.resolution}`)}`, ...hexParents(o.parents, o.resolution).map((p) => `${parentSql('__cell', p)} AS ${sqlIdent(`h${p}`)}`)];
  const out = join(work, 'chunks');
  await db.run(
    `COPY (SELECT ${[...columns.map(sqlIdent), ...cells].join(', ')}, __file, __row, h0 FROM ok) TO ${sqlString(out)} (FORMAT parquet, PARTITION_BY (h0), COMPRESSION zstd)`,
  );
  const counts = new Map((await db.runAndReadAll(`SELECT CAST(h0 AS VARCHAR), count(*) FROM ok GROUP BY 1`)).getRows().map((r) => [String(r[0]), Number(r[1])]));
  for (const [cell, rows] of [...counts].sort()) {
    const written = (await readdir(join(out, `h0=${cell}`))).filter((n) => n.endsWith('.parquet')).sort();
    const chunks = written.map((_, k) => `${unitName(index)}-${k}.parquet`);
    await Promise.all(written.map((n, k) => storage.upload(join(out, `h0=${cell}`, n), joinUrl(o.work, 'chunks', `h0=${cell}`, chunks[k]))));
    report.h0[cell] = { rows, chunks };
    report.rows_out += rows;
  }
  return report;
}

/**
 * The attributes to carry over, as SELECT expressions on `raw r`: every input column except the
 * cell column, the input's h0 and coarser `h<N>` columns (recomputed from the cell), renamed and
 * divided as asked. @throws CommandError for a column the options name that the input lacks.
 */
function attributeColumns(o: ReencodeOptions, types: Map<string, string>) {
  const have = [...types.keys()].filter((c) => c !== '__cng_file' && c !== 'file_row_number');
  const named = (c: string, what: string) => {
    if (!types.has(c)) throw new CommandError(`${what} '${c}' is not a column of the input (columns: ${have.join(', ')})`);
  };
  named(o.cellColumn, '--cell-column');
  if (o.list !== /\[\]$/.test(types.get(o.cellColumn)!))
    throw new CommandError(`--cell-column '${o.cellColumn}' is ${types.get(o.cellColumn)}: ${o.list ? 'not a list (leave out list)' : 'a list of cells (declare list: true)'}`);
  const rename = new Map(pairs(o.rename, 'rename'));
  for (const c of rename.keys()) named(c, '--rename');
  const stale = (c: string) => c === 'h0' || (/^h([0-9]|1[0-5])$/.test(c) && Number(c.slice(1)) < o.resolution);
  const dropped = have.filter((c) => c !== o.cellColumn && stale(c) && !rename.has(c));
  const kept = have.filter((c) => c !== o.cellColumn && !dropped.includes(c));
  const columns = kept.map((c) => rename.get(c) ?? c);
  const taken = new Set([`h${o.resolution}`, ...o.parents.map((p) => `h${p}`), 'h0', '__file', '__row']);
  const clash = columns.filter((c) => taken.has(c));
  if (clash.length) throw new CommandError(`column(s) ${clash.join(', ')} would clash with the cell columns; rename them (--rename)`);
  const divide = new Map(pairs(o.divide, 'divide').map(([c, d]) => [c, Number(d)]));
  for (const [c, d] of divide) {
    if (!columns.includes(c)) throw new CommandError(`--divide '${c}' is not a column of the output (columns: ${columns.join(', ')})`);
    if (!Number.isFinite(d) || d === 0) throw new CommandError(`--divide ${c}: '${d}' is not a non-zero number`);
  }
  const select = kept.map((c, i) => {
    const name = columns[i];
    const expr = divide.has(name) ? `CAST(r.${sqlIdent(c)} AS DOUBLE) / ${divide.get(name)}` : `r.${sqlIdent(c)}`;
    return `${expr} AS ${sqlIdent(name)}`;
  });
  return { select, dropped, columns, inputH0: types.has('h0') };
}

/** Each distinct cell string checked with h3-js (a valid cell of `res`); the others go to table `bad` with the reason. */
async function validateCells(db: DuckDBConnection, res: number): Promise<void> {
  await db.run(`CREATE TABLE bad (__s VARCHAR, reason VARCHAR)`);
  const appender = await db.createAppender('bad');
  const result = await db.stream(`SELECT DISTINCT __s FROM e WHERE __s IS NOT NULL AND __s <> ''`);
  for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    for (const [s] of chunk.getRows() as [string][]) {
      const reason = !/^[0-9a-f]{15,16}$/.test(s) || !isValidCell(s) ? 'not an H3 cell' : getResolution(s) !== res ? `resolution ${getResolution(s)}, expected ${res}` : undefined;
      if (!reason) continue;
      appender.appendVarchar(s);
      appender.appendVarchar(reason);
      appender.endRow();
    }
  }
  appender.closeSync();
}
