// ListOffsets v0-9: earliest (-2), latest (-1), max timestamp (-3, KIP-734),
// earliest local (-4, same as earliest: all data is "local" to the object
// store), and by timestamp through the segment/WAL time bounds. v0's
// old-style offset list holds at most the one offset found.

import { ListOffsetsApi, type ListOffsetsResponseListOffsetsPartitionResponse } from '../protocol/generated/list-offsets.js';
import { ErrorCode, KafkaError, errorCodeOf } from '../protocol/kafka-error.js';
import { partitionLeaderEpochOf } from '../protocol/records/batch.js';
import { decodeRecords } from '../protocol/records/records.js';
import type { PartitionLog } from '../storage/partition-log.js';
import { defineHandler } from './handler.js';

const LATEST = -1n;
const EARLIEST = -2n;
const MAX_TIMESTAMP = -3n;
const EARLIEST_LOCAL = -4n;

/** The epoch that wrote `offset`, from the epoch history. */
function epochAt(log: PartitionLog, offset: number): number {
  let e = -1;
  for (const h of log.epochHistory) if (h.startOffset <= offset) e = h.epoch;
  return e;
}

async function lookup(log: PartitionLog, ts: bigint): Promise<{ offset: number; timestamp: number; epoch: number } | null> {
  if (ts === LATEST) return { offset: log.highWatermark, timestamp: -1, epoch: log.leaderEpoch };
  if (ts === EARLIEST || ts === EARLIEST_LOCAL) return { offset: log.logStartOffset, timestamp: -1, epoch: epochAt(log, log.logStartOffset) };
  if (ts === MAX_TIMESTAMP) {
    let best: { offset: number; timestamp: number; epoch: number } | null = null;
    for await (const b of log.batchesFrom(log.logStartOffset)) {
      if (!best || b.maxTimestamp > best.timestamp) {
        for (const r of decodeRecords(b.buf)) {
          if (!best || r.timestamp > best.timestamp) best = { offset: r.offset, timestamp: r.timestamp, epoch: partitionLeaderEpochOf(b.buf) };
        }
      }
    }
    return best;
  }
  if (ts < 0n) throw new KafkaError(ErrorCode.INVALID_REQUEST, `unknown special timestamp ${ts}`);
  const hit = await log.offsetForTimestamp(Number(ts));
  return hit ? { ...hit, epoch: epochAt(log, hit.offset) } : null;
}

export const listOffsets = defineHandler({
  api: ListOffsetsApi,
  minVersion: 0,
  maxVersion: 9,
  async handle(req, ctx) {
    const { topics, logs } = ctx.broker;
    const v = ctx.apiVersion;
    const result = [];
    for (const t of req.topics) {
      const topic = topics.byName(t.name);
      const partitions: ListOffsetsResponseListOffsetsPartitionResponse[] = [];
      for (const p of t.partitions) {
        const base = { partitionIndex: p.partitionIndex, oldStyleOffsets: [] as bigint[], timestamp: -1n, offset: -1n, leaderEpoch: -1 };
        const log = topic && p.partitionIndex >= 0 && p.partitionIndex < topic.partitions ? logs.get(topic.topicId, p.partitionIndex) : undefined;
        if (!topic || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) {
          partitions.push({ ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
          continue;
        }
        if (!log || log.fenced) {
          partitions.push({ ...base, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER });
          continue;
        }
        const ce = p.currentLeaderEpoch ?? -1;
        if (ce >= 0 && ce !== log.leaderEpoch) {
          partitions.push({ ...base, errorCode: ce < log.leaderEpoch ? ErrorCode.FENCED_LEADER_EPOCH : ErrorCode.UNKNOWN_LEADER_EPOCH });
          continue;
        }
        // KIP-734 (max timestamp) needs v7, KIP-405 (earliest local) v8.
        if ((p.timestamp === MAX_TIMESTAMP && v < 7) || (p.timestamp === EARLIEST_LOCAL && v < 8)) {
          partitions.push({ ...base, errorCode: ErrorCode.UNSUPPORTED_VERSION });
          continue;
        }
        try {
          const hit = await lookup(log, p.timestamp);
          if (!hit) {
            partitions.push({ ...base, errorCode: ErrorCode.NONE });
          } else if (v === 0) {
            partitions.push({ ...base, errorCode: ErrorCode.NONE, oldStyleOffsets: (p.maxNumOffsets ?? 1) > 0 ? [BigInt(hit.offset)] : [] });
          } else {
            partitions.push({ ...base, errorCode: ErrorCode.NONE, offset: BigInt(hit.offset), timestamp: BigInt(hit.timestamp), leaderEpoch: hit.epoch });
          }
        } catch (err) {
          if (!(err instanceof KafkaError)) ctx.broker.log.error({ err, topic: t.name, partition: p.partitionIndex }, 'list offsets failed');
          partitions.push({ ...base, errorCode: err instanceof KafkaError ? err.code : errorCodeOf(err) });
        }
      }
      result.push({ name: t.name, partitions });
    }
    return { throttleTimeMs: 0, topics: result };
  },
});
