// Full record decode/encode of v2 batches, for the features that need records:
// compaction, down-conversion, ListOffsets by timestamp, transaction markers,
// tests. Never called on the produce/fetch hot path.
//
// Record (Kafka docs 5.3.2): length varint, attributes int8, timestampDelta
// varlong, offsetDelta varint, key (varint length, -1 null), value (same),
// headers varint count, each header key (varint length, UTF-8) and value
// (varint length, -1 null).
//
// Decoded keys, values and header values are views into the batch (or into
// the decompressed buffer), not copies: copy them to keep them past the
// batch's buffer.

import {
  ATTR_CONTROL,
  ATTR_DELETE_HORIZON,
  ATTR_TIMESTAMP_TYPE,
  ATTR_TRANSACTIONAL,
  CRC_OFFSET,
  LOG_OVERHEAD,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  NO_TIMESTAMP,
  RECORDS_OFFSET,
  TIMESTAMP_TYPE_LOG_APPEND,
  computeCrc,
  readBatchHeader,
  type BatchHeader,
} from './batch.js';
import { compress, decompress, isCodec } from './compression.js';
import { RecordsError, RecordsErrorCode, corrupt, invalidRecord } from './errors.js';
import {
  Cursor,
  sizeOfVarint,
  sizeOfVarlong,
  writeInt64,
  writeVarint,
  writeVarlong,
} from './wire.js';

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** Control record key (transaction markers): type 0 abort, 1 commit. */
export interface ControlRecord {
  version: number;
  type: number;
}

export const CONTROL_TYPE_ABORT = 0;
export const CONTROL_TYPE_COMMIT = 1;

export interface DecodedRecord {
  /** Absolute offset: baseOffset + offsetDelta. */
  offset: number;
  /** Record timestamp; for log-append-time batches the batch's maxTimestamp. */
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  /** Present on records of control batches whose key parses as a control key. */
  control?: ControlRecord;
}

export interface DecodedBatch {
  header: BatchHeader;
  records: DecodedRecord[];
}

export interface DecodeOptions {
  /** Cap on the decompressed records size (default 256 MiB). */
  maxDecompressedBytes?: number;
}

/** Decodes every record of one v2 batch (decompressing as needed). */
export function decodeRecords(batch: Buffer, opts: DecodeOptions = {}): DecodedRecord[] {
  return decodeBatch(batch, opts).records;
}

/**
 * Decodes one v2 batch: its header and its records. The CRC is not verified
 * (call checkBatch for untrusted input); framing and every record are.
 * Malformed records are INVALID_RECORD (Kafka's DefaultRecord.readFrom),
 * undecodable compressed data CORRUPT_MESSAGE.
 */
export function decodeBatch(batch: Buffer, opts: DecodeOptions = {}): DecodedBatch {
  const header = readBatchHeader(batch, 0);
  if (header.magic !== 2) throw corrupt(`record batch magic ${header.magic} is not 2`);
  if (header.batchLength < RECORDS_OFFSET - LOG_OVERHEAD || header.totalSize > batch.length) {
    throw corrupt(`record batch length ${header.batchLength} does not fit ${batch.length} bytes`);
  }
  if (!isCodec(header.compression)) {
    throw new RecordsError(RecordsErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `unknown compression codec ${header.compression}`);
  }
  if (header.recordCount < 0) throw invalidRecord(`negative record count ${header.recordCount}`);
  const raw = batch.subarray(RECORDS_OFFSET, header.totalSize);
  const data = decompress(header.compression, raw, { maxBytes: opts.maxDecompressedBytes });
  const c = new Cursor(data, 0, data.length, RecordsErrorCode.INVALID_RECORD);
  const records: DecodedRecord[] = [];
  const logAppend = header.timestampType === TIMESTAMP_TYPE_LOG_APPEND;
  for (let i = 0; i < header.recordCount; i++) {
    const length = c.readVarint();
    if (length < 0 || length > c.remaining()) throw invalidRecord(`record ${i} length ${length} out of range`);
    const end = c.pos + length;
    const saveEnd = c.end;
    c.end = end;
    c.readInt8(); // attributes, unused
    const timestampDelta = c.readVarlong();
    const offsetDelta = c.readVarint();
    const key = readVarBytes(c, 'key');
    const value = readVarBytes(c, 'value');
    const headerCount = c.readVarint();
    if (headerCount < 0) throw invalidRecord(`record ${i} has negative header count ${headerCount}`);
    if (headerCount > c.remaining()) throw invalidRecord(`record ${i} header count ${headerCount} exceeds its bytes`);
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      const keyLen = c.readVarint();
      if (keyLen < 0) throw invalidRecord(`record ${i} header ${h} has negative key length`);
      const hk = c.take(keyLen, 'header key');
      headers.push({ key: hk.toString('utf8'), value: readVarBytes(c, 'header value') });
    }
    if (c.pos !== end) throw invalidRecord(`record ${i} has ${end - c.pos} bytes beyond its fields`);
    c.end = saveEnd;
    const rec: DecodedRecord = {
      offset: header.baseOffset + offsetDelta,
      timestamp: logAppend ? header.maxTimestamp : header.baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    };
    if (header.isControl && key !== null && key.length >= 4) {
      rec.control = { version: key.readInt16BE(0), type: key.readInt16BE(2) };
    }
    records.push(rec);
  }
  if (c.pos !== data.length) {
    throw invalidRecord(`${data.length - c.pos} bytes remain after the batch's ${header.recordCount} records`);
  }
  return { header, records };
}

