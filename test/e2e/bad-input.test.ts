/**
 * Hostile and malformed input on raw `net` sockets (no client library). Each
 * case must end in an error response or a closed connection for that
 * connection only; afterwards the broker process still runs and serves kcat
 * on another connection, and its memory stays bounded. No case may make the
 * broker log an error (a handler failing on input instead of rejecting it).
 *
 * Random input comes from a seeded generator (the seed is printed; replay with
 * STREAMHOUSE_E2E_SEED=<seed>); STREAMHOUSE_E2E_FUZZ_CASES=<n> runs more
 * mutated requests than the default 240 (4000 took ~100 s here, all clean).
 */
import { afterAll, beforeEach, describe, expect, test } from 'vitest';
import { API_BY_KEY } from '../../src/protocol/generated/index.js';
import { ApiVersionsApi, decodeApiVersionsResponse } from '../../src/protocol/generated/api-versions.js';
import { decodeResponseHeader } from '../../src/protocol/generated/response-header.js';
import { FetchApi } from '../../src/protocol/generated/fetch.js';
import { ListOffsetsApi } from '../../src/protocol/generated/list-offsets.js';
import { MetadataApi } from '../../src/protocol/generated/metadata.js';
import { ProduceApi } from '../../src/protocol/generated/produce.js';
import { Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';
import { buildBatch } from '../../src/protocol/records/records.js';
import { CRC_OFFSET } from '../../src/protocol/records/batch.js';
import type { BrokerProcess } from '../helpers/broker.js';
import { kcatConsume, kcatMetadata, kcatProduce } from '../helpers/clients.js';
import { createTopic, rssBytes, startE2EBroker, uniqueTopic } from './common.js';
import { decodeResponse, produceBody, rawFrame, requestFrame, withSize, WireConnection } from './wire.js';

const broker: BrokerProcess = await startE2EBroker();
afterAll(() => broker.cleanup());

const RSS_LIMIT = 400 * 1024 * 1024;

// Random input from a seeded generator, so a failure can be replayed: STREAMHOUSE_E2E_SEED=<seed>
const SEED = Number(process.env.STREAMHOUSE_E2E_SEED ?? Math.floor(Math.random() * 2 ** 31));
let rngState = SEED >>> 0;
function rand(): number {
  // mulberry32
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function randomBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}
console.log(`bad-input random seed: ${SEED} (replay with STREAMHOUSE_E2E_SEED=${SEED})`);

/** The broker process runs and answers a real client (kcat metadata) on a new connection. */
async function expectHealthy(): Promise<void> {
  expect(broker.running, broker.logs().slice(-30).join('\n')).toBe(true);
  const md = await kcatMetadata(broker.bootstrap, undefined, { timeoutMs: 20_000 });
  expect(md.brokers).toEqual([{ id: 0, name: broker.bootstrap }]);
}

/** Sends bytes on a fresh connection; resolves with what came back before the broker closed it (or the timeout). */
async function send(bytes: Buffer | Buffer[], timeoutMs = 5_000): Promise<{ closed: boolean; frames: Buffer[] }> {
  const c = await WireConnection.connect(broker.port);
  try {
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) await c.write(b);
    return await c.waitClosed(timeoutMs);
  } finally {
    c.close();
  }
}

/** The connection was closed by the broker, or the request got an answer with its correlation id. */
function expectErrorOrClose(r: { closed: boolean; frames: Buffer[] }, correlationId?: number): void {
  if (r.frames.length === 0) {
    expect(r.closed, 'neither an answer nor a closed connection').toBe(true);
    return;
  }
  if (correlationId !== undefined) expect(r.frames[0]!.readInt32BE(0)).toBe(correlationId);
}

beforeEach(() => {
  expect(broker.running).toBe(true);
});

