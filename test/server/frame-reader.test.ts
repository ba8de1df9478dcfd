/**
 * FrameReader: frames come out whole and in order however the bytes are cut
 * into reads, whether the reads land where nextBuffer() said (a socket with
 * `onread`) or arrive as chunks of their own ('data' events); frames above the
 * shared budget are collected as they arrive; a bad size stops the reader.
 * The end-to-end suites (bad-input and every client test) cover the socket.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { FrameMemory, FrameReader } from '../../src/server/frame-reader.js';

function framed(payloads: Buffer[]): Buffer {
  return Buffer.concat(
    payloads.flatMap((p) => {
      const size = Buffer.alloc(4);
      size.writeInt32BE(p.length, 0);
      return [size, p];
    }),
  );
}

function payload(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

interface Run {
  frames: Buffer[];
  invalid: string[];
  reader: FrameReader;
  memory: FrameMemory;
}

function newRun(budget = 1 << 30, maxFrame = 100 << 20): Run {
  const memory = new FrameMemory(budget);
  const run: Run = { frames: [], invalid: [], memory, reader: null as unknown as FrameReader };
  run.reader = new FrameReader(maxFrame, memory, { frame: (f) => run.frames.push(f), invalid: (r) => run.invalid.push(r) });
  return run;
}

/** Feeds `bytes` as a socket with `onread` would: each read into nextBuffer(), at most `cut(i)` bytes of it. */
function feedIntoReader(run: Run, bytes: Buffer, cut: (i: number) => number): void {
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const target = run.reader.nextBuffer();
    const n = Math.min(target.length, Math.max(1, cut(i)), bytes.length - pos);
    bytes.copy(target, 0, pos, pos + n);
    // The scratch buffer is overwritten by the next read: a frame must not keep a view of it.
    if (!run.reader.push(n, target)) return;
    pos += n;
  }
}

/** Feeds `bytes` as 'data' chunks of their own. */
function feedChunks(run: Run, bytes: Buffer, cut: (i: number) => number): void {
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const n = Math.min(Math.max(1, cut(i)), bytes.length - pos);
    if (!run.reader.push(n, Buffer.from(bytes.subarray(pos, pos + n)))) return;
    pos += n;
  }
}

describe('FrameReader', () => {
  test('frames of every size class, cut anywhere, read into its buffers or from chunks: whole, in order, unchanged', () => {
    const sizes = fc.constantFrom(8, 9, 100, 4095, 4096, 16 * 1024, 64 * 1024 - 1, 64 * 1024, 300 * 1024, 1 << 20, (1 << 20) + 7);
    fc.assert(
      fc.property(
        fc.array(sizes, { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 200 * 1024 }), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        fc.boolean(),
        (frameSizes, cuts, intoReader, tightBudget) => {
          const payloads = frameSizes.map((s, i) => payload(s, i));
          const run = newRun(tightBudget ? 512 * 1024 : 1 << 30);
          const cut = (i: number): number => cuts[i % cuts.length]!;
          (intoReader ? feedIntoReader : feedChunks)(run, framed(payloads), cut);
          expect(run.invalid).toEqual([]);
          expect(run.frames.length).toBe(payloads.length);
          run.frames.forEach((f, i) => expect(f.equals(payloads[i]!)).toBe(true));
          // every frame that was given budget gave it back once it was complete
          expect(run.memory.usedBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a large frame is read straight into its own buffer, 64 KiB at a time, from the read after its size to a short last piece', () => {
    const run = newRun();
    const big = payload(1 << 20, 3);
    const bytes = framed([big]);
    const targets: Buffer[] = [];
    let pos = 0;
    while (pos < bytes.length) {
      const t = run.reader.nextBuffer();
      targets.push(t);
      const n = Math.min(t.length, bytes.length - pos);
      bytes.copy(t, 0, pos, pos + n);
      run.reader.push(n, t);
      pos += n;
    }
    expect(run.frames.length).toBe(1);
    expect(run.frames[0]!.equals(big)).toBe(true);
    // the first read (size and the frame's start) went to the scratch buffer, and so does a last piece under
    // DIRECT_MIN_BYTES (here 4 bytes); every read between them went straight into the frame
    const inFrame = targets.map((t) => t.buffer === run.frames[0]!.buffer);
    expect(inFrame[0]).toBe(false);
    expect(inFrame.slice(1, -1).every(Boolean)).toBe(true);
    expect(inFrame.length).toBe(17);
    expect(Math.max(...targets.map((t) => t.length))).toBe(64 * 1024);
  });

  test('frames announced beyond the budget are collected as their bytes come, and the budget is shared', () => {
    const memory = new FrameMemory(3 << 20);
    const frames: Buffer[][] = [[], []];
    const readers = [0, 1].map((i) => new FrameReader(100 << 20, memory, { frame: (f) => frames[i]!.push(f), invalid: () => {} }));
    const header = (size: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(size, 0);
      return b;
    };
    // the first announces 2 MiB and gets it; the second announces 2 MiB more than is left
    readers[0]!.push(4, header(2 << 20));
    expect(memory.usedBytes).toBe(2 << 20);
    readers[1]!.push(4, header(2 << 20));
    expect(memory.usedBytes).toBe(2 << 20);
    // a frame above EAGER_MAX_BYTES never takes budget
    const third = new FrameReader(100 << 20, memory, { frame: () => {}, invalid: () => {} });
    third.push(4, header(90 << 20));
    expect(memory.usedBytes).toBe(2 << 20);
    third.discard();
    // both complete with the right bytes
    const a = payload(2 << 20, 1);
    const b = payload(2 << 20, 2);
    feedChunks({ reader: readers[0]!, frames: frames[0]!, invalid: [], memory }, a, () => 100_000);
    feedChunks({ reader: readers[1]!, frames: frames[1]!, invalid: [], memory }, b, () => 100_000);
    expect(frames[0]![0]!.equals(a)).toBe(true);
    expect(frames[1]![0]!.equals(b)).toBe(true);
    expect(memory.usedBytes).toBe(0);
  });

  test('a connection that goes away mid-frame gives its budget back', () => {
    const run = newRun();
    const header = Buffer.alloc(4 + 1000);
    header.writeInt32BE(5 << 20, 0);
    run.reader.push(header.length, header);
    expect(run.memory.usedBytes).toBe(5 << 20);
    run.reader.discard();
    expect(run.memory.usedBytes).toBe(0);
    expect(run.reader.push(1, Buffer.alloc(1))).toBe(false);
  });

  test.each([
    ['negative', -1],
    ['zero', 0],
    ['below a request header', 7],
    ['above the limit', (100 << 20) + 1],
    ['2 GiB', 0x7fffffff],
  ])('size %s: invalid, nothing allocated, nothing more read', (_name, size) => {
    const run = newRun();
    const bytes = Buffer.alloc(64);
    bytes.writeInt32BE(size, 0);
    expect(run.reader.push(bytes.length, bytes)).toBe(false);
    expect(run.invalid.length).toBe(1);
    expect(run.frames).toEqual([]);
    expect(run.memory.usedBytes).toBe(0);
    expect(run.reader.push(bytes.length, bytes)).toBe(false);
    expect(run.invalid.length).toBe(1);
  });

  test('bytes after a bad size in the same read are not framed', () => {
    const run = newRun();
    const bad = Buffer.alloc(4);
    bad.writeInt32BE(-5, 0);
    run.reader.push(4 + 12, Buffer.concat([bad, framed([payload(8, 1)])]));
    expect(run.frames).toEqual([]);
    expect(run.invalid.length).toBe(1);
  });
});
