// Broker configuration from flags, STREAMHOUSE_* environment variables and an
// optional JSON file, in that order of precedence. One table defines every
// option, so --help, the environment names and the README stay in step.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_MULTIPART_THRESHOLD_BYTES } from './storage/s3-defaults.js';

export interface BrokerConfig {
  listenHost: string;
  listenPort: number;
  advertisedHost: string;
  advertisedPort: number;
  dataDir: string;
  storage: string;
  metadata: string;
  brokerId: number;
  rack: string | null;
  autoCreateTopics: boolean;
  numPartitions: number;
  defaultReplicationFactor: number;
  maxRequestBytes: number;
  messageMaxBytes: number;
  walFlushMs: number;
  walFlushBytes: number;
  writeBufferBytes: number;
  maxCompactionDebtBytes: number;
  walCopyBytes: number;
  metadataSnapshotBytes: number;
  tailCacheBytes: number;
  blockCacheBytes: number;
  logLevel: string;
  shutdownTimeoutMs: number;
  groupInitialRebalanceDelayMs: number;
  s3Endpoint: string | null;
  s3Region: string | null;
  s3ForcePathStyle: boolean;
  s3MultipartThresholdBytes: number;
  s3RequestTimeoutMs: number;
  metricsListen: string | null;
  etcdPrefix: string;
  leaseTtlSeconds: number;
  etcdMaxTxnOps: number;
  etcdRequestTimeoutMs: number;
}

/** Kafka's message.max.bytes default. */
export const DEFAULT_MESSAGE_MAX_BYTES = 1048588;

interface OptionDef {
  flag: string;
  key: keyof BrokerConfig | 'listen' | 'advertise' | 'config';
  type: 'string' | 'int' | 'boolean';
  default?: string;
  help: string;
}

