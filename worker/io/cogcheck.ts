/**
 * Cloud-Optimized GeoTIFF layout validation, in plain TypeScript: the TIFF/BigTIFF header and
 * every IFD are parsed from byte ranges (a local file, an `s3://` object — through the directory
 * store when CNG_STORAGE_DIR is set — `/vsis3/…`, or `http(s)://`/`/vsicurl/…`), so only the
 * header area of a remote COG is fetched.
 *
 * The checks follow GDAL's validate_cloud_optimized_geotiff.py (reimplemented, not called):
 * - the main image and every overview are tiled (tile sizes multiples of 16);
 * - internal overviews exist when the image is larger than one tile, by decreasing size; no
 *   external `.ovr`;
 * - the main IFD directly follows the header (and GDAL's "ghost" structural metadata block when
 *   present); the IFDs of main image, then overviews, at increasing offsets, all before the tile data;
 * - the tile data of smaller overviews comes before that of bigger ones, and the main image's last;
 * - no tile extends past the end of the file (a truncated copy);
 * - `KNOWN_INCOMPATIBLE_EDITION=YES` (a COG modified in place) is an error;
 * - full check (default for local files): with GDAL's BLOCK_ORDER=ROW_MAJOR, BLOCK_LEADER and
 *   BLOCK_TRAILER declared, tiles are in row-major order with valid leader and trailer bytes.
 * Compression NONE and a missing ghost area (LAYOUT=IFDS_BEFORE_DATA) are warnings.
 */
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { CommandError } from '../core/errors.ts';
import { Storage, storeFromEnv } from './storage.ts';

// ---------------------------------------------------------------------------------------------
// Range readers

