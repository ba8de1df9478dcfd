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
import { joinGroup } from './join-group.js';
import { syncGroup } from './sync-group.js';
import { heartbeat } from './heartbeat.js';
import { leaveGroup } from './leave-group.js';
import { offsetCommit } from './offset-commit.js';
import { offsetFetch } from './offset-fetch.js';
import { describeGroups } from './describe-groups.js';
import { listGroups } from './list-groups.js';
import { deleteGroups } from './delete-groups.js';
import { offsetDelete } from './offset-delete.js';
import { alterConfigs, incrementalAlterConfigs } from './alter-configs.js';
import { deleteRecords } from './delete-records.js';
import { describeTopicPartitions } from './describe-topic-partitions.js';
import { describeLogDirs } from './describe-log-dirs.js';

export const HANDLERS: readonly ApiHandler[] = [
  produce,
  fetch,
  listOffsets,
  metadata,
  offsetCommit,
  offsetFetch,
  findCoordinator,
  joinGroup,
  heartbeat,
  leaveGroup,
  syncGroup,
  describeGroups,
  listGroups,
  offsetForLeaderEpoch,
  apiVersions,
  createTopics,
  deleteTopics,
  deleteRecords,
  initProducerId,
  describeConfigs,
  alterConfigs,
  createPartitions,
  deleteGroups,
  offsetDelete,
  incrementalAlterConfigs,
  describeCluster,
  describeTopicPartitions,
  describeLogDirs,
] as ApiHandler[];
