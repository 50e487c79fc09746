import {
  hexWorkUnits, HEX_DEFAULTS, layerHexSettings, MAX_HEX_UNITS, RASTER_HEX_DEFAULTS, RASTER_HEX_UNITS, RESERVED_DATASET_NAMES, slugify, tableStageId,
} from './defaults.ts';
import { reencodeIssues } from './reencode.ts';
import type { ClusterProfile } from './profile.ts';
import { pointsSizing } from './points.ts';
import type { ResolvedDatasetSpec } from './spec.ts';
import { fileNameOf } from '../worker/core/text.ts';

/**
 * The rules a dataset file must follow beyond its schema's shape: fields that must agree with
 * each other (names that would write the same products, hex and zoom settings, work-unit counts),
 * sources that must not carry credentials, the pod budget, and datasets that must not share a
 * place in a bucket. Every problem is one `SpecIssue` naming the field; `cng synth` prints them as
 * `dataset <name>: invalid dataset file:` followed by one `  <field>: <message>` line each.
 */

export interface SpecIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

/** A dataset file that breaks a rule: its message names the dataset and, per line, the field. */
export class SpecError extends Error {
  constructor(readonly dataset: string, readonly issues: SpecIssue[]) {
    super(formatSpecIssues(dataset, issues));
  }
}

export function formatSpecIssues(dataset: string, issues: SpecIssue[]): string {
  return `dataset ${dataset}: invalid dataset file:\n${issues.map((i) => `  ${i.path.join('.') || '(dataset)'}: ${i.message}`).join('\n')}`;
}

/** Every cross-field problem of one (schema-valid) dataset file. */
export function datasetIssues(d: ResolvedDatasetSpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  if ((RESERVED_DATASET_NAMES as readonly string[]).includes(d.name))
    out.push({ path: ['name'], message: `"${d.name}" is reserved: dist/${d.name}/ holds ${d.name === 'flux' ? "every dataset's Flux Kustomizations" : 'the Armada job sets'} (reserved: ${RESERVED_DATASET_NAMES.join(', ')})` });
  if (Object.keys(d.layers).length + d.tables.length + Object.keys(d.rasters).length + Object.keys(d.reencode).length + Object.keys(d.points).length === 0)
    out.push({ path: [], message: 'a dataset needs at least one layer, table, raster, points source or reencode' });
  // The dataset source is what layers without their own source and every table read.
  if (d.source === undefined && (d.tables.length > 0 || Object.values(d.layers).some((l) => l.source === undefined)))
    out.push({
      path: ['source'],
      message: Object.keys(d.rasters).length ? 'Required by the layers without their own source and the tables (a raster-only dataset needs none)' : 'Required',
    });
  out.push(...sourceIssues(d), ...layerIssues(d), ...tableIssues(d), ...rasterIssues(d), ...reencodeIssues(d), ...pointsIssues(d), ...tilesetIssues(d));
  // One issue per field and message (a dataset-wide setting may break several layers alike).
  const seen = new Set<string>();
  return out.filter((i) => {
    const id = `${i.path.join('.')}\0${i.message}`;
    return !seen.has(id) && Boolean(seen.add(id));
  });
}

/** Kustomization names (`<dataset>-<stage>`) end up in label values: at most 63 characters. */
function stageNameIssue(d: ResolvedDatasetSpec, path: (string | number)[], stageId: string): SpecIssue[] {
  const name = `${d.name}-${stageId}`;
  return name.length > 63 ? [{ path, message: `stage name "${name}" is ${name.length} characters; shorten the dataset name or this key so it fits 63` }] : [];
}

function layerIssues(d: ResolvedDatasetSpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  const names = new Map<string, string>();
  for (const [key, l] of Object.entries(d.layers)) {
    out.push(...stageNameIssue(d, ['layers', key], `${key}-repartition`));
    const name = l.name ?? key;
    const clash = names.get(name);
    if (clash !== undefined)
      out.push({
        path: ['layers', key, 'name'],
        message: `product name "${name}" is also layer ${clash}'s; every layer needs its own name (both would write ${name}.parquet, ${name}.pmtiles and ${name}/hex)`,
      });
    names.set(name, key);
    out.push(...hexIssues(d, key), ...zoomIssues(key, l.pmtiles || undefined));
  }
  return out;
}

