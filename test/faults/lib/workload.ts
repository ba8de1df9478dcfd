// The workload of a fault run: client processes of two stacks (kafkajs 2.2
// through lib/kafkajs_client.mjs, librdkafka 2.0 through confluent-kafka 1.7
// and lib/rdkafka_client.py) producing unique values with acks=all and
// idempotence, and consuming with assign + seek and in consumer groups. Every
// line they print becomes a history event (send, poll, reposition); client
// errors are counted for the report. After the faults: stop() the clients
// (producers flush), then readback(): a fresh kafkajs consumer and a fresh
// librdkafka consumer (test/cluster's rdkafka_consume.py) read every
// partition from the start to the high watermark.
//
// kafkajs producers send to ONE partition per send() (kafkajs issue #1303),
// and take a new producer id after a failed send (kafkajs would reuse the
// failed batch's sequence numbers for different records).
//
// Usage:
//   const w = new Workload(ctx, cluster, {
//     topics: [{ topic: 'a', partitions: 4 }, { topic: 'b', partitions: 4 }],
//     clients: [{ stack: 'kafkajs', role: 'produce', name: 'pj1', rate: 80 }, { stack: 'librdkafka', role: 'group', name: 'gr1', group: 'g-rd' }, ...],
//   });
//   await w.start(); await w.waitForAcks(200);
//   ... faults ... (w.client('gr1').kill(), .pause(), .resume(), .restart())
//   await w.stop(); await w.readback();
//   w.figures()   // client errors etc., for the scenario's figures

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON } from '../../helpers/clients.js';
import { ManagedProcess } from '../../helpers/process.js';
import { consumeAll, sleep, waitFor } from '../../cluster/cluster.js';
import type { FaultCluster } from './cluster.js';
import type { HistoryWriter } from './history.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const KAFKAJS_CLIENT = path.join(HERE, 'kafkajs_client.mjs');
const RDKAFKA_CLIENT = path.join(HERE, 'rdkafka_client.py');

export type Stack = 'kafkajs' | 'librdkafka';
export type Role = 'produce' | 'seek' | 'group';

export interface ClientSpec {
  stack: Stack;
  /** produce; seek (kafkajs: a group of one that seeks; librdkafka: assign + seek); group (a member of `group`). */
  role: Role;
  /** Unique; values are "<name>-<seq>" (".<incarnation>" added after a restart). */
  name: string;
  /** produce: messages per second. */
  rate?: number;
  /** group: the group id (one stack per group: their assignors differ). */
  group?: string;
  /** seek: mean seconds between seeks. */
  seekEvery?: number;
}

export interface WorkloadSpec {
  topics: Array<{ topic: string; partitions: number }>;
  clients: ClientSpec[];
}

interface Ctx {
  history: HistoryWriter;
  seed: number;
  runDir?: string;
  log(msg: string): void;
}

/** One workload client process (restartable). */
export class Client {
  private proc: ManagedProcess | null = null;
  /** Set while the scenario or stop() ends the process on purpose. */
  private ending = false;
  incarnation = 0;
  /** Exits nobody asked for (the client is started again a second later). */
  unexpectedExits = 0;
  paused = false;
  done: Record<string, unknown> | null = null;
  acked = 0;
  readonly errors = new Map<string, number>();

  constructor(
    readonly spec: ClientSpec,
    private readonly w: Workload,
  ) {}

  get name(): string {
    return this.incarnation > 1 ? `${this.spec.name}.${this.incarnation}` : this.spec.name;
  }

  get running(): boolean {
    return !!this.proc?.running;
  }

