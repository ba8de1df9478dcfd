/**
 * The "Kafka CLI tools" row: Kafka 3.9's own command-line tools, run as the
 * kafka-*.sh scripts run them (a JVM per command, main class from the jars):
 *
 *   kafka-topics          org.apache.kafka.tools.TopicCommand
 *   kafka-configs         kafka.admin.ConfigCommand
 *   kafka-console-producer kafka.tools.ConsoleProducer
 *   kafka-console-consumer org.apache.kafka.tools.consumer.ConsoleConsumer
 *   kafka-consumer-groups org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
 *   kafka-get-offsets     org.apache.kafka.tools.GetOffsetShell
 *   kafka-cluster         org.apache.kafka.tools.ClusterTool
 *
 * The commands of one broker run one after the other in one JVM
 * (compat-tests/java/ToolRunner.java: each tool's main() with its own
 * stdin/stdout/stderr and exit status), which saves a JVM start per command;
 * COMPAT_CLI_PER_PROCESS=1 runs a JVM per command instead, as the scripts do.
 *
 * Each scenario is a list of commands run in order against both brokers (in
 * parallel). On Kafka a scenario passes when every command does what it
 * should (exit status, expected text). On StreamHouse it must do the same AND
 * print the same output as Kafka did, after normalisation (addresses, ids,
 * timestamps, broker ids); the first difference is reported.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { runCommand } from '../../test/helpers/clients.js';
import { kafkaClasspath, KAFKA_VERSION, LOG4J_TOOLS } from '../../test/helpers/kafka-libs.js';
import { registerCleanup, unwatchGroup, watchGroup } from '../../test/helpers/process.js';
import type { CellResult, ClientDef, PairResult, RunContext, ScenarioId, Target } from './common.js';
import { compatCache, errorText, oneLine, REPO_ROOT, topicName } from './common.js';

const ID = 'kafka-cli';

const TOOLS = {
  topics: 'org.apache.kafka.tools.TopicCommand',
  configs: 'kafka.admin.ConfigCommand',
  producer: 'kafka.tools.ConsoleProducer',
  consumer: 'org.apache.kafka.tools.consumer.ConsoleConsumer',
  groups: 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
  offsets: 'org.apache.kafka.tools.GetOffsetShell',
  cluster: 'org.apache.kafka.tools.ClusterTool',
} as const;
type Tool = keyof typeof TOOLS;

interface Step {
  /** Shown in errors, e.g. "kafka-topics --describe". */
  name: string;
  tool: Tool;
  args: (b: string, v: Vars) => string[];
  input?: (v: Vars) => string;
  /** The command must fail (non-zero exit); its "Error..." line is what is compared. */
  expectFail?: boolean;
  /** Compare the normalised output with Kafka's (default true). */
  compare?: boolean;
  /** Sort output lines before comparing (consumption order across partitions). */
  sortLines?: boolean;
  /** Keep only lines containing the run id (listings of the whole broker). */
  onlyRunLines?: boolean;
  /** Re-run (up to 15 s) until this holds: eventual consistency, in Kafka too. */
  until?: (out: string, v: Vars) => boolean;
  /** Checks on this broker's own output; throws / returns an error text. */
  expect?: (out: string, v: Vars) => string | null;
  /** Extracts variables for later steps. */
  capture?: (out: string, v: Vars) => void;
}

interface Vars {
  run: string;
  t: string;
  g: string;
  [k: string]: string;
}

function jvmArgs(): string[] {
  return ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:-UsePerfData', `-Dlog4j.configuration=file:${LOG4J_TOOLS}`, '-cp', kafkaClasspath()];
}

interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A ToolRunner JVM: runs tool main classes one at a time; respawned after a timeout. */
class ToolSession {
  private child: ChildProcess | null = null;
  private buf = '';
  private waiter: ((line: string | null) => void) | null = null;
  private unregister: (() => void) | null = null;

