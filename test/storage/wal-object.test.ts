// A WAL object's data CRC (what recovery checks an embedded commit against) is
// made from its batches' own CRCs: it must be the CRC of the bytes as written.
import { crc32c } from '@node-rs/crc32';
import { randomBytes } from 'node:crypto';
import { expect, test } from 'vitest';
import { buildBatch } from '../../src/protocol/records/records.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import { encodeWalObject, readEmbeddedCommit } from '../../src/storage/wal-object.js';

test('the data CRC of runs of large and small batches is that of the bytes, and a torn write fails it', async () => {
  const batch = (base: number, bytes: number) => buildBatch({ baseOffset: base, records: [{ key: null, value: randomBytes(bytes), timestamp: 1 }] });
  const runs = [
    { topicId: 'a', partition: 0, baseOffset: 0, nextOffset: 3, maxTimestamp: 1, batches: [batch(0, 50_000), batch(1, 100), batch(2, 300_000)] },
    { topicId: 'b', partition: 1, baseOffset: 7, nextOffset: 8, maxTimestamp: 1, batches: [batch(7, 20_000)] },
  ];
  const key = 'wal/0/000001.wal';
  const enc = encodeWalObject(runs, () => ({ brokerId: 0, objectKey: key, walSeq: 1, appends: [] }));
  const obj = Buffer.concat(enc.chunks);
  const footer = JSON.parse(obj.subarray(obj.length - 16 - obj.readUInt32BE(obj.length - 16), obj.length - 16).toString()) as { dataLength: number; dataCrc: number };
  expect(footer.dataCrc).toBe(crc32c(obj.subarray(0, footer.dataLength)) >>> 0);

  const store = new MemoryObjectStore();
  await store.put(key, [obj]);
  expect(await (await readEmbeddedCommit(store, key, obj.length))!.verify()).toBe(true);
  // A write cut short: the footer landed, part of a large batch did not.
  const torn = Buffer.from(obj);
  torn.fill(0, 100_000, 150_000);
  await store.put(key, [torn]);
  expect(await (await readEmbeddedCommit(store, key, torn.length))!.verify()).toBe(false);
});
