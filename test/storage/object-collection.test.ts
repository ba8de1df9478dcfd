// Collection of objects in a cluster (LogManager.collectGarbage), with the
// etcd metadata store on a real etcd (test/helpers/etcd.ts) and one shared
// object store: a broker that leaves for good leaves WAL objects only a
// manifest-wide view can tell are garbage, and a compaction can leave a
// segment no manifest references.
import pino from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EtcdMetadataStore } from '../../src/coordination/etcd-metadata-store.js';
import type { TopicRecord } from '../../src/coordination/metadata-store.js';
import { buildBatch, decodeRecords } from '../../src/protocol/records/index.js';
import { DEFAULT_STORAGE_OPTIONS, DEFAULT_TOPIC_STORAGE, LogManager } from '../../src/storage/log-manager.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import { parseWalKey } from '../../src/storage/wal-writer.js';
import { startEtcd, type EtcdProcess } from '../helpers/etcd.js';
import { whileProducing } from '../helpers/produce-meanwhile.js';

const log = pino({ level: 'silent' });
const MIN_AGE_MS = 300;
let etcd: EtcdProcess;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await etcd?.cleanup();
});

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function broker(brokerId: number, store: MemoryObjectStore, segmentMs = 600_000, packsRideWal = false) {
  const meta = new EtcdMetadataStore({ endpoints: [etcd.endpoint], prefix: '/collect', leaseTtlSeconds: 2, maxTxnOps: 128, requestTimeoutMs: 3000 }, log);
  await meta.start();
  await meta.registerBroker({ brokerId, host: '127.0.0.1', port: brokerId, rack: null });
  const logs = new LogManager(
    store,
    meta,
    { ...DEFAULT_STORAGE_OPTIONS, brokerId, compactionIntervalMs: 60_000, gcMinAgeMs: MIN_AGE_MS, packsRideWal },
    () => ({ ...DEFAULT_TOPIC_STORAGE, segmentBytes: 64 << 20, segmentMs, retentionMs: -1, retentionBytes: -1 }),
    log,
  );
  await logs.start();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await logs.close();
    await meta.close();
  };
  closers.push(close);
  return { meta, logs, close };
}

const batch = (v: string) => buildBatch({ records: [{ key: null, value: Buffer.from(v) }] });

test('WAL objects of a broker that left and unreferenced segments are collected by the lowest live broker; referenced ones stay', async () => {
  const store = new MemoryObjectStore();
  const a = await broker(1, store);
  const b = await broker(2, store);
  await until('both brokers seen', () => a.meta.brokers().length === 2 && b.meta.brokers().length === 2);
  const topic: TopicRecord = { name: 'collect', topicId: 'collect-id'.padEnd(22, 'A'), partitions: 2, configs: {} };
  await a.meta.createTopic(topic);
  await until('one partition each', () => a.meta.assignedPartitions().length === 1 && b.meta.assignedPartitions().length === 1);
  const pb = await b.logs.open(topic, b.meta.assignedPartitions()[0]!.partition);

  // Broker 2 writes, compacts (its WAL objects are then referenced by no manifest), and writes once more.
  for (const v of ['a', 'b', 'c']) await pb.append([batch(v)]);
  await b.logs.compact(pb, 64 << 20);
  await pb.append([batch('d')]);
  const broker2Wal = () => [...store.objects.keys()].filter((k) => parseWalKey(k)?.brokerId === 2);
  const referenced = pb.ranges.filter((r) => r.kind === 'wal').map((r) => r.key);
  expect(referenced).toHaveLength(1);
  expect(broker2Wal()).toHaveLength(4);
  const orphan = `segments/${topic.topicId}/0/00000000000000000099-dead.seg`;
  await store.put(orphan, Buffer.from('left by a swap that was refused'));
  await new Promise((r) => setTimeout(r, MIN_AGE_MS + 50));

  // While broker 2 is live, its WAL objects are its own collector's business.
  expect(await a.logs.sweepOrphans()).toEqual({ wal: 0, segments: 1 });
  expect(store.objects.has(orphan)).toBe(false);
  expect(broker2Wal()).toHaveLength(4);
  // And broker 2, not the lowest live id, does not sweep.
  await store.put(orphan, Buffer.from('again'));
  await new Promise((r) => setTimeout(r, MIN_AGE_MS + 50));
  await b.logs.collectGarbage();
  expect(store.objects.has(orphan)).toBe(true);
  expect(broker2Wal()).toEqual(referenced); // its own collector took its three compacted ones

  // Broker 2 leaves and never comes back; broker 1 gets its partition.
  await store.put(`wal/2/${Date.now().toString().padStart(15, '0')}-00000099.wal`, Buffer.from('never committed'));
  await b.close();
  await until('broker 2 gone', () => a.meta.brokers().length === 1);
  await new Promise((r) => setTimeout(r, MIN_AGE_MS + 50));
  expect(await a.logs.sweepOrphans()).toEqual({ wal: 1, segments: 1 });
  expect(broker2Wal()).toEqual(referenced);
  await until('partition handed over', () => a.meta.assignedPartitions().length === 2);
  const pa = await a.logs.open(topic, pb.partition);
  const values: string[] = [];
  for (const buf of await pa.read(0, 1 << 20)) for (const r of decodeRecords(buf)) values.push(r.value!.toString());
  expect(values).toEqual(['a', 'b', 'c', 'd']);
  await a.close();
}, 60_000);

