import type { DuckDBConnection } from '@duckdb/node-api';
import { zxyToTileId } from 'pmtiles';
import { sqlString } from '../core/text.ts';

/**
 * GeoParquet 1.1 helpers shared by the stages: the `geo` file metadata, the COPY options that
 * write it with DuckDB, and reading it back. The WKB in the files is read and written by
 * worker/geo/wkb.ts; rows are ordered by worker/geo/hilbert.ts's lonLatHilbert.
 *
 * Layout (docs/stages.md): `geometry` is WKB in the Parquet GEOMETRY logical type (DuckDB's
 * GEOMETRY column), `bbox` a STRUCT(xmin, ymin, xmax, ymax DOUBLE) covering column, ZSTD, row
 * groups of at most {@link ROW_GROUP_ROWS} rows, rows ordered along a Hilbert curve.
 *
 * DuckDB 1.5 notes: its own GeoParquet writer emits version 1.0.0 metadata without `covering`,
 * so files are written with `GEOPARQUET_VERSION 'NONE'` and our own `geo` key in `KV_METADATA`
 * (exactly one `geo` key results). `ROW_GROUP_SIZE n` is rounded *up* to a multiple of 2048
 * (50000 gives 51200-row groups), hence 49152 = 24 × 2048.
 */

/** Largest row-group size (rows) DuckDB honours without exceeding 50,000 (24 × 2048). */
export const ROW_GROUP_ROWS = 49_152;

/** Name of the geometry column and of the bbox covering column. */
export const GEOMETRY_COLUMN = 'geometry';
export const BBOX_COLUMN = 'bbox';

/** [xmin, ymin, xmax, ymax] */
export type BBox = [number, number, number, number];

/** The GeoParquet 1.1 `geo` metadata this project writes (no `crs`: OGC:CRS84 by default). */
export interface GeoMetadata {
  version: '1.1.0';
  primary_column: string;
  columns: Record<
    string,
    {
      encoding: 'WKB';
      geometry_types: string[];
      bbox?: BBox;
      covering: { bbox: Record<'xmin' | 'ymin' | 'xmax' | 'ymax', [string, string]> };
    }
  >;
}

/**
 * The `geo` metadata of a GeoParquet 1.1 file: WKB `geometry`, its geometry types (sorted
 * GeoParquet names, e.g. ['MultiPolygon']), the bbox of all data (omitted when every geometry is
 * null) and the `bbox` covering column.
 */
export function geoMetadata(opts: { geometryTypes: Iterable<string>; bbox: BBox | null }): GeoMetadata {
  const f = (k: string): [string, string] => [BBOX_COLUMN, k];
  return {
    version: '1.1.0',
    primary_column: GEOMETRY_COLUMN,
    columns: {
      [GEOMETRY_COLUMN]: {
        encoding: 'WKB',
        geometry_types: [...new Set(opts.geometryTypes)].sort(),
        ...(opts.bbox ? { bbox: opts.bbox } : {}),
        covering: { bbox: { xmin: f('xmin'), ymin: f('ymin'), xmax: f('xmax'), ymax: f('ymax') } },
      },
    },
  };
}

/**
 * Options for DuckDB's `COPY ... TO 'x.parquet' (...)` that write a GeoParquet 1.1 file with the
 * given metadata: ZSTD level 1 (coordinates hardly compress: level 3 made files 0.5% smaller
 * and the write 2.5× slower), row groups ≤ 50,000 rows, DuckDB's own (1.0.0) geo key disabled.
 * The selected `geometry` column must be GEOMETRY (`ST_GeomFromWKB(blob)`), `bbox` a struct of
 * DOUBLE xmin/ymin/xmax/ymax.
 */
export function geoParquetCopyOptions(geo: GeoMetadata): string {
  return `FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE ${ROW_GROUP_ROWS}, GEOPARQUET_VERSION 'NONE', KV_METADATA {geo: ${sqlString(JSON.stringify(geo))}}`;
}

/** SQL expression of the `bbox` struct from four DOUBLE expressions (NULL when `nullIf` is true). */
export function bboxStructSql(xmin: string, ymin: string, xmax: string, ymax: string, nullIf?: string): string {
  const s = `struct_pack(xmin := ${xmin}, ymin := ${ymin}, xmax := ${xmax}, ymax := ${ymax})`;
  return nullIf ? `CASE WHEN ${nullIf} THEN NULL ELSE ${s} END` : s;
}

/** The parsed `geo` metadata of a (local) Parquet file, or null when it has none. */
export async function readGeoParquetMeta(db: DuckDBConnection, path: string): Promise<GeoMetadata | null> {
  const rows = (
    await db.runAndReadAll(`SELECT decode(value) FROM parquet_kv_metadata(${sqlString(path)}) WHERE decode(key) = 'geo'`)
  ).getRows();
  if (rows.length === 0) return null;
  return JSON.parse(String(rows[0][0])) as GeoMetadata;
}

/**
 * The Hilbert curve: the one PMTiles numbers its tiles along within a zoom, here also ordering
 * GeoParquet rows by the position of their bbox centre.
 */

/**
 * Index of cell (x, y) on a Hilbert curve over a 2^order × 2^order grid (x, y integers in
 * [0, 2^order)). Consecutive indices are edge-adjacent cells. The curve is PMTiles' (its tile id
 * of order/x/y, less the tiles of all lower zooms), exact up to order 26.
 */
export function hilbertIndex(x: number, y: number, order = 16): number {
  return zxyToTileId(order, x, y) - (4 ** order - 1) / 3;
}

/** Hilbert index (0 … 2³²−1) of a lon/lat point on a 16-bit-per-axis grid over the globe. */
export function lonLatHilbert(lon: number, lat: number): number {
  const cell = (v: number, lo: number, span: number) => Math.min(65535, Math.max(0, Math.floor(((v - lo) / span) * 65536)));
  return hilbertIndex(cell(lon, -180, 360), cell(lat, -90, 180), 16);
}
