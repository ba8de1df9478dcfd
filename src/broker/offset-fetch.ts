// OffsetFetch v0-9: committed offsets (with leader epoch and metadata) of one
// group (v0-7) or several (v8+, KIP-709); a null topic list means every
// committed partition. Partitions without a commit get offset -1.
// require_stable is satisfied trivially (no transactional commits).

import { OffsetFetchApi } from '../protocol/generated/offset-fetch.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import type { OffsetMap } from '../groups/coordinator.js';
import type { RequestContext } from './context.js';
import { defineHandler } from './handler.js';
import { groupIdError } from './group-checks.js';

interface PartitionOut {
  partitionIndex: number;
  committedOffset: bigint;
  committedLeaderEpoch: number;
  metadata: string | null;
  errorCode: number;
}

async function fetchGroup(
  ctx: RequestContext,
  groupId: string,
  topics: Array<{ name: string; partitionIndexes: number[] }> | null,
): Promise<{ errorCode: number; topics: Array<{ name: string; partitions: PartitionOut[] }> }> {
  const err = await groupIdError(ctx, groupId);
  if (err !== ErrorCode.NONE) {
    return {
      errorCode: err,
      topics: (topics ?? []).map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((p) => ({ partitionIndex: p, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: err })),
      })),
    };
  }
  const committed: OffsetMap = await ctx.broker.groups.committed(groupId);
  const wanted = topics ?? [...committed.entries()].map(([name, parts]) => ({ name, partitionIndexes: [...parts.keys()].sort((a, b) => a - b) }));
  return {
    errorCode: ErrorCode.NONE,
    topics: wanted.map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((p) => {
        const c = committed.get(t.name)?.get(p);
        return c
          ? { partitionIndex: p, committedOffset: c.offset, committedLeaderEpoch: c.leaderEpoch, metadata: c.metadata ?? '', errorCode: ErrorCode.NONE }
          : { partitionIndex: p, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.NONE };
      }),
    })),
  };
}

export const offsetFetch = defineHandler({
  api: OffsetFetchApi,
  minVersion: 0,
  maxVersion: 9,
  async handle(req, ctx) {
    if (ctx.apiVersion >= 8) {
      const groups = [];
      for (const g of req.groups ?? []) {
        const r = await fetchGroup(ctx, g.groupId, g.topics);
        groups.push({ groupId: g.groupId, errorCode: r.errorCode, topics: r.topics });
      }
      return { throttleTimeMs: 0, groups };
    }
    const r = await fetchGroup(ctx, req.groupId ?? '', req.topics ?? null);
    return { throttleTimeMs: 0, errorCode: r.errorCode, topics: r.topics };
  },
});
