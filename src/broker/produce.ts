// Produce v0-11, acks 0, 1 and -1 (1 and -1 both wait for the durable WAL
// commit: there are no followers to wait for, the object store is the
// replica). Idempotent producers are deduplicated per partition (storage/
// producer-state.ts). Not implemented: transactional produce (a non-null
// transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every
// partition). acks=0 requests that fail validation close the connection, as
// Kafka does, since the client reads no answer.

import {
  ProduceApi,
  type ProduceRequest,
  type ProduceResponse,
  type ProduceResponseBatchIndexAndErrorMessage,
  type ProduceResponsePartitionProduceResponse,
  type ProduceResponseTopicProduceResponse,
} from '../protocol/generated/produce.js';
import { recordsBuffer } from '../protocol/tagged.js';
import { ErrorCode, KafkaError, errorCodeOf } from '../protocol/kafka-error.js';
import { RecordsError } from '../protocol/records/errors.js';
import { splitProducedRecords } from '../protocol/records/produce.js';
import { compressionOf, setLogAppendTime } from '../protocol/records/batch.js';
import { recordsOutsideTimes, recordsWithoutKey, recompressBatch } from '../protocol/records/records.js';
import type { TopicRecord } from '../coordination/metadata-store.js';
import type { Topics } from './topics.js';
import type { AppendResult } from '../storage/partition-log.js';
import { CloseConnection } from '../server/connection.js';
import { partitionKey } from '../coordination/metadata-store.js';
import type { RequestContext } from './context.js';
import { defineHandler } from './handler.js';

/** An error; record-level refusals (Kafka's RecordValidationException) also carry the record errors and the log start offset. */
type Outcome = { result: AppendResult } | { error: number; message: string | null; recordErrors?: ProduceResponseBatchIndexAndErrorMessage[]; logStartOffset?: number };

/**
 * How long a refusal (REFUSALS) explains a later sequence gap.
 * A producer pipelines requests: when this broker refuses batch n (the
 * partition is still opening, or was fenced and reopened) and takes the
 * partition again before batch n+1 arrives, n+1 finds a gap. Kafka would
 * answer OUT_OF_ORDER_SEQUENCE_NUMBER, which librdkafka takes for a fatal
 * desynchronization (its producer is then unusable), while the gap is only
 * the refused batch. Within this window the gap gets NOT_LEADER_OR_FOLLOWER
 * as well: the client refreshes and resends from batch n, in order. Past it,
 * a gap is a gap.
 */
const REFUSAL_EXPLAINS_GAP_MS = 10_000;

/**
 * Retriable answers after which the batch is retried while later ones of the
 * same producer may arrive first: a gap right behind them is ours. (librdkafka
 * answers an OUT_OF_ORDER_SEQUENCE_NUMBER there with an epoch bump that sends
 * again, under the new epoch, batches that may have been stored: duplicates,
 * 774 of them in fault suite 05 before this.)
 */
const REFUSALS = new Set<number>([ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.REQUEST_TIMED_OUT, ErrorCode.KAFKA_STORAGE_ERROR]);

/** Records a refusal (REFUSALS), and turns a sequence gap that such an answer explains into NOT_LEADER_OR_FOLLOWER. */
function explainGap(ctx: RequestContext, key: string, o: Outcome): Outcome {
  if ('result' in o) {
    ctx.connState.refusedAt.delete(key);
    return o;
  }
  if (REFUSALS.has(o.error)) {
    noteRefusal(ctx, key);
  } else if (o.error === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER) {
    const at = ctx.connState.refusedAt.get(key);
    if (at !== undefined && Date.now() - at < REFUSAL_EXPLAINS_GAP_MS) {
      return { error: ErrorCode.NOT_LEADER_OR_FOLLOWER, message: `an earlier batch was refused: ${o.message ?? ''}` };
    }
  }
  return o;
}

function noteRefusal(ctx: RequestContext, key: string): void {
  ctx.connState.refusedAt.set(key, Date.now());
}

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

/**
 * A refusal of some records, as Kafka's LogValidator words it: INVALID_TIMESTAMP
 * when a timestamp is among the causes, else INVALID_RECORD with the first
 * three record errors in the message.
 */
