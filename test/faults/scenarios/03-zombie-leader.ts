// Scenario 3: zombie leaders. Three brokers on etcd (lease TTL 2 s), objects
// in one shared directory. Every 6-10 s (short: 1-2 s) the leader of a
// random partition is paused with SIGSTOP:
//  - half the time past its lease: it stays stopped until another broker
//    leads that partition (as every other live broker answers), plus 0-1 s,
//    then SIGCONT: the zombie wakes up with requests queued from before the
//    pause and a lease that is gone, and must acknowledge nothing it lost;
//  - otherwise a short pause under the lease (0.2-1.2 s): nothing moves.
// The heal is the SIGCONT.
import { FaultCluster } from '../lib/cluster.js';
import type { Scenario } from '../lib/scenario.js';
import { standardSpec, Workload } from '../lib/workload.js';

const TTL = 2;

const scenario: Scenario = {
  name: '03-zombie-leader',
  description: 'Three brokers on etcd (lease TTL 2 s), shared file:// store: SIGSTOP of a partition leader every 6-10 s (short: 1-2 s), half the time until another broker took over (then SIGCONT), half the time for 0.2-1.2 s (under the lease).',
  async run(ctx) {
    const cluster = await FaultCluster.start({ brokers: 3, leaseTtlSeconds: TTL, record: (e) => ctx.history.add(e), logDir: ctx.runDir });
    const spec = standardSpec();
    await cluster.createTopics(spec.topics);
    const w = new Workload(ctx, cluster, spec);
    await w.start();
    await w.waitForAcks(200);
    const [lo, hi] = ctx.mode === 'short' ? [1000, 2000] : [6000, 10000];
    let takeovers = 0;
    let short = 0;
    const takeoverMs: number[] = [];
    // Faults start lo-hi ms apart (start to start).
    let next = Date.now() + ctx.rng.int(lo, hi);
    while (ctx.faulting()) {
      await ctx.sleep(next - Date.now());
      next = Date.now() + ctx.rng.int(lo, hi);
      const t = ctx.rng.pick(spec.topics);
      const p = ctx.rng.int(0, t.partitions - 1);
      const victim = await cluster.leaderOf(t.topic, p);
      if (victim < 0) continue;
      if (ctx.rng.chance(0.5)) {
        const name = `SIGSTOP past the lease: broker ${victim}`;
        ctx.fault(name, `leader of ${t.topic}/${p}`);
        const at = Date.now();
        cluster.pause(victim);
        try {
          const other = await cluster.newLeader(t.topic, p, victim, 30_000);
          takeoverMs.push(Date.now() - at);
          ctx.log(`broker ${other} took ${t.topic}/${p} over after ${Date.now() - at} ms`);
        } finally {
          await ctx.sleep(ctx.rng.int(0, 1000));
          ctx.heal(name);
          cluster.resume(victim);
        }
        takeovers++;
      } else {
        const name = `SIGSTOP under the lease: broker ${victim}`;
        ctx.fault(name, `leader of ${t.topic}/${p}`);
        cluster.pause(victim);
        await ctx.sleep(ctx.rng.int(200, 1200));
        ctx.heal(name);
        cluster.resume(victim);
        short++;
      }
    }
    await w.waitForAllPartitions(60_000);
    return ctx.finish(cluster, w, { takeovers, shortPauses: short, maxTakeoverMs: Math.max(0, ...takeoverMs), storage: 'file', leaseTtlSeconds: TTL });
  },
};
export default scenario;
