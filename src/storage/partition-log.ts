// One partition this broker leads: offsets are assigned here, in append
// order; batches become visible to consumers only when the WAL commit that
// holds them is durable (the high watermark). Recent batches stay in memory
// (the tail) so that consumers keeping up never touch the object store.

import type { EpochStart, LogRange, PartitionState, ProducerStateEntry } from '../coordination/metadata-store.js';
import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import { firstOffsetAtOrAfterTimestamp, readBatchHeader, setBaseOffset, setPartitionLeaderEpoch } from '../protocol/records/batch.js';
import { ObjectNotFoundError } from './object-store.js';
import { ProducerTable } from './producer-state.js';
import type { RangeReader, StoredBatch } from './range-reader.js';
import type { BlockPins } from './block-pool.js';
import { TAIL_COPY_MAX_BYTES, TailArena } from './tail-arena.js';

export interface AppendRequest {
  log: PartitionLog;
  generation: number;
  baseOffset: number;
  nextOffset: number;
  maxTimestamp: number;
  batches: Buffer[];
  bytes: number;
  producers: ProducerStateEntry[];
}

/** What the write path needs from the WAL writer. */
export interface AppendSink {
  enqueue(req: AppendRequest): Promise<void>;
}

export interface AppendResult {
  baseOffset: number;
  logAppendTime: number;
  logStartOffset: number;
}

export interface PartitionLogOptions {
  /** Current cap on this partition's in-memory tail (shares a broker-wide budget). */
  tailMaxBytes(): number;
  /** Told after every WAL_GROWTH_NOTICE_BYTES of committed WAL ranges: a segment's worth may be due for compaction. */
  walGrew?(log: PartitionLog): void;
}

/**
 * What a batch in the tail costs beyond its bytes: its entry, its Buffer view
 * and a boxed timestamp (about 170 bytes in a heap snapshot). Counted, so that
 * a tail of tiny batches holds to its budget in memory, not only in bytes.
 */
export const TAIL_ENTRY_OVERHEAD_BYTES = 192;

/** See PartitionLogOptions.walGrew: a few checks per 64 MiB segment, none per flush. */
export const WAL_GROWTH_NOTICE_BYTES = 4 * 1024 * 1024;

export class PartitionLog {
  leaderEpoch: number;
  epochHistory: EpochStart[];
  logStartOffset: number;
  highWatermark: number;
  logEndOffset: number;
  private rangeList: LogRange[];
  /**
   * Bytes and count of the WAL ranges among them, kept as they change: a
   * broker asks for every partition's several times a second (compaction
   * debt), and with 1,000 partitions of 1,000 ranges each a count by scanning
   * took a fifth of its CPU.
   */
  private walBytesHeld = 0;
  private walRangesHeld = 0;
  readonly producers: ProducerTable;
  /** Bumped when uncommitted appends are rolled back: older pending appends are void. */
  generation = 0;
  fenced = false;
  /** Being handed over: no new appends, the accepted ones still commit. */
  closing = false;
  /** When the oldest WAL range not yet in a segment was committed (for segment.ms). */
  oldestWalCommitAt = 0;

  private tail: StoredBatch[] = [];
  /** Memory the tail holds: its batches' bytes and TAIL_ENTRY_OVERHEAD_BYTES each. */
  private tailBytes = 0;
  private readonly arena = new TailArena();
  private walSinceNotice = 0;
  private waiters = new Set<() => void>();

  constructor(
    readonly topicName: string,
    readonly topicId: string,
    readonly partition: number,
    state: PartitionState,
    private readonly reader: RangeReader,
    private readonly sink: AppendSink,
    private readonly opts: PartitionLogOptions,
  ) {
    this.leaderEpoch = state.leaderEpoch;
    this.epochHistory = state.epochHistory.map((e) => ({ ...e }));
    this.logStartOffset = state.logStartOffset;
    this.highWatermark = state.highWatermark;
    this.logEndOffset = state.highWatermark;
    this.rangeList = state.ranges.map((r) => ({ ...r }));
    for (const r of this.rangeList) this.countWal(r, 1);
    this.producers = new ProducerTable(state.producers);
    if (this.walRangesHeld > 0) this.oldestWalCommitAt = Date.now();
  }

