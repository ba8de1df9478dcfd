// Scenario 6: etcd faults under three brokers (lease TTL 2 s, shared file://
// store). Every 6-10 s (short: 1-2 s), alternately:
//  - kill -9 of etcd, restarted (same data dir) 0.5-3 s later;
//  - SIGSTOP of etcd past the lease TTL (TTL + 0.5-3 s), then SIGCONT: every
//    broker's lease is in doubt or gone.
// The heal is the restart / SIGCONT.
import { FaultCluster } from '../lib/cluster.js';
import type { Scenario } from '../lib/scenario.js';
import { standardSpec, Workload } from '../lib/workload.js';

const TTL = 2;

const scenario: Scenario = {
  name: '06-etcd',
  description: 'Three brokers, lease TTL 2 s, shared file:// store: etcd killed -9 and restarted 0.5-3 s later, or SIGSTOPped for TTL + 0.5-3 s, every 6-10 s (short: 1-2 s).',
  async run(ctx) {
    const cluster = await FaultCluster.start({ brokers: 3, leaseTtlSeconds: TTL, record: (e) => ctx.history.add(e), logDir: ctx.runDir });
    const etcd = cluster.etcd!;
    const spec = standardSpec();
    await cluster.createTopics(spec.topics);
    const w = new Workload(ctx, cluster, spec);
    await w.start();
    await w.waitForAcks(200);
    const [lo, hi] = ctx.mode === 'short' ? [1000, 2000] : [6000, 10000];
    let kill = ctx.rng.chance(0.5);
    // Faults start lo-hi ms apart (start to start).
    let next = Date.now() + ctx.rng.int(lo, hi);
    while (ctx.faulting()) {
      await ctx.sleep(next - Date.now());
      next = Date.now() + ctx.rng.int(lo, hi);
      if (kill) {
        ctx.fault('etcd kill -9');
        await etcd.kill('SIGKILL');
        await ctx.sleep(ctx.rng.int(500, 3000));
        ctx.heal('etcd kill -9');
        await etcd.restart();
      } else {
        ctx.fault('etcd SIGSTOP past the lease');
        await etcd.kill('SIGSTOP');
        await ctx.sleep(TTL * 1000 + ctx.rng.int(500, 3000));
        ctx.heal('etcd SIGSTOP past the lease');
        await etcd.kill('SIGCONT');
      }
      kill = !kill;
    }
    await w.waitForAllPartitions(60_000);
    return ctx.finish(cluster, w, { storage: 'file', leaseTtlSeconds: TTL });
  },
};
export default scenario;
