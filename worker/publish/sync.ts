import { CommandError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { RawOptions } from '../stage.ts';
import { syncStageDef } from './stages.ts';
import { parseS3Url, storeFromEnv, contentTypeOf, type ObjectHead, type ObjectStore } from '../io/storage.ts';
import { human } from '../core/text.ts';

/**
 * The sync stage: mirrors a dataset's products from the NRP bucket to source.coop (another S3
 * system, other bucket names and paths: the dataset file's `mirror`). See docs/stages.md#sync.
 *
 * - Source: `--from s3://<bucket>/<prefix>` through AWS_ENDPOINT_URL_S3 + AWS_ACCESS_KEY_ID/…
 *   (the `aws` secret); destination: `--to s3://<mirror bucket>/<mirror prefix>` through
 *   MIRROR_ENDPOINT_URL_S3 + MIRROR_AWS_ACCESS_KEY_ID/MIRROR_AWS_SECRET_ACCESS_KEY (the
 *   `source-coop` secret). Two systems in production; the same server with two buckets in tests.
 * - `--extra URL,URL`: single objects outside the prefix (the README and STAC at the bucket root)
 *   copied to the top of `--to`.
 * - Never copies `raw/` (inputs) or anything under a `_work/` directory (intermediate files).
 * - Comparison (an object is copied when any of these fails, in order):
 *     1. the mirror has the key;
 *     2. same size;
 *     3. same content: the source ETag is a plain MD5 (single-part upload) and equals the mirror's
 *        ETag or its `cng-md5` metadata; or the mirror's `cng-source-etag` metadata equals the
 *        source ETag (what this stage stored when it copied that version).
 *   Multipart ETags (`<md5>-<parts>`) depend on the part size and differ between systems, so they
 *   are only ever compared with the stored `cng-source-etag`, never with the mirror's own ETag.
 * - Copies stream (GET → multipart upload, 16 MiB parts, aborted on failure), 4 at a time, each
 *   retried 3 times; the SDK also retries each request (5 attempts).
 * - Objects on the mirror that no longer exist at the source are reported and kept, unless
 *   `--delete` (the dataset file's `mirror.delete: true`).
 */

export interface SyncOptions {
  /** `s3://bucket/prefix` at the source. */
  readonly from: string;
  /** `s3://bucket/prefix` on the mirror. */
  readonly to: string;
  /** Single source objects copied to the top of `to`. */
  readonly extra?: string[];
  /** Remove mirror objects under `to` that the source no longer has. @default false */
  readonly delete?: boolean;
  /** Only report. @default false */
  readonly dryRun?: boolean;
  /** Copies at once. @default 4 */
  readonly concurrency?: number;
  readonly source?: ObjectStore;
  readonly dest?: ObjectStore;
  /** Log lines. @default stderr via log('sync', …) */
  readonly log?: (line: string) => void;
}

export interface SyncReport {
  /** Mirror keys copied, with the reason. */
  readonly copied: { key: string; size: number; reason: string }[];
  /** Mirror keys already up to date. */
  readonly skipped: string[];
  /** Mirror keys with no source object (deleted when `delete`). */
  readonly stale: string[];
  readonly deleted: string[];
  /** Source keys never copied (raw/, _work/). */
  readonly excluded: string[];
  readonly bytes: number;
}

/** Keys never mirrored: raw inputs and intermediate work files. */
export function excludedKey(key: string): boolean {
  return key.startsWith('raw/') || /(^|\/)_work\//.test(key);
}

const isMd5 = (etag: string) => /^[0-9a-f]{32}$/i.test(etag);
const withSlash = (p: string) => (p === '' || p.endsWith('/') ? p : `${p}/`);

/** Mirrors `from` to `to`; see the module comment for the rules. */
export async function syncObjects(opts: SyncOptions): Promise<SyncReport> {
  const say = opts.log ?? ((l: string) => log('sync', l));
  const source = opts.source ?? storeFromEnv(process.env, '');
  const dest = opts.dest ?? storeFromEnv(process.env, 'MIRROR_');
  const from = parseS3Url(opts.from);
  const to = parseS3Url(opts.to);
  const fromPrefix = withSlash(from.key);
  const toPrefix = withSlash(to.key);
  if (from.bucket === to.bucket && source.where === dest.where && (toPrefix.startsWith(fromPrefix) || fromPrefix.startsWith(toPrefix)))
    throw new CommandError(`--from ${opts.from} and --to ${opts.to} overlap on the same store`);

  // What should be on the mirror: mirror key → source object.
  const want = new Map<string, { bucket: string; head: ObjectHead }>();
  const excluded: string[] = [];
  for (const o of await source.list(from.bucket, fromPrefix)) {
    if (excludedKey(o.key)) excluded.push(o.key);
    else want.set(toPrefix + o.key.slice(fromPrefix.length), { bucket: from.bucket, head: o });
  }
  for (const url of opts.extra ?? []) {
    const x = parseS3Url(url);
    const head = await source.head(x.bucket, x.key);
    if (!head) throw new CommandError(`--extra ${url}: no such object at the source (${source.where})`);
    want.set(toPrefix + x.key.split('/').pop(), { bucket: x.bucket, head });
  }
  if (want.size === 0) throw new CommandError(`nothing to mirror under ${opts.from} (${source.where})`);

  if (!opts.dryRun && (await dest.ensureBucket(to.bucket))) say(`created bucket ${to.bucket} on the mirror (${dest.where})`);
  const have = new Map((await dest.list(to.bucket, toPrefix).catch((e) => (opts.dryRun ? [] : Promise.reject(e)))).map((o) => [o.key, o]));

  const copied: SyncReport['copied'] = [];
  const skipped: string[] = [];
  let bytes = 0;
  const decide = async (key: string, src: ObjectHead): Promise<string | null> => {
    const d = have.get(key);
    if (!d) return 'new';
    if (d.size !== src.size) return `size ${d.size} → ${src.size}`;
    if (isMd5(src.etag) && d.etag === src.etag) return null;
    const meta = (await dest.head(to.bucket, key))?.metadata ?? {};
    if (meta['cng-source-etag'] === src.etag) return null;
    if (isMd5(src.etag) && meta['cng-md5'] === src.etag) return null;
    return 'content changed';
  };
  const copy = async (key: string, srcBucket: string, src: ObjectHead) => {
    const metadata: Record<string, string> = { 'cng-source-etag': src.etag };
    if (isMd5(src.etag)) metadata['cng-md5'] = src.etag;
    for (let attempt = 1; ; attempt++) {
      try {
        const body = await source.get(srcBucket, src.key);
        await dest.put(to.bucket, key, body, { contentType: contentTypeOf(key), metadata, size: src.size });
        return;
      } catch (err) {
        if (attempt >= 3) throw err;
        say(`retrying ${key} (attempt ${attempt + 1}/3): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
      }
    }
  };

  const queue = [...want.entries()];
  const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [key, { bucket, head }] = next;
      const reason = await decide(key, head);
      const target = `s3://${to.bucket}/${key}`;
      if (reason === null) {
        skipped.push(key);
        say(`skip  ${target} (unchanged)`);
        continue;
      }
      if (!opts.dryRun) await copy(key, bucket, head);
      copied.push({ key, size: head.size, reason });
      bytes += head.size;
      say(`${opts.dryRun ? 'would copy' : 'copy'}  s3://${bucket}/${head.key} → ${target} (${human(head.size)}, ${reason})`);
    }
  });
  await Promise.all(workers);

  const stale = [...have.keys()].filter((k) => !want.has(k)).sort();
  const deleted: string[] = [];
  if (stale.length && opts.delete && !opts.dryRun) {
    await dest.delete(to.bucket, stale);
    deleted.push(...stale);
  }
  for (const k of stale) say(`${deleted.includes(k) ? 'delete' : 'stale'} s3://${to.bucket}/${k} (not at the source${deleted.includes(k) ? '' : '; kept, --delete removes it'})`);
  if (stale.length && !opts.delete && stale.some((k) => /\/hex\//.test(k)))
    say(`warning: stale hex partitions on the mirror are read by hex/** globs; set mirror.delete: true in the dataset file (or run with --delete)`);
  copied.sort((a, b) => (a.key < b.key ? -1 : 1));
  skipped.sort();
  say(
    `${opts.dryRun ? 'dry run: would copy' : 'copied'} ${copied.length} object(s) (${human(bytes)}), ${skipped.length} unchanged, ` +
      `${stale.length} stale on the mirror (${deleted.length ? `${deleted.length} deleted` : 'kept'}), ${excluded.length} excluded (raw/, _work/)`,
  );
  return { copied, skipped, stale, deleted, excluded, bytes };
}

/** `cng-worker sync`. */
export async function syncStage(opts: RawOptions): Promise<void> {
  await syncObjects(syncStageDef.parse(opts));
}