  start(): void {
    this.incarnation++;
    this.done = null;
    const s = this.spec;
    const topics = this.w.spec.topics.map((t) => `${t.topic}:${t.partitions}`).join(',');
    const seed = String((this.w.ctx.seed * 7919 + this.incarnation * 104729 + [...s.name].reduce((a, c) => a * 31 + c.charCodeAt(0), 0)) >>> 0);
    const common = ['--bootstrap', this.w.cluster.bootstrap(), '--topics', topics, '--name', this.name, '--seed', seed];
    const extra = [
      ...(s.rate !== undefined ? ['--rate', String(s.rate)] : []),
      ...(s.group ? ['--group', s.group] : []),
      ...(s.seekEvery !== undefined ? ['--seek-every', String(s.seekEvery)] : []),
    ];
    // FAULTS_CLIENT_LOGS=1: every client's output also goes to <runDir>/client-<name>.log.
    const logFile = process.env.FAULTS_CLIENT_LOGS ? path.join(this.w.ctx.runDir ?? '.', `client-${this.name}.log`) : undefined;
    const env = { ...process.env };
    delete env.PYTHONPATH;
    delete env.PYTHONHOME;
    const proc =
      s.stack === 'kafkajs'
        ? new ManagedProcess(process.execPath, [KAFKAJS_CLIENT, s.role, ...common, ...extra], { name: this.name, maxLines: 100, env, logFile })
        : new ManagedProcess(SYSTEM_PYTHON, [RDKAFKA_CLIENT, s.role === 'seek' ? 'assign' : s.role, ...common, ...extra], { name: this.name, maxLines: 100, env, logFile });
    this.proc = proc;
    this.ending = false;
    void proc.exited.then((info) => {
      if (this.ending || this.proc !== proc || this.w.stopping) return;
      this.unexpectedExits++;
      this.w.ctx.log(`${this.name} exited unexpectedly (code ${info.code}, signal ${info.signal}); starting it again\n${proc.tail(15)}`);
      setTimeout(() => {
        if (this.proc === proc && !this.w.stopping) this.start();
      }, 1000);
    });
    const name = this.name;
    const h = this.w.ctx.history;
    proc.onLine((line) => {
      if (line.charCodeAt(0) !== 123 /* { */) return;
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (m.s) {
        const [topic, partition, value, offset, error, t] = m.s as [string, number, string, number | null, string | null, number];
        h.add({ type: 'send', producer: name, topic, partition, value, offset, error, t });
        if (error === null) {
          this.acked++;
          this.w.acked++;
          this.w.lastAck.set(`${topic}/${partition}`, t);
        } else this.count(error);
      } else if (m.p) {
        const [topic, partition, offset, value, t] = m.p as [string, number, number, string, number];
        h.add({ type: 'poll', consumer: name, topic, partition, offset, value, t });
        this.w.polled++;
      } else if (m.r) {
        const [topic, partition, t] = m.r as [string, number, number];
        h.add({ type: 'reposition', consumer: name, topic, partition, t });
      } else if (m.err !== undefined) {
        this.count(`${m.fatal ? 'FATAL ' : ''}${String(m.err)}`);
      } else if (m.done) this.done = m.done as Record<string, unknown>;
    });
  }

  private count(error: string): void {
    const k = error
      .replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'H:P')
      .replace(/\d+ms/g, 'Nms')
      .replace(/\d+ (in-flight|outstanding|identical)/g, 'N $1')
      .replace(/\/\d+/g, '/N')
      .slice(0, 140);
    this.errors.set(k, (this.errors.get(k) ?? 0) + 1);
  }

  /** kill -9 (or another signal) and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.ending = true;
    this.paused = false;
    await this.proc?.kill(signal);
  }

  pause(): void {
    this.paused = true;
    this.proc?.signal('SIGSTOP');
  }

  resume(): void {
    this.paused = false;
    this.proc?.signal('SIGCONT');
  }

  async restart(): Promise<void> {
    if (this.running) await this.kill();
    this.start();
  }

  /** SIGTERM and wait for the process to finish (producers flush). */
  async stop(timeoutMs = 60_000): Promise<void> {
    const p = this.proc;
    this.ending = true;
    if (!p || !p.running) return;
    if (this.paused) this.resume();
    p.signal('SIGTERM');
    const exit = await Promise.race([p.exited, sleep(timeoutMs).then(() => null)]);
    if (!exit) {
      this.w.ctx.log(`${this.name} did not stop within ${timeoutMs} ms: killed\n${p.tail(10)}`);
      await p.kill('SIGKILL');
    }
  }

  tail(n = 10): string {
    return this.proc?.tail(n) ?? '';
  }
}

