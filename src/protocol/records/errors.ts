// Errors raised while validating or decoding record batches and message sets.
// Each carries the Kafka error code the broker answers the partition with, so
// a produce handler can turn it into a per-partition error without mapping.

/** Kafka error codes used by this module (plain numbers: the generated error table lives elsewhere). */
export const RecordsErrorCode = {
  /** The message contents does not match its CRC, or the framing is broken. */
  CORRUPT_MESSAGE: 2,
  /** The timestamp of the message is out of acceptable range (or LogAppendTime set by a producer). */
  INVALID_TIMESTAMP: 32,
  /** The message format version on the broker does not support the request. */
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 43,
  /** The requesting client does not support the compression type of given partition. */
  UNSUPPORTED_COMPRESSION_TYPE: 76,
  /** This record has failed the validation on broker and hence will be rejected. */
  INVALID_RECORD: 87,
} as const;

export type RecordsErrorCode = (typeof RecordsErrorCode)[keyof typeof RecordsErrorCode];

export class RecordsError extends Error {
  override readonly name = 'RecordsError';

  constructor(
    /** The Kafka error code to answer with. */
    readonly code: RecordsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function corrupt(message: string): RecordsError {
  return new RecordsError(RecordsErrorCode.CORRUPT_MESSAGE, message);
}

export function invalidRecord(message: string): RecordsError {
  return new RecordsError(RecordsErrorCode.INVALID_RECORD, message);
}
