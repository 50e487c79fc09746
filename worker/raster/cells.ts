/**
 * Where a raster's samples are on H3's sphere and which cell each one is in: the geometry under
 * raster-hex (raster-hex.ts, unit-hexer.ts), as worker/geo/h3/ is the vector hexer's.
 *
 * - {@link RasterGeometry}: pixel coordinates → lon/lat (exact for unrotated WGS 84 lon/lat
 *   rasters, GDAL/PROJ otherwise, in traditional GIS axis order whatever the authority says).
 * - {@link UnitRegion} and {@link findWork}: the tiles and 64×64 leaves whose footprint (a
 *   spherical cap, so no seam at 180° and no singularity at the poles) may touch one base cell's
 *   samples.
 * - {@link TileGeometry}: per tile, sub-sampling k, each sample's unit vector, area (m²) and count
 *   share.
 * - {@link CellLocator}: the cell of each sample with few H3 calls, always the cell h3-js
 *   `latLngToCell` gives.
 */
import gdal, { type CoordinateTransformation, type SpatialReference } from 'gdal-async';
import * as h3 from 'h3-js';
import type { H3Engine } from '../geo/h3/engine.ts';

/** H3's sphere (m): cell areas, sample areas and `coverage` all use it. */
export const R_M = 6371007.180918475;
const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;
/** Pixels per side of a leaf window (the finest unit of the "does this touch the unit" test). */
export const LEAF = 64;
/** Largest sub-sampling factor per pixel side. */
export const MAX_K = 16;

/** A spherical cap: unit centre vector and angular radius (rad). */
interface Cap {
  x: number;
  y: number;
  z: number;
  r: number;
}

function angle(ax: number, ay: number, az: number, bx: number, by: number, bz: number): number {
  // atan2 of |a×b| and a·b: accurate for tiny and large angles alike
  const cx = ay * bz - az * by;
  const cy = az * bx - ax * bz;
  const cz = ax * by - ay * bx;
  return Math.atan2(Math.hypot(cx, cy, cz), ax * bx + ay * by + az * bz);
}

/** Spherical excess of the triangle a, b, c (unit vectors): its area on the unit sphere. */
function triangleArea(v: Float64Array, a: number, b: number, c: number): number {
  const ax = v[a], ay = v[a + 1], az = v[a + 2];
  const bx = v[b], by = v[b + 1], bz = v[b + 2];
  const cx = v[c], cy = v[c + 1], cz = v[c + 2];
  const triple = ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx);
  const den = 1 + ax * bx + ay * by + az * bz + bx * cx + by * cy + bz * cz + cx * ax + cy * ay + cz * az;
  return Math.abs(2 * Math.atan2(triple, den));
}

/**
 * The cap around an nx × ny grid of points (x, y, z per point; NaN when the position is unknown),
 * padded by the longest grid-cell diagonal so that it bounds every point between the grid points.
 * Null when a point is unknown or the cap is a hemisphere or more (the caller treats it as "may
 * touch anything").
 */
function capOfGrid(v: Float64Array, nx: number, ny: number): Cap | null {
  let sx = 0, sy = 0, sz = 0;
  const n = nx * ny;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(v[3 * i])) return null;
    sx += v[3 * i];
    sy += v[3 * i + 1];
    sz += v[3 * i + 2];
  }
  const len = Math.hypot(sx, sy, sz);
  if (len < 1e-9) return null;
  sx /= len;
  sy /= len;
  sz /= len;
  let r = 0;
  for (let i = 0; i < n; i++) r = Math.max(r, angle(sx, sy, sz, v[3 * i], v[3 * i + 1], v[3 * i + 2]));
  let pad = 0;
  for (let j = 0; j + 1 < ny; j++)
    for (let i = 0; i + 1 < nx; i++) {
      const a = 3 * (j * nx + i);
      const b = a + 3;
      const c = a + 3 * nx;
      const d = c + 3;
      pad = Math.max(pad, angle(v[a], v[a + 1], v[a + 2], v[d], v[d + 1], v[d + 2]), angle(v[b], v[b + 1], v[b + 2], v[c], v[c + 1], v[c + 2]));
    }
  r += pad + 1e-7;
  return r >= Math.PI / 2 ? null : { x: sx, y: sy, z: sz, r };
}

