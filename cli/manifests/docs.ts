import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { App } from 'cdk8s';
import { buildDatasets, ClusterProfile, STAGE_KINDS, type DatasetSpec, type DocsInput, type StageKind } from '../../constructs/index.ts';
import { datasets } from '../../datasets/index.ts';
import { writingBrief } from '../../worker/publish/docs/brief.ts';
import { checkProse, formatProblems, schemaSnapshot, type ProseProblem, type SchemaSnapshot } from '../../worker/publish/docs/check.ts';
import { gatherFacts } from '../../worker/publish/docs/facts.ts';
import { generateDocs } from '../../worker/publish/docs/stage.ts';
import { DirStore, S3Store, s3OptionsFromEnv, Storage, type ObjectStore } from '../../worker/io/storage.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { str, type Command } from '../../worker/core/command.ts';
import { plural } from '../../worker/core/text.ts';

/**
 * `cng docs` (dataset documentation: README + STAC, the writing brief, the completeness check) and
 * `cng todo` (todo.md checks). The docs stage itself is worker/publish/docs/; this is the local side.
 */

const ROOT = resolve(import.meta.dirname, '../..');

/** The docs stage's input for a dataset spec, exactly as the synth writes it into the docs Job. */
export function docsInputFor(spec: DatasetSpec, profile: ClusterProfile = ClusterProfile.NRP): DocsInput {
  const [d] = buildDatasets(new App(), [spec], profile);
  return d.docsInput;
}

/** `datasets/<name>.schema.json` of the repository. */
export function schemaSnapshotPath(name: string, root = ROOT): string {
  return join(root, 'datasets', `${name}.schema.json`);
}

/**
 * The CI check: the dataset's prose against its schema snapshot (no outputs needed). Problems are
 * empty when every column of every published file is described.
 */
export function checkDatasetDocs(spec: DatasetSpec, root = ROOT): ProseProblem[] {
  const path = schemaSnapshotPath(spec.name, root);
  const input = docsInputFor(spec);
  // A raster-only dataset needs no snapshot: its hex columns are the pipeline's own.
  if (!existsSync(path) && input.layers.length + input.tables.length === 0)
    return checkProse(input, input.prose, { dataset: spec.name, origin: 'rasters only', layers: {}, tables: {} });
  if (!existsSync(path))
    return [
      {
        kind: 'missing',
        what: 'schema snapshot',
        field: relative(root, path),
        message: `missing: run the pipeline (cng run ${spec.name}), then 'cng docs ${spec.name} --brief --write-schema'`,
      },
    ];
  const snapshot = JSON.parse(readFileSync(path, 'utf8')) as SchemaSnapshot;
  return checkProse(input, input.prose, snapshot);
}

function findSpec(name: string, specs: DatasetSpec[] = datasets): DatasetSpec {
  const spec = specs.find((d) => d.name === name);
  if (!spec) throw new CommandError(`no dataset '${name}' in datasets/index.ts; known: ${specs.map((d) => d.name).join(', ')}`);
  return spec;
}

/** The object store `cng docs` reads: a directory store, or an S3 endpoint (unsigned without credentials). */
function targetStore(values: Record<string, unknown>): { store: ObjectStore; storage: Storage; where: string } {
  const endpoint = str(values['s3-endpoint']);
  if (endpoint) {
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_ENDPOINT_URL_S3: endpoint };
    delete env.CNG_STORAGE_DIR;
    return {
      store: new S3Store(s3OptionsFromEnv(env)),
      storage: new Storage(env),
      where: endpoint,
    };
  }
  const dir = resolve(str(values['data-dir']) ?? 'data', 'store');
  return { store: new DirStore(dir), storage: new Storage({ ...process.env, CNG_STORAGE_DIR: dir }), where: dir };
}

