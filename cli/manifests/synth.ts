import { join, resolve } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1';
import { Kustomization } from '@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1';
import { GitRepository } from '@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1';
import { ServiceAccount } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import {
  checkManifests, ClusterProfile, compareFiles, formatViolation, parseManifests, PolicyError, readDist,
  renderManifests, synthesize, tenantProblems, writeDist, type Violation,
} from '../../constructs/index.ts';
import { WORKER_IMAGE_SOURCES, workerImage, workerImageFiles, workerImageTag } from '../../constructs/worker-image.ts';
import { datasets } from '../../datasets/index.ts';
import { CommandError, EXIT } from '../../worker/core/errors.ts';
import { str, type Command } from '../../worker/core/command.ts';

export const synthCommand: Command = {
  name: 'synth',
  summary: 'synthesize every dataset into Kubernetes and Flux manifests in dist/',
  help: `Usage: cng synth [--out DIR]

Builds the cdk8s constructs of every dataset in datasets/ and writes the manifests
Flux applies: dist/flux/<dataset>.yaml (one Flux Kustomization per stage, ordered with
dependsOn), dist/<dataset>/<stage>/manifest.yaml (the stage's Jobs) and
dist/armada/<dataset>-<stage>.yaml (Armada job sets, when a dataset asks for them).
Every cluster policy rule is checked first; on a violation nothing is written and each
violation is printed with its dataset, object and rule. Output is deterministic.

Options:
  --out DIR    where to write (default: dist). The directory is replaced.
  -h, --help   show this help

Exit status: 0 written, 1 policy violation or invalid dataset file, 2 usage error.

Examples:
  cng synth
  cng synth --out /tmp/dist-preview`,
  options: { out: { type: 'string' } },
  async run({ values }) {
    const out = resolve(str(values.out) ?? 'dist');
    const { manifests, notes } = synthesizeOrExplain();
    const files = renderManifests(manifests);
    writeDist(files, out);
    process.stdout.write(`cng synth: wrote ${files.size} files to ${out}\n${notes.map((n) => `note: ${n}\n`).join('')}`);
    return EXIT.ok;
  },
};

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check dist/ against the Kubernetes and Flux schemas, the cluster policy, and a fresh synth',
  help: `Usage: cng validate [--dist DIR] [--no-drift]

Reads every manifest under dist/ and checks, in order:
  1. schemas: each Job against the Kubernetes batch/v1 schema, each Kustomization and
     GitRepository against the Flux schemas (offline, kubernetes-models);
  2. policy: namespace, GPU-avoiding affinity, priority class, restartPolicy Never,
     requests == limits, credentials only from the S3 secret, internal S3 endpoint,
     Indexed Jobs of at most 200 completions with backoffLimitPerIndex and preemption
     ignored, no ttlSecondsAfterFinished, pinned image, DNS-label names, and the pod
     budget over every set of stages Flux may run at once;
  3. drift: dist/ must equal what 'cng synth' produces from the committed sources
     (the files that differ are named).
The flux/ bootstrap directory is schema-checked too, and its tenant identity: the
ServiceAccount Flux impersonates (the profile's fluxServiceAccount) exists with a
namespaced Role for the stage Jobs and Kustomizations, nothing cluster-wide, and every
Kustomization (bootstrap and dist/flux/) sets serviceAccountName to it.

Options:
  --dist DIR    manifests to check (default: dist)
  --flux DIR    Flux bootstrap to schema-check (default: flux)
  --no-drift    skip the comparison with a fresh synth
  -h, --help    show this help

Exit status: 0 valid, 1 invalid (every problem is listed), 2 usage error.

Examples:
  cng validate
  cng validate --dist /tmp/dist-preview --no-drift`,
  options: { dist: { type: 'string' }, flux: { type: 'string' }, 'no-drift': { type: 'boolean' } },
  async run({ values }) {
    const dist = resolve(str(values.dist) ?? 'dist');
    const problems = [...validateDist(dist, { drift: !values['no-drift'] }), ...validateFluxBootstrap(resolve(str(values.flux) ?? 'flux'))];
    if (problems.length) {
      process.stderr.write(`cng validate: ${problems.length} problem(s) in ${dist}:\n${problems.join('\n')}\n`);
      return EXIT.failure;
    }
    process.stdout.write(`cng validate: ${dist} is valid (schemas, policy${values['no-drift'] ? '' : ', no drift'})\n`);
    return EXIT.ok;
  },
};

export const imageTagCommand: Command = {
  name: 'image-tag',
  summary: 'print the worker image reference dist/ uses (a digest of the worker\'s files)',
  help: `Usage: cng image-tag [--tag] [--files]

Prints the worker image reference every synthesized Job runs, e.g.
ghcr.io/boettiger-lab/cng-worker:src-0123456789ab. The tag is a digest of the files the
image is built from: ${WORKER_IMAGE_SOURCES.join(', ')}
(constructs/worker-image.ts). The image workflow tags what it builds with the same digest,
so a changed worker means a new tag, new Job names and new Jobs (docs/runbook.md, "A new worker").
Without anything installed: node constructs/worker-image.ts [--tag] (Node >= 22.18).

Options:
  --tag        print only the tag (src-<12 hex digits>)
  --files      list the files the digest covers instead
  -h, --help   show this help

Examples:
  cng image-tag
  docker build -f worker/Dockerfile -t "$(npx cng image-tag)" .`,
  options: { tag: { type: 'boolean' }, files: { type: 'boolean' } },
  async run({ values }) {
    const out = values.files ? workerImageFiles().join('\n') : values.tag ? workerImageTag() : workerImage();
    process.stdout.write(`${out}\n`);
    return EXIT.ok;
  },
};

