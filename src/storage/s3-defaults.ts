// Defaults of the S3 store that the configuration table shows, apart from the
// store itself: loading @aws-sdk/client-s3 costs about 160 ms, which a broker
// on a local directory and the admin commands need not pay.

/**
 * Objects above this go up in parts. Sized so that a segment of the default
 * segment.bytes (64 MiB, plus the batch that crossed the line and its
 * indexes) is one PUT: in parts it was eleven requests instead of one (S3
 * bills per request), lib-storage copied the body into 8 MiB part buffers,
 * and s3rver wrote every byte twice (the parts, then the object assembled
 * from them). Four 66 MiB puts to s3rver took 2.3 s, 0.7 s of broker CPU
 * and 2.5 s of server CPU in parts; 1.0 s, 0.13 s and 1.2 s as single PUTs.
 */
export const DEFAULT_MULTIPART_THRESHOLD_BYTES = 128 * 1024 * 1024;
