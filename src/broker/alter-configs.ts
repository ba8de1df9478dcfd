// AlterConfigs v0-2 (replaces a topic's whole set of overrides) and
// IncrementalAlterConfigs v0-1 (SET, DELETE, APPEND, SUBTRACT per key) for
// topics. Broker configs are static (flags): altering them gets INVALID_CONFIG.

import { AlterConfigsApi } from '../protocol/generated/alter-configs.js';
import { IncrementalAlterConfigsApi } from '../protocol/generated/incremental-alter-configs.js';
import { ErrorCode, KafkaError } from '../protocol/kafka-error.js';
import { TOPIC_CONFIG_BY_NAME, validateTopicConfig } from './config-defs.js';
import type { RequestContext } from './context.js';
import { RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC } from './describe-configs.js';
import { defineHandler } from './handler.js';

const SET = 0;
const DELETE = 1;
const APPEND = 2;
const SUBTRACT = 3;

interface Result {
  errorCode: number;
  errorMessage: string | null;
  resourceType: number;
  resourceName: string;
}

async function alterTopic(
  ctx: RequestContext,
  resourceType: number,
  name: string,
  validateOnly: boolean,
  change: (current: Record<string, string>) => Record<string, string>,
): Promise<Result> {
  const base = { resourceType, resourceName: name };
  if (resourceType === RESOURCE_BROKER || resourceType === RESOURCE_BROKER_LOGGER) {
    return { ...base, errorCode: ErrorCode.INVALID_CONFIG, errorMessage: 'Broker configs are static in StreamHouse (flags or environment); restart with new values' };
  }
  if (resourceType !== RESOURCE_TOPIC) return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type ${resourceType}` };
  const topic = ctx.broker.topics.byName(name);
  if (!topic) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic ${name} does not exist` };
  try {
    const next = change({ ...topic.configs });
    for (const [k, v] of Object.entries(next)) {
      const err = validateTopicConfig(k, v);
      if (err) throw new KafkaError(ErrorCode.INVALID_CONFIG, err);
    }
    if (!validateOnly) await ctx.broker.topics.setConfigs(topic, next);
    return { ...base, errorCode: ErrorCode.NONE, errorMessage: null };
  } catch (err) {
    if (!(err instanceof KafkaError)) throw err;
    return { ...base, errorCode: err.code, errorMessage: err.message };
  }
}

export const alterConfigs = defineHandler({
  api: AlterConfigsApi,
  minVersion: 0,
  maxVersion: 2,
  async handle(req, ctx) {
    const responses = [];
    for (const r of req.resources) {
      responses.push(
        await alterTopic(ctx, r.resourceType, r.resourceName, req.validateOnly, () => {
          const out: Record<string, string> = {};
          for (const c of r.configs) if (c.value !== null) out[c.name] = c.value;
          return out;
        }),
      );
    }
    return { throttleTimeMs: 0, responses };
  },
});

export const incrementalAlterConfigs = defineHandler({
  api: IncrementalAlterConfigsApi,
  minVersion: 0,
  maxVersion: 1,
  async handle(req, ctx) {
    const responses = [];
    for (const r of req.resources) {
      responses.push(
        await alterTopic(ctx, r.resourceType, r.resourceName, req.validateOnly, (cur) => {
          for (const c of r.configs) {
            const def = TOPIC_CONFIG_BY_NAME.get(c.name);
            if (!def) throw new KafkaError(ErrorCode.INVALID_CONFIG, `Unknown topic config name: ${c.name}`);
            const list = () => (cur[c.name] ?? def.default ?? '').split(',').map((s) => s.trim()).filter(Boolean);
            switch (c.configOperation) {
              case SET:
                if (c.value === null) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Null value for ${c.name}`);
                cur[c.name] = c.value;
                break;
              case DELETE:
                delete cur[c.name];
                break;
              case APPEND:
              case SUBTRACT: {
                if (def.type !== 'list') throw new KafkaError(ErrorCode.INVALID_CONFIG, `Config ${c.name} is not a list`);
                const items = (c.value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
                const now = list();
                cur[c.name] = (c.configOperation === APPEND ? [...now, ...items.filter((i) => !now.includes(i))] : now.filter((i) => !items.includes(i))).join(',');
                break;
              }
              default:
                throw new KafkaError(ErrorCode.INVALID_REQUEST, `Unknown config operation ${c.configOperation}`);
            }
          }
          return cur;
        }),
      );
    }
    return { throttleTimeMs: 0, responses };
  },
});
