// A kafkajs 2.2 client of the fault workload, as its own process (so a
// scenario can kill -9 or SIGSTOP it); lib/workload.ts runs it.
//
//   node kafkajs_client.mjs MODE --bootstrap H:P,... --topics a:4,b:4 --name N [--seed S]
//     produce   [--rate R]           idempotent acks=all producer; ONE partition per send() (kafkajs
//                                     issue #1303: a send() spanning brokers can lose messages on a
//                                     leader change); a new producer (new producer id) after a failed send
//     seek      [--seek-every SEC]   a group of one reading every partition; now and then seeks one back
//     group     --group G            a member of group G, auto-commit
//     readback                       every partition from the start to its high watermark, then exits
//
// Runs until SIGTERM (readback: until done). One JSON line per event on stdout, as rdkafka_client.py:
//   {"s": [topic, partition, value, offset|null, error|null, t]}  {"p": [topic, partition, offset, value, t]}
//   {"r": [topic, partition, t]}  {"b": [topic, partition, offset, value, "producerId:epoch:firstSequence@firstOffset"]}
//   {"err": "..."}  {"done": {...}}
import { Kafka, logLevel } from 'kafkajs';

const [mode, ...rest] = process.argv.slice(2);
const args = {};
for (let i = 0; i < rest.length; i += 2) args[rest[i].replace(/^--/, '')] = rest[i + 1];
const name = args.name;
const tps = [];
for (const part of args.topics.split(',')) {
  const [t, n] = part.split(':');
  for (let q = 0; q < Number(n); q++) tps.push({ topic: t, partition: q });
}
const topics = [...new Set(tps.map((x) => x.topic))];

// Seeded PRNG (mulberry32).
let seed = Number(args.seed ?? 1) >>> 0;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

let buffered = [];
const out = (o) => {
  buffered.push(JSON.stringify(o));
  if (buffered.length >= 200) flush();
};
const flush = () => {
  if (buffered.length) process.stdout.write(buffered.join('\n') + '\n');
  buffered = [];
};
setInterval(flush, 50).unref();

let stopping = false;
const stopHandlers = [];
process.on('SIGTERM', () => {
  stopping = true;
  for (const h of stopHandlers) h();
});

const errText = (e) => {
  const parts = [];
  for (let x = e; x; x = x.originalError ?? x.cause) {
    parts.push(`${x.type ?? x.name ?? 'Error'}: ${x.message}`);
    if (parts.length > 3) break;
  }
  return parts.join(' <- ');
};

const kafka = new Kafka({
  clientId: name,
  brokers: args.bootstrap.split(','),
  logLevel: logLevel.NOTHING,
  connectionTimeout: 3000,
  requestTimeout: 15000,
  retry: { retries: 6, initialRetryTime: 100, maxRetryTime: 2000 },
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function produce() {
  const rate = Number(args.rate ?? 100);
  const make = () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: { retries: 6, initialRetryTime: 100, maxRetryTime: 2000 } });
  let producer = make();
  let producers = 1;
  const perTp = new Map();
  let seq = 0;
  let acked = 0;
  let failed = 0;
  const start = Date.now();
  let connected = false;
  while (!stopping) {
    if (!connected) {
      try {
        await producer.connect();
        connected = true;
      } catch (e) {
        out({ err: `connect: ${errText(e)}` });
        await sleep(200);
        continue;
      }
    }
    // Pace: stay at `rate` messages per second.
    const ahead = seq - ((Date.now() - start) / 1000) * rate;
    if (ahead > 0) await sleep(Math.min(200, (ahead / rate) * 1000));
    const tp = tps[Math.floor(rand() * tps.length)];
    const key = `${tp.topic}/${tp.partition}`;
    const n = 1 + Math.floor(rand() * 4);
    const messages = [];
    for (let i = 0; i < n; i++) {
      const c = perTp.get(key) ?? 0;
      perTp.set(key, c + 1);
      messages.push({ key: `${name}-${tp.topic}-${tp.partition}-k${Math.floor(c / 200)}`, value: `${name}-${seq++}` });
    }
    try {
      const res = await producer.send({ topic: tp.topic, acks: -1, timeout: 15000, messages: messages.map((m) => ({ ...m, partition: tp.partition })) });
      const t = Date.now();
      const r = res.find((x) => x.topicName === tp.topic && x.partition === tp.partition);
      const base = Number(r.baseOffset);
      messages.forEach((m, i) => out({ s: [tp.topic, tp.partition, m.value, base + i, null, t] }));
      acked += n;
    } catch (e) {
      const t = Date.now();
      const text = errText(e);
      for (const m of messages) out({ s: [tp.topic, tp.partition, m.value, null, text, t] });
      failed += n;
      // kafkajs reuses the failed batch's sequence numbers for the next batch: a new producer id instead.
      await producer.disconnect().catch(() => {});
      producer = make();
      producers++;
      connected = false;
    }
  }
  await producer.disconnect().catch(() => {});
  out({ done: { sent: seq, acked, failed, producers } });
}