/** A layer's hex settings: parents coarser than the resolution, a sane number of work units, retries that exist. */
function hexIssues(d: ResolvedDatasetSpec, key: string): SpecIssue[] {
  const out: SpecIssue[] = [];
  const l = d.layers[key];
  const hex = layerHexSettings(d.hex, l.hex);
  const at = (field: string) => ['layers', key, 'hex', field];
  // The field to fix: the layer's when its own resolution or parents make the pair wrong.
  const parentsFrom = l.hex?.parents || l.hex?.resolution !== undefined ? at('parents') : ['hex', 'parents'];
  const bad = hex.parents.filter((p) => p >= hex.resolution);
  if (bad.length) {
    const defaults = !l.hex?.parents && !d.hex.parents ? ` (the default parents are ${HEX_DEFAULTS.parents.join(', ')}: set hex.parents)` : '';
    out.push({ path: parentsFrom, message: `parent resolution(s) ${bad.join(', ')} are not coarser than the resolution ${hex.resolution}${defaults}` });
  }
  const units = hexWorkUnits(l.features, hex.featuresPerUnit);
  if (units > MAX_HEX_UNITS)
    out.push({
      path: at('featuresPerUnit'),
      message: `${l.features} features at ${hex.featuresPerUnit} per unit make ${units} hex work units, over the limit of ${MAX_HEX_UNITS} per layer; raise featuresPerUnit to at least ${Math.ceil(l.features / MAX_HEX_UNITS)}`,
    });
  const retry = l.hex?.retry;
  if (retry?.run !== undefined && retry.run !== d.run)
    out.push({
      path: [...at('retry'), 'run'],
      message: `retries the failed Jobs of run ${retry.run}, but the dataset is now run ${d.run}: remove layers.${key}.hex.retry (a new run re-runs every work unit)`,
    });
  const indexes = retry?.indexes ?? [];
  const outside = indexes.filter((i) => i >= units);
  if (outside.length) out.push({ path: [...at('retry'), 'indexes'], message: `work unit(s) ${outside.join(', ')} outside 0..${units - 1} (the layer has ${units} hex work units)` });
  const dups = [...new Set(indexes.filter((i, n) => indexes.indexOf(i) !== n))];
  if (dups.length) out.push({ path: [...at('retry'), 'indexes'], message: `work unit(s) ${dups.join(', ')} listed more than once` });
  return out;
}

function zoomIssues(key: string, pmtiles: { minZoom?: number; maxZoom?: number } | undefined): SpecIssue[] {
  const min = pmtiles?.minZoom ?? 0;
  const max = pmtiles?.maxZoom ?? 14;
  if (min <= max) return [];
  return [{ path: ['layers', key, 'pmtiles', 'minZoom'], message: `minZoom ${min} is above maxZoom ${max}${pmtiles?.maxZoom === undefined ? ' (the default)' : ''}` }];
}

/** Tables: each needs its own stage id (slug) and its own output file. */
function tableIssues(d: ResolvedDatasetSpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  const stages = new Map<string, number>();
  const files = new Map<string, number>();
  d.tables.forEach((t, i) => {
    const layer = typeof t === 'string' ? t : t.layer;
    const file = `${typeof t === 'string' ? t : t.name}.parquet`;
    const stage = tableStageId(layer);
    out.push(...stageNameIssue(d, ['tables', i], stage));
    if (slugify(layer) === '') out.push({ path: ['tables', i], message: `table "${layer}" has no letter or digit to name its stage` });
    else if (stages.has(stage))
      out.push({ path: ['tables', i], message: `table "${layer}" gets the stage id ${stage} of tables.${stages.get(stage)}; list each table once` });
    else if (files.has(file))
      out.push({ path: ['tables', i], message: `writes ${d.tablesDir ? `${d.tablesDir}/` : ''}${file} like tables.${files.get(file)}; give one of them another name ({ layer, name })` });
    if (/[,*?$]/.test(file)) out.push({ path: ['tables', i], message: `the file name "${file}" must not contain ",", "*", "?" or "$" (the bucket policy lists it); give it a name ({ layer, name })` });
    if (!stages.has(stage)) stages.set(stage, i);
    if (!files.has(file)) files.set(file, i);
  });
  return out;
}

