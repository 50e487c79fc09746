import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkTodo, parseTodo, todoCommand } from '../cli/manifests/docs.ts';
import { addTodoEntry } from '../cli/cluster/doctor.ts';
import { datasets } from '../datasets/index.ts';
import { ROOT, runCaptured, smallSpec } from './helpers.ts';

const specs = [smallSpec({ name: 'demo-1', run: 2 }), smallSpec({ name: 'other-1', run: 1 })];
const todo = (runs: string, backlog = '- anything goes here, e.g. ### not-a-dataset — run 9') =>
  `# Datasets needing a (re-)run\n\nIntro text.\n\n## Runs\n\n${runs}\n\n## Backlog\n\n${backlog}\n`;

const cngTodo = (args: string[]) => runCaptured(todoCommand, args);

afterEach(() => vi.restoreAllMocks());

describe('todo.md', () => {
  it("the repository's todo.md passes: every entry names a dataset file and its current run", async () => {
    const text = readFileSync(join(ROOT, 'todo.md'), 'utf8');
    const { entries, problems } = checkTodo(text, datasets);
    expect(problems).toEqual([]);
    // One first-run entry per dataset file of the catalogue (issue 15).
    expect(entries.map((e) => e.dataset).sort()).toEqual(datasets.map((d) => d.name).sort());
    expect(entries.every((e) => e.reasons.length > 0)).toBe(true);
    // The backlog records the lab's known problems by the names the lab uses.
    for (const s of ['10,000', 'census', 'Social Vulnerability', 'Overture', 'WDPA', 'UBIGINT', 'Designation', 'resolution 8', 'Ramsar', 'FishBase', 'Datacenters'])
      expect(text.replace(/\s+/g, ' ')).toContain(s);
    const r = await cngTodo(['check', '--file', join(ROOT, 'todo.md')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${datasets.length} run entries, each matching its dataset file \\(padus-4-1 run 1, cpad-2025b run 1, `));
  });

  it('parses entries with their reasons; the backlog is free text', () => {
    const { entries, problems } = parseTodo(todo('### demo-1 — run 2\n- bigger hex pods\n- new layer\n\n### other-1 - run 1\n- first run'));
    expect(problems).toEqual([]);
    expect(entries).toEqual([
      { line: 7, dataset: 'demo-1', run: 2, reasons: ['bigger hex pods', 'new layer'] },
      { line: 11, dataset: 'other-1', run: 1, reasons: ['first run'] },
    ]);
  });

  it('fails naming the entry when the dataset is unknown', () => {
    const { problems } = checkTodo(todo('### demo-1 — run 2\n- ok\n\n### wdpa-2024 — run 1\n- re-encode H3 as UBIGINT'), specs);
    expect(problems).toEqual([{ line: 10, message: expect.stringMatching(/^### wdpa-2024 — run 1: no dataset 'wdpa-2024' in datasets\/index\.ts \(known: demo-1, other-1\)$/) }]);
  });

  it('fails naming the entry when the run differs from the dataset file', () => {
    const ahead = checkTodo(todo('### demo-1 — run 3\n- re-run with the fix'), specs).problems;
    expect(ahead).toEqual([{ line: 7, message: '### demo-1 — run 3: the dataset file has run 2; bump run to 3 in the dataset file in the same PR' }]);
    const behind = checkTodo(todo('### demo-1 — run 1\n- old'), specs).problems;
    expect(behind[0].message).toMatch(/the dataset file has run 2; this run is done or superseded/);
  });

  it('rejects malformed headings, entries without a reason and repeated entries', () => {
    const { problems } = checkTodo(todo('### demo-1 run 2\n- x\n\n### other-1 — run 1\n\n### demo-1 — run 2\n- a\n### demo-1 — run 2\n- b'), specs);
    expect(problems.map((p) => p.message)).toEqual([
      "'### demo-1 run 2' is not '### <dataset> — run <n>' or '### <dataset> — <layer>.<stage> rerun <n>'",
      'a reason outside any "### <dataset> — run <n>" entry',
      expect.stringMatching(/other-1 — run 1 gives no reason/),
      expect.stringMatching(/demo-1 — run 2 repeats the entry of line 12/),
    ]);
    expect(parseTodo('# nothing').problems).toEqual([{ line: 1, message: "no '## Runs' section" }]);
  });

  it('accepts what `cng doctor --apply` writes', () => {
    const text = addTodoEntry(todo('### other-1 — run 1\n- first run'), 'demo-1', 2, ['doctor: fee-hex OOM-killed; give the stage 8Gi']);
    expect(checkTodo(text, specs).problems).toEqual([]);
    expect(parseTodo(text).entries.find((e) => e.dataset === 'demo-1')?.reasons).toEqual(['doctor: fee-hex OOM-killed; give the stage 8Gi']);
  });

  it('cng todo check exits 1 and names the line and entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cng-todo-'));
    const file = join(dir, 'todo.md');
    writeFileSync(file, todo('### padus-4-1 — run 7\n- typo in the run number'));
    const r = await cngTodo(['check', '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/1 problem\(s\):\n  line 7: ### padus-4-1 — run 7: the dataset file has run 1; bump run to 7/);
    expect((await cngTodo([])).code).toBe(2);
    expect((await cngTodo(['list'])).code).toBe(2);
  });
});
