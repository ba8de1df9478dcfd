/**
 * Topic timestamp rules against a real broker process:
 * - message.timestamp.type=LogAppendTime: the broker stamps each batch with
 *   its append time (timestamp-type bit, maxTimestamp, CRC), answers the time
 *   in the produce response, and kafkajs, librdkafka (kcat and
 *   confluent-kafka, which also reports the timestamp type) read it instead of
 *   the producer's time; ListOffsets by timestamp follows the append time.
 * - message.timestamp.before.max.ms / after.max.ms (and the deprecated
 *   difference.max.ms): a record's CreateTime out of range gets
 *   INVALID_TIMESTAMP with Kafka's record error, for kafkajs and librdkafka
 *   alike, and nothing of that batch is stored.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { ProduceApi } from '../../src/protocol/generated/produce.js';
import { ListOffsetsApi } from '../../src/protocol/generated/list-offsets.js';
import { buildBatch } from '../../src/protocol/records/records.js';
import { checkBatch, readBatchHeader, TIMESTAMP_TYPE_LOG_APPEND } from '../../src/protocol/records/batch.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { runCommand, runKcat, SYSTEM_PYTHON } from '../helpers/clients.js';
import { fetchRawBatches, startE2EBroker, uniqueTopic } from './common.js';
import { withConnection } from './wire.js';

const broker: BrokerProcess = await startE2EBroker();
const kafka = new Kafka({ clientId: 'e2e-timestamps', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
let admin: Admin;
beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect();
  await broker.cleanup();
});

const HOUR = 3_600_000;

async function create(topic: string, configs: Record<string, string>): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }], waitForLeaders: true });
}

/** confluent-kafka (Debian, librdkafka 2.0): produce `values` with `timestamp`, then read partition 0 back; prints JSON. */
const PY = `
import json, sys
from confluent_kafka import Producer, Consumer, TopicPartition
bootstrap, topic, ts, values = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(',')
out = {'delivered': [], 'read': []}
once = len(sys.argv) > 5
p = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'enable.idempotence': not once, 'message.send.max.retries': 0 if once else 5})
def report(err, msg):
    out['delivered'].append({'error': None if err is None else err.name(), 'offset': msg.offset(), 'ts': list(msg.timestamp())})
for v in values:
    p.produce(topic, value=v.encode(), partition=0, timestamp=ts, on_delivery=report)
p.flush(30)
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'ts-check', 'enable.auto.commit': False})
c.assign([TopicPartition(topic, 0, 0)])
lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
while hi > 0 and len(out['read']) < hi:
    m = c.poll(5)
    if m is None:
        break
    if m.error():
        out['error'] = str(m.error())
        break
    out['read'].append({'offset': m.offset(), 'value': m.value().decode(), 'ts': list(m.timestamp())})
c.close()
print(json.dumps(out))
`;

interface PyResult {
  delivered: Array<{ error: string | null; offset: number; ts: [number, number] }>;
  read: Array<{ offset: number; value: string; ts: [number, number] }>;
  error?: string;
}