/**
 * The region of one base cell's samples, bounded by discs around its descendants at resolution
 * min(res, 2): every point whose cell at the target resolution descends from the base cell lies
 * in one of them.
 */
export class UnitRegion {
  private readonly discs: Float64Array; // x, y, z, radius

  constructor(base: string, res: number) {
    const cells = h3.cellToChildren(base, Math.min(res, 2));
    this.discs = new Float64Array(4 * cells.length);
    cells.forEach((c, i) => {
      const [lat, lng] = h3.cellToLatLng(c);
      const cl = Math.cos(lat * D2R);
      const x = cl * Math.cos(lng * D2R), y = cl * Math.sin(lng * D2R), z = Math.sin(lat * D2R);
      let circ = 0;
      for (const [vl, vg] of h3.cellToBoundary(c)) {
        const cv = Math.cos(vl * D2R);
        circ = Math.max(circ, angle(x, y, z, cv * Math.cos(vg * D2R), cv * Math.sin(vg * D2R), Math.sin(vl * D2R)));
      }
      this.discs.set([x, y, z, 1.12 * circ + 1e-4], 4 * i);
    });
  }

  /** Whether a cap may hold samples of this unit (null cap: unknown, so yes). */
  touches(cap: Cap | null): boolean {
    if (cap === null) return true;
    const d = this.discs;
    for (let i = 0; i < d.length; i += 4) {
      const lim = cap.r + d[i + 3];
      if (lim >= Math.PI) return true;
      if (cap.x * d[i] + cap.y * d[i + 1] + cap.z * d[i + 2] >= Math.cos(lim)) return true;
    }
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Raster geometry: pixel coordinates → the sphere

/**
 * How pixel coordinates (fractional column, row of the raster) map to lon/lat. `direct`: a lon/lat
 * raster on WGS 84 without rotation, computed exactly per row and column; otherwise GDAL/PROJ.
 */
export class RasterGeometry {
  readonly direct: boolean;
  private readonly ct: CoordinateTransformation | null;
  private readonly gt: number[];
  private readonly tmp = new Float64Array(2);

  constructor(srs: SpatialReference, gt: number[]) {
    this.gt = gt;
    // Traditional GIS order (x = lon/easting) for both ends, whatever the authority says.
    const prev = gdal.config.get('OSR_DEFAULT_AXIS_MAPPING_STRATEGY');
    gdal.config.set('OSR_DEFAULT_AXIS_MAPPING_STRATEGY', 'TRADITIONAL_GIS_ORDER');
    try {
      const source = gdal.SpatialReference.fromWKT(srs.toWKT());
      const wgs84 = gdal.SpatialReference.fromEPSG(4326);
      const degrees = Math.abs((source.getAngularUnits()?.value ?? 0) - D2R) < 1e-12;
      this.direct = source.isGeographic() && degrees && source.isSameGeogCS(wgs84) && gt[2] === 0 && gt[4] === 0;
      this.ct = this.direct ? null : new gdal.CoordinateTransformation(source, wgs84);
    } finally {
      gdal.config.set('OSR_DEFAULT_AXIS_MAPPING_STRATEGY', prev);
    }
  }

  /** Lon/lat (degrees) of a pixel coordinate into out[0], out[1]; false when it has none. */
  lonLat(px: number, py: number, out: Float64Array = this.tmp): boolean {
    const g = this.gt;
    const x = g[0] + px * g[1] + py * g[2];
    const y = g[3] + px * g[4] + py * g[5];
    if (this.ct === null) {
      out[0] = x;
      out[1] = y;
      return Number.isFinite(x) && Math.abs(y) <= 90;
    }
    try {
      const p = this.ct.transformPoint(x, y);
      out[0] = p.x;
      out[1] = p.y;
      return Number.isFinite(p.x) && Number.isFinite(p.y) && Math.abs(p.y) <= 90;
    } catch {
      return false;
    }
  }

  /** Unit vector of a pixel coordinate into v[o..o+2] (NaN when it has none). */
  vector(px: number, py: number, v: Float64Array, o: number): boolean {
    const t = this.tmp;
    if (!this.lonLat(px, py, t)) {
      v[o] = v[o + 1] = v[o + 2] = NaN;
      return false;
    }
    const lat = t[1] * D2R;
    const lng = t[0] * D2R;
    const c = Math.cos(lat);
    v[o] = c * Math.cos(lng);
    v[o + 1] = c * Math.sin(lng);
    v[o + 2] = Math.sin(lat);
    return true;
  }

  /** The cap of a window (pixel coordinates of its edges) from an n × n grid of exact points. */
  capOf(x: number, y: number, w: number, h: number, n: number): Cap | null {
    const v = new Float64Array(3 * n * n);
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) this.vector(x + (w * i) / (n - 1), y + (h * j) / (n - 1), v, 3 * (j * n + i));
    return capOfGrid(v, n, n);
  }
}

/**
 * The raster's outer pixel columns and rows beyond which there is no raster (−1: none on that
 * side): a cell with a sample from one of them may reach past the raster. A lon/lat raster
 * spanning 360° wraps (no left or right edge), and a row on a pole has nothing beyond it.
 */
export interface RasterBorder {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export function rasterBorder(geom: RasterGeometry, width: number, height: number): RasterBorder {
  const b: RasterBorder = { left: 0, right: width - 1, top: 0, bottom: height - 1 };
  if (!geom.direct) return b;
  const p = new Float64Array(2);
  geom.lonLat(0, 0, p);
  const [x0, y0] = p;
  geom.lonLat(width, height, p);
  if (Math.abs(p[0] - x0) >= 360 - 1e-9) b.left = b.right = -1;
  if (Math.abs(y0) >= 90 - 1e-9) b.top = -1;
  if (Math.abs(p[1]) >= 90 - 1e-9) b.bottom = -1;
  return b;
}

/** A tile to read and the leaves in it that may hold samples of the unit. */
export interface TileWork {
  x: number;
  y: number;
  w: number;
  h: number;
  leaves: { x: number; y: number; w: number; h: number }[];
}

/**
 * The tiles (T × T windows, row-major) with their leaves (LEAF × LEAF) whose footprint may touch
 * the unit's region: a quadtree over the raster, pruning windows whose cap misses the region.
 */
export function findWork(geom: RasterGeometry, region: UnitRegion, width: number, height: number, T: number, leaves = true): TileWork[] {
  const tiles: TileWork[] = [];
  const win = (x0: number, y0: number, nx: number, ny: number, unit: number, xmax: number, ymax: number) => {
    const x = x0 * unit;
    const y = y0 * unit;
    return { x, y, w: Math.min(xmax, (x0 + nx) * unit) - x, h: Math.min(ymax, (y0 + ny) * unit) - y };
  };
  const leavesOf = (tile: { x: number; y: number; w: number; h: number }) => {
    const out: TileWork['leaves'] = [];
    const visit = (lx: number, ly: number, nx: number, ny: number) => {
      const wd = win(lx, ly, nx, ny, LEAF, tile.w, tile.h);
      const cap = geom.capOf(tile.x + wd.x, tile.y + wd.y, wd.w, wd.h, 3);
      if (!region.touches(cap)) return;
      if (nx === 1 && ny === 1) {
        out.push({ x: tile.x + wd.x, y: tile.y + wd.y, w: wd.w, h: wd.h });
        return;
      }
      splitVisit(lx, ly, nx, ny, visit);
    };
    visit(0, 0, Math.ceil(tile.w / LEAF), Math.ceil(tile.h / LEAF));
    return out;
  };
  const visitTiles = (tx: number, ty: number, nx: number, ny: number) => {
    const wd = win(tx, ty, nx, ny, T, width, height);
    const cap = geom.capOf(wd.x, wd.y, wd.w, wd.h, nx === 1 && ny === 1 ? 5 : 9);
    if (!region.touches(cap)) return;
    if (nx === 1 && ny === 1) {
      const ls = leaves ? leavesOf(wd) : [wd];
      if (ls.length > 0) tiles.push({ ...wd, leaves: ls });
      return;
    }
    splitVisit(tx, ty, nx, ny, visitTiles);
  };
  visitTiles(0, 0, Math.ceil(width / T), Math.ceil(height / T));
  return tiles.sort((a, b) => a.y - b.y || a.x - b.x);
}

/** Visits the (up to) four quarters of an nx × ny block of units. */
function splitVisit(x: number, y: number, nx: number, ny: number, visit: (x: number, y: number, nx: number, ny: number) => void): void {
  const hx = nx > 1 ? Math.ceil(nx / 2) : nx;
  const hy = ny > 1 ? Math.ceil(ny / 2) : ny;
  for (const [ox, w] of nx > 1 ? [[0, hx], [hx, nx - hx]] : [[0, nx]])
    for (const [oy, h] of ny > 1 ? [[0, hy], [hy, ny - hy]] : [[0, ny]]) visit(x + ox, y + oy, w, h);
}

/**
 * Positions, areas and count shares of one tile's samples. For lon/lat rasters exact per sample
 * row and column; otherwise a control grid of exactly transformed 3D vectors every `g` pixels,
 * interpolated bilinearly.
 */
export class TileGeometry {
  // One instance per unit, set to each tile in turn ({@link setTile}): the inner loop sees one
  // object shape, with double fields initialised as doubles (NaN), so V8 keeps it optimised.
  /** Sub-samples per pixel side. */
  k = 1;
  /** Lon/lat raster: positions from cosLng, sinLng, rowCos, rowSin. */
  readonly direct: boolean;
  /** Average cell area ÷ sample area at this tile (how many samples a cell gets). */
  samplesPerCell = NaN;
  /** The current sample's unit vector (set by {@link vec}; not normalized off the lon/lat path). */
  x = NaN;
  y = NaN;
  z = NaN;
  tile: TileWork = { x: 0, y: 0, w: 0, h: 0, leaves: [] };
  // direct
  private lng: Float64Array = new Float64Array(0); // degrees, per tile sample column
  /** Lon/lat rasters: cos and sin of each tile sample column's longitude (read by the hexer's inner loop). */
  cosLng: Float64Array = new Float64Array(0);
  sinLng: Float64Array = new Float64Array(0);
  private dLng = NaN; // degrees per pixel column
  // control grid
  private g = 16;
  private gx = 0; // nodes per row
  private gy = 0;
  private nodes: Float64Array = new Float64Array(0);
  private cellArea: Float64Array = new Float64Array(0); // per control cell: area of one sample (m²), NaN when unknown
  private sampleCtrl: Int32Array = new Int32Array(0); // control column of each tile sample column
  private sampleFx: Float64Array = new Float64Array(0);
  // current row
  private rowLat = NaN;
  /** Lon/lat rasters: cos and sin of the current sample row's latitude. */
  rowCos = NaN;
  rowSin = NaN;
  private rowArea = NaN;
  private rowShare = NaN;
  private rowOk = true;
  private rowCtrl = 0;
  private rowVec: Float64Array = new Float64Array(0);
  private readonly tmp = new Float64Array(2);
  private readonly edge: number;
  private readonly cellAreaAvg: number;

