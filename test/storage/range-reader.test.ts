// RangeReader's read-ahead of segment blocks: one read per block on a local
// store, GETs that cover several adjacent blocks on an object store; either
// way every batch comes back once, in order, and a damaged block is refused.
import { randomBytes } from 'node:crypto';
import { expect, test } from 'vitest';
import type { LogRange } from '../../src/coordination/metadata-store.js';
import { buildBatch } from '../../src/protocol/records/records.js';
import { BlockCache } from '../../src/storage/block-cache.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import type { ByteRange } from '../../src/storage/object-store.js';
import { CorruptObjectError, RangeReader, type StoredBatch } from '../../src/storage/range-reader.js';
import { encodeSegment, type SegmentFooter } from '../../src/storage/segment.js';

class CountingStore extends MemoryObjectStore {
  readonly gets: ByteRange[] = [];
  override async get(key: string, range?: ByteRange): Promise<Buffer> {
    if (range) this.gets.push(range);
    return super.get(key, range);
  }
}

const KEY = 'segments/t/0/00000000000000000000.seg';
const BATCHES = 60;

/** A segment of BATCHES random 30 KB batches (incompressible) in 64 KiB blocks: two batches a block. */
async function segment(store: MemoryObjectStore): Promise<{ range: LogRange; footer: SegmentFooter; input: Buffer[] }> {
  const input = Array.from({ length: BATCHES }, (_, i) => buildBatch({ baseOffset: i * 3, records: [0, 1, 2].map((k) => ({ key: null, value: randomBytes(10_000), timestamp: 1000 + i * 3 + k })) }));
  const { chunks, size, footer } = await encodeSegment(
    input.map((buf, i) => ({ baseOffset: i * 3, nextOffset: i * 3 + 3, maxTimestamp: 1002 + i * 3, buf })),
    64 * 1024,
  );
  await store.put(KEY, chunks);
  return { range: { kind: 'segment', key: KEY, position: 0, length: size, baseOffset: 0, nextOffset: BATCHES * 3, maxTimestamp: 1000 + BATCHES * 3 }, footer, input };
}

/** Reads the whole range as a consumer does: a fetch, then the next from where it ended, with a turn of the event loop between. */
async function readAll(reader: RangeReader, range: LogRange): Promise<StoredBatch[]> {
  const out: StoredBatch[] = [];
  let offset = range.baseOffset;
  while (offset < range.nextOffset) {
    const some = await reader.batchesFrom(range, offset);
    out.push(...some);
    offset = some[some.length - 1]!.nextOffset;
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

/** The GETs of blocks (not of the trailer and footer), as block index ranges; each must cover whole blocks. */
function blockGets(store: CountingStore, footer: SegmentFooter): Array<[number, number]> {
  const firstFooterByte = footer.blocks[footer.blocks.length - 1]!.position + footer.blocks[footer.blocks.length - 1]!.length;
  return store.gets
    .filter((g) => g.start < firstFooterByte)
    .map((g) => {
      const from = footer.blocks.findIndex((b) => b.position === g.start);
      const to = footer.blocks.findIndex((b) => b.position + b.length === g.end);
      expect(from).toBeGreaterThanOrEqual(0);
      expect(to).toBeGreaterThanOrEqual(from);
      return [from, to] as [number, number];
    });
}

test('on a local store each block read ahead is a read of its own, eight blocks ahead', async () => {
  const store = new CountingStore();
  const { range, footer, input } = await segment(store);
  expect(footer.blocks.length).toBe(BATCHES / 2);
  const got = await readAll(new RangeReader(store, new BlockCache(64 << 20), 32, 0), range);
  expect(Buffer.concat(got.map((b) => b.buf)).equals(Buffer.concat(input))).toBe(true);
  const gets = blockGets(store, footer);
  expect(gets.every(([a, b]) => a === b)).toBe(true);
  expect(gets.map(([a]) => a).sort((x, y) => x - y)).toEqual(footer.blocks.map((_, i) => i));
});

test('on an object store adjacent blocks read ahead share GETs of up to readAheadGetBytes, each block fetched once', async () => {
  const store = new CountingStore();
  const { range, footer, input } = await segment(store);
  const getBytes = 200_000;
  const got = await readAll(new RangeReader(store, new BlockCache(64 << 20), 32, getBytes), range);
  expect(Buffer.concat(got.map((b) => b.buf)).equals(Buffer.concat(input))).toBe(true);
  const gets = blockGets(store, footer);
  const fetched = gets.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, k) => a + k)).sort((x, y) => x - y);
  expect(fetched).toEqual(footer.blocks.map((_, i) => i));
  for (const [a, b] of gets) if (b > a) expect(footer.blocks[b]!.position + footer.blocks[b]!.length - footer.blocks[a]!.position).toBeLessThanOrEqual(getBytes);
  // 30 blocks of about 61 KB: three to a GET after the first block
  expect(gets.length).toBeLessThanOrEqual(12);
});

test('a damaged block inside a shared GET is refused when its turn comes; the blocks before it are served', async () => {
  const store = new CountingStore();
  const { range, footer, input } = await segment(store);
  const bad = footer.blocks[7]!;
  store.objects.get(KEY)![bad.position + 100] ^= 0xff;
  const reader = new RangeReader(store, new BlockCache(64 << 20), 32, 200_000);
  const out: StoredBatch[] = [];
  let offset = 0;
  let error: unknown;
  try {
    while (offset < range.nextOffset) {
      const some = await reader.batchesFrom(range, offset);
      out.push(...some);
      offset = some[some.length - 1]!.nextOffset;
      await new Promise((r) => setImmediate(r));
    }
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(CorruptObjectError);
  expect(offset).toBe(bad.baseOffset);
  expect(Buffer.concat(out.map((b) => b.buf)).equals(Buffer.concat(input.slice(0, 14)))).toBe(true);
});
