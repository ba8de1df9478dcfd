/**
 * Consumer groups with kafkajs 2.2 against a real broker process started with
 * the default group.initial.rebalance.delay.ms (3000):
 *
 * 1. Three consumers start together on a six-partition topic and form ONE
 *    generation (the initial delay gathers them); N messages produced after
 *    that are each consumed exactly once, each by the member that owns the
 *    partition.
 * 2. Production continues while a fourth consumer joins and the first one
 *    leaves: every message is still consumed at least once, no offset of any
 *    partition is skipped, and the committed offsets reach the log end, as
 *    admin.fetchOffsets and `streamhouse groups describe` both show.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Kafka, logLevel, type Consumer, type EachMessagePayload } from 'kafkajs';
import { startBroker, BROKER_CLI, type BrokerProcess } from '../helpers/broker.js';
import { runCommand } from '../helpers/clients.js';
import { uniqueTopic, waitFor } from './common.js';

const PARTITIONS = 6;
let broker: BrokerProcess;
let kafka: Kafka;
const consumers: Consumer[] = [];

beforeAll(async () => {
  broker = await startBroker(); // default initial rebalance delay: 3000 ms
  kafka = new Kafka({ clientId: 'groups-kafkajs', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100 } });
});
afterAll(async () => {
  for (const c of consumers) await c.disconnect().catch(() => {});
  await broker?.cleanup();
});

interface Seen {
  count: Map<string, number>;
  /** partition -> offsets consumed */
  offsets: Map<number, Set<number>>;
  /** consumer index -> partitions it consumed from */
  byConsumer: Map<number, Set<number>>;
}

function newSeen(): Seen {
  return { count: new Map(), offsets: new Map(), byConsumer: new Map() };
}

