#!/usr/bin/env node
// The Job containers' entry point: runs worker/main.ts through tsx's loader.
import { register } from 'tsx/esm/api';
register();
const { workerMain } = await import('../worker/main.ts');
const argv = process.argv.slice(2);

/** One line for sizing pods and benchmarks: how close this process came to the memory limit. */
const peakRss = () => `cng-worker ${argv[0]}: peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB\n`;
const quiet = !argv.length || argv.includes('--help') || argv.includes('-h');

if (process.env.CNG_WORKER_SERVE === '1' && process.send) {
  // The local runner's reusable process (cli/local/runner.ts): the same command line, run once per
  // Indexed-Job index it is sent — {index, tmpdir} in, JOB_COMPLETION_INDEX and TMPDIR set as a
  // pod's would be — so hundreds of small work units don't each pay for a Node start-up. After
  // each index a record-separator line on stderr ends that index's log: "\x1eCNG-DONE <index> <code>".
  let queue = Promise.resolve();
  process.on('message', (m) => {
    queue = queue.then(async () => {
      process.env.JOB_COMPLETION_INDEX = String(m.index);
      process.env.TMPDIR = m.tmpdir;
      let code;
      try {
        code = await workerMain(argv);
      } catch (err) {
        process.stderr.write(`cng-worker ${argv[0]}: ${err?.stack ?? err}\n`);
        code = 1;
      }
      if (code === 0 && !quiet) process.stderr.write(peakRss());
      process.stderr.write(`\x1eCNG-DONE ${m.index} ${code}\n`);
      // A failed stage may have left state behind (open files, threads): this process is done.
      if (code !== 0) process.exit(code);
    });
  });
  process.on('disconnect', () => queue.then(() => process.exit(0)));
} else {
  process.exitCode = await workerMain(argv);
  // After a successful stage only: a failure keeps its single error line.
  if (process.exitCode === 0 && !quiet) process.stderr.write(peakRss());
}
