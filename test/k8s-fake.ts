/**
 * An in-process stand-in for the Kubernetes API (node:http on 127.0.0.1) serving recorded,
 * real-shaped objects (test/fixtures/k8s/*.json), a kubeconfig that points at it, and the real
 * CLI run in a child process against it. Shared by the status/doctor and preflight tests.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import YAML from 'yaml';
import { ClusterProfile, synthesize } from '../constructs/index.ts';
import { padus41 } from '../datasets/padus-4-1.ts';
import { ROOT } from './helpers.ts';

const FIXTURES = join(ROOT, 'test/fixtures/k8s');

// ---------------------------------------------------------------------------------------------
// The recorded cluster, rebased onto the Job names the current constructs produce

/**
 * Fixture texts with the recorded Job names replaced by the names a fresh synth gives the same
 * (stage, part), so a change to the constructs (e.g. the image version in every hash) does not
 * make the recording stale.
 */
export function loadFixtures(): Record<string, any> {
  const texts = Object.fromEntries(readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).map((f) => [f.replace(/\.json$/, ''), readFileSync(join(FIXTURES, f), 'utf8')]));
  const current = new Map<string, string>();
  for (const [path, objs] of synthesize([padus41]).manifests) {
    const m = /^padus-4-1\/([^/]+)\/manifest\.yaml$/.exec(path);
    if (m) for (const j of objs.filter((o) => o.kind === 'Job')) current.set(`padus-4-1-${m[1]}:${j.metadata.labels['cng/part'] ?? ''}`, j.metadata.name);
  }
  const renames: [string, string][] = [];
  for (const j of JSON.parse(texts.jobs).items) {
    const now = current.get(`${j.metadata.labels['kustomize.toolkit.fluxcd.io/name']}:${j.metadata.labels['cng/part'] ?? ''}`);
    if (now && now !== j.metadata.name) renames.push([j.metadata.name, now]);
  }
  // The recorded image is the worker image the constructs use now.
  renames.push(['ghcr.io/boettiger-lab/cng-worker:0.1.0', ClusterProfile.NRP.image]);
  return Object.fromEntries(Object.entries(texts).map(([k, v]) => [k, JSON.parse(renames.reduce((s, [a, b]) => s.split(a).join(b), v))]));
}

/** `a=b,c!=d,e` label selectors and `x.y=z` field selectors, as the API server applies them. */
function matches(obj: any, selector: string | null, get: (o: any, key: string) => unknown): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const m = /^\s*([^!=\s]+)\s*(!=|==|=)?\s*(.*?)\s*$/.exec(term)!;
    const v = get(obj, m[1]);
    if (!m[2]) return v !== undefined;
    return m[2] === '!=' ? String(v ?? '') !== m[3] : String(v ?? '') === m[3];
  });
}
const label = (o: any, k: string) => o.metadata?.labels?.[k];
const field = (o: any, k: string) => k.split('.').reduce((x: any, p) => x?.[p], o);

export interface FakeApi {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

export async function startFakeApi(fx: Record<string, any>): Promise<FakeApi> {
  const requests: string[] = [];
  const send = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url!, 'http://x');
    requests.push(`${req.method} ${u.pathname}${u.search}`);
    if (req.headers.authorization === 'Bearer denied')
      return send(res, 403, status(403, 'Forbidden', `jobs.batch is forbidden: User "someone" cannot list resource "jobs" in API group "batch" in the namespace "biodiversity"`));
    const ns = '/namespaces/biodiversity/';
    const list = (l: any, get: (o: any, k: string) => unknown, sel: string | null) => ({ ...l, items: l.items.filter((o: any) => matches(o, sel, get)) });
    const p = u.pathname;
    if (p === `/apis/batch/v1${ns}jobs`) return send(res, 200, list(fx.jobs, label, u.searchParams.get('labelSelector')));
    if (p === `/api/v1${ns}pods`) return send(res, 200, list(fx.pods, label, u.searchParams.get('labelSelector')));
    if (p === `/api/v1${ns}events`) return send(res, 200, list(fx.events, field, u.searchParams.get('fieldSelector')));
    if (p === `/apis/kustomize.toolkit.fluxcd.io/v1${ns}kustomizations`) return send(res, 200, list(fx.kustomizations, label, u.searchParams.get('labelSelector')));
    if (p === `/api/v1${ns}resourcequotas`) return send(res, 200, fx.resourcequotas);
    // Objects read by name (cng preflight): Secrets, ServiceAccounts, PriorityClasses (cluster-wide).
    const one = new RegExp(`^(?:/api/v1${ns}(secrets|serviceaccounts)|/apis/scheduling\\.k8s\\.io/v1/(priorityclasses))/([^/]+)$`).exec(p);
    if (one) {
      const plural = one[1] ?? one[2];
      if (fx.forbidden?.includes(plural)) return send(res, 403, status(403, 'Forbidden', `${plural} "${one[3]}" is forbidden: User "tester" cannot get resource "${plural}"`));
      const o = fx[plural].items.find((x: any) => x.metadata.name === one[3]);
      return o ? send(res, 200, o) : send(res, 404, status(404, 'NotFound', `${plural} "${one[3]}" not found`));
    }
    const log = new RegExp(`^/api/v1${ns}pods/([^/]+)/log$`).exec(p);
    if (log) {
      const text: string | undefined = fx['pod-logs'][log[1]];
      if (text === undefined) return send(res, 404, status(404, 'NotFound', `pods "${log[1]}" not found`));
      const n = Number(u.searchParams.get('tailLines') ?? 1e9);
      return send(res, 200, text.trimEnd().split('\n').slice(-n).join('\n') + '\n');
    }
    send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as any).port;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(() => r())) };
}

export function kubeconfig(dir: string, server: string): string {
  const file = join(dir, 'kubeconfig');
  writeFileSync(
    file,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'insecure-skip-tls-verify': true } }], // plain http on loopback
      users: [{ name: 'tester', user: { token: 'test-token' } }, { name: 'nobody', user: { token: 'denied' } }],
      contexts: [{ name: 'nrp-test', context: { cluster: 'test', user: 'tester', namespace: 'biodiversity' } }, { name: 'denied', context: { cluster: 'test', user: 'nobody' } }],
      'current-context': 'nrp-test',
    }),
  );
  return file;
}

/** The real CLI in a child process, asynchronously (the fake API server lives in this process). */
export function run(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(opts.cwd, 'bin/cng.js'), ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

