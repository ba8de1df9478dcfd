// Scenario 8: consumer groups under faults. Three brokers on etcd (lease TTL
// 2 s, shared file:// store); groups g-kafkajs and g-librdkafka of three
// members each (session timeout 6 s, auto-commit every 500 ms), besides the
// producers and seeking readers. Every 4-8 s (short: 0.5-1 s) one of:
//  - kill -9 of a group member, restarted 0-2 s later (a new member);
//  - SIGSTOP of a member past the session timeout (7-9 s), then SIGCONT: it
//    wakes up in a generation that is gone and commits with it;
//  - kill -9 of the coordinator of one of the groups, restarted 1-3 s later.
// The recording proxy sees every JoinGroup, SyncGroup, OffsetCommit and
// OffsetFetch: no partition may be owned twice in a generation, no commit of
// a stale generation accepted, no committed offset move backwards.
import { FaultCluster } from '../lib/cluster.js';
import type { Scenario } from '../lib/scenario.js';
import { standardSpec, Workload } from '../lib/workload.js';

const TTL = 2;

const scenario: Scenario = {
  name: '08-groups',
  description:
    'Three brokers on etcd (lease TTL 2 s), two groups (kafkajs, librdkafka) of three members: members killed -9, members SIGSTOPped past the 6 s session timeout, the group coordinator killed -9, every 4-8 s (short: 0.5-1 s).',
  async run(ctx) {
    const cluster = await FaultCluster.start({ brokers: 3, leaseTtlSeconds: TTL, record: (e) => ctx.history.add(e), logDir: ctx.runDir });
    const spec = standardSpec({ producers: 1, rate: 80, groupMembers: 3 });
    await cluster.createTopics(spec.topics);
    const w = new Workload(ctx, cluster, spec);
    await w.start();
    await w.waitForAcks(200);
    const members = w.byRole('group');
    const [lo, hi] = ctx.mode === 'short' ? [500, 1000] : [4000, 8000];
    // Short runs start with the kills (a pause past the session timeout takes 7-9 s).
    const kinds = ['member kill -9', 'coordinator kill -9', 'member SIGSTOP'] as const;
    let i = ctx.mode === 'short' ? 0 : ctx.rng.int(0, 2);
    // Faults start lo-hi ms apart (start to start).
    let next = Date.now() + ctx.rng.int(lo, hi);
    while (ctx.faulting()) {
      await ctx.sleep(next - Date.now());
      next = Date.now() + ctx.rng.int(lo, hi);
      const kind = kinds[i++ % kinds.length]!;
      if (kind === 'member kill -9') {
        const m = ctx.rng.pick(members);
        const name = `member kill -9: ${m.name}`;
        ctx.fault(name, m.spec.group);
        await m.kill();
        await ctx.sleep(ctx.rng.int(0, 2000));
        ctx.heal(name);
        m.start();
      } else if (kind === 'member SIGSTOP') {
        const m = ctx.rng.pick(members);
        const name = `member SIGSTOP past the session timeout: ${m.name}`;
        ctx.fault(name, m.spec.group);
        m.pause();
        await ctx.sleep(ctx.rng.int(7000, 9000));
        ctx.heal(name);
        m.resume();
      } else {
        const group = ctx.rng.pick(['g-kafkajs', 'g-librdkafka']);
        const c = await cluster.coordinatorOf(group);
        if (c < 0) continue;
        const name = `coordinator kill -9: broker ${c}`;
        ctx.fault(name, group);
        await cluster.kill(c);
        await ctx.sleep(ctx.rng.int(1000, 3000));
        ctx.heal(name);
        await cluster.restart(c);
      }
    }
    await w.waitForAllPartitions(60_000);
    return ctx.finish(cluster, w, { storage: 'file', leaseTtlSeconds: TTL, sessionTimeoutMs: 6000 });
  },
};
export default scenario;
