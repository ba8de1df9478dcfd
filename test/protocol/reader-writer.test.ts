import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DecodeError, Reader } from '../../src/protocol/reader.js';
import { Writer } from '../../src/protocol/writer.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const write = (f: (w: Writer) => void): Buffer => {
  const w = new Writer();
  f(w);
  return w.toBuffer();
};

describe('varints', () => {
  it('unsigned varint golden bytes', () => {
    expect(write((w) => w.writeUnsignedVarint(0))).toEqual(hex('00'));
    expect(write((w) => w.writeUnsignedVarint(127))).toEqual(hex('7f'));
    expect(write((w) => w.writeUnsignedVarint(128))).toEqual(hex('8001'));
    expect(write((w) => w.writeUnsignedVarint(300))).toEqual(hex('ac02'));
    expect(write((w) => w.writeUnsignedVarint(0xffffffff))).toEqual(hex('ffffffff0f'));
    expect(new Reader(hex('ffffffff0f')).readUnsignedVarint()).toBe(0xffffffff);
  });

  it('zigzag varint golden bytes, negative values included', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [-1, '01'],
      [1, '02'],
      [-2, '03'],
      [63, '7e'],
      [-64, '7f'],
      [64, '8001'],
      [2147483647, 'feffffff0f'],
      [-2147483648, 'ffffffff0f'],
    ];
    for (const [v, h] of cases) {
      expect(write((w) => w.writeVarint(v))).toEqual(hex(h));
      expect(new Reader(hex(h)).readVarint()).toBe(v);
    }
  });

  it('varint round trip over the int32 range', () => {
    fc.assert(
      fc.property(fc.integer({ min: -2147483648, max: 2147483647 }), (v) => {
        const r = new Reader(write((w) => w.writeVarint(v)));
        expect(r.readVarint()).toBe(v);
        expect(r.remaining()).toBe(0);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
        expect(new Reader(write((w) => w.writeUnsignedVarint(v))).readUnsignedVarint()).toBe(v);
      }),
    );
  });

  it('varlongs at the 64-bit extremes', () => {
    const min = -(2n ** 63n);
    const max = 2n ** 63n - 1n;
    expect(write((w) => w.writeVarlong(0n))).toEqual(hex('00'));
    expect(write((w) => w.writeVarlong(-1n))).toEqual(hex('01'));
    expect(write((w) => w.writeVarlong(max))).toEqual(hex('feffffffffffffffff01'));
    expect(write((w) => w.writeVarlong(min))).toEqual(hex('ffffffffffffffffff01'));
    expect(new Reader(hex('feffffffffffffffff01')).readVarlong()).toBe(max);
    expect(new Reader(hex('ffffffffffffffffff01')).readVarlong()).toBe(min);
    expect(write((w) => w.writeUnsignedVarlong(2n ** 64n - 1n))).toEqual(hex('ffffffffffffffffff01'));
    expect(new Reader(hex('ffffffffffffffffff01')).readUnsignedVarlong()).toBe(2n ** 64n - 1n);
    // bits above 63 in a 10th byte are dropped, never returned out of range
    expect(new Reader(hex('ffffffffffffffffff7f')).readUnsignedVarlong()).toBe(2n ** 64n - 1n);
    fc.assert(
      fc.property(fc.bigInt({ min, max }), (v) => {
        const r = new Reader(write((w) => w.writeVarlong(v)));
        expect(r.readVarlong()).toBe(v);
        expect(r.remaining()).toBe(0);
      }),
    );
  });

  it('overlong and truncated varints are DecodeErrors', () => {
    expect(() => new Reader(hex('ffffffffff01')).readUnsignedVarint()).toThrow(DecodeError);
    expect(() => new Reader(hex('ffffffffffffffffffff01')).readUnsignedVarlong()).toThrow(DecodeError);
    expect(() => new Reader(hex('80')).readUnsignedVarint()).toThrow(DecodeError);
    expect(() => new Reader(hex('')).readVarlong()).toThrow(DecodeError);
  });
});

describe('fixed-width integers', () => {
  it('round trip and bounds', () => {
    const b = write((w) =>
      w
        .writeInt8(-128)
        .writeUInt8(255)
        .writeInt16(-32768)
        .writeUInt16(65535)
        .writeInt32(-2147483648)
        .writeUInt32(4294967295)
        .writeInt64(-(2n ** 63n))
        .writeFloat64(-0)
        .writeBoolean(true),
    );
    expect(b).toEqual(hex('80 ff 8000 ffff 80000000 ffffffff 8000000000000000 8000000000000000 01'));
    const r = new Reader(b);
    expect(r.readInt8()).toBe(-128);
    expect(r.readUInt8()).toBe(255);
    expect(r.readInt16()).toBe(-32768);
    expect(r.readUInt16()).toBe(65535);
    expect(r.readInt32()).toBe(-2147483648);
    expect(r.readUInt32()).toBe(4294967295);
    expect(r.readInt64()).toBe(-(2n ** 63n));
    expect(Object.is(r.readFloat64(), -0)).toBe(true);
    expect(r.readBoolean()).toBe(true);
    expect(() => r.readInt8()).toThrow(DecodeError);
    expect(() => new Reader(hex('0001')).readInt32()).toThrow(DecodeError);
  });

  it('a reader never reads past its end nor past the buffer', () => {
    const buf = hex('00010203');
    expect(() => new Reader(buf, 0, 2).readInt32()).toThrow(DecodeError);
    // an end beyond the buffer is clamped: a DecodeError, not a RangeError
    expect(() => new Reader(buf, 2, 100).readInt32()).toThrow(DecodeError);
  });
});

