// Broker log lines that only a defect writes, whatever the faults: the
// checker sees what clients saw, and these are failures a client may only
// see as a retriable error (a fetch of data the log still holds answered
// KAFKA_STORAGE_ERROR because its object was deleted under the read, fault
// suite 05) or not at all (a handler that threw closes the connection, which
// clients take for a network fault).

/** Kinds of defect, each with the test a JSON log line must pass. */
const DEFECTS: Record<string, (e: { level?: string; msg?: string; err?: { type?: string } | string }) => boolean> = {
  handlerFailures: (e) => e.msg === 'request handler failed',
  uncaught: (e) => e.msg === 'uncaught exception' || e.msg === 'unhandled rejection',
  missingObjectReads: (e) => (e.level === 'error' || e.level === 'fatal') && typeof e.err === 'object' && e.err?.type === 'ObjectNotFoundError',
  // A block's memory reused while a fetch still wanted it (src/storage/block-pool.ts): caught, so the client got an error, not another block's bytes.
  reusedBlockReads: (e) => typeof e.err === 'object' && e.err?.type === 'BlockReusedError',
};

/** The defect lines among `lines` (pino JSON; other lines are ignored), by kind; kinds without any are left out. */
export function logDefects(lines: Iterable<string>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    let e: Parameters<(typeof DEFECTS)[string]>[0];
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue;
    }
    for (const [kind, test] of Object.entries(DEFECTS)) if (test(e)) (out[kind] ??= []).push(line);
  }
  return out;
}
