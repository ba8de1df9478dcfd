/**
 * Kafka's own load generators from the 3.9 jars, run as the kafka-*-perf-test
 * scripts run them (512M heap, G1), with their output parsed:
 *   org.apache.kafka.tools.ProducerPerformance  (kafka-producer-perf-test)
 *   org.apache.kafka.tools.ConsumerPerformance  (kafka-consumer-perf-test)
 */
import { CommandError, JAVA, REPO_ROOT, runKafkaClass, type RunResult } from '../../test/helpers/clients.js';
import { ensureKafkaLibs, kafkaClasspath, LOG4J_TOOLS } from '../../test/helpers/kafka-libs.js';
import { ManagedProcess, shellQuote } from '../../test/helpers/process.js';

/** JVM options of kafka-run-class.sh for the perf tools (KAFKA_HEAP_OPTS=-Xmx512M). */
export const PERF_JVM = [
  '-Xmx512M',
  '-server',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:InitiatingHeapOccupancyPercent=35',
  '-XX:+ExplicitGCInvokesConcurrent',
  '-XX:-UsePerfData',
  '-Djava.awt.headless=true',
];

export interface ProducePerfResult {
  /** Records acknowledged in the measured span. */
  records: number;
  recordsPerSec: number;
  /** ProducerPerformance's "MB/sec" (it divides by 1024*1024: MiB/s). */
  MiBps: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  p50?: number;
  p95?: number;
  p99?: number;
  p999?: number;
  /** true: the run reached --num-records and printed its summary; false: stopped at the time bound, figures from its 5 s windows. */
  complete: boolean;
  /** Windows the figures come from (time-bounded runs). */
  windows: number;
  /** Leading windows left out as warm-up. */
  warmupWindows?: number;
  /** Lines of exceptions printed by the send callbacks (failed records). */
  errorLines: number;
  firstError?: string;
  wallSeconds: number;
  command: string;
  output: string;
}

const WINDOW_RE = /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency\.$/;
const FINAL_RE =
  /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$/;

/**
 * Parses ProducerPerformance output: its summary when it finished, otherwise
 * its 5 s progress windows, leaving out the first `warmupWindows` of them
 * (JVM and producer start, JIT) when later ones exist.
 */
export function parseProducerPerformance(stdout: string, warmupWindows = 0): Omit<ProducePerfResult, 'errorLines' | 'wallSeconds' | 'command' | 'output'> | null {
  const lines = stdout.split('\n').map((l) => l.trim());
  const windows: Array<{ n: number; rate: number; mibps: number; avg: number; max: number }> = [];
  for (const l of lines) {
    const f = FINAL_RE.exec(l);
    if (f) {
      return {
        records: Number(f[1]),
        recordsPerSec: Number(f[2]),
        MiBps: Number(f[3]),
        avgLatencyMs: Number(f[4]),
        maxLatencyMs: Number(f[5]),
        p50: Number(f[6]),
        p95: Number(f[7]),
        p99: Number(f[8]),
        p999: Number(f[9]),
        complete: true,
        windows: windows.length,
      };
    }
    const w = WINDOW_RE.exec(l);
    if (w) windows.push({ n: Number(w[1]), rate: Number(w[2]), mibps: Number(w[3]), avg: Number(w[4]), max: Number(w[5]) });
  }
  if (windows.length === 0) return null;
  const all = windows.length;
  if (windows.length > warmupWindows) windows.splice(0, warmupWindows);
  const records = windows.reduce((a, w) => a + w.n, 0);
  const secs = windows.reduce((a, w) => a + (w.rate > 0 ? w.n / w.rate : 0), 0);
  const bytesPerRecord = windows[0]!.rate > 0 ? (windows[0]!.mibps * 1024 * 1024) / windows[0]!.rate : 0;
  const rate = secs > 0 ? records / secs : 0;
  return {
    records,
    recordsPerSec: rate,
    MiBps: (rate * bytesPerRecord) / (1024 * 1024),
    avgLatencyMs: records > 0 ? windows.reduce((a, w) => a + w.avg * w.n, 0) / records : NaN,
    maxLatencyMs: Math.max(...windows.map((w) => w.max)),
    complete: false,
    windows: windows.length,
    warmupWindows: all - windows.length,
  };
}

function errorInfo(stderr: string): { errorLines: number; firstError?: string } {
  const lines = stderr.split('\n').filter((l) => /^\S*(Exception|Error)\b|^org\.apache\.kafka\.\S+(Exception|Error)/.test(l.trim()));
  return { errorLines: lines.length, firstError: lines[0]?.trim().slice(0, 300) };
}

export interface ProducePerfOptions {
  bootstrap: string;
  topic: string;
  recordSize: number;
  numRecords: number;
  /** --throughput; -1 for as fast as possible. */
  throughput: number;
  /** k=v producer properties after bootstrap.servers. */
  producerProps: Record<string, string>;
  /**
   * Time bound: stop the tool after this many of its 5 s progress windows and
   * take the figures from them (when it has not finished by then).
   */
  maxWindows: number;
  /** Of those, leading windows left out of the figures (warm-up). */
  warmupWindows: number;
  /** Hard stop (JVM start included), ms; whatever windows exist by then are used. */
  timeoutMs: number;
}

