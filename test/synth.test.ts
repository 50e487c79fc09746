import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { scratchSize } from '../constructs/stage.ts';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { App, ApiObject, JsonPatch } from 'cdk8s';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDatasets, checkManifests, credentialIn, jobName, ClusterProfile, collectManifests, maxConcurrentPods, PolicyError, publicKeys,
  parseDatasetSpec, readDist, renderManifests, synthesize, writeDist, type DatasetSpec, type Manifests, type Violation,
} from '../constructs/index.ts';
import { datasets } from '../datasets/index.ts';
import { padus41 } from '../datasets/padus-4-1.ts';
import { workerStages } from '../worker/main.ts';
import { parseCommandArgs } from '../worker/core/command.ts';
import { validateDist } from '../cli/manifests/synth.ts';
import { cng, MIRRORED, repoCopy, ROOT, smallSpec } from './helpers.ts';

const NRP = ClusterProfile.NRP;
const jobs = (m: Manifests) => [...m.values()].flat().filter((o) => o.kind === 'Job');
const kustomizations = (m: Manifests) => [...m.values()].flat().filter((o) => o.kind === 'Kustomization');
const container = (job: any) => job.spec.template.spec.containers[0];
const env = (job: any, name: string) => container(job).env.find((e: any) => e.name === name);

describe('PAD-US 4.1 manifests', () => {
  const { manifests } = synthesize([padus41]);
  const all = jobs(manifests);
  const byStage = (id: string) => manifests.get(`padus-4-1/${id}/manifest.yaml`)!;

  it('has a pipeline per spatial layer and an export per lookup table', () => {
    for (const layer of ['fee', 'easement', 'proclamation', 'marine', 'designation', 'combined'])
      for (const stage of ['convert', 'hex', 'repartition', 'tiles', 'tiles-merge']) expect(byStage(`${layer}-${stage}`), `${layer}-${stage}`).toBeDefined();
    const tables = all.filter((j) => j.metadata.labels['cng/stage'] === 'table').map((j) => container(j).command[5]);
    expect(tables.sort()).toEqual(['Agency_Name', 'Agency_Type', 'Category', 'Designation_Type', 'GAP_Status', 'IUCN_Category', 'Public_Access', 'State_Name']);
    expect(byStage('setup-bucket')).toHaveLength(1);
  });

  it('applies the cluster policy to every pod', () => {
    expect(all.length).toBe(1 + 6 * 6 + 1 + 8 + 1); // 6 stages a layer, combined hex is two Jobs; + docs (no sync: NRP declares no mirror secret)
    for (const job of all) {
      const pod = job.spec.template.spec;
      expect(job.metadata.namespace).toBe('biodiversity');
      expect(pod.priorityClassName).toBe('opportunistic');
      expect(pod.restartPolicy).toBe('Never');
      expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
        { matchExpressions: [{ key: 'feature.node.kubernetes.io/pci-10de.present', operator: 'NotIn', values: ['true'] }] },
      ]);
      expect(container(job).resources.requests).toEqual(container(job).resources.limits);
      expect(Object.keys(container(job).resources.limits).sort()).toEqual(['cpu', 'ephemeral-storage', 'memory']);
      expect(env(job, 'AWS_ENDPOINT_URL_S3').value).toBe('http://rook-ceph-rgw-nautiluss3.rook');
      expect(env(job, 'AWS_SECRET_ACCESS_KEY')).toEqual({ name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'aws', key: 'AWS_SECRET_ACCESS_KEY' } } });
      expect(env(job, 'AWS_ACCESS_KEY_ID').valueFrom.secretKeyRef.name).toBe('aws');
      expect(job.spec.ttlSecondsAfterFinished).toBeUndefined();
      expect(job.spec.completionMode).toBe('Indexed');
      expect(job.spec.backoffLimitPerIndex).toBe(2);
      expect(job.spec.podFailurePolicy.rules).toContainEqual({ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] });
      expect(container(job).image).toMatch(/^ghcr\.io\/.+:src-[0-9a-f]{12}$/); // the worker's digest (test/image.test.ts)
      expect(job.metadata.name.length).toBeLessThanOrEqual(63);
      expect(job.metadata.name).toMatch(/^padus-4-1-[a-z0-9-]+-r1-[0-9a-f]{8}$/);
    }
    expect(checkManifests(manifests, NRP)).toEqual([]);
  });

  it('sizes hex Jobs from the declared feature counts, ≤200 completions each, with offsets', () => {
    const combined = byStage('combined-hex');
    expect(combined.map((j) => j.spec.completions)).toEqual([200, 129]); // ceil(656,986 / 2,000) = 329 units
    expect(combined.map((j) => env(j, 'CNG_INDEX_OFFSET').value)).toEqual(['0', '200']);
    expect(byStage('fee-hex').map((j) => j.spec.completions)).toEqual([149]);
    expect(byStage('marine-hex').map((j) => j.spec.completions)).toEqual([1]);
    expect(container(combined[0]).command).toEqual([
      'cng-worker', 'hex', '--input', 's3://public-padus/padus-4-1/combined/_work/run-1/combined.parquet',
      '--plan', 's3://public-padus/padus-4-1/combined/_work/run-1/hex-plan.json',
      '--chunks', 's3://public-padus/padus-4-1/combined/_work/run-1/chunks',
      '--resolution', '10', '--parents', '9,8', '--containment', 'center',
    ]);
    const convert = container(byStage('combined-convert')[0]).command;
    expect(convert.slice(convert.indexOf('--units'), convert.indexOf('--units') + 2)).toEqual(['--units', '329']);
  });

  it('writes products in the padus-4-1 release layout', () => {
    const args = (id: string) => container(byStage(id)[0]).command.join(' ');
    expect(args('fee-publish')).toContain('--out s3://public-padus/padus-4-1/fee.parquet --out-hex s3://public-padus/padus-4-1/fee/hex --out-pmtiles s3://public-padus/padus-4-1/fee.pmtiles --manifest s3://public-padus/padus-4-1/fee/manifest.json');
    // Every other stage writes under the run's work directory only.
    for (const stage of ['convert', 'hex', 'repartition', 'tiles', 'tiles-merge'])
      for (const url of container(byStage(`fee-${stage}`)[0]).command.filter((a: string) => a.startsWith('s3://public-padus/padus-4-1/')))
        expect(url, stage).toMatch(/^s3:\/\/public-padus\/padus-4-1\/fee\/_work\/run-1\//);
    expect(args('fee-tiles-merge')).toContain('--out s3://public-padus/padus-4-1/fee/_work/run-1/fee.pmtiles --report s3://public-padus/padus-4-1/fee/_work/run-1/tiles.json');
    expect(args('fee-tiles')).toContain('--input s3://public-padus/padus-4-1/fee/_work/run-1/fee.parquet --layer-name fee --min-zoom 0 --max-zoom 14 --parts s3://public-padus/padus-4-1/fee/_work/run-1/tiles');
    expect(byStage('fee-repartition')[0].spec.completions).toBe(8); // ceil(296,456 / 40,000)
    expect(byStage('marine-repartition')[0].spec.completions).toBe(1);
    expect(container(byStage('marine-repartition')[0]).resources.limits.memory).toBe('4Gi'); // ≤ 50,000 features
    expect(args('table-iucn-category')).toContain('--out s3://public-padus/padus-4-1/lookup/IUCN_Category.parquet');
    expect(args('fee-convert')).toContain('--source s3://public-padus/raw/PADUS4_1Geodatabase.gdb --layer PADUS4_1Fee');
  });

  it('orders stages with Flux dependsOn: convert → hex → repartition, convert → tiles → tiles-merge, both → publish', () => {
    const ks = new Map(kustomizations(manifests).map((k) => [k.metadata.name, k]));
    const deps = (n: string) => (ks.get(`padus-4-1-${n}`)!.spec.dependsOn ?? []).map((d: any) => d.name);
    expect(deps('setup-bucket')).toEqual([]);
    for (const l of ['fee', 'combined', 'designation']) {
      expect(deps(`${l}-convert`)).toEqual(['padus-4-1-setup-bucket']);
      expect(deps(`${l}-hex`)).toEqual([`padus-4-1-${l}-convert`]);
      expect(deps(`${l}-repartition`)).toEqual([`padus-4-1-${l}-hex`]);
      expect(deps(`${l}-tiles`)).toEqual([`padus-4-1-${l}-convert`]);
      expect(deps(`${l}-tiles-merge`)).toEqual([`padus-4-1-${l}-tiles`]);
      expect(deps(`${l}-publish`)).toEqual([`padus-4-1-${l}-repartition`, `padus-4-1-${l}-tiles-merge`]);
    }
    const hex = ks.get('padus-4-1-combined-hex')!;
    expect(hex.spec).toMatchObject({
      wait: true, prune: true, timeout: '1m', retryInterval: '5m', serviceAccountName: 'cng-flux', path: './dist/padus-4-1/combined-hex', sourceRef: { kind: 'GitRepository', name: 'cng-datasets' },
    });
    expect(hex.metadata.namespace).toBe('biodiversity');
  });

  it('keeps the pods that may run at once within the namespace budget', () => {
    const stages = kustomizations(manifests).map((k) => ({
      name: k.metadata.name,
      dependsOn: (k.spec.dependsOn ?? []).map((d: any) => d.name),
      pods: jobs(new Map([...manifests].filter(([p]) => p.startsWith(k.spec.path.slice(7) + '/')))).reduce((n, j) => n + j.spec.parallelism, 0),
    }));
    const { pods } = maxConcurrentPods(stages);
    expect(pods).toBeGreaterThan(50);
    expect(pods).toBeLessThanOrEqual(140); // the dataset's maxPods share of the 200 budget
  });
});

