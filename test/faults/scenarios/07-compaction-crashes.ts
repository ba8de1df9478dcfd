// Scenario 7: crashes around compaction. One broker (embedded metadata,
// objects in its data directory); the topics have segment.bytes 32 KiB and
// segment.ms 1 s, so WAL runs are compacted into segments all the time and
// the seeking readers and the read-back cross the WAL/segment seam
// constantly. Each incarnation of the broker runs with one failpoint armed
// (src/failpoints.ts, STREAMHOUSE_FAILPOINTS) that kills it with SIGKILL the
// Nth time it is reached:
//   compaction.after-segment-put    segment written, metadata not swapped (an orphan segment)
//   compaction.after-metadata-swap  metadata names the segment, WAL runs not released
//   compaction.before-wal-delete    a WAL object no range references, not yet deleted
// The broker is restarted 0-1 s after each crash (the heal) with the next
// point armed; a point that does not fire within 30 s is replaced by a plain
// kill -9. The audit then checks that every range names a healthy object and
// counts what the crashes left behind.
import { Kafka, logLevel } from 'kafkajs';
import { FaultCluster } from '../lib/cluster.js';
import type { Scenario } from '../lib/scenario.js';
import { standardSpec, Workload } from '../lib/workload.js';

const POINTS = ['compaction.after-segment-put', 'compaction.after-metadata-swap', 'compaction.before-wal-delete'] as const;
/** Hits before the crash, per point: segment puts and swaps come a few per second, WAL deletions hundreds. */
const HITS: Record<(typeof POINTS)[number], [number, number]> = {
  'compaction.after-segment-put': [2, 25],
  'compaction.after-metadata-swap': [2, 25],
  'compaction.before-wal-delete': [20, 400],
};
const SEGMENT_CONFIGS = [
  { name: 'segment.bytes', value: String(32 * 1024) },
  { name: 'segment.ms', value: '1000' },
];

const scenario: Scenario = {
  name: '07-compaction-crashes',
  description:
    'One embedded broker, topics with segment.bytes 32 KiB and segment.ms 1 s (compaction all the time, readers crossing the WAL/segment seam): each incarnation has one compaction failpoint armed (after the segment upload, after the metadata swap, before the WAL object delete) that SIGKILLs it the Nth time; restart 0-1 s later with the next one.',
  async run(ctx) {
    let round = 0;
    const arm = (): { env: Record<string, string>; point: string; hits: number } => {
      const point = POINTS[round++ % POINTS.length]!;
      const [lo, hi] = HITS[point];
      const hits = ctx.rng.int(lo, ctx.mode === 'short' ? Math.min(hi, lo + 5) : hi);
      return { env: { STREAMHOUSE_FAILPOINTS: `${point}=crash#${hits}` }, point, hits };
    };
    let armed = arm();
    const cluster = await FaultCluster.start({ brokers: 1, env: armed.env, record: (e) => ctx.history.add(e), logDir: ctx.runDir });
    const spec = standardSpec();
    const admin = new Kafka({ clientId: 'faults-admin', brokers: [cluster.broker(1).bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: spec.topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions, configEntries: SEGMENT_CONFIGS })), waitForLeaders: false });
    } finally {
      await admin.disconnect();
    }
    for (const t of spec.topics) await cluster.leaders(t.topic, t.partitions, 60_000);
    const w = new Workload(ctx, cluster, spec);
    await w.start();
    await w.waitForAcks(200);

    const fired: Record<string, number> = {};
    let plainKills = 0;
    const restart = async (env: Record<string, string>) => {
      await cluster.broker(1).restart({ env });
    };
    while (ctx.faulting()) {
      const b = cluster.broker(1);
      const crashed = await Promise.race([b.exited.then(() => true), ctx.sleep(30_000).then(() => false)]);
      const line = b.logs().find((l) => l.startsWith('failpoint '));
      if (crashed && line) {
        const point = /^failpoint (\S+):/.exec(line)![1]!;
        fired[point] = (fired[point] ?? 0) + 1;
        ctx.fault(`failpoint crash: ${point}`, `hit ${armed.hits}`);
      } else {
        // Not reached in time (or died otherwise): a plain kill -9 keeps the schedule going.
        if (b.running) await cluster.kill(1);
        plainKills++;
        ctx.fault(`kill -9: broker 1`, crashed ? `exited without a failpoint: ${b.exitCode}/${b.signalCode}` : `${armed.point} not reached in 30 s`);
      }
      await ctx.sleep(ctx.rng.int(0, 1000));
      const last = !ctx.faulting();
      armed = last ? { env: {}, point: 'none', hits: 0 } : arm();
      ctx.heal(crashed && line ? `failpoint crash: ${/^failpoint (\S+):/.exec(line)![1]}` : 'kill -9: broker 1', `next: ${armed.point}#${armed.hits}`);
      await restart(armed.env);
    }
    if (armed.point !== 'none') await restart({});
    await w.waitForAcks(200, 60_000);
    return ctx.finish(cluster, w, { failpointCrashes: fired, plainKills, segmentBytes: 32 * 1024, segmentMs: 1000 });
  },
};
export default scenario;
