/**
 * Python clients against a real broker process:
 * - compat-tests/python/confluent_roundtrip.py (confluent-kafka 1.7 /
 *   librdkafka 2.0.2): idempotent producer, acks=all, every codec, then an
 *   assign() consumer reads everything back (exact keys, values, headers,
 *   offsets, order, once each).
 * - compat-tests/python/kafka_python_roundtrip.py (Debian python3-kafka 2.0.2):
 *   with the probed api version (record batches v2 with headers), with
 *   --api-version 0.10.2 (legacy message sets, magic 1: Produce v2, Fetch v3
 *   down-conversion) and 0.8.2 (magic 0: Produce v0, Fetch v0), gzip too
 *   (kafka-python here has no snappy/lz4 libraries).
 * Legacy writes are also read back by kcat (timestamps as Kafka 3.9 reports
 * them: -1 for magic 0) and the down-converted fetch is checked on the wire.
 */
import { afterAll, describe, expect, test } from 'vitest';
import type { BrokerProcess } from '../helpers/broker.js';
import { lastJsonLine, runKcat, runPython } from '../helpers/clients.js';
import { FetchApi } from '../../src/protocol/generated/fetch.js';
import { startE2EBroker, uniqueTopic } from './common.js';
import { withConnection } from './wire.js';

interface Summary {
  client: string;
  produced: number;
  consumed: number;
  foreign: number;
  ok: boolean;
  headers?: boolean;
  apiVersion?: string;
  errors: string[];
  partitions: Record<string, { count: number; firstOffset: number; lastOffset: number }>;
}

const broker: BrokerProcess = await startE2EBroker();
afterAll(() => broker.cleanup());

