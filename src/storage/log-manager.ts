// Owns the partitions this broker leads, the write path that commits them,
// the read path's cache, and the background work on stored data: compaction
// of WAL runs into per-partition segments and garbage collection of objects
// no manifest references any more.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { partitionKey, RangesNotReplaced, type LogRange, type MetadataStore, type PartitionKey, type PartitionState, type TopicRecord } from '../coordination/metadata-store.js';
import { failpoint } from '../failpoints.js';
import { BlockCache } from './block-cache.js';
import { BlockPins, BlockPool } from './block-pool.js';
import type { ObjectInfo, ObjectStore } from './object-store.js';
import { PartitionLog } from './partition-log.js';
import { RangeReader } from './range-reader.js';
import { readAhead } from './read-ahead.js';
import { SegmentEncoder, type EncodedSegment } from './segment.js';
import { KeyOffsets, cleanBatch } from './log-cleaner.js';
import { readBatchHeader } from '../protocol/records/batch.js';
import type { StoredBatch } from './range-reader.js';
import { LOCAL_MIN_OVERLAP_BYTES, WalWriter, parseWalKey } from './wal-writer.js';
import { YieldPoint } from './yield-point.js';
import { Limiter } from './limiter.js';
import { PACK_MEMBER_MAX_BYTES, PACK_TARGET_BYTES, RIDING_PACK_TARGET_BYTES, SegmentPack, isPackedSegment, isSharedObject, packKey, packPrefix, type PackMember } from './segment-pack.js';

const GC_INTERVAL_MS = 60_000;
/**
 * WAL ranges a partition may hold before compaction runs whatever their size
 * or age. Each is about 100 bytes of heap in the log (and a key in etcd): at
 * 1,000 a partition, 1,000 quiet partitions held 1M of them (95 MB in a heap
 * snapshot). The small segments compacting them sooner makes cost no PUT of
 * their own (they go into packs, see segment-pack.ts).
 */
const MAX_WAL_RANGES = 250;
/** How long a pack waits for a WAL flush to travel in before it is written on its own (StorageOptions.packsRideWal). */
const RIDE_WAIT_MS = 500;
/** Replacements in flight on a cluster's metadata store while a pack is put in the manifest (see writePack). */
const PACK_SWAPS_IN_FLIGHT = 8;
/** WAL objects a compaction pass releases before it asks the manifest which of them it may delete (see deleteReleasedWal). */
const MAX_RELEASED_WAL = 4096;
/** Segments one compaction pass writes for a partition before it turns to the next one. */
const SEGMENTS_PER_PASS = 4;
/** WAL collections between two sweeps of the whole store for orphans (see sweepOrphans). */
const SWEEP_EVERY_GCS = 10;
/**
 * Ranges a compaction reads ahead of the one it encodes while it catches up
 * (none otherwise, so as not to crowd the WAL's disk and threads): one read
 * at a time, each waiting for a busy event loop to issue it, made reading a
 * segment's worth of WAL take 2-3 times as long under a full produce load.
 */
const CATCH_UP_READ_AHEAD = 4;
/** How stale the produce path's view of the compaction backlog may be (it sums every partition's WAL bytes). */
const BACKLOG_RECHECK_MS = 100;
/**
 * What a tail holds beyond a segment for compaction to find the segment in
 * it: the WAL that grows between two checks (WAL_GROWTH_NOTICE_BYTES) and
 * flushes in flight, with room to spare.
 */
const TAIL_MARGIN_BYTES = 16 * 1024 * 1024;

/** See tailCap. */
const TAIL_MIN_BYTES = 64 * 1024;

export interface StorageOptions {
  brokerId: number;
  walFlushMs: number;
  walFlushBytes: number;
  walMaxInflight: number;
  /** See WalWriterOptions.minOverlapBytes: larger on S3, where each WAL object is a billed request. */
  walMinOverlapBytes: number;
  /** Produce waits once this many bytes are accepted and not yet committed. */
  walMaxBufferedBytes: number;
  maxConcurrentGets: number;
  /** See RangeReader's readAheadGetBytes: 0 on a local disk, several MiB on S3. */
  readAheadGetBytes: number;
  /**
   * Per-partition bytes of recent batches kept in memory. As large as the
   * total by default: a partition that writes alone keeps more than a
   * segment's worth, and compaction makes its segments from memory (see
   * walGrew).
   */
  tailMaxBytes: number;
  /** All partitions' tails together: each gets its share when many are open. */
  tailTotalBytes: number;
  blockCacheBytes: number;
  /** How often the compactor looks for work. */
  compactionIntervalMs: number;
  /** Produce waits while compaction owes more than this (see compactionDebtBytes); 0: never. */
  maxCompactionDebtBytes: number;
  /**
   * Cluster mode: unreferenced objects are collected once this old, so a write
   * whose commit is still in flight is safe (prepared WAL objects are not
   * written past half of it).
   */
  gcMinAgeMs: number;
  /**
   * Keys one cleaning of a compacted partition maps (about 100 bytes of memory
   * each, more for long keys): past it, the dirty segments after the one that
   * crossed it wait for the next cleaning, which maps from there on.
   */
  cleanerMaxKeys: number;
  /**
   * Packs of small segments travel in the next WAL object instead of one of
   * their own (WalWriter.carry): on a store that bills each PUT, scenario 2
   * of bench/s3-load.ts (1,000 partitions) then makes one PUT per flush, not
   * 1.005. Off on a local disk, where a write is not billed and the flush's
   * produce requests would wait for the pack's bytes too.
   */
  packsRideWal: boolean;
}

export interface TopicStorageConfig {
  segmentBytes: number;
  segmentMs: number;
  /** -1: keep forever. */
  retentionMs: number;
  /** Per partition; -1: no limit. */
  retentionBytes: number;
  /** cleanup.policy holds `delete`: retention.ms and retention.bytes apply. */
  deleteByRetention: boolean;
  /** cleanup.policy holds `compact`: segments are cleaned down to each key's latest record. */
  compact: boolean;
  deleteRetentionMs: number;
  minCompactionLagMs: number;
  /** max.compaction.lag.ms: a segment whose newest record is older than this is cleaned below the dirty ratio too. */
  maxCompactionLagMs: number;
  /** min.cleanable.dirty.ratio: the share of segment bytes written since the last cleaning that starts the next one. */
  minCleanableDirtyRatio: number;
}

