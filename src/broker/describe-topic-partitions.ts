// DescribeTopicPartitions v0 (KIP-966), which kafka-topics --describe uses:
// topics by name (all of them when none is named), sorted, paged by a
// partition limit and a cursor. Eligible leader replicas are empty lists:
// StreamHouse has no replicas to elect from, the object store is the replica.

import {
  DescribeTopicPartitionsApi,
  type DescribeTopicPartitionsResponseCursor,
  type DescribeTopicPartitionsResponseDescribeTopicPartitionsResponseTopic,
} from '../protocol/generated/describe-topic-partitions.js';
import { ZERO_UUID } from '../protocol/generated/types.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';
import { partitionsOf } from './metadata.js';

const NO_OPERATIONS = -2147483648;

export const describeTopicPartitions = defineHandler({
  api: DescribeTopicPartitionsApi,
  minVersion: 0,
  maxVersion: 0,
  handle(req, ctx) {
    const { topics } = ctx.broker;
    const names = (req.topics.length ? req.topics.map((t) => t.name) : topics.all().map((t) => t.name)).sort();
    const cursor = req.cursor;
    let budget = Math.max(1, req.responsePartitionLimit);
    const out: DescribeTopicPartitionsResponseDescribeTopicPartitionsResponseTopic[] = [];
    let nextCursor: DescribeTopicPartitionsResponseCursor | null = null;
    for (const name of names) {
      if (cursor && name < cursor.topicName) continue;
      const t = topics.byName(name);
      if (!t) {
        out.push({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, topicId: ZERO_UUID, isInternal: false, partitions: [], topicAuthorizedOperations: NO_OPERATIONS });
        continue;
      }
      const from = cursor && name === cursor.topicName ? cursor.partitionIndex : 0;
      const all = partitionsOf(t, ctx).filter((p) => p.partitionIndex >= from);
      const taken = all.slice(0, budget);
      budget -= taken.length;
      out.push({
        errorCode: ErrorCode.NONE,
        name,
        topicId: t.topicId,
        isInternal: false,
        partitions: taken.map((p) => ({
          errorCode: p.errorCode,
          partitionIndex: p.partitionIndex,
          leaderId: p.leaderId,
          leaderEpoch: p.leaderEpoch ?? -1,
          replicaNodes: p.replicaNodes,
          isrNodes: p.isrNodes,
          eligibleLeaderReplicas: [],
          lastKnownElr: [],
          offlineReplicas: p.offlineReplicas ?? [],
        })),
        topicAuthorizedOperations: NO_OPERATIONS,
      });
      if (taken.length < all.length) {
        nextCursor = { topicName: name, partitionIndex: all[taken.length]!.partitionIndex };
        break;
      }
      if (budget === 0) {
        const i = names.indexOf(name);
        if (i + 1 < names.length) nextCursor = { topicName: names[i + 1]!, partitionIndex: 0 };
        break;
      }
    }
    return { throttleTimeMs: 0, topics: out, nextCursor };
  },
});
