// Layout of a write-ahead object: one per flush per broker, holding the runs
// of batches of every partition in that flush, each run contiguous. The
// metadata commit records where each run lies; the footer repeats it so an
// object can be audited (and orphans explained) without the metadata.
//
//   "SHWAL001" | run | run | ... | rider | ... | footer JSON | u32 footerLength | u32 crc32c(footer) | "SHWALEND"
//
// The footer JSON is the list of runs, or, on a metadata store that reads
// commits back from WAL objects (the embedded one), {runs, commit}: the
// object then carries its own metadata commit, and a flush is one write.
// Riders are bytes that travel in the object without being a partition's
// run: a pack of compacted segments (segment-pack.ts) on a store that bills
// each PUT. The footer is then {runs, riders, ...}.

import { crc32c } from '@node-rs/crc32';
import type { WalCommit } from '../coordination/metadata-store.js';
import { crc32cOfBatches } from '../protocol/records/crc32c.js';
import { DAMAGED_READS, readAgainWhileDamaged } from './damaged-reads.js';
import { ObjectNotFoundError, type ObjectStore } from './object-store.js';

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

/** Where a rider lies in its object. */
export interface WalRiderLocation {
  position: number;
  length: number;
}

/** `commitOf`: the metadata commit to embed, made from where the runs lie. `riders`: each a list of chunks, placed after the runs. */
export function encodeWalObject(
  runs: WalRun[],
  commitOf?: (locations: WalRunLocation[]) => WalCommit,
  riders: ReadonlyArray<readonly Buffer[]> = [],
): { chunks: Buffer[]; size: number; locations: WalRunLocation[]; riders: WalRiderLocation[]; commit?: WalCommit } {
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
  const runChunks = chunks.length;
  const riderLocations: WalRiderLocation[] = [];
  for (const rider of riders) {
    let length = 0;
    for (const c of rider) {
      chunks.push(c);
      length += c.length;
    }
    riderLocations.push({ position: pos, length });
    pos += length;
  }
  const commit = commitOf?.(locations);
  let footerJson: string;
  if (commit) {
    // The data's CRC lets recovery tell a whole object from a torn write whose footer landed.
    // The runs are batches produce checked: their own CRCs make it, without another pass.
    let crc = crc32c(WAL_MAGIC);
    for (let i = 1; i < runChunks; i++) crc = crc32cOfBatches(chunks[i]!, crc);
    // Riders are not batches: their bytes are read (a pack of at most RIDING_PACK_TARGET_BYTES).
    for (let i = runChunks; i < chunks.length; i++) crc = crc32c(chunks[i]!, crc);
    footerJson = JSON.stringify({ runs: locations, ...(riderLocations.length ? { riders: riderLocations } : {}), commit, dataLength: pos, dataCrc: crc } satisfies WalFooter);
  } else footerJson = JSON.stringify(riderLocations.length ? ({ runs: locations, riders: riderLocations } satisfies WalFooter) : locations);
  const footer = Buffer.from(footerJson, 'utf8');
  const trailer = Buffer.allocUnsafe(TRAILER);
  trailer.writeUInt32BE(footer.length, 0);
  trailer.writeUInt32BE(crc32c(footer), 4);
  WAL_END.copy(trailer, 8);
  chunks.push(footer, trailer);
  return { chunks, size: pos + footer.length + TRAILER, locations, riders: riderLocations, ...(commit ? { commit } : {}) };
}

interface WalFooter {
  runs: WalRunLocation[];
  riders?: WalRiderLocation[];
  commit?: WalCommit;
  /** With a commit: length and crc32c of everything before the footer. */
  dataLength?: number;
  dataCrc?: number;
}

function parseFooter(footer: Buffer): WalFooter {
  const f = JSON.parse(footer.toString('utf8')) as WalRunLocation[] | WalFooter;
  return Array.isArray(f) ? { runs: f } : f;
}

