// Which broker leads which partition: balanced per topic (a topic's
// partitions spread as evenly as the live brokers allow), then over all
// topics, and sticky (a partition stays where it is unless its broker is gone
// or holds more than its share), so that a broker joining or leaving moves
// as few partitions as possible.

export interface PartitionRef {
  topicId: string;
  partition: number;
}

export const refKey = (p: PartitionRef): string => `${p.topicId}:${p.partition}`;

/**
 * @param topics   every topic with its partition count
 * @param brokers  live brokers that may lead
 * @param current  the assignment in force (partition key -> broker id)
 */
export function computeAssignment(
  topics: Array<{ topicId: string; partitions: number }>,
  brokers: number[],
  current: ReadonlyMap<string, number>,
): Map<string, number> {
  const out = new Map<string, number>();
  if (brokers.length === 0) return out;
  const live = [...new Set(brokers)].sort((a, b) => a - b);
  const total = new Map<number, number>(live.map((b) => [b, 0]));
  const sorted = [...topics].sort((a, b) => (a.topicId < b.topicId ? -1 : a.topicId > b.topicId ? 1 : 0));
  const perTopicAll = new Map<string, Map<number, number>>();
  for (const t of sorted) {
    const n = t.partitions;
    const ceil = Math.ceil(n / live.length);
    const floor = Math.floor(n / live.length);
    // At most (n mod brokers) brokers may hold ceil partitions of this topic.
    let ceilSlots = n % live.length;
    const perTopic = new Map<number, number>(live.map((b) => [b, 0]));
    perTopicAll.set(t.topicId, perTopic);
    const homeless: number[] = [];
    const canTake = (b: number) => {
      const c = perTopic.get(b)!;
      return c < floor || (c < ceil && ceilSlots > 0);
    };
    const take = (p: number, b: number) => {
      const c = perTopic.get(b)!;
      if (c >= floor) ceilSlots--;
      perTopic.set(b, c + 1);
      total.set(b, total.get(b)! + 1);
      out.set(`${t.topicId}:${p}`, b);
    };
    // Which brokers keep one partition above floor (ceilSlots of them): those
    // holding more than floor now, the least loaded overall first, so that
    // the brokers losing a partition are not the same topic after topic.
    const held = new Map<number, number>();
    for (let p = 0; p < n; p++) {
      const b = current.get(`${t.topicId}:${p}`);
      if (b !== undefined && total.has(b)) held.set(b, (held.get(b) ?? 0) + 1);
    }
    const quota = new Map<number, number>(live.map((b) => [b, Math.min(held.get(b) ?? 0, floor)]));
    const extra = live.filter((b) => (held.get(b) ?? 0) > floor).sort((a, b) => total.get(a)! - total.get(b)! || a - b);
    for (const b of extra.slice(0, ceilSlots)) quota.set(b, floor + 1);
    for (let p = 0; p < n; p++) {
      const b = current.get(`${t.topicId}:${p}`);
      if (b !== undefined && total.has(b) && perTopic.get(b)! < quota.get(b)! && canTake(b)) take(p, b);
      else homeless.push(p);
    }
    for (const p of homeless) {
      let best = -1;
      for (const b of live) {
        if (!canTake(b)) continue;
        if (best < 0) best = b;
        else {
          const pb = perTopic.get(b)!;
          const pbest = perTopic.get(best)!;
          if (pb < pbest || (pb === pbest && total.get(b)! < total.get(best)!)) best = b;
        }
      }
      take(p, best);
    }
  }
  // Across topics: move partitions off the fullest brokers while that keeps
  // each topic within one partition of even (single-partition topics would
  // otherwise never move to a new broker).
  for (let guard = 0; guard < 100_000; guard++) {
    let max = live[0]!;
    let min = live[0]!;
    for (const b of live) {
      if (total.get(b)! > total.get(max)!) max = b;
      if (total.get(b)! < total.get(min)!) min = b;
    }
    if (total.get(max)! - total.get(min)! <= 1) break;
    let moved = false;
    for (const [key, b] of out) {
      if (b !== max) continue;
      const topicId = key.slice(0, key.lastIndexOf(':'));
      const pt = perTopicAll.get(topicId)!;
      if (pt.get(min)! + 1 > pt.get(max)!) continue;
      out.set(key, min);
      pt.set(max, pt.get(max)! - 1);
      pt.set(min, pt.get(min)! + 1);
      total.set(max, total.get(max)! - 1);
      total.set(min, total.get(min)! + 1);
      moved = true;
      break;
    }
    if (!moved) break;
  }
  return out;
}
