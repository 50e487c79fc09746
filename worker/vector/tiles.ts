/**
 * `cng-worker tiles`: one work unit of a layer's vector tiles (an Indexed Job; `tiles-merge`
 * packs the units' parts into one PMTiles archive).
 *
 * Units: with `--units 1` the one unit renders every zoom. Otherwise unit 0 renders the low zooms
 * (min zoom … split zoom − 1) of the whole layer, from features pre-simplified while they stream
 * in (Douglas–Peucker at half a tile unit of the split zoom − 1), and units 1 … N−1 render the
 * split zoom … max zoom, each for one contiguous range of the split zoom's tiles along the
 * PMTiles Hilbert curve (so a range's descendants are contiguous tile ids at every zoom). Every
 * unit computes the same ranges from the layer's bounding boxes (rows in the covering `bbox`
 * column): occupied split-zoom tiles weighted by the max-zoom tiles their features cover, cut
 * into N−1 runs of equal weight. A unit reads only the rows whose bbox can touch its range
 * (DuckDB prunes row groups on the bbox column), so its memory follows its area, not the layer.
 *
 * Tiling: geojson-vt (unit-square coordinates, 4096 extent, 64 buffer, simplification 1 tile unit
 * below the max zoom, none at it) walked depth first: a tile is cut from its parent's features
 * (hierarchical clipping), emitted, then its children; a subtree's tiles are released once done.
 * Each tile is encoded with vt-pbf and kept within the budget (tile-budget.ts), gzipped.
 *
 * Output: `<parts>/part-<unit>.tiles` (tile bytes), `.idx` (Float64 triples tile id, offset,
 * length, sorted by id) and `.json` (written last: the unit's per-zoom counts and the layer's
 * fields, bounds and feature counts).
 */
import { openSync, closeSync, writeSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeoJSONVT, type GeoJSONVTFeature } from '@maplibre/geojson-vt';
import type { Feature } from 'geojson';
import { UsageError } from '../core/errors.ts';
import { openDuckDB, readLimits, type Limits } from '../core/limits.ts';
import { log, Progress } from '../core/log.ts';
import { workUnitIndex, type RawOptions } from '../stage.ts';
import { tileIdToZxy, zxyToTileId } from '../io/pmtiles-writer.ts';
import { Storage } from '../io/storage.ts';
import { tilesStageDef } from './stages.ts';
import { encodeWithinBudget, type TileBudget, type TileStrategy } from './tile-budget.ts';
import {
  describeLayer, MERCATOR_MAX_LAT, mercX, mercY, readBoxes, readFeatures, toGeoJson,
  type Column, type FeatureStore, type LayerBoxes,
} from './tile-features.ts';

const STAGE = 'tiles';
export const TILE_EXTENT = 4096;
export const TILE_BUFFER = 64;
/** Simplification tolerance below the max zoom, in tile units. */
export const TILE_TOLERANCE = 1;
export const MAX_TILE_BYTES = 500_000;
export const MAX_TILE_FEATURES = 200_000;
/** Default first zoom of the high-zoom units. */
export const DEFAULT_SPLIT_ZOOM = 7;

export interface TilesUnitOptions {
  /** GeoParquet URL or path. */
  input: string;
  /** Prefix (URL or directory) the unit writes its part files under. */
  parts: string;
  layerName: string;
  minZoom: number;
  maxZoom: number;
  units: number;
  index: number;
  /** @default 7 (clamped to min zoom … max zoom) */
  splitZoom?: number;
  /** @default 'coalesce-densest' */
  strategy?: TileStrategy;
  /**
   * The zoom kept at full detail and never thinned (over-zoomed by maps). @default maxZoom; above it
   * (a tileset member whose zooms end below the archive's), the max zoom is simplified and budgeted
   * like any lower zoom.
   */
  detailZoom?: number;
  maxTileBytes?: number;
  maxTileFeatures?: number;
  storage?: Storage;
  limits?: Limits;
  /** A local copy of the input (the in-process runner downloads it once for all units). */
  localInput?: string;
}

/** Per-zoom counts of one unit (summed by the merge). */
export interface ZoomStats {
  tiles: number;
  /** Feature instances written (a feature counts once per tile it is in). */
  features: number;
  dropped: number;
  coalesced: number;
  largestTileBytes: number;
  oversize: number;
}

