import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../src/coordination/embedded-metadata-store.js';
import { FilePersistence } from '../../src/coordination/file-persistence.js';
import { RangesNotReplaced, type TopicRecord } from '../../src/coordination/metadata-store.js';
import { dropCoveredRanges } from '../../src/coordination/etcd-metadata-store.js';
import { ErrorCode, KafkaError } from '../../src/protocol/kafka-error.js';
import { buildBatch, decodeRecords } from '../../src/protocol/records/index.js';
import { totalBytes } from '../../src/storage/chunks.js';
import { FsObjectStore } from '../../src/storage/fs-object-store.js';
import { LOCAL_MIN_OVERLAP_BYTES, OBJECT_STORE_MIN_OVERLAP_BYTES, PREPARED_MAX_AGE_MS, parseWalKey } from '../../src/storage/wal-writer.js';
import { DEFAULT_STORAGE_OPTIONS, DEFAULT_TOPIC_STORAGE, LogManager, type StorageOptions } from '../../src/storage/log-manager.js';
import { LocalCopyObjectStore } from '../../src/storage/local-copy-store.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import { TAIL_ENTRY_OVERHEAD_BYTES } from '../../src/storage/partition-log.js';
import { whileProducing } from '../helpers/produce-meanwhile.js';
import type { ByteRange, ObjectStore } from '../../src/storage/object-store.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sh-storage-'));
  dirs.push(d);
  return d;
}

const topic: TopicRecord = { name: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 2, configs: {} };

async function openBroker(dir: string, store: ObjectStore, segmentBytes = 64 << 20, options: Partial<StorageOptions> = {}) {
  const meta = new EmbeddedMetadataStore(new FilePersistence(join(dir, "meta")), log);
  await meta.start();
  if (!meta.topics().get('t')) await meta.createTopic(topic);
  const logs = new LogManager(store, meta, { ...DEFAULT_STORAGE_OPTIONS, brokerId: 0, compactionIntervalMs: 60_000, ...options }, () => ({ ...DEFAULT_TOPIC_STORAGE, segmentBytes, segmentMs: 600_000, retentionMs: -1, retentionBytes: -1 }), log);
  await logs.start();
  const p0 = await logs.open(topic, 0);
  return { meta, logs, p0, close: async () => { await logs.close(); await meta.close(); } };
}

/** `store` counting its PUTs under segments/; WAL PUTs fail while `failWal()` says so. */
function countingSegmentPuts(store: MemoryObjectStore, failWal: () => boolean = () => false): { store: ObjectStore; puts: { segments: number } } {
  const puts = { segments: 0 };
  const counted: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
    put: async (key: string, body: Buffer | Buffer[], opts?: Parameters<ObjectStore['put']>[2]) => {
      if (key.startsWith('segments/')) puts.segments++;
      if (failWal() && key.startsWith('wal/')) throw new Error('503 SlowDown');
      return store.put(key, body, opts);
    },
  });
  return { store: counted, puts };
}

/**
 * A broker whose packs travel in WAL objects, with a `quiet` topic (segment.ms
 * 0: due at every pass) and a one-partition `busy` one (left alone until asked).
 */
async function openRiding(dir: string, store: ObjectStore, quiet: TopicRecord, busy: TopicRecord) {
  const meta = new EmbeddedMetadataStore(new FilePersistence(join(dir, 'meta')), log);
  await meta.start();
  for (const t of [quiet, busy]) if (!meta.topics().get(t.name)) await meta.createTopic(t);
  const cfg = (t: string) => ({ ...DEFAULT_TOPIC_STORAGE, segmentBytes: 1 << 20, segmentMs: t === quiet.name ? 0 : 600_000, retentionMs: -1, retentionBytes: -1 });
  const logs = new LogManager(store, meta, { ...DEFAULT_STORAGE_OPTIONS, brokerId: 0, compactionIntervalMs: 60_000, packsRideWal: true }, cfg, log);
  await logs.start();
  await logs.openRange(quiet, 0, quiet.partitions);
  const ps = await Promise.all(Array.from({ length: quiet.partitions }, async (_, p) => (await logs.open(quiet, p))!));
  const bp = (await logs.open(busy, 0))!;
  return { meta, logs, ps, bp, close: async () => { await logs.close(); await meta.close(); } };
}

function batch(values: string[], extra: Partial<Parameters<typeof buildBatch>[0]> = {}): Buffer {
  return buildBatch({ records: values.map((v) => ({ key: null, value: Buffer.from(v) })), ...extra });
}

async function readAll(p: { read(o: number, m: number): Promise<Buffer[]>; highWatermark: number }, from = 0): Promise<Array<[number, string]>> {
  const out: Array<[number, string]> = [];
  let offset = from;
  while (offset < p.highWatermark) {
    const batches = await p.read(offset, 1 << 20);
    for (const b of batches) for (const r of decodeRecords(b)) if (r.offset >= offset) out.push([r.offset, r.value!.toString()]);
    offset = out.length ? out[out.length - 1]![0] + 1 : offset;
  }
  return out;
}

