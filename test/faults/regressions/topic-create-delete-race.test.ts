// Found by the in-process fuzzer (scenario 09, seeds 2 and 3): CreateTopics or
// CreatePartitions racing a DeleteTopics of the same topic failed in the
// handler (UNKNOWN_SERVER_ERROR and an error log): the partition state vanished
// while its acquisition was being journaled ("Cannot read properties of
// undefined (reading 'leaderEpoch')"), the topic vanished between the
// partition-count change and the opening ("reading 'partitions'"), or the
// acquisition found the topic gone ("unknown topic <id>").
//
// The history: the frames below, dispatched concurrently as the fuzzer does.
import { expect, test } from 'vitest';
import { CreatePartitionsApi } from '../../../src/protocol/generated/create-partitions.js';
import { CreateTopicsApi } from '../../../src/protocol/generated/create-topics.js';
import { DeleteTopicsApi } from '../../../src/protocol/generated/delete-topics.js';
import { encodeRequestHeader } from '../../../src/protocol/generated/request-header.js';
import { requestHeaderVersion } from '../../../src/protocol/generated/index.js';
import type { ApiDescriptor } from '../../../src/protocol/generated/types.js';
import { Writer } from '../../../src/protocol/writer.js';
import { fuzzInProcess, INPROCESS_MUST_BE_ZERO } from '../lib/fuzz-inprocess.js';

let cid = 1;
function frame<Req>(api: ApiDescriptor<Req>, version: number, body: Req): Buffer {
  const w = new Writer();
  encodeRequestHeader(w, { requestApiKey: api.apiKey, requestApiVersion: version, correlationId: cid++, clientId: 'regression' }, requestHeaderVersion(api.apiKey, version));
  api.encodeRequest(w, body, version);
  return w.toBuffer();
}

const create = (name: string, numPartitions: number) =>
  frame(CreateTopicsApi, 7, { topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 30_000, validateOnly: false });
const grow = (name: string, count: number) => frame(CreatePartitionsApi, 3, { topics: [{ name, count, assignments: null }], timeoutMs: 30_000, validateOnly: false });
const del = (name: string) => frame(DeleteTopicsApi, 5, { topicNames: [name], timeoutMs: 30_000 });

// Fuzz frames of the original finding (seed 2): CreateTopics v7 with 'segment.bytes' and
// 'cleanup.policy', CreatePartitions v1 growing '-1' to 65535, DeleteTopics v5 naming both.
const FOUND = [
  'ABMABwAAAEUABGZ1enoABA5zZWdtZW50LmJ5dGVzAAAABQPoAQEAGsOww7zDkyzCgn4OwpTCgVpFw6tKC1YMwqAAAAAGAAACAAAAAwQAAHUwAAB/////gAAAAQAPY2xlYW51cC5wb2xpY3nFO3Tz4GgBAwMtMQMtMQALc2VlZC10b3BpYwAAAAAAdTAAABP+neWx9llVGzm6eMx/aP3Utph8XZI3m/SKHkIMYqFr',
];

test('CreateTopics and CreatePartitions racing DeleteTopics answer with Kafka error codes, never fail', async () => {
  const frames: Buffer[] = FOUND.map((b) => Buffer.from(b, 'base64'));
  for (let i = 0; i < 20; i++) {
    const t = `race-${i}`;
    frames.push(create(t, 200), del(t), create(t, 3), grow(t, 400), del(t), grow(t, 500));
    frames.push(del('segment.bytes'), create('segment.bytes', 50));
  }
  const r = await fuzzInProcess({ seed: 0, seeds: [], cases: frames.length, frames });
  const bad = Object.fromEntries(INPROCESS_MUST_BE_ZERO.filter((k) => r[k] !== 0).map((k) => [k, r[k]]));
  expect(bad, JSON.stringify({ errorKinds: r.errorKinds, examples: r.examples }, null, 1)).toEqual({});
  expect(r.answered).toBe(frames.length);
}, 120_000);
