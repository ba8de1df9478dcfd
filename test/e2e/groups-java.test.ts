/**
 * Consumer groups with the Apache Kafka 3.9 Java consumer
 * (compat-tests/java/GroupConsumer.java) against a real broker process:
 *
 * - two static members (group.instance.id) with the cooperative-sticky
 *   assignor: the second one's arrival moves half the partitions in an
 *   incremental rebalance (the first keeps the rest throughout);
 * - a member restarted with the same instance id within its session timeout
 *   gets its partitions back with no rebalance at all: no new generation, the
 *   other member sees no revoke or assign, and it resumes from its commits;
 * - a second process started with an instance id already in use takes over
 *   and the old one is fenced (FencedInstanceIdException), again without a
 *   rebalance;
 * - Kafka's own kafka-consumer-groups --describe (ConsumerGroupCommand) shows
 *   both members and the lag of every partition, in the same layout as Kafka
 *   prints for the same scenario (captured from Kafka 3.9 below; set
 *   STREAMHOUSE_COMPARE_KAFKA=1 to also run the scenario against a real Kafka
 *   3.9 started by scripts/kafka-ref.ts and compare live), and
 *   `streamhouse groups describe` prints the same table.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterClient } from '../../src/client/cluster.js';
import { createTopic, describeGroupOffsets } from '../../src/client/admin.js';
import { BROKER_CLI, startBroker, type BrokerProcess } from '../helpers/broker.js';
import { runCommand, runKafkaClass } from '../helpers/clients.js';
import { consumedCounts, javaMember, type MemberProcess } from '../groups/member-process.js';
import { uniqueTopic, waitFor } from './common.js';

const CONSUMER_GROUP_COMMAND = 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand';
let broker: BrokerProcess;
let kafka: Kafka;
let cluster: ClusterClient;
const members: MemberProcess[] = [];

beforeAll(async () => {
  broker = await startBroker({ args: ['--group-initial-rebalance-delay-ms', '0'] });
  kafka = new Kafka({ clientId: 'groups-java', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  cluster = await ClusterClient.connect(broker.bootstrap);
});
afterAll(async () => {
  for (const m of members) if (m.running) await m.kill();
  cluster?.close();
  await broker?.cleanup();
});

async function produce(bootstrap: string, topic: string, values: string[], partitions: number): Promise<void> {
  const k = bootstrap === broker.bootstrap ? kafka : new Kafka({ clientId: 'groups-java', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const p = k.producer();
  await p.connect();
  await p.send({ topic, messages: values.map((value, i) => ({ value, partition: i % partitions })) });
  await p.disconnect();
}

const generationsOf = (group: string) => broker.jsonLogs().filter((l) => l.group === group && l.msg === 'generation started');

/** Rows of a kafka-consumer-groups --describe table, split on whitespace (the header excluded). */
function tableRows(stdout: string, group: string): string[][] {
  return stdout.split('\n').filter((l) => l.startsWith(`${group} `)).map((l) => l.trim().split(/\s+/));
}

/**
 * The layout rules of ConsumerGroupCommand.printOffsets in Kafka 3.9, as it
 * printed them for two kafkajs members on a six-partition topic plus one
 * committed partition nobody owns:
 *
 *   (blank line)
 *   GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID                              HOST            CLIENT-ID
 *   ref-group       ref-topic       5          10              10              0               ref-e0cc4dc7-5037-4d83-8d55-176c48ee51b8 /127.0.0.1      ref
 *   ...
 *   ref-group       other           0          0               0               0               -                                        -               -
 *
 * GROUP, TOPIC, CONSUMER-ID and HOST are as wide as their longest value (at
 * least 15), PARTITION 10, the offsets and LAG 15, one space between columns.
 */
function expectKafkaLayout(stdout: string): void {
  const lines = stdout.split('\n');
  expect(lines[0]).toBe('');
  const header = lines[1]!;
  const rows = lines.slice(2).filter((l) => l.trim() !== '');
  const width = (i: number) => Math.max(15, ...rows.map((r) => r.split(/\s+/)[i]!.length));
  const expected =
    'GROUP'.padEnd(width(0)) + ' ' + 'TOPIC'.padEnd(width(1)) + ' ' + 'PARTITION'.padEnd(10) + ' ' + 'CURRENT-OFFSET'.padEnd(15) + ' ' +
    'LOG-END-OFFSET'.padEnd(15) + ' ' + 'LAG'.padEnd(15) + ' ' + 'CONSUMER-ID'.padEnd(width(6)) + ' ' + 'HOST'.padEnd(width(7)) + ' ' + 'CLIENT-ID';
  expect(header).toBe(expected);
  const starts = ['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID'].map((h) => header.indexOf(h));
  for (const r of rows) for (const s of starts.slice(1)) expect(r[s - 1], `column at ${s} of ${JSON.stringify(r)}`).toBe(' ');
}

