/**
 * In-process fuzzing of the request decoders and the dispatcher path.
 *
 * Every case (fuzz.ts) goes to
 *  1. the decoders: the request header and the body decoder of the frame's
 *     api key at its version; anything thrown other than DecodeError is a
 *     decoder bug;
 *  2. the dispatcher of a real broker started in this process (memory://
 *     objects, embedded metadata, the real handlers): it must answer, or
 *     close the connection (CloseConnection), and nothing else; an answer
 *     must decode as the response of that api and version with the request's
 *     correlation id; no handler may fail (an error-level log line 'handler
 *     failed' is an UNKNOWN_SERVER_ERROR on input the broker should reject);
 *     no request of an api that does not wait by design (Fetch long polls,
 *     JoinGroup/SyncGroup rebalances, Produce waiting for its commit) may
 *     stay unanswered for HANG_MS; no uncaught exception or unhandled
 *     rejection may happen; the event loop may not be blocked by one case
 *     for more than SLOW_MS.
 *  3. afterwards the broker still answers Metadata and serves what was
 *     produced to a guard topic before the fuzzing, unchanged.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Broker } from '../../../src/broker/broker.js';
import { parseArgs } from '../../../src/config.js';
import { API_BY_KEY, requestHeaderVersion, responseHeaderVersion } from '../../../src/protocol/generated/index.js';
import { decodeRequestHeader, encodeRequestHeader } from '../../../src/protocol/generated/request-header.js';
import { decodeResponseHeader } from '../../../src/protocol/generated/response-header.js';
import { CreateTopicsApi } from '../../../src/protocol/generated/create-topics.js';
import { FetchApi } from '../../../src/protocol/generated/fetch.js';
import { MetadataApi } from '../../../src/protocol/generated/metadata.js';
import { ProduceApi } from '../../../src/protocol/generated/produce.js';
import type { ApiDescriptor } from '../../../src/protocol/generated/types.js';
import { DecodeError, Reader } from '../../../src/protocol/reader.js';
import { Writer } from '../../../src/protocol/writer.js';
import { buildBatch, decodeRecords } from '../../../src/protocol/records/records.js';
import { splitBatches } from '../../../src/protocol/records/batch.js';
import { CloseConnection, type ConnectionContext, type FrameHandler } from '../../../src/server/connection.js';
import { FUZZ_TOPICS, FuzzCases, type SeedFrame } from './fuzz.js';

const HANG_MS = 30_000;
/** Answers slower than this are reported (not failures: a fuzzed 65535-partition topic takes a minute to open). */
const SLOW_ANSWER_MS = 5_000;
const SLOW_MS = 500;
const MAX_INFLIGHT = 64;
/** Apis whose requests may wait by design (long polls, rebalances, commits). */
const PARKING_APIS = new Set(['Fetch', 'JoinGroup', 'SyncGroup', 'Produce']);
const GUARD_TOPIC = 'guard-topic-7c1e';

export interface InProcessFuzzOptions {
  seed: number;
  seeds: SeedFrame[];
  /** Cases to run (each goes to the decoders and the dispatcher). */
  cases: number;
  /** Stop earlier at this wall-clock budget. */
  deadlineMs?: number;
  /** Also run this many extra cases through the decoders only (cheap). */
  decoderOnlyCases?: number;
  log?: (line: string) => void;
  /** Replay: these frames, in this order, instead of generated cases. */
  frames?: Buffer[];
}

