// Metadata snapshots are captured at an instant and written while the journal
// goes on (src/coordination/snapshot.ts): the serialized state is the state
// as it was at capture, commits made while a snapshot is being written are
// not held up by it, and a crash at any point of it loses nothing.
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../src/coordination/embedded-metadata-store.js';
import { FilePersistence } from '../../src/coordination/file-persistence.js';
import { apply, emptyState, type MetadataState, type Operation } from '../../src/coordination/manifest-state.js';
import type { LogRange } from '../../src/coordination/metadata-store.js';
import { ObjectPersistence } from '../../src/coordination/object-persistence.js';
import type { MetadataPersistence } from '../../src/coordination/persistence.js';
import { SnapshotAbandoned, captureState, serializeCaptured } from '../../src/coordination/snapshot.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import { YieldPoint } from '../../src/storage/yield-point.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const topic = { name: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 3, configs: { 'retention.ms': '1000' } };
const range = (base: number, next: number): LogRange => ({ kind: 'wal', key: `wal/0/${base}`, position: 8, length: 10, baseOffset: base, nextOffset: next, maxTimestamp: 1_795_969_956_501 + base });

function stateWith(rangesPerPartition: number): MetadataState {
  const s = emptyState();
  const ops: Operation[] = [
    { op: 'createTopic', topic },
    { op: 'acquireMany', topicId: topic.topicId, partitions: [0, 1, 2], brokerId: 0 },
    { op: 'commitOffsets', group: 'g', offsets: [{ topic: 't', partition: 1, value: { offset: '7', leaderEpoch: 0, metadata: 'm"\\', commitTimestamp: 5 } }] },
    { op: 'saveGroup', group: 'g', state: { protocolType: 'consumer', generationId: 3 } as never },
  ];
  for (const o of ops) apply(s, o);
  for (let i = 0; i < rangesPerPartition; i++) {
    for (let p = 0; p < 3; p++) {
      apply(s, {
        op: 'wal',
        commit: { brokerId: 0, objectKey: `wal/0/${i}`, walSeq: i * 3 + p + 1, appends: [{ topicId: topic.topicId, partition: p, leaderEpoch: 0, range: range(i, i + 1), producers: [{ producerId: 9, producerEpoch: 0, lastSequence: i, lastOffset: i, lastTimestamp: i, firstSequence: i, firstOffset: i } as never] }] },
      });
    }
  }
  return s;
}

test('a serialized snapshot parses back to the state it captured, whatever changes after the capture', async () => {
  const live = stateWith(500);
  const expected = structuredClone(live);
  const captured = captureState(42, live);
  // The live state moves on while the snapshot is serialized.
  apply(live, { op: 'acquire', topicId: topic.topicId, partition: 0, brokerId: 1 });
  apply(live, { op: 'wal', commit: { brokerId: 1, objectKey: 'wal/1/x', walSeq: 10_000, appends: [{ topicId: topic.topicId, partition: 0, leaderEpoch: 1, range: range(500, 510), producers: [] }] } });
  apply(live, { op: 'replace', replacement: { topicId: topic.topicId, partition: 1, leaderEpoch: 0, replacedBaseOffsets: [0, 1], range: { ...range(0, 2), kind: 'segment' } } as never });
  apply(live, { op: 'logStart', topicId: topic.topicId, partition: 2, leaderEpoch: 0, offset: 100 });
  apply(live, { op: 'commitOffsets', group: 'g', offsets: [{ topic: 't', partition: 1, value: { offset: '8', leaderEpoch: 0, metadata: null, commitTimestamp: 6 } }] });
  let turns = 0;
  const yieldPoint = new YieldPoint(0);
  const counting = { maybe: async () => { turns++; await yieldPoint.maybe(); } } as YieldPoint;
  const pieces = await serializeCaptured(captured, counting);
  expect(JSON.parse(Buffer.concat(pieces).toString('utf8'))).toEqual({ seq: 42, state: expected });
  expect(turns).toBeGreaterThan(1);
  // A closing store abandons it.
  await expect(serializeCaptured(captured, new YieldPoint(0), () => true)).rejects.toBeInstanceOf(SnapshotAbandoned);
  // A state without partitions, too.
  const bare = emptyState();
  expect(JSON.parse(Buffer.concat(await serializeCaptured(captureState(1, bare))).toString('utf8'))).toEqual({ seq: 1, state: bare });
  // And a partition without ranges.
  apply(bare, { op: 'createTopic', topic });
  apply(bare, { op: 'acquire', topicId: topic.topicId, partition: 0, brokerId: 0 });
  expect(JSON.parse(Buffer.concat(await serializeCaptured(captureState(2, bare))).toString('utf8'))).toEqual({ seq: 2, state: bare });
});

