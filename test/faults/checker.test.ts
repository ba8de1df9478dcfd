import { expect, test } from 'vitest';
import { check, isIndeterminate } from './lib/checker.js';
import type { HistoryEvent } from './lib/history.js';

const send = (value: string, offset: number | null, error: string | null = null, partition = 0, producer = 'p1'): HistoryEvent => ({
  type: 'send', producer, topic: 't', partition, value, offset, error, t: 0,
});
const poll = (offset: number, value: string, consumer = 'c1', partition = 0): HistoryEvent => ({ type: 'poll', consumer, topic: 't', partition, offset, value, t: 0 });
const rb = (offset: number, value: string, reader = 'kafkajs', partition = 0): HistoryEvent => ({ type: 'readback', reader, topic: 't', partition, offset, value });
const both = (offset: number, value: string): HistoryEvent[] => [rb(offset, value, 'kafkajs'), rb(offset, value, 'librdkafka')];

test('a clean history has no anomalies', () => {
  const h = [send('a', 0), send('b', 1), poll(0, 'a'), poll(1, 'b'), ...both(0, 'a'), ...both(1, 'b')];
  const r = check(h);
  expect(r).toMatchObject({ acknowledged: 2, lostWrites: 0, inconsistentOffsets: 0, duplicates: 0, pollSkips: 0, nonMonotonicPolls: 0, nonMonotonicSends: 0, readbackDisagreements: 0 });
});

test('an acknowledged write missing from the read-back is lost', () => {
  const r = check([send('a', 0), send('b', 1), ...both(0, 'a')]);
  expect(r.lostWrites).toBe(1);
  expect(r.examples.lostWrites![0]).toContain('b');
});

test('an indeterminate send that never landed is not lost', () => {
  const r = check([send('a', 0), send('b', null, 'REQUEST_TIMED_OUT'), ...both(0, 'a')]);
  expect(r).toMatchObject({ lostWrites: 0, indeterminate: 1 });
  expect(isIndeterminate('NOT_LEADER_OR_FOLLOWER')).toBe(true);
  expect(isIndeterminate('CORRUPT_MESSAGE')).toBe(false);
});

test('one offset with two values is inconsistent', () => {
  const r = check([send('a', 0), ...both(0, 'x')]);
  expect(r.inconsistentOffsets).toBeGreaterThan(0);
  expect(r.lostWrites).toBe(1);
});

test('one value at two offsets is a duplicate', () => {
  const r = check([send('a', 0), ...both(0, 'a'), ...both(1, 'a')]);
  expect(r.duplicates).toBe(1);
});

test('a consumer jumping over an existing offset skipped it; a reposition allows going back', () => {
  const h = [...both(0, 'a'), ...both(1, 'b'), ...both(2, 'c'), poll(0, 'a'), poll(2, 'c')];
  expect(check(h).pollSkips).toBe(1);
  const h2 = [...both(0, 'a'), ...both(1, 'b'), poll(0, 'a'), poll(1, 'b'), poll(0, 'a')];
  expect(check(h2).nonMonotonicPolls).toBe(1);
  const h3: HistoryEvent[] = [...both(0, 'a'), ...both(1, 'b'), poll(0, 'a'), poll(1, 'b'), { type: 'reposition', consumer: 'c1', topic: 't', partition: 0, t: 0 }, poll(0, 'a')];
  expect(check(h3).nonMonotonicPolls).toBe(0);
});

test('a producer whose acknowledged offsets go backwards is non-monotonic', () => {
  const r = check([send('a', 5), send('b', 3), ...both(3, 'b'), ...both(5, 'a')]);
  expect(r.nonMonotonicSends).toBe(1);
});

test('UNKNOWN_SERVER_ERROR answers are counted', () => {
  expect(check([send('a', null, 'UNKNOWN_SERVER_ERROR: boom')]).unknownServerErrors).toBe(1);
});

test('read-backs of two clients must agree at every offset', () => {
  const r = check([rb(0, 'a', 'kafkajs'), rb(0, 'a', 'librdkafka'), rb(1, 'b', 'kafkajs')]);
  expect(r.readbackDisagreements).toBe(1);
});

// ---------------------------------------------------------------- consumer groups and recovery

const join = (member: string, generation: number, t: number, group = 'g'): HistoryEvent => ({ type: 'join', group, member, generation, t });
const assign = (member: string, generation: number, partitions: number[], t: number, group = 'g'): HistoryEvent => ({
  type: 'assignment', group, member, generation, partitions: partitions.map((p) => ({ topic: 't', partition: p })), t,
});
const commit = (member: string, generation: number, partition: number, offset: number, sentAt: number, t: number, error: string | null = null, group = 'g'): HistoryEvent => ({
  type: 'commit', group, member, generation, topic: 't', partition, offset, error, sentAt, t,
});
const committed = (partition: number, offset: number, sentAt: number, t: number, group = 'g'): HistoryEvent => ({ type: 'committed', group, topic: 't', partition, offset, sentAt, t });

