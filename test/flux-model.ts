/**
 * A discrete-event model of Flux's kustomize-controller as far as stage gating depends on it
 * (kustomize-controller internal/controller/kustomization_controller.go): `--concurrent` workers
 * (default 4); a Kustomization whose dependsOn is not Ready is requeued after
 * `--requeue-dependency` (30 s) without waiting; otherwise it applies its Jobs and, with
 * `wait: true`, polls their kstatus every 5 s for at most `timeout` — holding its worker — then
 * becomes Ready (every Job Complete), fails fast (a Job Failed) or fails the health check on
 * timeout (a Job InProgress), requeued after `retryInterval`; a Ready one after `interval`.
 * Conditions carry the messages the controller writes. Times are seconds.
 */
import { parseDuration } from '../constructs/index.ts';

export interface ModelStage {
  /** Seconds the stage's Jobs run once created, or 'fail' to fail after `failAfter` seconds. */
  readonly seconds: number;
  readonly fail?: boolean;
}

export interface ModelCondition {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface ModelResult {
  /** Longest time one reconcile held a worker, per Kustomization. */
  maxHold: Map<string, number>;
  /** When each stage's Jobs were created and finished. */
  jobs: Map<string, { created: number; done?: number; failed?: boolean }>;
  /** Ready condition per Kustomization, sampled at the times asked for. */
  samples: Map<number, Map<string, ModelCondition>>;
  /** Longest wait for a worker of the foreign tenant's Kustomization. */
  foreignWait: number;
  end: number;
}

const dur = (d: unknown, fallback: number) => (Number.isFinite(parseDuration(d)) ? parseDuration(d) : fallback);

/**
 * Runs the model over Kustomization objects (as synthesized) with one Job per stage whose name is
 * `jobName(k)`, plus a foreign tenant's Kustomization that reconciles every 10 minutes in 10 s.
 */
export function simulateFlux(
  kustomizations: Record<string, any>[],
  stages: (name: string) => ModelStage,
  opts: { workers?: number; until: number; sampleAt?: number[]; jobName: (k: string) => string; revision?: string },
): ModelResult {
  const workers = opts.workers ?? 4;
  const revision = opts.revision ?? 'main@sha1:0123abcd';
  const byName = new Map(kustomizations.map((k) => [k.metadata.name as string, k]));
  const ready = new Map<string, ModelCondition>();
  const due = new Map<string, number>([...byName.keys()].map((n) => [n, 0]));
  const FOREIGN = '<other tenant>';
  due.set(FOREIGN, 0);
  const busyUntil: number[] = new Array(workers).fill(0);
  const res: ModelResult = { maxHold: new Map(), jobs: new Map(), samples: new Map(), foreignWait: 0, end: 0 };
  const samples = [...(opts.sampleAt ?? [])].sort((a, b) => a - b);
  const ns = (k: Record<string, any>) => k.metadata.namespace;
  // Conditions written when a reconcile ends (a health check holds them until then).
  const pending: { at: number; name: string; cond: ModelCondition }[] = [];
  const settle = (t: number) => {
    pending.sort((a, b) => a.at - b.at);
    while (pending.length && pending[0].at <= t) {
      const p = pending.shift()!;
      ready.set(p.name, p.cond);
    }
  };

  for (let guard = 0; guard < 1_000_000; guard++) {
    // The next reconcile to start: the earliest due item, on the earliest free worker.
    const [name, at] = [...due].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))[0];
    const w = busyUntil.indexOf(Math.min(...busyUntil));
    const start = Math.max(at, busyUntil[w]);
    if (start > opts.until) break;
    while (samples.length && samples[0] <= start) {
      settle(samples[0]);
      res.samples.set(samples.shift()!, new Map([...ready].map(([k, v]) => [k, { ...v }])));
    }
    settle(start);
    if (name === FOREIGN) {
      res.foreignWait = Math.max(res.foreignWait, start - at);
      busyUntil[w] = start + 10;
      due.set(FOREIGN, start + 600);
      continue;
    }
    const k = byName.get(name)!;
    const spec = k.spec;
    const notReady = (spec.dependsOn ?? []).map((d: any) => d.name).find((d: string) => ready.get(d)?.status !== 'True');
    if (notReady) {
      ready.set(name, { status: 'False', reason: 'DependencyNotReady', message: `dependency '${ns(k)}/${notReady}' is not ready` });
      due.set(name, start + 30);
      busyUntil[w] = start;
      continue;
    }
    const job = res.jobs.get(name) ?? res.jobs.set(name, { created: start }).get(name)!;
    const stage = stages(name);
    const finish = job.created + stage.seconds;
    const timeout = dur(spec.timeout, dur(spec.interval, 600));
    const jobRef = `Job/${ns(k)}/${opts.jobName(name)}`;
    let hold: number;
    if (spec.wait !== true || finish <= start) {
      hold = 0;
      if (stage.fail && spec.wait === true) {
        job.failed = true;
        ready.set(name, { status: 'False', reason: 'HealthCheckFailed', message: `health check failed after 0s: failed early due to stalled resources: [${jobRef} status: 'Failed']` });
        due.set(name, start + dur(spec.retryInterval, dur(spec.interval, 600)));
        busyUntil[w] = start;
        continue;
      }
      job.done ??= finish;
    } else if (finish <= start + timeout) {
      hold = finish - start;
      if (stage.fail) job.failed = true;
      else job.done = finish;
    } else hold = timeout;
    res.maxHold.set(name, Math.max(res.maxHold.get(name) ?? 0, hold));
    busyUntil[w] = start + hold;
    const end = (cond: ModelCondition, next: number) => {
      pending.push({ at: start + hold, name, cond });
      due.set(name, start + hold + next);
    };
    if (job.failed)
      end({ status: 'False', reason: 'HealthCheckFailed', message: `health check failed after ${goDuration(hold)}: failed early due to stalled resources: [${jobRef} status: 'Failed']` }, dur(spec.retryInterval, 600));
    else if (job.done !== undefined) end({ status: 'True', reason: 'ReconciliationSucceeded', message: `Applied revision: ${revision}` }, dur(spec.interval, 600));
    else
      end(
        { status: 'False', reason: 'HealthCheckFailed', message: `health check failed after ${goDuration(hold)}: timeout waiting for: [${jobRef} status: 'InProgress']` },
        dur(spec.retryInterval, dur(spec.interval, 600)),
      );
    res.end = start + hold;
  }
  return res;
}

/** Go's time.Duration.String() for whole seconds: 60 → '1m0s', 3725 → '1h2m5s'. */
export function goDuration(s: number): string {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
  return h ? `${h}h${m}m${sec}s` : m ? `${m}m${sec}s` : `${sec}s`;
}
