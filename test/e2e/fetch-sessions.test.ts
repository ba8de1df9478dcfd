// Fetch sessions (KIP-227) on the wire, against a broker process: a session
// is opened by a full fetch, later fetches carry only what changed and their
// answers only partitions with something new; epochs, unknown sessions,
// closing, long polls and topic-id sessions. Real clients that use sessions
// (the Java consumer, franz-go) run in java-client.test.ts and the compat
// matrix; kafkajs and librdkafka 2.0 fetch without one.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { FetchApi, type FetchRequest, type FetchResponse } from '../../src/protocol/generated/fetch.js';
import { MetadataApi } from '../../src/protocol/generated/metadata.js';
import { ProduceApi } from '../../src/protocol/generated/produce.js';
import { decodeRecords } from '../../src/protocol/records/index.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { createTopic, startE2EBroker, uniqueTopic } from './common.js';
import { produceBody, WireConnection } from './wire.js';

let broker: BrokerProcess;
let c: WireConnection;
beforeAll(async () => {
  broker = await startE2EBroker();
  c = await WireConnection.connect(broker.port);
});
afterAll(async () => {
  c?.close();
  await broker?.cleanup();
});

type Part = { p: number; offset?: number };

function fetchBody(version: number, sessionId: number, sessionEpoch: number, topic: string, parts: Part[], forgotten: number[] = [], maxWaitMs = 0): FetchRequest {
  const named = version >= 13 ? { topicId: topic } : { topic };
  return {
    replicaId: -1,
    maxWaitMs,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId,
    sessionEpoch,
    topics: parts.length ? [{ ...named, partitions: parts.map(({ p, offset }) => ({ partition: p, currentLeaderEpoch: -1, fetchOffset: BigInt(offset ?? 0), logStartOffset: -1n, partitionMaxBytes: 1 << 20 })) }] : [],
    forgottenTopicsData: forgotten.length ? [{ ...named, partitions: forgotten }] : [],
    rackId: '',
  };
}

/** Partition -> [high watermark, values] of an answer, in the order given. */
function answered(res: FetchResponse): Array<[number, number, string[]]> {
  expect(res.errorCode).toBe(0);
  return res.responses.flatMap((t) =>
    t.partitions.map((p): [number, number, string[]] => {
      expect(p.errorCode).toBe(0);
      const rec = p.records;
      const buf = rec === null ? Buffer.alloc(0) : Array.isArray(rec) ? Buffer.concat(rec) : rec;
      return [p.partitionIndex, Number(p.highWatermark), buf.length ? decodeRecords(buf).map((r) => r.value!.toString()) : []];
    }),
  );
}