describe.each([
  ['memory', async () => new MemoryObjectStore()],
  ['fs', async () => new FsObjectStore(join(await tempDir(), 'objects'))],
])('storage on %s', (_name, makeStore) => {
  test('appends get contiguous offsets and become visible once committed', async () => {
    const dir = await tempDir();
    const b = await openBroker(dir, await makeStore());
    const r1 = b.p0.append([batch(['a', 'b'])]);
    const r2 = b.p0.append([batch(['c'])]);
    expect(b.p0.highWatermark).toBe(0);
    expect((await r1).baseOffset).toBe(0);
    expect((await r2).baseOffset).toBe(2);
    expect(b.p0.highWatermark).toBe(3);
    expect(await readAll(b.p0)).toEqual([[0, 'a'], [1, 'b'], [2, 'c']]);
    await b.close();
  });

  test('idempotent retries are answered with the original offset; gaps are refused', async () => {
    const dir = await tempDir();
    const b = await openBroker(dir, await makeStore());
    const pid = { producerId: 7, producerEpoch: 0 };
    expect((await b.p0.append([batch(['x'], { ...pid, baseSequence: 0 })])).baseOffset).toBe(0);
    expect((await b.p0.append([batch(['y', 'z'], { ...pid, baseSequence: 1 })])).baseOffset).toBe(1);
    expect((await b.p0.append([batch(['y', 'z'], { ...pid, baseSequence: 1 })])).baseOffset).toBe(1);
    await expect(b.p0.append([batch(['w'], { ...pid, baseSequence: 5 })])).rejects.toMatchObject({ code: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect(b.p0.highWatermark).toBe(3);
    await b.close();
  });
});

test('a restart recovers every committed batch, producer state and epoch history', async () => {
  const dir = await tempDir();
  const store = new FsObjectStore(join(dir, 'objects'));
  let b = await openBroker(dir, store);
  const pid = { producerId: 9, producerEpoch: 0 };
  for (let i = 0; i < 20; i++) await b.p0.append([batch([`v${i}`], { ...pid, baseSequence: i })]);
  await b.close();

  b = await openBroker(dir, new FsObjectStore(join(dir, 'objects')));
  expect(b.p0.highWatermark).toBe(20);
  expect(b.p0.leaderEpoch).toBe(1);
  expect((await readAll(b.p0)).map((x) => x[1])).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
  // A retry of the last batch after the restart is still recognised.
  expect((await b.p0.append([batch(['v19'], { ...pid, baseSequence: 19 })])).baseOffset).toBe(19);
  expect(b.p0.endOffsetForEpoch(0)).toEqual({ leaderEpoch: 0, endOffset: 20 });
  await b.close();
});

test('a failed object write fails its appends with a retriable error and nothing is kept', async () => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  const b = await openBroker(dir, store);
  await b.p0.append([batch(['ok'])]);
  const put = store.put.bind(store);
  store.put = async () => {
    throw new Error('disk on fire');
  };
  await expect(b.p0.append([batch(['lost'])])).rejects.toSatisfy((e) => e instanceof KafkaError && e.code === ErrorCode.KAFKA_STORAGE_ERROR);
  store.put = put;
  expect((await b.p0.append([batch(['next'])])).baseOffset).toBe(1);
  expect(await readAll(b.p0)).toEqual([[0, 'ok'], [1, 'next']]);
  await b.close();
});

test('compaction moves WAL runs into segments, reads cross the seam, and WAL objects are deleted', async () => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  const b = await openBroker(dir, store, 4096);
  const values: string[] = [];
  for (let i = 0; i < 200; i++) {
    const v = `value-${i}-${'x'.repeat(50)}`;
    values.push(v);
    await b.p0.append([batch([v])]);
  }
  const walBefore = [...store.objects.keys()].filter((k) => k.startsWith('wal/')).length;
  while (b.p0.walBytes() > 0) await b.logs.compact(b.p0, 4096);
  const keys = [...store.objects.keys()];
  expect(keys.filter((k) => k.startsWith('segments/')).length).toBeGreaterThan(1);
  expect(keys.filter((k) => k.startsWith('wal/')).length).toBeLessThan(walBefore);
  expect(b.p0.ranges.every((r) => r.kind === 'segment')).toBe(true);
  expect((await readAll(b.p0, 37)).map((x) => x[1])).toEqual(values.slice(37));
  await b.close();

  // After a restart the segments alone serve everything (tail cache is empty).
  const b2 = await openBroker(dir, store, 4096);
  expect((await readAll(b2.p0)).map((x) => x[1])).toEqual(values);
  const hit = await b2.p0.offsetForTimestamp(0);
  expect(hit?.offset).toBe(0);
  await b2.close();
});

