import CRC32 from 'crc-32';
import { describe, expect, it } from 'vitest';
import {
  downConvert,
  encodeMessage,
  parseMessageSet,
  upConvert,
} from '../../../src/protocol/records/legacy.js';
import { buildBatch, buildControlBatch, decodeRecords } from '../../../src/protocol/records/records.js';
import { compress, xxh32Small } from '../../../src/protocol/records/compression.js';
import { readBatchHeader, setBaseOffset } from '../../../src/protocol/records/batch.js';
import { RecordsErrorCode } from '../../../src/protocol/records/errors.js';
import { expectCode, hex } from './helpers.js';

const b = (s: string) => Buffer.from(s);

// A magic 1 message written by hand from the spec (Kafka docs 5.3.3).
const GOLDEN_V1 = hex(`
  0000000000000007   # offset 7
  00000018           # message_size 24
  ????????           # crc (filled below)
  01                 # magic 1
  00                 # attributes
  0000018bcfe56800   # timestamp 1700000000000
  00000001 6b        # key "k"
  00000001 76        # value "v"
`.replace('????????', '00000000'));
GOLDEN_V1.writeUInt32BE(CRC32.buf(GOLDEN_V1.subarray(16)) >>> 0, 12);

describe('legacy golden bytes', () => {
  it('encodeMessage writes the spec layout with a CRC-32 over magic..value', () => {
    const m = encodeMessage({ offset: 7, magic: 1, timestamp: 1700000000000, key: b('k'), value: b('v') });
    expect(m.toString('hex')).toBe(GOLDEN_V1.toString('hex'));
    // the known CRC-32 check value, so the crc-32 package is the IEEE polynomial
    expect(CRC32.buf(b('123456789')) >>> 0).toBe(0xcbf43926);
  });

  it('parses it', () => {
    expect(parseMessageSet(GOLDEN_V1)).toEqual({
      magic: 1,
      shallowCount: 1,
      compression: 0,
      logAppendTime: false,
      messages: [{ offset: 7, magic: 1, timestamp: 1700000000000, timestampType: 0, key: b('k'), value: b('v') }],
    });
  });
});

describe('parseMessageSet', () => {
  it('computes absolute offsets of magic 1 inner messages from the wrapper offset', () => {
    const inner = Buffer.concat([0, 1, 2].map((i) => encodeMessage({ offset: i, magic: 1, timestamp: 100 + i, key: null, value: b(`v${i}`) })));
    const w = encodeMessage({ offset: 52, magic: 1, attributes: 1, timestamp: 102, key: null, value: compress(1, inner) });
    const set = parseMessageSet(w);
    expect(set.compression).toBe(1);
    expect(set.shallowCount).toBe(1);
    expect(set.messages.map((m) => m.offset)).toEqual([50, 51, 52]);
    expect(set.messages.map((m) => m.timestamp)).toEqual([100, 101, 102]);
  });

  it('a log-append-time wrapper gives its timestamp to every inner message', () => {
    const inner = Buffer.concat([0, 1].map((i) => encodeMessage({ offset: i, magic: 1, timestamp: 5, key: null, value: b('x') })));
    const w = encodeMessage({ offset: 1, magic: 1, attributes: 1 | 0x08, timestamp: 999, key: null, value: compress(1, inner) });
    const set = parseMessageSet(w);
    expect(set.logAppendTime).toBe(true);
    expect(set.messages.map((m) => [m.timestamp, m.timestampType])).toEqual([[999, 1], [999, 1]]);
    const batch = upConvert(w);
    expect(readBatchHeader(batch).timestampType).toBe(1);
    expect(decodeRecords(batch).map((r) => r.timestamp)).toEqual([999, 999]);
  });

  it('reads magic 0 LZ4 wrappers with the broken header checksum old writers produced', () => {
    const inner = Buffer.concat([encodeMessage({ offset: 0, magic: 0, key: null, value: b('lz4 v0') })]);
    const frame = Buffer.from(compress(3, inner));
    frame[6] = (xxh32Small(frame, 0, 6) >>> 8) & 0xff; // checksum over magic + descriptor (KAFKA-1493)
    const w = encodeMessage({ offset: 0, magic: 0, attributes: 3, key: null, value: frame });
    expect(parseMessageSet(w).messages[0]!.value).toEqual(b('lz4 v0'));
  });

  it('an empty set is an empty magic 0 set; upConvert refuses it', () => {
    expect(parseMessageSet(Buffer.alloc(0)).messages).toEqual([]);
    expectCode(() => upConvert(Buffer.alloc(0)), RecordsErrorCode.INVALID_RECORD);
  });

  it('refuses a wrapper that inflates past the limit', () => {
    const inner = Buffer.concat(Array.from({ length: 200 }, (_, i) => encodeMessage({ offset: i, magic: 1, timestamp: 1, key: null, value: Buffer.alloc(1000) })));
    const w = encodeMessage({ offset: 199, magic: 1, attributes: 1, timestamp: 1, key: null, value: compress(1, inner) });
    expectCode(() => parseMessageSet(w, { maxDecompressedBytes: 10_000 }), RecordsErrorCode.CORRUPT_MESSAGE);
    expect(parseMessageSet(w).messages).toHaveLength(200);
  });
});