describe('job names', () => {
  const names = (spec = smallSpec()) =>
    new Map(jobs(synthesize([spec]).manifests).map((j) => [`${j.metadata.labels['cng/stage']}:${j.metadata.labels['cng/layer'] ?? container(j).command[5]}`, j.metadata.name]));

  it('are deterministic', () => {
    expect(renderManifests(synthesize(datasets).manifests)).toEqual(renderManifests(synthesize(datasets).manifests));
  });

  it('change for every Job when the run number is bumped', () => {
    const a = names(), b = names(smallSpec({ run: 2 }));
    for (const [k, v] of a) {
      expect(b.get(k)).not.toBe(v);
      expect(b.get(k)).toMatch(/-r2-[0-9a-f]{8}$/);
    }
  });

  it('change for a changed stage and everything downstream of it, and nothing else', () => {
    const a = names(), b = names(smallSpec({ resources: { hex: { memory: '8Gi' } } }));
    const changed = [...a.keys()].filter((k) => a.get(k) !== b.get(k)).sort();
    expect(changed).toEqual(['hex:fee', 'hex:marine', 'publish:fee', 'publish:marine', 'repartition:fee', 'repartition:marine']);
  });

  it('stay within 63 characters, shortening the descriptive part', () => {
    // Room is left for the pod hostname `<name>-<largest index>` (61 with one completion, 59 with 200).
    const name = jobName('a-very-long-dataset-name-for-testing-xy', 'a-rather-long-layer-repartition', 3, 12, 'abcdef12');
    expect(name).toBe('a-very-long-dataset-name-for-testing-xy-a-rat-p3-r12-abcdef12');
    expect(`${name}-0`.length).toBe(63);
    const indexed = jobName('a-very-long-dataset-name-for-testing-xy', 'a-rather-long-layer-repartition', 3, 12, 'abcdef12', 200);
    expect(indexed).toBe('a-very-long-dataset-name-for-testing-xy-a-r-p3-r12-abcdef12');
    expect(`${indexed}-199`.length).toBe(63);
  });

  it('reject a dataset whose stage names cannot fit a 63-character Kustomization name', () => {
    const spec = smallSpec({ name: 'a-very-long-dataset-name-for-testing-x', layers: { 'an-extremely-long-layer-key': { layer: 'L', features: 10 } } });
    expect(() => synthesize([spec])).toThrow(/layers\.an-extremely-long-layer-key: .*"a-very-long-dataset-name-for-testing-x-an-extremely-long-layer-key-repartition" is 78 characters/);
  });
});

