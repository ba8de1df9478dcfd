/**
 * Side-by-side benchmark: StreamHouse and Apache Kafka 3.9 on this machine, in
 * the same run, measured with the same clients (Kafka's own perf tools and
 * librdkafka), next to the raw speed of the disk and the loopback. StreamHouse
 * runs twice: with its defaults (local object store) and on S3 (MinIO started
 * by the bench, bench/lib/brokers.ts).
 *
 *   npm run bench -- [--quick] [--only streamhouse|streamhouse-s3|kafka] [--records N] [--duration S]
 *                    [--ref REV | --worktree [--build|--no-build]] [--profile|--no-profile] [--out FILE]
 *
 * Run by hand, not in the test suite. It prints a table and writes
 * bench/RESULTS.md (date, machine, settings, results, ratios, targets).
 * Full run: under ~10 minutes for the three local brokers, StreamHouse on S3
 * adds a few more; --quick: about 2 minutes. Every broker is
 * started fresh and stopped at the end (also on Ctrl-C).
 *
 * Method (see RESULTS.md for the exact settings of a run):
 *  - disk: 64 MiB written in 1 MiB chunks with fsync after each, the same
 *    buffered with one final fsync, and 64 KiB write+fdatasync latency; in
 *    os.tmpdir(), where both brokers keep their data. Loopback: one TCP
 *    connection between two Node threads.
 *  - phase A, per broker (fresh): a warm-up, then ProducerPerformance with
 *    acks=all and identical tuned producer settings for 100 B, 1 KiB and 1 MiB
 *    records (bounded by --records and --duration), once more with the Java
 *    producer's defaults (100 B), librdkafka producing 100 B as fast as it
 *    can, then ConsumerPerformance reading each full partition from the start
 *    and librdkafka reading the 100 B partition (assign, no group), and last
 *    franz-go producing 100 B and 1 MiB records as fast as it can
 *    (bench/lib/franz.ts: the client that bounds the figures least).
 *  - phase B, per broker (fresh again): produce latency p50/p99 at the same
 *    fixed rate on every broker, 50% of the lowest maximum phase A found for
 *    that record size, so it measures the broker rather than client queueing.
 *  - optional: StreamHouse under `node --cpu-prof` during a 100 B run, summarised
 *    as top self-time functions (default in a full run when it misses the
 *    1,000,000 records/s target).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BROKER_NODE_FLAGS, REPO_ROOT } from '../test/helpers/broker.js';
import { sleep } from '../test/helpers/process.js';
import { errMsg, fmtInt, fmtNum, makeLog, mdTable, runBench, textTable, windowsFor, type Table } from './lib/report.js';
import {
  BROKER_LABEL,
  BROKER_SHORT,
  KAFKA_FSYNC_PROPS,
  S3_BENCH_BUCKET,
  S3_BENCH_PREFIX,
  s3ServerNote,
  setStreamHouseCli,
  createTopics,
  highWatermark,
  startBrokerUnderTest,
  type BrokerId,
  type RunningBroker,
} from './lib/brokers.js';
import { findNewestCpuProfile, summariseCpuProfile, type ProfileSummary } from './lib/cpuprofile.js';
import { PERF_JVM, runConsumerPerformance, runProducerPerformance, type ConsumePerfResult, type ProducePerfResult } from './lib/kafka-tools.js';
import { rdkafkaConsume, rdkafkaProduce, type RdkConsumeResult, type RdkProduceResult } from './lib/rdkafka.js';
import { buildFranzBenchFirst, franzProduce, type FranzProduceResult } from './lib/franz.js';
import {
  loadavg,
  machineFacts,
  measureDisk,
  measureLoopback,
  MiB,
  processCpuSeconds,
  QUIET_CORES,
  waitQuiet,
  type DiskResult,
  type LoopbackResult,
  type MachineFacts,
} from './lib/system.js';

const BENCH_DIR = path.join(REPO_ROOT, 'bench');

// ------------------------------------------------------------------ options

interface Options {
  quick: boolean;
  only: 'all' | 'streamhouse' | 'streamhouse-s3' | 'kafka';
  records: number;
  duration: number;
  /** Commit whose src/ is built (into bench/out/build-<sha>/) and measured; null: the working tree's dist/. */
  ref: string | null;
  build: 'auto' | 'yes' | 'no';
  profile: 'auto' | 'yes' | 'no';
  out: string;
}

const USAGE = `usage: npm run bench -- [options]
  --quick               short run (about 2 minutes): 1,000,000 records, 5 s bounds, no warm-up, 100 B and
                        1 MiB only, no Java-defaults run, no ConsumerPerformance (librdkafka consume only),
                        latency at 100 B only, at 50% of each broker's own maximum without a restart
  --only WHICH          streamhouse | streamhouse-s3 (StreamHouse on MinIO) | kafka (both Kafka runs);
                        default: all four
  --records N           records per 100 B produce run (1 KiB: N/5, 1 MiB: N/2500); default 5,000,000 (quick 1,000,000)
  --duration S          time bound of each produce/consume measurement, seconds (produce: rounded up to
                        ProducerPerformance's 5 s windows); default 10 (quick 5)
  --ref REV             the StreamHouse measured: REV's committed src/, built with tsc into
                        bench/out/build-<sha>/ (cached); default HEAD. Other engineers' uncommitted,
                        half-edited files neither break nor blur the run.
  --worktree            measure the working tree's dist/ instead (uncommitted changes included), with:
  --build | --no-build  run 'npm run build' first; default: only when src/ is newer than dist/
  --profile | --no-profile
                        profile StreamHouse (node --cpu-prof) during an extra 100 B run; default: in a
                        full run when StreamHouse misses 1,000,000 records/s
  --out FILE            where to write the report (default bench/RESULTS.md)
`;

function parseOptions(argv: string[]): Options {
  const o: Options = { quick: false, only: 'all', records: 0, duration: 0, ref: 'HEAD', build: 'auto', profile: 'auto', out: path.join(BENCH_DIR, 'RESULTS.md') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only') {
      const v = val();
      if (v !== 'streamhouse' && v !== 'streamhouse-s3' && v !== 'kafka') throw new Error(`--only streamhouse|streamhouse-s3|kafka, got ${v}`);
      o.only = v;
    } else if (a === '--records') o.records = Number(val().replace(/[_,]/g, ''));
    else if (a === '--duration') o.duration = Number(val());
    else if (a === '--ref') o.ref = val();
    else if (a === '--worktree') o.ref = null;
    else if (a === '--build') o.build = 'yes';
    else if (a === '--no-build') o.build = 'no';
    else if (a === '--profile') o.profile = 'yes';
    else if (a === '--no-profile') o.profile = 'no';
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (!o.records) o.records = o.quick ? 1_000_000 : 5_000_000;
  if (!o.duration) o.duration = o.quick ? 5 : 10;
  if (!(o.records > 0) || !(o.duration > 0)) throw new Error('--records and --duration must be positive');
  return o;
}

// ------------------------------------------------------------------ settings

/** Every broker of a full run, in run order (the table puts StreamHouse on S3 after the Kafka columns). */
const ALL_BROKERS: readonly BrokerId[] = ['streamhouse', 'streamhouse-s3', 'kafka', 'kafka-fsync'];

const SIZES = [100, 1024, MiB] as const;
type Size = (typeof SIZES)[number];
const SIZE_LABEL: Record<Size, string> = { 100: '100 B', 1024: '1 KiB', [MiB]: '1 MiB' } as Record<Size, string>;
const SIZE_TOPIC: Record<Size, string> = { 100: '100b', 1024: '1kib', [MiB]: '1mib' } as Record<Size, string>;

/** Producer settings used for every broker (ProducerPerformance). */
const PRODUCER_PROPS: Record<string, string> = {
  acks: 'all',
  'linger.ms': '5',
  'batch.size': '262144',
  // a 1 MiB record plus its batch overhead is larger than the 1 MiB default
  'max.request.size': '2097152',
};
const PRODUCER_PROPS_NOTE =
  'acks=all, linger.ms=5, batch.size=262144, max.request.size=2097152; otherwise the 3.9 defaults ' +
  '(enable.idempotence=true, max.in.flight.requests.per.connection=5, compression.type=none, buffer.memory=32 MiB); null keys, one partition';
