/**
 * The layering of docs/architecture.md, checked on the real import graph: every import between
 * the project's own modules must point the allowed way, runtime imports form no cycle, and no
 * source file or function grows past the size a reader can hold.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.ts';

/** The layer a module belongs to, from its path. */
function layerOf(file: string): string {
  if (file === 'main.ts') return 'synth-entry';
  if (file === 'worker/main.ts') return 'worker-main';
  if (file === 'worker/stage.ts') return 'worker-stage';
  const m = /^(worker\/(core|geo|io|vector|raster|publish)|constructs|datasets|cli)\//.exec(file);
  if (!m) throw new Error(`${file} is in no layer: add it to docs/architecture.md and this test`);
  return m[2] ?? m[1];
}

const STAGE_FOLDERS = ['vector', 'raster', 'publish'];

/** Why an import from `from` to `to` is not allowed, or undefined when it is. */
function violation(from: string, to: string, typeOnly: boolean): string | undefined {
  const a = layerOf(from);
  const b = layerOf(to);
  if (a === b) return undefined;
  const allowed: Record<string, string[]> = {
    core: [],
    geo: ['core'],
    io: ['core', 'geo'],
    'worker-stage': ['core'],
    vector: ['core', 'geo', 'io', 'worker-stage'],
    raster: ['core', 'geo', 'io', 'worker-stage'],
    publish: ['core', 'geo', 'io', 'worker-stage'],
    'worker-main': ['core', 'worker-stage', ...STAGE_FOLDERS],
    constructs: ['core'],
    datasets: ['constructs'],
    'synth-entry': ['constructs', 'datasets'],
    cli: ['core', 'geo', 'io', 'worker-stage', ...STAGE_FOLDERS, 'constructs', 'datasets'],
  };
  if (allowed[a]?.includes(b)) return undefined;
  // Stage folders may share types (a manifest's shape), never code.
  if (typeOnly && STAGE_FOLDERS.includes(a) && STAGE_FOLDERS.includes(b)) return undefined;
  // The docs stage reads the docs contract (prose format and docs input), which is zod only.
  if (a === 'publish' && to === 'constructs/prose.ts') return undefined;
  // `cng worker` is the worker's own dispatcher.
  if (from === 'cli/cng.ts' && b === 'worker-main') return undefined;
  return `${a} must not import ${b}`;
}

function sourceFiles(): string[] {
  const out: string[] = ['main.ts'];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const rel = `${dir}/${name}`;
      if (statSync(join(ROOT, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.ts')) out.push(rel);
    }
  };
  for (const d of ['worker', 'cli', 'constructs', 'datasets']) walk(d);
  return out.sort();
}

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
  dynamic: boolean;
  line: number;
}

/** Every relative import of a module: static, re-export and dynamic `import()`. */
function importsOf(file: string): Edge[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const edges: Edge[] = [];
  const add = (spec: string, node: ts.Node, typeOnly: boolean, dynamic: boolean) => {
    if (!spec.startsWith('.')) return;
    const to = relative(ROOT, resolve(ROOT, dirname(file), spec));
    edges.push({ from: file, to, typeOnly, dynamic, line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly = Boolean(c?.isTypeOnly || (c && !c.name && named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier.text, n, typeOnly, false);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      add(n.moduleSpecifier.text, n, n.isTypeOnly, false);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && ts.isStringLiteral(n.arguments[0])) {
      add((n.arguments[0] as ts.StringLiteral).text, n, false, true);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return edges;
}

const files = sourceFiles();
const edges = files.flatMap(importsOf);

describe('architecture (docs/architecture.md)', () => {
  it('every module is in a layer and every import resolves to a project file', () => {
    const known = new Set(files);
    expect(edges.filter((e) => !known.has(e.to)).map((e) => `${e.from}:${e.line} → ${e.to}`)).toEqual([]);
  });

  it('imports point only the allowed way (core ← geo ← io ← stages ← main; constructs ← datasets; cli on top)', () => {
    const bad = edges.flatMap((e) => {
      const why = violation(e.from, e.to, e.typeOnly);
      return why ? [`${e.from}:${e.line} imports ${e.to}: ${why}`] : [];
    });
    expect(bad).toEqual([]);
  });

  it('nothing in worker/ or constructs/ imports cli/, and only cli/cng.ts imports worker/main.ts', () => {
    const bad = edges.filter(
      (e) => (e.to.startsWith('cli/') && !e.from.startsWith('cli/')) || (e.to === 'worker/main.ts' && e.from !== 'cli/cng.ts'),
    );
    expect(bad.map((e) => `${e.from}:${e.line} → ${e.to}`)).toEqual([]);
  });

  it('runtime imports form no cycle (type-only and lazy import() edges excluded)', () => {
    const next = new Map<string, string[]>();
    for (const e of edges) if (!e.typeOnly && !e.dynamic) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const t of next.get(f) ?? []) visit(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('no source file over 700 lines and no function over 120 lines', () => {
    const big: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const lines = text.split('\n').length;
      if (lines > 700) big.push(`${file}: ${lines} lines`);
      const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
      const visit = (n: ts.Node) => {
        if (ts.isFunctionLike(n) && 'body' in n && n.body) {
          const a = sf.getLineAndCharacterOfPosition(n.getStart()).line;
          const b = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
          if (b - a + 1 > 120) big.push(`${file}:${a + 1}: a function of ${b - a + 1} lines`);
        }
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
    expect(big).toEqual([]);
  });
});
