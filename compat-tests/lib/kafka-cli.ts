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
 * Each scenario is a list of commands run in order against both brokers (in
 * parallel). On Kafka a scenario passes when every command does what it
 * should (exit status, expected text). On StreamHouse it must do the same AND
 * print the same output as Kafka did, after normalisation (addresses, ids,
 * timestamps, broker ids); the first difference is reported.
 */
import { runCommand } from '../../test/helpers/clients.js';
import { kafkaClasspath, KAFKA_VERSION, LOG4J_TOOLS } from '../../test/helpers/kafka-libs.js';
import type { CellResult, ClientDef, PairResult, RunContext, ScenarioId, Target } from './common.js';
import { errorText, oneLine, topicName } from './common.js';

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
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}: Kafka ${JSON.stringify(x[i] ?? '<end>')} vs StreamHouse ${JSON.stringify(y[i] ?? '<end>')}`;
  }
  return '';
}

const ts = (s: string) => s;

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
          ].map(ts),
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
        { name: 'kafka-get-offsets --time -3 (max timestamp)', tool: 'offsets', args: (b, v) => ['--bootstrap-server', b, '--topic', v.t, '--time', '-3'] },
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

async function runSteps(steps: Step[], target: Target, vars: Vars): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const st of steps) {
    const deadline = Date.now() + 15_000;
    let o: StepOutcome;
    for (;;) {
      const args = st.args(target.bootstrap, vars);
      let out = '';
      let code: number | null = null;
      try {
        const r = await runCommand('java', [...jvmArgs(), TOOLS[st.tool], ...args], { input: st.input?.(vars) ?? '', timeoutMs: 90_000, allowFailure: true });
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

async function runScenario(s: ScenarioId, ctx: RunContext): Promise<PairResult> {
  const steps = scenarioSteps(s);
  const pair = {} as PairResult;
  if (typeof steps === 'string') {
    for (const t of ctx.targets) pair[t.name] = { status: 'unsupported', detail: steps };
    return pair;
  }
  const t0 = Date.now();
  const base = { run: ctx.runId, t: topicName(ID, s, ctx.runId), g: topicName(ID, s, ctx.runId) };
  const outcomes = await Promise.all(ctx.targets.map((t) => runSteps(steps, t, { ...base })));
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
    quickScenarios: ['topics', 'consume', 'group', 'configs'],
    version: async () => `Apache Kafka ${KAFKA_VERSION} tools: kafka-topics, kafka-configs, kafka-console-producer/-consumer, kafka-consumer-groups, kafka-get-offsets, kafka-cluster`,
    available: async () => null,
    run: async (ctx: RunContext, scenarios: ScenarioId[]) => {
      const out = new Map<string, PairResult>();
      for (const s of scenarios) {
        const pair = await runScenario(s, ctx);
        if (ctx.verbose) ctx.log(`  [kafka-cli] ${s}: ${Object.entries(pair).map(([b, r]) => `${b}=${r.status} ${r.error ?? ''}`).join(' / ')}`);
        out.set(s, pair);
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
    const outs = await runSteps(steps, t, { run: runId, t: topicName(ID, s, runId), g: topicName(ID, s, runId) });
    process.stdout.write(`===== ${t.name}\n`);
    for (const o of outs) process.stdout.write(`--- ${o.name} ${o.ok ? 'ok' : `FAILED ${o.error}`}\n${o.out}\n`);
  }
}
