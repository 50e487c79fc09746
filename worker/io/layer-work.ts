import { createHash } from 'node:crypto';
import type { FetchRecord } from './sources.ts';
import { createReadStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { CommandError } from '../core/errors.ts';
import { indexRanges, log } from '../core/log.ts';
import { joinUrl, parseJson, type Storage } from './storage.ts';

/**
 * The work files of one vector layer's run (`<name>/_work/run-<run>/`, constructs' layerPaths)
 * that the hex, repartition and publish stages hand each other: the hex plan's header, the hex and
 * repartition unit reports (each written last by its unit: a unit counts as done once its report
 * is there), the ids file, and the checksums of what gets published.
 */

/** The features whose geometry lost parts of another dimension: how many, the parts in all, the first ids (at most 20). */
export interface DroppedParts {
  features: number;
  parts: number;
  ids: number[];
}

/** Rows kept with a NULL geometry because their geometry was unusable: how many, the first ids and source FIDs. */
export interface BadGeometries {
  features: number;
  /** The first ids (at most 20), in the plan's `idColumn`. */
  ids: number[];
  /** The same features' FIDs in the source (GDAL's). */
  sourceFids: number[];
}

/** The h0 cells grouped into repartition units (decimal UBIGINT strings, as in `h0=<cell>`). */
export interface RepartitionPlan {
  units: number;
  groups: { index: number; estimatedCells: number; h0: string[] }[];
}

/** `<chunks>/_units/unit-N.json`: what one hex unit wrote. */
export interface HexUnitReport {
  version: 1;
  index: number;
  features: number;
  cells: number;
  /** Rows written per h0 cell (decimal, as in `h0=<cell>`). */
  h0: Record<string, number>;
}

/** File name of unit `index`'s chunk (in `h0=<cell>/`) and reports, without extension. */
export const unitName = (index: number) => `unit-${String(index).padStart(6, '0')}`;

/** Where hex unit `index` reports. */
export const hexReportUrl = (chunks: string, index: number) => joinUrl(chunks, '_units', `${unitName(index)}.json`);

/** What repartition and publish need from the hex plan (docs/stages.md). */
export interface PlanHeader {
  layer?: string;
  units: number;
  resolution: number;
  idColumn?: string;
  features: number;
  nullGeometries: number;
  droppedParts?: DroppedParts;
  badGeometries?: BadGeometries;
  repartition?: RepartitionPlan;
  sources?: LayerManifest['sources'];
}

/** `<reports>/unit-N.json`: what one repartition unit wrote. */
export interface RepartitionReport {
  version: 1;
  index: number;
  /** Distinct feature ids in this unit's partitions (a feature may be in several units). */
  features: number;
  cells: number;
  bytes: number;
  /** Per h0 cell written (decimal, as in `h0=<cell>`). */
  partitions: Record<string, { cells: number; bytes: number; sha256: string }>;
}

/** `<layer>/manifest.json`: the counts docs and STAC are generated from (written by publish). */
export interface LayerManifest {
  version: 1;
  layer: string;
  source_layer: string | null;
  /** The dataset file's run that published these files. */
  run?: number;
  resolution: number;
  parents: number[];
  containment: string;
  features: number;
  null_geometries: number;
  /** Features that lost parts of another dimension in convert (absent when none did). */
  dropped_parts?: DroppedParts;
  /** Rows convert kept with a NULL geometry because it was unusable (`badGeometry: 'null'`; absent when none). */
  bad_geometries?: BadGeometries;
  features_hexed: number;
  cells: number;
  partitions: number;
  bytes: number;
  /** Per-zoom tile counts from the tiles' report (absent without one). */
  tiles?: unknown;
  /** A multi-file or fetched source: the files read, and each raw copy's fetch record (url, bytes, sha256, ETag, Last-Modified). */
  sources?: { files: string[]; fetched?: FetchRecord[] };
  /** Every published file (key relative to the dataset prefix): size and sha256. */
  files?: Record<string, { bytes: number; sha256: string }>;
}

/** The repartition unit's report and ids files. */
export const repartitionReportUrl = (reports: string, index: number) => joinUrl(reports, `${unitName(index)}.json`);
export const repartitionIdsUrl = (reports: string, index: number) => joinUrl(reports, `ids-${String(index).padStart(6, '0')}.parquet`);

/** The hex plan, checked for this resolution and for repartition groups. */
export async function readPlan(storage: Storage, planUrl: string, res: number): Promise<PlanHeader> {
  const plan = parseJson<PlanHeader>(await storage.readText(planUrl), planUrl);
  if (plan.resolution !== res)
    throw new CommandError(`plan '${planUrl}' is for resolution ${plan.resolution}, but --resolution is ${res}: re-run convert`);
  if (!plan.repartition?.groups?.length) throw new CommandError(`plan '${planUrl}' has no repartition groups (written by an older convert): re-run convert`);
  return plan;
}

/** Every hex unit's report. @throws CommandError naming the units that have not reported. */
export function readHexReports(storage: Storage, chunks: string, units: number): Promise<HexUnitReport[]> {
  return readReports<HexUnitReport>(storage, joinUrl(chunks, '_units'), units, (i) => hexReportUrl(chunks, i), 'hex work units', 'hex');
}

/** Every repartition unit's report. @throws CommandError naming the units that have not reported. */
export function readRepartitionReports(storage: Storage, reports: string, units: number): Promise<RepartitionReport[]> {
  return readReports<RepartitionReport>(storage, reports, units, (i) => repartitionReportUrl(reports, i), 'repartition units', 'repartition');
}

/** Reports 0…units−1 (32 reads at a time). @throws CommandError naming the units without one. */
async function readReports<T>(storage: Storage, dir: string, units: number, urlOf: (i: number) => string, what: string, stage: string): Promise<T[]> {
  const present = new Set((await storage.list(dir)).map((o) => o.url));
  const missing = Array.from({ length: units }, (_, i) => i).filter((i) => !present.has(urlOf(i)));
  if (missing.length)
    throw new CommandError(`${missing.length} of ${units} ${what} have not finished (no report under '${dir}'): ${indexRanges(missing)}; re-run those ${stage} indices`);
  const out: T[] = [];
  for (let i = 0; i < units; i += 32)
    out.push(...(await Promise.all(Array.from({ length: Math.min(32, units - i) }, async (_, k) => parseJson<T>(await storage.readText(urlOf(i + k)), urlOf(i + k))))));
  return out;
}

/** A local path of an object: the file itself for local stores, else a download to `path`. */
export async function localCopy(storage: Storage, url: string, path: string): Promise<string> {
  const loc = storage.resolve(url);
  if (loc.kind === 'file' && existsSync(loc.path)) return loc.path;
  await storage.download(url, path);
  return path;
}

/** sha256 hex digest of a local file. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/**
 * A publish stage re-run after its work files went (e.g. a preempted pod): when `marker` (the first
 * work file publish removes) is gone and `manifest` says this run, the product is published —
 * `work` (when given) is removed and the manifest returned. Undefined otherwise.
 */
export async function alreadyPublished<M extends { run?: number }>(
  storage: Storage, stage: string, o: { marker: string; manifest: string; run: number; work?: string },
): Promise<M | undefined> {
  if (await storage.exists(o.marker)) return undefined;
  const done = await storage.readText(o.manifest).then((t) => parseJson<M>(t, o.manifest)).catch(() => undefined);
  if (done?.run !== o.run) return undefined;
  if (o.work) await storage.deletePrefix(o.work);
  log(stage, `${o.manifest}: already published by run ${o.run}`);
  return done;
}

/** Runs a publish stage's checks: a failed one names the product and says nothing was published. */
export async function checkedBeforePublish<T>(what: string, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (err instanceof CommandError) throw new CommandError(`${what}: ${err.message}; nothing was published`);
    throw err;
  }
}
