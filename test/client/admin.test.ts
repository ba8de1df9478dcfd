/**
 * src/client/admin.ts and the `streamhouse groups|topics` subcommands
 * (src/client/commands.ts), run as the real CLI process against a real
 * broker. The consumer group here is driven with raw JoinGroup / SyncGroup /
 * OffsetCommit requests from our own client, assignments encoded with the
 * generated ConsumerProtocolAssignment codec, so `groups describe` is checked
 * against exactly known members, assignments, commits and log end offsets.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterClient } from '../../src/client/cluster.js';
import { KafkaClient } from '../../src/client/kafka-client.js';
import { decodeAssignment, describeGroupOffsets, listGroups } from '../../src/client/admin.js';
import { formatGroupOffsets, runAdminCommand } from '../../src/client/commands.js';
import { encodeConsumerProtocolAssignment } from '../../src/protocol/generated/consumer-protocol-assignment.js';
import { encodeConsumerProtocolSubscription } from '../../src/protocol/generated/consumer-protocol-subscription.js';
import { JoinGroupApi } from '../../src/protocol/generated/join-group.js';
import { SyncGroupApi } from '../../src/protocol/generated/sync-group.js';
import { OffsetCommitApi } from '../../src/protocol/generated/offset-commit.js';
import { LeaveGroupApi } from '../../src/protocol/generated/leave-group.js';
import { ErrorCode } from '../../src/protocol/kafka-error.js';
import { Writer } from '../../src/protocol/writer.js';
import { BROKER_CLI, startBroker, type BrokerProcess } from '../helpers/broker.js';
import { runCommand, type RunResult } from '../helpers/clients.js';
import { uniqueTopic } from '../e2e/common.js';

let broker: BrokerProcess;
let kafka: Kafka;
beforeAll(async () => {
  broker = await startBroker({ args: ['--group-initial-rebalance-delay-ms', '0'] });
  kafka = new Kafka({ clientId: 'admin-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
});
afterAll(async () => {
  await broker?.cleanup();
});

/** The real CLI process (exit codes, stdout/stderr as a shell sees them). */
function cliProcess(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runCommand(process.execPath, [BROKER_CLI, ...args], { allowFailure: true, timeoutMs: 30_000, env: { STREAMHOUSE_BOOTSTRAP: '', ...env } });
}

/** The same command in-process (what cli.ts runs), to keep the test fast. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const [command, ...rest] = args;
  const code = await runAdminCommand(command as 'groups' | 'topics', rest, { out: (t) => (stdout += t), err: (t) => (stderr += t), env });
  return { code, stdout, stderr };
}

function assignmentBytes(topics: Record<string, number[]>, version = 1): Buffer {
  const w = new Writer();
  w.writeInt16(version);
  encodeConsumerProtocolAssignment(w, { assignedPartitions: Object.entries(topics).map(([topic, partitions]) => ({ topic, partitions })), userData: null }, version);
  return w.toBuffer();
}

function subscriptionBytes(topics: string[]): Buffer {
  const w = new Writer();
  w.writeInt16(1);
  encodeConsumerProtocolSubscription(w, { topics, userData: null, ownedPartitions: [] }, 1);
  return w.toBuffer();
}

/** A member driven by hand: JoinGroup (with the KIP-394 retry), returns its id and generation once the join completes. */
async function joinMember(c: KafkaClient, groupId: string, topics: string[]) {
  const body = (memberId: string) => ({
    groupId,
    sessionTimeoutMs: 30_000,
    rebalanceTimeoutMs: 5_000,
    memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: subscriptionBytes(topics) }],
    reason: null,
  });
  const first = await c.request(JoinGroupApi, body(''));
  expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
  return { memberId: first.memberId, join: c.request(JoinGroupApi, body(first.memberId)) };
}