function rasterIssues(d: ResolvedDatasetSpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  const layerNames = new Map(Object.entries(d.layers).map(([k, l]) => [l.name ?? k, k]));
  const rasterNames = new Map<string, string>();
  for (const [key, r] of Object.entries(d.rasters)) {
    out.push(...stageNameIssue(d, ['rasters', key], `${key}-raster-manifest`));
    if (key in d.layers) out.push({ path: ['rasters', key], message: `"${key}" is also a layer key; raster and layer keys must differ (they name the stages)` });
    const name = r.name ?? key;
    const clash = rasterNames.get(name);
    if (clash !== undefined) out.push({ path: ['rasters', key, 'name'], message: `product name "${name}" is also raster ${clash}'s; every raster needs its own name` });
    rasterNames.set(name, key);
    const layer = layerNames.get(name);
    if (layer !== undefined)
      out.push({ path: ['rasters', key, 'name'], message: `product name "${name}" is also layer ${layer}'s; rasters and layers need different names (products, STAC assets)` });
    const res = r.hex?.resolution ?? RASTER_HEX_DEFAULTS.resolution;
    const badParents = (r.hex?.parents ?? []).filter((p) => p >= res);
    if (badParents.length) out.push({ path: ['rasters', key, 'hex', 'parents'], message: `parent resolution(s) ${badParents.join(', ')} are not coarser than the resolution ${res}` });
    if (r.valueKind === 'categorical' && (r.bands?.length ?? 1) > 1)
      out.push({ path: ['rasters', key, 'bands'], message: `a categorical raster has one band; got ${r.bands!.length}` });
    out.push(...rasterValueIssues(key, r));
  }
  const rasters = Object.values(d.rasters);
  if (rasters.length > 0 && rasters.every((r) => r.skip) && Object.keys(d.layers).length + d.tables.length === 0)
    out.push({ path: ['rasters'], message: 'every raster is skipped: the dataset would publish nothing' });
  return out;
}

/** A raster's value column, scale and offset against its value kind and bands. */
function rasterValueIssues(key: string, r: ResolvedDatasetSpec['rasters'][string]): SpecIssue[] {
  const out: SpecIssue[] = [];
  if (r.valueColumn !== undefined && (r.bands?.length ?? 1) > 1)
    out.push({ path: ['rasters', key, 'valueColumn'], message: `names the one value column of a single-band raster; ${r.bands!.length} bands get one column each, named after the bands` });
  if (r.valueKind === 'categorical' && (r.scale !== undefined || r.offset !== undefined))
    out.push({ path: ['rasters', key, r.scale !== undefined ? 'scale' : 'offset'], message: 'a categorical raster has class codes: they cannot be scaled' });
  if (r.valueKind === 'count' && r.offset !== undefined)
    out.push({ path: ['rasters', key, 'offset'], message: "a count raster's cells sum their pixels' values: an offset would be added once per pixel; scale only, or make it continuous" });
  return out;
}

