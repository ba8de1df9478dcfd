/**
 * Apache Kafka 3.9.0, single-node KRaft (combined broker+controller, static
 * quorum), from the Maven Central jars cached by scripts/install-test-deps.sh:
 * the reference broker for compat tests and benchmarks.
 *
 *   import { startReferenceKafka } from '../scripts/kafka-ref.js';
 *   const k = await startReferenceKafka({ extraProps: { 'num.partitions': '3' } });
 *   ... k.bootstrap ...
 *   await k.stop();
 *
 * CLI:
 *   npx tsx scripts/kafka-ref.ts start [--prop key=value]... [--heap 1G] [--keep]
 *     prints BOOTSTRAP=127.0.0.1:<port> (plus DIR=, PID=) and runs until SIGINT/SIGTERM.
 *
 * Where reality differed from ../shared/reference-kafka.md (run here with the
 * Kafka 3.9.0 jars, OpenJDK 17.0.15, Debian bookworm, 2 cores):
 * - Nothing essential: the recipe works as written. kafka_2.13 + kafka-tools at
 *   runtime scope resolve to 105 jars (~56 MB) including kafka-clients,
 *   slf4j-reload4j and reload4j; the static-quorum config formats without
 *   --standalone (and without -g) and the combined broker+controller starts.
 * - Readiness: waiting for the broker's own log line
 *   "[KafkaRaftServer nodeId=1] Kafka Server started" and then one kafkajs
 *   admin describeCluster is enough; no topics --list polling (a second JVM)
 *   is needed. Format + start + answer takes ~4-6.5 s here (two JVM starts).
 * - The first controller activation logs a WARN ("The metadata log appears to
 *   be empty. Appending 1 bootstrap record(s)...") on every fresh dir: normal.
 * - SIGTERM gives a clean controlled shutdown in ~0.5 s ("BrokerServer id=1]
 *   shut down completed"); no SIGKILL needed.
 * - `-XX:-UsePerfData` keeps the JVM from writing /tmp/hsperfdata_*; the
 *   broker's log4j output goes to stdout and is kept in <dir>/kafka.log.
 * - Stopping the CLI through `npx` with a signal aimed at the npm process only
 *   (e.g. `timeout` or `kill <npm pid>`) does not reach this script: npm exits
 *   and leaves tsx running. Ctrl-C (signal to the whole foreground group)
 *   works; scripts should import startReferenceKafka instead, or run
 *   `node --import tsx scripts/kafka-ref.ts start` and signal that pid.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { ensureKafkaLibs, kafkaClasspath, LOG4J_BROKER, LOG4J_TOOLS, KAFKA_VERSION } from '../test/helpers/kafka-libs.js';
import { freePort } from '../test/helpers/ports.js';
import { makeTempDir, ManagedProcess, registerCleanup, sleep, unwatchDir } from '../test/helpers/process.js';
import { runCommand } from '../test/helpers/clients.js';

export interface ReferenceKafkaOptions {
  /** Extra/overriding server.properties entries (e.g. num.partitions, log.flush.interval.messages). */
  extraProps?: Record<string, string>;
  /** JVM heap for the broker, -Xmx and -Xms (default '1G', as kafka-server-start.sh). */
  heap?: string;
  /** Do not remove the temp dir on stop (for debugging). */
  keepDir?: boolean;
  /** Startup timeout in ms (default 90_000). */
  timeoutMs?: number;
}

export interface ReferenceKafka {
  /** '127.0.0.1:<port>' */
  bootstrap: string;
  port: number;
  controllerPort: number;
  /** Temp dir with server.properties, kafka.log and the log dirs. */
  dir: string;
  pid: number;
  clusterId: string;
  /** Milliseconds from spawn of the formatter to a successful describeCluster. */
  startupMs: number;
  /** Broker output lines captured so far. */
  logs(): string[];
  /** SIGTERM (controlled shutdown), SIGKILL after 30 s; removes the dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (crash-stop); removes the dir. Idempotent. */
  kill(): Promise<void>;
}

/** Kafka Uuid (16 random bytes, URL-safe base64 without padding, not starting with '-'). */
function kafkaUuid(): string {
  for (;;) {
    const s = randomBytes(16).toString('base64url');
    if (!s.startsWith('-')) return s;
  }
}

