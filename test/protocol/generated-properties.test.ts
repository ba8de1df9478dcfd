// Property tests of every generated codec at every valid version, driven by the
// schema trees in src/protocol/generated/schema.ts (so they run on a fresh clone
// without ../shared):
//  - round trip: arbitrary value -> encode -> decode -> encode gives the same
//    bytes, and decode gives the input back for the fields the version has
//    (defaults for the rest);
//  - fuzz: random and mutated bytes decode or fail with DecodeError, nothing else.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';
import * as G from '../../src/protocol/generated/index.js';
import type { FieldSchema, MessageSchema, VersionRange } from '../../src/protocol/generated/index.js';

// Modest defaults keep the file at a few seconds; raise them for a deeper local run:
//   PROTOCOL_PROPERTY_RUNS=500 npx vitest run test/protocol/generated-properties.test.ts
const RUNS = Number(process.env.PROTOCOL_PROPERTY_RUNS ?? 20);
const ROUND_TRIP_RUNS = RUNS;
const FUZZ_RUNS = RUNS;
const SEEDED = process.env.PROTOCOL_PROPERTY_RUNS === undefined;

type Decode = (r: Reader, version: number) => unknown;
type Encode = (w: Writer, m: unknown, version: number) => void;
type Struct = Record<string, unknown>;

const codecs = G as unknown as Record<string, Decode | Encode>;
const decoderOf = (msg: MessageSchema): Decode => codecs[`decode${msg.name}`] as Decode;
const encoderOf = (msg: MessageSchema): Encode => codecs[`encode${msg.name}`] as Encode;

const inRange = (r: VersionRange | undefined, v: number): boolean => r != null && v >= r[0] && v <= r[1];
const versionsOf = (msg: MessageSchema): number[] => {
  const out: number[] = [];
  for (let v = msg.validVersions[0]; v <= msg.validVersions[1]; v++) out.push(v);
  return out;
};
const isFlexible = (msg: MessageSchema, v: number): boolean => inRange(msg.flexibleVersions, v);
const elemType = (f: FieldSchema): string => (f.type.startsWith('[]') ? f.type.slice(2) : f.type);
const isArray = (f: FieldSchema): boolean => f.type.startsWith('[]');
/** Nullable in some version of the field: the generated type has `| null`. */
const typeNullable = (f: FieldSchema): boolean =>
  f.nullableVersions != null && f.versions !== null && f.nullableVersions[0] <= f.versions[1] && f.nullableVersions[1] >= f.versions[0];

function encode(msg: MessageSchema, m: unknown, v: number): Buffer {
  const w = new Writer(64);
  encoderOf(msg)(w, m, v);
  return w.toBuffer();
}

// ---------------------------------------------------------------------------
// Arbitraries from the schema

const bytesArb = fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b));

function primArb(t: string): fc.Arbitrary<unknown> {
  switch (t) {
    case 'bool':
      return fc.boolean();
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'int32':
      return fc.integer({ min: -2147483648, max: 2147483647 });
    case 'uint32':
      return fc.integer({ min: 0, max: 4294967295 });
    case 'int64':
      return fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(-1n, 0n, 2n ** 63n - 1n, -(2n ** 63n)));
    case 'float64':
      return fc.double();
    case 'string':
      return fc.string({ unit: 'binary', maxLength: 10 });
    case 'uuid':
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64url'));
    case 'bytes':
      return bytesArb;
    case 'records':
      return fc.oneof(bytesArb, fc.array(bytesArb, { maxLength: 3 }));
    default:
      throw new Error(`not a primitive: ${t}`);
  }
}

function knownTags(fields: readonly FieldSchema[]): Set<number> {
  return new Set(fields.filter((f) => f.tag !== undefined).map((f) => f.tag!));
}

function unknownTaggedArb(fields: readonly FieldSchema[]): fc.Arbitrary<{ tag: number; data: Buffer }[]> {
  const known = knownTags(fields);
  const tag = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })).filter((t) => !known.has(t));
  return fc.uniqueArray(fc.record({ tag, data: bytesArb }), { selector: (e) => e.tag, minLength: 1, maxLength: 3 });
}

/**
 * A struct value for `version`: fields the version has are set (tagged ones
 * sometimes omitted); fields it lacks sometimes carry values, which the encoder
 * must drop silently.
 */
