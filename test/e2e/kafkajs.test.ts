/**
 * kafkajs 2.2 against a real broker process: admin API, producers with every
 * compression codec, idempotent producers, exact read-back.
 *
 * Compression: kafkajs ships None and GZIP only; Snappy, LZ4 and ZSTD are
 * registered in kafkajs's CompressionCodecs with our own
 * src/protocol/records/compression.ts (snappy, lz4-napi, node-zstd from npm).
 * Since the same codec then decodes for kafkajs, every codec's batches are
 * also read back with kcat (librdkafka's own decoders).
 *
 * Reading back with kafkajs: its Consumer needs consumer groups, so the
 * records are fetched on kafkajs's low-level path (the Cluster/Broker objects
 * the Consumer itself uses: Fetch v11 requests, kafkajs's record decoders).
 * A kafkajs Consumer test (subscribe + run) is included and runs as soon as
 * the broker advertises JoinGroup (api key 11).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CompressionCodecs,
  CompressionTypes,
  ConfigResourceTypes,
  Kafka,
  logLevel,
  type Admin,
  type Message,
  type Producer,
} from 'kafkajs';
import { compress, decompress, Codec } from '../../src/protocol/records/compression.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { runKcat } from '../helpers/clients.js';
import { groupsAvailable, startE2EBroker, uniqueTopic } from './common.js';

// ---- codecs kafkajs lacks, from our compression module
function registerCodec(type: CompressionTypes.Snappy | CompressionTypes.LZ4 | CompressionTypes.ZSTD, codec: number): void {
  CompressionCodecs[type] = () => ({
    compress: async (encoder: { buffer: Buffer }) => compress(codec, encoder.buffer),
    decompress: async (buffer: Buffer) => decompress(codec, buffer),
  });
}
registerCodec(CompressionTypes.Snappy, Codec.SNAPPY);
registerCodec(CompressionTypes.LZ4, Codec.LZ4);
registerCodec(CompressionTypes.ZSTD, Codec.ZSTD);

const broker: BrokerProcess = await startE2EBroker({ args: ['--message-max-bytes', '2000000'] });
const GROUPS = await groupsAvailable(broker.port);

const kafka = new Kafka({
  clientId: 'e2e-kafkajs',
  brokers: [broker.bootstrap],
  logLevel: logLevel.NOTHING,
  retry: { retries: 8, initialRetryTime: 100 },
});

let admin: Admin;
beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect();
  await broker.cleanup();
});

// ------------------------------------------------------------------ low-level read

interface ReadRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers: Record<string, Buffer | Buffer[] | undefined>;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
/** kafkajs's Cluster, as kafka.producer()/consumer() build it (private factory). */
function kafkajsCluster(): any {
  const sym = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  if (!sym) throw new Error('kafkajs internals changed: no createCluster symbol');
  return (kafka as any)[sym]({});
}

