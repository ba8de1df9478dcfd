/**
 * A single-member etcd (Debian package etcd-server: /usr/bin/etcd, 3.4.x) on
 * free loopback client/peer ports with a fresh data dir. Ready when its
 * /health endpoint answers {"health":"true"}.
 */
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './ports.js';
import { childServerCleanup, makeTempDir, ManagedProcess, sleep, type ExitInfo } from './process.js';

export const ETCD_BIN = process.env.STREAMHOUSE_ETCD_BIN ?? '/usr/bin/etcd';

export interface StartEtcdOptions {
  /** Data dir; default a fresh temp dir removed at cleanup. A given dir is never removed. */
  dataDir?: string;
  /** Extra etcd flags. */
  args?: string[];
  /** Readiness timeout (default 20 s). */
  readyTimeoutMs?: number;
}

export interface EtcdProcess {
  /** 'http://127.0.0.1:<clientPort>' — pass to etcd3 as `hosts`. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly pid: number;
  readonly running: boolean;
  readonly exited: Promise<ExitInfo>;
  logs(): string[];
  /** SIGTERM, wait (10 s), then SIGKILL. Keeps the data dir (restart() works after it). */
  stop(timeoutMs?: number): Promise<ExitInfo>;
  /** Sends a signal (default SIGKILL) and waits for exit (not for SIGSTOP/SIGCONT). */
  kill(signal?: NodeJS.Signals): Promise<ExitInfo | void>;
  /** Stops if running, then starts again on the same ports and data dir; resolves when healthy. */
  restart(): Promise<void>;
  /** Kills and removes the data dir (if made here). Idempotent; also run automatically at the end. */
  cleanup(): Promise<void>;
}

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdProcess> {
  if (!fs.existsSync(ETCD_BIN)) {
    throw new Error(`startEtcd: ${ETCD_BIN} not found; run scripts/install-test-deps.sh (Debian etcd-server)`);
  }
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const ownDir = opts.dataDir === undefined;
  const tmp = ownDir ? makeTempDir('streamhouse-etcd-') : undefined;
  const baseDir = opts.dataDir ?? tmp!.dir;
  // etcd wants to create/own its data dir (0700); use a subdir of the temp dir.
  const dataDir = ownDir ? path.join(baseDir, 'data') : baseDir;
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const timeout = opts.readyTimeoutMs ?? 20_000;
  const args = [
    '--name',
    'sh-test',
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    endpoint,
    '--advertise-client-urls',
    endpoint,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    '--initial-cluster',
    `sh-test=${peer}`,
    '--initial-cluster-state',
    'new',
    '--initial-cluster-token',
    `sh-test-${clientPort}`,
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
    ...(opts.args ?? []),
  ];
  // etcd 3.4 refuses to start on arm64 unless told it is fine.
  const env = process.arch === 'arm64' ? { ...process.env, ETCD_UNSUPPORTED_ARCH: 'arm64' } : process.env;
  let proc!: ManagedProcess;

  const spawnOne = async () => {
    proc = new ManagedProcess(ETCD_BIN, args, { name: `etcd:${clientPort}`, env });
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (!proc.running) {
        const info = await proc.exited;
        throw new Error(`etcd exited (code ${info.code}, signal ${info.signal}) before becoming healthy\n${proc.describe()}`);
      }
      if (await healthy(endpoint)) return;
      await sleep(50);
    }
    await proc.kill('SIGKILL');
    throw new Error(`etcd not healthy within ${timeout} ms\n${proc.describe()}`);
  };

  const { cleanup, cleaned } = childServerCleanup(() => proc, tmp);
  try {
    await spawnOne();
  } catch (err) {
    await cleanup();
    throw err;
  }

  return {
    endpoint,
    clientPort,
    peerPort,
    dataDir,
    get pid() {
      return proc.pid;
    },
    get running() {
      return proc.running;
    },
    get exited() {
      return proc.exited;
    },
    logs: () => [...proc.lines],
    stop: (t = 10_000) => proc.stop(t),
    kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
      if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGTSTP') {
        proc.signal(signal);
        return;
      }
      return proc.kill(signal);
    },
    restart: async () => {
      if (cleaned()) throw new Error('restart after cleanup');
      if (proc.running) await proc.stop();
      await spawnOne();
    },
    cleanup,
  };
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return false;
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}
