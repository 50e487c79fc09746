/**
 * The writing brief of `cng docs <dataset> --brief`: for whoever writes the prose (a person or an
 * LLM), the facts, sample values, value counts of coded columns, source links and exactly which
 * descriptions are missing.
 */
import { proseSchema, type DocsInput, type ResolvedProse } from '../../../constructs/prose.ts';
import { human } from '../../core/text.ts';
import { layerColumnDescription, type ProseProblem, rasterColumnDescription, uniqueColumns } from './check.ts';
import type { Facts, LayerFacts, RasterFacts, Samples, TableFacts } from './facts.ts';
import { fmtInt, truncate } from './readme.ts';

/** The writing brief: facts, samples, source links and exactly which descriptions are missing. */
export function writingBrief(input: DocsInput, facts: Facts, samples: Samples | undefined, problems: ProseProblem[]): string {
  const parsed = proseSchema.safeParse(input.prose ?? {});
  const prose = parsed.success ? parsed.data : undefined;
  const L: string[] = [];
  L.push(`# Writing brief: ${input.name} (${input.title})`, '');
  L.push(
    `Write the prose in \`datasets/${input.name}.prose.ts\` (format: \`constructs/prose.ts\`, a \`DatasetProse\` object; the dataset file's \`prose\` field imports it). ` +
      'Describe what each column MEANS to a reader (units, codes, how it was derived, what null means), not its type. ' +
      `Then \`npx cng docs ${input.name} --check\` must pass.`,
    '',
  );
  L.push('## Source links', '');
  if (input.source) L.push(`- source: \`${input.source}\``);
  for (const r of input.rasters ?? []) L.push(`- raster ${r.key}: ${r.sources.map((x) => `\`${x}\``).join(', ')}`);
  if (prose?.doi) L.push(`- DOI: https://doi.org/${prose.doi}`);
  for (const l of prose?.links ?? []) L.push(`- ${l.title}: ${l.href}`);
  L.push('');
  L.push(`## Missing descriptions (${problems.length})`, '');
  if (problems.length) L.push(...problems.map((p) => `- ${p.what}: ${p.message} → \`${p.field}\``));
  else L.push('None: every published column is described.');
  L.push('');
  if (facts.missing.length) L.push('## Products not found', '', ...facts.missing.map((m) => `- ${m}`), '');
  for (const l of facts.layers) L.push(...briefLayer(l, prose, samples));
  for (const r of facts.rasters) L.push(...briefRaster(r, prose));
  for (const t of facts.tables) L.push(...briefTable(t, samples));
  return L.join('\n');
}

/** A layer's facts, its columns (described or not, sample values) and the value counts of coded columns. */
function briefLayer(l: LayerFacts, prose: ResolvedProse | undefined, samples: Samples | undefined): string[] {
  const L = [`## Layer ${l.layer.key} (source layer \`${l.layer.sourceLayer}\`)`, ''];
  if (l.geoparquet)
    L.push(
      `- ${fmtInt(l.geoparquet.rows)} features, ${human(l.geoparquet.size)}, geometry ${l.geoparquet.geo?.geometryTypes?.join('/') ?? '?'}, bbox ${JSON.stringify(l.geoparquet.geo?.bbox ?? null)}`,
    );
  if (l.pmtiles) L.push(`- PMTiles layers: ${l.pmtiles.layers.map((x) => x.id).join(', ')}; zooms ${l.pmtiles.minZoom}–${l.pmtiles.maxZoom}`);
  if (l.hex) L.push(`- hex: resolution ${l.hex.manifest.resolution}, parents ${l.hex.manifest.parents.join(', ')}, ${fmtInt(l.hex.manifest.cells)} cells`);
  L.push('', '| column | type | described? | sample values |', '|---|---|---|---|');
  for (const c of uniqueColumns([...(l.geoparquet?.columns ?? []), ...(l.hex?.columns ?? [])])) {
    const d = layerColumnDescription(prose, l.layer, c.name);
    const vals = samples?.values[l.layer.key]?.[c.name] ?? [];
    L.push(`| \`${c.name}\` | ${c.type.replace(/\|/g, '\\|')} | ${d ? d.from : '**missing**'} | ${vals.map((v) => `\`${truncate(v, 40).replace(/\|/g, '\\|')}\``).join(', ')} |`);
  }
  const counts = Object.entries(samples?.counts[l.layer.key] ?? {});
  if (counts.length) {
    L.push('', 'Value counts of coded columns (VARCHAR with at most 40 distinct values):', '');
    for (const [col, vc] of counts) L.push(`- \`${col}\`${prose?.codes[col] ? ' (codes described)' : ''}: ${vc.map(([v, n]) => `${v} ${fmtInt(n)}`).join(', ')}`);
  }
  L.push('');
  return L;
}

/** A raster's facts from its manifest, what to write for it, and its hex columns (described or not). */
function briefRaster(r: RasterFacts, prose: ResolvedProse | undefined): string[] {
  const m = r.manifest;
  const L = [`## Raster ${r.raster.key} (${r.raster.valueKind}; sources ${r.raster.sources.map((x) => `\`${x}\``).join(', ')})`, ''];
  L.push(`Write \`rasters.${r.raster.key}\`: title, description, units${r.raster.valueKind === 'categorical' ? ', classes (code → meaning)' : ''}.`, '');
  if (m) {
    L.push(`- ${m.cog.width} × ${m.cog.height} pixels, CRS ${m.cog.crs.length > 40 ? '(WKT)' : m.cog.crs}, bands ${m.bands.map((b) => `${b.name} (${b.dataType})`).join(', ')}, nodata ${m.nodata ?? 'none'}`);
    L.push(`- hex: resolution ${m.resolution}, ${fmtInt(m.cells)} cells, ${(m.nodataShare * 100).toFixed(1)}% nodata pixels`);
    if (m.valueRange) L.push(`- value range: ${Object.entries(m.valueRange).map(([k, [a, b]]) => `${k} ${a} to ${b}`).join(', ')}`);
    if (m.classes) L.push(`- classes (cells): ${Object.entries(m.classes).map(([k, n]) => `${k} ${fmtInt(n)}`).join(', ')}`);
  }
  L.push('', '| column | type | described? |', '|---|---|---|');
  for (const c of r.hexColumns ?? []) {
    const d = rasterColumnDescription(prose, r.raster, c.name, m?.bands);
    L.push(`| \`${c.name}\` | ${c.type.replace(/\|/g, '\\|')} | ${d ? d.from : '**missing**'} |`);
  }
  L.push('');
  return L;
}

/** A table's row count and columns, and all its rows when it is small. */
function briefTable(t: TableFacts, samples: Samples | undefined): string[] {
  const L = [`## Table ${t.table.sourceLayer}`, ''];
  if (!t.parquet) {
    L.push('(not found)', '');
    return L;
  }
  L.push(`${fmtInt(t.parquet.rows)} rows; columns: ${t.parquet.columns.map((c) => `\`${c.name}\` ${c.type}`).join(', ')}`, '');
  const rows = samples?.rows[t.table.sourceLayer];
  if (rows?.length) {
    const cols = Object.keys(rows[0]);
    L.push(`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`);
    for (const r of rows) L.push(`| ${cols.map((c) => (r[c] ?? '').replace(/\|/g, '\\|')).join(' | ')} |`);
    L.push('');
  }
  return L;
}
