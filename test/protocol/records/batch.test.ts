import { describe, expect, it } from 'vitest';
import {
  checkBatch,
  computeCrc,
  lastOffsetOf,
  nextOffsetOf,
  readBatchHeader,
  recordCountOf,
  setBaseOffset,
  setLogAppendTime,
  setPartitionLeaderEpoch,
  splitBatches,
  baseOffsetOf,
  partitionLeaderEpochOf,
  maxTimestampOf,
  producerIdOf,
  compressionOf,
  isControlBatch,
  isTransactionalBatch,
} from '../../../src/protocol/records/batch.js';
import { buildBatch, decodeRecords } from '../../../src/protocol/records/records.js';
import { RecordsErrorCode } from '../../../src/protocol/records/errors.js';
import { crc32cRef, expectCode, hex } from './helpers.js';

// One record batch written byte by byte from the spec (Kafka docs 5.3.1/5.3.2):
// an idempotent batch (producer id 1234, epoch 3, sequence 42) at leader epoch 5
// with one record: key "key", value "value", header h1="v", timestamp 1700000000000.
const GOLDEN = hex(`
  0000000000000000   # baseOffset 0
  00000045           # batchLength 69 (81 - 12)
  00000005           # partitionLeaderEpoch 5
  02                 # magic 2
  30759ae7           # crc32c(attributes..end)
  0000               # attributes: no compression, create time
  00000000           # lastOffsetDelta 0
  0000018bcfe56800   # baseTimestamp 1700000000000
  0000018bcfe56800   # maxTimestamp
  00000000000004d2   # producerId 1234
  0003               # producerEpoch 3
  0000002a           # baseSequence 42
  00000001           # recordCount 1
  26                 # record length 19 (zigzag 38)
  00                 # attributes
  00                 # timestampDelta 0
  00                 # offsetDelta 0
  06 6b6579          # key length 3, "key"
  0a 76616c7565      # value length 5, "value"
  02                 # 1 header
  04 6831            # header key length 2, "h1"
  02 76              # header value length 1, "v"
`);

const goldenRecord = {
  key: Buffer.from('key'),
  value: Buffer.from('value'),
  headers: [{ key: 'h1', value: Buffer.from('v') }],
  timestamp: 1700000000000,
};

describe('golden batch from the spec', () => {
  it('has the CRC-32C an independent implementation computes', () => {
    expect(GOLDEN.length).toBe(81);
    expect(crc32cRef(GOLDEN.subarray(21))).toBe(0x30759ae7);
    expect(computeCrc(GOLDEN)).toBe(0x30759ae7);
    expect(checkBatch(GOLDEN)).toBe(81);
  });

  it('reads every header field', () => {
    expect(readBatchHeader(GOLDEN)).toEqual({
      baseOffset: 0,
      batchLength: 69,
      totalSize: 81,
      partitionLeaderEpoch: 5,
      magic: 2,
      crc: 0x30759ae7,
      attributes: 0,
      compression: 0,
      timestampType: 0,
      isTransactional: false,
      isControl: false,
      hasDeleteHorizon: false,
      lastOffsetDelta: 0,
      baseTimestamp: 1700000000000,
      maxTimestamp: 1700000000000,
      producerId: 1234,
      producerEpoch: 3,
      baseSequence: 42,
      recordCount: 1,
    });
  });

  it('is what buildBatch writes', () => {
    const built = buildBatch({
      records: [goldenRecord],
      producerId: 1234,
      producerEpoch: 3,
      baseSequence: 42,
      partitionLeaderEpoch: 5,
    });
    expect(built.toString('hex')).toBe(GOLDEN.toString('hex'));
  });

  it('decodes to its record', () => {
    expect(decodeRecords(GOLDEN)).toEqual([{ offset: 0, ...goldenRecord }]);
  });

  it('reads a header at a position inside a larger buffer', () => {
    const buf = Buffer.concat([Buffer.alloc(7, 0xee), GOLDEN]);
    expect(readBatchHeader(buf, 7).producerId).toBe(1234);
    expect(checkBatch(buf, 7)).toBe(81);
  });
});

