/**
 * A consumer group across broker restarts (default embedded metadata store,
 * local data directory). A kafkajs consumer commits after every message
 * (autoCommit with autoCommitThreshold 1: kafkajs's own commit path) and
 * keeps running while the broker is killed (SIGKILL) or stopped (SIGTERM)
 * and started again on the same port and data directory. Group membership is
 * held in memory (design.md), committed offsets in the metadata store: the
 * member's heartbeat gets UNKNOWN_MEMBER_ID, it rejoins, and the group resumes
 * from its committed offsets:
 *
 * - no offset whose commit was acknowledged before the broker went down
 *   (kafkajs's COMMIT_OFFSETS event fires only on success) is consumed again;
 * - no offset is skipped: every offset of every partition is consumed;
 * - the offsets the restarted broker reports are at least the acknowledged
 *   ones, and end at the log end.
 *
 * Known difference from Kafka, not covered here: Kafka also persists group
 * membership (generation, members, assignments) and reloads it, so a member's
 * first commit after a restart succeeds; StreamHouse answers it
 * ILLEGAL_GENERATION (Kafka's answer for an unknown group). Clients' normal
 * commit paths rejoin on that, but kafkajs's consumer.commitOffsets() called
 * inside eachMessage wraps it as non-retriable and stops the consumer.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterClient } from '../../src/client/cluster.js';
import { createTopic, fetchCommittedOffsets } from '../../src/client/admin.js';
import { startBroker, type BrokerProcess } from '../helpers/broker.js';
import { uniqueTopic, waitFor } from './common.js';

const PARTITIONS = 3;
const PER_PARTITION = 300;
let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker({ args: ['--group-initial-rebalance-delay-ms', '0'] });
});
afterAll(async () => {
  await broker?.cleanup();
});

describe.each(['SIGKILL', 'SIGTERM'] as const)('broker %s while a group consumes', (signal) => {
  test('the group resumes from its committed offsets: nothing acknowledged re-read, nothing skipped', async () => {
    const topic = uniqueTopic(`grp-restart-${signal.toLowerCase()}`);
    const group = uniqueTopic('grp-restart-g');
    const setup = await ClusterClient.connect(broker.bootstrap);
    await createTopic(setup, topic, { partitions: PARTITIONS });
    setup.close();
    const kafka = new Kafka({
      clientId: `restart-${signal}`,
      brokers: [broker.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    const producer = kafka.producer();
    await producer.connect();
    for (let p = 0; p < PARTITIONS; p++) {
      await producer.send({ topic, messages: Array.from({ length: PER_PARTITION }, (_, i) => ({ value: `${p}-${i}`, partition: p })) });
    }
    await producer.disconnect();

    const consumed = new Map<number, number[]>(); // partition -> offsets in consumption order
    const acked = new Map<number, number>(); // partition -> highest acknowledged commit
    let total = 0;
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
      for (const t of e.payload.topics) for (const p of t.partitions) acked.set(Number(p.partition), Math.max(acked.get(Number(p.partition)) ?? 0, Number(p.offset)));
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      autoCommitThreshold: 1,
      eachMessage: async ({ partition, message }) => {
        consumed.set(partition, [...(consumed.get(partition) ?? []), Number(message.offset)]);
        total++;
        await new Promise((r) => setTimeout(r, 2)); // keep it mid-stream when the broker goes down
      },
    });

    try {
      await waitFor(() => total >= 250, 30_000, '250 messages consumed');
      await broker.kill(signal); // resolves once the process has exited: no acknowledgement can follow
      const ackedBeforeDown = new Map(acked);
      expect([...ackedBeforeDown.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      await broker.restart();

      // What the restarted broker remembers is at least what it acknowledged.
      const cluster = await ClusterClient.connect(broker.bootstrap);
      try {
        const after = await fetchCommittedOffsets(cluster, group);
        for (const [p, o] of ackedBeforeDown) expect(Number(after.get(topic)?.get(p) ?? 0n), `partition ${p}`).toBeGreaterThanOrEqual(o);
      } finally {
        cluster.close();
      }

      await waitFor(
        () => [...Array(PARTITIONS).keys()].every((p) => new Set(consumed.get(p) ?? []).size === PER_PARTITION),
        60_000,
        'every offset consumed after the restart',
      );
      for (let p = 0; p < PARTITIONS; p++) {
        const offs = consumed.get(p)!;
        const seen = new Set<number>();
        const again: number[] = [];
        for (const o of offs) {
          if (seen.has(o)) again.push(o);
          seen.add(o);
        }
        // Re-read only past the last acknowledged commit (the in-flight message at most).
        const floor = ackedBeforeDown.get(p) ?? 0;
        expect(again.filter((o) => o < floor), `partition ${p}: acknowledged offsets consumed again`).toEqual([]);
        expect(seen.size, `partition ${p}: nothing skipped`).toBe(PER_PARTITION);
      }
      const cluster2 = await ClusterClient.connect(broker.bootstrap);
      try {
        await waitFor(async () => {
          const c = await fetchCommittedOffsets(cluster2, group);
          return [...Array(PARTITIONS).keys()].every((p) => c.get(topic)?.get(p) === BigInt(PER_PARTITION));
        }, 15_000, 'commits at the log end');
      } finally {
        cluster2.close();
      }
    } finally {
      await consumer.disconnect();
    }
  });
});
