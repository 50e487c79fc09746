/**
 * Local work directories that must survive a killed process cleanly: directories written whole or
 * not at all (the sample), the scratch of a dataset's local runs, claimed by the running process,
 * and the lock that keeps two runs of one dataset out of the same data directory.
 */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { BusyError } from '../../worker/core/errors.ts';
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

/**
 * The lock of a dataset's local runs: `<stateDir>/run.lock` (for `cng run`, DIR/runs/<dataset>/;
 * for `cng local`, OUT/.cng-run/), created exclusively, holding the owner's pid, host, start time
 * and command. A second run of the same dataset and directory is refused (exit 3) naming the
 * first; a lock whose process is gone (same host, pid not running: killed) is taken over with a
 * line saying so. A lock of another host cannot be checked and is never taken over.
 */

/** What a run lock records. */
export interface RunLockOwner {
  pid: number;
  host: string;
  started: string;
  command: string;
}

export const RUN_LOCK = 'run.lock';

/** One line naming the owner of a lock. */
const ownerText = (o: RunLockOwner) => `pid ${o.pid} on ${o.host}, started ${o.started}: ${o.command}`;

function readOwner(path: string): RunLockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as RunLockOwner;
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? o : undefined;
  } catch {
    return undefined; // gone, or cut short by a crash while being written
  }
}

/**
 * Takes the run lock of `stateDir` for this process. Returns `release` (removes the lock if it is
 * still this process's) and the line to print when a dead run's lock was taken over.
 * @throws BusyError naming the process that holds the lock.
 */
export function lockRun(stateDir: string, command: string): { release: () => void; tookOver?: string } {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, RUN_LOCK);
  const me: RunLockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command };
  let tookOver: string | undefined;
  // Written whole to a private file, then linked into place: the lock never exists half-written.
  const mine = `${path}.${process.pid}`;
  writeFileSync(mine, JSON.stringify(me) + '\n');
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (tryLink(mine, path)) {
        const release = () => {
          if (readOwner(path)?.pid === process.pid) rmSync(path, { force: true });
        };
        return { release, ...(tookOver ? { tookOver } : {}) };
      }
      const owner = readOwner(path);
      if (owner && (owner.host !== me.host || processAlive(owner.pid)))
        throw new BusyError(`another run holds ${path} (${ownerText(owner)}); wait for it to end, or use another data directory; if that process is gone, delete the file`);
      if (takeOver(path, owner)) tookOver = owner ? `took over the lock of a run that is gone (${ownerText(owner)})` : `took over an unreadable lock ${path}`;
    }
  } finally {
    rmSync(mine, { force: true });
  }
  throw new BusyError(`cannot take ${path}: other runs keep taking it`);
}

/** Links `from` to `to`; false when `to` exists. */
function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Moves a dead run's lock aside, unless another process replaced it in the meantime (then it is
 * put back). Returns whether this process moved the dead lock.
 */
function takeOver(path: string, seen: RunLockOwner | undefined): boolean {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return false; // another process took it first
  }
  const moved = readOwner(aside);
  if (seen && moved && (moved.pid !== seen.pid || moved.started !== seen.started)) {
    tryLink(aside, path); // a live lock taken in between: put it back (unless its place is taken again)
    rmSync(aside, { force: true });
    return false;
  }
  rmSync(aside, { force: true });
  return true;
}
