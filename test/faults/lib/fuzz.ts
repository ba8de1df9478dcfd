/**
 * Request frames for fuzzing: a seeded generator of well-formed requests of
 * every message at every version (from the schema trees of
 * src/protocol/generated/schema.ts, encoded by the generated codecs), seeds
 * recorded from real clients (test/faults/seeds/*.jsonl, see fuzz-record.ts),
 * and mutators that damage frames the ways a network, a buggy client or an
 * attacker would (bit flips, interesting integers over length fields, long
 * varints, truncation, insertion, splicing, another version or api key under
 * the same body).
 *
 * A frame here is what follows the 4-byte size on the wire: request header +
 * body. Everything is driven by one seeded PRNG, so a case can be replayed
 * from (seed, index).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as G from '../../../src/protocol/generated/index.js';
import type { FieldSchema, MessageSchema, VersionRange } from '../../../src/protocol/generated/index.js';
import { API_BY_KEY, MESSAGE_SCHEMAS, requestHeaderVersion } from '../../../src/protocol/generated/index.js';
import { encodeRequestHeader } from '../../../src/protocol/generated/request-header.js';
import { Writer } from '../../../src/protocol/writer.js';
import { buildBatch } from '../../../src/protocol/records/records.js';

export const SEEDS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'seeds');

// ------------------------------------------------------------ PRNG

/** mulberry32: small, fast, good enough for fuzzing; state is one u32. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

// ------------------------------------------------------------ seeds

export interface SeedFrame {
  apiKey: number;
  apiVersion: number;
  /** header + body, no size prefix */
  frame: Buffer;
  /** Where it came from: a client name, or 'generated'. */
  origin: string;
}

/** Every recorded seed frame under test/faults/seeds/ (one JSON object per line: {api, v, frame: base64}). */
export function loadSeeds(dir = SEEDS_DIR): SeedFrame[] {
  if (!fs.existsSync(dir)) return [];
  const out: SeedFrame[] = [];
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.jsonl')) continue;
    const origin = f.replace(/\.jsonl$/, '');
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const o = JSON.parse(line) as { api: number; v: number; frame: string };
      out.push({ apiKey: o.api, apiVersion: o.v, frame: Buffer.from(o.frame, 'base64'), origin });
    }
  }
  return out;
}

// ------------------------------------------------------------ generation from the schema

type Encode = (w: Writer, m: unknown, version: number) => void;
const codecs = G as unknown as Record<string, Encode>;

const inRange = (r: VersionRange | undefined, v: number): boolean => r != null && v >= r[0] && v <= r[1];

export const REQUEST_SCHEMAS: readonly MessageSchema[] = MESSAGE_SCHEMAS.filter((m) => m.kind === 'request' && m.apiKey !== null && API_BY_KEY.has(m.apiKey));

/** Names a handler will find (topics the fuzz broker creates, groups, clients), with hostile ones mixed in. */
export const FUZZ_TOPICS = ['fuzz-a', 'fuzz-b', 'seed-topic'];
const STRINGS = [
  ...FUZZ_TOPICS,
  ...FUZZ_TOPICS,
  'fuzz-group',
  'seed-group',
  'consumer',
  'range',
  'roundrobin',
  'cooperative-sticky',
  'rdkafka',
  '',
  'a',
  '.',
  '..',
  '__consumer_offsets',
  'x'.repeat(249),
  'y'.repeat(300),
  'topic with spaces',
  'ünïcödé-🙂',
  'cleanup.policy',
  'compact',
  'retention.ms',
  'segment.bytes',
  'max.message.bytes',
  '-1',
  '9223372036854775807',
  'null',
  '\u0000',
];
const INT32S = [0, 1, -1, 2, 3, 5, 100, 1000, 30000, 0x7fff, -0x8000, 0xffff, 0x7fffffff, -0x80000000, 0x10000, 1 << 24];
const INT64S = [0n, 1n, -1n, -2n, 2n, 1000n, 2n ** 31n, 2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n), BigInt(Date.now())];

export class FrameGenerator {
  private correlationId = 1;
  constructor(private readonly rng: Rng) {}

