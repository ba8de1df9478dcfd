// Bounds-checked reader over one request frame. Every length read from the wire
// is checked against the bytes that remain before anything is allocated, so a
// hostile length prefix costs an exception, never memory.

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

const UUID_BYTES = 16;

export class Reader {
  pos: number;
  readonly end: number;

  constructor(readonly buf: Buffer, start = 0, end = buf.length) {
    this.pos = start;
    // Never past the buffer: a read there would be a RangeError, not a DecodeError.
    this.end = Math.min(end, buf.length);
  }

  remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new DecodeError(`need ${n} bytes at ${this.pos}, have ${this.end - this.pos}`);
    }
  }

  readInt8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }

  readUInt8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  readBoolean(): boolean {
    return this.readInt8() !== 0;
  }

  readInt16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  readUInt16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  readInt32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  readUInt32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  readInt64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  readFloat64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  readUnsignedVarint(): number {
    let value = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      value |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return value >>> 0;
      shift += 7;
    }
    throw new DecodeError('varint is too long');
  }

  readVarint(): number {
    const u = this.readUnsignedVarint();
    return (u >>> 1) ^ -(u & 1);
  }

  readUnsignedVarlong(): bigint {
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      value |= BigInt(b & 0x7f) << shift;
      // A 10th byte carries bits above 63: keep the low 64 as Kafka's Java does.
      if ((b & 0x80) === 0) return BigInt.asUintN(64, value);
      shift += 7n;
    }
    throw new DecodeError('varlong is too long');
  }

  readVarlong(): bigint {
    const u = this.readUnsignedVarlong();
    return (u >> 1n) ^ -(u & 1n);
  }

  readUuid(): string {
    this.need(UUID_BYTES);
    const v = this.buf.toString('base64url', this.pos, this.pos + UUID_BYTES);
    this.pos += UUID_BYTES;
    return v;
  }

  /** Length of a legacy (non-compact) string, bytes or array: -1 is null. */
  private checkedLength(n: number, nullable: boolean, what: string): number {
    if (n === -1 && nullable) return -1;
    if (n < 0) throw new DecodeError(`negative ${what} length ${n}`);
    if (n > this.remaining()) throw new DecodeError(`${what} length ${n} exceeds ${this.remaining()} remaining bytes`);
    return n;
  }

  private takeString(n: number): string {
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  private takeBytes(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  readString(): string {
    return this.takeString(this.checkedLength(this.readInt16(), false, 'string'));
  }

  readNullableString(): string | null {
    const n = this.checkedLength(this.readInt16(), true, 'string');
    return n < 0 ? null : this.takeString(n);
  }

  readCompactString(): string {
    return this.takeString(this.checkedLength(this.readUnsignedVarint() - 1, false, 'compact string'));
  }

  readCompactNullableString(): string | null {
    const n = this.checkedLength(this.readUnsignedVarint() - 1, true, 'compact string');
    return n < 0 ? null : this.takeString(n);
  }

  /** Bytes are returned as a view into the frame: no copy on the hot path. */
  readBytes(): Buffer {
    return this.takeBytes(this.checkedLength(this.readInt32(), false, 'bytes'));
  }

  readNullableBytes(): Buffer | null {
    const n = this.checkedLength(this.readInt32(), true, 'bytes');
    return n < 0 ? null : this.takeBytes(n);
  }

  readCompactBytes(): Buffer {
    return this.takeBytes(this.checkedLength(this.readUnsignedVarint() - 1, false, 'compact bytes'));
  }

  readCompactNullableBytes(): Buffer | null {
    const n = this.checkedLength(this.readUnsignedVarint() - 1, true, 'compact bytes');
    return n < 0 ? null : this.takeBytes(n);
  }

  readRawBytes(n: number): Buffer {
    this.need(n);
    return this.takeBytes(n);
  }

  /**
   * Element count of an array. Every element takes at least one byte on the
   * wire, so a count above the remaining bytes is malformed: checking here keeps
   * a forged count from allocating a huge array.
   */
  readArrayLength(nullable: boolean): number {
    return this.checkedLength(this.readInt32(), nullable, 'array');
  }

  readCompactArrayLength(nullable: boolean): number {
    return this.checkedLength(this.readUnsignedVarint() - 1, nullable, 'compact array');
  }
}
