/**
 * `cng doctor`: the findings of ./diagnose.ts, one sentence per problem with its concrete change;
 * with `--apply` the changes are written into the dataset file (./spec-edit.ts) and a
 * "doctor: …" entry under the dataset's run heading in todo.md, the edited checkout is proven to
 * synthesize (else nothing is changed), and the diff is shown.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { structuredPatch } from 'diff';
import { parseManifests, readDist } from '../../constructs/index.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import type { Command } from '../../worker/core/command.ts';
import { collectStatus } from './collect.ts';
import { diagnose, type Finding, type HexPlanFile } from './diagnose.ts';
import { CLUSTER_OPTIONS, connectWithOptions } from './k8s.ts';
import { SpecFileEditor, type SpecEdit } from './spec-edit.ts';

// ---------------------------------------------------------------------------------------------
// todo.md

/** Adds bullets under `### <dataset> — run <n>` in the "## Runs" section (creating what is missing). */
export function addTodoEntry(todo: string, dataset: string, run: number, bullets: string[]): string {
  const heading = `### ${dataset} — run ${run}`;
  const lines = todo.split('\n');
  const add = bullets.map((b) => `- ${b}`);
  let runs = lines.findIndex((l) => /^##\s+Runs\s*$/.test(l));
  if (runs < 0) {
    const body = todo.trimEnd();
    return `${body}${body ? '\n\n' : ''}## Runs\n\n${heading}\n${add.join('\n')}\n`;
  }
  let sectionEnd = lines.findIndex((l, i) => i > runs && /^##\s/.test(l));
  if (sectionEnd < 0) sectionEnd = lines.length;
  const h = lines.findIndex((l, i) => i > runs && i < sectionEnd && l.trim() === heading);
  if (h >= 0) {
    let end = lines.findIndex((l, i) => i > h && (/^#{2,3}\s/.test(l)));
    if (end < 0) end = lines.length;
    let at = end;
    while (at > h + 1 && lines[at - 1].trim() === '') at--;
    lines.splice(at, 0, ...add);
    return lines.join('\n');
  }
  let at = sectionEnd;
  while (at > runs + 1 && lines[at - 1].trim() === '') at--;
  lines.splice(at, 0, '', heading, ...add);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Applying

const ROOT = resolve(import.meta.dirname, '../..');

/** The datasets/*.ts file that defines a dataset name. */
export function datasetFile(root: string, dataset: string): string {
  const dir = join(root, 'datasets');
  const re = new RegExp(`\\bname:\\s*['"\`]${dataset.replace(/[-.]/g, '\\$&')}['"\`]`);
  const hits = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && f !== 'index.ts')
    .filter((f) => re.test(readFileSync(join(dir, f), 'utf8')));
  if (hits.length !== 1)
    throw new CommandError(hits.length ? `dataset ${dataset} is named in several files: ${hits.join(', ')}` : `no file in datasets/ defines dataset '${dataset}'`);
  return join(dir, hits[0]);
}

/**
 * A small unified diff (for showing what --apply changed), by jsdiff. The texts are compared as
 * lines split at '\n' (a final newline leaves an empty last line), so no "\ No newline" marker.
 */
export function unifiedDiff(a: string, b: string, name: string, context = 2): string {
  const { hunks } = structuredPatch(name, name, `${a}\n`, `${b}\n`, undefined, undefined, { context });
  const lines = hunks.flatMap((h) => [`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, ...h.lines]);
  return [`--- a/${name}`, `+++ b/${name}`, ...lines].join('\n') + '\n';
}

export interface ApplyResult {
  datasetFile: string;
  todoFile: string;
  edits: SpecEdit[];
  /** Jobs of the edited stages after re-synthesis. */
  jobs: { stageId: string; name: string; completions: number; indexList?: string; memory?: string; parallelism: number }[];
  diff: string;
}

/** Writes the findings' edits into the dataset file and todo.md, then proves the result synthesizes. */
export function applyFindings(root: string, dataset: string, run: number, findings: Finding[]): ApplyResult | undefined {
  const withEdits = findings.filter((f) => f.edits?.length);
  if (!withEdits.length) return undefined;
  const file = datasetFile(root, dataset);
  const todoFile = join(root, 'todo.md');
  const before = readFileSync(file, 'utf8');
  const todoBefore = existsSync(todoFile) ? readFileSync(todoFile, 'utf8') : '# Datasets needing a (re-)run\n';
  let editor: SpecFileEditor;
  const edits = withEdits.flatMap((f) => f.edits!);
  try {
    editor = new SpecFileEditor(before);
    for (const e of edits) editor.apply(e);
  } catch (err) {
    throw new CommandError(`cannot edit ${relative(root, file)}: ${(err as Error).message}`);
  }
  const todo = addTodoEntry(todoBefore, dataset, run, withEdits.map((f) => `doctor: ${f.sentence}`));
  writeFileSync(file, editor.text);
  writeFileSync(todoFile, todo);
  const restore = () => {
    writeFileSync(file, before);
    writeFileSync(todoFile, todoBefore);
  };

  // Prove the edited file still parses and synthesizes (a child process: fresh module cache).
  const out = mkdtempSync(join(tmpdir(), 'cng-doctor-'));
  try {
    const r = spawnSync(process.execPath, [join(root, 'bin/cng.js'), 'synth', '--out', out], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) {
      restore();
      throw new CommandError(`the edited ${relative(root, file)} does not synthesize, so nothing was changed:\n${(r.stderr || r.stdout).trim()}`);
    }
    const manifests = parseManifests(readDist(out));
    const stageIds = new Set(withEdits.map((f) => f.stageId));
    const jobs: ApplyResult['jobs'] = [];
    for (const [path, objs] of manifests) {
      const m = new RegExp(`^${dataset}/([^/]+)/manifest\\.yaml$`).exec(path);
      if (!m || !stageIds.has(m[1])) continue;
      for (const o of objs.filter((x) => x.kind === 'Job')) {
        const c = o.spec.template.spec.containers[0];
        const list = c.env?.find((e: any) => e.name === 'CNG_INDEX_LIST')?.value;
        jobs.push({ stageId: m[1], name: o.metadata.name, completions: o.spec.completions, ...(list ? { indexList: list } : {}), memory: c.resources?.limits?.memory, parallelism: o.spec.parallelism });
      }
    }
    // The retry Job must cover exactly the listed units.
    for (const e of edits.filter((x) => x.path[3] === 'retry' && x.value)) {
      const want = /\[([^\]]*)\]/.exec(e.value!)![1].split(',').map((x) => x.trim()).join(',');
      const got = jobs.filter((j) => j.stageId === `${e.path[1]}-hex`).map((j) => j.indexList ?? '');
      if (got.join(',') !== want) {
        restore();
        throw new CommandError(`internal check failed: the retry Job of ${e.path[1]}-hex covers '${got.join(',')}', expected '${want}'; nothing was changed`);
      }
    }
    return {
      datasetFile: file,
      todoFile,
      edits,
      jobs,
      diff: unifiedDiff(before, editor.text, relative(root, file)) + unifiedDiff(todoBefore, todo, relative(root, todoFile)),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// cng doctor

export function renderFindings(dataset: string, findings: Finding[]): string {
  if (!findings.length) return `${dataset}: nothing to fix.\n`;
  const out: string[] = [];
  for (const f of findings) {
    out.push(`• ${f.sentence}`);
    if (f.warning) out.push(`  warning: ${f.warning}`);
    if (f.edits?.length) for (const e of f.edits) out.push(`  change: ${e.path.join('.')}${e.value === undefined ? ' (remove)' : `: ${e.value}`}`);
    if (f.log?.lines.length) out.push(`  last log lines of ${f.log.pod}:`, ...f.log.lines.map((l) => `    | ${l}`));
  }
  const applicable = findings.some((f) => f.edits?.length);
  if (applicable) out.push('', `Run 'cng doctor ${dataset} --apply' to write these changes into the dataset file and todo.md.`);
  return out.join('\n') + '\n';
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: "explain a dataset's failures on the cluster and the change that fixes each (--apply writes it)",
  help: `Usage: cng doctor <dataset> [--apply] [--plan FILE]... [--json] [--namespace NS] [--context CTX]

Reads the same state as 'cng status' and explains each problem in one sentence with the
concrete change:
  - OOM-killed work units: the stage's next memory step (4Gi → 8Gi → 16Gi; capped, with a
    warning, then more work units: hex.featuresPerUnit for hex, repartition.units for
    repartition, whose pods each hold one group of h0 cells), and a retry of only the failed
    units (hex);
  - preempted pods: nothing to do (they are re-run; counted);
  - quota exhausted: a lower maxPods (or hex.parallelism), applied in place;
  - other failures: the last 20 log lines of the failed pod, recognising S3 access denied
    (the 'aws' secret) and missing inputs; a retry of the failed hex units;
  - image pull errors, unschedulable pods, Flux stages waiting on an upstream stage.
A failed Job stays failed: the fix is a change in git. --apply writes the changes into
datasets/<file>.ts (e.g. layers.fee.hex.retry.indexes, layers.fee.resources.hex.memory)
and a "doctor: …" entry under '### <dataset> — run <n>' in todo.md, checks that the
edited file still synthesizes, and shows the diff; then run cng synth, commit and open
a pull request.

Options:
  --apply            write the changes (dataset file and todo.md)
  --plan FILE        a layer's hex-plan.json (copied from S3): per-unit work estimates
                     inform the OOM proposal; may be repeated
  --json             machine-readable findings
  --namespace NS     namespace (default: the cluster profile's, biodiversity)
  --context CTX      kubeconfig context (default: the current one)
  -h, --help         show this help

Exit status: 0 the cluster was read (whatever it found), 1 API error or a failed edit,
2 usage error.

Examples:
  cng doctor padus-4-1
  cng doctor padus-4-1 --apply
  cng doctor padus-4-1 --plan hex-plan.json`,
  options: { ...CLUSTER_OPTIONS, apply: { type: 'boolean' }, json: { type: 'boolean' }, plan: { type: 'string', multiple: true } },
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one dataset, got ${positionals.join(' ')}` : 'which dataset? e.g. cng doctor padus-4-1');
    const dataset = positionals[0];
    const plans = ((values.plan as string[] | undefined) ?? []).map((f) => {
      try {
        const p = JSON.parse(readFileSync(f, 'utf8')) as HexPlanFile;
        if (typeof p.layer !== 'string' || !Array.isArray(p.workUnits)) throw new Error('not a hex plan (expects layer and workUnits)');
        return p;
      } catch (err) {
        throw new CommandError(`--plan ${f}: ${(err as Error).message}`);
      }
    });
    const reader = await connectWithOptions(values);
    const state = await collectStatus(reader, { dataset });
    const findings = await diagnose(state, dataset, { plans, podLog: (pod) => reader.podLog(pod, 20) });
    const run = state.local.get(dataset)?.spec.run;
    let applied: ApplyResult | undefined;
    if (values.apply) {
      if (run === undefined) throw new CommandError(`dataset ${dataset} is not in this checkout's datasets/; nothing to apply`);
      applied = applyFindings(ROOT, dataset, run, findings);
    }
    if (values.json) {
      process.stdout.write(JSON.stringify({ dataset, namespace: reader.namespace, findings, ...(values.apply ? { applied: applied ?? null } : {}), warnings: state.report.warnings }, null, 2) + '\n');
      return EXIT.ok;
    }
    process.stdout.write(renderFindings(dataset, findings).replace(/\n\nRun 'cng doctor .*--apply'.*\n$/, values.apply ? '\n' : '$&'));
    for (const w of state.report.warnings) process.stdout.write(`warning: ${w}\n`);
    if (values.apply) {
      if (!applied) process.stdout.write('\nNothing to apply.\n');
      else {
        const rel = (p: string) => relative(ROOT, p);
        process.stdout.write(
          `\nWrote ${rel(applied.datasetFile)} and ${rel(applied.todoFile)} (the edited file synthesizes):\n\n${applied.diff}\n` +
            (applied.jobs.length
              ? `Jobs of the changed stages after 'cng synth':\n${applied.jobs.map((j) => `  ${j.stageId}: ${j.name} — ${j.completions} completions${j.indexList ? `, work units ${j.indexList}` : ''}${j.memory ? `, memory ${j.memory}` : ''}, parallelism ${j.parallelism}`).join('\n')}\n\n`
              : '') +
            `Next: npx cng synth && npx cng validate && npx cng diff, then commit ${rel(applied.datasetFile)}, todo.md and dist/ and open a pull request.\n`,
        );
      }
    }
    return EXIT.ok;
  },
};
