/**
 * StreamHouse on S3 under load: five scenarios, each on a fresh broker with
 * a fresh S3 server and bucket (bench/lib/brokers.ts, 'streamhouse-s3'),
 * measured with franz-go, Kafka's own ProducerPerformance and librdkafka, and from the
 * broker's own Prometheus metrics (--metrics-listen), scraped before and
 * after each scenario and once a second during it (RSS).
 *
 *   npm run bench:s3 -- [--quick] [--duration S] [--only 1,2,3,4,5] [--rate N] [--s1-client franz|java] [--s1-batch-bytes N]
 *                       [--s3 s3rver|minio] [--build] [--out FILE]
 *
 *  1. one producer at a fixed rate of 100 B records (--rate, default 1,100,000/s: see DEFAULT_RATE_1), 1 partition;
 *     franz-go by default: Kafka's Java producer cannot send 1,000,000/s on this machine
 *  2. 1,000 partitions at 10 records/s each (librdkafka, partitions in turn): objects written per WAL flush
 *  3. 1 MB records at 100/s
 *  4. consumer lag: produce 100 B records as fast as possible while a librdkafka
 *     consumer reads the same partition from offset 0; time from the end of
 *     production until the consumer has read every record
 *  5. cold read: a consumer from offset 0 of a partition that lives only in
 *     the bucket (written by one broker, read through a new one on a fresh
 *     data directory), against the S3 server's own GET speed for the same
 *     ranges, one at a time and several in flight
 *
 * and the machine's own limits in the same run (disk fsync write speed,
 * loopback TCP, bench/lib/system.ts). Prints each scenario's figures, then a
 * table, and writes bench/S3-LOAD.md (bench/S3-LOAD.partial.md for a run of
 * some scenarios only, unless --out). Run by hand, not in the test suite.
 * Every process it starts (brokers, S3 servers, Java and Python clients) is
 * stopped at the end, also on an error or Ctrl-C.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { BROKER_CLI, BROKER_NODE_FLAGS, REPO_ROOT } from '../test/helpers/broker.js';
import { startEtcd, type EtcdProcess } from '../test/helpers/etcd.js';
import { startMinio } from '../test/helpers/minio.js';
import { freePort } from '../test/helpers/ports.js';
import { sleep } from '../test/helpers/process.js';
import type { S3ServerProcess } from '../test/helpers/s3-server.js';
import { startS3rver } from '../test/helpers/s3rver.js';
import { errMsg, fmtInt, fmtNum, makeLog, mdTable, runBench, textTable, windowsFor, type Table } from './lib/report.js';
import {
  createTopics,
  highWatermark,
  highWatermarks,
  S3_BENCH_BUCKET,
  S3_BENCH_PREFIX,
  s3ServerNote,
  startBrokerUnderTest,
  type RunningBroker,
  type S3ServerKind,
} from './lib/brokers.js';
import { PERF_JVM, runConsumerPerformance, runProducerPerformance, type ConsumePerfResult, type ProducePerfResult } from './lib/kafka-tools.js';
import { histogramDelta, histogramQuantile, scrape, delta, value, type QuantileEstimate, type Scrape } from './lib/prometheus.js';
import { rdkafkaFollow, rdkafkaProduce, type RdkProduceResult } from './lib/rdkafka.js';
import { buildFranzBenchFirst, franzProduce, type FranzProduceResult } from './lib/franz.js';
import { coalesceRanges, measureS3Gets, measureS3Puts, segmentBlockRanges, type S3GetLimit, type S3PutLimit } from './lib/s3-limit.js';
import { OBJECT_STORE_READ_AHEAD_GET_BYTES } from '../src/storage/range-reader.js';
import { loadavg, machineBusySeconds, machineFacts, measureDisk, measureLoopback, MiB, processCpuSeconds, type DiskResult, type LoopbackResult, type MachineFacts } from './lib/system.js';

const BENCH_DIR = path.join(REPO_ROOT, 'bench');

// ------------------------------------------------------------------ options

const ALL_SCENARIOS = [1, 2, 3, 4, 5];

interface Options {
  quick: boolean;
  /** Seconds of load per scenario. */
  duration: number;
  /** Scenario 1's fixed rate, records/s. */
  rate: number;
  /** Scenario 1's producer batch limit (Java batch.size, kgo.ProducerBatchMaxBytes); 0: the client's default here. */
  s1BatchBytes: number;
  /** Scenario 1's producer: franz-go (paced to the rate) or Kafka's ProducerPerformance. */
  s1Client: 'franz' | 'java';
  only: number[];
  s3: S3ServerKind;
  /** etcd: an etcd started for each scenario (the clustered deployment); embedded: the journal in the bucket. */
  metadata: 'etcd' | 'embedded';
  build: boolean;
  out: string;
}

const USAGE = `usage: npm run bench:s3 -- [options]
  --duration S        seconds of load in each scenario (default 30; scenario 4 produces for S
                      rounded up to ProducerPerformance's 5 s windows)
  --quick             --duration 10
  --only LIST         scenarios to run, e.g. 1,3 (default 1,2,3,4,5)
  --rate N            scenario 1's fixed rate of 100 B records/s (default 1,100,000: the target, 1,000,000, plus 10%)
  --s1-client C       scenario 1's producer: franz (default: franz-go paced to the rate, bench/lib/franz.ts)
                      or java (ProducerPerformance, which tops out near 500K records/s on this machine)
  --s1-batch-bytes N  scenario 1's batch limit: franz-go's ProducerBatchMaxBytes (default 1000000, kgo's)
                      or the Java batch.size (default 262144, as bench/run.ts); larger batches lift the
                      producer's window (see props1) for larger PUTs
  --s3 SERVER         s3rver (default) or minio (built by scripts/install-test-deps.sh)
  --metadata KIND     etcd (default: an etcd per scenario, as brokers sharing a bucket run) or
                      embedded (the single-broker default: its metadata journal in the bucket,
                      one more PUT per WAL flush)
  --build             run 'npm run build' first (default: measure dist/ as it is)
  --out FILE          report file (default bench/S3-LOAD.md; bench/S3-LOAD.partial.md with --only)
`;

