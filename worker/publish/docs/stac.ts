/**
 * stac-collection.json: the dataset as a STAC 1.0.0 Collection (table v1.2.0 and file v2.1.0
 * extensions), one asset per published product with its facts and column descriptions.
 */
import type { DocsHexProduct, DocsInput, DocsTileset, ResolvedProse } from '../../../constructs/prose.ts';
import { layerColumnDescription, rasterColumnDescription, resolveProse, withCodes } from './check.ts';
import { type ColumnFact, type HexProductManifest, type PmtilesFact, type Facts, type LayerFacts, mirrorBase, publicUrl, type RasterFacts, type RasterManifest, type TableFacts } from './facts.ts';

const STAC_VERSION = '1.0.0';
export const STAC_EXTENSIONS = {
  table: 'https://stac-extensions.github.io/table/v1.2.0/schema.json',
  file: 'https://stac-extensions.github.io/file/v2.1.0/schema.json',
} as const;

/** Media type of a Cloud-Optimized GeoTIFF (STAC best practice). */
export const COG_MEDIA_TYPE = 'image/tiff; application=geotiff; profile=cloud-optimized';
const PARQUET_MEDIA_TYPE = 'application/vnd.apache.parquet';

/** The lab's role in every collection. */
export const LAB_PROVIDER = {
  name: 'Boettiger Lab (cng-datasets)',
  roles: ['processor', 'host'] as ('processor' | 'host')[],
  description: 'Converted the source to GeoParquet, PMTiles, H3 hex Parquet and Parquet tables and hosts them on the NRP Nautilus S3 store.',
  url: 'https://github.com/boettiger-lab',
};

type Assets = Record<string, Record<string, unknown>>;

/** The STAC Collection (STAC 1.0.0 + table v1.2.0 + file v2.1.0). */
export function buildStac(input: DocsInput, facts: Facts): Record<string, unknown> {
  const prose = resolveProse(input);
  const links = collectionLinks(input, prose);
  const bboxes = [
    ...facts.layers.map((l) => l.geoparquet?.geo?.bbox),
    // A raster crossing the antimeridian (west > east) spans every longitude in a plain bbox.
    ...facts.rasters.map((r) => (r.bounds ? (r.bounds[0] > r.bounds[2] ? [-180, r.bounds[1], 180, r.bounds[3]] : [...r.bounds]) : undefined)),
  ].filter((b): b is number[] => Array.isArray(b) && b.length === 4);
  const union = bboxes.length
    ? [Math.min(...bboxes.map((b) => b[0])), Math.min(...bboxes.map((b) => b[1])), Math.max(...bboxes.map((b) => b[2])), Math.max(...bboxes.map((b) => b[3]))]
    : [-180, -90, 180, 90];
  const assets: Assets = {};
  for (const l of facts.layers) addLayerAssets(assets, input, prose, l);
  for (const r of facts.rasters) addRasterAssets(assets, input, prose, r);
  for (const t of facts.tilesets ?? []) if (t.pmtiles) assets[`${t.tileset.name}-pmtiles`] = tilesetAsset(input, t.tileset, t.pmtiles);
  for (const { product, manifest } of facts.hexProducts ?? []) if (manifest) assets[`${product.name}-hex`] = hexProductAsset(input, product, manifest);
  for (const t of facts.tables) addTableAsset(assets, input, prose, t);
  return {
    type: 'Collection',
    stac_version: STAC_VERSION,
    stac_extensions: [STAC_EXTENSIONS.table, STAC_EXTENSIONS.file],
    id: input.name,
    title: prose.title,
    description: prose.description,
    keywords: prose.keywords,
    license: prose.license,
    providers: [...prose.providers, LAB_PROVIDER],
    extent: { spatial: { bbox: [union, ...(bboxes.length > 1 ? bboxes : [])] }, temporal: { interval: [prose.temporal] } },
    links,
    assets,
    ...(facts.rasters.some((r) => r.raster.skip) ? { 'cng:rasters': rasterSetStatus(facts) } : {}),
  };
}

