/** A PMTiles v3 archive's header and metadata, read here so the server needs no PMTiles library. */
import { open } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { CommandError } from '../../worker/core/errors.ts';

export interface PmtilesInfo {
  bounds: [number, number, number, number];
  minzoom: number;
  maxzoom: number;
  center: [number, number, number];
  vectorLayers: { id: string; fields: string[] }[];
}

/** The v3 header's zooms, bounds and centre, and the vector layers from the JSON metadata. */
export async function readPmtilesInfo(path: string): Promise<PmtilesInfo> {
  const fh = await open(path, 'r');
  try {
    const h = Buffer.alloc(127);
    await fh.read(h, 0, 127, 0);
    if (h.toString('latin1', 0, 7) !== 'PMTiles' || h[7] !== 3) throw new CommandError(`'${path}' is not a PMTiles v3 archive`);
    const metaOffset = Number(h.readBigUInt64LE(24));
    const metaLength = Number(h.readBigUInt64LE(32));
    const e7 = (o: number) => h.readInt32LE(o) / 1e7;
    let vectorLayers: PmtilesInfo['vectorLayers'] = [];
    if (metaLength > 0) {
      const raw = Buffer.alloc(metaLength);
      await fh.read(raw, 0, metaLength, metaOffset);
      const compression = h[97]; // 1 none, 2 gzip
      const text = (compression === 2 ? gunzipSync(raw) : raw).toString('utf8');
      try {
        const meta = JSON.parse(text);
        vectorLayers = (meta.vector_layers ?? []).map((l: any) => ({ id: String(l.id), fields: Object.keys(l.fields ?? {}) }));
      } catch {
        vectorLayers = [];
      }
    }
    return {
      minzoom: h[100],
      maxzoom: h[101],
      bounds: [e7(102), e7(106), e7(110), e7(114)],
      center: [e7(119), e7(123), h[118]],
      vectorLayers,
    };
  } finally {
    await fh.close();
  }
}
