// A small Kafka client on the generated codecs: one TCP connection per broker,
// requests matched to responses by correlation id, ApiVersions negotiation
// (KIP-511 fallback included), per-request timeouts. Used by the admin
// subcommands of the CLI and by tests; not a producer or consumer.
//
//   const c = await KafkaClient.connect('127.0.0.1:9092');
//   const md = await c.request(MetadataApi, { topics: null });
//   c.close();
//
// A request's version defaults to min(our codec's max, the broker's max); the
// body is one object holding the fields of every version (fields a version
// lacks are ignored by its encoder), so callers that depend on the response
// shape of a version range ask for versionFor(api) first.

import net from 'node:net';
import { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { requestHeaderVersion, responseHeaderVersion } from '../protocol/generated/index.js';
import { encodeRequestHeader } from '../protocol/generated/request-header.js';
import { decodeResponseHeader } from '../protocol/generated/response-header.js';
import { ApiVersionsApi, type ApiVersionsResponse } from '../protocol/generated/api-versions.js';
import { ERROR_INFO } from '../protocol/generated/errors.js';
import type { ApiDescriptor } from '../protocol/generated/types.js';

/** Largest response frame accepted (checked before allocating). */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
const UNSUPPORTED_VERSION = 35;

export interface ClientOptions {
  /** client.id sent in every request header (default 'streamhouse-cli'). */
  clientId?: string;
  /** TCP connect timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** Default per-request timeout (default 30 s). */
  requestTimeoutMs?: number;
}

export interface RequestOptions {
  /** Overrides the negotiated version (must be within the broker's range). */
  version?: number;
  timeoutMs?: number;
}

/** A transport failure: connect error or timeout, closed connection, request timeout, no common version. */
export class KafkaClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KafkaClientError';
  }
}

/** A Kafka error code in a response, with its name. */
export class KafkaResponseError extends Error {
  constructor(
    readonly code: number,
    readonly context: string,
    readonly serverMessage: string | null = null,
  ) {
    super(`${context}: ${errorName(code)}${serverMessage ? ` (${serverMessage})` : ''}`);
    this.name = 'KafkaResponseError';
  }

  get retriable(): boolean {
    return ERROR_INFO[this.code]?.retriable ?? false;
  }
}

export function errorName(code: number): string {
  return ERROR_INFO[code]?.name ?? `error code ${code}`;
}

/** Throws KafkaResponseError for a non-zero code. */
export function check(code: number | undefined, context: string, message?: string | null): void {
  if (code !== undefined && code !== 0) throw new KafkaResponseError(code, context, message ?? null);
}

export function parseHostPort(s: string, defaultPort = 9092): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  const port = m?.[2] !== undefined ? Number(m[2]) : defaultPort;
  if (!m || !m[1] || !Number.isInteger(port) || port <= 0 || port > 65535) throw new KafkaClientError(`bad address ${JSON.stringify(s)}: expected HOST:PORT`);
  return { host: m[1], port };
}

interface Pending {
  apiKey: number;
  version: number;
  name: string;
  resolve: (frame: Reader) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One connection to one broker. */
export class KafkaClient {
  private readonly pending = new Map<number, Pending>();
  private nextCorrelationId = 1;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private closedError: Error | null = null;
  /** apiKey -> [min, max] the broker advertised. */
  readonly brokerVersions = new Map<number, [number, number]>();

  private constructor(
    private readonly socket: net.Socket,
    readonly address: string,
    private readonly opts: Required<ClientOptions>,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.fail(new KafkaClientError(`${address}: ${e.message}`)));
    socket.on('close', () => this.fail(new KafkaClientError(`${address}: connection closed`)));
  }

