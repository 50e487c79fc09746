/**
 * The per-sample work of one raster-hex unit (the method is in raster-hex.ts's module comment):
 * which pixels are valid, where each sample is, which cell it is in (via {@link CellLocator}),
 * and the open per-cell sums it adds to ({@link CellSums}). Synchronous: raster-hex reads the
 * tiles and spills the sums.
 */
import { CommandError } from '../core/errors.ts';
import type { H3Engine } from '../geo/h3/engine.ts';
import { CellLocator, LEAF, MAX_K, type RasterBorder, type TileGeometry, type TileWork } from './cells.ts';
import type { ValueKind } from './stages.ts';

/**
 * Open per-cell sums of one unit, in typed arrays by slot (slot = Map lookup on the cell's
 * digits). Spilled as partial sums when too many cells are open.
 */
export class CellSums {
  private readonly index = new Map<number, number>();
  n = 0;
  lo: Uint32Array;
  hi: Uint32Array;
  /** Valid area (m²): samples valid in any band. */
  w: Float64Array;
  /** Area (m²) of every sample in the cell, valid or not: coverage's denominator inside the raster. */
  t: Float64Array;
  /** 1 when a sample of the cell comes from a pixel on the raster's outer edge (the cell may reach beyond it). */
  edge: Uint8Array;
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
    this.t = new Float64Array(capacity);
    this.edge = new Uint8Array(capacity);
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
    const g = <T extends Float64Array | Uint32Array | Uint8Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.lo = g(this.lo);
    this.hi = g(this.hi);
    this.w = g(this.w);
    this.t = g(this.t);
    this.edge = g(this.edge);
    this.v = this.v.map(g);
    this.wb = this.wb.map(g);
  }

  clear(): void {
    this.index.clear();
    this.cat.clear();
    this.w.fill(0, 0, this.n);
    this.t.fill(0, 0, this.n);
    this.edge.fill(0, 0, this.n);
    for (const a of this.v) a.fill(0, 0, this.n);
    for (const a of this.wb) a.fill(0, 0, this.n);
    this.n = 0;
  }

  /** Open entries (cells, plus class entries for categorical rasters). */
  get open(): number {
    return this.n + this.cat.size;
  }
}

/** The per-sample work of one unit: validity, positions, cells and the sums. */
export class UnitHexer {
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
  /** Categorical: the run of one class in one cell along a sample row, added to the sums as one. */
  private runSlot = -1;
  private runClass = 0;
  private runArea = 0;

  constructor(
    private readonly kind: ValueKind,
    private readonly res: number,
    private readonly nodata: (number | null)[],
    readonly sums: CellSums,
    private readonly engine: H3Engine,
    private readonly input: string,
    private readonly border: RasterBorder,
  ) {
    this.bandOk = new Uint8Array(nodata.length * LEAF);
    this.locator = new CellLocator((lo, hi) => sums.slot(lo, hi), true);
  }

  /**
   * Hexes one leaf window of a tile whose pixels (per band, tile-sized) are `data`. Every sample
   * is located, valid or not: a cell's samples of every kind add up its area inside the raster,
   * the denominator of `coverage` (see {@link CellSums.t}).
   */
  leaf(tg: TileGeometry, leaf: Leaf, data: Float64Array[]): void {
    const tile = tg.tile;
    const k = tg.k;
    const lx = leaf.x - tile.x;
    const ly = leaf.y - tile.y;
    const { border } = this;
    // Boundaries pay off when a cell gets many samples; otherwise H3 per sample is cheaper.
    this.locator.geometric = tg.samplesPerCell >= 24;
    let rowFirst = -1; // the first cell of the previous sample row: likely the next row's first too
    for (let s = 0; s < leaf.h * k; s++) {
      const py = leaf.y + Math.floor(s / k);
      const rowOff = (py - tile.y) * tile.w + lx;
      if (s % k === 0) this.validity(data, rowOff, leaf, py);
      const edgeRow = py === border.top || py === border.bottom;
      rowFirst = this.sampleRow(tg, ly * k + s, lx * k, leaf.w * k, data, rowOff, rowFirst, edgeRow, leaf.x);
    }
  }

