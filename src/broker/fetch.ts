// Fetch v0-17 for consumers: long polling (max_wait_ms / min_bytes), response
// and partition byte limits (KIP-74: the first batch is returned even when it
// is larger), leader-epoch checks (KIP-320), topic ids (v13+), fetch sessions
// (KIP-227, v7+: see fetch-sessions.ts), down-conversion to message format
// 0/1 for v0-3. isolation_level is accepted: with no transactions, the last
// stable offset is the high watermark. Follower fetches (replica id >= 0) are
// refused, StreamHouse has no followers.

import {
  FetchApi,
  type FetchRequestFetchPartition,
  type FetchResponseFetchableTopicResponse,
  type FetchResponsePartitionData,
} from '../protocol/generated/fetch.js';
import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import { downConvert } from '../protocol/records/legacy.js';
import type { TopicRecord } from '../coordination/metadata-store.js';
import type { BlockPins } from '../storage/block-pool.js';
import type { PartitionLog } from '../storage/partition-log.js';
import type { RequestContext } from './context.js';
import { FINAL_EPOCH, INITIAL_EPOCH, partitionKey, type FetchSession } from './fetch-sessions.js';
import { defineHandler } from './handler.js';

const EMPTY = Buffer.alloc(0);

interface Target {
  /** The topic as the request names it: its name (v0-12) or its id (v13+). */
  topic: string;
  req: FetchRequestFetchPartition;
  log: PartitionLog | undefined;
  error: number;
}

function partitionError(p: FetchRequestFetchPartition, code: number, log?: PartitionLog): FetchResponsePartitionData {
  return {
    partitionIndex: p.partition,
    errorCode: code,
    highWatermark: BigInt(log?.highWatermark ?? -1),
    lastStableOffset: BigInt(log?.highWatermark ?? -1),
    logStartOffset: BigInt(log?.logStartOffset ?? -1),
    abortedTransactions: null,
    preferredReadReplica: -1,
    // Empty, not null: librdkafka cannot parse a null record set and would never see the error.
    records: EMPTY,
  };
}

function epochError(p: FetchRequestFetchPartition, log: PartitionLog): number {
  const e = p.currentLeaderEpoch ?? -1;
  if (e < 0 || e === log.leaderEpoch) return ErrorCode.NONE;
  return e < log.leaderEpoch ? ErrorCode.FENCED_LEADER_EPOCH : ErrorCode.UNKNOWN_LEADER_EPOCH;
}

async function readOnce(
  targets: Target[],
  ctx: RequestContext,
  maxBytes: number,
  pins: BlockPins,
): Promise<{ partitions: FetchResponsePartitionData[]; bytes: number; errors: boolean }> {
  const partitions: FetchResponsePartitionData[] = [];
  let bytes = 0;
  let errors = false;
  for (const t of targets) {
    const log = t.log;
    if (!log || t.error !== ErrorCode.NONE) {
      partitions.push(partitionError(t.req, t.error, log));
      errors = true;
      continue;
    }
    const epochErr = epochError(t.req, log);
    if (log.fenced || epochErr !== ErrorCode.NONE) {
      partitions.push(partitionError(t.req, log.fenced ? ErrorCode.NOT_LEADER_OR_FOLLOWER : epochErr, log));
      errors = true;
      continue;
    }
    const offset = Number(t.req.fetchOffset);
    const budget = Math.min(t.req.partitionMaxBytes, maxBytes - bytes);
    let batches: Buffer[] = [];
    try {
      if (budget > 0 || bytes === 0) batches = await log.read(offset, Math.max(budget, 1), pins);
    } catch (err) {
      if (!(err instanceof KafkaError)) ctx.broker.log.error({ err, topic: log.topicName, partition: log.partition }, 'fetch read failed');
      let code = err instanceof KafkaError ? err.code : ErrorCode.KAFKA_STORAGE_ERROR;
      // Past our high watermark while the metadata names a newer leader: our log is the stale one, not the
      // consumer's position. OFFSET_OUT_OF_RANGE would make the consumer reset (to earliest, say) and re-read.
      if (code === ErrorCode.OFFSET_OUT_OF_RANGE && offset > log.highWatermark && deposed(ctx, log)) code = ErrorCode.NOT_LEADER_OR_FOLLOWER;
      partitions.push(partitionError(t.req, code, log));
      errors = true;
      continue;
    }
    let records: Buffer | Buffer[] = batches;
    if (ctx.apiVersion <= 3 && batches.length) records = downConvert(batches, ctx.apiVersion <= 1 ? 0 : 1, { firstOffset: offset });
    for (const b of batches) bytes += b.length;
    partitions.push({
      partitionIndex: t.req.partition,
      errorCode: ErrorCode.NONE,
      highWatermark: BigInt(log.highWatermark),
      lastStableOffset: BigInt(log.highWatermark),
      logStartOffset: BigInt(log.logStartOffset),
      abortedTransactions: null,
      preferredReadReplica: -1,
      records,
    });
  }
  return { partitions, bytes, errors };
}

