/**
 * The Kafka 3.9 Java client against a real broker process:
 * compat-tests/java/IdempotentRoundTrip.java (Admin createTopics, an
 * idempotent acks=all producer with 5 requests in flight, then an assign()
 * consumer checking keys, values, headers, acknowledged offsets, order, once
 * each), first uncompressed on 3 partitions, then zstd on the same topic.
 */
import { afterAll, expect, test } from 'vitest';
import type { BrokerProcess } from '../helpers/broker.js';
import { lastJsonLine, runJava } from '../helpers/clients.js';
import { startE2EBroker, uniqueTopic } from './common.js';

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
    jvmArgs: ['-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'],
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