async function produce(topic: string, partition: number, values: string[]): Promise<void> {
  const res = await c.request(ProduceApi, 9, produceBody(topic, partition, values));
  expect(res.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
}

test('a session carries only what changed, both ways (Fetch v12, topics by name)', async () => {
  const topic = uniqueTopic('sessions');
  await createTopic(broker.port, topic, 3);
  await produce(topic, 0, ['a']);
  const v = 12;

  const opened = await c.request(FetchApi, v, fetchBody(v, 0, 0, topic, [{ p: 0 }, { p: 1 }, { p: 2 }]));
  const id = opened.sessionId ?? 0;
  expect(id).toBeGreaterThan(0);
  expect(answered(opened)).toEqual([[0, 1, ['a']], [1, 0, []], [2, 0, []]]);

  // The client moved on in partition 0; nothing is new anywhere: an empty answer.
  expect(answered(await c.request(FetchApi, v, fetchBody(v, id, 1, topic, [{ p: 0, offset: 1 }])))).toEqual([]);
  // Records in partition 1, fetched from where the session left it (offset 0), and only there.
  await produce(topic, 1, ['b', 'c']);
  expect(answered(await c.request(FetchApi, v, fetchBody(v, id, 2, topic, [])))).toEqual([[1, 2, ['b', 'c']]]);
  // Partition 2 forgotten: its records are not fetched; partition 0's are.
  expect(answered(await c.request(FetchApi, v, fetchBody(v, id, 3, topic, [{ p: 1, offset: 2 }], [2])))).toEqual([]);
  await produce(topic, 2, ['x']);
  await produce(topic, 0, ['d']);
  expect(answered(await c.request(FetchApi, v, fetchBody(v, id, 4, topic, [])))).toEqual([[0, 2, ['d']]]);

  // A wrong epoch is refused and the session stays; an unknown session id too.
  expect((await c.request(FetchApi, v, fetchBody(v, id, 9, topic, []))).errorCode).toBe(71); // INVALID_FETCH_SESSION_EPOCH
  expect((await c.request(FetchApi, v, fetchBody(v, id === 1 ? 2 : 1, 1, topic, []))).errorCode).toBe(70); // FETCH_SESSION_ID_NOT_FOUND
  expect(answered(await c.request(FetchApi, v, fetchBody(v, id, 5, topic, [{ p: 0, offset: 2 }])))).toEqual([]);

  // A long poll waits for any partition of the session, named in this request or not.
  const polling = c.request(FetchApi, v, fetchBody(v, id, 6, topic, [], [], 10_000), 15_000);
  await new Promise((r) => setTimeout(r, 200));
  const c2 = await WireConnection.connect(broker.port);
  await c2.request(ProduceApi, 9, produceBody(topic, 1, ['e']));
  c2.close();
  const started = Date.now();
  expect(answered(await polling)).toEqual([[1, 3, ['e']]]);
  expect(Date.now() - started).toBeLessThan(9_000);

  // The final epoch closes the session and is answered in full, without one.
  const closing = await c.request(FetchApi, v, fetchBody(v, id, -1, topic, [{ p: 0, offset: 2 }, { p: 2 }]));
  expect(closing.sessionId).toBe(0);
  expect(answered(closing)).toEqual([[0, 2, []], [2, 1, ['x']]]);
  expect((await c.request(FetchApi, v, fetchBody(v, id, 7, topic, []))).errorCode).toBe(70);
});

test('sessions by topic id (Fetch v13+) keep to topic ids', async () => {
  const topic = uniqueTopic('sessions-ids');
  await createTopic(broker.port, topic, 1);
  await produce(topic, 0, ['a']);
  const md = await c.request(MetadataApi, 12, { topics: [{ name: topic, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  const topicId = md.topics[0]!.topicId!;
  const v = 16;

  const opened = await c.request(FetchApi, v, fetchBody(v, 0, 0, topicId, [{ p: 0 }]));
  const id = opened.sessionId ?? 0;
  expect(id).toBeGreaterThan(0);
  expect(opened.responses.map((t) => t.topicId)).toEqual([topicId]);
  expect(answered(opened)).toEqual([[0, 1, ['a']]]);
  await produce(topic, 0, ['b']);
  expect(answered(await c.request(FetchApi, v, fetchBody(v, id, 1, topicId, [{ p: 0, offset: 1 }])))).toEqual([[0, 2, ['b']]]);
  // The same session fetched by name (v12) is refused: FETCH_SESSION_TOPIC_ID_ERROR.
  expect((await c.request(FetchApi, 12, fetchBody(12, id, 2, topic, []))).errorCode).toBe(106);
  // An unknown topic id in a session is answered with UNKNOWN_TOPIC_ID, each time.
  const ghost = 'ZZZZZZZZZZZZZZZZZZZZZQ';
  expect(answered(await c.request(FetchApi, v, fetchBody(v, id, 2, topicId, [{ p: 0, offset: 2 }])))).toEqual([]);
  for (const epoch of [3, 4]) {
    const res = await c.request(FetchApi, v, fetchBody(v, id, epoch, ghost, epoch === 3 ? [{ p: 0 }] : []));
    expect(res.responses.flatMap((t) => t.partitions.map((p) => [t.topicId, p.errorCode]))).toEqual([[ghost, 100]]);
  }
});
