/**
 * The hex stage: one work unit of the hex plan → `chunk-<index>.parquet` of H3 cells.
 *
 * Flow (docs/stages.md is the contract):
 * 1. Read the plan, pick the unit (`--index`, else JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET).
 * 2. Read the unit's features from the GeoParquet ({@link readFeatures}: DuckDB, `_cng_fid IN (…)`,
 *    WKB), streamed: only the features being cut are in memory.
 * 3. Per plan item: normalize at the antimeridian, clip to the item's longitude strip when it is a
 *    `piece`, cut polygons of more than ~1 M cells / 200,000 vertices into rectangles (exact planar
 *    clips; worker/geo/h3/jobs.ts), and hand the work as tasks to worker threads
 *    (worker/geo/h3/pool.ts, one h3-js each). Centre containment uses the engine's own
 *    hierarchical polyfill (worker/geo/h3/center-polyfill.ts), which asks h3-js only for cell
 *    centres and tests them against an edge index, so its cost does not grow with vertices × cells:
 *    a 1.7-million-vertex feature takes seconds at full resolution. The resolution is never lowered.
 * 4. Results come back in task order (deterministic output) and are appended, as raw (fid, cell)
 *    pairs, to a DuckDB table in a scratch database file, flushed every batch: cells never pile up
 *    in memory. A feature or piece that gets no cell (smaller or thinner than a cell) gets the cell
 *    of a point on its surface.
 * 5. `COPY` writes one chunk per h0 cell the unit has cells in (parents and h0 computed from the
 *    cell bits in SQL, all UBIGINT), `<chunks>/h0=<cell>/unit-<index>.parquet`, each uploaded
 *    atomically; then the unit's report `<chunks>/_units/unit-<index>.json` (features, cells, cells
 *    per h0 cell), last: repartition trusts a unit's chunks only once its report is there.
 */
import { existsSync } from 'node:fs';
import { expectScratch } from '../core/disk-full.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BIGINT, DuckDBDataChunk, UBIGINT, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import { CommandError } from '../core/errors.ts';
import { workUnitIndex as jobWorkUnit, type RawOptions } from '../stage.ts';
import { hexParents, hexStageDef } from './stages.ts';
import { normalizeShapes } from '../geo/clip.ts';
import { pointInPolygon, pointOnSurface, shapesBBox, shapesEmpty, type BBox, type Shapes } from '../geo/shapes.ts';
import { parseWkb } from '../geo/wkb.ts';
import { H3Engine, type Containment } from '../geo/h3/engine.ts';
import { parentSql } from '../geo/h3/hierarchy.ts';
import { pieceShapes, shapeJobs } from '../geo/h3/jobs.ts';
import { CellPool } from '../geo/h3/pool.ts';
import { DEFAULT_SPLIT, FAST_SPLIT, type Job, type SplitLimits, type Task, type TaskResult } from '../geo/h3/tasks.ts';
import { openDuckDB, readLimits } from '../core/limits.ts';
import { log } from '../core/log.ts';
import { joinUrl, parseJson, Storage } from '../io/storage.ts';
import { hexReportUrl, unitName, type HexUnitReport } from '../io/layer-work.ts';
import { sqlString } from '../core/text.ts';

const STAGE = 'hex';

export interface PlanItem {
  fid: number;
  piece?: number;
  pieces?: number;
}

export interface HexPlan {
  version: number;
  layer?: string;
  resolution?: number;
  units: number;
  workUnits: { index: number; items: PlanItem[]; estimatedCells?: number; vertices?: number }[];
}

/** Knobs for tests and the benchmark; the stage itself uses the defaults. */
export interface HexTuning {
  /**
   * Worker threads computing cells (default: the pod's CPUs − 1: the main thread reads, cuts and
   * writes, DuckDB's COPY uses every CPU); 0 = everything in the main thread. Measured on 2 CPUs:
   * one worker cut wall time by ~25% for +5–10% CPU; a second worker (or the main thread also
   * computing) added CPU (one more JIT warm-up of h3-js) without gaining wall time.
   */
  threads: number;
  /** When threads cut pieces further for H3's polyfill (see {@link SplitLimits})… */
  split: SplitLimits;
  /** …and for the fast centre polyfill. */
  fastSplit: SplitLimits;
  /** The main thread cuts polygons above these into separate tasks, so threads share a feature. */
  taskVertices: number;
  taskCells: number;
  /** Rows appended between appender flushes. */
  flushRows: number;
  /** Use h3-js's compiled core directly (default true); false = public API only. */
  fastH3: boolean;
}