  private int(bits: 8 | 16 | 32, signed = true): number {
    const r = this.rng;
    if (r.chance(0.6)) {
      const v = r.pick(INT32S);
      const lim = signed ? 2 ** (bits - 1) : 2 ** bits;
      if (signed ? v >= -lim && v < lim : v >= 0 && v < lim) return v;
    }
    if (r.chance(0.5)) return r.range(-1, 10);
    return signed ? r.range(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) : r.range(0, 2 ** bits - 1);
  }

  private string(): string {
    const r = this.rng;
    if (r.chance(0.85)) return r.pick(STRINGS);
    return r.bytes(r.range(0, 20)).toString('latin1');
  }

  records(): Buffer | null {
    const r = this.rng;
    const k = r.int(10);
    if (k < 5) {
      const n = r.range(1, 4);
      return buildBatch({
        records: Array.from({ length: n }, (_, i) => ({ key: r.chance(0.5) ? Buffer.from(`k${i}`) : null, value: Buffer.from(`fuzz-${r.int(1e9)}`), timestamp: Date.now() })),
        compression: r.chance(0.3) ? r.pick([0, 1, 2, 3, 4]) : 0,
        producerId: r.chance(0.2) ? r.range(0, 5000) : undefined,
        baseSequence: r.chance(0.2) ? r.range(0, 10) : undefined,
        producerEpoch: r.chance(0.2) ? r.range(0, 3) : undefined,
      } as Parameters<typeof buildBatch>[0]);
    }
    if (k < 6) return null;
    if (k < 8) return r.bytes(r.range(0, 120));
    // A valid batch with damage: the decoder and the batch checks must both hold.
    const b = buildBatch({ records: [{ key: null, value: Buffer.from('damaged'), timestamp: Date.now() }] });
    b[r.int(b.length)] ^= 1 << r.int(8);
    return b;
  }

  private prim(t: string): unknown {
    const r = this.rng;
    switch (t) {
      case 'bool':
        return r.chance(0.5);
      case 'int8':
        return this.int(8);
      case 'int16':
        return this.int(16);
      case 'uint16':
        return this.int(16, false);
      case 'int32':
        return this.int(32);
      case 'uint32':
        return r.chance(0.5) ? r.pick([0, 1, 0xffffffff]) : r.range(0, 0xffffffff);
      case 'int64':
        return r.chance(0.7) ? r.pick(INT64S) : BigInt(r.range(-1000, 1_000_000));
      case 'float64':
        return r.pick([0, 1.5, -1, Number.NaN, Infinity, 1e308]);
      case 'string':
        return this.string();
      case 'uuid':
        return r.chance(0.5) ? 'AAAAAAAAAAAAAAAAAAAAAA' : r.bytes(16).toString('base64url');
      case 'bytes':
        return r.bytes(r.range(0, 24));
      case 'records':
        return this.records();
      default:
        throw new Error(`not a primitive: ${t}`);
    }
  }

  private struct(fields: readonly FieldSchema[], v: number): Record<string, unknown> {
    const r = this.rng;
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      if (!inRange(f.versions, v)) continue;
      if (f.tag !== undefined && r.chance(0.4)) continue;
      if (inRange(f.nullableVersions, v) && r.chance(0.15)) {
        out[f.prop] = null;
        continue;
      }
      const isArray = f.type.startsWith('[]');
      const one = (): unknown => (f.fields !== undefined ? this.struct(f.fields, v) : this.prim(isArray ? f.type.slice(2) : f.type));
      if (isArray) {
        const n = r.chance(0.05) ? r.range(4, 40) : r.range(0, 3);
        out[f.prop] = Array.from({ length: n }, one);
      } else out[f.prop] = one();
    }
    if (r.chance(0.05)) out._unknownTaggedFields = [{ tag: r.range(100, 2 ** 20), data: r.bytes(r.range(0, 8)) }];
    return out;
  }

  /** A well-formed request of `schema` at `version` (or a random one of both). */
  generate(schema?: MessageSchema, version?: number): SeedFrame | null {
    const r = this.rng;
    const s = schema ?? r.pick(REQUEST_SCHEMAS);
    const v = version ?? r.range(s.validVersions[0], s.validVersions[1]);
    const apiKey = s.apiKey!;
    const w = new Writer(128);
    try {
      encodeRequestHeader(w, { requestApiKey: apiKey, requestApiVersion: v, correlationId: this.correlationId++ & 0x7fffffff, clientId: r.chance(0.9) ? 'fuzz' : null }, requestHeaderVersion(apiKey, v));
      codecs[`encode${s.name}`]!(w, this.struct(s.fields, v), v);
    } catch {
      return null; // a value the encoder refuses (e.g. a string too long for its length field)
    }
    return { apiKey, apiVersion: v, frame: w.toBuffer(), origin: 'generated' };
  }
}