/** Points sources: names apart from layers' and rasters', parents coarser than the resolution, units within the limit. */
function pointsIssues(d: ResolvedDatasetSpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  const taken = new Map([...Object.entries(d.layers), ...Object.entries(d.rasters)].map(([k, x]) => [x.name ?? k, k]));
  for (const [key, p] of Object.entries(d.points)) {
    out.push(...stageNameIssue(d, ['points', key], `${key}-points-repartition`));
    if (key in d.layers || key in d.rasters) out.push({ path: ['points', key], message: `"${key}" is also a layer or raster key; keys must differ (they name the stages)` });
    const name = p.name ?? key;
    if (taken.has(name)) out.push({ path: ['points', key, 'name'], message: `product name "${name}" is also ${taken.get(name)}'s; every product needs its own name` });
    taken.set(name, key);
    const res = p.hex?.resolution ?? 10;
    const bad = (p.hex?.parents ?? []).filter((x) => x >= res);
    if (bad.length) out.push({ path: ['points', key, 'hex', 'parents'], message: `parent resolution(s) ${bad.join(', ')} are not coarser than the resolution ${res}` });
    const { units, filesPerUnit } = pointsSizing(p);
    if (units > MAX_HEX_UNITS)
      out.push({ path: ['points', key, 'filesPerUnit'], message: `${p.files} files at ${filesPerUnit} per unit make ${units} points-hex units, over the limit of ${MAX_HEX_UNITS}; raise filesPerUnit to at least ${Math.ceil(p.files / MAX_HEX_UNITS)}` });
  }
  return out;
}

/**
 * Tilesets: member layers that exist, zoom ranges in order that neither overlap nor leave a gap,
 * keys and names of their own (they name stages and products).
 */
function tilesetIssues(d: ResolvedDatasetSpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  const products = new Map<string, string>([
    ...Object.entries(d.layers).map(([k, l]): [string, string] => [l.name ?? k, `layer ${k}`]),
    ...Object.entries(d.rasters).map(([k, r]): [string, string] => [r.name ?? k, `raster ${k}`]),
  ]);
  for (const [key, t] of Object.entries(d.tilesets)) {
    const at = (...p: (string | number)[]) => ['tilesets', key, ...p];
    if (key in d.layers || key in d.rasters) out.push({ path: at(), message: `"${key}" is also a ${key in d.layers ? 'layer' : 'raster'} key; tileset keys must differ (they name the stages)` });
    const name = t.name ?? key;
    const clash = products.get(name);
    if (clash !== undefined) out.push({ path: at('name'), message: `product name "${name}" is also ${clash}'s; the tileset needs its own name (${name}.pmtiles, ${name}/manifest.json)` });
    products.set(name, `tileset ${key}`);
    const ranges = Object.entries(t.zooms);
    if (!ranges.length) out.push({ path: at('zooms'), message: 'list at least one layer and its zooms, e.g. { l3: [0, 1] }' });
    for (const [layer, [min, max]] of ranges) {
      if (!(layer in d.layers)) out.push({ path: at('zooms', layer), message: `no layer ${layer} (layers: ${Object.keys(d.layers).join(', ') || 'none'})` });
      if (min > max) out.push({ path: at('zooms', layer), message: `first zoom ${min} is above last zoom ${max}` });
      out.push(...stageNameIssue(d, at('zooms', layer), `${key}-${layer}-tiles`));
    }
    const sorted = ranges.filter(([, [a, b]]) => a <= b).sort((x, y) => x[1][0] - y[1][0]);
    for (let i = 1; i < sorted.length; i++) {
      const [prev, [, prevMax]] = sorted[i - 1];
      const [layer, [min]] = sorted[i];
      if (min <= prevMax) out.push({ path: at('zooms', layer), message: `zooms of ${layer} start at ${min}, within ${prev}'s (up to ${prevMax}); the tiles of a zoom come from one layer` });
      else if (min > prevMax + 1) out.push({ path: at('zooms', layer), message: `no layer for zoom${min - prevMax > 2 ? `s ${prevMax + 1}–${min - 1}` : ` ${prevMax + 1}`} (between ${prev} and ${layer}); the archive would be empty there` });
    }
    for (const layer of Object.keys(t.units ?? {}))
      if (!(layer in t.zooms)) out.push({ path: at('units', layer), message: `${layer} is not a member of the tileset (zooms: ${Object.keys(t.zooms).join(', ')})` });
    out.push(...stageNameIssue(d, at(), `${key}-tiles-merge`));
  }
  return out;
}