function parseOptions(argv: string[]): Options {
  const o: Options = { quick: false, duration: 0, rate: DEFAULT_RATE_1, s1BatchBytes: 0, s1Client: 'franz', only: [...ALL_SCENARIOS], s3: 's3rver', metadata: 'etcd', build: false, out: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--duration') o.duration = Number(val());
    else if (a === '--rate') o.rate = Number(val().replace(/[_,]/g, ''));
    else if (a === '--s1-batch-bytes') o.s1BatchBytes = Number(val().replace(/[_,]/g, ''));
    else if (a === '--s1-client') {
      const v = val();
      if (v !== 'franz' && v !== 'java') throw new Error(`--s1-client franz|java, got ${v}`);
      o.s1Client = v;
    }
    else if (a === '--only') {
      o.only = [...new Set(val().split(',').map((s) => Number(s.trim())))].sort();
      if (!o.only.length || o.only.some((n) => !ALL_SCENARIOS.includes(n))) throw new Error('--only takes scenario numbers 1-5, e.g. --only 1,3');
    } else if (a === '--s3') {
      const v = val();
      if (v !== 's3rver' && v !== 'minio') throw new Error(`--s3 s3rver|minio, got ${v}`);
      o.s3 = v;
    } else if (a === '--metadata') {
      const v = val();
      if (v !== 'etcd' && v !== 'embedded') throw new Error(`--metadata etcd|embedded, got ${v}`);
      o.metadata = v;
    } else if (a === '--build') o.build = true;
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (!o.duration) o.duration = o.quick ? 10 : 30;
  if (!o.s1BatchBytes) o.s1BatchBytes = o.s1Client === 'java' ? 262_144 : 1_000_000;
  if (!(o.duration > 0) || !(o.rate > 0) || !(o.s1BatchBytes > 0)) throw new Error('--duration, --rate and --s1-batch-bytes must be positive');
  if (!o.out) o.out = path.join(BENCH_DIR, o.only.length === ALL_SCENARIOS.length ? 'S3-LOAD.md' : 'S3-LOAD.partial.md');
  return o;
}

// ------------------------------------------------------------------ settings

/** Scenario 4: the tuned producer of bench/run.ts. */
const PROPS_100B: Record<string, string> = { acks: 'all', 'linger.ms': '5', 'batch.size': '262144' };
/**
 * Scenario 1: the same, batch.size from --s1-batch-bytes. An idempotent
 * producer keeps 5 requests in flight, so one producer's rate is at most
 * 5 x request size / request latency (Redpanda's guide for its Cloud Topics):
 * 256 KiB requests at s3rver's 20-40 ms PUTs cap it near 35-65 MB/s, below
 * the target; 1 MiB batches lift that cap, for larger and slower PUTs.
 */
function props1(o: Options): Record<string, string> {
  return { acks: 'all', 'linger.ms': '5', 'batch.size': String(o.s1BatchBytes), 'max.request.size': String(Math.max(1 << 20, 2 * o.s1BatchBytes)) };
}
/** Scenario 2: 1,000 partitions, the records spread over them in turn. */
const PARTITIONS_2 = 1000;
const RATE_2 = 10_000;
/**
 * librdkafka writing partition i % 1000 for record i, paced (bench.* are
 * rdkafka_bench.py's own settings): Kafka 3.9's RoundRobinPartitioner skips
 * every other partition when each record starts a new batch (KAFKA-9965).
 */
const PROPS_2: Record<string, string> = {
  acks: 'all',
  // librdkafka sends one partition per ProduceRequest; an idempotent
  // producer keeps at most 5 of them in flight, which would pace 1,000
  // partitions by round trips, not by the broker.
  'enable.idempotence': 'false',
  'linger.ms': '5',
  'bench.partitions': String(PARTITIONS_2),
  'bench.rate': String(RATE_2),
};
/** Scenario 3: 1 MB records. */
const SIZE_3 = 1_000_000;
const RATE_3 = 100;
const PROPS_3: Record<string, string> = { acks: 'all', 'linger.ms': '5', 'batch.size': '262144', 'max.request.size': '2097152' };
const TOPIC_CONFIGS_3: Record<string, string> = { 'max.message.bytes': '2097152' };

/**
 * Scenario 5: 64 KiB records, each a different random value: incompressible,
 * so the bucket holds as many bytes as the consumer reads back (one value for
 * every record, as ProducerPerformance sends, LZ4-compresses to almost nothing).
 */
const SIZE_5 = 64 * 1024;
/** Longest wait for compaction to move the WAL into segments before the first broker stops. */
const SETTLE_SECONDS_5 = 120;
/**
 * The S3 server's own speed for the same bytes: a block per GET, one at a
 * time (a reader without read-ahead), and the broker's read-ahead GETs (up to
 * OBJECT_STORE_READ_AHEAD_GET_BYTES of adjacent blocks) with 1, 2 and 8 in flight.
 */
interface GetPattern {
  /** 0: one block per GET. */
  getBytes: number;
  concurrency: number;
}
const GET_PATTERNS_5: GetPattern[] = [
  { getBytes: 0, concurrency: 1 },
  { getBytes: OBJECT_STORE_READ_AHEAD_GET_BYTES, concurrency: 1 },
  { getBytes: OBJECT_STORE_READ_AHEAD_GET_BYTES, concurrency: 2 },
  { getBytes: OBJECT_STORE_READ_AHEAD_GET_BYTES, concurrency: 8 },
];
const GET_SECONDS_5 = 5;

function patternText(p: GetPattern): string {
  return `${p.getBytes ? `GETs of up to ${fmtInt(p.getBytes / MiB)} MiB of blocks` : 'one block per GET'}, ${p.concurrency} in flight`;
}
/** "At the speed of the store": the cold read gets at least this share of the best of those. */
const TARGET_STORE_SHARE_5 = 0.8;

/** The S3 server's ceiling is measured with scenario 3's objects and an idempotent producer's requests in flight. */
const S3_LIMIT_OBJECT_BYTES = 1 << 20;
const S3_LIMIT_IN_FLIGHT = 5;

const TARGET_RATE_1 = 1_000_000;
/**
 * Scenario 1 asks 10% more than its target: the rate is acknowledged records
 * over the time to the last acknowledgement, so a producer paced at exactly
 * 1,000,000/s that the broker keeps up with measures 995-998K (the flush at
 * the end), below a target it met.
 */
const DEFAULT_RATE_1 = 1_100_000;
const PLAN_RATE_1 = 100_000;
const TARGET_PUT_P99_MS = 100;
const PLAN_PUT_P99_MS = 500;
const TARGET_RSS_MIB = 512;
const PLAN_RSS_MIB = 2048;

const METRIC = {
  requests: 'streamhouse_object_store_requests_total',
  latency: 'streamhouse_object_store_request_seconds',
  bytes: 'streamhouse_object_store_bytes_total',
  retries: 'streamhouse_object_store_retries_total',
  flush: 'streamhouse_wal_flush_seconds',
  flushBytes: 'streamhouse_wal_flush_bytes',
  produceHolds: 'streamhouse_produce_held_for_compaction',
  debt: 'streamhouse_compaction_debt_bytes',
  // prom-client's default metrics carry the registry's prefix (src/metrics.ts: 'streamhouse_')
  rss: ['process_resident_memory_bytes', 'streamhouse_process_resident_memory_bytes'],
};


// ------------------------------------------------------------------ logging

const T0 = Date.now();
const log = makeLog('bench:s3');

// ------------------------------------------------------------------ measurements on the broker

interface Estimate {
  /** ms; NaN when there was no request. */
  ms: number;
  /** The quantile is in the +Inf bucket: the value is the last finite bound, the real one is above it. */
  above: boolean;
  /** Bucket bounds, ms. */
  lowerMs: number;
  upperMs: number;
}

function estimate(q: number, before: Scrape, after: Scrape, name: string, labels: Record<string, string>): Estimate {
  const e: QuantileEstimate = histogramQuantile(q, histogramDelta(before, after, name, labels));
  return { ms: e.value * 1000, above: e.aboveLastBucket, lowerMs: e.lower * 1000, upperMs: e.upper * 1000 };
}

interface ObjectCounts {
  wal: number;
  journal: number;
  snapshot: number;
  segments: number;
  other: number;
  bytes: number;
}

interface StoreFigures {
  /** Between the scrape before and the scrape after the load. */
  seconds: number;
  putsOk: number;
  putsError: number;
  putBytes: number;
  putP50: Estimate;
  putP99: Estimate;
  /** PUTs of WAL objects alone (the produce path; segments are compaction's). */
  walPutP50: Estimate;
  walPutP99: Estimate;
  gets: number;
  getBytes: number;
  deletes: number;
  retries: number;
  flushes: number;
  flushP50: Estimate;
  flushP99: Estimate;
  walBytes: number;
  /** Times produce waited for compaction (--max-compaction-debt-bytes) during the load. */
  produceHolds: number;
  /** WAL bytes compaction owed at the scrape after the load. */
  debtAfterBytes: number;
  /** Largest of the once-a-second samples of the RSS gauge. */
  rssMaxBytes: number;
  rssSamples: number;
  rssScrapeErrors: number;
  /** VmHWM of the broker process (peak RSS since it started), read from /proc at the end. */
  vmHwmBytes: number;
  brokerCores: number;
  /** Objects in the bucket at the start and at the end of the load (ListObjectsV2). */
  objectsBefore?: ObjectCounts;
  objectsAfter?: ObjectCounts;
  objectsError?: string;
}

/** Samples the broker's RSS gauge once a second. */
class RssSampler {
  readonly values: number[] = [];
  errors = 0;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | null = null;
  constructor(private readonly url: string) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), 1000);
    void this.tick();
  }

  private tick(): Promise<void> {
    if (this.inflight) return this.inflight;
    this.inflight = (async () => {
      try {
        const v = value(await scrape(this.url, 3000), METRIC.rss);
        if (Number.isFinite(v)) this.values.push(v);
        else this.errors++;
      } catch {
        this.errors++;
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inflight;
    await this.tick();
  }
}

function vmHwmBytes(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function countObjects(s3: S3ServerProcess | undefined): Promise<ObjectCounts> {
  if (!s3) throw new Error('no S3 server handle');
  const c = s3.client();
  const prefix = `${S3_BENCH_PREFIX}/`;
  const n: ObjectCounts = { wal: 0, journal: 0, snapshot: 0, segments: 0, other: 0, bytes: 0 };
  try {
    let token: string | undefined;
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const obj of r.Contents ?? []) {
        const k = (obj.Key ?? '').slice(prefix.length);
        n.bytes += obj.Size ?? 0;
        if (k.startsWith('wal/')) n.wal++;
        else if (k.startsWith('meta/journal/')) n.journal++;
        else if (k.startsWith('meta/snapshot/')) n.snapshot++;
        else if (k.startsWith('segments/')) n.segments++;
        else n.other++;
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  } finally {
    c.destroy();
  }
  return n;
}

interface ScenarioBroker {
  b: RunningBroker;
  metricsUrl: string;
  etcd?: EtcdProcess;
}

/** Runs `fn` as the measured load: metrics scraped before and after, RSS sampled once a second. */
async function measured<T>(sb: ScenarioBroker, fn: () => Promise<T>, opts: { listObjects?: boolean } = {}): Promise<{ v: T; store: StoreFigures }> {
  const { b, metricsUrl } = sb;
  let objectsBefore: ObjectCounts | undefined;
  let objectsError: string | undefined;
  if (opts.listObjects) {
    try {
      objectsBefore = await countObjects(b.s3);
    } catch (err) {
      objectsError = errMsg(err);
    }
  }
  const before = await scrape(metricsUrl);
  const cpu0 = processCpuSeconds(b.pid);
  const sampler = new RssSampler(metricsUrl);
  sampler.start();
  let v: T;
  try {
    v = await fn();
  } finally {
    await sampler.stop();
  }
  const after = await scrape(metricsUrl);
  const seconds = (after.at - before.at) / 1000;
  const brokerCores = (processCpuSeconds(b.pid) - cpu0) / seconds;
  let objectsAfter: ObjectCounts | undefined;
  if (opts.listObjects && !objectsError) {
    try {
      objectsAfter = await countObjects(b.s3);
    } catch (err) {
      objectsError = errMsg(err);
    }
  }
  const put = { op: 'put' };
  const store: StoreFigures = {
    seconds,
    putsOk: delta(before, after, METRIC.requests, { op: 'put', outcome: 'ok' }),
    putsError: delta(before, after, METRIC.requests, { op: 'put', outcome: 'error' }),
    putBytes: delta(before, after, METRIC.bytes, put),
    putP50: estimate(0.5, before, after, METRIC.latency, put),
    putP99: estimate(0.99, before, after, METRIC.latency, put),
    walPutP50: estimate(0.5, before, after, METRIC.latency, { op: 'put', kind: 'wal' }),
    walPutP99: estimate(0.99, before, after, METRIC.latency, { op: 'put', kind: 'wal' }),
    gets: delta(before, after, METRIC.requests, { op: 'get' }),
    getBytes: delta(before, after, METRIC.bytes, { op: 'get' }),
    deletes: delta(before, after, METRIC.requests, { op: 'delete' }),
    retries: delta(before, after, METRIC.retries),
    flushes: delta(before, after, `${METRIC.flush}_count`),
    flushP50: estimate(0.5, before, after, METRIC.flush, {}),
    flushP99: estimate(0.99, before, after, METRIC.flush, {}),
    walBytes: delta(before, after, `${METRIC.flushBytes}_sum`),
    produceHolds: delta(before, after, METRIC.produceHolds),
    debtAfterBytes: value(after, METRIC.debt),
    rssMaxBytes: sampler.values.length ? Math.max(...sampler.values) : NaN,
    rssSamples: sampler.values.length,
    rssScrapeErrors: sampler.errors,
    vmHwmBytes: vmHwmBytes(b.pid),
    brokerCores,
    ...(objectsBefore ? { objectsBefore } : {}),
    ...(objectsAfter ? { objectsAfter } : {}),
    ...(objectsError ? { objectsError } : {}),
  };
  return { v, store };
}

/** The larger of the sampled RSS maximum and VmHWM (both measure the broker's resident memory). */
function maxRssMiB(s: StoreFigures): number {
  const v = [s.rssMaxBytes, s.vmHwmBytes].filter(Number.isFinite);
  return v.length ? Math.max(...v) / MiB : NaN;
}

function estText(e: Estimate): string {
  if (!Number.isFinite(e.ms)) return '-';
  return e.above ? `> ${fmtInt(e.ms)}` : e.ms < 10 ? fmtNum(e.ms, 1) : fmtInt(e.ms);
}

function describeStore(s: StoreFigures): string[] {
  const out = [
    `object store over ${fmtNum(s.seconds)} s: ${fmtInt(s.putsOk)} PUTs ok, ${fmtInt(s.putsError)} failed, ${fmtNum(s.putBytes / MiB)} MiB put; ` +
      `PUT latency p50 ${estText(s.putP50)} ms, p99 ${estText(s.putP99)} ms (WAL objects alone: ${estText(s.walPutP50)}, ${estText(s.walPutP99)}; bucket estimates); ${fmtInt(s.gets)} GETs (${fmtNum(s.getBytes / MiB)} MiB), ${fmtInt(s.deletes)} DELETEs, ${fmtInt(s.retries)} retries`,
    `WAL: ${fmtInt(s.flushes)} flushes, ${fmtNum(s.walBytes / MiB)} MiB; flush (PUT + metadata commit) p50 ${estText(s.flushP50)} ms, p99 ${estText(s.flushP99)} ms (bucket estimates)`,
    `compaction: produce held for it ${fmtInt(s.produceHolds)} times (debt over --max-compaction-debt-bytes); debt after the load ${fmtNum(s.debtAfterBytes / MiB)} MiB`,
    `broker: max RSS ${fmtNum(s.rssMaxBytes / MiB)} MiB (${s.rssSamples} samples of the gauge, one a second${s.rssScrapeErrors ? `, ${s.rssScrapeErrors} failed scrapes` : ''}), ` +
      `VmHWM ${fmtNum(s.vmHwmBytes / MiB)} MiB; CPU ${fmtNum(s.brokerCores, 2)} cores`,
  ];
  if (s.objectsAfter) {
    const a = s.objectsAfter;
    const b = s.objectsBefore;
    const d = (k: keyof ObjectCounts) => (b ? a[k] - b[k] : a[k]);
    out.push(
      `bucket (ListObjectsV2, end minus start): WAL objects ${fmtInt(d('wal'))}, journal objects ${fmtInt(d('journal'))}, snapshots ${fmtInt(d('snapshot'))}, ` +
        `segments ${fmtInt(d('segments'))}, other ${fmtInt(d('other'))}; ${fmtInt(a.wal + a.journal + a.snapshot + a.segments + a.other)} objects at the end`,
    );
  } else if (s.objectsError) out.push(`bucket listing failed: ${s.objectsError}`);
  return out;
}

// ------------------------------------------------------------------ scenarios

type Cell<T> = { ok: true; v: T } | { ok: false; error: string };

interface ScenarioBase {
  startupMs?: number;
  loadavg: string[];
  notes: string[];
}

interface Produced {
  perf: ProducePerfResult;
  store: StoreFigures;
}

interface S1Result extends Produced {
  rate: number;
}
interface S2Result extends Produced {
  partitions: number;
  partitionsWritten: number;
  minPerPartition: number;
  maxPerPartition: number;
  records: number;
}
type S3Result = Produced;
interface S4Result extends Produced {
  /** Seconds the producer sent for (its progress windows). */
  produceSeconds: number;
  /** From spawning the producer (JVM start included) to stopping it. */
  produceWallSeconds: number;
  records: number;
  /** null: the consumer did not get there within timeoutSeconds. */
  catchupSeconds: number | null;
  timeoutSeconds: number;
  /** Records the consumer had read when production ended. */
  recordsAtEnd: number;
  /** Records read when it timed out (catchupSeconds null). */
  recordsRead: number;
  consumerCommand: string;
}

interface S5Result {
  /** franz-go writing through the first broker. */
  perf: ProducePerfResult;
  records: number;
  /** Seconds waited after production for compaction's debt to reach 0 (up to SETTLE_SECONDS_5). */
  settleSeconds: number;
  debtAfterSettleBytes: number;
  /** The bucket once the first broker has stopped. */
  objects: ObjectCounts;
  /** Through the second broker, started on a fresh data directory. */
  consume: ConsumePerfResult;
  store: StoreFigures;
  /** Cores busy while the consumer fetched (its last fetch.time.ms before it exited): the broker, the S3 server, the whole machine. */
  fetchCores: { broker: number; s3: number; machine: number };
  /** Segment blocks in the bucket (the ranges the GET ceilings read). */
  blocks: number;
  gets: Array<{ pattern: GetPattern; limit: S3GetLimit } | { pattern: GetPattern; error: string }>;
}

interface Scenario<T> extends ScenarioBase {
  n: number;
  result?: Cell<T>;
}

interface Report {
  options: Options;
  command: string;
  facts: MachineFacts;
  buildNote: string;
  s3Note: string;
  disk?: DiskResult | { error: string };
  loopback?: LoopbackResult | { error: string };
  /** The S3 server's own PUT ceiling (no broker): 1 MiB objects, as many in flight as an idempotent producer keeps. */
  s3Limit?: S3PutLimit | { error: string };
  s1?: Scenario<S1Result>;
  s2?: Scenario<S2Result>;
  s3?: Scenario<S3Result>;
  s4?: Scenario<S4Result>;
  s5?: Scenario<S5Result>;
  startedAt: number;
  finishedAt?: number;
  loadavgEnd?: string;
}

/**
 * A broker with a fresh data directory, on a fresh S3 server and etcd (which
 * its ScenarioBroker stops), or on those of `on` (which the caller stops).
 */
async function startS3Broker(o: Options, sc: ScenarioBase, on?: { s3: S3ServerProcess; etcd?: EtcdProcess }): Promise<ScenarioBroker> {
  const port = await freePort();
  const etcd = on ? on.etcd : o.metadata === 'etcd' ? await startEtcd() : undefined;
  try {
    const metadata = etcd ? ['--metadata', `etcd://127.0.0.1:${etcd.clientPort}`] : [];
    const b = await startBrokerUnderTest('streamhouse-s3', { extraArgs: ['--metrics-listen', `127.0.0.1:${port}`, ...metadata], s3Server: o.s3, ...(on ? { s3: on.s3 } : {}) });
    sc.startupMs = b.startupMs;
    log(`  StreamHouse up at ${b.bootstrap} in ${b.startupMs} ms (pid ${b.pid}), S3 at ${b.s3?.endpoint ?? '?'}, metadata ${etcd ? etcd.endpoint : 'embedded'}, metrics at 127.0.0.1:${port}`);
    return { b, metricsUrl: `http://127.0.0.1:${port}/metrics`, ...(on ? {} : { etcd }) };
  } catch (err) {
    if (!on) await etcd?.cleanup();
    throw err;
  }
}

/** A fresh broker (and S3 server) for `body`, stopped after it whatever happens. */
async function runScenario<T>(o: Options, sc: Scenario<T>, title: string, body: (sb: ScenarioBroker) => Promise<T>): Promise<void> {
  log(`scenario ${sc.n}: ${title}`);
  sc.loadavg.push(`start: ${loadavg()}`);
  let sb: ScenarioBroker | undefined;
  try {
    sb = await startS3Broker(o, sc);
    sc.result = { ok: true, v: await body(sb) };
  } catch (err) {
    sc.result = { ok: false, error: errMsg(err) };
    log(`  scenario ${sc.n} FAILED: ${errMsg(err)}`);
    if (sb && !sb.b.running()) sc.notes.push(`the broker or its S3 server exited; last output: ${sb.b.tail(8).replace(/\n/g, ' | ').slice(0, 800)}`);
  } finally {
    sc.loadavg.push(`end: ${loadavg()}`);
    if (sb) {
      log(`  stopping the broker and its S3 server`);
      await sb.b.stop().catch((err: unknown) => sc.notes.push(`stop failed: ${errMsg(err)}`));
      await sb.etcd?.cleanup();
    }
  }
}

async function produce(sb: ScenarioBroker, topic: string, size: number, numRecords: number, throughput: number, props: Record<string, string>, maxWindows: number): Promise<ProducePerfResult> {
  const r = await runProducerPerformance({
    bootstrap: sb.b.bootstrap,
    topic,
    recordSize: size,
    numRecords,
    throughput,
    producerProps: props,
    maxWindows,
    warmupWindows: 0,
    timeoutMs: maxWindows * 5000 + 30_000,
  });
  if (r.errorLines > 0 && r.records === 0) throw new Error(`no record acknowledged: ${r.firstError ?? ''}`);
  return r;
}

/** A bench client's summary (librdkafka's or franz-go's) in ProducerPerformance's shape. */
function clientAsPerf(
  r: { acked: number; records_per_sec: number; mib_per_sec: number; errors: number; first_error: string | null; seconds: number; command: string },
  complete: boolean,
  latency: { p50?: number; p99?: number } = {},
): ProducePerfResult {
  return {
    records: r.acked,
    recordsPerSec: r.records_per_sec,
    MiBps: r.mib_per_sec,
    avgLatencyMs: NaN,
    maxLatencyMs: NaN,
    ...latency,
    complete,
    windows: 0,
    errorLines: r.errors,
    firstError: r.first_error || undefined,
    wallSeconds: r.seconds,
    command: r.command,
    output: '',
  };
}

/** librdkafka's figures (it measures no per-record latency). */
function rdkAsPerf(r: RdkProduceResult & { command: string }): ProducePerfResult {
  return clientAsPerf(r, r.unflushed === 0);
}

/**
 * franz-go's figures: its latencies are of every 100th record, Produce call
 * to acknowledgement. "complete": it kept the asked rate (within 5%) and flushed.
 */
function franzAsPerf(r: FranzProduceResult & { command: string }, rate: number): ProducePerfResult {
  return clientAsPerf(r, r.errors === 0 && r.records_per_sec >= 0.95 * rate, { p50: r.p50_ms, p99: r.p99_ms });
}

function describePerf(r: ProducePerfResult): string {
  const lat = r.p99 !== undefined ? `; send-to-ack p50 ${r.p50} ms, p99 ${r.p99} ms` : '';
  return (
    `${fmtInt(r.recordsPerSec)} records/s, ${fmtNum(r.MiBps)} MiB/s (${fmtInt(r.records)} records` +
    // windows: ProducerPerformance's; the other clients' summaries count none, and are incomplete when short of the rate.
    `${r.complete ? '' : r.windows > 0 ? `, stopped at the time bound: figures from ${r.windows} x 5 s windows` : ', short of the asked rate or not all flushed'}${lat})` +
    (r.errorLines ? ` [${r.errorLines} error lines: ${r.firstError}]` : '')
  );
}

async function scenario1(o: Options, sc: Scenario<S1Result>): Promise<void> {
  await runScenario(o, sc, `one producer at ${fmtInt(o.rate)} records/s of 100 B for ${o.duration} s, 1 partition`, async (sb) => {
    const topic = 's3load-rate';
    await createTopics(sb.b.bootstrap, [topic], { 'max.message.bytes': '4194304' });
    const n = Math.max(1, Math.round(o.rate * o.duration));
    // one window more than the duration: a run that keeps the rate prints its summary before it
    const load =
      o.s1Client === 'java'
        ? () => produce(sb, topic, 100, n, o.rate, props1(o), windowsFor(o.duration) + 1)
        : async () =>
            franzAsPerf(await franzProduce({ bootstrap: sb.b.bootstrap, topic, recordSize: 100, seconds: o.duration, rate: o.rate, batchMaxBytes: o.s1BatchBytes }), o.rate);
    const { v: perf, store } = await measured(sb, load, { listObjects: true });
    log(`  ${describePerf(perf)}`);
    return { rate: o.rate, perf, store };
  });
}

async function scenario2(o: Options, sc: Scenario<S2Result>): Promise<void> {
  await runScenario(o, sc, `${fmtInt(PARTITIONS_2)} partitions at ${RATE_2 / PARTITIONS_2} records/s each for ${o.duration} s`, async (sb) => {
    const topic = 's3load-1000p';
    const t = Date.now();
    await createTopics(sb.b.bootstrap, [topic], {}, { numPartitions: PARTITIONS_2, timeoutMs: 120_000 });
    log(`  topic of ${PARTITIONS_2} partitions created in ${Date.now() - t} ms`);
    const { v: perf, store } = await measured(
      sb,
      async () => rdkAsPerf(await rdkafkaProduce({ bootstrap: sb.b.bootstrap, topic, recordSize: 100, seconds: o.duration, props: PROPS_2 })),
      { listObjects: true },
    );
    log(`  ${describePerf(perf)}`);
    const hw = await highWatermarks(sb.b.bootstrap, topic);
    const per = [...hw.values()];
    return {
      perf,
      store,
      partitions: hw.size,
      partitionsWritten: per.filter((x) => x > 0).length,
      minPerPartition: per.length ? Math.min(...per) : NaN,
      maxPerPartition: per.length ? Math.max(...per) : NaN,
      records: per.reduce((a, x) => a + x, 0),
    };
  });
}

async function scenario3(o: Options, sc: Scenario<S3Result>): Promise<void> {
  await runScenario(o, sc, `1 MB records at ${RATE_3}/s for ${o.duration} s`, async (sb) => {
    const topic = 's3load-1mb';
    await createTopics(sb.b.bootstrap, [topic], TOPIC_CONFIGS_3);
    const n = RATE_3 * o.duration;
    const { v: perf, store } = await measured(sb, () => produce(sb, topic, SIZE_3, n, RATE_3, PROPS_3, windowsFor(o.duration) + 1), { listObjects: true });
    log(`  ${describePerf(perf)}`);
    return { perf, store };
  });
}

/** The high watermark once it stops moving (produce requests in flight when the producer was killed may still commit). */
async function settledHighWatermark(bootstrap: string, topic: string): Promise<number> {
  let hw = await highWatermark(bootstrap, topic);
  for (let i = 0; i < 20; i++) {
    await sleep(250);
    const next = await highWatermark(bootstrap, topic);
    if (next === hw) return hw;
    hw = next;
  }
  return hw;
}

async function scenario4(o: Options, sc: Scenario<S4Result>): Promise<void> {
  const windows = windowsFor(o.duration);
  await runScenario(o, sc, `consumer lag: produce 100 B as fast as possible for ${windows * 5} s while a consumer reads from offset 0`, async (sb) => {
    const topic = 's3load-lag';
    await createTopics(sb.b.bootstrap, [topic], {});
    const maxProduce = windows * 5 + 30;
    const limitCap = Math.max(60, 4 * maxProduce);
    const follower = rdkafkaFollow({ bootstrap: sb.b.bootstrap, topic, maxSeconds: maxProduce + limitCap + 30 });
    try {
      const { v, store } = await measured(sb, async () => {
        await follower.ready;
        log(`  consumer ready (librdkafka, partition 0 from offset 0); producing`);
        const spawned = Date.now();
        const perf = await produce(sb, topic, 100, 1_000_000_000, -1, PROPS_100B, windows);
        const endMs = Date.now();
        const produceSeconds = perf.complete ? perf.wallSeconds : perf.recordsPerSec > 0 ? perf.records / perf.recordsPerSec : NaN;
        const records = await settledHighWatermark(sb.b.bootstrap, topic);
        follower.setTarget(records, endMs);
        log(`  produced ${fmtInt(records)} records (${describePerf(perf)}); consumer at ${fmtInt(follower.progress())}; waiting for it to read them all`);
        const limitMs = Math.max(60_000, 4 * (Number.isFinite(produceSeconds) ? produceSeconds : maxProduce) * 1000);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), limitMs);
        });
        const d = await Promise.race([follower.done, timeout]);
        clearTimeout(timer);
        const base = {
          perf,
          produceSeconds,
          produceWallSeconds: (endMs - spawned) / 1000,
          records,
          consumerCommand: follower.command,
        };
        if (d === 'timeout') {
          return { ...base, catchupSeconds: null, timeoutSeconds: (Date.now() - endMs) / 1000, recordsAtEnd: NaN, recordsRead: follower.progress() };
        }
        return { ...base, catchupSeconds: (d.reachedAtMs - endMs) / 1000, timeoutSeconds: limitMs / 1000, recordsAtEnd: d.recordsAtEnd, recordsRead: d.records };
      });
      const r: S4Result = { ...v, store };
      log(
        r.catchupSeconds === null
          ? `  consumer did not catch up within ${fmtNum(r.timeoutSeconds)} s (read ${fmtInt(r.recordsRead)} of ${fmtInt(r.records)})`
          : `  caught up ${fmtNum(r.catchupSeconds, 2)} s after the end of production (${fmtNum(r.produceSeconds)} s of production)`,
      );
      return r;
    } finally {
      await follower.stop();
    }
  });
}

