// Scenario 4: network partitions, with real networks. Three brokers, etcd and
// s3rver each run in their own network namespace (lib/netns.ts: one bridge,
// one address each, brokers listening on and advertising their namespace
// address); the clients, the read-back and the audit run in the root
// namespace. A fault is an nftables table in a broker's namespace dropping
// all packets to and from some peers, both ways (connections hang, as in a
// real partition), for 2-8 s (short: 1-2 s), then deleted (the heal):
//   cut from etcd       its lease lapses (TTL 2 s): the others take over
//                       while it can still reach S3 and its clients
//   cut from S3         WAL writes stall; it keeps its lease and leadership
//   cut from clients    it keeps everything but nobody reaches it
//   isolated            from etcd, S3, clients and the other brokers
//   etcd isolated       etcd cut from every broker (clients still reach them)
// The broker is the leader of a random partition 3 times in 4. The next
// fault starts 1-4 s (short: 1-1.5 s) after every partition has been
// acknowledged again since the heal (or RECOVERY_WAIT_MS passed), so a heal's
// "heal→produce" time is the recovery from that fault alone: with the next
// fault 1-4 s after the heal itself, a partition still recovering was charged
// the later faults too (a cut from clients of 4.9 s read 9,363 ms: the clients'
// TCP retransmissions, backed off to 3.2 s during the cut, fell into an
// "isolated" cut of the same broker 1.2 s after the heal, and the partitions
// came back only when a third fault moved them again).
// What remains after a cut from clients or an isolation is TCP's: the drops
// back off the retransmission timer of every connection to the broker (RTO
// about 0.2 s, doubling: retransmits about 0.2, 0.6, 1.4, 3.0, 6.2, 12.6 s after
// the first loss), and the connections resume at the first retransmission after the
// heal (e.g. 5.2 s after an 8 s cut), not at the heal.
// (The clients reach the brokers directly, not through the recording Kafka
// proxy of lib/proxy.ts, so the group checks rely on the clients' own events.)
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaClient } from '../../../src/client/kafka-client.js';
import { MetadataApi } from '../../../src/protocol/generated/metadata.js';
import { ZERO_UUID } from '../../../src/protocol/generated/types.js';
import { BROKER_CLI, BROKER_NODE_FLAGS, REPO_ROOT } from '../../helpers/broker.js';
import { ETCD_BIN } from '../../helpers/etcd.js';
import { makeTempDir, ManagedProcess, registerCleanup } from '../../helpers/process.js';
import { S3RVER_ACCESS_KEY_ID, S3RVER_REGION, S3RVER_SECRET_ACCESS_KEY } from '../../helpers/s3rver.js';
import { waitFor } from '../../cluster/cluster.js';
import type { FaultCluster } from '../lib/cluster.js';
import { NetnsLab } from '../lib/netns.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';
import { standardSpec, Workload } from '../lib/workload.js';

const TTL = 2;
/** Longest wait after a heal for every partition to be acknowledged again before the next fault. */
const RECOVERY_WAIT_MS = 30_000;
const BUCKET = 'streamhouse-test';
const KAFKA_PORT = 9092;
const S3_PORT = 9000;
const ETCD_PORT = 2379;

/** The cluster of this scenario, with what Workload and ctx.finish use of a FaultCluster. */
class NetnsCluster {
  readonly brokers = new Map<number, ManagedProcess>();
  private readonly lines = new Map<number, string[]>();
  private readonly dataDirs = new Map<number, string>();
  private etcd: ManagedProcess | null = null;
  private s3: ManagedProcess | null = null;
  private readonly dirs: Array<{ remove(): void }> = [];
  private stopped = false;
  private unregister: () => void = () => {};

  constructor(
    readonly lab: NetnsLab,
    private readonly logDir: string,
  ) {
    this.unregister = registerCleanup(
      () => this.stop(),
      () => {
        for (const p of [...this.brokers.values(), this.etcd, this.s3]) p?.killSync('SIGKILL');
        lab.destroy();
        for (const d of this.dirs) d.remove();
      },
    );
  }