describe('framing', () => {
  test('random bytes', async () => {
    for (let i = 0; i < 10; i++) {
      // (a random size prefix inside the limit makes the broker wait for the rest: then we give up after 500 ms)
      await send(randomBytes(1 + Math.floor(rand() * 8192)), 500);
    }
    await expectHealthy();
  });

  test('complete frames of random bytes, with and without a real api key', async () => {
    const keys = [...API_BY_KEY.keys()];
    const conns: Array<Promise<{ closed: boolean; frames: Buffer[] }>> = [];
    for (let i = 0; i < 60; i++) {
      const body = randomBytes(8 + Math.floor(rand() * 300));
      if (i % 3 !== 0) {
        // a real api key and version, then garbage
        const api = API_BY_KEY.get(keys[i % keys.length]!)!;
        body.writeInt16BE(api.apiKey, 0);
        body.writeInt16BE(api.minVersion + (i % (api.maxVersion - api.minVersion + 1)), 2);
      }
      conns.push(send(withSize(body), 5_000));
    }
    for (const r of await Promise.all(conns)) expectErrorOrClose(r);
    await expectHealthy();
  });

  test('mutated valid requests (bytes flipped, cut, inserted): never a crash, never a handler failure', async () => {
    const topic = uniqueTopic('fuzz');
    await createTopic(broker.port, topic, 2);
    const batch = buildBatch({ records: [{ key: Buffer.from('k'), value: Buffer.from('value'), headers: [{ key: 'h', value: Buffer.from('x') }], timestamp: Date.now() }] });
    const fetchBody = {
      replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [], rackId: '',
    };
    const seeds: Buffer[] = [
      requestFrame(ApiVersionsApi, 3, 1, { clientSoftwareName: 'e2e', clientSoftwareVersion: '1' }),
      requestFrame(MetadataApi, 1, 1, { topics: [{ name: topic }] }),
      requestFrame(MetadataApi, 12, 1, { topics: [{ name: topic, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false }),
      requestFrame(ProduceApi, 3, 1, produceBody(topic, 0, [], { batch })),
      requestFrame(ProduceApi, 9, 1, produceBody(topic, 1, [], { batch })),
      requestFrame(FetchApi, 4, 1, fetchBody),
      requestFrame(FetchApi, 12, 1, fetchBody),
      requestFrame(ListOffsetsApi, 7, 1, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }] }),
    ];
    const mutate = (f: Buffer): Buffer => {
      const body = Buffer.from(f.subarray(4));
      switch (Math.floor(rand() * 3)) {
        case 0: // flip 1-4 bytes (the header's api key and version too, sometimes)
          for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) body[Math.floor(rand() * body.length)] = Math.floor(rand() * 256);
          return withSize(body);
        case 1: // cut the body short, with a matching size prefix
          return withSize(body.subarray(0, 8 + Math.floor(rand() * (body.length - 8))));
        default: {
          // insert random bytes
          const at = 8 + Math.floor(rand() * (body.length - 8));
          return withSize(Buffer.concat([body.subarray(0, at), randomBytes(1 + Math.floor(rand() * 8)), body.subarray(at)]));
        }
      }
    };
    const cases = Array.from({ length: Number(process.env.STREAMHOUSE_E2E_FUZZ_CASES ?? 240) }, (_, i) => mutate(seeds[i % seeds.length]!));
    for (let i = 0; i < cases.length; i += 40) {
      // a mutated request may be valid and wait (a long poll): 1 s is enough to see a crash or a close
      await Promise.all(cases.slice(i, i + 40).map((c) => send(c, 1_000)));
      expect(broker.running, broker.logs().slice(-30).join('\n')).toBe(true);
    }
    await expectHealthy();
  });

  test('a truncated frame, then close', async () => {
    const full = requestFrame(MetadataApi, 9, 5, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    for (const cut of [1, 3, 4, 6, Math.floor(full.length / 2), full.length - 1]) {
      const c = await WireConnection.connect(broker.port);
      await c.write(full.subarray(0, cut));
      c.socket.end();
      const r = await c.waitClosed(5_000);
      expect(r.frames).toEqual([]);
      c.close();
    }
    // half a frame, then silence: the broker keeps waiting and serves others meanwhile
    const idle = await WireConnection.connect(broker.port);
    await idle.write(full.subarray(0, 10));
    await expectHealthy();
    idle.close();
  });

  test.each([
    ['2 GiB (0x7fffffff)', 0x7fffffff],
    ['negative (-1)', -1],
    ['negative (0x80000000)', -0x80000000],
    ['zero', 0],
    ['too small for a header (4)', 4],
    ['just above socket.request.max.bytes', 100 * 1024 * 1024 + 1],
  ])('length prefix %s: connection closed', async (_name, size) => {
    const b = Buffer.alloc(64);
    b.writeInt32BE(size, 0);
    const r = await send(b);
    expect(r).toEqual({ closed: true, frames: [] });
    await expectHealthy();
  });

  test('huge length prefixes do not allocate: RSS stays bounded', async () => {
    const rssBefore = rssBytes(broker.pid);
    // forged sizes above the limit: closed at once
    await Promise.all(
      Array.from({ length: 20 }, () => {
        const b = Buffer.alloc(4 + 65536);
        b.writeInt32BE(0x7fffffff, 0);
        return send(b);
      }),
    );
    // sizes right at the limit (100 MiB) with only 256 KiB sent: the broker must buffer what came, not the announced size
    const open = await Promise.all(
      Array.from({ length: 24 }, async () => {
        const c = await WireConnection.connect(broker.port);
        const b = Buffer.alloc(4 + 256 * 1024, 7);
        b.writeInt32BE(100 * 1024 * 1024, 0);
        await c.write(b);
        return c;
      }),
    );
    await expectHealthy();
    const rss = rssBytes(broker.pid);
    for (const c of open) c.close();
    console.log(`broker RSS ${(rssBefore / 1048576).toFixed(0)} MiB before, ${(rss / 1048576).toFixed(0)} MiB with 24 half-sent 100 MiB frames`);
    expect(rss).toBeLessThan(RSS_LIMIT);
    await expectHealthy();
  });
});

