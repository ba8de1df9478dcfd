// The S3 server's own ceiling on this machine: PUTs (or ranged GETs) straight
// from the AWS SDK, no broker, a fixed number in flight. A scenario whose
// figure sits near it is bounded by the server, not by StreamHouse.

import { randomBytes } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { decodeSegmentFooter, footerLengthFromTrailer, SEGMENT_TRAILER } from '../../src/storage/segment.js';
import { startMinio } from '../../test/helpers/minio.js';
import type { S3ServerProcess } from '../../test/helpers/s3-server.js';
import { startS3rver } from '../../test/helpers/s3rver.js';
import type { S3ServerKind } from './brokers.js';

export interface S3PutLimit {
  objectBytes: number;
  concurrency: number;
  seconds: number;
  puts: number;
  MiBps: number;
  p50Ms: number;
  p99Ms: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}

interface Load {
  seconds: number;
  requests: number;
  bytes: number;
  MiBps: number;
  p50Ms: number;
  p99Ms: number;
}

/** `request` (resolving to the bytes it moved) with `concurrency` in flight for `seconds`. */
async function loadFor(concurrency: number, seconds: number, request: () => Promise<number>): Promise<Load> {
  const latencies: number[] = [];
  let bytes = 0;
  const t0 = Date.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const s = performance.now();
        // not `bytes += await ...`: that reads `bytes` before the await and drops the other workers' additions
        const moved = await request();
        latencies.push(performance.now() - s);
        bytes += moved;
      }
    }),
  );
  const elapsed = (Date.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { seconds: elapsed, requests: latencies.length, bytes, MiBps: bytes / elapsed / (1 << 20), p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
}

/** PUTs of `objectBytes` with `concurrency` in flight for `seconds`, against a fresh server of the given kind. */
export async function measureS3Puts(kind: S3ServerKind, objectBytes: number, concurrency: number, seconds: number): Promise<S3PutLimit> {
  const server = await (kind === 'minio' ? startMinio : startS3rver)({ buckets: ['s3-limit'] });
  const client = new S3Client(server.s3ClientConfig);
  try {
    const body = randomBytes(objectBytes);
    let n = 0;
    const load = await loadFor(concurrency, seconds, async () => {
      await client.send(new PutObjectCommand({ Bucket: 's3-limit', Key: `limit/${n++}`, Body: body }));
      return objectBytes;
    });
    return { objectBytes, concurrency, seconds: load.seconds, puts: load.requests, MiBps: load.MiBps, p50Ms: load.p50Ms, p99Ms: load.p99Ms };
  } finally {
    client.destroy();
    await server.cleanup();
  }
}

export interface ObjectRange {
  key: string;
  /** Inclusive start, exclusive end. */
  start: number;
  end: number;
}

async function getRange(client: S3Client, bucket: string, r: ObjectRange): Promise<Buffer> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: r.key, Range: `bytes=${r.start}-${r.end - 1}` }));
  const body = await res.Body!.transformToByteArray();
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * The blocks of every segment object under `prefix`, in key and block order:
 * the ranges a reader from offset 0 GETs (src/storage/range-reader.ts).
 */
export async function segmentBlockRanges(server: S3ServerProcess, prefix: string): Promise<ObjectRange[]> {
  const client = server.client();
  try {
    const segments: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      const r = await client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: `${prefix}/segments/`, ContinuationToken: token }));
      for (const o of r.Contents ?? []) segments.push({ key: o.Key!, size: o.Size ?? 0 });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    const out: ObjectRange[] = [];
    for (const s of segments) {
      const trailer = await getRange(client, server.bucket, { key: s.key, start: s.size - SEGMENT_TRAILER, end: s.size });
      const len = footerLengthFromTrailer(trailer);
      const footer = decodeSegmentFooter(await getRange(client, server.bucket, { key: s.key, start: s.size - SEGMENT_TRAILER - len, end: s.size }));
      for (const b of footer.blocks) out.push({ key: s.key, start: b.position, end: b.position + b.length });
    }
    return out;
  } finally {
    client.destroy();
  }
}

/** Adjacent ranges of one object merged into ranges of up to maxBytes (a range already larger stays as it is). */
export function coalesceRanges(ranges: ObjectRange[], maxBytes: number): ObjectRange[] {
  const out: ObjectRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && last.key === r.key && last.end === r.start && r.end - last.start <= maxBytes) last.end = r.end;
    else out.push({ ...r });
  }
  return out;
}

export interface S3GetLimit {
  concurrency: number;
  seconds: number;
  gets: number;
  bytes: number;
  MiBps: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Ranged GETs of `ranges`, in order (over again from the first when they run
 * out), `concurrency` in flight, for `seconds`, against a running server.
 */
export async function measureS3Gets(server: S3ServerProcess, ranges: ObjectRange[], concurrency: number, seconds: number): Promise<S3GetLimit> {
  if (!ranges.length) throw new Error('no ranges to GET');
  const client = server.client();
  try {
    let next = 0;
    const { requests, ...load } = await loadFor(concurrency, seconds, async () => (await getRange(client, server.bucket, ranges[next++ % ranges.length]!)).length);
    return { concurrency, gets: requests, ...load };
  } finally {
    client.destroy();
  }
}
