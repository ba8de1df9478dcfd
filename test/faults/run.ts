// The fault suite's runner.
//
//   npm run faults [-- NAME...] [--short | --long] [--seed N]
//
// Runs every scenario in test/faults/scenarios/ (file order), or those whose
// name contains one of the NAMEs, one after the other, each with a fixed seed
// (default 1; --seed N for another schedule). Each scenario's history goes to
// test/faults/runs/<name>.jsonl (broker logs beside it); the runner checks it
// (lib/checker.ts), adds the storage audit (lib/audit.ts, when present),
// prints the table and writes it to test/faults/RESULTS.md and the README
// (short runs: test/faults/RESULTS.short.md only) (rows of
// scenarios not run now are kept). Exits non-zero when a count that must be
// zero is not, or a scenario failed to run.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { check, MUST_BE_ZERO, type CheckResult } from './lib/checker.js';
import { FaultCluster } from './lib/cluster.js';
import { HistoryWriter } from './lib/history.js';
import { makeContext, type AuditFn, type Mode, type Scenario, type ScenarioResult } from './lib/scenario.js';
import { cleanupAll } from '../helpers/process.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(HERE, 'RESULTS.md');
/** Short runs (CI) go to their own file: they never replace the committed figures. */
const RESULTS_SHORT = path.join(HERE, 'RESULTS.short.md');
/** The README carries the table of the committed results between these markers. */
const README = path.join(HERE, '..', '..', 'README.md');
const README_BEGIN = '<!-- faults-table: written by npm run faults -->';
const README_END = '<!-- /faults-table -->';
const RUNS = path.join(HERE, 'runs');

interface Row {
  scenario: string;
  cells: string[];
  ok: boolean;
  details: string;
}

const COLUMNS = [
  'scenario',
  'mode',
  'seed',
  'run s',
  'acknowledged',
  'indeterminate',
  'faults',
  'lost',
  'inconsistent offsets',
  'duplicates',
  'poll skips',
  'non-monotonic polls',
  'non-monotonic sends',
  'UNKNOWN_SERVER_ERROR',
  'read-back disagreements',
  'partition owned twice',
  'stale-generation commits accepted',
  'committed offset regressions',
  'partitions unwritable after the faults',
  'audit',
  'max heal→produce ms',
  'verdict',
];

function parseArgs(argv: string[]): { names: string[]; mode: Mode; seed: number } {
  let mode: Mode = 'default';
  let seed = 1;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--short') mode = 'short';
    else if (a === '--long') mode = 'long';
    else if (a === '--default') mode = 'default';
    else if (a === '--seed') seed = Number(argv[++i]);
    else if (a.startsWith('--seed=')) seed = Number(a.slice(7));
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else names.push(a);
  }
  if (!Number.isInteger(seed)) throw new Error('--seed needs an integer');
  return { names, mode, seed };
}

async function loadScenarios(names: string[]): Promise<Scenario[]> {
  const dir = path.join(HERE, 'scenarios');
  const files = fs
    .readdirSync(dir)
    .filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))
    .sort();
  const out: Scenario[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { default?: Scenario; scenario?: Scenario };
    const s = mod.default ?? mod.scenario;
    if (!s) throw new Error(`${f} exports no scenario`);
    if (names.length === 0 || names.some((n) => s.name.includes(n) || f.includes(n))) out.push(s);
  }
  if (out.length === 0) throw new Error(`no scenario matches ${names.join(', ')}`);
  return out;
}

