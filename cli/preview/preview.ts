/**
 * `cng preview <DIR|dataset>`: serves a local map of a run's products (the server below) until Ctrl-C or
 * SIGTERM.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createReadStream, statSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { CommandError, EXIT, UsageError } from '../../worker/core/errors.ts';
import { type Command, flagOptions, str } from '../../worker/core/command.ts';
import { plural } from '../../worker/core/text.ts';
import { describeHex, HEX_CELL_LIMIT, hexBounds, type HexInfo, type HexLayer, queryHex } from './hex-query.ts';
import { isDir, type LayerFiles, layersFromDataset, layersFromDir, readPmtilesInfo } from './products.ts';

export const previewCommand: Command = {
  name: 'preview',
  summary: 'a local map of a run\'s PMTiles and hex cells (cng local output or a dataset)',
  help: `Usage: cng preview <DIR|dataset> [--port P] [--host 127.0.0.1] [--data-dir data]

Serves a local web page (MapLibre GL JS and the PMTiles reader from node_modules, no external
requests, no basemap) showing each layer's vector tiles and its H3 hex cells at the current view,
with a layer switcher and attribute popups (click a feature).
  DIR       a \`cng local\` output directory: DIR/<layer>.pmtiles, DIR/<layer>/hex/, manifest.json
  dataset   a dataset in dist/: its outputs in the directory store, <data-dir>/store/<bucket>/<key>
            (as \`cng run <dataset>\` writes them)
An argument that is an existing directory is DIR; anything else is a dataset name.
Hex cells are shown at the layer's resolution when zoomed in, else aggregated to a coarser
resolution (count = cells at the layer's resolution, per feature); at most ${HEX_CELL_LIMIT.toLocaleString('en-US')} cells per view.
Raster hex products (from \`cng local <raster>\` or a raster dataset) are coloured by value (a ramp
over the cells in view) or by class; zoomed out, count cells add up, continuous cells average
(weighted by coverage) and class cells show the most frequent class.
Stop with Ctrl-C.

Options:
  --port P         port to listen on (default 8000; 0 = any free port)
  --host ADDR      address to listen on (default 127.0.0.1)
  --data-dir DIR   local data directory of \`cng run\` (default: data)
  -h, --help       show this help

Exit status: 0 stopped by Ctrl-C/SIGTERM, 1 nothing to show or cannot listen, 2 usage error.

Examples:
  cng local parks.gpkg --out out/parks && cng preview out/parks
  cng run padus-4-1 --sample && cng preview padus-4-1 --port 8080`,
  options: flagOptions(['port', 'host', 'data-dir']),
  positionals: true,
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('expected one directory or dataset name');
    const [target] = positionals;
    const port = values.port === undefined ? 8000 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0–65535, got '${values.port}'`);
    const isDirectory = isDir(target);
    if (!isDirectory && /[/\\]/.test(target)) throw new CommandError(`no directory '${target}'`);
    const server = await startPreviewServer({
      ...(isDirectory ? { dir: target } : { dataset: target }),
      dataDir: str(values['data-dir']),
      port,
      host: str(values.host),
    });
    const summary = server.layers.map((l) => `${l.name}${l.pmtiles ? '' : ' (no pmtiles)'}${l.hex ? '' : ' (no hex)'}`).join(', ');
    process.stdout.write(`cng preview: ${plural(server.layers.length, 'layer')}: ${summary}\n`);
    process.stdout.write(`cng preview: serving ${server.url}  (Ctrl-C to stop)\n`);
    await new Promise<void>((ok) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        ok();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    process.stderr.write('cng preview: stopping\n');
    await server.close();
    return EXIT.ok;
  },
};

/**
 * The preview server: a small node:http server for a local map of a run's products — each layer's
 * PMTiles (vector tiles read with HTTP range requests by the pmtiles JS reader) and its H3 hex
 * Parquet (cells in view, queried with DuckDB per map move). The page (cli/preview/) uses MapLibre
 * GL JS and the PMTiles protocol straight from node_modules: no CDN, no basemap, no external
 * request of any kind.
 *
 * Routes:
 *   /                         the page (cli/preview/index.html, app.js, preview.css)
 *   /vendor/…                 maplibre-gl.js/.css and pmtiles.js from node_modules
 *   /tiles/<layer>.pmtiles    the archive, with Range support (206, Accept-Ranges, Content-Range)
 *   /api/layers               the layers: PMTiles URL, vector layer id, bounds, zooms, hex info
 *   /api/hex?layer=&bbox=w,s,e,n&zoom=z   GeoJSON of the hex cells in view (see {@link queryHex})
 */

