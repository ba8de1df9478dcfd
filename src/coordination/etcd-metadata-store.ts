// MetadataStore on etcd for a cluster of brokers sharing one bucket (design.md,
// "Coordination"). Keys, under --etcd-prefix:
//
//   cluster                       {clusterId}
//   brokers/<id>                  BrokerRecord, attached to the broker's lease
//   controller                    {brokerId}, attached to the controller's lease
//   topics/<name>                 TopicRecord
//   assign/<topicId>/<p>          {brokerId}: written by the controller
//   state/<topicId>/<p>           {leaderId, leaderEpoch, epochHistory, logStartOffset}
//   ranges/<topicId>/<p>/<base>   LogRange + the producer entries it changed
//   offsets/<group>/<topic>/<p>   committed offset
//   pids                          next free producer id
//
// The write guard: every WAL commit compares the mod revision of each
// partition's state key with the one this leader last wrote. A takeover
// rewrites the state key (new epoch) before reading the ranges, so a deposed
// leader's commit can never succeed after the new leader has read the log.

import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Etcd3, Range, isRecoverableError, type Lease, type Namespace, type Watcher } from 'etcd3';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import {
  partitionKey,
  TopicExistsError,
  UnknownTopicError,
  type BrokerRecord,
  type CommittedOffset,
  type EpochStart,
  type LogRange,
  type MetadataStore,
  type PartitionKey,
  type PartitionState,
  type ProducerStateEntry,
  type RangeReplacement,
  RangesNotReplaced,
  type StoredGroup,
  type TopicRecord,
  type WalCommit,
} from './metadata-store.js';
import { computeAssignment, refKey, type PartitionRef } from './assignment.js';
import { fromStoredOffset, toStoredOffset, type StoredOffset } from './manifest-state.js';
import { Limiter } from '../storage/limiter.js';
import { YieldPoint } from '../storage/yield-point.js';

export interface EtcdOptions {
  endpoints: string[];
  prefix: string;
  leaseTtlSeconds: number;
  /** etcd's --max-txn-ops (128 by default): commits are split to stay under it. */
  maxTxnOps: number;
  /** Deadline of one etcd call. */
  requestTimeoutMs: number;
}

interface StateValue {
  leaderId: number;
  leaderEpoch: number;
  epochHistory: EpochStart[];
  logStartOffset: number;
}

interface RangeValue extends LogRange {
  producers: ProducerStateEntry[];
}

const pad = (n: number) => n.toString().padStart(20, '0');
/** See readReferences. */
const REFERENCE_PAGE = 10_000;
/** The smallest key after another: itself followed by a zero byte. */
const ZERO_BYTE = Buffer.from([0]);
/** Revisions of history kept in etcd (the controller compacts older ones). */
const HISTORY_REVISIONS = 100_000;
const COMPACTION_INTERVAL_MS = 60_000;
const enc = encodeURIComponent;

/** Parses etcd://host:port[,host:port]. */
export function parseEtcdUrl(url: string): string[] {
  const m = /^etcd:\/\/(.+)$/.exec(url);
  if (!m) throw new Error(`bad etcd URL ${url}: use etcd://host:port[,host:port]`);
  return m[1]!.split(',').map((h) => `http://${h.replace(/\/+$/, '')}`);
}

export class EtcdMetadataStore extends EventEmitter implements MetadataStore {
  readonly description: string;
  readonly singleWriter = false;
  readonly orderedCommits = false;
  private readonly client: Etcd3;
  private readonly ns: Namespace;
  private lease: Lease | null = null;
  private self: BrokerRecord | null = null;
  private cluster = '';
  private readonly topicCache = new Map<string, TopicRecord>();
  private readonly brokerCache = new Map<number, BrokerRecord & { draining?: boolean }>();
  private readonly leaders = new Map<string, { leaderId: number; leaderEpoch: number }>();
  private readonly assignment = new Map<string, number>();
  /** Mod revision of each state key this broker last wrote as leader. */
  /**
   * Per partition this broker leads, the epoch it holds and the revision of
   * the state key that epoch wrote: a commit is guarded by that revision, and
   * only for appends of that epoch. (A commit of an earlier tenure, issued late,
   * once went through under the revision of a later one and overwrote what the
   * leader in between had committed.)
   */
  private readonly stateRevs = new Map<string, { epoch: number; rev: string }>();
  private watchers: Watcher[] = [];
  private controllerId = -1;
  private isController = false;
  private controllerTimer: NodeJS.Timeout | null = null;
  private compactionTimer: NodeJS.Timeout | null = null;
  private controllerRunning: Promise<void> | null = null;
  private controllerAgain = false;
  /** Send time of the keepalive whose answer arrived last: the lease lives at least TTL from then. */
  private leaseProvenAt = 0;
  private keepaliveSentAt = 0;
  private closed = false;
  private draining = false;
  private reRegistering: Promise<void> | null = null;

