/**
 * The rows of the matrix: every client available here, how to run it, and
 * which of them the --quick run keeps.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from '../../test/helpers/clients.js';
import { kafkaClasspath, KAFKA_VERSION } from '../../test/helpers/kafka-libs.js';
import type { ClientDef, RunContext, ScenarioId } from './common.js';
import { COMPAT_DIR, compatCache, REPO_ROOT } from './common.js';
import { kafkaCliClient } from './kafka-cli.js';
import { kcatClient } from './kcat.js';
import { runProgram, type ProgramSpec } from './program.js';

const SYSTEM_PYTHON = '/usr/bin/python3';
const venvPython = () => path.join(compatCache(), 'venv', 'bin', 'python');
const goBin = (name: string) => path.join(compatCache(), 'go', 'bin', name);
const nodeRdkafkaDir = () => path.join(compatCache(), 'node-rdkafka');

/** Environment for Debian's python: nothing from a pyenv/venv on PATH leaks in. */
function pyEnv(): NodeJS.ProcessEnv {
  return { PYTHONUNBUFFERED: '1', PYTHONPATH: '', PYTHONHOME: undefined, PYTHONNOUSERSITE: '1' };
}

async function firstLine(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
  try {
    const r = await runCommand(cmd, args, { timeoutMs: 30_000, allowFailure: true, env });
    return (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '';
  } catch (e) {
    return `unknown (${(e as Error).message.split('\n')[0]})`;
  }
}

function exists(p: string, what: string): string | null {
  return fs.existsSync(p) ? null : `${what} missing (${p}); run scripts/install-compat-deps.sh`;
}

function programClient(
  o: Omit<ClientDef, 'run'> & { spec: () => ProgramSpec },
): ClientDef {
  return {
    ...o,
    run: (ctx: RunContext, scenarios: ScenarioId[]) => runProgram(ctx, o.id, o.spec(), scenarios),
  };
}

const QUICK_SCENARIOS: ScenarioId[] = ['metadata', 'topics', 'compression', 'consume', 'idempotent', 'group', 'offsets-by-time', 'configs', 'partitions'];

export function allClients(): ClientDef[] {
  return [
    programClient({
      id: 'java',
      label: 'Java client 3.9',
      quick: true,
      quickScenarios: QUICK_SCENARIOS,
      version: async () => `Apache Kafka Java client (kafka-clients ${KAFKA_VERSION}): producer, consumer, admin`,
      available: async () => exists(path.join(compatCache(), 'java', 'CompatClient.class'), 'compiled CompatClient'),
      spec: () => ({
        cmd: 'java',
        args: [
          '-Xmx384m',
          '-XX:+UseSerialGC',
          '-XX:TieredStopAtLevel=1',
          '-XX:-UsePerfData',
          `-Dlog4j.configuration=file:${path.join(REPO_ROOT, 'scripts', 'kafka', 'log4j-tools.properties')}`,
          '-cp',
          `${path.join(compatCache(), 'java')}${path.delimiter}${kafkaClasspath()}`,
          'CompatClient',
        ],
      }),
    }),
    kafkaCliClient(),
    kcatClient(),
    programClient({
      id: 'confluent-kafka-deb',
      label: 'confluent-kafka (Debian)',
      quick: true,
      version: async () =>
        `python3-confluent-kafka ${await firstLine(SYSTEM_PYTHON, ['-c', 'import confluent_kafka as c; print(getattr(c, "__version__", None) or c.version()[0], "/ librdkafka", c.libversion()[0])'], pyEnv() as Record<string, string>)}`,
      available: async () => exists(SYSTEM_PYTHON, 'Debian python3'),
      spec: () => ({ cmd: SYSTEM_PYTHON, args: [path.join(COMPAT_DIR, 'python', 'compat_confluent.py')], env: pyEnv() }),
    }),
    programClient({
      id: 'confluent-kafka-pypi',
      label: 'confluent-kafka (PyPI)',
      quick: false,
      version: async () => `confluent-kafka ${await firstLine(venvPython(), ['-c', 'import confluent_kafka as c; print(getattr(c, "__version__", None) or c.version()[0], "/ librdkafka", c.libversion()[0])'])} (venv)`,
      available: async () => exists(venvPython(), 'venv'),
      spec: () => ({ cmd: venvPython(), args: [path.join(COMPAT_DIR, 'python', 'compat_confluent.py')], env: { PYTHONUNBUFFERED: '1' } }),
    }),
    programClient({
      id: 'kafka-python',
      label: 'kafka-python (Debian)',
      quick: true,
      version: async () => `python3-kafka ${await firstLine(SYSTEM_PYTHON, ['-c', 'import kafka; print(kafka.__version__)'], pyEnv() as Record<string, string>)}`,
      available: async () => exists(SYSTEM_PYTHON, 'Debian python3'),
      spec: () => ({ cmd: SYSTEM_PYTHON, args: [path.join(COMPAT_DIR, 'python', 'compat_kafka_python.py')], env: pyEnv() }),
    }),
    programClient({
      id: 'aiokafka',
      label: 'aiokafka (PyPI)',
      quick: false,
      version: async () => `aiokafka ${await firstLine(venvPython(), ['-c', 'import aiokafka; print(aiokafka.__version__)'])} (venv)`,
      available: async () => exists(venvPython(), 'venv'),
      spec: () => ({ cmd: venvPython(), args: [path.join(COMPAT_DIR, 'python', 'compat_aiokafka.py')], env: { PYTHONUNBUFFERED: '1' } }),
    }),
    programClient({
      id: 'franz-go',
      label: 'franz-go',
      quick: true,
      version: async () => `franz-go ${goModVersion('github.com/twmb/franz-go ')} (kgo, kadm ${goModVersion('github.com/twmb/franz-go/pkg/kadm ')})`,
      available: async () => exists(goBin('franz'), 'Go program franz'),
      spec: () => ({ cmd: goBin('franz'), args: [] }),
    }),
    programClient({
      id: 'sarama',
      label: 'sarama',
      quick: false,
      version: async () => `IBM/sarama ${goModVersion('github.com/IBM/sarama ')} (protocol version 3.9.0)`,
      available: async () => exists(goBin('sarama'), 'Go program sarama'),
      spec: () => ({ cmd: goBin('sarama'), args: [] }),
    }),
    programClient({
      id: 'kafkajs',
      label: 'kafkajs',
      quick: true,
      version: async () => `kafkajs ${npmVersion('kafkajs')}`,
      available: async () => null,
      spec: () => ({ cmd: process.execPath, args: [path.join(COMPAT_DIR, 'node', 'kafkajs.mjs')] }),
    }),
    programClient({
      id: 'platformatic',
      label: '@platformatic/kafka',
      quick: false,
      version: async () => `@platformatic/kafka ${npmVersion('@platformatic/kafka')}`,
      available: async () => exists(path.join(REPO_ROOT, 'node_modules', '@platformatic', 'kafka', 'package.json'), '@platformatic/kafka (npm ci)'),
      spec: () => ({ cmd: process.execPath, args: [path.join(COMPAT_DIR, 'node', 'platformatic.mjs')] }),
    }),
    programClient({
      id: 'node-rdkafka',
      label: 'node-rdkafka',
      quick: false,
      version: async () =>
        `node-rdkafka ${npmVersion('node-rdkafka', path.join(nodeRdkafkaDir(), 'node_modules'))} / librdkafka ${await firstLine(process.execPath, ['-e', `console.log(require(${JSON.stringify(path.join(nodeRdkafkaDir(), 'node_modules', 'node-rdkafka'))}).librdkafkaVersion)`])} (built here)`,
      available: async () => {
        const failed = path.join(nodeRdkafkaDir(), 'FAILED');
        if (fs.existsSync(failed)) return `node-rdkafka did not build: ${fs.readFileSync(failed, 'utf8').trim().split('\n').slice(-3).join(' ')}`;
        return exists(path.join(nodeRdkafkaDir(), 'node_modules', 'node-rdkafka', 'build', 'Release', 'node-librdkafka.node'), 'node-rdkafka build');
      },
      spec: () => ({ cmd: process.execPath, args: [path.join(COMPAT_DIR, 'node', 'node-rdkafka.mjs')], env: { COMPAT_NODE_RDKAFKA: path.join(nodeRdkafkaDir(), 'node_modules', 'node-rdkafka') } }),
    }),
  ];
}

function npmVersion(name: string, base = path.join(REPO_ROOT, 'node_modules')): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(base, name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function goModVersion(prefix: string): string {
  try {
    const line = fs
      .readFileSync(path.join(COMPAT_DIR, 'go', 'go.mod'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.startsWith(prefix));
    return line?.split(/\s+/)[1] ?? '?';
  } catch {
    return '?';
  }
}
