/**
 * The storage audit the fault runner calls after every scenario (brokers
 * stopped). It reads the metadata as the brokers left it and checks it against
 * the objects, read straight from the store (never through a fault proxy):
 *
 *  - every object the metadata names exists; every WAL range holds whole
 *    record batches whose CRC-32C match, offsets contiguous from the range's
 *    base to its next offset, and lies where the WAL object's own footer
 *    (CRC-checked) says; every segment has a footer whose CRC matches,
 *    covering the range, blocks whose CRC matches and which decompress to
 *    batches passing the same checks;
 *  - per partition the committed ranges are contiguous (no gap, no overlap),
 *    start at or below the log start, end at the high watermark; the epoch
 *    history is increasing and each batch carries the epoch that history
 *    assigns to its offset;
 *  - objects under wal/ and segments/ that no range names are orphans
 *    (uploaded, never committed, or replaced and not deleted): counted, and
 *    deleted unless `collectOrphans` is false. Empty WAL files are the local
 *    store's prepared files (see FsObjectStore.prepare), counted apart.
 *
 * Metadata sources: the embedded store's DATA_DIR/meta (snapshot.json +
 * journal.log), the embedded store's objects in the bucket (meta/snapshot/,
 * meta/journal/), or etcd (keys under the prefix, README "Data directory
 * layout"). Nothing is modified except orphans when asked.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32c } from '@node-rs/crc32';
import { Etcd3 } from 'etcd3';
import { apply, type MetadataState, type Operation } from '../../../src/coordination/manifest-state.js';
import { decodeJournal, type JournalRecord } from '../../../src/coordination/journal.js';
import { journalFiles } from '../../../src/coordination/file-persistence.js';
import { ObjectPersistence } from '../../../src/coordination/object-persistence.js';
import type { EpochStart, LogRange } from '../../../src/coordination/metadata-store.js';
import { readBatchHeader } from '../../../src/protocol/records/batch.js';
import { FsObjectStore } from '../../../src/storage/fs-object-store.js';
import type { ObjectStore } from '../../../src/storage/object-store.js';
import { S3ObjectStore, parseS3Url } from '../../../src/storage/s3-object-store.js';
import { SEGMENT_TRAILER, decodeBlock, decodeSegmentFooter, type SegmentFooter } from '../../../src/storage/segment.js';
import { decodeWalFooter, type WalRunLocation } from '../../../src/storage/wal-object.js';
import { isPackedSegment } from '../../../src/storage/segment-pack.js';

export type MetadataSource =
  | { kind: 'file'; /** DATA_DIR/meta */ dir: string }
  | { kind: 'objects' }
  | { kind: 'etcd'; endpoints: string[]; prefix?: string };

export interface AuditTarget {
  /** file:///path or s3://bucket/prefix (the broker's --storage). */
  storage: string;
  s3?: { endpoint: string; region?: string; forcePathStyle?: boolean; accessKeyId?: string; secretAccessKey?: string };
  metadata: MetadataSource;
  /** Delete the orphans found after counting them (default true: the audit runs with the brokers stopped). */
  collectOrphans?: boolean;
  /** An already open store (tests); storage/s3 are ignored then. */
  store?: ObjectStore;
}

export interface AuditPartition {
  topicId: string;
  partition: number;
  logStartOffset: number;
  /** null when the source does not record it apart from the ranges (etcd). */
  highWatermark: number | null;
  leaderEpoch: number;
  epochHistory: EpochStart[];
  ranges: LogRange[];
}

export interface AuditResult {
  partitions: number;
  walRanges: number;
  segmentRanges: number;
  objectsReferenced: number;
  batchesChecked: number;
  bytesChecked: number;
  // must be zero
  missingObjects: number;
  corruptObjects: number;
  corruptRanges: number;
  gaps: number;
  overlaps: number;
  highWatermarkMismatches: number;
  epochHistoryErrors: number;
  epochMismatches: number;
  metadataErrors: number;
  // informative
  orphans: number;
  orphanBytes: number;
  orphansCollected: number;
  preparedEmpty: number;
  /** Bytes at the journal's end that do not form whole valid records (a crash cut them; the broker drops them at start). */
  journalTornBytes: number;
  /** A few examples per problem. */
  problems: Record<string, string[]>;
}

