// Embedded metadata persisted in the object store (used with S3 storage):
// each group commit of journal records is one object meta/journal/<seq>,
// snapshots are meta/snapshot/<seq>; objects older than the newest snapshot
// are deleted after it is written. Single writer: one broker per bucket
// prefix with embedded metadata (a cluster uses etcd).
//
// Incarnations: each start of the broker writes its journal objects under
// keys of its own (meta/journal/<seq>-<incarnation>, the incarnation a start
// time above every one seen). A PUT of a killed incarnation may still land
// after the next one loaded the journal (S3 can complete a request whose
// client is gone); under the bare sequence number it replaced the new
// incarnation's object of that number, whose records had been acknowledged.
// Now both stay, and the loader drops the records of an incarnation from
// the first sequence number a later incarnation wrote on: the later one
// never saw them, and acknowledged its own instead.
//
// Recovery GETs every journal object written since the last snapshot, so the
// journal is replaced by a snapshot every SNAPSHOT_EVERY_OBJECTS objects (not
// only by size: a journal object is a few hundred bytes, and 64 MiB of them
// would take hours to read back), and they are read with bounded parallelism.

import { crc32c } from '@node-rs/crc32';
import { DAMAGED_READS, readAgainWhileDamaged } from '../storage/damaged-reads.js';
import type { ObjectStore } from '../storage/object-store.js';
import { decodeJournal, encodeRecord, type JournalRecord } from './journal.js';
import type { LoadedState, MetadataPersistence, SnapshotWriter } from './persistence.js';
import { failpoint } from '../failpoints.js';

const JOURNAL = 'meta/journal/';
const SNAPSHOT = 'meta/snapshot/';
const pad = (n: number) => n.toString().padStart(20, '0');
/** meta/journal/<seq>[-<incarnation>] (objects of versions before incarnations have none: 0). */
const seqOf = (key: string) => Number(key.slice(key.lastIndexOf('/') + 1).split('-')[0]);
const incarnationOf = (key: string) => Number(key.slice(key.lastIndexOf('/') + 1).split('-')[1] ?? 0);

/** Journal objects after which a snapshot replaces them. */
const SNAPSHOT_EVERY_OBJECTS = 1000;
/** journalBytes() counts each object as at least this much, so the store's size trigger fires by count too. */
const OBJECT_WEIGHT = Math.ceil((64 * 1024 * 1024) / SNAPSHOT_EVERY_OBJECTS);
/** Snapshot objects start with this and the crc32c of the JSON after them (a bit flip in JSON can still parse). */
const SNAPSHOT_MAGIC = Buffer.from('SHSNAP01');
/** Concurrent GETs while loading and DELETEs while collecting replaced objects. */
const PARALLEL = 16;
/** Pause between rewrites of a journal object whose write failed (after the store's own retries). */
const REWRITE_DELAY_MS = [250, 500, 1000, 2000, 5000];

interface Pending {
  record: JournalRecord<unknown>;
  resolve(): void;
  reject(err: Error): void;
}

async function inParallel<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

export class ObjectPersistence<S, O> implements MetadataPersistence<S, O> {
  readonly description: string;
  private queue: Pending[] = [];
  private writing = false;
  private closing = false;
  private failed: Error | null = null;
  private journalKeys: string[] = [];
  /** This start's incarnation: its journal objects' key suffix. */
  private incarnation = 0;
  private bytes = 0;
  /** Deletion of objects a snapshot replaced (in the background: recovery skips them anyway). */
  private collecting: Promise<void> = Promise.resolve();
  onIdle: (() => Promise<void>) | null = null;

  constructor(private readonly store: ObjectStore) {
    this.description = `${store.description} meta/`;
  }

  async load(): Promise<LoadedState<S, O>> {
    const snaps = await this.store.list(SNAPSHOT);
    let snapshot: { seq: number; state: S } | null = null;
    if (snaps.length) {
      const latest = snaps[snaps.length - 1]!;
      snapshot = await this.readSnapshot(latest.key);
    }
    const stale: string[] = snaps.slice(0, -1).map((s) => s.key);
    const live: Array<{ key: string; size: number }> = [];
    let lastIncarnation = 0;
    for (const o of await this.store.list(JOURNAL)) {
      lastIncarnation = Math.max(lastIncarnation, incarnationOf(o.key));
      // Written before the snapshot (a crash came before their deletion): every record in them is in it.
      if (snapshot && seqOf(o.key) <= snapshot.seq) stale.push(o.key);
      else live.push(o);
    }
    this.incarnation = Math.max(Date.now(), lastIncarnation + 1);
    const lastOfIncarnation = new Map<number, string>();
    for (const o of live) lastOfIncarnation.set(incarnationOf(o.key), o.key);
    const bodies = await inParallel(live, PARALLEL, (o) => this.readJournalObject(o.key, lastOfIncarnation.get(incarnationOf(o.key)) === o.key));
    // Per incarnation, in order: its records count up to the first sequence number a later incarnation wrote.
    const byIncarnation = new Map<number, Array<{ key: string; size: number; records: JournalRecord<O>[] }>>();
    live.forEach((o, i) => {
      const inc = incarnationOf(o.key);
      let l = byIncarnation.get(inc);
      if (!l) byIncarnation.set(inc, (l = []));
      l.push({ ...o, records: bodies[i]! });
    });
    const incs = [...byIncarnation.keys()].sort((a, b) => a - b);
    const records: JournalRecord<O>[] = [];
    let limit = Infinity;
    for (let i = incs.length - 1; i >= 0; i--) {
      const objects = byIncarnation.get(incs[i]!)!;
      let first = Infinity;
      for (const o of objects) {
        if (seqOf(o.key) >= limit) {
          stale.push(o.key); // a dead incarnation's write that landed after the next one loaded
          continue;
        }
        this.journalKeys.push(o.key);
        this.bytes += o.size;
        for (const r of o.records) if (r.seq < limit) records.push(r);
        first = Math.min(first, seqOf(o.key));
      }
      limit = Math.min(limit, first);
    }
    records.sort((a, b) => a.seq - b.seq);
    this.collect(stale);
    return { snapshot, records };
  }

