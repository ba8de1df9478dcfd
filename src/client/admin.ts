// Admin operations on top of ClusterClient, as the CLI's `groups` and
// `topics` subcommands (and tests) use them: list and describe consumer
// groups with their lag, list/describe/create/delete topics.

import { CreateTopicsApi } from '../protocol/generated/create-topics.js';
import { DeleteTopicsApi } from '../protocol/generated/delete-topics.js';
import { DescribeConfigsApi } from '../protocol/generated/describe-configs.js';
import { DescribeGroupsApi } from '../protocol/generated/describe-groups.js';
import { ListGroupsApi } from '../protocol/generated/list-groups.js';
import { ListOffsetsApi } from '../protocol/generated/list-offsets.js';
import { OffsetFetchApi } from '../protocol/generated/offset-fetch.js';
import { decodeConsumerProtocolAssignment } from '../protocol/generated/consumer-protocol-assignment.js';
import { ZERO_UUID } from '../protocol/generated/types.js';
import { ErrorCode } from '../protocol/generated/errors.js';
import { Reader } from '../protocol/reader.js';
import type { ClusterClient, TopicInfo } from './cluster.js';
import { KafkaClientError, KafkaResponseError, check } from './kafka-client.js';

// ------------------------------------------------------------------ groups

export interface GroupListing {
  groupId: string;
  protocolType: string;
  state: string;
}

