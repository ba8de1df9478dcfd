/**
 * Child processes for tests: spawn, capture output lines, wait for a line,
 * stop/kill, and make sure nothing outlives the test file or the process.
 *
 * - Every ManagedProcess is tracked until it exits. Under vitest an afterAll
 *   hook (registered when this module is first imported by a test file) runs
 *   every registered cleanup; a process 'exit' hook SIGKILLs whatever is still
 *   alive and removes registered temp dirs synchronously, in any runner.
 * - Children run in their own process group (detached) and are killed as a
 *   group, so wrappers and their children go too.
 * - A tiny watchdog (one `sh` per Node process, detached, holding the read
 *   end of a pipe from us) is told each child's process group and temp dir;
 *   when this process dies in any way (even SIGKILL, where no hook runs) the
 *   pipe closes and the watchdog kills those groups and removes those dirs.
 *   (PR_SET_PDEATHSIG would cover the direct child only, not its group or
 *   the temp dirs.) Note: on these machines pid 1 reaps orphans lazily, so a
 *   killed orphan can linger as a zombie for a while and `kill -0` still
 *   succeeds on it: check /proc/<pid>/status State, not kill -0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Short name used in log echo and error messages. */
  name: string;
  cwd?: string;
  /** Full environment (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Keep at most this many output lines in memory (default 50_000). */
  maxLines?: number;
  /** Also append every output line to this file. */
  logFile?: string;
  /** Register the child with the watchdog (default true). */
  watchdog?: boolean;
}

const VERBOSE = !!process.env.STREAMHOUSE_TEST_VERBOSE;

// ------------------------------------------------------------ watchdog

const WATCHDOG_SCRIPT = `
groups=""
dirs=""
while IFS= read -r line; do
  arg="\${line#???}"
  case "$line" in
    "+p "*) groups="$groups $arg" ;;
    "-p "*) n=""; for g in $groups; do [ "$g" = "$arg" ] || n="$n $g"; done; groups="$n" ;;
    "+d "*) dirs="$dirs $arg" ;;
    "-d "*) n=""; for d in $dirs; do [ "$d" = "$arg" ] || n="$n $d"; done; dirs="$n" ;;
  esac
done
for g in $groups; do kill -KILL -"$g" 2>/dev/null; kill -KILL "$g" 2>/dev/null; done
for d in $dirs; do case "$d" in /tmp/*|/var/tmp/*) rm -rf -- "$d" ;; esac; done
`;

let watchdog: ChildProcess | null | undefined;

function watchdogSend(line: string): void {
  if (watchdog === undefined) {
    try {
      watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
      watchdog.on('error', () => {
        watchdog = null;
      });
      watchdog.stdin!.on('error', () => {
        /* watchdog gone */
      });
      watchdog.unref();
      (watchdog.stdin as unknown as { unref?: () => void }).unref?.();
    } catch {
      watchdog = null;
    }
  }
  if (watchdog && watchdog.stdin && !watchdog.stdin.destroyed) watchdog.stdin.write(line + '\n');
}

/** Tells the watchdog to kill this process group if we die. */
export function watchGroup(pgid: number): void {
  watchdogSend(`+p ${pgid}`);
}
export function unwatchGroup(pgid: number): void {
  watchdogSend(`-p ${pgid}`);
}
/** Tells the watchdog to remove this dir (only under /tmp or /var/tmp, no spaces) if we die. */
export function watchDir(dir: string): void {
  if (!/\s/.test(dir)) watchdogSend(`+d ${dir}`);
}
export function unwatchDir(dir: string): void {
  if (!/\s/.test(dir)) watchdogSend(`-d ${dir}`);
}

// ------------------------------------------------------------ cleanup registry

type CleanupFn = { async: () => Promise<void>; sync: () => void };
const cleanups = new Set<CleanupFn>();
const live = new Set<ManagedProcess>();

/**
 * Registers a cleanup that runs in the afterAll hook (async) or at process
 * exit (sync). Returns a function that unregisters it.
 */
