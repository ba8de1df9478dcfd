// Legacy message sets (magic 0 and 1, Kafka docs 5.3.3): parse and validate
// them (CRC-32 per message, compressed wrapper messages), up-convert them to
// one v2 batch for storage, and down-convert stored v2 batches for Fetch v0-3
// consumers.
//
// MessageSet => [offset int64, message_size int32, message]
// message v0 => crc uint32, magic int8, attributes int8, key bytes, value bytes
// message v1 => crc uint32, magic int8, attributes int8, timestamp int64, key bytes, value bytes
// The CRC-32 (IEEE, not Castagnoli) covers magic..end of the message.
// A compressed wrapper message carries a whole inner message set, compressed,
// in its value. Magic 1 inner offsets are relative (0..n-1); the wrapper's
// offset is the absolute offset of the last inner message.

import CRC32 from 'crc-32';
import { Codec, decompress } from './compression.js';
import { RecordsError, RecordsErrorCode, corrupt, invalidRecord } from './errors.js';
import { buildBatch, decodeBatch, type RecordInput } from './records.js';
import { readInt64, writeInt64, writeInt64Clamped } from './wire.js';
import { NO_TIMESTAMP, readBatchHeader } from './batch.js';

export const LEGACY_LOG_OVERHEAD = 12;
/** crc + magic + attributes + key length + value length. */
export const MESSAGE_OVERHEAD_V0 = 14;
/** ... + timestamp. */
export const MESSAGE_OVERHEAD_V1 = 22;
const ATTR_COMPRESSION = 0x07;
const ATTR_TIMESTAMP_TYPE = 0x08;

export interface LegacyMessage {
  /** Absolute offset as the writer set it (producers send arbitrary values). */
  offset: number;
  magic: 0 | 1;
  /** -1 for magic 0. */
  timestamp: number;
  /** 1 when the (wrapper) message has the log-append-time bit. */
  timestampType: 0 | 1;
  key: Buffer | null;
  value: Buffer | null;
}

export interface LegacyMessageSet {
  magic: 0 | 1;
  /** Top-level entries (a compressed wrapper counts once). */
  shallowCount: number;
  /** Codec of the last compressed wrapper, 0 when none (Kafka's sourceCompression). */
  compression: number;
  /** Some top-level message carries the log-append-time bit. */
  logAppendTime: boolean;
  /** Every message, wrappers expanded, in order. */
  messages: LegacyMessage[];
}

export interface LegacyParseOptions {
  /** Cap on one wrapper's decompressed size (default 256 MiB). */
  maxDecompressedBytes?: number;
}

interface Shallow {
  offset: number;
  magic: 0 | 1;
  attributes: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
}

function crc32(buf: Buffer, start: number, end: number): number {
  return CRC32.buf(buf.subarray(start, end)) >>> 0;
}

/**
 * Reads the message at buf[pos] (offset, size, message). Checks size, magic,
 * CRC and field framing. Returns the message and the next position.
 */
function readMessage(buf: Buffer, pos: number, end: number): { m: Shallow; next: number } {
  if (end - pos < LEGACY_LOG_OVERHEAD) throw corrupt(`message set truncated: ${end - pos} trailing bytes`);
  const offset = readInt64(buf, pos);
  const size = buf.readInt32BE(pos + 8);
  if (size < MESSAGE_OVERHEAD_V0) throw corrupt(`message size ${size} is below the minimum ${MESSAGE_OVERHEAD_V0}`);
  const start = pos + LEGACY_LOG_OVERHEAD;
  if (size > end - start) throw corrupt(`message truncated: size ${size}, ${end - start} bytes present`);
  const mend = start + size;
  const magic = buf.readInt8(start + 4);
  if (magic !== 0 && magic !== 1) {
    if (magic === 2) throw invalidRecord('a magic 2 batch is mixed with legacy messages');
    throw corrupt(`invalid message magic ${magic}`);
  }
  if (magic === 1 && size < MESSAGE_OVERHEAD_V1) throw corrupt(`magic 1 message size ${size} is below ${MESSAGE_OVERHEAD_V1}`);
  const stored = buf.readUInt32BE(start);
  const actual = crc32(buf, start + 4, mend);
  if (stored !== actual) {
    throw corrupt(`message CRC mismatch: stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}`);
  }
  const attributes = buf[start + 5]!;
  let p = start + 6;
  let timestamp = NO_TIMESTAMP;
  if (magic === 1) {
    timestamp = readInt64(buf, p);
    p += 8;
    if (!Number.isSafeInteger(timestamp) || timestamp < NO_TIMESTAMP) {
      throw new RecordsError(RecordsErrorCode.INVALID_TIMESTAMP, `invalid message timestamp ${timestamp}`);
    }
  }
  const k = readBytes(buf, p, mend, 'key');
  const v = readBytes(buf, k.next, mend, 'value');
  if (v.next !== mend) throw corrupt(`message has ${mend - v.next} bytes beyond its value`);
  return { m: { offset, magic, attributes, timestamp, key: k.b, value: v.b }, next: mend };
}