export const AUDIT_MUST_BE_ZERO = [
  'missingObjects',
  'corruptObjects',
  'corruptRanges',
  'gaps',
  'overlaps',
  'highWatermarkMismatches',
  'epochHistoryErrors',
  'epochMismatches',
  'metadataErrors',
] as const satisfies ReadonlyArray<keyof AuditResult>;

/** The must-be-zero counts that are not. */
export function auditFailures(r: AuditResult): string[] {
  return AUDIT_MUST_BE_ZERO.filter((k) => r[k] !== 0).map((k) => `${k}=${r[k]}${r.problems[k] ? ` (${r.problems[k]!.slice(0, 3).join('; ')})` : ''}`);
}

export function formatAudit(r: AuditResult): string {
  return (
    `audit: ${r.partitions} partitions, ${r.walRanges} WAL ranges, ${r.segmentRanges} segments, ${r.objectsReferenced} objects, ` +
    `${r.batchesChecked} batches / ${(r.bytesChecked / 1048576).toFixed(1)} MiB checked; ` +
    AUDIT_MUST_BE_ZERO.map((k) => `${k} ${r[k]}`).join(', ') +
    `; orphans ${r.orphans} (${r.orphanBytes} B, ${r.orphansCollected} collected), prepared ${r.preparedEmpty}, journal torn ${r.journalTornBytes} B` +
    Object.entries(r.problems)
      .map(([k, l]) => `\n  ${k}: ${l.join('; ')}`)
      .join('')
  );
}

// ------------------------------------------------------------ metadata

