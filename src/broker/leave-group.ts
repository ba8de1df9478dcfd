// LeaveGroup v0-5: one member (v0-2) or a batch identified by member id or
// group instance id (v3+, KIP-345).

import { LeaveGroupApi } from '../protocol/generated/leave-group.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';
import { groupIdError } from './group-checks.js';

export const leaveGroup = defineHandler({
  api: LeaveGroupApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(req, ctx) {
    const err = await groupIdError(ctx, req.groupId);
    const group = ctx.broker.groups.get(req.groupId);
    if (ctx.apiVersion < 3) {
      if (err !== ErrorCode.NONE) return { throttleTimeMs: 0, errorCode: err };
      return { throttleTimeMs: 0, errorCode: group ? group.leave(req.memberId ?? '', null) : ErrorCode.UNKNOWN_MEMBER_ID };
    }
    if (err !== ErrorCode.NONE) return { throttleTimeMs: 0, errorCode: err, members: [] };
    const members = (req.members ?? []).map((m) => {
      if (m.reason) ctx.broker.log.debug({ group: req.groupId, memberId: m.memberId, reason: m.reason }, 'leave reason');
      return {
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        errorCode: group ? group.leave(m.memberId, m.groupInstanceId) : ErrorCode.UNKNOWN_MEMBER_ID,
      };
    });
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, members };
  },
});
