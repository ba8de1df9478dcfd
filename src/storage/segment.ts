// Layout of a segment object: one partition's batches over an offset range,
// in LZ4-compressed blocks of whole batches, with a sparse offset index and a
// time index (one entry per block) in a footer, so a fetch reads only the
// blocks it needs with ranged GETs.
//
//   "SHSEG001" | block | block | ... | footer JSON | u32 footerLength | u32 crc32c(footer) | "SHSEGEND"

import { crc32c } from '@node-rs/crc32';
import { compress, uncompress } from 'lz4-napi';

export const SEG_MAGIC = Buffer.from('SHSEG001');
export const SEG_END = Buffer.from('SHSEGEND');
export const SEGMENT_TRAILER = 16;
export const DEFAULT_BLOCK_BYTES = 256 * 1024;

export interface SegmentBlock {
  baseOffset: number;
  nextOffset: number;
  /** Largest record timestamp in this block and every block before it (Kafka's time index is monotonic too). */
  maxTimestamp: number;
  position: number;
  length: number;
  rawLength: number;
  /** crc32c of the compressed bytes: a damaged GET is never decompressed or served. */
  crc: number;
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

export async function encodeSegment(
  batches: SegmentInputBatch[],
  blockBytes = DEFAULT_BLOCK_BYTES,
): Promise<{ chunks: Buffer[]; size: number; footer: SegmentFooter }> {
  if (batches.length === 0) throw new Error('empty segment');
  const chunks: Buffer[] = [SEG_MAGIC];
  const blocks: SegmentBlock[] = [];
  let pos = SEG_MAGIC.length;
  let runningMax = -1;
  for (let i = 0; i < batches.length; ) {
    const group: Buffer[] = [];
    let raw = 0;
    const baseOffset = batches[i]!.baseOffset;
    let nextOffset = baseOffset;
    while (i < batches.length && (group.length === 0 || raw + batches[i]!.buf.length <= blockBytes)) {
      const b = batches[i++]!;
      group.push(b.buf);
      raw += b.buf.length;
      nextOffset = b.nextOffset;
      runningMax = Math.max(runningMax, b.maxTimestamp);
    }
    const compressed = await compress(Buffer.concat(group, raw));
    blocks.push({ baseOffset, nextOffset, maxTimestamp: runningMax, position: pos, length: compressed.length, rawLength: raw, crc: crc32c(compressed) });
    chunks.push(compressed);
    pos += compressed.length;
  }
  const footer: SegmentFooter = {
    version: 1,
    codec: 'lz4',
    baseOffset: batches[0]!.baseOffset,
    nextOffset: batches[batches.length - 1]!.nextOffset,
    blocks,
  };
  const fbuf = Buffer.from(JSON.stringify(footer), 'utf8');
  const trailer = Buffer.allocUnsafe(SEGMENT_TRAILER);
  trailer.writeUInt32BE(fbuf.length, 0);
  trailer.writeUInt32BE(crc32c(fbuf), 4);
  SEG_END.copy(trailer, 8);
  chunks.push(fbuf, trailer);
  return { chunks, size: pos + fbuf.length + SEGMENT_TRAILER, footer };
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
