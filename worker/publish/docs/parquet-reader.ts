/**
 * Parquet metadata through DuckDB, for the docs: schema, row count and GeoParquet `geo` metadata
 * from the footer, and sample values for the writing brief. Remote Parquet files are never
 * downloaded whole: their footer (and, for the samples, the chunks of the sampled columns) is
 * fetched into a sparse local file of the object's size that DuckDB reads.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { CommandError } from '../../core/errors.ts';
import { openDuckDB } from '../../core/limits.ts';
import { sqlIdent, sqlString } from '../../core/text.ts';
import { parseS3Url, type ObjectStore } from '../../io/storage.ts';
import type { ParquetFact, Samples } from './facts.ts';

/** Parquet metadata through DuckDB, over local files or sparse local copies of remote ones. */
export class ParquetReader {
  private files = new Map<string, string>();
  private n = 0;

  private constructor(
    private readonly store: ObjectStore,
    private readonly db: DuckDBConnection,
    private readonly dir: string,
  ) {}

  static async create(store: ObjectStore): Promise<ParquetReader> {
    const dir = await mkdtemp(join(process.env.TMPDIR ?? tmpdir(), 'cng-docs-'));
    return new ParquetReader(store, await openDuckDB({ share: 0.5 }), dir);
  }

  async close(): Promise<void> {
    this.db.closeSync();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Schema, row count, size and GeoParquet metadata (footer only). */
  async describe(url: string): Promise<ParquetFact> {
    const { path, size } = await this.local(url);
    const q = sqlString(path);
    const columns = (await this.db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${q})`))
      .getRowObjects()
      .map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
    const rows = Number((await this.db.runAndReadAll(`SELECT num_rows FROM parquet_file_metadata(${q})`)).getRows()[0][0]);
    const kv = (await this.db.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${q}) WHERE decode(key) = 'geo'`)).getRows();
    let geo: ParquetFact['geo'];
    if (kv.length) {
      const meta = JSON.parse(String(kv[0][1]));
      const primary = meta.primary_column ?? 'geometry';
      const col = meta.columns?.[primary] ?? {};
      geo = { version: meta.version, primaryColumn: primary, bbox: col.bbox, geometryTypes: col.geometry_types };
    }
    return { url, size, rows, columns, ...(geo ? { geo } : {}) };
  }

  /** Distinct values, coded-column counts and small-table rows for the writing brief. */
  async sample(url: string, fact: ParquetFact, product: string, out: Samples): Promise<void> {
    const skip = new Set(['geometry', 'bbox', fact.geo?.primaryColumn]);
    const cols = fact.columns.filter((c) => !skip.has(c.name) && !/^(GEOMETRY|BLOB|STRUCT)/.test(c.type));
    const { path } = await this.local(url, cols.map((c) => c.name));
    const t = `read_parquet(${sqlString(path)})`;
    const values: Record<string, string[]> = (out.values[product] = {});
    const counts: Record<string, [string, number][]> = (out.counts[product] = {});
    for (const c of cols) {
      const id = sqlIdent(c.name);
      values[c.name] = (await this.db.runAndReadAll(`SELECT DISTINCT CAST(${id} AS VARCHAR) FROM ${t} WHERE ${id} IS NOT NULL ORDER BY 1 LIMIT 5`))
        .getRows()
        .map((r) => String(r[0]));
      if (c.type === 'VARCHAR') {
        const distinct = Number((await this.db.runAndReadAll(`SELECT count(DISTINCT ${id}) FROM ${t}`)).getRows()[0][0]);
        if (distinct > 0 && distinct <= 40)
          counts[c.name] = (await this.db.runAndReadAll(`SELECT CAST(${id} AS VARCHAR), count(*) FROM ${t} GROUP BY 1 ORDER BY 2 DESC, 1`))
            .getRows()
            .map((r) => [r[0] === null ? 'NULL' : String(r[0]), Number(r[1])]);
      }
    }
    if (!fact.geo && fact.rows <= 80) {
      out.rows[product] = (await this.db.runAndReadAll(`SELECT ${cols.map((c) => `CAST(${sqlIdent(c.name)} AS VARCHAR) AS ${sqlIdent(c.name)}`).join(', ')} FROM ${t}`))
        .getRowObjects()
        .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])));
    }
  }

  /**
   * A local path DuckDB can read: the file itself in a directory store, otherwise a sparse file of
   * the object's size holding its footer (and the chunks of `columns`, when given).
   */
  private async local(url: string, columns?: string[]): Promise<{ path: string; size: number }> {
    const { bucket, key } = parseS3Url(url);
    const head = await this.store.head(bucket, key);
    if (!head) throw new CommandError(`'${url}': no such object (${this.store.where})`);
    if (this.store.localPath) return { path: this.store.localPath(bucket, key), size: head.size };
    const cacheKey = `${url}|${(columns ?? []).join(',')}`;
    let path = this.files.get(cacheKey);
    if (!path) {
      path = join(this.dir, `${this.n++}.parquet`);
      await this.sparseCopy(bucket, key, head.size, path, columns);
      this.files.set(cacheKey, path);
    }
    return { path, size: head.size };
  }

  private async sparseCopy(bucket: string, key: string, size: number, path: string, columns?: string[]): Promise<void> {
    const url = `s3://${bucket}/${key}`;
    if (size < 12) throw new CommandError(`'${url}': ${size} bytes is not a Parquet file`);
    const tail = await this.store.readRange(bucket, key, size - 8, 8);
    if (tail.subarray(4).toString('latin1') !== 'PAR1') throw new CommandError(`'${url}': not a Parquet file (no PAR1 footer)`);
    const footerLength = tail.readUInt32LE(0);
    const footerStart = size - 8 - footerLength;
    const fh = await open(path, 'w');
    try {
      await fh.truncate(size);
      await fh.write(Buffer.from('PAR1', 'latin1'), 0, 4, 0);
      await fh.write(await this.store.readRange(bucket, key, footerStart, footerLength + 8), 0, footerLength + 8, footerStart);
      if (columns?.length) {
        const wanted = new Set(columns);
        const chunks = (
          await this.db.runAndReadAll(
            `SELECT path_in_schema, dictionary_page_offset, data_page_offset, total_compressed_size FROM parquet_metadata(${sqlString(path)})`,
          )
        ).getRows();
        const ranges: [number, number][] = [];
        for (const [p, dict, data, len] of chunks) {
          const top = String(p).split(', ')[0];
          if (!wanted.has(top)) continue;
          const start = Math.min(...[dict, data].filter((x) => x !== null && Number(x) > 0).map(Number));
          ranges.push([start, start + Number(len)]);
        }
        for (const [a, b] of mergeRanges(ranges, 1 << 20)) {
          const buf = await this.store.readRange(bucket, key, a, b - a);
          await fh.write(buf, 0, buf.length, a);
        }
      }
    } finally {
      await fh.close();
    }
  }
}

/** Byte ranges sorted and merged where they overlap or lie less than `gap` bytes apart. */
function mergeRanges(ranges: [number, number][], gap: number): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + gap) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
