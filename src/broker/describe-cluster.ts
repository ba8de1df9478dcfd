// DescribeCluster v0-1: the brokers, the cluster id and the controller (the
// lowest broker id: StreamHouse has no controller quorum). Authorized
// operations are not computed (no ACLs).

import { DescribeClusterApi } from '../protocol/generated/describe-cluster.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';

const BROKER_ENDPOINTS = 1;

export const describeCluster = defineHandler({
  api: DescribeClusterApi,
  minVersion: 0,
  maxVersion: 1,
  handle(req, ctx) {
    const { cluster, meta } = ctx.broker;
    if ((req.endpointType ?? BROKER_ENDPOINTS) !== BROKER_ENDPOINTS) {
      return {
        throttleTimeMs: 0,
        errorCode: ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
        errorMessage: 'Only broker endpoints are served',
        endpointType: req.endpointType,
        clusterId: meta.clusterId(),
        controllerId: -1,
        brokers: [],
        clusterAuthorizedOperations: -2147483648,
      };
    }
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType: BROKER_ENDPOINTS,
      clusterId: meta.clusterId(),
      controllerId: cluster.controllerId(),
      brokers: cluster.brokers().map((b) => ({ brokerId: b.brokerId, host: b.host, port: b.port, rack: b.rack })),
      clusterAuthorizedOperations: -2147483648,
    };
  },
});
