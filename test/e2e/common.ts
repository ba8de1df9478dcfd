/** Small shared pieces of the end-to-end tests. */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ApiVersionsApi } from '../../src/protocol/generated/api-versions.js';
import { CreateTopicsApi } from '../../src/protocol/generated/create-topics.js';
import { FetchApi, type FetchRequest } from '../../src/protocol/generated/fetch.js';
import { splitBatches } from '../../src/protocol/records/batch.js';
import { BROKER_CLI, startBroker, type BrokerProcess, type StartBrokerOptions } from '../helpers/broker.js';
import { withConnection } from './wire.js';

/**
 * The broker CLI the e2e tests run: dist/src/cli.js (`npm run build`), or
 * STREAMHOUSE_E2E_CLI, e.g. a private `tsc --outDir` build while others
 * rebuild dist/ on a shared checkout.
 */
export const CLI = process.env.STREAMHOUSE_E2E_CLI ?? BROKER_CLI;

/** startBroker with the e2e CLI. */
export function startE2EBroker(opts: StartBrokerOptions = {}): Promise<BrokerProcess> {
  return startBroker({ cliPath: CLI, ...opts });
}

/** A topic name no other test (or earlier run on a reused data dir) uses. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** api key -> [min, max] the broker advertises in ApiVersions v3. */
export async function apiVersionsOf(port: number): Promise<Map<number, [number, number]>> {
  const res = await withConnection(port, (c) =>
    c.request(ApiVersionsApi, 3, { clientSoftwareName: 'e2e', clientSoftwareVersion: '1.0' }),
  );
  if (res.errorCode !== 0) throw new Error(`ApiVersions error ${res.errorCode}`);
  return new Map(res.apiKeys.map((k) => [k.apiKey, [k.minVersion, k.maxVersion] as [number, number]]));
}

/** Consumer groups are served when the broker advertises JoinGroup (key 11). */
export async function groupsAvailable(port: number): Promise<boolean> {
  return (await apiVersionsOf(port)).has(11);
}

/** Resident set size of a live process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Polls `fn` until it returns a truthy value (returned) or throws after timeoutMs. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 15_000, what = 'condition', intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * The stored record batches of one partition from `offset` (one Fetch v11 on a
 * raw connection, no client library), as the broker returns them.
 */
export async function fetchRawBatches(port: number, topic: string, partition: number, offset = 0, maxBytes = 8 << 20): Promise<Buffer[]> {
  const res = await withConnection(port, (c) => c.request(FetchApi, 11, fetchRequest(topic, partition, offset, maxBytes)));
  const p = res.responses[0]!.partitions[0]!;
  if (p.errorCode !== 0) throw new Error(`fetch ${topic}/${partition}: error ${p.errorCode}`);
  const rec = p.records;
  const buf = rec === null ? Buffer.alloc(0) : Array.isArray(rec) ? Buffer.concat(rec) : rec;
  return splitBatches(buf);
}

/** A sessionless Fetch v11 of one partition from `offset`, answering at once, up to maxBytes. */
export function fetchRequest(topic: string, partition: number, offset: number, maxBytes: number): FetchRequest {
  return {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: BigInt(offset), logStartOffset: -1n, partitionMaxBytes: maxBytes }] }],
    forgottenTopicsData: [],
    rackId: '',
  };
}

/** Creates a topic with a raw CreateTopics v4 (no client library); throws on an error code. */
export async function createTopic(port: number, name: string, partitions: number, configs: Record<string, string> = {}): Promise<void> {
  const res = await withConnection(port, (c) =>
    c.request(CreateTopicsApi, 4, {
      topics: [
        {
          name,
          numPartitions: partitions,
          replicationFactor: 1,
          assignments: [],
          configs: Object.entries(configs).map(([k, v]) => ({ name: k, value: v })),
        },
      ],
      timeoutMs: 10_000,
      validateOnly: false,
    }),
  );
  const t = res.topics[0]!;
  if (t.errorCode !== 0) throw new Error(`CreateTopics ${name}: error ${t.errorCode} ${t.errorMessage ?? ''}`);
}
