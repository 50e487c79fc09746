import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from '../core/errors.ts';
import { openDuckDB } from '../core/limits.ts';
import { indexRanges, log } from '../core/log.ts';
import { plural, sqlIdent, sqlString } from '../core/text.ts';
import { joinUrl, parseJson, Storage } from '../io/storage.ts';
import { alreadyPublished, checkedBeforePublish, sha256File } from '../io/layer-work.ts';
import { workUnitIndex, type RawOptions } from '../stage.ts';
import { inputFiles, reencodePaths, shareByWeight, type Counted, type ReencodeUnitReport } from './reencode.ts';
import { hexParents, reencodeMergeStageDef, reencodePublishStageDef } from './stages.ts';

/**
 * `reencode-merge` (Indexed): the reencode units' chunks of a group of h0 cells → one staged,
 * sorted partition per cell. `reencode-publish`: the completeness checks (every input file read
 * once, every cell value carried over or counted invalid, every partition there), then the
 * partitions into place and manifest.json last.
 */

/** `<work>/merge/unit-N.json`: the partitions one merge unit staged. */
interface MergeReport {
  version: 1;
  index: number;
  partitions: Record<string, { rows: number; bytes: number; sha256: string }>;
}

/** `<name>/manifest.json` of a re-encoded product. */
export interface ReencodeManifest {
  version: 1;
  kind: 'reencode';
  layer: string;
  run: number;
  source: string[];
  input_files: number;
  cell_column: string;
  list: boolean;
  resolution: number;
  parents: number[];
  rows_in: number;
  cells_in: number;
  rows_out: number;
  invalid: 'fail' | 'report';
  invalid_cells: Counted<ReencodeUnitReport['invalid_cells']['samples'][number]>;
  h0_mismatches: Counted<ReencodeUnitReport['h0_mismatches']['samples'][number]>;
  dropped_columns: string[];
  columns: string[];
  cells: number;
  partitions: number;
  bytes: number;
  files: Record<string, { bytes: number; sha256: string }>;
}

/** Every reencode unit's report. @throws CommandError naming the units that have not reported. */
async function unitReports(storage: Storage, work: string, units: number): Promise<ReencodeUnitReport[]> {
  const paths = reencodePaths(work);
  const present = new Set((await storage.list(joinUrl(paths.chunks, '_units'))).map((o) => o.url));
  const missing = Array.from({ length: units }, (_, i) => i).filter((i) => !present.has(paths.report(i)));
  if (missing.length) throw new CommandError(`${missing.length} of ${units} reencode units have not finished (no report under '${paths.chunks}/_units'): ${indexRanges(missing)}; re-run those reencode indices`);
  return Promise.all(Array.from({ length: units }, async (_, i) => parseJson<ReencodeUnitReport>(await storage.readText(paths.report(i)), paths.report(i))));
}

/** Rows per h0 cell over every unit, and the h0 cells of each merge unit (the same in every pod). */
function mergeGroups(reports: ReencodeUnitReport[], mergeUnits: number): { rows: Map<string, number>; groups: string[][] } {
  const rows = new Map<string, number>();
  for (const r of reports) for (const [h0, x] of Object.entries(r.h0)) rows.set(h0, (rows.get(h0) ?? 0) + x.rows);
  return { rows, groups: shareByWeight([...rows.keys()], (h0) => rows.get(h0)!, mergeUnits, (h0) => h0) };
}

