/**
 * Log compaction (cleanup.policy=compact) against a real broker process:
 * kafkajs writes several values per key; once the WAL is compacted into a
 * segment (segment.ms) the segment is cleaned down to each key's latest
 * record. kcat and a kafkajs consumer read the survivors with their original
 * offsets (gaps between them), from the start and from a removed offset; a
 * tombstone stays while delete.retention.ms lasts and goes after it; records
 * without a key are refused (INVALID_RECORD) for kafkajs and librdkafka;
 * DeleteRecords is refused (POLICY_VIOLATION) and retention.ms does not
 * delete; everything survives kill -9.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { BrokerProcess } from '../helpers/broker.js';
import { runCommand, runKcat, SYSTEM_PYTHON } from '../helpers/clients.js';
import { DeleteRecordsApi } from '../../src/protocol/generated/delete-records.js';
import { freePort } from '../helpers/ports.js';
import { readBatchHeader } from '../../src/protocol/records/batch.js';
import { fetchRawBatches, startE2EBroker, uniqueTopic, waitFor } from './common.js';
import { withConnection } from './wire.js';

const metricsPort = await freePort();
const broker: BrokerProcess = await startE2EBroker({ args: ['--metrics-listen', `127.0.0.1:${metricsPort}`] });
const kafka = () => new Kafka({ clientId: 'e2e-log-compaction', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 100 } });
let admin: Admin;
beforeAll(async () => {
  admin = kafka().admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect();
  await broker.cleanup();
});

async function create(topic: string, configs: Record<string, string>): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }], waitForLeaders: true });
}

type Rec = [offset: number, key: string, value: string | null];

/** kcat's view of partition 0 (-J: a null value is payload null). */
async function kcatRead(topic: string, from = 'beginning'): Promise<Rec[]> {
  const r = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-p', '0', '-o', from, '-e', '-q', '-J']);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { offset: number; key: string; payload: string | null })
    .map((m) => [m.offset, m.key, m.payload]);
}

const COMPACT_FAST = { 'cleanup.policy': 'compact', 'segment.ms': '300', 'min.cleanable.dirty.ratio': '0.01' };

/** Rounds of values for keys k0..k{n-1}, one send per round; the last round's `tombstone` key gets a null value. */
async function writeRounds(topic: string, rounds: number, n: number, tombstone?: string): Promise<void> {
  const producer = kafka().producer({ idempotent: true });
  await producer.connect();
  for (let round = 0; round < rounds; round++) {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: n }, (_, i) => ({ partition: 0, key: `k${i}`, value: round === rounds - 1 && `k${i}` === tombstone ? null : `v${round}-k${i}` })),
    });
  }
  await producer.disconnect();
}