export class Workload {
  readonly clients = new Map<string, Client>();
  acked = 0;
  polled = 0;
  /** topic/partition -> time of its last acknowledgement. */
  readonly lastAck = new Map<string, number>();
  readbackCounts: Record<string, number> = {};

  constructor(
    readonly ctx: Ctx,
    readonly cluster: FaultCluster,
    readonly spec: WorkloadSpec,
  ) {
    for (const c of spec.clients) this.clients.set(c.name, new Client(c, this));
  }

  client(name: string): Client {
    const c = this.clients.get(name);
    if (!c) throw new Error(`no client ${name}`);
    return c;
  }

  byRole(role: Role, stack?: Stack): Client[] {
    return [...this.clients.values()].filter((c) => c.spec.role === role && (!stack || c.spec.stack === stack));
  }

  /** Set by stop(): clients that exit now are not started again. */
  stopping = false;

  async start(): Promise<void> {
    for (const c of this.clients.values()) c.start();
  }

  /** Waits until `n` more sends than now are acknowledged. */
  async waitForAcks(n: number, timeoutMs = 60_000): Promise<void> {
    const base = this.acked;
    await waitFor(`${n} more acknowledged writes (at ${this.acked - base})`, () => this.acked >= base + n, timeoutMs, 50);
  }

  /**
   * After a heal: waits until every partition has been acknowledged since
   * now (or `timeoutMs` passed; after the last heal the checker then counts
   * the partitions that never were as unrecovered).
   */
  async waitForAllPartitions(timeoutMs = 60_000): Promise<void> {
    const since = Date.now();
    const all = this.spec.topics.flatMap((t) => Array.from({ length: t.partitions }, (_, i) => `${t.topic}/${i}`));
    const behind = () => all.filter((k) => (this.lastAck.get(k) ?? 0) < since);
    try {
      await waitFor('every partition acknowledged again', () => behind().length === 0, timeoutMs, 50);
    } catch {
      this.ctx.log(`not acknowledged again within ${timeoutMs} ms: ${behind().join(', ')}`);
    }
  }

  /** Stops every client: producers first (they flush), then consumers. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.byRole('produce').map((c) => c.stop(60_000)));
    // Let the consumers read what the last sends wrote.
    await sleep(1000);
    await Promise.all([...this.clients.values()].filter((c) => c.spec.role !== 'produce').map((c) => c.stop(20_000)));
  }

  /** Reads every partition from the start to the high watermark with both stacks (readback events). */
  async readback(timeoutMs = 120_000): Promise<void> {
    const h = this.ctx.history;
    const bootstrap = this.cluster.bootstrap();
    const topics = this.spec.topics.map((t) => `${t.topic}:${t.partitions}`).join(',');
    const kj = new ManagedProcess(process.execPath, [KAFKAJS_CLIENT, 'readback', '--bootstrap', bootstrap, '--topics', topics, '--name', 'readback'], { name: 'readback-kafkajs', maxLines: 100 });
    let kjCount = 0;
    let kjDone = false;
    kj.onLine((line) => {
      if (line.startsWith('{"b"')) {
        let parsed: { b: [string, number, number, string, string?] };
        try {
          parsed = JSON.parse(line) as typeof parsed;
        } catch {
          return; // a cut line: the read-back then does not finish, and says so
        }
        const [topic, partition, offset, value, batch] = parsed.b;
        h.add({ type: 'readback', reader: 'kafkajs', topic, partition, offset, value, ...(batch ? { batch } : {}) });
        kjCount++;
      } else if (line.startsWith('{"done"')) kjDone = true;
    });
    const rd = (async () => {
      let n = 0;
      for (const t of this.spec.topics) {
        const recs = await consumeAll(bootstrap, t.topic, Array.from({ length: t.partitions }, (_, i) => i));
        for (const [partition, list] of recs) {
          for (const [offset, value] of list) h.add({ type: 'readback', reader: 'librdkafka', topic: t.topic, partition, offset, value });
          n += list.length;
        }
      }
      return n;
    })();
    rd.catch(() => {}); // handled below, once the kafkajs read-back is over
    const exit = await Promise.race([kj.exited, sleep(timeoutMs).then(() => null)]);
    if (!exit) await kj.kill('SIGKILL');
    const rdCount = await rd.catch((err: unknown) => {
      this.readbackStuck.push(`librdkafka: ${String((err as { result?: { stderr?: string } }).result?.stderr ?? (err as Error).message).trim().slice(0, 300)}`);
      return -1;
    });
    if (!kjDone) this.readbackStuck.push(`kafkajs did not finish; last lines:\n${kj.describe(8)}`);
    this.readbackCounts = { kafkajs: kjDone ? kjCount : -1, librdkafka: rdCount };
  }

