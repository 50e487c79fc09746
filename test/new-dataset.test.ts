/**
 * docs/datasets.md's steps for a new dataset, walked in order in a copy of the repository with the
 * two files the page shows (its dataset file and its minimal prose, taken from the page itself) on
 * a small GeoPackage with the layer and fields the page names: inspect, dataset file, synth and
 * validate, a local run, the brief (the pipeline's own columns described, the attributes missing),
 * the prose and the re-synth that adds the docs stage, the schema snapshot and `cng docs --check`
 * (failing before it exists), the second run that writes the README, `cng sql`, todo.md.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import gdal from 'gdal-async';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeVectorDataset } from './fixtures.ts';
import { cng, repoCopy, ROOT, words } from './helpers.ts';

const md = readFileSync(join(ROOT, 'docs/datasets.md'), 'utf8');
/** The page's files, by the path its `docs-test: new-dataset <path>` marker gives. */
const files = new Map([...md.matchAll(/<!-- docs-test: new-dataset (\S+) -->\n```ts\n([\s\S]*?)```/g)].map((m) => [m[1], m[2]]));
/** The page's `npx cng …` lines of the step headed `## <n>.`, as argument lists. */
const stepCommands = (n: number) => {
  const step = md.slice(md.indexOf(`## ${n}. `), md.indexOf(`## ${n + 1}. `) > 0 ? md.indexOf(`## ${n + 1}. `) : undefined);
  return [...step.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((b) => b[1].split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').replace(/\s*>\s*\S+$/, '').trim())
    .filter((l) => l.startsWith('npx cng '))
    .map((l) => words(l).slice(2));
};

let repo: string;
let data: string;
/** A documented command in the copy, with the local runner's data directory where it takes one. */
const run = (args: string[]) => {
  const takesDataDir = ['run', 'sql'].includes(args[0]) || (args[0] === 'docs' && args.includes('--brief'));
  return cng(takesDataDir ? [...args, '--data-dir', data] : args, { cwd: repo });
};
const ok = (r: ReturnType<typeof cng>, what: string) => expect(r.code, `${what}\n${r.stdout}\n${r.stderr}`).toBe(0);

beforeAll(async () => {
  repo = repoCopy();
  copyFileSync(join(ROOT, 'todo.md'), join(repo, 'todo.md'));
  data = mkdtempSync(join(tmpdir(), 'cng-new-dataset-'));
  const source = join(data, 'store/public-parks/raw/parks-2024.gpkg');
  mkdirSync(join(data, 'store/public-parks/raw'), { recursive: true });
  const square = (x: number, y: number) => `MULTIPOLYGON(((${x} ${y},${x + 0.01} ${y},${x + 0.01} ${y + 0.01},${x} ${y + 0.01},${x} ${y})))`;
  await makeVectorDataset(source, 'GPKG', [
    {
      name: 'Parks',
      fields: [['name', gdal.OFTString], ['status', gdal.OFTString], ['acres', gdal.OFTReal]],
      rows: [
        { name: 'Oak Park', status: '1', acres: 610.5, wkt: square(-122.3, 37.8) },
        { name: 'Bay Park', status: '2', acres: 12, wkt: square(-122.2, 37.7) },
        { name: 'Hill Park', status: '1', acres: 48.25, wkt: square(-122.1, 37.9) },
      ],
    },
  ]);
});

afterAll(() => {
  rmSync(repo, { recursive: true, force: true });
  rmSync(data, { recursive: true, force: true });
});

describe('docs/datasets.md: a new dataset, step by step', () => {
  it('shows the dataset file and a complete minimal prose file', () => {
    expect([...files.keys()]).toEqual(['datasets/parks-2024.ts', 'datasets/parks-2024.prose.ts']);
  });

  it('walks every step in order on a copy of the repository', () => {
    // 1. The source has the layer and fields the page's example declares.
    const inspected = JSON.parse(cng(['inspect', join(data, 'store/public-parks/raw/parks-2024.gpkg'), '--json']).stdout);
    const layer = inspected.layers.find((l: any) => l.name === 'Parks');
    expect(layer.fields.map((f: any) => f.name)).toEqual(['name', 'status', 'acres']);

    // 2. The dataset file without the prose lines, listed in datasets/index.ts.
    const datasetFile = files.get('datasets/parks-2024.ts')!;
    const withoutProse = datasetFile.split('\n').filter((l) => !l.includes('// step 5')).join('\n');
    writeFileSync(join(repo, 'datasets/parks-2024.ts'), withoutProse);
    const index = readFileSync(join(repo, 'datasets/index.ts'), 'utf8');
    writeFileSync(
      join(repo, 'datasets/index.ts'),
      `import { parks2024 } from './parks-2024.ts';\n${index.replace(/export const datasets: DatasetSpec\[\] = \[([^\]]*?),?\s*\];/, 'export const datasets: DatasetSpec[] = [$1, parks2024];')}`,
    );

    // 3. synth and validate: the stages, no docs stage yet.
    for (const args of stepCommands(3)) ok(run(args), args.join(' '));
    expect(existsSync(join(repo, 'dist/parks-2024/parks-convert/manifest.yaml'))).toBe(true);
    expect(existsSync(join(repo, 'dist/parks-2024/docs'))).toBe(false);
    // Without prose and schema snapshot, CI's check fails and names the snapshot.
    const early = run(['docs', '--check']);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/parks-2024: .*\n.*schema snapshot: missing: run the pipeline \(cng run parks-2024\).*→ datasets\/parks-2024\.schema\.json/);

    // 4. The local run (the `cp` line is the source placed above).
    const [firstRun] = stepCommands(4);
    expect(firstRun).toEqual(['run', 'parks-2024']);
    ok(run(firstRun), 'cng run');
    expect(existsSync(join(data, 'store/public-parks/parks-2024/parks.parquet'))).toBe(true);

    // 5. The brief: the pipeline's own columns are described, the attributes are missing.
    const [briefCmd, synthAgain] = stepCommands(5);
    const brief = run(briefCmd);
    ok(brief, 'cng docs --brief');
    for (const col of ['_cng_fid', 'geometry', 'bbox', 'h10', 'h9', 'h8', 'h0']) expect(brief.stdout).toMatch(new RegExp(`^\\| \`${col}\` \\| [^|]+ \\| pipeline \\|`, 'm'));
    for (const col of ['name', 'status', 'acres']) {
      expect(brief.stdout).toMatch(new RegExp(`^\\| \`${col}\` \\| [^|]+ \\| \\*\\*missing\\*\\* \\|`, 'm'));
      expect(brief.stdout).toContain(`→ \`columns.${col} or layers.parks.columns.${col}\``);
    }
    expect(brief.stdout).not.toMatch(/column (_cng_fid|geometry|bbox|h\d+):/);
    // The prose, the dataset file's prose lines, and the re-synth that adds the docs stage.
    writeFileSync(join(repo, 'datasets/parks-2024.prose.ts'), files.get('datasets/parks-2024.prose.ts')!);
    writeFileSync(join(repo, 'datasets/parks-2024.ts'), datasetFile);
    expect(synthAgain).toEqual(['synth']);
    ok(run(synthAgain), 'cng synth with prose');
    expect(existsSync(join(repo, 'dist/parks-2024/docs/manifest.yaml'))).toBe(true);

    // 6. The schema snapshot, then CI's check passes.
    const [writeSchema, check] = stepCommands(6);
    const w = run(writeSchema);
    ok(w, 'cng docs --brief --write-schema');
    expect(w.stdout).toContain('None: every published column is described.');
    const snapshot = JSON.parse(readFileSync(join(repo, 'datasets/parks-2024.schema.json'), 'utf8'));
    expect(snapshot.layers.parks.geoparquet.map((c: any) => c.name)).toEqual(['_cng_fid', 'name', 'status', 'acres', 'geometry', 'bbox']);
    const checked = run(check);
    ok(checked, 'cng docs --check');
    expect(checked.stdout).toContain('cng docs --check: parks-2024: every published column is described');

    // 7. The second run adds the README; the page's query runs.
    const [second, sql] = stepCommands(7);
    const again = run(second);
    ok(again, 'cng run (second)');
    expect(again.stderr).toMatch(/^docs: done in/m);
    expect(again.stderr).toMatch(/^parks-convert: complete, skipped/m);
    expect(readFileSync(join(data, 'store/public-parks/README.md'), 'utf8')).toMatch(/^# City parks 2024/);
    const q = run([...sql, '--format', 'json']);
    ok(q, 'cng sql');
    expect(JSON.parse(q.stdout).sort((a: any, b: any) => a.status.localeCompare(b.status))).toEqual([
      { status: '1', parks: 2, acres: 658.75 },
      { status: '2', parks: 1, acres: 12 },
    ]);

    // 8. The todo.md entry; CI's checks pass.
    const todo = readFileSync(join(repo, 'todo.md'), 'utf8').replace('## Runs\n\n', '## Runs\n\n### parks-2024 — run 1\n- First run.\n\n');
    writeFileSync(join(repo, 'todo.md'), todo);
    const [diff, todoCheck] = stepCommands(8);
    expect(diff).toEqual(['diff']);
    ok(run(todoCheck), 'cng todo check');
    ok(run(['validate']), 'cng validate');
  }, 600_000);
});
