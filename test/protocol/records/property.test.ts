import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { splitProducedRecords } from '../../../src/protocol/records/produce.js';
import { buildBatch, decodeRecords, firstOffsetAtOrAfterTimestamp, type RecordInput } from '../../../src/protocol/records/records.js';
import { checkBatch, readBatchHeader, setBaseOffset, splitBatches } from '../../../src/protocol/records/batch.js';
import { compress, decompress } from '../../../src/protocol/records/compression.js';
import { downConvert, encodeMessage, parseMessageSet } from '../../../src/protocol/records/legacy.js';
import { RecordsError } from '../../../src/protocol/records/errors.js';

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const nullableBytes = (maxLength: number) => fc.option(bytes(maxLength), { nil: null });

const recordArb: fc.Arbitrary<RecordInput> = fc.record({
  key: nullableBytes(40),
  value: nullableBytes(300),
  headers: fc.array(fc.record({ key: fc.string({ unit: 'grapheme', maxLength: 12 }), value: nullableBytes(20) }), { maxLength: 4 }),
  // client timestamps: anything from -1 to far beyond today, deltas of either sign
  timestamp: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 2 ** 45 })),
});

const batchOptsArb = fc.record({
  records: fc.array(recordArb, { minLength: 1, maxLength: 30 }),
  compression: fc.constantFrom(0, 1, 2, 3, 4),
  producer: fc.option(
    fc.record({
      producerId: fc.integer({ min: 0, max: 2 ** 40 }),
      producerEpoch: fc.integer({ min: 0, max: 32767 }),
      baseSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      isTransactional: fc.boolean(),
    }),
    { nil: undefined },
  ),
  baseOffset: fc.integer({ min: 0, max: 2 ** 50 }),
  leaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
});

/** Calls f; passes when it returns or throws a RecordsError, fails on any other throw. */
function onlyRecordsError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof RecordsError)) throw new Error(`threw ${String((e as Error)?.name)}: ${String((e as Error)?.message)}`);
  }
}

/** Every decoding entry point on one input. */
function everyDecoder(buf: Buffer): void {
  for (const produceVersion of [0, 2, 3, 9]) onlyRecordsError(() => splitProducedRecords(buf, { produceVersion }));
  onlyRecordsError(() => readBatchHeader(buf));
  onlyRecordsError(() => checkBatch(buf));
  onlyRecordsError(() => splitBatches(buf));
  onlyRecordsError(() => decodeRecords(buf, { maxDecompressedBytes: 1 << 22 }));
  onlyRecordsError(() => firstOffsetAtOrAfterTimestamp(buf, 0, { maxDecompressedBytes: 1 << 22 }));
  onlyRecordsError(() => downConvert([buf], 1, { maxDecompressedBytes: 1 << 22 }));
  onlyRecordsError(() => parseMessageSet(buf, { maxDecompressedBytes: 1 << 22 }));
}

/** Byte-level mutations: flips, overwrites, truncation, insertion. */
const mutate = (base: Buffer) =>
  fc
    .array(
      fc.oneof(
        fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ kind: fc.constant('set' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
        fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), data: bytes(8) }),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((ops) => {
      let b = Buffer.from(base);
      for (const op of ops) {
        if (b.length === 0) break;
        const at = op.at % b.length;
        if (op.kind === 'flip') b[at]! ^= 1 << op.bit;
        else if (op.kind === 'set') b[at] = op.v;
        else if (op.kind === 'truncate') b = b.subarray(0, at);
        else b = Buffer.concat([b.subarray(0, at), op.data, b.subarray(at)]);
      }
      return b;
    });

