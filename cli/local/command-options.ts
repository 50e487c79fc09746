/** The option table of a `cng` command, from the names of its flags. */
import type { Options } from '../../worker/core/command.ts';

/** parseArgs options: `valued` flags take a value (`--out DIR`), `switches` take none (`--force`). */
export function flagOptions(valued: readonly string[], switches: readonly string[] = []): Options {
  return Object.fromEntries([
    ...valued.map((name) => [name, { type: 'string' as const }]),
    ...switches.map((name) => [name, { type: 'boolean' as const }]),
  ]);
}