const CPU_SAMPLE_MS = 200;

/** CPU seconds of some processes and of the whole machine, sampled every CPU_SAMPLE_MS. */
class CpuSampler {
  private samples: Array<{ at: number; busy: number[] }> = [];
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pids: number[]) {
    this.sample();
    this.timer = setInterval(() => this.sample(), CPU_SAMPLE_MS);
  }
  private sample(): void {
    this.samples.push({ at: Date.now(), busy: [...this.pids.map(processCpuSeconds), machineBusySeconds()] });
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
  /** Cores busy over the last `ms` before the last sample: each pid's, then the machine's. */
  coresOverLast(ms: number): number[] {
    const last = this.samples[this.samples.length - 1]!;
    const first = [...this.samples].reverse().find((x) => x.at <= last.at - ms) ?? this.samples[0]!;
    const secs = (last.at - first.at) / 1000;
    return last.busy.map((b, i) => (secs > 0 ? (b - first.busy[i]!) / secs : NaN));
  }
}

async function scenario5(o: Options, sc: Scenario<S5Result>): Promise<void> {
  log(`scenario 5: cold read: ${SIZE_5 / 1024} KiB records written for ${o.duration} s through one broker, read from offset 0 through a new one on a fresh data directory`);
  sc.loadavg.push(`start: ${loadavg()}`);
  const topic = 's3load-cold';
  let s3: S3ServerProcess | undefined;
  let etcd: EtcdProcess | undefined;
  let current: ScenarioBroker | undefined;
  const stopCurrent = async () => {
    const sb = current;
    current = undefined;
    if (sb) await sb.b.stop().catch((err: unknown) => sc.notes.push(`stop failed: ${errMsg(err)}`));
  };
  try {
    s3 = await (o.s3 === 'minio' ? startMinio : startS3rver)({ buckets: [S3_BENCH_BUCKET] });
    etcd = o.metadata === 'etcd' ? await startEtcd() : undefined;
    const on = { s3, ...(etcd ? { etcd } : {}) };
    const writer = (current = await startS3Broker(o, sc, on));
    await createTopics(writer.b.bootstrap, [topic], { 'max.message.bytes': '4194304' });
    const perf = franzAsPerf(await franzProduce({ bootstrap: writer.b.bootstrap, topic, recordSize: SIZE_5, seconds: o.duration, distinctValues: true }), 0);
    log(`  written: ${describePerf(perf)}`);
    const records = await settledHighWatermark(writer.b.bootstrap, topic);
    const t = Date.now();
    let debt = NaN;
    while (Date.now() - t < SETTLE_SECONDS_5 * 1000) {
      debt = value(await scrape(writer.metricsUrl), METRIC.debt);
      if (debt === 0) break;
      await sleep(1000);
    }
    const settleSeconds = (Date.now() - t) / 1000;
    log(`  compaction debt ${fmtNum(debt / MiB)} MiB after ${fmtNum(settleSeconds)} s; stopping the broker that wrote`);
    await stopCurrent();
    const objects = await countObjects(s3);
    const reader = (current = await startS3Broker(o, sc, on));
    log(`  a new broker on a fresh data directory: ${fmtInt(records)} records from offset 0 (${fmtNum(objects.bytes / MiB)} MiB in ${fmtInt(objects.segments)} segments and ${fmtInt(objects.wal)} WAL objects)`);
    const cpu = new CpuSampler([reader.b.pid, s3.pid]);
    const { v: consume, store } = await measured(reader, () =>
      runConsumerPerformance({ bootstrap: reader.b.bootstrap, topic, messages: records, group: 'cold-read', timeoutMs: 600_000 }),
    ).finally(() => cpu.stop());
    const [broker, s3Busy, machine] = cpu.coresOverLast(consume.fetchMs);
    const fetchCores = { broker: broker!, s3: s3Busy!, machine: machine! };
    log(`  read ${fmtNum(consume.fetchMiBps)} MiB/s (group join excluded), ${fmtInt(store.gets)} GETs, ${fmtNum(store.getBytes / MiB)} MiB`);
    await stopCurrent();
    const ranges = await segmentBlockRanges(s3, S3_BENCH_PREFIX);
    const gets: S5Result['gets'] = [];
    for (const pattern of GET_PATTERNS_5) {
      try {
        const limit = await measureS3Gets(s3, pattern.getBytes ? coalesceRanges(ranges, pattern.getBytes) : ranges, pattern.concurrency, o.quick ? 2 : GET_SECONDS_5);
        gets.push({ pattern, limit });
        log(`  S3 server alone, ${patternText(pattern)}: ${fmtNum(limit.MiBps)} MiB/s`);
      } catch (err) {
        gets.push({ pattern, error: errMsg(err) });
      }
    }
    sc.result = { ok: true, v: { perf, records, settleSeconds, debtAfterSettleBytes: debt, objects, consume, store, fetchCores, blocks: ranges.length, gets } };
  } catch (err) {
    sc.result = { ok: false, error: errMsg(err) };
    log(`  scenario 5 FAILED: ${errMsg(err)}`);
    if (current && !current.b.running()) sc.notes.push(`the broker or its S3 server exited; last output: ${current.b.tail(8).replace(/\n/g, ' | ').slice(0, 800)}`);
  } finally {
    sc.loadavg.push(`end: ${loadavg()}`);
    await stopCurrent();
    await etcd?.cleanup();
    await s3?.cleanup();
  }
}

