// Compression codecs of Kafka record batches (attributes bits 0-2) and legacy
// wrapper messages: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. Synchronous, so a
// caller decoding one batch never yields mid-way.
//
// Formats, as Kafka clients write and read them:
// - gzip: RFC 1952 via node:zlib (multi-member streams decode too).
// - snappy: the Java client and kafkajs write the xerial/snappy-java framing
//   (magic "\x82SNAPPY\0", version, compat version, then [int32 length, raw
//   snappy block]...); librdkafka writes one raw snappy block. Every consumer
//   reads both (snappy-java's SnappyInputStream falls back to raw, librdkafka
//   and kafka-python sniff the magic), so we read both and WRITE XERIAL, the
//   format of Kafka's own Java client (32 KiB blocks like snappy-java).
// - lz4: the LZ4 frame format (lz4-napi / lz4_flex). Frames with or without
//   content size, block/content checksums and linked blocks all decode. Kafka
//   and librdkafka wrote magic-0 LZ4 with a wrong header checksum (KAFKA-1493:
//   computed over the magic number too); `decompress(..., { brokenLz4Checksum })`
//   repairs it before decoding. We write independent 4 MiB-max blocks without
//   checksums, which Java's KafkaLZ4BlockInputStream and librdkafka accept.
// - zstd: @toondepauw/node-zstd (napi-rs, prebuilt binaries as npm optional
//   dependencies, synchronous encodeSync/decodeSync; decodes streaming frames
//   without a content size, as zstd-jni writes them, and concatenated frames).
//
// Decompression is bounded: before inflating, the output size is bounded from
// the compressed bytes alone (snappy preamble, LZ4 and zstd block headers) or
// by zlib's maxOutputLength, so a small hostile payload cannot allocate
// gigabytes. Every failure is a RecordsError(CORRUPT_MESSAGE).

import { gunzipSync, gzipSync } from 'node:zlib';
import * as snappy from 'snappy';
import * as lz4 from 'lz4-napi';
import * as zstd from '@toondepauw/node-zstd';
import { RecordsError, RecordsErrorCode, corrupt } from './errors.js';

export const Codec = {
  NONE: 0,
  GZIP: 1,
  SNAPPY: 2,
  LZ4: 3,
  ZSTD: 4,
} as const;
export type Codec = (typeof Codec)[keyof typeof Codec];

export const CODEC_NAMES: readonly string[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** Default cap on the decompressed size of one batch or wrapper message. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024;

export interface DecompressOptions {
  /** Refuse (CORRUPT_MESSAGE) output larger than this. Default 256 MiB. */
  maxBytes?: number;
  /** LZ4 written for magic 0 by old Kafka/librdkafka: header checksum covers the magic too. */
  brokenLz4Checksum?: boolean;
}

export function isCodec(id: number): id is Codec {
  return id >= 0 && id <= 4 && Number.isInteger(id);
}

function unsupported(codec: number): RecordsError {
  return new RecordsError(RecordsErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `unknown compression codec ${codec}`);
}

// ---------------------------------------------------------------- compress

const ZSTD_LEVEL = 3; // Kafka's default compression.zstd.level
let zstdEncoder: zstd.Encoder | undefined;
let zstdDecoder: zstd.Decoder | undefined;

export function compress(codec: number, data: Buffer): Buffer {
  switch (codec) {
    case Codec.NONE:
      return data;
    case Codec.GZIP:
      return gzipSync(data);
    case Codec.SNAPPY:
      return xerialCompress(data);
    case Codec.LZ4:
      return lz4.compressFrameSync(data);
    case Codec.ZSTD:
      zstdEncoder ??= new zstd.Encoder(ZSTD_LEVEL);
      return zstdEncoder.encodeSync(data);
    default:
      throw unsupported(codec);
  }
}

// -------------------------------------------------------------- decompress

export function decompress(codec: number, data: Buffer, opts: DecompressOptions = {}): Buffer {
  const max = opts.maxBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  switch (codec) {
    case Codec.NONE:
      return data;
    case Codec.GZIP:
      return guard('gzip', () => gunzipSync(data, { maxOutputLength: Math.max(1, max) }));
    case Codec.SNAPPY:
      return snappyDecompress(data, max);
    case Codec.LZ4: {
      const fixed = lz4Check(data, max, opts.brokenLz4Checksum === true);
      return guard('lz4', () => lz4.decompressFrameSync(fixed));
    }
    case Codec.ZSTD: {
      zstdCheck(data, max);
      zstdDecoder ??= new zstd.Decoder();
      const dec = zstdDecoder;
      return guard('zstd', () => dec.decodeSync(data));
    }
    default:
      throw unsupported(codec);
  }
}

function guard(what: string, f: () => Buffer): Buffer {
  try {
    return f();
  } catch (e) {
    if (e instanceof RecordsError) throw e;
    throw corrupt(`${what} decompression failed: ${(e as Error)?.message ?? String(e)}`);
  }
}

function tooLarge(what: string, bound: number, max: number): RecordsError {
  return corrupt(`${what} data may decompress to ${bound} bytes, above the ${max} byte limit`);
}

// ------------------------------------------------------------------ snappy

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]); // \x82SNAPPY\0
const XERIAL_HEADER_SIZE = 16; // magic, int32 version, int32 min compatible version
const XERIAL_BLOCK = 32 * 1024; // snappy-java's default block size