/** Kafka's topic defaults (what a topic without configs gets). */
export const DEFAULT_TOPIC_STORAGE: TopicStorageConfig = {
  segmentBytes: 64 << 20,
  segmentMs: 600_000,
  retentionMs: 604_800_000,
  retentionBytes: -1,
  deleteByRetention: true,
  compact: false,
  deleteRetentionMs: 86_400_000,
  minCompactionLagMs: 0,
  maxCompactionLagMs: Number.MAX_SAFE_INTEGER,
  minCleanableDirtyRatio: 0.5,
};

export const DEFAULT_STORAGE_OPTIONS: Omit<StorageOptions, 'brokerId'> = {
  walFlushMs: 0,
  walFlushBytes: 8 * 1024 * 1024,
  walMaxInflight: 4,
  walMinOverlapBytes: LOCAL_MIN_OVERLAP_BYTES,
  walMaxBufferedBytes: 64 * 1024 * 1024,
  maxConcurrentGets: 32,
  readAheadGetBytes: 0,
  tailMaxBytes: 128 * 1024 * 1024,
  tailTotalBytes: 128 * 1024 * 1024,
  blockCacheBytes: 128 * 1024 * 1024,
  compactionIntervalMs: 1000,
  maxCompactionDebtBytes: 1024 * 1024 * 1024,
  gcMinAgeMs: 10 * 60_000,
  cleanerMaxKeys: 1_000_000,
  packsRideWal: false,
};

/**
 * Freed block memory kept for the next blocks read (see block-pool.ts): a
 * catching-up reader's blocks come back as the cache evicts them, a few MiB
 * behind it, so this need only cover the blocks in flight between.
 */
const POOL_FREE_BYTES = 32 * 1024 * 1024;

export class LogManager {
  readonly writer: WalWriter;
  readonly cache: BlockCache;
  readonly pool: BlockPool;
  private readonly reader: RangeReader;
  private logs = new Map<PartitionKey, PartitionLog>();
  private opening = new Map<PartitionKey, Promise<PartitionLog>>();
  /** Committed ranges referencing each shared object: a WAL object or a pack (single writer). */
  private walRefs = new Map<string, number>();
  /** WAL objects whose last range here was released, waiting for deleteReleasedWal. */
  private releasedWal: string[] = [];
  private inCompactionPass = false;
  private compactionTimer: NodeJS.Timeout | null = null;
  private gcTimer: NodeJS.Timeout | null = null;
  private gcRuns = 0;
  /** Segments put and not yet in a manifest (or known to be left out of it): the sweep leaves them alone. */
  private segmentsBeingSwapped = new Set<string>();
  private compacting: Promise<void> | null = null;
  private closed = false;
  /** Told when partitions were fenced and should be reopened if still assigned. */
  onFenced: () => void = () => {};
  readonly stats = { segmentsWritten: 0, walObjectsDeleted: 0, compactionBacklogBytes: 0, produceHolds: 0, cleanings: 0 };
  /** Per compacted partition: the offset its last cleaning covered (in memory: a restart cleans once more). */
  private cleanedThrough = new WeakMap<PartitionLog, number>();
  /** Per compacted partition: the earliest delete horizon among the tombstones its last cleaning kept. */
  private deleteHorizons = new WeakMap<PartitionLog, number>();
  /** A segment's first batch's timestamp, read once (max.compaction.lag.ms). */
  private firstBatchTimestamps = new WeakMap<LogRange, number>();
  private debtCheckedAt = -Infinity;
  /** Per partition: when it was opened or last compacted (see unpack). */
  private quietSince = new WeakMap<PartitionLog, number>();
  private holding = false;

  constructor(
    readonly store: ObjectStore,
    private readonly meta: MetadataStore,
    private readonly opts: StorageOptions,
    private readonly topicStorageConfig: (topic: string) => TopicStorageConfig,
    private readonly log: Logger,
  ) {
    this.pool = new BlockPool(Math.min(POOL_FREE_BYTES, opts.blockCacheBytes));
    this.cache = new BlockCache(opts.blockCacheBytes, (buf) => this.pool.evicted(buf));
    this.reader = new RangeReader(store, this.cache, opts.maxConcurrentGets, opts.readAheadGetBytes, this.pool);
    this.writer = new WalWriter(
      store,
      meta,
      {
        brokerId: opts.brokerId,
        flushMs: opts.walFlushMs,
        flushBytes: opts.walFlushBytes,
        maxInflight: opts.walMaxInflight,
        minOverlapBytes: opts.walMinOverlapBytes,
        maxBufferedBytes: opts.walMaxBufferedBytes,
        preparedMaxAgeMs: opts.gcMinAgeMs / 2,
      },
      log,
    );
    this.writer.onObjectCommitted = (key, n) => {
      if (!meta.singleWriter) return;
      if (n > 0) this.walRefs.set(key, (this.walRefs.get(key) ?? 0) + n);
      else void this.deleteObject(key);
    };
    this.writer.onFenced = () => this.onFenced();
    this.writer.holdAdmission = () => this.compactionBehind();
    if (store.localCopies) this.writer.wantsLocalCopy = (logs) => !this.tailsHold(logs);
  }

  /** Pins for one response's blocks (see block-pool.ts). */
  pins(): BlockPins {
    return new BlockPins(this.pool);
  }

  /**
   * WAL bytes compaction owes: what each partition holds beyond one segment's
   * worth (a partition below segment.bytes is waiting for more, not for the
   * compactor, so a thousand quiet partitions never count).
   */
  compactionDebtBytes(): number {
    let n = 0;
    // One config lookup per topic, not per partition (a thousand partitions, ten times a second).
    const segmentBytes = new Map<string, number>();
    for (const log of this.logs.values()) {
      // Compaction skips these (see compactionPass): counted, they could hold produce for good.
      if (log.fenced || log.closing) continue;
      const wal = log.walBytes();
      if (wal === 0) continue;
      let seg = segmentBytes.get(log.topicName);
      if (seg === undefined) segmentBytes.set(log.topicName, (seg = this.topicStorageConfig(log.topicName).segmentBytes));
      if (wal > seg) n += wal - seg;
    }
    return n;
  }

