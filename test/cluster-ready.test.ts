/**
 * Issue 13: what would break or hurt on the real shared cluster, each prevented — secrets the
 * profile does not declare, Flux gating that holds kustomize-controller's workers, pod hostnames
 * over 63 characters, no way to re-run one stage, no tenant identity, dataset names that collide
 * with dist/'s own directories, scratch volumes as large as the ephemeral-storage limit.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'cdk8s';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  checkManifests, ClusterProfile, Dataset, DEFAULT_TIMEOUTS, RESERVED_DATASET_NAMES, scratchSize, synthesize,
  type DatasetSpec, type Manifests, type StageKind,
} from '../constructs/index.ts';
import { padus41 } from '../datasets/padus-4-1.ts';
import { parseQuantity } from '../worker/core/text.ts';
import { checkTodo } from '../cli/manifests/docs.ts';
import { validateFluxBootstrap } from '../cli/manifests/synth.ts';
import { goDuration, simulateFlux, type ModelStage } from './flux-model.ts';
import { MIRRORED, ROOT, smallSpec } from './helpers.ts';

const NRP = ClusterProfile.NRP;
const jobsOf = (m: Manifests) => [...m.values()].flat().filter((o) => o.kind === 'Job');
const kustomizationsOf = (m: Manifests) => [...m.values()].flat().filter((o) => o.kind === 'Kustomization');
const container = (job: any) => job.spec.template.spec.containers[0];
/** Job names by `<stage kind>:<layer or stage id>`. */
const jobNames = (m: Manifests) => new Map(jobsOf(m).map((j) => [`${j.metadata.labels['cng/stage']}:${j.metadata.labels['cng/layer'] ?? container(j).command[5] ?? '-'}:${j.metadata.labels['cng/part'] ?? ''}`, j.metadata.name]));

// ---------------------------------------------------------------------------------------------

