// Prometheus metrics (prom-client) for operators, served on --metrics-listen
// at /metrics. The storage layer reports through hooks; this module owns the
// names.

import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ObjectKind } from './storage/object-store.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SIZE_BUCKETS = [1024, 16 * 1024, 64 * 1024, 256 * 1024, 1 << 20, 4 << 20, 16 << 20, 64 << 20];

export class Metrics {
  readonly registry = new Registry();
  readonly objectRequests = new Counter({ name: 'streamhouse_object_store_requests_total', help: 'Object store requests', labelNames: ['op', 'kind', 'outcome'], registers: [this.registry] });
  readonly objectBytes = new Counter({ name: 'streamhouse_object_store_bytes_total', help: 'Bytes moved to (put) and from (get) the object store', labelNames: ['op', 'kind'], registers: [this.registry] });
  readonly objectLatency = new Histogram({ name: 'streamhouse_object_store_request_seconds', help: 'Object store request latency (kind wal: on the produce path; segments: compaction and reads)', labelNames: ['op', 'kind'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly objectRetries = new Counter({ name: 'streamhouse_object_store_retries_total', help: 'Retried object store requests', labelNames: ['op'], registers: [this.registry] });
  readonly walFlushBytes = new Histogram({ name: 'streamhouse_wal_flush_bytes', help: 'Size of WAL objects written', buckets: SIZE_BUCKETS, registers: [this.registry] });
  readonly walFlushLatency = new Histogram({ name: 'streamhouse_wal_flush_seconds', help: 'WAL object write plus metadata commit latency', buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly requests = new Counter({ name: 'streamhouse_requests_total', help: 'Kafka requests handled', labelNames: ['api'], registers: [this.registry] });
  readonly requestLatency = new Histogram({ name: 'streamhouse_request_seconds', help: 'Kafka request latency (fetch includes long-poll waits)', labelNames: ['api'], buckets: LATENCY_BUCKETS, registers: [this.registry] });

  constructor(sources: { cache: () => { hits: number; misses: number; bytes: number }; pool: () => { allocated: number; reused: number }; backlogBytes: () => number; debtBytes: () => number; produceHolds: () => number; cleanings: () => number; bufferedBytes: () => number; fetchSessions: () => number }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'streamhouse_' });
    new Gauge({ name: 'streamhouse_block_cache_hits', help: 'Block cache hits since start', registers: [this.registry], collect() { this.set(sources.cache().hits); } });
    new Gauge({ name: 'streamhouse_block_cache_misses', help: 'Block cache misses since start', registers: [this.registry], collect() { this.set(sources.cache().misses); } });
    new Gauge({
      name: 'streamhouse_block_cache_hit_ratio',
      help: 'Block cache hit ratio since start',
      registers: [this.registry],
      collect() {
        const c = sources.cache();
        this.set(c.hits + c.misses ? c.hits / (c.hits + c.misses) : 0);
      },
    });
    new Gauge({ name: 'streamhouse_block_cache_bytes', help: 'Bytes held by the block cache', registers: [this.registry], collect() { this.set(sources.cache().bytes); } });
    new Gauge({ name: 'streamhouse_block_memory_allocated', help: 'Segment reads (a block, or an S3 GET of adjacent blocks) into new memory since start', registers: [this.registry], collect() { this.set(sources.pool().allocated); } });
    new Gauge({ name: 'streamhouse_block_memory_reused', help: 'Segment reads (a block, or an S3 GET of adjacent blocks) into memory no reader held any more, since start', registers: [this.registry], collect() { this.set(sources.pool().reused); } });
    new Gauge({ name: 'streamhouse_compaction_backlog_bytes', help: 'WAL bytes not yet compacted into segments', registers: [this.registry], collect() { this.set(sources.backlogBytes()); } });
    new Gauge({ name: 'streamhouse_compaction_debt_bytes', help: 'WAL bytes past one segment per partition awaiting compaction (produce waits above --max-compaction-debt-bytes)', registers: [this.registry], collect() { this.set(sources.debtBytes()); } });
    new Gauge({ name: 'streamhouse_produce_held_for_compaction', help: 'Times since start that produce waited for compaction to catch up', registers: [this.registry], collect() { this.set(sources.produceHolds()); } });
    new Gauge({ name: 'streamhouse_log_cleanings', help: 'Cleanings of compacted partitions (cleanup.policy=compact) since start', registers: [this.registry], collect() { this.set(sources.cleanings()); } });
    new Gauge({ name: 'streamhouse_fetch_sessions', help: 'Consumers\' fetch sessions (KIP-227) the broker holds', registers: [this.registry], collect() { this.set(sources.fetchSessions()); } });
    new Gauge({ name: 'streamhouse_write_buffered_bytes', help: 'Bytes accepted and not yet committed', registers: [this.registry], collect() { this.set(sources.bufferedBytes()); } });
  }

  onObjectRequest = (op: string, bytes: number, ms: number, ok: boolean, kind: ObjectKind): void => {
    this.objectRequests.inc({ op, kind, outcome: ok ? 'ok' : 'error' });
    if (ok && bytes) this.objectBytes.inc({ op, kind }, bytes);
    this.objectLatency.observe({ op, kind }, ms / 1000);
  };

  onObjectRetry = (op: string): void => {
    this.objectRetries.inc({ op: op.split(' ')[0]!.toLowerCase() });
  };

  onFlush = (bytes: number, ms: number): void => {
    this.walFlushBytes.observe(bytes);
    this.walFlushLatency.observe(ms / 1000);
  };

  /** Serves /metrics; resolves with the bound address. */
  serve(host: string, port: number): Promise<http.Server> {
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
