/**
 * Validates the compat client programs (and the kcat recipes) against the
 * reference Apache Kafka 3.9. Slow (a JVM broker plus JVM/Python clients), so
 * it is skipped unless STREAMHOUSE_REF_TESTS=1:
 *
 *   STREAMHOUSE_REF_TESTS=1 npx vitest run test/helpers/reference-clients.test.ts
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startReferenceKafka, type ReferenceKafka } from '../../scripts/kafka-ref.js';
import { kcatConsume, kcatMetadata, kcatProduce, lastJsonLine, runJava, runPython } from './clients.js';

interface Summary {
  client: string;
  produced: number;
  consumed: number;
  ok: boolean;
  errors: string[];
  partitions: Record<string, { count: number; firstOffset: number; lastOffset: number }>;
}

describe.skipIf(!process.env.STREAMHOUSE_REF_TESTS)('client programs against reference Kafka 3.9', () => {
  let k: ReferenceKafka;
  beforeAll(async () => {
    k = await startReferenceKafka({ extraProps: { 'auto.create.topics.enable': 'true' } });
    console.log(`reference Kafka at ${k.bootstrap}, started in ${k.startupMs} ms`);
  }, 120_000);
  afterAll(async () => {
    await k?.stop();
  }, 60_000);

  test('IdempotentRoundTrip.java', async () => {
    const r = await runJava('IdempotentRoundTrip.java', ['--bootstrap', k.bootstrap, '--topic', 'java-rt', '--count', '2000', '--partitions', '3']);
    const s = lastJsonLine<Summary>(r.stdout);
    console.log(`java (${r.durationMs} ms):`, r.stdout.trim());
    expect(s).toMatchObject({ produced: 2000, consumed: 2000, ok: true, errors: [] });
    expect(Object.keys(s.partitions)).toHaveLength(3);
    // second run on the same topic: earlier records are skipped as foreign
    const r2 = await runJava('IdempotentRoundTrip.java', ['--bootstrap', k.bootstrap, '--topic', 'java-rt', '--count', '100', '--compression', 'zstd']);
    expect(lastJsonLine<Summary>(r2.stdout)).toMatchObject({ produced: 100, consumed: 100, ok: true, foreign: 2000 });
  }, 180_000);

  test('confluent_roundtrip.py', async () => {
    const r = await runPython('confluent_roundtrip.py', ['--bootstrap', k.bootstrap, '--topic', 'confluent-rt', '--count', '2000', '--partitions', '3', '--compression', 'lz4']);
    console.log(`confluent (${r.durationMs} ms):`, r.stdout.trim());
    const s = lastJsonLine<Summary>(r.stdout);
    expect(s).toMatchObject({ produced: 2000, consumed: 2000, ok: true, errors: [] });
    expect(Object.keys(s.partitions)).toHaveLength(3);
  }, 120_000);

  test('kafka_python_roundtrip.py (probed api version, v2 records with headers)', async () => {
    const r = await runPython('kafka_python_roundtrip.py', ['--bootstrap', k.bootstrap, '--topic', 'kp-rt', '--count', '1000', '--partitions', '2', '--compression', 'gzip']);
    console.log(`kafka-python (${r.durationMs} ms):`, r.stdout.trim());
    expect(lastJsonLine<Summary & { headers: boolean }>(r.stdout)).toMatchObject({ produced: 1000, consumed: 1000, ok: true, headers: true });
  }, 120_000);

  test('kafka_python_roundtrip.py --api-version 0.10.2 (legacy message sets)', async () => {
    const r = await runPython('kafka_python_roundtrip.py', ['--bootstrap', k.bootstrap, '--topic', 'kp-legacy', '--count', '500', '--api-version', '0.10.2']);
    console.log(`kafka-python legacy (${r.durationMs} ms):`, r.stdout.trim());
    expect(lastJsonLine<Summary & { headers: boolean }>(r.stdout)).toMatchObject({ produced: 500, consumed: 500, ok: true, headers: false });
  }, 120_000);

  test('kcat produce / consume / metadata recipes', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => `k${i}:value ${i} with spaces`);
    await kcatProduce({ bootstrap: k.bootstrap, topic: 'kcat-rt', lines, keyDelimiter: ':' });
    const recs = await kcatConsume({ bootstrap: k.bootstrap, topic: 'kcat-rt' });
    expect(recs).toHaveLength(50);
    expect(recs[0]).toEqual({ partition: 0, offset: 0, key: 'k0', value: 'value 0 with spaces' });
    expect(recs[49]).toEqual({ partition: 0, offset: 49, key: 'k49', value: 'value 49 with spaces' });
    const md = await kcatMetadata(k.bootstrap);
    expect(md.brokers).toEqual([{ id: 1, name: k.bootstrap }]);
    expect(md.topics.map((t) => t.topic)).toContain('kcat-rt');
  }, 60_000);
});
