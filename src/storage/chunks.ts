// A body held as a list of buffers (the batches of a flush, the blocks of a
// segment), measured and cut without concatenating it.

export function totalBytes(chunks: readonly Buffer[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/** The bytes of `chunks` from `skip`, at most `max` of them, as views of the chunks. */
export function sliceChunks(chunks: readonly Buffer[], skip: number, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (max <= 0) break;
    if (skip >= c.length) {
      skip -= c.length;
      continue;
    }
    const piece = c.subarray(skip, skip + max);
    out.push(piece);
    max -= piece.length;
    skip = 0;
  }
  return out;
}
