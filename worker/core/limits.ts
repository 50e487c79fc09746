import { readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import gdal from 'gdal-async';

/**
 * The pod's CPU and memory limits, so every stage sizes DuckDB, GDAL and its worker threads to
 * stay inside them (an OOM kill happens at the memory limit).
 * Order: CNG_CPU_LIMIT (millicores) / CNG_MEMORY_LIMIT (bytes) from the Job's downward API,
 * else the cgroup v2 files, else the machine.
 */
export interface Limits {
  /** Whole CPUs to use (at least 1). */
  readonly cpus: number;
  /** Memory limit in bytes. */
  readonly memoryBytes: number;
}

export function readLimits(env: NodeJS.ProcessEnv = process.env): Limits {
  const cpuMilli = Number(env.CNG_CPU_LIMIT) || cgroupCpuMilli();
  const cpus = Math.max(1, Math.min(availableParallelism(), cpuMilli ? Math.floor(cpuMilli / 1000) || 1 : availableParallelism()));
  const mem = Number(env.CNG_MEMORY_LIMIT) || cgroupMemory() || Number(readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s+(\d+)/)?.[1] ?? 0) * 1024;
  return { cpus, memoryBytes: mem };
}

function cgroupCpuMilli(): number | undefined {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    return quota === 'max' ? undefined : (Number(quota) / Number(period)) * 1000;
  } catch {
    return undefined;
  }
}

function cgroupMemory(): number | undefined {
  try {
    const v = readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim();
    return v === 'max' ? undefined : Number(v);
  } catch {
    return undefined;
  }
}

/**
 * A DuckDB connection confined to a share of the pod: `memory_limit` = `share` of the memory
 * limit, `threads` = the CPUs, spilling to $TMPDIR/duckdb. The caller closes it with `closeSync()`.
 */
export async function openDuckDB(opts: { share?: number; limits?: Limits } = {}): Promise<DuckDBConnection> {
  const limits = opts.limits ?? readLimits();
  const mb = Math.max(256, Math.floor((limits.memoryBytes * (opts.share ?? 0.5)) / 2 ** 20));
  const db = await DuckDBInstance.create(':memory:', {
    memory_limit: `${mb}MB`,
    threads: String(limits.cpus),
    temp_directory: join(process.env.TMPDIR ?? tmpdir(), 'duckdb'),
    preserve_insertion_order: 'true',
  });
  return db.connect();
}

/** Caps GDAL's block cache at a share of the memory limit. */
export function configureGdalCache(opts: { share?: number; limits?: Limits } = {}): void {
  const limits = opts.limits ?? readLimits();
  const mb = Math.max(64, Math.floor((limits.memoryBytes * (opts.share ?? 0.1)) / 2 ** 20));
  gdal.config.set('GDAL_CACHEMAX', `${mb}MB`);
}
