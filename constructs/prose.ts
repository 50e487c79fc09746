import { z } from 'zod';
import type { RasterValueKind } from './spec.ts';

/**
 * The prose of a dataset's documentation: what a person (or an LLM given `cng docs <dataset>
 * --brief`) writes, kept next to the dataset file as `datasets/<name>.prose.ts` and referenced by
 * the dataset file's `prose` field. The docs stage merges it with the FACTS it reads from the
 * published files (schemas, row counts, extents, sizes, tile layers, H3 counts) into README.md and
 * stac-collection.json. `cng docs --check` (and CI) fails when a published column has no
 * description. Format and rules: docs/reading-products.md ("Dataset documentation").
 *
 * Column descriptions are looked up in this order: `layers.<key>.columns.<col>`, then `columns.<col>`
 * (attributes shared by several layers), then the built-in descriptions of the columns the pipeline
 * itself adds (`_cng_fid`, `geometry`, `bbox`, `h<res>`, parents, `h0`). Table columns only in
 * `tables.<Table>.columns`. Rasters (`rasters.<key>`) need a title and description; their hex
 * columns are the pipeline's own (`value`, `coverage`, `class`, …, described by the tool), which
 * `rasters.<key>.columns` may override; `units` and `classes` say what the values mean.
 */

const text = z.string().trim().min(1);
/** Column name → description (one or two sentences; units; what null means). */
const columnDescriptions = z.record(z.string().min(1), text);

export const proseSchema = z
  .object({
    /** Human title of the collection, e.g. 'PAD-US 4.1 — Protected Areas Database of the United States'. */
    title: text,
    /** What the data is, who made it, what it covers (Markdown; one or more paragraphs). */
    description: text,
    /** STAC license: an SPDX identifier (e.g. 'CC0-1.0', 'CC-BY-4.0'), or 'proprietary' / 'various' with licenseUrl. */
    license: z.string().regex(/^[\w\-.+]+$/, "must be an SPDX identifier, 'proprietary' or 'various'"),
    /** Terms of use in words (attribution required, public domain, ...). */
    licenseText: text.optional(),
    /** Where the terms are published (a STAC `license` link). */
    licenseUrl: z.string().url().optional(),
    /** The citation users should give, as the producer asks for it. */
    citation: text,
    /** DOI of the source, e.g. '10.5066/P96WBCHS' (a STAC `cite-as` link to https://doi.org/<doi>). */
    doi: z.string().regex(/^10\.\d{4,}\/\S+$/, 'must look like 10.NNNN/suffix').optional(),
    /** Organizations, with STAC roles. The lab is added as processor and host automatically. */
    providers: z
      .array(
        z
          .object({
            name: text,
            roles: z.array(z.enum(['producer', 'licensor', 'processor', 'host'])).min(1),
            url: z.string().url().optional(),
            description: text.optional(),
          })
          .strict(),
      )
      .min(1),
    keywords: z.array(text).min(1),
    /** STAC temporal extent [start, end] as RFC 3339 UTC timestamps; null = open. */
    temporal: z.tuple([z.string().datetime().nullable(), z.string().datetime().nullable()]),
    /** Source links (landing page, data manual, metadata, ...); shown in the README and as STAC links. */
    links: z
      .array(z.object({ href: z.string().url(), title: text, rel: z.string().min(1).default('related'), type: z.string().optional() }).strict())
      .default([]),
    /** Per spatial layer (keys of the dataset file's `layers`). */
    layers: z
      .record(
        z.string(),
        z
          .object({
            title: text,
            description: text,
            /** Descriptions that apply to this layer only (override `columns`). */
            columns: columnDescriptions.default({}),
          })
          .strict(),
      )
      .default({}),
    /**
     * Per raster (keys of the dataset file's `rasters`). Optional, without a default, so datasets
     * without rasters keep exactly their prose (it is part of the docs Job's arguments).
     */
    rasters: z
      .record(
        z.string(),
        z
          .object({
            title: text,
            description: text,
            /** Unit of the pixel values (continuous: per area, e.g. 'Mg C / ha'; count: per pixel, e.g. 'people'). */
            units: text.optional(),
            /** Categorical rasters: class code → meaning, listed in the README and appended to the `class` column's STAC description. */
            classes: z.record(z.string().regex(/^-?\d+$/, 'class codes are integers'), text).optional(),
            /** Overrides of the built-in hex column descriptions (e.g. a band column's meaning). */
            columns: columnDescriptions.default({}),
          })
          .strict(),
      )
      .optional(),
    /** Attribute columns shared by the spatial layers (and their hex products). */
    columns: columnDescriptions.default({}),
    /** Per non-spatial table (the source table name, e.g. 'Public_Access'). */
    tables: z
      .record(z.string(), z.object({ title: text.optional(), description: text, columns: columnDescriptions.default({}) }).strict())
      .default({}),
    /**
     * Meanings of coded values, by column name: `{ Pub_Access: { table: 'Public_Access', values: { OA: 'Open Access: …' } } }`.
     * Listed in the README and appended to the column's STAC description.
     */
    codes: z
      .record(z.string(), z.object({ table: z.string().optional(), values: z.record(z.string(), text) }).strict())
      .default({}),
    /** Caveats shown in the README (known issues, fields still to confirm, ...). */
    notes: z.array(text).default([]),
  })
  .strict();

