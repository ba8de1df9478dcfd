// A well-formed answer for a request the broker cannot serve (an API it lacks,
// a version outside its range, or a handler that failed): the response of
// that API with the error code in every error field. Lists of topics,
// partitions, resources or groups mirror the request's, so that clients
// waiting for a per-item result (AdminClient) get one instead of timing out.

import { MESSAGE_SCHEMAS, type FieldSchema } from '../protocol/generated/schema.js';

const RESPONSE_SCHEMA = new Map(MESSAGE_SCHEMAS.filter((m) => m.kind === 'response').map((m) => [m.apiKey!, m]));

/** Response list names that differ from the request list they answer. */
const LIST_ALIASES: Record<string, string[]> = {
  responses: ['topicData', 'topics', 'resources', 'topicNames'],
  partitionResponses: ['partitionData'],
  results: ['resources', 'topics', 'groupsNames'],
  groups: ['groups'],
};

/** Item fields whose value a response copies from the request item under another name. */
const FIELD_ALIASES: Record<string, string[]> = {
  partitionIndex: ['partition', 'index'],
  index: ['partitionIndex', 'partition'],
  partition: ['partitionIndex', 'index'],
  name: ['topic'],
  topic: ['name'],
  groupId: ['groupId'],
};

function present(f: FieldSchema, version: number): boolean {
  return f.versions !== null && version >= f.versions[0] && version <= f.versions[1];
}

function pick(req: Record<string, unknown> | undefined, prop: string, aliases: Record<string, string[]>): unknown {
  if (!req) return undefined;
  if (req[prop] !== undefined) return req[prop];
  for (const a of aliases[prop] ?? []) if (req[a] !== undefined) return req[a];
  return undefined;
}

function build(fields: readonly FieldSchema[], version: number, errorCode: number, req: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (!present(f, version)) continue;
    if (f.prop === 'errorCode') {
      out[f.prop] = errorCode;
    } else if (f.type.startsWith('[]') && f.fields) {
      const source = pick(req, f.prop, LIST_ALIASES);
      out[f.prop] = Array.isArray(source)
        ? source.map((item) =>
            build(f.fields!, version, errorCode, typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : { name: item, groupId: item }),
          )
        : [];
    } else if (f.type.startsWith('[]')) {
      out[f.prop] = [];
    } else if (!f.fields) {
      const v = pick(req, f.prop, FIELD_ALIASES);
      if (v !== undefined && typeof v !== 'object') out[f.prop] = v;
    }
  }
  return out;
}

export function errorResponse(apiKey: number, version: number, errorCode: number, request?: unknown): Record<string, unknown> | null {
  const schema = RESPONSE_SCHEMA.get(apiKey);
  if (!schema) return null;
  return build(schema.fields, version, errorCode, request as Record<string, unknown> | undefined);
}
