/**
 * Writing a directory so that it appears only when complete: into a temporary sibling, with a
 * completion marker written last, then renamed into place. A directory without the marker (left
 * by a write that was killed or ran out of space before this rule) is incomplete and is never
 * reused; a failed write leaves nothing at the target.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { processAlive } from './pid.ts';

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
