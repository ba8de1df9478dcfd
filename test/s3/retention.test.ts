/**
 * Deleting old data, with Kafka's semantics (local storage: the same code
 * path as S3 above the ObjectStore):
 *
 * - DeleteRecords (kafkajs admin.deleteTopicRecords): the low watermark is
 *   exactly the requested offset (or the high watermark for -1), ListOffsets
 *   earliest follows it, a fetch below it gets OFFSET_OUT_OF_RANGE (with the
 *   new log start in the answer) and consumers reset to it: kcat with
 *   auto.offset.reset=earliest, a kafkajs group whose committed offset fell
 *   below it. An offset past the high watermark is OFFSET_OUT_OF_RANGE; one
 *   below the log start changes nothing. The log start survives a restart;
 *   WAL objects only the deleted ranges used are removed.
 * - retention.bytes and retention.ms (topic configs, also changed on a live
 *   topic) delete whole ranges, oldest first, as Kafka deletes whole
 *   segments: retention.bytes keeps the fewest newest ranges holding at
 *   least that many bytes; retention.ms deletes ranges whose newest record
 *   is older, stopping at the first one that is not.
 * - Start-up failures on S3 (a missing bucket, an unreachable endpoint,
 *   refused credentials): one clear line on stderr, a non-zero exit, no
 *   stack trace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { FetchApi } from '../../src/protocol/generated/fetch.js';
import { ListOffsetsApi } from '../../src/protocol/generated/list-offsets.js';
import { ProduceApi } from '../../src/protocol/generated/produce.js';
import { buildBatch } from '../../src/protocol/records/records.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { runCommand } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { startS3rver } from '../helpers/s3rver.js';
import { CLI, startE2EBroker } from '../e2e/common.js';
import { produceBody, withConnection } from '../e2e/wire.js';
import { createTopic, kcatJson, s3Env, uniqueTopic, waitFor } from './common.js';

const OFFSET_OUT_OF_RANGE = 1;

const broker: BrokerProcess = await startE2EBroker({ args: ['--group-initial-rebalance-delay-ms', '0'] });
const kafka = new Kafka({ clientId: 'retention', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
let admin: Admin;
beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect().catch(() => {});
  await broker.cleanup();
});

/** One produce request holding one batch (so one WAL range): its base offset. Returns the batch's size too. */
async function produceBatch(topic: string, partition: number, values: string[], timestamp = Date.now()): Promise<{ baseOffset: number; bytes: number }> {
  const batch = buildBatch({ records: values.map((v) => ({ key: null, value: Buffer.from(v), timestamp })) });
  const res = await withConnection(broker.port, (c) => c.request(ProduceApi, 8, produceBody(topic, partition, [], { batch })));
  const p = res.responses[0]!.partitionResponses[0]!;
  expect(p.errorCode).toBe(0);
  return { baseOffset: Number(p.baseOffset), bytes: batch.length };
}

async function listOffset(topic: string, partition: number, timestamp: bigint): Promise<number> {
  const res = await withConnection(broker.port, (c) =>
    c.request(ListOffsetsApi, 7, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 }] }],
    }),
  );
  const p = res.topics[0]!.partitions[0]!;
  expect(p.errorCode).toBe(0);
  return Number(p.offset);
}
const earliest = (t: string, p: number) => listOffset(t, p, -2n);
const latest = (t: string, p: number) => listOffset(t, p, -1n);

/** One Fetch v11 at `offset`: error code, log start offset and high watermark of the answer. */
async function fetchAt(topic: string, partition: number, offset: number): Promise<{ errorCode: number; logStartOffset: number; highWatermark: number }> {
  const res = await withConnection(broker.port, (c) =>
    c.request(FetchApi, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: BigInt(offset), logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [],
      rackId: '',
    }),
  );
  const p = res.responses[0]!.partitions[0]!;
  return { errorCode: p.errorCode, logStartOffset: Number(p.logStartOffset), highWatermark: Number(p.highWatermark) };
}

