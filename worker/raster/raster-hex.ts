/**
 * The raster side of the H3 pipeline (issue #5): `raster-hex` turns one H3 base cell's share of a
 * COG into its `h0=<cell>` partition of per-cell values, `raster-manifest` checks that all 122 units
 * ran and writes the layer's manifest.json. docs/stages.md is the contract; the geometry is in
 * worker/rastercells.ts. The method:
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
 *   gives, always. H3 is asked only when needed ({@link CellLocator}): a cell on one icosahedron
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
 *   area ÷ `h3.cellArea` (at most 1). Nodata (the COG's value) and NaN are invalid; cells without
 *   a valid sample are omitted. Multi-band: one column per band, each over its own valid samples.
 * - **Memory** is bounded: tiles are read one at a time (one prefetched), per-cell sums live in
 *   typed arrays and are spilled as partial sums to a DuckDB file when too many cells are open;
 *   DuckDB adds them up, sorts by cell and writes the Parquet partition.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOUBLE, DuckDBDataChunk, INTEGER, UBIGINT, type DuckDBAppender, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import gdal, { type Dataset } from 'gdal-async';
import * as h3 from 'h3-js';
import { CommandError } from '../core/errors.ts';
import type { CogInfo } from './cog.ts';
import { configureGdalS3, toGdalPath } from '../io/gdal.ts';
import { sqlIdent, sqlString } from '../core/text.ts';
import { H3Engine } from '../geo/h3/engine.ts';
import { parentSql } from '../geo/h3/hierarchy.ts';
import { configureGdalCache, openDuckDB, readLimits, type Limits } from '../core/limits.ts';
import { CellLocator, findWork, LEAF, MAX_K, RasterGeometry, TileGeometry, UnitRegion, type TileWork } from './cells.ts';
import { indexRanges, log, Progress } from '../core/log.ts';
import { coarserParents, workUnitIndex, type OptionsOf, type RawOptions } from '../stage.ts';
import { rasterHexStageDef, rasterManifestStageDef, type ValueKind } from './stages.ts';
import { joinUrl, listLocalFiles, Storage } from '../io/storage.ts';

const STAGE = 'raster-hex';
/** Number of work units: the H3 base cells. */
export const RASTER_UNITS = 122;

/** What one raster-hex unit writes to `<stats>/unit-<i>.json` for raster-manifest. */
export interface RasterUnitStats {
  version: 1;
  unit: number;
  /** The base cell as an H3 index string and as the decimal UBIGINT of the partition name. */
  cell: string;
  h0: string;
  /** Fingerprint of the info JSON and the options: raster-manifest ignores stats of another run. */
  fingerprint: string;
  valueKind: ValueKind;
  resolution: number;
  parents: number[];
  cells: number;
  /** The partition written (null when the unit has no cell) and its size. */
  partition: string | null;
  bytes: number;
  /** Valid pixels whose samples fell in this unit (fractions of pixels when sub-sampled). */
  validPixels: number;
  /** Per value column: min, max and sum of the hexed values (continuous and count). */
  columns: Record<string, { min: number | null; max: number | null; sum: number | null }>;
  /** Categorical: cells per majority class. */
  classes?: Record<string, number>;
  tiles: number;
  samples: number;
  seconds: number;
}

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

async function readInfo(storage: Storage, url: string): Promise<{ info: CogInfo; text: string }> {
  const text = await storage.readText(url);
  let info: CogInfo;
  try {
    info = JSON.parse(text) as CogInfo;
  } catch (err) {
    throw new CommandError(`'${url}' is not valid JSON: ${(err as Error).message}`);
  }
  if (info?.version !== 1) throw new CommandError(`'${url}': unsupported raster info version ${String(info?.version)} (expected 1)`);
  if (!Number.isInteger(info.width) || !Number.isInteger(info.height) || !Array.isArray(info.bands) || info.bands.length === 0)
    throw new CommandError(`'${url}': a raster info needs width, height and bands`);
  return { info, text };
}

