/**
 * `cng sample <kind>`: writes a small synthetic source shaped like a real one, for running the
 * whole pipeline locally. One kind so far, `padus` (cli/local/padus-sample/).
 */
import { EXIT, UsageError } from '../../worker/core/errors.ts';
import { type Command, flagOptions, str } from '../../worker/core/command.ts';
import { formatSampleSummary, PADUS_SAMPLE_DEFAULTS, writePadusSample } from './padus-sample/writer.ts';

const SAMPLE_KINDS = ['padus'] as const;

/** A non-negative integer option; undefined when not given. */
function intOption(name: string, value: unknown): number | undefined {
  const s = str(value);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s)) throw new UsageError(`--${name} must be a non-negative integer, got '${s}'`);
  return Number(s);
}

export const sampleCommand: Command = {
  name: 'sample',
  summary: 'write a small synthetic source shaped like a real one (padus: a PAD-US 4.1 File Geodatabase)',
  help: `Usage: cng sample padus [--out PATH] [--features N] [--seed S] [--big-vertices V] [--force] [--json]

Write a deterministic File Geodatabase shaped like PAD-US 4.1, for running the
whole pipeline locally: the 6 spatial layers with their real names
(PADUS4_1Fee, PADUS4_1Easement, PADUS4_1Proclamation, PADUS4_1Marine,
PADUS4_1Designation, PADUS4_1Combined_Proclamation_Marine_Fee_Designation_Easement),
MultiPolygon in USA Contiguous Albers (ESRI:102039, also for Alaska and Hawaii),
the real field names and types, attribute codes drawn from the 8 lookup tables
(Public_Access, Category, Designation_Type, GAP_Status, IUCN_Category,
Agency_Name, Agency_Type, State_Name; 204 rows, written too).

Polygons (0.05-50 km², 8-200 vertices) spread over the conterminous US, Alaska
and Hawaii, plus the hard cases: curved geometries (MultiSurface with circular
arcs), multipart features, an Aleutian island chain crossing 180° as one
feature, features smaller than an H3 res-10 cell, thin slivers, a self-
intersecting bow-tie, NULL geometries and one polygon of --big-vertices
vertices. Hard cases say so in their Comments field. The same options always
give the same features; a different --seed gives different ones.

Options:
  --out PATH          Output .gdb directory (default ${PADUS_SAMPLE_DEFAULTS.out})
  --features N        Ordinary features in PADUS4_1Fee (default ${PADUS_SAMPLE_DEFAULTS.features}); Easement
                      gets 1.1×N, Proclamation and Designation N/10, Marine N/20,
                      Combined the sum of the other five
  --seed S            Seed of the random generator, 0-4294967295 (default ${PADUS_SAMPLE_DEFAULTS.seed})
  --big-vertices V    Vertices of the one very large polygon (default ${PADUS_SAMPLE_DEFAULTS.bigVertices})
  --force             Replace an existing File Geodatabase at PATH
  --json              Print the summary as JSON
  -h, --help          Show this help

Progress goes to stderr, the summary to stdout.
Exit status: 0 on success, 1 if PATH exists (without --force) or writing
fails, 2 on a usage error (e.g. an unknown sample kind).

Examples:
  cng sample padus
  cng sample padus --out /tmp/padus-small.gdb --features 40 --big-vertices 20000 --seed 7
`,
  options: flagOptions(['out', 'features', 'seed', 'big-vertices'], ['force', 'json']),
  positionals: true,
  async run({ values, positionals }) {
    const kinds = SAMPLE_KINDS.join(', ');
    if (positionals.length === 0) throw new UsageError(`missing sample kind; available: ${kinds}`);
    if (positionals.length > 1) throw new UsageError(`expected one sample kind, got ${positionals.length}: ${positionals.join(' ')}`);
    const kind = positionals[0];
    if (!(SAMPLE_KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown sample kind '${kind}'; available: ${kinds}`);
    const out = str(values.out) ?? PADUS_SAMPLE_DEFAULTS.out;
    if (!/\.gdb$/i.test(out)) throw new UsageError(`--out must end in .gdb (a File Geodatabase directory), got '${out}'`);
    const features = intOption('features', values.features);
    if (features === 0) throw new UsageError('--features must be at least 1');
    const seed = intOption('seed', values.seed);
    if (seed !== undefined && seed > 0xffffffff) throw new UsageError(`--seed must be at most 4294967295, got ${seed}`);
    const bigVertices = intOption('big-vertices', values['big-vertices']);
    if (bigVertices !== undefined && bigVertices < 100) throw new UsageError(`--big-vertices must be at least 100, got ${bigVertices}`);
    const summary = await writePadusSample({
      out, features, seed, bigVertices, force: Boolean(values.force),
      log: (line) => process.stderr.write(`cng sample: ${line}\n`),
    });
    process.stdout.write(values.json ? JSON.stringify(summary, null, 2) + '\n' : formatSampleSummary(summary));
    return EXIT.ok;
  },
};
