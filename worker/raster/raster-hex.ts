/**
 * `raster-hex`, the raster side of the H3 pipeline (issue #5): turns one H3 base cell's share of a
 * COG into its `h0=<cell>` partition of per-cell values (raster-manifest.ts then checks that all 122
 * units ran and writes the layer's manifest.json). docs/stages.md is the contract; the geometry is
 * in cells.ts, the per-sample work in unit-hexer.ts. The method:
 *
 * - **Work unit i = base cell i** (`h3.getRes0Cells()` ordered by base-cell number). A sample
 *   belongs to the unit of its H3 cell's base cell (the cell's own bits, not a second lookup), so
 *   every sample lands in exactly one unit: nothing is counted twice or lost between units.
 * - **Which windows to read.** The raster is cut into tiles (the COG's 512×512 blocks) and tiles
 *   into 64×64 leaves. A window's footprint is bounded by a spherical cap (3D unit vectors, so no
 *   seam at 180° and no singularity at the poles) from a grid of exactly transformed points plus the
 *   grid's diagonal as padding; the unit's region is bounded by discs around its resolution-2
 *   descendants (1.12 × their circumradius: the union of their finest descendants stays within
 *   1.045×, measured over all 5,882 of them). Windows whose cap misses every disc are skipped; only
 *   tiles with a relevant leaf are read (`readAsync` windows = HTTP range reads of those blocks).
 * - **Pixels → cells.** Each pixel is split into k×k sub-samples when it is large compared with the
 *   cells (k = ⌈2 × pixel side ÷ average cell edge⌉, at most 16; 1 when a pixel is at most half a
 *   cell edge); a sample goes to the cell containing its centre — the cell h3-js `latLngToCell`
 *   gives, always. H3 is asked only when needed (CellLocator in cells.ts): a cell on one icosahedron
 *   face that is not a pentagon is, in H3's face projection, a hexagon with straight edges, so on
 *   the sphere the inside of six great circles through its vertices; a sample more than 6 mm
 *   inside all six is in that cell. The previous sample's cell, the cell last found across the
 *   edge it left by, and a few recent cells are tried first (≈ 2 H3 calls per cell at 30 m pixels
 *   and resolution 8, instead of one per pixel); samples near an edge, pentagons and cells that
 *   cross a face edge go to H3.
 * - **Positions and areas.** Lon/lat (WGS 84) rasters without rotation are exact per row and
 *   column; a sample's area is R²·Δλ·|Δsin φ| of its sub-row (H3's sphere). Any other CRS goes
 *   through a control grid transformed exactly by GDAL/PROJ every G pixels (G = 16, halved until
 *   bilinear interpolation of the 3D vectors is within 0.1% of a sample's size, at least 1 mm)
 *   and each control cell's spherical area is shared by its samples. Samples without a position
 *   (off the projection's domain) are dropped and logged.
 * - **Values.** continuous: area-weighted mean of the valid samples; count: each pixel's value is
 *   split over its samples by area share (1/k², or the sub-row's share of a lon/lat pixel), so
 *   the hexed total equals the raster total exactly; categorical: per-class area, majority class
 *   (ties → smallest code), its fraction and every class's fraction (sum 1). `coverage` = valid
 *   samples' area ÷ all the cell's samples' area (nodata samples are located too), or valid area ÷
 *   `h3.cellArea` (at most the former) for a cell on the raster's outer edge. Nodata (the COG's value) and NaN are invalid; cells without
 *   a valid sample are omitted. Multi-band: one column per band, each over its own valid samples.
 * - **Memory** is bounded: tiles are read one at a time (one prefetched), per-cell sums live in
 *   typed arrays and are spilled as partial sums to a DuckDB file when too many cells are open;
 *   DuckDB adds them up, sorts by cell and writes the Parquet partition.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOUBLE, DuckDBDataChunk, INTEGER, UBIGINT, type DuckDBAppender, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import gdal, { type Dataset, type RasterBand } from 'gdal-async';
import * as h3 from 'h3-js';
import { CommandError } from '../core/errors.ts';
import { expectScratch } from '../core/disk-full.ts';
import type { CogInfo } from './cog.ts';
import { configureGdalS3, toGdalPath } from '../io/gdal.ts';
import { sqlIdent, sqlString } from '../core/text.ts';
import { H3Engine } from '../geo/h3/engine.ts';
import { parentSql } from '../geo/h3/hierarchy.ts';
import { configureGdalCache, openDuckDB, readLimits, type Limits } from '../core/limits.ts';
import { findWork, LEAF, rasterBorder, RasterGeometry, TileGeometry, UnitRegion, type TileWork } from './cells.ts';
import { log, Progress } from '../core/log.ts';
import { workUnitIndex, type RawOptions } from '../stage.ts';
import { rasterHexStageDef, type ValueKind } from './stages.ts';
import { joinUrl, listLocalFiles, Storage } from '../io/storage.ts';
import { bandColumns, baseCells, commonOptions, decimal, fingerprint, RASTER_UNITS, type RasterUnitStats } from './raster-layer.ts';
import { CellSums, UnitHexer } from './unit-hexer.ts';

const STAGE = 'raster-hex';

/** What {@link rasterHexStage} did (also logged). */
export interface RasterHexResult {
  unit: number;
  cell: string;
  cells: number;
  tiles: number;
  pixelsRead: number;
  samples: number;
  /** Samples whose cell H3 was asked for (the others were found by cell boundaries). */
  h3Calls: number;
  validPixels: number;
  partition: string | null;
  seconds: number;
}

