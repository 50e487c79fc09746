/**
 * `cng status` and `cng doctor` against an in-process stand-in for the Kubernetes API (node:http on
 * 127.0.0.1) serving recorded, real-shaped objects (test/fixtures/k8s/*.json): PAD-US 4.1 with a
 * failed hex Job (failedIndexes "3,17", OOM-killed), preempted pods, a Job blocked by the namespace
 * quota, a table export denied by S3, Kustomizations waiting on a dependency. The real CLI runs in
 * a child process with KUBECONFIG pointing at the server. Also: the retry Job, the worker's work-unit
 * index, the Armada job-set format, the dataset-file editor and the runbook's command lines.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  armadaJobSetProblems, checkManifests, ClusterProfile, parseManifests, readDist, synthesize, type DatasetSpec, type Manifests,
} from '../constructs/index.ts';
import { datasets } from '../datasets/index.ts';
import { padus41 } from '../datasets/padus-4-1.ts';
import { commands } from '../cli/cng.ts';
import { parseCommandArgs } from '../worker/core/command.ts';
import { classifyPod, formatIndexSet, parseIndexSet } from '../cli/cluster/classify.ts';
import type { StatusReport } from '../cli/cluster/collect.ts';
import { nextMemory } from '../cli/cluster/diagnose.ts';
import { addTodoEntry, doctorCommand } from '../cli/cluster/doctor.ts';
import { SpecFileEditor } from '../cli/cluster/spec-edit.ts';
import { statusCommand } from '../cli/cluster/status.ts';
import { schemaError } from '../cli/manifests/synth.ts';
import { workUnitIndex } from '../worker/stage.ts';
import { cng, repoCopy, ROOT, smallSpec } from './helpers.ts';
import { kubeconfig, loadFixtures, run, startFakeApi, type FakeApi } from './k8s-fake.ts';

const NRP = ClusterProfile.NRP;
const jobsOf = (m: Manifests) => [...m.values()].flat().filter((o) => o.kind === 'Job');
const envOf = (job: any, name: string) => job.spec.template.spec.containers[0].env.find((e: any) => e.name === name)?.value;

/**
 * Until cli/cng.ts registers `status` and `doctor`, a repository copy gets them registered so the
 * real `node bin/cng.js` can be run; once registered upstream this is a no-op.
 */
