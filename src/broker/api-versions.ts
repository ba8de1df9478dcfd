// ApiVersions v0-4. The list is computed from HANDLERS (broker.ts), never kept by hand.
// A request above v4 gets the v0 fallback answer (in dispatcher.ts, KIP-511).

import { ApiVersionsApi, type ApiVersionsResponseApiVersion } from '../protocol/generated/api-versions.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler, type ApiHandler } from './handler.js';

/** KIP-511: client software names and versions must match this. */
const SOFTWARE = /^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$/;

export function supportedApiVersions(handlers: readonly ApiHandler[]): ApiVersionsResponseApiVersion[] {
  return handlers.map((h) => ({ apiKey: h.api.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion })).sort(
    (a, b) => a.apiKey - b.apiKey,
  );
}

export const apiVersions = defineHandler({
  api: ApiVersionsApi,
  minVersion: 0,
  maxVersion: 4,
  handle(req, ctx) {
    const invalid =
      ctx.apiVersion >= 3 && (!SOFTWARE.test(req.clientSoftwareName ?? '') || !SOFTWARE.test(req.clientSoftwareVersion ?? ''));
    return {
      errorCode: invalid ? ErrorCode.INVALID_REQUEST : ErrorCode.NONE,
      apiKeys: [...ctx.broker.supportedApis],
      throttleTimeMs: 0,
    };
  },
});
