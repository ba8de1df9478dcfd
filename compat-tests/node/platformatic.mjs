// The compat matrix's @platformatic/kafka row (npm, devDependency). Line
// protocol: harness.mjs. Its headers are a Map, so repeated header keys
// cannot be sent or received: the consume scenario's duplicate-key header is
// sent as two distinct keys.
import * as h from './harness.mjs';
import { Check, check, eq, bufEq } from './harness.mjs';
import { Admin, Producer, Consumer, compressionsAlgorithms, ConfigResourceTypes, ConfigSources, IncrementalAlterConfigOperationTypes, MessagesStreamModes } from '@platformatic/kafka';

const SOURCE_NAMES = Object.fromEntries(Object.entries(ConfigSources).map(([k, v]) => [v, k === 'TOPIC_CONFIG' ? 'DYNAMIC_TOPIC_CONFIG' : k]));
const base = (ctx) => ({ clientId: `compat-${ctx.client}`, bootstrapBrokers: [ctx.bootstrap], retries: 5, timeout: 20_000 });

/** Every message and Kafka error name in an error tree (platformatic nests them). */
function errText(e, depth = 0) {
  if (!e || depth > 5) return '';
  const parts = [e.message, e.apiId, e.code];
  for (const x of e.errors ?? []) parts.push(errText(x, depth + 1));
  if (e.cause) parts.push(errText(e.cause, depth + 1));
  return parts.filter(Boolean).join(' ');
}

const admins = new Map();
function admin(ctx) {
  if (!admins.has(ctx.bootstrap)) admins.set(ctx.bootstrap, new Admin(base(ctx)));
  return admins.get(ctx.bootstrap);
}

async function createTopic(ctx, t, partitions = 1, configs = []) {
  return admin(ctx).createTopics({ topics: [t], partitions, replicas: 1, configs });
}

async function send(ctx, messages, opts = {}) {
  const p = new Producer({ ...base(ctx), idempotent: !!opts.idempotent, acks: -1, autocreateTopics: false });
  try {
    return await p.send({ messages, compression: opts.compression ?? 'none' });
  } finally {
    await p.close();
  }
}

async function readAll(ctx, topic, n, timeoutMs = 20_000) {
  const c = new Consumer({ ...base(ctx), groupId: `compat-reader-${Math.random().toString(16).slice(2, 10)}`, autocommit: false, maxWaitTime: 200 });
  const got = [];
  try {
    const stream = await c.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    const done = new Promise((resolve) => {
      stream.on('data', (m) => {
        got.push(m);
      });
      const deadline = Date.now() + timeoutMs;
      const tick = setInterval(() => {
        if (got.length >= n || Date.now() > deadline) {
          clearInterval(tick);
          setTimeout(resolve, 500);
        }
      }, 50);
    });
    await done;
    await stream.close();
  } finally {
    await c.close(true);
  }
  return got.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
}

async function metadata(ctx) {
  const a = admin(ctx);
  const md = await a.metadata({ topics: [] });
  const addrs = [...md.brokers.values()].map((b) => `${b.host}:${b.port}`);
  check(addrs.includes(ctx.bootstrap), `bootstrap ${ctx.bootstrap} not among the brokers ${addrs}`);
  check(md.id, 'no cluster id');
  const t = ctx.topic('metadata');
  await createTopic(ctx, t, 2);
  const tm = (await a.metadata({ topics: [t], forceUpdate: true })).topics.get(t);
  eq(2, tm.partitionsCount, `partitions of ${t}`);
  for (const p of tm.partitions) check(p.leader >= 0, 'partition without leader');
  return `brokers=${md.brokers.size} controller=${md.controllerId}`;
}

