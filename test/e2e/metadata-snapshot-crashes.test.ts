/**
 * kill -9 in the middle of a metadata snapshot. The embedded store writes its
 * snapshots in the background while the journal goes on (src/coordination/
 * snapshot.ts): the journal before the snapshot is set apart first (a renamed
 * file) and deleted once the snapshot is durable. Here the broker snapshots
 * every few KiB of journal, and each incarnation has a failpoint armed that
 * SIGKILLs it between those steps (src/failpoints.ts), while kafkajs sends
 * with acks=all. Afterwards kcat (librdkafka) reads every partition: each
 * acknowledged record is at its acknowledged offset, once.
 */
import { afterAll, expect, test } from 'vitest';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { BrokerProcess } from '../helpers/broker.js';
import { runKcat } from '../helpers/clients.js';
import { createTopic, startE2EBroker, uniqueTopic } from './common.js';
import { sendThroughFailpointCrashes } from './failpoint-crashes.js';

const POINTS = ['metadata.snapshot-begun', 'metadata.after-snapshot-put'];
const INCARNATIONS = 5;
const PARTITIONS = 2;

let broker: BrokerProcess | undefined;
afterAll(async () => {
  await broker?.cleanup();
});

test('kill -9 while a metadata snapshot is set apart or just written: every acknowledged record stays at its offset, once', async () => {
  const armed = (i: number) => ({ STREAMHOUSE_FAILPOINTS: `${POINTS[i % POINTS.length]}=crash#${1 + (i % 2)}` });
  broker = await startE2EBroker({ env: armed(0), args: ['--metadata-snapshot-bytes', '4096'] });
  const topic = uniqueTopic('snapshot-crashes');
  await createTopic(broker.port, topic, PARTITIONS, { 'segment.ms': '1000' });

  const acked = new Map<string, { partition: number; offset: number }>();
  let n = 0;
  const sendOne = async (producer: Producer, timeout?: number) => {
    const partition = n % PARTITIONS;
    const value = `v-${n++}`;
    const [meta] = await producer.send({ topic, acks: -1, ...(timeout ? { timeout } : {}), messages: [{ partition, value }] });
    acked.set(value, { partition, offset: Number(meta!.baseOffset) });
  };
  const fired = await sendThroughFailpointCrashes(broker, { incarnations: INCARNATIONS, armed, retryPauseMs: 50, clientId: 'e2e-snapshot-crashes', send: (p) => sendOne(p, 5000) });
  // The last incarnation: some more acknowledged sends, then read back.
  const producer = new Kafka({ clientId: 'e2e-snapshot-crashes', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING }).producer({ idempotent: false, allowAutoTopicCreation: false });
  await producer.connect();
  for (let i = 0; i < 50; i++) await sendOne(producer);
  await producer.disconnect();

  console.log(`snapshot crashes: ${acked.size} acknowledged, failpoints: ${fired.join(' | ')}`);
  expect(fired.length, `failpoints fired: ${fired.join(' | ')}`).toBeGreaterThanOrEqual(3);
  const r = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%p %o %s\\n'], { timeoutMs: 60_000 });
  const at = new Map<string, string>();
  const seen = new Map<string, number>();
  for (const l of r.stdout.split('\n')) {
    if (!l) continue;
    const [p, o, v] = l.split(' ');
    at.set(`${p}@${o}`, v!);
    seen.set(v!, (seen.get(v!) ?? 0) + 1);
  }
  const wrong: string[] = [];
  for (const [value, a] of acked) {
    if (at.get(`${a.partition}@${a.offset}`) !== value) wrong.push(`${value} acked at ${a.partition}@${a.offset}, found ${at.get(`${a.partition}@${a.offset}`)}`);
    if ((seen.get(value) ?? 0) > 1) wrong.push(`${value} stored ${seen.get(value)} times`);
  }
  expect(wrong.slice(0, 10), `${acked.size} acknowledged; failpoints: ${fired.join(' | ')}`).toEqual([]);
  expect(acked.size).toBeGreaterThan(200);
});
