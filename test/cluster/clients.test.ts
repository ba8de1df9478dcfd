/**
 * Three brokers on one etcd and one s3rver bucket. Clients (kafkajs,
 * confluent-kafka) bootstrap from any one broker and produce to and consume
 * from topics whose partitions are led by all three; topic configs set
 * through CreateTopics are seen by every broker.
 */
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { DescribeConfigsApi } from '../../src/protocol/generated/describe-configs.js';
import { KafkaClient } from '../../src/client/kafka-client.js';
import { PYTHON_DIR, lastJsonLine, runPython } from '../helpers/clients.js';
import { Cluster, report, waitFor } from './cluster.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ brokers: 3, s3: true, leaseTtlSeconds: 3 });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

const kafka = (bootstrap: string) => new Kafka({ clientId: 'cluster-test', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 200 } });

test('every broker reports the three brokers and leaders spread over all of them; kafkajs produces and consumes through any one', async () => {
  const topic = 'spread-kafkajs';
  const admin = kafka(cluster.bootstrap(1)).admin();
  await admin.connect();
  try {
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true })).toBe(true);
    const described = await admin.describeCluster();
    expect(described.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
  } finally {
    await admin.disconnect();
  }
  const leaders = await cluster.settledLeaders(topic, 6);
  for (const id of [1, 2, 3]) expect((await cluster.metadata(id, topic)).brokers).toEqual([1, 2, 3]);
  const counts = [1, 2, 3].map((id) => [...leaders.values()].filter((l) => l === id).length);
  report('metadata', { topic, leaders: Object.fromEntries(leaders), perBroker: counts });
  // 6 partitions over 3 brokers: two each.
  expect(counts).toEqual([2, 2, 2]);

  // Produce through broker 2 only (its metadata leads the client to the others), one partition per send.
  const producer = kafka(cluster.bootstrap(2)).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sent = new Map<number, string[]>();
  try {
    for (let round = 0; round < 5; round++) {
      for (let p = 0; p < 6; p++) {
        const values = Array.from({ length: 20 }, (_, i) => `p${p}-r${round}-${i}`);
        const res = await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value, partition: p })) });
        expect(res[0]!.errorCode).toBe(0);
        sent.set(p, [...(sent.get(p) ?? []), ...values]);
      }
    }
  } finally {
    await producer.disconnect();
  }

  // A consumer group bootstrapped from broker 3 reads it all back, in order per partition.
  const consumer = kafka(cluster.bootstrap(3)).consumer({ groupId: 'spread-group', sessionTimeout: 10_000, heartbeatInterval: 1000 });
  await consumer.connect();
  const got = new Map<number, string[]>();
  let total = 0;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.set(partition, [...(got.get(partition) ?? []), message.value!.toString()]);
        total++;
      },
    });
    await waitFor('kafkajs consumer to read 600 messages', () => total >= 600, 60_000);
  } finally {
    await consumer.disconnect();
  }
  for (let p = 0; p < 6; p++) expect(got.get(p)).toEqual(sent.get(p));
});

test('confluent-kafka bootstraps from one broker, produces to and consumes from partitions led by all three', async () => {
  const topic = 'spread-confluent';
  // The script creates the topic (6 partitions) through broker 3, produces idempotently, reads back.
  const res = await runPython(path.join(PYTHON_DIR, 'confluent_roundtrip.py'), ['--bootstrap', cluster.bootstrap(3), '--topic', topic, '--count', '600', '--partitions', '6'], {
    timeoutMs: 120_000,
  });
  const out = lastJsonLine<{ ok: boolean; produced: number; consumed: number }>(res.stdout);
  const leaders = await cluster.settledLeaders(topic, 6);
  report('confluent-kafka', { produced: out.produced, consumed: out.consumed, leaders: Object.fromEntries(leaders) });
  expect(out.ok).toBe(true);
  expect(out.consumed).toBe(600);
  expect(new Set(leaders.values())).toEqual(new Set([1, 2, 3]));
});

test('topic configs set through CreateTopics are described alike by every broker', async () => {
  const topic = 'configured';
  const configs = { 'retention.ms': '3600000', 'cleanup.policy': 'compact', 'max.message.bytes': '200000', 'segment.bytes': '10485760' };
  const admin = kafka(cluster.bootstrap(2)).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: 3, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  for (const id of [1, 2, 3]) {
    const c = await KafkaClient.connect(cluster.bootstrap(id));
    try {
      const described = await waitFor(`configs of ${topic} on broker ${id}`, async () => {
        const res = await c.request(DescribeConfigsApi, {
          resources: [{ resourceType: 2, resourceName: topic, configurationKeys: null }],
          includeSynonyms: false,
          includeDocumentation: false,
        });
        const r = res.results[0]!;
        return r.errorCode === 0 ? r.configs : null;
      });
      const byName = new Map(described.map((x) => [x.name, x]));
      for (const [name, value] of Object.entries(configs)) {
        expect(byName.get(name)?.value, `broker ${id}: ${name}`).toBe(value);
        // 1 = DYNAMIC_TOPIC_CONFIG: set on the topic, not a default.
        expect(byName.get(name)?.configSource, `broker ${id}: source of ${name}`).toBe(1);
      }
      expect(byName.get('compression.type')?.configSource).not.toBe(1);
    } finally {
      c.close();
    }
  }
  report('configs', { topic, brokers: [1, 2, 3], configs });
});
