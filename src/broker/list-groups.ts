// ListGroups v0-5: groups with members and groups holding only committed
// offsets, filtered by state (v4+) and type (v5+, every group is "classic").

import { ListGroupsApi } from '../protocol/generated/list-groups.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';

export const listGroups = defineHandler({
  api: ListGroupsApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(req, ctx) {
    const states = (req.statesFilter ?? []).map((s) => s.toLowerCase());
    const types = (req.typesFilter ?? []).map((s) => s.toLowerCase());
    const me = ctx.broker.cluster.self.brokerId;
    const groups = (await ctx.broker.groups.list())
      .filter((g) => ctx.broker.cluster.coordinatorFor(g.groupId).brokerId === me)
      .filter((g) => states.length === 0 || states.includes(g.state.toLowerCase()))
      .filter(() => types.length === 0 || types.includes('classic'))
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state, groupType: 'classic' }));
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, groups };
  },
});
