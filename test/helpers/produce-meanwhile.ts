// A producer that keeps WAL flushes coming while a test does something else
// (a compaction pass whose pack waits to travel in the next WAL object).
import { buildBatch } from '../../src/protocol/records/index.js';
import type { PartitionLog } from '../../src/storage/partition-log.js';

/**
 * Runs `fn` while `log` gets an append of one record every few ms; returns
 * `fn`'s result and the values acknowledged. Appends refused (a failing
 * store) are left out of them.
 */
export async function whileProducing<T>(log: PartitionLog, fn: () => Promise<T>): Promise<{ result: T; acked: string[] }> {
  let producing = true;
  const acked: string[] = [];
  const producer = (async () => {
    for (let i = 0; producing; i++) {
      const v = `busy-${i}`;
      await log.append([buildBatch({ records: [{ key: null, value: Buffer.from(v) }] })]).then(
        () => acked.push(v),
        () => {},
      );
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  try {
    return { result: await fn(), acked };
  } finally {
    producing = false;
    await producer;
  }
}