export function registerCleanup(asyncFn: () => Promise<void>, syncFn: () => void): () => void {
  const entry: CleanupFn = { async: asyncFn, sync: syncFn };
  cleanups.add(entry);
  return () => {
    cleanups.delete(entry);
  };
}

/**
 * mkdtemp under os.tmpdir() whose removal the watchdog guarantees even if
 * this process dies; `remove()` deletes it now (idempotent). Callers still
 * register their own cleanup for the normal path.
 */
/**
 * The cleanup of a child server (etcd, s3rver, MinIO): kill -9 and remove its
 * temp dir, once, and also when the test process ends without it.
 */
export function childServerCleanup(proc: () => ManagedProcess | undefined, tmp?: { remove(): void }): { cleanup: () => Promise<void>; cleaned: () => boolean } {
  let done = false;
  const rmDir = () => tmp?.remove();
  const unregister = registerCleanup(cleanup, () => {
    proc()?.killSync('SIGKILL');
    rmDir();
  });
  async function cleanup(): Promise<void> {
    if (done) return;
    done = true;
    unregister();
    await proc()?.kill('SIGKILL');
    rmDir();
  }
  return { cleanup, cleaned: () => done };
}

export function makeTempDir(prefix: string): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  watchDir(dir);
  let removed = false;
  return {
    dir,
    remove() {
      if (removed) return;
      removed = true;
      fs.rmSync(dir, { recursive: true, force: true });
      unwatchDir(dir);
    },
  };
}

/** Registers a directory to remove at cleanup time. Returns an unregister function. */
export function registerTempDir(dir: string): () => void {
  watchDir(dir);
  const rm = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    unwatchDir(dir);
  };
  return registerCleanup(async () => rm(), rm);
}

/** Runs every registered cleanup and kills every live child. Safe to call repeatedly. */
export async function cleanupAll(): Promise<void> {
  const entries = [...cleanups];
  cleanups.clear();
  // Processes first (their cleanups may stop them gracefully), then dirs.
  for (const e of entries.reverse()) {
    try {
      await e.async();
    } catch (err) {
      console.error('[test-helpers] cleanup failed:', err);
    }
  }
  await Promise.all([...live].map((p) => p.kill('SIGKILL').catch(() => undefined)));
}

function cleanupAllSync(): void {
  for (const p of live) p.killSync('SIGKILL');
  for (const e of [...cleanups].reverse()) {
    try {
      e.sync();
    } catch {
      /* exiting anyway */
    }
  }
  cleanups.clear();
}

process.once('exit', cleanupAllSync);

if (process.env.VITEST) {
  // Registered at import time of the first test file that uses the helpers,
  // which attaches it to that file's root suite.
  try {
    const { afterAll } = await import('vitest');
    afterAll(cleanupAll, 120_000);
  } catch {
    /* not inside a collecting test file: the exit hook still applies */
  }
}

// ------------------------------------------------------------ ManagedProcess

export class ManagedProcess {
  readonly name: string;
  readonly command: string[];
  readonly child: ChildProcess;
  /** Captured stdout+stderr lines (stderr lines are not marked). */
  readonly lines: string[] = [];
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | null = null;
  private listeners = new Set<(line: string) => void>();
  private readonly maxLines: number;
  private readonly logFd: number | null;

