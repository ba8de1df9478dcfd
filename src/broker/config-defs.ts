// The topic and broker configurations StreamHouse knows, with Kafka's names,
// types and defaults, as DescribeConfigs reports them. A topic config we
// accept but do not act on is marked `inert` and listed in the README.

export type ConfigType = 'boolean' | 'string' | 'int' | 'short' | 'long' | 'double' | 'list' | 'class' | 'password';

/** DescribeConfigs ConfigType codes (KIP-569). */
export const CONFIG_TYPE_CODE: Record<ConfigType, number> = {
  boolean: 1,
  string: 2,
  int: 3,
  short: 4,
  long: 5,
  double: 6,
  list: 7,
  class: 8,
  password: 9,
};

/** DescribeConfigs ConfigSource codes. */
export const ConfigSource = {
  UNKNOWN: 0,
  DYNAMIC_TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
} as const;

export interface ConfigDef {
  name: string;
  type: ConfigType;
  default: string | null;
  doc: string;
  /** The broker config that supplies this topic config's default (Kafka's synonym). */
  brokerSynonym?: string;
  /** Accepted and reported, but StreamHouse does not act on it yet. */
  inert?: boolean;
  validValues?: string[];
  min?: number;
  /**
   * Whether DescribeConfigs lists a DEFAULT_CONFIG synonym (Kafka does only
   * when its broker synonym has a default of its own: not for retention.ms,
   * segment.ms, flush.ms, ...).
   */
  noDefaultSynonym?: boolean;
}

const LONG_MAX = '9223372036854775807';