function readVarBytes(c: Cursor, what: string): Buffer | null {
  const n = c.readVarint();
  if (n === -1) return null;
  if (n < 0) throw invalidRecord(`negative ${what} length ${n}`);
  return c.take(n, what);
}

/**
 * ListOffsets by timestamp within one batch: the first record whose timestamp
 * is >= ts, or null. Skips the batch without decoding when its maxTimestamp
 * is below ts.
 */
export function firstOffsetAtOrAfterTimestamp(
  batch: Buffer,
  ts: number,
  opts: DecodeOptions = {},
): { offset: number; timestamp: number } | null {
  const header = readBatchHeader(batch, 0);
  if (header.magic !== 2) throw corrupt(`record batch magic ${header.magic} is not 2`);
  if (header.maxTimestamp < ts) return null;
  for (const r of decodeBatch(batch, opts).records) {
    if (r.timestamp >= ts) return { offset: r.offset, timestamp: r.timestamp };
  }
  return null;
}

/**
 * For topics that bound CreateTime timestamps (message.timestamp.before.max.ms
 * and after.max.ms): every record whose timestamp lies outside [min, max],
 * with its index in the batch (Kafka's batch_index) and offset. Records
 * without a timestamp (-1) pass, as in Kafka. It decodes the batch, so only
 * topics that set a bound pay for it.
 */
export function recordsOutsideTimes(
  batch: Buffer,
  min: number,
  max: number,
  opts: DecodeOptions = {},
): Array<{ index: number; offset: number; timestamp: number }> {
  const header = readBatchHeader(batch, 0);
  if (header.timestampType === TIMESTAMP_TYPE_LOG_APPEND) return [];
  const out: Array<{ index: number; offset: number; timestamp: number }> = [];
  decodeBatch(batch, opts).records.forEach((r, index) => {
    if (r.timestamp !== NO_TIMESTAMP && (r.timestamp < min || r.timestamp > max)) out.push({ index, offset: r.offset, timestamp: r.timestamp });
  });
  return out;
}

/** The indexes of the batch's records without a key (compacted topics refuse those). */
export function recordsWithoutKey(batch: Buffer, opts: DecodeOptions = {}): number[] {
  const out: number[] = [];
  decodeBatch(batch, opts).records.forEach((r, i) => {
    if (r.key === null) out.push(i);
  });
  return out;
}

/**
 * A produced batch rebuilt with its records compressed by `codec` (a topic's
 * compression.type other than `producer`, as Kafka's LogValidator does it):
 * producer id, epoch and sequence, timestamps, offset deltas and headers are
 * kept; only the record bytes change.
 */
export function recompressBatch(batch: Buffer, codec: number, opts: DecodeOptions = {}): Buffer {
  const { header, records } = decodeBatch(batch, opts);
  return buildBatch({
    baseOffset: header.baseOffset,
    records: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp, offsetDelta: r.offset - header.baseOffset })),
    compression: codec,
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    timestampType: header.timestampType,
    isTransactional: header.isTransactional,
    isControl: header.isControl,
    lastOffsetDelta: header.lastOffsetDelta,
    baseTimestamp: header.baseTimestamp,
    maxTimestamp: header.maxTimestamp,
  });
}

// ------------------------------------------------------------------- encode

export interface RecordInput {
  key: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeader[];
  /** Milliseconds; default: now (one Date.now() for the whole batch). */
  timestamp?: number;
  /** Default: the record's index. Compaction keeps original deltas (with gaps). */
  offsetDelta?: number;
}

export interface BuildBatchOptions {
  baseOffset?: number;
  records: RecordInput[];
  /** 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
  compression?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  partitionLeaderEpoch?: number;
  /** 0 create time (default), 1 log append time. */
  timestampType?: 0 | 1;
  isTransactional?: boolean;
  isControl?: boolean;
  /**
   * A log cleaning's delete horizon (Kafka 3, KIP-534): sets the attribute
   * and takes the place of the base timestamp, which record timestamps are
   * then relative to (so they keep their values).
   */
  deleteHorizonMs?: number;
  /** Default: the records' largest offsetDelta (-1 when there are none). */
  lastOffsetDelta?: number;
  /** Default: the first record's timestamp (-1 when there are none). */
  baseTimestamp?: number;
  /** Default: the largest record timestamp (-1 when there are none). */
  maxTimestamp?: number;
}

function sizeOfVarBytes(b: Buffer | null): number {
  return b === null ? 1 : sizeOfVarint(b.length) + b.length;
}

