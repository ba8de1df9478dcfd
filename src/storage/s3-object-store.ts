// ObjectStore on S3 (or any S3-compatible store) through @aws-sdk/client-s3.
// A put is one PUT (multipart through @aws-sdk/lib-storage above a size), a
// get is a ranged GET; transient failures (5xx, throttling, timeouts, resets)
// are retried with backoff under a deadline (retry.ts). The SDK's own retries
// are off so that one policy, with one deadline, governs every request.

import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import { ObjectNotFoundError, objectKind, type ByteRange, type GetOptions, type ObjectInfo, type ObjectKind, type ObjectStore } from './object-store.js';
import { DEFAULT_RETRY, RetryDeadlineError, withRetries, type RetryHooks, type RetryPolicy } from './retry.js';
import { DEFAULT_MULTIPART_THRESHOLD_BYTES } from './s3-defaults.js';

export interface S3Options {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Objects larger than this go up as multipart uploads. */
  multipartThresholdBytes?: number;
  requestTimeoutMs?: number;
  maxSockets?: number;
  retry?: RetryPolicy;
  hooks?: RetryHooks & { onRequest?(op: string, bytes: number, ms: number, ok: boolean, kind: ObjectKind): void };
}

export class S3StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'S3StartupError';
  }
}

/** Parses s3://bucket/prefix. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m || !m[1]) throw new Error(`bad S3 URL ${url}: use s3://bucket/prefix`);
  const prefix = m[2]!.replace(/\/+$/, '');
  return { bucket: m[1], prefix: prefix ? `${prefix}/` : '' };
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

export function isRetriableS3Error(err: unknown): boolean {
  if (err instanceof ObjectNotFoundError) return false;
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  const e = err as { name?: string; code?: string; message?: string };
  const name = e?.name ?? '';
  if (['SlowDown', 'ThrottlingException', 'RequestTimeout', 'TimeoutError', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable'].includes(name)) return true;
  const code = e?.code ?? '';
  if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET'].includes(code)) return true;
  // A body cut short, a socket hang up, an aborted request: the network, not the request.
  return /socket hang up|aborted|premature|ECONNRESET|timeout|Unexpected end|closed/i.test(e?.message ?? '');
}

/** A retriable failure the S3 server answered itself (5xx, a throttle): not one of the network's, which at start-up means a wrong endpoint. */
function isServerBusy(err: unknown): boolean {
  return statusOf(err) !== undefined && isRetriableS3Error(err);
}

function wrongLength(key: string, got: number, want: number): Error {
  const e = new Error(`GET of ${key} returned ${got} bytes${got > want ? ' or more' : ''}, expected ${want}`);
  (e as { code?: string }).code = 'ECONNRESET';
  return e;
}

/**
 * A GET's body, copied once from the socket's chunks into a buffer of its
 * length: the SDK's transformToByteArray concatenates them and Buffer.from
 * copies that again: 8% of the broker's CPU samples in a cold read of
 * 64 KiB records from s3rver. A body of any other length is retriable, as a
 * connection cut short is.
 */