describe('properties', () => {
  it('buildBatch -> splitProducedRecords -> decodeRecords is the identity', () => {
    fc.assert(
      fc.property(batchOptsArb, (o) => {
        const batch = buildBatch({ records: o.records, compression: o.compression, ...(o.producer ?? {}) });
        const [stored] = splitProducedRecords(batch, { produceVersion: 9 });
        expect(stored).toBe(batch);
        setBaseOffset(stored!, o.baseOffset);
        const h = readBatchHeader(stored!);
        expect(h.recordCount).toBe(o.records.length);
        expect(h.lastOffsetDelta).toBe(o.records.length - 1);
        expect(h.compression).toBe(o.compression);
        expect(h.maxTimestamp).toBe(Math.max(...o.records.map((r) => r.timestamp!)));
        expect(checkBatch(stored!)).toBe(stored!.length);
        const decoded = decodeRecords(stored!);
        expect(decoded).toEqual(
          o.records.map((r, i) => ({ offset: o.baseOffset + i, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers })),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('down-conversion keeps offsets, keys and values (and timestamps for magic 1)', () => {
    fc.assert(
      fc.property(batchOptsArb, fc.constantFrom(0 as const, 1 as const), (o, magic) => {
        const batch = buildBatch({ baseOffset: o.baseOffset, records: o.records, compression: o.compression });
        const set = parseMessageSet(downConvert([batch], magic));
        expect(set.messages).toEqual(
          o.records.map((r, i) => ({
            offset: o.baseOffset + i,
            magic,
            timestamp: magic === 0 ? -1 : r.timestamp,
            timestampType: 0,
            key: r.key,
            value: r.value,
          })),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('random bytes only ever throw RecordsError', () => {
    fc.assert(fc.property(bytes(200), (buf) => everyDecoder(buf)), { numRuns: 2000 });
  });

  it('random bytes behind a plausible v2 header only ever throw RecordsError', () => {
    const header = buildBatch({ records: [{ key: null, value: Buffer.from('x'), timestamp: 1 }] }).subarray(0, 61);
    fc.assert(
      fc.property(bytes(300), fc.integer({ min: 0, max: 7 }), fc.integer({ min: -2, max: 50 }), (tail, codec, count) => {
        const buf = Buffer.concat([header, tail]);
        buf.writeInt32BE(buf.length - 12, 8);
        buf.writeInt16BE(codec, 21);
        buf.writeInt32BE(count, 57);
        everyDecoder(buf);
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated valid batches only ever throw RecordsError', () => {
    fc.assert(
      fc.property(
        batchOptsArb.chain((o) => mutate(buildBatch({ records: o.records, compression: o.compression, ...(o.producer ?? {}) }))),
        (buf) => everyDecoder(buf),
      ),
      { numRuns: 1000 },
    );
  });

  it('mutated legacy message sets, plain and compressed, only ever throw RecordsError', () => {
    const legacyArb = fc
      .record({
        magic: fc.constantFrom(0 as const, 1 as const),
        codec: fc.constantFrom(0, 1, 2, 3),
        msgs: fc.array(fc.record({ key: nullableBytes(20), value: nullableBytes(60), ts: fc.integer({ min: 0, max: 2 ** 42 }) }), {
          minLength: 1,
          maxLength: 8,
        }),
      })
      .map(({ magic, codec, msgs }) => {
        const set = Buffer.concat(msgs.map((m, i) => encodeMessage({ offset: i, magic, timestamp: m.ts, key: m.key, value: m.value })));
        if (codec === 0) return set;
        return encodeMessage({ offset: msgs.length - 1, magic, attributes: codec, timestamp: 0, key: null, value: compress(codec, set) });
      });
    fc.assert(fc.property(legacyArb.chain(mutate), (buf) => everyDecoder(buf)), { numRuns: 1000 });
  });

  it('decompress on random or mutated input only ever throws RecordsError', () => {
    const compressed = fc
      .tuple(fc.constantFrom(1, 2, 3, 4), bytes(2000))
      .chain(([codec, data]) => fc.tuple(fc.constant(codec), fc.oneof(mutate(compress(codec, data)), bytes(100))));
    fc.assert(
      fc.property(compressed, ([codec, data]) => {
        onlyRecordsError(() => decompress(codec, data, { maxBytes: 1 << 22 }));
        onlyRecordsError(() => decompress(codec, data, { maxBytes: 1 << 22, brokenLz4Checksum: true }));
      }),
      { numRuns: 1500 },
    );
  });
});
