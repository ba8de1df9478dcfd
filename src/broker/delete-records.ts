// DeleteRecords v0-2: moves a partition's log start offset (-1: to the high
// watermark); whole segments and WAL runs below it are dropped from the
// manifest and their objects deleted once unreferenced. Not on topics whose
// cleanup.policy lacks `delete` (POLICY_VIOLATION, as Kafka).

import { DeleteRecordsApi } from '../protocol/generated/delete-records.js';
import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';

export const deleteRecords = defineHandler({
  api: DeleteRecordsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(req, ctx) {
    const { topics, logs } = ctx.broker;
    const out = [];
    for (const t of req.topics) {
      const topic = topics.byName(t.name);
      const partitions = [];
      for (const p of t.partitions) {
        const log = topic && p.partitionIndex >= 0 && p.partitionIndex < topic.partitions ? logs.get(topic.topicId, p.partitionIndex) : undefined;
        if (!topic || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) {
          partitions.push({ partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
          continue;
        }
        if (!log || log.fenced) {
          partitions.push({ partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER });
          continue;
        }
        // As Kafka: records of a compact-only topic are removed by cleaning, never by offset.
        if (!topics.cleanupPolicy(topic).delete) {
          partitions.push({ partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: ErrorCode.POLICY_VIOLATION });
          continue;
        }
        const target = p.offset === -1n ? log.highWatermark : Number(p.offset);
        if (target < 0 || target > log.highWatermark) {
          partitions.push({ partitionIndex: p.partitionIndex, lowWatermark: BigInt(log.logStartOffset), errorCode: ErrorCode.OFFSET_OUT_OF_RANGE });
          continue;
        }
        try {
          await logs.truncateBefore(log, target);
          partitions.push({ partitionIndex: p.partitionIndex, lowWatermark: BigInt(log.logStartOffset), errorCode: ErrorCode.NONE });
        } catch (err) {
          ctx.broker.log.warn({ err, topic: t.name, partition: p.partitionIndex }, 'delete records failed');
          partitions.push({
            partitionIndex: p.partitionIndex,
            lowWatermark: BigInt(log.logStartOffset),
            errorCode: err instanceof KafkaError ? err.code : ErrorCode.NOT_LEADER_OR_FOLLOWER,
          });
        }
      }
      out.push({ name: t.name, partitions });
    }
    return { throttleTimeMs: 0, topics: out };
  },
});
