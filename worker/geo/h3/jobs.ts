/**
 * The jobs of one plan item, cut in the main thread: its shapes clipped to the item's longitude
 * strip, large polygons cut into pieces so that threads share a feature, then lines and points.
 *
 * Overlap containment is cut with GEOS (gdal-async, which worker threads cannot load): rings
 * clipped one by one, as ../clip.ts does, would leave zero-width bridges along the cut, which
 * overlap containment would count as touching cells.
 */
import gdal from 'gdal-async';
import { clipShapesToPiece } from '../clip.ts';
import { polygonVertices, ringBBox, type BBox, type Polygon, type Shapes } from '../shapes.ts';
import { parseWkb, shapesToWkb } from '../wkb.ts';
import { type Containment, estimateCells } from './engine.ts';
import { isLeaf, type Job, MAX_PIECE_WIDTH, type SplitLimits, splitPolygonIter } from './tasks.ts';

/** How the main thread cuts: pieces for H3's polyfill (overlap) and the size of one task. */
export interface JobCut {
  split: SplitLimits;
  taskVertices: number;
  taskCells: number;
}

/** A job and its size (vertices, estimated cells), by which jobs are batched into tasks. */
export interface SizedJob {
  job: Job;
  vertices: number;
  cells: number;
}

/** The part of a feature in piece `piece` of `pieces` equal-width longitude strips of its bbox. */
export function pieceShapes(feature: Shapes, bbox: BBox, piece: number, pieces: number, mode: Containment): Shapes {
  return mode === 'overlap' ? clipShapesGeos(feature, bbox, piece, pieces) : clipShapesToPiece(feature, bbox, piece, pieces);
}

/** The jobs of an item's shapes, in order: its polygons (cut when large), its lines, its points. */
export function* shapeJobs(shapes: Shapes, res: number, mode: Containment, cut: JobCut): Generator<SizedJob> {
  for (const p of shapes.polygons) {
    const v = polygonVertices(p);
    const cells = estimateCells(p, res);
    if (mode === 'overlap') {
      // threads cannot cut for overlap containment: cut here, with GEOS, down to leaf size
      const pieces: Polygon[] = [];
      if (isLeaf(v, cells, ringBBox(p[0]), res, cut.split)) pieces.push(p);
      else splitPolygonGeos(p, res, cut.split, (q) => pieces.push(q));
      for (const q of pieces) yield { job: { kind: 'polygon', rings: q, split: false }, vertices: polygonVertices(q), cells: q === p ? cells : estimateCells(q, res) };
    } else if (v <= cut.taskVertices && cells <= cut.taskCells) yield { job: { kind: 'polygon', rings: p, split: true }, vertices: v, cells };
    else
      for (const q of splitPolygonIter(p, res, { minVertices: 0, maxVertices: cut.taskVertices, work: Infinity, maxCells: cut.taskCells }))
        yield { job: { kind: 'polygon', rings: q, split: true }, vertices: polygonVertices(q), cells: estimateCells(q, res) };
  }
  if (shapes.lines.length > 0) {
    let v = 0;
    for (const l of shapes.lines) v += l.length / 2;
    yield { job: { kind: 'lines', lines: shapes.lines }, vertices: v, cells: v };
  }
  if (shapes.points.length > 0) yield { job: { kind: 'points', coords: Float64Array.from(shapes.points) }, vertices: shapes.points.length / 2, cells: 1 };
}

/** {@link pieceShapes} with GEOS intersections for the polygons (lines and points as planar clips). */
function clipShapesGeos(s: Shapes, bbox: BBox, piece: number, pieces: number): Shapes {
  const w = (bbox.xmax - bbox.xmin) / pieces;
  const a = piece === 0 ? -1000 : bbox.xmin + piece * w;
  const b = piece === pieces - 1 ? 1000 : bbox.xmin + (piece + 1) * w;
  const strip = clipShapesToPiece({ polygons: [], lines: s.lines, points: s.points }, bbox, piece, pieces);
  for (const p of s.polygons) strip.polygons.push(...geosClip(p, { xmin: a, xmax: b, ymin: -1000, ymax: 1000 }));
  return strip;
}

/** The polygons of p ∩ rectangle r, by GEOS. */
function geosClip(p: Polygon, r: BBox): Polygon[] {
  const g = gdal.Geometry.fromWKB(Buffer.from(shapesToWkb({ polygons: [p], lines: [], points: [] })));
  const rect = gdal.Geometry.fromWKT(`POLYGON((${r.xmin} ${r.ymin},${r.xmax} ${r.ymin},${r.xmax} ${r.ymax},${r.xmin} ${r.ymax},${r.xmin} ${r.ymin}))`);
  const x = g.intersection(rect);
  if (!x || x.isEmpty()) return [];
  return parseWkb(new Uint8Array(x.toWKB())).polygons;
}

/** {@link splitPolygon} with GEOS intersections (exact polygons, no bridges) — main thread only. */
function splitPolygonGeos(p: Polygon, res: number, limits: SplitLimits, leaf: (q: Polygon) => void): void {
  const stack: Polygon[] = [p];
  while (stack.length > 0) {
    const q = stack.pop()!;
    const b = ringBBox(q[0]);
    const v = polygonVertices(q);
    const w = b.xmax - b.xmin;
    const h = b.ymax - b.ymin;
    if (isLeaf(v, estimateCells(q, res), b, res, limits) || Math.max(w, h) < 1e-9) {
      leaf(q);
      continue;
    }
    const axis = w * Math.cos((((b.ymin + b.ymax) / 2) * Math.PI) / 180) >= h || w > MAX_PIECE_WIDTH ? 0 : 1;
    const mid = axis === 0 ? b.xmin + w / 2 : b.ymin + h / 2;
    const m = 1 + Math.max(w, h);
    const lo = axis === 0 ? { xmin: b.xmin - m, xmax: mid, ymin: b.ymin - m, ymax: b.ymax + m } : { xmin: b.xmin - m, xmax: b.xmax + m, ymin: b.ymin - m, ymax: mid };
    const hi = axis === 0 ? { xmin: mid, xmax: b.xmax + m, ymin: b.ymin - m, ymax: b.ymax + m } : { xmin: b.xmin - m, xmax: b.xmax + m, ymin: mid, ymax: b.ymax + m };
    stack.push(...geosClip(q, hi).reverse(), ...geosClip(q, lo).reverse());
  }
}
