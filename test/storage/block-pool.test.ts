// Block memory reuse: a block's memory serves another block only once the
// cache has let it go, every fetch that pinned it has released it, nothing
// tainted it, and a macrotask has passed. test/e2e/block-reuse.test.ts checks
// the same through a broker process and real clients.
import { randomBytes } from 'node:crypto';
import { expect, test } from 'vitest';
import type { LogRange } from '../../src/coordination/metadata-store.js';
import { buildBatch } from '../../src/protocol/records/records.js';
import { BlockCache } from '../../src/storage/block-cache.js';
import { BlockPins, BlockPool, BlockReusedError } from '../../src/storage/block-pool.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import type { ByteRange, GetOptions } from '../../src/storage/object-store.js';
import { RangeReader } from '../../src/storage/range-reader.js';
import { encodeSegment } from '../../src/storage/segment.js';

const turn = () => new Promise((r) => setImmediate(r));
const KiB = 1024;

test('memory the cache let go is reused for a block of its class, from the next macrotask on', async () => {
  const pool = new BlockPool(1 << 20);
  const a = pool.allocate(100 * KiB);
  expect(a.length).toBe(100 * KiB);
  pool.evicted(a);
  // Same turn: a reader whose read resolved in this turn may still pin it.
  const b = pool.allocate(100 * KiB);
  expect(b.buffer).not.toBe(a.buffer);
  await turn();
  const c = pool.allocate(120 * KiB);
  expect(c.buffer).toBe(a.buffer);
  expect(c.length).toBe(120 * KiB);
  expect(pool.stats).toMatchObject({ allocated: 2, reused: 1 });
  // Another class does not get it.
  pool.evicted(b);
  await turn();
  expect(pool.allocate(300 * KiB).buffer).not.toBe(b.buffer);
});

test('a pinned block is reused only after its last unpin, a tainted one never', async () => {
  const pool = new BlockPool(1 << 20);
  const a = pool.allocate(64 * KiB);
  expect(pool.pin(a)).toBe(true);
  expect(pool.pin(a)).toBe(true);
  pool.evicted(a);
  await turn();
  pool.unpin(a);
  await turn();
  expect(pool.freeMemoryBytes).toBe(0);
  pool.unpin(a);
  await turn();
  expect(pool.freeMemoryBytes).toBe(64 * KiB);

  const t = pool.allocate(64 * KiB);
  expect(t.buffer).toBe(a.buffer);
  pool.taint(t);
  pool.evicted(t);
  await turn();
  expect(pool.freeMemoryBytes).toBe(0);
  expect(pool.stats.tainted).toBe(1);
});

test('a pin or taint in the turn the cache let the block go keeps it', async () => {
  const pool = new BlockPool(1 << 20);
  const a = pool.allocate(64 * KiB);
  pool.evicted(a);
  pool.pin(a);
  const b = pool.allocate(64 * KiB);
  pool.evicted(b);
  pool.taint(b);
  await turn();
  expect(pool.freeMemoryBytes).toBe(0);
  pool.unpin(a);
  await turn();
  expect(pool.freeMemoryBytes).toBe(64 * KiB);
});

test('a pin or taint of memory already reused throws instead of serving another block', async () => {
  const pool = new BlockPool(1 << 20);
  const a = pool.allocate(64 * KiB);
  pool.evicted(a);
  await turn();
  pool.allocate(64 * KiB);
  expect(() => pool.pin(a)).toThrow(BlockReusedError);
  expect(() => pool.taint(a)).toThrow(BlockReusedError);
  // Buffers the pool never handed out are no business of it.
  expect(pool.pin(Buffer.alloc(10))).toBe(false);
});