/** Estimated cells + vertices below which a unit is hexed without worker threads. */
const SMALL_UNIT = 3_000_000;

export const DEFAULT_TUNING: HexTuning = {
  threads: 0, // replaced by the CPU count − 1
  split: DEFAULT_SPLIT,
  fastSplit: FAST_SPLIT,
  taskVertices: 200_000,
  taskCells: 1_000_000,
  flushRows: 1 << 20,
  fastH3: true,
};

export interface HexSummary {
  index: number;
  /** The unit's chunk files, as one glob (`<chunks>/h0=*\/unit-<index>.parquet`). */
  chunk: string;
  /** The chunk files written, one per h0 cell. */
  files: string[];
  items: number;
  features: number;
  cells: number;
  fallbackCells: number;
  seconds: number;
  threads: number;
  fastH3: boolean;
}

export async function hexStage(opts: RawOptions): Promise<void> {
  await runHex(opts);
}

/** The stage, returning what it did (for tests and the benchmark). */
export async function runHex(opts: RawOptions, tuning: Partial<HexTuning> = {}, env: NodeJS.ProcessEnv = process.env): Promise<HexSummary> {
  const started = Date.now();
  const { input, plan: planUrl, chunks, resolution: res, containment: mode, ...o } = hexStageDef.parse(opts);
  const parents = hexParents(o.parents, res);
  const index = o.index ?? jobWorkUnit(env);
  const limits = readLimits(env);
  const t: HexTuning = { ...DEFAULT_TUNING, threads: limits.cpus - 1, ...tuning };

  const storage = new Storage(env);
  const plan = parsePlan(await storage.readText(planUrl), planUrl);
  if (plan.resolution !== undefined && plan.resolution !== res)
    throw new CommandError(`--resolution ${res} differs from the plan's resolution ${plan.resolution} ('${planUrl}'); re-run convert or fix the Job`);
  if (index >= plan.units) throw new CommandError(`work unit ${index} does not exist: '${planUrl}' has ${plan.units} units (0–${plan.units - 1})`);
  const unit = plan.workUnits.find((u) => u.index === index);
  const items = unit?.items ?? [];
  // Threads cost ~0.2 CPU-s each to start: a small unit is hexed in this thread.
  if (tuning.threads === undefined && unit?.estimatedCells !== undefined && unit.estimatedCells + (unit.vertices ?? 0) < SMALL_UNIT) t.threads = 0;
  const chunkUrl = joinUrl(chunks, `h0=*/${unitName(index)}.parquet`);

  const scratch = env.TMPDIR ?? tmpdir();
  const work = await mkdtemp(join(scratch, `cng-hex-${index}-`));
  // the GeoParquet (when downloaded) and the unit's (fid, cell) rows, ~16 B each, with the chunk
  const download = storage.resolve(input).kind === 'file' ? 0 : ((await storage.stat(input))?.size ?? 0);
  expectScratch(work, download + 2 * 16 * (unit?.estimatedCells ?? 0));
  let pool: CellPool | undefined;
  const cons: DuckDBConnection[] = [];
  try {
    log(STAGE, `unit ${index}/${plan.units}: ${items.length} items, resolution ${res}, parents ${parents.join(',') || '-'}, containment ${mode}, ${t.threads + 1} thread${t.threads ? 's' : ''} → ${chunkUrl}`);
    // The writer: raw (fid, cell) rows in a scratch database file.
    const writer = await openDuckDB({ share: 0.1, limits });
    cons.push(writer);
    await writer.run(`ATTACH ${sqlString(join(work, 'cells.duckdb'))} AS spool`);
    await writer.run('CREATE TABLE spool.cells (_cng_fid BIGINT, h UBIGINT)');
    const sink = new CellSink(await writer.createAppender('cells', 'main', 'spool'), t.flushRows);

    let features = 0;
    let fallbackCells = 0;
    const phase = { hex: 0, write: 0, upload: 0 };
    if (items.length > 0) {
      // threads load while the input is read; if they cannot start, the work stays in this thread
      const starting = CellPool.start(t.threads, t.fastH3).catch((err: Error) => {
        log(STAGE, `${err.message}; hexing in the main thread`);
        return CellPool.start(0, t.fastH3);
      });
      try {
        const local = await localInput(storage, input, work);
        const reader = await openDuckDB({ share: 0.1, limits });
        cons.push(reader);
        const geometry = await geometryExpression(reader, local, input);
        pool = await starting;
        const t0 = Date.now();
        const elu0 = performance.eventLoopUtilization();
        const hexer = new UnitHexer({ res, mode, tuning: t, pool, sink, items });
        const fids = [...new Set(items.map((i) => i.fid))];
        const seen = new Set<number>();
        for await (const f of readFeatures(reader, local, fids, geometry)) {
          seen.add(f.fid);
          features++;
          await hexer.feature(f.fid, f.wkb);
        }
        await hexer.finish();
        phase.hex = (Date.now() - t0) / 1000;
        if (env.CNG_HEX_DEBUG) {
          const elu = performance.eventLoopUtilization(elu0);
          log(STAGE, `debug: main thread busy ${(elu.utilization * 100).toFixed(0)}%, workers busy ${pool.busyShare().map((x) => `${(x * 100).toFixed(0)}%`).join(' ')}`);
        }
        fallbackCells = hexer.fallbackCells;
        const missing = fids.filter((f) => !seen.has(f));
        if (missing.length > 0)
          throw new CommandError(`'${input}' has no feature with _cng_fid ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` (and ${missing.length - 10} more)` : ''} listed in unit ${index} of '${planUrl}': plan and GeoParquet do not match`);
      } finally {
        pool ??= await starting.catch(() => undefined);
      }
    }
    sink.close();

    const t1 = Date.now();
    const cols = [`h AS h${res}`, ...parents.map((p) => `${parentSql('h', p)} AS h${p}`), `${parentSql('h', 0)} AS h0`];
    const source = mode === 'overlap' ? '(SELECT DISTINCT _cng_fid, h FROM spool.cells ORDER BY _cng_fid, h)' : 'spool.cells';
    await writer.run(`CREATE TEMP VIEW unit_cells AS SELECT _cng_fid, ${cols.join(', ')} FROM ${source}`);
    const h0s = (await writer.runAndReadAll(`SELECT DISTINCT h0 FROM unit_cells ORDER BY h0`)).getRows().map((r) => String(r[0]));
    const report: HexUnitReport = { version: 1, index, features, cells: 0, h0: {} };
    const files: { local: string; url: string }[] = [];
    for (const h0 of h0s) {
      const local = join(work, `h0-${h0}.parquet`);
      const copied = await writer.runAndReadAll(`COPY (SELECT * FROM unit_cells WHERE h0 = ${h0}::UBIGINT) TO ${sqlString(local)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`);
      report.h0[h0] = Number(copied.getRows()[0]?.[0] ?? 0);
      report.cells += report.h0[h0];
      files.push({ local, url: joinUrl(chunks, `h0=${h0}`, `${unitName(index)}.parquet`) });
    }
    const count = report.cells;
    phase.write = (Date.now() - t1) / 1000;
    const t2 = Date.now();
    for (const f of files) await storage.upload(f.local, f.url);
    await storage.writeText(hexReportUrl(chunks, index), JSON.stringify(report) + '\n');
    phase.upload = (Date.now() - t2) / 1000;
    const seconds = (Date.now() - started) / 1000;
    log(STAGE, `unit ${index}: ${features} features, ${count} cells in ${h0s.length} h0 cell(s) (${fallbackCells} from the surface-point fallback) in ${seconds.toFixed(1)} s (hexing ${phase.hex.toFixed(1)} s, Parquet ${phase.write.toFixed(1)} s, upload ${phase.upload.toFixed(1)} s) → ${chunkUrl}`);
    return { index, chunk: chunkUrl, files: files.map((f) => f.url), items: items.length, features, cells: count, fallbackCells, seconds, threads: pool?.threads ?? 0, fastH3: pool?.fast ?? t.fastH3 };
  } finally {
    await pool?.close();
    for (const c of cons.reverse()) c.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Options

/** --index as given, else the Job's work unit (JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET, or the k-th of CNG_INDEX_LIST for a retry Job). */
export function workUnitIndex(v: string | undefined, env: NodeJS.ProcessEnv): number {
  return hexStageDef.options.index.parse('index', v) ?? jobWorkUnit(env);
}

export function parsePlan(text: string, url: string): HexPlan {
  const plan = parseJson<HexPlan>(text, url);
  if (plan?.version !== 1) throw new CommandError(`'${url}': unsupported hex plan version ${String(plan?.version)} (expected 1)`);
  if (!Number.isInteger(plan.units) || plan.units < 1 || !Array.isArray(plan.workUnits)) throw new CommandError(`'${url}': a hex plan needs 'units' (≥ 1) and 'workUnits'`);
  for (const u of plan.workUnits) {
    if (!Number.isInteger(u?.index) || !Array.isArray(u.items)) throw new CommandError(`'${url}': every work unit needs 'index' and 'items'`);
    for (const it of u.items) {
      const pieceOk = it.piece === undefined || (Number.isInteger(it.piece) && Number.isInteger(it.pieces) && it.piece >= 0 && it.piece < (it.pieces as number));
      if (!Number.isSafeInteger(it?.fid) || !pieceOk) throw new CommandError(`'${url}': bad item ${JSON.stringify(it)} in work unit ${u.index}`);
    }
  }
  return plan;
}


// ---------------------------------------------------------------------------------------------
// Reading features

/** A local path for the GeoParquet: the file itself when local, else a download to scratch. */
async function localInput(storage: Storage, input: string, work: string): Promise<string> {
  const loc = storage.resolve(input);
  if (loc.kind === 'file') {
    if (!existsSync(loc.path)) throw new CommandError(`'${input}': no such file or object`);
    return loc.path;
  }
  const path = join(work, 'input.parquet');
  const t0 = Date.now();
  await storage.download(input, path);
  log(STAGE, `downloaded '${input}' in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return path;
}

/** The SQL giving WKB for the input's `geometry` column; fails when there is none. */
async function geometryExpression(con: DuckDBConnection, path: string, url: string): Promise<string> {
  let rows: unknown[][];
  try {
    rows = (await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path)})`)).getRows();
  } catch (err) {
    throw new CommandError(`cannot read '${url}' as Parquet: ${String((err as Error).message).split('\n')[0]}`);
  }
  const types = new Map(rows.map((r) => [String(r[0]), String(r[1])]));
  if (!types.has('geometry')) throw new CommandError(`'${url}' has no geometry column (is it a table?)`);
  if (!types.has('_cng_fid')) throw new CommandError(`'${url}' has no _cng_fid column (not written by convert?)`);
  const type = types.get('geometry')!;
  if (type.startsWith('GEOMETRY')) return 'ST_AsWKB(geometry)';
  if (type === 'BLOB') return 'geometry';
  throw new CommandError(`'${url}': column geometry has type ${type}, expected GEOMETRY or WKB`);
}