/** The Java defaults run: only acks=all spelled out (it is the 3.9 default anyway). */
const DEFAULT_PRODUCER_PROPS: Record<string, string> = { acks: 'all' };
const DEFAULT_PRODUCER_NOTE = 'acks=all and the 3.9 defaults: linger.ms=0, batch.size=16384, enable.idempotence=true';
/** librdkafka producer settings (the same batching as the Java runs). */
const RDK_PRODUCER_PROPS: Record<string, string> = {
  acks: 'all',
  'enable.idempotence': 'true',
  'linger.ms': '5',
  'batch.size': '262144',
};
/** Topic configs on every broker (1 MiB records need more than the 1048588 default). */
const TOPIC_CONFIGS: Record<string, string> = { 'max.message.bytes': '2097152' };

/** Record sizes of the produce runs (quick: 100 B and 1 MiB, the two with targets). */
function produceSizes(o: Options): readonly Size[] {
  return o.quick ? [100, MiB] : SIZES;
}

/**
 * Small records: the first 5 s window (JVM start, JIT of client and broker) is
 * run and left out. 1 MiB records: a few hundred sends, nothing to warm up.
 */
function warmupWindowsFor(size: Size): number {
  return size === MiB ? 0 : 1;
}


function recordsFor(size: Size, n: number): number {
  if (size === 100) return n;
  if (size === 1024) return Math.max(1000, Math.ceil(n / 5));
  return Math.max(50, Math.ceil(n / 2500));
}

// ------------------------------------------------------------------ results

type Cell<T> = { ok: true; v: T } | { ok: false; error: string } | undefined;

interface ProduceFigure extends ProducePerfResult {
  brokerCores: number;
  throughputArg: number;
  /** Latency runs: the fixed rate. */
  rate?: number;
  /** Latency runs: finished at >= 90% of the fixed rate. */
  sustained?: boolean;
}

interface BrokerResults {
  id: BrokerId;
  startupMs: number[];
  /** Seconds waited for a quiet broker before each measurement (see settle). */
  settleWaits: Array<{ what: string; seconds: number; quiet: boolean }>;
  produce: Partial<Record<Size, Cell<ProduceFigure>>>;
  produceDefaults?: Cell<ProduceFigure>;
  latency: Partial<Record<Size, Cell<ProduceFigure>>>;
  consume: Partial<Record<Size, Cell<ConsumePerfResult & { brokerCores: number }>>>;
  rdkProduce?: Cell<RdkProduceResult & { command: string; brokerCores: number }>;
  franzProduce: Partial<Record<Size, Cell<FranzProduceResult & { command: string; brokerCores: number }>>>;
  rdkConsume?: Cell<RdkConsumeResult & { command: string; brokerCores: number }>;
  notes: string[];
  loadavg: string[];
}

interface Report {
  options: Options;
  command: string;
  facts: MachineFacts;
  /** Measured before the brokers and again after them (the disk is shared with other work). */
  disk: Array<DiskResult | { error: string }>;
  loopback?: LoopbackResult | { error: string };
  brokers: BrokerResults[];
  latencyRates: Partial<Record<Size, number>>;
  profile?: ProfileSummary | { error: string };
  profileFile?: string;
  startedAt: number;
  finishedAt?: number;
  loadavgEnd?: string;
  buildNote: string;
}

// ------------------------------------------------------------------ logging

const T0 = Date.now();
const log = makeLog('bench');

async function cell<T>(what: string, fn: () => Promise<T>): Promise<Cell<T>> {
  try {
    const v = await fn();
    return { ok: true, v };
  } catch (err) {
    log(`  ${what}: FAILED: ${errMsg(err)}`);
    return { ok: false, error: errMsg(err) };
  }
}

// ------------------------------------------------------------------ build

/**
 * Builds `ref`'s committed src/ (git archive, then the repo's tsc) into
 * bench/out/build-<sha>/dist; node_modules and "type": "module" resolve from
 * the repo root above it. Returns the CLI path and a note for the report.
 */