  constructor(
    private readonly geom: RasterGeometry,
    res: number,
  ) {
    this.direct = geom.direct;
    this.edge = h3.getHexagonEdgeLengthAvg(res, 'm');
    this.cellAreaAvg = h3.getHexagonAreaAvg(res, 'm2');
  }

  /** Prepares the tile's k, sample columns and (off the lon/lat path) control grid. */
  setTile(tile: TileWork): void {
    const geom = this.geom;
    this.tile = tile;
    const t = tile;
    // Pixel size from the tile's corners and middle: the longest side decides k.
    const v = new Float64Array(3 * 9);
    for (let j = 0; j < 3; j++) for (let i = 0; i < 3; i++) geom.vector(t.x + (t.w * i) / 2, t.y + (t.h * j) / 2, v, 3 * (j * 3 + i));
    let side = 0;
    let minArea = Infinity;
    for (let j = 0; j < 3; j++)
      for (let i = 0; i < 3; i++) {
        const a = 3 * (j * 3 + i);
        if (Number.isNaN(v[a])) continue;
        const dx = i < 2 && !Number.isNaN(v[a + 3]) ? (angle(v[a], v[a + 1], v[a + 2], v[a + 3], v[a + 4], v[a + 5]) * R_M) / (t.w / 2) : NaN;
        const dy = j < 2 && !Number.isNaN(v[a + 9]) ? (angle(v[a], v[a + 1], v[a + 2], v[a + 9], v[a + 10], v[a + 11]) * R_M) / (t.h / 2) : NaN;
        if (dx > side) side = dx;
        if (dy > side) side = dy;
        if (dx * dy < minArea) minArea = dx * dy;
      }
    this.k = side > 0 ? Math.max(1, Math.min(MAX_K, Math.ceil((2 * side) / this.edge))) : 1;
    this.samplesPerCell = Number.isFinite(minArea) && minArea > 0 ? (this.cellAreaAvg * this.k * this.k) / minArea : 0;
    const n = t.w * this.k;
    if (geom.direct) {
      if (this.lng.length < n) {
        this.lng = new Float64Array(n);
        this.cosLng = new Float64Array(n);
        this.sinLng = new Float64Array(n);
      }
      for (let j = 0; j < n; j++) {
        geom.lonLat(t.x + (j + 0.5) / this.k, 0, this.tmp);
        const lng = ((((this.tmp[0] + 180) % 360) + 360) % 360) - 180;
        this.lng[j] = lng;
        this.cosLng[j] = Math.cos(lng * D2R);
        this.sinLng[j] = Math.sin(lng * D2R);
      }
      geom.lonLat(0, 0, this.tmp);
      const x0 = this.tmp[0];
      geom.lonLat(1, 0, this.tmp);
      this.dLng = Math.abs(this.tmp[0] - x0);
    } else {
      this.buildControlGrid(side / this.k);
      this.rowVec = new Float64Array(3 * this.gx);
    }
  }

