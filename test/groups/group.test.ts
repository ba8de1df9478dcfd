/**
 * The classic rebalance state machine (src/groups/group.ts) against what Kafka
 * 3.9's GroupCoordinator.scala does: join barrier, KIP-394 member ids,
 * generation fencing, unknown members, REBALANCE_IN_PROGRESS, session expiry,
 * the rebalance timeout removing silent members, KIP-345 static membership
 * (rejoin without rebalance, FENCED_INSTANCE_ID), the leader's sync timeout,
 * OffsetCommit validation and the initial rebalance delay. Timers are vitest's
 * fake timers, so every timeout is exercised exactly and in milliseconds.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Group, type JoinParams, type JoinResult, type SyncResult } from '../../src/groups/group.js';
import { ErrorCode } from '../../src/protocol/kafka-error.js';

const SESSION = 10_000;
const REBALANCE = 30_000;

function params(over: Partial<JoinParams> = {}): JoinParams {
  return {
    memberId: '',
    groupInstanceId: null,
    clientId: 'client',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: SESSION,
    rebalanceTimeoutMs: REBALANCE,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from('sub') }],
    requireKnownMemberId: true,
    supportsSkipAssignment: true,
    ...over,
  };
}

interface Pending<T> {
  value: T | undefined;
  calls: number;
}

function join(g: Group, p: Partial<JoinParams> = {}): Pending<JoinResult> {
  const h: Pending<JoinResult> = { value: undefined, calls: 0 };
  g.join(params(p), (r) => {
    h.value = r;
    h.calls++;
  });
  return h;
}

function sync(g: Group, memberId: string, generationId: number, assignments: Array<{ memberId: string; assignment: Buffer }> = [], groupInstanceId: string | null = null): Pending<SyncResult> {
  const h: Pending<SyncResult> = { value: undefined, calls: 0 };
  g.sync({ memberId, groupInstanceId, generationId, protocolType: 'consumer', protocolName: null, assignments }, (r) => {
    h.value = r;
    h.calls++;
  });
  return h;
}

/** KIP-394: a v4+ client's first join gets MEMBER_ID_REQUIRED and a member id; the second join is the real one. */
function joinNew(g: Group, p: Partial<JoinParams> = {}): { memberId: string; join: Pending<JoinResult> } {
  const first = join(g, p);
  expect(first.value?.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
  const memberId = first.value!.memberId;
  return { memberId, join: join(g, { ...p, memberId }) };
}

/** Joins `n` dynamic members and takes the group to Stable; returns their ids (leader first) and the generation. */
function stableGroup(g: Group, n: number): { ids: string[]; generation: number } {
  const first = joinNew(g, { clientId: 'c0' }); // generation 1 at once (no initial delay)
  const others = Array.from({ length: n - 1 }, (_, i) => joinNew(g, { clientId: `c${i + 1}` }));
  const last = n > 1 ? join(g, { memberId: first.memberId, clientId: 'c0' }) : first.join;
  for (const j of [last, ...others.map((o) => o.join)]) expect(j.value?.errorCode).toBe(ErrorCode.NONE);
  const generation = last.value!.generationId;
  const leader = last.value!.leader;
  const ids = [leader, ...[first.memberId, ...others.map((o) => o.memberId)].filter((id) => id !== leader)];
  for (const id of ids.slice(1)) sync(g, id, generation);
  sync(g, leader, generation, ids.map((id) => ({ memberId: id, assignment: Buffer.from(`assignment-of-${id}`) })));
  expect(g.state).toBe('Stable');
  return { ids, generation };
}

let group: Group;
let events: Array<{ event: string; detail: Record<string, unknown> }>;

function newGroup(initialRebalanceDelayMs = 0): Group {
  const g = new Group('g', { initialRebalanceDelayMs });
  g.onEvent = (event, detail) => events.push({ event, detail });
  return g;
}

beforeEach(() => {
  vi.useFakeTimers();
  events = [];
  group = newGroup();
});
afterEach(() => {
  group.shutdown(ErrorCode.NOT_COORDINATOR);
  vi.useRealTimers();
});

describe('join barrier', () => {
  test('v4+ first join gets MEMBER_ID_REQUIRED; the rejoin with that id forms generation 1', () => {
    const first = join(group);
    expect(first.value).toMatchObject({ errorCode: ErrorCode.MEMBER_ID_REQUIRED, generationId: -1 });
    expect(first.value!.memberId).toMatch(/^client-[0-9a-f-]{36}$/);
    expect(group.state).toBe('Empty');
    const second = join(group, { memberId: first.value!.memberId });
    expect(second.value).toMatchObject({
      errorCode: ErrorCode.NONE,
      generationId: 1,
      memberId: first.value!.memberId,
      leader: first.value!.memberId,
      protocolName: 'range',
      protocolType: 'consumer',
    });
    expect(second.value!.members).toEqual([{ memberId: first.value!.memberId, groupInstanceId: null, metadata: Buffer.from('sub') }]);
    expect(group.state).toBe('CompletingRebalance');
  });

  test('v0-3 clients (no KIP-394) join in one round trip', () => {
    const j = join(group, { requireKnownMemberId: false });
    expect(j.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1 });
  });

  test('a joining member holds the barrier until every known member rejoins; only the leader gets the member list', () => {
    const { ids, generation } = stableGroup(group, 1);
    const [a] = ids as [string];
    const b = joinNew(group, { clientId: 'b' });
    expect(group.state).toBe('PreparingRebalance');
    expect(b.join.value).toBeUndefined();
    expect(group.heartbeat(a, null, generation)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const ra = join(group, { memberId: a, clientId: 'c0' });
    expect(ra.value?.generationId).toBe(generation + 1);
    expect(b.join.value?.generationId).toBe(generation + 1);
    expect(ra.value!.leader).toBe(a);
    expect(b.join.value!.leader).toBe(a);
    expect(ra.value!.members.map((m) => m.memberId).sort()).toEqual([a, b.memberId].sort());
    expect(b.join.value!.members).toEqual([]);
  });

  test('sync: followers wait for the leader, then everyone gets its own assignment', () => {
    const a = joinNew(group);
    const gen = a.join.value!.generationId;
    const b = joinNew(group, { clientId: 'b' });
    const ra = join(group, { memberId: a.memberId });
    expect(b.join.value?.errorCode).toBe(ErrorCode.NONE);
    const gen2 = ra.value!.generationId;
    expect(gen2).toBe(gen + 1);
    const sb = sync(group, b.memberId, gen2);
    expect(sb.value).toBeUndefined();
    const sa = sync(group, a.memberId, gen2, [
      { memberId: a.memberId, assignment: Buffer.from('A') },
      { memberId: b.memberId, assignment: Buffer.from('B') },
    ]);
    expect(sa.value).toMatchObject({ errorCode: ErrorCode.NONE, assignment: Buffer.from('A'), protocolName: 'range' });
    expect(sb.value).toMatchObject({ errorCode: ErrorCode.NONE, assignment: Buffer.from('B') });
    expect(group.state).toBe('Stable');
    // A late sync in Stable returns the stored assignment.
    expect(sync(group, b.memberId, gen2).value?.assignment).toEqual(Buffer.from('B'));
  });

  test('members the leader leaves out get an empty assignment', () => {
    const a = joinNew(group);
    const b = joinNew(group, { clientId: 'b' });
    join(group, { memberId: a.memberId });
    const gen = b.join.value!.generationId;
    const sb = sync(group, b.memberId, gen);
    sync(group, a.memberId, gen, [{ memberId: a.memberId, assignment: Buffer.from('A') }]);
    expect(sb.value).toMatchObject({ errorCode: ErrorCode.NONE, assignment: Buffer.alloc(0) });
  });

  test('a follower rejoining with unchanged metadata in Stable gets the current generation, no rebalance', () => {
    const { ids, generation } = stableGroup(group, 2);
    const r = join(group, { memberId: ids[1]!, clientId: 'c1' });
    expect(r.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation, members: [] });
    expect(group.state).toBe('Stable');
  });

  test('the leader rejoining in Stable forces a rebalance (Kafka: leader may see metadata changes)', () => {
    const { ids } = stableGroup(group, 2);
    const r = join(group, { memberId: ids[0]!, clientId: 'c0' });
    expect(r.value).toBeUndefined();
    expect(group.state).toBe('PreparingRebalance');
  });

  test('INCONSISTENT_GROUP_PROTOCOL for a protocol type or assignor the group cannot share', () => {
    stableGroup(group, 1);
    expect(join(group, { protocolType: 'connect' }).value?.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect(join(group, { protocols: [{ name: 'roundrobin', metadata: Buffer.alloc(0) }] }).value?.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect(join(newGroup(), { protocols: [] }).value?.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  });

  test('the protocol every member supports wins the vote', () => {
    const a = joinNew(group, {
      protocols: [
        { name: 'cooperative-sticky', metadata: Buffer.from('1') },
        { name: 'range', metadata: Buffer.from('2') },
      ],
    });
    expect(a.join.value?.protocolName).toBe('cooperative-sticky');
    const b = joinNew(group, { clientId: 'b', protocols: [{ name: 'range', metadata: Buffer.from('3') }] });
    join(group, { memberId: a.memberId, protocols: [
      { name: 'cooperative-sticky', metadata: Buffer.from('1') },
      { name: 'range', metadata: Buffer.from('2') },
    ] });
    expect(b.join.value?.protocolName).toBe('range');
  });
});

describe('fencing and unknown members', () => {
  test('ILLEGAL_GENERATION for heartbeat, sync and commit from an older generation', () => {
    const { ids, generation } = stableGroup(group, 1);
    const a = ids[0]!;
    expect(group.heartbeat(a, null, generation - 1)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(sync(group, a, generation + 1).value?.errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(group.validateCommit(a, null, generation - 1)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(group.validateCommit(a, null, generation)).toBe(ErrorCode.NONE);
  });

  test('UNKNOWN_MEMBER_ID for join, sync, heartbeat, commit and leave of an unknown member', () => {
    const { generation } = stableGroup(group, 1);
    expect(join(group, { memberId: 'nobody' }).value?.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(sync(group, 'nobody', generation).value?.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(group.heartbeat('nobody', null, generation)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(group.validateCommit('nobody', null, generation)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(group.leave('nobody', null)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('REBALANCE_IN_PROGRESS: sync while preparing; commit while completing; open syncs when a member joins', () => {
    const a = joinNew(group);
    const gen = a.join.value!.generationId;
    expect(group.state).toBe('CompletingRebalance');
    expect(group.validateCommit(a.memberId, null, gen)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    // Heartbeats during CompletingRebalance are fine (the client may heartbeat before its sync).
    expect(group.heartbeat(a.memberId, null, gen)).toBe(ErrorCode.NONE);
    // b joins while a is between join and sync: a's sync is answered REBALANCE_IN_PROGRESS.
    const b = joinNew(group, { clientId: 'b' });
    expect(group.state).toBe('PreparingRebalance');
    const sa = sync(group, a.memberId, gen);
    expect(sa.value?.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    // Commits with the current generation are still accepted while preparing (Kafka relies on the heartbeat).
    expect(group.validateCommit(a.memberId, null, gen)).toBe(ErrorCode.NONE);
    expect(b.join.value).toBeUndefined();
  });

  test('a follower waiting in sync is told REBALANCE_IN_PROGRESS when a new member arrives', () => {
    const a = joinNew(group);
    const b = joinNew(group, { clientId: 'b' });
    join(group, { memberId: a.memberId });
    const gen = b.join.value!.generationId;
    const sb = sync(group, b.memberId, gen);
    expect(sb.value).toBeUndefined();
    joinNew(group, { clientId: 'c' });
    expect(sb.value?.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
  });
});

describe('timeouts', () => {
  test('a member that stops heartbeating is removed after its session timeout and the group rebalances', () => {
    const { ids, generation } = stableGroup(group, 2);
    const [a, b] = ids as [string, string];
    for (let t = 0; t < SESSION + 2000; t += 2000) {
      vi.advanceTimersByTime(2000);
      expect(group.heartbeat(a, null, generation)).toBe(t + 2000 >= SESSION ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE);
    }
    expect(group.members.has(b)).toBe(false);
    expect(events.some((e) => e.event === 'member removed' && e.detail.why === 'session timed out')).toBe(true);
    const r = join(group, { memberId: a, clientId: 'c0' });
    expect(r.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation + 1, leader: a });
  });

  test('the last member expiring leaves the group Empty', () => {
    stableGroup(group, 1);
    vi.advanceTimersByTime(SESSION + 1);
    expect(group.state).toBe('Empty');
    expect(group.members.size).toBe(0);
  });

  test('members that do not rejoin within the rebalance timeout are removed; the rest form the generation', () => {
    const { ids, generation } = stableGroup(group, 2);
    const [a, b] = ids as [string, string];
    const c = joinNew(group, { clientId: 'c' });
    const ra = join(group, { memberId: a, clientId: 'c0' });
    // b keeps heartbeating (a busy consumer) but never rejoins.
    for (let i = 0; i < 9; i++) {
      vi.advanceTimersByTime(3000);
      expect(group.heartbeat(b, null, generation)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    }
    vi.advanceTimersByTime(REBALANCE - 27_000 - 1);
    expect(ra.value).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(ra.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation + 1 });
    expect(c.join.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation + 1 });
    expect(ra.value!.members.map((m) => m.memberId).sort()).toEqual([a, c.memberId].sort());
    expect(group.members.has(b)).toBe(false);
    expect(group.heartbeat(b, null, generation)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('waiting in the join barrier keeps the session alive', () => {
    const { ids, generation } = stableGroup(group, 2);
    const [a, b] = ids as [string, string];
    const ra = join(group, { memberId: a, clientId: 'c0' }); // the leader rejoins and waits for b
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(4000); // 20 s > the session timeout, no heartbeat from a
      expect(group.heartbeat(b, null, generation)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    }
    expect(group.members.has(a)).toBe(true);
    join(group, { memberId: b, clientId: 'c1' });
    expect(ra.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation + 1 });
    expect(ra.value!.members).toHaveLength(2);
  });

  test('leader sync timeout: a leader that never syncs is removed and the group rebalances', () => {
    const rebalanceTimeoutMs = 5000; // shorter than the session timeout, as Kafka's DelayedSync uses it
    const a = joinNew(group, { rebalanceTimeoutMs });
    const b = joinNew(group, { clientId: 'b', rebalanceTimeoutMs });
    join(group, { memberId: a.memberId, rebalanceTimeoutMs });
    const gen = b.join.value!.generationId;
    const sb = sync(group, b.memberId, gen);
    vi.advanceTimersByTime(rebalanceTimeoutMs - 1);
    expect(sb.value).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(sb.value?.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    expect(group.members.has(a.memberId)).toBe(false);
    expect(group.state).toBe('PreparingRebalance');
    // b rejoins and leads the next generation alone.
    const rb = join(group, { memberId: b.memberId, clientId: 'b', rebalanceTimeoutMs });
    expect(rb.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: gen + 1, leader: b.memberId });
  });

  test('a pending member (MEMBER_ID_REQUIRED) that never comes back stops holding the barrier after its session timeout', () => {
    const { ids, generation } = stableGroup(group, 1);
    const a = ids[0]!;
    const first = join(group, { clientId: 'ghost' }); // pending, never rejoins
    expect(first.value?.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    const b = joinNew(group, { clientId: 'b' });
    const ra = join(group, { memberId: a, clientId: 'c0' });
    expect(ra.value).toBeUndefined(); // the ghost is still pending
    vi.advanceTimersByTime(SESSION);
    // Kafka: the pending member's expiry completes the join at once, not at the rebalance timeout.
    expect(ra.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation + 1 });
    expect(b.join.value?.errorCode).toBe(ErrorCode.NONE);
  });
});

describe('leave', () => {
  test('a leaving member triggers a rebalance; the last one leaves the group Empty', () => {
    const { ids, generation } = stableGroup(group, 2);
    const [a, b] = ids as [string, string];
    expect(group.leave(b, null)).toBe(ErrorCode.NONE);
    expect(group.state).toBe('PreparingRebalance');
    expect(group.heartbeat(a, null, generation)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    expect(group.leave(a, null)).toBe(ErrorCode.NONE);
    expect(group.state).toBe('Empty');
    expect(group.isEmpty()).toBe(true);
  });

  test('a leave completes a join barrier that only waited for the leaver', () => {
    const { ids, generation } = stableGroup(group, 2);
    const [a, b] = ids as [string, string];
    const ra = join(group, { memberId: a, clientId: 'c0' });
    expect(ra.value).toBeUndefined();
    group.leave(b, null);
    expect(ra.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation + 1 });
  });
});

describe('static membership (KIP-345)', () => {
  const P1 = [{ name: 'range', metadata: Buffer.from('v1') }];
  const P2 = [{ name: 'range', metadata: Buffer.from('v2') }];

  function staticStable(): { a: string; b: string; generation: number } {
    const ja = join(group, { groupInstanceId: 'ia', clientId: 'a', protocols: P1 });
    expect(ja.value?.errorCode).toBe(ErrorCode.NONE); // static members skip MEMBER_ID_REQUIRED
    const a = ja.value!.memberId;
    const jb = join(group, { groupInstanceId: 'ib', clientId: 'b', protocols: P1 });
    join(group, { memberId: a, groupInstanceId: 'ia', clientId: 'a', protocols: P1 });
    const b = jb.value!.memberId;
    const generation = jb.value!.generationId;
    sync(group, b, generation, [], 'ib');
    sync(group, a, generation, [
      { memberId: a, assignment: Buffer.from('A') },
      { memberId: b, assignment: Buffer.from('B') },
    ], 'ia');
    expect(group.state).toBe('Stable');
    return { a, b, generation };
  }

  test('a restarted follower with the same instance id gets a new member id, its old assignment, and no rebalance', () => {
    const { a, b, generation } = staticStable();
    const r = join(group, { groupInstanceId: 'ib', clientId: 'b', protocols: P1 });
    expect(r.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation, leader: a, skipAssignment: false, members: [] });
    const nb = r.value!.memberId;
    expect(nb).not.toBe(b);
    expect(group.state).toBe('Stable');
    expect(sync(group, nb, generation, [], 'ib').value).toMatchObject({ errorCode: ErrorCode.NONE, assignment: Buffer.from('B') });
    expect(group.heartbeat(a, 'ia', generation)).toBe(ErrorCode.NONE);
  });

  test('changed subscription metadata with the same selected protocol still causes no rebalance (Kafka: only a protocol change does)', () => {
    // The Java consumer's cooperative-sticky metadata carries owned partitions and
    // the generation, so a restarted member always sends different bytes.
    const { a, generation } = staticStable();
    const r = join(group, { groupInstanceId: 'ib', clientId: 'b', protocols: P2 });
    expect(r.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation, leader: a });
    expect(group.state).toBe('Stable');
  });

  test('a rejoin that changes the selected protocol does rebalance', () => {
    const both = (first: string, second: string) => [
      { name: first, metadata: Buffer.alloc(0) },
      { name: second, metadata: Buffer.alloc(0) },
    ];
    const j = join(group, { groupInstanceId: 'solo', protocols: both('range', 'roundrobin') });
    expect(j.value?.protocolName).toBe('range');
    sync(group, j.value!.memberId, j.value!.generationId, [], 'solo');
    expect(group.state).toBe('Stable');
    const r = join(group, { groupInstanceId: 'solo', protocols: both('roundrobin', 'range') });
    expect(group.state).not.toBe('Stable');
    expect(r.value?.protocolName ?? 'roundrobin').toBe('roundrobin');
  });

  test('a restarted static leader (JoinGroup v9) keeps leading with skip_assignment and the member list', () => {
    const { b, generation } = staticStable();
    const r = join(group, { groupInstanceId: 'ia', clientId: 'a', protocols: P1, supportsSkipAssignment: true });
    const na = r.value!.memberId;
    expect(r.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation, leader: na, skipAssignment: true });
    expect(r.value!.members.map((m) => m.memberId).sort()).toEqual([na, b].sort());
    expect(group.state).toBe('Stable');
  });

  test('a restarted static leader on JoinGroup < v9 is told the old leader id, so it does not assign; no rebalance', () => {
    const { a, generation } = staticStable();
    const r = join(group, { groupInstanceId: 'ia', clientId: 'a', protocols: P1, supportsSkipAssignment: false });
    expect(r.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation, leader: a, skipAssignment: false, members: [] });
    expect(r.value!.memberId).not.toBe(a);
    expect(group.state).toBe('Stable');
  });

  test('FENCED_INSTANCE_ID for the replaced member id on heartbeat, sync, join, commit and leave', () => {
    const { b, generation } = staticStable();
    join(group, { groupInstanceId: 'ib', clientId: 'b', protocols: P1 });
    expect(group.heartbeat(b, 'ib', generation)).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect(sync(group, b, generation, [], 'ib').value?.errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect(join(group, { memberId: b, groupInstanceId: 'ib', protocols: P1 }).value?.errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect(group.validateCommit(b, 'ib', generation)).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect(group.leave(b, 'ib')).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect(group.state).toBe('Stable');
  });

  test('an unknown instance id is UNKNOWN_MEMBER_ID (Kafka validateCurrentMember), not a fence', () => {
    const { a, generation } = staticStable();
    expect(group.heartbeat(a, 'nope', generation)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('leave by instance id alone removes the static member', () => {
    staticStable();
    expect(group.leave('', 'ib')).toBe(ErrorCode.NONE);
    expect(group.state).toBe('PreparingRebalance');
    expect(group.leave('', 'ib')).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('a static member that misses a rebalance stays in the generation and gets its partitions back on restart', () => {
    // Kafka's onCompleteJoin removes only dynamic members that did not rejoin.
    const t = { sessionTimeoutMs: 45_000, rebalanceTimeoutMs: 20_000 };
    const ja = join(group, { groupInstanceId: 'ia', clientId: 'a', protocols: P1, ...t });
    const a = ja.value!.memberId;
    const jb = join(group, { groupInstanceId: 'ib', clientId: 'b', protocols: P1, ...t });
    join(group, { memberId: a, groupInstanceId: 'ia', clientId: 'a', protocols: P1, ...t });
    const b = jb.value!.memberId;
    const g1 = jb.value!.generationId;
    sync(group, b, g1, [], 'ib');
    sync(group, a, g1, [{ memberId: a, assignment: Buffer.from('A') }, { memberId: b, assignment: Buffer.from('B') }], 'ia');
    // b goes down; a dynamic member c arrives; a rejoins; b never does.
    const c = joinNew(group, { clientId: 'c', protocols: P1, ...t });
    const ra = join(group, { memberId: a, groupInstanceId: 'ia', clientId: 'a', protocols: P1, ...t });
    vi.advanceTimersByTime(t.rebalanceTimeoutMs);
    expect(ra.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: g1 + 1, leader: a });
    expect(ra.value!.members.map((m) => m.memberId).sort()).toEqual([a, b, c.memberId].sort());
    expect(group.members.has(b)).toBe(true);
    const g2 = g1 + 1;
    sync(group, c.memberId, g2);
    sync(group, a, g2, [
      { memberId: a, assignment: Buffer.from('A2') },
      { memberId: b, assignment: Buffer.from('B2') },
      { memberId: c.memberId, assignment: Buffer.from('C2') },
    ], 'ia');
    expect(group.state).toBe('Stable');
    // b restarts within its session timeout: same generation, its assignment, no rebalance.
    vi.advanceTimersByTime(5000);
    const rb = join(group, { groupInstanceId: 'ib', clientId: 'b', protocols: P1, ...t });
    expect(rb.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: g2 });
    expect(sync(group, rb.value!.memberId, g2, [], 'ib').value).toMatchObject({ errorCode: ErrorCode.NONE, assignment: Buffer.from('B2') });
    vi.advanceTimersByTime(t.rebalanceTimeoutMs);
    expect(group.heartbeat(a, 'ia', g2)).toBe(ErrorCode.NONE);
    expect(group.state).toBe('Stable');
  });

  test('a static member is removed when its session expires', () => {
    const { b } = staticStable();
    vi.advanceTimersByTime(SESSION + 1);
    expect(group.members.has(b)).toBe(false);
  });
});

describe('offset commit validation', () => {
  test('generation -1 commits are accepted while the group is Empty and refused once it has members', () => {
    expect(group.validateCommit('', null, -1)).toBe(ErrorCode.NONE);
    expect(group.validateCommit('someone', null, -1)).toBe(ErrorCode.NONE); // Kafka: any member id when Empty
    stableGroup(group, 1);
    expect(group.validateCommit('', null, -1)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('a member commits with its generation in Stable and PreparingRebalance, not in CompletingRebalance', () => {
    const { ids, generation } = stableGroup(group, 1);
    const a = ids[0]!;
    expect(group.validateCommit(a, null, generation)).toBe(ErrorCode.NONE);
    joinNew(group, { clientId: 'b' });
    expect(group.state).toBe('PreparingRebalance');
    expect(group.validateCommit(a, null, generation)).toBe(ErrorCode.NONE);
    const ra = join(group, { memberId: a, clientId: 'c0' });
    expect(group.state).toBe('CompletingRebalance');
    expect(group.validateCommit(a, null, ra.value!.generationId)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
  });

  test('a commit counts as a heartbeat (Kafka resets the session on commit)', () => {
    const { ids, generation } = stableGroup(group, 1);
    const a = ids[0]!;
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(SESSION - 1000);
      expect(group.validateCommit(a, null, generation)).toBe(ErrorCode.NONE);
    }
    expect(group.members.has(a)).toBe(true);
  });

  test('a dead group answers COORDINATOR_NOT_AVAILABLE', () => {
    group.shutdown(ErrorCode.NOT_COORDINATOR);
    expect(group.validateCommit('', null, -1)).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(join(group).value?.errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  });
});

describe('initial rebalance delay (group.initial.rebalance.delay.ms)', () => {
  test('members arriving during the delay join the first generation together', () => {
    group = newGroup(3000);
    const a = joinNew(group, { clientId: 'a' });
    vi.advanceTimersByTime(1000);
    const b = joinNew(group, { clientId: 'b' });
    vi.advanceTimersByTime(2500);
    expect(a.join.value).toBeUndefined(); // b's arrival extended the delay
    const c = joinNew(group, { clientId: 'c' });
    vi.advanceTimersByTime(6000);
    for (const m of [a, b, c]) expect(m.join.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1 });
    expect(a.join.value!.members.length + b.join.value!.members.length + c.join.value!.members.length).toBe(3);
  });

  test('the delay is not extended beyond the rebalance timeout by a stream of arrivals', () => {
    // Kafka's InitialDelayedJoin: further delays only while the total stays within the rebalance timeout.
    group = newGroup(3000);
    const started = Date.now();
    const first = joinNew(group, { clientId: 'first', rebalanceTimeoutMs: 10_000 });
    for (let t = 0; t < 20 && !first.join.value; t++) {
      vi.advanceTimersByTime(1000);
      joinNew(group, { clientId: `late${t}`, rebalanceTimeoutMs: 10_000 });
    }
    expect(first.join.value?.errorCode).toBe(ErrorCode.NONE);
    expect(Date.now() - started).toBeLessThanOrEqual(10_000);
  });

  test('no delay once the group has had a generation and rebalances from Stable', () => {
    group = newGroup(3000);
    const a = joinNew(group, { clientId: 'a' });
    vi.advanceTimersByTime(3000);
    expect(a.join.value?.generationId).toBe(1);
    sync(group, a.memberId, 1, [{ memberId: a.memberId, assignment: Buffer.from('A') }]);
    const b = joinNew(group, { clientId: 'b' });
    join(group, { memberId: a.memberId, clientId: 'a' });
    expect(b.join.value?.generationId).toBe(2);
  });
});
