// Validation of the records field of one partition of a Produce request: the
// hot path. A v2 batch is checked from its header and CRC-32C only (records
// are never decoded, compressed data never inflated) and returned as a
// subarray of the request; a legacy message set (magic 0/1, Produce v0-2) is
// validated and up-converted into one uncompressed v2 batch.
//
// The rules and error codes follow Kafka 3.9 (ProduceRequest.validateRecords,
// UnifiedLog.analyzeAndValidateRecords, LogValidator.validateBatch/validateRecord):
//   empty records on v3+ ................................. INVALID_RECORD (v0-2: no batch, a no-op append)
//   framing: trailing/truncated bytes, batchLength < 49 (v2) or
//     message size < 14 (legacy), magic not 0..2 ......... CORRUPT_MESSAGE (*)
//   v3+ and magic != 2 ..................................... INVALID_RECORD
//   more than one v2 batch ................................. INVALID_RECORD
//   magics mixed ........................................... INVALID_RECORD
//   baseOffset != 0 ........................................ INVALID_RECORD
//   CRC-32C (v2) / CRC-32 (legacy, inner messages too) ..... CORRUPT_MESSAGE
//   codec 4 (zstd) before Produce v7, or in a legacy set ... UNSUPPORTED_COMPRESSION_TYPE
//   codec 5-7 .............................................. UNSUPPORTED_COMPRESSION_TYPE (**)
//   lastOffsetDelta + 1 <= 0, recordCount <= 0, or they differ INVALID_RECORD
//   control batch from a client ............................ INVALID_RECORD
//   producerId >= 0 with baseSequence < 0 .................. INVALID_RECORD
//   log-append-time bit set by a producer .................. INVALID_TIMESTAMP
//   legacy: compressed wrapper plus other messages, null or
//     empty wrapper, nested compression, inner magic differs INVALID_RECORD
// (*) Kafka stops reading at a truncated trailing batch and drops the tail
//     silently; we refuse it, a well-behaved client never sends one.
// (**) Kafka fails such a request with UNKNOWN_SERVER_ERROR (an
//     IllegalArgumentException from CompressionType.forId).
// Per-record rules that need decoding (timestamps against
// message.timestamp.*.max.ms, keys on compacted topics) are not checked here.

import { crc32c } from '@node-rs/crc32';
import {
  ATTR_COMPRESSION_MASK,
  ATTR_CONTROL,
  ATTR_TIMESTAMP_TYPE,
  ATTRIBUTES_OFFSET,
  BASE_SEQUENCE_OFFSET,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LENGTH_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MIN_BATCH_LENGTH,
  PRODUCER_ID_OFFSET,
  RECORD_COUNT_OFFSET,
} from './batch.js';
import { RecordsError, RecordsErrorCode, corrupt, invalidRecord } from './errors.js';
import { legacyToBatch, parseMessageSet, MESSAGE_OVERHEAD_V0, type LegacyParseOptions } from './legacy.js';

export interface SplitOptions {
  /** Version of the Produce request carrying the records. */
  produceVersion: number;
  /** Cap on a legacy wrapper's decompressed size (default 256 MiB). */
  maxDecompressedBytes?: number;
}

/**
 * Validates the records of one partition of a Produce request and returns the
 * v2 batches to store: for magic 2, subarrays of `records` (no copy); for a
 * legacy message set, one freshly built uncompressed batch. Throws
 * RecordsError carrying the Kafka error code for the partition.
 */
