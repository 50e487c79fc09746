import { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { log } from '../core/log.ts';

/**
 * Object uploads to S3 that leave nothing behind: one PUT up to PART_SIZE, a multipart upload
 * above it (16 MiB parts, 4 at once) that is aborted when a part fails, so no partial object
 * appears. When the abort fails too (the store is failing), the upload's parts would stay on the
 * server, invisible to listings: one line records it (bucket, key, upload id, why), and the next
 * upload of the same key — the stage's re-run — first aborts every multipart upload of that key
 * left incomplete. The bucket's lifecycle rule (setup-bucket) removes any that no re-run reaches,
 * where the store takes lifecycle rules.
 */

export const PART_SIZE = 16 * 1024 * 1024;

export interface UploadParams {
  Bucket: string;
  Key: string;
  Body: Readable | Buffer | string;
  ContentType?: string;
  Metadata?: Record<string, string>;
}

/**
 * Uploads `params.Body` (of `size` bytes, when known) to Bucket/Key. Before a body that may need
 * a multipart upload, aborts the key's incomplete uploads (see the module comment).
 * Rejects with the SDK's error (the caller words it).
 */
export async function uploadObject(client: S3Client, params: UploadParams, size?: number): Promise<void> {
  const length = size ?? (typeof params.Body === 'string' ? Buffer.byteLength(params.Body) : Buffer.isBuffer(params.Body) ? params.Body.length : undefined);
  if (length === undefined || length > PART_SIZE) await abortLeftUploads(client, params.Bucket, params.Key);
  const upload = new Upload({ client, params, partSize: PART_SIZE, queueSize: 4, leavePartsOnError: false });
  try {
    await upload.done();
  } catch (err) {
    if (upload.uploadId) await recordIfNotAborted(client, params.Bucket, params.Key, upload.uploadId, err);
    throw err;
  }
}

/**
 * After a failed multipart upload: the SDK has tried to abort it; one more try tells whether it
 * is gone (NoSuchUpload: aborted). If that abort fails as well, the one line that records it.
 */
async function recordIfNotAborted(client: S3Client, bucket: string, key: string, uploadId: string, cause: unknown): Promise<void> {
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e?.name === 'NoSuchUpload' || e?.$metadata?.httpStatusCode === 404) return;
    log('upload', `incomplete multipart upload left on the server: bucket ${bucket}, key ${key}, upload id ${uploadId} (the upload failed: ${reason(cause)}; its abort failed: ${reason(err)}); the next upload of s3://${bucket}/${key} aborts it`);
  }
}

/**
 * Aborts every incomplete multipart upload of exactly `key` (left by an earlier run whose abort
 * failed), one line each. Best effort: a store that cannot list uploads is left as it is.
 * Returns the upload ids aborted.
 */
export async function abortLeftUploads(client: S3Client, bucket: string, key: string): Promise<string[]> {
  const aborted: string[] = [];
  try {
    const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    for (const u of r.Uploads ?? []) {
      if (u.Key !== key || !u.UploadId) continue;
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: u.UploadId }));
      aborted.push(u.UploadId);
      log('upload', `aborted multipart upload ${u.UploadId} of s3://${bucket}/${key} left incomplete by an earlier run${u.Initiated ? ` (started ${u.Initiated.toISOString()})` : ''}`);
    }
  } catch {
    // Listing or aborting failed: the upload goes ahead; the lifecycle rule is the fallback.
  }
  return aborted;
}

function reason(err: unknown): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  return `${e?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${String(e?.message ?? err).split('\n')[0]}`;
}
