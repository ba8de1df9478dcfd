// CRC-32C of stored bytes made of whole v2 batches, without reading the
// batches again. A batch's own CRC covers every byte after its first 21, so
// the CRC of the whole batch is that of its 21-byte head combined with the
// CRC the batch already carries (zlib's crc32_combine, for the Castagnoli
// polynomial). The WAL object's data CRC and a stored segment block's CRC
// are made this way: a 1 MiB batch costs a few hundred register operations
// instead of a 1 MiB pass (the produce path had already read it to check
// its CRC), and the four CRC passes over every byte of a 1 MiB produce were
// 13% of the machine's CPU.
//
// Only for batches whose CRCs were checked when they arrived: a batch with a
// wrong CRC yields a CRC that its bytes do not have, which is then caught as
// damage when the bytes are read back, not here.

import { crc32c } from '@node-rs/crc32';
import { ATTRIBUTES_OFFSET, CRC_OFFSET, LENGTH_OFFSET, LOG_OVERHEAD, MAGIC_OFFSET, RECORD_BATCH_OVERHEAD } from './batch.js';

/** Reflected CRC-32C (Castagnoli) polynomial. */
const POLY = 0x82f63b78;

/** a(x) * b(x) mod P(x), in the reflected bit order of the CRC. */
function multModP(a: number, b: number): number {
  if (a === 0) return 0;
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) mod P(x). */
const X2N = new Uint32Array(32);
{
  let p = 1 << 30; // x^1
  X2N[0] = p;
  for (let k = 1; k < 32; k++) X2N[k] = p = multModP(p, p);
}

/** x^(n * 2^k) mod P(x). */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n) {
    if (n & 1) p = multModP(X2N[k & 31]!, p);
    n >>>= 1;
    k++;
  }
  return p;
}

/** The CRC-32C of A followed by B, from crc32c(A), crc32c(B) and B's length. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA) ^ crcB) >>> 0;
}

/**
 * Below this a batch is read directly: combining costs about as much as
 * reading a few KiB (measured: 1-2 µs per combine, 4.6 GB/s per pass).
 */
const COMBINE_FROM_BYTES = 8 * 1024;

/**
 * crc32c(bytes, previous): `bytes` is one or more whole v2 batches whose CRCs
 * are known to be right. Bytes that are not (a short tail, another magic)
 * are read as they are.
 */
export function crc32cOfBatches(bytes: Buffer, previous = 0): number {
  let crc = previous >>> 0;
  let pos = 0;
  let direct = 0; // start of bytes not yet counted
  while (bytes.length - pos >= RECORD_BATCH_OVERHEAD && bytes[pos + MAGIC_OFFSET] === 2) {
    const total = LOG_OVERHEAD + bytes.readInt32BE(pos + LENGTH_OFFSET);
    if (total < RECORD_BATCH_OVERHEAD || pos + total > bytes.length) break;
    if (total >= COMBINE_FROM_BYTES) {
      crc = crc32c(bytes.subarray(direct, pos + ATTRIBUTES_OFFSET), crc);
      crc = crc32cCombine(crc, bytes.readUInt32BE(pos + CRC_OFFSET), total - ATTRIBUTES_OFFSET);
      direct = pos + total;
    }
    pos += total;
  }
  return direct < bytes.length ? crc32c(bytes.subarray(direct), crc) >>> 0 : crc;
}
