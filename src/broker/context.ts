// What a handler sees of the broker and of the request it answers.

import type { Logger } from 'pino';
import type { ApiVersionsResponseApiVersion } from '../protocol/generated/api-versions.js';
import type { MetadataStore } from '../coordination/metadata-store.js';
import type { BrokerConfig } from '../config.js';
import type { ConnectionContext } from '../server/connection.js';
import type { LogManager } from '../storage/log-manager.js';
import type { Topics } from './topics.js';
import type { ClusterView } from './cluster.js';
import type { FetchSessionCache } from './fetch-sessions.js';
import type { GroupCoordinator } from '../groups/coordinator.js';

export interface BrokerServices {
  readonly config: BrokerConfig;
  readonly meta: MetadataStore;
  readonly logs: LogManager;
  readonly topics: Topics;
  readonly cluster: ClusterView;
  readonly groups: GroupCoordinator;
  /** Consumers' fetch sessions (KIP-227), shared by every listener. */
  readonly fetchSessions: FetchSessionCache;
  readonly log: Logger;
  /** Resolves when the broker begins shutting down (long polls end early). */
  readonly shuttingDown: AbortSignal;
  /** What ApiVersions advertises: derived from the handler list. */
  readonly supportedApis: readonly ApiVersionsResponseApiVersion[];
}

/** Per-connection state handlers share across requests. */
export interface ConnectionState {
  /**
   * Produce requests of one connection take their offsets in arrival order
   * (an idempotent producer with several requests in flight depends on it):
   * each waits for the previous one's offset assignment, not its commit.
   */
  produceGate: Promise<void>;
  /**
   * Partitions (topicId:partition) whose batch this connection recently
   * refused with a retriable error, and when: a sequence gap right behind
   * such an answer is ours, not the producer's (see broker/produce.ts).
   */
  refusedAt: Map<string, number>;
}

export interface RequestContext {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  readonly conn: ConnectionContext;
  readonly connState: ConnectionState;
  readonly broker: BrokerServices;
  /**
   * Runs `release` once the connection is done with this request's response
   * buffers (see FrameHandler): a fetch's pins on pooled block memory. A
   * caller that never says (a test calling the dispatcher) leaves them held.
   */
  readonly onWritten: (release: () => void) => void;
}
