/**
 * A manifest diff (./compare.ts) as the markdown of a pull-request comment: a summary line, a
 * caution for Jobs changed in place, per dataset the stages, re-runs, Jobs, rescaled Jobs,
 * Kustomizations, Armada job sets and other objects that changed, and the files. Pure.
 */
import { plural } from '../../worker/core/text.ts';
import { type ArmadaRef, type DatasetDiff, type FieldChange, isScalar, type ManifestDiff, type StageRef } from './compare.ts';

/** First line of every comment, so CI can find and update its previous comment. */
export const DIFF_MARKER = '<!-- cng-manifest-diff -->';
/** Field changes shown per object before "… and N more". */
const MAX_FIELDS = 10;

export interface DiffLabels {
  /** What the base side is, e.g. `origin/main`. */
  base?: string;
  /** What the head side is, e.g. `HEAD` or `working tree (dist/)`. */
  head?: string;
}

function code(s: string): string {
  const t = s.replace(/\n/g, '⏎');
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``;
}

function shorten(s: string, max = 120): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function token(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return typeof v === 'string' && (v === '' || /\s/.test(v)) ? JSON.stringify(v) : s;
}

function renderValue(v: unknown): string {
  if (v === undefined) return '(none)';
  if (typeof v === 'string') return code(shorten(v));
  if (Array.isArray(v) && v.every(isScalar)) return code(shorten(v.length ? v.map(token).join(' ') : '[]'));
  return code(shorten(JSON.stringify(v)));
}

/** `old → new` of one field; a long command line is shown around the tokens that differ. */
function renderChange(c: FieldChange): string {
  const { old: a, new: b } = c;
  if (Array.isArray(a) && Array.isArray(b) && a.every(isScalar) && b.every(isScalar)) {
    const whole = (xs: unknown[]) => xs.map(token).join(' ');
    if (whole(a).length + whole(b).length <= 100) return `${renderValue(a)} → ${renderValue(b)}`;
    let p = 0;
    while (p < a.length && p < b.length && a[p] === b[p]) p++;
    let s = 0;
    while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
    // Keep the flag in front of a changed value as context (`--max-zoom 14 → --max-zoom 16`).
    const from = p > 0 && /^-/.test(String(a[p - 1])) ? p - 1 : p;
    const part = (xs: unknown[]) => {
      const mid = xs.slice(from, xs.length - s);
      const text = mid.length ? mid.map(token).join(' ') : '(nothing)';
      return code(shorten(`${from > 0 ? '… ' : ''}${text}${s > 0 ? ' …' : ''}`));
    };
    return `${part(a)} → ${part(b)}`;
  }
  return `${renderValue(a)} → ${renderValue(b)}`;
}

function fieldLines(changes: FieldChange[], indent = '  '): string[] {
  const lines = changes.slice(0, MAX_FIELDS).map((c) => `${indent}- ${code(c.path)}: ${renderChange(c)}`);
  if (changes.length > MAX_FIELDS) lines.push(`${indent}- … and ${changes.length - MAX_FIELDS} more`);
  return lines;
}

function jobLabel(j: { stageId: string; part?: number }): string {
  return `${code(j.stageId)}${j.part === undefined ? '' : ` part ${j.part}`}`;
}

/** The one-line summary, e.g. `2 datasets changed: 3 Jobs re-run, 1 stage added, 0 removed`. */
export function summaryLine(diff: ManifestDiff): string {
  const s = diff.summary;
  if (!diff.changed) return 'No manifest changes.';
  const worker = s.jobsRerunForWorker ? ` (${s.jobsRerunForWorker} because the worker changed)` : '';
  const parts = [`${plural(s.jobsRerun, 'Job')} re-run${worker}`, `${plural(s.stagesAdded, 'stage')} added`, `${s.stagesRemoved} removed`];
  if (s.jobsAdded || s.jobsRemoved) parts.push(`${plural(s.jobsAdded, 'Job')} added, ${s.jobsRemoved} removed in existing stages`);
  if (s.scaled) parts.push(`${plural(s.scaled, 'Job')} rescaled in place`);
  if (s.kustomizationsChanged) parts.push(`${plural(s.kustomizationsChanged, 'Kustomization')} changed`);
  const armada = [
    s.armadaAdded ? `${s.armadaAdded} added` : '',
    s.armadaRemoved ? `${s.armadaRemoved} removed` : '',
    s.armadaChanged ? `${s.armadaChanged} changed` : '',
  ].filter(Boolean);
  if (armada.length) parts.push(`Armada job sets ${armada.join(', ')}`);
  if (s.changedInPlace) parts.push(`⚠ ${plural(s.changedInPlace, 'Job')} changed in place`);
  const newOrGone = [s.datasetsAdded ? `${s.datasetsAdded} new` : '', s.datasetsRemoved ? `${s.datasetsRemoved} removed` : ''].filter(Boolean);
  return `${plural(s.datasetsChanged, 'dataset')} changed${newOrGone.length ? ` (${newOrGone.join(', ')})` : ''}: ${parts.join(', ')}`;
}

