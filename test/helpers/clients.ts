/**
 * Third-party Kafka clients as processes: kcat, Python (Debian's
 * /usr/bin/python3 with python3-confluent-kafka 1.7 / python3-kafka 2.0.2)
 * and single-file Java programs (Java 17 source launcher with the Kafka 3.9
 * jars on the classpath). Each run has a timeout; a failure (non-zero exit,
 * timeout, spawn error) rejects with the command line, exit status, stderr
 * and stdout tail in the message.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKafkaLibs, kafkaClasspath, LOG4J_TOOLS } from './kafka-libs.js';
import { registerCleanup, shellQuote, unwatchGroup, watchGroup } from './process.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const JAVA_DIR = path.join(REPO_ROOT, 'compat-tests', 'java');
export const PYTHON_DIR = path.join(REPO_ROOT, 'compat-tests', 'python');
/** Debian's interpreter: the one that sees python3-confluent-kafka and python3-kafka. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
export const KCAT = process.env.STREAMHOUSE_KCAT ?? 'kcat';
export const JAVA = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';

export interface RunOptions {
  /** Written to stdin, then stdin is closed. */
  input?: string | Buffer;
  /** Kill (SIGKILL to the process group) after this many ms; default 120_000. */
  timeoutMs?: number;
  /** Extra environment (added to process.env). */
  env?: Record<string, string>;
  cwd?: string;
  /** Resolve even on a non-zero exit (timeouts and spawn errors still reject). */
  allowFailure?: boolean;
}

export interface RunResult {
  /** Exit code (null when killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** The command line, shell-quoted. */
  command: string;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

function tailOf(s: string, n = 4000): string {
  return s.length > n ? '…' + s.slice(-n) : s;
}

/** Runs a command to completion and collects its output. */
export function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const command = [cmd, ...args].map(shellQuote).join(' ');
  const started = Date.now();
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let spawnError: Error | null = null;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    const unregister = registerCleanup(async () => killGroup(), killGroup);
    const pid = child.pid;
    if (pid !== undefined) watchGroup(pid);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      spawnError = e;
    });
    child.stdin.on('error', () => {
      /* child may exit before reading stdin */
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      unregister();
      // Leftover children of the command, if any.
      killGroup();
      if (pid !== undefined) unwatchGroup(pid);
      const result: RunResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        durationMs: Date.now() - started,
        command,
      };
      const describe = (why: string) =>
        `${why}\ncommand: ${command}\n--- stderr ---\n${tailOf(result.stderr)}\n--- stdout ---\n${tailOf(result.stdout, 2000)}`;
      if (spawnError) reject(new CommandError(describe(`failed to start: ${(spawnError as Error).message}`), result));
      else if (timedOut) reject(new CommandError(describe(`timed out after ${timeoutMs} ms`), result));
      else if (code !== 0 && !opts.allowFailure)
        reject(new CommandError(describe(`exited with ${code === null ? `signal ${signal}` : `code ${code}`}`), result));
      else resolve(result);
    });
  });
}

/**
 * The last line of `stdout` that parses as a JSON object (client programs
 * print one summary line). Throws with the output when there is none.
 */
export function lastJsonLine<T = Record<string, unknown>>(stdout: string): T {
  const lines = stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (!l.startsWith('{')) continue;
    try {
      return JSON.parse(l) as T;
    } catch {
      /* keep looking */
    }
  }
  throw new Error(`no JSON line in output:\n${tailOf(stdout, 2000)}`);
}

// ------------------------------------------------------------------ kcat

/** Runs kcat with `args`. */
export function runKcat(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand(KCAT, args, { timeoutMs: 60_000, ...opts });
}

export interface KcatProduceOptions {
  bootstrap: string;
  topic: string;
  /** Messages, one per line (written to a temp file and sent with -l). */
  lines?: string[];
  /** Or an existing file with one message per line. */
  file?: string;
  /** -K <delim>: each line is key<delim>value. */
  keyDelimiter?: string;
  partition?: number;
  /** Extra kcat args, e.g. ['-X', 'acks=all', '-z', 'lz4']. */
  extra?: string[];
  timeoutMs?: number;
}

/**
 * Produces lines from a file: `kcat -P -b B -t T -l file [-K d] [-p N]`.
 * kcat waits for delivery of all messages before exiting; it exits non-zero
 * if any failed.
 */
