// CreatePartitions v0-3: grows a topic; manual assignments are accepted and
// ignored (the object store is the only replica).

import { CreatePartitionsApi } from '../protocol/generated/create-partitions.js';
import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';
import { MAX_PARTITIONS_PER_REQUEST, TOO_MANY_PARTITIONS_MESSAGE } from './topics.js';

export const createPartitions = defineHandler({
  api: CreatePartitionsApi,
  minVersion: 0,
  maxVersion: 3,
  async handle(req, ctx) {
    const { topics } = ctx.broker;
    const results = [];
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    let added = 0;
    for (const t of req.topics) added += Math.max(0, t.count - (topics.byName(t.name)?.partitions ?? t.count));
    for (const t of req.topics) {
      const topic = topics.byName(t.name);
      if (added > MAX_PARTITIONS_PER_REQUEST) {
        results.push({ name: t.name, errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: TOO_MANY_PARTITIONS_MESSAGE });
      } else if (counts.get(t.name)! > 1) {
        results.push({ name: t.name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Duplicate topic in request.' });
      } else if (!topic) {
        results.push({ name: t.name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'This server does not host this topic-partition.' });
      } else if (t.assignments && t.assignments.length !== t.count - topic.partitions) {
        results.push({
          name: t.name,
          errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT,
          errorMessage: `Increasing the number of partitions by ${t.count - topic.partitions} but ${t.assignments.length} assignments provided.`,
        });
      } else {
        try {
          await topics.addPartitions(topic, t.count, req.validateOnly);
          results.push({ name: t.name, errorCode: ErrorCode.NONE, errorMessage: null });
        } catch (err) {
          if (!(err instanceof KafkaError)) throw err;
          results.push({ name: t.name, errorCode: err.code, errorMessage: err.message });
        }
      }
    }
    return { throttleTimeMs: 0, results };
  },
});
