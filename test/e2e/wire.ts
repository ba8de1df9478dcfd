/**
 * A raw Kafka wire client for the end-to-end tests: encodes requests with the
 * generated codecs (src/protocol/generated/), writes size-prefixed frames on a
 * plain `net` socket and reads response frames back, or lets a test write any
 * bytes it likes. No client library involved.
 */
import net from 'node:net';
import { Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';
import { requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/generated/index.js';
import { encodeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { decodeResponseHeader } from '../../src/protocol/generated/response-header.js';
import type { ApiDescriptor } from '../../src/protocol/generated/types.js';
import type { ProduceRequest } from '../../src/protocol/generated/produce.js';
import { buildBatch } from '../../src/protocol/records/records.js';

/** A request frame: int32 size, header, body. */
export function requestFrame<Req>(api: ApiDescriptor<Req>, version: number, correlationId: number, body: Req, clientId = 'e2e-wire'): Buffer {
  const w = new Writer();
  encodeRequestHeader(w, { requestApiKey: api.apiKey, requestApiVersion: version, correlationId, clientId }, requestHeaderVersion(api.apiKey, version));
  api.encodeRequest(w, body, version);
  return withSize(w.toBuffer());
}

/** A frame with a raw header (any api key / version) and raw body bytes. */
export function rawFrame(apiKey: number, version: number, correlationId: number, body: Buffer = Buffer.alloc(0), clientId = 'e2e-wire'): Buffer {
  const w = new Writer();
  encodeRequestHeader(w, { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId }, 1);
  w.writeRaw(body);
  return withSize(w.toBuffer());
}

export function withSize(payload: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length, 0);
  return Buffer.concat([size, payload]);
}

/** Decodes a response frame body (without its size prefix). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function decodeResponse<Resp>(api: ApiDescriptor<any, Resp>, version: number, frame: Buffer): { correlationId: number; body: Resp } {
  const r = new Reader(frame);
  const h = decodeResponseHeader(r, responseHeaderVersion(api.apiKey, version));
  const body = api.decodeResponse(r, version);
  if (r.remaining() !== 0) throw new Error(`${api.name} v${version} response: ${r.remaining()} trailing bytes`);
  return { correlationId: h.correlationId, body };
}

/** One TCP connection that collects response frames as they arrive. */
export class WireConnection {
  private buf: Buffer = Buffer.alloc(0);
  private frames: Buffer[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  error: Error | null = null;
  private nextCorrelation = 1;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      while (this.buf.length >= 4) {
        const n = this.buf.readInt32BE(0);
        if (this.buf.length < 4 + n) break;
        this.frames.push(this.buf.subarray(4, 4 + n));
        this.buf = this.buf.subarray(4 + n);
      }
      this.wake();
    });
    socket.on('error', (e) => {
      this.error = e;
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<WireConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new WireConnection(s));
      });
      s.once('error', reject);
    });
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  write(b: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(b, () => resolve());
    });
  }

  /** The next response frame, or null when the connection closed first. Rejects after timeoutMs. */
  async readFrame(timeoutMs = 10_000): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.frames.length) return this.frames.shift()!;
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves true when the broker closes the connection within timeoutMs (and sends no frame before). */
  async waitClosed(timeoutMs = 10_000): Promise<{ closed: boolean; frames: Buffer[] }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const frames = this.frames;
    this.frames = [];
    return { closed: this.closed, frames };
  }

  /** Sends one request and decodes its response (checks the correlation id). */
  async request<Req, Resp>(api: ApiDescriptor<Req, Resp>, version: number, body: Req, timeoutMs = 10_000): Promise<Resp> {
    const id = this.nextCorrelation++;
    await this.write(requestFrame(api, version, id, body));
    const f = await this.readFrame(timeoutMs);
    if (!f) throw new Error(`${api.name} v${version}: connection closed without a response`);
    const r = decodeResponse(api, version, f);
    if (r.correlationId !== id) throw new Error(`${api.name}: correlation id ${r.correlationId}, expected ${id}`);
    return r.body;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Opens a connection, runs fn, closes. */
export async function withConnection<T>(port: number, fn: (c: WireConnection) => Promise<T>): Promise<T> {
  const c = await WireConnection.connect(port);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** A Produce request body (acks=all) with one v2 batch of `values` (keys k-<value>) for one partition. */
export function produceBody(topic: string, partition: number, values: string[], opts: { acks?: number; batch?: Buffer } = {}): ProduceRequest {
  const batch =
    opts.batch ??
    buildBatch({ records: values.map((v) => ({ key: Buffer.from(`k-${v}`), value: Buffer.from(v), timestamp: Date.now() })) });
  return {
    transactionalId: null,
    acks: opts.acks ?? -1,
    timeoutMs: 30_000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }],
  };
}
