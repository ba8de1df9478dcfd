// JoinGroup v0-9: the join barrier of the classic rebalance protocol
// (groups/group.ts), KIP-394 member ids (v4+), static membership (v5+),
// skip_assignment for static leaders (v9, KIP-814). The reason field (v8+) is
// logged.

import { JoinGroupApi } from '../protocol/generated/join-group.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import type { JoinResult } from '../groups/group.js';
import { defineHandler } from './handler.js';
import { MAX_SESSION_TIMEOUT_MS, MIN_SESSION_TIMEOUT_MS, clientHost, groupIdError } from './group-checks.js';

export const joinGroup = defineHandler({
  api: JoinGroupApi,
  minVersion: 0,
  maxVersion: 9,
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const reply = (r: JoinResult) => ({
      throttleTimeMs: 0,
      errorCode: r.errorCode,
      generationId: r.generationId,
      protocolType: r.protocolType,
      protocolName: v >= 7 ? r.protocolName : (r.protocolName ?? ''),
      leader: r.leader,
      skipAssignment: r.skipAssignment,
      memberId: r.memberId,
      members: r.members,
    });
    const err = await groupIdError(ctx, req.groupId);
    const early = (code: number) =>
      reply({ errorCode: code, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId: req.memberId, skipAssignment: false, members: [] });
    if (err !== ErrorCode.NONE) return early(err);
    if (req.sessionTimeoutMs < MIN_SESSION_TIMEOUT_MS || req.sessionTimeoutMs > MAX_SESSION_TIMEOUT_MS) return early(ErrorCode.INVALID_SESSION_TIMEOUT);
    const group = ctx.broker.groups.getOrCreate(req.groupId);
    const result = await new Promise<JoinResult>((resolve) =>
      group.join(
        {
          memberId: req.memberId,
          groupInstanceId: req.groupInstanceId ?? null,
          clientId: ctx.clientId ?? '',
          clientHost: clientHost(ctx),
          sessionTimeoutMs: req.sessionTimeoutMs,
          rebalanceTimeoutMs: v >= 1 ? (req.rebalanceTimeoutMs ?? req.sessionTimeoutMs) : req.sessionTimeoutMs,
          protocolType: req.protocolType,
          protocols: req.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) })),
          requireKnownMemberId: v >= 4,
          supportsSkipAssignment: v >= 9,
        },
        resolve,
      ),
    );
    if (req.reason) ctx.broker.log.debug({ group: req.groupId, memberId: result.memberId, reason: req.reason }, 'join reason');
    return reply(result);
  },
});