/** ListGroups on every broker (each lists the groups it coordinates). */
export async function listGroups(cluster: ClusterClient): Promise<GroupListing[]> {
  const out = new Map<string, GroupListing>();
  for (const node of await cluster.allNodes()) {
    const res = await node.request(ListGroupsApi, { statesFilter: [], typesFilter: [] });
    check(res.errorCode, `ListGroups on ${node.address}`);
    for (const g of res.groups) out.set(g.groupId, { groupId: g.groupId, protocolType: g.protocolType, state: g.groupState ?? '' });
  }
  return [...out.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface GroupMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  host: string;
  /** Decoded consumer-protocol assignment; null when the group is not a consumer group or the bytes do not decode. */
  assignment: TopicPartition[] | null;
}

export interface GroupDescription {
  groupId: string;
  /** Stable, Empty, PreparingRebalance, CompletingRebalance or Dead (unknown group). */
  state: string;
  protocolType: string;
  protocol: string;
  coordinator: number;
  members: GroupMember[];
}

/**
 * Decodes a ConsumerProtocolAssignment (int16 version, then the body). Newer
 * versions than the codec knows are read as its latest: fields are only ever
 * appended, as Kafka's ConsumerProtocol reads them.
 */
export function decodeAssignment(bytes: Buffer): TopicPartition[] {
  if (bytes.length === 0) return [];
  const r = new Reader(bytes);
  const version = r.readInt16();
  if (version < 0) throw new KafkaClientError(`bad consumer protocol assignment version ${version}`);
  const a = decodeConsumerProtocolAssignment(r, Math.min(version, 3));
  const out: TopicPartition[] = [];
  for (const t of a.assignedPartitions) for (const p of t.partitions) out.push({ topic: t.topic, partition: p });
  return out;
}

export async function describeGroup(cluster: ClusterClient, groupId: string): Promise<GroupDescription> {
  const coordinator = await cluster.findCoordinator(groupId);
  const conn = await cluster.coordinator(groupId);
  const res = await conn.request(DescribeGroupsApi, { groups: [groupId], includeAuthorizedOperations: false });
  const g = res.groups.find((x) => x.groupId === groupId);
  if (!g) throw new KafkaClientError(`DescribeGroups: no answer for group ${groupId}`);
  check(g.errorCode, `DescribeGroups(${groupId})`);
  const isConsumer = g.protocolType === 'consumer' || g.protocolType === '';
  return {
    groupId,
    state: g.groupState,
    protocolType: g.protocolType,
    protocol: g.protocolData,
    coordinator: coordinator.nodeId,
    members: g.members.map((m) => {
      let assignment: TopicPartition[] | null = null;
      if (isConsumer) {
        try {
          assignment = decodeAssignment(m.memberAssignment);
        } catch {
          assignment = null;
        }
      }
      return { memberId: m.memberId, groupInstanceId: m.groupInstanceId ?? null, clientId: m.clientId, host: m.clientHost, assignment };
    }),
  };
}

/** Committed offsets of a group: topic -> partition -> offset (partitions without a commit left out). */
export async function fetchCommittedOffsets(cluster: ClusterClient, groupId: string): Promise<Map<string, Map<number, bigint>>> {
  const conn = await cluster.coordinator(groupId);
  const v = conn.versionFor(OffsetFetchApi);
  const res = await conn.request(
    OffsetFetchApi,
    { groupId, topics: null, groups: [{ groupId, memberId: null, memberEpoch: -1, topics: null }], requireStable: false },
    // v0-1 cannot ask for "every topic".
    Math.max(v, 2),
  );
  const out = new Map<string, Map<number, bigint>>();
  const add = (topic: string, partition: number, offset: bigint, code: number) => {
    check(code, `OffsetFetch(${groupId}) ${topic}-${partition}`);
    if (offset < 0n) return;
    let t = out.get(topic);
    if (!t) out.set(topic, (t = new Map()));
    t.set(partition, offset);
  };
  if (v >= 8) {
    const g = res.groups?.find((x) => x.groupId === groupId);
    if (!g) throw new KafkaClientError(`OffsetFetch: no answer for group ${groupId}`);
    check(g.errorCode, `OffsetFetch(${groupId})`);
    for (const t of g.topics) for (const p of t.partitions) add(t.name, p.partitionIndex, p.committedOffset, p.errorCode);
  } else {
    check(res.errorCode, `OffsetFetch(${groupId})`);
    for (const t of res.topics ?? []) for (const p of t.partitions) add(t.name, p.partitionIndex, p.committedOffset, p.errorCode);
  }
  return out;
}

const LATEST = -1n;

/** Log end offsets (ListOffsets "latest", read_uncommitted) from each partition's leader. Unknown partitions map to null. */
export async function logEndOffsets(cluster: ClusterClient, partitions: TopicPartition[]): Promise<Map<string, bigint | null>> {
  const out = new Map<string, bigint | null>();
  if (partitions.length === 0) return out;
  const topics = [...new Set(partitions.map((p) => p.topic))];
  const md = await cluster.metadata(topics);
  const byLeader = new Map<number, Map<string, number[]>>();
  for (const tp of partitions) {
    out.set(key(tp), null);
    const t = md.topics.get(tp.topic);
    const p = t?.partitions.find((x) => x.partition === tp.partition);
    if (!t || t.errorCode !== 0 || !p || p.leader < 0) continue;
    let m = byLeader.get(p.leader);
    if (!m) byLeader.set(p.leader, (m = new Map()));
    let list = m.get(tp.topic);
    if (!list) m.set(tp.topic, (list = []));
    list.push(tp.partition);
  }
  for (const [leader, topicsOf] of byLeader) {
    const conn = await cluster.node(leader);
    const res = await conn.request(ListOffsetsApi, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [...topicsOf].map(([name, ps]) => ({
        name,
        partitions: ps.map((p) => ({ partitionIndex: p, currentLeaderEpoch: -1, timestamp: LATEST, maxNumOffsets: 1 })),
      })),
    });
    for (const t of res.topics) {
      for (const p of t.partitions) {
        if (p.errorCode !== 0) continue;
        const off = p.offset !== undefined && p.offset >= 0n ? p.offset : (p.oldStyleOffsets?.[0] ?? null);
        out.set(key({ topic: t.name, partition: p.partitionIndex }), off);
      }
    }
  }
  return out;
}

function key(tp: TopicPartition): string {
  return `${tp.topic}\u0000${tp.partition}`;
}

/** One row of `groups describe`, as kafka-consumer-groups --describe prints it (null prints as "-"). */
export interface GroupOffsetRow {
  group: string;
  topic: string | null;
  partition: number | null;
  currentOffset: bigint | null;
  logEndOffset: bigint | null;
  lag: bigint | null;
  consumerId: string | null;
  host: string | null;
  clientId: string | null;
}

export interface GroupOffsets {
  description: GroupDescription;
  rows: GroupOffsetRow[];
}

/**
 * Members with their assigned partitions, then committed partitions no member
 * holds (consumer "-"), each with committed offset, log end offset and lag;
 * Kafka's ConsumerGroupCommand collectGroupOffsets.
 */
