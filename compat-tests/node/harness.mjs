// The compat line protocol for the Node client programs (compat-tests/node/*.mjs):
//
//   node prog.mjs --bootstrap B --run RUNID --client ID --scenarios a,b,c
//
// prints, per scenario in order, {"event":"start",...} and
// {"event":"result","scenario":...,"status":"pass|fail|unsupported","detail":...,"error":...,"ms":N}.
// A scenario is an async function(ctx) returning a detail string; it throws
// Unsupported (the client cannot) or anything else (fail).
export const SCENARIO_TIMEOUT_MS = 90_000;

export class Unsupported extends Error {}
export class Check extends Error {}

export function check(ok, what) {
  if (!ok) throw new Check(what);
}

const show = (v) => (Buffer.isBuffer(v) ? `bytes(${v.toString('base64')})` : JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x)));

export function eq(want, got, what) {
  if (show(want) !== show(got)) throw new Check(`${what}: want ${show(want)}, got ${show(got)}`);
}

/** Compares nullable buffers: null/undefined (null) differs from an empty buffer. */
export function bufEq(want, got, what) {
  const w = want == null ? null : Buffer.from(want);
  const g = got == null ? null : Buffer.from(got);
  if ((w === null) !== (g === null) || (w && !w.equals(g))) throw new Check(`${what}: want ${w === null ? 'null' : show(w)}, got ${g === null ? 'null' : show(g)}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const ts0 = () => (Math.floor(Date.now() / 1000) - 3600) * 1000;

export function codecValue(codec, i) {
  let s = `${codec}-${i}-`;
  while (s.length < 200) s += 'compressible payload ';
  return s;
}

/** The records of the "consume" scenario: key, value, headers [[k, v]], dt from ts0. */
export function consumeRecords() {
  return [
    { key: Buffer.from('k0'), value: Buffer.from('v0'), headers: [['h1', 'a'], ['h2', 'b']], dt: 0 },
    { key: null, value: Buffer.from('v1'), headers: [], dt: 1 },
    { key: Buffer.from('k2'), value: Buffer.alloc(0), headers: [['h', '']], dt: 2 },
    { key: Buffer.from('k3'), value: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), headers: [], dt: 3 },
    { key: Buffer.from('ключ'), value: Buffer.from('значение ✓'), headers: [['dup', '1'], ['dup', '2']], dt: 4 },
    { key: Buffer.alloc(0), value: null, headers: [], dt: 5 },
  ];
}
export const CONSUME_DETAIL = '6 records: keys (null, empty, utf-8), values (empty, binary, null), headers (empty value, duplicate keys), timestamps';

export function configMismatches(got, exps) {
  const bad = [];
  for (const [name, value, source] of exps) {
    const e = got[name];
    if (!e) {
      bad.push(`config ${name} missing from DescribeConfigs`);
      continue;
    }
    if (e[0] !== value) bad.push(`value of ${name}: want ${value}, got ${e[0]}`);
    if (e[1] !== source) bad.push(`source of ${name} (=${e[0]}): want ${source}, got ${e[1]}`);
  }
  return bad;
}

/** Describes until the expectations hold (configs reach brokers asynchronously, in Kafka too) or 5 s passed. */
export async function settleConfigs(describe, exps, bad) {
  const deadline = Date.now() + 5000;
  for (;;) {
    let miss;
    try {
      miss = configMismatches(await describe(), exps);
    } catch (e) {
      // Kafka answers UNKNOWN_TOPIC_OR_PARTITION until a just-created topic reaches the broker's metadata cache.
      if (Date.now() > deadline) throw e;
      await sleep(250);
      continue;
    }
    if (miss.length === 0 || Date.now() > deadline) {
      bad.push(...miss);
      return;
    }
    await sleep(250);
  }
}

export const SOURCES = { 1: 'DYNAMIC_TOPIC_CONFIG', 2: 'DYNAMIC_BROKER_CONFIG', 3: 'DYNAMIC_DEFAULT_BROKER_CONFIG', 4: 'STATIC_BROKER_CONFIG', 5: 'DEFAULT_CONFIG', 6: 'DYNAMIC_BROKER_LOGGER_CONFIG' };

function out(o) {
  process.stdout.write(JSON.stringify(o) + '\n');
}

export async function main(scenarios) {
  const a = process.argv.slice(2);
  const arg = (n) => {
    const i = a.indexOf(n);
    return i >= 0 ? a[i + 1] : undefined;
  };
  const ctx = {
    bootstrap: arg('--bootstrap'),
    run: arg('--run'),
    client: arg('--client'),
    topic(s) {
      return `compat-${this.client}-${s}-${this.run}`;
    },
    group(s) {
      return `compat-${this.client}-${s}-${this.run}`;
    },
  };
  process.on('unhandledRejection', (e) => process.stderr.write(`unhandled rejection: ${e?.stack ?? e}\n`));
  for (const name of (arg('--scenarios') ?? '').split(',').filter(Boolean)) {
    out({ event: 'start', scenario: name });
    const t0 = Date.now();
    const res = { event: 'result', scenario: name, status: 'pass', detail: null, error: null };
    const fn = scenarios[name];
    try {
      if (!fn) throw new Unsupported('no such scenario in this client program');
      let timer;
      res.detail = await Promise.race([
        fn(ctx),
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Check(`scenario timed out after ${SCENARIO_TIMEOUT_MS / 1000} s`)), SCENARIO_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    } catch (e) {
      if (e instanceof Unsupported) {
        res.status = 'unsupported';
        res.detail = e.message;
      } else {
        res.status = 'fail';
        res.error = e instanceof Check ? e.message : `${e?.name ?? 'Error'}: ${e?.message ?? e}${e?.cause ? ` (cause: ${e.cause.message ?? e.cause})` : ''}`;
        if (!(e instanceof Check)) process.stderr.write(`${e?.stack ?? e}\n`);
      }
    }
    res.ms = Date.now() - t0;
    out(res);
  }
  process.exit(0);
}
