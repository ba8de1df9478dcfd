import { describe, expect, it } from 'vitest';
import { splitProducedRecords } from '../../../src/protocol/records/produce.js';
import { buildBatch, decodeRecords, type BuildBatchOptions } from '../../../src/protocol/records/records.js';
import { computeCrc, readBatchHeader, setBaseOffset } from '../../../src/protocol/records/batch.js';
import { compress } from '../../../src/protocol/records/compression.js';
import { encodeMessage } from '../../../src/protocol/records/legacy.js';
import { RecordsErrorCode } from '../../../src/protocol/records/errors.js';
import { expectCode } from './helpers.js';

const records = [
  { key: Buffer.from('k1'), value: Buffer.from('v1'), timestamp: 1000 },
  { key: null, value: Buffer.from('v2'), timestamp: 1001 },
];
const batch = (o: Partial<BuildBatchOptions> = {}) => buildBatch({ records, ...o });

/** Rewrites header fields of a copy and fixes the CRC, so only the rule under test fails. */
function patched(b: Buffer, f: (c: Buffer) => void): Buffer {
  const c = Buffer.from(b);
  f(c);
  c.writeUInt32BE(computeCrc(c), 17);
  return c;
}

const { CORRUPT_MESSAGE, INVALID_RECORD, UNSUPPORTED_COMPRESSION_TYPE, INVALID_TIMESTAMP } = RecordsErrorCode;