function structArb(msg: MessageSchema, fields: readonly FieldSchema[], v: number): fc.Arbitrary<Struct> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  const required: string[] = [];
  for (const f of fields) {
    const present = inRange(f.versions, v);
    // for absent fields, build values as if at a version the field has
    const at = present ? v : f.versions !== null ? Math.min(Math.max(v, f.versions[0]), f.versions[1]) : v;
    model[f.prop] = fieldArb(msg, f, at);
    if (present && f.tag === undefined) required.push(f.prop);
  }
  model._unknownTaggedFields = unknownTaggedArb(fields);
  return fc.record(model, { requiredKeys: required }) as fc.Arbitrary<Struct>;
}

function fieldArb(msg: MessageSchema, f: FieldSchema, v: number): fc.Arbitrary<unknown> {
  let arb: fc.Arbitrary<unknown>;
  if (f.fields !== undefined) {
    const s = structArb(msg, f.fields, v);
    arb = isArray(f) ? fc.array(s, { maxLength: 2 }) : s;
  } else {
    const p = primArb(elemType(f));
    arb = isArray(f) ? fc.array(p, { maxLength: 4 }) : p;
  }
  return inRange(f.nullableVersions, v) ? fc.option(arb, { nil: null, freq: 4 }) : arb;
}

// ---------------------------------------------------------------------------
// What decode must return for an input value

function defaultOf(f: FieldSchema): unknown {
  if (f.default === null) return null;
  if (isArray(f)) return [];
  if (f.fields !== undefined) return expected({} as Struct, f.fields, -1, false);
  const d = f.default;
  switch (f.type) {
    case 'bool':
      return d ?? false;
    case 'int64':
      return BigInt(d ?? 0);
    case 'string':
      return d ?? '';
    case 'uuid':
      return G.ZERO_UUID;
    case 'bytes':
      return Buffer.alloc(0);
    case 'records':
      return typeNullable(f) ? null : Buffer.alloc(0);
    default:
      return d ?? 0;
  }
}

function expectedValue(f: FieldSchema, x: unknown, v: number, flexible: boolean): unknown {
  if (x === null) return null;
  if (f.fields !== undefined) {
    const fields = f.fields;
    return isArray(f) ? (x as Struct[]).map((e) => expected(e, fields, v, flexible)) : expected(x as Struct, fields, v, flexible);
  }
  if (f.type === 'records' && Array.isArray(x)) return Buffer.concat(x as Buffer[]);
  return x;
}

/** Fields the version has: the input (default if undefined); others: the default. */
function expected(m: Struct, fields: readonly FieldSchema[], v: number, flexible: boolean): Struct {
  const out: Struct = {};
  for (const f of fields) {
    const x = m[f.prop];
    out[f.prop] = inRange(f.versions, v) && x !== undefined ? expectedValue(f, x, v, flexible) : defaultOf(f);
  }
  const unknown = m._unknownTaggedFields as { tag: number; data: Buffer }[] | undefined;
  if (flexible && unknown !== undefined && unknown.length > 0) {
    out._unknownTaggedFields = [...unknown].sort((a, b) => a.tag - b.tag);
  }
  return out;
}

// ---------------------------------------------------------------------------

const MESSAGES = [...G.MESSAGE_SCHEMAS].sort((a, b) => a.name.localeCompare(b.name));

describe('round trips of every message at every valid version', () => {
  it('covers every message with a decoder and an encoder', () => {
    expect(MESSAGES.length).toBeGreaterThanOrEqual(186);
    for (const msg of MESSAGES) {
      expect(typeof decoderOf(msg), msg.name).toBe('function');
      expect(typeof encoderOf(msg), msg.name).toBe('function');
    }
  });

  for (const msg of MESSAGES) {
    it(`${msg.name} v${msg.validVersions[0]}-${msg.validVersions[1]}`, () => {
      for (const v of versionsOf(msg)) {
        const flexible = isFlexible(msg, v);
        fc.assert(
          fc.property(structArb(msg, msg.fields, v), (m) => {
            const bytes = encode(msg, m, v);
            const r = new Reader(bytes);
            const decoded = decoderOf(msg)(r, v);
            expect(r.remaining(), 'bytes left after decode').toBe(0);
            expect(decoded).toEqual(expected(m, msg.fields, v, flexible));
            expect(encode(msg, decoded, v).equals(bytes), 'encode(decode(bytes)) === bytes').toBe(true);
          }),
          { numRuns: ROUND_TRIP_RUNS, ...(SEEDED ? { seed: 0x5eed + v } : {}) },
        );
      }
    });
  }

  it('treats an empty object as all defaults at every version', () => {
    for (const msg of MESSAGES) {
      for (const v of versionsOf(msg)) {
        const d = decoderOf(msg)(new Reader(encode(msg, {}, v)), v);
        expect(d, `${msg.name} v${v}`).toEqual(expected({}, msg.fields, v, isFlexible(msg, v)));
      }
    }
  });
});