describe('downConvert', () => {
  const input = [
    { key: b('a'), value: b('A'), headers: [{ key: 'lost', value: b('h') }], timestamp: 1000 },
    { key: null, value: b('B'), timestamp: 1005 },
    { key: b('c'), value: null, timestamp: 990 },
  ];

  for (const magic of [0, 1] as const) {
    for (const compression of [0, 1, 2, 3, 4]) {
      it(`v2 (codec ${compression}) -> magic ${magic} -> parse keeps offsets, keys, values${magic ? ', timestamps' : ''}`, () => {
        const batch = buildBatch({ baseOffset: 0, records: input, compression });
        setBaseOffset(batch, 4000);
        const set = parseMessageSet(downConvert([batch], magic));
        expect(set.magic).toBe(magic);
        expect(set.compression).toBe(0);
        expect(set.messages).toEqual(
          input.map((r, i) => ({
            offset: 4000 + i,
            magic,
            timestamp: magic === 0 ? -1 : r.timestamp,
            timestampType: 0,
            key: r.key,
            value: r.value,
          })),
        );
      });
    }
  }

  it('round trips through up-conversion (headers aside)', () => {
    const batch = buildBatch({ records: input });
    const back = decodeRecords(upConvert(downConvert([batch], 1)));
    expect(back).toEqual(decodeRecords(batch).map((r) => ({ ...r, headers: [] })));
  });

  it('drops control batches and records below firstOffset, spans several batches', () => {
    const a = buildBatch({ baseOffset: 10, records: input });
    const marker = buildControlBatch({ type: 1, producerId: 1, producerEpoch: 0, coordinatorEpoch: 0, baseOffset: 13 });
    const c = buildBatch({ baseOffset: 14, records: input.slice(0, 1) });
    const all = parseMessageSet(downConvert([a, marker, c], 1));
    expect(all.messages.map((m) => m.offset)).toEqual([10, 11, 12, 14]);
    const from = parseMessageSet(downConvert([a, marker, c], 1, { firstOffset: 12 }));
    expect(from.messages.map((m) => m.offset)).toEqual([12, 14]);
  });

  it('keeps the log-append-time bit for magic 1', () => {
    const batch = buildBatch({ records: input, timestampType: 1, maxTimestamp: 7777 });
    const set = parseMessageSet(downConvert([batch], 1));
    expect(set.logAppendTime).toBe(true);
    expect(set.messages.every((m) => m.timestamp === 7777 && m.timestampType === 1)).toBe(true);
  });

  it('converts nothing into an empty set', () => {
    expect(downConvert([], 0).length).toBe(0);
  });
});
