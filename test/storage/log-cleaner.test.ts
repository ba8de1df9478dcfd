import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../src/coordination/embedded-metadata-store.js';
import { FilePersistence } from '../../src/coordination/file-persistence.js';
import type { TopicRecord } from '../../src/coordination/metadata-store.js';
import { buildBatch, checkBatch, decodeRecords, readBatchHeader } from '../../src/protocol/records/index.js';
import { FsObjectStore } from '../../src/storage/fs-object-store.js';
import { KeyOffsets, cleanBatch } from '../../src/storage/log-cleaner.js';
import { DEFAULT_STORAGE_OPTIONS, DEFAULT_TOPIC_STORAGE, LogManager, type TopicStorageConfig } from '../../src/storage/log-manager.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const NOW = Date.now() - 60_000;
const RULES = { now: NOW, deleteRetentionMs: 86_400_000, minCompactionLagMs: 0 };

function keyed(entries: Array<[string | null, string | null]>, extra: Partial<Parameters<typeof buildBatch>[0]> = {}, ts = NOW - 1000): Buffer {
  return buildBatch({ records: entries.map(([k, v]) => ({ key: k === null ? null : Buffer.from(k), value: v === null ? null : Buffer.from(v), timestamp: ts })), ...extra });
}

describe('cleanBatch', () => {
  test('keeps each key latest record, drops keyless ones, keeps offsets, codec and producer fields', () => {
    for (const compression of [0, 1, 2, 3, 4]) {
      const b = keyed(
        [
          ['a', '1'],
          ['b', '1'],
          [null, 'x'],
          ['a', '2'],
        ],
        { baseOffset: 10, compression, producerId: 5, producerEpoch: 1, baseSequence: 3 },
      );
      const keys = new KeyOffsets();
      keys.add(b);
      keys.add(keyed([['b', '2']], { baseOffset: 14 }));
      const c = cleanBatch(b, keys, RULES).batch!;
      expect(checkBatch(c)).toBe(c.length);
      const h = readBatchHeader(c);
      expect({ base: h.baseOffset, last: h.lastOffsetDelta, codec: h.compression, pid: h.producerId, epoch: h.producerEpoch, seq: h.baseSequence }).toEqual({ base: 10, last: 3, codec: compression, pid: 5, epoch: 1, seq: 3 });
      expect(decodeRecords(c).map((r) => [r.offset, r.key!.toString(), r.value!.toString()])).toEqual([[13, 'a', '2']]);
    }
  });

  test('the same bytes when all stay; null when none does', () => {
    const b = keyed([['a', '1'], ['b', '1']]);
    const keys = new KeyOffsets();
    keys.add(b);
    expect(cleanBatch(b, keys, RULES)).toEqual({ batch: b, horizon: null });
    keys.add(keyed([['a', '2'], ['b', '2']], { baseOffset: 2 }));
    expect(cleanBatch(b, keys, RULES).batch).toBeNull();
  });

  test('a tombstone gets a delete horizon when a cleaning first keeps it and goes at one past it; min.compaction.lag.ms keeps young records', () => {
    const tomb = keyed([['a', null], ['b', 'x']], {}, NOW - 5000);
    const keys = new KeyOffsets();
    keys.add(tomb);
    const first = cleanBatch(tomb, keys, { ...RULES, deleteRetentionMs: 10_000 });
    expect(first.horizon).toBe(NOW + 10_000);
    const h = readBatchHeader(first.batch!);
    expect(h.hasDeleteHorizon).toBe(true);
    expect(h.baseTimestamp).toBe(NOW + 10_000);
    expect(checkBatch(first.batch!)).toBe(first.batch!.length);
    // Records keep their own timestamps (relative to the horizon now).
    expect(decodeRecords(first.batch!).map((r) => [r.offset, r.timestamp, r.value?.toString() ?? null])).toEqual([
      [0, NOW - 5000, null],
      [1, NOW - 5000, 'x'],
    ]);
    // Before the horizon the stamped batch stays as it is, even with a shorter retention.
    expect(cleanBatch(first.batch!, keys, { ...RULES, now: NOW + 9000, deleteRetentionMs: 0 })).toEqual({ batch: first.batch, horizon: NOW + 10_000 });
    // At the horizon the tombstone goes, the rest stays, without a horizon.
    const later = cleanBatch(first.batch!, keys, { ...RULES, now: NOW + 10_000 });
    expect(later.horizon).toBeNull();
    expect(readBatchHeader(later.batch!).hasDeleteHorizon).toBe(false);
    expect(decodeRecords(later.batch!).map((r) => [r.offset, r.timestamp])).toEqual([[1, NOW - 5000]]);

    const old = keyed([['a', '1']], {}, NOW - 5000);
    keys.add(keyed([['a', '2']], { baseOffset: 2 }));
    expect(cleanBatch(old, keys, { ...RULES, minCompactionLagMs: 10_000 }).batch).toBe(old);
    expect(cleanBatch(old, keys, { ...RULES, minCompactionLagMs: 1000 }).batch).toBeNull();
  });
});