// ---------------------------------------------------------------------------------------------
// Options

/** The work unit: --index, else the Job's; one of the 122 base cells. */
function unitOf(index: number | undefined): number {
  const unit = index ?? workUnitIndex(process.env);
  if (unit >= RASTER_UNITS) throw new CommandError(`work unit ${unit} does not exist: raster-hex has ${RASTER_UNITS} units (0–${RASTER_UNITS - 1}, one per H3 base cell)`);
  return unit;
}

// ---------------------------------------------------------------------------------------------
// Spilled per-cell sums

/** Appends rows to DuckDB as raw little-endian column vectors (2,048 rows per data chunk). */
class RowSink {
  private readonly size = duckdb.vector_size();
  private readonly chunk: DuckDBDataChunk;
  private readonly cols: (Uint32Array<ArrayBuffer> | Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer>)[];
  private n = 0;
  rows = 0;

  constructor(
    private readonly appender: DuckDBAppender,
    private readonly types: ('u64' | 'f64' | 'i32')[],
  ) {
    const map: Record<string, DuckDBType> = { u64: UBIGINT, f64: DOUBLE, i32: INTEGER };
    this.chunk = DuckDBDataChunk.create(types.map((t) => map[t]));
    this.cols = types.map((t) => (t === 'u64' ? new Uint32Array(2 * this.size) : t === 'f64' ? new Float64Array(this.size) : new Int32Array(this.size)));
  }

  /** Writes one row: u64 columns take (lo, hi), the others one number. */
  row(values: number[]): void {
    let o = 0;
    for (let c = 0; c < this.types.length; c++) {
      const col = this.cols[c];
      if (this.types[c] === 'u64') {
        col[2 * this.n] = values[o++];
        col[2 * this.n + 1] = values[o++];
      } else col[this.n] = values[o++];
    }
    if (++this.n === this.size) this.write();
  }

  private write(): void {
    if (this.n === 0) return;
    const c = this.chunk.chunk;
    duckdb.data_chunk_reset(c);
    this.cols.forEach((col, i) => {
      const bytes = this.types[i] === 'i32' ? 4 : 8;
      duckdb.copy_data_to_vector(duckdb.data_chunk_get_vector(c, i), 0, col.buffer, 0, this.n * bytes);
    });
    duckdb.data_chunk_set_size(c, this.n);
    this.appender.appendDataChunk(this.chunk);
    this.rows += this.n;
    this.n = 0;
  }

