/**
 * The hex plan (`hex-plan.json`, docs/stages.md): the features of one layer spread over exactly
 * `units` work units (the hex Job's completions) with balanced estimated work.
 *
 * Estimates per feature with a geometry:
 * - cells: polygons → spherical area (km²) ÷ mean H3 cell area at the resolution
 *   (`getHexagonAreaAvg`), rounded, at least 1; lines → length ÷ mean edge length, rounded up;
 *   points → number of points; always at least 1.
 * - work = cells + vertices (polyfill cost grows with both).
 *
 * Balancing: share = total work ÷ units. A feature whose work exceeds the share is split into
 * `pieces = ceil(work / share)` items (equal-width longitude strips of its bbox, cut by the hex
 * stage), each carrying work/pieces. Items are assigned largest first (ties: smaller fid, then
 * piece) to the least-loaded unit (ties: lower index) with a min-heap. Deterministic: the same
 * features give the same plan.
 *
 * Repartition groups (`repartition`): every one of the 122 H3 resolution-0 cells belongs to exactly
 * one of `repartition.units` groups, so a cell that the estimates missed still has an owner. A
 * feature's estimated cells are shared equally among the h0 cells of its bbox's corners and centre
 * ({@link addH0Estimate}); h0 cells with an estimate go, largest first, to the least-loaded group
 * (ties: lower index), the others round-robin. Memory per repartition pod follows the largest group.
 */
import type { FetchRecord } from '../io/sources.ts';
import { getHexagonAreaAvg, getHexagonEdgeLengthAvg, getRes0Cells, latLngToCell } from 'h3-js';
import type { BadGeometries, DroppedParts, RepartitionPlan } from '../io/layer-work.ts';

export type { BadGeometries, DroppedParts, RepartitionPlan };
import type { WkbInfo } from '../geo/wkb.ts';

export interface PlanItem {
  fid: number;
  /** Present only for a feature split into strips: 0 … pieces−1. */
  piece?: number;
  pieces?: number;
}

export interface WorkUnit {
  index: number;
  estimatedCells: number;
  vertices: number;
  items: PlanItem[];
}

export interface HexPlan {
  version: 1;
  /** Source layer name. */
  layer: string;
  /** Column of the GeoParquet whose values the items' `fid` are (`_cng_fid` unless --id-column). */
  idColumn: string;
  resolution: number;
  units: number;
  /** All rows of the layer, including those with a null geometry. */
  features: number;
  nullGeometries: number;
  /** Features that lost parts of another dimension than the layer's (absent when none did). */
  droppedParts?: DroppedParts;
  /** Features whose unusable geometry was kept as NULL (`--bad-geometry null`; absent when none was). */
  badGeometries?: BadGeometries;
  estimatedCells: number;
  /** A multi-file or fetched source: the files read, and the fetch records of raw copies (copied into manifest.json). */
  sources?: { files: string[]; fetched?: FetchRecord[] };
  workUnits: WorkUnit[];
  /** The h0 cells grouped into the repartition units. */
  repartition: RepartitionPlan;
}

/** An h0 cell's id as its partitions name it (`h0=<decimal>`). */
export function h0Name(h3: string): string {
  return BigInt(`0x${h3}`).toString();
}

/** Adds a feature's estimated cells to the h0 cells of its bbox's corners and centre, in equal shares. */
export function addH0Estimate(estimates: Map<string, number>, bbox: { xmin: number; ymin: number; xmax: number; ymax: number }, cells: number): void {
  const { xmin, ymin, xmax, ymax } = bbox;
  const clampLat = (y: number) => Math.max(-90, Math.min(90, y));
  const points = [[xmin, ymin], [xmin, ymax], [xmax, ymin], [xmax, ymax], [(xmin + xmax) / 2, (ymin + ymax) / 2]];
  const h0 = [...new Set(points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => h0Name(latLngToCell(clampLat(y), x, 0))))];
  for (const c of h0) estimates.set(c, (estimates.get(c) ?? 0) + cells / h0.length);
}