/** Every source string of a dataset file with its field, checked for credentials. */
function sourceIssues(d: ResolvedDatasetSpec): SpecIssue[] {
  const sources: [(string | number)[], string][] = [];
  const add = (path: (string | number)[], src: string | string[] | undefined) => {
    if (typeof src === 'string') sources.push([path, src]);
    else src?.forEach((s, i) => sources.push([[...path, i], s]));
  };
  add(['source'], d.source);
  for (const [key, l] of Object.entries(d.layers)) add(['layers', key, 'source'], l.source);
  for (const [key, r] of Object.entries(d.rasters)) add(['rasters', key, 'source'], r.source);
  for (const [key, p] of Object.entries(d.points)) add(['points', key, 'source'], p.source);
  for (const [key, r] of Object.entries(d.reencode)) add(['reencode', key, 'from'], r.from);
  return [...fetchIssues(d), ...sources.flatMap(([path, s]) => {
    const what = credentialIn(s);
    return what
      ? [{ path, message: `contains a credential (${what}); the source is copied literally into dist/ and git: give the Jobs credentials through the 'aws' secret, or use a public URL` }]
      : [];
  })];
}

/** `fetch: true` sources: http(s) URLs without wildcards, whose file names (their raw/ keys) differ. */
function fetchIssues(d: ResolvedDatasetSpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  const rawNames = new Map<string, string>();
  const owners: [(string | number)[], { source?: string | string[]; fetch?: boolean }][] = [
    [[], d],
    ...Object.entries(d.layers).map(([k, l]): [(string | number)[], typeof l] => [['layers', k], l]),
  ];
  for (const [path, o] of owners) {
    if (!o.fetch || o.source === undefined) continue;
    for (const url of typeof o.source === 'string' ? [o.source] : o.source) {
      const name = fileNameOf(url);
      // In a URL, '?' starts the query (Zenodo's ?download=1): only '*' marks a glob.
      if (!/^https?:\/\/[^*]+$/i.test(url) || !name)
        out.push({ path: [...path, 'fetch'], message: `fetch downloads http(s) URLs of files; '${url}' is not one (list each file; no wildcards)` });
      else if (rawNames.has(name) && rawNames.get(name) !== url)
        out.push({ path: [...path, 'source'], message: `'${url}' and '${rawNames.get(name)}' would both be fetched to raw/${name}` });
      else rawNames.set(name, url);
    }
  }
  return out;
}

/** Query-parameter and option names that carry a secret (signed URLs, tokens, keys, passwords). */
const SECRET_NAME = /^(x-(amz|goog)-(signature|credential|security-token)|awsaccesskeyid|signature|sig|.*secret.*|.*passw(or)?d.*|pwd|.*token.*|.*api[-_]?key.*|.*access[-_]?key.*|credentials?)$/i;

/**
 * What kind of credential a source string carries, or undefined. Never returns the secret itself
 * (messages must not copy it either): user info in a URL (`https://user:pass@host`,
 * `s3://AKIA…:secret@bucket`), signed-URL or token query parameters (`X-Amz-Signature=`,
 * `AWS_SECRET_ACCESS_KEY=`, `sig=`, `token=`), `password=`-style options, AWS access key ids.
 */
