// Found by the in-process fuzzer (scenario 09, seeds 2 and 3): a fuzzed
// CreatePartitions growing a topic to 65535 partitions (frame below) kept the
// request unanswered for over a minute, and the Metadata, DeleteTopics and
// Produce requests behind it for 6-30 s: a single broker opened the new
// partitions one by one, one journal fsync each (~1 ms; 20,000 partitions
// took 21 s here). Then 64 at a time, sharing journal writes, which still
// left a fuzzed 8,195-partition CreateTopics unanswered for 30 s next to the
// fuzzer's load (case 127363 of seed 1). Now a batch of partitions is
// acquired with one journal record.
import pino from 'pino';
import { expect, test } from 'vitest';
import { Topics } from '../../../src/broker/topics.js';
import type { MetadataStore, TopicRecord } from '../../../src/coordination/metadata-store.js';
import { CreatePartitionsApi } from '../../../src/protocol/generated/create-partitions.js';
import { Reader } from '../../../src/protocol/reader.js';
import type { LogManager } from '../../../src/storage/log-manager.js';

// The fuzzer's frame: CreatePartitions v1 {topics: [{name: '-1', count: 65535}], timeoutMs: 3}.
const FOUND = 'ACUAAQAABuUABGZ1enoAAAABAAItMQAA////////AAAAAwA=';

test('the fuzzed CreatePartitions opens its partitions in a few batches, not one by one', async () => {
  const body = CreatePartitionsApi.decodeRequest(new Reader(Buffer.from(FOUND, 'base64'), 4 + 4 + 2 + 4), 1);
  expect(body.topics[0]).toMatchObject({ name: '-1', count: 65535 });
  const batches: Array<[number, number]> = [];
  const logs = {
    openRange: async (_t: TopicRecord, from: number, to: number) => {
      batches.push([from, to]);
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
  await topics.addPartitions(topic, body.topics[0]!.count, false);
  // Every new partition, each once, in order, in at most 16 metadata writes.
  expect(batches[0]![0]).toBe(1);
  for (let i = 1; i < batches.length; i++) expect(batches[i]![0]).toBe(batches[i - 1]![1]);
  expect(batches[batches.length - 1]![1]).toBe(65535);
  expect(batches.length).toBeLessThanOrEqual(16);
});
