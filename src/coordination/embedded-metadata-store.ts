// MetadataStore for a single broker with no external services: the state
// machine of manifest-state.ts, made durable by an operation journal in the
// data directory and compacted into a snapshot now and then. An operation is
// checked and applied in memory in order, and its promise resolves only once
// its journal record is fsynced; since the journal is ordered, whatever a
// crash keeps is a prefix of what was acknowledged plus nothing acknowledged.
//
// WAL commits skip the journal: each WAL object carries its own commit and
// slot number (walSeq, reserved in flush order), so a flush is one write (one
// PUT on S3) instead of two. Such a commit is applied in memory once its
// object is durable and acknowledged once every journal record before it is;
// the next journal write carries it too (before anything that may depend on
// it, such as the compaction that lets its object be deleted). After a crash,
// the commits after the journal's last slot are read back from the objects,
// in slot order, up to the first slot that is missing. A slot whose object
// failed, or whose commit did not stand whole, is resolved in the journal
// (walSkip, or the commit as it stood), so no acknowledged commit ever sits
// behind a hole.

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  partitionKey,
  UnknownTopicError,
  type PartitionKey,
  type BrokerRecord,
  type CommittedOffset,
  type MetadataStore,
  type PartitionState,
  type RangeReplacement,
  RangesNotReplaced,
  type StoredGroup,
  type TopicRecord,
  type WalCommit,
} from './metadata-store.js';
import {
  apply,
  emptyState,
  fencedAppends,
  fromStoredOffset,
  toStoredOffset,
  validate,
  type MetadataState,
  type Operation,
} from './manifest-state.js';
import type { MetadataPersistence } from './persistence.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readEmbeddedCommitSurely, type EmbeddedCommit } from '../storage/wal-object.js';
import { Limiter } from '../storage/limiter.js';
import { totalBytes } from '../storage/chunks.js';
import { SnapshotAbandoned, captureState, serializeCaptured } from './snapshot.js';
import { failpoint } from '../failpoints.js';

const SNAPSHOT_AFTER_BYTES = 64 * 1024 * 1024;
const SNAPSHOT_RETRY_MS = 10_000;
/**
 * At recovery, the data of this many of the last embedded commits is read and
 * CRC-checked: a write cut short by the crash may have left its footer and a
 * hole. Earlier objects were whole (the writer has at most a few in flight).
 */
const VERIFY_LAST_EMBEDDED = 32;
/**
 * Embedded commits are journaled in the background once this many wait, which
 * bounds what a restart reads back from objects (and the memory they hold)
 * when nothing else is journaled for a long time.
 */
const MAX_UNJOURNALED = 256;
/** WAL object footers read at once during recovery. */
const RECOVERY_READS = 16;

export type EmbeddedPersistence = MetadataPersistence<MetadataState, Operation>;

export class EmbeddedMetadataStore extends EventEmitter implements MetadataStore {
  readonly description: string;
  private state: MetadataState = emptyState();
  private seq = 0;
  private topicsByName = new Map<string, TopicRecord>();
  /** Last WAL slot handed out. */
  private walSeqReserved = 0;
  /** WAL commits applied from their objects and not yet in the journal. */
  private unjournaled: WalCommit[] = [];
  /** The last journal append: durable once it resolves, and every one before it. */
  private lastAppend: Promise<void> = Promise.resolve();
  /** A snapshot being serialized and written (one at a time). */
  private snapshotting: Promise<void> | null = null;
  private lastSnapshotBytes = 0;
  /** After a failed snapshot, none is tried before this time (each try serializes the whole state). */
  private snapshotRetryAt = 0;
  private closing = false;

  /** `objects`: where WAL objects carrying their own commits are read back from (without it, every commit is journaled). */
  constructor(
    private readonly journal: EmbeddedPersistence,
    private readonly log: Logger,
    private readonly snapshotAfterBytes = SNAPSHOT_AFTER_BYTES,
    private readonly objects?: ObjectStore,
  ) {
    super();
    this.description = `embedded:${journal.description}`;
    if (objects) this.reserveWalSeq = () => ++this.walSeqReserved;
  }

