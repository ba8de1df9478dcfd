// Found by the in-process fuzzer (scenario 09, seeds 2 and 3): a fuzzed
// CreatePartitions growing a topic to 65535 partitions (frame below) kept the
// request unanswered for over a minute, and the Metadata, DeleteTopics and
// Produce requests behind it for 6-30 s: a single broker opened the new
// partitions one by one, one journal fsync each (~1 ms; 20,000 partitions
// took 21 s here). They are now opened 64 at a time, their acquisitions
// sharing journal writes (20,000: 2.5 s instead of 21 s here; 65,535: 14 s).
import pino from 'pino';
import { expect, test } from 'vitest';
import { Topics } from '../../../src/broker/topics.js';
import type { MetadataStore, TopicRecord } from '../../../src/coordination/metadata-store.js';
import { CreatePartitionsApi } from '../../../src/protocol/generated/create-partitions.js';
import { Reader } from '../../../src/protocol/reader.js';
import type { LogManager } from '../../../src/storage/log-manager.js';

// The fuzzer's frame: CreatePartitions v1 {topics: [{name: '-1', count: 65535}], timeoutMs: 3}.
const FOUND = 'ACUAAQAABuUABGZ1enoAAAABAAItMQAA////////AAAAAwA=';

test('the fuzzed CreatePartitions opens its partitions many at a time, not one by one', async () => {
  const body = CreatePartitionsApi.decodeRequest(new Reader(Buffer.from(FOUND, 'base64'), 4 + 4 + 2 + 4), 1);
  expect(body.topics[0]).toMatchObject({ name: '-1', count: 65535 });
  // Each opening takes 2 ms (a journal fsync): one at a time, 65535 would take 2 minutes.
  let inflight = 0;
  let maxInflight = 0;
  let opened = 0;
  const logs = {
    open: async () => {
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      await new Promise((r) => setTimeout(r, 2));
      inflight--;
      opened++;
    },
  } as unknown as LogManager;
  let topic: TopicRecord = { name: '-1', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 1, configs: {} };
  const meta = {
    singleWriter: true,
    topics: () => new Map([[topic.name, topic]]),
    setPartitionCount: async (_name: string, count: number) => {
      topic = { ...topic, partitions: count };
    },
  } as unknown as MetadataStore;
  const topics = new Topics(meta, logs, { numPartitions: 1, autoCreate: true, brokerOverrides: {} }, pino({ level: 'silent' }));
  const started = Date.now();
  await topics.addPartitions(topic, body.topics[0]!.count, false);
  expect(opened).toBe(65534);
  expect(maxInflight).toBeGreaterThanOrEqual(32);
  expect(Date.now() - started).toBeLessThan(30_000);
}, 120_000);
