/**
 * A polygon's edges (radians), indexed for the fast centre polyfill: point in polygon by a ray
 * cast over one row of latitude, and "does any edge touch this box" over a grid, so that neither
 * test grows with the number of vertices.
 */
import type { Polygon } from '../shapes.ts';

/** Edges as parallel arrays of their end points, and the bbox of their start points. */
interface Edges {
  ax: Float64Array;
  ay: Float64Array;
  bx: Float64Array;
  by: Float64Array;
  xmin: number;
  xmax: number;
  ymin: number;
  ymax: number;
}

function edgesOf(p: Polygon): Edges {
  let m = 0;
  for (const r of p) m += r.length >> 1;
  const ax = new Float64Array(m);
  const ay = new Float64Array(m);
  const bx = new Float64Array(m);
  const by = new Float64Array(m);
  let e = 0;
  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (const r of p) {
    const n = r.length >> 1;
    for (let i = 0; i < n; i++) {
      const j = i + 1 === n ? 0 : i + 1;
      // degrees → radians exactly as h3-js does (deg * Math.PI / 180)
      const x1 = (r[2 * i] * Math.PI) / 180;
      const y1 = (r[2 * i + 1] * Math.PI) / 180;
      const x2 = (r[2 * j] * Math.PI) / 180;
      const y2 = (r[2 * j + 1] * Math.PI) / 180;
      ax[e] = x1;
      ay[e] = y1;
      bx[e] = x2;
      by[e] = y2;
      e++;
      if (x1 < xmin) xmin = x1;
      if (x1 > xmax) xmax = x1;
      if (y1 < ymin) ymin = y1;
      if (y1 > ymax) ymax = y1;
    }
  }
  return { ax, ay, bx, by, xmin, xmax, ymin, ymax };
}

/** The rows (of height rowH) and grid cells (cw × ch, gx × gy) each edge touches, as flat lists. */
function bucketEdges(
  { ax, ay, bx, by, xmin, ymin }: Edges,
  rows: number,
  rowH: number,
  gx: number,
  gy: number,
  cw: number,
  ch: number,
): { rowStart: Int32Array; rowEdges: Int32Array; cellStart: Int32Array; cellEdges: Int32Array } {
  const m = ax.length;
  // each edge's row range and grid range, then counting sort into flat lists
  const r0 = new Int32Array(m);
  const r1 = new Int32Array(m);
  const c0 = new Int32Array(m);
  const c1 = new Int32Array(m);
  const g0 = new Int32Array(m);
  const g1 = new Int32Array(m);
  const rc = new Int32Array(rows + 1);
  const cc = new Int32Array(gx * gy + 1);
  for (let i = 0; i < m; i++) {
    const ylo = ay[i] < by[i] ? ay[i] : by[i];
    const yhi = ay[i] < by[i] ? by[i] : ay[i];
    const xlo = ax[i] < bx[i] ? ax[i] : bx[i];
    const xhi = ax[i] < bx[i] ? bx[i] : ax[i];
    let a = Math.floor((ylo - ymin) / rowH);
    let b = Math.floor((yhi - ymin) / rowH);
    a = a < 0 ? 0 : a >= rows ? rows - 1 : a;
    b = b < 0 ? 0 : b >= rows ? rows - 1 : b;
    r0[i] = a;
    r1[i] = b;
    for (let k = a; k <= b; k++) rc[k + 1]++;
    let x0 = Math.floor((xlo - xmin) / cw);
    let x1 = Math.floor((xhi - xmin) / cw);
    let y0 = Math.floor((ylo - ymin) / ch);
    let y1 = Math.floor((yhi - ymin) / ch);
    x0 = x0 < 0 ? 0 : x0 >= gx ? gx - 1 : x0;
    x1 = x1 < 0 ? 0 : x1 >= gx ? gx - 1 : x1;
    y0 = y0 < 0 ? 0 : y0 >= gy ? gy - 1 : y0;
    y1 = y1 < 0 ? 0 : y1 >= gy ? gy - 1 : y1;
    c0[i] = x0;
    c1[i] = x1;
    g0[i] = y0;
    g1[i] = y1;
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) cc[y * gx + x + 1]++;
  }
  for (let k = 0; k < rows; k++) rc[k + 1] += rc[k];
  for (let k = 0; k < gx * gy; k++) cc[k + 1] += cc[k];
  const rowEdges = new Int32Array(rc[rows]);
  const cellEdges = new Int32Array(cc[gx * gy]);
  const rf = rc.slice(0, rows);
  const cf = cc.slice(0, gx * gy);
  for (let i = 0; i < m; i++) {
    for (let k = r0[i], e = r1[i]; k <= e; k++) rowEdges[rf[k]++] = i;
    for (let y = g0[i], ye = g1[i]; y <= ye; y++) for (let x = c0[i], xe = c1[i]; x <= xe; x++) cellEdges[cf[y * gx + x]++] = i;
  }
  return { rowStart: rc, rowEdges, cellStart: cc, cellEdges };
}

/**
 * Edges of a polygon (radians), indexed for point-in-polygon (rows of latitude) and for
 * "does any edge touch this box" (a grid).
 */
