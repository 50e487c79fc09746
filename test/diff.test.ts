import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ClusterProfile, parseManifests, renderManifests, synthesize, writeDist, type DatasetSpec, type Manifests } from '../constructs/index.ts';
import { WORKER_IMAGE_REPOSITORY, workerImage } from '../constructs/worker-image.ts';
import { diffManifests, type ManifestDiff } from '../cli/manifests/compare.ts';
import { readRevisionManifests } from '../cli/manifests/diff.ts';
import { DIFF_MARKER, formatDiffMarkdown } from '../cli/manifests/diff-markdown.ts';

const CNG = resolve(import.meta.dirname, '../bin/cng.js');

/** One layer (3 hex work units) and one table: setup-bucket, fee-{convert,hex,repartition,tiles,tiles-merge}, table-public-access. */
function spec(over: Partial<DatasetSpec> = {}): DatasetSpec {
  return {
    name: 'mini-1',
    title: 'Mini',
    run: 1,
    source: 's3://public-mini/raw/mini.gdb',
    bucket: 'public-mini',
    prefix: 'mini-1',
    layers: { fee: { layer: 'Mini_Fee', features: 5_000 } },
    tables: ['Public_Access'],
    ...over,
  };
}

const synth = (...specs: DatasetSpec[]): Manifests => synthesize(specs).manifests;
const jobs = (m: Manifests) => [...m.values()].flat().filter((o) => o.kind === 'Job');
const only = (d: ManifestDiff) => {
  expect(d.datasets).toHaveLength(1);
  return d.datasets[0];
};
const MEMORY = 'spec.template.spec.containers[0].resources.limits.memory';

