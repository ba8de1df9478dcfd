/**
 * Consumer groups with librdkafka clients against a real broker process:
 *
 * - confluent-kafka (Debian python3-confluent-kafka 1.7) with
 *   partition.assignment.strategy=cooperative-sticky: a second member joins
 *   and takes half the partitions through an incremental (KIP-429) rebalance,
 *   the first never gives up the partitions it keeps; every message produced
 *   afterwards is consumed exactly once; synchronous commits reach the log end.
 * - kcat -G (balanced consumer): reads everything, commits, and a later run
 *   of the same group reads only what was produced since.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterClient } from '../../src/client/cluster.js';
import { createTopic, describeGroupOffsets } from '../../src/client/admin.js';
import { startBroker, type BrokerProcess } from '../helpers/broker.js';
import { parseKcatLines, runKcat } from '../helpers/clients.js';
import { consumedCounts, pythonMember, type MemberProcess } from '../groups/member-process.js';
import { uniqueTopic, waitFor } from './common.js';

let broker: BrokerProcess;
let kafka: Kafka;
let cluster: ClusterClient;
const members: MemberProcess[] = [];

beforeAll(async () => {
  broker = await startBroker({ args: ['--group-initial-rebalance-delay-ms', '0'] });
  kafka = new Kafka({ clientId: 'groups-librdkafka', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  cluster = await ClusterClient.connect(broker.bootstrap);
});
afterAll(async () => {
  for (const m of members) if (m.running) await m.kill();
  cluster?.close();
  await broker?.cleanup();
});

async function produce(topic: string, values: string[], partitions: number): Promise<void> {
  const p = kafka.producer();
  await p.connect();
  await p.send({ topic, messages: values.map((value, i) => ({ value, partition: i % partitions })) });
  await p.disconnect();
}

describe('confluent-kafka', () => {
  test('cooperative-sticky: two members, incremental rebalance, every message consumed once, commits at the end', async () => {
    const topic = uniqueTopic('grp-coop');
    const group = uniqueTopic('grp-coop-g');
    await createTopic(cluster, topic, { partitions: 6 });
    const args = ['--bootstrap', broker.bootstrap, '--topic', topic, '--group', group, '--assignor', 'cooperative-sticky'];
    const a = pythonMember('confluent-a', 'confluent_group.py', args);
    members.push(a);
    await waitFor(() => a.assigned.size === 6, 30_000, `member a owns all 6 partitions\n${a.tail()}`);
    const b = pythonMember('confluent-b', 'confluent_group.py', args);
    members.push(b);
    await waitFor(
      () => a.assigned.size === 3 && b.assigned.size === 3 && [...a.assigned].every((p) => !b.assigned.has(p)),
      30_000,
      `a and b own three partitions each\n${a.tail()}\n${b.tail()}`,
    );
    const owned = new Map([[a, new Set(a.assigned)], [b, new Set(b.assigned)]]);
    // KIP-429: a only ever revoked the three partitions b took, in one incremental revoke.
    const aRevokes = a.events.filter((e) => e.ev === 'revoke' || e.ev === 'lost');
    expect(aRevokes).toEqual([{ ev: 'revoke', partitions: [...b.assigned].sort() }]);
    const gens = broker.jsonLogs().filter((l) => l.group === group && l.msg === 'generation started');
    expect(gens.every((g) => g.protocol === 'cooperative-sticky')).toBe(true);

    const N = 300;
    const values = Array.from({ length: N }, (_, i) => `coop-${i}`);
    await produce(topic, values, 6);
    await waitFor(() => consumedCounts([a, b]).size === N, 30_000, `${N} messages consumed`);
    await a.stop();
    await b.stop();
    const counts = consumedCounts([a, b]);
    expect(values.filter((v) => counts.get(v) !== 1)).toEqual([]);
    for (const m of [a, b]) {
      expect(m.errors).toEqual([]);
      expect(new Set(m.consumed.map((c) => c.p))).toEqual(owned.get(m)); // each read only its own partitions
    }
    // Both committed what they consumed; after they left, every partition's commit is at its end.
    const { description, rows } = await describeGroupOffsets(cluster, group);
    expect(description.state).toBe('Empty');
    expect(rows).toHaveLength(6);
    for (const r of rows) expect(r).toMatchObject({ currentOffset: 50n, logEndOffset: 50n, lag: 0n });
  });
});

describe('kcat -G', () => {
  test('a balanced consumer reads everything, commits, and the next run reads only new messages', async () => {
    const topic = uniqueTopic('grp-kcat');
    const group = uniqueTopic('grp-kcat-g');
    await createTopic(cluster, topic, { partitions: 3 });
    const first = Array.from({ length: 200 }, (_, i) => `kcat-${i}`);
    await produce(topic, first, 3);
    const run = async () => {
      const r = await runKcat(['-b', broker.bootstrap, '-G', group, topic, '-X', 'auto.offset.reset=earliest', '-e', '-q', '-f', '%p %o %k %s\n'], { timeoutMs: 60_000 });
      return parseKcatLines(r.stdout);
    };
    const got = await run();
    expect(got.map((r) => r.value).sort()).toEqual([...first].sort());
    const perPartition = new Map<number, number[]>();
    for (const r of got) perPartition.set(r.partition, [...(perPartition.get(r.partition) ?? []), r.offset]);
    for (const [p, offs] of perPartition) expect(offs, `partition ${p}`).toEqual(Array.from({ length: offs.length }, (_, i) => i));

    expect(await run()).toEqual([]); // kcat committed on exit
    const second = Array.from({ length: 30 }, (_, i) => `kcat-more-${i}`);
    await produce(topic, second, 3);
    expect((await run()).map((r) => r.value).sort()).toEqual([...second].sort());
    const { rows } = await describeGroupOffsets(cluster, group);
    expect(rows.map((r) => r.lag)).toEqual([0n, 0n, 0n]);
  });
});