export function credentialIn(source: string): string | undefined {
  if (/:\/\/[^/?#\s]*@/.test(source)) return 'a user name or password in the URL';
  for (const [, query] of source.matchAll(/\?([^#]*)/g))
    for (const pair of query.split('&')) {
      const name = decodeParam(pair.split('=')[0]);
      if (SECRET_NAME.test(name)) return `the query parameter ${name}`;
    }
  const option = /(?:^|[\s;:,"'])([a-z_]*(?:password|passwd|pwd|secret[a-z_]*|session_token))\s*=/i.exec(source);
  if (option) return `the option ${option[1]}`;
  if (/(?:^|[^A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/.test(source)) return 'an AWS access key id';
  return undefined;
}

function decodeParam(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Hex Jobs of a dataset's stages that may all run at once: per Flux layer, and all rasters together. */
export function hexJobCounts(d: ResolvedDatasetSpec, profile: ClusterProfile): { layers: { key: string; jobs: number }[]; rasters: number; total: number } {
  const perJob = profile.maxCompletionsPerJob;
  const layers = Object.entries(d.layers)
    .map(([key, l]) => ({ key, l, hex: layerHexSettings(d.hex, l.hex) }))
    .filter((x) => x.hex.runner === 'flux')
    .map(({ key, l, hex }) => ({ key, jobs: Math.ceil(hexWorkUnits(l.features, hex.featuresPerUnit) / perJob) }));
  const rasters = Object.values(d.rasters).filter((r) => !r.skip).length * Math.ceil(RASTER_HEX_UNITS / perJob);
  const points = Object.values(d.points)
    .filter((p) => (p.hex?.runner ?? 'flux') === 'flux')
    .reduce((n, p) => n + Math.ceil(pointsSizing(p).units / perJob), 0);
  return { layers, rasters, total: layers.reduce((n, x) => n + x.jobs, 0) + rasters + points };
}

/**
 * The dataset's hex Jobs each run at least one pod, and may all run at once: more Jobs than
 * `maxPods` cannot be scheduled within it whatever the parallelism. Names the layer to split.
 */
export function hexBudgetIssues(d: ResolvedDatasetSpec, profile: ClusterProfile): SpecIssue[] {
  const { layers, total } = hexJobCounts(d, profile);
  if (total <= d.maxPods) return [];
  const perJob = profile.maxCompletionsPerJob;
  const raise = total <= profile.podBudget ? `, or raise maxPods to ${total}` : '';
  const biggest = layers.reduce<{ key: string; jobs: number } | undefined>((a, x) => (a && a.jobs >= x.jobs ? a : x), undefined);
  if (!biggest || biggest.jobs === 1)
    return [{ path: ['maxPods'], message: `the hex stages need ${total} Jobs at once (one pod each at least), over maxPods ${d.maxPods}: move some layers or rasters to another dataset${raise}` }];
  const l = d.layers[biggest.key];
  const hex = layerHexSettings(d.hex, l.hex);
  const units = hexWorkUnits(l.features, hex.featuresPerUnit);
  const allowed = d.maxPods - (total - biggest.jobs);
  const split = allowed >= 1 ? `split it into fewer, larger units (featuresPerUnit ≥ ${Math.ceil(l.features / (allowed * perJob))}), ` : '';
  return [
    {
      path: ['layers', biggest.key, 'hex', 'featuresPerUnit'],
      message:
        `${l.features} features in ${units} hex work units make ${biggest.jobs} Jobs of ≤${perJob} completions, each running one pod at least, ` +
        `and the dataset's ${total} hex Jobs exceed maxPods ${d.maxPods}: ${split}run it through Armada (hex: { runner: 'armada' })${raise}`,
    },
  ];
}

/**
 * Problems between datasets: two that share a bucket and prefix would write each other's
 * products, work files and bucket policy statements; two with prose in one bucket would both
 * write README.md and stac-collection.json at its root. Keyed by the dataset that repeats it.
 */
export function datasetsTogetherIssues(specs: ResolvedDatasetSpec[]): Map<string, SpecIssue[]> {
  const out = new Map<string, SpecIssue[]>();
  const add = (name: string, issue: SpecIssue) => (out.get(name) ?? out.set(name, []).get(name)!).push(issue);
  const places = new Map<string, string>();
  const documented = new Map<string, string>();
  for (const d of specs) {
    const place = `${d.bucket}/${d.prefix}`;
    const other = places.get(place);
    if (other !== undefined)
      add(d.name, {
        path: ['prefix'],
        message: `bucket ${d.bucket} with prefix "${d.prefix}" is also dataset ${other}'s; give each dataset its own prefix (both would write the same products and work files)`,
      });
    else places.set(place, d.name);
    if (!d.prose) continue;
    const documenter = documented.get(d.bucket);
    if (documenter !== undefined)
      add(d.name, {
        path: ['prose'],
        message: `bucket ${d.bucket} already gets README.md and stac-collection.json from dataset ${documenter}'s prose (the docs stage writes both at the bucket root); give dataset ${d.name} its own bucket, or leave its prose out`,
      });
    else documented.set(d.bucket, d.name);
  }
  return out;
}
