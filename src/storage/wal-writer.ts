// The group-commit write path (design.md, "Durability"): appends of every
// partition this broker leads are buffered for at most flushMs or flushBytes,
// written as ONE object, recorded by ONE metadata commit guarded by the
// leaders' epochs, and only then acknowledged. Object writes may overlap;
// commits happen strictly in flush order, so a partition's high watermark
// only ever moves forward over contiguous, durable offsets.

import type { Logger } from 'pino';
import { partitionKey, type MetadataStore, type PartitionAppend, type ProducerStateEntry } from '../coordination/metadata-store.js';
import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import type { ObjectStore } from './object-store.js';
import type { AppendRequest, AppendSink, PartitionLog } from './partition-log.js';
import { encodeWalObject, type WalRunLocation } from './wal-object.js';

export interface WalWriterOptions {
  brokerId: number;
  /** Longest an append waits for more to join its flush; 0 flushes as soon as the writer is free. */
  flushMs: number;
  /** A flush starts once this many bytes are pending. */
  flushBytes: number;
  /** Object writes in flight at once. */
  maxInflight: number;
  /** A busy writer starts another flush only once this many bytes wait (LOCAL_ or OBJECT_STORE_MIN_OVERLAP_BYTES). */
  minOverlapBytes: number;
  /** Bytes accepted but not yet committed before produce requests wait (back-pressure while the store is slow or down). */
  maxBufferedBytes: number;
  /** See PREPARED_MAX_AGE_MS (its default). */
  preparedMaxAgeMs?: number;
}

/**
 * Below minOverlapBytes, a flush waits for one in flight to finish instead of
 * overlapping it. On a local disk a write costs a sync, whatever its size.
 */
export const LOCAL_MIN_OVERLAP_BYTES = 256 * 1024;
/**
 * On S3 a write costs a request (billed per request, and s3rver spends about
 * as much on one as on 1 MiB of body) and its latency barely depends on size
 * at these sizes. With 4 MiB instead of 256 KiB, one producer of 1 MB records
 * made half the WAL objects (2.3 MiB each instead of 1.1) at the same rate, and
 * one franz-go producer of 100 B records half the PUTs, PUT p50 20 ms instead
 * of 30 and 5% more records/s (bench/s3-load.ts, scenarios 3 and 1, s3rver).
 * Checked again later (scenario 1, 20 s each, one after the other): 1 MiB
 * and 256 KiB gave 407K and 422K records/s against 358K with 4 MiB, within
 * this VM's noise, but WAL PUT p99 226-228 ms against 100 (s3rver slows when
 * PUTs overlap), past the 100 ms that the issue asks of uploads.
 * Measured again on 2026-11-30 (scenario 1, franz-go paced to 1.1M records/s,
 * 30 s, two runs each): 4 MiB 847-900K records/s with WAL PUT p99 49-50 ms;
 * 2 MiB 982-985K, p99 82; 1.5 MiB 987K-1.06M, p99 73-85; 1 MiB 1.04-1.05M,
 * p99 66-72 ms. franz-go keeps at most 5 requests of 1 MB in flight, so with
 * 4 MiB a flush in flight was never overlapped: ~2.4 MiB waited for it, and
 * each request paid two flushes. 1 MiB costs ~40% more PUTs under such a
 * load (objects of ~1.8 MiB instead of ~2.4); scenario 3 (1 MB records)
 * went from 71-76 to 82 records/s, its WAL PUT p99 from 73-76 to 96 ms.
 */
export const OBJECT_STORE_MIN_OVERLAP_BYTES = 1 * 1024 * 1024;
/** WAL objects a store that can prepare them keeps ready. */
const PREPARED_KEYS = 32;
/**
 * WAL objects are collected by age, the age their name gives, and in a
 * cluster another broker collects those of a broker that has left (see
 * LogManager.collectGarbage): a prepared key is never written once its name is
 * this old, so no collector, here or elsewhere, can take it while it is being
 * written. Half the collectors' minimum age (StorageOptions.gcMinAgeMs).
 */
export const PREPARED_MAX_AGE_MS = 5 * 60_000;

/** The broker and the time (ms) a WAL object's key names: `wal/<broker>/<ms>-<seq>.wal`. */
export function parseWalKey(key: string): { brokerId: number; writtenAt: number } | null {
  const m = /^wal\/(\d+)\/(\d+)-\d+\.wal$/.exec(key);
  return m ? { brokerId: Number(m[1]), writtenAt: Number(m[2]) } : null;
}

