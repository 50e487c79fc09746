import { type BBox, type Polygon, type Ring, ringBBox } from '../shapes.ts';
import { bboxCells, concatCells, type Containment, estimateCells, type H3Engine, uniqueCells } from './engine.ts';
import { splitRing } from '../clip.ts';

/**
 * The work of one thread: a {@link Task} is a batch of jobs (a polygon, lines or points), run on
 * one {@link H3Engine}; its result is the cells of every job, job after job, with per-job counts.
 */

/**
 * Centre-containment cells of a polygon, streamed to `add` piece by piece: the fast polyfill
 * when available (pieces of ≤ 2 M cells), else H3's own polyfill on pieces cut by `limits`.
 */
export function centerCells(engine: H3Engine, p: Polygon, res: number, limits: SplitLimits, add: (cells: Uint32Array) => void, fastLimits: SplitLimits = FAST_SPLIT): void {
  const slow = (q: Polygon) => splitPolygon(q, res, limits, (r) => add(engine.polyfill(r, res, 'center')));
  if (!engine.fast) return slow(p);
  splitPolygon(p, res, limits === NO_SPLIT ? NO_SPLIT : fastLimits, (q) => {
    const cells = engine.polyfillCenterFast(q, res);
    if (cells) add(cells);
    else slow(q);
  });
}

/** Cells of one polygon, split as needed — all in memory: for tests and tools. */
export function polygonCells(engine: H3Engine, p: Polygon, res: number, mode: Containment = 'center', limits: SplitLimits = DEFAULT_SPLIT, fastLimits: SplitLimits = FAST_SPLIT): Uint32Array {
  const parts: Uint32Array[] = [];
  if (mode === 'center') centerCells(engine, p, res, limits, (c) => parts.push(c), fastLimits);
  else parts.push(engine.polyfill(p, res, mode));
  return concatCells(parts.length ? parts : [new Uint32Array(0)]);
}

/** One unit of work for a thread: a polygon (split further when large), lines, or points. */
export type Job =
  | { kind: 'polygon'; rings: Polygon; split: boolean }
  | { kind: 'lines'; lines: Ring[] }
  | { kind: 'points'; coords: Float64Array };

export interface Task {
  seq: number;
  res: number;
  mode: Containment;
  /** Pieces for H3's own polyfill. */
  limits: SplitLimits;
  /** Pieces for the fast centre polyfill. */
  fastLimits: SplitLimits;
  jobs: Job[];
}

export interface TaskResult {
  seq: number;
  /** Cells of all jobs, job after job. */
  cells: Uint32Array;
  /** Cells per job. */
  counts: Int32Array;
  error?: string;
}

/** Runs a task: the cells of each job, concatenated, with per-job counts. */
export function runTask(engine: H3Engine, task: Task): TaskResult {
  const parts: Uint32Array[] = [];
  const counts = new Int32Array(task.jobs.length);
  task.jobs.forEach((job, j) => {
    let n = 0;
    const add = (c: Uint32Array) => {
      if (c.length > 0) {
        parts.push(c);
        n += c.length / 2;
      }
    };
    if (job.kind === 'polygon') {
      if (task.mode === 'center') centerCells(engine, job.rings, task.res, job.split ? task.limits : NO_SPLIT, add, task.fastLimits);
      else add(engine.polyfill(job.rings, task.res, task.mode));
    } else if (job.kind === 'lines') {
      const all = job.lines.map((l) => engine.lineCells(l, task.res));
      add(all.length === 1 ? all[0] : uniqueCells(concatCells(all)));
    } else add(engine.pointCells(job.coords, task.res));
    counts[j] = n;
  });
  return { seq: task.seq, cells: concatCells(parts.length ? parts : [new Uint32Array(0)]), counts };
}

/**
 * Splitting large polygons into rectangle pieces small enough for one polyfill call. Pieces are
 * exact planar clips (../clip.ts), so with centre containment the pieces' cells are exactly the
 * polygon's.
 */

