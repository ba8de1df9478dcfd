// In-order reads with a bounded number in flight (compaction reading WAL ranges).

/**
 * Reads `items` in order: next() starts the next item's read, and up to
 * `ahead` more after it, and gives the results in order. A read that fails is
 * reported when its turn comes, never as an unhandled rejection meanwhile.
 */
export function readAhead<T, R>(items: readonly T[], read: (item: T) => Promise<R>, ahead: number): { next(): Promise<R> } {
  const started: Array<Promise<R> | undefined> = [];
  let taken = 0;
  return {
    next(): Promise<R> {
      while (started.length < items.length && started.length <= taken + ahead) {
        const p = read(items[started.length]!);
        p.catch(() => {});
        started.push(p);
      }
      const p = started[taken];
      if (!p) return Promise.reject(new Error(`readAhead: all ${items.length} items taken`));
      started[taken++] = undefined;
      return p;
    },
  };
}