function buildRef(ref: string): { cli: string; note: string } {
  const git = (args: string[]) => {
    const r = spawnSync('git', ['-C', REPO_ROOT, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  };
  const sha = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  const subject = git(['log', '-1', '--format=%s', sha]).slice(0, 80);
  const outDir = path.join(BENCH_DIR, 'out');
  // keyed by the src/ tree, so commits that touch only tests reuse the build
  const tree = git(['rev-parse', `${sha}:src`]).slice(0, 12);
  const dir = path.join(outDir, `build-src-${tree}`);
  const cli = path.join(dir, 'dist', 'src', 'cli.js');
  const note = `commit ${sha.slice(0, 12)} (${ref}: "${subject}"), its src/ (tree ${tree}) built by the bench into ${path.relative(REPO_ROOT, dir)}/`;
  if (fs.existsSync(path.join(dir, '.complete')) && fs.existsSync(cli)) return { cli, note };
  fs.mkdirSync(outDir, { recursive: true });
  // keep only the newest few builds
  const old = fs
    .readdirSync(outDir)
    .filter((d) => d.startsWith('build-'))
    .map((d) => path.join(outDir, d))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  for (const d of old.slice(2)) fs.rmSync(d, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  log(`building StreamHouse ${sha.slice(0, 12)} (${ref}) into ${path.relative(REPO_ROOT, dir)}`);
  const ar = spawnSync('sh', ['-c', `git -C "$0" archive "$1" src tsconfig.json | tar -x -C "$2"`, REPO_ROOT, sha, dir], { encoding: 'utf8' });
  if (ar.status !== 0) throw new Error(`git archive ${sha}: ${ar.stderr}`);
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')], { cwd: dir, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) {
    throw new Error(`tsc of ${ref} (${sha.slice(0, 12)}) failed:\n${`${r.stdout}${r.stderr}`.trim().split('\n').slice(0, 8).join('\n')}`);
  }
  fs.writeFileSync(path.join(dir, '.complete'), `${new Date().toISOString()}\n`);
  return { cli, note };
}

function maybeBuild(mode: Options['build']): string {
  const cli = path.join(REPO_ROOT, 'dist', 'src', 'cli.js');
  let stale = !fs.existsSync(cli);
  if (!stale && mode === 'auto') {
    const built = fs.statSync(cli).mtimeMs;
    const walk = (d: string): boolean =>
      fs.readdirSync(d, { withFileTypes: true }).some((e) => {
        const p = path.join(d, e.name);
        return e.isDirectory() ? walk(p) : e.name.endsWith('.ts') && fs.statSync(p).mtimeMs > built;
      });
    stale = walk(path.join(REPO_ROOT, 'src'));
  }
  if (mode === 'no' || (mode === 'auto' && !stale)) {
    if (!fs.existsSync(cli)) throw new Error('dist/src/cli.js missing: run npm run build');
    return mode === 'no' ? 'not rebuilt (--no-build)' : 'dist/ up to date with src/';
  }
  log('building StreamHouse (npm run build)');
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    const msg = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(0, 8).join('\n');
    if (!fs.existsSync(cli)) throw new Error(`npm run build failed and there is no dist/:\n${msg}`);
    log(`npm run build FAILED (src/ is being edited?); using the existing dist/:\n${msg}`);
    return `npm run build failed; measured the previous dist/ (${msg.split('\n')[0]})`;
  }
  return 'rebuilt from src/ (npm run build)';
}

// ------------------------------------------------------------------ measurements

function cores(pid: number, cpu0: number, t0: number): number {
  const cpu1 = processCpuSeconds(pid);
  const secs = (Date.now() - t0) / 1000;
  return secs > 0 ? (cpu1 - cpu0) / secs : NaN;
}

async function producePerf(
  b: RunningBroker,
  topic: string,
  size: Size,
  numRecords: number,
  throughput: number,
  props: Record<string, string>,
  seconds: number,
  /** Leading 5 s windows to run first and leave out (client and broker warm-up); time-bounded runs only. */
  warmup = 0,
): Promise<ProduceFigure> {
  const cpu0 = processCpuSeconds(b.pid);
  const t0 = Date.now();
  const r = await runProducerPerformance({
    bootstrap: b.bootstrap,
    topic,
    recordSize: size,
    numRecords,
    throughput,
    producerProps: props,
    maxWindows: windowsFor(seconds) + warmup,
    warmupWindows: warmup,
    timeoutMs: (windowsFor(seconds) + warmup) * 5000 + 25_000,
  });
  const brokerCores = cores(b.pid, cpu0, t0);
  if (r.errorLines > 0 && r.records === 0) throw new Error(`no record acknowledged: ${r.firstError ?? ''}`);
  return { ...r, brokerCores, throughputArg: throughput };
}

function describeProduce(r: ProduceFigure): string {
  const lat = r.p99 !== undefined ? `, p50 ${r.p50} ms, p99 ${r.p99} ms` : '';
  return (
    `${fmtInt(r.recordsPerSec)} rec/s, ${r.MiBps.toFixed(1)} MiB/s (${fmtInt(r.records)} records${r.complete ? '' : `, time-bounded: ${r.windows} x 5 s windows${r.warmupWindows ? ` after ${r.warmupWindows} warm-up` : ''}`}` +
    `${lat}; broker ${r.brokerCores.toFixed(2)} cores)` +
    (r.errorLines ? ` [${r.errorLines} error lines: ${r.firstError}]` : '')
  );
}

async function ensureUp(b: RunningBroker, res: BrokerResults): Promise<RunningBroker> {
  if (b.running()) return b;
  const note = `${BROKER_SHORT[b.id]} exited during the run; restarted fresh. Last output:\n${b.tail(15)}`;
  log(note);
  res.notes.push(note);
  await b.stop().catch(() => undefined);
  const nb = await startBrokerUnderTest(b.id);
  res.startupMs.push(nb.startupMs);
  await createTopics(nb.bootstrap, allTopics(), TOPIC_CONFIGS);
  return nb;
}

function allTopics(): string[] {
  return [
    'bench-warmup',
    ...SIZES.map((s) => `bench-${SIZE_TOPIC[s]}`),
    'bench-defaults-100b',
    'bench-rdkafka-100b',
    ...FRANZ_SIZES.map((s) => `bench-franz-${SIZE_TOPIC[s]}`),
    ...SIZES.map((s) => `bench-latency-${SIZE_TOPIC[s]}`),
  ];
}

async function phaseA(id: BrokerId, o: Options, res: BrokerResults): Promise<void> {
  log(`phase A: ${BROKER_LABEL[id]}: starting fresh`);
  let b = await startBrokerUnderTest(id);
  res.startupMs.push(b.startupMs);
  res.loadavg.push(`phase A start: ${loadavg()}`);
  try {
    await createTopics(b.bootstrap, allTopics(), TOPIC_CONFIGS);
    log(`  up at ${b.bootstrap} in ${b.startupMs} ms (pid ${b.pid})`);

    for (const size of produceSizes(o)) {
      const n = recordsFor(size, o.records);
      const warm = warmupWindowsFor(size);
      await settle(b, res, `produce ${SIZE_LABEL[size]}`);
      log(`  produce ${SIZE_LABEL[size]} x ${fmtInt(n)} (bound ${warm ? `${warm * 5} s warm-up + ` : ''}${windowsFor(o.duration) * 5} s)`);
      const c = await cell(`produce ${SIZE_LABEL[size]}`, () =>
        producePerf(b, `bench-${SIZE_TOPIC[size]}`, size, n, -1, PRODUCER_PROPS, o.duration, warm),
      );
      res.produce[size] = c;
      if (c?.ok) log(`    ${describeProduce(c.v)}`);
      b = await ensureUp(b, res);
      await sleep(500);
    }

    if (o.quick) {
      // quick: no second start; latency at 50% of this broker's own 100 B maximum
      const c = res.produce[100];
      if (c?.ok && c.v.recordsPerSec > 0) {
        await settle(b, res, 'latency 100 B');
        await latencyRun(b, o, res, 100, halfRate(c.v.recordsPerSec));
      }
      b = await ensureUp(b, res);
    } else {
      await settle(b, res, 'produce 100 B, Java defaults');
      log(`  produce 100 B with the Java producer defaults (bound 5 s warm-up + ${windowsFor(Math.min(o.duration, 10)) * 5} s)`);
      const c = await cell('produce defaults', () =>
        producePerf(b, 'bench-defaults-100b', 100, o.records, -1, DEFAULT_PRODUCER_PROPS, Math.min(o.duration, 10), 1),
      );
      res.produceDefaults = c;
      if (c?.ok) log(`    ${describeProduce(c.v)}`);
      b = await ensureUp(b, res);
    }

    const rdkSeconds = rdkProduceSeconds(o);
    await settle(b, res, 'librdkafka produce');
    log(`  librdkafka produce 100 B for ${rdkSeconds} s`);
    {
      const cpu0 = processCpuSeconds(b.pid);
      const t0 = Date.now();
      res.rdkProduce = await cell('librdkafka produce', async () => {
        const r = await rdkafkaProduce({ bootstrap: b.bootstrap, topic: 'bench-rdkafka-100b', recordSize: 100, seconds: rdkSeconds, props: RDK_PRODUCER_PROPS });
        return { ...r, brokerCores: cores(b.pid, cpu0, t0) };
      });
      if (res.rdkProduce?.ok) {
        const r = res.rdkProduce.v;
        log(`    ${fmtInt(r.records_per_sec)} rec/s (${fmtInt(r.acked)} acked, ${r.errors} errors, flush ${(r.seconds - rdkSeconds).toFixed(1)} s)`);
      }
      b = await ensureUp(b, res);
    }

    const consumeSizes: readonly Size[] = o.quick ? [] : SIZES;
    for (const size of consumeSizes) {
      const topic = `bench-${SIZE_TOPIC[size]}`;
      let hw = 0;
      try {
        hw = await highWatermark(b.bootstrap, topic);
      } catch (err) {
        res.consume[size] = { ok: false, error: `high watermark: ${errMsg(err)}` };
        continue;
      }
      if (hw <= 0) {
        res.consume[size] = { ok: false, error: 'partition is empty (produce failed)' };
        continue;
      }
      await settle(b, res, `consume ${SIZE_LABEL[size]}`);
      log(`  ConsumerPerformance ${SIZE_LABEL[size]}: ${fmtInt(hw)} records from offset 0`);
      const cpu0 = processCpuSeconds(b.pid);
      const t0 = Date.now();
      res.consume[size] = await cell(`consume ${SIZE_LABEL[size]}`, async () => {
        const r = await runConsumerPerformance({
          bootstrap: b.bootstrap,
          topic,
          messages: hw,
          group: `bench-cperf-${SIZE_TOPIC[size]}`,
          timeoutMs: (o.duration + 25) * 1000,
        });
        return { ...r, brokerCores: cores(b.pid, cpu0, t0) };
      });
      const c = res.consume[size];
      if (c?.ok) {
        log(`    ${fmtInt(c.v.fetchRecordsPerSec)} rec/s, ${c.v.fetchMiBps.toFixed(1)} MiB/s excluding ${c.v.rebalanceMs} ms group join (${fmtInt(c.v.recordsPerSec)} rec/s including it)`);
      }
      b = await ensureUp(b, res);
    }

    {
      const topic = 'bench-100b';
      let hw = 0;
      try {
        hw = await highWatermark(b.bootstrap, topic);
      } catch {
        /* reported below */
      }
      if (hw > 0) {
        await settle(b, res, 'librdkafka consume');
        log(`  librdkafka consume 100 B: ${fmtInt(hw)} records from offset 0 (assign, bound ${o.duration} s)`);
        const cpu0 = processCpuSeconds(b.pid);
        const t0 = Date.now();
        res.rdkConsume = await cell('librdkafka consume', async () => {
          const r = await rdkafkaConsume({ bootstrap: b.bootstrap, topic, count: hw, idleTimeoutS: 10, maxSeconds: o.duration });
          return { ...r, brokerCores: cores(b.pid, cpu0, t0) };
        });
        if (res.rdkConsume?.ok) {
          const r = res.rdkConsume.v;
          log(`    ${fmtInt(r.records_per_sec)} rec/s, ${r.mib_per_sec.toFixed(1)} MiB/s (${fmtInt(r.records)} records${r.complete ? '' : ', time-bounded'})`);
        }
      } else res.rdkConsume = { ok: false, error: 'partition is empty (produce failed)' };
    }

    // Last: they write gigabytes, whose compaction would run under the consume measurements.
    for (const size of FRANZ_SIZES) {
      const seconds = rdkProduceSeconds(o);
      await settle(b, res, `franz-go produce ${SIZE_LABEL[size]}`);
      log(`  franz-go produce ${SIZE_LABEL[size]} for ${seconds} s`);
      const cpu0 = processCpuSeconds(b.pid);
      const t0 = Date.now();
      const c = await cell(`franz-go produce ${SIZE_LABEL[size]}`, async () => {
        const r = await franzProduce({ bootstrap: b.bootstrap, topic: `bench-franz-${SIZE_TOPIC[size]}`, recordSize: size, seconds });
        return { ...r, brokerCores: cores(b.pid, cpu0, t0) };
      });
      res.franzProduce[size] = c;
      if (c?.ok) log(`    ${fmtInt(c.v.records_per_sec)} rec/s, ${fmtNum(c.v.mib_per_sec)} MiB/s (${fmtInt(c.v.acked)} acked, ${c.v.errors} errors)`);
      b = await ensureUp(b, res);
      await sleep(500);
    }
  } finally {
    res.loadavg.push(`phase A end: ${loadavg()}`);
    log(`  stopping ${BROKER_SHORT[id]}`);
    await b.stop().catch((err: unknown) => log(`  stop failed: ${errMsg(err)}`));
  }
}

/** ProducerPerformance at a fixed rate: p50/p99 send-to-ack latency below saturation. */
async function latencyRun(b: RunningBroker, o: Options, res: BrokerResults, size: Size, rate: number): Promise<void> {
  const seconds = latencySeconds(o);
  const n = Math.max(50, Math.round(rate * seconds));
  log(`  latency ${SIZE_LABEL[size]}: ${fmtInt(n)} records at ${fmtInt(rate)} rec/s`);
  const c = await cell(`latency ${SIZE_LABEL[size]}`, () =>
    producePerf(b, `bench-latency-${SIZE_TOPIC[size]}`, size, n, rate, PRODUCER_PROPS, seconds * 2 + 5),
  );
  if (c?.ok) {
    c.v.rate = rate;
    c.v.sustained = c.v.complete && c.v.recordsPerSec >= 0.9 * rate;
    if (!c.v.complete) c.v.p50 = c.v.p99 = undefined; // stopped at the time bound: the broker could not keep the rate
    log(`    ${describeProduce(c.v)}`);
  }
  res.latency[size] = c;
}

/** franz-go runs: 100 B for the records/s target, 1 MiB for the disk one. */
const FRANZ_SIZES: readonly Size[] = [100, MiB];

function rdkProduceSeconds(o: Options): number {
  return o.quick ? 3 : 10;
}

function latencySeconds(o: Options): number {
  return o.quick ? 3 : 6;
}

/** A latency rate: half of `max`, rounded. */
function halfRate(max: number): number {
  const r = max / 2;
  return r >= 100 ? Math.round(r / 100) * 100 : Math.max(1, Math.round(r));
}

const SETTLE_MAX_S = 20;

/**
 * Waits until the broker process is quiet (at most SETTLE_MAX_S), so that a
 * measurement does not pay for the background work of the one before it:
 * StreamHouse compacts what a run wrote into segments after it, and a 1 KiB
 * run's gigabyte was being compacted under the 1 MiB run that followed
 * (Kafka's own flushing of the page cache runs in kernel threads, outside
 * its process, and is not waited for). The same rule for every broker.
 */
async function settle(b: RunningBroker, res: BrokerResults, what: string): Promise<void> {
  const { seconds, quiet } = await waitQuiet(b.pid, SETTLE_MAX_S, () => b.running());
  res.settleWaits.push({ what, seconds, quiet });
  if (seconds > 1.5 || !quiet) log(`    (waited ${fmtNum(seconds)} s for a quiet broker${quiet ? '' : ', still busy'})`);
}

async function phaseB(id: BrokerId, o: Options, res: BrokerResults, rates: Partial<Record<Size, number>>, sizes: readonly Size[]): Promise<void> {
  log(`phase B (latency): ${BROKER_LABEL[id]}: starting fresh`);
  let b = await startBrokerUnderTest(id);
  res.startupMs.push(b.startupMs);
  res.loadavg.push(`phase B start: ${loadavg()}`);
  try {
    await createTopics(b.bootstrap, allTopics(), TOPIC_CONFIGS);
    if (!o.quick) {
      await cell('latency warm-up', () => producePerf(b, 'bench-warmup', 100, Math.ceil(o.records / 10), -1, PRODUCER_PROPS, 5));
      b = await ensureUp(b, res);
    }
    for (const size of sizes) {
      const rate = rates[size];
      if (!rate) continue;
      await settle(b, res, `latency ${SIZE_LABEL[size]}`);
      await latencyRun(b, o, res, size, rate);
      b = await ensureUp(b, res);
    }
  } finally {
    res.loadavg.push(`phase B end: ${loadavg()}`);
    await b.stop().catch((err: unknown) => log(`  stop failed: ${errMsg(err)}`));
  }
}

async function profileStreamHouse(o: Options, report: Report): Promise<void> {
  const outDir = path.join(BENCH_DIR, 'out');
  const dir = path.join(outDir, `profile-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(dir, { recursive: true });
  // keep the newest few profiles
  const old = fs
    .readdirSync(outDir)
    .filter((d) => d.startsWith('profile-'))
    .sort()
    .reverse();
  for (const d of old.slice(3)) fs.rmSync(path.join(outDir, d), { recursive: true, force: true });
  log(`profile: StreamHouse under node --cpu-prof, 100 B produce for ~${Math.min(o.duration, 10)} s`);
  const b = await startBrokerUnderTest('streamhouse', { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`], scratchDir: dir });
  let window: { fromMs: number; toMs: number } | undefined;
  try {
    await createTopics(b.bootstrap, ['bench-profile-100b'], TOPIC_CONFIGS);
    const from = Date.now();
    const r = await producePerf(b, 'bench-profile-100b', 100, o.records, -1, PRODUCER_PROPS, Math.min(o.duration, 10), 1);
    window = { fromMs: from - b.spawnedAt, toMs: Date.now() - b.spawnedAt };
    log(`  under the profiler: ${describeProduce(r)}`);
  } finally {
    await b.stop();
  }
  const file = findNewestCpuProfile(dir);
  if (!file) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error('no .cpuprofile written (did the broker exit cleanly on SIGTERM?)');
  }
  report.profileFile = path.relative(REPO_ROOT, file);
  // only the samples of the produce run (not start-up and module loading)
  report.profile = summariseCpuProfile(file, REPO_ROOT, 15, window);
}

