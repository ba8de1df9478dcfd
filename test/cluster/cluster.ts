/**
 * A StreamHouse cluster for the tests in test/cluster: one etcd, one shared
 * object store (a directory, or s3rver), N broker processes; a fault-injecting
 * TCP proxy in front of etcd per broker when asked; a librdkafka producer
 * process whose delivery reports are recorded; and the checks every fault
 * test ends with (every acknowledged message read back exactly once, in
 * order, at its acknowledged offset).
 *
 * STREAMHOUSE_CLUSTER_CLI picks another build of the broker (default
 * dist/src/cli.js).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { expect } from 'vitest';
import { MetadataApi } from '../../src/protocol/generated/metadata.js';
import { ProduceApi } from '../../src/protocol/generated/produce.js';
import { buildBatch } from '../../src/protocol/records/records.js';
import { ZERO_UUID } from '../../src/protocol/generated/types.js';
import { KafkaClient } from '../../src/client/kafka-client.js';
import { BROKER_CLI, startBroker, type BrokerProcess } from '../helpers/broker.js';
import { SYSTEM_PYTHON, runPython } from '../helpers/clients.js';
import { startEtcd, type EtcdProcess } from '../helpers/etcd.js';
import { makeTempDir, ManagedProcess, registerCleanup } from '../helpers/process.js';
import { startS3rver, type S3rverProcess } from '../helpers/s3rver.js';

export const CLUSTER_CLI = process.env.STREAMHOUSE_CLUSTER_CLI ?? BROKER_CLI;
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PRODUCER_PY = path.join(HERE, 'rdkafka_producer.py');
export const CONSUME_PY = path.join(HERE, 'rdkafka_consume.py');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000, intervalMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

// ------------------------------------------------------------ etcd proxy

/**
 * A TCP proxy in front of etcd. cut() severs the path both ways without
 * closing anything (a network partition: bytes vanish, connections hang, new
 * connections are accepted and never answered); heal() closes the hung
 * connections and forwards again.
 */
