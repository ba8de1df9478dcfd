/**
 * Reused block memory (src/storage/block-pool.ts) against a real broker
 * process, on the local store and on S3 (s3rver, where a read-ahead GET of
 * several blocks is one piece of memory): a partition that lives only in
 * segments is read through a small block cache, so blocks are evicted and
 * their memory reused all the time.
 * A fetch whose client does not read holds its response's blocks in the
 * broker's socket buffers for as long as it stalls: its bytes must come out
 * as they were read, however much kafkajs, kcat and other fetches read
 * (and reuse memory) meanwhile. So must theirs, and those of a client that
 * disconnects with its response half written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { FetchApi, type FetchResponse } from '../../src/protocol/generated/fetch.js';
import { splitBatches } from '../../src/protocol/records/batch.js';
import { decodeRecords } from '../../src/protocol/records/records.js';
import { runKcat } from '../helpers/clients.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { freePort } from '../helpers/ports.js';
import { startS3rver } from '../helpers/s3rver.js';
import { listObjects, startS3Broker } from '../s3/common.js';
import { fetchRequest, startE2EBroker, uniqueTopic, waitFor } from './common.js';
import { WireConnection, decodeResponse, requestFrame } from './wire.js';

const RECORDS = 192;
const VALUE_BYTES = 256 * 1024;
const TOTAL = RECORDS * VALUE_BYTES;
const CACHE_BYTES = 8 * 1024 * 1024;

/** A broker under test, with how to tell that a topic's records all live in segments. */
interface Setup {
  broker: BrokerProcess;
  metricsPort: number;
  segmentBytes: () => Promise<number>;
  /** Reuses the churn must make, at least (otherwise the test proves nothing). */
  minReuses: number;
}

/**
 * Record i's value: printable (kcat prints it on one line), incompressible
 * (segment blocks of it are stored raw, the blocks the pool serves), and
 * different in every stretch from every other record's.
 */
function valueOf(i: number): string {
  let x = (i + 1) * 2654435761;
  const bytes = Buffer.allocUnsafe((VALUE_BYTES / 4) * 3);
  for (let k = 0; k < bytes.length; k += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes.writeInt32LE(x | 0, k);
  }
  return bytes.toString('base64');
}
const values = Array.from({ length: RECORDS }, (_, i) => valueOf(i));

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Bytes of the objects under a directory of the local store (not its *.tmp spares). */
function storedBytes(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && !e.name.endsWith('.tmp')) n += fs.statSync(path.join(e.parentPath ?? e.path, e.name)).size;
  }
  return n;
}

/** Every record of a Fetch response, checked against valueOf: returns the offsets, in order. */
function checkedOffsets(res: FetchResponse): number[] {
  const p = res.responses[0]!.partitions[0]!;
  expect(p.errorCode).toBe(0);
  const rec = p.records;
  const buf = rec === null ? Buffer.alloc(0) : Array.isArray(rec) ? Buffer.concat(rec) : rec;
  const offsets: number[] = [];
  for (const batch of splitBatches(buf, { verifyCrc: true })) {
    for (const r of decodeRecords(batch)) {
      if (r.value?.toString() !== values[r.offset]) throw new Error(`record ${r.offset} came back with another record's bytes`);
      offsets.push(r.offset);
    }
  }
  return offsets;
}