/** What a prose file writes. */
export type DatasetProse = z.input<typeof proseSchema>;
/** Prose with defaults filled in. */
export type ResolvedProse = z.output<typeof proseSchema>;

// ---------------------------------------------------------------------------------------------
// The docs stage's input: the prose above plus every product URL (the worker's docs stage reads
// only this module of constructs/).
// ---------------------------------------------------------------------------------------------

/** One spatial layer's products, as the docs stage reads them. */
export interface DocsLayer {
  /** Layer key in the dataset file (prose `layers.<key>`). */
  readonly key: string;
  /** Product base name. */
  readonly name: string;
  /** Layer name in the source. */
  readonly sourceLayer: string;
  readonly geoparquet: string;
  /** Absent for a layer without its own archive (`pmtiles: false`). */
  readonly pmtiles?: string;
  /** PMTiles source-layer name. */
  readonly pmtilesLayer: string;
  /** The hex directory (`…/<name>/hex`). */
  readonly hex: string;
  readonly manifest: string;
  readonly resolution: number;
  readonly parents: number[];
}

/** One raster's products, as the docs stage reads them. */
export interface DocsRaster {
  /** Raster key in the dataset file (prose `rasters.<key>`). */
  readonly key: string;
  /** Product base name. */
  readonly name: string;
  /** The source file(s) as the dataset file gives them (tiles mosaicked into the COG). */
  readonly sources: string[];
  readonly valueKind: RasterValueKind;
  /** The Cloud-Optimized GeoTIFF. */
  readonly cog: string;
  /** The cog stage's info JSON (a work file; bounds for the STAC extent, read when present). */
  readonly info: string;
  /** The hex directory (`…/hex/<name>` or `…/<name>/hex`). */
  readonly hex: string;
  readonly manifest: string;
  readonly resolution: number;
  readonly parents: number[];
  /** The hex value column when the dataset file names it (`value` / `class` otherwise). */
  readonly valueColumn?: string;
  /** Hexed value = raw aggregate × scale + offset, when the dataset file sets them. */
  readonly scale?: number;
  readonly offset?: number;
  /** Why this raster is not published (the dataset file's `skip`); it has no products. */
  readonly skip?: string;
}

/** A tiered PMTiles archive (a dataset file's `tilesets`): member layers at their own zooms. */
export interface DocsTileset {
  /** Tileset key in the dataset file (prose `layers.<key>` may describe it). */
  readonly key: string;
  /** Archive base name. */
  readonly name: string;
  readonly pmtiles: string;
  /** Its source-layer name. */
  readonly pmtilesLayer: string;
  readonly manifest: string;
  /** The member layers (their product names) and the zooms each is shown at, lowest first. */
  readonly zooms: { layer: string; name: string; minZoom: number; maxZoom: number }[];
}

/**
 * A hex-only product (a dataset file's `points` or `reencode` entry): `h0=` partitions and a
 * manifest.json, no GeoParquet or PMTiles.
 */
export interface DocsHexProduct {
  /** Entry key in the dataset file (prose `layers.<key>` may describe it). */
  readonly key: string;
  readonly kind: 'points' | 'reencode';
  readonly name: string;
  /** What it was made from: the points' Parquet files, or the earlier hex product. */
  readonly source: string;
  /** The published hex prefix and manifest (s3:// URLs). */
  readonly hex: string;
  readonly manifest: string;
}

/** One table's product. */
export interface DocsTable {
  /** File name without `.parquet`. */
  readonly name: string;
  /** Table name in the source (prose `tables.<sourceLayer>`). */
  readonly sourceLayer: string;
  readonly url: string;
}

/**
 * The docs stage's input (`cng-worker docs --dataset-json`): a JSON snapshot of the resolved dataset
 * with every product URL, written into the Job's args by the synth (and built the same way by
 * `cng docs`). URLs are `s3://` (read through the stage's S3 endpoint); published links use
 * `publicEndpoint`.
 */
export interface DocsInput {
  readonly version: 1;
  readonly name: string;
  readonly title: string;
  readonly run: number;
  /** The dataset's vector source; absent for a raster-only dataset (each raster lists its own). */
  readonly source?: string;
  readonly bucket: string;
  readonly prefix: string;
  /** Base of published URLs: `<publicEndpoint>/<bucket>/<key>`. */
  readonly publicEndpoint: string;
  /** Where README.md goes (bucket root). */
  readonly readme: string;
  /** Where stac-collection.json goes (bucket root). */
  readonly stac: string;
  readonly layers: DocsLayer[];
  readonly tables: DocsTable[];
  /** Raster products; absent when the dataset has none. */
  readonly rasters?: DocsRaster[];
  /** Tiered PMTiles archives; absent when the dataset has none. */
  readonly tilesets?: DocsTileset[];
  /** Points and re-encoded hex products; absent when the dataset has none. */
  readonly hexProducts?: DocsHexProduct[];
  readonly mirror?: { endpoint: string; bucket: string; prefix: string };
  /** The dataset's prose; absent when it has none yet (no docs stage; `cng docs --brief` says what to write). */
  readonly prose?: DatasetProse;
}
