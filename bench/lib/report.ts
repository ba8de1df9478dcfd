// What every bench script shares: its progress log, number formatting,
// tables for the terminal and for markdown, and a main() that stops every
// process it started, on success, failure or a signal.
import { cleanupAll } from '../../test/helpers/process.js';

const T0 = Date.now();

/** A progress logger on stderr: `[tag   12s] message`. */
export function makeLog(tag: string): (msg: string) => void {
  return (msg) => {
    const s = ((Date.now() - T0) / 1000).toFixed(0).padStart(4);
    process.stderr.write(`[${tag} ${s}s] ${msg}\n`);
  };
}

export function errMsg(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n').slice(0, 3).join(' ').slice(0, 400);
}

export function fmtInt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-';
}

export function fmtNum(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/** ProducerPerformance reports every 5 s: a time bound of S seconds is ceil(S/5) of its windows. */
export function windowsFor(seconds: number): number {
  return Math.max(1, Math.ceil(seconds / 5));
}

export interface Table {
  header: string[];
  rows: string[][];
}

/** Columns for which `numeric(i)` holds are right-aligned. */
export function textTable(t: Table, numeric: (i: number) => boolean): string {
  const w = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (numeric(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(t.header), w.map((n) => '-'.repeat(n)).join('  '), ...t.rows.map(line)].join('\n');
}

export function mdTable(t: Table, numeric: (i: number) => boolean): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const align = t.header.map((_, i) => (numeric(i) ? '---:' : '---'));
  return [`| ${t.header.map(esc).join(' | ')} |`, `| ${align.join(' | ')} |`, ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

/**
 * Runs a bench's main(): every process it started (brokers, S3 servers,
 * clients) is stopped when it ends, fails, or the bench gets a signal.
 */
export function runBench(main: () => Promise<void>, log: (msg: string) => void, started: string): void {
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping every ${started} this run started`);
    void cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  main().then(
    async () => {
      await cleanupAll();
      process.exit(0);
    },
    async (err: unknown) => {
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      await cleanupAll();
      process.exit(1);
    },
  );
}
