// In-memory ObjectStore for unit tests of the layers above storage.

import { ObjectNotFoundError, type ByteRange, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';

export class MemoryObjectStore implements ObjectStore {
  readonly description = 'memory://';
  readonly objects = new Map<string, Buffer>();
  private written = new Map<string, number>();

  async put(key: string, body: Buffer | Buffer[], _opts?: PutOptions): Promise<void> {
    this.objects.set(key, Buffer.concat(Array.isArray(body) ? body : [body]));
    this.written.set(key, Date.now());
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const obj = this.objects.get(key);
    if (!obj) throw new ObjectNotFoundError(key);
    return range ? Buffer.from(obj.subarray(range.start, range.end)) : Buffer.from(obj);
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
    this.written.delete(key);
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([key, v]) => ({ key, size: v.length, lastModified: this.written.get(key) ?? Date.now() }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async close(): Promise<void> {}
}
