// The storage audit (lib/audit.ts) on hand-made stores: a healthy one passes;
// each kind of damage is counted where it belongs.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { encodeRecord } from '../../src/coordination/journal.js';
import { apply, emptyState, type MetadataState, type Operation } from '../../src/coordination/manifest-state.js';
import type { LogRange } from '../../src/coordination/metadata-store.js';
import { buildBatch } from '../../src/protocol/records/records.js';
import { nextOffsetOf, setBaseOffset, setPartitionLeaderEpoch } from '../../src/protocol/records/batch.js';
import { FsObjectStore } from '../../src/storage/fs-object-store.js';
import { encodeSegment } from '../../src/storage/segment.js';
import { encodeWalObject, type WalRun } from '../../src/storage/wal-object.js';
import { audit, auditFailures, formatAudit } from './lib/audit.js';

const TOPIC = 'AAAAAAAAAAAAAAAAAAAAAQ';
let dir: string;
let store: FsObjectStore;

beforeEach(() => {
  dir = fs.mkdtempSync('/tmp/streamhouse-audit-test-');
  store = new FsObjectStore(path.join(dir, 'objects'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function batch(base: number, n: number, epoch = 0): Buffer {
  const b = buildBatch({ records: Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`v${base + i}`), timestamp: 1_700_000_000_000 + base + i })) });
  setBaseOffset(b, base);
  setPartitionLeaderEpoch(b, epoch);
  return b;
}

/**
 * Partition 0: [0,10) in a segment, [10,20) and [20,30) in two WAL objects;
 * partition 1: [0,5) in the first WAL object. Metadata: snapshot.json holds
 * the topic and the acquisitions, journal.log the WAL commits and the swap.
 */
async function buildStore(): Promise<{ wal1: string; wal2: string; seg: string; ops: Operation[] }> {
  const seg = `segments/${TOPIC}/0/${'0'.padStart(20, '0')}-abcd0001.seg`;
  const segBatches = [batch(0, 4), batch(4, 6)].map((buf) => ({ baseOffset: 0, nextOffset: 0, maxTimestamp: 0, buf }));
  segBatches[0]!.nextOffset = 4;
  segBatches[1]!.baseOffset = 4;
  segBatches[1]!.nextOffset = 10;
  const s = await encodeSegment(segBatches, 64);
  await store.put(seg, s.chunks);

  const run = (partition: number, batches: Buffer[]): WalRun => ({
    topicId: TOPIC,
    partition,
    baseOffset: Number(batches[0]!.readBigInt64BE(0)),
    nextOffset: nextOffsetOf(batches[batches.length - 1]!),
    maxTimestamp: 0,
    batches,
  });
  const wal1 = 'wal/0/00000000000001-1.wal';
  const w1 = encodeWalObject([run(0, [batch(10, 3), batch(13, 7)]), run(1, [batch(0, 5)])]);
  await store.put(wal1, w1.chunks);
  const wal2 = 'wal/0/00000000000002-2.wal';
  const w2 = encodeWalObject([run(0, [batch(20, 10)])]);
  await store.put(wal2, w2.chunks);

  const rangeOf = (key: string, l: (typeof w1.locations)[number]): LogRange => ({ kind: 'wal', key, position: l.position, length: l.length, baseOffset: l.baseOffset, nextOffset: l.nextOffset, maxTimestamp: 0 });
  const segRange: LogRange = { kind: 'segment', key: seg, position: 0, length: s.size, baseOffset: 0, nextOffset: 10, maxTimestamp: 0 };
  const ops: Operation[] = [
    { op: 'createTopic', topic: { name: 't', topicId: TOPIC, partitions: 2, configs: {} } },
    { op: 'acquire', topicId: TOPIC, partition: 0, brokerId: 0 },
    { op: 'acquire', topicId: TOPIC, partition: 1, brokerId: 0 },
    // The segment's run first, as a WAL range that the swap replaces.
    { op: 'wal', commit: { brokerId: 0, objectKey: 'wal/0/00000000000000-0.wal', appends: [{ topicId: TOPIC, partition: 0, leaderEpoch: 0, range: { ...segRange, kind: 'wal', key: 'wal/0/00000000000000-0.wal' }, producers: [] }] } },
    { op: 'replace', replacement: { topicId: TOPIC, partition: 0, leaderEpoch: 0, replacedBaseOffsets: [0], range: segRange } },
    { op: 'wal', commit: { brokerId: 0, objectKey: wal1, appends: [
      { topicId: TOPIC, partition: 0, leaderEpoch: 0, range: rangeOf(wal1, w1.locations[0]!), producers: [] },
      { topicId: TOPIC, partition: 1, leaderEpoch: 0, range: rangeOf(wal1, w1.locations[1]!), producers: [] },
    ] } },
    { op: 'wal', commit: { brokerId: 0, objectKey: wal2, appends: [{ topicId: TOPIC, partition: 0, leaderEpoch: 0, range: rangeOf(wal2, w2.locations[0]!), producers: [] }] } },
  ];
  return { wal1, wal2, seg, ops };
}

