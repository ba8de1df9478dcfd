/**
 * S3ObjectStore against s3rver, through the fault proxy of test/faults so
 * that every request it makes is seen: which puts go up in parts, that a
 * multipart object reads back whole and by range, and that a failed part is
 * retried.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3rver, type S3rverProcess } from '../helpers/s3rver.js';
import { S3FaultProxy } from '../faults/lib/s3-proxy.js';
import { S3ObjectStore } from '../../src/storage/s3-object-store.js';
import { DEFAULT_MULTIPART_THRESHOLD_BYTES } from '../../src/storage/s3-defaults.js';

const MiB = 1024 * 1024;
let s3: S3rverProcess;
let proxy: S3FaultProxy;
let n = 0;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['store-test'] });
  proxy = new S3FaultProxy(s3.port);
  await proxy.listen();
  // The store takes its credentials from the standard AWS chain.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region });
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await s3?.cleanup();
});

function store(multipartThresholdBytes?: number, deadlineMs = 30_000): S3ObjectStore {
  return new S3ObjectStore({
    bucket: 'store-test',
    prefix: `p${++n}/`,
    endpoint: proxy.endpoint(),
    forcePathStyle: true,
    multipartThresholdBytes,
    retry: { baseDelayMs: 10, maxDelayMs: 50, deadlineMs },
  });
}

/** Distinct bytes everywhere, in chunks of uneven sizes (as a segment's pieces are). */
function body(sizes: number[]): Buffer[] {
  let i = 0;
  return sizes.map((s) => {
    const b = Buffer.allocUnsafe(s);
    for (let j = 0; j < s; j++, i++) b[j] = (i * 7 + (i >>> 11)) & 0xff;
    return b;
  });
}

/** The requests the proxy saw while `fn` ran, as "METHOD ?query" (the query's keys, without the SDK's x-id). */
async function requestsDuring(fn: () => Promise<void>): Promise<string[]> {
  const from = proxy.seen.length;
  await fn();
  return proxy.seen.slice(from).map((r) => {
    const [method, url] = r.split(' ');
    const q = new URL(url!, 'http://x').searchParams;
    return `${method} ?${[...q.keys()].filter((k) => k !== 'x-id').sort().join('&')}`;
  });
}

describe('S3ObjectStore puts', () => {
  it('puts an object up to the threshold in one PUT', async () => {
    const st = store(MiB);
    const chunks = body([300_000, 748_576]);
    const seen = await requestsDuring(() => st.put('wal/a', chunks));
    expect(seen).toEqual(['PUT ?']);
    expect(Buffer.compare(await st.get('wal/a'), Buffer.concat(chunks))).toBe(0);
  });

  it('puts a larger object in parts that read back whole and by range', async () => {
    const st = store(MiB);
    const chunks = body([3 * MiB + 5, 5 * MiB, 2 * MiB + 11]); // over one 8 MiB part
    const whole = Buffer.concat(chunks);
    const seen = await requestsDuring(() => st.put('segments/a', chunks));
    expect(seen.filter((r) => r === 'POST ?uploads')).toHaveLength(1);
    expect(seen.filter((r) => r === 'PUT ?partNumber&uploadId')).toHaveLength(2);
    expect(seen.filter((r) => r === 'POST ?uploadId')).toHaveLength(1);
    expect(Buffer.compare(await st.get('segments/a'), whole)).toBe(0);
    const across = { start: 8 * MiB - 100, end: 8 * MiB + 100 }; // the part boundary
    expect(Buffer.compare(await st.get('segments/a', across), whole.subarray(across.start, across.end))).toBe(0);
    expect((await st.list('segments/')).map((o) => [o.key, o.size])).toEqual([['segments/a', whole.length]]);
    // The collectors judge an object's age by when the store says it was written.
    const [info] = await st.list('segments/');
    expect(Math.abs(Date.now() - info!.lastModified)).toBeLessThan(60_000);
  }, 60_000);

  it('retries a multipart upload whose part failed', async () => {
    const st = store(MiB);
    const chunks = body([9 * MiB]);
    let failed = 0;
    proxy.set([{ fault: { kind: 'status', status: 503 }, probability: 1, methods: ['PUT'], key: /segments\/b/ }]);
    const clear = setInterval(() => {
      failed = proxy.injected['status 503'] ?? 0;
      if (failed > 0) proxy.clear();
    }, 5);
    let seen: string[];
    try {
      seen = await requestsDuring(() => st.put('segments/b', chunks));
    } finally {
      clearInterval(clear);
      proxy.clear();
    }
    expect(failed).toBeGreaterThan(0);
    // The failed upload was aborted (s3rver refuses that with a 405, which must not stop the retry), then done again.
    expect(seen.filter((r) => r === 'DELETE ?uploadId')).toHaveLength(1);
    expect(seen.filter((r) => r === 'POST ?uploads')).toHaveLength(2);
    expect(Buffer.compare(await st.get('segments/b'), Buffer.concat(chunks))).toBe(0);
  }, 60_000);

  it('puts a segment of the default size in one PUT by default', async () => {
    const st = store();
    // 64 MiB (segment.bytes' default), the 1 MiB batch that crossed it, and room for the indexes.
    const size = 64 * MiB + MiB + 64 * 1024;
    expect(size).toBeLessThanOrEqual(DEFAULT_MULTIPART_THRESHOLD_BYTES);
    const chunks = [Buffer.alloc(size - 1, 0x41), Buffer.from('z')];
    const seen = await requestsDuring(() => st.put('segments/c', chunks));
    expect(seen).toEqual(['PUT ?']);
    const tail = await st.get('segments/c', { start: size - 3, end: size });
    expect(tail.toString()).toBe('AAz');
  }, 60_000);
});

describe('S3ObjectStore at start-up', () => {
  it('waits for a server that answers 5xx, and says so once its deadline has passed', async () => {
    proxy.set([{ fault: { kind: 'status', status: 503 }, probability: 1, methods: ['HEAD'] }]);
    const clear = setInterval(() => {
      if ((proxy.injected['status 503'] ?? 0) >= 3) proxy.clear();
    }, 5);
    try {
      await store().checkAccess();
    } finally {
      clearInterval(clear);
      proxy.clear();
    }
    expect(proxy.injected['status 503']).toBeGreaterThanOrEqual(3);

    proxy.set([{ fault: { kind: 'status', status: 500 }, probability: 1, methods: ['HEAD'] }]);
    try {
      await expect(store(undefined, 300).checkAccess()).rejects.toThrow(/^cannot reach S3 bucket store-test at http:\/\/127\.0\.0\.1:\d+: HTTP 500 \(\d+ attempts\)$/);
    } finally {
      proxy.clear();
    }
  }, 60_000);
});
