/**
 * Local work directories that must survive a killed process cleanly: directories written whole or
 * not at all (the sample), and the scratch of a dataset's local runs, claimed by the running process.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { human, plural } from '../../worker/core/text.ts';

/** True while process `pid` exists (EPERM: it exists but belongs to another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writing a directory so that it appears only when complete: into a temporary sibling, with a
 * completion marker written last, then renamed into place. A directory without the marker (left
 * by a write that was killed or ran out of space before this rule) is incomplete and is never
 * reused; a failed write leaves nothing at the target.
 */

/** The file written last into a complete directory. */
export const COMPLETE_MARKER = '.cng-complete';

/** True when `dir` was written to the end (it has the completion marker). */
export function isCompleteDir(dir: string): boolean {
  return existsSync(join(dir, COMPLETE_MARKER));
}

/** The temporary sibling a process writes `out` into; it keeps `out`'s name last (drivers look at the extension). */
const partialPath = (out: string, pid: number) => join(dirname(out), `.partial-${pid}-${basename(out)}`);

/** Removes temporary siblings of `out` left by processes that are gone. */
function removeStalePartials(out: string): void {
  const dir = dirname(out);
  if (!existsSync(dir)) return;
  const suffix = `-${basename(out)}`;
  for (const name of readdirSync(dir)) {
    const m = /^\.partial-(\d+)-/.exec(name);
    if (m && name.endsWith(suffix) && name.length === m[0].length + basename(out).length && !processAlive(Number(m[1])))
      rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Runs `write` on an empty temporary directory next to `out`, writes the completion marker and
 * renames the directory to `out` (after removing an existing `out` when `replace`). On any failure
 * the temporary directory is removed and the error rethrown; `out` is untouched.
 */
export async function writeDirAtomically<T>(out: string, replace: boolean, write: (dir: string) => Promise<T>): Promise<T> {
  mkdirSync(dirname(out), { recursive: true });
  removeStalePartials(out);
  const tmp = partialPath(out, process.pid);
  rmSync(tmp, { recursive: true, force: true });
  try {
    const result = await write(tmp);
    writeFileSync(join(tmp, COMPLETE_MARKER), new Date().toISOString() + '\n');
    if (replace) rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
    return result;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The scratch directory of a dataset's local runs (`DIR/runs/<dataset>/scratch/`, one
 * `<job>-<index>` directory per work unit, its TMPDIR): a run claims it by writing its pid to
 * `owner.pid` and first removes what earlier runs left (a killed run leaves its files), unless the
 * recorded owner is still running.
 */

const OWNER = 'owner.pid';

/** Files and bytes under `path`. */
function tally(path: string): { files: number; bytes: number } {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return { files: 0, bytes: 0 };
  if (!st.isDirectory()) return { files: 1, bytes: st.size };
  return readdirSync(path).reduce((t, f) => {
    const sub = tally(join(path, f));
    return { files: t.files + sub.files, bytes: t.bytes + sub.bytes };
  }, { files: 0, bytes: 0 });
}

/**
 * Claims `scratchDir` for this process: removes everything earlier runs left in it and records
 * this process as its owner. When the recorded owner is another process that still runs, nothing
 * is removed. Returns the one line to log (undefined when there was nothing to say).
 */
export function claimScratch(scratchDir: string): string | undefined {
  const ownerFile = join(scratchDir, OWNER);
  const owner = existsSync(ownerFile) ? Number(readFileSync(ownerFile, 'utf8').trim()) : NaN;
  if (owner !== process.pid && processAlive(owner)) {
    return `scratch in ${scratchDir} belongs to a run still going (pid ${owner}); not removing it`;
  }
  let left = { files: 0, bytes: 0 };
  for (const entry of existsSync(scratchDir) ? readdirSync(scratchDir) : []) {
    if (entry === OWNER) continue;
    const sub = tally(join(scratchDir, entry));
    left = { files: left.files + sub.files, bytes: left.bytes + sub.bytes };
    rmSync(join(scratchDir, entry), { recursive: true, force: true });
  }
  mkdirSync(scratchDir, { recursive: true });
  writeFileSync(ownerFile, `${process.pid}\n`);
  if (left.files === 0) return undefined;
  return `removed ${plural(left.files, 'scratch file')} (${human(left.bytes)}) left by an earlier run in ${scratchDir}`;
}

/** Gives up the claim (the scratch directories stay for a look after a failure; the next run removes them). */
export function releaseScratch(scratchDir: string): void {
  const ownerFile = join(scratchDir, OWNER);
  if (existsSync(ownerFile) && Number(readFileSync(ownerFile, 'utf8').trim()) === process.pid) rmSync(ownerFile, { force: true });
}