  private buildControlGrid(sampleM: number): void {
    const t = this.tile;
    const tol = Math.max(1e-3, 1e-3 * sampleM) / R_M; // radians: a thousandth of a sample
    for (this.g = Math.min(16, Math.max(t.w, t.h)); ; this.g = Math.max(1, this.g >> 1)) {
      const g = this.g;
      const gx = Math.ceil(t.w / g) + 1;
      const gy = Math.ceil(t.h / g) + 1;
      const nodes = new Float64Array(3 * gx * gy);
      for (let j = 0; j < gy; j++) for (let i = 0; i < gx; i++) this.geom.vector(t.x + Math.min(i * g, t.w), t.y + Math.min(j * g, t.h), nodes, 3 * (j * gx + i));
      this.gx = gx;
      this.gy = gy;
      this.nodes = nodes;
      if (g === 1 || this.interpolationError() <= tol) break;
    }
    const { g, gx, gy, nodes, k } = this;
    this.cellArea = new Float64Array((gx - 1) * (gy - 1));
    for (let j = 0; j + 1 < gy; j++)
      for (let i = 0; i + 1 < gx; i++) {
        const a = 3 * (j * gx + i), b = a + 3, c = a + 3 * gx, d = c + 3;
        const pw = Math.min((i + 1) * g, t.w) - i * g;
        const ph = Math.min((j + 1) * g, t.h) - j * g;
        const area = (triangleArea(nodes, a, b, d) + triangleArea(nodes, a, d, c)) * R_M * R_M;
        this.cellArea[j * (gx - 1) + i] = area / (pw * ph * k * k); // NaN when a node is unknown
      }
    const n = t.w * k;
    this.sampleCtrl = new Int32Array(n);
    this.sampleFx = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const px = (j + 0.5) / k;
      const ci = Math.min(gx - 2, Math.floor(px / g));
      this.sampleCtrl[j] = ci;
      this.sampleFx[j] = (px - ci * g) / (Math.min((ci + 1) * g, t.w) - ci * g);
    }
  }