function readBytes(buf: Buffer, p: number, end: number, what: string): { b: Buffer | null; next: number } {
  if (end - p < 4) throw corrupt(`message ${what} length truncated`);
  const n = buf.readInt32BE(p);
  p += 4;
  if (n === -1) return { b: null, next: p };
  if (n < 0 || n > end - p) throw corrupt(`message ${what} length ${n} out of range`);
  return { b: buf.subarray(p, p + n), next: p + n };
}

function checkCodec(codec: number, magic: number): void {
  if (codec === Codec.ZSTD) {
    throw new RecordsError(RecordsErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `zstd is not supported with magic ${magic}`);
  }
  if (codec > Codec.ZSTD) throw new RecordsError(RecordsErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `unknown compression codec ${codec}`);
}

/**
 * Parses and validates a legacy message set, expanding compressed wrappers.
 * Errors: CORRUPT_MESSAGE (framing, CRC, undecodable compressed value),
 * INVALID_RECORD (mixed magic, nested compression, null or empty wrapper),
 * UNSUPPORTED_COMPRESSION_TYPE (zstd or unknown codec). An empty input gives
 * an empty set of magic 0.
 */
export function parseMessageSet(buf: Buffer, opts: LegacyParseOptions = {}): LegacyMessageSet {
  const out: LegacyMessageSet = { magic: 0, shallowCount: 0, compression: 0, logAppendTime: false, messages: [] };
  let pos = 0;
  let first = true;
  while (pos < buf.length) {
    const { m, next } = readMessage(buf, pos, buf.length);
    pos = next;
    if (first) {
      out.magic = m.magic;
      first = false;
    } else if (m.magic !== out.magic) {
      throw invalidRecord(`message magic ${m.magic} differs from the first message's ${out.magic}`);
    }
    out.shallowCount++;
    const codec = m.attributes & ATTR_COMPRESSION;
    const logAppend = m.magic === 1 && (m.attributes & ATTR_TIMESTAMP_TYPE) !== 0;
    if (logAppend) out.logAppendTime = true;
    if (codec === Codec.NONE) {
      out.messages.push({
        offset: m.offset,
        magic: m.magic,
        timestamp: m.timestamp,
        timestampType: logAppend ? 1 : 0,
        key: m.key,
        value: m.value,
      });
      continue;
    }
    checkCodec(codec, m.magic);
    out.compression = codec;
    expandWrapper(m, codec, logAppend, out.messages, opts);
  }
  return out;
}

function expandWrapper(w: Shallow, codec: number, logAppend: boolean, into: LegacyMessage[], opts: LegacyParseOptions): void {
  if (w.value === null) throw invalidRecord('compressed wrapper message has a null value');
  const inner = decompress(codec, w.value, {
    maxBytes: opts.maxDecompressedBytes,
    brokenLz4Checksum: w.magic === 0,
  });
  const start = into.length;
  let pos = 0;
  let lastRelative = 0;
  while (pos < inner.length) {
    const { m, next } = readMessage(inner, pos, inner.length);
    pos = next;
    if (m.magic !== w.magic) throw invalidRecord(`inner message magic ${m.magic} differs from its wrapper's ${w.magic}`);
    if ((m.attributes & ATTR_COMPRESSION) !== 0) throw invalidRecord('compressed wrapper holds a compressed inner message');
    lastRelative = m.offset;
    into.push({
      offset: m.offset,
      magic: m.magic,
      timestamp: logAppend ? w.timestamp : m.timestamp,
      timestampType: logAppend ? 1 : 0,
      key: m.key,
      value: m.value,
    });
  }
  if (into.length === start) throw invalidRecord('compressed wrapper holds no messages');
  if (w.magic === 1) {
    // inner offsets are relative; the wrapper holds the last inner message's absolute offset
    const base = w.offset - lastRelative;
    for (let i = start; i < into.length; i++) into[i]!.offset += base;
  }
}

/**
 * Up-converts a parsed legacy set into one uncompressed v2 batch (base offset
 * 0, offset deltas 0..n-1, no producer id): keys, values, timestamps (magic 0:
 * -1) and timestamp type kept.
 */
export function legacyToBatch(set: LegacyMessageSet): Buffer {
  const records: RecordInput[] = set.messages.map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp }));
  const logAppend = set.logAppendTime;
  return buildBatch({ records, timestampType: logAppend ? 1 : 0 });
}