  async start(): Promise<void> {
    let fresh = true;
    const { snapshot, records } = await this.journal.load();
    if (snapshot) {
      this.state = snapshot.state;
      this.seq = snapshot.seq;
      fresh = false;
    }
    let replayed = 0;
    for (const r of records) {
      if (r.seq <= this.seq) continue;
      apply(this.state, r.body);
      this.seq = r.seq;
      replayed++;
      fresh = false;
    }
    const embedded = await this.recoverEmbeddedCommits();
    if (fresh && !embedded) await this.writeSnapshot();
    this.walSeqReserved = this.state.walSeq ?? 0;
    this.rebuildTopicIndex();
    this.journal.onIdle = () => this.maybeSnapshot();
    this.log.info({ store: this.description, seq: this.seq, replayed, embedded, walSeq: this.state.walSeq ?? 0 }, 'metadata loaded');
  }

  /**
   * Applies the commits that WAL objects carry past the journal's last slot,
   * in slot order, up to the first missing or damaged one (what lies beyond a
   * hole was never acknowledged: acknowledgements wait for every slot before).
   */
  private async recoverEmbeddedCommits(): Promise<number> {
    if (!this.objects) return 0;
    const from = this.state.walSeq ?? 0;
    const referenced = await this.referencedObjects();
    const found = new Map<number, { key: string; read: EmbeddedCommit }>();
    // Footers are read a few at a time: on S3 each is two GETs, and a restart may find hundreds.
    const limiter = new Limiter(RECOVERY_READS);
    const objects = this.objects;
    await Promise.all(
      (await objects.list('wal/'))
        .filter((o) => !referenced.has(o.key))
        .map((o) =>
          limiter.run(async () => {
            // A read that keeps failing fails the start: taking it for a hole would drop what lies beyond it.
            const read = await readEmbeddedCommitSurely(objects, o.key, o.size);
            const seq = read?.commit.walSeq;
            if (read && seq !== undefined && seq > from && read.commit.objectKey === o.key) found.set(seq, { key: o.key, read });
          }),
        ),
    );
    let last = from;
    while (found.has(last + 1)) last++;
    let applied = 0;
    for (let seq = from + 1; seq <= last; seq++) {
      const { key, read } = found.get(seq)!;
      if (last - seq < VERIFY_LAST_EMBEDDED && !(await read.verify())) {
        this.log.warn({ key, walSeq: seq }, 'WAL object cut short by the crash: its commit and later ones were never acknowledged');
        break;
      }
      const o: Operation = { op: 'wal', commit: read.commit };
      try {
        validate(this.state, o);
      } catch (err) {
        this.log.warn({ err, key, walSeq: seq }, 'embedded WAL commit does not apply; stopping there');
        break;
      }
      apply(this.state, o);
      this.unjournaled.push(read.commit);
      applied++;
    }
    if (found.size > applied) this.log.info({ applied, ignored: found.size - applied }, 'WAL objects past the last embedded commit are orphans');
    return applied;
  }

  private rebuildTopicIndex(): void {
    this.topicsByName = new Map(Object.entries(this.state.topics));
  }

  /** A snapshot now, awaited whole (at the first start: nothing else runs yet). */
  private async writeSnapshot(): Promise<void> {
    await (await this.beginSnapshot())();
  }

  /**
   * Captures the state and sets its journal apart; the function returned
   * serializes and writes the snapshot, and resolves to its size.
   */
  private async beginSnapshot(): Promise<() => Promise<number>> {
    const captured = captureState(this.seq, this.state);
    const writer = await this.journal.beginSnapshot(captured.seq);
    return async () => {
      // A closing store does not wait for a snapshot to be serialized (seconds for a large state): the journal it would replace stays.
      const serialized = await serializeCaptured(captured, undefined, () => this.closing);
      await writer.write(serialized);
      const bytes = totalBytes(serialized);
      this.log.info({ seq: captured.seq, bytes }, 'metadata snapshot written');
      return bytes;
    };
  }

