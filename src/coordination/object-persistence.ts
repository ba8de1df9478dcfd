// Embedded metadata persisted in the object store (used with S3 storage):
// each group commit of journal records is one object meta/journal/<seq>,
// snapshots are meta/snapshot/<seq>; objects older than the newest snapshot
// are deleted after it is written. Single writer: one broker per bucket
// prefix with embedded metadata (a cluster uses etcd).

import type { ObjectStore } from '../storage/object-store.js';
import { decodeJournal, encodeRecord, type JournalRecord } from './journal.js';
import type { LoadedState, MetadataPersistence } from './persistence.js';

const JOURNAL = 'meta/journal/';
const SNAPSHOT = 'meta/snapshot/';
const pad = (n: number) => n.toString().padStart(20, '0');
/** Pause between rewrites of a journal object whose write failed (after the store's own retries). */
const REWRITE_DELAY_MS = [250, 500, 1000, 2000, 5000];

interface Pending {
  record: JournalRecord<unknown>;
  resolve(): void;
  reject(err: Error): void;
}

export class ObjectPersistence<S, O> implements MetadataPersistence<S, O> {
  readonly description: string;
  private queue: Pending[] = [];
  private writing = false;
  private closing = false;
  private bytes = 0;
  private failed: Error | null = null;
  private journalKeys: string[] = [];
  onIdle: (() => Promise<void>) | null = null;

  constructor(private readonly store: ObjectStore) {
    this.description = `${store.description} meta/`;
  }

  async load(): Promise<LoadedState<S, O>> {
    const snaps = await this.store.list(SNAPSHOT);
    let snapshot: { seq: number; state: S } | null = null;
    if (snaps.length) {
      const latest = snaps[snaps.length - 1]!;
      snapshot = JSON.parse((await this.store.get(latest.key)).toString('utf8')) as { seq: number; state: S };
    }
    const records: JournalRecord<O>[] = [];
    for (const o of await this.store.list(JOURNAL)) {
      this.journalKeys.push(o.key);
      const { records: rs } = decodeJournal<O>(await this.store.get(o.key));
      records.push(...rs);
      this.bytes += o.size;
    }
    records.sort((a, b) => a.seq - b.seq);
    return { snapshot, records };
  }

  append(record: JournalRecord<O>): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        const body = Buffer.concat(batch.map((p) => encodeRecord(p.record)));
        const key = `${JOURNAL}${pad(batch[0]!.record.seq)}`;
        // The store retried up to its deadline. Later records may not follow a
        // missing one, and giving up would leave every later commit failing
        // until a restart: the same object is written again (the same key and
        // bytes, so a write that did land is harmless) until it lands. Callers
        // wait; their requests time out on their own deadlines.
        for (let attempt = 0; ; attempt++) {
          try {
            await this.store.put(key, body);
            break;
          } catch (err) {
            if (this.closing) {
              this.failed = err as Error;
              for (const p of [...batch, ...this.queue]) p.reject(this.failed);
              this.queue = [];
              return;
            }
            await new Promise((r) => setTimeout(r, REWRITE_DELAY_MS[Math.min(attempt, REWRITE_DELAY_MS.length - 1)]));
          }
        }
        this.journalKeys.push(key);
        this.bytes += body.length;
        for (const p of batch) p.resolve();
        if (this.queue.length === 0 && this.onIdle) {
          // A snapshot that fails is tried again at the next idle point; the journal stays valid.
          await this.onIdle().catch(() => {});
        }
      }
    } finally {
      this.writing = false;
    }
  }

  journalBytes(): number {
    return this.bytes;
  }

  async writeSnapshot(seq: number, serialized: string): Promise<void> {
    await this.store.put(`${SNAPSHOT}${pad(seq)}`, Buffer.from(serialized, 'utf8'));
    const old = this.journalKeys;
    this.journalKeys = [];
    this.bytes = 0;
    for (const k of old) await this.store.delete(k).catch(() => {});
    for (const s of await this.store.list(SNAPSHOT)) if (s.key !== `${SNAPSHOT}${pad(seq)}`) await this.store.delete(s.key).catch(() => {});
  }

  async close(): Promise<void> {
    this.closing = true;
    while (this.writing || this.queue.length) await new Promise((r) => setTimeout(r, 2));
  }
}