  /**
   * The validity of one pixel row of a leaf (pixels from `rowOff` in `data`, image row `y`):
   * `bandOk` per band, `validPx` in any band. A categorical raster's valid values must be integer
   * class codes.
   */
  private validity(data: Float64Array[], rowOff: number, leaf: Leaf, y: number): void {
    const { kind, nodata, validPx, bandOk } = this;
    const bands = nodata.length;
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
          throw new CommandError(`categorical raster '${this.input}' has a non-integer value ${val} at pixel (${leaf.x + c}, ${y}): class codes must be integers`);
      }
      validPx[c] = ok;
    }
  }

  /**
   * One row of samples (sample row `row` of the tile, `n` samples from sample column `j0`; their
   * pixels from `rowOff` in `data`, the first in image column `px0`; `edgeRow`: the pixel row is
   * on the raster's edge): each sample's position, cell and area, the valid ones' sums. `rowFirst`,
   * the first cell of the previous row, is tried when no cell is at hand; returns this row's first
   * cell.
   */
  private sampleRow(tg: TileGeometry, row: number, j0: number, n: number, data: Float64Array[], rowOff: number, rowFirst: number, edgeRow: boolean, px0: number): number {
    const { validPx, wRow, locator, sums } = this;
    const edgeL = this.border.left - px0;
    const edgeR = this.border.right - px0;
    const k = tg.k;
    const inv = 1 / (k * k);
    tg.setRow(row);
    tg.weights(j0, n, wRow);
    const share = tg.share;
    let first = -1;
    let cur = -1; // locator entry of the previous sample
    // its edge normals, in locals: the common case (same cell as the previous sample) is six dot products
    let ax = 0, ay = 0, az = 0, bx = 0, by = 0, bz = 0, cx = 0, cy = 0, cz = 0, dx = 0, dy = 0, dz = 0, ex = 0, ey = 0, ez = 0, fx = 0, fy = 0, fz = 0;
    let curTestable = false;
    let slot = -1;
    this.runSlot = -1;
    const { cosLng, sinLng, rowCos, rowSin } = tg;
    const direct = tg.direct;
    const m = CellLocator.MARGIN;
    for (let j = 0; j < n; j++) {
      const c = k === 1 ? j : (j / k) | 0;
      const w = wRow[j];
      if (w === 0) {
        if (validPx[c]) this.dropped++;
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
        const e = this.locate(tg, j0 + j, x, y, z, cur, edge, rowFirst);
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
        if (first < 0) first = e;
      }
      if (slot < 0) continue; // another unit's cell
      sums.t[slot] += w;
      if (edgeRow || c === edgeL || c === edgeR) sums.edge[slot] = 1;
      if (!validPx[c]) continue;
      this.samples++;
      this.validPixels += inv;
      this.add(slot, w, share, data, rowOff, c);
    }
    if (this.runSlot >= 0) addClass(this.sums.cat, this.runSlot, this.runClass, this.runArea);
    return first;
  }

  /**
   * The locator entry of the cell of sample `j` at (x, y, z), which is not (or not surely) in the
   * previous sample's cell `cur`: the cell across `edge` of `cur` (the edge the sample is farthest
   * beyond, −1 when not known), the previous row's first cell, the locator's search, else H3.
   * Remembers the cell across `edge`.
   */
  private locate(tg: TileGeometry, j: number, x: number, y: number, z: number, cur: number, edge: number, rowFirst: number): number {
    const { locator, cellBuf } = this;
    let e = -1;
    if (edge >= 0) {
      const nb = locator.neighbour[6 * cur + edge];
      if (nb >= 0 && locator.test(nb, x, y, z) === 1) e = nb;
    }
    if (e < 0 && cur < 0 && rowFirst >= 0 && locator.test(rowFirst, x, y, z) === 1) e = rowFirst;
    if (e < 0) e = locator.search(x, y, z, cur);
    if (e < 0) {
      tg.cell(this.engine, this.res, j, cellBuf);
      locator.h3Calls++;
      e = locator.entry(cellBuf[0], cellBuf[1]);
    }
    if (edge >= 0) locator.neighbour[6 * cur + edge] = e;
    return e;
  }

  /** Adds a sample of area `w` (count share `share`) of pixel `c` of the row at `rowOff` in `data` to cell slot `slot`. */
  private add(slot: number, w: number, share: number, data: Float64Array[], rowOff: number, c: number): void {
    const { kind, sums, bandOk } = this;
    const bands = this.nodata.length;
    sums.w[slot] += w;
    if (kind === 'categorical') {
      const cls = data[0][rowOff + c];
      if (slot === this.runSlot && cls === this.runClass) this.runArea += w;
      else {
        if (this.runSlot >= 0) addClass(sums.cat, this.runSlot, this.runClass, this.runArea);
        this.runSlot = slot;
        this.runClass = cls;
        this.runArea = w;
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
}

type Leaf = TileWork['leaves'][number];

function addClass(cat: Map<number, number>, slot: number, cls: number, w: number): void {
  const key = slot * 4294967296 + (cls >>> 0);
  cat.set(key, (cat.get(key) ?? 0) + w);
}