// ------------------------------------------------------------ mutation

const INTERESTING16 = [0, 1, -1, 0x7fff, -0x8000, 0xff, 0x100];
const INTERESTING32 = [0, 1, -1, 0x7fffffff, -0x80000000, 0xffff, 0x10000, 0x7ffffff0, 2, 3, 64, 1 << 20];
const LONG_VARINTS = [Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08]), Buffer.from([0x00]), Buffer.from([0x01]), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x07])];

export const MUTATORS = [
  'bitflip',
  'byte',
  'int16',
  'int32',
  'varint',
  'truncate',
  'append',
  'insert',
  'delete',
  'duplicate',
  'splice',
  'version',
  'apikey',
] as const;
export type Mutator = (typeof MUTATORS)[number];

/** Header length for the frame's api/version (api key, version, correlation id, client id, tagged fields), at least 8. */
function headerEnd(frame: Buffer): number {
  if (frame.length < 10) return Math.min(8, frame.length);
  const n = frame.readInt16BE(8);
  return Math.min(frame.length, 10 + Math.max(0, n));
}

export class FrameMutator {
  readonly used: Record<Mutator, number> = Object.fromEntries(MUTATORS.map((m) => [m, 0])) as Record<Mutator, number>;
  constructor(
    private readonly rng: Rng,
    private readonly corpus: () => SeedFrame,
  ) {}

  /** 1 to 4 stacked mutations of `seed`; the result is a new buffer. */
  mutate(seed: Buffer): Buffer {
    let f: Buffer = Buffer.from(seed);
    const n = this.rng.chance(0.6) ? 1 : this.rng.range(2, 4);
    for (let i = 0; i < n; i++) f = this.once(f);
    return f;
  }

  private pos(f: Buffer, bodyBias = true): number {
    if (f.length === 0) return 0;
    // Mostly inside the body: the header is checked first and would hide the rest.
    const start = bodyBias && this.rng.chance(0.85) ? Math.min(headerEnd(f), f.length - 1) : 0;
    return this.rng.range(start, f.length - 1);
  }

