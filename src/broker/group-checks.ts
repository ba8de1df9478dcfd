// Checks shared by the group APIs: is this broker the group's coordinator,
// and is the group id usable.

import { ErrorCode } from '../protocol/kafka-error.js';
import type { RequestContext } from './context.js';

/** Kafka's group.min/max.session.timeout.ms defaults. */
export const MIN_SESSION_TIMEOUT_MS = 6000;
export const MAX_SESSION_TIMEOUT_MS = 1_800_000;
/** Kafka's offset.metadata.max.bytes default. */
export const MAX_OFFSET_METADATA_BYTES = 4096;

/**
 * NONE when this broker coordinates the group (its state then loaded from the
 * metadata store if it just arrived here), else the error for the client.
 */
export async function coordinatorError(ctx: RequestContext, groupId: string): Promise<number> {
  if (ctx.broker.shuttingDown.aborted) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  // A broker that cannot prove its membership may have been replaced as the
  // coordinator already (paused, cut off from the metadata store).
  if (!ctx.broker.meta.writable()) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  if (ctx.broker.cluster.coordinatorFor(groupId).brokerId !== ctx.broker.cluster.self.brokerId) {
    ctx.broker.groups.forget(groupId);
    return ErrorCode.NOT_COORDINATOR;
  }
  try {
    await ctx.broker.groups.prepare(groupId);
  } catch (err) {
    ctx.broker.log.warn({ err: (err as Error).message, group: groupId }, 'group state could not be loaded');
    return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
  }
  return ErrorCode.NONE;
}

export function groupIdError(ctx: RequestContext, groupId: string): Promise<number> {
  if (!groupId) return Promise.resolve(ErrorCode.INVALID_GROUP_ID);
  return coordinatorError(ctx, groupId);
}

export function clientHost(ctx: RequestContext): string {
  const addr = ctx.conn.remoteAddress;
  return `/${addr.slice(0, addr.lastIndexOf(':'))}`;
}
