// A WAL object's data CRC (what recovery checks an embedded commit against) is
// made from its batches' own CRCs: it must be the CRC of the bytes as written.
import { crc32c } from '@node-rs/crc32';
import { randomBytes } from 'node:crypto';
import { expect, test } from 'vitest';
import { buildBatch } from '../../src/protocol/records/records.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import { decodeWalFooter, encodeWalObject, readEmbeddedCommit, readEmbeddedCommitSurely } from '../../src/storage/wal-object.js';

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

test('riders (a pack of segments travelling in the object) lie after the runs, where the encoder says, inside the data CRC', async () => {
  const batch = (base: number, bytes: number) => buildBatch({ baseOffset: base, records: [{ key: null, value: randomBytes(bytes), timestamp: 1 }] });
  const runs = [{ topicId: 'a', partition: 0, baseOffset: 0, nextOffset: 2, maxTimestamp: 1, batches: [batch(0, 1000), batch(1, 70_000)] }];
  const riders = [[randomBytes(3000), randomBytes(40_000)], [randomBytes(5)]];
  for (const embedded of [false, true]) {
    const key = `wal/0/00000${embedded ? 5 : 4}.wal`;
    const enc = encodeWalObject(runs, embedded ? () => ({ brokerId: 0, objectKey: key, walSeq: 1, appends: [] }) : undefined, riders);
    const obj = Buffer.concat(enc.chunks);
    expect(obj.length).toBe(enc.size);
    expect(enc.riders.map((r) => r.length)).toEqual([43_000, 5]);
    expect(enc.riders[0]!.position).toBe(enc.locations[0]!.position + enc.locations[0]!.length);
    for (const [i, r] of enc.riders.entries()) expect(obj.subarray(r.position, r.position + r.length)).toEqual(Buffer.concat(riders[i]!));
    // The runs are where they were, for the audit and for recovery.
    expect(decodeWalFooter(obj)).toEqual(enc.locations);
    if (!embedded) continue;
    const store = new MemoryObjectStore();
    await store.put(key, [obj]);
    expect(await (await readEmbeddedCommit(store, key, obj.length))!.verify()).toBe(true);
    // A rider's bytes count in the data CRC: a torn rider is a torn write.
    const torn = Buffer.from(obj);
    torn.fill(0, enc.riders[0]!.position + 10, enc.riders[0]!.position + 20);
    await store.put(key, [torn]);
    expect(await (await readEmbeddedCommit(store, key, torn.length))!.verify()).toBe(false);
  }
});

/** Flips a bit in the first `flips` GETs that `which` picks (as the fault suite's proxy does), or fails every GET. */
class DamagingStore extends MemoryObjectStore {
  constructor(
    private flips: number,
    private readonly which: (range?: { start: number; end: number }) => boolean = () => true,
    private readonly fail = false,
  ) {
    super();
  }
  override async get(key: string, range?: { start: number; end: number }): Promise<Buffer> {
    if (this.fail) throw Object.assign(new Error('503 SlowDown'), { code: 'ECONNRESET' });
    const body = await super.get(key, range);
    if (this.flips > 0 && this.which(range) && body.length > 0) {
      this.flips--;
      body[body.length >> 1] ^= 0x10;
    }
    return body;
  }
}

async function walObjectIn(store: MemoryObjectStore, key: string): Promise<number> {
  const runs = [{ topicId: 'a', partition: 0, baseOffset: 0, nextOffset: 1, maxTimestamp: 1, batches: [buildBatch({ baseOffset: 0, records: [{ key: null, value: randomBytes(5000), timestamp: 1 }] })] }];
  const enc = encodeWalObject(runs, () => ({ brokerId: 0, objectKey: key, walSeq: 1, appends: [] }));
  await store.put(key, enc.chunks);
  return enc.size;
}

test('recovery reads a WAL object again when a read comes back damaged: a flipped bit is not a torn write', async () => {
  const key = 'wal/0/000002.wal';
  const store = new DamagingStore(3);
  const size = await walObjectIn(store, key);
  // read once, a damaged footer looks like a torn object
  expect(await readEmbeddedCommit(store, key, size)).toBeNull();
  const read = await readEmbeddedCommitSurely(store, key, size, 4, 1);
  expect(read?.commit.objectKey).toBe(key);
  // and its data, damaged on the first reads, is whole in the end
  const data = new DamagingStore(3, (range) => range?.start === 0);
  const dataSize = await walObjectIn(data, key);
  expect(await (await readEmbeddedCommitSurely(data, key, dataSize, 4, 1))!.verify()).toBe(true);
});

test('recovery still takes a write the crash tore for torn, a missing object for missing, and fails on a store that keeps failing', async () => {
  const key = 'wal/0/000003.wal';
  const store = new MemoryObjectStore();
  const size = await walObjectIn(store, key);
  const obj = store.objects.get(key)!;
  obj.fill(0, 20, 2000); // data torn, footer whole
  expect(await (await readEmbeddedCommitSurely(store, key, size, 4, 1))!.verify()).toBe(false);
  obj.fill(0, obj.length - 30, obj.length); // trailer gone too
  expect(await readEmbeddedCommitSurely(store, key, size, 4, 1)).toBeNull();
  expect(await readEmbeddedCommitSurely(store, 'wal/0/gone.wal', size, 4, 1)).toBeNull();
  await expect(readEmbeddedCommitSurely(new DamagingStore(0, () => true, true), key, size, 4, 1)).rejects.toThrow(/503/);
});

test('on a store whose puts are atomic (S3) a WAL object that keeps reading back damaged fails the recovery, never passes for a torn write', async () => {
  const key = 'wal/0/000004.wal';
  class AtomicDamagingStore extends DamagingStore {
    readonly atomicPuts = true;
  }
  const footerDamaged = new AtomicDamagingStore(100);
  const size = await walObjectIn(footerDamaged, key);
  await expect(readEmbeddedCommitSurely(footerDamaged, key, size, 4, 1)).rejects.toThrow(/damaged 4 times/);
  // each object its own size: the footer's data CRC is written in as many digits as it has
  const dataDamaged = new AtomicDamagingStore(100, (range) => range?.start === 0);
  const read = await readEmbeddedCommitSurely(dataDamaged, key, await walObjectIn(dataDamaged, key), 4, 1);
  await expect(read!.verify()).rejects.toThrow(/damaged 4 times/);
  // the same damage, seen three times of four, is read through
  const flaky = new AtomicDamagingStore(3, (range) => range?.start === 0);
  expect(await (await readEmbeddedCommitSurely(flaky, key, await walObjectIn(flaky, key), 4, 1))!.verify()).toBe(true);
});