describe('Flux gating never holds a kustomize-controller worker for long (item 2)', () => {
  const { manifests } = synthesize([padus41]);
  const ks = kustomizationsOf(manifests);
  const jobOf = new Map<string, string>();
  for (const [path, objs] of manifests) {
    const m = /^padus-4-1\/([^/]+)\/manifest\.yaml$/.exec(path);
    if (m) jobOf.set(`padus-4-1-${m[1]}`, objs.find((o) => o.kind === 'Job')!.metadata.name);
  }
  const kindOf = (k: string) => ks.find((x) => x.metadata.name === k)!.metadata.labels['cng/stage'] as StageKind;
  /** Realistic hours: hex 3 h, repartition and tiles 1 h, convert 20 min, the rest minutes. */
  const SECONDS: Partial<Record<StageKind, number>> = { 'setup-bucket': 60, convert: 1200, hex: 3 * 3600, repartition: 3600, tiles: 3600, table: 300, docs: 600 };
  const stages = (k: string): ModelStage => ({ seconds: SECONDS[kindOf(k)] ?? 600 });
  const run = (objs: Record<string, any>[], sampleAt: number[] = []) =>
    simulateFlux(objs, stages, { until: 24 * 3600, sampleAt, jobName: (k) => jobOf.get(k)! });

  it("every stage Kustomization waits for its Jobs with a short timeout, re-checked every retryInterval, as the profile's ServiceAccount", () => {
    expect(ks.length).toBe(jobOf.size);
    for (const k of ks) expect(k.spec, k.metadata.name).toMatchObject({ wait: true, timeout: '1m', retryInterval: '5m', serviceAccountName: 'cng-flux', prune: true });
  });

  it('PAD-US after setup-bucket: no reconcile holds a worker over 1m, downstream starts only after its upstream Job completed, another tenant waits minutes not hours', () => {
    const r = run(ks);
    expect(Math.max(...r.maxHold.values())).toBeLessThanOrEqual(60);
    for (const k of ks) {
      const mine = r.jobs.get(k.metadata.name);
      expect(mine, k.metadata.name).toBeDefined();
      expect(mine!.done, k.metadata.name).toBeDefined(); // everything completes within the day
      for (const d of k.spec.dependsOn ?? []) expect(mine!.created, `${k.metadata.name} after ${d.name}`).toBeGreaterThanOrEqual(r.jobs.get(d.name)!.done!);
    }
    expect(r.foreignWait).toBeLessThanOrEqual(2 * 60);

    // The same objects with the old gating (timeout = the stage's whole duration): hex and pmtiles
    // reconciles hold workers for hours and the other tenant waits as long.
    const legacy = ks.map((k) => ({ ...k, spec: { ...k.spec, timeout: DEFAULT_TIMEOUTS[kindOf(k.metadata.name)] } }));
    const old = run(legacy);
    expect(Math.max(...old.maxHold.values())).toBeGreaterThanOrEqual(3600);
    expect(old.foreignWait).toBeGreaterThan(3600);
  });

  it("the runbook shows what flux get kustomizations says for a stage waiting, running, done and failed", () => {
    const fail = (k: string): ModelStage => (k === 'padus-4-1-fee-hex' ? { seconds: 2 * 3600, fail: true } : stages(k));
    const at = 2 * 3600;
    const r = simulateFlux(ks, fail, { until: 6 * 3600, sampleAt: [at, 5 * 3600], jobName: (k) => jobOf.get(k)! });
    const running = r.samples.get(at)!.get('padus-4-1-combined-hex')!;
    const waiting = r.samples.get(at)!.get('padus-4-1-combined-repartition')!;
    const done = r.samples.get(at)!.get('padus-4-1-setup-bucket')!;
    const failed = r.samples.get(5 * 3600)!.get('padus-4-1-fee-hex')!;
    expect(running).toMatchObject({ status: 'False', reason: 'HealthCheckFailed' });
    expect(running.message).toMatch(new RegExp(`^health check failed after ${goDuration(60)}: timeout waiting for: \\[Job/biodiversity/padus-4-1-combined-hex-p\\d-r1-[0-9a-f]{8} status: 'InProgress'`));
    expect(waiting).toMatchObject({ status: 'False', reason: 'DependencyNotReady', message: "dependency 'biodiversity/padus-4-1-combined-hex' is not ready" });
    expect(done).toMatchObject({ status: 'True', message: 'Applied revision: main@sha1:0123abcd' });
    expect(failed.message).toMatch(/failed early due to stalled resources: \[Job\/biodiversity\/padus-4-1-fee-hex-r1-[0-9a-f]{8} status: 'Failed'\]$/);
    // The runbook's table, with Job hashes and revisions written as "…".
    const runbook = readFileSync(join(ROOT, 'docs/runbook.md'), 'utf8');
    const elide = (m: string) => m.replace(/-r1-[0-9a-f]{8}/g, '-r1-…').replace(/-p\d-r1-…/g, '-p0-r1-…').replace(/sha1:[0-9a-f]+/, 'sha1:…').replace(/after [^:]+: failed early/, 'after …: failed early');
    for (const [name, c] of [['padus-4-1-combined-hex', running], ['padus-4-1-combined-repartition', waiting], ['padus-4-1-setup-bucket', done], ['padus-4-1-fee-hex', failed]] as const)
      expect(runbook.replace(/[ \t]+/g, ' '), name).toContain(`${name} main@sha1:… False ${c.status} ${elide(c.message)}`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('pod hostnames fit 63 characters (item 3)', () => {
  const spec: DatasetSpec = {
    name: 'usfws-critical-habitat-2025',
    title: 'USFWS critical habitat 2025',
    run: 1,
    source: 's3://public-usfws/raw/crithab.gdb',
    bucket: 'public-usfws',
    prefix: 'critical-habitat-2025',
    layers: { proclamation: { layer: 'CritHab_Proclamation', features: 500_000 } }, // 250 hex units: Jobs of 200 and 50
  };

  it("usfws-critical-habitat-2025's proclamation layer: every <job name>-<largest index> is a DNS label of ≤63", () => {
    const { manifests } = synthesize([spec]);
    const jobs = jobsOf(manifests);
    expect(jobs.map((j) => j.spec.completions)).toContain(200);
    for (const j of jobs) {
      const hostname = `${j.metadata.name}-${j.spec.completions - 1}`;
      expect(hostname.length, hostname).toBeLessThanOrEqual(63);
      expect(hostname).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    const hex = manifests.get('usfws-critical-habitat-2025/proclamation-hex/manifest.yaml')!;
    expect(hex[0].metadata.name).toMatch(/^usfws-critical-habitat-2025-proclamation-hex-p0-r1-[0-9a-f]{8}$/);
    const repartition = manifests.get('usfws-critical-habitat-2025/proclamation-repartition/manifest.yaml')![0].metadata.name;
    expect(repartition).toMatch(/^usfws-critical-habitat-2025-proclamation-repartit-r1-[0-9a-f]{8}$/);
    expect(`${repartition}-0`).toHaveLength(63);
    expect(checkManifests(manifests, NRP)).toEqual([]);
  });

  it('the policy catches a Job whose pods would get a longer hostname', () => {
    const { manifests } = synthesize([spec]);
    const hex = manifests.get('usfws-critical-habitat-2025/proclamation-hex/manifest.yaml')!;
    hex[0].metadata.name = `usfws-critical-habitat-2025-proclamation-hex-p0-r1-abcdef12x`; // 60 chars: a DNS label, but 60 + '-199'
    const vs = checkManifests(manifests, NRP).filter((v) => v.rule === 'dns-name');
    expect(vs.map((v) => v.message)).toEqual([expect.stringMatching(/pod hostname "usfws-.*-199" .* is 64 characters, over 63/)]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('re-running one stage (item 5)', () => {
  const base = jobNames(synthesize([padus41]).manifests);
  const withRerun = (layers: Record<string, any>, rerun?: Record<string, number>): DatasetSpec => ({
    ...padus41,
    ...(rerun ? { rerun } : {}),
    layers: Object.fromEntries(Object.entries(padus41.layers!).map(([k, l]) => [k, layers[k] ? { ...l, rerun: layers[k] } : l])),
  });
  const renamed = (spec: DatasetSpec) => {
    const after = jobNames(synthesize([spec]).manifests);
    expect([...after.keys()].sort()).toEqual([...base.keys()].sort());
    return [...base.keys()].filter((k) => base.get(k) !== after.get(k)).sort();
  };

  it.each([
    // each stage kind of a vector layer: exactly that stage's Jobs and the stages downstream (docs last)
    ['convert', ['convert:fee:', 'docs:-:', 'hex:fee:', 'publish:fee:', 'repartition:fee:', 'tiles-merge:fee:', 'tiles:fee:']],
    ['hex', ['docs:-:', 'hex:fee:', 'publish:fee:', 'repartition:fee:']],
    ['repartition', ['docs:-:', 'publish:fee:', 'repartition:fee:']],
    ['tiles', ['docs:-:', 'publish:fee:', 'tiles-merge:fee:', 'tiles:fee:']],
    ['tiles-merge', ['docs:-:', 'publish:fee:', 'tiles-merge:fee:']],
    ['publish', ['docs:-:', 'publish:fee:']],
  ])('layers.fee.rerun.%s renames exactly that stage and what depends on it', (kind, expected) => {
    expect(renamed(withRerun({ fee: { [kind]: 2 } }))).toEqual(expected);
  });

  it('a dataset-level stage (a table export) re-runs by stage id; the Job says which re-run it is', () => {
    const spec = withRerun({}, { 'table-state-name': 3 });
    expect(renamed(spec).filter((k) => !k.startsWith('docs:'))).toEqual([expect.stringMatching(/^table:/)]);
    const table = synthesize([spec]).manifests.get('padus-4-1/table-state-name/manifest.yaml')![0];
    expect(table.metadata.labels['cng/rerun']).toBe('3');
    expect(table.spec.template.metadata.labels['cng/rerun']).toBe('3');
  });

  it('rejects a stage the layer does not have, an unknown kind and an unknown dataset-level stage', () => {
    expect(() => synthesize([withRerun({ fee: { cog: 2 } })])).toThrow(/layers\.fee\.rerun\.cog: layers\.fee has no cog stage \(its stages: convert, hex, repartition, pmtiles\)/);
    expect(() => synthesize([withRerun({ fee: { tiles2: 2 } })])).toThrow(/Unrecognized key.*tiles2/);
    expect(() => synthesize([withRerun({}, { 'table-nope': 2 })])).toThrow(/rerun\.table-nope: no dataset-level stage table-nope \(these are: setup-bucket, table-public-access/);
    expect(() => synthesize([withRerun({ fee: { pmtiles: 0 } })])).toThrow(/layers\.fee\.rerun\.pmtiles/);
  });

  it('cng todo check matches "### <dataset> — <layer>.<stage> rerun <n>" against the file, like run', () => {
    const specs = [withRerun({ fee: { pmtiles: 2 } }, { 'table-state-name': 1 })];
    const todo = (runs: string) => `# T\n\n## Runs\n\n${runs}\n\n## Backlog\n`;
    const ok = checkTodo(todo('### padus-4-1 — fee.pmtiles rerun 2\n- a 503 from S3 killed the tiler\n\n### padus-4-1 — table-state-name rerun 1\n- fixed the secret'), specs);
    expect(ok.problems).toEqual([]);
    expect(ok.entries.map((e) => [e.stage, e.run])).toEqual([['fee.pmtiles', 2], ['table-state-name', 1]]);
    const bad = checkTodo(todo('### padus-4-1 — fee.pmtiles rerun 3\n- again\n\n### padus-4-1 — fee.hex rerun 1\n- x\n\n### padus-4-1 — nope.hex rerun 1\n- y\n\n### padus-4-1 — fee.pmtiles rerun 1\n- old'), specs);
    expect(bad.problems.map((p) => p.message)).toEqual([
      '### padus-4-1 — fee.pmtiles rerun 3: the dataset file has layers.fee.rerun.pmtiles: 2; set it to 3 in the dataset file in the same PR',
      '### padus-4-1 — fee.hex rerun 1: the dataset file has layers.fee.rerun.hex: unset; set it to 1 in the dataset file in the same PR',
      "### padus-4-1 — nope.hex rerun 1: the dataset file has no layer or raster 'nope'",
      '### padus-4-1 — fee.pmtiles rerun 1: the dataset file has layers.fee.rerun.pmtiles: 2; this re-run is done or superseded: update or remove the entry',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('secrets are declared in the cluster profile (item 1)', () => {
  it('NRP declares aws and rclone-config; without source-coop there is no sync stage, the synth says so, and docs name no mirror', () => {
    expect(NRP.secrets.map((s) => s.name)).toEqual(['aws', 'rclone-config']);
    const s = synthesize([padus41]);
    expect([...s.manifests.keys()].some((p) => p.includes('/sync/'))).toBe(false);
    expect(s.notes).toEqual([expect.stringMatching(/^dataset padus-4-1: no sync stage to the mirror \(cboettig\): the cluster profile declares no secret "source-coop" .*docs\/runbook\.md#the-mirror-secret\)$/)]);
    const docs = JSON.parse(container(s.manifests.get('padus-4-1/docs/manifest.yaml')![0]).command[3]);
    expect(docs.mirror).toBeUndefined();
    const m = synthesize([padus41], MIRRORED);
    expect(m.notes).toEqual([]);
    expect(m.manifests.get('padus-4-1/sync/manifest.yaml')).toHaveLength(1);
    expect(JSON.parse(container(m.manifests.get('padus-4-1/docs/manifest.yaml')![0]).command[3]).mirror).toMatchObject({ bucket: 'cboettig' });
  });

  it('synth refuses a reference to an undeclared secret or key with one line', () => {
    const build = (profile: ClusterProfile, env: any[]) => () => {
      const d = new Dataset(new App(), smallSpec(), profile);
      d.addStage('extra', 'docs', { args: [], env });
    };
    const ref = (name: string, key: string) => [{ name: 'X_TOKEN', valueFrom: { secretKeyRef: { name, key } } }];
    const err = (f: () => void) => {
      try {
        f();
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    };
    const missing = err(build(NRP, ref('source-coop', 'AWS_ACCESS_KEY_ID')));
    expect(missing).toMatch(/^dataset demo-1, stage extra: env X_TOKEN reads secret "source-coop", which the cluster profile does not declare \(declared: aws, rclone-config\); create it in namespace biodiversity/);
    expect(missing.split('\n')).toHaveLength(1);
    expect(err(build(NRP, ref('aws', 'AWS_SESSION_TOKEN')))).toMatch(/key "AWS_SESSION_TOKEN" of secret "aws", which the cluster profile does not declare \(its keys: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY\)$/);
    expect(() => NRP.with({ s3SecretName: 'nrp-s3' })).toThrow(/^cluster profile: the S3 secret "nrp-s3" is not declared in secrets \(declared: aws, rclone-config\)$/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('tenant identity (item 6)', () => {
  const copyFlux = () => {
    const dir = mkdtempSync(join(tmpdir(), 'cng-flux-'));
    cpSync(join(ROOT, 'flux'), dir, { recursive: true });
    return dir;
  };
  const edit = (dir: string, f: (docs: any[]) => any[]) => {
    const file = join(dir, 'base/tenant-rbac.yaml');
    const docs = YAML.parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS());
    writeFileSync(file, f(docs).map((d) => YAML.stringify(d)).join('---\n'));
  };

  it("flux/ carries the profile's ServiceAccount with a namespaced Role for Jobs and Kustomizations, and validates", () => {
    expect(validateFluxBootstrap(join(ROOT, 'flux'))).toEqual([]);
    const docs = YAML.parseAllDocuments(readFileSync(join(ROOT, 'flux/base/tenant-rbac.yaml'), 'utf8')).map((d) => d.toJS());
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(['ServiceAccount/cng-flux', 'Role/cng-flux', 'RoleBinding/cng-flux']);
    expect(docs.every((d) => d.metadata.namespace === 'biodiversity')).toBe(true);
    const root = YAML.parse(readFileSync(join(ROOT, 'flux/base/root-kustomization.yaml'), 'utf8'));
    expect(root.spec.serviceAccountName).toBe(NRP.fluxServiceAccount);
  });

  it('cng validate catches rights that are missing or cluster-wide, and a Kustomization without the ServiceAccount', () => {
    const dir = copyFlux();
    try {
      edit(dir, (docs) => [
        docs[0],
        { ...docs[1], rules: [{ apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch', 'create'] }] },
        docs[2],
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'x' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: 'cng-flux', namespace: 'biodiversity' }] },
      ]);
      const root = join(dir, 'base/root-kustomization.yaml');
      writeFileSync(root, readFileSync(root, 'utf8').replace(/\n  serviceAccountName: cng-flux/, ''));
      const problems = validateFluxBootstrap(dir);
      expect(problems).toEqual([
        expect.stringMatching(/\[tenant\] ClusterRoleBinding\/x: nothing cluster-wide/),
        expect.stringMatching(/\[tenant\] ServiceAccount cng-flux may not patch, delete jobs\.batch in biodiversity/),
        expect.stringMatching(/\[tenant\] ServiceAccount cng-flux may not get, list, watch, create, patch, delete kustomizations\.kustomize\.toolkit\.fluxcd\.io/),
        expect.stringMatching(/\[tenant\] Kustomization\/cng-datasets: serviceAccountName is undefined, expected "cng-flux"/),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const { manifests } = synthesize([smallSpec()]);
    const k = kustomizationsOf(manifests)[0];
    delete k.spec.serviceAccountName;
    k.spec.timeout = '12h';
    expect(checkManifests(manifests, NRP).map((v) => `${v.rule}: ${v.message}`)).toEqual([
      expect.stringMatching(/^service-account: serviceAccountName is undefined, expected "cng-flux"/),
      expect.stringMatching(/^flux-gating: timeout "12h" would hold a kustomize-controller worker that long/),
    ]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('smaller items (item 7)', () => {
  it("reserves every top-level dist/ directory that is not a dataset's as a dataset name", () => {
    const { manifests } = synthesize([padus41, { ...smallSpec({ layers: { big: { layer: 'B', features: 10, hex: { runner: 'armada' } } } }) }]);
    const tops = new Set([...manifests.keys()].map((p) => p.split('/')[0]));
    expect([...tops].filter((t) => !['padus-4-1', 'demo-1'].includes(t)).sort()).toEqual([...RESERVED_DATASET_NAMES].sort());
    for (const name of RESERVED_DATASET_NAMES)
      expect(() => synthesize([smallSpec({ name, bucket: `public-${name}` })])).toThrow(new RegExp(`name: "${name}" is reserved: dist/${name}/ holds`));
  });

  it('every scratch volume leaves headroom below its container\'s ephemeral-storage limit; the policy refuses one that does not', () => {
    const { manifests } = synthesize([padus41]);
    for (const j of jobsOf(manifests)) {
      const limit = parseQuantity(container(j).resources.limits['ephemeral-storage']);
      const scratch = parseQuantity(j.spec.template.spec.volumes.find((v: any) => v.name === 'scratch').emptyDir.sizeLimit);
      expect(limit - scratch, j.metadata.name).toBeGreaterThanOrEqual(Math.max(256 * 2 ** 20, limit / 10 - 2 ** 20));
    }
    expect(scratchSize('10Gi')).toBe('9216Mi');
    expect(scratchSize('1Gi')).toBe('768Mi');
    expect(() => scratchSize('256Mi')).toThrow(/leaves no scratch space/);
    const hex = manifests.get('padus-4-1/fee-hex/manifest.yaml')![0];
    hex.spec.template.spec.volumes[0].emptyDir.sizeLimit = container(hex).resources.limits['ephemeral-storage'];
    expect(checkManifests(manifests, NRP).map((v) => v.rule)).toEqual(['scratch-headroom']);
  });
});

describe("GDAL's HTTP retries in every Job that reads a remote source through GDAL (item 7)", () => {
  /** The worker module of each stage kind whose Jobs hand GDAL an s3:// or https:// source. */
  const READERS: Partial<Record<StageKind, string>> = {
    convert: 'worker/vector/convert.ts', table: 'worker/vector/table.ts', cog: 'worker/raster/cog.ts',
    'raster-hex': 'worker/raster/raster-hex.ts', 'raster-manifest': 'worker/raster/raster-hex.ts',
  };

  it('the stages that read remote sources are exactly these, each sets the retries, and setting them reaches GDAL', async () => {
    const raster: DatasetSpec = { ...smallSpec({ name: 'rast-1', bucket: 'public-rast', prefix: '' }), layers: {}, tables: [], rasters: { c: { source: 'https://example.org/c.tif', valueKind: 'continuous' } } };
    const remote = new Set<string>();
    for (const j of jobsOf(synthesize([padus41, raster]).manifests)) {
      const cmd: string[] = container(j).command;
      const src = ['--source', '--input'].map((f) => cmd[cmd.indexOf(f) + 1]).find((v, i) => cmd.includes(['--source', '--input'][i]) && /^(s3|https?):\/\//.test(v));
      if (src && !/\.parquet$/.test(src)) remote.add(cmd[1]);
    }
    expect([...remote].sort()).toEqual(Object.keys(READERS).sort());
    for (const [kind, file] of Object.entries(READERS)) expect(readFileSync(join(ROOT, file!), 'utf8'), kind).toMatch(/configureGdalS3\(/);
    const gdal = (await import('gdal-async')).default;
    const { configureGdalS3, GDAL_HTTP_RETRY } = await import('../worker/io/gdal.ts');
    configureGdalS3({});
    for (const [k, v] of Object.entries(GDAL_HTTP_RETRY)) expect(gdal.config.get(k)).toBe(v);
  });
});
