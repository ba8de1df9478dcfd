// WAL objects that carry their own commit (the embedded store's one-write
// flush): recovery reads them back in slot order, stops at a hole or a torn
// object, passes a slot the journal resolved, and a journal write carries them
// before anything that may depend on them (compaction, which deletes objects).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../src/coordination/embedded-metadata-store.js';
import { FilePersistence } from '../../src/coordination/file-persistence.js';
import type { WalCommit } from '../../src/coordination/metadata-store.js';
import { FsObjectStore } from '../../src/storage/fs-object-store.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { writeCommittedWalObject } from '../helpers/wal-objects.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const topic = { name: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 1, configs: {} };

async function setup<S extends ObjectStore = MemoryObjectStore>(makeObjects: (dir: string) => S = () => new MemoryObjectStore() as unknown as S) {
  const dir = await mkdtemp(join(tmpdir(), 'sh-meta-emb-'));
  dirs.push(dir);
  const objects = makeObjects(dir);
  const open = async () => {
    const s = new EmbeddedMetadataStore(new FilePersistence(dir), log, undefined, objects);
    await s.start();
    return s;
  };
  const s = await open();
  await s.createTopic(topic);
  const epoch = (await s.acquirePartition(topic.topicId, 0, 0)).leaderEpoch;
  return { objects, open, s, epoch };
}

const walKey = (walSeq: number) => `wal/0/${String(walSeq).padStart(6, '0')}.wal`;

/** Writes a WAL object of `count` offsets from `base` carrying its commit in slot `walSeq`, as the writer does. */
function writeObject(objects: ObjectStore, epoch: number, walSeq: number, base: number, count: number): Promise<WalCommit> {
  return writeCommittedWalObject(objects, { topicId: topic.topicId, epoch, walSeq, key: walKey(walSeq), base, count });
}

/** Slots 1 and 2 (offsets 0-19) committed embedded, compacted into one segment (a journal write), their objects deleted. */
async function commitTwoThenCompact(objects: ObjectStore, s: EmbeddedMetadataStore, epoch: number): Promise<void> {
  const c1 = await writeObject(objects, epoch, s.reserveWalSeq!(), 0, 10);
  await s.commitWal(c1, { embedded: true });
  const c2 = await writeObject(objects, epoch, s.reserveWalSeq!(), 10, 10);
  await s.commitWal(c2, { embedded: true });
  await s.replaceRanges({
    topicId: topic.topicId,
    partition: 0,
    leaderEpoch: epoch,
    replacedBaseOffsets: [0, 10],
    range: { kind: 'segment', key: 'segments/x.seg', position: 0, length: 100, baseOffset: 0, nextOffset: 20, maxTimestamp: 1 },
  });
  await objects.delete(c1.objectKey);
  await objects.delete(c2.objectKey);
}

function hwm(s: EmbeddedMetadataStore): number {
  return (s as unknown as { state: { partitions: Record<string, { highWatermark: number }> } }).state.partitions[`${topic.topicId}:0`]!.highWatermark;
}

test('embedded commits skip the journal and come back from their objects after a crash', async () => {
  const { objects, open, s, epoch } = await setup();
  for (let i = 0; i < 3; i++) {
    const seq = s.reserveWalSeq!();
    expect(seq).toBe(i + 1);
    await s.commitWal(await writeObject(objects, epoch, seq, i * 10, 10), { embedded: true });
  }
  expect(hwm(s)).toBe(30);
  // No close: a crash. Nothing of the three is in the journal.
  const r = await open();
  expect(hwm(r)).toBe(30);
  expect(r.reserveWalSeq!()).toBe(4);
  await r.close();
});

test('recovery stops at a hole: a slot with no object and no journal record', async () => {
  const { objects, open, s, epoch } = await setup();
  await s.commitWal(await writeObject(objects, epoch, s.reserveWalSeq!(), 0, 10), { embedded: true });
  s.reserveWalSeq!(); // slot 2: its object never written (the crash came first)
  await writeObject(objects, epoch, s.reserveWalSeq!(), 10, 10); // slot 3: written, never acknowledged
  const r = await open();
  expect(hwm(r)).toBe(10);
  await r.close();
});