describe('splitProducedRecords: v2 batches', () => {
  it('returns the batch itself, a view of the request bytes', () => {
    const req = Buffer.concat([Buffer.from('xx'), batch()]).subarray(2);
    const out = splitProducedRecords(req, { produceVersion: 9 });
    expect(out).toHaveLength(1);
    expect(out[0]!.buffer).toBe(req.buffer);
    expect(out[0]!.byteOffset).toBe(req.byteOffset);
    expect(out[0]!.length).toBe(req.length);
  });

  it('accepts every codec (zstd from Produce v7), idempotent and transactional batches', () => {
    for (const compression of [0, 1, 2, 3, 4]) {
      const b = batch({ compression, producerId: 5, producerEpoch: 1, baseSequence: 0, isTransactional: compression === 2 });
      expect(splitProducedRecords(b, { produceVersion: 7 })).toHaveLength(1);
    }
  });

  it('zstd before Produce v7 is UNSUPPORTED_COMPRESSION_TYPE', () => {
    for (const v of [0, 2, 3, 6]) expectCode(() => splitProducedRecords(batch({ compression: 4 }), { produceVersion: v }), UNSUPPORTED_COMPRESSION_TYPE);
  });

  it('codec ids 5-7 are UNSUPPORTED_COMPRESSION_TYPE', () => {
    for (const codec of [5, 6, 7]) {
      const b = patched(batch(), (c) => c.writeInt16BE(codec, 21));
      expectCode(() => splitProducedRecords(b, { produceVersion: 9 }), UNSUPPORTED_COMPRESSION_TYPE);
    }
  });

  it('a corrupted byte anywhere under the CRC is CORRUPT_MESSAGE', () => {
    const b = batch({ compression: 1 });
    for (let i = 17; i < b.length; i++) {
      const c = Buffer.from(b);
      c[i]! ^= 0x01;
      expectCode(() => splitProducedRecords(c, { produceVersion: 9 }), CORRUPT_MESSAGE);
    }
  });

  it('partition leader epoch is not under the CRC', () => {
    const c = Buffer.from(batch());
    c.writeInt32BE(12345, 12);
    expect(splitProducedRecords(c, { produceVersion: 9 })).toHaveLength(1);
  });

  it('truncated batches and trailing bytes are CORRUPT_MESSAGE', () => {
    const b = batch();
    for (const n of [1, 11, 12, 20, 60, b.length - 1]) {
      expectCode(() => splitProducedRecords(b.subarray(0, n), { produceVersion: 9 }), CORRUPT_MESSAGE);
    }
    for (const extra of [1, 11, 12, 40]) {
      expectCode(() => splitProducedRecords(Buffer.concat([b, Buffer.alloc(extra)]), { produceVersion: 9 }), CORRUPT_MESSAGE);
    }
  });

  it('batchLength below 49 or a magic above 2 is CORRUPT_MESSAGE', () => {
    const b = Buffer.from(batch());
    b.writeInt32BE(48, 8);
    expectCode(() => splitProducedRecords(b.subarray(0, 60), { produceVersion: 9 }), CORRUPT_MESSAGE);
    const m = Buffer.from(batch());
    m[16] = 3;
    expectCode(() => splitProducedRecords(m, { produceVersion: 9 }), CORRUPT_MESSAGE);
    const neg = Buffer.from(batch());
    neg[16] = 0xff;
    expectCode(() => splitProducedRecords(neg, { produceVersion: 9 }), CORRUPT_MESSAGE);
  });

  it('empty records: INVALID_RECORD on v3+, no batch on v0-2', () => {
    expectCode(() => splitProducedRecords(Buffer.alloc(0), { produceVersion: 3 }), INVALID_RECORD);
    expect(splitProducedRecords(Buffer.alloc(0), { produceVersion: 2 })).toEqual([]);
  });

  it('more than one batch is INVALID_RECORD, on every version', () => {
    const two = Buffer.concat([batch(), batch()]);
    for (const v of [0, 2, 3, 9]) expectCode(() => splitProducedRecords(two, { produceVersion: v }), INVALID_RECORD);
    const idem = batch({ producerId: 1, producerEpoch: 0, baseSequence: 0 });
    expectCode(() => splitProducedRecords(Buffer.concat([idem, idem]), { produceVersion: 9 }), INVALID_RECORD);
  });

  it('a magic 2 batch is accepted on Produce v0-2 as Kafka does', () => {
    expect(splitProducedRecords(batch(), { produceVersion: 2 })).toHaveLength(1);
  });

  it('a non-zero base offset is INVALID_RECORD', () => {
    const b = batch();
    const c = Buffer.from(b);
    setBaseOffset(c, 1);
    expectCode(() => splitProducedRecords(c, { produceVersion: 9 }), INVALID_RECORD);
    setBaseOffset(c, 2 ** 32);
    expectCode(() => splitProducedRecords(c, { produceVersion: 9 }), INVALID_RECORD);
  });

  it('record count and lastOffsetDelta must agree and be positive (INVALID_RECORD)', () => {
    const cases: [number, number][] = [
      [0, 0], // count 0 (lastOffsetDelta 0 claims one record)
      [-1, 0],
      [1, 3], // count 3 but offsets claim 2
      [-1, -1],
      [5, 2],
    ];
    for (const [lastOffsetDelta, count] of cases) {
      const b = patched(batch(), (c) => {
        c.writeInt32BE(lastOffsetDelta, 23);
        c.writeInt32BE(count, 57);
      });
      expectCode(() => splitProducedRecords(b, { produceVersion: 9 }), INVALID_RECORD);
    }
  });

  it('control batches from clients are INVALID_RECORD', () => {
    const b = batch({ isControl: true, isTransactional: true, producerId: 1, producerEpoch: 0, baseSequence: 0 });
    expectCode(() => splitProducedRecords(b, { produceVersion: 9 }), INVALID_RECORD);
  });

  it('a producer id with a negative base sequence is INVALID_RECORD', () => {
    const b = batch({ producerId: 3, producerEpoch: 0, baseSequence: -1 });
    expectCode(() => splitProducedRecords(b, { produceVersion: 9 }), INVALID_RECORD);
    // no producer id: sequence -1 is the norm
    expect(splitProducedRecords(batch({ producerId: -1, baseSequence: -1 }), { produceVersion: 9 })).toHaveLength(1);
  });

  it('LogAppendTime set by a producer is INVALID_TIMESTAMP', () => {
    expectCode(() => splitProducedRecords(batch({ timestampType: 1 }), { produceVersion: 9 }), INVALID_TIMESTAMP);
  });

  it('legacy messages on Produce v3+ are INVALID_RECORD', () => {
    const m = encodeMessage({ offset: 0, magic: 1, timestamp: 5, key: null, value: Buffer.from('v') });
    for (const v of [3, 9]) expectCode(() => splitProducedRecords(m, { produceVersion: v }), INVALID_RECORD);
  });
});