export class EtcdProxy {
  private server!: net.Server;
  private conns = new Set<net.Socket>();
  private cutOff = false;
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      this.conns.add(client);
      client.on('close', () => this.conns.delete(client));
      client.on('error', () => {});
      if (this.cutOff) {
        client.on('data', () => {});
        return;
      }
      const upstream = net.connect(this.target, '127.0.0.1');
      this.conns.add(upstream);
      upstream.on('close', () => {
        this.conns.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.on('data', (d) => {
        if (!this.cutOff) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!this.cutOff) client.write(d);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    registerCleanup(
      () => this.close(),
      () => this.server.close(),
    );
  }

  cut(): void {
    this.cutOff = true;
  }

  heal(): void {
    this.cutOff = false;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

// ------------------------------------------------------------ cluster

export interface ClusterOptions {
  brokers?: number;
  leaseTtlSeconds?: number;
  /** Objects in s3rver instead of a shared directory. */
  s3?: boolean;
  /** Each broker reaches etcd through its own EtcdProxy. */
  etcdProxies?: boolean;
  /** Extra broker flags. */
  args?: string[];
}

export class Cluster {
  readonly brokers = new Map<number, BrokerProcess>();
  readonly proxies = new Map<number, EtcdProxy>();
  private storageArgs: string[] = [];
  private leaseTtl = 2;
  private extraArgs: string[] = [];

  private constructor(
    readonly etcd: EtcdProcess,
    readonly s3: S3rverProcess | null,
    private readonly opts: ClusterOptions,
  ) {}

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const etcd = await startEtcd();
    const s3 = opts.s3 ? await startS3rver() : null;
    const c = new Cluster(etcd, s3, opts);
    c.leaseTtl = opts.leaseTtlSeconds ?? 2;
    c.extraArgs = opts.args ?? [];
    if (s3) {
      c.storageArgs = ['--storage', `s3://${s3.bucket}/cluster`, '--s3-endpoint', s3.endpoint, '--s3-force-path-style', 'true', '--s3-region', s3.region];
    } else {
      const shared = makeTempDir('streamhouse-cluster-objects-');
      registerCleanup(
        async () => shared.remove(),
        () => shared.remove(),
      );
      c.storageArgs = ['--storage', `file://${shared.dir}`];
    }
    const n = opts.brokers ?? 3;
    await Promise.all(Array.from({ length: n }, (_, i) => c.startBroker(i + 1)));
    return c;
  }

  get leaseTtlSeconds(): number {
    return this.leaseTtl;
  }

  private async etcdPortFor(id: number): Promise<number> {
    if (!this.opts.etcdProxies) return this.etcd.clientPort;
    let p = this.proxies.get(id);
    if (!p) {
      p = new EtcdProxy(this.etcd.clientPort);
      await p.start();
      this.proxies.set(id, p);
    }
    return p.port;
  }

  async startBroker(id: number): Promise<BrokerProcess> {
    const etcdPort = await this.etcdPortFor(id);
    const b = await startBroker({
      cliPath: CLUSTER_CLI,
      brokerId: id,
      args: [
        ...this.storageArgs,
        '--metadata',
        `etcd://127.0.0.1:${etcdPort}`,
        '--lease-ttl-seconds',
        String(this.leaseTtl),
        '--etcd-request-timeout-ms',
        '2000',
        '--group-initial-rebalance-delay-ms',
        '0',
        '--shutdown-timeout-ms',
        '15000',
        ...this.extraArgs,
      ],
      env: this.s3 ? this.s3.awsEnv : {},
      readyTimeoutMs: 40_000,
    });
    this.brokers.set(id, b);
    return b;
  }

  broker(id: number): BrokerProcess {
    const b = this.brokers.get(id);
    if (!b) throw new Error(`no broker ${id}`);
    return b;
  }

  /** Bootstrap list of every running broker (or just one). */
  bootstrap(id?: number): string {
    if (id !== undefined) return this.broker(id).bootstrap;
    return [...this.brokers.values()]
      .filter((b) => b.running)
      .map((b) => b.bootstrap)
      .join(',');
  }

  /** Metadata for one topic as broker `id` answers it. */
  async metadata(id: number, topic: string): Promise<{ brokers: number[]; leaders: Map<number, { leader: number; epoch: number; error: number }>; topicError: number }> {
    const c = await KafkaClient.connect(this.broker(id).bootstrap, { requestTimeoutMs: 5000, connectTimeoutMs: 3000 });
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
      return { brokers: res.brokers.map((b) => b.nodeId).sort((a, b) => a - b), leaders, topicError: t?.errorCode ?? -1 };
    } finally {
      c.close();
    }
  }

  /** The broker holding the controller key in etcd (-1: none). */
  async controller(): Promise<number> {
    const client = new Etcd3({ hosts: this.etcd.endpoint });
    try {
      const v = await client.get('/streamhouse/controller').string();
      return v ? (JSON.parse(v) as { brokerId: number }).brokerId : -1;
    } finally {
      client.close();
    }
  }

  /** Leader of each partition, once every running broker agrees and every partition has one. */
  async settledLeaders(topic: string, partitions: number, timeoutMs = 30_000, exclude: number[] = []): Promise<Map<number, number>> {
    return waitFor(
      `settled leaders of ${topic}`,
      async () => {
        let agreed: Map<number, number> | null = null;
        for (const [id, b] of this.brokers) {
          if (!b.running || exclude.includes(id)) continue;
          const m = await this.metadata(id, topic);
          if (m.leaders.size !== partitions) return null;
          const leaders = new Map<number, number>();
          for (const [p, l] of m.leaders) {
            if (l.error !== 0 || l.leader < 0 || exclude.includes(l.leader)) return null;
            leaders.set(p, l.leader);
          }
          if (agreed && [...agreed].some(([p, l]) => leaders.get(p) !== l)) return null;
          agreed = leaders;
        }
        return agreed;
      },
      timeoutMs,
      100,
    );
  }

  async stop(): Promise<void> {
    // STREAMHOUSE_CLUSTER_LOGS=DIR keeps every broker's output for a look afterwards.
    const dir = process.env.STREAMHOUSE_CLUSTER_LOGS;
    if (dir) {
      fs.mkdirSync(dir, { recursive: true });
      const name = path.basename(expect.getState().testPath ?? 'cluster', '.test.ts');
      for (const [id, b] of this.brokers) fs.writeFileSync(path.join(dir, `${name}-broker-${id}.log`), b.allLogs().join('\n') + '\n');
    }
    await Promise.all([...this.brokers.values()].map((b) => b.cleanup()));
    for (const p of this.proxies.values()) await p.close().catch(() => {});
    await this.s3?.cleanup();
    await this.etcd.cleanup();
  }
}

/** One acks=all Produce of one record on an open connection: error code and base offset (-1/-1 on a transport error). */
export async function rawProduce(c: KafkaClient, topic: string, partition: number, value: string): Promise<{ error: number; offset: number; ms: number }> {
  const started = Date.now();
  const records = buildBatch({ records: [{ key: null, value: Buffer.from(value), timestamp: started }] });
  try {
    const res = await c.request(ProduceApi, { transactionalId: null, acks: -1, timeoutMs: 30_000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] });
    const r = res.responses[0]!.partitionResponses[0]!;
    return { error: r.errorCode, offset: Number(r.baseOffset), ms: Date.now() - started };
  } catch {
    return { error: -1, offset: -1, ms: Date.now() - started };
  }
}

// ------------------------------------------------------------ producer

export interface Ack {
  partition: number;
  /**
   * null when librdkafka acknowledged the message implicitly: a later batch of
   * the same idempotent producer succeeded after this one's answer was lost, so
   * it is stored but its offset is unknown to the client.
   */
  offset: number | null;
  seq: number;
  t: number;
}

export interface ClientError {
  t: number;
  kind: 'delivery' | 'client';
  message: string;
  fatal?: boolean;
  retriable?: boolean;
}

/** The librdkafka producer process (rdkafka_producer.py) and what it reported. */
export class RdProducer {
  readonly acks: Ack[] = [];
  readonly failed: Array<{ partition: number; seq: number; error: string; t: number }> = [];
  readonly errors: ClientError[] = [];
  done: { sent: number; acked: number; failed: number; unflushed: number } | null = null;
  private readonly proc: ManagedProcess;

