/**
 * One vector tile's bytes under a budget, the way tippecanoe keeps tiles small: a tile whose
 * gzipped MVT is over `maxBytes`, or that has more than `maxFeatures` features, loses its
 * smallest features (by area for polygons, length for lines; points first) until it fits —
 * coalesced into a neighbouring feature of the same kind (`coalesce-densest`: the geometry stays,
 * the attributes of the absorbed feature go) or dropped (`drop-densest`). At the max zoom nothing
 * is dropped (over-zooming shows every feature there); a tile still over the budget is counted as
 * oversize.
 */
import { gzipSync } from 'node:zlib';
import type { GeoJSONVTFeature } from '@maplibre/geojson-vt';
import { fromGeojsonVt } from '@maplibre/vt-pbf';

export const TILE_STRATEGIES = ['coalesce-densest', 'drop-densest'] as const;
export type TileStrategy = (typeof TILE_STRATEGIES)[number];

export interface TileBudget {
  maxBytes: number;
  maxFeatures: number;
  strategy: TileStrategy;
}

/** What became of one tile's features. */
export interface EncodedTile {
  /** gzipped MVT. */
  data: Buffer;
  kept: number;
  dropped: number;
  coalesced: number;
  /** Still over the budget (only at the max zoom, or one feature alone is too big). */
  oversize: boolean;
}

type Feature = GeoJSONVTFeature;

/** Encodes `features` (attributes already in `tags`) as layer `layer`, gzipped. */
export function encodeMvt(layer: string, features: GeoJSONVTFeature[]): Buffer {
  return gzipSync(fromGeojsonVt({ [layer]: { features } }, { version: 2, extent: 4096 }));
}

/** Size of a feature in the tile: polygon area, line length (points: 0). */
function sizeOf(f: Feature): number {
  if (f.type === 1) return 0;
  let s = 0;
  for (const ring of f.geometry as unknown as [number, number][][]) {
    for (let i = 1; i < ring.length; i++) {
      const [ax, ay] = ring[i - 1];
      const [bx, by] = ring[i];
      s += f.type === 3 ? ax * by - bx * ay : Math.hypot(bx - ax, by - ay);
    }
  }
  return Math.abs(f.type === 3 ? s / 2 : s);
}

const fits = (b: TileBudget, bytes: number, n: number) => bytes <= b.maxBytes && n <= b.maxFeatures;

/** The tile without its `remove` smallest features (coalesced into a same-kind neighbour, or dropped). */
function reduce(features: Feature[], order: number[], remove: number, coalesce: boolean): { out: Feature[]; coalesced: number } {
  const gone = new Uint8Array(features.length);
  for (let i = 0; i < remove; i++) gone[order[i]] = 1;
  const out: Feature[] = [];
  const lastOfType = new Map<number, Feature>();
  const orphans = new Map<number, Feature[]>();
  let coalesced = 0;
  for (let i = 0; i < features.length; i++) {
    const f = features[i];
    if (!gone[i]) {
      const kept = { ...f, geometry: [...f.geometry] } as Feature;
      // Features removed before the first kept one of their kind join it.
      for (const o of orphans.get(f.type) ?? []) (kept.geometry as unknown[]).push(...o.geometry), coalesced++;
      orphans.delete(f.type);
      out.push(kept);
      lastOfType.set(f.type, kept);
    } else if (coalesce) {
      const target = lastOfType.get(f.type);
      if (target) (target.geometry as unknown[]).push(...f.geometry), coalesced++;
      else orphans.set(f.type, [...(orphans.get(f.type) ?? []), f]);
    }
  }
  return { out, coalesced };
}

/** The tile's gzipped MVT within `budget` (never reduced when `isMaxZoom`). */
export function encodeWithinBudget(layer: string, features: GeoJSONVTFeature[], budget: TileBudget, isMaxZoom: boolean): EncodedTile {
  const n = features.length;
  let data = encodeMvt(layer, features);
  if (fits(budget, data.length, n)) return { data, kept: n, dropped: 0, coalesced: 0, oversize: false };
  if (isMaxZoom || n <= 1) return { data, kept: n, dropped: 0, coalesced: 0, oversize: true };
  const feats = features as Feature[];
  const sizes = feats.map(sizeOf);
  const order = feats.map((_, i) => i).sort((a, b) => sizes[a] - sizes[b] || a - b);
  const ratio = Math.min(budget.maxBytes / data.length, budget.maxFeatures / n);
  const first = Math.max(1, Math.min(n - 1, n - Math.floor(n * ratio * 0.9)));
  // Coalescing keeps the geometry: when even coalescing all but one feature is too big, drop instead.
  for (const coalesce of budget.strategy === 'coalesce-densest' ? [true, false] : [false]) {
    for (let remove = first; ; remove = Math.min(n - 1, Math.ceil(remove * 1.5))) {
      const { out, coalesced } = reduce(feats, order, remove, coalesce);
      data = encodeMvt(layer, out);
      if (fits(budget, data.length, out.length)) return { data, kept: out.length, dropped: n - out.length - coalesced, coalesced, oversize: false };
      if (remove >= n - 1) {
        if (!coalesce) return { data, kept: out.length, dropped: n - out.length - coalesced, coalesced, oversize: true };
        break;
      }
    }
  }
  throw new Error('unreachable: the drop pass always returns');
}
