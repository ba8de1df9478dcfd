/**
 * A fault-injecting HTTP proxy between the brokers and s3rver (path-style S3),
 * for scenario 05. Rules say which requests (method, object key pattern) get
 * which fault with which probability; requests no rule picks are forwarded
 * untouched. Faults:
 *
 *   status       500 InternalError or 503 SlowDown instead of the answer
 *   delay        the request is held for `ms` before it is forwarded (and
 *                still forwarded if the client gave up meanwhile)
 *   reset        the connection is reset before anything is forwarded
 *   lost-reply   the request is forwarded and done (a PUT lands), then the
 *                connection is reset instead of the answer
 *   truncate     GET: the answer's headers (full Content-Length) and part of
 *                the body, then a reset (a connection cut mid-body)
 *   short        GET: a shorter body with a matching Content-Length (a lying
 *                middlebox: nothing on the HTTP level shows it)
 *   bitflip      GET: the body with 1-3 bits flipped, same length
 *
 * Body faults apply to object GETs only (not listings). Counts per fault
 * kind are kept for the report. (test/s3/s3-faults.test.ts has a smaller
 * proxy of its own, inside that test file.)
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { freePort } from '../../helpers/ports.js';
import { registerCleanup } from '../../helpers/process.js';

export type S3Fault =
  | { kind: 'status'; status: 500 | 503 }
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'lost-reply' }
  | { kind: 'truncate' }
  | { kind: 'short' }
  | { kind: 'bitflip' };

export interface S3FaultRule {
  fault: S3Fault;
  /** Share of the matching requests that get the fault. */
  probability: number;
  /** Methods (GET, PUT, DELETE, HEAD, POST); all when absent. */
  methods?: string[];
  /** Matched against the object key (the path after the bucket); all when absent. */
  key?: RegExp;
}

const BODY_FAULTS = new Set(['truncate', 'short', 'bitflip']);

export class S3FaultProxy {
  private rules: S3FaultRule[] = [];
  readonly injected: Record<string, number> = {};
  forwarded = 0;
  /** Every request received, as "METHOD /path?query" (faulted or not). */
  readonly seen: string[] = [];
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly upstreamPort: number,
    private readonly rand: () => number = Math.random,
    private readonly upstreamHost = '127.0.0.1',
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(host = '127.0.0.1', port?: number): Promise<void> {
    this.port = port ?? (await freePort(host));
    await new Promise<void>((resolve) => this.server.listen(this.port, host, resolve));
    registerCleanup(
      () => this.close(),
      () => this.server.close(),
    );
  }

  endpoint(host = '127.0.0.1'): string {
    return `http://${host}:${this.port}`;
  }

  set(rules: S3FaultRule[]): void {
    this.rules = rules;
  }

  clear(): void {
    this.rules = [];
  }

  /** Total injected faults. */
  get total(): number {
    return Object.values(this.injected).reduce((a, b) => a + b, 0);
  }

  private pick(req: http.IncomingMessage): S3Fault | null {
    const url = new URL(req.url ?? '/', 'http://x');
    const isList = url.searchParams.has('list-type') || url.searchParams.has('prefix');
    // Path style: /bucket/key...
    const key = decodeURIComponent(url.pathname.split('/').slice(2).join('/'));
    for (const r of this.rules) {
      if (r.methods && !r.methods.includes(req.method ?? '')) continue;
      if (r.key && !r.key.test(key)) continue;
      if (BODY_FAULTS.has(r.fault.kind) && (req.method !== 'GET' || isList || !key)) continue;
      if (this.rand() < r.probability) return r.fault;
    }
    return null;
  }

  private count(kind: string): void {
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.seen.push(`${req.method} ${req.url}`);
    const f = this.pick(req);
    if (!f) return this.forward(req, res);
    const kind = f.kind === 'status' ? `status ${f.status}` : f.kind;
    this.count(kind);
    switch (f.kind) {
      case 'status': {
        req.resume();
        req.on('end', () => {
          const code = f.status === 503 ? 'SlowDown' : 'InternalError';
          const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the fault proxy</Message><RequestId>faults</RequestId></Error>`;
          res.writeHead(f.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
          res.end(req.method === 'HEAD' ? undefined : body);
        });
        return;
      }
      case 'delay':
        this.forward(req, res, undefined, f.ms);
        return;
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'lost-reply':
        this.forward(req, res, (_status, _headers, _body) => {
          req.socket.resetAndDestroy();
        });
        return;
      case 'truncate':
      case 'short':
      case 'bitflip':
        this.forward(req, res, (status, headers, body) => {
          if (status < 200 || status >= 300 || body.length === 0) {
            res.writeHead(status, headers);
            res.end(body);
            return;
          }
          if (f.kind === 'bitflip') {
            const n = 1 + Math.floor(this.rand() * 3);
            for (let i = 0; i < n; i++) body[Math.floor(this.rand() * body.length)] ^= 1 << Math.floor(this.rand() * 8);
            res.writeHead(status, headers);
            res.end(body);
          } else if (f.kind === 'short') {
            const cut = body.subarray(0, Math.floor(this.rand() * body.length));
            res.writeHead(status, { ...headers, 'content-length': String(cut.length) });
            res.end(cut);
          } else {
            res.writeHead(status, headers);
            res.write(body.subarray(0, Math.floor(this.rand() * body.length)), () => setTimeout(() => req.socket.resetAndDestroy(), 5));
          }
        });
        return;
    }
  }

  /**
   * Forwards the request once its whole body is here (as S3 stores a PUT only
   * when the body is complete: s3rver would keep the part of an aborted
   * upload); `onAnswer` gets the whole upstream answer instead of the client
   * (else it is piped). A request whose client went away after sending it
   * all is still forwarded, as S3 would still do it.
   */
  private forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    onAnswer?: (status: number, headers: http.IncomingHttpHeaders, body: Buffer) => void,
    delayMs = 0,
  ): void {
    const chunks: Buffer[] = [];
    let complete = false;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('aborted', () => {
      complete = false;
    });
    req.on('end', () => {
      complete = true;
      const body = Buffer.concat(chunks);
      const len = req.headers['content-length'];
      if (len !== undefined && Number(len) !== body.length) return;
      if (delayMs > 0) setTimeout(() => this.send(req, res, body, onAnswer), delayMs);
      else this.send(req, res, body, onAnswer);
    });
    req.on('error', () => {
      if (!complete) res.destroy();
    });
  }

  private send(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
    onAnswer?: (status: number, headers: http.IncomingHttpHeaders, body: Buffer) => void,
  ): void {
    this.forwarded++;
    const up = http.request(
      { host: this.upstreamHost, port: this.upstreamPort, method: req.method, path: req.url, headers: req.headers, agent: this.agent },
      (ur) => {
        if (!onAnswer) {
          if (res.destroyed) {
            ur.resume();
            return;
          }
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
          return;
        }
        const answer: Buffer[] = [];
        ur.on('data', (c: Buffer) => answer.push(c));
        ur.on('end', () => onAnswer(ur.statusCode ?? 502, ur.headers, Buffer.concat(answer)));
        ur.on('error', () => res.destroy());
      },
    );
    up.on('error', () => res.destroy());
    up.end(body);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    this.agent.destroy();
  }
}