describe('malformed requests inside valid frames', () => {
  /** Metadata v1 body: int32 topic count, then int16-length names. */
  function metadataV1(count: number, names: Array<{ len: number; bytes: Buffer }> = []): Buffer {
    const w = new Writer();
    w.writeInt32(count);
    for (const n of names) {
      w.writeInt16(n.len);
      w.writeRaw(n.bytes);
    }
    return w.toBuffer();
  }

  test.each([
    ['topic count -2', metadataV1(-2)],
    ['topic count -1000000', metadataV1(-1_000_000)],
    ['topic count 2^31-1 with no topics', metadataV1(0x7fffffff)],
    ['topic name length -5', metadataV1(1, [{ len: -5, bytes: Buffer.from('abc') }])],
    ['topic name length 30000 with 3 bytes', metadataV1(1, [{ len: 30000, bytes: Buffer.from('abc') }])],
  ])('Metadata v1 with %s: error or closed connection', async (_name, body) => {
    const r = await send(rawFrame(3, 1, 42, body));
    expectErrorOrClose(r, 42);
    await expectHealthy();
  });

  test('Metadata v9 (flexible) with a compact array count of 2^32-1 and of 2^35: error or closed connection', async () => {
    for (const varint of [Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])]) {
      const w = new Writer();
      w.writeInt16(3).writeInt16(9).writeInt32(43).writeNullableString('e2e').writeUnsignedVarint(0); // header v2
      w.writeRaw(varint);
      const r = await send(withSize(w.toBuffer()));
      expectErrorOrClose(r, 43);
    }
    await expectHealthy();
  });

  test('Produce v8 with a records length of -7 and of 2^31-1: error or closed connection', async () => {
    for (const len of [-7, 0x7fffffff]) {
      const w = new Writer();
      w.writeNullableString(null).writeInt16(-1).writeInt32(5000);
      w.writeInt32(1).writeString('bad-records').writeInt32(1).writeInt32(0);
      w.writeInt32(len);
      w.writeRaw(Buffer.alloc(16));
      const r = await send(rawFrame(0, 8, 44, w.toBuffer()));
      expectErrorOrClose(r, 44);
    }
    await expectHealthy();
  });

  test('a Produce whose batch has a bad CRC gets CORRUPT_MESSAGE (2) and stores nothing', async () => {
    const topic = uniqueTopic('bad-crc');
    await createTopic(broker.port, topic, 1);
    const good = buildBatch({ records: [{ key: Buffer.from('k'), value: Buffer.from('value'), timestamp: Date.now() }] });
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff; // a record byte: covered by the CRC
    const badCrc = Buffer.from(good);
    badCrc.writeUInt32BE((good.readUInt32BE(CRC_OFFSET) ^ 1) >>> 0, CRC_OFFSET);
    const c = await WireConnection.connect(broker.port);
    try {
      for (const [version, batch] of [
        [3, bad],
        [8, badCrc],
        [9, bad],
      ] as Array<[number, Buffer]>) {
        const res = await c.request(ProduceApi, version, produceBody(topic, 0, [], { batch }));
        const pr = res.responses[0]!.partitionResponses[0]!;
        expect(pr.errorCode, `Produce v${version}`).toBe(2);
        expect(pr.baseOffset).toBe(-1n);
      }
      // the same connection still works: a good batch is stored at offset 0
      const ok = await c.request(ProduceApi, 9, produceBody(topic, 0, [], { batch: good }));
      expect(ok.responses[0]!.partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 0n });
    } finally {
      c.close();
    }
    expect((await kcatConsume({ bootstrap: broker.bootstrap, topic })).map((r) => [r.offset, r.key, r.value])).toEqual([[0, 'k', 'value']]);
  });

  test('an unknown api key (9999) and an unknown version of a known api (Metadata v99): error or closed connection', async () => {
    const unknownKey = await send(rawFrame(9999, 0, 45));
    expectErrorOrClose(unknownKey, 45);
    const metadata99 = await send(rawFrame(3, 99, 46, Buffer.alloc(20)));
    expectErrorOrClose(metadata99, 46);
    const produce99 = await send(rawFrame(0, 99, 47, Buffer.alloc(20)));
    expectErrorOrClose(produce99, 47);
    await expectHealthy();
  });

  test('ApiVersions v99 gets the v0 fallback: UNSUPPORTED_VERSION (35) and the list', async () => {
    const r = await send(rawFrame(18, 99, 48, randomBytes(30)), 1_000);
    expect(r.frames).toHaveLength(1);
    const rd = new Reader(r.frames[0]!);
    expect(decodeResponseHeader(rd, 0).correlationId).toBe(48);
    const body = decodeApiVersionsResponse(rd, 0);
    expect(rd.remaining()).toBe(0);
    expect(body.errorCode).toBe(35);
    const keys = new Map(body.apiKeys.map((k) => [k.apiKey, k]));
    expect(keys.get(18)).toMatchObject({ minVersion: 0, maxVersion: 4 });
    for (const k of [0, 1, 2, 3]) expect(keys.has(k)).toBe(true);
    expect(r.closed).toBe(false); // the client retries with a version from the list on the same connection

    // ApiVersions v4 is answered normally
    const c = await WireConnection.connect(broker.port);
    try {
      const ok = await c.request(ApiVersionsApi, 4, { clientSoftwareName: 'e2e', clientSoftwareVersion: '1' });
      expect(ok.errorCode).toBe(0);
      // and a bad software name (KIP-511) is INVALID_REQUEST (42)
      const badName = await c.request(ApiVersionsApi, 3, { clientSoftwareName: '-bad name-', clientSoftwareVersion: '1' });
      expect(badName.errorCode).toBe(42);
    } finally {
      c.close();
    }
  });
});

