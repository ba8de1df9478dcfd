// Reference bytes from kafkajs's own encoders (the record batch v0 = magic 2
// encoder it sends in Produce v3+, and the message set encoders of Produce
// v0-2): what a real client puts on the wire.

import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { splitProducedRecords } from '../../../src/protocol/records/produce.js';
import { buildBatch, decodeRecords } from '../../../src/protocol/records/records.js';
import { readBatchHeader } from '../../../src/protocol/records/batch.js';
import { parseMessageSet } from '../../../src/protocol/records/legacy.js';

const require = createRequire(import.meta.url);
/* eslint-disable @typescript-eslint/no-explicit-any */
const Long: any = require('kafkajs/src/utils/long');
const { RecordBatch }: any = require('kafkajs/src/protocol/recordBatch/v0');
const Record: any = require('kafkajs/src/protocol/recordBatch/record/v0');
const MessageSet: any = require('kafkajs/src/protocol/messageSet');
const { lookupCodec, Types }: any = require('kafkajs/src/protocol/message/compression');

const messages = [
  { key: Buffer.from('key-0'), value: Buffer.from('value-0'), headers: { trace: Buffer.from('abc') }, timestamp: 1700000000000 },
  { key: null, value: Buffer.from('value-1'), headers: {}, timestamp: 1700000000007 },
  { key: Buffer.from('key-2'), value: Buffer.from(''), headers: { a: Buffer.from('1'), b: Buffer.from('2') }, timestamp: 1700000000003 },
];

/** kafkajs's produce v3 path, simplified: records with deltas, then the batch. */
async function kafkajsBatch(compression: number, idempotent: boolean): Promise<Buffer> {
  const firstTimestamp = messages[0]!.timestamp;
  const records = messages.map((m, i) =>
    Record({ key: m.key, value: m.value, headers: m.headers, offsetDelta: i, timestampDelta: m.timestamp - firstTimestamp }),
  );
  const batch = await RecordBatch({
    compression,
    records,
    firstTimestamp,
    maxTimestamp: Math.max(...messages.map((m) => m.timestamp)),
    lastOffsetDelta: records.length - 1,
    ...(idempotent ? { producerId: Long.fromNumber(4242), producerEpoch: 1, firstSequence: 17 } : {}),
  });
  return batch.buffer as Buffer;
}

const expected = messages.map((m, i) => ({
  offset: i,
  timestamp: m.timestamp,
  key: m.key,
  value: m.value,
  headers: Object.entries(m.headers).map(([key, value]) => ({ key, value })),
}));

describe('kafkajs record batches', () => {
  it('an uncompressed kafkajs batch is byte-identical to buildBatch', async () => {
    const ref = await kafkajsBatch(Types.None, false);
    const ours = buildBatch({
      records: expected.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp })),
      partitionLeaderEpoch: 0, // kafkajs defaults
      producerEpoch: 0,
      baseSequence: 0,
    });
    expect(ours.toString('hex')).toBe(ref.toString('hex'));
  });

  it('validates and decodes kafkajs batches, plain and gzip, idempotent or not', async () => {
    for (const compression of [Types.None, Types.GZIP]) {
      for (const idempotent of [false, true]) {
        const ref = await kafkajsBatch(compression, idempotent);
        const [stored] = splitProducedRecords(ref, { produceVersion: 7 });
        expect(stored!.equals(ref)).toBe(true);
        const h = readBatchHeader(stored!);
        expect(h.compression).toBe(compression);
        expect(h.producerId).toBe(idempotent ? 4242 : -1);
        expect(h.baseSequence).toBe(idempotent ? 17 : 0);
        expect(decodeRecords(stored!)).toEqual(expected);
      }
    }
  });

  it('kafkajs decodes batches we build, with every codec it has built in', async () => {
    const decoder: any = require('kafkajs/src/protocol/decoder');
    const RecordBatchDecoder: any = require('kafkajs/src/protocol/recordBatch/v0/decoder');
    const ours = buildBatch({ baseOffset: 77, records: expected, compression: 1 });
    const decoded = await RecordBatchDecoder(new decoder(ours));
    expect(decoded.records.map((r: any) => [r.offset, r.key?.toString() ?? null, r.value.toString(), r.timestamp])).toEqual(
      expected.map((r, i) => [String(77 + i), r.key?.toString() ?? null, r.value.toString(), String(r.timestamp)]),
    );
  });
});

describe('kafkajs legacy message sets (Produce v0-2)', () => {
  const entries = [
    { key: Buffer.from('k0'), value: Buffer.from('v0'), timestamp: 1600000000000 },
    { key: null, value: Buffer.from('v1'), timestamp: 1600000000001 },
  ];

  for (const messageVersion of [0, 1]) {
    it(`uncompressed magic ${messageVersion}`, () => {
      const set: Buffer = MessageSet({ messageVersion, compression: Types.None, entries }).buffer;
      const [batch] = splitProducedRecords(set, { produceVersion: messageVersion === 0 ? 0 : 2 });
      expect(decodeRecords(batch!).map((r) => [r.offset, r.timestamp, r.key, r.value])).toEqual(
        entries.map((e, i) => [i, messageVersion === 0 ? -1 : e.timestamp, e.key, e.value]),
      );
    });

    it(`gzip wrapper, magic ${messageVersion}, as kafkajs produce v${messageVersion === 0 ? 0 : 2} builds it`, async () => {
      const inner = MessageSet({ messageVersion, compression: Types.GZIP, entries });
      const value: Buffer = await lookupCodec(Types.GZIP).compress(inner);
      const set: Buffer = MessageSet({
        messageVersion,
        entries: [{ compression: Types.GZIP, timestamp: entries[0]!.timestamp, key: null, value }],
      }).buffer;
      const parsed = parseMessageSet(set);
      expect(parsed.compression).toBe(1);
      expect(parsed.magic).toBe(messageVersion);
      const [batch] = splitProducedRecords(set, { produceVersion: messageVersion === 0 ? 1 : 2 });
      expect(decodeRecords(batch!).map((r) => [r.timestamp, r.key, r.value])).toEqual(
        entries.map((e) => [messageVersion === 0 ? -1 : e.timestamp, e.key, e.value]),
      );
    });
  }
});
