import { readdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { CommandError } from '../core/errors.ts';
import { fileNameOf } from '../core/text.ts';
import { isGdalName } from './gdal.ts';
import { Storage } from './storage.ts';

/**
 * A vector source as a dataset file names it, made into what GDAL opens: one file, URL or GDAL
 * name, or several (a comma-separated list whose items may be globs over a local directory or an
 * S3 prefix), each optionally a `.zip` with a path inside it (`sourcePath`). The one place where
 * `https://…/x.zip` + `x.gdb` becomes `/vsizip//vsicurl/https://…/x.zip/x.gdb`.
 */

/** What the fetch stage records next to a raw copy (`<raw file>.fetch.json`) and convert copies into the manifest. */
export interface FetchRecord {
  /** The URL downloaded. */
  url: string;
  /** Where the copy is (`s3://<bucket>/raw/<file>`). */
  raw: string;
  bytes: number;
  sha256: string;
  /** The server's validators, when it sent them. */
  etag?: string;
  lastModified?: string;
  /** When the copy was made (ISO 8601). */
  fetchedAt: string;
}

/** The fetch record of a raw copy: `<raw>.fetch.json`. */
export const fetchRecordUrl = (raw: string) => `${raw}.fetch.json`;

/** The items of a `--source` list (comma-separated, trimmed, blanks dropped). */
export function sourceList(source: string): string[] {
  return source.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * Whether a source item is a glob (`*` or `?`). In an http(s) URL `?` starts the query (Zenodo's
 * `?download=1`) and only `*` counts; GDAL names (`/vsicurl/…?…`) are never globs.
 */
export function isGlob(source: string): boolean {
  if (/^https?:\/\//i.test(source)) return source.replace(/\?.*$/, '').includes('*');
  return !isGdalName(source) && /[*?]/.test(source);
}

/** Whether `path` names a zip archive (a URL's query string ignored). */
const isZip = (path: string) => /\.zip$/i.test(path.replace(/[?#].*$/, ''));

/**
 * The GDAL name of one source file: `s3://b/k` → `/vsis3/b/k`, `http(s)://…` → `/vsicurl/…`; a
 * `.zip` (or `sourcePath` given) is opened through `/vsizip/`: `x.zip` + `a.gdb` →
 * `/vsizip/<abs>/x.zip/a.gdb`, `https://h/x.zip` → `/vsizip//vsicurl/https://h/x.zip` (the zip's root: a
 * directory of shapefiles). GDAL names (`/vsi…`, `DRIVER:…`) are kept as given, `sourcePath`
 * appended. The directory store (CNG_STORAGE_DIR) is applied later, by the code that opens it.
 */
export function gdalSourceName(source: string, sourcePath?: string): string {
  const member = sourcePath?.replace(/^\/+|\/+$/g, '');
  if (isGdalName(source)) return member ? `${source.replace(/\/+$/, '')}/${member}` : source;
  if (!member && !isZip(source)) return source;
  const inner = source.startsWith('s3://') ? `/vsis3/${source.slice(5)}` : /^https?:\/\//i.test(source) ? `/vsicurl/${source}` : resolve(source);
  return `/vsizip/${inner}${member ? `/${member}` : ''}`;
}

/** The file name a source item stands for in a source-file column and in messages: its last path part. */
export const sourceFileName = fileNameOf;

/** `*` and `?` of a file-name glob as a regular expression. */
function globRegex(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/**
 * The files of a source list, each glob replaced by its matches in name order (a local
 * directory's entries, or an S3 prefix's objects under CNG_STORAGE_DIR or S3). A wildcard may
 * only be in the file name, not in a directory or an http(s) URL.
 * @throws CommandError for a glob matching nothing, or a wildcard where none may be.
 */
export async function expandSources(items: string[], storage = new Storage()): Promise<string[]> {
  const out: string[] = [];
  for (const item of items) {
    if (!isGlob(item)) {
      out.push(item);
      continue;
    }
    const dir = dirname(item);
    const pattern = globRegex(basename(item));
    if (isGlob(dir) || /^https?:\/\//i.test(item))
      throw new CommandError(`source '${item}': a wildcard may only be in the file name of a local path or an s3:// URL (list http(s) files one by one)`);
    let names: string[];
    if (item.startsWith('s3://')) {
      const objects = await storage.list(dir);
      names = objects.map((o) => o.url.slice(dir.length + 1)).filter((n) => !n.includes('/'));
    } else {
      names = await readdir(dir).catch((e) => {
        throw new CommandError(`source '${item}': cannot list '${dir}': ${(e as Error).message}`);
      });
    }
    const matched = names.filter((n) => pattern.test(n)).sort();
    if (!matched.length) throw new CommandError(`source '${item}' matches no file`);
    out.push(...matched.map((n) => `${dir}/${n}`));
  }
  return out;
}

/** The fetch record of each source file that is a fetched raw copy (its `.fetch.json` exists). */
export async function readFetchRecords(files: string[], storage = new Storage()): Promise<FetchRecord[]> {
  const out: FetchRecord[] = [];
  for (const f of files) {
    if (isGdalName(f) || /^https?:\/\//i.test(f)) continue;
    const text = await storage.readText(fetchRecordUrl(f)).catch(() => undefined);
    if (text) out.push(JSON.parse(text) as FetchRecord);
  }
  return out;
}