const ASSETS = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** What the page learns about a layer (`/api/layers`). */
export interface LayerInfo {
  name: string;
  /** URL path of the archive, or null when the layer has no PMTiles. */
  pmtiles: string | null;
  /** The archive's vector layer id (the `source-layer`). */
  vectorLayer: string | null;
  /** Attribute names of the vector layer. */
  fields: string[];
  /** [west, south, east, north] from the PMTiles header (else the hex cells). */
  bounds: [number, number, number, number] | null;
  minzoom: number | null;
  maxzoom: number | null;
  hex: HexInfo | null;
}

export interface PreviewOptions {
  /** A `cng local` output directory. */
  dir?: string;
  /** A dataset name: its outputs in the directory store under `dataDir`. */
  dataset?: string;
  /** @default 'data' */
  dataDir?: string;
  /** dist/ with the synthesized manifests (dataset mode). @default 'dist' */
  distDir?: string;
  /** @default 8000; 0 = any free port */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
}

export interface PreviewServer {
  url: string;
  layers: LayerInfo[];
  close(): Promise<void>;
}

/** Starts the preview server; resolves once it listens. */
export async function startPreviewServer(opts: PreviewOptions): Promise<PreviewServer> {
  const files = findProducts(opts);
  const assets = staticFiles();
  const { openDuckDB } = await import('../../worker/core/limits.ts');
  const db = new OneConnection(await openDuckDB({ share: 0.25 }));
  const { layers, hexLayers } = await describeLayers(db, files);
  const site: Site = { assets, layers, hexLayers, byName: new Map(files.map((f) => [f.name, f])), db };
  const server: Server = createServer((req, res) => {
    handle(site, req, res).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message });
      else res.destroy();
    });
  });
  await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 8000, () => db.closeNow());
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${addr.port}/`,
    layers,
    close() {
      closed ??= new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }).then(() => db.close());
      return closed;
    },
  };
}

/** The layers' files, from a directory or a dataset; a CommandError when there is nothing to show. */
function findProducts(opts: PreviewOptions): LayerFiles[] {
  if (!opts.dir === !opts.dataset) throw new UsageError('give either a directory or a dataset name');
  if (opts.dir) {
    const files = layersFromDir(resolve(opts.dir));
    if (!files.length)
      throw new CommandError(`no products in '${opts.dir}': expected <layer>.pmtiles files or <layer>/hex/ directories (as cng local writes)`);
    return files;
  }
  const dataDir = resolve(opts.dataDir ?? 'data');
  const found = layersFromDataset(opts.dataset!, dataDir, resolve(opts.distDir ?? 'dist'));
  if (!found.expected.length) throw new CommandError(`dataset '${opts.dataset}' has no spatial layers to preview`);
  if (!found.layers.length)
    throw new CommandError(`dataset '${opts.dataset}' has no outputs yet under ${join(dataDir, 'store')} (e.g. ${found.expected[0]}): run \`cng run ${opts.dataset}\` first`);
  return found.layers;
}

/** Static files the server hands out, by URL path: [file, content type]. */
function staticFiles(): Map<string, [string, string]> {
  const pkgDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
  const maplibre = pkgDir('maplibre-gl');
  let pmtiles: string;
  try {
    pmtiles = pkgDir('pmtiles');
  } catch {
    throw new CommandError("the 'pmtiles' package is not installed (npm install): the page needs its browser build");
  }
  return new Map([
    ['/', [join(ASSETS, 'index.html'), 'text/html; charset=utf-8']],
    ['/index.html', [join(ASSETS, 'index.html'), 'text/html; charset=utf-8']],
    ['/app.js', [join(ASSETS, 'app.js'), 'text/javascript; charset=utf-8']],
    ['/preview.css', [join(ASSETS, 'preview.css'), 'text/css; charset=utf-8']],
    ['/vendor/maplibre-gl.js', [join(maplibre, 'dist/maplibre-gl.js'), 'text/javascript; charset=utf-8']],
    ['/vendor/maplibre-gl.js.map', [join(maplibre, 'dist/maplibre-gl.js.map'), 'application/json']],
    ['/vendor/maplibre-gl.css', [join(maplibre, 'dist/maplibre-gl.css'), 'text/css; charset=utf-8']],
    ['/vendor/pmtiles.js', [join(pmtiles, 'dist/pmtiles.js'), 'text/javascript; charset=utf-8']],
    ['/vendor/pmtiles.js.map', [join(pmtiles, 'dist/pmtiles.js.map'), 'application/json']],
  ]);
}

/** The server's one DuckDB connection: queries run one at a time. */
class OneConnection {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: DuckDBConnection) {}

  run<T>(query: (db: DuckDBConnection) => Promise<T>): Promise<T> {
    const f = () => query(this.db);
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Closes the connection once the queries queued so far are done. */
  close(): Promise<void> {
    return this.queue.then(() => this.db.closeSync());
  }

  closeNow(): void {
    this.db.closeSync();
  }
}

