import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../src/coordination/embedded-metadata-store.js';
import { FilePersistence } from '../../src/coordination/file-persistence.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const topic = { name: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 1, configs: {} };
const range = (base: number, next: number) => ({ kind: 'wal' as const, key: `wal/0/${base}`, position: 8, length: 10, baseOffset: base, nextOffset: next, maxTimestamp: 0 });

test('operations survive a restart; a torn journal tail is cut off', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-meta-'));
  dirs.push(dir);
  let s = new EmbeddedMetadataStore(new FilePersistence(dir), log);
  await s.start();
  const cluster = s.clusterId();
  await s.createTopic(topic);
  const st = await s.acquirePartition(topic.topicId, 0, 0);
  await s.commitWal({ brokerId: 0, objectKey: 'wal/0/0', appends: [{ topicId: topic.topicId, partition: 0, leaderEpoch: st.leaderEpoch, range: range(0, 5), producers: [] }] });
  await s.commitOffsets('g', [{ topic: 't', partition: 0, value: { offset: 3n, leaderEpoch: 0, metadata: 'm', commitTimestamp: 1 } }]);
  await s.close();
  await appendFile(join(dir, 'journal.log'), Buffer.from([0, 0, 1, 0, 1, 2]));

  s = new EmbeddedMetadataStore(new FilePersistence(dir), log);
  await s.start();
  expect(s.clusterId()).toBe(cluster);
  expect(s.topics().get('t')?.topicId).toBe(topic.topicId);
  const again = await s.acquirePartition(topic.topicId, 0, 0);
  expect(again.highWatermark).toBe(5);
  expect(again.leaderEpoch).toBe(1);
  expect((await s.fetchOffsets('g')).get('t')?.get(0)?.offset).toBe(3n);
  // A commit under the old epoch is fenced.
  expect(
    await s.commitWal({ brokerId: 0, objectKey: 'wal/0/1', appends: [{ topicId: topic.topicId, partition: 0, leaderEpoch: 0, range: range(5, 6), producers: [] }] }),
  ).toEqual({ fenced: [`${topic.topicId}:0`] });
  expect((await s.acquirePartition(topic.topicId, 0, 0)).highWatermark).toBe(5);
  await s.close();
});

test('snapshots compact the journal and restore the same state', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-meta-'));
  dirs.push(dir);
  let s = new EmbeddedMetadataStore(new FilePersistence(dir), log, 1024);
  await s.start();
  await s.createTopic(topic);
  const st = await s.acquirePartition(topic.topicId, 0, 0);
  for (let i = 0; i < 100; i++) {
    await s.commitWal({ brokerId: 0, objectKey: `wal/0/${i}`, appends: [{ topicId: topic.topicId, partition: 0, leaderEpoch: st.leaderEpoch, range: range(i, i + 1), producers: [] }] });
  }
  await s.close();
  s = new EmbeddedMetadataStore(new FilePersistence(dir), log, 1024);
  await s.start();
  const again = await s.acquirePartition(topic.topicId, 0, 0);
  expect(again.highWatermark).toBe(100);
  expect(again.ranges).toHaveLength(100);
  await s.close();
});

test('acquirePartitions takes many partitions in one journal record, and the epochs survive a restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-meta-'));
  dirs.push(dir);
  const big = { name: 'big', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 5000, configs: {} };
  let s = new EmbeddedMetadataStore(new FilePersistence(dir), log);
  await s.start();
  await s.createTopic(big);
  const all = Array.from({ length: 5000 }, (_, i) => i);
  const states = await s.acquirePartitions(big.topicId, all, 0);
  expect(states.map((p) => p.partition)).toEqual(all);
  expect(states.every((p) => p.leaderEpoch === 0 && p.leaderId === 0)).toBe(true);
  // A partition the topic does not have fails the whole batch and changes nothing.
  await expect(s.acquirePartitions(big.topicId, [1, 5000], 0)).rejects.toThrow();
  expect(s.leaderOf(big.topicId, 1)).toEqual({ leaderId: 0, leaderEpoch: 0 });
  await s.close();

  s = new EmbeddedMetadataStore(new FilePersistence(dir), log);
  await s.start();
  expect(s.leaderOf(big.topicId, 4999)).toEqual({ leaderId: 0, leaderEpoch: 0 });
  expect((await s.acquirePartitions(big.topicId, [0, 4999], 0)).map((p) => p.leaderEpoch)).toEqual([1, 1]);
  await s.close();
});

test("deleting a topic deletes every group's committed offsets of it, also after a restart", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-meta-'));
  dirs.push(dir);
  let s = new EmbeddedMetadataStore(new FilePersistence(dir), log);
  await s.start();
  const other = { name: 'u', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 1, configs: {} };
  await s.createTopic(topic);
  await s.createTopic(other);
  const at = (offset: bigint) => ({ offset, leaderEpoch: 0, metadata: null, commitTimestamp: 1 });
  await s.commitOffsets('both', [{ topic: 't', partition: 0, value: at(3n) }, { topic: 'u', partition: 0, value: at(4n) }]);
  await s.commitOffsets('only-t', [{ topic: 't', partition: 0, value: at(5n) }]);
  await s.deleteTopic('t');
  const check = async () => {
    expect([...(await s.fetchOffsets('both')).keys()]).toEqual(['u']);
    expect((await s.fetchOffsets('only-t')).size).toBe(0);
    expect(await s.groupsWithOffsets()).toEqual(['both']);
  };
  await check();
  await s.close();
  s = new EmbeddedMetadataStore(new FilePersistence(dir), log);
  await s.start();
  await check();
  // A topic created again under the name starts with no committed offsets.
  await s.createTopic({ ...topic, topicId: 'AAAAAAAAAAAAAAAAAAAAAw' });
  expect((await s.fetchOffsets('only-t')).size).toBe(0);
  await s.close();
});
