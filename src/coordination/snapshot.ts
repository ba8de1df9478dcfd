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

/** Bytes gathered into one piece of the serialized snapshot before a new one starts. */
const PIECE_BYTES = 1 << 20;

/**
 * `{"seq":…,"state":{…}}` as JSON.stringify would write it (keys in another
 * order), in pieces of about PIECE_BYTES, handing the event loop back every
 * BACKGROUND_SLICE_MS.
 */
export async function serializeCaptured(c: CapturedState, yieldPoint = new YieldPoint(), abandon: () => boolean = () => false): Promise<Buffer[]> {
  const pieces: Buffer[] = [];
  let parts: string[] = [`{"seq":${c.seq},"state":{"partitions":{`];
  let partsLength = 0;
  for (let i = 0; i < c.partitions.length; i++) {
    const [key, p] = c.partitions[i]!;
    const s = `${i ? ',' : ''}${JSON.stringify(key)}:${JSON.stringify(p)}`;
    parts.push(s);
    partsLength += s.length;
    if (partsLength >= PIECE_BYTES) {
      pieces.push(Buffer.from(parts.join(''), 'utf8'));
      parts = [];
      partsLength = 0;
    }
    await yieldPoint.maybe();
    if (abandon()) throw new SnapshotAbandoned();
  }
  const rest = c.restJson.slice(1, -1);
  parts.push(rest ? `},${rest}}}` : '}}}');
  pieces.push(Buffer.from(parts.join(''), 'utf8'));
  return pieces;
}