/** Every record of a partition from `from` to the high watermark, with kafkajs's Fetch and decoders. */
async function fetchAll(topic: string, partition = 0, from = 0): Promise<ReadRecord[]> {
  const cluster = kafkajsCluster();
  await cluster.connect();
  try {
    await cluster.addTargetTopic(topic);
    const leaders = cluster.findLeaderForPartitions(topic, [partition]) as Record<string, number[]>;
    const nodeId = Object.keys(leaders)[0];
    const b = await cluster.findBroker({ nodeId });
    const out: ReadRecord[] = [];
    let offset = from;
    for (let round = 0; round < 1000; round++) {
      const res = await b.fetch({
        replicaId: -1,
        isolationLevel: 1,
        maxWaitTime: 50,
        minBytes: 1,
        maxBytes: 4 << 20,
        topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes: 1 << 20 }] }],
      });
      const p = res.responses[0].partitions[0];
      if (p.errorCode !== 0) throw new Error(`fetch ${topic}/${partition}@${offset}: error ${p.errorCode}`);
      for (const m of p.messages as ReadRecord[]) {
        if (Number(m.offset) < offset) continue; // a batch can start before the fetch offset
        out.push({ offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp, headers: m.headers });
        offset = Number(m.offset) + 1;
      }
      if (offset >= Number(p.highWatermark)) return out;
      if (p.messages.length === 0) throw new Error(`fetch ${topic}/${partition}@${offset}: nothing below high watermark ${p.highWatermark}`);
    }
    throw new Error('fetchAll: too many rounds');
  } finally {
    await cluster.disconnect();
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** kcat's view of a partition: offset, key, value, headers, timestamp. */
async function kcatAll(topic: string, partition = 0): Promise<Array<{ offset: number; key: string; value: string; headers: string; ts: number }>> {
  const r = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-p', String(partition), '-o', 'beginning', '-e', '-q', '-J']);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const j = JSON.parse(l) as { offset: number; key: string | null; payload: string | null; headers?: string[]; ts: number };
      const h = j.headers ?? [];
      const pairs: string[] = [];
      for (let i = 0; i < h.length; i += 2) pairs.push(`${h[i]}=${h[i + 1]}`);
      return { offset: j.offset, key: j.key ?? '', value: j.payload ?? '', headers: pairs.join(','), ts: j.ts };
    });
}

/** The rejection of `p` (fails the test when it resolves). */
async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** Every kafkajs error `type` in an error and its causes / aggregated errors. */
function errorTypes(e: unknown, out: string[] = []): string[] {
  if (!e || typeof e !== 'object') return out;
  const o = e as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown[] };
  if (typeof o.type === 'string') out.push(o.type);
  for (const c of [o.cause, o.originalError, ...(Array.isArray(o.errors) ? o.errors : [])]) errorTypes(c, out);
  return out;
}

/**
 * Record timestamps in the tests: an hour ago, so well inside retention.ms
 * (7 days; older records are deleted by time retention within a second here).
 */
const RECENT = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

function messagesFor(tag: string, n: number, baseTs: number): Message[] {
  return Array.from({ length: n }, (_, i) => ({
    key: i % 7 === 3 ? null : `key-${i}`,
    value: `${tag}-value-${i}-${'x'.repeat(i % 50)}`,
    timestamp: String(baseTs + i * 3),
    headers: i % 5 === 0 ? {} : { idx: String(i), tag: Buffer.from(tag) },
  }));
}

function expectSame(got: ReadRecord[], sent: Message[], firstOffset = 0): void {
  expect(got.map((r) => r.offset)).toEqual(sent.map((_, i) => String(firstOffset + i)));
  for (let i = 0; i < sent.length; i++) {
    const m = sent[i]!;
    const r = got[i]!;
    expect(r.key === null ? null : r.key.toString()).toBe(m.key === null || m.key === undefined ? null : String(m.key));
    expect(r.value?.toString()).toBe(String(m.value));
    expect(r.timestamp).toBe(m.timestamp);
    const hs: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers)) hs[k] = String(v);
    const want: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.headers ?? {})) want[k] = String(v);
    expect(hs).toEqual(want);
  }
}

// ------------------------------------------------------------------ admin