/** parseMessageSet + legacyToBatch. */
export function upConvert(messageSet: Buffer, opts: LegacyParseOptions = {}): Buffer {
  const set = parseMessageSet(messageSet, opts);
  if (set.messages.length === 0) throw invalidRecord('message set holds no messages');
  return legacyToBatch(set);
}

// --------------------------------------------------------- down-conversion

export interface DownConvertOptions {
  /** Drop records below this offset (Kafka does for uncompressed output). */
  firstOffset?: number;
  /** Cap on one batch's decompressed size (default 256 MiB). */
  maxDecompressedBytes?: number;
}

/**
 * Stored v2 batches (offsets assigned) -> one uncompressed legacy message set
 * of `magic` for Fetch v0-1 (magic 0) and v2-3 (magic 1) consumers. Control
 * batches are dropped, headers are lost, magic 0 loses timestamps; magic 1
 * keeps each record's timestamp and the log-append-time bit. Kafka refuses
 * to down-convert zstd batches (UNSUPPORTED_COMPRESSION_TYPE); this one can,
 * the fetch handler decides.
 */
export function downConvert(batches: readonly Buffer[], magic: 0 | 1, opts: DownConvertOptions = {}): Buffer {
  const firstOffset = opts.firstOffset ?? -Infinity;
  const msgs: { offset: number; timestamp: number; logAppend: boolean; key: Buffer | null; value: Buffer | null }[] = [];
  let total = 0;
  const overhead = magic === 0 ? MESSAGE_OVERHEAD_V0 : MESSAGE_OVERHEAD_V1;
  for (const batch of batches) {
    const h = readBatchHeader(batch, 0);
    if (h.magic !== 2) throw corrupt(`record batch magic ${h.magic} is not 2`);
    if (h.isControl) continue;
    const { records } = decodeBatch(batch, { maxDecompressedBytes: opts.maxDecompressedBytes });
    for (const r of records) {
      if (r.offset < firstOffset) continue;
      if (!Number.isSafeInteger(r.offset) || r.offset < 0) throw corrupt(`record offset ${r.offset} cannot be down-converted`);
      msgs.push({ offset: r.offset, timestamp: r.timestamp, logAppend: h.timestampType === 1, key: r.key, value: r.value });
      total += LEGACY_LOG_OVERHEAD + overhead + (r.key?.length ?? 0) + (r.value?.length ?? 0);
    }
  }
  const out = Buffer.allocUnsafe(total);
  let p = 0;
  for (const m of msgs) {
    const size = overhead + (m.key?.length ?? 0) + (m.value?.length ?? 0);
    writeInt64(out, p, m.offset);
    out.writeInt32BE(size, p + 8);
    const start = p + LEGACY_LOG_OVERHEAD;
    let q = start + 4;
    out.writeInt8(magic, q++);
    out.writeUInt8(magic === 1 && m.logAppend ? ATTR_TIMESTAMP_TYPE : 0, q++);
    if (magic === 1) {
      writeInt64Clamped(out, q, m.timestamp); // a stored timestamp may be any int64
      q += 8;
    }
    q = writeBytes(out, q, m.key);
    q = writeBytes(out, q, m.value);
    out.writeUInt32BE(crc32(out, start + 4, q), start);
    p = q;
  }
  return out;
}

function writeBytes(out: Buffer, q: number, b: Buffer | null): number {
  if (b === null) {
    out.writeInt32BE(-1, q);
    return q + 4;
  }
  out.writeInt32BE(b.length, q);
  b.copy(out, q + 4);
  return q + 4 + b.length;
}

/** Encodes one legacy message entry (offset, size, message), uncompressed or as a wrapper. For tests and tools. */
export function encodeMessage(m: {
  offset: number;
  magic: 0 | 1;
  attributes?: number;
  timestamp?: number;
  key: Buffer | null;
  value: Buffer | null;
}): Buffer {
  const overhead = m.magic === 0 ? MESSAGE_OVERHEAD_V0 : MESSAGE_OVERHEAD_V1;
  const size = overhead + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  const out = Buffer.allocUnsafe(LEGACY_LOG_OVERHEAD + size);
  writeInt64(out, 0, m.offset);
  out.writeInt32BE(size, 8);
  let q = 16;
  out.writeInt8(m.magic, q++);
  out.writeUInt8(m.attributes ?? 0, q++);
  if (m.magic === 1) {
    writeInt64(out, q, m.timestamp ?? NO_TIMESTAMP);
    q += 8;
  }
  q = writeBytes(out, q, m.key);
  q = writeBytes(out, q, m.value);
  out.writeUInt32BE(crc32(out, 16, q), 12);
  return out;
}