export async function kcatProduce(o: KcatProduceOptions): Promise<RunResult> {
  let file = o.file;
  let tmp: string | undefined;
  if (!file) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'streamhouse-kcat-'));
    file = path.join(tmp, 'messages.txt');
    fs.writeFileSync(file, (o.lines ?? []).join('\n') + '\n');
  }
  try {
    const args = ['-P', '-b', o.bootstrap, '-t', o.topic, '-l', file];
    if (o.keyDelimiter !== undefined) args.push('-K', o.keyDelimiter);
    if (o.partition !== undefined) args.push('-p', String(o.partition));
    args.push(...(o.extra ?? []));
    const r = await runKcat(args, { timeoutMs: o.timeoutMs });
    if (/% ERROR|Delivery failed/i.test(r.stderr)) {
      throw new CommandError(`kcat reported delivery errors\ncommand: ${r.command}\n${tailOf(r.stderr)}`, r);
    }
    return r;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export interface KcatRecord {
  partition: number;
  offset: number;
  /** '' for a null key (kcat prints nothing). */
  key: string;
  value: string;
}

export interface KcatConsumeOptions {
  bootstrap: string;
  topic: string;
  partition?: number;
  /** -c N: stop after N messages. */
  count?: number;
  /** -o value (default 'beginning'). */
  offset?: string;
  extra?: string[];
  timeoutMs?: number;
}

/**
 * Consumes to the end and exits: `kcat -C -b B -t T -o beginning -e -f '%p %o %k %s\n'`
 * (the partition is added to the `%o %k %s` recipe so multi-partition topics
 * parse). Keys must not contain spaces; values must not contain newlines.
 */
export async function kcatConsume(o: KcatConsumeOptions): Promise<KcatRecord[]> {
  const args = ['-C', '-b', o.bootstrap, '-t', o.topic, '-o', o.offset ?? 'beginning', '-e', '-q', '-f', '%p %o %k %s\n'];
  if (o.partition !== undefined) args.push('-p', String(o.partition));
  if (o.count !== undefined) args.push('-c', String(o.count));
  args.push(...(o.extra ?? []));
  const r = await runKcat(args, { timeoutMs: o.timeoutMs });
  return parseKcatLines(r.stdout);
}

export function parseKcatLines(stdout: string): KcatRecord[] {
  const out: KcatRecord[] = [];
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    const c = line.indexOf(' ', b + 1);
    if (a < 0 || b < 0 || c < 0) throw new Error(`unparseable kcat line: ${JSON.stringify(line)}`);
    out.push({
      partition: Number(line.slice(0, a)),
      offset: Number(line.slice(a + 1, b)),
      key: line.slice(b + 1, c),
      value: line.slice(c + 1),
    });
  }
  return out;
}

export interface KcatMetadata {
  originating_broker: { id: number; name: string };
  query: { topic: string };
  controllerid?: number;
  brokers: Array<{ id: number; name: string }>;
  topics: Array<{
    topic: string;
    error?: string;
    partitions: Array<{ partition: number; leader: number; replicas: Array<{ id: number }>; isrs: Array<{ id: number }>; error?: string }>;
  }>;
}

/** `kcat -L -J -b B [-t T]`, parsed. */
export async function kcatMetadata(bootstrap: string, topic?: string, opts: RunOptions = {}): Promise<KcatMetadata> {
  const args = ['-L', '-J', '-b', bootstrap];
  if (topic) args.push('-t', topic);
  const r = await runKcat(args, opts);
  return JSON.parse(r.stdout) as KcatMetadata;
}

// ------------------------------------------------------------------ Python

function resolveScript(p: string, dir: string): string {
  if (path.isAbsolute(p)) return p;
  const fromRoot = path.join(REPO_ROOT, p);
  if (fs.existsSync(fromRoot)) return fromRoot;
  return path.join(dir, p);
}

/**
 * Runs a Python script with Debian's /usr/bin/python3 (not the python3 first
 * on PATH). `scriptPath`: absolute, relative to the repo root, or a file name
 * in compat-tests/python/.
 */
export function runPython(scriptPath: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  const env: Record<string, string> = { PYTHONUNBUFFERED: '1', ...opts.env };
  const base = { ...process.env };
  delete base.PYTHONPATH;
  delete base.PYTHONHOME;
  return runCommand(SYSTEM_PYTHON, [resolveScript(scriptPath, PYTHON_DIR), ...args], {
    ...opts,
    env: { ...(base as Record<string, string>), ...env },
  });
}

// ------------------------------------------------------------------ Java

export interface JavaRunOptions extends RunOptions {
  /** JVM options (default ['-Xmx512m', '-XX:+UseSerialGC']). */
  jvmArgs?: string[];
}

/**
 * Runs a single-file Java program (Java 17 source launcher):
 *   java <jvmArgs> -Dlog4j.configuration=file:scripts/kafka/log4j-tools.properties
 *        -cp '<kafka libs>/*' compat-tests/java/<mainFile> args
 * `mainFile`: absolute, relative to the repo root, or a name in compat-tests/java/.
 * Installs the Kafka jars first if they are missing.
 */
export function runJava(mainFile: string, args: string[] = [], opts: JavaRunOptions = {}): Promise<RunResult> {
  ensureKafkaLibs();
  const jvm = opts.jvmArgs ?? ['-Xmx512m', '-XX:+UseSerialGC'];
  return runCommand(
    JAVA,
    [
      ...jvm,
      `-Dlog4j.configuration=file:${LOG4J_TOOLS}`,
      '-cp',
      kafkaClasspath(),
      resolveScript(mainFile, JAVA_DIR),
      ...args,
    ],
    { timeoutMs: 180_000, ...opts },
  );
}

/** Runs a main class from the Kafka jars (e.g. a Kafka tool such as org.apache.kafka.tools.TopicCommand). */
export function runKafkaClass(mainClass: string, args: string[] = [], opts: JavaRunOptions = {}): Promise<RunResult> {
  ensureKafkaLibs();
  const jvm = opts.jvmArgs ?? ['-Xmx512m', '-XX:+UseSerialGC'];
  return runCommand(
    JAVA,
    [...jvm, `-Dlog4j.configuration=file:${LOG4J_TOOLS}`, '-cp', kafkaClasspath(), mainClass, ...args],
    { timeoutMs: 180_000, ...opts },
  );
}
