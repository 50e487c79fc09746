/**
 * The work of one thread: a {@link Task} is a batch of jobs (a polygon, lines or points), run on
 * one {@link H3Engine}; its result is the cells of every job, job after job, with per-job counts.
 */
import type { Polygon, Ring } from '../shapes.ts';
import { concatCells, uniqueCells } from './cells.ts';
import type { Containment, H3Engine } from './engine.ts';
import { DEFAULT_SPLIT, FAST_SPLIT, NO_SPLIT, splitPolygon, type SplitLimits } from './split.ts';

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
