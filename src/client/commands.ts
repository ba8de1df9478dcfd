// The admin subcommands of the CLI:
//
//   streamhouse groups list [--state] [--bootstrap HOST:PORT]
//   streamhouse groups describe GROUP [--bootstrap HOST:PORT]
//   streamhouse topics list [--bootstrap HOST:PORT]
//   streamhouse topics describe TOPIC [--bootstrap HOST:PORT]
//   streamhouse topics create TOPIC [--partitions N] [--replication-factor N] [--config k=v]... [--bootstrap HOST:PORT]
//   streamhouse topics delete TOPIC [--bootstrap HOST:PORT]
//
// Output follows Kafka's own tools (kafka-consumer-groups, kafka-topics) so
// habits and scripts carry over. The bootstrap address comes from
// --bootstrap, else STREAMHOUSE_BOOTSTRAP, else 127.0.0.1:9092. Failures are
// one line on stderr and exit code 1; usage errors exit 2.

import { ClusterClient } from './cluster.js';
import { createTopic, deleteTopic, describeGroupOffsets, describeTopic, listGroups, listTopics, type GroupOffsetRow } from './admin.js';
import { KafkaClientError, KafkaResponseError } from './kafka-client.js';

export const DEFAULT_BOOTSTRAP = '127.0.0.1:9092';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
};

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
}

/** --name value / --name=value; `booleans` take no value. */
function parseFlags(argv: string[], known: Record<string, 'value' | 'boolean'>): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const kind = known[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    let value: string;
    if (kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      value = 'true';
    } else if (eq >= 0) value = a.slice(eq + 1);
    else {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`--${name} needs a value`);
      value = next;
    }
    const list = flags.get(name) ?? [];
    list.push(value);
    flags.set(name, list);
  }
  return { positional, flags };
}

function bootstrapOf(p: Parsed, io: Io): string {
  return p.flags.get('bootstrap')?.at(-1) ?? (io.env.STREAMHOUSE_BOOTSTRAP || DEFAULT_BOOTSTRAP);
}

function intFlag(p: Parsed, name: string): number | undefined {
  const v = p.flags.get(name)?.at(-1);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got ${v}`);
  return n;
}

export const GROUPS_USAGE = [
  'streamhouse groups list [--state] [--bootstrap HOST:PORT]',
  'streamhouse groups describe GROUP [--bootstrap HOST:PORT]',
].join('\n');

export const TOPICS_USAGE = [
  'streamhouse topics list [--bootstrap HOST:PORT]',
  'streamhouse topics describe TOPIC [--bootstrap HOST:PORT]',
  'streamhouse topics create TOPIC [--partitions N] [--replication-factor N] [--config KEY=VALUE]... [--bootstrap HOST:PORT]',
  'streamhouse topics delete TOPIC [--bootstrap HOST:PORT]',
].join('\n');

const show = (v: string | number | bigint | null): string => (v === null ? '-' : String(v));

/** kafka-consumer-groups --describe's table (ConsumerGroupCommand.printOffsets): a blank line, header, rows. */
export function formatGroupOffsets(rows: GroupOffsetRow[]): string {
  let g = 15;
  let t = 15;
  let c = 15;
  let h = 15;
  for (const r of rows) {
    g = Math.max(g, r.group.length);
    t = Math.max(t, show(r.topic).length);
    c = Math.max(c, show(r.consumerId).length);
    h = Math.max(h, show(r.host).length);
  }
  const line = (cols: string[]) =>
    [cols[0]!.padEnd(g), cols[1]!.padEnd(t), cols[2]!.padEnd(10), cols[3]!.padEnd(15), cols[4]!.padEnd(15), cols[5]!.padEnd(15), cols[6]!.padEnd(c), cols[7]!.padEnd(h), cols[8]!].join(
      ' ',
    );
  const out = ['', line(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID'])];
  for (const r of rows) {
    out.push(
      line([r.group, show(r.topic), show(r.partition), show(r.currentOffset), show(r.logEndOffset), show(r.lag), show(r.consumerId), show(r.host), show(r.clientId)]),
    );
  }
  return out.join('\n') + '\n\n';
}

async function withCluster<T>(bootstrap: string, fn: (c: ClusterClient) => Promise<T>): Promise<T> {
  const cluster = await ClusterClient.connect(bootstrap, { clientId: 'streamhouse-cli' });
  try {
    return await fn(cluster);
  } finally {
    cluster.close();
  }
}

async function groupsCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'list': {
      const p = parseFlags(rest, { bootstrap: 'value', state: 'boolean' });
      if (p.positional.length) throw new UsageError(`unexpected argument ${p.positional[0]}`);
      const groups = await withCluster(bootstrapOf(p, io), listGroups);
      if (p.flags.has('state')) {
        const w = Math.max(15, ...groups.map((x) => x.groupId.length));
        io.out(`${'GROUP'.padEnd(w)} STATE\n`);
        for (const x of groups) io.out(`${x.groupId.padEnd(w)} ${x.state}\n`);
      } else for (const x of groups) io.out(`${x.groupId}\n`);
      return 0;
    }
    case 'describe': {
      const p = parseFlags(rest, { bootstrap: 'value' });
      if (p.positional.length !== 1) throw new UsageError('groups describe needs exactly one GROUP');
      const group = p.positional[0]!;
      const { description, rows } = await withCluster(bootstrapOf(p, io), (c) => describeGroupOffsets(c, group));
      if (description.state === 'Dead') {
        io.err(`streamhouse: consumer group '${group}' does not exist\n`);
        return 1;
      }
      if (description.protocolType !== 'consumer' && description.protocolType !== '') {
        io.err(`streamhouse: group '${group}' is not a consumer group (protocol type ${description.protocolType})\n`);
        return 1;
      }
      if (description.state === 'Empty') io.err(`\nConsumer group '${group}' has no active members.\n`);
      else if (description.state === 'PreparingRebalance' || description.state === 'CompletingRebalance') io.err(`\nWarning: Consumer group '${group}' is rebalancing.\n`);
      if (rows.length) io.out(formatGroupOffsets(rows));
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown groups command ${sub}` : 'groups needs a command');
  }
}

