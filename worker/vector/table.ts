/**
 * `table`: one non-spatial layer (e.g. a geodatabase lookup table) → Parquet, every row and
 * column, names and types kept (columns.ts), rows in source order. The same GDAL pass as
 * convert's, without geometry; no feature is dropped (rows read are checked against the source's
 * count).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { expectScratch } from '../core/disk-full.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import gdal, { type Dataset } from 'gdal-async';
import { CommandError } from '../core/errors.ts';
import { configureGdalCache, openDuckDB } from '../core/limits.ts';
import { log, Progress } from '../core/log.ts';
import { sqlIdent, sqlString } from '../core/text.ts';
import { configureGdalS3, geometryTypeName } from '../io/gdal.ts';
import { Storage } from '../io/storage.ts';
import type { RawOptions } from '../stage.ts';
import { createStaging, planColumns, SEQ } from './staging.ts';
import { checkGdalErrors, gdalLogOffset } from '../io/gdal-log.ts';
import { streamTemp, translate } from './gdal-pass.ts';
import { openLayerSource } from './source-layer.ts';
import { tableStageDef } from './stages.ts';

export async function tableStage(opts: RawOptions): Promise<void> {
  const o = tableStageDef.parse(opts);
  const { layer: name, out: outUrl } = o;
  const storage = new Storage();
  configureGdalS3();
  configureGdalCache();
  const logStart = gdalLogOffset();
  const work = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-table-'));
  let opened: Dataset | undefined;
  let db: DuckDBConnection | undefined;
  try {
    const src = await openLayerSource({ ...o, stage: 'table' }, work, storage);
    opened = src.ds;
    const { ds, layer } = src;
    const where = src.where.replace(/^layer/, 'table');
    if (layer.geomType !== gdal.wkbNone)
      throw new CommandError(`${src.where} has geometries (${geometryTypeName(layer.geomType)}); use 'cng-worker convert' for spatial layers`);
    const sourceCount = await layer.features.countAsync();
    const columns = planColumns(layer, [SEQ], (m) => log('table', m));
    checkGdalErrors(logStart, undefined, where); // a cut header reads as a table without columns
    if (columns.length === 0) throw new CommandError(`${where} has no columns`);
    expectScratch(work, 3 * 2048 * Math.max(1, await layer.features.countAsync())); // GeoPackage, staging, Parquet
    const tmpPath = join(work, 'table.gpkg');
    db = await openDuckDB();
    await createStaging(db, columns, false);
    const appender = await db.createAppender('staging');
    let n = 0;
    try {
      const progress = new Progress('table', 'rows', sourceCount);
      const pass = () => translate(ds, layer.name, tmpPath, { spatial: false, stage: 'table', where });
      await streamTemp(tmpPath, pass, columns.length, (f) => {
        const values = f.fields.toArray();
        appender.appendBigInt(BigInt(++n));
        for (const c of columns) c.append(appender, values[c.index]);
        appender.endRow();
        if ((n & 1023) === 0) progress.update(n);
      });
      progress.done(n);
    } finally {
      appender.closeSync();
    }
    if (n !== sourceCount) throw new CommandError(`read ${n} of ${sourceCount} rows of ${where}; nothing was written`);
    checkGdalErrors(logStart, tmpPath, where);
    const out = join(work, 'table.parquet');
    await db.run(
      `COPY (SELECT ${columns.map((c) => sqlIdent(c.name)).join(', ')} FROM staging ORDER BY ${sqlIdent(SEQ)}) TO ${sqlString(out)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    await storage.upload(out, outUrl);
    log('table', `wrote ${n} rows × ${columns.length} columns of '${name}' to ${outUrl}`);
  } finally {
    db?.closeSync();
    opened?.close();
    await rm(work, { recursive: true, force: true });
  }
}