export const OPTIONS: OptionDef[] = [
  { flag: 'listen', key: 'listen', type: 'string', default: '0.0.0.0:9092', help: 'HOST:PORT to accept Kafka clients on (port 0 picks a free one)' },
  { flag: 'advertise', key: 'advertise', type: 'string', help: 'HOST:PORT clients are told to connect to (default: the listen address, with 127.0.0.1 for 0.0.0.0)' },
  { flag: 'data-dir', key: 'dataDir', type: 'string', default: './data', help: 'local directory: objects (default storage), embedded metadata, caches' },
  { flag: 'storage', key: 'storage', type: 'string', help: 'where partition data lives: file:///path (default: DATA_DIR/objects) or memory://' },
  { flag: 's3-endpoint', key: 's3Endpoint', type: 'string', help: 'S3 endpoint URL (for MinIO, s3rver, ...); default: AWS' },
  { flag: 's3-region', key: 's3Region', type: 'string', help: 'S3 region (default: AWS_REGION or us-east-1)' },
  { flag: 's3-force-path-style', key: 's3ForcePathStyle', type: 'boolean', default: 'false', help: 'path-style S3 URLs (needed by most self-hosted stores)' },
  { flag: 's3-multipart-threshold-bytes', key: 's3MultipartThresholdBytes', type: 'int', default: String(DEFAULT_MULTIPART_THRESHOLD_BYTES), help: 'objects above this size are uploaded in parts (the default puts a default-sized segment in one PUT)' },
  { flag: 's3-request-timeout-ms', key: 's3RequestTimeoutMs', type: 'int', default: '10000', help: 'timeout of one S3 request (retried within the produce timeout)' },
  { flag: 'metadata', key: 'metadata', type: 'string', default: 'embedded', help: 'metadata store: embedded (beside the data) or etcd://host:port[,host:port] for a cluster' },
  { flag: 'etcd-prefix', key: 'etcdPrefix', type: 'string', default: '/streamhouse', help: 'key prefix in etcd (several clusters can share one etcd)' },
  { flag: 'lease-ttl-seconds', key: 'leaseTtlSeconds', type: 'int', default: '6', help: 'broker lease TTL in etcd: a dead broker\'s partitions move after this' },
  { flag: 'etcd-max-txn-ops', key: 'etcdMaxTxnOps', type: 'int', default: '128', help: 'etcd --max-txn-ops: larger commits are split' },
  { flag: 'etcd-request-timeout-ms', key: 'etcdRequestTimeoutMs', type: 'int', default: '5000', help: 'deadline of one etcd request' },
  { flag: 'broker-id', key: 'brokerId', type: 'int', default: '0', help: 'this broker\'s id' },
  { flag: 'rack', key: 'rack', type: 'string', help: 'rack reported in metadata' },
  { flag: 'auto-create-topics', key: 'autoCreateTopics', type: 'boolean', default: 'true', help: 'auto.create.topics.enable' },
  { flag: 'num-partitions', key: 'numPartitions', type: 'int', default: '1', help: 'num.partitions: partitions of auto-created topics and of CreateTopics with -1' },
  { flag: 'default-replication-factor', key: 'defaultReplicationFactor', type: 'int', default: '1', help: 'replication factor reported for topics (durability comes from the object store)' },
  { flag: 'max-request-bytes', key: 'maxRequestBytes', type: 'int', default: String(100 * 1024 * 1024), help: 'socket.request.max.bytes: larger frames close the connection' },
  { flag: 'message-max-bytes', key: 'messageMaxBytes', type: 'int', default: String(DEFAULT_MESSAGE_MAX_BYTES), help: 'message.max.bytes: the default of max.message.bytes' },
  { flag: 'wal-flush-ms', key: 'walFlushMs', type: 'int', default: '0', help: 'longest a produce waits for others to join its WAL object (0: flush whenever the writer is free)' },
  { flag: 'wal-flush-bytes', key: 'walFlushBytes', type: 'int', default: String(8 * 1024 * 1024), help: 'a WAL object is written once this many bytes are pending' },
  { flag: 'write-buffer-bytes', key: 'writeBufferBytes', type: 'int', default: String(64 * 1024 * 1024), help: 'bytes accepted and not yet committed before produce waits (back-pressure while the store is slow)' },
  { flag: 'max-compaction-debt-bytes', key: 'maxCompactionDebtBytes', type: 'int', default: String(1024 * 1024 * 1024), help: 'WAL bytes past one segment per partition that compaction may owe before produce waits for it (0: no bound)' },
  { flag: 'wal-copy-bytes', key: 'walCopyBytes', type: 'int', default: String(1024 * 1024 * 1024), help: 'with S3 storage: bytes of local copies of recent WAL objects, which compaction reads instead of GETting them back (0: none)' },
  { flag: 'metadata-snapshot-bytes', key: 'metadataSnapshotBytes', type: 'int', default: String(64 * 1024 * 1024), help: 'embedded metadata: journal bytes after which the state is snapshotted (at least the last snapshot\'s size)' },
  { flag: 'tail-cache-bytes', key: 'tailCacheBytes', type: 'int', default: String(128 * 1024 * 1024), help: 'recent bytes kept in memory per partition (all partitions share 128 MiB)' },
  { flag: 'block-cache-bytes', key: 'blockCacheBytes', type: 'int', default: String(128 * 1024 * 1024), help: 'bytes of object data cached for reads' },
  { flag: 'metrics-listen', key: 'metricsListen', type: 'string', help: 'HOST:PORT to serve Prometheus metrics on (/metrics); off by default' },
  { flag: 'log-level', key: 'logLevel', type: 'string', default: 'info', help: 'pino log level' },
  { flag: 'group-initial-rebalance-delay-ms', key: 'groupInitialRebalanceDelayMs', type: 'int', default: '3000', help: 'group.initial.rebalance.delay.ms: how long a new group waits for more members before its first rebalance' },
  { flag: 'shutdown-timeout-ms', key: 'shutdownTimeoutMs', type: 'int', default: '30000', help: 'longest a graceful shutdown waits' },
  { flag: 'config', key: 'config', type: 'string', help: 'JSON file with any of these options (keys as the flags)' },
];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function envName(flag: string): string {
  return `STREAMHOUSE_${flag.replace(/-/g, '_').toUpperCase()}`;
}

