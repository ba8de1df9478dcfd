// A remote store (S3) that keeps a local copy of the WAL objects this broker
// writes. Compaction reads each WAL object back within seconds of its PUT:
// without a copy, every byte produced was PUT, then GET again, then PUT once
// more in its segment. The copies are a cache (written without fsync, removed
// at start, dropped on any error); the remote store stays the truth.

import { closeSync, openSync } from 'node:fs';
import { mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { totalBytes } from './chunks.js';
import { readExactly, writeAll } from './fs-object-store.js';
import type { ByteRange, GetOptions, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';

/** Keys whose objects get a local copy: the ones read back soon after they are written. */
const COPIED_PREFIX = 'wal/';

export class LocalCopyObjectStore implements ObjectStore {
  readonly description: string;
  /** Copies by key, oldest first (the order they are evicted in), with their sizes. */
  private copies = new Map<string, number>();
  private bytes = 0;
  private seq = 0;
  readonly stats = { hits: 0 };

  private constructor(
    private readonly remote: ObjectStore,
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {
    this.description = `${remote.description} (WAL copies in ${dir})`;
  }

  get localCopies(): boolean {
    return this.maxBytes > 0;
  }

  get atomicPuts(): boolean | undefined {
    return this.remote.atomicPuts;
  }

  /** Empties `dir` (copies of a previous run may be of objects since deleted) and wraps `remote`. */
  static async open(remote: ObjectStore, dir: string, maxBytes: number): Promise<LocalCopyObjectStore> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return new LocalCopyObjectStore(remote, dir, maxBytes);
  }

  get copiedBytes(): number {
    return this.bytes;
  }

  private pathOf(key: string): string {
    return join(this.dir, encodeURIComponent(key));
  }

  async put(key: string, body: Buffer | Buffer[], opts?: PutOptions): Promise<void> {
    if (!key.startsWith(COPIED_PREFIX) || !this.localCopies || opts?.localCopy === false) return this.remote.put(key, body, opts);
    // Both at once; the copy counts only once the remote put succeeded (and it never holds the put up on failure).
    const copy = this.writeCopy(key, body);
    try {
      await this.remote.put(key, body, opts);
    } catch (err) {
      void copy.then(async (path) => {
        if (path) await unlink(path).catch(() => {});
      });
      throw err;
    }
    const path = await copy;
    if (!path) return;
    const size = totalBytes(Array.isArray(body) ? body : [body]);
    this.bytes -= this.copies.get(key) ?? 0;
    this.copies.delete(key); // re-inserted last: the newest copy
    this.copies.set(key, size);
    this.bytes += size;
    while (this.bytes > this.maxBytes && this.copies.size) {
      const [oldest] = this.copies.keys();
      this.drop(oldest!);
    }
  }

  /** The copy's path once written whole (temp name, then rename), null if that failed. */
  private async writeCopy(key: string, body: Buffer | Buffer[]): Promise<string | null> {
    const path = this.pathOf(key);
    const tmp = `${path}.${this.seq++}.tmp`;
    try {
      // writeFile would write an array of chunks (a WAL object is one per batch) one thread-pool write each.
      const file = await open(tmp, 'w');
      try {
        await writeAll(file.fd, Array.isArray(body) ? body : [body], 0);
      } finally {
        await file.close();
      }
      await rename(tmp, path);
      return path;
    } catch {
      await unlink(tmp).catch(() => {});
      return null;
    }
  }

  private drop(key: string): void {
    const size = this.copies.get(key);
    if (size === undefined) return;
    this.copies.delete(key);
    this.bytes -= size;
    void unlink(this.pathOf(key)).catch(() => {});
  }

  async get(key: string, range?: ByteRange, opts?: GetOptions): Promise<Buffer> {
    const size = this.copies.get(key);
    if (size !== undefined) {
      try {
        const buf = await readCopy(this.pathOf(key), range?.start ?? 0, range?.end ?? size);
        this.stats.hits++;
        return buf;
      } catch {
        // Evicted meanwhile, or damaged: the remote store has it.
        this.drop(key);
      }
    }
    return this.remote.get(key, range, opts);
  }

  async delete(key: string): Promise<void> {
    this.drop(key);
    await this.remote.delete(key);
  }

  list(prefix: string): Promise<ObjectInfo[]> {
    return this.remote.list(prefix);
  }

  async close(): Promise<void> {
    for (const key of [...this.copies.keys()]) this.drop(key);
    await this.remote.close();
  }
}

/** Bytes [start, end) of a local copy; a short file (a damaged copy) throws. */
async function readCopy(path: string, start: number, end: number): Promise<Buffer> {
  const fd = openSync(path, 'r');
  try {
    return await readExactly(fd, start, end, path);
  } finally {
    closeSync(fd);
  }
}
