/**
 * A streaming PMTiles v3 archive writer (https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md).
 *
 * Layout of the archive written by {@link PmtilesWriter.finish}, in file order:
 *
 * | section | content |
 * |---|---|
 * | header | 127 bytes, little-endian |
 * | root directory | gzip; together with the header inside the first 16 KiB |
 * | metadata | JSON, gzip |
 * | leaf directories | gzip each, only when the root alone would not fit in 16 KiB |
 * | tile data | every distinct tile once, in tile-id order (clustered) |
 *
 * Tiles must be added in strictly ascending tile-id order (z, then the Hilbert curve within a zoom:
 * {@link zxyToTileId}). Their bytes go straight to a temporary data file, so memory holds only the
 * directory entries (parallel typed arrays, ~24 bytes per entry) and one 48-bit hash per distinct
 * tile content for de-duplication: a tile whose bytes equal an earlier one's points at the earlier
 * offset (hash hits are verified byte for byte, so a hash collision never merges different tiles),
 * and a run of consecutive tile ids with identical bytes becomes one entry with a run length.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { tileIdToZxy as pmtilesTileIdToZxy, zxyToTileId as pmtilesZxyToTileId } from 'pmtiles';

export const HEADER_BYTES = 127;
/** The header and the root directory must fit in the first 16 KiB (spec). */
export const ROOT_LIMIT = 16384;

export const Compression = { unknown: 0, none: 1, gzip: 2, brotli: 3, zstd: 4 } as const;
export const TileType = { unknown: 0, mvt: 1, png: 2, jpeg: 3, webp: 4, avif: 5 } as const;

/**
 * PMTiles tile id of z/x/y: the tiles of every lower zoom, plus the position of (x, y) along the
 * Hilbert curve filling the 2^z × 2^z grid (the pmtiles package's numbering, with range checks).
 * Exact up to zoom 26 (ids < 2^53).
 */
export function zxyToTileId(z: number, x: number, y: number): number {
  if (!Number.isInteger(z) || z < 0 || z > 26) throw new RangeError(`zoom ${z} out of range 0..26`);
  const n = 2 ** z;
  if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x >= n || y >= n)
    throw new RangeError(`tile ${z}/${x}/${y} outside the ${n}×${n} grid`);
  return pmtilesZxyToTileId(z, x, y);
}

/** Inverse of {@link zxyToTileId}. */
export function tileIdToZxy(id: number): [number, number, number] {
  if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`bad tile id ${id}`);
  return pmtilesTileIdToZxy(id);
}

/** A growable byte buffer with unsigned LEB128 varints up to 2^53. */
class ByteWriter {
  private buf = Buffer.allocUnsafe(1024);
  length = 0;

  private ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + extra));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** A copy of a typed array with twice its length (the rest zeros). */
function doubled<T extends Float64Array | Uint32Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

/** Directory entries as parallel typed arrays (grown by doubling). */
class Entries {
  ids = new Float64Array(1024);
  offsets = new Float64Array(1024);
  lengths = new Uint32Array(1024);
  runs = new Uint32Array(1024);
  count = 0;

  push(id: number, offset: number, length: number, run: number): void {
    if (this.count === this.ids.length) {
      this.ids = doubled(this.ids);
      this.offsets = doubled(this.offsets);
      this.lengths = doubled(this.lengths);
      this.runs = doubled(this.runs);
    }
    const i = this.count++;
    this.ids[i] = id;
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.runs[i] = run;
  }
}

/**
 * Serializes entries [start, end) as a PMTiles directory, gzip-compressed: the entry count, then
 * the delta-coded tile ids, the run lengths, the lengths, and the offsets (0 = "right after the
 * previous entry's bytes", else offset + 1).
 */
function serializeDirectory(e: Entries, start: number, end: number): Buffer {
  const w = new ByteWriter();
  w.varint(end - start);
  let last = 0;
  for (let i = start; i < end; i++) {
    w.varint(e.ids[i] - last);
    last = e.ids[i];
  }
  for (let i = start; i < end; i++) w.varint(e.runs[i]);
  for (let i = start; i < end; i++) w.varint(e.lengths[i]);
  for (let i = start; i < end; i++) {
    if (i > start && e.offsets[i] === e.offsets[i - 1] + e.lengths[i - 1]) w.varint(0);
    else w.varint(e.offsets[i] + 1);
  }
  return gzipSync(w.bytes());
}

/**
 * Builds the root directory and, when all entries do not fit in the 16 KiB root, the leaf
 * directories: consecutive runs of `leafSize` entries, each gzip-compressed, referenced from the
 * root by (first tile id, offset within the leaf section, length, run length 0). The leaf size
 * grows until the root fits.
 */
