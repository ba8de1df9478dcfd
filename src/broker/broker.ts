// Assembles one broker process: object store and metadata store chosen by
// URL, the storage engine, the topic service, the request dispatcher and the
// TCP server; and takes them down in the order that loses nothing.

import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { Metrics } from '../metrics.js';
import type { Logger } from 'pino';
import { DEFAULT_MESSAGE_MAX_BYTES, type BrokerConfig } from '../config.js';
import { openMetadataStore } from '../coordination/open.js';
import type { MetadataStore } from '../coordination/metadata-store.js';
import { KafkaServer } from '../server/server.js';
import { DEFAULT_STORAGE_OPTIONS, LogManager } from '../storage/log-manager.js';
import { OBJECT_STORE_READ_AHEAD_GET_BYTES } from '../storage/range-reader.js';
import { LOCAL_MIN_OVERLAP_BYTES, OBJECT_STORE_MIN_OVERLAP_BYTES } from '../storage/wal-writer.js';
import { openObjectStore } from '../storage/open.js';
import type { ObjectStore } from '../storage/object-store.js';
import { supportedApiVersions } from './api-versions.js';
import { ClusterView } from './cluster.js';
import type { BrokerServices } from './context.js';
import { Dispatcher } from './dispatcher.js';
import { HANDLERS } from './handlers.js';
import { Topics } from './topics.js';
import { Leadership } from './leadership.js';
import { FetchSessionCache } from './fetch-sessions.js';
import { GroupCoordinator } from '../groups/coordinator.js';

export class Broker {
  private server: KafkaServer | null = null;
  private store: ObjectStore | null = null;
  private meta: MetadataStore | null = null;
  private logs: LogManager | null = null;
  private groups: GroupCoordinator | null = null;
  private leadership: Leadership | null = null;
  private metricsServer: Server | null = null;
  private stopping: Promise<void> | null = null;
  private readonly shutdownController = new AbortController();
  private readonly fetchSessions = new FetchSessionCache();
  address: { host: string; port: number } | null = null;