// ------------------------------------------------------------------ formatting


type Dir = 'higher' | 'lower';
interface Row {
  figure: string;
  unit: string;
  dir: Dir;
  values: Partial<Record<BrokerId, { v: number; mark?: string } | { err: string }>>;
  target?: string;
  /** Absolute target for StreamHouse: value >= min. */
  min?: number;
  /** Whether "SH >= Kafka default" is a target for this row. */
  vsKafka?: boolean;
  digits?: number;
}

function val<T>(c: Cell<T> | undefined, f: (v: T) => number, mark?: (v: T) => string | undefined): { v: number; mark?: string } | { err: string } | undefined {
  if (!c) return undefined;
  if (!c.ok) return { err: c.error };
  return { v: f(c.v), mark: mark?.(c.v) };
}

function buildRows(report: Report): Row[] {
  const rows: Row[] = [];
  const by = (id: BrokerId) => report.brokers.find((b) => b.id === id);
  const each = <T>(get: (r: BrokerResults) => Cell<T> | undefined, f: (v: T) => number, mark?: (v: T) => string | undefined) => {
    const out: Row['values'] = {};
    for (const id of ALL_BROKERS) {
      const r = by(id);
      if (!r) continue;
      const v = val(get(r), f, mark);
      if (v) out[id] = v;
    }
    return out;
  };
  const tb = (p: ProduceFigure) => (p.complete ? undefined : '*');
  const diskMiBps = diskSpeed(report);
  for (const size of SIZES) {
    const n = SIZE_LABEL[size];
    rows.push({
      figure: `produce ${n}, acks=all (ProducerPerformance, tuned)`,
      unit: 'records/s',
      dir: 'higher',
      values: each((r) => r.produce[size], (p) => p.recordsPerSec, tb),
      target: size === 100 ? '>= 1,000,000 and >= Kafka default' : '>= Kafka default',
      min: size === 100 ? 1_000_000 : undefined,
      vsKafka: true,
      digits: 0,
    });
    rows.push({
      figure: `produce ${n}, acks=all (ProducerPerformance, tuned)`,
      unit: 'MiB/s',
      dir: 'higher',
      values: each((r) => r.produce[size], (p) => p.MiBps, tb),
      target:
        size === MiB
          ? `>= disk/2 = ${fmtNum(diskMiBps / 2)} and >= Kafka default`
          : undefined,
      min: size === MiB && Number.isFinite(diskMiBps) ? diskMiBps / 2 : undefined,
      vsKafka: size === MiB,
    });
  }
  if (report.brokers.some((b) => b.produceDefaults)) {
    rows.push({
      figure: 'produce 100 B, Java producer defaults',
      unit: 'records/s',
      dir: 'higher',
      values: each((r) => r.produceDefaults, (p) => p.recordsPerSec, tb),
      target: '>= Kafka default',
      vsKafka: true,
      digits: 0,
    });
  }
  rows.push({
    figure: 'produce 100 B, librdkafka (confluent-kafka), acks=all',
    unit: 'records/s',
    dir: 'higher',
    values: each((r) => r.rdkProduce, (p) => p.records_per_sec),
    target: '>= Kafka default',
    vsKafka: true,
    digits: 0,
  });
  for (const size of FRANZ_SIZES) {
    if (!report.brokers.some((b) => b.franzProduce[size])) continue;
    const n = SIZE_LABEL[size];
    rows.push({
      figure: `produce ${n}, franz-go (kgo), acks=all`,
      unit: size === MiB ? 'MiB/s' : 'records/s',
      dir: 'higher',
      values: each((r) => r.franzProduce[size], (p) => (size === MiB ? p.mib_per_sec : p.records_per_sec)),
      target: size === MiB ? `>= disk/2 = ${fmtNum(diskMiBps / 2)} and >= Kafka default` : '>= 1,000,000 and >= Kafka default',
      min: size === MiB ? (Number.isFinite(diskMiBps) ? diskMiBps / 2 : undefined) : 1_000_000,
      vsKafka: true,
      digits: size === MiB ? 1 : 0,
    });
  }
  for (const size of SIZES) {
    const rate = report.latencyRates[size];
    if (!report.brokers.some((b) => b.latency[size])) continue;
    const at = report.options.quick || !rate ? "50% of each broker's max" : `${fmtInt(rate)} rec/s`;
    const n = SIZE_LABEL[size];
    const mark = (p: ProduceFigure) => `${p.sustained ? '' : '!'}${!report.options.quick && rate && p.rate !== undefined && p.rate < rate ? '†' : ''}` || undefined;
    rows.push({
      figure: `produce latency ${n} p50 @ ${at}`,
      unit: 'ms',
      dir: 'lower',
      values: each((r) => r.latency[size], (p) => p.p50 ?? NaN, mark),
      digits: 0,
    });
    rows.push({
      figure: `produce latency ${n} p99 @ ${at}`,
      unit: 'ms',
      dir: 'lower',
      values: each((r) => r.latency[size], (p) => p.p99 ?? NaN, mark),
      digits: 0,
    });
  }
  for (const size of SIZES) {
    if (!report.brokers.some((b) => b.consume[size])) continue;
    const n = SIZE_LABEL[size];
    rows.push({
      figure: `consume ${n} from offset 0 (ConsumerPerformance, fetch rate)`,
      unit: size === MiB ? 'MiB/s' : 'records/s',
      dir: 'higher',
      values: each((r) => r.consume[size], (c) => (size === MiB ? c.fetchMiBps : c.fetchRecordsPerSec)),
      target: '>= Kafka default',
      vsKafka: true,
      digits: size === MiB ? 1 : 0,
    });
  }
  rows.push({
    figure: 'consume 100 B from offset 0, librdkafka (assign)',
    unit: 'records/s',
    dir: 'higher',
    values: each((r) => r.rdkConsume, (c) => c.records_per_sec, (c) => (c.complete ? undefined : '*')),
    target: '>= Kafka default',
    vsKafka: true,
    digits: 0,
  });
  rows.push({
    figure: 'broker CPU during produce 100 B (tuned)',
    unit: 'cores',
    dir: 'lower',
    values: each((r) => r.produce[100], (p) => p.brokerCores),
    digits: 2,
  });
  return rows;
}

