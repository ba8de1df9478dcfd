// The system under test of a fault scenario: one broker on embedded metadata,
// or N brokers on etcd; objects in a directory shared by the brokers
// (file://) or in s3rver. Every broker sits behind a recording KafkaProxy
// (lib/proxy.ts) that it advertises, so all client traffic passes through a
// switch the scenario controls and the group traffic lands in the history;
// with etcdProxies each broker reaches etcd through test/cluster's EtcdProxy
// (cut/heal). Built from test/helpers (startBroker, startEtcd, startS3rver)
// and test/cluster (EtcdProxy, waitFor).
//
// Usage:
//   const c = await FaultCluster.start({ brokers: 3, storage: 's3', leaseTtlSeconds: 2, record: (e) => h.add(e) });
//   await c.createTopic('a', 4);
//   c.bootstrap()                       // every broker's proxy address, for clients
//   await c.kill(2); await c.restart(2); c.pause(1); c.resume(1);
//   await c.leaders('a')                // partition -> leader, as a running broker answers
//   c.proxies.get(1)!.cut(); c.etcdProxies.get(1)!.cut(); await c.etcd!.kill('SIGSTOP')
//   await c.stop();

import fs from 'node:fs';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaClient } from '../../../src/client/kafka-client.js';
import { FindCoordinatorApi } from '../../../src/protocol/generated/find-coordinator.js';
import { MetadataApi } from '../../../src/protocol/generated/metadata.js';
import { ZERO_UUID } from '../../../src/protocol/generated/types.js';
import { BROKER_CLI, startBroker, type BrokerProcess } from '../../helpers/broker.js';
import { startEtcd, type EtcdProcess } from '../../helpers/etcd.js';
import { freePort } from '../../helpers/ports.js';
import { makeTempDir } from '../../helpers/process.js';
import { startS3rver, type S3rverProcess } from '../../helpers/s3rver.js';
import { EtcdProxy, waitFor } from '../../cluster/cluster.js';
import type { HistoryEvent } from './history.js';
import { KafkaProxy } from './proxy.js';

export interface FaultClusterOptions {
  /** Number of brokers (ids 1..N). */
  brokers: number;
  /** Metadata in etcd (default: when brokers > 1); otherwise embedded. */
  etcd?: boolean;
  /** Where the objects go (default 'file': one directory shared by the brokers). */
  storage?: 'file' | 's3';
  leaseTtlSeconds?: number;
  /** Each broker reaches etcd through its own EtcdProxy (cut()/heal()). */
  etcdProxies?: boolean;
  /** Extra broker flags. */
  args?: string[];
  /** Extra broker environment (e.g. STREAMHOUSE_FAILPOINTS). */
  env?: Record<string, string>;
  /** Where the proxies' group events go. */
  record: (e: HistoryEvent) => void;
  /** Keep broker logs here (one file per broker) when set. */
  logDir?: string;
}

export class FaultCluster {
  /** Clusters started and not stopped yet (the runner stops them, logs kept, after a scenario failed). */
  static readonly running = new Set<FaultCluster>();
  readonly brokers = new Map<number, BrokerProcess>();
  readonly proxies = new Map<number, KafkaProxy>();
  readonly etcdProxies = new Map<number, EtcdProxy>();
  private readonly paused = new Set<number>();
  private storageArgs: string[] = [];
  private dirs: Array<{ remove(): void }> = [];

  private constructor(
    readonly opts: FaultClusterOptions,
    readonly etcd: EtcdProcess | null,
    readonly s3: S3rverProcess | null,
  ) {}

