// The one interface every metadata backend implements (embedded for a single
// broker, etcd for a cluster). It holds what must survive the broker: topics
// and their configs, brokers, partition leadership with epochs, and each
// partition's manifest (which object ranges hold which offsets, the high
// watermark, the log start, the epoch history and the idempotent producers'
// state). A WAL commit is the durability point of the write path: data is
// acknowledged only after commitWal resolves.

import type { EventEmitter } from 'node:events';

export interface TopicRecord {
  name: string;
  /** Kafka's text form of the topic UUID (base64url, 22 chars). */
  topicId: string;
  partitions: number;
  configs: Record<string, string>;
}

export interface BrokerRecord {
  brokerId: number;
  host: string;
  port: number;
  rack: string | null;
}

/** A committed run of one partition's batches inside one object. */
export interface LogRange {
  kind: 'wal' | 'segment';
  key: string;
  /** Byte position of the run in the object (segments: 0). */
  position: number;
  /** Byte length of the run (segments: the object size). */
  length: number;
  baseOffset: number;
  /** One past the last offset. */
  nextOffset: number;
  maxTimestamp: number;
  /**
   * A segment the log cleaner wrote: the offset its cleaning had mapped keys
   * through, where the next cleaning starts after a restart or a leader
   * change (Kafka's cleaner-offset-checkpoint).
   */
  cleanedThrough?: number;
}

/** A produced batch remembered for deduplication (Kafka keeps the last five). */
export interface ProducerBatchMeta {
  firstSeq: number;
  lastSeq: number;
  baseOffset: number;
  lastOffset: number;
  timestamp: number;
}

export interface ProducerStateEntry {
  producerId: number;
  epoch: number;
  batches: ProducerBatchMeta[];
  lastTimestamp: number;
}

export interface EpochStart {
  epoch: number;
  startOffset: number;
}

export interface PartitionState {
  topicId: string;
  partition: number;
  leaderId: number;
  leaderEpoch: number;
  epochHistory: EpochStart[];
  logStartOffset: number;
  highWatermark: number;
  ranges: LogRange[];
  producers: ProducerStateEntry[];
}

export interface PartitionAppend {
  topicId: string;
  partition: number;
  /** The epoch the leader appended under: the commit's guard. */
  leaderEpoch: number;
  range: LogRange;
  /** Producer entries this append changed, whole. */
  producers: ProducerStateEntry[];
}

export interface WalCommit {
  brokerId: number;
  objectKey: string;
  appends: PartitionAppend[];
  /**
   * The flush's slot in the order of WAL commits, on a store that lets WAL
   * objects carry their own commit (reserveWalSeq); absent otherwise.
   */
  walSeq?: number;
}

export interface RangeReplacement {
  topicId: string;
  partition: number;
  leaderEpoch: number;
  /** The ranges (by baseOffset) the new one replaces; they must be contiguous. */
  replacedBaseOffsets: number[];
  range: LogRange;
}

export interface CommittedOffset {
  offset: bigint;
  leaderEpoch: number;
  metadata: string | null;
  commitTimestamp: number;
}

/** A consumer group's membership as of its last stable generation (Buffers as base64). */
export interface StoredGroup {
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  members: Array<{
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    sessionTimeoutMs: number;
    rebalanceTimeoutMs: number;
    protocolType: string;
    protocols: Array<{ name: string; metadata: string }>;
    assignment: string;
  }>;
}

export type PartitionKey = `${string}:${number}`;
export const partitionKey = (topicId: string, partition: number): PartitionKey => `${topicId}:${partition}`;

/** A commit's epoch guard failed for these partitions: nothing was committed. */
export class FencedError extends Error {
  constructor(readonly partitions: PartitionKey[]) {
    super(`leadership lost for ${partitions.join(', ')}`);
    this.name = 'FencedError';
  }
}

/**
 * replaceRanges refused the replacement before any of it took effect (the
 * partition's leadership moved on): the new object is referenced by nothing.
 * Any other error leaves the outcome unknown: the new range may be in the
 * manifest (wholly or, in etcd, its first part), so its object must stay.
 */
export class RangesNotReplaced extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RangesNotReplaced';
  }
}

export class TopicExistsError extends Error {
  constructor(name: string) {
    super(`topic ${name} already exists`);
    this.name = 'TopicExistsError';
  }
}

