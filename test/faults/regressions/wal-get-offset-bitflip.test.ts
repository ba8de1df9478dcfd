// Found by reasoning over scenario 05's bit-flipped GET bodies, shown here: a
// record batch's CRC-32C does not cover its base offset (bytes 0-7) nor its
// partition leader epoch (bytes 12-15), so a GET of a WAL range with a bit
// flipped there passed every check. The read path then served the batch at
// a wrong offset (a consumer sees another offset than was acknowledged), and
// compaction wrote it into a segment whose block CRCs then vouch for it (the
// WAL object, the only good copy, is deleted afterwards). A WAL range's
// batches are now checked against the range: contiguous from its base to its
// next offset, every batch with the leader epoch of the first. The damaged
// GET is an error (retried by the caller), never data.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../../src/coordination/embedded-metadata-store.js';
import { FilePersistence } from '../../../src/coordination/file-persistence.js';
import type { TopicRecord } from '../../../src/coordination/metadata-store.js';
import { buildBatch, decodeRecords } from '../../../src/protocol/records/index.js';
import { DEFAULT_STORAGE_OPTIONS, DEFAULT_TOPIC_STORAGE, LogManager } from '../../../src/storage/log-manager.js';
import { MemoryObjectStore } from '../../../src/storage/memory-object-store.js';
import type { ByteRange } from '../../../src/storage/object-store.js';

const log = pino({ level: 'silent' });
const topic: TopicRecord = { name: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 1, configs: {} };
let dir = '';
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A store whose next WAL GET comes back with one bit flipped at `byte` of the body. */
class FlippingStore extends MemoryObjectStore {
  flipAt: number | null = null;
  override async get(key: string, range?: ByteRange): Promise<Buffer> {
    const b = Buffer.from(await super.get(key, range));
    if (this.flipAt !== null && key.startsWith('wal/')) {
      b[this.flipAt] ^= 0x02;
      this.flipAt = null;
    }
    return b;
  }
}

async function setup() {
  dir = await mkdtemp(join(tmpdir(), 'sh-bitflip-'));
  const store = new FlippingStore();
  const open = async () => {
    const meta = new EmbeddedMetadataStore(new FilePersistence(join(dir, 'meta')), log);
    await meta.start();
    if (!meta.topics().get('t')) await meta.createTopic(topic);
    const logs = new LogManager(store, meta, { ...DEFAULT_STORAGE_OPTIONS, brokerId: 0, compactionIntervalMs: 60_000 }, () => ({ ...DEFAULT_TOPIC_STORAGE, segmentBytes: 64 << 20, segmentMs: 600_000, retentionMs: -1, retentionBytes: -1 }), log);
    await logs.start();
    return { meta, logs, p: await logs.open(topic, 0) };
  };
  let b = await open();
  for (let i = 0; i < 3; i++) await b.p.append([buildBatch({ records: [{ key: null, value: Buffer.from(`v${i}`) }, { key: null, value: Buffer.from(`w${i}`) }] })]);
  await b.logs.close();
  await b.meta.close();
  // Reopened: the tail is empty, reads go to the store.
  b = await open();
  return { store, ...b };
}

test.each([
  ['base offset', 7],
  ['partition leader epoch', 15],
])('a WAL GET with a flipped bit in the %s is an error, not data', async (_what, byte) => {
  const { store, logs, meta, p } = await setup();
  try {
    expect(p.highWatermark).toBe(6);
    store.flipAt = byte; // inside the first batch of the range [0, 2)
    await expect(p.read(0, 1 << 20)).rejects.toThrow(/damaged/);
    // The next GET is clean: the right offsets.
    const batches = await p.read(0, 1 << 20);
    expect(decodeRecords(batches[0]!).map((r) => [r.offset, r.value!.toString()])).toEqual([
      [0, 'v0'],
      [1, 'w0'],
    ]);
    // Compaction over a damaged GET fails (and is retried later); it never writes the damage into a segment.
    logs.cache.invalidatePrefix('');
    store.flipAt = byte;
    await expect(logs.compact(p, 64 << 20)).rejects.toThrow(/damaged/);
    await logs.compact(p, 64 << 20);
    expect(p.ranges.map((r) => r.kind)).toEqual(['segment']);
    const all: Array<[number, string]> = [];
    for (let o = 0; o < 6; ) {
      const bs = await p.read(o, 1 << 20);
      for (const b of bs) for (const r of decodeRecords(b)) if (r.offset >= o) all.push([r.offset, r.value!.toString()]);
      o = all[all.length - 1]![0] + 1;
    }
    expect(all).toEqual([0, 1, 2].flatMap((i) => [[2 * i, `v${i}`], [2 * i + 1, `w${i}`]]));
  } finally {
    await logs.close();
    await meta.close();
  }
});
