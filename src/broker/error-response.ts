// A well-formed answer for a request the broker does not serve (an API it
// lacks, or a version outside its range): the response of that API with the
// error code in every top-level error field and empty lists elsewhere, so the
// client gets a Kafka error instead of a dropped connection.

import { MESSAGE_SCHEMAS, type FieldSchema } from '../protocol/generated/schema.js';

const RESPONSE_SCHEMA = new Map(MESSAGE_SCHEMAS.filter((m) => m.kind === 'response').map((m) => [m.apiKey!, m]));

function present(f: FieldSchema, version: number): boolean {
  return f.versions !== null && version >= f.versions[0] && version <= f.versions[1];
}

export function errorResponse(apiKey: number, version: number, errorCode: number): Record<string, unknown> | null {
  const schema = RESPONSE_SCHEMA.get(apiKey);
  if (!schema) return null;
  const out: Record<string, unknown> = {};
  for (const f of schema.fields) {
    if (!present(f, version)) continue;
    if (f.prop === 'errorCode') out[f.prop] = errorCode;
    else if (f.type.startsWith('[]')) out[f.prop] = [];
  }
  return out;
}