describe('strings and bytes', () => {
  it('legacy and compact strings, golden bytes', () => {
    expect(write((w) => w.writeString('abc'))).toEqual(hex('0003 616263'));
    expect(write((w) => w.writeNullableString(null))).toEqual(hex('ffff'));
    expect(write((w) => w.writeCompactString('abc'))).toEqual(hex('04 616263'));
    expect(write((w) => w.writeCompactNullableString(null))).toEqual(hex('00'));
    expect(write((w) => w.writeCompactString(''))).toEqual(hex('01'));
    expect(write((w) => w.writeString('é'))).toEqual(hex('0002 c3a9'));
    expect(new Reader(hex('ffff')).readNullableString()).toBeNull();
    expect(new Reader(hex('00')).readCompactNullableString()).toBeNull();
    expect(new Reader(hex('04 616263')).readCompactString()).toBe('abc');
  });

  it('null where null is not allowed, negative and oversized lengths are DecodeErrors', () => {
    expect(() => new Reader(hex('ffff')).readString()).toThrow(DecodeError);
    expect(() => new Reader(hex('00')).readCompactString()).toThrow(DecodeError);
    expect(() => new Reader(hex('fffe')).readNullableString()).toThrow(DecodeError);
    expect(() => new Reader(hex('7fff 6162')).readString()).toThrow(DecodeError);
    expect(() => new Reader(hex('ffffffff0f 61')).readCompactString()).toThrow(DecodeError);
    expect(() => new Reader(hex('ffffffff')).readBytes()).toThrow(DecodeError);
    expect(() => new Reader(hex('7fffffff 00')).readNullableBytes()).toThrow(DecodeError);
    expect(() => new Reader(hex('7fffffff')).readArrayLength(false)).toThrow(DecodeError);
    expect(() => new Reader(hex('ffffffff')).readArrayLength(false)).toThrow(DecodeError);
    expect(new Reader(hex('ffffffff')).readArrayLength(true)).toBe(-1);
    expect(new Reader(hex('00')).readCompactArrayLength(true)).toBe(-1);
    expect(() => new Reader(hex('00')).readCompactArrayLength(false)).toThrow(DecodeError);
  });

  it('string and bytes round trips (unicode included)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (s, b) => {
        const buf = write((w) =>
          w.writeString(s).writeCompactString(s).writeNullableString(s).writeBytes(b).writeCompactBytes(b).writeCompactNullableBytes(null),
        );
        const r = new Reader(buf);
        expect(r.readString()).toBe(s);
        expect(r.readCompactString()).toBe(s);
        expect(r.readNullableString()).toBe(s);
        expect(r.readBytes()).toEqual(Buffer.from(b));
        expect(r.readCompactBytes()).toEqual(Buffer.from(b));
        expect(r.readCompactNullableBytes()).toBeNull();
        expect(r.remaining()).toBe(0);
      }),
    );
  });

  it('bytes are views into the frame, not copies', () => {
    const frame = hex('00000003 aabbcc');
    const b = new Reader(frame).readBytes();
    expect(b.buffer).toBe(frame.buffer);
    expect(b.byteOffset).toBe(frame.byteOffset + 4);
  });

  it('uuids in Kafka text form', () => {
    const raw = hex('0123456789abcdef0123456789abcdef');
    const s = new Reader(raw).readUuid();
    expect(s).toBe(raw.toString('base64url'));
    expect(s).toHaveLength(22);
    expect(write((w) => w.writeUuid(s))).toEqual(raw);
    expect(write((w) => w.writeUuid('AAAAAAAAAAAAAAAAAAAAAA'))).toEqual(Buffer.alloc(16));
    expect(() => write((w) => w.writeUuid('short'))).toThrow();
  });
});

describe('chunked writer', () => {
  it('keeps large buffers by reference and small ones copied', () => {
    const big = Buffer.alloc(64 * 1024, 7);
    const small = Buffer.from('tiny');
    const w = new Writer();
    w.writeInt32(big.length).writeRaw(big).writeRaw(small).writeInt8(1);
    const chunks = w.chunksOut();
    expect(chunks.some((c) => c === big)).toBe(true);
    expect(chunks.some((c) => c === small)).toBe(false);
    expect(w.length).toBe(4 + big.length + small.length + 1);
    const all = Buffer.concat(chunks);
    expect(all.readInt32BE(0)).toBe(big.length);
    expect(all.subarray(4, 4 + big.length).equals(big)).toBe(true);
    expect(all.subarray(4 + big.length, 8 + big.length).toString()).toBe('tiny');
    expect(all[all.length - 1]).toBe(1);
  });

  it('grows across many writes and reserves an int32 filled in later', () => {
    const w = new Writer(8);
    const size = w.reserveInt32();
    for (let i = 0; i < 10000; i++) w.writeInt32(i);
    size.set(w.length - 4);
    const b = w.toBuffer();
    expect(b.length).toBe(40004);
    expect(b.readInt32BE(0)).toBe(40000);
    expect(b.readInt32BE(4 + 9999 * 4)).toBe(9999);
  });

  it('an empty writer gives an empty buffer', () => {
    expect(new Writer().toBuffer().length).toBe(0);
  });
});
