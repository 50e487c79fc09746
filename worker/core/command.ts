import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BusyError, CommandError, EXIT, UsageError } from './errors.ts';
import { diskFullError } from './disk-full.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  /** Sub-command name, e.g. `synth`. */
  readonly name: string;
  /** One line for the top-level `--help`. */
  readonly summary: string;
  /** Full help text printed by `--help`: usage line, description, options, examples. */
  readonly help: string;
  /** Option spec for `node:util` parseArgs (`--help` is added automatically). */
  readonly options: Options;
  /** Whether positional arguments are accepted. @default false */
  readonly positionals?: boolean;
  /** Hand argv through unparsed (as positionals) to a command with its own sub-commands. @default false */
  readonly passthrough?: boolean;
  run(args: ParsedArgs): Promise<number>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** Parses argv strictly: unknown flags and stray positionals are usage errors. */
export function parseCommandArgs(cmd: Command, argv: string[]): ParsedArgs & { help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: cmd.positionals ?? false,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
  const { help, ...values } = parsed.values as Record<string, unknown>;
  return { values: values as ParsedArgs['values'], positionals: parsed.positionals, help: Boolean(help) };
}

/** Runs one command with uniform --help, usage-error and failure handling. */
export async function runCommand(cmd: Command, argv: string[], prog: string): Promise<number> {
  try {
    if (cmd.passthrough) return await cmd.run({ values: {}, positionals: argv });
    const args = parseCommandArgs(cmd, argv);
    if (args.help) {
      process.stdout.write(cmd.help.trimEnd() + '\n');
      return EXIT.ok;
    }
    return await cmd.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${prog} ${cmd.name}: ${err.message}\n${firstLine(cmd.help)}\nTry '${prog} ${cmd.name} --help'.\n`);
      return EXIT.usage;
    }
    const failure = diskFullError(err) ?? err;
    if (failure instanceof CommandError) {
      process.stderr.write(`${prog} ${cmd.name}: ${failure.message}\n`);
      return failure instanceof BusyError ? EXIT.busy : EXIT.failure;
    }
    process.stderr.write(`${prog} ${cmd.name}: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failure;
  }
}

/** Dispatches `prog <command> ...` over a command table; prints the table for `--help`. */
export async function dispatch(prog: string, intro: string, commands: Command[], argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const width = Math.max(14, ...commands.map((c) => c.name.length + 2));
  const table = commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n');
  const overview = `${intro}\n\nUsage: ${prog} <command> [options]\n\nCommands:\n${table}\n\nRun '${prog} <command> --help' for a command's options.\n`;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process[name === undefined ? 'stderr' : 'stdout'].write(overview);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    process.stdout.write(`${pkg.version}\n`);
    return EXIT.ok;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`${prog}: unknown command '${name}'\n\n${overview}`);
    return EXIT.usage;
  }
  return runCommand(cmd, rest, prog);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0];
}

/** parseArgs options: `valued` flags take a value (`--out DIR`), `switches` take none (`--force`). */
export function flagOptions(valued: readonly string[], switches: readonly string[] = []): Options {
  return Object.fromEntries([
    ...valued.map((name) => [name, { type: 'string' as const }]),
    ...switches.map((name) => [name, { type: 'boolean' as const }]),
  ]);
}
