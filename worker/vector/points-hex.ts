import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UBIGINT, BIGINT, DuckDBDataChunk, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import { CommandError } from '../core/errors.ts';
import { openDuckDB, readLimits } from '../core/limits.ts';
import { log } from '../core/log.ts';
import { plural, sqlIdent, sqlString } from '../core/text.ts';
import { loadRawH3, type RawH3 } from '../geo/h3/engine.ts';
import { parentSql } from '../geo/h3/hierarchy.ts';
import { hexReportUrl, unitName } from '../io/layer-work.ts';
import { joinUrl, Storage } from '../io/storage.ts';
import { BAD_KINDS, noBad, PointSource, unitFiles, type BadCounts, type BadKind, type PointFileCount, type PointsUnitReport } from '../io/point-work.ts';
import { workUnitIndex, type RawOptions } from '../stage.ts';
import { pointParents, pointsHexStageDef } from './points-stages.ts';

/**
 * `points-hex`: one work unit of a points source (a slice of its Parquet files) → H3 chunks.
 *
 * 1. The source's files, sorted by key, are cut into `--units` contiguous slices (unit i: files
 *    ⌊i·N/U⌋ … ⌊(i+1)·N/U⌋ − 1), so every listed file is read by exactly one unit whatever the
 *    declared count.
 * 2. Per file, one at a time (memory and disk follow one file, not the unit): the rows are
 *    classified by their coordinates (null, not finite, out of range, 0/0); the usable ones' row
 *    numbers and lon/lat stream out of DuckDB into h3-js's `latLngToCell` (its C function on the
 *    WebAssembly heap, no strings), and the (row number, cell) pairs go back as raw vectors; a join
 *    on the row number adds the cell and its parents (bit operations on UBIGINT) to the kept
 *    columns, written partitioned by h0.
 * 3. Per h0 cell, the files' parts become one chunk `<chunks>/h0=<cell>/unit-N.parquet`; last the
 *    unit's report `<chunks>/_units/unit-N.json` (rows read, written and bad, per file).
 */

const STAGE = 'points-hex';

/** `h<p>` of every parent, from the cell column `cell` (UBIGINT). */
const parentColumns = (cell: string, parents: number[]) => parents.map((p) => `${parentSql(cell, p)} AS h${p}`);

