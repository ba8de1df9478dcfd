// Memory for segment blocks read from the local disk, reused once no reader
// can see it any more. A consumer catching up reads a block per MiB or so;
// each one a fresh Buffer made V8 run a full mark every 64 MiB of them
// (external memory is what triggers it) and malloc hand out fresh pages, and
// the broker's helper threads spent a quarter of its CPU on that (perf,
// 1 MiB records from the disk).
//
// Reuse is safe only when nothing reads the old bytes afterwards, so a block
// goes back to the pool only when all of these hold:
// - the block cache has let it go (evicted or invalidated);
// - every fetch that served it has had its response written to the socket
//   (pins, released by the connection's write callback);
// - it was never handed to any other reader (compaction, the cleaner,
//   ListOffsets): those taint it, and a tainted block is left to the GC;
// - a macrotask has passed since it was let go: a reader whose read resolved
//   in the same turn pins or taints it in that turn's microtasks.
// A missed release only costs the reuse; a pin or taint of a block already
// reused throws, so the error reaches a client rather than wrong bytes.

/** Blocks are kept in classes of this granularity: a freed block serves any later block of its class. */
const CLASS_BYTES = 64 * 1024;

interface Slot {
  readonly memory: ArrayBuffer;
  pins: number;
  tainted: boolean;
  evicted: boolean;
  state: 'live' | 'retiring' | 'free';
}

export class BlockReusedError extends Error {
  constructor() {
    super('block memory was reused while a reader still held it');
    this.name = 'BlockReusedError';
  }
}

export class BlockPool {
  private readonly slots = new WeakMap<Buffer, Slot>();
  /** Free memory by class (capacity in CLASS_BYTES units). */
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;
  private retiring: Slot[] = [];
  private retireScheduled = false;
  readonly stats = { allocated: 0, reused: 0, tainted: 0 };

  /** @param maxFreeBytes memory kept for reuse; more is left to the GC. */
  constructor(private readonly maxFreeBytes: number) {}

  /** A buffer of `length` bytes, from freed memory of its class when there is some. */
  allocate(length: number): Buffer {
    const units = Math.max(1, Math.ceil(length / CLASS_BYTES));
    const list = this.free.get(units);
    let memory = list?.pop();
    if (memory) {
      this.freeBytes -= memory.byteLength;
      this.stats.reused++;
    } else {
      memory = new ArrayBuffer(units * CLASS_BYTES);
      this.stats.allocated++;
    }
    const buf = Buffer.from(memory, 0, length);
    this.slots.set(buf, { memory, pins: 0, tainted: false, evicted: false, state: 'live' });
    return buf;
  }

  /** A fetch serves `buf` until unpin(). False: not a pool block (nothing to do). */
  pin(buf: Buffer): boolean {
    const s = this.live(buf);
    if (!s) return false;
    s.pins++;
    return true;
  }

  unpin(buf: Buffer): void {
    const s = this.slots.get(buf);
    if (!s || s.pins === 0) return;
    s.pins--;
    this.maybeRetire(s);
  }

  /** A reader that does not pin holds `buf`: it is never reused. */
  taint(buf: Buffer): void {
    const s = this.live(buf);
    if (!s || s.tainted) return;
    s.tainted = true;
    this.stats.tainted++;
  }

  /** The block cache let `buf` go. */
  evicted(buf: Buffer): void {
    const s = this.slots.get(buf);
    if (!s || s.state === 'free') return;
    s.evicted = true;
    this.maybeRetire(s);
  }

  /** Memory a block never handed out (a compressed block, once decompressed) may be reused at once. */
  discard(buf: Buffer): void {
    const s = this.slots.get(buf);
    if (!s || s.state !== 'live' || s.pins > 0 || s.tainted) return;
    this.release(s);
  }

  get freeMemoryBytes(): number {
    return this.freeBytes;
  }

  private live(buf: Buffer): Slot | undefined {
    const s = this.slots.get(buf);
    if (s?.state === 'free') throw new BlockReusedError();
    return s;
  }

  private maybeRetire(s: Slot): void {
    if (s.state !== 'live' || !s.evicted || s.pins > 0 || s.tainted) return;
    s.state = 'retiring';
    this.retiring.push(s);
    if (this.retireScheduled) return;
    this.retireScheduled = true;
    setImmediate(() => {
      this.retireScheduled = false;
      const ready = this.retiring;
      this.retiring = [];
      for (const r of ready) {
        // Pinned or tainted in the turn it was let go: back to live, judged again at its unpin.
        if (r.pins > 0 || r.tainted) r.state = 'live';
        else this.release(r);
      }
    });
  }

  private release(s: Slot): void {
    s.state = 'free';
    if (this.freeBytes + s.memory.byteLength > this.maxFreeBytes) return;
    const units = s.memory.byteLength / CLASS_BYTES;
    let list = this.free.get(units);
    if (!list) this.free.set(units, (list = []));
    list.push(s.memory);
    this.freeBytes += s.memory.byteLength;
  }
}

/** The pool blocks one response serves, released together once it is written. */
export class BlockPins {
  private held: Buffer[] = [];
  private released = false;

  constructor(private readonly pool: BlockPool) {}

  hold(buf: Buffer): void {
    if (this.released) {
      // A read that finished after its response was dropped: nothing will release a pin taken now.
      this.pool.taint(buf);
      return;
    }
    if (this.pool.pin(buf)) this.held.push(buf);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const b of this.held) this.pool.unpin(b);
    this.held = [];
  }
}