test('a partition that holds a segment of WAL is compacted at once, from its in-memory tail, without reading its WAL objects back', async () => {
  const store = new MemoryObjectStore();
  const walGets: string[] = [];
  const get = store.get.bind(store);
  store.get = (key: string, range?: ByteRange) => {
    if (key.startsWith('wal/')) walGets.push(key);
    return get(key, range);
  };
  // The compaction timer would first tick after a minute: only the growth of the WAL starts this one.
  const b = await openBroker(await tempDir(), store, 4 << 20);
  const values = Array.from({ length: 5 }, () => randomBytes(1 << 20).toString('base64'));
  for (const v of values) await b.p0.append([batch([v])]);
  const deadline = Date.now() + 10_000;
  while (!b.p0.ranges.some((r) => r.kind === 'segment') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(b.p0.ranges.some((r) => r.kind === 'segment')).toBe(true);
  expect(walGets).toEqual([]);
  expect((await readAll(b.p0)).map(([, v]) => v)).toEqual(values);
  await b.close();
});

test('on a store with local WAL copies, a flush makes one only when a partition in it may lose its batches from memory before compaction', async () => {
  const dir = await tempDir();
  for (const [tailMaxBytes, copies] of [[128 << 20, false], [8 << 20, true]] as const) {
    const local = await LocalCopyObjectStore.open(new MemoryObjectStore(), join(dir, `copies-${tailMaxBytes}`), 1 << 30);
    const b = await openBroker(join(dir, `broker-${tailMaxBytes}`), local, 4 << 20, { tailMaxBytes });
    await b.p0.append([batch(['a', 'b'])]);
    expect(local.copiedBytes > 0).toBe(copies);
    await b.close();
  }
});

test('the tail copies small batches out of their request and counts what each one costs against its budget', async () => {
  const dir = await tempDir();
  const b = await openBroker(dir, new MemoryObjectStore(), 64 << 20, { tailMaxBytes: 64 * 1024 });
  const one = batch(['x'.repeat(100)]);
  for (let i = 0; i < 1000; i++) {
    // A request read into a slice of a shared slab, as small frames are.
    const slab = Buffer.alloc(8192);
    const at = 64 + (i % 8) * 512;
    one.copy(slab, at);
    await b.p0.append([slab.subarray(at, at + one.length)]);
    const [kept] = await b.p0.read(i, 1 << 20);
    expect(kept!.buffer).not.toBe(slab.buffer);
    expect(decodeRecords(kept!)[0]!.offset).toBe(i);
  }
  const usage = b.p0.tailUsage();
  expect(usage.bytes).toBe(usage.batches * (one.length + TAIL_ENTRY_OVERHEAD_BYTES));
  expect(usage.bytes).toBeLessThanOrEqual(64 * 1024);
  expect(usage.batches).toBe(Math.floor((64 * 1024) / (one.length + TAIL_ENTRY_OVERHEAD_BYTES)));
  expect((await readAll(b.p0)).length).toBe(1000);
  await b.close();
});

test('a partition keeps its WAL byte and range counts through appends, compaction and a moved log start', async () => {
  const dir = await tempDir();
  const b = await openBroker(dir, new MemoryObjectStore(), 4096);
  const scan = () => {
    const wal = b.p0.ranges.filter((r) => r.kind === 'wal');
    return { bytes: wal.reduce((n, r) => n + r.length, 0), ranges: wal.length };
  };
  const counted = () => ({ bytes: b.p0.walBytes(), ranges: b.p0.walRanges() });
  for (let i = 0; i < 120; i++) await b.p0.append([batch([`v${i}-${'x'.repeat(60)}`])]);
  expect(counted()).toEqual(scan());
  expect(counted().ranges).toBe(120);
  await b.logs.compact(b.p0, 4096);
  expect(b.p0.ranges[0]!.kind).toBe('segment');
  expect(counted()).toEqual(scan());
  await b.logs.truncateBefore(b.p0, 100);
  expect(b.p0.ranges[0]!.baseOffset).toBeGreaterThan(0);
  expect(counted()).toEqual(scan());
  while (b.p0.walBytes() > 0) await b.logs.compact(b.p0, 4096);
  expect(counted()).toEqual({ bytes: 0, ranges: 0 });
  expect(scan()).toEqual({ bytes: 0, ranges: 0 });
  await b.close();
});

test('a read whose WAL object compaction deletes under it reads on from the segment that replaced the range (fault suite 05: a fetch failed)', async () => {
  const dir = await tempDir();
  const mem = new MemoryObjectStore();
  // Holds the next GET once armed, until let go: a read retrying through a faulty S3 takes seconds.
  let armed = false;
  let release!: () => void;
  const heldGet = new Promise<void>((resolve) => (release = resolve));
  let holding!: () => void;
  const holds = new Promise<void>((resolve) => (holding = resolve));
  const store: ObjectStore = {
    description: mem.description,
    put: (k, b, o) => mem.put(k, b, o),
    get: async (k, r) => {
      if (armed && k.startsWith('wal/')) {
        armed = false;
        holding();
        await heldGet;
      }
      return mem.get(k, r);
    },
    delete: (k) => mem.delete(k),
    list: (p) => mem.list(p),
    close: () => mem.close(),
  };
  const values: string[] = [];
  const b = await openBroker(dir, store, 1 << 20);
  for (let i = 0; i < 20; i++) {
    values.push(`v${i}`);
    await b.p0.append([batch([`v${i}`])]);
  }
  await b.close();
  // After a restart the tail is empty: reads go to the WAL objects.
  const b2 = await openBroker(dir, store, 1 << 20);
  armed = true;
  const reading = readAll(b2.p0);
  await holds;
  while (b2.p0.walBytes() > 0) await b2.logs.compact(b2.p0, 1 << 20);
  expect([...mem.objects.keys()].filter((k) => k.startsWith('wal/'))).toEqual([]);
  release();
  expect((await reading).map((x) => x[1])).toEqual(values);
  await b2.close();
});

test('after a restart, compaction of the first partition opened keeps the WAL objects it shares with partitions not open yet (fault suite 05 lost one this way)', async () => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  const b = await openBroker(dir, store, 4096);
  const p1 = await b.logs.open(topic, 1);
  const values: string[] = [];
  for (let i = 0; i < 100; i++) {
    const v = `value-${i}-${'x'.repeat(50)}`;
    values.push(v);
    // both partitions' appends in one flush: every WAL object holds a run of each
    await Promise.all([b.p0.append([batch([v])]), p1.append([batch([v])])]);
  }
  await b.close();

  // Restarted, partition 0 opens first and is compacted before partition 1 opens (its takeover was slow).
  const b2 = await openBroker(dir, store, 4096);
  while (b2.p0.walBytes() > 0) await b2.logs.compact(b2.p0, 4096);
  const p1again = await b2.logs.open(topic, 1);
  expect((await readAll(p1again)).map((x) => x[1])).toEqual(values);
  expect((await readAll(b2.p0)).map((x) => x[1])).toEqual(values);
  // once partition 1 is compacted too, nothing references the WAL objects: they go
  while (p1again.walBytes() > 0) await b2.logs.compact(p1again, 4096);
  expect([...store.objects.keys()].filter((k) => k.startsWith('wal/'))).toEqual([]);
  await b2.close();
});

test('a small segment is merged into the next compaction; one that holds half a segment of compressible records is not rewritten', async () => {
  const store = new MemoryObjectStore();
  const b = await openBroker(await tempDir(), store, 64 * 1024);
  const segmentKeys = () => b.p0.ranges.filter((r) => r.kind === 'segment').map((r) => r.key);
  const appendBytes = async (n: number) => {
    for (let i = 0; i < n / 1024; i++) await b.p0.append([batch(['y'.repeat(1000)])]);
  };
  // A quiet partition: its one small segment grows, no second object appears.
  await appendBytes(4 * 1024);
  await b.logs.compact(b.p0, 64 * 1024);
  const [small] = segmentKeys();
  await appendBytes(4 * 1024);
  await b.logs.compact(b.p0, 64 * 1024);
  expect(segmentKeys()).toHaveLength(1);
  expect(segmentKeys()[0]).not.toBe(small);
  // 40 KiB of batches LZ4 makes into a few hundred bytes: judged by its object
  // size it would be read and written again by every later compaction.
  await appendBytes(40 * 1024);
  await b.logs.compact(b.p0, 64 * 1024);
  const [big] = segmentKeys();
  expect(b.p0.ranges[0]!.length).toBeLessThan(8 * 1024);
  await appendBytes(8 * 1024);
  await b.logs.compact(b.p0, 64 * 1024);
  expect(segmentKeys()).toHaveLength(2);
  expect(segmentKeys()[0]).toBe(big);
  expect((await readAll(b.p0)).length).toBe(56);
  await b.close();
});