describe('topics subcommands', () => {
  test('create, list, describe, delete; errors are one line and a non-zero exit', async () => {
    const topic = uniqueTopic('cli-topic');
    const created = await cliProcess(['topics', 'create', topic, '--partitions', '3', '--config', 'retention.ms=3600000', '--config', 'cleanup.policy=delete', '--bootstrap', broker.bootstrap]);
    expect(created).toMatchObject({ code: 0, stdout: `Created topic ${topic}.\n`, stderr: '' });

    const list = await cli(['topics', 'list'], { STREAMHOUSE_BOOTSTRAP: broker.bootstrap });
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')).toContain(topic);

    const desc = await cli(['topics', 'describe', topic, `--bootstrap=${broker.bootstrap}`]);
    expect(desc.code).toBe(0);
    const lines = desc.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^Topic: ${topic}\\tTopicId: [A-Za-z0-9_-]{22}\\tPartitionCount: 3\\tReplicationFactor: 1\\tConfigs: .*retention\\.ms=3600000`));
    expect(lines[0]).toContain('cleanup.policy=delete');
    expect(lines.slice(1)).toEqual([0, 1, 2].map((p) => `\tTopic: ${topic}\tPartition: ${p}\tLeader: 0\tReplicas: 0\tIsr: 0`));

    const again = await cli(['topics', 'create', topic, '--bootstrap', broker.bootstrap]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`streamhouse: create topic '${topic}': TOPIC_ALREADY_EXISTS (Topic '${topic}' already exists.)\n`);

    const badConfig = await cli(['topics', 'create', uniqueTopic('bad'), '--config', 'no.such.config=1', '--bootstrap', broker.bootstrap]);
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(badConfig.stderr).toMatch(/^streamhouse: create topic '.*': INVALID_CONFIG/);

    const del = await cli(['topics', 'delete', topic, '--bootstrap', broker.bootstrap]);
    expect(del).toMatchObject({ code: 0, stdout: `Deleted topic ${topic}.\n` });
    const gone = await cli(['topics', 'describe', topic, '--bootstrap', broker.bootstrap]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`streamhouse: topic '${topic}': UNKNOWN_TOPIC_OR_PARTITION\n`);
  });

  test('usage errors exit 2; an unreachable bootstrap exits 1 with one line', async () => {
    const usage = await cliProcess(['topics', 'create']);
    expect(usage.code).toBe(2);
    expect(usage.stderr.split('\n')[0]).toBe('streamhouse topics: topics create needs exactly one TOPIC');
    const unknown = await cli(['groups', 'describe', 'g', '--nope']);
    expect(unknown.code).toBe(2);
    const down = await cliProcess(['groups', 'list', '--bootstrap', '127.0.0.1:1']);
    expect(down).toMatchObject({ code: 1, stdout: '', stderr: 'streamhouse: cannot connect to 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1\n' });
    // The default bootstrap is 127.0.0.1:9092 (nothing listens there in tests, or something that is not us).
    const dflt = await cli(['topics', 'list']);
    if (dflt.code !== 0) expect(dflt.stderr).toMatch(/^streamhouse: .*127\.0\.0\.1:9092/);
  });
});

describe('groups subcommands', () => {
  test('describe shows every assigned and committed partition with offsets, lag and the owning member', async () => {
    const topic = uniqueTopic('cli-grp');
    const other = uniqueTopic('cli-grp-old');
    const groupId = uniqueTopic('cli-group');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }, { topic: other, numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const msgs = (n: number, partition: number) => Array.from({ length: n }, (_, i) => ({ value: `m${i}`, partition }));
    await producer.send({ topic, messages: [...msgs(10, 0), ...msgs(5, 1)] });
    await producer.send({ topic: other, messages: msgs(4, 0) });
    await producer.disconnect();

    const ca = await KafkaClient.connect(broker.bootstrap, { clientId: 'member-a' });
    const cb = await KafkaClient.connect(broker.bootstrap, { clientId: 'member-b' });
    try {
      // a joins alone (generation 1), then b: both wait until a rejoins (generation 2).
      const a1 = await joinMember(ca, groupId, [topic]);
      expect((await a1.join).errorCode).toBe(ErrorCode.NONE);
      const b = await joinMember(cb, groupId, [topic]);
      const aRejoin = ca.request(JoinGroupApi, {
        groupId, sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 5_000, memberId: a1.memberId, groupInstanceId: null,
        protocolType: 'consumer', protocols: [{ name: 'range', metadata: subscriptionBytes([topic]) }], reason: null,
      });
      const [ja, jb] = await Promise.all([aRejoin, b.join]);
      expect(ja.errorCode).toBe(ErrorCode.NONE);
      expect(jb.errorCode).toBe(ErrorCode.NONE);
      expect(ja.leader).toBe(a1.memberId);
      const generationId = ja.generationId;
      const syncB = cb.request(SyncGroupApi, { groupId, generationId, memberId: b.memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'range', assignments: [] });
      const syncA = await ca.request(SyncGroupApi, {
        groupId, generationId, memberId: a1.memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'range',
        assignments: [
          { memberId: a1.memberId, assignment: assignmentBytes({ [topic]: [1, 0] }) },
          { memberId: b.memberId, assignment: assignmentBytes({ [topic]: [2] }, 3) },
        ],
      });
      expect(syncA.errorCode).toBe(ErrorCode.NONE);
      expect(decodeAssignment(syncA.assignment)).toEqual([{ topic, partition: 1 }, { topic, partition: 0 }]);
      expect((await syncB).errorCode).toBe(ErrorCode.NONE);

      const commit = await ca.request(OffsetCommitApi, {
        groupId, generationIdOrMemberEpoch: generationId, memberId: a1.memberId, groupInstanceId: null,
        topics: [
          { name: topic, partitions: [{ partitionIndex: 0, committedOffset: 7n, committedLeaderEpoch: -1, committedMetadata: null }, { partitionIndex: 1, committedOffset: 5n, committedLeaderEpoch: -1, committedMetadata: null }] },
          { name: other, partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null }] },
        ],
      });
      expect(commit.topics.flatMap((t) => t.partitions.map((p) => p.errorCode))).toEqual([0, 0, 0]);

      // Library level.
      const cluster = await ClusterClient.connect(broker.bootstrap);
      try {
        const { description, rows } = await describeGroupOffsets(cluster, groupId);
        expect(description).toMatchObject({ state: 'Stable', protocolType: 'consumer', protocol: 'range', coordinator: 0 });
        const row = (t: string, p: number) => rows.find((r) => r.topic === t && r.partition === p);
        expect(rows).toHaveLength(4);
        expect(row(topic, 0)).toEqual({ group: groupId, topic, partition: 0, currentOffset: 7n, logEndOffset: 10n, lag: 3n, consumerId: a1.memberId, host: '/127.0.0.1', clientId: 'member-a' });
        expect(row(topic, 1)).toMatchObject({ currentOffset: 5n, logEndOffset: 5n, lag: 0n, consumerId: a1.memberId });
        expect(row(topic, 2)).toMatchObject({ currentOffset: null, logEndOffset: 0n, lag: null, consumerId: b.memberId, clientId: 'member-b' });
        expect(row(other, 0)).toMatchObject({ currentOffset: 1n, logEndOffset: 4n, lag: 3n, consumerId: null, host: null, clientId: null });
        // Members with more partitions first (Kafka's order), then the unassigned committed partitions.
        expect(rows.map((r) => r.consumerId)).toEqual([a1.memberId, a1.memberId, b.memberId, null]);
        expect((await listGroups(cluster)).find((g) => g.groupId === groupId)).toEqual({ groupId, protocolType: 'consumer', state: 'Stable' });
      } finally {
        cluster.close();
      }

      // The CLI prints the same, in kafka-consumer-groups' layout.
      const out = await cliProcess(['groups', 'describe', groupId, '--bootstrap', broker.bootstrap]);
      expect(out.code).toBe(0);
      expect(out.stderr).toBe('');
      const lines = out.stdout.split('\n');
      expect(lines[0]).toBe('');
      expect(lines[1]!.split(/\s+/)).toEqual(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID']);
      const cells = lines.slice(2, 6).map((l) => l.split(/\s+/));
      expect(cells).toEqual([
        [groupId, topic, '0', '7', '10', '3', a1.memberId, '/127.0.0.1', 'member-a'],
        [groupId, topic, '1', '5', '5', '0', a1.memberId, '/127.0.0.1', 'member-a'],
        [groupId, topic, '2', '-', '0', '-', b.memberId, '/127.0.0.1', 'member-b'],
        [groupId, other, '0', '1', '4', '3', '-', '-', '-'],
      ]);
      // Columns line up: each header starts where its values start.
      const col = (name: string) => lines[1]!.indexOf(name);
      for (const l of lines.slice(2, 6)) {
        expect(l.slice(col('PARTITION')).startsWith(' ')).toBe(false);
        expect(l[col('CONSUMER-ID') - 1]).toBe(' ');
      }

      const list = await cli(['groups', 'list', '--state', '--bootstrap', broker.bootstrap]);
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(new RegExp(`^GROUP\\s+STATE\\n(.*\\n)*${groupId}\\s+Stable\\n`));
      const ids = await cli(['groups', 'list', '--bootstrap', broker.bootstrap]);
      expect(ids.stdout.split('\n')).toContain(groupId);

      // Both leave: the group is Empty and keeps its committed offsets.
      for (const [c, memberId] of [[ca, a1.memberId], [cb, b.memberId]] as const) {
        const r = await c.request(LeaveGroupApi, { groupId, memberId, members: [{ memberId, groupInstanceId: null, reason: null }] });
        expect(r.errorCode).toBe(ErrorCode.NONE);
      }
      const empty = await cli(['groups', 'describe', groupId, '--bootstrap', broker.bootstrap]);
      expect(empty.code).toBe(0);
      expect(empty.stderr).toBe(`\nConsumer group '${groupId}' has no active members.\n`);
      expect(empty.stdout.split('\n').slice(2, 5).map((l) => l.split(/\s+/))).toEqual([
        [groupId, topic, '0', '7', '10', '3', '-', '-', '-'],
        [groupId, topic, '1', '5', '5', '0', '-', '-', '-'],
        [groupId, other, '0', '1', '4', '3', '-', '-', '-'],
      ]);
    } finally {
      ca.close();
      cb.close();
    }
  });

  test('describe of an unknown group: one line, exit 1', async () => {
    const r = await cli(['groups', 'describe', 'no-such-group', '--bootstrap', broker.bootstrap]);
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: "streamhouse: consumer group 'no-such-group' does not exist\n" });
  });

  test('the table widens its columns to the longest value, as kafka-consumer-groups does', () => {
    const long = 'x'.repeat(40);
    const text = formatGroupOffsets([
      { group: 'g', topic: long, partition: 0, currentOffset: 1n, logEndOffset: 2n, lag: 1n, consumerId: 'c', host: '/h', clientId: 'cl' },
    ]);
    const [, header, row] = text.split('\n');
    expect(header!.indexOf('PARTITION')).toBe(16 + 40 + 1);
    expect(row!.indexOf(' 0 ')).toBe(16 + 40);
  });
});
