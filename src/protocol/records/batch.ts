// Record batch v2 header: field access, framing, CRC-32C and in-place patching.
// This is the hot path of produce and fetch: nothing here decodes records or
// allocates beyond one header object, and no BigInt is used (int64 fields are
// read as two int32 halves; offsets, timestamps and producer ids fit in a JS
// number).
//
// Layout (Kafka docs 5.3.1):
//   0 baseOffset int64 | 8 batchLength int32 | 12 partitionLeaderEpoch int32
//   16 magic int8 | 17 crc uint32 | 21 attributes int16 | 23 lastOffsetDelta int32
//   27 baseTimestamp int64 | 35 maxTimestamp int64 | 43 producerId int64
//   51 producerEpoch int16 | 53 baseSequence int32 | 57 recordCount int32 | 61 records
// The CRC-32C covers attributes..end, so baseOffset and partitionLeaderEpoch
// can be patched without recomputing it.

import { crc32c } from '@node-rs/crc32';
import { corrupt } from './errors.js';
import { readInt64, writeInt64 } from './wire.js';

// Storage imports this feature helper from here; it lives with the record decoder.
export { firstOffsetAtOrAfterTimestamp } from './records.js';

export const BASE_OFFSET_OFFSET = 0;
export const LENGTH_OFFSET = 8;
export const PARTITION_LEADER_EPOCH_OFFSET = 12;
export const MAGIC_OFFSET = 16;
export const CRC_OFFSET = 17;
export const ATTRIBUTES_OFFSET = 21;
export const LAST_OFFSET_DELTA_OFFSET = 23;
export const BASE_TIMESTAMP_OFFSET = 27;
export const MAX_TIMESTAMP_OFFSET = 35;
export const PRODUCER_ID_OFFSET = 43;
export const PRODUCER_EPOCH_OFFSET = 51;
export const BASE_SEQUENCE_OFFSET = 53;
export const RECORD_COUNT_OFFSET = 57;
export const RECORDS_OFFSET = 61;

/** baseOffset + batchLength: the bytes not counted by batchLength. */
export const LOG_OVERHEAD = 12;
/** Size of a v2 batch without records. */
export const RECORD_BATCH_OVERHEAD = RECORDS_OFFSET;
/** Smallest legal batchLength of a v2 batch (61 - 12). */
export const MIN_BATCH_LENGTH = RECORD_BATCH_OVERHEAD - LOG_OVERHEAD;

export const ATTR_COMPRESSION_MASK = 0x07;
export const ATTR_TIMESTAMP_TYPE = 0x08;
export const ATTR_TRANSACTIONAL = 0x10;
export const ATTR_CONTROL = 0x20;
export const ATTR_DELETE_HORIZON = 0x40;

export const TIMESTAMP_TYPE_CREATE = 0;
export const TIMESTAMP_TYPE_LOG_APPEND = 1;

export const NO_PRODUCER_ID = -1;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
export const NO_PARTITION_LEADER_EPOCH = -1;
export const NO_TIMESTAMP = -1;