test('free memory is bounded; a request takes freed memory up to a quarter larger than it needs', async () => {
  const pool = new BlockPool(128 * KiB);
  const blocks = [0, 1, 2].map(() => pool.allocate(64 * KiB));
  for (const b of blocks) pool.evicted(b);
  await turn();
  expect(pool.freeMemoryBytes).toBe(128 * KiB);

  const big = new BlockPool(16 << 20);
  const eight = big.allocate(8 << 20);
  big.evicted(eight);
  await turn();
  expect(big.allocate(6 << 20).buffer).not.toBe(eight.buffer);
  expect(big.allocate(7 << 20).buffer).toBe(eight.buffer);
});

test('memory shared by several blocks (one GET of adjacent blocks) is reused once every view is let go', async () => {
  const pool = new BlockPool(1 << 20);
  const whole = pool.allocate(192 * KiB);
  const views = [0, 1, 2].map((i) => whole.subarray(i * 64 * KiB, (i + 1) * 64 * KiB));
  for (const v of views) pool.share(whole, v);
  pool.evicted(whole);
  pool.evicted(views[0]!);
  pool.evicted(views[0]!); // counted once
  pool.pin(views[1]!);
  pool.evicted(views[1]!);
  await turn();
  expect(pool.freeMemoryBytes).toBe(0);
  pool.evicted(views[2]!);
  await turn();
  expect(pool.freeMemoryBytes).toBe(0);
  pool.unpin(views[1]!);
  await turn();
  expect(pool.freeMemoryBytes).toBe(192 * KiB);
  pool.allocate(192 * KiB);
  expect(() => pool.pin(views[2]!)).toThrow(BlockReusedError);
  // A taint of one view keeps the whole.
  const w2 = pool.allocate(128 * KiB);
  const a = w2.subarray(0, 64 * KiB);
  const b = w2.subarray(64 * KiB);
  pool.share(w2, a);
  pool.share(w2, b);
  pool.evicted(w2);
  pool.taint(a);
  pool.evicted(a);
  pool.evicted(b);
  await turn();
  expect(pool.freeMemoryBytes).toBe(0);
});

test('BlockPins releases each block once; a block held after the release is tainted', async () => {
  const pool = new BlockPool(1 << 20);
  const pins = new BlockPins(pool);
  const a = pool.allocate(64 * KiB);
  pins.hold(a);
  pins.hold(Buffer.alloc(5));
  pool.evicted(a);
  pins.release();
  pins.release();
  await turn();
  expect(pool.freeMemoryBytes).toBe(64 * KiB);
  const late = pool.allocate(64 * KiB);
  pins.hold(late);
  pool.evicted(late);
  await turn();
  expect(pool.freeMemoryBytes).toBe(0);
});

test('the block cache tells what it lets go: evicted, replaced, too large, invalidated', () => {
  const gone: Buffer[] = [];
  const cache = new BlockCache(300, (b) => gone.push(b));
  const [a, b, c, d, big] = [100, 100, 100, 100, 400].map((n) => Buffer.alloc(n));
  cache.set('k#0', a!);
  cache.set('k#1', b!);
  cache.set('k#2', c!);
  expect(gone).toEqual([]);
  cache.set('k#3', d!);
  expect(gone).toEqual([a]);
  const b2 = Buffer.alloc(100);
  cache.set('k#1', b2);
  expect(gone).toEqual([a, b]);
  cache.set('k#9', big!);
  expect(gone).toEqual([a, b, big]);
  cache.invalidatePrefix('k#');
  expect(new Set(gone.slice(3))).toEqual(new Set([c, d, b2]));
  expect(cache.size).toBe(0);
});

/** A store that reads into the caller's buffers, as the local store's O_DIRECT reads do. */
class AllocatingStore extends MemoryObjectStore {
  override async get(key: string, range?: ByteRange, opts?: GetOptions): Promise<Buffer> {
    const bytes = await super.get(key, range);
    if (!opts?.allocate) return bytes;
    const out = opts.allocate(bytes.length);
    bytes.copy(out);
    return out;
  }
}

const KEY = 'segments/t/0/00000000000000000000.seg';