describe('admin', () => {
  const t3 = uniqueTopic('kjs-admin');
  const tcfg = uniqueTopic('kjs-admin-cfg');

  // the topics every test of this block uses (each test also runs alone: vitest -t)
  beforeAll(async () => {
    expect(
      await admin.createTopics({
        topics: [
          { topic: t3, numPartitions: 3 },
          { topic: tcfg, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] },
        ],
        waitForLeaders: true,
      }),
    ).toBe(true);
  });

  test('createTopics, listTopics, fetchTopicMetadata, createTopics again', async () => {
    const fresh = uniqueTopic('kjs-admin-new');
    expect(await admin.createTopics({ topics: [{ topic: fresh, numPartitions: 2 }], waitForLeaders: true })).toBe(true);
    expect(await admin.listTopics()).toEqual(expect.arrayContaining([t3, tcfg, fresh]));
    const md = await admin.fetchTopicMetadata({ topics: [t3] });
    expect(md.topics).toHaveLength(1);
    const parts = [...md.topics[0]!.partitions].sort((a, b) => a.partitionId - b.partitionId);
    expect(parts).toEqual(
      [0, 1, 2].map((p) =>
        expect.objectContaining({ partitionErrorCode: 0, partitionId: p, leader: 0, replicas: [0], isr: [0] }),
      ),
    );
    // kafkajs answers false when every topic already exists
    expect(await admin.createTopics({ topics: [{ topic: t3, numPartitions: 3 }] })).toBe(false);
    // invalid name and invalid partition count are rejected with Kafka's errors
    expect(errorTypes(await caught(admin.createTopics({ topics: [{ topic: 'bad/name', numPartitions: 1 }] })))).toContain('INVALID_TOPIC_EXCEPTION');
    expect(errorTypes(await caught(admin.createTopics({ topics: [{ topic: uniqueTopic('kjs-zero'), numPartitions: 0 }] })))).toContain(
      'INVALID_PARTITIONS',
    );
    // as Kafka's controller: more than 10,000 partitions in one request is refused whole
    const many = [uniqueTopic('kjs-many-a'), uniqueTopic('kjs-many-b')];
    expect(errorTypes(await caught(admin.createTopics({ topics: many.map((topic) => ({ topic, numPartitions: 6000 })) })))).toContain('POLICY_VIOLATION');
    expect(await admin.listTopics()).not.toEqual(expect.arrayContaining([many[0]]));
  });

  test('fetchTopicOffsets before and after producing', async () => {
    const before = await admin.fetchTopicOffsets(t3);
    expect([...before].sort((a, b) => a.partition - b.partition)).toEqual(
      [0, 1, 2].map((partition) => ({ partition, offset: '0', high: '0', low: '0' })),
    );
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: t3,
      messages: [
        ...Array.from({ length: 4 }, (_, i) => ({ partition: 0, value: `a${i}` })),
        ...Array.from({ length: 2 }, (_, i) => ({ partition: 2, value: `c${i}` })),
      ],
    });
    await producer.disconnect();
    const after = await admin.fetchTopicOffsets(t3);
    expect([...after].sort((a, b) => a.partition - b.partition)).toEqual([
      { partition: 0, offset: '4', high: '4', low: '0' },
      { partition: 1, offset: '0', high: '0', low: '0' },
      { partition: 2, offset: '2', high: '2', low: '0' },
    ]);
    // by timestamp: a time before everything gives the first offset
    const byTs = await admin.fetchTopicOffsetsByTimestamp(t3, 0);
    expect([...byTs].sort((a, b) => a.partition - b.partition).map((o) => o.offset)).toEqual(['0', '0', '0']);
  });

  test('createPartitions grows the topic and the new partitions work', async () => {
    const t = uniqueTopic('kjs-grow');
    await admin.createTopics({ topics: [{ topic: t, numPartitions: 3 }], waitForLeaders: true });
    await admin.createPartitions({ topicPartitions: [{ topic: t, count: 5 }] });
    const md = await admin.fetchTopicMetadata({ topics: [t] });
    expect(md.topics[0]!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(errorTypes(await caught(admin.createPartitions({ topicPartitions: [{ topic: t, count: 2 }] })))).toContain('INVALID_PARTITIONS');
    expect(errorTypes(await caught(admin.createPartitions({ topicPartitions: [{ topic: t, count: 10_006 }] })))).toContain('POLICY_VIOLATION');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: t, messages: [{ partition: 4, key: 'k', value: 'on-new-partition' }] });
    await producer.disconnect();
    const got = await fetchAll(t, 4);
    expect(got.map((r) => [r.offset, r.key?.toString(), r.value?.toString()])).toEqual([['0', 'k', 'on-new-partition']]);
  });

  test('describeConfigs of a topic: a default and an override, with their sources', async () => {
    const res = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: tcfg }],
      includeSynonyms: true,
    });
    expect(res.resources).toHaveLength(1);
    const r = res.resources[0]!;
    expect(r.errorCode).toBe(0);
    const byName = new Map(r.configEntries.map((e) => [e.configName, e]));
    // override set at creation: DYNAMIC_TOPIC_CONFIG (1)
    expect(byName.get('retention.ms')).toMatchObject({ configValue: '3600000', isDefault: false, configSource: 1 });
    // Kafka's built-in default: DEFAULT_CONFIG (5)
    expect(byName.get('cleanup.policy')).toMatchObject({ configValue: 'delete', isDefault: true, configSource: 5 });
    // broker-level value from --message-max-bytes: STATIC_BROKER_CONFIG (4)
    expect(byName.get('max.message.bytes')).toMatchObject({ configValue: '2000000', isDefault: false, configSource: 4 });
    // synonyms: the topic's own value first (Kafka 3.9 lists no broker default after it for
    // retention.ms, log.retention.ms having no default of its own; StreamHouse lists one: not checked)
    const syn = byName.get('retention.ms')!.configSynonyms.map((s) => [s.configName, s.configValue, s.configSource]);
    expect(syn[0]).toEqual(['retention.ms', '3600000', 1]);
    expect(byName.get('max.message.bytes')!.configSynonyms.map((s) => [s.configName, s.configValue, s.configSource])[0]).toEqual([
      'message.max.bytes',
      '2000000',
      4,
    ]);

    // only the keys asked for
    const some = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: tcfg, configNames: ['retention.ms'] }],
      includeSynonyms: false,
    });
    expect(some.resources[0]!.configEntries.map((e) => e.configName)).toEqual(['retention.ms']);

    // an unknown topic is an error for that resource
    await expect(
      admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: uniqueTopic('missing') }], includeSynonyms: false }),
    ).rejects.toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION' });
  });

  test('describeConfigs of the broker', async () => {
    const res = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.BROKER, name: '0' }], includeSynonyms: false });
    const byName = new Map(res.resources[0]!.configEntries.map((e) => [e.configName, e]));
    expect(byName.get('message.max.bytes')).toMatchObject({ configValue: '2000000', configSource: 4 });
    expect(byName.get('num.partitions')).toMatchObject({ configValue: '1' });
    expect(byName.get('broker.id')).toMatchObject({ configValue: '0' });
    expect(byName.get('advertised.listeners')?.configValue).toBe(`PLAINTEXT://${broker.bootstrap}`);
  });

  test('describeCluster', async () => {
    const c = await admin.describeCluster();
    expect(c.brokers).toEqual([{ nodeId: 0, host: '127.0.0.1', port: broker.port }]);
    expect(c.controller).toBe(0);
    expect(c.clusterId).toMatch(/^[A-Za-z0-9_-]{10,}$/);
  });

  test('deleteTopics', async () => {
    const t = uniqueTopic('kjs-del');
    await admin.createTopics({ topics: [{ topic: t, numPartitions: 2 }] });
    expect(await admin.listTopics()).toContain(t);
    await admin.deleteTopics({ topics: [t] });
    expect(await admin.listTopics()).not.toContain(t);
    // (kafkajs retries this error: ask with retries off)
    const once = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    await once.connect();
    try {
      expect(errorTypes(await caught(once.deleteTopics({ topics: [t] })))).toContain('UNKNOWN_TOPIC_OR_PARTITION');
    } finally {
      await once.disconnect();
    }
    // the name can be used again, and starts empty
    await admin.createTopics({ topics: [{ topic: t, numPartitions: 1 }] });
    expect(await admin.fetchTopicOffsets(t)).toEqual([{ partition: 0, offset: '0', high: '0', low: '0' }]);
  });
});

