/**
 * The scratch directory of a dataset's local runs (`DIR/runs/<dataset>/scratch/`, one
 * `<job>-<index>` directory per work unit, its TMPDIR): a run claims it by writing its pid to
 * `owner.pid` and first removes what earlier runs left (a killed run leaves its files), unless the
 * recorded owner is still running.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { human, plural } from '../../worker/core/text.ts';
import { processAlive } from './pid.ts';

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