export const docsCommand: Command = {
  name: 'docs',
  summary: "a dataset's README + STAC from its outputs and prose; --brief for writers, --check for CI",
  help: `Usage: cng docs <dataset> [--data-dir DIR | --s3-endpoint URL] [--out DIR] [--allow-undescribed]
       cng docs <dataset> --brief [--write-schema] [--data-dir DIR | --s3-endpoint URL]
       cng docs [<dataset>] --check
       cng docs <dataset> --print-input

Dataset documentation = FACTS read from the published files (schemas, row counts, extents,
sizes, PMTiles layers, H3 counts, raster manifests) + PROSE written by a person or an LLM in
datasets/<dataset>.prose.ts. The pipeline's docs stage does the same on the cluster.

  (default)       read the outputs and write README.md and stac-collection.json where the docs
                  stage writes them (the bucket root, in the chosen store), or into --out DIR.
                  Fails when a product is missing or a published column has no description.
  --brief         print a writing brief for the prose: the facts, sample values, value counts of
                  coded columns, source links and exactly which descriptions are missing.
  --write-schema  with --brief: also write datasets/<dataset>.schema.json (the columns of the
                  published files) so that --check can run without outputs (CI).
  --check         check the prose against datasets/<dataset>.schema.json, no outputs needed;
                  exit 1 naming every undescribed layer, table and column. Without a dataset:
                  every dataset in datasets/index.ts.
  --print-input   print the docs stage's --dataset-json (product URLs, public endpoint, prose).

Options:
  --data-dir DIR      the local runner's data directory: outputs in DIR/store/<bucket>/… (default: data)
  --s3-endpoint URL   read the outputs from this S3 endpoint instead (credentials from
                      AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; anonymous reads without them)
  --out DIR           write README.md and stac-collection.json into this local directory
  --allow-undescribed write even when columns lack descriptions (marked "not yet described")
  -h, --help          show this help

Exit status: 0 ok, 1 failed (missing products or descriptions), 2 usage error.

Examples:
  cng docs padus-4-1 --brief
  cng docs padus-4-1 --brief --write-schema
  cng docs --check
  cng docs padus-4-1 --out out/padus-docs
  cng docs padus-4-1 --brief --s3-endpoint https://s3-west.nrp-nautilus.io`,
  options: {
    'data-dir': { type: 'string' },
    's3-endpoint': { type: 'string' },
    out: { type: 'string' },
    brief: { type: 'boolean' },
    'write-schema': { type: 'boolean' },
    check: { type: 'boolean' },
    'print-input': { type: 'boolean' },
    'allow-undescribed': { type: 'boolean' },
  },
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError(`expected at most one dataset, got ${positionals.join(' ')}`);
    const modes = ['brief', 'check', 'print-input'].filter((m) => values[m]);
    if (modes.length > 1) throw new UsageError(`--${modes.join(' and --')} cannot be combined`);
    if (values['write-schema'] && !values.brief) throw new UsageError('--write-schema goes with --brief');
    if (values['s3-endpoint'] && values['data-dir']) throw new UsageError('--data-dir and --s3-endpoint cannot be combined');

    if (values.check) {
      const specs = positionals.length ? [findSpec(positionals[0])] : datasets;
      let failed = 0;
      for (const spec of specs) {
        // cng synth allows one documented dataset per bucket: the others leave their prose out.
        const documenter = spec.prose ? undefined : datasets.find((d) => d.bucket === spec.bucket && d.prose);
        if (documenter) {
          process.stdout.write(`cng docs --check: ${spec.name}: no prose (bucket ${spec.bucket} is documented by dataset ${documenter.name}); not checked\n`);
          continue;
        }
        const problems = checkDatasetDocs(spec);
        if (problems.length) {
          failed++;
          process.stderr.write(`cng docs --check: ${spec.name}: ${problems.length} problem(s):\n${formatProblems(problems)}\n`);
        } else process.stdout.write(`cng docs --check: ${spec.name}: every published column is described\n`);
      }
      return failed ? EXIT.failure : EXIT.ok;
    }

    if (positionals.length !== 1) throw new UsageError('which dataset? e.g. cng docs padus-4-1 --brief');
    const spec = findSpec(positionals[0]);
    const input = docsInputFor(spec);
    if (values['print-input']) {
      process.stdout.write(JSON.stringify(input, null, 2) + '\n');
      return EXIT.ok;
    }
    const { store, storage, where } = targetStore(values);

    if (values.brief) {
      const { facts, samples } = await gatherFacts(input, store, { samples: true });
      const snapshot = schemaSnapshot(input, facts, `cng docs ${spec.name} --brief --write-schema over ${values['s3-endpoint'] ? `the S3 endpoint ${where}` : `a local run (directory store ${relative(process.cwd(), where) || where})`}`);
      const problems = checkProse(input, input.prose, snapshot);
      process.stdout.write(writingBrief(input, facts, samples, problems) + '\n');
      if (values['write-schema']) {
        if (facts.missing.length)
          throw new CommandError(`not writing the schema snapshot: ${facts.missing.length} product(s) missing under ${where}: ${facts.missing.join(', ')}`);
        const path = schemaSnapshotPath(spec.name);
        writeFileSync(path, JSON.stringify(snapshot, null, 2) + '\n');
        process.stderr.write(`cng docs: wrote ${relative(process.cwd(), path)}\n`);
      }
      return EXIT.ok;
    }

    const out = str(values.out);
    const r = await generateDocs(input, {
      store,
      storage,
      readmeUrl: out ? join(resolve(out), 'README.md') : undefined,
      stacUrl: out ? join(resolve(out), 'stac-collection.json') : undefined,
      allowUndescribed: Boolean(values['allow-undescribed']),
    });
    const readme = out ? join(resolve(out), 'README.md') : input.readme;
    const stac = out ? join(resolve(out), 'stac-collection.json') : input.stac;
    process.stdout.write(`wrote ${readme} and ${stac} (${Object.keys(r.stac.assets as object).length} STAC assets) from ${where}\n`);
    if (r.problems.length) process.stderr.write(`warning: ${r.problems.length} description(s) missing:\n${formatProblems(r.problems)}\n`);
    return EXIT.ok;
  },
};