test('a clean group history: rebalances, commits moving forward, a stale commit refused', () => {
  const h = [
    join('m1', 1, 10), assign('m1', 1, [0, 1], 11),
    commit('m1', 1, 0, 5, 20, 21), commit('m1', 1, 1, 7, 20, 21),
    join('m1', 2, 30), join('m2', 2, 30), assign('m1', 2, [0], 31), assign('m2', 2, [1], 31),
    committed(1, 7, 32, 33),
    commit('m2', 2, 1, 9, 40, 41),
    // m1's commit of partition 1 with the old generation, after generation 2 began: refused, as it must be.
    commit('m1', 1, 1, 8, 42, 43, 'ILLEGAL_GENERATION'),
  ];
  const r = check(h);
  expect(r).toMatchObject({ generations: 2, commitsAccepted: 3, doubleOwnership: 0, staleCommitsAccepted: 0, commitRegressions: 0 });
});

test('a partition owned by two members in one generation is counted', () => {
  const r = check([assign('m1', 3, [0, 1], 10), assign('m2', 3, [1, 2], 10), assign('m1', 4, [1], 20), assign('m2', 5, [1], 30)]);
  expect(r.doubleOwnership).toBe(1);
  expect(r.examples.doubleOwnership![0]).toContain('generation 3');
});

test('a commit of a stale generation accepted after the next generation was assigned is counted', () => {
  const r = check([join('m1', 1, 10), join('m2', 2, 50), assign('m2', 2, [0], 55), commit('m1', 1, 0, 5, 40, 45), commit('m1', 1, 0, 6, 60, 61)]);
  // The first was sent before generation 2 was assigned (allowed); the second after.
  expect(r.staleCommitsAccepted).toBe(1);
  // Joined but not assigned yet (or never: the coordinator failed before storing it): informative only.
  const j = check([join('m1', 1, 10), join('m2', 2, 50), commit('m1', 1, 0, 6, 60, 61)]);
  expect(j).toMatchObject({ staleCommitsAccepted: 0, commitsAfterNewerJoin: 1 });
  // Commits without a generation (simple consumers, generation -1) are not judged.
  expect(check([join('m1', 2, 10), commit('', -1, 0, 5, 40, 45)]).staleCommitsAccepted).toBe(0);
});

test('committed offsets moving backwards: a read below the commit accepted last before it', () => {
  const accepted = [join('m1', 1, 1), commit('m1', 1, 0, 10, 10, 11)];
  expect(check([...accepted, committed(0, 8, 20, 21)]).commitRegressions).toBe(1);
  // A coordinator that forgot the commit answers -1 (no committed offset).
  expect(check([...accepted, committed(0, -1, 20, 21)]).commitRegressions).toBe(1);
  // The client may commit a lower offset itself (Kafka accepts it): the read then follows the last commit.
  const lower = [...accepted, commit('m1', 1, 0, 7, 15, 16)];
  expect(check([...lower, committed(0, 7, 20, 21)]).commitRegressions).toBe(0);
  expect(check([...lower, committed(0, 6, 20, 21)]).commitRegressions).toBe(1);
  // A commit in flight during the read may or may not be seen. Refused commits do not count.
  expect(check([...accepted, committed(0, 9, 20, 30), commit('m1', 1, 0, 9, 25, 35)]).commitRegressions).toBe(0);
  expect(check([...accepted, commit('m1', 1, 0, 3, 12, 13, 'ILLEGAL_GENERATION'), committed(0, 10, 20, 21)]).commitRegressions).toBe(0);
  // Concurrent with the read (sent before the commit was answered): no order to judge.
  expect(check([...accepted, committed(0, 8, 5, 21)]).commitRegressions).toBe(0);
  // Another partition or group is another sequence.
  expect(check([...accepted, committed(1, 2, 20, 21), committed(0, 4, 20, 21, 'other')]).commitRegressions).toBe(0);
});

test('UNKNOWN_SERVER_ERROR answers to commits are counted', () => {
  expect(check([commit('m1', 1, 0, 5, 1, 2, 'UNKNOWN_SERVER_ERROR')]).unknownServerErrors).toBe(1);
});

test('recovery: from each heal to the first acknowledged send of every partition, the longest', () => {
  const s = (p: number, t: number): HistoryEvent => ({ type: 'send', producer: 'p', topic: 't', partition: p, value: `v${p}-${t}`, offset: t, error: null, t });
  const h: HistoryEvent[] = [
    s(0, 100), s(1, 100),
    { type: 'fault', name: 'kill', t: 150 }, { type: 'heal', name: 'kill', t: 200 },
    s(0, 250), s(1, 900),
    { type: 'fault', name: 'kill', t: 1000 }, { type: 'heal', name: 'kill', t: 1100 },
    s(0, 1300), s(1, 1200),
  ];
  const r = check(h);
  expect(r).toMatchObject({ faults: 2, heals: 2, maxRecoveryMs: 700 });
  expect(check([s(0, 1)]).maxRecoveryMs).toBeNull();
});

test('a partition acknowledged before the last heal and never after it is unrecovered', () => {
  const s = (p: number, t: number): HistoryEvent => ({ type: 'send', producer: 'p', topic: 't', partition: p, value: `v${p}-${t}`, offset: t, error: null, t });
  const h: HistoryEvent[] = [s(0, 100), s(1, 100), { type: 'fault', name: 'kill', t: 150 }, { type: 'heal', name: 'kill', t: 200 }, s(0, 300), s(2, 400)];
  const r = check(h);
  expect(r.unrecoveredPartitions).toBe(1);
  expect(r.examples.unrecoveredPartitions![0]).toContain('t/1');
  expect(r.maxRecoveryMs).toBe(200);
});