  ids = [1, 2, 3];

  brokerIp(id: number): string {
    return this.lab.ip(`b${id}`);
  }

  bootstrap(): string {
    return this.ids.map((id) => `${this.brokerIp(id)}:${KAFKA_PORT}`).join(',');
  }

  async startEtcd(): Promise<void> {
    const d = makeTempDir('streamhouse-netns-etcd-');
    this.dirs.push(d);
    const ip = this.lab.ip('etcd');
    const client = `http://${ip}:${ETCD_PORT}`;
    const peer = `http://${ip}:2380`;
    const { cmd, args } = this.lab.exec('etcd', ETCD_BIN, [
      '--name', 'sh-netns', '--data-dir', path.join(d.dir, 'data'),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `sh-netns=${peer}`, '--initial-cluster-state', 'new',
      '--logger', 'zap', '--log-outputs', 'stderr',
    ]);
    this.etcd = new ManagedProcess(cmd, args, { name: 'etcd-netns', maxLines: 2000 });
    await waitFor('etcd health', async () => {
      const r = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) });
      return r.ok && ((await r.json()) as { health: string }).health === 'true';
    }, 30_000, 100);
  }

  async startS3(): Promise<void> {
    const d = makeTempDir('streamhouse-netns-s3-');
    this.dirs.push(d);
    // s3rver on the namespace's loopback behind lib/s3-proxy.ts (no faults) on its address: the proxy
    // forwards a PUT only once its whole body is there. s3rver itself keeps the part of an upload cut
    // short (a cut makes the broker give up mid-body) and then fails LIST with InternalError.
    const script = `import S3rver from 's3rver';
import { S3FaultProxy } from ${JSON.stringify(path.join(REPO_ROOT, 'test/faults/lib/s3-proxy.ts'))};
const s = new S3rver({ address: '127.0.0.1', port: ${S3_PORT + 1}, directory: ${JSON.stringify(d.dir)}, silent: true, configureBuckets: [{ name: '${BUCKET}' }], vhostBuckets: false });
await s.run();
const proxy = new S3FaultProxy(${S3_PORT + 1});
await proxy.listen('${this.lab.ip('s3')}', ${S3_PORT});
console.log('S3RVER_LISTENING');`;
    // --openssl-legacy-provider: s3rver 3.7 makes LIST continuation tokens with DES (past 1000 keys).
    const { cmd, args } = this.lab.exec('s3', process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', '--input-type=module', '-e', script]);
    this.s3 = new ManagedProcess(cmd, args, { name: 's3rver-netns', cwd: REPO_ROOT, maxLines: 2000 });
    await this.s3.waitForLine((l) => l.startsWith('S3RVER_LISTENING'), 30_000, 's3rver listening');
  }

  async startBroker(id: number): Promise<void> {
    let dir = this.dataDirs.get(id);
    if (!dir) {
      const d = makeTempDir(`streamhouse-netns-b${id}-`);
      this.dirs.push(d);
      dir = d.dir;
      this.dataDirs.set(id, dir);
    }
    const ip = this.brokerIp(id);
    const { cmd, args } = this.lab.exec(`b${id}`, process.execPath, [
      ...BROKER_NODE_FLAGS, BROKER_CLI, 'serve',
      '--listen', `${ip}:${KAFKA_PORT}`, '--advertise', `${ip}:${KAFKA_PORT}`,
      '--data-dir', dir, '--broker-id', String(id),
      '--storage', `s3://${BUCKET}/faults`, '--s3-endpoint', `http://${this.lab.ip('s3')}:${S3_PORT}`,
      '--s3-force-path-style', 'true', '--s3-region', S3RVER_REGION, '--s3-request-timeout-ms', '3000',
      '--metadata', `etcd://${this.lab.ip('etcd')}:${ETCD_PORT}`, '--lease-ttl-seconds', String(TTL), '--etcd-request-timeout-ms', '2000',
      '--group-initial-rebalance-delay-ms', '0', '--shutdown-timeout-ms', '10000',
    ]);
    const env = { ...process.env, AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY, AWS_REGION: S3RVER_REGION };
    const p = new ManagedProcess(cmd, args, { name: `broker-netns-${id}`, cwd: REPO_ROOT, env, maxLines: 50_000 });
    const all = this.lines.get(id) ?? [];
    this.lines.set(id, all);
    all.push(`----- start ${new Date().toISOString()} -----`);
    p.onLine((l) => all.push(l));
    this.brokers.set(id, p);
    await p.waitForLine((l) => l.includes('"msg":"listening"'), 60_000, 'listening');
  }

  async start(): Promise<void> {
    await Promise.all([this.startEtcd(), this.startS3()]);
    await Promise.all(this.ids.map((id) => this.startBroker(id)));
  }

  /** Metadata of `topic` as broker `id` answers it (from the root namespace). */
  async metadata(id: number, topic: string): Promise<Map<number, { leader: number; error: number }>> {
    const c = await KafkaClient.connect(`${this.brokerIp(id)}:${KAFKA_PORT}`, { requestTimeoutMs: 3000, connectTimeoutMs: 2000 });
    try {
      const res = await c.request(MetadataApi, { topics: [{ name: topic, topicId: ZERO_UUID }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
      const out = new Map<number, { leader: number; error: number }>();
      for (const p of res.topics.find((t) => t.name === topic)?.partitions ?? []) out.set(p.partitionIndex, { leader: p.leaderId, error: p.errorCode });
      return out;
    } finally {
      c.close();
    }
  }

  /** The leader of a partition as the first broker that answers says (-1: none). */
  async leaderOf(topic: string, partition: number, exclude: number[] = []): Promise<number> {
    for (const id of this.ids) {
      if (exclude.includes(id)) continue;
      try {
        const l = (await this.metadata(id, topic)).get(partition);
        if (l && l.error === 0) return l.leader;
      } catch {
        /* next */
      }
    }
    return -1;
  }

  async createTopics(topics: Array<{ topic: string; partitions: number }>): Promise<void> {
    const admin = new Kafka({ clientId: 'faults-admin', brokers: this.bootstrap().split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions })), waitForLeaders: false });
    } finally {
      await admin.disconnect();
    }
    for (const t of topics) {
      await waitFor(`leaders of ${t.topic}`, async () => {
        for (const id of this.ids) {
          const m = await this.metadata(id, t.topic);
          if (m.size !== t.partitions || [...m.values()].some((x) => x.error !== 0 || x.leader < 0)) return false;
        }
        return true;
      }, 60_000, 200);
    }
  }

  /** ctx.finish: kill -9 every broker, keep etcd and S3 for the audit. */
  async stopBrokers(): Promise<void> {
    for (const id of this.ids) this.lab.heal(`b${id}`);
    this.lab.heal('etcd');
    await Promise.all([...this.brokers.values()].map((b) => b.kill('SIGKILL')));
  }

  auditTarget(): ReturnType<FaultCluster['auditTarget']> {
    return {
      storage: `s3://${BUCKET}/faults`,
      s3: { endpoint: `http://${this.lab.ip('s3')}:${S3_PORT}`, region: S3RVER_REGION, forcePathStyle: true, accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY },
      metadata: { kind: 'etcd', endpoints: [`http://${this.lab.ip('etcd')}:${ETCD_PORT}`], prefix: '/streamhouse' },
    };
  }

  /** Every line every broker process wrote, restarts included. */
  brokerLogs(): string[] {
    return [...this.lines.values()].flat();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unregister();
    fs.mkdirSync(this.logDir, { recursive: true });
    for (const [id, lines] of this.lines) fs.writeFileSync(path.join(this.logDir, `broker-${id}.log`), lines.join('\n') + '\n');
    if (this.etcd) fs.writeFileSync(path.join(this.logDir, 'etcd.log'), this.etcd.lines.join('\n') + '\n');
    await Promise.all([...this.brokers.values(), this.etcd, this.s3].map((p) => p?.kill('SIGKILL')));
    this.lab.destroy();
    for (const d of this.dirs) d.remove();
  }
}