/** snapshot.json after the first `inSnapshot` operations, the rest in journal.log. */
function writeMeta(ops: Operation[], inSnapshot: number, journalTail = Buffer.alloc(0), mutate?: (s: MetadataState) => void): void {
  const meta = path.join(dir, 'meta');
  fs.mkdirSync(meta, { recursive: true });
  const state = emptyState();
  ops.slice(0, inSnapshot).forEach((o) => apply(state, o));
  mutate?.(state);
  fs.writeFileSync(path.join(meta, 'snapshot.json'), JSON.stringify({ seq: inSnapshot, state }));
  const recs = ops.slice(inSnapshot).map((o, i) => encodeRecord({ seq: inSnapshot + 1 + i, body: o }));
  fs.writeFileSync(path.join(meta, 'journal.log'), Buffer.concat([...recs, journalTail]));
}

const run = (collectOrphans = false) => audit({ storage: `file://${path.join(dir, 'objects')}`, metadata: { kind: 'file', dir: path.join(dir, 'meta') }, collectOrphans });

test('a healthy store passes: every range checked, nothing orphaned', async () => {
  const { ops } = await buildStore();
  writeMeta(ops, 3);
  const r = await run();
  expect(auditFailures(r), formatAudit(r)).toEqual([]);
  expect(r).toMatchObject({ partitions: 2, walRanges: 3, segmentRanges: 1, objectsReferenced: 3, orphans: 0, batchesChecked: 6 });
});

test('a flipped bit in a WAL batch, a missing object, a damaged segment block are each caught', async () => {
  const { wal1, wal2, seg, ops } = await buildStore();
  writeMeta(ops, 3);
  // Partition 1's batch in wal1: flip a bit inside its records (after the CRC field).
  const p1 = path.join(dir, 'objects', wal1);
  const b = fs.readFileSync(p1);
  const loc = JSON.parse(b.subarray(b.length - 16 - b.readUInt32BE(b.length - 16), b.length - 16).toString()) as Array<{ partition: number; position: number }>;
  b[loc.find((l) => l.partition === 1)!.position + 70]! ^= 0x10;
  fs.writeFileSync(p1, b);
  fs.rmSync(path.join(dir, 'objects', wal2));
  const ps = path.join(dir, 'objects', seg);
  const sb = fs.readFileSync(ps);
  sb[12]! ^= 0x01;
  fs.writeFileSync(ps, sb);
  const r = await run();
  expect(r.corruptRanges, formatAudit(r)).toBe(1);
  expect(r.problems.corruptRanges![0]).toMatch(/CRC mismatch/);
  expect(r.missingObjects).toBe(1);
  expect(r.corruptObjects).toBe(1);
  expect(r.problems.corruptObjects![0]).toMatch(/checksum/);
});

test('gaps, overlaps and a high watermark past the ranges are counted', async () => {
  const { ops } = await buildStore();
  writeMeta(ops, ops.length, Buffer.alloc(0), (s) => {
    const p0 = s.partitions[`${TOPIC}:0`]!;
    p0.ranges.splice(1, 1); // [10,20) vanishes: a gap
    const p1 = s.partitions[`${TOPIC}:1`]!;
    p1.ranges.push({ ...p1.ranges[0]!, baseOffset: 3, nextOffset: 5 }); // overlaps [0,5)
    p1.highWatermark = 7;
  });
  const r = await run();
  expect(r.gaps, formatAudit(r)).toBe(1);
  expect(r.overlaps).toBe(1);
  expect(r.highWatermarkMismatches).toBe(1);
  // The copy of [0,5) claims [3,5) but its batches start at 0.
  expect(r.corruptRanges).toBe(1);
  // wal1's partition-0 run is no longer referenced, but wal1 still is: no orphan.
  expect(r.orphans).toBe(0);
});

test('batches whose epoch disagrees with the history are counted', async () => {
  const { ops } = await buildStore();
  writeMeta(ops, ops.length, Buffer.alloc(0), (s) => {
    s.partitions[`${TOPIC}:1`]!.epochHistory = [{ epoch: 0, startOffset: 0 }, { epoch: 2, startOffset: 0 }];
  });
  const r = await run();
  expect(r.epochHistoryErrors).toBe(1);
  expect(r.epochMismatches).toBe(1);
});