test('Java consumers: cooperative-sticky static members, restart without rebalance, fencing, kafka-consumer-groups', async () => {
  const topic = uniqueTopic('grp-java');
  const group = uniqueTopic('grp-java-g');
  await createTopic(cluster, topic, { partitions: 6 });
  const args = (instance: string) => [
    '--bootstrap', broker.bootstrap, '--topic', topic, '--group', group, '--assignor', 'cooperative-sticky',
    '--instance-id', instance, '--client-id', `java-${instance}`, '--session-timeout-ms', '30000',
  ];
  const start = (name: string, instance: string) => {
    const m = javaMember(name, 'GroupConsumer.java', args(instance));
    members.push(m);
    return m;
  };

  // ---- cooperative-sticky: b's arrival moves three partitions, a keeps three
  const a = start('java-a', 'ia');
  await waitFor(() => a.assigned.size === 6, 60_000, `a owns 6\n${a.tail()}`);
  const b = start('java-b', 'ib');
  await waitFor(() => a.assigned.size === 3 && b.assigned.size === 3, 60_000, `a and b own 3 each\n${a.tail()}\n${b.tail()}`);
  const aOwned = new Set(a.assigned);
  const bOwned = new Set(b.assigned);
  expect(a.events.filter((e) => e.ev === 'revoke' || e.ev === 'lost')).toEqual([{ ev: 'revoke', partitions: [...bOwned].sort() }]);
  expect(generationsOf(group).every((g) => g.protocol === 'cooperative-sticky')).toBe(true);

  const one = Array.from({ length: 300 }, (_, i) => `one-${i}`);
  await produce(broker.bootstrap, topic, one, 6);
  await waitFor(() => consumedCounts([a, b]).size === 300, 30_000, 'phase one consumed');

  // ---- restart a (static: close() sends no LeaveGroup) and bring it back within the session timeout
  const gensBefore = generationsOf(group).length;
  const bEventsBefore = b.events.filter((e) => e.ev !== 'msg' && e.ev !== 'commit').length;
  await a.stop();
  const a2 = start('java-a2', 'ia');
  await waitFor(() => a2.assigned.size === 3, 60_000, `restarted a owns 3 again\n${a2.tail()}`);
  expect(new Set(a2.assigned)).toEqual(aOwned); // the same partitions
  expect(generationsOf(group)).toHaveLength(gensBefore); // no rebalance
  expect(b.events.filter((e) => e.ev !== 'msg' && e.ev !== 'commit')).toHaveLength(bEventsBefore); // b saw nothing
  // Waited for, not looked up: the consumer can see its assignment before the broker's log line has been read from its stdout (CI failed so once).
  await broker.waitForLog((line) => line.includes('"static member rejoined"') && line.includes(`"group":${JSON.stringify(group)}`) && line.includes('"groupInstanceId":"ia"'), 10_000);

  const two = Array.from({ length: 120 }, (_, i) => `two-${i}`);
  await produce(broker.bootstrap, topic, two, 6);
  await waitFor(() => two.every((v) => consumedCounts([a2, b]).has(v)), 30_000, 'phase two consumed');
  // a2 resumed exactly at a's commits: nothing of phase one again, nothing skipped.
  expect(a2.consumed.filter((c) => c.v.startsWith('one-'))).toEqual([]);
  const counts = consumedCounts([a, a2, b]);
  expect([...one, ...two].filter((v) => counts.get(v) !== 1)).toEqual([]);

  // ---- a second process with b's instance id takes over; b is fenced
  const b2 = start('java-b2', 'ib');
  await waitFor(() => b2.assigned.size === 3, 60_000, `b2 owns b's partitions\n${b2.tail()}`);
  expect(new Set(b2.assigned)).toEqual(bOwned);
  const bExit = await b.exited;
  expect(bExit.code).toBe(3);
  expect(b.events.some((e) => e.ev === 'fenced' && /FencedInstanceIdException/.test(String(e.error)))).toBe(true);
  expect(generationsOf(group)).toHaveLength(gensBefore);

  const three = Array.from({ length: 60 }, (_, i) => `three-${i}`);
  await produce(broker.bootstrap, topic, three, 6);
  await waitFor(() => three.every((v) => consumedCounts([a2, b2]).has(v)), 30_000, 'phase three consumed');
  await waitFor(async () => (await describeGroupOffsets(cluster, group)).rows.every((r) => r.lag === 0n), 15_000, 'lag 0');

  // ---- Kafka's own tool and ours describe the group the same way
  const kcg = await runKafkaClass(CONSUMER_GROUP_COMMAND, ['--bootstrap-server', broker.bootstrap, '--describe', '--group', group], { timeoutMs: 60_000 });
  expect(kcg.stderr.trim()).toBe('');
  expectKafkaLayout(kcg.stdout);
  const kRows = tableRows(kcg.stdout, group);
  expect(kRows).toHaveLength(6);
  const ids = new Map<string, Set<string>>();
  for (const [g, t, p, cur, end, lag, consumerId, host, clientId] of kRows) {
    expect([g, t, cur, end, lag, host]).toEqual([group, topic, '80', '80', '0', '/127.0.0.1']);
    const owner = aOwned.has(Number(p)) ? 'java-ia' : 'java-ib';
    expect(clientId).toBe(owner);
    expect(consumerId).toMatch(new RegExp(`^${owner}-`));
    ids.set(owner, (ids.get(owner) ?? new Set()).add(consumerId!));
  }
  expect([...ids.values()].map((s) => s.size)).toEqual([1, 1]);
  const ours = await runCommand(process.execPath, [BROKER_CLI, 'groups', 'describe', group, '--bootstrap', broker.bootstrap], { timeoutMs: 30_000 });
  expectKafkaLayout(ours.stdout);
  expect(ours.stdout.split('\n')[1]).toBe(kcg.stdout.split('\n')[1]);
  const sorted = (rows: string[][]) => rows.map((r) => r.join(' ')).sort();
  expect(sorted(tableRows(ours.stdout, group))).toEqual(sorted(kRows));

  await a2.stop();
  await b2.stop();
  expect([a, a2, b2].flatMap((m) => m.errors)).toEqual([]);
});