/** Builds a correct v2 batch (CRC-32C included). */
export function buildBatch(opts: BuildBatchOptions): Buffer {
  const recs = opts.records;
  const compression = opts.compression ?? 0;
  if (!isCodec(compression)) throw new RangeError(`unknown compression codec ${compression}`);
  let now: number | undefined;
  const timestamps = new Array<number>(recs.length);
  for (let i = 0; i < recs.length; i++) {
    const t = recs[i]!.timestamp;
    timestamps[i] = t ?? (now ??= Date.now());
  }
  const baseTimestamp = opts.deleteHorizonMs ?? opts.baseTimestamp ?? (recs.length > 0 ? timestamps[0]! : -1);
  let maxTs = -1;
  for (const t of timestamps) if (t > maxTs) maxTs = t;
  const maxTimestamp = opts.maxTimestamp ?? maxTs;

  // Size every record first, then write once into one buffer.
  const bodySizes = new Array<number>(recs.length);
  const headerKeys: Buffer[][] = new Array(recs.length);
  let recordsSize = 0;
  let maxDelta = -1;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    const offsetDelta = r.offsetDelta ?? i;
    if (offsetDelta > maxDelta) maxDelta = offsetDelta;
    const hks: Buffer[] = [];
    let size =
      1 +
      sizeOfVarlong(timestamps[i]! - baseTimestamp) +
      sizeOfVarint(offsetDelta) +
      sizeOfVarBytes(r.key) +
      sizeOfVarBytes(r.value);
    const hs = r.headers ?? [];
    size += sizeOfVarint(hs.length);
    for (const h of hs) {
      const hk = Buffer.from(h.key, 'utf8');
      hks.push(hk);
      size += sizeOfVarBytes(hk) + sizeOfVarBytes(h.value);
    }
    headerKeys[i] = hks;
    bodySizes[i] = size;
    recordsSize += sizeOfVarint(size) + size;
  }

  let records: Buffer = Buffer.allocUnsafe(recordsSize);
  let p = 0;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    p = writeVarint(records, p, bodySizes[i]!);
    records[p++] = 0; // attributes
    p = writeVarlong(records, p, timestamps[i]! - baseTimestamp);
    p = writeVarint(records, p, r.offsetDelta ?? i);
    p = writeVarBytes(records, p, r.key);
    p = writeVarBytes(records, p, r.value);
    const hs = r.headers ?? [];
    p = writeVarint(records, p, hs.length);
    const hks = headerKeys[i]!;
    for (let h = 0; h < hs.length; h++) {
      p = writeVarBytes(records, p, hks[h]!);
      p = writeVarBytes(records, p, hs[h]!.value);
    }
  }
  if (p !== recordsSize) throw new Error(`internal: record size ${p} != ${recordsSize}`);
  if (compression !== 0) records = compress(compression, records);

  const total = RECORDS_OFFSET + records.length;
  const out = Buffer.allocUnsafe(total);
  let attributes = compression;
  if (opts.timestampType === 1) attributes |= ATTR_TIMESTAMP_TYPE;
  if (opts.isTransactional) attributes |= ATTR_TRANSACTIONAL;
  if (opts.isControl) attributes |= ATTR_CONTROL;
  if (opts.deleteHorizonMs !== undefined) attributes |= ATTR_DELETE_HORIZON;
  writeInt64(out, 0, opts.baseOffset ?? 0);
  out.writeInt32BE(total - LOG_OVERHEAD, 8);
  out.writeInt32BE(opts.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH, 12);
  out.writeInt8(2, 16);
  out.writeInt16BE(attributes, 21);
  out.writeInt32BE(opts.lastOffsetDelta ?? maxDelta, 23);
  writeInt64(out, 27, baseTimestamp);
  writeInt64(out, 35, maxTimestamp);
  writeInt64(out, 43, opts.producerId ?? NO_PRODUCER_ID);
  out.writeInt16BE(opts.producerEpoch ?? NO_PRODUCER_EPOCH, 51);
  out.writeInt32BE(opts.baseSequence ?? NO_SEQUENCE, 53);
  out.writeInt32BE(recs.length, 57);
  records.copy(out, RECORDS_OFFSET);
  out.writeUInt32BE(computeCrc(out, 0, total), CRC_OFFSET);
  return out;
}

function writeVarBytes(buf: Buffer, p: number, b: Buffer | null): number {
  if (b === null) return writeVarint(buf, p, -1);
  p = writeVarint(buf, p, b.length);
  b.copy(buf, p);
  return p + b.length;
}

export interface ControlBatchOptions {
  /** 0 abort, 1 commit. */
  type: number;
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
  baseOffset?: number;
  timestamp?: number;
  partitionLeaderEpoch?: number;
}

/**
 * A transaction marker: a transactional control batch holding one control
 * record, key (version 0, type) and value (version 0, coordinator epoch).
 */
export function buildControlBatch(opts: ControlBatchOptions): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(opts.type, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(0, 0);
  value.writeInt32BE(opts.coordinatorEpoch, 2);
  return buildBatch({
    baseOffset: opts.baseOffset,
    records: [{ key, value, timestamp: opts.timestamp }],
    producerId: opts.producerId,
    producerEpoch: opts.producerEpoch,
    baseSequence: NO_SEQUENCE,
    partitionLeaderEpoch: opts.partitionLeaderEpoch,
    isTransactional: true,
    isControl: true,
  });
}
