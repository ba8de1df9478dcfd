import { expect, test } from 'vitest';
import { readAhead } from '../../src/storage/read-ahead.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test('reads ahead of the one taken, at most `ahead` of them, and gives results in order', async () => {
  const pending = new Map<number, ReturnType<typeof deferred<string>>>();
  const started: number[] = [];
  const r = readAhead([0, 1, 2, 3, 4, 5], (i) => {
    started.push(i);
    const d = deferred<string>();
    pending.set(i, d);
    return d.promise;
  }, 2);
  expect(started).toEqual([]);
  const first = r.next();
  // The one taken plus two ahead.
  expect(started).toEqual([0, 1, 2]);
  pending.get(2)!.resolve('c');
  pending.get(1)!.resolve('b');
  pending.get(0)!.resolve('a');
  expect(await first).toBe('a');
  expect(await r.next()).toBe('b');
  expect(started).toEqual([0, 1, 2, 3]);
  expect(await r.next()).toBe('c');
  expect(started).toEqual([0, 1, 2, 3, 4]);
  pending.get(3)!.resolve('d');
  pending.get(4)!.resolve('e');
  expect(await r.next()).toBe('d');
  expect(started).toEqual([0, 1, 2, 3, 4, 5]);
  pending.get(5)!.resolve('f');
  expect([await r.next(), await r.next()]).toEqual(['e', 'f']);
  await expect(r.next()).rejects.toThrow(/all 6 items taken/);
});

test('with nothing ahead, each read starts when it is taken', async () => {
  const started: number[] = [];
  const r = readAhead([0, 1, 2], async (i) => (started.push(i), i), 0);
  expect(await r.next()).toBe(0);
  expect(started).toEqual([0]);
  expect(await r.next()).toBe(1);
  expect(started).toEqual([0, 1]);
});

test('a read that fails ahead of its turn fails at its turn, not as an unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const r = readAhead([0, 1, 2], async (i) => {
      if (i === 2) throw new Error('read 2 failed');
      await new Promise((res) => setTimeout(res, 20));
      return i;
    }, 4);
    expect(await r.next()).toBe(0);
    await new Promise((res) => setTimeout(res, 30));
    expect(await r.next()).toBe(1);
    await expect(r.next()).rejects.toThrow('read 2 failed');
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