  private start(): ChildProcess {
    const cp = `${path.join(compatCache(), 'java')}${path.delimiter}${kafkaClasspath()}`;
    const child = spawn('java', [...jvmArgs().slice(0, -2).map((a) => (a === '-Xmx256m' ? '-Xmx512m' : a)), '-cp', cp, 'ToolRunner'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    const pid = child.pid!;
    watchGroup(pid);
    const kill = () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    this.unregister = registerCleanup(async () => kill(), kill);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiter;
        this.waiter = null;
        w?.(line);
      }
    });
    child.on('exit', () => {
      unwatchGroup(pid);
      const w = this.waiter;
      this.waiter = null;
      w?.(null);
      if (this.child === child) this.child = null;
    });
    child.stdin!.on('error', () => undefined);
    this.child = child;
    this.buf = '';
    return child;
  }

  run(mainClass: string, args: string[], input: string, timeoutMs: number): Promise<ToolResult> {
    const child = this.child ?? this.start();
    const b64 = (x: string) => Buffer.from(x, 'utf8').toString('base64');
    return new Promise<ToolResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        this.stop();
        reject(new Error(`timed out after ${timeoutMs} ms (tool JVM killed)`));
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        if (line === null) return reject(new Error('tool JVM exited'));
        try {
          const r = JSON.parse(line) as { code: number; out: string; err: string };
          resolve({ code: r.code, stdout: Buffer.from(r.out, 'base64').toString('utf8'), stderr: Buffer.from(r.err, 'base64').toString('utf8') });
        } catch (e) {
          reject(new Error(`bad ToolRunner answer: ${line.slice(0, 200)}`));
        }
      };
      child.stdin!.write([mainClass, input, ...args].map(b64).join('\t') + '\n');
    });
  }

  stop(): void {
    const c = this.child;
    this.child = null;
    if (c?.pid) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    this.unregister?.();
    this.unregister = null;
  }
}

const PER_PROCESS = process.env.COMPAT_CLI_PER_PROCESS === '1';

async function runTool(session: ToolSession, mainClass: string, args: string[], input: string): Promise<ToolResult> {
  if (!PER_PROCESS) return session.run(mainClass, args, input, 90_000);
  return runCommand('java', [...jvmArgs(), mainClass, ...args], { input, timeoutMs: 90_000, allowFailure: true });
}

function errorLine(out: string): string {
  return (
    out
      .split('\n')
      .find((l) => /^(Error|ERROR|Exception)/.test(l.trim()) || /Error while executing/.test(l))
      ?.trim() ?? out.trim().split('\n')[0] ?? ''
  );
}

/** Normalises what legitimately differs between two brokers and two runs. */
export function normalise(out: string, b: string): string {
  return out
    .split(b)
    .join('<bootstrap>')
    .replace(/\b127\.0\.0\.1:\d+/g, '<host:port>')
    .replace(/(TopicId:\s*)\S+/g, '$1<topic-id>')
    .replace(/(Cluster ID:\s*)\S+/g, '$1<cluster-id>')
    .replace(/\b(Leader|Replicas|Isr|Elr|LastKnownElr):\s*(\d+(,\d+)*)/g, '$1: <broker>')
    .replace(/(CreateTime|LogAppendTime):\d+/g, '$1:<ts>')
    .replace(/[\w.-]*-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<member-id>')
    .replace(/\/127\.0\.0\.1\b/g, '/<client-host>')
    .replace(/[ \t]+$/gm, '')
    .replace(/\s+\n/g, '\n')
    .trim();
}

/** Column-aligned tables differ in padding when a value differs in width; compare cells, not spaces. */
function canon(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(' '))
    .join('\n');
}

function firstDiff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  // Lines only one side has (as multisets): listings differ by missing or extra lines.
  const count = (ls: string[]) => ls.reduce((m, l) => m.set(l, (m.get(l) ?? 0) + 1), new Map<string, number>());
  const cx = count(x);
  const cy = count(y);
  const onlyK = x.filter((l) => {
    const n = cy.get(l) ?? 0;
    if (n > 0) {
      cy.set(l, n - 1);
      return false;
    }
    return true;
  });
  const onlyS = y.filter((l) => {
    const n = cx.get(l) ?? 0;
    if (n > 0) {
      cx.set(l, n - 1);
      return false;
    }
    return true;
  });
  if (!onlyK.length && !onlyS.length) {
    const i = x.findIndex((l, j) => l !== y[j]);
    return `same lines, different order (line ${i + 1}: Kafka ${JSON.stringify(x[i])} vs StreamHouse ${JSON.stringify(y[i])})`;
  }
  const show = (ls: string[]) => ls.slice(0, 6).map((l) => JSON.stringify(l)).join(', ') + (ls.length > 6 ? `, … (${ls.length} lines)` : '');
  const parts: string[] = [];
  if (onlyK.length) parts.push(`only Kafka printed ${show(onlyK)}`);
  if (onlyS.length) parts.push(`only StreamHouse printed ${show(onlyS)}`);
  return parts.join('; ');
}

