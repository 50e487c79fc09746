/**
 * A fault-injecting HTTP proxy for the tests, in front of the test S3 server (loopback only):
 *
 *     const proxy = await startFaultProxy(s3.endpoint, { seed: 7, rate: 0.1, maxFaults: 30 });
 *     ... AWS_ENDPOINT_URL_S3: proxy.endpoint ...
 *     proxy.faults  // { '500': 3, '503': 4, reset: 2, slow: 5 }
 *     await proxy.close();
 *
 * Random faults: a share `rate` of requests (drawn from a seeded PRNG, so a run is repeatable for
 * a given order of requests) gets one of `kinds`: an HTTP 500 or 503 answer with an S3 error body,
 * a connection reset (the socket destroyed before any answer), or a slow answer (`slowMs` before
 * the request is forwarded). Bounded: at most `maxFaults` random faults in all, and never more
 * than `maxPerRequest` on the same request (method, path, query and Range), so clients that
 * retry get through. `rule` adds deterministic faults (e.g. every UploadPart) outside those bounds.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mulberry32 } from '../cli/local/padus-sample/shapes.ts';

export type FaultKind = '500' | '503' | 'reset' | 'slow';

export interface FaultProxyOptions {
  /** PRNG seed. @default 1 */
  seed?: number;
  /** Share of requests that get a random fault. @default 0 (only `rule`) */
  rate?: number;
  /** Kinds of random faults. @default all four */
  kinds?: FaultKind[];
  /** Random faults in all. @default 50 */
  maxFaults?: number;
  /** Random faults on one request (method + path + query + Range). @default 2 */
  maxPerRequest?: number;
  /** Delay of a slow answer. @default 300 */
  slowMs?: number;
  /** A fault for this request regardless of the random ones (undefined: none). */
  rule?: (req: { method: string; path: string; query: URLSearchParams }) => FaultKind | undefined;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Faults injected so far, by kind (random and rule faults). */
  readonly faults: Record<FaultKind, number>;
  /** Requests seen so far. */
  readonly requests: () => number;
  close(): Promise<void>;
}

/** Starts the proxy on a free loopback port, forwarding to `target` (an http:// endpoint). */
export async function startFaultProxy(target: string, o: FaultProxyOptions = {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  const random = mulberry32(o.seed ?? 1);
  const kinds = o.kinds ?? ['500', '503', 'reset', 'slow'];
  const maxFaults = o.maxFaults ?? 50;
  const perRequest = new Map<string, number>();
  const faults: Record<FaultKind, number> = { '500': 0, '503': 0, reset: 0, slow: 0 };
  let randomFaults = 0;
  let requests = 0;
  const sockets = new Set<Socket>();

  const choose = (req: IncomingMessage, url: URL): FaultKind | undefined => {
    const ruled = o.rule?.({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams });
    if (ruled) return ruled;
    // Draw for every request, so the sequence depends only on the seed and the request order.
    const draw = random();
    const pick = kinds[Math.floor(random() * kinds.length)];
    if (draw >= (o.rate ?? 0) || randomFaults >= maxFaults) return undefined;
    const key = `${req.method} ${req.url} ${req.headers.range ?? ''}`;
    const n = perRequest.get(key) ?? 0;
    if (n >= (o.maxPerRequest ?? 2)) return undefined;
    perRequest.set(key, n + 1);
    randomFaults++;
    return pick;
  };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    requests++;
    const fault = choose(req, new URL(req.url ?? '/', 'http://proxy'));
    if (fault) faults[fault]++;
    if (fault === 'reset') {
      req.socket.destroy();
    } else if (fault === '500' || fault === '503') {
      req.resume(); // read the body, then answer: the client sees the status, not a broken pipe
      req.on('end', () => {
        const code = fault === '503' ? 'SlowDown' : 'InternalError';
        res.writeHead(Number(fault), { 'content-type': 'application/xml', connection: 'close' }).end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the fault proxy</Message></Error>`);
      });
    } else if (fault === 'slow') {
      req.pause();
      setTimeout(() => forward(req, res), o.slowMs ?? 300);
    } else forward(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    faults,
    requests: () => requests,
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}