describe('diffManifests', () => {
  it('a changed resource re-runs that stage with the field change, and the downstream stage because upstream changed', () => {
    const base = synth(spec());
    const head = synth(spec({ resources: { hex: { memory: '8Gi' } } }));
    const diff = diffManifests(base, head);
    const d = only(diff);
    expect(d.changedInPlace).toEqual([]);
    expect(d.jobsAdded).toEqual([]);
    expect(d.jobsRemoved).toEqual([]);
    expect(d.stagesAdded).toEqual([]);
    expect(d.kustomizationsChanged).toEqual([]);
    expect(d.jobsRerun.map((j) => j.stageId)).toEqual(['fee-hex', 'fee-publish', 'fee-repartition']);

    const [hex, publish, repartition] = d.jobsRerun;
    expect(publish.upstream).toEqual(['fee-repartition']);
    expect(hex.oldName).not.toBe(hex.newName);
    expect(hex.run).toBeUndefined();
    expect(hex.changes).toContainEqual({ path: MEMORY, old: '4Gi', new: '8Gi' });
    expect(hex.changes).toContainEqual({ path: 'spec.template.spec.containers[0].resources.requests.memory', old: '4Gi', new: '8Gi' });
    expect(hex.changes).toHaveLength(2);

    expect(repartition.changes).toEqual([]);
    expect(repartition.upstream).toEqual(['fee-hex']);
    expect(repartition.reason).toBe('upstream stage fee-hex changed');

    expect(diff.summary).toMatchObject({ datasetsChanged: 1, jobsRerun: 3, stagesAdded: 0, stagesRemoved: 0, changedInPlace: 0 });
    expect(diff.files).toEqual({ added: [], removed: [], modified: ['mini-1/fee-hex/manifest.yaml', 'mini-1/fee-publish/manifest.yaml', 'mini-1/fee-repartition/manifest.yaml'] });

    const md = formatDiffMarkdown(diff);
    expect(md.split('\n')[0]).toBe(DIFF_MARKER);
    expect(md).toContain('1 dataset changed: 3 Jobs re-run, 0 stages added, 0 removed');
    expect(md).toContain(`\`${MEMORY}\`: \`4Gi\` → \`8Gi\``);
    expect(md).toContain(`\`${hex.oldName}\` → \`${hex.newName}\``);
    expect(md).toContain('upstream stage `fee-hex` changed');
    expect(md).not.toContain('⚠');
    expect(md).not.toContain('Stages added');
  });

  it('pairs the Jobs of a multi-part stage by part', () => {
    const big = { fee: { layer: 'Mini_Fee', features: 500_000 } }; // 250 work units → 2 Jobs of ≤200
    const d = only(diffManifests(synth(spec({ layers: big })), synth(spec({ layers: big, resources: { hex: { memory: '8Gi' } } }))));
    const hex = d.jobsRerun.filter((j) => j.stageId === 'fee-hex');
    expect(hex.map((j) => j.part)).toEqual([0, 1]);
    for (const j of hex) {
      expect(j.newName).toMatch(new RegExp(`^mini-1-fee-hex-p${j.part}-r1-[0-9a-f]{8}$`));
      expect(j.changes).toContainEqual({ path: MEMORY, old: '4Gi', new: '8Gi' });
    }
    expect(d.jobsAdded).toEqual([]);
  });

  it('a stage split into more parts shows Jobs added and removed, not re-runs', () => {
    const d = only(diffManifests(synth(spec()), synth(spec({ layers: { fee: { layer: 'Mini_Fee', features: 500_000 } } }))));
    expect(d.jobsRemoved.filter((j) => j.stageId === 'fee-hex').map((j) => j.part)).toEqual([undefined]);
    expect(d.jobsAdded.filter((j) => j.stageId === 'fee-hex').map((j) => j.part)).toEqual([0, 1]);
    expect(d.jobsAdded.every((j) => !j.newStage)).toBe(true);
    // Downstream of the split stage: re-run because its upstream changed.
    expect(d.jobsRerun.find((j) => j.stageId === 'fee-repartition')?.upstream).toEqual(['fee-hex']);
  });

  it('a bumped run re-runs every Job, with the run as the reason', () => {
    const base = synth(spec());
    const diff = diffManifests(base, synth(spec({ run: 2 })));
    const d = only(diff);
    expect(d.jobsRerun).toHaveLength(jobs(base).length);
    expect(d.jobsRerun).toHaveLength(8);
    for (const j of d.jobsRerun) {
      expect(j.run).toEqual({ old: '1', new: '2' });
      // Every layer stage's command line names the run's work directory (`<name>/_work/run-<run>/`).
      expect(j.changes.map((c) => c.path)).toEqual(j.stageId.startsWith('fee-') ? ['spec.template.spec.containers[0].command'] : []);
      expect(j.upstream).toEqual([]);
      expect(j.reason).toMatch(/^run bumped 1 → 2($|; spec changed)/);
      expect(j.oldName).toMatch(/-r1-[0-9a-f]{8}$/);
      expect(j.newName).toMatch(/-r2-[0-9a-f]{8}$/);
    }
    expect(d.jobsAdded).toEqual([]);
    expect(d.jobsRemoved).toEqual([]);
    expect(d.kustomizationsChanged).toEqual([]);
    const md = formatDiffMarkdown(diff);
    expect(md).toContain('8 Jobs re-run');
    expect(md.match(/run bumped \(`cng\/run` 1 → 2\)/g)).toHaveLength(8);
  });

  it('a new worker re-runs every Job of every dataset that does not pin its worker, and the comment says so', () => {
    const oldImage = `${WORKER_IMAGE_REPOSITORY}:src-000000000000`;
    const pinned = spec({ name: 'mini-2', prefix: 'mini-2', worker: 'src-000000000000' });
    const base = synthesize([spec(), pinned], ClusterProfile.NRP.with({ image: oldImage })).manifests;
    // The current worker, and in the same change a field of one stage.
    const head = synth(spec({ resources: { hex: { memory: '8Gi' } } }), pinned);
    const diff = diffManifests(base, head);
    const d = only(diff); // mini-2 keeps the worker that made it: nothing of it changes
    expect(d.dataset).toBe('mini-1');
    expect(d.jobsRerun).toHaveLength(8);
    for (const j of d.jobsRerun) {
      expect(j.worker).toEqual({ old: oldImage, new: workerImage() });
      expect(j.reason).toMatch(/^the worker changed \(/);
    }
    // The image is reported as the worker, not as one of the changed fields.
    const hex = d.jobsRerun.find((j) => j.stageId === 'fee-hex')!;
    expect(hex.changes.map((c) => c.path).sort()).toEqual([MEMORY, MEMORY.replace('limits', 'requests')]);
    expect(d.jobsRerun.find((j) => j.stageId === 'fee-convert')!.changes).toEqual([]);
    expect(diff.summary.jobsRerunForWorker).toBe(8);

    const md = formatDiffMarkdown(diff);
    expect(md).toContain('1 dataset changed: 8 Jobs re-run (8 because the worker changed)');
    expect(md).toContain(`The worker changed: image \`${oldImage}\` → \`${workerImage()}\`. 8 Jobs re-run because the worker changed (\`mini-1\` 8)`);
    expect(md.match(/ — the worker changed/g)).toHaveLength(8);
    expect(md).not.toContain('mini-2');

    // Without a worker change there is no such note.
    expect(formatDiffMarkdown(diffManifests(synth(spec()), synth(spec({ run: 2 }))))).not.toContain('worker changed');
  });

  it("an added layer adds its six stages (Kustomizations and Jobs) and re-runs only setup-bucket (to publish the layer's keys)", () => {
    const base = synth(spec());
    const head = synth(spec({ layers: { fee: { layer: 'Mini_Fee', features: 5_000 }, marine: { layer: 'Mini_Marine', features: 300 } } }));
    const diff = diffManifests(base, head);
    const d = only(diff);
    const stages = ['marine-convert', 'marine-hex', 'marine-publish', 'marine-repartition', 'marine-tiles', 'marine-tiles-merge'];
    expect(d.stagesAdded.map((s) => s.stageId).sort()).toEqual(stages);
    expect(d.stagesAdded.find((s) => s.stageId === 'marine-hex')).toMatchObject({
      kustomization: 'mini-1-marine-hex',
      path: './dist/mini-1/marine-hex',
      kind: 'hex',
      layer: 'marine',
    });
    expect(d.jobsAdded.map((j) => j.stageId).sort()).toEqual(stages);
    expect(d.jobsAdded.every((j) => j.newStage)).toBe(true);
    // setup-bucket's --public list grows by the layer's keys; no other stage depends on that list.
    expect(d.jobsRerun.map((j) => [j.stageId, j.reason, j.upstream, j.changes.map((c) => c.path)])).toEqual([
      ['setup-bucket', 'spec changed (1 field)', [], ['spec.template.spec.containers[0].command']],
    ]);
    expect(String(d.jobsRerun[0].changes[0].new)).toContain('mini-1/marine.parquet');
    expect(d.jobsRemoved).toEqual([]);
    expect(d.stagesRemoved).toEqual([]);
    expect(d.changedInPlace).toEqual([]);
    expect(d.kustomizationsChanged).toEqual([]);
    expect(diff.files.added).toEqual(stages.map((s) => `mini-1/${s}/manifest.yaml`).sort());
    expect(diff.files.modified).toEqual(['flux/mini-1.yaml', 'mini-1/setup-bucket/manifest.yaml']);
    expect(diff.summary).toMatchObject({ jobsRerun: 1, stagesAdded: 6, jobsAdded: 0 });

    const md = formatDiffMarkdown(diff);
    expect(md).toContain('1 dataset changed: 1 Job re-run, 6 stages added, 0 removed');
    expect(md).toContain('- `marine-hex` → `./dist/mini-1/marine-hex`');
    expect(md).toContain('**Jobs re-run (1)**\n\n- `setup-bucket`: ');
    expect(md).not.toContain('**Jobs added');
  });

  it('a dataset file added or removed is a new or removed dataset: every stage listed, the dataset named as such', () => {
    const other = spec({ name: 'mini-2', prefix: 'mini-2' });
    const added = diffManifests(synth(spec()), synth(spec(), other));
    const d = only(added);
    expect([d.dataset, d.change, d.stagesAdded.length, d.jobsRerun.length]).toEqual(['mini-2', 'added', 8, 0]);
    expect(added.summary).toMatchObject({ datasetsChanged: 1, datasetsAdded: 1, datasetsRemoved: 0, stagesAdded: 8 });
    const md = formatDiffMarkdown(added);
    expect(md).toContain('1 dataset changed (1 new): 0 Jobs re-run, 8 stages added, 0 removed');
    expect(md).toContain('### `mini-2` — new dataset\n\n**Stages added (8)**');
    const removed = diffManifests(synth(spec(), other), synth(spec()));
    expect([only(removed).change, removed.summary.datasetsRemoved, only(removed).stagesRemoved.length]).toEqual(['removed', 1, 8]);
    expect(formatDiffMarkdown(removed)).toContain('### `mini-2` — dataset removed');
    expect(only(diffManifests(synth(spec()), synth(spec({ run: 2 })))).change).toBe('changed');
  });

  it('flags a Job edited in place (same name, different content)', () => {
    const base = synth(spec());
    const head: Manifests = structuredClone(base);
    const job = head.get('mini-1/fee-hex/manifest.yaml')![0];
    job.spec.template.spec.containers[0].resources.limits.memory = '8Gi';
    const diff = diffManifests(base, head);
    const d = only(diff);
    expect(d.jobsRerun).toEqual([]);
    expect(d.changedInPlace).toEqual([
      {
        dataset: 'mini-1',
        stageId: 'fee-hex',
        name: job.metadata.name,
        file: 'mini-1/fee-hex/manifest.yaml',
        changes: [{ path: MEMORY, old: '4Gi', new: '8Gi' }],
      },
    ]);
    expect(diff.summary.changedInPlace).toBe(1);
    const md = formatDiffMarkdown(diff);
    expect(md).toContain('⚠ 1 Job changed in place');
    expect(md).toContain('[!CAUTION]');
    expect(md).toContain(`- ⚠ \`fee-hex\` \`${job.metadata.name}\``);
    expect(md).toContain(`\`${MEMORY}\`: \`4Gi\` → \`8Gi\``);
  });

  it('identical inputs: no manifest changes', () => {
    const diff = diffManifests(synth(spec()), synth(spec()));
    expect(diff.changed).toBe(false);
    expect(diff.datasets).toEqual([]);
    expect(diff.files).toEqual({ added: [], removed: [], modified: [] });
    const md = formatDiffMarkdown(diff);
    expect(md.split('\n')[0]).toBe(DIFF_MARKER);
    expect(md).toContain('No manifest changes.');
    expect(md).not.toContain('<details>');
  });

  it('reports Kustomization field changes and removed stages', () => {
    const base = synth(spec());
    const head: Manifests = structuredClone(base);
    const flux = head.get('flux/mini-1.yaml')!;
    const hex = flux.find((k) => k.metadata.name === 'mini-1-fee-hex')!;
    hex.spec.timeout = '2m';
    hex.spec.dependsOn = [{ name: 'mini-1-setup-bucket' }, { name: 'mini-1-fee-convert' }];
    head.set('flux/mini-1.yaml', flux.filter((k) => k.metadata.name !== 'mini-1-table-public-access'));
    head.delete('mini-1/table-public-access/manifest.yaml');
    const diff = diffManifests(base, head);
    const d = only(diff);
    expect(d.kustomizationsChanged).toEqual([
      {
        dataset: 'mini-1',
        stageId: 'fee-hex',
        name: 'mini-1-fee-hex',
        file: 'flux/mini-1.yaml',
        changes: [
          { path: 'spec.dependsOn', old: ['mini-1-fee-convert'], new: ['mini-1-setup-bucket', 'mini-1-fee-convert'] },
          { path: 'spec.timeout', old: '1m', new: '2m' },
        ],
      },
    ]);
    expect(d.stagesRemoved.map((s) => s.stageId)).toEqual(['table-public-access']);
    expect(d.jobsRemoved).toMatchObject([{ stageId: 'table-public-access', stageRemoved: true }]);
    const md = formatDiffMarkdown(diff);
    expect(md).toContain('**Kustomizations changed (1)**');
    expect(md).toContain('`spec.timeout`: `1m` → `2m`');
    expect(md).toContain('**Stages removed (1)**');
    expect(md).toContain('D  mini-1/table-public-access/manifest.yaml');
  });

  it('moving a stage to Armada: the stage is removed, a job set added, downstream re-runs', () => {
    const diff = diffManifests(synth(spec()), synth(spec({ hex: { runner: 'armada' } })));
    const d = only(diff);
    expect(d.stagesRemoved.map((s) => s.stageId)).toEqual(['fee-hex']);
    expect(d.armadaAdded).toMatchObject([{ stageId: 'fee-hex', file: 'armada/mini-1-fee-hex.yaml', jobs: 3 }]);
    // repartition now waits (suspended) on the job set, which Flux's dependsOn cannot name.
    expect(d.jobsRerun.map((j) => [j.stageId, j.upstream])).toEqual([['fee-publish', ['fee-repartition']], ['fee-repartition', ['fee-hex']]]);
    expect(d.kustomizationsChanged.map((k) => k.changes.map((c) => c.path))).toEqual([['spec.dependsOn', 'spec.suspend']]);
    const md = formatDiffMarkdown(diff);
    expect(md).toContain('now an Armada job set');
    expect(md).toContain('- added `fee-hex`: job set `mini-1-fee-hex-r1-');
  });

  it('shows at most 10 field changes per Job', () => {
    const base = synth(spec());
    const head: Manifests = structuredClone(base);
    const job = head.get('mini-1/setup-bucket/manifest.yaml')![0];
    for (let i = 0; i < 13; i++) job.metadata.labels[`extra/l${String(i).padStart(2, '0')}`] = 'x';
    const md = formatDiffMarkdown(diffManifests(base, head));
    expect(md).toContain('`metadata.labels["extra/l09"]`: (none) → `x`');
    expect(md).not.toContain('extra/l10');
    expect(md).toContain('- … and 3 more');
  });

  it('shows a changed command line around the tokens that differ', () => {
    const base = synth(spec());
    const head = synth(spec({ layers: { fee: { layer: 'Mini_Fee', features: 5_000, pmtiles: { maxZoom: 12 } } } }));
    const diff = diffManifests(base, head);
    const pm = only(diff).jobsRerun.find((j) => j.stageId === 'fee-tiles-merge')!;
    expect(pm.changes.map((c) => c.path)).toEqual(['spec.template.spec.containers[0].command']);
    expect(formatDiffMarkdown(diff)).toContain('`… --max-zoom 14 …` → `… --max-zoom 12 …`');
  });
});

describe('cng diff (git revisions)', () => {
  let repo: string;
  const v1 = synth(spec());
  const v2 = synth(spec({ resources: { hex: { memory: '8Gi' } } }));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.email=test@example.org', '-c', 'user.name=test', '-c', 'commit.gpgsign=false', ...args], {
      cwd: repo,
      encoding: 'utf8',
    });
  const cng = (args: string[], cwd = repo) => {
    const r = spawnSync(process.execPath, [CNG, 'diff', ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const rerunNames = (from: Manifests, to: Manifests) =>
    only(diffManifests(from, to)).jobsRerun.map((j) => [j.oldName, j.newName] as const);

  beforeAll(() => {
    repo = mkdtempSync(join(tmpdir(), 'cng-diff-'));
    git('init', '-q');
    writeDist(renderManifests(v1), join(repo, 'dist'));
    git('add', '-A');
    git('commit', '-q', '-m', 'v1');
    writeDist(renderManifests(v2), join(repo, 'dist'));
    git('add', '-A');
    git('commit', '-q', '-m', 'v2: hex memory 8Gi');
  });

  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  it('reads a revision’s manifests from git', () => {
    expect(readRevisionManifests('HEAD~1', 'dist', repo)).toEqual(parseManifests(renderManifests(v1)));
    mkdirSync(join(repo, 'sub'), { recursive: true });
    expect(readRevisionManifests('HEAD', '../dist', join(repo, 'sub'))).toEqual(parseManifests(renderManifests(v2)));
  });

  it('prints the PR-comment markdown for --base HEAD~1 --head HEAD', () => {
    const r = cng(['--base', 'HEAD~1', '--head', 'HEAD', '--dist', 'dist']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(DIFF_MARKER);
    expect(r.stdout).toContain('## Manifest diff: `HEAD~1` → `HEAD`');
    expect(r.stdout).toContain('1 dataset changed: 3 Jobs re-run, 0 stages added, 0 removed');
    for (const [oldName, newName] of rerunNames(v1, v2)) expect(r.stdout).toContain(`\`${oldName}\` → \`${newName}\``);
    expect(r.stdout).toContain(`\`${MEMORY}\`: \`4Gi\` → \`8Gi\``);
    expect(r.stdout).toContain('upstream stage `fee-hex` changed');
  });

  it('--json prints the same diff as an object', () => {
    const r = cng(['--base', 'HEAD~1', '--head', 'HEAD', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ base: 'HEAD~1', head: 'HEAD', changed: true, summary: { jobsRerun: 3, changedInPlace: 0 } });
    expect(out.datasets[0].jobsRerun.map((j: any) => j.stageId)).toEqual(['fee-hex', 'fee-publish', 'fee-repartition']);
  });

  it('compares HEAD with the working tree by default, and reports no changes when they agree', () => {
    const clean = cng([]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('No manifest changes.');
    writeDist(renderManifests(synth(spec({ resources: { hex: { memory: '8Gi' } }, run: 2 }))), join(repo, 'dist'));
    try {
      const r = cng([]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('## Manifest diff: `HEAD` → `working tree (dist/)`');
      expect(r.stdout).toContain('8 Jobs re-run');
      expect(r.stdout).toContain('run bumped (`cng/run` 1 → 2)');
    } finally {
      git('checkout', '-q', '--', 'dist');
    }
  });

  it('an unknown revision exits 1 naming it', () => {
    const r = cng(['--base', 'no-such-ref']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("'no-such-ref'");
  });

  it('a --dist with no manifests on either side exits 1 instead of reporting no changes', () => {
    const r = cng(['--base', 'HEAD~1', '--head', 'HEAD', '--dist', 'no-such-dir']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no manifests under no-such-dir/');
  });

  it('has real help and rejects unknown options', () => {
    const help = cng(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.split('\n')[0]).toBe('Usage: cng diff [--base <git-ref>] [--head <git-ref>] [--dist DIR] [--json]');
    expect(help.stdout).toContain('cng diff --base origin/main');
    const bad = cng(['--bogus']);
    expect(bad.code).toBe(2);
  });
});

describe('mutable Job fields', () => {
  it('a parallelism change keeps Job names and is reported as rescaled, not re-run or in place', async () => {
    const { synthesize } = await import('../constructs/index.ts');
    const { diffManifests } = await import('../cli/manifests/compare.ts');
    const { formatDiffMarkdown } = await import('../cli/manifests/diff-markdown.ts');
    const spec = {
      name: 'scale-1', title: 'S', run: 1, source: 's3://b/raw.gdb', bucket: 'public-b',
      layers: { fee: { layer: 'Fee', features: 400_000 } },
    };
    const a = synthesize([{ ...spec, hex: { parallelism: 10 } }]).manifests;
    const b = synthesize([{ ...spec, hex: { parallelism: 20 } }]).manifests;
    const d = diffManifests(a, b);
    expect(d.summary.jobsRerun).toBe(0);
    expect(d.summary.changedInPlace).toBe(0);
    expect(d.summary.scaled).toBe(1);
    expect(d.datasets[0].scaled[0].changes).toEqual([{ path: 'spec.parallelism', old: 10, new: 20 }]);
    expect(formatDiffMarkdown(d)).toContain('Rescaled in place (1)');
  });
});