/** Groups all 122 h0 cells into `units` groups of balanced estimated cells (see the module comment). */
export function groupH0Cells(estimates: ReadonlyMap<string, number>, units: number): RepartitionPlan {
  if (!Number.isInteger(units) || units < 1 || units > 122) throw new Error(`repartition units must be 1–122, got ${units}`);
  const all = getRes0Cells().map(h0Name).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  const groups = Array.from({ length: units }, (_, index) => ({ index, load: 0, h0: [] as string[] }));
  const estimated = all.filter((c) => (estimates.get(c) ?? 0) > 0).sort((a, b) => estimates.get(b)! - estimates.get(a)! || (BigInt(a) < BigInt(b) ? -1 : 1));
  for (const c of estimated) {
    const g = groups.reduce((m, x) => (x.load < m.load ? x : m));
    g.h0.push(c);
    g.load += estimates.get(c)!;
  }
  all.filter((c) => !((estimates.get(c) ?? 0) > 0)).forEach((c, i) => groups[i % units].h0.push(c));
  return {
    units,
    groups: groups.map((g) => ({ index: g.index, estimatedCells: Math.round(g.load), h0: g.h0.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)) })),
  };
}

/** Estimates of one feature with a non-null geometry. */
export interface PlanFeature {
  fid: number;
  cells: number;
  vertices: number;
}

/** Estimated H3 cells of a geometry at `resolution` (see the module comment); at least 1. */
export function estimateCells(info: Pick<WkbInfo, 'areaKm2' | 'lengthKm' | 'points' | 'polygons' | 'lines'>, resolution: number): number {
  let cells = 0;
  if (info.polygons > 0) cells += Math.round(info.areaKm2 / getHexagonAreaAvg(resolution, 'km2'));
  if (info.lines > 0) cells += Math.ceil(info.lengthKm / getHexagonEdgeLengthAvg(resolution, 'km'));
  cells += info.points;
  return Math.max(1, cells);
}

/** Splits integer `total` into `n` integer parts differing by at most one; part `i`. */
function share(total: number, n: number, i: number): number {
  return Math.floor(((i + 1) * total) / n) - Math.floor((i * total) / n);
}

interface Item {
  fid: number;
  piece: number;
  pieces: number;
  work: number;
  cells: number;
  vertices: number;
}

/**
 * Builds the plan. `features` are the features with a geometry (any order, unique fids);
 * `featureCount` counts all rows, `nullGeometries` those without a geometry.
 */
export function buildHexPlan(opts: {
  layer: string;
  idColumn: string;
  resolution: number;
  units: number;
  featureCount: number;
  nullGeometries: number;
  droppedParts?: DroppedParts;
  badGeometries?: BadGeometries;
  features: readonly PlanFeature[];
  /** Repartition units and the estimated cells per h0 cell. @default 1 unit, no estimates */
  repartitionUnits?: number;
  h0Estimates?: ReadonlyMap<string, number>;
}): HexPlan {
  const { units } = opts;
  if (!Number.isInteger(units) || units < 1) throw new Error(`units must be a positive integer, got ${units}`);
  let total = 0;
  let cellsTotal = 0;
  for (const f of opts.features) {
    total += f.cells + f.vertices;
    cellsTotal += f.cells;
  }
  const perUnit = total / units;

  const items: Item[] = [];
  for (const f of opts.features) {
    const work = f.cells + f.vertices;
    const pieces = units > 1 && work > perUnit ? Math.min(units, Math.ceil(work / perUnit)) : 1;
    for (let p = 0; p < pieces; p++) {
      items.push({
        fid: f.fid, piece: p, pieces, work: work / pieces,
        cells: share(f.cells, pieces, p), vertices: share(f.vertices, pieces, p),
      });
    }
  }
  items.sort((a, b) => b.work - a.work || a.fid - b.fid || a.piece - b.piece);

  const workUnits: WorkUnit[] = Array.from({ length: units }, (_, index) => ({ index, estimatedCells: 0, vertices: 0, items: [] }));
  const assigned: Item[][] = Array.from({ length: units }, () => []);
  const heap = new MinHeap(units);
  for (const item of items) {
    const u = heap.popMin();
    assigned[u].push(item);
    workUnits[u].estimatedCells += item.cells;
    workUnits[u].vertices += item.vertices;
    heap.push(u, heap.loadOf(u) + item.work);
  }
  for (let u = 0; u < units; u++) {
    workUnits[u].items = assigned[u]
      .sort((a, b) => a.fid - b.fid || a.piece - b.piece)
      .map((i) => (i.pieces > 1 ? { fid: i.fid, piece: i.piece, pieces: i.pieces } : { fid: i.fid }));
  }
  return {
    version: 1,
    layer: opts.layer,
    idColumn: opts.idColumn,
    resolution: opts.resolution,
    units,
    features: opts.featureCount,
    nullGeometries: opts.nullGeometries,
    ...(opts.droppedParts?.features ? { droppedParts: opts.droppedParts } : {}),
    ...(opts.badGeometries?.features ? { badGeometries: opts.badGeometries } : {}),
    estimatedCells: cellsTotal,
    workUnits,
    repartition: groupH0Cells(opts.h0Estimates ?? new Map(), opts.repartitionUnits ?? 1),
  };
}

