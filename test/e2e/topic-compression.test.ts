/**
 * A topic's compression.type against a real broker process: `producer` (the
 * default) stores batches as sent; any codec recompresses batches that came
 * in another one, as Kafka does, keeping producer id, epoch, sequence,
 * timestamps and headers. Checked on the stored bytes (raw Fetch) and read
 * back with kcat (librdkafka's own decoders) and kafkajs; an idempotent
 * kafkajs producer keeps working across recompression; a batch that outgrows
 * max.message.bytes once recompressed gets MESSAGE_TOO_LARGE.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CompressionCodecs, CompressionTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { compress, decompress, Codec } from '../../src/protocol/records/compression.js';
import { checkBatch, readBatchHeader } from '../../src/protocol/records/batch.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { runKcat } from '../helpers/clients.js';
import { fetchRawBatches, startE2EBroker, uniqueTopic } from './common.js';

// kafkajs ships gzip only; it reads zstd batches with our codec (kcat checks them with librdkafka's).
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: async (encoder: { buffer: Buffer }) => compress(Codec.ZSTD, encoder.buffer),
  decompress: async (buffer: Buffer) => decompress(Codec.ZSTD, buffer),
});

const broker: BrokerProcess = await startE2EBroker();
const kafka = new Kafka({ clientId: 'e2e-topic-compression', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
let admin: Admin;
beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect();
  await broker.cleanup();
});

async function create(topic: string, configs: Record<string, string>): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }], waitForLeaders: true });
}

async function kcatRead(topic: string): Promise<Array<{ key: string | null; payload: string; ts: number; headers?: string[] }>> {
  const r = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-J']);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string | null; payload: string; ts: number; headers?: string[] });
}

const TS = Date.now() - 60_000;

describe('compression.type', () => {
  test('zstd: an idempotent kafkajs producer sending uncompressed batches finds them stored as zstd, sequence and all; kcat and kafkajs read them back', async () => {
    const topic = uniqueTopic('ctype-zstd');
    await create(topic, { 'compression.type': 'zstd' });
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const sent: string[] = [];
    for (let b = 0; b < 3; b++) {
      const messages = Array.from({ length: 20 }, (_, i) => ({ partition: 0, key: `k${b}-${i}`, value: `value ${b}-${i} `.repeat(20), timestamp: String(TS + b * 100 + i), headers: { h: `hv${i}` } }));
      sent.push(...messages.map((m) => m.value));
      await producer.send({ topic, acks: -1, messages });
    }
    await producer.disconnect();

    const batches = await fetchRawBatches(broker.port, topic, 0);
    expect(batches).toHaveLength(3);
    let seq = 0;
    for (const b of batches) {
      const h = readBatchHeader(b);
      expect(h.compression).toBe(Codec.ZSTD);
      expect(h.producerId).toBeGreaterThanOrEqual(0);
      expect(h.baseSequence).toBe(seq); // the idempotent producer's sequence survives the rebuild
      expect(h.recordCount).toBe(20);
      expect(() => checkBatch(b)).not.toThrow();
      seq += h.recordCount;
    }
    // Repetitive values: stored smaller than sent.
    expect(batches.reduce((n, b) => n + b.length, 0)).toBeLessThan(sent.reduce((n, v) => n + v.length, 0) / 4);

    const kc = await kcatRead(topic);
    expect(kc.map((m) => m.payload)).toEqual(sent);
    expect(kc[21]).toMatchObject({ key: 'k1-1', ts: TS + 101, headers: ['h', 'hv1'] });

    const consumer = kafka.consumer({ groupId: `g-${topic}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            seen.push(message.value!.toString());
            if (seen.length === sent.length) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    expect(seen).toEqual(sent);
  });

  test('uncompressed: gzip batches from kcat are stored uncompressed; producer keeps them as sent', async () => {
    const plain = uniqueTopic('ctype-none');
    const asSent = uniqueTopic('ctype-producer');
    await create(plain, { 'compression.type': 'uncompressed' });
    await create(asSent, {});
    const lines = Array.from({ length: 50 }, (_, i) => `line-${i}`);
    for (const topic of [plain, asSent]) {
      await runKcat(['-P', '-b', broker.bootstrap, '-t', topic, '-p', '0', '-z', 'gzip', '-X', 'linger.ms=50'], { input: lines.join('\n') + '\n' });
    }
    const codecs = async (topic: string) => (await fetchRawBatches(broker.port, topic, 0)).map((b) => readBatchHeader(b).compression);
    expect(new Set(await codecs(plain))).toEqual(new Set([Codec.NONE]));
    expect(new Set(await codecs(asSent))).toEqual(new Set([Codec.GZIP]));
    for (const topic of [plain, asSent]) expect((await kcatRead(topic)).map((m) => m.payload)).toEqual(lines);
  });

  test('a batch that outgrows max.message.bytes once decompressed gets MESSAGE_TOO_LARGE and is not stored', async () => {
    const topic = uniqueTopic('ctype-too-large');
    await create(topic, { 'compression.type': 'uncompressed', 'max.message.bytes': '20000' });
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      // ~100 KB of zeros gzip to a few hundred bytes: accepted as sent, too large once stored uncompressed.
      await expect(producer.send({ topic, compression: CompressionTypes.GZIP, messages: [{ partition: 0, value: Buffer.alloc(100_000) }] })).rejects.toMatchObject({
        type: 'MESSAGE_TOO_LARGE',
      });
      const [ok] = await producer.send({ topic, compression: CompressionTypes.GZIP, messages: [{ partition: 0, value: 'small' }] });
      expect(ok!.baseOffset).toBe('0');
    } finally {
      await producer.disconnect();
    }
    const [b] = await fetchRawBatches(broker.port, topic, 0);
    expect(readBatchHeader(b!).compression).toBe(Codec.NONE);
  });
});