  close(): void {
    this.write();
    this.appender.closeSync();
  }
}

const pair: [number, number] = [0, 0];

/** Area of a cell (m², H3's sphere); h3-js takes the (low, high) pair as an index (no string). */
function cellAreaM2(lo: number, hi: number): number {
  pair[0] = lo;
  pair[1] = hi;
  return h3.cellArea(pair, 'm2');
}

// ---------------------------------------------------------------------------------------------
// raster-hex

/**
 * `coverage` from a cell's valid area `w`, its area `area`, the area `t` of all its samples (valid
 * or not) and `edge` (a sample on the raster's outer edge). Inside the raster the cell's samples
 * tile it, so w ÷ t is the valid share without the sampling noise of w ÷ area (a fully covered
 * cell gets exactly 1); a cell that may reach past the raster gets w ÷ area (not above w ÷ t).
 */
const COVERAGE_SQL = (w: string, area: string, t: string, edge: string) =>
  `least(CASE WHEN ${edge} = 1 THEN least(${w} / ${area}, ${w} / ${t}) ELSE ${w} / ${t} END, 1.0)`;

/**
 * Partial per-cell sums in a scratch DuckDB file, then one row per cell: the unit's Parquet
 * partition and its statistics.
 */
class PartialSums {
  private constructor(
    private readonly db: DuckDBConnection,
    private readonly sink: RowSink,
    private readonly totals: RowSink,
    private readonly kind: ValueKind,
    private readonly columns: string[],
    private readonly bands: number,
    /** Hexed value = aggregate × scale + offset (the cog info's). */
    private readonly scaling: { scale: number; offset: number },
  ) {}

  spills = 0;

  static async open(work: string, kind: ValueKind, columns: string[], bands: number, limits: Limits, scaling = { scale: 1, offset: 0 }): Promise<PartialSums> {
    const db = await openDuckDB({ share: 0.3, limits });
    try {
      await db.run(`ATTACH ${sqlString(join(work, 'cells.duckdb'))} AS spool`);
      await db.run('CREATE TABLE spool.tot (cell UBIGINT, t DOUBLE, edge INTEGER)');
      const totals = new RowSink(await db.createAppender('tot', 'main', 'spool'), ['u64', 'f64', 'i32']);
      if (kind === 'categorical') {
        await db.run('CREATE TABLE spool.part (cell UBIGINT, area DOUBLE, class INTEGER, w DOUBLE)');
        return new PartialSums(db, new RowSink(await db.createAppender('part', 'main', 'spool'), ['u64', 'f64', 'i32', 'f64']), totals, kind, columns, bands, scaling);
      }
      const cols = columns.flatMap((_, b) => [`v${b} DOUBLE`, ...(bands > 1 ? [`w${b} DOUBLE`] : [])]);
      await db.run(`CREATE TABLE spool.part (cell UBIGINT, area DOUBLE, w DOUBLE, ${cols.join(', ')})`);
      const types = ['u64', 'f64', 'f64', ...columns.flatMap(() => (bands > 1 ? ['f64', 'f64'] : ['f64']))] as ('u64' | 'f64')[];
      return new PartialSums(db, new RowSink(await db.createAppender('part', 'main', 'spool'), types), totals, kind, columns, bands, scaling);
    } catch (err) {
      db.closeSync();
      throw err;
    }
  }

  /** Appends the open sums (with each cell's area) and clears them. */
  spill(sums: CellSums): void {
    const area = new Float64Array(sums.n);
    for (let s = 0; s < sums.n; s++) area[s] = cellAreaM2(sums.lo[s], sums.hi[s]);
    const row: number[] = [];
    for (let s = 0; s < sums.n; s++) if (sums.t[s] > 0) this.totals.row([sums.lo[s], sums.hi[s], sums.t[s], sums.edge[s]]);
    if (this.kind === 'categorical') {
      for (const [key, w] of sums.cat) {
        const s = Math.floor(key / 4294967296);
        this.sink.row([sums.lo[s], sums.hi[s], area[s], (key % 4294967296) | 0, w]);
      }
    } else {
      for (let s = 0; s < sums.n; s++) {
        if (!(sums.w[s] > 0)) continue;
        row.length = 0;
        row.push(sums.lo[s], sums.hi[s], area[s], sums.w[s]);
        for (let b = 0; b < this.bands; b++) {
          row.push(sums.v[b][s]);
          if (this.bands > 1) row.push(sums.wb[b][s]);
        }
        this.sink.row(row);
      }
    }
    this.spills++;
    sums.clear();
  }

