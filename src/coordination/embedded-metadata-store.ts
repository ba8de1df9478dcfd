// MetadataStore for a single broker with no external services: the state
// machine of manifest-state.ts, made durable by an operation journal in the
// data directory and compacted into a snapshot now and then. An operation is
// checked and applied in memory in order, and its promise resolves only once
// its journal record is fsynced; since the journal is ordered, whatever a
// crash keeps is a prefix of what was acknowledged plus nothing acknowledged.

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

const SNAPSHOT_AFTER_BYTES = 64 * 1024 * 1024;

interface Snapshot {
  seq: number;
  state: MetadataState;
}

export type EmbeddedPersistence = MetadataPersistence<MetadataState, Operation>;

export class EmbeddedMetadataStore extends EventEmitter implements MetadataStore {
  readonly description: string;
  private state: MetadataState = emptyState();
  private seq = 0;
  private topicsByName = new Map<string, TopicRecord>();

  constructor(
    private readonly journal: EmbeddedPersistence,
    private readonly log: Logger,
    private readonly snapshotAfterBytes = SNAPSHOT_AFTER_BYTES,
  ) {
    super();
    this.description = `embedded:${journal.description}`;
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
    if (fresh) await this.writeSnapshot();
    this.rebuildTopicIndex();
    this.journal.onIdle = () => this.maybeSnapshot();
    this.log.info({ store: this.description, seq: this.seq, replayed }, 'metadata loaded');
  }

  private rebuildTopicIndex(): void {
    this.topicsByName = new Map(Object.entries(this.state.topics));
  }

  private async writeSnapshot(): Promise<void> {
    await this.journal.writeSnapshot(this.seq, JSON.stringify({ seq: this.seq, state: this.state } satisfies Snapshot));
  }

  private async maybeSnapshot(): Promise<void> {
    if (this.journal.journalBytes() < this.snapshotAfterBytes) return;
    // Serialized synchronously: the snapshot holds exactly the journaled operations.
    const seq = this.seq;
    const data = JSON.stringify({ seq, state: this.state } satisfies Snapshot);
    await this.journal.writeSnapshot(seq, data);
    this.log.info({ seq, bytes: data.length }, 'metadata snapshot written');
  }

  private run(o: Operation): Promise<void> {
    try {
      validate(this.state, o);
    } catch (err) {
      return Promise.reject(err);
    }
    apply(this.state, o);
    this.seq += 1;
    return this.journal.append({ seq: this.seq, body: o });
  }

  async close(): Promise<void> {
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

  async commitWal(commit: WalCommit): Promise<{ fenced: PartitionKey[] }> {
    const fenced = fencedAppends(this.state, commit);
    const live = fenced.length ? { ...commit, appends: commit.appends.filter((a) => !fenced.includes(partitionKey(a.topicId, a.partition))) } : commit;
    if (live.appends.length) await this.run({ op: 'wal', commit: live });
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

  async referencedObjects(): Promise<Set<string>> {
    const keys = new Set<string>();
    for (const p of Object.values(this.state.partitions)) for (const r of p.ranges) keys.add(r.key);
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
