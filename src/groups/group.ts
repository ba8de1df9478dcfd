// One consumer group and the classic rebalance protocol as Kafka's
// GroupCoordinator runs it: Empty -> PreparingRebalance -> CompletingRebalance
// -> Stable, with join and sync barriers, session and rebalance timeouts,
// generation fencing, KIP-394 member ids, KIP-345 static membership. Protocol
// metadata and assignments are opaque bytes passed between members: the
// client-side assignors (range, round-robin, cooperative-sticky) do the work.
//
// Every method here runs synchronously to completion (no await), so no two
// requests ever interleave inside a state change: the group is an actor whose
// queue is the event loop.

import { randomUUID } from 'node:crypto';
import { ErrorCode } from '../protocol/kafka-error.js';
import type { StoredGroup } from '../coordination/metadata-store.js';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export interface Protocol {
  name: string;
  metadata: Buffer;
}

export interface JoinParams {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  /** KIP-394: v4+ clients get MEMBER_ID_REQUIRED on their first join. */
  requireKnownMemberId: boolean;
  /** KIP-814: v9+ static leaders that rejoin keep their assignment. */
  supportsSkipAssignment: boolean;
}

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  memberId: string;
  skipAssignment: boolean;
  members: Array<{ memberId: string; groupInstanceId: string | null; metadata: Buffer }>;
}

export interface SyncParams {
  memberId: string;
  groupInstanceId: string | null;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  assignments: Array<{ memberId: string; assignment: Buffer }>;
}

export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  assignment: Buffer;
  joinWaiter: ((r: JoinResult) => void) | null;
  syncWaiter: ((r: SyncResult) => void) | null;
  sessionTimer: NodeJS.Timeout | null;
}

export interface GroupTimeouts {
  initialRebalanceDelayMs: number;
}

const EMPTY = Buffer.alloc(0);

function protocolsEqual(a: Protocol[], b: Protocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata));
}

export class Group {
  state: GroupState = 'Empty';
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  readonly members = new Map<string, Member>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly staticMembers = new Map<string, string>();
  private joinTimer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  /** While the initial rebalance delay runs: what is left of the rebalance timeout, and whether anyone joined in this window. */
  private initialDelay: { remainingMs: number; newMemberAdded: boolean } | null = null;
  onEvent: (event: string, detail: Record<string, unknown>) => void = () => {};
  /**
   * Makes the group durable with the leader's assignment before any member
   * hears of it (the coordinator sets it; none in unit tests: Stable at once).
   */
  store: ((s: StoredGroup) => Promise<void>) | null = null;
  private storing = false;

  constructor(
    readonly groupId: string,
    private readonly timeouts: GroupTimeouts,
  ) {}

  // ---------------------------------------------------------------- persistence