  /**
   * The records of one journal object. A PUT writes an object whole, so
   * bytes after the last valid record mean a damaged read (a body cut short
   * or altered on the way): it is read again. Only the last object of an
   * incarnation may stay torn (a store that keeps the part of an upload cut
   * by a crash): its PUT never completed, so nothing in it was acknowledged.
   */
  /** A snapshot object: SNAPSHOT_MAGIC, u32 crc32c(json), json (older versions: the json alone). A damaged read is read again. */
  private async readSnapshot(key: string): Promise<{ seq: number; state: S }> {
    const r = await readAgainWhileDamaged(
      async () => {
        const body = await this.store.get(key);
        try {
          let json: Buffer = body;
          if (body.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) {
            json = body.subarray(SNAPSHOT_MAGIC.length + 4);
            if (crc32c(json) !== body.readUInt32BE(SNAPSHOT_MAGIC.length)) throw new Error('checksum mismatch');
          }
          return { snapshot: JSON.parse(json.toString('utf8')) as { seq: number; state: S } };
        } catch (err) {
          return { damage: (err as Error).message };
        }
      },
      (x) => 'damage' in x,
    );
    if ('damage' in r) throw new Error(`metadata snapshot ${key} is damaged (${r.damage}) in ${DAMAGED_READS} reads`);
    return r.snapshot;
  }

  private async readJournalObject(key: string, lastOfItsIncarnation: boolean): Promise<JournalRecord<O>[]> {
    const { body, records, validLength } = await readAgainWhileDamaged(
      async () => {
        const body = await this.store.get(key);
        return { body, ...decodeJournal<O>(body) };
      },
      (x) => x.validLength !== x.body.length,
    );
    if (validLength === body.length || lastOfItsIncarnation) return records;
    throw new Error(`journal object ${key} is damaged: ${body.length - validLength} of ${body.length} bytes after its last valid record, in ${DAMAGED_READS} reads`);
  }

  append(record: JournalRecord<O>): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.writing) {
        // Started after this turn: records appended in it share one write (a
        // replacement comes right after the embedded WAL commits journaled for it).
        this.writing = true;
        queueMicrotask(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        const body = Buffer.concat(batch.map((p) => encodeRecord(p.record)));
        const key = `${JOURNAL}${pad(batch[0]!.record.seq)}-${this.incarnation}`;
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
        this.bytes += Math.max(body.length, OBJECT_WEIGHT);
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

  async beginSnapshot(seq: number): Promise<SnapshotWriter> {
    // Every object so far holds records up to seq only: later ones start past it, so load() never takes them for replaced.
    const replaced = this.journalKeys;
    const replacedBytes = this.bytes;
    this.journalKeys = [];
    this.bytes = 0;
    return {
      write: async (serialized) => {
        const key = `${SNAPSHOT}${pad(seq)}`;
        const head = Buffer.allocUnsafe(SNAPSHOT_MAGIC.length + 4);
        SNAPSHOT_MAGIC.copy(head);
        head.writeUInt32BE(serialized.reduce((crc, b) => crc32c(b, crc), 0), SNAPSHOT_MAGIC.length);
        try {
          await this.store.put(key, [head, ...serialized]);
        } catch (err) {
          this.journalKeys = [...replaced, ...this.journalKeys];
          this.bytes += replacedBytes;
          throw err;
        }
        failpoint('metadata.after-snapshot-put');
        const snaps = (await this.store.list(SNAPSHOT).catch(() => [])).map((s) => s.key).filter((k) => k < key);
        this.collect([...replaced, ...snaps]);
      },
    };
  }

  private collect(keys: string[]): void {
    if (keys.length === 0) return;
    this.collecting = this.collecting.then(() =>
      inParallel(keys, PARALLEL, (k) => this.store.delete(k).catch(() => {})).then(() => {}),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    while (this.writing || this.queue.length) await new Promise((r) => setTimeout(r, 2));
    await this.collecting;
  }
}
