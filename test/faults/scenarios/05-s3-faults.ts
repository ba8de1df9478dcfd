// Scenario 5: S3 misbehaving. One broker with objects and its embedded
// metadata journal in s3rver, reached through a fault-injecting HTTP proxy
// (lib/s3-proxy.ts); S3 request timeout 3 s, a 1 MiB block cache, topics with
// segment.bytes 64 KiB and segment.ms 2 s (compaction reads WAL runs back
// from S3 all the time). Fault windows of 1-6 s (short: 0.5-1.5 s), 1-3 s
// apart, each one kind on a share of the matching requests:
//   5xx          500 InternalError or 503 SlowDown, any request
//   delay        0.5-2 s (under the request timeout) or 4-6 s (over it)
//   reset        the connection reset before forwarding
//   lost reply   PUT/DELETE done upstream, the answer replaced by a reset
//   truncated    object GETs cut mid-body (connection reset)
//   short        object GETs with a shorter body and a matching length
//   bit flips    object GETs with 1-3 bits flipped
// In every other 5xx, lost-reply and damaged-GET window the broker is also
// killed -9 and restarted inside it, so its recovery (metadata journal,
// orphan listing) and its cold reads (empty tail: seeking readers, group
// members, compaction) go through the faults. Not inside delay and reset
// windows: a start-up through them takes 40-100 s here, past the librdkafka
// producers' message.timeout.ms (30 s), and librdkafka 2.0 re-sends the
// rest of a timed-out in-flight request under a bumped epoch, which
// duplicates it in any broker (its INTRODUCTION.md, "Message timeout
// considerations"): a client duplicate the checker cannot tell apart.
// Damaged GET bodies must never reach a client: the read-back of both stacks
// and every poll prove it (inconsistent offsets, lost writes).
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { FaultCluster } from '../lib/cluster.js';
import { S3FaultProxy, type S3FaultRule } from '../lib/s3-proxy.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';
import { standardSpec, Workload } from '../lib/workload.js';
import { startS3rver } from '../../helpers/s3rver.js';

const DATA = /^faults\/(wal|segments)\//;
const OBJECTS = /^faults\//;

/** Windows a kill -9 and restart may happen inside (the others slow the start-up past the clients' message timeout). */
const RESTART_INSIDE = new Set(['5xx: 500 InternalError', 'lost reply: PUT/DELETE done, answer reset', 'truncated GET body', 'short GET body', 'bit flips in GET bodies']);

function windows(ctx: ScenarioContext): Array<{ name: string; rules: () => S3FaultRule[] }> {
  const r = ctx.rng;
  return [
    { name: '5xx: 500 InternalError', rules: () => [{ fault: { kind: 'status', status: 500 }, probability: 0.5 }] },
    { name: '5xx: 503 SlowDown', rules: () => [{ fault: { kind: 'status', status: 503 }, probability: 0.6 }] },
    { name: 'delay: under the request timeout', rules: () => [{ fault: { kind: 'delay', ms: r.int(500, 2000) }, probability: 0.6 }] },
    { name: 'delay: over the request timeout', rules: () => [{ fault: { kind: 'delay', ms: r.int(4000, 6000) }, probability: 0.3 }] },
    { name: 'reset: before forwarding', rules: () => [{ fault: { kind: 'reset' }, probability: 0.4 }] },
    { name: 'lost reply: PUT/DELETE done, answer reset', rules: () => [{ fault: { kind: 'lost-reply' }, probability: 0.5, methods: ['PUT', 'DELETE', 'POST'] }] },
    { name: 'truncated GET body', rules: () => [{ fault: { kind: 'truncate' }, probability: 0.5, key: OBJECTS }] },
    { name: 'short GET body', rules: () => [{ fault: { kind: 'short' }, probability: 0.5, key: DATA }] },
    { name: 'bit flips in GET bodies', rules: () => [{ fault: { kind: 'bitflip' }, probability: 0.5, key: DATA }] },
  ];
}