  constructor(cmd: string, args: string[], opts: SpawnOptions) {
    this.name = opts.name;
    this.command = [cmd, ...args];
    this.maxLines = opts.maxLines ?? 50_000;
    this.logFd = opts.logFile ? fs.openSync(opts.logFile, 'a') : null;
    this.child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    live.add(this);
    const pid = this.child.pid;
    const watched = (opts.watchdog ?? true) && pid !== undefined;
    if (watched) watchGroup(pid);
    this.exited = new Promise<ExitInfo>((resolve) => {
      const finish = (info: ExitInfo) => {
        if (this.exitInfo) return;
        this.exitInfo = info;
        live.delete(this);
        if (watched) {
          // Kill stragglers of the group before forgetting it.
          this.killGroupRemnants();
          unwatchGroup(pid);
        }
        if (this.logFd !== null) {
          try {
            fs.closeSync(this.logFd);
          } catch {
            /* ignore */
          }
        }
        resolve(info);
      };
      this.child.once('exit', (code, signal) => finish({ code, signal }));
      this.child.once('error', (err) => {
        this.pushLine(`[spawn error] ${err.message}`);
        finish({ code: -1, signal: null });
      });
    });
    this.attach(this.child.stdout!);
    this.attach(this.child.stderr!);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** null while running. */
  get exitCode(): number | null {
    return this.exitInfo?.code ?? null;
  }

  get signalCode(): NodeJS.Signals | null {
    return this.exitInfo?.signal ?? null;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  private attach(stream: NodeJS.ReadableStream): void {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.pushLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream.on('end', () => {
      if (buf.length > 0) this.pushLine(buf);
      buf = '';
    });
  }

  private pushLine(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines);
    if (this.logFd !== null) {
      try {
        fs.writeSync(this.logFd, line + '\n');
      } catch {
        /* ignore */
      }
    }
    if (VERBOSE) process.stderr.write(`[${this.name}] ${line}\n`);
    for (const l of this.listeners) l(line);
  }

  /** Calls `fn` for every line from now on; returns an unsubscribe function. */
  onLine(fn: (line: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The last `n` lines joined, for error messages. */
  tail(n = 60): string {
    return this.lines.slice(-n).join('\n');
  }

  /**
   * Resolves with the first line (already captured or future) matching
   * `pred`. Rejects when the process exits first or after `timeoutMs`, with
   * the command line and the captured output in the message.
   */
  waitForLine(pred: (line: string) => boolean, timeoutMs: number, what = 'readiness line', fromIndex = 0): Promise<string> {
    for (let i = fromIndex; i < this.lines.length; i++) if (pred(this.lines[i]!)) return Promise.resolve(this.lines[i]!);
    return new Promise<string>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      let off = () => {};
      const done = (err: Error | null, line?: string) => {
        clearTimeout(timer);
        off();
        if (err) reject(err);
        else resolve(line!);
      };
      off = this.onLine((line) => {
        if (pred(line)) done(null, line);
      });
      timer = setTimeout(
        () => done(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.describe()}`)),
        timeoutMs,
      );
      void this.exited.then((info) => {
        if (this.running) return;
        // Give the stream 'end' handlers a moment to flush the last lines.
        setTimeout(() => {
          for (let i = fromIndex; i < this.lines.length; i++) {
            if (pred(this.lines[i]!)) return done(null, this.lines[i]!);
          }
          done(new Error(`${this.name}: exited (code ${info.code}, signal ${info.signal}) before ${what}\n${this.describe()}`));
        }, 20);
      });
    });
  }

  /** Command line and output tail, for error messages. */
  describe(tailLines = 80): string {
    return `command: ${this.command.map(shellQuote).join(' ')}\n--- output (last ${tailLines} lines) ---\n${this.tail(tailLines)}\n---`;
  }

  /** Sends `signal` to the process group (falls back to the pid). */
  signal(sig: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      try {
        process.kill(this.child.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** SIGKILL to the process group even though its leader has exited (ESRCH ignored). */
  killGroupRemnants(): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      /* no such group: nothing left */
    }
  }

  killSync(sig: NodeJS.Signals = 'SIGKILL'): void {
    this.signal(sig);
  }

  /** Sends `sig` (default SIGKILL) and resolves when the process has exited. */
  async kill(sig: NodeJS.Signals = 'SIGKILL'): Promise<ExitInfo> {
    this.signal(sig);
    return this.exited;
  }

  /** SIGTERM, wait up to `timeoutMs`, then SIGKILL. Resolves when exited. */
  async stop(timeoutMs = 10_000): Promise<ExitInfo> {
    if (!this.running) return this.exited;
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs);
    });
    const r = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.signal('SIGKILL');
      return this.exited;
    }
    // The leader exited; make sure nothing of its group lingers.
    this.killGroupRemnants();
    return r;
  }
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\-.,:/=@+%]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