function buildDirectories(e: Entries): { root: Buffer; leaves: Buffer[]; leavesLength: number } {
  const root = serializeDirectory(e, 0, e.count);
  if (root.length <= ROOT_LIMIT - HEADER_BYTES) return { root, leaves: [], leavesLength: 0 };
  let leafSize = Math.max(4096, Math.ceil(e.count / 3500));
  for (;;) {
    const rootEntries = new Entries();
    const leaves: Buffer[] = [];
    let offset = 0;
    for (let start = 0; start < e.count; start += leafSize) {
      const end = Math.min(e.count, start + leafSize);
      const leaf = serializeDirectory(e, start, end);
      rootEntries.push(e.ids[start], offset, leaf.length, 0);
      leaves.push(leaf);
      offset += leaf.length;
    }
    const root = serializeDirectory(rootEntries, 0, rootEntries.count);
    if (root.length <= ROOT_LIMIT - HEADER_BYTES) return { root, leaves, leavesLength: offset };
    leafSize = Math.ceil(leafSize * 1.2);
  }
}

export interface ArchiveInfo {
  minZoom: number;
  maxZoom: number;
  /** [west, south, east, north] in degrees. */
  bounds: [number, number, number, number];
  /** [lon, lat, zoom]. */
  center: [number, number, number];
  /** @default TileType.mvt */
  tileType?: number;
  /** Compression of the tile bytes as given to addTile. @default Compression.gzip */
  tileCompression?: number;
}

export interface ArchiveStats {
  /** Tiles addressed (sum of run lengths). */
  addressedTiles: number;
  /** Directory entries. */
  tileEntries: number;
  /** Distinct tile contents stored. */
  tileContents: number;
  leafDirectories: number;
  tileDataBytes: number;
  bytes: number;
}

/** Degrees → the header's E7 integers; `round` picks the direction so bounds enclose the data. */
function e7(deg: number, round: (v: number) => number = Math.round): number {
  return Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, round(deg * 1e7)));
}

/** The 127-byte v3 header. */
export function serializeHeader(h: {
  rootOffset: number; rootLength: number; metadataOffset: number; metadataLength: number;
  leafOffset: number; leafLength: number; dataOffset: number; dataLength: number;
  addressedTiles: number; tileEntries: number; tileContents: number; clustered: boolean;
  internalCompression: number; tileCompression: number; tileType: number;
  minZoom: number; maxZoom: number; bounds: [number, number, number, number]; center: [number, number, number];
}): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.write('PMTiles', 0, 'ascii');
  b.writeUInt8(3, 7);
  const u64 = [h.rootOffset, h.rootLength, h.metadataOffset, h.metadataLength, h.leafOffset, h.leafLength,
    h.dataOffset, h.dataLength, h.addressedTiles, h.tileEntries, h.tileContents];
  u64.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 + 8 * i));
  b.writeUInt8(h.clustered ? 1 : 0, 96);
  b.writeUInt8(h.internalCompression, 97);
  b.writeUInt8(h.tileCompression, 98);
  b.writeUInt8(h.tileType, 99);
  b.writeUInt8(h.minZoom, 100);
  b.writeUInt8(h.maxZoom, 101);
  const [w, s, e, n] = h.bounds;
  b.writeInt32LE(e7(w, Math.floor), 102);
  b.writeInt32LE(e7(s, Math.floor), 106);
  b.writeInt32LE(e7(e, Math.ceil), 110);
  b.writeInt32LE(e7(n, Math.ceil), 114);
  b.writeUInt8(h.center[2], 118);
  b.writeInt32LE(e7(h.center[0]), 119);
  b.writeInt32LE(e7(h.center[1]), 123);
  return b;
}

/**
 * Writes a PMTiles v3 archive from tiles given in ascending tile-id order.
 *
 * ```ts
 * const w = await PmtilesWriter.create('/scratch/x.tiledata');
 * await w.addTile(zxyToTileId(0, 0, 0), gzippedMvt);
 * await w.finish('/scratch/x.pmtiles', { minZoom: 0, maxZoom: 0, bounds, center }, { vector_layers });
 * ```
 */
export class PmtilesWriter {
  private readonly entries = new Entries();
  /** 48-bit content hash → index of the entry that first stored those bytes. */
  private readonly byHash = new Map<number, number>();
  private dataLength = 0;
  private contents = 0;
  private addressed = 0;
  private lastId = -1;
  private lastData: Buffer | null = null;
  /** Pending writes, flushed to the data file in blocks. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushed = 0;
  private closed = false;

  private constructor(private readonly dataPath: string, private readonly fh: FileHandle) {}

  /** Starts an archive whose tile data is staged in `dataPath` (removed by finish/abort). */
  static async create(dataPath: string): Promise<PmtilesWriter> {
    return new PmtilesWriter(dataPath, await open(dataPath, 'w+'));
  }

