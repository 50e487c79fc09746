import { resolve } from 'node:path';
import type { DatasetSpec } from '../../constructs/index.ts';
import { str } from '../../worker/core/command.ts';
import { UsageError } from '../../worker/core/errors.ts';
import { alignedTable, human } from '../../worker/core/text.ts';
import type { Storage } from '../../worker/io/storage.ts';
import { jobArg, type StageResult } from './runner.ts';

/** `cng local <hex parquet> --cell COLUMN …`: the options that make a run a re-encoding of an earlier hex product. */
export const REENCODE_FLAGS = { values: ['cell', 'rename', 'divide', 'invalid'], switches: ['list'] };

export const REENCODE_HELP = `
An earlier hex product (--cell given: a directory, prefix or .parquet file(s), comma-separated,
with H3 cells as hex strings): reencode, reencode-merge and reencode-publish, with <slug> = the
(first) directory or file name slugified:
  DIR/<slug>/hex/h0=<cell>/data_0.parquet   UBIGINT h<res> + --parents, attributes carried over
  DIR/<slug>/manifest.json             rows in and out, invalid cells, h0 mismatches, sha256
  --cell COLUMN         the cell column (its resolution: --resolution, default N of a column hN)
  --list                the cell column is a list of cells (one row per element)
  --rename A=B,…        column renames; --divide COL=N,…  COL becomes DOUBLE COL / N
  --invalid report      leave invalid cells out, counted in the manifest (default: fail)
  cng local old/wdpa-hex --out out/wdpa --cell h8 --parents 7,6`;

/** The in-memory dataset spec of a `cng local` re-encoding, or undefined without --cell. */
export function localReencodeSpec(sourceArg: string, values: Record<string, unknown>): DatasetSpec | undefined {
  const column = str(values.cell);
  if (column === undefined) {
    for (const f of [...REENCODE_FLAGS.values, ...REENCODE_FLAGS.switches]) if (values[f] !== undefined) throw new UsageError(`--${f} applies to a re-encoding (--cell COLUMN)`);
    return undefined;
  }
  const named = /^h(\d{1,2})$/.exec(column)?.[1];
  const resolution = Number(str(values.resolution) ?? named ?? NaN);
  if (!Number.isInteger(resolution) || resolution < 1 || resolution > 15) throw new UsageError(`--resolution (1..15) is required for a cell column not named h<N>, got '${str(values.resolution) ?? ''}'`);
  const parents = (str(values.parents) ?? '').split(',').filter(Boolean).map(Number);
  if (parents.some((p) => !Number.isInteger(p) || p < 0 || p >= resolution)) throw new UsageError(`--parents must be resolutions below ${resolution}`);
  const pairs = (flag: string) =>
    Object.fromEntries(
      (str(values[flag]) ?? '').split(',').filter(Boolean).map((s) => {
        const [a, b] = s.split('=');
        if (!a || !b) throw new UsageError(`--${flag}: '${s}' is not NAME=VALUE`);
        return [a.trim(), b.trim()];
      }),
    );
  const invalid = str(values.invalid) ?? 'fail';
  if (invalid !== 'fail' && invalid !== 'report') throw new UsageError(`--invalid must be fail or report, got '${invalid}'`);
  const from = sourceArg.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (/^s3:\/\//.test(s) ? s : resolve(s)));
  const last = from[0].replace(/\/+$/, '').split('/').pop()!.replace(/\.parquet$/i, '');
  const name = last.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'hex';
  const divide = Object.fromEntries(Object.entries(pairs('divide')).map(([k, v]) => [k, Number(v)]));
  return {
    name: 'local',
    title: `Ad-hoc re-encoding of ${from.join(', ')}`,
    run: 1,
    bucket: 'local-out',
    reencode: {
      r1: {
        from: from.length === 1 ? from[0] : from,
        cell: { column, resolution, ...(values.list ? { list: true } : {}) },
        ...(parents.length ? { parents } : {}),
        ...(values.rename ? { rename: pairs('rename') } : {}),
        ...(values.divide ? { divide } : {}),
        invalidCells: invalid,
        name,
        rows: 0,
      },
    },
  };
}

/** Stage kinds of a re-encoding (they carry the entry's key as their layer). */
export const REENCODE_KINDS = new Set(['reencode', 'reencode-merge', 'reencode-publish']);

/** The summary table of the re-encoded products of a run: rows in and out, invalid cells, h0 mismatches, partitions, seconds. */
export async function reencodeSummary(results: StageResult[], storage: Storage): Promise<string> {
  const byKey = new Map<string, Map<string, StageResult>>();
  for (const r of results)
    if (r.stage.layer && REENCODE_KINDS.has(r.stage.kind)) (byKey.get(r.stage.layer) ?? byKey.set(r.stage.layer, new Map()).get(r.stage.layer)!).set(r.stage.kind, r);
  if (!byKey.size) return '';
  const secs = (r?: StageResult) => (r ? (r.status === 'done' ? r.seconds.toFixed(1) : r.status === 'skipped' ? 'skip' : r.status) : '-');
  const t = [['reencoded', 'rows in', 'rows out', 'invalid', 'h0 mismatch', 'partitions', 'hex', 'reencode s', 'merge s', 'publish s']];
  for (const [key, st] of byKey) {
    const url = jobArg(st.get('reencode-publish')?.stage.jobs[0], '--manifest');
    const m = url ? await storage.readText(url).then(JSON.parse).catch(() => undefined) : undefined;
    const n = (v: unknown) => (typeof v === 'number' ? String(v) : '-');
    t.push([
      m?.layer ?? key, n(m?.rows_in), n(m?.rows_out), n(m?.invalid_cells?.rows), n(m?.h0_mismatches?.rows), n(m?.partitions), human(m?.bytes),
      secs(st.get('reencode')), secs(st.get('reencode-merge')), secs(st.get('reencode-publish')),
    ]);
  }
  return `\n${alignedTable(t)}`;
}