/** Min-heap of unit indices keyed by (load, index). */
class MinHeap {
  private readonly ids: number[] = [];
  private readonly load: Float64Array;

  constructor(n: number) {
    this.load = new Float64Array(n);
    for (let i = 0; i < n; i++) this.ids.push(i); // all loads 0: already a heap by index
  }

  loadOf(u: number): number {
    return this.load[u];
  }

  private less(a: number, b: number): boolean {
    return this.load[a] < this.load[b] || (this.load[a] === this.load[b] && a < b);
  }

  popMin(): number {
    const top = this.ids[0];
    const last = this.ids.pop()!;
    if (this.ids.length) {
      this.ids[0] = last;
      this.down(0);
    }
    return top;
  }

  push(u: number, load: number): void {
    this.load[u] = load;
    this.ids.push(u);
    let i = this.ids.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(this.ids[i], this.ids[p])) break;
      [this.ids[i], this.ids[p]] = [this.ids[p], this.ids[i]];
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.ids.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(this.ids[l], this.ids[m])) m = l;
      if (r < n && this.less(this.ids[r], this.ids[m])) m = r;
      if (m === i) return;
      [this.ids[i], this.ids[m]] = [this.ids[m], this.ids[i]];
      i = m;
    }
  }
}

/**
 * Checks a plan's invariants: `units` work units indexed 0…units−1, every item's fid whole
 * exactly once or as all of its pieces 0…pieces−1 exactly once (never both), counts consistent.
 * Returns the set of planned fids.
 * @throws Error naming the first violation.
 */
export function checkHexPlan(plan: HexPlan): Set<number> {
  if (plan.version !== 1) throw new Error(`unsupported hex plan version ${plan.version}`);
  if (plan.workUnits.length !== plan.units) throw new Error(`plan has ${plan.workUnits.length} work units, expected ${plan.units}`);
  const whole = new Set<number>();
  const pieces = new Map<number, { n: number; seen: Set<number> }>();
  let cells = 0;
  plan.workUnits.forEach((u, i) => {
    if (u.index !== i) throw new Error(`work unit ${i} has index ${u.index}`);
    cells += u.estimatedCells;
    for (const it of u.items) {
      if (it.pieces === undefined) {
        if (whole.has(it.fid) || pieces.has(it.fid)) throw new Error(`fid ${it.fid} planned twice`);
        whole.add(it.fid);
      } else {
        if (whole.has(it.fid)) throw new Error(`fid ${it.fid} planned whole and in pieces`);
        const e = pieces.get(it.fid) ?? { n: it.pieces, seen: new Set<number>() };
        if (e.n !== it.pieces || it.piece === undefined || it.piece < 0 || it.piece >= it.pieces || e.seen.has(it.piece))
          throw new Error(`fid ${it.fid}: bad or repeated piece ${it.piece} of ${it.pieces}`);
        e.seen.add(it.piece);
        pieces.set(it.fid, e);
      }
    }
  });
  for (const [fid, e] of pieces) if (e.seen.size !== e.n) throw new Error(`fid ${fid}: ${e.seen.size} of ${e.n} pieces planned`);
  if (cells !== plan.estimatedCells) throw new Error(`work units sum to ${cells} cells, plan says ${plan.estimatedCells}`);
  const all = new Set<number>([...whole, ...pieces.keys()]);
  if (all.size !== plan.features - plan.nullGeometries)
    throw new Error(`plan covers ${all.size} features, expected ${plan.features - plan.nullGeometries} (features − null geometries)`);
  return all;
}
