// A recording Kafka proxy in front of one broker. The broker advertises the
// proxy's address (--advertise), so every client connection of a fault run
// goes through it, whatever the client stack. It forwards bytes unchanged and
// splits both directions into frames to watch the consumer-group APIs:
// JoinGroup and SyncGroup answers (who is in which generation, who owns which
// partition), OffsetCommit requests and answers (which generation committed
// what, and whether it was accepted) and OffsetFetch answers (committed
// offsets as the coordinator reports them); each becomes a history event.
// Other frames are skipped without being copied.
//
// It is also a network switch between clients and the broker: cut() stops
// forwarding both ways without closing anything (bytes vanish, connections
// hang, new connections are accepted and never answered, as a partition);
// heal() closes the hung connections and forwards again; reset() closes
// every connection now (clients see a broken connection).
//
// Usage:
//   const p = new KafkaProxy(brokerPort, (e) => history.add(e), brokerId);
//   await p.start();              // p.port: give it to the broker as --advertise 127.0.0.1:<p.port>
//   p.cut(); ...; p.heal(); await p.close();

import net from 'node:net';
import { Reader } from '../../../src/protocol/reader.js';
import { readTaggedFields } from '../../../src/protocol/tagged.js';
import { ERROR_INFO } from '../../../src/protocol/generated/errors.js';
import { JoinGroupApi } from '../../../src/protocol/generated/join-group.js';
import { SyncGroupApi } from '../../../src/protocol/generated/sync-group.js';
import { OffsetCommitApi } from '../../../src/protocol/generated/offset-commit.js';
import { OffsetFetchApi } from '../../../src/protocol/generated/offset-fetch.js';
import { decodeConsumerProtocolAssignment } from '../../../src/protocol/generated/consumer-protocol-assignment.js';
import type { ApiDescriptor } from '../../../src/protocol/generated/types.js';
import type { HistoryEvent, TopicPartition } from './history.js';

const WATCHED = new Map<number, ApiDescriptor>([JoinGroupApi, SyncGroupApi, OffsetCommitApi, OffsetFetchApi].map((a) => [a.apiKey, a]));

export const errorName = (code: number): string => ERROR_INFO[code]?.name ?? `ERROR_${code}`;

interface Pending {
  api: ApiDescriptor;
  version: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  request: any;
  sentAt: number;
}

/**
 * Splits a byte stream into Kafka frames (int32 size + payload). `wants`
 * sees the first `peek` bytes of a frame's payload and says whether the
 * whole frame is needed; unwanted frames are skipped without copying.
 */
class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private skip = 0;

  constructor(
    private readonly peek: number,
    private readonly wants: (head: Buffer) => boolean,
    private readonly onFrame: (payload: Buffer) => void,
  ) {}

  feed(data: Buffer): void {
    while (data.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        continue;
      }
      this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
      data = Buffer.alloc(0);
      while (this.buf.length >= 4 + this.peek) {
        const size = this.buf.readInt32BE(0);
        if (size < this.peek) {
          // Not a frame we understand: stop watching this connection.
          this.skip = Number.MAX_SAFE_INTEGER;
          this.buf = Buffer.alloc(0);
          return;
        }
        if (this.wants(this.buf.subarray(4, 4 + this.peek))) {
          if (this.buf.length < 4 + size) break;
          this.onFrame(Buffer.from(this.buf.subarray(4, 4 + size)));
          this.buf = this.buf.subarray(4 + size);
        } else if (this.buf.length >= 4 + size) {
          this.buf = this.buf.subarray(4 + size);
        } else {
          this.skip = 4 + size - this.buf.length;
          this.buf = Buffer.alloc(0);
        }
      }
      if (this.buf.length > 0) this.buf = Buffer.from(this.buf); // do not pin a large chunk
    }
  }
}

export class KafkaProxy {
  port = 0;
  private server!: net.Server;
  private readonly conns = new Set<net.Socket>();
  private cutOff = false;
  /** Frames decoded, decode failures (a failure is reported, never fatal). */
  readonly stats = { connections: 0, watched: 0, decodeErrors: 0 };

  /** `broker` (optional) goes into every event this proxy records. */
  constructor(
    private readonly targetPort: number,
    private readonly record: (e: HistoryEvent) => void,
    private readonly broker?: number,
  ) {}

  private add(e: HistoryEvent): void {
    this.record(this.broker === undefined ? e : ({ ...e, broker: this.broker } as HistoryEvent));
  }