test('a quiet partition merges its small segments as a binary counter carries: a few segments, each byte rewritten a few times', async () => {
  const mem = new MemoryObjectStore();
  let segmentBytesPut = 0;
  const store: ObjectStore = Object.assign(Object.create(mem) as ObjectStore, {
    put: async (key: string, body: Buffer | Buffer[], opts?: Parameters<ObjectStore['put']>[2]) => {
      if (key.startsWith('segments/')) segmentBytesPut += totalBytes(Array.isArray(body) ? body : [body]);
      return mem.put(key, body, opts);
    },
  });
  const b = await openBroker(await tempDir(), store, 256 * 1024);
  const popcount = (n: number) => n.toString(2).replaceAll('0', '').length;
  const values: string[] = [];
  for (let round = 1; round <= 32; round++) {
    // About 1 KiB a round that LZ4 cannot shrink: object sizes follow the batches.
    const v = randomBytes(1000).toString('base64');
    values.push(v);
    await b.p0.append([batch([v])]);
    await b.logs.compact(b.p0, 256 * 1024);
    expect(b.p0.walBytes()).toBe(0);
    expect(b.p0.ranges.length).toBe(popcount(round));
  }
  // Round k writes a segment of 2^(trailing zeros of k) rounds: 112 rounds' worth over 32 rounds, 3.5 times
  // each byte; merging into one growing segment wrote 1 + 2 + ... + 32 rounds' worth (16.5 times).
  const written = segmentBytesPut / (32 * batch([values[0]!]).length);
  expect(written).toBeGreaterThan(3.4);
  expect(written).toBeLessThan(4.5);
  expect((await readAll(b.p0)).map(([, v]) => v)).toEqual(values);
  await b.close();
});

test('a small segment followed by a WAL run too big to join it still lets compaction move on', async () => {
  const store = new MemoryObjectStore();
  const b = await openBroker(await tempDir(), store, 4096);
  await b.p0.append([batch(['a'.repeat(1500)])]);
  await b.logs.compact(b.p0, 4096);
  expect(b.p0.walBytes()).toBe(0);
  // One WAL run of 4.4 KiB, over segment.bytes and so due. With the 1.5 KiB segment
  // before it the group would exceed segment.bytes; a group of the segment alone was
  // rewritten on every pass while the run stayed in the WAL for good.
  await b.p0.append([batch(['b'.repeat(2200), 'c'.repeat(2200)])]);
  expect(await b.logs.compactionPass()).toBe(false);
  expect(b.p0.walBytes()).toBe(0);
  expect((await readAll(b.p0)).map(([, v]) => v[0])).toEqual(['a', 'b', 'c']);
  await b.close();
});

test('a compaction pass writes segment after segment while a backlog lasts, and says when one is left', async () => {
  const store = new MemoryObjectStore();
  const b = await openBroker(await tempDir(), store, 4096);
  for (let i = 0; i < 40; i++) await b.p0.append([batch([`${i}`.padEnd(1000, '-')])]);
  const segments = () => b.p0.ranges.filter((r) => r.kind === 'segment').length;
  // A pass a second and one segment a pass capped compaction at segment.bytes a second.
  expect(await b.logs.compactionPass()).toBe(true);
  expect(segments()).toBe(4);
  let passes = 1;
  while (await b.logs.compactionPass()) passes++;
  expect(passes).toBeLessThanOrEqual(3);
  expect(b.p0.walBytes()).toBeLessThan(4096);
  expect((await readAll(b.p0)).map(([, v]) => v.slice(0, 2))).toEqual(Array.from({ length: 40 }, (_, i) => `${i}`.padEnd(2, '-')));
  await b.close();
});

test('produce waits while compaction owes more than its bound, and goes on once compaction caught up', async () => {
  const store = new MemoryObjectStore();
  const segmentPuts: Array<boolean | undefined> = [];
  const put = store.put.bind(store);
  store.put = async (key, body, opts) => {
    if (key.startsWith('segments/')) segmentPuts.push(opts?.catchUp);
    return put(key, body, opts);
  };
  const b = await openBroker(await tempDir(), store, 4096, { maxCompactionDebtBytes: 8192 });
  for (let i = 0; i < 20; i++) await b.p0.append([batch([`${i}`.padEnd(1000, '-')])]);
  // 20 KiB of WAL, one segment's worth of it waiting for more: 16 KiB owed.
  expect(b.logs.compactionDebtBytes()).toBeGreaterThan(8192);
  expect(b.logs.stats.segmentsWritten).toBe(0);
  // The first refusal starts a compaction pass (the timer is a minute away here);
  // admission comes once segments took the debt under its bound, not before.
  expect(await b.logs.writer.admit(Date.now() + 10_000)).toBe(true);
  expect(b.logs.stats.produceHolds).toBe(1);
  expect(b.logs.stats.segmentsWritten).toBeGreaterThan(0);
  expect(b.logs.compactionDebtBytes()).toBeLessThanOrEqual(8192);
  // Behind by more than half the bound, compaction asks the store to catch up; then no more.
  // (Admission can come while the debt is still above half the bound, and the
  // pass it started goes on: how many puts catch up depends on that timing.)
  await b.logs.compactionPass();
  expect(segmentPuts[0]).toBe(true);
  expect(segmentPuts.at(-1)).toBe(false);
  expect(segmentPuts.indexOf(true, segmentPuts.indexOf(false))).toBe(-1);
  expect((await readAll(b.p0)).map(([, v]) => v.slice(0, 2))).toEqual(Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(2, '-')));
  await b.close();
});

