import { z } from 'zod';
import { str, type Command, type Options, type ParsedArgs } from './core/command.ts';
import { CommandError, UsageError } from './core/errors.ts';

/**
 * How a `cng-worker` stage declares its options: one declaration gives the stage's `--help` text,
 * its command-line spec and the parser that turns the raw strings (from the command line, or from
 * a test calling the stage function) into typed values. A missing or malformed option is a
 * UsageError (exit 2) in one format for every stage: `--<name> is required` or
 * `--<name> must be …, got '<value>'`. Also the work unit of an Indexed Job (workUnitIndex).
 */

/** A stage's options as given: long name → raw value (flags: 'true'). */
export type RawOptions = Record<string, string | undefined>;

/** One declared option: its kind (a zod schema from the raw string) and its help text. */
export class StageOption<T> {
  constructor(
    readonly type: 'string' | 'boolean',
    readonly help: string,
    /** Raw string → value; `undefined` means "not given" (e.g. an empty text). */
    private readonly schema: z.ZodType<T | undefined, z.ZodTypeDef, string>,
    /** What a valid value is, for the message: "an integer from 0 to 15". */
    private readonly expected: string,
    readonly required = true,
    private readonly fallback?: T,
  ) {}

  /** The option may be left out (its value is then undefined). */
  optional(): StageOption<T | undefined> {
    return new StageOption<T | undefined>(this.type, this.help, this.schema, this.expected, false);
  }

  /** The option may be left out (its value is then `value`). */
  default(value: T): StageOption<T> {
    return new StageOption(this.type, this.help, this.schema, this.expected, false, value);
  }

  /** The typed value of `--<name> <raw>`. @throws UsageError when missing (if required) or malformed. */
  parse(name: string, raw: string | undefined): T {
    const parsed = raw === undefined ? undefined : this.schema.safeParse(raw);
    if (parsed?.success === false) throw new UsageError(`--${name} must be ${this.expected}, got '${raw}'`);
    if (parsed?.data !== undefined) return parsed.data;
    if (this.required) throw new UsageError(`--${name} is required`);
    return this.fallback as T;
  }
}

/** The comma-separated items of a list option, trimmed, blanks dropped. */
const items = (s: string) => s.split(',').map((x) => x.trim()).filter((x) => x !== '');

/** A non-negative integer from the command line (no sign, no exponent). */
const integer = (min: number, max: number) => z.string().regex(/^\s*\d+\s*$/).transform(Number).pipe(z.number().min(min).max(max));

const span = (min: number, max: number | undefined) => (max === undefined ? `from ${min}` : `from ${min} to ${max}`);

/** Any text (an empty one counts as not given). */
export function text(help: string): StageOption<string> {
  return new StageOption('string', help, z.string().transform((s) => (s === '' ? undefined : s)), 'text');
}

/** Comma-separated texts (none counts as not given). */
export function textList(help: string): StageOption<string[]> {
  return new StageOption('string', help, z.string().transform((s) => (items(s).length ? items(s) : undefined)), 'comma-separated texts');
}

/** An integer in [min, max] (max: none). */
export function int(help: string, { min = 0, max }: { min?: number; max?: number } = {}): StageOption<number> {
  const expected = max === undefined && min <= 1 ? `a ${min ? 'positive' : 'non-negative'} integer` : `an integer ${span(min, max)}`;
  return new StageOption('string', help, integer(min, max ?? Infinity), expected);
}

/** An H3 resolution from `min` to 15. */
export function resolution(help: string, { min = 0 }: { min?: number } = {}): StageOption<number> {
  return int(help, { min, max: 15 });
}

/** Comma-separated integers in [min, max], e.g. band numbers; `nonEmpty`: at least one. */
export function intList(
  help: string,
  { noun, min = 0, max, nonEmpty = false }: { noun: string; min?: number; max?: number; nonEmpty?: boolean },
): StageOption<number[]> {
  const list = z.array(integer(min, max ?? Infinity)).min(nonEmpty ? 1 : 0);
  return new StageOption('string', help, z.string().transform(items).pipe(list), `comma-separated ${noun} ${span(min, max)}`);
}

/** Comma-separated H3 resolutions (0–15): parent columns. */
export function parents(help: string): StageOption<number[]> {
  return intList(help, { noun: 'resolutions', min: 0, max: 15 });
}

/**
 * The `--parents` resolutions that are coarser than `res` (else a UsageError), without 0 (the
 * partition column h0 is always written) and without repeats.
 */
export function coarserParents(given: number[], res: number): number[] {
  const out: number[] = [];
  for (const p of given) {
    if (p >= res) throw new UsageError(`--parents: '${p}' is not a resolution coarser than ${res}`);
    if (p !== 0 && !out.includes(p)) out.push(p);
  }
  return out;
}

/** Comma-separated numbers; `nan` (any case, signed) is NaN. */
export function numberList(help: string): StageOption<number[]> {
  const nan = z.string().regex(/^[-+]?nan$/i).transform(() => NaN);
  const finite = z.string().transform(Number).pipe(z.number().finite());
  return new StageOption('string', help, z.string().transform(items).pipe(z.array(nan.or(finite))), 'comma-separated numbers');
}

/** A finite number, e.g. 0.25 or -1e-3. */
export function number(help: string): StageOption<number> {
  return new StageOption('string', help, z.string().regex(/\S/).transform(Number).pipe(z.number().finite()), 'a finite number');
}