  constructor(
    private readonly opts: EtcdOptions,
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(100);
    this.description = `etcd:${opts.endpoints.join(',')}${opts.prefix}`;
    this.client = new Etcd3({
      hosts: opts.endpoints,
      dialTimeout: 3000,
      // gRPC's default 4 MiB answer limit: the ranges of a busy cluster pass it within minutes (a
      // takeover reads every range of its partition, WAL collection every range of the cluster).
      grpcOptions: { 'grpc.max_receive_message_length': -1 },
      // Deadlines for single calls only: watch and keepalive streams live on.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + opts.requestTimeoutMs }),
      faultHandling: {
        // Retry a call that could not reach etcd; give a restarted etcd a chance within a second.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 3, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) }),
      },
    });
    this.ns = this.client.namespace(opts.prefix.endsWith('/') ? opts.prefix : `${opts.prefix}/`);
  }

  // ------------------------------------------------------------ start, watches

  async start(): Promise<void> {
    const fresh = { clusterId: randomBytes(16).toString('base64url') };
    await this.ns.if('cluster', 'Create', '==', 0).then(this.ns.put('cluster').value(JSON.stringify(fresh))).commit();
    this.cluster = (JSON.parse((await this.ns.get('cluster').string())!) as { clusterId: string }).clusterId;
    await this.loadAndWatch('topics/', (k, v) => {
      if (v === null) this.topicCache.delete(decodeURIComponent(k));
      else this.topicCache.set(decodeURIComponent(k), JSON.parse(v) as TopicRecord);
      this.emit('topics');
      this.kickController();
    });
    await this.loadAndWatch('brokers/', (k, v) => {
      if (v === null) this.brokerCache.delete(Number(k));
      else this.brokerCache.set(Number(k), JSON.parse(v) as BrokerRecord);
      this.emit('brokers');
      this.kickController();
    });
    await this.loadAndWatch('state/', (k, v) => {
      if (v === null) this.leaders.delete(k.replace('/', ':'));
      else {
        const s = JSON.parse(v) as StateValue;
        this.leaders.set(k.replace('/', ':'), { leaderId: s.leaderId, leaderEpoch: s.leaderEpoch });
      }
      this.emit('leaders');
    });
    await this.loadAndWatch('assign/', (k, v) => {
      if (v === null) this.assignment.delete(k.replace('/', ':'));
      else this.assignment.set(k.replace('/', ':'), (JSON.parse(v) as { brokerId: number }).brokerId);
      this.emit('assignment');
    });
    await this.loadAndWatch('controller', (_k, v) => {
      this.controllerId = v === null ? -1 : (JSON.parse(v) as { brokerId: number }).brokerId;
      if (v === null) void this.campaign();
    });
    this.compactionTimer = setInterval(
      () => void this.compactHistory().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'etcd history compaction failed')),
      COMPACTION_INTERVAL_MS,
    );
    this.compactionTimer.unref();
    this.log.info({ store: this.description, clusterId: this.cluster, topics: this.topicCache.size, brokers: this.brokerCache.size }, 'metadata loaded');
  }

  /**
   * Reads a prefix, then follows it from the next revision on: no change
   * slips between the two. If the watch breaks for good (its revision was
   * compacted away while it was disconnected), the prefix is read again and
   * keys that vanished meanwhile are reported deleted.
   */
  private async loadAndWatch(prefix: string, apply: (key: string, value: string | null) => void): Promise<void> {
    const known = new Set<string>();
    const res = await this.ns.getAll().prefix(prefix).exec();
    for (const kv of res.kvs) {
      const k = kv.key.toString().slice(prefix.length);
      known.add(k);
      apply(k, kv.value.toString());
    }
    const w = await this.ns
      .watch()
      .prefix(prefix)
      .startRevision(String(BigInt(res.header.revision) + 1n))
      .create();
    w.on('put', (kv) => {
      const k = kv.key.toString().slice(prefix.length);
      known.add(k);
      apply(k, kv.value.toString());
    });
    w.on('delete', (kv) => {
      const k = kv.key.toString().slice(prefix.length);
      known.delete(k);
      apply(k, null);
    });
    w.on('disconnected', () => this.log.warn({ prefix }, 'etcd watch disconnected; reconnecting'));
    w.on('connected', () => this.log.debug({ prefix }, 'etcd watch connected'));
    w.on('error', (err) => {
      this.log.warn({ err: err.message, prefix }, 'etcd watch failed; reading the prefix again');
      this.watchers = this.watchers.filter((x) => x !== w);
      void w.cancel().catch(() => {});
      const resync = async (): Promise<void> => {
        for (let attempt = 0; !this.closed; attempt++) {
          try {
            const now = await this.ns.getAll().prefix(prefix).keys();
            const present = new Set(now.map((k) => k.slice(prefix.length)));
            for (const k of known) if (!present.has(k)) apply(k, null);
            await this.loadAndWatch(prefix, apply);
            return;
          } catch {
            await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
          }
        }
      };
      void resync();
    });
    this.watchers.push(w);
  }

  /**
   * etcd keeps every revision until compacted: the controller compacts the
   * history older than HISTORY_REVISIONS now and then, so that a busy cluster
   * (one range key per partition per flush) does not fill etcd's quota.
   */
  private async compactHistory(): Promise<void> {
    if (!this.isController || this.closed) return;
    const head = await this.ns.get('cluster').exec();
    const revision = BigInt(head.header.revision) - BigInt(HISTORY_REVISIONS);
    if (revision <= 0n) return;
    try {
      await this.ns.kv.compact({ revision: revision.toString(), physical: false });
    } catch (err) {
      if (!/compacted/i.test((err as Error).message)) throw err;
    }
  }

  // ------------------------------------------------------------ brokers and leases

  private grantLease(): Lease {
    const lease = this.ns.lease(this.opts.leaseTtlSeconds);
    // Only the current lease speaks: a replaced one's late events change nothing.
    lease.on('keepaliveFired', () => {
      if (this.lease === lease) this.keepaliveSentAt = Date.now();
    });
    lease.on('keepaliveSucceeded', () => {
      if (this.lease === lease) this.leaseProvenAt = this.keepaliveSentAt || Date.now();
    });
    lease.on('lost', (err) => {
      if (this.closed || this.lease !== lease) return;
      this.leaseProvenAt = 0;
      this.isController = false;
      // Before re-registering: what this broker held under the lost lease (group coordination) is stale.
      this.emit('lease-lost');
      if (this.reRegistering) return;
      this.log.error({ err: err?.message }, 'etcd lease lost: re-registering');
      this.reRegister();
    });
    return lease;
  }

  /**
   * @param previousLeaseId this process's lease before it lost touch with
   *   etcd: a key still held by it is ours and moves to the new lease at once
   *   (no delete, so the controller moves nothing), instead of waiting for
   *   it to expire, with every partition of this broker moving away and back.
   */
  async registerBroker(broker: BrokerRecord, previousLeaseId?: string): Promise<void> {
    this.self = broker;
    const started = Date.now();
    // A previous incarnation's key lives until its lease expires: wait it out.
    for (;;) {
      this.lease = this.grantLease();
      const granted = Date.now();
      await this.lease.grant();
      this.leaseProvenAt = granted;
      const key = `brokers/${broker.brokerId}`;
      const put = this.ns.put(key).value(JSON.stringify(broker)).lease(await this.lease.grant());
      let res = await this.ns.if(key, 'Create', '==', 0).then(put).commit();
      if (!res.succeeded && previousLeaseId) {
        res = await this.ns.if(key, 'Lease', '==', previousLeaseId).then(this.ns.put(key).value(JSON.stringify(broker)).lease(await this.lease.grant())).commit();
      }
      if (res.succeeded) break;
      await this.lease.revoke().catch(() => {});
      if (Date.now() - started > 3 * this.opts.leaseTtlSeconds * 1000) {
        throw new Error(`broker id ${broker.brokerId} is registered by a live broker`);
      }
      this.log.warn({ brokerId: broker.brokerId }, 'broker id still registered (previous process?); waiting for its lease to expire');
      await new Promise((r) => setTimeout(r, 500));
    }
    this.brokerCache.set(broker.brokerId, broker);
    this.log.info({ brokerId: broker.brokerId, leaseTtlSeconds: this.opts.leaseTtlSeconds }, 'broker registered');
    await this.campaign();
    this.kickController();
  }

  /**
   * One re-registration loop at a time: a lease that cannot even be granted
   * (etcd unreachable) reports itself lost, and each report used to start
   * another loop, thousands within seconds.
   */
  private reRegister(): void {
    if (this.reRegistering || this.closed) return;
    this.reRegistering = (async () => {
      // The old lease may still live in etcd (etcd restarted, or only we lost
      // touch): our broker key moves to the new lease, then the old lease is
      // revoked (a controller key on it goes now, not a TTL later).
      const old = this.lease;
      const oldId = old ? await old.grant().catch(() => undefined) : undefined;
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          if (this.self) await this.registerBroker(this.self, oldId);
          if (old) await old.revoke().catch(() => {});
          this.log.info({ attempt }, 're-registered');
          this.emit('assignment');
          return;
        } catch (err) {
          this.log.warn({ err: (err as Error).message, attempt }, 're-registration failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(2000, 250 * 2 ** attempt)));
        }
      }
    })().finally(() => {
      this.reRegistering = null;
    });
  }

  brokers(): BrokerRecord[] {
    return [...this.brokerCache.values()].map(({ brokerId, host, port, rack }) => ({ brokerId, host, port, rack }));
  }

  writable(): boolean {
    return this.leaseProvenAt > 0 && Date.now() < this.writableUntil();
  }

  /** Stop before the lease could have expired: one keepalive interval of margin. */
  private writableUntil(): number {
    const margin = Math.max(1000, (this.opts.leaseTtlSeconds * 1000) / 3);
    return this.leaseProvenAt + this.opts.leaseTtlSeconds * 1000 - margin;
  }

  /**
   * Bounds a commit by the lease: once this broker can no longer prove its
   * membership, the commit's outcome is reported unknown (its partitions are
   * fenced and reloaded) instead of holding every later produce request
   * behind an etcd call that may hang for several request deadlines and
   * retries. Whether it lands later does not matter: it is guarded by the
   * state keys' revisions like any other.
   */
  private whileLeased<T>(work: Promise<T>): Promise<T> {
    if (!this.self) return work;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const check = () => {
        if (!this.writable()) {
          reject(new Error('lease in doubt (etcd unreachable): commit outcome unknown'));
          return;
        }
        timer = setTimeout(check, Math.max(10, this.writableUntil() - Date.now()));
      };
      check();
      work.then(
        (v) => {
          if (timer) clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          if (timer) clearTimeout(timer);
          reject(err as Error);
        },
      );
    });
  }

  assignedPartitions(): Array<{ topicId: string; partition: number }> {
    if (!this.self || this.draining) return [];
    const out = [];
    for (const [key, b] of this.assignment) {
      if (b !== this.self.brokerId) continue;
      const i = key.lastIndexOf(':');
      out.push({ topicId: key.slice(0, i), partition: Number(key.slice(i + 1)) });
    }
    return out;
  }

  /** Graceful shutdown, step one: ask the controller to move every partition away. */
  async drain(timeoutMs: number): Promise<void> {
    if (!this.self || !this.lease) return;
    this.draining = true;
    this.emit('assignment');
    const key = `brokers/${this.self.brokerId}`;
    await this.ns.put(key).value(JSON.stringify({ ...this.self, draining: true })).lease(await this.lease.grant());
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && [...this.assignment.values()].some((b) => b === this.self!.brokerId)) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // ------------------------------------------------------------ controller

  private async campaign(): Promise<void> {
    if (!this.self || !this.lease || this.closed) return;
    try {
      const res = await this.ns
        .if('controller', 'Create', '==', 0)
        .then(this.ns.put('controller').value(JSON.stringify({ brokerId: this.self.brokerId })).lease(await this.lease.grant()))
        .commit();
      if (res.succeeded) {
        this.isController = true;
        this.controllerId = this.self.brokerId;
        this.log.info({ brokerId: this.self.brokerId }, 'became controller');
        this.kickController();
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'controller campaign failed');
    }
  }

  private kickController(): void {
    if (!this.isController || this.closed) return;
    if (this.controllerRunning) {
      this.controllerAgain = true;
      return;
    }
    this.controllerRunning = this.rebalance()
      .catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'assignment failed; will retry');
        if (!this.controllerTimer) {
          this.controllerTimer = setTimeout(() => {
            this.controllerTimer = null;
            this.kickController();
          }, 1000);
        }
      })
      .finally(() => {
        this.controllerRunning = null;
        if (this.controllerAgain) {
          this.controllerAgain = false;
          this.kickController();
        }
      });
  }

  /** The controller's one job: write the assignment for the live, non-draining brokers. */
  private async rebalance(): Promise<void> {
    const live = [...this.brokerCache.values()].filter((b) => !b.draining).map((b) => b.brokerId);
    const topics = [...this.topicCache.values()].map((t) => ({ topicId: t.topicId, partitions: t.partitions }));
    const next = computeAssignment(topics, live, this.assignment);
    const ops: Array<{ key: string; value: number | null }> = [];
    for (const [k, b] of next) if (this.assignment.get(k) !== b) ops.push({ key: k, value: b });
    for (const k of this.assignment.keys()) if (!next.has(k)) ops.push({ key: k, value: null });
    if (ops.length === 0) return;
    const me = JSON.stringify({ brokerId: this.self!.brokerId });
    for (let i = 0; i < ops.length; i += this.opts.maxTxnOps - 1) {
      const chunk = ops.slice(i, i + this.opts.maxTxnOps - 1);
      const res = await this.ns
        .if('controller', 'Value', '==', me)
        .then(
          ...chunk.map((o) => {
            const key = `assign/${o.key.replace(':', '/')}`;
            return o.value === null ? this.ns.delete().key(key) : this.ns.put(key).value(JSON.stringify({ brokerId: o.value }));
          }),
        )
        .commit();
      if (!res.succeeded) {
        this.isController = false;
        this.log.warn({}, 'no longer controller');
        return;
      }
    }
    this.log.info({ moved: ops.length, brokers: live }, 'partition assignment written');
  }

  // ------------------------------------------------------------ topics

  clusterId(): string {
    return this.cluster;
  }

  topics(): ReadonlyMap<string, TopicRecord> {
    return this.topicCache;
  }

  async createTopic(topic: TopicRecord): Promise<void> {
    const key = `topics/${enc(topic.name)}`;
    const res = await this.ns.if(key, 'Create', '==', 0).then(this.ns.put(key).value(JSON.stringify(topic))).commit();
    if (!res.succeeded) throw new TopicExistsError(topic.name);
    this.topicCache.set(topic.name, topic);
    this.emit('topics');
    this.kickController();
  }

  async deleteTopic(name: string): Promise<void> {
    const t = this.topicCache.get(name);
    if (!t) throw new UnknownTopicError(name);
    await this.ns
      .if(`topics/${enc(name)}`, 'Create', '>', 0)
      .then(
        this.ns.delete().key(`topics/${enc(name)}`),
        this.ns.delete().prefix(`assign/${t.topicId}/`),
        this.ns.delete().prefix(`state/${t.topicId}/`),
        this.ns.delete().prefix(`ranges/${t.topicId}/`),
      )
      .commit();
    this.topicCache.delete(name);
    this.emit('topics');
    this.kickController();
    await this.deleteOffsetsOfTopic(name);
  }

  /**
   * Every group's committed offsets of a deleted topic (keyed by group first,
   * so found by a scan of the keys). After the topic's own deletion, not in
   * its transaction: the offsets of many groups can exceed a transaction's
   * operations; a broker that stops in between leaves offsets that a topic
   * created again under the name would inherit, as before this existed.
   */
  private async deleteOffsetsOfTopic(name: string): Promise<void> {
    const keys = await this.ns.getAll().prefix('offsets/').keys();
    const doomed = keys.filter((k) => k.split('/')[2] === enc(name));
    for (let i = 0; i < doomed.length; i += this.opts.maxTxnOps) {
      await this.ns
        .if('cluster', 'Create', '>', 0)
        .then(...doomed.slice(i, i + this.opts.maxTxnOps).map((k) => this.ns.delete().key(k)))
        .commit();
    }
  }

  private async updateTopic(name: string, change: (t: TopicRecord) => TopicRecord): Promise<void> {
    const key = `topics/${enc(name)}`;
    for (;;) {
      const kv = (await this.ns.get(key).exec()).kvs[0];
      if (!kv) throw new UnknownTopicError(name);
      const next = change(JSON.parse(kv.value.toString()) as TopicRecord);
      const ok = await this.ns.if(key, 'Mod', '==', kv.mod_revision).then(this.ns.put(key).value(JSON.stringify(next))).commit();
      if (ok.succeeded) {
        this.topicCache.set(name, next);
        this.emit('topics');
        this.kickController();
        return;
      }
    }
  }

  setPartitionCount(name: string, count: number): Promise<void> {
    return this.updateTopic(name, (t) => {
      if (count < t.partitions) throw new Error(`cannot shrink ${name}`);
      return { ...t, partitions: count };
    });
  }

  setTopicConfigs(name: string, configs: Record<string, string>): Promise<void> {
    return this.updateTopic(name, (t) => ({ ...t, configs }));
  }

  // ------------------------------------------------------------ partitions

  leaderOf(topicId: string, partition: number): { leaderId: number; leaderEpoch: number } | undefined {
    const l = this.leaders.get(`${topicId}:${partition}`);
    if (!l || l.leaderId < 0 || !this.brokerCache.has(l.leaderId)) return undefined;
    // Our own record of leading it is stale once our lease is in doubt.
    if (this.self && l.leaderId === this.self.brokerId && !this.writable()) return undefined;
    return l;
  }

  private async readState(topicId: string, partition: number): Promise<{ value: StateValue | null; modRevision: string }> {
    const key = `state/${topicId}/${partition}`;
    const kv = (await this.ns.get(key).exec()).kvs[0];
    return kv ? { value: JSON.parse(kv.value.toString()) as StateValue, modRevision: kv.mod_revision } : { value: null, modRevision: '0' };
  }

  /** Each partition has its own keys and revision guard: one transaction per partition, a few at a time. */
  async acquirePartitions(topicId: string, partitions: number[], brokerId: number): Promise<PartitionState[]> {
    const limit = new Limiter(16);
    return Promise.all(partitions.map((n) => limit.run(() => this.acquirePartition(topicId, n, brokerId))));
  }

  async acquirePartition(topicId: string, partition: number, brokerId: number): Promise<PartitionState> {
    const key = `state/${topicId}/${partition}`;
    const assignKey = `assign/${topicId}/${partition}`;
    const me = JSON.stringify({ brokerId });
    // Step 1: a new epoch, so that the previous leader can commit nothing more.
    let bumped: StateValue;
    let rev: string;
    for (;;) {
      const cur = await this.readState(topicId, partition);
      const prev = cur.value ?? { leaderId: -1, leaderEpoch: -1, epochHistory: [], logStartOffset: 0 };
      bumped = { ...prev, leaderId: brokerId, leaderEpoch: prev.leaderEpoch + 1 };
      const res = await this.ns
        .if(key, 'Mod', '==', cur.modRevision)
        .and(assignKey, 'Value', '==', me)
        .then(this.ns.put(key).value(JSON.stringify(bumped)))
        .commit();
      if (res.succeeded) {
        rev = res.header.revision;
        break;
      }
      const assigned = await this.ns.get(assignKey).string();
      if (assigned !== me) throw new Error(`partition ${topicId}/${partition} is not assigned to broker ${brokerId}`);
    }
    // Step 2: the log as committed, now that it can no longer change under us.
    const rangesRes = await this.ns.getAll().prefix(`ranges/${topicId}/${partition}/`).exec();
    const { kept: values, covered } = dropCoveredRanges(
      rangesRes.kvs.map((kv) => JSON.parse(kv.value.toString()) as RangeValue).sort((a, b) => a.baseOffset - b.baseOffset),
    );
    if (covered.length) {
      // Left by a replacement that was cut short; ours to clean now that the epoch is ours.
      const prefix = `ranges/${topicId}/${partition}/`;
      for (let i = 0; i < covered.length; i += this.opts.maxTxnOps) {
        const ops = covered.slice(i, i + this.opts.maxTxnOps).map((v) => this.ns.delete().key(`${prefix}${pad(v.baseOffset)}`));
        await this.ns.if(key, 'Mod', '==', rev).then(...ops).commit();
      }
      this.log.warn({ topicId, partition, ranges: covered.length }, 'dropped ranges covered by a segment (a compaction was cut short)');
    }
    const producers = new Map<number, ProducerStateEntry>();
    for (const v of values) for (const p of v.producers) producers.set(p.producerId, p);
    const hw = values.length ? values[values.length - 1]!.nextOffset : bumped.logStartOffset;
    const history = [...bumped.epochHistory];
    const last = history[history.length - 1];
    if (last && last.startOffset === hw) last.epoch = bumped.leaderEpoch;
    else history.push({ epoch: bumped.leaderEpoch, startOffset: hw });
    const final: StateValue = { ...bumped, epochHistory: history };
    const res2 = await this.ns.if(key, 'Mod', '==', rev).then(this.ns.put(key).value(JSON.stringify(final))).commit();
    if (!res2.succeeded) throw new Error(`partition ${topicId}/${partition} was taken over while opening`);
    this.stateRevs.set(partitionKey(topicId, partition), { epoch: final.leaderEpoch, rev: res2.header.revision });
    const logStart = final.logStartOffset;
    return {
      topicId,
      partition,
      leaderId: brokerId,
      leaderEpoch: final.leaderEpoch,
      epochHistory: history,
      logStartOffset: logStart,
      highWatermark: hw,
      ranges: values.filter((v) => v.nextOffset > logStart).map(({ producers: _p, ...r }) => r),
      producers: [...producers.values()],
    };
  }

  commitWal(commit: WalCommit): Promise<{ fenced: PartitionKey[] }> {
    const work = this.commitWalUnbounded(commit);
    work.catch(() => {});
    return this.whileLeased(work);
  }

  /** The state revision that guards a write of `leaderEpoch`'s tenure; null when this broker holds another epoch (or none). */
  private guard(topicId: string, partition: number, leaderEpoch: number): string | null {
    const held = this.stateRevs.get(partitionKey(topicId, partition));
    return held && held.epoch === leaderEpoch ? held.rev : null;
  }

  private async commitWalUnbounded(commit: WalCommit): Promise<{ fenced: PartitionKey[] }> {
    const fenced: PartitionKey[] = [];
    const perTxn = Math.max(1, Math.floor(this.opts.maxTxnOps / 2));
    for (let i = 0; i < commit.appends.length; i += perTxn) {
      let chunk = commit.appends.slice(i, i + perTxn);
      while (chunk.length) {
        // Appends of an epoch this broker no longer holds are fenced without asking etcd.
        const stale = chunk.filter((a) => this.guard(a.topicId, a.partition, a.leaderEpoch) === null);
        if (stale.length) {
          fenced.push(...stale.map((a) => partitionKey(a.topicId, a.partition)));
          chunk = chunk.filter((a) => !stale.includes(a));
          if (chunk.length === 0) break;
        }
        let txn = null as ReturnType<Namespace['if']> | null;
        const revs = chunk.map((a) => this.guard(a.topicId, a.partition, a.leaderEpoch)!);
        chunk.forEach((a, j) => {
          const sk = `state/${a.topicId}/${a.partition}`;
          txn = txn ? txn.and(sk, 'Mod', '==', revs[j]!) : this.ns.if(sk, 'Mod', '==', revs[j]!);
        });
        const res = await txn!
          .then(
            ...chunk.map((a) =>
              this.ns
                .put(`ranges/${a.topicId}/${a.partition}/${pad(a.range.baseOffset)}`)
                .value(JSON.stringify({ ...a.range, producers: a.producers } satisfies RangeValue)),
            ),
          )
          .commit();
        if (res.succeeded) break;
        // Which guard failed? The ones whose state key moved on.
        const lost: PartitionKey[] = [];
        for (const [j, a] of chunk.entries()) {
          const cur = await this.readState(a.topicId, a.partition);
          if (cur.modRevision !== revs[j]) lost.push(partitionKey(a.topicId, a.partition));
        }
        if (lost.length === 0) throw new Error('etcd commit failed without a fenced partition');
        fenced.push(...lost);
        chunk = chunk.filter((a) => !lost.includes(partitionKey(a.topicId, a.partition)));
      }
    }
    return { fenced };
  }

  /**
   * One transaction, whatever the number of ranges replaced: a range read of
   * their keys (for their producer state), then, guarded by the partition's
   * state, a delete of every key after the first up to the last and a put of
   * the segment at the first. A key between the first and the last replaced
   * is covered by the segment, whatever it is. (A delete per range, 126 to a
   * transaction, made a compaction of a quiet partition's 1,000 ranges eight
   * transactions, each a point where a takeover could leave it half done.)
   */
  async replaceRanges(r: RangeReplacement): Promise<void> {
    const pk = partitionKey(r.topicId, r.partition);
    const rev = this.guard(r.topicId, r.partition, r.leaderEpoch);
    if (rev === null) throw new RangesNotReplaced(`partition ${pk}: epoch ${r.leaderEpoch} is no longer held here`);
    const prefix = `ranges/${r.topicId}/${r.partition}/`;
    const first = `${prefix}${pad(r.range.baseOffset)}`;
    // Not Math.max(...): a backlog's replacement can name more offsets than a call takes arguments.
    const last = `${prefix}${pad(r.replacedBaseOffsets.reduce((m, b) => Math.max(m, b), r.range.baseOffset))}`;
    // End exclusive: the smallest key after the last.
    const replaced = new Range(first, Buffer.concat([Buffer.from(last), ZERO_BYTE]));
    // The segment keeps the producer state of the runs it replaces.
    const producers = new Map<number, ProducerStateEntry>();
    for (const v of Object.values(await this.ns.getAll().inRange(replaced).strings())) for (const p of (JSON.parse(v) as RangeValue).producers) producers.set(p.producerId, p);
    const ops = [this.ns.put(first).value(JSON.stringify({ ...r.range, producers: [...producers.values()] } satisfies RangeValue))] as never[];
    // etcd refuses a transaction whose put falls in its delete's range: the delete starts after the first key.
    if (last !== first) ops.push(this.ns.delete().inRange(new Range(Buffer.concat([Buffer.from(first), ZERO_BYTE]), replaced.end)) as never);
    const res = await this.ns.if(`state/${r.topicId}/${r.partition}`, 'Mod', '==', rev).then(...ops).commit();
    if (!res.succeeded) throw new RangesNotReplaced(`partition ${pk} was taken over during compaction`);
  }

  async setLogStartOffset(topicId: string, partition: number, leaderEpoch: number, offset: number): Promise<void> {
    const pk = partitionKey(topicId, partition);
    const cur = await this.readState(topicId, partition);
    if (!cur.value || cur.value.leaderEpoch !== leaderEpoch || cur.modRevision !== this.guard(topicId, partition, leaderEpoch)) throw new Error(`partition ${pk}: leadership lost`);
    if (offset <= cur.value.logStartOffset) return;
    const next: StateValue = { ...cur.value, logStartOffset: offset };
    const res = await this.ns.if(`state/${topicId}/${partition}`, 'Mod', '==', cur.modRevision).then(this.ns.put(`state/${topicId}/${partition}`).value(JSON.stringify(next))).commit();
    if (!res.succeeded) throw new Error(`partition ${pk}: leadership lost`);
    this.stateRevs.set(pk, { epoch: leaderEpoch, rev: res.header.revision });
    // Ranges wholly below the new start are forgotten.
    const ranges = await this.ns.getAll().prefix(`ranges/${topicId}/${partition}/`).exec();
    for (const kv of ranges.kvs) {
      const v = JSON.parse(kv.value.toString()) as RangeValue;
      if (v.nextOffset <= offset) await this.ns.delete().key(kv.key.toString());
    }
  }

  async allocateProducerIds(count: number): Promise<number> {
    for (;;) {
      const kv = (await this.ns.get('pids').exec()).kvs[0];
      const next = kv ? Number(kv.value.toString()) : 1000;
      const ok = await this.ns
        .if('pids', 'Mod', '==', kv?.mod_revision ?? '0')
        .then(this.ns.put('pids').value(String(next + count)))
        .commit();
      if (ok.succeeded) return next;
    }
  }

  /**
   * Every object a range references, but for the partitions in `except`. With
   * none left out, every range is read; otherwise only the ranges of the
   * partitions the topics hold outside `except` (a broker's collector leaves
   * out the partitions it leads: on one broker, nothing is read). Ranges of a
   * topic this store does not know yet can only reference objects written for
   * it, after it was created by a broker that knew it.
   */
  async referencedObjects(except?: ReadonlySet<PartitionKey>, pageSize = REFERENCE_PAGE): Promise<Set<string>> {
    const out = new Set<string>();
    const turn = new YieldPoint();
    if (!except || except.size === 0) {
      await this.readReferences('ranges/', out, turn, pageSize);
      return out;
    }
    for (const t of [...this.topics().values()]) {
      const others: number[] = [];
      for (let p = 0; p < t.partitions; p++) if (!except.has(partitionKey(t.topicId, p))) others.push(p);
      if (others.length === t.partitions) await this.readReferences(`ranges/${t.topicId}/`, out, turn, pageSize);
      else for (const p of others) await this.readReferences(`ranges/${t.topicId}/${p}/`, out, turn, pageSize);
    }
    return out;
  }

  /**
   * The objects the ranges under `prefix` reference, read pageSize ranges per
   * request and parsed between turns of the event loop. One request of every
   * range blocked the broker for about 4 s with 600,000 ranges (1,000 quiet
   * partitions after a minute), and held their JSON at once.
   */
  private async readReferences(prefix: string, out: Set<string>, turn: YieldPoint, pageSize: number): Promise<void> {
    const all = Range.prefix(prefix);
    for (let start = all.start; ; ) {
      const res = await this.ns.getAll().inRange(new Range(start, all.end)).limit(pageSize).exec();
      for (const kv of res.kvs) {
        out.add((JSON.parse(kv.value.toString()) as RangeValue).key);
        await turn.maybe();
      }
      if (!res.more || res.kvs.length === 0) return;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, ZERO_BYTE]);
    }
  }

  // ------------------------------------------------------------ committed offsets

  async commitOffsets(group: string, offsets: Array<{ topic: string; partition: number; value: CommittedOffset }>): Promise<void> {
    for (let i = 0; i < offsets.length; i += this.opts.maxTxnOps) {
      const chunk = offsets.slice(i, i + this.opts.maxTxnOps);
      await this.ns
        .if('cluster', 'Create', '>', 0)
        .then(...chunk.map((o) => this.ns.put(`offsets/${enc(group)}/${enc(o.topic)}/${o.partition}`).value(JSON.stringify(toStoredOffset(o.value)))))
        .commit();
    }
  }

  async fetchOffsets(group: string): Promise<Map<string, Map<number, CommittedOffset>>> {
    const prefix = `offsets/${enc(group)}/`;
    const res = await this.ns.getAll().prefix(prefix).strings();
    const out = new Map<string, Map<number, CommittedOffset>>();
    for (const [k, v] of Object.entries(res)) {
      const [topic, p] = k.slice(prefix.length).split('/') as [string, string];
      const name = decodeURIComponent(topic);
      let t = out.get(name);
      if (!t) out.set(name, (t = new Map()));
      t.set(Number(p), fromStoredOffset(JSON.parse(v) as StoredOffset));
    }
    return out;
  }

  async deleteOffsets(group: string, partitions: Array<{ topic: string; partition: number }> | 'all'): Promise<void> {
    if (partitions === 'all') {
      await this.ns.delete().prefix(`offsets/${enc(group)}/`);
      return;
    }
    for (const p of partitions) await this.ns.delete().key(`offsets/${enc(group)}/${enc(p.topic)}/${p.partition}`);
  }

  async saveGroup(group: string, state: StoredGroup | null): Promise<void> {
    if (state) await this.ns.put(`groups/${enc(group)}`).value(JSON.stringify(state));
    else await this.ns.delete().key(`groups/${enc(group)}`);
  }

  async loadGroup(group: string): Promise<StoredGroup | null> {
    const v = await this.ns.get(`groups/${enc(group)}`).string();
    return v ? (JSON.parse(v) as StoredGroup) : null;
  }

  async groupsWithOffsets(): Promise<string[]> {
    const keys = await this.ns.getAll().prefix('offsets/').keys();
    const groups = new Set<string>();
    for (const k of keys) groups.add(decodeURIComponent(k.slice('offsets/'.length).split('/')[0]!));
    return [...groups];
  }

  // ------------------------------------------------------------ close

  async close(): Promise<void> {
    this.closed = true;
    if (this.controllerTimer) clearTimeout(this.controllerTimer);
    if (this.compactionTimer) clearInterval(this.compactionTimer);
    await this.controllerRunning;
    for (const w of this.watchers) await w.cancel().catch(() => {});
    // Revoking the lease removes the broker (and controller) key at once: no TTL wait for the others.
    await this.lease?.revoke().catch(() => {});
    this.client.close();
  }
}

export function refOf(key: string): PartitionRef {
  const i = key.lastIndexOf(':');
  return { topicId: key.slice(0, i), partition: Number(key.slice(i + 1)) };
}

export { refKey };

/**
 * Ranges wholly inside an earlier one (sorted by base offset): a replacement
 * cut short between its transactions leaves the new segment's range next to
 * some of the ranges it replaced. Their records, producer state included,
 * are in the segment.
 */
export function dropCoveredRanges<T extends { baseOffset: number; nextOffset: number }>(sorted: T[]): { kept: T[]; covered: T[] } {
  const kept: T[] = [];
  const covered: T[] = [];
  let end = -Infinity;
  for (const v of sorted) {
    if (v.nextOffset <= end) {
      covered.push(v);
      continue;
    }
    kept.push(v);
    end = Math.max(end, v.nextOffset);
  }
  return { kept, covered };
}