// ------------------------------------------------------------------ report

interface Target {
  text: string;
  pass: (v: number) => boolean;
}

interface Row {
  scenario: number;
  figure: string;
  unit: string;
  /** undefined: the scenario failed or did not measure it. */
  v?: number;
  digits?: number;
  /** Shown instead of the formatted number. */
  shown?: string;
  ours?: Target;
  plan?: Target;
}

function verdict(r: Row, t: Target | undefined): string {
  if (!t) return '';
  if (r.v === undefined || !Number.isFinite(r.v)) return 'MISS (not measured)';
  return t.pass(r.v) ? 'ok' : 'MISS';
}

function shown(r: Row): string {
  if (r.shown !== undefined) return r.shown;
  if (r.v === undefined) return 'FAILED';
  const d = r.digits ?? 0;
  return d === 0 ? fmtInt(r.v) : fmtNum(r.v, d);
}

const le = (x: number, text: string): Target => ({ text, pass: (v) => v <= x });
const lt = (x: number, text: string): Target => ({ text, pass: (v) => v < x });
const ge = (x: number, text: string): Target => ({ text, pass: (v) => v >= x });

function estRow(scenario: number, figure: string, e: Estimate | undefined, ours?: Target, plan?: Target): Row {
  return { scenario, figure, unit: 'ms', v: e ? (Number.isFinite(e.ms) ? e.ms : undefined) : undefined, shown: e ? estText(e) : undefined, digits: 1, ours, plan };
}

