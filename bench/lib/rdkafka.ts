/** Runs bench/lib/rdkafka_bench.py (confluent-kafka / librdkafka) with Debian's python3. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError, lastJsonLine, runPython } from '../../test/helpers/clients.js';
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
