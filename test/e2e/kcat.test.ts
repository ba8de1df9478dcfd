/**
 * kcat (librdkafka) against a real broker process: metadata (-L, -L -J),
 * producing from a file with keys (-K), consuming from the beginning to the
 * end (-o beginning -e) with exact content and order, and producing with
 * every compression codec (-z), checked on the wire (the stored batches carry
 * the codec) and read back by kcat.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkBatch, readBatchHeader } from '../../src/protocol/records/batch.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { kcatConsume, kcatMetadata, kcatProduce, runKcat } from '../helpers/clients.js';
import { createTopic, fetchRawBatches, startE2EBroker, uniqueTopic } from './common.js';

const broker: BrokerProcess = await startE2EBroker({ args: ['--num-partitions', '1'] });
afterAll(() => broker.cleanup());

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'streamhouse-e2e-kcat-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('metadata', () => {
  const topic = uniqueTopic('kcat-md');

  // creates the topic (auto-create on produce) with 1 partition
  beforeAll(() => kcatProduce({ bootstrap: broker.bootstrap, topic, lines: ['x'] }));

  test('-L -J lists the broker as controller and a topic with its partitions', async () => {
    const md = await kcatMetadata(broker.bootstrap);
    expect(md.originating_broker).toMatchObject({ id: 0, name: `${broker.bootstrap}/0` });
    expect(md.controllerid).toBe(0);
    expect(md.brokers).toEqual([{ id: 0, name: broker.bootstrap }]);
    const t = md.topics.find((x) => x.topic === topic);
    expect(t).toBeDefined();
    expect(t!.error).toBeUndefined();
    expect(t!.partitions).toEqual([{ partition: 0, leader: 0, replicas: [{ id: 0 }], isrs: [{ id: 0 }] }]);

    const one = await kcatMetadata(broker.bootstrap, topic);
    expect(one.topics.map((x) => x.topic)).toEqual([topic]);
  });

  test('-L (text)', async () => {
    const r = await runKcat(['-L', '-b', broker.bootstrap]);
    expect(r.stdout).toContain('1 brokers:');
    expect(r.stdout).toContain(`broker 0 at ${broker.bootstrap} (controller)`);
    expect(r.stdout).toContain(`topic "${topic}" with 1 partitions:`);
    expect(r.stdout).toMatch(/partition 0, leader 0, replicas: 0, isrs: 0/);
  });

  test('-L -J -t for a topic that does not exist auto-creates it, as Kafka does', async () => {
    // kcat -L runs a producer handle: librdkafka asks with allow_auto_topic_creation=true.
    // Kafka 3.9 (auto.create.topics.enable=true) answers UNKNOWN_TOPIC_OR_PARTITION once
    // and creates the topic; StreamHouse creates it before answering. Either way it exists after.
    const missing = uniqueTopic('kcat-missing');
    const md = await kcatMetadata(broker.bootstrap, missing);
    const t = md.topics.find((x) => x.topic === missing);
    expect(t).toBeDefined();
    const all = await kcatMetadata(broker.bootstrap);
    expect(all.topics.find((x) => x.topic === missing)?.partitions).toEqual([{ partition: 0, leader: 0, replicas: [{ id: 0 }], isrs: [{ id: 0 }] }]);
  });
});

describe('produce from a file, consume from the beginning', () => {
  test('-l file -K: keys, values with spaces and punctuation, exact order', async () => {
    const topic = uniqueTopic('kcat-file');
    const lines = Array.from({ length: 500 }, (_, i) => `key-${i}:value ${i} ${'#'.repeat(i % 13)} ünïcødé, "quoted" \\ ${i * 7}`);
    const file = path.join(tmp, 'keyed.txt');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    await kcatProduce({ bootstrap: broker.bootstrap, topic, file, keyDelimiter: ':', extra: ['-X', 'acks=all'] });
    const recs = await kcatConsume({ bootstrap: broker.bootstrap, topic });
    expect(recs).toHaveLength(500);
    recs.forEach((r, i) => {
      expect(r).toEqual({ partition: 0, offset: i, key: `key-${i}`, value: lines[i]!.slice(lines[i]!.indexOf(':') + 1) });
    });
    // from an offset in the middle, and a count
    const mid = await kcatConsume({ bootstrap: broker.bootstrap, topic, offset: '250', count: 10 });
    expect(mid.map((r) => r.offset)).toEqual(Array.from({ length: 10 }, (_, i) => 250 + i));
    // from the end: nothing
    expect(await kcatConsume({ bootstrap: broker.bootstrap, topic, offset: 'end' })).toEqual([]);
    // relative to the end
    const last3 = await kcatConsume({ bootstrap: broker.bootstrap, topic, offset: '-3' });
    expect(last3.map((r) => r.key)).toEqual(['key-497', 'key-498', 'key-499']);
  });

  test('explicit partitions, headers and timestamps (-J envelope)', async () => {
    const topic = uniqueTopic('kcat-parts');
    await runKcat(['-P', '-b', broker.bootstrap, '-t', topic, '-p', '0', '-K', ':', '-H', 'h1=v1', '-H', 'h2=', '-l', writeLines('p.txt', ['a:first'])]);
    // the topic was auto-created with 1 partition; a second explicit partition does not exist
    const bad = await runKcat(['-P', '-b', broker.bootstrap, '-t', topic, '-p', '3', '-l', writeLines('p3.txt', ['nope'])], { allowFailure: true });
    expect(bad.stderr).toMatch(/Unknown partition|UNKNOWN_PARTITION|Local: Unknown partition/i);
    const r = await runKcat(['-C', '-b', broker.bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-J']);
    const msgs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatchObject({ topic, partition: 0, offset: 0, key: 'a', payload: 'first', headers: ['h1', 'v1', 'h2', ''] });
    const ts = msgs[0]!.ts as number;
    expect(Math.abs(ts - Date.now())).toBeLessThan(120_000);
  });

  test('a multi-partition topic: keyed messages spread by key, each partition in send order', async () => {
    const topic = uniqueTopic('kcat-multi');
    await createTopic(broker.port, topic, 4);
    const lines = Array.from({ length: 400 }, (_, i) => `key${i % 37}:v${i}`);
    await kcatProduce({ bootstrap: broker.bootstrap, topic, file: writeLines('multi.txt', lines), keyDelimiter: ':' });
    const recs = await kcatConsume({ bootstrap: broker.bootstrap, topic });
    expect(recs).toHaveLength(400);
    const byPartition = new Map<number, typeof recs>();
    for (const r of recs) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r]);
    expect(byPartition.size).toBeGreaterThan(1);
    const partitionOfKey = new Map<string, number>();
    for (const [p, rs] of byPartition) {
      expect(rs.map((r) => r.offset)).toEqual(rs.map((_, i) => i));
      const idx = rs.map((r) => Number(r.value.slice(1)));
      expect([...idx].sort((x, y) => x - y)).toEqual(idx);
      for (const r of rs) {
        expect(partitionOfKey.get(r.key) ?? p).toBe(p); // one key, one partition
        partitionOfKey.set(r.key, p);
        expect(r.key).toBe(`key${Number(r.value.slice(1)) % 37}`);
      }
    }
  });
});

describe('large messages', () => {
  test('a 1,000,000 byte message is stored and read back even with a smaller fetch size (KIP-74); a larger one is MESSAGE_TOO_LARGE', async () => {
    const topic = uniqueTopic('kcat-large');
    const big = 'B'.repeat(1_000_000);
    const file = writeLines('large.txt', [`small-before`, big, `small-after`]);
    // librdkafka's own limit is raised so the broker is the one to decide
    await kcatProduce({ bootstrap: broker.bootstrap, topic, file, extra: ['-X', 'message.max.bytes=3000000', '-X', 'linger.ms=0'] });
    const recs = await kcatConsume({
      bootstrap: broker.bootstrap,
      topic,
      extra: ['-X', 'message.max.bytes=100000', '-X', 'fetch.max.bytes=100000', '-X', 'max.partition.fetch.bytes=100000', '-X', 'receive.message.max.bytes=2000000'],
    });
    expect(recs.map((r) => r.value.length)).toEqual([12, 1_000_000, 11]);
    expect(recs[1]!.value).toBe(big);

    // above max.message.bytes (1048588): refused, nothing stored
    const tooBig = writeLines('too-large.txt', ['T'.repeat(1_100_000)]);
    const r = await runKcat(['-P', '-b', broker.bootstrap, '-t', topic, '-l', tooBig, '-X', 'message.max.bytes=3000000'], { allowFailure: true });
    expect(r.stderr).toMatch(/MSG_SIZE_TOO_LARGE|too large/i);
    expect((await kcatConsume({ bootstrap: broker.bootstrap, topic, offset: '3' }))).toEqual([]);
  });
});

describe('compression (-z)', () => {
  const CODECS: Array<[string, number]> = [
    ['gzip', 1],
    ['snappy', 2],
    ['lz4', 3],
    ['zstd', 4],
  ];
  test.each(CODECS)('-z %s: stored compressed, read back exactly', async (codec, id) => {
    const topic = uniqueTopic(`kcat-z-${codec}`);
    // repetitive values compress well, so librdkafka keeps the compressed form
    const lines = Array.from({ length: 2000 }, (_, i) => `k${i}:${codec} value number ${i} ${'abcdefgh'.repeat(1 + (i % 9))}`);
    await kcatProduce({
      bootstrap: broker.bootstrap,
      topic,
      file: writeLines(`${codec}.txt`, lines),
      keyDelimiter: ':',
      extra: ['-z', codec, '-X', 'linger.ms=20', '-X', 'acks=all'],
    });
    const batches = await fetchRawBatches(broker.port, topic, 0);
    expect(batches.length).toBeGreaterThan(0);
    let records = 0;
    let compressed = 0;
    for (const b of batches) {
      const h = readBatchHeader(b);
      expect(h.magic).toBe(2);
      expect(checkBatch(b)).toBe(b.length); // whole batch, CRC-32C ok
      // librdkafka sends a batch uncompressed when compressing does not shrink it (a lone first record)
      if (h.recordCount >= 10) expect(h.compression).toBe(id);
      if (h.compression === id) compressed += h.recordCount;
      else expect(h.compression).toBe(0);
      records += h.recordCount;
    }
    expect(records).toBe(2000);
    expect(compressed).toBeGreaterThan(1900);
    const recs = await kcatConsume({ bootstrap: broker.bootstrap, topic });
    expect(recs).toHaveLength(2000);
    recs.forEach((r, i) => {
      expect(r.offset).toBe(i);
      expect(`${r.key}:${r.value}`).toBe(lines[i]);
    });
    // and from the middle of a compressed batch
    const mid = await kcatConsume({ bootstrap: broker.bootstrap, topic, offset: '1001', count: 5 });
    expect(mid.map((r) => `${r.key}:${r.value}`)).toEqual(lines.slice(1001, 1006));
  });
});

function writeLines(name: string, lines: string[]): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}
