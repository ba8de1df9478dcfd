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
