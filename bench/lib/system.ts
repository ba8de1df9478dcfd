/**
 * Machine facts and the raw speed of this machine's disk and loopback, measured
 * in the same run as the brokers so every broker figure can be read against
 * what the hardware does on its own.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

export const MiB = 1024 * 1024;

export interface MachineFacts {
  date: string;
  hostname: string;
  nproc: number;
  cpuModel: string;
  memTotalMiB: number;
  memAvailableMiB: number;
  kernel: string;
  node: string;
  java: string;
  librdkafka: string;
  /** Filesystem holding os.tmpdir() (where both brokers keep their data). */
  tmpFs: string;
  gitCommit: string;
  gitDirty: string;
  loadavgStart: string;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

export function loadavg(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

function memAvailableMiB(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch {
    /* not linux */
  }
  return Math.round(os.freemem() / MiB);
}

export function machineFacts(repoRoot: string): MachineFacts {
  const javaV = sh('java', ['-version']).split('\n')[0] ?? '?';
  const rdk = sh('/usr/bin/python3', [
    '-c',
    'import confluent_kafka as c; print("confluent-kafka", c.version()[0], "librdkafka", c.libversion()[0])',
  ]);
  const df = sh('df', ['-hT', os.tmpdir()]).split('\n')[1] ?? '';
  const dfCols = df.split(/\s+/);
  const dirty = sh('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src'])
    .split('\n')
    .filter(Boolean).length;
  return {
    date: new Date().toISOString(),
    hostname: os.hostname(),
    nproc: Number(sh('nproc', [])) || os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? '?',
    memTotalMiB: Math.round(os.totalmem() / MiB),
    memAvailableMiB: memAvailableMiB(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    java: javaV,
    librdkafka: rdk.split('\n').pop() ?? rdk,
    tmpFs: dfCols.length >= 7 ? `${os.tmpdir()} on ${dfCols[0]} (${dfCols[1]}, ${dfCols[2]} total, ${dfCols[4]} free)` : df,
    gitCommit: sh('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']),
    gitDirty: dirty ? `${dirty} uncommitted change(s) under src/` : 'clean src/',
    loadavgStart: loadavg(),
  };
}

// ------------------------------------------------------------------ disk

