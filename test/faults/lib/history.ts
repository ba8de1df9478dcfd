// The history a fault run records: one JSON object per line. Every send
// (value, acknowledged offset or error) and every poll (partition, offset,
// value), the consumers' assignment changes, the consumer groups' joins,
// assignments, commits and committed offsets (seen on the wire by the
// recording proxy, lib/proxy.ts), the faults and their healing, and the final
// read-backs.
//
// Usage:
//   const h = new HistoryWriter('test/faults/runs/x.jsonl');   // or new HistoryWriter() for memory only
//   h.add({ type: 'fault', name: 'kill -9 broker 2', t: Date.now() });
//   ...; await h.close(); check(h.events);
//   parseHistory(fs.readFileSync(file, 'utf8'))                 // a recorded run, e.g. a regression case

import fs from 'node:fs';
import path from 'node:path';

export interface TopicPartition {
  topic: string;
  partition: number;
}

export type HistoryEvent =
  /** t: when the answer (acknowledgement or error) arrived. */
  | { type: 'send'; producer: string; topic: string; partition: number; value: string; offset: number | null; error: string | null; t: number }
  | { type: 'poll'; consumer: string; topic: string; partition: number; offset: number; value: string; t: number }
  /** The consumer's position was reset (assignment, rebalance, seek): the next poll may go back. */
  | { type: 'reposition'; consumer: string; topic: string; partition: number; t: number }
  /** batch (kafkajs reader): "producerId:epoch:firstSequence@firstOffset" of the record's batch, for diagnosis. */
  | { type: 'readback'; reader: string; topic: string; partition: number; offset: number; value: string; batch?: string }
  /** A fault was injected. */
  | { type: 'fault'; name: string; t: number; detail?: string }
  /** The fault `name` was removed (process restarted, resumed, network healed): recovery is timed from here. */
  | { type: 'heal'; name: string; t: number; detail?: string }
  /**
   * A JoinGroup answered without error: `member` is in `generation` of `group`
   * (seen by the proxy; `broker`: the broker that answered, in every group event).
   */
  | { type: 'join'; group: string; member: string; generation: number; t: number; broker?: number }
  /** A SyncGroup answered without error: `member` owns `partitions` in `generation`. */
  | { type: 'assignment'; group: string; member: string; generation: number; partitions: TopicPartition[]; t: number; broker?: number }
  /**
   * An OffsetCommit of one partition: sentAt when the request passed the
   * proxy, t when the answer did; error null = accepted.
   */
  | { type: 'commit'; group: string; member: string; generation: number; topic: string; partition: number; offset: number; error: string | null; sentAt: number; t: number; broker?: number }
  /** A committed offset read back (OffsetFetch) by anyone: asked at sentAt, answered at t. */
  | { type: 'committed'; group: string; topic: string; partition: number; offset: number; sentAt: number; t: number; broker?: number };

export function parseHistory(text: string): HistoryEvent[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as HistoryEvent);
}

/** Collects events in memory and (optionally) appends them to a JSON-lines file as they come. */
export class HistoryWriter {
  readonly events: HistoryEvent[] = [];
  private fd: number | null = null;
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly file?: string) {
    if (file) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      this.fd = fs.openSync(file, 'w');
    }
  }

  add(e: HistoryEvent): void {
    this.events.push(e);
    if (this.fd === null) return;
    this.pending.push(JSON.stringify(e));
    if (this.pending.length >= 2000) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), 200);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.fd === null || this.pending.length === 0) return;
    fs.writeSync(this.fd, this.pending.join('\n') + '\n');
    this.pending = [];
  }

  close(): void {
    this.flush();
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
