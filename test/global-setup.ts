/**
 * vitest globalSetup: ONE real S3 server (Swift + s3api, see test/s3-server.ts) for the whole run,
 * handed to tests through vitest's provide/inject:
 *
 *     import { inject } from 'vitest';
 *     const { endpoint, accessKeyId, secretAccessKey } = inject('s3');
 *
 * Tests share the server: give each test file its own bucket names (e.g. `test-storage-...`).
 */
import type { TestProject } from 'vitest/node';
import { startS3Server } from './s3-server.ts';

export interface ProvidedS3 {
  /** `http://127.0.0.1:<port>`, path-style, region us-east-1. */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: ProvidedS3;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startS3Server();
  project.provide('s3', { endpoint: server.endpoint, accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey });
  return () => server.stop();
}
