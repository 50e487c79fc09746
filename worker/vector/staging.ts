/**
 * The DuckDB staging table of the convert and table stages: one row per feature in source order
 * (`__cng_seq`), its attributes in their own types and, for a spatial layer, the normalized
 * geometry with its bbox and Hilbert key. Filled through the appender while GDAL's pass is still
 * writing (spilling to $TMPDIR under the pod's memory limit); nothing is kept in JavaScript memory
 * but what the {@link FeatureTally} keeps.
 */
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { CommandError } from '../core/errors.ts';
import { Progress } from '../core/log.ts';
import { sqlIdent } from '../core/text.ts';
import { lonLatHilbert } from '../io/geoparquet.ts';
import type { Column } from './columns.ts';
import { FeatureTally } from './feature-tally.ts';
import { streamTemp } from './gdal-pass.ts';
import { normalizeGeometry, type NormalizedGeometry } from './normalize-geometry.ts';

/** Internal columns of the staging table (reserved: attributes with these names are renamed). */
export const SEQ = '__cng_seq';
export const WKB = '__cng_wkb';
export const BB = ['__cng_xmin', '__cng_ymin', '__cng_xmax', '__cng_ymax'] as const;
export const HILBERT = '__cng_hilbert';

/** Creates `staging`: the sequence number, the attribute columns and (`spatial`) the geometry columns. */
export async function createStaging(db: DuckDBConnection, columns: Column[], spatial: boolean): Promise<void> {
  const geometry = spatial ? [`${sqlIdent(WKB)} BLOB`, ...BB.map((b) => `${sqlIdent(b)} DOUBLE`), `${sqlIdent(HILBERT)} UINTEGER`] : [];
  await db.run(`CREATE TABLE staging (${[`${sqlIdent(SEQ)} BIGINT`, ...columns.map((c) => `${sqlIdent(c.name)} ${c.sqlType}`), ...geometry].join(', ')})`);
}

/**
 * Runs the GDAL pass (`pass`, writing `tmpPath`) and appends every feature it writes to
 * `staging`: attributes, normalized geometry, bbox and Hilbert key; counts and plan estimates go
 * to the returned tally. Ids come from `idCol` when given (non-null, within ±2^53), else from the
 * position in the source.
 */
export async function loadFeatures(
  db: DuckDBConnection, tmpPath: string, pass: () => Promise<void>, columns: Column[], idCol: Column | undefined, total: number,
  resolution: number, where: string,
): Promise<FeatureTally> {
  const appender = await db.createAppender('staging');
  const tally = new FeatureTally(resolution);
  let seq = 0;
  const progress = new Progress('convert', 'features', total);
  try {
    await streamTemp(tmpPath, pass, columns.length, (f) => {
      seq++;
      const values = f.fields.toArray();
      let fid = seq;
      if (idCol) {
        const v = values[idCol.index];
        if (v === null || v === undefined) throw new CommandError(`--id-column '${idCol.source}' of ${where} is null in feature ${seq}`);
        fid = Number(v);
        if (!Number.isSafeInteger(fid)) throw new CommandError(`--id-column '${idCol.source}' of ${where}: value ${v} is beyond ±2^53`);
      }
      appender.appendBigInt(BigInt(seq));
      for (const c of columns) c.append(appender, values[c.index]);
      const g = normalizeGeometry(f.getGeometry());
      tally.add(fid, g);
      appendGeometry(appender, g);
      appender.endRow();
      if ((seq & 1023) === 0) progress.update(seq);
    });
    progress.done(seq);
  } finally {
    appender.closeSync();
  }
  return tally;
}

/** The geometry columns of one row: WKB, bbox and Hilbert key of the bbox centre (all NULL for no geometry). */
function appendGeometry(appender: DuckDBAppender, g: NormalizedGeometry): void {
  if (g.wkb === null || g.info === null) {
    for (let i = 0; i < 6; i++) appender.appendNull();
    return;
  }
  const i = g.info;
  appender.appendBlob(g.wkb);
  appender.appendDouble(i.xmin);
  appender.appendDouble(i.ymin);
  appender.appendDouble(i.xmax);
  appender.appendDouble(i.ymax);
  appender.appendUInteger(lonLatHilbert((i.xmin + i.xmax) / 2, (i.ymin + i.ymax) / 2));
}

/** @throws CommandError naming up to 5 values of `column` that occur more than once in `staging`. */
export async function checkUniqueIds(db: DuckDBConnection, column: string, given: string, where: string): Promise<void> {
  const dups = (
    await db.runAndReadAll(`SELECT ${sqlIdent(column)}, count(*) FROM staging GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 5`)
  ).getRows();
  if (dups.length)
    throw new CommandError(`--id-column '${given}' of ${where} is not unique: ${dups.map(([v, n]) => `${v} (${n}×)`).join(', ')}`);
}