export async function reencodeMergeStage(opts: RawOptions, env: NodeJS.ProcessEnv = process.env): Promise<MergeReport> {
  const o = reencodeMergeStageDef.parse(opts);
  const storage = new Storage(env);
  const index = o.index ?? workUnitIndex(env);
  if (index >= o.mergeUnits) throw new CommandError(`reencode-merge unit ${index} does not exist: --merge-units is ${o.mergeUnits} (0–${o.mergeUnits - 1})`);
  const reports = await unitReports(storage, o.work, o.units);
  const { rows, groups } = mergeGroups(reports, o.mergeUnits);
  const paths = reencodePaths(o.work);
  const sortBy = [`h${o.resolution}`, '__file', '__row'].map(sqlIdent).join(', ');
  const work = await mkdtemp(join(env.TMPDIR ?? tmpdir(), 'cng-reencode-merge-'));
  const db = await openDuckDB({ share: 0.6 });
  const report: MergeReport = { version: 1, index, partitions: {} };
  try {
    for (const h0 of groups[index]) {
      const chunks = reports.flatMap((r) => r.h0[h0]?.chunks ?? []);
      const local = chunks.map((c) => join(work, h0, c));
      await Promise.all(chunks.map((c, i) => storage.download(joinUrl(paths.chunks, `h0=${h0}`, c), local[i])));
      const file = join(work, `${h0}.parquet`);
      // One thread: the row groups, and so the bytes, never depend on scheduling.
      await db.run('SET threads = 1');
      const copied = await db.runAndReadAll(
        `COPY (SELECT * EXCLUDE (__file, __row) FROM read_parquet([${local.map(sqlString).join(', ')}], union_by_name = true, hive_partitioning = false) ORDER BY ${sortBy})
         TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)`,
      );
      const written = Number(copied.getRows()[0]?.[0] ?? 0);
      if (written !== rows.get(h0)) throw new CommandError(`h0=${h0}: the chunks hold ${written} rows, the reencode reports say ${rows.get(h0)}; re-run reencode`);
      await storage.upload(file, joinUrl(paths.hex, `h0=${h0}`, 'data_0.parquet'));
      report.partitions[h0] = { rows: written, bytes: (await stat(file)).size, sha256: await sha256File(file) };
      await rm(join(work, h0), { recursive: true, force: true });
      await rm(file, { force: true });
    }
    await storage.writeText(paths.mergeReport(index), JSON.stringify(report, null, 2) + '\n');
    log('reencode-merge', `unit ${index}/${o.mergeUnits}: ${plural(groups[index].length, 'partition')} staged under ${paths.hex}`);
    return report;
  } finally {
    db.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}

export async function reencodePublishStage(opts: RawOptions, env: NodeJS.ProcessEnv = process.env): Promise<ReencodeManifest> {
  const o = reencodePublishStageDef.parse(opts);
  const storage = new Storage(env);
  const paths = reencodePaths(o.work);
  const name = o.outHex.replace(/\/+$/, '').split('/').slice(-2)[0];
  // A re-run after the work files went (a preempted pod): a manifest of this run means published.
  const done = await alreadyPublished<ReencodeManifest>(storage, 'reencode-publish', { marker: paths.report(0), manifest: o.manifest, run: o.run });
  if (done) return done;
  const { reports, partitions } = await checkedBeforePublish(`reencode '${name}'`, () => check(storage, o));
  const base = o.manifest.replace(/\/[^/]+\/manifest\.json$/, '');
  const files: ReencodeManifest['files'] = {};
  for (const [h0, p] of partitions) {
    const to = joinUrl(o.outHex, `h0=${h0}`, 'data_0.parquet');
    await storage.copy(joinUrl(paths.hex, `h0=${h0}`, 'data_0.parquet'), to);
    files[to.slice(base.length + 1)] = { bytes: p.bytes, sha256: p.sha256 };
  }
  const keep = new Set(Object.keys(files).map((k) => `${base}/${k}`));
  for (const x of await storage.list(o.outHex))
    if (!keep.has(x.url)) {
      await storage.deletePrefix(x.url);
      log('reencode-publish', `removed '${x.url}': an earlier run's file this run did not write`);
    }
  const sum = (f: (r: ReencodeUnitReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const samples = <T>(f: (r: ReencodeUnitReport) => T[]) => reports.flatMap(f).slice(0, 20);
  const manifest: ReencodeManifest = {
    version: 1, kind: 'reencode', layer: name, run: o.run, source: o.from, input_files: sum((r) => r.files.length),
    cell_column: o.cellColumn, list: o.list, resolution: o.resolution, parents: hexParents(o.parents, o.resolution),
    rows_in: sum((r) => r.rows_in), cells_in: sum((r) => r.cells_in), rows_out: sum((r) => r.rows_out), invalid: o.invalid,
    invalid_cells: { rows: sum((r) => r.invalid_cells.rows), samples: samples((r) => r.invalid_cells.samples) },
    h0_mismatches: { rows: sum((r) => r.h0_mismatches.rows), samples: samples((r) => r.h0_mismatches.samples) },
    dropped_columns: [...new Set(reports.flatMap((r) => r.dropped_columns))],
    columns: [...new Set(reports.flatMap((r) => r.columns))],
    cells: sum((r) => r.rows_out), partitions: partitions.length, bytes: partitions.reduce((n, [, p]) => n + p.bytes, 0),
    files,
  };
  await storage.writeText(o.manifest, JSON.stringify(manifest, null, 2) + '\n');
  await storage.deletePrefix(paths.report(0));
  const removed = 1 + (await storage.deletePrefix(o.work));
  log(
    'reencode-publish',
    `${o.manifest}: run ${o.run}, ${manifest.rows_in} rows (${manifest.cells_in} cells) in → ${manifest.rows_out} rows in ${manifest.partitions} partitions; ` +
      `${manifest.invalid_cells.rows} invalid cells, ${manifest.h0_mismatches.rows} h0 mismatches; removed ${removed} work files`,
  );
  return manifest;
}

/** Step 1 of publish. @throws CommandError on the first check that fails. */
async function check(storage: Storage, o: ReturnType<typeof reencodePublishStageDef.parse>) {
  const paths = reencodePaths(o.work);
  const reports = await unitReports(storage, o.work, o.units);
  const listed = (await inputFiles(storage, o.from)).map((f) => f.url);
  const read = reports.flatMap((r) => r.files);
  const unread = listed.filter((f) => !read.includes(f));
  const twice = read.filter((f, i) => read.indexOf(f) !== i || !listed.includes(f));
  if (unread.length || twice.length)
    throw new CommandError(
      `the input changed since the reencode units listed it (${unread.length} file(s) not read, e.g. '${unread[0] ?? twice[0]}'${twice.length ? `; ${twice.length} read twice or gone` : ''}); re-run the reencode stage`,
    );
  for (const r of reports) {
    const lost = r.cells_in - r.rows_out - r.invalid_cells.rows;
    if (lost !== 0) throw new CommandError(`reencode unit ${r.index}: ${r.cells_in} cell values in, ${r.rows_out} rows out and ${r.invalid_cells.rows} invalid (${lost} unaccounted); re-run reencode`);
    if (r.invalid_cells.rows && o.invalid === 'fail') throw new CommandError(`reencode unit ${r.index} left out ${plural(r.invalid_cells.rows, 'invalid cell')} but invalidCells is 'fail'; re-run reencode`);
  }
  const { rows } = mergeGroups(reports, o.mergeUnits);
  const merged = new Map<string, MergeReport['partitions'][string]>();
  const present = new Set((await storage.list(joinUrl(o.work, 'merge'))).map((x) => x.url));
  const missing = Array.from({ length: o.mergeUnits }, (_, i) => i).filter((i) => !present.has(paths.mergeReport(i)));
  if (missing.length) throw new CommandError(`${missing.length} of ${o.mergeUnits} reencode-merge units have not finished: ${indexRanges(missing)}; re-run those reencode-merge indices`);
  for (let i = 0; i < o.mergeUnits; i++)
    for (const [h0, p] of Object.entries(parseJson<MergeReport>(await storage.readText(paths.mergeReport(i)), paths.mergeReport(i)).partitions)) merged.set(h0, p);
  const staged = new Map((await storage.list(paths.hex)).map((x) => [x.url, x.size]));
  for (const [h0, n] of rows) {
    const p = merged.get(h0);
    const url = joinUrl(paths.hex, `h0=${h0}`, 'data_0.parquet');
    if (!p || p.rows !== n || staged.get(url) !== p.bytes)
      throw new CommandError(`staged partition h0=${h0} ${p ? `has ${p.rows} rows and ${staged.get(url) ?? 'no'} bytes, expected ${n} rows and ${p.bytes} bytes` : 'is missing'}; re-run reencode-merge`);
  }
  return { reports, partitions: [...merged].filter(([h0]) => rows.has(h0)).sort((a, b) => (a[0] < b[0] ? -1 : 1)) };
}