export interface InProcessFuzzResult {
  seed: number;
  cases: number;
  decoderOnlyCases: number;
  casesPerSecond: number;
  headerDecoded: number;
  bodyDecoded: number;
  decodeErrors: number;
  answered: number;
  connectionsClosed: number;
  parked: number;
  /** Answered, but after SLOW_ANSWER_MS. */
  slowAnswers: number;
  mutators: Record<string, number>;
  // must be zero
  decoderCrashes: number;
  unexpectedRejections: number;
  handlerErrors: number;
  badResponses: number;
  hangs: number;
  slowCases: number;
  uncaught: number;
  guardLost: number;
  unhealthy: number;
  maxCaseMs: number;
  /** Longest the event loop was blocked (ms), whatever blocked it. */
  maxEventLoopLagMs: number;
  /** Distinct error-level log lines (numbers and ids blanked) with their counts. */
  errorKinds: Record<string, number>;
  examples: Record<string, string[]>;
}

export const INPROCESS_MUST_BE_ZERO = ['decoderCrashes', 'unexpectedRejections', 'handlerErrors', 'badResponses', 'hangs', 'slowCases', 'uncaught', 'guardLost', 'unhealthy'] as const;

function frameOf(api: ApiDescriptor, version: number, body: unknown, correlationId: number): Buffer {
  const w = new Writer(128);
  encodeRequestHeader(w, { requestApiKey: api.apiKey, requestApiVersion: version, correlationId, clientId: 'fuzz-setup' }, requestHeaderVersion(api.apiKey, version));
  api.encodeRequest(w, body, version);
  return w.toBuffer();
}

function decodeAnswer(chunks: Buffer[], apiKey: number, version: number): { correlationId: number; body: unknown } {
  const r = new Reader(Buffer.concat(chunks));
  const h = decodeResponseHeader(r, responseHeaderVersion(apiKey, version));
  const api = API_BY_KEY.get(apiKey)!;
  return { correlationId: h.correlationId, body: api.decodeResponse(r, version) };
}

/** The decoders alone: header and body. */
export function decodeCase(frame: Buffer): 'short' | 'unknown-api' | 'header-error' | 'body-error' | 'decoded' {
  if (frame.length < 8) return 'short';
  const apiKey = frame.readInt16BE(0);
  const version = frame.readInt16BE(2);
  const api = API_BY_KEY.get(apiKey);
  if (!api || version < api.minVersion || version > api.maxVersion) return 'unknown-api';
  const r = new Reader(frame);
  try {
    decodeRequestHeader(r, requestHeaderVersion(apiKey, version));
  } catch (err) {
    if (err instanceof DecodeError) return 'header-error';
    throw err;
  }
  try {
    api.decodeRequest(r, version);
  } catch (err) {
    if (err instanceof DecodeError) return 'body-error';
    throw err;
  }
  return 'decoded';
}

