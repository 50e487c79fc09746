import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { vi } from 'vitest';
import { ClusterProfile, type DatasetSpec } from '../constructs/index.ts';
import { WORKER_IMAGE_SOURCES } from '../constructs/worker-image.ts';
import { runCommand, type Command } from '../worker/core/command.ts';
import { Storage } from '../worker/io/storage.ts';
import type { ProvidedS3 } from './global-setup.ts';

export const ROOT = resolve(import.meta.dirname, '..');

/** Splits a documented command line like a shell would for these simple lines (quotes kept together, then removed). */
export function words(line: string): string[] {
  return [...line.matchAll(/'[^']*'|"[^"]*"|\S+/g)].map((m) => m[0].replace(/^['"]|['"]$/g, ''));
}

/** Runs the real CLI (`node bin/cng.js ...`) and returns exit code and output. */
export function cng(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  const r = spawnSync(process.execPath, [join(opts.cwd ?? ROOT, 'bin/cng.js'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeout ?? 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A copy of the repository's sources (node_modules linked) that a test may edit freely; with the
 * worker image's files, so its Jobs name the same image as the repository's.
 */
export function repoCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cng-repo-'));
  for (const p of new Set(['bin', 'cli', 'constructs', 'datasets', 'main.ts', 'dist', ...WORKER_IMAGE_SOURCES.map((s) => s.replace(/\/$/, ''))]))
    cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.email=test@example.org', '-c', 'user.name=test', ...args], { cwd, encoding: 'utf8' });
}

/** NRP once the mirror (source.coop) secret exists and is declared: datasets with a mirror get their sync stage. */
export const MIRRORED = ClusterProfile.NRP.withSecret({ name: 'source-coop', keys: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] });

/** A small two-layer, one-table dataset for construct tests. */
export function smallSpec(over: Partial<DatasetSpec> = {}): DatasetSpec {
  return {
    name: 'demo-1',
    title: 'Demo',
    run: 1,
    source: 's3://public-demo/raw/demo.gdb',
    bucket: 'public-demo',
    prefix: 'demo-1',
    layers: {
      fee: { layer: 'Demo_Fee', features: 5_000 },
      marine: { layer: 'Demo_Marine', features: 300 },
    },
    tables: ['Public_Access'],
    ...over,
  };
}

/** The environment a worker process needs to reach the tests' S3 server. */
export function s3Env(s3: ProvidedS3) {
  return { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1' };
}

/** An AWS SDK client of the tests' S3 server (path-style, checksums only when required, as Swift wants). */
export function s3Client(s3: ProvidedS3): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A new, uniquely named bucket on the tests' S3 server, with the env, SDK client and Storage that reach it. */
export async function s3TestBucket(s3: ProvidedS3, prefix: string) {
  const bucket = `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const env = s3Env(s3);
  const client = s3Client(s3);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { bucket, env, client, storage: new Storage(env) };
}

/** Runs a `cng` command in-process, returning the exit code and what it printed. */
export async function runCaptured(cmd: Command, args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    const code = await runCommand(cmd, args, 'cng');
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

export const STAC_COLLECTION_SCHEMA = 'https://schemas.stacspec.org/v1.0.0/collection-spec/json-schema/collection.json';
let stacAjv: any;

/**
 * Validates a document against one vendored STAC schema (test/schemas/stac: collection, table and
 * file extensions; offline). Throws when the schema is not vendored.
 */
export function stacValidate(id: string, doc: unknown): { ok: boolean; errors: string } {
  if (!stacAjv) {
    stacAjv = new (Ajv as any)({ allErrors: true, allowUnionTypes: true });
    (addFormats as any)(stacAjv);
    // ajv-formats has no IRI formats: an IRI is an absolute URL (Unicode allowed), a reference has no spaces.
    stacAjv.addFormat('iri', (s: string) => URL.canParse(s));
    stacAjv.addFormat('iri-reference', (s: string) => !/\s/.test(s) && URL.canParse(s, 'https://example.org/'));
    for (const f of ['collection', 'table', 'file']) stacAjv.addSchema(JSON.parse(readFileSync(join(ROOT, 'test/schemas/stac', `${f}.json`), 'utf8')));
  }
  const v = stacAjv.getSchema(id) ?? stacAjv.getSchema(`${id}#`);
  if (!v) throw new Error(`no vendored schema for ${id}`);
  const ok = Boolean(v(doc));
  return { ok, errors: JSON.stringify(v.errors) };
}

/** What is wrong with a STAC collection under the collection schema and every extension it declares. */
export function stacProblems(stac: { stac_extensions: string[] }): string[] {
  return [STAC_COLLECTION_SCHEMA, ...stac.stac_extensions].flatMap((id) => {
    const r = stacValidate(id, stac);
    return r.ok ? [] : [`${id}: ${r.errors}`];
  });
}

/** The rows of one DuckDB query in a fresh in-memory database. */
export async function duckRows(sql: string): Promise<Record<string, unknown>[]> {
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjects();
  } finally {
    c.closeSync();
  }
}

/** Rows of every Parquet file under a directory, as sorted JSON lines (order-independent). */
export async function parquetRows(glob: string): Promise<string[]> {
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  const r = await c.runAndReadAll(`SELECT * EXCLUDE (geometry) FROM read_parquet('${glob}', union_by_name=true, hive_partitioning=true)`).catch(async () =>
    c.runAndReadAll(`SELECT * FROM read_parquet('${glob}', union_by_name=true, hive_partitioning=true)`),
  );
  const rows = r.getRowObjectsJson().map((o) => JSON.stringify(o));
  c.closeSync();
  return rows.sort();
}

