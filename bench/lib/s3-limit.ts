// The S3 server's own ceiling on this machine: PUTs straight from the AWS SDK,
// no broker, a fixed number in flight. A scenario whose figure sits near it
// is bounded by the server, not by StreamHouse.

import { randomBytes } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startMinio } from '../../test/helpers/minio.js';
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

/** PUTs of `objectBytes` with `concurrency` in flight for `seconds`, against a fresh server of the given kind. */
export async function measureS3Puts(kind: S3ServerKind, objectBytes: number, concurrency: number, seconds: number): Promise<S3PutLimit> {
  const server = await (kind === 'minio' ? startMinio : startS3rver)({ buckets: ['s3-limit'] });
  const client = new S3Client(server.s3ClientConfig);
  try {
    const body = randomBytes(objectBytes);
    const latencies: number[] = [];
    const t0 = Date.now();
    const until = t0 + seconds * 1000;
    let n = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          const s = performance.now();
          await client.send(new PutObjectCommand({ Bucket: 's3-limit', Key: `limit/${n++}`, Body: body }));
          latencies.push(performance.now() - s);
        }
      }),
    );
    const elapsed = (Date.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      objectBytes,
      concurrency,
      seconds: elapsed,
      puts: latencies.length,
      MiBps: (latencies.length * objectBytes) / elapsed / (1 << 20),
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
    };
  } finally {
    client.destroy();
    await server.cleanup();
  }
}
