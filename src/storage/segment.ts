// Layout of a segment object: one partition's batches over an offset range,
// in LZ4-compressed blocks of whole batches, with a sparse offset index and a
// time index (one entry per block) in a footer, so a fetch reads only the
// blocks it needs with ranged GETs.
//
//   "SHSEG001" | block | block | ... | footer JSON | u32 footerLength | u32 crc32c(footer) | "SHSEGEND"

import { crc32c } from '@node-rs/crc32';
import { compress, compressSync, uncompress } from 'lz4-napi';
import { crc32cOfBatches } from '../protocol/records/crc32c.js';

export const SEG_MAGIC = Buffer.from('SHSEG001');
export const SEG_END = Buffer.from('SHSEGEND');
export const SEGMENT_TRAILER = 16;
export const DEFAULT_BLOCK_BYTES = 256 * 1024;
/**
 * A block is kept LZ4-compressed only when that saves at least this fraction
 * of it. Batches a client already compressed, or random payloads, do not
 * shrink (ratio 1.004 for ProducerPerformance's random letters) and would
 * cost every fetch a decompression (about 1 ms per MiB here) for nothing.
 */
export const MIN_LZ4_SAVING = 1 / 8;
/** Blocks larger than this are first tried on their first SAMPLE_BYTES: an incompressible sample skips the whole compression. */
const SAMPLE_BYTES = 32 * 1024;
/** After this many incompressible blocks in a row, a segment samples only every RESAMPLE_EVERY-th block. */
const INCOMPRESSIBLE_RUN = 4;
const RESAMPLE_EVERY = 16;

function pays(compressedLength: number, rawLength: number): boolean {
  return compressedLength <= rawLength * (1 - MIN_LZ4_SAVING);
}

export interface SegmentBlock {
  baseOffset: number;
  nextOffset: number;
  /** Largest record timestamp in this block and every block before it (Kafka's time index is monotonic too). */
  maxTimestamp: number;
  position: number;
  length: number;
  rawLength: number;
  /** crc32c of the stored bytes: a damaged GET is never decompressed or served. */
  crc: number;
  /** Stored as they are, not LZ4: compression would not have paid (see MIN_LZ4_SAVING). */
  raw?: true;
}

export interface SegmentFooter {
  version: 1;
  codec: 'lz4';
  baseOffset: number;
  nextOffset: number;
  blocks: SegmentBlock[];
}

export interface SegmentInputBatch {
  baseOffset: number;
  nextOffset: number;
  maxTimestamp: number;
  buf: Buffer;
}

/**
 * Builds a segment batch by batch: each block is compressed as soon as it is
 * full, so the raw batches of a compaction need not all be in memory at once
 * (only the compressed blocks are kept until the object is written).
 */
/** A segment built in memory: its bytes in chunks, its size and its footer. */
export interface EncodedSegment {
  chunks: Buffer[];
  size: number;
  footer: SegmentFooter;
}

export class SegmentEncoder {
  private readonly chunks: Buffer[] = [SEG_MAGIC];
  private readonly blocks: SegmentBlock[] = [];
  private pos = SEG_MAGIC.length;
  private runningMax = -1;
  private group: Buffer[] = [];
  private raw = 0;
  private groupBase = 0;
  private groupNext = 0;
  /** Blocks in a row whose sample did not compress (see closeBlock). */
  private incompressibleRun = 0;

  constructor(private readonly blockBytes = DEFAULT_BLOCK_BYTES) {}

  async add(b: SegmentInputBatch): Promise<void> {
    if (this.group.length && this.raw + b.buf.length > this.blockBytes) await this.closeBlock();
    if (this.group.length === 0) this.groupBase = b.baseOffset;
    this.group.push(b.buf);
    this.raw += b.buf.length;
    this.groupNext = b.nextOffset;
    this.runningMax = Math.max(this.runningMax, b.maxTimestamp);
  }

