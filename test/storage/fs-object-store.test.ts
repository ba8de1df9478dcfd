import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { FsObjectStore, SYNC_WRITE_MAX_BYTES, writeAllParallel } from '../../src/storage/fs-object-store.js';
import { ObjectNotFoundError } from '../../src/storage/object-store.js';
import { ReadDescriptors } from '../../src/storage/read-descriptors.js';
import { makeTempDir } from '../helpers/process.js';

const dirs: Array<{ dir: string; remove(): void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

async function store(): Promise<FsObjectStore> {
  const d = makeTempDir('sh-fs-store-');
  dirs.push(d);
  return new FsObjectStore(d.dir);
}

// Odd-sized chunks that straddle the 1 MiB sync steps of a large put.
const chunks = [randomBytes(700_000), randomBytes(1), randomBytes(3 << 20), randomBytes(1_500_001), randomBytes(17)];
const whole = Buffer.concat(chunks);

test('a large object put in chunks (synced as it goes) reads back byte for byte, whole and by range', async () => {
  const s = await store();
  await s.put('segments/t/0/00000000000000000000.seg', chunks);
  expect((await s.get('segments/t/0/00000000000000000000.seg')).equals(whole)).toBe(true);
  const r = { start: (1 << 20) - 5, end: (3 << 20) + 11 };
  expect((await s.get('segments/t/0/00000000000000000000.seg', r)).equals(whole.subarray(r.start, r.end))).toBe(true);
  await s.close();
});

test('segments (written and read with O_DIRECT) read back by ranges at any alignment, and a range past the end fails', async () => {
  const s = await store();
  const key = 'segments/t/0/00000000000000000001.seg';
  await s.put(key, chunks);
  const piece = 1 << 20;
  for (const [start, end] of [
    [0, 1],
    [4095, 4097],
    [511, 513],
    [piece - 1, piece + 1],
    [piece - 4096, 3 * piece + 4096],
    [whole.length - 17, whole.length],
    [12_345, whole.length],
    [7, 7],
  ] as const) {
    expect((await s.get(key, { start, end })).equals(whole.subarray(start, end))).toBe(true);
  }
  await expect(s.get(key, { start: whole.length - 10, end: whole.length + 10 })).rejects.toThrow(/short read/);
  await s.close();
});

test('segments put and read at once, catching up or not, do not share staging memory', async () => {
  const s = await store();
  const bodies = Array.from({ length: 6 }, (_, i) => [randomBytes((2 << 20) + i * 4099), randomBytes(i * 513 + 1)]);
  await Promise.all(bodies.map((b, i) => s.put(`segments/t/${i}/0.seg`, b, { catchUp: i % 2 === 0 })));
  const got = await Promise.all(bodies.map((_, i) => s.get(`segments/t/${i}/0.seg`)));
  for (const [i, b] of bodies.entries()) expect(got[i]!.equals(Buffer.concat(b))).toBe(true);
  const ranges = await Promise.all(bodies.map((_, i) => s.get(`segments/t/${i}/0.seg`, { start: 3, end: (2 << 20) + 1 })));
  for (const [i, b] of bodies.entries()) expect(ranges[i]!.equals(Buffer.concat(b).subarray(3, (2 << 20) + 1))).toBe(true);
  await s.close();
});

test('where O_DIRECT refuses the staging memory (EINVAL) segments are written and read the buffered way', async () => {
  const d = makeTempDir('sh-fs-store-');
  dirs.push(d);
  const s = new FsObjectStore(d.dir, { directStaging: (n) => Buffer.alloc(n + 1).subarray(1) });
  const key = 'segments/t/0/00000000000000000000.seg';
  await s.put(key, chunks);
  expect((await s.get(key)).equals(whole)).toBe(true);
  expect((await s.get(key, { start: 5, end: 4099 })).equals(whole.subarray(5, 4099))).toBe(true);
  await s.close();
  // A segment written with O_DIRECT, read where O_DIRECT reads are refused.
  const w = new FsObjectStore(d.dir);
  await w.put('segments/t/0/1.seg', chunks);
  await w.close();
  const r = new FsObjectStore(d.dir, { directStaging: (n) => Buffer.alloc(n + 1).subarray(1) });
  expect((await r.get('segments/t/0/1.seg', { start: 4097, end: (1 << 20) + 3 })).equals(whole.subarray(4097, (1 << 20) + 3))).toBe(true);
  expect((await r.get('segments/t/0/1.seg')).equals(whole)).toBe(true);
  await r.close();
});

test.skipIf(!existsSync('/dev/shm'))('on tmpfs (which takes O_DIRECT as a hint) segments read back byte for byte', async () => {
  const dir = mkdtempSync('/dev/shm/sh-fs-store-');
  try {
    const s = new FsObjectStore(dir);
    const key = 'segments/t/0/00000000000000000000.seg';
    await s.put(key, chunks);
    expect((await s.get(key)).equals(whole)).toBe(true);
    expect((await s.get(key, { start: 5, end: 4099 })).equals(whole.subarray(5, 4099))).toBe(true);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a parallel write to a descriptor that refuses writes fails with its error, and writes nothing', async () => {
  const d = makeTempDir('sh-fs-parallel-');
  dirs.push(d);
  const path = join(d.dir, 'ro');
  writeFileSync(path, '');
  const fd = openSync(path, 'r');
  await expect(writeAllParallel(fd, chunks, 0, 4)).rejects.toMatchObject({ code: 'EBADF' });
  closeSync(fd);
  expect(statSync(path).size).toBe(0);
});

test('a prepared object is written in place the same way', async () => {
  const s = await store();
  await s.prepare(['wal/0/1']);
  await s.put('wal/0/1', chunks);
  expect((await s.get('wal/0/1')).equals(whole)).toBe(true);
  await s.put('wal/0/2', whole.subarray(0, 10));
  expect((await s.get('wal/0/2')).equals(whole.subarray(0, 10))).toBe(true);
  await s.close();
});

test('prepared objects below and above the synchronous-write bound read back byte for byte', async () => {
  const s = await store();
  const small = [randomBytes(1000), randomBytes(SYNC_WRITE_MAX_BYTES - 1000)];
  const large = [randomBytes(SYNC_WRITE_MAX_BYTES), randomBytes(1)];
  await s.prepare(['wal/0/a', 'wal/0/b']);
  await s.put('wal/0/a', small);
  await s.put('wal/0/b', large);
  expect((await s.get('wal/0/a')).equals(Buffer.concat(small))).toBe(true);
  expect((await s.get('wal/0/b')).equals(Buffer.concat(large))).toBe(true);
  await s.close();
});

test('a deleted object becomes a spare that the next prepare reuses, old bytes and all, under its new key only', async () => {
  const s = await store();
  const d = dirs[dirs.length - 1]!;
  await s.put('wal/0/old', whole);
  const oldIno = statSync(join(d.dir, 'wal/0/old')).ino;
  await s.delete('wal/0/old');
  await expect(s.get('wal/0/old')).rejects.toBeInstanceOf(ObjectNotFoundError);
  expect(await s.list('wal/')).toEqual([]);
  await s.prepare(['wal/0/new']);
  expect(statSync(join(d.dir, 'wal/0/new')).ino).toBe(oldIno);
  expect(statSync(join(d.dir, 'wal/0/new')).size).toBe(whole.length);
  // A smaller object: the file is cut to its size, no old byte past it.
  await s.put('wal/0/new', [Buffer.from('fresh')]);
  expect((await s.get('wal/0/new')).toString()).toBe('fresh');
  expect((await s.list('wal/')).map(({ key, size }) => ({ key, size }))).toEqual([{ key: 'wal/0/new', size: 5 }]);
  await s.close();
  expect(readdirSync(join(d.dir, 'wal/0'))).toEqual(['new']);
});

test('a recycled file takes objects smaller and larger than its old bytes, on both write paths', async () => {
  const s = await store();
  const old = randomBytes(SYNC_WRITE_MAX_BYTES + 4096);
  const cases = [
    [randomBytes(100)], // synchronous, shrinks
    [randomBytes(SYNC_WRITE_MAX_BYTES + 10), randomBytes(5000)], // asynchronous, grows
    [randomBytes(SYNC_WRITE_MAX_BYTES + 100)], // asynchronous, shrinks
    [randomBytes(SYNC_WRITE_MAX_BYTES - 1)], // synchronous, shrinks
  ];
  for (const [i, body] of cases.entries()) {
    await s.put('wal/0/x', [old]);
    await s.delete('wal/0/x');
    await s.prepare([`wal/0/${i}`]);
    await s.put(`wal/0/${i}`, body);
    expect((await s.get(`wal/0/${i}`)).equals(Buffer.concat(body))).toBe(true);
    await s.delete(`wal/0/${i}`);
  }
  await s.close();
});

test('spares keep old bytes only within their budget, and never a large object\'s', async () => {
  const d = makeTempDir('sh-fs-store-');
  dirs.push(d);
  const s = new FsObjectStore(d.dir, { spareKeepBytes: 3000 });
  const sizes = async (keys: string[]) => {
    await s.prepare(keys);
    return keys.map((k) => statSync(join(d.dir, k)).size);
  };
  for (const k of ['a', 'b', 'c']) await s.put(`wal/0/${k}`, [Buffer.alloc(1000, k)]);
  await s.put('wal/0/big', [Buffer.alloc(1000)]);
  for (const k of ['a', 'b', 'c']) await s.delete(`wal/0/${k}`);
  await s.delete('wal/0/big'); // over the budget: emptied
  // Last deleted, first reused.
  expect(await sizes(['wal/0/1', 'wal/0/2', 'wal/0/3', 'wal/0/4'])).toEqual([0, 1000, 1000, 1000]);
  await s.close();

  const t = await store();
  const td = dirs[dirs.length - 1]!;
  await t.put('segments/s', [Buffer.alloc((16 << 20) + 1)]);
  await t.delete('segments/s');
  await t.prepare(['wal/0/y']);
  expect(statSync(join(td.dir, 'wal/0/y')).size).toBe(0);
  await t.close();
});

test('prepare never replaces an existing object, spare or not', async () => {
  const s = await store();
  await s.put('wal/0/a', [Buffer.from('kept')]);
  await s.put('wal/0/b', [Buffer.from('gone')]);
  await s.delete('wal/0/b');
  await expect(s.prepare(['wal/0/a'])).rejects.toMatchObject({ code: 'EEXIST' });
  expect((await s.get('wal/0/a')).toString()).toBe('kept');
  // the spare is still there for the next prepare
  await s.prepare(['wal/0/c']);
  await s.put('wal/0/c', [Buffer.from('c')]);
  expect((await s.get('wal/0/c')).toString()).toBe('c');
  await s.close();
});

test('an object deleted while a read of it is in progress is unlinked, not emptied under the reader', async () => {
  const s = await store();
  const big = randomBytes(4 << 20); // above the synchronous-read bound: the read yields
  await s.put('wal/0/r', [big]);
  const reading = s.get('wal/0/r');
  await s.delete('wal/0/r');
  expect((await reading).equals(big)).toBe(true);
  await s.prepare(['wal/0/next']);
  expect(statSync(join(dirs[dirs.length - 1]!.dir, 'wal/0/next')).size).toBe(0);
  await s.close();
});

test('a descriptor pushed out of the LRU while a read holds it still counts as in use until the read ends', () => {
  const d = makeTempDir('sh-fs-store-');
  dirs.push(d);
  for (const k of ['a', 'b']) writeFileSync(join(d.dir, k), k);
  const fds = new ReadDescriptors(1);
  const a = fds.acquire('a', join(d.dir, 'a'));
  fds.acquire('b', join(d.dir, 'b')).release(); // evicts a's entry, which a's read still holds
  // delete() asks this before it empties a file for reuse: a yes unlinks it instead.
  expect(fds.inUse('a')).toBe(true);
  expect(fstatSync(a.fd).size).toBe(1);
  a.release();
  expect(fds.inUse('a')).toBe(false);
  fds.retireAll();
});

test('a restart removes the spares a crash left', async () => {
  const d = makeTempDir('sh-fs-store-');
  dirs.push(d);
  const s = new FsObjectStore(d.dir);
  await s.put('wal/0/x', [Buffer.from('x')]);
  await s.delete('wal/0/x');
  expect(readdirSync(join(d.dir, 'wal/0')).length).toBe(1); // the spare; no close(): as after kill -9
  const again = new FsObjectStore(d.dir);
  expect(await again.removeTempFiles()).toBe(1);
  expect(readdirSync(join(d.dir, 'wal/0'))).toEqual([]);
  await again.close();
});

test('an object deleted while its prepared write is in progress is unlinked, not made a spare the write lands in', async () => {
  const s = await store();
  const d = dirs[dirs.length - 1]!;
  await s.prepare(['wal/0/w']);
  const big = randomBytes(4 << 20); // above the synchronous-write bound: the write yields
  const writing = s.put('wal/0/w', [big]);
  await s.delete('wal/0/w');
  await writing;
  await s.prepare(['wal/0/next']);
  expect(statSync(join(d.dir, 'wal/0/next')).size).toBe(0);
  expect(readdirSync(join(d.dir, 'wal/0'))).toEqual(['next']);
  await s.close();
});
