// Heartbeat v0-4: keeps a member's session alive; REBALANCE_IN_PROGRESS tells
// it to rejoin.

import { HeartbeatApi } from '../protocol/generated/heartbeat.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';
import { groupIdError } from './group-checks.js';

export const heartbeat = defineHandler({
  api: HeartbeatApi,
  minVersion: 0,
  maxVersion: 4,
  async handle(req, ctx) {
    const err = await groupIdError(ctx, req.groupId);
    if (err !== ErrorCode.NONE) return { throttleTimeMs: 0, errorCode: err };
    const group = ctx.broker.groups.get(req.groupId);
    const code = group ? group.heartbeat(req.memberId, req.groupInstanceId ?? null, req.generationId) : ErrorCode.UNKNOWN_MEMBER_ID;
    return { throttleTimeMs: 0, errorCode: code };
  },
});
