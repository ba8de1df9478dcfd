/** The kill -9 loop of the failpoint crash tests: a broker restarted incarnation after incarnation while kafkajs sends. */
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { BrokerProcess } from '../helpers/broker.js';

export interface FailpointCrashOptions {
  incarnations: number;
  /** The environment (STREAMHOUSE_FAILPOINTS) of incarnation i; the last one runs with none armed. */
  armed: (incarnation: number) => Record<string, string>;
  /** One acknowledged send; a throw means it was not acknowledged (the broker died, or refused while it started). */
  send: (producer: Producer) => Promise<void>;
  /** Pause after a send that failed, before a new producer tries. */
  retryPauseMs: number;
  clientId: string;
}

/**
 * Sends until `incarnations` incarnations of the broker have ended: one
 * that died (its failpoint fired) is restarted with the next one armed, and
 * one whose failpoint has not fired in 15 s gets a plain kill -9. Each send
 * goes through a kafkajs producer without retries, made anew after a
 * failure. Returns the failpoint lines that fired; the broker is left
 * running its last incarnation, with no failpoint armed.
 */
export async function sendThroughFailpointCrashes(broker: BrokerProcess, o: FailpointCrashOptions): Promise<string[]> {
  const kafka = () => new Kafka({ clientId: o.clientId, brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const fired: string[] = [];
  let producer: Producer | null = null;
  const drop = async () => {
    await producer?.disconnect().catch(() => {});
    producer = null;
  };
  let incarnation = 0;
  let incarnationStarted = Date.now();
  while (incarnation < o.incarnations) {
    if (!broker.running) {
      const line = broker.logs().find((l) => l.startsWith('failpoint '));
      if (line) fired.push(line);
      incarnation++;
      await drop();
      try {
        await broker.restart({ env: incarnation < o.incarnations ? o.armed(incarnation) : { STREAMHOUSE_FAILPOINTS: '' } });
      } catch (err) {
        // A failpoint may fire while the broker starts (a snapshot of the journal it replayed): that incarnation ended too.
        if (broker.running || !broker.logs().some((l) => l.startsWith('failpoint '))) throw err;
      }
      incarnationStarted = Date.now();
      continue;
    }
    if (Date.now() - incarnationStarted > 15_000) {
      await broker.kill('SIGKILL');
      continue;
    }
    try {
      if (!producer) {
        producer = kafka().producer({ idempotent: false, allowAutoTopicCreation: false });
        await producer.connect();
      }
      await o.send(producer);
    } catch {
      await drop();
      await new Promise((r) => setTimeout(r, o.retryPauseMs));
    }
  }
  await drop();
  return fired;
}
