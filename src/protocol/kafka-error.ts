// The typed error lower layers throw for a Kafka-level failure; the broker's
// boundary turns its code into the per-partition error of the response.

import { ErrorCode } from './generated/errors.js';

export { ErrorCode };
export type ErrorCodeName = keyof typeof ErrorCode;

export class KafkaError extends Error {
  constructor(
    readonly code: number,
    message?: string,
  ) {
    super(message ?? `kafka error ${code}`);
    this.name = 'KafkaError';
  }
}

export function errorCodeOf(err: unknown): number {
  return err instanceof KafkaError ? err.code : ErrorCode.UNKNOWN_SERVER_ERROR;
}
