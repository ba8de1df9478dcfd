// OffsetForLeaderEpoch v0-4 (KIP-101, KIP-320): the end offset of a leader
// epoch from the partition's epoch history, so Java and librdkafka consumers
// validate their position after a leader change without truncating.

import { OffsetForLeaderEpochApi } from '../protocol/generated/offset-for-leader-epoch.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';

export const offsetForLeaderEpoch = defineHandler({
  api: OffsetForLeaderEpochApi,
  minVersion: 0,
  maxVersion: 4,
  handle(req, ctx) {
    const { topics, logs } = ctx.broker;
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => {
        const topic = topics.byName(t.topic);
        return {
          topic: t.topic,
          partitions: t.partitions.map((p) => {
            const none = { partition: p.partition, leaderEpoch: -1, endOffset: -1n };
            if (!topic || p.partition < 0 || p.partition >= topic.partitions) return { ...none, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
            const log = logs.get(topic.topicId, p.partition);
            if (!log || log.fenced) return { ...none, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER };
            const ce = p.currentLeaderEpoch ?? -1;
            if (ce >= 0 && ce !== log.leaderEpoch) {
              return { ...none, errorCode: ce < log.leaderEpoch ? ErrorCode.FENCED_LEADER_EPOCH : ErrorCode.UNKNOWN_LEADER_EPOCH };
            }
            const r = log.endOffsetForEpoch(p.leaderEpoch);
            return { partition: p.partition, errorCode: ErrorCode.NONE, leaderEpoch: r.leaderEpoch, endOffset: BigInt(r.endOffset) };
          }),
        };
      }),
    };
  },
});
