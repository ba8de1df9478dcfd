/**
 * The command line: `streamhouse serve --help`, errors for bad flags (exit 2),
 * every option as a STREAMHOUSE_* environment variable (the table in
 * src/config.ts is walked, so a new option without a test value fails here),
 * precedence flag > env > config file, and pino JSON logs on stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { envName, OPTIONS } from '../../src/config.js';
import { REPO_ROOT } from '../helpers/broker.js';
import { kcatMetadata, kcatProduce, runCommand } from '../helpers/clients.js';
import { canConnect, freePort, freePorts } from '../helpers/ports.js';
import { makeTempDir, registerCleanup, unwatchGroup, watchGroup } from '../helpers/process.js';
import { CreateTopicsApi } from '../../src/protocol/generated/create-topics.js';
import { MetadataApi } from '../../src/protocol/generated/metadata.js';
import { CLI, uniqueTopic, waitFor } from './common.js';
import { rawFrame, withConnection, WireConnection } from './wire.js';

const tmp = makeTempDir('streamhouse-e2e-cli-');
afterAll(() => tmp.remove());

/** process.env without any STREAMHOUSE_* setting of the test runner's own. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STREAMHOUSE_')) env[k] = v;
  return { ...env, ...extra };
}

function cli(args: string[], env: Record<string, string> = {}) {
  return runCommand(process.execPath, [CLI, ...args], { env: cleanEnv(env) as Record<string, string>, allowFailure: true, timeoutMs: 30_000 });
}

/** `serve` with stdout and stderr kept apart. */
class Serve {
  readonly child: ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly unregister: () => void;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: REPO_ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pid = this.child.pid!;
    watchGroup(pid);
    const kill = () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    this.unregister = registerCleanup(async () => kill(), kill);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.unregister();
        unwatchGroup(pid);
        resolve({ code, signal });
      }),
    );
    for (const [stream, lines] of [
      [this.child.stdout!, this.stdout],
      [this.child.stderr!, this.stderr],
    ] as const) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
  }

  json(): Array<Record<string, unknown>> {
    return this.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async waitFor(msg: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    return waitFor(
      () => {
        const hit = this.stdout.find((l) => l.includes(`"msg":"${msg}"`));
        if (hit) return JSON.parse(hit) as Record<string, unknown>;
        if (exited) throw new Error(`exited before "${msg}"\n${this.stdout.join('\n')}\n${this.stderr.join('\n')}`);
        return undefined;
      },
      timeoutMs,
      `"${msg}" log line`,
    );
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    try {
      process.kill(this.child.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    return this.exited;
  }
}

// each case is a short-lived node process: run them side by side
describe.concurrent('arguments', () => {
  test('serve --help exits 0 and lists every option with its environment variable', async () => {
    const r = await cli(['serve', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: streamhouse serve [options]');
    for (const o of OPTIONS) {
      expect(r.stdout).toContain(`--${o.flag}`);
      expect(r.stdout).toContain(envName(o.flag));
    }
    expect(r.stderr).toBe('');
  });

  test('an unknown flag exits 2 with a message', async () => {
    const r = await cli(['serve', '--no-such-flag', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option --no-such-flag/);
    expect(r.stdout).toBe('');
  });

  test.each([
    [['serve', '--num-partitions', 'abc'], /--num-partitions must be an integer/],
    [['serve', '--num-partitions', '0'], /--num-partitions must be at least 1/],
    [['serve', '--listen', 'nonsense:port'], /--listen must be HOST:PORT/],
    [['serve', '--auto-create-topics', 'maybe'], /unexpected argument maybe/],
    [['serve', '--broker-id'], /--broker-id needs a value/],
    [['serve', 'positional'], /unexpected argument positional/],
    [['frobnicate'], /unknown command frobnicate/],
  ])('%j exits 2: %s', async (args, message) => {
    const r = await cli(args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  test('a bad value in an environment variable exits 2 naming the option', async () => {
    const r = await cli(['serve'], { STREAMHOUSE_NUM_PARTITIONS: 'lots' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--num-partitions must be an integer, got lots/);
  });
});

describe('environment variables', () => {
  test('every option works as STREAMHOUSE_<FLAG>', async () => {
    const [port, metricsPort] = await freePorts(2);
    const dataDir = path.join(tmp.dir, 'env-broker');
    const objects = path.join(tmp.dir, 'env-objects');
    // values different from every default; the config line of the "starting" log must show them
    const known: Record<string, [string, Record<string, unknown>]> = {
      listen: [`127.0.0.1:${port}`, { listenHost: '127.0.0.1', listenPort: port }],
      advertise: [`127.0.0.1:${port}`, { advertisedHost: '127.0.0.1', advertisedPort: port }],
      'data-dir': [dataDir, { dataDir }],
      storage: [`file://${objects}`, { storage: `file://${objects}` }],
      's3-endpoint': ['http://127.0.0.1:1', { s3Endpoint: 'http://127.0.0.1:1' }],
      's3-region': ['eu-west-3', { s3Region: 'eu-west-3' }],
      metadata: ['embedded', { metadata: 'embedded' }],
      'etcd-prefix': ['/e2e-prefix', { etcdPrefix: '/e2e-prefix' }], // only used with etcd://
      'broker-id': ['7', { brokerId: 7 }],
      rack: ['rack-e2e', { rack: 'rack-e2e' }],
      'auto-create-topics': ['false', { autoCreateTopics: false }],
      'num-partitions': ['3', { numPartitions: 3 }],
      'max-request-bytes': ['2000000', { maxRequestBytes: 2_000_000 }],
      'message-max-bytes': ['500000', { messageMaxBytes: 500_000 }],
      'metrics-listen': [`127.0.0.1:${metricsPort}`, { metricsListen: `127.0.0.1:${metricsPort}` }],
      'log-level': ['debug', { logLevel: 'debug' }],
    };
    const env: Record<string, string> = {};
    const expected: Record<string, unknown> = {};
    const uncovered: string[] = [];
    for (const o of OPTIONS) {
      if (o.flag === 'config') continue; // its own test below
      const k = known[o.flag];
      if (k) {
        env[envName(o.flag)] = k[0];
        Object.assign(expected, k[1]);
      } else if (o.type === 'int' && o.default !== undefined) {
        env[envName(o.flag)] = String(Number(o.default) + 1);
        expected[o.key] = Number(o.default) + 1;
      } else if (o.type === 'boolean' && o.default !== undefined) {
        const flipped = !/^(true|1)$/i.test(o.default);
        env[envName(o.flag)] = String(flipped);
        expected[o.key] = flipped;
      } else uncovered.push(o.flag);
    }
    expect(uncovered, 'options without a test value in test/e2e/cli.test.ts').toEqual([]);

    const s = new Serve([], env);
    try {
      const starting = await s.waitFor('starting');
      expect(starting.config).toMatchObject(expected);
      await s.waitFor('listening');

      // and they act: broker id and address in metadata, no auto-creation, 3 default partitions,
      // the request size limit, the metrics listener
      const md = await kcatMetadata(`127.0.0.1:${port}`);
      expect(md.brokers).toEqual([{ id: 7, name: `127.0.0.1:${port}` }]);
      const missing = uniqueTopic('env-missing');
      const m = await withConnection(port, (c) => c.request(MetadataApi, 12, { topics: [{ name: missing }], allowAutoTopicCreation: true, includeTopicAuthorizedOperations: false }));
      expect(m.topics[0]!.errorCode).toBe(3); // UNKNOWN_TOPIC_OR_PARTITION: auto-creation is off
      expect(m.brokers[0]!.rack).toBe('rack-e2e');
      const defaultTopic = uniqueTopic('env-default');
      const created = await withConnection(port, (c) =>
        c.request(CreateTopicsApi, 7, { topics: [{ name: defaultTopic, numPartitions: -1, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false }),
      );
      expect(created.topics[0]).toMatchObject({ errorCode: 0, numPartitions: 3 });
      const big = await WireConnection.connect(port);
      await big.write(rawFrame(3, 1, 1, Buffer.alloc(2_100_000)));
      expect((await big.waitClosed(5000)).closed).toBe(true); // above max-request-bytes
      big.close();
      const metrics = await httpGet(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(/^# (HELP|TYPE) /m);
      // data goes to the storage URL given
      await kcatProduce({ bootstrap: `127.0.0.1:${port}`, topic: defaultTopic, lines: ['x'], partition: 2 });
      expect(fs.readdirSync(objects, { recursive: true }).length).toBeGreaterThan(0);
    } finally {
      expect((await s.stop()).code).toBe(0);
    }
  });

  test('precedence: flag over environment over config file (STREAMHOUSE_CONFIG)', async () => {
    const port = await freePort();
    const file = path.join(tmp.dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ 'broker-id': 5, rack: 'from-file', 'num-partitions': 2, 'data-dir': path.join(tmp.dir, 'cfg-broker') }));
    const s = new Serve(['--rack', 'from-flag', '--listen', `127.0.0.1:${port}`], {
      STREAMHOUSE_CONFIG: file,
      STREAMHOUSE_BROKER_ID: '6',
      STREAMHOUSE_RACK: 'from-env',
    });
    try {
      const starting = await s.waitFor('starting');
      expect(starting.config).toMatchObject({ brokerId: 6, rack: 'from-flag', numPartitions: 2, dataDir: path.join(tmp.dir, 'cfg-broker'), listenPort: port });
      await s.waitFor('listening');
    } finally {
      expect((await s.stop()).code).toBe(0);
    }
  });
});

describe('logs', () => {
  test('STREAMHOUSE_LOG_LEVEL=warn: no info lines, a warning still logged', async () => {
    const port = await freePort();
    const s = new Serve(['--listen', `127.0.0.1:${port}`, '--data-dir', path.join(tmp.dir, 'warn-broker')], { STREAMHOUSE_LOG_LEVEL: 'warn' });
    try {
      await waitFor(() => canConnect(port), 20_000, 'the listener');
      const c = await WireConnection.connect(port);
      await c.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
      await c.waitClosed(5000);
      c.close();
      await s.waitFor('closing connection');
    } finally {
      expect((await s.stop()).code).toBe(0);
    }
    const levels = new Set(s.json().map((l) => l.level));
    expect([...levels]).toEqual(['warn']);
  });

  test('pino JSON lines on stdout: starting, recovery done, listening, topic created, shutdown; recovery on restart', async () => {
    const port = await freePort();
    const dataDir = path.join(tmp.dir, 'log-broker');
    const args = ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir];
    const s = new Serve(args);
    const topic = uniqueTopic('log-topic');
    try {
      await s.waitFor('listening');
      await kcatProduce({ bootstrap: `127.0.0.1:${port}`, topic, lines: ['a'] });
      const created = await s.waitFor('topic created');
      expect(created).toMatchObject({ topic, partitions: 1 });
    } finally {
      expect(await s.stop()).toEqual({ code: 0, signal: null });
    }
    expect(s.stderr).toEqual([]);
    const lines = s.json(); // throws if any stdout line is not JSON
    for (const l of lines) {
      expect(typeof l.level).toBe('string');
      expect(typeof l.msg).toBe('string');
      expect(l.pid).toBe(s.child.pid);
      expect(Number.isNaN(Date.parse(String(l.time)))).toBe(false);
    }
    const msgs = lines.map((l) => l.msg);
    for (const m of ['starting', 'recovery done', 'listening', 'topic created', 'signal received', 'stopped']) expect(msgs).toContain(m);
    expect(msgs.indexOf('starting')).toBeLessThan(msgs.indexOf('listening'));
    expect(lines.find((l) => l.msg === 'listening')).toMatchObject({ port, advertised: `127.0.0.1:${port}` });

    // a restart on the same data dir recovers the topic and says so
    const again = new Serve(args);
    try {
      const rec = await again.waitFor('recovery done');
      expect(rec).toMatchObject({ topics: 1, partitions: 1 });
      await again.waitFor('listening');
    } finally {
      expect((await again.stop()).code).toBe(0);
    }
  });
});

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}
