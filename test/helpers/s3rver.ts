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
 *
 * s3rver 3.7 makes ListObjects continuation tokens with DES, which Node 20's
 * OpenSSL 3 refuses: without --openssl-legacy-provider (given to the child
 * here) every listing past 1000 keys fails with a 500 InternalError.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeadBucketCommand, type S3ClientConfig } from '@aws-sdk/client-s3';
import { ManagedProcess } from './process.js';
import { launchS3Server, s3TestClientConfig, S3_TEST_REGION, type S3ServerProcess } from './s3-server.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 's3rver-child.mjs');

export const S3RVER_ACCESS_KEY_ID = 'S3RVER';
export const S3RVER_SECRET_ACCESS_KEY = 'S3RVER';
export const S3RVER_REGION = S3_TEST_REGION;

export interface StartS3rverOptions {
  /** Buckets to create (default ['streamhouse-test']). */
  buckets?: string[];
  /** Storage directory; default a fresh temp dir removed at cleanup. A given dir is never removed. */
  directory?: string;
  /** Port; default a free one chosen by the kernel (kept across restarts). */
  port?: number;
  readyTimeoutMs?: number;
}

/** The handle of test/helpers/s3-server.ts; `directory` holds one folder per bucket. */
export type S3rverProcess = S3ServerProcess;

export function s3ClientConfigFor(endpoint: string): S3ClientConfig {
  return s3TestClientConfig(endpoint, S3RVER_ACCESS_KEY_ID, S3RVER_SECRET_ACCESS_KEY);
}

export async function startS3rver(opts: StartS3rverOptions = {}): Promise<S3rverProcess> {
  const buckets = opts.buckets && opts.buckets.length > 0 ? opts.buckets : ['streamhouse-test'];
  const timeout = opts.readyTimeoutMs ?? 20_000;
  return launchS3Server({
    tempPrefix: 'streamhouse-s3rver-',
    directory: opts.directory,
    port: opts.port,
    buckets,
    accessKeyId: S3RVER_ACCESS_KEY_ID,
    secretAccessKey: S3RVER_SECRET_ACCESS_KEY,
    spawn: async (port, directory) => {
      const args = ['--openssl-legacy-provider', CHILD, '--port', String(port), '--directory', directory];
      for (const b of buckets) args.push('--bucket', b);
      const proc = new ManagedProcess(process.execPath, args, { name: `s3rver:${port || 'new'}` });
      let line: string;
      try {
        line = await proc.waitForLine((l) => l.startsWith('S3RVER_LISTENING '), timeout, 'S3RVER_LISTENING line');
      } catch (err) {
        await proc.kill('SIGKILL');
        throw err;
      }
      return { proc, port: (JSON.parse(line.slice('S3RVER_LISTENING '.length)) as { port: number }).port };
    },
    // s3rver made them at start (configureBuckets): check they answer.
    prepare: async (c) => {
      for (const b of buckets) await c.send(new HeadBucketCommand({ Bucket: b }));
    },
  });
}