async function segment(store: MemoryObjectStore, batches: number): Promise<{ range: LogRange; input: Buffer[] }> {
  const input = Array.from({ length: batches }, (_, i) => buildBatch({ baseOffset: i * 2, records: [0, 1].map((k) => ({ key: null, value: randomBytes(15_000), timestamp: 1000 + i * 2 + k })) }));
  const { chunks, size } = await encodeSegment(
    input.map((buf, i) => ({ baseOffset: i * 2, nextOffset: i * 2 + 2, maxTimestamp: 1001 + i * 2, buf })),
    64 * KiB,
  );
  await store.put(KEY, chunks);
  return { range: { kind: 'segment', key: KEY, position: 0, length: size, baseOffset: 0, nextOffset: batches * 2, maxTimestamp: 1000 + batches * 2 }, input };
}

/** A 64-batch segment in an AllocatingStore, read through a 256 KiB cache whose evictions go to a pool of `poolBytes`. */
async function pooledReader(poolBytes: number, readAheadGetBytes: number): Promise<{ range: LogRange; input: Buffer[]; pool: BlockPool; cache: BlockCache; reader: RangeReader }> {
  const store = new AllocatingStore();
  const { range, input } = await segment(store, 64);
  const pool = new BlockPool(poolBytes);
  const cache = new BlockCache(256 * KiB, (b) => pool.evicted(b));
  return { range, input, pool, cache, reader: new RangeReader(store, cache, 8, readAheadGetBytes, pool) };
}

/**
 * Reads the whole range as fetches do: each read holds its batches (pinned
 * or not) while `keep` later reads are made, as a response still being
 * written would, and every view held must keep its bytes until released.
 * Returns copies of every batch read, in order.
 */
async function readAllHolding(reader: RangeReader, pool: BlockPool, range: LogRange, pinned: boolean, keep: number): Promise<Buffer> {
  const got: Buffer[] = [];
  const held: Array<{ pins: BlockPins; bufs: Buffer[]; copies: Buffer[] }> = [];
  const check = (h: (typeof held)[number]) => {
    h.bufs.forEach((b, i) => expect(b.equals(h.copies[i]!)).toBe(true));
    h.pins.release();
  };
  let offset = 0;
  while (offset < range.nextOffset) {
    const pins = new BlockPins(pool);
    const some = await reader.batchesFrom(range, offset, undefined, true, pinned ? pins : undefined);
    const copies = some.map((b) => Buffer.from(b.buf));
    got.push(...copies);
    held.push({ pins, bufs: some.map((b) => b.buf), copies });
    if (held.length > keep) check(held.shift()!);
    offset = some[some.length - 1]!.nextOffset;
    await turn();
  }
  held.forEach(check);
  return Buffer.concat(got);
}

test('reads through a small cache: pinned blocks come back right and their memory is reused after release; unpinned reads taint', async () => {
  const { range, input, pool, cache, reader } = await pooledReader(1 << 20, 0);
  await readAllHolding(reader, pool, range, true, 4);
  await turn();
  expect(pool.stats.reused).toBeGreaterThan(10);

  // Every batch as written, read after the memory went round several times.
  expect((await readAllHolding(reader, pool, range, true, 4)).equals(Buffer.concat(input))).toBe(true);

  // Readers without pins (compaction, ListOffsets) taint what they read: it is left to the GC.
  cache.invalidatePrefix(KEY);
  await turn();
  const taintedBefore = pool.stats.tainted;
  await readAllHolding(reader, pool, range, false, 4);
  expect(pool.stats.tainted - taintedBefore).toBeGreaterThan(10);
});

test('on an object store, blocks of shared GETs come back right under a small cache, and the GETs\' memory is reused', async () => {
  const { range, input, pool, cache, reader } = await pooledReader(2 << 20, 200_000);
  for (let round = 0; round < 3; round++) {
    expect((await readAllHolding(reader, pool, range, true, 3)).equals(Buffer.concat(input))).toBe(true);
    cache.invalidatePrefix(KEY);
    await turn();
  }
  expect(pool.stats.reused).toBeGreaterThan(5);
});
