/**
 * Shared pieces of the object-storage tests (test/s3/): a broker on S3
 * (s3rver or MinIO, directly or through a proxy), listing the bucket, reading a topic
 * back with kcat's JSON envelope, and scraping the Prometheus endpoint.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { BrokerProcess } from '../helpers/broker.js';
import { runKcat } from '../helpers/clients.js';
import type { S3ServerProcess } from '../helpers/s3-server.js';
import { startE2EBroker } from '../e2e/common.js';

export { rssBytes, uniqueTopic, waitFor, createTopic } from '../e2e/common.js';

export interface S3BrokerOptions {
  s3: S3ServerProcess;
  /** Key prefix inside the bucket (s3://bucket/<prefix>). */
  prefix: string;
  /** S3 endpoint the broker talks to (default the server itself; a proxy in the fault tests). */
  endpoint?: string;
  bucket?: string;
  dataDir?: string;
  port?: number;
  args?: string[];
}

/** The serve flags for S3 storage. */
export function s3Args(o: S3BrokerOptions): string[] {
  return [
    '--storage',
    `s3://${o.bucket ?? o.s3.bucket}/${o.prefix}`,
    '--s3-endpoint',
    o.endpoint ?? o.s3.endpoint,
    '--s3-force-path-style',
    ...(o.args ?? []),
  ];
}

/** Credentials and region only: the endpoint is given by flag (AWS_ENDPOINT_URL_S3 would name the server itself). */
export function s3Env(s3: S3ServerProcess): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
}

export function startS3Broker(o: S3BrokerOptions): Promise<BrokerProcess> {
  return startE2EBroker({ args: s3Args(o), env: s3Env(o.s3), dataDir: o.dataDir, port: o.port, readyTimeoutMs: 60_000 });
}

/** Every key (relative to `prefix/`) and size under s3://bucket/prefix/<under>. */
export async function listObjects(s3: S3ServerProcess, prefix: string, under = ''): Promise<Array<{ key: string; size: number }>> {
  const c = s3.client();
  try {
    const out: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/${under}`, ContinuationToken: token }));
      for (const o of r.Contents ?? []) out.push({ key: o.Key!.slice(prefix.length + 1), size: o.Size ?? 0 });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  } finally {
    c.destroy();
  }
}

export interface KcatMessage {
  topic: string;
  partition: number;
  offset: number;
  ts: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

/** `kcat -C -o <offset> -e -J`: every message from `offset` to the end, all partitions (or one). */
export async function kcatJson(bootstrap: string, topic: string, opts: { offset?: string; partition?: number; extra?: string[]; timeoutMs?: number } = {}): Promise<KcatMessage[]> {
  const args = ['-C', '-b', bootstrap, '-t', topic, '-o', opts.offset ?? 'beginning', '-e', '-q', '-J'];
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  args.push(...(opts.extra ?? []));
  const r = await runKcat(args, { timeoutMs: opts.timeoutMs ?? 60_000 });
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as KcatMessage);
}

/** Groups messages by partition, each list in offset order as read. */
export function byPartition<T extends { partition: number }>(msgs: T[]): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const x of msgs) {
    let l = m.get(x.partition);
    if (!l) m.set(x.partition, (l = []));
    l.push(x);
  }
  return m;
}

/** Prometheus text -> 'name{labels}' -> value (labels as printed, sorted by prom-client). */
export async function scrapeMetrics(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of every series of `name` whose labels include all of `labels` (e.g. {op: 'put', outcome: 'error'}). */
export function metricSum(m: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [k, v] of m) {
    const brace = k.indexOf('{');
    const n = brace < 0 ? k : k.slice(0, brace);
    if (n !== name) continue;
    const ls = brace < 0 ? '' : k.slice(brace);
    if (Object.entries(labels).every(([lk, lv]) => ls.includes(`${lk}="${lv}"`))) sum += v;
  }
  return sum;
}

/** The topic id the broker logged when it created `topic` (the segments/<topicId>/ folder). */
export function topicIdFromLogs(broker: BrokerProcess, topic: string): string {
  for (const l of broker.allLogs()) {
    if (!l.includes('"topic created"') || !l.includes(`"topic":"${topic}"`)) continue;
    const id = (JSON.parse(l) as { topicId?: string }).topicId;
    if (id) return id;
  }
  throw new Error(`no "topic created" log line for ${topic}`);
}
