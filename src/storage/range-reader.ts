// Reads the batches of a committed range from the object store, through the
// block cache. Every batch read from the store is checked against its CRC
// before it is cached: a damaged object is an error here, never bytes served
// to a consumer.

import { crc32c } from '@node-rs/crc32';
import type { LogRange } from '../coordination/metadata-store.js';
import { PARTITION_LEADER_EPOCH_OFFSET, readBatchHeader } from '../protocol/records/batch.js';
import type { BlockCache } from './block-cache.js';
import type { BlockPins, BlockPool } from './block-pool.js';
import type { ObjectStore } from './object-store.js';
import { Limiter } from './limiter.js';
import { SEGMENT_TRAILER, blockFor, decodeBlock, decodeSegmentFooter, footerLengthFromTrailer, type SegmentBlock, type SegmentFooter } from './segment.js';

export interface StoredBatch {
  baseOffset: number;
  nextOffset: number;
  maxTimestamp: number;
  buf: Buffer;
}

export class CorruptObjectError extends Error {
  constructor(key: string, detail: string) {
    super(`object ${key} is damaged: ${detail}`);
    this.name = 'CorruptObjectError';
  }
}

/**
 * Splits stored bytes into batches, checking each one's CRC-32C unless the
 * caller verified the bytes as a whole already (a segment block's CRC covers
 * every byte of its batches: a second pass would cost every fetch).
 */
export function splitStoredBatches(key: string, bytes: Buffer, verifyBatchCrcs = true): StoredBatch[] {
  const out: StoredBatch[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes.length - pos < 61) throw new CorruptObjectError(key, `truncated batch at ${pos}`);
    const h = readBatchHeader(bytes, pos);
    const end = pos + h.totalSize;
    if (h.magic !== 2 || end > bytes.length || h.totalSize < 61) throw new CorruptObjectError(key, `bad batch at ${pos}`);
    if (verifyBatchCrcs && crc32c(bytes.subarray(pos + 21, end)) !== h.crc) throw new CorruptObjectError(key, `batch CRC mismatch at ${pos}`);
    out.push({ baseOffset: h.baseOffset, nextOffset: h.baseOffset + h.lastOffsetDelta + 1, maxTimestamp: h.maxTimestamp, buf: bytes.subarray(pos, end) });
    pos = end;
  }
  return out;
}

/**
 * The batches of a WAL range must be exactly the range: contiguous from its
 * base offset to its next offset, all with the leader epoch that appended
 * them (one run is one leader's flush), which is `expectedEpoch` when the
 * caller knows it. A batch's CRC covers neither its base offset nor its
 * leader epoch, so a damaged GET that flipped a bit there is caught only here.
 */
export function checkWalRun(range: LogRange, batches: StoredBatch[], expectedEpoch?: number): void {
  const bad = (detail: string) => new CorruptObjectError(range.key, `run [${range.baseOffset}, ${range.nextOffset}) at ${range.position}: ${detail}`);
  if (batches.length === 0) throw bad('no batches');
  let next = range.baseOffset;
  const epoch = expectedEpoch ?? batches[0]!.buf.readInt32BE(PARTITION_LEADER_EPOCH_OFFSET);
  for (const b of batches) {
    if (b.baseOffset !== next) throw bad(`batch at offset ${b.baseOffset}, expected ${next}`);
    if (b.buf.readInt32BE(PARTITION_LEADER_EPOCH_OFFSET) !== epoch) throw bad(`batch at ${b.baseOffset} has leader epoch ${b.buf.readInt32BE(PARTITION_LEADER_EPOCH_OFFSET)}, expected ${epoch}`);
    next = b.nextOffset;
  }
  if (next !== range.nextOffset) throw bad(`batches end at ${next}`);
}

/**
 * Segment blocks fetched ahead of a sequential reader. A local segment is
 * read with O_DIRECT, without the kernel's read-ahead: reading from the
 * start of a 1 GiB partition of 1 KiB records, 2 blocks ahead gave 314 MiB/s,
 * 8 gave 355 and 16 gave 377 (a reader's blocks stay in the block cache,
 * shared by every reader, so not more).
 */
const READ_AHEAD_BLOCKS = 8;
/**
 * On an object store (readAheadGetBytes > 0) the read-ahead is counted in
 * bytes, not blocks: up to this many GETs' worth ahead of the reader, topped
 * up only once less than one GET's worth is, so that each GET covers as many
 * blocks as it may.
 */
const READ_AHEAD_GETS = 2;
/**
 * readAheadGetBytes on S3. A cold read from offset 0 of 64 KiB records
 * through a new broker (bench:s3 scenario 5, s3rver, blocks of about 1 MiB)
 * got 152-157 MiB/s with a GET per block and 8 blocks ahead (1,826 GETs);
 * 182-204 with the same 8 blocks in GETs of up to 4 or 8 MiB; 199-221 with
 * 4 MiB GETs and 16 MiB ahead; 240-250 with 8 MiB GETs and 16 MiB ahead
 * (331 GETs); 24 MiB ahead gave no more. The store spent less CPU per byte
 * and so did the broker (the SDK's cost is per request), and S3 bills a GET
 * as one request whatever its size.
 */