const topic: TopicRecord = { name: 'c', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 1, configs: { 'cleanup.policy': 'compact' } };
const CFG: TopicStorageConfig = { ...DEFAULT_TOPIC_STORAGE, compact: true, deleteByRetention: false, segmentBytes: 4096, minCleanableDirtyRatio: 0 };

async function open(dir: string, cleanerMaxKeys = DEFAULT_STORAGE_OPTIONS.cleanerMaxKeys, cfg = CFG) {
  const meta = new EmbeddedMetadataStore(new FilePersistence(join(dir, 'meta')), log);
  await meta.start();
  if (!meta.topics().get('c')) await meta.createTopic(topic);
  const logs = new LogManager(new FsObjectStore(join(dir, 'objects')), meta, { ...DEFAULT_STORAGE_OPTIONS, brokerId: 0, compactionIntervalMs: 600_000, cleanerMaxKeys }, () => cfg, log);
  await logs.start();
  const p = await logs.open(topic, 0);
  return { logs, p, close: async () => { await logs.close(); await meta.close(); } };
}

async function readAll(p: { read(o: number, m: number): Promise<Buffer[]>; highWatermark: number }, from = 0): Promise<Array<[number, string, string | null]>> {
  const out: Array<[number, string, string | null]> = [];
  let offset = from;
  while (offset < p.highWatermark) {
    const batches = await p.read(offset, 1 << 20);
    if (batches.length === 0) throw new Error(`nothing read at ${offset} below ${p.highWatermark}`);
    for (const b of batches) {
      for (const r of decodeRecords(b)) if (r.offset >= offset) out.push([r.offset, r.key!.toString(), r.value?.toString() ?? null]);
      const h = readBatchHeader(b);
      offset = Math.max(offset, h.baseOffset + h.lastOffsetDelta + 1);
    }
  }
  return out;
}

test('a compacted partition: segments are cleaned down to each key latest record, offsets kept, reads skip the gaps, the WAL head is left alone, and it survives a restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-cleaner-'));
  dirs.push(dir);
  let b = await open(dir);
  // 6 rounds of 8 keys, a batch per round: offsets 0..47; key k7's last value is a tombstone.
  for (let round = 0; round < 6; round++) {
    await b.p.append([keyed(Array.from({ length: 8 }, (_, i) => [`k${i}`, round === 5 && i === 7 ? null : `v${round}-${i}`.padEnd(100, '.')]))]);
  }
  // Into segments of ~4 KiB each (several), then one more round that stays in the WAL.
  while (b.p.walBytes() > 0) await b.logs.compact(b.p, CFG.segmentBytes);
  const segmentsBefore = b.p.ranges.length;
  expect(segmentsBefore).toBeGreaterThan(1);
  await b.p.append([keyed([['k0', 'head'.padEnd(100, '.')]])]); // offset 48, in the WAL
  await b.logs.clean(b.p, CFG);
  expect(b.logs.stats.cleanings).toBe(1);
  const expected: Array<[number, string, string | null]> = [
    ...Array.from({ length: 8 }, (_, i) => [40 + i, `k${i}`, i === 7 ? null : `v5-${i}`.padEnd(100, '.')] as [number, string, string | null]),
    [48, 'k0', 'head'.padEnd(100, '.')],
  ];
  expect(await readAll(b.p)).toEqual(expected);
  // The segments merged: fewer ranges, the WAL run untouched, offsets still from 0 (log start unchanged).
  expect(b.p.ranges.filter((r) => r.kind === 'segment').length).toBeLessThan(segmentsBefore);
  expect(b.p.ranges.at(-1)!.kind).toBe('wal');
  expect(b.p.ranges[0]!.baseOffset).toBe(0);
  expect(b.p.logStartOffset).toBe(0);
  // A read at a removed offset starts at the next record kept.
  expect((await readAll(b.p, 17))[0]).toEqual(expected[0]);
  // Nothing new: no second cleaning.
  await b.logs.clean(b.p, CFG);
  expect(b.logs.stats.cleanings).toBe(1);
  await b.close();

  b = await open(dir);
  expect(await readAll(b.p)).toEqual(expected);
  // The cleaned segments carry where the cleaning had got to: a restarted broker does not clean them again.
  expect(b.p.ranges.filter((r) => r.kind === 'segment').map((r) => r.cleanedThrough)).toEqual(b.p.ranges.filter((r) => r.kind === 'segment').map(() => 48));
  await b.logs.clean(b.p, CFG);
  expect(b.logs.stats.cleanings).toBe(0);
  // WAL compaction after cleaning merges the small cleaned segment with the head (gaps allowed).
  while (b.p.walBytes() > 0) await b.logs.compact(b.p, CFG.segmentBytes);
  expect(await readAll(b.p)).toEqual(expected);
  await b.close();
});

