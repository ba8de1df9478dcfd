// Topic lifecycle for the handlers: validation as Kafka does it, creation with
// defaults, auto-creation, deletion, partition growth, and the effective
// configs of a topic (its overrides over the broker's defaults).

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { TopicExistsError, UnknownTopicError, type MetadataStore, type TopicRecord } from '../coordination/metadata-store.js';
import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import type { LogManager, TopicStorageConfig } from '../storage/log-manager.js';
import { TOPIC_CONFIG_BY_NAME, validateTopicConfig } from './config-defs.js';

const LEGAL_TOPIC = /^[a-zA-Z0-9._-]+$/;
const MAX_TOPIC_LENGTH = 249;
/** Far above any real topic, low enough that a typo cannot exhaust memory. */
export const MAX_PARTITIONS = 100_000;
/** Kafka's MAX_PARTITIONS_PER_BATCH: one CreateTopics (or CreatePartitions) may add at most this many partitions. */
export const MAX_PARTITIONS_PER_REQUEST = 10_000;
export const TOO_MANY_PARTITIONS_MESSAGE = 'Excessively large number of partitions per request.';
/** Partitions of a new topic opened at once. */
const OPEN_BATCH = 4096;

export interface TopicDefaults {
  numPartitions: number;
  autoCreate: boolean;
  /** Broker-level values that override a topic config's built-in default. */
  brokerOverrides: Record<string, string>;
}

export function topicNameError(name: string): string | null {
  if (name.length === 0) return 'Topic name is illegal, it can\'t be empty';
  if (name === '.' || name === '..') return 'Topic name cannot be "." or ".."';
  if (name.length > MAX_TOPIC_LENGTH) return `Topic name is illegal, it can't be longer than ${MAX_TOPIC_LENGTH} characters`;
  if (!LEGAL_TOPIC.test(name)) return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  return null;
}

export class Topics {
  constructor(
    private readonly meta: MetadataStore,
    private readonly logs: LogManager,
    readonly defaults: TopicDefaults,
    private readonly log: Logger,
  ) {}

  byName(name: string): TopicRecord | undefined {
    return this.meta.topics().get(name);
  }

  byId(id: string): TopicRecord | undefined {
    for (const t of this.meta.topics().values()) if (t.topicId === id) return t;
    return undefined;
  }

  all(): TopicRecord[] {
    return [...this.meta.topics().values()];
  }

