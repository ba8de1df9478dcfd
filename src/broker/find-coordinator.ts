// FindCoordinator v0-5, including batched lookups (v4+, KIP-699): group
// coordinators are placed by hashing the key onto a live broker. Transaction
// coordinators (key type 1) are refused: transactions are not implemented.

import { FindCoordinatorApi } from '../protocol/generated/find-coordinator.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import type { RequestContext } from './context.js';
import { defineHandler } from './handler.js';

const GROUP = 0;

function locate(key: string, keyType: number, ctx: RequestContext) {
  if (keyType !== GROUP) {
    return { key, nodeId: -1, host: '', port: -1, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: 'transactions are not supported' };
  }
  const b = ctx.broker.cluster.coordinatorFor(key);
  return { key, nodeId: b.brokerId, host: b.host, port: b.port, errorCode: ErrorCode.NONE, errorMessage: null };
}

export const findCoordinator = defineHandler({
  api: FindCoordinatorApi,
  minVersion: 0,
  maxVersion: 5,
  handle(req, ctx) {
    const keyType = req.keyType ?? GROUP;
    if (ctx.apiVersion >= 4) {
      return { throttleTimeMs: 0, coordinators: (req.coordinatorKeys ?? []).map((k) => locate(k, keyType, ctx)) };
    }
    const c = locate(req.key ?? '', keyType, ctx);
    return { throttleTimeMs: 0, errorCode: c.errorCode, errorMessage: c.errorMessage, nodeId: c.nodeId, host: c.host, port: c.port };
  },
});