  /**
   * Adds up the partial sums into one row per cell (sorted by cell) in `spool.final`; returns the
   * number of cells.
   */
  async finish(res: number, parents: number[]): Promise<number> {
    this.sink.close();
    this.totals.close();
    await this.db.run('CREATE TABLE spool.cov AS SELECT cell, sum(t) AS t, max(edge) AS edge FROM spool.tot GROUP BY cell');
    const { db, kind, columns, bands } = this;
    const cellCol = sqlIdent(`h${res}`);
    const parentCols = parents.map((p) => `${parentSql('cell', p)} AS ${sqlIdent(`h${p}`)}`);
    let select: string;
    if (kind === 'categorical') {
      await db.run('CREATE TABLE spool.cw AS SELECT cell, class, sum(w) AS w, any_value(area) AS area FROM spool.part GROUP BY cell, class');
      select = `SELECT cell AS ${cellCol}, ${[...parentCols, ''].join(', ')}
          first(class ORDER BY w DESC, class) AS ${sqlIdent(columns[0])},
          max(w) / sum(w) AS fraction,
          map(list(class ORDER BY class), list(w / tot ORDER BY class)) AS fractions,
          ${COVERAGE_SQL('sum(w)', 'any_value(area)', 'any_value(t)', 'any_value(edge)')} AS coverage,
          ${parentSql('cell', 0)} AS h0
        FROM (SELECT *, sum(w) OVER (PARTITION BY cell) AS tot FROM spool.cw JOIN spool.cov USING (cell) WHERE w > 0)
        GROUP BY cell`;
    } else {
      const sums = columns.flatMap((_, b) => [`sum(v${b}) AS v${b}`, ...(bands > 1 ? [`sum(w${b}) AS w${b}`] : [])]);
      const values = columns.map((c, b) => {
        const raw = kind === 'count' ? `v${b}` : `v${b} / ${bands > 1 ? `w${b}` : 'w'}`;
        const { scale, offset } = this.scaling;
        const v = scale === 1 && offset === 0 ? raw : `(${raw}) * ${scale}${offset ? ` + ${offset}` : ''}`;
        return `${bands > 1 ? `CASE WHEN w${b} > 0 THEN ${v} END` : v} AS ${sqlIdent(c)}`;
      });
      select = `SELECT cell AS ${cellCol}, ${[...parentCols, ...values].join(', ')},
          ${COVERAGE_SQL('w', 'area', 't', 'edge')} AS coverage, ${parentSql('cell', 0)} AS h0
        FROM (SELECT cell, any_value(area) AS area, sum(w) AS w, ${sums.join(', ')} FROM spool.part GROUP BY cell)
        JOIN spool.cov USING (cell)
        WHERE w > 0`;
    }
    await db.run(`CREATE TABLE spool.final AS ${select} ORDER BY ${cellCol}`);
    return Number((await db.runAndReadAll('SELECT count(*) FROM spool.final')).getRows()[0][0]);
  }

  /** Writes `spool.final` as hive partition(s) by h0 under `dir` (DuckDB's naming). */
  async copy(dir: string, res: number): Promise<void> {
    await this.db.run(`COPY (SELECT * FROM spool.final ORDER BY ${sqlIdent(`h${res}`)}) TO ${sqlString(dir)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (h0), ROW_GROUP_SIZE 100000)`);
  }