// ---------------------------------------------------------------------------------------------
// todo.md
// ---------------------------------------------------------------------------------------------

export interface TodoEntry {
  /** 1-based line of the `### <dataset> — run <n>` heading. */
  readonly line: number;
  readonly dataset: string;
  /** The run number, or for a one-stage re-run entry the stage's re-run number. */
  readonly run: number;
  /**
   * A one-stage re-run entry's stage (`### <dataset> — <stage> rerun <n>`): `<layer>.<kind>` for a
   * layer's or raster's stage (e.g. `fee.pmtiles`), else a dataset-level stage id (`table-state-name`).
   */
  readonly stage?: string;
  /** The reasons (bullet texts). */
  readonly reasons: string[];
}

export interface TodoProblem {
  readonly line: number;
  readonly message: string;
}

const RUN_HEADING = /^###\s+([a-z0-9][-a-z0-9]*)\s+(?:—|–|--?)\s+(?:([a-z0-9][-a-z0-9]*(?:\.[a-z0-9][-a-z0-9]*)?)\s+(re))?run\s+(\d+)\s*$/;
const HEADING_FORMS = "'### <dataset> — run <n>' or '### <dataset> — <layer>.<stage> rerun <n>'";
const entryTitle = (e: { dataset: string; run: number; stage?: string }) => `### ${e.dataset} — ${e.stage ? `${e.stage} rerun` : 'run'} ${e.run}`;

/**
 * Parses todo.md: the entries under `## Runs` (`### <dataset> — run <n>` + bullet reasons) and
 * format problems. Everything outside `## Runs` (e.g. `## Backlog`) is free text.
 */
export function parseTodo(text: string): { entries: TodoEntry[]; problems: TodoProblem[] } {
  const lines = text.split('\n');
  const entries: { line: number; dataset: string; run: number; stage?: string; reasons: string[] }[] = [];
  const problems: TodoProblem[] = [];
  const start = lines.findIndex((l) => /^##\s+Runs\s*$/.test(l));
  if (start < 0) return { entries, problems: [{ line: 1, message: "no '## Runs' section" }] };
  let current: (typeof entries)[number] | undefined;
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i];
    if (/^##\s/.test(l)) break;
    if (/^###/.test(l)) {
      const m = RUN_HEADING.exec(l.trim());
      if (!m) {
        problems.push({ line: i + 1, message: `'${l.trim()}' is not ${HEADING_FORMS}` });
        current = undefined;
        continue;
      }
      current = { line: i + 1, dataset: m[1], run: Number(m[4]), ...(m[2] ? { stage: m[2] } : {}), reasons: [] };
      entries.push(current);
    } else if (/^\s*[-*]\s+\S/.test(l)) {
      if (current && /^[-*]/.test(l)) current.reasons.push(l.replace(/^[-*]\s+/, '').trim());
      else if (!current) problems.push({ line: i + 1, message: 'a reason outside any "### <dataset> — run <n>" entry' });
    }
  }
  for (const e of entries) if (e.reasons.length === 0) problems.push({ line: e.line, message: `${entryTitle(e)} gives no reason (add "- why")` });
  const seen = new Map<string, number>();
  for (const e of entries) {
    const k = `${e.dataset}#${e.stage ?? ''}#${e.run}`;
    if (seen.has(k)) problems.push({ line: e.line, message: `${entryTitle(e)} repeats the entry of line ${seen.get(k)}` });
    else seen.set(k, e.line);
  }
  return { entries, problems };
}

