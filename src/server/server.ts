// The TCP listener: accepts connections and hands each to a Connection.
// Knows bytes and frames only; everything Kafka happens in the FrameHandler.

import net from 'node:net';
import type { Logger } from 'pino';
import { Connection, type ConnectionLimits, type FrameHandler } from './connection.js';

export class KafkaServer {
  private server: net.Server;
  private connections = new Set<Connection>();
  private nextId = 1;

  constructor(
    private readonly handler: FrameHandler,
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', (err) => this.log.error({ err }, 'listener error'));
  }

  private accept(socket: net.Socket): void {
    const id = this.nextId++;
    const remoteAddress = `${socket.remoteAddress}:${socket.remotePort}`;
    const conn: Connection = new Connection(socket, this.handler, { id, remoteAddress, log: this.log, isClosed: () => socket.destroyed }, this.limits, () =>
      this.connections.delete(conn),
    );
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