type Kind = 'cut from etcd' | 'cut from S3' | 'cut from clients' | 'isolated' | 'etcd isolated';
const KINDS: Kind[] = ['cut from etcd', 'cut from S3', 'cut from clients', 'isolated', 'cut from etcd', 'etcd isolated', 'cut from S3', 'cut from clients'];

async function inject(ctx: ScenarioContext, c: NetnsCluster, kind: Kind, victim: number, ms: number): Promise<void> {
  const b = `b${victim}`;
  const others = c.ids.filter((id) => id !== victim).map((id) => `b${id}`);
  const name = kind === 'etcd isolated' ? 'etcd isolated: from every broker' : `${kind}: broker ${victim}`;
  ctx.fault(name, `${ms} ms`);
  if (kind === 'cut from etcd') c.lab.cut(b, ['etcd']);
  else if (kind === 'cut from S3') c.lab.cut(b, ['s3']);
  else if (kind === 'cut from clients') c.lab.cut(b, ['root']);
  else if (kind === 'isolated') c.lab.cut(b, ['etcd', 's3', 'root', ...others]);
  else c.lab.cut('etcd', c.ids.map((id) => `b${id}`));
  await ctx.sleep(ms);
  c.lab.heal(kind === 'etcd isolated' ? 'etcd' : b);
  ctx.heal(name);
}

