/**
 * A producer pipelines: when the broker refuses batch n (NOT_LEADER_OR_FOLLOWER:
 * the partition is still opening) and has the partition by the time batch n+1
 * arrives, n+1 finds a sequence gap. That gap is the broker's doing, so it is
 * answered NOT_LEADER_OR_FOLLOWER too (librdkafka takes OUT_OF_ORDER_SEQUENCE
 * there for a fatal desynchronization); a gap with no refusal before it stays
 * OUT_OF_ORDER_SEQUENCE_NUMBER. The handler runs here against stubs of the
 * topic registry and the partition log.
 */
import { expect, test } from 'vitest';
import pino from 'pino';
import { produce } from '../../src/broker/produce.js';
import type { ConnectionState, RequestContext } from '../../src/broker/context.js';
import { ErrorCode, KafkaError } from '../../src/protocol/kafka-error.js';
import { buildBatch } from '../../src/protocol/records/records.js';
import type { AppendResult } from '../../src/storage/partition-log.js';
import { produceBody } from '../e2e/wire.js';

type Behaviour = 'absent' | 'gap' | 'ok' | 'storage';

function harness() {
  let behaviour: Behaviour = 'absent';
  const log = {
    fenced: false,
    logEndOffset: 0,
    logStartOffset: 0,
    async append(): Promise<AppendResult> {
      if (behaviour === 'storage') throw new KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, 'WAL write failed');
      if (behaviour === 'gap') throw new KafkaError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, 'producer 7: sequence 5, expected 4');
      return { baseOffset: 4, logAppendTime: -1, logStartOffset: 0 };
    },
  };
  const topic = { topicId: 'tid', name: 't', partitions: 1 };
  const connState: ConnectionState = { produceGate: Promise.resolve(), refusedAt: new Map() };
  const ctx = {
    apiKey: 0,
    apiVersion: 9,
    correlationId: 1,
    clientId: 'test',
    conn: { id: 1, remoteAddress: 'test', log: pino({ level: 'silent' }) },
    connState,
    broker: {
      log: pino({ level: 'silent' }),
      topics: { getOrAutoCreate: async () => topic, config: () => '1048588', cleanupPolicy: () => ({ delete: true, compact: false }) },
      logs: {
        get: () => (behaviour === 'absent' ? undefined : log),
        writer: { admit: async () => true },
      },
    },
  } as unknown as RequestContext;
  const send = async (seq: number): Promise<number> => {
    const batch = buildBatch({ producerId: 7, producerEpoch: 0, baseSequence: seq, records: [{ key: null, value: Buffer.from(`v${seq}`) }] });
    const res = await produce.handle(produceBody('t', 0, [], { batch }), ctx);
    return res!.responses[0]!.partitionResponses[0]!.errorCode;
  };
  return { send, set: (b: Behaviour) => (behaviour = b), connState };
}

test('a gap right behind a NOT_LEADER_OR_FOLLOWER answer on the same connection is NOT_LEADER_OR_FOLLOWER too', async () => {
  const h = harness();
  expect(await h.send(4)).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER); // the partition is not open yet
  h.set('gap'); // open now; batch 5 finds the gap left by the refused batch 4
  expect(await h.send(5)).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  h.set('ok'); // the client resends from batch 4, in order
  expect(await h.send(4)).toBe(ErrorCode.NONE);
  h.set('gap'); // a success clears the refusal: a later gap is a gap
  expect(await h.send(9)).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
});

test('a gap with no refusal before it, or one older than the window, is OUT_OF_ORDER_SEQUENCE_NUMBER', async () => {
  const h = harness();
  h.set('gap');
  expect(await h.send(5)).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  h.connState.refusedAt.set('tid:0', Date.now() - 60_000);
  expect(await h.send(5)).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
});

test('a gap right behind a KAFKA_STORAGE_ERROR answer (a failed WAL write) is NOT_LEADER_OR_FOLLOWER too', async () => {
  const h = harness();
  h.set('storage');
  expect(await h.send(4)).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
  h.set('gap');
  expect(await h.send(5)).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
});
