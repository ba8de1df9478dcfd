/**
 * A consumer-group member running as its own process (Python confluent-kafka
 * or kafka-python, or the Java consumer) that speaks the JSON-lines protocol
 * of compat-tests/python/confluent_group.py:
 *
 *   {"ev":"assign","partitions":[...]}  {"ev":"revoke","partitions":[...]}
 *   {"ev":"msg","p":P,"o":O,"v":"..."}  {"ev":"commit","offsets":{...}}
 *   {"ev":"error","error":"..."}        {"ev":"done","committed":{...},"consumed":N}
 *
 * It runs until its stop file appears. The harness tracks the current
 * assignment (assign adds, revoke/lost removes: right for eager and
 * cooperative protocols alike), every record consumed, and every event.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManagedProcess, type ExitInfo } from '../helpers/process.js';
import { REPO_ROOT, SYSTEM_PYTHON, JAVA, JAVA_DIR, PYTHON_DIR } from '../helpers/clients.js';
import { ensureKafkaLibs, kafkaClasspath, LOG4J_TOOLS } from '../helpers/kafka-libs.js';

export interface Consumed {
  p: number;
  o: number;
  v: string;
}

export interface MemberEvent {
  ev: string;
  [k: string]: unknown;
}

export class MemberProcess {
  readonly assigned = new Set<number>();
  readonly consumed: Consumed[] = [];
  readonly events: MemberEvent[] = [];
  readonly errors: string[] = [];
  done: { committed: Record<string, number>; consumed: number } | null = null;
  private readonly stopFile: string;
  private readonly proc: ManagedProcess;
  private readonly dir: string;

  constructor(
    readonly name: string,
    cmd: string,
    args: (stopFile: string) => string[],
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'streamhouse-member-'));
    this.stopFile = path.join(this.dir, 'stop');
    this.proc = new ManagedProcess(cmd, args(this.stopFile), { name, cwd: REPO_ROOT, env });
    this.proc.onLine((line) => this.onLine(line));
    void this.proc.exited.then(() => fs.rmSync(this.dir, { recursive: true, force: true }));
  }

  private onLine(line: string): void {
    if (!line.startsWith('{"ev"')) return;
    let e: MemberEvent;
    try {
      e = JSON.parse(line) as MemberEvent;
    } catch {
      return;
    }
    this.events.push(e);
    switch (e.ev) {
      case 'assign':
        for (const p of e.partitions as number[]) this.assigned.add(p);
        break;
      case 'revoke':
      case 'lost':
        for (const p of e.partitions as number[]) this.assigned.delete(p);
        break;
      case 'msg':
        this.consumed.push({ p: e.p as number, o: e.o as number, v: e.v as string });
        break;
      case 'error':
        this.errors.push(String(e.error));
        break;
      case 'done':
        this.done = { committed: e.committed as Record<string, number>, consumed: e.consumed as number };
        break;
    }
  }

  get running(): boolean {
    return this.proc.running;
  }

  get pid(): number {
    return this.proc.pid;
  }

  get exited(): Promise<ExitInfo> {
    return this.proc.exited;
  }

  /** Asks the member to commit, leave and exit; resolves with its exit status. */
  async stop(timeoutMs = 30_000): Promise<ExitInfo> {
    fs.writeFileSync(this.stopFile, '');
    const timer = setTimeout(() => this.proc.killSync('SIGKILL'), timeoutMs);
    const info = await this.proc.exited;
    clearTimeout(timer);
    if (info.code !== 0) throw new Error(`${this.name} exited with ${info.code ?? info.signal}\n${this.proc.tail(40)}`);
    return info;
  }

  /** SIGKILL: no commit, no LeaveGroup. */
  kill(): Promise<ExitInfo> {
    return this.proc.kill('SIGKILL');
  }

  tail(n = 40): string {
    return this.proc.tail(n);
  }
}

/** compat-tests/python/<script> with Debian's interpreter. */
export function pythonMember(name: string, script: string, args: string[]): MemberProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
  delete env.PYTHONPATH;
  delete env.PYTHONHOME;
  return new MemberProcess(name, SYSTEM_PYTHON, (stop) => [path.join(PYTHON_DIR, script), ...args, '--stop-file', stop], env);
}

/** compat-tests/java/<file> with the Kafka 3.9 client jars (Java source launcher). */
export function javaMember(name: string, file: string, args: string[]): MemberProcess {
  ensureKafkaLibs();
  return new MemberProcess(name, JAVA, (stop) => [
    '-Xmx256m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    `-Dlog4j.configuration=file:${LOG4J_TOOLS}`,
    '-cp',
    kafkaClasspath(),
    path.join(JAVA_DIR, file),
    ...args,
    '--stop-file',
    stop,
  ]);
}

/** Every value consumed by `members`, with how many times. */
export function consumedCounts(members: MemberProcess[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of members) for (const c of x.consumed) m.set(c.v, (m.get(c.v) ?? 0) + 1);
  return m;
}
