// One client connection: length-prefixed frames in (frame-reader.ts), responses
// out in request order. Requests are handled concurrently (pipelining); their
// answers are queued and written strictly in the order the requests arrived,
// as Kafka clients require.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { FrameReader, type FrameMemory, type FrameSink } from './frame-reader.js';

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

export class Connection implements FrameSink {
  /** Where the socket's bytes go (adoptSocket points the socket's reads at it). */
  readonly reader: FrameReader;
  private socket!: Socket;
  private queue: Slot[] = [];
  private closing = false;
  private readPaused = false;
  private drainWaiters: Array<() => void> = [];
  private inflightBytes = 0;

  constructor(
    private readonly handler: FrameHandler,
    private readonly ctx: ConnectionContext,
    private readonly limits: ConnectionLimits,
    frameMemory: FrameMemory,
    private readonly onClose: () => void,
  ) {
    this.reader = new FrameReader(limits.maxRequestBytes, frameMemory, this);
  }

  /**
   * Starts serving `socket`. `readsIntoReader`: its reads already land in
   * this.reader (adoptSocket); otherwise it is a paused socket whose 'data'
   * chunks the reader copies from.
   */
  attach(socket: Socket, readsIntoReader: boolean): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('drain', () => this.updateFlow());
    socket.on('error', (err) => this.ctx.log.debug({ err: err.message, conn: this.ctx.id }, 'connection error'));
    socket.on('close', () => {
      this.closing = true;
      this.reader.discard();
      this.notifyDrained();
      this.onClose();
    });
    if (!readsIntoReader) {
      socket.on('data', (d: Buffer) => this.reader.push(d.length, d));
      socket.resume();
    }
  }

  frame(frame: Buffer): void {
    if (!this.closing) this.dispatch(frame);
  }

  invalid(reason: string): void {
    this.abort(reason);
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
    this.reader.discard();
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