  /**
   * True while produce must wait for compaction. One franz-go producer here
   * writes 270 MiB/s of 1 MiB records while compaction, sharing the cores,
   * moved about 70 MiB/s of it: without a bound the WAL grew by 13 GB in 45 s,
   * on its way to a full disk (or bucket) and an ever longer recovery. Held
   * produce requests free the cores for compaction, which then catches up:
   * the same producer then gets about 195 MiB/s for as long as it runs, with
   * the WAL steady at about 1.3 GiB.
   */
  private compactionBehind(): boolean {
    const limit = this.opts.maxCompactionDebtBytes;
    if (limit <= 0) return false;
    const now = Date.now();
    if (now - this.debtCheckedAt >= BACKLOG_RECHECK_MS) {
      this.debtCheckedAt = now;
      const debt = this.compactionDebtBytes();
      // Held above the bound, resumed a quarter below it: flipping at one line
      // made a hold (and its two log lines) every 300 ms under a steady overload.
      const behind = debt > (this.holding ? (limit * 3) / 4 : limit);
      if (behind !== this.holding) {
        this.holding = behind;
        if (behind) this.stats.produceHolds++;
        const at = { debtBytes: debt, limitBytes: limit };
        if (behind) this.log.warn(at, 'produce held: compaction is behind');
        else this.log.info(at, 'produce resumed: compaction caught up');
      }
      // Not left to the compaction timer while producers wait (a no-op while a pass runs).
      if (behind) this.compactSome();
    }
    return this.holding;
  }

  /**
   * Collects objects a crash left behind: written but never committed, or
   * replaced by a segment whose deletion did not happen.
   */
  async start(): Promise<void> {
    if (this.meta.singleWriter) {
      const referenced = await this.meta.referencedObjects();
      let orphans = 0;
      for (const prefix of [`wal/${this.opts.brokerId}/`, 'segments/']) {
        for (const o of await this.store.list(prefix)) {
          if (!referenced.has(o.key)) {
            await this.store.delete(o.key);
            orphans++;
          }
        }
      }
      if (orphans) this.log.info({ orphans }, 'deleted objects no manifest references');
    }
    // After the orphan sweep, which would take prepared (empty, unreferenced) WAL objects for orphans.
    await this.writer.start();
    this.compactionTimer = setInterval(() => this.compactSome(), this.opts.compactionIntervalMs);
    this.compactionTimer.unref();
    if (!this.meta.singleWriter) {
      this.gcTimer = setInterval(() => void this.collectGarbage().catch((err: unknown) => this.log.warn({ err }, 'object collection failed')), GC_INTERVAL_MS);
      this.gcTimer.unref();
    }
  }

  /**
   * Cluster mode, every GC_INTERVAL_MS: this broker's own WAL objects, and
   * now and then (by one broker) the orphans of the whole store.
   */
  async collectGarbage(): Promise<void> {
    await this.collectOwnWal();
    if (this.gcRuns++ % SWEEP_EVERY_GCS === 0 && this.isSweeper()) await this.sweepOrphans();
  }

  /** The live broker with the lowest id sweeps for all: one listing of the store per sweep, not one per broker. */
  private isSweeper(): boolean {
    const live = this.meta.brokers().map((b) => b.brokerId);
    return live.includes(this.opts.brokerId) && Math.min(...live) === this.opts.brokerId;
  }

  /**
   * Cluster mode: WAL objects hold runs of partitions other brokers may lead
   * by now, so no broker can count references locally. Each broker deletes
   * its own WAL objects once no manifest references them; only objects older
   * than gcMinAgeMs, so a flush whose commit is still in flight is safe.
   *
   * The ranges of the partitions open here are taken from memory, and only
   * the others' are read from the store: reading every range from etcd took
   * 20-30 s with 600,000 of them (1,000 quiet partitions after a minute),
   * and WAL commits waited behind it (flush p99 0.3-0.9 s). A partition open
   * here holds every range its manifest has (a commit or a replacement
   * reaches the log after the store), or more (a deposed leader's log,
   * whose successor can only drop them or add objects of its own); only
   * this broker's WAL objects are deleted here.
   */
  async collectOwnWal(): Promise<number> {
    const open = new Set<PartitionKey>();
    const referenced = new Set<string>();
    for (const [key, log] of this.logs) {
      // A fenced log may lack what its manifest names (see swapUnknown): its ranges are read from the store.
      if (!log.fenced) open.add(key);
      for (const r of log.ranges) referenced.add(r.key);
    }
    for (const key of await this.meta.referencedObjects(open)) referenced.add(key);
    const now = Date.now();
    let deleted = 0;
    for (const o of await this.store.list(`wal/${this.opts.brokerId}/`)) {
      const writtenAt = parseWalKey(o.key)?.writtenAt ?? NaN;
      if (
        !Number.isFinite(writtenAt) ||
        now - writtenAt < this.opts.gcMinAgeMs ||
        now - o.lastModified < this.opts.gcMinAgeMs ||
        referenced.has(o.key) ||
        this.writer.isInUse(o.key) ||
        this.segmentsBeingSwapped.has(o.key)
      )
        continue;
      failpoint('compaction.before-wal-delete');
      await this.deleteObject(o.key);
      deleted++;
    }
    // This broker's packs, shared as its WAL objects are.
    for (const o of await this.store.list(packPrefix(this.opts.brokerId))) {
      if (now - o.lastModified < this.opts.gcMinAgeMs || referenced.has(o.key) || this.segmentsBeingSwapped.has(o.key)) continue;
      this.reader.forget(o.key);
      await this.deleteObject(o.key);
      deleted++;
    }
    if (deleted) {
      this.stats.walObjectsDeleted += deleted;
      this.log.info({ deleted }, 'collected WAL objects no manifest references');
    }
    return deleted;
  }

