// LRU cache of object bytes, bounded in bytes, that also folds concurrent
// reads of the same block into one GET. It tells its owner each buffer it
// lets go (onEvict): pool memory is reused only after that (block-pool.ts).

export class BlockCache {
  private entries = new Map<string, Buffer>();
  private inflight = new Map<string, Promise<Buffer>>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly capacity: number,
    private readonly onEvict: (buf: Buffer) => void = () => {},
  ) {}

  get size(): number {
    return this.bytes;
  }

  /** Cached or being fetched. */
  has(key: string): boolean {
    return this.entries.has(key) || this.inflight.has(key);
  }

  peek(key: string): Buffer | undefined {
    const v = this.entries.get(key);
    if (v) {
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  async get(key: string, load: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.peek(key);
    if (hit) {
      this.hits++;
      return hit;
    }
    let p = this.inflight.get(key);
    if (!p) {
      this.misses++;
      p = load().then(
        (buf) => {
          this.inflight.delete(key);
          this.set(key, buf);
          return buf;
        },
        (err) => {
          this.inflight.delete(key);
          throw err;
        },
      );
      this.inflight.set(key, p);
    }
    return p;
  }

  set(key: string, buf: Buffer): void {
    if (buf.length > this.capacity) {
      this.onEvict(buf);
      return;
    }
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.length;
      this.entries.delete(key);
      if (old !== buf) this.onEvict(old);
    }
    this.entries.set(key, buf);
    this.bytes += buf.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.capacity) break;
      this.entries.delete(k);
      this.bytes -= v.length;
      this.onEvict(v);
    }
  }

  invalidatePrefix(prefix: string): void {
    for (const [k, v] of this.entries) {
      if (k.startsWith(prefix)) {
        this.entries.delete(k);
        this.bytes -= v.length;
        this.onEvict(v);
      }
    }
  }
}