  constructor(bootstrap: string, topic: string, partitions: number[], opts: { rate?: number; tag?: string; messageTimeoutMs?: number } = {}) {
    this.proc = new ManagedProcess(
      SYSTEM_PYTHON,
      [
        PRODUCER_PY,
        '--bootstrap',
        bootstrap,
        '--topic',
        topic,
        '--partitions',
        partitions.join(','),
        '--rate',
        String(opts.rate ?? 100),
        '--tag',
        opts.tag ?? 'm',
        '--message-timeout-ms',
        String(opts.messageTimeoutMs ?? 60_000),
      ],
      { name: `producer:${topic}` },
    );
    this.proc.onLine((line) => {
      if (!line.startsWith('{')) return;
      const m = JSON.parse(line) as Record<string, unknown>;
      if (m.a) {
        const [partition, offset, seq, t] = m.a as number[];
        this.acks.push({ partition: partition!, offset: offset!, seq: seq!, t: t! });
      } else if (m.e) {
        const [partition, seq, error, t] = m.e as [number, number, string, number];
        this.failed.push({ partition, seq, error, t });
        this.errors.push({ t, kind: 'delivery', message: error });
      } else if (m.ce !== undefined) {
        this.errors.push({ t: m.t as number, kind: 'client', message: m.ce as string, fatal: m.fatal as boolean, retriable: m.retriable as boolean });
      } else if (m.done) this.done = m.done as RdProducer['done'];
    });
  }

  acked(partition?: number): Ack[] {
    return partition === undefined ? this.acks : this.acks.filter((a) => a.partition === partition);
  }