async function readFileOrNull(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function replay(snapshot: { seq: number; state: MetadataState } | null, records: JournalRecord<Operation>[]): MetadataState {
  const state: MetadataState = snapshot ? snapshot.state : { clusterId: '', nextProducerId: 0, topics: {}, partitions: {}, brokers: {}, offsets: {} };
  let seq = snapshot?.seq ?? 0;
  for (const r of records.sort((a, b) => a.seq - b.seq)) {
    if (r.seq <= seq) continue;
    apply(state, r.body);
    seq = r.seq;
  }
  return state;
}

function partitionsOf(state: MetadataState): AuditPartition[] {
  return Object.values(state.partitions).map((p) => ({
    topicId: p.topicId,
    partition: p.partition,
    logStartOffset: p.logStartOffset,
    highWatermark: p.highWatermark,
    leaderEpoch: p.leaderEpoch,
    epochHistory: p.epochHistory,
    ranges: p.ranges,
  }));
}

export async function readMetadata(source: MetadataSource, store: ObjectStore, result: Pick<AuditResult, 'journalTornBytes' | 'metadataErrors' | 'problems'>): Promise<AuditPartition[]> {
  const note = (k: string, s: string) => ((result.problems[k] ??= []).length < 5 ? result.problems[k]!.push(s) : 0);
  switch (source.kind) {
    case 'file': {
      const snapBuf = await readFileOrNull(join(source.dir, 'snapshot.json'));
      const snapshot = snapBuf ? (JSON.parse(snapBuf.toString('utf8')) as { seq: number; state: MetadataState }) : null;
      // Journal files renamed when a snapshot began (see file-persistence.ts), then journal.log.
      const records: JournalRecord<Operation>[] = [];
      for (const f of await journalFiles(source.dir)) {
        const journal = (await readFileOrNull(f.path)) ?? Buffer.alloc(0);
        const decoded = decodeJournal<Operation>(journal);
        result.journalTornBytes += journal.length - decoded.validLength;
        records.push(...decoded.records);
      }
      return partitionsOf(replay(snapshot, records));
    }
    case 'objects': {
      // Read as the broker reads it (snapshot checksum, incarnations, damaged reads), through a store that deletes nothing.
      const readOnly: ObjectStore = {
        description: store.description,
        put: () => Promise.reject(new Error('audit: read-only')),
        get: (k, r) => store.get(k, r),
        delete: () => Promise.resolve(),
        list: (prefix) => store.list(prefix),
        close: () => Promise.resolve(),
      };
      try {
        const { snapshot, records } = await new ObjectPersistence<MetadataState, Operation>(readOnly).load();
        return partitionsOf(replay(snapshot, records));
      } catch (err) {
        result.metadataErrors++;
        note('metadataErrors', (err as Error).message);
        return [];
      }
    }
    case 'etcd': {
      // The manifests of a long run exceed gRPC's default 4 MiB message.
      const client = new Etcd3({ hosts: source.endpoints, grpcOptions: { 'grpc.max_receive_message_length': -1 } });
      try {
        const prefix = (source.prefix ?? '/streamhouse').replace(/\/?$/, '/');
        const all = { ...(await client.getAll().prefix(`${prefix}state/`).strings()), ...(await client.getAll().prefix(`${prefix}ranges/`).strings()) };
        const states = new Map<string, { leaderId: number; leaderEpoch: number; epochHistory: EpochStart[]; logStartOffset: number }>();
        const ranges = new Map<string, LogRange[]>();
        for (const [k, v] of Object.entries(all)) {
          const rel = k.slice(prefix.length);
          const m = /^(state|ranges)\/([^/]+)\/(\d+)(?:\/\d+)?$/.exec(rel);
          if (!m) continue;
          const pk = `${m[2]}:${m[3]}`;
          if (m[1] === 'state') states.set(pk, JSON.parse(v) as never);
          else {
            const { producers: _p, ...r } = JSON.parse(v) as LogRange & { producers: unknown };
            let l = ranges.get(pk);
            if (!l) ranges.set(pk, (l = []));
            l.push(r);
          }
        }
        const out: AuditPartition[] = [];
        for (const pk of new Set([...states.keys(), ...ranges.keys()])) {
          const [topicId, p] = pk.split(':') as [string, string];
          const s = states.get(pk);
          if (!s) {
            result.metadataErrors++;
            note('metadataErrors', `ranges of ${pk} without a state key`);
            continue;
          }
          // As acquirePartition reads them: ranges wholly below the log start are forgotten (their deletion follows the state write).
          const list = (ranges.get(pk) ?? []).filter((r) => r.nextOffset > s.logStartOffset).sort((a, b) => a.baseOffset - b.baseOffset);
          out.push({ topicId, partition: Number(p), logStartOffset: s.logStartOffset, highWatermark: null, leaderEpoch: s.leaderEpoch, epochHistory: s.epochHistory, ranges: list });
        }
        return out;
      } finally {
        client.close();
      }
    }
  }
}

// ------------------------------------------------------------ objects

interface BatchInfo {
  baseOffset: number;
  nextOffset: number;
  epoch: number;
}

/** Whole v2 batches with matching CRCs; throws a description of the first problem. */
function checkBatches(bytes: Buffer): BatchInfo[] {
  const out: BatchInfo[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes.length - pos < 61) throw new Error(`truncated batch header at ${pos}`);
    const h = readBatchHeader(bytes, pos);
    if (h.magic !== 2) throw new Error(`magic ${h.magic} at ${pos}`);
    if (h.totalSize < 61 || pos + h.totalSize > bytes.length) throw new Error(`batch length ${h.batchLength} at ${pos} runs past the range`);
    if (crc32c(bytes.subarray(pos + 21, pos + h.totalSize)) !== h.crc) throw new Error(`batch CRC mismatch at ${pos} (offset ${h.baseOffset})`);
    out.push({ baseOffset: h.baseOffset, nextOffset: h.baseOffset + h.lastOffsetDelta + 1, epoch: h.partitionLeaderEpoch });
    pos += h.totalSize;
  }
  return out;
}

function contiguity(batches: BatchInfo[], base: number, next: number): string | null {
  if (batches.length === 0) return 'no batches';
  if (batches[0]!.baseOffset !== base) return `first batch at ${batches[0]!.baseOffset}, range base ${base}`;
  for (let i = 1; i < batches.length; i++) {
    if (batches[i]!.baseOffset !== batches[i - 1]!.nextOffset) return `batch at ${batches[i]!.baseOffset} after one ending at ${batches[i - 1]!.nextOffset}`;
  }
  if (batches[batches.length - 1]!.nextOffset !== next) return `batches end at ${batches[batches.length - 1]!.nextOffset}, range at ${next}`;
  return null;
}

/** The epoch the history assigns to an offset (the last entry starting at or below it). */
function epochAt(history: EpochStart[], offset: number): number | null {
  let e: number | null = null;
  for (const h of history) if (h.startOffset <= offset) e = h.epoch;
  return e;
}