  static async start(opts: FaultClusterOptions): Promise<FaultCluster> {
    const useEtcd = opts.etcd ?? opts.brokers > 1;
    const [etcd, s3] = await Promise.all([useEtcd ? startEtcd() : null, opts.storage === 's3' ? startS3rver() : null]);
    const c = new FaultCluster(opts, etcd, s3);
    FaultCluster.running.add(c);
    if (s3) {
      c.storageArgs = ['--storage', `s3://${s3.bucket}/faults`, '--s3-endpoint', s3.endpoint, '--s3-force-path-style', 'true', '--s3-region', s3.region];
    } else if (opts.brokers > 1) {
      const shared = makeTempDir('streamhouse-faults-objects-');
      c.dirs.push(shared);
      c.storageArgs = ['--storage', `file://${shared.dir}`];
    }
    try {
      await Promise.all(Array.from({ length: opts.brokers }, (_, i) => c.startBroker(i + 1)));
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  get leaseTtlSeconds(): number {
    return this.opts.leaseTtlSeconds ?? 6;
  }

  private async startBroker(id: number): Promise<void> {
    const port = await freePort();
    const proxy = new KafkaProxy(port, this.opts.record, id);
    await proxy.start();
    this.proxies.set(id, proxy);
    let metadata: string[] = [];
    if (this.etcd) {
      let etcdPort = this.etcd.clientPort;
      if (this.opts.etcdProxies) {
        const ep = new EtcdProxy(this.etcd.clientPort);
        await ep.start();
        this.etcdProxies.set(id, ep);
        etcdPort = ep.port;
      }
      metadata = ['--metadata', `etcd://127.0.0.1:${etcdPort}`, '--lease-ttl-seconds', String(this.leaseTtlSeconds), '--etcd-request-timeout-ms', '2000'];
    }
    const b = await startBroker({
      cliPath: process.env.STREAMHOUSE_CLUSTER_CLI ?? BROKER_CLI,
      brokerId: id,
      port,
      args: [
        ...this.storageArgs,
        ...metadata,
        '--advertise',
        `127.0.0.1:${proxy.port}`,
        '--group-initial-rebalance-delay-ms',
        '0',
        '--shutdown-timeout-ms',
        '10000',
        ...(this.opts.args ?? []),
      ],
      env: { ...(this.s3?.awsEnv ?? {}), ...(this.opts.env ?? {}) },
      readyTimeoutMs: 60_000,
    });
    this.brokers.set(id, b);
  }

  broker(id: number): BrokerProcess {
    const b = this.brokers.get(id);
    if (!b) throw new Error(`no broker ${id}`);
    return b;
  }

  get ids(): number[] {
    return [...this.brokers.keys()].sort((a, b) => a - b);
  }

  /** Every broker's proxy address (also of brokers that are down: clients must cope). */
  bootstrap(): string {
    return [...this.proxies]
      .sort(([a], [b]) => a - b)
      .map(([, p]) => `127.0.0.1:${p.port}`)
      .join(',');
  }

  /** Running and not paused. */
  live(): number[] {
    return this.ids.filter((id) => this.broker(id).running && !this.paused.has(id));
  }

  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.paused.delete(id);
    await this.broker(id).kill(signal);
  }

  pause(id: number): void {
    this.paused.add(id);
    void this.broker(id).kill('SIGSTOP');
  }

  resume(id: number): void {
    this.paused.delete(id);
    void this.broker(id).kill('SIGCONT');
  }

  /** Starts a broker that is down again (same port, data dir, flags); resolves when it listens. */
  async restart(id: number): Promise<void> {
    const b = this.broker(id);
    if (b.running) await b.kill('SIGKILL');
    await b.restart();
  }

  /** Metadata of `topic` as broker `id` (default: the first live one) answers it, directly (not through the proxy). */
  async metadata(topic: string, id?: number): Promise<{ brokers: number[]; leaders: Map<number, { leader: number; epoch: number; error: number }> }> {
    const target = id ?? this.live()[0];
    if (target === undefined) throw new Error('no live broker');
    const c = await KafkaClient.connect(this.broker(target).bootstrap, { requestTimeoutMs: 5000, connectTimeoutMs: 3000 });
    try {
      const res = await c.request(MetadataApi, {
        topics: [{ name: topic, topicId: ZERO_UUID }],
        allowAutoTopicCreation: false,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      });
      const t = res.topics.find((x) => x.name === topic);
      const leaders = new Map<number, { leader: number; epoch: number; error: number }>();
      for (const p of t?.partitions ?? []) leaders.set(p.partitionIndex, { leader: p.leaderId, epoch: p.leaderEpoch ?? -1, error: p.errorCode });
      return { brokers: res.brokers.map((b) => b.nodeId).sort((a, b) => a - b), leaders };
    } finally {
      c.close();
    }
  }

  /** partition -> leader once every live broker agrees and each partition has a live leader. */
  async leaders(topic: string, partitions: number, timeoutMs = 30_000): Promise<Map<number, number>> {
    return waitFor(
      `settled leaders of ${topic}`,
      async () => {
        let agreed: Map<number, number> | null = null;
        const live = this.live();
        for (const id of live) {
          const m = await this.metadata(topic, id);
          if (m.leaders.size !== partitions) return null;
          const l = new Map<number, number>();
          for (const [p, x] of m.leaders) {
            if (x.error !== 0 || !live.includes(x.leader)) return null;
            l.set(p, x.leader);
          }
          if (agreed && [...agreed].some(([p, x]) => l.get(p) !== x)) return null;
          agreed = l;
        }
        return agreed;
      },
      timeoutMs,
      100,
    );
  }

  /** The leader of `topic`/`partition` as a live broker answers (-1: none or no answer). */
  async leaderOf(topic: string, partition: number): Promise<number> {
    try {
      const l = (await this.metadata(topic)).leaders.get(partition);
      return l && l.error === 0 ? l.leader : -1;
    } catch {
      return -1;
    }
  }

  /** Waits until a live broker other than `old` leads `topic`/`partition`, as every live broker answers; returns it. */
  async newLeader(topic: string, partition: number, old: number, timeoutMs = 30_000): Promise<number> {
    return waitFor(
      `a new leader of ${topic}/${partition} (not ${old})`,
      async () => {
        let seen = -1;
        for (const id of this.live()) {
          if (id === old) continue;
          const l = (await this.metadata(topic, id)).leaders.get(partition);
          if (!l || l.error !== 0 || l.leader === old || l.leader < 0 || (seen >= 0 && l.leader !== seen)) return null;
          seen = l.leader;
        }
        return seen >= 0 ? seen : null;
      },
      timeoutMs,
      100,
    );
  }

  /** The coordinator of `group` as a live broker answers (-1: none). */
  async coordinatorOf(group: string): Promise<number> {
    const id = this.live()[0];
    if (id === undefined) return -1;
    let c: KafkaClient | null = null;
    try {
      c = await KafkaClient.connect(this.broker(id).bootstrap, { requestTimeoutMs: 5000, connectTimeoutMs: 3000 });
      const res = await c.request(FindCoordinatorApi, { key: group, keyType: 0, coordinatorKeys: [group] });
      const x = res.coordinators?.length ? res.coordinators[0]! : res;
      return x.errorCode === 0 ? (x.nodeId ?? -1) : -1;
    } catch {
      return -1;
    } finally {
      c?.close();
    }
  }

  /** The broker holding the controller key in etcd (-1: none or no etcd). */
  async controller(): Promise<number> {
    if (!this.etcd) return -1;
    const client = new Etcd3({ hosts: this.etcd.endpoint, dialTimeout: 2000 });
    try {
      const v = await client.get('/streamhouse/controller').string();
      return v ? (JSON.parse(v) as { brokerId: number }).brokerId : -1;
    } finally {
      client.close();
    }
  }

  /** Creates topics (directly on a live broker) and waits for their leaders. */
  async createTopics(topics: Array<{ topic: string; partitions: number }>): Promise<void> {
    const admin = new Kafka({ clientId: 'faults-admin', brokers: this.live().map((id) => this.broker(id).bootstrap), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions })), waitForLeaders: false });
    } finally {
      await admin.disconnect();
    }
    for (const t of topics) await this.leaders(t.topic, t.partitions, 60_000);
  }

  /** The broker's --storage as a URL (for the audit). */
  storageUrl(): string {
    const i = this.storageArgs.indexOf('--storage');
    if (i >= 0) return this.storageArgs[i + 1]!;
    return `file://${path.join(this.broker(1).dataDir, 'objects')}`;
  }

  /**
   * What lib/audit.ts needs to read the store and the metadata as the
   * brokers left them (call after stopBrokers()).
   */
  auditTarget(): {
    storage: string;
    s3?: { endpoint: string; region?: string; forcePathStyle?: boolean; accessKeyId?: string; secretAccessKey?: string };
    metadata: { kind: 'file'; dir: string } | { kind: 'objects' } | { kind: 'etcd'; endpoints: string[]; prefix?: string };
  } {
    const s3 = this.s3
      ? { endpoint: this.s3.endpoint, region: this.s3.region, forcePathStyle: true, accessKeyId: this.s3.awsEnv.AWS_ACCESS_KEY_ID, secretAccessKey: this.s3.awsEnv.AWS_SECRET_ACCESS_KEY }
      : undefined;
    const metadata = this.etcd
      ? { kind: 'etcd' as const, endpoints: [this.etcd.endpoint], prefix: '/streamhouse' }
      : this.s3
        ? { kind: 'objects' as const }
        : { kind: 'file' as const, dir: path.join(this.broker(1).dataDir, 'meta') };
    return { storage: this.storageUrl(), ...(s3 ? { s3 } : {}), metadata };
  }

  /**
   * Stops every broker with kill -9 (what is durable must not depend on a
   * clean exit), keeping data dirs, etcd and the object store.
   */
  async stopBrokers(): Promise<void> {
    this.paused.clear();
    if (this.etcd) await this.etcd.kill('SIGCONT').catch(() => {});
    await Promise.all([...this.brokers.values()].map((b) => (b.running ? b.kill('SIGKILL') : null)));
  }

  /** Every line every broker process wrote, restarts included. */
  brokerLogs(): string[] {
    return [...this.brokers.values()].flatMap((b) => b.allLogs());
  }

  async stop(): Promise<void> {
    FaultCluster.running.delete(this);
    if (this.opts.logDir) {
      fs.mkdirSync(this.opts.logDir, { recursive: true });
      for (const [id, b] of this.brokers) fs.writeFileSync(path.join(this.opts.logDir, `broker-${id}.log`), b.allLogs().join('\n') + '\n');
    }
    for (const id of this.paused) void this.broker(id).kill('SIGCONT');
    await Promise.all([...this.brokers.values()].map((b) => b.cleanup()));
    for (const p of this.proxies.values()) await p.close().catch(() => {});
    for (const p of this.etcdProxies.values()) await p.close().catch(() => {});
    if (this.etcd) {
      await this.etcd.kill('SIGCONT').catch(() => {});
      await this.etcd.cleanup();
    }
    await this.s3?.cleanup();
    for (const d of this.dirs) d.remove();
  }
}