describe('tiles stage sizing (from the declared features and vertices, overridable)', () => {
  const tilesJob = (spec: DatasetSpec, layer: string, stage = 'tiles') => synthesize([spec]).manifests.get(`demo-1/${layer}-${stage}/manifest.yaml`)![0];
  const limits = (j: any) => container(j).resources.limits;

  it('one unit for a small layer; 1 + one per 10 M vertices for a big one, with memory and scratch to match', () => {
    const small = tilesJob(smallSpec({ layers: { s: { layer: 'S', features: 1_000 } } }), 's');
    expect([small.spec.completions, limits(small).memory]).toEqual([1, '2Gi']);
    const big = tilesJob(smallSpec({ layers: { b: { layer: 'B', features: 100_000, pmtiles: { vertices: 50_000_000 } } } }), 'b');
    expect(big.spec.completions).toBe(6);
    expect(container(big).command.join(' ')).toContain('--units 6');
    // 1.5 × 50 M / 5 vertices × 150 bytes ≈ 2.1 GiB, + 1 GiB
    expect(limits(big)).toMatchObject({ cpu: '1', memory: '4Gi', 'ephemeral-storage': '11Gi' });
    const merge = tilesJob(smallSpec({ layers: { b: { layer: 'B', features: 100_000, pmtiles: { vertices: 50_000_000 } } } }), 'b', 'tiles-merge');
    expect(container(merge).command.join(' ')).toContain('--units 6');
  });

  it('the dataset file overrides units, split zoom, strategy and pod sizes', () => {
    const spec = smallSpec({
      resources: { tiles: { memory: '12Gi' } },
      layers: { b: { layer: 'B', features: 100_000, pmtiles: { units: 3, splitZoom: 5, strategy: 'drop-densest' }, resources: { 'tiles-merge': { memory: '6Gi' } } } },
    });
    const j = tilesJob(spec, 'b');
    expect(j.spec.completions).toBe(3);
    expect(container(j).command.join(' ')).toContain('--units 3 --split-zoom 5 --strategy drop-densest');
    expect(limits(j).memory).toBe('12Gi');
    expect(limits(tilesJob(spec, 'b', 'tiles-merge')).memory).toBe('6Gi');
  });
});

describe('hex stage splitting', () => {
  it('splits 450 work items into Jobs of 200, 200 and 50 told offsets 0, 200 and 400', () => {
    const spec = smallSpec({ layers: { big: { layer: 'Big', features: 450, hex: { featuresPerUnit: 1 } } } });
    const { manifests } = synthesize([spec]);
    const hex = manifests.get('demo-1/big-hex/manifest.yaml')!;
    expect(hex.map((j) => j.spec.completions)).toEqual([200, 200, 50]);
    expect(hex.map((j) => env(j, 'CNG_INDEX_OFFSET').value)).toEqual(['0', '200', '400']);
    expect(hex.map((j) => j.metadata.labels['cng/part'])).toEqual(['0', '1', '2']);
    expect(new Set(hex.map((j) => j.metadata.name)).size).toBe(3);
    const k = kustomizations(manifests).find((x) => x.metadata.name === 'demo-1-big-hex')!;
    expect(k.spec.path).toBe('./dist/demo-1/big-hex'); // one Flux stage waits for all three Jobs
  });

  it('renders an Armada job set instead when the dataset asks, and suspends what depends on it', () => {
    const spec = smallSpec({ layers: { big: { layer: 'Big', features: 450, hex: { featuresPerUnit: 1, runner: 'armada' } } } });
    const { manifests } = synthesize([spec]);
    expect(manifests.has('demo-1/big-hex/manifest.yaml')).toBe(false);
    const [set] = manifests.get('armada/demo-1-big-hex.yaml')!;
    expect(set.queue).toBe('biodiversity');
    expect(set.jobSetId).toMatch(/^demo-1-big-hex-r1-[0-9a-f]{8}$/);
    expect(set.jobs).toHaveLength(450);
    expect(set.jobs[417]).toMatchObject({ priority: 0, namespace: 'biodiversity', podSpec: { priorityClassName: 'opportunistic' } });
    const c = set.jobs[417].podSpec.containers[0];
    expect(c.env).toContainEqual({ name: 'JOB_COMPLETION_INDEX', value: '417' });
    expect(c.resources.requests).toEqual(c.resources.limits);
    const ks = kustomizations(manifests);
    expect(ks.find((k) => k.metadata.name === 'demo-1-big-hex')).toBeUndefined();
    expect(ks.find((k) => k.metadata.name === 'demo-1-big-repartition')!.spec.suspend).toBe(true);
  });
});

describe('scratch disks sized from the dataset file', () => {
  /** Each stage's scratch: the container's ephemeral-storage (the emptyDir gets it less the headroom). */
  function scratch(spec: DatasetSpec): Record<string, string> {
    const out: Record<string, string> = {};
    for (const job of jobs(synthesize([spec]).manifests)) {
      const pod = job.spec.template.spec;
      const limit = container(job).resources.limits['ephemeral-storage'];
      expect(pod.volumes.find((v: any) => v.name === 'scratch').emptyDir.sizeLimit).toBe(scratchSize(limit));
      out[job.metadata.name] = limit;
    }
    return out;
  }
  const stageOf = (all: Record<string, string>, id: string) => Object.entries(all).find(([k]) => new RegExp(`^demo-1-${id}-(p\\d+-)?r\\d+-`).test(k))?.[1];

  it('grows convert, hex and repartition with features and vertices, never below the defaults; a raster\'s size sizes cog', () => {
    const small = scratch(smallSpec());
    for (const id of ['fee-convert', 'fee-hex', 'fee-repartition', 'fee-tiles']) expect(stageOf(small, id), id).toBeDefined();
    expect([stageOf(small, 'fee-convert'), stageOf(small, 'fee-hex'), stageOf(small, 'fee-repartition')]).toEqual(['40Gi', '10Gi', '20Gi']); // repartition: 20Gi for a layer of ≤ 50,000 features
    // 2 M features of 2,000 vertices: R = 4e9 × 16 + 2e6 × 2 KiB, G = 4e9 × 12 + 2e6 × 1 KiB
    const big = scratch(smallSpec({ layers: { fee: { layer: 'Demo_Fee', features: 2_000_000, vertices: 4_000_000_000, hex: { featuresPerUnit: 20_000 } } } }));
    const R = 4e9 * 16 + 2e6 * 2048;
    const G = 4e9 * 12 + 2e6 * 1024;
    const gi = (b: number) => `${Math.ceil(b / 2 ** 30)}Gi`;
    expect([stageOf(big, 'fee-convert'), stageOf(big, 'fee-hex'), stageOf(big, 'fee-repartition')]).toEqual([gi(3 * R), gi(2 * G), gi(3 * G)]);
    expect(stageOf(big, 'table-public-access')).toBe('5Gi');
    // without `vertices`: 250 a feature
    const noVertices = scratch(smallSpec({ layers: { fee: { layer: 'Demo_Fee', features: 20_000_000, hex: { featuresPerUnit: 200_000 } } } }));
    expect(stageOf(noVertices, 'fee-convert')).toBe(gi(3 * (20e6 * 250 * 16 + 20e6 * 2048)));
    // a raster of 200,000 × 100,000 pixels, 2 bands
    const raster = scratch(smallSpec({ layers: {}, tables: [], source: undefined, rasters: { dem: { source: 's3://public-demo/raw/dem.tif', valueKind: 'continuous', size: { width: 200_000, height: 100_000, bands: 2 } } } }));
    expect(stageOf(raster, 'dem-cog')).toBe(gi(3 * 200_000 * 100_000 * 2 * 4));
    expect(stageOf(raster, 'dem-raster-hex')).toBe('20Gi');
  });

  it('the dataset file\'s resources.<stage>.ephemeralStorage overrides the estimate (dataset-wide and per layer)', () => {
    const over = scratch(smallSpec({
      resources: { convert: { ephemeralStorage: '7Gi' } },
      layers: { fee: { layer: 'Demo_Fee', features: 2_000_000, vertices: 4_000_000_000, hex: { featuresPerUnit: 20_000 }, resources: { tiles: { ephemeralStorage: '9Gi' } } } },
    }));
    expect(stageOf(over, 'fee-convert')).toBe('7Gi');
    expect(stageOf(over, 'fee-tiles')).toBe('9Gi');
    expect(stageOf(over, 'fee-hex')).not.toBe('10Gi');
  });
});

