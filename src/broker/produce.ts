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
  type ProduceResponsePartitionProduceResponse,
  type ProduceResponseTopicProduceResponse,
} from '../protocol/generated/produce.js';
import { recordsBuffer } from '../protocol/tagged.js';
import { ErrorCode, KafkaError, errorCodeOf } from '../protocol/kafka-error.js';
import { RecordsError } from '../protocol/records/errors.js';
import { splitProducedRecords } from '../protocol/records/produce.js';
import { applyRecordRules, type RecordRefusal } from './record-rules.js';
import type { AppendResult } from '../storage/partition-log.js';
import { CloseConnection } from '../server/connection.js';
import { partitionKey } from '../coordination/metadata-store.js';
import type { RequestContext } from './context.js';
import { defineHandler } from './handler.js';

/** An error; record-level refusals (Kafka's RecordValidationException) also carry the record errors and the log start offset. */
type Outcome = { result: AppendResult } | ({ error: number; message: string | null; logStartOffset?: number } & Partial<Pick<RecordRefusal, 'recordErrors'>>);

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
        const produced = splitProducedRecords(records ?? Buffer.alloc(0), { produceVersion: ctx.apiVersion });
        if (produced.length === 0) {
          row.push({ result: { baseOffset: log.logEndOffset, logAppendTime: -1, logStartOffset: log.logStartOffset } });
          continue;
        }
        const ruled = applyRecordRules(topics, topic, pd.index, produced, maxBytes);
        if ('refused' in ruled) {
          row.push({ ...ruled.refused, logStartOffset: log.logStartOffset });
          continue;
        }
        const p = log.append(ruled.batches, ruled.logAppendTime);
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
