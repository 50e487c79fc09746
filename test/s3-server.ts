/**
 * A real S3 server for the tests: OpenStack Swift with its s3api middleware (Debian packages
 * swift-proxy, swift-object, swift-container, swift-account, python3-swift, memcached; installed by
 * `bash scripts/setup.sh`), listening on 127.0.0.1 only.
 *
 * Everything lives in a fresh temp dir (rings, configs, the one device, logs); every port (proxy,
 * account, container, object, memcached) is a free loopback port chosen at start, so parallel runs
 * and a system memcached on 11211 never clash. Credentials are tempauth's `test:tester` / `testing`
 * (.admin), path-style, region us-east-1.
 *
 *     const s3 = await startS3Server();   // ~3-4 s
 *     ... new Storage({ AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, ... })
 *     await s3.stop();                    // kills every process, removes the temp dir
 *
 * In the test suite one server is started for the whole run by test/global-setup.ts; tests get it
 * with `inject('s3')` from vitest.
 *
 * What Swift's s3api (2.30, Debian 12) does and does not do, unlike Ceph RGW in production:
 * - bucket policies (Put/GetBucketPolicy) and CORS (Put/GetBucketCors): 501 NotImplemented;
 * - canned bucket ACLs work (public-read = Swift container ACL `.r:*,.rlistings`), but GetBucketAcl
 *   only ever shows the owner's grant; anonymous (unsigned) requests are not S3 requests at all:
 *   public reads go through Swift's own API, `<endpoint>/v1/AUTH_test/<bucket>/<key>`;
 * - DeleteObjects requires Content-MD5; bucket names need at least 3 characters;
 * - multipart uploads (5 MiB minimum part), ListMultipartUploads, delimiter listings, pagination at
 *   1000 keys and range reads all work.
 *
 * No process outlives its owner: stop() kills each process group, an 'exit' hook does the same when
 * the owning Node process exits without calling stop(), and a small watchdog shell kills them and
 * removes the dir when the owning process disappears altogether (e.g. SIGKILL).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface S3Server {
  /** `http://127.0.0.1:<port>` (path-style). */
  readonly endpoint: string;
  readonly accessKeyId: 'test:tester';
  readonly secretAccessKey: 'testing';
  /** Kills every server process and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface S3ServerOptions {
  /** How long to wait for every server's /healthcheck. @default 30_000 */
  readonly timeoutMs?: number;
  /** Keep the temp dir (configs, logs) after stop() for debugging. @default false */
  readonly keepDir?: boolean;
}

const SERVERS = ['account', 'container', 'object'] as const;
/** A started process: its name (for messages), the child, its log file, a spawn error. */
interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly log: string;
  spawnError?: Error;
}
const running = (p: Proc) => p.child.pid !== undefined && p.child.exitCode === null && p.child.signalCode === null;
type Backend = (typeof SERVERS)[number];