async function topics(ctx) {
  const a = admin(ctx);
  const t = ctx.topic('topics');
  await createTopic(ctx, t, 3);
  const deadline = Date.now() + 15_000;
  while (!(await a.listTopics()).includes(t)) {
    check(Date.now() < deadline, 'created topic not listed after 15 s');
    await h.sleep(200);
  }
  const tm = (await a.metadata({ topics: [t], forceUpdate: true })).topics.get(t);
  eq(3, tm.partitionsCount, 'partition count');
  tm.partitions.forEach((p, i) => {
    check(p.leader >= 0, `partition ${i} without leader`);
    eq([1, 1], [p.replicas.length, p.isr.length], `replicas, isr of partition ${i}`);
  });
  try {
    await createTopic(ctx, t, 3);
    throw new Check('creating an existing topic succeeded');
  } catch (e) {
    if (e instanceof Check) throw e;
    check(/TOPIC_ALREADY_EXISTS|already exists/i.test(errText(e)), `create existing: want TOPIC_ALREADY_EXISTS, got ${errText(e)}`);
  }
  await a.deleteTopics({ topics: [t] });
  const d2 = Date.now() + 15_000;
  while ((await a.listTopics()).includes(t)) {
    check(Date.now() < d2, 'deleted topic still listed after 15 s');
    await h.sleep(200);
  }
  return 'create/list/describe/create-existing/delete';
}

async function compression(ctx) {
  const failed = [];
  const n = 50;
  const all = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
  // zstd comes from node:zlib, which has it from Node 22.15 on
  const codecs = all.filter((c) => compressionsAlgorithms[c]?.available !== false);
  for (const codec of codecs) {
    try {
      const t = ctx.topic(`compression-${codec}`);
      await createTopic(ctx, t, 1);
      await send(ctx, Array.from({ length: n }, (_, i) => ({ topic: t, partition: 0, key: Buffer.from(`k${i}`), value: Buffer.from(h.codecValue(codec, i)) })), { compression: codec });
      const got = await readAll(ctx, t, n);
      eq(n, got.length, 'records read back');
      got.forEach((m, i) => eq([String(i), `k${i}`, h.codecValue(codec, i)], [String(m.offset), m.key.toString(), m.value.toString()], `record ${i}`));
    } catch (e) {
      failed.push(`${codec}: ${e instanceof Check ? e.message : errText(e)}`);
    }
  }
  if (failed.length) throw new Check(failed.join('; '));
  const missing = all.filter((c) => !codecs.includes(c));
  return codecs.join(',') + (missing.length ? ` (${missing.join(',')}: not available in this Node.js ${process.version})` : '');
}