export const fetch = defineHandler({
  api: FetchApi,
  minVersion: 0,
  maxVersion: 17,
  async handle(req, ctx) {
    const useIds = ctx.apiVersion >= 13;
    const refuse = (errorCode: number) => ({ throttleTimeMs: 0, errorCode, sessionId: 0, responses: [] });
    if ((req.replicaId ?? -1) >= 0 || (req.replicaState?.replicaId ?? -1) >= 0) return refuse(ErrorCode.NOT_LEADER_OR_FOLLOWER);

    // Which partitions this fetch reads: the request's, or (incremental) its session's.
    let session: FetchSession | null = null;
    let incremental = false;
    if (ctx.apiVersion >= 7) {
      const sessions = ctx.broker.fetchSessions;
      const id = req.sessionId ?? 0;
      const epoch = req.sessionEpoch ?? FINAL_EPOCH;
      if (epoch === FINAL_EPOCH || epoch === INITIAL_EPOCH) {
        if (id !== 0) sessions.remove(id);
        if (epoch === INITIAL_EPOCH) session = sessions.create(useIds);
      } else {
        session = id !== 0 ? (sessions.get(id) ?? null) : null;
        if (!session) return refuse(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
        if (session.epoch !== epoch) return refuse(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
        if (session.usesTopicIds !== useIds) return refuse(ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR);
        incremental = true;
        session.advance();
      }
    }
    const named = (t: { topic?: string; topicId?: string }) => (useIds ? (t.topicId ?? '') : (t.topic ?? ''));
    let wanted: Array<{ topic: string; req: FetchRequestFetchPartition }> = [];
    for (const ft of req.topics) for (const p of ft.partitions) wanted.push({ topic: named(ft), req: p });
    if (session) {
      if (!incremental) session.partitions.clear();
      for (const w of wanted) session.set(w.topic, w.req);
      for (const f of req.forgottenTopicsData ?? []) for (const p of f.partitions) session.forget(named(f), p);
      wanted = [...session.partitions.values()];
    }
    const targets = wanted.map((w) => target(w.topic, w.req, useIds, ctx));

    const maxBytes = req.maxBytes ?? 0x7fffffff;
    const deadline = Date.now() + Math.max(0, req.maxWaitMs);
    // Block memory the response references stays out of the pool until the socket has written it.
    const pins = ctx.broker.logs.pins();
    ctx.onWritten(() => pins.release());
    let result = await readOnce(targets, ctx, maxBytes, pins);
    while (!result.errors && result.bytes < Math.max(1, req.minBytes) && Date.now() < deadline) {
      const changed = await waitForChange(targets, deadline - Date.now(), ctx.broker.shuttingDown);
      if (!changed) break;
      result = await readOnce(targets, ctx, maxBytes, pins);
    }

    // Topics in the order they first appear; an incremental answer leaves out the partitions with nothing new.
    const responses = new Map<string, FetchResponseFetchableTopicResponse>();
    result.partitions.forEach((p, j) => {
      const t = targets[j]!;
      if (session) {
        const key = partitionKey(t.topic, t.req.partition);
        const cached = session.partitions.get(key)!;
        const hasRecords = Array.isArray(p.records) ? p.records.length > 0 : (p.records?.length ?? 0) > 0;
        const answer = session.mustAnswer(cached, p.errorCode, hasRecords, Number(p.highWatermark), Number(p.logStartOffset));
        if (hasRecords) session.moveToEnd(key);
        if (incremental && !answer) return;
      }
      let r = responses.get(t.topic);
      if (!r) {
        const topic = useIds ? ctx.broker.topics.byId(t.topic) : ctx.broker.topics.byName(t.topic);
        r = { topic: topic?.name ?? (useIds ? '' : t.topic), topicId: useIds ? t.topic : topic?.topicId, partitions: [] };
        responses.set(t.topic, r);
      }
      r.partitions.push(p);
    });
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: session?.id ?? 0, responses: [...responses.values()] };
  },
});

/** A partition to read, or the error that answers it instead. */
function target(topicName: string, req: FetchRequestFetchPartition, useIds: boolean, ctx: RequestContext): Target {
  const topic: TopicRecord | undefined = useIds ? ctx.broker.topics.byId(topicName) : ctx.broker.topics.byName(topicName);
  let error: number = ErrorCode.NONE;
  let log: PartitionLog | undefined;
  if (!topic) error = useIds ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  else if (req.partition < 0 || req.partition >= topic.partitions) error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  else {
    log = ctx.broker.logs.get(topic.topicId, req.partition);
    if (!log) error = ErrorCode.NOT_LEADER_OR_FOLLOWER;
  }
  return { topic: topicName, req, log, error };
}

/** Resolves true when any partition's high watermark moves, false on timeout or shutdown. */
function waitForChange(targets: Target[], ms: number, shuttingDown: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const unsubs: Array<() => void> = [];
    let done = false;
    const finish = (v: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const u of unsubs) u();
      shuttingDown.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const timer = setTimeout(() => finish(false), Math.max(0, ms));
    for (const t of targets) if (t.log) unsubs.push(t.log.onChange(() => finish(true)));
    const onAbort = () => finish(false);
    if (shuttingDown.aborted) return finish(false);
    shuttingDown.addEventListener('abort', onAbort);
  });
}

/** Whether the metadata store already names another leader, or a newer epoch, for this log's partition. */
function deposed(ctx: RequestContext, log: PartitionLog): boolean {
  const l = ctx.broker.meta.leaderOf(log.topicId, log.partition);
  return !l || l.leaderId !== ctx.broker.config.brokerId || l.leaderEpoch > log.leaderEpoch;
}
