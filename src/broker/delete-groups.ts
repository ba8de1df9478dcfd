// DeleteGroups v0-2: empty groups only (NON_EMPTY_GROUP otherwise); their
// committed offsets are deleted with them.

import { DeleteGroupsApi } from '../protocol/generated/delete-groups.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';
import { groupIdError } from './group-checks.js';

export const deleteGroups = defineHandler({
  api: DeleteGroupsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(req, ctx) {
    const results = [];
    for (const id of req.groupsNames) {
      const err = await groupIdError(ctx, id);
      results.push({ groupId: id, errorCode: err !== ErrorCode.NONE ? err : await ctx.broker.groups.delete(id) });
    }
    return { throttleTimeMs: 0, results };
  },
});