function withCommands(dir: string): string {
  const f = join(dir, 'cli/cng.ts');
  const src = readFileSync(f, 'utf8');
  if (!/statusCommand/.test(src))
    writeFileSync(
      f,
      `import { doctorCommand, statusCommand } from './status.ts';\n` + src.replace(/export const commands: Command\[\] = \[/, '$&\n  statusCommand, doctorCommand,'),
    );
  return dir;
}

// ---------------------------------------------------------------------------------------------

describe('cng status and cng doctor against a recorded cluster', () => {
  let api: FakeApi;
  let dir: string;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  let names: Map<string, string>;
  let report: StatusReport;

  beforeAll(async () => {
    const fx = loadFixtures();
    names = new Map(fx.jobs.items.map((j: any) => [`${j.metadata.labels['kustomize.toolkit.fluxcd.io/name']}:${j.metadata.labels['cng/part'] ?? ''}`, j.metadata.name]));
    api = await startFakeApi(fx);
    dir = mkdtempSync(join(tmpdir(), 'cng-status-'));
    repo = withCommands(repoCopy());
    env = { KUBECONFIG: kubeconfig(dir, api.url) };
    const r = await run(['status', 'padus-4-1', '--json'], { cwd: repo, env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    report = JSON.parse(r.stdout);
  });
  afterAll(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(repo, { recursive: true, force: true });
  });
  const stage = (id: string) => report.datasets[0].stages.find((s) => s.stageId === id)!;

  it('status --json: Flux readiness, completed and failed indices, OOM kills and preemptions of the failed hex Job', () => {
    expect(report).toMatchObject({ namespace: 'biodiversity', context: 'nrp-test', server: api.url });
    expect(report.datasets.map((d) => d.name)).toEqual(['padus-4-1']);
    const hex = stage('fee-hex');
    expect(hex).toMatchObject({ kind: 'hex', layer: 'fee', kustomization: 'padus-4-1-fee-hex', state: 'failed' });
    expect(hex.flux).toMatchObject({ ready: 'False', reason: 'HealthCheckFailed', suspended: false, dependsOn: ['padus-4-1-fee-convert'] });
    expect(hex.jobs).toHaveLength(1);
    const [job] = hex.jobs;
    expect(job).toMatchObject({
      name: names.get('padus-4-1-fee-hex:'),
      state: 'failed',
      completions: 149,
      completedIndexes: '0-2,4-16,18-148',
      failedIndexes: '3,17',
      completed: 147,
      failedUnits: [3, 17],
      succeeded: 147,
      failed: 6,
      active: 0,
      retry: false,
      current: true,
      resources: { cpu: '2', memory: '4Gi', ephemeralStorage: '10Gi' },
      startTime: '2025-06-02T08:32:00Z',
      elapsedSeconds: 2 * 3600 + 41 * 60 + 10, // start → the Failed condition
    });
    expect(job.conditions.map((c) => `${c.type}=${c.status}`)).toEqual(['FailureTarget=True', 'Failed=True']);
    expect(job.pods).toMatchObject({ oomKilled: 6, preempted: 4, succeeded: 7, failed: 0, running: 0, evicted: 0, imagePull: 0 });
    const oom = job.problemPods.filter((p) => p.state === 'oom-killed');
    expect(oom.map((p) => p.unit)).toEqual([3, 3, 3, 17, 17, 17]);
    expect(oom.every((p) => p.exitCode === 137 && p.reason === 'OOMKilled')).toBe(true);
    const pre = job.problemPods.filter((p) => p.state === 'preempted');
    expect(pre.map((p) => `${p.unit}:${p.reason}`)).toEqual(['40:PreemptionByScheduler', '41:PreemptionByScheduler', '90:PreemptionByScheduler', '91:EvictionByEvictionAPI']);
    expect(hex.units).toEqual({ total: 149, completed: 147, failed: 2, active: 0 });
  });

  it('status --json: the quota-blocked Job, global work units of a second part, unschedulable pods, Flux dependencies', () => {
    const hex = stage('combined-hex');
    expect(hex.state).toBe('running');
    expect(hex.flux).toMatchObject({ ready: 'Unknown', reason: 'Progressing' });
    const [p0, p1] = hex.jobs;
    expect([p0.part, p1.part]).toEqual([0, 1]);
    expect(p0).toMatchObject({ completedIndexes: '0-57', completed: 58, active: 16, indexOffset: 0 });
    expect(p0.pods).toMatchObject({ running: 4, waiting: 1, unschedulable: 1, preempted: 1, succeeded: 1 });
    expect(p0.problemPods.find((p) => p.state === 'unschedulable')!.message).toMatch(/Insufficient memory/);
    expect(p1).toMatchObject({ indexOffset: 200, active: 4, completed: 0 });
    expect(p1.createFailures).toMatchObject({ count: 49, quota: true, quotaName: 'biodiversity-pods', pods: { requested: 1, used: 200, limited: 200 } });
    expect(p1.createFailures!.message).toMatch(/exceeded quota/);
    expect(p0.createFailures).toBeUndefined();
    expect(stage('fee-repartition')).toMatchObject({ state: 'waiting', jobs: [], flux: { ready: 'False', reason: 'DependencyNotReady' } });
    expect(stage('fee-repartition').missingJobs).toHaveLength(1);
    expect(stage('table-state-name')).toMatchObject({ state: 'failed', units: { total: 1, completed: 0, failed: 1 } });
    expect(stage('setup-bucket')).toMatchObject({ state: 'complete', elapsedSeconds: 36, flux: { ready: 'True' } });
    expect(stage('fee-tiles-merge').state).toBe('complete');
    // One list call each, selected by the dataset label; events by field selector.
    const calls = api.requests.filter((r) => !r.includes('/log'));
    expect(calls.some((r) => r.startsWith('GET /apis/batch/v1/namespaces/biodiversity/jobs?labelSelector=cng%2Fdataset%3Dpadus-4-1'))).toBe(true);
    expect(calls.some((r) => r.includes('/events?fieldSelector=involvedObject.kind%3DJob%2Creason%3DFailedCreate'))).toBe(true);
  });

  it('status: the human table', async () => {
    const r = await run(['status', 'padus-4-1'], { cwd: repo, env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^padus-4-1 \(run 1\) — namespace biodiversity, context nrp-test/);
    expect(r.stdout).toMatch(/fee-hex\s+failed\s+not ready: HealthCheckFailed\s+0\/1\s+147\/149 ✗2\s+2h41m\s+6 OOM-killed; 4 preempted \(re-run\)/);
    expect(r.stdout).toMatch(/fee-repartition\s+waiting\s+not ready: DependencyNotReady .*waiting for padus-4-1-fee-hex/);
    expect(r.stdout).toMatch(/combined-hex\s+running .*quota: 49 failed creates/);
    expect(r.stdout).toContain('failed work units: 3, 17');
    expect(r.stdout).toContain("Run 'cng doctor padus-4-1' for what to change.");
  });

  it('status without a dataset shows every dataset labelled on the cluster or in datasets/', async () => {
    const r = await run(['status', '--json'], { cwd: repo, env });
    expect(r.code).toBe(0);
    const all: StatusReport = JSON.parse(r.stdout);
    expect(all.datasets.map((d) => d.name)).toEqual(datasets.map((d) => d.name).sort());
    // Only padus-4-1 is on the fake cluster; every other dataset's stages are not applied yet.
    for (const d of all.datasets.filter((x) => x.name !== 'padus-4-1')) expect(d.stages.every((s) => s.state === 'not-applied'), d.name).toBe(true);
  });

  it('status --watch refreshes until interrupted, exit 0', async () => {
    const child = spawn(process.execPath, [join(repo, 'bin/cng.js'), 'status', 'padus-4-1', '--watch', '--interval', '1', '--json'], { cwd: repo, env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (out.split('\n').filter(Boolean).length >= 2) {
          clearInterval(t);
          resolve();
        }
      }, 100);
    });
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    const docs = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(docs[1].datasets[0].name).toBe('padus-4-1');
  });

  it('exit 1 with one line: no kubeconfig, unreachable API, 403, unknown dataset, unknown context', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cng-home-'));
    const none = await run(['status'], { cwd: repo, env: { KUBECONFIG: '', HOME: home, KUBERNETES_SERVICE_HOST: '' } });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^cng status: no kubeconfig: set KUBECONFIG or put the NRP kubeconfig in ~\/\.kube\/config/);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    const missing = await run(['status'], { cwd: repo, env: { KUBECONFIG: join(home, 'nope') } });
    expect(missing.stderr).toMatch(/no kubeconfig: KUBECONFIG names .*nope, which does not exist/);

    const closed = kubeconfig(home, 'http://127.0.0.1:9'); // discard port: connection refused
    const down = await run(['status', 'padus-4-1'], { cwd: repo, env: { KUBECONFIG: closed } });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^cng status: cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);

    const denied = await run(['status', 'padus-4-1', '--context', 'denied'], { cwd: repo, env });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/failed with HTTP 403: jobs\.batch is forbidden: .* may not do this in namespace biodiversity/);

    const unknownCtx = await run(['status', '--context', 'elsewhere'], { cwd: repo, env });
    expect(unknownCtx.stderr).toMatch(/no context 'elsewhere' in the kubeconfig .*contexts: nrp-test, denied/);

    const typo = await run(['status', 'padus-41'], { cwd: repo, env });
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/no dataset 'padus-41': nothing labelled cng\/dataset=padus-41 in namespace biodiversity/);
    expect((await run(['status', 'a', 'b'], { cwd: repo, env })).code).toBe(2);
    rmSync(home, { recursive: true, force: true });
  }, 180_000); // several CLI runs, each synthesizing the whole catalogue

  it('doctor: one sentence per problem with the concrete change', async () => {
    const r = await run(['doctor', 'padus-4-1'], { cwd: repo, env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    // OOM → the next memory step for that stage, and a retry of only the failed units.
    expect(out).toMatch(/• padus-4-1 fee-hex: work units 3, 17 failed, OOM-killed at the 4Gi memory limit \(exit 137, 6 pods\); give the stage 8Gi \(layers\.fee\.resources\.hex\.memory: '8Gi'\) and re-run only those units\./);
    expect(out).toContain("change: layers.fee.resources.hex.memory: '8Gi'");
    expect(out).toContain('change: layers.fee.hex.retry: { run: 1, indexes: [3, 17] }');
    // Preemptions → nothing to do, counted.
    expect(out).toMatch(/padus-4-1 fee-hex: 4 pods were preempted \(PreemptionByScheduler ×3; EvictionByEvictionAPI\); nothing to do/);
    expect(out).toMatch(/padus-4-1 combined-hex: 1 pod was preempted .*nothing to do/);
    // Quota → lower parallelism through maxPods.
    expect(out).toMatch(/padus-4-1 combined-hex: the Job could not create pods 49 times because the namespace quota is exhausted \(biodiversity-pods: 200 of 200 pods in use\); 180 pods of other work are in the namespace, so lower padus-4-1's maxPods from 140 to (\d+) \(hex pods per Job 16 → (\d+)\)/);
    const [, maxPods, perJob] = /maxPods from 140 to (\d+) \(hex pods per Job 16 → (\d+)\)/.exec(out)!;
    expect(2 * Number(perJob)).toBeLessThanOrEqual(10); // both combined-hex Jobs fit the 200 - 180 - 10 pods left
    expect(out).toContain(`change: maxPods: ${maxPods}`);
    // S3 access denied → the credentials, with the log lines.
    expect(out).toMatch(/padus-4-1 table-state-name: the stage failed because S3 denied access to 's3:\/\/public-padus\/padus-4-1\/lookup\/State_Name\.parquet' \(AccessDenied\); check the credentials in the 'aws' secret of namespace biodiversity/);
    expect(out).toMatch(/last log lines of padus-4-1-table-state-name-r1-[0-9a-f]{8}-0-\w+:\n {4}\| cng-worker table: reading table State_Name/);
    // Flux waiting on an upstream stage → points to it.
    expect(out).toMatch(/padus-4-1 fee-repartition: Flux holds this stage until its upstream stage fee-hex is Ready \(now failed\); fix fee-hex first/);
    expect(out).toMatch(/padus-4-1 combined-hex: 1 pod cannot be scheduled \(0\/297 nodes are available/);
    expect(out).toContain("Run 'cng doctor padus-4-1 --apply'");
    expect(api.requests.some((x) => /\/pods\/padus-4-1-table-state-name-r1-[0-9a-f]{8}-0-\w+\/log\?container=worker&tailLines=20$/.test(x))).toBe(true);
  });

  it('doctor --json lists findings with their edits', async () => {
    const r = await run(['doctor', 'padus-4-1', '--json'], { cwd: repo, env });
    expect(r.code).toBe(0);
    const { findings } = JSON.parse(r.stdout);
    const oom = findings.find((f: any) => f.kind === 'oom');
    expect(oom).toMatchObject({ stageId: 'fee-hex', layer: 'fee', units: [3, 17] });
    expect(oom.edits).toEqual([
      { path: ['layers', 'fee', 'resources', 'hex', 'memory'], value: "'8Gi'" },
      { path: ['layers', 'fee', 'hex', 'retry'], value: '{ run: 1, indexes: [3, 17] }' },
    ]);
    expect(findings.map((f: any) => f.kind)).toEqual(expect.arrayContaining(['oom', 'preempted', 'quota', 's3-denied', 'dependency', 'unschedulable']));
    expect(findings.find((f: any) => f.kind === 'preempted').edits).toBeUndefined();
  });

  it('doctor --plan uses the per-unit estimates of the hex plan', async () => {
    const plan = join(dir, 'fee-hex-plan.json');
    const units = Array.from({ length: 149 }, (_, i) => ({ index: i, estimatedCells: i === 3 ? 9_000_000 : 400_000, vertices: i === 3 ? 2_000_000 : 100_000, items: [] }));
    writeFileSync(plan, JSON.stringify({ version: 1, layer: 'PADUS4_1Fee', resolution: 10, units: 149, features: 296456, workUnits: units }));
    const r = await run(['doctor', 'padus-4-1', '--plan', plan, '--json'], { cwd: repo, env });
    const oom = JSON.parse(r.stdout).findings.find((f: any) => f.kind === 'oom');
    expect(oom.sentence).toMatch(/hex plan: unit 3: ~9\.0M cells, 2\.0M vertices, 22\.0× the median unit; unit 17: ~400k cells, 100k vertices, 1\.0× the median unit/);
    expect(oom.edits[0]).toEqual({ path: ['layers', 'fee', 'resources', 'hex', 'memory'], value: "'16Gi'" }); // far above the median: two steps, at the cap
    expect(oom.warning).toMatch(/16Gi is the cap for hex stages/);
  });

  it('doctor --apply edits the dataset file and todo.md; the re-synthesized retry Job covers exactly units 3 and 17', async () => {
    const copy = withCommands(repoCopy());
    writeFileSync(join(copy, 'todo.md'), readFileSync(join(ROOT, 'todo.md'), 'utf8'));
    try {
      const r = await run(['doctor', 'padus-4-1', '--apply'], { cwd: copy, env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Wrote datasets\/padus-4-1\.ts and todo\.md \(the edited file synthesizes\)/);
      expect(r.stdout).toMatch(/^\+\s+hex: \{ retry: \{ run: 1, indexes: \[3, 17\] \} \},$/m);
      expect(r.stdout).toMatch(/fee-hex: padus-4-1-fee-hex-retry-r1-[0-9a-f]{8} — 2 completions, work units 3,17, memory 8Gi/);

      const file = readFileSync(join(copy, 'datasets/padus-4-1.ts'), 'utf8');
      expect(file).toContain("resources: { hex: { memory: '8Gi' } },");
      expect(file).toContain('hex: { retry: { run: 1, indexes: [3, 17] } },');
      expect(file).toMatch(/maxPods: \d+,/);
      const todo = readFileSync(join(copy, 'todo.md'), 'utf8');
      const section = todo.slice(todo.indexOf('### padus-4-1 — run 1'), todo.indexOf('### cpad-2025b'));
      expect(section).toMatch(/\n- doctor: padus-4-1 fee-hex: work units 3, 17 failed, OOM-killed at the 4Gi memory limit/);
      expect(section).toMatch(/\n- doctor: padus-4-1 combined-hex: the Job could not create pods 49 times/);
      expect(section).not.toContain('preempted');

      // Re-synthesize the copy: valid manifests, the retry Job covers exactly 3 and 17, nothing else re-runs.
      const synth = cng(['synth'], { cwd: copy });
      expect(synth.stderr).toBe('');
      expect(synth.code).toBe(0);
      const after = parseManifests(readDist(join(copy, 'dist')));
      const before = parseManifests(readDist(join(ROOT, 'dist')));
      const hex = after.get('padus-4-1/fee-hex/manifest.yaml')!;
      expect(hex).toHaveLength(1);
      const [retry] = hex;
      expect(retry.metadata.name).toMatch(/^padus-4-1-fee-hex-retry-r1-[0-9a-f]{8}$/);
      expect(retry.metadata.labels['cng/retry']).toBe('true');
      expect(retry.spec.completions).toBe(2);
      expect(retry.spec.parallelism).toBeLessThanOrEqual(2);
      expect(envOf(retry, 'CNG_INDEX_LIST')).toBe('3,17');
      expect(envOf(retry, 'CNG_INDEX_OFFSET')).toBe('0');
      expect(retry.spec.template.spec.containers[0].resources.limits.memory).toBe('8Gi');
      expect(retry.spec.template.spec.containers[0].resources.requests.memory).toBe('8Gi');
      expect(schemaError(retry)).toBeUndefined();
      expect(checkManifests(after, NRP)).toEqual([]);
      const name = (m: Manifests, path: string) => (m.get(path) ?? []).filter((o) => o.kind === 'Job').map((o) => o.metadata.name);
      for (const path of before.keys()) {
        if (!path.endsWith('manifest.yaml')) continue;
        // the retried stage, and everything downstream of it (repartition, publish, then docs and sync)
        if (['fee-hex', 'fee-repartition', 'fee-publish', 'docs', 'sync'].some((s) => path === `padus-4-1/${s}/manifest.yaml`)) continue;
        expect(name(after, path), path).toEqual(name(before, path)); // parallelism changed in place only
      }
      expect(name(after, 'padus-4-1/fee-repartition/manifest.yaml')).not.toEqual(name(before, 'padus-4-1/fee-repartition/manifest.yaml'));

      const validate = cng(['validate'], { cwd: copy });
      expect(validate.stderr).toBe('');
      expect(validate.code).toBe(0);

      // The cluster still shows the old failed Job, which the edited checkout no longer has: nothing more to apply.
      const again = await run(['doctor', 'padus-4-1', '--apply'], { cwd: copy, env });
      expect(again.code).toBe(0);
      expect(again.stdout).toContain("the failed Job is not in this checkout's dist/");
      expect(again.stdout).toMatch(/Nothing to apply\.|Wrote/);
      expect(readFileSync(join(copy, 'datasets/padus-4-1.ts'), 'utf8')).toContain('hex: { retry: { run: 1, indexes: [3, 17] } },');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }, 180_000); // several CLI runs, each synthesizing the whole catalogue
});

// ---------------------------------------------------------------------------------------------

describe('retrying only the failed work units (hex.retry)', () => {
  const hexJobs = (spec: DatasetSpec, layer = 'fee') => synthesize([spec]).manifests.get(`${spec.name}/${layer}-hex/manifest.yaml`)!;

  it('renders one retry Job covering exactly the listed units (global indices), in place of the full Jobs', () => {
    const spec = smallSpec({ layers: { fee: { layer: 'Demo_Fee', features: 450, hex: { featuresPerUnit: 1, retry: { indexes: [417, 3, 205] } } } } });
    const { manifests } = synthesize([spec]);
    const jobs = manifests.get('demo-1/fee-hex/manifest.yaml')!;
    expect(jobs).toHaveLength(1);
    expect(jobs[0].spec.completions).toBe(3);
    expect(envOf(jobs[0], 'CNG_INDEX_LIST')).toBe('3,205,417');
    expect(envOf(jobs[0], 'CNG_INDEX_OFFSET')).toBe('0');
    expect(jobs[0].metadata.labels).toMatchObject({ 'cng/retry': 'true', 'cng/stage': 'hex', 'cng/layer': 'fee' });
    expect(jobs[0].metadata.labels['cng/part']).toBeUndefined();
    expect(schemaError(jobs[0])).toBeUndefined();
    expect(checkManifests(manifests, NRP)).toEqual([]);
    // The plan still has 450 units, and repartition reads all their chunks.
    const convert = manifests.get('demo-1/fee-convert/manifest.yaml')![0].spec.template.spec.containers[0].command;
    expect(convert[convert.indexOf('--units') + 1]).toBe('450');
  });

  it('renames the hex stage and the stages downstream of it, nothing else', () => {
    const base = jobsOf(synthesize([smallSpec()]).manifests);
    const retried = jobsOf(synthesize([smallSpec({ layers: { fee: { layer: 'Demo_Fee', features: 5_000, hex: { retry: { indexes: [1] } } }, marine: { layer: 'Demo_Marine', features: 300 } } })]).manifests);
    const key = (j: any) => `${j.metadata.labels['cng/stage']}:${j.metadata.labels['cng/layer'] ?? j.spec.template.spec.containers[0].command[5]}`;
    const a = new Map(base.map((j) => [key(j), j.metadata.name])), b = new Map(retried.map((j) => [key(j), j.metadata.name]));
    expect([...a.keys()].filter((k) => a.get(k) !== b.get(k)).sort()).toEqual(['hex:fee', 'publish:fee', 'repartition:fee']);
  });

  it('splits more than 200 units into retry Jobs of at most 200', () => {
    const indexes = Array.from({ length: 250 }, (_, i) => 2 * i);
    const jobs = hexJobs(smallSpec({ layers: { fee: { layer: 'F', features: 600, hex: { featuresPerUnit: 1, retry: { indexes } } } } }));
    expect(jobs.map((j) => j.spec.completions)).toEqual([200, 50]);
    expect(jobs.map((j) => j.metadata.labels['cng/part'])).toEqual(['0', '1']);
    expect(jobs.flatMap((j) => envOf(j, 'CNG_INDEX_LIST').split(',').map(Number))).toEqual(indexes);
    expect(jobs[0].metadata.name).toMatch(/^demo-1-fee-hex-retry-p0-r1-[0-9a-f]{8}$/);
  });

  it('rejects units outside 0..units-1, repeated units, an empty list, and retry at dataset level', () => {
    const layer = (retry: any) => smallSpec({ layers: { fee: { layer: 'F', features: 5_000, hex: { retry } } } });
    expect(() => synthesize([layer({ indexes: [1, 3] })])).toThrow(/layers\.fee\.hex\.retry\.indexes: work unit\(s\) 3 outside 0\.\.2 \(the layer has 3 hex work units\)/);
    expect(() => synthesize([layer({ indexes: [1, 1, 2] })])).toThrow(/work unit\(s\) 1 listed more than once/);
    expect(() => synthesize([layer({ indexes: [] })])).toThrow(/list at least one work unit/);
    expect(() => synthesize([layer({ indexes: [-1] })])).toThrow(/retry\.indexes\.0/);
    expect(() => synthesize([smallSpec({ hex: { retry: { indexes: [0] } } as any })])).toThrow(/Unrecognized key.*retry/);
  });

  it("refuses a retry recorded for another run (a new run must not mix its chunks with an older run's)", () => {
    const spec = (run: number) => smallSpec({ run, layers: { fee: { layer: 'F', features: 5_000, hex: { retry: { run: 1, indexes: [2] } } } } });
    expect(hexJobs(spec(1))).toHaveLength(1);
    expect(() => synthesize([spec(2)])).toThrow(/layers\.fee\.hex\.retry\.run: retries the failed Jobs of run 1, but the dataset is now run 2: remove layers\.fee\.hex\.retry/);
  });
});

describe('workUnitIndex (worker)', () => {
  it('maps the completion index through CNG_INDEX_LIST, else adds CNG_INDEX_OFFSET', () => {
    expect(workUnitIndex({ JOB_COMPLETION_INDEX: '1', CNG_INDEX_LIST: '3,17,205', CNG_INDEX_OFFSET: '0' })).toBe(17);
    expect(workUnitIndex({ JOB_COMPLETION_INDEX: '2', CNG_INDEX_LIST: '3,17,205' })).toBe(205);
    expect(workUnitIndex({ JOB_COMPLETION_INDEX: '5', CNG_INDEX_OFFSET: '200' })).toBe(205);
    expect(workUnitIndex({ JOB_COMPLETION_INDEX: '7' })).toBe(7);
  });
  it('fails with a one-line CommandError when unset or out of range', () => {
    expect(() => workUnitIndex({})).toThrow(/JOB_COMPLETION_INDEX is not set/);
    expect(() => workUnitIndex({ JOB_COMPLETION_INDEX: '3', CNG_INDEX_LIST: '3,17,205' })).toThrow(/JOB_COMPLETION_INDEX 3 is out of range: CNG_INDEX_LIST lists 3 work unit\(s\) \(completion indices 0–2\)/);
    expect(() => workUnitIndex({ JOB_COMPLETION_INDEX: 'x' })).toThrow(/non-negative integer/);
    expect(() => workUnitIndex({ JOB_COMPLETION_INDEX: '0', CNG_INDEX_LIST: '3,x' })).toThrow(/CNG_INDEX_LIST must be/);
    expect(() => workUnitIndex({ JOB_COMPLETION_INDEX: '0', CNG_INDEX_OFFSET: '-2' })).toThrow(/CNG_INDEX_OFFSET/);
  });
});

describe('Armada job sets', () => {
  const armadaSpecs = (): DatasetSpec[] => [
    { ...padus41, layers: { ...padus41.layers, combined: { ...padus41.layers!.combined, hex: { runner: 'armada' } } } },
    smallSpec({ name: 'retry-1', layers: { big: { layer: 'Big', features: 450, hex: { featuresPerUnit: 1, runner: 'armada', retry: { indexes: [7, 300] } } } } }),
  ];
  /** Every Armada file: the committed dist/armada/ and fresh syntheses that use Armada. */
  const armadaFiles = (): [string, any][] => [
    ...[...parseManifests(readDist(join(ROOT, 'dist')))].filter(([p]) => p.startsWith('armada/')),
    ...[...synthesize(armadaSpecs()).manifests].filter(([p]) => p.startsWith('armada/')),
  ].flatMap(([p, objs]) => objs.map((o: any) => [p, o] as [string, any]));

  it("every file follows Armada's job-set format (strict keys), requests == limits, preemptible, one work unit per job", () => {
    const files = armadaFiles();
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const [path, set] of files) {
      expect(armadaJobSetProblems(set, NRP), path).toEqual([]);
      for (const job of set.jobs) {
        expect(Object.keys(job).sort()).toEqual(['clientId', 'labels', 'namespace', 'podSpec', 'priority']);
        expect(job.podSpec.priorityClassName).toBe('opportunistic');
        const c = job.podSpec.containers[0];
        expect(c.resources.requests).toEqual(c.resources.limits);
      }
    }
    const combined = files.find(([p]) => p === 'armada/padus-4-1-combined-hex.yaml')![1];
    expect(combined.jobs).toHaveLength(329);
    expect(combined.jobs[250].podSpec.containers[0].env).toContainEqual({ name: 'JOB_COMPLETION_INDEX', value: '250' });
    expect(combined.jobs[250].labels['cng/part']).toBeUndefined();
    expect(new Set(combined.jobs.map((j: any) => j.clientId)).size).toBe(329);
    const retried = files.find(([p]) => p === 'armada/retry-1-big-hex.yaml')![1];
    expect(retried.jobs.map((j: any) => j.labels['cng/index'])).toEqual(['7', '300']);
  });

  it('the check catches keys Armada does not know and requests below limits', () => {
    const [, set] = armadaFiles()[0];
    const bad = structuredClone(set);
    bad.jobs[0].priorityClassName = 'opportunistic';
    bad.jobs[1].podSpec.containers[0].resources.requests.memory = '1Gi';
    bad.extra = true;
    const problems = armadaJobSetProblems(bad, NRP).join('\n');
    expect(problems).toContain("unknown key 'extra'");
    expect(problems).toContain("jobs[0]: unknown key 'priorityClassName'");
    expect(problems).toMatch(/jobs\[1\]\.podSpec\.containers\[0\]: memory request 1Gi differs from limit/);
  });

  it('stages downstream are suspended until completedJobSet names the current job set, which a stale id cannot', () => {
    const spec = armadaSpecs()[0];
    const first = synthesize([spec]).manifests;
    const jobSetId = first.get('armada/padus-4-1-combined-hex.yaml')![0].jobSetId;
    const repartition = (m: Manifests) => m.get('flux/padus-4-1.yaml')!.find((k) => k.metadata.name === 'padus-4-1-combined-repartition')!;
    expect(repartition(first).spec.suspend).toBe(true);
    const done = { ...spec, layers: { ...spec.layers, combined: { ...spec.layers!.combined, hex: { runner: 'armada' as const, completedJobSet: jobSetId } } } };
    const second = synthesize([done]).manifests;
    expect(repartition(second).spec.suspend).toBeUndefined();
    expect(repartition(second).spec.dependsOn).toEqual([]);
    expect(checkManifests(second, NRP)).toEqual([]);
    expect(() => synthesize([{ ...done, run: 2 }])).toThrow(/layers\.combined\.hex\.completedJobSet is '.+' but stage combined-hex's job set is now 'padus-4-1-combined-hex-r2-/);
  });
});

describe('pieces', () => {
  it('index sets', () => {
    expect(parseIndexSet('0-2,4-6,9')).toEqual([0, 1, 2, 4, 5, 6, 9]);
    expect(parseIndexSet('')).toEqual([]);
    expect(formatIndexSet([9, 0, 1, 2, 4, 5, 6])).toBe('0-2,4-6,9');
  });

  it('memory steps and the cap', () => {
    expect(nextMemory('4Gi', 'hex')).toEqual({ value: '8Gi', cap: '16Gi', capped: false });
    expect(nextMemory('8Gi', 'hex')).toEqual({ value: '16Gi', cap: '16Gi', capped: true });
    expect(nextMemory('8Gi', 'hex', 2)).toEqual({ value: '16Gi', cap: '16Gi', capped: true });
    expect(nextMemory('16Gi', 'hex')).toEqual({ cap: '16Gi', capped: true });
    expect(nextMemory('16Gi', 'tiles-merge')).toEqual({ value: '32Gi', cap: '32Gi', capped: true });
    expect(nextMemory('8Gi', 'tiles')).toEqual({ value: '16Gi', cap: '16Gi', capped: true });
    expect(nextMemory('3000Mi', 'hex').value).toBe('4Gi');
  });

  it('classifies image-pull errors and evictions', () => {
    const pod = (status: any) => ({ metadata: { name: 'p', labels: { 'job-name': 'j' }, annotations: { 'batch.kubernetes.io/job-completion-index': '4' } }, status });
    expect(classifyPod(pod({ phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "ghcr.io/x:0.1.0"' } } }] }), (i) => i + 200))
      .toMatchObject({ state: 'image-pull', reason: 'ImagePullBackOff', index: 4, unit: 204, job: 'j' });
    expect(classifyPod(pod({ phase: 'Failed', reason: 'Evicted', message: 'Pod ephemeral local storage usage exceeds the total limit of containers 10Gi.' })))
      .toMatchObject({ state: 'evicted', reason: 'Evicted' });
    expect(classifyPod(pod({ phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 1, reason: 'Error' } } }] }))).toMatchObject({ state: 'failed', exitCode: 1 });
  });

  it('the dataset-file editor keeps style and comments, and refuses what it cannot edit safely', () => {
    const src = `import type { DatasetSpec } from '../constructs/index.ts';\n\nexport const x: DatasetSpec = {\n  name: 'x', // the id\n  run: 1,\n  layers: {\n    // the fee layer\n    fee: { layer: 'Fee', features: 10 }, // '}' in a comment\n    easement: { layer: "E,}", features: 5 },\n  },\n  hex: base,\n};\n`;
    const e = new SpecFileEditor(src);
    e.set(['layers', 'fee', 'hex', 'retry'], '{ indexes: [0] }');
    e.set(['layers', 'easement', 'resources', 'setup-bucket', 'memory'], "'1Gi'");
    e.set(['maxPods', ], '10');
    expect(e.text).toContain("fee: { layer: 'Fee', features: 10, hex: { retry: { indexes: [0] } } }, // '}' in a comment");
    expect(e.text).toContain(`easement: { layer: "E,}", features: 5, resources: { 'setup-bucket': { memory: '1Gi' } } },`);
    expect(e.text).toMatch(/  hex: base,\n  maxPods: 10,\n\};/);
    e.delete(['layers', 'fee', 'hex', 'retry']);
    expect(e.text).toContain("fee: { layer: 'Fee', features: 10, hex: {} }, // '}' in a comment");
    expect(() => e.set(['hex', 'parallelism'], '2')).toThrow(/not an object literal/);
    expect(() => new SpecFileEditor(`export const y = { ...other, name: 'y' };`).set(['run'], '2')).toThrow(/spread/);
  });

  it('todo.md: bullets under the run heading of the Runs section', () => {
    const todo = '# T\n\n## Runs\n\n### a — run 1\n- first\n\n## Backlog\n- later\n';
    expect(addTodoEntry(todo, 'a', 1, ['doctor: x'])).toBe('# T\n\n## Runs\n\n### a — run 1\n- first\n- doctor: x\n\n## Backlog\n- later\n');
    expect(addTodoEntry(todo, 'b', 3, ['doctor: y'])).toBe('# T\n\n## Runs\n\n### a — run 1\n- first\n\n### b — run 3\n- doctor: y\n\n## Backlog\n- later\n');
    expect(addTodoEntry('# T\n', 'c', 1, ['doctor: z'])).toBe('# T\n\n## Runs\n\n### c — run 1\n- doctor: z\n');
  });

  it("the runbook's cng command lines parse against the CLI (status and doctor included)", () => {
    const all = [...commands.filter((c) => c.name !== 'status' && c.name !== 'doctor'), statusCommand, doctorCommand];
    const md = readFileSync(join(ROOT, 'docs/runbook.md'), 'utf8');
    let n = 0;
    for (const block of md.matchAll(/```[a-z]*\n([\s\S]*?)```/g))
      for (const raw of block[1].split('\n')) {
        const line = raw.replace(/\s+#.*$/, '').trim();
        if (!/^(npx )?cng /.test(line)) continue;
        const words = [...line.matchAll(/'[^']*'|"[^"]*"|\S+/g)].map((m) => m[0].replace(/^['"]|['"]$/g, '')).filter((w, i) => !(i === 0 && w === 'npx'));
        const cmd = all.find((c) => c.name === words[1]);
        expect(cmd, line).toBeDefined();
        if (cmd!.name !== 'worker') expect(() => parseCommandArgs(cmd!, words.slice(2)), line).not.toThrow();
        n++;
      }
    expect(n).toBeGreaterThan(8);
    expect(existsSync(join(ROOT, 'docs/runbook.md'))).toBe(true);
  });
});