// ------------------------------------------------------------------ producers

const CODECS: Array<[string, CompressionTypes, string | null]> = [
  ['none', CompressionTypes.None, null],
  ['gzip', CompressionTypes.GZIP, 'gzip'],
  ['snappy', CompressionTypes.Snappy, 'snappy'],
  ['lz4', CompressionTypes.LZ4, 'lz4'],
  ['zstd', CompressionTypes.ZSTD, 'zstd'],
];

describe('producer', () => {
  let producer: Producer;
  beforeAll(async () => {
    producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
  });

  test.each(CODECS)('compression %s: exact keys, values, headers, timestamps (kafkajs and kcat)', async (name, type) => {
    const topic = uniqueTopic(`kjs-${name}`);
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const baseTs = RECENT + Math.floor(Math.random() * 1e6);
    const first = messagesFor(name, 60, baseTs);
    const second = messagesFor(`${name}b`, 40, baseTs + 10_000);
    const r1 = await producer.send({ topic, compression: type, acks: -1, messages: first });
    expect(r1).toEqual([expect.objectContaining({ topicName: topic, partition: 0, errorCode: 0, baseOffset: '0' })]);
    const r2 = await producer.send({ topic, compression: type, acks: -1, messages: second });
    expect(r2[0]!.baseOffset).toBe('60');
    const all = [...first, ...second];
    expectSame(await fetchAll(topic), all);
    // from the middle of a batch
    expectSame(await fetchAll(topic, 0, 17), all.slice(17), 17);

    const k = await kcatAll(topic);
    expect(k).toHaveLength(all.length);
    k.forEach((r, i) => {
      const m = all[i]!;
      expect(r.offset).toBe(i);
      expect(r.key).toBe(m.key === null ? '' : String(m.key));
      expect(r.value).toBe(String(m.value));
      expect(r.ts).toBe(Number(m.timestamp));
      expect(r.headers).toBe(Object.entries(m.headers ?? {}).map(([hk, hv]) => `${hk}=${String(hv)}`).join(','));
    });
  });

  test('a batch across partitions, a repeated header key, an empty value', async () => {
    const topic = uniqueTopic('kjs-multi');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    const t = (d: number) => String(RECENT + d);
    const res = await producer.sendBatch({
      acks: -1,
      compression: CompressionTypes.GZIP,
      topicMessages: [
        {
          topic,
          messages: [
            { partition: 0, key: 'a', value: '', timestamp: t(1), headers: { h: ['1', '2'] } },
            { partition: 1, key: 'b', value: 'second', timestamp: t(2) },
            { partition: 0, key: 'c', value: 'third', timestamp: t(3) },
          ],
        },
      ],
    });
    expect(res.map((r) => [r.partition, r.errorCode, r.baseOffset]).sort()).toEqual([
      [0, 0, '0'],
      [1, 0, '0'],
    ]);
    const p0 = await fetchAll(topic, 0);
    expect(p0.map((r) => [r.offset, r.key?.toString(), r.value?.toString(), r.timestamp])).toEqual([
      ['0', 'a', '', t(1)],
      ['1', 'c', 'third', t(3)],
    ]);
    expect((p0[0]!.headers.h as Buffer[]).map(String)).toEqual(['1', '2']);
    const p1 = await fetchAll(topic, 1);
    expect(p1.map((r) => [r.offset, r.key?.toString(), r.value?.toString()])).toEqual([['0', 'b', 'second']]);
  });

  test('a produce to an auto-created topic', async () => {
    const topic = uniqueTopic('kjs-auto');
    await producer.send({ topic, messages: [{ key: 'k', value: 'v' }] });
    expect((await fetchAll(topic)).map((r) => r.value?.toString())).toEqual(['v']);
  });

  test('a message above max.message.bytes is refused with MESSAGE_TOO_LARGE and nothing is stored', async () => {
    const topic = uniqueTopic('kjs-big');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '10000' }] }] });
    const p = kafka.producer({ retry: { retries: 0 } });
    await p.connect();
    try {
      expect(errorTypes(await caught(p.send({ topic, messages: [{ value: Buffer.alloc(20_000, 1) }] })))).toContain('MESSAGE_TOO_LARGE');
      await p.send({ topic, messages: [{ value: 'small' }] });
    } finally {
      await p.disconnect();
    }
    expect((await fetchAll(topic)).map((r) => [r.offset, r.value?.toString()])).toEqual([['0', 'small']]);
  });
});

