/**
 * Log compaction under kill -9. A compacted topic is cleaned all the time
 * (segment.ms 200, min.cleanable.dirty.ratio 0.01) while kafkajs writes new
 * values for 20 keys with acks=all; each incarnation of the broker has one
 * failpoint armed (src/failpoints.ts) that SIGKILLs it in the middle of a
 * cleaning or of the WAL compaction feeding it, and is restarted with the
 * next. Afterwards kcat (librdkafka) reads the partition: each key's values
 * come in the order they were written, each key's last acknowledged value
 * (or a later one) is there, and every acknowledged record is either at its
 * acknowledged offset or superseded by a later record of its key.
 */
import { afterAll, expect, test } from 'vitest';
import type { BrokerProcess } from '../helpers/broker.js';
import { runKcat } from '../helpers/clients.js';
import { createTopic, startE2EBroker, uniqueTopic } from './common.js';
import { sendThroughFailpointCrashes } from './failpoint-crashes.js';

const POINTS = ['cleaning.after-segment-put', 'cleaning.after-metadata-swap', 'compaction.after-segment-put', 'compaction.before-wal-delete'];
const KEYS = 20;
const INCARNATIONS = 6;

let broker: BrokerProcess | undefined;
afterAll(async () => {
  await broker?.cleanup();
});

test('kill -9 during cleanings: every key keeps its last acknowledged value, in write order, nothing acknowledged misplaced', async () => {
  const armed = (i: number) => ({ STREAMHOUSE_FAILPOINTS: `${POINTS[i % POINTS.length]}=crash#${1 + (i % 3)}` });
  broker = await startE2EBroker({ env: armed(0) });
  const topic = uniqueTopic('compacted-crashes');
  await createTopic(broker.port, topic, 1, { 'cleanup.policy': 'compact', 'segment.ms': '200', 'segment.bytes': '16384', 'min.cleanable.dirty.ratio': '0.01' });

  const acked = new Map<string, { seq: number; offset: number }[]>();
  const seqOf = new Map<string, number>();
  // A send that fails was not acknowledged (the broker died, or refused while it started): its values may or may not be stored.
  const fired = await sendThroughFailpointCrashes(broker, {
    incarnations: INCARNATIONS,
    armed,
    retryPauseMs: 100,
    clientId: 'e2e-compaction-crashes',
    send: async (producer) => {
      const values = Array.from({ length: KEYS }, (_, i) => {
        const key = `k${i}`;
        const seq = (seqOf.get(key) ?? -1) + 1;
        seqOf.set(key, seq);
        return { key, seq };
      });
      const [meta] = await producer.send({
        topic,
        acks: -1,
        timeout: 5000,
        messages: values.map((v) => ({ partition: 0, key: v.key, value: `${v.key}:${v.seq}:${'x'.repeat(200)}` })),
      });
      await new Promise((r) => setTimeout(r, 10));
      const base = Number(meta!.baseOffset);
      values.forEach((v, i) => {
        let l = acked.get(v.key);
        if (!l) acked.set(v.key, (l = []));
        l.push({ seq: v.seq, offset: base + i });
      });
    },
  });
  // The last incarnation cleans until about one record per key is left.
  const readAll = async () =>
    (await runKcat(['-C', '-b', broker!.bootstrap, '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-J'])).stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { offset: number; key: string; payload: string });
  let read = await readAll();
  const until = Date.now() + 60_000;
  while (read.length > KEYS * 3 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    read = await readAll();
  }
  const byKey = new Map<string, { seq: number; offset: number }[]>();
  let lastOffset = -1;
  for (const m of read) {
    expect(m.offset).toBeGreaterThan(lastOffset);
    lastOffset = m.offset;
    const [key, seq] = m.payload.split(':');
    expect(key).toBe(m.key);
    let l = byKey.get(key!);
    if (!l) byKey.set(key!, (l = []));
    l.push({ seq: Number(seq), offset: m.offset });
  }
  const problems: string[] = [];
  let ackedCount = 0;
  for (const [key, list] of acked) {
    const seen = byKey.get(key) ?? [];
    for (let i = 1; i < seen.length; i++) if (seen[i]!.seq <= seen[i - 1]!.seq) problems.push(`${key}: seq ${seen[i]!.seq} after ${seen[i - 1]!.seq}`);
    const last = seen.at(-1);
    const lastAcked = list.at(-1)!;
    if (!last || last.seq < lastAcked.seq) problems.push(`${key}: last acknowledged ${lastAcked.seq}@${lastAcked.offset}, last read ${last ? `${last.seq}@${last.offset}` : 'none'}`);
    for (const a of list) {
      ackedCount++;
      const at = seen.find((s) => s.seq === a.seq);
      if (at && at.offset !== a.offset) problems.push(`${key}: ${a.seq} acknowledged @${a.offset}, read @${at.offset}`);
      if (!at && !seen.some((s) => s.offset > a.offset)) problems.push(`${key}: ${a.seq}@${a.offset} gone without a later record`);
    }
  }
  const cleaned = broker.allLogs().filter((l) => l.includes('"msg":"log cleaned"')).length;
  console.log(`[compaction-crashes] ${JSON.stringify({ acked: ackedCount, read: read.length, incarnations: INCARNATIONS + 1, fired, cleanings: cleaned })}`);
  expect(problems).toEqual([]);
  expect(ackedCount).toBeGreaterThan(KEYS * INCARNATIONS);
  // Cleaned down to about one record per key.
  expect(read.length).toBeLessThanOrEqual(KEYS * 3);
  expect(fired.some((f) => f.includes('cleaning.'))).toBe(true);
}, 180_000);
