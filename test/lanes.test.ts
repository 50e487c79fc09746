/**
 * Datasets in lanes (constructs/lanes.ts): datasets that cannot all run at once within the namespace
 * pod budget are ordered with Flux dependsOn, not rejected; the order follows datasets/index.ts and
 * appending a dataset leaves the others as they were.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkManifests, ClusterProfile, maxConcurrentPods, planLanes, synthesize, type DatasetProse, type Manifests, type ScheduledStage,
} from '../constructs/index.ts';
import { datasets } from '../datasets/index.ts';
import { simulateFlux } from './flux-model.ts';
import { ROOT, smallSpec } from './helpers.ts';

const NRP = ClusterProfile.NRP;
const kustomizations = (m: Manifests) => [...m.values()].flat().filter((o) => o.kind === 'Kustomization');
const deps = (k: any): string[] => (k.spec.dependsOn ?? []).map((d: any) => d.name);

/** The whole dist/ as Flux orders it: every unsuspended stage with the pods its Jobs may run at once. */
function schedule(m: Manifests): ScheduledStage[] {
  return kustomizations(m)
    .filter((k) => !k.spec.suspend)
    .map((k) => {
      const dir = String(k.spec.path).replace(/^\.\/dist\//, '') + '/';
      const pods = [...m].filter(([p]) => p.startsWith(dir)).flatMap(([, o]) => o).filter((o) => o.kind === 'Job').reduce((n, j) => n + (j.spec.parallelism ?? 1), 0);
      return { name: k.metadata.name, dependsOn: deps(k), pods };
    });
}

/** The most pods a placement may run at once: each dataset a stage of its peak, waiting for its `after`. */
const widest = (ls: ReturnType<typeof planLanes>) => maxConcurrentPods(ls.map((l) => ({ name: l.dataset, pods: l.pods, dependsOn: l.after }))).pods;

describe('planLanes', () => {
  it('starts datasets side by side while they fit, then queues each behind the narrowest lane wide enough', () => {
    const ls = planLanes([{ name: 'a', pods: 120 }, { name: 'b', pods: 60 }, { name: 'c', pods: 50 }, { name: 'd', pods: 10 }], 200);
    expect(ls.map((l) => [l.dataset, l.lane, l.after])).toEqual([
      ['a', 0, []],
      ['b', 1, []],
      ['c', 1, ['b']], // 20 free: c follows b (60), not a (120)
      ['d', 2, []], // 10 fits beside them
    ]);
  });

  it('a dataset wider than every lane waits for the narrowest lanes merged, and the widths stay within the budget', () => {
    const ls = planLanes([{ name: 'a', pods: 100 }, { name: 'b', pods: 30 }, { name: 'c', pods: 40 }, { name: 'd', pods: 150 }, { name: 'e', pods: 45 }], 200);
    const d = ls.find((l) => l.dataset === 'd')!;
    // 30 free; b (30) and c (40) merged leave 100 beside a: not enough, so a is merged too.
    expect(d.after).toEqual(['a', 'b', 'c']);
    // The merged lane keeps the width of what may still run in it (170), leaving 30 free: e follows d.
    const e = ls.find((l) => l.dataset === 'e')!;
    expect([e.lane, e.after]).toEqual([d.lane, ['d']]);
  });

  it('never lets the lanes together exceed the budget, and appending never moves a listed dataset', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
    const list = Array.from({ length: 40 }, (_, i) => ({ name: `d${i}`, pods: 1 + Math.floor(rnd() * 199) }));
    for (let n = 1; n <= list.length; n++) {
      const ls = planLanes(list.slice(0, n), 200);
      expect(widest(ls)).toBeLessThanOrEqual(200);
      if (n > 1) expect(ls.slice(0, n - 1)).toEqual(planLanes(list.slice(0, n - 1), 200));
    }
  });
});

