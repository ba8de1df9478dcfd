// Scenario 1: kill -9 of the single broker (embedded metadata, objects in
// its data directory) every 8-15 s (short mode: every 2-4 s), restarted after
// 0-1 s; the heal is the restart. The whole workload runs through it.
import { FaultCluster } from '../lib/cluster.js';
import type { Scenario } from '../lib/scenario.js';
import { standardSpec, Workload } from '../lib/workload.js';

const scenario: Scenario = {
  name: '01-kill-single',
  description: 'kill -9 of the single embedded broker every 8-15 s (short: 2-4 s), restart after 0-1 s.',
  async run(ctx) {
    const cluster = await FaultCluster.start({ brokers: 1, record: (e) => ctx.history.add(e), logDir: ctx.runDir });
    await cluster.createTopics([
      { topic: 'fa', partitions: 4 },
      { topic: 'fb', partitions: 4 },
    ]);
    const w = new Workload(ctx, cluster, standardSpec());
    await w.start();
    await w.waitForAcks(200);
    const [lo, hi] = ctx.mode === 'short' ? [2000, 4000] : [8000, 15000];
    // Faults start lo-hi ms apart (start to start).
    let next = Date.now() + ctx.rng.int(lo, hi);
    while (ctx.faulting()) {
      await ctx.sleep(next - Date.now());
      next = Date.now() + ctx.rng.int(lo, hi);
      ctx.fault('kill -9: broker 1');
      await cluster.kill(1);
      await ctx.sleep(ctx.rng.int(0, 1000));
      ctx.heal('kill -9: broker 1');
      await cluster.restart(1);
    }
    // Healed: the workload must go on.
    await w.waitForAllPartitions(60_000);
    return ctx.finish(cluster, w);
  },
};
export default scenario;
