/**
 * DescribeLogDirs against a real broker process: Kafka 3.9's own
 * kafka-log-dirs tool (org.apache.kafka.tools.LogDirsCommand, the Java admin
 * client) lists the broker's log dir and each partition's size; a raw v4
 * request also gets the volume's total and usable bytes, and a topic filter.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { DescribeLogDirsApi } from '../../src/protocol/generated/describe-log-dirs.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { kcatProduce, runKafkaClass } from '../helpers/clients.js';
import { createTopic, startE2EBroker, uniqueTopic } from './common.js';
import { withConnection } from './wire.js';

const broker: BrokerProcess = await startE2EBroker();
afterAll(() => broker.cleanup());

const topic = uniqueTopic('log-dirs');
const quiet = uniqueTopic('log-dirs-quiet');
beforeAll(async () => {
  await createTopic(broker.port, topic, 2);
  await createTopic(broker.port, quiet, 1);
  await kcatProduce({ bootstrap: broker.bootstrap, topic, partition: 1, lines: Array.from({ length: 100 }, (_, i) => `record-${i}`) });
});

test('kafka-log-dirs --describe: the broker log dir, each partition and its size', async () => {
  const r = await runKafkaClass('org.apache.kafka.tools.LogDirsCommand', ['--bootstrap-server', broker.bootstrap, '--describe', '--topic-list', `${topic},${quiet}`], { timeoutMs: 60_000 });
  const json = r.stdout.split('\n').find((l) => l.startsWith('{'));
  const out = JSON.parse(json!) as { brokers: Array<{ broker: number; logDirs: Array<{ logDir: string; error: string | null; partitions: Array<{ partition: string; size: number; offsetLag: number; isFuture: boolean }> }> }> };
  expect(out.brokers).toHaveLength(1);
  const dir = out.brokers[0]!.logDirs[0]!;
  expect(dir.error).toBeNull();
  expect(dir.logDir).toMatch(/\/objects$/);
  const parts = new Map(dir.partitions.map((p) => [p.partition, p]));
  expect([...parts.keys()].sort()).toEqual([`${quiet}-0`, `${topic}-0`, `${topic}-1`].sort());
  expect(parts.get(`${topic}-0`)).toMatchObject({ size: 0, offsetLag: 0, isFuture: false });
  expect(parts.get(`${topic}-1`)!.size).toBeGreaterThan(100 * 'record-00'.length);
});

test('raw DescribeLogDirs v4: volume bytes, and only the partitions asked for', async () => {
  const res = await withConnection(broker.port, (c) => c.request(DescribeLogDirsApi, 4, { topics: [{ topic, partitions: [1] }] }));
  expect(res.errorCode).toBe(0);
  expect(res.results).toHaveLength(1);
  const r = res.results[0]!;
  expect(r.errorCode).toBe(0);
  expect(r.totalBytes).toBeGreaterThan(0n);
  expect(r.usableBytes).toBeGreaterThan(0n);
  expect(r.usableBytes).toBeLessThanOrEqual(r.totalBytes!);
  expect(r.topics.map((t) => [t.name, t.partitions.map((p) => p.partitionIndex)])).toEqual([[topic, [1]]]);
  // Every topic (null): the quiet one too.
  const all = await withConnection(broker.port, (c) => c.request(DescribeLogDirsApi, 1, { topics: null }));
  expect(all.results[0]!.topics.map((t) => t.name)).toEqual(expect.arrayContaining([topic, quiet]));
});