test('produce refused past its deadline while compaction cannot catch up; partitions below one segment owe nothing', async () => {
  const store = new MemoryObjectStore();
  const b = await openBroker(await tempDir(), store, 4096, { maxCompactionDebtBytes: 2048 });
  const p1 = await b.logs.open(topic, 1);
  // Each partition holds less than a segment: waiting for more data, not for the compactor.
  for (let i = 0; i < 3; i++) await b.p0.append([batch([`${i}`.padEnd(1000, '-')])]);
  for (let i = 0; i < 3; i++) await p1.append([batch([`${i}`.padEnd(1000, '-')])]);
  expect(b.logs.compactionDebtBytes()).toBe(0);
  expect(await b.logs.writer.admit(Date.now() + 1000)).toBe(true);
  for (let i = 3; i < 12; i++) await b.p0.append([batch([`${i}`.padEnd(1000, '-')])]);
  // Segment writes fail (a store that refuses them): the debt stays, produce is refused at its deadline.
  const put = store.put.bind(store);
  store.put = async (key, body) => (key.startsWith('wal/') ? put(key, body) : Promise.reject(new Error('store down')));
  await new Promise((r) => setTimeout(r, 150)); // the produce path's view of the debt is up to 100 ms old
  const t0 = Date.now();
  expect(await b.logs.writer.admit(Date.now() + 300)).toBe(false);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  store.put = put;
  expect(await b.logs.writer.admit(Date.now() + 10_000)).toBe(true);
  await b.close();
});

test('a segment swap whose outcome is unknown keeps the segment: the manifest may reference it (fault suite 04 lost fa/3 this way)', async () => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  const b = await openBroker(dir, store, 4096);
  const values: string[] = [];
  for (let i = 0; i < 40; i++) {
    values.push(`v${i}`);
    await b.p0.append([batch([`v${i}`])]);
  }
  // The swap lands in the metadata, then its answer is lost (an etcd deadline, a journal write past its retries).
  const real = b.meta.replaceRanges.bind(b.meta);
  b.meta.replaceRanges = async (r) => {
    await real(r);
    throw new Error('DEADLINE_EXCEEDED');
  };
  await expect(b.logs.compact(b.p0, 1 << 20)).rejects.toThrow('DEADLINE_EXCEEDED');
  const segments = [...store.objects.keys()].filter((k) => k.startsWith('segments/'));
  expect(segments).toHaveLength(1);
  await b.close();
  const b2 = await openBroker(dir, store, 4096);
  expect(b2.p0.ranges.map((r) => r.key)).toEqual(segments);
  expect((await readAll(b2.p0)).map((x) => x[1])).toEqual(values);
  await b2.close();
});

test('a refused segment swap deletes the segment it wrote: nothing references it', async () => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  const b = await openBroker(dir, store, 4096);
  for (let i = 0; i < 10; i++) await b.p0.append([batch([`v${i}`])]);
  b.meta.replaceRanges = async () => {
    throw new RangesNotReplaced('taken over');
  };
  await expect(b.logs.compact(b.p0, 1 << 20)).rejects.toThrow('taken over');
  expect([...store.objects.keys()].filter((k) => k.startsWith('segments/'))).toEqual([]);
  await b.close();
});

test('dropCoveredRanges: ranges inside an earlier one (a replacement cut short) are dropped', () => {
  const r = (baseOffset: number, nextOffset: number) => ({ baseOffset, nextOffset });
  expect(dropCoveredRanges([r(0, 10), r(3, 5), r(5, 10), r(10, 12), r(12, 20), r(14, 15)])).toEqual({
    kept: [r(0, 10), r(10, 12), r(12, 20)],
    covered: [r(3, 5), r(5, 10), r(14, 15)],
  });
});

test('a later flush failing while an earlier commit is in flight never makes the log forget committed records', async () => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  const b = await openBroker(dir, store);
  const put = store.put.bind(store);
  let puts = 0;
  store.put = async (key, body) => {
    // The second WAL object fails at once, while the first one's journal commit is still being written.
    if (key.startsWith('wal/') && ++puts === 2) throw new Error('disk on fire');
    return put(key, body);
  };
  const first = b.p0.append([batch(['a'])]);
  await new Promise((r) => setImmediate(r)); // the first flush starts alone
  const big = 'x'.repeat(300 * 1024); // enough pending bytes for an overlapping second flush
  const second = b.p0.append([batch([big])]);
  const [r1, r2] = await Promise.allSettled([first, second]);
  expect(r1.status).toBe('fulfilled');
  expect(r2.status).toBe('rejected');
  // Committed records stay: either the log still holds them, or it was fenced to be reloaded.
  expect(b.p0.fenced || (b.p0.logEndOffset === b.p0.highWatermark && b.p0.highWatermark === 1)).toBe(true);
  store.put = put;
  await b.close();
  const b2 = await openBroker(dir, store);
  expect(await readAll(b2.p0)).toEqual([[0, 'a']]);
  expect((await b2.p0.append([batch(['next'])])).baseOffset).toBe(1);
  await b2.close();
});

test('the WAL collector leaves alone a prepared WAL object that is being written, however old its name', async () => {
  // A prepared key is named for when it was prepared; on a quiet broker that
  // is long before it is written, so the collector's age guard does not cover
  // the write and its commit.
  const dir = await tempDir();
  const store = new FsObjectStore(join(dir, 'objects'));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const put = store.put.bind(store);
  let held = 0;
  store.put = async (key, body) => {
    await put(key, body);
    // written and synced, its commit not yet issued
    if (key.startsWith('wal/') && held++ === 0) await gate;
  };
  const b = await openBroker(dir, store);
  const acked = b.p0.append([batch(['kept'])]);
  await new Promise((r) => setTimeout(r, 20));
  const realNow = Date.now;
  Date.now = () => realNow() + 3_600_000;
  try {
    await b.logs.collectOwnWal();
  } finally {
    Date.now = realNow;
  }
  release();
  expect((await acked).baseOffset).toBe(0);
  expect(await readAll(b.p0)).toEqual([[0, 'kept']]);
  await b.close();
  // and after a restart, from the store alone
  const again = await openBroker(dir, new FsObjectStore(join(dir, 'objects')));
  expect(await readAll(again.p0)).toEqual([[0, 'kept']]);
  await again.close();
});