  /**
   * Cluster mode: objects no broker's own collector will delete, once no
   * manifest references them and they are older than gcMinAgeMs:
   * - WAL objects of broker ids that are not live: a broker that left for
   *   good (scaled in, replaced under a new id). A broker that comes back
   *   writes no prepared key older than PREPARED_MAX_AGE_MS, and its commits
   *   of older writes are fenced by the leader epochs its partitions got
   *   while it was away.
   * - segments: a compaction whose swap was refused or whose outcome was
   *   unknown, a broker that crashed between a segment's put and its swap, a
   *   topic deletion cut short.
   */
  async sweepOrphans(): Promise<{ wal: number; segments: number }> {
    // Every range from the store: segments written by other brokers' compactions are deleted here too.
    const referenced = await this.meta.referencedObjects();
    const live = new Set(this.meta.brokers().map((b) => b.brokerId));
    live.add(this.opts.brokerId);
    const now = Date.now();
    const old = (o: ObjectInfo) => now - o.lastModified >= this.opts.gcMinAgeMs && !referenced.has(o.key);
    let wal = 0;
    for (const o of await this.store.list('wal/')) {
      const k = parseWalKey(o.key);
      if (!k || live.has(k.brokerId) || now - k.writtenAt < this.opts.gcMinAgeMs || !old(o)) continue;
      failpoint('compaction.before-wal-delete');
      await this.deleteObject(o.key);
      wal++;
    }
    let segments = 0;
    for (const o of await this.store.list('segments/')) {
      if (!old(o) || this.segmentsBeingSwapped.has(o.key)) continue;
      this.reader.forget(o.key);
      await this.deleteObject(o.key);
      segments++;
    }
    if (wal || segments) {
      this.stats.walObjectsDeleted += wal;
      this.log.info({ wal, segments }, 'collected orphaned objects no manifest references');
    }
    return { wal, segments };
  }

  get(topicId: string, partition: number): PartitionLog | undefined {
    return this.logs.get(partitionKey(topicId, partition));
  }

  all(): IterableIterator<PartitionLog> {
    return this.logs.values();
  }

  /** Takes leadership of a partition (new epoch) and loads it from its manifest. */
  async open(topic: TopicRecord, partition: number): Promise<PartitionLog> {
    await this.openRange(topic, partition, partition + 1);
    return this.logs.get(partitionKey(topic.topicId, partition))!;
  }

  /**
   * open() for partitions [from, to) of a topic, acquired together (one
   * metadata write on the embedded store): how a new topic's partitions open.
   */
  async openRange(topic: TopicRecord, from: number, to: number): Promise<void> {
    const todo: number[] = [];
    const waits: Array<Promise<unknown>> = [];
    for (let n = from; n < to; n++) {
      const key = partitionKey(topic.topicId, n);
      const existing = this.logs.get(key);
      if (existing && !existing.fenced) continue;
      const opening = this.opening.get(key);
      if (opening) waits.push(opening);
      else todo.push(n);
    }
    if (todo.length) {
      const acquired = this.meta.acquirePartitions(topic.topicId, todo, this.opts.brokerId);
      todo.forEach((n, i) => {
        const key = partitionKey(topic.topicId, n);
        const p = acquired.then((states) => this.install(topic, n, states[i]!)).finally(() => this.opening.delete(key));
        // Its failure reaches the caller through `acquired`; other waiters see it too.
        p.catch(() => {});
        this.opening.set(key, p);
        waits.push(p);
      });
      const states = await acquired;
      const one = states.length === 1 ? { partition: todo[0], epoch: states[0]!.leaderEpoch, highWatermark: states[0]!.highWatermark, ranges: states[0]!.ranges.length } : { from, to, opened: todo.length };
      this.log.info({ topic: topic.name, ...one }, todo.length === 1 ? 'partition opened' : 'partitions opened');
    }
    await Promise.all(waits);
  }

  private install(topic: TopicRecord, partition: number, state: PartitionState): PartitionLog {
    const log = new PartitionLog(topic.name, topic.topicId, partition, state, this.reader, this.writer, {
      tailMaxBytes: () => this.tailCap(),
      walGrew: (l) => this.walGrew(l),
    });
    if (this.meta.singleWriter) for (const r of state.ranges) if (isSharedObject(r)) this.walRefs.set(r.key, (this.walRefs.get(r.key) ?? 0) + 1);
    this.logs.set(partitionKey(topic.topicId, partition), log);
    this.quietSince.set(log, Date.now());
    return log;
  }

  /**
   * Gives up leading a partition: new appends are refused at once, appends
   * already accepted are flushed and committed (unless the new leader fenced
   * them already), then the partition is forgotten.
   */
  async release(topicId: string, partition: number): Promise<void> {
    const key = partitionKey(topicId, partition);
    const log = this.logs.get(key);
    if (!log) return;
    log.closing = true;
    await this.writer.drain();
    log.fence();
    if (this.logs.get(key) === log) this.logs.delete(key);
    this.log.info({ topic: log.topicName, partition, epoch: log.leaderEpoch }, 'partition released');
  }

  /** Forgets a deleted topic's partitions and deletes the objects only they used. */
  async dropTopic(topicId: string, ranges: ReadonlyArray<readonly LogRange[]>): Promise<void> {
    for (const [key, log] of this.logs) {
      if (log.topicId === topicId) {
        log.fence();
        this.logs.delete(key);
      }
    }
    await this.releaseRanges(ranges.flat());
  }

  /**
   * Deletes the objects of ranges the manifest no longer holds: a segment at
   * once (it is one partition's), a WAL object or a pack once no range
   * references it.
   */
  private async releaseRanges(ranges: readonly LogRange[]): Promise<void> {
    for (const r of ranges) {
      if (r.kind === 'segment') this.reader.forgetSegment(r);
      if (!isSharedObject(r)) {
        await this.deleteObject(r.key);
        continue;
      }
      // With several brokers, a WAL object or a pack may hold other brokers' partitions:
      // the cluster's collector deletes it once no manifest references it.
      if (!this.meta.singleWriter) continue;
      const n = (this.walRefs.get(r.key) ?? 1) - 1;
      if (n > 0) this.walRefs.set(r.key, n);
      else {
        this.walRefs.delete(r.key);
        this.releasedWal.push(r.key);
      }
    }
    if (!this.inCompactionPass || this.releasedWal.length >= MAX_RELEASED_WAL) await this.deleteReleasedWal();
  }

  /**
   * Deletes the WAL objects released since the last call that the manifest
   * no longer references. walRefs counts only the ranges of partitions open
   * here: after a restart, the first partitions opened were compacted while
   * the rest still waited for their takeover, and WAL objects those shared
   * were deleted from under them (fault suite 05). The manifest has the last
   * word, but asking it scans every range of every partition: a compaction
   * pass asks once at its end (and every MAX_RELEASED_WAL objects), not once
   * per segment (with 1,000 partitions of 1,000 ranges each, those scans took
   * a tenth of the broker's CPU).
   */
  private async deleteReleasedWal(): Promise<void> {
    if (this.releasedWal.length === 0) return;
    const released = this.releasedWal;
    this.releasedWal = [];
    const referenced = await this.meta.referencedObjects();
    for (const key of released) {
      if (referenced.has(key)) continue;
      this.cache.invalidatePrefix(key);
      failpoint('compaction.before-wal-delete');
      await this.deleteObject(key);
      this.stats.walObjectsDeleted++;
    }
  }