/** todo.md against the dataset files: unknown datasets and run numbers that differ from the file's `run`. */
export function checkTodo(text: string, specs: DatasetSpec[] = datasets): { entries: TodoEntry[]; problems: TodoProblem[] } {
  const { entries, problems } = parseTodo(text);
  const byName = new Map(specs.map((s) => [s.name, s]));
  for (const e of entries) {
    const spec = byName.get(e.dataset);
    if (!spec)
      problems.push({ line: e.line, message: `${entryTitle(e)}: no dataset '${e.dataset}' in datasets/index.ts (known: ${[...byName.keys()].join(', ')})` });
    else if (e.stage !== undefined) {
      const problem = rerunEntryProblem(spec, e.stage, e.run);
      if (problem) problems.push({ line: e.line, message: `${entryTitle(e)}: ${problem}` });
    } else if (spec.run !== e.run)
      problems.push({
        line: e.line,
        message: `### ${e.dataset} — run ${e.run}: the dataset file has run ${spec.run}; ${e.run > spec.run ? `bump run to ${e.run} in the dataset file in the same PR` : 'this run is done or superseded: update or remove the entry'}`,
      });
  }
  return { entries, problems: problems.sort((a, b) => a.line - b.line) };
}

/**
 * A one-stage re-run entry against the dataset file: the stage must exist (a layer's or raster's
 * key and a stage kind, or a dataset-level stage id) and the file's `rerun` must be the entry's.
 */
function rerunEntryProblem(spec: DatasetSpec, stage: string, n: number): string | undefined {
  const [owner, kind] = stage.includes('.') ? stage.split('.') : [undefined, stage];
  let field: string;
  let current: number | undefined;
  if (owner !== undefined) {
    const where = spec.layers?.[owner] ? 'layers' : spec.rasters?.[owner] ? 'rasters' : undefined;
    if (!where) return `the dataset file has no layer or raster '${owner}'`;
    if (!(STAGE_KINDS as readonly string[]).includes(kind)) return `'${kind}' is not a stage kind (${STAGE_KINDS.join(', ')})`;
    field = `${where}.${owner}.rerun.${kind}`;
    current = (where === 'layers' ? spec.layers![owner] : spec.rasters![owner]).rerun?.[kind as StageKind];
  } else {
    field = `rerun['${kind}']`;
    current = spec.rerun?.[kind];
  }
  if (current === n) return undefined;
  if (current === undefined || n > current) return `the dataset file has ${field}: ${current ?? 'unset'}; set it to ${n} in the dataset file in the same PR`;
  return `the dataset file has ${field}: ${current}; this re-run is done or superseded: update or remove the entry`;
}

export const todoCommand: Command = {
  name: 'todo',
  summary: 'check todo.md: every run entry names a known dataset and its current run number',
  help: `Usage: cng todo check [--file FILE]

todo.md tracks which datasets need a (re-)run and why. Under '## Runs' every entry is

  ### <dataset> — run <n>
  - <reason>

or, for re-running one stage (the dataset file's layers.<layer>.rerun.<stage>, or rerun['<stage id>']
for a dataset-level stage such as a table export):

  ### <dataset> — <layer>.<stage> rerun <n>
  - <reason>

'cng todo check' fails (exit 1, naming the line and entry) when an entry's dataset is not in
datasets/index.ts, its run (re-run) number differs from the dataset file's, it gives no reason,
it repeats another entry, or a '###' heading under Runs has another form. '## Backlog' and
other sections are free text. CI runs it after 'cng validate'.

Options:
  --file FILE   the file to check (default: todo.md)
  -h, --help    show this help

Exit status: 0 ok, 1 problems found, 2 usage error.

Example:
  cng todo check`,
  options: { file: { type: 'string' } },
  positionals: true,
  async run({ values, positionals }) {
    const [sub, ...rest] = positionals;
    if (sub !== 'check' || rest.length) throw new UsageError(sub === undefined ? "expected a sub-command: 'check'" : `unknown sub-command '${positionals.join(' ')}' (only 'check')`);
    const file = resolve(str(values.file) ?? 'todo.md');
    if (!existsSync(file)) throw new CommandError(`${file}: no such file`);
    const { entries, problems } = checkTodo(readFileSync(file, 'utf8'));
    const name = relative(process.cwd(), file) || file;
    if (problems.length) {
      process.stderr.write(`${name}: ${problems.length} problem(s):\n${problems.map((p) => `  line ${p.line}: ${p.message}`).join('\n')}\n`);
      return EXIT.failure;
    }
    process.stdout.write(`${name}: ${plural(entries.length, 'run entry', 'run entries')}, each matching its dataset file (${entries.map((e) => `${e.dataset} run ${e.run}`).join(', ') || 'none'})\n`);
    return EXIT.ok;
  },
};
