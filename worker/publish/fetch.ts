import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { CommandError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { fileNameOf, firstLine, human } from '../core/text.ts';
import { type FetchRecord, fetchRecordUrl } from '../io/sources.ts';
import { joinUrl, Storage } from '../io/storage.ts';
import type { RawOptions } from '../stage.ts';
import { fetchStageDef } from './stages.ts';

/**
 * `fetch`: downloads remote (http/https) sources once into the bucket's `raw/` prefix, so the
 * stages downstream read a copy in the same object store instead of the remote server in every
 * pod. Each file is streamed straight into a (multipart) upload while its sha256 is computed; it
 * appears under `raw/<file name>` only when complete (a failed or cut-short download aborts the
 * upload), then `raw/<file name>.fetch.json` records url, bytes, sha256, the server's ETag and
 * Last-Modified, and the time. Idempotent: when the record and the copy exist, the server's
 * validators (HEAD) unchanged skip the download; without validators the file is downloaded again
 * and, its sha256 unchanged, the upload is aborted: nothing is written.
 */

export async function fetchStage(opts: RawOptions): Promise<void> {
  const o = fetchStageDef.parse(opts);
  const storage = new Storage();
  for (const url of o.source) await fetchOne(url, joinUrl(o.raw, fileNameOf(url)), storage);
}

/** Thrown inside the upload's stream to abort it (an unchanged file, a short download). */
class Abort extends Error {}

/** Fetches one URL to `raw` (see the module comment). Returns what the record says. */
export async function fetchOne(url: string, raw: string, storage = new Storage()): Promise<FetchRecord & { unchanged?: boolean }> {
  const recordUrl = fetchRecordUrl(raw);
  const prev = await storage.readText(recordUrl).then((t) => JSON.parse(t) as FetchRecord).catch(() => undefined);
  const copy = prev && (await storage.stat(raw));
  const hasCopy = Boolean(prev && copy && copy.size === prev.bytes);
  if (hasCopy && (prev!.etag || prev!.lastModified) && (await unchangedOnServer(url, prev!))) {
    log('fetch', `${url}: unchanged (ETag/Last-Modified as recorded), ${raw} kept`);
    return { ...prev!, unchanged: true };
  }
  const res = await fetch(url, { redirect: 'follow' }).catch((err) => {
    throw new CommandError(`fetch ${url}: ${reason(err)}; nothing was written to ${raw}`);
  });
  if (!res.ok || !res.body) throw new CommandError(`fetch ${url}: HTTP ${res.status} ${res.statusText}; nothing was written to ${raw}`);
  const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const length = encoded ? undefined : Number(res.headers.get('content-length') ?? NaN);
  const hash = createHash('sha256');
  let bytes = 0;
  let sha256 = '';
  let cause: Error | undefined;
  const tally = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      sha256 = hash.digest('hex');
      if (length !== undefined && Number.isFinite(length) && bytes !== length) cause = new Abort(`the download broke off after ${bytes} of ${length} bytes`);
      else if (hasCopy && sha256 === prev!.sha256) cause = new Abort('unchanged');
      done(cause ?? null);
    },
  });
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream).on('error', (err) => {
    cause ??= new Abort(`the download broke off after ${bytes}${length ? ` of ${length}` : ''} bytes (${reason(err)})`);
    tally.destroy(cause);
  });
  // The stream's error reaches storage.put (which aborts the upload); this listener keeps it from also being unhandled.
  tally.on('error', () => undefined);
  log('fetch', `${url} → ${raw}${length ? ` (${human(length)})` : ''}`);
  try {
    await storage.put(raw, body.pipe(tally));
  } catch (err) {
    if (cause?.message === 'unchanged') {
      log('fetch', `${url}: sha256 ${sha256} as recorded, ${raw} kept (nothing written)`);
      return { ...prev!, unchanged: true };
    }
    throw new CommandError(`fetch ${url}: ${cause?.message ?? reason(err)}; nothing was written to ${raw}`);
  }
  const record: FetchRecord = {
    url, raw, bytes, sha256,
    ...(res.headers.get('etag') ? { etag: res.headers.get('etag')! } : {}),
    ...(res.headers.get('last-modified') ? { lastModified: res.headers.get('last-modified')! } : {}),
    fetchedAt: new Date().toISOString(),
  };
  await storage.writeText(recordUrl, JSON.stringify(record, null, 2) + '\n', 'application/json');
  log('fetch', `${raw}: ${human(bytes)}, sha256 ${sha256}; recorded in ${recordUrl}`);
  return record;
}

/** Whether a HEAD of `url` shows the recorded ETag (or, without one, Last-Modified) and size. */
async function unchangedOnServer(url: string, prev: FetchRecord): Promise<boolean> {
  const res = await fetch(url, { method: 'HEAD', redirect: 'follow' }).catch(() => undefined);
  if (!res?.ok) return false;
  const size = res.headers.get('content-length');
  if (size !== null && Number(size) !== prev.bytes) return false;
  if (prev.etag) return res.headers.get('etag') === prev.etag;
  return res.headers.get('last-modified') === prev.lastModified;
}

function reason(err: unknown): string {
  const e = err as Error & { cause?: Error };
  return firstLine(e.cause?.message ? `${e.message} (${e.cause.message})` : String(e?.message ?? err));
}