describe('splitProducedRecords: legacy message sets (Produce v0-2)', () => {
  const m0 = (offset: number, key: string | null, value: string | null, attributes = 0) =>
    encodeMessage({ offset, magic: 0, attributes, key: key === null ? null : Buffer.from(key), value: value === null ? null : Buffer.from(value) });
  const m1 = (offset: number, ts: number, key: string | null, value: string | null, attributes = 0) =>
    encodeMessage({ offset, magic: 1, timestamp: ts, attributes, key: key === null ? null : Buffer.from(key), value: value === null ? null : Buffer.from(value) });

  it('up-converts magic 0 into one v2 batch with timestamp -1', () => {
    const set = Buffer.concat([m0(0, 'a', 'A'), m0(0, null, 'B'), m0(0, 'c', null)]);
    const out = splitProducedRecords(set, { produceVersion: 0 });
    expect(out).toHaveLength(1);
    const h = readBatchHeader(out[0]!);
    expect(h).toMatchObject({ magic: 2, baseOffset: 0, recordCount: 3, lastOffsetDelta: 2, producerId: -1, compression: 0, timestampType: 0 });
    expect(splitProducedRecords(out[0]!, { produceVersion: 3 })).toHaveLength(1); // valid as a produced v2 batch
    expect(decodeRecords(out[0]!)).toEqual([
      { offset: 0, timestamp: -1, key: Buffer.from('a'), value: Buffer.from('A'), headers: [] },
      { offset: 1, timestamp: -1, key: null, value: Buffer.from('B'), headers: [] },
      { offset: 2, timestamp: -1, key: Buffer.from('c'), value: null, headers: [] },
    ]);
  });

  it('up-converts magic 1 keeping timestamps', () => {
    const set = Buffer.concat([m1(0, 111, 'a', 'A'), m1(1, 99, null, 'B')]);
    const out = splitProducedRecords(set, { produceVersion: 2 });
    expect(decodeRecords(out[0]!).map((r) => [r.offset, r.timestamp])).toEqual([[0, 111], [1, 99]]);
    expect(readBatchHeader(out[0]!).maxTimestamp).toBe(111);
  });

  for (const codec of [1, 2, 3]) {
    it(`expands a codec-${codec} wrapper (magic 1, relative inner offsets)`, () => {
      const inner = Buffer.concat([m1(0, 10, 'a', 'A'), m1(1, 20, 'b', 'B'), m1(2, 30, null, 'C')]);
      const wrapper = encodeMessage({ offset: 2, magic: 1, attributes: codec, timestamp: 30, key: null, value: compress(codec, inner) });
      const out = splitProducedRecords(wrapper, { produceVersion: 2 });
      expect(decodeRecords(out[0]!).map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString()])).toEqual([
        [0, 10, 'a', 'A'],
        [1, 20, 'b', 'B'],
        [2, 30, null, 'C'],
      ]);
    });

    it(`expands a codec-${codec} wrapper (magic 0)`, () => {
      const inner = Buffer.concat([m0(0, 'a', 'A'), m0(1, 'b', 'B')]);
      const wrapper = encodeMessage({ offset: 1, magic: 0, attributes: codec, key: null, value: compress(codec, inner) });
      const out = splitProducedRecords(wrapper, { produceVersion: 0 });
      expect(decodeRecords(out[0]!).map((r) => [r.timestamp, r.value?.toString()])).toEqual([[-1, 'A'], [-1, 'B']]);
    });
  }

  it('a flipped byte in a legacy message (size, CRC, magic or body) is CORRUPT_MESSAGE', () => {
    const msg = m1(0, 111, 'a', 'A');
    for (let i = 8; i < msg.length; i++) {
      const c = Buffer.from(msg);
      c[i]! ^= 0x04;
      expectCode(() => splitProducedRecords(c, { produceVersion: 2 }), CORRUPT_MESSAGE);
    }
  });

  it('an inner message with a bad CRC is CORRUPT_MESSAGE', () => {
    const inner = Buffer.from(m1(0, 10, 'a', 'A'));
    inner[inner.length - 1]! ^= 1;
    const wrapper = encodeMessage({ offset: 0, magic: 1, attributes: 1, timestamp: 10, key: null, value: compress(1, inner) });
    expectCode(() => splitProducedRecords(wrapper, { produceVersion: 2 }), CORRUPT_MESSAGE);
  });

  it('truncated and trailing bytes are CORRUPT_MESSAGE', () => {
    const set = Buffer.concat([m1(0, 1, 'a', 'A'), m1(1, 2, 'b', 'B')]);
    expectCode(() => splitProducedRecords(set.subarray(0, set.length - 1), { produceVersion: 2 }), CORRUPT_MESSAGE);
    expectCode(() => splitProducedRecords(Buffer.concat([set, Buffer.alloc(5)]), { produceVersion: 2 }), CORRUPT_MESSAGE);
    const small = Buffer.from(set);
    small.writeInt32BE(13, 8);
    expectCode(() => splitProducedRecords(small, { produceVersion: 2 }), CORRUPT_MESSAGE);
  });

  it('mixed magic is INVALID_RECORD', () => {
    expectCode(() => splitProducedRecords(Buffer.concat([m0(0, 'a', 'A'), m1(1, 2, 'b', 'B')]), { produceVersion: 2 }), INVALID_RECORD);
    expectCode(() => splitProducedRecords(Buffer.concat([m1(0, 2, 'b', 'B'), batch()]), { produceVersion: 2 }), INVALID_RECORD);
  });

  it('a compressed wrapper next to other messages is INVALID_RECORD', () => {
    const wrapper = encodeMessage({ offset: 0, magic: 1, attributes: 1, timestamp: 1, key: null, value: compress(1, m1(0, 1, 'a', 'A')) });
    expectCode(() => splitProducedRecords(Buffer.concat([m1(0, 1, 'x', 'X'), wrapper]), { produceVersion: 2 }), INVALID_RECORD);
  });

  it('null, empty and nested wrappers and inner magic mismatches are INVALID_RECORD', () => {
    const nullValue = encodeMessage({ offset: 0, magic: 1, attributes: 1, timestamp: 1, key: null, value: null });
    expectCode(() => splitProducedRecords(nullValue, { produceVersion: 2 }), INVALID_RECORD);
    const empty = encodeMessage({ offset: 0, magic: 1, attributes: 1, timestamp: 1, key: null, value: compress(1, Buffer.alloc(0)) });
    expectCode(() => splitProducedRecords(empty, { produceVersion: 2 }), INVALID_RECORD);
    const inner = encodeMessage({ offset: 0, magic: 1, attributes: 1, timestamp: 1, key: null, value: compress(1, m1(0, 1, 'a', 'A')) });
    const nested = encodeMessage({ offset: 0, magic: 1, attributes: 1, timestamp: 1, key: null, value: compress(1, inner) });
    expectCode(() => splitProducedRecords(nested, { produceVersion: 2 }), INVALID_RECORD);
    const mismatch = encodeMessage({ offset: 0, magic: 1, attributes: 1, timestamp: 1, key: null, value: compress(1, m0(0, 'a', 'A')) });
    expectCode(() => splitProducedRecords(mismatch, { produceVersion: 2 }), INVALID_RECORD);
  });

  it('zstd and unknown codecs in legacy messages are UNSUPPORTED_COMPRESSION_TYPE', () => {
    for (const codec of [4, 5, 7]) {
      const w = encodeMessage({ offset: 0, magic: 1, attributes: codec, timestamp: 1, key: null, value: Buffer.from('zz') });
      expectCode(() => splitProducedRecords(w, { produceVersion: 2 }), UNSUPPORTED_COMPRESSION_TYPE);
    }
  });

  it('undecodable compressed wrapper values are CORRUPT_MESSAGE', () => {
    for (const codec of [1, 2, 3]) {
      const w = encodeMessage({ offset: 0, magic: 1, attributes: codec, timestamp: 1, key: null, value: Buffer.from('definitely not compressed') });
      expectCode(() => splitProducedRecords(w, { produceVersion: 2 }), CORRUPT_MESSAGE);
    }
  });

  it('LogAppendTime set by a producer is INVALID_TIMESTAMP', () => {
    expectCode(() => splitProducedRecords(m1(0, 1, 'a', 'A', 0x08), { produceVersion: 2 }), INVALID_TIMESTAMP);
  });
});