/** The `.json` of a part. */
export interface PartInfo {
  version: 1;
  unit: number;
  units: number;
  splitZoom: number;
  /** Zooms this unit rendered. */
  zooms: [number, number];
  /** Hilbert range of split-zoom tiles (high-zoom units). */
  range?: [number, number];
  zoomStats: Record<string, ZoomStats>;
  tiles: number;
  unitFeatures: number;
  unitVertices: number;
  layer: { rows: number; features: number; outside: number; nullGeometries: number; bounds: [number, number, number, number]; fields: Record<string, string> };
}

export const partName = (unit: number) => `part-${String(unit).padStart(6, '0')}`;

export async function tilesStage(opts: RawOptions): Promise<void> {
  const o = tilesStageDef.parse(opts);
  await tileUnit({ ...o, index: o.index ?? workUnitIndex() });
}

/** The split zoom actually used: within min zoom … max zoom. */
export function splitZoomOf(minZoom: number, maxZoom: number, requested = DEFAULT_SPLIT_ZOOM): number {
  return Math.max(minZoom, Math.min(requested, maxZoom));
}

const hilbertBase = (z: number) => (4 ** z - 1) / 3;
/** Position of z/x/y along zoom z's Hilbert curve. */
const hilbert = (z: number, x: number, y: number) => zxyToTileId(z, x, y) - hilbertBase(z);

/**
 * Ranges [from, to) of split-zoom Hilbert positions for the high-zoom units 1 … units−1, balanced by
 * the weight of the occupied tiles: 4 per feature touching a tile plus the max-zoom tiles its bbox
 * covers there.
 */
export function planRanges(b: LayerBoxes, split: number, maxZoom: number, units: number): [number, number][] {
  const high = units - 1;
  if (high <= 0) return [];
  const n = 2 ** split;
  const deep = 4 ** (maxZoom - split);
  const weight = new Map<number, number>();
  for (let i = 0; i < b.count; i++) {
    const x0 = mercX(b.boxes[4 * i]) * n, x1 = mercX(b.boxes[4 * i + 2]) * n;
    const y0 = mercY(Math.min(MERCATOR_MAX_LAT, b.boxes[4 * i + 3])) * n, y1 = mercY(Math.max(-MERCATOR_MAX_LAT, b.boxes[4 * i + 1])) * n;
    for (let tx = Math.max(0, Math.floor(x0)); tx <= Math.min(n - 1, Math.floor(x1)); tx++)
      for (let ty = Math.max(0, Math.floor(y0)); ty <= Math.min(n - 1, Math.floor(y1)); ty++) {
        const cover = (Math.min(x1, tx + 1) - Math.max(x0, tx)) * (Math.min(y1, ty + 1) - Math.max(y0, ty));
        const h = hilbert(split, tx, ty);
        weight.set(h, (weight.get(h) ?? 0) + 4 + cover * deep);
      }
  }
  const keys = [...weight.keys()].sort((a, c) => a - c);
  const total = keys.reduce((s, k) => s + weight.get(k)!, 0);
  const ranges: [number, number][] = [];
  let start = 0;
  let acc = 0;
  for (const k of keys) {
    if (ranges.length < high - 1 && acc >= (total * (ranges.length + 1)) / high) {
      ranges.push([start, k]);
      start = k;
    }
    acc += weight.get(k)!;
  }
  ranges.push([start, 4 ** split]);
  while (ranges.length < high) ranges.push([4 ** split, 4 ** split]);
  return ranges;
}

/** Whether tile z/x/y (z ≤ split) has a split-zoom descendant in [from, to). */
function inRange(z: number, x: number, y: number, split: number, [from, to]: [number, number]): boolean {
  const k = 4 ** (split - z);
  const h = hilbert(z, x, y) * k;
  return h < to && h + k > from;
}