test('a slot the journal resolved (skipped, or committed as it stood) is passed over', async () => {
  const { objects, open, s, epoch } = await setup();
  await s.commitWal(await writeObject(objects, epoch, s.reserveWalSeq!(), 0, 10), { embedded: true });
  // Slot 2's write "failed", yet its object landed (a PUT whose reply was lost): the journal says skip.
  await writeObject(objects, epoch, s.reserveWalSeq!(), 10, 99);
  await s.skipWal(2);
  await s.commitWal(await writeObject(objects, epoch, s.reserveWalSeq!(), 10, 5), { embedded: true });
  const r = await open();
  expect(hwm(r)).toBe(15);
  await r.close();
});

test('a torn last object (footer landed, data did not) is not applied', async () => {
  const { objects, open, s, epoch } = await setup();
  await s.commitWal(await writeObject(objects, epoch, s.reserveWalSeq!(), 0, 10), { embedded: true });
  const c = await writeObject(objects, epoch, s.reserveWalSeq!(), 10, 10);
  const obj = objects.objects.get(c.objectKey)!;
  obj[20] ^= 0xff;
  const r = await open();
  expect(hwm(r)).toBe(10);
  await r.close();
});

test('the next journal write carries embedded commits, so their objects may go after compaction', async () => {
  const { objects, open, s, epoch } = await setup();
  await commitTwoThenCompact(objects, s, epoch);
  const r = await open();
  expect(hwm(r)).toBe(20);
  expect([...(await r.referencedObjects())]).toEqual(['segments/x.seg']);
  await r.close();
});

test('a recycled WAL file prepared for a later slot still holds a deleted object; recovery takes nothing from it', async () => {
  const { objects, open, s, epoch } = await setup((dir) => new FsObjectStore(join(dir, 'objects')));
  await commitTwoThenCompact(objects, s, epoch);
  // Slots 3 and 4 get the two spares, old bytes and all (a whole WAL object each, footer included).
  await objects.prepare([walKey(3), walKey(4)]);
  expect((await objects.list('wal/')).map((o) => o.size)).toEqual([
    (await objects.get(walKey(3))).length,
    (await objects.get(walKey(4))).length,
  ]);
  expect((await objects.get(walKey(4))).length).toBeGreaterThan(0);
  await s.commitWal(await writeObject(objects, epoch, s.reserveWalSeq!(), 20, 5), { embedded: true });
  s.reserveWalSeq!(); // slot 4: the crash comes before its write
  const r = await open();
  expect(hwm(r)).toBe(25);
  expect(r.reserveWalSeq!()).toBe(4); // slot 4 was never acknowledged: it is handed out again
  await r.close();
  await objects.close();
});

test('embedded commits are journaled in the background once enough wait (a restart reads back only the last ones)', async () => {
  const { objects, open, s, epoch } = await setup();
  for (let i = 0; i < 300; i++) await s.commitWal(await writeObject(objects, epoch, s.reserveWalSeq!(), i, 1), { embedded: true });
  await s.close();
  // The first 256 are in the journal: their objects are not needed any more.
  for (const key of [...objects.objects.keys()].sort().slice(0, 256)) await objects.delete(key);
  const r = await open();
  expect(hwm(r)).toBe(300);
  await r.close();
});

test('a commit that does not apply still closes its slot, so later ones are recovered', async () => {
  const { objects, open, s, epoch } = await setup();
  await s.commitWal(await writeObject(objects, epoch, s.reserveWalSeq!(), 0, 10), { embedded: true });
  // Slot 2 claims offsets that are not next: refused, embedded or not.
  await expect(s.commitWal(await writeObject(objects, epoch, s.reserveWalSeq!(), 50, 10), { embedded: true })).rejects.toThrow(/non-contiguous/);
  const c3 = await writeObject(objects, epoch, s.reserveWalSeq!(), 10, 10);
  await expect(s.commitWal({ ...c3, appends: c3.appends }, {})).resolves.toEqual({ fenced: [] });
  await s.commitWal(await writeObject(objects, epoch, s.reserveWalSeq!(), 20, 10), { embedded: true });
  const r = await open();
  expect(hwm(r)).toBe(30);
  await r.close();
});