function cellText(x: { v: number; mark?: string } | { err: string } | undefined, digits: number): string {
  if (!x) return '';
  if ('err' in x) return 'FAILED';
  return (digits === 0 ? fmtInt(x.v) : fmtNum(x.v, digits)) + (x.mark ?? '');
}

function ratioText(row: Row, other: BrokerId): string {
  const a = row.values.streamhouse;
  const b = row.values[other];
  if (!a || !b || 'err' in a || 'err' in b || !Number.isFinite(a.v) || !Number.isFinite(b.v) || b.v === 0) return '';
  const r = a.v / b.v;
  let s = `${r.toFixed(2)}x`;
  if (other === 'kafka' && row.vsKafka) s += r >= 1 ? ' ok' : ' MISS';
  return s;
}

function targetText(row: Row): string {
  if (!row.target) return '';
  const sh = row.values.streamhouse;
  if (row.min === undefined) return row.target;
  if (!sh || 'err' in sh) return `${row.target}`;
  return `${row.target}: ${sh.v >= row.min ? 'ok' : 'MISS'}`;
}

/** Figures right-aligned; the label, unit and target columns not. */
const numericColumn = (t: Table) => (i: number) => i >= 2 && t.header[i] !== 'StreamHouse target';

function buildTable(report: Report): Table {
  const present = (id: BrokerId) => report.brokers.some((b) => b.id === id);
  const header = ['figure', 'unit'];
  if (present('streamhouse')) header.push('StreamHouse');
  if (present('kafka')) header.push('Kafka default');
  if (present('kafka-fsync')) header.push('Kafka fsync');
  if (present('streamhouse-s3')) header.push(BROKER_SHORT['streamhouse-s3']);
  const both = present('streamhouse');
  if (both && present('kafka')) header.push('SH/Kafka default');
  if (both && present('kafka-fsync')) header.push('SH/Kafka fsync');
  if (both) header.push('StreamHouse target');
  const rows: string[][] = [];
  for (const row of buildRows(report)) {
    if (Object.keys(row.values).length === 0) continue;
    const d = row.digits ?? 1;
    const r = [row.figure, row.unit];
    if (present('streamhouse')) r.push(cellText(row.values.streamhouse, d));
    if (present('kafka')) r.push(cellText(row.values.kafka, d));
    if (present('kafka-fsync')) r.push(cellText(row.values['kafka-fsync'], d));
    if (present('streamhouse-s3')) r.push(cellText(row.values['streamhouse-s3'], d));
    if (both && present('kafka')) r.push(ratioText(row, 'kafka'));
    if (both && present('kafka-fsync')) r.push(ratioText(row, 'kafka-fsync'));
    if (both) r.push(targetText(row));
    rows.push(r);
  }
  return { header, rows };
}



