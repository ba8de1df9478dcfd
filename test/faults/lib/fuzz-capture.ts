/**
 * Records fuzz seeds from real clients (test/faults/seeds/<client>.jsonl):
 * starts a broker behind a RecordingProxy (fuzz-record.ts) that it
 * advertises, runs a session of the client, saves what the proxy saw.
 *
 *   npx tsx test/faults/lib/fuzz-capture.ts [kafkajs] [librdkafka] [java]
 *
 * kafkajs 2.2: admin calls, an idempotent producer (none/gzip), a consumer
 * group with commits, offset lookups, DeleteRecords. librdkafka (Debian's
 * python3-confluent-kafka): fuzz_capture_rdkafka.py. Java (Kafka 3.9 client):
 * compat-tests/java/IdempotentRoundTrip.java (Admin, idempotent producer,
 * zstd, consumer). Run it again after a protocol change; the files are
 * committed so the fuzzer needs none of the clients.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { startBroker } from '../../helpers/broker.js';
import { runJava, runPython } from '../../helpers/clients.js';
import { freePort } from '../../helpers/ports.js';
import { cleanupAll } from '../../helpers/process.js';
import { RecordingProxy } from './fuzz-record.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

async function kafkajs(bootstrap: string): Promise<void> {
  const kafka = new Kafka({ clientId: 'seed-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'seed-topic', numPartitions: 3 }, { topic: 'seed-topic-js', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
  await admin.fetchTopicMetadata({ topics: ['seed-topic'] });
  await admin.listTopics();
  await admin.describeCluster();
  await admin.describeConfigs({ resources: [{ type: 2, name: 'seed-topic-js' }, { type: 4, name: '0' }], includeSynonyms: true });
  await admin.alterConfigs({ resources: [{ type: 2, name: 'seed-topic-js', configEntries: [{ name: 'retention.ms', value: '7200000' }] }], validateOnly: false });
  await admin.createPartitions({ topicPartitions: [{ topic: 'seed-topic-js', count: 3 }] });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
    for (let i = 0; i < 5; i++) {
      await producer.send({
        topic: 'seed-topic',
        compression,
        acks: -1,
        messages: Array.from({ length: 10 }, (_, j) => ({ key: `k${j}`, value: `js-${compression}-${i}-${j}`, partition: j % 3, headers: { h: 'v' } })),
      });
    }
  }
  await producer.sendBatch({ topicMessages: [{ topic: 'seed-topic-js', messages: [{ value: 'x'.repeat(300) }] }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: 'seed-group-js', sessionTimeout: 6000 });
  await consumer.connect();
  await consumer.subscribe({ topic: 'seed-topic', fromBeginning: true });
  let got = 0;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 20_000);
    void consumer.run({
      eachMessage: async () => {
        if (++got >= 100) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  await admin.fetchOffsets({ groupId: 'seed-group-js', topics: ['seed-topic'] });
  await admin.fetchTopicOffsets('seed-topic');
  await admin.fetchTopicOffsetsByTimestamp('seed-topic', Date.now() - 60_000);
  await admin.listGroups();
  await admin.describeGroups(['seed-group-js']);
  await admin.setOffsets({ groupId: 'seed-group-js', topic: 'seed-topic', partitions: [{ partition: 0, offset: '1' }] });
  // kafkajs 2.2 fails to find the leader here (KafkaJSBrokerNotFound for broker id 0); the other calls still go out.
  await admin.deleteTopicRecords({ topic: 'seed-topic-js', partitions: [{ partition: 0, offset: '1' }] }).catch(() => {});
  await admin.deleteGroups(['seed-group-js']);
  await admin.deleteTopics({ topics: ['seed-topic-js'] });
  await admin.disconnect();
}

async function librdkafka(bootstrap: string): Promise<void> {
  const r = await runPython(path.join(HERE, 'fuzz_capture_rdkafka.py'), [bootstrap], { timeoutMs: 120_000 });
  if (!r.stdout.includes('done')) throw new Error(`librdkafka session: ${r.stderr.slice(-2000)}`);
}

async function java(bootstrap: string): Promise<void> {
  const r = await runJava('IdempotentRoundTrip.java', ['--bootstrap', bootstrap, '--topic', 'seed-topic-java', '--count', '300', '--partitions', '3', '--compression', 'zstd', '--timeout-ms', '60000'], {
    allowFailure: true,
    timeoutMs: 150_000,
    jvmArgs: ['-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'],
  });
  if (r.code !== 0) throw new Error(`java session exited ${r.code}: ${r.stderr.slice(-2000)}`);
}

const SESSIONS: Record<string, (bootstrap: string) => Promise<void>> = { kafkajs, librdkafka, java };

async function main(): Promise<void> {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(SESSIONS);
  for (const name of names) {
    const session = SESSIONS[name];
    if (!session) throw new Error(`unknown client ${name} (${Object.keys(SESSIONS).join(', ')})`);
    const port = await freePort();
    const proxy = new RecordingProxy(port);
    await proxy.listen();
    const broker = await startBroker({ port, args: ['--advertise', `127.0.0.1:${proxy.port}`, '--group-initial-rebalance-delay-ms', '0'] });
    try {
      await session(`127.0.0.1:${proxy.port}`);
      const file = proxy.save(name);
      const apis = new Set(proxy.frames.map((f) => f.api));
      console.log(`${name}: ${proxy.total} requests seen, ${proxy.frames.length} seeds of ${apis.size} apis -> ${file}`);
    } finally {
      await broker.cleanup();
      await proxy.close();
    }
  }
}

main().then(
  async () => {
    await cleanupAll();
    process.exit(0);
  },
  async (err: unknown) => {
    console.error(err);
    await cleanupAll();
    process.exit(1);
  },
);
