/**
 * The broker on s3rver (a local S3-compatible server in a Node child): the
 * tests of s3-broker-suite.ts. The same tests run against MinIO in
 * s3-broker-minio.test.ts.
 */
import { startS3rver } from '../helpers/s3rver.js';
import { s3BrokerSuite } from './s3-broker-suite.js';

await s3BrokerSuite('s3rver', startS3rver);