  private once(f: Buffer): Buffer {
    const r = this.rng;
    const m = r.pick(MUTATORS);
    this.used[m]++;
    switch (m) {
      case 'bitflip': {
        if (!f.length) return f;
        const k = r.range(1, 4);
        for (let i = 0; i < k; i++) f[this.pos(f)] ^= 1 << r.int(8);
        return f;
      }
      case 'byte':
        if (f.length) f[this.pos(f)] = r.pick([0, 0xff, 0x7f, 0x80, 0x01, r.int(256)]);
        return f;
      case 'int16': {
        if (f.length < 2) return f;
        const p = Math.min(this.pos(f), f.length - 2);
        f.writeInt16BE(r.pick(INTERESTING16), p);
        return f;
      }
      case 'int32': {
        if (f.length < 4) return f;
        const p = Math.min(this.pos(f), f.length - 4);
        const cur = f.readInt32BE(p);
        const v = r.chance(0.3) ? (cur + r.pick([-1, 1, -4, 4, 1000])) | 0 : r.pick(INTERESTING32);
        f.writeInt32BE(v, p);
        return f;
      }
      case 'varint': {
        const p = this.pos(f);
        const v = r.pick(LONG_VARINTS);
        return r.chance(0.5) ? Buffer.concat([f.subarray(0, p), v, f.subarray(p)]) : Buffer.concat([f.subarray(0, p), v, f.subarray(Math.min(f.length, p + v.length))]);
      }
      case 'truncate':
        return f.subarray(0, r.chance(0.2) ? r.range(0, Math.min(12, f.length)) : this.pos(f));
      case 'append':
        return Buffer.concat([f, r.bytes(r.range(1, 64))]);
      case 'insert': {
        const p = this.pos(f);
        return Buffer.concat([f.subarray(0, p), r.bytes(r.range(1, 16)), f.subarray(p)]);
      }
      case 'delete': {
        const p = this.pos(f);
        return Buffer.concat([f.subarray(0, p), f.subarray(Math.min(f.length, p + r.range(1, 16)))]);
      }
      case 'duplicate': {
        const p = this.pos(f);
        const q = Math.min(f.length, p + r.range(1, 64));
        return Buffer.concat([f.subarray(0, q), f.subarray(p, q), f.subarray(q)]);
      }
      case 'splice': {
        const other = this.corpus().frame;
        const p = this.pos(f);
        const q = other.length ? r.int(other.length) : 0;
        return Buffer.concat([f.subarray(0, p), other.subarray(q)]);
      }
      case 'version': {
        if (f.length < 4) return f;
        const api = API_BY_KEY.get(f.readInt16BE(0));
        const v = api && r.chance(0.8) ? r.range(api.minVersion, api.maxVersion) : r.pick([-1, 0x7fff, (f.readInt16BE(2) + 1) << 16 >> 16]);
        f.writeInt16BE(v, 2);
        return f;
      }
      case 'apikey': {
        if (f.length < 2) return f;
        f.writeInt16BE(r.chance(0.9) ? r.pick([...API_BY_KEY.keys()]) : r.pick([-1, 1000, 0x7fff]), 0);
        return f;
      }
    }
  }
}

/** A stream of fuzz cases: generated well-formed frames, recorded seeds as they are, and mutants of both. */
export class FuzzCases {
  readonly rng: Rng;
  readonly gen: FrameGenerator;
  readonly mutator: FrameMutator;
  readonly counts = { generated: 0, seeds: 0, mutated: 0 };
  private readonly pool: SeedFrame[] = [];

  constructor(
    readonly seed: number,
    readonly seeds: SeedFrame[],
  ) {
    this.rng = new Rng(seed);
    this.gen = new FrameGenerator(this.rng);
    this.mutator = new FrameMutator(this.rng, () => this.pickBase());
    // Every message at every version once, so the corpus covers the whole schema.
    for (const s of REQUEST_SCHEMAS) {
      for (let v = s.validVersions[0]; v <= s.validVersions[1]; v++) {
        const g = this.gen.generate(s, v);
        if (g) this.pool.push(g);
      }
    }
  }

  /** Every (api, version) of the schema, one generated frame each. */
  get schemaCorpus(): readonly SeedFrame[] {
    return this.pool;
  }

  private pickBase(): SeedFrame {
    if (this.seeds.length && this.rng.chance(0.5)) return this.rng.pick(this.seeds);
    return this.rng.chance(0.5) ? this.rng.pick(this.pool) : (this.gen.generate() ?? this.rng.pick(this.pool));
  }

  next(): { frame: Buffer; kind: 'generated' | 'seed' | 'mutated'; origin: string } {
    const k = this.rng.next();
    if (k < 0.2) {
      const g = this.gen.generate();
      if (g) {
        this.counts.generated++;
        return { frame: g.frame, kind: 'generated', origin: 'generated' };
      }
    }
    if (k < 0.25 && this.seeds.length) {
      this.counts.seeds++;
      const s = this.rng.pick(this.seeds);
      return { frame: s.frame, kind: 'seed', origin: s.origin };
    }
    const base = this.pickBase();
    this.counts.mutated++;
    return { frame: this.mutator.mutate(base.frame), kind: 'mutated', origin: base.origin };
  }
}