  /**
   * At an idle point of the journal (every record so far durable): once the
   * journal outgrows both its bound and the last snapshot (so that writing
   * snapshots costs no more than journaling, however large the state), the
   * state is captured here and written in the background while the journal
   * goes on (see snapshot.ts).
   */
  private async maybeSnapshot(): Promise<void> {
    if (this.snapshotting || this.closing || Date.now() < this.snapshotRetryAt) return;
    if (this.journal.journalBytes() < Math.max(this.snapshotAfterBytes, this.lastSnapshotBytes)) return;
    let finish: () => Promise<number>;
    try {
      finish = await this.beginSnapshot();
    } catch (err) {
      // Not thrown at the journal: its writer would stop.
      this.snapshotRetryAt = Date.now() + SNAPSHOT_RETRY_MS;
      this.log.warn({ err }, 'metadata snapshot could not begin; the journal stays, and it is tried again later');
      return;
    }
    const inBackground = async () => {
      failpoint('metadata.snapshot-begun');
      return finish();
    };
    this.snapshotting = inBackground()
      .then((bytes) => {
        this.lastSnapshotBytes = bytes;
      })
      .catch((err: unknown) => {
        if (err instanceof SnapshotAbandoned) return;
        this.snapshotRetryAt = Date.now() + SNAPSHOT_RETRY_MS;
        this.log.warn({ err }, 'metadata snapshot failed; the journal stays, and it is tried again later');
      })
      .finally(() => {
        this.snapshotting = null;
      });
  }

  private run(o: Operation): Promise<void> {
    try {
      validate(this.state, o);
    } catch (err) {
      return Promise.reject(err);
    }
    // Commits applied from their objects go first: the journal's order is the order they were applied in.
    this.journalEmbedded();
    apply(this.state, o);
    this.seq += 1;
    const p = this.journal.append({ seq: this.seq, body: o });
    this.lastAppend = p;
    p.catch(() => {});
    return p;
  }

  /**
   * Journals the embedded commits applied so far. Nothing waits for these
   * records (the commits are already recoverable from their objects), but
   * any later record is durable only after them.
   */
  private journalEmbedded(): void {
    for (const commit of this.unjournaled) this.journal.append({ seq: ++this.seq, body: { op: 'wal', commit } }).catch(() => {});
    this.unjournaled = [];
  }

  /** Present only with an object store to read commits back from. */
  readonly reserveWalSeq?: () => number;

  async skipWal(walSeq: number): Promise<void> {
    await this.run({ op: 'walSkip', walSeq });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.snapshotting;
    // Not needed for safety (their objects carry them), but a restart then reads nothing back.
    this.journalEmbedded();
    await this.journal.close();
  }

  clusterId(): string {
    return this.state.clusterId;
  }

  async registerBroker(broker: BrokerRecord): Promise<void> {
    await this.run({ op: 'registerBroker', broker });
    this.emit('brokers');
  }

  brokers(): BrokerRecord[] {
    return Object.values(this.state.brokers);
  }

  topics(): ReadonlyMap<string, TopicRecord> {
    return this.topicsByName;
  }

  private async topicOp(o: Operation): Promise<void> {
    const p = this.run(o);
    this.rebuildTopicIndex();
    await p;
    this.emit('topics');
    this.emit('assignment');
  }

  createTopic(topic: TopicRecord): Promise<void> {
    return this.topicOp({ op: 'createTopic', topic });
  }

  deleteTopic(name: string): Promise<void> {
    return this.topicOp({ op: 'deleteTopic', name });
  }

  setPartitionCount(name: string, count: number): Promise<void> {
    return this.topicOp({ op: 'setPartitionCount', name, count });
  }

  setTopicConfigs(name: string, configs: Record<string, string>): Promise<void> {
    return this.topicOp({ op: 'setTopicConfigs', name, configs });
  }

  async acquirePartition(topicId: string, partition: number, brokerId: number): Promise<PartitionState> {
    return (await this.acquirePartitions(topicId, [partition], brokerId))[0]!;
  }

  /** One journal record for them all: a 10,000-partition topic opens with one fsync, not 10,000. */
  async acquirePartitions(topicId: string, partitions: number[], brokerId: number): Promise<PartitionState[]> {
    await this.run({ op: 'acquireMany', topicId, partitions, brokerId });
    // The topic may have been deleted while the acquisition was being journaled.
    return partitions.map((n) => {
      const p = this.state.partitions[partitionKey(topicId, n)];
      if (!p) throw new UnknownTopicError(`${topicId}/${n}`);
      return structuredClone(p);
    });
  }