export const OBJECT_STORE_READ_AHEAD_GET_BYTES = 8 * 1024 * 1024;
/**
 * Bytes of read-ahead GETs in flight at once, over every reader: many
 * readers starting cold at once would otherwise hold up to maxConcurrentGets
 * x readAheadGetBytes (256 MiB) of bodies beside the block cache. Past it a
 * reader reads what it asks for, block by block, until GETs come back.
 */
const READ_AHEAD_INFLIGHT_BYTES = 64 * 1024 * 1024;

/**
 * A segment's name in the caches: its key, or with its position for one of a
 * pack's segments (see SegmentPack), which share the key.
 */
function segmentId(range: Pick<LogRange, 'key' | 'position'>): string {
  return range.position === 0 ? range.key : `${range.key}+${range.position}`;
}

export class RangeReader {
  private footers = new Map<string, Promise<SegmentFooter>>();
  private parsed = new WeakMap<Buffer, StoredBatch[]>();
  private readonly gets: Limiter;
  private readAheadInflight = 0;

  /**
   * @param readAheadGetBytes 0: READ_AHEAD_BLOCKS blocks ahead, one read
   * each (the local store, tuned that way); otherwise READ_AHEAD_GETS times
   * this many bytes ahead, adjacent blocks sharing GETs of up to this size.
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly cache: BlockCache,
    maxConcurrentGets = 32,
    private readonly readAheadGetBytes = 0,
    /** Memory for the blocks read (the cache must tell the pool what it evicts). */
    private readonly pool?: BlockPool,
  ) {
    this.gets = new Limiter(maxConcurrentGets);
  }

  /** `pooled`: the bytes go into pool memory (blocks, which the cache holds and the pool takes back). */
  private get(key: string, start: number, end: number, pooled = false): Promise<Buffer> {
    const pool = pooled ? this.pool : undefined;
    return this.gets.run(() => this.store.get(key, { start, end }, pool && { allocate: (length) => pool.allocate(length) }));
  }

  private loadBlock(range: LogRange, footer: SegmentFooter, idx: number): Promise<Buffer> {
    const block = footer.blocks[idx]!;
    const at = range.position + block.position;
    return this.cache.get(`${segmentId(range)}#${idx}`, async () => {
      const stored = await this.get(range.key, at, at + block.length, true);
      return this.decodeView(range.key, block, stored);
    });
  }

  /** Blocks from..to of a segment with one GET, each cached on its own (read-ahead: failures are left to the reader's own GET). */
  private loadBlocks(range: LogRange, footer: SegmentFooter, from: number, to: number): void {
    const start = footer.blocks[from]!.position;
    const last = footer.blocks[to]!;
    const bytes = last.position + last.length - start;
    this.readAheadInflight += bytes;
    const run = this.get(range.key, range.position + start, range.position + last.position + last.length, true);
    run.then(
      () => (this.readAheadInflight -= bytes),
      () => (this.readAheadInflight -= bytes),
    );
    const id = segmentId(range);
    for (let i = from; i <= to; i++) {
      const block = footer.blocks[i]!;
      this.cache
        .get(`${id}#${i}`, async () => {
          const whole = await run;
          const stored = whole.subarray(block.position - start, block.position - start + block.length);
          // One view per block of the GET's memory, each let go on its own (see block-pool.ts).
          this.pool?.share(whole, stored);
          return this.decodeView(range.key, block, stored);
        })
        .catch(() => {});
    }
    // After every block above has taken its view (their reactions to `run` come first): the GET's own goes.
    run.then(
      (whole) => this.pool?.evicted(whole),
      () => {},
    );
  }

  /** decode(), and the pool told when the stored view is not what the cache will hold (a decompressed block, a damaged one). */
  private async decodeView(key: string, block: SegmentBlock, stored: Buffer): Promise<Buffer> {
    let bytes: Buffer | null = null;
    try {
      bytes = await this.decode(key, block, stored);
      return bytes;
    } finally {
      if (bytes !== stored) this.pool?.evicted(stored);
    }
  }

  private async decode(key: string, block: SegmentBlock, stored: Buffer): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await decodeBlock(block, stored);
    } catch (err) {
      throw new CorruptObjectError(key, (err as Error).message);
    }
    // decodeBlock checked the block's CRC; split once, before it is cached, and batchesOf() finds it.
    this.parsed.set(bytes, splitStoredBatches(key, bytes, false));
    return bytes;
  }

  /** Starts reading the blocks after `idx` that are neither cached nor on their way. */
  private readAhead(range: LogRange, footer: SegmentFooter, idx: number): void {
    const blocks = footer.blocks;
    const id = segmentId(range);
    const has = (i: number) => this.cache.has(`${id}#${i}`);
    if (this.readAheadGetBytes === 0) {
      for (let i = idx + 1; i <= idx + READ_AHEAD_BLOCKS && i < blocks.length; i++) if (!has(i)) this.loadBlock(range, footer, i).catch(() => {});
      return;
    }
    // Up to READ_AHEAD_GETS GETs' worth ahead, topped up only once less than one GET's worth is.
    const window = READ_AHEAD_GETS * this.readAheadGetBytes;
    let ahead = 0;
    let i = idx + 1;
    for (; i < blocks.length && has(i) && ahead < window; i++) ahead += blocks[i]!.length;
    if (ahead >= this.readAheadGetBytes) return;
    while (i < blocks.length && ahead < window) {
      if (has(i)) {
        ahead += blocks[i++]!.length;
        continue;
      }
      let j = i;
      let bytes = blocks[i]!.length;
      while (j + 1 < blocks.length && !has(j + 1) && bytes + blocks[j + 1]!.length <= this.readAheadGetBytes) bytes += blocks[++j]!.length;
      if (this.readAheadInflight + bytes > READ_AHEAD_INFLIGHT_BYTES) return;
      this.loadBlocks(range, footer, i, j);
      ahead += bytes;
      i = j + 1;
    }
  }

  private batchesOf(key: string, bytes: Buffer): StoredBatch[] {
    let b = this.parsed.get(bytes);
    if (!b) {
      b = splitStoredBatches(key, bytes);
      this.parsed.set(bytes, b);
    }
    return b;
  }

  /**
   * Some batches of `range` from the one holding `fromOffset` on (at least
   * one, unless the range ends before it). `expectedEpoch`: the leader epoch
   * of a WAL range's batches, when the caller knows it. `pins`: the caller
   * releases the blocks it was given once it is done with them (a fetch,
   * once its response is written); without, they are never reused.
   */
  async batchesFrom(range: LogRange, fromOffset: number, expectedEpoch?: number, fillCache = true, pins?: BlockPins): Promise<StoredBatch[]> {
    let batches: StoredBatch[];
    if (range.kind === 'wal') {
      const cacheKey = `${range.key}@${range.position}`;
      const load = async () => {
        const b = await this.get(range.key, range.position, range.position + range.length);
        const parsed = splitStoredBatches(range.key, b);
        checkWalRun(range, parsed, expectedEpoch);
        this.parsed.set(b, parsed);
        return b;
      };
      const bytes = fillCache ? await this.cache.get(cacheKey, load) : (this.cache.peek(cacheKey) ?? (await load()));
      batches = this.batchesOf(range.key, bytes);
    } else {
      const footer = await this.footer(range);
      const idx = blockFor(footer, fromOffset);
      const raw = await this.loadBlock(range, footer, idx);
      // In the turn the read resolved: the pool reuses nothing let go in this turn before the next.
      if (pins) pins.hold(raw);
      else this.pool?.taint(raw);
      // A reader moving forward will want the next blocks: fetched once this
      // request is answered (a local store reads small blocks synchronously,
      // which would hold up the answer).
      setImmediate(() => this.readAhead(range, footer, idx));
      batches = this.batchesOf(range.key, raw);
    }
    let i = 0;
    while (i < batches.length && batches[i]!.nextOffset <= fromOffset) i++;
    return i === 0 ? batches : batches.slice(i);
  }

  footer(range: LogRange): Promise<SegmentFooter> {
    const id = segmentId(range);
    let p = this.footers.get(id);
    if (!p) {
      const end = range.position + range.length;
      p = (async () => {
        const trailer = await this.get(range.key, end - SEGMENT_TRAILER, end);
        const len = footerLengthFromTrailer(trailer);
        const tail = await this.get(range.key, end - SEGMENT_TRAILER - len, end);
        return decodeSegmentFooter(tail);
      })();
      this.footers.set(id, p);
      p.catch(() => this.footers.delete(id));
    }
    return p;
  }

  /** The footer of a segment just written (a pack's: the next compaction of its partition merges it). */
  remember(range: Pick<LogRange, 'key' | 'position'>, footer: SegmentFooter): void {
    this.footers.set(segmentId(range), Promise.resolve(footer));
  }

  /** Forgets what is cached of an object: its segment, or every run in it. */
  forget(key: string): void {
    this.footers.delete(key);
    this.cache.invalidatePrefix(key);
  }

  /** Forgets what is cached of one segment (of a pack, the others stay). */
  forgetSegment(range: LogRange): void {
    if (range.position === 0) return this.forget(range.key);
    const id = segmentId(range);
    this.footers.delete(id);
    this.cache.invalidatePrefix(`${id}#`);
  }
}