export interface BatchHeader {
  baseOffset: number;
  /** The int32 length field: bytes after it. */
  batchLength: number;
  /** Whole batch in bytes: batchLength + 12. */
  totalSize: number;
  partitionLeaderEpoch: number;
  magic: number;
  /** Stored CRC-32C as an unsigned number. */
  crc: number;
  attributes: number;
  /** attributes & 7: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd (5-7 invalid). */
  compression: number;
  /** 0 create time, 1 log append time. */
  timestampType: 0 | 1;
  isTransactional: boolean;
  isControl: boolean;
  hasDeleteHorizon: boolean;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/**
 * Reads the header of the v2 batch at buf[pos]. Only checks that the 61
 * header bytes are present (CORRUPT_MESSAGE otherwise): the caller checks
 * `magic` (the other fields mean nothing unless it is 2), the length and the
 * CRC (`checkBatch` does all three).
 */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  if (pos < 0 || buf.length - pos < RECORD_BATCH_OVERHEAD) {
    throw corrupt(`record batch header truncated: ${buf.length - pos} bytes, need ${RECORD_BATCH_OVERHEAD}`);
  }
  const magic = buf.readInt8(pos + MAGIC_OFFSET);
  const batchLength = buf.readInt32BE(pos + LENGTH_OFFSET);
  const attributes = buf.readInt16BE(pos + ATTRIBUTES_OFFSET);
  return {
    baseOffset: readInt64(buf, pos),
    batchLength,
    totalSize: batchLength + LOG_OVERHEAD,
    partitionLeaderEpoch: buf.readInt32BE(pos + PARTITION_LEADER_EPOCH_OFFSET),
    magic,
    crc: buf.readUInt32BE(pos + CRC_OFFSET),
    attributes,
    compression: attributes & ATTR_COMPRESSION_MASK,
    timestampType: (attributes & ATTR_TIMESTAMP_TYPE) !== 0 ? 1 : 0,
    isTransactional: (attributes & ATTR_TRANSACTIONAL) !== 0,
    isControl: (attributes & ATTR_CONTROL) !== 0,
    hasDeleteHorizon: (attributes & ATTR_DELETE_HORIZON) !== 0,
    lastOffsetDelta: buf.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET),
    baseTimestamp: readInt64(buf, pos + BASE_TIMESTAMP_OFFSET),
    maxTimestamp: readInt64(buf, pos + MAX_TIMESTAMP_OFFSET),
    producerId: readInt64(buf, pos + PRODUCER_ID_OFFSET),
    producerEpoch: buf.readInt16BE(pos + PRODUCER_EPOCH_OFFSET),
    baseSequence: buf.readInt32BE(pos + BASE_SEQUENCE_OFFSET),
    recordCount: buf.readInt32BE(pos + RECORD_COUNT_OFFSET),
  };
}

/** CRC-32C of batch[pos+21, pos+totalSize), as Kafka computes it. */
export function computeCrc(batch: Buffer, pos = 0, totalSize = batch.length - pos): number {
  return crc32c(batch.subarray(pos + ATTRIBUTES_OFFSET, pos + totalSize)) >>> 0;
}

/**
 * Checks that buf[pos..] holds one whole v2 batch (magic 2, batchLength >= 49,
 * not truncated) with a matching CRC-32C. CORRUPT_MESSAGE otherwise.
 * Returns the batch's total size.
 */
export function checkBatch(buf: Buffer, pos = 0): number {
  if (pos < 0 || buf.length - pos < RECORD_BATCH_OVERHEAD) throw corrupt('record batch truncated');
  const magic = buf.readInt8(pos + MAGIC_OFFSET);
  if (magic !== 2) throw corrupt(`record batch magic ${magic} is not 2`);
  const batchLength = buf.readInt32BE(pos + LENGTH_OFFSET);
  if (batchLength < MIN_BATCH_LENGTH) throw corrupt(`record batch length ${batchLength} is below ${MIN_BATCH_LENGTH}`);
  const total = batchLength + LOG_OVERHEAD;
  if (total > buf.length - pos) throw corrupt(`record batch truncated: length ${batchLength}, ${buf.length - pos - LOG_OVERHEAD} bytes present`);
  const stored = buf.readUInt32BE(pos + CRC_OFFSET);
  const actual = computeCrc(buf, pos, total);
  if (stored !== actual) {
    throw corrupt(`record batch CRC mismatch: stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}`);
  }
  return total;
}

/**
 * Splits a concatenation of v2 batches (as stored or fetched) into subarrays.
 * Checks framing (and the CRC when `verifyCrc`); trailing bytes that are not
 * a whole batch are CORRUPT_MESSAGE.
 */
