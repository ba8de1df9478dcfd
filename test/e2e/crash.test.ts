/**
 * Durability on the embedded default (fs object store + embedded metadata):
 * nothing acknowledged is ever lost, nothing is stored twice.
 *
 * 1. Under load: an idempotent acks=all confluent-kafka producer
 *    (test/e2e/crash_producer.py) streams records while the broker is
 *    SIGKILLed three times (and SIGTERMed once) and restarted on the same data dir each time. It
 *    prints every delivery report. Afterwards (read back with kcat) every
 *    acknowledged record is present exactly once, at its acknowledged offset,
 *    and each partition holds the records in send order with no duplicates
 *    (librdkafka's retries of requests whose answers were lost must be
 *    deduplicated from the producer state recovered after the crash).
 * 2. Producer state: after a SIGKILL, retries of the last five batches of an
 *    idempotent producer (raw Produce requests) get their original offsets and
 *    are not stored again; a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER.
 * 3. Segments: data compacted from WAL objects into segments (segment.ms=1)
 *    survives SIGKILLs before, during and after compaction, every codec.
 * 4. Idle: SIGKILL between two acknowledged sends loses neither.
 * 5. Graceful: SIGTERM answers every request already read (pipelined
 *    produces, a long-polling fetch), exits 0, and a restart finds exactly the
 *    answered records.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { BrokerProcess } from '../helpers/broker.js';
import { kcatConsume, kcatProduce, runKcat, SYSTEM_PYTHON } from '../helpers/clients.js';
import { ManagedProcess } from '../helpers/process.js';
import { FetchApi } from '../../src/protocol/generated/fetch.js';
import { InitProducerIdApi } from '../../src/protocol/generated/init-producer-id.js';
import { MetadataApi } from '../../src/protocol/generated/metadata.js';
import { buildBatch } from '../../src/protocol/records/records.js';
import { ProduceApi } from '../../src/protocol/generated/produce.js';
import { createTopic, startE2EBroker, uniqueTopic, waitFor } from './common.js';
import { decodeResponse, produceBody, requestFrame, withConnection, WireConnection } from './wire.js';

const PRODUCER = path.join(path.dirname(new URL(import.meta.url).pathname), 'crash_producer.py');

const broker: BrokerProcess = await startE2EBroker();
afterAll(() => broker.cleanup());

/** Every record of a topic via kcat -J: partition -> [{offset, key, value}] in offset order. */
async function readAll(topic: string): Promise<Map<number, Array<{ offset: number; key: string; value: string }>>> {
  const r = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-J'], { timeoutMs: 60_000 });
  const out = new Map<number, Array<{ offset: number; key: string; value: string }>>();
  for (const l of r.stdout.split('\n')) {
    if (!l) continue;
    const j = JSON.parse(l) as { partition: number; offset: number; key: string; payload: string };
    const list = out.get(j.partition) ?? [];
    list.push({ offset: j.offset, key: j.key, value: j.payload });
    out.set(j.partition, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.offset - b.offset);
  return out;
}

function recoveries(): number {
  return broker.allLogs().filter((l) => l.includes('"msg":"recovery done"')).length;
}

describe('SIGKILL under acks=all load', () => {
  test('every acknowledged record survives three crashes and a graceful stop, exactly once, in order', async () => {
    const topic = uniqueTopic('crash-load');
    const partitions = 3;
    await createTopic(broker.port, topic, partitions);

    const acked = new Map<number, { partition: number; offset: number }>();
    const errors: string[] = [];
    let done: Record<string, unknown> | null = null;
    const env = { ...process.env };
    delete env.PYTHONPATH;
    delete env.PYTHONHOME;
    const prod = new ManagedProcess(
      SYSTEM_PYTHON,
      [PRODUCER, '--bootstrap', broker.bootstrap, '--topic', topic, '--count', '1000000', '--partitions', String(partitions), '--rate', '800'],
      { name: 'crash-producer', env: { ...env, PYTHONUNBUFFERED: '1' } },
    );
    prod.onLine((line) => {
      const [kind, a, b, c] = line.split(' ');
      if (kind === 'ACK') {
        const i = Number(a);
        if (acked.has(i)) errors.push(`record ${i} acknowledged twice`);
        acked.set(i, { partition: Number(b), offset: Number(c) });
      } else if (kind === 'ERR') errors.push(line);
      else if (kind === 'DONE') done = JSON.parse(line.slice(5)) as Record<string, unknown>;
    });

    const before = recoveries();
    // kill once 400 more records were acknowledged since the last restart (the producer got through again)
    const kills: number[] = [];
    // three SIGKILLs and, in between, one graceful SIGTERM under the same load
    for (const sig of ['SIGKILL', 'SIGKILL', 'SIGTERM', 'SIGKILL'] as const) {
      const target = acked.size + 400;
      await waitFor(() => acked.size >= target || !prod.running, 60_000, `${target} acks`);
      expect(prod.running, prod.describe()).toBe(true);
      const info = await broker.kill(sig);
      if (sig === 'SIGKILL') expect(info.signal).toBe('SIGKILL');
      else expect(info, broker.logs().slice(-20).join('\n')).toEqual({ code: 0, signal: null });
      kills.push(acked.size);
      await broker.restart();
    }
    const target = acked.size + 400;
    await waitFor(() => acked.size >= target || !prod.running, 60_000, `${target} acks after the last restart`);
    prod.signal('SIGUSR1'); // stop sending, flush, exit
    expect(recoveries() - before).toBe(4);
    const exit = await prod.exited;
    expect(exit.code, prod.describe()).toBe(0);
    const summary = done as { sent: number } | null;
    expect(summary, prod.describe()).toMatchObject({ failed: 0, fatal: null, undelivered: 0 });
    const count = summary!.sent;
    expect(summary).toMatchObject({ acked: count });
    expect(errors).toEqual([]);
    expect(acked.size).toBe(count);
    console.log(`crash under load: ${count} records, SIGKILL, SIGKILL, SIGTERM, SIGKILL after ${kills.join(', ')} acks`);

    const stored = await readAll(topic);
    const seen = new Set<number>();
    for (let p = 0; p < partitions; p++) {
      const recs = stored.get(p) ?? [];
      // dense offsets from 0, values in send order, no value twice
      expect(recs.map((r) => r.offset)).toEqual(recs.map((_, i) => i));
      let last = -1;
      for (const r of recs) {
        const i = Number(r.value.slice(2));
        expect(r.value).toBe(`v-${i}`);
        expect(r.key).toBe(`k-${i}`);
        expect(i % partitions).toBe(p);
        expect(seen.has(i), `record ${i} stored twice`).toBe(false);
        seen.add(i);
        expect(i, `record ${i} after ${last} in partition ${p}`).toBeGreaterThan(last);
        last = i;
      }
    }
    // every acknowledged record at its acknowledged offset
    const missing: number[] = [];
    const moved: string[] = [];
    for (const [i, a] of acked) {
      const r = stored.get(a.partition)?.[a.offset];
      if (!seen.has(i)) missing.push(i);
      else if (r?.value !== `v-${i}`) moved.push(`${i}: acked p${a.partition}@${a.offset}, found ${r?.value}`);
    }
    expect(missing, `kills after ${kills.join(', ')} acks`).toEqual([]);
    expect(moved.slice(0, 10)).toEqual([]);
    expect(seen.size).toBe(count);
  });
});

describe('idempotent producer state survives a crash', () => {
  test('a retried batch after SIGKILL is answered with its original offset and stored once', async () => {
    const topic = uniqueTopic('crash-pid');
    await createTopic(broker.port, topic, 1);
    const init = await withConnection(broker.port, (c) =>
      c.request(InitProducerIdApi, 4, { transactionalId: null, transactionTimeoutMs: -1, producerId: -1n, producerEpoch: -1 }),
    );
    expect(init.errorCode).toBe(0);
    const producerId = Number(init.producerId);
    const now = Date.now(); // (old timestamps would be deleted by time retention)
    const batch = (seq: number) =>
      buildBatch({
        producerId,
        producerEpoch: init.producerEpoch,
        baseSequence: seq,
        records: [0, 1].map((k) => ({ key: Buffer.from(`k${seq + k}`), value: Buffer.from(`v${seq + k}`), timestamp: now + seq + k })),
      });
    const produce = (seq: number) =>
      withConnection(broker.port, async (c) => {
        const r = await c.request(ProduceApi, 9, produceBody(topic, 0, [], { batch: batch(seq) }));
        const pr = r.responses[0]!.partitionResponses[0]!;
        return { errorCode: pr.errorCode, baseOffset: Number(pr.baseOffset) };
      });
    for (const seq of [0, 2, 4, 6, 8]) expect(await produce(seq)).toEqual({ errorCode: 0, baseOffset: seq });

    await broker.kill('SIGKILL');
    await broker.restart();

    // retries of the last five batches (answers lost in the crash): original offsets, nothing appended
    expect(await produce(8)).toEqual({ errorCode: 0, baseOffset: 8 });
    expect(await produce(0)).toEqual({ errorCode: 0, baseOffset: 0 });
    expect(await produce(4)).toEqual({ errorCode: 0, baseOffset: 4 });
    // the next sequence continues the log
    expect(await produce(10)).toEqual({ errorCode: 0, baseOffset: 10 });
    // a gap is OUT_OF_ORDER_SEQUENCE_NUMBER (45)
    expect((await produce(20)).errorCode).toBe(45);

    const recs = await kcatConsume({ bootstrap: broker.bootstrap, topic });
    expect(recs.map((r) => [r.offset, r.key, r.value])).toEqual(Array.from({ length: 12 }, (_, i) => [i, `k${i}`, `v${i}`]));
  });
});

describe('segments', () => {
  test('records compacted from WAL objects into segments survive SIGKILL and restarts', async () => {
    const topic = uniqueTopic('crash-seg');
    // segment.ms=1: the compactor (every second) moves WAL data into segments right away; small segments roll often
    await createTopic(broker.port, topic, 2, { 'segment.ms': '1', 'segment.bytes': '20000' });
    const segDir = path.join(broker.dataDir, 'objects', 'segments');
    // Segments and packs (small segments of several partitions in one object).
    const segments = () => (fs.existsSync(segDir) ? fs.readdirSync(segDir, { recursive: true }).filter((f) => /\.(seg|pack)$/.test(String(f))).length : 0);
    const lines = (round: number, n: number) => Array.from({ length: n }, (_, i) => `k${round}-${i}:round ${round} record ${i} ${'z'.repeat(i % 40)}`);
    const expected: Record<number, string[]> = { 0: [], 1: [] };
    const produce = async (round: number, partition: number, n: number, codec: string) => {
      const l = lines(round, n);
      await kcatProduce({ bootstrap: broker.bootstrap, topic, partition, lines: l, keyDelimiter: ':', extra: ['-z', codec, '-X', 'acks=all'] });
      expected[partition]!.push(...l);
    };

    const before = segments();
    await produce(1, 0, 800, 'none');
    await produce(1, 1, 800, 'lz4');
    // Each partition's round is compacted whole (one WAL run: at least that is taken), small enough
    // for a pack: the two go into one.
    await waitFor(() => segments() >= before + 1, 30_000, 'segments from round 1');
    await produce(2, 0, 800, 'gzip');
    await broker.kill('SIGKILL'); // compaction of round 2 pending or in progress
    await broker.restart();
    await produce(3, 1, 800, 'zstd');
    await produce(3, 0, 200, 'none');
    const mid = segments();
    await waitFor(() => segments() > mid, 30_000, 'segments after the restart');
    await broker.kill('SIGKILL');
    await broker.restart();

    for (const partition of [0, 1]) {
      const recs = await kcatConsume({ bootstrap: broker.bootstrap, topic, partition });
      expect(recs.map((r) => r.offset)).toEqual(recs.map((_, i) => i));
      expect(recs.map((r) => `${r.key}:${r.value}`)).toEqual(expected[partition]);
      // from the middle of the partition (an offset inside a segment)
      const some = await kcatConsume({ bootstrap: broker.bootstrap, topic, partition, offset: '777', count: 30 });
      expect(some.map((r) => `${r.key}:${r.value}`)).toEqual(expected[partition]!.slice(777, 807));
    }
  });
});

describe('SIGKILL while idle', () => {
  test('between two acknowledged sends: both survive, restart works each time', async () => {
    const topic = uniqueTopic('crash-idle');
    await kcatProduce({ bootstrap: broker.bootstrap, topic, lines: ['a1:first', 'a2:second'], keyDelimiter: ':', extra: ['-X', 'acks=all'] });
    await broker.kill('SIGKILL');
    await broker.restart();
    await kcatProduce({ bootstrap: broker.bootstrap, topic, lines: ['b1:third'], keyDelimiter: ':', extra: ['-X', 'acks=all'] });
    await broker.kill('SIGKILL');
    await broker.restart();
    const recs = await kcatConsume({ bootstrap: broker.bootstrap, topic });
    expect(recs).toEqual([
      { partition: 0, offset: 0, key: 'a1', value: 'first' },
      { partition: 0, offset: 1, key: 'a2', value: 'second' },
      { partition: 0, offset: 2, key: 'b1', value: 'third' },
    ]);
    // and the log keeps growing from there
    await kcatProduce({ bootstrap: broker.bootstrap, topic, lines: ['c1:fourth'], keyDelimiter: ':' });
    expect((await kcatConsume({ bootstrap: broker.bootstrap, topic, offset: '3' })).map((r) => r.value)).toEqual(['fourth']);
  });
});

describe('SIGTERM', () => {
  test('answers in-flight requests, exits 0, loses nothing', async () => {
    const topic = uniqueTopic('crash-term');
    const quiet = uniqueTopic('crash-term-quiet');
    await createTopic(broker.port, topic, 1);
    await createTopic(broker.port, quiet, 1);
    const conn = await WireConnection.connect(broker.port);
    const poller = await WireConnection.connect(broker.port);
    try {
      // a long poll at the end of an empty partition, on its own connection
      await poller.request(MetadataApi, 1, { topics: [{ name: quiet }] });
      const fetchStarted = Date.now();
      await poller.write(
        requestFrame(FetchApi, 11, 77, {
          replicaId: -1,
          maxWaitMs: 25_000,
          minBytes: 1 << 20,
          maxBytes: 1 << 20,
          isolationLevel: 0,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [{ topic: quiet, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
          forgottenTopicsData: [],
          rackId: '',
        }),
      );
      // 30 pipelined acks=all produces, then SIGTERM without waiting for any answer
      const N = 30;
      const frames = Array.from({ length: N }, (_, i) => requestFrame(ProduceApi, 8, 1000 + i, produceBody(topic, 0, [`r${i}-a`, `r${i}-b`])));
      // give the fetch time to be read and parked (a fetch read later is answered too, only sooner)
      await new Promise((r) => setTimeout(r, 500));
      await conn.write(Buffer.concat(frames));
      const exited = broker.kill('SIGTERM');

      // every answer that comes is a success, in request order
      const answered: Array<{ id: number; baseOffset: bigint }> = [];
      for (;;) {
        const f = await conn.readFrame(20_000);
        if (!f) break;
        const r = decodeResponse(ProduceApi, 8, f);
        const pr = r.body.responses[0]!.partitionResponses[0]!;
        expect(pr.errorCode).toBe(0);
        answered.push({ id: r.correlationId, baseOffset: pr.baseOffset });
      }
      expect(answered.map((a) => a.id)).toEqual(answered.map((_, i) => 1000 + i));
      expect(answered.map((a) => a.baseOffset)).toEqual(answered.map((_, i) => BigInt(2 * i)));

      // the parked fetch is answered at shutdown, long before its 25 s max wait
      const ff = await poller.readFrame(15_000);
      expect(ff, 'the long-polling fetch got no answer').not.toBeNull();
      const fr = decodeResponse(FetchApi, 11, ff!);
      expect(fr.correlationId).toBe(77);
      expect(fr.body.errorCode).toBe(0);
      expect(Date.now() - fetchStarted).toBeLessThan(20_000);

      const info = await exited;
      expect(info, broker.logs().slice(-20).join('\n')).toEqual({ code: 0, signal: null });
      expect(broker.logs().some((l) => l.includes('"msg":"stopped"'))).toBe(true);

      await broker.restart();
      const recs = await kcatConsume({ bootstrap: broker.bootstrap, topic });
      // exactly the answered requests were stored: a graceful stop reads nothing it does not answer
      expect(recs.map((r) => r.value)).toEqual(answered.flatMap((_, i) => [`r${i}-a`, `r${i}-b`]));
      console.log(`SIGTERM: ${answered.length}/${N} pipelined produces were read and answered before the stop`);
    } finally {
      conn.close();
      poller.close();
    }
  });

  test('a SIGTERM on an idle broker exits 0 and a restart serves the same data', async () => {
    const topic = uniqueTopic('crash-term-idle');
    await kcatProduce({ bootstrap: broker.bootstrap, topic, lines: ['x', 'y'] });
    const info = await broker.stop(15_000);
    expect(info).toEqual({ code: 0, signal: null });
    await broker.restart();
    expect((await kcatConsume({ bootstrap: broker.bootstrap, topic })).map((r) => r.value)).toEqual(['x', 'y']);
  });
});