interface Pending {
  req: AppendRequest;
  resolve(): void;
  reject(err: Error): void;
}

/** Bytes waiting to travel in the next WAL object (see carry). */
interface Rider {
  chunks: Buffer[];
  size: number;
  settle(at: { key: string; position: number } | null): void;
  timer: NodeJS.Timeout;
}

interface Run {
  log: PartitionLog;
  entries: Pending[];
  generation: number;
  leaderEpoch: number;
}

export interface FlushStats {
  objects: number;
  bytes: number;
  lastFlushBytes: number;
  lastFlushMs: number;
}

export class WalWriter implements AppendSink {
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private inflight = 0;
  private inflightBytes = 0;
  private admissionWaiters: Array<() => void> = [];
  private commitChain: Promise<void> = Promise.resolve();
  private lastDone: Promise<void> = Promise.resolve();
  private seq = 0;
  private preparedKeys: string[] = [];
  private preparing: Promise<void> | null = null;
  private issuedKeys = new Set<string>();
  private riders: Rider[] = [];
  private closed = false;
  readonly stats: FlushStats = { objects: 0, bytes: 0, lastFlushBytes: 0, lastFlushMs: 0 };
  /** Told how many committed ranges reference a new WAL object (for garbage collection). */
  onObjectCommitted: (key: string, ranges: number) => void = () => {};
  /** Told when partitions were fenced by an unknown commit outcome (they must be reopened). */
  onFenced: () => void = () => {};
  /** Told the size and write+commit latency of each flush (metrics). */
  onFlush: (bytes: number, ms: number) => void = () => {};

  constructor(
    private readonly store: ObjectStore,
    private readonly meta: MetadataStore,
    private readonly opts: WalWriterOptions,
    private readonly log: Logger,
  ) {}

  /** Bytes accepted and not yet committed. */
  get bufferedBytes(): number {
    return this.pendingBytes + this.inflightBytes;
  }

  /**
   * Waits until the write path has room for more (false if the deadline passes
   * first). Memory stays bounded while the object store is slow or down.
   */
  async admit(deadline: number): Promise<boolean> {
    while (this.bufferedBytes >= this.opts.maxBufferedBytes || this.holdAdmission()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.admissionWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  /**
   * Told by the owner of the write path when produce must wait for reasons of
   * its own (a compaction backlog over its bound); waiters look again at least
   * every 100 ms, and at once on wakeAdmission().
   */
  holdAdmission: () => boolean = () => false;
  /** Whether the object of a flush holding these partitions is worth a local copy (see PutOptions.localCopy); unset: always. */
  wantsLocalCopy?: (logs: PartitionLog[]) => boolean;

  wakeAdmission(): void {
    const ws = this.admissionWaiters;
    this.admissionWaiters = [];
    for (const w of ws) w();
  }

  private newKey(): string {
    return `wal/${this.opts.brokerId}/${Date.now().toString().padStart(15, '0')}-${(this.seq++).toString().padStart(8, '0')}.wal`;
  }

  /**
   * A prepared key when the store prepares them (and some are ready), else a
   * fresh one (the slower create+rename path). Names need not sort in write
   * order: the manifest, not the name, orders a partition's ranges. (Throwing
   * away a refill that a fresh key overtook, as this once did, spiralled under
   * fast small flushes: every refill was overtaken and every put took the slow
   * path.)
   */
  private nextKey(): string {
    const now = Date.now();
    while (this.preparedKeys.length && now - (parseWalKey(this.preparedKeys[0]!)?.writtenAt ?? now) >= (this.opts.preparedMaxAgeMs ?? PREPARED_MAX_AGE_MS)) {
      const stale = this.preparedKeys.shift()!;
      void this.store.delete(stale).catch((err: unknown) => this.log.warn({ err, key: stale }, 'could not delete a stale prepared WAL object'));
    }
    const key = this.preparedKeys.shift() ?? this.newKey();
    if (this.store.prepare && this.preparedKeys.length < PREPARED_KEYS / 2) void this.refill();
    return key;
  }

  private refill(): Promise<void> {
    if (this.preparing || this.closed || !this.store.prepare) return this.preparing ?? Promise.resolve();
    const keys = Array.from({ length: PREPARED_KEYS }, () => this.newKey());
    this.preparing = this.store.prepare(keys).then(
      () => {
        this.preparing = null;
        if (this.closed) {
          for (const k of keys) void this.store.delete(k).catch(() => {});
          return;
        }
        this.preparedKeys.push(...keys);
      },
      (err: unknown) => {
        this.log.warn({ err }, 'could not prepare WAL objects');
        this.preparing = null;
      },
    );
    return this.preparing;
  }

  /**
   * Whether a key is prepared, or issued and its commit not yet settled:
   * collectors must leave it alone. (A prepared key is named for when it was
   * prepared, which on a quiet broker can be long before it is written, so the
   * collectors' age guard alone does not cover it.)
   */
  isInUse(key: string): boolean {
    return this.issuedKeys.has(key) || this.preparedKeys.includes(key);
  }

  /** Prepares the first WAL objects before the broker takes writes. */
  async start(): Promise<void> {
    await this.refill();
  }

  /**
   * Has `chunks` travel in the next WAL object a flush writes, after its runs:
   * where they landed once that object is written and its commit stands (so
   * the object is referenced and will not be taken for an orphan), or null if
   * no flush takes them within `waitMs`, or the flush that took them failed
   * or committed nothing: the caller then writes them on their own. A store
   * that bills per request saves one PUT so. (An idle writer is waited for
   * too: 1,000 partitions at 10 records/s keep it idle between flushes most
   * of the time, yet flush 30 times a second.)
   */
  carry(chunks: Buffer[], size: number, waitMs: number): Promise<{ key: string; position: number } | null> {
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const rider: Rider = {
        chunks,
        size,
        settle: (at) => {
          clearTimeout(rider.timer);
          resolve(at);
        },
        // Only while it waits: a flush that takes it clears this.
        timer: setTimeout(() => {
          const i = this.riders.indexOf(rider);
          if (i < 0) return;
          this.riders.splice(i, 1);
          resolve(null);
        }, waitMs),
      };
      this.riders.push(rider);
    });
  }