export const TOPIC_CONFIGS: ConfigDef[] = [
  { name: 'cleanup.policy', type: 'list', default: 'delete', doc: 'delete (retention.ms/bytes apply), compact (segments are cleaned down to each key\'s latest record), or both', brokerSynonym: 'log.cleanup.policy', validValues: ['delete', 'compact', 'compact,delete', 'delete,compact'] },
  { name: 'compression.type', type: 'string', default: 'producer', doc: 'producer: batches are stored as sent; otherwise they are recompressed with this codec', brokerSynonym: 'compression.type', validValues: ['producer', 'uncompressed', 'gzip', 'snappy', 'lz4', 'zstd'] },
  { name: 'delete.retention.ms', type: 'long', default: '86400000', doc: 'How long a tombstone (null value) outlives the records it deleted, by its timestamp', brokerSynonym: 'log.cleaner.delete.retention.ms', min: 0 },
  { name: 'file.delete.delay.ms', type: 'long', default: '60000', doc: 'Kept for compatibility', brokerSynonym: 'log.segment.delete.delay.ms', inert: true, min: 0 },
  { name: 'flush.messages', type: 'long', default: LONG_MAX, doc: 'Every acknowledged write is durable already', brokerSynonym: 'log.flush.interval.messages', inert: true, min: 1 },
  { name: 'flush.ms', type: 'long', default: LONG_MAX, doc: 'Every acknowledged write is durable already', brokerSynonym: 'log.flush.interval.ms', inert: true, min: 0, noDefaultSynonym: true },
  { name: 'index.interval.bytes', type: 'int', default: '4096', doc: 'Kept for compatibility', brokerSynonym: 'log.index.interval.bytes', inert: true, min: 0 },
  { name: 'max.compaction.lag.ms', type: 'long', default: LONG_MAX, doc: 'A segment whose newest record is older than this is cleaned whatever the dirty ratio', brokerSynonym: 'log.cleaner.max.compaction.lag.ms', min: 1 },
  { name: 'max.message.bytes', type: 'int', default: '1048588', doc: 'Largest record batch accepted', brokerSynonym: 'message.max.bytes', min: 0 },
  { name: 'message.downconversion.enable', type: 'boolean', default: 'true', doc: 'Down-convert for old fetch versions', brokerSynonym: 'log.message.downconversion.enable' },
  { name: 'message.timestamp.type', type: 'string', default: 'CreateTime', doc: 'CreateTime or LogAppendTime (the broker stamps each batch with its append time)', brokerSynonym: 'log.message.timestamp.type', validValues: ['CreateTime', 'LogAppendTime'] },
  { name: 'min.cleanable.dirty.ratio', type: 'double', default: '0.5', doc: 'Share of segment bytes written since the last cleaning that starts the next one', brokerSynonym: 'log.cleaner.min.cleanable.ratio' },
  { name: 'min.compaction.lag.ms', type: 'long', default: '0', doc: 'Records younger than this are never cleaned away', brokerSynonym: 'log.cleaner.min.compaction.lag.ms', min: 0 },
  { name: 'min.insync.replicas', type: 'int', default: '1', doc: 'Durability comes from the object store', brokerSynonym: 'min.insync.replicas', inert: true, min: 1 },
  { name: 'preallocate', type: 'boolean', default: 'false', doc: 'Kept for compatibility', brokerSynonym: 'log.preallocate', inert: true },
  { name: 'retention.bytes', type: 'long', default: '-1', doc: 'Bytes kept per partition (-1: no limit)', brokerSynonym: 'log.retention.bytes' },
  { name: 'retention.ms', type: 'long', default: '604800000', doc: 'Time records are kept (-1: forever)', brokerSynonym: 'log.retention.ms', min: -1, noDefaultSynonym: true },
  { name: 'segment.bytes', type: 'int', default: '67108864', doc: 'Segment object size', brokerSynonym: 'log.segment.bytes', min: 14 },
  { name: 'segment.ms', type: 'long', default: '600000', doc: 'Longest time WAL data waits before it is compacted into a segment', brokerSynonym: 'log.roll.ms', min: 1, noDefaultSynonym: true },
  { name: 'compression.gzip.level', type: 'int', default: '-1', doc: 'Not used: recompression (compression.type) uses the codec default level', brokerSynonym: 'compression.gzip.level', inert: true },
  { name: 'compression.lz4.level', type: 'int', default: '9', doc: 'Not used: recompression (compression.type) uses the codec default level', brokerSynonym: 'compression.lz4.level', inert: true },
  { name: 'compression.zstd.level', type: 'int', default: '3', doc: 'Not used: recompression (compression.type) uses the codec default level', brokerSynonym: 'compression.zstd.level', inert: true },
  { name: 'follower.replication.throttled.replicas', type: 'list', default: '', doc: 'No followers', inert: true, noDefaultSynonym: true },
  { name: 'leader.replication.throttled.replicas', type: 'list', default: '', doc: 'No followers', inert: true, noDefaultSynonym: true },
  { name: 'local.retention.bytes', type: 'long', default: '-2', doc: 'Tiered storage: all data is in the object store', brokerSynonym: 'log.local.retention.bytes', inert: true },
  { name: 'local.retention.ms', type: 'long', default: '-2', doc: 'Tiered storage: all data is in the object store', brokerSynonym: 'log.local.retention.ms', inert: true },
  { name: 'message.format.version', type: 'string', default: '3.0-IV1', doc: 'Batches are stored in format v2', brokerSynonym: 'log.message.format.version', inert: true },
  { name: 'message.timestamp.after.max.ms', type: 'long', default: LONG_MAX, doc: 'Largest a CreateTime may lie ahead of the broker clock', brokerSynonym: 'log.message.timestamp.after.max.ms' },
  { name: 'message.timestamp.before.max.ms', type: 'long', default: LONG_MAX, doc: 'Largest a CreateTime may lie behind the broker clock', brokerSynonym: 'log.message.timestamp.before.max.ms' },
  { name: 'message.timestamp.difference.max.ms', type: 'long', default: LONG_MAX, doc: 'Deprecated: before/after.max.ms when those are unset', brokerSynonym: 'log.message.timestamp.difference.max.ms' },
  { name: 'remote.log.copy.disable', type: 'boolean', default: 'false', doc: 'Tiered storage: all data is in the object store', inert: true, noDefaultSynonym: true },
  { name: 'remote.log.delete.on.disable', type: 'boolean', default: 'false', doc: 'Tiered storage: all data is in the object store', inert: true, noDefaultSynonym: true },
  { name: 'remote.storage.enable', type: 'boolean', default: 'false', doc: 'Tiered storage: all data is in the object store', inert: true, noDefaultSynonym: true },
  { name: 'segment.index.bytes', type: 'int', default: '10485760', doc: 'Segment indexes live in the segment footer', brokerSynonym: 'log.index.size.max.bytes', inert: true },
  { name: 'segment.jitter.ms', type: 'long', default: '0', doc: 'Not used', brokerSynonym: 'log.roll.jitter.ms', inert: true, noDefaultSynonym: true },
  { name: 'unclean.leader.election.enable', type: 'boolean', default: 'false', doc: 'Kept for compatibility', brokerSynonym: 'unclean.leader.election.enable', inert: true },
];

export const TOPIC_CONFIG_BY_NAME = new Map(TOPIC_CONFIGS.map((c) => [c.name, c]));

/** Checks a topic config value; returns an error message or null. */
export function validateTopicConfig(name: string, value: string | null): string | null {
  const def = TOPIC_CONFIG_BY_NAME.get(name);
  if (!def) return `Unknown topic config name: ${name}`;
  if (value === null) return null;
  switch (def.type) {
    case 'int':
    case 'short':
    case 'long': {
      if (!/^-?\d+$/.test(value.trim())) return `Invalid value ${value} for configuration ${name}: Not a number of type ${def.type.toUpperCase()}`;
      const n = Number(value);
      if (def.min !== undefined && n < def.min) return `Invalid value ${value} for configuration ${name}: Value must be at least ${def.min}`;
      if (def.type === 'int' && (n > 0x7fffffff || n < -0x80000000)) return `Invalid value ${value} for configuration ${name}: out of range`;
      return null;
    }
    case 'double':
      return Number.isFinite(Number(value)) ? null : `Invalid value ${value} for configuration ${name}: Not a number of type DOUBLE`;
    case 'boolean':
      return /^(true|false)$/i.test(value.trim()) ? null : `Invalid value ${value} for configuration ${name}: Expected value to be either true or false`;
    default:
      if (def.validValues && !def.validValues.includes(value.trim())) {
        return `Invalid value ${value} for configuration ${name}: String must be one of: ${def.validValues.join(', ')}`;
      }
      return null;
  }
}
