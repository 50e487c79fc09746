import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commands } from '../cli/cng.ts';
import { parseCommandArgs } from '../worker/core/command.ts';
import { workerStages } from '../worker/main.ts';
import { ROOT, words } from './helpers.ts';

/** Markdown files of the manual, the README and the other top-level docs. */
function markdownFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f));
  return [...docs, ...['README.md', 'AGENTS.md', 'todo.md', 'flux/README.md'].map((f) => join(ROOT, f))];
}

/** `cng …` / `cng-worker …` command lines inside code blocks (a trailing `# comment` removed). */
function commandLines(md: string): string[] {
  const out: string[] = [];
  for (const block of md.matchAll(/```[a-z]*\n([\s\S]*?)```/g))
    for (const raw of block[1].split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (/^(npx )?cng(-worker)? /.test(line) || /^(npx )?cng(-worker)?$/.test(line)) out.push(line);
    }
  return out;
}


function parseCng(line: string): void {
  const w = words(line).filter((x, i) => !(i === 0 && x === 'npx'));
  const [bin, ...rest] = w;
  if (bin === 'cng-worker') return parseWorker(rest);
  const [name, ...args] = rest;
  if (name === undefined || name === '--help') return;
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) throw new Error(`unknown command 'cng ${name}'`);
  if (cmd.name === 'worker') return parseWorker(args);
  parseCommandArgs(cmd, args);
}

function parseWorker(args: string[]): void {
  const [stage, ...rest] = args;
  if (stage === undefined || stage === '--help' || stage === '<stage>') return;
  const cmd = workerStages.find((c) => c.name === stage);
  if (!cmd) throw new Error(`unknown worker stage '${stage}'`);
  parseCommandArgs(cmd, rest);
}

describe('the manual', () => {
  const files = markdownFiles();

  it('shows only cng command lines the real CLI accepts', () => {
    let n = 0;
    for (const f of files)
      for (const line of commandLines(readFileSync(f, 'utf8'))) {
        n++;
        expect(() => parseCng(line), `${f}: ${line}`).not.toThrow();
      }
    expect(n).toBeGreaterThan(5);
  });

  it('rejects a command line with an unknown flag or command (the check can fail)', () => {
    expect(() => parseCng('npx cng synth --bogus')).toThrow(/bogus/);
    expect(() => parseCng('npx cng frobnicate')).toThrow(/unknown command/);
    expect(() => parseCng('npx cng worker hex --nope 1')).toThrow(/nope/);
  });

  it('has no broken relative links', () => {
    for (const f of files) {
      const md = readFileSync(f, 'utf8');
      for (const [, target] of md.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        expect(existsSync(resolve(dirname(f), target)), `${f} → ${target}`).toBe(true);
      }
    }
  });
});
