/**
 * A recording TCP proxy for fuzz seeds: forwards bytes both ways untouched
 * and splits the client-to-broker stream into request frames (4-byte size,
 * then header + body), keeping up to `perVersion` distinct frames of each
 * (api key, version), none larger than `maxFrameBytes`. The broker must
 * advertise the proxy's address so every connection of the client goes
 * through it. `save()` writes them as test/faults/seeds/<name>.jsonl
 * ({api, v, frame: base64} per line), the format fuzz.ts loads.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { SEEDS_DIR } from './fuzz.js';

export class RecordingProxy {
  private server: net.Server;
  private readonly conns = new Set<net.Socket>();
  readonly frames: Array<{ api: number; v: number; frame: Buffer }> = [];
  private readonly seen = new Set<string>();
  private readonly perKey = new Map<string, number>();
  total = 0;
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly opts: { perVersion?: number; maxFrameBytes?: number; host?: string } = {},
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((r) => this.server.listen(port, this.opts.host ?? '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, this.opts.host ?? '127.0.0.1');
    this.conns.add(client).add(upstream);
    let buf: Buffer = Buffer.alloc(0);
    client.on('data', (d: Buffer) => {
      upstream.write(d);
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 4) {
        const size = buf.readInt32BE(0);
        if (size < 0 || buf.length < 4 + size) break;
        this.record(buf.subarray(4, 4 + size));
        buf = buf.subarray(4 + size);
      }
    });
    upstream.on('data', (d) => client.write(d));
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.conns.delete(client);
      this.conns.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }

  private record(frame: Buffer): void {
    this.total++;
    if (frame.length < 8 || frame.length > (this.opts.maxFrameBytes ?? 64 * 1024)) return;
    const api = frame.readInt16BE(0);
    const v = frame.readInt16BE(2);
    const key = `${api}/${v}`;
    if ((this.perKey.get(key) ?? 0) >= (this.opts.perVersion ?? 6)) return;
    // Distinct apart from the correlation id.
    const h = createHash('sha1').update(frame.subarray(0, 4)).update(frame.subarray(8)).digest('hex');
    if (this.seen.has(h)) return;
    this.seen.add(h);
    this.perKey.set(key, (this.perKey.get(key) ?? 0) + 1);
    this.frames.push({ api, v, frame: Buffer.from(frame) });
  }

  save(name: string, dir = SEEDS_DIR): string {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name}.jsonl`);
    const lines = [...this.frames]
      .sort((a, b) => a.api - b.api || a.v - b.v)
      .map((f) => JSON.stringify({ api: f.api, v: f.v, frame: f.frame.toString('base64') }));
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
