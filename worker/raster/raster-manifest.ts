/**
 * `raster-manifest`: checks that all 122 raster-hex units of this run finished, removes the `h0=`
 * partitions no unit wrote, and writes the layer's manifest.json (docs/stages.md is the contract).
 */
import { CommandError } from '../core/errors.ts';
import { indexRanges, log } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import type { Storage } from '../io/storage.ts';
import { bandColumns, commonOptions, fingerprint, RASTER_UNITS, type RasterUnitStats } from './raster-layer.ts';
import { rasterManifestStageDef, type ValueKind } from './stages.ts';

/** `<layer>/manifest.json` of a raster layer (docs/stages.md). */
export interface RasterManifest {
  version: 1;
  kind: 'raster';
  valueKind: ValueKind;
  method: string;
  resolution: number;
  parents: number[];
  cells: number;
  partitions: number;
  nodataShare: number;
  valueRange?: Record<string, [number, number]>;
  classes?: Record<string, number>;
  total?: Record<string, number>;
  bands: { band: number; name: string; dataType: string; column: string }[];
  /** Hexed value = raw aggregate × scale + offset (present when the raster declares them; the COG keeps raw pixels). */
  scale?: number;
  offset?: number;
  nodata: number | null;
  nodataCollapsed: number[];
  cog: { url: string; bytes: number; width: number; height: number; crs: string; overviews: number; copied: boolean };
  bytes: number;
}

const METHODS: Record<ValueKind, string> = {
  continuous: 'area-weighted mean',
  count: 'area-weighted sum (mass-conserving)',
  categorical: 'majority class with per-class area fractions',
};

/**
 * `raster-manifest`: all 122 unit stats of this run (same info and options) must be present, else
 * a CommandError lists the missing units. Removes `h0=` partitions under --out that no unit wrote,
 * then writes manifest.json.
 */
export async function rasterManifestStage(opts: RawOptions): Promise<RasterManifest> {
  const o = rasterManifestStageDef.parse(opts);
  const manifestUrl = o.manifest;
  const { input, out, statsDir, kind, res, parents, storage, info, infoText } = await commonOptions(o);
  const units = await readUnitStats(storage, statsDir, fingerprint(infoText, kind, res, parents));
  const { partitions, bytes, removed } = await keepWrittenPartitions(storage, out, units);

  const columns = bandColumns(info, kind);
  const totalPixels = info.width * info.height;
  const valid = units.reduce((a, u) => a + u.validPixels, 0);
  const manifest: RasterManifest = {
    version: 1,
    kind: 'raster',
    valueKind: kind,
    method: METHODS[kind],
    resolution: res,
    parents,
    cells: units.reduce((a, u) => a + u.cells, 0),
    partitions,
    nodataShare: totalPixels > 0 ? Math.min(1, Math.max(0, round(1 - valid / totalPixels, 9))) : 0,
    bands: info.bands.map((b, i) => ({ ...b, column: columns[i]! })),
    ...(info.scale !== undefined || info.offset !== undefined ? { scale: info.scale ?? 1, offset: info.offset ?? 0 } : {}),
    nodata: info.nodata,
    nodataCollapsed: info.nodataCollapsed ?? [],
    cog: { url: input, bytes: info.bytes, width: info.width, height: info.height, crs: info.crs, overviews: info.overviews, copied: info.copied },
    bytes,
  };
  addValueSummary(manifest, columns, units);
  await storage.writeText(manifestUrl, JSON.stringify(manifest, null, 2) + '\n');
  log('raster-manifest', `${manifest.cells} cells in ${manifest.partitions} partitions (${bytes} bytes), nodata share ${manifest.nodataShare}; removed ${removed} stale object(s) → ${manifestUrl}`);
  return manifest;
}

/**
 * The stats files of all 122 units, each of this run (fingerprint `fp`); a CommandError lists the
 * missing units (an unreadable file or another run's counts as missing).
 */
