import type { Layer } from 'gdal-async';
import { CommandError } from '../core/errors.ts';
import { indexRanges, log } from '../core/log.ts';
import { plural } from '../core/text.ts';
import { gdalMessages, gdalReason, UNREADABLE_FIX } from '../io/gdal-log.ts';
import { GdalPassError } from './gdal-pass.ts';
import type { BadFeature, FeatureTally } from './geometry.ts';
import type { BadGeometries } from './plan.ts';

/**
 * Features convert cannot take as they are, named by their FID in the source (GDAL's, what
 * `ogrinfo` shows), so that the message leads to the feature to fix:
 * - unreadable rows (a damaged or cut-short file, a failed network read): GDAL logs an error and
 *   skips the row or stops. Always a failure — there is no row left to keep — naming every FID
 *   GDAL cannot read and GDAL's reason.
 * - unusable geometries (a NaN or infinite coordinate, a geometry GEOS throws on; see
 *   normalizeGeometry): by default a failure listing every such feature; with `--bad-geometry null`
 *   (the layer's `badGeometry: 'null'`) their rows are kept with a NULL geometry, logged, and
 *   recorded in the hex plan (`badGeometries`) and manifest.json (`bad_geometries`).
 */

/** What a layer with unusable geometries does: fail (the default) or keep the rows with a NULL geometry. */
export type BadGeometryPolicy = 'fail' | 'null';

/** How many ids the plan and manifest list. */
const MAX_LISTED = 20;

/** How far past the layer's feature count FIDs are probed for unreadable rows. */
const PROBE_SLACK = 1000;

/** 'source FID 7' or 'source FIDs 2–3, 9'. */
const sourceFidList = (fids: number[]) => `source FID${fids.length === 1 ? '' : 's'} ${indexRanges(fids)}`;

/**
 * Checks that GDAL read every feature of `layer` without an error. When it did not (fewer rows
 * than the layer's count, or an error in GDAL's log since `logStart`), probes the layer's FIDs to
 * name the unreadable ones. @throws CommandError naming the layer, the FIDs (when found), GDAL's
 * reason and the fix; nothing is published.
 */
export function checkEveryFeatureRead(layer: Layer, rows: number, count: number, logStart: number, tmpPath: string, where: string): void {
  const { errors } = gdalMessages(logStart, tmpPath);
  if (rows === count && errors.length === 0) return;
  const { unreadable, reasons } = probeUnreadable(layer, count);
  const reason = gdalReason([...reasons, ...errors], 'GDAL error');
  if (unreadable.length === 0) {
    if (errors.length) throw new CommandError(`cannot read ${where}: ${reason}; ${UNREADABLE_FIX}; nothing was written`);
    throw new CommandError(`GDAL delivered ${rows} of the ${count} features of ${where}; nothing was written`);
  }
  throw unreadableError(unreadable, count, reason, where);
}

/**
 * A GDAL pass that failed on a row it could not read (GDAL stops there: e.g. a cut .gdbtable)
 * becomes the message naming every unreadable FID; any other error is returned as it is.
 */
export function explainFailedPass(err: unknown, layer: Layer, count: number, where: string): unknown {
  if (!(err instanceof GdalPassError) || err.gdalErrors.length === 0 || err.gdalErrors.some((e) => /Failed to reproject/.test(e))) return err;
  const { unreadable, reasons } = probeUnreadable(layer, count);
  if (unreadable.length === 0) return err;
  return unreadableError(unreadable, count, gdalReason([...reasons, ...err.gdalErrors], 'GDAL error'), where);
}

function unreadableError(unreadable: number[], count: number, reason: string, where: string): CommandError {
  return new CommandError(
    `cannot read ${where}: ${unreadable.length} of its ${plural(count, 'feature')} ${unreadable.length === 1 ? 'is' : 'are'} unreadable (${sourceFidList(unreadable)}; GDAL: ${reason}); ${UNREADABLE_FIX}; nothing was written`,
  );
}

/**
 * The FIDs GDAL cannot read, found by getting each FID from 0 up until every one of the layer's
 * `count` features is accounted for (read or unreadable), or PROBE_SLACK past `count`. A FID
 * that does not exist (deleted rows, 0 in a 1-based source) throws an empty message; an
 * unreadable one throws GDAL's error.
 */
function probeUnreadable(layer: Layer, count: number): { unreadable: number[]; reasons: string[] } {
  const unreadable: number[] = [];
  const reasons = new Set<string>();
  let read = 0;
  for (let fid = 0; fid <= count + PROBE_SLACK && read + unreadable.length < count; fid++) {
    try {
      if (layer.features.get(fid)) read++;
    } catch (err) {
      const message = String((err as Error)?.message ?? '').trim();
      if (message) {
        unreadable.push(fid);
        reasons.add(message);
      }
    }
  }
  return { unreadable, reasons: [...reasons] };
}

/**
 * The source FIDs of the features at 1-based positions `seqs` (ascending) of a sequential read of
 * `layer` — the order GDAL's pass read them in.
 */
export function sourceFidsAt(layer: Layer, seqs: number[]): Map<number, number> {
  const out = new Map<number, number>();
  if (seqs.length === 0) return out;
  const wanted = new Set(seqs);
  const last = seqs[seqs.length - 1];
  let seq = 0;
  for (let f = layer.features.first(); f && seq < last; f = layer.features.next()) {
    seq++;
    if (wanted.has(seq)) out.set(seq, f.fid);
  }
  return out;
}

/**
 * The unusable geometries of a converted layer under `policy`: none → undefined; 'null' → one log
 * line and what the plan records; 'fail' → @throws CommandError listing every such feature by
 * source FID, grouped by reason, with the fix.
 */
export function handleBadGeometries(layer: Layer, tally: FeatureTally, policy: BadGeometryPolicy, idName: string, where: string): BadGeometries | undefined {
  const total = tally.stats.badGeometries;
  if (total === 0) return undefined;
  const fids = sourceFidsAt(layer, tally.bad.map((b) => b.seq));
  const fidOf = (b: BadFeature) => fids.get(b.seq) ?? b.seq;
  const byReason = new Map<string, number[]>();
  for (const b of tally.bad) (byReason.get(b.reason) ?? byReason.set(b.reason, []).get(b.reason)!).push(fidOf(b));
  const more = total > tally.bad.length ? `; … ${total} in all` : '';
  const listed = [...byReason].map(([reason, list]) => `${sourceFidList(list)}: ${reason}`).join('; ') + more;
  if (policy === 'fail')
    throw new CommandError(
      `${where}: ${plural(total, 'feature')} with an unusable geometry (${listed}); fix the source, or set badGeometry: 'null' on the layer to keep these rows with a NULL geometry (cng-worker convert --bad-geometry null); nothing was written`,
    );
  const first = tally.bad.slice(0, MAX_LISTED);
  log('convert', `${plural(total, 'feature')} with an unusable geometry kept as rows with a NULL geometry (--bad-geometry null; ${listed}; ${idName}: ${first.map((b) => b.id).join(', ')}${total > first.length ? ', …' : ''}); recorded in the hex plan and manifest.json as bad_geometries`);
  return { features: total, ids: first.map((b) => b.id), sourceFids: first.map(fidOf) };
}
