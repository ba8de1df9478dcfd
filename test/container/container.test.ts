/**
 * The container image: builds the repo's unmodified Dockerfile with buildah
 * (no Docker daemon or registry here; see ../shared/container/README.md),
 * checks what is in the image, then runs the broker from it twice on the
 * same /data volume, producing before a SIGTERM stop and consuming after the
 * restart.
 *
 *   buildah --storage-driver vfs bud --pull=never --isolation chroot --network host \
 *     --format docker -t localhost/streamhouse:test-<pid> <repo>
 *   buildah --storage-driver vfs run --isolation chroot --network host --user <image user> \
 *     -v <tmp>:/data <container> -- <entrypoint + cmd> --listen 127.0.0.1:P --advertise 127.0.0.1:P
 *
 * `--format docker` keeps the Dockerfile's HEALTHCHECK (the OCI format drops
 * it), so the test can run it too; nothing else differs from the plain build.
 *
 * The base image (a local stand-in for node:20-bookworm-slim) is made by
 * ../shared/container/make-base-image.sh when missing; that script also
 * installs buildah and debootstrap from Debian when they are missing, so on a
 * fresh machine (root, apt) this test installs what it needs. It is skipped,
 * with the reason in its name, only when buildah is missing and cannot be
 * installed that way, or when STREAMHOUSE_CONTAINER_TEST=0.
 *
 * Stopping: `buildah run` answers SIGTERM by SIGKILLing its child, so the
 * test sends SIGTERM to the node process inside (what `docker stop` does to
 * the container's pid 1) and then checks with /proc that no process of the
 * run is left. Working containers and the test image are removed afterwards
 * (also from the process exit hook if the test dies).
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from '../helpers/ports.js';
import { makeTempDir, ManagedProcess, registerCleanup, shellQuote, sleep, unwatchGroup, watchGroup } from '../helpers/process.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAKE_BASE = path.resolve(REPO_ROOT, '..', 'shared', 'container', 'make-base-image.sh');
const BASE_IMAGE = 'docker.io/library/node:20-bookworm-slim';
const IMAGE = `localhost/streamhouse:test-${process.pid}`;
const B = ['--storage-driver', 'vfs'];

// ------------------------------------------------------------ can it run here?

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function skipReason(): string | null {
  if (process.env.STREAMHOUSE_CONTAINER_TEST === '0') return 'STREAMHOUSE_CONTAINER_TEST=0';
  if (onPath('buildah')) return null;
  const root = process.getuid?.() === 0;
  if (root && onPath('apt-get') && fs.existsSync(MAKE_BASE)) return null; // make-base-image.sh installs it
  return `buildah is not installed and cannot be installed here (${
    !root ? 'not root' : !onPath('apt-get') ? 'no apt-get' : `no ${MAKE_BASE}`
  }); apt-get install buildah debootstrap, then run ${MAKE_BASE}`;
}

const SKIP = skipReason();
if (SKIP) console.warn(`[container test] skipped: ${SKIP}`);

// ------------------------------------------------------------ helpers

interface Run {
  code: number | null;
  out: string;
}

/** Runs a command to completion as a tracked process group (killed if we die), with a timeout. */
async function run(cmd: string, args: string[], timeoutMs: number, name = cmd, env?: NodeJS.ProcessEnv): Promise<Run> {
  const p = new ManagedProcess(cmd, args, { name, env });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
  const r = await Promise.race([p.exited, timedOut]);
  clearTimeout(timer);
  if (r === 'timeout') {
    await p.kill('SIGKILL');
    throw new Error(`${name}: timed out after ${timeoutMs} ms\n${p.describe()}`);
  }
  await sleep(20); // let the stream 'end' handlers flush
  return { code: r.code, out: p.lines.join('\n') };
}

async function mustRun(cmd: string, args: string[], timeoutMs: number, name = cmd, env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(cmd, args, timeoutMs, name, env);
  if (r.code !== 0) {
    throw new Error(`${name} failed (exit ${r.code}): ${[cmd, ...args].map(shellQuote).join(' ')}\n${r.out.slice(-6000)}`);
  }
  return r.out;
}

/** A quick buildah command's stdout alone (stderr may carry warnings). */
async function buildahOut(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('buildah', [...B, ...args], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

function buildahSync(...args: string[]): void {
  spawnSync('buildah', [...B, ...args], { stdio: 'ignore', timeout: 60_000 });
}

/** pid -> { ppid, comm, state } for every process now. */
function processTable(): Map<number, { ppid: number; comm: string; state: string }> {
  const table = new Map<number, { ppid: number; comm: string; state: string }>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const [state, ppid] = stat.slice(close + 2).split(' ');
      table.set(Number(e), { ppid: Number(ppid), comm, state: state! });
    } catch {
      /* gone meanwhile */
    }
  }
  return table;
}