function machineText(report: Report): string {
  const f = report.facts;
  const lines = [
    `date: ${f.date}   host: ${f.hostname}`,
    `cpu: ${f.nproc} x ${f.cpuModel}   memory: ${fmtInt(f.memTotalMiB)} MiB (${fmtInt(f.memAvailableMiB)} MiB available)`,
    `kernel: ${f.kernel}   node ${f.node}   ${f.java}   ${f.librdkafka}`,
    `data dirs: ${f.tmpFs}`,
    `StreamHouse measured: ${report.buildNote} (repo HEAD ${f.gitCommit}, ${f.gitDirty})`,
    `load average (1/5/15 min) at start: ${f.loadavgStart}${report.loadavgEnd ? `, at end: ${report.loadavgEnd}` : ''} (the machine is shared; every client and broker shares these ${f.nproc} cores)`,
  ];
  report.disk.forEach((d, i) => {
    const when = i === 0 ? 'before the brokers' : 'after the brokers';
    if ('seqFsyncMiBps' in d) {
      lines.push(
        `disk (${when}): ${d.seqFsyncMiB} MiB in 1 MiB writes with fsync each: ${fmtNum(d.seqFsyncMiBps)} MiB/s; ` +
          `buffered + one fsync: ${fmtNum(d.bufferedThenFsyncMiBps)} MiB/s; ` +
          `64 KiB write+fdatasync: p50 ${fmtNum(d.syncLatency.p50, 2)} ms, p99 ${fmtNum(d.syncLatency.p99, 2)} ms (n=${d.syncLatency.n})`,
      );
    } else lines.push(`disk (${when}): FAILED: ${d.error}`);
  });
  if (report.disk.length) lines.push(`disk speed for the 1 MiB target: ${fmtNum(diskSpeed(report))} MiB/s (the better of the fsync-each-1-MiB measurements)`);
  const l = report.loopback;
  if (l && 'MiBps' in l) lines.push(`loopback TCP (one connection, Node to Node): ${fmtNum(l.MiBps / 1024, 2)} GiB/s`);
  else if (l) lines.push(`loopback: FAILED: ${l.error}`);
  return lines.join('\n');
}

function footnotes(report: Report): string[] {
  const notes = [
    'records/s and MiB/s: higher is better; ms and cores: lower is better. Ratios are StreamHouse / Kafka (for ms and cores < 1 favours StreamHouse).',
    '"*" = the run hit its time bound and the figure comes from ProducerPerformance\'s 5 s windows (or librdkafka\'s partial count); "!" = the latency run did not reach 90% of its fixed rate (client or broker saturated: the latency includes queueing).',
    '"ok"/"MISS" after a SH/Kafka default ratio: the target ">= Kafka\'s own throughput with its defaults".',
  ];
  if (report.brokers.some((b) => b.id === 'streamhouse-s3')) {
    notes.push(
      `${BROKER_SHORT['streamhouse-s3']}: StreamHouse with its partition logs and metadata journal in S3 (${s3ServerNote()}); ` +
        'the ratios and targets are those of the local-store StreamHouse column; "cores" counts the broker only, not the S3 server.',
    );
    if (!report.options.quick) notes.push('"†" = StreamHouse on S3 could not take the common latency rate: it ran at 50% of its own maximum (see the raw figures).');
  }
  if (report.options.quick) {
    notes.push("latency rows (quick): each broker at 50% of its own 100 B maximum, right after the throughput runs (ProducerPerformance --throughput).");
  } else if (Object.keys(report.latencyRates).length) {
    notes.push(
      'latency rows: every broker at the same fixed rate, 50% of the lowest maximum that phase A found for that record size (ProducerPerformance --throughput), fresh broker.',
    );
  }
  return notes;
}

/** The issue's three targets for StreamHouse, one line each. */
function targetsText(report: Report): string[] {
  const sh = report.brokers.find((b) => b.id === 'streamhouse');
  if (!sh) return [];
  const out: string[] = [];
  // Each client's figure, the target judged on the best (the broker's rate, as far as a client here can show it).
  const by = <T>(label: string, c: Cell<T> | undefined, f: (v: T) => number) => (c?.ok ? [{ label, v: f(c.v) }] : []);
  const judge = (what: string, unit: string, goal: number, figures: Array<{ label: string; v: number }>, extra = '') => {
    if (!figures.length) return `${what}: not measured`;
    const best = figures.reduce((a, b) => (b.v > a.v ? b : a));
    const list = figures.map((f) => `${f.label} ${fmtInt(f.v)}`).join(', ');
    return `${what}: ${list} ${unit}${extra}; best ${fmtNum((100 * best.v) / goal)}% of it: ${best.v >= goal ? 'met' : 'MISSED'}`;
  };
  out.push(
    judge('>= 1,000,000 records/s of 100 B', 'records/s', 1_000_000, [
      ...by('ProducerPerformance', sh.produce[100], (p) => p.recordsPerSec),
      ...by('franz-go', sh.franzProduce[100], (p) => p.records_per_sec),
    ]),
  );
  const disk = diskSpeed(report);
  out.push(
    Number.isFinite(disk)
      ? judge(
          ">= half the disk's own speed for 1 MiB records",
          'MiB/s',
          disk / 2,
          [...by('ProducerPerformance', sh.produce[MiB], (p) => p.MiBps), ...by('franz-go', sh.franzProduce[MiB], (p) => p.mib_per_sec)],
          ` against ${fmtNum(disk / 2)} (disk ${fmtNum(disk)} MiB/s)`,
        )
      : `>= half the disk's own speed for 1 MiB records: not measured (disk speed unknown)`,
  );
  if (report.brokers.some((b) => b.id === 'kafka')) {
    const rows = buildRows(report).filter((r) => r.vsKafka);
    const met: string[] = [];
    const missed: string[] = [];
    for (const r of rows) {
      const a = r.values.streamhouse;
      const b = r.values.kafka;
      if (!a || !b || 'err' in b) continue;
      const label = `${r.figure} [${r.unit}]`;
      if ('err' in a || !(a.v >= b.v)) missed.push(`${label} ${'err' in a ? 'FAILED' : `${fmtNum(a.v / b.v, 2)}x`}`);
      else met.push(label);
    }
    out.push(
      `>= Kafka's own throughput with its defaults: ${met.length} of ${met.length + missed.length} throughput figures met` +
        (missed.length ? `; missed: ${missed.join('; ')}` : ''),
    );
  }
  return out;
}

function errorsText(report: Report): string[] {
  const out: string[] = [];
  const add = <T>(id: BrokerId, what: string, c: Cell<T> | undefined) => {
    if (c && !c.ok) out.push(`${BROKER_SHORT[id]}: ${what}: ${c.error}`);
  };
  for (const b of report.brokers) {
    for (const s of SIZES) add(b.id, `produce ${SIZE_LABEL[s]}`, b.produce[s]);
    add(b.id, 'produce 100 B defaults', b.produceDefaults);
    add(b.id, 'librdkafka produce', b.rdkProduce);
    for (const s of FRANZ_SIZES) add(b.id, `franz-go produce ${SIZE_LABEL[s]}`, b.franzProduce[s]);
    for (const s of SIZES) add(b.id, `latency ${SIZE_LABEL[s]}`, b.latency[s]);
    for (const s of SIZES) add(b.id, `consume ${SIZE_LABEL[s]}`, b.consume[s]);
    add(b.id, 'librdkafka consume', b.rdkConsume);
    for (const n of b.notes) out.push(`${BROKER_SHORT[b.id]}: ${n}`);
    for (const s of SIZES) {
      const c = b.produce[s];
      if (c?.ok && c.v.errorLines) out.push(`${BROKER_SHORT[b.id]}: produce ${SIZE_LABEL[s]}: ${c.v.errorLines} error lines, first: ${c.v.firstError}`);
    }
  }
  return out;
}

function profileText(report: Report): string {
  const p = report.profile;
  if (!p) return '';
  if ('error' in p) return `StreamHouse CPU profile: FAILED: ${p.error}`;
  const lines = [
    `StreamHouse CPU profile during a 100 B produce run (node --cpu-prof, samples of the ProducerPerformance run only: ${fmtNum(p.totalMs / 1000)} s, ` +
      `of which busy ${fmtNum(p.busyMs / 1000)} s = ${fmtNum(p.busyPct)}% of one core, idle the rest` +
      `${p.busyPct < 50 ? ': the broker mostly waits (I/O, timers, clients); its CPU is not what bounds this run' : ''}; ${report.profileFile ?? p.file}):`,
    '  top self time by function (% of busy time):',
    ...p.topFunctions.map((e) => `    ${fmtNum(e.pct).padStart(5)}%  ${fmtInt(e.selfMs).padStart(7)} ms  ${e.name}  ${e.where}`),
    '  top self time by file (% of busy time):',
    ...p.topFiles.slice(0, 10).map((e) => `    ${fmtNum(e.pct).padStart(5)}%  ${fmtInt(e.selfMs).padStart(7)} ms  ${e.where}`),
  ];
  return lines.join('\n');
}

