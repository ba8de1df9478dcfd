// Layout of a write-ahead object: one per flush per broker, holding the runs
// of batches of every partition in that flush, each run contiguous. The
// metadata commit records where each run lies; the footer repeats it so an
// object can be audited (and orphans explained) without the metadata.
//
//   "SHWAL001" | run | run | ... | footer JSON | u32 footerLength | u32 crc32c(footer) | "SHWALEND"

import { crc32c } from '@node-rs/crc32';

export const WAL_MAGIC = Buffer.from('SHWAL001');
export const WAL_END = Buffer.from('SHWALEND');
const TRAILER = 16;

export interface WalRun {
  topicId: string;
  partition: number;
  baseOffset: number;
  nextOffset: number;
  maxTimestamp: number;
  batches: Buffer[];
}

export interface WalRunLocation {
  topicId: string;
  partition: number;
  baseOffset: number;
  nextOffset: number;
  maxTimestamp: number;
  position: number;
  length: number;
}

export function encodeWalObject(runs: WalRun[]): { chunks: Buffer[]; size: number; locations: WalRunLocation[] } {
  const chunks: Buffer[] = [WAL_MAGIC];
  const locations: WalRunLocation[] = [];
  let pos = WAL_MAGIC.length;
  for (const run of runs) {
    let length = 0;
    for (const b of run.batches) {
      chunks.push(b);
      length += b.length;
    }
    const { batches: _omit, ...rest } = run;
    locations.push({ ...rest, position: pos, length });
    pos += length;
  }
  const footer = Buffer.from(JSON.stringify(locations), 'utf8');
  const trailer = Buffer.allocUnsafe(TRAILER);
  trailer.writeUInt32BE(footer.length, 0);
  trailer.writeUInt32BE(crc32c(footer), 4);
  WAL_END.copy(trailer, 8);
  chunks.push(footer, trailer);
  return { chunks, size: pos + footer.length + TRAILER, locations };
}

/** The runs an object holds, from its footer; throws if the object is damaged. */
export function decodeWalFooter(obj: Buffer): WalRunLocation[] {
  if (obj.length < WAL_MAGIC.length + TRAILER || !obj.subarray(0, 8).equals(WAL_MAGIC)) throw new Error('not a WAL object');
  const t = obj.length - TRAILER;
  if (!obj.subarray(t + 8).equals(WAL_END)) throw new Error('WAL object trailer missing');
  const len = obj.readUInt32BE(t);
  const footer = obj.subarray(t - len, t);
  if (crc32c(footer) !== obj.readUInt32BE(t + 4)) throw new Error('WAL object footer checksum mismatch');
  return JSON.parse(footer.toString('utf8')) as WalRunLocation[];
}
