/**
 * Which products `cng preview` shows: each layer's PMTiles archive, hex directory and manifest, found
 * in a `cng local` output directory or named by a dataset's Jobs (dist/) in the directory store.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { open } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { parseManifests, readDist } from '../../constructs/index.ts';
import { CommandError } from '../../worker/core/errors.ts';
import { datasetStages, jobArg } from '../local/runner.ts';

/** Where one layer's products are on disk. */
export interface LayerFiles {
  /** Layer id in URLs: the product's base name (the slug in `cng local` output). */
  readonly name: string;
  readonly pmtiles?: string;
  /** The hive-partitioned hex directory (`…/<name>/hex`). */
  readonly hexDir?: string;
  readonly manifest?: string;
}

/** DIR mode: `DIR/<name>.pmtiles`, `DIR/<name>/hex/`, `DIR/<name>/manifest.json`. */
export function layersFromDir(dir: string): LayerFiles[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CommandError(`'${dir}' is not a directory`);
  const names = new Set<string>();
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.pmtiles')) names.add(e.name.slice(0, -'.pmtiles'.length));
    if (e.isDirectory() && isDir(join(dir, e.name, 'hex'))) names.add(e.name);
  }
  return [...names].sort().map((name) => ({
    name,
    pmtiles: fileOrUndefined(join(dir, `${name}.pmtiles`)),
    hexDir: isDir(join(dir, name, 'hex')) ? join(dir, name, 'hex') : undefined,
    manifest: fileOrUndefined(join(dir, name, 'manifest.json')),
  }));
}

/**
 * Dataset mode: the outputs the dataset's Jobs (dist/) name — each layer's publish `--out-pmtiles`,
 * `--out-hex` and `--manifest` — with `s3://bucket/key` read from `<dataDir>/store/bucket/key`.
 */
export function layersFromDataset(dataset: string, dataDir: string, distDir = 'dist'): { layers: LayerFiles[]; expected: string[] } {
  if (!isDir(distDir)) throw new CommandError(`no '${distDir}' directory here: run cng preview from the repository root (or run cng synth)`);
  const stages = datasetStages(parseManifests(readDist(distDir)), dataset);
  const local = (url: string) => {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
    return m ? join(dataDir, 'store', m[1], m[2]) : resolve(url);
  };
  const byLayer = new Map<string, { name?: string; pmtiles?: string; hexDir?: string; manifest?: string }>();
  for (const s of stages) {
    if (!s.layer || (s.kind !== 'tiles-merge' && s.kind !== 'publish' && s.kind !== 'raster-manifest')) continue;
    const job = s.jobs[0];
    const entry = byLayer.get(s.layer) ?? byLayer.set(s.layer, {}).get(s.layer)!;
    if (s.kind === 'tiles-merge' && jobArg(job, '--manifest')) {
      // A tileset's merge publishes its archive itself: shown under the archive's name.
      const out = jobArg(job, '--out')!;
      Object.assign(entry, { name: basename(out, '.pmtiles'), pmtiles: local(out), manifest: local(jobArg(job, '--manifest')!) });
    } else if (s.kind === 'tiles-merge') {
      entry.name ??= jobArg(job, '--layer-name');
    } else if (s.kind === 'publish') {
      const out = jobArg(job, '--out-pmtiles');
      if (out) entry.pmtiles = local(out);
      const hex = jobArg(job, '--out-hex');
      if (hex) entry.hexDir = local(hex);
      entry.manifest = local(jobArg(job, '--manifest')!);
      entry.name ??= out ? basename(out, '.pmtiles') : undefined;
    } else {
      const out = jobArg(job, '--out');
      const manifest = jobArg(job, '--manifest');
      if (out) entry.hexDir = local(out);
      if (manifest) entry.manifest = local(manifest);
      // <name>/hex (vector; raster layout 'named') or hex/<name> (raster layout 'formats')
      const parts = (out ?? '').replace(/\/+$/, '').split('/');
      entry.name ??= out ? (parts.at(-1) === 'hex' ? parts.at(-2) : parts.at(-1)) : undefined;
    }
  }
  const expected: string[] = [];
  const layers: LayerFiles[] = [];
  for (const [key, e] of byLayer) {
    expected.push(...[e.pmtiles, e.hexDir].filter((p): p is string => Boolean(p)));
    const files: LayerFiles = {
      name: e.name ?? key,
      pmtiles: e.pmtiles && fileOrUndefined(e.pmtiles),
      hexDir: e.hexDir && isDir(e.hexDir) ? e.hexDir : undefined,
      manifest: e.manifest && fileOrUndefined(e.manifest),
    };
    if (files.pmtiles || files.hexDir) layers.push(files);
  }
  return { layers, expected };
}

/** Whether `p` is a directory (false when it does not exist). */
export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function fileOrUndefined(p: string): string | undefined {
  try {
    return statSync(p).isFile() ? p : undefined;
  } catch {
    return undefined;
  }
}

/** A PMTiles v3 archive's header and metadata, read here so the server needs no PMTiles library. */

export interface PmtilesInfo {
  bounds: [number, number, number, number];
  minzoom: number;
  maxzoom: number;
  center: [number, number, number];
  vectorLayers: { id: string; fields: string[] }[];
}

/** The v3 header's zooms, bounds and centre, and the vector layers from the JSON metadata. */
export async function readPmtilesInfo(path: string): Promise<PmtilesInfo> {
  const fh = await open(path, 'r');
  try {
    const h = Buffer.alloc(127);
    await fh.read(h, 0, 127, 0);
    if (h.toString('latin1', 0, 7) !== 'PMTiles' || h[7] !== 3) throw new CommandError(`'${path}' is not a PMTiles v3 archive`);
    const metaOffset = Number(h.readBigUInt64LE(24));
    const metaLength = Number(h.readBigUInt64LE(32));
    const e7 = (o: number) => h.readInt32LE(o) / 1e7;
    let vectorLayers: PmtilesInfo['vectorLayers'] = [];
    if (metaLength > 0) {
      const raw = Buffer.alloc(metaLength);
      await fh.read(raw, 0, metaLength, metaOffset);
      const compression = h[97]; // 1 none, 2 gzip
      const text = (compression === 2 ? gunzipSync(raw) : raw).toString('utf8');
      try {
        const meta = JSON.parse(text);
        vectorLayers = (meta.vector_layers ?? []).map((l: any) => ({ id: String(l.id), fields: Object.keys(l.fields ?? {}) }));
      } catch {
        vectorLayers = [];
      }
    }
    return {
      minzoom: h[100],
      maxzoom: h[101],
      bounds: [e7(102), e7(106), e7(110), e7(114)],
      center: [e7(119), e7(123), h[118]],
      vectorLayers,
    };
  } finally {
    await fh.close();
  }
}
