import { CommandError } from '../core/errors.ts';
import { indexRanges, log } from '../core/log.ts';
import { alreadyPublished, checkedBeforePublish, hexReportUrl, readHexReports, readRepartitionReports } from '../io/layer-work.ts';
import { BAD_KINDS, noBad, PointSource, rowsByH0, type BadCounts, type PointFileCount, type PointsRepartitionReport, type PointsUnitReport } from '../io/point-work.ts';
import { joinUrl, Storage } from '../io/storage.ts';
import type { RawOptions } from '../stage.ts';
import { removeStale } from './layer.ts';
import { pointsPublishStageDef } from './stages.ts';

/**
 * `points-publish`: the completeness check of a points product, then its one publication.
 * Checks (nothing published is touched before all pass): every points-hex and points-repartition
 * unit reported; the source lists exactly the files the units read, each read once; per file and
 * in all, written + bad = read; per h0 cell, the partition's rows = the rows the units wrote for
 * it. Then copies the staged partitions into place, removes published ones this run did not
 * write, writes manifest.json last and removes the run's work directory.
 */

/** `<name>/manifest.json` of a points product (docs/stages.md#points-publish). */
export interface PointsManifest {
  version: 1;
  kind: 'points';
  layer: string;
  run: number;
  source: string;
  resolution: number;
  parents: number[];
  source_files: number;
  rows_read: number;
  rows_written: number;
  bad_coordinates: BadCounts;
  /** Rows in the partitions (one a point), as layer manifests name them. */
  cells: number;
  partitions: number;
  bytes: number;
  /** Per source file: rows read, written and with bad coordinates (sorted by file). */
  files_read: Record<string, Omit<PointFileCount, 'file'>>;
  /** Every published file (key relative to the dataset prefix): size and sha256. */
  files: Record<string, { bytes: number; sha256: string }>;
}

export async function pointsPublishStage(opts: RawOptions, env: NodeJS.ProcessEnv = process.env): Promise<PointsManifest> {
  const o = pointsPublishStageDef.parse(opts);
  const storage = new Storage(env);
  const done = await alreadyPublished<PointsManifest>(storage, 'points-publish', { marker: hexReportUrl(o.chunks, 0), manifest: o.manifest, run: o.run, work: o.work });
  if (done) return done;
  const { hex, partitions } = await checkedBeforePublish(`points '${o.name}'`, () => check(storage, o));
  for (const p of partitions) await storage.copy(p.from, p.to);
  await removeStale(storage, o.outHex, new Set(partitions.map((p) => p.to)));
  const base = o.manifest.replace(/\/[^/]+\/manifest\.json$/, '');
  const rel = (url: string) => (url.startsWith(`${base}/`) ? url.slice(base.length + 1) : url);
  const files = hex.flatMap((r) => r.files).sort((a, b) => (a.file < b.file ? -1 : 1));
  const bad = noBad();
  for (const f of files) for (const k of BAD_KINDS) bad[k] += f.bad[k];
  const manifest: PointsManifest = {
    version: 1,
    kind: 'points',
    layer: o.name,
    run: o.run,
    source: o.source,
    resolution: o.resolution,
    parents: o.parents ?? Array.from({ length: o.resolution }, (_, i) => o.resolution - 1 - i),
    source_files: files.length,
    rows_read: files.reduce((n, f) => n + f.rows, 0),
    rows_written: files.reduce((n, f) => n + f.written, 0),
    bad_coordinates: bad,
    cells: partitions.reduce((n, p) => n + p.rows, 0),
    partitions: partitions.length,
    bytes: partitions.reduce((n, p) => n + p.bytes, 0),
    files_read: Object.fromEntries(files.map(({ file, ...c }) => [file, c])),
    files: Object.fromEntries(partitions.map((p) => [rel(p.to), { bytes: p.bytes, sha256: p.sha256 }])),
  };
  await storage.writeText(o.manifest, JSON.stringify(manifest, null, 2) + '\n', 'application/json');
  await storage.deletePrefix(hexReportUrl(o.chunks, 0));
  const removed = o.work ? await storage.deletePrefix(o.work) : 0;
  log('points-publish', `${o.manifest}: run ${o.run}, ${manifest.rows_read} rows read from ${files.length} files, ${manifest.rows_written} written in ${partitions.length} partitions, bad coordinates ${JSON.stringify(bad)}; removed ${removed} work files`);
  return manifest;
}

type Options = ReturnType<typeof pointsPublishStageDef.parse>;

/** Every check; what to copy. @throws CommandError on the first that fails. */
async function check(storage: Storage, o: Options) {
  const hex = (await readHexReports(storage, o.chunks, o.units)) as unknown as PointsUnitReport[];
  const reports = (await readRepartitionReports(storage, o.reports, o.repartitionUnits)) as unknown as PointsRepartitionReport[];
  const listed = await new PointSource(o.source, o.sourceEndpoint, storage).list();
  const readBy = new Map<string, number[]>();
  for (const r of hex) for (const f of r.files) readBy.set(f.file, [...(readBy.get(f.file) ?? []), r.index]);
  const unread = listed.filter((f) => !readBy.has(f));
  if (unread.length) throw new CommandError(`${unread.length} source file(s) no unit read (${unread.slice(0, 3).join(', ')}${unread.length > 3 ? ', …' : ''}): the source changed since points-hex ran; re-run the dataset`);
  const twice = [...readBy].filter(([, u]) => u.length > 1);
  if (twice.length) throw new CommandError(`${twice.length} source file(s) read by more than one unit (${twice[0][0]}: units ${twice[0][1].join(', ')}); re-run points-hex`);
  const gone = [...readBy.keys()].filter((f) => !listed.includes(f));
  if (gone.length) throw new CommandError(`${gone.length} file(s) the units read are no longer listed (${gone[0]}): the source changed; re-run the dataset`);
  const sum = (b: BadCounts) => BAD_KINDS.reduce((n, k) => n + b[k], 0);
  const unbalanced = hex.filter((r) => r.written + sum(r.bad) !== r.rows || r.files.some((f) => f.written + sum(f.bad) !== f.rows));
  if (unbalanced.length) throw new CommandError(`points-hex unit(s) ${indexRanges(unbalanced.map((r) => r.index))} report rows written + bad ≠ rows read; re-run them`);
  const expected = rowsByH0(hex);
  const staged = new Map((await storage.list(o.stagedHex)).map((x) => [x.url, x.size]));
  const partitions: { from: string; to: string; rows: number; bytes: number; sha256: string }[] = [];
  for (const r of reports)
    for (const [h0, p] of Object.entries(r.partitions)) {
      const from = joinUrl(o.stagedHex, `h0=${h0}`, 'data_0.parquet');
      if (staged.get(from) !== p.bytes) throw new CommandError(`staged partition '${from}' is ${staged.has(from) ? `${staged.get(from)} bytes, its report says ${p.bytes}` : 'missing'}; re-run points-repartition unit ${r.index}`);
      if (p.rows !== expected.get(h0)) throw new CommandError(`h0=${h0}: the partition has ${p.rows} rows, the points-hex units wrote ${expected.get(h0) ?? 0}; re-run points-repartition unit ${r.index}`);
      expected.delete(h0);
      partitions.push({ from, to: joinUrl(o.outHex, `h0=${h0}`, 'data_0.parquet'), ...p });
    }
  const left = [...expected].filter(([, n]) => n > 0);
  if (left.length) throw new CommandError(`${left.length} h0 cell(s) with rows have no partition (h0=${left[0][0]}); re-run points-repartition`);
  partitions.sort((a, b) => (a.to < b.to ? -1 : 1));
  return { hex, partitions };
}
