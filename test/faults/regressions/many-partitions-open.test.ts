// Found by the in-process fuzzer (scenario 09, seeds 2 and 3): a fuzzed
// CreatePartitions growing a topic to 65535 partitions (frame below) kept the
// request unanswered for over a minute, and the Metadata, DeleteTopics and
// Produce requests behind it for 6-30 s: a single broker opened the new
// partitions one by one, one journal fsync each (~1 ms; 20,000 partitions
// took 21 s here). They are now opened 64 at a time, their acquisitions
// sharing journal writes (20,000: 2.5 s; 65,535: 14 s; this test: 6.5 s instead of 24 s).
import { expect, test } from 'vitest';
import { CreatePartitionsApi } from '../../../src/protocol/generated/create-partitions.js';
import { Reader } from '../../../src/protocol/reader.js';
import { encodeRequestHeader } from '../../../src/protocol/generated/request-header.js';
import { requestHeaderVersion } from '../../../src/protocol/generated/index.js';
import type { ApiDescriptor } from '../../../src/protocol/generated/types.js';
import { Writer } from '../../../src/protocol/writer.js';
import { fuzzInProcess, INPROCESS_MUST_BE_ZERO } from '../lib/fuzz-inprocess.js';

function frame<Req>(api: ApiDescriptor<Req>, version: number, body: Req): Buffer {
  const w = new Writer();
  encodeRequestHeader(w, { requestApiKey: api.apiKey, requestApiVersion: version, correlationId: 1, clientId: 'regression' }, requestHeaderVersion(api.apiKey, version));
  api.encodeRequest(w, body, version);
  return w.toBuffer();
}

// The fuzzer's frame: CreatePartitions v1 {topics: [{name: '-1', count: 65535}], timeoutMs: 3}.
const FOUND = 'ACUAAQAABuUABGZ1enoAAAABAAItMQAA////////AAAAAwA=';

test('a topic grown to 30,000 partitions is open within 15 s', async () => {
  // As the fuzzer's frame, on a topic the fuzz broker creates at start (fuzz-a, 3 partitions), to 30,000 to keep the test short.
  const found = Buffer.from(FOUND, 'base64');
  const body = CreatePartitionsApi.decodeRequest(new Reader(found, 4 + 4 + 2 + 4), 1);
  expect(body.topics[0]).toMatchObject({ name: '-1', count: 65535 });
  const grow = frame(CreatePartitionsApi, 1, { ...body, topics: [{ name: 'fuzz-a', count: 30_000, assignments: null }], timeoutMs: 30_000 });
  const started = Date.now();
  const r = await fuzzInProcess({ seed: 0, seeds: [], cases: 1, frames: [grow] });
  const ms = Date.now() - started;
  const bad = Object.fromEntries(INPROCESS_MUST_BE_ZERO.filter((k) => r[k] !== 0).map((k) => [k, r[k]]));
  expect(bad, JSON.stringify(r.examples)).toEqual({});
  expect(r.answered).toBe(1);
  expect(ms).toBeLessThan(15_000); // 6.5 s with the fix, 24 s without, here
}, 120_000);
