#!/usr/bin/env node
// The Job containers' entry point: runs worker/main.ts through tsx's loader.
import { register } from 'tsx/esm/api';
register();
const { workerMain } = await import('../worker/main.ts');
process.exitCode = await workerMain(process.argv.slice(2));
