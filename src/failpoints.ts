// Failpoints for the fault suite (test/faults): named places in the code where
// a test can make the broker crash or fail, chosen by the environment variable
// STREAMHOUSE_FAILPOINTS, read once at start-up:
//
//   STREAMHOUSE_FAILPOINTS='compaction.after-segment-put=crash@0.3,compaction.before-wal-delete=crash#2'
//
// Each entry is NAME=ACTION[@PROBABILITY | #COUNT]:
//   crash     process.kill(process.pid, 'SIGKILL'): no handler, no flush, as a power cut
//   error     throw an Error (the caller's error path runs)
//   @P        act with probability P (0..1) each time the point is reached
//   #N        act the Nth time the point is reached (1 = the first), and only then
//   (neither) act every time
//
// A line `failpoint NAME: ACTION` goes to stderr (synchronously) before the
// action, so a test can count what fired. When the variable is unset,
// failpoint() is one comparison with null: nothing else runs.
//
// Points (see the call sites):
//   compaction.after-segment-put    segment object written, metadata not yet swapped
//   compaction.after-metadata-swap  metadata names the segment, replaced WAL runs not yet released
//   compaction.before-wal-delete    a WAL object no range references any more, just before its deletion
//   cleaning.after-segment-put      log compaction (cleanup.policy=compact): a cleaned segment written, not swapped
//   cleaning.after-metadata-swap    log compaction: metadata names the cleaned segment, the old ones not yet released
//   metadata.snapshot-begun         embedded metadata: a snapshot captured, its journal set apart, the snapshot not yet written
//   metadata.after-snapshot-put     embedded metadata: the snapshot durable, the journal it replaces not yet deleted

import { writeSync } from 'node:fs';

export type FailpointAction = 'crash' | 'error';

interface Failpoint {
  action: FailpointAction;
  probability: number | null;
  count: number | null;
  hits: number;
}

export class FailpointError extends Error {
  constructor(readonly point: string) {
    super(`failpoint ${point}`);
    this.name = 'FailpointError';
  }
}

/** Parses the variable's value; throws on a malformed entry (a typo must not silently test nothing). */
export function parseFailpoints(spec: string): Map<string, Failpoint> {
  const out = new Map<string, Failpoint>();
  for (const raw of spec.split(/[,;]/)) {
    const entry = raw.trim();
    if (!entry) continue;
    const m = /^([A-Za-z0-9_.-]+)=(crash|error)(?:@([0-9.]+)|#([0-9]+))?$/.exec(entry);
    if (!m) throw new Error(`STREAMHOUSE_FAILPOINTS: cannot parse "${entry}" (NAME=crash|error[@P|#N])`);
    const probability = m[3] !== undefined ? Number(m[3]) : null;
    if (probability !== null && !(probability >= 0 && probability <= 1)) throw new Error(`STREAMHOUSE_FAILPOINTS: probability of ${m[1]} must be in [0, 1]`);
    const count = m[4] !== undefined ? Number(m[4]) : null;
    if (count !== null && count < 1) throw new Error(`STREAMHOUSE_FAILPOINTS: count of ${m[1]} must be at least 1`);
    out.set(m[1]!, { action: m[2] as FailpointAction, probability, count, hits: 0 });
  }
  return out;
}

let points: Map<string, Failpoint> | null = process.env.STREAMHOUSE_FAILPOINTS ? parseFailpoints(process.env.STREAMHOUSE_FAILPOINTS) : null;

/** For unit tests: replaces the configured points (null: none). */
export function setFailpoints(spec: string | null): void {
  points = spec ? parseFailpoints(spec) : null;
}

/** Reaching a named point: crashes or throws when the configuration says so, else returns. */
export function failpoint(name: string): void {
  if (points === null) return;
  const p = points.get(name);
  if (!p) return;
  p.hits++;
  if (p.count !== null ? p.hits !== p.count : p.probability !== null && Math.random() >= p.probability) return;
  try {
    writeSync(2, `failpoint ${name}: ${p.action} (hit ${p.hits})\n`);
  } catch {
    /* stderr closed: act anyway */
  }
  if (p.action === 'crash') {
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL is delivered asynchronously; nothing after this point may run.
    for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  }
  throw new FailpointError(name);
}