test.each([
  ['on a local disk, each append worth an object overlaps the flush in flight', LOCAL_MIN_OVERLAP_BYTES, 4],
  ['on S3, appends wait for the flush in flight until 1 MiB is worth a request', OBJECT_STORE_MIN_OVERLAP_BYTES, 2],
])('%s', async (_name, minOverlap, objects) => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const put = store.put.bind(store);
  const walPuts: number[] = [];
  store.put = async (key, body) => {
    if (key.startsWith('wal/') && walPuts.push(totalBytes(Array.isArray(body) ? body : [body])) === 1) await gate;
    await put(key, body);
  };
  const b = await openBroker(dir, store, 64 << 20, { walMinOverlapBytes: minOverlap });
  const first = b.p0.append([batch(['first'])]);
  await new Promise((r) => setTimeout(r, 20)); // its flush is in flight, held at the gate
  const value = 'v'.repeat(300 * 1024);
  const more: Array<Promise<{ baseOffset: number }>> = [];
  for (let i = 0; i < 3; i++) {
    more.push(b.p0.append([batch([value])]));
    await new Promise((r) => setTimeout(r, 5)); // one request at a time, as they come from the network
  }
  await new Promise((r) => setTimeout(r, 20));
  release();
  expect((await first).baseOffset).toBe(0);
  expect((await Promise.all(more)).map((r) => r.baseOffset)).toEqual([1, 2, 3]);
  expect(walPuts).toHaveLength(objects);
  expect((await readAll(b.p0)).map(([o]) => o)).toEqual([0, 1, 2, 3]);
  await b.close();
});

test('a compaction hands the event loop back while it works (it held every connection for up to 150 ms)', async () => {
  const dir = await tempDir();
  const b = await openBroker(dir, new FsObjectStore(join(dir, 'objects')), 64 << 20);
  // 40 MiB of records too random to compress, in WAL objects small enough to be read with blocking
  // reads: reads and blocks that all complete at once (as under Kafka's perf tool at half load).
  for (let i = 0; i < 400; i++) await b.p0.append([batch(Array.from({ length: 150 }, () => randomBytes(512).toString('base64')))]);
  let turns = 0;
  let spinning = true;
  let last = performance.now();
  let longest = 0;
  const spin = () => {
    if (!spinning) return;
    turns++;
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    setImmediate(spin);
  };
  setImmediate(spin);
  const started = performance.now();
  await b.logs.compact(b.p0, 64 << 20);
  const took = performance.now() - started;
  spinning = false;
  expect(b.logs.stats.segmentsWritten).toBe(1);
  expect(turns).toBeGreaterThan(0);
  // Without yielding, the reads and blocks ran as one chain: the loop waited 80 ms of the
  // compaction's 250 (here, on 2 cores); with it, about 7. Relative, as the machine's speed varies.
  expect(longest).toBeLessThan(took / 4);
  await b.close();
}, 60_000);

/** Runs `fn` with the clock moved on by `ms` (the collectors judge age by Date.now). */
async function later<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + ms;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

/** A broker of a cluster (not the single writer) whose live brokers are `live`. */
async function openClusterBroker(dir: string, store: ObjectStore, brokerId: number, live: number[]) {
  const meta = new EmbeddedMetadataStore(new FilePersistence(join(dir, 'meta')), log);
  Object.defineProperty(meta, 'singleWriter', { value: false });
  meta.brokers = () => live.map((id) => ({ brokerId: id, host: 'localhost', port: 9092 + id, rack: null }));
  await meta.start();
  if (!meta.topics().get('t')) await meta.createTopic(topic);
  const logs = new LogManager(store, meta, { ...DEFAULT_STORAGE_OPTIONS, brokerId, compactionIntervalMs: 60_000 }, () => ({ ...DEFAULT_TOPIC_STORAGE, segmentBytes: 64 << 20, segmentMs: 600_000, retentionMs: -1, retentionBytes: -1 }), log);
  await logs.start();
  const p0 = await logs.open(topic, 0);
  return { meta, logs, p0, close: async () => { await logs.close(); await meta.close(); } };
}

