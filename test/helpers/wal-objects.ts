// WAL objects that carry their own commit, written as the WAL writer writes
// them for the embedded store: tests of its recovery and journal use them.
import type { WalCommit } from '../../src/coordination/metadata-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { encodeWalObject } from '../../src/storage/wal-object.js';

/** Writes `key`: one 70-byte run of partition 0 holding offsets base..base+count, its commit in slot `walSeq`; returns the commit. */
export async function writeCommittedWalObject(objects: ObjectStore, o: { topicId: string; epoch: number; walSeq: number; key: string; base: number; count: number }): Promise<WalCommit> {
  const { topicId, epoch, walSeq, key } = o;
  const enc = encodeWalObject([{ topicId, partition: 0, baseOffset: o.base, nextOffset: o.base + o.count, maxTimestamp: 1, batches: [Buffer.alloc(70, walSeq)] }], (locs) => {
    const { position, length, baseOffset, nextOffset, maxTimestamp } = locs[0]!;
    return {
      brokerId: 0,
      objectKey: key,
      walSeq,
      appends: [{ topicId, partition: 0, leaderEpoch: epoch, range: { kind: 'wal', key, position, length, baseOffset, nextOffset, maxTimestamp }, producers: [] }],
    };
  });
  await objects.put(key, enc.chunks);
  return enc.commit!;
}