  private async deleteObject(key: string): Promise<void> {
    try {
      await this.store.delete(key);
    } catch (err) {
      this.log.warn({ err, key }, 'object delete failed; it will be collected as an orphan');
    }
  }

  /**
   * Moves the log start offset to `offset` (DeleteRecords, retention): the
   * manifest forgets the ranges wholly below it and their objects go.
   */
  async truncateBefore(log: PartitionLog, offset: number): Promise<void> {
    if (offset <= log.logStartOffset) return;
    await this.meta.setLogStartOffset(log.topicId, log.partition, log.leaderEpoch, offset);
    log.logStartOffset = Math.max(log.logStartOffset, offset);
    const dropped = log.dropRangesBelowStart();
    await this.releaseRanges(dropped);
    this.log.info({ topic: log.topicName, partition: log.partition, logStartOffset: log.logStartOffset, droppedRanges: dropped.length }, 'log start moved');
  }

  /** retention.ms and retention.bytes: whole ranges only, oldest first, as Kafka deletes whole segments. */
  private async applyRetention(log: PartitionLog, cfg: TopicStorageConfig): Promise<void> {
    if (!cfg.deleteByRetention) return;
    let cut = log.logStartOffset;
    if (cfg.retentionMs >= 0) {
      const horizon = Date.now() - cfg.retentionMs;
      for (const r of log.ranges) {
        if (r.maxTimestamp < 0 || r.maxTimestamp >= horizon) break;
        cut = r.nextOffset;
      }
    }
    if (cfg.retentionBytes >= 0) {
      let total = log.ranges.reduce((n, r) => n + (r.nextOffset > cut ? r.length : 0), 0);
      for (const r of log.ranges) {
        if (r.nextOffset <= cut) continue;
        if (total - r.length < cfg.retentionBytes) break;
        total -= r.length;
        cut = r.nextOffset;
      }
    }
    if (cut > log.logStartOffset) await this.truncateBefore(log, Math.min(cut, log.highWatermark));
  }

  /**
   * Each partition's share of the tail budget, and at least TAIL_MIN_BYTES: a
   * partition among thousands still serves consumers that keep up from memory,
   * without the floor multiplying the budget (1 MiB each held 1 GiB over
   * 1,000 quiet partitions).
   */
  private tailCap(): number {
    return Math.max(TAIL_MIN_BYTES, Math.min(this.opts.tailMaxBytes, this.opts.tailTotalBytes / Math.max(1, this.logs.size)));
  }

  /**
   * Whether compaction will find these partitions' new batches in their
   * tails: each tail holds a segment and then some, and what the partition's
   * WAL holds already leaves room for them (a tail keeps the newest bytes; a
   * compaction that keeps pace reads a batch before its partition wrote a
   * tail's worth after it). A WAL object of theirs then needs no local copy
   * on S3: writing the copies took 0.07-0.1 of the broker's 0.5 cores at
   * 1,000,000 records/s. A compaction that falls behind after all reads
   * what the tails lost from the bucket.
   */
  private tailsHold(logs: PartitionLog[]): boolean {
    const cap = this.tailCap();
    if (cap <= TAIL_MARGIN_BYTES) return false;
    return logs.every((l) => cap >= this.topicStorageConfig(l.topicName).segmentBytes + TAIL_MARGIN_BYTES && l.walBytes() <= cap - TAIL_MARGIN_BYTES);
  }

  /**
   * A partition that holds a segment's worth of WAL is compacted at once, not
   * at the next tick of the compaction timer: its batches are then still in
   * its in-memory tail, and the segment is made without reading the WAL back
   * (from the page cache and its CRC check on a local disk, from the local
   * copy or the bucket on S3).
   */
  private walGrew(log: PartitionLog): void {
    if (this.compacting || this.closed) return;
    // Not from inside the WAL writer's commit step that told us.
    if (log.walBytes() >= this.topicStorageConfig(log.topicName).segmentBytes) setImmediate(() => this.compactSome());
  }

  private compactSome(): void {
    if (this.compacting || this.closed) return;
    this.compacting = this.compactionPass()
      .then((more) => {
        // The next pass follows at once while any partition is left with a backlog.
        if (more && !this.closed) setImmediate(() => this.compactSome());
      })
      .finally(() => {
        this.compacting = null;
      });
  }

  /**
   * Retention, then compaction of every partition whose WAL is due: segment
   * after segment while a backlog lasts, a few per partition before the next
   * one. (One segment per pass, a pass a second, capped compaction at
   * segment.bytes a second per partition, below what one producer writes
   * here, so a backlog grew for good.) True when a partition is left with a
   * backlog.
   */
  async compactionPass(): Promise<boolean> {
    this.inCompactionPass = true;
    try {
      return await this.compactEveryPartition();
    } finally {
      this.inCompactionPass = false;
      await this.deleteReleasedWal();
    }
  }

