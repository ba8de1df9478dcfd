// Segments on the local store are written and read with O_DIRECT: the bytes
// go between a small aligned staging area and the disk, through no
// page-cache page. A segment is written once and read back seldom (fetches
// of recent data come from the WAL and the in-memory tail, catching-up
// readers share the block cache), so caching it in the kernel bought little
// and cost much: on this VM a fresh page-cache page costs about 9 µs on
// first touch (the host backs freed guest memory lazily), and with 1 MiB
// records the copy into fresh pages took 30% of the machine's CPU samples
// (perf). Written 64 MiB at a time (1 MiB pieces, a pause between them, as
// under load): 2.6-2.8 ms of CPU per MiB through the page cache, 0.5-0.6 ms
// this way.

import { constants, fdatasync, ftruncate, open, read, write } from 'node:fs';
import { promisify } from 'node:util';
import { sliceChunks, totalBytes } from './chunks.js';

/** Offsets and lengths of O_DIRECT I/O are multiples of this (the logical block size is 512 or 4096). */
const ALIGN = 4096;
const WASM_PAGE = 64 * 1024;
export const DIRECT_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT;

// Node's own types leave WebAssembly to the DOM library; this is the one constructor used here.
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer } };

const openAsync = promisify(open);
const writeAsync = promisify(write);
const readAsync = promisify(read);
const ftruncateAsync = promisify(ftruncate);
const fdatasyncAsync = promisify(fdatasync);

/**
 * Page-aligned staging areas, lent out to one write at a time. Node's
 * Buffers come from malloc and are not aligned; a WebAssembly memory is
 * mapped by V8 on a page boundary. Allocated once: fresh memory is the cost
 * this module avoids.
 */
export class DirectStages {
  private free: Buffer[] | null = null;
  private waiting: Array<() => void> = [];

  /** `allocate`: where the stages come from (tests hand in unaligned memory, as a file system with other rules would see). */
  constructor(
    readonly pieceBytes: number,
    readonly count: number,
    private readonly allocate: (bytes: number) => Buffer = alignedMemory,
  ) {}

  /** Up to `n` stages, at least one (waiting for a write that holds them). */
  async acquire(n: number): Promise<Buffer[]> {
    if (!this.free) {
      const all = this.allocate(this.pieceBytes * this.count);
      this.free = Array.from({ length: this.count }, (_, i) => all.subarray(i * this.pieceBytes, (i + 1) * this.pieceBytes));
    }
    while (this.free.length === 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return this.free.splice(0, Math.max(1, n));
  }

  release(stages: Buffer[]): void {
    this.free!.push(...stages);
    for (const wake of this.waiting.splice(0)) wake();
  }
}

function alignedMemory(bytes: number): Buffer {
  return Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE) }).buffer, 0, bytes);
}

/** A descriptor opened for O_DIRECT writing, or null where the file system refuses O_DIRECT (tmpfs). */
export async function openDirect(path: string): Promise<number | null> {
  try {
    return await openAsync(path, DIRECT_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return null;
    throw err;
  }
}

/**
 * Writes `chunks` from offset 0 of an O_DIRECT file, a piece at a time with
 * up to `parallel` pieces in flight (at most the stages there are). The last
 * piece is padded to the block size and the file cut back to `total` bytes;
 * one fdatasync then makes all of it durable. EINVAL from a write means the
 * file system wants another alignment: the caller writes the object the
 * buffered way instead.
 *
 * Not O_DSYNC: that flushed the disk's cache after every 1 MiB piece, 64
 * flushes per segment, which the WAL's own synced writes queued behind
 * (64 MiB puts took 60-97 ms that way, 50-93 ms this way, and franz-go
 * 1 MiB producing ran 4% faster).
 */
export async function writeDirect(fd: number, chunks: readonly Buffer[], stages: DirectStages, parallel: number): Promise<void> {
  const total = totalBytes(chunks);
  const piece = stages.pieceBytes;
  let next = 0;
  let failed: { err: unknown } | null = null;
  const worker = async (stage: Buffer): Promise<void> => {
    try {
      while (next < total && !failed) {
        const start = next;
        const length = Math.min(piece, total - start);
        next = start + length;
        let at = 0;
        for (const part of sliceChunks(chunks, start, length)) at += part.copy(stage, at);
        const padded = Math.ceil(length / ALIGN) * ALIGN;
        stage.fill(0, length, padded);
        let off = 0;
        while (off < padded) off += (await writeAsync(fd, stage, off, padded - off, start + off)).bytesWritten;
      }
    } catch (err) {
      failed ??= { err };
    }
  };
  const held = await stages.acquire(Math.min(parallel, Math.ceil(total / piece)));
  // Every worker has stopped before this returns or throws: the caller closes the descriptor.
  try {
    await Promise.all(held.map(worker));
  } finally {
    stages.release(held);
  }
  if (failed) throw (failed as { err: unknown }).err;
  if (total % ALIGN !== 0) await ftruncateAsync(fd, total);
  await fdatasyncAsync(fd);
}

/** O_DIRECT reading flags: a segment read does not fill the page cache either. */
export const DIRECT_READ_FLAGS = constants.O_RDONLY | constants.O_DIRECT;

/**
 * Bytes [start, end) of an O_DIRECT descriptor: whole aligned blocks are
 * read into a stage, a piece at a time, and the range copied out (into a
 * buffer from `allocate`). A file shorter than `end` throws.
 */
export async function readDirect(
  fd: number,
  start: number,
  end: number,
  stages: DirectStages,
  what: string,
  allocate: (length: number) => Buffer = Buffer.allocUnsafe,
): Promise<Buffer> {
  const out = allocate(Math.max(0, end - start));
  if (out.length === 0) return out;
  const [stage] = await stages.acquire(1);
  try {
    let pos = Math.floor(start / ALIGN) * ALIGN;
    const stop = Math.ceil(end / ALIGN) * ALIGN;
    while (pos < stop) {
      const want = Math.min(stages.pieceBytes, stop - pos);
      const got = (await readAsync(fd, stage!, 0, want, pos)).bytesRead;
      const from = Math.max(start, pos);
      const to = Math.min(end, pos + got);
      if (to > from) stage!.copy(out, from - start, from - pos, to - pos);
      if (got < want) {
        if (pos + got < end) throw new Error(`short read of ${what}: ${pos + got - start} of ${out.length} bytes at ${start}`);
        break;
      }
      pos += got;
    }
  } finally {
    stages.release([stage!]);
  }
  return out;
}
