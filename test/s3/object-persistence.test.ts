/**
 * The embedded metadata journal kept in the object store (S3 storage),
 * in-process over an in-memory store that can refuse writes and counts GETs:
 *
 * - a journal write that still fails after the store's own retries is
 *   written again until it lands (later records wait behind it), instead of
 *   failing every later commit until a restart (the broker test in
 *   s3-faults.test.ts shows the same with a real outage);
 * - the journal is replaced by a snapshot every 1000 objects, so a restart
 *   reads a bounded number of journal objects (before: a snapshot only after
 *   64 MiB of journal, i.e. ~200k objects of a few hundred bytes, read back
 *   one GET at a time);
 * - journal objects a crash left behind after a snapshot are skipped at
 *   recovery and deleted.
 */
import pino from 'pino';
import { expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../src/coordination/embedded-metadata-store.js';
import { ObjectPersistence } from '../../src/coordination/object-persistence.js';
import type { MetadataState, Operation } from '../../src/coordination/manifest-state.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import { writeCommittedWalObject } from '../helpers/wal-objects.js';
import type { ByteRange } from '../../src/storage/object-store.js';

const log = pino({ level: 'silent' });

class FlakyStore extends MemoryObjectStore {
  failPuts = false;
  gets = 0;
  putAttempts = 0;
  override async put(key: string, body: Buffer | Buffer[]): Promise<void> {
    this.putAttempts++;
    if (this.failPuts) throw new Error('PUT failed after 12 attempts: SlowDown');
    return super.put(key, body);
  }
  override async get(key: string, range?: ByteRange): Promise<Buffer> {
    this.gets++;
    return super.get(key, range);
  }
}

const persistence = (store: FlakyStore) => new ObjectPersistence<MetadataState, Operation>(store);
const offset = (n: number) => ({ offset: BigInt(n), leaderEpoch: 0, metadata: '', commitTimestamp: n });
const keys = (store: FlakyStore, prefix: string) => [...store.objects.keys()].filter((k) => k.startsWith(prefix)).sort();

test('a journal write that fails past the store retries is written again until it lands; later commits wait behind it', async () => {
  const store = new FlakyStore();
  const meta = new EmbeddedMetadataStore(persistence(store), log);
  await meta.start();
  store.failPuts = true;
  const settled: string[] = [];
  const first = meta.commitOffsets('g', [{ topic: 't', partition: 0, value: offset(1) }]).then(() => settled.push('first'));
  const second = meta.commitOffsets('g', [{ topic: 't', partition: 0, value: offset(2) }]).then(() => settled.push('second'));
  await new Promise((r) => setTimeout(r, 1200));
  expect(settled).toEqual([]);
  expect(store.putAttempts).toBeGreaterThanOrEqual(3);
  store.failPuts = false;
  await Promise.all([first, second]);
  expect(settled).toEqual(['first', 'second']);
  // Commits work as before.
  await meta.commitOffsets('g', [{ topic: 't', partition: 0, value: offset(3) }]);
  await meta.close();

  const again = new EmbeddedMetadataStore(persistence(store), log);
  await again.start();
  expect((await again.fetchOffsets('g')).get('t')?.get(0)?.offset).toBe(3n);
  await again.close();
});

test('a snapshot replaces the journal every 1000 objects: a restart reads a bounded number of objects', async () => {
  const store = new FlakyStore();
  const meta = new EmbeddedMetadataStore(persistence(store), log);
  await meta.start();
  for (let i = 1; i <= 2500; i++) await meta.commitOffsets('g', [{ topic: 't', partition: i % 3, value: offset(i) }]);
  await meta.close();
  const journal = keys(store, 'meta/journal/');
  const snapshots = keys(store, 'meta/snapshot/');
  expect(journal.length).toBeLessThanOrEqual(1000);
  expect(snapshots).toHaveLength(1);
  expect(Number(snapshots[0]!.slice('meta/snapshot/'.length))).toBeGreaterThanOrEqual(2000);

  store.gets = 0;
  const again = new EmbeddedMetadataStore(persistence(store), log);
  await again.start();
  expect(store.gets).toBe(1 + journal.length);
  const offsets = (await again.fetchOffsets('g')).get('t')!;
  expect([...offsets].map(([p, v]) => [p, v.offset]).sort()).toEqual([
    [0, 2499n],
    [1, 2500n],
    [2, 2498n],
  ]);
  await again.close();
});

test('journal objects left behind by a crash after a snapshot are not read back, and are deleted', async () => {
  const store = new FlakyStore();
  const meta = new EmbeddedMetadataStore(persistence(store), log);
  await meta.start();
  for (let i = 1; i <= 1100; i++) await meta.commitOffsets('g', [{ topic: 't', partition: 0, value: offset(i) }]);
  await meta.close();
  const snapSeq = Number(keys(store, 'meta/snapshot/')[0]!.slice('meta/snapshot/'.length));
  // As if the deletions after the snapshot never happened: an old journal object (its records are all in the snapshot).
  const stale = `meta/journal/${String(snapSeq - 5).padStart(20, '0')}`;
  store.objects.set(stale, Buffer.from('records the snapshot holds'));

  store.gets = 0;
  const again = new EmbeddedMetadataStore(persistence(store), log);
  await again.start();
  expect(store.gets).toBe(1 + keys(store, 'meta/journal/').filter((k) => k !== stale).length);
  expect((await again.fetchOffsets('g')).get('t')?.get(0)?.offset).toBe(1100n);
  await again.close();
  expect(store.objects.has(stale)).toBe(false);
});

test('a compaction after embedded WAL commits costs one journal write: the commits and the replacement go together', async () => {
  const store = new FlakyStore();
  const meta = new EmbeddedMetadataStore(persistence(store), log, undefined, store);
  await meta.start();
  const topic = { name: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 1, configs: {} };
  await meta.createTopic(topic);
  const epoch = (await meta.acquirePartition(topic.topicId, 0, 0)).leaderEpoch;
  for (let i = 0; i < 2; i++) {
    const walSeq = meta.reserveWalSeq!();
    const commit = await writeCommittedWalObject(store, { topicId: topic.topicId, epoch, walSeq, key: `wal/0/${walSeq}.wal`, base: i * 10, count: 10 });
    await meta.commitWal(commit, { embedded: true });
  }
  const before = keys(store, 'meta/journal/').length;
  await meta.replaceRanges({
    topicId: topic.topicId,
    partition: 0,
    leaderEpoch: epoch,
    replacedBaseOffsets: [0, 10],
    range: { kind: 'segment', key: 'segments/x.seg', position: 0, length: 100, baseOffset: 0, nextOffset: 20, maxTimestamp: 1 },
  });
  expect(keys(store, 'meta/journal/').length - before).toBe(1);
  await meta.close();
  const again = new EmbeddedMetadataStore(persistence(store), log, undefined, store);
  await again.start();
  expect([...(await again.referencedObjects())]).toEqual(['segments/x.seg']);
  await again.close();
});
