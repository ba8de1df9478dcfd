// CreateTopics v0-7: validation as Kafka does it (name, partitions, configs),
// validate_only, num_partitions / replication_factor -1 for the defaults.
// Manual replica assignments are accepted and ignored (the object store is the
// only replica). Replication factors above 1 are accepted and reported as 1.

import { CreateTopicsApi, type CreateTopicsResponseCreatableTopicResult } from '../protocol/generated/create-topics.js';
import { ZERO_UUID } from '../protocol/generated/types.js';
import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import { describeTopicConfigs } from './describe-configs.js';
import { defineHandler } from './handler.js';
import { MAX_PARTITIONS_PER_REQUEST, TOO_MANY_PARTITIONS_MESSAGE } from './topics.js';

export const createTopics = defineHandler({
  api: CreateTopicsApi,
  minVersion: 0,
  maxVersion: 7,
  async handle(req, ctx) {
    const { topics } = ctx.broker;
    const seen = new Map<string, number>();
    for (const t of req.topics) seen.set(t.name, (seen.get(t.name) ?? 0) + 1);
    const results: CreateTopicsResponseCreatableTopicResult[] = [];
    // As Kafka's controller: a request that would add too many partitions is refused whole, before anything else.
    let requested = 0;
    for (const t of req.topics) {
      requested += t.assignments.length ? t.assignments.length : t.numPartitions === -1 ? ctx.broker.config.numPartitions : Math.max(0, t.numPartitions);
    }
    const tooMany = requested > MAX_PARTITIONS_PER_REQUEST;
    for (const t of req.topics) {
      const fail = (code: number, message: string): CreateTopicsResponseCreatableTopicResult => ({
        name: t.name,
        topicId: ZERO_UUID,
        errorCode: code,
        errorMessage: message,
        topicConfigErrorCode: ErrorCode.NONE,
        numPartitions: -1,
        replicationFactor: -1,
        configs: null,
      });
      if (tooMany) {
        results.push(fail(ErrorCode.POLICY_VIOLATION, TOO_MANY_PARTITIONS_MESSAGE));
        continue;
      }
      if (seen.get(t.name)! > 1) {
        results.push(fail(ErrorCode.INVALID_REQUEST, `Create topics request from client contains duplicate topic ${t.name}`));
        continue;
      }
      if (t.replicationFactor === 0 || t.replicationFactor < -1) {
        results.push(fail(ErrorCode.INVALID_REPLICATION_FACTOR, 'Replication factor must be larger than 0, or -1 to use the default value.'));
        continue;
      }
      if (t.assignments.length && (t.numPartitions !== -1 || t.replicationFactor !== -1)) {
        results.push(fail(ErrorCode.INVALID_REQUEST, 'Both numPartitions or replicationFactor and replicasAssignments were set.'));
        continue;
      }
      const configs: Record<string, string> = {};
      for (const c of t.configs) if (c.value !== null) configs[c.name] = c.value;
      try {
        const partitions = t.assignments.length ? t.assignments.length : t.numPartitions;
        const topic = await topics.create(t.name, partitions, configs, req.validateOnly ?? false);
        results.push({
          name: t.name,
          topicId: req.validateOnly ? ZERO_UUID : topic.topicId,
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          topicConfigErrorCode: ErrorCode.NONE,
          numPartitions: topic.partitions,
          replicationFactor: 1,
          configs: describeTopicConfigs(topic, ctx, null, false, false).map((c) => ({
            name: c.name,
            value: c.value,
            readOnly: c.readOnly,
            configSource: c.configSource ?? 5,
            isSensitive: c.isSensitive,
          })),
        });
      } catch (err) {
        if (!(err instanceof KafkaError)) throw err;
        results.push(fail(err.code, err.message));
      }
    }
    return { throttleTimeMs: 0, topics: results };
  },
});
