import { slugify } from './defaults.ts';
import type { RasterInput } from './spec.ts';

/**
 * Many rasters of one product (IUCN richness: 14 GeoTIFFs; carbon: 18 COGs) as a dataset file's
 * `rasters`, from a list of names and one template (docs/datasets.md#raster-sets). Each name
 * becomes one raster keyed `slugify(name)` (lower case, other characters → '-'). In the template's
 * strings (`source`, `name`, `valueColumn`, `skip`), `{name}` is the name as listed, `{key}` the
 * key and `{column}` the name as a column (lower case, other characters → '_'). Per-name fields
 * (a record instead of a list) override the template's: a value kind, a scale, `skip: 'reason'`.
 *
 * ```ts
 * rasters: rasterSet(['Birds_SR', 'Combined_RWR'], {
 *   source: 's3://public-iucn/raw/richness/{name}_2025.tif', valueKind: 'count', valueColumn: '{column}',
 * }),
 * ```
 */
export function rasterSet(names: readonly string[] | Readonly<Record<string, Partial<RasterInput>>>, template: Partial<RasterInput>): Record<string, RasterInput> {
  const entries: [string, Partial<RasterInput>][] = Array.isArray(names) ? names.map((n) => [n, {}]) : Object.entries(names);
  const out: Record<string, RasterInput> = {};
  for (const [name, own] of entries) {
    const key = slugify(name);
    if (key in out) throw new Error(`rasterSet: '${name}' gives the key '${key}' of an earlier name; every name needs its own key`);
    const fill = (s: string) => s.replaceAll('{name}', name).replaceAll('{key}', key).replaceAll('{column}', key.replaceAll('-', '_'));
    const merged = { ...template, ...own } as RasterInput;
    const strings = Object.fromEntries(
      (['name', 'valueColumn', 'skip'] as const).filter((f) => typeof merged[f] === 'string').map((f) => [f, fill(merged[f] as string)]),
    );
    const source = typeof merged.source === 'string' ? fill(merged.source) : Array.isArray(merged.source) ? merged.source.map(fill) : merged.source;
    out[key] = { ...merged, ...strings, source };
  }
  return out;
}