async function scenario({ broker, metricsPort, segmentBytes, minReuses }: Setup): Promise<void> {
  const kafka = () => new Kafka({ clientId: 'e2e-block-reuse', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const metricOf = (name: string) => metric(metricsPort, name);
  const topic = uniqueTopic('block-reuse');
  const admin = kafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'segment.ms', value: '500' }] }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka().producer();
  await producer.connect();
  for (let i = 0; i < RECORDS; i += 2) {
    await producer.send({ topic, acks: -1, messages: [{ value: values[i] }, { value: values[i + 1] }] });
  }
  await producer.disconnect();
  // Everything in segments, then a restart: no in-memory tail and an empty cache, so every read is a segment block's.
  await waitFor(async () => (await segmentBytes()) >= TOTAL && (await metricOf('streamhouse_compaction_backlog_bytes')) === 0, 60_000, 'compaction', 250);
  await broker.restart();

  // Two clients that ask for the whole partition and do not read: the responses wait in the broker's socket buffers.
  const stalled = await WireConnection.connect(broker.port);
  stalled.socket.pause();
  await stalled.write(requestFrame(FetchApi, 11, 1, fetchRequest(topic, 0, 0, TOTAL * 2)));
  const dropped = await WireConnection.connect(broker.port);
  dropped.socket.pause();
  await dropped.write(requestFrame(FetchApi, 11, 1, fetchRequest(topic, 0, 0, TOTAL * 2)));
  // Reading 48 MiB of blocks takes some 100 ms here: by then both responses are in the socket buffers.
  await waitFor(async () => (await metricOf('streamhouse_block_memory_allocated')) > 0, 30_000, 'the stalled fetches to read', 100);
  await new Promise((r) => setTimeout(r, 2000));
  dropped.close();
  const reusedBefore = await metricOf('streamhouse_block_memory_reused');

  // Readers that churn the 8 MiB cache many times over.
  const kcat = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%o %s\\n'], { timeoutMs: 120_000 });
  const lines = kcat.stdout.split('\n').filter(Boolean);
  expect(lines.length).toBe(RECORDS);
  lines.forEach((l, i) => expect(l === `${i} ${values[i]}`, `kcat's record ${i}`).toBe(true));

  const consumer = kafka().consumer({ groupId: `${topic}-g`, maxBytesPerPartition: 1 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  const bad: number[] = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      const o = Number(message.offset);
      if (o !== seen || message.value?.toString() !== values[o]) bad.push(o);
      seen = o + 1;
    },
  });
  await waitFor(() => seen >= RECORDS, 120_000, 'kafkajs to read every record', 100);
  await consumer.disconnect();
  expect(bad).toEqual([]);

  for (const from of [5, 77, 150, 0, 120, 33]) {
    const c = await WireConnection.connect(broker.port);
    try {
      const offsets = checkedOffsets(await c.request(FetchApi, 11, fetchRequest(topic, 0, from, 4 * 1024 * 1024), 30_000));
      // From the start of the batch (two records) holding `from`, as Kafka answers.
      const first = from - (from % 2);
      expect(offsets.length).toBeGreaterThan(1);
      expect(offsets).toEqual(offsets.map((_, k) => first + k));
    } finally {
      c.close();
    }
  }
  // The churn did reuse memory (otherwise this test proves nothing).
  expect(await metricOf('streamhouse_block_memory_reused')).toBeGreaterThan(reusedBefore + minReuses);

  // Now the stalled client reads its answer: every record, in order, with its own bytes.
  stalled.socket.resume();
  const frame = await stalled.readFrame(60_000);
  stalled.close();
  const offsets = checkedOffsets(decodeResponse(FetchApi, 11, frame!).body);
  expect(offsets).toEqual(Array.from({ length: RECORDS }, (_, i) => i));
}

const brokerArgs = (metricsPort: number) => ['--metrics-listen', `127.0.0.1:${metricsPort}`, '--block-cache-bytes', String(CACHE_BYTES)];

test('local store: responses keep their bytes while block memory is reused under them', async () => {
  const metricsPort = await freePort();
  const broker = await startE2EBroker({ args: brokerArgs(metricsPort) });
  try {
    // Every block is its own memory here: about 345 reuses to 23 new allocations during the churn.
    await scenario({ broker, metricsPort, segmentBytes: async () => storedBytes(path.join(broker.dataDir, 'objects', 'segments')), minReuses: RECORDS / 2 });
  } finally {
    await broker.cleanup();
  }
}, 240_000);

test('S3: responses keep their bytes while the memory of read-ahead GETs is reused under them', async () => {
  const s3 = await startS3rver();
  const metricsPort = await freePort();
  const o = { s3, prefix: 'reuse', args: brokerArgs(metricsPort) };
  try {
    const broker = await startS3Broker(o);
    try {
      const segmentBytes = async () => (await listObjects(s3, o.prefix, 'segments/')).reduce((n, x) => n + x.size, 0);
      // A read-ahead GET of up to 8 MiB is one piece of memory, free again only once all its blocks
      // have left the 8 MiB cache, and its size must match a later GET's: 61-106 reuses to 188-232
      // new allocations during the churn (8 runs). RECORDS / 2 failed 1 run in 3 to 5.
      await scenario({ broker, metricsPort, segmentBytes, minReuses: RECORDS / 4 });
    } finally {
      await broker.cleanup();
    }
  } finally {
    await s3.cleanup();
  }
}, 240_000);