  /** Validates and creates a topic; throws KafkaError with Kafka's code for each failure. */
  async create(name: string, partitions: number, configs: Record<string, string>, validateOnly = false): Promise<TopicRecord> {
    const nameErr = topicNameError(name);
    if (nameErr) throw new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, nameErr);
    if (this.byName(name)) throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${name}' already exists.`);
    const n = partitions === -1 ? this.defaults.numPartitions : partitions;
    if (n < 1 || n > MAX_PARTITIONS) throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `Number of partitions must be between 1 and ${MAX_PARTITIONS}, got ${partitions}.`);
    for (const [k, v] of Object.entries(configs)) {
      const err = validateTopicConfig(k, v);
      if (err) throw new KafkaError(ErrorCode.INVALID_CONFIG, err);
    }
    const topic: TopicRecord = { name, topicId: newTopicId(), partitions: n, configs };
    if (validateOnly) return topic;
    try {
      await this.meta.createTopic(topic);
    } catch (err) {
      if (err instanceof TopicExistsError) throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, err.message);
      throw err;
    }
    await this.openPartitions(topic, 0);
    this.log.info({ topic: name, topicId: topic.topicId, partitions: n, configs }, 'topic created');
    return topic;
  }

  /** The topic, created with the defaults when auto-creation allows it; undefined otherwise. */
  async getOrAutoCreate(name: string, allowAutoCreate: boolean): Promise<TopicRecord | undefined> {
    const t = this.byName(name);
    if (t || !allowAutoCreate || !this.defaults.autoCreate || topicNameError(name)) return t;
    try {
      return await this.create(name, -1, {});
    } catch (err) {
      if (err instanceof KafkaError && err.code === ErrorCode.TOPIC_ALREADY_EXISTS) return this.byName(name);
      throw err;
    }
  }

  async delete(topic: TopicRecord): Promise<void> {
    const ranges = [];
    for (let p = 0; p < topic.partitions; p++) ranges.push(this.logs.get(topic.topicId, p)?.ranges ?? []);
    await this.meta.deleteTopic(topic.name);
    await this.logs.dropTopic(topic.topicId, ranges);
    this.log.info({ topic: topic.name, topicId: topic.topicId }, 'topic deleted');
  }

  async addPartitions(topic: TopicRecord, count: number, validateOnly: boolean): Promise<void> {
    if (count <= topic.partitions) {
      throw new KafkaError(
        ErrorCode.INVALID_PARTITIONS,
        count === topic.partitions
          ? `Topic already has ${count} partition(s).`
          : `The topic ${topic.name} currently has ${topic.partitions} partition(s); ${count} would not be an increase.`,
      );
    }
    if (count > MAX_PARTITIONS) throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `At most ${MAX_PARTITIONS} partitions.`);
    if (validateOnly) return;
    try {
      await this.meta.setPartitionCount(topic.name, count);
    } catch (err) {
      if (err instanceof UnknownTopicError) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic.name}' was deleted.`);
      throw err;
    }
    const updated = this.byName(topic.name);
    // Deleted (or deleted and created again) meanwhile: its partitions are not ours to open.
    if (!updated || updated.topicId !== topic.topicId) return;
    await this.openPartitions(updated, topic.partitions);
    this.log.info({ topic: topic.name, from: topic.partitions, to: count }, 'partitions added');
  }

  async setConfigs(topic: TopicRecord, configs: Record<string, string>): Promise<void> {
    await this.meta.setTopicConfigs(topic.name, configs);
    this.log.info({ topic: topic.name, configs }, 'topic configs changed');
  }

  /**
   * Single broker: this broker leads every partition, opened before the
   * answer. Cluster: the controller assigns them and each broker's
   * Leadership opens its own; opening one assigned elsewhere would fail.
   */
  async openPartitions(topic: TopicRecord, from: number): Promise<void> {
    if (!this.meta.singleWriter) return;
    // Acquired OPEN_BATCH at a time, each batch one metadata write: one
    // journal fsync per partition made a 10,000-partition topic take 10 s
    // on an idle broker and minutes on a busy one.
    for (let n = from; n < topic.partitions; n += OPEN_BATCH) {
      try {
        await this.logs.openRange(topic, n, Math.min(topic.partitions, n + OPEN_BATCH));
      } catch (err) {
        // Deleted while its partitions were being opened: nothing is left to open.
        if (this.byId(topic.topicId) === undefined) return;
        throw err;
      }
    }
  }

  /** The value of a topic config: the topic's own, else the broker's, else Kafka's default. */
  config(topic: TopicRecord, name: string): string | null {
    const def = TOPIC_CONFIG_BY_NAME.get(name);
    if (topic.configs[name] !== undefined) return topic.configs[name]!;
    if (def?.brokerSynonym && this.defaults.brokerOverrides[def.brokerSynonym] !== undefined) return this.defaults.brokerOverrides[def.brokerSynonym]!;
    return def?.default ?? null;
  }

  /** cleanup.policy: whether retention deletes (`delete`) and whether the cleaner keeps each key's latest (`compact`). */
  cleanupPolicy(topic: TopicRecord): { delete: boolean; compact: boolean } {
    const policy = (this.config(topic, 'cleanup.policy') ?? 'delete').split(',').map((p) => p.trim());
    return { delete: policy.includes('delete'), compact: policy.includes('compact') };
  }

  storageConfig(topicName: string): TopicStorageConfig {
    const t = this.byName(topicName);
    const num = (k: string, d: number) => (t ? Number(this.config(t, k)) : d);
    const policy = t ? this.cleanupPolicy(t) : { delete: true, compact: false };
    return {
      segmentBytes: num('segment.bytes', 64 << 20),
      segmentMs: num('segment.ms', 600_000),
      retentionMs: num('retention.ms', 604_800_000),
      retentionBytes: num('retention.bytes', -1),
      deleteByRetention: policy.delete,
      compact: policy.compact,
      deleteRetentionMs: num('delete.retention.ms', 86_400_000),
      minCompactionLagMs: num('min.compaction.lag.ms', 0),
      maxCompactionLagMs: num('max.compaction.lag.ms', Number.MAX_SAFE_INTEGER),
      minCleanableDirtyRatio: num('min.cleanable.dirty.ratio', 0.5),
    };
  }
}

export function newTopicId(): string {
  // A version-4 UUID, as Kafka makes them; never the all-zero or all-one ids Kafka reserves.
  const b = randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b.toString('base64url');
}