describe('idempotent producer', () => {
  // kafkajs assigns sequence numbers when a request is built, under a per-broker
  // lock: one send() after another is stored in call order; concurrent send()
  // calls are serialized in lock order, each call's batch contiguous.
  test.each([1, 5])('maxInFlightRequests %i: every message once, in order', async (inFlight) => {
    const topic = uniqueTopic(`kjs-idem${inFlight}`);
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: inFlight });
    await p.connect();
    const perSend = 20;
    const msgs = (s: number) =>
      Array.from({ length: perSend }, (_, i) => {
        const n = s * perSend + i;
        return { partition: n % 2, key: `k${n}`, value: `v${n}`, headers: { seq: String(n), send: String(s) } };
      });
    try {
      // one after another
      for (let s = 0; s < 10; s++) {
        const r = await p.send({ topic, acks: -1, compression: s % 2 ? CompressionTypes.GZIP : CompressionTypes.None, messages: msgs(s) });
        for (const pr of r) expect(pr.errorCode).toBe(0);
      }
      // concurrently
      const results = await Promise.all(Array.from({ length: 20 }, (_, j) => p.send({ topic, acks: -1, messages: msgs(10 + j) })));
      for (const r of results) for (const pr of r) expect(pr.errorCode).toBe(0);
    } finally {
      await p.disconnect();
    }
    for (const partition of [0, 1]) {
      const got = await fetchAll(topic, partition);
      const seqs = got.map((r) => Number(String(r.headers.seq)));
      expect(got).toHaveLength((perSend * 30) / 2);
      expect(new Set(seqs).size).toBe(seqs.length); // exactly once
      expect(got.map((r) => r.offset)).toEqual(got.map((_, i) => String(i)));
      for (const r of got) expect(r.value?.toString()).toBe(`v${String(r.headers.seq)}`);
      // sequential part: call order
      const sequential = seqs.slice(0, (perSend * 10) / 2);
      expect(sequential).toEqual(Array.from({ length: sequential.length }, (_, i) => 2 * i + partition));
      // concurrent part: each call's records contiguous and in order
      const rest = got.slice(sequential.length);
      for (let i = 0; i < rest.length; i += perSend / 2) {
        const block = rest.slice(i, i + perSend / 2).map((r) => Number(String(r.headers.seq)));
        const s = Math.floor(block[0]! / perSend);
        expect(block).toEqual(Array.from({ length: perSend / 2 }, (_, k) => s * perSend + 2 * k + partition));
      }
    }
  });
});

// ------------------------------------------------------------------ consumer (needs groups)

describe('consumer', () => {
  test.skipIf(!GROUPS)('a kafkajs Consumer group reads back exact keys, values, headers, timestamps', async () => {
    const topic = uniqueTopic('kjs-consumer');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const sent = messagesFor('consumer', 50, RECENT + 123_000);
    const p = kafka.producer();
    await p.connect();
    await p.send({ topic, messages: sent });
    await p.disconnect();

    const consumer = kafka.consumer({ groupId: uniqueTopic('kjs-group'), maxWaitTimeInMs: 200 });
    await consumer.connect();
    const got: ReadRecord[] = [];
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`consumer read ${got.length}/${sent.length}`)), 60_000);
        consumer
          .run({
            eachMessage: async ({ message }) => {
              got.push({
                offset: message.offset,
                key: message.key,
                value: message.value,
                timestamp: message.timestamp,
                headers: message.headers as ReadRecord['headers'],
              });
              if (got.length >= sent.length) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    expectSame(got, sent);
  });
});
