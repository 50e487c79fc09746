/**
 * The docs stage (`cng-worker docs`; `cng docs` runs the same on a local or remote store):
 * README.md and stac-collection.json for a dataset, from FACTS read off the published files
 * (facts.ts: Parquet footers via DuckDB, GeoParquet `geo` metadata, the PMTiles header and
 * metadata, each layer's and raster's manifest.json, object sizes; no GDAL) merged with the PROSE
 * kept next to the dataset file (constructs/prose.ts), after checking that the prose describes
 * everything published (check.ts). Rules and formats: docs/reading-products.md#dataset-documentation.
 */
import type { DocsInput } from '../../../constructs/prose.ts';
import { CommandError } from '../../core/errors.ts';
import { log } from '../../core/log.ts';
import { Storage, storeFromEnv, type ObjectStore } from '../../io/storage.ts';
import type { RawOptions } from '../../stage.ts';
import { docsStageDef } from '../stages.ts';
import { checkProse, formatProblems, schemaSnapshot, type ProseProblem } from './check.ts';
import { gatherFacts, type Facts } from './facts.ts';
import { renderReadme } from './readme.ts';
import { buildStac } from './stac.ts';

/** The docs stage's input: inline JSON (what the synth writes) or a URL/path of a JSON file. */
export async function loadDocsInput(arg: string, storage = new Storage()): Promise<DocsInput> {
  const text = arg.trimStart().startsWith('{') ? arg : await storage.readText(arg);
  let input: DocsInput;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new CommandError(`--dataset-json: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (input?.version !== 1 || !Array.isArray(input.layers) || !Array.isArray(input.tables) || !input.bucket)
    throw new CommandError('--dataset-json: expected the docs input of cng synth (version 1, bucket, layers, tables, prose)');
  return input;
}

export interface DocsResult {
  readonly readme: string;
  readonly stac: Record<string, unknown>;
  readonly facts: Facts;
  readonly problems: ProseProblem[];
}

/**
 * Facts → README + STAC. Fails when a product is missing or (unless allowUndescribed) a published
 * column has no description. Writes to `readmeUrl`/`stacUrl` (the input's by default).
 */
export async function generateDocs(
  input: DocsInput,
  opts: { store?: ObjectStore; storage?: Storage; readmeUrl?: string; stacUrl?: string; allowUndescribed?: boolean; write?: boolean } = {},
): Promise<DocsResult> {
  const store = opts.store ?? storeFromEnv();
  const { facts } = await gatherFacts(input, store);
  const failed = (facts.failed ?? []).map((f) => `; raster ${f.key} failed (${f.error}): fix its source or declare it rasters.${f.key}.skip: '<reason>'`).join('');
  if (facts.missing.length) throw new CommandError(`dataset ${input.name}: ${facts.missing.length} product(s) missing: ${facts.missing.join(', ')}${failed}`);
  const problems = checkProse(input, input.prose, schemaSnapshot(input, facts, 'this run'));
  const blocking = problems.filter((p) => p.kind !== 'extra' && !(opts.allowUndescribed && p.kind === 'missing'));
  if (blocking.length)
    throw new CommandError(
      `dataset ${input.name}: the prose does not describe everything that is published (nothing was written):\n${formatProblems(blocking)}\n` +
        `Fill these in datasets/${input.name}.prose.ts ('cng docs ${input.name} --brief' shows facts and samples).`,
    );
  const readme = renderReadme(input, facts);
  const stac = buildStac(input, facts);
  if (opts.write !== false) {
    const storage = opts.storage ?? new Storage();
    await storage.writeText(opts.readmeUrl ?? input.readme, readme, 'text/markdown; charset=utf-8');
    await storage.writeText(opts.stacUrl ?? input.stac, JSON.stringify(stac, null, 2) + '\n', 'application/json');
  }
  return { readme, stac, facts, problems };
}

/** `cng-worker docs`. */
export async function docsStage(opts: RawOptions): Promise<void> {
  const { datasetJson, readme, stac, allowUndescribed } = docsStageDef.parse(opts);
  const input = await loadDocsInput(datasetJson);
  const r = await generateDocs(input, { readmeUrl: readme, stacUrl: stac, allowUndescribed });
  const assets = Object.keys(r.stac.assets as object).length;
  log('docs', `wrote ${readme ?? input.readme} (${r.readme.length} characters) and ${stac ?? input.stac} (${assets} assets)`);
  if (r.problems.length) log('docs', `warning: ${r.problems.length} description(s) missing:\n${formatProblems(r.problems)}`);
}
