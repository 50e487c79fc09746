/**
 * `cng status`: what the cluster is doing with a dataset, as a table per dataset (stage, state,
 * Flux readiness, Jobs, work units, active pods, elapsed time, notes) followed by the Jobs'
 * problems: failed work units, OOM kills, preemptions, evictions, image-pull errors,
 * unschedulable pods, pods the quota did not let the Job create; for a dataset with rasters, one
 * line saying which rasters are complete, failed (and in which stage), skipped or running. `--json` prints the collected
 * report (./collect.ts) as it is; `--watch` refreshes it.
 */
import { EXIT, UsageError } from '../../worker/core/errors.ts';
import { str, type Command } from '../../worker/core/command.ts';
import { plural } from '../../worker/core/text.ts';
import { podStartFix, reasonCounts, unitsText, type PodCounts, type PodState } from './classify.ts';
import { collectStatus, type RasterStatus, type StageInfo, type StatusReport } from './collect.ts';
import { CLUSTER_OPTIONS, connectWithOptions } from './k8s.ts';

// ---------------------------------------------------------------------------------------------
// Rendering

export function formatDuration(s: number | undefined): string {
  if (s === undefined) return '';
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

function fluxText(s: StageInfo): string {
  if (!s.flux) return s.armada ? 'Armada (no Flux)' : 'not applied';
  if (s.flux.suspended) return 'suspended';
  if (s.flux.ready === 'True') return 'Ready';
  // A short health check that timed out on running Jobs: the stage is simply not done yet.
  if (s.flux.reason === 'HealthCheckFailed' && /status: 'InProgress'/.test(s.flux.message ?? '')) return 'waiting for its Jobs';
  return `${s.flux.ready === 'False' ? 'not ready' : 'in progress'}${s.flux.reason ? `: ${s.flux.reason}` : ''}`;
}

function podNotes(c: PodCounts): string[] {
  const out: string[] = [];
  if (c.oomKilled) out.push(`${c.oomKilled} OOM-killed`);
  if (c.failed) out.push(`${c.failed} failed`);
  if (c.preempted) out.push(`${c.preempted} preempted (re-run)`);
  if (c.evicted) out.push(`${c.evicted} evicted`);
  if (c.imagePull) out.push(`${c.imagePull} image-pull errors`);
  if (c.configError) out.push(`${c.configError} cannot start (missing secret)`);
  if (c.unschedulable) out.push(`${c.unschedulable} unschedulable`);
  return out;
}

function stageNotes(s: StageInfo): string {
  const notes: string[] = [];
  const sum = (k: keyof PodCounts) => s.jobs.reduce((n, j) => n + j.pods[k], 0);
  notes.push(...podNotes({
    waiting: 0, running: 0, succeeded: 0,
    failed: sum('failed'), oomKilled: sum('oomKilled'), preempted: sum('preempted'), evicted: sum('evicted'),
    imagePull: sum('imagePull'), configError: sum('configError'), unschedulable: sum('unschedulable'),
  }));
  const quota = s.jobs.filter((j) => j.createFailures);
  if (quota.length) notes.push(`${quota.some((j) => j.createFailures!.quota) ? 'quota' : 'pod creation'}: ${plural(quota.reduce((n, j) => n + j.createFailures!.count, 0), 'failed create')}`);
  if (s.flux?.reason === 'DependencyNotReady') {
    const dep = /dependency '(?:[^/']+\/)?([^']+)'/.exec(s.flux.message ?? '')?.[1];
    notes.push(`waiting for ${dep ?? 'an upstream stage'}`);
  }
  if (s.flux?.suspended) notes.push('waits for an Armada job set');
  if (s.armada) notes.push(`job set ${s.armada.jobSetId ?? '?'}: ${s.armada.pods.succeeded} done, ${s.armada.pods.running} running, ${s.armada.pods.failed + s.armada.pods.oomKilled} failed`);
  const stale = s.jobs.filter((j) => j.current === false);
  if (stale.length) notes.push(`${plural(stale.length, 'Job')} not in this checkout's dist/`);
  if (s.missingJobs.length && s.flux?.ready === 'True') notes.push(`${plural(s.missingJobs.length, 'Job')} of dist/ not on the cluster (Flux not reconciled yet?)`);
  return notes.join('; ');
}

/** One line for a dataset's rasters: how many are complete, and which failed, were skipped or are still running. */
export function rasterSetLine(rasters: RasterStatus[]): string {
  const of = (st: RasterStatus['status']) => rasters.filter((r) => r.status === st);
  const parts = [`rasters: ${of('complete').length} of ${rasters.length} complete`];
  if (of('failed').length) parts.push(`FAILED ${of('failed').map((r) => `${r.key} (stage ${r.detail})`).join(', ')}`);
  if (of('skipped').length) parts.push(`skipped ${of('skipped').map((r) => `${r.key} (${r.detail})`).join(', ')}`);
  if (of('in progress').length) parts.push(`in progress ${of('in progress').map((r) => r.key).join(', ')}`);
  return parts.join('; ');
}

/** The human table. */
export function renderStatus(r: StatusReport): string {
  const lines: string[] = [];
  for (const d of r.datasets) {
    lines.push(`${d.name}${d.run !== undefined ? ` (run ${d.run})` : ''} — namespace ${r.namespace}, context ${r.context}, ${r.time.replace(/\.\d+Z$/, 'Z')}`);
    const rows = [['STAGE', 'STATE', 'FLUX', 'JOBS', 'UNITS', 'ACTIVE', 'ELAPSED', 'NOTES']];
    for (const s of d.stages) {
      const cur = s.jobs.filter((j) => j.current !== false);
      const jobs = s.jobs.length || s.expectedJobs.length ? `${cur.filter((j) => j.state === 'complete').length}/${Math.max(cur.length, s.expectedJobs.length)}` : '-';
      const units = s.units.total ? `${s.units.completed}/${s.units.total}${s.units.failed ? ` ✗${s.units.failed}` : ''}` : '-';
      rows.push([s.stageId, s.state, fluxText(s), jobs, units, s.units.active ? String(s.units.active) : '', formatDuration(s.elapsedSeconds), stageNotes(s)]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    for (const row of rows) lines.push(`  ${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}`.trimEnd());

    if (d.rasters) lines.push(`  ${rasterSetLine(d.rasters)}`);
    const problems: string[] = [];
    for (const s of d.stages)
      for (const j of s.jobs) {
        const head = `  ${s.stageId}  Job ${j.name}${j.current === false ? ' (not in dist/)' : ''}`;
        const items: string[] = [];
        if (j.failedUnits.length) items.push(j.completions === 1 && !j.retry ? 'failed' : `failed work units: ${unitsText(j.failedUnits)}`);
        const byState = (st: PodState) => j.problemPods.filter((p) => p.state === st);
        const oom = byState('oom-killed');
        if (oom.length) items.push(`OOM-killed at the ${j.resources.memory ?? '?'} limit (exit 137): ${plural(oom.length, 'pod')}, work units ${unitsText(oom.map((p) => p.unit!).filter((u) => u !== undefined))}`);
        const pre = byState('preempted');
        if (pre.length) items.push(`preempted and re-run (nothing to do): ${plural(pre.length, 'pod')} (${reasonCounts(pre)})`);
        const ev = byState('evicted');
        if (ev.length) items.push(`evicted: ${plural(ev.length, 'pod')} — ${ev[0].message ?? ev[0].reason}`);
        const failed = byState('failed');
        if (failed.length) items.push(`failed: ${plural(failed.length, 'pod')} (${reasonCounts(failed)})${j.completions > 1 ? `, work units ${unitsText(failed.map((p) => p.unit!).filter((u) => u !== undefined))}` : ''}`);
        const img = byState('image-pull');
        if (img.length) items.push(`cannot pull image ${j.image ?? ''}: ${img[0].reason}${img[0].message ? ` — ${img[0].message}` : ''}; fix: ${podStartFix(img[0], r.namespace, d.name)}`);
        const cfg = byState('config-error');
        if (cfg.length) items.push(`${plural(cfg.length, 'pod')} cannot start: ${cfg[0].reason}${cfg[0].message ? ` — ${cfg[0].message}` : ''}; fix: ${podStartFix(cfg[0], r.namespace, d.name)}`);
        const un = byState('unschedulable');
        if (un.length) items.push(`${plural(un.length, 'pod')} cannot be scheduled: ${un[0].message ?? ''}`);
        if (j.createFailures) items.push(`${j.createFailures.quota ? 'quota' : 'pod creation'}: ${plural(j.createFailures.count, 'failed create')} — ${j.createFailures.message}`);
        if (items.length) problems.push(head, ...items.map((x) => `    ${x}`));
      }
    if (problems.length) lines.push('', '  Problems:', ...problems, '', `  Run 'cng doctor ${d.name}' for what to change.`);
    lines.push('');
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n').trimEnd() + '\n';
}

// ---------------------------------------------------------------------------------------------
// cng status

export const statusCommand: Command = {
  name: 'status',
  summary: 'what the cluster is doing: Flux stages, Jobs, work units, OOM kills, preemptions, quota',
  help: `Usage: cng status [dataset] [--watch] [--interval SECONDS] [--json] [--namespace NS] [--context CTX]

Reads the namespace through the Kubernetes API (kubeconfig from $KUBECONFIG or
~/.kube/config) and shows, per dataset and stage: the Flux Kustomization's Ready
condition, each Job's completed and failed work units, active pods and elapsed time,
and pods that were OOM-killed, preempted (re-run automatically), evicted, cannot pull
their image or cannot be scheduled, and Jobs that cannot create pods (quota); for a
dataset with rasters, which are complete, failed (in which stage), skipped or running.
Work units are global indices (offsets applied), as hex.retry takes them.

Options:
  --watch              refresh until interrupted (clears the screen on a terminal)
  --interval SECONDS   refresh period with --watch (default 10)
  --json               machine-readable report (one JSON document per refresh)
  --namespace NS       namespace (default: the cluster profile's, biodiversity)
  --context CTX        kubeconfig context (default: the current one)
  -h, --help           show this help

Exit status: 0 the cluster was read (even if Jobs failed), 1 API or kubeconfig error,
2 usage error.

Examples:
  cng status
  cng status padus-4-1
  cng status padus-4-1 --watch --interval 30
  cng status padus-4-1 --json`,
  options: { ...CLUSTER_OPTIONS, watch: { type: 'boolean' }, interval: { type: 'string' }, json: { type: 'boolean' } },
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError(`expected at most one dataset, got ${positionals.join(' ')}`);
    const dataset = positionals[0];
    const interval = str(values.interval) === undefined ? 10 : Number(values.interval);
    if (!(interval >= 1)) throw new UsageError(`--interval must be a number of seconds ≥ 1, got '${values.interval}'`);
    if (values.interval !== undefined && !values.watch) throw new UsageError('--interval needs --watch');
    const reader = await connectWithOptions(values);
    const once = async () => {
      const { report } = await collectStatus(reader, { dataset });
      return values.json ? JSON.stringify(report, null, values.watch ? undefined : 2) + '\n' : renderStatus(report);
    };
    if (!values.watch) {
      process.stdout.write(await once());
      return EXIT.ok;
    }
    const tty = process.stdout.isTTY;
    let first = true;
    let stop = false;
    let wake: () => void = () => {};
    const onSignal = () => {
      stop = true;
      wake();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      while (!stop) {
        let text: string;
        try {
          text = await once();
        } catch (err) {
          if (first) throw err; // unreadable from the start: the one-line error, exit 1
          text = `cng status: ${(err as Error).message} (retrying in ${interval}s)\n`;
        }
        first = false;
        if (tty && !values.json) process.stdout.write('\x1b[2J\x1b[H');
        process.stdout.write(text + (tty || values.json ? '' : `--- every ${interval}s; Ctrl-C to stop\n`));
        await new Promise<void>((res) => {
          const t = setTimeout(res, interval * 1000);
          wake = () => {
            clearTimeout(t);
            res();
          };
        });
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return EXIT.ok;
  },
};
