// DescribeLogDirs v0-4 (kafka-log-dirs, and the topic sizes of admin UIs):
// one "log dir" per broker, the object store its partition logs live in
// (the local directory's absolute path, or the s3:// URL), listing the
// partitions this broker leads with the bytes their committed ranges take in
// the store (segments as stored, LZ4 included; WAL runs as written) and the
// lag of the log end behind the high watermark. The volume's total and
// usable bytes (v4) are the local directory's file system's; -1 on S3.

import { statfs } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DescribeLogDirsApi, type DescribeLogDirsResponseDescribeLogDirsTopic } from '../protocol/generated/describe-log-dirs.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import { defineHandler } from './handler.js';

export const describeLogDirs = defineHandler({
  api: DescribeLogDirsApi,
  minVersion: 0,
  maxVersion: 4,
  async handle(req, ctx) {
    const { topics, logs, config } = ctx.broker;
    const wanted = req.topics === null ? null : new Map(req.topics.map((t) => [t.topic, new Set(t.partitions)]));
    const out: DescribeLogDirsResponseDescribeLogDirsTopic[] = [];
    for (const topic of topics.all()) {
      const only = wanted?.get(topic.name);
      if (wanted && !only) continue;
      const partitions = [];
      for (let p = 0; p < topic.partitions; p++) {
        if (only && !only.has(p)) continue;
        const log = logs.get(topic.topicId, p);
        if (!log || log.fenced) continue;
        let size = 0;
        for (const r of log.ranges) if (r.nextOffset > log.logStartOffset) size += r.length;
        partitions.push({ partitionIndex: p, partitionSize: BigInt(size), offsetLag: BigInt(Math.max(0, log.logEndOffset - log.highWatermark)), isFutureKey: false });
      }
      if (partitions.length) out.push({ name: topic.name, partitions });
    }
    const local = config.storage.startsWith('file://');
    const logDir = local ? (config.storage.startsWith('file:///') ? fileURLToPath(config.storage) : config.storage.slice('file://'.length)) : config.storage;
    let totalBytes = -1n;
    let usableBytes = -1n;
    if (local) {
      try {
        const s = await statfs(logDir);
        totalBytes = BigInt(s.blocks) * BigInt(s.bsize);
        usableBytes = BigInt(s.bavail) * BigInt(s.bsize);
      } catch {
        // left at -1 (unknown), as Kafka's default
      }
    }
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      results: [{ errorCode: ErrorCode.NONE, logDir, topics: out, totalBytes, usableBytes }],
    };
  },
});
