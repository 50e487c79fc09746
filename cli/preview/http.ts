/** node:http responses of the preview server: text, JSON, and files with single-range support. */
import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename } from 'node:path';

/** A complete response (no body for HEAD), never cached. */
export function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), 'Cache-Control': 'no-cache', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

/**
 * A file, with single-range requests answered 206 (`bytes=a-b`, `a-`, `-n`), unsatisfiable ones
 * 416; multi-range requests get the whole file (RFC 9110 allows ignoring Range).
 */
export function sendFile(req: IncomingMessage, res: ServerResponse, path: string, type: string, ranges: boolean): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return sendJson(res, 404, { error: `missing file ${basename(path)}` });
  }
  const size = st.size;
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers: Record<string, string> = { 'Content-Type': type, 'Cache-Control': 'no-cache', ETag: etag, 'Last-Modified': st.mtime.toUTCString() };
  if (ranges) headers['Accept-Ranges'] = 'bytes';
  const range = ranges ? req.headers.range : undefined;
  const ifRange = req.headers['if-range'];
  let start = 0;
  let end = size - 1;
  let partial = false;
  if (range && (!ifRange || ifRange === etag)) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    if (m && (m[1] !== '' || m[2] !== '')) {
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      }
      if (start >= size || start > end || (m[1] === '' && Number(m[2]) === 0)) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' });
        return void res.end();
      }
      partial = true;
    } else if (!/^bytes=[\d\s,-]+$/.test(range.trim())) {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' });
      return void res.end();
    }
  }
  if (partial) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  headers['Content-Length'] = String(size === 0 ? 0 : end - start + 1);
  res.writeHead(partial ? 206 : 200, headers);
  if (req.method === 'HEAD' || size === 0) return void res.end();
  createReadStream(path, { start, end }).on('error', () => res.destroy()).pipe(res);
}