/**
 * The features with these ids, as WKB (null for a null geometry), in file order. The function
 * boundary for a later range-read optimisation (row groups by bbox).
 */
export async function* readFeatures(con: DuckDBConnection, path: string, fids: number[], geometry = 'ST_AsWKB(geometry)'): AsyncGenerator<{ fid: number; wkb: Uint8Array | null }> {
  if (fids.length === 0) return;
  const result = await con.stream(`SELECT _cng_fid, ${geometry} AS wkb FROM read_parquet(${sqlString(path)}) WHERE _cng_fid IN (${fids.join(',')})`);
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const ids = chunk.getColumnVector(0);
    const geoms = chunk.getColumnVector(1);
    for (let i = 0; i < chunk.rowCount; i++) {
      const g = geoms.getItem(i) as { bytes: Uint8Array } | null;
      yield { fid: Number(ids.getItem(i)), wkb: g ? g.bytes : null };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Hexing one unit

interface ItemState {
  fid: number;
  cells: number;
  /** Jobs submitted and not yet written; `sealed` once all its jobs are submitted. */
  open: number;
  sealed: boolean;
  /** The item's shapes (kept for the fallback until its last job is written). */
  shapes: Shapes;
  /** Whole feature (normalized) and its raw bbox, for duplicate checks between pieces. */
  feature: Shapes;
  bbox: BBox;
  piece?: number;
  pieces?: number;
}

/** Turns the unit's items into tasks, runs them on the pool, writes results in task order. */
class UnitHexer {
  private readonly res: number;
  private readonly mode: Containment;
  private readonly t: HexTuning;
  private readonly pool: CellPool;
  private readonly sink: CellSink;
  private readonly byFid = new Map<number, PlanItem[]>();
  private readonly inflight: { promise: Promise<TaskResult>; owners: ItemState[] }[] = [];
  private readonly maxInflight: number;
  private seq = 0;
  private pending: { jobs: Job[]; owners: ItemState[]; vertices: number; cells: number } = { jobs: [], owners: [], vertices: 0, cells: 0 };
  private readonly fallbackByFid = new Map<number, Set<string>>();
  private engine?: H3Engine; // for surface-point cells, created when first needed
  private itemsDone = 0;
  private readonly itemsTotal: number;
  private lastLog = Date.now();
  private readonly started = Date.now();
  fallbackCells = 0;

  constructor(o: { res: number; mode: Containment; tuning: HexTuning; pool: CellPool; sink: CellSink; items: PlanItem[] }) {
    this.res = o.res;
    this.mode = o.mode;
    this.t = o.tuning;
    this.pool = o.pool;
    this.sink = o.sink;
    this.maxInflight = Math.max(2, 4 * o.pool.threads);
    this.itemsTotal = o.items.length;
    for (const it of o.items) {
      const list = this.byFid.get(it.fid) ?? [];
      list.push(it);
      this.byFid.set(it.fid, list);
    }
    for (const list of this.byFid.values()) list.sort((a, b) => (a.piece ?? 0) - (b.piece ?? 0));
  }

  async feature(fid: number, wkb: Uint8Array | null): Promise<void> {
    const items = this.byFid.get(fid) ?? [];
    if (wkb === null) {
      this.itemsDone += items.length;
      return;
    }
    let raw: Shapes;
    try {
      raw = parseWkb(wkb);
    } catch (err) {
      throw new CommandError(`feature ${fid}: ${(err as Error).message}`);
    }
    if (shapesEmpty(raw)) {
      this.itemsDone += items.length;
      return;
    }
    const bbox = shapesBBox(raw);
    const feature = normalizeShapes(raw);
    for (const it of items) {
      let shapes = feature;
      if (it.pieces !== undefined && it.pieces > 1) shapes = pieceShapes(feature, bbox, it.piece!, it.pieces, this.mode);
      const item: ItemState = { fid, cells: 0, open: 0, sealed: false, shapes, feature, bbox, piece: it.piece, pieces: it.pieces };
      await this.itemJobs(item);
    }
  }

  /** Submits the jobs of an item, cutting large polygons here so that threads share them. */
  private async itemJobs(item: ItemState): Promise<void> {
    for (const { job, vertices, cells } of shapeJobs(item.shapes, this.res, this.mode, this.t)) await this.add(item, job, vertices, cells);
    item.sealed = true;
    // nothing of the feature in this piece's strip, or every job already written
    if (item.open === 0) this.itemDone(item);
  }

  private async add(item: ItemState, job: Job, vertices: number, cells: number): Promise<void> {
    if (this.pending.jobs.length > 0 && (this.pending.vertices + vertices > this.t.taskVertices || this.pending.cells + cells > this.t.taskCells || this.pending.jobs.length >= 256))
      await this.submit();
    this.pending.jobs.push(job);
    this.pending.owners.push(item);
    this.pending.vertices += vertices;
    this.pending.cells += cells;
    item.open++;
  }

  private async submit(): Promise<void> {
    const { jobs, owners } = this.pending;
    this.pending = { jobs: [], owners: [], vertices: 0, cells: 0 };
    if (jobs.length === 0) return;
    const task: Task = { seq: this.seq++, res: this.res, mode: this.mode, limits: this.t.split, fastLimits: this.t.fastSplit, jobs };
    this.inflight.push({ promise: this.pool.run(task), owners });
    while (this.inflight.length >= this.maxInflight) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const { promise, owners } = this.inflight.shift()!;
    const r = await promise;
    let o = 0;
    owners.forEach((item, j) => {
      const n = r.counts[j];
      if (n > 0) this.sink.append(item.fid, r.cells.subarray(2 * o, 2 * (o + n)));
      o += n;
      item.cells += n;
      if (--item.open === 0 && item.sealed) this.itemDone(item);
    });
    this.progress();
  }

  /** After an item's last job: the surface-point fallback when it got no cell. */
  private itemDone(item: ItemState): void {
    this.itemsDone++;
    if (item.cells > 0) return;
    const s = item.shapes;
    let xy: [number, number] | null = pointOnSurface(s.polygons);
    if (!xy) {
      const first = s.polygons[0]?.[0] ?? s.lines[0];
      if (first) xy = [first[0], first[1]];
      else if (s.points.length) xy = [s.points[0], s.points[1]];
    }
    if (!xy) return;
    const cell = new Uint32Array(2);
    this.engine ??= new H3Engine({ fast: this.t.fastH3 });
    this.engine.cellAt(xy[0], xy[1], this.res, cell, 0);
    const key = `${cell[1]}:${cell[0]}`;
    const seen = this.fallbackByFid.get(item.fid) ?? new Set<string>();
    if (seen.has(key) || this.coveredByOtherPiece(item, cell)) return;
    seen.add(key);
    this.fallbackByFid.set(item.fid, seen);
    this.sink.append(item.fid, cell);
    item.cells++;
    this.fallbackCells++;
  }

  /** Whether another piece of the same feature in this unit already has this cell (centre inside). */
  private coveredByOtherPiece(item: ItemState, cell: Uint32Array): boolean {
    if (item.pieces === undefined || this.mode !== 'center') return false;
    const others = (this.byFid.get(item.fid) ?? []).filter((i) => i.piece !== item.piece).map((i) => i.piece!);
    if (others.length === 0) return false;
    const [lng, lat] = this.engine!.cellCenter(cell[0], cell[1]);
    if (!item.feature.polygons.some((p) => pointInPolygon(p, lng, lat))) return false;
    const w = (item.bbox.xmax - item.bbox.xmin) / item.pieces;
    const strip = Math.min(item.pieces - 1, Math.max(0, Math.floor((lng - item.bbox.xmin) / w)));
    return others.includes(strip);
  }

  async finish(): Promise<void> {
    await this.submit();
    while (this.inflight.length > 0) await this.writeOldest();
    this.progress(true);
  }

  private progress(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastLog < 5000) return;
    this.lastLog = now;
    const secs = Math.max((now - this.started) / 1000, 1e-3);
    log(STAGE, `${this.itemsDone}/${this.itemsTotal} items, ${this.sink.rows} cells, ${(this.sink.rows / secs).toFixed(0)} cells/s`);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing cells

/** Appends (fid, cell) rows to DuckDB as raw little-endian vectors, 2,048 rows per data chunk. */
class CellSink {
  private readonly size = duckdb.vector_size();
  private readonly chunk = DuckDBDataChunk.create([BIGINT, UBIGINT]);
  private readonly fids = new Uint32Array(2 * this.size);
  private readonly cells = new Uint32Array(2 * this.size);
  private n = 0;
  private sinceFlush = 0;
  rows = 0;

  constructor(
    private readonly appender: DuckDBAppender,
    private readonly flushRows: number,
  ) {}

  append(fid: number, pairs: Uint32Array): void {
    const lo = fid % 2 ** 32;
    const hi = Math.floor(fid / 2 ** 32);
    let o = 0;
    const total = pairs.length / 2;
    while (o < total) {
      const k = Math.min(this.size - this.n, total - o);
      this.cells.set(pairs.subarray(2 * o, 2 * (o + k)), 2 * this.n);
      for (let i = this.n; i < this.n + k; i++) {
        this.fids[2 * i] = lo;
        this.fids[2 * i + 1] = hi;
      }
      this.n += k;
      o += k;
      if (this.n === this.size) this.write();
    }
  }

  private write(): void {
    if (this.n === 0) return;
    const c = this.chunk.chunk;
    duckdb.data_chunk_reset(c);
    duckdb.copy_data_to_vector(duckdb.data_chunk_get_vector(c, 0), 0, this.fids.buffer, 0, this.n * 8);
    duckdb.copy_data_to_vector(duckdb.data_chunk_get_vector(c, 1), 0, this.cells.buffer, 0, this.n * 8);
    duckdb.data_chunk_set_size(c, this.n);
    this.appender.appendDataChunk(this.chunk);
    this.rows += this.n;
    this.sinceFlush += this.n;
    this.n = 0;
    if (this.sinceFlush >= this.flushRows) {
      this.appender.flushSync();
      this.sinceFlush = 0;
    }
  }

  close(): void {
    this.write();
    this.appender.closeSync();
  }
}
