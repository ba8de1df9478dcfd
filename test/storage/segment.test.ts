// Segment blocks: LZ4 when it pays, stored as they are when it does not
// (random or client-compressed payloads), and read back byte for byte either way.
import { randomBytes } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import { expect, test } from 'vitest';
import { buildBatch } from '../../src/protocol/records/records.js';
import { blockFor, decodeBlock, decodeSegmentFooter, encodeSegment, MIN_LZ4_SAVING, type SegmentInputBatch } from '../../src/storage/segment.js';

function batches(payload: (i: number) => Buffer, n: number): SegmentInputBatch[] {
  return Array.from({ length: n }, (_, i) => ({ baseOffset: i * 10, nextOffset: i * 10 + 10, maxTimestamp: 1000 + i, buf: payload(i) }));
}

async function roundTrip(input: SegmentInputBatch[], blockBytes: number) {
  const { chunks, size } = await encodeSegment(input, blockBytes);
  const obj = Buffer.concat(chunks);
  expect(obj.length).toBe(size);
  const footer = decodeSegmentFooter(obj);
  const raw: Buffer[] = [];
  for (const b of footer.blocks) raw.push(await decodeBlock(b, obj.subarray(b.position, b.position + b.length)));
  expect(Buffer.concat(raw).equals(Buffer.concat(input.map((b) => b.buf)))).toBe(true);
  return footer;
}

test('compressible blocks are stored LZ4-compressed', async () => {
  const f = await roundTrip(batches((i) => Buffer.alloc(40_000, i % 7), 20), 100_000);
  expect(f.blocks.length).toBeGreaterThan(1);
  for (const b of f.blocks) {
    expect(b.raw).toBeUndefined();
    expect(b.length).toBeLessThan(b.rawLength * (1 - MIN_LZ4_SAVING));
  }
});

test('incompressible blocks (one batch or several) are stored as they are and still checked', async () => {
  const f = await roundTrip(batches(() => randomBytes(30_000), 12), 100_000);
  expect(f.blocks.length).toBe(4);
  for (const b of f.blocks) {
    expect(b.raw).toBe(true);
    expect(b.length).toBe(b.rawLength);
  }
  const big = await roundTrip(batches(() => randomBytes(300_000), 3), 100_000);
  expect(big.blocks.map((b) => b.raw)).toEqual([true, true, true]);
  expect(blockFor(big, 25)).toBe(2);
  const { chunks } = await encodeSegment(batches(() => randomBytes(30_000), 2), 100_000);
  const obj = Buffer.concat(chunks);
  const b0 = decodeSegmentFooter(obj).blocks[0]!;
  const damaged = Buffer.from(obj.subarray(b0.position, b0.position + b0.length));
  damaged[7] ^= 1;
  await expect(decodeBlock(b0, damaged)).rejects.toThrow(/checksum/);
});

test('a raw block of real batches carries the CRC of its bytes, made from the batches\' own CRCs', async () => {
  // 9-40 KiB batches: large enough that crc32cOfBatches combines their CRCs instead of reading them.
  const input = batches((i) => buildBatch({ baseOffset: i * 10, records: [{ key: null, value: randomBytes(9000 + i * 3000), timestamp: 1000 + i }] }), 12);
  const { chunks } = await encodeSegment(input, 64 * 1024);
  const obj = Buffer.concat(chunks);
  const footer = decodeSegmentFooter(obj);
  expect(footer.blocks.length).toBeGreaterThan(3);
  for (const b of footer.blocks) {
    expect(b.raw).toBe(true);
    expect(b.crc).toBe(crc32c(obj.subarray(b.position, b.position + b.length)) >>> 0);
  }
  await roundTrip(input, 64 * 1024);
});

test('after a run of incompressible blocks only some are sampled, and data that turns compressible is compressed again', async () => {
  // 8 random blocks, then 40 compressible ones: sampling resumes at the 16th block at the latest.
  const input = batches((i) => (i < 8 ? randomBytes(70_000) : Buffer.alloc(70_000, i % 5)), 48);
  const f = await roundTrip(input, 100_000);
  expect(f.blocks.length).toBe(48);
  expect(f.blocks.slice(0, 8).every((b) => b.raw)).toBe(true);
  const compressed = f.blocks.map((b, i) => (b.raw ? -1 : i)).filter((i) => i >= 0);
  expect(compressed[0]).toBeLessThanOrEqual(16);
  expect(compressed).toEqual(Array.from({ length: 48 - compressed[0]! }, (_, k) => compressed[0]! + k));
});