export function splitProducedRecords(records: Buffer, opts: SplitOptions): Buffer[] {
  const version = opts.produceVersion;
  const len = records.length;
  if (len === 0) {
    if (version >= 3) throw invalidRecord(`Produce v${version} requires exactly one record batch per partition, got none`);
    return [];
  }

  // Framing pass: whole entries only, one magic throughout.
  let pos = 0;
  let count = 0;
  let magic = -1;
  while (pos < len) {
    if (len - pos < LOG_OVERHEAD) throw corrupt(`${len - pos} trailing bytes after the last record batch`);
    const size = records.readInt32BE(pos + LENGTH_OFFSET);
    if (size < MESSAGE_OVERHEAD_V0) throw corrupt(`record batch size ${size} is below the minimum ${MESSAGE_OVERHEAD_V0}`);
    if (size > len - pos - LOG_OVERHEAD) {
      throw corrupt(`record batch truncated: size ${size}, ${len - pos - LOG_OVERHEAD} bytes present`);
    }
    const m = records.readInt8(pos + MAGIC_OFFSET);
    if (m < 0 || m > 2) throw corrupt(`invalid record batch magic ${m}`);
    if (m === 2 && size < MIN_BATCH_LENGTH) throw corrupt(`record batch length ${size} is below ${MIN_BATCH_LENGTH}`);
    if (magic === -1) magic = m;
    else if (m !== magic) throw invalidRecord(`record batch magic ${m} differs from the first batch's ${magic}`);
    count++;
    pos += LOG_OVERHEAD + size;
  }

  if (version >= 3 && magic !== 2) {
    throw invalidRecord(`Produce v${version} only allows record batches with magic 2, got magic ${magic}`);
  }
  if (magic !== 2) return [upConvertProduced(records, version, opts)];
  if (count !== 1) throw invalidRecord(`exactly one record batch per partition is allowed, got ${count}`);
  checkProducedBatch(records, version);
  return [records];
}

/** The batch-level rules for one magic-2 batch from a producer; see the table above. */
function checkProducedBatch(b: Buffer, version: number): void {
  if (b.readInt32BE(0) !== 0 || b.readInt32BE(4) !== 0) {
    throw invalidRecord('the base offset of a produced record batch must be 0');
  }
  const stored = b.readUInt32BE(CRC_OFFSET);
  const actual = crc32c(b.subarray(ATTRIBUTES_OFFSET)) >>> 0;
  if (stored !== actual) {
    throw corrupt(`record batch CRC mismatch: stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}`);
  }
  const attributes = b.readInt16BE(ATTRIBUTES_OFFSET);
  const codec = attributes & ATTR_COMPRESSION_MASK;
  if (codec > 4) throw new RecordsError(RecordsErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `unknown compression codec ${codec}`);
  if (codec === 4 && version < 7) {
    throw new RecordsError(RecordsErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `Produce v${version} may not use zstd (v7+ only)`);
  }
  const lastOffsetDelta = b.readInt32BE(LAST_OFFSET_DELTA_OFFSET);
  const recordCount = b.readInt32BE(RECORD_COUNT_OFFSET);
  if (lastOffsetDelta < 0) throw invalidRecord(`record batch has an invalid offset range: lastOffsetDelta ${lastOffsetDelta}`);
  if (recordCount <= 0) throw invalidRecord(`invalid record count ${recordCount}`);
  if (lastOffsetDelta + 1 !== recordCount) {
    throw invalidRecord(`inconsistent record batch: lastOffsetDelta ${lastOffsetDelta} and record count ${recordCount}`);
  }
  if ((attributes & ATTR_CONTROL) !== 0) throw invalidRecord('clients may not write control batches');
  const producerIdHigh = b.readInt32BE(PRODUCER_ID_OFFSET);
  if (producerIdHigh >= 0 && b.readInt32BE(BASE_SEQUENCE_OFFSET) < 0) {
    throw invalidRecord('record batch with a producer id has a negative base sequence');
  }
  if ((attributes & ATTR_TIMESTAMP_TYPE) !== 0) {
    throw new RecordsError(RecordsErrorCode.INVALID_TIMESTAMP, 'producers may not set the LogAppendTime timestamp type');
  }
}

function upConvertProduced(records: Buffer, version: number, opts: SplitOptions): Buffer {
  const parseOpts: LegacyParseOptions = { maxDecompressedBytes: opts.maxDecompressedBytes };
  const set = parseMessageSet(records, parseOpts);
  if (set.compression !== 0 && set.shallowCount > 1) {
    throw invalidRecord('a compressed wrapper message must be the only message of the set');
  }
  if (set.logAppendTime) {
    throw new RecordsError(RecordsErrorCode.INVALID_TIMESTAMP, 'producers may not set the LogAppendTime timestamp type');
  }
  if (set.messages.length === 0) throw invalidRecord(`Produce v${version} message set holds no messages`);
  return legacyToBatch(set);
}