/** WAL objects written so far (the local store keeps empty ones prepared ahead: not counted). */
const walFiles = (): Set<string> => {
  const dir = path.join(broker.dataDir, 'objects', 'wal', '0');
  if (!fs.existsSync(dir)) return new Set();
  return new Set(fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.size));
};
const values = (prefix: string, from: number, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${from + i}`);

describe('DeleteRecords', () => {
  const topic = uniqueTopic('dr');

  test('the low watermark moves to the offset asked for; earliest follows; fetching below it is OFFSET_OUT_OF_RANGE', async () => {
    await createTopic(broker.port, topic, 2);
    const before = walFiles();
    for (let b = 0; b < 6; b++) await produceBatch(topic, 0, values('p0', b * 50, 50));
    for (let b = 0; b < 2; b++) await produceBatch(topic, 1, values('p1', b * 50, 50));
    const mine = [...walFiles()].filter((f) => !before.has(f)).sort(); // <ms>-<seq>.wal: in write order
    expect(mine.length).toBe(8);

    // 120 is inside the third batch [100, 150): the first two ranges go, the log starts at 120 exactly.
    await admin.fetchTopicMetadata({ topics: [topic] }); // kafkajs's deleteTopicRecords needs it loaded
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '120' }, { partition: 1, offset: '-1' }] });
    expect(await earliest(topic, 0)).toBe(120);
    expect(await latest(topic, 0)).toBe(300);
    expect(await earliest(topic, 1)).toBe(100);
    expect(await latest(topic, 1)).toBe(100);
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets.map((o) => [o.partition, o.low, o.high]).sort()).toEqual([
      [0, '120', '300'],
      [1, '100', '100'],
    ]);
    // The WAL objects only the deleted ranges used are gone (p0's first two, p1's two), the rest stay.
    await waitFor(() => mine.filter((f) => !walFiles().has(f)).length === 4, 10_000, 'the deleted ranges\' WAL objects to go');
    expect(mine.slice(2, 6).every((f) => walFiles().has(f))).toBe(true);

    // (Kafka answers -1 for the watermarks of a partition in error; only the code matters.)
    expect((await fetchAt(topic, 0, 50)).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    expect((await fetchAt(topic, 0, 119)).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    expect(await fetchAt(topic, 0, 120)).toEqual({ errorCode: 0, logStartOffset: 120, highWatermark: 300 });
    expect((await fetchAt(topic, 1, 99)).errorCode).toBe(OFFSET_OUT_OF_RANGE);

    // Reading from the beginning starts at 120 (the records 100-119 of the batch holding 120 are skipped by the client).
    const all = await kcatJson(broker.bootstrap, topic, { partition: 0 });
    expect(all.map((m) => m.offset)).toEqual(Array.from({ length: 180 }, (_, i) => 120 + i));
    expect(all[0]!.payload).toBe('p0-120');
  });

  test('librdkafka (kcat) asked to start below the log start gets OFFSET_OUT_OF_RANGE and resets to it', async () => {
    // librdkafka refuses a Fetch answer whose partition carries null records
    // ("invalid MessageSetSize -1"): Kafka sends empty records with an error.
    const reset = await kcatJson(broker.bootstrap, topic, { partition: 0, offset: '30', extra: ['-X', 'auto.offset.reset=earliest'], timeoutMs: 20_000 });
    expect(reset.map((m) => m.offset)).toEqual(Array.from({ length: 180 }, (_, i) => 120 + i));
  });

  test('past the high watermark is OFFSET_OUT_OF_RANGE; below the log start changes nothing; new records continue the offsets', async () => {
    await expect(admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '301' }] })).rejects.toThrow();
    const raw = await withConnection(broker.port, async (c) => {
      const { DeleteRecordsApi } = await import('../../src/protocol/generated/delete-records.js');
      return c.request(DeleteRecordsApi, 2, { topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset: 301n }, { partitionIndex: 1, offset: 5n }] }], timeoutMs: 10_000 });
    });
    expect(raw.topics[0]!.partitions.map((p) => [p.partitionIndex, p.errorCode, Number(p.lowWatermark)])).toEqual([
      [0, OFFSET_OUT_OF_RANGE, 120],
      [1, 0, 100],
    ]);
    expect(await earliest(topic, 0)).toBe(120);
    expect((await produceBatch(topic, 0, ['after'])).baseOffset).toBe(300);
    expect((await produceBatch(topic, 1, ['after'])).baseOffset).toBe(100);
    expect((await kcatJson(broker.bootstrap, topic, { partition: 1 })).map((m) => [m.offset, m.payload])).toEqual([[100, 'after']]);
  });

  test('a kafkajs group whose committed offset fell below the log start resets to it', async () => {
    const group = uniqueTopic('dr-group');
    await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '10' }, { partition: 1, offset: '0' }] });
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 500 });
    const got: Array<[number, number]> = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ partition, message }) => void got.push([partition, Number(message.offset)]) });
      await waitFor(() => got.length >= 182, 60_000, 'the group to read from the log start');
    } finally {
      await consumer.disconnect();
    }
    const p0 = got.filter(([p]) => p === 0).map(([, o]) => o);
    const p1 = got.filter(([p]) => p === 1).map(([, o]) => o);
    expect(p0[0]).toBe(120);
    expect(p0).toEqual(Array.from({ length: 181 }, (_, i) => 120 + i));
    expect(p1).toEqual([100]);
  });

  test('the log start survives a restart', async () => {
    await broker.restart();
    expect(await earliest(topic, 0)).toBe(120);
    expect(await earliest(topic, 1)).toBe(100);
    expect(await latest(topic, 0)).toBe(301);
    expect((await kcatJson(broker.bootstrap, topic, { partition: 0 }))[0]!.offset).toBe(120);
  });
});

describe('retention', () => {
  test('retention.bytes keeps the fewest newest ranges holding at least that many bytes', async () => {
    const topic = uniqueTopic('ret-bytes');
    await createTopic(broker.port, topic, 1);
    const sizes: number[] = [];
    for (let b = 0; b < 12; b++) sizes.push((await produceBatch(topic, 0, values(`b${b}`.padEnd(400, 'x'), 0, 10))).bytes);
    expect(await earliest(topic, 0)).toBe(0);
    const limit = sizes[0]! * 4 + 10; // 5 ranges hold at least that much, 4 do not
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.bytes', value: String(limit) }] }] });
    const t0 = Date.now();
    await waitFor(async () => (await earliest(topic, 0)) > 0, 15_000, 'retention.bytes to delete', 200);
    console.log(`[retention] retention.bytes ${limit}: log start moved after ${Date.now() - t0} ms`);
    await new Promise((r) => setTimeout(r, 1500)); // another pass changes nothing
    expect(await earliest(topic, 0)).toBe(70);
    expect((await fetchAt(topic, 0, 69)).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    expect(await fetchAt(topic, 0, 70)).toMatchObject({ errorCode: 0, logStartOffset: 70 });
    expect((await kcatJson(broker.bootstrap, topic)).map((m) => m.offset)).toEqual(Array.from({ length: 50 }, (_, i) => 70 + i));
  });

  test('retention.ms deletes ranges whose newest record is older, oldest first, stopping at the first that is not', async () => {
    const topic = uniqueTopic('ret-ms');
    await createTopic(broker.port, topic, 1, { 'retention.ms': String(3_600_000) });
    const now = Date.now();
    const hours = (h: number) => now - h * 3_600_000;
    // ranges: 3 h old, 2 h old, fresh, 5 h old (kept: it comes after a fresh one), fresh
    for (const [i, ts] of [hours(3), hours(2), now, hours(5), now].entries()) await produceBatch(topic, 0, values(`r${i}`, 0, 10), ts);
    const t0 = Date.now();
    await waitFor(async () => (await earliest(topic, 0)) > 0, 15_000, 'retention.ms to delete', 200);
    console.log(`[retention] retention.ms 1 h: log start moved after ${Date.now() - t0} ms`);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await earliest(topic, 0)).toBe(20);
    // Shorter on the live topic: now everything older than 30 s goes, up to the first fresh range.
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: '30000' }] }] });
    await new Promise((r) => setTimeout(r, 2500));
    expect(await earliest(topic, 0)).toBe(20);
    const kept = await kcatJson(broker.bootstrap, topic);
    expect(kept.map((m) => m.offset)).toEqual(Array.from({ length: 30 }, (_, i) => 20 + i));
    expect(kept.map((m) => m.ts)).toEqual([...Array(10).fill(now), ...Array(10).fill(hours(5)), ...Array(10).fill(now)]);
  });
});

describe('start-up failures on S3', () => {
  let s3Promise: ReturnType<typeof startS3rver>;
  beforeAll(() => {
    s3Promise = startS3rver({ buckets: ['streamhouse-exists'] });
  });
  afterAll(async () => (await s3Promise)?.cleanup());

  async function serve(storage: string, endpoint: string, env: Record<string, string>) {
    const dataDir = fs.mkdtempSync(path.join(broker.dataDir, '..', 'sh-startup-'));
    try {
      const port = await freePort();
      return await runCommand(process.execPath, [CLI, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--storage', storage, '--s3-endpoint', endpoint, '--s3-force-path-style'], {
        env,
        allowFailure: true,
        timeoutMs: 60_000,
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }

  function expectOneClearLine(r: { code: number | null; stderr: string; stdout: string }, message: RegExp): void {
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr + r.stdout).not.toMatch(/\n\s+at /);
  }

  test('a missing bucket', async () => {
    const s3 = await s3Promise;
    const r = await serve('s3://no-such-bucket/x', s3.endpoint, s3Env(s3));
    console.log(`[retention] missing bucket: exit ${r.code} in ${r.durationMs} ms: ${r.stderr.trim()}`);
    expectOneClearLine(r, /^streamhouse: start-up failed: S3 bucket no-such-bucket does not exist$/);
  });

  test('an unreachable endpoint', async () => {
    const s3 = await s3Promise;
    const closed = await freePort();
    const r = await serve('s3://streamhouse-exists/x', `http://127.0.0.1:${closed}`, s3Env(s3));
    console.log(`[retention] unreachable endpoint: exit ${r.code} in ${r.durationMs} ms: ${r.stderr.trim()}`);
    expectOneClearLine(r, new RegExp(`^streamhouse: start-up failed: cannot reach S3 bucket streamhouse-exists at http://127\\.0\\.0\\.1:${closed}: \\S`));
  });

  test('refused credentials', async () => {
    const s3 = await s3Promise;
    // s3rver checks the access key id (not v4 signatures): an unknown one is 403 InvalidAccessKeyId.
    const r = await serve('s3://streamhouse-exists/x', s3.endpoint, { ...s3Env(s3), AWS_ACCESS_KEY_ID: 'NO-SUCH-KEY' });
    console.log(`[retention] unknown access key: exit ${r.code} in ${r.durationMs} ms: ${r.stderr.trim()}`);
    expectOneClearLine(r, /^streamhouse: start-up failed: S3 refused access to bucket streamhouse-exists: check the credentials$/);
  });
});