function settingsText(report: Report): string[] {
  const o = report.options;
  const kv = (r: Record<string, string>) =>
    Object.entries(r)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
  const sizes = produceSizes(o)
    .map((s) => `${SIZE_LABEL[s]} ${fmtInt(recordsFor(s, o.records))}`)
    .join(', ');
  return [
    `mode: ${o.quick ? 'quick' : 'full'}; records per produce run (--records): ${sizes}; time bound (--duration) ${o.duration} s per measurement`,
    `brokers: StreamHouse \`node ${BROKER_NODE_FLAGS.join(' ')} dist/src/cli.js serve\` with its defaults (embedded metadata, local-directory storage, fsync'd WAL, wal.flush.ms=0, ` +
      `group.initial.rebalance.delay.ms=3000) on a fresh data dir; Kafka 3.9.0 single-node KRaft (scripts/kafka-ref.ts: -Xmx1G -Xms1G G1, ` +
      `group.initial.rebalance.delay.ms=0) with its defaults, and again with ${kv(KAFKA_FSYNC_PROPS)} (fsync after every append: durable like StreamHouse); ` +
      `one broker at a time, each started fresh for each phase and stopped after it`,
    ...(report.brokers.some((b) => b.id === 'streamhouse-s3')
      ? [
          `StreamHouse on S3: the same, with --storage s3://${S3_BENCH_BUCKET}/${S3_BENCH_PREFIX} --s3-endpoint <server> --s3-force-path-style (embedded metadata, ` +
            `its journal in the bucket too; the data dir is only a cache) on ${s3ServerNote()}, a fresh server and bucket with each broker start, stopped with it`,
        ]
      : []),
    `topics: 1 partition, replication factor 1, ${kv(TOPIC_CONFIGS)} (created with kafkajs before the runs)`,
    `ProducerPerformance (org.apache.kafka.tools 3.9.0, ${PERF_JVM.slice(0, 1).join(' ')} G1) for every broker: ${PRODUCER_PROPS_NOTE}; ` +
      `maxima with --throughput -1: the run stops at --records or after ${windowsFor(o.duration) * 5} s of its 5 s progress windows ` +
      `(figures from those windows, marked *); for 100 B and 1 KiB one more 5 s window runs first and is left out (JVM start, JIT of client and broker)`,
    ...(o.quick ? [] : [`Java defaults run (100 B): ${DEFAULT_PRODUCER_NOTE}`]),
    ...(o.quick
      ? []
      : [
          `ConsumerPerformance: --messages <high watermark> (the whole partition phase A produced) --timeout 10000, default fetch size (1 MiB), its own group; ` +
            `figure = fetch.nMsg.sec / fetch.MB.sec (group join excluded; it is in the raw figures)`,
        ]),
    `librdkafka (Debian python3-confluent-kafka): producer ${kv(RDK_PRODUCER_PROPS)}, 100 B values, null keys, partition 0, ` +
      `${rdkProduceSeconds(o)} s of produce() then flush(), rate = acknowledged records / time to the last ack; ` +
      `consumer assign()s partition 0 at offset 0 (no group protocol), librdkafka defaults, consume(num_messages=10000), bounded to ${o.duration} s; ` +
      'its idempotent producer keeps one ProduceRequest in flight (librdkafka PR #4989), so its rate is one 256 KiB batch per broker acknowledgement',
    `franz-go (github.com/twmb/franz-go v1.22.3, bench/go/franzbench): kgo's idempotent producer, acks=all, linger 0, up to 5 requests in flight, ` +
      `no compression, batches up to 1 MB (2 MB for 1 MiB records), 128 MiB buffered; random upper-case letters, partition 0; ${rdkProduceSeconds(o)} s then flush, ` +
      'rate = acknowledged records / time to the last ack',
    o.quick
      ? `produce latency (100 B): ProducerPerformance --throughput R, R = 50% of that broker's own maximum, ${latencySeconds(o)} s worth of records, right after its throughput runs; p50/p99 as it prints them (send to acknowledgement)`
      : `produce latency: ProducerPerformance --throughput R, R = 50% of the lowest phase-A maximum among the brokers for that size (the same R for every broker), ` +
        `${latencySeconds(o)} s worth of records, on a fresh broker after a 5 s warm-up; p50/p99 as it prints them (send to acknowledgement)`,
    `broker CPU: utime+stime of the broker process from /proc during the measurement / wall time (1.00 = one core busy)`,
    `before each measurement the bench waits until the broker process is quiet (under ${QUIET_CORES} of a core over a second, at most ${SETTLE_MAX_S} s; the waits are in the raw figures): ` +
      `StreamHouse compacts what a run wrote after it, and that work is not charged to the next run; Kafka's page-cache flushing runs in kernel threads and is not waited for`,
    `StreamHouse holds produce while compaction owes more than --max-compaction-debt-bytes (default 1 GiB): a run that writes more than that faster than compaction keeps up (franz-go 1 MiB) measures the rate StreamHouse can sustain, not a burst into a growing WAL`,
  ];
}

function renderText(report: Report): string {
  const t = buildTable(report);
  const parts = [
    '',
    '=== StreamHouse vs Apache Kafka 3.9, same machine, same run ===',
    machineText(report),
    '',
    textTable(t, numericColumn(t)),
    '',
    ...footnotes(report),
  ];
  const targets = targetsText(report);
  if (targets.length) parts.push('', 'StreamHouse targets:', ...targets.map((l) => `  - ${l}`));
  const errs = errorsText(report);
  if (errs.length) parts.push('', 'failures and notes:', ...errs.map((e) => `  - ${e}`));
  const prof = profileText(report);
  if (prof) parts.push('', prof);
  parts.push('', `total time ${fmtNum(((report.finishedAt ?? Date.now()) - report.startedAt) / 1000, 0)} s; report written to ${path.relative(process.cwd(), report.options.out) || report.options.out}`);
  return parts.join('\n');
}

