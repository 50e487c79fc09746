import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DatasetSpec } from '../constructs/index.ts';

export const ROOT = resolve(import.meta.dirname, '..');

/** Runs the real CLI (`node bin/cng.js ...`) and returns exit code and output. */
export function cng(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [join(opts.cwd ?? ROOT, 'bin/cng.js'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of the repository's sources (node_modules linked) that a test may edit freely. */
export function repoCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cng-repo-'));
  for (const p of ['package.json', 'bin', 'cli', 'constructs', 'datasets', 'worker', 'main.ts', 'dist'])
    cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.email=test@example.org', '-c', 'user.name=test', ...args], { cwd, encoding: 'utf8' });
}

/** A small two-layer, one-table dataset for construct tests. */
export function smallSpec(over: Partial<DatasetSpec> = {}): DatasetSpec {
  return {
    name: 'demo-1',
    title: 'Demo',
    run: 1,
    source: 's3://public-demo/raw/demo.gdb',
    bucket: 'public-demo',
    prefix: 'demo-1',
    layers: {
      fee: { layer: 'Demo_Fee', features: 5_000 },
      marine: { layer: 'Demo_Marine', features: 300 },
    },
    tables: ['Public_Access'],
    ...over,
  };
}
