// Who is in the cluster and who leads what, as Metadata, FindCoordinator and
// DescribeCluster report it.

import type { BrokerRecord, MetadataStore } from '../coordination/metadata-store.js';
import type { LogManager } from '../storage/log-manager.js';

export interface PartitionLeader {
  leaderId: number;
  leaderEpoch: number;
}

export class ClusterView {
  constructor(
    readonly self: BrokerRecord,
    private readonly meta: MetadataStore,
    private readonly logs: LogManager,
  ) {}

  brokers(): BrokerRecord[] {
    const list = this.meta.brokers().filter((b) => b.brokerId !== this.self.brokerId);
    return [this.self, ...list].sort((a, b) => a.brokerId - b.brokerId);
  }

  controllerId(): number {
    return Math.min(...this.brokers().map((b) => b.brokerId));
  }

  leader(topicId: string, partition: number): PartitionLeader | undefined {
    const log = this.logs.get(topicId, partition);
    // A broker that cannot prove its membership (metadata store unreachable)
    // may have been replaced already: it does not send clients to itself.
    if (log && !log.fenced && this.meta.writable()) return { leaderId: this.self.brokerId, leaderEpoch: log.leaderEpoch };
    return this.meta.leaderOf(topicId, partition);
  }

  /** Consumer-group coordinator placement: the group id hashed onto a live broker. */
  coordinatorFor(key: string): BrokerRecord {
    const brokers = this.brokers();
    let h = 0;
    for (let i = 0; i < key.length; i++) h = (Math.imul(31, h) + key.charCodeAt(i)) | 0;
    return brokers[Math.abs(h) % brokers.length]!;
  }
}