  /**
   * Appends validated v2 batches (from one produce request for this partition)
   * and resolves once they are durable and committed. Small batches are
   * replaced in `batches` by their copies in the tail's own memory. `logAppendTime`: the
   * time the batches were stamped with (LogAppendTime topics), else -1.
   */
  async append(batches: Buffer[], logAppendTime = -1): Promise<AppendResult> {
    if (this.fenced || this.closing) throw new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, 'leadership lost');
    const first = readBatchHeader(batches[0]!);
    const idempotent = first.producerId >= 0;
    if (idempotent) {
      if (batches.length !== 1) throw new KafkaError(ErrorCode.INVALID_RECORD, 'an idempotent producer sends one batch per partition');
      const check = this.producers.check(first);
      if (check.kind === 'duplicate') {
        if (check.pending) await check.pending;
        return { baseOffset: check.baseOffset, logAppendTime: -1, logStartOffset: this.logStartOffset };
      }
    }
    const baseOffset = this.logEndOffset;
    let offset = baseOffset;
    let maxTimestamp = -1;
    let bytes = 0;
    for (let i = 0; i < batches.length; i++) {
      let b = batches[i]!;
      const h = i === 0 ? first : readBatchHeader(b);
      setBaseOffset(b, offset);
      setPartitionLeaderEpoch(b, this.leaderEpoch);
      if (b.length <= TAIL_COPY_MAX_BYTES) batches[i] = b = this.arena.copy(b);
      const next = offset + h.lastOffsetDelta + 1;
      this.tail.push({ baseOffset: offset, nextOffset: next, maxTimestamp: h.maxTimestamp, buf: b });
      this.tailBytes += b.length + TAIL_ENTRY_OVERHEAD_BYTES;
      bytes += b.length;
      if (h.maxTimestamp > maxTimestamp) maxTimestamp = h.maxTimestamp;
      offset = next;
    }
    this.logEndOffset = offset;
    const req: AppendRequest = {
      log: this,
      generation: this.generation,
      baseOffset,
      nextOffset: offset,
      maxTimestamp,
      batches,
      bytes,
      producers: [],
    };
    const committed = this.sink.enqueue(req);
    if (idempotent) req.producers.push(this.producers.record(first, baseOffset, committed));
    await committed;
    return { baseOffset, logAppendTime, logStartOffset: this.logStartOffset };
  }

  /** Called by the WAL writer, in commit order. */
  onCommitted(range: LogRange, producers: ProducerStateEntry[]): void {
    if (this.walRangesHeld === 0) this.oldestWalCommitAt = Date.now();
    this.rangeList.push(range);
    this.countWal(range, 1);
    this.highWatermark = range.nextOffset;
    this.producers.markCommitted(producers);
    this.evictTail();
    this.wake();
    this.walSinceNotice += range.length;
    if (this.walSinceNotice >= WAL_GROWTH_NOTICE_BYTES) {
      this.walSinceNotice = 0;
      this.opts.walGrew?.(this);
    }
  }

  /** Called by the WAL writer when a flush holding this partition failed: forget everything uncommitted. */
  rollback(): void {
    this.generation++;
    this.logEndOffset = this.highWatermark;
    while (this.tail.length && this.tail[this.tail.length - 1]!.baseOffset >= this.highWatermark) {
      this.tailBytes -= charge(this.tail.pop()!);
    }
    this.producers.rollback();
  }

  fence(): void {
    this.fenced = true;
    this.rollback();
    this.wake();
  }

  /** What the in-memory tail holds: its batches, and the memory it counts for them. */
  tailUsage(): { batches: number; bytes: number } {
    return { batches: this.tail.length, bytes: this.tailBytes };
  }

  /** Forgets the in-memory copies of the batches below `offset`: a cleaned segment holds them now, without what it dropped. */
  dropTailBelow(offset: number): void {
    while (this.tail.length && this.tail[0]!.nextOffset <= offset) this.tailBytes -= charge(this.tail.shift()!);
  }

  private evictTail(): void {
    const cap = this.opts.tailMaxBytes();
    while (this.tailBytes > cap && this.tail.length && this.tail[0]!.nextOffset <= this.highWatermark) {
      this.tailBytes -= charge(this.tail.shift()!);
    }
  }

  /** Resolves on the next high-watermark change (or fence). */
  onChange(cb: () => void): () => void {
    this.waiters.add(cb);
    return () => this.waiters.delete(cb);
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /**
   * Committed batches from the one holding `offset`, in order, ending before
   * the high watermark. `pins`: see RangeReader.batchesFrom.
   */
  async *batchesFrom(offset: number, pins?: BlockPins): AsyncGenerator<StoredBatch> {
    while (offset < this.highWatermark) {
      const batches = await this.someBatchesFrom(offset, pins);
      if (batches.length === 0) return;
      for (const b of batches) {
        if (b.baseOffset >= this.highWatermark) return;
        yield b;
        offset = b.nextOffset;
      }
    }
  }

  private async someBatchesFrom(offset: number, pins?: BlockPins): Promise<StoredBatch[]> {
    for (;;) {
      if (this.tail.length && this.tail[0]!.baseOffset <= offset) {
        const i = findBatch(this.tail, offset);
        return i < 0 ? [] : this.tail.slice(i, i + 64);
      }
      const r = this.rangeFor(offset);
      if (!r) return [];
      let batches: StoredBatch[];
      try {
        batches = await this.reader.batchesFrom(r, offset, this.epochAt(r.baseOffset), true, pins);
      } catch (err) {
        // Compaction, merging or cleaning replaced the range while it was being
        // read and deleted its object (a GET retried through a faulty store
        // takes seconds): the offset now lives in the range that replaced it.
        if (err instanceof ObjectNotFoundError && this.rangeFor(offset) !== r) continue;
        throw err;
      }
      // A cleaned segment (cleanup.policy=compact) may end before its range does: read on from the next range.
      if (batches.length > 0 || r.nextOffset >= this.highWatermark) return batches;
      offset = r.nextOffset;
    }
  }

  rangeFor(offset: number): LogRange | undefined {
    let lo = 0;
    let hi = this.rangeList.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.rangeList[mid]!;
      if (r.nextOffset <= offset) lo = mid + 1;
      else if (r.baseOffset > offset) hi = mid - 1;
      else return r;
    }
    return undefined;
  }

  /**
   * The batches of a committed range, from memory when the tail still holds
   * them. `fillCache` false: bytes read from the store are not kept in the
   * block cache (compaction, which is about to replace the range).
   */
  async batchesOfRange(r: LogRange, fillCache = true): Promise<StoredBatch[]> {
    if (this.tail.length && this.tail[0]!.baseOffset <= r.baseOffset) {
      const i = findBatch(this.tail, r.baseOffset);
      const out: StoredBatch[] = [];
      for (let j = i; j < this.tail.length && this.tail[j]!.baseOffset < r.nextOffset; j++) out.push(this.tail[j]!);
      return out;
    }
    const out: StoredBatch[] = [];
    let offset = r.baseOffset;
    while (offset < r.nextOffset) {
      const some = await this.reader.batchesFrom(r, offset, this.epochAt(r.baseOffset), fillCache);
      if (some.length === 0) break;
      for (const b of some) {
        if (b.baseOffset >= r.nextOffset) break;
        out.push(b);
        offset = b.nextOffset;
      }
    }
    return out;
  }

  /** The first batch of a committed range (not kept in the block cache). */
  async firstBatchOf(r: LogRange): Promise<StoredBatch | undefined> {
    if (this.tail.length && this.tail[0]!.baseOffset <= r.baseOffset) return this.tail[findBatch(this.tail, r.baseOffset)];
    const some = await this.reader.batchesFrom(r, r.baseOffset, this.epochAt(r.baseOffset), false);
    return some[0] !== undefined && some[0].baseOffset < r.nextOffset ? some[0] : undefined;
  }

  /**
   * Batches for a fetch: from the one holding `offset`, up to maxBytes (the
   * first batch always, as Kafka does since KIP-74). `pins`: the fetch
   * releases the blocks it was given once its response is written.
   */
  async read(offset: number, maxBytes: number, pins?: BlockPins): Promise<Buffer[]> {
    this.checkOffset(offset);
    const out: Buffer[] = [];
    let bytes = 0;
    for await (const b of this.batchesFrom(offset, pins)) {
      if (out.length > 0 && bytes + b.buf.length > maxBytes) break;
      out.push(b.buf);
      bytes += b.buf.length;
      if (bytes >= maxBytes) break;
    }
    return out;
  }

  checkOffset(offset: number): void {
    if (offset < this.logStartOffset || offset > this.highWatermark) {
      throw new KafkaError(
        ErrorCode.OFFSET_OUT_OF_RANGE,
        `offset ${offset} is outside [${this.logStartOffset}, ${this.highWatermark}]`,
      );
    }
  }

  /** Kafka's ListOffsets by timestamp: the first offset whose record timestamp is at or after ts. */
  async offsetForTimestamp(ts: number): Promise<{ offset: number; timestamp: number } | null> {
    for (const r of this.ranges) {
      if (r.maxTimestamp < ts || r.nextOffset <= this.logStartOffset) continue;
      for (const b of await this.batchesOfRange(r)) {
        if (b.maxTimestamp < ts || b.nextOffset <= this.logStartOffset) continue;
        const hit = firstOffsetAtOrAfterTimestamp(b.buf, ts);
        if (hit && hit.offset >= this.logStartOffset) return hit;
      }
    }
    return null;
  }

  /** The leader epoch that appended `offset`, from the epoch history (undefined before its first entry). */
  epochAt(offset: number): number | undefined {
    let e: number | undefined;
    for (const h of this.epochHistory) {
      if (h.startOffset > offset) break;
      e = h.epoch;
    }
    return e;
  }

  /** OffsetForLeaderEpoch: the end offset of `epoch` as this leader knows it. */
  endOffsetForEpoch(epoch: number): { leaderEpoch: number; endOffset: number } {
    const h = this.epochHistory;
    if (h.length === 0 || epoch < h[0]!.epoch) return { leaderEpoch: -1, endOffset: -1 };
    for (let i = h.length - 1; i >= 0; i--) {
      if (h[i]!.epoch <= epoch) {
        const next = h[i + 1];
        return { leaderEpoch: h[i]!.epoch, endOffset: next ? next.startOffset : this.logEndOffset };
      }
    }
    return { leaderEpoch: -1, endOffset: -1 };
  }

  /** Bytes in WAL ranges not yet compacted into segments. */
  walBytes(): number {
    return this.walBytesHeld;
  }

  /** WAL ranges not yet compacted: each is a manifest entry (an etcd key in a cluster). */
  walRanges(): number {
    return this.walRangesHeld;
  }

  /** Where this partition's records are, in offset order: segments, then WAL runs. */
  get ranges(): readonly LogRange[] {
    return this.rangeList;
  }

  /** A compaction's swap: `count` ranges from `index` on are now `range`. */
  replaceRanges(index: number, count: number, range: LogRange): void {
    for (const r of this.rangeList.splice(index, count, range)) this.countWal(r, -1);
    this.countWal(range, 1);
  }

  /** Forgets the ranges wholly below the log start, and returns them. */
  dropRangesBelowStart(): LogRange[] {
    let n = 0;
    while (n < this.rangeList.length && this.rangeList[n]!.nextOffset <= this.logStartOffset) n++;
    const dropped = this.rangeList.splice(0, n);
    for (const r of dropped) this.countWal(r, -1);
    return dropped;
  }

  private countWal(r: LogRange, sign: 1 | -1): void {
    if (r.kind !== 'wal') return;
    this.walBytesHeld += sign * r.length;
    this.walRangesHeld += sign;
  }

}

/** Index of the batch holding offset in a contiguous, sorted batch list, or -1. */
function findBatch(list: StoredBatch[], offset: number): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const b = list[mid]!;
    if (b.nextOffset <= offset) lo = mid + 1;
    else if (b.baseOffset > offset) hi = mid - 1;
    else return mid;
  }
  return -1;
}

/** What a tail entry counts against the tail's budget. */
function charge(b: StoredBatch): number {
  return b.buf.length + TAIL_ENTRY_OVERHEAD_BYTES;
}
