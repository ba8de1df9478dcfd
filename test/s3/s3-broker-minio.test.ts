/**
 * The broker on MinIO (the S3 server self-hosting users run, built from
 * source by scripts/install-test-deps.sh): the tests of s3-broker-suite.ts,
 * which s3-broker.test.ts runs against s3rver.
 *
 * Without the binary this file fails, naming the install script; only when
 * that script tried and could not build MinIO here (it records why, e.g. the
 * Go module proxy unreachable) are the tests skipped, with the reason in the
 * title.
 */
import { describe, test } from 'vitest';
import { minioBinary, minioMissingMessage, minioUnavailableReason, startMinio } from '../helpers/minio.js';
import { s3BrokerSuite } from './s3-broker-suite.js';

const built = minioBinary() !== null;
const reason = built ? null : minioUnavailableReason();
if (reason !== null) {
  describe.skip(`MinIO: not built by scripts/install-test-deps.sh: ${reason}`, () => {
    test('the broker on MinIO', () => {});
  });
} else if (!built) {
  throw new Error(minioMissingMessage());
} else {
  await s3BrokerSuite('MinIO', startMinio);
}