/** "*": the producer stopped at its time bound without keeping the asked rate. */
const bound = (perf: ProducePerfResult) => (perf.complete ? '' : '*');

function rateRow(scenario: number, figure: string, perf: ProducePerfResult | undefined, digits: number, ours?: Target, plan?: Target): Row {
  const v = perf?.recordsPerSec;
  return { scenario, figure, unit: 'msgs/s', v, digits, shown: perf ? `${digits ? fmtNum(v!, digits) : fmtInt(v!)}${bound(perf)}` : undefined, ours, plan };
}

function throughputRow(scenario: number, perf: ProducePerfResult | undefined): Row {
  return { scenario, figure: 'achieved throughput', unit: 'MiB/s', v: perf?.MiBps, shown: perf ? `${fmtNum(perf.MiBps)}${bound(perf)}` : undefined };
}

function rowsFor(report: Report, n: number): Row[] {
  const rows: Row[] = [];
  if (n === 1 && report.s1) {
    const c = report.s1.result;
    const r = c?.ok ? c.v : undefined;
    rows.push(
      rateRow(1, `achieved rate (100 B, asked ${fmtInt(report.options.rate)}/s)`, r?.perf, 0, ge(TARGET_RATE_1, `>= ${fmtInt(TARGET_RATE_1)}`), ge(PLAN_RATE_1, `>= ${fmtInt(PLAN_RATE_1)}`)),
      throughputRow(1, r?.perf),
      {
        scenario: 1,
        figure: 'max broker RSS',
        unit: 'MiB',
        v: r ? maxRssMiB(r.store) : undefined,
        ours: lt(TARGET_RSS_MIB, `< ${TARGET_RSS_MIB}`),
        plan: lt(PLAN_RSS_MIB, `< ${PLAN_RSS_MIB}`),
      },
      { scenario: 1, figure: 'S3 PUTs (all objects)', unit: 'count', v: r?.store.putsOk },
      estRow(1, 'S3 PUT latency p50 (bucket estimate)', r?.store.putP50),
      estRow(1, 'S3 PUT latency p99 (bucket estimate)', r?.store.putP99, lt(TARGET_PUT_P99_MS, `< ${TARGET_PUT_P99_MS}`), lt(PLAN_PUT_P99_MS, `< ${PLAN_PUT_P99_MS}`)),
      estRow(1, 'WAL object PUT latency p50 (bucket estimate)', r?.store.walPutP50),
      estRow(1, 'WAL object PUT latency p99 (bucket estimate)', r?.store.walPutP99),
      { scenario: 1, figure: 'WAL flushes', unit: 'count', v: r?.store.flushes },
      { scenario: 1, figure: 'produce held for compaction (debt over its bound)', unit: 'times', v: r?.store.produceHolds },
    );
  }
  if (n === 2 && report.s2) {
    const c = report.s2.result;
    const r = c?.ok ? c.v : undefined;
    const perMin = (x: number | undefined) => (r && x !== undefined && r.store.seconds > 0 ? (x / r.store.seconds) * 60 : undefined);
    const put = r?.store.putsOk;
    const fl = r?.store.flushes;
    const wal = r?.store.objectsAfter ? r.store.objectsAfter.wal - (r.store.objectsBefore?.wal ?? 0) : undefined;
    rows.push(
      rateRow(2, `achieved rate (100 B, asked ${fmtInt(RATE_2)}/s over ${PARTITIONS_2} partitions)`, r?.perf, 0),
      { scenario: 2, figure: `partitions written (of ${PARTITIONS_2})`, unit: 'count', v: r?.partitionsWritten },
      { scenario: 2, figure: 'S3 PUTs per minute (all objects)', unit: 'PUTs/min', v: perMin(put) },
      { scenario: 2, figure: 'WAL flushes per minute', unit: 'flushes/min', v: perMin(fl) },
      {
        scenario: 2,
        figure: 'S3 PUTs per WAL flush (all objects: WAL, segments, embedded metadata if any)',
        unit: 'PUTs/flush',
        v: put !== undefined && fl ? put / fl : undefined,
        digits: 2,
        ours: le(1, '<= 1'),
        plan: le(1, '<= 1'),
      },
      {
        scenario: 2,
        figure: 'WAL objects written per WAL flush (bucket listing)',
        unit: 'objects/flush',
        v: wal !== undefined && fl ? wal / fl : undefined,
        digits: 2,
        ours: le(1, '<= 1'),
        plan: le(1, '<= 1'),
      },
    );
  }
  if (n === 3 && report.s3) {
    const c = report.s3.result;
    const r = c?.ok ? c.v : undefined;
    rows.push(
      rateRow(3, `achieved rate (1 MB records, asked ${RATE_3}/s)`, r?.perf, 1),
      throughputRow(3, r?.perf),
      estRow(3, 'S3 PUT latency p50 (bucket estimate)', r?.store.putP50),
      estRow(3, 'S3 PUT latency p99 (bucket estimate)', r?.store.putP99),
      estRow(3, 'WAL object PUT latency p50 (bucket estimate)', r?.store.walPutP50),
      estRow(3, 'WAL object PUT latency p99 (bucket estimate)', r?.store.walPutP99),
      { scenario: 3, figure: 'max broker RSS', unit: 'MiB', v: r ? maxRssMiB(r.store) : undefined },
      { scenario: 3, figure: 'produce held for compaction (debt over its bound)', unit: 'times', v: r?.store.produceHolds },
    );
  }
  if (n === 4 && report.s4) {
    const c = report.s4.result;
    const r = c?.ok ? c.v : undefined;
    const catchup = r ? (r.catchupSeconds === null ? r.timeoutSeconds : Math.max(0, r.catchupSeconds)) : undefined;
    const over = r?.catchupSeconds === null ? '> ' : '';
    const ratio = r && catchup !== undefined && r.produceSeconds > 0 ? catchup / r.produceSeconds : undefined;
    rows.push(
      { scenario: 4, figure: 'produce time (100 B, as fast as possible)', unit: 's', v: r?.produceSeconds, digits: 1 },
      { scenario: 4, figure: 'records produced', unit: 'count', v: r?.records },
      { scenario: 4, figure: 'produce rate', unit: 'msgs/s', v: r && r.produceSeconds > 0 ? r.perf.recordsPerSec : undefined },
      { scenario: 4, figure: 'consumer behind at the end of production', unit: 'records', v: r && Number.isFinite(r.recordsAtEnd) ? r.records - r.recordsAtEnd : undefined },
      {
        scenario: 4,
        figure: 'catch-up time after the end of production',
        unit: 's',
        v: catchup,
        shown: catchup !== undefined ? `${over}${fmtNum(catchup, 2)}` : undefined,
        ours: r ? le(r.produceSeconds / 2, `<= produce/2 = ${fmtNum(r.produceSeconds / 2, 1)}`) : le(NaN, '<= produce time / 2'),
        plan: r ? le(r.produceSeconds * 2, `<= 2 x produce = ${fmtNum(r.produceSeconds * 2, 1)}`) : le(NaN, '<= 2 x produce time'),
      },
      {
        scenario: 4,
        figure: 'catch-up / produce time',
        unit: 'ratio',
        v: ratio,
        digits: 3,
        shown: ratio !== undefined ? `${over}${fmtNum(ratio, 3)}` : undefined,
        ours: le(0.5, '<= 0.5'),
        plan: le(2, '<= 2'),
      },
    );
  }
  if (n === 5 && report.s5) {
    const c = report.s5.result;
    const r = c?.ok ? c.v : undefined;
    const okGets = (r?.gets ?? []).flatMap((g) => ('limit' in g ? [g] : []));
    const one = okGets.find((g) => g.pattern.getBytes === 0 && g.pattern.concurrency === 1)?.limit;
    const best = okGets.length ? Math.max(...okGets.map((g) => g.limit.MiBps)) : undefined;
    const read = r?.consume.fetchMiBps;
    rows.push(
      { scenario: 5, figure: `written through the first broker (${SIZE_5 / 1024} KiB records, distinct random values)`, unit: 'MiB/s', v: r?.perf.MiBps, digits: 1 },
      { scenario: 5, figure: 'in the bucket when it stopped', unit: 'MiB', v: r ? r.objects.bytes / MiB : undefined },
      { scenario: 5, figure: 'cold read from offset 0 through a new broker (group join excluded)', unit: 'MiB/s', v: read, digits: 1 },
      { scenario: 5, figure: 'GETs during the read', unit: 'count', v: r?.store.gets },
      { scenario: 5, figure: 'max broker RSS during the read', unit: 'MiB', v: r ? maxRssMiB(r.store) : undefined, ours: lt(TARGET_RSS_MIB, `< ${TARGET_RSS_MIB}`), plan: lt(PLAN_RSS_MIB, `< ${PLAN_RSS_MIB}`) },
      { scenario: 5, figure: `CPU busy while the consumer fetched, whole machine (of ${os.cpus().length} cores)`, unit: 'cores', v: r?.fetchCores.machine, digits: 2 },
      ...GET_PATTERNS_5.map((p): Row => {
        const g = r?.gets.find((x) => x.pattern === p);
        return { scenario: 5, figure: `S3 server alone: ${patternText(p)}`, unit: 'MiB/s', v: g && 'limit' in g ? g.limit.MiBps : undefined, digits: 1 };
      }),
      {
        scenario: 5,
        figure: 'cold read / S3 server alone, one GET at a time',
        unit: 'ratio',
        v: read !== undefined && one ? read / one.MiBps : undefined,
        digits: 2,
        plan: { text: '> 1 (not one request at a time)', pass: (v) => v > 1 },
      },
      {
        scenario: 5,
        figure: 'cold read / S3 server alone, the best of those',
        unit: 'ratio',
        v: read !== undefined && best !== undefined ? read / best : undefined,
        digits: 2,
        ours: ge(TARGET_STORE_SHARE_5, `>= ${TARGET_STORE_SHARE_5} (the speed of the store)`),
      },
    );
  }
  return rows;
}

