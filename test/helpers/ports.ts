import fs from 'node:fs';
import net from 'node:net';

/**
 * Ports the kernel hands out as the local end of outgoing connections
 * (ip_local_port_range). A port taken from there for a server can be taken
 * again, between the check and the server's bind, by any client connecting
 * anywhere (etcd, S3, Kafka clients): the fault suite's cluster lost a
 * broker start to EADDRINUSE that way. Servers get ports below it.
 */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo! > 0 && hi! >= lo!) return [lo!, hi!];
  } catch {
    /* not Linux: the default range */
  }
  return [32768, 60999];
}

const LOWEST_PORT = 10_000;

/** Binds `port` (0: the kernel's choice) exclusively and closes; the port bound, or null if it was taken. */
function tryPort(port: number, host: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(null) : reject(err)));
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: no port from server.address()'));
        return;
      }
      const bound = addr.port;
      srv.close((err) => (err ? reject(err) : resolve(bound)));
    });
  });
}

/**
 * A TCP port that was free on `host` a moment ago, chosen at random below
 * the ephemeral range (see ephemeralRange); the kernel's choice if none of
 * a few tries is free. (Another test can still take it before the caller
 * binds it, one chance in thousands.)
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [lo] = ephemeralRange();
  if (lo > LOWEST_PORT + 1000) {
    for (let i = 0; i < 20; i++) {
      const port = await tryPort(LOWEST_PORT + Math.floor(Math.random() * (lo - LOWEST_PORT)), host);
      if (port !== null) return port;
    }
  }
  const port = await tryPort(0, host);
  if (port === null) throw new Error('freePort: the kernel found no free port');
  return port;
}

/** `n` distinct free ports. */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort(host));
  return [...out];
}

/** Resolves true once a TCP connect to host:port succeeds, false after `timeoutMs`. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(port, host)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** One TCP connect attempt (1 s timeout). */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
