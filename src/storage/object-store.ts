// The one interface every backend of partition data implements. Objects are
// immutable once put: a put is atomic (readers see all of it or nothing) and
// durable when its promise resolves. The write path relies on exactly that.

export interface ObjectInfo {
  key: string;
  size: number;
  /** When the object was written (ms since the epoch): the collectors leave young objects alone. */
  lastModified: number;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, exclusive. */
  end: number;
}

export interface GetOptions {
  /**
   * Where the bytes go: a buffer of exactly `length` bytes that the caller
   * owns (its block pool). A store may ignore it and return its own buffer.
   */
  allocate?: (length: number) => Buffer;
}

export interface PutOptions {
  /**
   * Background work that fell behind (compaction owing more than half its
   * bound): the store may put more I/O in flight to catch up, at some cost to
   * the latency of the foreground writes that share the disk.
   */
  catchUp?: boolean;
  /**
   * false: whoever reads this object back soon (compaction) has its bytes in
   * memory still, and a store that keeps local copies of what it writes
   * (LocalCopyObjectStore) need not make one.
   */
  localCopy?: boolean;
}

/** What an object is, from its key's first folder: a metrics label, so produce-path PUTs (wal) are told from background ones. */
export type ObjectKind = 'wal' | 'segments' | 'meta' | 'other';

export function objectKind(key: string): ObjectKind {
  const top = key.slice(0, key.indexOf('/'));
  return top === 'wal' || top === 'segments' || top === 'meta' ? top : 'other';
}

export interface ObjectStore {
  /** Where the objects live, for logs and the README's layout. */
  readonly description: string;
  put(key: string, body: Buffer | Buffer[], opts?: PutOptions): Promise<void>;
  get(key: string, range?: ByteRange, opts?: GetOptions): Promise<Buffer>;
  delete(key: string): Promise<void>;
  /** Every object whose key starts with prefix, in key order. */
  list(prefix: string): Promise<ObjectInfo[]>;
  close(): Promise<void>;
  /**
   * Optional: create these (empty) objects ahead of time so that a later put
   * to one of them is a plain overwrite. The local store uses it to take the
   * directory fsync off the write path. A prepared key's put is not atomic; it
   * must not be read before its put resolves (WAL objects are read only once
   * a commit names them).
   */
  prepare?(keys: string[]): Promise<void>;
  /**
   * A put lands whole or not at all, even when its writer dies (S3). Bytes of
   * such a store that do not hold together were damaged on the way, never
   * torn by a crash. The local store writes WAL objects in place, so a crash
   * can tear one.
   */
  readonly atomicPuts?: boolean;
  /** The store keeps local copies of WAL objects, which PutOptions.localCopy can spare it (LocalCopyObjectStore). */
  readonly localCopies?: boolean;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`object not found: ${key}`);
    this.name = 'ObjectNotFoundError';
  }
}
