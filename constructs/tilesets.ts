import { tilesSizing, type TilesetSpec } from './spec.ts';
import type { DocsTileset } from './prose.ts';
import type { Dataset, VectorLayerPipeline } from './pipelines.ts';
import type { Stage, StageKind, StageResources } from './stage.ts';

/** First zoom of the high-zoom tiles units (worker/vector/tiles.ts): a member shown only below it is one unit. */
const SPLIT_ZOOM = 7;

/**
 * Object keys of a tileset (`key` adds the dataset prefix): the archive `<name>.pmtiles`, its
 * `<name>/manifest.json`, and the run's work files under `<name>/_work/run-<run>/` (the parts of
 * each member, `tiles/<member>/part-…`), which the merge removes once it has published.
 */
export function tilesetPaths(key: (path: string) => string, name: string, run: number) {
  const work = `${key(`${name}/_work`)}/run-${run}`;
  return { pmtiles: key(`${name}.pmtiles`), manifest: key(`${name}/manifest.json`), work, parts: (member: string) => `${work}/tiles/${member}` };
}

export interface TilesetPipelineProps {
  readonly tileset: TilesetSpec;
  /** The dataset's vector layer pipelines by key (the members are among them). */
  readonly layers: Map<string, VectorLayerPipeline>;
  /** Pods at once per tiles Job. */
  readonly parallelism: number;
}

/**
 * A tiered PMTiles archive: per member layer, `<key>-<layer>-tiles` renders the layer's published
 * GeoParquet at only its zooms (after the layer's publish: the staged copy is gone by then), into
 * parts of source-layer `layer`; `<key>-tiles-merge` packs every member's parts into one archive,
 * writes it to its published key, then its manifest.json, and removes the parts. A member whose
 * zooms end below the archive's last zoom has that zoom simplified and budgeted (`--detail-zoom`),
 * as it is not over-zoomed.
 */
export class TilesetPipeline {
  readonly products: DocsTileset;
  readonly tiles: Stage[] = [];
  readonly merge: Stage;

  constructor(dataset: Dataset, key: string, props: TilesetPipelineProps) {
    const t = props.tileset;
    const name = t.name ?? key;
    const layerName = t.layer ?? name;
    const paths = tilesetPaths((p) => dataset.key(p), name, dataset.spec.run);
    const url = (k: string) => dataset.url(k);
    const members = Object.entries(t.zooms).sort((a, b) => a[1][0] - b[1][0]);
    const minZoom = members[0][1][0];
    const maxZoom = Math.max(...members.map(([, [, max]]) => max));
    const res = (kind: StageKind) => t.resources?.[kind];
    const sized = (kind: 'tiles' | 'tiles-merge', computed: StageResources) => ({ ...computed, ...dataset.spec.resources[kind], ...res(kind) });
    this.products = {
      key, name, pmtiles: url(paths.pmtiles), pmtilesLayer: layerName, manifest: url(paths.manifest),
      zooms: members.map(([layer, [min, max]]) => ({ layer, name: props.layers.get(layer)!.products.name, minZoom: min, maxZoom: max })),
    };
    const units: number[] = [];
    let vertices = 0;
    for (const [layer, [min, max]] of members) {
      const pipeline = props.layers.get(layer)!;
      const spec = dataset.spec.layers[layer];
      // A member without its own archive (`pmtiles: false`) is tiled here only.
      const own = spec.pmtiles || undefined;
      const declared = own?.vertices ?? spec.vertices;
      const sizing = tilesSizing(spec.features, { vertices: declared, units: t.units?.[layer] ?? (max < SPLIT_ZOOM ? 1 : undefined) });
      units.push(sizing.units);
      vertices += declared ?? 0;
      this.tiles.push(
        dataset.addStage(`${key}-${layer}-tiles`, 'tiles', {
          layer: key,
          dependsOn: [pipeline.publish],
          workItems: sizing.units,
          parallelism: Math.min(sizing.units, props.parallelism),
          resources: sized('tiles', sizing.tiles),
          args: [
            '--input', pipeline.products.geoparquet, '--layer-name', layerName, '--min-zoom', String(min), '--max-zoom', String(max),
            '--parts', url(paths.parts(layer)), '--units', String(sizing.units),
            ...(max < maxZoom ? ['--detail-zoom', String(max + 1)] : []),
            ...(own?.splitZoom !== undefined ? ['--split-zoom', String(own.splitZoom)] : []),
            '--strategy', t.strategy ?? own?.strategy ?? 'coalesce-densest',
          ],
        }),
      );
    }
    const features = members.reduce((n, [layer]) => n + dataset.spec.layers[layer].features, 0);
    this.merge = dataset.addStage(`${key}-tiles-merge`, 'tiles-merge', {
      layer: key,
      dependsOn: this.tiles,
      resources: sized('tiles-merge', tilesSizing(features, vertices ? { vertices } : {}).merge),
      args: [
        '--layer-name', layerName, '--min-zoom', String(minZoom), '--max-zoom', String(maxZoom),
        '--parts', members.map(([layer]) => url(paths.parts(layer))).join(','), '--units', units.join(','), '--members', members.map(([layer]) => layer).join(','),
        '--out', url(paths.pmtiles), '--manifest', url(paths.manifest), '--run', String(dataset.spec.run), '--work', url(paths.work),
      ],
    });
  }
}
