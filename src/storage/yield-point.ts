// Background work (compaction) made of steps that complete at once — blocking
// reads from the page cache, blocks too random to compress — runs as one
// chain of microtasks that never returns to the event loop: a 64 MiB segment
// held every connection for 60-150 ms, which was the p99 of produce at half
// load (ProducerPerformance saw 65-100 ms against Kafka's 14). A YieldPoint
// hands the loop back once its slice of time is used up.

import { setImmediate as nextTurn } from 'node:timers/promises';

/** Longest run of background work between two turns of the event loop. */
export const BACKGROUND_SLICE_MS = 2;

export class YieldPoint {
  private since = performance.now();

  constructor(private readonly sliceMs = BACKGROUND_SLICE_MS) {}

  /** Resolves at once within the slice; after it, on the event loop's next turn (sockets and timers first). */
  async maybe(): Promise<void> {
    if (performance.now() - this.since < this.sliceMs) return;
    await nextTurn();
    this.since = performance.now();
  }
}