const scenario: Scenario = {
  name: '05-s3-faults',
  description:
    'One broker on s3rver (objects and metadata journal) through a fault proxy: windows of 5xx/SlowDown, delays under and over the 3 s request timeout, resets, PUTs whose reply is lost, truncated / short / bit-flipped GET bodies; a kill -9 and restart inside every other 5xx, lost-reply and damaged-GET window.',
  async run(ctx) {
    // The bucket stays in the run directory for a look afterwards (replaced by the next run).
    const bucketDir = path.join(ctx.runDir, 's3rver');
    fs.rmSync(bucketDir, { recursive: true, force: true });
    fs.mkdirSync(bucketDir, { recursive: true });
    // s3rver 3.7 makes LIST continuation tokens with DES, which Node 20's OpenSSL 3 refuses without the
    // legacy provider: any listing past 1000 keys (the metadata journal, wal/) failed with InternalError.
    const nodeOptions = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `${nodeOptions ?? ''} --openssl-legacy-provider`.trim();
    const s3 = await startS3rver({ directory: bucketDir }).finally(() => {
      if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = nodeOptions;
    });
    const proxy = new S3FaultProxy(s3.port, () => ctx.rng.next());
    await proxy.listen();
    const { AWS_ENDPOINT_URL_S3: _direct, ...awsEnv } = s3.awsEnv;
    const cluster = await FaultCluster.start({
      brokers: 1,
      args: [
        '--storage',
        `s3://${s3.bucket}/faults`,
        '--s3-endpoint',
        proxy.endpoint(),
        '--s3-force-path-style',
        'true',
        '--s3-region',
        s3.region,
        '--s3-request-timeout-ms',
        '3000',
        '--block-cache-bytes',
        String(1 << 20),
      ],
      env: awsEnv,
      record: (e) => ctx.history.add(e),
      logDir: ctx.runDir,
    });
    // The audit reads s3rver directly (not through the proxy) and the metadata from the bucket.
    cluster.auditTarget = () => ({
      storage: `s3://${s3.bucket}/faults`,
      s3: { endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      metadata: { kind: 'objects' },
    });
    try {
      const spec = standardSpec();
      const admin = new Kafka({ clientId: 'faults-admin', brokers: [cluster.broker(1).bootstrap], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        await admin.createTopics({
          topics: spec.topics.map((t) => ({
            topic: t.topic,
            numPartitions: t.partitions,
            configEntries: [
              { name: 'segment.bytes', value: String(64 * 1024) },
              { name: 'segment.ms', value: '2000' },
            ],
          })),
          waitForLeaders: false,
        });
      } finally {
        await admin.disconnect();
      }
      for (const t of spec.topics) await cluster.leaders(t.topic, t.partitions, 60_000);
      const w = new Workload(ctx, cluster, spec);
      await w.start();
      await w.waitForAcks(200);

      const kinds = windows(ctx);
      const [wlo, whi] = ctx.mode === 'short' ? [500, 1500] : [1000, 6000];
      let n = 0;
      let restarts = 0;
      let restartFailures = 0;
      const restart = async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            await cluster.restart(1);
            return;
          } catch (err) {
            restartFailures++;
            ctx.log(`restart ${attempt} under S3 faults failed: ${(err as Error).message.split('\n')[0]}`);
            if (attempt >= 3) {
              proxy.clear();
              ctx.log('faults cleared for the next restart');
            }
            if (attempt >= 6) throw err;
          }
        }
      };
      while (ctx.faulting()) {
        const k = kinds[n % kinds.length]!;
        n++;
        const restartInside = RESTART_INSIDE.has(k.name) && n % 2 === 1;
        ctx.fault(k.name, restartInside ? 'with kill -9 and restart inside' : undefined);
        proxy.set(k.rules());
        const ms = ctx.rng.int(wlo, whi);
        if (restartInside) {
          await ctx.sleep(ms / 2);
          ctx.fault('kill -9: broker 1', `inside "${k.name}"`);
          await cluster.kill(1);
          await restart();
          restarts++;
          ctx.heal('kill -9: broker 1');
          await ctx.sleep(ms / 2);
        } else await ctx.sleep(ms);
        proxy.clear();
        ctx.heal(k.name);
        await ctx.sleep(ctx.rng.int(1000, 3000));
      }
      proxy.clear();
      if (!cluster.broker(1).running) await restart();
      await w.waitForAcks(200, 90_000);
      return await ctx.finish(cluster, w, { injected: { ...proxy.injected }, forwarded: proxy.forwarded, restarts, restartFailures, storage: 's3rver via the fault proxy' });
    } finally {
      fs.writeFileSync(path.join(ctx.runDir, 's3rver.log'), s3.logs().join('\n') + '\n');
      await proxy.close().catch(() => {});
      await s3.cleanup();
    }
  },
};
export default scenario;
