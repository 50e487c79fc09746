/**
 * `cng sql`: SQL over a dataset's products with the project's own DuckDB (@duckdb/node-api), no
 * DuckDB CLI and no extension downloads for local products: every GeoParquet, hex directory
 * (hive-partitioned, `h0` typed UBIGINT), table and manifest is a view.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parseManifests, readDist } from '../../constructs/index.ts';
import { type Command, flagOptions, str } from '../../worker/core/command.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { alignedTable, firstLine, plural, sqlIdent, sqlString } from '../../worker/core/text.ts';
import { isDir } from '../preview/products.ts';
import { datasetStages, jobArg } from './runner.ts';

/** One product as a view. */
export interface ProductView {
  /** View name: the product's base name, non-alphanumerics → `_`, plus `_hex` / `_manifest`. */
  readonly name: string;
  readonly kind: 'parquet' | 'hex' | 'manifest';
  /** A local path (or an `s3://` URL with --s3-endpoint). */
  readonly path: string;
}

const ident = (s: string) => s.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^(\d)/, '_$1');

/** The view a product path gets: `fee.parquet` → fee, `fee/hex` → fee_hex, `hex/land-cover` → land_cover_hex, `fee/manifest.json` → fee_manifest. */
export function productView(path: string, kind: ProductView['kind']): ProductView {
  const p = path.replace(/\/+$/, '');
  const parts = p.split('/');
  if (kind === 'parquet') return { name: ident(basename(p, '.parquet')), kind, path: p };
  // `<name>/hex`, `hex/<name>`; a manifest sits in `<name>/` or `hex/<name>/`.
  const dir = kind === 'manifest' ? parts.slice(0, -1) : parts;
  const base = dir.at(-1) === 'hex' ? dir.at(-2)! : dir.at(-1)!;
  return { name: `${ident(base)}_${kind}`, kind, path: p };
}

/** Directories never holding products: work files, sources, the local runner's state. */
const SKIP = new Set(['_work', 'raw', '.cng-run', 'runs', 'node_modules']);

/** DIR mode: every `*.parquet` (not inside a hex directory), every hex directory (children `h0=…`) and `manifest.json` under `dir`. */
export function viewsFromDir(dir: string): ProductView[] {
  if (!isDir(dir)) throw new CommandError(`'${dir}' is neither a dataset (datasets/index.ts) nor a directory`);
  const out: ProductView[] = [];
  const walk = (d: string): void => {
    const entries = readdirSync(d, { withFileTypes: true });
    if (entries.some((e) => e.isDirectory() && e.name.startsWith('h0='))) return void out.push(productView(d, 'hex'));
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory() && !SKIP.has(e.name) && !e.name.startsWith('.')) walk(p);
      else if (e.isFile() && e.name.endsWith('.parquet')) out.push(productView(p, 'parquet'));
      else if (e.isFile() && e.name === 'manifest.json') out.push(productView(p, 'manifest'));
    }
  };
  walk(resolve(dir));
  return out;
}

/**
 * Dataset mode: the products the dataset's Jobs (dist/) write — convert and table `--out`,
 * repartition and raster-manifest `--out` (hex) and `--manifest` — as `s3://` URLs.
 */
export function datasetProducts(dataset: string, distDir = 'dist'): ProductView[] {
  if (!isDir(distDir)) throw new CommandError(`no '${distDir}' directory here: run cng sql from the repository root (or run cng synth)`);
  const out: ProductView[] = [];
  for (const s of datasetStages(parseManifests(readDist(distDir)), dataset)) {
    const job = s.jobs[0];
    const arg = (flag: string) => jobArg(job, flag);
    if ((s.kind === 'convert' || s.kind === 'table') && arg('--out')) out.push(productView(arg('--out')!, 'parquet'));
    if (s.kind === 'repartition' || s.kind === 'raster-manifest') {
      if (arg('--out')) out.push(productView(arg('--out')!, 'hex'));
      if (arg('--manifest')) out.push(productView(arg('--manifest')!, 'manifest'));
    }
  }
  return out;
}

