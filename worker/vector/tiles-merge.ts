/**
 * `cng-worker tiles-merge`: the parts of every tiles unit → one PMTiles v3 archive, plus the
 * tile report.
 *
 * Every unit's part must be there (else a CommandError listing the missing units). Tiles are
 * added zoom by zoom and, within a zoom, unit by unit: the units' tile-id ranges are disjoint and
 * ascending (Hilbert ranges of the split zoom), so the archive is clustered without a global sort;
 * the writer (worker/io/pmtiles-writer.ts) stores identical tiles once. Header: MVT, gzip, zooms,
 * bounds = the layer's data extent (latitudes clamped to Web Mercator's), a centre where the
 * bounds fit about one tile. Metadata: vector_layers (the layer, its fields), and `strategies` —
 * per zoom the features kept, dropped and coalesced to keep tiles within the budget, and the
 * largest tile's bytes (like tippecanoe's). The same figures go to `--report` (tiles.json).
 * An empty layer gives a valid archive without tiles. The parts stay in the run's work directory,
 * so a re-run of the merge alone (e.g. its output was deleted) gives the same archive.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, UsageError } from '../core/errors.ts';
import { log, Progress } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import { PmtilesWriter, type ArchiveStats } from '../io/pmtiles-writer.ts';
import { parseJson, Storage } from '../io/storage.ts';
import { tilesMergeStageDef } from './stages.ts';
import { partName, tileUnit, type PartInfo, type TilesUnitOptions, type ZoomStats } from './tiles.ts';
import type { TileStrategy } from './tile-budget.ts';

const STAGE = 'tiles-merge';

export interface MergeOptions {
  parts: string;
  units: number;
  layerName: string;
  minZoom: number;
  maxZoom: number;
  /** PMTiles URL or path. */
  out: string;
  /** tiles.json URL or path. */
  report?: string;
  storage?: Storage;
}

/** tiles.json: what the tiles stage made of the layer. */
export interface TilesReport {
  layer: string;
  minZoom: number;
  maxZoom: number;
  units: number;
  rows: number;
  features: number;
  nullGeometries: number;
  /** Rows entirely beyond ±85.0511° (not tileable). */
  outside: number;
  bounds: [number, number, number, number];
  zooms: ({ zoom: number } & ZoomStats)[];
  archive: ArchiveStats;
}

export async function tilesMergeStage(opts: RawOptions): Promise<void> {
  await mergeTiles(tilesMergeStageDef.parse(opts));
}

