import { crc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32cCombine, crc32cOfBatches } from '../../../src/protocol/records/crc32c.js';
import { buildBatch } from '../../../src/protocol/records/records.js';

/** A v2 batch of one record whose value has `valueBytes` random bytes. */
function batch(valueBytes: number, seed: number): Buffer {
  const value = Buffer.alloc(valueBytes);
  for (let i = 0; i < valueBytes; i++) value[i] = (seed * 31 + i * 7919) & 0xff;
  const b = buildBatch({ baseOffset: seed * 10, records: [{ key: null, value, timestamp: 1_700_000_000_000 + seed }] });
  b.writeInt32BE(seed, 12); // a patched leader epoch: outside the batch's own CRC
  return b;
}

describe('crc32cCombine', () => {
  it('is the CRC of the concatenation, for any split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }), (a, b) => {
        const A = Buffer.from(a);
        const B = Buffer.from(b);
        expect(crc32cCombine(crc32c(A), crc32c(B), B.length)).toBe(crc32c(Buffer.concat([A, B])) >>> 0);
      }),
    );
  });

  it('handles lengths up to gigabytes', () => {
    // crc32c(zeros of n) combined with zero-length data is itself; a long zero run checks x2nModP's high bits.
    const z = Buffer.alloc(1 << 20);
    let whole = 0;
    for (let i = 0; i < 4; i++) whole = crc32c(z, whole);
    const half = crc32c(Buffer.concat([z, z]));
    expect(crc32cCombine(half, half, 2 << 20)).toBe(whole >>> 0);
    expect(crc32cCombine(0x12345678, 0, 0)).toBe(0x12345678);
  });
});

describe('crc32cOfBatches', () => {
  it('equals crc32c of the bytes: small and large batches, any previous CRC, bytes that are not batches', () => {
    const sizes = [0, 10, 9000, 100, 70_000, 8192 - 70, 8192, 1 << 20];
    const batches = sizes.map((s, i) => batch(s, i + 1));
    const all = Buffer.concat(batches);
    for (const previous of [0, 0xdeadbeef]) {
      expect(crc32cOfBatches(all, previous)).toBe(crc32c(all, previous) >>> 0);
      for (let i = 0; i < batches.length; i++) {
        expect(crc32cOfBatches(batches[i]!, previous)).toBe(crc32c(batches[i]!, previous) >>> 0);
      }
      // a tail that is not a whole batch, and bytes of another kind
      const torn = all.subarray(0, all.length - 5);
      expect(crc32cOfBatches(torn, previous)).toBe(crc32c(torn, previous) >>> 0);
      const other = Buffer.concat([Buffer.from('SHWAL001'), all]);
      expect(crc32cOfBatches(other, previous)).toBe(crc32c(other, previous) >>> 0);
      const oddLength = Buffer.from(all);
      oddLength.writeInt32BE(-5, 8);
      expect(crc32cOfBatches(oddLength, previous)).toBe(crc32c(oddLength, previous) >>> 0);
    }
  });

  it('trusts a large batch\'s own CRC: a body damaged after its check gives a CRC its bytes do not have', () => {
    const b = batch(20_000, 3);
    const damaged = Buffer.from(b);
    damaged[5000] ^= 1;
    expect(crc32cOfBatches(damaged)).toBe(crc32c(b) >>> 0);
    expect(crc32cOfBatches(damaged)).not.toBe(crc32c(damaged) >>> 0);
  });
});
