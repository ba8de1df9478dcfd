// SyncGroup v0-5: the sync barrier; the leader's assignments are handed to
// every member as opaque bytes. Protocol type/name checks from v5.

import { SyncGroupApi } from '../protocol/generated/sync-group.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import type { SyncResult } from '../groups/group.js';
import { defineHandler } from './handler.js';
import { groupIdError } from './group-checks.js';

export const syncGroup = defineHandler({
  api: SyncGroupApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(req, ctx) {
    const reply = (r: SyncResult) => ({ throttleTimeMs: 0, errorCode: r.errorCode, protocolType: r.protocolType, protocolName: r.protocolName, assignment: r.assignment });
    const err = await groupIdError(ctx, req.groupId);
    const fail = (code: number) => reply({ errorCode: code, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) });
    if (err !== ErrorCode.NONE) return fail(err);
    const group = ctx.broker.groups.get(req.groupId);
    if (!group) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    const result = await new Promise<SyncResult>((resolve) =>
      group.sync(
        {
          memberId: req.memberId,
          groupInstanceId: req.groupInstanceId ?? null,
          generationId: req.generationId,
          protocolType: req.protocolType ?? null,
          protocolName: req.protocolName ?? null,
          assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: Buffer.from(a.assignment) })),
        },
        resolve,
      ),
    );
    return reply(result);
  },
});