test('the WAL collector takes the references of the partitions it has open from memory and reads the others\' from etcd', async () => {
  const store = new MemoryObjectStore();
  const a = await broker(3, store);
  const b = await broker(4, store);
  await until('both brokers seen', () => a.meta.brokers().length >= 2 && b.meta.brokers().filter((x) => x.brokerId >= 3).length === 2);
  const topic: TopicRecord = { name: 'collect-open', topicId: 'collect-open'.padEnd(22, 'B'), partitions: 4, configs: {} };
  await a.meta.createTopic(topic);
  const mine = () => b.meta.assignedPartitions().filter((p) => p.topicId === topic.topicId);
  await until('two partitions each', () => mine().length === 2);
  const [p, q] = await Promise.all(mine().map((x) => b.logs.open(topic, x.partition)));
  await p!.append([batch('kept')]);
  const [walKey] = p!.ranges.map((r) => r.key);
  await new Promise((r) => setTimeout(r, MIN_AGE_MS + 50));
  // From memory while p is open.
  await b.logs.collectOwnWal();
  expect(store.objects.has(walKey!)).toBe(true);
  // p handed over, q still open: p's ranges are read from etcd (q's are left out of the read).
  await b.logs.release(topic.topicId, p!.partition);
  expect(q!.fenced).toBe(false);
  await b.logs.collectOwnWal();
  expect(store.objects.has(walKey!)).toBe(true);
  await a.close();
  await b.close();
}, 60_000);

test('a pack of several partitions\' segments stays while any references it and is collected by the broker that wrote it once none does', async () => {
  const store = new MemoryObjectStore();
  // segment.ms 0: each pass compacts every partition with WAL, as it does quiet partitions whose runs got old.
  const a = await broker(5, store, 0);
  const topic: TopicRecord = { name: 'collect-packs', topicId: 'collect-packs'.padEnd(22, 'C'), partitions: 3, configs: {} };
  await a.meta.createTopic(topic);
  const mine = () => a.meta.assignedPartitions().filter((p) => p.topicId === topic.topicId);
  await until('the three partitions', () => mine().length === 3);
  const logs = await Promise.all(mine().map((x) => a.logs.open(topic, x.partition)));
  const packs = () => [...store.objects.keys()].filter((k) => k.startsWith('segments/packs/5/'));
  const values = new Map(logs.map((l) => [l, [] as string[]]));
  const round = async (n: number) => {
    for (const l of logs) {
      values.get(l)!.push(`${l.partition}-${n}`);
      await l.append([batch(`${l.partition}-${n}`)]);
    }
    await a.logs.compactionPass();
    for (const l of logs) expect(l.ranges.map((r) => r.kind)).not.toContain('wal');
  };
  await round(1);
  expect(packs()).toHaveLength(1);
  const first = packs()[0]!;
  await new Promise((r) => setTimeout(r, MIN_AGE_MS + 50));
  await a.logs.collectOwnWal();
  expect(packs()).toEqual([first]);
  // The second round merges each partition's first segment into a new pack: the first is referenced by none.
  await round(2);
  expect(packs()).toHaveLength(2);
  expect(logs.every((l) => l.ranges.length === 1 && l.ranges[0]!.key !== first)).toBe(true);
  await new Promise((r) => setTimeout(r, MIN_AGE_MS + 50));
  await a.logs.collectOwnWal();
  expect(packs()).toHaveLength(1);
  expect(packs()).not.toContain(first);
  for (const l of logs) {
    const read: string[] = [];
    for (const buf of await l.read(0, 1 << 20)) for (const r of decodeRecords(buf)) read.push(r.value!.toString());
    expect(read).toEqual(values.get(l));
  }
  await a.close();
}, 60_000);

test('a pack that travelled in a WAL object keeps it from the collector while any of its segments is referenced, and not longer', async () => {
  const store = new MemoryObjectStore();
  const a = await broker(6, store, 0, true);
  const quiet: TopicRecord = { name: 'collect-ride', topicId: 'collect-ride'.padEnd(22, 'R'), partitions: 3, configs: {} };
  const busy: TopicRecord = { name: 'collect-busy', topicId: 'collect-busy'.padEnd(22, 'B'), partitions: 1, configs: {} };
  await a.meta.createTopic(quiet);
  await a.meta.createTopic(busy);
  const mine = (t: TopicRecord) => a.meta.assignedPartitions().filter((p) => p.topicId === t.topicId);
  await until('the four partitions', () => mine(quiet).length === 3 && mine(busy).length === 1);
  const logs = await Promise.all(mine(quiet).map((x) => a.logs.open(quiet, x.partition)));
  const bp = (await a.logs.open(busy, 0))!;
  for (const l of logs) await l.append([batch(`q${l.partition}`)]);
  await whileProducing(bp, () => a.logs.compactionPass());
  const carrier = logs[0]!.ranges[logs[0]!.ranges.length - 1]!.key;
  expect(carrier.startsWith('wal/6/')).toBe(true);
  expect(logs.every((l) => l.ranges.every((r) => r.kind === 'segment' && r.key === carrier))).toBe(true);
  expect([...store.objects.keys()].filter((k) => k.startsWith('segments/'))).toEqual([]);
  // The busy partition's runs go into a segment of their own: only the packed segments name the carrier now.
  await a.logs.compact(bp, 64 << 20);
  expect(bp.ranges.some((r) => r.key === carrier)).toBe(false);
  await new Promise((r) => setTimeout(r, MIN_AGE_MS + 50));
  await a.logs.collectOwnWal();
  expect(store.objects.has(carrier)).toBe(true);
  for (const l of logs) {
    const read: string[] = [];
    for (const buf of await l.read(0, 1 << 20)) for (const r of decodeRecords(buf)) read.push(r.value!.toString());
    expect(read).toEqual([`q${l.partition}`]);
  }
  for (const l of logs) await a.logs.truncateBefore(l, l.highWatermark);
  await a.logs.collectOwnWal();
  expect(store.objects.has(carrier)).toBe(false);
  await a.close();
}, 60_000);