  /** Largest angle between exact and interpolated positions at a few control cells' centres. */
  private interpolationError(): number {
    const { g, gx, gy, nodes, tile: t } = this;
    let worst = 0;
    const e = new Float64Array(3);
    const cols = [0, Math.floor((gx - 2) / 2), gx - 2];
    const rows = [0, Math.floor((gy - 2) / 2), gy - 2];
    for (const j of rows)
      for (const i of cols) {
        const x0 = i * g, x1 = Math.min((i + 1) * g, t.w), y0 = j * g, y1 = Math.min((j + 1) * g, t.h);
        if (!this.geom.vector(t.x + (x0 + x1) / 2, t.y + (y0 + y1) / 2, e, 0)) continue;
        const a = 3 * (j * gx + i), b = a + 3, c = a + 3 * gx, d = c + 3;
        const x = nodes[a] + nodes[b] + nodes[c] + nodes[d];
        const y = nodes[a + 1] + nodes[b + 1] + nodes[c + 1] + nodes[d + 1];
        const z = nodes[a + 2] + nodes[b + 2] + nodes[c + 2] + nodes[d + 2];
        const l = Math.hypot(x, y, z);
        if (!(l > 0)) continue;
        worst = Math.max(worst, angle(x / l, y / l, z / l, e[0], e[1], e[2]));
      }
    return worst;
  }

