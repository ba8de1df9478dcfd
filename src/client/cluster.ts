// The cluster as a client sees it: a bootstrap connection, Metadata for the
// brokers and partition leaders, one connection per broker opened on demand,
// and FindCoordinator to reach a group's coordinator.

import { FindCoordinatorApi } from '../protocol/generated/find-coordinator.js';
import { MetadataApi } from '../protocol/generated/metadata.js';
import { ZERO_UUID } from '../protocol/generated/types.js';
import { ErrorCode } from '../protocol/generated/errors.js';
import { KafkaClient, KafkaClientError, KafkaResponseError, type ClientOptions } from './kafka-client.js';

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface PartitionInfo {
  partition: number;
  errorCode: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
}

export interface TopicInfo {
  name: string;
  errorCode: number;
  topicId: string;
  isInternal: boolean;
  partitions: PartitionInfo[];
}

export interface ClusterMetadata {
  clusterId: string | null;
  controllerId: number;
  brokers: Map<number, BrokerInfo>;
  topics: Map<string, TopicInfo>;
}

/** Errors worth a short retry when looking for a coordinator. */
const COORDINATOR_RETRIABLE = new Set<number>([ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.NOT_COORDINATOR]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ClusterClient {
  private readonly nodes = new Map<number, Promise<KafkaClient>>();
  private brokers = new Map<number, BrokerInfo>();

  private constructor(
    readonly bootstrap: KafkaClient,
    private readonly opts: ClientOptions,
  ) {}

  /** Connects to the first reachable bootstrap address (comma-separated list or array). */
  static async connect(bootstrap: string | string[], opts: ClientOptions = {}): Promise<ClusterClient> {
    const addrs = (Array.isArray(bootstrap) ? bootstrap : bootstrap.split(',')).map((s) => s.trim()).filter(Boolean);
    if (addrs.length === 0) throw new KafkaClientError('no bootstrap address');
    let last: unknown;
    for (const a of addrs) {
      try {
        return new ClusterClient(await KafkaClient.connect(a, opts), opts);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /** Metadata for `topics` (null: every topic). Remembers the brokers for node(). */
  async metadata(topics: string[] | null = null): Promise<ClusterMetadata> {
    const res = await this.bootstrap.request(MetadataApi, {
      topics: topics === null ? null : topics.map((name) => ({ name, topicId: ZERO_UUID })),
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    const brokers = new Map<number, BrokerInfo>();
    for (const b of res.brokers) brokers.set(b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack ?? null });
    this.brokers = brokers;
    const out = new Map<string, TopicInfo>();
    for (const t of res.topics) {
      if (t.name === null) continue;
      out.set(t.name, {
        name: t.name,
        errorCode: t.errorCode,
        topicId: t.topicId ?? ZERO_UUID,
        isInternal: t.isInternal ?? false,
        partitions: t.partitions
          .map((p) => ({
            partition: p.partitionIndex,
            errorCode: p.errorCode,
            leader: p.leaderId,
            leaderEpoch: p.leaderEpoch ?? -1,
            replicas: p.replicaNodes,
            isr: p.isrNodes,
          }))
          .sort((a, b) => a.partition - b.partition),
      });
    }
    return { clusterId: res.clusterId ?? null, controllerId: res.controllerId ?? -1, brokers, topics: out };
  }

  /** A connection to broker `nodeId` (from the last Metadata), opened once and reused. */
  async node(nodeId: number): Promise<KafkaClient> {
    if (!this.brokers.has(nodeId)) await this.metadata([]);
    const b = this.brokers.get(nodeId);
    if (!b) throw new KafkaClientError(`broker ${nodeId} is not in the cluster metadata`);
    return this.connectTo(nodeId, `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`);
  }

  private async connectTo(nodeId: number, address: string): Promise<KafkaClient> {
    const existing = this.nodes.get(nodeId);
    if (existing) {
      const c = await existing.catch(() => null);
      if (c && !c.closed) return c;
    }
    const p = KafkaClient.connect(address, this.opts);
    this.nodes.set(nodeId, p);
    p.catch(() => this.nodes.delete(nodeId));
    return p;
  }

  /** Every broker in the cluster, connected. */
  async allNodes(): Promise<KafkaClient[]> {
    const md = await this.metadata([]);
    return Promise.all([...md.brokers.keys()].sort((a, b) => a - b).map((id) => this.node(id)));
  }

  /** FindCoordinator for a consumer group, retried briefly while the coordinator is unavailable. */
  async findCoordinator(groupId: string, timeoutMs = 10_000): Promise<BrokerInfo> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const v = this.bootstrap.versionFor(FindCoordinatorApi);
      const res = await this.bootstrap.request(FindCoordinatorApi, { key: groupId, keyType: 0, coordinatorKeys: [groupId] }, v);
      const c =
        v >= 4
          ? res.coordinators?.[0]
          : { errorCode: res.errorCode ?? 0, errorMessage: res.errorMessage ?? null, nodeId: res.nodeId ?? -1, host: res.host ?? '', port: res.port ?? -1 };
      if (!c) throw new KafkaClientError(`FindCoordinator: empty answer for group ${groupId}`);
      if (c.errorCode === 0) return { nodeId: c.nodeId, host: c.host, port: c.port, rack: null };
      if (!COORDINATOR_RETRIABLE.has(c.errorCode) || Date.now() > deadline) {
        throw new KafkaResponseError(c.errorCode, `FindCoordinator(${groupId})`, c.errorMessage);
      }
      await sleep(Math.min(50 * 2 ** attempt, 500));
    }
  }

  /** A connection to the coordinator of `groupId`. */
  async coordinator(groupId: string): Promise<KafkaClient> {
    const b = await this.findCoordinator(groupId);
    this.brokers.set(b.nodeId, b);
    return this.connectTo(b.nodeId, `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`);
  }

  close(): void {
    this.bootstrap.close();
    for (const p of this.nodes.values()) p.then((c) => c.close(), () => {});
    this.nodes.clear();
  }
}