function recordErrors(errors: Array<{ index: number; message: string; timestamp: boolean }>): { error: number; message: string; recordErrors: ProduceResponseBatchIndexAndErrorMessage[] } | null {
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

/** Record-level checks a topic's configs ask for (each decodes the records, so only such topics pay). */
function checkRecords(batches: Buffer[], topicName: string, partition: number, compacted: boolean, bounds: { min: number; max: number } | null) {
  const errors: Array<{ index: number; message: string; timestamp: boolean }> = [];
  for (const b of batches) {
    if (compacted) {
      for (const index of recordsWithoutKey(b)) errors.push({ index, message: `Compacted topic cannot accept message without key in topic partition ${topicName}-${partition}`, timestamp: false });
    }
    if (bounds) {
      for (const r of recordsOutsideTimes(b, bounds.min, bounds.max)) {
        errors.push({ index: r.index, message: `Timestamp ${r.timestamp} of message with offset ${r.offset} is out of range. The timestamp should be within [${bounds.min}, ${bounds.max}]`, timestamp: true });
      }
    }
  }
  return recordErrors(errors.sort((a, b) => a.index - b.index));
}

function failure(err: unknown): { error: number; message: string | null } {
  if (err instanceof RecordsError || err instanceof KafkaError) return { error: err.code, message: err.message };
  return { error: errorCodeOf(err), message: null };
}

/**
 * The append's outcome, or REQUEST_TIMED_OUT once `ms` pass (no deadline when
 * null: acks=0 waits for nobody); `seen` sees the outcome when it settles.
 */
function settle(p: Promise<AppendResult>, ms: number | null, seen: (o: Outcome) => Outcome): Promise<Outcome> {
  const outcome = p.then(
    (result) => seen({ result }),
    (err: unknown) => seen(failure(err)),
  );
  if (ms === null) return outcome;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ error: ErrorCode.REQUEST_TIMED_OUT, message: `not committed within ${ms} ms` }), Math.max(ms, 1));
    void outcome.then((o) => {
      clearTimeout(timer);
      resolve(o);
    });
  });
}

/** Validates and appends every partition; offsets are assigned synchronously, in request order. */
async function appendAll(
  req: ProduceRequest,
  ctx: RequestContext,
): Promise<Array<Array<Promise<Outcome> | Outcome>>> {
  const { topics, logs } = ctx.broker;
  const out: Array<Array<Promise<Outcome> | Outcome>> = [];
  for (const td of req.topicData) {
    const row: Array<Promise<Outcome> | Outcome> = [];
    out.push(row);
    let topic;
    try {
      topic = await topics.getOrAutoCreate(td.name, true);
    } catch (err) {
      topic = undefined;
      ctx.broker.log.warn({ err, topic: td.name }, 'auto-create on produce failed');
    }
    const maxBytes = topic ? Number(topics.config(topic, 'max.message.bytes')) : 0;
    for (const pd of td.partitionData) {
      if (req.transactionalId != null) {
        row.push({ error: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, message: 'transactions are not supported yet' });
        continue;
      }
      if (!topic || pd.index < 0 || pd.index >= topic.partitions) {
        row.push({ error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: null });
        continue;
      }
      const key = partitionKey(topic.topicId, pd.index);
      const log = logs.get(topic.topicId, pd.index);
      if (!log || log.fenced) {
        row.push(explainGap(ctx, key, { error: ErrorCode.NOT_LEADER_OR_FOLLOWER, message: null }));
        continue;
      }
      try {
        const records = recordsBuffer(pd.records);
        if (records && records.length > maxBytes + 12) {
          throw new KafkaError(ErrorCode.MESSAGE_TOO_LARGE, `${records.length} bytes exceed max.message.bytes ${maxBytes}`);
        }
        let batches = splitProducedRecords(records ?? Buffer.alloc(0), { produceVersion: ctx.apiVersion });
        const codec = TOPIC_CODECS.get(topics.config(topic, 'compression.type') ?? 'producer');
        if (codec !== undefined && batches.some((b) => compressionOf(b) !== codec)) {
          batches = batches.map((b) => (compressionOf(b) === codec ? b : recompressBatch(b, codec)));
          const largest = Math.max(...batches.map((b) => b.length));
          if (largest > maxBytes + 12) throw new KafkaError(ErrorCode.MESSAGE_TOO_LARGE, `${largest} bytes once compressed as the topic's compression.type asks exceed max.message.bytes ${maxBytes}`);
        }
        if (batches.length === 0) {
          row.push({ result: { baseOffset: log.logEndOffset, logAppendTime: -1, logStartOffset: log.logStartOffset } });
          continue;
        }
        const stamp = timestampRules(topics, topic);
        const now = Date.now();
        const bounded = !stamp.logAppendTime && (stamp.beforeMaxMs < LONG_MAX_MS || stamp.afterMaxMs < LONG_MAX_MS);
        const compacted = (topics.config(topic, 'cleanup.policy') ?? '').includes('compact');
        if (bounded || compacted) {
          const bad = checkRecords(batches, td.name, pd.index, compacted, bounded ? { min: now - stamp.beforeMaxMs, max: now + stamp.afterMaxMs } : null);
          if (bad) {
            row.push({ ...bad, logStartOffset: log.logStartOffset });
            continue;
          }
        }
        if (stamp.logAppendTime) for (const b of batches) setLogAppendTime(b, now);
        const p = log.append(batches, stamp.logAppendTime ? now : -1);
        // Settled outcomes pass explainGap as they happen (a refusal must be on record before the next request's check).
        row.push(settle(p, req.acks === 0 ? null : req.timeoutMs, (o) => explainGap(ctx, key, o)));
      } catch (err) {
        row.push(explainGap(ctx, key, failure(err)));
      }
    }
  }
  return out;
}

