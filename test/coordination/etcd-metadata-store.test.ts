// The etcd metadata store against a real etcd (test/helpers/etcd.ts): two
// store instances on one prefix stand for two brokers.
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EtcdMetadataStore } from '../../src/coordination/etcd-metadata-store.js';
import { TopicExistsError, type LogRange, type PartitionAppend, type TopicRecord } from '../../src/coordination/metadata-store.js';
import { startEtcd, type EtcdProcess } from '../helpers/etcd.js';

const log = pino({ level: 'silent' });
let etcd: EtcdProcess;
let raw: Etcd3;
const stores: EtcdMetadataStore[] = [];
let prefixSeq = 0;

beforeAll(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.endpoint });
});
afterAll(async () => {
  for (const s of stores) await s.close().catch(() => {});
  raw?.close();
  await etcd?.cleanup();
});

async function pair(leaseTtlSeconds = 2): Promise<{ prefix: string; a: EtcdMetadataStore; b: EtcdMetadataStore }> {
  const prefix = `/t${++prefixSeq}`;
  const mk = () => new EtcdMetadataStore({ endpoints: [etcd.endpoint], prefix, leaseTtlSeconds, maxTxnOps: 128, requestTimeoutMs: 3000 }, log);
  const a = mk();
  const b = mk();
  stores.push(a, b);
  await a.start();
  await b.start();
  return { prefix, a, b };
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const topic = (name: string, partitions: number, configs: Record<string, string> = {}): TopicRecord => ({
  name,
  topicId: `${name}-id`.padEnd(22, 'A').slice(0, 22),
  partitions,
  configs,
});
const range = (key: string, base: number, next: number): LogRange => ({ kind: 'wal', key, position: 0, length: 10, baseOffset: base, nextOffset: next, maxTimestamp: 1 });
const append = (t: TopicRecord, partition: number, leaderEpoch: number, key: string, base: number, next: number, producers: PartitionAppend['producers'] = []): PartitionAppend => ({
  topicId: t.topicId,
  partition,
  leaderEpoch,
  range: range(key, base, next),
  producers,
});
/** Stands in for the controller: points a partition's assignment at a broker. */
const assign = (prefix: string, t: TopicRecord, p: number, brokerId: number) => raw.put(`${prefix}/assign/${t.topicId}/${p}`).value(JSON.stringify({ brokerId }));

test('one cluster id; topics created, changed and deleted on one store are seen by the other', async () => {
  const { a, b } = await pair();
  expect(a.clusterId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
  expect(b.clusterId()).toBe(a.clusterId());

  const seen = new Promise<void>((r) => b.once('topics', () => r()));
  await a.createTopic(topic('orders', 3, { 'retention.ms': '1000' }));
  await seen;
  expect(b.topics().get('orders')).toEqual(topic('orders', 3, { 'retention.ms': '1000' }));
  await expect(b.createTopic(topic('orders', 1))).rejects.toBeInstanceOf(TopicExistsError);

  await b.setTopicConfigs('orders', { 'cleanup.policy': 'compact' });
  await until('configs on a', () => a.topics().get('orders')?.configs['cleanup.policy'] === 'compact');
  expect(a.topics().get('orders')?.configs).toEqual({ 'cleanup.policy': 'compact' });
  await a.setPartitionCount('orders', 5);
  await until('partition count on b', () => b.topics().get('orders')?.partitions === 5);
  await expect(a.setPartitionCount('orders', 2)).rejects.toThrow(/shrink/);

  await b.deleteTopic('orders');
  await until('delete on a', () => !a.topics().has('orders'));
});

test('acquirePartition bumps the epoch; the previous leader is fenced and the new one sees every commit', async () => {
  const { prefix, a, b } = await pair();
  const t = topic('fence', 2);
  await a.createTopic(t);
  await assign(prefix, t, 0, 1);
  await assign(prefix, t, 1, 1);

  // Not assigned to broker 2: refused.
  await expect(b.acquirePartition(t.topicId, 0, 2)).rejects.toThrow(/not assigned/);

  const s0 = await a.acquirePartition(t.topicId, 0, 1);
  expect(s0).toMatchObject({ leaderId: 1, leaderEpoch: 0, highWatermark: 0, logStartOffset: 0, ranges: [], producers: [] });
  const s1 = await a.acquirePartition(t.topicId, 1, 1);
  const producer = { producerId: 1000, epoch: 0, batches: [{ firstSeq: 0, lastSeq: 4, baseOffset: 0, lastOffset: 4, timestamp: 1 }], lastTimestamp: 1 };
  expect(
    await a.commitWal({ brokerId: 1, objectKey: 'wal/1/a', appends: [append(t, 0, s0.leaderEpoch, 'wal/1/a', 0, 5, [producer]), append(t, 1, s1.leaderEpoch, 'wal/1/a', 0, 2)] }),
  ).toEqual({ fenced: [] });

  // Broker 2 takes partition 0 over.
  await assign(prefix, t, 0, 2);
  const taken = await b.acquirePartition(t.topicId, 0, 2);
  expect(taken.leaderEpoch).toBe(1);
  expect(taken.leaderId).toBe(2);
  expect(taken.highWatermark).toBe(5);
  expect(taken.ranges).toEqual([range('wal/1/a', 0, 5)]);
  expect(taken.producers).toEqual([producer]);
  expect(taken.epochHistory).toEqual([
    { epoch: 0, startOffset: 0 },
    { epoch: 1, startOffset: 5 },
  ]);

  // The old leader's next commit: partition 0 fenced (nothing of it stored), partition 1 committed.
  const res = await a.commitWal({ brokerId: 1, objectKey: 'wal/1/b', appends: [append(t, 0, s0.leaderEpoch, 'wal/1/b', 5, 9), append(t, 1, s1.leaderEpoch, 'wal/1/b', 2, 3)] });
  expect(res).toEqual({ fenced: [`${t.topicId}:0`] });
  // A commit of only fenced partitions: all of them reported.
  expect(await a.commitWal({ brokerId: 1, objectKey: 'wal/1/c', appends: [append(t, 0, s0.leaderEpoch, 'wal/1/c', 5, 6)] })).toEqual({ fenced: [`${t.topicId}:0`] });
  // Compaction and log-start changes by the deposed leader are refused too.
  await expect(
    a.replaceRanges({ topicId: t.topicId, partition: 0, leaderEpoch: 0, replacedBaseOffsets: [0], range: { ...range('seg', 0, 5), kind: 'segment' } }),
  ).rejects.toThrow(/taken over/);
  await expect(a.setLogStartOffset(t.topicId, 0, 0, 3)).rejects.toThrow(/leadership lost/);

  // The new leader appends after offset 5; its commits go through.
  expect(await b.commitWal({ brokerId: 2, objectKey: 'wal/2/a', appends: [append(t, 0, taken.leaderEpoch, 'wal/2/a', 5, 7)] })).toEqual({ fenced: [] });

  // Taking it back: the log is what was committed (never the fenced 5..9), partition 1 kept its commit.
  await assign(prefix, t, 0, 1);
  const back = await a.acquirePartition(t.topicId, 0, 1);
  expect(back.leaderEpoch).toBe(2);
  expect(back.highWatermark).toBe(7);
  expect(back.ranges.map((r) => [r.key, r.baseOffset, r.nextOffset])).toEqual([
    ['wal/1/a', 0, 5],
    ['wal/2/a', 5, 7],
  ]);
  expect(back.epochHistory.map((e) => e.epoch)).toEqual([0, 1, 2]);
  expect(await b.commitWal({ brokerId: 2, objectKey: 'wal/2/b', appends: [append(t, 0, taken.leaderEpoch, 'wal/2/b', 7, 8)] })).toEqual({ fenced: [`${t.topicId}:0`] });
  const p1 = await b.acquirePartition(t.topicId, 1, 2).catch((e: Error) => e);
  expect(p1).toBeInstanceOf(Error); // still assigned to 1
  await assign(prefix, t, 1, 2);
  expect((await b.acquirePartition(t.topicId, 1, 2)).highWatermark).toBe(3);

  // Compaction by the leader replaces ranges and keeps the producer state.
  // (A cleaned segment's cleanedThrough is kept with it, for the next leader's cleaner.)
  await b.replaceRanges({ topicId: t.topicId, partition: 1, leaderEpoch: 1, replacedBaseOffsets: [0, 2], range: { ...range('segments/x', 0, 3), kind: 'segment', cleanedThrough: 3 } });
  await assign(prefix, t, 0, 2);
  const again = await b.acquirePartition(t.topicId, 0, 2);
  expect(again.producers).toEqual([producer]);
  const stored = Object.values(await raw.getAll().prefix(`${prefix}/ranges/${t.topicId}/1/`).strings());
  expect(stored).toHaveLength(1);
  expect(JSON.parse(stored[0]!)).toMatchObject({ key: 'segments/x', cleanedThrough: 3 });
  const refs = await a.referencedObjects();
  expect([...refs].sort()).toEqual(['segments/x', 'wal/1/a', 'wal/2/a']);
  // Read a page at a time, the same (pages of one and two ranges: the three ranges span pages).
  for (const page of [1, 2]) expect([...(await a.referencedObjects(undefined, page))].sort()).toEqual(['segments/x', 'wal/1/a', 'wal/2/a']);
  // Leaving out partitions a broker holds in memory: only the others' ranges are read.
  expect([...(await a.referencedObjects(new Set([`${t.topicId}:1` as const])))].sort()).toEqual(['wal/1/a', 'wal/2/a']);
  expect([...(await a.referencedObjects(new Set([`${t.topicId}:0` as const]), 1))].sort()).toEqual(['segments/x']);
});

test('two stores racing for one partition: exactly one epoch each, no commit of the loser lands', async () => {
  const { prefix, a, b } = await pair();
  const t = topic('race', 1);
  await a.createTopic(t);
  await assign(prefix, t, 0, 1);
  const sa = await a.acquirePartition(t.topicId, 0, 1);
  // Interleave: b bumps the epoch while a commits concurrently, many times over.
  let acked = 0;
  let next = 0;
  for (let i = 0; i < 10; i++) {
    await assign(prefix, t, 0, 2);
    const [commit, sb] = await Promise.all([
      a.commitWal({ brokerId: 1, objectKey: `wal/1/${i}`, appends: [append(t, 0, sa.leaderEpoch, `wal/1/${i}`, next, next + 1)] }),
      b.acquirePartition(t.topicId, 0, 2),
    ]);
    if (commit.fenced.length === 0) {
      acked++;
      // Committed before the takeover read the log: the new leader has it.
      expect(sb.highWatermark).toBe(next + 1);
      next++;
    } else expect(sb.highWatermark).toBe(next);
    await assign(prefix, t, 0, 1);
    Object.assign(sa, await a.acquirePartition(t.topicId, 0, 1));
    expect(sa.highWatermark).toBe(next);
  }
  expect(acked).toBeLessThanOrEqual(10);
});

test('committed offsets and producer ids are shared', async () => {
  const { a, b } = await pair();
  await a.commitOffsets('g1', [
    { topic: 'x/y', partition: 0, value: { offset: 42n, leaderEpoch: 3, metadata: 'm', commitTimestamp: 7 } },
    { topic: 'x/y', partition: 1, value: { offset: 9_007_199_254_740_993n, leaderEpoch: -1, metadata: null, commitTimestamp: 8 } },
  ]);
  await b.commitOffsets('g 2', [{ topic: 't', partition: 0, value: { offset: 1n, leaderEpoch: 0, metadata: '', commitTimestamp: 9 } }]);
  const g1 = await b.fetchOffsets('g1');
  expect(g1.get('x/y')?.get(0)).toEqual({ offset: 42n, leaderEpoch: 3, metadata: 'm', commitTimestamp: 7 });
  expect(g1.get('x/y')?.get(1)?.offset).toBe(9_007_199_254_740_993n);
  expect((await a.groupsWithOffsets()).sort()).toEqual(['g 2', 'g1']);
  await a.deleteOffsets('g1', [{ topic: 'x/y', partition: 0 }]);
  expect([...(await b.fetchOffsets('g1')).get('x/y')!.keys()]).toEqual([1]);
  await b.deleteOffsets('g1', 'all');
  expect((await a.fetchOffsets('g1')).size).toBe(0);
  expect(await a.groupsWithOffsets()).toEqual(['g 2']);

  // Deleting a topic deletes every group's offsets of it (and only of it).
  const doomed = topic('x/y', 2);
  await a.createTopic(doomed);
  await a.commitOffsets('g1', [{ topic: 'x/y', partition: 0, value: { offset: 5n, leaderEpoch: 0, metadata: null, commitTimestamp: 1 } }]);
  await b.commitOffsets('g 2', [{ topic: 'x/y', partition: 1, value: { offset: 6n, leaderEpoch: 0, metadata: null, commitTimestamp: 1 } }]);
  await b.commitOffsets('x/y', [{ topic: 't', partition: 0, value: { offset: 7n, leaderEpoch: 0, metadata: null, commitTimestamp: 1 } }]); // a group named as the topic
  await until('b sees the topic', () => b.topics().has('x/y'));
  await b.deleteTopic('x/y');
  expect((await a.fetchOffsets('g1')).size).toBe(0);
  expect([...(await a.fetchOffsets('g 2')).keys()]).toEqual(['t']);
  expect([...(await a.fetchOffsets('x/y')).keys()]).toEqual(['t']);

  // Producer ids: concurrent allocations from both stores never overlap.
  const ranges = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).allocateProducerIds(10)));
  const ids = new Set<number>();
  for (const first of ranges) for (let i = first; i < first + 10; i++) ids.add(i);
  expect(ids.size).toBe(200);
});