  leaderOf(topicId: string, partition: number): { leaderId: number; leaderEpoch: number } | undefined {
    const p = this.state.partitions[partitionKey(topicId, partition)];
    return p && p.leaderId >= 0 ? { leaderId: p.leaderId, leaderEpoch: p.leaderEpoch } : undefined;
  }

  async commitWal(commit: WalCommit, opts: { embedded?: boolean } = {}): Promise<{ fenced: PartitionKey[] }> {
    const fenced = fencedAppends(this.state, commit);
    const live = fenced.length ? { ...commit, appends: commit.appends.filter((a) => !fenced.includes(partitionKey(a.topicId, a.partition))) } : commit;
    const { walSeq } = commit;
    // A reserved slot must not stay open: a hole would hide every later commit at recovery.
    const closeSlot = () => (walSeq === undefined ? Promise.resolve() : this.run({ op: 'walSkip', walSeq }));
    if (!live.appends.length) {
      await closeSlot();
      return { fenced };
    }
    const o: Operation = { op: 'wal', commit: live };
    try {
      validate(this.state, o);
    } catch (err) {
      await closeSlot();
      throw err;
    }
    if (opts.embedded && fenced.length === 0 && walSeq !== undefined) {
      apply(this.state, o);
      this.unjournaled.push(commit);
      if (this.unjournaled.length >= MAX_UNJOURNALED) this.journalEmbedded();
      // Acknowledged only once every journal record before it is durable (a walSkip among them).
      await this.lastAppend;
      return { fenced };
    }
    await this.run(o);
    return { fenced };
  }

  readonly singleWriter = true;
  readonly orderedCommits = true;

  writable(): boolean {
    return true;
  }

  /** One broker: it leads every partition of every topic. */
  assignedPartitions(): Array<{ topicId: string; partition: number }> {
    const out = [];
    for (const t of Object.values(this.state.topics)) for (let p = 0; p < t.partitions; p++) out.push({ topicId: t.topicId, partition: p });
    return out;
  }

  replaceRanges(replacement: RangeReplacement): Promise<void> {
    const o: Operation = { op: 'replace', replacement };
    try {
      validate(this.state, o);
    } catch (err) {
      return Promise.reject(new RangesNotReplaced((err as Error).message));
    }
    // Applied in memory from here on: a journal failure leaves the outcome unknown.
    return this.run(o);
  }

  setLogStartOffset(topicId: string, partition: number, leaderEpoch: number, offset: number): Promise<void> {
    return this.run({ op: 'logStart', topicId, partition, leaderEpoch, offset });
  }

  async allocateProducerIds(count: number): Promise<number> {
    const first = this.state.nextProducerId;
    await this.run({ op: 'producerIds', count });
    return first;
  }

  async referencedObjects(except?: ReadonlySet<PartitionKey>): Promise<Set<string>> {
    const keys = new Set<string>();
    for (const [key, p] of Object.entries(this.state.partitions)) {
      if (except?.has(key as PartitionKey)) continue;
      for (const r of p.ranges) keys.add(r.key);
    }
    return keys;
  }

  commitOffsets(group: string, offsets: Array<{ topic: string; partition: number; value: CommittedOffset }>): Promise<void> {
    return this.run({
      op: 'commitOffsets',
      group,
      offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, value: toStoredOffset(o.value) })),
    });
  }

  async fetchOffsets(group: string): Promise<Map<string, Map<number, CommittedOffset>>> {
    const out = new Map<string, Map<number, CommittedOffset>>();
    for (const [topic, parts] of Object.entries(this.state.offsets[group] ?? {})) {
      out.set(topic, new Map(Object.entries(parts).map(([p, v]) => [Number(p), fromStoredOffset(v)])));
    }
    return out;
  }

  deleteOffsets(group: string, partitions: Array<{ topic: string; partition: number }> | 'all'): Promise<void> {
    return this.run({ op: 'deleteOffsets', group, partitions });
  }

  saveGroup(group: string, state: StoredGroup | null): Promise<void> {
    return this.run({ op: 'saveGroup', group, state });
  }

  async loadGroup(group: string): Promise<StoredGroup | null> {
    return this.state.groups?.[group] ?? null;
  }

  async groupsWithOffsets(): Promise<string[]> {
    return Object.keys(this.state.offsets);
  }
}
