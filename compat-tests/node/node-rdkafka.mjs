// The compat matrix's node-rdkafka row: node-rdkafka built here by
// scripts/install-compat-deps.sh (it compiles its bundled librdkafka) into the
// compat cache; its path comes in COMPAT_NODE_RDKAFKA. Line protocol:
// harness.mjs. node-rdkafka's AdminClient has createTopic, deleteTopic and
// createPartitions but no DescribeConfigs/AlterConfigs (configs: unsupported).
import { createRequire } from 'node:module';
import * as h from './harness.mjs';
import { Check, Unsupported, check, eq, bufEq } from './harness.mjs';

const require = createRequire(import.meta.url);
const Kafka = require(process.env.COMPAT_NODE_RDKAFKA ?? 'node-rdkafka');
const TIMEOUT = 30_000;

const cb2p = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
const errText = (e) => `${e?.message ?? e}${e?.code !== undefined ? ` (code ${e.code})` : ''}`;

const admins = new Map();
function admin(ctx) {
  if (!admins.has(ctx.bootstrap)) admins.set(ctx.bootstrap, Kafka.AdminClient.create({ 'metadata.broker.list': ctx.bootstrap, 'client.id': `compat-${ctx.client}` }));
  return admins.get(ctx.bootstrap);
}

function createTopic(ctx, topic, num_partitions = 1, config = {}) {
  return cb2p((cb) => admin(ctx).createTopic({ topic, num_partitions, replication_factor: 1, config }, TIMEOUT, cb));
}

async function producer(ctx, conf = {}) {
  const p = new Kafka.Producer({ 'metadata.broker.list': ctx.bootstrap, 'client.id': `compat-${ctx.client}`, dr_cb: true, 'linger.ms': 5, acks: -1, ...conf });
  await cb2p((cb) => p.connect({}, cb));
  p.setPollInterval(20);
  return p;
}

/** Produces records {topic, partition, key, value, timestamp, headers:[{k:v}]}; resolves to [[partition, offset]] in order. */
async function produce(ctx, recs, conf = {}) {
  const p = await producer(ctx, conf);
  try {
    const acks = new Array(recs.length);
    let left = recs.length;
    const errs = [];
    const done = new Promise((resolve) => {
      p.on('delivery-report', (err, r) => {
        if (err) errs.push(errText(err));
        else acks[r.opaque] = [r.partition, r.offset];
        if (--left === 0) resolve();
      });
    });
    recs.forEach((r, i) => p.produce(r.topic, r.partition ?? -1, r.value, r.key, r.timestamp ?? null, i, r.headers));
    await Promise.race([done, h.sleep(TIMEOUT).then(() => errs.push(`${left} delivery reports missing`))]);
    check(errs.length === 0, errs.slice(0, 3).join('; '));
    return acks;
  } finally {
    await cb2p((cb) => p.disconnect(cb)).catch(() => undefined);
  }
}

async function consumer(ctx, conf = {}, topicConf = {}) {
  const c = new Kafka.KafkaConsumer(
    { 'metadata.broker.list': ctx.bootstrap, 'client.id': `compat-${ctx.client}`, 'group.id': `compat-reader-${Math.random().toString(16).slice(2, 10)}`, 'enable.auto.commit': false, ...conf },
    { 'auto.offset.reset': 'earliest', ...topicConf },
  );
  await cb2p((cb) => c.connect({}, cb));
  return c;
}