export function splitBatches(buf: Buffer, opts: { verifyCrc?: boolean } = {}): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    let total: number;
    if (opts.verifyCrc) {
      total = checkBatch(buf, pos);
    } else {
      if (buf.length - pos < RECORD_BATCH_OVERHEAD) throw corrupt('record batch truncated');
      const magic = buf.readInt8(pos + MAGIC_OFFSET);
      if (magic !== 2) throw corrupt(`record batch magic ${magic} is not 2`);
      const batchLength = buf.readInt32BE(pos + LENGTH_OFFSET);
      if (batchLength < MIN_BATCH_LENGTH) throw corrupt(`record batch length ${batchLength} is below ${MIN_BATCH_LENGTH}`);
      total = batchLength + LOG_OVERHEAD;
      if (total > buf.length - pos) throw corrupt('record batch truncated');
    }
    out.push(buf.subarray(pos, pos + total));
    pos += total;
  }
  return out;
}

// ------------------------------------------------------------ small getters

export function baseOffsetOf(batch: Buffer): number {
  return readInt64(batch, BASE_OFFSET_OFFSET);
}

/** Offset of the last record the batch claims: baseOffset + lastOffsetDelta. */
export function lastOffsetOf(batch: Buffer): number {
  return readInt64(batch, BASE_OFFSET_OFFSET) + batch.readInt32BE(LAST_OFFSET_DELTA_OFFSET);
}

/** The offset after the batch: lastOffset + 1. */
export function nextOffsetOf(batch: Buffer): number {
  return lastOffsetOf(batch) + 1;
}

export function recordCountOf(batch: Buffer): number {
  return batch.readInt32BE(RECORD_COUNT_OFFSET);
}

export function lastOffsetDeltaOf(batch: Buffer): number {
  return batch.readInt32BE(LAST_OFFSET_DELTA_OFFSET);
}

export function maxTimestampOf(batch: Buffer): number {
  return readInt64(batch, MAX_TIMESTAMP_OFFSET);
}

export function partitionLeaderEpochOf(batch: Buffer): number {
  return batch.readInt32BE(PARTITION_LEADER_EPOCH_OFFSET);
}

export function producerIdOf(batch: Buffer): number {
  return readInt64(batch, PRODUCER_ID_OFFSET);
}

export function compressionOf(batch: Buffer): number {
  return batch.readInt16BE(ATTRIBUTES_OFFSET) & ATTR_COMPRESSION_MASK;
}

export function isControlBatch(batch: Buffer): boolean {
  return (batch.readInt16BE(ATTRIBUTES_OFFSET) & ATTR_CONTROL) !== 0;
}

export function isTransactionalBatch(batch: Buffer): boolean {
  return (batch.readInt16BE(ATTRIBUTES_OFFSET) & ATTR_TRANSACTIONAL) !== 0;
}

// ------------------------------------------------------------------ patching

/** Assigns the batch's base offset in place (not covered by the CRC). */
export function setBaseOffset(batch: Buffer, offset: number): void {
  if (offset < 0) throw new RangeError(`negative base offset ${offset}`);
  writeInt64(batch, BASE_OFFSET_OFFSET, offset);
}

/** Stamps the leader epoch that appends the batch, in place (not covered by the CRC). */
export function setPartitionLeaderEpoch(batch: Buffer, epoch: number): void {
  batch.writeInt32BE(epoch, PARTITION_LEADER_EPOCH_OFFSET);
}

/**
 * For topics with message.timestamp.type=LogAppendTime: sets the timestamp
 * type bit and maxTimestamp to `now`, and recomputes the CRC (both are
 * covered by it). Records are not touched: readers use maxTimestamp for every
 * record of a log-append-time batch.
 */
export function setLogAppendTime(batch: Buffer, now: number): void {
  const attributes = batch.readInt16BE(ATTRIBUTES_OFFSET) | ATTR_TIMESTAMP_TYPE;
  batch.writeInt16BE(attributes, ATTRIBUTES_OFFSET);
  writeInt64(batch, MAX_TIMESTAMP_OFFSET, now);
  batch.writeUInt32BE(computeCrc(batch), CRC_OFFSET);
}
