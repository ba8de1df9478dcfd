import { expect, test } from 'vitest';
import { FetchSessionCache } from '../../src/broker/fetch-sessions.js';

const part = (partition: number, offset = 0) => ({ partition, currentLeaderEpoch: -1, fetchOffset: BigInt(offset), logStartOffset: -1n, partitionMaxBytes: 1 << 20 });

test('the cache is bounded: a new session evicts only one unused for the eviction age, else none is made', () => {
  let now = 1_000_000;
  const realNow = Date.now;
  Date.now = () => now;
  try {
    const cache = new FetchSessionCache(2, 120_000);
    const a = cache.create(false)!;
    const b = cache.create(true)!;
    expect(a.id).not.toBe(b.id);
    expect(cache.create(false)).toBeNull(); // both in recent use
    now += 60_000;
    expect(cache.get(a.id)).toBe(a); // a used again: b is now the least recent
    now += 61_000;
    const c = cache.create(false)!; // b unused for 121 s
    expect(c).not.toBeNull();
    expect(cache.get(b.id)).toBeUndefined();
    expect(cache.get(a.id)).toBe(a);
    expect(cache.size).toBe(2);
  } finally {
    Date.now = realNow;
  }
});

test('a session answers a partition when it is new to the client, has records, an error or moved offsets; served order rotates', () => {
  const s = new FetchSessionCache().create(false)!;
  s.set('t', part(0));
  s.set('t', part(1));
  const p0 = s.partitions.get('t\u00000')!;
  expect(s.mustAnswer(p0, 0, false, 5, 0)).toBe(true); // never told
  expect(s.mustAnswer(p0, 0, false, 5, 0)).toBe(false);
  expect(s.mustAnswer(p0, 0, true, 5, 0)).toBe(true); // records
  expect(s.mustAnswer(p0, 6, false, 5, 0)).toBe(true); // an error
  expect(s.mustAnswer(p0, 0, false, 5, 2)).toBe(true); // log start moved
  s.set('t', part(0, 3)); // a new offset keeps what the client was told
  expect(s.mustAnswer(s.partitions.get('t\u00000')!, 0, false, 5, 2)).toBe(false);
  s.moveToEnd('t\u00000');
  expect([...s.partitions.values()].map((p) => p.req.partition)).toEqual([1, 0]);
  s.forget('t', 1);
  expect([...s.partitions.keys()]).toEqual(['t\u00000']);
  expect(s.epoch).toBe(1);
  s.epoch = 0x7fffffff;
  s.advance();
  expect(s.epoch).toBe(1);
});