  /** Resolves once `n` more acknowledgements (of `partition`, if given) than now have arrived. */
  async waitForMoreAcks(n: number, partition?: number, timeoutMs = 30_000): Promise<void> {
    const base = this.acked(partition).length;
    await waitFor(`${n} more acks${partition === undefined ? '' : ` of partition ${partition}`} (producer: ${this.proc.tail(5)})`, () => this.acked(partition).length >= base + n, timeoutMs, 20);
  }

  /** SIGTERM: stop sending, flush, report. */
  async stop(timeoutMs = 90_000): Promise<void> {
    this.proc.signal('SIGTERM');
    const exit = await Promise.race([this.proc.exited, sleep(timeoutMs).then(() => null)]);
    if (!exit) {
      await this.proc.kill('SIGKILL');
      throw new Error(`producer did not finish flushing within ${timeoutMs} ms\n${this.proc.describe()}`);
    }
    if (exit.code !== 0) throw new Error(`producer exited with ${exit.code}\n${this.proc.describe()}`);
  }

  describe(): string {
    return this.proc.describe(20);
  }
}

/** A librdkafka consumer reading live from the beginning (rdkafka_consume.py --follow). */
export class LiveConsumer {
  readonly errors: string[] = [];
  pos = new Map<number, number>();
  private records: Consumed | null = null;
  private readonly proc: ManagedProcess;

  constructor(bootstrap: string, topic: string, partitions: number[]) {
    this.proc = new ManagedProcess(SYSTEM_PYTHON, [CONSUME_PY, '--follow', '--bootstrap', bootstrap, '--topic', topic, '--partitions', partitions.join(',')], {
      name: `consumer:${topic}`,
    });
    this.proc.onLine((line) => {
      if (!line.startsWith('{')) return;
      const m = JSON.parse(line) as Record<string, unknown>;
      if (m.pos) this.pos = new Map(Object.entries(m.pos as Record<string, number>).map(([p, o]) => [Number(p), o]));
      else if (m.err) this.errors.push(m.err as string);
      else if (m.records) this.records = new Map(Object.entries(m.records as Record<string, Array<[number, string]>>).map(([p, r]) => [Number(p), r]));
    });
  }