/** Every raster of a set with its status, when some are not published: `{ key: { status, reason? } }`. */
function rasterSetStatus(facts: Facts): Record<string, { status: 'published' | 'skipped'; reason?: string }> {
  return Object.fromEntries(facts.rasters.map((r) => [r.raster.key, r.raster.skip ? { status: 'skipped', reason: r.raster.skip } : { status: 'published' }]));
}

/** self, root and parent (the collection stands alone), the README, license, DOI, the prose's links, the mirror. */
function collectionLinks(input: DocsInput, prose: ResolvedProse): Record<string, unknown>[] {
  const self = publicUrl(input, input.stac);
  return [
    { rel: 'self', href: self, type: 'application/json', title: `${prose.title} (STAC Collection)` },
    { rel: 'root', href: self, type: 'application/json', title: `${prose.title} (STAC Collection)` },
    { rel: 'parent', href: self, type: 'application/json', title: `${prose.title} (STAC Collection; standalone, its own parent)` },
    { rel: 'describedby', href: publicUrl(input, input.readme), type: 'text/markdown', title: 'README: layers, columns, codes, how to read' },
    ...(prose.licenseUrl ? [{ rel: 'license', href: prose.licenseUrl, title: 'License / terms of use' }] : []),
    ...(prose.doi ? [{ rel: 'cite-as', href: `https://doi.org/${prose.doi}`, title: 'Source DOI' }] : []),
    ...prose.links.map((l) => ({ rel: l.rel, href: l.href, title: l.title, ...(l.type ? { type: l.type } : {}) })),
    ...(input.mirror ? [{ rel: 'alternate', href: mirrorBase(input), title: 'Mirror on source.coop' }] : []),
  ];
}

/** `table:columns`: each column's name, type and description (`Not yet described.` when it has none). */
function tableColumns(cols: ColumnFact[], describe: (column: string) => string | undefined): Record<string, unknown>[] {
  return cols.map((c) => ({ name: c.name, type: c.type, description: describe(c.name) ?? 'Not yet described.' }));
}

/**
 * The asset of a hex directory (a layer's or a raster's): hive partitions by h0, read with a
 * glob; `summary` says what its rows are, `files` where the partition files sit.
 */
function hexAsset(
  input: DocsInput, hexUrl: string, title: string, m: Pick<RasterManifest, 'resolution' | 'partitions' | 'bytes' | 'cells'>,
  text: { summary: string; files: string }, columns: Record<string, unknown>[], h3: Record<string, unknown>,
): Record<string, unknown> {
  const href = publicUrl(input, hexUrl, true);
  return {
    href,
    type: PARQUET_MEDIA_TYPE,
    roles: ['data'],
    title: `${title} (H3 resolution ${m.resolution} hex Parquet)`,
    description:
      `${text.summary}; ` +
      `a directory of hive partitions ${text.files} (${m.partitions} partitions, ${m.bytes} bytes). ` +
      `Read ${href}**/*.parquet with hive partitioning.`,
    'table:row_count': m.cells,
    'table:columns': columns,
    'cng:h3': h3,
  };
}

/** A points or re-encoded product's hex asset: the partitions, their H3 columns and the counts of its manifest. */
function hexProductAsset(input: DocsInput, p: DocsHexProduct, m: HexProductManifest): Record<string, unknown> {
  const href = publicUrl(input, p.hex, true);
  return {
    href,
    type: 'application/vnd.apache.parquet',
    roles: ['data'],
    title: `${p.name} (H3 hex, ${p.kind === 'points' ? 'points' : 're-encoded'})`,
    description: `H3 cells at resolution ${m.resolution} (UBIGINT h${m.resolution}${m.parents.length ? ` and parents ${m.parents.map((r) => `h${r}`).join(', ')}` : ''}), hive-partitioned by h0, made from ${p.source}. Read ${href}**/*.parquet with hive partitioning; counts in ${publicUrl(input, p.manifest)}.`,
    'table:row_count': m.cells,
    'file:size': m.bytes,
    'cng:h3': { resolution: m.resolution, parents: m.parents, partitions: m.partitions },
  };
}

