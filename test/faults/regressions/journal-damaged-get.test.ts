// Found with scenario 05's damaged GET bodies (a body cut short with a
// matching Content-Length, or bits flipped) applied to the metadata journal:
// the embedded store on S3 read its journal objects at start-up and decoded
// each up to its first damaged record, as if a crash had torn it. But a
// journal object is written whole by one PUT: a short decode there is a
// damaged read, and the records dropped with it had been acknowledged (the
// next objects were replayed on top of the hole). Now the object is read
// again; if it stays damaged, the start-up fails instead of losing records.
import pino from 'pino';
import { expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../../src/coordination/embedded-metadata-store.js';
import type { MetadataState, Operation } from '../../../src/coordination/manifest-state.js';
import { ObjectPersistence } from '../../../src/coordination/object-persistence.js';
import { MemoryObjectStore } from '../../../src/storage/memory-object-store.js';
import type { ByteRange } from '../../../src/storage/object-store.js';

const log = pino({ level: 'silent' });

/** Serves the next `damaged` GETs of journal objects cut short or bit-flipped. */
class DamagingStore extends MemoryObjectStore {
  damaged = 0;
  how: 'short' | 'flip' = 'short';
  override async get(key: string, range?: ByteRange): Promise<Buffer> {
    const b = await super.get(key, range);
    if (this.damaged > 0 && key.startsWith('meta/journal/')) {
      this.damaged--;
      if (this.how === 'short') return b.subarray(0, b.length - 5);
      const c = Buffer.from(b);
      c[c.length - 3] ^= 0x10;
      return c;
    }
    return b;
  }
}

const open = async (store: MemoryObjectStore) => {
  const m = new EmbeddedMetadataStore(new ObjectPersistence<MetadataState, Operation>(store), log);
  await m.start();
  return m;
};
const topic = (name: string) => ({ name, topicId: `${name.padEnd(21, 'A')}Q`, partitions: 1, configs: {} });

test.each(['short', 'flip'] as const)('a damaged (%s) GET of a journal object at start-up is read again, never taken for a torn tail', async (how) => {
  const store = new DamagingStore();
  const first = await open(store);
  for (const n of ['a', 'b', 'c']) await first.createTopic(topic(n));
  store.how = how;
  store.damaged = 2;
  const second = await open(store);
  expect([...second.topics().keys()].sort()).toEqual(['a', 'b', 'c']);
  // Damaged for good: the start-up fails loudly.
  store.damaged = 1000;
  await expect(open(store)).rejects.toThrow(/damaged/);
});

test('a metadata snapshot read with a flipped bit that still parses is read again', async () => {
  const store = new MemoryObjectStore();
  // Snapshot after every write: the state comes back from a snapshot object.
  const first = new EmbeddedMetadataStore(new ObjectPersistence<MetadataState, Operation>(store), log, 1);
  await first.start();
  for (const n of ['a', 'b']) await first.createTopic(topic(n));
  await first.allocateProducerIds(1000);
  await first.close();
  const snapKey = [...store.objects.keys()].filter((k) => k.startsWith('meta/snapshot/')).sort().pop()!;
  let flips = 2;
  const damaging = Object.assign(Object.create(store) as MemoryObjectStore, {
    async get(key: string, range?: ByteRange): Promise<Buffer> {
      const b = Buffer.from(await store.get(key, range));
      if (key === snapKey && flips-- > 0) {
        // A digit of nextProducerId turns into another digit: still valid JSON.
        const at = b.indexOf('"nextProducerId":') + '"nextProducerId":'.length;
        b[at] ^= 0x01;
      }
      return b;
    },
  });
  const second = new EmbeddedMetadataStore(new ObjectPersistence<MetadataState, Operation>(damaging), log, 1);
  await second.start();
  expect(await second.allocateProducerIds(1)).toBe(2000);
  expect([...second.topics().keys()].sort()).toEqual(['a', 'b']);
});
