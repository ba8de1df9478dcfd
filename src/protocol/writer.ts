// Growable writer that keeps large payloads (record batches) by reference: a
// fetch response is a list of buffers handed to the socket as they are, so the
// bytes read from storage are never copied into a response buffer.

const INITIAL = 256;
/** Payloads at least this large are referenced, not copied. */
const REFERENCE_THRESHOLD = 1024;

export class Writer {
  private chunks: Buffer[] = [];
  private cur: Buffer;
  private pos = 0;
  private flushedLength = 0;
  private allocSize: number;

  constructor(initial = INITIAL) {
    this.allocSize = initial;
    this.cur = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.flushedLength + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.sealCurrent();
    this.allocSize = Math.max(n, Math.min(this.allocSize * 2, 1 << 20));
    this.cur = Buffer.allocUnsafe(this.allocSize);
  }

  private sealCurrent(): void {
    if (this.pos > 0) {
      this.chunks.push(this.cur.subarray(0, this.pos));
      this.flushedLength += this.pos;
      this.cur = this.cur.subarray(this.pos);
      this.pos = 0;
    }
  }

  writeInt8(v: number): this {
    this.ensure(1);
    this.cur.writeInt8(v, this.pos);
    this.pos += 1;
    return this;
  }

  writeUInt8(v: number): this {
    this.ensure(1);
    this.cur[this.pos++] = v & 0xff;
    return this;
  }

  writeBoolean(v: boolean): this {
    return this.writeInt8(v ? 1 : 0);
  }

  writeInt16(v: number): this {
    this.ensure(2);
    this.cur.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  writeUInt16(v: number): this {
    this.ensure(2);
    this.cur.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  writeInt32(v: number): this {
    this.ensure(4);
    this.cur.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  writeUInt32(v: number): this {
    this.ensure(4);
    this.cur.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  writeInt64(v: bigint): this {
    this.ensure(8);
    this.cur.writeBigInt64BE(v, this.pos);
    this.pos += 8;
    return this;
  }

  writeFloat64(v: number): this {
    this.ensure(8);
    this.cur.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }

  writeUnsignedVarint(v: number): this {
    this.ensure(5);
    let u = v >>> 0;
    while (u >= 0x80) {
      this.cur[this.pos++] = (u & 0x7f) | 0x80;
      u >>>= 7;
    }
    this.cur[this.pos++] = u;
    return this;
  }

  writeVarint(v: number): this {
    return this.writeUnsignedVarint(((v << 1) ^ (v >> 31)) >>> 0);
  }

  writeUnsignedVarlong(v: bigint): this {
    this.ensure(10);
    let u = BigInt.asUintN(64, v);
    while (u >= 0x80n) {
      this.cur[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.cur[this.pos++] = Number(u);
    return this;
  }

  writeVarlong(v: bigint): this {
    return this.writeUnsignedVarlong(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }

  writeUuid(v: string): this {
    const b = Buffer.from(v, 'base64url');
    if (b.length !== 16) throw new Error(`bad uuid ${v}`);
    return this.writeRaw(b);
  }

  writeRaw(b: Uint8Array): this {
    if (b.length >= REFERENCE_THRESHOLD) {
      this.sealCurrent();
      this.chunks.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));
      this.flushedLength += b.length;
      return this;
    }
    this.ensure(b.length);
    this.cur.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  private writeUtf8(s: string, len: number): void {
    this.ensure(len);
    this.cur.write(s, this.pos, len, 'utf8');
    this.pos += len;
  }

  writeString(s: string): this {
    const len = Buffer.byteLength(s, 'utf8');
    this.writeInt16(len);
    this.writeUtf8(s, len);
    return this;
  }

  writeNullableString(s: string | null | undefined): this {
    if (s == null) return this.writeInt16(-1);
    return this.writeString(s);
  }

  writeCompactString(s: string): this {
    const len = Buffer.byteLength(s, 'utf8');
    this.writeUnsignedVarint(len + 1);
    this.writeUtf8(s, len);
    return this;
  }

  writeCompactNullableString(s: string | null | undefined): this {
    if (s == null) return this.writeUnsignedVarint(0);
    return this.writeCompactString(s);
  }

  writeBytes(b: Uint8Array): this {
    this.writeInt32(b.length);
    return this.writeRaw(b);
  }

  writeNullableBytes(b: Uint8Array | null | undefined): this {
    if (b == null) return this.writeInt32(-1);
    return this.writeBytes(b);
  }

  writeCompactBytes(b: Uint8Array): this {
    this.writeUnsignedVarint(b.length + 1);
    return this.writeRaw(b);
  }

  writeCompactNullableBytes(b: Uint8Array | null | undefined): this {
    if (b == null) return this.writeUnsignedVarint(0);
    return this.writeCompactBytes(b);
  }

  /** Reserve 4 bytes for an int32 filled in later (frame sizes). */
  reserveInt32(): { set(v: number): void } {
    this.ensure(4);
    const buf = this.cur;
    const at = this.pos;
    this.pos += 4;
    return { set: (v: number) => buf.writeInt32BE(v, at) };
  }

  /** The written bytes as a list of buffers (large payloads by reference). */
  chunksOut(): Buffer[] {
    this.sealCurrent();
    return this.chunks;
  }

  toBuffer(): Buffer {
    const chunks = this.chunksOut();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.flushedLength);
  }
}
