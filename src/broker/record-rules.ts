// A topic's record configs applied to the batches produced to it, before they
// are appended: compression.type (batches rebuilt in the topic's codec),
// cleanup.policy=compact (records need a key), message.timestamp.before/
// after.max.ms (CreateTime bounds) and message.timestamp.type=LogAppendTime
// (batches stamped with the broker's time). Refusals are worded as Kafka 3.9's
// LogValidator words them. Only topics that set one of these pay for it: the
// checks decode the records, the default path does not.

import type { ProduceResponseBatchIndexAndErrorMessage } from '../protocol/generated/produce.js';
import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import { compressionOf, setLogAppendTime } from '../protocol/records/batch.js';
import { recompressBatch, recordsOutsideTimes, recordsWithoutKey } from '../protocol/records/records.js';
import type { TopicRecord } from '../coordination/metadata-store.js';
import type { Topics } from './topics.js';

/** compression.type values other than `producer` (batches kept as sent), as codec ids. */
const TOPIC_CODECS = new Map<string, number>([
  ['uncompressed', 0],
  ['gzip', 1],
  ['snappy', 2],
  ['lz4', 3],
  ['zstd', 4],
]);

/** Kafka's Long.MAX_VALUE defaults, as the Number a config value parses to. */
const LONG_MAX_MS = Number('9223372036854775807');

export interface RecordRefusal {
  error: number;
  message: string;
  recordErrors: ProduceResponseBatchIndexAndErrorMessage[];
}

/**
 * The batches to append and the append time they carry (-1 unless the topic
 * is LogAppendTime), or the refusal of some of their records. Throws
 * MESSAGE_TOO_LARGE when a batch rebuilt in the topic's codec outgrows
 * max.message.bytes.
 */
export function applyRecordRules(
  topics: Topics,
  topic: TopicRecord,
  partition: number,
  produced: Buffer[],
  maxBytes: number,
  now = Date.now(),
): { batches: Buffer[]; logAppendTime: number } | { refused: RecordRefusal } {
  let batches = produced;
  const codec = TOPIC_CODECS.get(topics.config(topic, 'compression.type') ?? 'producer');
  if (codec !== undefined && batches.some((b) => compressionOf(b) !== codec)) {
    batches = batches.map((b) => (compressionOf(b) === codec ? b : recompressBatch(b, codec)));
    const largest = Math.max(...batches.map((b) => b.length));
    if (largest > maxBytes + 12) throw new KafkaError(ErrorCode.MESSAGE_TOO_LARGE, `${largest} bytes once compressed as the topic's compression.type asks exceed max.message.bytes ${maxBytes}`);
  }
  const stamp = timestampRules(topics, topic);
  const bounded = !stamp.logAppendTime && (stamp.beforeMaxMs < LONG_MAX_MS || stamp.afterMaxMs < LONG_MAX_MS);
  const compacted = topics.cleanupPolicy(topic).compact;
  if (bounded || compacted) {
    const refused = checkRecords(batches, `${topic.name}-${partition}`, compacted, bounded ? { min: now - stamp.beforeMaxMs, max: now + stamp.afterMaxMs } : null);
    if (refused) return { refused };
  }
  if (!stamp.logAppendTime) return { batches, logAppendTime: -1 };
  for (const b of batches) setLogAppendTime(b, now);
  return { batches, logAppendTime: now };
}

/**
 * A topic's timestamp rules (message.timestamp.*). The deprecated
 * difference.max.ms stands in for before/after.max.ms left at their defaults,
 * as in Kafka 3.9's LogConfig.
 */
function timestampRules(topics: Topics, topic: TopicRecord): { logAppendTime: boolean; beforeMaxMs: number; afterMaxMs: number } {
  const num = (k: string) => Number(topics.config(topic, k) ?? LONG_MAX_MS);
  const difference = num('message.timestamp.difference.max.ms');
  const before = num('message.timestamp.before.max.ms');
  const after = num('message.timestamp.after.max.ms');
  return {
    logAppendTime: topics.config(topic, 'message.timestamp.type') === 'LogAppendTime',
    beforeMaxMs: before < LONG_MAX_MS ? before : difference,
    afterMaxMs: after < LONG_MAX_MS ? after : difference,
  };
}

interface RecordError {
  index: number;
  message: string;
  timestamp: boolean;
}

/** Every record a compacted topic or a timestamp bound refuses, in record order. */
function checkRecords(batches: Buffer[], topicPartition: string, compacted: boolean, bounds: { min: number; max: number } | null): RecordRefusal | null {
  const errors: RecordError[] = [];
  for (const b of batches) {
    if (compacted) {
      for (const index of recordsWithoutKey(b)) errors.push({ index, message: `Compacted topic cannot accept message without key in topic partition ${topicPartition}`, timestamp: false });
    }
    if (bounds) {
      for (const r of recordsOutsideTimes(b, bounds.min, bounds.max)) {
        errors.push({ index: r.index, message: `Timestamp ${r.timestamp} of message with offset ${r.offset} is out of range. The timestamp should be within [${bounds.min}, ${bounds.max}]`, timestamp: true });
      }
    }
  }
  return refusal(errors.sort((a, b) => a.index - b.index));
}

/** INVALID_TIMESTAMP when a timestamp is among the causes, else INVALID_RECORD with the first three record errors in the message. */
function refusal(errors: RecordError[]): RecordRefusal | null {
  if (errors.length === 0) return null;
  const recordErrors = errors.map((e) => ({ batchIndex: e.index, batchIndexErrorMessage: e.message }));
  if (errors.some((e) => e.timestamp)) return { error: ErrorCode.INVALID_TIMESTAMP, message: 'One or more records have been rejected due to invalid timestamp', recordErrors };
  const shown = errors.slice(0, 3).map((e) => `RecordError(batchIndex=${e.index}, message='${e.message}')`);
  return {
    error: ErrorCode.INVALID_RECORD,
    message: `One or more records have been rejected due to ${errors.length} record errors in total, and only showing the first three errors at most: [${shown.join(', ')}]`,
    recordErrors,
  };
}
