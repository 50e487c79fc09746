/**
 * convert's GeoParquet, written by DuckDB from the staging table: rows in Hilbert order of their
 * bbox centres (no geometry last), ZSTD, ≤ 49,152-row groups, the `_cng_fid` (when generated),
 * the attributes, `geometry` and the `bbox` covering column, and our GeoParquet 1.1.0 `geo`
 * metadata.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { log } from '../core/log.ts';
import { sqlIdent, sqlString } from '../core/text.ts';
import { bboxStructSql, geoMetadata, geoParquetCopyOptions } from '../io/geoparquet.ts';
import type { Column } from './columns.ts';
import type { FeatureTally } from './feature-tally.ts';
import { BB, HILBERT, SEQ, WKB } from './staging.ts';

/** The generated feature id column. */
export const FID_COLUMN = '_cng_fid';

/** Writes the staging table to `outPath`, with `_cng_fid` first when `generatedId`. */
export async function writeGeoParquet(db: DuckDBConnection, outPath: string, columns: Column[], generatedId: boolean, tally: FeatureTally): Promise<void> {
  const geo = geoMetadata({ geometryTypes: tally.geometryTypes, bbox: tally.bbox });
  const attrs = columns.map((c) => sqlIdent(c.name));
  const select = [...(generatedId ? [`${sqlIdent(SEQ)} AS ${sqlIdent(FID_COLUMN)}`] : []), ...attrs,
    `ST_GeomFromWKB(${sqlIdent(WKB)}) AS geometry`,
    `${bboxStructSql(...(BB.map(sqlIdent) as [string, string, string, string]), `${sqlIdent(WKB)} IS NULL`)} AS bbox`];
  log('convert', `writing GeoParquet (${tally.rows} rows, Hilbert order)`);
  const copyStarted = Date.now();
  await db.run(
    `COPY (SELECT ${select.join(', ')} FROM staging ORDER BY ${sqlIdent(HILBERT)} NULLS LAST, ${sqlIdent(SEQ)}) TO ${sqlString(outPath)} (${geoParquetCopyOptions(geo)})`,
  );
  log('convert', `GeoParquet written in ${((Date.now() - copyStarted) / 1000).toFixed(1)}s`);
}
