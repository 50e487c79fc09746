/**
 * The worker image is what the worker is: its tag is a digest of exactly the files the Dockerfile
 * copies, the worker's imports stay inside those files and the production dependencies, a changed
 * worker makes `cng validate` fail until dist/ is re-synthesized, and CI tests on the image's base.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readDist } from '../constructs/index.ts';
import { WORKER_IMAGE_REPOSITORY, WORKER_IMAGE_SOURCES, workerImage, workerImageFiles, workerImageTag } from '../constructs/worker-image.ts';
import { cng, repoCopy, ROOT } from './helpers.ts';

const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');
const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; engines: { node: string } };
const dockerfile = read('worker/Dockerfile');
const workflow = (name: string) => parse(read(`.github/workflows/${name}`));

/** The runtime stage of worker/Dockerfile: what follows its last FROM. */
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

/** Module specifiers a file imports at run time (type-only imports are erased by tsx). */
function runtimeImports(file: string): string[] {
  const sf = ts.createSourceFile(file, read(file), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier) && !n.importClause?.isTypeOnly) {
      const named = n.importClause?.namedBindings;
      const allTypes = !n.importClause?.name && named && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      if (!allTypes) out.push(n.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier) && !n.isTypeOnly) {
      out.push(n.moduleSpecifier.text);
    } else if (ts.isCallExpression(n) && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      // import('x'), createRequire(import.meta.url)('x'), require.resolve('x/package.json')
      const callee = n.expression.getText(sf);
      if (n.expression.kind === ts.SyntaxKind.ImportKeyword || /^(require|require\.resolve|createRequire\(.*\))$/.test(callee)) out.push(n.arguments[0].text);
    } else if (ts.isNewExpression(n) && n.expression.getText(sf) === 'URL' && n.arguments?.[0] && ts.isStringLiteral(n.arguments[0])) {
      // new URL('./thread.ts', import.meta.url): a worker thread's script
      if (n.arguments[1]?.getText(sf) === 'import.meta.url') out.push(n.arguments[0].text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The package a bare specifier names (`@scope/name` or `name`). */
const packageOf = (spec: string) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');

describe('the worker image is built from WORKER_IMAGE_SOURCES', () => {
  it('the runtime stage of worker/Dockerfile copies exactly those paths', () => {
    const copied = [...runtimeStage.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => {
      const parts = m[1].trim().split(/\s+/);
      return parts.slice(0, -1);
    });
    const norm = (p: string) => p.replace(/\/$/, '');
    expect(new Set(copied.map(norm))).toEqual(new Set(WORKER_IMAGE_SOURCES.map(norm)));
  });

  it("the worker's run-time imports stay inside those files and the production dependencies", () => {
    const files = new Set(workerImageFiles());
    const seen = new Set<string>();
    const bare = new Set<string>();
    const queue = ['bin/cng-worker.js'];
    while (queue.length) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      expect(files, `${file} is loaded by the worker but not in the image`).toContain(file);
      if (!/\.(ts|js)$/.test(file)) continue;
      for (const spec of runtimeImports(file)) {
        if (spec.startsWith('.')) queue.push(relative(ROOT, resolve(ROOT, dirname(file), spec)));
        else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) bare.add(packageOf(spec));
      }
    }
    // The closure reaches every stage (worker/main.ts → the stage folders → geo/io/core).
    expect(seen).toContain('worker/geo/h3/thread.ts');
    expect(seen).toContain('constructs/prose.ts');
    const notProduction = [...bare].filter((p) => !(p in pkg.dependencies));
    expect(notProduction, 'imported by the worker but not in package.json dependencies').toEqual([]);
    expect([...bare]).toEqual(expect.arrayContaining(['gdal-async', '@duckdb/node-api', 'h3-js', 'tsx', '@aws-sdk/client-s3']));
    // The CLI-only and test packages stay out of the image (npm ci --omit=dev).
    for (const dev of ['typescript', 'vitest', 'playwright-core', 'maplibre-gl', '@kubernetes/client-node', 'cdk8s', 'kubernetes-models'])
      expect(pkg.devDependencies, dev).toHaveProperty([dev]);
  });

  it('the build stage installs production dependencies only and drops the bundled GDAL sources', () => {
    expect(dockerfile).toMatch(/CNG_SETUP_PRODUCTION=1 bash scripts\/setup\.sh/);
    expect(dockerfile).toMatch(/rm -rf \$g\/deps \$g\/build \$g\/src /);
    // Without its bundled data directories gdal-async needs these, in both stages.
    expect(dockerfile.match(/GDAL_DATA=\/usr\/share\/gdal/g)).toHaveLength(2);
    expect(dockerfile.match(/PROJ_LIB=\/usr\/share\/proj/g)).toHaveLength(2);
    expect(read('scripts/setup.sh')).toMatch(/--omit=dev/);
  });

  it('h3-js is pinned exactly (the worker reaches into its private build)', () => {
    expect(pkg.dependencies['h3-js']).toMatch(/^\d+\.\d+\.\d+$/);
    const lock = JSON.parse(read('package-lock.json'));
    expect(lock.packages['node_modules/h3-js'].version).toBe(pkg.dependencies['h3-js']);
  });
});

