import { readdirSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { LocalCopyObjectStore } from '../../src/storage/local-copy-store.js';
import { MemoryObjectStore } from '../../src/storage/memory-object-store.js';
import { makeTempDir } from '../helpers/process.js';

const dirs: Array<{ dir: string; remove(): void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

/** A remote store that counts its GETs and can be made to fail PUTs. */
function remote() {
  const store = new MemoryObjectStore();
  const calls = { gets: 0 };
  let failPuts = false;
  const get = store.get.bind(store);
  const put = store.put.bind(store);
  store.get = async (key, range) => {
    calls.gets++;
    return get(key, range);
  };
  store.put = async (key, body, opts) => {
    if (failPuts) throw new Error('remote down');
    return put(key, body, opts);
  };
  return { store, calls, failPuts: (v: boolean) => (failPuts = v) };
}

async function open(maxBytes = 1 << 20) {
  const d = makeTempDir('sh-local-copy-');
  dirs.push(d);
  const r = remote();
  const dir = join(d.dir, 'wal-copies');
  return { ...r, dir, local: await LocalCopyObjectStore.open(r.store, dir, maxBytes) };
}

test('a WAL object is read back from its local copy, whole and by range, without a GET', async () => {
  const { local, store, calls } = await open();
  const body = [Buffer.from('SHWAL001'), Buffer.from('runs...'), Buffer.from('footer')];
  await local.put('wal/0/1.wal', body);
  expect((await store.get('wal/0/1.wal')).toString()).toBe('SHWAL001runs...footer');
  calls.gets = 0;
  expect((await local.get('wal/0/1.wal')).toString()).toBe('SHWAL001runs...footer');
  expect((await local.get('wal/0/1.wal', { start: 8, end: 15 })).toString()).toBe('runs...');
  expect(calls.gets).toBe(0);
  expect(local.stats.hits).toBe(2);
});

test('other objects (segments, metadata) are not copied', async () => {
  const { local, calls, dir } = await open();
  await local.put('segments/t/0/0.seg', Buffer.from('segment'));
  expect((await local.get('segments/t/0/0.seg')).toString()).toBe('segment');
  expect(calls.gets).toBe(1);
  expect(readdirSync(dir)).toEqual([]);
});

test('copies are bounded in bytes, oldest out first; an evicted object comes from the remote store', async () => {
  const { local, calls } = await open(250);
  for (let i = 0; i < 5; i++) await local.put(`wal/0/${i}.wal`, Buffer.alloc(100, 48 + i));
  expect(local.copiedBytes).toBe(200);
  expect((await local.get('wal/0/4.wal'))[0]).toBe(52);
  expect(calls.gets).toBe(0);
  expect((await local.get('wal/0/0.wal'))[0]).toBe(48);
  expect(calls.gets).toBe(1);
});

test('a damaged copy is dropped and the remote store answers', async () => {
  const { local, calls, dir } = await open();
  await local.put('wal/0/1.wal', Buffer.alloc(1000, 7));
  truncateSync(join(dir, encodeURIComponent('wal/0/1.wal')), 10);
  expect((await local.get('wal/0/1.wal')).equals(Buffer.alloc(1000, 7))).toBe(true);
  expect(calls.gets).toBe(1);
  expect(local.copiedBytes).toBe(0);
});

test('a failed remote put leaves no copy; a delete removes both', async () => {
  const { local, store, failPuts, dir } = await open();
  failPuts(true);
  await expect(local.put('wal/0/1.wal', Buffer.from('x'))).rejects.toThrow('remote down');
  await new Promise((r) => setTimeout(r, 20));
  expect(readdirSync(dir)).toEqual([]);
  failPuts(false);
  await local.put('wal/0/2.wal', Buffer.from('y'));
  await local.delete('wal/0/2.wal');
  await expect(store.get('wal/0/2.wal')).rejects.toThrow();
  await expect(local.get('wal/0/2.wal')).rejects.toThrow();
  await new Promise((r) => setTimeout(r, 20));
  expect(readdirSync(dir)).toEqual([]);
});

test('opening empties the directory: copies of a previous run may be of objects since deleted', async () => {
  const first = await open();
  await first.local.put('wal/0/1.wal', Buffer.from('old'));
  expect(readdirSync(first.dir)).toHaveLength(1);
  const again = await LocalCopyObjectStore.open(first.store, first.dir, 1 << 20);
  expect(readdirSync(first.dir)).toEqual([]);
  first.calls.gets = 0;
  expect((await again.get('wal/0/1.wal')).toString()).toBe('old');
  expect(first.calls.gets).toBe(1);
});

test('a put whose bytes the writer keeps in memory (localCopy: false) makes no copy: its reads go to the remote store', async () => {
  const { local, store, calls, dir } = await open();
  await local.put('wal/1/1-0.wal', [Buffer.from('kept in memory')], { localCopy: false });
  expect(local.copiedBytes).toBe(0);
  expect(readdirSync(dir)).toEqual([]);
  expect(store.objects.has('wal/1/1-0.wal')).toBe(true);
  expect((await local.get('wal/1/1-0.wal')).toString()).toBe('kept in memory');
  expect(calls.gets).toBe(1);
});
