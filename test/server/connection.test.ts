/**
 * A Connection on a real loopback socket, both ways its bytes can come: read
 * straight into the frame reader (adoptSocket, what the broker does) and as
 * 'data' chunks (the fallback where a socket cannot be adopted). An echo
 * handler with random delays answers; every answer must come back whole and
 * in request order, frames above the reader's budget included.
 */
import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import pino from 'pino';
import { Connection, type FrameHandler } from '../../src/server/connection.js';
import { adoptSocket, FrameMemory } from '../../src/server/frame-reader.js';

const log = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Answers each frame with itself, after 0-3 ms (so answers complete out of order). */
const echo: FrameHandler = {
  async handle(frame) {
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 4)));
    return [frame];
  },
};

async function startServer(adopt: boolean, memory: FrameMemory): Promise<number> {
  const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
    let socket = accepted;
    const conn = new Connection(echo, { id: 1, remoteAddress: 'test', log, isClosed: () => socket.destroyed }, { maxRequestBytes: 8 << 20, maxInflightRequests: 16, maxInflightBytes: 4 << 20 }, memory, () => {});
    socket = (adopt ? adoptSocket(accepted, server, conn.reader) : null) ?? accepted;
    expect(socket !== accepted).toBe(adopt);
    conn.attach(socket, socket !== accepted);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

function frameOf(i: number, size: number): Buffer {
  const f = Buffer.allocUnsafe(4 + size);
  f.writeInt32BE(size, 0);
  for (let j = 4; j < f.length; j++) f[j] = (i * 7 + j) & 0xff;
  return f;
}

/** Sends `frames` in writes cut at random places; resolves with the answers' bodies. */
async function roundTrip(port: number, frames: Buffer[]): Promise<Buffer[]> {
  const socket = net.connect(port, '127.0.0.1');
  cleanups.push(() => void socket.destroy());
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  const answers: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        answers.push(buf.subarray(4, 4 + buf.readInt32BE(0)));
        buf = buf.subarray(4 + buf.readInt32BE(0));
        if (answers.length === frames.length) resolve();
      }
    });
    socket.on('close', () => reject(new Error(`closed after ${answers.length} of ${frames.length} answers`)));
  });
  const all = Buffer.concat(frames);
  for (let pos = 0; pos < all.length; ) {
    const n = Math.min(all.length - pos, 1 + Math.floor(Math.random() * 300_000));
    if (!socket.write(all.subarray(pos, pos + n))) await new Promise((r) => socket.once('drain', r));
    pos += n;
  }
  await done;
  return answers;
}

describe.each([
  ['read straight into the frame reader', true],
  ['read from data events', false],
])('Connection, %s', (_name, adopt) => {
  test('frames of every size, cut anywhere, come back whole and in order', async () => {
    // A budget of 1.5 MiB: some of the 1-3 MiB frames get theirs, the rest are collected as they come.
    const memory = new FrameMemory(1536 * 1024);
    const port = await startServer(adopt, memory);
    const sizes = [8, 100, 5000, 70_000, 1 << 20, 3 << 20, 20, 2 << 20, 64 * 1024, 300_000];
    const frames = Array.from({ length: 40 }, (_, i) => frameOf(i, sizes[i % sizes.length]!));
    const answers = await roundTrip(port, frames);
    expect(answers.length).toBe(frames.length);
    answers.forEach((a, i) => expect(a.equals(frames[i]!.subarray(4)), `answer ${i}`).toBe(true));
    expect(memory.usedBytes).toBe(0);
  });

  test('a size out of bounds closes the connection', async () => {
    const port = await startServer(adopt, new FrameMemory(1 << 20));
    const bad = Buffer.alloc(8);
    bad.writeInt32BE((8 << 20) + 1, 0);
    await expect(roundTrip(port, [frameOf(1, 10), bad])).rejects.toThrow(/closed after [01] of 2/);
  });
});