export interface DiskResult {
  dir: string;
  /** MiB written in chunkBytes writes, each followed by fsync. */
  seqFsyncMiB: number;
  chunkBytes: number;
  /** MiB/s of the fsync-per-chunk sequential write. */
  seqFsyncMiBps: number;
  /** MiB/s of plain buffered writes of the same total plus one fsync at the end. */
  bufferedThenFsyncMiBps: number;
  /** 64 KiB write + fdatasync latency, ms. */
  syncLatency: { bytes: number; n: number; p50: number; p99: number; mean: number };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function measureDisk(opts: { dir: string; totalMiB: number; latencyWrites: number }): DiskResult {
  const dir = fs.mkdtempSync(path.join(opts.dir, 'streamhouse-bench-disk-'));
  try {
    const chunk = randomBytes(MiB);
    // 1) sequential, fsync after every 1 MiB chunk (the shape of a WAL object flush)
    const f1 = path.join(dir, 'seq');
    let fd = fs.openSync(f1, 'w');
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < opts.totalMiB; i++) {
      fs.writeSync(fd, chunk);
      fs.fsyncSync(fd);
    }
    let secs = Number(process.hrtime.bigint() - t0) / 1e9;
    fs.closeSync(fd);
    const seqFsyncMiBps = opts.totalMiB / secs;
    fs.rmSync(f1);

    // 2) buffered writes, one fsync at the end
    const f2 = path.join(dir, 'buffered');
    fd = fs.openSync(f2, 'w');
    t0 = process.hrtime.bigint();
    for (let i = 0; i < opts.totalMiB; i++) fs.writeSync(fd, chunk);
    fs.fsyncSync(fd);
    secs = Number(process.hrtime.bigint() - t0) / 1e9;
    fs.closeSync(fd);
    const bufferedThenFsyncMiBps = opts.totalMiB / secs;
    fs.rmSync(f2);

    // 3) 64 KiB append + fdatasync latency
    const small = chunk.subarray(0, 64 * 1024);
    const f3 = path.join(dir, 'lat');
    fd = fs.openSync(f3, 'w');
    const lat: number[] = [];
    for (let i = 0; i < opts.latencyWrites; i++) {
      const s = process.hrtime.bigint();
      fs.writeSync(fd, small);
      fs.fdatasyncSync(fd);
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    fs.closeSync(fd);
    lat.sort((a, b) => a - b);
    return {
      dir: opts.dir,
      seqFsyncMiB: opts.totalMiB,
      chunkBytes: MiB,
      seqFsyncMiBps,
      bufferedThenFsyncMiBps,
      syncLatency: {
        bytes: small.length,
        n: lat.length,
        p50: pct(lat, 50),
        p99: pct(lat, 99),
        mean: lat.reduce((a, b) => a + b, 0) / lat.length,
      },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ loopback

export interface LoopbackResult {
  MiBps: number;
  bytes: number;
  seconds: number;
}

/**
 * One TCP connection over 127.0.0.1: a worker thread writes 1 MiB buffers as
 * fast as the socket takes them for `seconds`; the main thread receives and
 * discards. Node-to-Node, so it is a floor for what the kernel can do, and the
 * order of magnitude a single broker connection can see.
 */
export async function measureLoopback(seconds: number): Promise<LoopbackResult> {
  let received = 0;
  let first = 0n;
  let last = 0n;
  const server = net.createServer((sock) => {
    sock.on('data', (b: Buffer) => {
      if (first === 0n) first = process.hrtime.bigint();
      received += b.length;
      last = process.hrtime.bigint();
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const src = `
    const net = require('node:net');
    const { workerData, parentPort } = require('node:worker_threads');
    const buf = Buffer.alloc(1024 * 1024, 7);
    const sock = net.connect(workerData.port, '127.0.0.1', () => {
      const end = Date.now() + workerData.ms;
      const pump = () => {
        while (Date.now() < end) { if (!sock.write(buf)) { sock.once('drain', pump); return; } }
        sock.end(() => parentPort.postMessage('done'));
      };
      pump();
    });
    sock.on('error', (e) => parentPort.postMessage('error ' + e.message));
  `;
  const worker = new Worker(src, { eval: true, workerData: { port, ms: Math.round(seconds * 1000) } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: string) => (m === 'done' ? resolve() : reject(new Error(m))));
    worker.once('error', reject);
  });
  await new Promise((r) => setTimeout(r, 100));
  await worker.terminate();
  await new Promise<void>((r) => server.close(() => r()));
  for (const s of [server]) s.unref();
  const secs = Number(last - first) / 1e9;
  return { MiBps: received / MiB / secs, bytes: received, seconds: secs };
}

// ------------------------------------------------------------------ /proc CPU

const CLK_TCK = Number(sh('getconf', ['CLK_TCK'])) || 100;

/** utime+stime of a process (all its threads), seconds; NaN when unreadable. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the ")" of the comm field: state is field 3; utime 14, stime 15
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** A broker is quiet when its process uses less than this share of a core over a second (an idle Kafka uses 0.03-0.05). */
export const QUIET_CORES = 0.1;

/**
 * Waits until process `pid` uses less than QUIET_CORES over a second, for at
 * most `maxSeconds` (or until `running()` says it is gone).
 */
export async function waitQuiet(pid: number, maxSeconds: number, running: () => boolean = () => true): Promise<{ seconds: number; quiet: boolean }> {
  const t0 = Date.now();
  let quiet = false;
  while (!quiet && Date.now() - t0 < maxSeconds * 1000 && running()) {
    const c0 = processCpuSeconds(pid);
    await new Promise((r) => setTimeout(r, 1000));
    quiet = processCpuSeconds(pid) - c0 < QUIET_CORES;
  }
  return { seconds: (Date.now() - t0) / 1000, quiet };
}

/** CPU time every core of the machine spent busy (not idle or waiting for I/O), seconds; NaN when unreadable. */
export function machineBusySeconds(): number {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // cpu  user nice system idle iowait irq softirq steal ...
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / CLK_TCK;
  } catch {
    return NaN;
  }
}
