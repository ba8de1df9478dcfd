// Memory for segment blocks read from the local disk or S3, reused once no
// reader can see it any more. A consumer catching up reads a block per MiB
// or so; each one a fresh Buffer made V8 run a full mark every 64 MiB of
// them (external memory is what triggers it) and malloc hand out fresh
// pages: the broker's helper threads spent a quarter of its CPU on that
// (perf, 1 MiB records from the disk), and a fifth on a cold read from S3.
//
// Reuse is safe only when nothing reads the old bytes afterwards, so memory
// goes back to the pool only when all of these hold:
// - the block cache has let go of every block in it (evicted or
//   invalidated; a GET of several blocks on S3 is one piece of memory);
// - every fetch that served it has had its response written to the socket
//   (pins, released by the connection's write callback);
// - it was never handed to any other reader (compaction, the cleaner,
//   ListOffsets): those taint it, and a tainted block is left to the GC;
// - a macrotask has passed since it was let go: a reader whose read resolved
//   in the same turn pins or taints it in that turn's microtasks.
// A missed release only costs the reuse; a pin or taint of a block already
// reused throws, so the error reaches a client rather than wrong bytes.

/** Memory is kept in classes of this granularity. */
const CLASS_BYTES = 64 * 1024;
/** A request takes freed memory up to this much larger than it needs (GETs of several blocks vary in size). */
const MAX_SLACK = 1.25;

/** One piece of memory: one block, or one GET's worth of adjacent blocks (one view per block). */
interface Slot {
  readonly memory: ArrayBuffer;
  /** Views the cache (or a read in progress) still holds. */
  views: number;
  pins: number;
  tainted: boolean;
  state: 'live' | 'retiring' | 'free';
}

interface View {
  readonly slot: Slot;
  evicted: boolean;
}

export class BlockReusedError extends Error {
  constructor() {
    super('block memory was reused while a reader still held it');
    this.name = 'BlockReusedError';
  }
}

export class BlockPool {
  private readonly views = new WeakMap<Buffer, View>();
  /** Free memory by class (capacity in CLASS_BYTES units). */
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;
  private retiring: Slot[] = [];
  private retireScheduled = false;
  readonly stats = { allocated: 0, reused: 0, tainted: 0 };

  /** @param maxFreeBytes memory kept for reuse; more is left to the GC. */
  constructor(private readonly maxFreeBytes: number) {}

  /** A buffer of `length` bytes, from freed memory when some is of its size; one view of its memory, let go with evicted(). */
  allocate(length: number): Buffer {
    const units = Math.max(1, Math.ceil(length / CLASS_BYTES));
    let memory: ArrayBuffer | undefined;
    for (let u = units; !memory && u <= Math.floor(units * MAX_SLACK); u++) memory = this.free.get(u)?.pop();
    if (memory) {
      this.freeBytes -= memory.byteLength;
      this.stats.reused++;
    } else {
      memory = new ArrayBuffer(units * CLASS_BYTES);
      this.stats.allocated++;
    }
    const buf = Buffer.from(memory, 0, length);
    this.views.set(buf, { slot: { memory, views: 1, pins: 0, tainted: false, state: 'live' }, evicted: false });
    return buf;
  }

  /** `view` (a block within `whole`, which allocate returned) is one more view of its memory, let go with evicted(). */
  share(whole: Buffer, view: Buffer): void {
    const v = this.views.get(whole);
    if (!v || this.views.has(view)) return;
    if (v.slot.state === 'free') throw new BlockReusedError();
    this.views.set(view, { slot: v.slot, evicted: false });
    v.slot.views++;
  }

  /** A fetch serves `buf` until unpin(). False: not a pool block (nothing to do). */
  pin(buf: Buffer): boolean {
    const s = this.live(buf);
    if (!s) return false;
    s.pins++;
    return true;
  }

  unpin(buf: Buffer): void {
    const s = this.views.get(buf)?.slot;
    if (!s || s.pins === 0) return;
    s.pins--;
    this.maybeRetire(s);
  }

  /** A reader that does not pin holds `buf`: its memory is never reused. */
  taint(buf: Buffer): void {
    const s = this.live(buf);
    if (!s || s.tainted) return;
    s.tainted = true;
    this.stats.tainted++;
  }

  /** The block cache (or the read that made it) let `buf` go; each view counts once. */
  evicted(buf: Buffer): void {
    const v = this.views.get(buf);
    if (!v || v.evicted || v.slot.state === 'free') return;
    v.evicted = true;
    v.slot.views--;
    this.maybeRetire(v.slot);
  }

  get freeMemoryBytes(): number {
    return this.freeBytes;
  }

  private live(buf: Buffer): Slot | undefined {
    const s = this.views.get(buf)?.slot;
    if (s?.state === 'free') throw new BlockReusedError();
    return s;
  }

  private maybeRetire(s: Slot): void {
    if (s.state !== 'live' || s.views > 0 || s.pins > 0 || s.tainted) return;
    s.state = 'retiring';
    this.retiring.push(s);
    if (this.retireScheduled) return;
    this.retireScheduled = true;
    setImmediate(() => {
      this.retireScheduled = false;
      const ready = this.retiring;
      this.retiring = [];
      for (const r of ready) {
        // Pinned, tainted or shared again in the turn it was let go: back to live, judged again when let go.
        if (r.pins > 0 || r.tainted || r.views > 0) r.state = 'live';
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