export async function fuzzInProcess(o: InProcessFuzzOptions): Promise<InProcessFuzzResult> {
  const say = o.log ?? (() => {});
  const res: InProcessFuzzResult = {
    seed: o.seed,
    cases: 0,
    decoderOnlyCases: 0,
    casesPerSecond: 0,
    headerDecoded: 0,
    bodyDecoded: 0,
    decodeErrors: 0,
    answered: 0,
    connectionsClosed: 0,
    parked: 0,
    slowAnswers: 0,
    mutators: {},
    decoderCrashes: 0,
    unexpectedRejections: 0,
    handlerErrors: 0,
    badResponses: 0,
    hangs: 0,
    slowCases: 0,
    uncaught: 0,
    guardLost: 0,
    unhealthy: 0,
    maxCaseMs: 0,
    maxEventLoopLagMs: 0,
    errorKinds: {},
    examples: {},
  };
  const note = (k: string, s: string) => {
    const l = (res.examples[k] ??= []);
    if (l.length < 5) l.push(s.length > 600 ? `${s.slice(0, 600)}…` : s);
  };
  const b64 = (f: Buffer) => f.subarray(0, 2048).toString('base64');

  // The broker's error-level log lines are failures; everything else is dropped.
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const j = JSON.parse(line) as { level: number; msg: string; err?: { message?: string; stack?: string }; api?: string };
          if (j.level >= 50) {
            res.handlerErrors++;
            const sig = `${j.msg} ${j.api ?? ''}: ${(j.err?.message ?? '').replace(/[A-Za-z0-9_-]{22}/g, 'ID').replace(/\d+/g, 'N').slice(0, 120)}`;
            res.errorKinds[sig] = (res.errorKinds[sig] ?? 0) + 1;
            note('handlerErrors', `${j.msg} ${j.api ?? ''}: ${j.err?.stack?.split('\n').slice(0, 4).join(' | ') ?? j.err?.message ?? ''} [frame ${current.getStore() ?? `? last sent ${lastFrame}`}]`);
          }
        } catch {
          /* not JSON */
        }
      }
      cb();
    },
  });
  let lastFrame = '';
  // The case a log line belongs to: handlers run asynchronously, long after the case was sent.
  const current = new AsyncLocalStorage<string>();
  const logger = pino({ level: 'error' }, sink);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'streamhouse-fuzz-'));
  const onUncaught = (err: unknown) => {
    res.uncaught++;
    note('uncaught', `${(err as Error)?.stack ?? String(err)} [frame ${current.getStore() ?? `? last sent ${lastFrame}`}]`);
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);

  const config = parseArgs(['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--group-initial-rebalance-delay-ms', '0', '--num-partitions', '3'], {});
  const broker = new Broker(config, logger);
  const pending = new Set<Promise<unknown>>();
  try {
    await broker.start();
    const dispatcher = (broker as unknown as { server: { handler: FrameHandler } }).server.handler;
    let connId = 1;
    const newConn = (): ConnectionContext => ({ id: connId++, remoteAddress: '127.0.0.1:1', log: logger });
    const setupConn = newConn();
    let cid = 1;
    const call = async <Req, Res>(api: ApiDescriptor<Req, Res>, version: number, body: Req): Promise<Res> => {
      const id = cid++;
      const out = await dispatcher.handle(frameOf(api, version, body, id), setupConn);
      return decodeAnswer(out!, api.apiKey, version).body as Res;
    };

    // Topics the dictionary names, and a guard topic no case can name.
    await call(CreateTopicsApi, 7, {
      topics: [...FUZZ_TOPICS, GUARD_TOPIC].map((name) => ({ name, numPartitions: 3, replicationFactor: 1, assignments: [], configs: [] })),
      timeoutMs: 10_000,
      validateOnly: false,
    });
    const guard: Array<{ partition: number; offset: number; value: string }> = [];
    for (let i = 0; i < 30; i++) {
      const value = `guard-${i}`;
      const partition = i % 3;
      const r = await call(ProduceApi, 9, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 10_000,
        topicData: [{ name: GUARD_TOPIC, partitionData: [{ index: partition, records: buildBatch({ records: [{ key: null, value: Buffer.from(value), timestamp: Date.now() }] }) }] }],
      });
      const pr = r.responses[0]!.partitionResponses[0]!;
      if (pr.errorCode !== 0) throw new Error(`guard produce failed: ${pr.errorCode}`);
      guard.push({ partition, offset: Number(pr.baseOffset), value });
    }

    const lag = monitorEventLoopDelay({ resolution: 20 });
    lag.enable();
    const cases = new FuzzCases(o.seed, o.seeds);
    const started = Date.now();
    const deadline = o.deadlineMs ? started + o.deadlineMs : Infinity;
    let conn = newConn();
    let onConn = 0;
    const inflight = new Map<Promise<unknown>, { i: number; t: number; api: string; frame: string; parked: boolean; hung: boolean }>();
    let active = 0;
    let waiters: Array<() => void> = [];
    const release = () => {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    };
    const watchdog = setInterval(() => {
      const now = Date.now();
      for (const m of inflight.values()) {
        if (m.parked || now - m.t < (PARKING_APIS.has(m.api) ? 1000 : HANG_MS)) continue;
        m.parked = true;
        active--;
        if (PARKING_APIS.has(m.api)) res.parked++;
        else {
          m.hung = true;
          res.hangs++;
          // What else was waiting tells which shared resource the request waited on.
          const others = [...inflight.values()]
            .filter((o) => o !== m)
            .map((o) => `${o.api}#${o.i} ${now - o.t} ms`)
            .slice(0, 12)
            .join(', ');
          note('hangs', `${m.api} (case ${m.i}) unanswered for ${HANG_MS} ms [frame ${m.frame}]; also in flight: ${others || 'nothing'}`);
        }
        release();
      }
    }, 250);

    // Decoder-only cases first (cheap): a wide sweep of the decoders.
    for (let i = 0; i < (o.decoderOnlyCases ?? 0) && Date.now() < deadline; i++) {
      const c = cases.next();
      try {
        decodeCase(c.frame);
      } catch (err) {
        res.decoderCrashes++;
        note('decoderCrashes', `${(err as Error).stack?.split('\n').slice(0, 3).join(' | ')} [frame ${b64(c.frame)}]`);
      }
      res.decoderOnlyCases++;
    }

    for (let i = 0; i < o.cases; i++) {
      if ((i & 1023) === 0) {
        if (Date.now() > deadline) break;
        // Let timers (the watchdog, the broker's own) run.
        await new Promise((r) => setImmediate(r));
      }
      while (active >= MAX_INFLIGHT) await new Promise<void>((r) => waiters.push(r));
      if (o.frames && i >= o.frames.length) break;
      const frame = o.frames ? o.frames[i]! : cases.next().frame;
      lastFrame = b64(frame);
      res.cases++;
      const t0 = performance.now();
      // 1. the decoders
      try {
        const d = decodeCase(frame);
        if (d === 'decoded') {
          res.headerDecoded++;
          res.bodyDecoded++;
        } else if (d === 'body-error') {
          res.headerDecoded++;
          res.decodeErrors++;
        } else if (d === 'header-error') res.decodeErrors++;
      } catch (err) {
        res.decoderCrashes++;
        note('decoderCrashes', `${(err as Error).stack?.split('\n').slice(0, 3).join(' | ')} [frame ${lastFrame}]`);
      }
      // 2. the dispatcher (a frame under 8 bytes never reaches it: the connection checks the size first)
      if (frame.length < 8) continue;
      if (++onConn > 40) {
        conn = newConn();
        onConn = 0;
      }
      const apiKey = frame.readInt16BE(0);
      const version = frame.readInt16BE(2);
      const correlationId = frame.readInt32BE(4);
      const apiName = API_BY_KEY.get(apiKey)?.name ?? `api-${apiKey}`;
      let p: Promise<Buffer[] | null>;
      try {
        const c0 = conn;
        p = current.run(lastFrame, () => dispatcher.handle(frame, c0));
      } catch (err) {
        p = Promise.reject(err);
      }
      const meta = { i, t: Date.now(), api: apiName, frame: lastFrame, parked: false, hung: false };
      const thisConn = conn;
      const tracked: Promise<unknown> = p.then(
        (out) => {
          if (out === null) return;
          res.answered++;
          try {
            // KIP-511: an ApiVersions newer than served is answered at v0.
            const v = apiKey === 18 && version > 4 ? 0 : version;
            const a = decodeAnswer(out, apiKey, v);
            if (a.correlationId !== correlationId) throw new Error(`correlation id ${a.correlationId}, sent ${correlationId}`);
          } catch (err) {
            res.badResponses++;
            note('badResponses', `${apiName} v${version}: ${(err as Error).message} [frame ${meta.frame}]`);
          }
        },
        (err: unknown) => {
          if (err instanceof CloseConnection) {
            res.connectionsClosed++;
            if (conn === thisConn) {
              conn = newConn();
              onConn = 0;
            }
            return;
          }
          res.unexpectedRejections++;
          note('unexpectedRejections', `${apiName} v${version}: ${(err as Error)?.stack?.split('\n').slice(0, 4).join(' | ')} [frame ${meta.frame}]`);
        },
      );
      inflight.set(tracked, meta);
      active++;
      pending.add(tracked);
      void tracked.finally(() => {
        inflight.delete(tracked);
        pending.delete(tracked);
        if (Date.now() - meta.t > SLOW_ANSWER_MS) {
          res.slowAnswers++;
          note('slowAnswers', `${meta.api} answered after ${Date.now() - meta.t} ms [frame ${meta.frame}]`);
        }
        if (!meta.parked) {
          active--;
          release();
        }
      });
      const ms = performance.now() - t0;
      if (ms > res.maxCaseMs) res.maxCaseMs = ms;
      if (ms > SLOW_MS) {
        res.slowCases++;
        note('slowCases', `${apiName} v${version}: ${ms.toFixed(0)} ms synchronous [frame ${lastFrame}]`);
      }
      if (i > 0 && i % 100_000 === 0) say(`in-process fuzz: ${i} cases, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    // Wait for what does not park.
    const drainBy = Date.now() + HANG_MS + 1000;
    while (active > 0 && Date.now() < drainBy) await new Promise((r) => setTimeout(r, 50));
    clearInterval(watchdog);
    lag.disable();
    res.maxEventLoopLagMs = Math.round(lag.max / 1e6);
    const elapsed = (Date.now() - started) / 1000;
    res.casesPerSecond = Math.round(res.cases / Math.max(0.001, elapsed));
    res.mutators = { ...cases.mutator.used, generated: cases.counts.generated, seeds: cases.counts.seeds, mutated: cases.counts.mutated };

    // 3. still healthy, and the guard topic intact
    try {
      const t = Date.now();
      const md = await Promise.race([
        call(MetadataApi, 12, { topics: [{ name: GUARD_TOPIC, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false }),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error('Metadata took over 5 s')), 5000)),
      ]);
      if (md.topics[0]?.errorCode !== 0) throw new Error(`guard topic metadata error ${md.topics[0]?.errorCode}`);
      say(`in-process fuzz: Metadata answered in ${Date.now() - t} ms after the fuzzing`);
      for (let p = 0; p < 3; p++) {
        const f = await call(FetchApi, 12, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: 1 << 20,
          isolationLevel: 0,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [{ topic: GUARD_TOPIC, topicId: 'AAAAAAAAAAAAAAAAAAAAAA', partitions: [{ partition: p, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
          forgottenTopicsData: [],
          rackId: '',
        });
        const pr = f.responses[0]!.partitions[0]!;
        const got = new Map<number, string>();
        const recs = pr.records;
        const buf = recs === null ? Buffer.alloc(0) : Array.isArray(recs) ? Buffer.concat(recs) : recs;
        for (const b of splitBatches(buf)) for (const r of decodeRecords(b)) got.set(r.offset, r.value?.toString() ?? '');
        for (const g of guard.filter((x) => x.partition === p)) {
          if (got.get(g.offset) !== g.value) {
            res.guardLost++;
            note('guardLost', `${GUARD_TOPIC}/${p}@${g.offset}: ${got.get(g.offset)} instead of ${g.value}`);
          }
        }
      }
    } catch (err) {
      res.unhealthy++;
      note('unhealthy', (err as Error).message);
    }
  } finally {
    const stopping = broker.stop().catch((err: unknown) => {
      res.unhealthy++;
      note('unhealthy', `stop: ${(err as Error).message}`);
    });
    await Promise.race([stopping, new Promise((r) => setTimeout(r, 30_000))]);
    // Long polls end with the shutdown; what is still pending now never would.
    await Promise.race([Promise.allSettled([...pending]), new Promise((r) => setTimeout(r, 5_000))]);
    if (pending.size) {
      res.hangs += pending.size;
      note('hangs', `${pending.size} requests still unanswered after the broker stopped`);
    }
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return res;
}
