// Fetch sessions (KIP-227). A consumer of many partitions names them all
// once; each later fetch of its session carries only what changed (a moved
// offset, a partition added or forgotten), and each answer only the
// partitions with records, an error, or a high watermark or log start the
// client has not been told yet. Sessions belong to the broker, not to a
// connection (a client may reconnect), and their number is bounded as
// Kafka's is (max.incremental.fetch.session.cache.slots, 1000): when every
// slot holds a session used in the last two minutes, a new one is not made
// and the client goes on with full fetches.

import type { FetchRequestFetchPartition } from '../protocol/generated/fetch.js';

/** A fetch with this epoch closes its session (if any) and is answered in full, without one. */
export const FINAL_EPOCH = -1;
/** A fetch with this epoch opens a session (closing the one it names, if any). */
export const INITIAL_EPOCH = 0;
export const MAX_SESSIONS = 1000;
/** A session unused this long may be evicted for a new one (Kafka's min.incremental.fetch.session.eviction.ms). */
export const EVICTABLE_AFTER_MS = 120_000;

/** One partition of a session: what the client asked for, and what it was last told. */
export interface SessionPartition {
  /** The topic as the client names it: its name (Fetch v7-12) or its id (v13+). */
  topic: string;
  req: FetchRequestFetchPartition;
  /** Last told: -2 for never, so the first answer always carries the partition. */
  highWatermark: number;
  logStartOffset: number;
}

export class FetchSession {
  /** By topic and partition, in the order their data is served: a partition that got records moves to the end. */
  readonly partitions = new Map<string, SessionPartition>();
  /** The epoch the next fetch of this session must carry. */
  epoch = 1;
  lastUsed = Date.now();

  constructor(
    readonly id: number,
    /** Fetch v13+ names topics by id; a session keeps to one way. */
    readonly usesTopicIds: boolean,
  ) {}

  set(topic: string, req: FetchRequestFetchPartition): void {
    const key = partitionKey(topic, req.partition);
    const old = this.partitions.get(key);
    this.partitions.set(key, { topic, req, highWatermark: old?.highWatermark ?? -2, logStartOffset: old?.logStartOffset ?? -2 });
  }

  forget(topic: string, partition: number): void {
    this.partitions.delete(partitionKey(topic, partition));
  }

  /** Serves `key` last next time (it just got records): partitions early in a session's order get the byte budget first. */
  moveToEnd(key: string): void {
    const p = this.partitions.get(key);
    if (!p) return;
    this.partitions.delete(key);
    this.partitions.set(key, p);
  }

  /** Whether an incremental answer must carry this partition, and remembers what it then tells the client. */
  mustAnswer(p: SessionPartition, errorCode: number, hasRecords: boolean, highWatermark: number, logStartOffset: number): boolean {
    const changed = errorCode !== 0 || hasRecords || p.highWatermark !== highWatermark || p.logStartOffset !== logStartOffset;
    p.highWatermark = highWatermark;
    p.logStartOffset = logStartOffset;
    return changed;
  }

  /** The epoch after `epoch` (wrapping past int32's maximum to 1, as Kafka's). */
  advance(): void {
    this.epoch = this.epoch === 0x7fffffff ? 1 : this.epoch + 1;
    this.lastUsed = Date.now();
  }
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export class FetchSessionCache {
  /** In order of last use, least recent first. */
  private sessions = new Map<number, FetchSession>();

  constructor(
    private readonly maxSessions = MAX_SESSIONS,
    private readonly evictableAfterMs = EVICTABLE_AFTER_MS,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** A new session, or null when every slot holds a session in recent use. */
  create(usesTopicIds: boolean): FetchSession | null {
    if (this.sessions.size >= this.maxSessions) {
      const [oldestId, oldest] = this.sessions.entries().next().value as [number, FetchSession];
      if (Date.now() - oldest.lastUsed < this.evictableAfterMs) return null;
      this.sessions.delete(oldestId);
    }
    let id: number;
    do id = 1 + Math.floor(Math.random() * 0x7ffffffe);
    while (this.sessions.has(id));
    const s = new FetchSession(id, usesTopicIds);
    this.sessions.set(id, s);
    return s;
  }

  /** The session, marked as the most recently used. */
  get(id: number): FetchSession | undefined {
    const s = this.sessions.get(id);
    if (s) {
      this.sessions.delete(id);
      this.sessions.set(id, s);
      s.lastUsed = Date.now();
    }
    return s;
  }

  remove(id: number): void {
    this.sessions.delete(id);
  }
}
