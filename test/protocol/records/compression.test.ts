import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import * as snappy from 'snappy';
import * as lz4 from 'lz4-napi';
import {
  Codec,
  compress,
  decompress,
  isXerial,
  rawSnappyCompress,
  xerialCompress,
  xxh32Small,
} from '../../../src/protocol/records/compression.js';
import { RecordsErrorCode } from '../../../src/protocol/records/errors.js';
import {
  LZ4_BLOCK_CHECKSUM_CONTENT_SIZE,
  LZ4_JAVA_STYLE,
  LZ4_LINKED_CONTENT_CHECKSUM,
  ZSTD_STREAMING_NO_CONTENT_SIZE,
  fixturePlaintext,
} from './fixtures.js';
import { expectCode } from './helpers.js';

const samples: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from('a'),
  Buffer.from('hello kafka '.repeat(1000)),
  Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) & 0xff)),
  fixturePlaintext(),
];

describe('round trips', () => {
  for (const codec of [Codec.NONE, Codec.GZIP, Codec.SNAPPY, Codec.LZ4, Codec.ZSTD]) {
    it(`codec ${codec}`, () => {
      for (const s of samples) {
        const c = compress(codec, s);
        expect(decompress(codec, c).equals(s)).toBe(true);
      }
    });
  }

  it('unknown codecs are UNSUPPORTED_COMPRESSION_TYPE', () => {
    expectCode(() => compress(5, Buffer.from('x')), RecordsErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
    expectCode(() => decompress(7, Buffer.from('x')), RecordsErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
  });
});

describe('snappy framing', () => {
  const data = fixturePlaintext(); // 131600 bytes: 5 xerial blocks of 32 KiB

  it('writes the xerial format of snappy-java (the Java client)', () => {
    const c = compress(Codec.SNAPPY, data);
    expect(isXerial(c)).toBe(true);
    expect(c.subarray(0, 16).toString('hex')).toBe('82534e4150505900' + '00000001' + '00000001');
    // blocks are [int32 length][raw snappy] of at most 32 KiB input each
    let pos = 16;
    let blocks = 0;
    let plain = 0;
    while (pos < c.length) {
      const len = c.readInt32BE(pos);
      const block = c.subarray(pos + 4, pos + 4 + len);
      plain += (snappy.uncompressSync(block, { asBuffer: true }) as Buffer).length;
      pos += 4 + len;
      blocks++;
    }
    expect(blocks).toBe(Math.ceil(data.length / 32768));
    expect(plain).toBe(data.length);
  });

  it('reads raw snappy as librdkafka (and the kafkajs-snappy codec) write it', () => {
    const raw = rawSnappyCompress(data);
    expect(isXerial(raw)).toBe(false);
    expect(decompress(Codec.SNAPPY, raw).equals(data)).toBe(true);
    expect(decompress(Codec.SNAPPY, snappy.compressSync(Buffer.from('x'))).toString()).toBe('x');
  });

  it('reads xerial framing built by hand, including concatenated streams and an empty stream', () => {
    const header = Buffer.from('82534e415050590000000001000000001'.slice(0, 32), 'hex');
    const frame = (parts: Buffer[]) =>
      Buffer.concat(
        parts.flatMap((p) => {
          const block = snappy.compressSync(p);
          const len = Buffer.alloc(4);
          len.writeInt32BE(block.length);
          return [len, block];
        }),
      );
    const a = Buffer.from('first block '.repeat(50));
    const b = Buffer.from('second block '.repeat(70));
    const one = Buffer.concat([header, frame([a, b])]);
    expect(decompress(Codec.SNAPPY, one).equals(Buffer.concat([a, b]))).toBe(true);
    const two = Buffer.concat([header, frame([a]), header, frame([b])]);
    expect(decompress(Codec.SNAPPY, two).equals(Buffer.concat([a, b]))).toBe(true);
    expect(decompress(Codec.SNAPPY, header).length).toBe(0);
  });

  it('rejects broken xerial framing as CORRUPT_MESSAGE', () => {
    const c = xerialCompress(data);
    expectCode(() => decompress(Codec.SNAPPY, c.subarray(0, c.length - 3)), RecordsErrorCode.CORRUPT_MESSAGE);
    const bad = Buffer.from(c);
    bad.writeInt32BE(-5, 16);
    expectCode(() => decompress(Codec.SNAPPY, bad), RecordsErrorCode.CORRUPT_MESSAGE);
    expectCode(() => decompress(Codec.SNAPPY, Buffer.from([0xff, 0xff, 0xff])), RecordsErrorCode.CORRUPT_MESSAGE);
  });
});

describe('lz4 frames', () => {
  const data = fixturePlaintext();

  it('decodes frames with linked blocks, block checksums, content size and content checksum', () => {
    for (const b64 of [LZ4_LINKED_CONTENT_CHECKSUM, LZ4_BLOCK_CHECKSUM_CONTENT_SIZE, LZ4_JAVA_STYLE]) {
      expect(decompress(Codec.LZ4, Buffer.from(b64, 'base64')).equals(data)).toBe(true);
    }
  });

  it('writes independent blocks without checksums (readable by KafkaLZ4BlockInputStream)', () => {
    const c = compress(Codec.LZ4, data);
    expect(c.readUInt32LE(0)).toBe(0x184d2204);
    const flg = c[4]!;
    expect(flg >> 6).toBe(1); // version 01
    expect(flg & 0x20).toBe(0x20); // block independence
    expect(flg & 0x10).toBe(0); // no block checksum
    // the header checksum is xxh32(descriptor) >> 8 & 0xff
    expect(c[6]).toBe((xxh32Small(c, 4, 6) >>> 8) & 0xff);
  });

  it('xxh32 matches the header checksums written by the lz4 tool', () => {
    for (const b64 of [LZ4_LINKED_CONTENT_CHECKSUM, LZ4_BLOCK_CHECKSUM_CONTENT_SIZE, LZ4_JAVA_STYLE]) {
      const f = Buffer.from(b64, 'base64');
      const descEnd = 6 + ((f[4]! & 0x08) !== 0 ? 8 : 0);
      expect(f[descEnd]).toBe((xxh32Small(f, 4, descEnd) >>> 8) & 0xff);
    }
  });

  it('repairs the magic-0 header checksum Kafka < 0.10 wrote over the magic bytes too (KAFKA-1493)', () => {
    const good = Buffer.from(LZ4_JAVA_STYLE, 'base64');
    const broken = Buffer.from(good);
    broken[6] = (xxh32Small(broken, 0, 6) >>> 8) & 0xff;
    expect(broken[6]).not.toBe(good[6]);
    expectCode(() => decompress(Codec.LZ4, broken), RecordsErrorCode.CORRUPT_MESSAGE);
    expect(decompress(Codec.LZ4, broken, { brokenLz4Checksum: true }).equals(data)).toBe(true);
    // the repair leaves the input untouched
    expect(broken[6]).not.toBe(good[6]);
  });

  it('rejects garbage and truncation as CORRUPT_MESSAGE', () => {
    const c = Buffer.from(LZ4_BLOCK_CHECKSUM_CONTENT_SIZE, 'base64');
    expectCode(() => decompress(Codec.LZ4, c.subarray(0, c.length - 10)), RecordsErrorCode.CORRUPT_MESSAGE);
    expectCode(() => decompress(Codec.LZ4, Buffer.from('not lz4 at all')), RecordsErrorCode.CORRUPT_MESSAGE);
    const flipped = Buffer.from(c);
    flipped[40]! ^= 0xff;
    expectCode(() => decompress(Codec.LZ4, flipped), RecordsErrorCode.CORRUPT_MESSAGE);
  });
});

describe('zstd', () => {
  it('decodes a streaming frame without content size (as zstd-jni writes)', () => {
    const f = Buffer.from(ZSTD_STREAMING_NO_CONTENT_SIZE, 'base64');
    expect(f[4]! >> 6).toBe(0); // FCS flag 0 ...
    expect(f[4]! & 0x20).toBe(0); // ... and not single-segment: no content size in the header
    expect(decompress(Codec.ZSTD, f).equals(fixturePlaintext())).toBe(true);
  });

  it('decodes concatenated frames', () => {
    const a = compress(Codec.ZSTD, Buffer.from('abc'.repeat(100)));
    const b = compress(Codec.ZSTD, Buffer.from('xyz'.repeat(100)));
    expect(decompress(Codec.ZSTD, Buffer.concat([a, b])).toString()).toBe('abc'.repeat(100) + 'xyz'.repeat(100));
  });

  it('rejects garbage as CORRUPT_MESSAGE', () => {
    expectCode(() => decompress(Codec.ZSTD, Buffer.from('not zstd')), RecordsErrorCode.CORRUPT_MESSAGE);
    const c = compress(Codec.ZSTD, fixturePlaintext());
    expectCode(() => decompress(Codec.ZSTD, c.subarray(0, c.length - 4)), RecordsErrorCode.CORRUPT_MESSAGE);
  });
});

describe('gzip', () => {
  it('reads multi-member streams and rejects garbage', () => {
    const two = Buffer.concat([gzipSync(Buffer.from('one ')), gzipSync(Buffer.from('two'))]);
    expect(decompress(Codec.GZIP, two).toString()).toBe('one two');
    expectCode(() => decompress(Codec.GZIP, Buffer.from('not gzip')), RecordsErrorCode.CORRUPT_MESSAGE);
  });
});

describe('decompression bombs are refused before inflating', () => {
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  for (const codec of [Codec.GZIP, Codec.SNAPPY, Codec.LZ4, Codec.ZSTD]) {
    it(`codec ${codec}`, () => {
      const c = compress(codec, zeros);
      expect(c.length).toBeLessThan(zeros.length / 10); // snappy tops out near 21:1
      const e = expectCode(() => decompress(codec, c, { maxBytes: 1024 * 1024 }), RecordsErrorCode.CORRUPT_MESSAGE);
      expect(e.message).toMatch(/limit|larger|exceed|buffer/i);
      expect(decompress(codec, c, { maxBytes: zeros.length + 1024 * 1024 }).length).toBe(zeros.length);
    });
  }

  it('a raw snappy preamble claiming 4 GiB is refused without allocating', () => {
    expectCode(() => decompress(Codec.SNAPPY, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00])), RecordsErrorCode.CORRUPT_MESSAGE);
  });

  it('lz4-napi agrees with our framing walk on its own output', () => {
    const c = lz4.compressFrameSync(zeros);
    expect(decompress(Codec.LZ4, c).length).toBe(zeros.length);
  });
});
