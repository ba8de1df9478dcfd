/**
 * The brokers under test, each started fresh (new data directory) and stopped
 * by the bench: StreamHouse with its defaults, Apache Kafka 3.9 with its
 * defaults, and Kafka with an fsync after every append.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { startReferenceKafka } from '../../scripts/kafka-ref.js';
import { startBroker } from '../../test/helpers/broker.js';
import { shellQuote } from '../../test/helpers/process.js';

export type BrokerId = 'streamhouse' | 'kafka' | 'kafka-fsync';

export const BROKER_LABEL: Record<BrokerId, string> = {
  streamhouse: 'StreamHouse (defaults: fsync\'d WAL)',
  kafka: 'Kafka 3.9 defaults (acks before fsync)',
  'kafka-fsync': 'Kafka 3.9 fsync each append',
};

export const BROKER_SHORT: Record<BrokerId, string> = {
  streamhouse: 'StreamHouse',
  kafka: 'Kafka default',
  'kafka-fsync': 'Kafka fsync',
};

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
}

export async function startBrokerUnderTest(id: BrokerId, opts: { nodeArgs?: string[]; scratchDir?: string } = {}): Promise<RunningBroker> {
  const t0 = Date.now();
  if (id === 'streamhouse') {
    let node: string | undefined;
    if (opts.nodeArgs?.length) {
      // node flags such as --cpu-prof are not allowed in NODE_OPTIONS: exec node through a wrapper
      const dir = opts.scratchDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'streamhouse-bench-node-'));
      node = path.join(dir, 'node-wrapper.sh');
      fs.writeFileSync(node, `#!/bin/sh\nexec ${[process.execPath, ...opts.nodeArgs].map(shellQuote).join(' ')} "$@"\n`, { mode: 0o755 });
    }
    const spawnedAt = Date.now();
    const b = await startBroker({ node, cliPath: streamhouseCli, readyTimeoutMs: 30_000 });
    return {
      id,
      bootstrap: b.bootstrap,
      pid: b.pid,
      startupMs: Date.now() - t0,
      spawnedAt,
      running: () => b.running,
      stop: async () => {
        // SIGTERM: the broker shuts down and exits by itself (which also writes a --cpu-prof profile)
        await b.stop(30_000);
        await b.cleanup();
      },
      tail: (n = 20) => b.logs().slice(-n).join('\n'),
    };
  }
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

function admin(bootstrap: string) {
  const kafka = new kafkajs.Kafka({
    clientId: 'streamhouse-bench',
    brokers: [bootstrap],
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 5 },
  });
  return kafka.admin();
}

/** Creates single-partition topics with the given topic configs (same on every broker). */
export async function createTopics(bootstrap: string, names: string[], configs: Record<string, string>): Promise<void> {
  const a = admin(bootstrap);
  await a.connect();
  try {
    await a.createTopics({
      waitForLeaders: true,
      topics: names.map((topic) => ({
        topic,
        numPartitions: 1,
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