// ---------------------------------------------------------------------------
// Fuzzing the decoders

/** Decoding may fail only with DecodeError; whatever decodes must encode again. */
function decodeOnlyThrowsDecodeError(msg: MessageSchema, v: number, bytes: Uint8Array): void {
  let decoded: unknown;
  try {
    decoded = decoderOf(msg)(new Reader(Buffer.from(bytes)), v);
  } catch (e) {
    if (!(e instanceof DecodeError)) {
      throw new Error(`${msg.name} v${v} threw ${String(e)} on ${Buffer.from(bytes).toString('hex')}`);
    }
    return;
  }
  encode(msg, decoded, v);
}

/** Byte edits: overwrite, insert a run (0xff / 0x7f... lengths), delete, truncate. */
const mutationArb = fc.array(
  fc.record({
    kind: fc.constantFrom('set', 'insert', 'delete', 'truncate'),
    at: fc.nat(),
    byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x7f, 0x80, 0xff)),
    run: fc.integer({ min: 1, max: 5 }),
  }),
  { minLength: 1, maxLength: 4 },
);

function mutate(src: Buffer, edits: { kind: string; at: number; byte: number; run: number }[]): Buffer {
  let b = Buffer.from(src);
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % (b.length + 1);
    if (e.kind === 'set' && b.length > 0) b[at % b.length] = e.byte;
    else if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.alloc(e.run, e.byte), b.subarray(at)]);
    else if (e.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.run)]);
    else if (e.kind === 'truncate') b = b.subarray(0, at);
  }
  return b;
}

describe('decoding hostile bytes only ever throws DecodeError', () => {
  for (const msg of MESSAGES) {
    it(`${msg.name}: random and mutated bytes`, () => {
      for (const v of versionsOf(msg)) {
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 48 }), (bytes) => decodeOnlyThrowsDecodeError(msg, v, bytes)),
          { numRuns: FUZZ_RUNS, ...(SEEDED ? { seed: 0xf22 + v } : {}) },
        );
        fc.assert(
          fc.property(structArb(msg, msg.fields, v), mutationArb, (m, edits) => {
            decodeOnlyThrowsDecodeError(msg, v, mutate(encode(msg, m, v), edits));
          }),
          { numRuns: FUZZ_RUNS, ...(SEEDED ? { seed: 0xf23 + v } : {}) },
        );
      }
    });
  }

  it('huge array counts and string lengths fail before allocating', () => {
    const produce = G.MESSAGE_SCHEMAS.find((s) => s.name === 'ProduceRequest')!;
    const header = G.MESSAGE_SCHEMAS.find((s) => s.name === 'RequestHeader')!;
    const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
    const expectDecodeError = (msg: MessageSchema, v: number, bytes: Buffer): void => {
      expect(() => decoderOf(msg)(new Reader(bytes), v)).toThrow(DecodeError);
    };
    // Produce v3: transactionalId null, acks, timeout, then 2^31-1 topics
    expectDecodeError(produce, 3, hex('ffff 0001 00007530 7fffffff 00'));
    // Produce v9: compact array count 2^32-2
    expectDecodeError(produce, 9, hex('00 0001 00007530 ffffffff0f 00'));
    // records length 2^31-1 with a few bytes behind it
    expectDecodeError(produce, 3, hex('ffff 0001 00007530 00000001 0001 74 00000001 00000000 7fffffff aabb'));
    // header client id of 32767 bytes, 2 present
    expectDecodeError(header, 1, hex('0000 0003 00000001 7fff 6162'));
    // compact string length 2^32-2
    const apiVersions = G.MESSAGE_SCHEMAS.find((s) => s.name === 'ApiVersionsRequest')!;
    expectDecodeError(apiVersions, 3, hex('ffffffff0f 61'));
    // tagged field count and size
    expectDecodeError(apiVersions, 3, hex('01 01 ffffffff0f'));
    expectDecodeError(apiVersions, 3, hex('01 01 01 00 ffffffff0f'));
    // unsupported versions are refused, not guessed
    expectDecodeError(produce, 12, hex(''));
  });
});