export async function openAuditStore(t: AuditTarget): Promise<ObjectStore> {
  if (t.store) return t.store;
  if (t.storage.startsWith('file://')) return new FsObjectStore(fileURLToPath(t.storage));
  if (t.storage.startsWith('s3://')) {
    if (t.s3?.accessKeyId) process.env.AWS_ACCESS_KEY_ID = t.s3.accessKeyId;
    if (t.s3?.secretAccessKey) process.env.AWS_SECRET_ACCESS_KEY = t.s3.secretAccessKey;
    return new S3ObjectStore({ ...parseS3Url(t.storage), endpoint: t.s3?.endpoint, region: t.s3?.region ?? 'us-east-1', forcePathStyle: t.s3?.forcePathStyle ?? true });
  }
  throw new Error(`audit: unsupported storage ${t.storage}`);
}

export async function audit(t: AuditTarget): Promise<AuditResult> {
  const r: AuditResult = {
    partitions: 0,
    walRanges: 0,
    segmentRanges: 0,
    objectsReferenced: 0,
    batchesChecked: 0,
    bytesChecked: 0,
    missingObjects: 0,
    corruptObjects: 0,
    corruptRanges: 0,
    gaps: 0,
    overlaps: 0,
    highWatermarkMismatches: 0,
    epochHistoryErrors: 0,
    epochMismatches: 0,
    metadataErrors: 0,
    orphans: 0,
    orphanBytes: 0,
    orphansCollected: 0,
    preparedEmpty: 0,
    journalTornBytes: 0,
    problems: {},
  };
  const note = (k: string, s: string) => {
    const l = (r.problems[k] ??= []);
    if (l.length < 5) l.push(s);
  };
  const store = await openAuditStore(t);
  const collect = t.collectOrphans ?? true;
  try {
    const partitions = await readMetadata(t.metadata, store, r);
    r.partitions = partitions.length;
    const listed = new Map<string, number>();
    for (const prefix of ['wal/', 'segments/']) for (const o of await store.list(prefix)) listed.set(o.key, o.size);

    // WAL objects are read whole once (their footer locates every run); segments once per range.
    const walCache = new Map<string, Promise<{ body: Buffer; runs: WalRunLocation[] } | Error>>();
    const walObject = (key: string) => {
      let p = walCache.get(key);
      if (!p) {
        p = (async () => {
          try {
            const body = await store.get(key);
            return { body, runs: decodeWalFooter(body) };
          } catch (err) {
            return err as Error;
          }
        })();
        walCache.set(key, p);
      }
      return p;
    };
    const referenced = new Set<string>();
    const corruptObjectKeys = new Set<string>();

    for (const p of partitions) {
      const pk = `${p.topicId}/${p.partition}`;
      // The epoch history: epochs and start offsets increase.
      for (let i = 1; i < p.epochHistory.length; i++) {
        const a = p.epochHistory[i - 1]!;
        const b = p.epochHistory[i]!;
        if (b.epoch <= a.epoch || b.startOffset <= a.startOffset) {
          r.epochHistoryErrors++;
          note('epochHistoryErrors', `${pk}: ${JSON.stringify(a)} then ${JSON.stringify(b)}`);
        }
      }
      // Contiguity of the ranges.
      const rs = p.ranges;
      if (rs.length && rs[0]!.baseOffset > p.logStartOffset) {
        r.gaps++;
        note('gaps', `${pk}: log start ${p.logStartOffset}, first range at ${rs[0]!.baseOffset}`);
      }
      for (let i = 0; i < rs.length; i++) {
        const x = rs[i]!;
        if (x.nextOffset <= x.baseOffset) {
          r.corruptRanges++;
          note('corruptRanges', `${pk}: empty range ${x.baseOffset}-${x.nextOffset} in ${x.key}`);
        }
        if (i === 0) continue;
        const prev = rs[i - 1]!;
        if (x.baseOffset > prev.nextOffset) {
          r.gaps++;
          note('gaps', `${pk}: ${prev.nextOffset}..${x.baseOffset} between ${prev.key} and ${x.key}`);
        } else if (x.baseOffset < prev.nextOffset) {
          r.overlaps++;
          note('overlaps', `${pk}: ${x.key} [${x.baseOffset},${x.nextOffset}) overlaps ${prev.key} [${prev.baseOffset},${prev.nextOffset})`);
        }
      }
      const end = rs.length ? rs[rs.length - 1]!.nextOffset : p.logStartOffset;
      if (p.highWatermark !== null && end !== p.highWatermark && !(rs.length === 0 && p.highWatermark >= p.logStartOffset)) {
        r.highWatermarkMismatches++;
        note('highWatermarkMismatches', `${pk}: ranges end at ${end}, high watermark ${p.highWatermark}`);
      }

      // Each range against its object.
      for (const x of rs) {
        referenced.add(x.key);
        const what = `${pk} ${x.kind} ${x.key} [${x.baseOffset},${x.nextOffset})`;
        if (!listed.has(x.key)) {
          r.missingObjects++;
          note('missingObjects', what);
          continue;
        }
        let batches: BatchInfo[];
        if (x.kind === 'wal') {
          r.walRanges++;
          const obj = await walObject(x.key);
          if (obj instanceof Error) {
            if (!corruptObjectKeys.has(x.key)) {
              corruptObjectKeys.add(x.key);
              r.corruptObjects++;
              note('corruptObjects', `${x.key}: ${obj.message}`);
            }
            continue;
          }
          const loc = obj.runs.find((l) => l.topicId === p.topicId && l.partition === p.partition && l.position === x.position);
          if (!loc || loc.length !== x.length || loc.baseOffset !== x.baseOffset || loc.nextOffset !== x.nextOffset) {
            r.corruptRanges++;
            note('corruptRanges', `${what}: not where the object's footer says (${loc ? JSON.stringify(loc) : 'no run at that position'})`);
            continue;
          }
          try {
            batches = checkBatches(obj.body.subarray(x.position, x.position + x.length));
          } catch (err) {
            r.corruptRanges++;
            note('corruptRanges', `${what}: ${(err as Error).message}`);
            continue;
          }
          r.bytesChecked += x.length;
        } else {
          r.segmentRanges++;
          // A pack (src/storage/segment-pack.ts, its own object or inside a WAL object) holds several partitions' segments, each at its position.
          if (!x.key.startsWith(`segments/${p.topicId}/${p.partition}/`) && !isPackedSegment(x)) {
            r.corruptRanges++;
            note('corruptRanges', `${what}: segment of another partition`);
          }
          let footer: SegmentFooter;
          let body: Buffer;
          try {
            const whole = await store.get(x.key);
            if (isPackedSegment(x) ? whole.length < x.position + x.length : whole.length !== x.length) throw new Error(`object is ${whole.length} bytes, range says ${x.length} at ${x.position}`);
            body = whole.subarray(x.position, x.position + x.length);
            footer = decodeSegmentFooter(body.subarray(Math.max(0, body.length - SEGMENT_TRAILER - body.readUInt32BE(body.length - SEGMENT_TRAILER))));
            if (footer.baseOffset !== x.baseOffset || footer.nextOffset !== x.nextOffset) throw new Error(`footer covers [${footer.baseOffset},${footer.nextOffset})`);
            batches = [];
            for (const b of footer.blocks) {
              const raw = await decodeBlock(b, body.subarray(b.position, b.position + b.length));
              const inBlock = checkBatches(raw);
              const c = contiguity(inBlock, b.baseOffset, b.nextOffset);
              if (c) throw new Error(`block at ${b.position}: ${c}`);
              batches.push(...inBlock);
            }
          } catch (err) {
            r.corruptObjects++;
            corruptObjectKeys.add(x.key);
            note('corruptObjects', `${what}: ${(err as Error).message}`);
            continue;
          }
          r.bytesChecked += body.length;
        }
        r.batchesChecked += batches.length;
        const c = contiguity(batches, x.baseOffset, x.nextOffset);
        if (c) {
          r.corruptRanges++;
          note('corruptRanges', `${what}: ${c}`);
        }
        for (const b of batches) {
          const want = epochAt(p.epochHistory, b.baseOffset);
          if (want !== null && b.epoch !== want) {
            r.epochMismatches++;
            note('epochMismatches', `${pk}@${b.baseOffset}: batch epoch ${b.epoch}, history says ${want}`);
          }
        }
      }
    }
    r.objectsReferenced = referenced.size;

    // Orphans: objects no range names.
    for (const [key, size] of listed) {
      if (referenced.has(key)) continue;
      if (size === 0 && key.startsWith('wal/')) {
        r.preparedEmpty++;
        continue;
      }
      r.orphans++;
      r.orphanBytes += size;
      if (collect) {
        await store.delete(key);
        r.orphansCollected++;
      }
    }
    if (collect) for (const [key, size] of listed) if (size === 0 && key.startsWith('wal/') && !referenced.has(key)) await store.delete(key);
  } finally {
    if (!t.store) await store.close();
  }
  return r;
}
