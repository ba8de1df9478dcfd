/**
 * The brokers under test, each started fresh (new data directory) and stopped
 * by the bench: StreamHouse with its defaults, StreamHouse on S3 (a MinIO
 * started fresh with it and stopped after it; s3rver when MinIO is not
 * built), Apache Kafka 3.9 with its defaults, and Kafka with an fsync after
 * every append.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { startReferenceKafka } from '../../scripts/kafka-ref.js';
import { startBroker } from '../../test/helpers/broker.js';
import { minioBinary, minioVersion, startMinio } from '../../test/helpers/minio.js';
import { shellQuote } from '../../test/helpers/process.js';
import type { S3ServerProcess } from '../../test/helpers/s3-server.js';
import { startS3rver } from '../../test/helpers/s3rver.js';

export type BrokerId = 'streamhouse' | 'streamhouse-s3' | 'kafka' | 'kafka-fsync';

/** StreamHouse on S3 runs on MinIO when it is built (scripts/install-test-deps.sh), else on s3rver. */
const S3_ON_MINIO = minioBinary() !== null;

/** An S3 server 'streamhouse-s3' can run on. */
export type S3ServerKind = 'minio' | 's3rver';

/** The S3 server 'streamhouse-s3' runs on unless a start asks for one (MinIO when built, else s3rver). */
export const DEFAULT_S3_SERVER: S3ServerKind = S3_ON_MINIO ? 'minio' : 's3rver';

/** Which S3 server 'streamhouse-s3' runs on (default: DEFAULT_S3_SERVER), for the report. */
export function s3ServerNote(server: S3ServerKind = DEFAULT_S3_SERVER): string {
  if (server === 'minio') return `MinIO ${minioVersion() ?? '(version unknown)'}, single drive in ${os.tmpdir()}`;
  return S3_ON_MINIO ? `s3rver` : `s3rver (MinIO is not built: scripts/install-test-deps.sh)`;
}

export const BROKER_LABEL: Record<BrokerId, string> = {
  streamhouse: 'StreamHouse (defaults: fsync\'d WAL)',
  'streamhouse-s3': S3_ON_MINIO ? 'StreamHouse on S3 (MinIO)' : 'StreamHouse on S3 (s3rver: MinIO not built)',
  kafka: 'Kafka 3.9 defaults (acks before fsync)',
  'kafka-fsync': 'Kafka 3.9 fsync each append',
};

export const BROKER_SHORT: Record<BrokerId, string> = {
  streamhouse: 'StreamHouse',
  'streamhouse-s3': S3_ON_MINIO ? 'SH on S3 (MinIO)' : 'SH on S3 (s3rver)',
  kafka: 'Kafka default',
  'kafka-fsync': 'Kafka fsync',
};

/** The bucket and key prefix of 'streamhouse-s3'. */
export const S3_BENCH_BUCKET = 'streamhouse-bench';
export const S3_BENCH_PREFIX = 'bench';

/** Broker properties of the durable Kafka run (set broker-wide, so they cover every topic). */
export const KAFKA_FSYNC_PROPS: Record<string, string> = {
  'log.flush.interval.messages': '1',
  'log.flush.interval.ms': '0',
};

let streamhouseCli: string | undefined;

/** The StreamHouse CLI to run (default: the working tree's dist/src/cli.js). */
export function setStreamHouseCli(cli: string): void {
  streamhouseCli = cli;
}

export interface RunningBroker {
  id: BrokerId;
  bootstrap: string;
  pid: number;
  startupMs: number;
  /** Date.now() just before the broker process was spawned. */
  spawnedAt: number;
  running(): boolean;
  /** Graceful stop (SIGTERM), then the data dir is removed. */
  stop(): Promise<void>;
  /** Last output lines, for error reports. */
  tail(n?: number): string;
  /** 'streamhouse-s3': the S3 server it runs on (stopped by stop()). */
  s3?: S3ServerProcess;
}

export interface StartOptions {
  /** Node flags for StreamHouse (e.g. --cpu-prof). */
  nodeArgs?: string[];
  scratchDir?: string;
  /** StreamHouse only: CLI arguments appended after the standard ones (e.g. ['--metrics-listen', '127.0.0.1:9100']). */
  extraArgs?: string[];
  /** 'streamhouse-s3' only: the S3 server to start (default DEFAULT_S3_SERVER). */
  s3Server?: S3ServerKind;
  /** 'streamhouse-s3' only: run on this S3 server (its first bucket) instead of a fresh one; the caller stops it. */
  s3?: S3ServerProcess;
}