export async function pointsHexStage(opts: RawOptions, env: NodeJS.ProcessEnv = process.env): Promise<PointsUnitReport> {
  const o = pointsHexStageDef.parse(opts);
  const storage = new Storage(env);
  const index = o.index ?? workUnitIndex(env);
  if (index >= o.units) throw new CommandError(`points-hex unit ${index} does not exist: there are ${o.units} (0–${o.units - 1})`);
  const parents = pointParents(o.parents, o.resolution).filter((p) => p > 0);
  const source = new PointSource(o.source, o.sourceEndpoint, storage);
  const all = await source.list();
  if (all.length === 0 || (o.expectedFiles !== undefined && all.length < o.expectedFiles / 2))
    throw new CommandError(`points source '${o.source}': ${plural(all.length, 'file')} listed, expected ${o.expectedFiles ?? 'some'} (less than half is a failed listing); nothing was written`);
  const files = unitFiles(all, o.units, index);
  log(STAGE, `unit ${index}/${o.units}: ${plural(files.length, 'file')} of ${all.length}, resolution ${o.resolution}, parents ${parents.join(',') || '-'},0 → ${o.chunks}`);
  const work = await mkdtemp(join(env.TMPDIR ?? tmpdir(), 'cng-points-'));
  const db = await openDuckDB({ share: 0.5, limits: readLimits(env) });
  const raw = loadRawH3();
  if (!raw) throw new CommandError('h3-js is not the expected build (its C functions are not reachable); cannot hex points');
  const report: PointsUnitReport = { version: 1, kind: 'points', index, rows: 0, written: 0, bad: noBad(), features: 0, cells: 0, files: [], h0: {} };
  try {
    const cols = { lon: o.lon, lat: o.lat, columns: o.columns, nullIsland: o.nullIsland, res: o.resolution, parents };
    for (const [k, file] of files.entries()) {
      const local = await source.local(file, join(work, `source-${k}`));
      const c = await hexFile(db, raw, local, join(work, 'parts', `f${k}`), cols, file);
      if (local.startsWith(work)) await rm(local, { force: true });
      report.files.push(c);
      report.rows += c.rows;
      report.written += c.written;
      for (const b of BAD_KINDS) report.bad[b] += c.bad[b];
      log(STAGE, `${file}: ${c.rows} rows, ${c.written} written, ${c.rows - c.written} with bad coordinates`);
    }
    report.h0 = await writeChunks(db, storage, join(work, 'parts'), o.chunks, index);
    report.features = report.cells = report.written;
    await storage.writeText(hexReportUrl(o.chunks, index), JSON.stringify(report) + '\n', 'application/json');
    log(STAGE, `unit ${index}: ${report.rows} rows read, ${report.written} written in ${Object.keys(report.h0).length} h0 cells, bad coordinates ${JSON.stringify(report.bad)}`);
    return report;
  } finally {
    db.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}

interface FileColumns {
  lon: string;
  lat: string;
  columns?: string[];
  nullIsland: 'bad' | 'keep';
  res: number;
  /** Parents above 0 (h0 is always written: the partition key). */
  parents: number[];
}

/** One source file → its parts `<parts>/h0=<cell>/data_0.parquet`; its counts. */
async function hexFile(db: DuckDBConnection, raw: RawH3, path: string, parts: string, c: FileColumns, file: string): Promise<PointFileCount> {
  const src = `read_parquet(${sqlString(path)}, file_row_number = true)`;
  const names = (await db.runAndReadAll(`SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(path)}))`)).getRows().map((r) => String(r[0]));
  const missing = [c.lon, c.lat, ...(c.columns ?? [])].filter((n) => !names.includes(n));
  if (missing.length) throw new CommandError(`'${file}' has no column ${missing.join(', ')} (its columns: ${names.join(', ')})`);
  const kept = c.columns ?? names;
  const cellCols = [`h${c.res}`, ...c.parents.map((p) => `h${p}`), 'h0'];
  const clash = kept.filter((n) => cellCols.includes(n.toLowerCase()));
  if (clash.length) throw new CommandError(`'${file}': column ${clash.join(', ')} would clash with the H3 columns; leave it out of columns`);
  const x = `TRY_CAST(${sqlIdent(c.lon)} AS DOUBLE)`;
  const y = `TRY_CAST(${sqlIdent(c.lat)} AS DOUBLE)`;
  const kind = `CASE WHEN ${sqlIdent(c.lon)} IS NULL OR ${sqlIdent(c.lat)} IS NULL THEN 'null'
    WHEN ${x} IS NULL OR ${y} IS NULL OR NOT isfinite(${x}) OR NOT isfinite(${y}) THEN 'not_finite'
    WHEN abs(${x}) > 180 OR abs(${y}) > 90 THEN 'out_of_range'
    ${c.nullIsland === 'bad' ? `WHEN ${x} = 0 AND ${y} = 0 THEN 'null_island'` : ''} END`;
  const counts = (await db.runAndReadAll(`SELECT ${kind} AS k, count(*) FROM ${src} GROUP BY k`)).getRows();
  const bad = noBad();
  let rows = 0;
  for (const [k, n] of counts) {
    rows += Number(n);
    if (k !== null) bad[k as BadKind] = Number(n);
  }
  await db.run('CREATE OR REPLACE TABLE cells (rn BIGINT, cell UBIGINT)');
  const sink = new PointSink(await db.createAppender('cells'));
  // Materialized (one file's row numbers and coordinates, 24 bytes a row): the appender's flushes
  // run on this connection and would end a streaming result early.
  const result = await db.run(`SELECT file_row_number, ${x}, ${y} FROM ${src} WHERE (${kind}) IS NULL`);
  const h3 = new PointCells(raw, c.res);
  try {
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      const rn = (chunk.getColumnVector(0) as any).items as BigInt64Array;
      const lon = (chunk.getColumnVector(1) as any).items as Float64Array;
      const lat = (chunk.getColumnVector(2) as any).items as Float64Array;
      sink.append(new Uint32Array(rn.buffer, rn.byteOffset, 2 * chunk.rowCount), h3.cells(lon, lat, chunk.rowCount));
    }
  } finally {
    sink.close();
    h3.free();
  }
  const written = sink.rows;
  if (written + Object.values(bad).reduce((a, b) => a + b, 0) !== rows) throw new CommandError(`'${file}': ${rows} rows, but ${written} hexed and ${JSON.stringify(bad)} bad`);
  const cell = `c.cell`;
  const select = [...kept.map((n) => `s.${sqlIdent(n)}`), `${cell} AS h${c.res}`, ...parentColumns(cell, c.parents), ...parentColumns(cell, [0])];
  await mkdir(parts, { recursive: true });
  if (written > 0)
    await db.run(
      `COPY (SELECT ${select.join(', ')} FROM ${src} s JOIN cells c ON s.file_row_number = c.rn)
       TO ${sqlString(parts)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (h0), WRITE_PARTITION_COLUMNS true, OVERWRITE true)`,
    );
  return { file, rows, written, bad };
}

