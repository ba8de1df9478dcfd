import { randomBytes } from 'node:crypto';
import { afterEach, expect, test } from 'vitest';
import { FsObjectStore, SYNC_WRITE_MAX_BYTES } from '../../src/storage/fs-object-store.js';
import { makeTempDir } from '../helpers/process.js';

const dirs: Array<{ remove(): void }> = [];
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
