/**
 * The entry of a hex worker thread: `new Worker(<this module>, { workerData: { cngHexWorker: true,
 * fast } })` (./pool.ts). The thread runs {@link Task}s on its own h3-js and posts back the cells.
 * It loads no GDAL: gdal-async is not context-aware and can be loaded by one thread of a process
 * only ("Module did not self-register" in the second), and worker/core/limits.ts loads it in the
 * main thread.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { H3Engine } from './engine.ts';
import { runTask, type Task, type TaskResult } from './tasks.ts';

if (!isMainThread && (workerData as { cngHexWorker?: boolean } | null)?.cngHexWorker && parentPort) {
  const port = parentPort;
  const engine = new H3Engine({ fast: (workerData as { fast?: boolean }).fast !== false });
  port.on('message', (task: Task) => {
    let result: TaskResult;
    try {
      result = runTask(engine, task);
    } catch (err) {
      result = { seq: task.seq, cells: new Uint32Array(0), counts: new Int32Array(0), error: (err as Error)?.message ?? String(err) };
    }
    port.postMessage(result, [result.cells.buffer as ArrayBuffer, result.counts.buffer as ArrayBuffer]);
  });
  port.postMessage({ ready: true, fast: engine.fast });
}
