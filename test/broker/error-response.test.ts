import { expect, test } from 'vitest';
import { errorResponse } from '../../src/broker/error-response.js';
import { API_BY_KEY } from '../../src/protocol/generated/index.js';
import { Writer } from '../../src/protocol/writer.js';
import { ErrorCode } from '../../src/protocol/kafka-error.js';

test('a generic error answer mirrors the request items and encodes at every version', () => {
  const req = { topics: [{ name: 't', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 1, validateOnly: false };
  const res = errorResponse(19, 5, ErrorCode.UNKNOWN_SERVER_ERROR, req) as { topics: Array<{ name: string; errorCode: number }> };
  expect(res.topics).toEqual([expect.objectContaining({ name: 't', errorCode: ErrorCode.UNKNOWN_SERVER_ERROR })]);
  const cfg = errorResponse(32, 4, ErrorCode.UNKNOWN_SERVER_ERROR, { resources: [{ resourceType: 2, resourceName: 't', configurationKeys: null }] }) as {
    results: Array<{ resourceName: string; errorCode: number }>;
  };
  expect(cfg.results[0]).toMatchObject({ resourceName: 't', errorCode: ErrorCode.UNKNOWN_SERVER_ERROR });
  // Every response of every API at every version encodes from an error answer without a request.
  for (const api of API_BY_KEY.values()) {
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      const body = errorResponse(api.apiKey, v, ErrorCode.INVALID_REQUEST);
      expect(() => api.encodeResponse(new Writer(), body, v)).not.toThrow();
    }
  }
});
