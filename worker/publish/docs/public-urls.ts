/** The addresses readers use: a product's public HTTPS URL and the source.coop mirror's base. */
import type { DocsInput } from '../../../constructs/prose.ts';
import { parseS3Url } from '../../io/storage.ts';

/** `<publicEndpoint>/<bucket>/<key>` of an `s3://` URL (a trailing `/` kept for directories). */
export function publicUrl(input: Pick<DocsInput, 'publicEndpoint'>, url: string, dir = false): string {
  const { bucket, key } = parseS3Url(url);
  return `${input.publicEndpoint.replace(/\/$/, '')}/${bucket}/${key.replace(/\/$/, '')}${dir ? '/' : ''}`;
}

/** The mirror's URL of the dataset's prefix (the input must have a mirror). */
export function mirrorBase(input: DocsInput): string {
  const m = input.mirror!;
  return `${m.endpoint.replace(/\/$/, '')}/${m.bucket}/${m.prefix ? `${m.prefix.replace(/\/$/, '')}/` : ''}`;
}