/** The H3 base cells in base-cell-number order: unit i ↔ `baseCells()[i]`. */
export function baseCells(): string[] {
  return h3.getRes0Cells().sort((a, b) => h3.getBaseCellNumber(a) - h3.getBaseCellNumber(b));
}

/** A cell index string as the decimal UBIGINT DuckDB writes in partition names. */
function decimal(cell: string): string {
  return BigInt(`0x${cell}`).toString();
}

/**
 * The value columns of a layer: `value` for one band (categorical: `class`, `fraction`,
 * `fractions`), else one column per band named by the band's name slug (lower case,
 * non-alphanumerics → `_`), made unique and kept clear of the cell and `coverage` columns.
 */
export function bandColumns(info: Pick<CogInfo, 'bands'>, kind: ValueKind): string[] {
  if (kind === 'categorical') return ['class'];
  if (info.bands.length === 1) return ['value'];
  const used = new Set<string>();
  return info.bands.map((b) => {
    let name = b.name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || `band_${b.band}`;
    if (/^\d/.test(name)) name = `band_${name}`;
    if (name === 'coverage' || /^h\d+$/.test(name) || used.has(name)) name = `${name}_${b.band}`;
    while (used.has(name)) name = `${name}_`;
    used.add(name);
    return name;
  });
}

function fingerprint(infoText: string, kind: ValueKind, res: number, parents: number[]): string {
  return createHash('sha256').update(`${infoText}\n${kind}\n${res}\n${parents.join(',')}`).digest('hex').slice(0, 16);
}

const METHODS: Record<ValueKind, string> = {
  continuous: 'area-weighted mean',
  count: 'area-weighted sum (mass-conserving)',
  categorical: 'majority class with per-class area fractions',
};

// ---------------------------------------------------------------------------------------------
// Per-cell sums

/**
 * Open per-cell sums of one unit, in typed arrays by slot (slot = Map lookup on the cell's
 * digits). Spilled as partial sums when too many cells are open.
 */
class CellSums {
  private readonly index = new Map<number, number>();
  n = 0;
  lo: Uint32Array;
  hi: Uint32Array;
  /** Valid area (m²): samples valid in any band. */
  w: Float64Array;
  /** Per band: Σ weight·value (continuous) or Σ share·value (count), and the band's valid area. */
  v: Float64Array[];
  wb: Float64Array[];
  /** Categorical: (slot · 2³² + class) → area. */
  readonly cat = new Map<number, number>();

  constructor(
    bands: number,
    private readonly baseCell: number,
    capacity = 1 << 16,
  ) {
    this.lo = new Uint32Array(capacity);
    this.hi = new Uint32Array(capacity);
    this.w = new Float64Array(capacity);
    this.v = Array.from({ length: bands }, () => new Float64Array(capacity));
    this.wb = Array.from({ length: bands > 1 ? bands : 0 }, () => new Float64Array(capacity));
  }

  /** The slot of a cell, or −1 when the cell belongs to another base cell (another unit). */
  slot(lo: number, hi: number): number {
    if (((hi >>> 13) & 0x7f) !== this.baseCell) return -1;
    const key = (hi & 0x1fff) * 4294967296 + lo;
    let s = this.index.get(key);
    if (s === undefined) {
      s = this.n++;
      if (s === this.lo.length) this.grow();
      this.index.set(key, s);
      this.lo[s] = lo;
      this.hi[s] = hi;
    }
    return s;
  }

  private grow(): void {
    const g = <T extends Float64Array | Uint32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.lo = g(this.lo);
    this.hi = g(this.hi);
    this.w = g(this.w);
    this.v = this.v.map(g);
    this.wb = this.wb.map(g);
  }

  clear(): void {
    this.index.clear();
    this.cat.clear();
    this.w.fill(0, 0, this.n);
    for (const a of this.v) a.fill(0, 0, this.n);
    for (const a of this.wb) a.fill(0, 0, this.n);
    this.n = 0;
  }