export function isXerial(data: Buffer): boolean {
  return data.length >= XERIAL_HEADER_SIZE && data.compare(XERIAL_MAGIC, 0, 8, 0, 8) === 0;
}

/** snappy-java (xerial) framing, as Kafka's Java producer writes it. */
export function xerialCompress(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(XERIAL_HEADER_SIZE);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(1, 8);
  header.writeInt32BE(1, 12);
  parts.push(header);
  for (let off = 0; off < data.length; off += XERIAL_BLOCK) {
    const block = snappy.compressSync(data.subarray(off, Math.min(data.length, off + XERIAL_BLOCK)));
    const len = Buffer.allocUnsafe(4);
    len.writeInt32BE(block.length, 0);
    parts.push(len, block);
  }
  return Buffer.concat(parts);
}

/** One raw snappy block, as librdkafka writes it. */
export function rawSnappyCompress(data: Buffer): Buffer {
  return snappy.compressSync(data);
}

/** Uncompressed length from a raw snappy block's varint preamble. */
function snappyLength(data: Buffer, start: number, end: number): number {
  let u = 0;
  let mul = 1;
  for (let i = 0; i < 5; i++) {
    if (start + i >= end) throw corrupt('snappy block truncated');
    const b = data[start + i]!;
    u += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return u;
    mul *= 128;
  }
  throw corrupt('snappy length preamble is too long');
}

function rawSnappyBlock(block: Buffer): Buffer {
  return guard('snappy', () => snappy.uncompressSync(block, { asBuffer: true }) as Buffer);
}

function snappyDecompress(data: Buffer, max: number): Buffer {
  if (!isXerial(data)) {
    const n = snappyLength(data, 0, data.length);
    if (n > max) throw tooLarge('snappy', n, max);
    return rawSnappyBlock(data);
  }
  // First pass: frame the blocks and bound the output before inflating anything.
  const blocks: Buffer[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_SIZE;
  while (pos < data.length) {
    // snappy-java concatenates streams by repeating the header
    if (data.length - pos >= XERIAL_HEADER_SIZE && data.compare(XERIAL_MAGIC, 0, 8, pos, pos + 8) === 0) {
      pos += XERIAL_HEADER_SIZE;
      continue;
    }
    if (data.length - pos < 4) throw corrupt('xerial snappy block length truncated');
    const len = data.readInt32BE(pos);
    pos += 4;
    if (len < 0 || len > data.length - pos) throw corrupt(`xerial snappy block length ${len} out of range`);
    const block = data.subarray(pos, pos + len);
    pos += len;
    total += snappyLength(block, 0, block.length);
    if (total > max) throw tooLarge('snappy', total, max);
    blocks.push(block);
  }
  if (blocks.length === 1) return rawSnappyBlock(blocks[0]!);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const b of blocks) {
    const plain = rawSnappyBlock(b);
    if (at + plain.length > total) throw corrupt('snappy block longer than its preamble');
    plain.copy(out, at);
    at += plain.length;
  }
  return at === total ? out : out.subarray(0, at);
}

// --------------------------------------------------------------------- lz4

const LZ4_MAGIC = 0x184d2204;
const LZ4_MAX_BLOCK = [0, 0, 0, 0, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];

/**
 * Walks the LZ4 frames' block headers without inflating: bounds the output
 * size, checks the framing and, for magic-0 data, rewrites the header checksum
 * that old writers computed over the magic number too. Returns the bytes to
 * hand to the decoder (a patched copy only when a checksum was rewritten).
 */