/** Per h0 cell: the files' parts → one chunk in the store. Returns rows per h0 cell. */
async function writeChunks(db: DuckDBConnection, storage: Storage, parts: string, chunks: string, index: number): Promise<Record<string, number>> {
  const cells = new Set<string>();
  for (const f of await readdir(parts).catch(() => [] as string[]))
    for (const d of await readdir(join(parts, f))) if (d.startsWith('h0=')) cells.add(d.slice(3));
  const out: Record<string, number> = {};
  for (const h0 of [...cells].sort()) {
    const local = join(parts, `chunk-${h0}.parquet`);
    const copied = await db.runAndReadAll(
      `COPY (SELECT * FROM read_parquet(${sqlString(join(parts, '*', `h0=${h0}`, '*.parquet'))}, union_by_name = true, hive_partitioning = false))
       TO ${sqlString(local)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)`,
    );
    out[h0] = Number(copied.getRows()[0]?.[0] ?? 0);
    await storage.upload(local, joinUrl(chunks, `h0=${h0}`, `${unitName(index)}.parquet`), 'application/vnd.apache.parquet');
    await rm(local, { force: true });
  }
  return out;
}

/** h3-js's `latLngToCell` on the WebAssembly heap: a batch of lon/lat → (lo, hi) words. */
class PointCells {
  private readonly ll: number;
  private readonly out: number;
  private buf = new Uint32Array(2 * 2048);

  constructor(private readonly raw: RawH3, private readonly res: number) {
    this.ll = raw.libh3._malloc(16);
    this.out = raw.libh3._malloc(8);
  }

  cells(lon: Float64Array, lat: Float64Array, n: number): Uint32Array {
    if (this.buf.length < 2 * n) this.buf = new Uint32Array(2 * n);
    const lib = this.raw.libh3 as RawH3['libh3'] & { _latLngToCell: (ll: number, res: number, out: number) => number };
    const f = this.ll >>> 3;
    const u = this.out >>> 2;
    const rad = Math.PI / 180;
    for (let i = 0; i < n; i++) {
      const f64 = lib.HEAPF64;
      f64[f] = lat[i] * rad;
      f64[f + 1] = lon[i] * rad;
      const err = lib._latLngToCell(this.ll, this.res, this.out);
      if (err !== 0) throw new CommandError(`H3 could not index the point ${lon[i]}, ${lat[i]} (error ${err})`);
      const u32 = lib.HEAPU32;
      this.buf[2 * i] = u32[u];
      this.buf[2 * i + 1] = u32[u + 1];
    }
    return this.buf.subarray(0, 2 * n);
  }

  free(): void {
    this.raw.libh3._free(this.ll);
    this.raw.libh3._free(this.out);
  }
}

/** Appends (row number, cell) rows as raw little-endian vectors, one DuckDB vector at a time. */
class PointSink {
  private readonly chunk = DuckDBDataChunk.create([BIGINT, UBIGINT]);
  rows = 0;

  constructor(private readonly appender: DuckDBAppender) {}

  append(rowNumbers: Uint32Array, cells: Uint32Array): void {
    const n = cells.length / 2;
    const c = this.chunk.chunk;
    duckdb.data_chunk_reset(c);
    duckdb.copy_data_to_vector(duckdb.data_chunk_get_vector(c, 0), 0, rowNumbers.slice().buffer, 0, n * 8);
    duckdb.copy_data_to_vector(duckdb.data_chunk_get_vector(c, 1), 0, cells.slice().buffer, 0, n * 8);
    duckdb.data_chunk_set_size(c, n);
    this.appender.appendDataChunk(this.chunk);
    this.rows += n;
  }

  close(): void {
    this.appender.closeSync();
  }
}
