// The compat matrix's kafkajs row (kafkajs 2.2 from the project's devDependencies).
// Line protocol: harness.mjs. kafkajs ships gzip only (snappy, lz4, zstd are
// third-party codec plugins), keeps no timestamp type on a message, and has
// AlterConfigs but not IncrementalAlterConfigs.
import { createRequire } from 'node:module';
import * as h from './harness.mjs';
import { Check, check, eq, bufEq } from './harness.mjs';

const require = createRequire(import.meta.url);
const { Kafka, logLevel, CompressionTypes, ConfigResourceTypes } = require('kafkajs');

let kafka;
const admins = new Map();
function k(ctx) {
  kafka ??= new Kafka({ clientId: `compat-${ctx.client}`, brokers: [ctx.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5 } });
  return kafka;
}
async function admin(ctx) {
  if (!admins.has(ctx.bootstrap)) {
    const a = k(ctx).admin();
    await a.connect();
    admins.set(ctx.bootstrap, a);
  }
  return admins.get(ctx.bootstrap);
}

async function createTopic(ctx, topic, numPartitions = 1, configEntries = []) {
  const created = await (await admin(ctx)).createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }], waitForLeaders: true });
  return created;
}

async function send(ctx, messages, opts = {}) {
  const p = k(ctx).producer({ allowAutoTopicCreation: false, idempotent: !!opts.idempotent, maxInFlightRequests: opts.idempotent ? 1 : undefined });
  await p.connect();
  try {
    const r = await p.send({ topic: opts.topic, acks: -1, compression: opts.compression ?? CompressionTypes.None, messages });
    return r;
  } finally {
    await p.disconnect();
  }
}

/** Reads topic partitions from the beginning (a throwaway group; kafkajs consumers need one). */
async function readAll(ctx, topic, n, timeoutMs = 20_000) {
  const c = k(ctx).consumer({ groupId: `compat-reader-${Math.random().toString(16).slice(2, 10)}`, maxWaitTimeInMs: 200 });
  await c.connect();
  const got = [];
  try {
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({ autoCommit: false, eachMessage: async ({ partition, message }) => void got.push({ partition, ...message }) });
    const deadline = Date.now() + timeoutMs;
    while (got.length < n && Date.now() < deadline) await h.sleep(50);
    await h.sleep(500);
  } finally {
    await c.disconnect();
  }
  return got.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
}

async function metadata(ctx) {
  const a = await admin(ctx);
  const cl = await a.describeCluster();
  const addrs = cl.brokers.map((b) => `${b.host}:${b.port}`);
  check(addrs.includes(ctx.bootstrap), `bootstrap ${ctx.bootstrap} not among the brokers ${addrs}`);
  check(cl.clusterId, 'no cluster id');
  const t = ctx.topic('metadata');
  await createTopic(ctx, t, 2);
  const md = await a.fetchTopicMetadata({ topics: [t] });
  eq(2, md.topics[0].partitions.length, `partitions of ${t}`);
  for (const p of md.topics[0].partitions) check(p.leader >= 0, `partition ${p.partitionId} has no leader`);
  return `brokers=${cl.brokers.length} controller=${cl.controller}`;
}

async function topics(ctx) {
  const a = await admin(ctx);
  const t = ctx.topic('topics');
  eq(true, await createTopic(ctx, t, 3), 'createTopics result');
  const deadline = Date.now() + 15_000;
  while (!(await a.listTopics()).includes(t)) {
    check(Date.now() < deadline, 'created topic not listed after 15 s');
    await h.sleep(200);
  }
  const md = (await a.fetchTopicMetadata({ topics: [t] })).topics[0];
  eq(3, md.partitions.length, 'partition count');
  for (const p of md.partitions) {
    check(p.leader >= 0, `partition ${p.partitionId} without leader`);
    eq(1, p.replicas.length, `replicas of partition ${p.partitionId}`);
    eq(1, p.isr.length, `isr of partition ${p.partitionId}`);
  }
  // kafkajs answers TOPIC_ALREADY_EXISTS with `false` instead of an error
  eq(false, await createTopic(ctx, t, 3), 'createTopics of an existing topic (false: TOPIC_ALREADY_EXISTS)');
  await a.deleteTopics({ topics: [t] });
  const d2 = Date.now() + 15_000;
  while ((await a.listTopics()).includes(t)) {
    check(Date.now() < d2, 'deleted topic still listed after 15 s');
    await h.sleep(200);
  }
  return 'create/list/describe/create-existing/delete';
}

