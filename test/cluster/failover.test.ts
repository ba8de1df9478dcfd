/**
 * Leader failures under an idempotent acks=all librdkafka producer, three
 * brokers, lease TTL 2 s:
 *  - kill -9 of a partition's leader: another broker leads it within the
 *    lease TTL plus 2 s, the producer carries on, every acknowledged message
 *    is read back exactly once, in order;
 *  - SIGSTOP of a leader past its lease, takeover, SIGCONT: the resumed
 *    broker acknowledges nothing it cannot keep (requests queued while it
 *    was stopped included), and no offset is acknowledged twice.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaClient } from '../../src/client/kafka-client.js';
import { ErrorCode } from '../../src/protocol/generated/errors.js';
import { Cluster, LiveConsumer, RdProducer, consumeAll, endsOf, rawProduce, errorCounts, longestAckGap, report, sleep, summarize, verify, waitFor, type Ack } from './cluster.js';

let cluster: Cluster;
const TTL = 2;

beforeAll(async () => {
  cluster = await Cluster.start({ brokers: 3, leaseTtlSeconds: TTL });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

/**
 * Small, short-lived segments: the leaders compact WAL runs into segments
 * (and merge segments) while the faults happen, so a new leader reads both.
 */
const COMPACTING = { 'segment.ms': '1000', 'segment.bytes': '16384' };

async function createTopic(topic: string, partitions: number): Promise<Map<number, number>> {
  const admin = new Kafka({ clientId: 'failover', brokers: cluster.bootstrap().split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, configEntries: Object.entries(COMPACTING).map(([name, value]) => ({ name, value })) }] });
  } finally {
    await admin.disconnect();
  }
  return cluster.settledLeaders(topic, partitions);
}

/** Polls the other brokers' Metadata until partition `p` is led by a live broker other than `old`; returns when. */
async function waitForNewLeader(topic: string, p: number, old: number, timeoutMs = 30_000): Promise<{ at: number; leader: number }> {
  return waitFor(
    `a new leader of ${topic}/${p}`,
    async () => {
      for (const [id, b] of cluster.brokers) {
        if (id === old || !b.running) continue;
        const l = (await cluster.metadata(id, topic)).leaders.get(p);
        if (l && l.error === 0 && l.leader >= 0 && l.leader !== old) return { at: Date.now(), leader: l.leader };
      }
      return null;
    },
    timeoutMs,
    50,
  );
}

function expectClean(name: string, v: ReturnType<typeof verify>): void {
  expect(v.missing, `${name}: missing`).toEqual([]);
  expect(v.misplaced, `${name}: misplaced`).toEqual([]);
  expect(v.duplicates, `${name}: duplicates`).toEqual([]);
  expect(v.reordered, `${name}: reordered`).toEqual([]);
  expect(v.doubleAcked, `${name}: double-acked`).toEqual([]);
}

test('kill -9 of a leader (the controller too): another broker leads within TTL + 2 s, nothing acknowledged is lost or duplicated', async () => {
  const topic = 'kill9';
  const leaders = await createTopic(topic, 3);
  // The worst case: the victim is also the controller, so a new controller must be elected first.
  const victim = await cluster.controller();
  const p = [...leaders].find(([, l]) => l === victim)![0];
  const producer = new RdProducer(cluster.bootstrap(), topic, [0, 1, 2], { rate: 80, tag: 'k' });
  // A consumer reads along through the failover (leader change, OffsetForLeaderEpoch validation).
  const live = new LiveConsumer(cluster.bootstrap(), topic, [0, 1, 2]);
  await producer.waitForMoreAcks(100, p);

  const killedAt = Date.now();
  await cluster.broker(victim).kill('SIGKILL');
  const { at, leader } = await waitForNewLeader(topic, p, victim);
  await producer.waitForMoreAcks(100, p, 30_000);
  const firstAckAfter = producer.acked(p).find((a) => a.t > killedAt && a.t >= at - 5000 && a.t > killedAt + 100);
  await producer.stop();

  const consumed = await consumeAll(cluster.bootstrap(), topic, [0, 1, 2]);
  const v = verify('k', producer.acks, consumed);
  const liveRead = await live.finish(endsOf(consumed));
  const lv = verify('k', producer.acks, liveRead);
  const gap = longestAckGap(producer.acks, p, killedAt - 1000);
  const fields = {
    victim,
    victimWasController: true,
    partition: p,
    newLeader: leader,
    newController: await cluster.controller(),
    failoverMs: at - killedAt,
    producerStallMs: gap.gapMs,
    firstAckAfterKillMs: firstAckAfter ? firstAckAfter.t - killedAt : null,
    leaseTtlMs: TTL * 1000,
    verdict: summarize(v),
    liveConsumerVerdict: summarize(lv),
    liveConsumerErrors: errorCounts(live.errors.map((e) => ({ t: 0, kind: 'client', message: e.replace(/^client: /, '') }))),
    deliveryFailures: producer.failed.length,
    clientErrors: errorCounts(producer.errors),
  };
  report('kill -9', fields);
  expectClean('kill -9', v);
  expectClean('kill -9, live consumer', lv);
  expect(live.errors.filter((e) => !e.startsWith('client: ')), 'live consumer errors').toEqual([]);
  expect(producer.failed).toEqual([]);
  expect(producer.errors.filter((e) => e.fatal)).toEqual([]);
  expect(at - killedAt).toBeLessThan(TTL * 1000 + 2000);
  expect(producer.done?.unflushed).toBe(0);

  // Back to three brokers for the next test.
  await cluster.broker(victim).restart();
  await waitFor('three brokers', async () => (await cluster.metadata(victim, topic)).brokers.length === 3);
});