function scenarioSteps(s: ScenarioId): Step[] | string {
  const topicsArgs = (b: string, ...rest: string[]) => ['--bootstrap-server', b, ...rest];
  switch (s) {
    case 'metadata':
      return [
        { name: 'kafka-cluster cluster-id', tool: 'cluster', args: (b) => ['cluster-id', '--bootstrap-server', b], expect: (o) => (/Cluster ID: \S+/.test(o) ? null : 'no cluster id') },
        { name: 'kafka-topics --create', tool: 'topics', args: (b, v) => topicsArgs(b, '--create', '--topic', v.t, '--partitions', '2', '--replication-factor', '1') },
        { name: 'kafka-topics --list --topic', tool: 'topics', args: (b, v) => topicsArgs(b, '--list', '--topic', v.t), until: (o, v) => o.includes(v.t) },
        { name: 'kafka-get-offsets', tool: 'offsets', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t] },
      ];
    case 'topics':
      return [
        { name: 'kafka-topics --create', tool: 'topics', args: (b, v) => topicsArgs(b, '--create', '--topic', v.t, '--partitions', '3', '--replication-factor', '1', '--config', 'segment.bytes=1048576'), expect: (o, v) => (o.includes(`Created topic ${v.t}.`) ? null : 'no "Created topic"') },
        { name: 'kafka-topics --describe', tool: 'topics', args: (b, v) => topicsArgs(b, '--describe', '--topic', v.t), until: (o) => /Partition: 2/.test(o) },
        { name: 'kafka-topics --create (exists)', tool: 'topics', args: (b, v) => topicsArgs(b, '--create', '--topic', v.t, '--partitions', '3', '--replication-factor', '1'), expectFail: true },
        { name: 'kafka-topics --delete', tool: 'topics', args: (b, v) => topicsArgs(b, '--delete', '--topic', v.t) },
        { name: 'kafka-topics --list (after delete)', tool: 'topics', args: (b) => topicsArgs(b, '--list'), onlyRunLines: true, until: (o, v) => !o.split('\n').includes(v.t) },
        { name: 'kafka-topics --describe (deleted)', tool: 'topics', args: (b, v) => topicsArgs(b, '--describe', '--topic', v.t), expectFail: true },
      ];
    case 'compression': {
      const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
      return [
        ...codecs.map(
          (c): Step => ({
            name: `kafka-console-producer --compression-codec ${c}`,
            tool: 'producer',
            args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--compression-codec', c, '--property', 'parse.key=true'],
            input: () => Array.from({ length: 10 }, (_, i) => `${c}-k${i}\t${c}-value-${i}-${'compressible '.repeat(8)}`).join('\n') + '\n',
          }),
        ),
        {
          name: 'kafka-console-consumer --from-beginning',
          tool: 'consumer',
          args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--from-beginning', '--max-messages', '50', '--timeout-ms', '30000', '--property', 'print.key=true', '--property', 'print.offset=true'],
          expect: (o) => (o.trim().split('\n').filter((l) => l.includes('-value-')).length === 50 ? null : 'did not read 50 records'),
        },
      ];
    }
    case 'consume':
      return [
        {
          name: 'kafka-console-producer (keys, headers, null key)',
          tool: 'producer',
          args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--property', 'parse.key=true', '--property', 'parse.headers=true', '--property', 'null.marker=<NULL>'],
          input: () => ['h1:a,h2:b\tk0\tv0', 'x:1\t<NULL>\tv1', 'h:\tk2\t', 'dup:1,dup:2\tключ\tзначение ✓', 'y:2\t\t<NULL>'].join('\n') + '\n',
        },
        {
          name: 'kafka-console-consumer (print everything)',
          tool: 'consumer',
          args: (b, v) => [
            '--bootstrap-server', b, '--topic', v.t, '--from-beginning', '--max-messages', '5', '--timeout-ms', '30000',
            '--property', 'print.timestamp=true', '--property', 'print.partition=true', '--property', 'print.offset=true',
            '--property', 'print.headers=true', '--property', 'print.key=true', '--property', 'print.value=true', '--property', 'null.literal=<NULL>',
          ],
          expect: (o) => (/CreateTime:\d+/.test(o) && o.includes('ключ') ? null : 'records missing'),
        },
      ];
    case 'idempotent':
      return [
        {
          name: 'kafka-console-producer enable.idempotence=true',
          tool: 'producer',
          args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--request-required-acks', 'all', '--producer-property', 'enable.idempotence=true', '--producer-property', 'batch.size=512'],
          input: () => Array.from({ length: 200 }, (_, i) => `idem-${i}`).join('\n') + '\n',
        },
        { name: 'kafka-get-offsets', tool: 'offsets', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t], expect: (o, v) => (o.includes(`${v.t}:0:200`) ? null : 'end offset is not 200') },
        {
          name: 'kafka-console-consumer',
          tool: 'consumer',
          args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--from-beginning', '--max-messages', '200', '--timeout-ms', '30000', '--property', 'print.offset=true'],
        },
      ];
    case 'group': {
      const produce = (from: number, n: number): Step => ({
        name: `kafka-console-producer (${n} keyed records)`,
        tool: 'producer',
        args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--property', 'parse.key=true'],
        input: () => Array.from({ length: n }, (_, i) => `k${from + i}\tvalue-${from + i}`).join('\n') + '\n',
      });
      const consume = (n: number): Step => ({
        name: `kafka-console-consumer --group (${n})`,
        tool: 'consumer',
        args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--group', v.g, '--from-beginning', '--max-messages', String(n), '--timeout-ms', '30000', '--property', 'print.key=true', '--consumer-property', 'session.timeout.ms=10000'],
        sortLines: true,
      });
      return [
        { name: 'kafka-topics --create', tool: 'topics', args: (b, v) => topicsArgs(b, '--create', '--topic', v.t, '--partitions', '2', '--replication-factor', '1') },
        produce(0, 6),
        { ...consume(6), expect: (o) => (o.trim().split('\n').filter((l) => l.includes('value-')).length === 6 ? null : 'did not read 6 records') },
        { name: 'kafka-consumer-groups --describe', tool: 'groups', args: (b, v) => ['--bootstrap-server', b, '--describe', '--group', v.g], until: (o) => /no active members/.test(o) },
        { name: 'kafka-consumer-groups --list', tool: 'groups', args: (b) => ['--bootstrap-server', b, '--list'], onlyRunLines: true },
        produce(6, 4),
        { ...consume(4), expect: (o) => (o.includes('value-0') ? 'the resumed member read old records' : null) },
        { name: 'kafka-consumer-groups --describe --offsets', tool: 'groups', args: (b, v) => ['--bootstrap-server', b, '--describe', '--offsets', '--group', v.g], until: (o) => /no active members/.test(o) },
        { name: 'kafka-consumer-groups --describe --state', tool: 'groups', args: (b, v) => ['--bootstrap-server', b, '--describe', '--state', '--group', v.g] },
        { name: 'kafka-consumer-groups --reset-offsets --to-earliest --execute', tool: 'groups', args: (b, v) => ['--bootstrap-server', b, '--reset-offsets', '--group', v.g, '--topic', v.t, '--to-earliest', '--execute'] },
        { name: 'kafka-consumer-groups --delete', tool: 'groups', args: (b, v) => ['--bootstrap-server', b, '--delete', '--group', v.g] },
      ];
    }
    case 'offsets-by-time':
      return [
        { name: 'kafka-console-producer (2 records)', tool: 'producer', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t], input: () => 'r0\nr1\n' },
        { name: 'kafka-console-producer (2 more, a JVM start later)', tool: 'producer', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t], input: () => 'r2\nr3\n' },
        {
          name: 'kafka-console-consumer (timestamps)',
          tool: 'consumer',
          args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--from-beginning', '--max-messages', '4', '--timeout-ms', '30000', '--property', 'print.timestamp=true', '--property', 'print.offset=true'],
          capture: (o, v) => {
            const m = [...o.matchAll(/CreateTime:(\d+)\s+Offset:(\d+)/g)];
            v.ts2 = m.find((x) => x[2] === '2')?.[1] ?? '0';
            v.tsAfter = String(Math.max(...m.map((x) => Number(x[1]))) + 100_000);
          },
        },
        { name: 'kafka-get-offsets --time <ts of offset 2>', tool: 'offsets', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--time', v.ts2!], expect: (o, v) => (o.includes(`${v.t}:0:2`) ? null : 'offset for the timestamp of offset 2 is not 2') },
        { name: 'kafka-get-offsets --time -1 (latest)', tool: 'offsets', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--time', '-1'] },
        { name: 'kafka-get-offsets --time -2 (earliest)', tool: 'offsets', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--time', '-2'] },
        // (--time -3, max timestamp, is left to the Java client's scenario: the console producer's
        // timestamps differ between the brokers' runs, so which record holds the max differs too)
        { name: 'kafka-get-offsets --time <after the last>', tool: 'offsets', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--time', v.tsAfter!] },
      ];
    case 'configs': {
      const cfg = (b: string, v: Vars, ...rest: string[]) => ['--bootstrap-server', b, '--entity-type', 'topics', '--entity-name', v.t, ...rest];
      return [
        { name: 'kafka-topics --create --config retention.ms=86400000', tool: 'topics', args: (b, v) => topicsArgs(b, '--create', '--topic', v.t, '--partitions', '1', '--replication-factor', '1', '--config', 'retention.ms=86400000') },
        { name: 'kafka-configs --describe', tool: 'configs', args: (b, v) => cfg(b, v, '--describe'), until: (o) => o.includes('retention.ms=86400000') },
        { name: 'kafka-configs --alter --add-config', tool: 'configs', args: (b, v) => cfg(b, v, '--alter', '--add-config', 'retention.ms=3600000,max.message.bytes=2000000') },
        { name: 'kafka-configs --describe (after --add-config)', tool: 'configs', args: (b, v) => cfg(b, v, '--describe'), until: (o) => o.includes('retention.ms=3600000') },
        { name: 'kafka-configs --alter --delete-config', tool: 'configs', args: (b, v) => cfg(b, v, '--alter', '--delete-config', 'retention.ms') },
        { name: 'kafka-configs --describe --all', tool: 'configs', args: (b, v) => cfg(b, v, '--describe', '--all'), until: (o) => /retention\.ms=604800000/.test(o) },
        { name: 'kafka-configs --alter (invalid value)', tool: 'configs', args: (b, v) => cfg(b, v, '--alter', '--add-config', 'retention.ms=not-a-number'), expectFail: true },
      ];
    }
    case 'partitions':
      return [
        { name: 'kafka-topics --create', tool: 'topics', args: (b, v) => topicsArgs(b, '--create', '--topic', v.t, '--partitions', '1', '--replication-factor', '1') },
        { name: 'kafka-topics --alter --partitions 3', tool: 'topics', args: (b, v) => topicsArgs(b, '--alter', '--topic', v.t, '--partitions', '3') },
        { name: 'kafka-topics --describe', tool: 'topics', args: (b, v) => topicsArgs(b, '--describe', '--topic', v.t), until: (o) => /Partition: 2/.test(o) },
        { name: 'kafka-topics --alter --partitions 2 (decrease)', tool: 'topics', args: (b, v) => topicsArgs(b, '--alter', '--topic', v.t, '--partitions', '2'), expectFail: true },
        { name: 'kafka-get-offsets', tool: 'offsets', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t] },
      ];
  }
}

