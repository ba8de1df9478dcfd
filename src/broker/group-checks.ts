// Checks shared by the group APIs: is this broker the group's coordinator,
// and is the group id usable.

import { ErrorCode } from '../protocol/kafka-error.js';
import type { RequestContext } from './context.js';

/** Kafka's group.min/max.session.timeout.ms defaults. */
export const MIN_SESSION_TIMEOUT_MS = 6000;
export const MAX_SESSION_TIMEOUT_MS = 1_800_000;
/** Kafka's offset.metadata.max.bytes default. */
export const MAX_OFFSET_METADATA_BYTES = 4096;

export function coordinatorError(ctx: RequestContext, groupId: string): number {
  if (ctx.broker.shuttingDown.aborted) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  if (ctx.broker.cluster.coordinatorFor(groupId).brokerId !== ctx.broker.cluster.self.brokerId) return ErrorCode.NOT_COORDINATOR;
  return ErrorCode.NONE;
}

export function groupIdError(ctx: RequestContext, groupId: string): number {
  if (!groupId) return ErrorCode.INVALID_GROUP_ID;
  return coordinatorError(ctx, groupId);
}

export function clientHost(ctx: RequestContext): string {
  const addr = ctx.conn.remoteAddress;
  return `/${addr.slice(0, addr.lastIndexOf(':'))}`;
}