describe('synthesis orders datasets that cannot run at once', () => {
  const layers = { fee: { layer: 'Fee', features: 400_000 } };
  const specs = ['a', 'b', 'c'].map((name) => smallSpec({ name, prefix: name, maxPods: 120, layers }));

  it('each dataset alone fits, together they would not: the later ones wait for the earlier ones', () => {
    const alone = synthesize([specs[0]]);
    const peak = maxConcurrentPods(schedule(alone.manifests)).pods;
    expect(peak).toBeGreaterThan(100);
    expect(peak).toBeLessThanOrEqual(200);

    const { manifests, lanes } = synthesize(specs);
    expect(lanes.map((l) => [l.dataset, l.lane, l.after])).toEqual([['a', 0, []], ['b', 0, ['a']], ['c', 0, ['b']]]);
    const byName = new Map(kustomizations(manifests).map((k) => [k.metadata.name, k]));
    // b's first stage waits for a's last stages (without prose: the publish stages and the table).
    const ofA = kustomizations(manifests).filter((k) => k.metadata.labels['cng/dataset'] === 'a');
    const aSinks = ofA.filter((k) => !ofA.some((o) => deps(o).includes(k.metadata.name)));
    expect(aSinks.length).toBeGreaterThan(0);
    expect(deps(byName.get('b-setup-bucket')).sort()).toEqual(aSinks.map((k) => k.metadata.name).sort());
    expect(deps(byName.get('a-setup-bucket'))).toEqual([]);
    // The whole graph now holds at most the budget at any moment, and the policy agrees.
    expect(maxConcurrentPods(schedule(manifests)).pods).toBe(peak);
    expect(checkManifests(manifests, NRP)).toEqual([]);
  });

  it('without the order the same set is over budget (what the lanes prevent)', () => {
    const { manifests } = synthesize(specs);
    for (const k of kustomizations(manifests)) k.spec.dependsOn = deps(k).filter((d) => d.startsWith(`${k.metadata.labels['cng/dataset']}-`)).map((name) => ({ name }));
    expect(checkManifests(manifests, NRP).map((v) => v.rule)).toEqual(['pod-budget']);
  });

  it('the order is the list order, and appending a dataset leaves the others byte for byte', () => {
    const two = synthesize(specs.slice(0, 2)).manifests;
    const three = synthesize(specs).manifests;
    for (const [path, objects] of two) expect(three.get(path), path).toEqual(objects);
    const reversed = synthesize([specs[1], specs[0]]).lanes;
    expect(reversed.map((l) => [l.dataset, l.after])).toEqual([['b', []], ['a', ['b']]]);
  });

  it("under a model of Flux, the next dataset's Jobs start only when the one before has finished; meanwhile its first stage waits (DependencyNotReady)", () => {
    const { manifests } = synthesize(specs.slice(0, 2));
    const ks = kustomizations(manifests);
    const jobOf = new Map(ks.map((k) => [k.metadata.name, manifests.get(`${String(k.spec.path).replace(/^\.\/dist\//, '')}/manifest.yaml`)![0].metadata.name]));
    const seconds = (k: string) => ({ seconds: k.endsWith('-hex') ? 3 * 3600 : 600 });
    const r = simulateFlux(ks, seconds, { until: 24 * 3600, sampleAt: [3600], jobName: (k) => jobOf.get(k)! });
    const ofA = ks.filter((k) => k.metadata.labels['cng/dataset'] === 'a').map((k) => r.jobs.get(k.metadata.name)!);
    const ofB = ks.filter((k) => k.metadata.labels['cng/dataset'] === 'b').map((k) => r.jobs.get(k.metadata.name)!);
    expect([...ofA, ...ofB].every((j) => j?.done !== undefined)).toBe(true);
    expect(Math.min(...ofB.map((j) => j.created))).toBeGreaterThanOrEqual(Math.max(...ofA.map((j) => j.done!)));
    expect(r.samples.get(3600)!.get('b-setup-bucket')).toMatchObject({ status: 'False', reason: 'DependencyNotReady' });
  });

  it("a dataset with prose: the next one waits for its products, not its docs stage — a docs stage failing on an undescribed column does not hold the lane", () => {
    const prose: DatasetProse = {
      title: 'A', description: 'A.', license: 'CC0-1.0', citation: 'A.', providers: [{ name: 'A', roles: ['producer'] }], keywords: ['a'], temporal: [null, null],
    };
    const withProse = specs.slice(0, 2).map((sp) => ({ ...sp, bucket: `public-${sp.name}x`, prose }));
    const { manifests, lanes } = synthesize(withProse);
    const ks = kustomizations(manifests);
    const bSetup = ks.find((k) => k.metadata.name === 'b-setup-bucket')!;
    expect(deps(bSetup)).not.toContain('a-docs');
    expect(deps(bSetup).sort()).toEqual(['a-fee-publish', 'a-table-public-access']);
    // The docs pod is counted in a's width, so the budget still holds with a's docs running beside b.
    expect(lanes[0].pods).toBe(maxConcurrentPods(schedule(synthesize([withProse[0]]).manifests)).pods + 1);
    expect(checkManifests(manifests, NRP)).toEqual([]);
    const jobOf = new Map(ks.map((k) => [k.metadata.name, manifests.get(`${String(k.spec.path).replace(/^\.\/dist\//, '')}/manifest.yaml`)![0].metadata.name]));
    const r = simulateFlux(ks, (k) => (k === 'a-docs' ? { seconds: 60, fail: true } : { seconds: 600 }), { until: 24 * 3600, jobName: (k) => jobOf.get(k)! });
    expect(r.jobs.get('a-docs')!.failed).toBe(true);
    expect(r.jobs.get('b-docs')!.done).toBeDefined();
  });

  it("the lab's catalogue synthesizes within the budget, every dataset placed", () => {
    const { manifests, lanes } = synthesize(datasets);
    expect(lanes.map((l) => l.dataset)).toEqual(datasets.map((d) => d.name));
    expect(maxConcurrentPods(schedule(manifests)).pods).toBeLessThanOrEqual(NRP.podBudget);
    // As docs/policy.md draws it (appending datasets never changes these).
    const at = new Map(lanes.map((l) => [l.dataset, l]));
    const chain = ['padus-4-1', 'svi', 'iucn-2025', 'carbon', 'ncp', 'wetlands'];
    for (const [i, name] of chain.entries()) expect([name, at.get(name)!.lane, at.get(name)!.after]).toEqual([name, 0, i ? [chain[i - 1]] : []]);
    const six = ['cpad-2025b', 'calenviroscreen-5-0', 'census-2024', 'ecoregion', 'mappinginequality', 'overturemaps'];
    for (const name of six) expect(at.get(name)!.after).toEqual([]);
    expect(at.get('wdpa')!.after).toEqual(six);
    // hydrobasins is too wide for any lane beside the others: it waits for both, and the rest follow it.
    expect(at.get('carbon-v2')!.after).toEqual(['wetlands']);
    expect(at.get('hydrobasins')!.after).toEqual(['carbon-v2', 'wdpa']);
    expect(at.get('inaturalist')!.after).toEqual(['hydrobasins']);
    expect(at.get('gbif')!.after).toEqual(['inaturalist']);
    expect(lanes.map((l) => `${l.dataset} (${l.pods})`).filter((d) => !readFileSync(join(ROOT, 'docs/policy.md'), 'utf8').includes(d))).toEqual([]);
  });
});
