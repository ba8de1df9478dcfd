// WAL object keys: prepared ahead (created empty and synced, so a flush only
// writes and syncs data). A refill used to be thrown away whenever any key was
// issued while it was being prepared (to keep names in write order, which
// nothing needs), which under load was nearly always: most flushes then
// created, renamed and synced a fresh file (produce p50 18 ms instead of 7 ms
// at 1,000 records/s here), and fast small flushes spiralled into that path.
import pino from 'pino';
import { expect, test } from 'vitest';
import type { MetadataStore } from '../../src/coordination/metadata-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { WalWriter } from '../../src/storage/wal-writer.js';

test('prepared WAL keys are used under steady flushing, and no refill is thrown away', async () => {
  const prepared = new Set<string>();
  const deleted: string[] = [];
  const store = {
    description: 'stub',
    prepare: async (keys: string[]) => {
      await new Promise((r) => setTimeout(r, 3));
      for (const k of keys) prepared.add(k);
    },
    delete: async (k: string) => {
      deleted.push(k);
    },
  } as unknown as ObjectStore;
  const w = new WalWriter(store, {} as MetadataStore, { brokerId: 1, flushMs: 0, flushBytes: 1 << 20, maxInflight: 4, minOverlapBytes: 256 * 1024, maxBufferedBytes: 1 << 30 }, pino({ level: 'silent' }));
  await w.start();
  const issued: string[] = [];
  for (let i = 0; i < 500; i++) {
    issued.push((w as unknown as { nextKey(): string }).nextKey());
    // a flush every millisecond
    await new Promise((r) => setTimeout(r, 1));
  }
  expect(new Set(issued).size).toBe(issued.length);
  const fromPrepared = issued.filter((k) => prepared.has(k)).length;
  expect(fromPrepared).toBeGreaterThan(450);
  expect(deleted).toEqual([]);
  await w.close();
});