async function topicsCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'list': {
      const p = parseFlags(rest, { bootstrap: 'value' });
      if (p.positional.length) throw new UsageError(`unexpected argument ${p.positional[0]}`);
      for (const t of await withCluster(bootstrapOf(p, io), listTopics)) io.out(`${t}\n`);
      return 0;
    }
    case 'describe': {
      const p = parseFlags(rest, { bootstrap: 'value' });
      if (p.positional.length !== 1) throw new UsageError('topics describe needs exactly one TOPIC');
      const t = await withCluster(bootstrapOf(p, io), (c) => describeTopic(c, p.positional[0]!));
      const rf = t.partitions[0]?.replicas.length ?? 0;
      const configs = t.configs.map((c) => `${c.name}=${c.value ?? '(sensitive)'}`).join(',');
      io.out(`Topic: ${t.name}\tTopicId: ${t.topicId}\tPartitionCount: ${t.partitions.length}\tReplicationFactor: ${rf}\tConfigs: ${configs}\n`);
      for (const x of t.partitions) {
        io.out(`\tTopic: ${t.name}\tPartition: ${x.partition}\tLeader: ${x.leader < 0 ? 'none' : x.leader}\tReplicas: ${x.replicas.join(',')}\tIsr: ${x.isr.join(',')}\n`);
      }
      return 0;
    }
    case 'create': {
      const p = parseFlags(rest, { bootstrap: 'value', partitions: 'value', 'replication-factor': 'value', config: 'value' });
      if (p.positional.length !== 1) throw new UsageError('topics create needs exactly one TOPIC');
      const configs: Record<string, string> = {};
      for (const kv of p.flags.get('config') ?? []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`--config expects KEY=VALUE, got ${kv}`);
        configs[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      const partitions = intFlag(p, 'partitions');
      if (partitions !== undefined && partitions < 1) throw new UsageError('--partitions must be at least 1');
      const topic = p.positional[0]!;
      await withCluster(bootstrapOf(p, io), (c) => createTopic(c, topic, { partitions, replicationFactor: intFlag(p, 'replication-factor'), configs }));
      io.out(`Created topic ${topic}.\n`);
      return 0;
    }
    case 'delete': {
      const p = parseFlags(rest, { bootstrap: 'value' });
      if (p.positional.length !== 1) throw new UsageError('topics delete needs exactly one TOPIC');
      const topic = p.positional[0]!;
      await withCluster(bootstrapOf(p, io), (c) => deleteTopic(c, topic));
      io.out(`Deleted topic ${topic}.\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown topics command ${sub}` : 'topics needs a command');
  }
}

/** Runs `groups ...` or `topics ...`; returns the exit code. Every failure is one line on stderr. */
export async function runAdminCommand(command: 'groups' | 'topics', argv: string[], io: Io = defaultIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(`${command === 'groups' ? GROUPS_USAGE : TOPICS_USAGE}\n`);
    return 0;
  }
  try {
    return command === 'groups' ? await groupsCommand(argv, io) : await topicsCommand(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`streamhouse ${command}: ${err.message}\nusage:\n${command === 'groups' ? GROUPS_USAGE : TOPICS_USAGE}\n`);
      return 2;
    }
    if (err instanceof KafkaResponseError || err instanceof KafkaClientError) {
      io.err(`streamhouse: ${err.message}\n`);
      return 1;
    }
    io.err(`streamhouse: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}
