// DeleteTopics v0-6: by name, or by topic id (v6+). The partitions' segments
// and no-longer-referenced WAL objects are deleted from the object store.

import { DeleteTopicsApi, type DeleteTopicsResponseDeletableTopicResult } from '../protocol/generated/delete-topics.js';
import { ZERO_UUID } from '../protocol/generated/types.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';

export const deleteTopics = defineHandler({
  api: DeleteTopicsApi,
  minVersion: 0,
  maxVersion: 6,
  async handle(req, ctx) {
    const { topics } = ctx.broker;
    const wanted: Array<{ name: string | null; id: string | null }> =
      ctx.apiVersion >= 6
        ? (req.topics ?? []).map((t) => ({ name: t.name, id: t.topicId === ZERO_UUID ? null : t.topicId }))
        : (req.topicNames ?? []).map((n) => ({ name: n, id: null }));
    const responses: DeleteTopicsResponseDeletableTopicResult[] = [];
    for (const w of wanted) {
      const topic = w.id ? topics.byId(w.id) : w.name !== null ? topics.byName(w.name) : undefined;
      if (!topic) {
        responses.push({
          name: w.name,
          topicId: w.id ?? ZERO_UUID,
          errorCode: w.id ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          errorMessage: w.id ? 'This server does not host this topic ID.' : 'This server does not host this topic-partition.',
        });
        continue;
      }
      await topics.delete(topic);
      responses.push({ name: topic.name, topicId: topic.topicId, errorCode: ErrorCode.NONE, errorMessage: null });
    }
    return { throttleTimeMs: 0, responses };
  },
});
