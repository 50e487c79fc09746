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
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CommandError, UsageError } from '../core/errors.ts';
import { log, Progress } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import { PmtilesWriter, type ArchiveStats } from '../io/pmtiles-writer.ts';
import { parseJson, Storage } from '../io/storage.ts';
import { sha256File } from '../io/layer-work.ts';
import { tilesMergeStageDef } from './stages.ts';
import { partName, tileUnit, type PartInfo, type TilesUnitOptions, type ZoomStats } from './tiles.ts';
import type { TileStrategy } from './tile-budget.ts';

const STAGE = 'tiles-merge';

export interface MergeOptions {
  /** The parts' prefix, or one per member of a tileset (with `units` and `members` alike). */
  parts: string | string[];
  units: number | number[];
  /** A tileset's member layers (their keys), in the order of `parts`: each renders its own zooms. */
  members?: string[];
  layerName: string;
  minZoom: number;
  maxZoom: number;
  /** PMTiles URL or path. */
  out: string;
  /** tiles.json URL or path. */
  report?: string;
  /**
   * Publishes the archive (a tileset's, whose `out` is its published key): writes this manifest
   * after the archive, then removes `work` (the run's parts). A re-run that finds no parts and a
   * manifest of `run` has nothing left to do.
   */
  manifest?: string;
  run?: number;
  work?: string;
  storage?: Storage;
}

/** One source of parts: a layer's units (a tileset has one per member layer). */
interface Member {
  name: string;
  parts: string;
  units: number;
}

/** A tileset member in the report and metadata: the zooms it rendered and its feature counts. */
export interface MemberReport {
  layer: string;
  minZoom: number;
  maxZoom: number;
  rows: number;
  features: number;
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
  /** A tileset's members: which layer each zoom's tiles come from. */
  members?: MemberReport[];
  archive: ArchiveStats;
}

/** A tileset's manifest.json (`merge --manifest`). */
export interface TilesetManifest {
  version: 1;
  kind: 'tileset';
  run: number;
  layer: string;
  members: MemberReport[];
  files: Record<string, { bytes: number; sha256: string }>;
  tiles: TilesReport;
}

