// Turns request frames into handler calls and responses into frames: header
// decoding (header versions from the generated table), the version checks,
// ApiVersions' v0 fallback, and the one place where a handler's unexpected
// failure becomes UNKNOWN_SERVER_ERROR plus a log line instead of a crash.

import { Reader, DecodeError } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { API_BY_KEY, requestHeaderVersion, responseHeaderVersion } from '../protocol/generated/index.js';
import { decodeRequestHeader } from '../protocol/generated/request-header.js';
import { encodeResponseHeader } from '../protocol/generated/response-header.js';
import { encodeApiVersionsResponse } from '../protocol/generated/api-versions.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { CloseConnection, type ConnectionContext, type FrameHandler } from '../server/connection.js';
import type { BrokerServices, ConnectionState, RequestContext } from './context.js';
import { errorResponse } from './error-response.js';
import type { ApiHandler } from './handler.js';

const API_VERSIONS_KEY = 18;

export class Dispatcher implements FrameHandler {
  private readonly byKey = new Map<number, ApiHandler>();
  private readonly connState = new WeakMap<ConnectionContext, ConnectionState>();

  constructor(
    handlers: readonly ApiHandler[],
    private readonly services: () => BrokerServices,
    /** Requests wait for this: the broker accepts connections before its partitions are open. */
    private readonly ready: Promise<void> = Promise.resolve(),
    /** Told each answered request's api and latency (metrics). */
    private readonly onRequest: (api: string, ms: number) => void = () => {},
  ) {
    for (const h of handlers) this.byKey.set(h.api.apiKey, h);
  }

  private stateOf(conn: ConnectionContext): ConnectionState {
    let s = this.connState.get(conn);
    if (!s) {
      s = { produceGate: Promise.resolve(), refusedAt: new Map() };
      this.connState.set(conn, s);
    }
    return s;
  }

  async handle(frame: Buffer, conn: ConnectionContext, onWritten: (release: () => void) => void = () => {}): Promise<Buffer[] | null> {
    await this.ready;
    const apiKey = frame.readInt16BE(0);
    const apiVersion = frame.readInt16BE(2);
    const correlationId = frame.readInt32BE(4);
    const handler = this.byKey.get(apiKey);
    const api = API_BY_KEY.get(apiKey);

    if (apiKey === API_VERSIONS_KEY && handler && apiVersion > handler.maxVersion) {
      // KIP-511: a client newer than us gets a v0 answer listing what we serve.
      return frameOf(correlationId, 0, (w) =>
        encodeApiVersionsResponse(w, { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: [...this.services().supportedApis] }, 0),
      );
    }
    if (!api || apiVersion < api.minVersion || apiVersion > api.maxVersion) {
      throw new CloseConnection(`unknown api key ${apiKey} version ${apiVersion}`);
    }

    let req: unknown;
    let clientId: string | null = null;
    try {
      const r = new Reader(frame);
      const header = decodeRequestHeader(r, requestHeaderVersion(apiKey, apiVersion));
      clientId = header.clientId ?? null;
      req = api.decodeRequest(r, apiVersion);
    } catch (err) {
      if (err instanceof DecodeError) throw new CloseConnection(`malformed ${api.name} v${apiVersion} request: ${err.message}`);
      throw err;
    }
    const headerVersion = responseHeaderVersion(apiKey, apiVersion);

    if (!handler || apiVersion < handler.minVersion || apiVersion > handler.maxVersion) {
      const body = errorResponse(apiKey, apiVersion, handler ? ErrorCode.UNSUPPORTED_VERSION : ErrorCode.INVALID_REQUEST, req);
      if (!body) throw new CloseConnection(`no response format for api key ${apiKey}`);
      return frameOf(correlationId, headerVersion, (w) => api.encodeResponse(w, body, apiVersion));
    }

    const services = this.services();
    const ctx: RequestContext = {
      apiKey,
      apiVersion,
      correlationId,
      clientId,
      conn,
      connState: this.stateOf(conn),
      broker: services,
      onWritten,
    };
    let res: unknown;
    const started = performance.now();
    try {
      res = await handler.handle(req, ctx);
      this.onRequest(api.name, performance.now() - started);
    } catch (err) {
      if (err instanceof CloseConnection) throw err;
      services.log.error({ err, api: api.name, version: apiVersion, clientId }, 'handler failed');
      const body = errorResponse(apiKey, apiVersion, ErrorCode.UNKNOWN_SERVER_ERROR, req);
      if (!body) throw new CloseConnection('handler failed');
      res = body;
    }
    if (res === null) return null;
    return frameOf(correlationId, headerVersion, (w) => api.encodeResponse(w, res, apiVersion));
  }
}

function frameOf(correlationId: number, headerVersion: number, body: (w: Writer) => void): Buffer[] {
  const w = new Writer();
  encodeResponseHeader(w, { correlationId }, headerVersion);
  body(w);
  return w.chunksOut();
}
