/**
 * The hex worker threads: each runs ./thread.ts with its own h3-js; {@link CellPool} feeds them
 * tasks from one queue and returns the results as promises. With no threads, tasks run in the
 * calling thread on one {@link H3Engine}.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CommandError } from '../../core/errors.ts';
import { H3Engine } from './engine.ts';
import { runTask, type Task, type TaskResult } from './tasks.ts';

interface Waiting {
  task: Task;
  resolve: (r: TaskResult) => void;
  reject: (e: Error) => void;
}

/** Worker threads, each with its own h3-js, fed from one queue (at most two tasks each). */
export class CellPool {
  private readonly queue: Waiting[] = [];
  private readonly busy = new Map<Worker, Waiting[]>();
  private failed: Error | null = null;
  private local?: H3Engine;

  private constructor(
    private readonly workers: Worker[],
    readonly fast: boolean,
    private readonly fastH3: boolean,
  ) {
    for (const w of workers) {
      this.busy.set(w, []);
      w.on('message', (r: TaskResult) => {
        const list = this.busy.get(w)!;
        const i = list.findIndex((x) => x.task.seq === r.seq);
        const [waiting] = list.splice(i, 1);
        if (r.error) waiting.reject(new CommandError(`hexing failed: ${r.error}`));
        else waiting.resolve(r);
        this.pump();
      });
      w.on('error', (err) => this.fail(new CommandError(`hex worker thread failed: ${err.message}`)));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new CommandError(`hex worker thread exited with code ${code}`));
      });
    }
  }

  /** Threads in use: the workers and this one (which reads, cuts and writes). */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** Starts `workers` worker threads (0: everything in this thread). */
  static async start(workers: number, fastH3 = true): Promise<CellPool> {
    if (workers <= 0) {
      const engine = new H3Engine({ fast: fastH3 });
      const pool = new CellPool([], engine.fast, fastH3);
      pool.local = engine;
      return pool;
    }
    const script = new URL('./thread.ts', import.meta.url).href;
    const boot = `import(${JSON.stringify(tsxApi())}).then((m) => { m.register(); return import(${JSON.stringify(script)}); }).catch((e) => { console.error(e); process.exit(1); });`;
    const list: Worker[] = [];
    const ready: Promise<boolean>[] = [];
    const cleanups: (() => void)[] = [];
    for (let i = 0; i < workers; i++) {
      const w = new Worker(boot, { eval: true, workerData: { cngHexWorker: true, fast: fastH3 } });
      list.push(w);
      ready.push(
        new Promise((resolve, reject) => {
          const onMessage = (m: { ready?: boolean; fast?: boolean }) => resolve(Boolean(m.fast));
          const onExit = (code: number) => reject(new Error(`exited with code ${code}`));
          w.once('message', onMessage);
          w.once('error', reject);
          w.once('exit', onExit);
          // (removeAllListeners would also drop the Worker's own listener bookkeeping)
          cleanups.push(() => {
            w.off('message', onMessage);
            w.off('error', reject);
            w.off('exit', onExit);
          });
        }),
      );
    }
    let fast: boolean[];
    try {
      fast = await Promise.all(ready);
    } catch (err) {
      await Promise.all(list.map((w) => w.terminate()));
      throw new CommandError(`cannot start hex worker threads: ${(err as Error).message}`);
    }
    for (const c of cleanups) c();
    return new CellPool(list, fast.every(Boolean), fastH3);
  }

  private engine(): H3Engine {
    return (this.local ??= new H3Engine({ fast: this.fastH3 }));
  }

  run(task: Task): Promise<TaskResult> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.workers.length === 0) return this.compute(task);
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.pump();
    });
  }

  private compute(task: Task): Promise<TaskResult> {
    try {
      return Promise.resolve(runTask(this.engine(), task));
    } catch (err) {
      return Promise.reject(new CommandError(`hexing failed: ${(err as Error).message}`));
    }
  }

  private pump(): void {
    for (;;) {
      if (this.queue.length === 0) return;
      let best: Worker | null = null;
      for (const [w, list] of this.busy) if (list.length < 2 && (!best || list.length < this.busy.get(best)!.length)) best = w;
      if (!best) return;
      const next = this.queue.shift()!;
      this.busy.get(best)!.push(next);
      best.postMessage(next.task);
    }
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    for (const list of this.busy.values()) for (const w of list.splice(0)) w.reject(err);
    for (const w of this.queue.splice(0)) w.reject(err);
  }

  /** Share of time each thread was busy since it started. */
  busyShare(): number[] {
    return this.workers.map((w) => w.performance.eventLoopUtilization().utilization);
  }

  async close(): Promise<void> {
    this.failed ??= new CommandError('pool closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** tsx's ESM loader API, so that worker threads can load the TypeScript sources too. */
function tsxApi(): string {
  try {
    if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api');
  } catch {
    // fall through
  }
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = require(pkgPath) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api'].import.default)).href;
}
