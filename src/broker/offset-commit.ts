// OffsetCommit v0-9 for classic groups: generation and member checks as Kafka
// makes them (groups/group.ts validateCommit), standalone commits
// (generation -1) for groups without members, metadata up to 4096 bytes, the
// committed leader epoch (v6+). Offsets are acknowledged once durable in the
// metadata store. retention_time_ms (v2-4) is accepted and not applied.

import { OffsetCommitApi } from '../protocol/generated/offset-commit.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import type { CommittedOffset } from '../coordination/metadata-store.js';
import { defineHandler } from './handler.js';
import { MAX_OFFSET_METADATA_BYTES, groupIdError } from './group-checks.js';

export const offsetCommit = defineHandler({
  api: OffsetCommitApi,
  minVersion: 0,
  maxVersion: 9,
  async handle(req, ctx) {
    const all = (code: number) => ({
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) })),
    });
    const err = await groupIdError(ctx, req.groupId);
    if (err !== ErrorCode.NONE) return all(err);
    const generation = ctx.apiVersion === 0 ? -1 : (req.generationIdOrMemberEpoch ?? -1);
    const memberId = req.memberId ?? '';
    const group = ctx.broker.groups.get(req.groupId);
    if (group) {
      const code = group.validateCommit(memberId, req.groupInstanceId ?? null, generation);
      if (code !== ErrorCode.NONE) return all(code);
    } else if (generation >= 0) {
      return all(ErrorCode.ILLEGAL_GENERATION);
    }
    const now = Date.now();
    const accepted: Array<{ topic: string; partition: number; value: CommittedOffset }> = [];
    const topics = req.topics.map((t) => {
      const topic = ctx.broker.topics.byName(t.name);
      return {
        name: t.name,
        partitions: t.partitions.map((p) => {
          let code: number = ErrorCode.NONE;
          if (!topic || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          else if (p.committedMetadata !== null && Buffer.byteLength(p.committedMetadata) > MAX_OFFSET_METADATA_BYTES) code = ErrorCode.OFFSET_METADATA_TOO_LARGE;
          else {
            const ts = p.commitTimestamp ?? -1n;
            accepted.push({
              topic: t.name,
              partition: p.partitionIndex,
              value: {
                offset: p.committedOffset,
                leaderEpoch: p.committedLeaderEpoch ?? -1,
                metadata: p.committedMetadata,
                commitTimestamp: ts >= 0n ? Number(ts) : now,
              },
            });
          }
          return { partitionIndex: p.partitionIndex, errorCode: code };
        }),
      };
    });
    try {
      await ctx.broker.groups.commit(req.groupId, accepted);
    } catch (e) {
      ctx.broker.log.error({ err: e, group: req.groupId }, 'offset commit failed');
      for (const t of topics) for (const p of t.partitions) if (p.errorCode === ErrorCode.NONE) p.errorCode = ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    return { throttleTimeMs: 0, topics };
  },
});
