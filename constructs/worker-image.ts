/**
 * The worker image's name follows what the worker is: its tag is a content digest of the files the
 * image is built from (WORKER_IMAGE_SOURCES, exactly what worker/Dockerfile copies), so the
 * manifests change — and `cng validate`'s drift check fails until dist/ is re-synthesized —
 * whenever the worker does. The image workflow tags what it builds with the same function
 * (`cng image-tag`, or `node constructs/worker-image.ts [--tag|--files]` where nothing is
 * installed: this module needs Node 22 and nothing else). The rule for what a new tag re-runs: docs/runbook.md.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the worker image is pushed and pulled. */
export const WORKER_IMAGE_REPOSITORY = 'ghcr.io/boettiger-lab/cng-worker';

/**
 * Every path the worker image is built from, relative to the repository root ('/' marks a
 * directory, taken whole): its sources, the lockfile and the Dockerfile with the install script
 * it runs. worker/Dockerfile copies exactly these (test/image.test.ts checks that, and that the
 * worker's imports stay inside them).
 */
export const WORKER_IMAGE_SOURCES = [
  'package.json',
  'package-lock.json',
  'scripts/setup.sh',
  'tsconfig.json',
  'bin/cng-worker.js',
  'constructs/prose.ts',
  'worker/',
] as const;

/** Left out of the digest inside those directories, as worker/Dockerfile's .dockerignore does. */
const IGNORED = /(^|\/)(node_modules|\.cache)(\/|$)|\.log$/;

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The files of WORKER_IMAGE_SOURCES under `root`, sorted, relative to `root`. */
export function workerImageFiles(root = REPO_ROOT): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    if (IGNORED.test(rel)) return;
    const abs = join(root, rel);
    const stat = statSync(abs, { throwIfNoEntry: false });
    if (!stat) throw new Error(`the worker image is built from ${rel}, which is missing under ${root} (constructs/worker-image.ts)`);
    if (stat.isDirectory()) for (const name of readdirSync(abs)) walk(`${rel}/${name}`);
    else out.push(rel);
  };
  for (const p of WORKER_IMAGE_SOURCES) walk(p.replace(/\/$/, ''));
  return out.sort();
}

/** sha256 over every worker file's path and content (hex). */
export function workerDigest(root = REPO_ROOT): string {
  const all = createHash('sha256');
  for (const rel of workerImageFiles(root)) {
    const file = createHash('sha256').update(readFileSync(join(root, rel))).digest('hex');
    all.update(`${rel}\0${file}\n`);
  }
  return all.digest('hex');
}

/** The image tag of the worker under `root`: `src-` and 12 hex digits of its digest. */
export function workerImageTag(root = REPO_ROOT): string {
  return `src-${workerDigest(root).slice(0, 12)}`;
}

/** The full image reference the manifests use, e.g. `ghcr.io/boettiger-lab/cng-worker:src-0123456789ab`. */
export function workerImage(root = REPO_ROOT): string {
  return `${WORKER_IMAGE_REPOSITORY}:${workerImageTag(root)}`;
}

// `node constructs/worker-image.ts [--tag|--files]`: what the image workflow runs before anything is installed.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const flag = process.argv[2];
  process.stdout.write(`${flag === '--files' ? workerImageFiles().join('\n') : flag === '--tag' ? workerImageTag() : workerImage()}\n`);
}