async function loadAudit(): Promise<AuditFn | null> {
  const file = ['audit.ts', 'audit.js'].map((f) => path.join(HERE, 'lib', f)).find((f) => fs.existsSync(f));
  if (!file) return null;
  // B's lib/audit.ts: audit(target) -> AuditResult, AUDIT_MUST_BE_ZERO, formatAudit(result).
  const mod = (await import(pathToFileURL(file).href)) as {
    audit?: (target: ReturnType<FaultCluster['auditTarget']>) => Promise<Record<string, unknown>>;
    AUDIT_MUST_BE_ZERO?: readonly string[];
    formatAudit?: (r: never) => string;
  };
  if (!mod.audit) return null;
  const run = mod.audit;
  return async ({ cluster, log }) => {
    const r = await run(cluster.auditTarget());
    if (mod.formatAudit) log(`audit: ${mod.formatAudit(r as never)}`);
    const failures: Record<string, number> = {};
    for (const k of mod.AUDIT_MUST_BE_ZERO ?? []) failures[k] = Number(r[k] ?? 0);
    const info: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && !(k in failures)) info[k] = v;
    return { failures, info };
  };
}

function fmtMs(ms: number | null): string {
  return ms === null ? '-' : String(ms);
}

function rowOf(s: Scenario, mode: Mode, seed: number, secs: number, r: CheckResult | null, result: ScenarioResult | null, error: string | null): Row {
  const auditCounts = result?.audit ?? {};
  const auditBad = Object.entries(auditCounts).filter(([, n]) => n !== 0);
  const bad = r ? MUST_BE_ZERO.filter((k) => r[k] !== 0) : [];
  const ok = !error && bad.length === 0 && auditBad.length === 0;
  const n = (k: keyof CheckResult) => (r ? String(r[k]) : '-');
  const auditCell = Object.keys(auditCounts).length === 0 ? '-' : auditBad.length === 0 ? '0' : auditBad.map(([k, v]) => `${k} ${v}`).join(', ');
  const cells = [
    s.name,
    mode,
    String(seed),
    String(Math.round(secs)),
    n('acknowledged'),
    n('indeterminate'),
    n('faults'),
    n('lostWrites'),
    n('inconsistentOffsets'),
    n('duplicates'),
    n('pollSkips'),
    n('nonMonotonicPolls'),
    n('nonMonotonicSends'),
    n('unknownServerErrors'),
    n('readbackDisagreements'),
    n('doubleOwnership'),
    n('staleCommitsAccepted'),
    n('commitRegressions'),
    n('unrecoveredPartitions'),
    auditCell,
    r ? fmtMs(r.maxRecoveryMs) : '-',
    error ? 'ERROR' : ok ? 'ok' : `FAIL (${[...bad, ...auditBad.map(([k]) => k)].join(', ')})`,
  ];
  const lines = [`### ${s.name}`, '', s.description, ''];
  if (error) lines.push('```', error.slice(0, 3000), '```', '');
  if (r) {
    lines.push(`- groups: ${r.generations} generations, ${r.commitsAccepted} commits accepted; ${r.heals} heals`);
    for (const [k, ex] of Object.entries(r.examples)) if (ex.length) lines.push(`- ${k}: ${ex.map((e) => `\`${e}\``).join('; ')}`);
  }
  if (result) lines.push('- figures: `' + JSON.stringify(result.figures) + '`');
  if (result?.auditInfo) lines.push('- audit: `' + JSON.stringify(result.auditInfo) + '`');
  return { scenario: s.name, cells, ok, details: lines.join('\n') };
}

function writeResults(rows: Row[], file: string): string {
  // Keep the rows of scenarios not run this time.
  const kept = new Map<string, { cells: string[]; details: string }>();
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const line of text.split('\n')) {
      const m = /^\| ([^|]+?) \|/.exec(line);
      if (!m || m[1] === 'scenario' || /^-+$/.test(m[1]!)) continue;
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      if (cells.length === COLUMNS.length) kept.set(m[1]!, { cells, details: '' });
    }
    for (const block of text.split(/\n(?=### )/)) {
      const m = /^### (\S+)/.exec(block);
      if (m && kept.has(m[1]!)) kept.get(m[1]!)!.details = block.trim();
    }
  }
  for (const r of rows) kept.set(r.scenario, { cells: r.cells, details: r.details });
  const names = [...kept.keys()].sort();
  const table = [`| ${COLUMNS.join(' | ')} |`, `|${COLUMNS.map(() => '---').join('|')}|`, ...names.map((n) => `| ${kept.get(n)!.cells.join(' | ')} |`)].join('\n');
  const md = [
    '# Fault suite results',
    '',
    'Written by `npm run faults` (test/faults/run.ts); a run of some scenarios replaces their rows and keeps the others.',
    'Every count from "lost" to "audit" must be 0. "max heal→produce ms": the longest time from a fault\'s healing',
    'to the first acknowledged produce of every partition. Histories: test/faults/runs/<scenario>.jsonl (not committed).',
    '',
    table,
    '',
    '## Details',
    '',
    ...names.map((n) => kept.get(n)!.details + '\n'),
  ].join('\n');
  fs.writeFileSync(file, md);
  if (file === RESULTS) writeReadmeTable(table);
  return table;
}

function writeReadmeTable(table: string): void {
  if (!fs.existsSync(README)) return;
  const text = fs.readFileSync(README, 'utf8');
  const begin = text.indexOf(README_BEGIN);
  const end = text.indexOf(README_END);
  if (begin < 0 || end < begin) return;
  fs.writeFileSync(README, text.slice(0, begin + README_BEGIN.length) + '\n' + table + '\n' + text.slice(end));
}

async function main(): Promise<number> {
  const { names, mode, seed } = parseArgs(process.argv.slice(2));
  const scenarios = await loadScenarios(names);
  const audit = await loadAudit();
  const rows: Row[] = [];
  for (const s of scenarios) {
    const runDir = path.join(RUNS, s.name);
    fs.mkdirSync(runDir, { recursive: true });
    const history = new HistoryWriter(path.join(RUNS, `${s.name}.jsonl`));
    const started = Date.now();
    const log = (msg: string) => console.log(`[${s.name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
    const ctx = makeContext({ name: s.name, mode, seed, history, runDir, audit, log });
    log(`start (${mode}, seed ${seed})`);
    let result: ScenarioResult | null = null;
    let error: string | null = null;
    try {
      result = await s.run(ctx);
    } catch (err) {
      error = (err as Error).stack ?? String(err);
      log(`failed: ${error}`);
    } finally {
      for (const c of FaultCluster.running) await c.stop().catch((e: Error) => log(`stopping the cluster: ${e.message}`));
      await cleanupAll();
      history.close();
    }
    const secs = (Date.now() - started) / 1000;
    const r = result ? check(result.history) : null;
    const row = rowOf(s, mode, seed, secs, r, result, error);
    rows.push(row);
    log(`done: ${row.cells.slice(4).join(' | ')}`);
    if (r) for (const [k, ex] of Object.entries(r.examples)) if (ex.length && k !== 'recovery') log(`  ${k}: ${ex.join('; ')}`);
    if (result) log(`  figures: ${JSON.stringify(result.figures)}`);
    // Written after every scenario: a run cut short (a crash, a time limit) keeps what it measured.
    writeResults([row], mode === 'short' ? RESULTS_SHORT : RESULTS);
  }
  const table = writeResults(rows, mode === 'short' ? RESULTS_SHORT : RESULTS);
  console.log('\n' + table + '\n');
  const failed = rows.filter((r) => !r.ok);
  console.log(failed.length ? `FAILED: ${failed.map((r) => r.scenario).join(', ')}` : `all ${rows.length} scenario(s) ok`);
  return failed.length ? 1 : 0;
}

// A throw in an output listener of some child must not end the whole run.
process.on('uncaughtException', (err) => console.error('[faults] uncaught exception (run continues):', err));

main().then(
  (code) => process.exit(code),
  async (err) => {
    console.error(err);
    await cleanupAll();
    process.exit(2);
  },
);
