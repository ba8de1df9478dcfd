/** Runs bench/lib/rdkafka_bench.py (confluent-kafka / librdkafka) with Debian's python3. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError, lastJsonLine, REPO_ROOT, runPython, SYSTEM_PYTHON } from '../../test/helpers/clients.js';
import { makeTempDir, ManagedProcess, shellQuote } from '../../test/helpers/process.js';
import { lastLines } from './kafka-tools.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'rdkafka_bench.py');

export interface RdkProduceResult {
  sent: number;
  acked: number;
  errors: number;
  unflushed: number;
  first_error: string | null;
  queue_full: number;
  seconds: number;
  records_per_sec: number;
  mib_per_sec: number;
}

export interface RdkConsumeResult {
  records: number;
  expected: number;
  bytes: number;
  error: string | null;
  /** false: stopped at maxSeconds before COUNT records (the rate is still valid). */
  complete: boolean;
  seconds: number;
  records_per_sec: number;
  mib_per_sec: number;
}

async function run<T>(args: string[], timeoutMs: number): Promise<{ res: T; command: string }> {
  try {
    const r = await runPython(SCRIPT, args, { timeoutMs });
    return { res: lastJsonLine<T>(r.stdout), command: r.command };
  } catch (err) {
    if (err instanceof CommandError) {
      const why = /timed out/.test(err.message) ? `did not finish within ${Math.round(timeoutMs / 1000)} s` : `exit ${err.result.code}`;
      throw new Error(`rdkafka_bench.py ${args[0]} ${why}: ${lastLines(err.result.stderr || err.result.stdout, 4)}`);
    }
    throw err;
  }
}

export async function rdkafkaProduce(o: {
  bootstrap: string;
  topic: string;
  recordSize: number;
  seconds: number;
  props: Record<string, string>;
}): Promise<RdkProduceResult & { command: string }> {
  const { res, command } = await run<RdkProduceResult>(
    ['produce', o.bootstrap, o.topic, String(o.recordSize), String(o.seconds), ...Object.entries(o.props).map(([k, v]) => `${k}=${v}`)],
    (o.seconds + 60) * 1000,
  );
  if (res.acked <= 0) throw new Error(`librdkafka acknowledged nothing (sent ${res.sent}, errors ${res.errors}: ${res.first_error ?? 'unflushed'})`);
  return { ...res, command };
}

export async function rdkafkaConsume(o: {
  bootstrap: string;
  topic: string;
  count: number;
  idleTimeoutS: number;
  maxSeconds: number;
  props?: Record<string, string>;
}): Promise<RdkConsumeResult & { command: string }> {
  const { res, command } = await run<RdkConsumeResult>(
    [
      'consume',
      o.bootstrap,
      o.topic,
      String(o.count),
      String(o.idleTimeoutS),
      String(o.maxSeconds),
      ...Object.entries(o.props ?? {}).map(([k, v]) => `${k}=${v}`),
    ],
    (o.maxSeconds + o.idleTimeoutS + 30) * 1000,
  );
  if (res.error || (res.complete && res.records < o.count) || res.records === 0) {
    throw new Error(`librdkafka consumed ${res.records} of ${o.count} records: ${res.error ?? 'stopped early'}`);
  }
  return { ...res, command };
}

export interface RdkFollowDone {
  records: number;
  target: number;
  bytes: number;
  /** Unix time (ms) at which the target-th record was handed to the application. */
  reachedAtMs: number;
  /** Records read by the end of production (end_t of the target). */
  recordsAtEnd: number;
}

export interface RdkFollower {
  command: string;
  /** Resolves (Unix time, ms) once the consumer is connected and assigned partition 0 from offset 0. */
  ready: Promise<number>;
  /** Records read so far (from its once-a-second progress lines). */
  progress(): number;
  /** Tells it how many records to read and when production ended (Unix time, ms). */
  setTarget(target: number, endMs: number): void;
  /** Resolves when it has read `target` records; rejects on an error, a timeout or an exit. */
  done: Promise<RdkFollowDone>;
  /** Kills it (idempotent). */
  stop(): Promise<void>;
}

/**
 * librdkafka reading partition 0 of `topic` from offset 0 while it is being
 * written (rdkafka_bench.py follow): the target count is given later, with
 * setTarget(), once the producer has stopped and the high watermark is known.
 */
export function rdkafkaFollow(o: { bootstrap: string; topic: string; maxSeconds: number; props?: Record<string, string> }): RdkFollower {
  const tmp = makeTempDir('streamhouse-bench-follow-');
  const targetFile = path.join(tmp.dir, 'target.json');
  const proc = new ManagedProcess(
    SYSTEM_PYTHON,
    [SCRIPT, 'follow', o.bootstrap, o.topic, targetFile, String(o.maxSeconds), ...Object.entries(o.props ?? {}).map(([k, v]) => `${k}=${v}`)],
    { name: 'rdkafka-follow', cwd: REPO_ROOT },
  );
  const command = proc.command.map(shellQuote).join(' ');
  let records = 0;
  const events = (l: string): Record<string, unknown> | null => {
    if (!l.startsWith('{')) return null;
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return null;
    }
  };
  proc.onLine((l) => {
    const e = events(l);
    if (e && typeof e.records === 'number') records = e.records;
  });
  const ready = proc.waitForLine((l) => events(l)?.event === 'ready', 60_000, 'ready line').then((l) => Number(events(l)!.t) * 1000);
  const done = proc
    .waitForLine((l) => ['done', 'timeout', 'error'].includes(String(events(l)?.event)), (o.maxSeconds + 60) * 1000, 'done line')
    .then((l) => {
      const e = events(l)!;
      if (e.event !== 'done') {
        throw new Error(
          e.event === 'timeout'
            ? `librdkafka consumer stopped after ${o.maxSeconds} s with ${String(e.records)} of ${String(e.target)} records`
            : `librdkafka consumer error after ${String(e.records)} records: ${String(e.error)}`,
        );
      }
      return {
        records: Number(e.records),
        target: Number(e.target),
        bytes: Number(e.bytes),
        reachedAtMs: Number(e.reached_t) * 1000,
        recordsAtEnd: Number(e.records_at_end),
      };
    });
  done.catch(() => undefined);
  ready.catch(() => undefined);
  const stop = async () => {
    await proc.kill('SIGKILL');
    tmp.remove();
  };
  void done.finally(() => void stop()).catch(() => undefined);
  return {
    command,
    ready,
    progress: () => records,
    setTarget: (target, endMs) => {
      // written whole, then renamed: the consumer never reads half a file
      const t = `${targetFile}.tmp`;
      fs.writeFileSync(t, JSON.stringify({ target, end_t: endMs / 1000 }));
      fs.renameSync(t, targetFile);
    },
    done,
    stop,
  };
}