/** Byte-range access to one file or object. */
export interface RangeReader {
  /** What is read (for messages). */
  readonly name: string;
  /** Whether this is a local file (cheap random access). */
  readonly local: boolean;
  /** Local path when `local`. */
  readonly path?: string;
  size(): Promise<number>;
  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Opens a range reader: local paths (and `file://`), `s3://bucket/key` and `/vsis3/bucket/key`
 * (the CNG_STORAGE_DIR directory store when set, else S3 at AWS_ENDPOINT_URL_S3 with the
 * environment's credentials), `http(s)://…` and `/vsicurl/http(s)://…`.
 * @throws CommandError when a local file does not exist.
 */
export async function openRangeReader(url: string, env: NodeJS.ProcessEnv = process.env): Promise<RangeReader> {
  let target = url;
  if (target.startsWith('/vsis3/')) target = `s3://${target.slice('/vsis3/'.length)}`;
  if (target.startsWith('/vsicurl/')) target = target.slice('/vsicurl/'.length);
  if (/^https?:\/\//i.test(target)) return cached(httpReader(target), 256 * 1024);
  const loc = new Storage(env).resolve(target);
  if (loc.kind === 's3') return cached(s3Reader(url, loc.bucket, loc.key, env), 256 * 1024);
  if (loc.path.startsWith('/vsi')) throw new CommandError(`'${url}': cannot range-read GDAL virtual path (use a path, s3:// or http(s)://)`);
  if (!existsSync(loc.path)) throw new CommandError(`'${url}': no such file or object`);
  return cached(await fileReader(url, loc.path), 64 * 1024);
}

async function fileReader(name: string, path: string): Promise<RangeReader> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new CommandError(`'${name}': ${(err as Error).message}`);
  }
  return {
    name, local: true, path,
    async size() {
      return (await fh.stat()).size;
    },
    async read(offset, length) {
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    },
    close: () => fh.close(),
  };
}

/** An S3 object read through the stage's object store (worker/storage.ts: endpoint, credentials, errors). */
function s3Reader(name: string, bucket: string, key: string, env: NodeJS.ProcessEnv): RangeReader {
  const store = storeFromEnv({ ...env, CNG_STORAGE_DIR: undefined });
  let size: number | undefined;
  return {
    name, local: false,
    async size() {
      if (size === undefined) {
        const head = await store.head(bucket, key);
        if (!head) throw new CommandError(`'${name}': no such file or object`);
        size = head.size;
      }
      return size;
    },
    async read(offset, length) {
      const total = await this.size();
      if (offset >= total || length <= 0) return new Uint8Array(0);
      return store.readRange(bucket, key, offset, Math.min(total, offset + length) - offset);
    },
    async close() {},
  };
}

function httpReader(url: string): RangeReader {
  let size: number | undefined;
  const get = async (range?: string) => {
    const r = await fetch(url, { headers: range ? { Range: range } : {} }).catch((err) => {
      throw new CommandError(`'${url}': ${(err as Error).message}`);
    });
    if (r.status === 404) throw new CommandError(`'${url}': no such file or object (HTTP 404)`);
    if (!r.ok) throw new CommandError(`'${url}': HTTP ${r.status}`);
    return r;
  };
  return {
    name: url, local: false,
    async size() {
      if (size === undefined) {
        const r = await get('bytes=0-0');
        const m = /\/(\d+)$/.exec(r.headers.get('content-range') ?? '');
        size = m ? Number(m[1]) : Number(r.headers.get('content-length') ?? 0);
        await r.arrayBuffer();
      }
      return size;
    },
    async read(offset, length) {
      const total = await this.size();
      if (offset >= total || length <= 0) return new Uint8Array(0);
      const end = Math.min(total, offset + length) - 1;
      const r = await get(`bytes=${offset}-${end}`);
      const body = new Uint8Array(await r.arrayBuffer());
      // A server ignoring Range sends the whole file.
      return r.status === 206 ? body : body.subarray(offset, end + 1);
    },
    async close() {},
  };
}

/**
 * Reads through a cache of aligned chunks (the IFDs and their arrays are small and close
 * together); reads of at least a chunk go straight to the source.
 */
function cached(inner: RangeReader, chunk: number): RangeReader {
  const chunks = new Map<number, Promise<Uint8Array>>();
  const getChunk = (i: number) => {
    let c = chunks.get(i);
    if (!c) {
      if (chunks.size >= 64) chunks.delete(chunks.keys().next().value!);
      c = inner.read(i * chunk, chunk);
      chunks.set(i, c);
    }
    return c;
  };
  return {
    name: inner.name, local: inner.local, path: inner.path,
    size: () => inner.size(),
    async read(offset, length) {
      if (length >= chunk) return inner.read(offset, length);
      const first = Math.floor(offset / chunk);
      const last = Math.floor((offset + length - 1) / chunk);
      const parts = await Promise.all(Array.from({ length: last - first + 1 }, (_, k) => getChunk(first + k)));
      const out = new Uint8Array(length);
      let n = 0;
      for (let k = 0; k < parts.length; k++) {
        const base = (first + k) * chunk;
        const from = Math.max(offset, base) - base;
        const to = Math.min(offset + length, base + parts[k]!.length) - base;
        if (to <= from) break;
        out.set(parts[k]!.subarray(from, to), n);
        n += to - from;
      }
      return out.subarray(0, n);
    },
    close: () => inner.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// TIFF structure

const TAG = {
  NewSubfileType: 254, ImageWidth: 256, ImageLength: 257, BitsPerSample: 258, Compression: 259,
  StripOffsets: 273, SamplesPerPixel: 277, RowsPerStrip: 278, StripByteCounts: 279, PlanarConfiguration: 284,
  Predictor: 317, TileWidth: 322, TileLength: 323, TileOffsets: 324, TileByteCounts: 325, SampleFormat: 339,
  GdalNodata: 42113,
} as const;

/** Byte size of each TIFF field type. */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

const COMPRESSION_NAMES: Record<number, string> = {
  1: 'NONE', 5: 'LZW', 6: 'OJPEG', 7: 'JPEG', 8: 'DEFLATE', 32946: 'DEFLATE', 32773: 'PACKBITS', 34887: 'LERC',
  34925: 'LZMA', 50000: 'ZSTD', 50001: 'WEBP', 50002: 'JXL',
};

interface Entry {
  tag: number;
  type: number;
  count: number;
  /** File offset of the value bytes (inside the IFD when they fit). */
  at: number;
}

interface Ifd {
  offset: number;
  entries: Map<number, Entry>;
  /** File range [start, end) of the IFD itself (entries and next pointer). */
  end: number;
}

class TiffFile {
  constructor(
    readonly reader: RangeReader,
    readonly little: boolean,
    readonly big: boolean,
  ) {}

  async bytes(offset: number, length: number): Promise<DataView> {
    const b = await this.reader.read(offset, length);
    if (b.length < length) throw new TiffError(`truncated: ${length} bytes wanted at byte ${offset}, the file has ${await this.reader.size()}`);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  uint(v: DataView, at: number, size: number): number {
    switch (size) {
      case 1: return v.getUint8(at);
      case 2: return v.getUint16(at, this.little);
      case 4: return v.getUint32(at, this.little);
      default: return Number(v.getBigUint64(at, this.little));
    }
  }

  async readIfd(offset: number): Promise<{ ifd: Ifd; next: number }> {
    const countSize = this.big ? 8 : 2;
    const entrySize = this.big ? 20 : 12;
    const n = this.uint(await this.bytes(offset, countSize), 0, countSize);
    if (n === 0 || n > 10_000) throw new TiffError(`IFD at byte ${offset} has ${n} entries`);
    const size = n * entrySize + (this.big ? 8 : 4);
    const v = await this.bytes(offset + countSize, size);
    const entries = new Map<number, Entry>();
    for (let i = 0; i < n; i++) {
      const e = i * entrySize;
      const tag = v.getUint16(e, this.little);
      const type = v.getUint16(e + 2, this.little);
      const count = this.big ? Number(v.getBigUint64(e + 4, this.little)) : v.getUint32(e + 4, this.little);
      const field = offset + countSize + e + (this.big ? 12 : 8);
      const bytes = (TYPE_SIZE[type] ?? 1) * count;
      const at = bytes <= (this.big ? 8 : 4) ? field : this.uint(v, e + (this.big ? 12 : 8), this.big ? 8 : 4);
      entries.set(tag, { tag, type, count, at });
    }
    const next = this.uint(v, n * entrySize, this.big ? 8 : 4);
    return { ifd: { offset, entries, end: offset + countSize + size }, next };
  }

  /** Numeric values of a tag (integers and floats), or `undefined` when absent. */
  async values(ifd: Ifd, tag: number): Promise<number[] | undefined> {
    const e = ifd.entries.get(tag);
    if (!e) return undefined;
    const size = TYPE_SIZE[e.type];
    if (!size) throw new TiffError(`tag ${tag} has unknown type ${e.type}`);
    const v = await this.bytes(e.at, size * e.count);
    const out = new Array<number>(e.count);
    for (let i = 0; i < e.count; i++) {
      const p = i * size;
      switch (e.type) {
        case 1: case 2: case 7: out[i] = v.getUint8(p); break;
        case 6: out[i] = v.getInt8(p); break;
        case 3: out[i] = v.getUint16(p, this.little); break;
        case 8: out[i] = v.getInt16(p, this.little); break;
        case 4: case 13: out[i] = v.getUint32(p, this.little); break;
        case 9: out[i] = v.getInt32(p, this.little); break;
        case 11: out[i] = v.getFloat32(p, this.little); break;
        case 12: out[i] = v.getFloat64(p, this.little); break;
        case 5: out[i] = v.getUint32(p, this.little) / v.getUint32(p + 4, this.little); break;
        case 10: out[i] = v.getInt32(p, this.little) / v.getInt32(p + 4, this.little); break;
        case 16: case 18: out[i] = Number(v.getBigUint64(p, this.little)); break;
        case 17: out[i] = Number(v.getBigInt64(p, this.little)); break;
      }
    }
    return out;
  }

  async value(ifd: Ifd, tag: number): Promise<number | undefined> {
    return (await this.values(ifd, tag))?.[0];
  }

  async text(ifd: Ifd, tag: number): Promise<string | undefined> {
    const e = ifd.entries.get(tag);
    if (!e) return undefined;
    const v = await this.bytes(e.at, e.count);
    return new TextDecoder('latin1').decode(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).replace(/\0+$/, '');
  }
}

class TiffError extends Error {}

/** One image of the file: the full resolution, an overview or a mask. */
interface Level {
  ifd: Ifd;
  kind: 'main' | 'overview' | 'mask';
  width: number;
  height: number;
  tiled: boolean;
  blockWidth: number;
  blockHeight: number;
  offsets: number[];
  byteCounts: number[];
}

/** The images of a file in IFD order, the main image, its overviews, and each one's name in messages. */
interface Images {
  levels: Level[];
  main: Level;
  overviews: Level[];
  name: (l: Level) => string;
}

// ---------------------------------------------------------------------------------------------
// Validation

/** What validateCog found: the verdict, its reasons, and facts about the file. */
export interface CogCheck {
  valid: boolean;
  /** Why the file is not a valid COG (empty when valid). */
  errors: string[];
  /** Deviations that do not make it invalid (e.g. no compression). */
  warnings: string[];
  /** File size in bytes. */
  bytes: number;
  bigtiff: boolean;
  littleEndian: boolean;
  width: number;
  height: number;
  /** Samples per pixel. */
  bands: number;
  /** GDAL data type name of the samples (e.g. 'Float32'), from BitsPerSample and SampleFormat. */
  dataType: string;
  tiled: boolean;
  blockWidth: number;
  blockHeight: number;
  /** 'DEFLATE', 'LZW', 'ZSTD', 'NONE', … ('code <n>' when unknown). */
  compression: string;
  /** TIFF predictor: 1 none, 2 horizontal differencing, 3 floating point. */
  predictor: number;
  /** Internal overviews, largest first. */
  overviews: { width: number; height: number }[];
  /** Mask IFDs (internal transparency masks). */
  masks: number;
  /** LAYOUT of GDAL's structural metadata ('IFDS_BEFORE_DATA' for GDAL COGs), null without it. */
  layout: string | null;
  /** GDAL's structural metadata block at the start of the file (KEY=VALUE lines). */
  structuralMetadata: Record<string, string>;
  /** IFD offsets of the main image, then of each overview. */
  ifdOffsets: number[];
  /** Offset of the first tile of the main image, then of each overview (0 when all empty). */
  dataOffsets: number[];
  /** GDAL_NODATA tag text, or null. */
  nodata: string | null;
}

export interface ValidateOptions {
  /** Environment for S3 and the directory store. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Check every tile's order and leader/trailer bytes. @default true for local files */
  fullCheck?: boolean;
  /** An already open reader (not closed by validateCog). */
  reader?: RangeReader;
}

/**
 * Checks that a GeoTIFF has the Cloud-Optimized layout (see the module comment for the rules).
 * Never throws for a malformed file: a file that is not a TIFF, or is truncated, is reported as
 * invalid with the reason in `errors`.
 * @param pathOrUrl path, `s3://…`, `/vsis3/…`, `http(s)://…` or `/vsicurl/…`.
 * @throws CommandError when the file or object cannot be read at all (e.g. does not exist).
 */
export async function validateCog(pathOrUrl: string, opts: ValidateOptions = {}): Promise<CogCheck> {
  const reader = opts.reader ?? (await openRangeReader(pathOrUrl, opts.env));
  const result: CogCheck = {
    valid: false, errors: [], warnings: [], bytes: 0, bigtiff: false, littleEndian: true, width: 0, height: 0, bands: 0,
    dataType: 'unknown', tiled: false, blockWidth: 0, blockHeight: 0, compression: 'unknown', predictor: 1, overviews: [],
    masks: 0, layout: null, structuralMetadata: {}, ifdOffsets: [], dataOffsets: [], nodata: null,
  };
  try {
    result.bytes = await reader.size();
    await check(reader, result, opts.fullCheck ?? reader.local);
  } catch (err) {
    if (!(err instanceof TiffError)) throw err;
    result.errors.push(`not a readable TIFF: ${err.message}`);
  } finally {
    if (!opts.reader) await reader.close();
  }
  result.valid = result.errors.length === 0;
  return result;
}

async function check(reader: RangeReader, r: CogCheck, fullCheck: boolean): Promise<void> {
  const { tiff, firstIfd, headerSize } = await readHeader(reader, r);
  const expectedIfd = await readStructuralMetadata(reader, r, headerSize);
  const levels = await readLevels(tiff, firstIfd, r);
  const main = levels[0]!;
  const overviews = levels.filter((l) => l.kind === 'overview');
  r.masks = levels.filter((l) => l.kind === 'mask').length;
  await readMainFacts(tiff, main, overviews, r);
  const name = (l: Level) => (l === main ? 'the main image' : l.kind === 'mask' ? `mask ${levels.filter((x) => x.kind === 'mask').indexOf(l)}` : `overview ${overviews.indexOf(l)}`);
  const images: Images = { levels, main, overviews, name };
  checkTilingAndOverviews(reader, images, r);
  checkPlacement(images, expectedIfd, r);
  if (fullCheck && !r.errors.some((e) => e.includes('past the end of the file'))) await fullTileCheck(reader, levels, name, r.structuralMetadata, r.errors);
}

/** The TIFF header: byte order and classic or BigTIFF (into `r`), and where the first IFD is. */
async function readHeader(reader: RangeReader, r: CogCheck): Promise<{ tiff: TiffFile; firstIfd: number; headerSize: number }> {
  const head = await reader.read(0, 16);
  if (head.length < 8) throw new TiffError(`the file has only ${head.length} bytes`);
  const order = String.fromCharCode(head[0]!, head[1]!);
  if (order !== 'II' && order !== 'MM') throw new TiffError(`bad byte-order mark ${JSON.stringify(order)} (expected 'II' or 'MM')`);
  const little = order === 'II';
  const hv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const magic = hv.getUint16(2, little);
  if (magic !== 42 && magic !== 43) throw new TiffError(`bad magic number ${magic} (expected 42, or 43 for BigTIFF)`);
  const big = magic === 43;
  if (big && head.length < 16) throw new TiffError('BigTIFF header truncated');
  r.bigtiff = big;
  r.littleEndian = little;
  const tiff = new TiffFile(reader, little, big);
  const firstIfd = big ? Number(hv.getBigUint64(8, little)) : hv.getUint32(4, little);
  const headerSize = big ? 16 : 8;
  return { tiff, firstIfd, headerSize };
}

/**
 * GDAL's structural metadata after the header (into `r`) and what it says about the file; returns
 * where the main IFD should start.
 */
async function readStructuralMetadata(reader: RangeReader, r: CogCheck, headerSize: number): Promise<number> {
  const { errors, warnings } = r;
  // GDAL's ghost area: "GDAL_STRUCTURAL_METADATA_SIZE=XXXXXX bytes\n" + KEY=VALUE lines.
  let expectedIfd = headerSize;
  const prefix = 'GDAL_STRUCTURAL_METADATA_SIZE=';
  const ghostHead = new TextDecoder('latin1').decode(await reader.read(headerSize, prefix.length + 13));
  if (ghostHead.startsWith(prefix)) {
    const size = Number(ghostHead.slice(prefix.length, prefix.length + 6));
    const text = new TextDecoder('latin1').decode(await reader.read(headerSize + ghostHead.length, size));
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) r.structuralMetadata[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
    r.layout = r.structuralMetadata.LAYOUT ?? null;
    expectedIfd += ghostHead.length + size;
    expectedIfd += expectedIfd % 2;
  }
  const md = r.structuralMetadata;
  if (md.KNOWN_INCOMPATIBLE_EDITION === 'YES')
    errors.push('KNOWN_INCOMPATIBLE_EDITION=YES: the file was modified after it was written as a COG, its layout is no longer guaranteed');
  if (r.layout === null) warnings.push('no GDAL structural metadata (LAYOUT=IFDS_BEFORE_DATA) at the start of the file: not written by GDAL\'s COG driver');
  return expectedIfd;
}

/** The images of the file, following the IFD chain from `firstIfd`: the main image first. */
async function readLevels(tiff: TiffFile, firstIfd: number, r: CogCheck): Promise<Level[]> {
  const levels: Level[] = [];
  const seen = new Set<number>();
  for (let off = firstIfd; off !== 0; ) {
    if (seen.has(off)) throw new TiffError(`IFD loop at byte ${off}`);
    if (off >= r.bytes) throw new TiffError(`IFD offset ${off} is past the end of the file (${r.bytes} bytes)`);
    seen.add(off);
    const { ifd, next } = await tiff.readIfd(off);
    const subfile = (await tiff.value(ifd, TAG.NewSubfileType)) ?? 0;
    const width = (await tiff.value(ifd, TAG.ImageWidth)) ?? 0;
    const height = (await tiff.value(ifd, TAG.ImageLength)) ?? 0;
    const tiled = ifd.entries.has(TAG.TileWidth) && ifd.entries.has(TAG.TileOffsets);
    const blockWidth = tiled ? (await tiff.value(ifd, TAG.TileWidth))! : width;
    const blockHeight = tiled ? (await tiff.value(ifd, TAG.TileLength)) ?? 0 : Math.min(height, (await tiff.value(ifd, TAG.RowsPerStrip)) ?? height);
    const offsets = (await tiff.values(ifd, tiled ? TAG.TileOffsets : TAG.StripOffsets)) ?? [];
    const byteCounts = (await tiff.values(ifd, tiled ? TAG.TileByteCounts : TAG.StripByteCounts)) ?? [];
    const kind = levels.length === 0 ? 'main' : subfile & 4 ? 'mask' : 'overview';
    if (levels.length === 0 && subfile & 5) r.warnings.push(`the first IFD has NewSubfileType ${subfile} (expected the full-resolution image)`);
    levels.push({ ifd, kind, width, height, tiled, blockWidth, blockHeight, offsets, byteCounts });
    off = next;
  }
  return levels;
}

/** The main image's facts (into `r`) and warnings about its compression. */
async function readMainFacts(tiff: TiffFile, main: Level, overviews: Level[], r: CogCheck): Promise<void> {
  r.width = main.width;
  r.height = main.height;
  r.tiled = main.tiled;
  r.blockWidth = main.blockWidth;
  r.blockHeight = main.blockHeight;
  r.bands = (await tiff.value(main.ifd, TAG.SamplesPerPixel)) ?? 1;
  const compression = (await tiff.value(main.ifd, TAG.Compression)) ?? 1;
  r.compression = COMPRESSION_NAMES[compression] ?? `code ${compression}`;
  r.predictor = (await tiff.value(main.ifd, TAG.Predictor)) ?? 1;
  const bits = (await tiff.values(main.ifd, TAG.BitsPerSample))?.[0] ?? 1;
  const format = (await tiff.values(main.ifd, TAG.SampleFormat))?.[0] ?? 1;
  r.dataType = dataTypeName(bits, format);
  r.nodata = (await tiff.text(main.ifd, TAG.GdalNodata)) ?? null;
  r.overviews = overviews.map((o) => ({ width: o.width, height: o.height }));
  r.ifdOffsets = [main, ...overviews].map((l) => l.ifd.offset);

  if (r.compression === 'NONE') r.warnings.push('the image data is not compressed');
  if (!(r.compression in COMPRESSION_REVERSE)) r.warnings.push(`unknown compression (TIFF code ${compression})`);
}

/** Tiles (in multiples of 16) on the main image and each overview; internal overviews, by decreasing size. */
function checkTilingAndOverviews(reader: RangeReader, { main, overviews, name }: Images, r: CogCheck): void {
  const { errors, warnings } = r;
  for (const l of [main, ...overviews]) {
    if (!l.tiled) errors.push(`${name(l)} (${l.width}×${l.height}) is not tiled: stored in strips of ${l.blockHeight} rows`);
    else if (l.blockWidth % 16 !== 0 || l.blockHeight % 16 !== 0)
      errors.push(`${name(l)} has tiles of ${l.blockWidth}×${l.blockHeight}, not multiples of 16`);
  }
  if (main.tiled && main.blockWidth !== main.blockHeight) warnings.push(`tiles are not square (${main.blockWidth}×${main.blockHeight})`);

  // Overviews
  const blockW = main.tiled ? main.blockWidth : 512;
  const blockH = main.tiled ? main.blockHeight : 512;
  if (overviews.length === 0 && (main.width > blockW || main.height > blockH))
    errors.push(`no internal overviews, although the image (${main.width}×${main.height}) is larger than one tile (${blockW}×${blockH})`);
  if (reader.local && reader.path && existsSync(`${reader.path}.ovr`)) errors.push(`external overviews in '${reader.path}.ovr': overviews must be internal`);
  for (let i = 0; i < overviews.length; i++) {
    const o = overviews[i]!;
    const prev = i === 0 ? main : overviews[i - 1]!;
    if (o.width >= prev.width && o.height >= prev.height)
      errors.push(`${name(o)} (${o.width}×${o.height}) is not smaller than ${name(prev)} (${prev.width}×${prev.height}): overviews must come by decreasing size`);
  }
}

/**
 * The layout: IFDs first (main image, then overviews by size), then the tile data from the
 * smallest overview to the main image, all within the file.
 */
function checkPlacement({ levels, main, overviews, name }: Images, expectedIfd: number, r: CogCheck): void {
  const { errors } = r;
  if (main.ifd.offset !== expectedIfd)
    errors.push(`the main IFD is at byte ${main.ifd.offset}, expected ${expectedIfd} (right after the header${r.layout !== null ? ' and GDAL\'s structural metadata' : ''})`);
  for (let i = 0; i < overviews.length; i++) {
    const o = overviews[i]!;
    const prev = i === 0 ? main : overviews[i - 1]!;
    if (o.ifd.offset < prev.ifd.offset)
      errors.push(`the IFD of ${name(o)} (byte ${o.ifd.offset}) comes before the IFD of ${name(prev)} (byte ${prev.ifd.offset}): IFDs must follow the main image, largest overview first`);
  }
  const dataStart = (l: Level) => minPositive(l.offsets);
  const allDataStart = minPositive(levels.map(dataStart));
  if (allDataStart > 0) {
    for (const l of levels) {
      if (l.ifd.offset > allDataStart)
        errors.push(`the IFD of ${name(l)} (byte ${l.ifd.offset}) lies after the start of the tile data (byte ${allDataStart}): all IFDs must come before the data`);
    }
  }

  // Data placement: smallest overview first, main image last
  const first = (l: Level) => l.offsets.find((o) => o > 0) ?? 0;
  r.dataOffsets = [main, ...overviews].map(first);
  const byLevel = [main, ...overviews];
  for (let i = byLevel.length - 1; i > 0; i--) {
    const small = byLevel[i]!;
    const bigger = byLevel[i - 1]!;
    const smallEnd = maxEnd(small);
    const biggerStart = dataStart(bigger);
    if (smallEnd > 0 && biggerStart > 0 && biggerStart < smallEnd)
      errors.push(`the tile data of ${name(bigger)} starts at byte ${biggerStart}, before the tile data of ${name(small)} ends (byte ${smallEnd}): smaller overviews' data must come first, the main image's last`);
  }

  // Truncation
  for (const l of levels) {
    const end = maxEnd(l);
    if (end > r.bytes) errors.push(`the ${l.tiled ? 'tile' : 'strip'} data of ${name(l)} extends to byte ${end}, past the end of the file (${r.bytes} bytes): truncated?`);
    if (l.offsets.length !== l.byteCounts.length) errors.push(`${name(l)} has ${l.offsets.length} tile offsets but ${l.byteCounts.length} byte counts`);
  }
}

const COMPRESSION_REVERSE = Object.fromEntries(Object.values(COMPRESSION_NAMES).map((n) => [n, true]));

/** Row-major tile order and GDAL's leader (size as uint32 before the tile) and trailer (last 4 bytes repeated). */
async function fullTileCheck(reader: RangeReader, levels: Level[], name: (l: Level) => string, md: Record<string, string>, errors: string[]) {
  const rowMajor = md.BLOCK_ORDER === 'ROW_MAJOR';
  const leader = md.BLOCK_LEADER === 'SIZE_AS_UINT4';
  const trailer = md.BLOCK_TRAILER === 'LAST_4_BYTES_REPEATED';
  if (!rowMajor && !leader && !trailer) return;
  const MAX = 5;
  for (const l of levels) {
    const problems: string[] = [];
    const tilesAcross = Math.ceil(l.width / Math.max(1, l.blockWidth));
    const at = (i: number) => `tile (${i % tilesAcross}, ${Math.floor(i / tilesAcross)})`;
    let last = 0;
    for (let i = 0; i < l.offsets.length; i++) {
      const off = l.offsets[i]!;
      const n = l.byteCounts[i] ?? 0;
      if (off === 0) continue;
      if (rowMajor && off < last) problems.push(`${at(i)} is stored before the previous tile (BLOCK_ORDER=ROW_MAJOR declared)`);
      last = off;
      if (leader && off >= 4) {
        const b = await reader.read(off - 4, 4);
        const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
        const size = b.length === 4 ? v.getUint32(0, true) : -1;
        if (size !== n) problems.push(`${at(i)}: leader bytes say ${size}, the tile has ${n} bytes`);
      }
      if (trailer && n >= 4) {
        const b = await reader.read(off + n - 4, 8);
        if (b.length < 8 || b[0] !== b[4] || b[1] !== b[5] || b[2] !== b[6] || b[3] !== b[7]) problems.push(`${at(i)}: trailer bytes are not the tile's last 4 bytes repeated`);
      }
      if (problems.length > MAX) break;
    }
    for (const p of problems.slice(0, MAX)) errors.push(`${name(l)}: ${p}`);
    if (problems.length > MAX) errors.push(`${name(l)}: more tiles have layout problems`);
  }
}

function minPositive(xs: number[]): number {
  let m = 0;
  for (const x of xs) if (x > 0 && (m === 0 || x < m)) m = x;
  return m;
}

/** End of the last byte of a level's tile data (0 when it has none). */
function maxEnd(l: Level): number {
  let m = 0;
  for (let i = 0; i < l.offsets.length; i++) if (l.offsets[i]! > 0) m = Math.max(m, l.offsets[i]! + (l.byteCounts[i] ?? 0));
  return m;
}

function dataTypeName(bits: number, format: number): string {
  if (format === 3) return bits === 32 ? 'Float32' : bits === 64 ? 'Float64' : `Float${bits}`;
  if (format === 2) return bits === 8 ? 'Int8' : `Int${bits}`;
  if (format === 5) return `CInt${bits / 2}`;
  if (format === 6) return `CFloat${bits / 2}`;
  return bits === 8 ? 'Byte' : bits === 1 ? 'Bit' : `UInt${bits}`;
}