test('max.compaction.lag.ms cleans a segment whose records are older than it, below the dirty ratio', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-cleaner-'));
  dirs.push(dir);
  const b = await open(dir);
  for (let round = 0; round < 3; round++) await b.p.append([keyed([['k', `v${round}`]])]);
  while (b.p.walBytes() > 0) await b.logs.compact(b.p, CFG.segmentBytes);
  // A ratio no partition reaches: only the lag can start a cleaning.
  const never = { ...CFG, minCleanableDirtyRatio: 2 };
  await b.logs.clean(b.p, never);
  expect(b.logs.stats.cleanings).toBe(0);
  await b.logs.clean(b.p, { ...never, maxCompactionLagMs: 3_600_000 }); // records a minute old: not yet
  expect(b.logs.stats.cleanings).toBe(0);
  await b.logs.clean(b.p, { ...never, maxCompactionLagMs: 1000 });
  expect(b.logs.stats.cleanings).toBe(1);
  expect(await readAll(b.p)).toEqual([[2, 'k', 'v2']]);
  await b.close();
});

test('max.compaction.lag.ms is judged by the first batch of the first dirty segment, as Kafka does, not by its newest record', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-cleaner-'));
  dirs.push(dir);
  const b = await open(dir);
  const now = Date.now();
  // One segment: a record ten minutes old, then two written now.
  await b.p.append([keyed([['k', 'old']], {}, now - 600_000)]);
  await b.p.append([keyed([['k', 'new1']], {}, now)]);
  await b.p.append([keyed([['k', 'new2']], {}, now)]);
  while (b.p.walBytes() > 0) await b.logs.compact(b.p, 1 << 20);
  expect(b.p.ranges.filter((r) => r.kind === 'segment').length).toBe(1);
  const never = { ...CFG, minCleanableDirtyRatio: 2 };
  await b.logs.clean(b.p, { ...never, maxCompactionLagMs: 1_200_000 }); // 20 minutes: not yet
  expect(b.logs.stats.cleanings).toBe(0);
  await b.logs.clean(b.p, { ...never, maxCompactionLagMs: 300_000 }); // 5 minutes: the first batch is past it
  expect(b.logs.stats.cleanings).toBe(1);
  expect(await readAll(b.p)).toEqual([[2, 'k', 'new2']]);
  await b.close();
});

test('max.compaction.lag.ms below segment.ms rolls the WAL head into a segment once it has passed (KIP-354), then cleans it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-cleaner-'));
  dirs.push(dir);
  const b = await open(dir, undefined, { ...CFG, segmentBytes: 1 << 20, segmentMs: 600_000, maxCompactionLagMs: 1000, minCleanableDirtyRatio: 2 });
  for (let round = 0; round < 3; round++) await b.p.append([keyed([['k', `v${round}`]], {}, Date.now() - 5000)]);
  await b.logs.compactionPass();
  expect(b.p.ranges.every((r) => r.kind === 'wal')).toBe(true); // committed just now: not yet
  await new Promise((r) => setTimeout(r, 1100));
  await b.logs.compactionPass();
  expect(b.p.ranges.map((r) => r.kind)).toEqual(['segment']);
  expect(b.logs.stats.cleanings).toBe(1);
  expect(await readAll(b.p)).toEqual([[2, 'k', 'v2']]);
  await b.close();
});

test.each([4096, 1])('more keys than one cleaning maps: each cleaning maps from the first dirty segment on, so the partition converges (segment.bytes %i)', async (segmentBytes) => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-cleaner-'));
  dirs.push(dir);
  const b = await open(dir, 8);
  // 24 keys written twice, 8 to a batch (offsets 0..47), one batch to a segment: k<i>'s latest is at 24 + i.
  for (let round = 0; round < 6; round++) {
    await b.p.append([keyed(Array.from({ length: 8 }, (_, i) => [`k${((round * 8) % 24) + i}`, `v${round}`.padEnd(100, '.')]))]);
    while (b.p.walBytes() > 0) await b.logs.compact(b.p, 1);
  }
  expect(b.p.ranges.filter((r) => r.kind === 'segment').length).toBe(6);
  const latest = Array.from({ length: 24 }, (_, i) => [24 + i, `k${i}`, `v${3 + Math.floor(i / 8)}`.padEnd(100, '.')]);
  // A map of 8 keys covers about one segment a cleaning. Before, every cleaning mapped
  // from the start again: it never reached the later segments and never stopped.
  let passes = 0;
  // With segment.bytes 1 no two segments merge, but one that nothing is left of takes in the next.
  while (passes < 12) {
    await b.logs.clean(b.p, { ...CFG, segmentBytes });
    if (b.logs.stats.cleanings === passes) break;
    passes++;
  }
  expect(passes).toBeLessThan(12);
  expect(await readAll(b.p)).toEqual(latest);
  await b.close();
});