function rawSection(report: Report): string {
  const out: string[] = [];
  for (const b of report.brokers) {
    out.push(`### ${BROKER_LABEL[b.id]}`, '', `startup: ${b.startupMs.map((m) => `${m} ms`).join(', ')}; load average: ${b.loadavg.join('; ')}`, '');
    if (b.settleWaits.length) {
      out.push(`waits for a quiet broker: ${b.settleWaits.map((w) => `${w.what} ${fmtNum(w.seconds)} s${w.quiet ? '' : ' (still busy)'}`).join(', ')}`, '');
    }
    const prod = (what: string, c: Cell<ProduceFigure> | undefined) => {
      if (!c) return;
      if (!c.ok) {
        out.push(`- ${what}: FAILED: ${c.error}`);
        return;
      }
      const lastLine = c.v.output.split('\n').filter((l) => /records sent/.test(l)).slice(-1)[0] ?? '';
      out.push(`- ${what}: ${describeProduce(c.v)}`, `  - \`${lastLine.trim()}\``);
    };
    for (const s of SIZES) prod(`produce ${SIZE_LABEL[s]}`, b.produce[s]);
    prod('produce 100 B, Java defaults', b.produceDefaults);
    for (const s of SIZES) {
      const c = b.latency[s];
      prod(`latency ${SIZE_LABEL[s]} @ ${c?.ok ? fmtInt(c.v.rate ?? NaN) : fmtInt(report.latencyRates[s] ?? NaN)} rec/s`, c);
    }
    for (const s of SIZES) {
      const c = b.consume[s];
      if (!c) continue;
      if (!c.ok) out.push(`- consume ${SIZE_LABEL[s]}: FAILED: ${c.error}`);
      else {
        const v = c.v;
        out.push(
          `- consume ${SIZE_LABEL[s]}: ${fmtInt(v.records)} records, fetch ${fmtInt(v.fetchRecordsPerSec)} rec/s ${fmtNum(v.fetchMiBps)} MiB/s, ` +
            `incl. group join (${v.rebalanceMs} ms) ${fmtInt(v.recordsPerSec)} rec/s; broker ${fmtNum(v.brokerCores, 2)} cores`,
        );
      }
    }
    if (b.rdkProduce) {
      const c = b.rdkProduce;
      out.push(
        c.ok
          ? `- librdkafka produce 100 B: ${fmtInt(c.v.records_per_sec)} rec/s; ${fmtInt(c.v.acked)} acked, ${c.v.errors} errors, ${fmtInt(c.v.queue_full)} queue-full waits, ${fmtNum(c.v.seconds)} s incl. flush; broker ${fmtNum(c.v.brokerCores, 2)} cores`
          : `- librdkafka produce 100 B: FAILED: ${c.error}`,
      );
    }
    for (const s of FRANZ_SIZES) {
      const c = b.franzProduce[s];
      if (!c) continue;
      out.push(
        c.ok
          ? `- franz-go produce ${SIZE_LABEL[s]}: ${fmtInt(c.v.records_per_sec)} rec/s, ${fmtNum(c.v.mib_per_sec)} MiB/s; ${fmtInt(c.v.acked)} acked, ${c.v.errors} errors, ${fmtNum(c.v.seconds)} s incl. flush; produce-to-ack p50 ${fmtNum(c.v.p50_ms)} ms, p99 ${fmtNum(c.v.p99_ms)} ms (buffer time included); broker ${fmtNum(c.v.brokerCores, 2)} cores`
          : `- franz-go produce ${SIZE_LABEL[s]}: FAILED: ${c.error}`,
      );
    }
    if (b.rdkConsume) {
      const c = b.rdkConsume;
      out.push(
        c.ok
          ? `- librdkafka consume 100 B: ${fmtInt(c.v.records_per_sec)} rec/s, ${fmtNum(c.v.mib_per_sec)} MiB/s; ${fmtInt(c.v.records)} of ${fmtInt(c.v.expected)} records in ${fmtNum(c.v.seconds)} s; broker ${fmtNum(c.v.brokerCores, 2)} cores`
          : `- librdkafka consume 100 B: FAILED: ${c.error}`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

function renderMarkdown(report: Report): string {
  const t = buildTable(report);
  const o = report.options;
  const parts = [
    '# StreamHouse vs Apache Kafka 3.9: side-by-side benchmark',
    '',
    `Generated by \`${report.command}\` (bench/run.ts) on ${report.facts.date}, ${o.quick ? 'quick' : 'full'} run, ` +
      `${fmtNum(((report.finishedAt ?? Date.now()) - report.startedAt) / 1000, 0)} s. Re-run it to refresh this file; figures from a shared 2-core VM are noisy (see the load average).`,
    '',
    '## Machine',
    '',
    ...machineText(report)
      .split('\n')
      .map((l) => `- ${l}`),
    '',
    '## Settings',
    '',
    ...settingsText(report).map((l) => `- ${l}`),
    '',
    '## Results',
    '',
    mdTable(t, numericColumn(t)),
    '',
    ...footnotes(report).map((l) => `- ${l}`),
    '',
  ];
  const targets = targetsText(report);
  if (targets.length) parts.push('### StreamHouse targets', '', ...targets.map((l) => `- ${l}`), '');
  const errs = errorsText(report);
  if (errs.length) parts.push('## Failures and notes', '', ...errs.map((e) => `- ${e.replace(/\n/g, ' ')}`), '');
  const prof = profileText(report);
  if (prof) parts.push('## Profile', '', '```', prof, '```', '');
  parts.push('## Raw figures', '', rawSection(report));
  return parts.join('\n');
}

// ------------------------------------------------------------------ main

function diskRun(report: Report, o: Options): void {
  try {
    const d = measureDisk({ dir: os.tmpdir(), totalMiB: 64, latencyWrites: o.quick ? 100 : 300 });
    report.disk.push(d);
    log(`  ${fmtNum(d.seqFsyncMiBps)} MiB/s (1 MiB + fsync), 64 KiB fdatasync p50 ${fmtNum(d.syncLatency.p50, 2)} ms`);
  } catch (err) {
    report.disk.push({ error: errMsg(err) });
  }
}

function diskSpeed(report: Report): number {
  const v = report.disk.flatMap((d) => ('seqFsyncMiBps' in d ? [d.seqFsyncMiBps] : []));
  return v.length ? Math.max(...v) : NaN;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const command = ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');
  let buildNote: string;
  if (o.ref === null) buildNote = `working tree: ${maybeBuild(o.build)}`;
  else {
    const b = buildRef(o.ref);
    setStreamHouseCli(b.cli);
    buildNote = b.note;
  }
  const report: Report = {
    options: o,
    command,
    facts: machineFacts(REPO_ROOT),
    disk: [],
    brokers: [],
    latencyRates: {},
    startedAt: T0,
    buildNote,
  };
  const ids: BrokerId[] = o.only === 'kafka' ? ['kafka', 'kafka-fsync'] : o.only === 'all' ? [...ALL_BROKERS] : [o.only];
  log(`${o.quick ? 'quick' : 'full'} run: ${ids.join(', ')}; records ${fmtInt(o.records)}, bound ${o.duration} s; ${buildNote}`);

  buildFranzBenchFirst(log);
  log(`disk: ${os.tmpdir()}`);
  diskRun(report, o);
  try {
    report.loopback = await measureLoopback(o.quick ? 1 : 2);
    log(`  loopback ${fmtNum(report.loopback.MiBps / 1024, 2)} GiB/s`);
  } catch (err) {
    report.loopback = { error: errMsg(err) };
  }

  for (const id of ids) {
    const res: BrokerResults = { id, startupMs: [], settleWaits: [], produce: {}, latency: {}, consume: {}, franzProduce: {}, notes: [], loadavg: [] };
    report.brokers.push(res);
    try {
      await phaseA(id, o, res);
    } catch (err) {
      res.notes.push(`phase A aborted: ${errMsg(err)}`);
      log(`phase A ${id} aborted: ${errMsg(err)}`);
    }
  }

  // Phase B: the same fixed rate on every broker
  const latSizes: readonly Size[] = SIZES;
  // StreamHouse on S3 does not set the common rate (it would change the other
  // brokers' figures); it runs at that rate, or at half its own maximum when lower.
  const maximum = (b: BrokerResults, size: Size) => {
    const c = b.produce[size];
    return c?.ok && c.v.recordsPerSec > 0 ? [c.v.recordsPerSec] : [];
  };
  const local = report.brokers.some((b) => b.id !== 'streamhouse-s3') ? report.brokers.filter((b) => b.id !== 'streamhouse-s3') : report.brokers;
  for (const size of latSizes) {
    const maxima = local.flatMap((b) => maximum(b, size));
    if (maxima.length) {
        report.latencyRates[size] = halfRate(Math.min(...maxima));
    }
  }
  for (const res of o.quick ? [] : report.brokers) {
    const rates: Partial<Record<Size, number>> = { ...report.latencyRates };
    if (res.id === 'streamhouse-s3') {
      for (const size of latSizes) {
        const own = maximum(res, size).map(halfRate);
        const common = report.latencyRates[size];
        rates[size] = common === undefined ? own[0] : Math.min(common, ...own);
      }
    }
    try {
      await phaseB(res.id, o, res, rates, latSizes);
    } catch (err) {
      res.notes.push(`phase B aborted: ${errMsg(err)}`);
      log(`phase B ${res.id} aborted: ${errMsg(err)}`);
    }
  }

  const sh = report.brokers.find((b) => b.id === 'streamhouse');
  const rates100 = [sh?.produce[100], sh?.franzProduce[100]].flatMap((c) => (c?.ok ? ['recordsPerSec' in c.v ? c.v.recordsPerSec : c.v.records_per_sec] : []));
  const slow = !rates100.some((r) => r >= 1_000_000);
  if (sh && (o.profile === 'yes' || (o.profile === 'auto' && !o.quick && slow))) {
    try {
      await profileStreamHouse(o, report);
    } catch (err) {
      report.profile = { error: errMsg(err) };
      log(`profile failed: ${errMsg(err)}`);
    }
  }

  log('disk again');
  diskRun(report, o);
  report.finishedAt = Date.now();
  report.loadavgEnd = loadavg();
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, renderMarkdown(report));
  fs.mkdirSync(path.join(BENCH_DIR, 'out'), { recursive: true });
  fs.writeFileSync(path.join(BENCH_DIR, 'out', 'last-run.json'), JSON.stringify(report, null, 2));
  process.stdout.write(renderText(report) + '\n');
}

runBench(main, log, 'broker and client');
