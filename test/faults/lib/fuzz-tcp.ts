/**
 * Malformed frames over TCP to a running broker (scenario 09): `connections`
 * sockets in parallel, each writing fuzz cases (fuzz.ts) back to back, each
 * with its 4-byte size (now and then a wrong one: negative, zero, under the
 * header, huge, off by a few), without waiting for answers; when the broker
 * closes a socket (as it must for a malformed frame) a new one takes its
 * place. Answers are read and dropped. Frames written after the one that
 * made the broker close a connection are lost with it; `sent` counts what
 * was written, `connections` how many sockets it took.
 */
import net from 'node:net';
import type { FuzzCases } from './fuzz.js';

export interface TcpFuzzResult {
  sent: number;
  bytes: number;
  connections: number;
  closedByBroker: number;
  badSizes: number;
  connectErrors: number;
  answeredBytes: number;
  ms: number;
}

export async function fuzzTcp(o: {
  host: string;
  port: number;
  cases: FuzzCases;
  frames: number;
  deadlineMs?: number;
  connections?: number;
  /** Frames written on one socket before it is replaced anyway. */
  perConnection?: number;
}): Promise<TcpFuzzResult> {
  const r: TcpFuzzResult = { sent: 0, bytes: 0, connections: 0, closedByBroker: 0, badSizes: 0, connectErrors: 0, answeredBytes: 0, ms: 0 };
  const started = Date.now();
  const deadline = started + (o.deadlineMs ?? Infinity);
  const rng = o.cases.rng;
  const more = () => r.sent < o.frames && Date.now() < deadline;

  const sizeOf = (frame: Buffer): number => {
    if (!rng.chance(0.03)) return frame.length;
    r.badSizes++;
    return rng.pick([-1, 0, 3, 7, frame.length + 1, frame.length - 1, frame.length + 100, 0x7fffffff, 200 * 1024 * 1024]);
  };

  const worker = async (): Promise<void> => {
    while (more()) {
      const sock = net.connect(o.port, o.host);
      r.connections++;
      let closed = false;
      const done = new Promise<void>((resolve) => {
        sock.once('close', () => {
          closed = true;
          resolve();
        });
      });
      sock.on('error', () => {});
      sock.on('data', (d) => {
        r.answeredBytes += d.length;
      });
      try {
        await new Promise<void>((resolve, reject) => {
          sock.once('connect', resolve);
          sock.once('error', reject);
        });
      } catch {
        r.connectErrors++;
        sock.destroy();
        await new Promise((res) => setTimeout(res, 50));
        continue;
      }
      const limit = o.perConnection ?? 200;
      for (let i = 0; i < limit && !closed && more(); i++) {
        const { frame } = o.cases.next();
        const size = Buffer.allocUnsafe(4);
        size.writeInt32BE(sizeOf(frame) | 0, 0);
        const ok = sock.write(Buffer.concat([size, frame]));
        r.sent++;
        r.bytes += frame.length + 4;
        if (!ok) await Promise.race([new Promise((res) => sock.once('drain', res)), done, new Promise((res) => setTimeout(res, 2000))]);
        // Now and then let the broker catch up (and close us if it will).
        if (i % 16 === 15) await new Promise((res) => setImmediate(res));
      }
      if (!closed) {
        // Give the broker a moment to answer or close, then go.
        await Promise.race([done, new Promise((res) => setTimeout(res, 20))]);
        if (closed) r.closedByBroker++;
        sock.destroy();
      } else r.closedByBroker++;
      await done;
    }
  };
  await Promise.all(Array.from({ length: o.connections ?? 8 }, worker));
  r.ms = Date.now() - started;
  return r;
}