  private async closeBlock(): Promise<void> {
    const group = this.group;
    // The sample on the event loop: a thread-pool round trip per block cost more, and a
    // compaction of 1 MiB records under a full produce load waited on 64 of them. A sample
    // costs about 0.2 ms, 45-55 ms for a 64 MiB segment, which held up produce requests
    // (p99): one partition's data is much the same block after block, so after
    // INCOMPRESSIBLE_RUN blocks that did not compress, only every RESAMPLE_EVERY-th is tried.
    // A lone batch is kept as it came, without a copy (the put copies it once): a view of the
    // WAL run compaction read, or of the tail, which this segment replaces. A group is one
    // buffer, so that a segment is a few hundred chunks, not one per batch.
    const input = group.length === 1 ? group[0]! : Buffer.concat(group, this.raw);
    const large = input.length > 2 * SAMPLE_BYTES;
    const assumed = large && this.incompressibleRun >= INCOMPRESSIBLE_RUN && this.incompressibleRun % RESAMPLE_EVERY !== 0;
    const incompressible = large && (assumed || !pays(compressSync(input.subarray(0, SAMPLE_BYTES)).length, SAMPLE_BYTES));
    this.incompressibleRun = incompressible ? this.incompressibleRun + 1 : 0;
    const compressed = incompressible ? null : await compress(input);
    const raw = !compressed || !pays(compressed.length, input.length);
    const stored = raw ? input : compressed!;
    this.blocks.push({
      baseOffset: this.groupBase,
      nextOffset: this.groupNext,
      maxTimestamp: this.runningMax,
      position: this.pos,
      length: stored.length,
      rawLength: this.raw,
      // A raw block is whole batches whose CRCs were checked when they came in: their own
      // CRCs make the block's, without a pass over the bytes.
      crc: raw ? crc32cOfBatches(stored) : crc32c(stored),
      ...(raw ? { raw: true as const } : {}),
    });
    this.chunks.push(stored);
    this.pos += stored.length;
    this.group = [];
    this.raw = 0;
  }

  async finish(): Promise<EncodedSegment> {
    if (this.group.length) await this.closeBlock();
    if (this.blocks.length === 0) throw new Error('empty segment');
    const footer: SegmentFooter = {
      version: 1,
      codec: 'lz4',
      baseOffset: this.blocks[0]!.baseOffset,
      nextOffset: this.blocks[this.blocks.length - 1]!.nextOffset,
      blocks: this.blocks,
    };
    const fbuf = Buffer.from(JSON.stringify(footer), 'utf8');
    const trailer = Buffer.allocUnsafe(SEGMENT_TRAILER);
    trailer.writeUInt32BE(fbuf.length, 0);
    trailer.writeUInt32BE(crc32c(fbuf), 4);
    SEG_END.copy(trailer, 8);
    this.chunks.push(fbuf, trailer);
    return { chunks: this.chunks, size: this.pos + fbuf.length + SEGMENT_TRAILER, footer };
  }
}

export async function encodeSegment(
  batches: SegmentInputBatch[],
  blockBytes = DEFAULT_BLOCK_BYTES,
): Promise<{ chunks: Buffer[]; size: number; footer: SegmentFooter }> {
  const enc = new SegmentEncoder(blockBytes);
  for (const b of batches) await enc.add(b);
  return enc.finish();
}

/** Footer length from the trailer (the last SEGMENT_TRAILER bytes). */
export function footerLengthFromTrailer(trailer: Buffer): number {
  if (trailer.length !== SEGMENT_TRAILER || !trailer.subarray(8).equals(SEG_END)) throw new Error('segment trailer missing');
  return trailer.readUInt32BE(0);
}

export function decodeSegmentFooter(footerAndTrailer: Buffer): SegmentFooter {
  const t = footerAndTrailer.length - SEGMENT_TRAILER;
  const len = footerLengthFromTrailer(footerAndTrailer.subarray(t));
  const fbuf = footerAndTrailer.subarray(t - len, t);
  if (crc32c(fbuf) !== footerAndTrailer.readUInt32BE(t + 4)) throw new Error('segment footer checksum mismatch');
  return JSON.parse(fbuf.toString('utf8')) as SegmentFooter;
}

export async function decodeBlock(block: SegmentBlock, bytes: Buffer): Promise<Buffer> {
  if (bytes.length !== block.length || crc32c(bytes) !== block.crc) throw new Error('segment block checksum mismatch');
  if (block.raw) {
    if (bytes.length !== block.rawLength) throw new Error('segment block has the wrong length');
    return bytes;
  }
  const raw = await uncompress(bytes);
  if (raw.length !== block.rawLength) throw new Error('segment block has the wrong length');
  return raw;
}

/** Index of the first block holding an offset at or after `offset`. */
export function blockFor(footer: SegmentFooter, offset: number): number {
  let lo = 0;
  let hi = footer.blocks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (footer.blocks[mid]!.nextOffset <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
