/**
 * franz-go's producer as a bench client (bench/go/franzbench): built with the
 * machine's Go from the module proxy into
 * ${STREAMHOUSE_CACHE:-~/.cache/streamhouse}/bench/go/ (outside git), rebuilt
 * when its sources or the Go version change.
 *
 * Why a third producer: the Java client (ProducerPerformance) and librdkafka
 * bound the 100 B figures on this 2-core machine themselves. The Java client
 * needs most of a core for 500-700K records/s, and librdkafka 2.0.2's
 * idempotent producer keeps one ProduceRequest in flight (librdkafka PR #4989),
 * so its rate is one batch per broker acknowledgement. franz-go pipelines five
 * requests and costs little CPU per record, so it shows what the broker itself
 * takes.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CommandError, lastJsonLine, REPO_ROOT, runCommand } from '../../test/helpers/clients.js';
import { streamhouseCacheDir } from '../../test/helpers/kafka-libs.js';
import { lastLines } from './kafka-tools.js';

const SRC = path.join(REPO_ROOT, 'bench', 'go');

export interface FranzProduceResult {
  sent: number;
  acked: number;
  errors: number;
  first_error: string;
  seconds: number;
  produce_seconds: number;
  records_per_sec: number;
  mib_per_sec: number;
  /** Produce call to acknowledgement, every 100th record: includes the time in the client's buffer. */
  p50_ms: number;
  p99_ms: number;
}

function sourceHash(): string {
  const h = crypto.createHash('sha256');
  for (const f of ['go.mod', 'go.sum', path.join('franzbench', 'main.go')]) h.update(fs.readFileSync(path.join(SRC, f)));
  const go = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  h.update(go.stdout ?? '');
  return h.digest('hex').slice(0, 16);
}

/** The franzbench binary, built first when missing or stale; throws with go's output when it cannot be built. */
export function ensureFranzBench(): string {
  const dir = path.join(streamhouseCacheDir(), 'bench', 'go');
  const bin = path.join(dir, 'bin', 'franzbench');
  const stamp = `${bin}.hash`;
  const hash = sourceHash();
  if (fs.existsSync(bin) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === hash) return bin;
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  const r = spawnSync('go', ['build', '-trimpath', '-o', bin, './franzbench'], {
    cwd: SRC,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, GOMODCACHE: path.join(dir, 'mod'), GOCACHE: path.join(dir, 'build'), GOFLAGS: '-modcacherw', GOTOOLCHAIN: 'local' },
  });
  if (r.status !== 0) throw new Error(`go build ./franzbench failed: ${lastLines(`${r.stderr ?? ''}${r.error?.message ?? ''}`, 6)}`);
  fs.writeFileSync(stamp, hash);
  return bin;
}

/** Builds the client before any measurement, so a first build's compile does not share the CPU with one; a failure is logged (its runs then fail). */
export function buildFranzBenchFirst(log: (line: string) => void): void {
  try {
    log(`franz-go bench client: ${ensureFranzBench()}`);
  } catch (err) {
    log(`franz-go bench client: ${(err as Error).message} (its runs will fail)`);
  }
}

export async function franzProduce(o: {
  bootstrap: string;
  topic: string;
  recordSize: number;
  seconds: number;
  /** Records/s to pace to; absent: as fast as acknowledged. */
  rate?: number;
  /** kgo.ProducerBatchMaxBytes; default 1 MB (kgo's), 2 MB for records over 512 KiB (the topic must allow it). */
  batchMaxBytes?: number;
  /** A different random value for every record (incompressible), instead of one value for all. */
  distinctValues?: boolean;
}): Promise<FranzProduceResult & { command: string }> {
  const bin = ensureFranzBench();
  const batchMax = o.batchMaxBytes ?? (o.recordSize > 512 * 1024 ? 2_000_000 : 1_000_000);
  const args = ['-brokers', o.bootstrap, '-topic', o.topic, '-record-bytes', String(o.recordSize), '-seconds', String(o.seconds), '-batch-max-bytes', String(batchMax)];
  if (o.rate) args.push('-rate', String(o.rate));
  if (o.distinctValues) args.push('-distinct-values');
  let res: FranzProduceResult;
  let command: string;
  try {
    const r = await runCommand(bin, args, { timeoutMs: (o.seconds + 90) * 1000 });
    res = lastJsonLine<FranzProduceResult>(r.stdout);
    command = r.command;
  } catch (err) {
    if (err instanceof CommandError) throw new Error(`franzbench exit ${err.result.code}: ${lastLines(err.result.stderr || err.result.stdout, 4)}`);
    throw err;
  }
  if (res.acked <= 0) throw new Error(`franz-go acknowledged nothing (sent ${res.sent}, errors ${res.errors}: ${res.first_error})`);
  return { ...res, command: command.replace(bin, 'franzbench') };
}
