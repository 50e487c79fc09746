import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** S3 refuses CopyObject above 5 GB: larger objects are copied in parts (UploadPartCopy). */
export const COPY_OBJECT_LIMIT = 5 * 1024 ** 3;
/** Part size of a multipart copy. */
const COPY_PART = 1024 ** 3;

/**
 * A server-side copy inside one S3 store: the bytes never leave the store, and the target appears
 * only when complete (CopyObject; above 5 GB a multipart upload of UploadPartCopy parts, aborted
 * on failure).
 */
export async function copyS3Object(
  s3: S3Client,
  from: { bucket: string; key: string; size: number },
  to: { bucket: string; key: string; contentType: string },
): Promise<void> {
  const source = `${from.bucket}/${from.key.split('/').map(encodeURIComponent).join('/')}`;
  if (from.size <= COPY_OBJECT_LIMIT) {
    await s3.send(new CopyObjectCommand({ Bucket: to.bucket, Key: to.key, CopySource: source, ContentType: to.contentType, MetadataDirective: 'REPLACE' }));
    return;
  }
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, ContentType: to.contentType }));
  try {
    const parts = [];
    for (let start = 0, n = 1; start < from.size; start += COPY_PART, n++) {
      const end = Math.min(from.size, start + COPY_PART) - 1;
      const r = await s3.send(new UploadPartCopyCommand({
        Bucket: to.bucket, Key: to.key, UploadId, PartNumber: n, CopySource: source, CopySourceRange: `bytes=${start}-${end}`,
      }));
      parts.push({ PartNumber: n, ETag: r.CopyPartResult?.ETag });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId, MultipartUpload: { Parts: parts } }));
  } catch (err) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId })).catch(() => undefined);
    throw err;
  }
}
