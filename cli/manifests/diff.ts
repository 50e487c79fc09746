/**
 * `cng diff`: what a change to dist/ will do on the cluster, written for a PR comment. Reads the
 * manifests of two revisions (a git revision with `git ls-tree`/`git cat-file`, or the working
 * tree), compares them (./compare.ts) and prints markdown (./diff-markdown.ts) or JSON.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { parseManifests, readDist, type Manifests } from '../../constructs/synth.ts';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { str, type Command } from '../../worker/core/command.ts';
import { diffManifests } from './compare.ts';
import { formatDiffMarkdown } from './diff-markdown.ts';

// ---------------------------------------------------------------------------------------------
// Reading revisions

function git(args: string[], cwd: string, input?: string): Buffer {
  return execFileSync('git', args, { cwd, input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

function gitError(err: unknown): string {
  const e = err as { stderr?: Buffer | string; message?: string; code?: string };
  if (e.code === 'ENOENT') return 'git is not installed or not on PATH';
  return String(e.stderr ?? e.message ?? err).trim().split('\n')[0];
}

/** `dir` as a path relative to `cwd` (git path specs are relative to the working directory). */
function gitDir(dir: string, cwd: string): string {
  const rel = (isAbsolute(dir) ? relative(cwd, dir) : dir).replace(/\\/g, '/').replace(/\/+$/, '');
  return rel === '' ? '.' : rel;
}

/**
 * The manifests under `dir` (e.g. `dist`) at git revision `ref`, read with `git ls-tree` and
 * `git cat-file` from the repository containing `cwd`. Paths are relative to `dir`.
 *
 * @throws CommandError when `cwd` is not in a git repository or `ref` names no commit.
 */
export function readRevisionManifests(ref: string, dir = 'dist', cwd = process.cwd()): Manifests {
  try {
    git(['rev-parse', '--git-dir'], cwd);
  } catch (err) {
    throw new CommandError(`not a git repository (${cwd}): ${gitError(err)}`);
  }
  let commit: string;
  try {
    commit = git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], cwd).toString().trim();
  } catch {
    throw new CommandError(`git revision '${ref}' not found (no such branch, tag or commit)`);
  }
  const d = gitDir(dir, cwd);
  let listing: string;
  try {
    listing = git(['ls-tree', '-r', '-z', commit, '--', `${d}/`], cwd).toString();
  } catch (err) {
    throw new CommandError(`cannot list ${d}/ at '${ref}': ${gitError(err)}`);
  }
  const entries = listing
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta, path] = line.split('\t');
      const [, type, oid] = meta.split(' ');
      return { type, oid, path: relative(d, path).replace(/\\/g, '/') };
    })
    .filter((e) => e.type === 'blob' && /\.ya?ml$/.test(e.path));
  const files = new Map<string, string>();
  if (entries.length) {
    let buf: Buffer;
    try {
      buf = git(['cat-file', '--batch'], cwd, entries.map((e) => e.oid).join('\n') + '\n');
    } catch (err) {
      throw new CommandError(`cannot read ${d}/ at '${ref}': ${gitError(err)}`);
    }
    let at = 0;
    for (const e of entries) {
      const nl = buf.indexOf(10, at);
      const header = buf.subarray(at, nl).toString();
      const size = Number(header.split(' ')[2]);
      if (!header.startsWith(e.oid) || !Number.isFinite(size)) throw new CommandError(`unexpected git cat-file output for ${e.path} at '${ref}': ${header}`);
      files.set(e.path, buf.subarray(nl + 1, nl + 1 + size).toString('utf8'));
      at = nl + 1 + size + 1;
    }
  }
  try {
    return parseManifests(new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  } catch (err) {
    throw new CommandError(`at '${ref}': ${(err as Error).message}`);
  }
}

/** The manifests in the working tree's `dir`. @throws CommandError when `dir` is missing or holds invalid YAML. */
export function readWorkingTreeManifests(dir = 'dist', cwd = process.cwd()): Manifests {
  const abs = isAbsolute(dir) ? dir : `${cwd}/${dir}`;
  if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new CommandError(`directory '${dir}' not found (run 'cng synth' first, or pass --dist)`);
  try {
    return parseManifests(readDist(abs));
  } catch (err) {
    throw new CommandError(`working tree: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Command

export const diffCommand: Command = {
  name: 'diff',
  summary: 'compare the manifests of two revisions (markdown for a PR comment)',
  help: `Usage: cng diff [--base <git-ref>] [--head <git-ref>] [--dist DIR] [--json]

Compares the synthesized manifests (dist/) of two revisions and reports what Flux will do:
stages (Kustomizations) added or removed; Jobs re-run, i.e. the same dataset/stage/part under a
new content-derived name, with the reason (run number bumped, the spec fields that changed, or an
upstream stage that changed); Jobs added or removed; Kustomization field changes (dependsOn,
timeout, suspend, path, ...); Armada job sets added, removed or changed. A Job whose name stayed
the same while its content changed is flagged with ⚠: Job specs are immutable, so Flux's apply
would fail.

The output is markdown for a pull-request comment. Its first line is the marker
'<!-- cng-manifest-diff -->' so CI can find and update an earlier comment. The exit status is 0
whether or not there are differences (it is a report) and 1 on errors (e.g. an unknown revision).

Options:
  --base <git-ref>  Revision to compare from. Default: HEAD
  --head <git-ref>  Revision to compare to. Default: the working tree's DIR, so 'cng diff' alone
                    shows the uncommitted changes of dist/
  --dist DIR        Directory of the manifests, relative to the current directory (inside the
                    git repository). Default: dist
  --json            Print the diff as a JSON object instead of markdown
  -h, --help        Show this help

Examples:
  cng synth && cng diff                       # what re-synthesizing changed, before committing
  cng diff --base origin/main                 # a PR branch (working tree) against main
  cng diff --base origin/main --head HEAD > comment.md
  cng diff --base HEAD~1 --head HEAD --json
`,
  options: {
    base: { type: 'string' },
    head: { type: 'string' },
    dist: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values }) {
    const base = str(values.base) ?? 'HEAD';
    const head = str(values.head);
    const dist = str(values.dist) ?? 'dist';
    for (const [flag, v] of [['--base', base], ['--head', head], ['--dist', dist]] as const)
      if (v !== undefined && v.trim() === '') throw new UsageError(`${flag} must not be empty`);
    const baseManifests = readRevisionManifests(base, dist);
    const headManifests = head === undefined ? readWorkingTreeManifests(dist) : readRevisionManifests(head, dist);
    const labels = { base, head: head ?? `working tree (${gitDir(dist, process.cwd())}/)` };
    if (baseManifests.size === 0 && headManifests.size === 0)
      throw new CommandError(`no manifests under ${gitDir(dist, process.cwd())}/ in '${labels.base}' or ${head ? `'${head}'` : 'the working tree'} (wrong --dist?)`);
    const diff = diffManifests(baseManifests, headManifests);
    if (values.json) process.stdout.write(JSON.stringify({ ...labels, ...diff }, null, 2) + '\n');
    else process.stdout.write(formatDiffMarkdown(diff, labels));
    return EXIT.ok;
  },
};