async function confluentRoundTrip(topic: string, ts: number, values: string[], noRetries = false): Promise<PyResult> {
  const args = ['-c', PY, broker.bootstrap, topic, String(ts), values.join(',')];
  if (noRetries) args.push('no-retries');
  const r = await runCommand(SYSTEM_PYTHON, args, { timeoutMs: 60_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as PyResult;
}

/** librdkafka's timestamp types (rd_kafka_timestamp_type_t). */
const TSTYPE_CREATE = 1;
const TSTYPE_LOG_APPEND = 2;

describe('message.timestamp.type=LogAppendTime', () => {
  test('kafkajs: the broker stamps its append time; the response, the stored batch, kafkajs and kcat agree', async () => {
    const topic = uniqueTopic('lat-kafkajs');
    await create(topic, { 'message.timestamp.type': 'LogAppendTime' });
    const old = Date.now() - HOUR;
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const before = Date.now();
    const [meta] = await producer.send({ topic, acks: -1, messages: ['a', 'b', 'c'].map((v, i) => ({ partition: 0, value: v, timestamp: String(old + i) })) });
    const after = Date.now();
    await producer.disconnect();
    const appendTime = Number(meta!.logAppendTime);
    expect(appendTime).toBeGreaterThanOrEqual(before);
    expect(appendTime).toBeLessThanOrEqual(after);

    const [batch] = await fetchRawBatches(broker.port, topic, 0);
    const h = readBatchHeader(batch!);
    expect(h.timestampType).toBe(TIMESTAMP_TYPE_LOG_APPEND);
    expect(h.maxTimestamp).toBe(appendTime);
    expect(h.baseTimestamp).toBe(old); // records are stored as sent
    expect(() => checkBatch(batch!)).not.toThrow(); // CRC recomputed

    const consumer = kafka.consumer({ groupId: `g-${topic}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: Array<{ value: string; ts: number }> = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            seen.push({ value: message.value!.toString(), ts: Number(message.timestamp) });
            if (seen.length === 3) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    expect(seen).toEqual(['a', 'b', 'c'].map((value) => ({ value, ts: appendTime })));

    const r = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-J']);
    const kc = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { payload: string; ts: number });
    expect(kc.map((m) => [m.payload, m.ts])).toEqual(['a', 'b', 'c'].map((v) => [v, appendTime]));
  });

  test('confluent-kafka: delivery reports and the consumer see LOG_APPEND_TIME and the broker time; ListOffsets by time follows it', async () => {
    const topic = uniqueTopic('lat-confluent');
    await create(topic, { 'message.timestamp.type': 'LogAppendTime' });
    const old = Date.now() - 2 * HOUR;
    const before = Date.now();
    const r = await confluentRoundTrip(topic, old, ['x', 'y']);
    const after = Date.now();
    expect(r.error).toBeUndefined();
    expect(r.delivered.map((d) => d.error)).toEqual([null, null]);
    for (const d of r.delivered) {
      expect(d.ts[0]).toBe(TSTYPE_LOG_APPEND);
      expect(d.ts[1]).toBeGreaterThanOrEqual(before);
      expect(d.ts[1]).toBeLessThanOrEqual(after);
    }
    expect(r.read.map((m) => m.value)).toEqual(['x', 'y']);
    for (const m of r.read) {
      expect(m.ts[0]).toBe(TSTYPE_LOG_APPEND);
      expect(m.ts[1]).toBeGreaterThanOrEqual(before);
      expect(m.ts[1]).toBeLessThanOrEqual(after);
    }
    // The producer's own (two hours old) time is gone: a lookup at an hour ago finds the first record.
    const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - HOUR);
    expect(offsets).toEqual([{ partition: 0, offset: '0' }]);
    const none = await admin.fetchTopicOffsetsByTimestamp(topic, after + 60_000);
    expect(none[0]!.offset).toBe('2'); // past every record: the log end
  });
});

describe('message.timestamp.before.max.ms / after.max.ms', () => {
  test('kafkajs: a record too old or too far ahead gets INVALID_TIMESTAMP and is not stored; one in range is', async () => {
    const topic = uniqueTopic('ts-bounds-kafkajs');
    await create(topic, { 'message.timestamp.before.max.ms': String(HOUR), 'message.timestamp.after.max.ms': '60000' });
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      const now = Date.now();
      await expect(producer.send({ topic, messages: [{ partition: 0, value: 'ok', timestamp: String(now) }, { partition: 0, value: 'old', timestamp: String(now - 2 * HOUR) }] })).rejects.toMatchObject({
        type: 'INVALID_TIMESTAMP',
      });
      await expect(producer.send({ topic, messages: [{ partition: 0, value: 'ahead', timestamp: String(now + 10 * 60_000) }] })).rejects.toMatchObject({ type: 'INVALID_TIMESTAMP' });
      const [meta] = await producer.send({ topic, messages: [{ partition: 0, value: 'fine', timestamp: String(now - HOUR / 2) }] });
      expect(meta!.baseOffset).toBe('0'); // the refused batches took no offsets
    } finally {
      await producer.disconnect();
    }
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets[0]).toMatchObject({ low: '0', high: '1' });
  });

  test('the answer carries Kafka record error: the index of the first record out of range and its message (raw Produce v9)', async () => {
    const topic = uniqueTopic('ts-bounds-raw');
    await create(topic, { 'message.timestamp.difference.max.ms': String(HOUR) }); // deprecated: stands for both bounds
    const now = Date.now();
    const records = buildBatch({ records: [now, now - 10, now + 2 * HOUR].map((timestamp, i) => ({ key: null, value: Buffer.from(`v${i}`), timestamp })) });
    const res = await withConnection(broker.port, (c) =>
      c.request(ProduceApi, 9, { transactionalId: null, acks: -1, timeoutMs: 30_000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] }),
    );
    const p = res.responses[0]!.partitionResponses[0]!;
    // As Kafka 3.9 answers (checked against it): the record error, Kafka's message, the log start offset.
    expect(p.errorCode).toBe(32); // INVALID_TIMESTAMP
    expect(p.errorMessage).toBe('One or more records have been rejected due to invalid timestamp');
    expect(p.logStartOffset).toBe(0n);
    expect(p.recordErrors).toHaveLength(1);
    expect(p.recordErrors![0]!.batchIndex).toBe(2);
    expect(p.recordErrors![0]!.batchIndexErrorMessage).toMatch(new RegExp(`^Timestamp ${now + 2 * HOUR} of message with offset 2 is out of range\\. The timestamp should be within \\[\\d+, \\d+\\]$`));
    const lo = await withConnection(broker.port, (c) =>
      c.request(ListOffsetsApi, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }] }),
    );
    expect(lo.topics[0]!.partitions[0]!.offset).toBe(0n);
  });

  test('confluent-kafka: the delivery report of an out-of-range record is INVALID_TIMESTAMP; in range is delivered', async () => {
    const topic = uniqueTopic('ts-bounds-confluent');
    await create(topic, { 'message.timestamp.before.max.ms': String(HOUR) });
    const bad = await confluentRoundTrip(topic, Date.now() - 3 * HOUR, ['late'], true);
    expect(bad.delivered.map((d) => d.error)).toEqual(['INVALID_TIMESTAMP']);
    const now = Date.now();
    const good = await confluentRoundTrip(topic, now, ['timely']);
    expect(good.delivered).toEqual([{ error: null, offset: 0, ts: [TSTYPE_CREATE, now] }]);
    expect(good.read).toEqual([{ offset: 0, value: 'timely', ts: [TSTYPE_CREATE, now] }]);
  });
});