/** The measured column is right-aligned. */
const MEASURED = (i: number) => i === 2;

function table(rows: Row[]): Table {
  return {
    header: ['#', 'figure', 'measured', 'unit', 'target (ours)', 'ours', "target (issue's plan)", 'plan'],
    rows: rows.map((r) => [String(r.scenario), r.figure, shown(r), r.unit, r.ours?.text ?? '', verdict(r, r.ours), r.plan?.text ?? '', verdict(r, r.plan)]),
  };
}



function machineLines(report: Report): string[] {
  const f = report.facts;
  const lines = [
    `date: ${f.date}   host: ${f.hostname}`,
    `cpu: ${f.nproc} x ${f.cpuModel}   memory: ${fmtInt(f.memTotalMiB)} MiB (${fmtInt(f.memAvailableMiB)} MiB available)`,
    `kernel: ${f.kernel}   node ${f.node}   ${f.java}   ${f.librdkafka}`,
    `data dirs: ${f.tmpFs}`,
    `StreamHouse measured: ${report.buildNote} (repo HEAD ${f.gitCommit}, ${f.gitDirty})`,
    `S3 server: ${report.s3Note}, on this machine (loopback), a fresh server and bucket for each scenario`,
    `load average (1/5/15 min) at start: ${f.loadavgStart}${report.loadavgEnd ? `, at end: ${report.loadavgEnd}` : ''} (the machine is shared; broker, S3 server and clients share these ${f.nproc} cores)`,
  ];
  const d = report.disk;
  if (d && 'seqFsyncMiBps' in d) {
    lines.push(
      `disk limit: ${d.seqFsyncMiB} MiB in 1 MiB writes with fsync each: ${fmtNum(d.seqFsyncMiBps)} MiB/s; buffered + one fsync: ${fmtNum(d.bufferedThenFsyncMiBps)} MiB/s; ` +
        `64 KiB write+fdatasync: p50 ${fmtNum(d.syncLatency.p50, 2)} ms, p99 ${fmtNum(d.syncLatency.p99, 2)} ms (n=${d.syncLatency.n}), in ${d.dir}`,
    );
  } else if (d) lines.push(`disk limit: FAILED: ${d.error}`);
  const l = report.loopback;
  if (l && 'MiBps' in l) lines.push(`loopback limit: one TCP connection, Node to Node: ${fmtNum(l.MiBps)} MiB/s (${fmtNum(l.MiBps / 1024, 2)} GiB/s)`);
  else if (l) lines.push(`loopback limit: FAILED: ${l.error}`);
  const p = report.s3Limit;
  if (p && 'MiBps' in p) {
    lines.push(
      `S3 server limit (${report.options.s3}, no broker): PUTs of ${fmtInt(p.objectBytes)} B objects from the AWS SDK, ${p.concurrency} in flight, ${fmtNum(p.seconds)} s: ` +
        `${fmtNum(p.MiBps)} MiB/s (${fmtNum(p.puts / p.seconds)} PUTs/s), p50 ${fmtNum(p.p50Ms)} ms, p99 ${fmtNum(p.p99Ms)} ms`,
    );
  } else if (p) lines.push(`S3 server limit: FAILED: ${p.error}`);
  return lines;
}

