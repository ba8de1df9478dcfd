// Append-only, checksummed operation journal with group commit: operations
// queued while a write+fdatasync is in flight go out together in the next one.
// Record: u32 length | u32 crc32c(payload) | payload (JSON). Replay stops at
// the first torn or corrupt record, which is where a crash cut the file.

import { constants } from 'node:fs';
import { open, readFile, rename, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { totalBytes } from '../storage/chunks.js';
import { fsyncDir, SYNC_WRITE_MAX_BYTES, writeAll, writeAllSync } from '../storage/fs-object-store.js';

/**
 * O_DSYNC: an append is durable when its write returns; a small one (every
 * commit record) is written synchronously, as small WAL objects are (see
 * SYNC_WRITE_MAX_BYTES): the flush path has no thread-pool round trip.
 */
const JOURNAL_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC;

const HEADER = 8;

export interface JournalRecord<T> {
  seq: number;
  body: T;
}

export function decodeJournal<T>(buf: Buffer): { records: JournalRecord<T>[]; validLength: number } {
  const records: JournalRecord<T>[] = [];
  let pos = 0;
  while (pos + HEADER <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const crc = buf.readUInt32BE(pos + 4);
    if (pos + HEADER + len > buf.length) break;
    const payload = buf.subarray(pos + HEADER, pos + HEADER + len);
    if (crc32c(payload) !== crc) break;
    try {
      records.push(JSON.parse(payload.toString('utf8')) as JournalRecord<T>);
    } catch {
      break;
    }
    pos += HEADER + len;
  }
  return { records, validLength: pos };
}

export function encodeRecord(record: JournalRecord<unknown>): Buffer {
  const payload = Buffer.from(JSON.stringify(record), 'utf8');
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32c(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

interface Pending {
  buf: Buffer;
  resolve(): void;
  reject(err: Error): void;
}

export class Journal {
  private fh: FileHandle | null = null;
  private queue: Pending[] = [];
  private writing = false;
  private failed: Error | null = null;
  size = 0;
  /** Called after a write when no record is waiting: a safe point for snapshots. */
  onIdle: (() => Promise<void>) | null = null;

  constructor(readonly path: string) {}

  /** Reads the valid prefix and cuts off a torn tail. */
  async openAndRead<T>(): Promise<JournalRecord<T>[]> {
    let buf: Buffer;
    try {
      buf = await readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      buf = Buffer.alloc(0);
    }
    const { records, validLength } = decodeJournal<T>(buf);
    this.fh = await open(this.path, JOURNAL_FLAGS | (buf.length === 0 ? constants.O_TRUNC : 0));
    if (validLength < buf.length) {
      await this.fh.truncate(validLength);
      await this.fh.sync();
    }
    await fsyncDir(dirname(this.path));
    this.size = validLength;
    return records;
  }

  append(record: JournalRecord<unknown>): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ buf: encodeRecord(record), resolve, reject });
      if (!this.writing) {
        // Started after this turn: records appended in it share one write (a
        // replacement comes right after the embedded WAL commits journaled for it).
        this.writing = true;
        queueMicrotask(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        try {
          const bufs = batch.map((p) => p.buf);
          const total = totalBytes(bufs);
          if (total <= SYNC_WRITE_MAX_BYTES) writeAllSync(this.fh!.fd, bufs, this.size);
          else await writeAll(this.fh!.fd, bufs, this.size);
          this.size += total;
          for (const p of batch) p.resolve();
        } catch (err) {
          this.failed = err as Error;
          for (const p of batch) p.reject(this.failed);
          for (const p of this.queue) p.reject(this.failed);
          this.queue = [];
          return;
        }
        if (this.queue.length === 0 && this.onIdle) await this.onIdle();
      }
    } finally {
      this.writing = false;
    }
  }

  /**
   * Moves what the journal holds to `to` and goes on in an empty file at its
   * path. Called when no write is in flight (an idle point, or before any).
   */
  async rotate(to: string): Promise<void> {
    await this.fh!.close();
    this.fh = null;
    try {
      await rename(this.path, to);
    } finally {
      // Renamed or not, the journal goes on at its path: empty after a rename, as it was otherwise.
      this.fh = await open(this.path, JOURNAL_FLAGS);
    }
    await fsyncDir(dirname(this.path));
    this.size = 0;
  }

  async close(): Promise<void> {
    while (this.writing || this.queue.length) await new Promise((r) => setTimeout(r, 2));
    await this.fh?.close();
    this.fh = null;
  }
}

/** Writes a file atomically and durably: temp, fsync, rename, fsync dir. */
export async function writeFileDurable(path: string, data: Buffer | string | Buffer[]): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    if (Array.isArray(data)) await writeAll(fh.fd, data, 0);
    else await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
