// A partition's own memory for the small batches its in-memory tail keeps.
//
// A small produce request is read into a slice of Node's shared 8 KiB pool,
// and a batch kept as a view of it keeps the whole pool slab alive, with the
// request's header and every other request in it. With 1,000 partitions each
// receiving a 170-byte batch per request (librdkafka sends one request per
// partition), the tails held about 300 bytes of slabs per batch kept: 343 MB
// for 1.15M batches in a heap snapshot. Copied into chunks that only this
// partition's tail uses, a batch costs its own bytes, and as the tail drops
// its oldest batches first, a chunk is freed with the last batch in it.

/** Batches up to this size are copied; larger ones keep their own view (a request of one batch allocated at its size). */
export const TAIL_COPY_MAX_BYTES = 2048;

const CHUNK_BYTES = 16 * 1024;

export class TailArena {
  private chunk: Buffer | undefined;
  private used = 0;

  /** A copy of `b` (at most TAIL_COPY_MAX_BYTES) in this arena's memory. */
  copy(b: Buffer): Buffer {
    if (this.chunk === undefined || this.used + b.length > this.chunk.length) {
      // Not from the shared pool: that is what this avoids.
      this.chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
      this.used = 0;
    }
    const out = this.chunk.subarray(this.used, this.used + b.length);
    b.copy(out);
    this.used += b.length;
    return out;
  }
}