function lz4Check(data: Buffer, max: number, brokenChecksum: boolean): Buffer {
  let out = data;
  let pos = 0;
  let bound = 0;
  if (data.length === 0) throw corrupt('lz4 data is empty');
  while (pos < data.length) {
    if (data.length - pos < 4) throw corrupt('lz4 frame magic truncated');
    const magic = data.readUInt32LE(pos);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // skippable frame
      if (data.length - pos < 8) throw corrupt('lz4 skippable frame truncated');
      const size = data.readUInt32LE(pos + 4);
      if (size > data.length - pos - 8) throw corrupt('lz4 skippable frame truncated');
      pos += 8 + size;
      continue;
    }
    if (magic !== LZ4_MAGIC) throw corrupt(`bad lz4 frame magic 0x${magic.toString(16)}`);
    const descStart = pos + 4;
    if (data.length - descStart < 3) throw corrupt('lz4 frame descriptor truncated');
    const flg = data[descStart]!;
    const bd = data[descStart + 1]!;
    if (flg >> 6 !== 1) throw corrupt(`unsupported lz4 frame version ${flg >> 6}`);
    const blockChecksum = (flg & 0x10) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const descLen = 2 + ((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0);
    const hcPos = descStart + descLen;
    if (hcPos >= data.length) throw corrupt('lz4 frame descriptor truncated');
    const maxBlock = LZ4_MAX_BLOCK[(bd >> 4) & 7]!;
    if (maxBlock === 0) throw corrupt(`bad lz4 block size id ${(bd >> 4) & 7}`);
    if (brokenChecksum) {
      const hc = (xxh32Small(data, descStart, hcPos) >>> 8) & 0xff;
      if (data[hcPos] !== hc) {
        if (out === data) out = Buffer.from(data);
        out[hcPos] = hc;
      }
    }
    pos = hcPos + 1;
    for (;;) {
      if (data.length - pos < 4) throw corrupt('lz4 block header truncated');
      const word = data.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break; // end mark
      const size = word & 0x7fffffff;
      const uncompressed = (word & 0x80000000) !== 0;
      if (size > maxBlock) throw corrupt(`lz4 block of ${size} bytes exceeds the frame's ${maxBlock}`);
      const next = pos + size + (blockChecksum ? 4 : 0);
      if (next > data.length) throw corrupt('lz4 block truncated');
      pos = next;
      bound += uncompressed ? size : maxBlock;
      if (bound > max) throw tooLarge('lz4', bound, max);
    }
    if (contentChecksum) {
      if (data.length - pos < 4) throw corrupt('lz4 content checksum truncated');
      pos += 4;
    }
  }
  return out;
}

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** xxHash32 (seed 0) of data[start, end) for inputs shorter than 16 bytes (LZ4 frame descriptors). */
export function xxh32Small(data: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len >= 16) throw new RangeError('xxh32Small handles fewer than 16 bytes');
  let h = (P5 + len) | 0;
  let p = start;
  for (; p + 4 <= end; p += 4) {
    h = (h + Math.imul(data.readUInt32LE(p), P3)) | 0;
    h = Math.imul(rotl(h, 17), P4);
  }
  for (; p < end; p++) {
    h = (h + Math.imul(data[p]!, P5)) | 0;
    h = Math.imul(rotl(h, 11), P1);
  }
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

// -------------------------------------------------------------------- zstd

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_MAX_BLOCK = 128 * 1024;

/** Walks zstd frames' block headers to bound the output before decoding. */
function zstdCheck(data: Buffer, max: number): void {
  let pos = 0;
  let bound = 0;
  if (data.length === 0) throw corrupt('zstd data is empty');
  while (pos < data.length) {
    if (data.length - pos < 4) throw corrupt('zstd frame magic truncated');
    const magic = data.readUInt32LE(pos);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (data.length - pos < 8) throw corrupt('zstd skippable frame truncated');
      const size = data.readUInt32LE(pos + 4);
      if (size > data.length - pos - 8) throw corrupt('zstd skippable frame truncated');
      pos += 8 + size;
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw corrupt(`bad zstd frame magic 0x${magic.toString(16)}`);
    pos += 4;
    if (pos >= data.length) throw corrupt('zstd frame header truncated');
    const fhd = data[pos++]!;
    const singleSegment = (fhd & 0x20) !== 0;
    const fcsFlag = fhd >> 6;
    const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
    const dictSize = [0, 1, 2, 4][fhd & 3]!;
    const hasChecksum = (fhd & 0x04) !== 0;
    pos += (singleSegment ? 0 : 1) + dictSize + fcsSize;
    if (pos > data.length) throw corrupt('zstd frame header truncated');
    for (;;) {
      if (data.length - pos < 3) throw corrupt('zstd block header truncated');
      const h = data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16);
      pos += 3;
      const last = (h & 1) !== 0;
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      if (type === 3) throw corrupt('reserved zstd block type');
      const stored = type === 1 ? 1 : size; // RLE blocks store one byte
      if (stored > data.length - pos) throw corrupt('zstd block truncated');
      pos += stored;
      bound += type === 2 ? ZSTD_MAX_BLOCK : size;
      if (bound > max) throw tooLarge('zstd', bound, max);
      if (last) break;
    }
    if (hasChecksum) {
      if (data.length - pos < 4) throw corrupt('zstd checksum truncated');
      pos += 4;
    }
  }
}