  private async compactEveryPartition(): Promise<boolean> {
    let backlog = 0;
    let more = false;
    const pack = new SegmentPack(this.opts.packsRideWal ? RIDING_PACK_TARGET_BYTES : PACK_TARGET_BYTES);
    for (const log of [...this.logs.values()]) {
      if (this.closed) break;
      if (log.fenced || log.closing) continue;
      const cfg = this.topicStorageConfig(log.topicName);
      try {
        await this.applyRetention(log, cfg);
      } catch (err) {
        this.log.warn({ err, topic: log.topicName, partition: log.partition }, 'retention failed; will retry');
      }
      // Many small flushes make many manifest entries: compact them early too, to bound the metadata.
      // On a compacted topic the head also rolls once max.compaction.lag.ms has passed (KIP-354), since
      // the cleaner leaves the WAL alone.
      const rollMs = cfg.compact ? Math.min(cfg.segmentMs, cfg.maxCompactionLagMs) : cfg.segmentMs;
      const due = () =>
        log.walBytes() > 0 && (log.walBytes() >= cfg.segmentBytes || log.walRanges() >= MAX_WAL_RANGES || Date.now() - log.oldestWalCommitAt >= rollMs);
      const firstWal = () => log.ranges.find((r) => r.kind === 'wal')?.baseOffset;
      for (let n = 0; !this.closed && !log.fenced && !log.closing && due(); n++) {
        if (n === SEGMENTS_PER_PASS) {
          more = true;
          break;
        }
        const before = firstWal();
        try {
          // A compacted topic's segment is cleaned below, in this pass: not left for the pack.
          await this.compact(log, cfg.segmentBytes, cfg.compact ? undefined : pack);
        } catch (err) {
          this.log.warn({ err, topic: log.topicName, partition: log.partition }, 'compaction failed; will retry');
          break;
        }
        if (firstWal() === before) break;
      }
      if (cfg.compact && !this.closed && !log.fenced && !log.closing) {
        try {
          await this.clean(log, cfg);
        } catch (err) {
          this.log.warn({ err, topic: log.topicName, partition: log.partition }, 'log cleaning failed; will retry');
        }
      }
      if (!cfg.compact && !this.closed && !log.fenced && !log.closing && log.walBytes() === 0 && Date.now() - (this.quietSince.get(log) ?? 0) >= rollMs) {
        try {
          await this.unpack(log);
        } catch (err) {
          this.log.warn({ err, topic: log.topicName, partition: log.partition }, 'compaction failed (segments out of packs); will retry');
        }
      }
      backlog += log.walBytes();
    }
    if (!this.closed) {
      try {
        await this.writePack(pack);
      } catch (err) {
        this.log.warn({ err }, 'compaction failed (a pack of small segments); will retry');
      }
    }
    this.stats.compactionBacklogBytes = backlog;
    return more;
  }

  /**
   * Rewrites the oldest WAL runs of a partition (up to segmentBytes) into one
   * segment. Small segments right before them are merged in as a binary
   * counter carries: each one holding no more than the compaction has so far
   * (its WAL runs and the segments after it), while they stay under half a
   * segment. A quiet partition then keeps a few segments of doubling sizes,
   * and each byte is rewritten about log2(segment / compaction) times. (Merging
   * the one segment before into every compaction rewrote the whole growing
   * segment each time: every 100 s, up to 32 MiB, for a partition of 10
   * records a second.) A small segment that takes in all of the partition's
   * WAL goes into `pack`, written with other partitions' (see segment-pack.ts).
   */
  async compact(log: PartitionLog, segmentBytes: number, pack?: SegmentPack): Promise<void> {
    const firstWal = log.ranges.find((r) => r.kind === 'wal');
    if (!firstWal) return;
    // Sizes are of the batches, not of the stored bytes: an LZ4 segment of
    // compressible records is a fraction of what it holds, and judged by its
    // object size it would be merged (read, decompressed, compressed and
    // written again) by every compaction of a busy partition.
    let bytes = 0;
    let carried = Math.min(log.walBytes(), segmentBytes);
    let first = firstWal;
    for (let i = log.ranges.indexOf(firstWal) - 1; i >= 0; i--) {
      const prev = log.ranges[i]!;
      if (prev.kind !== 'segment') break;
      const prevBytes = await this.segmentRawBytes(prev);
      if (prevBytes > carried || bytes + prevBytes >= segmentBytes / 2) break;
      bytes += prevBytes;
      carried += prevBytes;
      first = prev;
    }
    // The footers were read meanwhile: retention or DeleteRecords may have moved the ranges.
    const start = log.ranges.indexOf(first);
    const walStart = log.ranges.indexOf(firstWal);
    if (start < 0 || walStart < 0) return;
    const group: LogRange[] = [];
    let walRuns = 0;
    const walRanges = log.walRanges();
    for (let i = start; i < log.ranges.length && (log.ranges[i]!.kind === 'wal' || i < walStart); i++) {
      const r = log.ranges[i]!;
      if (r.kind === 'wal') {
        // At least one WAL run, also next to a merged segment: a group of the segment alone
        // would rewrite it pass after pass and never move the WAL on.
        if (walRuns > 0 && bytes + r.length > segmentBytes) break;
        bytes += r.length;
        walRuns++;
      }
      group.push(r);
    }
    // One range's raw bytes are held at a time (CATCH_UP_READ_AHEAD + 1 catching up). Behind by
    // half the bound: more reads and writes in flight, at some cost to produce latency.
    const limit = this.opts.maxCompactionDebtBytes;
    const catchUp = limit > 0 && this.compactionDebtBytes() > limit / 2;
    const segment = await this.encodeGroup(log, group, catchUp ? CATCH_UP_READ_AHEAD : 0);
    if (!segment) return;
    if (pack && walRuns === walRanges && bytes <= PACK_MEMBER_MAX_BYTES) {
      pack.add(log, group, segment);
      if (pack.bytes >= pack.targetBytes) await this.writePack(pack);
      return;
    }
    await this.replaceWithSegment(log, group, segment, catchUp);
  }

  /**
   * A partition quiet for segment.ms takes its segments out of packs, into one
   * segment of its own: a pack is kept whole while any segment in it is
   * referenced, and the partitions that go on writing merge theirs away, so a
   * partition gone quiet would keep its packs (up to PACK_TARGET_BYTES each,
   * for a few KiB of its own) until retention took its segments. Its packed
   * segments are its last ones: a merge takes in those before it.
   */
  private async unpack(log: PartitionLog): Promise<void> {
    const ranges = log.ranges;
    let start = ranges.length;
    while (start > 0 && isPackedSegment(ranges[start - 1]!)) start--;
    if (start === ranges.length) return;
    const group = ranges.slice(start);
    const segment = await this.encodeGroup(log, group, 0);
    if (segment) await this.replaceWithSegment(log, group, segment);
  }

  /**
   * The batches of `group`, read range by range (`readAheadRanges` ahead)
   * into one segment, bypassing the block cache (these ranges are about to
   * go); null when they hold no batch. A segment replaces its ranges for
   * good: it must hold every record of them, with no hole.
   */
  private async encodeGroup(log: PartitionLog, group: LogRange[], readAheadRanges: number): Promise<EncodedSegment | null> {
    const enc = new SegmentEncoder();
    let expected = group[0]!.baseOffset;
    const reads = readAhead(group, (r) => log.batchesOfRange(r, false), readAheadRanges);
    const turn = new YieldPoint();
    for (let i = 0; i < group.length; i++) {
      const r = group[i]!;
      for (const b of await reads.next()) {
        // A cleaned segment (cleanup.policy=compact) has gaps between its batches and may end before its range does.
        if (r.kind === 'wal' ? b.baseOffset !== expected : b.baseOffset < expected || b.nextOffset > r.nextOffset) {
          throw new Error(`compaction of ${log.topicName}/${log.partition}: batch at ${b.baseOffset}, expected ${expected}; ranges left as they are`);
        }
        expected = b.nextOffset;
        await enc.add(b);
        await turn.maybe();
      }
      if (r.kind === 'segment') expected = r.nextOffset;
    }
    if (expected === group[0]!.baseOffset) return null;
    if (expected !== group[group.length - 1]!.nextOffset) {
      throw new Error(`compaction of ${log.topicName}/${log.partition}: batches end at ${expected}, ranges at ${group[group.length - 1]!.nextOffset}; ranges left as they are`);
    }
    return enc.finish();
  }

