// Segments of quiet partitions written together, as one object.
//
// A partition of 10 records a second fills no segment: compaction writes its
// WAL runs into a small segment when they get old or many (segment.ms,
// MAX_WAL_RANGES in log-manager.ts). With 1,000 such partitions that was one
// PUT per partition per compaction: 1.1-1.3 PUTs per WAL flush in scenario 2
// of bench/s3-load.ts, against the WAL's one. A compaction pass gathers those
// small segments and writes them one after another into a pack: each stays a
// whole segment (blocks, footer, trailer), at its own position in the object,
// and the manifest's range of it names the pack with that position and
// length. A pack is shared as a WAL object is: it is deleted once no range
// references it (see LogManager.releaseRanges and collectOwnWal).

import { randomBytes } from 'node:crypto';
import type { LogRange } from '../coordination/metadata-store.js';
import type { PartitionLog } from './partition-log.js';
import type { EncodedSegment, SegmentFooter } from './segment.js';

/** A compaction whose segment holds at most this many batch bytes may go into a pack. */
export const PACK_MEMBER_MAX_BYTES = 4 * 1024 * 1024;
/** A pack is written once its segments take this many bytes (and at the end of every compaction pass). */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;
/**
 * The same for a pack that travels in a WAL object (StorageOptions.packsRideWal):
 * the produce requests of that flush wait for its bytes too.
 */
export const RIDING_PACK_TARGET_BYTES = 4 * 1024 * 1024;

const PACK_PREFIX = 'segments/packs/';

/** The key of a new pack written by broker `brokerId`: under segments/, so that the orphan sweeps list it. */
export function packKey(brokerId: number): string {
  return `${PACK_PREFIX}${brokerId}/${Date.now()}-${randomBytes(4).toString('hex')}.pack`;
}

/** The prefix of the packs broker `brokerId` wrote (its collector deletes those nothing references). */
export function packPrefix(brokerId: number): string {
  return `${PACK_PREFIX}${brokerId}/`;
}

function isPackKey(key: string): boolean {
  return key.startsWith(PACK_PREFIX);
}

/** Whether the object of `r` may hold other ranges too: deleted only once no range references it. */
export function isSharedObject(r: LogRange): boolean {
  // A segment in a WAL object is one of a pack that travelled in it (WalWriter.carry).
  return r.kind === 'wal' || isPackKey(r.key) || r.key.startsWith('wal/');
}

/** Whether `r` is a segment of a pack (in a pack object, or one that travelled in a WAL object). */
export function isPackedSegment(r: LogRange): boolean {
  return r.kind === 'segment' && isSharedObject(r);
}

export interface PackMember {
  log: PartitionLog;
  /** The ranges the segment replaces. */
  group: LogRange[];
  /** Where the segment starts in the pack, and its length. */
  position: number;
  size: number;
  footer: SegmentFooter;
}

/** The segments gathered so far for the next pack. */
export class SegmentPack {
  private members: PackMember[] = [];
  private chunks: Buffer[] = [];
  private size = 0;

  /** @param targetBytes written once its segments take this many bytes */
  constructor(readonly targetBytes = PACK_TARGET_BYTES) {}

  get bytes(): number {
    return this.size;
  }

  get count(): number {
    return this.members.length;
  }

  add(log: PartitionLog, group: LogRange[], segment: EncodedSegment): void {
    const { chunks, size, footer } = segment;
    this.members.push({ log, group, position: this.size, size, footer });
    this.chunks.push(...chunks);
    this.size += size;
  }

  /** The segments gathered, and the pack left empty for the next ones. */
  take(): { members: PackMember[]; chunks: Buffer[]; size: number } {
    const out = { members: this.members, chunks: this.chunks, size: this.size };
    this.members = [];
    this.chunks = [];
    this.size = 0;
    return out;
  }
}