  /** Waits until the consumer has read up to `ends` (partition -> offset), stops it, returns what it read. */
  async finish(ends: Map<number, number>, timeoutMs = 60_000): Promise<Consumed> {
    await waitFor(`live consumer to reach ${JSON.stringify([...ends])} (at ${JSON.stringify([...this.pos])})`, () => [...ends].every(([p, o]) => (this.pos.get(p) ?? 0) >= o), timeoutMs, 100);
    this.proc.signal('SIGTERM');
    await this.proc.exited;
    await waitFor('consumer records line', () => this.records, 5000, 20);
    return this.records!;
  }
}

/** One past the last offset read of each partition. */
export function endsOf(c: Consumed): Map<number, number> {
  return new Map([...c].map(([p, r]) => [p, r.length ? r[r.length - 1]![0] + 1 : 0]));
}

// ------------------------------------------------------------ verification

export type Consumed = Map<number, Array<[number, string]>>;

export async function consumeAll(bootstrap: string, topic: string, partitions: number[]): Promise<Consumed> {
  const res = await runPython(CONSUME_PY, ['--bootstrap', bootstrap, '--topic', topic, '--partitions', partitions.join(',')], { timeoutMs: 90_000 });
  const parsed = JSON.parse(res.stdout.trim().split('\n').pop()!) as { records: Record<string, Array<[number, string]>> };
  return new Map(Object.entries(parsed.records).map(([p, r]) => [Number(p), r]));
}

export interface Verdict {
  acked: number;
  consumed: number;
  /** Acknowledged but not read back. */
  missing: string[];
  /** Read back at another offset than acknowledged. */
  misplaced: string[];
  /** Read more than once. */
  duplicates: string[];
  /** A later send read before an earlier one. */
  reordered: string[];
  /** One offset acknowledged for two different messages. */
  doubleAcked: string[];
}

/**
 * Every acknowledged message of `tag` is read back exactly once, at its
 * acknowledged offset, and a partition's messages are in send order.
 */
export function verify(tag: string, acks: Ack[], consumed: Consumed): Verdict {
  const v: Verdict = { acked: acks.length, consumed: 0, missing: [], misplaced: [], duplicates: [], reordered: [], doubleAcked: [] };
  const byPartition = new Map<number, Ack[]>();
  for (const a of acks) {
    let l = byPartition.get(a.partition);
    if (!l) byPartition.set(a.partition, (l = []));
    l.push(a);
  }
  for (const [p, list] of byPartition) {
    const records = consumed.get(p) ?? [];
    const offsetOf = new Map<number, number[]>();
    let lastSeq = -1;
    for (const [offset, value] of records) {
      const m = /^(.*)-(\d+)-(\d+)$/.exec(value);
      if (!m || m[1] !== tag || Number(m[2]) !== p) continue;
      v.consumed++;
      const seq = Number(m[3]);
      const seen = offsetOf.get(seq) ?? [];
      seen.push(offset);
      offsetOf.set(seq, seen);
      if (seen.length === 2) v.duplicates.push(`${p}:${seq}@${seen.join(',')}`);
      if (seq <= lastSeq) v.reordered.push(`${p}:${seq} after ${lastSeq} at ${offset}`);
      lastSeq = Math.max(lastSeq, seq);
    }
    const ackedAt = new Map<number, number>();
    for (const a of list) {
      const at = offsetOf.get(a.seq);
      if (a.offset === null) {
        if (!at) v.missing.push(`${p}:${a.seq}@?`);
        continue;
      }
      const other = ackedAt.get(a.offset);
      if (other !== undefined && other !== a.seq) v.doubleAcked.push(`${p}@${a.offset}: seq ${other} and ${a.seq}`);
      ackedAt.set(a.offset, a.seq);
      if (!at) v.missing.push(`${p}:${a.seq}@${a.offset}`);
      else if (!at.includes(a.offset)) v.misplaced.push(`${p}:${a.seq} acked @${a.offset}, read @${at.join(',')}`);
    }
  }
  return v;
}

export function summarize(v: Verdict): string {
  const few = (l: string[]) => (l.length ? `${l.length} (${l.slice(0, 5).join('; ')}${l.length > 5 ? '; …' : ''})` : '0');
  return `acked ${v.acked}, read ${v.consumed}; missing ${few(v.missing)}, misplaced ${few(v.misplaced)}, duplicates ${few(v.duplicates)}, reordered ${few(v.reordered)}, double-acked ${few(v.doubleAcked)}`;
}

/** Prints a line every test reports (failover times, client-visible errors). */
export function report(test: string, fields: Record<string, unknown>): void {
  console.log(`[cluster] ${test}: ${JSON.stringify(fields)}`);
}

/** The largest gap between consecutive acknowledgements of a partition within [from, to]. */
export function longestAckGap(acks: Ack[], partition: number, from: number, to = Infinity): { gapMs: number; before: number; after: number } {
  const ts = acks
    .filter((a) => a.partition === partition)
    .map((a) => a.t)
    .sort((a, b) => a - b);
  let best = { gapMs: 0, before: 0, after: 0 };
  for (let i = 1; i < ts.length; i++) {
    if (ts[i]! < from || ts[i - 1]! > to) continue;
    const g = ts[i]! - ts[i - 1]!;
    if (g > best.gapMs) best = { gapMs: g, before: ts[i - 1]!, after: ts[i]! };
  }
  return best;
}

/** Client errors compacted for the report: message -> count. */
export function errorCounts(errors: ClientError[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of errors) {
    const k = `${e.kind}${e.fatal ? ' FATAL' : ''}: ${e.message.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'H:P').replace(/\d+ms/g, 'Nms').slice(0, 120)}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
