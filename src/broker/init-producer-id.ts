// InitProducerId v0-5 for idempotent producers: a fresh producer id from the
// metadata store's id blocks, or (KIP-360, v3+) an epoch bump for a known
// producer id. Not implemented: transactions; a transactional id gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a fatal error in every client.

import { InitProducerIdApi } from '../protocol/generated/init-producer-id.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import type { MetadataStore } from '../coordination/metadata-store.js';
import { defineHandler } from './handler.js';

const BLOCK = 1000;
const MAX_EPOCH = 32767;

class ProducerIdAllocator {
  private next = 0;
  private end = 0;
  private inflight: Promise<void> | null = null;

  async allocate(meta: MetadataStore): Promise<number> {
    while (this.next >= this.end) {
      this.inflight ??= meta.allocateProducerIds(BLOCK).then(
        (first) => {
          this.next = first;
          this.end = first + BLOCK;
          this.inflight = null;
        },
        (err: unknown) => {
          this.inflight = null;
          throw err;
        },
      );
      await this.inflight;
    }
    return this.next++;
  }
}

const allocators = new WeakMap<MetadataStore, ProducerIdAllocator>();

export const initProducerId = defineHandler({
  api: InitProducerIdApi,
  minVersion: 0,
  maxVersion: 5,
  async handle(req, ctx) {
    if (req.transactionalId !== null) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1n, producerEpoch: -1 };
    }
    const pid = req.producerId ?? -1n;
    const epoch = req.producerEpoch ?? -1;
    if (pid >= 0n && epoch >= 0 && epoch < MAX_EPOCH) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId: pid, producerEpoch: epoch + 1 };
    }
    let alloc = allocators.get(ctx.broker.meta);
    if (!alloc) {
      alloc = new ProducerIdAllocator();
      allocators.set(ctx.broker.meta, alloc);
    }
    const id = await alloc.allocate(ctx.broker.meta);
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId: BigInt(id), producerEpoch: 0 };
  },
});
