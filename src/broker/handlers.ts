// Every API this broker serves, with the versions it really implements.
// ApiVersions answers from this list; nothing else says what is served.

import type { ApiHandler } from './handler.js';
import { apiVersions } from './api-versions.js';
import { createPartitions } from './create-partitions.js';
import { createTopics } from './create-topics.js';
import { deleteTopics } from './delete-topics.js';
import { describeCluster } from './describe-cluster.js';
import { describeConfigs } from './describe-configs.js';
import { fetch } from './fetch.js';
import { findCoordinator } from './find-coordinator.js';
import { initProducerId } from './init-producer-id.js';
import { listOffsets } from './list-offsets.js';
import { metadata } from './metadata.js';
import { offsetForLeaderEpoch } from './offset-for-leader-epoch.js';
import { produce } from './produce.js';

export const HANDLERS: readonly ApiHandler[] = [
  produce,
  fetch,
  listOffsets,
  metadata,
  findCoordinator,
  offsetForLeaderEpoch,
  apiVersions,
  createTopics,
  deleteTopics,
  initProducerId,
  describeConfigs,
  createPartitions,
  describeCluster,
] as ApiHandler[];
