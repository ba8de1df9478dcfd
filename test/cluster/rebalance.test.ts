/**
 * A fourth broker joins a three-broker cluster under an idempotent acks=all
 * librdkafka producer: partitions rebalance onto it. Stopped gracefully
 * (SIGTERM), it hands them back before it exits; so does the controller
 * after it: no delivery fails, nothing acknowledged is lost.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { Cluster, RdProducer, consumeAll, errorCounts, longestAckGap, report, summarize, verify, waitFor } from './cluster.js';

let cluster: Cluster;
const TTL = 2;

beforeAll(async () => {
  cluster = await Cluster.start({ brokers: 3, leaseTtlSeconds: TTL });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

test('a fourth broker takes its share of partitions; stopped with SIGTERM, it hands them back without client-visible errors', async () => {
  const topic = 'rebalance';
  const partitions = [0, 1, 2, 3, 4, 5, 6, 7];
  const admin = new Kafka({ clientId: 'rebalance', brokers: cluster.bootstrap().split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions.length }] });
  } finally {
    await admin.disconnect();
  }
  const before = await cluster.settledLeaders(topic, partitions.length);
  const producer = new RdProducer(cluster.bootstrap(), topic, partitions, { rate: 25, tag: 'b' });
  await producer.waitForMoreAcks(100);

  // Join.
  const joinStarted = Date.now();
  await cluster.startBroker(4);
  const listeningAt = Date.now();
  // Just after it starts, the new broker reports the old assignment too (all agree, no
  // rebalance yet): wait for an agreement in which it leads its share.
  const joined = await waitFor(
    'the new broker to lead its share',
    async () => {
      const m = await cluster.settledLeaders(topic, partitions.length, 30_000);
      return partitions.filter((p) => m.get(p) === 4).length >= 2 ? m : null;
    },
    30_000,
  );
  const settledAt = Date.now();
  const onFour = partitions.filter((p) => joined.get(p) === 4);
  // 8 partitions over 4 brokers: two each; only the new broker's two moved.
  expect(onFour).toHaveLength(2);
  expect(partitions.filter((p) => joined.get(p) !== before.get(p) && joined.get(p) !== 4)).toEqual([]);
  for (const p of onFour) await producer.waitForMoreAcks(20, p, 30_000);
  const afterJoinAcks = producer.acks.length;

  // Graceful leave.
  const stopStarted = Date.now();
  const exit = await cluster.broker(4).stop(20_000);
  const stoppedAt = Date.now();
  expect(exit.code).toBe(0);
  const left = await cluster.settledLeaders(topic, partitions.length, 30_000, [4]);
  for (const p of onFour) await producer.waitForMoreAcks(20, p, 30_000);

  // The controller leaves gracefully too: its partitions move first, then another broker takes the role.
  const controller = await cluster.controller();
  const ofController = partitions.filter((p) => left.get(p) === controller);
  const ctrlStopStarted = Date.now();
  expect((await cluster.broker(controller).stop(20_000)).code).toBe(0);
  const ctrlStoppedAt = Date.now();
  const withoutController = await cluster.settledLeaders(topic, partitions.length, 30_000, [4, controller]);
  for (const p of ofController) await producer.waitForMoreAcks(20, p, 30_000);
  const ctrlStall = Math.max(...ofController.map((p) => longestAckGap(producer.acks, p, ctrlStopStarted, Date.now()).gapMs));
  const newController = await waitFor('a new controller', async () => {
    const c = await cluster.controller();
    return c > 0 && c !== controller ? c : null;
  });
  await producer.stop();

  const consumed = await consumeAll(cluster.bootstrap(), topic, partitions);
  const v = verify('b', producer.acks, consumed);
  const stall = (from: number, to: number) => Math.max(...onFour.map((p) => longestAckGap(producer.acks, p, from, to).gapMs));
  report('join and graceful leave', {
    joinStartupMs: listeningAt - joinStarted,
    joinSettledAfterListeningMs: settledAt - listeningAt,
    movedToNewBroker: onFour,
    stallOfMovedPartitionsOnJoinMs: stall(joinStarted, stopStarted),
    gracefulStopMs: stoppedAt - stopStarted,
    stallOfMovedPartitionsOnLeaveMs: stall(stopStarted, Date.now()),
    movedBackTo: Object.fromEntries(onFour.map((p) => [p, left.get(p)])),
    controllerStopped: controller,
    controllerGracefulStopMs: ctrlStoppedAt - ctrlStopStarted,
    stallOfControllersPartitionsMs: ctrlStall,
    controllersPartitionsMovedTo: Object.fromEntries(ofController.map((p) => [p, withoutController.get(p)])),
    newController,
    acksAfterJoin: afterJoinAcks,
    verdict: summarize(v),
    deliveryFailures: producer.failed.length,
    clientErrors: errorCounts(producer.errors),
  });
  expect(v.missing).toEqual([]);
  expect(v.misplaced).toEqual([]);
  expect(v.duplicates).toEqual([]);
  expect(v.reordered).toEqual([]);
  expect(v.doubleAcked).toEqual([]);
  expect(producer.failed).toEqual([]);
  expect(producer.errors.filter((e) => e.fatal)).toEqual([]);
  // A graceful hand-over is no failover: the moved partitions pause well under a lease TTL.
  expect(stall(stopStarted, ctrlStopStarted)).toBeLessThan(TTL * 1000);
  expect(ctrlStall).toBeLessThan(TTL * 1000);
  // Back to three brokers, balanced again; then two.
  const counts = [1, 2, 3].map((id) => partitions.filter((p) => left.get(p) === id).length);
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  const two = [1, 2, 3].filter((id) => id !== controller).map((id) => partitions.filter((p) => withoutController.get(p) === id).length);
  expect(two).toEqual([4, 4]);
});