async function readUnitStats(storage: Storage, statsDir: string, fp: string): Promise<RasterUnitStats[]> {
  const present = new Map((await storage.list(statsDir)).map((o) => [o.url.split('/').pop()!, o.url]));
  const read = await Promise.all(
    Array.from({ length: RASTER_UNITS }, async (_, i) => {
      const url = present.get(`unit-${i}.json`);
      if (!url) return null;
      try {
        return JSON.parse(await storage.readText(url)) as RasterUnitStats;
      } catch {
        return undefined; // unreadable: as stale
      }
    }),
  );
  const units: RasterUnitStats[] = [];
  const missing: number[] = [];
  let stale = 0;
  read.forEach((s, i) => {
    if (s === null) missing.push(i);
    else if (s?.version !== 1 || s.unit !== i || s.fingerprint !== fp) {
      missing.push(i);
      stale++;
    } else units.push(s);
  });
  if (missing.length > 0)
    throw new CommandError(
      `${missing.length} of ${RASTER_UNITS} raster-hex units missing under '${statsDir}': units ${indexRanges(missing)}${stale ? ` (${stale} of them from another run: other input or options)` : ''}; re-run those indices`,
    );
  return units;
}

/**
 * The partitions under --out: each unit with cells must have its own (else a CommandError lists
 * those units); `h0=…` objects that no unit wrote in this run are removed. Returns the number and
 * size of the units' partitions and how many stale objects were removed.
 */
async function keepWrittenPartitions(storage: Storage, out: string, units: RasterUnitStats[]): Promise<{ partitions: number; bytes: number; removed: number }> {
  const written = new Set(units.filter((u) => u.cells > 0).map((u) => `h0=${u.h0}/data_0.parquet`));
  const prefix = out.replace(/\/+$/, '');
  let removed = 0;
  let bytes = 0;
  const listed = await storage.list(out);
  const found = new Set<string>();
  for (const o of listed) {
    const rel = o.url.startsWith(prefix + '/') ? o.url.slice(prefix.length + 1) : '';
    if (written.has(rel)) {
      found.add(rel);
      bytes += o.size;
    }
  }
  const lost = units.filter((u) => u.cells > 0 && !found.has(`h0=${u.h0}/data_0.parquet`)).map((u) => u.unit);
  if (lost.length > 0) throw new CommandError(`the partitions of raster-hex units ${indexRanges(lost)} are missing under '${out}' though their stats list cells; re-run those indices`);
  for (const o of listed) {
    const rel = o.url.startsWith(prefix + '/') ? o.url.slice(prefix.length + 1) : '';
    if (/^h0=\d+\//.test(rel) && !written.has(rel)) removed += await storage.deletePrefix(o.url);
  }
  return { partitions: written.size, bytes, removed };
}

/** The layer's values: cells per majority class (categorical), else each column's range and (count) total. */
function addValueSummary(manifest: RasterManifest, columns: string[], units: RasterUnitStats[]): void {
  if (manifest.valueKind === 'categorical') {
    const classes: Record<string, number> = {};
    for (const u of units) for (const [c, n] of Object.entries(u.classes ?? {})) classes[c] = (classes[c] ?? 0) + n;
    manifest.classes = Object.fromEntries(Object.entries(classes).sort((a, b) => Number(a[0]) - Number(b[0])));
  } else {
    manifest.valueRange = {};
    for (const c of columns) {
      const mins = units.map((u) => u.columns[c]?.min).filter((x): x is number => typeof x === 'number');
      const maxs = units.map((u) => u.columns[c]?.max).filter((x): x is number => typeof x === 'number');
      if (mins.length) manifest.valueRange[c] = [Math.min(...mins), Math.max(...maxs)];
    }
    if (manifest.valueKind === 'count') {
      manifest.total = {};
      for (const c of columns) manifest.total[c] = units.reduce((a, u) => a + (u.columns[c]?.sum ?? 0), 0);
    }
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