export async function startReferenceKafka(opts: ReferenceKafkaOptions = {}): Promise<ReferenceKafka> {
  ensureKafkaLibs();
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const tmp = makeTempDir('streamhouse-kafka-ref-');
  const dir = tmp.dir;
  const logDir = path.join(dir, 'kraft-logs');
  const propsFile = path.join(dir, 'server.properties');
  const props: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': logDir,
    'num.partitions': '1',
    'offsets.topic.replication.factor': '1',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'group.initial.rebalance.delay.ms': '0',
    ...opts.extraProps,
  };
  fs.writeFileSync(propsFile, Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const clusterId = kafkaUuid();
  const heap = opts.heap ?? '1G';

  let proc: ManagedProcess | undefined;
  let stopped = false;
  if (opts.keepDir) unwatchDir(dir);
  const rmDir = () => {
    if (!opts.keepDir) tmp.remove();
  };
  const finish = async (how: 'stop' | 'kill') => {
    if (stopped) return;
    stopped = true;
    unregister();
    if (proc) {
      if (how === 'stop') await proc.stop(30_000);
      else await proc.kill('SIGKILL');
    }
    rmDir();
  };
  const unregister = registerCleanup(
    () => finish('kill'),
    () => {
      proc?.killSync('SIGKILL');
      rmDir();
    },
  );

  try {
    await runCommand(
      'java',
      [
        '-Xmx256M',
        '-XX:-UsePerfData',
        `-Dlog4j.configuration=file:${LOG4J_TOOLS}`,
        '-cp',
        kafkaClasspath(),
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId,
        '-c',
        propsFile,
      ],
      { timeoutMs: 60_000 },
    );

    proc = new ManagedProcess(
      'java',
      [
        `-Xmx${heap}`,
        `-Xms${heap}`,
        '-server',
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-XX:InitiatingHeapOccupancyPercent=35',
        '-XX:+ExplicitGCInvokesConcurrent',
        '-XX:-UsePerfData',
        '-Djava.awt.headless=true',
        `-Dlog4j.configuration=file:${LOG4J_BROKER}`,
        `-Dkafka.logs.dir=${dir}`,
        '-cp',
        kafkaClasspath(),
        'kafka.Kafka',
        propsFile,
      ],
      { name: `kafka-ref:${port}`, cwd: dir, logFile: path.join(dir, 'kafka.log') },
    );
    const p = proc;
    const remaining = () => Math.max(1000, timeoutMs - (Date.now() - t0));
    await p.waitForLine((l) => l.includes('Kafka Server started'), remaining(), '"Kafka Server started" log line');
    // Confirm with a real client request.
    const kafka = new kafkajs.Kafka({
      clientId: 'kafka-ref-probe',
      brokers: [`127.0.0.1:${port}`],
      logLevel: kafkajs.logLevel.NOTHING,
      retry: { retries: 0 },
    });
    let lastErr: unknown;
    const deadline = t0 + timeoutMs;
    for (;;) {
      if (!p.running) throw new Error(`Kafka exited during startup\n${p.describe()}`);
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.describeCluster();
        break;
      } catch (err) {
        lastErr = err;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new Error(`Kafka did not answer describeCluster: ${String(lastErr)}\n${p.describe()}`);
      await sleep(200);
    }
  } catch (err) {
    await finish('kill');
    throw err;
  }

  const startupMs = Date.now() - t0;
  const broker = proc!;
  return {
    bootstrap: `127.0.0.1:${port}`,
    port,
    controllerPort,
    dir,
    pid: broker.pid,
    clusterId,
    startupMs,
    logs: () => [...broker.lines],
    stop: () => finish('stop'),
    kill: () => finish('kill'),
  };
}

export { KAFKA_VERSION };

// ------------------------------------------------------------------ CLI

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== 'start') {
    process.stderr.write(
      'usage: npx tsx scripts/kafka-ref.ts start [--prop key=value]... [--heap 1G] [--keep]\n' +
        '  Starts Apache Kafka 3.9 (single-node KRaft) on free loopback ports, prints\n' +
        '  BOOTSTRAP=host:port, and runs until SIGINT/SIGTERM.\n',
    );
    return cmd === undefined || cmd === '-h' || cmd === '--help' ? 0 : 2;
  }
  const extraProps: Record<string, string> = {};
  let heap: string | undefined;
  let keepDir = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--prop') {
      const kv = rest[++i] ?? '';
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`--prop expects key=value, got ${kv}`);
      extraProps[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (a === '--heap') heap = rest[++i];
    else if (a === '--keep') keepDir = true;
    else throw new Error(`unknown argument ${a}`);
  }
  const k = await startReferenceKafka({ extraProps, heap, keepDir });
  process.stdout.write(`BOOTSTRAP=${k.bootstrap}\nDIR=${k.dir}\nPID=${k.pid}\nSTARTUP_MS=${k.startupMs}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    process.once('SIGHUP', () => resolve());
  });
  process.stderr.write('kafka-ref: stopping\n');
  await k.stop();
  return 0;
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`kafka-ref: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