  constructor(
    private readonly config: BrokerConfig,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const cfg = this.config;
    const started = Date.now();
    await mkdir(cfg.dataDir, { recursive: true });
    const metrics = cfg.metricsListen
      ? new Metrics({
          cache: () => ({ hits: this.logs?.cache.hits ?? 0, misses: this.logs?.cache.misses ?? 0, bytes: this.logs?.cache.size ?? 0 }),
          pool: () => ({ allocated: this.logs?.pool.stats.allocated ?? 0, reused: this.logs?.pool.stats.reused ?? 0 }),
          backlogBytes: () => this.logs?.stats.compactionBacklogBytes ?? 0,
          debtBytes: () => this.logs?.compactionDebtBytes() ?? 0,
          produceHolds: () => this.logs?.stats.produceHolds ?? 0,
          cleanings: () => this.logs?.stats.cleanings ?? 0,
          bufferedBytes: () => this.logs?.writer.bufferedBytes ?? 0,
          fetchSessions: () => this.fetchSessions.size,
        })
      : null;
    this.store = await openObjectStore(cfg.storage, {
      endpoint: cfg.s3Endpoint ?? undefined,
      region: cfg.s3Region ?? undefined,
      forcePathStyle: cfg.s3ForcePathStyle,
      multipartThresholdBytes: cfg.s3MultipartThresholdBytes,
      requestTimeoutMs: cfg.s3RequestTimeoutMs,
      hooks: {
        onRetry: (op, attempt, err) => {
          metrics?.onObjectRetry(op);
          this.log.warn({ op, attempt, err: (err as Error).message }, 'object store retry');
        },
        onRequest: metrics?.onObjectRequest,
      },
    }, { dir: join(cfg.dataDir, 'wal-copies'), maxBytes: cfg.walCopyBytes });
    this.meta = await openMetadataStore(cfg.metadata, cfg.dataDir, this.store, this.log, {
      prefix: cfg.etcdPrefix,
      leaseTtlSeconds: cfg.leaseTtlSeconds,
      maxTxnOps: cfg.etcdMaxTxnOps,
      requestTimeoutMs: cfg.etcdRequestTimeoutMs,
    }, cfg.metadataSnapshotBytes);
    await this.meta.start();

    const topicsRef: { current: Topics | null } = { current: null };
    const onS3 = cfg.storage.startsWith('s3://');
    this.logs = new LogManager(
      this.store,
      this.meta,
      {
        ...DEFAULT_STORAGE_OPTIONS,
        brokerId: cfg.brokerId,
        walFlushMs: cfg.walFlushMs,
        walFlushBytes: cfg.walFlushBytes,
        walMinOverlapBytes: onS3 ? OBJECT_STORE_MIN_OVERLAP_BYTES : LOCAL_MIN_OVERLAP_BYTES,
        readAheadGetBytes: onS3 ? OBJECT_STORE_READ_AHEAD_GET_BYTES : 0,
        packsRideWal: onS3,
        walMaxBufferedBytes: cfg.writeBufferBytes,
        maxCompactionDebtBytes: cfg.maxCompactionDebtBytes,
        tailMaxBytes: cfg.tailCacheBytes,
        blockCacheBytes: cfg.blockCacheBytes,
      },
      (topic) => topicsRef.current!.storageConfig(topic),
      this.log,
    );
    await this.logs.start();
    if (metrics) this.logs.writer.onFlush = metrics.onFlush;
    const topics = new Topics(
      this.meta,
      this.logs,
      { numPartitions: cfg.numPartitions, autoCreate: cfg.autoCreateTopics, brokerOverrides: cfg.messageMaxBytes !== DEFAULT_MESSAGE_MAX_BYTES ? { 'message.max.bytes': String(cfg.messageMaxBytes) } : {} },
      this.log,
    );
    topicsRef.current = topics;

    // Take over what the metadata store assigns (single broker: everything), each under a new epoch.
    this.leadership = new Leadership(this.meta, this.logs, topics, this.log);

    const services = (port: number): BrokerServices => ({
      config: cfg,
      meta: this.meta!,
      logs: this.logs!,
      topics,
      groups: this.groups!,
      fetchSessions: this.fetchSessions,
      cluster: new ClusterView({ brokerId: cfg.brokerId, host: cfg.advertisedHost, port, rack: cfg.rack }, this.meta!, this.logs!),
      log: this.log,
      shuttingDown: this.shutdownController.signal,
      supportedApis: supportedApiVersions(HANDLERS),
    });
    this.groups = new GroupCoordinator(this.meta, { initialRebalanceDelayMs: cfg.groupInitialRebalanceDelayMs }, this.log);
    const holder: { services: BrokerServices | null } = { services: null };
    // Coordinators follow the membership: a group that moved away is dropped (reloaded if it comes back);
    // a lapsed lease drops them all (another broker may have coordinated them meanwhile).
    const groups = this.groups;
    this.meta.on('brokers', () => {
      const view = holder.services?.cluster;
      if (view) groups.retain((g) => view.coordinatorFor(g).brokerId === cfg.brokerId);
    });
    this.meta.on('lease-lost', () => groups.forgetAll());
    let topicNames = new Set(this.meta.topics().keys());
    this.meta.on('topics', () => {
      const now = new Set(this.meta!.topics().keys());
      for (const name of topicNames) if (!now.has(name)) groups.forgetTopic(name);
      topicNames = now;
    });
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    const dispatcher = new Dispatcher(HANDLERS, () => holder.services!, ready, metrics ? (api, ms) => {
      metrics.requests.inc({ api });
      metrics.requestLatency.observe({ api }, ms / 1000);
    } : undefined);
    if (metrics && cfg.metricsListen) {
      const i = cfg.metricsListen.lastIndexOf(':');
      this.metricsServer = await metrics.serve(cfg.metricsListen.slice(0, i), Number(cfg.metricsListen.slice(i + 1)));
      this.log.info({ address: cfg.metricsListen }, 'metrics listening');
    }
    this.server = new KafkaServer(dispatcher, { maxRequestBytes: cfg.maxRequestBytes, maxInflightRequests: 128, maxInflightBytes: 16 * 1024 * 1024 }, this.log);
    const addr = await this.server.listen(cfg.listenHost, cfg.listenPort);
    this.address = addr;
    const advertisedPort = cfg.listenPort === 0 && cfg.advertisedPort === 0 ? addr.port : cfg.advertisedPort;
    holder.services = services(advertisedPort);
    await this.meta.registerBroker(holder.services.cluster.self);
    await this.leadership.start();
    markReady();
    const partitions = [...this.logs.all()].length;
    this.log.info(
      { topics: topics.all().length, partitions, ms: Date.now() - started, storage: this.store.description, metadata: this.meta.description },
      'recovery done',
    );
    this.log.info({ host: addr.host, port: addr.port, advertised: `${cfg.advertisedHost}:${advertisedPort}`, brokerId: cfg.brokerId }, 'listening');
  }

  /** Graceful: stop accepting, answer every accepted request, flush and commit, close stores. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.log.info({}, 'shutting down');
        if (this.meta?.drain) {
          // Cluster: hand every partition over while still answering, so clients move without losing anything.
          await this.meta.drain(Math.min(10_000, this.config.shutdownTimeoutMs / 2)).catch((err: unknown) =>
            this.log.warn({ err: (err as Error).message }, 'drain incomplete'),
          );
          await this.leadership?.settle();
        }
        this.shutdownController.abort();
        this.groups?.shutdown();
        await this.leadership?.stop();
        await this.server?.close();
        await this.logs?.close();
        await this.meta?.close();
        await this.store?.close();
        this.metricsServer?.close();
        this.log.info({}, 'stopped');
      })();
    }
    return this.stopping;
  }
}