/** Each layer as the page sees it (PMTiles header, hex description, bounds), and the hex layers by name. */
async function describeLayers(db: OneConnection, files: LayerFiles[]): Promise<{ layers: LayerInfo[]; hexLayers: Map<string, HexLayer> }> {
  const hexLayers = new Map<string, HexLayer>();
  const layers: LayerInfo[] = [];
  for (const f of files) {
    const pm = f.pmtiles ? await readPmtilesInfo(f.pmtiles) : undefined;
    const hex = f.hexDir ? await db.run((c) => describeHex(c, f)) : undefined;
    if (hex) hexLayers.set(f.name, hex);
    let bounds = pm?.bounds ?? null;
    if (!bounds && hex?.partitions.size) bounds = await db.run((c) => hexBounds(c, hex));
    const vl = pm?.vectorLayers.find((l) => l.id === f.name) ?? pm?.vectorLayers[0];
    layers.push({
      name: f.name,
      pmtiles: f.pmtiles ? `/tiles/${encodeURIComponent(f.name)}.pmtiles` : null,
      vectorLayer: vl?.id ?? (f.pmtiles ? f.name : null),
      fields: vl?.fields ?? [],
      bounds,
      minzoom: pm?.minzoom ?? null,
      maxzoom: pm?.maxzoom ?? null,
      hex: hex?.info ?? null,
    });
  }
  return { layers, hexLayers };
}

/** What the routes serve. */
interface Site {
  assets: Map<string, [string, string]>;
  layers: LayerInfo[];
  hexLayers: Map<string, HexLayer>;
  byName: Map<string, LayerFiles>;
  db: OneConnection;
}

async function handle(site: Site, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n', { Allow: 'GET, HEAD' });
  const asset = site.assets.get(url.pathname);
  if (asset) return sendFile(req, res, asset[0], asset[1], false);
  if (url.pathname === '/favicon.ico') return send(res, 204, 'text/plain', '');
  if (url.pathname === '/api/layers') return sendJson(res, 200, { layers: site.layers });
  const tile = /^\/tiles\/([^/]+)\.pmtiles$/.exec(url.pathname);
  if (tile) {
    const f = site.byName.get(decodeURIComponent(tile[1]));
    if (!f?.pmtiles) return sendJson(res, 404, { error: `no PMTiles for layer '${decodeURIComponent(tile[1])}'` });
    return sendFile(req, res, f.pmtiles, 'application/vnd.pmtiles', true);
  }
  if (url.pathname === '/api/hex') return handleHex(site, url, res);
  return sendJson(res, 404, { error: `not found: ${url.pathname}` });
}

/** `/api/hex?layer=&bbox=w,s,e,n&zoom=z[&limit=n]`: the cells in view, with the query's milliseconds. */
async function handleHex(site: Site, url: URL, res: ServerResponse): Promise<void> {
  const name = url.searchParams.get('layer') ?? '';
  const layer = site.hexLayers.get(name);
  if (!layer) return sendJson(res, 404, { error: `no hex cells for layer '${name}'; layers with hex: ${[...site.hexLayers.keys()].join(', ') || '(none)'}` });
  const bbox = (url.searchParams.get('bbox') ?? '').split(',').map(Number);
  const zoom = Number(url.searchParams.get('zoom'));
  if (bbox.length !== 4 || bbox.some((v) => !Number.isFinite(v)) || bbox[2] < bbox[0] || bbox[3] < bbox[1])
    return sendJson(res, 400, { error: 'bbox must be w,s,e,n (degrees, w ≤ e, s ≤ n)' });
  if (!Number.isFinite(zoom) || zoom < 0 || zoom > 30) return sendJson(res, 400, { error: 'zoom must be a number 0–30' });
  const limit = Math.min(HEX_CELL_LIMIT, Math.max(1, Number(url.searchParams.get('limit') ?? HEX_CELL_LIMIT) || HEX_CELL_LIMIT));
  const started = Date.now();
  const answer = await site.db.run((c) => queryHex(c, layer, bbox as [number, number, number, number], zoom, limit));
  return sendJson(res, 200, { ...answer, ms: Date.now() - started });
}

/** Listens on host:port; a port in use (or any listen error) is a CommandError, after `onError`. */
function listen(server: Server, host: string, port: number, onError: () => void): Promise<void> {
  return new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      onError();
      fail(
        err.code === 'EADDRINUSE'
          ? new CommandError(`port ${port} on ${host} is in use: pass --port P (0 = any free port)`)
          : new CommandError(`cannot listen on ${host}:${port}: ${err.message}`),
      );
    });
    server.listen(port, host, () => ok());
  });
}

/** node:http responses of the preview server: text, JSON, and files with single-range support. */

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
