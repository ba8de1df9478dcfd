/**
 * Runs a client program that speaks the compat line protocol:
 *
 *   <cmd> ...args --bootstrap HOST:PORT --run RUNID --client ID --scenarios a,b,c
 *
 * prints on stdout, per scenario in the order given,
 *
 *   {"event":"start","scenario":"a"}
 *   {"event":"result","scenario":"a","status":"pass|fail|unsupported","detail":"...","error":"..."}
 *
 * and exits 0. The program enforces its own per-scenario timeout; the runner
 * adds a watchdog (no result line for `scenarioTimeoutMs`): it kills the
 * process group, marks the running scenario failed with the output tail, and
 * restarts the program with the scenarios left. A crash is handled the same
 * way, so one broken scenario never takes the others with it.
 */
import { ManagedProcess } from '../../test/helpers/process.js';
import type { CellResult, PairResult, RunContext, ScenarioId, Target } from './common.js';
import { REPO_ROOT } from './common.js';

export interface ProgramSpec {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Watchdog: longest time without a result line (default 150 s). */
  scenarioTimeoutMs?: number;
}

interface ProtoLine {
  event: 'start' | 'result';
  scenario: string;
  status?: 'pass' | 'fail' | 'unsupported';
  detail?: string | null;
  error?: string | null;
  ms?: number;
}

function parseLine(line: string): ProtoLine | null {
  const t = line.trim();
  if (!t.startsWith('{') || !t.includes('"event"')) return null;
  try {
    const o = JSON.parse(t) as ProtoLine;
    return typeof o.scenario === 'string' ? o : null;
  } catch {
    return null;
  }
}

/** Runs the program against one target until every scenario has a result. */
export async function runProgramOn(
  ctx: RunContext,
  clientId: string,
  spec: ProgramSpec,
  target: Target,
  scenarios: ScenarioId[],
): Promise<Map<string, CellResult>> {
  const results = new Map<string, CellResult>();
  const timeoutMs = spec.scenarioTimeoutMs ?? 150_000;
  let left = [...scenarios];
  let attempt = 0;
  while (left.length > 0 && attempt < scenarios.length + 1) {
    attempt++;
    const args = [...spec.args, '--bootstrap', target.bootstrap, '--run', ctx.runId, '--client', clientId, '--scenarios', left.join(',')];
    if (ctx.verbose) ctx.log(`  [${clientId}@${target.name}] ${spec.cmd} ${args.join(' ')}`);
    const proc = new ManagedProcess(spec.cmd, args, {
      name: `${clientId}@${target.name}`,
      cwd: REPO_ROOT,
      env: { ...process.env, ...spec.env },
      maxLines: 5000,
    });
    let current: string | null = null;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        void proc.kill('SIGKILL');
      }, timeoutMs);
    };
    arm();
    const off = proc.onLine((line) => {
      const m = parseLine(line);
      if (!m) {
        if (ctx.verbose) ctx.log(`  [${clientId}@${target.name}] ${line}`);
        return;
      }
      if (m.event === 'start') {
        current = m.scenario;
        arm();
      } else if (m.event === 'result') {
        results.set(m.scenario, { status: m.status ?? 'fail', detail: m.detail ?? null, error: m.error ?? null, ms: m.ms });
        if (ctx.verbose) ctx.log(`  [${clientId}@${target.name}] ${m.scenario}: ${m.status} ${m.error ?? ''}`);
        current = null;
        arm();
      }
    });
    const exit = await proc.exited;
    off();
    if (timer) clearTimeout(timer);
    const remaining = left.filter((s) => !results.has(s));
    if (remaining.length === 0) break;
    // The program died or hung: blame the scenario it was in (or the first one left).
    const culprit = (current as string | null) && remaining.includes(current as unknown as ScenarioId) ? (current as unknown as ScenarioId) : remaining[0]!;
    const tail = proc
      .tail(25)
      .split('\n')
      .filter((l) => !parseLine(l))
      .slice(-12)
      .join(' | ');
    const why = timedOut
      ? `no result within ${timeoutMs} ms (killed)`
      : `program exited (${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`}) before finishing`;
    results.set(culprit, { status: 'fail', error: `${why}; output: ${tail}` });
    left = remaining.filter((s) => s !== culprit);
  }
  for (const s of scenarios) if (!results.has(s)) results.set(s, { status: 'fail', error: 'no result (program kept failing)' });
  return results;
}

/** Runs the program against every target in parallel. */
export async function runProgram(
  ctx: RunContext,
  clientId: string,
  spec: ProgramSpec,
  scenarios: ScenarioId[],
): Promise<Map<string, PairResult>> {
  const per = await Promise.all(ctx.targets.map((t) => runProgramOn(ctx, clientId, spec, t, scenarios)));
  const out = new Map<string, PairResult>();
  for (const s of scenarios) {
    const pair = {} as PairResult;
    ctx.targets.forEach((t, i) => {
      pair[t.name] = per[i]!.get(s)!;
    });
    out.set(s, pair);
  }
  return out;
}
