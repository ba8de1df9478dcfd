// The metadata state machine shared by the metadata stores: every change is an
// operation applied deterministically to this state, so the embedded store can
// journal operations and replay them after a crash, and the checks that guard
// a commit (leader epochs, contiguous offsets) live in one place.

import { randomBytes } from 'node:crypto';
import {
  FencedError,
  TopicExistsError,
  UnknownTopicError,
  partitionKey,
  type BrokerRecord,
  type CommittedOffset,
  type PartitionKey,
  type PartitionState,
  type RangeReplacement,
  type StoredGroup,
  type TopicRecord,
  type WalCommit,
} from './metadata-store.js';

export interface StoredOffset {
  offset: string;
  leaderEpoch: number;
  metadata: string | null;
  commitTimestamp: number;
}

export interface MetadataState {
  clusterId: string;
  nextProducerId: number;
  topics: Record<string, TopicRecord>;
  partitions: Record<PartitionKey, PartitionState>;
  brokers: Record<string, BrokerRecord>;
  offsets: Record<string, Record<string, Record<string, StoredOffset>>>;
  groups?: Record<string, StoredGroup>;
  /** Embedded store: the last WAL commit slot resolved (applied or skipped). */
  walSeq?: number;
}

export type Operation =
  | { op: 'createTopic'; topic: TopicRecord }
  | { op: 'deleteTopic'; name: string }
  | { op: 'setPartitionCount'; name: string; count: number }
  | { op: 'setTopicConfigs'; name: string; configs: Record<string, string> }
  | { op: 'registerBroker'; broker: BrokerRecord }
  | { op: 'acquire'; topicId: string; partition: number; brokerId: number }
  | { op: 'acquireMany'; topicId: string; partitions: number[]; brokerId: number }
  | { op: 'wal'; commit: WalCommit }
  | { op: 'walSkip'; walSeq: number }
  | { op: 'replace'; replacement: RangeReplacement }
  | { op: 'logStart'; topicId: string; partition: number; leaderEpoch: number; offset: number }
  | { op: 'producerIds'; count: number }
  | { op: 'commitOffsets'; group: string; offsets: Array<{ topic: string; partition: number; value: StoredOffset }> }
  | { op: 'deleteOffsets'; group: string; partitions: Array<{ topic: string; partition: number }> | 'all' }
  | { op: 'saveGroup'; group: string; state: StoredGroup | null };

export function emptyState(): MetadataState {
  return {
    clusterId: randomBytes(16).toString('base64url'),
    nextProducerId: 1000,
    topics: {},
    partitions: {},
    brokers: {},
    offsets: {},
  };
}

export function newPartitionState(topicId: string, partition: number): PartitionState {
  return {
    topicId,
    partition,
    leaderId: -1,
    leaderEpoch: -1,
    epochHistory: [],
    logStartOffset: 0,
    highWatermark: 0,
    ranges: [],
    producers: [],
  };
}

function topicById(state: MetadataState, topicId: string): TopicRecord | undefined {
  for (const t of Object.values(state.topics)) if (t.topicId === topicId) return t;
  return undefined;
}

function partitionOf(state: MetadataState, topicId: string, partition: number, known?: TopicRecord): PartitionState {
  const key = partitionKey(topicId, partition);
  let p = state.partitions[key];
  if (!p) {
    const topic = known ?? topicById(state, topicId);
    if (!topic || partition < 0 || partition >= topic.partitions) throw new UnknownTopicError(`${topicId}/${partition}`);
    p = newPartitionState(topicId, partition);
    state.partitions[key] = p;
  }
  return p;
}

function acquire(p: PartitionState, brokerId: number): void {
  p.leaderId = brokerId;
  p.leaderEpoch += 1;
  const last = p.epochHistory[p.epochHistory.length - 1];
  if (last && last.startOffset === p.highWatermark) last.epoch = p.leaderEpoch;
  else p.epochHistory.push({ epoch: p.leaderEpoch, startOffset: p.highWatermark });
}

/**
 * A commit whose slot the state has already passed: a journal record that
 * repeats a commit a snapshot holds (embedded commits are journaled lazily).
 */