  /** Membership as of now, for the metadata store (taken when the group is Stable or Empty). */
  snapshot(): StoredGroup {
    return {
      generationId: this.generationId,
      protocolType: this.protocolType,
      protocolName: this.protocolName,
      leaderId: this.leaderId,
      members: [...this.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        protocolType: m.protocolType,
        protocols: m.protocols.map((p) => ({ name: p.name, metadata: p.metadata.toString('base64') })),
        assignment: m.assignment.toString('base64'),
      })),
    };
  }

  /**
   * Takes over a group as its last coordinator left it: Stable with its
   * members, whose sessions start now (those that are gone expire and the
   * group rebalances, as in Kafka after a coordinator change).
   */
  restore(s: StoredGroup): void {
    this.generationId = s.generationId;
    this.protocolType = s.protocolType;
    this.protocolName = s.protocolName;
    this.leaderId = s.leaderId;
    for (const x of s.members) {
      const m: Member = {
        memberId: x.memberId,
        groupInstanceId: x.groupInstanceId,
        clientId: x.clientId,
        clientHost: x.clientHost,
        sessionTimeoutMs: x.sessionTimeoutMs,
        rebalanceTimeoutMs: x.rebalanceTimeoutMs,
        protocolType: x.protocolType,
        protocols: x.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata, 'base64') })),
        assignment: Buffer.from(x.assignment, 'base64'),
        joinWaiter: null,
        syncWaiter: null,
        sessionTimer: null,
      };
      this.members.set(m.memberId, m);
      if (m.groupInstanceId) this.staticMembers.set(m.groupInstanceId, m.memberId);
      this.touch(m);
    }
    this.state = this.members.size ? 'Stable' : 'Empty';
  }

  // ---------------------------------------------------------------- join

  join(p: JoinParams, reply: (r: JoinResult) => void): void {
    const fail = (errorCode: number, memberId = p.memberId) =>
      reply({ errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, skipAssignment: false, members: [] });

    if (this.state === 'Dead') return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!this.acceptsProtocols(p.protocolType, p.protocols)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);

    if (p.memberId === '') {
      const newId = `${p.clientId}-${randomUUID()}`;
      if (p.groupInstanceId) {
        const oldId = this.staticMembers.get(p.groupInstanceId);
        if (oldId && this.members.has(oldId)) return this.rejoinStatic(oldId, newId, p, reply);
        return this.addAndRebalance(newId, p, reply);
      }
      if (p.requireKnownMemberId) {
        this.pending.set(
          newId,
          setTimeout(() => {
            // Kafka's removePendingMemberAndUpdateGroup: a join barrier may have waited only for it.
            this.pending.delete(newId);
            this.maybeCompleteJoin();
          }, p.sessionTimeoutMs),
        );
        return fail(ErrorCode.MEMBER_ID_REQUIRED, newId);
      }
      return this.addAndRebalance(newId, p, reply);
    }

    const pendingTimer = this.pending.get(p.memberId);
    if (pendingTimer) {
      clearTimeout(pendingTimer);
      this.pending.delete(p.memberId);
      return this.addAndRebalance(p.memberId, p, reply);
    }
    const invalid = this.validateMember(p.memberId, p.groupInstanceId);
    if (invalid !== ErrorCode.NONE) return fail(invalid);
    const m = this.members.get(p.memberId)!;

    switch (this.state) {
      case 'PreparingRebalance':
        this.updateMember(m, p);
        this.awaitJoin(m, reply);
        this.maybeCompleteJoin();
        return;
      case 'CompletingRebalance':
        if (protocolsEqual(m.protocols, p.protocols)) {
          this.touch(m);
          return reply(this.joinResultFor(m, false));
        }
        this.updateMember(m, p);
        this.awaitJoin(m, reply);
        return this.prepareRebalance(`member ${m.memberId} changed its protocols`);
      case 'Stable':
        if (m.memberId !== this.leaderId && protocolsEqual(m.protocols, p.protocols)) {
          this.touch(m);
          return reply(this.joinResultFor(m, false));
        }
        this.updateMember(m, p);
        this.awaitJoin(m, reply);
        return this.prepareRebalance(`member ${m.memberId} rejoined`);
      default:
        return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    }
  }

  private acceptsProtocols(type: string, protocols: Protocol[]): boolean {
    if (!type || protocols.length === 0) return false;
    if (this.members.size === 0) return true;
    if (type !== this.protocolType) return false;
    return protocols.some((p) => [...this.members.values()].every((m) => m.protocols.some((q) => q.name === p.name)));
  }

  /**
   * Kafka's validateCurrentMember: an instance id must map to this member id
   * (another id: FENCED_INSTANCE_ID, so a replaced static member shuts down
   * instead of rejoining and fencing its replacement in turn; no mapping:
   * UNKNOWN_MEMBER_ID), then the member id must be known.
   */
  private validateMember(memberId: string, instanceId: string | null): number {
    if (instanceId) {
      const current = this.staticMembers.get(instanceId);
      if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (current !== memberId) return ErrorCode.FENCED_INSTANCE_ID;
    }
    return this.members.has(memberId) ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID;
  }

  private addAndRebalance(memberId: string, p: JoinParams, reply: (r: JoinResult) => void): void {
    const m: Member = {
      memberId,
      groupInstanceId: p.groupInstanceId,
      clientId: p.clientId,
      clientHost: p.clientHost,
      sessionTimeoutMs: p.sessionTimeoutMs,
      rebalanceTimeoutMs: p.rebalanceTimeoutMs,
      protocolType: p.protocolType,
      protocols: p.protocols,
      assignment: EMPTY,
      joinWaiter: null,
      syncWaiter: null,
      sessionTimer: null,
    };
    this.members.set(memberId, m);
    if (p.groupInstanceId) this.staticMembers.set(p.groupInstanceId, memberId);
    if (this.members.size === 1) this.protocolType = p.protocolType;
    this.leaderId ??= memberId;
    this.awaitJoin(m, reply);
    this.onEvent('member joined', { memberId, groupInstanceId: p.groupInstanceId, clientId: p.clientId });
    if (this.state === 'PreparingRebalance') {
      if (this.initialDelay) this.initialDelay.newMemberAdded = true;
      this.maybeCompleteJoin();
    } else {
      this.prepareRebalance(`member ${memberId} joined`);
    }
  }

  /**
   * KIP-345: a static member restarted with a new member id takes over its old
   * one (Kafka's updateStaticMemberAndRebalance). In Stable there is no
   * rebalance unless the protocol the group would select changes: changed
   * subscription bytes alone do not count (the Java consumer's
   * cooperative-sticky metadata always differs after a restart). A v9+
   * leader is told it leads with skip_assignment; an older one is given the
   * old leader id so it does not run an assignment a Stable group would drop.
   */
  private rejoinStatic(oldId: string, newId: string, p: JoinParams, reply: (r: JoinResult) => void): void {
    const m = this.members.get(oldId)!;
    const oldLeader = this.leaderId;
    if (m.joinWaiter) m.joinWaiter(this.errorJoin(ErrorCode.FENCED_INSTANCE_ID, oldId));
    if (m.syncWaiter) m.syncWaiter({ errorCode: ErrorCode.FENCED_INSTANCE_ID, protocolType: null, protocolName: null, assignment: EMPTY });
    m.joinWaiter = null;
    m.syncWaiter = null;
    this.members.delete(oldId);
    m.memberId = newId;
    this.updateMember(m, p);
    this.members.set(newId, m);
    this.staticMembers.set(p.groupInstanceId!, newId);
    if (this.leaderId === oldId) this.leaderId = newId;
    this.onEvent('static member rejoined', { oldId, newId, groupInstanceId: p.groupInstanceId });
    switch (this.state) {
      case 'Stable': {
        if (this.selectProtocol() !== this.protocolName) {
          this.awaitJoin(m, reply);
          return this.prepareRebalance(`static member ${p.groupInstanceId} rejoined with a change of protocol`);
        }
        this.touch(m);
        const isLeader = this.leaderId === newId;
        if (p.supportsSkipAssignment) return reply(this.joinResultFor(m, isLeader));
        return reply({ ...this.joinResultFor(m, false), leader: oldLeader ?? '', members: [] });
      }
      case 'CompletingRebalance':
        // The leader may already be assigning to the old member id: start over.
        this.awaitJoin(m, reply);
        return this.prepareRebalance(`static member ${p.groupInstanceId} rejoined during CompletingRebalance`);
      default:
        this.awaitJoin(m, reply);
        return this.maybeCompleteJoin();
    }
  }

  private updateMember(m: Member, p: JoinParams): void {
    m.protocols = p.protocols;
    m.protocolType = p.protocolType;
    m.sessionTimeoutMs = p.sessionTimeoutMs;
    m.rebalanceTimeoutMs = p.rebalanceTimeoutMs;
    m.clientId = p.clientId;
    m.clientHost = p.clientHost;
  }

  private awaitJoin(m: Member, reply: (r: JoinResult) => void): void {
    if (m.joinWaiter) m.joinWaiter(this.errorJoin(ErrorCode.UNKNOWN_MEMBER_ID, m.memberId));
    m.joinWaiter = reply;
    this.touch(m);
  }

  private errorJoin(errorCode: number, memberId: string): JoinResult {
    return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, skipAssignment: false, members: [] };
  }

  private joinResultFor(m: Member, skipAssignment: boolean): JoinResult {
    const isLeader = m.memberId === this.leaderId;
    return {
      errorCode: ErrorCode.NONE,
      generationId: this.generationId,
      protocolType: this.protocolType,
      protocolName: this.protocolName,
      leader: this.leaderId ?? '',
      memberId: m.memberId,
      skipAssignment,
      members: isLeader
        ? [...this.members.values()].map((x) => ({
            memberId: x.memberId,
            groupInstanceId: x.groupInstanceId,
            metadata: x.protocols.find((q) => q.name === this.protocolName)?.metadata ?? EMPTY,
          }))
        : [],
    };
  }

  private rebalanceTimeoutMs(): number {
    let t = 0;
    for (const m of this.members.values()) t = Math.max(t, m.rebalanceTimeoutMs);
    return t;
  }

  private prepareRebalance(reason: string): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.state === 'CompletingRebalance') {
      for (const m of this.members.values()) {
        if (m.syncWaiter) m.syncWaiter({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, protocolType: null, protocolName: null, assignment: EMPTY });
        m.syncWaiter = null;
        m.assignment = EMPTY;
      }
    }
    const wasEmpty = this.state === 'Empty';
    this.state = 'PreparingRebalance';
    this.onEvent('rebalance started', { reason, generationId: this.generationId });
    if (this.joinTimer) clearTimeout(this.joinTimer);
    if (wasEmpty && this.timeouts.initialRebalanceDelayMs > 0) {
      // Kafka's group.initial.rebalance.delay.ms (InitialDelayedJoin): let a
      // starting fleet join one rebalance. Each window in which a member
      // arrived earns another window, within the rebalance timeout in total.
      const delay = this.timeouts.initialRebalanceDelayMs;
      this.initialDelay = { remainingMs: Math.max(this.rebalanceTimeoutMs() - delay, 0), newMemberAdded: false };
      this.joinTimer = setTimeout(() => this.onInitialDelay(delay), delay);
    } else {
      this.initialDelay = null;
      this.joinTimer = setTimeout(() => this.completeJoin(), this.rebalanceTimeoutMs());
      this.maybeCompleteJoin();
    }
  }

  private onInitialDelay(delayMs: number): void {
    const d = this.initialDelay;
    if (d && d.newMemberAdded && d.remainingMs > 0) {
      d.newMemberAdded = false;
      const next = Math.min(this.timeouts.initialRebalanceDelayMs, d.remainingMs);
      d.remainingMs = Math.max(d.remainingMs - delayMs, 0);
      this.joinTimer = setTimeout(() => this.onInitialDelay(next), next);
      return;
    }
    this.initialDelay = null;
    if (this.allJoined()) return this.completeJoin();
    this.joinTimer = setTimeout(() => this.completeJoin(), this.rebalanceTimeoutMs());
  }

  private allJoined(): boolean {
    if (this.pending.size > 0) return false;
    for (const m of this.members.values()) if (!m.joinWaiter) return false;
    return true;
  }

  private maybeCompleteJoin(): void {
    if (this.state === 'PreparingRebalance' && !this.initialDelay && this.allJoined()) this.completeJoin();
  }

  private completeJoin(): void {
    if (this.state !== 'PreparingRebalance') return;
    if (this.joinTimer) clearTimeout(this.joinTimer);
    this.joinTimer = null;
    this.initialDelay = null;
    // Kafka's onCompleteJoin: dynamic members that did not rejoin are dropped;
    // static members keep their place (and their partitions) until their
    // session expires, so a restarting static member does not move partitions.
    for (const m of [...this.members.values()]) if (!m.joinWaiter && !m.groupInstanceId) this.removeMember(m, 'did not rejoin in time');
    const joined = [...this.members.values()].filter((m) => m.joinWaiter);
    if (this.members.size > 0 && joined.length === 0) {
      // Only static members that have not rejoined: wait for them or for their sessions to end.
      this.onEvent('rebalance postponed', { reason: 'no member rejoined', generationId: this.generationId });
      this.joinTimer = setTimeout(() => this.completeJoin(), this.rebalanceTimeoutMs());
      return;
    }
    this.generationId++;
    if (this.members.size === 0) {
      this.state = 'Empty';
      this.protocolName = null;
      this.leaderId = null;
      this.onEvent('group empty', { generationId: this.generationId });
      return;
    }
    // The leader must be a member that is here to receive the member list.
    if (!this.leaderId || !this.members.get(this.leaderId)?.joinWaiter) this.leaderId = joined[0]!.memberId;
    this.protocolName = this.selectProtocol();
    this.state = 'CompletingRebalance';
    this.onEvent('generation started', { generationId: this.generationId, protocol: this.protocolName, leader: this.leaderId, members: this.members.size });
    for (const m of this.members.values()) {
      const reply = m.joinWaiter;
      m.joinWaiter = null;
      this.touch(m);
      if (reply) reply(this.joinResultFor(m, false));
    }
    this.syncTimer = setTimeout(() => this.onSyncTimeout(), this.rebalanceTimeoutMs());
  }

  private selectProtocol(): string {
    const members = [...this.members.values()];
    const candidates = members[0]!.protocols.map((p) => p.name).filter((n) => members.every((m) => m.protocols.some((q) => q.name === n)));
    const votes = new Map<string, number>();
    for (const m of members) {
      const choice = m.protocols.find((p) => candidates.includes(p.name))!.name;
      votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    let best = candidates[0]!;
    for (const c of candidates) if ((votes.get(c) ?? 0) > (votes.get(best) ?? 0)) best = c;
    return best;
  }

  // ---------------------------------------------------------------- sync

  sync(p: SyncParams, reply: (r: SyncResult) => void): void {
    const fail = (errorCode: number) => reply({ errorCode, protocolType: null, protocolName: null, assignment: EMPTY });
    const invalid = this.validateMember(p.memberId, p.groupInstanceId);
    if (invalid !== ErrorCode.NONE) return fail(invalid);
    const m = this.members.get(p.memberId)!;
    if (p.generationId !== this.generationId) return fail(ErrorCode.ILLEGAL_GENERATION);
    if ((p.protocolType !== null && p.protocolType !== this.protocolType) || (p.protocolName !== null && p.protocolName !== this.protocolName)) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    switch (this.state) {
      case 'PreparingRebalance':
        return fail(ErrorCode.REBALANCE_IN_PROGRESS);
      case 'CompletingRebalance': {
        this.touch(m);
        if (m.syncWaiter) m.syncWaiter({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, protocolType: null, protocolName: null, assignment: EMPTY });
        m.syncWaiter = reply;
        if (m.memberId === this.leaderId && !this.storing) {
          const byId = new Map(p.assignments.map((a) => [a.memberId, a.assignment]));
          for (const x of this.members.values()) x.assignment = byId.get(x.memberId) ?? EMPTY;
          if (this.syncTimer) clearTimeout(this.syncTimer);
          this.syncTimer = null;
          const generation = this.generationId;
          const finish = (errorCode: number) => {
            this.storing = false;
            if (this.state !== 'CompletingRebalance' || this.generationId !== generation) return;
            if (errorCode !== ErrorCode.NONE) {
              // As Kafka: no member gets an assignment of a generation that is not stored (a
              // coordinator after this one would hand the same generation out again).
              for (const x of this.members.values()) {
                x.assignment = EMPTY;
                const r = x.syncWaiter;
                x.syncWaiter = null;
                r?.({ errorCode, protocolType: null, protocolName: null, assignment: EMPTY });
              }
              this.prepareRebalance('the group could not be stored');
              return;
            }
            this.state = 'Stable';
            this.onEvent('group stable', { generationId: this.generationId, members: this.members.size });
            for (const x of this.members.values()) {
              if (!x.syncWaiter) continue;
              const r = x.syncWaiter;
              x.syncWaiter = null;
              r({ errorCode: ErrorCode.NONE, protocolType: this.protocolType, protocolName: this.protocolName, assignment: x.assignment });
            }
          };
          if (!this.store) finish(ErrorCode.NONE);
          else {
            this.storing = true;
            this.store(this.snapshot()).then(
              () => finish(ErrorCode.NONE),
              () => finish(ErrorCode.COORDINATOR_NOT_AVAILABLE),
            );
          }
        }
        return;
      }
      case 'Stable':
        this.touch(m);
        return reply({ errorCode: ErrorCode.NONE, protocolType: this.protocolType, protocolName: this.protocolName, assignment: m.assignment });
      default:
        return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    }
  }

  private onSyncTimeout(): void {
    this.syncTimer = null;
    if (this.state !== 'CompletingRebalance') return;
    for (const m of [...this.members.values()]) if (!m.syncWaiter) this.removeMember(m, 'did not sync in time');
    this.prepareRebalance('the leader did not send its assignment in time');
  }

  // ---------------------------------------------------------------- heartbeat, leave, sessions

  heartbeat(memberId: string, groupInstanceId: string | null, generationId: number): number {
    const invalid = this.validateMember(memberId, groupInstanceId);
    if (invalid !== ErrorCode.NONE) return invalid;
    const m = this.members.get(memberId)!;
    if (generationId !== this.generationId) return ErrorCode.ILLEGAL_GENERATION;
    this.touch(m);
    return this.state === 'PreparingRebalance' ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  leave(memberId: string, groupInstanceId: string | null): number {
    let m: Member | undefined;
    if (groupInstanceId) {
      const id = this.staticMembers.get(groupInstanceId);
      m = id ? this.members.get(id) : undefined;
      if (!m) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (memberId && memberId !== m.memberId) return ErrorCode.FENCED_INSTANCE_ID;
    } else {
      const t = this.pending.get(memberId);
      if (t) {
        clearTimeout(t);
        this.pending.delete(memberId);
        this.maybeCompleteJoin();
        return ErrorCode.NONE;
      }
      m = this.members.get(memberId);
      if (!m) return ErrorCode.UNKNOWN_MEMBER_ID;
    }
    this.removeMember(m, 'left the group');
    this.afterMemberGone();
    return ErrorCode.NONE;
  }

  private afterMemberGone(): void {
    if (this.state === 'Stable' || this.state === 'CompletingRebalance') this.prepareRebalance('a member left');
    else if (this.state === 'PreparingRebalance') {
      if (this.members.size === 0 && this.pending.size === 0) this.completeJoin();
      else this.maybeCompleteJoin();
    }
  }

  private removeMember(m: Member, why: string): void {
    if (m.sessionTimer) clearTimeout(m.sessionTimer);
    m.sessionTimer = null;
    if (m.syncWaiter) m.syncWaiter({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, protocolType: null, protocolName: null, assignment: EMPTY });
    if (m.joinWaiter) m.joinWaiter(this.errorJoin(ErrorCode.UNKNOWN_MEMBER_ID, m.memberId));
    m.joinWaiter = null;
    m.syncWaiter = null;
    this.members.delete(m.memberId);
    if (m.groupInstanceId && this.staticMembers.get(m.groupInstanceId) === m.memberId) this.staticMembers.delete(m.groupInstanceId);
    if (this.leaderId === m.memberId) this.leaderId = null;
    this.onEvent('member removed', { memberId: m.memberId, groupInstanceId: m.groupInstanceId, why });
  }

  /** Restarts the member's session timer (Kafka: completeAndScheduleNextHeartbeatExpiration). */
  touch(m: Member): void {
    if (m.sessionTimer) clearTimeout(m.sessionTimer);
    m.sessionTimer = setTimeout(() => this.onSessionExpired(m), m.sessionTimeoutMs);
  }

  private onSessionExpired(m: Member): void {
    m.sessionTimer = null;
    if (this.members.get(m.memberId) !== m) return;
    // A member waiting on a join or sync barrier is alive: its request is open.
    if (m.joinWaiter || m.syncWaiter) return this.touch(m);
    this.removeMember(m, 'session timed out');
    this.afterMemberGone();
  }

  /** For OffsetCommit: Kafka's checks of who may commit in which state. */
  validateCommit(memberId: string, groupInstanceId: string | null, generationId: number): number {
    if (this.state === 'Dead') return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    // Kafka's validateOffsetCommit: generation -1 (admin client, or a consumer
    // without group management) may commit while the group is Empty, whatever
    // member id it sends.
    if (generationId < 0 && this.state === 'Empty') return ErrorCode.NONE;
    const invalid = this.validateMember(memberId, groupInstanceId);
    if (invalid !== ErrorCode.NONE) return invalid;
    const m = this.members.get(memberId)!;
    if (generationId !== this.generationId) return ErrorCode.ILLEGAL_GENERATION;
    if (this.state === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
    this.touch(m);
    return ErrorCode.NONE;
  }

  isEmpty(): boolean {
    return this.members.size === 0 && this.pending.size === 0 && this.state !== 'PreparingRebalance';
  }

  /** Ends every timer and open request (group deleted or coordinator shutting down). */
  shutdown(errorCode: number): void {
    for (const m of [...this.members.values()]) {
      if (m.sessionTimer) clearTimeout(m.sessionTimer);
      if (m.joinWaiter) m.joinWaiter(this.errorJoin(errorCode, m.memberId));
      if (m.syncWaiter) m.syncWaiter({ errorCode, protocolType: null, protocolName: null, assignment: EMPTY });
    }
    for (const t of this.pending.values()) clearTimeout(t);
    if (this.joinTimer) clearTimeout(this.joinTimer);
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.members.clear();
    this.pending.clear();
    this.state = 'Dead';
  }
}