async function consume(ctx) {
  const t = ctx.topic('consume');
  await createTopic(ctx, t, 1);
  const b0 = h.ts0();
  const recs = h.consumeRecords();
  recs[4].headers = [['dup', '1'], ['dup2', '2']]; // a Map cannot hold a repeated key
  for (const r of recs) {
    const headers = new Map(r.headers.map(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
    const m = { topic: t, partition: 0, headers, timestamp: BigInt(b0 + r.dt) };
    if (r.key !== null) m.key = r.key;
    if (r.value !== null) m.value = r.value;
    await send(ctx, [m]);
  }
  const got = await readAll(ctx, t, recs.length);
  eq(recs.length, got.length, 'records read back');
  got.forEach((m, i) => {
    const w = recs[i];
    eq(String(i), String(m.offset), `offset of record ${i}`);
    bufEq(w.key, m.key ?? null, `key of record ${i}`);
    bufEq(w.value, m.value ?? null, `value of record ${i}`);
    eq(w.headers, [...m.headers].map(([k, v]) => [k.toString(), v.toString()]), `headers of record ${i}`);
    eq(String(b0 + w.dt), String(m.timestamp), `timestamp of record ${i}`);
  });
  return '6 records: keys (null, empty, utf-8), values (empty, binary, null), headers (empty value; repeated keys not representable), timestamps';
}

async function idempotent(ctx) {
  const t = ctx.topic('idempotent');
  await createTopic(ctx, t, 2);
  const n = 200;
  const r = await send(ctx, Array.from({ length: n }, (_, i) => ({ topic: t, partition: i % 2, key: Buffer.from(`k${i}`), value: Buffer.from(`idem-${i}`) })), { idempotent: true });
  check(r.offsets?.length, 'no offsets in the produce result');
  const got = await readAll(ctx, t, n);
  eq(n, got.length, 'records read back');
  eq(n, new Set(got.map((m) => m.value.toString())).size, 'distinct records');
  for (const p of [0, 1]) {
    const offs = got.filter((m) => m.partition === p).map((m) => Number(m.offset));
    eq(Array.from({ length: n / 2 }, (_, i) => i), offs, `offsets in partition ${p}`);
  }
  return `${n} records, 2 partitions, offsets contiguous, no duplicates`;
}

async function groupConsume(ctx, g, t, n) {
  const c = new Consumer({ ...base(ctx), groupId: g, autocommit: false, sessionTimeout: 10_000, heartbeatInterval: 1000, maxWaitTime: 200 });
  const got = [];
  try {
    const stream = await c.consume({ topics: [t], mode: MessagesStreamModes.COMMITTED, fallbackMode: 'earliest', autocommit: false });
    const last = new Map();
    stream.on('data', (m) => {
      got.push(m.value.toString());
      last.set(m.partition, m);
    });
    const deadline = Date.now() + 40_000;
    while (got.length < n && Date.now() < deadline) await h.sleep(50);
    await h.sleep(1000);
    for (const m of last.values()) await m.commit();
    await stream.close();
  } finally {
    await c.close(true);
  }
  return got;
}

async function committed(ctx, g, t) {
  const r = await admin(ctx).listConsumerGroupOffsets({ groups: [g] });
  const tp = r[0].topics.find((x) => x.name === t);
  return Object.fromEntries((tp?.partitions ?? []).map((p) => [p.partitionIndex, Number(p.committedOffset)]));
}

async function group(ctx) {
  const t = ctx.topic('group');
  const g = ctx.group('group');
  await createTopic(ctx, t, 2);
  // Uncommitted records may reach a member twice (a rebalance, a re-fetch):
  // @platformatic/kafka once delivered every record of partition 0 twice to
  // the first member against Kafka. Records are compared as sets; the
  // re-deliveries are counted in the detail.
  let redelivered = 0;
  const distinct = (xs) => {
    redelivered += xs.length - new Set(xs).size;
    return [...new Set(xs)].sort();
  };
  await send(ctx, Array.from({ length: 6 }, (_, i) => ({ topic: t, partition: i % 2, value: Buffer.from(`first-${i}`) })));
  eq(Array.from({ length: 6 }, (_, i) => `first-${i}`), distinct(await groupConsume(ctx, g, t, 6)), "first member's records");
  eq({ 0: 3, 1: 3 }, await committed(ctx, g, t), 'committed offsets after the first member');
  await send(ctx, Array.from({ length: 4 }, (_, i) => ({ topic: t, partition: i % 2, value: Buffer.from(`second-${i}`) })));
  eq(Array.from({ length: 4 }, (_, i) => `second-${i}`), distinct(await groupConsume(ctx, g, t, 4)), "second member's records (resumed from the commit)");
  eq({ 0: 5, 1: 5 }, await committed(ctx, g, t), 'committed offsets at the end');
  return `6 records, commit, close, 4 more, resume: exactly the 4 new${redelivered ? ` (${redelivered} records delivered twice within a member)` : ''}`;
}

async function offsetsByTime(ctx) {
  const t = ctx.topic('offsets-by-time');
  await createTopic(ctx, t, 1);
  const b0 = h.ts0();
  for (let i = 0; i < 5; i++) await send(ctx, [{ topic: t, partition: 0, value: Buffer.from(`t${i}`), timestamp: BigInt(b0 + i * 1000) }]);
  const c = new Consumer({ ...base(ctx), groupId: `compat-reader-${Math.random().toString(16).slice(2, 10)}` });
  try {
    const at = async (ts) => {
      const r = await c.listOffsetsWithTimestamps({ topics: [t], timestamp: BigInt(ts) });
      const x = r.get(t).get(0);
      return [Number(x.offset), Number(x.timestamp)];
    };
    eq([2, b0 + 2000], await at(b0 + 1500), 'offset, timestamp for ts0+1500');
    eq(0, (await at(b0 - 5000))[0], 'offset for ts0-5000');
    eq(-1, (await at(b0 + 10_000))[0], 'offset for a timestamp after the last record (-1: none)');
    eq(0, (await at(-2))[0], 'earliest');
    eq(5, (await at(-1))[0], 'latest');
  } finally {
    await c.close(true);
  }
  return 'by timestamp (hit, before first, after last), earliest, latest';
}

async function configs(ctx) {
  const t = ctx.topic('configs');
  await createTopic(ctx, t, 1, [{ name: 'retention.ms', value: '86400000' }]);
  const a = admin(ctx);
  const bad = [];
  const describe = async () => {
    const r = await a.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: t }] });
    return Object.fromEntries(r[0].configs.map((e) => [e.name, [e.value, SOURCE_NAMES[e.configSource] ?? String(e.configSource)]]));
  };
  const alter = (configs) => a.incrementalAlterConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: t, configs }] });
  const SET = IncrementalAlterConfigOperationTypes.SET;
  await h.settleConfigs(describe, [['retention.ms', '86400000', 'DYNAMIC_TOPIC_CONFIG'], ['cleanup.policy', 'delete', 'DEFAULT_CONFIG'], ['max.message.bytes', '1048588', 'DEFAULT_CONFIG']], bad);
  await alter([{ name: 'retention.ms', configOperation: SET, value: '3600000' }, { name: 'max.message.bytes', configOperation: SET, value: '2000000' }]);
  await h.settleConfigs(describe, [['retention.ms', '3600000', 'DYNAMIC_TOPIC_CONFIG'], ['max.message.bytes', '2000000', 'DYNAMIC_TOPIC_CONFIG']], bad);
  await alter([{ name: 'retention.ms', configOperation: IncrementalAlterConfigOperationTypes.DELETE }]);
  await h.settleConfigs(describe, [['retention.ms', '604800000', 'DEFAULT_CONFIG'], ['max.message.bytes', '2000000', 'DYNAMIC_TOPIC_CONFIG']], bad);
  try {
    await alter([{ name: 'retention.ms', configOperation: SET, value: 'not-a-number' }]);
    bad.push('setting retention.ms=not-a-number succeeded');
  } catch (e) {
    if (!/INVALID_CONFIG|INVALID_REQUEST|nvalid/.test(errText(e))) bad.push(`invalid value: want INVALID_CONFIG, got ${errText(e)}`);
  }
  if (bad.length) throw new Check(bad.join('; '));
  return 'describe (dynamic, default), IncrementalAlterConfigs, delete override, invalid value refused';
}

