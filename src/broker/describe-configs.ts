// DescribeConfigs v0-4: topic configs (the topic's own, the broker's, Kafka's
// default, each with its source and synonyms) and broker configs (the flags
// this broker runs with). Broker loggers answer an empty list.

import {
  DescribeConfigsApi,
  type DescribeConfigsResponseDescribeConfigsResourceResult,
  type DescribeConfigsResponseDescribeConfigsResult,
  type DescribeConfigsResponseDescribeConfigsSynonym,
} from '../protocol/generated/describe-configs.js';
import { ErrorCode } from '../protocol/kafka-error.js';
import type { TopicRecord } from '../coordination/metadata-store.js';
import { CONFIG_TYPE_CODE, ConfigSource, TOPIC_CONFIGS, type ConfigType } from './config-defs.js';
import type { RequestContext } from './context.js';
import { defineHandler } from './handler.js';

export const RESOURCE_TOPIC = 2;
export const RESOURCE_BROKER = 4;
export const RESOURCE_BROKER_LOGGER = 8;

type Entry = DescribeConfigsResponseDescribeConfigsResourceResult;

function entry(
  name: string,
  value: string | null,
  source: number,
  type: ConfigType,
  doc: string,
  synonyms: DescribeConfigsResponseDescribeConfigsSynonym[],
  readOnly: boolean,
): Entry {
  return {
    name,
    value,
    readOnly,
    isDefault: source === ConfigSource.DEFAULT_CONFIG,
    configSource: source,
    isSensitive: false,
    synonyms,
    configType: CONFIG_TYPE_CODE[type],
    documentation: doc,
  };
}

export function describeTopicConfigs(
  topic: TopicRecord,
  ctx: RequestContext,
  keys: string[] | null,
  includeSynonyms: boolean,
  includeDocumentation: boolean,
): Entry[] {
  const overrides = ctx.broker.topics.defaults.brokerOverrides;
  const out: Entry[] = [];
  for (const def of TOPIC_CONFIGS) {
    if (keys && !keys.includes(def.name)) continue;
    const synonyms: DescribeConfigsResponseDescribeConfigsSynonym[] = [];
    const own = topic.configs[def.name];
    const broker = def.brokerSynonym ? overrides[def.brokerSynonym] : undefined;
    if (own !== undefined) synonyms.push({ name: def.name, value: own, source: ConfigSource.DYNAMIC_TOPIC_CONFIG });
    if (broker !== undefined) synonyms.push({ name: def.brokerSynonym!, value: broker, source: ConfigSource.STATIC_BROKER_CONFIG });
    if (def.brokerSynonym && !def.noDefaultSynonym) synonyms.push({ name: def.brokerSynonym, value: def.default, source: ConfigSource.DEFAULT_CONFIG });
    const source = own !== undefined ? ConfigSource.DYNAMIC_TOPIC_CONFIG : broker !== undefined ? ConfigSource.STATIC_BROKER_CONFIG : ConfigSource.DEFAULT_CONFIG;
    out.push(
      entry(def.name, own ?? broker ?? def.default, source, def.type, includeDocumentation ? def.doc : '', includeSynonyms ? synonyms : [], false),
    );
  }
  return out;
}

function brokerConfigs(ctx: RequestContext): Array<[string, string, ConfigType, string]> {
  const c = ctx.broker.config;
  return [
    ['broker.id', String(c.brokerId), 'int', 'This broker\'s id'],
    ['listeners', `PLAINTEXT://${c.listenHost}:${c.listenPort}`, 'string', 'Where the broker listens'],
    ['advertised.listeners', `PLAINTEXT://${ctx.broker.cluster.self.host}:${ctx.broker.cluster.self.port}`, 'string', 'What clients are told'],
    ['auto.create.topics.enable', String(c.autoCreateTopics), 'boolean', 'Create unknown topics on Metadata and Produce'],
    ['num.partitions', String(c.numPartitions), 'int', 'Partitions of auto-created topics'],
    ['default.replication.factor', String(c.defaultReplicationFactor), 'int', 'Reported replication factor'],
    ['message.max.bytes', String(c.messageMaxBytes), 'int', 'Largest record batch accepted'],
    ['socket.request.max.bytes', String(c.maxRequestBytes), 'int', 'Largest request accepted'],
    ['log.dirs', c.dataDir, 'string', 'Data directory'],
    ['streamhouse.storage', c.storage, 'string', 'Object store URL'],
    ['streamhouse.metadata', c.metadata, 'string', 'Metadata store'],
    ['streamhouse.wal.flush.ms', String(c.walFlushMs), 'int', 'WAL flush delay'],
    ['streamhouse.wal.flush.bytes', String(c.walFlushBytes), 'int', 'WAL flush size'],
  ];
}

export const describeConfigs = defineHandler({
  api: DescribeConfigsApi,
  minVersion: 0,
  maxVersion: 4,
  handle(req, ctx) {
    const results: DescribeConfigsResponseDescribeConfigsResult[] = [];
    for (const r of req.resources) {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName };
      const synonyms = req.includeSynonyms ?? false;
      const docs = req.includeDocumentation ?? false;
      if (r.resourceType === RESOURCE_TOPIC) {
        const topic = ctx.broker.topics.byName(r.resourceName);
        results.push(
          topic
            ? { ...base, errorCode: ErrorCode.NONE, errorMessage: null, configs: describeTopicConfigs(topic, ctx, r.configurationKeys, synonyms, docs) }
            : { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic ${r.resourceName} does not exist`, configs: [] },
        );
      } else if (r.resourceType === RESOURCE_BROKER) {
        if (r.resourceName !== '' && r.resourceName !== String(ctx.broker.config.brokerId)) {
          results.push({ ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Broker ${r.resourceName} is not this broker`, configs: [] });
          continue;
        }
        const configs = brokerConfigs(ctx)
          .filter(([name]) => !r.configurationKeys || r.configurationKeys.includes(name))
          .map(([name, value, type, doc]) =>
            entry(name, value, ConfigSource.STATIC_BROKER_CONFIG, type, docs ? doc : '', synonyms ? [{ name, value, source: ConfigSource.STATIC_BROKER_CONFIG }] : [], true),
          );
        results.push({ ...base, errorCode: ErrorCode.NONE, errorMessage: null, configs });
      } else if (r.resourceType === RESOURCE_BROKER_LOGGER) {
        results.push({ ...base, errorCode: ErrorCode.NONE, errorMessage: null, configs: [] });
      } else {
        results.push({ ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type ${r.resourceType}`, configs: [] });
      }
    }
    return { throttleTimeMs: 0, results };
  },
});
