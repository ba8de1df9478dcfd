/**
 * src/client/kafka-client.ts and cluster.ts: version negotiation (including
 * KIP-511's v0 fallback, against a scripted server), pipelined requests
 * matched by correlation id, timeouts and closed connections, against a real
 * broker process and against small fake servers that misbehave on purpose.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KafkaClient, KafkaClientError, KafkaResponseError, parseHostPort } from '../../src/client/kafka-client.js';
import { ClusterClient } from '../../src/client/cluster.js';
import { ApiVersionsApi, encodeApiVersionsResponse } from '../../src/protocol/generated/api-versions.js';
import { MetadataApi } from '../../src/protocol/generated/metadata.js';
import { FindCoordinatorApi } from '../../src/protocol/generated/find-coordinator.js';
import { JoinGroupApi } from '../../src/protocol/generated/join-group.js';
import { ListGroupsApi } from '../../src/protocol/generated/list-groups.js';
import { encodeResponseHeader } from '../../src/protocol/generated/response-header.js';
import { decodeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { requestHeaderVersion } from '../../src/protocol/generated/index.js';
import { ErrorCode } from '../../src/protocol/kafka-error.js';
import { Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';
import { startBroker, type BrokerProcess } from '../helpers/broker.js';

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker({ args: ['--group-initial-rebalance-delay-ms', '0'] });
});
afterAll(async () => {
  await broker?.cleanup();
});

/** A scripted server: `onFrame(header, frame, socket)` per request frame. */
async function fakeServer(onFrame: (h: { apiKey: number; version: number; correlationId: number }, socket: net.Socket) => void): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const frame = buf.subarray(4, 4 + buf.readInt32BE(0));
        buf = buf.subarray(4 + frame.length);
        const apiKey = frame.readInt16BE(0);
        const version = frame.readInt16BE(2);
        const h = decodeRequestHeader(new Reader(frame), requestHeaderVersion(apiKey, version));
        onFrame({ apiKey, version, correlationId: h.correlationId }, s);
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function frame(correlationId: number, body: (w: Writer) => void): Buffer {
  const w = new Writer();
  w.writeInt32(0);
  encodeResponseHeader(w, { correlationId }, 0);
  body(w);
  const b = w.toBuffer();
  b.writeInt32BE(b.length - 4, 0);
  return b;
}

describe('KafkaClient against the broker', () => {
  test('negotiates versions from ApiVersions and picks min(codec max, broker max)', async () => {
    const c = await KafkaClient.connect(broker.bootstrap);
    try {
      const [min, max] = c.brokerVersions.get(MetadataApi.apiKey)!;
      expect(min).toBe(0);
      expect(c.versionFor(MetadataApi)).toBe(Math.min(max, MetadataApi.maxVersion));
      expect(c.versionFor(FindCoordinatorApi)).toBe(5); // codec knows 6, the broker serves 5
      expect(c.versionFor(MetadataApi, 4)).toBe(4);
      const md = await c.request(MetadataApi, { topics: null });
      expect(md.brokers).toEqual([expect.objectContaining({ nodeId: 0, host: '127.0.0.1', port: broker.port })]);
    } finally {
      c.close();
    }
  });

  test('pipelined requests of different versions resolve to their own responses', async () => {
    const c = await KafkaClient.connect(broker.bootstrap);
    try {
      const versions = Array.from({ length: 30 }, (_, i) => i % 13);
      const results = await Promise.all(
        versions.map((v) => c.request(MetadataApi, { topics: [], allowAutoTopicCreation: false }, v).then((r) => ({ v, r }))),
      );
      for (const { v, r } of results) {
        expect(r.brokers[0]!.port).toBe(broker.port);
        // clusterId exists from v2, throttle time from v3: decoded with the version asked.
        expect(r.clusterId === undefined || r.clusterId === null).toBe(v < 2);
      }
    } finally {
      c.close();
    }
  });

  test('a version the broker does not serve is refused before sending', async () => {
    const c = await KafkaClient.connect(broker.bootstrap);
    try {
      await expect(c.request(FindCoordinatorApi, { key: 'g', keyType: 0 }, 6)).rejects.toThrow(/FindCoordinator v6 is not served/);
      // Transactions-only APIs the broker does not serve at all.
      const { EndTxnApi } = await import('../../src/protocol/generated/end-txn.js');
      await expect(c.request(EndTxnApi, { transactionalId: 't', producerId: 0n, producerEpoch: 0, committed: true })).rejects.toThrow(/does not serve EndTxn/);
    } finally {
      c.close();
    }
  });

  test('a per-request timeout rejects that request; the connection keeps working', async () => {
    const c = await KafkaClient.connect(broker.bootstrap);
    try {
      // A JoinGroup parks in the join barrier: a second member waits for the first to rejoin.
      const groupId = `timeout-${Date.now()}`;
      const join = (memberId: string) =>
        c.request(
          JoinGroupApi,
          { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 1000, memberId, groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.alloc(0) }] },
          { version: 5, timeoutMs: 300 },
        );
      const a = await join('');
      expect(a.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
      expect((await join(a.memberId)).errorCode).toBe(ErrorCode.NONE);
      const b = await join('');
      await expect(join(b.memberId)).rejects.toThrow(/JoinGroup v5 to .* timed out after 300 ms/);
      // Responses leave in request order: this one follows the parked JoinGroup, answered
      // once the first member fails to rejoin within the 1 s rebalance timeout.
      const lg = await c.request(ListGroupsApi, {});
      expect(lg.groups.map((g) => g.groupId)).toContain(groupId);
    } finally {
      c.close();
    }
  });

  test('connection refused is one clear error', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    await expect(KafkaClient.connect(`127.0.0.1:${port}`)).rejects.toThrow(new KafkaClientError(`cannot connect to 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`));
  });

  test('addresses parse as HOST:PORT, [v6]:PORT, HOST (9092)', () => {
    expect(parseHostPort('localhost:1234')).toEqual({ host: 'localhost', port: 1234 });
    expect(parseHostPort('[::1]:1234')).toEqual({ host: '::1', port: 1234 });
    expect(parseHostPort('kafka')).toEqual({ host: 'kafka', port: 9092 });
    expect(() => parseHostPort('a:b')).toThrow(/HOST:PORT/);
    expect(() => parseHostPort('a:70000')).toThrow(/HOST:PORT/);
  });
});