const scenario: Scenario = {
  name: '04-network-partitions',
  description:
    'Three brokers (lease TTL 2 s), etcd and s3rver in their own network namespaces, nftables cuts for 2-8 s: a broker cut from etcd only, from S3 only, from its clients only, isolated from everything; etcd cut from every broker. The next fault 1-4 s after every partition is acknowledged again.',
  async run(ctx) {
    const lab = NetnsLab.create({ b1: 11, b2: 12, b3: 13, etcd: 20, s3: 30 });
    const cluster = new NetnsCluster(lab, ctx.runDir);
    await cluster.start();
    ctx.log(`namespaces up: brokers ${cluster.bootstrap()}, etcd ${lab.ip('etcd')}, s3 ${lab.ip('s3')}, clients ${lab.ip('root')}`);
    const spec = standardSpec({ rate: 50 }); // 40/s per producer fell short of 20,000 acknowledged writes under the cuts
    await cluster.createTopics(spec.topics);
    const fc = cluster as unknown as FaultCluster;
    const w = new Workload(ctx, fc, spec);
    await w.start();
    await w.waitForAcks(200);
    const [lo, hi] = ctx.mode === 'short' ? [1000, 2000] : [2000, 8000];
    const byKind: Record<string, number> = {};
    let n = 0;
    while (ctx.faulting()) {
      const kind = KINDS[n++ % KINDS.length]!;
      let victim = ctx.rng.pick(cluster.ids);
      if (ctx.rng.chance(0.75)) {
        const t = ctx.rng.pick(spec.topics);
        const l = await cluster.leaderOf(t.topic, ctx.rng.int(0, t.partitions - 1));
        if (l > 0) victim = l;
      }
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      await inject(ctx, cluster, kind, victim, ctx.rng.int(lo, hi));
      // Recovered first (every partition acknowledged since the heal), then 1-4 s more: a fault that
      // hits a partition still recovering from the previous one would be charged to that one's heal.
      await w.waitForAllPartitions(RECOVERY_WAIT_MS);
      await ctx.sleep(ctx.rng.int(1000, ctx.mode === 'short' ? 1500 : 4000));
    }
    await w.waitForAcks(200, 60_000);
    return ctx.finish(fc, w, { partitions: byKind, leaseTtlSeconds: TTL, network: `namespaces ${lab.subnet}.0/24, nftables drops` });
  },
};
export default scenario;