/** Synthesizes datasets/, turning policy and spec errors into one readable CommandError. */
function synthesizeOrExplain() {
  try {
    return synthesize(datasets);
  } catch (err) {
    if (err instanceof PolicyError) throw new CommandError(err.message);
    if (err instanceof Error && /^dataset /.test(err.message)) throw new CommandError(err.message);
    throw err;
  }
}

/** Every problem with a dist/ directory, one line (or block) each; empty when valid. */
export function validateDist(dist: string, opts: { drift: boolean; profile?: ClusterProfile } = { drift: true }): string[] {
  const profile = opts.profile ?? ClusterProfile.NRP;
  const files = readDist(dist);
  if (files.size === 0) return [`  ${dist} holds no manifests; run 'cng synth'`];
  const problems: string[] = [];
  let manifests;
  try {
    manifests = parseManifests(files);
  } catch (err) {
    return [`  ${(err as Error).message}`];
  }
  for (const [path, objects] of manifests) {
    if (path.startsWith('armada/')) {
      for (const o of objects) problems.push(...checkArmadaShape(path, o));
      continue;
    }
    for (const o of objects) {
      const err = schemaError(o);
      if (err) problems.push(`  dist/${path}: ${o.kind ?? '?'}/${o.metadata?.name ?? '?'}: [schema] ${err}`);
    }
  }
  problems.push(...checkManifests(manifests, profile).map((v: Violation) => formatViolation(v)));
  if (opts.drift) {
    let expected: Map<string, string> | undefined;
    try {
      expected = renderManifests(synthesize(datasets, profile).manifests);
    } catch (err) {
      problems.push(`  [drift] a fresh synth fails: ${(err as Error).message}`);
    }
    if (expected) {
      const d = compareFiles(expected, files);
      const list = (label: string, xs: string[]) => xs.map((p) => `  [drift] dist/${p}: ${label}`);
      problems.push(
        ...list('missing (a fresh synth writes it)', d.added),
        ...list('not produced by a fresh synth (stale)', d.removed),
        ...list('differs from a fresh synth', d.changed),
      );
      if (d.added.length + d.removed.length + d.changed.length) problems.push("  [drift] run 'cng synth' and commit dist/");
    }
  }
  return problems;
}

/**
 * Schema check of the Flux bootstrap (GitRepository, root Kustomization, the tenant
 * ServiceAccount, Role and RoleBinding; kustomize files skipped) and its tenant identity against
 * the profile (constructs/policy.ts tenantProblems).
 */
export function validateFluxBootstrap(dir: string, profile: ClusterProfile = ClusterProfile.NRP): string[] {
  const problems: string[] = [];
  const all: Record<string, any>[] = [];
  for (const [path, objects] of parseManifests(readDist(dir)))
    for (const o of objects) {
      if (o.apiVersion?.startsWith('kustomize.config.k8s.io/')) continue;
      all.push(o);
      const err = schemaError(o);
      if (err) problems.push(`  ${join(dir, path)}: ${o.kind ?? '?'}/${o.metadata?.name ?? '?'}: [schema] ${err}`);
    }
  if (all.length) problems.push(...tenantProblems(all, profile).map((p) => `  ${dir}: [tenant] ${p}`));
  return problems;
}

/** The kubernetes-models class of each `<apiVersion>/<kind>` that dist/ and flux/ may hold. */
const SCHEMAS: Record<string, unknown> = {
  'batch/v1/Job': Job,
  'kustomize.toolkit.fluxcd.io/v1/Kustomization': Kustomization,
  'source.toolkit.fluxcd.io/v1/GitRepository': GitRepository,
  'v1/ServiceAccount': ServiceAccount,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
};

/** Schema check of one object with kubernetes-models; returns the first message or undefined. */
export function schemaError(o: Record<string, any>): string | undefined {
  const model = SCHEMAS[`${o.apiVersion}/${o.kind}`];
  if (!model) return `no schema for ${o.apiVersion}/${o.kind}`;
  try {
    new (model as any)(o).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/\s+/g, ' ').slice(0, 500);
  }
}

/** The Armada job-set file format: {queue, jobSetId, jobs: [{priority, namespace, priorityClassName, podSpec}]}. */
function checkArmadaShape(path: string, o: Record<string, any>): string[] {
  const at = `  dist/${path}: [armada]`;
  const out: string[] = [];
  if (typeof o.queue !== 'string' || !o.queue) out.push(`${at} queue must be a non-empty string`);
  if (typeof o.jobSetId !== 'string' || !o.jobSetId) out.push(`${at} jobSetId must be a non-empty string`);
  if (!Array.isArray(o.jobs) || o.jobs.length === 0) out.push(`${at} jobs must be a non-empty list`);
  for (const [i, j] of (o.jobs ?? []).entries()) {
    if (typeof j.priority !== 'number') out.push(`${at} jobs[${i}].priority must be a number`);
    if (typeof j.namespace !== 'string') out.push(`${at} jobs[${i}].namespace must be a string`);
    if (!j.podSpec?.containers?.length) out.push(`${at} jobs[${i}].podSpec must have containers`);
  }
  return out;
}