/** `s3://bucket/key` → `<store>/bucket/key`. */
const storePath = (store: string, url: string) => url.replace(/^s3:\/\//, `${store.replace(/\/+$/, '')}/`);

/** Unique view names: a repeated name gets its parent directory's name in front (`lookup_Category`). */
function uniqueNames(views: ProductView[]): ProductView[] {
  const count = new Map<string, number>();
  for (const v of views) count.set(v.name, (count.get(v.name) ?? 0) + 1);
  return views.map((v) => (count.get(v.name)! > 1 ? { ...v, name: `${ident(basename(dirname(v.path)))}_${v.name}` } : v));
}

/** The SELECT a view stands for. */
function viewSource(v: ProductView): string {
  if (v.kind === 'parquet') return `read_parquet(${sqlString(v.path)})`;
  if (v.kind === 'manifest') return `read_json(${sqlString(v.path)})`;
  return `read_parquet(${sqlString(`${v.path}/**/*.parquet`)}, hive_partitioning = true, hive_types = {'h0': UBIGINT})`;
}

/** A DuckDB connection with one view per product. */
export async function openWithViews(views: ProductView[]): Promise<DuckDBConnection> {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  for (const v of views) await db.run(`CREATE VIEW ${sqlIdent(v.name)} AS SELECT * FROM ${viewSource(v)}`);
  return db;
}

/** A value as text for the table and CSV output (JSON for nested values, `NULL` in the table). */
function cell(v: unknown, nullText: string): string {
  if (v === null || v === undefined) return nullText;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * A value for output: DuckDB's JSON form (`getRowsJson`: dates, BLOBs as '\\x..', big integers as
 * strings), except that numbers and integers that fit a double exactly stay numbers.
 */
function plain(js: unknown, json: unknown): unknown {
  if (typeof js === 'bigint') return Number.isSafeInteger(Number(js)) ? Number(js) : json;
  if (typeof js === 'number' || typeof js === 'boolean' || js === null) return js;
  if (Array.isArray(js)) return js.map((v, i) => plain(v, (json as unknown[])[i]));
  if (typeof js === 'object' && !(js instanceof Date) && !ArrayBuffer.isView(js))
    return Object.fromEntries(Object.entries(js as object).map(([k, v]) => [k, plain(v, (json as Record<string, unknown>)[k])]));
  return json;
}

const csvField = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

/** The result of the last statement in the chosen format. */
export async function runQuery(db: DuckDBConnection, sql: string, format: 'table' | 'csv' | 'json', maxRows: number): Promise<string> {
  const reader = await db.runAndReadAll(sql);
  const names = reader.columnNames();
  const rows = plain(reader.getRowsJS(), reader.getRowsJson()) as unknown[][];
  if (format === 'json') return JSON.stringify(rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i]]))), null, 2) + '\n';
  if (format === 'csv') return [names, ...rows.map((r) => r.map((v) => cell(v, '')))].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
  if (names.length === 0) return '';
  const types = reader.columnTypes().map((t) => t.toString());
  const numeric = types.map((t) => /^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|DECIMAL.*)$/.test(t));
  const shown = rows.slice(0, maxRows).map((r) => r.map((v) => clip(cell(v, 'NULL'))));
  const more = rows.length > maxRows ? `(${plural(rows.length - maxRows, 'more row')}: --max-rows, or --format csv for all)\n` : '';
  return alignedTable([names, types, ...shown], (c) => numeric[c]) + more + `(${plural(rows.length, 'row')})\n`;
}

/** Long cells (geometry WKB, big lists) cut to 60 characters in the table. */
const clip = (s: string) => (s.length > 60 ? `${s.slice(0, 59)}…` : s);

