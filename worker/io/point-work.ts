import { CommandError } from '../core/errors.ts';
import { parseLocation, S3Store, type Storage } from './storage.ts';

/**
 * What the points stages hand each other (docs/stages.md#points-hex): the source's file list and
 * each unit's slice of it, the bad-coordinate kinds, and the points-hex and points-repartition
 * unit reports.
 */

/** Why a row's coordinates are unusable (docs/datasets.md#points-at-scale). */
export const BAD_KINDS = ['null', 'not_finite', 'out_of_range', 'null_island'] as const;
export type BadKind = (typeof BAD_KINDS)[number];
export type BadCounts = Record<BadKind, number>;

/** One source file as a unit read it. */
export interface PointFileCount {
  file: string;
  rows: number;
  written: number;
  bad: BadCounts;
}

/** `<chunks>/_units/unit-N.json` of a points-hex unit. */
export interface PointsUnitReport {
  version: 1;
  kind: 'points';
  index: number;
  rows: number;
  written: number;
  bad: BadCounts;
  /** Rows written (= cells, one a point), as the vector hex reports name them. */
  features: number;
  cells: number;
  files: PointFileCount[];
  /** Rows written per h0 cell (decimal). */
  h0: Record<string, number>;
}

export const noBad = (): BadCounts => ({ null: 0, not_finite: 0, out_of_range: 0, null_island: 0 });

/** The files of a points source: listing and reading, through the dataset's store or an endpoint of its own (unsigned). */
export class PointSource {
  readonly dir: string;
  private readonly pattern: RegExp;
  private readonly s3?: S3Store;

  constructor(readonly source: string, endpoint: string | undefined, private readonly storage: Storage) {
    const slash = source.lastIndexOf('/');
    const last = source.slice(slash + 1);
    if (slash < 0 || !/[*?]/.test(last)) throw new CommandError(`points source '${source}' must end in a file-name pattern, e.g. …/dir/*.parquet or …/dir/*`);
    if (/[*?]/.test(source.slice(0, slash))) throw new CommandError(`points source '${source}': only the last part may hold * or ?`);
    this.dir = source.slice(0, slash);
    this.pattern = new RegExp(`^${last.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    if (endpoint) {
      if (parseLocation(source).kind !== 's3') throw new CommandError(`--source-endpoint needs an s3:// source, got '${source}'`);
      this.s3 = new S3Store({ endpoint, region: 'us-east-1', withoutCredentials: 'unsigned', pathStyle: !/amazonaws\.com/.test(endpoint) });
    }
  }

  /** Every matching file directly in the source's directory, sorted by name. */
  async list(): Promise<string[]> {
    let names: string[];
    if (this.s3) {
      const { bucket, key } = parseS3(this.dir);
      const prefix = key ? `${key}/` : '';
      names = (await this.s3.list(bucket, prefix)).map((o) => o.key.slice(prefix.length));
    } else {
      const base = this.dir.replace(/\/+$/, '');
      names = (await this.storage.list(`${base}/`)).map((o) => o.url.slice(base.length + 1));
    }
    return names.filter((n) => !n.includes('/') && this.pattern.test(n)).sort().map((n) => `${this.dir}/${n}`);
  }

  /** A local path of one file (the file itself when the store is local). */
  async local(file: string, path: string): Promise<string> {
    if (this.s3) {
      const { bucket, key } = parseS3(file);
      await this.s3.download(bucket, key, path);
      return path;
    }
    const loc = this.storage.resolve(file);
    if (loc.kind === 'file') return loc.path;
    await this.storage.download(file, path);
    return path;
  }
}

const parseS3 = (url: string) => {
  const loc = parseLocation(url);
  if (loc.kind !== 's3') throw new CommandError(`'${url}' is not an s3:// URL`);
  return loc;
};

/** Unit `index`'s files among `files` cut into `units` contiguous slices. */
export function unitFiles(files: string[], units: number, index: number): string[] {
  return files.slice(Math.floor((index * files.length) / units), Math.floor(((index + 1) * files.length) / units));
}



/** `<reports>/unit-N.json` of a points-repartition unit. */
export interface PointsRepartitionReport {
  version: 1;
  kind: 'points';
  index: number;
  rows: number;
  bytes: number;
  partitions: Record<string, { rows: number; bytes: number; sha256: string }>;
}

/** Rows per h0 cell over every unit's report. */
export function rowsByH0(reports: PointsUnitReport[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of reports) for (const [h0, n] of Object.entries(r.h0)) m.set(h0, (m.get(h0) ?? 0) + n);
  return m;
}