async function readAll(ctx, topic, partitions, n, timeoutMs = 20_000) {
  const c = await consumer(ctx);
  const got = [];
  try {
    c.assign(partitions.map((partition) => ({ topic, partition, offset: Kafka.CODES?.OFFSET_BEGINNING ?? -2 })));
    const deadline = Date.now() + timeoutMs;
    let extraUntil = 0;
    while (Date.now() < deadline && (!extraUntil || Date.now() < extraUntil)) {
      const ms = await cb2p((cb) => c.consume(100, cb));
      got.push(...ms);
      if (got.length >= n && !extraUntil) extraUntil = Date.now() + 500;
      if (!ms.length) await h.sleep(50);
    }
  } finally {
    await cb2p((cb) => c.disconnect(cb)).catch(() => undefined);
  }
  return got.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

async function getMetadata(ctx, topic) {
  const p = await producer(ctx);
  try {
    return await cb2p((cb) => p.getMetadata({ topic, timeout: TIMEOUT }, cb));
  } finally {
    await cb2p((cb) => p.disconnect(cb)).catch(() => undefined);
  }
}

async function metadata(ctx) {
  const t = ctx.topic('metadata');
  await createTopic(ctx, t, 2);
  const md = await getMetadata(ctx, t);
  const addrs = md.brokers.map((b) => `${b.host}:${b.port}`);
  check(addrs.includes(ctx.bootstrap), `bootstrap ${ctx.bootstrap} not among the brokers ${addrs}`);
  const tm = md.topics.find((x) => x.name === t);
  eq(2, tm?.partitions.length, `partitions of ${t}`);
  for (const p of tm.partitions) check(p.leader >= 0, `partition ${p.id} has no leader`);
  return `brokers=${md.brokers.length}`;
}

async function topics(ctx) {
  const t = ctx.topic('topics');
  await createTopic(ctx, t, 3);
  const deadline = Date.now() + 15_000;
  let tm;
  for (;;) {
    tm = (await getMetadata(ctx)).topics.find((x) => x.name === t);
    if (tm) break;
    check(Date.now() < deadline, 'created topic not listed after 15 s');
    await h.sleep(200);
  }
  eq(3, tm.partitions.length, 'partition count');
  for (const p of tm.partitions) {
    check(p.leader >= 0, `partition ${p.id} without leader`);
    eq([1, 1], [p.replicas.length, p.isrs.length], `replicas, isr of partition ${p.id}`);
  }
  try {
    await createTopic(ctx, t, 3);
    throw new Check('creating an existing topic succeeded');
  } catch (e) {
    if (e instanceof Check) throw e;
    eq(Kafka.CODES.ERRORS.ERR_TOPIC_ALREADY_EXISTS, e.code, `create existing: error code (${errText(e)})`);
  }
  await cb2p((cb) => admin(ctx).deleteTopic(t, TIMEOUT, cb));
  const d2 = Date.now() + 15_000;
  while ((await getMetadata(ctx)).topics.some((x) => x.name === t)) {
    check(Date.now() < d2, 'deleted topic still listed after 15 s');
    await h.sleep(200);
  }
  return 'create/list/describe/create-existing/delete';
}

async function compression(ctx) {
  const failed = [];
  const n = 50;
  for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
    try {
      const t = ctx.topic(`compression-${codec}`);
      await createTopic(ctx, t, 1);
      await produce(ctx, Array.from({ length: n }, (_, i) => ({ topic: t, partition: 0, key: Buffer.from(`k${i}`), value: Buffer.from(h.codecValue(codec, i)) })), { 'compression.codec': codec });
      const got = await readAll(ctx, t, [0], n);
      eq(n, got.length, 'records read back');
      got.forEach((m, i) => eq([i, `k${i}`, h.codecValue(codec, i)], [m.offset, m.key.toString(), m.value.toString()], `record ${i}`));
    } catch (e) {
      failed.push(`${codec}: ${e instanceof Check ? e.message : errText(e)}`);
    }
  }
  if (failed.length) throw new Check(failed.join('; '));
  return 'none,gzip,snappy,lz4,zstd';
}

async function consume(ctx) {
  const t = ctx.topic('consume');
  await createTopic(ctx, t, 1);
  const b0 = h.ts0();
  const recs = h.consumeRecords();
  // node-rdkafka's producer sends a zero-length value or key as null (seen on Kafka too)
  recs[2].value = null;
  recs[5].key = null;
  for (const r of recs) {
    await produce(ctx, [{ topic: t, partition: 0, key: r.key, value: r.value, timestamp: b0 + r.dt, headers: r.headers.map(([k, v]) => ({ [k]: v })) }]);
  }
  const got = await readAll(ctx, t, [0], recs.length);
  eq(recs.length, got.length, 'records read back');
  got.forEach((m, i) => {
    const w = recs[i];
    eq(i, m.offset, `offset of record ${i}`);
    bufEq(w.key, m.key ?? null, `key of record ${i}`);
    bufEq(w.value, m.value ?? null, `value of record ${i}`);
    eq(w.headers, (m.headers ?? []).flatMap((x) => Object.entries(x)).map(([k, v]) => [k, v.toString()]), `headers of record ${i}`);
    eq(b0 + w.dt, m.timestamp, `timestamp of record ${i}`);
  });
  return '6 records: keys (null, utf-8), values (binary, null; node-rdkafka sends an empty key or value as null), headers (empty value, duplicate keys), timestamps (no timestamp type in node-rdkafka)';
}

async function idempotent(ctx) {
  const t = ctx.topic('idempotent');
  await createTopic(ctx, t, 2);
  const n = 200;
  const acks = await produce(ctx, Array.from({ length: n }, (_, i) => ({ topic: t, partition: i % 2, key: Buffer.from(`k${i}`), value: Buffer.from(`idem-${i}`) })), { 'enable.idempotence': true, 'batch.size': 1024 });
  for (const p of [0, 1]) eq(Array.from({ length: n / 2 }, (_, i) => i), acks.filter((a) => a[0] === p).map((a) => a[1]), `acknowledged offsets in partition ${p}`);
  const got = await readAll(ctx, t, [0, 1], n);
  eq(n, got.length, 'records read back');
  eq(n, new Set(got.map((m) => m.value.toString())).size, 'distinct records');
  return `${n} records, 2 partitions, offsets contiguous, no duplicates`;
}