  /**
   * Read-backs that did not reach the high watermark (acknowledged data the
   * brokers would not serve): a failure of the run, counted, not an error
   * that hides the audit and the checker's counts.
   */
  readonly readbackStuck: string[] = [];

  /** Client errors and counts for the scenario's figures. */
  figures(): Record<string, unknown> {
    const errors: Record<string, number> = {};
    let fatal = 0;
    for (const c of this.clients.values()) {
      for (const [k, n] of c.errors) {
        const key = `${c.spec.stack} ${c.spec.role}: ${k}`;
        errors[key] = (errors[key] ?? 0) + n;
        if (k.startsWith('FATAL')) fatal += n;
      }
    }
    const exits = Object.fromEntries([...this.clients.values()].filter((c) => c.unexpectedExits).map((c) => [c.spec.name, c.unexpectedExits]));
    const acked = Object.fromEntries([...this.clients.values()].filter((c) => c.spec.role === 'produce').map((c) => [c.spec.name, c.acked]));
    return { polled: this.polled, acknowledgedBy: acked, readback: this.readbackCounts, fatalClientErrors: fatal, unexpectedClientExits: exits, clientErrors: errors };
  }
}

/**
 * The usual workload: two topics of four partitions; `producers` (2)
 * producers of each stack at `rate` (40) messages/s each; a seeking reader of
 * each stack; `groupMembers` (1) members of each stack in groups g-kafkajs
 * and g-librdkafka.
 */
export function standardSpec(opts: { rate?: number; producers?: number; groupMembers?: number } = {}): WorkloadSpec {
  const rate = opts.rate ?? 40;
  const members = opts.groupMembers ?? 1;
  const clients: ClientSpec[] = [];
  for (let i = 1; i <= (opts.producers ?? 2); i++) {
    clients.push({ stack: 'kafkajs', role: 'produce', name: `pj${i}`, rate });
    clients.push({ stack: 'librdkafka', role: 'produce', name: `pr${i}`, rate });
  }
  clients.push(
    { stack: 'kafkajs', role: 'seek', name: 'sj', seekEvery: 4 },
    { stack: 'librdkafka', role: 'seek', name: 'sr', seekEvery: 4 },
  );
  for (let i = 1; i <= members; i++) {
    clients.push({ stack: 'kafkajs', role: 'group', name: `gj${i}`, group: 'g-kafkajs' });
    clients.push({ stack: 'librdkafka', role: 'group', name: `gr${i}`, group: 'g-librdkafka' });
  }
  return {
    topics: [
      { topic: 'fa', partitions: 4 },
      { topic: 'fb', partitions: 4 },
    ],
    clients,
  };
}