test('registered brokers: one controller, partitions spread, a closed broker hands its partitions over', async () => {
  const { a, b } = await pair();
  await a.registerBroker({ brokerId: 1, host: '127.0.0.1', port: 1, rack: null });
  await b.registerBroker({ brokerId: 2, host: '127.0.0.1', port: 2, rack: null });
  await until('both brokers seen', () => a.brokers().length === 2 && b.brokers().length === 2);
  await a.createTopic(topic('spread', 4));
  await until('assignment 2/2', () => a.assignedPartitions().length === 2 && b.assignedPartitions().length === 2);
  expect(a.writable()).toBe(true);
  // The leases are kept alive past their TTL.
  await new Promise((r) => setTimeout(r, 2500));
  expect(a.writable() && b.writable()).toBe(true);
  expect(a.brokers().map((x) => x.brokerId)).toEqual([1, 2]);

  // Draining moves everything to the other broker.
  await b.drain(5000);
  expect(b.assignedPartitions()).toEqual([]);
  await until('a has all 4', () => a.assignedPartitions().length === 4);
  await b.close();
  await until('b gone', () => a.brokers().length === 1);
});

test('a commit of an earlier tenure, issued once the broker leads again, is fenced: it never overwrites what the leader in between committed', async () => {
  // Found by fault scenario 04: a broker cut from etcd lost a partition, got it back
  // under a new epoch, and a flush of its first tenure then committed under the new
  // epoch's guard, over the key of the range the leader in between had committed.
  const { prefix, a, b } = await pair();
  const t = topic('tenures', 1);
  await a.createTopic(t);
  await assign(prefix, t, 0, 1);
  const first = await a.acquirePartition(t.topicId, 0, 1);
  expect(await a.commitWal({ brokerId: 1, objectKey: 'wal/1/a', appends: [append(t, 0, first.leaderEpoch, 'wal/1/a', 0, 5)] })).toEqual({ fenced: [] });
  await assign(prefix, t, 0, 2);
  const second = await b.acquirePartition(t.topicId, 0, 2);
  expect(await b.commitWal({ brokerId: 2, objectKey: 'wal/2/b', appends: [append(t, 0, second.leaderEpoch, 'wal/2/b', 5, 8)] })).toEqual({ fenced: [] });
  await assign(prefix, t, 0, 1);
  const third = await a.acquirePartition(t.topicId, 0, 1);
  expect(third.highWatermark).toBe(8);

  const pk = `${t.topicId}:0`;
  expect(await a.commitWal({ brokerId: 1, objectKey: 'wal/1/late', appends: [append(t, 0, first.leaderEpoch, 'wal/1/late', 5, 6)] })).toEqual({ fenced: [pk] });
  await expect(
    a.replaceRanges({ topicId: t.topicId, partition: 0, leaderEpoch: first.leaderEpoch, replacedBaseOffsets: [0], range: { ...range('segments/x', 0, 5), kind: 'segment' } }),
  ).rejects.toThrow(/no longer held/);
  await expect(a.setLogStartOffset(t.topicId, 0, first.leaderEpoch, 2)).rejects.toThrow(/leadership lost/);
  const keys = async () => Object.values(await raw.getAll().prefix(`${prefix}/ranges/${t.topicId}/0/`).strings()).map((v) => (JSON.parse(v) as { key: string }).key).sort();
  expect(await keys()).toEqual(['wal/1/a', 'wal/2/b']);
  // Its current epoch commits as before.
  expect(await a.commitWal({ brokerId: 1, objectKey: 'wal/1/c', appends: [append(t, 0, third.leaderEpoch, 'wal/1/c', 8, 9)] })).toEqual({ fenced: [] });
  expect(await keys()).toEqual(['wal/1/a', 'wal/1/c', 'wal/2/b']);
});