async function groupConsume(ctx, g, t, n) {
  const c = await consumer(ctx, { 'group.id': g, 'session.timeout.ms': 10_000 });
  const got = [];
  try {
    c.subscribe([t]);
    const deadline = Date.now() + 40_000;
    let extraUntil = 0;
    while (Date.now() < deadline && (!extraUntil || Date.now() < extraUntil)) {
      const ms = await cb2p((cb) => c.consume(100, cb));
      got.push(...ms.map((m) => m.value.toString()));
      if (got.length >= n && !extraUntil) extraUntil = Date.now() + 1000;
      if (!ms.length) await h.sleep(50);
    }
    c.commitSync(null);
  } finally {
    await cb2p((cb) => c.disconnect(cb)).catch(() => undefined);
  }
  return got;
}

async function committed(ctx, g, t) {
  const c = await consumer(ctx, { 'group.id': g });
  try {
    const r = await cb2p((cb) => c.committed([{ topic: t, partition: 0 }, { topic: t, partition: 1 }], TIMEOUT, cb));
    return Object.fromEntries(r.map((x) => [x.partition, x.offset]));
  } finally {
    await cb2p((cb) => c.disconnect(cb)).catch(() => undefined);
  }
}

async function group(ctx) {
  const t = ctx.topic('group');
  const g = ctx.group('group');
  await createTopic(ctx, t, 2);
  await produce(ctx, Array.from({ length: 6 }, (_, i) => ({ topic: t, partition: i % 2, value: Buffer.from(`first-${i}`) })));
  eq(Array.from({ length: 6 }, (_, i) => `first-${i}`), (await groupConsume(ctx, g, t, 6)).sort(), "first member's records");
  eq({ 0: 3, 1: 3 }, await committed(ctx, g, t), 'committed offsets after the first member');
  await produce(ctx, Array.from({ length: 4 }, (_, i) => ({ topic: t, partition: i % 2, value: Buffer.from(`second-${i}`) })));
  eq(Array.from({ length: 4 }, (_, i) => `second-${i}`), (await groupConsume(ctx, g, t, 4)).sort(), "second member's records (resumed from the commit)");
  eq({ 0: 5, 1: 5 }, await committed(ctx, g, t), 'committed offsets at the end');
  return '6 records, commit, close, 4 more, resume: exactly the 4 new';
}

async function offsetsByTime(ctx) {
  const t = ctx.topic('offsets-by-time');
  await createTopic(ctx, t, 1);
  const b0 = h.ts0();
  for (let i = 0; i < 5; i++) await produce(ctx, [{ topic: t, partition: 0, value: Buffer.from(`t${i}`), timestamp: b0 + i * 1000 }], { 'linger.ms': 0 });
  const c = await consumer(ctx);
  try {
    const at = async (ts) => (await cb2p((cb) => c.offsetsForTimes([{ topic: t, partition: 0, offset: ts }], TIMEOUT, cb)))[0].offset;
    eq(2, await at(b0 + 1500), 'offset for ts0+1500');
    eq(0, await at(b0 - 5000), 'offset for ts0-5000');
    eq(-1, await at(b0 + 10_000), 'offset for a timestamp after the last record (-1: none)');
    const w = await cb2p((cb) => c.queryWatermarkOffsets(t, 0, TIMEOUT, cb));
    eq([0, 5], [w.lowOffset, w.highOffset], 'earliest, latest');
  } finally {
    await cb2p((cb) => c.disconnect(cb)).catch(() => undefined);
  }
  return 'by timestamp (hit, before first, after last), earliest, latest';
}

async function configs() {
  throw new Unsupported("node-rdkafka's AdminClient has no DescribeConfigs/AlterConfigs");
}

async function partitions(ctx) {
  const t = ctx.topic('partitions');
  await createTopic(ctx, t, 1);
  await cb2p((cb) => admin(ctx).createPartitions(t, 3, TIMEOUT, cb));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const n = (await getMetadata(ctx, t)).topics.find((x) => x.name === t)?.partitions.length;
    if (n === 3) break;
    check(Date.now() < deadline, `partition count ${n} after 15 s, want 3`);
    await h.sleep(200);
  }
  try {
    await cb2p((cb) => admin(ctx).createPartitions(t, 2, TIMEOUT, cb));
    throw new Check('decreasing the partition count succeeded');
  } catch (e) {
    if (e instanceof Check) throw e;
    eq(Kafka.CODES.ERRORS.ERR_INVALID_PARTITIONS, e.code, `decrease: error code (${errText(e)})`);
  }
  const acks = await produce(ctx, [{ topic: t, partition: 2, key: Buffer.from('k'), value: Buffer.from('in-new-partition') }]);
  eq([2, 0], acks[0], 'acknowledged partition, offset');
  const got = await readAll(ctx, t, [2], 1);
  eq(['in-new-partition'], got.map((m) => m.value.toString()), 'records in partition 2');
  return '1 -> 3 partitions, decrease refused, produce/consume partition 2';
}

await h.main({ metadata, topics, compression, consume, idempotent, group, 'offsets-by-time': offsetsByTime, configs, partitions });
