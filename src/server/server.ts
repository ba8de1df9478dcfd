// The TCP listener: accepts connections and hands each to a Connection.
// Knows bytes and frames only; everything Kafka happens in the FrameHandler.

import net from 'node:net';
import type { Logger } from 'pino';
import { Connection, type ConnectionLimits, type FrameHandler } from './connection.js';
import { adoptSocket, FrameMemory } from './frame-reader.js';

/** See FrameMemory: frames allocated at their announced size before they have arrived, over all connections. */
const FRAME_MEMORY_BYTES = 128 * 1024 * 1024;

export class KafkaServer {
  private server: net.Server;
  private connections = new Set<Connection>();
  private nextId = 1;
  private readonly frameMemory = new FrameMemory(FRAME_MEMORY_BYTES);

  constructor(
    private readonly handler: FrameHandler,
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {
    // Paused: adoptSocket takes the accepted socket's handle before anything is read from it.
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.log.error({ err }, 'listener error'));
  }

  private accept(accepted: net.Socket): void {
    const id = this.nextId++;
    const remoteAddress = `${accepted.remoteAddress}:${accepted.remotePort}`;
    let socket = accepted;
    const conn: Connection = new Connection(this.handler, { id, remoteAddress, log: this.log, isClosed: () => socket.destroyed }, this.limits, this.frameMemory, () =>
      this.connections.delete(conn),
    );
    socket = adoptSocket(accepted, this.server, conn.reader) ?? accepted;
    conn.attach(socket, socket !== accepted);
    this.connections.add(conn);
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        const addr = this.server.address() as net.AddressInfo;
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  /** Stops accepting, answers what was accepted, closes every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    await Promise.all([...this.connections].map((c) => c.shutdown()));
    await closed;
  }
}
