/**
 * What the S3 tests and the benchmarks use of a local S3-compatible server,
 * whichever it is (s3rver.ts: s3rver in a Node child; minio.ts: the MinIO
 * binary): one handle shape, and the process plumbing both share — a temp
 * directory made here and removed at cleanup, the child killed at the end of
 * the test file or process (process.ts), a restart on the same port and
 * directory, path-style addressing, region us-east-1.
 */
import fs from 'node:fs';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { childServerCleanup, makeTempDir, type ExitInfo, type ManagedProcess } from './process.js';

// Quiet the SDK's load-time notice that releases after Jan 2027 need Node >= 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const S3_TEST_REGION = 'us-east-1';

export interface S3ServerProcess {
  /** 'http://127.0.0.1:<port>' */
  readonly endpoint: string;
  readonly port: number;
  /** The first bucket. */
  readonly bucket: string;
  readonly buckets: string[];
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** Where the server keeps the objects. */
  readonly directory: string;
  /** Config for `new S3Client(...)` that works against this server. */
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

/**
 * Path-style, one attempt, and the SDK's checksums only WHEN_REQUIRED: with
 * its defaults a streamed PutObject body goes aws-chunked with a trailing
 * CRC32, which s3rver stores verbatim (see s3rver.ts).
 */
export function s3TestClientConfig(endpoint: string, accessKeyId: string, secretAccessKey: string): S3ClientConfig {
  return {
    endpoint,
    region: S3_TEST_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  };
}

export interface S3ServerLauncher {
  /** Prefix of the temp directory made when `directory` is not given. */
  tempPrefix: string;
  /** Storage directory; default a fresh temp dir removed at cleanup. A given dir is never removed. */
  directory?: string;
  /** Port of the first start; default 0 (the launcher picks a free one, kept across restarts). */
  port?: number;
  buckets: string[];
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * Starts one server process on `port` (the launcher's choice when 0; on a
   * restart, the port of the previous start). Resolves once the server
   * answers, with the process and its port; on failure it has killed it.
   */
  spawn(port: number, directory: string): Promise<{ proc: ManagedProcess; port: number }>;
  /** After the first start: make sure the buckets exist (create or check them). */
  prepare(client: S3Client): Promise<void>;
}

/** Starts the server `l` describes and wraps it in an S3ServerProcess. */
export async function launchS3Server(l: S3ServerLauncher): Promise<S3ServerProcess> {
  const tmp = l.directory === undefined ? makeTempDir(l.tempPrefix) : undefined;
  const directory = l.directory ?? tmp!.dir;
  fs.mkdirSync(directory, { recursive: true });
  let port = l.port ?? 0;
  let proc: ManagedProcess | undefined;
  const spawnOne = async () => {
    const r = await l.spawn(port, directory);
    proc = r.proc;
    port = r.port;
  };

  const { cleanup, cleaned } = childServerCleanup(() => proc, tmp);

  try {
    await spawnOne();
    const c = new S3Client(s3TestClientConfig(`http://127.0.0.1:${port}`, l.accessKeyId, l.secretAccessKey));
    try {
      await l.prepare(c);
    } finally {
      c.destroy();
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  const p = () => proc!;
  const endpoint = `http://127.0.0.1:${port}`;
  const cfg = s3TestClientConfig(endpoint, l.accessKeyId, l.secretAccessKey);
  return {
    endpoint,
    port,
    bucket: l.buckets[0]!,
    buckets: l.buckets,
    accessKeyId: l.accessKeyId,
    secretAccessKey: l.secretAccessKey,
    region: S3_TEST_REGION,
    directory,
    s3ClientConfig: cfg,
    awsEnv: {
      AWS_ACCESS_KEY_ID: l.accessKeyId,
      AWS_SECRET_ACCESS_KEY: l.secretAccessKey,
      AWS_REGION: S3_TEST_REGION,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    },
    get pid() {
      return p().pid;
    },
    get running() {
      return p().running;
    },
    get exited() {
      return p().exited;
    },
    logs: () => [...p().lines],
    client: () => new S3Client(cfg),
    stop: (t = 10_000) => p().stop(t),
    kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
      if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGTSTP') {
        p().signal(signal);
        return;
      }
      return p().kill(signal);
    },
    restart: async () => {
      if (cleaned()) throw new Error('restart after cleanup');
      if (p().running) await p().stop();
      await spawnOne();
    },
    cleanup,
  };
}
