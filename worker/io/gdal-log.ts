import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import gdal from 'gdal-async';
import { CommandError } from '../core/errors.ts';

/**
 * GDAL's own messages, kept in a log file (CPL_LOG) instead of being dropped (gdal-async's
 * default) or printed on stderr (which must stay one line on failure): a stage takes the log's
 * offset before it opens a source, and afterwards reads the errors and warnings GDAL logged since.
 * An error logged while a layer was opened or read means the read failed, even when GDAL carried
 * on (e.g. OpenFileGDB reports 0 features after a failed read of a table header).
 */

let gdalLogPath: string | undefined;

/** Starts GDAL's log on the first call; returns the current end of the log. */
export function gdalLogOffset(): number {
  if (!gdalLogPath) {
    removeStaleGdalLogs();
    const path = join(tmpdir(), `cng-gdal-${process.pid}.log`);
    gdal.config.set('CPL_LOG', path); // read once, at GDAL's first message
    gdal.verbose();
    gdalLogPath = path;
    process.once('exit', () => rmSync(path, { force: true }));
  }
  try {
    return statSync(gdalLogPath).size;
  } catch {
    return 0;
  }
}

/** Removes the GDAL logs of processes that are gone (killed before their 'exit' hook ran). */
function removeStaleGdalLogs(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^cng-gdal-(\d+)\.log$/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(tmpdir(), name), { force: true });
    }
  }
}

/**
 * What opening a GeoPackage that GDAL is still creating logs without naming it, and GDAL's failed
 * update of its extent when a coordinate is infinite (convert names such features itself).
 */
const TMP_NOISE = /required GeoPackage tables, gpkg_spatial_ref_sys or gpkg_contents, is missing|database is locked|file is not a database|UPDATE gpkg_contents SET min_x = .*(Inf|nan)/i;

/**
 * Distinct GDAL errors and warnings logged since `offset`, leaving out noise about the temporary
 * file `tmpPath` when given (opened by streamTemp before GDAL has written its header, when SQLite
 * names no file: {@link TMP_NOISE}; geometry types).
 */
export function gdalMessages(offset: number, tmpPath?: string): { errors: string[]; warnings: string[] } {
  let text = '';
  try {
    if (gdalLogPath) text = readFileSync(gdalLogPath).subarray(offset).toString('utf8');
  } catch {
    // no messages
  }
  const errors = new Set<string>();
  const warnings = new Set<string>();
  for (const m of text.split(/\n(?=(?:ERROR|Warning) \d+: )/)) {
    const r = /^(ERROR|Warning) \d+: ([\s\S]*)$/.exec(m.trim());
    if (!r) continue;
    const msg = r[2].replace(/\s+/g, ' ').trim();
    if (tmpPath && (msg.includes(tmpPath) || TMP_NOISE.test(msg))) continue;
    if (r[1] === 'ERROR') errors.add(msg);
    else if (!/not normally allowed by the GeoPackage|already exists\. Renaming it|Progress turned off/.test(msg)) warnings.add(msg);
  }
  return { errors: [...errors], warnings: [...warnings] };
}

/**
 * GDAL's real reason among `errors` (in the order logged): the first error that says more than a
 * failed open with errno 0 — GDAL's "Cannot open x.gdbtable: Success" after e.g. an HTTP error or
 * a short read. When that is all GDAL said, ": Success" becomes what it means.
 */
export function gdalReason(errors: string[], fallback: string): string {
  const success = /: Success$/;
  const real = errors.find((e) => !success.test(e));
  if (real) return real;
  const first = errors[0] ?? fallback;
  return success.test(first) ? first.replace(success, ': the read failed without a system error (a network error or a truncated file)') : first;
}

/** What to do about a read that failed: said with every such failure. */
export const UNREADABLE_FIX = 'the source is damaged or cut short, or a network read failed: check it (ogrinfo -al -so), copy it again from its origin if it is cut short, and re-run';

/**
 * A read during which GDAL logged an error failed, even when GDAL carried on: OpenFileGDB, for
 * one, reports a layer of 0 features after a failed read of its table header (an HTTP 503, a
 * reset or a cut body), which would otherwise publish an empty layer.
 * `where` names the layer; `tmpPath` is the stage's temporary file, if any (its noise is left out).
 * @throws CommandError naming the layer and GDAL's first error.
 */
export function checkGdalErrors(logStart: number, tmpPath: string | undefined, where: string): void {
  const { errors } = gdalMessages(logStart, tmpPath);
  if (errors.length > 0) throw new CommandError(`cannot read ${where}: ${gdalReason(errors, 'GDAL error')}; ${UNREADABLE_FIX}; nothing was written`);
}
