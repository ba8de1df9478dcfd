// The one interface every backend of partition data implements. Objects are
// immutable once put: a put is atomic (readers see all of it or nothing) and
// durable when its promise resolves. The write path relies on exactly that.

export interface ObjectInfo {
  key: string;
  size: number;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, exclusive. */
  end: number;
}

export interface ObjectStore {
  /** Where the objects live, for logs and the README's layout. */
  readonly description: string;
  put(key: string, body: Buffer | Buffer[]): Promise<void>;
  get(key: string, range?: ByteRange): Promise<Buffer>;
  delete(key: string): Promise<void>;
  /** Every object whose key starts with prefix, in key order. */
  list(prefix: string): Promise<ObjectInfo[]>;
  close(): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`object not found: ${key}`);
    this.name = 'ObjectNotFoundError';
  }
}