export function producerPerfArgs(o: ProducePerfOptions): string[] {
  return [
    '--topic',
    o.topic,
    '--num-records',
    String(o.numRecords),
    '--record-size',
    String(o.recordSize),
    '--throughput',
    String(o.throughput),
    '--producer-props',
    `bootstrap.servers=${o.bootstrap}`,
    ...Object.entries(o.producerProps).map(([k, v]) => `${k}=${v}`),
  ];
}

/**
 * Runs ProducerPerformance and watches its output: done when it prints its
 * summary, or stopped (SIGKILL to its process group) after `maxWindows`
 * progress windows or `timeoutMs`.
 */
export async function runProducerPerformance(o: ProducePerfOptions): Promise<ProducePerfResult> {
  ensureKafkaLibs();
  const t0 = Date.now();
  const args = [...PERF_JVM, `-Dlog4j.configuration=file:${LOG4J_TOOLS}`, '-cp', kafkaClasspath(), 'org.apache.kafka.tools.ProducerPerformance', ...producerPerfArgs(o)];
  const p = new ManagedProcess(JAVA, args, { name: 'ProducerPerformance', cwd: REPO_ROOT, maxLines: 5000 });
  let windows = 0;
  let stoppedEarly = false;
  const off = p.onLine((l) => {
    if (WINDOW_RE.test(l.trim()) && ++windows >= o.maxWindows && !FINAL_RE.test(l.trim())) {
      stoppedEarly = true;
      p.killSync('SIGKILL');
    }
  });
  const timer = setTimeout(() => {
    stoppedEarly = true;
    p.killSync('SIGKILL');
  }, o.timeoutMs);
  const exit = await p.exited;
  clearTimeout(timer);
  off();
  const stdout = p.lines.join('\n');
  const err = errorInfo(stdout);
  const parsed = parseProducerPerformance(stdout, o.warmupWindows);
  const command = p.command.map(shellQuote).join(' ');
  if (!parsed) {
    throw new Error(
      (stoppedEarly ? `ProducerPerformance printed no throughput line within ${Math.round(o.timeoutMs / 1000)} s` : `ProducerPerformance exited (${exit.code ?? exit.signal}) without a summary`) +
        (err.firstError ? `; first error: ${err.firstError}` : `; output: ${lastLines(stdout, 4)}`),
    );
  }
  if (!parsed.complete && !stoppedEarly) throw new Error(`ProducerPerformance exited (${exit.code ?? exit.signal}) without a summary: ${lastLines(stdout, 4)}`);
  return { ...parsed, ...err, wallSeconds: (Date.now() - t0) / 1000, command, output: stdout.trim() };
}

// ------------------------------------------------------------------ consumer

export interface ConsumePerfResult {
  records: number;
  MiB: number;
  /** nMsg.sec: from the start of the tool's poll loop, group join included. */
  recordsPerSec: number;
  MiBps: number;
  rebalanceMs: number;
  fetchMs: number;
  /** fetch.nMsg.sec: group join excluded. */
  fetchRecordsPerSec: number;
  fetchMiBps: number;
  expected: number;
  wallSeconds: number;
  command: string;
  output: string;
}

export async function runConsumerPerformance(o: {
  bootstrap: string;
  topic: string;
  messages: number;
  group: string;
  timeoutMs: number;
  /** --fetch-size: max.partition.fetch.bytes (the tool's default: 1 MiB). */
  fetchSize?: number;
}): Promise<ConsumePerfResult> {
  const t0 = Date.now();
  let r: RunResult;
  try {
    r = await runKafkaClass(
      'org.apache.kafka.tools.ConsumerPerformance',
      [
        '--bootstrap-server', o.bootstrap, '--topic', o.topic, '--messages', String(o.messages), '--group', o.group, '--timeout', '10000',
        ...(o.fetchSize ? ['--fetch-size', String(o.fetchSize)] : []),
      ],
      { jvmArgs: PERF_JVM, timeoutMs: o.timeoutMs },
    );
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    const why = /timed out/.test(err.message) ? `did not finish within ${Math.round(o.timeoutMs / 1000)} s` : `exit ${err.result.code}`;
    throw new Error(`ConsumerPerformance ${why}: ${lastLines(err.result.stderr || err.result.stdout, 4)}`);
  }
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const line = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d{4}-\d\d-\d\d .*,/.test(l))
    .pop();
  if (!line) throw new Error(`ConsumerPerformance printed no summary: ${lastLines(r.stdout + r.stderr, 6)}`);
  const f = line.split(',').map((s) => s.trim());
  const num = (i: number) => Number(f[i]);
  const res: ConsumePerfResult = {
    MiB: num(2),
    MiBps: num(3),
    records: num(4),
    recordsPerSec: num(5),
    rebalanceMs: num(6),
    fetchMs: num(7),
    fetchMiBps: num(8),
    fetchRecordsPerSec: num(9),
    expected: o.messages,
    wallSeconds: (Date.now() - t0) / 1000,
    command: r.command,
    output: r.stdout.trim(),
  };
  if (res.records < o.messages) {
    throw new Error(`ConsumerPerformance consumed ${res.records} of ${o.messages} records before its 10 s idle timeout`);
  }
  return res;
}

export function lastLines(s: string, n: number): string {
  return s
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-n)
    .join(' | ')
    .slice(0, 600);
}