export class EdgeIndex {
  private readonly ax: Float64Array;
  private readonly ay: Float64Array;
  private readonly bx: Float64Array;
  private readonly by: Float64Array;
  private readonly x0: number;
  private readonly y0: number;
  private readonly xmaxR: number;
  private readonly ymaxR: number;
  private readonly rows: number;
  private readonly rowH: number;
  private readonly rowStart: Int32Array;
  private readonly rowEdges: Int32Array;
  private readonly gx: number;
  private readonly gy: number;
  private readonly cw: number;
  private readonly ch: number;
  private readonly cellStart: Int32Array;
  private readonly cellEdges: Int32Array;
  private readonly stamp: Int32Array;
  private stampN = 0;

  constructor(p: Polygon) {
    const edges = edgesOf(p);
    const { xmin, xmax, ymin, ymax } = edges;
    const m = edges.ax.length;
    this.ax = edges.ax;
    this.ay = edges.ay;
    this.bx = edges.bx;
    this.by = edges.by;
    this.x0 = xmin;
    this.y0 = ymin;
    this.xmaxR = xmax;
    this.ymaxR = ymax;
    const w = Math.max(xmax - xmin, 1e-12);
    const h = Math.max(ymax - ymin, 1e-12);
    // rows for the ray cast: about 4 edges per row
    this.rows = Math.max(1, Math.min(1 << 16, Math.ceil(m / 4)));
    this.rowH = h / this.rows;
    // grid for box queries: about 2 edges per cell
    const side = Math.max(1, Math.min(512, Math.ceil(Math.sqrt(m / 2))));
    const aspect = w / h;
    this.gx = Math.max(1, Math.min(1024, Math.round(side * Math.sqrt(aspect))));
    this.gy = Math.max(1, Math.min(1024, Math.round(side / Math.sqrt(aspect))));
    this.cw = w / this.gx;
    this.ch = h / this.gy;
    const lists = bucketEdges(edges, this.rows, this.rowH, this.gx, this.gy, this.cw, this.ch);
    this.rowStart = lists.rowStart;
    this.rowEdges = lists.rowEdges;
    this.cellStart = lists.cellStart;
    this.cellEdges = lists.cellEdges;
    this.stamp = new Int32Array(m);
  }

  private colOf(x: number): number {
    return Math.min(this.gx - 1, Math.max(0, Math.floor((x - this.x0) / this.cw)));
  }

  private gRowOf(y: number): number {
    return Math.min(this.gy - 1, Math.max(0, Math.floor((y - this.y0) / this.ch)));
  }

  /** Even-odd point in polygon (x = lng, y = lat, radians). */
  contains(x: number, y: number): boolean {
    if (y < this.y0 || y > this.ymaxR || x < this.x0 || x > this.xmaxR) return false;
    const row = Math.min(this.rows - 1, Math.max(0, Math.floor((y - this.y0) / this.rowH)));
    let inside = false;
    const { ax, ay, bx, by, rowEdges } = this;
    for (let k = this.rowStart[row], end = this.rowStart[row + 1]; k < end; k++) {
      const i = rowEdges[k];
      const y1 = ay[i];
      const y2 = by[i];
      if (y1 > y !== y2 > y) {
        const x1 = ax[i];
        if (x < x1 + ((y - y1) * (bx[i] - x1)) / (y2 - y1)) inside = !inside;
      }
    }
    return inside;
  }

  /**
   * Where a box lies: 1 inside the polygon, −1 outside, 0 touching an edge (boxes that touch no
   * edge are wholly on one side, told by one corner).
   */
  boxSide(x0: number, y0: number, x1: number, y1: number): -1 | 0 | 1 {
    const stamp = ++this.stampN;
    const cx0 = this.colOf(x0);
    const cx1 = this.colOf(x1);
    const cy0 = this.gRowOf(y0);
    const cy1 = this.gRowOf(y1);
    const { ax, ay, bx, by, cellEdges, cellStart } = this;
    for (let gy = cy0; gy <= cy1; gy++)
      for (let gx = cx0; gx <= cx1; gx++) {
        const c = gy * this.gx + gx;
        for (let k = cellStart[c], end = cellStart[c + 1]; k < end; k++) {
          const i = cellEdges[k];
          if (this.stamp[i] === stamp) continue;
          this.stamp[i] = stamp;
          if (segmentTouchesBox(ax[i], ay[i], bx[i], by[i], x0, y0, x1, y1)) return 0;
        }
      }
    return this.contains(x0, y0) ? 1 : -1;
  }
}

function segmentTouchesBox(ax: number, ay: number, bx: number, by: number, x0: number, y0: number, x1: number, y1: number): boolean {
  if (Math.max(ax, bx) < x0 || Math.min(ax, bx) > x1 || Math.max(ay, by) < y0 || Math.min(ay, by) > y1) return false;
  if ((ax >= x0 && ax <= x1 && ay >= y0 && ay <= y1) || (bx >= x0 && bx <= x1 && by >= y0 && by <= y1)) return true;
  // the line's side at the four corners: all strictly on one side → no contact
  const dx = bx - ax;
  const dy = by - ay;
  const s1 = dx * (y0 - ay) - dy * (x0 - ax);
  const s2 = dx * (y0 - ay) - dy * (x1 - ax);
  const s3 = dx * (y1 - ay) - dy * (x0 - ax);
  const s4 = dx * (y1 - ay) - dy * (x1 - ax);
  return !((s1 > 0 && s2 > 0 && s3 > 0 && s4 > 0) || (s1 < 0 && s2 < 0 && s3 < 0 && s4 < 0));
}