/** A tiered PMTiles archive's asset: which layer each zoom comes from. */
function tilesetAsset(input: DocsInput, t: DocsTileset, p: PmtilesFact): Record<string, unknown> {
  return {
    href: publicUrl(input, t.pmtiles),
    type: 'application/vnd.pmtiles',
    roles: ['data', 'tiles'],
    title: `${t.name} (tiered PMTiles vector tiles)`,
    description: `Vector tiles, source-layer ${t.pmtilesLayer}, zooms ${p.minZoom}–${p.maxZoom}, each zoom from one layer: ${t.zooms.map((z) => `${z.minZoom}–${z.maxZoom} ${z.layer}`).join(', ')}.`,
    'file:size': p.size,
    'cng:vector_layers': p.layers.map((x) => ({ id: x.id, minzoom: x.minzoom ?? p.minZoom, maxzoom: x.maxzoom ?? p.maxZoom, fields: x.fields })),
    'cng:zoom_layers': t.zooms.map((z) => ({ layer: z.layer, minzoom: z.minZoom, maxzoom: z.maxZoom })),
  };
}

/** A layer's STAC assets: `<name>-geoparquet`, `<name>-pmtiles` and `<name>-hex`, those that were found. */
function addLayerAssets(assets: Assets, input: DocsInput, prose: ResolvedProse, l: LayerFacts): void {
  const { layer } = l;
  const lp = prose.layers[layer.key];
  const title = lp?.title ?? layer.name;
  const columns = (cols: ColumnFact[]) =>
    tableColumns(cols, (c) => withCodes(prose, c, layerColumnDescription(prose, layer, c, l.hex?.manifest.containment)?.text ?? 'Not yet described.'));
  if (l.geoparquet)
    assets[`${layer.name}-geoparquet`] = {
      href: publicUrl(input, layer.geoparquet),
      type: PARQUET_MEDIA_TYPE,
      roles: ['data'],
      title: `${title} (GeoParquet)`,
      description: `${lp?.description ?? ''} GeoParquet ${l.geoparquet.geo?.version ?? ''}, EPSG:4326, ${l.geoparquet.rows} features, source layer ${layer.sourceLayer}.`.trim(),
      'file:size': l.geoparquet.size,
      'table:row_count': l.geoparquet.rows,
      'table:primary_geometry': l.geoparquet.geo?.primaryColumn ?? 'geometry',
      'table:columns': columns(l.geoparquet.columns),
    };
  if (l.pmtiles && layer.pmtiles)
    assets[`${layer.name}-pmtiles`] = {
      href: publicUrl(input, layer.pmtiles),
      type: 'application/vnd.pmtiles',
      roles: ['data', 'tiles'],
      title: `${title} (PMTiles vector tiles)`,
      description: `Vector tiles of ${title}, zooms ${l.pmtiles.minZoom}–${l.pmtiles.maxZoom}, source-layer ${l.pmtiles.layers.map((x) => x.id).join(', ') || layer.pmtilesLayer}.`,
      'file:size': l.pmtiles.size,
      'cng:vector_layers': l.pmtiles.layers.map((x) => ({ id: x.id, minzoom: x.minzoom ?? l.pmtiles!.minZoom, maxzoom: x.maxzoom ?? l.pmtiles!.maxZoom, fields: x.fields })),
    };
  if (l.hex) {
    const m = l.hex.manifest;
    assets[`${layer.name}-hex`] = hexAsset(
      input, layer.hex, title, m,
      {
        summary: `Every feature of ${title} as the H3 cells it covers at resolution ${m.resolution} (parents ${m.parents.join(', ')}), with all attributes`,
        files: `${layer.name}/hex/h0=<cell>/data_0.parquet`,
      },
      columns(l.hex.columns),
      { resolution: m.resolution, parents: m.parents, containment: m.containment, encoding: 'UBIGINT', partition_key: 'h0', partitions: m.partitions, bytes: m.bytes, features: m.features, features_hexed: m.features_hexed },
    );
  }
}

