// OffsetDelete v0 (KIP-496): deletes committed offsets of partitions the
// group's active members are not subscribed to (GROUP_SUBSCRIBED_TO_TOPIC
// for those they are).

import { OffsetDeleteApi } from '../protocol/generated/offset-delete.js';
import { decodeConsumerProtocolSubscription } from '../protocol/generated/consumer-protocol-subscription.js';
import { Reader } from '../protocol/reader.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import type { Group } from '../groups/group.js';
import { defineHandler } from './handler.js';
import { groupIdError } from './group-checks.js';

function subscribedTopics(g: Group | undefined): Set<string> {
  const out = new Set<string>();
  if (!g || g.protocolType !== 'consumer' || g.state === 'Empty' || g.state === 'Dead') return out;
  for (const m of g.members.values()) {
    const meta = m.protocols.find((p) => p.name === g.protocolName)?.metadata;
    if (!meta || meta.length < 2) continue;
    try {
      const r = new Reader(meta);
      const version = Math.min(r.readInt16(), 3);
      for (const t of decodeConsumerProtocolSubscription(r, Math.max(version, 0)).topics) out.add(t);
    } catch {
      // Unreadable metadata: treat the member as subscribed to nothing we can name.
    }
  }
  return out;
}

export const offsetDelete = defineHandler({
  api: OffsetDeleteApi,
  minVersion: 0,
  maxVersion: 0,
  async handle(req, ctx) {
    const err = await groupIdError(ctx, req.groupId);
    if (err !== ErrorCode.NONE) return { errorCode: err, throttleTimeMs: 0, topics: [] };
    const groups = ctx.broker.groups;
    if (!(await groups.exists(req.groupId))) return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, throttleTimeMs: 0, topics: [] };
    const subscribed = subscribedTopics(groups.get(req.groupId));
    const doomed: Array<{ topic: string; partition: number }> = [];
    const topics = req.topics.map((t) => {
      const topic = ctx.broker.topics.byName(t.name);
      return {
        name: t.name,
        partitions: t.partitions.map((p) => {
          let code: number = ErrorCode.NONE;
          if (!topic || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          else if (subscribed.has(t.name)) code = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC;
          else doomed.push({ topic: t.name, partition: p.partitionIndex });
          return { partitionIndex: p.partitionIndex, errorCode: code };
        }),
      };
    });
    await groups.deleteOffsets(req.groupId, doomed);
    return { errorCode: ErrorCode.NONE, throttleTimeMs: 0, topics };
  },
});
