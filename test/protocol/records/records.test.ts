import { describe, expect, it } from 'vitest';
import {
  CONTROL_TYPE_ABORT,
  CONTROL_TYPE_COMMIT,
  buildBatch,
  buildControlBatch,
  decodeBatch,
  decodeRecords,
  firstOffsetAtOrAfterTimestamp,
  recordsOutsideTimes,
  recordsWithoutKey,
  recompressBatch,
} from '../../../src/protocol/records/records.js';
import { checkBatch, computeCrc, readBatchHeader, setBaseOffset } from '../../../src/protocol/records/batch.js';
import { firstOffsetAtOrAfterTimestamp as fromBatchModule } from '../../../src/protocol/records/batch.js';
import { RecordsErrorCode } from '../../../src/protocol/records/errors.js';
import { expectCode } from './helpers.js';

const rec = (i: number, ts: number) => ({
  key: i % 3 === 0 ? null : Buffer.from(`k${i}`),
  value: i % 4 === 0 ? null : Buffer.from(`value-${i}`),
  headers: i % 2 === 0 ? [] : [{ key: `h${i}`, value: Buffer.from('x') }, { key: 'ñ-ü', value: null }],
  timestamp: ts,
});

describe('decodeRecords', () => {
  it('returns absolute offsets, timestamps, null keys and values, headers', () => {
    const input = Array.from({ length: 10 }, (_, i) => rec(i, 1_000_000 + i * 10 - (i === 5 ? 500 : 0)));
    for (const compression of [0, 1, 2, 3, 4]) {
      const b = buildBatch({ baseOffset: 5000, records: input, compression });
      const out = decodeRecords(b);
      expect(out).toEqual(input.map((r, i) => ({ offset: 5000 + i, ...r })));
    }
  });

  it('uses the batch maxTimestamp for every record of a log-append-time batch', () => {
    const b = buildBatch({ records: [rec(1, 10), rec(2, 20)], timestampType: 1, maxTimestamp: 99 });
    expect(decodeRecords(b).map((r) => r.timestamp)).toEqual([99, 99]);
  });

  it('keeps offset-delta gaps (compacted batches)', () => {
    const b = buildBatch({
      baseOffset: 10,
      records: [
        { key: Buffer.from('a'), value: null, offsetDelta: 0, timestamp: 1 },
        { key: Buffer.from('b'), value: null, offsetDelta: 7, timestamp: 2 },
      ],
      lastOffsetDelta: 9,
    });
    expect(readBatchHeader(b).lastOffsetDelta).toBe(9);
    expect(decodeRecords(b).map((r) => r.offset)).toEqual([10, 17]);
  });

  it('decodes an empty batch', () => {
    const b = buildBatch({ records: [] });
    const h = readBatchHeader(b);
    expect(h.recordCount).toBe(0);
    expect(h.lastOffsetDelta).toBe(-1);
    expect(decodeRecords(b)).toEqual([]);
  });

  it('parses control batches (transaction markers)', () => {
    const commit = buildControlBatch({ type: CONTROL_TYPE_COMMIT, producerId: 7, producerEpoch: 2, coordinatorEpoch: 11, baseOffset: 42, timestamp: 5 });
    const h = readBatchHeader(commit);
    expect(h.isControl).toBe(true);
    expect(h.isTransactional).toBe(true);
    expect(h.producerId).toBe(7);
    expect(checkBatch(commit)).toBe(commit.length);
    const { records } = decodeBatch(commit);
    expect(records).toHaveLength(1);
    expect(records[0]!.offset).toBe(42);
    expect(records[0]!.control).toEqual({ version: 0, type: CONTROL_TYPE_COMMIT });
    expect(records[0]!.value!.readInt32BE(2)).toBe(11);
    const abort = buildControlBatch({ type: CONTROL_TYPE_ABORT, producerId: 7, producerEpoch: 2, coordinatorEpoch: 11 });
    expect(decodeRecords(abort)[0]!.control).toEqual({ version: 0, type: CONTROL_TYPE_ABORT });
    expect(decodeRecords(buildBatch({ records: [rec(1, 1)] }))[0]!.control).toBeUndefined();
  });

  it('returns views into the batch for uncompressed data (no copies)', () => {
    const b = buildBatch({ records: [rec(1, 1)] });
    expect(decodeRecords(b)[0]!.value!.buffer).toBe(b.buffer);
  });

  it('reports malformed records as INVALID_RECORD', () => {
    const good = buildBatch({ records: [rec(1, 1), rec(2, 2)] });
    const withCount = (n: number) => {
      const b = Buffer.from(good);
      b.writeInt32BE(n, 57);
      return b;
    };
    expectCode(() => decodeRecords(withCount(3)), RecordsErrorCode.INVALID_RECORD); // fewer records than declared
    expectCode(() => decodeRecords(withCount(1)), RecordsErrorCode.INVALID_RECORD); // bytes left over
    expectCode(() => decodeRecords(withCount(-1)), RecordsErrorCode.INVALID_RECORD);
    const badLen = Buffer.from(good);
    badLen[61] = 0x7f; // record length varint -64
    expectCode(() => decodeRecords(badLen), RecordsErrorCode.INVALID_RECORD);
  });

  it('reports a truncated batch or a wrong magic as CORRUPT_MESSAGE', () => {
    const good = buildBatch({ records: [rec(1, 1)] });
    expectCode(() => decodeRecords(good.subarray(0, good.length - 1)), RecordsErrorCode.CORRUPT_MESSAGE);
    const m1 = Buffer.from(good);
    m1[16] = 1;
    expectCode(() => decodeRecords(m1), RecordsErrorCode.CORRUPT_MESSAGE);
    const gz = Buffer.from(buildBatch({ records: [rec(1, 1)], compression: 1 }));
    gz[gz.length - 6]! ^= 0xff; // inside the gzip trailer CRC
    expectCode(() => decodeRecords(gz), RecordsErrorCode.CORRUPT_MESSAGE);
  });

  it('reports codec 5-7 as UNSUPPORTED_COMPRESSION_TYPE', () => {
    const b = Buffer.from(buildBatch({ records: [rec(1, 1)] }));
    b.writeInt16BE(6, 21);
    b.writeUInt32BE(computeCrc(b), 17);
    expectCode(() => decodeRecords(b), RecordsErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
  });
});

describe('recompressBatch', () => {
  it('rebuilds a batch in another codec with the same records, offsets, producer fields and timestamps', () => {
    const input = Array.from({ length: 7 }, (_, i) => ({ ...rec(i, 5000 - i * 7), offsetDelta: i * 2 }));
    for (const from of [0, 1, 2, 3, 4]) {
      const b = buildBatch({ records: input, compression: from, producerId: 42, producerEpoch: 3, baseSequence: 17, lastOffsetDelta: 20 });
      for (const to of [0, 1, 2, 3, 4]) {
        const r = recompressBatch(b, to);
        expect(checkBatch(r)).toBe(r.length);
        const h = readBatchHeader(r);
        const o = readBatchHeader(b);
        expect(h.compression).toBe(to);
        expect({ ...h, compression: 0, attributes: 0, crc: 0, batchLength: 0, totalSize: 0 }).toEqual({ ...o, compression: 0, attributes: 0, crc: 0, batchLength: 0, totalSize: 0 });
        expect(decodeRecords(r)).toEqual(decodeRecords(b));
      }
    }
  });
});

describe('recordsOutsideTimes', () => {
  it('lists every record outside [min, max] in every codec, also below the first record\'s time', () => {
    for (const compression of [0, 1, 2, 3, 4]) {
      const b = buildBatch({ records: [50, 10, 70, -1, 90].map((ts, i) => ({ key: null, value: Buffer.from([i]), timestamp: ts })), compression });
      expect(recordsOutsideTimes(b, 10, 90)).toEqual([]);
      expect(recordsOutsideTimes(b, 20, 90)).toEqual([{ index: 1, offset: 1, timestamp: 10 }]);
      expect(recordsOutsideTimes(b, 0, 80)).toEqual([{ index: 4, offset: 4, timestamp: 90 }]);
      expect(recordsOutsideTimes(b, 60, 65).map((r) => r.index)).toEqual([0, 1, 2, 4]);
    }
  });

  it('passes a log-append-time batch (its time is the broker\'s) without decoding it', () => {
    const b = buildBatch({ records: [rec(1, 10)], timestampType: 1, maxTimestamp: 99 });
    b.fill(0xff, 61);
    expect(recordsOutsideTimes(b, 1000, 2000)).toEqual([]);
  });
});

describe('recordsWithoutKey', () => {
  it('lists the records with a null key (an empty key is a key)', () => {
    const b = buildBatch({ records: [Buffer.from('a'), null, Buffer.alloc(0), null].map((key) => ({ key, value: null })), compression: 1 });
    expect(recordsWithoutKey(b)).toEqual([1, 3]);
  });
});

describe('firstOffsetAtOrAfterTimestamp', () => {
  const b = buildBatch({
    baseOffset: 100,
    records: [50, 10, 70, 60, 90].map((ts, i) => ({ key: null, value: Buffer.from([i]), timestamp: ts })),
  });

  it('finds the first record at or after the timestamp, in offset order', () => {
    expect(firstOffsetAtOrAfterTimestamp(b, 0)).toEqual({ offset: 100, timestamp: 50 });
    expect(firstOffsetAtOrAfterTimestamp(b, 55)).toEqual({ offset: 102, timestamp: 70 });
    expect(firstOffsetAtOrAfterTimestamp(b, 60)).toEqual({ offset: 102, timestamp: 70 });
    expect(firstOffsetAtOrAfterTimestamp(b, 80)).toEqual({ offset: 104, timestamp: 90 });
    expect(firstOffsetAtOrAfterTimestamp(b, 90)).toEqual({ offset: 104, timestamp: 90 });
    expect(firstOffsetAtOrAfterTimestamp(b, 91)).toBeNull();
    expect(fromBatchModule).toBe(firstOffsetAtOrAfterTimestamp);
  });

  it('skips a batch by maxTimestamp without decoding its records', () => {
    const broken = Buffer.from(b);
    broken.fill(0xff, 61); // records are garbage now
    expect(firstOffsetAtOrAfterTimestamp(broken, 91)).toBeNull();
    expectCode(() => firstOffsetAtOrAfterTimestamp(broken, 50), RecordsErrorCode.INVALID_RECORD);
  });

  it('uses absolute offsets after setBaseOffset, and maxTimestamp for log-append-time', () => {
    const c = Buffer.from(b);
    setBaseOffset(c, 2 ** 40);
    expect(firstOffsetAtOrAfterTimestamp(c, 55)).toEqual({ offset: 2 ** 40 + 2, timestamp: 70 });
    const lat = buildBatch({ baseOffset: 3, records: [rec(1, 1), rec(2, 2)], timestampType: 1, maxTimestamp: 500 });
    expect(firstOffsetAtOrAfterTimestamp(lat, 400)).toEqual({ offset: 3, timestamp: 500 });
  });
});
