import fc from 'fast-check';
import { expect, test } from 'vitest';
import { computeAssignment } from '../../src/coordination/assignment.js';

type Topic = { topicId: string; partitions: number };

const topicsOf = (...counts: number[]): Topic[] => counts.map((partitions, i) => ({ topicId: `topic${i}`, partitions }));
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** Per broker: partitions per topic and in total. */
function counts(topics: Topic[], brokers: number[], a: Map<string, number>) {
  const total = new Map(brokers.map((b) => [b, 0]));
  const perTopic = new Map<string, Map<number, number>>();
  for (const t of topics) {
    const per = new Map(brokers.map((b) => [b, 0]));
    for (let p = 0; p < t.partitions; p++) {
      const b = a.get(`${t.topicId}:${p}`);
      expect(b, `${t.topicId}:${p} assigned`).toBeDefined();
      expect(brokers).toContain(b);
      per.set(b!, per.get(b!)! + 1);
      total.set(b!, total.get(b!)! + 1);
    }
    perTopic.set(t.topicId, per);
  }
  return { total, perTopic };
}

const spread = (m: Map<number, number>) => Math.max(...m.values()) - Math.min(...m.values());

function expectBalanced(topics: Topic[], brokers: number[], a: Map<string, number>): void {
  const { total, perTopic } = counts(topics, brokers, a);
  for (const [t, per] of perTopic) expect(spread(per), `topic ${t}: ${JSON.stringify([...per])}`).toBeLessThanOrEqual(1);
  expect(spread(total), `total: ${JSON.stringify([...total])}`).toBeLessThanOrEqual(1);
  expect(a.size).toBe(topics.reduce((s, t) => s + t.partitions, 0));
}

const moved = (before: Map<string, number>, after: Map<string, number>) => [...before].filter(([k, b]) => after.get(k) !== b).map(([k]) => k);

test('spreads every topic evenly and the total evenly', () => {
  const topics = topicsOf(6, 3, 7, 1, 2);
  const brokers = [0, 1, 2];
  const a = computeAssignment(topics, brokers, new Map());
  expectBalanced(topics, brokers, a);
  // 6 partitions over 3 brokers: exactly 2 each.
  expect([...counts(topics, brokers, a).perTopic.get('topic0')!.values()]).toEqual([2, 2, 2]);
});

test('no brokers: no assignment; unknown brokers in the current assignment are ignored', () => {
  expect(computeAssignment(topicsOf(3), [], new Map()).size).toBe(0);
  const topics = topicsOf(3);
  const a = computeAssignment(topics, [1, 2], new Map([['topic0:0', 9], ['topic0:1', 1]]));
  expectBalanced(topics, [1, 2], a);
  expect(a.get('topic0:1')).toBe(1);
});

test('single-partition topics spread over the brokers', () => {
  const topics = topicsOf(...range(9).map(() => 1));
  const brokers = [0, 1, 2];
  const a = computeAssignment(topics, brokers, new Map());
  expectBalanced(topics, brokers, a);
  expect([...counts(topics, brokers, a).total.values()]).toEqual([3, 3, 3]);
  // Created one at a time (each pass sees the previous assignment): still spread.
  let cur = new Map<string, number>();
  for (let i = 1; i <= 9; i++) cur = computeAssignment(topics.slice(0, i), brokers, cur);
  expect([...counts(topics, brokers, cur).total.values()]).toEqual([3, 3, 3]);
});

test('sticky: the same input keeps every partition where it is; a new topic moves nothing else', () => {
  const topics = topicsOf(6, 4, 1, 1);
  const brokers = [0, 1, 2];
  const a = computeAssignment(topics, brokers, new Map());
  expect(moved(a, computeAssignment(topics, brokers, a))).toEqual([]);
  const more = [...topics, { topicId: 'new', partitions: 3 }];
  const b = computeAssignment(more, brokers, a);
  expectBalanced(more, brokers, b);
  expect(moved(a, b)).toEqual([]);
  // A partition added to a topic moves nothing else either.
  const grown = more.map((t) => (t.topicId === 'topic0' ? { ...t, partitions: 9 } : t));
  const c = computeAssignment(grown, brokers, b);
  expectBalanced(grown, brokers, c);
  expect(moved(b, c)).toEqual([]);
});

test('a joining broker gets its share, taken from the others, and only that moves', () => {
  const topics = topicsOf(6, 6, 3);
  const three = [0, 1, 2];
  const a = computeAssignment(topics, three, new Map());
  const four = [0, 1, 2, 3];
  const b = computeAssignment(topics, four, a);
  expectBalanced(topics, four, b);
  const m = moved(a, b);
  // 15 partitions over 4 brokers: the new one takes 3 or 4, and every moved partition went to it.
  expect(m.length).toBeGreaterThanOrEqual(3);
  expect(m.length).toBeLessThanOrEqual(4);
  for (const k of m) expect(b.get(k)).toBe(3);
});

test("a leaving broker's partitions move to the others; the rest stay", () => {
  const topics = topicsOf(6, 6, 3, 1, 1, 1);
  const three = [0, 1, 2];
  const a = computeAssignment(topics, three, new Map());
  const two = [0, 2];
  const b = computeAssignment(topics, two, a);
  expectBalanced(topics, two, b);
  const m = moved(a, b);
  const gone = [...a].filter(([, br]) => br === 1).map(([k]) => k);
  expect(new Set(m)).toEqual(new Set(gone));
  // And when it comes back, it gets a share again.
  const c = computeAssignment(topics, three, b);
  expectBalanced(topics, three, c);
  for (const k of moved(b, c)) expect(c.get(k)).toBe(1);
});

test('property: balanced per topic and overall, idempotent, and a join or leave moves little', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 2, max: 5 }),
      fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 100 }),
      (parts, nb, seed) => {
        const topics = topicsOf(...parts);
        const brokers = range(nb);
        // An arbitrary (possibly unbalanced, possibly naming dead brokers) current assignment.
        const cur = new Map<string, number>();
        let i = 0;
        for (const t of topics) for (let p = 0; p < t.partitions && i < seed.length; p++) cur.set(`${t.topicId}:${p}`, seed[i++]!);
        const a = computeAssignment(topics, brokers, cur);
        expectBalanced(topics, brokers, a);
        expect(moved(a, computeAssignment(topics, brokers, a))).toEqual([]);
        const total = a.size;
        // Join: at most the newcomer's share (ceil) plus a small correction.
        const joined = computeAssignment(topics, [...brokers, nb], a);
        expectBalanced(topics, [...brokers, nb], joined);
        expect(moved(a, joined).length).toBeLessThanOrEqual(Math.ceil(total / (nb + 1)) + 2);
        // Leave: the leaver's partitions plus a small correction.
        const left = computeAssignment(topics, brokers.slice(1), a);
        expectBalanced(topics, brokers.slice(1), left);
        const own = [...a.values()].filter((b) => b === 0).length;
        expect(moved(a, left).length).toBeLessThanOrEqual(own + 2);
      },
    ),
    { numRuns: 300 },
  );
});