describe('pipelining', () => {
  test('50 requests back to back on one socket are answered in order', async () => {
    const topic = uniqueTopic('pipeline');
    await createTopic(broker.port, topic, 1);
    await kcatProduce({ bootstrap: broker.bootstrap, topic, lines: ['a', 'b', 'c'] });
    type Kind = 'apiversions' | 'metadata' | 'fetch-wait' | 'listoffsets' | 'produce';
    const kinds: Kind[] = Array.from({ length: 50 }, (_, i) =>
      i % 10 === 3 ? 'fetch-wait' : i % 5 === 0 ? 'produce' : i % 3 === 0 ? 'metadata' : i % 2 === 0 ? 'listoffsets' : 'apiversions',
    );
    const frames = kinds.map((k, i) => {
      const id = 5000 + i;
      switch (k) {
        case 'apiversions':
          return requestFrame(ApiVersionsApi, 3, id, { clientSoftwareName: 'e2e', clientSoftwareVersion: '1' });
        case 'metadata':
          return requestFrame(MetadataApi, 12, id, { topics: [{ name: topic, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
        case 'listoffsets':
          return requestFrame(ListOffsetsApi, 7, id, {
            replicaId: -1,
            isolationLevel: 0,
            topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }],
          });
        case 'produce':
          return requestFrame(ProduceApi, 9, id, produceBody(topic, 0, [`p${i}`]));
        case 'fetch-wait':
          // a long poll that waits its full 300 ms (min bytes never reached) while later requests finish first
          return requestFrame(FetchApi, 11, id, {
            replicaId: -1,
            maxWaitMs: 300,
            minBytes: 10 << 20,
            maxBytes: 1 << 20,
            isolationLevel: 0,
            sessionId: 0,
            sessionEpoch: -1,
            topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
            forgottenTopicsData: [],
            rackId: '',
          });
      }
    });
    const c = await WireConnection.connect(broker.port);
    try {
      await c.write(Buffer.concat(frames)); // one write, no waiting
      let produced = 0;
      const endOffsets: Array<[number, number]> = [];
      for (let i = 0; i < kinds.length; i++) {
        const f = await c.readFrame(15_000);
        expect(f, `response ${i}`).not.toBeNull();
        const id = 5000 + i;
        switch (kinds[i]!) {
          case 'apiversions':
            expect(decodeResponse(ApiVersionsApi, 3, f!)).toMatchObject({ correlationId: id, body: { errorCode: 0 } });
            break;
          case 'metadata': {
            const r = decodeResponse(MetadataApi, 12, f!);
            expect(r.correlationId).toBe(id);
            expect(r.body.topics[0]).toMatchObject({ name: topic, errorCode: 0 });
            break;
          }
          case 'listoffsets': {
            const r = decodeResponse(ListOffsetsApi, 7, f!);
            expect(r.correlationId).toBe(id);
            const p = r.body.topics[0]!.partitions[0]!;
            expect(p.errorCode).toBe(0);
            // (StreamHouse runs a connection's requests concurrently, answering in order; Kafka runs them
            // one at a time, so there this is exactly 3 + the produces before it. Here: monotonic, in range.)
            endOffsets.push([Number(p.offset), 3 + produced]);
            break;
          }
          case 'produce': {
            const r = decodeResponse(ProduceApi, 9, f!);
            expect(r.correlationId).toBe(id);
            expect(r.body.responses[0]!.partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: BigInt(3 + produced) });
            produced++;
            break;
          }
          case 'fetch-wait': {
            const r = decodeResponse(FetchApi, 11, f!);
            expect(r.correlationId).toBe(id);
            expect(r.body.responses[0]!.partitions[0]!.errorCode).toBe(0);
            break;
          }
        }
      }
      const seen = endOffsets.map(([o]) => o);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
      for (const o of seen) expect(o).toBeGreaterThanOrEqual(3), expect(o).toBeLessThanOrEqual(3 + produced);
      const differs = endOffsets.filter(([o, k]) => o !== k);
      if (differs.length) console.log(`ListOffsets pipelined after produces: ${differs.length}/${endOffsets.length} differ from Kafka's sequential answer`, differs);
    } finally {
      c.close();
    }
    await expectHealthy();
  });
});

test('no request made the broker log an error (every bad input was an expected rejection)', () => {
  const bad = broker.jsonLogs().filter((l) => l.level === 'error' || l.level === 'fatal');
  expect(bad.map((l) => JSON.stringify(l).slice(0, 500))).toEqual([]);
  expect(broker.running).toBe(true);
});