/** Whether a unit-square bbox, grown by the tile buffer at `split`, touches a split tile of the range (also across ±180°). */
function touchesRange(x0: number, y0: number, x1: number, y1: number, split: number, range: [number, number]): boolean {
  const n = 2 ** split;
  const pad = TILE_BUFFER / TILE_EXTENT;
  const ty0 = Math.max(0, Math.floor(y0 * n - pad)), ty1 = Math.min(n - 1, Math.floor(y1 * n + pad));
  for (let tx = Math.floor(x0 * n - pad); tx <= Math.floor(x1 * n + pad); tx++)
    for (let ty = ty0; ty <= ty1; ty++) if (inRange(split, ((tx % n) + n) % n, ty, split, range)) return true;
  return false;
}

/** SQL bbox filter for a unit: the lon/lat envelope of its range's tiles plus the buffer (none across ±180°). */
function rangeWhere(bbox: readonly string[], split: number, range: [number, number]): string {
  const n = 2 ** split;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let h = range[0]; h < range[1]; h++) {
    const [, x, y] = tileOfHilbert(split, h);
    (x0 = Math.min(x0, x)), (x1 = Math.max(x1, x + 1)), (y0 = Math.min(y0, y)), (y1 = Math.max(y1, y + 1));
  }
  const pad = TILE_BUFFER / TILE_EXTENT;
  const lat = (y: number) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / n))) * 180) / Math.PI;
  const lon = (x: number) => (x / n) * 360 - 180;
  const parts = [`${bbox[1]} <= ${lat(y0 - pad)}`, `${bbox[3]} >= ${lat(y1 + pad)}`];
  if (x0 - pad > 0 && x1 + pad < n) parts.push(`${bbox[0]} <= ${lon(x1 + pad)}`, `${bbox[2]} >= ${lon(x0 - pad)}`);
  return parts.join(' AND ');
}

const tileOfHilbert = (z: number, h: number) => tileIdToZxy(hilbertBase(z) + h);

/** Which tiles a unit renders and which it walks through. */
interface UnitScope {
  emitFrom: number;
  emitTo: number;
  /** Whether the unit needs z/x/y or a descendant of it. */
  wanted: (z: number, x: number, y: number) => boolean;
}

function unitScope(o: TilesUnitOptions, split: number, range: [number, number] | undefined): UnitScope {
  if (o.units === 1) return { emitFrom: o.minZoom, emitTo: o.maxZoom, wanted: () => true };
  if (o.index === 0) return { emitFrom: o.minZoom, emitTo: split - 1, wanted: () => true };
  return { emitFrom: split, emitTo: o.maxZoom, wanted: (z, x, y) => z > split || inRange(z, x, y, split, range!) };
}

/** Tile bytes of a part, written as they come; the index sorted at the end. */
class PartWriter {
  private fd: number;
  private offset = 0;
  readonly ids: number[] = [];
  readonly offsets: number[] = [];
  readonly lengths: number[] = [];
  constructor(readonly dataPath: string) {
    this.fd = openSync(dataPath, 'w');
  }
  add(id: number, data: Buffer): void {
    writeSync(this.fd, data);
    this.ids.push(id);
    this.offsets.push(this.offset);
    this.lengths.push(data.length);
    this.offset += data.length;
  }
  /** Closes the data file and writes the index (tile id, offset, length; ascending ids). */
  finish(idxPath: string): void {
    closeSync(this.fd);
    const order = this.ids.map((_, i) => i).sort((a, b) => this.ids[a] - this.ids[b]);
    const idx = new Float64Array(3 * order.length);
    order.forEach((i, k) => idx.set([this.ids[i], this.offsets[i], this.lengths[i]], 3 * k));
    writeFileSync(idxPath, idx);
  }
}

const emptyStats = (): ZoomStats => ({ tiles: 0, features: 0, dropped: 0, coalesced: 0, largestTileBytes: 0, oversize: 0 });

