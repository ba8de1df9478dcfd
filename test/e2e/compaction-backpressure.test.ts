/**
 * Produce waits for compaction when compaction falls behind
 * (--max-compaction-debt-bytes): a kafkajs producer writes much more than the
 * bound, faster than the compactor's one-second timer looks; every send is
 * acknowledged, the broker logs the hold and the resume, the debt ends under
 * the bound, and kcat reads every record back in order.
 */
import { afterAll, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import type { BrokerProcess } from '../helpers/broker.js';
import { kcatConsume } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { startE2EBroker, uniqueTopic, waitFor } from './common.js';

const LIMIT = 64 * 1024;
const metricsPort = await freePort();
const broker: BrokerProcess = await startE2EBroker({ args: ['--max-compaction-debt-bytes', String(LIMIT), '--metrics-listen', `127.0.0.1:${metricsPort}`] });
afterAll(() => broker.cleanup());

async function gauge(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

test('a producer far ahead of compaction is held until it catches up, and loses nothing', async () => {
  const topic = uniqueTopic('backpressure');
  const kafka = new Kafka({ clientId: 'e2e-backpressure', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'segment.bytes', value: String(16 * 1024) }] }] });
  await admin.disconnect();

  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const sends = 60;
  const perSend = 100;
  const expected: string[] = [];
  for (let s = 0; s < sends; s++) {
    const messages = Array.from({ length: perSend }, (_, i) => ({ value: `${s}-${i}-`.padEnd(1000, 'x') }));
    expected.push(...messages.map((m) => m.value));
    // ~100 KiB a send, one after another: 6 MB against a 64 KiB bound.
    const [meta] = await producer.send({ topic, acks: -1, messages });
    expect(meta!.errorCode).toBe(0);
    expect(Number(meta!.baseOffset)).toBe(s * perSend);
  }
  await producer.disconnect();

  const logs = () => broker.jsonLogs();
  const held = logs().filter((l) => l.msg === 'produce held: compaction is behind');
  expect(held.length).toBeGreaterThan(0);
  expect(held[0]).toMatchObject({ limitBytes: LIMIT });
  expect(held[0]!.debtBytes as number).toBeGreaterThan(LIMIT);
  await waitFor(() => logs().some((l) => l.msg === 'produce resumed: compaction caught up'), 15_000, 'the resume log line');
  // One log line per hold (lines reach us through a pipe: the last may lag the metric a little).
  const holds = await gauge('streamhouse_produce_held_for_compaction');
  expect(holds).toBeGreaterThan(0);
  await waitFor(() => logs().filter((l) => l.msg === 'produce held: compaction is behind').length === holds, 15_000, 'a log line per hold');
  await waitFor(async () => (await gauge('streamhouse_compaction_debt_bytes')) <= LIMIT, 15_000, 'the debt under its bound');

  const records = await kcatConsume({ bootstrap: broker.bootstrap, topic, timeoutMs: 60_000 });
  expect(records.length).toBe(expected.length);
  expect(records.map((r) => r.offset)).toEqual(expected.map((_, i) => i));
  expect(records.map((r) => r.value)).toEqual(expected);
});