describe('KafkaClient against scripted servers', () => {
  test('KIP-511: an ApiVersions v0 answer with UNSUPPORTED_VERSION makes it ask again at the broker max', async () => {
    const seen: number[] = [];
    const srv = await fakeServer((h, s) => {
      if (h.apiKey !== ApiVersionsApi.apiKey) return;
      seen.push(h.version);
      const ranges = [
        { apiKey: 18, minVersion: 0, maxVersion: 2 },
        { apiKey: 3, minVersion: 0, maxVersion: 7 },
      ];
      if (h.version > 2) s.write(frame(h.correlationId, (w) => encodeApiVersionsResponse(w, { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: ranges }, 0)));
      else s.write(frame(h.correlationId, (w) => encodeApiVersionsResponse(w, { errorCode: 0, apiKeys: ranges, throttleTimeMs: 0 }, h.version)));
    });
    try {
      const c = await KafkaClient.connect(srv.address);
      expect(seen).toEqual([ApiVersionsApi.maxVersion, 2]);
      expect(c.versionFor(MetadataApi)).toBe(7);
      c.close();
    } finally {
      await srv.close();
    }
  });

  test('a server that never answers: connect fails with the request timeout', async () => {
    const srv = await fakeServer(() => {});
    try {
      await expect(KafkaClient.connect(srv.address, { requestTimeoutMs: 200 })).rejects.toThrow(/ApiVersions v4 to .* timed out after 200 ms/);
    } finally {
      await srv.close();
    }
  });

  test('a connection closed by the server rejects every request in flight', async () => {
    let sock: net.Socket | null = null;
    const srv = await fakeServer((h, s) => {
      sock = s;
      if (h.apiKey === ApiVersionsApi.apiKey) {
        s.write(frame(h.correlationId, (w) => encodeApiVersionsResponse(w, { errorCode: 0, apiKeys: [{ apiKey: 3, minVersion: 0, maxVersion: 12 }, { apiKey: 18, minVersion: 0, maxVersion: 4 }], throttleTimeMs: 0 }, 4)));
      }
    });
    try {
      const c = await KafkaClient.connect(srv.address);
      const inflight = [c.request(MetadataApi, { topics: null }), c.request(MetadataApi, { topics: null })];
      await new Promise((r) => setTimeout(r, 50));
      sock!.destroy();
      for (const p of inflight) await expect(p).rejects.toThrow(/connection closed/);
      await expect(c.request(MetadataApi, { topics: null })).rejects.toThrow(/connection closed/);
      expect(c.closed).toBe(true);
    } finally {
      await srv.close();
    }
  });

  test('an absurd frame size closes the connection instead of allocating', async () => {
    const srv = await fakeServer((h, s) => {
      const b = Buffer.alloc(8);
      b.writeInt32BE(0x7fffffff, 0);
      b.writeInt32BE(h.correlationId, 4);
      s.write(b);
    });
    try {
      await expect(KafkaClient.connect(srv.address)).rejects.toThrow(/bad response frame size 2147483647/);
    } finally {
      await srv.close();
    }
  });
});

describe('ClusterClient', () => {
  test('finds the group coordinator and reuses one connection per broker', async () => {
    const cluster = await ClusterClient.connect(`127.0.0.1:1,${broker.bootstrap}`); // the first address is refused
    try {
      const co = await cluster.findCoordinator('some-group');
      expect(co).toMatchObject({ nodeId: 0, host: '127.0.0.1', port: broker.port });
      const a = await cluster.coordinator('some-group');
      const b = await cluster.node(0);
      expect(a).toBe(b);
      const md = await cluster.metadata(['no-such-topic']);
      expect(md.topics.get('no-such-topic')?.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      await expect(cluster.node(42)).rejects.toThrow(/broker 42 is not in the cluster metadata/);
    } finally {
      cluster.close();
    }
  });

  test('errors carry the Kafka error name', () => {
    const e = new KafkaResponseError(ErrorCode.NOT_COORDINATOR, 'OffsetFetch(g)');
    expect(e.message).toBe('OffsetFetch(g): NOT_COORDINATOR');
    expect(e.retriable).toBe(true);
  });
});