/** A hint for errors with a known cause here. */
function hint(message: string): string {
  if (/ST_\w+|spatial|GEOMETRY/i.test(message) && /does not exist|not found|extension/i.test(message))
    return "\nSpatial functions (ST_Area, ST_Intersects, …) need DuckDB's spatial extension, which DuckDB downloads from the internet (INSTALL spatial; LOAD spatial;): cng sql does not load it, and it is not available offline. The geometry column is WKB (a BLOB); bbox.xmin … bbox.ymax filter without it.";
  if (/httpfs|s3:\/\//i.test(message)) return '\nReading s3:// needs DuckDB\'s httpfs extension (downloaded on first use); without internet, query a local copy of the products.';
  return '';
}

export const sqlCommand: Command = {
  name: 'sql',
  summary: "SQL over a dataset's products or a local output directory (the project's DuckDB, views pre-registered)",
  help: `Usage: cng sql <dataset|dir> ["<query>" | --file FILE] [--format table|csv|json] [--data-dir DIR] [--max-rows N]

Runs DuckDB SQL with the project's own DuckDB (@duckdb/node-api: no DuckDB CLI needed) over
  - a dataset (a name in datasets/index.ts): the products its Jobs in dist/ write, read from the
    local runner's directory store DIR/store/<bucket>/<key> (what 'cng run' writes); 's3://…'
    string literals in the query read the same store, so the manual's queries run unchanged;
  - a directory: a 'cng local' output directory, or any directory of products
    (e.g. data/store/public-padus/padus-4-1).
Every product is a view (names: the product's base name, non-alphanumerics replaced by '_'):
  <name>            a GeoParquet or table file (<name>.parquet)
  <name>_hex        a hex directory: read_parquet('…/**/*.parquet', hive_partitioning = true,
                    hive_types = {'h0': UBIGINT}); raster hex directories alike
  <name>_manifest   a manifest.json (read_json)
A name two products share gets its directory's name in front (e.g. lookup_Category).
Without a query, lists the views with their files.

Offline: only DuckDB's built-in parquet and json readers are used. Spatial functions (ST_*) need
DuckDB's spatial extension and s3:// or https:// reads its httpfs extension; DuckDB downloads both
from the internet (INSTALL spatial; LOAD spatial;), so they are not available offline. The
geometry column is WKB; the bbox column filters by extent without any extension.

Options:
  --file FILE       read the query from FILE (several statements: the last one's result is shown)
  --format FMT      table (default: aligned, with column types, long values cut), csv or json
  --max-rows N      table format: rows shown (default 100; csv and json print every row)
  --data-dir DIR    the local runner's data directory (default: data)
  -h, --help        show this help

Exit status: 0 ok, 1 the query failed (DuckDB's message) or no products were found, 2 usage error.

Examples:
  cng sql padus-4-1 "SELECT GAP_Sts, count(*) AS features FROM fee GROUP BY ALL ORDER BY GAP_Sts"
  cng sql out/parks "SELECT count(DISTINCT h10) FROM parks_hex"
  cng sql padus-4-1 --file query.sql --format csv
  cng sql padus-4-1`,
  options: flagOptions(['file', 'format', 'max-rows', 'data-dir']),
  positionals: true,
  async run({ values, positionals }) {
    const [target, query, ...extra] = positionals;
    if (!target) throw new UsageError('expected a dataset name or a directory');
    if (extra.length) throw new UsageError(`expected one query (quote it), got ${extra.length + 1} arguments after '${target}'`);
    const file = str(values.file);
    if (file && query !== undefined) throw new UsageError('give the query as an argument or with --file, not both');
    const format = str(values.format) ?? 'table';
    if (format !== 'table' && format !== 'csv' && format !== 'json') throw new UsageError(`--format must be table, csv or json, got '${format}'`);
    const maxRows = values['max-rows'] === undefined ? 100 : Number(values['max-rows']);
    if (!Number.isInteger(maxRows) || maxRows < 0) throw new UsageError(`--max-rows must be a whole number, got '${values['max-rows']}'`);
    if (file && !existsSync(file)) throw new CommandError(`${file}: no such file`);
    let sql = file ? readFileSync(file, 'utf8') : query;

    const { views, store } = locate(target, str(values['data-dir']));
    if (views.length === 0) throw new CommandError(`no products found for '${target}'${store ? ` under ${store}` : ''}: run the pipeline first (cng run / cng local)`);
    if (store) sql = sql?.replace(/'s3:\/\/([^']*)'/g, (_, rest: string) => sqlString(storePath(store, `s3://${rest}`)));
    const db = await openWithViews(views);
    try {
      if (sql === undefined || sql.trim() === '') {
        const rows = [['view', 'kind', 'path'], ...views.map((v) => [v.name, v.kind, relative(process.cwd(), v.path) || v.path])];
        process.stdout.write(alignedTable(rows, () => false));
        return EXIT.ok;
      }
      process.stdout.write(await runQuery(db, sql, format, maxRows));
      return EXIT.ok;
    } catch (err) {
      const message = (err as Error).message;
      process.stderr.write(`cng sql: ${firstLine(message)}${hint(message)}\n`);
      return EXIT.failure;
    } finally {
      db.closeSync();
    }
  },
};

/** The views for a dataset name (its products in the directory store; those not found are listed on stderr) or a directory. */
function locate(target: string, dataDir: string | undefined): { views: ProductView[]; store?: string } {
  const looksLikeDataset = /^[a-z0-9][-a-z0-9]*$/.test(target) && !isDir(target);
  if (!looksLikeDataset) {
    if (dataDir) throw new UsageError('--data-dir goes with a dataset name, not a directory');
    return { views: uniqueNames(viewsFromDir(target)) };
  }
  const store = resolve(dataDir ?? 'data', 'store');
  const all = datasetProducts(target).map((v) => ({ ...v, path: storePath(store, v.path) }));
  const found = all.filter((v) => (v.kind === 'hex' ? isDir(v.path) && readdirSync(v.path).some((d) => d.startsWith('h0=')) : existsSync(v.path)));
  const missing = all.filter((v) => !found.includes(v)).map((v) => v.name);
  if (missing.length && found.length) process.stderr.write(`cng sql: not in ${store} (no view): ${missing.join(', ')}\n`);
  return { views: uniqueNames(found), store };
}