describe('the image tag is a digest of the worker', () => {
  const copies: string[] = [];
  afterAll(() => {
    for (const d of copies) rmSync(d, { recursive: true, force: true });
  });

  it('cng image-tag, the workflow (node constructs/worker-image.ts) and dist/ name the same image', () => {
    const ref = workerImage();
    expect(ref).toMatch(new RegExp(`^${WORKER_IMAGE_REPOSITORY}:src-[0-9a-f]{12}$`));
    expect(cng(['image-tag']).stdout.trim()).toBe(ref);
    expect(cng(['image-tag', '--tag']).stdout.trim()).toBe(workerImageTag());
    // What image.yml runs before anything is installed: Node 22 strips the types itself.
    const direct = spawnSync(process.execPath, [join(ROOT, 'constructs/worker-image.ts')], { encoding: 'utf8' });
    expect(direct.status, direct.stderr).toBe(0);
    expect(direct.stdout.trim()).toBe(ref);
    const images = new Set([...readDist(join(ROOT, 'dist'))].filter(([p]) => !p.startsWith('flux/')).flatMap(([, text]) => [...text.matchAll(/image: (\S+)/g)].map((m) => m[1])));
    expect(images).toEqual(new Set([ref]));
  });

  it('changes with a worker file, the lockfile or the Dockerfile, not with anything else', () => {
    const dir = repoCopy();
    copies.push(dir);
    const tag = () => workerImageTag(dir);
    const start = tag();
    expect(start).toBe(workerImageTag());
    writeFileSync(join(dir, 'README.md'), 'docs change\n');
    appendFileSync(join(dir, 'cli/cng.ts'), '\n// a CLI change\n');
    writeFileSync(join(dir, 'worker/scratch.log'), 'a log file\n');
    expect(tag()).toBe(start);
    const seen = new Set([start]);
    for (const file of ['worker/geo/h3/engine.ts', 'package-lock.json', 'worker/Dockerfile', 'constructs/prose.ts']) {
      appendFileSync(join(dir, file), '\n');
      const now = tag();
      expect(seen, file).not.toContain(now);
      seen.add(now);
    }
  });

  it('a changed worker fails `cng validate` (drift on every Job) until dist/ is re-synthesized', () => {
    const dir = repoCopy();
    copies.push(dir);
    const before = cng(['validate'], { cwd: dir });
    expect(before.code, before.stderr).toBe(0);
    appendFileSync(join(dir, 'worker/main.ts'), '\n// a worker change\n');
    const stale = cng(['validate'], { cwd: dir });
    expect(stale.code).toBe(1);
    const drift = stale.stderr.split('\n').filter((l) => l.includes('[drift] dist/') && l.endsWith('differs from a fresh synth'));
    const jobFiles = [...readDist(join(dir, 'dist')).keys()].filter((p) => /\/manifest\.yaml$/.test(p));
    expect(drift.length).toBeGreaterThanOrEqual(jobFiles.length);
    for (const f of jobFiles) expect(stale.stderr).toContain(`[drift] dist/${f}: differs from a fresh synth`);

    expect(cng(['synth'], { cwd: dir }).code).toBe(0);
    const after = cng(['validate'], { cwd: dir });
    expect(after.code, after.stderr).toBe(0);
    const images = new Set([...readDist(join(dir, 'dist'))].flatMap(([, text]) => [...text.matchAll(/image: (\S+)/g)].map((m) => m[1])));
    expect(images).toEqual(new Set([workerImage(dir)]));
    expect(workerImage(dir)).not.toBe(workerImage());
  });
});

describe('what CI runs is what the cluster runs', () => {
  const base = /^FROM node:(\d+)-(\w+)-slim/m.exec(dockerfile)!;

  it('the image, engines, @types/node and every workflow use the same Node major', () => {
    const major = base[1];
    expect(Number(major)).toBeGreaterThanOrEqual(22);
    expect(pkg.engines.node).toBe(`>=${major}`);
    expect(pkg.devDependencies['@types/node']).toMatch(new RegExp(`^\\^${major}\\.`));
    expect(read('scripts/setup.sh')).toMatch(new RegExp(`^NODE_VERSION=${major}\\.\\d+\\.\\d+$`, 'm'));
    for (const name of ['ci.yml', 'pr-diff.yml', 'image.yml']) {
      for (const job of Object.values(workflow(name).jobs) as any[]) {
        const setup = job.steps.filter((s: any) => String(s.uses ?? '').startsWith('actions/setup-node'));
        for (const s of setup) expect(String(s.with['node-version']), name).toBe(major);
        if (job.container) expect(job.container, name).toBe(`node:${major}-${base[2]}`);
      }
    }
  });

  it("CI's tests run in the image's base (same Debian, hence the same apt GDAL)", () => {
    const test = workflow('ci.yml').jobs.test;
    expect(test.container).toBe(`node:${base[1]}-${base[2]}`);
    expect(test.steps.map((s: any) => s.run).filter(Boolean)).toContain('bash .ci/run');
  });

  it('the image workflow tags with the same digest code, and runs whenever one of its files changes', () => {
    const wf = workflow('image.yml');
    const run = wf.jobs.image.steps.map((s: any) => s.run ?? '').join('\n');
    expect(run).toContain('node constructs/worker-image.ts');
    const paths: string[] = wf.on.push.paths;
    for (const src of WORKER_IMAGE_SOURCES) expect(paths, src).toContain(src.endsWith('/') ? `${src}**` : src);
    expect(paths).toContain('constructs/worker-image.ts');
  });
});