async function py(script: string, args: string[]): Promise<Summary> {
  const r = await runPython(script, ['--bootstrap', broker.bootstrap, '--timeout-ms', '60000', ...args], {
    timeoutMs: 90_000,
    allowFailure: true,
  });
  let s: Summary;
  try {
    s = lastJsonLine<Summary>(r.stdout);
  } catch {
    throw new Error(`${r.command} exited ${r.code}\n--- stderr ---\n${r.stderr.slice(-3000)}\n--- stdout ---\n${r.stdout.slice(-2000)}`);
  }
  if (!s.ok) console.error(`${r.command}\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  return s;
}

/** kcat's -J view of a partition. */
async function kcatJson(topic: string): Promise<Array<{ offset: number; ts: number; key: string; payload: string }>> {
  const r = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-J']);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { offset: number; ts: number; key: string; payload: string });
}

/** The magic byte of the first entry of a Fetch vN response for partition 0 from offset 0. */
async function fetchMagic(topic: string, version: number): Promise<{ magic: number; bytes: number }> {
  const res = await withConnection(broker.port, (c) =>
    c.request(FetchApi, version, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }],
    }),
  );
  const p = res.responses[0]!.partitions[0]!;
  expect(p.errorCode).toBe(0);
  const rec = p.records === null ? Buffer.alloc(0) : Array.isArray(p.records) ? Buffer.concat(p.records) : p.records;
  // offset(8) size(4) crc(4) magic(1) for v0/v1 messages; offset(8) length(4) epoch(4) magic(1) for v2 batches
  return { magic: rec.length > 16 ? rec.readInt8(16) : -1, bytes: rec.length };
}

describe('confluent-kafka (librdkafka 2.0.2)', () => {
  const topic = uniqueTopic('ck-rt');

  test('idempotent acks=all round trip, 3 partitions, then every codec on the same topic', async () => {
    const first = await py('confluent_roundtrip.py', ['--topic', topic, '--count', '2000', '--partitions', '3']);
    expect(first).toMatchObject({ produced: 2000, consumed: 2000, ok: true, errors: [], foreign: 0 });
    expect(Object.keys(first.partitions).sort()).toEqual(['0', '1', '2']);
    for (const p of Object.values(first.partitions)) {
      expect(p.firstOffset).toBe(0);
      expect(p.lastOffset).toBe(p.count - 1); // dense offsets, nothing duplicated
    }
    let before = 2000;
    for (const codec of ['gzip', 'snappy', 'lz4', 'zstd']) {
      const s = await py('confluent_roundtrip.py', ['--topic', topic, '--count', '300', '--compression', codec]);
      expect(s, codec).toMatchObject({ produced: 300, consumed: 300, ok: true, errors: [], foreign: before });
      before += 300;
    }
  });

  test('64 partitions, zstd', async () => {
    const s = await py('confluent_roundtrip.py', ['--topic', uniqueTopic('ck-wide'), '--count', '3000', '--partitions', '64', '--compression', 'zstd']);
    expect(s).toMatchObject({ produced: 3000, consumed: 3000, ok: true, errors: [] });
    expect(Object.keys(s.partitions).length).toBeGreaterThan(50);
  });
});

describe('kafka-python 2.0.2', () => {
  test('probed api version: v2 record batches with headers, gzip, 2 partitions', async () => {
    const s = await py('kafka_python_roundtrip.py', ['--topic', uniqueTopic('kp-rt'), '--count', '1000', '--partitions', '2', '--compression', 'gzip']);
    expect(s).toMatchObject({ produced: 1000, consumed: 1000, ok: true, headers: true, errors: [] });
    expect(Object.keys(s.partitions)).toHaveLength(2);
  });

  test.each([
    ['0.10.2', 'none', 1],
    ['0.10.2', 'gzip', 1],
    ['0.8.2', 'none', 0],
    ['0.8.2', 'gzip', 0],
  ])('--api-version %s --compression %s: legacy magic %i produce, down-converted fetch', async (version, compression, magic) => {
    const topic = uniqueTopic(`kp-legacy-${version.replace(/\./g, '')}-${compression}`);
    const s = await py('kafka_python_roundtrip.py', ['--topic', topic, '--count', '500', '--api-version', version, '--compression', compression]);
    expect(s).toMatchObject({ produced: 500, consumed: 500, ok: true, headers: false, apiVersion: version, errors: [] });
    expect(s.partitions['0']).toEqual({ count: 500, firstOffset: 0, lastOffset: 499 });

    // stored as v2 batches, served as magic 1 to Fetch v2-3 and magic 0 to Fetch v0-1
    expect((await fetchMagic(topic, 11)).magic).toBe(2);
    expect((await fetchMagic(topic, 3)).magic).toBe(1);
    expect((await fetchMagic(topic, 1)).magic).toBe(0);

    // what a modern client sees (Kafka 3.9 gives the same: ts -1 for magic 0 writes)
    const recs = await kcatJson(topic);
    expect(recs).toHaveLength(500);
    recs.forEach((r, i) => {
      expect(r.offset).toBe(i);
      expect(r.key).toBe(`key-${i}`);
      expect(r.payload).toMatch(new RegExp(`^value-${i}-[0-9a-f]{8}$`));
      if (magic === 0) expect(r.ts).toBe(-1);
      else expect(Math.abs(r.ts - Date.now())).toBeLessThan(300_000);
    });
  });

  test('records written by librdkafka (v2, headers) are read by kafka-python 0.10.2 (down-converted, headers dropped)', async () => {
    const topic = uniqueTopic('kp-mixed');
    const ck = await py('confluent_roundtrip.py', ['--topic', topic, '--count', '200', '--compression', 'gzip']);
    expect(ck.ok).toBe(true);
    // kafka-python identifies its own records by value; the 200 others are foreign
    const s = await py('kafka_python_roundtrip.py', ['--topic', topic, '--count', '100', '--api-version', '0.10.2']);
    expect(s).toMatchObject({ produced: 100, consumed: 100, ok: true, foreign: 200 });
    expect(s.partitions['0']).toEqual({ count: 100, firstOffset: 200, lastOffset: 299 });
  });
});