  /** Per value column min, max, sum (continuous, count) or cells per majority class (categorical). */
  async stats(): Promise<{ columns: RasterUnitStats['columns']; classes?: Record<string, number> }> {
    if (this.kind === 'categorical') {
      const classes: Record<string, number> = {};
      const cls = sqlIdent(this.columns[0]);
      for (const [c, n] of (await this.db.runAndReadAll(`SELECT ${cls}, count(*) FROM spool.final GROUP BY ${cls} ORDER BY ${cls}`)).getRows()) classes[String(c)] = Number(n);
      return { columns: {}, classes };
    }
    const parts = this.columns.map((c) => `min(${sqlIdent(c)}), max(${sqlIdent(c)}), sum(${sqlIdent(c)})`);
    const row = (await this.db.runAndReadAll(`SELECT ${parts.join(', ')} FROM spool.final`)).getRows()[0];
    const num = (x: unknown) => (x === null || x === undefined ? null : Number(x));
    return { columns: Object.fromEntries(this.columns.map((c, b) => [c, { min: num(row[3 * b]), max: num(row[3 * b + 1]), sum: num(row[3 * b + 2]) }])) };
  }

  close(): void {
    this.db.closeSync();
  }
}

/** One H3 engine per process (loading it evaluates h3-js again): units run in a row reuse it. */
let engine: H3Engine | undefined;

/**
 * `raster-hex`: work unit i (H3 base cell i) of a COG → `<out>/h0=<cell>/data_0.parquet` and
 * `<stats>/unit-<i>.json`. A unit with no cell removes its partition (a re-run may cover less).
 */
