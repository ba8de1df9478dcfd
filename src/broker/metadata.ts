// Metadata v0-12: brokers, cluster id, controller, topics with their ids and
// partition leaders. Auto-creates a requested topic when
// auto.create.topics.enable is on and the request allows it (always before v4).
// Topic ids as the request key (v10+) are resolved. Authorized operations are
// not computed (no ACLs): reported as Kafka does when not requested.

import {
  MetadataApi,
  type MetadataResponseMetadataResponsePartition,
  type MetadataResponseMetadataResponseTopic,
} from '../protocol/generated/metadata.js';
import { ZERO_UUID } from '../protocol/generated/types.js';
import { ErrorCode, errorCodeOf } from '../protocol/kafka-error.js';
import type { TopicRecord } from '../coordination/metadata-store.js';
import type { RequestContext } from './context.js';
import { defineHandler } from './handler.js';
import { topicNameError } from './topics.js';

const NO_OPERATIONS = -2147483648;

export function partitionsOf(topic: TopicRecord, ctx: RequestContext): MetadataResponseMetadataResponsePartition[] {
  const out: MetadataResponseMetadataResponsePartition[] = [];
  for (let p = 0; p < topic.partitions; p++) {
    const leader = ctx.broker.cluster.leader(topic.topicId, p);
    const id = leader?.leaderId ?? -1;
    out.push({
      errorCode: leader ? ErrorCode.NONE : ErrorCode.LEADER_NOT_AVAILABLE,
      partitionIndex: p,
      leaderId: id,
      leaderEpoch: leader?.leaderEpoch ?? -1,
      replicaNodes: id >= 0 ? [id] : [],
      isrNodes: id >= 0 ? [id] : [],
      offlineReplicas: [],
    });
  }
  return out;
}

export const metadata = defineHandler({
  api: MetadataApi,
  minVersion: 0,
  maxVersion: 12,
  async handle(req, ctx) {
    const { topics, cluster } = ctx.broker;
    const describe = (t: TopicRecord): MetadataResponseMetadataResponseTopic => ({
      errorCode: ErrorCode.NONE,
      name: t.name,
      topicId: t.topicId,
      isInternal: false,
      partitions: partitionsOf(t, ctx),
      topicAuthorizedOperations: NO_OPERATIONS,
    });
    const all = req.topics === null || (ctx.apiVersion === 0 && req.topics.length === 0);
    const result: MetadataResponseMetadataResponseTopic[] = [];
    if (all) {
      for (const t of topics.all()) result.push(describe(t));
    } else {
      const allowAuto = ctx.apiVersion < 4 || req.allowAutoTopicCreation !== false;
      for (const rt of req.topics!) {
        if (rt.name === null || rt.name === undefined) {
          const t = rt.topicId && rt.topicId !== ZERO_UUID ? topics.byId(rt.topicId) : undefined;
          result.push(
            t
              ? describe(t)
              : { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, name: null, topicId: rt.topicId ?? ZERO_UUID, isInternal: false, partitions: [] },
          );
          continue;
        }
        const nameErr = topicNameError(rt.name);
        if (nameErr) {
          result.push({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, name: rt.name, topicId: ZERO_UUID, isInternal: false, partitions: [] });
          continue;
        }
        let t: TopicRecord | undefined;
        let code: number = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        try {
          t = await topics.getOrAutoCreate(rt.name, allowAuto);
        } catch (err) {
          code = errorCodeOf(err);
          ctx.broker.log.warn({ err, topic: rt.name }, 'auto-create failed');
        }
        result.push(t ? describe(t) : { errorCode: code, name: rt.name, topicId: ZERO_UUID, isInternal: false, partitions: [] });
      }
    }
    return {
      throttleTimeMs: 0,
      brokers: cluster.brokers().map((b) => ({ nodeId: b.brokerId, host: b.host, port: b.port, rack: b.rack })),
      clusterId: ctx.broker.meta.clusterId(),
      controllerId: cluster.controllerId(),
      topics: result,
      clusterAuthorizedOperations: NO_OPERATIONS,
    };
  },
});
