// One client connection: length-prefixed frames in, responses out in request
// order. Requests are handled concurrently (pipelining); their answers are
// queued and written strictly in the order the requests arrived, as Kafka
// clients require. The frame size is checked before any buffer for the frame
// exists, so a forged 2 GiB length costs nothing.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';

export interface ConnectionContext {
  readonly id: number;
  readonly remoteAddress: string;
  readonly log: Logger;
  /** True once the client has gone: work that only an answer would justify can be skipped. */
  readonly isClosed?: () => boolean;
}

/** Thrown by a handler when the frame is malformed: the connection is closed, nothing else is affected. */
export class CloseConnection extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CloseConnection';
  }
}

export interface FrameHandler {
  /**
   * The response frame body (without its size prefix), or null for requests
   * that get no answer (acks=0 produce). `onWritten`: the handler's callbacks
   * for when the socket is done with the response's buffers (written, or
   * never to be: the connection closed), so that their memory may be reused.
   */
  handle(frame: Buffer, ctx: ConnectionContext, onWritten?: (release: () => void) => void): Promise<Buffer[] | null>;
}

export interface ConnectionLimits {
  maxRequestBytes: number;
  /** Requests read but not yet answered before reading pauses. */
  maxInflightRequests: number;
  /** Bytes of requests read but not yet answered before reading pauses (memory bound under back-pressure). */
  maxInflightBytes: number;
}

interface Slot {
  done: boolean;
  response: Buffer[] | null;
  bytes: number;
  written: Array<() => void>;
}

function runAll(fns: Array<() => void>): void {
  for (const f of fns.splice(0)) f();
}

export class Connection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1;
  private queue: Slot[] = [];
  private closing = false;
  private readPaused = false;
  private drainWaiters: Array<() => void> = [];
  private inflightBytes = 0;

  constructor(
    private readonly socket: Socket,
    private readonly handler: FrameHandler,
    private readonly ctx: ConnectionContext,
    private readonly limits: ConnectionLimits,
    private readonly onClose: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d) => this.onData(d));
    socket.on('drain', () => this.updateFlow());
    socket.on('error', (err) => ctx.log.debug({ err: err.message, conn: ctx.id }, 'connection error'));
    socket.on('close', () => {
      this.closing = true;
      this.chunks = [];
      this.notifyDrained();
      onClose();
    });
  }

  private onData(data: Buffer): void {
    if (this.closing) return;
    this.chunks.push(data);
    this.buffered += data.length;
    while (!this.closing) {
      if (this.need < 0) {
        if (this.buffered < 4) return;
        const size = this.peekInt32();
        if (size < 8 || size > this.limits.maxRequestBytes) {
          this.abort(`request size ${size} outside [8, ${this.limits.maxRequestBytes}]`);
          return;
        }
        this.consume(4);
        this.need = size;
      }
      if (this.buffered < this.need) return;
      const frame = this.consume(this.need);
      this.need = -1;
      this.dispatch(frame);
    }
  }

  private peekInt32(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readInt32BE(0);
    return Buffer.concat(this.chunks, 4).readInt32BE(0);
  }

  private consume(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const take = Math.min(c.length, n - off);
        c.copy(out, off, 0, take);
        off += take;
        if (take === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(take);
      }
    }
    this.buffered -= n;
    return out;
  }

  private dispatch(frame: Buffer): void {
    const slot: Slot = { done: false, response: null, bytes: frame.length, written: [] };
    this.queue.push(slot);
    this.inflightBytes += frame.length;
    this.updateFlow();
    let p: Promise<Buffer[] | null>;
    try {
      p = this.handler.handle(frame, this.ctx, (release) => slot.written.push(release));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (response) => {
        slot.done = true;
        slot.response = response;
        this.writeReady();
      },
      (err: unknown) => {
        runAll(slot.written);
        const reason = err instanceof CloseConnection ? err.message : `handler failed: ${(err as Error)?.message}`;
        if (!(err instanceof CloseConnection)) this.ctx.log.error({ err, conn: this.ctx.id }, 'request handler failed');
        this.abort(reason);
      },
    );
  }

  private writeReady(): void {
    while (this.queue.length && this.queue[0]!.done) {
      const slot = this.queue.shift()!;
      this.inflightBytes -= slot.bytes;
      if (slot.response && !this.socket.destroyed) {
        const size = slot.response.reduce((n, b) => n + b.length, 0);
        const prefix = Buffer.allocUnsafe(4);
        prefix.writeInt32BE(size, 0);
        const chunks = [prefix, ...slot.response];
        // The last write's callback comes once the socket needs none of these buffers: written to the kernel, or dropped with an error.
        const done = slot.written.length ? () => runAll(slot.written) : undefined;
        this.socket.cork();
        for (let i = 0; i < chunks.length; i++) this.socket.write(chunks[i]!, i === chunks.length - 1 ? done : undefined);
        this.socket.uncork();
      } else runAll(slot.written);
    }
    this.updateFlow();
    this.notifyDrained();
  }

  /** Pauses reading while too many requests wait or the socket's send buffer is full. */
  private updateFlow(): void {
    const busy =
      this.queue.length >= this.limits.maxInflightRequests || this.inflightBytes >= this.limits.maxInflightBytes || this.socket.writableNeedDrain;
    if (busy && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    } else if (!busy && this.readPaused && !this.closing) {
      this.readPaused = false;
      this.socket.resume();
    }
  }

  private abort(reason: string): void {
    if (this.closing) return;
    this.ctx.log.warn({ conn: this.ctx.id, remote: this.ctx.remoteAddress, reason }, 'closing connection');
    this.closing = true;
    this.chunks = [];
    this.socket.destroy();
  }

  private notifyDrained(): void {
    if (this.queue.length === 0 || this.socket.destroyed) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }

  /** Graceful close: stop reading, answer every request already read, then end. */
  async shutdown(): Promise<void> {
    this.closing = true;
    this.socket.pause();
    if (this.queue.length && !this.socket.destroyed) await new Promise<void>((r) => this.drainWaiters.push(r));
    await new Promise<void>((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.end(() => resolve());
      setTimeout(resolve, 2000).unref();
    });
    this.socket.destroy();
  }
}