  async start(port = 0): Promise<void> {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    this.stats.connections++;
    this.conns.add(client);
    client.on('close', () => this.conns.delete(client));
    client.on('error', () => {});
    if (this.cutOff) {
      client.on('data', () => {});
      return;
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    this.conns.add(upstream);
    const pending = new Map<number, Pending>();
    const requests = new FrameSplitter(
      8,
      (h) => WATCHED.has(h.readInt16BE(0)),
      (payload) => this.onRequest(payload, pending),
    );
    const responses = new FrameSplitter(
      4,
      (h) => pending.has(h.readInt32BE(0)),
      (payload) => this.onResponse(payload, pending),
    );
    upstream.on('close', () => {
      this.conns.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (d: Buffer) => {
      if (this.cutOff) return;
      requests.feed(d);
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (this.cutOff) return;
      responses.feed(d);
      client.write(d);
    });
  }

  private onRequest(payload: Buffer, pending: Map<number, Pending>): void {
    try {
      const r = new Reader(payload);
      const apiKey = r.readInt16();
      const version = r.readInt16();
      const correlationId = r.readInt32();
      r.readNullableString(); // client id
      const api = WATCHED.get(apiKey)!;
      if (api.flexibleFrom !== null && version >= api.flexibleFrom) readTaggedFields(r);
      const request = api.decodeRequest(r, version);
      pending.set(correlationId, { api, version, request, sentAt: Date.now() });
    } catch {
      this.stats.decodeErrors++;
    }
  }

  private onResponse(payload: Buffer, pending: Map<number, Pending>): void {
    const t = Date.now();
    const r = new Reader(payload);
    const correlationId = r.readInt32();
    const p = pending.get(correlationId)!;
    pending.delete(correlationId);
    try {
      if (p.api.flexibleFrom !== null && p.version >= p.api.flexibleFrom) readTaggedFields(r);
      const res = p.api.decodeResponse(r, p.version);
      this.stats.watched++;
      this.interpret(p, res, t);
    } catch {
      this.stats.decodeErrors++;
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private interpret(p: Pending, res: any, t: number): void {
    const req = p.request;
    switch (p.api.apiKey) {
      case JoinGroupApi.apiKey:
        if (res.errorCode === 0) this.add({ type: 'join', group: req.groupId, member: res.memberId, generation: res.generationId, t });
        break;
      case SyncGroupApi.apiKey: {
        if (res.errorCode !== 0) break;
        const partitions: TopicPartition[] = [];
        const bytes: Buffer = res.assignment;
        if (bytes && bytes.length >= 2) {
          const ar = new Reader(bytes);
          const version = ar.readInt16();
          const a = decodeConsumerProtocolAssignment(ar, Math.min(version, 3));
          for (const tp of a.assignedPartitions) for (const q of tp.partitions) partitions.push({ topic: tp.topic, partition: q });
        }
        this.add({ type: 'assignment', group: req.groupId, member: req.memberId, generation: req.generationId, partitions, t });
        break;
      }
      case OffsetCommitApi.apiKey: {
        const errors = new Map<string, number>();
        for (const tt of res.topics) for (const q of tt.partitions) errors.set(`${tt.name}/${q.partitionIndex}`, q.errorCode);
        for (const tt of req.topics) {
          for (const q of tt.partitions) {
            const code = errors.get(`${tt.name}/${q.partitionIndex}`) ?? -1;
            this.add({
              type: 'commit',
              group: req.groupId,
              member: req.memberId ?? '',
              generation: req.generationIdOrMemberEpoch ?? -1,
              topic: tt.name,
              partition: q.partitionIndex,
              offset: Number(q.committedOffset),
              error: code === 0 ? null : errorName(code),
              sentAt: p.sentAt,
              t,
            });
          }
        }
        break;
      }
      case OffsetFetchApi.apiKey: {
        const groups: Array<{ groupId: string; errorCode: number; topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; committedOffset: bigint; errorCode: number }> }> }> =
          p.version >= 8 ? res.groups : [{ groupId: req.groupId, errorCode: res.errorCode ?? 0, topics: res.topics }];
        for (const g of groups) {
          if (g.errorCode !== 0) continue;
          for (const tt of g.topics) {
            for (const q of tt.partitions) {
              if (q.errorCode !== 0) continue;
              this.add({ type: 'committed', group: g.groupId, topic: tt.name, partition: q.partitionIndex, offset: Number(q.committedOffset), sentAt: p.sentAt, t });
            }
          }
        }
        break;
      }
    }
  }

  /** Stops forwarding both ways; connections hang (a network partition between clients and this broker). */
  cut(): void {
    this.cutOff = true;
  }

  /** Forwards again; the connections that hung are closed (clients reconnect). */
  heal(): void {
    this.cutOff = false;
    this.reset();
  }

  /** Closes every open connection now. */
  reset(): void {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