function parseHostPort(v: string, what: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const host = i >= 0 ? v.slice(0, i).replace(/^\[|\]$/g, '') : v;
  const port = i >= 0 ? Number(v.slice(i + 1)) : 9092;
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !host) throw new ConfigError(`--${what} must be HOST:PORT, got ${v}`);
  return { host, port };
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const byFlag = new Map(OPTIONS.map((o) => [o.flag, o]));
  const raw = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new ConfigError(`unexpected argument ${a}`);
    let [name, value] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const def = byFlag.get(name) ?? (name.startsWith('no-') ? byFlag.get(name.slice(3)) : undefined);
    if (!def) throw new ConfigError(`unknown option --${name} (see --help)`);
    if (def.type === 'boolean' && value === undefined) {
      const next = argv[i + 1];
      if (next !== undefined && /^(true|false)$/i.test(next) && !name.startsWith('no-')) {
        value = next;
        i++;
      } else value = name.startsWith('no-') ? 'false' : 'true';
      name = def.flag;
    } else if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`--${name} needs a value`);
    }
    raw.set(def.flag, value);
  }
  const file = raw.get('config') ?? env[envName('config')];
  const fromFile: Record<string, unknown> = file ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const get = (o: OptionDef): string | undefined => {
    const v = raw.get(o.flag) ?? env[envName(o.flag)] ?? (fromFile[o.flag] !== undefined ? String(fromFile[o.flag]) : undefined) ?? o.default;
    return v;
  };
  const values: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const v = get(o);
    if (v === undefined) continue;
    if (o.type === 'int') {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new ConfigError(`--${o.flag} must be an integer, got ${v}`);
      values[o.key] = n;
    } else if (o.type === 'boolean') {
      if (!/^(true|false|1|0)$/i.test(v)) throw new ConfigError(`--${o.flag} must be true or false, got ${v}`);
      values[o.key] = /^(true|1)$/i.test(v);
    } else values[o.key] = v;
  }
  const listen = parseHostPort(values.listen as string, 'listen');
  const adv = values.advertise ? parseHostPort(values.advertise as string, 'advertise') : undefined;
  const dataDir = resolve(values.dataDir as string);
  const cfg: BrokerConfig = {
    listenHost: listen.host,
    listenPort: listen.port,
    advertisedHost: adv?.host ?? (listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host),
    advertisedPort: adv?.port ?? listen.port,
    dataDir,
    storage: (values.storage as string | undefined) ?? `file://${join(dataDir, 'objects')}`,
    metadata: values.metadata as string,
    brokerId: values.brokerId as number,
    rack: (values.rack as string | undefined) ?? null,
    autoCreateTopics: values.autoCreateTopics as boolean,
    numPartitions: values.numPartitions as number,
    defaultReplicationFactor: values.defaultReplicationFactor as number,
    maxRequestBytes: values.maxRequestBytes as number,
    messageMaxBytes: values.messageMaxBytes as number,
    walFlushMs: values.walFlushMs as number,
    walFlushBytes: values.walFlushBytes as number,
    writeBufferBytes: values.writeBufferBytes as number,
    maxCompactionDebtBytes: values.maxCompactionDebtBytes as number,
    walCopyBytes: values.walCopyBytes as number,
    metadataSnapshotBytes: values.metadataSnapshotBytes as number,
    tailCacheBytes: values.tailCacheBytes as number,
    blockCacheBytes: values.blockCacheBytes as number,
    logLevel: values.logLevel as string,
    shutdownTimeoutMs: values.shutdownTimeoutMs as number,
    groupInitialRebalanceDelayMs: values.groupInitialRebalanceDelayMs as number,
    s3Endpoint: (values.s3Endpoint as string | undefined) ?? null,
    s3Region: (values.s3Region as string | undefined) ?? null,
    s3ForcePathStyle: values.s3ForcePathStyle as boolean,
    s3MultipartThresholdBytes: values.s3MultipartThresholdBytes as number,
    s3RequestTimeoutMs: values.s3RequestTimeoutMs as number,
    metricsListen: (values.metricsListen as string | undefined) ?? null,
    etcdPrefix: values.etcdPrefix as string,
    leaseTtlSeconds: values.leaseTtlSeconds as number,
    etcdMaxTxnOps: values.etcdMaxTxnOps as number,
    etcdRequestTimeoutMs: values.etcdRequestTimeoutMs as number,
  };
  if (cfg.numPartitions < 1) throw new ConfigError('--num-partitions must be at least 1');
  if (cfg.brokerId < 0) throw new ConfigError('--broker-id must be non-negative');
  if (cfg.walCopyBytes < 0) throw new ConfigError('--wal-copy-bytes must be non-negative (0: no copies)');
  if (cfg.metadataSnapshotBytes < 1) throw new ConfigError('--metadata-snapshot-bytes must be positive');
  if (cfg.maxCompactionDebtBytes < 0) throw new ConfigError('--max-compaction-debt-bytes must be non-negative (0: no bound)');
  if (cfg.leaseTtlSeconds < 2) throw new ConfigError('--lease-ttl-seconds must be at least 2');
  if (cfg.etcdMaxTxnOps < 4) throw new ConfigError('--etcd-max-txn-ops must be at least 4');
  return cfg;
}

export function helpText(): string {
  const lines = ['Usage: streamhouse serve [options]', '', 'Options (each also settable as the environment variable shown):'];
  for (const o of OPTIONS) {
    lines.push(`  --${o.flag}${o.type === 'boolean' ? '' : ' VALUE'}`.padEnd(34) + `${o.help}${o.default ? ` [default: ${o.default}]` : ''}`);
    lines.push(''.padEnd(34) + envName(o.flag));
  }
  return lines.join('\n');
}
