// The shape of an API handler. Each src/broker/<api>.ts exports one; the list
// in handlers.ts is the only place that says which APIs and versions the
// broker serves, and ApiVersions is computed from it.

import type { ApiDescriptor } from '../protocol/generated/types.js';
import type { RequestContext } from './context.js';

export interface ApiHandler<Req = unknown, Res = unknown> {
  readonly api: ApiDescriptor<Req, Res>;
  /** Versions really implemented (never beyond what the generated codec knows). */
  readonly minVersion: number;
  readonly maxVersion: number;
  /** The response, or null when none is sent (Produce with acks=0). */
  handle(req: Req, ctx: RequestContext): Promise<Res | null> | Res | null;
}

export function defineHandler<Req, Res>(h: ApiHandler<Req, Res>): ApiHandler<Req, Res> {
  if (h.minVersion < h.api.minVersion || h.maxVersion > h.api.maxVersion) {
    throw new Error(`${h.api.name}: versions ${h.minVersion}-${h.maxVersion} outside the codec's ${h.api.minVersion}-${h.api.maxVersion}`);
  }
  return h;
}