describe('cleanup.policy=compact', () => {
  const topic = uniqueTopic('compacted');
  const survivors: Rec[] = [...Array.from({ length: 7 }, (_, i): Rec => [32 + i, `k${i}`, `v4-k${i}`]), [39, 'k7', null]];

  beforeAll(async () => {
    await create(topic, { ...COMPACT_FAST, 'retention.ms': '1' });
    await writeRounds(topic, 5, 8, 'k7'); // offsets 0..31 superseded, 32..39 the latest
    await waitFor(async () => (await kcatRead(topic)).length === survivors.length, 30_000, 'the segment to be cleaned', 250);
  });

  test('kcat reads each key latest record at its original offset; the tombstone stays', async () => {
    expect(await kcatRead(topic)).toEqual(survivors);
    // The tombstone's batch carries a delete horizon (Kafka 3's cleaner stamps it in the base
    // timestamp's place): its records keep their own timestamps for kcat (librdkafka) all the same.
    const stored = await fetchRawBatches(broker.port, topic, 0);
    expect(readBatchHeader(stored.at(-1)!).hasDeleteHorizon).toBe(true);
    const raw = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-J']);
    for (const l of raw.stdout.split('\n').filter(Boolean)) {
      const ts = (JSON.parse(l) as { ts: number }).ts;
      expect(ts).toBeLessThanOrEqual(Date.now());
      expect(ts).toBeGreaterThan(Date.now() - 600_000);
    }
    // From an offset whose record was cleaned away: the next survivor.
    expect(await kcatRead(topic, '13')).toEqual(survivors);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(Number(/^streamhouse_log_cleanings (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    // The log start is still 0 (retention.ms=1 does not delete a compact-only topic), the end 40.
    expect(await admin.fetchTopicOffsets(topic)).toEqual([expect.objectContaining({ partition: 0, low: '0', high: '40' })]);
  });

  test('a kafkajs consumer group reads the survivors from the start, then what comes next', async () => {
    const consumer = kafka().consumer({ groupId: `g-${topic}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: Rec[] = [];
    let resolveAll!: () => void;
    const all = new Promise<void>((r) => (resolveAll = r));
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push([Number(message.offset), message.key!.toString(), message.value === null ? null : message.value.toString()]);
        if (seen.length === survivors.length + 1) resolveAll();
      },
    });
    const producer = kafka().producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ partition: 0, key: 'k0', value: 'after' }] });
    await producer.disconnect();
    await all;
    await consumer.disconnect();
    expect(seen).toEqual([...survivors, [40, 'k0', 'after']]);
  });

  test('records without a key are refused: kafkajs and librdkafka get INVALID_RECORD', async () => {
    const producer = kafka().producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      await expect(producer.send({ topic, messages: [{ partition: 0, key: 'ok', value: 'x' }, { partition: 0, value: 'no key' }] })).rejects.toMatchObject({ type: 'INVALID_RECORD' });
    } finally {
      await producer.disconnect();
    }
    const py = `
import json, sys
from confluent_kafka import Producer
out = []
p = Producer({'bootstrap.servers': sys.argv[1], 'message.send.max.retries': 0})
p.produce(sys.argv[2], value=b'no key', partition=0, on_delivery=lambda err, msg: out.append(None if err is None else err.name()))
p.flush(30)
print(json.dumps(out))
`;
    const r = await runCommand(SYSTEM_PYTHON, ['-c', py, broker.bootstrap, topic], { timeoutMs: 60_000 });
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual(['INVALID_RECORD']);
  });

  test('DeleteRecords is refused with POLICY_VIOLATION (raw DeleteRecords v2, as Kafka answers)', async () => {
    const res = await withConnection(broker.port, (c) =>
      c.request(DeleteRecordsApi, 2, { topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset: 10n }] }], timeoutMs: 30_000 }),
    );
    expect(res.topics[0]!.partitions[0]).toMatchObject({ partitionIndex: 0, errorCode: 44, lowWatermark: -1n });
  });

  test('k0 written again: its older record goes at the next cleaning; after kill -9 and a restart the log reads the same', async () => {
    const final: Rec[] = [...survivors.slice(1), [40, 'k0', 'after']];
    await waitFor(async () => JSON.stringify(await kcatRead(topic)) === JSON.stringify(final), 30_000, 'k0 at 32 to be cleaned', 250);
    const before = await kcatRead(topic);
    expect(before).toEqual(final);
    await broker.kill('SIGKILL');
    await broker.restart();
    await admin.disconnect();
    admin = kafka().admin();
    await admin.connect();
    expect(await kcatRead(topic)).toEqual(before);
  });
});

test('a tombstone goes once delete.retention.ms has passed; compact,delete keeps retention', async () => {
  const topic = uniqueTopic('compacted-tombstones');
  await create(topic, { ...COMPACT_FAST, 'delete.retention.ms': '0' });
  await writeRounds(topic, 3, 4, 'k3');
  await waitFor(async () => (await kcatRead(topic)).length === 3, 30_000, 'the tombstone to go', 250);
  expect(await kcatRead(topic)).toEqual([
    [8, 'k0', 'v2-k0'],
    [9, 'k1', 'v2-k1'],
    [10, 'k2', 'v2-k2'],
  ]);

  const both = uniqueTopic('compact-delete');
  await create(both, { ...COMPACT_FAST, 'cleanup.policy': 'compact,delete', 'retention.ms': '1' });
  await writeRounds(both, 2, 2);
  // Retention applies too: everything goes, the log start moves to the end.
  await waitFor(async () => (await admin.fetchTopicOffsets(both))[0]!.low === '4', 30_000, 'retention to delete', 250);
});
