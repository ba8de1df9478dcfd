/**
 * The broker on S3 for real, shared by s3-broker.test.ts (s3rver) and
 * s3-broker-minio.test.ts (MinIO): the S3 server (started by `start` on a
 * free port) holds the partition logs and, with embedded metadata, the
 * metadata journal; the broker's data directory is only a cache.
 *
 * - kafkajs produces with every compression codec, kcat with keys and
 *   headers; kcat (librdkafka's decoders) reads everything back exactly:
 *   content, keys, headers, per-partition order.
 * - An idempotent kafkajs producer: every message once, in order.
 * - The bucket holds what design.md says: WAL objects (wal/<broker>/...)
 *   appear on produce and are deleted once compaction has rewritten their
 *   runs into segments (segments/<topicId>/<partition>/...), which stay.
 *   ListOffsets by timestamp finds the same offsets in WAL runs and segments.
 * - kill -9, restart on a FRESH data dir against the same bucket: every
 *   topic comes back from the bucket alone; reads crossing the seam between
 *   segments and WAL runs return everything.
 * - A compacted topic (cleanup.policy=compact) is cleaned in the bucket:
 *   one segment object left, kcat reads each key's latest at its offset.
 * - kill -9 in the middle of an acks=all idempotent librdkafka produce,
 *   restart on a fresh data dir: every acknowledged message is there exactly
 *   once (and nothing is there twice).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CompressionCodecs, CompressionTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { compress, decompress, Codec } from '../../src/protocol/records/compression.js';
import { ListOffsetsApi } from '../../src/protocol/generated/list-offsets.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { kcatProduce, REPO_ROOT, SYSTEM_PYTHON } from '../helpers/clients.js';
import { ManagedProcess } from '../helpers/process.js';
import type { S3ServerProcess } from '../helpers/s3-server.js';
import { withConnection } from '../e2e/wire.js';
import { byPartition, kcatJson, listObjects, startS3Broker, topicIdFromLogs, uniqueTopic, waitFor, type KcatMessage } from './common.js';

for (const [type, codec] of [
  [CompressionTypes.Snappy, Codec.SNAPPY],
  [CompressionTypes.LZ4, Codec.LZ4],
  [CompressionTypes.ZSTD, Codec.ZSTD],
] as const) {
  CompressionCodecs[type] = () => ({
    compress: async (encoder: { buffer: Buffer }) => compress(codec, encoder.buffer),
    decompress: async (buffer: Buffer) => decompress(codec, buffer),
  });
}

/** Registers the tests under describe(label) against the server `start` makes (one per call). */
export async function s3BrokerSuite(label: string, start: (o: { buckets: string[] }) => Promise<S3ServerProcess>): Promise<void> {
  const PREFIX = 'broker-test';
  const s3 = await start({ buckets: ['streamhouse-s3-broker'] });
  let broker: BrokerProcess = await startS3Broker({ s3, prefix: PREFIX });
  const port = broker.port;

  const kafka = new Kafka({
    clientId: 's3-broker',
    brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 2000 },
  });
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.disconnect().catch(() => {});
    await broker.cleanup();
    await s3.cleanup();
  });

  /** What a message should read back as through kcat -J. */
  interface Expected {
    partition: number;
    key: string | null;
    payload: string;
    headers?: string[];
  }

  /** Every message of `topic` read back equals `expected`, partition by partition, in order, offsets 0.. without gaps. */
  async function expectTopic(topic: string, expected: Expected[], from = 0): Promise<KcatMessage[]> {
    const got = await kcatJson(broker.bootstrap, topic);
    const want = byPartition(expected);
    const have = byPartition(got);
    expect([...have.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [p, list] of want) {
      const h = have.get(p)!;
      expect(h.map((m) => m.offset)).toEqual(list.map((_, i) => from + i));
      expect(h.map((m) => ({ partition: m.partition, key: m.key, payload: m.payload, ...(list[0]!.headers ? { headers: m.headers } : {}) }))).toEqual(list);
    }
    return got;
  }

  const walKeys = async () => (await listObjects(s3, PREFIX, 'wal/')).map((o) => o.key);
  const segmentKeys = async (topicId: string) => (await listObjects(s3, PREFIX, `segments/${topicId}/`)).map((o) => o.key);

  /** ListOffsets v7 by timestamp on a raw connection: [offset, timestamp] (-1, -1 when no record is that late). */
  async function offsetForTimestamp(topic: string, partition: number, ts: number): Promise<[number, number]> {
    const res = await withConnection(port, (c) =>
      c.request(ListOffsetsApi, 7, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: BigInt(ts), maxNumOffsets: 1 }] }],
      }),
    );
    const p = res.topics[0]!.partitions[0]!;
    expect(p.errorCode).toBe(0);
    return [Number(p.offset), Number(p.timestamp)];
  }

  // Filled by the tests below and read back again after the restart.
  const written = new Map<string, Expected[]>();

  const COMPRESSIONS = [
    ['none', CompressionTypes.None],
    ['gzip', CompressionTypes.GZIP],
    ['snappy', CompressionTypes.Snappy],
    ['lz4', CompressionTypes.LZ4],
    ['zstd', CompressionTypes.ZSTD],
  ] as const;

  describe(`${label}: produce and consume on S3`, () => {
    test('kafkajs with every compression codec and kcat with keys and headers: read back exactly', async () => {
      const topic = uniqueTopic('s3-codecs');
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      const expected: Expected[] = [];
      try {
        for (const [name, type] of COMPRESSIONS) {
          for (let round = 0; round < 2; round++) {
            const messages = Array.from({ length: 30 }, (_, j) => {
              const i = round * 30 + j;
              const m = { partition: i % 2, key: `${name}-${i}`, value: `${name} message ${i} ${'abcdefgh'.repeat(i % 17)}`, headers: { codec: name, i: String(i) } };
              expected.push({ partition: m.partition, key: m.key, payload: m.value, headers: ['codec', name, 'i', String(i)] });
              return m;
            });
            await producer.send({ topic, acks: -1, compression: type, messages });
          }
        }
      } finally {
        await producer.disconnect();
      }
      // kcat: keys, a header on every message, zstd, to partition 1.
      const lines = Array.from({ length: 50 }, (_, i) => `kcat-${i}:kcat value ${i}`);
      await kcatProduce({ bootstrap: broker.bootstrap, topic, lines, keyDelimiter: ':', partition: 1, extra: ['-H', 'src=kcat', '-z', 'zstd', '-X', 'acks=all'] });
      for (let i = 0; i < 50; i++) expected.push({ partition: 1, key: `kcat-${i}`, payload: `kcat value ${i}`, headers: ['src', 'kcat'] });

      await expectTopic(topic, expected);
      written.set(topic, expected);
    });

    test('an idempotent kafkajs producer: every message once, in order', async () => {
      const topic = uniqueTopic('s3-idem');
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await producer.connect();
      const expected: Expected[] = [];
      try {
        for (let s = 0; s < 10; s++) {
          const messages = Array.from({ length: 20 }, (_, j) => ({ key: `k${s * 20 + j}`, value: `idempotent ${s * 20 + j}` }));
          for (const m of messages) expected.push({ partition: 0, key: m.key, payload: m.value });
          await producer.send({ topic, acks: -1, messages });
        }
      } finally {
        await producer.disconnect();
      }
      await expectTopic(topic, expected);
      written.set(topic, expected);
    });
  });

  // One topic whose first 300 messages end up in segments and the next 100 in WAL runs.
  const seam = { topic: uniqueTopic('s3-seam'), topicId: '', base: Date.now() - 3_600_000, firstWal: 300, total: 400, firstWalKeys: [] as string[] };
  // Until the test lowers them, neither size nor age may trigger compaction (a slow machine takes long to produce).
  const seamConfigs = (segmentMs: number, segmentBytes = 32768) => [
    { name: 'segment.bytes', value: String(segmentBytes) },
    { name: 'segment.ms', value: String(segmentMs) },
  ];
  // Incompressible payloads (hex of hashes), so that 32 KiB of WAL runs make 32 KiB LZ4 segments.
  const seamMessage = (i: number): Expected => ({
    partition: 0,
    key: `seam-${i}`,
    payload: `seam ${i} ${['a', 'b', 'c', 'd'].map((x) => createHash('sha256').update(`${x}${i}`).digest('hex')).join('')}`,
  });

  describe(`${label}: objects in the bucket`, () => {
    test('WAL objects appear on produce and go once compaction has written segments, which stay; ListOffsets by timestamp on both', async () => {
      const { topic } = seam;
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: seamConfigs(600_000, 64 << 20) }] });
      seam.topicId = topicIdFromLogs(broker, topic);
      const before = new Set(await walKeys());
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      try {
        for (let s = 0; s < 6; s++) {
          const messages = Array.from({ length: 50 }, (_, j) => {
            const i = s * 50 + j;
            const m = seamMessage(i);
            return { key: m.key, value: m.payload, timestamp: String(seam.base + i * 1000) };
          });
          await producer.send({ topic, acks: -1, messages });
        }
        // The six flushes are six WAL objects (one PUT per flush), nothing is compacted yet (segment.ms 10 min).
        const mine = (await walKeys()).filter((k) => !before.has(k));
        expect(mine.length).toBeGreaterThanOrEqual(6);
        for (const k of mine) expect(k).toMatch(/^wal\/0\/\d{15}-\d{8}\.wal$/);
        expect(await segmentKeys(seam.topicId)).toEqual([]);
        seam.firstWalKeys = mine;

        // By timestamp, served from WAL runs.
        expect(await offsetForTimestamp(topic, 0, seam.base + 41_500)).toEqual([42, seam.base + 42_000]);
        expect(await offsetForTimestamp(topic, 0, seam.base - 5)).toEqual([0, seam.base]);
        expect(await offsetForTimestamp(topic, 0, seam.base + 10_000_000)).toEqual([-1, -1]);

        // segment.ms 200 ms: the compactor (every second) rewrites the runs into 32 KiB segments.
        await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic, configEntries: seamConfigs(200) }] });
        const t0 = Date.now();
        await waitFor(async () => {
          const left = new Set(await walKeys());
          return mine.every((k) => !left.has(k));
        }, 30_000, 'the WAL objects of the compacted runs to be deleted', 250);
        const compactMs = Date.now() - t0;
        const segs = await listObjects(s3, PREFIX, `segments/${seam.topicId}/`);
        console.log(`[s3-broker ${label}] 300 messages compacted into ${segs.length} segments (${segs.map((s) => s.size).join(', ')} bytes) in ${compactMs} ms; ${mine.length} WAL objects deleted`);
        expect(segs.length).toBeGreaterThanOrEqual(2);
        for (const s of segs) expect(s.key).toMatch(new RegExp(`^segments/${seam.topicId}/0/\\d{20}-[0-9a-f]{8}\\.seg$`));
        expect(segs[0]!.key).toMatch(/\/0{20}-/);

        // Back to 10 minutes: the next 100 messages stay in WAL runs.
        await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic, configEntries: seamConfigs(600_000) }] });
        const before2 = new Set(await walKeys());
        for (let s = 0; s < 2; s++) {
          const messages = Array.from({ length: 50 }, (_, j) => {
            const i = seam.firstWal + s * 50 + j;
            const m = seamMessage(i);
            return { key: m.key, value: m.payload, timestamp: String(seam.base + i * 1000) };
          });
          await producer.send({ topic, acks: -1, messages });
        }
        expect((await walKeys()).filter((k) => !before2.has(k)).length).toBeGreaterThanOrEqual(2);
        // Segments stay.
        expect((await segmentKeys(seam.topicId)).length).toBe(segs.length);
      } finally {
        await producer.disconnect();
      }
      // By timestamp, now from segments (time index) and WAL runs.
      expect(await offsetForTimestamp(topic, 0, seam.base + 41_500)).toEqual([42, seam.base + 42_000]);
      expect(await offsetForTimestamp(topic, 0, seam.base + 350_000)).toEqual([350, seam.base + 350_000]);
      const all = Array.from({ length: seam.total }, (_, i) => seamMessage(i));
      const got = await expectTopic(topic, all);
      expect(got.map((m) => m.ts)).toEqual(all.map((_, i) => seam.base + i * 1000));
      written.set(topic, all);
    });
  });

  describe(`${label}: log compaction on S3`, () => {
    test('a compacted topic: its segments are rewritten in the bucket down to each key\'s latest record; kcat reads the survivors at their offsets', async () => {
      const topic = uniqueTopic('s3-compacted');
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'segment.ms', value: '300' }, { name: 'min.cleanable.dirty.ratio', value: '0.01' }] }],
        waitForLeaders: true,
      });
      const topicId = topicIdFromLogs(broker, topic);
      const producer = kafka.producer({ idempotent: true });
      await producer.connect();
      try {
        for (let round = 0; round < 4; round++) {
          await producer.send({ topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${round}-k${i}` })) });
        }
      } finally {
        await producer.disconnect();
      }
      const survivors = Array.from({ length: 10 }, (_, i) => [30 + i, `k${i}`, `v3-k${i}`]);
      await waitFor(async () => (await kcatJson(broker.bootstrap, topic)).length === survivors.length, 30_000, 'the segment to be cleaned', 250);
      expect((await kcatJson(broker.bootstrap, topic)).map((m) => [m.offset, m.key, m.payload])).toEqual(survivors);
      // One segment object in the bucket for the partition, the cleaned one.
      await waitFor(async () => (await segmentKeys(topicId)).length === 1, 10_000, 'one segment left', 250);
    });
  });

  describe(`${label}: recovery from the bucket alone`, () => {
    test('kill -9, restart on a fresh data dir: every topic comes back; reads across the segment/WAL seam return everything', async () => {
      const oldDir = broker.dataDir;
      await broker.kill('SIGKILL');
      await broker.cleanup();
      const t0 = Date.now();
      broker = await startS3Broker({ s3, prefix: PREFIX, port });
      expect(broker.dataDir).not.toBe(oldDir);
      const recovery = broker.jsonLogs().find((l) => l.msg === 'recovery done');
      const loaded = broker.jsonLogs().find((l) => l.msg === 'metadata loaded');
      console.log(`[s3-broker ${label}] restart on a fresh data dir: listening after ${Date.now() - t0} ms (metadata: ${loaded?.replayed} journal records replayed; recovery ${recovery?.ms} ms)`);
      expect(recovery).toMatchObject({ storage: expect.stringContaining(`s3://${s3.bucket}/${PREFIX}/`) });

      for (const [topic, expected] of written) await expectTopic(topic, expected);

      // Reads that start in the last segment and run into the WAL runs (nothing is in memory now).
      const { topic } = seam;
      for (const from of [seam.firstWal - 3, seam.firstWal - 1, seam.firstWal, 250]) {
        const got = await kcatJson(broker.bootstrap, topic, { offset: String(from), partition: 0 });
        expect(got.map((m) => m.offset)).toEqual(Array.from({ length: seam.total - from }, (_, i) => from + i));
        expect(got.map((m) => m.payload)).toEqual(Array.from({ length: seam.total - from }, (_, i) => seamMessage(from + i).payload));
      }
      expect(await offsetForTimestamp(topic, 0, seam.base + 41_500)).toEqual([42, seam.base + 42_000]);
      expect(await offsetForTimestamp(topic, 0, seam.base + 299_000)).toEqual([299, seam.base + 299_000]);
      expect(await offsetForTimestamp(topic, 0, seam.base + 299_001)).toEqual([300, seam.base + 300_000]);
      // The restart deleted no referenced object: the segments are all there, the compacted WAL objects stay gone.
      expect((await segmentKeys(seam.topicId)).length).toBeGreaterThanOrEqual(2);
      const wal = new Set(await walKeys());
      expect(seam.firstWalKeys.filter((k) => wal.has(k))).toEqual([]);
    });

    test('kill -9 during an acks=all idempotent produce, restart on a fresh data dir: every acknowledged message exactly once', async () => {
      const topic = uniqueTopic('s3-crash');
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
      const count = 4000;
      const producer = new ManagedProcess(
        SYSTEM_PYTHON,
        [path.join(REPO_ROOT, 'test/e2e/crash_producer.py'), '--bootstrap', broker.bootstrap, '--topic', topic, '--count', String(count), '--partitions', '2', '--rate', '800', '--timeout-ms', '60000'],
        { name: 's3-crash-producer', env: { ...process.env, PYTHONUNBUFFERED: '1' } },
      );
      const acks = () => producer.lines.filter((l) => l.startsWith('ACK ')).length;
      await waitFor(() => acks() >= 800, 30_000, '800 acknowledgements before the kill');
      const ackedAtKill = acks();
      await broker.kill('SIGKILL');
      const killedAt = Date.now();
      await broker.cleanup();
      broker = await startS3Broker({ s3, prefix: PREFIX, port });
      const listeningAfter = Date.now() - killedAt;
      const loaded = broker.jsonLogs().find((l) => l.msg === 'metadata loaded');
      const ackCountAtRestart = acks();
      await waitFor(() => acks() > ackCountAtRestart, 30_000, 'an acknowledgement from the new broker');
      const firstAckAfter = Date.now() - killedAt;
      const done = await producer.waitForLine((l) => l.startsWith('DONE '), 90_000, 'DONE line');
      const summary = JSON.parse(done.slice(5)) as { sent: number; acked: number; failed: number; fatal: string | null; undelivered: number };
      console.log(
        `[s3-broker ${label}] killed after ${ackedAtKill} acks; new broker listening ${listeningAfter} ms after the kill (${loaded?.replayed} journal records replayed), first new ack after ${firstAckAfter} ms; producer: ${JSON.stringify(summary)}`,
      );
      expect(summary.fatal).toBeNull();
      expect(summary.sent).toBe(count);

      const acked = new Map<number, [number, number]>();
      for (const l of producer.lines) {
        const m = /^ACK (\d+) (\d+) (\d+)$/.exec(l);
        if (m) acked.set(Number(m[1]), [Number(m[2]), Number(m[3])]);
      }
      expect(acked.size).toBe(summary.acked);
      const got = await kcatJson(broker.bootstrap, topic);
      const seen = new Map<string, number>();
      for (const m of got) seen.set(m.payload!, (seen.get(m.payload!) ?? 0) + 1);
      const dups = [...seen].filter(([, n]) => n > 1);
      expect(dups).toEqual([]);
      const where = new Map(got.map((m) => [m.payload!, [m.partition, m.offset] as [number, number]]));
      const missing = [...acked.keys()].filter((i) => !where.has(`v-${i}`));
      expect(missing).toEqual([]);
      // Each acknowledged message sits at the offset its delivery report named.
      const moved = [...acked].filter(([i, po]) => where.get(`v-${i}`)![0] !== po[0] || where.get(`v-${i}`)![1] !== po[1]);
      expect(moved).toEqual([]);
      // Per partition, the log is dense and in send order.
      for (const [, list] of byPartition(got)) {
        expect(list.map((m) => m.offset)).toEqual(list.map((_, i) => i));
        const idx = list.map((m) => Number(m.payload!.slice(2)));
        expect([...idx].sort((a, b) => a - b)).toEqual(idx);
      }
    });
  });
}
