// Snapshots of the embedded store's state, taken without holding up the
// broker. The state's size grows with the WAL ranges its partitions hold: a
// thousand partitions written ten times a second each held a million of them
// before compaction, and JSON.stringify of that state (150 MB) took 0.7 s and
// its conversion to bytes 0.2 s more, on the event loop, every half minute;
// every produce request waited behind it. Now the state is captured at once
// (a shallow copy: the parts operations change in place are copied, the
// ranges themselves are never changed once committed) and serialized a
// partition at a time, yielding to the event loop between slices.

import type { PartitionState } from './metadata-store.js';
import type { MetadataState } from './manifest-state.js';
import { YieldPoint } from '../storage/yield-point.js';

/** The state as of one instant, safe to serialize while operations go on changing the live state. */
export interface CapturedState {
  seq: number;
  /** Everything but the partitions, serialized at capture (topics, brokers, offsets, groups: small, and changed in place). */
  restJson: string;
  partitions: Array<[string, PartitionState]>;
}

export function captureState(seq: number, state: MetadataState): CapturedState {
  const { partitions, ...rest } = state;
  return {
    seq,
    restJson: JSON.stringify(rest),
    partitions: Object.entries(partitions).map(([key, p]) => [
      key,
      {
        ...p,
        // apply() pushes, splices and shifts these arrays and replaces an epoch's entry in place.
        ranges: p.ranges.slice(),
        producers: p.producers.slice(),
        epochHistory: p.epochHistory.map((e) => ({ ...e })),
      },
    ]),
  };
}

/** serializeCaptured stopped on request (the store is closing: its journal stays as it is). */
export class SnapshotAbandoned extends Error {
  constructor() {
    super('snapshot abandoned');
    this.name = 'SnapshotAbandoned';
  }
}

/**
 * Memory the serialized snapshot is written into, a piece at a time: above
 * glibc's largest mmap threshold (32 MiB), so each piece is mapped on its own
 * and given back to the kernel when it is freed. Pieces of 1 MiB came from
 * malloc's heap, between long-lived buffers, and a snapshot of 134 MB left
 * the broker's RSS that much higher after its write (1,000 partitions of
 * 1,000 ranges each). Pages a piece never fills are never touched.
 */
const PIECE_BYTES = 33 * 1024 * 1024;

const RANGES_PER_STRING = 64;

/**
 * `{"seq":…,"state":{…}}` as JSON.stringify would write it (keys in another
 * order), in pieces of up to PIECE_BYTES, handing the event loop back every
 * BACKGROUND_SLICE_MS.
 */
export async function serializeCaptured(c: CapturedState, yieldPoint = new YieldPoint(), abandon: () => boolean = () => false): Promise<Buffer[]> {
  const out = new PieceWriter();
  out.write(`{"seq":${c.seq},"state":{"partitions":{`);
  for (let i = 0; i < c.partitions.length; i++) {
    const [key, p] = c.partitions[i]!;
    // The ranges RANGES_PER_STRING at a time: a partition of 1,000 ranges made
    // one 140 KB string, 140 MB of them per snapshot, all in V8's old space.
    const { ranges, ...fields } = p;
    const head = JSON.stringify(fields);
    out.write(`${i ? ',' : ''}${JSON.stringify(key)}:${head.slice(0, -1)},"ranges":[`);
    for (let r = 0; r < ranges.length; r += RANGES_PER_STRING) {
      const some = JSON.stringify(ranges.slice(r, r + RANGES_PER_STRING));
      out.write(`${r ? ',' : ''}${some.slice(1, -1)}`);
    }
    out.write(']}');
    await yieldPoint.maybe();
    if (abandon()) throw new SnapshotAbandoned();
  }
  const rest = c.restJson.slice(1, -1);
  out.write(rest ? `},${rest}}}` : '}}}');
  return out.finish();
}

/** UTF-8 text written into PIECE_BYTES pieces (a string longer than a piece gets one of its own size). */
class PieceWriter {
  private readonly pieces: Buffer[] = [];
  private piece: Buffer | undefined;
  private used = 0;

  write(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    if (this.piece === undefined || this.used + n > this.piece.length) {
      this.close();
      this.piece = Buffer.allocUnsafeSlow(Math.max(PIECE_BYTES, n));
    }
    this.used += this.piece.write(s, this.used, 'utf8');
  }

  finish(): Buffer[] {
    this.close();
    return this.pieces;
  }

  private close(): void {
    if (this.piece !== undefined && this.used > 0) this.pieces.push(this.piece.subarray(0, this.used));
    this.piece = undefined;
    this.used = 0;
  }
}
