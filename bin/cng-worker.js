#!/usr/bin/env node
// The Job containers' entry point: runs worker/main.ts through tsx's loader.
import { register } from 'tsx/esm/api';
register();
const { workerMain } = await import('../worker/main.ts');
const argv = process.argv.slice(2);
process.exitCode = await workerMain(argv);
// After a successful stage, one line for sizing pods and benchmarks: how close this run came to
// the memory limit. (A failure keeps its single error line.)
if (process.exitCode === 0 && argv.length && !argv.includes('--help') && !argv.includes('-h')) {
  const mib = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stderr.write(`cng-worker ${argv[0]}: peak RSS ${mib} MiB\n`);
}
