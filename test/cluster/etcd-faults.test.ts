/**
 * etcd faults under an idempotent acks=all librdkafka producer, three
 * brokers (lease TTL 2 s), each reaching etcd through its own TCP proxy
 * (test/cluster/cluster.ts, EtcdProxy):
 *  - etcd stopped and restarted: no acknowledged loss, only retriable client
 *    errors, the brokers carry on without restarting;
 *  - one leader cut off from etcd (not from its clients): it stops
 *    acknowledging, another broker takes its partitions over, nothing
 *    acknowledged is lost; healed, it rejoins.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaClient } from '../../src/client/kafka-client.js';
import { ErrorCode } from '../../src/protocol/generated/errors.js';
import { Cluster, LiveConsumer, RdProducer, consumeAll, endsOf, rawProduce, errorCounts, longestAckGap, report, sleep, summarize, verify, waitFor } from './cluster.js';

let cluster: Cluster;
const TTL = 2;

beforeAll(async () => {
  cluster = await Cluster.start({ brokers: 3, leaseTtlSeconds: TTL, etcdProxies: true });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

async function createTopic(topic: string, partitions: number): Promise<Map<number, number>> {
  const admin = new Kafka({ clientId: 'etcd-faults', brokers: cluster.bootstrap().split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  } finally {
    await admin.disconnect();
  }
  return cluster.settledLeaders(topic, partitions);
}

function expectClean(name: string, v: ReturnType<typeof verify>): void {
  expect(v.missing, `${name}: missing`).toEqual([]);
  expect(v.misplaced, `${name}: misplaced`).toEqual([]);
  expect(v.duplicates, `${name}: duplicates`).toEqual([]);
  expect(v.reordered, `${name}: reordered`).toEqual([]);
  expect(v.doubleAcked, `${name}: double-acked`).toEqual([]);
}

test('etcd stopped and restarted under load: nothing acknowledged is lost, brokers carry on', async () => {
  const topic = 'etcd-restart';
  const leadersBefore = await createTopic(topic, 3);
  const pids = new Map([...cluster.brokers].map(([id, b]) => [id, b.pid]));
  const producer = new RdProducer(cluster.bootstrap(), topic, [0, 1, 2], { rate: 60, tag: 'r' });
  await producer.waitForMoreAcks(60, 0);

  const stoppedAt = Date.now();
  await cluster.etcd.stop();
  const acksBefore = producer.acks.length;
  // Longer than two lease TTLs: the brokers give their leases up and re-register when etcd is back.
  await sleep(Number(process.env.ETCD_DOWN_MS ?? 2 * TTL * 1000 + 1000));
  const acksWhileDown = producer.acks.filter((a) => a.t > stoppedAt + 500).length;
  await cluster.etcd.restart();
  const restartedAt = Date.now();
  // Every partition acknowledges again.
  for (const p of [0, 1, 2]) await producer.waitForMoreAcks(30, p, 40_000);
  const resumedMs = Math.max(...[0, 1, 2].map((p) => producer.acked(p).find((a) => a.t > restartedAt)!.t)) - restartedAt;
  await producer.stop();

  const consumed = await consumeAll(cluster.bootstrap(), topic, [0, 1, 2]);
  const v = verify('r', producer.acks, consumed);
  report('etcd restart', {
    etcdDownMs: restartedAt - stoppedAt,
    allPartitionsAckingAgainAfterMs: resumedMs,
    acksBeforeStop: acksBefore,
    acksWhileDown,
    stallMs: Object.fromEntries([0, 1, 2].map((p) => [p, longestAckGap(producer.acks, p, stoppedAt - 1000).gapMs])),
    verdict: summarize(v),
    deliveryFailures: producer.failed.length,
    clientErrors: errorCounts(producer.errors),
  });
  expectClean('etcd restart', v);
  expect(producer.failed).toEqual([]);
  expect(producer.errors.filter((e) => e.fatal)).toEqual([]);
  for (const [id, b] of cluster.brokers) {
    expect(b.running, `broker ${id} running`).toBe(true);
    expect(b.pid, `broker ${id} not restarted`).toBe(pids.get(id));
  }
  // Every broker kept (or got back) its registration: after a few lease TTLs, nothing moved.
  await sleep(3 * TTL * 1000);
  const leadersAfter = await cluster.settledLeaders(topic, 3);
  expect(Object.fromEntries(leadersAfter)).toEqual(Object.fromEntries(leadersBefore));
  const reRegistered = [...cluster.brokers].filter(([, b]) => b.logs().some((l) => l.includes('"msg":"re-registered"'))).map(([id]) => id);
  report('etcd restart, afterwards', { reRegistered, leadersBefore: Object.fromEntries(leadersBefore), leadersAfter: Object.fromEntries(leadersAfter) });
});

test('a leader cut off from etcd but not from its clients stops acknowledging; another takes over; nothing acknowledged is lost', async () => {
  const topic = 'etcd-cut';
  const leaders = await createTopic(topic, 3);
  // The controller: cut off, it must also lose that role to another broker.
  const victim = await cluster.controller();
  const p = [...leaders].find(([, l]) => l === victim)![0];
  const producer = new RdProducer(cluster.bootstrap(), topic, [0, 1, 2], { rate: 60, tag: 'c' });
  const live = new LiveConsumer(cluster.bootstrap(), topic, [0, 1, 2]);
  await producer.waitForMoreAcks(60, p);

  const cutAt = Date.now();
  cluster.proxies.get(victim)!.cut();
  const { at, leader } = await waitFor(
    `a new leader of ${topic}/${p}`,
    async () => {
      for (const id of cluster.brokers.keys()) {
        if (id === victim) continue;
        const l = (await cluster.metadata(id, topic)).leaders.get(p);
        if (l && l.error === 0 && l.leader >= 0 && l.leader !== victim) return { at: Date.now(), leader: l.leader };
      }
      return null;
    },
    30_000,
    50,
  );
  // The producer reaches the new leader while the victim still answers its clients.
  await producer.waitForMoreAcks(60, p, 45_000);
  const lastVictimAck = producer.acked(p).filter((a) => a.t < at).pop();
  // Stay cut well past the victim's lease (it gives up on it after two TTLs
  // and tries to re-register, in vain); the producer keeps going meanwhile.
  await sleep(Math.max(0, cutAt + 4 * TTL * 1000 - Date.now()));
  const victimView = (await cluster.metadata(victim, topic)).leaders.get(p);
  // It still answers its clients, at once, and acknowledges nothing.
  const direct = await KafkaClient.connect(cluster.bootstrap(victim), { requestTimeoutMs: 30_000 });
  const victimAnswers = [];
  try {
    for (let i = 0; i < 3; i++) victimAnswers.push(await rawProduce(direct, topic, p, `direct-${p}-${i}`));
  } finally {
    direct.close();
  }
  await producer.waitForMoreAcks(30, p, 30_000);
  const healedAt = Date.now();
  cluster.proxies.get(victim)!.heal();
  // Healed, the victim rejoins (it re-registers under a new lease).
  await waitFor('victim back in the cluster', async () => (await cluster.metadata(leader, topic)).brokers.includes(victim), 30_000);
  for (const q of [0, 1, 2]) await producer.waitForMoreAcks(30, q, 30_000);
  await producer.stop();

  const consumed = await consumeAll(cluster.bootstrap(), topic, [0, 1, 2]);
  const v = verify('c', producer.acks, consumed);
  const lv = verify('c', producer.acks, await live.finish(endsOf(consumed)));
  report('etcd cut', {
    victim,
    victimWasController: true,
    partition: p,
    newLeader: leader,
    newController: await cluster.controller(),
    failoverMs: at - cutAt,
    lastAckBeforeTakeoverMsAfterCut: lastVictimAck ? lastVictimAck.t - cutAt : null,
    producerStallMs: longestAckGap(producer.acks, p, cutAt - 1000, healedAt).gapMs,
    cutForMs: healedAt - cutAt,
    victimsViewOfLeaderWhileCut: victimView,
    victimAnswersProduceWhileCut: victimAnswers,
    verdict: summarize(v),
    liveConsumerVerdict: summarize(lv),
    liveConsumerErrors: errorCounts(live.errors.map((e) => ({ t: 0, kind: 'client', message: e.replace(/^client: /, '') }))),
    deliveryFailures: producer.failed.length,
    clientErrors: errorCounts(producer.errors),
  });
  expectClean('etcd cut', v);
  expectClean('etcd cut, live consumer', lv);
  expect(live.errors.filter((e) => !e.startsWith('client: ')), 'live consumer errors').toEqual([]);
  expect(producer.failed).toEqual([]);
  expect(producer.errors.filter((e) => e.fatal)).toEqual([]);
  expect(cluster.broker(victim).running).toBe(true);
  // While cut off, the victim does not send clients to itself for the partition it lost.
  expect(victimView?.leader).not.toBe(victim);
  for (const a of victimAnswers) {
    expect(a.error).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect(a.ms).toBeLessThan(1000);
  }
  // The victim can prove nothing after its last keepalive: it acknowledges nothing later than a lease TTL after the cut.
  // An ack's time is when the Python producer saw librdkafka's delivery report
  // (polled every 10 ms), not when the broker sent it; on a loaded CI machine
  // that lags by a second and more (2,307 ms once), hence the margin. Whether
  // anything acknowledged was lost is checked above without any clock.
  if (lastVictimAck) expect(lastVictimAck.t - cutAt).toBeLessThan(TTL * 1000 + 1500);
  expect(at - cutAt).toBeLessThan(TTL * 1000 + 2000);
});