/** A persistence whose snapshot writes, after the first (the first start's), wait for `release()` (a slow disk or bucket). */
function gated<P extends MetadataPersistence<MetadataState, Operation>>(p: P): { p: P; began: () => number; release: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let began = 0;
  const begin = p.beginSnapshot.bind(p);
  p.beginSnapshot = async (seq) => {
    const w = await begin(seq);
    const n = ++began;
    return { write: async (s) => { if (n > 1) await gate; await w.write(s); } };
  };
  return { p, began: () => began, release: open };
}

describe.each([
  ['in the data directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sh-snap-'));
    dirs.push(dir);
    return { make: () => new FilePersistence<MetadataState, Operation>(dir), leftovers: () => readdirSync(dir).filter((f) => f.startsWith('journal-')) };
  }],
  ['in the bucket', async () => {
    const store = new MemoryObjectStore();
    return { make: () => new ObjectPersistence<MetadataState, Operation>(store), leftovers: () => [...store.objects.keys()].filter((k) => k.startsWith('meta/snapshot/')).slice(0, -1) };
  }],
])('metadata %s', (_where, setup) => {
  test('commits go on while a snapshot is written; a crash before or after it completes loses none of them', async () => {
    const { make, leftovers } = await setup();
    const first = gated(make());
    const s = new EmbeddedMetadataStore(first.p, log, 4096);
    await s.start();
    await s.createTopic(topic);
    const st = await s.acquirePartition(topic.topicId, 0, 0);
    const commit = (i: number) => s.commitWal({ brokerId: 0, objectKey: `wal/0/${i}`, appends: [{ topicId: topic.topicId, partition: 0, leaderEpoch: st.leaderEpoch, range: range(i, i + 1), producers: [] }] });
    let i = 0;
    while (first.began() < 2) await commit(i++); // the first start's own snapshot, then one of the journal's
    // Held: the snapshot waits, the commits do not.
    for (const end = i + 200; i < end; ) await commit(i++);

    // A crash while the snapshot is unwritten: journal before it and after it are both replayed.
    const before = new EmbeddedMetadataStore(make(), log, 1 << 30);
    await before.start();
    expect((await before.acquirePartition(topic.topicId, 0, 0)).ranges.map((r) => r.baseOffset)).toEqual(Array.from({ length: i }, (_, k) => k));
    await before.close();

    // The snapshot lands; more commits; a crash: the snapshot and the journal after it.
    first.release();
    for (const end = i + 50; i < end; ) await commit(i++);
    await new Promise((r) => setTimeout(r, 50));
    const after = new EmbeddedMetadataStore(make(), log, 1 << 30);
    await after.start();
    const again = await after.acquirePartition(topic.topicId, 0, 0);
    expect(again.highWatermark).toBe(i);
    expect(again.ranges.map((r) => r.baseOffset)).toEqual(Array.from({ length: i }, (_, k) => k));
    await after.close();
    await s.close();
    expect(leftovers()).toEqual([]);
  });
});

test('a snapshot of the data directory that fails leaves its journal to the next one, which replaces it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-snap-'));
  dirs.push(dir);
  const p = new FilePersistence<MetadataState, Operation>(dir);
  let fail = true;
  const begin = p.beginSnapshot.bind(p);
  p.beginSnapshot = async (seq) => {
    const w = await begin(seq);
    return { write: async (s) => (fail ? Promise.reject(new Error('disk full')) : w.write(s)) };
  };
  const s = new EmbeddedMetadataStore(p, log, 1);
  fail = false;
  await s.start();
  fail = true;
  await s.createTopic(topic);
  const st = await s.acquirePartition(topic.topicId, 0, 0);
  await s.commitWal({ brokerId: 0, objectKey: 'wal/0/0', appends: [{ topicId: topic.topicId, partition: 0, leaderEpoch: st.leaderEpoch, range: range(0, 1), producers: [] }] });
  await new Promise((r) => setTimeout(r, 20));
  expect(readdirSync(dir).filter((f) => f.startsWith('journal-')).length).toBeGreaterThan(0);
  await s.close();
  // A restart replays the renamed journals; its next snapshot replaces them.
  const s2 = new EmbeddedMetadataStore(new FilePersistence(dir), log, 1);
  await s2.start();
  expect((await s2.acquirePartition(topic.topicId, 0, 0)).highWatermark).toBe(1);
  await new Promise((r) => setTimeout(r, 50));
  await s2.close();
  expect(readdirSync(dir).filter((f) => f.startsWith('journal-'))).toEqual([]);
  expect(existsSync(join(dir, 'snapshot.json'))).toBe(true);
  const s3 = new EmbeddedMetadataStore(new FilePersistence(dir), log, 1);
  await s3.start();
  expect((await s3.acquirePartition(topic.topicId, 0, 0)).highWatermark).toBe(1);
  await s3.close();
});