/** Starts Swift + s3api + memcached on free loopback ports in a fresh temp dir. */
export async function startS3Server(opts: S3ServerOptions = {}): Promise<S3Server> {
  // A port found free can be taken by someone else before a server binds it: then that server
  // exits at start (bind_timeout below) and we try again on other ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !/already in use|Could not bind/i.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(opts: S3ServerOptions): Promise<S3Server> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  for (const bin of ['memcached', 'swift-proxy-server', 'swift-account-server', 'swift-container-server', 'swift-object-server'])
    if (!which(bin))
      throw new Error(`test S3 server: '${bin}' not found; run 'bash scripts/setup.sh' (apt: swift-proxy swift-object swift-container swift-account python3-swift memcached)`);
  // Swift always reads the hash prefix/suffix and storage policies from /etc/swift/swift.conf.
  if (!existsSync('/etc/swift/swift.conf'))
    throw new Error('test S3 server: /etc/swift/swift.conf is missing (it comes with the Debian package "swift"); run \'bash scripts/setup.sh\'');

  const dir = mkdtempSync(join(tmpdir(), 'cng-s3-'));
  const logs = join(dir, 'logs');
  const devices = join(dir, 'srv');
  mkdirSync(logs);
  mkdirSync(join(devices, 'd1'), { recursive: true });

  const procs: Proc[] = [];
  let watchdog: ChildProcess | undefined;
  let stopped = false;

  const killAll = (signal: NodeJS.Signals) => {
    for (const p of procs) {
      if (running(p)) {
        try {
          process.kill(-p.child.pid!, signal); // the whole process group (detached → own group)
        } catch {
          /* already gone */
        }
      }
    }
  };
  const onExit = () => {
    killAll('SIGKILL');
    if (watchdog?.pid) try { process.kill(watchdog.pid, 'SIGKILL'); } catch { /* gone */ }
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    const exited = procs.map((p) => (running(p) ? new Promise<void>((r) => p.child.once('exit', () => r())) : Promise.resolve()));
    killAll('SIGTERM');
    const timer = setTimeout(() => killAll('SIGKILL'), 3000);
    await Promise.all(exited);
    clearTimeout(timer);
    if (watchdog?.pid && watchdog.exitCode === null) try { process.kill(watchdog.pid, 'SIGKILL'); } catch { /* gone */ }
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [proxyPort, memcachedPort, ...backendPorts] = await freePorts(5);
    const ports = Object.fromEntries(SERVERS.map((s, i) => [s, backendPorts[i]])) as Record<Backend, number>;
    const user = userInfo().username;

    writeConfigs(dir, devices, user, proxyPort, memcachedPort, ports);
    const rings = buildRings(dir, ports); // meanwhile start what does not need the rings

    const start = (name: string, cmd: string, args: string[]) => {
      const log = join(logs, `${name}.log`);
      const fd = openSync(log, 'a');
      const child = spawn(cmd, args, { cwd: dir, detached: true, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      const proc: Proc = { name, child, log };
      child.on('error', (err) => (proc.spawnError = err)); // reported by waitReady
      procs.push(proc);
    };
    const memcachedArgs = ['-l', '127.0.0.1', '-p', String(memcachedPort), '-U', '0', '-m', '64', '-t', '1'];
    if (process.getuid?.() === 0) memcachedArgs.push('-u', 'root');
    start('memcached', 'memcached', memcachedArgs);
    for (const s of SERVERS) start(s, `swift-${s}-server`, [join(dir, `${s}-server.conf`), '-v']);
    await rings;
    start('proxy', 'swift-proxy-server', [join(dir, 'proxy-server.conf'), '-v']);
    watchdog = startWatchdog(dir, procs.map((p) => p.child.pid!).filter(Boolean), opts.keepDir ?? false);

    const urls = [proxyPort, ...backendPorts].map((p) => `http://127.0.0.1:${p}/healthcheck`);
    await waitReady(urls, procs, timeoutMs);
    return { endpoint: `http://127.0.0.1:${proxyPort}`, accessKeyId: 'test:tester', secretAccessKey: 'testing', stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Full path of a program on PATH, or undefined. */
function which(bin: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v "${bin}"`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * The Python that runs Swift: the interpreter in swift-proxy-server's `#!` line (the system
 * /usr/bin/python3 on Debian), not whichever python3 comes first on PATH (pyenv, venvs).
 */
function swiftPython(): string {
  const first = readFileSync(which('swift-proxy-server')!, 'utf8').split('\n', 1)[0];
  return /^#!\s*(\S+)/.exec(first)?.[1] ?? 'python3';
}

/** `n` distinct free loopback ports (held open together so they differ, then released). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** One-replica, one-partition rings for account/container/object, built in one Python process. */
async function buildRings(dir: string, ports: Record<Backend, number>): Promise<void> {
  const script = `
import sys
from swift.common.ring import RingBuilder
d = sys.argv[1]
for name, port in zip(('account', 'container', 'object'), map(int, sys.argv[2:5])):
    b = RingBuilder(0, 1, 1)
    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'device': 'd1', 'weight': 1.0})
    b.rebalance()
    b.save('%s/%s.builder' % (d, name))
    b.get_ring().save('%s/%s.ring.gz' % (d, name))
`;
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(swiftPython(), ['-c', script, dir, String(ports.account), String(ports.container), String(ports.object)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => resolve({ code: null, stderr: e.message }));
    child.on('close', (c) => resolve({ code: c, stderr: err }));
  });
  if (code !== 0) throw new Error(`test S3 server: building the Swift rings failed: ${stderr.trim().split('\n').slice(-5).join('\n')}`);
}

function writeConfigs(dir: string, devices: string, user: string, proxyPort: number, memcachedPort: number, ports: Record<Backend, number>): void {
  const common = (port: number, name: string) => `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
bind_timeout = 2
user = ${user}
swift_dir = ${dir}
devices = ${devices}
mount_check = false
disable_fallocate = true
log_name = ${name}
log_level = INFO
log_address = ${join(dir, 'no-syslog')}
`;
  /** A `[filter:<name>]` section of a Swift paste pipeline. */
  const filter = (name: string, egg = name) => `\n[filter:${name}]\nuse = egg:swift#${egg}\n`;
  for (const s of SERVERS) {
    writeFileSync(
      join(dir, `${s}-server.conf`),
      `${common(ports[s], s)}
[pipeline:main]
pipeline = healthcheck ${s}-server

[app:${s}-server]
use = egg:swift#${s}
# The proxy logs every request already; ~20% less CPU per object operation without these.
log_requests = false
${filter('healthcheck')}`,
    );
  }
  writeFileSync(
    join(dir, 'proxy-server.conf'),
    `${common(proxyPort, 'proxy')}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

${filter('catch_errors')}${filter('gatekeeper')}${filter('healthcheck')}${filter('proxy-logging', 'proxy_logging')}
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${memcachedPort}
${filter('listing_formats')}
[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
${filter('copy')}${filter('slo')}${filter('dlo')}`,
  );
}

/**
 * A detached shell that outlives a SIGKILLed owner for at most ~1 s: when the owning Node process is
 * gone it kills the servers' process groups and removes the temp dir.
 */
function startWatchdog(dir: string, pids: number[], keepDir: boolean): ChildProcess {
  const groups = pids.map((p) => `-${p}`).join(' ');
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
kill -9 ${groups} 2>/dev/null
${keepDir ? '' : `rm -rf '${dir}'`}`;
  const w = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  w.unref();
  return w;
}

function tail(file: string, lines = 25): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text === '' ? '(empty log)' : text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits until every URL answers 200, failing fast (with its log) if a process exits. */
async function waitReady(urls: string[], procs: Proc[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(urls);
  while (pending.size > 0) {
    for (const p of procs) {
      if (p.spawnError) throw new Error(`test S3 server: cannot start ${p.name}: ${p.spawnError.message}`);
      if (p.child.pid === undefined) continue; // spawn failed: its 'error' event comes next tick
      if (!running(p)) {
        const how = p.child.exitCode !== null ? `exit code ${p.child.exitCode}` : `signal ${p.child.signalCode}`;
        throw new Error(`test S3 server: ${p.name} exited at start (${how}); the end of its log:\n${tail(p.log)}`);
      }
    }
    if (Date.now() > deadline) {
      const logs = procs.map((p) => `--- ${p.name}:\n${tail(p.log, 10)}`).join('\n');
      throw new Error(`test S3 server: not ready after ${timeoutMs / 1000} s (no answer from ${[...pending].join(', ')}); the end of the logs:\n${logs}`);
    }
    await Promise.all(
      [...pending].map(async (url) => {
        try {
          const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
          await r.body?.cancel();
          if (r.ok) pending.delete(url);
        } catch {
          /* not listening yet */
        }
      }),
    );
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 100));
  }
}