  private latAt(py: number): number {
    this.geom.lonLat(0, py, this.tmp);
    return Math.max(-90, Math.min(90, this.tmp[1])) * D2R;
  }

  /** Prepares sample row `s` of the tile (0 … h·k − 1). */
  setRow(s: number): void {
    const t = this.tile;
    const k = this.k;
    if (this.geom.direct) {
      this.geom.lonLat(0, t.y + (s + 0.5) / k, this.tmp);
      const lat = this.tmp[1];
      this.rowLat = lat;
      this.rowOk = Math.abs(lat) <= 90;
      this.rowCos = Math.cos(lat * D2R);
      this.rowSin = Math.sin(lat * D2R);
      // one sample's area: R²·Δλ·|sin φ1 − sin φ2| of its sub-row; its count share: the sub-row's part of the pixel
      const band = Math.abs(Math.sin(this.latAt(t.y + s / k)) - Math.sin(this.latAt(t.y + (s + 1) / k)));
      this.rowArea = (R_M * R_M * this.dLng * D2R * band) / k;
      const py = t.y + Math.floor(s / k);
      const pix = Math.abs(Math.sin(this.latAt(py)) - Math.sin(this.latAt(py + 1)));
      this.rowShare = pix > 0 ? band / pix / k : 1 / (k * k);
      return;
    }
    const g = this.g, gx = this.gx;
    const py = (s + 0.5) / k;
    const cj = Math.min(this.gy - 2, Math.floor(py / g));
    const fy = (py - cj * g) / (Math.min((cj + 1) * g, t.h) - cj * g);
    const n = this.nodes, rv = this.rowVec;
    for (let i = 0; i < gx; i++) {
      const a = 3 * (cj * gx + i), c = a + 3 * gx;
      rv[3 * i] = n[a] + (n[c] - n[a]) * fy;
      rv[3 * i + 1] = n[a + 1] + (n[c + 1] - n[a + 1]) * fy;
      rv[3 * i + 2] = n[a + 2] + (n[c + 2] - n[a + 2]) * fy;
    }
    this.rowCtrl = cj;
    this.rowShare = 1 / (k * k);
  }

