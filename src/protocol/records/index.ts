// Record batches (v2), legacy message sets (v0/v1) and compression codecs.
// Hot path (produce, fetch): splitProducedRecords, readBatchHeader,
// setBaseOffset, setPartitionLeaderEpoch and the small getters never decode
// records. Everything else decodes and is for features that need records.

export * from './errors.js';
export * from './batch.js';
export * from './compression.js';
export * from './records.js';
export * from './legacy.js';
export * from './produce.js';