function settingsLines(report: Report): string[] {
  const o = report.options;
  const kv = (r: Record<string, string>) =>
    Object.entries(r)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
  return [
    `scenarios run: ${o.only.join(', ')}; load per scenario (--duration): ${o.duration} s${o.quick ? ' (--quick)' : ''}`,
    `broker: \`node ${BROKER_NODE_FLAGS.join(' ')} dist/src/cli.js serve --storage s3://${S3_BENCH_BUCKET}/${S3_BENCH_PREFIX} --s3-endpoint <server> --s3-force-path-style --metrics-listen 127.0.0.1:<free port>\` ` +
      `${o.metadata === 'etcd' ? '--metadata etcd://<etcd> ' : ''}(bench/lib/brokers.ts), otherwise its defaults (${o.metadata === 'etcd' ? 'metadata in an etcd 3.4 started for the scenario (Debian etcd-server)' : 'embedded metadata with its journal in the bucket'}, --wal-flush-ms 0, --wal-flush-bytes 8 MiB, ` +
      `--write-buffer-bytes 128 MiB); one broker, started fresh with a fresh S3 server and bucket for each scenario and stopped after it`,
    `clients: Kafka 3.9 ProducerPerformance (${PERF_JVM.slice(0, 1).join(' ')} G1), null keys; figures as it prints them ` +
      `(its summary when it finished, else its 5 s progress windows, marked *); ${report.facts.librdkafka} (Debian python3-confluent-kafka) for scenario 2's producer and the consumer`,
    o.s1Client === 'java'
      ? `1: topic of 1 partition; ProducerPerformance --record-size 100 --throughput ${o.rate} --num-records ${fmtInt(Math.round(o.rate * o.duration))} (the rate for ${o.duration} s), ` +
        `${kv(props1(o))}; stopped after ${windowsFor(o.duration) + 1} windows if it has not finished`
      : `1: topic of 1 partition; franz-go (bench/go/franzbench, github.com/twmb/franz-go v1.22.3) paced to ${fmtInt(o.rate)} records/s of 100 B for ${o.duration} s, then flush: ` +
        `idempotent, acks=all, linger 0, up to 5 requests in flight, no compression, batches up to ${fmtInt(o.s1BatchBytes)} B (topic max.message.bytes=4194304); latency = Produce call to acknowledgement of every 100th record; ` +
        `"*" when it fell more than 5% short of the rate`,
    `2: topic of ${PARTITIONS_2} partitions; librdkafka (bench/lib/rdkafka_bench.py produce) writing 100 B records for ${o.duration} s, record i to partition i % ${PARTITIONS_2}, paced to ${fmtInt(RATE_2)}/s, ${kv(PROPS_2)}; ` +
      `per minute = count / seconds between the two scrapes x 60 (the span includes the producer's start); WAL objects from listing the bucket ` +
      `(objects under wal/ at the end minus at the start: exact unless compaction deleted some, see the segments count)`,
    `3: topic of 1 partition with ${kv(TOPIC_CONFIGS_3)}; ProducerPerformance --record-size ${SIZE_3} --throughput ${RATE_3} --num-records ${fmtInt(RATE_3 * o.duration)}, ${kv(PROPS_3)}`,
    `4: topic of 1 partition; a librdkafka consumer (assign partition 0 at offset 0, no group, librdkafka defaults, consume(num_messages=10000)) is connected first; ` +
      `then ProducerPerformance --record-size 100 --throughput -1, ${kv(PROPS_100B)}, stopped after ${windowsFor(o.duration)} of its 5 s windows ` +
      `(produce time = the span of those windows); end of production = when it was stopped; records = the high watermark once settled; ` +
      `catch-up = when the consumer was handed the last of them minus the end of production (run concurrently, not one after the other)`,
    `5: topic of 1 partition with max.message.bytes=4194304; an S3 server and etcd for the scenario, two brokers on them one after the other: franz-go (as in 1, unpaced) writes ` +
      `${SIZE_5 / 1024} KiB records, each a different random value (-distinct-values: incompressible, so the bucket holds what is read back), for ${o.duration} s through the first; ` +
      `once its compaction debt is 0 (at most ${SETTLE_SECONDS_5} s) it is stopped (SIGTERM) and a second broker starts on a fresh data directory (no local WAL copies, ` +
      `no block cache, no in-memory tail: the partition is only in the bucket); Kafka 3.9 ConsumerPerformance (a group, from offset 0, its defaults) reads every record ` +
      `through it (fetch.MB.sec: group join excluded); then, with no broker running, the same S3 server serves ranged GETs of every block of every segment in the bucket ` +
      `in order: ${GET_PATTERNS_5.map(patternText).join('; ')} (${GET_SECONDS_5} s each)`,
    `broker figures from its /metrics: ${METRIC.requests}{op="put",outcome=ok|error}, ${METRIC.latency}{op="put"} and ${METRIC.flush} ` +
      `(p50/p99 are bucket estimates: linear interpolation inside the Prometheus bucket holding the quantile, buckets 1, 2.5, 5, 10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5, 10, 30 s), ` +
      `all as the difference between a scrape just before and just after the load; PUTs count every object the broker writes: WAL objects, metadata journal objects ` +
      `(the embedded metadata store keeps its journal in the bucket), snapshots and compacted segments`,
    `RSS: the broker's process_resident_memory_bytes gauge (exposed as ${METRIC.rss[1]}), scraped once a second during the load; the reported maximum is the larger of ` +
      `those samples and the process's VmHWM (/proc/PID/status, peak RSS since it started); 1 MB in the targets read as 1 MiB`,
  ];
}

function scenarioTitle(n: number, o: Options): string {
  switch (n) {
    case 1:
      return `Scenario 1: one producer at ${fmtInt(o.rate)} records/s of 100 B, 1 partition`;
    case 2:
      return `Scenario 2: ${fmtInt(PARTITIONS_2)} partitions at ${RATE_2 / PARTITIONS_2} records/s each`;
    case 3:
      return `Scenario 3: 1 MB records at ${RATE_3}/s`;
    case 4:
      return 'Scenario 4: consumer lag (produce as fast as possible while reading from offset 0)';
    default:
      return 'Scenario 5: cold read of a partition only in the bucket';
  }
}

function scenarioOf(report: Report, n: number): Scenario<unknown> | undefined {
  return (n === 1 ? report.s1 : n === 2 ? report.s2 : n === 3 ? report.s3 : n === 4 ? report.s4 : report.s5) as Scenario<unknown> | undefined;
}

/** Details of one scenario: the client's own line, the broker's figures, notes. */
function rawLines(report: Report, n: number): string[] {
  const sc = scenarioOf(report, n);
  if (!sc) return [];
  const out: string[] = [`broker start-up ${sc.startupMs ?? '-'} ms; load average ${sc.loadavg.join(', ')}`];
  const c = sc.result;
  if (!c) out.push('not run');
  else if (!c.ok) out.push(`FAILED: ${c.error}`);
  else if (n === 5) out.push(...coldReadLines(c.v as S5Result));
  else {
    const v = c.v as Produced & Partial<S2Result> & Partial<S4Result>;
    const client = n === 2 ? 'librdkafka' : n === 1 && report.options.s1Client === 'franz' ? 'franz-go' : 'ProducerPerformance';
    out.push(`${client}: ${describePerf(v.perf)}`);
    const last = v.perf.output.split('\n').filter((l) => /records sent/.test(l)).slice(-1)[0];
    if (last) out.push(`  last line: ${last.trim()}`);
    if (n === 2 && v.partitions !== undefined) {
      out.push(
        `high watermarks: ${fmtInt(v.records ?? NaN)} records over ${v.partitions} partitions, ${v.partitionsWritten} written, ` +
          `${fmtInt(v.minPerPartition ?? NaN)} to ${fmtInt(v.maxPerPartition ?? NaN)} records per partition`,
      );
    }
    if (n === 4 && v.records !== undefined) {
      out.push(
        `production: ${fmtNum(v.produceSeconds ?? NaN)} s of windows (${fmtNum(v.produceWallSeconds ?? NaN)} s from spawning the JVM to stopping it), ${fmtInt(v.records)} records; ` +
          (v.catchupSeconds === null
            ? `the consumer read ${fmtInt(v.recordsRead ?? NaN)} of them in ${fmtNum(v.timeoutSeconds ?? NaN)} s after the end (gave up)`
            : `the consumer had ${fmtInt(v.recordsAtEnd ?? NaN)} at the end of production and the last one ${fmtNum(v.catchupSeconds ?? NaN, 3)} s after it`),
      );
      out.push(`consumer: ${v.consumerCommand ?? ''}`);
    }
    out.push(...describeStore(v.store));
  }
  out.push(...sc.notes.map((x) => `note: ${x}`));
  return out;
}