export async function rasterHexStage(opts: RawOptions): Promise<RasterHexResult> {
  const started = Date.now();
  const o = rasterHexStageDef.parse(opts);
  const unit = unitOf(o.index);
  const { input, out, statsDir, kind, res, parents, storage, info, infoText } = await commonOptions(o);
  if (kind === 'categorical' && info.bands.length !== 1)
    throw new CommandError(`a categorical raster must have one band, '${input}' has ${info.bands.length}: keep one with cog --bands`);
  const base = baseCells()[unit];
  const baseNumber = h3.getBaseCellNumber(base);
  const columns = bandColumns(info, kind);
  const dir = `h0=${decimal(base)}`;
  const partition: UnitPartition = { base, dir, url: joinUrl(out, dir, 'data_0.parquet') };

  configureGdalS3();
  const limits = readLimits();
  // Tiles are read once each (one prefetched): a small block cache is enough, and peak RSS stays low.
  configureGdalCache({ share: 0.02, limits });
  const ds = await openCog(input);
  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), `cng-raster-hex-${unit}-`));
  let partial: PartialSums | undefined;
  try {
    const { width, height, geom, bands, nodata, T } = checkedRaster(ds, info, input, o.info);
    const tiles = findWork(geom, new UnitRegion(base, res), width, height, T);
    expectScratch(work, tiles.length * T * T * 8); // the spilled sums and the partition: at most ~8 B a pixel read
    log(STAGE, `unit ${unit} (base cell ${baseNumber}, ${base}): ${tiles.length} tile(s) of ${T}×${T} to read, ${kind}, resolution ${res}, parents ${parents.join(',') || '-'}${geom.direct ? ', lon/lat' : ''} → ${partition.url}`);

    const sums = new CellSums(bands.length, baseNumber);
    const hexer = new UnitHexer(kind, res, nodata, sums, (engine ??= new H3Engine()), input, rasterBorder(geom, width, height));
    // open cells before a spill: ~150 B each (Map entry, typed arrays), at most 1 Mi (≈ 150 MB);
    // CNG_RASTER_SPILL_CELLS overrides (tests make it tiny to exercise spilling)
    const maxOpen = Number(process.env.CNG_RASTER_SPILL_CELLS) || Math.max(1 << 16, Math.min(1 << 20, Math.floor((limits.memoryBytes * 0.05) / (150 + 16 * bands.length))));
    if (tiles.length > 0) partial = await PartialSums.open(work, kind, columns, bands.length, limits, { scale: info.scale ?? 1, offset: info.offset ?? 0 });
    const pixelsRead = await hexTiles(tiles, bands, geom, res, hexer, partial, maxOpen);
    if (hexer.dropped > 0) log(STAGE, `unit ${unit}: ${hexer.dropped} valid sample(s) have no position on Earth (outside the projection's domain) and were left out`);

    // Parquet: partial sums → one row per cell, sorted, in h0=<cell>/data_0.parquet
    const cells = partial ? await partial.finish(res, parents) : 0;
    let written: PartitionFacts = {
      bytes: 0,
      columns: Object.fromEntries(kind === 'categorical' ? [] : columns.map((c) => [c, { min: null, max: null, sum: null }])),
      classes: kind === 'categorical' ? {} : undefined,
    };
    if (cells > 0) written = await uploadPartition(partial!, res, work, storage, out, partition);
    else if ((await storage.list(joinUrl(out, partition.dir))).length > 0) await storage.deletePrefix(joinUrl(out, partition.dir)); // an earlier run's

    const seconds = (Date.now() - started) / 1000;
    const stats: RasterUnitStats = {
      version: 1,
      unit,
      cell: base,
      h0: decimal(base),
      fingerprint: fingerprint(infoText, kind, res, parents),
      valueKind: kind,
      resolution: res,
      parents,
      cells,
      partition: cells > 0 ? partition.url : null,
      bytes: written.bytes,
      validPixels: hexer.validPixels,
      columns: written.columns,
      ...(written.classes ? { classes: written.classes } : {}),
      tiles: tiles.length,
      samples: hexer.samples,
      seconds,
    };
    await storage.writeText(joinUrl(statsDir, `unit-${unit}.json`), JSON.stringify(stats, null, 2) + '\n');
    const rate = seconds > 0 ? Math.round(pixelsRead / seconds) : 0;
    log(
      STAGE,
      `unit ${unit}: ${cells} cells from ${pixelsRead} pixels read (${hexer.samples} samples, ${hexer.locator.h3Calls} H3 lookups, ${partial?.spills ?? 0} spill(s)) in ${seconds.toFixed(1)} s (${rate} pixels/s)${cells > 0 ? ` → ${partition.url}` : ''}`,
    );
    return { unit, cell: base, cells, tiles: tiles.length, pixelsRead, samples: hexer.samples, h3Calls: hexer.locator.h3Calls, validPixels: hexer.validPixels, partition: stats.partition, seconds };
  } finally {
    partial?.close();
    ds.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** Opens the COG (GDAL's first error line as a CommandError when it cannot). */
async function openCog(input: string): Promise<Dataset> {
  try {
    return await gdal.openAsync(toGdalPath(input));
  } catch (err) {
    throw new CommandError(`cannot open '${input}': ${String((err as Error).message).split('\n')[0]}`);
  }
}

/**
 * The COG as raster-hex reads it, checked against the cog stage's info (`infoUrl`): size, geometry,
 * bands, each band's nodata (as the band stores it) and the tile size T (the COG's square blocks,
 * else 512).
 */
function checkedRaster(ds: Dataset, info: CogInfo, input: string, infoUrl: string) {
  const { x: width, y: height } = ds.rasterSize;
  const bandCount = ds.bands.count();
  if (width !== info.width || height !== info.height || bandCount !== info.bands.length)
    throw new CommandError(`'${input}' is ${width}×${height} with ${bandCount} band(s), but '${infoUrl}' says ${info.width}×${info.height} with ${info.bands.length}: re-run cog`);
  if (!ds.srs) throw new CommandError(`'${input}' has no CRS`);
  const gt = ds.geoTransform;
  if (!gt) throw new CommandError(`'${input}' has no geotransform`);
  const geom = new RasterGeometry(ds.srs, gt);
  const bands = Array.from({ length: bandCount }, (_, i) => ds.bands.get(i + 1));
  const nodata = bands.map((b) => {
    const nd = b.noDataValue ?? info.nodata;
    if (nd === null || nd === undefined) return null;
    return b.dataType === gdal.GDT_Float32 ? Math.fround(nd) : nd;
  });
  const block = bands[0].blockSize;
  const T = block.x === block.y && block.x >= LEAF && block.x <= 2048 && block.x % LEAF === 0 ? block.x : 512;
  return { width, height, geom, bands, nodata, T };
}

/**
 * Reads the unit's tiles (one ahead while the current one is hexed) and hexes their leaves,
 * spilling the open sums to `partial` whenever `maxOpen` entries are open, and at the end. Returns
 * the number of pixels read.
 */
async function hexTiles(tiles: TileWork[], bands: RasterBand[], geom: RasterGeometry, res: number, hexer: UnitHexer, partial: PartialSums | undefined, maxOpen: number): Promise<number> {
  const sums = hexer.sums;
  const read = (t: TileWork) => Promise.all(bands.map((b) => b.pixels.readAsync(t.x, t.y, t.w, t.h, new Float64Array(t.w * t.h)) as Promise<Float64Array>));
  const progress = new Progress(STAGE, 'tiles', tiles.length);
  let pixelsRead = 0;
  const tg = new TileGeometry(geom, res);
  let next = tiles.length > 0 ? read(tiles[0]) : null;
  for (let ti = 0; ti < tiles.length; ti++) {
    const tile = tiles[ti];
    const data = await next!;
    next = ti + 1 < tiles.length ? read(tiles[ti + 1]) : null;
    pixelsRead += tile.w * tile.h;
    tg.setTile(tile);
    for (const leaf of tile.leaves) {
      hexer.leaf(tg, leaf, data);
      if (sums.open >= maxOpen) {
        partial!.spill(sums);
        hexer.locator.reset();
      }
    }
    if (ti + 1 < tiles.length) progress.update(ti + 1);
  }
  if (partial) partial.spill(sums);
  if (tiles.length > 0) progress.done(tiles.length);
  return pixelsRead;
}

/** A unit's base cell and its partition under --out: `h0=<cell as decimal>` and its one file. */
interface UnitPartition {
  base: string;
  dir: string;
  url: string;
}

/** What a unit wrote to its partition: the file's size and the value statistics. */
interface PartitionFacts {
  bytes: number;
  columns: RasterUnitStats['columns'];
  classes?: Record<string, number>;
}

/**
 * Writes the unit's cells (one row each, sorted) to its partition, removes anything else under
 * the partition (another writer's files are not ours) and returns what was written.
 */
async function uploadPartition(partial: PartialSums, res: number, work: string, storage: Storage, out: string, partition: UnitPartition): Promise<PartitionFacts> {
  const dir = join(work, 'hex');
  await partial.copy(dir, res);
  const files = await listLocalFiles(dir);
  if (files.length !== 1 || files[0] !== `${partition.dir}/data_0.parquet`) throw new Error(`unexpected partition files ${files.join(', ')} for base cell ${partition.base}`);
  const local = join(dir, files[0]);
  const bytes = (await stat(local)).size;
  await storage.upload(local, partition.url);
  for (const o of await storage.list(joinUrl(out, partition.dir))) if (o.url !== partition.url) await storage.deletePrefix(o.url);
  return { bytes, ...(await partial.stats()) };
}

/**
 * The work units (base cells) whose region a raster may touch, by the same footprint test as
 * raster-hex at tile level: the other units find nothing to read. For benchmarks and planning.
 */
export async function rasterUnits(input: string, res: number): Promise<number[]> {
  configureGdalS3();
  const ds = await gdal.openAsync(toGdalPath(input));
  try {
    if (!ds.srs || !ds.geoTransform) throw new CommandError(`'${input}' has no CRS or geotransform`);
    const geom = new RasterGeometry(ds.srs, ds.geoTransform);
    const { x: width, y: height } = ds.rasterSize;
    const cells = baseCells();
    return cells.map((b, i) => (findWork(geom, new UnitRegion(b, res), width, height, 512, false).length > 0 ? i : -1)).filter((i) => i >= 0);
  } finally {
    ds.close();
  }
}