/** Renders a diff as the markdown of a PR comment (starts with DIFF_MARKER). */
export function formatDiffMarkdown(diff: ManifestDiff, labels: DiffLabels = {}): string {
  const out: string[] = [DIFF_MARKER];
  const sides = labels.base || labels.head ? `: ${code(labels.base ?? 'base')} → ${labels.head ? code(labels.head) : 'head'}` : '';
  out.push(`## Manifest diff${sides}`, '');
  if (!diff.changed) {
    out.push('No manifest changes.');
    return out.join('\n') + '\n';
  }
  out.push(summaryLine(diff) + '.', '');
  out.push(...workerNote(diff));
  if (diff.summary.changedInPlace) {
    const names = diff.datasets.flatMap((d) => d.changedInPlace.map((j) => code(j.name)));
    out.push(
      '> [!CAUTION]',
      `> ⚠ ${plural(names.length, 'Job')} changed in place: ${names.join(', ')}. Job specs are immutable, so Flux's apply will fail. ` +
        'Job names must change with their content: re-synthesize with `cng synth` instead of editing dist/ by hand.',
      '',
    );
  }
  const heading = (d: DatasetDiff) => `### ${code(d.dataset)}${d.change === 'added' ? ' — new dataset' : d.change === 'removed' ? ' — dataset removed' : ''}`;
  for (const d of diff.datasets) out.push(heading(d), '', ...datasetSections(d));
  out.push(...filesDetails(diff.files));
  return out.join('\n') + '\n';
}

/** Which Jobs re-run because the worker image changed, and the rule that makes them. */
function workerNote(diff: ManifestDiff): string[] {
  const reruns = diff.datasets.flatMap((d) => d.jobsRerun.filter((j) => j.worker));
  if (!reruns.length) return [];
  const images = [...new Set(reruns.map((j) => `${code(j.worker!.old)} → ${code(j.worker!.new)}`))];
  const perDataset = diff.datasets
    .map((d) => [d.dataset, d.jobsRerun.filter((j) => j.worker).length] as const)
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${code(name)} ${n}`);
  return [
    '> [!IMPORTANT]',
    `> The worker changed: image ${images.join(', ')}. ${plural(reruns.length, 'Job')} re-run because the worker changed ` +
      `(${perDataset.join(', ')}): a Job's name covers its image, so every stage that runs the new worker runs again ` +
      '(docs/runbook.md, "A new worker"). The image workflow must have pushed the new tag before Flux applies this.',
    '',
  ];
}

/** `**title**` and its lines, or nothing when there are no lines. */
function section(title: string, lines: string[]): string[] {
  return lines.length ? [`**${title}**`, '', ...lines, ''] : [];
}

/** One dataset's sections, in the order a reviewer reads them. */
function datasetSections(d: DatasetDiff): string[] {
  const jobsAdded = d.jobsAdded.filter((j) => !j.newStage);
  const jobsRemoved = d.jobsRemoved.filter((j) => !j.stageRemoved);
  return [
    ...section(
      `⚠ Changed in place (${d.changedInPlace.length}): same Job name, different content; Flux's apply will fail`,
      d.changedInPlace.flatMap((j) => [`- ⚠ ${jobLabel(j)} ${code(j.name)}`, ...fieldLines(j.changes)]),
    ),
    ...stageSections(d),
    ...section(`Jobs re-run (${d.jobsRerun.length})`, rerunLines(d)),
    ...section(`Jobs added (${jobsAdded.length})`, jobsAdded.map((j) => `- ${jobLabel(j)}: ${code(j.name)}`)),
    ...section(`Jobs removed (${jobsRemoved.length})`, jobsRemoved.map((j) => `- ${jobLabel(j)}: ${code(j.name)}`)),
    ...section(
      `Rescaled in place (${d.scaled.length}): parallelism is mutable, Flux applies it to the live Job without a re-run`,
      d.scaled.flatMap((j) => [`- ${jobLabel(j)} ${code(j.name)}`, ...fieldLines(j.changes)]),
    ),
    ...section(
      `Kustomizations changed (${d.kustomizationsChanged.length})`,
      d.kustomizationsChanged.flatMap((k) => [`- ${code(k.name)}`, ...fieldLines(k.changes)]),
    ),
    ...section(`Armada job sets (${d.armadaAdded.length + d.armadaRemoved.length + d.armadaChanged.length})`, armadaLines(d)),
    ...section(
      `Other objects (${d.otherChanges.length})`,
      d.otherChanges.flatMap((o) => [`- ${o.change} ${code(o.object)} in ${code(o.file)}`, ...fieldLines(o.changes)]),
    ),
  ];
}