describe('objects nobody else deletes, in a cluster', () => {
  const HOUR = 3_600_000;

  test('the lowest live broker sweeps WAL objects of brokers that left and segments no manifest references', async () => {
    const dir = await tempDir();
    const store = new MemoryObjectStore();
    const b = await openClusterBroker(dir, store, 1, [1, 2]);
    for (const v of ['a', 'b']) await b.p0.append([batch([v])]);
    await b.logs.compact(b.p0, 64 << 20); // a referenced segment
    await b.p0.append([batch(['c'])]); // and a referenced WAL object of this broker
    const name = (brokerId: number, ms: number) => `wal/${brokerId}/${ms.toString().padStart(15, '0')}-00000001.wal`;
    const now = Date.now();
    const departed = name(5, now); // an hour old by the time of the sweep
    const departedYoung = name(5, now + HOUR - 60_000); // named a minute before the sweep
    const liveOther = name(2, now); // broker 2 is live: its own collector's business
    const orphanSegment = `segments/${topic.topicId}/0/00000000000000000099-dead.seg`;
    for (const k of [departed, departedYoung, liveOther, orphanSegment]) await store.put(k, Buffer.from('x'));
    const before = [...store.objects.keys()];

    // Young objects stay, whoever wrote them.
    expect(await b.logs.sweepOrphans()).toEqual({ wal: 0, segments: 0 });
    expect(await later(HOUR, () => b.logs.sweepOrphans())).toEqual({ wal: 1, segments: 1 });
    expect([...store.objects.keys()].sort()).toEqual(before.filter((k) => k !== departed && k !== orphanSegment).sort());
    expect(await readAll(b.p0)).toEqual([[0, 'a'], [1, 'b'], [2, 'c']]);
    await b.close();
  });

  test('only the lowest live broker sweeps; a broker that is not live itself never does', async () => {
    for (const [self, live, sweeps] of [[1, [1, 2], true], [2, [1, 2], false], [0, [1, 2], false]] as const) {
      const dir = await tempDir();
      const store = new MemoryObjectStore();
      const b = await openClusterBroker(dir, store, self, [...live]);
      await store.put(`segments/${topic.topicId}/0/00000000000000000099-dead.seg`, Buffer.from('x'));
      await later(HOUR, () => b.logs.collectGarbage());
      expect(store.objects.has(`segments/${topic.topicId}/0/00000000000000000099-dead.seg`)).toBe(!sweeps);
      await b.close();
    }
  });

  test('a segment put and not yet swapped in is left alone, however old it looks', async () => {
    const dir = await tempDir();
    const store = new MemoryObjectStore();
    const b = await openClusterBroker(dir, store, 1, [1]);
    for (const v of ['a', 'b']) await b.p0.append([batch([v])]);
    const replace = b.meta.replaceRanges.bind(b.meta);
    let swept: { wal: number; segments: number } | null = null;
    b.meta.replaceRanges = async (r) => {
      swept = await later(HOUR, () => b.logs.sweepOrphans());
      return replace(r);
    };
    await b.logs.compact(b.p0, 64 << 20);
    expect(swept).toEqual({ wal: 0, segments: 0 });
    expect(b.p0.ranges.map((r) => r.kind)).toEqual(['segment']);
    expect(await readAll(b.p0)).toEqual([[0, 'a'], [1, 'b']]);
    await b.close();
  });

  test('a prepared WAL object is never written once its name is PREPARED_MAX_AGE_MS old', async () => {
    const dir = await tempDir();
    const store = new FsObjectStore(join(dir, 'objects'));
    const b = await openBroker(dir, store);
    await b.p0.append([batch(['a'])]);
    const first = parseWalKey(b.p0.ranges[0]!.key)!.writtenAt;
    const moved = PREPARED_MAX_AGE_MS + 1000;
    await later(moved, () => b.p0.append([batch(['b'])]));
    // Named after the clock moved on: not one of the keys prepared before it.
    expect(parseWalKey(b.p0.ranges[1]!.key)!.writtenAt).toBeGreaterThanOrEqual(first + moved - 1000);
    expect(await readAll(b.p0)).toEqual([[0, 'a'], [1, 'b']]);
    await b.close();
    const again = await openBroker(dir, new FsObjectStore(join(dir, 'objects')));
    expect(await readAll(again.p0)).toEqual([[0, 'a'], [1, 'b']]);
    await again.close();
  });
});

test('quiet partitions compacted in one pass share one pack: read back whole, merged later; the pack goes once nothing references it (also after a restart) or its partitions go quiet', async () => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  const { store: counted, puts } = countingSegmentPuts(store);
  const quiet: TopicRecord = { name: 'quiet', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 8, configs: {} };
  const open = async () => {
    const meta = new EmbeddedMetadataStore(new FilePersistence(join(dir, 'meta')), log);
    await meta.start();
    if (!meta.topics().get('quiet')) await meta.createTopic(quiet);
    // segment.ms 0: every partition with WAL is due at each pass, as quiet partitions are once their runs get old.
    const logs = new LogManager(counted, meta, { ...DEFAULT_STORAGE_OPTIONS, brokerId: 0, compactionIntervalMs: 60_000 }, () => ({ ...DEFAULT_TOPIC_STORAGE, segmentBytes: 1 << 20, segmentMs: 0, retentionMs: -1, retentionBytes: -1 }), log);
    await logs.start();
    await logs.openRange(quiet, 0, 8);
    const ps = await Promise.all(Array.from({ length: 8 }, (_, p) => logs.open(quiet, p)));
    return { meta, logs, ps, close: async () => { await logs.close(); await meta.close(); } };
  };
  let b = await open();
  const values: string[][] = Array.from({ length: 8 }, () => []);
  const packs = async () => (await store.list('segments/packs/')).map((o) => o.key);
  for (let round = 1; round <= 6; round++) {
    for (const [p, log] of b.ps.entries()) {
      const v = `${p}-${round}-${randomBytes(300).toString('base64')}`;
      values[p]!.push(v);
      await log.append([batch([v])]);
    }
    puts.segments = 0;
    await b.logs.compactionPass();
    // One PUT for the eight partitions: their segments (merged with earlier ones as the binary counter carries) in a pack.
    expect(puts.segments).toBe(1);
    for (const log of b.ps) {
      expect(log.walBytes()).toBe(0);
      expect(log.ranges.every((r) => r.kind === 'segment' && r.key.startsWith('segments/packs/0/'))).toBe(true);
    }
    const last = b.ps.map((log) => log.ranges[log.ranges.length - 1]!);
    expect(new Set(last.map((r) => r.key)).size).toBe(1);
    expect(new Set(last.map((r) => r.position)).size).toBe(8);
    for (const [p, log] of b.ps.entries()) expect((await readAll(log)).map(([, v]) => v)).toEqual(values[p]);
  }
  // Rounds 1-6 leave segments of rounds 5-6 and of 1-4 (popcount(6) = 2): two packs referenced, the four others deleted.
  expect((await packs()).length).toBe(2);
  await b.close();

  // After a restart the references are counted again: the packs go only with their last segment.
  b = await open();
  for (const [p, log] of b.ps.entries()) expect((await readAll(log)).map(([, v]) => v)).toEqual(values[p]);
  for (const log of b.ps.slice(0, 6)) await b.logs.truncateBefore(log, log.highWatermark);
  expect((await packs()).length).toBe(2);
  // Partitions quiet for segment.ms (0 here) take their segments out of the packs: one segment each, of their own.
  puts.segments = 0;
  await b.logs.compactionPass();
  expect(puts.segments).toBe(2);
  expect(await packs()).toEqual([]);
  for (const [p, log] of b.ps.entries()) {
    if (p < 6) continue;
    expect(log.ranges.map((r) => [r.kind, r.key.startsWith(`segments/${quiet.topicId}/${p}/`), r.position])).toEqual([['segment', true, 0]]);
    expect((await readAll(log)).map(([, v]) => v)).toEqual(values[p]);
  }
  await b.close();
});

