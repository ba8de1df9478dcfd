// Scenario 9: request fuzzing.
//
// 1. In process (lib/fuzz-inprocess.ts): 10^6 cases (short: what fits ~4 s)
//    generated from the schema of every request at every version, recorded
//    from real clients (test/faults/seeds/), and mutated (lib/fuzz.ts),
//    each through the request decoders and the dispatcher of a broker in this
//    process: nothing but DecodeError from a decoder, nothing but an answer
//    or a closed connection from the dispatcher, answers that decode, no
//    handler failure, no request that never ends, no event loop blocked by
//    one case, a guard topic intact afterwards.
// 2. Over TCP (lib/fuzz-tcp.ts): 10^5 malformed frames (short: ~3 s) in 12
//    bursts 9 s apart (short: 0.1 s), 8 connections at a time, to a broker process (embedded
//    metadata) while the standard workload (kafkajs and librdkafka producers,
//    readers and group members) runs through it: nothing acknowledged may be
//    lost, the broker may not crash, log an error or stop answering (a
//    Metadata probe every second must answer within 5 s).
// The fuzzers' must-be-zero counts join the audit column of the results.
import { FaultCluster } from '../lib/cluster.js';
import { FuzzCases, loadSeeds } from '../lib/fuzz.js';
import { fuzzInProcess, INPROCESS_MUST_BE_ZERO } from '../lib/fuzz-inprocess.js';
import { fuzzTcp } from '../lib/fuzz-tcp.js';
import type { Scenario } from '../lib/scenario.js';
import { standardSpec, Workload } from '../lib/workload.js';

const scenario: Scenario = {
  name: '09-fuzzing',
  description:
    'Request fuzzing: 10^6 generated/recorded/mutated frames in process through the decoders and a real dispatcher, then 10^5 malformed frames over TCP in 12 bursts 9 s apart next to the standard workload (short: ~4 s + ~3 s).',
  async run(ctx) {
    const short = ctx.mode === 'short';
    const long = ctx.mode === 'long';
    const seeds = loadSeeds();
    ctx.log(`seeds: ${seeds.length} recorded frames (${[...new Set(seeds.map((s) => s.origin))].join(', ')})`);

    // ---- 1. in process
    const inproc = await fuzzInProcess({
      seed: ctx.seed,
      seeds,
      cases: long ? 5_000_000 : 1_000_000,
      deadlineMs: short ? 4_000 : undefined,
      log: ctx.log,
    });
    const { examples: ipExamples, mutators, errorKinds, ...ipFigures } = inproc;
    ctx.log(`in process: ${JSON.stringify(ipFigures)}`);
    for (const [k, ex] of Object.entries(ipExamples)) ctx.log(`  ${k}: ${ex.join('\n    ')}`);

    // ---- 2. over TCP, next to the workload
    const cluster = await FaultCluster.start({ brokers: 1, record: (e) => ctx.history.add(e), logDir: ctx.runDir });
    // Faster than the default 40/s: the TCP phase is two minutes of a run that spends the rest in process.
    const spec = standardSpec({ rate: 60 });
    await cluster.createTopics(spec.topics);
    const w = new Workload(ctx, cluster, spec);
    await w.start();
    await w.waitForAcks(200);
    const broker = cluster.broker(1);
    const logStart = broker.logs().length;
    const probe = { probes: 0, failures: 0, maxMs: 0, errors: [] as string[] };
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const t = Date.now();
        try {
          await cluster.metadata('fa', 1);
          const ms = Date.now() - t;
          probe.maxMs = Math.max(probe.maxMs, ms);
          if (ms > 5000) {
            probe.failures++;
            probe.errors.push(`answered after ${ms} ms`);
          }
        } catch (err) {
          probe.failures++;
          probe.errors.push(`after ${Date.now() - t} ms: ${(err as Error).message}`);
        }
        probe.probes++;
        await ctx.sleep(1000);
      }
    })();
    const cases = new FuzzCases(ctx.seed + 1, seeds);
    // Spread over two minutes next to the workload, so that the run
    // acknowledges as many writes as the other scenarios do.
    const bursts = 12;
    const total = long ? 1_000_000 : 100_000;
    const tcp = { sent: 0, bytes: 0, connections: 0, closedByBroker: 0, badSizes: 0, connectErrors: 0, ms: 0 };
    let burst = 0;
    while (burst < bursts && (ctx.faulting() || !short)) {
      burst++;
      ctx.fault(`tcp fuzz burst: ${burst}`);
      const r = await fuzzTcp({ host: '127.0.0.1', port: broker.port, cases, frames: Math.ceil(total / bursts), deadlineMs: short ? 300 : undefined });
      for (const k of Object.keys(tcp) as Array<keyof typeof tcp>) tcp[k] += r[k];
      ctx.heal(`tcp fuzz burst: ${burst}`, `${r.sent} frames, ${r.connections} connections, ${r.ms} ms`);
      await ctx.sleep(short ? 100 : 9000);
    }
    probing = false;
    await prober;
    const brokerAlive = broker.running ? 1 : 0;
    const errorLines = broker
      .logs()
      .slice(logStart)
      .filter((l) => /"level":"(error|fatal)"/.test(l));
    if (errorLines.length) ctx.log(`broker error lines during the TCP fuzzing:\n  ${errorLines.slice(0, 5).join('\n  ')}`);
    await w.waitForAcks(200, 60_000);
    const result = await ctx.finish(cluster, w, {
      inProcess: ipFigures,
      inProcessMutators: mutators,
      inProcessErrorKinds: errorKinds,
      tcp,
      tcpFramesPerSecond: Math.round(tcp.sent / Math.max(1, tcp.ms / 1000)),
      probe,
      seeds: seeds.length,
    });
    // The fuzzers' must-be-zero counts go into the audit column (the runner fails the row on any).
    const failures: Record<string, number> = {};
    for (const k of INPROCESS_MUST_BE_ZERO) failures[`fuzz ${k}`] = inproc[k];
    failures['tcp broker crashed'] = 1 - brokerAlive;
    failures['tcp broker error logs'] = errorLines.length;
    failures['tcp probe failures'] = probe.failures;
    result.audit = { ...(result.audit ?? {}), ...failures };
    return result;
  },
};
export default scenario;