async function partitions(ctx) {
  const t = ctx.topic('partitions');
  await createTopic(ctx, t, 1);
  const a = admin(ctx);
  await a.createPartitions({ topics: [{ name: t, count: 3 }] });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const n = (await a.metadata({ topics: [t], forceUpdate: true })).topics.get(t).partitionsCount;
    if (n === 3) break;
    check(Date.now() < deadline, `partition count ${n} after 15 s, want 3`);
    await h.sleep(200);
  }
  try {
    await a.createPartitions({ topics: [{ name: t, count: 2 }] });
    throw new Check('decreasing the partition count succeeded');
  } catch (e) {
    if (e instanceof Check) throw e;
    check(/INVALID_PARTITIONS|nvalid/i.test(errText(e)), `decrease: want INVALID_PARTITIONS, got ${errText(e)}`);
  }
  const r = await send(ctx, [{ topic: t, partition: 2, key: Buffer.from('k'), value: Buffer.from('in-new-partition') }]);
  eq([2, '0'], [r.offsets[0].partition, String(r.offsets[0].offset)], 'acknowledged partition, offset');
  const got = (await readAll(ctx, t, 1)).filter((m) => m.partition === 2);
  eq(['in-new-partition'], got.map((m) => m.value.toString()), 'records in partition 2');
  return '1 -> 3 partitions, decrease refused, produce/consume partition 2';
}

await h.main({ metadata, topics, compression, consume, idempotent, group, 'offsets-by-time': offsetsByTime, configs, partitions });