/** One of `values`; `aliases` map other spellings onto them. */
export function choice<const V extends readonly [string, ...string[]]>(
  help: string,
  values: V,
  aliases: Record<string, V[number]> = {},
): StageOption<V[number]> {
  const schema = z.string().transform((s) => aliases[s] ?? s).pipe(z.enum(values as unknown as [V[number], ...V[number][]]));
  return new StageOption('string', help, schema, `one of ${values.join(', ')}`);
}

/** A switch without a value (false unless given). */
export function flag(help: string): StageOption<boolean> {
  return new StageOption('boolean', help, z.enum(['true', 'false']).transform((s) => s === 'true'), 'true or false').default(false);
}

// ---------------------------------------------------------------------------------------------
// Stages

/** `layer-name` → `layerName`. */
type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;
const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

type OptionDecls = Record<string, StageOption<unknown>>;

/** The typed options of a stage (or of an option declaration), by camel-cased name. */
export type OptionsOf<S extends OptionDecls | { options: OptionDecls }> = S extends { options: infer O extends OptionDecls }
  ? OptionsOf<O>
  : { [K in keyof S & string as Camel<K>]: S[K] extends StageOption<infer T> ? T : never };

export interface StageSpec<O extends OptionDecls> {
  name: string;
  /** One line for `cng-worker --help`. */
  summary: string;
  description: string;
  options: O;
  example: string;
  /** Runs the stage (a lazy import of its module, so --help and other stages stay fast). */
  run: (opts: RawOptions) => Promise<unknown>;
}

export interface Stage<O extends OptionDecls> extends StageSpec<O> {
  /** The typed options. @throws UsageError for the first missing or malformed one. */
  parse(opts: RawOptions): OptionsOf<O>;
  /** `cng-worker <name>`: help text and option spec from the declaration. */
  command: Command;
}

export function defineStage<O extends OptionDecls>(spec: StageSpec<O>): Stage<O> {
  const parse = (opts: RawOptions) =>
    Object.fromEntries(Object.entries(spec.options).map(([k, o]) => [camel(k), o.parse(k, opts[k])])) as OptionsOf<O>;
  return { ...spec, parse, command: stageCommand(spec) };
}

function stageCommand(def: StageSpec<OptionDecls>): Command {
  const width = Math.max(...Object.keys(def.options).map((k) => k.length)) + 10;
  const lines = Object.entries(def.options).map(
    ([k, o]) => `  --${(o.type === 'string' ? `${k} VALUE` : k).padEnd(width)}${o.help}${o.required ? ' (required)' : ''}`,
  );
  const required = Object.entries(def.options).filter(([, o]) => o.required).map(([k]) => `--${k} VALUE`);
  return {
    name: def.name,
    summary: def.summary,
    help: `Usage: cng-worker ${def.name} ${required.join(' ')} [options]\n\n${def.description}\n\nOptions:\n${lines.join('\n')}\n  ${'-h, --help'.padEnd(width + 2)}show this help\n\nExit status: 0 done, 1 failed (one-line reason on stderr), 2 usage error.\n\nExample:\n  ${def.example}`,
    options: Object.fromEntries(Object.entries(def.options).map(([k, o]) => [k, { type: o.type }])) as Options,
    async run(args: ParsedArgs) {
      // Boolean flags arrive as 'true' (absent: undefined); the stage parses its options itself.
      const value = (v: unknown) => (v === true ? 'true' : str(v));
      await def.run(Object.fromEntries(Object.keys(def.options).map((k) => [k, value(args.values[k])])));
      return 0;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Work units

/**
 * The global work-unit index an Indexed Job's pod works on:
 * - CNG_INDEX_LIST set (a retry Job, e.g. "3,17,205"): the JOB_COMPLETION_INDEX-th listed unit;
 * - otherwise JOB_COMPLETION_INDEX + CNG_INDEX_OFFSET (a stage split into several Jobs).
 * Throws a CommandError (one line, exit 1) when JOB_COMPLETION_INDEX is unset or not an index of
 * the list, or a value is not a non-negative integer.
 */
export function workUnitIndex(env: NodeJS.ProcessEnv = process.env): number {
  const nonNegative = (v: string | undefined) => (v !== undefined && /^\s*\d+\s*$/.test(v) ? Number(v) : undefined);
  const raw = env.JOB_COMPLETION_INDEX;
  if (raw === undefined || raw === '') throw new CommandError('no work unit: JOB_COMPLETION_INDEX is not set (an Indexed Job sets it; locally pass --index)');
  const k = nonNegative(raw);
  if (k === undefined) throw new CommandError(`JOB_COMPLETION_INDEX must be a non-negative integer, got '${raw}'`);
  const list = env.CNG_INDEX_LIST;
  if (list !== undefined && list.trim() !== '') {
    const units = list.split(',').map((x) => nonNegative(x));
    const bad = list.split(',').filter((_, i) => units[i] === undefined);
    if (bad.length) throw new CommandError(`CNG_INDEX_LIST must be comma-separated non-negative integers, got '${list}'`);
    if (k >= units.length)
      throw new CommandError(`JOB_COMPLETION_INDEX ${k} is out of range: CNG_INDEX_LIST lists ${units.length} work unit(s) (completion indices 0–${units.length - 1})`);
    return units[k]!;
  }
  const offsetRaw = env.CNG_INDEX_OFFSET;
  const offset = offsetRaw === undefined || offsetRaw === '' ? 0 : nonNegative(offsetRaw);
  if (offset === undefined) throw new CommandError(`CNG_INDEX_OFFSET must be a non-negative integer, got '${offsetRaw}'`);
  return k + offset;
}