  enqueue(req: AppendRequest): Promise<void> {
    if (this.closed) return Promise.reject(new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, 'broker is shutting down'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ req, resolve, reject });
      this.pendingBytes += req.bytes;
      this.schedule();
    });
  }

  /**
   * When to start a flush. Idle writer: at once (lowest latency). Busy writer:
   * another flush starts only once enough bytes wait to be worth an object
   * and its syncs, so flushes overlap under load (throughput is then
   * maxInflight objects per sync latency) and stay big (few objects, few PUTs).
   */
  private schedule(): void {
    if (this.pending.length === 0 || this.inflight >= this.opts.maxInflight) return;
    const worthIt = this.pendingBytes >= Math.min(this.opts.flushBytes, this.opts.minOverlapBytes);
    if (this.pendingBytes >= this.opts.flushBytes || (this.opts.flushMs === 0 && (this.inflight === 0 || worthIt))) {
      // setImmediate lets the requests already read from sockets join this flush.
      if (!this.immediate) this.immediate = setImmediate(() => this.flush());
    } else if (this.opts.flushMs > 0 && !this.timer) {
      this.timer = setTimeout(() => this.flush(), this.opts.flushMs);
    }
  }

  private flush(): void {
    this.immediate = null;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0 || this.inflight >= this.opts.maxInflight) return;
    // Take at most flushBytes (at least one append) so an object stays bounded.
    let take = 0;
    let bytes = 0;
    while (take < this.pending.length && (take === 0 || bytes + this.pending[take]!.req.bytes <= this.opts.flushBytes)) {
      bytes += this.pending[take]!.req.bytes;
      take++;
    }
    const batch = this.pending.splice(0, take);
    this.pendingBytes -= bytes;

    const runs = new Map<PartitionLog, Run>();
    for (const p of batch) {
      const log = p.req.log;
      if (p.req.generation !== log.generation) {
        p.reject(staleError(log));
        continue;
      }
      let run = runs.get(log);
      if (!run) {
        run = { log, entries: [], generation: log.generation, leaderEpoch: log.leaderEpoch };
        runs.set(log, run);
      }
      run.entries.push(p);
    }
    if (runs.size === 0) {
      this.schedule();
      return;
    }
    const key = this.nextKey();
    this.issuedKeys.add(key);
    const runList = [...runs.values()];
    const appendsAt = (locations: WalRunLocation[]): PartitionAppend[] =>
      runList.map((run, i) => {
        const loc = locations[i]!;
        return {
          topicId: run.log.topicId,
          partition: run.log.partition,
          leaderEpoch: run.leaderEpoch,
          range: { kind: 'wal', key, position: loc.position, length: loc.length, baseOffset: loc.baseOffset, nextOffset: loc.nextOffset, maxTimestamp: loc.maxTimestamp },
          producers: latestProducerEntries(run.entries),
        };
      });
    // A store that reads commits back from WAL objects gets this flush's commit inside its object.
    const walSeq = this.meta.reserveWalSeq?.();
    const riders = this.riders;
    this.riders = [];
    for (const r of riders) clearTimeout(r.timer);
    const riderBytes = riders.reduce((n, r) => n + r.size, 0);
    const encoded = encodeWalObject(
      runList.map((r) => ({
        topicId: r.log.topicId,
        partition: r.log.partition,
        baseOffset: r.entries[0]!.req.baseOffset,
        nextOffset: r.entries[r.entries.length - 1]!.req.nextOffset,
        maxTimestamp: r.entries.reduce((m, e) => Math.max(m, e.req.maxTimestamp), -1),
        batches: r.entries.flatMap((e) => e.req.batches),
      })),
      walSeq === undefined ? undefined : (locations) => ({ brokerId: this.opts.brokerId, objectKey: key, appends: appendsAt(locations), walSeq }),
      riders.map((r) => r.chunks),
    );
    const appends = encoded.commit?.appends ?? appendsAt(encoded.locations);
    const started = Date.now();
    this.inflight++;
    this.inflightBytes += bytes;
    const copy = this.wantsLocalCopy?.(runList.map((r) => r.log)) ?? true;
    const put = this.store.put(key, encoded.chunks, copy ? undefined : { localCopy: false });
    put.catch(() => {});
    // Commits are issued in flush order. A store that keeps issued commits in
    // order (the embedded journal) lets the next one be issued before this one
    // is durable, so their syncs are shared; others get one commit at a time.
    const step = this.commitChain.then(() => this.commit(key, runList, appends, put, walSeq));
    const done = step
      .then((s) => s.done)
      .catch((err: unknown) => {
        this.log.error({ err, key }, 'WAL commit step failed');
        return false;
      })
      // Riders get a location only if the object is referenced by then: its commit stands for a run.
      .then((stands) => riders.forEach((r, i) => r.settle(stands ? { key, position: encoded.riders[i]!.position } : null)))
      .finally(() => {
        this.issuedKeys.delete(key);
        this.inflight--;
        this.inflightBytes -= bytes;
        this.wakeAdmission();
        this.stats.objects++;
        // The WAL's own bytes: riders are compaction's.
        this.stats.bytes += encoded.size - riderBytes;
        this.stats.lastFlushBytes = encoded.size - riderBytes;
        this.stats.lastFlushMs = Date.now() - started;
        this.onFlush(encoded.size - riderBytes, this.stats.lastFlushMs);
        this.schedule();
      });
    this.lastDone = done;
    this.commitChain = this.meta.orderedCommits ? step.then(() => {}, () => {}) : done;
    this.schedule();
  }

  /**
   * Waits for the object, then issues its metadata commit; `done` settles when
   * the commit's outcome is handled, true when the commit stands for at least
   * one run (onObjectCommitted has then counted them). Called in flush order;
   * a reserved WAL slot (`walSeq`) is resolved here, before returning, on
   * every path.
   */
  private async commit(key: string, runs: Run[], appends: PartitionAppend[], put: Promise<void>, walSeq: number | undefined): Promise<{ done: Promise<boolean> }> {
    const skip = (): { done: Promise<boolean> } => {
      if (walSeq === undefined) return { done: Promise.resolve(false) };
      return {
        done: this.meta.skipWal!(walSeq).then(
          () => false,
          (err: unknown) => {
            this.log.error({ err, key, walSeq }, 'could not record a skipped WAL slot');
            return false;
          },
        ),
      };
    };
    try {
      await put;
    } catch (err) {
      this.log.error({ err, key }, 'WAL object write failed');
      this.failRuns(runs, new KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, `WAL write failed: ${(err as Error).message}`));
      return skip();
    }
    let live: Array<{ run: Run; append: PartitionAppend }> = [];
    runs.forEach((run, i) => {
      if (run.generation !== run.log.generation) {
        for (const p of run.entries) p.reject(staleError(run.log));
        return;
      }
      live.push({ run, append: appends[i]! });
    });
    if (live.length && !this.meta.writable()) {
      // Another broker may lead these partitions by now: fence them (later
      // appends get NOT_LEADER_OR_FOLLOWER, not a storage error, and Metadata
      // stops naming this broker) and reopen under a new epoch once the
      // membership is proven again.
      const err = new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, 'this broker cannot prove its membership (metadata store unreachable)');
      for (const l of live) {
        l.run.log.fence();
        for (const p of l.run.entries) p.reject(err);
      }
      live = [];
      this.onFenced();
    }
    if (live.length === 0) {
      this.onObjectCommitted(key, 0);
      return skip();
    }
    // The object's own commit stands only if every run in it is still live.
    const issued = this.meta.commitWal(
      { brokerId: this.opts.brokerId, objectKey: key, appends: live.map((l) => l.append), ...(walSeq === undefined ? {} : { walSeq }) },
      { embedded: walSeq !== undefined && live.length === runs.length },
    );
    const done = issued.then(
      ({ fenced }) => {
        if (fenced.length) {
          const lost = new Set(fenced);
          for (const l of live) {
            if (!lost.has(partitionKey(l.run.log.topicId, l.run.log.partition))) continue;
            l.run.log.fence();
            for (const p of l.run.entries) p.reject(new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, 'leadership lost'));
          }
          live = live.filter((l) => !lost.has(partitionKey(l.run.log.topicId, l.run.log.partition)));
          this.log.warn({ partitions: fenced, key }, 'commit fenced: leadership lost');
        }
        this.onObjectCommitted(key, live.length);
        let stale = false;
        for (const { run, append } of live) {
          if (run.generation !== run.log.generation) {
            // A later flush failed and rolled the log back while this commit was in
            // flight (ordered commits issue it before the later one's outcome): the
            // records are committed, but the log forgot them and may reuse their
            // offsets. It is fenced and reopened from the manifest, which has them.
            run.log.fence();
            stale = true;
          } else {
            run.log.onCommitted(append.range, append.producers);
          }
          for (const p of run.entries) p.resolve();
        }
        if (stale) this.onFenced();
        return live.length > 0;
      },
      (err: unknown) => {
        // The commit may or may not have happened: only a reload from the
        // metadata store can tell, so these partitions are fenced and reopened.
        // The producers hear REQUEST_TIMED_OUT, as from Kafka when a write's
        // fate is unknown: the records may be in the log. (NOT_LEADER_OR_FOLLOWER
        // says they are not: an idempotent librdkafka producer then re-sends
        // them under a bumped epoch, and a commit that did land is duplicated.)
        this.log.error({ err, key }, 'WAL commit failed; outcome unknown, reloading the partitions');
        for (const l of live) {
          l.run.log.fence();
          for (const p of l.run.entries) p.reject(new KafkaError(ErrorCode.REQUEST_TIMED_OUT, `metadata commit outcome unknown: ${(err as Error).message}`));
        }
        this.onObjectCommitted(key, 0);
        this.onFenced();
        return false;
      },
    );
    return { done };
  }

  private failRuns(runs: Run[], err: KafkaError): void {
    for (const run of runs) {
      if (run.generation === run.log.generation) run.log.rollback();
      for (const p of run.entries) p.reject(err);
    }
  }

  /** Flushes what is pending and waits for every commit (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.pending.length || this.inflight > 0) {
      if (this.pending.length && this.inflight < this.opts.maxInflight) this.flush();
      const last = this.lastDone;
      await Promise.race([last, new Promise((r) => setTimeout(r, 5))]);
    }
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    for (const r of this.riders.splice(0)) r.settle(null);
    await this.preparing;
  }
}

function staleError(log: PartitionLog): KafkaError {
  return log.fenced
    ? new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, 'leadership lost')
    : new KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, 'an earlier write of this partition failed');
}

function latestProducerEntries(entries: Pending[]): ProducerStateEntry[] {
  const byId = new Map<number, ProducerStateEntry>();
  for (const p of entries) for (const e of p.req.producers) byId.set(e.producerId, e);
  return [...byId.values()];
}
