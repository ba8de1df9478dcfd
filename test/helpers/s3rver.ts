/**
 * s3rver (a local S3-compatible server) as a child process, so tests can kill
 * it to simulate an object-store outage and restart it on the same port with
 * the same contents. Credentials S3RVER/S3RVER, path-style addressing, region
 * us-east-1. The buckets are created at start and checked with
 * @aws-sdk/client-s3 (HeadBucket) before startS3rver resolves.
 *
 * Pitfall (checked here with @aws-sdk/client-s3 3.1175 and s3rver 3.7.1):
 * with its default checksum settings the SDK sends a PutObject whose Body is a
 * stream aws-chunked with a trailing CRC32 (x-amz-content-sha256:
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER), and s3rver stores the chunk framing
 * verbatim ("6\r\nhello \r\n...x-amz-checksum-crc32:...") — silent corruption.
 * Buffer/string bodies are fine either way. Use `s3ClientConfig` below
 * (requestChecksumCalculation / responseChecksumValidation 'WHEN_REQUIRED')
 * for every client that talks to s3rver; the broker's S3 store should offer
 * the same settings. (The SDK also warns at load time that releases after
 * January 2027 need Node >= 22.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeadBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { makeTempDir, ManagedProcess, registerCleanup, type ExitInfo } from './process.js';

// Quiet the SDK's load-time notice that releases after Jan 2027 need Node >= 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 's3rver-child.mjs');

export const S3RVER_ACCESS_KEY_ID = 'S3RVER';
export const S3RVER_SECRET_ACCESS_KEY = 'S3RVER';
export const S3RVER_REGION = 'us-east-1';

export interface StartS3rverOptions {
  /** Buckets to create (default ['streamhouse-test']). */
  buckets?: string[];
  /** Storage directory; default a fresh temp dir removed at cleanup. A given dir is never removed. */
  directory?: string;
  /** Port; default a free one chosen by the kernel (kept across restarts). */
  port?: number;
  readyTimeoutMs?: number;
}

export interface S3rverProcess {
  /** 'http://127.0.0.1:<port>' */
  readonly endpoint: string;
  readonly port: number;
  /** The first bucket. */
  readonly bucket: string;
  readonly buckets: string[];
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** Where s3rver keeps the objects (one folder per bucket). */
  readonly directory: string;
  /** Config for `new S3Client(...)` that works against this s3rver. */
  readonly s3ClientConfig: S3ClientConfig;
  /** Environment variables in the AWS SDK's standard names (plus AWS_ENDPOINT_URL_S3). */
  readonly awsEnv: Record<string, string>;
  readonly pid: number;
  readonly running: boolean;
  readonly exited: Promise<ExitInfo>;
  logs(): string[];
  /** A new S3Client for this server (caller destroys it). */
  client(): S3Client;
  /** SIGTERM then SIGKILL; keeps the objects (restart() works after it). */
  stop(timeoutMs?: number): Promise<ExitInfo>;
  /** Signal (default SIGKILL); resolves on exit (SIGSTOP/SIGCONT resolve at once). */
  kill(signal?: NodeJS.Signals): Promise<ExitInfo | void>;
  /** Stops if running, starts again on the same port and directory. */
  restart(): Promise<void>;
  /** Kills and removes the directory if made here. Idempotent; also run automatically at the end. */
  cleanup(): Promise<void>;
}

export function s3ClientConfigFor(endpoint: string): S3ClientConfig {
  return {
    endpoint,
    region: S3RVER_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  };
}

export async function startS3rver(opts: StartS3rverOptions = {}): Promise<S3rverProcess> {
  const buckets = opts.buckets && opts.buckets.length > 0 ? opts.buckets : ['streamhouse-test'];
  const ownDir = opts.directory === undefined;
  const tmp = ownDir ? makeTempDir('streamhouse-s3rver-') : undefined;
  const directory = opts.directory ?? tmp!.dir;
  fs.mkdirSync(directory, { recursive: true });
  const timeout = opts.readyTimeoutMs ?? 20_000;
  let port = opts.port ?? 0;
  let proc!: ManagedProcess;

  const spawnOne = async () => {
    const args = [CHILD, '--port', String(port), '--directory', directory];
    for (const b of buckets) args.push('--bucket', b);
    proc = new ManagedProcess(process.execPath, args, { name: `s3rver:${port || 'new'}` });
    const p = proc;
    let line: string;
    try {
      line = await p.waitForLine((l) => l.startsWith('S3RVER_LISTENING '), timeout, 'S3RVER_LISTENING line');
    } catch (err) {
      await p.kill('SIGKILL');
      throw err;
    }
    port = (JSON.parse(line.slice('S3RVER_LISTENING '.length)) as { port: number }).port;
  };

  let cleaned = false;
  const rmDir = () => tmp?.remove();
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    unregister();
    await proc.kill('SIGKILL');
    rmDir();
  };
  const unregister = registerCleanup(cleanup, () => {
    proc?.killSync('SIGKILL');
    rmDir();
  });

  try {
    await spawnOne();
    const endpoint = `http://127.0.0.1:${port}`;
    const c = new S3Client(s3ClientConfigFor(endpoint));
    try {
      for (const b of buckets) await c.send(new HeadBucketCommand({ Bucket: b }));
    } finally {
      c.destroy();
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  const endpoint = `http://127.0.0.1:${port}`;
  const cfg = s3ClientConfigFor(endpoint);
  return {
    endpoint,
    port,
    bucket: buckets[0]!,
    buckets,
    accessKeyId: S3RVER_ACCESS_KEY_ID,
    secretAccessKey: S3RVER_SECRET_ACCESS_KEY,
    region: S3RVER_REGION,
    directory,
    s3ClientConfig: cfg,
    awsEnv: {
      AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY,
      AWS_REGION: S3RVER_REGION,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    },
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
    client: () => new S3Client(cfg),
    stop: (t = 10_000) => proc.stop(t),
    kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
      if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGTSTP') {
        proc.signal(signal);
        return;
      }
      return proc.kill(signal);
    },
    restart: async () => {
      if (cleaned) throw new Error('restart after cleanup');
      if (proc.running) await proc.stop();
      await spawnOne();
    },
    cleanup,
  };
}