/** The runs an object holds, from its footer; throws if the object is damaged. */
export function decodeWalFooter(obj: Buffer): WalRunLocation[] {
  if (obj.length < WAL_MAGIC.length + TRAILER || !obj.subarray(0, 8).equals(WAL_MAGIC)) throw new Error('not a WAL object');
  const t = obj.length - TRAILER;
  if (!obj.subarray(t + 8).equals(WAL_END)) throw new Error('WAL object trailer missing');
  const len = obj.readUInt32BE(t);
  const footer = obj.subarray(t - len, t);
  if (crc32c(footer) !== obj.readUInt32BE(t + 4)) throw new Error('WAL object footer checksum mismatch');
  return parseFooter(footer).runs;
}

export interface EmbeddedCommit {
  commit: WalCommit;
  /** Reads the data and checks its CRC (a write cut short can leave the footer and a hole). */
  verify(): Promise<boolean>;
}

/**
 * The commit a WAL object carries, read with two ranged GETs (trailer, then
 * footer); null when the object is not a whole WAL object (a prepared file
 * never written, a write cut short) or carries no commit.
 */
export async function readEmbeddedCommit(store: ObjectStore, key: string, size: number): Promise<EmbeddedCommit | null> {
  const r = await readEmbeddedCommitOnce(store, key, size);
  return typeof r === 'string' ? null : r;
}

/**
 * readEmbeddedCommit that tells an object which holds no commit ('none': too
 * short to be a WAL object, or a footer without a commit) from one whose read
 * does not hold together ('damaged': no trailer, a footer that fails its CRC),
 * which a write cut short and a damaged read (a bit flipped on the way, a
 * body cut short) both look like.
 */
async function readEmbeddedCommitOnce(store: ObjectStore, key: string, size: number): Promise<EmbeddedCommit | 'none' | 'damaged'> {
  if (size < WAL_MAGIC.length + TRAILER) return 'none';
  const trailer = await store.get(key, { start: size - TRAILER, end: size });
  if (!trailer.subarray(8).equals(WAL_END)) return 'damaged';
  const len = trailer.readUInt32BE(0);
  if (len > size - WAL_MAGIC.length - TRAILER) return 'damaged';
  const footer = await store.get(key, { start: size - TRAILER - len, end: size - TRAILER });
  if (crc32c(footer) !== trailer.readUInt32BE(4)) return 'damaged';
  const f = parseFooter(footer);
  if (!f.commit || f.dataLength !== size - TRAILER - len || f.dataCrc === undefined) return 'none';
  const { dataLength, dataCrc } = f;
  return {
    commit: f.commit,
    verify: async () => crc32c(await store.get(key, { start: 0, end: dataLength })) === dataCrc,
  };
}

/**
 * readEmbeddedCommit for recovery: a footer, and the data verify() checks,
 * are read again while they do not hold together (readAgainWhileDamaged). A
 * damaged GET must not pass for a write the crash tore, or recovery would drop
 * a commit that had been acknowledged and delete its object as an orphan
 * (fault suite 05 lost five records so, reading footers through bit flips). A
 * torn write reads the same every time; on a store whose puts are atomic
 * (S3) there are none, and a read that stays damaged throws. A missing
 * object is null; any other failure of the store throws.
 */
export async function readEmbeddedCommitSurely(store: ObjectStore, key: string, size: number, reads?: number, pauseMs?: number): Promise<EmbeddedCommit | null> {
  const orIfMissing = <T>(read: Promise<T>, missing: T) => read.catch((err: unknown) => (err instanceof ObjectNotFoundError ? missing : Promise.reject(err)));
  // Where a crash cannot tear a write, what stays damaged is the reads': the start fails (and is tried again) instead.
  const stillDamaged = () => {
    if (store.atomicPuts) throw new Error(`WAL object ${key} read back damaged ${reads ?? DAMAGED_READS} times`);
  };
  const r = await readAgainWhileDamaged(() => orIfMissing(readEmbeddedCommitOnce(store, key, size), 'none' as const), (x) => x === 'damaged', reads, pauseMs);
  if (r === 'damaged') stillDamaged();
  if (typeof r === 'string') return null;
  const verify = async () => {
    const ok = await readAgainWhileDamaged(() => orIfMissing(r.verify(), null), (x) => x === false, reads, pauseMs);
    if (ok === false) stillDamaged();
    return ok === true;
  };
  return { commit: r.commit, verify };
}