async function readBody(key: string, body: Readable, length: number | undefined, allocate: (length: number) => Buffer = Buffer.allocUnsafe): Promise<Buffer> {
  if (length === undefined) {
    const chunks: Buffer[] = [];
    for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  }
  const out = allocate(length);
  let at = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    if (at + c.length > length) {
      body.destroy();
      throw wrongLength(key, at + c.length, length);
    }
    c.copy(out, at);
    at += c.length;
  }
  if (at !== length) throw wrongLength(key, at, length);
  return out;
}

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  readonly atomicPuts = true;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly retry: RetryPolicy;
  private readonly multipartThreshold: number;

  constructor(private readonly opts: S3Options) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.multipartThreshold = opts.multipartThresholdBytes ?? DEFAULT_MULTIPART_THRESHOLD_BYTES;
    this.description = `s3://${opts.bucket}/${opts.prefix}${opts.endpoint ? ` at ${opts.endpoint}` : ''}`;
    const timeout = opts.requestTimeoutMs ?? 10_000;
    const maxSockets = opts.maxSockets ?? 64;
    const config: S3ClientConfig = {
      region: opts.region ?? process.env.AWS_REGION ?? 'us-east-1',
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle ?? false,
      maxAttempts: 1,
      // s3rver and some S3-compatible stores mishandle the SDK's default
      // aws-chunked trailing checksums; batches carry their own CRCs anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({
        connectionTimeout: Math.min(timeout, 5000),
        requestTimeout: timeout,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
        httpsAgent: new Agent({ keepAlive: true, maxSockets }),
      }),
    };
    this.client = new S3Client(config);
  }

  private key(k: string): string {
    return this.prefix + k;
  }

  private async timed<T>(op: string, key: string, bytes: (r: T) => number, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      const r = await fn();
      this.opts.hooks?.onRequest?.(op, bytes(r), Date.now() - started, true, objectKind(key));
      return r;
    } catch (err) {
      this.opts.hooks?.onRequest?.(op, 0, Date.now() - started, false, objectKind(key));
      throw err;
    }
  }

  /**
   * Fails with a clear message when the bucket is missing, the credentials
   * are refused or nothing answers at the endpoint (a wrong URL: said at once).
   * A server that answers 5xx or throttles is asked again, as every request
   * is: a broker restarted during an S3 brownout waited for it instead of
   * exiting (fault suite 05, a restart under 500 InternalError).
   */
  async checkAccess(): Promise<void> {
    try {
      await withRetries(`HEAD ${this.bucket}`, () => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })), isServerBusy, this.retry, this.opts.hooks);
    } catch (failure) {
      const err = failure instanceof RetryDeadlineError ? failure.lastError : failure;
      const status = statusOf(err);
      if (status === 404) throw new S3StartupError(`S3 bucket ${this.bucket} does not exist`);
      if (status === 403 || status === 401) throw new S3StartupError(`S3 refused access to bucket ${this.bucket}: check the credentials`);
      // A HEAD's error has no body to name it: an UnknownError is best told by its status.
      const message = (err as Error).message || (err as Error).name;
      const why = status !== undefined && (message === 'UnknownError' || message === String(status)) ? `HTTP ${status}` : message;
      const tries = failure instanceof RetryDeadlineError ? ` (${failure.attempts} attempts)` : '';
      throw new S3StartupError(`cannot reach S3 bucket ${this.bucket}${this.opts.endpoint ? ` at ${this.opts.endpoint}` : ''}: ${why}${tries}`);
    }
  }

  async put(key: string, body: Buffer | Buffer[]): Promise<void> {
    const chunks = Array.isArray(body) ? body : [body];
    const size = chunks.reduce((n, c) => n + c.length, 0);
    await withRetries(
      `PUT ${key}`,
      () =>
        this.timed('put', key, () => size, async () => {
          if (size > this.multipartThreshold) {
            await this.putInParts(key, chunks, size);
          } else {
            // The chunks as a stream (a fresh one per attempt) with their length:
            // no copy of the object in memory, and no SHA-256 of the body on the
            // event loop (the payload is sent unsigned; batches carry their own CRCs).
            await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: Readable.from(chunks, { objectMode: false }), ContentLength: size }));
          }
        }),
      isRetriableS3Error,
      this.retry,
      this.opts.hooks,
    );
  }

  /**
   * One multipart upload. lib-storage would abort a failed upload itself and
   * throw the abort's error instead of the part's when the abort fails too:
   * s3rver answers it 405, which turned one 503 on a part into a put that is
   * never retried (and real S3 fails the abort as well while it is down). So
   * the parts are left to us, and the abort is best effort: parts it misses
   * are what a bucket's AbortIncompleteMultipartUpload lifecycle rule is for.
   */
  private async putInParts(key: string, chunks: Buffer[], size: number): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(key), Body: Readable.from(chunks, { objectMode: false }) },
      partSize: Math.max(8 * 1024 * 1024, Math.ceil(size / 9000)),
      queueSize: 4,
      leavePartsOnError: true,
    });
    try {
      await upload.done();
    } catch (err) {
      const uploadId = upload.uploadId;
      if (uploadId) this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(key), UploadId: uploadId })).catch(() => {});
      throw err;
    }
  }

  async get(key: string, range?: ByteRange, opts?: GetOptions): Promise<Buffer> {
    const want = range ? range.end - range.start : undefined;
    return withRetries(
      `GET ${key}`,
      () =>
        this.timed('get', key, (b: Buffer) => b.length, async () => {
          let res;
          try {
            res = await this.client.send(
              new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key), Range: range ? `bytes=${range.start}-${range.end - 1}` : undefined }),
            );
          } catch (err) {
            if (statusOf(err) === 404 || (err as Error).name === 'NoSuchKey') throw new ObjectNotFoundError(key);
            throw err;
          }
          return readBody(key, res.Body as Readable, want ?? res.ContentLength, opts?.allocate);
        }),
      isRetriableS3Error,
      this.retry,
      this.opts.hooks,
    );
  }

  async delete(key: string): Promise<void> {
    await withRetries(
      `DELETE ${key}`,
      () => this.timed('delete', key, () => 0, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) }))),
      isRetriableS3Error,
      this.retry,
      this.opts.hooks,
    );
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const res = await withRetries(
        `LIST ${prefix}`,
        () =>
          this.timed('list', prefix, () => 0, () =>
            this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key(prefix), ContinuationToken: token })),
          ),
        isRetriableS3Error,
        this.retry,
        this.opts.hooks,
      );
      for (const o of res.Contents ?? []) out.push({ key: o.Key!.slice(this.prefix.length), size: o.Size ?? 0, lastModified: o.LastModified?.getTime() ?? Date.now() });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
