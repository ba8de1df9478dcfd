// Log compaction (cleanup.policy=compact), batch by batch: which records of a
// partition's segments a cleaning keeps. Kafka's rules (LogCleaner): a record
// stays when it is the latest of its key among the records the cleaning saw;
// records without a key go; a tombstone (null value) that is the latest of
// its key stays for delete.retention.ms after a cleaning first kept it;
// nothing younger than min.compaction.lag.ms goes. Offsets never move: a cleaned batch keeps its
// base offset and last offset delta, so the offsets it held stay its own and
// a consumer sees gaps, as on Kafka. The WAL (the log's head) is never
// cleaned; LogManager.clean picks the segments and writes the result.

import { readBatchHeader } from '../protocol/records/batch.js';
import { buildBatch, decodeBatch, type DecodedRecord } from '../protocol/records/records.js';

/** Each key's latest offset among the batches added, in offset order. */
export class KeyOffsets {
  private readonly latest = new Map<string, number>();

  get size(): number {
    return this.latest.size;
  }

  add(batch: Buffer): void {
    if (readBatchHeader(batch).isControl) return;
    for (const r of decodeBatch(batch).records) if (r.key !== null) this.latest.set(keyString(r.key), r.offset);
  }

  latestOf(key: Buffer): number | undefined {
    return this.latest.get(keyString(key));
  }
}

/** A key's bytes as a Map key (latin1 maps every byte to one char, so distinct keys stay distinct). */
function keyString(key: Buffer): string {
  return key.toString('latin1');
}

export interface CleanRules {
  now: number;
  /** delete.retention.ms: how long a tombstone stays once a cleaning has seen it. */
  deleteRetentionMs: number;
  /** min.compaction.lag.ms: records younger than this are kept. */
  minCompactionLagMs: number;
}

export interface CleanedBatch {
  /** The same bytes when nothing changed, null when nothing is left, else a rebuilt batch. */
  batch: Buffer | null;
  /** The delete horizon of the tombstones the batch keeps, null when it keeps none. */
  horizon: number | null;
}

/**
 * The batch as a cleaning keeps it. A rebuilt batch has the records that stay
 * and the same codec, producer fields, base offset and last offset delta.
 * Tombstones go by Kafka 3's delete horizon (KIP-534): the first cleaning
 * that keeps one stamps its batch with now + delete.retention.ms, and a
 * cleaning after that time drops it, so a tombstone stays readable for
 * delete.retention.ms after the records it deleted went, whatever its own
 * timestamp says.
 */
export function cleanBatch(batch: Buffer, keys: KeyOffsets, rules: CleanRules): CleanedBatch {
  const h = readBatchHeader(batch);
  if (h.isControl) return { batch, horizon: null };
  const horizon = h.hasDeleteHorizon ? h.baseTimestamp : null;
  const { records } = decodeBatch(batch);
  const keep = (r: DecodedRecord): boolean => {
    if (r.key === null) return false;
    if (rules.minCompactionLagMs > 0 && rules.now - r.timestamp < rules.minCompactionLagMs) return true;
    const latest = keys.latestOf(r.key);
    if (latest !== undefined && latest > r.offset) return false;
    return r.value !== null || horizon === null || rules.now < horizon;
  };
  const kept = records.filter(keep);
  const tombstones = kept.some((r) => r.value === null);
  const newHorizon = tombstones ? (horizon ?? rules.now + rules.deleteRetentionMs) : null;
  if (kept.length === 0) return { batch: null, horizon: null };
  if (kept.length === records.length && newHorizon === horizon) return { batch, horizon };
  const rebuilt = buildBatch({
    baseOffset: h.baseOffset,
    records: kept.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp, offsetDelta: r.offset - h.baseOffset })),
    compression: h.compression,
    producerId: h.producerId,
    producerEpoch: h.producerEpoch,
    baseSequence: h.baseSequence,
    partitionLeaderEpoch: h.partitionLeaderEpoch,
    timestampType: h.timestampType,
    isTransactional: h.isTransactional,
    lastOffsetDelta: h.lastOffsetDelta,
    ...(newHorizon !== null ? { deleteHorizonMs: newHorizon } : {}),
    ...(h.timestampType === 1 ? { maxTimestamp: h.maxTimestamp } : {}),
  });
  return { batch: rebuilt, horizon: newHorizon };
}
