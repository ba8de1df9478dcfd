/**
 * The Kafka 3.9 Java client against a real broker process:
 * compat-tests/java/IdempotentRoundTrip.java (Admin createTopics, an
 * idempotent acks=all producer with 5 requests in flight, then an assign()
 * consumer checking keys, values, headers, acknowledged offsets, order, once
 * each), first uncompressed on 3 partitions, then zstd on the same topic.
 *
 * And a Java consumer (test/e2e/ConsumeAcrossRestarts.java, assign(),
 * auto.offset.reset=none) that keeps reading while an acks=all producer
 * streams and the broker is SIGKILLed and restarted three times: every
 * restart bumps the leader epochs, the client validates its positions
 * (OffsetForLeaderEpoch) and must go on without a reset, a truncation, a gap
 * or a duplicate: it reads exactly what kcat reads afterwards.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import type { BrokerProcess } from '../helpers/broker.js';
import { JAVA, kcatProduce, lastJsonLine, runJava, runKcat, SYSTEM_PYTHON } from '../helpers/clients.js';
import { ensureKafkaLibs, kafkaClasspath, LOG4J_TOOLS } from '../helpers/kafka-libs.js';
import { ManagedProcess } from '../helpers/process.js';
import { createTopic, startE2EBroker, uniqueTopic, waitFor } from './common.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const JVM = ['-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];

interface Summary {
  produced: number;
  consumed: number;
  foreign: number;
  ok: boolean;
  errors: string[];
  partitions: Record<string, { count: number; firstOffset: number; lastOffset: number }>;
}

const broker: BrokerProcess = await startE2EBroker();
afterAll(() => broker.cleanup());

async function java(args: string[]): Promise<Summary> {
  const r = await runJava('IdempotentRoundTrip.java', ['--bootstrap', broker.bootstrap, '--timeout-ms', '60000', ...args], {
    allowFailure: true,
    timeoutMs: 150_000,
    // C1 only: the source launcher's javac and a short-lived client start twice as fast
    jvmArgs: JVM,
  });
  try {
    return lastJsonLine<Summary>(r.stdout);
  } catch {
    throw new Error(`${r.command} exited ${r.code}\n--- stderr ---\n${r.stderr.slice(-4000)}\n--- stdout ---\n${r.stdout.slice(-2000)}`);
  }
}

test('IdempotentRoundTrip.java: 3 partitions uncompressed, then zstd on the same topic', async () => {
  const topic = uniqueTopic('java-rt');
  const s = await java(['--topic', topic, '--count', '3000', '--partitions', '3']);
  expect(s, JSON.stringify(s)).toMatchObject({ produced: 3000, consumed: 3000, ok: true, errors: [], foreign: 0 });
  expect(Object.keys(s.partitions).sort()).toEqual(['0', '1', '2']);
  for (const p of Object.values(s.partitions)) expect(p).toMatchObject({ firstOffset: 0, lastOffset: p.count - 1 });

  const z = await java(['--topic', topic, '--count', '500', '--compression', 'zstd']);
  expect(z, JSON.stringify(z)).toMatchObject({ produced: 500, consumed: 500, ok: true, errors: [], foreign: 3000 });
}, 300_000);

test('a Java consumer reads on across three broker crashes: no reset, no truncation, no gap, no duplicate', async () => {
  const topic = uniqueTopic('java-across');
  const partitions = 2;
  await createTopic(broker.port, topic, partitions);
  ensureKafkaLibs();
  const consumer = new ManagedProcess(
    JAVA,
    [...JVM, `-Dlog4j.configuration=file:${LOG4J_TOOLS}`, '-cp', kafkaClasspath(), path.join(HERE, 'ConsumeAcrossRestarts.java'),
      '--bootstrap', broker.bootstrap, '--topic', topic, '--partitions', String(partitions), '--timeout-ms', '150000'],
    { name: 'java-consumer' },
  );
  await consumer.waitForLine((l) => l === 'READY', 60_000, 'READY');

  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
  delete env.PYTHONPATH;
  delete env.PYTHONHOME;
  let acked = 0;
  const producer = new ManagedProcess(
    SYSTEM_PYTHON,
    [path.join(HERE, 'crash_producer.py'), '--bootstrap', broker.bootstrap, '--topic', topic, '--count', '1000000', '--partitions', String(partitions), '--rate', '600'],
    { name: 'producer', env },
  );
  producer.onLine((l) => {
    if (l.startsWith('ACK ')) acked++;
  });
  for (let k = 0; k < 3; k++) {
    const target = acked + 300;
    await waitFor(() => acked >= target || !producer.running, 60_000, `${target} acks`);
    expect(producer.running, producer.describe()).toBe(true);
    await broker.kill('SIGKILL');
    await broker.restart();
  }
  const target = acked + 300;
  await waitFor(() => acked >= target || !producer.running, 60_000, `${target} acks after the last restart`);
  producer.signal('SIGUSR1');
  expect((await producer.exited).code, producer.describe()).toBe(0);
  for (let p = 0; p < partitions; p++) await kcatProduce({ bootstrap: broker.bootstrap, topic, partition: p, lines: ['END'] });

  const exit = await consumer.exited;
  const out = consumer.lines.filter((l) => l.startsWith('{'));
  expect(out.length, consumer.describe()).toBe(1);
  const summary = JSON.parse(out[0]!) as { ok: boolean; records: Record<string, number>; values: Record<string, string>; errors: string[] };
  expect(summary.errors, consumer.describe()).toEqual([]);
  expect(exit.code).toBe(0);

  const r = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%p %s\n']);
  const stored: Record<string, string[]> = {};
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [p, v] = line.split(' ');
    if (v !== 'END') (stored[p!] ??= []).push(v!);
  }
  expect(acked).toBeGreaterThan(1200);
  for (let p = 0; p < partitions; p++) {
    expect(summary.values[String(p)]?.split(','), `partition ${p}`).toEqual(stored[String(p)]);
  }
}, 300_000);