  /** Connects and negotiates versions with ApiVersions. */
  static async connect(address: string, options: ClientOptions = {}): Promise<KafkaClient> {
    const opts: Required<ClientOptions> = {
      clientId: options.clientId ?? 'streamhouse-cli',
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    };
    const { host, port } = parseHostPort(address);
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new KafkaClientError(`${address}: connect timed out after ${opts.connectTimeoutMs} ms`));
      }, opts.connectTimeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(new KafkaClientError(`cannot connect to ${address}: ${e.message}`));
      });
    });
    const client = new KafkaClient(socket, `${host}:${port}`, opts);
    try {
      await client.negotiate();
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  private async negotiate(): Promise<void> {
    const body = { clientSoftwareName: 'streamhouse-client', clientSoftwareVersion: '0.1.0' };
    let res: ApiVersionsResponse = await this.send(ApiVersionsApi, body, ApiVersionsApi.maxVersion, this.opts.requestTimeoutMs);
    if (res.errorCode === UNSUPPORTED_VERSION) {
      // KIP-511: the broker answered v0 with its own range; ask again at its max.
      const theirs = res.apiKeys.find((k) => k.apiKey === ApiVersionsApi.apiKey);
      const v = Math.min(theirs?.maxVersion ?? 0, ApiVersionsApi.maxVersion);
      res = await this.send(ApiVersionsApi, body, v, this.opts.requestTimeoutMs);
    }
    check(res.errorCode, 'ApiVersions');
    for (const k of res.apiKeys) this.brokerVersions.set(k.apiKey, [k.minVersion, k.maxVersion]);
  }

  /** The version a request of `api` goes out with: min(codec max, broker max), optionally capped. */
  versionFor(api: ApiDescriptor, cap = Infinity): number {
    const theirs = this.brokerVersions.get(api.apiKey);
    if (!theirs) throw new KafkaClientError(`${this.address} does not serve ${api.name}`);
    const ours = api.latestVersionUnstable ? api.maxVersion - 1 : api.maxVersion;
    const v = Math.min(ours, theirs[1], cap);
    if (v < Math.max(theirs[0], api.minVersion)) {
      throw new KafkaClientError(`no common ${api.name} version: broker ${theirs[0]}-${theirs[1]}, client ${api.minVersion}-${Math.min(ours, cap)}`);
    }
    return v;
  }

  /** Sends one request and resolves with the decoded response body. */
  request<Req, Resp>(api: ApiDescriptor<Req, Resp>, body: Req, options: RequestOptions | number = {}): Promise<Resp> {
    const o: RequestOptions = typeof options === 'number' ? { version: options } : options;
    let version: number;
    if (o.version !== undefined) {
      const theirs = this.brokerVersions.get(api.apiKey);
      if (!theirs || o.version < theirs[0] || o.version > theirs[1] || o.version < api.minVersion || o.version > api.maxVersion) {
        return Promise.reject(new KafkaClientError(`${api.name} v${o.version} is not served by ${this.address}`));
      }
      version = o.version;
    } else {
      try {
        version = this.versionFor(api);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.send(api, body, version, o.timeoutMs ?? this.opts.requestTimeoutMs);
  }

  private send<Req, Resp>(api: ApiDescriptor<Req, Resp>, body: Req, version: number, timeoutMs: number): Promise<Resp> {
    if (this.closedError) return Promise.reject(this.closedError);
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) & 0x7fffffff;
    const w = new Writer();
    w.writeInt32(0); // size, patched below
    encodeRequestHeader(
      w,
      { requestApiKey: api.apiKey, requestApiVersion: version, correlationId, clientId: this.opts.clientId },
      requestHeaderVersion(api.apiKey, version),
    );
    api.encodeRequest(w, body, version);
    const frame = w.toBuffer();
    frame.writeInt32BE(frame.length - 4, 0);
    return new Promise<Resp>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new KafkaClientError(`${api.name} v${version} to ${this.address} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(correlationId, {
        apiKey: api.apiKey,
        version,
        name: api.name,
        timer,
        reject,
        resolve: (r) => {
          // KIP-511: a broker that lacks this ApiVersions version answers in v0
          // with UNSUPPORTED_VERSION (error code first in every version).
          const v = api.apiKey === ApiVersionsApi.apiKey && r.remaining() >= 2 && r.buf.readInt16BE(r.pos) === UNSUPPORTED_VERSION ? 0 : version;
          const res = api.decodeResponse(r, v);
          if (r.remaining() !== 0) throw new KafkaClientError(`${api.name} v${v} response has ${r.remaining()} trailing bytes`);
          resolve(res);
        },
      });
      this.socket.write(frame);
    });
  }

  private onData(d: Buffer): void {
    this.chunks.push(d);
    this.buffered += d.length;
    while (this.buffered >= 4) {
      let first = this.chunks[0]!;
      if (first.length < 4) {
        first = Buffer.concat(this.chunks);
        this.chunks = [first];
      }
      const size = first.readInt32BE(0);
      if (size < 4 || size > MAX_RESPONSE_BYTES) {
        this.fail(new KafkaClientError(`${this.address}: bad response frame size ${size}`));
        this.socket.destroy();
        return;
      }
      if (this.buffered < 4 + size) return;
      const all = this.chunks.length === 1 ? first : Buffer.concat(this.chunks);
      const frame = all.subarray(4, 4 + size);
      const rest = all.subarray(4 + size);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      this.onFrame(frame);
    }
  }

  private onFrame(frame: Buffer): void {
    const correlationId = frame.readInt32BE(0);
    const p = this.pending.get(correlationId);
    if (!p) return; // answer to a request that timed out
    this.pending.delete(correlationId);
    clearTimeout(p.timer);
    try {
      const r = new Reader(frame);
      decodeResponseHeader(r, responseHeaderVersion(p.apiKey, p.version));
      p.resolve(r);
    } catch (err) {
      p.reject(new KafkaClientError(`${p.name} v${p.version} response from ${this.address} did not decode: ${(err as Error).message}`));
    }
  }

  private fail(err: Error): void {
    if (!this.closedError) this.closedError = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  close(): void {
    this.fail(new KafkaClientError(`${this.address}: connection closed by the client`));
    this.socket.destroy();
  }
}