  /** Open entries (cells, plus class entries for categorical rasters). */
  get open(): number {
    return this.n + this.cat.size;
  }
}

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
 * Partial per-cell sums in a scratch DuckDB file, then one row per cell: the unit's Parquet
 * partition and its statistics.
 */
class PartialSums {
  private constructor(
    private readonly db: DuckDBConnection,
    private readonly sink: RowSink,
    private readonly kind: ValueKind,
    private readonly columns: string[],
    private readonly bands: number,
  ) {}

  spills = 0;

  static async open(work: string, kind: ValueKind, columns: string[], bands: number, limits: Limits): Promise<PartialSums> {
    const db = await openDuckDB({ share: 0.3, limits });
    try {
      await db.run(`ATTACH ${sqlString(join(work, 'cells.duckdb'))} AS spool`);
      if (kind === 'categorical') {
        await db.run('CREATE TABLE spool.part (cell UBIGINT, area DOUBLE, class INTEGER, w DOUBLE)');
        return new PartialSums(db, new RowSink(await db.createAppender('part', 'main', 'spool'), ['u64', 'f64', 'i32', 'f64']), kind, columns, bands);
      }
      const cols = columns.flatMap((_, b) => [`v${b} DOUBLE`, ...(bands > 1 ? [`w${b} DOUBLE`] : [])]);
      await db.run(`CREATE TABLE spool.part (cell UBIGINT, area DOUBLE, w DOUBLE, ${cols.join(', ')})`);
      const types = ['u64', 'f64', 'f64', ...columns.flatMap(() => (bands > 1 ? ['f64', 'f64'] : ['f64']))] as ('u64' | 'f64')[];
      return new PartialSums(db, new RowSink(await db.createAppender('part', 'main', 'spool'), types), kind, columns, bands);
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
    const { db, kind, columns, bands } = this;
    const cellCol = sqlIdent(`h${res}`);
    const parentCols = parents.map((p) => `${parentSql('cell', p)} AS ${sqlIdent(`h${p}`)}`);
    let select: string;
    if (kind === 'categorical') {
      await db.run('CREATE TABLE spool.cw AS SELECT cell, class, sum(w) AS w, any_value(area) AS area FROM spool.part GROUP BY cell, class');
      select = `SELECT cell AS ${cellCol}, ${[...parentCols, ''].join(', ')}
          first(class ORDER BY w DESC, class) AS class,
          max(w) / sum(w) AS fraction,
          map(list(class ORDER BY class), list(w / tot ORDER BY class)) AS fractions,
          least(sum(w) / any_value(area), 1.0) AS coverage,
          ${parentSql('cell', 0)} AS h0
        FROM (SELECT *, sum(w) OVER (PARTITION BY cell) AS tot FROM spool.cw WHERE w > 0)
        GROUP BY cell`;
    } else {
      const sums = columns.flatMap((_, b) => [`sum(v${b}) AS v${b}`, ...(bands > 1 ? [`sum(w${b}) AS w${b}`] : [])]);
      const values = columns.map((c, b) => {
        const v = kind === 'count' ? `v${b}` : `v${b} / ${bands > 1 ? `w${b}` : 'w'}`;
        return `${bands > 1 ? `CASE WHEN w${b} > 0 THEN ${v} END` : v} AS ${sqlIdent(c)}`;
      });
      select = `SELECT cell AS ${cellCol}, ${[...parentCols, ...values].join(', ')},
          least(w / area, 1.0) AS coverage, ${parentSql('cell', 0)} AS h0
        FROM (SELECT cell, any_value(area) AS area, sum(w) AS w, ${sums.join(', ')} FROM spool.part GROUP BY cell)
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
      for (const [c, n] of (await this.db.runAndReadAll('SELECT class, count(*) FROM spool.final GROUP BY class ORDER BY class')).getRows()) classes[String(c)] = Number(n);
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

/**
 * The per-sample work of one unit: validity, positions, cells (via {@link CellLocator}) and the
 * sums. Synchronous; the caller reads the tiles and spills.
 */
class UnitHexer {
  samples = 0;
  /** Valid pixels whose samples fell in this unit (1/k² per sample). */
  validPixels = 0;
  /** Valid samples without a position (outside the projection's domain). */
  dropped = 0;
  private readonly cellBuf = new Uint32Array(2);
  private readonly wRow = new Float64Array(LEAF * MAX_K);
  private readonly validPx = new Uint8Array(LEAF);
  private readonly bandOk: Uint8Array;
  readonly locator: CellLocator;

  constructor(
    private readonly kind: ValueKind,
    private readonly res: number,
    private readonly nodata: (number | null)[],
    private readonly sums: CellSums,
    private readonly engine: H3Engine,
    private readonly input: string,
  ) {
    this.bandOk = new Uint8Array(nodata.length * LEAF);
    this.locator = new CellLocator((lo, hi) => sums.slot(lo, hi), true);
  }

  /** Hexes one leaf window of a tile whose pixels (per band, tile-sized) are `data`. */
  leaf(tg: TileGeometry, leaf: TileWork['leaves'][number], data: Float64Array[]): void {
    const { kind, sums, nodata, validPx, bandOk, wRow, locator, cellBuf } = this;
    const tile = tg.tile;
    const bands = nodata.length;
    const k = tg.k;
    const inv = 1 / (k * k);
    const lx = leaf.x - tile.x;
    const ly = leaf.y - tile.y;
    const n = leaf.w * k;
    const j0 = lx * k;
    // Boundaries pay off when a cell gets many samples; otherwise H3 per sample is cheaper.
    locator.geometric = tg.samplesPerCell >= 24;
    let rowFirst = -1;
    let nextRowFirst = -1;
    for (let s = 0; s < leaf.h * k; s++) {
      const rowOff = (ly + Math.floor(s / k)) * tile.w + lx;
      if (s % k === 0) {
        // validity of this pixel row's pixels (any band)
        let any = 0;
        for (let c = 0; c < leaf.w; c++) {
          let ok = 0;
          for (let b = 0; b < bands; b++) {
            const val = data[b][rowOff + c];
            const good = val === val && val !== nodata[b] ? 1 : 0;
            bandOk[b * LEAF + c] = good;
            ok |= good;
          }
          if (ok && kind === 'categorical') {
            const val = data[0][rowOff + c];
            if (!Number.isInteger(val) || val < -2147483648 || val > 2147483647)
              throw new CommandError(`categorical raster '${this.input}' has a non-integer value ${val} at pixel (${leaf.x + c}, ${leaf.y + Math.floor(s / k)}): class codes must be integers`);
          }
          validPx[c] = ok;
          any |= ok;
        }
        if (!any) {
          s += k - 1; // the whole pixel row is nodata
          continue;
        }
      }
      tg.setRow(ly * k + s);
      tg.weights(j0, n, wRow);
      const share = tg.share;
      rowFirst = nextRowFirst; // the first cell of the previous row: likely this row's first too
      nextRowFirst = -1;
      let cur = -1; // locator entry of the previous sample
      // its edge normals, in locals: the common case (same cell as the previous sample) is six dot products
      let ax = 0, ay = 0, az = 0, bx = 0, by = 0, bz = 0, cx = 0, cy = 0, cz = 0, dx = 0, dy = 0, dz = 0, ex = 0, ey = 0, ez = 0, fx = 0, fy = 0, fz = 0;
      let curTestable = false;
      let slot = -1;
      let lastSlot = -1, lastClass = 0, acc = 0; // categorical: run of one class in one cell
      const { cosLng, sinLng, rowCos, rowSin } = tg;
      const direct = tg.direct;
      const m = CellLocator.MARGIN;
      for (let j = 0; j < n; j++) {
        const c = k === 1 ? j : (j / k) | 0;
        if (!validPx[c]) continue;
        const w = wRow[j];
        if (w === 0) {
          this.dropped++;
          continue;
        }
        let x: number, y: number, z: number;
        if (direct) {
          x = rowCos * cosLng[j0 + j];
          y = rowCos * sinLng[j0 + j];
          z = rowSin;
        } else {
          tg.vec(j0 + j);
          x = tg.x;
          y = tg.y;
          z = tg.z;
        }
        let inside = curTestable;
        let edge = -1; // the edge of the previous sample's cell the point is farthest beyond
        if (inside) {
          const d0 = ax * x + ay * y + az * z, d1 = bx * x + by * y + bz * z, d2 = cx * x + cy * y + cz * z;
          const d3 = dx * x + dy * y + dz * z, d4 = ex * x + ey * y + ez * z, d5 = fx * x + fy * y + fz * z;
          if (d0 <= m || d1 <= m || d2 <= m || d3 <= m || d4 <= m || d5 <= m) {
            inside = false;
            let min = -m;
            if (d0 < min) (min = d0), (edge = 0);
            if (d1 < min) (min = d1), (edge = 1);
            if (d2 < min) (min = d2), (edge = 2);
            if (d3 < min) (min = d3), (edge = 3);
            if (d4 < min) (min = d4), (edge = 4);
            if (d5 < min) (min = d5), (edge = 5);
          }
        }
        if (!inside) {
          let e = -1;
          if (edge >= 0) {
            const nb = locator.neighbour[6 * cur + edge];
            if (nb >= 0 && locator.test(nb, x, y, z) === 1) e = nb;
          }
          if (e < 0 && cur < 0 && rowFirst >= 0 && locator.test(rowFirst, x, y, z) === 1) e = rowFirst;
          if (e < 0) e = locator.search(x, y, z, cur);
          if (e < 0) {
            tg.cell(this.engine, this.res, j0 + j, cellBuf);
            locator.h3Calls++;
            e = locator.entry(cellBuf[0], cellBuf[1]);
          }
          if (edge >= 0) locator.neighbour[6 * cur + edge] = e;
          if (e !== cur) {
            cur = e;
            slot = locator.slot[e];
            curTestable = locator.testable[e] === 1;
            const nn = locator.normals;
            const o = 18 * e;
            ax = nn[o]; ay = nn[o + 1]; az = nn[o + 2]; bx = nn[o + 3]; by = nn[o + 4]; bz = nn[o + 5];
            cx = nn[o + 6]; cy = nn[o + 7]; cz = nn[o + 8]; dx = nn[o + 9]; dy = nn[o + 10]; dz = nn[o + 11];
            ex = nn[o + 12]; ey = nn[o + 13]; ez = nn[o + 14]; fx = nn[o + 15]; fy = nn[o + 16]; fz = nn[o + 17];
          }
          if (nextRowFirst < 0) nextRowFirst = e;
        }
        if (slot < 0) continue; // another unit's cell
        this.samples++;
        this.validPixels += inv;
        sums.w[slot] += w;
        if (kind === 'categorical') {
          const cls = data[0][rowOff + c];
          if (slot === lastSlot && cls === lastClass) acc += w;
          else {
            if (lastSlot >= 0) addClass(sums.cat, lastSlot, lastClass, acc);
            lastSlot = slot;
            lastClass = cls;
            acc = w;
          }
        } else if (bands === 1) {
          const val = data[0][rowOff + c];
          sums.v[0][slot] += kind === 'count' ? val * share : val * w;
        } else {
          for (let b = 0; b < bands; b++) {
            if (!bandOk[b * LEAF + c]) continue;
            const val = data[b][rowOff + c];
            sums.v[b][slot] += kind === 'count' ? val * share : val * w;
            sums.wb[b][slot] += w;
          }
        }
      }
      if (lastSlot >= 0) addClass(sums.cat, lastSlot, lastClass, acc);
    }
  }
}

function addClass(cat: Map<number, number>, slot: number, cls: number, w: number): void {
  const key = slot * 4294967296 + (cls >>> 0);
  cat.set(key, (cat.get(key) ?? 0) + w);
}

/** The options raster-hex and raster-manifest share, and the cog stage's info (its value kind must match). */
async function commonOptions(o: OptionsOf<typeof rasterManifestStageDef> | OptionsOf<typeof rasterHexStageDef>) {
  const { input, out, stats: statsDir, valueKind: kind, resolution: res } = o;
  const parents = coarserParents(o.parents, res).sort((a, b) => b - a);
  const storage = new Storage();
  const { info, text: infoText } = await readInfo(storage, o.info);
  if (info.valueKind !== kind)
    throw new CommandError(`--value-kind is '${kind}' but '${o.info}' was written for '${info.valueKind}': re-run cog or fix the dataset`);
  return { input, out, statsDir, kind, res, parents, storage, info, infoText };
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
  const partitionDir = `h0=${decimal(base)}`;
  const partitionUrl = joinUrl(out, partitionDir, 'data_0.parquet');

  configureGdalS3();
  const limits = readLimits();
  // Tiles are read once each (one prefetched): a small block cache is enough, and peak RSS stays low.
  configureGdalCache({ share: 0.02, limits });
  let ds: Dataset;
  try {
    ds = await gdal.openAsync(toGdalPath(input));
  } catch (err) {
    throw new CommandError(`cannot open '${input}': ${String((err as Error).message).split('\n')[0]}`);
  }
  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), `cng-raster-hex-${unit}-`));
  let partial: PartialSums | undefined;
  try {
    const { x: width, y: height } = ds.rasterSize;
    const bandCount = ds.bands.count();
    if (width !== info.width || height !== info.height || bandCount !== info.bands.length)
      throw new CommandError(`'${input}' is ${width}×${height} with ${bandCount} band(s), but '${o.info}' says ${info.width}×${info.height} with ${info.bands.length}: re-run cog`);
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

    const tiles = findWork(geom, new UnitRegion(base, res), width, height, T);
    log(STAGE, `unit ${unit} (base cell ${baseNumber}, ${base}): ${tiles.length} tile(s) of ${T}×${T} to read, ${kind}, resolution ${res}, parents ${parents.join(',') || '-'}${geom.direct ? ', lon/lat' : ''} → ${partitionUrl}`);

    const sums = new CellSums(bandCount, baseNumber);
    const hexer = new UnitHexer(kind, res, nodata, sums, (engine ??= new H3Engine()), input);
    // open cells before a spill: ~150 B each (Map entry, typed arrays), at most 1 Mi (≈ 150 MB);
    // CNG_RASTER_SPILL_CELLS overrides (tests make it tiny to exercise spilling)
    const maxOpen = Number(process.env.CNG_RASTER_SPILL_CELLS) || Math.max(1 << 16, Math.min(1 << 20, Math.floor((limits.memoryBytes * 0.05) / (150 + 16 * bandCount))));
    if (tiles.length > 0) partial = await PartialSums.open(work, kind, columns, bandCount, limits);
    // Reads: one tile ahead while the current one is hexed.
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
    if (hexer.dropped > 0) log(STAGE, `unit ${unit}: ${hexer.dropped} valid sample(s) have no position on Earth (outside the projection's domain) and were left out`);

    // Parquet: partial sums → one row per cell, sorted, in h0=<cell>/data_0.parquet
    const cells = partial ? await partial.finish(res, parents) : 0;
    let bytes = 0;
    let colStats: RasterUnitStats['columns'] = Object.fromEntries(kind === 'categorical' ? [] : columns.map((c) => [c, { min: null, max: null, sum: null }]));
    let classes: Record<string, number> | undefined = kind === 'categorical' ? {} : undefined;
    if (cells > 0) {
      const dir = join(work, 'hex');
      await partial!.copy(dir, res);
      const files = await listLocalFiles(dir);
      if (files.length !== 1 || files[0] !== `${partitionDir}/data_0.parquet`) throw new Error(`unexpected partition files ${files.join(', ')} for base cell ${base}`);
      const local = join(dir, files[0]);
      bytes = (await stat(local)).size;
      await storage.upload(local, partitionUrl);
      // anything else under the partition (another writer's files) is not ours
      for (const o of await storage.list(joinUrl(out, partitionDir))) if (o.url !== partitionUrl) await storage.deletePrefix(o.url);
      ({ columns: colStats, classes } = await partial!.stats());
    } else if ((await storage.list(joinUrl(out, partitionDir))).length > 0) await storage.deletePrefix(joinUrl(out, partitionDir)); // an earlier run's

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
      partition: cells > 0 ? partitionUrl : null,
      bytes,
      validPixels: hexer.validPixels,
      columns: colStats,
      ...(classes ? { classes } : {}),
      tiles: tiles.length,
      samples: hexer.samples,
      seconds,
    };
    await storage.writeText(joinUrl(statsDir, `unit-${unit}.json`), JSON.stringify(stats, null, 2) + '\n');
    const rate = seconds > 0 ? Math.round(pixelsRead / seconds) : 0;
    log(
      STAGE,
      `unit ${unit}: ${cells} cells from ${pixelsRead} pixels read (${hexer.samples} samples, ${hexer.locator.h3Calls} H3 lookups, ${partial?.spills ?? 0} spill(s)) in ${seconds.toFixed(1)} s (${rate} pixels/s)${cells > 0 ? ` → ${partitionUrl}` : ''}`,
    );
    return { unit, cell: base, cells, tiles: tiles.length, pixelsRead, samples: hexer.samples, h3Calls: hexer.locator.h3Calls, validPixels: hexer.validPixels, partition: stats.partition, seconds };
  } finally {
    partial?.close();
    ds.close();
    await rm(work, { recursive: true, force: true });
  }
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


// ---------------------------------------------------------------------------------------------
// raster-manifest

/** `<layer>/manifest.json` of a raster layer (docs/stages.md). */
export interface RasterManifest {
  version: 1;
  kind: 'raster';
  valueKind: ValueKind;
  method: string;
  resolution: number;
  parents: number[];
  cells: number;
  partitions: number;
  nodataShare: number;
  valueRange?: Record<string, [number, number]>;
  classes?: Record<string, number>;
  total?: Record<string, number>;
  bands: { band: number; name: string; dataType: string; column: string }[];
  nodata: number | null;
  nodataCollapsed: number[];
  cog: { url: string; bytes: number; width: number; height: number; crs: string; overviews: number; copied: boolean };
  bytes: number;
}

/**
 * `raster-manifest`: all 122 unit stats of this run (same info and options) must be present, else
 * a CommandError lists the missing units. Removes `h0=` partitions under --out that no unit wrote,
 * then writes manifest.json.
 */
export async function rasterManifestStage(opts: RawOptions): Promise<RasterManifest> {
  const o = rasterManifestStageDef.parse(opts);
  const manifestUrl = o.manifest;
  const { input, out, statsDir, kind, res, parents, storage, info, infoText } = await commonOptions(o);
  const fp = fingerprint(infoText, kind, res, parents);

  const present = new Map((await storage.list(statsDir)).map((o) => [o.url.split('/').pop()!, o.url]));
  const read = await Promise.all(
    Array.from({ length: RASTER_UNITS }, async (_, i) => {
      const url = present.get(`unit-${i}.json`);
      if (!url) return null;
      try {
        return JSON.parse(await storage.readText(url)) as RasterUnitStats;
      } catch {
        return undefined; // unreadable: as stale
      }
    }),
  );
  const units: RasterUnitStats[] = [];
  const missing: number[] = [];
  let stale = 0;
  read.forEach((s, i) => {
    if (s === null) missing.push(i);
    else if (s?.version !== 1 || s.unit !== i || s.fingerprint !== fp) {
      missing.push(i);
      stale++;
    } else units.push(s);
  });
  if (missing.length > 0)
    throw new CommandError(
      `${missing.length} of ${RASTER_UNITS} raster-hex units missing under '${statsDir}': units ${indexRanges(missing)}${stale ? ` (${stale} of them from another run: other input or options)` : ''}; re-run those indices`,
    );

  // Stale partitions: h0=… objects under --out that no unit wrote in this run.
  const written = new Set(units.filter((u) => u.cells > 0).map((u) => `h0=${u.h0}/data_0.parquet`));
  const prefix = out.replace(/\/+$/, '');
  let removed = 0;
  let bytes = 0;
  const listed = await storage.list(out);
  const found = new Set<string>();
  for (const o of listed) {
    const rel = o.url.startsWith(prefix + '/') ? o.url.slice(prefix.length + 1) : '';
    if (written.has(rel)) {
      found.add(rel);
      bytes += o.size;
    }
  }
  const lost = units.filter((u) => u.cells > 0 && !found.has(`h0=${u.h0}/data_0.parquet`)).map((u) => u.unit);
  if (lost.length > 0) throw new CommandError(`the partitions of raster-hex units ${indexRanges(lost)} are missing under '${out}' though their stats list cells; re-run those indices`);
  for (const o of listed) {
    const rel = o.url.startsWith(prefix + '/') ? o.url.slice(prefix.length + 1) : '';
    if (/^h0=\d+\//.test(rel) && !written.has(rel)) removed += await storage.deletePrefix(o.url);
  }

  const columns = bandColumns(info, kind);
  const totalPixels = info.width * info.height;
  const valid = units.reduce((a, u) => a + u.validPixels, 0);
  const manifest: RasterManifest = {
    version: 1,
    kind: 'raster',
    valueKind: kind,
    method: METHODS[kind],
    resolution: res,
    parents,
    cells: units.reduce((a, u) => a + u.cells, 0),
    partitions: written.size,
    nodataShare: totalPixels > 0 ? Math.min(1, Math.max(0, round(1 - valid / totalPixels, 9))) : 0,
    bands: info.bands.map((b, i) => ({ ...b, column: kind === 'categorical' ? 'class' : columns[i] })),
    nodata: info.nodata,
    nodataCollapsed: info.nodataCollapsed ?? [],
    cog: { url: input, bytes: info.bytes, width: info.width, height: info.height, crs: info.crs, overviews: info.overviews, copied: info.copied },
    bytes,
  };
  if (kind === 'categorical') {
    const classes: Record<string, number> = {};
    for (const u of units) for (const [c, n] of Object.entries(u.classes ?? {})) classes[c] = (classes[c] ?? 0) + n;
    manifest.classes = Object.fromEntries(Object.entries(classes).sort((a, b) => Number(a[0]) - Number(b[0])));
  } else {
    manifest.valueRange = {};
    for (const c of columns) {
      const mins = units.map((u) => u.columns[c]?.min).filter((x): x is number => typeof x === 'number');
      const maxs = units.map((u) => u.columns[c]?.max).filter((x): x is number => typeof x === 'number');
      if (mins.length) manifest.valueRange[c] = [Math.min(...mins), Math.max(...maxs)];
    }
    if (kind === 'count') {
      manifest.total = {};
      for (const c of columns) manifest.total[c] = units.reduce((a, u) => a + (u.columns[c]?.sum ?? 0), 0);
    }
  }
  await storage.writeText(manifestUrl, JSON.stringify(manifest, null, 2) + '\n');
  log('raster-manifest', `${manifest.cells} cells in ${manifest.partitions} partitions (${bytes} bytes), nodata share ${manifest.nodataShare}; removed ${removed} stale object(s) → ${manifestUrl}`);
  return manifest;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

