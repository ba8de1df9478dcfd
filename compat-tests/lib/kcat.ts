/**
 * The kcat row (Debian kcat 1.7, librdkafka 2.0): the scenarios as kcat
 * command lines (producer -P, consumer -C with -J output, balanced consumer
 * -G, metadata -L, offset query -Q). kcat has no admin commands: topics,
 * configs and partitions are unsupported; topics are auto-created by the
 * producer (both brokers run with auto.create.topics.enable=true,
 * num.partitions=1). kcat cannot set record timestamps or send binary values
 * from lines, so the consume scenario checks timestamps against the produce
 * window and leaves the binary record out.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCommand, type RunResult } from '../../test/helpers/clients.js';
import { sleep } from '../../test/helpers/process.js';
import type { CellResult, ClientDef, PairResult, RunContext, ScenarioId, Target } from './common.js';
import { errorText, topicName } from './common.js';

const KCAT = process.env.STREAMHOUSE_KCAT ?? 'kcat';
const ID = 'kcat';

class Check extends Error {}
class Unsupported extends Error {}

function check(ok: unknown, what: string): void {
  if (!ok) throw new Check(what);
}
function eq(want: unknown, got: unknown, what: string): void {
  const w = JSON.stringify(want);
  const g = JSON.stringify(got);
  if (w !== g) throw new Check(`${what}: want ${w}, got ${g}`);
}

async function kcat(args: string[], input?: string): Promise<RunResult> {
  const r = await runCommand(KCAT, args, { input, timeoutMs: 45_000, allowFailure: true });
  if (r.code !== 0 || /% ERROR|Delivery failed|Failed to/i.test(r.stderr)) {
    throw new Check(`kcat ${args.join(' ')} -> exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return r;
}

interface JMsg {
  partition: number;
  offset: number;
  tstype: string;
  ts: number;
  headers?: string[];
  key: string | null;
  payload: string | null;
}

async function produceLines(b: string, t: string, lines: string[], extra: string[] = []): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-kcat-'));
  try {
    const f = path.join(dir, 'in.txt');
    fs.writeFileSync(f, lines.join('\n') + '\n');
    await kcat(['-P', '-b', b, '-t', t, '-X', 'acks=all', '-l', f, ...extra]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function consumeJson(b: string, t: string, extra: string[] = ['-o', 'beginning']): Promise<JMsg[]> {
  const r = await kcat(['-C', '-b', b, '-t', t, '-e', '-q', '-J', ...extra]);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as JMsg)
    .sort((a, c) => a.partition - c.partition || a.offset - c.offset);
}

async function metadata(b: string, run: string): Promise<string> {
  const t = topicName(ID, 'metadata', run);
  await produceLines(b, t, ['hello']);
  const md = JSON.parse((await kcat(['-L', '-J', '-b', b, '-t', t])).stdout) as {
    brokers: Array<{ id: number; name: string }>;
    controllerid: number;
    topics: Array<{ topic: string; error?: string; partitions: Array<{ partition: number; leader: number }> }>;
  };
  check(md.brokers.some((x) => x.name === b), `bootstrap ${b} not among the brokers ${md.brokers.map((x) => x.name).join(',')}`);
  const tm = md.topics.find((x) => x.topic === t);
  check(tm && !tm.error, `topic ${t}: ${tm?.error ?? 'missing'}`);
  eq(1, tm!.partitions.length, 'partitions of the auto-created topic');
  check(tm!.partitions[0]!.leader >= 0, 'partition 0 has no leader');
  return `brokers=${md.brokers.length} controller=${md.controllerid}`;
}

async function compression(b: string, run: string): Promise<string> {
  const failed: string[] = [];
  const n = 50;
  const val = (codec: string, i: number) => {
    let s = `${codec}-${i}-`;
    while (s.length < 200) s += 'compressible payload ';
    return s;
  };
  for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
    try {
      const t = topicName(ID, `compression-${codec}`, run);
      await produceLines(b, t, Array.from({ length: n }, (_, i) => `k${i}\t${val(codec, i)}`), ['-K', '\t', '-z', codec]);
      const got = await consumeJson(b, t);
      eq(n, got.length, 'records read back');
      got.forEach((m, i) => {
        eq([i, `k${i}`, val(codec, i)], [m.offset, m.key, m.payload], `record ${i}`);
      });
    } catch (e) {
      failed.push(`${codec}: ${errorText(e)}`);
    }
  }
  if (failed.length) throw new Check(failed.join('; '));
  return 'none,gzip,snappy,lz4,zstd';
}

async function consume(b: string, run: string): Promise<string> {
  const t = topicName(ID, 'consume', run);
  // [key|null, value, headers]: one kcat per record (-H applies to every record of a run)
  const recs: Array<[string | null, string, string[][]]> = [
    ['k0', 'v0', [['h1', 'a'], ['h2', 'b']]],
    [null, 'v1', []],
    ['k2', '', [['h', '']]],
    ['ключ', 'значение ✓', [['dup', '1'], ['dup', '2']]],
  ];
  const t0 = Date.now();
  for (const [k, v, hs] of recs) {
    const extra = hs.flatMap(([hk, hv]) => ['-H', `${hk}=${hv}`]);
    if (k === null) await produceLines(b, t, [v], extra);
    else await produceLines(b, t, [`${k}\t${v}`], ['-K', '\t', ...extra]);
  }
  const t1 = Date.now();
  const got = await consumeJson(b, t);
  eq(recs.length, got.length, 'records read back');
  got.forEach((m, i) => {
    const [k, v, hs] = recs[i]!;
    eq([i, k, v], [m.offset, m.key, m.payload], `offset, key, value of record ${i}`);
    eq(hs.flat(), m.headers ?? [], `headers of record ${i}`);
    eq('create', m.tstype, `timestamp type of record ${i}`);
    check(m.ts >= t0 - 1000 && m.ts <= t1 + 1000, `timestamp of record ${i} (${m.ts}) outside the produce window ${t0}..${t1}`);
  });
  return `${recs.length} records: keys (null, utf-8), values (empty), headers (empty value, duplicate keys), CreateTime (kcat cannot set timestamps, binary values, null values)`;
}

async function idempotent(b: string, run: string): Promise<string> {
  const t = topicName(ID, 'idempotent', run);
  const n = 100;
  for (let round = 0; round < 2; round++) {
    await produceLines(b, t, Array.from({ length: n }, (_, i) => `idem-${round}-${i}`), ['-X', 'enable.idempotence=true', '-X', 'batch.size=1024', '-p', '0']);
  }
  const got = await consumeJson(b, t);
  eq(2 * n, got.length, 'records read back');
  got.forEach((m, i) => eq(i, m.offset, `offset of record ${i}`));
  eq(2 * n, new Set(got.map((m) => m.payload)).size, 'distinct records');
  return `${2 * n} records (2 producer runs), offsets contiguous, no duplicates`;
}

async function group(b: string, run: string): Promise<string> {
  const t = topicName(ID, 'group', run);
  const g = topicName(ID, 'group', run);
  await produceLines(b, t, Array.from({ length: 6 }, (_, i) => `first-${i}`));
  const member = async () => {
    // -G: balanced consumer (subscribe); commits its offsets on close; -e: exit at the end
    const r = await kcat(['-b', b, '-G', g, '-X', 'auto.offset.reset=earliest', '-X', 'session.timeout.ms=10000', '-e', '-q', '-f', '%s\n', t]);
    return r.stdout.split('\n').filter(Boolean).sort();
  };
  eq(Array.from({ length: 6 }, (_, i) => `first-${i}`), await member(), "first member's records");
  await produceLines(b, t, Array.from({ length: 4 }, (_, i) => `second-${i}`));
  eq(Array.from({ length: 4 }, (_, i) => `second-${i}`), await member(), "second member's records (resumed from the commit)");
  return '6 records, commit on close, 4 more, resume: exactly the 4 new (kcat cannot read committed offsets)';
}

async function offsetsByTime(b: string, run: string): Promise<string> {
  const t = topicName(ID, 'offsets-by-time', run);
  // kcat cannot set timestamps: 3 producer runs ~1.1 s apart give 3 distinct CreateTimes
  for (let i = 0; i < 3; i++) {
    if (i) await sleep(1100);
    await produceLines(b, t, [`t${i}`], ['-p', '0']);
  }
  const ts = (await consumeJson(b, t)).map((m) => m.ts);
  eq(3, ts.length, 'records');
  const q = async (x: number) => {
    const out = (await kcat(['-Q', '-b', b, '-t', `${t}:0:${x}`])).stdout;
    const m = /offset (-?\d+)/.exec(out);
    check(m, `kcat -Q output: ${out.trim()}`);
    return Number(m![1]);
  };
  eq(1, await q(ts[1]! - 500), 'offset for a timestamp between records 0 and 1');
  eq(0, await q(ts[0]! - 5000), 'offset for a timestamp before the first record');
  eq(-1, await q(ts[2]! + 10_000), 'offset for a timestamp after the last record (-1: none)');
  eq(0, await q(-2), 'earliest');
  eq(3, await q(-1), 'latest');
  return 'by timestamp (hit, before first, after last), earliest, latest (kcat -Q)';
}

const SCENARIOS: Partial<Record<ScenarioId, (b: string, run: string) => Promise<string>>> = {
  metadata,
  compression,
  consume,
  idempotent,
  group,
  'offsets-by-time': offsetsByTime,
};
const UNSUPPORTED: Partial<Record<ScenarioId, string>> = {
  topics: 'kcat has no command to create, describe or delete topics',
  configs: 'kcat has no command to describe or alter configs',
  partitions: 'kcat has no command to create partitions',
};

async function runOne(s: ScenarioId, target: Target, run: string): Promise<CellResult> {
  const t0 = Date.now();
  if (UNSUPPORTED[s]) return { status: 'unsupported', detail: UNSUPPORTED[s] };
  try {
    const detail = await SCENARIOS[s]!(target.bootstrap, run);
    return { status: 'pass', detail, ms: Date.now() - t0 };
  } catch (e) {
    if (e instanceof Unsupported) return { status: 'unsupported', detail: e.message };
    return { status: 'fail', error: errorText(e), ms: Date.now() - t0 };
  }
}

export function kcatClient(): ClientDef {
  return {
    id: ID,
    label: 'kcat (Debian)',
    quick: true,
    version: async () => {
      const r = await runCommand(KCAT, ['-V'], { allowFailure: true, timeoutMs: 10_000 });
      const text = r.stdout + r.stderr;
      const lib = /librdkafka ([\d.]+)/.exec(text)?.[1];
      return `kcat ${/Version ([^\s]+)/.exec(text)?.[1] ?? '?'}${lib ? ` / librdkafka ${lib}` : ''}`;
    },
    available: async () => {
      try {
        await runCommand(KCAT, ['-V'], { timeoutMs: 10_000, allowFailure: true });
        return null;
      } catch (e) {
        return `kcat not runnable: ${errorText(e)}`;
      }
    },
    run: async (ctx: RunContext, scenarios: ScenarioId[]) => {
      const out = new Map<string, PairResult>();
      for (const s of scenarios) {
        const rs = await Promise.all(ctx.targets.map((t) => runOne(s, t, ctx.runId)));
        const pair = {} as PairResult;
        ctx.targets.forEach((t, i) => (pair[t.name] = rs[i]!));
        if (ctx.verbose) ctx.log(`  [kcat] ${s}: ${rs.map((r) => `${r.status} ${r.error ?? ''}`).join(' / ')}`);
        out.set(s, pair);
      }
      return out;
    },
  };
}