export async function describeGroupOffsets(cluster: ClusterClient, groupId: string): Promise<GroupOffsets> {
  const description = await describeGroup(cluster, groupId);
  const committed = await fetchCommittedOffsets(cluster, groupId);
  const assigned: Array<{ tp: TopicPartition; member: GroupMember }> = [];
  // Kafka orders members by assignment size, largest first; partitions by topic and number.
  const members = [...description.members].sort((a, b) => (b.assignment?.length ?? 0) - (a.assignment?.length ?? 0));
  for (const m of members) {
    const tps = [...(m.assignment ?? [])].sort(cmpTp);
    for (const tp of tps) assigned.push({ tp, member: m });
  }
  const assignedKeys = new Set(assigned.map((a) => key(a.tp)));
  const unassigned: TopicPartition[] = [];
  for (const [topic, parts] of committed) for (const p of parts.keys()) if (!assignedKeys.has(key({ topic, partition: p }))) unassigned.push({ topic, partition: p });
  unassigned.sort(cmpTp);
  const leo = await logEndOffsets(cluster, [...assigned.map((a) => a.tp), ...unassigned]);
  const row = (tp: TopicPartition, m: GroupMember | null): GroupOffsetRow => {
    const cur = committed.get(tp.topic)?.get(tp.partition) ?? null;
    const end = leo.get(key(tp)) ?? null;
    return {
      group: groupId,
      topic: tp.topic,
      partition: tp.partition,
      currentOffset: cur,
      logEndOffset: end,
      lag: cur !== null && end !== null ? (end - cur > 0n ? end - cur : 0n) : null,
      consumerId: m?.memberId ?? null,
      host: m?.host ?? null,
      clientId: m?.clientId ?? null,
    };
  };
  const rows = [...assigned.map((a) => row(a.tp, a.member)), ...unassigned.map((tp) => row(tp, null))];
  return { description, rows };
}

function cmpTp(a: TopicPartition, b: TopicPartition): number {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
}

// ------------------------------------------------------------------ topics

export async function listTopics(cluster: ClusterClient): Promise<string[]> {
  const md = await cluster.metadata(null);
  return [...md.topics.keys()].sort();
}

export interface TopicDescription extends TopicInfo {
  /** Configs that are not defaults (name -> value). */
  configs: Array<{ name: string; value: string | null }>;
}

const TOPIC_RESOURCE = 2;
const DEFAULT_CONFIG_SOURCE = 5;

export async function describeTopic(cluster: ClusterClient, topic: string): Promise<TopicDescription> {
  const md = await cluster.metadata([topic]);
  const t = md.topics.get(topic);
  if (!t) throw new KafkaResponseError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${topic}'`);
  check(t.errorCode, `topic '${topic}'`);
  const res = await cluster.bootstrap.request(DescribeConfigsApi, {
    resources: [{ resourceType: TOPIC_RESOURCE, resourceName: topic, configurationKeys: null }],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  const r = res.results[0];
  if (!r) throw new KafkaClientError('DescribeConfigs: empty answer');
  check(r.errorCode, `DescribeConfigs(${topic})`, r.errorMessage);
  const configs = r.configs
    .filter((c) => (c.configSource !== undefined ? c.configSource !== DEFAULT_CONFIG_SOURCE : c.isDefault === false))
    .map((c) => ({ name: c.name, value: c.isSensitive ? null : c.value }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return { ...t, configs };
}

export interface CreateTopicOptions {
  partitions?: number;
  replicationFactor?: number;
  configs?: Record<string, string>;
  timeoutMs?: number;
}

export async function createTopic(cluster: ClusterClient, topic: string, o: CreateTopicOptions = {}): Promise<{ topicId: string; partitions: number }> {
  const res = await cluster.bootstrap.request(CreateTopicsApi, {
    topics: [
      {
        name: topic,
        numPartitions: o.partitions ?? -1,
        replicationFactor: o.replicationFactor ?? -1,
        assignments: [],
        configs: Object.entries(o.configs ?? {}).map(([name, value]) => ({ name, value })),
      },
    ],
    timeoutMs: o.timeoutMs ?? 30_000,
    validateOnly: false,
  });
  const r = res.topics.find((x) => x.name === topic);
  if (!r) throw new KafkaClientError(`CreateTopics: no answer for ${topic}`);
  check(r.errorCode, `create topic '${topic}'`, r.errorMessage);
  return { topicId: r.topicId ?? ZERO_UUID, partitions: r.numPartitions ?? -1 };
}

export async function deleteTopic(cluster: ClusterClient, topic: string, timeoutMs = 30_000): Promise<void> {
  const res = await cluster.bootstrap.request(DeleteTopicsApi, { topics: [{ name: topic, topicId: ZERO_UUID }], topicNames: [topic], timeoutMs });
  const r = res.responses.find((x) => x.name === topic) ?? res.responses[0];
  if (!r) throw new KafkaClientError(`DeleteTopics: no answer for ${topic}`);
  check(r.errorCode, `delete topic '${topic}'`, r.errorMessage);
}
