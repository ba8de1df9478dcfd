/**
 * MinIO (the S3 server self-hosting users run) as a child process, with the
 * same handle as s3rver.ts so the S3 tests and the benchmarks run against
 * either (test/helpers/s3-server.ts):
 *
 *   minio server <dir> --address 127.0.0.1:<port> --console-address 127.0.0.1:<port2>
 *
 * on free ports (both kept across restarts), single drive, root credentials
 * MINIO_ROOT_USER/MINIO_ROOT_PASSWORD, no web console, no update check.
 * Ready when GET /minio/health/live answers 200; the buckets are then made
 * with @aws-sdk/client-s3 (CreateBucket, kept on a restart) before
 * startMinio resolves.
 *
 * The binary is built from source by scripts/install-test-deps.sh with
 * `go install github.com/minio/minio@<pinned version>` into
 * ${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/minio/minio (outside git;
 * STREAMHOUSE_MINIO names another binary). When that build fails the script
 * writes the reason to BUILD-FAILED next to it: minioUnavailableReason().
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BucketAlreadyOwnedByYou, CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { streamhouseCacheDir, INSTALL_SCRIPT } from './kafka-libs.js';
import { freePorts } from './ports.js';
import { ManagedProcess, sleep } from './process.js';
import { launchS3Server, type S3ServerProcess } from './s3-server.js';

export const MINIO_ACCESS_KEY_ID = 'streamhouse';
/** MinIO refuses a root password shorter than 8 characters. */
export const MINIO_SECRET_ACCESS_KEY = 'streamhouse-minio-secret';

export function minioDir(): string {
  return path.join(streamhouseCacheDir(), 'minio');
}

/** The MinIO server binary, or null when it is not built (scripts/install-test-deps.sh). */
export function minioBinary(): string | null {
  const bin = process.env.STREAMHOUSE_MINIO || path.join(minioDir(), 'minio');
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return fs.statSync(bin).isFile() ? bin : null;
  } catch {
    return null;
  }
}

/**
 * The module version the binary was built from (`go version -m`: the
 * binary of a go install has no release name of its own), e.g.
 * 'github.com/minio/minio v0.0.0-20260212201848-7aac2a2c5b7c'; null when
 * not built or go cannot tell.
 */
export function minioVersion(): string | null {
  const bin = minioBinary();
  if (!bin) return null;
  const r = spawnSync('go', ['version', '-m', bin], { encoding: 'utf8', timeout: 20_000 });
  const mod = /^\s*mod\s+(\S+)\s+(\S+)/m.exec(r.stdout ?? '');
  return mod ? `${mod[1]} ${mod[2]}` : null;
}

/**
 * Why MinIO could not be built here, as the install script recorded it
 * (e.g. the Go module proxy unreachable); null when it did not fail (or
 * never ran).
 */
export function minioUnavailableReason(): string | null {
  try {
    const r = fs.readFileSync(path.join(minioDir(), 'BUILD-FAILED'), 'utf8').trim();
    return r || 'the build failed (no reason recorded)';
  } catch {
    return null;
  }
}

/** The error to fail with when the binary is missing and the install script did not record why. */
export function minioMissingMessage(): string {
  return `MinIO is not built: run ${path.relative(process.cwd(), INSTALL_SCRIPT) || INSTALL_SCRIPT} (it builds ${path.join(minioDir(), 'minio')} with go install)`;
}

export interface StartMinioOptions {
  /** Buckets to create (default ['streamhouse-test']). */
  buckets?: string[];
  /** Storage directory; default a fresh temp dir removed at cleanup. A given dir is never removed. */
  directory?: string;
  readyTimeoutMs?: number;
}

export type MinioProcess = S3ServerProcess;

export async function startMinio(opts: StartMinioOptions = {}): Promise<MinioProcess> {
  const bin = minioBinary();
  if (!bin) throw new Error(minioMissingMessage());
  const buckets = opts.buckets && opts.buckets.length > 0 ? opts.buckets : ['streamhouse-test'];
  const timeout = opts.readyTimeoutMs ?? 30_000;
  let consolePort = 0;

  const spawnAt = async (port: number, directory: string): Promise<ManagedProcess> => {
    const proc = new ManagedProcess(
      bin,
      ['server', directory, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`],
      {
        name: `minio:${port}`,
        env: {
          ...process.env,
          MINIO_ROOT_USER: MINIO_ACCESS_KEY_ID,
          MINIO_ROOT_PASSWORD: MINIO_SECRET_ACCESS_KEY,
          MINIO_BROWSER: 'off',
          MINIO_UPDATE: 'off',
        },
      },
    );
    const deadline = Date.now() + timeout;
    while (proc.running) {
      if (Date.now() > deadline) {
        await proc.kill('SIGKILL');
        throw new Error(`${proc.name}: /minio/health/live not 200 within ${timeout} ms\n${proc.describe()}`);
      }
      try {
        const res = await fetch(`http://127.0.0.1:${port}/minio/health/live`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) return proc;
      } catch {
        /* not listening yet */
      }
      await sleep(100);
    }
    const info = await proc.exited;
    throw new Error(`${proc.name}: exited (code ${info.code}, signal ${info.signal}) before it was live\n${proc.describe()}`);
  };

  return launchS3Server({
    tempPrefix: 'streamhouse-minio-',
    directory: opts.directory,
    buckets,
    accessKeyId: MINIO_ACCESS_KEY_ID,
    secretAccessKey: MINIO_SECRET_ACCESS_KEY,
    spawn: async (port, directory) => {
      if (port !== 0) return { proc: await spawnAt(port, directory), port };
      // First start: ports free a moment ago; another process may take one
      // before MinIO binds it, so try a few pairs.
      for (let attempt = 1; ; attempt++) {
        const [api, con] = await freePorts(2);
        consolePort = con!;
        try {
          return { proc: await spawnAt(api!, directory), port: api! };
        } catch (err) {
          if (attempt >= 3 || !/exited/.test((err as Error).message)) throw err;
        }
      }
    },
    prepare: (c) => createBuckets(c, buckets, timeout),
  });
}

/** CreateBucket each (already there is fine), then HeadBucket; retried while MinIO finishes initialising. */
async function createBuckets(c: S3Client, buckets: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const b of buckets) {
    for (;;) {
      try {
        try {
          await c.send(new CreateBucketCommand({ Bucket: b }));
        } catch (err) {
          if (!(err instanceof BucketAlreadyOwnedByYou)) throw err;
        }
        await c.send(new HeadBucketCommand({ Bucket: b }));
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`MinIO: bucket ${b}: ${(err as Error).name}: ${(err as Error).message}`);
        await sleep(200);
      }
    }
  }
}
