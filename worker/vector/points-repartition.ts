import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from '../core/errors.ts';
import { openDuckDB, readLimits } from '../core/limits.ts';
import { log } from '../core/log.ts';
import { sqlString } from '../core/text.ts';
import { readHexReports, repartitionReportUrl, sha256File, unitName } from '../io/layer-work.ts';
import { joinUrl, Storage } from '../io/storage.ts';
import { workUnitIndex, type RawOptions } from '../stage.ts';
import { rowsByH0, type PointsRepartitionReport, type PointsUnitReport } from '../io/point-work.ts';
import { pointParents, pointsRepartitionStageDef } from './points-stages.ts';

/**
 * `points-repartition`: one group of h0 cells → their staged partitions, sorted by cell.
 *
 * Every unit reads the points-hex reports and groups the h0 cells the same way (largest reported
 * row count first, each to the least-loaded group), so no plan file is needed. Per h0 cell, one at
 * a time: its chunks are downloaded, sorted by the cell column in DuckDB (memory_limit from the
 * pod's limit, spilling to $TMPDIR: memory stays bounded whatever the cell's size; the scratch
 * disk holds the chunks, the spill and the partition) and written as `h0=<cell>/data_0.parquet`.
 * Last its report `<reports>/unit-N.json`: rows, bytes and sha256 per partition.
 */

/** The h0 cells with rows, in `groups` groups balanced by rows (deterministic: every unit computes the same). */
export function groupH0(rowsByH0: Map<string, number>, groups: number): string[][] {
  const out = Array.from({ length: groups }, () => ({ rows: 0, h0: [] as string[] }));
  const cells = [...rowsByH0].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [h0, n] of cells) {
    const g = out.reduce((best, x) => (x.rows < best.rows ? x : best), out[0]);
    g.rows += n;
    g.h0.push(h0);
  }
  return out.map((g) => g.h0);
}

export async function pointsRepartitionStage(opts: RawOptions, env: NodeJS.ProcessEnv = process.env): Promise<PointsRepartitionReport> {
  const o = pointsRepartitionStageDef.parse(opts);
  const storage = new Storage(env);
  const index = o.index ?? workUnitIndex(env);
  const units = o.repartitionUnits;
  if (index >= units) throw new CommandError(`points-repartition unit ${index} does not exist: there are ${units} (0–${units - 1})`);
  const reports = (await readHexReports(storage, o.chunks, o.units)) as unknown as PointsUnitReport[];
  const group = groupH0(rowsByH0(reports), units)[index];
  const withH0 = pointParents(o.parents, o.resolution).includes(0);
  const work = await mkdtemp(join(env.TMPDIR ?? tmpdir(), 'cng-points-repartition-'));
  const db = await openDuckDB({ share: 0.6, limits: readLimits(env) });
  const report: PointsRepartitionReport = { version: 1, kind: 'points', index, rows: 0, bytes: 0, partitions: {} };
  log('points-repartition', `unit ${index}/${units}: ${group.length} h0 cells`);
  try {
    for (const h0 of group) {
      const from = reports.filter((r) => (r.h0[h0] ?? 0) > 0);
      const files = from.map((r) => join(work, `h0-${h0}-${unitName(r.index)}.parquet`));
      await Promise.all(from.map((r, i) => storage.download(joinUrl(o.chunks, `h0=${h0}`, `${unitName(r.index)}.parquet`), files[i])));
      const local = join(work, `data-${h0}.parquet`);
      const copied = await db.runAndReadAll(
        `COPY (SELECT * ${withH0 ? '' : 'EXCLUDE (h0)'} FROM read_parquet([${files.map(sqlString).join(', ')}], union_by_name = true, hive_partitioning = false) ORDER BY h${o.resolution})
         TO ${sqlString(local)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)`,
      );
      const rows = Number(copied.getRows()[0]?.[0] ?? 0);
      const expected = from.reduce((n, r) => n + r.h0[h0], 0);
      if (rows !== expected) throw new CommandError(`h0=${h0}: the chunks hold ${rows} rows, the points-hex reports ${expected}: chunks of another run; re-run points-hex`);
      const bytes = (await stat(local)).size;
      report.partitions[h0] = { rows, bytes, sha256: await sha256File(local) };
      report.rows += rows;
      report.bytes += bytes;
      await storage.upload(local, joinUrl(o.stagedHex, `h0=${h0}`, 'data_0.parquet'), 'application/vnd.apache.parquet');
      await Promise.all([local, ...files].map((f) => rm(f, { force: true })));
    }
    await storage.writeText(repartitionReportUrl(o.reports, index), JSON.stringify(report, null, 2) + '\n', 'application/json');
    log('points-repartition', `unit ${index}: ${report.rows} rows in ${group.length} partitions (${report.bytes} bytes) → ${o.stagedHex}`);
    return report;
  } finally {
    db.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}