export const produce = defineHandler({
  api: ProduceApi,
  minVersion: 0,
  maxVersion: 11,
  async handle(req, ctx) {
    if (req.acks !== 0 && req.acks !== 1 && req.acks !== -1) {
      return {
        responses: req.topicData.map((td) => ({
          name: td.name,
          partitionResponses: td.partitionData.map((pd) => partitionResponse(pd.index, { error: ErrorCode.INVALID_REQUIRED_ACKS, message: null })),
        })),
        throttleTimeMs: 0,
      };
    }
    const state = ctx.connState;
    const previous = state.produceGate;
    let release!: () => void;
    state.produceGate = new Promise<void>((r) => (release = r));
    let pending;
    try {
      await previous;
      // Back-pressure: wait (holding this connection's order) while the write path is full.
      if (!(await ctx.broker.logs.writer.admit(Date.now() + Math.max(req.timeoutMs, 1)))) {
        // Refused whole: a later batch of these producers will find these missing.
        for (const td of req.topicData) {
          const topic = ctx.broker.topics.byName(td.name);
          if (topic) for (const pd of td.partitionData) noteRefusal(ctx, partitionKey(topic.topicId, pd.index));
        }
        return timedOut(req);
      }
      // A client that left while its request waited for room gets no answer: writing
      // its data would only delay everyone else (its fate was unknown to it anyway).
      if (ctx.conn.isClosed?.()) return timedOut(req);
      pending = await appendAll(req, ctx);
    } finally {
      release();
    }
    if (req.acks === 0) {
      if (pending.some((row) => row.some((x) => 'error' in x))) throw new CloseConnection('acks=0 produce failed');
      return null;
    }
    const responses: ProduceResponseTopicProduceResponse[] = [];
    for (let i = 0; i < req.topicData.length; i++) {
      const td = req.topicData[i]!;
      const outcomes = await Promise.all(pending[i]!);
      responses.push({
        name: td.name,
        partitionResponses: td.partitionData.map((pd, j) => partitionResponse(pd.index, outcomes[j]!)),
      });
    }
    return { responses, throttleTimeMs: 0 };
  },
});

function timedOut(req: ProduceRequest): ProduceResponse {
  return {
    responses: req.topicData.map((td) => ({
      name: td.name,
      partitionResponses: td.partitionData.map((pd) =>
        partitionResponse(pd.index, { error: ErrorCode.REQUEST_TIMED_OUT, message: 'the write path is full (object store slow or down)' }),
      ),
    })),
    throttleTimeMs: 0,
  };
}

function partitionResponse(index: number, o: Outcome): ProduceResponsePartitionProduceResponse {
  if ('result' in o) {
    return {
      index,
      errorCode: ErrorCode.NONE,
      baseOffset: BigInt(o.result.baseOffset),
      logAppendTimeMs: BigInt(o.result.logAppendTime),
      logStartOffset: BigInt(o.result.logStartOffset),
      recordErrors: [],
      errorMessage: null,
    };
  }
  return {
    index,
    errorCode: o.error,
    baseOffset: -1n,
    logAppendTimeMs: -1n,
    logStartOffset: BigInt(o.logStartOffset ?? -1),
    recordErrors: o.recordErrors ?? [],
    errorMessage: o.message,
  };
}