  /** Writes the encoded segment, puts it in the place of `group` and frees the ranges it replaced. */
  private async replaceWithSegment(log: PartitionLog, group: LogRange[], segment: Pick<EncodedSegment, 'chunks' | 'size'>, catchUp = false, cleanedThrough?: number): Promise<void> {
    const base = group[0]!.baseOffset;
    const key = `segments/${log.topicId}/${log.partition}/${base.toString().padStart(20, '0')}-${randomBytes(4).toString('hex')}.seg`;
    this.segmentsBeingSwapped.add(key);
    try {
      await this.store.put(key, segment.chunks, { catchUp });
      failpoint(cleanedThrough === undefined ? 'compaction.after-segment-put' : 'cleaning.after-segment-put');
      try {
        await this.swapIn(log, group, key, segment.size, cleanedThrough);
      } catch (err) {
        // Only a refused replacement frees the segment: after any other failure the manifest may
        // reference it (the WAL ranges it replaced would then be gone), so it stays, at worst an orphan.
        if (err instanceof RangesNotReplaced) await this.deleteObject(key);
        else this.swapUnknown(log, key, err);
        throw err;
      }
    } finally {
      this.segmentsBeingSwapped.delete(key);
    }
    await this.releaseRanges(group);
  }

  /**
   * A replacement whose outcome is unknown: the manifest may name the new
   * segment while the log still holds the ranges it replaced. The segment
   * stays, and the partition is fenced and reopened from the manifest: the
   * collector takes an open partition's references from its log (see
   * collectOwnWal), and a pack the manifest names but the log does not would
   * look like garbage to it.
   */
  private swapUnknown(log: PartitionLog, key: string, err: unknown): void {
    this.log.warn({ err, key, topicId: log.topicId, partition: log.partition }, 'segment swap outcome unknown: segment kept, partition reloaded');
    log.fence();
    this.onFenced();
  }

  /**
   * Writes the small segments gathered in `pack` as one object and puts each
   * in the place of its ranges (on the embedded store all at once, journaled
   * in one write). A lone one is written as an ordinary segment.
   */
  private async writePack(pack: SegmentPack): Promise<void> {
    if (pack.count === 0) return;
    const { members, chunks, size } = pack.take();
    if (this.opts.packsRideWal) {
      const at = await this.writer.carry(chunks, size, RIDE_WAIT_MS);
      // In a WAL object that its own ranges reference: it goes once no range does, as any WAL object.
      if (at) return this.swapPackIn(members, at.key, at.position);
    }
    if (members.length === 1) {
      const m = members[0]!;
      return this.replaceWithSegment(m.log, m.group, { chunks, size: m.size });
    }
    const key = packKey(this.opts.brokerId);
    await this.swapPackIn(members, key, 0, () => this.store.put(key, chunks));
  }

  /**
   * Puts each segment of a pack, at `base` + its position in object `key`, in
   * the place of its ranges, once `write` (if any) has written the object. An
   * object that `write` made and that no swap took is deleted: nothing else
   * references it (a WAL object that carried the pack is referenced by its runs).
   */
  private async swapPackIn(members: PackMember[], key: string, base: number, write?: () => Promise<void>): Promise<void> {
    this.segmentsBeingSwapped.add(key);
    let outcomes: Array<PromiseSettledResult<void>>;
    try {
      await write?.();
      failpoint('compaction.after-segment-put');
      // A few at a time on etcd: a hundred at once opened the etcd client's circuit breaker, and
      // one at a time took 11 s for a pack of 963.
      const limit = new Limiter(this.meta.singleWriter ? Infinity : PACK_SWAPS_IN_FLIGHT);
      outcomes = await Promise.allSettled(members.map((m) => limit.run(() => this.swapIn(m.log, m.group, key, m.size, undefined, base + m.position))));
    } finally {
      this.segmentsBeingSwapped.delete(key);
    }
    let refused = 0;
    for (const [i, o] of outcomes.entries()) {
      const m = members[i]!;
      if (o.status === 'fulfilled') {
        // Its partition's next compaction merges it: its footer is not read back.
        this.reader.remember({ key, position: base + m.position }, m.footer);
        await this.releaseRanges(m.group);
      } else if (o.reason instanceof RangesNotReplaced) refused++;
      else this.swapUnknown(m.log, key, o.reason);
    }
    if (write && refused === members.length) await this.deleteObject(key);
  }