  get tileCount(): number {
    return this.addressed;
  }

  /** Adds one tile; ids must be strictly ascending. `data` is stored as given (already compressed). */
  async addTile(tileId: number, data: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('PmtilesWriter: addTile after finish');
    if (!(tileId > this.lastId)) throw new Error(`PmtilesWriter: tile id ${tileId} not after ${this.lastId}`);
    if (data.length === 0) throw new Error(`PmtilesWriter: empty tile ${tileId}`);
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const e = this.entries;
    const lastIndex = e.count - 1;
    // A run: the next tile id with the same bytes as the previous tile.
    if (lastIndex >= 0 && this.lastData && tileId === e.ids[lastIndex] + e.runs[lastIndex] && bytes.equals(this.lastData)) {
      e.runs[lastIndex]++;
      this.addressed++;
      this.lastId = tileId;
      return;
    }
    const hash = createHash('sha1').update(bytes).digest().readUIntLE(0, 6);
    const seen = this.byHash.get(hash);
    if (seen !== undefined && e.lengths[seen] === bytes.length && (await this.sameBytes(e.offsets[seen], bytes))) {
      e.push(tileId, e.offsets[seen], bytes.length, 1);
    } else {
      if (seen === undefined) this.byHash.set(hash, e.count);
      e.push(tileId, this.dataLength, bytes.length, 1);
      await this.write(bytes);
      this.dataLength += bytes.length;
      this.contents++;
    }
    this.lastData = bytes;
    this.addressed++;
    this.lastId = tileId;
  }

  private async write(bytes: Buffer): Promise<void> {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= 4 * 2 ** 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const block = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let done = 0;
    while (done < block.length) {
      const { bytesWritten } = await this.fh.write(block, done, block.length - done, this.flushed + done);
      done += bytesWritten;
    }
    this.flushed += block.length;
  }

  /** Whether the stored bytes at `offset` equal `bytes` (reads them back from the data file). */
  private async sameBytes(offset: number, bytes: Buffer): Promise<boolean> {
    if (offset + bytes.length > this.flushed) await this.flush();
    const stored = Buffer.allocUnsafe(bytes.length);
    const { bytesRead } = await this.fh.read(stored, 0, bytes.length, offset);
    return bytesRead === bytes.length && stored.equals(bytes);
  }

  /**
   * Writes the archive to `outPath` (header, root directory, metadata, leaf directories, then the
   * staged tile data) and removes the staging file.
   */
  async finish(outPath: string, info: ArchiveInfo, metadata: Record<string, unknown>): Promise<ArchiveStats> {
    await this.flush();
    await this.fh.close();
    this.closed = true;
    try {
      const { root, leaves, leavesLength } = buildDirectories(this.entries);
      const meta = gzipSync(Buffer.from(JSON.stringify(metadata), 'utf8'));
      const rootOffset = HEADER_BYTES;
      const metadataOffset = rootOffset + root.length;
      const leafOffset = metadataOffset + meta.length;
      const dataOffset = leafOffset + leavesLength;
      const header = serializeHeader({
        rootOffset, rootLength: root.length, metadataOffset, metadataLength: meta.length,
        leafOffset, leafLength: leavesLength, dataOffset, dataLength: this.dataLength,
        addressedTiles: this.addressed, tileEntries: this.entries.count, tileContents: this.contents,
        clustered: true, internalCompression: Compression.gzip,
        tileCompression: info.tileCompression ?? Compression.gzip, tileType: info.tileType ?? TileType.mvt,
        minZoom: info.minZoom, maxZoom: info.maxZoom, bounds: info.bounds, center: info.center,
      });
      const dataPath = this.dataPath;
      const parts = async function* () {
        yield header;
        yield root;
        yield meta;
        yield* leaves;
        for await (const chunk of createReadStream(dataPath, { highWaterMark: 1 << 20 })) yield chunk as Buffer;
      };
      await pipeline(parts, createWriteStream(outPath));
      return {
        addressedTiles: this.addressed,
        tileEntries: this.entries.count,
        tileContents: this.contents,
        leafDirectories: leaves.length,
        tileDataBytes: this.dataLength,
        bytes: dataOffset + this.dataLength,
      };
    } finally {
      await rm(this.dataPath, { force: true });
    }
  }

  /** Discards the staged data. */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    await rm(this.dataPath, { force: true });
  }
}
