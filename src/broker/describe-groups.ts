// DescribeGroups v0-5: state, protocol, members with their client ids, hosts,
// metadata and assignments (metadata and assignment only once Stable, as
// Kafka reports them). An unknown group is reported Dead with no error.
// Authorized operations are not computed (no ACLs).

import { DescribeGroupsApi } from '../protocol/generated/describe-groups.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';
import { coordinatorError } from './group-checks.js';

export const describeGroups = defineHandler({
  api: DescribeGroupsApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(req, ctx) {
    const groups = [];
    for (const id of req.groups) {
      const base = { groupId: id, protocolType: '', protocolData: '', members: [], authorizedOperations: -2147483648 };
      const err = await coordinatorError(ctx, id);
      if (err !== ErrorCode.NONE) {
        groups.push({ ...base, errorCode: err, groupState: '' });
        continue;
      }
      const g = ctx.broker.groups.get(id);
      if (!g || g.state === 'Dead') {
        const hasOffsets = (await ctx.broker.groups.committed(id)).size > 0;
        groups.push({ ...base, errorCode: ErrorCode.NONE, groupState: hasOffsets ? 'Empty' : 'Dead', protocolType: hasOffsets ? 'consumer' : '' });
        continue;
      }
      const stable = g.state === 'Stable';
      groups.push({
        ...base,
        errorCode: ErrorCode.NONE,
        groupState: g.state,
        protocolType: g.protocolType ?? '',
        protocolData: stable || g.state === 'CompletingRebalance' ? (g.protocolName ?? '') : '',
        members: [...g.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          memberMetadata: stable ? (m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? Buffer.alloc(0)) : Buffer.alloc(0),
          memberAssignment: stable ? m.assignment : Buffer.alloc(0),
        })),
      });
    }
    return { throttleTimeMs: 0, groups };
  },
});