  /**
   * Log compaction (cleanup.policy=compact) of a partition's segments, once
   * the segment bytes written since its last cleaning reach
   * min.cleanable.dirty.ratio of them all (or max.compaction.lag.ms or a kept
   * tombstone's delete horizon has passed): each key's latest offset is mapped
   * over the segments, then they are rewritten, merged up to segment.bytes,
   * without the records that the rules of log-cleaner.ts drop. The WAL (the
   * head of the log) is left alone, as Kafka leaves the active segment.
   */
  async clean(log: PartitionLog, cfg: TopicStorageConfig): Promise<void> {
    const segs: LogRange[] = [];
    for (const r of log.ranges) {
      if (r.kind !== 'segment') break;
      segs.push(r);
    }
    if (segs.length === 0) return;
    // After a restart or a leader change, where the last cleaning that wrote a segment had got to.
    const through = this.cleanedThrough.get(log) ?? segs.reduce((m, r) => Math.max(m, r.cleanedThrough ?? -1), -1);
    let dirty = 0;
    let total = 0;
    for (const r of segs) {
      total += r.length;
      if (r.nextOffset > through) dirty += r.length;
    }
    // max.compaction.lag.ms: once the first batch of the first dirty segment is older than it (Kafka's
    // rule), the partition is cleaned whatever the ratio; so is one whose kept tombstones have reached
    // their delete horizon.
    const firstDirty = segs.find((r) => r.nextOffset > through);
    const horizon = this.deleteHorizons.get(log);
    const tombstonesDue = horizon !== undefined && Date.now() >= horizon;
    if (!tombstonesDue && (dirty === 0 || (dirty < total * cfg.minCleanableDirtyRatio && !(await this.compactionLagPassed(log, firstDirty!, cfg))))) return;
    // As Kafka's cleaner: keys are mapped from the first dirty segment on, so a
    // partition with more keys than one cleaning maps moves forward at each;
    // the clean segments before it are cleaned against that map (a key it
    // lacks keeps its record, which earlier cleanings left the latest).
    const keys = new KeyOffsets();
    const turn = new YieldPoint();
    const start = firstDirty ? segs.indexOf(firstDirty) : segs.length;
    let mapped = start;
    while (mapped < segs.length && (mapped === start || keys.size < this.opts.cleanerMaxKeys)) {
      for (const b of await log.batchesOfRange(segs[mapped]!, false)) {
        keys.add(b.buf);
        await turn.maybe();
      }
      mapped++;
    }
    const rules = { now: Date.now(), deleteRetentionMs: cfg.deleteRetentionMs, minCompactionLagMs: cfg.minCompactionLagMs };
    let rewritten = 0;
    let removedBatches = 0;
    let nextHorizon = Infinity;
    for (let i = 0; i < mapped; ) {
      if (this.closed || log.fenced || log.closing) return;
      const group: LogRange[] = [];
      const enc = new SegmentEncoder();
      let bytes = 0;
      let changed = false;
      let kept = 0;
      let last: StoredBatch | null = null;
      // A group that nothing is left of so far takes in the next segment whatever its size.
      while (i < mapped && (group.length === 0 || kept === 0 || bytes + segs[i]!.length <= cfg.segmentBytes)) {
        const r = segs[i++]!;
        group.push(r);
        bytes += r.length;
        for (const b of await log.batchesOfRange(r, false)) {
          last = b;
          const { batch: c, horizon: h } = cleanBatch(b.buf, keys, rules);
          if (h !== null) nextHorizon = Math.min(nextHorizon, h);
          if (c !== b.buf) changed = true;
          if (c === null) removedBatches++;
          else {
            await enc.add({ baseOffset: b.baseOffset, nextOffset: b.nextOffset, maxTimestamp: readBatchHeader(c).maxTimestamp, buf: c });
            kept++;
          }
          await turn.maybe();
        }
      }
      if (!changed && group.length === 1) continue;
      // A segment is never empty: when nothing is left (only at the end of what was mapped), the last batch stays as it was.
      if (kept === 0) {
        if (!last) continue;
        await enc.add(last);
      }
      await this.replaceWithSegment(log, group, await enc.finish(), false, segs[mapped - 1]!.nextOffset);
      log.dropTailBelow(group[group.length - 1]!.nextOffset);
      rewritten++;
    }
    this.cleanedThrough.set(log, segs[mapped - 1]!.nextOffset);
    if (nextHorizon === Infinity) this.deleteHorizons.delete(log);
    else this.deleteHorizons.set(log, nextHorizon);
    this.stats.cleanings++;
    this.log.info({ topic: log.topicName, partition: log.partition, segments: mapped, keys: keys.size, segmentsWritten: rewritten, batchesRemoved: removedBatches }, 'log cleaned');
  }

  /** max.compaction.lag.ms has passed since the first batch of `r` (its max timestamp, as Kafka's getFirstBatchTimestamp). */
  private async compactionLagPassed(log: PartitionLog, r: LogRange, cfg: TopicStorageConfig): Promise<boolean> {
    if (cfg.maxCompactionLagMs >= Number.MAX_SAFE_INTEGER) return false;
    const now = Date.now();
    // The first batch's max timestamp is at most the segment's: if that one has passed the lag, so has the first.
    if (r.maxTimestamp >= 0 && now - r.maxTimestamp > cfg.maxCompactionLagMs) return true;
    let first = this.firstBatchTimestamps.get(r);
    if (first === undefined) {
      const b = await log.firstBatchOf(r);
      first = b ? readBatchHeader(b.buf).maxTimestamp : -1;
      this.firstBatchTimestamps.set(r, first);
    }
    return first >= 0 && now - first > cfg.maxCompactionLagMs;
  }

  /**
   * Puts a written segment (at `position` in its object: a pack's) in the
   * place of the ranges it holds, in the metadata store, then in the log.
   */
  private async swapIn(log: PartitionLog, group: LogRange[], key: string, size: number, cleanedThrough?: number, position = 0): Promise<void> {
    const base = group[0]!.baseOffset;
    const range: LogRange = {
      kind: 'segment',
      key,
      position,
      length: size,
      baseOffset: base,
      nextOffset: group[group.length - 1]!.nextOffset,
      maxTimestamp: group.reduce((m, r) => Math.max(m, r.maxTimestamp), -1),
      ...(cleanedThrough === undefined ? {} : { cleanedThrough }),
    };
    await this.meta.replaceRanges({
      topicId: log.topicId,
      partition: log.partition,
      leaderEpoch: log.leaderEpoch,
      replacedBaseOffsets: group.map((r) => r.baseOffset),
      range,
    });
    if (this.meta.singleWriter && isSharedObject(range)) this.walRefs.set(key, (this.walRefs.get(key) ?? 0) + 1);
    failpoint(cleanedThrough === undefined ? 'compaction.after-metadata-swap' : 'cleaning.after-metadata-swap');
    const idx = log.ranges.findIndex((r) => r.baseOffset === base);
    if (idx >= 0) log.replaceRanges(idx, group.length, range);
    log.oldestWalCommitAt = Date.now();
    this.quietSince.set(log, Date.now());
    this.stats.segmentsWritten++;
    if (this.holding) {
      this.debtCheckedAt = -Infinity;
      this.writer.wakeAdmission();
    }
  }

  /** The batch bytes a segment holds (its blocks before LZ4), from its footer. */
  private async segmentRawBytes(r: LogRange): Promise<number> {
    const footer = await this.reader.footer(r);
    return footer.blocks.reduce((n, b) => n + b.rawLength, 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.compactionTimer) clearInterval(this.compactionTimer);
    if (this.gcTimer) clearInterval(this.gcTimer);
    await this.writer.close();
    await this.compacting;
  }
}
