/**
 * Shared types and constants of the compat runner (compat-tests/run.ts).
 *
 * A client program runs scenarios against one broker. Results are per
 * (client, scenario, broker); the matrix shows Kafka's and StreamHouse's side
 * by side.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COMPAT_DIR = path.join(REPO_ROOT, 'compat-tests');

/** ${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}: downloads and builds, outside git. */
export function cacheRoot(): string {
  return process.env.STREAMHOUSE_CACHE || path.join(os.homedir(), '.cache', 'streamhouse');
}
/** What scripts/install-compat-deps.sh prepares: venv, Go binaries, compiled Java, node-rdkafka. */
export function compatCache(): string {
  return path.join(cacheRoot(), 'compat');
}

export type BrokerName = 'kafka' | 'streamhouse';
export const BROKERS: BrokerName[] = ['kafka', 'streamhouse'];

export interface Target {
  name: BrokerName;
  bootstrap: string;
}

export type Status = 'pass' | 'fail' | 'unsupported' | 'not-run';

export interface CellResult {
  status: Status;
  /** pass: what was checked; unsupported: why the client cannot. */
  detail?: string | null;
  /** fail: the error. */
  error?: string | null;
  ms?: number;
}

export type PairResult = Record<BrokerName, CellResult>;

/** The scenarios, in matrix order. Descriptions go into RESULTS.md. */
export const SCENARIOS = [
  { id: 'metadata', title: 'bootstrap and metadata', text: 'connect to the bootstrap address, read the cluster (brokers, controller, cluster id) and a topic\'s partitions and leaders' },
  { id: 'topics', title: 'create/describe/delete topic', text: 'create a 3-partition topic, list and describe it (partitions, leader, replicas, ISR), creating it again fails with TOPIC_ALREADY_EXISTS, delete it, it disappears' },
  { id: 'compression', title: 'produce every codec', text: 'for every codec the client supports (none, gzip, snappy, lz4, zstd): produce 50 records to a new topic and read them back byte for byte' },
  { id: 'consume', title: 'consume exact records', text: 'produce records with null/empty/UTF-8 keys, empty/binary/null values, headers (empty values, repeated keys) and explicit CreateTime timestamps; consume from the beginning and compare offsets, keys, values, headers, timestamps and timestamp type' },
  { id: 'idempotent', title: 'idempotent producer', text: 'enable.idempotence (InitProducerId, sequence numbers), 200 records over 2 partitions; acknowledged offsets contiguous, read back once each' },
  { id: 'group', title: 'group commit and resume', text: 'a group member reads 6 records over 2 partitions, commits and leaves; the committed offsets are 3/3; 4 more records; a new member of the same group gets exactly the 4 new ones; committed 5/5' },
  { id: 'offsets-by-time', title: 'ListOffsets by timestamp', text: '5 records 1 s apart (explicit timestamps); offset for a timestamp between records, before the first, after the last (none); earliest and latest' },
  { id: 'configs', title: 'describe/alter topic configs', text: 'create a topic with retention.ms; DescribeConfigs shows it as a dynamic topic config and defaults as defaults; alter (incremental where the client can) and read back; delete the override; an invalid value is refused' },
  { id: 'partitions', title: 'create partitions', text: 'grow a topic from 1 to 3 partitions, see 3 in metadata, a decrease is refused, produce to and consume from the new partition 2' },
] as const;

export type ScenarioId = (typeof SCENARIOS)[number]['id'];
export const SCENARIO_IDS: ScenarioId[] = SCENARIOS.map((s) => s.id);

export interface RunContext {
  /** Short random id shared by both brokers: topic and group names are equal on both, so outputs compare. */
  runId: string;
  targets: Target[];
  /** Per-client program timeout budget multiplier etc. */
  quick: boolean;
  verbose: boolean;
  log(msg: string): void;
}

export interface ClientDef {
  id: string;
  /** Row label in the matrix. */
  label: string;
  /** Library and version, e.g. "kafka-clients 3.9.0" (filled by version()). */
  version(): Promise<string>;
  /** null when runnable; otherwise why not (every cell is then marked not-run with this reason). */
  available(): Promise<string | null>;
  /** Runs `scenarios` against every target; results keyed by scenario then broker. */
  run(ctx: RunContext, scenarios: ScenarioId[]): Promise<Map<string, PairResult>>;
  /** In the --quick run. */
  quick: boolean;
  /** Scenarios of the --quick run (default: all). */
  quickScenarios?: ScenarioId[];
}

export function topicName(client: string, scenario: string, runId: string): string {
  return `compat-${client}-${scenario}-${runId}`;
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** One line, at most n characters (for matrix notes). */
export function oneLine(s: string, n = 600): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? t.slice(0, n - 1) + '…' : t;
}
