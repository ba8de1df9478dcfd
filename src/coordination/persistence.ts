// Where the embedded metadata store keeps its journal and snapshots: in the
// data directory (local storage), or in the object store itself (S3), so that
// with S3 the local disk is a cache and a broker restarted on a fresh data
// directory finds everything in the bucket.

import type { JournalRecord } from './journal.js';

export interface LoadedState<S, O> {
  snapshot: { seq: number; state: S } | null;
  records: JournalRecord<O>[];
}

export interface SnapshotWriter {
  write(serialized: Buffer[]): Promise<void>;
}

export interface MetadataPersistence<S, O> {
  readonly description: string;
  load(): Promise<LoadedState<S, O>>;
  /** Durable when resolved; concurrent appends are group-committed. */
  append(record: JournalRecord<O>): Promise<void>;
  /** Bytes journaled since the last snapshot. */
  journalBytes(): number;
  /** Called after a write with nothing queued: a safe point for a snapshot. */
  onIdle: (() => Promise<void>) | null;
  /**
   * Starts replacing the journal by a snapshot holding exactly the records
   * appended so far (up to `seq`), at an idle point, when every one of them
   * is durable. Records appended from here on are journaled apart, and stay.
   * The writer stores the snapshot, serialized meanwhile, then drops the
   * journal before it; when it fails, or is never called, that journal stays
   * (and counts in journalBytes again).
   */
  beginSnapshot(seq: number): Promise<SnapshotWriter>;
  close(): Promise<void>;
}