function alreadyApplied(state: MetadataState, commit: WalCommit): boolean {
  return commit.walSeq !== undefined && commit.walSeq <= (state.walSeq ?? 0);
}

/** The appends of a WAL commit whose epoch guard fails (they must be left out). */
export function fencedAppends(state: MetadataState, commit: WalCommit): PartitionKey[] {
  const fenced: PartitionKey[] = [];
  for (const a of commit.appends) {
    const key = partitionKey(a.topicId, a.partition);
    const p = state.partitions[key];
    if (!p || p.leaderEpoch !== a.leaderEpoch || p.leaderId !== commit.brokerId) fenced.push(key);
  }
  return fenced;
}

/**
 * Checks an operation against the state without changing it. Throws the
 * error the caller must see; an operation that passes always applies.
 */
export function validate(state: MetadataState, o: Operation): void {
  switch (o.op) {
    case 'createTopic':
      if (state.topics[o.topic.name]) throw new TopicExistsError(o.topic.name);
      return;
    case 'deleteTopic':
    case 'setTopicConfigs':
      if (!state.topics[o.name]) throw new UnknownTopicError(o.name);
      return;
    case 'setPartitionCount': {
      const t = state.topics[o.name];
      if (!t) throw new UnknownTopicError(o.name);
      if (o.count < t.partitions) throw new Error(`cannot shrink ${o.name} from ${t.partitions} to ${o.count} partitions`);
      return;
    }
    case 'acquire':
      if (!topicById(state, o.topicId)) throw new UnknownTopicError(o.topicId);
      return;
    case 'acquireMany': {
      const t = topicById(state, o.topicId);
      if (!t) throw new UnknownTopicError(o.topicId);
      for (const n of o.partitions) if (!Number.isInteger(n) || n < 0 || n >= t.partitions) throw new UnknownTopicError(`${o.topicId}/${n}`);
      return;
    }
    case 'walSkip':
      return;
    case 'wal':
      if (alreadyApplied(state, o.commit)) return;
      for (const a of o.commit.appends) {
        const key = partitionKey(a.topicId, a.partition);
        const p = state.partitions[key];
        if (!p || p.leaderEpoch !== a.leaderEpoch || p.leaderId !== o.commit.brokerId) throw new FencedError([key]);
        if (a.range.baseOffset !== p.highWatermark) {
          throw new Error(`non-contiguous append to ${key}: ${a.range.baseOffset} after ${p.highWatermark}`);
        }
      }
      return;
    case 'replace': {
      const r = o.replacement;
      const key = partitionKey(r.topicId, r.partition);
      const p = state.partitions[key];
      if (!p || p.leaderEpoch !== r.leaderEpoch) throw new FencedError([key]);
      const idx = p.ranges.findIndex((x) => x.baseOffset === r.replacedBaseOffsets[0]);
      if (idx < 0) throw new Error(`replace: range ${r.replacedBaseOffsets[0]} not in ${key}`);
      for (let i = 0; i < r.replacedBaseOffsets.length; i++) {
        if (p.ranges[idx + i]?.baseOffset !== r.replacedBaseOffsets[i]) throw new Error(`replace: ranges of ${key} changed`);
      }
      const last = p.ranges[idx + r.replacedBaseOffsets.length - 1]!;
      if (r.range.baseOffset !== p.ranges[idx]!.baseOffset || r.range.nextOffset !== last.nextOffset) {
        throw new Error(`replace: new range of ${key} does not cover the replaced ones`);
      }
      return;
    }
    case 'logStart': {
      const key = partitionKey(o.topicId, o.partition);
      const p = state.partitions[key];
      if (!p || p.leaderEpoch !== o.leaderEpoch) throw new FencedError([key]);
      return;
    }
    default:
      return;
  }
}

