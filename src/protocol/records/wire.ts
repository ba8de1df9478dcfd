// Byte-level helpers shared by this folder: int64 as plain numbers (two int32
// halves, no BigInt on the hot path) and a bounds-checked varint cursor for
// record bodies. Every read checks the bytes that remain and throws a
// RecordsError, never a RangeError from Buffer.

import { RecordsError, RecordsErrorCode, type RecordsErrorCode as Code } from './errors.js';

const TWO_32 = 4294967296;

/**
 * Reads a big-endian int64 as a JS number. Exact for |v| < 2^53 (offsets,
 * timestamps and producer ids here); larger values lose low bits but never throw.
 * The caller has checked that 8 bytes are available.
 */
export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

/** Writes a safe-integer number as a big-endian int64. */
export function writeInt64(buf: Buffer, pos: number, v: number): void {
  if (!Number.isSafeInteger(v)) throw new RangeError(`int64 value ${v} is not a safe integer`);
  const hi = Math.floor(v / TWO_32);
  buf.writeInt32BE(hi, pos);
  buf.writeUInt32BE(v - hi * TWO_32, pos + 4);
}

/**
 * Writes any finite number as an int64, clamped to the int64 range and exact
 * where the number is (for values decoded from untrusted data being re-encoded).
 */
export function writeInt64Clamped(buf: Buffer, pos: number, v: number): void {
  let hi: number;
  let lo: number;
  if (!(v < 2 ** 63)) {
    hi = 0x7fffffff;
    lo = 0xffffffff;
  } else if (v < -(2 ** 63)) {
    hi = -0x80000000;
    lo = 0;
  } else {
    hi = Math.floor(v / TWO_32);
    lo = Math.min(TWO_32 - 1, Math.max(0, Math.round(v - hi * TWO_32)));
  }
  buf.writeInt32BE(hi, pos);
  buf.writeUInt32BE(lo, pos + 4);
}

/** A read position over buf[pos, end) whose reads fail with a RecordsError of one code. */
export class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    public end: number,
    private readonly code: Code = RecordsErrorCode.INVALID_RECORD,
  ) {}

  fail(message: string): never {
    throw new RecordsError(this.code, message);
  }

  remaining(): number {
    return this.end - this.pos;
  }

  readInt8(): number {
    if (this.pos >= this.end) this.fail('record truncated (int8)');
    return this.buf.readInt8(this.pos++);
  }

  readInt16(): number {
    if (this.pos + 2 > this.end) this.fail('record truncated (int16)');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  readInt32(): number {
    if (this.pos + 4 > this.end) this.fail('record truncated (int32)');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  readInt64(): number {
    if (this.pos + 8 > this.end) this.fail('record truncated (int64)');
    const v = readInt64(this.buf, this.pos);
    this.pos += 8;
    return v;
  }

  /** Zigzag varint (int32), at most 5 bytes. */
  readVarint(): number {
    const buf = this.buf;
    let u = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) this.fail('record truncated (varint)');
      const b = buf[this.pos++]!;
      u |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return (u >>> 1) ^ -(u & 1);
      shift += 7;
    }
    return this.fail('varint is longer than 5 bytes');
  }

  /**
   * Zigzag varlong, at most 10 bytes, as a number (exact below 2^53 in
   * magnitude, which covers every timestamp delta a client sends).
   */
  readVarlong(): number {
    const buf = this.buf;
    let u = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('record truncated (varlong)');
      const b = buf[this.pos++]!;
      u += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        // zigzag: even -> u/2, odd -> -(u+1)/2; on the u value, not bits (u may exceed 2^32)
        return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
      }
      mul *= 128;
    }
    return this.fail('varlong is longer than 10 bytes');
  }

  /** A view of the next n bytes (no copy). */
  take(n: number, what: string): Buffer {
    if (n < 0 || n > this.end - this.pos) this.fail(`${what} length ${n} exceeds the ${this.end - this.pos} bytes left`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/** Bytes taken by an unsigned varint holding u (0 <= u < 2^32). */
export function sizeOfUnsignedVarint(u: number): number {
  if (u < 0x80) return 1;
  if (u < 0x4000) return 2;
  if (u < 0x200000) return 3;
  if (u < 0x10000000) return 4;
  return 5;
}

export function zigzag32(v: number): number {
  return ((v << 1) ^ (v >> 31)) >>> 0;
}

export function sizeOfVarint(v: number): number {
  return sizeOfUnsignedVarint(zigzag32(v));
}

/** Zigzag of a safe integer as a (possibly > 2^32) non-negative number. */
export function zigzag64(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

export function sizeOfVarlong(v: number): number {
  let u = zigzag64(v);
  let n = 1;
  while (u >= 128) {
    u = Math.floor(u / 128);
    n++;
  }
  return n;
}

/** Writes a zigzag varint at pos; returns the new position. */
export function writeVarint(buf: Buffer, pos: number, v: number): number {
  let u = zigzag32(v);
  while (u >= 0x80) {
    buf[pos++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  buf[pos++] = u;
  return pos;
}

/** Writes a zigzag varlong of a safe integer at pos; returns the new position. */
export function writeVarlong(buf: Buffer, pos: number, v: number): number {
  let u = zigzag64(v);
  while (u >= 128) {
    buf[pos++] = (u % 128) | 0x80;
    u = Math.floor(u / 128);
  }
  buf[pos++] = u;
  return pos;
}