export interface SplitLimits {
  /** A piece with at most this many vertices is always polyfilled in one call… */
  minVertices: number;
  /** …otherwise only with at most this many vertices… */
  maxVertices: number;
  /** …and vertices × estimated cells at most this (h3-js's cost grows with their product)… */
  work: number;
  /** …and at most this many estimated cells (bounds the h3-js heap per call). */
  maxCells: number;
}

/**
 * Pieces for H3's own polyfill (overlap containment, and centre containment off the fast path).
 * Measured on a 200,000-vertex synthetic coast (5.4 M res-10 cells): 1.0 s with these limits,
 * 9.6 s with pieces of up to 4,096 vertices; toolchain.md: 145 s for one 200,000-vertex call.
 */
export const DEFAULT_SPLIT: SplitLimits = { minVertices: 32, maxVertices: 2048, work: 50_000, maxCells: 1_000_000 };

/**
 * Widest piece (degrees of longitude) H3 is given: H3 takes an edge spanning more than 180° for
 * one crossing the antimeridian, and a polygon around a pole (its parts from convert run along ±90°
 * over up to 360°) must reach it as strips.
 */
export const MAX_PIECE_WIDTH = 90;

/** Whether a piece (v vertices, estimated cells, bbox) is polyfilled in one call under `l`. */
export function isLeaf(v: number, cells: number, b: BBox, res: number, l: SplitLimits): boolean {
  if (b.xmax - b.xmin > MAX_PIECE_WIDTH) return false;
  if (cells > l.maxCells || bboxCells(b, res) > 4 * l.maxCells) return false;
  return v <= l.minVertices || (v <= l.maxVertices && v * Math.max(cells, 1) <= l.work);
}

/**
 * Splits a polygon into rectangle pieces until every piece is within `limits`, halving the
 * longer side (in km) of its bbox each time. Pieces are exact planar clips, so with centre
 * containment the pieces' cells are exactly the polygon's. Calls `leaf` for each piece,
 * west/south first.
 */
export function splitPolygon(p: Polygon, res: number, limits: SplitLimits, leaf: (piece: Polygon) => void): void {
  for (const q of splitPolygonIter(p, res, limits)) leaf(q);
}

/** {@link splitPolygon} as a generator: pieces come out as they are cut. */
export function* splitPolygonIter(p: Polygon, res: number, limits: SplitLimits): Generator<Polygon> {
  const stack: { p: Polygon; b: BBox }[] = [{ p, b: ringBBox(p[0]) }];
  while (stack.length > 0) {
    const { p: q, b } = stack.pop()!;
    let v = 0;
    for (const r of q) v += r.length >> 1;
    const w = b.xmax - b.xmin;
    const h = b.ymax - b.ymin;
    if (Math.max(w, h) < 1e-9 || ((v <= limits.maxVertices || v <= limits.minVertices) && isLeaf(v, estimateCells(q, res), b, res, limits))) {
      yield q;
      continue;
    }
    const kmW = w * Math.cos((((b.ymin + b.ymax) / 2) * Math.PI) / 180);
    const axis: 0 | 1 = kmW >= h || w > MAX_PIECE_WIDTH ? 0 : 1;
    const mid = axis === 0 ? b.xmin + w / 2 : b.ymin + h / 2;
    const [lo, hi] = splitRing(q[0], axis, mid);
    const loP: Polygon | null = lo ? [lo.ring] : null;
    const hiP: Polygon | null = hi ? [hi.ring] : null;
    for (let i = 1; i < q.length; i++) {
      const [l, u] = splitRing(q[i], axis, mid);
      if (l && loP) loP.push(l.ring);
      if (u && hiP) hiP.push(u.ring);
    }
    if (hiP) stack.push({ p: hiP, b: hi!.box });
    if (loP) stack.push({ p: loP, b: lo!.box });
  }
}

/** Never split (for jobs already cut to size). */
export const NO_SPLIT: SplitLimits = { minVertices: Infinity, maxVertices: Infinity, work: Infinity, maxCells: Infinity };

/**
 * Pieces for the fast centre polyfill: its cost does not grow with vertices × cells, so pieces
 * are bounded by cells only (the output buffer of one call).
 */
export const FAST_SPLIT: SplitLimits = { minVertices: 0, maxVertices: Infinity, work: Infinity, maxCells: 2_000_000 };