  /** Count share of a sample of the current row (its part of its pixel's value). */
  get share(): number {
    return this.rowShare;
  }

  /**
   * Fills area weights (m²; 0 when the position is unknown) of tile sample columns j0 … j0+n−1 of
   * the current row into w[0 … n−1].
   */
  weights(j0: number, n: number, w: Float64Array): void {
    if (this.geom.direct) {
      w.fill(this.rowOk ? this.rowArea : 0, 0, n);
      return;
    }
    const base = this.rowCtrl * (this.gx - 1);
    for (let j = 0; j < n; j++) {
      const a = this.cellArea[base + this.sampleCtrl[j0 + j]];
      w[j] = Number.isNaN(a) ? 0 : a;
    }
  }

  /** Sets x, y, z to the position of tile sample column j of the current row. */
  vec(j: number): void {
    if (this.geom.direct) {
      this.x = this.rowCos * this.cosLng[j];
      this.y = this.rowCos * this.sinLng[j];
      this.z = this.rowSin;
      return;
    }
    const ci = this.sampleCtrl[j];
    const fx = this.sampleFx[j];
    const rv = this.rowVec;
    const o = 3 * ci;
    this.x = rv[o] + (rv[o + 3] - rv[o]) * fx;
    this.y = rv[o + 1] + (rv[o + 4] - rv[o + 1]) * fx;
    this.z = rv[o + 2] + (rv[o + 5] - rv[o + 2]) * fx;
  }

  /** H3: the cell of tile sample column j of the current row into out[0], out[1]. */
  cell(engine: H3Engine, res: number, j: number, out: Uint32Array): void {
    if (this.geom.direct) {
      engine.cellAt(this.lng[j], this.rowLat, res, out, 0);
      return;
    }
    this.vec(j);
    const { x, y, z } = this;
    const l = Math.hypot(x, y, z);
    engine.cellAt(Math.atan2(y, x) * R2D, Math.asin(Math.max(-1, Math.min(1, z / l))) * R2D, res, out, 0);
  }
}


/**
 * Finds the cells of consecutive samples without asking H3 each time. The cell of the previous
 * sample, then a few recently found cells, are tested against their exact boundaries: a cell that
 * lies on one icosahedron face and is not a pentagon is, in that face's gnomonic projection
 * (which H3 uses), a hexagon with straight edges, i.e. on the sphere a convex polygon bounded by
 * great circles through its vertices. A sample on the inner side of all six by more than 6 mm is
 * in that cell for sure; otherwise (near an edge, other cells) H3 decides. The result is the cell
 * `latLngToCell` gives for every sample.
 */
export class CellLocator {
  private static readonly SIZE = 4096;
  private static readonly RECENT = 8;
  /** Inner margin (rad) of the edge test: ~6 mm. */
  static readonly MARGIN = 1e-9;
  /** Per entry: the unit normals of its six edges' great circles (pointing inwards). */
  readonly normals = new Float64Array(CellLocator.SIZE * 18);
  /** Per entry: 1 when its edges are known (a one-face hexagon), else 0 (H3 decides). */
  readonly testable = new Uint8Array(CellLocator.SIZE);
  /** Per entry and edge: the entry last found beyond that edge (a guess, tested before use), or −1. */
  readonly neighbour = new Int32Array(CellLocator.SIZE * 6).fill(-1);
  private readonly keys = new Float64Array(CellLocator.SIZE).fill(-1);
  /** The slot of each entry's cell (slotOf's answer). */
  readonly slot = new Int32Array(CellLocator.SIZE);
  private readonly byKey = new Map<number, number>();
  private readonly recent = new Int32Array(CellLocator.RECENT).fill(-1);
  private next = 0;
  private recentNext = 0;
  h3Calls = 0;