test('orphans and prepared files are counted and collected; a torn journal tail is measured', async () => {
  const { ops } = await buildStore();
  writeMeta(ops, 3, Buffer.from([0, 0, 0, 40, 1, 2, 3]));
  await store.put(`segments/${TOPIC}/0/${'30'.padStart(20, '0')}-ffff0000.seg`, Buffer.from('never committed'));
  await store.put('wal/0/00000000000009-9.wal', Buffer.from('uploaded, commit lost'));
  await store.prepare(['wal/0/00000000000010-10.wal']);
  const r = await run(true);
  expect(auditFailures(r)).toEqual([]);
  expect(r).toMatchObject({ orphans: 2, orphansCollected: 2, preparedEmpty: 1, journalTornBytes: 7 });
  const again = await run();
  expect(again).toMatchObject({ orphans: 0, preparedEmpty: 0 });
});

test('etcd metadata: ranges below the log start are ignored, and manifests over gRPC\'s 4 MiB default are read', async () => {
  const { startEtcd } = await import('../helpers/etcd.js');
  const { Etcd3 } = await import('etcd3');
  const etcd = await startEtcd();
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    const { ops } = await buildStore();
    const state = emptyState();
    ops.forEach((o) => apply(state, o));
    for (const p of Object.values(state.partitions)) {
      await client.put(`/streamhouse/state/${p.topicId}/${p.partition}`).value(JSON.stringify({ leaderId: 0, leaderEpoch: p.leaderEpoch, epochHistory: p.epochHistory, logStartOffset: p.logStartOffset }));
      for (const r of p.ranges) await client.put(`/streamhouse/ranges/${p.topicId}/${p.partition}/${String(r.baseOffset).padStart(20, '0')}`).value(JSON.stringify({ ...r, producers: [] }));
    }
    // A big partition elsewhere: 5 MiB of range keys whose objects do not exist, all below its log start.
    const big = 'AAAAAAAAAAAAAAAAAAAAAg';
    await client.put(`/streamhouse/state/${big}/0`).value(JSON.stringify({ leaderId: 0, leaderEpoch: 0, epochHistory: [{ epoch: 0, startOffset: 0 }], logStartOffset: 1_000_000 }));
    const pad = 'x'.repeat(2000);
    for (let i = 0; i < 2600; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => client.put(`/streamhouse/ranges/${big}/0/${String(i + j).padStart(20, '0')}`).value(JSON.stringify({ kind: 'wal', key: `wal/9/${i + j}.wal`, position: 0, length: 1, baseOffset: i + j, nextOffset: i + j + 1, maxTimestamp: 0, producers: [{ pad }] }))));
    }
    const r = await audit({ storage: `file://${path.join(dir, 'objects')}`, metadata: { kind: 'etcd', endpoints: [etcd.endpoint] }, collectOrphans: false });
    expect(auditFailures(r), formatAudit(r)).toEqual([]);
    expect(r).toMatchObject({ partitions: 3, walRanges: 3, segmentRanges: 1, orphans: 0 });
  } finally {
    client.close();
    await etcd.cleanup();
  }
}, 60_000);

test('metadata in the bucket (embedded store on S3) is read as the broker reads it', async () => {
  const { MemoryObjectStore } = await import('../../src/storage/memory-object-store.js');
  const { ObjectPersistence } = await import('../../src/coordination/object-persistence.js');
  const { EmbeddedMetadataStore } = await import('../../src/coordination/embedded-metadata-store.js');
  const pino = (await import('pino')).default;
  const mem = new MemoryObjectStore();
  const { wal1, ops } = await buildStore();
  for (const o of await store.list('')) await mem.put(o.key, await store.get(o.key));
  // The same operations through the embedded store, snapshotting after every write half the time.
  const meta = new EmbeddedMetadataStore(new ObjectPersistence<MetadataState, Operation>(mem), pino({ level: 'silent' }), 1);
  await meta.start();
  await meta.createTopic({ name: 't', topicId: TOPIC, partitions: 2, configs: {} });
  await meta.acquirePartition(TOPIC, 0, 0);
  await meta.acquirePartition(TOPIC, 1, 0);
  for (const o of ops.slice(3)) {
    if (o.op === 'wal') await meta.commitWal(o.commit);
    else if (o.op === 'replace') await meta.replaceRanges(o.replacement);
  }
  await meta.close();
  const r = await audit({ storage: 'memory://', store: mem, metadata: { kind: 'objects' } });
  expect(auditFailures(r), formatAudit(r)).toEqual([]);
  expect(r).toMatchObject({ partitions: 2, walRanges: 3, segmentRanges: 1, orphans: 0 });
  expect(mem.objects.has(wal1)).toBe(true);
});
