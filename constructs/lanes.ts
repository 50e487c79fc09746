import { maxConcurrentPods, type ScheduledStage } from './policy.ts';

/**
 * Datasets in lanes: how datasets that cannot all run at once share the namespace's pod budget.
 * Each dataset alone fits the budget (its own stages' peak, `maxConcurrentPods`); together they may
 * not. Rather than reject the set, synthesis orders it: datasets go, in the order of
 * `datasets/index.ts`, into lanes that run side by side; the datasets of a lane run one after
 * another (the next one's first stages `dependsOn` the previous one's last product stages), and the lanes'
 * widest datasets add up to at most the budget (docs/policy.md, "Datasets in lanes").
 *
 * Placement is greedy and sequential, so appending a dataset to the list never changes where the
 * datasets already listed are, nor what they wait for.
 */

/** Where one dataset runs: its lane, its peak, and the datasets whose end it waits for. */
export interface LanePlacement {
  readonly dataset: string;
  readonly lane: number;
  /** The most pods the dataset's own stages may run at once. */
  readonly pods: number;
  /** Datasets (earlier in the list) whose last stages this dataset's first stages wait for. */
  readonly after: string[];
}

interface Lane {
  /** The most pods the lane may hold at once, over its whole life. */
  width: number;
  /** Datasets whose end the lane's next dataset waits for. */
  tails: string[];
  index: number;
}

/**
 * Places datasets (in list order, each with its own peak) into lanes whose widths add up to at most
 * `budget`:
 * 1. a dataset that fits in what the lanes leave free opens a new lane (it starts at once);
 * 2. else it follows the narrowest lane at least as wide as it is (ties: the first lane);
 * 3. else it waits for the narrowest lanes, merged into one (narrowest first, ties: the first
 *    lane), until the budget left beside them holds it: the merged lane's width is the larger of
 *    the dataset and the merged lanes together (they may still be running when it is placed).
 *    Narrowest first: a dataset waits for many small datasets rather than behind one large one.
 * A dataset wider than the budget waits for every lane; the pod-budget rule then names its stages.
 */
export function planLanes(datasets: { name: string; pods: number }[], budget: number): LanePlacement[] {
  const lanes: Lane[] = [];
  const out: LanePlacement[] = [];
  let next = 0;
  const used = () => lanes.reduce((n, l) => n + l.width, 0);
  for (const { name, pods } of datasets) {
    if (pods <= budget - used() || !lanes.length) {
      const lane = { width: pods, tails: [name], index: next++ };
      lanes.push(lane);
      out.push({ dataset: name, lane: lane.index, pods, after: [] });
      continue;
    }
    const fitting = lanes.filter((l) => l.width >= pods).sort((a, b) => a.width - b.width || a.index - b.index)[0];
    if (fitting) {
      out.push({ dataset: name, lane: fitting.index, pods, after: fitting.tails });
      fitting.tails = [name];
      continue;
    }
    const byWidth = [...lanes].sort((a, b) => a.width - b.width || a.index - b.index);
    const merged: Lane[] = [];
    let mergedWidth = 0;
    for (const l of byWidth) {
      if (merged.length && pods <= budget - (used() - mergedWidth)) break;
      merged.push(l);
      mergedWidth += l.width;
    }
    const first = merged.reduce((a, b) => (a.index < b.index ? a : b));
    const after = merged.sort((a, b) => a.index - b.index).flatMap((l) => l.tails);
    for (const l of merged) if (l !== first) lanes.splice(lanes.indexOf(l), 1);
    first.width = Math.max(pods, mergedWidth);
    first.tails = [name];
    out.push({ dataset: name, lane: first.index, pods, after });
  }
  return out;
}

/** One dataset's stage Kustomizations as Flux orders them (suspended ones left out), with their stage kinds. */
export interface DatasetGraph {
  readonly name: string;
  readonly stages: (ScheduledStage & { readonly kind?: string })[];
}

/**
 * Stages after a dataset's products that the next dataset in its lane does not wait for: the docs
 * stage (which fails while a column lacks a description, and must not hold the lane for that) and
 * the sync to the mirror. Their pods are added to the dataset's width instead.
 */
const AFTERWORD = new Set(['docs', 'sync']);

/**
 * The dataset's first stages (no dependsOn inside it), its last product stages (nothing but docs
 * or sync waits for them: what the next dataset in its lane waits for) and the pods of its docs
 * and sync stages, which may still run when the next dataset starts.
 */
export function graphEnds(g: DatasetGraph): { roots: string[]; sinks: string[]; afterwordPods: number } {
  const own = new Set(g.stages.map((s) => s.name));
  const products = g.stages.filter((s) => !AFTERWORD.has(s.kind ?? ''));
  const waitedFor = new Set(products.flatMap((s) => s.dependsOn));
  return {
    roots: g.stages.filter((s) => !s.dependsOn.some((d) => own.has(d))).map((s) => s.name),
    sinks: products.filter((s) => !waitedFor.has(s.name)).map((s) => s.name),
    afterwordPods: g.stages.filter((s) => AFTERWORD.has(s.kind ?? '')).reduce((n, s) => n + s.pods, 0),
  };
}

/**
 * The lanes of a set of datasets (in list order) and, per dataset, the Kustomizations its first
 * stages must wait for: the last product stages of the datasets it follows. A dataset's width is
 * its own peak plus the pods of its docs and sync stages (graphEnds).
 */
export function datasetOrder(graphs: DatasetGraph[], budget: number): { lanes: LanePlacement[]; waits: Map<string, { roots: string[]; after: string[] }> } {
  const byName = new Map(graphs.map((g) => [g.name, g]));
  const lanes = planLanes(
    graphs.map((g) => ({ name: g.name, pods: maxConcurrentPods(g.stages).pods + graphEnds(g).afterwordPods })),
    budget,
  );
  const waits = new Map<string, { roots: string[]; after: string[] }>();
  for (const p of lanes) {
    if (!p.after.length) continue;
    const after = p.after.flatMap((d) => graphEnds(byName.get(d)!).sinks);
    waits.set(p.dataset, { roots: graphEnds(byName.get(p.dataset)!).roots, after });
  }
  return { lanes, waits };
}
