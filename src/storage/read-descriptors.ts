// Open file descriptors of the objects being read, by key, least recently
// used closed first. A descriptor is closed only once no read holds it: a
// plain fd closed under a pending read could be reused by the next open and
// the read would return another file's bytes.

import { closeSync, openSync } from 'node:fs';

interface Entry {
  fd: number;
  refs: number;
  retired: boolean;
}

export interface HeldDescriptor {
  fd: number;
  release(): void;
}

export class ReadDescriptors {
  private entries = new Map<string, Entry>();
  /** Reads in progress by key, also of descriptors already pushed out of `entries`. */
  private reads = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** The key's descriptor, opened (synchronously: about 10 µs, against a thread-pool round trip) if need be; throws ENOENT. */
  acquire(key: string, path: string, flags: number | string = 'r'): HeldDescriptor {
    let e = this.entries.get(key);
    if (e) {
      this.entries.delete(key);
    } else {
      if (this.entries.size >= this.max) this.retire(this.entries.keys().next().value as string);
      e = { fd: openSync(path, flags), refs: 0, retired: false };
    }
    this.entries.set(key, e);
    e.refs++;
    this.reads.set(key, (this.reads.get(key) ?? 0) + 1);
    const held = e;
    let released = false;
    return {
      fd: held.fd,
      release: () => {
        if (released) return;
        released = true;
        held.refs--;
        if (held.retired && held.refs === 0) closeQuietly(held.fd);
        const n = this.reads.get(key)! - 1;
        if (n === 0) this.reads.delete(key);
        else this.reads.set(key, n);
      },
    };
  }

  /** Whether a read of the key is in progress (its descriptor may have left the LRU meanwhile). */
  inUse(key: string): boolean {
    return this.reads.has(key);
  }

  /** Forgets the key's descriptor; it is closed now or when its last read ends. */
  retire(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    e.retired = true;
    if (e.refs === 0) closeQuietly(e.fd);
  }

  retireAll(): void {
    for (const key of [...this.entries.keys()]) this.retire(key);
  }
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
}
