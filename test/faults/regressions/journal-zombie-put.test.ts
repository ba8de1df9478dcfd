// Found by scenario 05 (S3 faults: a delayed PUT is still forwarded after the
// broker gave up on it, and the broker is killed and restarted inside fault
// windows), shown here deterministically. The embedded metadata journal
// in the object store (S3 storage; src/coordination/object-persistence.ts)
// names each journal object by the sequence number of its first record. A
// broker killed while a journal PUT is in flight leaves that PUT behind; if
// the store completes it after the next incarnation has loaded the journal
// and written its own object under the same sequence number (S3 may finish a
// request whose client is gone; scenario 05's delay fault forwards it 4-6 s
// later, as such a store would), the zombie replaces the new object. The new
// incarnation acknowledged what that object held; the next start replays the
// dead incarnation's record instead: here an acknowledged topic creation is
// gone and a never-acknowledged one appears.
//
// Fixed: each start writes under keys of its own (<seq>-<incarnation>) and
// the loader drops a dead incarnation's records from the first sequence
// number a later incarnation wrote on.
import pino from 'pino';
import { expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../../src/coordination/embedded-metadata-store.js';
import type { MetadataState, Operation } from '../../../src/coordination/manifest-state.js';
import { ObjectPersistence } from '../../../src/coordination/object-persistence.js';
import { MemoryObjectStore } from '../../../src/storage/memory-object-store.js';

const log = pino({ level: 'silent' });

/** Holds back the PUTs of journal objects while `hold` is set: they land when released, whatever happened since. */
class HoldingStore extends MemoryObjectStore {
  hold = false;
  held: Array<() => void> = [];
  override async put(key: string, body: Buffer | Buffer[]): Promise<void> {
    if (this.hold && key.startsWith('meta/journal/')) {
      const data = Buffer.concat(Array.isArray(body) ? body : [body]);
      // The request reached the store; the caller never hears back.
      this.held.push(() => this.objects.set(key, data));
      return new Promise<void>(() => {});
    }
    return super.put(key, body);
  }
}

const open = async (store: HoldingStore) => {
  const m = new EmbeddedMetadataStore(new ObjectPersistence<MetadataState, Operation>(store), log);
  await m.start();
  return m;
};
const topic = (name: string) => ({ name, topicId: `${name.padEnd(21, 'A')}Q`, partitions: 1, configs: {} });

test('a journal PUT of a dead incarnation that lands late does not replace what the next incarnation acknowledged', async () => {
  const store = new HoldingStore();
  const first = await open(store);
  await first.createTopic(topic('before'));
  // Incarnation 1: its next journal write is in flight when it is killed (never resolves here).
  store.hold = true;
  void first.createTopic(topic('zombie')).catch(() => {});
  await new Promise((r) => setTimeout(r, 10));
  store.hold = false;
  // Incarnation 2 loads (the zombie has not landed) and acknowledges a topic creation.
  const second = await open(store);
  expect([...second.topics().keys()]).toEqual(['before']);
  await second.createTopic(topic('acknowledged'));
  // The dead incarnation's PUT lands now.
  for (const f of store.held) f();
  // Incarnation 3 must see what incarnation 2 acknowledged, and not what nobody acknowledged.
  const third = await open(store);
  expect([...third.topics().keys()].sort()).toEqual(['acknowledged', 'before']);
});

test('a dead incarnation\'s PUT that landed before the next start is kept; objects without an incarnation (older versions) still load', async () => {
  const store = new HoldingStore();
  const first = await open(store);
  await first.createTopic(topic('before'));
  // Journal objects as versions before incarnations named them: <seq> only.
  for (const k of [...store.objects.keys()].filter((k) => k.startsWith('meta/journal/'))) {
    store.objects.set(k.replace(/-\d+$/, ''), store.objects.get(k)!);
    store.objects.delete(k);
  }
  store.hold = true;
  void first.createTopic(topic('late')).catch(() => {});
  await new Promise((r) => setTimeout(r, 10));
  store.hold = false;
  for (const f of store.held) f(); // lands before the next start: it is durable, and the next start builds on it
  const second = await open(store);
  expect([...second.topics().keys()].sort()).toEqual(['before', 'late']);
  await second.createTopic(topic('third'));
  const third = await open(store);
  expect([...third.topics().keys()].sort()).toEqual(['before', 'late', 'third']);
});
