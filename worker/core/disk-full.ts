/**
 * A full disk, reported the same way by every command: `no space left in <dir> (needed ~N, have
 * M)`, one line, exit 1. Node says `ENOSPC`, DuckDB and GDAL say "No space left on device", and a
 * GDAL file cut short by a failed write later reads as "Unexpected I/O failure" — taken for a
 * full disk only when the file system holding it is (nearly) full.
 */
import { statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import { CommandError } from './errors.ts';
import { human } from './text.ts';

/** Below this much free space an "Unexpected I/O failure" is taken for a full disk. */
const NEARLY_FULL = 256 * 2 ** 20;

/** An error that a stage annotated with where it writes and how much it needs. */
interface SpaceNote {
  spaceDir?: string;
  spaceNeeded?: number;
}

/** True when `err` says the disk is full (Node's ENOSPC, or the libraries' "No space left on device"). */
export function isNoSpace(err: unknown): boolean {
  return err instanceof Error && ((err as NodeJS.ErrnoException).code === 'ENOSPC' || /no space left on device/i.test(err.message));
}

/** Notes on `err` the directory a stage writes to and the bytes it needs, for the no-space message. */
export function noteSpace(err: unknown, dir: string, bytes: number | undefined): void {
  if (err instanceof Error) Object.assign(err, { spaceDir: dir, spaceNeeded: bytes } satisfies SpaceNote);
}

/** Free bytes (for an unprivileged user) on the file system holding `dir`; undefined when unknown. */
export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** `path` when it is a directory, else the nearest existing directory above it. */
function existingDir(path: string): string {
  let dir = path;
  while (!statSync(dir, { throwIfNoEntry: false })?.isDirectory() && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The first absolute path quoted in a library's message ('…', "…" or `…`), if any. */
function quotedPath(message: string): string | undefined {
  const m = /["'`](\/[^"'`\n]+)["'`]/.exec(message);
  return m?.[1];
}

/** The one-line message: `no space left in <dir> (needed ~N, have M)`. */
export function noSpaceMessage(dir: string, free: number | undefined, needed?: number): string {
  return `no space left in ${dir} (${needed !== undefined ? `needed ~${human(needed)}, ` : ''}have ${human(free)})`;
}

/**
 * The CommandError to report instead of `err` when `err` means the disk is full; undefined
 * otherwise. The directory is the one the stage noted, else the error's path, else TMPDIR.
 */
export function diskFullError(err: unknown): CommandError | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException & SpaceNote;
  const noSpace = isNoSpace(e);
  const ioFailure = /Unexpected I\/O failure/i.test(e.message);
  if (!noSpace && !ioFailure) return undefined;
  // An object store's own full disk (an S3 error naming the URL) is not this machine's.
  if (e.spaceDir === undefined && e.code === undefined && /^'s3:\/\//.test(e.message)) return undefined;
  const path = e.spaceDir ?? e.path ?? quotedPath(e.message);
  const dir = path && isAbsolute(path) ? existingDir(path) : (process.env.TMPDIR || tmpdir());
  const free = freeBytes(dir);
  if (!noSpace && !(free !== undefined && free < Math.max(NEARLY_FULL, e.spaceNeeded ?? 0))) return undefined;
  return new CommandError(noSpaceMessage(dir, free, e.spaceNeeded));
}
