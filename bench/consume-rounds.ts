/**
 * Consumers reading a full partition from offset 0, several rounds on the
 * same broker: Kafka's ProducerPerformance fills one partition, then Kafka's
 * ConsumerPerformance reads all of it once per round (a new group each
 * time), and each round prints its fetch rate and the broker's CPU. The
 * full bench (bench/run.ts) reads once, on a broker that has served no fetch
 * yet; rounds show what a warm broker does, and an A/B of two builds.
 *
 *   npm run bench:consume -- [--broker streamhouse|kafka] [--record-bytes N] [--records N] [--rounds N] [--cli PATH]
 *
 * --cli: the StreamHouse CLI to run (another build's dist/src/cli.js, for an
 * A/B); default the working tree's dist/. Run by hand, not in the test suite.
 */
import { parseArgs } from 'node:util';
import { createTopics, highWatermark, setStreamHouseCli, startBrokerUnderTest, type BrokerId } from './lib/brokers.js';
import { runConsumerPerformance, runProducerPerformance } from './lib/kafka-tools.js';
import { processCpuSeconds, waitQuiet } from './lib/system.js';

interface Options {
  broker: BrokerId;
  recordBytes: number;
  records: number;
  rounds: number;
}

function parseOptions(argv: string[]): Options {
  const { values: v } = parseArgs({
    args: argv,
    options: { broker: { type: 'string', default: 'streamhouse' }, 'record-bytes': { type: 'string' }, records: { type: 'string' }, rounds: { type: 'string' }, cli: { type: 'string' } },
  });
  if (v.broker !== 'streamhouse' && v.broker !== 'kafka') throw new Error(`--broker streamhouse|kafka, got ${v.broker}`);
  if (v.cli) setStreamHouseCli(v.cli);
  const recordBytes = Number(v['record-bytes'] ?? 1 << 20);
  // About 2 GiB by default: 2,000 records of 1 MiB, 2,048,000 of 1 KiB.
  const o: Options = { broker: v.broker, recordBytes, records: Number(v.records ?? Math.max(1, Math.round((2000 * (1 << 20)) / recordBytes))), rounds: Number(v.rounds ?? 5) };
  if (!(o.recordBytes > 0) || !(o.records > 0) || !(o.rounds > 0)) throw new Error('--record-bytes, --records and --rounds must be positive');
  return o;
}

const o = parseOptions(process.argv.slice(2));
const b = await startBrokerUnderTest(o.broker);
const out = (s: string) => process.stdout.write(`${s}\n`);
try {
  await createTopics(b.bootstrap, ['rounds'], { 'max.message.bytes': String(Math.max(1 << 20, 2 * o.recordBytes)) });
  const p = await runProducerPerformance({
    bootstrap: b.bootstrap,
    topic: 'rounds',
    recordSize: o.recordBytes,
    numRecords: o.records,
    throughput: -1,
    producerProps: { acks: 'all', 'linger.ms': '5', 'batch.size': '262144', 'max.request.size': String(Math.max(2 << 20, 2 * o.recordBytes)) },
    maxWindows: 1000,
    warmupWindows: 0,
    timeoutMs: 600_000,
  });
  out(`${o.broker}: produced ${p.records} records of ${o.recordBytes} B (${p.MiBps.toFixed(1)} MiB/s)`);
  // StreamHouse compacts what was produced before the rounds: up to 2 minutes.
  await waitQuiet(b.pid, 120);
  const hw = await highWatermark(b.bootstrap, 'rounds');
  const rates: number[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    const c0 = processCpuSeconds(b.pid);
    const r = await runConsumerPerformance({ bootstrap: b.bootstrap, topic: 'rounds', messages: hw, group: `rounds-${round}`, timeoutMs: 600_000 });
    const cores = (processCpuSeconds(b.pid) - c0) / (r.fetchMs / 1000);
    rates.push(r.fetchMiBps);
    out(`round ${round}: ${r.fetchMiBps.toFixed(1)} MiB/s, ${Math.round(r.fetchRecordsPerSec)} records/s over ${r.fetchMs} ms of fetching; broker ${cores.toFixed(2)} cores (CPU of the whole round over its fetch time)`);
  }
  const mean = rates.reduce((a, x) => a + x, 0) / rates.length;
  const later = rates.slice(1);
  out(`mean ${mean.toFixed(1)} MiB/s over ${rates.length} rounds${later.length ? `; rounds 2-${rates.length}: ${(later.reduce((a, x) => a + x, 0) / later.length).toFixed(1)}` : ''}`);
} finally {
  await b.stop();
}
