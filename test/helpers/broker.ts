/**
 * Runs the StreamHouse broker as a real process:
 *
 *   node dist/src/cli.js serve --listen 127.0.0.1:<port> --advertise 127.0.0.1:<port>
 *        --data-dir <dir> [--broker-id N] ...args
 *
 * from the repo root (`npm test` builds dist/ first). Ready when a pino JSON
 * line with "msg":"listening" appears on stdout/stderr (20 s timeout, captured
 * logs in the error). Processes are tracked and killed at the end of the test
 * file / process; temp data dirs made here are removed then too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { makeTempDir, ManagedProcess, registerCleanup, type ExitInfo } from './process.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BROKER_CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli.js');

/**
 * The V8 flags the broker runs with, as in package.json's start script, the
 * bin's shebang (src/cli.ts) and the Dockerfile (test/smoke.test.ts checks
 * they agree). With V8's default, a JS heap of ~20 MB gets a mark-compact
 * every ~80 ms under produce load (40% of the broker's CPU in the profile);
 * a larger initial old generation and new space cut those by 5x and the
 * broker's CPU per record by about a fifth. V8 otherwise sizes the old
 * generation at up to 4x what is live after a mark-compact and, as the broker
 * is never idle, its memory reducer never hands the slack back: with 1,000
 * partitions (most of the heap then tail entries that live ~40 s) the heap
 * reached 535 MB for 220 MB used; growing it by 30% held it at ~230 MB, with
 * the same CPU and records/s (bench/probe runs of scenario 2, 150 s).
 */
export const BROKER_NODE_FLAGS = ['--initial-heap-size=128', '--max-semi-space-size=16', '--heap-growing-percent=30'];

export interface StartBrokerOptions {
  /** Data directory; default a fresh temp dir removed at cleanup. A given dir is never removed. */
  dataDir?: string;
  /** Extra CLI arguments appended after the standard ones. */
  args?: string[];
  /** Extra environment variables (added to process.env). */
  env?: Record<string, string>;
  /** Passed as --broker-id N when set. */
  brokerId?: number;
  /** Port to listen on; default a free port. */
  port?: number;
  /** Readiness timeout in ms (default 20_000). */
  readyTimeoutMs?: number;
  /** Override the CLI entry (default dist/src/cli.js); used by the helper's own tests. */
  cliPath?: string;
  /** Node executable (default: the one running the tests). */
  node?: string;
  /** Readiness predicate on an output line (default: pino line with "msg":"listening"). */
  ready?: (line: string) => boolean;
}