test('three kafkajs consumers share six partitions, then survive a join and a leave mid-stream', async () => {
  const topic = uniqueTopic('grp-kjs');
  const groupId = uniqueTopic('grp-kjs-group');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });

  let seen = newSeen();
  /** consumer index -> its latest assignment (partitions of `topic`) */
  const assignment = new Map<number, number[]>();
  const start = async (i: number): Promise<Consumer> => {
    const c = kafka.consumer({ groupId, sessionTimeout: 10_000, rebalanceTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
    c.on(c.events.GROUP_JOIN, (e) => assignment.set(i, [...(e.payload.memberAssignment[topic] ?? [])].sort()));
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({
      eachMessage: async ({ partition, message }: EachMessagePayload) => {
        const v = message.value!.toString();
        seen.count.set(v, (seen.count.get(v) ?? 0) + 1);
        let o = seen.offsets.get(partition);
        if (!o) seen.offsets.set(partition, (o = new Set()));
        o.add(Number(message.offset));
        let p = seen.byConsumer.get(i);
        if (!p) seen.byConsumer.set(i, (p = new Set()));
        p.add(partition);
      },
    });
    consumers[i] = c;
    return c;
  };

  // ---- 1: one generation of three, exactly once
  const t0 = Date.now();
  await Promise.all([0, 1, 2].map(start));
  await waitFor(
    () => assignment.size === 3 && [...assignment.values()].flat().sort().join() === '0,1,2,3,4,5' && [...assignment.values()].every((a) => a.length === 2),
    20_000,
    'three members with two partitions each',
  );
  const formedMs = Date.now() - t0;
  const generations = broker.jsonLogs().filter((l) => l.group === groupId && l.msg === 'generation started');
  expect(generations[0]).toMatchObject({ generationId: 1, members: 3 }); // the initial delay gathered all three
  expect(generations).toHaveLength(1);
  expect(formedMs).toBeGreaterThanOrEqual(2900);

  const producer = kafka.producer();
  await producer.connect();
  const N = 600;
  await producer.send({ topic, messages: Array.from({ length: N }, (_, i) => ({ key: `k${i}`, value: `a${i}`, partition: i % PARTITIONS })) });
  await waitFor(() => seen.count.size === N, 20_000, `${N} messages consumed`);
  await new Promise((r) => setTimeout(r, 500)); // a duplicate would show up now
  expect([...seen.count.values()].every((n) => n === 1)).toBe(true);
  expect(seen.count.size).toBe(N);
  for (const [i, parts] of seen.byConsumer) expect([...parts].sort()).toEqual(assignment.get(i)); // only its own partitions

  // ---- 2: a fourth consumer joins, the first leaves, production never stops
  seen = newSeen();
  const ROUNDS = 30;
  const PER_ROUND = 30;
  let produced = 0;
  for (let r = 0; r < ROUNDS; r++) {
    await producer.send({
      topic,
      messages: Array.from({ length: PER_ROUND }, (_, j) => ({ value: `b${r}-${j}`, partition: (r * PER_ROUND + j) % PARTITIONS })),
    });
    produced += PER_ROUND;
    if (r === 8) await start(3);
    if (r === 18) await consumers[0]!.disconnect(); // LeaveGroup
    await new Promise((res) => setTimeout(res, 100));
  }
  await producer.disconnect();
  const wanted = Array.from({ length: ROUNDS * PER_ROUND }, (_, k) => `b${Math.floor(k / PER_ROUND)}-${k % PER_ROUND}`);
  await waitFor(() => wanted.every((v) => seen.count.has(v)), 30_000, `all ${produced} messages of phase 2 consumed`);
  expect(seen.byConsumer.has(3)).toBe(true); // the newcomer got partitions and consumed
  // Generation 2 let the fourth member in, generation 3 let the first one out.
  const later = broker.jsonLogs().filter((l) => l.group === groupId && l.msg === 'generation started');
  expect(later.slice(1, 3)).toEqual([expect.objectContaining({ generationId: 2, members: 4 }), expect.objectContaining({ generationId: 3, members: 3 })]);

  // No gap: every offset of every partition, from both phases, was consumed (phase 1 had 0..99 per partition).
  const ends = await admin.fetchTopicOffsets(topic);
  for (const { partition, high } of ends) {
    const got = seen.offsets.get(partition) ?? new Set<number>();
    const first = N / PARTITIONS;
    expect(Number(high)).toBe(first + (ROUNDS * PER_ROUND) / PARTITIONS);
    const missing = [];
    for (let o = first; o < Number(high); o++) if (!got.has(o)) missing.push(o);
    expect(missing, `partition ${partition}`).toEqual([]);
  }

  // Committed offsets reach the end of every partition.
  const highOf = new Map(ends.map((e) => [e.partition, e.high]));
  await waitFor(
    async () => {
      const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return t!.partitions.length === PARTITIONS && t!.partitions.every((p) => p.offset === highOf.get(p.partition));
    },
    20_000,
    'committed offsets at the log end',
  );

  const out = await runCommand(process.execPath, [BROKER_CLI, 'groups', 'describe', groupId, '--bootstrap', broker.bootstrap], { timeoutMs: 30_000 });
  const rows = out.stdout.split('\n').filter((l) => l.startsWith(groupId)).map((l) => l.split(/\s+/));
  expect(rows).toHaveLength(PARTITIONS);
  for (const [g, t, p, cur, end, lag, consumerId, host, clientId] of rows) {
    expect([g, t]).toEqual([groupId, topic]);
    expect(cur).toBe(String(highOf.get(Number(p))));
    expect(end).toBe(cur);
    expect(lag).toBe('0');
    expect(consumerId).toMatch(/^groups-kafkajs-/);
    expect(host).toBe('/127.0.0.1');
    expect(clientId).toBe('groups-kafkajs');
  }
  expect(new Set(rows.map((r) => r[6])).size).toBe(3); // consumers 1, 2 and 3 hold the partitions
  await admin.disconnect();
});

test("deleting a topic deletes the groups' committed offsets of it: created again, it starts with none", async () => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topic = uniqueTopic('groups-deleted');
    const groupId = `${topic}-g`;
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '0' }, { partition: 1, offset: '0' }] });
    const committed = async () => (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions.map((p) => [p.partition, p.offset]).sort();
    expect(await committed()).toEqual([[0, '0'], [1, '0']]);
    await admin.deleteTopics({ topics: [topic] });
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    expect(await committed()).toEqual([[0, '-1'], [1, '-1']]);
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(groupId);
  } finally {
    await admin.disconnect();
  }
});
