/**
 * Consumer groups with kafka-python (Debian python3-kafka 2.0.2, its own
 * protocol implementation and eager range assignor) against a real broker
 * process: two members split the partitions, messages produced meanwhile are
 * each consumed once; then one member is killed (no LeaveGroup) and the other
 * takes over its partitions after the session timeout, resuming from the
 * committed offsets so nothing is skipped.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterClient } from '../../src/client/cluster.js';
import { createTopic, describeGroupOffsets } from '../../src/client/admin.js';
import { startBroker, type BrokerProcess } from '../helpers/broker.js';
import { consumedCounts, pythonMember, type MemberProcess } from '../groups/member-process.js';
import { uniqueTopic, waitFor } from './common.js';

let broker: BrokerProcess;
let kafka: Kafka;
let cluster: ClusterClient;
const members: MemberProcess[] = [];

beforeAll(async () => {
  broker = await startBroker({ args: ['--group-initial-rebalance-delay-ms', '0'] });
  kafka = new Kafka({ clientId: 'groups-kafka-python', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  cluster = await ClusterClient.connect(broker.bootstrap);
});
afterAll(async () => {
  for (const m of members) if (m.running) await m.kill();
  cluster?.close();
  await broker?.cleanup();
});

test('kafka-python: two members split four partitions; a killed member is replaced after its session timeout', async () => {
  const topic = uniqueTopic('grp-kpy');
  const group = uniqueTopic('grp-kpy-g');
  await createTopic(cluster, topic, { partitions: 4 });
  const producer = kafka.producer();
  await producer.connect();
  const send = (prefix: string, n: number) =>
    producer.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ value: `${prefix}-${i}`, partition: i % 4 })) });

  const args = ['--bootstrap', broker.bootstrap, '--topic', topic, '--group', group, '--session-timeout-ms', '6000'];
  const a = pythonMember('kafka-python-a', 'kafka_python_group.py', args);
  members.push(a);
  await waitFor(() => a.assigned.size === 4, 30_000, `a owns 4 partitions\n${a.tail()}`);
  const b = pythonMember('kafka-python-b', 'kafka_python_group.py', args);
  members.push(b);
  await waitFor(() => a.assigned.size === 2 && b.assigned.size === 2, 30_000, `a and b own 2 each\n${a.tail()}\n${b.tail()}`);
  expect([...a.assigned, ...b.assigned].sort()).toEqual([0, 1, 2, 3]);
  const bOwned = new Set(b.assigned);

  await send('one', 200);
  await waitFor(() => consumedCounts([a, b]).size === 200, 30_000, '200 consumed');
  await new Promise((r) => setTimeout(r, 300));
  const once = consumedCounts([a, b]);
  expect([...once.values()].every((n) => n === 1)).toBe(true);
  // b commits after every poll; wait until its last commit covers what it read.
  await waitFor(async () => {
    const { rows } = await describeGroupOffsets(cluster, group);
    return rows.length === 4 && rows.every((r) => r.lag === 0n);
  }, 15_000, 'commits at the log end');

  // b dies without leaving; messages keep coming; a gets b's partitions once b's session (6 s) expires.
  await b.kill();
  await send('two', 100);
  await waitFor(() => a.assigned.size === 4, 30_000, `a takes over b's partitions\n${a.tail()}`);
  await waitFor(() => Array.from({ length: 100 }, (_, i) => `two-${i}`).every((v) => consumedCounts([a, b]).has(v)), 30_000, 'phase two consumed');
  await a.stop();
  // Every record of b's partitions after b's last commit was read by a, from exactly that offset: no gap.
  for (const p of bOwned) {
    const offs = [...a.consumed, ...b.consumed].filter((c) => c.p === p).map((c) => c.o);
    const max = Math.max(...offs);
    for (let o = 0; o <= max; o++) expect(offs, `partition ${p} offset ${o}`).toContain(o);
  }
  expect(a.errors).toEqual([]);
  const { description, rows } = await describeGroupOffsets(cluster, group);
  expect(description.state).toBe('Empty');
  expect(rows.map((r) => [r.partition, r.currentOffset, r.lag])).toEqual([0, 1, 2, 3].map((p) => [p, 75n, 0n]));
  await producer.disconnect();
  const removed = broker.jsonLogs().filter((l) => l.group === group && l.msg === 'member removed').map((l) => l.why);
  expect(removed).toContain('session timed out');
});
