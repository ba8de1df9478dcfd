/**
 * The client compatibility matrix: every client available here runs the same
 * scenarios against Apache Kafka 3.9 (the reference) and StreamHouse, in the
 * same run; the matrix (client x scenario, Kafka | StreamHouse per cell) is
 * printed and written to compat-tests/RESULTS.md.
 *
 *   npm run compat [-- --bootstrap HOST:PORT] [--only a,b,...] [--quick] [--out FILE] [--verbose]
 *
 *   --bootstrap  test a running StreamHouse instead of starting one
 *   --only       client ids and/or scenario ids (comma-separated): clients
 *                named are run (default all), scenarios named are run
 *                (default all); e.g. --only kcat,group
 *   --quick      the CI subset (clients and scenarios marked quick)
 *   --out FILE   where to write the Markdown (default compat-tests/RESULTS.md
 *                for a full run, compat-tests/RESULTS.partial.md otherwise)
 *   --no-install do not run scripts/install-compat-deps.sh first
 *
 * Exit status: 0 when every Kafka cell passed or was unsupported and every
 * StreamHouse failure is listed in compat-tests/known-failures.json; 1
 * otherwise (a scenario bug, a regression or a new StreamHouse failure).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startReferenceKafka, type ReferenceKafka } from '../scripts/kafka-ref.js';
import { startBroker, type BrokerProcess } from '../test/helpers/broker.js';
import { cleanupAll } from '../test/helpers/process.js';
import { allClients } from './lib/clients.js';
import type { ClientDef, PairResult, RunContext, ScenarioId, Target } from './lib/common.js';
import { COMPAT_DIR, errorText, REPO_ROOT, SCENARIO_IDS } from './lib/common.js';
import { loadKnown, matcher } from './lib/known.js';
import { renderMarkdown, renderTerminal, tally, type ClientRow, type Report } from './lib/report.js';

interface Args {
  bootstrap?: string;
  only: string[];
  quick: boolean;
  out?: string;
  verbose: boolean;
  install: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { only: [], quick: false, verbose: false, install: true };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${x} needs a value`);
      return v;
    };
    if (x === '--bootstrap') a.bootstrap = val();
    else if (x === '--only') a.only.push(...val().split(',').map((s) => s.trim()).filter(Boolean));
    else if (x === '--quick') a.quick = true;
    else if (x === '--out') a.out = val();
    else if (x === '--verbose' || x === '-v') a.verbose = true;
    else if (x === '--no-install') a.install = false;
    else if (x === '-h' || x === '--help') {
      process.stdout.write(fs.readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, '') + '\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${x} (see --help)`);
  }
  return a;
}

const log = (m: string) => process.stdout.write(`[compat] ${m}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  const t0 = Date.now();
  const clients = allClients();
  const clientIds = new Set(clients.map((c) => c.id));
  const unknown = args.only.filter((x) => !clientIds.has(x) && !SCENARIO_IDS.includes(x as ScenarioId));
  if (unknown.length) throw new Error(`--only: unknown ${unknown.join(', ')}; clients: ${[...clientIds].join(', ')}; scenarios: ${SCENARIO_IDS.join(', ')}`);
  const onlyClients = args.only.filter((x) => clientIds.has(x));
  const onlyScenarios = args.only.filter((x) => SCENARIO_IDS.includes(x as ScenarioId)) as ScenarioId[];
  let selected = clients.filter((c) => (onlyClients.length ? onlyClients.includes(c.id) : args.quick ? c.quick : true));
  const scenariosFor = (c: ClientDef): ScenarioId[] => {
    let s = onlyScenarios.length ? onlyScenarios : SCENARIO_IDS;
    if (args.quick && c.quickScenarios) s = s.filter((x) => c.quickScenarios!.includes(x));
    return s;
  };
  selected = selected.filter((c) => scenariosFor(c).length > 0);
  const full = !args.quick && args.only.length === 0 && !args.bootstrap;
  const mode = full ? 'full' : [args.quick ? '--quick' : '', args.only.length ? `--only ${args.only.join(',')}` : '', args.bootstrap ? '--bootstrap' : ''].filter(Boolean).join(' ');
  const outFile = args.out ?? path.join(COMPAT_DIR, full ? 'RESULTS.md' : 'RESULTS.partial.md');

  // ---- tools
  if (args.install) {
    const flags: string[] = [];
    if (args.quick) flags.push('--quick');
    else if (!selected.some((c) => c.id === 'node-rdkafka')) flags.push('--no-node-rdkafka');
    const ti = Date.now();
    log(`preparing clients: scripts/install-compat-deps.sh ${flags.join(' ')}`);
    const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'install-compat-deps.sh'), ...flags], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 30 * 60_000 });
    const outTxt = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (args.verbose || r.status !== 0) process.stdout.write(outTxt);
    if (r.status !== 0) log(`install-compat-deps.sh exited ${r.status}: clients whose tools are missing are marked not available`);
    log(`clients prepared in ${((Date.now() - ti) / 1000).toFixed(1)} s`);
  }

  // ---- brokers
  let kafka: ReferenceKafka | undefined;
  let sh: BrokerProcess | undefined;
  const tb = Date.now();
  try {
    [kafka, sh] = await Promise.all([
      startReferenceKafka(),
      args.bootstrap ? Promise.resolve(undefined) : startBroker({ args: ['--broker-id', '1', '--group-initial-rebalance-delay-ms', '0'], readyTimeoutMs: 60_000 }),
    ]);
  } catch (e) {
    await kafka?.stop().catch(() => undefined);
    await sh?.stop?.().catch?.(() => undefined);
    throw e;
  }
  const shBootstrap = args.bootstrap ?? sh!.bootstrap;
  log(`brokers up in ${((Date.now() - tb) / 1000).toFixed(1)} s: Kafka ${kafka.bootstrap}, StreamHouse ${shBootstrap}${args.bootstrap ? ' (given)' : ''}`);
  const targets: Target[] = [
    { name: 'kafka', bootstrap: kafka.bootstrap },
    { name: 'streamhouse', bootstrap: shBootstrap },
  ];
  const ctx: RunContext = { runId: randomBytes(4).toString('hex'), targets, quick: args.quick, verbose: args.verbose, log };

  // ---- clients, one at a time (each runs against both brokers in parallel)
  const rows: ClientRow[] = [];
  const allScenarios = new Set<ScenarioId>();
  try {
    for (const c of selected) {
      const scenarios = scenariosFor(c);
      scenarios.forEach((s) => allScenarios.add(s));
      const tc = Date.now();
      const why = await c.available().catch((e: unknown) => errorText(e));
      const version = why ? '' : await c.version().catch(() => '?');
      const row: ClientRow = { id: c.id, label: c.label, version, results: new Map(), ms: 0 };
      if (why) {
        row.unavailable = why;
        for (const s of scenarios) row.results.set(s, { kafka: { status: 'not-run', detail: why }, streamhouse: { status: 'not-run', detail: why } });
        log(`${c.id}: not available — ${why}`);
      } else {
        log(`${c.id}: ${scenarios.length} scenarios (${version})`);
        try {
          row.results = await c.run(ctx, scenarios);
        } catch (e) {
          for (const s of scenarios) row.results.set(s, { kafka: { status: 'fail', error: `runner: ${errorText(e)}` }, streamhouse: { status: 'fail', error: `runner: ${errorText(e)}` } });
        }
      }
      row.ms = Date.now() - tc;
      rows.push(row);
      log(`${c.id}: done in ${(row.ms / 1000).toFixed(1)} s — ${summary(row.results)}`);
    }
  } finally {
    await kafka.stop().catch(() => undefined);
    if (sh) await sh.stop().catch(() => undefined);
    await cleanupAll();
  }

  const known = loadKnown();
  const report: Report = {
    rows,
    scenarios: SCENARIO_IDS.filter((s) => allScenarios.has(s)),
    startedAt: started,
    totalMs: Date.now() - t0,
    mode,
    kafka: 'Apache Kafka 3.9.0 (single-node KRaft, scripts/kafka-ref.ts)',
    streamhouse: args.bootstrap ? `given broker at ${args.bootstrap}` : `this checkout (dist/src/cli.js serve, embedded metadata, --broker-id 1, --group-initial-rebalance-delay-ms 0)`,
    known,
    matchKnown: matcher(known),
  };
  const md = renderMarkdown(report);
  fs.writeFileSync(outFile, md + '\n');
  process.stdout.write('\n' + renderTerminal(report) + '\n\n');
  const t = tally(report);
  for (const f of t.kafkaFailures) log(`SCENARIO BUG (fails on Kafka): ${f.client}/${f.scenario}: ${f.error}`);
  for (const f of t.knownFailures) log(`known StreamHouse failure: ${f.client}/${f.scenario}: ${f.known.map((k) => k.title).join('; ')}`);
  for (const f of t.newFailures) log(`NEW StreamHouse failure: ${f.client}/${f.scenario}: ${f.error}`);
  for (const f of t.fixed) log(`known failure passed: ${f.client}/${f.scenario} (${f.known.map((k) => k.title).join('; ')})`);
  log(`wrote ${path.relative(REPO_ROOT, outFile)} in ${((Date.now() - t0) / 1000).toFixed(1)} s total`);
  return t.kafkaFailures.length || t.newFailures.length ? 1 : 0;
}

function summary(r: Map<string, PairResult>): string {
  const c = { kafka: new Map<string, number>(), streamhouse: new Map<string, number>() };
  for (const p of r.values()) for (const b of ['kafka', 'streamhouse'] as const) c[b].set(p[b].status, (c[b].get(p[b].status) ?? 0) + 1);
  const f = (m: Map<string, number>) => [...m].map(([k, v]) => `${v} ${k}`).join(', ');
  return `Kafka: ${f(c.kafka)}; StreamHouse: ${f(c.streamhouse)}`;
}

main().then(
  (code) => process.exit(code),
  async (e: unknown) => {
    process.stderr.write(`[compat] ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await cleanupAll().catch(() => undefined);
    process.exit(2);
  },
);
