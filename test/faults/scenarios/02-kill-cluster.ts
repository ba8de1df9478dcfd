// Scenario 2: three brokers on etcd (lease TTL 2 s), objects in s3rver.
// kill -9 of one broker every 6-10 s (short: 2-3 s): the leader of a random
// partition most of the time (3 in 4), otherwise any broker; it comes back
// 1-4 s later (the heal), so at most one broker is down at a time.
import { FaultCluster } from '../lib/cluster.js';
import type { Scenario } from '../lib/scenario.js';
import { standardSpec, Workload } from '../lib/workload.js';

const TTL = 2;

const scenario: Scenario = {
  name: '02-kill-cluster',
  description: 'Three brokers on etcd (lease TTL 2 s) and s3rver: kill -9 of a random broker (a partition leader 3 times in 4) every 6-10 s (short: 2-3 s), restarted 1-4 s later.',
  async run(ctx) {
    const cluster = await FaultCluster.start({ brokers: 3, storage: 's3', leaseTtlSeconds: TTL, record: (e) => ctx.history.add(e), logDir: ctx.runDir });
    const spec = standardSpec({ rate: 50 }); // 40/s per producer fell short of 20,000 acknowledged writes: kafkajs producers lose time to every kill
    await cluster.createTopics(spec.topics);
    const w = new Workload(ctx, cluster, spec);
    await w.start();
    await w.waitForAcks(200);
    const [lo, hi] = ctx.mode === 'short' ? [2000, 3000] : [6000, 10000];
    let leaders = 0;
    // Faults start lo-hi ms apart (start to start).
    let next = Date.now() + ctx.rng.int(lo, hi);
    while (ctx.faulting()) {
      await ctx.sleep(next - Date.now());
      next = Date.now() + ctx.rng.int(lo, hi);
      let victim = ctx.rng.pick(cluster.ids);
      let why = 'any broker';
      if (ctx.rng.chance(0.75)) {
        const t = ctx.rng.pick(spec.topics);
        const p = ctx.rng.int(0, t.partitions - 1);
        const l = await cluster.leaderOf(t.topic, p);
        if (l > 0) {
          victim = l;
          why = `leader of ${t.topic}/${p}`;
          leaders++;
        }
      }
      ctx.fault(`kill -9: broker ${victim}`, why);
      await cluster.kill(victim);
      await ctx.sleep(ctx.rng.int(1000, 4000));
      ctx.heal(`kill -9: broker ${victim}`);
      await cluster.restart(victim);
    }
    await w.waitForAllPartitions(60_000);
    return ctx.finish(cluster, w, { leaderKills: leaders, storage: 's3rver', leaseTtlSeconds: TTL });
  },
};
export default scenario;
