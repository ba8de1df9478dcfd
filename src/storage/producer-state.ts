// Idempotent-producer state of one partition, checked as Kafka's
// ProducerStateManager does: per producer id the epoch and the last five
// batches' sequence ranges with their offsets. A retried batch is answered
// with its original offsets and stored once; a gap is OUT_OF_ORDER_SEQUENCE.
// Entries are immutable values: the write path captures the entry as of each
// append and commits exactly that, and a failed flush rolls back to the
// committed map.

import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import type { ProducerBatchMeta, ProducerStateEntry } from '../coordination/metadata-store.js';

const KEEP_BATCHES = 5;
const INT32_MAX = 0x7fffffff;

export interface ProducedBatch {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  lastOffsetDelta: number;
  maxTimestamp: number;
}

export type SequenceCheck =
  | { kind: 'append' }
  | { kind: 'duplicate'; baseOffset: number; lastOffset: number; pending: Promise<void> | undefined };

export function lastSequenceOf(b: ProducedBatch): number {
  return (b.baseSequence + b.lastOffsetDelta) % (INT32_MAX + 1);
}

export class ProducerTable {
  private live: Map<number, ProducerStateEntry>;
  private committed: Map<number, ProducerStateEntry>;
  /** Commit promises of appended batches not yet durable, by pid:epoch:firstSeq. */
  private inflight = new Map<string, Promise<void>>();

  constructor(entries: ProducerStateEntry[]) {
    this.committed = new Map(entries.map((e) => [e.producerId, e]));
    this.live = new Map(this.committed);
  }

  check(b: ProducedBatch): SequenceCheck {
    const entry = this.live.get(b.producerId);
    if (!entry) return { kind: 'append' };
    if (b.producerEpoch < entry.epoch) {
      throw new KafkaError(ErrorCode.INVALID_PRODUCER_EPOCH, `producer ${b.producerId} epoch ${b.producerEpoch} < ${entry.epoch}`);
    }
    const lastSeq = lastSequenceOf(b);
    if (b.producerEpoch === entry.epoch) {
      const dup = entry.batches.find((x) => x.firstSeq === b.baseSequence && x.lastSeq === lastSeq);
      if (dup) {
        return {
          kind: 'duplicate',
          baseOffset: dup.baseOffset,
          lastOffset: dup.lastOffset,
          pending: this.inflight.get(`${b.producerId}:${b.producerEpoch}:${b.baseSequence}`),
        };
      }
      const prev = entry.batches[entry.batches.length - 1];
      const expected = prev ? (prev.lastSeq + 1) % (INT32_MAX + 1) : 0;
      if (prev && b.baseSequence !== expected) {
        throw new KafkaError(
          ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
          `producer ${b.producerId}: sequence ${b.baseSequence}, expected ${expected}`,
        );
      }
    } else if (b.baseSequence !== 0) {
      throw new KafkaError(
        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
        `producer ${b.producerId}: new epoch ${b.producerEpoch} must start at sequence 0, got ${b.baseSequence}`,
      );
    }
    return { kind: 'append' };
  }

  /** Records an appended batch; returns the entry as of this append, to commit. */
  record(b: ProducedBatch, baseOffset: number, commit: Promise<void>): ProducerStateEntry {
    const prev = this.live.get(b.producerId);
    const meta: ProducerBatchMeta = {
      firstSeq: b.baseSequence,
      lastSeq: lastSequenceOf(b),
      baseOffset,
      lastOffset: baseOffset + b.lastOffsetDelta,
      timestamp: b.maxTimestamp,
    };
    const batches = prev && prev.epoch === b.producerEpoch ? [...prev.batches, meta].slice(-KEEP_BATCHES) : [meta];
    const entry: ProducerStateEntry = {
      producerId: b.producerId,
      epoch: b.producerEpoch,
      batches,
      lastTimestamp: Date.now(),
    };
    this.live.set(b.producerId, entry);
    const key = `${b.producerId}:${b.producerEpoch}:${b.baseSequence}`;
    this.inflight.set(key, commit);
    const done = () => {
      if (this.inflight.get(key) === commit) this.inflight.delete(key);
    };
    commit.then(done, done);
    return entry;
  }

  markCommitted(entries: ProducerStateEntry[]): void {
    // Commits arrive in append order, so the last one is the newest.
    for (const e of entries) this.committed.set(e.producerId, e);
  }

  rollback(): void {
    this.live = new Map(this.committed);
    this.inflight.clear();
  }

  /** Producers seen on this partition (for DescribeProducers and tests). */
  entries(): ProducerStateEntry[] {
    return [...this.live.values()];
  }
}
