/** How every `cng` and `cng-worker` command fails: exit codes and the two expected error kinds. */

/** Exit codes shared by every `cng` and `cng-worker` command (GDAL/POSIX style). */
export const EXIT = { ok: 0, failure: 1, usage: 2, busy: 3 } as const;

/** A mistake in how a command was called: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

/** An expected failure with a one-line explanation (no stack trace): exit code 1. */
export class CommandError extends Error {}

/** The work is held by another process (e.g. another `cng run` of the same data directory): exit code 3. */
export class BusyError extends CommandError {}