  constructor(
    /** The caller's slot of a cell (−1: not wanted, e.g. another unit's). */
    private readonly slotOf: (lo: number, hi: number) => number,
    /** Whether to build boundaries (worth it when cells get many samples). */
    public geometric: boolean,
  ) {}

  /** The entry of a cell found by H3 (created, with its boundary when usable, on first sight). */
  entry(lo: number, hi: number): number {
    const key = (hi & 0xfffff) * 4294967296 + lo;
    const found = this.byKey.get(key);
    if (found !== undefined) return found;
    const e = this.next;
    this.next = (this.next + 1) % CellLocator.SIZE;
    if (this.keys[e] >= 0) this.byKey.delete(this.keys[e]);
    this.keys[e] = key;
    this.byKey.set(key, e);
    this.neighbour.fill(-1, 6 * e, 6 * e + 6);
    this.slot[e] = this.slotOf(lo, hi);
    this.testable[e] = this.geometric ? this.boundary(e, lo, hi) : 0;
    this.recent[this.recentNext] = e;
    this.recentNext = (this.recentNext + 1) % CellLocator.RECENT;
    return e;
  }

  /** Edge normals of a one-face hexagon into entry e; false for pentagons and face-crossing cells. */
  private boundary(e: number, lo: number, hi: number): number {
    const cell = h3.splitLongToH3Index(lo, hi);
    if (h3.isPentagon(cell) || h3.getIcosahedronFaces(cell).length !== 1) return 0;
    const b = h3.cellToBoundary(cell);
    if (b.length !== 6) return 0;
    const v = b.map(([lat, lng]) => {
      const c = Math.cos(lat * D2R);
      return [c * Math.cos(lng * D2R), c * Math.sin(lng * D2R), Math.sin(lat * D2R)];
    });
    const [clat, clng] = h3.cellToLatLng(cell);
    const cc = Math.cos(clat * D2R);
    const centre = [cc * Math.cos(clng * D2R), cc * Math.sin(clng * D2R), Math.sin(clat * D2R)];
    const o = 18 * e;
    for (let i = 0; i < 6; i++) {
      const a = v[i];
      const c = v[(i + 1) % 6];
      let nx = a[1] * c[2] - a[2] * c[1];
      let ny = a[2] * c[0] - a[0] * c[2];
      let nz = a[0] * c[1] - a[1] * c[0];
      const l = Math.hypot(nx, ny, nz);
      if (!(l > 0)) return 0;
      nx /= l;
      ny /= l;
      nz /= l;
      if (nx * centre[0] + ny * centre[1] + nz * centre[2] <= 0) return 0; // not counter-clockwise: don't trust it
      this.normals[o + 3 * i] = nx;
      this.normals[o + 3 * i + 1] = ny;
      this.normals[o + 3 * i + 2] = nz;
    }
    return 1;
  }

  /** 1: the point is inside entry e's cell for sure; −1: outside for sure; 0: H3 must decide. */
  test(e: number, x: number, y: number, z: number): number {
    if (this.testable[e] === 0) return 0;
    const n = this.normals;
    const m = CellLocator.MARGIN;
    let sure = 1;
    for (let o = 18 * e, end = o + 18; o < end; o += 3) {
      const d = n[o] * x + n[o + 1] * y + n[o + 2] * z;
      if (d < -m) return -1;
      if (d < m) sure = 0;
    }
    return sure;
  }

  /** A recently found cell that surely contains the point, or −1. */
  search(x: number, y: number, z: number, skip: number): number {
    for (let i = 0; i < CellLocator.RECENT; i++) {
      const e = this.recent[i];
      if (e >= 0 && e !== skip && this.test(e, x, y, z) === 1) return e;
    }
    return -1;
  }

  /** Forgets everything (the slots are no longer valid). */
  reset(): void {
    this.byKey.clear();
    this.keys.fill(-1);
    this.neighbour.fill(-1);
    this.recent.fill(-1);
    this.next = 0;
    this.recentNext = 0;
  }
}