function stageSections(d: DatasetDiff): string[] {
  const stageLine = (s: StageRef, what: string) => {
    const jobs = s.jobs.length === 0 ? '' : s.jobs.length <= 3 ? ` — ${what} ${s.jobs.map(code).join(', ')}` : ` — ${what} ${plural(s.jobs.length, 'Job')}`;
    return `- ${code(s.stageId)}${s.path ? ` → ${code(s.path)}` : ''}${jobs}`;
  };
  // A stage that moved between Flux Jobs and an Armada job set shows up as a stage removed + a job set added.
  const moved = (s: StageRef, sets: ArmadaRef[], note: string) => (sets.some((a) => a.stageId === s.stageId) ? ` (${note})` : '');
  return [
    ...section(
      `Stages added (${d.stagesAdded.length})`,
      d.stagesAdded.map((s) => stageLine(s, 'Job') + moved(s, d.armadaRemoved, 'was an Armada job set')),
    ),
    ...section(
      `Stages removed (${d.stagesRemoved.length})`,
      d.stagesRemoved.map((s) => stageLine(s, 'Job') + moved(s, d.armadaAdded, 'now an Armada job set, see below')),
    ),
  ];
}

function rerunLines(d: DatasetDiff): string[] {
  return d.jobsRerun.flatMap((j) => {
    const why: string[] = [];
    if (j.run) why.push(`run bumped (${code('cng/run')} ${j.run.old} → ${j.run.new})`);
    if (j.worker) why.push('the worker changed');
    if (j.upstream.length) why.push(`upstream ${j.upstream.length > 1 ? 'stages' : 'stage'} ${j.upstream.map(code).join(', ')} changed`);
    if (j.changes.length) why.push(plural(j.changes.length, 'field') + ' changed:');
    if (!why.length) why.push(j.reason);
    return [`- ${jobLabel(j)}: ${code(j.oldName)} → ${code(j.newName)} — ${why.join('; ')}`, ...fieldLines(j.changes)];
  });
}

function armadaLines(d: DatasetDiff): string[] {
  return [
    ...d.armadaAdded.map((a) => `- added ${code(a.stageId)}: job set ${code(a.jobSetId)}, ${plural(a.jobs, 'job')}`),
    ...d.armadaRemoved.map((a) => `- removed ${code(a.stageId)}: job set ${code(a.jobSetId)}, ${plural(a.jobs, 'job')}`),
    ...d.armadaChanged.flatMap((a) => [
      `- ${a.inPlace ? '⚠ changed in place' : 'changed'} ${code(a.stageId)}: ${
        a.inPlace ? `job set ${code(a.newJobSetId)} kept its id (it will not be re-submitted)` : `job set ${code(a.oldJobSetId)} → ${code(a.newJobSetId)}`
      }${a.oldJobs !== a.newJobs ? `, jobs ${a.oldJobs} → ${a.newJobs}` : ''}`,
      ...fieldLines(a.changes.filter((c) => c.path !== 'jobSetId' && c.path !== 'jobs.length')),
    ]),
  ];
}

/** The files, git-status style, folded away. */
function filesDetails(f: ManifestDiff['files']): string[] {
  const fileLines = [
    ...f.added.map((p) => `A  ${p}`),
    ...f.removed.map((p) => `D  ${p}`),
    ...f.modified.map((p) => `M  ${p}`),
  ].sort((x, y) => x.slice(3).localeCompare(y.slice(3)));
  return [
    '<details>',
    `<summary>Files: ${f.added.length} added, ${f.removed.length} removed, ${f.modified.length} modified</summary>`,
    '',
    '```',
    ...fileLines,
    '```',
    '',
    '</details>',
  ];
}