export class UnknownTopicError extends Error {
  constructor(name: string) {
    super(`unknown topic ${name}`);
    this.name = 'UnknownTopicError';
  }
}

/** Events: 'topics' (the topic set or a topic changed), 'brokers', 'leaders', 'assignment'. */
export interface MetadataStore extends EventEmitter {
  readonly description: string;
  start(): Promise<void>;
  close(): Promise<void>;

  /** The cluster id, fixed at first start. */
  clusterId(): string;

  registerBroker(broker: BrokerRecord): Promise<void>;
  brokers(): BrokerRecord[];
  /** Partitions this broker should lead now (event 'assignment' when it changes). */
  assignedPartitions(): Array<{ topicId: string; partition: number }>;
  /** False while this broker cannot prove it is still a live member (lease in doubt): no commits then. */
  writable(): boolean;
  /** Whether this store's broker is the only one writing objects (safe to collect orphans and count references locally). */
  readonly singleWriter: boolean;
  /** commitWal calls take effect in the order they are made, even while earlier ones are in flight. */
  readonly orderedCommits: boolean;
  /** Graceful shutdown, first step: hand this broker's partitions to others (cluster stores). */
  drain?(timeoutMs: number): Promise<void>;

  /** Current view of the topics by name (embedded: authoritative; etcd: watched). */
  topics(): ReadonlyMap<string, TopicRecord>;
  createTopic(topic: TopicRecord): Promise<void>;
  /** Deletes the topic, its partitions' state and ranges, and every group's committed offsets of it. */
  deleteTopic(name: string): Promise<void>;
  setPartitionCount(name: string, count: number): Promise<void>;
  setTopicConfigs(name: string, configs: Record<string, string>): Promise<void>;

  /** Make brokerId the leader of a partition with a new epoch; returns its manifest. */
  acquirePartition(topicId: string, partition: number, brokerId: number): Promise<PartitionState>;
  /**
   * acquirePartition for many partitions of one topic, in as few metadata
   * writes as the store allows (a new topic's thousands of partitions).
   */
  acquirePartitions(topicId: string, partitions: number[], brokerId: number): Promise<PartitionState[]>;
  /** Current leader of each partition: brokerId and epoch. */
  leaderOf(topicId: string, partition: number): { leaderId: number; leaderEpoch: number } | undefined;

  /**
   * Commits every append whose leader epoch still holds; returns the
   * partitions that were fenced (nothing of theirs was committed). A throw
   * means the outcome is unknown for every partition of the commit.
   */
  commitWal(commit: WalCommit, opts?: { embedded?: boolean }): Promise<{ fenced: PartitionKey[] }>;
  /**
   * Optional (the embedded store): a store that reads commits back from the
   * WAL objects that carry them. The writer reserves each flush's slot before
   * writing its object, embeds the commit in it, and then resolves the slot
   * exactly once, in slot order: commitWal with `embedded` when the object's
   * commit is the one to apply (the store may then skip its own journal),
   * commitWal without it when only part of it stands, skipWal when none does.
   */
  reserveWalSeq?(): number;
  skipWal?(walSeq: number): Promise<void>;
  /** Swaps ranges for one covering them. RangesNotReplaced: nothing was applied; any other throw: unknown. */
  replaceRanges(replacement: RangeReplacement): Promise<void>;
  setLogStartOffset(topicId: string, partition: number, leaderEpoch: number, offset: number): Promise<void>;

  /** Reserve `count` producer ids; returns the first. */
  allocateProducerIds(count: number): Promise<number>;

  /**
   * Every object key the manifests reference (for orphan collection), leaving
   * out the ranges of the partitions in `except`: a caller that holds those in
   * memory (the partitions it leads) spares the store reading them.
   */
  referencedObjects(except?: ReadonlySet<PartitionKey>): Promise<Set<string>>;

  commitOffsets(group: string, offsets: Array<{ topic: string; partition: number; value: CommittedOffset }>): Promise<void>;
  fetchOffsets(group: string): Promise<Map<string, Map<number, CommittedOffset>>>;
  deleteOffsets(group: string, partitions: Array<{ topic: string; partition: number }> | 'all'): Promise<void>;
  groupsWithOffsets(): Promise<string[]>;
  /** Group membership survives a restart or a coordinator move (null deletes it). */
  saveGroup(group: string, state: StoredGroup | null): Promise<void>;
  loadGroup(group: string): Promise<StoredGroup | null>;
}