async function compression(ctx) {
  const codecs = [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP]];
  const failed = [];
  const n = 50;
  for (const [name, codec] of codecs) {
    try {
      const t = ctx.topic(`compression-${name}`);
      await createTopic(ctx, t, 1);
      await send(ctx, Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: h.codecValue(name, i), partition: 0 })), { topic: t, compression: codec });
      const got = await readAll(ctx, t, n);
      eq(n, got.length, 'records read back');
      got.forEach((m, i) => {
        eq(String(i), m.offset, `offset of record ${i}`);
        eq(`k${i}`, m.key.toString(), `key ${i}`);
        eq(h.codecValue(name, i), m.value.toString(), `value ${i}`);
      });
    } catch (e) {
      failed.push(`${name}: ${e.message}`);
    }
  }
  if (failed.length) throw new Check(failed.join('; '));
  return 'none,gzip (kafkajs has no built-in snappy/lz4/zstd: plugins)';
}

async function consume(ctx) {
  const t = ctx.topic('consume');
  await createTopic(ctx, t, 1);
  const base = h.ts0();
  const recs = h.consumeRecords();
  for (const r of recs) {
    const headers = {};
    for (const [hk, hv] of r.headers) headers[hk] = hk in headers ? [].concat(headers[hk], hv) : hv;
    await send(ctx, [{ key: r.key, value: r.value, headers, partition: 0, timestamp: String(base + r.dt) }], { topic: t });
  }
  const got = await readAll(ctx, t, recs.length);
  eq(recs.length, got.length, 'records read back');
  got.forEach((m, i) => {
    const w = recs[i];
    eq(String(i), m.offset, `offset of record ${i}`);
    bufEq(w.key, m.key, `key of record ${i}`);
    bufEq(w.value, m.value, `value of record ${i}`);
    const gh = [];
    for (const [hk, hv] of Object.entries(m.headers ?? {})) for (const v of [].concat(hv)) gh.push([hk, v.toString()]);
    eq(w.headers, gh, `headers of record ${i}`);
    eq(String(base + w.dt), m.timestamp, `timestamp of record ${i}`);
  });
  return h.CONSUME_DETAIL + ' (kafkajs keeps no timestamp type)';
}

async function idempotent(ctx) {
  const t = ctx.topic('idempotent');
  await createTopic(ctx, t, 2);
  const n = 200;
  const per = { 0: [], 1: [] };
  // batches of 20 (one send per batch); offsets come back per partition and batch
  for (let b = 0; b < n / 20; b++) {
    const msgs = Array.from({ length: 20 }, (_, j) => ({ key: `k${b * 20 + j}`, value: `idem-${b * 20 + j}`, partition: (b * 20 + j) % 2 }));
    const r = await send(ctx, msgs, { topic: t, idempotent: true });
    for (const x of r) per[x.partition].push(Number(x.baseOffset));
  }
  for (const p of [0, 1]) eq(Array.from({ length: n / 20 }, (_, i) => i * 10), per[p], `base offsets of the batches in partition ${p}`);
  const got = await readAll(ctx, t, n);
  eq(n, got.length, 'records read back');
  eq(n, new Set(got.map((m) => m.value.toString())).size, 'distinct records');
  return `${n} records, 2 partitions, offsets contiguous, no duplicates`;
}

async function groupConsume(ctx, g, t, n) {
  const c = k(ctx).consumer({ groupId: g, sessionTimeout: 10_000, maxWaitTimeInMs: 200 });
  await c.connect();
  const got = [];
  const next = {};
  try {
    await c.subscribe({ topic: t, fromBeginning: true });
    await c.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        got.push(message.value.toString());
        next[partition] = String(Number(message.offset) + 1);
      },
    });
    const deadline = Date.now() + 40_000;
    while (got.length < n && Date.now() < deadline) await h.sleep(50);
    await h.sleep(1000);
    await c.commitOffsets(Object.entries(next).map(([p, offset]) => ({ topic: t, partition: Number(p), offset })));
  } finally {
    await c.disconnect();
  }
  return got;
}

async function committed(ctx, g, t) {
  const r = await (await admin(ctx)).fetchOffsets({ groupId: g, topics: [t] });
  return Object.fromEntries(r[0].partitions.map((p) => [p.partition, Number(p.offset)]));
}

async function group(ctx) {
  const t = ctx.topic('group');
  const g = ctx.group('group');
  await createTopic(ctx, t, 2);
  await send(ctx, Array.from({ length: 6 }, (_, i) => ({ value: `first-${i}`, partition: i % 2 })), { topic: t });
  eq(Array.from({ length: 6 }, (_, i) => `first-${i}`), (await groupConsume(ctx, g, t, 6)).sort(), "first member's records");
  eq({ 0: 3, 1: 3 }, await committed(ctx, g, t), 'committed offsets after the first member');
  await send(ctx, Array.from({ length: 4 }, (_, i) => ({ value: `second-${i}`, partition: i % 2 })), { topic: t });
  eq(Array.from({ length: 4 }, (_, i) => `second-${i}`), (await groupConsume(ctx, g, t, 4)).sort(), "second member's records (resumed from the commit)");
  eq({ 0: 5, 1: 5 }, await committed(ctx, g, t), 'committed offsets at the end');
  return '6 records, commit, close, 4 more, resume: exactly the 4 new';
}