describe('patching offsets and epochs', () => {
  it('setBaseOffset and setPartitionLeaderEpoch keep the CRC valid', () => {
    const b = Buffer.from(GOLDEN);
    setBaseOffset(b, 123456789012);
    setPartitionLeaderEpoch(b, 77);
    expect(checkBatch(b)).toBe(81);
    const h = readBatchHeader(b);
    expect(h.baseOffset).toBe(123456789012);
    expect(h.partitionLeaderEpoch).toBe(77);
    expect(baseOffsetOf(b)).toBe(123456789012);
    expect(partitionLeaderEpochOf(b)).toBe(77);
    expect(decodeRecords(b)[0]!.offset).toBe(123456789012);
    // only the 8 + 4 patched bytes changed
    expect(b.subarray(16).equals(GOLDEN.subarray(16))).toBe(true);
    expect(b.subarray(8, 12).equals(GOLDEN.subarray(8, 12))).toBe(true);
  });

  it('handles offsets above 2^32 and up to 2^53 - 1 exactly', () => {
    const b = Buffer.from(GOLDEN);
    for (const off of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      setBaseOffset(b, off);
      expect(b.readBigInt64BE(0)).toBe(BigInt(off));
      expect(readBatchHeader(b).baseOffset).toBe(off);
    }
    expect(() => setBaseOffset(b, -1)).toThrow(RangeError);
    expect(() => setBaseOffset(b, 2 ** 53)).toThrow(RangeError);
  });

  it('small getters', () => {
    const b = buildBatch({
      baseOffset: 100,
      records: [0, 1, 2].map((i) => ({ key: null, value: Buffer.from([i]), timestamp: 10 + i })),
      producerId: 9,
      producerEpoch: 0,
      baseSequence: 0,
      isTransactional: true,
      compression: 1,
    });
    expect(lastOffsetOf(b)).toBe(102);
    expect(nextOffsetOf(b)).toBe(103);
    expect(recordCountOf(b)).toBe(3);
    expect(maxTimestampOf(b)).toBe(12);
    expect(producerIdOf(b)).toBe(9);
    expect(compressionOf(b)).toBe(1);
    expect(isTransactionalBatch(b)).toBe(true);
    expect(isControlBatch(b)).toBe(false);
  });

  it('setLogAppendTime sets the type bit and maxTimestamp and recomputes the CRC', () => {
    const b = Buffer.from(GOLDEN);
    setLogAppendTime(b, 1800000000000);
    expect(checkBatch(b)).toBe(81);
    const h = readBatchHeader(b);
    expect(h.timestampType).toBe(1);
    expect(h.maxTimestamp).toBe(1800000000000);
    expect(decodeRecords(b)[0]!.timestamp).toBe(1800000000000);
  });

  it('reads negative int64 fields (-1 producer id)', () => {
    const b = buildBatch({ records: [{ key: null, value: null, timestamp: -1 }] });
    const h = readBatchHeader(b);
    expect(h.producerId).toBe(-1);
    expect(h.producerEpoch).toBe(-1);
    expect(h.baseSequence).toBe(-1);
    expect(h.baseTimestamp).toBe(-1);
    expect(h.partitionLeaderEpoch).toBe(-1);
  });
});

describe('framing', () => {
  it('readBatchHeader needs 61 bytes', () => {
    expectCode(() => readBatchHeader(GOLDEN.subarray(0, 60)), RecordsErrorCode.CORRUPT_MESSAGE);
    expectCode(() => readBatchHeader(GOLDEN, 30), RecordsErrorCode.CORRUPT_MESSAGE);
  });

  it('checkBatch rejects a flipped bit, truncation, a short length and a wrong magic', () => {
    for (let i = 21; i < GOLDEN.length; i++) {
      const b = Buffer.from(GOLDEN);
      b[i]! ^= 0x10;
      expectCode(() => checkBatch(b), RecordsErrorCode.CORRUPT_MESSAGE);
    }
    expectCode(() => checkBatch(GOLDEN.subarray(0, 80)), RecordsErrorCode.CORRUPT_MESSAGE);
    const short = Buffer.from(GOLDEN);
    short.writeInt32BE(48, 8);
    expectCode(() => checkBatch(short), RecordsErrorCode.CORRUPT_MESSAGE);
    const magic = Buffer.from(GOLDEN);
    magic[16] = 1;
    expectCode(() => checkBatch(magic), RecordsErrorCode.CORRUPT_MESSAGE);
  });

  it('splitBatches frames a stored concatenation and refuses a partial tail', () => {
    const a = buildBatch({ baseOffset: 0, records: [{ key: null, value: Buffer.from('a'), timestamp: 1 }] });
    const b = buildBatch({ baseOffset: 1, records: [{ key: null, value: Buffer.from('b'), timestamp: 2 }] });
    const all = Buffer.concat([a, b]);
    const parts = splitBatches(all, { verifyCrc: true });
    expect(parts.map((p) => p.toString('hex'))).toEqual([a.toString('hex'), b.toString('hex')]);
    expect(parts[1]!.buffer).toBe(all.buffer); // views, not copies
    expect(splitBatches(Buffer.alloc(0))).toEqual([]);
    expectCode(() => splitBatches(all.subarray(0, all.length - 1)), RecordsErrorCode.CORRUPT_MESSAGE);
    expectCode(() => splitBatches(Buffer.concat([all, Buffer.alloc(5)])), RecordsErrorCode.CORRUPT_MESSAGE);
  });
});
