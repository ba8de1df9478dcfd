/**
 * Cheap tests of the test helpers themselves (test/helpers/): ports, the
 * broker process helper (against a fake broker script), etcd, s3rver, MinIO, the
 * Kafka jar cache and the third-party client tools. The slow validation of
 * the client programs against reference Kafka is in
 * test/helpers/reference-clients.test.ts (STREAMHOUSE_REF_TESTS=1).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Etcd3 } from 'etcd3';
import { freePort, freePorts, canConnect } from './helpers/ports.js';
import { startBroker, REPO_ROOT } from './helpers/broker.js';
import { startEtcd } from './helpers/etcd.js';
import { startS3rver } from './helpers/s3rver.js';
import { minioBinary, minioUnavailableReason, startMinio } from './helpers/minio.js';
import { kafkaLibsDir, kafkaLibsPresent, KAFKA_VERSION } from './helpers/kafka-libs.js';
import { runCommand, runKcat, runPython, lastJsonLine, parseKcatLines, CommandError } from './helpers/clients.js';

const FAKE = path.join(REPO_ROOT, 'test', 'helpers', 'fake-broker.mjs');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ports', () => {
  test('freePort returns a bindable loopback port, below the range outgoing connections take theirs from', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1023);
    const [lo] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    expect(port).toBeLessThan(lo!);
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    expect(await canConnect(port)).toBe(true);
    await new Promise<void>((r) => srv.close(() => r()));
    const ps = await freePorts(5);
    expect(new Set(ps).size).toBe(5);
  });
});

describe('startBroker (fake broker script)', () => {
  test('starts, reports logs, restarts on the same port and data dir, stops', async () => {
    const b = await startBroker({ cliPath: FAKE, brokerId: 7, args: ['--extra', 'x'] });
    expect(b.bootstrap).toBe(`127.0.0.1:${b.port}`);
    expect(b.running).toBe(true);
    expect(b.exitCode).toBeNull();
    expect(await canConnect(b.port)).toBe(true);
    expect(b.logs().some((l) => l.includes('"msg":"listening"'))).toBe(true);
    expect(b.logs()).toContain('fake-broker: a line on stderr');
    const starting = b.jsonLogs().find((l) => l.msg === 'starting')!;
    expect(starting.brokerId).toBe('7');
    expect(starting.argv).toEqual([
      'serve', '--listen', b.bootstrap, '--advertise', b.bootstrap, '--data-dir', b.dataDir, '--broker-id', '7', '--extra', 'x',
    ]);
    const pid1 = b.pid;
    await b.restart();
    expect(b.pid).not.toBe(pid1);
    expect(alive(pid1)).toBe(false);
    expect(await canConnect(b.port)).toBe(true);
    expect(fs.readFileSync(path.join(b.dataDir, 'starts.txt'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(b.allLogs().filter((l) => l.includes('"msg":"listening"'))).toHaveLength(2);
    const info = await b.stop();
    expect(info).toEqual({ code: 0, signal: null });
    expect(b.exitCode).toBe(0);
    await b.restart();
    const k = await b.kill();
    expect(k.signal).toBe('SIGKILL');
    const dir = b.dataDir;
    await b.cleanup();
    expect(fs.existsSync(dir)).toBe(false);
  }, 30_000);

  test('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    const b = await startBroker({ cliPath: FAKE, env: { FAKE_BROKER_MODE: 'stubborn' } });
    const t0 = Date.now();
    const info = await b.stop(500);
    expect(info.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(5000);
    await b.cleanup();
  }, 15_000);

  test('a caller-provided data dir is kept', async () => {
    const dir = fs.mkdtempSync(path.join(REPO_ROOT, '.tmp-broker-'));
    try {
      const b = await startBroker({ cliPath: FAKE, dataDir: dir });
      expect(b.dataDir).toBe(dir);
      await b.cleanup();
      expect(fs.existsSync(path.join(dir, 'starts.txt'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);

  test('rejects with the logs when the process exits before listening', async () => {
    await expect(startBroker({ cliPath: FAKE, env: { FAKE_BROKER_MODE: 'crash' } })).rejects.toThrow(
      /exited \(code 3[\s\S]*"msg":"starting"/,
    );
  }, 15_000);

  test('rejects with the logs after the readiness timeout', async () => {
    const err = await startBroker({ cliPath: FAKE, env: { FAKE_BROKER_MODE: 'silent' }, readyTimeoutMs: 1000 }).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/within 1000 ms[\s\S]*command: .*fake-broker\.mjs serve[\s\S]*"msg":"starting"/);
  }, 15_000);

  test('a missing CLI gives a clear error', async () => {
    await expect(startBroker({ cliPath: '/nonexistent/cli.js' })).rejects.toThrow(/does not exist; build first/);
  });
});

describe('etcd', () => {
  test('starts, keeps data across restart and kill, stops', async () => {
    const e = await startEtcd();
    expect(e.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const client = new Etcd3({ hosts: e.endpoint, dialTimeout: 2000 });
    try {
      await client.put('helpers/test').value('v1');
      expect(await client.get('helpers/test').string()).toBe('v1');
      await e.restart();
      expect(await client.get('helpers/test').string()).toBe('v1');
      const info = await e.kill('SIGKILL');
      expect(info && info.signal).toBe('SIGKILL');
      expect(e.running).toBe(false);
      await e.restart();
      expect(await client.get('helpers/test').string()).toBe('v1');
      const st = await e.stop();
      expect(st.signal === null || st.signal === 'SIGTERM').toBe(true);
    } finally {
      client.close();
      await e.cleanup();
    }
    expect(fs.existsSync(e.dataDir)).toBe(false);
  }, 60_000);
});

// MinIO: skipped only when scripts/install-test-deps.sh recorded why it could not build it (minio.ts).
const minioSkip = minioBinary() ? null : minioUnavailableReason();
for (const [name, start] of [
  ['s3rver', startS3rver],
  ['MinIO', startMinio],
] as const) {
  const skip = name === 'MinIO' && minioSkip !== null;
  describe.skipIf(skip)(skip ? `MinIO: not built by scripts/install-test-deps.sh: ${minioSkip}` : name, () => {
    test('starts with buckets; objects survive kill + restart on the same port', async () => {
      const s = await start({ buckets: ['alpha', 'beta'] });
      expect(s.bucket).toBe('alpha');
      expect(s.endpoint).toBe(`http://127.0.0.1:${s.port}`);
      const c = s.client();
      try {
        await c.send(new PutObjectCommand({ Bucket: 'beta', Key: 'a/b', Body: Buffer.from('hello world') }));
        const g = await c.send(new GetObjectCommand({ Bucket: 'beta', Key: 'a/b', Range: 'bytes=6-10' }));
        expect(await g.Body!.transformToString()).toBe('world');
        await s.kill();
        await expect(c.send(new GetObjectCommand({ Bucket: 'beta', Key: 'a/b' }))).rejects.toThrow();
        await s.restart();
        const g2 = await c.send(new GetObjectCommand({ Bucket: 'beta', Key: 'a/b' }));
        expect(await g2.Body!.transformToString()).toBe('hello world');
        expect(s.running).toBe(true);
      } finally {
        c.destroy();
        await s.cleanup();
      }
      expect(fs.existsSync(s.directory)).toBe(false);
    }, 60_000);
  });
}

describe('tools', () => {
  test(`Kafka ${KAFKA_VERSION} jars are in the cache (scripts/install-test-deps.sh)`, () => {
    expect(kafkaLibsPresent(), `no Kafka jars in ${kafkaLibsDir()}: run bash scripts/install-test-deps.sh`).toBe(true);
    const jars = fs.readdirSync(kafkaLibsDir());
    expect(jars).toContain(`kafka-clients-${KAFKA_VERSION}.jar`);
    expect(jars).toContain(`kafka-tools-${KAFKA_VERSION}.jar`);
    expect(jars.some((j) => j.startsWith('slf4j-reload4j'))).toBe(true);
  });

  test('kcat and Debian python3 with both Kafka clients are installed', async () => {
    const k = await runKcat(['-V']);
    expect(k.stdout).toMatch(/kcat/);
    const p = await runCommand('/usr/bin/python3', [
      '-c',
      'import json, confluent_kafka, kafka; print(json.dumps({"ck": confluent_kafka.version()[0], "rd": confluent_kafka.libversion()[0], "kp": kafka.__version__}))',
    ]);
    const v = lastJsonLine<{ ck: string; rd: string; kp: string }>(p.stdout);
    expect(v.kp).toBe('2.0.2');
    expect(v.ck).toMatch(/^1\./);
  }, 30_000);

  test('runPython resolves scripts in compat-tests/python and reports failures with stderr', async () => {
    const err = await runPython('confluent_roundtrip.py', ['--bogus']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).result.code).toBe(2);
    expect((err as Error).message).toMatch(/\/usr\/bin\/python3 .*confluent_roundtrip\.py --bogus[\s\S]*usage:/);
  }, 30_000);

  test('runCommand times out and kills', async () => {
    const err = await runCommand('sleep', ['30'], { timeoutMs: 300 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/timed out after 300 ms/);
  });

  test('parseKcatLines', () => {
    expect(parseKcatLines('0 5 k1 hello world\n1 0  v\n')).toEqual([
      { partition: 0, offset: 5, key: 'k1', value: 'hello world' },
      { partition: 1, offset: 0, key: '', value: 'v' },
    ]);
  });
});