interface StepOutcome {
  name: string;
  ok: boolean;
  out: string;
  error?: string;
}

async function runSteps(steps: Step[], target: Target, vars: Vars, session: ToolSession): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const st of steps) {
    const deadline = Date.now() + 15_000;
    let o: StepOutcome;
    for (;;) {
      const args = st.args(target.bootstrap, vars);
      let out = '';
      let code: number | null = null;
      try {
        const r = await runTool(session, TOOLS[st.tool], args, st.input?.(vars) ?? '');
        code = r.code;
        out = st.expectFail ? `${r.stdout}\n${r.stderr}` : r.stdout;
        if (!st.expectFail && code !== 0) out += `\n${r.stderr}`;
      } catch (e) {
        o = { name: st.name, ok: false, out: '', error: errorText(e).split('\n')[0] };
        break;
      }
      let text = st.expectFail ? errorLine(out) : out;
      if (st.onlyRunLines) text = text.split('\n').filter((l) => l.includes(vars.run)).join('\n');
      if (st.sortLines) text = text.split('\n').filter(Boolean).sort().join('\n');
      let err: string | undefined;
      if (st.expectFail && code === 0) err = 'succeeded, should have failed';
      else if (!st.expectFail && code !== 0) err = `exit ${code}: ${oneLine(out.split('\n').filter((l) => l.trim()).slice(-3).join(' | '), 400)}`;
      else err = st.expect?.(out, vars) ?? undefined;
      if (!err) st.capture?.(out, vars);
      o = { name: st.name, ok: !err, out: normalise(text, target.bootstrap), error: err };
      if (!st.until || st.until(out, vars) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    outcomes.push(o);
    if (!o.ok && !st.expectFail) break; // later steps depend on this one
  }
  return outcomes;
}

async function runScenario(s: ScenarioId, ctx: RunContext, sessions: ToolSession[]): Promise<PairResult> {
  const steps = scenarioSteps(s);
  const pair = {} as PairResult;
  if (typeof steps === 'string') {
    for (const t of ctx.targets) pair[t.name] = { status: 'unsupported', detail: steps };
    return pair;
  }
  const t0 = Date.now();
  const base = { run: ctx.runId, t: topicName(ID, s, ctx.runId), g: topicName(ID, s, ctx.runId) };
  const outcomes = await Promise.all(ctx.targets.map((t, i) => runSteps(steps, t, { ...base }, sessions[i]!)));
  const ms = Date.now() - t0;
  const kIdx = ctx.targets.findIndex((t) => t.name === 'kafka');
  const kafkaOut = kIdx >= 0 ? outcomes[kIdx]! : null;
  ctx.targets.forEach((t, i) => {
    const mine = outcomes[i]!;
    const failed = mine.find((o) => !o.ok);
    let res: CellResult;
    if (failed) res = { status: 'fail', error: `${failed.name}: ${failed.error}`, ms };
    else if (mine.length < steps.length) res = { status: 'fail', error: 'not every command ran', ms };
    else res = { status: 'pass', detail: `${steps.length} commands${t.name === 'streamhouse' && kafkaOut ? ', output equal to Kafka\'s' : ''}`, ms };
    if (res.status === 'pass' && t.name !== 'kafka' && kafkaOut) {
      const diffs: string[] = [];
      mine.forEach((o, j) => {
        const k = kafkaOut[j];
        if (!k || !k.ok || steps[j]!.compare === false) return;
        if (canon(k.out) !== canon(o.out)) diffs.push(`${o.name}: ${firstDiff(canon(k.out), canon(o.out))}`);
      });
      if (diffs.length) res = { status: 'fail', error: `output differs from Kafka's — ${diffs.join('; ')}`, ms };
    }
    pair[t.name] = res;
  });
  return pair;
}

export function kafkaCliClient(): ClientDef {
  return {
    id: ID,
    label: 'Kafka CLI tools 3.9',
    quick: true,
    version: async () => `Apache Kafka ${KAFKA_VERSION} tools: kafka-topics, kafka-configs, kafka-console-producer/-consumer, kafka-consumer-groups, kafka-get-offsets, kafka-cluster`,
    available: async () => null,
    run: async (ctx: RunContext, scenarios: ScenarioId[]) => {
      const out = new Map<string, PairResult>();
      const sessions = ctx.targets.map(() => new ToolSession());
      try {
        for (const s of scenarios) {
          const pair = await runScenario(s, ctx, sessions);
          if (ctx.verbose) ctx.log(`  [kafka-cli] ${s}: ${Object.entries(pair).map(([b, r]) => `${b}=${r.status} ${r.error ?? ''}`).join(' / ')}`);
          out.set(s, pair);
        }
      } finally {
        for (const x of sessions) x.stop();
      }
      return out;
    },
  };
}

/** For debugging: the normalised outputs of one scenario on both brokers (npx tsx compat-tests/lib/kafka-cli.ts S B1 B2). */
export async function debugScenario(s: ScenarioId, targets: Target[], runId: string): Promise<void> {
  const steps = scenarioSteps(s);
  if (typeof steps === 'string') return;
  for (const t of targets) {
    const session = new ToolSession();
    const outs = await runSteps(steps, t, { run: runId, t: topicName(ID, s, runId), g: topicName(ID, s, runId) }, session);
    session.stop();
    process.stdout.write(`===== ${t.name}\n`);
    for (const o of outs) process.stdout.write(`--- ${o.name} ${o.ok ? 'ok' : `FAILED ${o.error}`}\n${o.out}\n`);
  }
}