function onJoin(consumer, onDead) {
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const t = Date.now();
    for (const [topic, parts] of Object.entries(e.payload.memberAssignment)) for (const q of parts) out({ r: [topic, q, t] });
  });
  consumer.on(consumer.events.CRASH, (e) => {
    out({ err: `crash${e.payload.restart ? ' (restarts)' : ''}: ${errText(e.payload.error)}` });
    if (!e.payload.restart) onDead();
  });
}

// Runs a consumer until SIGTERM; one that crashed for good (kafkajs does not
// restart it) is replaced by a new one (its GROUP_JOIN resets positions).
async function consume(groupId, opts, onPoll, tick) {
  let polled = 0;
  let current = null;
  const timer = tick ? setInterval(() => current && tick(current), 100) : null;
  while (!stopping) {
    let dead;
    const died = new Promise((r) => (dead = r));
    const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 1000, rebalanceTimeout: 10000, maxWaitTimeInMs: 200, retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 2000 } });
    onJoin(consumer, () => dead('dead'));
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        ...opts,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          for (const m of batch.messages) {
            if (!isRunning() || isStale()) break;
            out({ p: [batch.topic, batch.partition, Number(m.offset), m.value.toString(), Date.now()] });
            onPoll?.(batch.topic, batch.partition, Number(m.offset));
            polled++;
            resolveOffset(m.offset);
          }
          await heartbeat();
        },
      });
      current = consumer;
      await Promise.race([died, new Promise((r) => stopHandlers.push(r))]);
    } catch (e) {
      out({ err: `consumer: ${errText(e)}` });
      await sleep(500);
    }
    current = null;
    await consumer.disconnect().catch(() => {});
  }
  if (timer) clearInterval(timer);
  return polled;
}

async function seekMode() {
  const every = Number(args['seek-every'] ?? 3) * 1000;
  const pos = new Map();
  let next = Date.now() + (0.5 + rand() * 1.5) * every;
  let seeks = 0;
  const polled = await consume(
    `seek-${name}`,
    { autoCommit: false },
    (topic, partition, offset) => pos.set(`${topic}|${partition}`, { topic, partition, offset }),
    (consumer) => {
      if (Date.now() < next || pos.size === 0) return;
      next = Date.now() + (0.5 + rand()) * every;
      const all = [...pos.values()].sort((a, b) => (a.topic + a.partition < b.topic + b.partition ? -1 : 1));
      const x = all[Math.floor(rand() * all.length)];
      const target = Math.max(0, x.offset - Math.floor(rand() * 500));
      out({ r: [x.topic, x.partition, Date.now()] });
      try {
        consumer.seek({ topic: x.topic, partition: x.partition, offset: String(target) });
        seeks++;
      } catch (e) {
        out({ err: `seek: ${errText(e)}` });
      }
    },
  );
  out({ done: { polled, seeks } });
}

async function groupMode() {
  const polled = await consume(args.group, { autoCommit: true, autoCommitInterval: 500 });
  out({ done: { polled } });
}

async function readback() {
  const admin = kafka.admin();
  await admin.connect();
  const high = new Map();
  for (const topic of topics) {
    for (const o of await admin.fetchTopicOffsets(topic)) high.set(`${topic}|${o.partition}`, Number(o.high));
  }
  await admin.disconnect();
  const pos = new Map([...high.keys()].map((k) => [k, 0]));
  const left = () => [...high].filter(([k, h]) => pos.get(k) < h).length;
  const consumer = kafka.consumer({ groupId: `readback-${name}`, maxWaitTimeInMs: 200, maxBytesPerPartition: 4 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let done;
  const finished = new Promise((r) => (done = r));
  if (left() === 0) done();
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset }) => {
      const k = `${batch.topic}|${batch.partition}`;
      for (const m of batch.messages) {
        const o = Number(m.offset);
        if (o >= high.get(k)) break;
        const c = m.batchContext ?? {};
        out({ b: [batch.topic, batch.partition, o, m.value.toString(), `${c.producerId}:${c.producerEpoch}:${c.firstSequence}@${c.firstOffset}`] });
        pos.set(k, o + 1);
        resolveOffset(m.offset);
      }
      if (left() === 0) done();
    },
  });
  await finished;
  flush();
  await consumer.disconnect().catch(() => {});
  out({ done: { high: Object.fromEntries(high) } });
}

// Exits once stdout has taken everything (process.exit alone cuts a pipe's pending writes).
const exit = async (code) => {
  flush();
  await new Promise((r) => process.stdout.write('', r));
  process.exit(code);
};
const modes = { produce, seek: seekMode, group: groupMode, readback };
try {
  await modes[mode]();
} catch (e) {
  out({ err: `fatal: ${errText(e)}`, fatal: true });
  await exit(1);
}
await exit(0);