/** Walks the unit's tiles depth first, emitting those in scope within the budget. */
function renderTiles(store: FeatureStore, o: TilesUnitOptions, scope: UnitScope, budget: TileBudget, out: PartWriter, stats: Record<string, ZoomStats>): void {
  const features = store.features;
  const data = {
    type: 'FeatureCollection' as const,
    // geojson-vt reads features[i] once each: built on demand, so only the compact store stays in memory.
    features: new Proxy([] as Feature[], {
      get: (t, p) => (p === 'length' ? features.length : typeof p === 'string' && /^\d+$/.test(p) ? (features[+p] ? toGeoJson(features[+p]!, +p) : { type: 'Feature', properties: null, geometry: null }) : Reflect.get(t, p)),
    }),
  };
  const detail = o.detailZoom ?? o.maxZoom;
  const vt = new GeoJSONVT(data, {
    maxZoom: detail, indexMaxZoom: 0, indexMaxPoints: 0, tolerance: TILE_TOLERANCE, extent: TILE_EXTENT, buffer: TILE_BUFFER, coordinates: 'unitSquare', wrap: true,
  });
  const tiles = (vt as unknown as { tileIndex: { tiles: Record<number, { numFeatures: number }> } }).tileIndex.tiles;
  const key = (z: number, x: number, y: number) => ((1 << z) * y + x) * 32 + z;
  const fid = store.columns.findIndex((c) => c.name === '_cng_fid');
  const attributes = (i: number) => {
    const tags: Record<string, unknown> = {};
    for (let c = 0; c < store.columns.length; c++) if (store.values[c][i] !== undefined) tags[store.columns[c].name] = store.values[c][i];
    return tags;
  };
  const progress = new Progress(STAGE, 'tiles written', undefined);
  let written = 0;
  const visit = (z: number, x: number, y: number) => {
    const tile = vt.getTile(z, x, y);
    if (!tile || !tiles[key(z, x, y)]?.numFeatures) return;
    if (z >= scope.emitFrom && z <= scope.emitTo && tile.features.length) {
      const feats = tile.features.map((f) => {
        const i = f.id as number;
        const id = fid >= 0 ? store.values[fid][i] : undefined;
        return { ...f, tags: attributes(i), ...(Number.isSafeInteger(id) && (id as number) >= 0 ? { id } : { id: undefined }) } as GeoJSONVTFeature;
      });
      const t = encodeWithinBudget(o.layerName, feats, budget, z === detail);
      const s = (stats[z] ??= emptyStats());
      s.tiles++;
      s.features += t.kept;
      s.dropped += t.dropped;
      s.coalesced += t.coalesced;
      s.largestTileBytes = Math.max(s.largestTileBytes, t.data.length);
      s.oversize += t.oversize ? 1 : 0;
      out.add(zxyToTileId(z, x, y), t.data);
      if (++written % 1000 === 0) progress.update(written);
    }
    if (z >= scope.emitTo) return;
    const children = [[2 * x, 2 * y], [2 * x + 1, 2 * y], [2 * x, 2 * y + 1], [2 * x + 1, 2 * y + 1]];
    for (const [cx, cy] of children) if (scope.wanted(z + 1, cx, cy)) visit(z + 1, cx, cy);
    for (const [cx, cy] of children) delete tiles[key(z + 1, cx, cy)];
  };
  if (features.length) visit(0, 0, 0);
  progress.done(written);
}