test('a compaction replaces 300 ranges in one transaction: only the segment is left, with every producer\'s state, and the ranges after it stay', async () => {
  const { prefix, a } = await pair();
  const t = topic('many-ranges', 1);
  await a.createTopic(t);
  await assign(prefix, t, 0, 1);
  const s = await a.acquirePartition(t.topicId, 0, 1);
  const producer = (id: number, at: number) => ({ producerId: id, epoch: 0, batches: [{ firstSeq: 0, lastSeq: 0, baseOffset: at, lastOffset: at, timestamp: 1 }], lastTimestamp: 1 });
  for (let i = 0; i < 310; i++) {
    expect(await a.commitWal({ brokerId: 1, objectKey: `wal/1/${i}`, appends: [append(t, 0, s.leaderEpoch, `wal/1/${i}`, i, i + 1, i % 100 === 0 ? [producer(2000 + i, i)] : [])] })).toEqual({ fenced: [] });
  }
  await a.replaceRanges({ topicId: t.topicId, partition: 0, leaderEpoch: s.leaderEpoch, replacedBaseOffsets: Array.from({ length: 300 }, (_, i) => i), range: { ...range('segments/many', 0, 300), kind: 'segment' } });
  const stored = Object.values(await raw.getAll().prefix(`${prefix}/ranges/${t.topicId}/0/`).strings()).map((v) => JSON.parse(v) as LogRange & { producers: Array<{ producerId: number }> });
  expect(stored.map((r) => [r.key, r.baseOffset, r.nextOffset])).toEqual([['segments/many', 0, 300], ...Array.from({ length: 10 }, (_, i) => [`wal/1/${300 + i}`, 300 + i, 301 + i])]);
  expect(stored[0]!.producers.map((p) => p.producerId).sort()).toEqual([2000, 2100, 2200]);
});