test.runIf(process.env.STREAMHOUSE_COMPARE_KAFKA === '1')('kafka-consumer-groups --describe prints the same table for the same scenario on Kafka 3.9', async () => {
  const { startReferenceKafka } = await import('../../scripts/kafka-ref.js');
  const ref = await startReferenceKafka();
  try {
    const outputs: string[] = [];
    for (const bootstrap of [ref.bootstrap, broker.bootstrap]) {
      const k = new Kafka({ clientId: 'cmp', brokers: [bootstrap], logLevel: logLevel.NOTHING });
      const admin = k.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'cmp-topic', numPartitions: 4 }, { topic: 'cmp-other', numPartitions: 1 }] });
      await produce(bootstrap, 'cmp-topic', Array.from({ length: 40 }, (_, i) => `v${i}`), 4);
      await produce(bootstrap, 'cmp-other', ['x', 'y'], 1);
      await admin.setOffsets({ groupId: 'cmp-group', topic: 'cmp-other', partitions: [{ partition: 0, offset: '1' }] });
      const consumers = [];
      for (let i = 0; i < 2; i++) {
        const c = k.consumer({ groupId: 'cmp-group', maxWaitTimeInMs: 200, heartbeatInterval: 300 });
        await c.connect();
        await c.subscribe({ topic: 'cmp-topic', fromBeginning: true });
        await c.run({ eachMessage: async () => {} });
        consumers.push(c);
      }
      await waitFor(async () => {
        const [t] = await admin.fetchOffsets({ groupId: 'cmp-group', topics: ['cmp-topic'] });
        const d = await admin.describeGroups(['cmp-group']);
        return d.groups[0]!.state === 'Stable' && d.groups[0]!.members.length === 2 && t!.partitions.every((p) => p.offset === '10');
      }, 30_000, `group settled on ${bootstrap}`);
      const r = await runKafkaClass(CONSUMER_GROUP_COMMAND, ['--bootstrap-server', bootstrap, '--describe', '--group', 'cmp-group'], { timeoutMs: 60_000 });
      outputs.push(r.stdout);
      for (const c of consumers) await c.disconnect();
      await admin.disconnect();
    }
    // Same header, same rows once member ids (random) are replaced by their owners' positions and rows sorted.
    const normalize = (s: string) => {
      const rows = tableRows(s, 'cmp-group');
      const idx = new Map<string, string>();
      for (const r of rows) if (r[6] !== '-' && !idx.has(r[6]!)) idx.set(r[6]!, `member${idx.size}`);
      return rows.map((r) => [...r.slice(0, 6), r[6] === '-' ? '-' : 'member', r[7], r[8]].join(' ')).sort();
    };
    const [kafkaOut, ourOut] = outputs as [string, string];
    expect(normalize(ourOut)).toEqual(normalize(kafkaOut));
    expectKafkaLayout(kafkaOut);
    expectKafkaLayout(ourOut);
  } finally {
    await ref.stop();
  }
});