export function apply(state: MetadataState, o: Operation): void {
  switch (o.op) {
    case 'createTopic':
      state.topics[o.topic.name] = o.topic;
      return;
    case 'deleteTopic': {
      const t = state.topics[o.name];
      if (!t) return;
      delete state.topics[o.name];
      for (let i = 0; i < t.partitions; i++) delete state.partitions[partitionKey(t.topicId, i)];
      // Its committed offsets go too, as Kafka's: a topic created again under the name starts with none.
      for (const [group, g] of Object.entries(state.offsets)) {
        delete g[o.name];
        if (Object.keys(g).length === 0) delete state.offsets[group];
      }
      return;
    }
    case 'setPartitionCount':
      state.topics[o.name] = { ...state.topics[o.name]!, partitions: o.count };
      return;
    case 'setTopicConfigs':
      state.topics[o.name] = { ...state.topics[o.name]!, configs: o.configs };
      return;
    case 'registerBroker':
      state.brokers[String(o.broker.brokerId)] = o.broker;
      return;
    case 'acquire':
      acquire(partitionOf(state, o.topicId, o.partition), o.brokerId);
      return;
    case 'acquireMany': {
      const t = topicById(state, o.topicId);
      for (const n of o.partitions) acquire(partitionOf(state, o.topicId, n, t), o.brokerId);
      return;
    }
    case 'walSkip':
      state.walSeq = Math.max(state.walSeq ?? 0, o.walSeq);
      return;
    case 'wal':
      if (alreadyApplied(state, o.commit)) return;
      for (const a of o.commit.appends) {
        const p = partitionOf(state, a.topicId, a.partition);
        p.ranges.push(a.range);
        p.highWatermark = a.range.nextOffset;
        if (a.producers.length) mergeProducers(p, a.producers);
      }
      if (o.commit.walSeq !== undefined) state.walSeq = o.commit.walSeq;
      return;
    case 'replace': {
      const r = o.replacement;
      const p = partitionOf(state, r.topicId, r.partition);
      const idx = p.ranges.findIndex((x) => x.baseOffset === r.replacedBaseOffsets[0]);
      p.ranges.splice(idx, r.replacedBaseOffsets.length, r.range);
      return;
    }
    case 'logStart': {
      const p = partitionOf(state, o.topicId, o.partition);
      if (o.offset <= p.logStartOffset) return;
      p.logStartOffset = Math.min(o.offset, p.highWatermark);
      // Ranges wholly below the log start are gone from the manifest.
      while (p.ranges.length && p.ranges[0]!.nextOffset <= p.logStartOffset) p.ranges.shift();
      return;
    }
    case 'producerIds':
      state.nextProducerId += o.count;
      return;
    case 'commitOffsets': {
      const g = (state.offsets[o.group] ??= {});
      for (const x of o.offsets) (g[x.topic] ??= {})[String(x.partition)] = x.value;
      return;
    }
    case 'saveGroup': {
      const groups = (state.groups ??= {});
      if (o.state) groups[o.group] = o.state;
      else delete groups[o.group];
      return;
    }
    case 'deleteOffsets': {
      if (o.partitions === 'all') {
        delete state.offsets[o.group];
        return;
      }
      const g = state.offsets[o.group];
      if (!g) return;
      for (const x of o.partitions) {
        const t = g[x.topic];
        if (!t) continue;
        delete t[String(x.partition)];
        if (Object.keys(t).length === 0) delete g[x.topic];
      }
      if (Object.keys(g).length === 0) delete state.offsets[o.group];
      return;
    }
  }
}

/** Kafka keeps idle producers for producer.id.expiration.ms (1 day); so do we, bounded in count. */
const MAX_PRODUCERS_PER_PARTITION = 10_000;

function mergeProducers(p: PartitionState, updates: PartitionState['producers']): void {
  const byId = new Map(p.producers.map((e) => [e.producerId, e]));
  for (const u of updates) {
    byId.delete(u.producerId);
    byId.set(u.producerId, u);
  }
  let list = [...byId.values()];
  if (list.length > MAX_PRODUCERS_PER_PARTITION) {
    list = list.sort((a, b) => a.lastTimestamp - b.lastTimestamp).slice(list.length - MAX_PRODUCERS_PER_PARTITION);
  }
  p.producers = list;
}

export function toStoredOffset(v: CommittedOffset): StoredOffset {
  return { offset: v.offset.toString(), leaderEpoch: v.leaderEpoch, metadata: v.metadata, commitTimestamp: v.commitTimestamp };
}

export function fromStoredOffset(v: StoredOffset): CommittedOffset {
  return { offset: BigInt(v.offset), leaderEpoch: v.leaderEpoch, metadata: v.metadata, commitTimestamp: v.commitTimestamp };
}