/** A raster's STAC assets: `<name>-cog` (the COG) and `<name>-hex` (the hex directory), facts from its manifest. */
function addRasterAssets(assets: Assets, input: DocsInput, prose: ResolvedProse, r: RasterFacts): void {
  const { raster } = r;
  const rp = prose.rasters?.[raster.key];
  const title = rp?.title ?? raster.name;
  const m = r.manifest;
  if (r.cog)
    assets[`${raster.name}-cog`] = {
      href: publicUrl(input, raster.cog),
      type: COG_MEDIA_TYPE,
      roles: ['data'],
      title: `${title} (Cloud-Optimized GeoTIFF)`,
      description: `${rp?.description ?? ''} ${raster.valueKind} values${rp?.units ? ` in ${rp.units}` : ''}${m ? `, ${m.cog.width} × ${m.cog.height} pixels, ${m.cog.crs.length > 40 ? 'CRS in the file' : m.cog.crs}` : ''}.`.trim(),
      'file:size': r.cog.size,
      ...(m
        ? {
            'cng:raster': {
              value_kind: raster.valueKind,
              width: m.cog.width,
              height: m.cog.height,
              crs: m.cog.crs,
              overviews: m.cog.overviews,
              nodata: m.nodata,
              nodata_collapsed: m.nodataCollapsed,
              bands: m.bands.map((b) => ({ band: b.band, name: b.name, data_type: b.dataType })),
              ...(m.scale !== undefined ? { scale: m.scale, offset: m.offset ?? 0 } : {}),
              ...(r.bounds ? { bounds: r.bounds } : {}),
            },
          }
        : {}),
    };
  if (m && r.hexColumns)
    assets[`${raster.name}-hex`] = hexAsset(
      input, raster.hex, title, m,
      {
        summary: `${title} aggregated to H3 cells at resolution ${m.resolution}${m.parents.length ? ` (parents ${m.parents.join(', ')})` : ''}: ${m.method}`,
        files: 'h0=<cell>/data_0.parquet',
      },
      tableColumns(r.hexColumns, (c) => rasterColumnDescription(prose, raster, c, m.bands)?.text),
      {
        resolution: m.resolution,
        parents: m.parents,
        encoding: 'UBIGINT',
        partition_key: 'h0',
        partitions: m.partitions,
        bytes: m.bytes,
        value_kind: m.valueKind,
        method: m.method,
        nodata_share: m.nodataShare,
        ...(m.valueRange ? { value_range: m.valueRange } : {}),
        ...(m.total ? { total: m.total } : {}),
        ...(m.classes ? { classes: m.classes } : {}),
      },
    );
}

/** A table's STAC asset `table-<name>`, when it was found. */
function addTableAsset(assets: Assets, input: DocsInput, prose: ResolvedProse, t: TableFacts): void {
  if (!t.parquet) return;
  const tp = prose.tables[t.table.sourceLayer];
  assets[`table-${t.table.name}`] = {
    href: publicUrl(input, t.table.url),
    type: PARQUET_MEDIA_TYPE,
    roles: ['data', 'metadata'],
    title: tp?.title ?? `${t.table.sourceLayer} (lookup table)`,
    description: tp?.description ?? `Non-spatial table ${t.table.sourceLayer} of the source.`,
    'file:size': t.parquet.size,
    'table:row_count': t.parquet.rows,
    'table:columns': tableColumns(t.parquet.columns, (c) => tp?.columns[c]),
  };
}