describe('policy violations are rejected at synth time', () => {
  /** Builds the small dataset, applies an escape-hatch patch to one Job, and checks against NRP. */
  function violations(patch: (job: ApiObject) => void, profile = NRP, against = NRP): Violation[] {
    const [d] = buildDatasets(new App(), [smallSpec()], profile);
    patch(d.stages.find((s) => s.stageId === 'fee-hex')!.jobs[0].apiObject);
    return checkManifests(collectManifests([d]), against);
  }
  const rules = (vs: Violation[]) => [...new Set(vs.map((v) => v.rule))];
  const c0 = '/spec/template/spec/containers/0';

  it.each([
    ['namespace', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace('/metadata/namespace', 'default'))],
    ['gpu-affinity', (j: ApiObject) => j.addJsonPatch(JsonPatch.remove('/spec/template/spec/affinity'))],
    ['gpu-affinity', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace('/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/0/operator', 'In'))],
    ['priority-class', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace('/spec/template/spec/priorityClassName', 'high'))],
    ['restart-policy', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace('/spec/template/spec/restartPolicy', 'OnFailure'))],
    ['requests-equal-limits', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace(`${c0}/resources/limits/memory`, '8Gi'))],
    ['requests-equal-limits', (j: ApiObject) => j.addJsonPatch(JsonPatch.remove(`${c0}/resources/requests/ephemeral-storage`))],
    ['credentials', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace(`${c0}/env/3`, { name: 'AWS_SECRET_ACCESS_KEY', value: 'hunter2' }))],
    ['credentials', (j: ApiObject) => j.addJsonPatch(JsonPatch.add(`${c0}/envFrom`, [{ secretRef: { name: 'rclone-config' } }]))],
    ['secret-declared', (j: ApiObject) => j.addJsonPatch(JsonPatch.add(`${c0}/env/-`, { name: 'MIRROR_AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'source-coop', key: 'AWS_ACCESS_KEY_ID' } } }))],
    ['secret-declared', (j: ApiObject) => j.addJsonPatch(JsonPatch.add(`${c0}/env/-`, { name: 'RCLONE_CONFIG', valueFrom: { secretKeyRef: { name: 'aws', key: 'rclone.conf' } } }))],
    ['s3-endpoint', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace(`${c0}/env/0/value`, 'https://s3-west.nrp-nautilus.io'))],
    ['image-pinned', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace(`${c0}/image`, 'ghcr.io/boettiger-lab/cng-worker:latest'))],
    ['image-pinned', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace(`${c0}/image`, 'ghcr.io/boettiger-lab/cng-worker'))],
    ['no-ttl', (j: ApiObject) => j.addJsonPatch(JsonPatch.add('/spec/ttlSecondsAfterFinished', 3600))],
    ['indexed', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace('/spec/completionMode', 'NonIndexed'))],
    ['indexed', (j: ApiObject) => j.addJsonPatch(JsonPatch.remove('/spec/backoffLimitPerIndex'))],
    ['max-completions', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace('/spec/completions', 400), JsonPatch.replace('/spec/parallelism', 1))],
    ['preemption-tolerant', (j: ApiObject) => j.addJsonPatch(JsonPatch.remove('/spec/podFailurePolicy'))],
    ['parallelism', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace('/spec/parallelism', 0))],
    ['dns-name', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace('/metadata/name', 'x'.repeat(64)))],
    ['dns-name', (j: ApiObject) => j.addJsonPatch(JsonPatch.replace('/metadata/name', 'Demo_Fee_Hex'))],
  ])('%s', (rule, patch) => {
    const vs = violations(patch);
    expect(rules(vs)).toEqual([rule]);
    expect(vs[0]).toMatchObject({ dataset: 'demo-1', object: expect.stringMatching(/^Job\//) });
  });

  it('the mirror secret, once declared, is allowed only into MIRROR_* variables (the sync stage)', () => {
    const ok = violations((j) =>
      j.addJsonPatch(JsonPatch.add(`${c0}/env/-`, { name: 'MIRROR_AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: NRP.mirrorSecretName, key: 'AWS_ACCESS_KEY_ID' } } })),
      MIRRORED, MIRRORED,
    );
    expect(ok).toEqual([]);
    const bad = violations((j) =>
      j.addJsonPatch(JsonPatch.add(`${c0}/env/-`, { name: 'AWS_SESSION_TOKEN', valueFrom: { secretKeyRef: { name: NRP.mirrorSecretName, key: 'AWS_SECRET_ACCESS_KEY' } } })),
      MIRRORED, MIRRORED,
    );
    expect(bad.map((v) => v.message)).toEqual([expect.stringMatching(/reads the mirror secret "source-coop"; only MIRROR_\* variables may/)]);
  });

  it('a profile that breaks policy is caught too', () => {
    const vs = violations(() => {}, NRP.with({ priorityClassName: 'high' }));
    expect(rules(vs)).toEqual(['priority-class']);
    expect(vs.length).toBe(jobs(synthesize([smallSpec()]).manifests).length);
  });

  it('over-budget parallelism fails with the overlapping stages named', () => {
    const err = (() => {
      try {
        synthesize([smallSpec({ hex: { parallelism: 150 }, layers: { a: { layer: 'A', features: 400_000 }, b: { layer: 'B', features: 400_000 } } })]);
      } catch (e) {
        return e as PolicyError;
      }
    })();
    expect(err).toBeInstanceOf(PolicyError);
    expect(err!.violations.map((v) => v.rule)).toEqual(['pod-budget']);
    // 2 × 150 hex pods, 2 × 9 tiles units (80 M vertices each by default), the table and the setup.
    expect(err!.message).toMatch(/up to 319 pods may run at once, over the namespace budget of 200/);
    expect(err!.message).toContain('demo-1-a-tiles');
    expect(err!.message).toContain('demo-1-a-hex');
    expect(err!.message).toContain('demo-1-b-hex');
  });

  it('the same budget counts independent datasets together: those that cannot run at once are ordered (test/lanes.test.ts)', () => {
    const layers = { fee: { layer: 'Fee', features: 400_000 } };
    const a = smallSpec({ name: 'a', prefix: 'a', maxPods: 120, layers }), b = smallSpec({ name: 'b', prefix: 'b', maxPods: 120, layers });
    expect(synthesize([a]).lanes).toEqual([expect.objectContaining({ dataset: 'a', after: [] })]);
    expect(synthesize([a, b]).lanes.map((l) => [l.dataset, l.after])).toEqual([['a', []], ['b', ['a']]]);
  });

  it('an invalid dataset file is rejected naming the dataset and field', () => {
    expect(() => synthesize([smallSpec({ run: 0 })])).toThrow(/dataset demo-1: invalid dataset file:\n\s+run:/);
    expect(() => synthesize([smallSpec({ layers: { Fee: { layer: 'x', features: 1 } } })])).toThrow(/layers\.Fee/);
    expect(() => synthesize([{ ...smallSpec(), extra: 1 } as any])).toThrow(/Unrecognized key/);
  });
});

describe("a layer's declared source encoding", () => {
  it('reaches convert as --encoding (a command the worker accepts); bad values are rejected naming the field', () => {
    const spec = smallSpec({ source: 's3://public-demo/raw/places.shp', tables: [], layers: { fee: { layer: 'places', features: 10, encoding: 'ISO-8859-1' } } });
    const convert = jobs(synthesize([spec]).manifests).find((j) => j.metadata.labels['cng/stage'] === 'convert')!;
    const [, stage, ...args] = container(convert).command;
    expect(args.join(' ')).toContain('--layer places --out');
    const at = args.indexOf('--encoding');
    expect(args.slice(at, at + 2)).toEqual(['--encoding', 'ISO-8859-1']);
    expect(parseCommandArgs(workerStages.find((s) => s.name === stage)!, args).values).toMatchObject({ encoding: 'ISO-8859-1' });
    expect(container(jobs(synthesize([smallSpec()]).manifests).find((j) => j.metadata.labels['cng/stage'] === 'convert')).command).not.toContain('--encoding');
    expect(() => synthesize([smallSpec({ layers: { fee: { layer: 'x', features: 1, encoding: 'latin 1; rm -rf' } } })])).toThrow(/layers\.fee\.encoding/);
  });
});

describe('every Job runs a command the worker accepts', () => {
  it('parses each synthesized container command with the worker CLI', () => {
    for (const job of jobs(synthesize(datasets).manifests)) {
      const [bin, stage, ...args] = container(job).command;
      expect(bin).toBe('cng-worker');
      const cmd = workerStages.find((s) => s.name === stage);
      expect(cmd, stage).toBeDefined();
      expect(() => parseCommandArgs(cmd!, args)).not.toThrow();
    }
  });
});

describe('cng validate', () => {
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'cng-dist-'));
    writeDist(renderManifests(synthesize(datasets).manifests), dir);
    return dir;
  };

  it('accepts a fresh synth: schemas, policy and no drift', () => {
    const dir = fresh();
    expect(validateDist(dir, { drift: true })).toEqual([]);
    rmSync(dir, { recursive: true });
  });

  it("works through package.json's scripts, as npm start runs it on a fresh clone (no global cng)", () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    // npm puts node_modules/.bin on PATH, but never links this package's own bins there.
    for (const [name, line] of Object.entries(scripts)) expect(line, name).not.toMatch(/(^|&&\s*)cng(-worker)?\s/);
    const r = spawnSync('npm', ['run', '--silent', 'validate'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${dirname(process.execPath)}:/usr/bin:/bin` } });
    expect(r.stdout + r.stderr).toMatch(/dist is valid/);
    expect(r.status).toBe(0);
  });

  it('names files that drifted, went missing or are stale', () => {
    const dir = fresh();
    const hex = join(dir, 'padus-4-1/fee-hex/manifest.yaml');
    writeFileSync(hex, readFileSync(hex, 'utf8').replace('parallelism: ', 'parallelism: 1'));
    unlinkSync(join(dir, 'padus-4-1/marine-tiles-merge/manifest.yaml'));
    writeFileSync(join(dir, 'padus-4-1/old-stage.yaml'), 'apiVersion: batch/v1\nkind: Job\n');
    const problems = validateDist(dir, { drift: true }).join('\n');
    expect(problems).toContain('[drift] dist/padus-4-1/fee-hex/manifest.yaml: differs from a fresh synth');
    expect(problems).toContain('[drift] dist/padus-4-1/marine-tiles-merge/manifest.yaml: missing');
    expect(problems).toContain('[drift] dist/padus-4-1/old-stage.yaml: not produced by a fresh synth');
    rmSync(dir, { recursive: true });
  });

  it('rejects objects that break the Kubernetes or Flux schemas', () => {
    const dir = fresh();
    const f = join(dir, 'padus-4-1/marine-hex/manifest.yaml');
    const [job] = YAML.parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS());
    job.spec.completions = 'many';
    job.spec.template.spec.containers[0].resources.limits.memory = { amount: 4 };
    writeFileSync(f, YAML.stringify(job));
    const k = join(dir, 'flux/padus-4-1.yaml');
    writeFileSync(k, readFileSync(k, 'utf8').replace('prune: true', 'prune: sometimes'));
    const problems = validateDist(dir, { drift: false }).join('\n');
    expect(problems).toMatch(/marine-hex\/manifest.yaml: Job\/padus-4-1-marine-hex-r1-[0-9a-f]+: \[schema\].*completions/);
    expect(problems).toMatch(/flux\/padus-4-1.yaml: Kustomization\/padus-4-1-[a-z-]+: \[schema\].*prune/);
    rmSync(dir, { recursive: true });
  });

  it('the committed dist/ is current and valid (the CI drift check)', () => {
    const r = cng(['validate']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('cng synth / validate on an edited dataset file', () => {
  it('synth fails naming dataset, object and rule when a dataset file breaks the pod budget', () => {
    const dir = repoCopy();
    const f = join(dir, 'datasets/padus-4-1.ts');
    writeFileSync(f, readFileSync(f, 'utf8').replace("hex: { resolution: 10, parents: [9, 8] }", "hex: { resolution: 10, parents: [9, 8], parallelism: 120 }"));
    const r = cng(['synth'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dataset \*, Kustomizations: \[pod-budget\] up to \d+ pods may run at once/);
    expect(r.stderr).toContain('padus-4-1-combined-hex');
    // nothing was written: dist/ still validates against the old sources? no — sources changed, so drift is reported
    const v = cng(['validate'], { cwd: dir });
    expect(v.code).toBe(1);
    expect(v.stderr).toContain('[drift] a fresh synth fails');
    rmSync(dir, { recursive: true });
  });

  it('synth then validate pass after a legitimate change, and validate catches an unsynthesized change', () => {
    const dir = repoCopy();
    const f = join(dir, 'datasets/cpad-2025b.ts');
    writeFileSync(f, readFileSync(f, 'utf8').replace('run: 1', 'run: 2'));
    const before = cng(['validate'], { cwd: dir });
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/\[drift\] dist\/cpad-2025b\/holdings-hex\/manifest.yaml: differs/);
    expect(cng(['synth'], { cwd: dir }).code).toBe(0);
    const after = cng(['validate'], { cwd: dir });
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    rmSync(dir, { recursive: true });
  }, 180_000); // three CLI runs over the whole catalogue (13 datasets, 284 files)

  it('exit codes: --help 0, unknown flag 2, unknown command 2', () => {
    expect(cng(['synth', '--help']).code).toBe(0);
    expect(cng(['validate', '--bogus']).code).toBe(2);
    expect(cng(['frobnicate']).code).toBe(2);
    expect(cng(['--help']).stdout).toMatch(/synth.*\n.*validate.*\n.*diff.*\n.*inspect/);
  });

  it('command tables keep a space between every name and its summary (raster-manifest is the longest stage)', () => {
    for (const args of [['--help'], ['worker', '--help']]) {
      const rows = cng(args).stdout.split('\n').filter((l) => /^  [a-z]/.test(l));
      expect(rows.length).toBeGreaterThan(5);
      for (const row of rows) expect(row, row).toMatch(/^  [a-z][a-z0-9-]* {2,}\S/);
    }
    expect(cng(['worker', '--help']).stdout).toMatch(/^  raster-manifest {2,}check every raster-hex unit finished/m);
  });
});

describe('docs and sync stages (the mirror secret declared)', () => {
  const { manifests } = synthesize([padus41], MIRRORED);
  const ks = new Map(kustomizations(manifests).map((k) => [k.metadata.name, k]));
  const deps = (n: string) => (ks.get(`padus-4-1-${n}`)!.spec.dependsOn ?? []).map((d: any) => d.name).sort();
  const job = (id: string) => jobs(new Map([...manifests].filter(([p]) => p === `padus-4-1/${id}/manifest.yaml`)))[0];

  it('docs runs after every product stage; sync after docs', () => {
    const products = [...['fee', 'easement', 'proclamation', 'marine', 'designation', 'combined'].map((l) => `${l}-publish`),
      ...['public-access', 'category', 'designation-type', 'gap-status', 'iucn-category', 'agency-name', 'agency-type', 'state-name'].map((t) => `table-${t}`)];
    expect(deps('docs')).toEqual(products.map((p) => `padus-4-1-${p}`).sort());
    expect(deps('sync')).toEqual(['padus-4-1-docs']);
    expect(ks.get('padus-4-1-docs')!.metadata.labels['cng/stage']).toBe('docs');
  });

  it('docs gets the dataset JSON (product URLs, public endpoint, prose) on its command line', () => {
    const cmd = container(job('docs')).command;
    expect(cmd.slice(0, 3)).toEqual(['cng-worker', 'docs', '--dataset-json']);
    const input = JSON.parse(cmd[3]);
    expect(input).toMatchObject({ version: 1, name: 'padus-4-1', readme: 's3://public-padus/README.md', stac: 's3://public-padus/stac-collection.json', publicEndpoint: 'https://s3-west.nrp-nautilus.io' });
    expect(input.layers[0]).toMatchObject({ key: 'fee', geoparquet: 's3://public-padus/padus-4-1/fee.parquet', hex: 's3://public-padus/padus-4-1/fee/hex', resolution: 10, parents: [9, 8] });
    expect(input.prose.title).toMatch(/^PAD-US 4\.1/);
    expect(workerStages.find((c) => c.name === 'docs')).toBeDefined();
    expect(() => parseCommandArgs(workerStages.find((c) => c.name === 'docs')!, cmd.slice(2))).not.toThrow();
  });

  it('sync copies the dataset prefix and the docs to the mirror with the mirror secret', () => {
    const j = job('sync');
    const cmd = container(j).command;
    expect(cmd).toEqual([
      'cng-worker', 'sync', '--from', 's3://public-padus/padus-4-1', '--to', 's3://cboettig/padus/padus-4-1',
      '--extra', 's3://public-padus/README.md,s3://public-padus/stac-collection.json',
    ]);
    expect(() => parseCommandArgs(workerStages.find((c) => c.name === 'sync')!, cmd.slice(2))).not.toThrow();
    expect(env(j, 'MIRROR_ENDPOINT_URL_S3')).toEqual({ name: 'MIRROR_ENDPOINT_URL_S3', value: 'https://data.source.coop' });
    expect(env(j, 'MIRROR_AWS_ACCESS_KEY_ID')).toEqual({ name: 'MIRROR_AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'source-coop', key: 'AWS_ACCESS_KEY_ID' } } });
    expect(env(j, 'MIRROR_AWS_SECRET_ACCESS_KEY')).toEqual({ name: 'MIRROR_AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'source-coop', key: 'AWS_SECRET_ACCESS_KEY' } } });
    expect(env(j, 'AWS_ENDPOINT_URL_S3').value).toBe('http://rook-ceph-rgw-nautiluss3.rook');
    expect(checkManifests(manifests, MIRRORED)).toEqual([]);
  });

  it('a bucket-root dataset mirrors the whole bucket; mirror.delete adds --delete; no prose, no docs; no mirror, no sync', () => {
    const cpad = synthesize([smallSpec({ prefix: '', mirror: { bucket: 'cboettig', prefix: 'demo', delete: true } })], MIRRORED).manifests;
    const sync = jobs(new Map([...cpad].filter(([p]) => p.endsWith('/sync/manifest.yaml'))))[0];
    expect(container(sync).command.slice(2)).toEqual(['--from', 's3://public-demo', '--to', 's3://cboettig/demo', '--delete']);
    expect([...cpad.keys()].some((p) => p.includes('/docs/'))).toBe(false);
    expect([...synthesize([smallSpec()]).manifests.keys()].some((p) => /\/(docs|sync)\//.test(p))).toBe(false);
  });

  it('a prose edit re-runs only docs and sync', () => {
    const edited = { ...padus41, prose: { ...padus41.prose!, title: 'PAD-US 4.1 (edited)' } };
    const names = (m: Manifests) => new Map(jobs(m).map((j) => [j.metadata.name.replace(/-r\d+-[0-9a-f]{8}$/, ''), j.metadata.name]));
    const a = names(synthesize([padus41], MIRRORED).manifests);
    const b = names(synthesize([edited], MIRRORED).manifests);
    expect([...a.keys()]).toEqual([...b.keys()]);
    expect([...a.keys()].filter((k) => a.get(k) !== b.get(k)).sort()).toEqual(['padus-4-1-docs', 'padus-4-1-sync']);
  });
});

describe('cng synth rejects dataset files that would collide, leak or never finish (issue #16)', () => {
  const base = (over: Partial<DatasetSpec>): DatasetSpec => ({
    name: 'x', title: 'Bad', run: 1, source: 's3://public-bad/raw/bad.gdb', bucket: 'public-bad', prefix: 'x',
    layers: { fee: { layer: 'Fee', features: 5_000 } }, ...over,
  });
  /** One dataset file per kind of problem (those that break several rules at once share one). */
  const bad: DatasetSpec[] = [
    base({
      name: 'names-1',
      prefix: 'names-1',
      layers: {
        a: { layer: 'A', features: 10, name: 'x' },
        x: { layer: 'X', features: 10 },
        fine: { layer: 'F', features: 10, hex: { resolution: 8 } },
        zoom: { layer: 'Z', features: 10, pmtiles: { minZoom: 12, maxZoom: 9 } },
      },
      tables: ['Public_Access', 'public access'],
    }),
    base({ name: 'absurd-1', prefix: 'absurd-1', layers: { big: { layer: 'Big', features: 100_000_000, hex: { featuresPerUnit: 1 } } } }),
    base({
      name: 'creds-1',
      prefix: 'creds-1',
      source: 'https://reader:S3CRETPASS@example.org/data.gdb',
      layers: {
        b: { layer: 'B', features: 10, source: 's3://AKIAIOSFODNN7EXAMPLE:S3CRETKEY@public-bad/raw/b.gpkg' },
        c: { layer: 'C', features: 10, source: '/vsicurl/https://example.org/c.gpkg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=S3CRETSIG' },
        d: { layer: 'D', features: 10, source: '/vsis3/public-bad/raw/d.gpkg?AWS_SECRET_ACCESS_KEY=S3CRETKEY2' },
        e: { layer: 'E', features: 10, source: 'PG:host=db dbname=gis password=S3CRETPW' },
      },
      rasters: { r: { source: ['s3://public-bad/raw/r1.tif', 'https://example.org/r2.tif?sv=2022&sig=S3CRETSAS'], valueKind: 'continuous' } },
    }),
    base({ name: 'budget-1', prefix: 'budget-1', maxPods: 10, layers: { big: { layer: 'Big', features: 5_000_000 } } }),
    base({ name: 'place-a', bucket: 'public-place', prefix: 'p' }),
    base({ name: 'place-b', bucket: 'public-place', prefix: 'p' }),
    base({ name: 'prose-a', bucket: 'public-prose', prefix: 'a', prose: padus41.prose }),
    base({ name: 'prose-b', bucket: 'public-prose', prefix: 'b', prose: padus41.prose }),
  ];
  const secret = `the source is copied literally into dist/ and git: give the Jobs credentials through the 'aws' secret, or use a public URL`;
  /** Each problem's exact line under its dataset's header. */
  const expected: Record<string, string[]> = {
    'names-1': [
      '  layers.x.name: product name "x" is also layer a\'s; every layer needs its own name (both would write x.parquet, x.pmtiles and x/hex)',
      '  layers.fine.hex.parents: parent resolution(s) 9, 8 are not coarser than the resolution 8 (the default parents are 9, 8: set hex.parents)',
      '  layers.zoom.pmtiles.minZoom: minZoom 12 is above maxZoom 9',
      '  tables.1: table "public access" gets the stage id table-public-access of tables.0; list each table once',
    ],
    'absurd-1': [
      '  layers.big.hex.featuresPerUnit: 100000000 features at 1 per unit make 100000000 hex work units, over the limit of 10000 per layer; raise featuresPerUnit to at least 10000',
    ],
    'creds-1': [
      `  source: contains a credential (a user name or password in the URL); ${secret}`,
      `  layers.b.source: contains a credential (a user name or password in the URL); ${secret}`,
      `  layers.c.source: contains a credential (the query parameter X-Amz-Signature); ${secret}`,
      `  layers.d.source: contains a credential (the query parameter AWS_SECRET_ACCESS_KEY); ${secret}`,
      `  layers.e.source: contains a credential (the option password); ${secret}`,
      `  rasters.r.source.1: contains a credential (the query parameter sig); ${secret}`,
    ],
    'budget-1': [
      "  layers.big.hex.featuresPerUnit: 5000000 features in 2500 hex work units make 13 Jobs of ≤200 completions, each running one pod at least, and the dataset's 13 hex Jobs exceed maxPods 10: split it into fewer, larger units (featuresPerUnit ≥ 2500), run it through Armada (hex: { runner: 'armada' }), or raise maxPods to 13",
    ],
    'place-b': [
      '  prefix: bucket public-place with prefix "p" is also dataset place-a\'s; give each dataset its own prefix (both would write the same products and work files)',
    ],
    'prose-b': [
      "  prose: bucket public-prose already gets README.md and stac-collection.json from dataset prose-a's prose (the docs stage writes both at the bucket root); give dataset prose-b its own bucket, or leave its prose out",
    ],
  };

  let dir: string;
  let r: ReturnType<typeof cng>;
  let seconds: number;
  beforeAll(() => {
    dir = repoCopy();
    writeFileSync(join(dir, 'datasets/index.ts'), `export const datasets = ${JSON.stringify(bad, null, 2)};\n`);
    const t = Date.now();
    r = cng(['synth'], { cwd: dir });
    seconds = (Date.now() - t) / 1000;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 1, prints a header per dataset and one line per problem, no stack trace, and writes nothing', () => {
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    const want = Object.entries(expected).flatMap(([name, problems]) => [`dataset ${name}: invalid dataset file:`, ...problems]);
    want[0] = `cng synth: ${want[0]}`;
    expect(lines).toEqual(want);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(readDist(join(dir, 'dist'))).toEqual(readDist(join(ROOT, 'dist')));
  });

  it.each([
    ['two layers with the same output name', 'names-1', 'layers.x.name'],
    ['parent resolutions not coarser than the resolution', 'names-1', 'layers.fine.hex.parents'],
    ['minZoom above maxZoom', 'names-1', 'layers.zoom.pmtiles.minZoom'],
    ['duplicate table slugs (no stack trace from cdk8s)', 'names-1', 'tables.1'],
    ['an absurd work-unit count, capped before any Job is built', 'absurd-1', 'layers.big.hex.featuresPerUnit'],
    ['credentials in a source', 'creds-1', 'source'],
    ['more hex Jobs than the pod budget: says how to split or use Armada', 'budget-1', 'layers.big.hex.featuresPerUnit'],
    ['two datasets with the same bucket and prefix', 'place-b', 'prefix'],
    ['two datasets with prose in one bucket (both would write README.md and stac-collection.json at its root)', 'prose-b', 'prose'],
  ])('%s: dataset %s, field %s', (_what, dataset, field) => {
    const lines = r.stderr.split('\n');
    const header = lines.findIndex((l) => l.endsWith(`dataset ${dataset}: invalid dataset file:`));
    expect(header).toBeGreaterThanOrEqual(0);
    const mine = expected[dataset].filter((l) => l.startsWith(`  ${field}: `));
    expect(mine.length).toBeGreaterThan(0);
    for (const line of mine) expect(lines.slice(header + 1)).toContain(line);
  });

  it('never copies the secret into the message', () => {
    expect(r.stderr).not.toMatch(/S3CRET|AKIAIOSFODNN7EXAMPLE|reader:/);
  });

  it('the absurd count is answered at once (it ran over 300 s before the cap)', () => {
    expect(seconds).toBeLessThan(100); // the whole `cng synth` process, on a shared machine
    const t = Date.now();
    expect(() => synthesize([bad[1]])).toThrow(/over the limit of 10000 per layer/);
    expect(() => synthesize([{ ...bad[1], layers: { big: { layer: 'Big', features: 100_000_000, hex: { featuresPerUnit: 1, runner: 'armada' } } } }])).toThrow(
      /over the limit of 10000 per layer/,
    );
    expect(Date.now() - t).toBeLessThan(5_000);
  });

  it('a valid dataset is not affected by an invalid one reported beside it', () => {
    expect(() => parseDatasetSpec(bad[4])).not.toThrow();
    expect(() => synthesize([bad[4]])).not.toThrow();
  });
});

describe('credentialIn', () => {
  it.each([
    ['https://user:pass@example.org/a.gdb', 'a user name or password in the URL'],
    ['https://token@example.org/a.gdb', 'a user name or password in the URL'],
    ['/vsicurl/https://u:p@example.org/a.tif', 'a user name or password in the URL'],
    ['s3://AKIAIOSFODNN7EXAMPLE:secret@bucket/a.gdb', 'a user name or password in the URL'],
    ['https://bucket.s3.amazonaws.com/a.tif?X-Amz-Credential=x&X-Amz-Signature=y', 'the query parameter X-Amz-Credential'],
    ['https://storage.googleapis.com/b/a.tif?X-Goog-Signature=y', 'the query parameter X-Goog-Signature'],
    ['https://acct.blob.core.windows.net/c/a.tif?sv=2022&sig=y', 'the query parameter sig'],
    ['https://example.org/a.tif?access_token=y', 'the query parameter access_token'],
    ['https://example.org/a.tif?api_key=y', 'the query parameter api_key'],
    ['/vsis3/b/a.gdb?AWS_SECRET_ACCESS_KEY=y', 'the query parameter AWS_SECRET_ACCESS_KEY'],
    ['/vsis3/b/a.gdb?aws%5Fsession%5Ftoken=y', 'the query parameter aws_session_token'],
    ['PG:host=db user=me password=y', 'the option password'],
    ['PG:"dbname=gis PASSWORD=y"', 'the option PASSWORD'],
    ['/vsis3/b/AKIAIOSFODNN7EXAMPLE/a.gdb', 'an AWS access key id'],
  ])('%s → %s', (source, what) => expect(credentialIn(source)).toBe(what));

  it.each([
    's3://public-padus/raw/PADUS4_1Geodatabase.gdb',
    '/vsis3/public-cpad/raw/CPAD_2025b.gdb',
    '/vsicurl/https://example.org/a.tif?version=2&format=tif',
    'https://example.org/path/@user/a.gpkg',
    'PG:host=db dbname=gis',
    '/data/passwords-are-not-here.gpkg',
    'https://example.org/AKIA-report.tif',
  ])('%s → none', (source) => expect(credentialIn(source)).toBeUndefined());
});

describe('setup-bucket publishes the product keys, and a changed key list re-runs setup-bucket only', () => {
  it('lists what STAC points at: GeoParquet, PMTiles, manifests, hex directories, tables, README/STAC; never raw/ or _work/', () => {
    const spec = parseDatasetSpec(smallSpec({ prose: padus41.prose, rasters: { r: { source: 's3://public-demo/raw/r.tif', valueKind: 'count' } } }));
    expect(publicKeys(spec)).toEqual([
      'README.md', 'stac-collection.json',
      'demo-1/fee.parquet', 'demo-1/fee.pmtiles', 'demo-1/fee/manifest.json', 'demo-1/fee/hex/',
      'demo-1/marine.parquet', 'demo-1/marine.pmtiles', 'demo-1/marine/manifest.json', 'demo-1/marine/hex/',
      'demo-1/lookup/Public_Access.parquet',
      'demo-1/cog/r.tif', 'demo-1/hex/r/',
    ]);
    expect(publicKeys(parseDatasetSpec({ ...spec, layout: 'named' }))).toContain('demo-1/r/manifest.json');
    expect(publicKeys(parseDatasetSpec(smallSpec())).join(',')).not.toMatch(/raw\/|_work|README/);
  });

  it('passes them to setup-bucket with the dataset name', () => {
    const job = jobs(synthesize([smallSpec()]).manifests).find((j) => j.metadata.labels['cng/stage'] === 'setup-bucket')!;
    expect(container(job).command).toEqual([
      'cng-worker', 'setup-bucket', '--bucket', 'public-demo', '--dataset', 'demo-1', '--public',
      'demo-1/fee.parquet,demo-1/fee.pmtiles,demo-1/fee/manifest.json,demo-1/fee/hex/,demo-1/marine.parquet,demo-1/marine.pmtiles,demo-1/marine/manifest.json,demo-1/marine/hex/,demo-1/lookup/Public_Access.parquet',
    ]);
  });

  it('an added layer re-applies the policy (setup-bucket renamed) without renaming any other Job', () => {
    const id = (j: any) => `${j.metadata.labels['cng/stage']}:${j.metadata.labels['cng/layer'] ?? (j.metadata.labels['cng/stage'] === 'table' ? container(j).command[5] : '')}`;
    const names = (spec: DatasetSpec) => new Map(jobs(synthesize([spec]).manifests).map((j) => [id(j), j.metadata.name]));
    const a = names(smallSpec());
    const b = names(smallSpec({ layers: { ...smallSpec().layers, extra: { layer: 'Extra', features: 10 } } }));
    expect(a.size).toBe(14);
    expect([...a.keys()].filter((k) => a.get(k) !== b.get(k))).toEqual(['setup-bucket:']);
  });
});