test('on a store that bills each PUT, a pack travels in the next WAL object: no PUT of its own; read back after a restart; the WAL object goes with its last range', async () => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  const { store: counted, puts } = countingSegmentPuts(store);
  const quiet: TopicRecord = { name: 'quiet', topicId: 'AAAAAAAAAAAAAAAAAAAABA', partitions: 8, configs: {} };
  const busy: TopicRecord = { name: 'busy', topicId: 'AAAAAAAAAAAAAAAAAAAABQ', partitions: 1, configs: {} };
  let b = await openRiding(dir, counted, quiet, busy);
  const values: string[][] = Array.from({ length: 8 }, () => []);
  for (const [p, log] of b.ps.entries()) {
    const v = `${p}-${randomBytes(300).toString('base64')}`;
    values[p]!.push(v);
    await log.append([batch([v])]);
  }
  // Produce goes on meanwhile: the busy partition appends every few ms.
  puts.segments = 0;
  const { acked: busyValues } = await whileProducing(b.bp, () => b.logs.compactionPass());
  expect(puts.segments).toBe(0);
  const last = b.ps.map((log) => log.ranges[log.ranges.length - 1]!);
  expect(last.every((r) => r.kind === 'segment' && r.key.startsWith('wal/0/'))).toBe(true);
  expect(new Set(last.map((r) => r.key)).size).toBe(1);
  expect(new Set(last.map((r) => r.position)).size).toBe(8);
  const carrier = last[0]!.key;
  // The busy partition's own run is in that object too: it was a flush of produce.
  expect(b.bp.ranges.some((r) => r.kind === 'wal' && r.key === carrier)).toBe(true);
  for (const [p, log] of b.ps.entries()) expect((await readAll(log)).map(([, v]) => v)).toEqual(values[p]);
  await b.close();

  // After a restart the packed segments read back from the WAL object, and the references are counted again.
  b = await openRiding(dir, counted, quiet, busy);
  for (const [p, log] of b.ps.entries()) expect((await readAll(log)).map(([, v]) => v)).toEqual(values[p]);
  expect((await readAll(b.bp)).map(([, v]) => v)).toEqual(busyValues);
  // The busy partition's runs go into a segment of their own: the WAL object stays for the packed segments.
  await b.logs.compact(b.bp, 1 << 20);
  expect(b.bp.ranges.every((r) => r.kind === 'segment')).toBe(true);
  expect((await store.list('wal/')).map((o) => o.key)).toContain(carrier);
  // And goes once they do too.
  for (const log of b.ps) await b.logs.truncateBefore(log, log.highWatermark);
  expect((await store.list('wal/')).map((o) => o.key)).not.toContain(carrier);
  // With no produce going on, a pack is written on its own at once.
  for (const log of b.ps) await log.append([batch(['again'])]);
  puts.segments = 0;
  await b.logs.compactionPass();
  expect(puts.segments).toBe(1);
  expect(b.ps.every((log) => log.ranges[log.ranges.length - 1]!.key.startsWith('segments/packs/0/'))).toBe(true);
  await b.close();
});

test('a pack whose WAL flush fails is written on its own: nothing of it is lost', async () => {
  const dir = await tempDir();
  let failWal = false;
  const { store: flaky, puts } = countingSegmentPuts(new MemoryObjectStore(), () => failWal);
  const quiet: TopicRecord = { name: 'quiet', topicId: 'AAAAAAAAAAAAAAAAAAAABg', partitions: 4, configs: {} };
  const busy: TopicRecord = { name: 'busy', topicId: 'AAAAAAAAAAAAAAAAAAAABw', partitions: 1, configs: {} };
  const b = await openRiding(dir, flaky, quiet, busy);
  for (const [p, l] of b.ps.entries()) await l.append([batch([`q${p}`])]);
  // The flushes of the busy partition fail while the pass runs (their appends are refused, as produce would be).
  failWal = true;
  await whileProducing(b.bp, () => b.logs.compactionPass());
  failWal = false;
  expect(puts.segments).toBe(1);
  for (const [p, l] of b.ps.entries()) {
    expect(l.ranges.map((r) => r.key.startsWith('segments/packs/0/'))).toEqual([true]);
    expect((await readAll(l)).map(([, v]) => v)).toEqual([`q${p}`]);
  }
  await b.close();
});

test('a pack replacement whose outcome is unknown keeps the pack and has the partition reloaded from the manifest', async () => {
  const dir = await tempDir();
  const store = new MemoryObjectStore();
  const meta = new EmbeddedMetadataStore(new FilePersistence(join(dir, 'meta')), log);
  await meta.start();
  const quiet: TopicRecord = { name: 'unknown', topicId: 'AAAAAAAAAAAAAAAAAAAAAw', partitions: 2, configs: {} };
  await meta.createTopic(quiet);
  // The store's answer to partition 1's replacement is lost (a timeout): it may or may not have happened.
  const flaky = Object.assign(Object.create(meta) as EmbeddedMetadataStore, {
    replaceRanges: (r: Parameters<EmbeddedMetadataStore['replaceRanges']>[0]) => (r.partition === 1 ? Promise.reject(new Error('request timed out')) : meta.replaceRanges(r)),
  });
  const logs = new LogManager(store, flaky, { ...DEFAULT_STORAGE_OPTIONS, brokerId: 0, compactionIntervalMs: 60_000 }, () => ({ ...DEFAULT_TOPIC_STORAGE, segmentBytes: 1 << 20, segmentMs: 0, retentionMs: -1, retentionBytes: -1 }), log);
  let fenced = 0;
  logs.onFenced = () => fenced++;
  await logs.start();
  await logs.openRange(quiet, 0, 2);
  const [p0, p1] = await Promise.all([logs.open(quiet, 0), logs.open(quiet, 1)]);
  await p0!.append([batch(['zero'])]);
  await p1!.append([batch(['one'])]);
  await logs.compactionPass();
  const packs = await store.list('segments/packs/');
  expect(packs).toHaveLength(1);
  expect(p0!.ranges.map((r) => r.key)).toEqual([packs[0]!.key]);
  expect(p1!.fenced).toBe(true);
  expect(fenced).toBe(1);
  await logs.close();
  await meta.close();
});