export interface BrokerProcess {
  readonly port: number;
  /** '127.0.0.1:<port>' */
  readonly bootstrap: string;
  readonly dataDir: string;
  /** pid of the current process (changes on restart). */
  readonly pid: number;
  /** Exit code of the current process; null while it runs (or when killed by a signal). */
  readonly exitCode: number | null;
  /** Signal that ended the current process, if any. */
  readonly signalCode: NodeJS.Signals | null;
  readonly running: boolean;
  /** Resolves when the current process exits. */
  readonly exited: Promise<ExitInfo>;
  /** Command line of the current process. */
  readonly command: string[];
  /** Captured stdout+stderr lines of the current process. */
  logs(): string[];
  /** Captured lines of every process started by this handle, restarts separated by a marker line. */
  allLogs(): string[];
  /** The current process's output lines that parse as JSON objects (pino). */
  jsonLogs(): Array<Record<string, unknown>>;
  /** Waits for an output line (already seen or future) of the current process. */
  waitForLog(match: RegExp | string | ((line: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Sends a signal (default SIGKILL) and resolves when the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<ExitInfo>;
  /** SIGTERM, wait up to timeoutMs (default 10 s), then SIGKILL. */
  stop(timeoutMs?: number): Promise<ExitInfo>;
  /** Stops the current process if running (SIGTERM) and starts a new one with the same port and data dir. */
  restart(opts?: { args?: string[]; env?: Record<string, string> }): Promise<void>;
  /** Kills the process and removes the data dir if this helper created it. Idempotent. */
  cleanup(): Promise<void>;
}

const LISTENING = (line: string) => line.includes('"msg":"listening"');

export async function startBroker(opts: StartBrokerOptions = {}): Promise<BrokerProcess> {
  const cli = opts.cliPath ?? BROKER_CLI;
  if (!fs.existsSync(cli)) {
    throw new Error(`startBroker: ${cli} does not exist; build first (npm run build)`);
  }
  const port = opts.port ?? (await freePort());
  const ownDir = opts.dataDir === undefined;
  const tmp = ownDir ? makeTempDir('streamhouse-broker-') : undefined;
  const dataDir = opts.dataDir ?? tmp!.dir;
  fs.mkdirSync(dataDir, { recursive: true });
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  const ready = opts.ready ?? LISTENING;
  let baseArgs = opts.args ?? [];
  let baseEnv = opts.env ?? {};
  const history: string[] = [];
  let proc: ManagedProcess;
  let generation = 0;

  const spawnOne = async (): Promise<void> => {
    const args = [
      ...BROKER_NODE_FLAGS,
      cli,
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--advertise',
      `127.0.0.1:${port}`,
      '--data-dir',
      dataDir,
      ...(opts.brokerId !== undefined ? ['--broker-id', String(opts.brokerId)] : []),
      ...baseArgs,
    ];
    generation++;
    proc = new ManagedProcess(opts.node ?? process.execPath, args, {
      name: `broker:${port}${generation > 1 ? `#${generation}` : ''}`,
      cwd: REPO_ROOT,
      env: { ...process.env, ...baseEnv },
    });
    const p = proc;
    p.onLine((l) => history.push(l));
    try {
      await p.waitForLine(ready, readyTimeoutMs, '"msg":"listening" log line');
    } catch (err) {
      await p.kill('SIGKILL');
      throw err;
    }
  };

  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    unregister();
    await proc.kill('SIGKILL');
    tmp?.remove();
  };
  const unregister = registerCleanup(cleanup, () => {
    proc?.killSync('SIGKILL');
    tmp?.remove();
  });

  try {
    await spawnOne();
  } catch (err) {
    await cleanup();
    throw err;
  }

  const handle: BrokerProcess = {
    port,
    bootstrap: `127.0.0.1:${port}`,
    dataDir,
    get pid() {
      return proc.pid;
    },
    get exitCode() {
      return proc.exitCode;
    },
    get signalCode() {
      return proc.signalCode;
    },
    get running() {
      return proc.running;
    },
    get exited() {
      return proc.exited;
    },
    get command() {
      return proc.command;
    },
    logs: () => [...proc.lines],
    allLogs: () => [...history],
    jsonLogs: () => parseJsonLines(proc.lines),
    waitForLog: (match, timeoutMs = 10_000) => {
      const pred =
        typeof match === 'function'
          ? match
          : typeof match === 'string'
            ? (l: string) => l.includes(match)
            : (l: string) => match.test(l);
      return proc.waitForLine(pred, timeoutMs, `log line matching ${String(match)}`);
    },
    kill: (signal = 'SIGKILL') => proc.kill(signal),
    stop: (timeoutMs = 10_000) => proc.stop(timeoutMs),
    restart: async (r) => {
      if (cleaned) throw new Error('restart after cleanup');
      if (proc.running) await proc.stop();
      if (r?.args) baseArgs = r.args;
      if (r?.env) baseEnv = r.env;
      history.push(`----- restart #${generation} -----`);
      await spawnOne();
    },
    cleanup,
  };
  return handle;
}

/** Lines that parse as JSON objects (pino output), others skipped. */
export function parseJsonLines(lines: readonly string[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const l of lines) {
    const t = l.trim();
    if (!t.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(t);
      if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v as Record<string, unknown>);
    } catch {
      /* not JSON */
    }
  }
  return out;
}