async function offsetsByTime(ctx) {
  const t = ctx.topic('offsets-by-time');
  await createTopic(ctx, t, 1);
  const base = h.ts0();
  for (let i = 0; i < 5; i++) await send(ctx, [{ value: `t${i}`, partition: 0, timestamp: String(base + i * 1000) }], { topic: t });
  const a = await admin(ctx);
  const at = async (ts) => Number((await a.fetchTopicOffsetsByTimestamp(t, ts))[0].offset);
  eq(2, await at(base + 1500), 'offset for ts0+1500');
  eq(0, await at(base - 5000), 'offset for ts0-5000');
  // kafkajs answers "none" (-1 on the wire) with the high watermark
  eq(5, await at(base + 10_000), 'offset for a timestamp after the last record (kafkajs: the end offset)');
  const o = (await a.fetchTopicOffsets(t))[0];
  eq([0, 5], [Number(o.low), Number(o.high)], 'earliest, latest');
  return 'by timestamp (hit, before first, after last), earliest, latest';
}

async function configs(ctx) {
  const t = ctx.topic('configs');
  await createTopic(ctx, t, 1, [{ name: 'retention.ms', value: '86400000' }]);
  const a = await admin(ctx);
  const bad = [];
  const describe = async () => {
    const r = await a.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: t }], includeSynonyms: false });
    return Object.fromEntries(r.resources[0].configEntries.map((e) => [e.configName, [e.configValue, h.SOURCES[e.configSource] ?? String(e.configSource)]]));
  };
  // AlterConfigs (legacy): replaces every dynamic config of the topic
  const alter = (entries) => a.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: t, configEntries: entries }] });
  await h.settleConfigs(describe, [['retention.ms', '86400000', 'DYNAMIC_TOPIC_CONFIG'], ['cleanup.policy', 'delete', 'DEFAULT_CONFIG'], ['max.message.bytes', '1048588', 'DEFAULT_CONFIG']], bad);
  await alter([{ name: 'retention.ms', value: '3600000' }, { name: 'max.message.bytes', value: '2000000' }]);
  await h.settleConfigs(describe, [['retention.ms', '3600000', 'DYNAMIC_TOPIC_CONFIG'], ['max.message.bytes', '2000000', 'DYNAMIC_TOPIC_CONFIG']], bad);
  await alter([{ name: 'max.message.bytes', value: '2000000' }]);
  await h.settleConfigs(describe, [['retention.ms', '604800000', 'DEFAULT_CONFIG'], ['max.message.bytes', '2000000', 'DYNAMIC_TOPIC_CONFIG']], bad);
  try {
    await alter([{ name: 'retention.ms', value: 'not-a-number' }]);
    bad.push('setting retention.ms=not-a-number succeeded');
  } catch (e) {
    if (!/INVALID_CONFIG|INVALID_REQUEST|nvalid/.test(`${e.type} ${e.message}`)) bad.push(`invalid value: want INVALID_CONFIG, got ${e.type ?? ''} ${e.message}`);
  }
  if (bad.length) throw new Check(bad.join('; '));
  return 'describe (dynamic, default), AlterConfigs, delete override, invalid value refused';
}

async function partitions(ctx) {
  const t = ctx.topic('partitions');
  await createTopic(ctx, t, 1);
  const a = await admin(ctx);
  await a.createPartitions({ topicPartitions: [{ topic: t, count: 3 }] });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const n = (await a.fetchTopicMetadata({ topics: [t] })).topics[0].partitions.length;
    if (n === 3) break;
    check(Date.now() < deadline, `partition count ${n} after 15 s, want 3`);
    await h.sleep(200);
  }
  try {
    await a.createPartitions({ topicPartitions: [{ topic: t, count: 2 }] });
    throw new Check('decreasing the partition count succeeded');
  } catch (e) {
    if (e instanceof Check) throw e;
    const types = [e.type, ...(e.errors ?? []).map((x) => x.type)].join(',');
    check(/INVALID_PARTITIONS/.test(types), `decrease: want INVALID_PARTITIONS, got ${types} ${e.message}`);
  }
  const r = await send(ctx, [{ key: 'k', value: 'in-new-partition', partition: 2 }], { topic: t });
  eq([2, '0'], [r[0].partition, r[0].baseOffset], 'acknowledged partition, offset');
  const got = (await readAll(ctx, t, 1)).filter((m) => m.partition === 2);
  eq(['in-new-partition'], got.map((m) => m.value.toString()), 'records in partition 2');
  return '1 -> 3 partitions, decrease refused, produce/consume partition 2';
}

await h.main({ metadata, topics, compression, consume, idempotent, group, 'offsets-by-time': offsetsByTime, configs, partitions });