export async function tilesMergeStage(opts: RawOptions): Promise<void> {
  const o = tilesMergeStageDef.parse(opts);
  await mergeTiles({ ...o, parts: o.parts.length === 1 ? o.parts[0] : o.parts, units: o.units.length === 1 ? o.units[0] : o.units });
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

const membersOf = (o: MergeOptions): Member[] => {
  const parts = typeof o.parts === 'string' ? [o.parts] : o.parts;
  const units = typeof o.units === 'number' ? [o.units] : o.units;
  if (units.length !== parts.length || (o.members && o.members.length !== parts.length))
    throw new UsageError(`--parts, --units${o.members ? ' and --members' : ''} list ${[parts.length, units.length, ...(o.members ? [o.members.length] : [])].join(', ')} items; give one each per member`);
  return parts.map((p, i) => ({ name: o.members?.[i] ?? o.layerName, parts: p.replace(/\/+$/, ''), units: units[i] }));
};

/** Downloads every member's parts (local names `<member index>-part-…`); missing ones are a CommandError naming them. */
async function fetchParts(storage: Storage, members: Member[], work: string): Promise<PartInfo[][]> {
  const out: PartInfo[][] = [];
  for (const [m, { parts: base, units, name }] of members.entries()) {
    const missing: number[] = [];
    for (let u = 0; u < units; u++) if (!(await storage.exists(`${base}/${partName(u)}.json`))) missing.push(u);
    if (missing.length)
      throw new CommandError(
        `${missing.length} of ${units} tiles units${members.length > 1 ? ` of member ${name}` : ''} have no part under ${base}/ (units ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}); run them first`,
      );
    const infos: PartInfo[] = [];
    for (let u = 0; u < units; u++) {
      const url = `${base}/${partName(u)}.json`;
      infos.push(parseJson<PartInfo>(await storage.readText(url), url));
      for (const ext of ['tiles', 'idx']) await storage.download(`${base}/${partName(u)}.${ext}`, join(work, `${m}-${partName(u)}.${ext}`));
    }
    out.push(infos);
  }
  return out;
}

/**
 * Each member's zooms (those it has tiles in) and counts; a CommandError when two members have tiles
 * in the same zoom (the tiles of a zoom must come from one layer).
 */
function memberReports(members: Member[], infos: PartInfo[][]): MemberReport[] {
  const owner = new Map<number, string>();
  return members.map((m, i) => {
    const zooms = [...new Set(infos[i].flatMap((p) => Object.keys(p.zoomStats).filter((z) => p.zoomStats[z].tiles > 0).map(Number)))].sort((a, b) => a - b);
    for (const z of zooms) {
      const other = owner.get(z);
      if (other !== undefined) throw new CommandError(`members ${other} and ${m.name} both have tiles at zoom ${z}; each zoom's tiles must come from one layer (re-run the members' tiles with their own zooms)`);
      owner.set(z, m.name);
    }
    const layer = infos[i][0].layer;
    const range = infos[i].flatMap((p) => (p.zooms[0] <= p.zooms[1] ? p.zooms : []));
    return { layer: m.name, minZoom: Math.min(...range, ...zooms), maxZoom: Math.max(...range, ...zooms), rows: layer.rows, features: layer.features };
  });
}

/** The union of the members' bounds and fields. */
function unionLayer(infos: PartInfo[][]): PartInfo['layer'] {
  const layers = infos.map((p) => p[0].layer);
  const withData = layers.filter((l) => l.features > 0);
  const b = (withData.length ? withData : layers).map((l) => l.bounds);
  return {
    rows: layers.reduce((n, l) => n + l.rows, 0),
    features: layers.reduce((n, l) => n + l.features, 0),
    outside: layers.reduce((n, l) => n + l.outside, 0),
    nullGeometries: layers.reduce((n, l) => n + l.nullGeometries, 0),
    bounds: [Math.min(...b.map((x) => x[0])), Math.min(...b.map((x) => x[1])), Math.max(...b.map((x) => x[2])), Math.max(...b.map((x) => x[3]))],
    fields: Object.assign({}, ...layers.map((l) => l.fields)),
  };
}

/** Packs the parts into `out` and writes the report (and, with `manifest`, publishes). */
export async function mergeTiles(o: MergeOptions): Promise<TilesReport> {
  if (o.minZoom > o.maxZoom) throw new UsageError(`--min-zoom (${o.minZoom}) is greater than --max-zoom (${o.maxZoom})`);
  const storage = o.storage ?? new Storage();
  const members = membersOf(o);
  if (o.manifest) {
    const done = await alreadyPublished(storage, o, members);
    if (done) return done;
  }
  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-tiles-merge-'));
  try {
    const infos = await fetchParts(storage, members, work);
    const tileset = o.members ? memberReports(members, infos) : undefined;
    const layer = tileset ? unionLayer(infos) : infos[0][0].layer;
    const zooms = zoomTable(infos.flat(), o.minZoom, o.maxZoom);
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
      ...(tileset ? { members: tileset.map((m) => ({ layer: m.layer, minzoom: m.minZoom, maxzoom: m.maxZoom, features: m.features })) } : {}),
      generator: 'cng-worker tiles (@maplibre/geojson-vt, @maplibre/vt-pbf)',
    };
    const archive = join(work, 'out.pmtiles');
    const writer = await PmtilesWriter.create(`${archive}.tiledata`);
    let stats: ArchiveStats;
    try {
      const parts = members.flatMap((m, i) => Array.from({ length: m.units }, (_, u) => join(work, `${i}-${partName(u)}`)));
      await packParts(writer, parts, o.minZoom, o.maxZoom);
      stats = await writer.finish(archive, { minZoom: o.minZoom, maxZoom: o.maxZoom, bounds: layer.bounds, center }, metadata);
    } catch (e) {
      await writer.abort();
      throw e;
    }
    log(STAGE, `packed ${stats.addressedTiles} tiles (${stats.tileContents} distinct, ${stats.tileEntries} entries, ${stats.leafDirectories} leaf directories), ${stats.bytes} bytes`);
    await storage.upload(archive, o.out, 'application/vnd.pmtiles');
    const report: TilesReport = {
      layer: o.layerName, minZoom: o.minZoom, maxZoom: o.maxZoom, units: members.reduce((n, m) => n + m.units, 0),
      rows: layer.rows, features: layer.features, nullGeometries: layer.nullGeometries, outside: layer.outside, bounds: layer.bounds, zooms,
      ...(tileset ? { members: tileset } : {}), archive: stats,
    };
    if (o.report) await storage.writeText(o.report, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
    if (o.manifest) await publishManifest(storage, o, report, archive);
    log(STAGE, `wrote ${o.out}${o.report ? ` and ${o.report}` : ''}${o.manifest ? ` and ${o.manifest}` : ''}`);
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A re-run after publishing (the parts are gone, the manifest is of this run): its report. */
async function alreadyPublished(storage: Storage, o: MergeOptions, members: Member[]): Promise<TilesReport | undefined> {
  if (await storage.exists(`${members[0].parts}/${partName(0)}.json`)) return undefined;
  const m = await storage.readText(o.manifest!).then((t) => parseJson<TilesetManifest>(t, o.manifest!)).catch(() => undefined);
  if (!m || m.run !== o.run) return undefined;
  if (o.work) await storage.deletePrefix(o.work);
  log(STAGE, `${o.manifest}: already published by run ${o.run}`);
  return m.tiles;
}

/** Writes the tileset's manifest.json (the commit point), then removes the run's work files. */
async function publishManifest(storage: Storage, o: MergeOptions, report: TilesReport, archive: string): Promise<void> {
  const manifestUrl = o.manifest!;
  // Keys relative to the dataset prefix: the manifest is `<prefix>/<name>/manifest.json`.
  const base = dirname(dirname(manifestUrl));
  const rel = o.out.startsWith(`${base}/`) ? o.out.slice(base.length + 1) : basename(o.out);
  const manifest: TilesetManifest = {
    version: 1, kind: 'tileset', run: o.run ?? 1, layer: o.layerName, members: report.members ?? [],
    files: { [rel]: { bytes: (await stat(archive)).size, sha256: await sha256File(archive) } }, tiles: report,
  };
  await storage.writeText(manifestUrl, `${JSON.stringify(manifest, null, 2)}\n`, 'application/json');
  if (o.work) log(STAGE, `removed ${await storage.deletePrefix(o.work)} work files under ${o.work}`);
}

/** Adds every part's tiles in tile-id order: per zoom, unit by unit (a zoom's tiles are one member's). */
async function packParts(writer: PmtilesWriter, files: string[], minZoom: number, maxZoom: number): Promise<void> {
  const parts = files.map((f) => {
    const b = readFileSync(`${f}.idx`);
    return { idx: new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8), at: 0, fd: openSync(`${f}.tiles`, 'r') };
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