test('SIGSTOP past the lease, takeover, SIGCONT: the resumed broker acknowledges nothing it lost; no offset acknowledged twice', async () => {
  const topic = 'sigstop';
  const leaders = await createTopic(topic, 3);
  // This time a broker that is not the controller.
  const controller = await cluster.controller();
  const [p, victim] = [...leaders].find(([, l]) => l !== controller)!;
  const producer = new RdProducer(cluster.bootstrap(), topic, [0, 1, 2], { rate: 80, tag: 's' });
  const live = new LiveConsumer(cluster.bootstrap(), topic, [0, 1, 2]);
  await producer.waitForMoreAcks(100, p);

  // A connection to the victim opened beforehand: requests sent on it while
  // the victim is stopped wait in its socket and are read when it resumes,
  // by a broker that still believes it leads.
  const raw = await KafkaClient.connect(cluster.bootstrap(victim), { requestTimeoutMs: 60_000 });
  let rawSeq = 0;
  const rawResults: Array<Promise<{ seq: number; error: number; offset: number; sentAt: number; at: number }>> = [];
  const sendRaw = () => {
    const seq = rawSeq++;
    const sentAt = Date.now();
    rawResults.push(rawProduce(raw, topic, p, `raw-${p}-${seq}`).then((r) => ({ seq, error: r.error, offset: r.offset, sentAt, at: Date.now() })));
  };
  sendRaw();
  await rawResults[0];

  const stoppedAt = Date.now();
  process.kill(cluster.broker(victim).pid, 'SIGSTOP');
  let resumedAt = 0;
  try {
    for (let i = 0; i < 5; i++) sendRaw();
    const { at, leader } = await waitForNewLeader(topic, p, victim);
    // Past the lease (the victim's keepalives stopped when it did). The
    // producer waits for its requests in flight to the stopped broker
    // (librdkafka keeps order), so it moves on only once the victim answers.
    await sleep(500);
    for (let i = 0; i < 5; i++) sendRaw();
    resumedAt = Date.now();
    process.kill(cluster.broker(victim).pid, 'SIGCONT');
    // Keep sending to the resumed broker on the old connection for a while.
    for (let i = 0; i < 10; i++) {
      sendRaw();
      await sleep(200);
    }
    const results = await Promise.all(rawResults);
    await producer.waitForMoreAcks(100, p, 30_000);
    await producer.stop();

    const consumed = await consumeAll(cluster.bootstrap(), topic, [0, 1, 2]);
    const v = verify('s', producer.acks, consumed);
    const lv = verify('s', producer.acks, await live.finish(endsOf(consumed)));
    // What the raw connection got acknowledged must be there too, at its offset, and no offset twice.
    const rawAcks: Ack[] = results.filter((r) => r.error === 0).map((r) => ({ partition: p, offset: r.offset, seq: r.seq, t: r.at }));
    const rv = verify('raw', rawAcks, consumed);
    const ackedOffsets = [...producer.acked(p), ...rawAcks].flatMap((a) => (a.offset === null ? [] : [a.offset]));
    const twice = ackedOffsets.filter((o, i) => ackedOffsets.indexOf(o) !== i);
    const ackedAfterResume = rawAcks.filter((a) => a.t >= resumedAt);
    const fields = {
      victim,
      controller,
      partition: p,
      newLeader: leader,
      failoverMs: at - stoppedAt,
      stoppedForMs: resumedAt - stoppedAt,
      producerStallMs: longestAckGap(producer.acks, p, stoppedAt - 1000).gapMs,
      rawRequests: results.length,
      rawErrors: results.reduce<Record<string, number>>((m, r) => ((m[String(r.error)] = (m[String(r.error)] ?? 0) + 1), m), {}),
      rawAckedAfterResume: ackedAfterResume.map((a) => `${a.seq}@${a.offset}`),
      verdict: summarize(v),
      rawVerdict: summarize(rv),
      liveConsumerVerdict: summarize(lv),
      liveConsumerErrors: errorCounts(live.errors.map((e) => ({ t: 0, kind: 'client', message: e.replace(/^client: /, '') }))),
      deliveryFailures: producer.failed.length,
      clientErrors: errorCounts(producer.errors),
    };
    report('SIGSTOP', fields);
    expectClean('SIGSTOP producer', v);
    expectClean('SIGSTOP raw', rv);
    expectClean('SIGSTOP live consumer', lv);
    expect(live.errors.filter((e) => !e.startsWith('client: ')), 'live consumer errors').toEqual([]);
    expect(twice).toEqual([]);
    expect(producer.failed).toEqual([]);
    expect(producer.errors.filter((e) => e.fatal)).toEqual([]);
    // Requests that waited in the stopped broker's socket are refused (not leader), never acknowledged.
    for (const r of results.filter((x) => x.sentAt >= stoppedAt && x.sentAt < resumedAt)) {
      expect([ErrorCode.NOT_LEADER_OR_FOLLOWER, -1], `raw ${r.seq} sent while stopped`).toContain(r.error);
    }
    expect(at - stoppedAt).toBeLessThan(TTL * 1000 + 2000);
    // The resumed broker is a member again.
    await waitFor('victim back in the cluster', async () => (await cluster.metadata(victim, topic)).brokers.length === 3, 30_000);
  } finally {
    raw.close();
    try {
      process.kill(cluster.broker(victim).pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
});