/** Runs one unit: reads its features, renders its tiles, writes its part. */
export async function tileUnit(o: TilesUnitOptions): Promise<PartInfo> {
  if (o.minZoom > o.maxZoom) throw new UsageError(`--min-zoom (${o.minZoom}) is greater than --max-zoom (${o.maxZoom})`);
  if (!/^[A-Za-z0-9_.-]+$/.test(o.layerName)) throw new UsageError(`--layer-name must be letters, digits, '_', '.' or '-', got '${o.layerName}'`);
  if (o.index >= o.units) throw new UsageError(`unit ${o.index} is not below --units ${o.units}`);
  if (o.detailZoom !== undefined && o.detailZoom < o.maxZoom) throw new UsageError(`--detail-zoom (${o.detailZoom}) is below --max-zoom (${o.maxZoom})`);
  const storage = o.storage ?? new Storage();
  const limits = o.limits ?? readLimits();
  const split = splitZoomOf(o.minZoom, o.maxZoom, o.splitZoom);
  const budget: TileBudget = { maxBytes: o.maxTileBytes ?? MAX_TILE_BYTES, maxFeatures: o.maxTileFeatures ?? MAX_TILE_FEATURES, strategy: o.strategy ?? 'coalesce-densest' };
  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-tiles-'));
  const t0 = Date.now();
  try {
    const parquet = o.localInput ?? join(work, 'input.parquet');
    if (!o.localInput) await storage.download(o.input, parquet);
    const db = await openDuckDB({ limits, share: 0.25 });
    let info: PartInfo;
    const part = new PartWriter(join(work, 'part.tiles'));
    try {
      const table = await describeLayer(db, parquet, o.input);
      const boxes = await readBoxes(db, table);
      const range = o.units > 1 && o.index > 0 ? planRanges(boxes, split, o.maxZoom, o.units)[o.index - 1] : undefined;
      const scope = unitScope(o, split, range);
      const empty = scope.emitFrom > scope.emitTo || (range !== undefined && range[0] >= range[1]);
      log(STAGE, `unit ${o.index} of ${o.units}: zooms ${scope.emitFrom}..${scope.emitTo}${range ? `, split-zoom ${split} tiles ${range[0]}..${range[1] - 1} along the Hilbert curve` : ''}`);
      // Unit 0 of several renders below the split zoom; a render whose max zoom is not the detail zoom
      // never needs more than half a tile unit of its max zoom.
      const coarsest = o.units > 1 && o.index === 0 ? split - 1 : (o.detailZoom ?? o.maxZoom) > o.maxZoom ? o.maxZoom : undefined;
      const lowTolerance = coarsest === undefined ? 0 : TILE_TOLERANCE / 2 / (2 ** coarsest * TILE_EXTENT);
      const progress = new Progress(STAGE, 'features read', undefined);
      const store = empty
        ? { columns: table.columns, features: [], values: [], vertices: 0 }
        : await readFeatures(db, table, {
            sqTolerance: lowTolerance * lowTolerance,
            ...(range ? { where: rangeWhere(table.bbox, split, range), accept: (x0, y0, x1, y1) => touchesRange(x0, y0, x1, y1, split, range) } : {}),
          }, (n) => progress.update(n));
      progress.done(store.features.length);
      log(STAGE, `${store.features.length} features, ${store.vertices} vertices in this unit`);
      const zoomStats: Record<string, ZoomStats> = {};
      if (!empty) renderTiles(store, o, scope, budget, part, zoomStats);
      info = {
        version: 1, unit: o.index, units: o.units, splitZoom: split, zooms: [scope.emitFrom, scope.emitTo], ...(range ? { range } : {}),
        zoomStats, tiles: part.ids.length, unitFeatures: store.features.length, unitVertices: store.vertices,
        layer: { rows: table.rows, features: boxes.count, outside: boxes.outside, nullGeometries: boxes.nullGeometries, bounds: boundsOf(boxes), fields: fieldsOf(table.columns) },
      };
    } finally {
      part.finish(join(work, 'part.idx'));
      db.closeSync();
    }
    const base = `${o.parts.replace(/\/+$/, '')}/${partName(o.index)}`;
    await storage.upload(join(work, 'part.tiles'), `${base}.tiles`, 'application/octet-stream');
    await storage.upload(join(work, 'part.idx'), `${base}.idx`, 'application/octet-stream');
    await storage.writeText(`${base}.json`, JSON.stringify(info), 'application/json');
    log(STAGE, `unit ${o.index}: ${info.tiles} tiles in ${((Date.now() - t0) / 1000).toFixed(1)}s → ${base}.*`);
    return info;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function fieldsOf(columns: Column[]): Record<string, string> {
  return Object.fromEntries(columns.map((c) => [c.name, c.field]));
}

/** Data extent of the tileable rows, latitudes clamped to Web Mercator's. */
function boundsOf(b: LayerBoxes): [number, number, number, number] {
  if (b.count === 0) return [-180, -MERCATOR_MAX_LAT, 180, MERCATOR_MAX_LAT];
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (let i = 0; i < b.count; i++) {
    w = Math.min(w, b.boxes[4 * i]);
    s = Math.min(s, b.boxes[4 * i + 1]);
    e = Math.max(e, b.boxes[4 * i + 2]);
    n = Math.max(n, b.boxes[4 * i + 3]);
  }
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  return [clamp(w, -180, 180), clamp(s, -MERCATOR_MAX_LAT, MERCATOR_MAX_LAT), clamp(e, -180, 180), clamp(n, -MERCATOR_MAX_LAT, MERCATOR_MAX_LAT)];
}