function coldReadLines(v: S5Result): string[] {
  const c = v.consume;
  const o = v.objects;
  return [
    `franz-go through the first broker: ${describePerf(v.perf)}; high watermark ${fmtInt(v.records)}`,
    `compaction debt ${fmtNum(v.debtAfterSettleBytes / MiB)} MiB ${fmtNum(v.settleSeconds)} s after the end of production; then the bucket held ${fmtNum(o.bytes / MiB)} MiB: ` +
      `${fmtInt(o.segments)} segments (${fmtInt(v.blocks)} blocks), ${fmtInt(o.wal)} WAL objects (compacted ones are deleted only once old enough to be safe from every broker), ` +
      `${fmtInt(o.journal + o.snapshot)} journal objects and snapshots, ${fmtInt(o.other)} other`,
    `ConsumerPerformance through the second broker: ${fmtInt(c.records)} records, ${fmtNum(c.MiB)} MiB; ${fmtNum(c.fetchMiBps)} MiB/s and ${fmtInt(c.fetchRecordsPerSec)} records/s ` +
      `over ${fmtNum(c.fetchMs / 1000)} s of fetching (${fmtNum(c.MiBps)} MiB/s with the group join's ${fmtInt(c.rebalanceMs)} ms)`,
    `CPU while the consumer fetched (its last ${fmtNum(c.fetchMs / 1000)} s before it exited, from samples every ${CPU_SAMPLE_MS} ms): broker ${fmtNum(v.fetchCores.broker, 2)} cores, ` +
      `S3 server ${fmtNum(v.fetchCores.s3, 2)}, the whole machine ${fmtNum(v.fetchCores.machine, 2)} of ${os.cpus().length} (the consumer's JVM most of the rest)`,
    ...describeStore(v.store),
    ...v.gets.map((g) =>
      'limit' in g
        ? `S3 server alone, ${patternText(g.pattern)}: ${fmtNum(g.limit.MiBps)} MiB/s (${fmtInt(g.limit.gets)} GETs in ${fmtNum(g.limit.seconds)} s, p50 ${fmtNum(g.limit.p50Ms)} ms, p99 ${fmtNum(g.limit.p99Ms)} ms)`
        : `S3 server alone, ${patternText(g.pattern)}: FAILED: ${g.error}`,
    ),
  ];
}

function footnotes(): string[] {
  return [
    '"*" = the asked rate was not kept: ProducerPerformance did not finish its records within the time bound (the figure comes from its 5 s progress windows), or franz-go fell more than 5% short of it.',
    `"ours" = the targets of this work (1,000,000 msgs/s, PUT p99 < 100 ms, RSS < 512 MiB, catch-up within half the produce time, a cold read at ${TARGET_STORE_SHARE_5} of the S3 server's own GET speed); ` +
      '"plan" = the issue\'s plan (100,000 msgs/s, p99 < 500 ms, < 2 GiB, catch-up within twice the produce time) and its words for a cold read (at the speed of the store, not of one request at a time). ' +
      'Scenario 2: "at most 1 PUT per flush, not one per partition" is checked twice: on every PUT the broker made (the WAL objects and compacted segments, and with ' +
      '--metadata embedded also the journal objects and snapshots of the embedded metadata store, which then lives in the bucket: one more PUT per flush) and on the WAL objects alone.',
    'PUT latency is measured by the broker around each S3 request (retries are separate requests); p50/p99 are estimates from the histogram buckets, not exact quantiles; ' +
      '"> N" = above the last finite bucket. "S3 PUT" counts every object the broker writes (a 64 MiB segment is one PUT); "WAL object PUT" only those a produce waits for ' +
      '(the metric\'s kind="wal" label).',
  ];
}

function renderText(report: Report): string {
  const rows = report.options.only.flatMap((n) => rowsFor(report, n));
  return [
    '',
    `=== StreamHouse on S3 (${report.s3Note}) under load ===`,
    ...machineLines(report),
    '',
    textTable(table(rows), MEASURED),
    '',
    ...footnotes(),
    '',
    `total time ${fmtNum(((report.finishedAt ?? Date.now()) - report.startedAt) / 1000, 0)} s; report written to ${path.relative(process.cwd(), report.options.out) || report.options.out}`,
  ].join('\n');
}

function renderMarkdown(report: Report): string {
  const o = report.options;
  const rows = o.only.flatMap((n) => rowsFor(report, n));
  const parts = [
    '# StreamHouse on S3 under load',
    '',
    `Generated by \`${report.command}\` (bench/s3-load.ts) on ${report.facts.date}, ${o.duration} s of load per scenario, scenarios ${o.only.join(', ')}, ` +
      `${fmtNum(((report.finishedAt ?? Date.now()) - report.startedAt) / 1000, 0)} s in all. Re-run it to refresh this file; figures from a shared 2-core VM are noisy (see the load average).`,
    '',
    '## Machine',
    '',
    ...machineLines(report).map((l) => `- ${l}`),
    '',
    '## Settings',
    '',
    ...settingsLines(report).map((l) => `- ${l}`),
    '',
    '## Results',
    '',
    mdTable(table(rows), MEASURED),
    '',
    ...footnotes().map((l) => `- ${l}`),
    '',
    '## Details',
    '',
  ];
  for (const n of o.only) {
    parts.push(`### ${scenarioTitle(n, o)}`, '', ...rawLines(report, n).map((l) => `- ${l.replace(/\n/g, ' ')}`), '');
  }
  return parts.join('\n');
}

function printScenario(report: Report, n: number): void {
  const rows = rowsFor(report, n);
  process.stdout.write(`\n${scenarioTitle(n, report.options)}\n${textTable(table(rows), MEASURED)}\n${rawLines(report, n).map((l) => `  ${l}`).join('\n')}\n`);
}

// ------------------------------------------------------------------ main

function buildNote(o: Options): string {
  if (o.build) {
    log('building StreamHouse (npm run build)');
    const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) {
      const msg = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(0, 8).join('\n');
      throw new Error(`npm run build failed:\n${msg}`);
    }
  }
  if (!fs.existsSync(BROKER_CLI)) throw new Error(`${path.relative(REPO_ROOT, BROKER_CLI)} is missing: run npm run build (or pass --build)`);
  const built = fs.statSync(BROKER_CLI).mtimeMs;
  const walk = (d: string): boolean =>
    fs.readdirSync(d, { withFileTypes: true }).some((e) => {
      const p = path.join(d, e.name);
      return e.isDirectory() ? walk(p) : e.name.endsWith('.ts') && fs.statSync(p).mtimeMs > built;
    });
  const stale = walk(path.join(REPO_ROOT, 'src'));
  return (
    `the working tree's dist/ (${o.build ? 'rebuilt by this run' : 'as found'}, built ${new Date(built).toISOString()}` +
    `${stale ? '; some src/ files are newer than it' : ''})`
  );
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const command = ['npm run bench:s3', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');
  const report: Report = {
    options: o,
    command,
    facts: machineFacts(REPO_ROOT),
    buildNote: buildNote(o),
    s3Note: s3ServerNote(o.s3),
    startedAt: T0,
  };
  log(`scenarios ${o.only.join(',')}, ${o.duration} s each, on ${report.s3Note}; ${report.buildNote}`);

  if ((o.only.includes(1) && o.s1Client === 'franz') || o.only.includes(5)) buildFranzBenchFirst(log);
  log(`machine limits: disk (${os.tmpdir()}), loopback and the S3 server`);
  try {
    const d = measureDisk({ dir: os.tmpdir(), totalMiB: 64, latencyWrites: o.quick ? 100 : 300 });
    report.disk = d;
    log(`  disk: ${fmtNum(d.seqFsyncMiBps)} MiB/s in 1 MiB writes with fsync each; 64 KiB fdatasync p50 ${fmtNum(d.syncLatency.p50, 2)} ms`);
  } catch (err) {
    report.disk = { error: errMsg(err) };
  }
  try {
    report.loopback = await measureLoopback(o.quick ? 1 : 2);
    log(`  loopback: ${fmtNum(report.loopback.MiBps / 1024, 2)} GiB/s`);
  } catch (err) {
    report.loopback = { error: errMsg(err) };
  }
  try {
    report.s3Limit = await measureS3Puts(o.s3, S3_LIMIT_OBJECT_BYTES, S3_LIMIT_IN_FLIGHT, o.quick ? 3 : 8);
    log(`  S3 server: ${fmtNum(report.s3Limit.MiBps)} MiB/s of ${fmtInt(S3_LIMIT_OBJECT_BYTES)} B PUTs, ${S3_LIMIT_IN_FLIGHT} in flight`);
  } catch (err) {
    report.s3Limit = { error: errMsg(err) };
  }
  process.stdout.write(`\nMachine limits\n${machineLines(report).slice(-3).map((l) => `  ${l}`).join('\n')}\n`);

  for (const n of o.only) {
    if (n === 1) await scenario1(o, (report.s1 = { n, loadavg: [], notes: [] }));
    if (n === 2) await scenario2(o, (report.s2 = { n, loadavg: [], notes: [] }));
    if (n === 3) await scenario3(o, (report.s3 = { n, loadavg: [], notes: [] }));
    if (n === 4) await scenario4(o, (report.s4 = { n, loadavg: [], notes: [] }));
    if (n === 5) await scenario5(o, (report.s5 = { n, loadavg: [], notes: [] }));
    printScenario(report, n);
  }

  report.finishedAt = Date.now();
  report.loadavgEnd = loadavg();
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, renderMarkdown(report));
  fs.mkdirSync(path.join(BENCH_DIR, 'out'), { recursive: true });
  fs.writeFileSync(path.join(BENCH_DIR, 'out', 's3-load-last.json'), JSON.stringify(report, null, 2));
  process.stdout.write(renderText(report) + '\n');
}

runBench(main, log, 'broker, S3 server and client');