export async function startBrokerUnderTest(id: BrokerId, opts: StartOptions = {}): Promise<RunningBroker> {
  const t0 = Date.now();
  if (id === 'streamhouse-s3' && opts.s3) return startStreamHouse(id, Date.now(), opts, opts.s3, false);
  if (id === 'streamhouse-s3') {
    // A fresh, empty store for every start, like the data dir of the others;
    // startupMs is the broker's own (from after the S3 server is up).
    const s3 = await ((opts.s3Server ?? DEFAULT_S3_SERVER) === 'minio' ? startMinio : startS3rver)({ buckets: [S3_BENCH_BUCKET] });
    try {
      return await startStreamHouse(id, Date.now(), opts, s3);
    } catch (err) {
      await s3.cleanup();
      throw err;
    }
  }
  if (id === 'streamhouse') return startStreamHouse(id, t0, opts);
  const k = await startReferenceKafka({ extraProps: id === 'kafka-fsync' ? KAFKA_FSYNC_PROPS : {} });
  if (id === 'kafka-fsync') {
    // KafkaConfig logs its effective values at start-up: make sure the flush settings took
    for (const [key, v] of Object.entries(KAFKA_FSYNC_PROPS)) {
      if (!k.logs().some((l) => l.trim() === `${key} = ${v}`)) {
        await k.stop();
        throw new Error(`Kafka did not report ${key} = ${v} in its start-up config`);
      }
    }
  }
  let up = true;
  return {
    id,
    bootstrap: k.bootstrap,
    pid: k.pid,
    startupMs: k.startupMs,
    spawnedAt: t0,
    running: () => {
      if (!up) return false;
      try {
        process.kill(k.pid, 0);
        return true;
      } catch {
        return false;
      }
    },
    stop: async () => {
      up = false;
      await k.stop();
    },
    tail: (n = 20) => k.logs().slice(-n).join('\n'),
  };
}

/** StreamHouse (dist/src/cli.js serve) on a fresh data dir; on `s3` when given, which its stop() also stops when `ownsS3`. */
async function startStreamHouse(
  id: BrokerId,
  t0: number,
  opts: StartOptions,
  s3?: S3ServerProcess,
  ownsS3 = true,
): Promise<RunningBroker> {
  let node: string | undefined;
  if (opts.nodeArgs?.length) {
    // node flags such as --cpu-prof are not allowed in NODE_OPTIONS: exec node through a wrapper
    const dir = opts.scratchDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'streamhouse-bench-node-'));
    node = path.join(dir, 'node-wrapper.sh');
    fs.writeFileSync(node, `#!/bin/sh\nexec ${[process.execPath, ...opts.nodeArgs].map(shellQuote).join(' ')} "$@"\n`, { mode: 0o755 });
  }
  const spawnedAt = Date.now();
  const b = await startBroker({
    node,
    cliPath: streamhouseCli,
    readyTimeoutMs: 30_000,
    args: [
      ...(s3 ? ['--storage', `s3://${s3.bucket}/${S3_BENCH_PREFIX}`, '--s3-endpoint', s3.endpoint, '--s3-force-path-style'] : []),
      ...(opts.extraArgs ?? []),
    ],
    ...(s3 ? { env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region } } : {}),
  });
  return {
    id,
    bootstrap: b.bootstrap,
    pid: b.pid,
    startupMs: Date.now() - t0,
    spawnedAt,
    running: () => b.running && (s3?.running ?? true),
    stop: async () => {
      // SIGTERM: the broker shuts down and exits by itself (which also writes a --cpu-prof profile)
      await b.stop(30_000);
      await b.cleanup();
      if (ownsS3) await s3?.cleanup();
    },
    tail: (n = 20) => {
      const s3Note = s3 && !s3.running ? [`S3 server exited; its last lines: ${s3.logs().slice(-5).join(' | ')}`] : [];
      return [...b.logs(), ...s3Note].slice(-n).join('\n');
    },
    ...(s3 ? { s3 } : {}),
  };
}

function admin(bootstrap: string) {
  const kafka = new kafkajs.Kafka({
    clientId: 'streamhouse-bench',
    brokers: [bootstrap],
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 5 },
  });
  return kafka.admin();
}

/** Creates topics (default: one partition each) with the given topic configs (same on every broker). */
export async function createTopics(
  bootstrap: string,
  names: string[],
  configs: Record<string, string>,
  opts: { numPartitions?: number; timeoutMs?: number } = {},
): Promise<void> {
  const a = admin(bootstrap);
  await a.connect();
  try {
    await a.createTopics({
      waitForLeaders: true,
      ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
      topics: names.map((topic) => ({
        topic,
        numPartitions: opts.numPartitions ?? 1,
        replicationFactor: 1,
        configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
      })),
    });
  } finally {
    await a.disconnect();
  }
}

/** High watermark of partition 0. */
export async function highWatermark(bootstrap: string, topic: string): Promise<number> {
  const a = admin(bootstrap);
  await a.connect();
  try {
    const offs = await a.fetchTopicOffsets(topic);
    const p = offs.find((o) => o.partition === 0);
    return p ? Number(p.high) : 0;
  } finally {
    await a.disconnect();
  }
}

/** High watermark of every partition of `topic`, by partition. */
export async function highWatermarks(bootstrap: string, topic: string): Promise<Map<number, number>> {
  const a = admin(bootstrap);
  await a.connect();
  try {
    const offs = await a.fetchTopicOffsets(topic);
    return new Map(offs.map((o) => [o.partition, Number(o.high)]));
  } finally {
    await a.disconnect();
  }
}
