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
  /** A library's write failed without saying why: free bytes when it failed (before any cleanup). */
  spaceFree?: number;
}

/**
 * True when `err` says the disk is full: Node's ENOSPC, the libraries' "No space left on device",
 * or SQLite's "database or disk is full" (GDAL's GeoPackage writer).
 */
export function isNoSpace(err: unknown): boolean {
  return err instanceof Error && ((err as NodeJS.ErrnoException).code === 'ENOSPC' || /no space left on device|database or disk is full/i.test(err.message));
}

/** Vertices assumed per feature when a layer's count is not known (PAD-US: ~250). */
export const VERTICES_PER_FEATURE = 250;

/**
 * A layer's size estimates (bytes) from its features and vertices (250 a feature when unknown):
 * raw = 16 B a vertex + 2 KiB a feature (GDAL's temporary GeoPackage, DuckDB's staging table),
 * parquet = 12 B a vertex + 1 KiB a feature (the GeoParquet). The constructs size scratch disks
 * from them (constructs/defaults.ts), and convert reports them when its disk fills.
 */
export function layerBytes(features: number, vertices = features * VERTICES_PER_FEATURE): { raw: number; parquet: number } {
  return { raw: vertices * 16 + features * 2048, parquet: vertices * 12 + features * 1024 };
}

/** What the running stage expects to need in its scratch directory (see {@link expectScratch}). */
let expected: { dir: string; bytes: number } | undefined;

/**
 * Records the scratch space the running stage expects to need in `dir` (its estimate from the
 * input's size): a full disk's message then says `needed ~N` even when the library that failed
 * does not say what it was writing.
 */
export function expectScratch(dir: string, bytes: number): void {
  expected = { dir, bytes };
}

/** Notes on `err` the directory a stage writes to and the bytes it needs, for the no-space message. */
export function noteSpace(err: unknown, dir: string, bytes: number | undefined): void {
  if (err instanceof Error) Object.assign(err, { spaceDir: dir, spaceNeeded: bytes } satisfies SpaceNote);
}

/**
 * Notes on `err` that a library's write into `dir` failed without saying why (GDAL's TIFF writer:
 * "TIFFRewriteDirectory:Error fetching directory count"), with the free space right now, before
 * the stage removes its scratch: reported as a full disk when that space is (nearly) gone.
 */
export function noteWriteFailure(err: unknown, dir: string): void {
  if (err instanceof Error) Object.assign(err, { spaceDir: dir, spaceFree: freeBytes(dir) } satisfies SpaceNote);
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
  const ioFailure = /Unexpected I\/O failure/i.test(e.message) || e.spaceFree !== undefined;
  if (!noSpace && !ioFailure) return undefined;
  // An object store's own full disk (an S3 error naming the URL) is not this machine's.
  if (e.spaceDir === undefined && e.code === undefined && /^'s3:\/\//.test(e.message)) return undefined;
  const path = e.spaceDir ?? e.path ?? quotedPath(e.message) ?? expected?.dir;
  const dir = path && isAbsolute(path) ? existingDir(path) : (process.env.TMPDIR || tmpdir());
  const free = e.spaceFree ?? freeBytes(dir);
  const needed = e.spaceNeeded ?? expected?.bytes;
  if (!noSpace && !(free !== undefined && free < Math.max(NEARLY_FULL, needed ?? 0))) return undefined;
  return new CommandError(noSpaceMessage(dir, free, needed));
}
