// What a fault scenario is, and what the runner (test/faults/run.ts) gives it.
//
// A scenario is a module in test/faults/scenarios/ exporting
//   export default { name: '01-kill-single', description: '...', run } satisfies Scenario;
// run(ctx) starts its cluster (lib/cluster.ts) and workload (lib/workload.ts),
// injects its faults for ctx.faultMs (recording each with ctx.fault() and its
// healing with ctx.heal()), lets everything heal, and returns with
// ctx.finish(cluster, workload, figures): that stops the clients, reads every
// partition back with both stacks, runs the storage audit (lib/audit.ts, when
// present) while the cluster is still up, stops the cluster, and returns the
// ScenarioResult. The runner then checks the history (lib/checker.ts),
// tabulates, and writes RESULTS.md.
//
// The audit hook: when lib/audit.ts exists, the runner wraps its
// audit(cluster.auditTarget()) (with AUDIT_MUST_BE_ZERO, formatAudit) into an
// AuditFn; ctx.finish stops the brokers (etcd and the object store stay up),
// calls it, and the must-be-zero counts go into the scenario's row.
//
// Usage of the context in a scenario:
//   ctx.mode, ctx.seed, ctx.rng.int(8000, 15000), ctx.faultMs, ctx.leaseTtlSeconds(2)
//   while (ctx.faulting()) { ctx.fault('kill -9'); ...; ctx.heal('kill -9'); await ctx.sleep(ctx.rng.int(a, b)); }

import type { FaultCluster } from './cluster.js';
import type { HistoryEvent, HistoryWriter } from './history.js';
import type { Workload } from './workload.js';
import { logDefects } from './log-defects.js';

export type Mode = 'short' | 'default' | 'long';

export interface ScenarioResult {
  history: HistoryEvent[];
  /** Anything worth printing: faults by kind, client errors, timings. */
  figures: Record<string, unknown>;
  /** Audit counts that must be zero, filled by ctx.finish. */
  audit?: Record<string, number>;
  /** The audit's other figures. */
  auditInfo?: Record<string, unknown>;
}

export interface Scenario {
  name: string;
  description: string;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** Seeded PRNG (mulberry32): the same seed gives the same fault schedule. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.next() * a.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

export type AuditFn = (input: {
  scenario: string;
  cluster: FaultCluster;
  history: HistoryEvent[];
  log(msg: string): void;
}) => Promise<{ failures: Record<string, number>; info: Record<string, unknown> }>;

export interface ScenarioContext {
  readonly name: string;
  readonly mode: Mode;
  readonly seed: number;
  readonly rng: Rng;
  readonly history: HistoryWriter;
  /** How long to inject faults: short 7 s, default 180 s, long 15 min. */
  readonly faultMs: number;
  /** A directory for this run's logs (broker logs, etc.). */
  readonly runDir: string;
  log(msg: string): void;
  sleep(ms: number): Promise<void>;
  /** Starts the fault clock (call once the workload runs); true until faultMs have passed since. */
  faulting(): boolean;
  /** Records a fault (history event) and counts it by kind (the text before the first ':'). */
  fault(name: string, detail?: string): void;
  /** Records that the fault `name` was removed: recovery is timed from now. */
  heal(name: string, detail?: string): void;
  /** Faults injected so far, by kind. */
  readonly faultsByKind: Record<string, number>;
  /** Stops the workload, reads back, audits, stops the cluster; returns the result. */
  finish(cluster: FaultCluster, workload: Workload, figures?: Record<string, unknown>): Promise<ScenarioResult>;
}

export const FAULT_MS: Record<Mode, number> = { short: 7_000, default: 180_000, long: 900_000 };

export function makeContext(opts: {
  name: string;
  mode: Mode;
  seed: number;
  history: HistoryWriter;
  runDir: string;
  audit: AuditFn | null;
  log: (msg: string) => void;
}): ScenarioContext {
  let faultStart: number | null = null;
  const faultsByKind: Record<string, number> = {};
  const faultMs = FAULT_MS[opts.mode];
  const ctx: ScenarioContext = {
    name: opts.name,
    mode: opts.mode,
    seed: opts.seed,
    rng: new Rng(opts.seed),
    history: opts.history,
    faultMs,
    runDir: opts.runDir,
    log: opts.log,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms))),
    faulting() {
      faultStart ??= Date.now();
      return Date.now() - faultStart < faultMs;
    },
    fault(name, detail) {
      const kind = name.split(':')[0]!.trim();
      faultsByKind[kind] = (faultsByKind[kind] ?? 0) + 1;
      opts.history.add({ type: 'fault', name, t: Date.now(), ...(detail ? { detail } : {}) });
      opts.log(`fault: ${name}${detail ? ` (${detail})` : ''}`);
    },
    heal(name, detail) {
      opts.history.add({ type: 'heal', name, t: Date.now(), ...(detail ? { detail } : {}) });
      opts.log(`heal: ${name}${detail ? ` (${detail})` : ''}`);
    },
    faultsByKind,
    async finish(cluster, workload, figures = {}) {
      const started = Date.now();
      await workload.stop();
      opts.log(`clients stopped (${Date.now() - started} ms); reading back`);
      await workload.readback();
      opts.log(`read back ${JSON.stringify(workload.readbackCounts)} (${Date.now() - started} ms)`);
      for (const s of workload.readbackStuck) opts.log(`read-back stuck: ${s}`);
      let audit: { failures: Record<string, number>; info: Record<string, unknown> } | undefined;
      if (opts.audit) {
        await cluster.stopBrokers();
        try {
          audit = await opts.audit({ scenario: opts.name, cluster, history: opts.history.events, log: opts.log });
        } catch (err) {
          // The history is still checked; the audit's failure is a failure of the run.
          opts.log(`audit failed: ${(err as Error).stack ?? String(err)}`);
          audit = { failures: { auditError: 1 }, info: { auditError: String((err as Error).message ?? err).slice(0, 300) } };
        }
      }
      // Failures found beside the audit go into its column too.
      const addFailures = (failures: Record<string, number>, info: Record<string, unknown>) => {
        audit = { failures: { ...(audit?.failures ?? {}), ...failures }, info: { ...(audit?.info ?? {}), ...info } };
      };
      const defects = Object.entries(logDefects(cluster.brokerLogs()));
      if (defects.length) {
        for (const [kind, lines] of defects) opts.log(`broker log: ${lines.length} ${kind}, first: ${lines[0]!.slice(0, 400)}`);
        addFailures(Object.fromEntries(defects.map(([kind, lines]) => [kind, lines.length])), {
          logDefects: Object.fromEntries(defects.map(([kind, lines]) => [kind, lines.slice(0, 3).map((l) => l.slice(0, 400))])),
        });
      }
      await cluster.stop();
      if (workload.readbackStuck.length) {
        addFailures({ 'read-back stuck': workload.readbackStuck.length }, { readbackStuck: workload.readbackStuck.map((s) => s.slice(0, 400)) });
      }
      return {
        history: opts.history.events,
        figures: { faultsByKind, ...workload.figures(), ...figures },
        ...(audit ? { audit: audit.failures, auditInfo: audit.info } : {}),
      };
    },
  };
  return ctx;
}