/** Live (not zombie) descendants of `pid`, nearest first. */
function liveDescendants(pid: number): Array<{ pid: number; comm: string }> {
  const table = processTable();
  const out: Array<{ pid: number; comm: string }> = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [p, info] of table) {
      if (info.ppid !== parent) continue;
      queue.push(p);
      if (info.state !== 'Z') out.push({ pid: p, comm: info.comm });
    }
  }
  return out;
}

/** Live (not zombie) processes whose process group is `pgid`. */
function liveInGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

function uidOf(pid: number): number {
  const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

// ------------------------------------------------------------ the image

interface ImageConfig {
  User?: string;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[];
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  WorkingDir?: string;
  Healthcheck?: { Test?: string[] };
}

let config: ImageConfig;
let healthcheck: string[] | undefined;
const containers: string[] = [];
let imageBuilt = false;
const timings: Record<string, number> = {};

async function newContainer(): Promise<string> {
  const name = `streamhouse-test-${process.pid}-${containers.length}`;
  containers.push(name);
  await mustRun('buildah', [...B, 'from', '--pull=never', '--name', name, IMAGE], 120_000, 'buildah from');
  return name;
}

/** One working container for the whole file (with vfs, `buildah from` copies the whole image). */
let working: Promise<string> | undefined;
function workingContainer(): Promise<string> {
  return (working ??= newContainer());
}

function removeContainersSync(): void {
  for (const c of containers.splice(0)) buildahSync('rm', c);
}

registerCleanup(
  async () => {
    for (const c of containers.splice(0)) await run('buildah', [...B, 'rm', c], 60_000).catch(() => undefined);
    if (imageBuilt) await run('buildah', [...B, 'rmi', IMAGE], 60_000).catch(() => undefined);
    imageBuilt = false;
  },
  () => {
    removeContainersSync();
    if (imageBuilt) buildahSync('rmi', IMAGE);
  },
);

describe.skipIf(SKIP !== null)(`container image (Dockerfile, buildah)${SKIP ? ` — skipped: ${SKIP}` : ''}`, () => {
  beforeAll(async () => {
    // Base image (and buildah itself, when missing): idempotent, ~1-2 min the first time on a machine.
    let t = Date.now();
    if (!fs.existsSync(MAKE_BASE)) {
      const have = await run('buildah', [...B, 'images', '--quiet', BASE_IMAGE], 60_000);
      if (have.code !== 0 || !have.out.trim()) throw new Error(`base image ${BASE_IMAGE} missing and no ${MAKE_BASE} to build it`);
    } else {
      // debootstrap lives in /usr/sbin, which a non-login PATH may lack
      const PATH = [...new Set([...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'])].filter(Boolean).join(':');
      await mustRun('bash', [MAKE_BASE], 600_000, 'make-base-image.sh', { ...process.env, PATH, DEBIAN_FRONTEND: 'noninteractive' });
    }
    timings.baseImageMs = Date.now() - t;

    t = Date.now();
    await mustRun(
      'buildah',
      [...B, 'bud', '--pull=never', '--isolation', 'chroot', '--network', 'host', '--format', 'docker', '-t', IMAGE, REPO_ROOT],
      600_000,
      'buildah bud',
    );
    imageBuilt = true;
    timings.buildMs = Date.now() - t;

    const inspect = JSON.parse(await buildahOut('inspect', '--type', 'image', IMAGE)) as {
      OCIv1: { config: ImageConfig };
      Docker?: { config?: ImageConfig };
    };
    config = inspect.OCIv1.config;
    healthcheck = inspect.Docker?.config?.Healthcheck?.Test;
  }, 15 * 60_000);

  afterAll(async () => {
    if (imageBuilt) {
      const size = await buildahOut('images', '--format', '{{.Size}}', IMAGE).catch(() => '?');
      console.log(
        `[container test] base image ${(timings.baseImageMs! / 1000).toFixed(0)} s, build ${(timings.buildMs! / 1000).toFixed(0)} s, image size ${size.trim()}`,
      );
    }
    // The registered cleanup removes the containers and the image (also if we die).
  }, 120_000);

  test('image config: non-root user, /data volume, port 9092, serve entrypoint, env defaults', () => {
    expect(config.User).toBeTruthy();
    expect(['root', '0', '0:0']).not.toContain(config.User);
    expect(Object.keys(config.Volumes ?? {})).toContain('/data');
    expect(Object.keys(config.ExposedPorts ?? {})).toContain('9092/tcp');
    const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    expect(argv.join(' ')).toMatch(/node .*dist\/src\/cli\.js serve$/);
    expect(config.Env).toContain('STREAMHOUSE_LISTEN=0.0.0.0:9092');
    expect(config.Env).toContain('STREAMHOUSE_DATA_DIR=/data');
    expect(healthcheck?.[0]).toBe('CMD');
  });

  test('image contents: compiled JS and production dependencies only', async () => {
    const c = await workingContainer();
    const root = (await buildahOut('mount', c)).trim();
    try {
      const app = path.join(root, config.WorkingDir || '/app');
      expect(fs.existsSync(path.join(app, 'dist', 'src', 'cli.js'))).toBe(true);
      expect(JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')).type).toBe('module');
      // production dependencies present (with their native binaries); no package that the
      // lockfile marks dev-only (dev dependencies and what only they pull in)
      const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      const prod = Object.keys(pkg.dependencies ?? {});
      expect(prod.length).toBeGreaterThan(0);
      for (const dep of prod) expect(fs.existsSync(path.join(app, 'node_modules', dep)), dep).toBe(true);
      const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
        packages: Record<string, { dev?: boolean }>;
      };
      const devOnly = Object.entries(lock.packages).filter(([p, e]) => p.startsWith('node_modules/') && e.dev).map(([p]) => p);
      expect(devOnly.length).toBeGreaterThan(0);
      expect(devOnly.filter((p) => fs.existsSync(path.join(app, p))), 'dev-only packages in the image').toEqual([]);
      expect(fs.existsSync(path.join(app, 'node_modules', 'typescript')), 'typescript').toBe(false);
      // no sources, tests, source maps or git metadata
      for (const p of ['src', 'test', 'compat-tests', 'bench', 'scripts', '.git', 'tsconfig.json']) {
        expect(fs.existsSync(path.join(app, p)), p).toBe(false);
      }
      const maps: string[] = [];
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(path.join(d, e.name));
          else if (e.name.endsWith('.map') || e.name.endsWith('.ts')) maps.push(path.join(d, e.name));
        }
      };
      walk(path.join(app, 'dist'));
      expect(maps).toEqual([]);
      // the volume's mount point belongs to the image user (named volumes copy it)
      const passwd = fs.readFileSync(path.join(root, 'etc', 'passwd'), 'utf8');
      const user = config.User!.split(':')[0]!;
      const uid = /^\d+$/.test(user) ? Number(user) : Number(passwd.split('\n').find((l) => l.startsWith(`${user}:`))?.split(':')[2]);
      expect(fs.statSync(path.join(root, 'data')).uid).toBe(uid);
    } finally {
      await run('buildah', [...B, 'umount', c], 60_000);
    }
  }, 120_000);

  test('broker from the image keeps produced messages across SIGTERM and restart on the same /data volume', async () => {
    const user = config.User!;
    const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    const data = makeTempDir('sh-container-');
    const unregisterDir = registerCleanup(
      async () => data.remove(),
      () => data.remove(),
    );
    const c = await workingContainer();
    // A bind-mounted host dir must be writable by the image user (as a named volume would be).
    const ids = await buildahOut('run', '--isolation', 'chroot', '--network', 'host', '--user', user, c, '--', 'sh', '-c', 'echo "$(id -u):$(id -g)"');
    const [uid, gid] = ids.trim().split('\n').pop()!.split(':').map(Number) as [number, number];
    fs.chownSync(data.dir, uid, gid);

    // `-v DIR:/data/`, not `-v DIR:/data`: buildah 1.28 (Debian bookworm) mounts its own anonymous
    // volume for the image's VOLUME /data and drops a -v/--mount with the very same destination
    // string, so the broker would write into buildah's per-container volume and the host dir stays
    // empty. With the trailing slash both are mounted, the host dir on top. (Docker and podman
    // honour -v DIR:/data.) The test checks that the host dir is really written.
    const port = await freePort();
    const bootstrap = `127.0.0.1:${port}`;

    /** Starts the broker in container `c` and waits for its listening line; returns the process and the node pid inside. */
    const start = async (label: string) => {
      const t0 = Date.now();
      const p = new ManagedProcess(
        'buildah',
        [...B, 'run', '--isolation', 'chroot', '--network', 'host', '--user', user, '-v', `${data.dir}:/data/`, c, '--', ...argv, '--listen', bootstrap, '--advertise', bootstrap],
        // Not the helper's watchdog: it SIGKILLs the group as soon as buildah run exits, which
        // would hide a process left behind. The group is watched by hand until checked below.
        { name: `container-${label}`, watchdog: false },
      );
      watchGroup(p.pid);
      await p.waitForLine((l) => l.includes('"msg":"listening"'), 90_000, 'listening line');
      timings[`${label}StartMs`] = Date.now() - t0;
      const starting = p.lines.map((l) => { try { return JSON.parse(l) as Record<string, any>; } catch { return null; } }).find((j) => j?.msg === 'starting');
      expect(starting?.config?.dataDir, 'data dir from STREAMHOUSE_DATA_DIR').toBe('/data');
      const node = liveDescendants(p.pid).filter((d) => d.comm === 'node');
      expect(node, `node process under buildah run ${p.pid}`).toHaveLength(1);
      expect(uidOf(node[0]!.pid), 'broker runs as the image user').toBe(uid);
      return { p, nodePid: node[0]!.pid };
    };

    /** SIGTERM to the broker inside (as `docker stop` does), then: buildah run exits 0 and nothing of it is left. */
    const stop = async ({ p, nodePid }: { p: ManagedProcess; nodePid: number }) => {
      process.kill(nodePid, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([p.exited, new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), 40_000)))]);
      clearTimeout(timer);
      if (r === 'timeout') {
        await p.kill('SIGKILL');
        throw new Error(`broker in the container did not stop within 40 s of SIGTERM\n${p.describe()}`);
      }
      expect(r, p.describe()).toEqual({ code: 0, signal: null });
      expect(p.lines.some((l) => l.includes('"signal":"SIGTERM"'))).toBe(true);
      expect(p.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
      // Nothing of that run may be left: not the node process, not buildah's helpers.
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && (liveInGroup(p.pid).length > 0 || liveDescendants(p.pid).length > 0)) await sleep(100);
      const left = liveInGroup(p.pid);
      if (left.length === 0) unwatchGroup(p.pid);
      else p.killGroupRemnants();
      expect(left, `processes left in group ${p.pid}`).toEqual([]);
      const st = (() => { try { return fs.readFileSync(`/proc/${nodePid}/stat`, 'utf8'); } catch { return null; } })();
      expect(st === null || / Z /.test(st.slice(st.lastIndexOf(')'))), `node ${nodePid} still alive: ${st}`).toBe(true);
    };

    const kafka = new Kafka({ clientId: 'container-test', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
    const topic = `container-${process.pid}`;
    const N = 300;
    const expected = Array.from({ length: N }, (_, i) => `message-${i}`);

    // ---- first run: create the topic, produce
    const first = await start('first');
    try {
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      for (let i = 0; i < N; i += 50) {
        await producer.send({ topic, acks: -1, messages: expected.slice(i, i + 50).map((value, j) => ({ key: `k${i + j}`, value })) });
      }
      await producer.disconnect();
      // the healthcheck command passes against the running broker (run in the same image)
      if (healthcheck?.[0] === 'CMD') {
        const hc = await run('buildah', [...B, 'run', '--isolation', 'chroot', '--network', 'host', '--user', user, '-e', `STREAMHOUSE_LISTEN=${bootstrap}`, c, '--', ...healthcheck.slice(1)], 60_000, 'healthcheck');
        expect(hc.code, hc.out).toBe(0);
      }
    } finally {
      await stop(first);
    }
    if (healthcheck?.[0] === 'CMD') {
      const hc = await run('buildah', [...B, 'run', '--isolation', 'chroot', '--network', 'host', '--user', user, '-e', `STREAMHOUSE_LISTEN=${bootstrap}`, c, '--', ...healthcheck.slice(1)], 60_000, 'healthcheck');
      expect(hc.code, 'healthcheck fails with the broker down').not.toBe(0);
    }
    expect(fs.readdirSync(data.dir).length, 'broker wrote to the volume').toBeGreaterThan(0);

    // ---- second run, same volume: consume everything
    const second = await start('second');
    try {
      const consumer = kafka.consumer({ groupId: `container-${process.pid}`, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
      const got: string[] = [];
      let allIn!: () => void;
      const done = new Promise<void>((r) => (allIn = r));
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          got.push(message.value!.toString());
          if (got.length >= N) allIn();
        },
      });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, 60_000)))]);
      clearTimeout(timer);
      await consumer.disconnect();
      expect(got.length).toBe(N);
      expect([...got].sort()).toEqual([...expected].sort());
    } finally {
      await stop(second);
    }

    data.remove();
    unregisterDir();
    console.log(`[container test] broker start in container: ${timings.firstStartMs} ms, restart: ${timings.secondStartMs} ms`);
  }, 5 * 60_000);
});