/** Degrees latitude → Web Mercator y in 0..1 (north = 0). */
function mercY(lat: number): number {
  const r = (lat * Math.PI) / 180;
  return (1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2;
}

/** Centre of the bounds, at the highest zoom where the bounds still fit in about one tile. */
export function centerOf(bounds: [number, number, number, number], minZoom: number, maxZoom: number): [number, number, number] {
  const [w, s, e, n] = bounds;
  const span = Math.max((e - w) / 360, mercY(s) - mercY(n));
  const z = span > 0 ? Math.floor(Math.log2(1 / span)) : maxZoom;
  return [(w + e) / 2, (s + n) / 2, Math.min(maxZoom, Math.max(minZoom, z))];
}

/** Sums the units' per-zoom counts. */
function zoomTable(infos: PartInfo[], minZoom: number, maxZoom: number): TilesReport['zooms'] {
  const out: TilesReport['zooms'] = [];
  for (let z = minZoom; z <= maxZoom; z++) {
    const row = { zoom: z, tiles: 0, features: 0, dropped: 0, coalesced: 0, largestTileBytes: 0, oversize: 0 };
    for (const i of infos) {
      const s = i.zoomStats[z];
      if (!s) continue;
      (row.tiles += s.tiles), (row.features += s.features), (row.dropped += s.dropped), (row.coalesced += s.coalesced), (row.oversize += s.oversize);
      row.largestTileBytes = Math.max(row.largestTileBytes, s.largestTileBytes);
    }
    out.push(row);
  }
  return out;
}

/** Downloads every part; missing ones are a CommandError naming them. */
async function fetchParts(storage: Storage, o: MergeOptions, work: string): Promise<PartInfo[]> {
  const base = o.parts.replace(/\/+$/, '');
  const missing: number[] = [];
  for (let u = 0; u < o.units; u++) if (!(await storage.exists(`${base}/${partName(u)}.json`))) missing.push(u);
  if (missing.length)
    throw new CommandError(`${missing.length} of ${o.units} tiles units have no part under ${base}/ (units ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}); run them first`);
  const infos: PartInfo[] = [];
  for (let u = 0; u < o.units; u++) {
    const url = `${base}/${partName(u)}.json`;
    infos.push(parseJson<PartInfo>(await storage.readText(url), url));
    for (const ext of ['tiles', 'idx']) await storage.download(`${base}/${partName(u)}.${ext}`, join(work, `${partName(u)}.${ext}`));
  }
  return infos;
}

/** Packs the parts into `out` and writes the report. */
export async function mergeTiles(o: MergeOptions): Promise<TilesReport> {
  if (o.minZoom > o.maxZoom) throw new UsageError(`--min-zoom (${o.minZoom}) is greater than --max-zoom (${o.maxZoom})`);
  const storage = o.storage ?? new Storage();
  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-tiles-merge-'));
  try {
    const infos = await fetchParts(storage, o, work);
    const layer = infos[0].layer;
    const zooms = zoomTable(infos, o.minZoom, o.maxZoom);
    const center = centerOf(layer.bounds, o.minZoom, o.maxZoom);
    const metadata = {
      name: o.layerName,
      description: '',
      type: 'overlay',
      format: 'pbf',
      version: '2',
      minzoom: o.minZoom,
      maxzoom: o.maxZoom,
      bounds: layer.bounds.join(','),
      center: center.join(','),
      vector_layers: [{ id: o.layerName, description: '', minzoom: o.minZoom, maxzoom: o.maxZoom, fields: layer.fields }],
      strategies: zooms.map((z) => ({ zoom: z.zoom, tiles: z.tiles, features: z.features, dropped_as_needed: z.dropped, coalesced_as_needed: z.coalesced, largest_tile_bytes: z.largestTileBytes })),
      generator: 'cng-worker tiles (@maplibre/geojson-vt, @maplibre/vt-pbf)',
    };
    const archive = join(work, 'out.pmtiles');
    const writer = await PmtilesWriter.create(`${archive}.tiledata`);
    let stats: ArchiveStats;
    try {
      await packParts(writer, work, infos.length, o.minZoom, o.maxZoom);
      stats = await writer.finish(archive, { minZoom: o.minZoom, maxZoom: o.maxZoom, bounds: layer.bounds, center }, metadata);
    } catch (e) {
      await writer.abort();
      throw e;
    }
    log(STAGE, `packed ${stats.addressedTiles} tiles (${stats.tileContents} distinct, ${stats.tileEntries} entries, ${stats.leafDirectories} leaf directories), ${stats.bytes} bytes`);
    await storage.upload(archive, o.out, 'application/vnd.pmtiles');
    const report: TilesReport = {
      layer: o.layerName, minZoom: o.minZoom, maxZoom: o.maxZoom, units: o.units,
      rows: layer.rows, features: layer.features, nullGeometries: layer.nullGeometries, outside: layer.outside, bounds: layer.bounds, zooms, archive: stats,
    };
    if (o.report) await storage.writeText(o.report, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
    log(STAGE, `wrote ${o.out}${o.report ? ` and ${o.report}` : ''}`);
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Adds every part's tiles in tile-id order: per zoom, unit by unit. */
async function packParts(writer: PmtilesWriter, work: string, units: number, minZoom: number, maxZoom: number): Promise<void> {
  const parts = Array.from({ length: units }, (_, u) => {
    const b = readFileSync(join(work, `${partName(u)}.idx`));
    return { idx: new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8), at: 0, fd: openSync(join(work, `${partName(u)}.tiles`), 'r') };
  });
  const total = parts.reduce((s, p) => s + p.idx.length / 3, 0);
  const progress = new Progress(STAGE, 'tiles packed', total);
  let done = 0;
  try {
    for (let z = minZoom; z <= maxZoom; z++) {
      const end = (4 ** (z + 1) - 1) / 3; // first tile id of zoom z + 1
      for (const p of parts) {
        for (; p.at < p.idx.length && p.idx[p.at] < end; p.at += 3) {
          const buf = Buffer.allocUnsafe(p.idx[p.at + 2]);
          readSync(p.fd, buf, 0, buf.length, p.idx[p.at + 1]);
          await writer.addTile(p.idx[p.at], buf);
          progress.update(++done);
        }
      }
    }
    progress.done(done);
  } finally {
    for (const p of parts) closeSync(p.fd);
  }
}

/**
 * The whole tiles stage in this process (every unit, then the merge): for tests, benchmarks and
 * small layers. Parts go to a scratch directory.
 */
export async function buildPmtiles(o: {
  input: string; out: string; layerName: string; minZoom?: number; maxZoom?: number; units?: number; splitZoom?: number;
  strategy?: TileStrategy; maxTileBytes?: number; maxTileFeatures?: number; report?: string; storage?: Storage;
}): Promise<TilesReport> {
  const storage = o.storage ?? new Storage();
  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-tiles-all-'));
  try {
    const localInput = join(work, 'input.parquet');
    await storage.download(o.input, localInput);
    const unit: Omit<TilesUnitOptions, 'index'> = { ...o, minZoom: o.minZoom ?? 0, maxZoom: o.maxZoom ?? 14, units: o.units ?? 1, parts: join(work, 'parts'), localInput, storage };
    for (let index = 0; index < unit.units; index++) await tileUnit({ ...unit, index });
    return await mergeTiles({ ...unit, out: o.out, report: o.report });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
