// Produce hot path micro-benchmark: splitProducedRecords (framing, header
// rules, CRC-32C) + setBaseOffset on 16 KiB v2 batches of 100-byte records.
// Run: npx tsx bench/records-hotpath.ts [seconds]
import { crc32c } from '@node-rs/crc32';
import { buildBatch, recordCountOf, setBaseOffset, setPartitionLeaderEpoch, splitProducedRecords } from '../src/protocol/records/index.js';

const BATCH_BYTES = 16 * 1024;
const RECORD_BYTES = 100;
const seconds = Number(process.argv[2] ?? 3);

function makeBatch(seed: number): Buffer {
  const records = [];
  for (let i = 0; i < BATCH_BYTES / RECORD_BYTES; i++) {
    records.push({ key: null, value: Buffer.alloc(RECORD_BYTES, (seed + i) & 0xff), timestamp: 1700000000000 + i });
  }
  // as many records as fit in 16 KiB, like a producer with batch.size=16384
  for (;;) {
    const b = buildBatch({ records, producerId: 1, producerEpoch: 0, baseSequence: seed * 1000 });
    if (b.length <= BATCH_BYTES) return b;
    records.pop();
  }
}

const batches = Array.from({ length: 64 }, (_, i) => makeBatch(i));
const batchSize = batches[0]!.length;

function run(label: string, body: (b: Buffer, offset: number) => void): void {
  // warm-up
  for (let i = 0; i < 20000; i++) body(batches[i & 63]!, i);
  let n = 0;
  let offset = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) {
      body(batches[n & 63]!, offset);
      offset += 150;
      n++;
    }
    now = process.hrtime.bigint();
  }
  const secs = Number(now - start) / 1e9;
  const mb = (n * batchSize) / (1024 * 1024);
  console.log(`${label.padEnd(44)} ${(mb / secs).toFixed(0).padStart(6)} MiB/s  ${(n / secs / 1000).toFixed(0).padStart(5)}k batches/s`);
}

console.log(`node ${process.version}, batch ${batchSize} bytes, ${recordCountOf(batches[0]!)} records of ${RECORD_BYTES} bytes`);
run('splitProducedRecords + setBaseOffset', (b, offset) => {
  const [stored] = splitProducedRecords(b, { produceVersion: 9 });
  setBaseOffset(stored!, offset);
  setPartitionLeaderEpoch(stored!, 3);
  setBaseOffset(stored!, 0); // a producer sends base offset 0: reset for the next round
});
run('crc32c alone (the floor)', (b) => {
  crc32c(b.subarray(21));
});
