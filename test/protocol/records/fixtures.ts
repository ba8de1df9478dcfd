// Compressed fixtures made with the lz4 1.9 and zstd 1.5 command-line tools
// from fixturePlaintext() (131600 bytes: three 64 KiB LZ4 blocks), base64:
//   LZ4_LINKED_CONTENT_CHECKSUM     lz4 -B4 -BD              (linked blocks, content checksum)
//   LZ4_BLOCK_CHECKSUM_CONTENT_SIZE lz4 -B4 -BX --content-size (block checksums, content size)
//   LZ4_JAVA_STYLE                  lz4 -B4 --no-frame-crc   (FLG 0x60 BD 0x40: what Kafka's
//                                   KafkaLZ4BlockOutputStream writes)
//   ZSTD_STREAMING_NO_CONTENT_SIZE  cat | zstd -c            (no frame content size, as
//                                   zstd-jni's ZstdOutputStream in the Java client writes)

export function fixturePlaintext(): Buffer {
  return Buffer.from(Array.from({ length: 7000 }, (_, i) => `record ${i % 50} of kafka\n`).join(''));
}

export const LZ4_LINKED_CONTENT_CHECKSUM =
  'BCJNGERAXv8BAADzA3JlY29yZCAwIG9mIGthZmthChIAHTESAB0yEgAdMxIAHTQSAB01EgAdNhIAHTcSAB04EgAdORIAHzG1' +
  'AAAOtgAeMbcAHjG4AB4xuQAeMboAHjG7AB4xvAAeMb0AHjG+AB4yvgAeMr4AHjK+AB4yvgAeMr4AHjK+AB4yvgAeMr4AHjK+' +
  'AB4yvgAeM74AHjO+AB4zvgAeM74AHjO+AB4zvgAeM74AHjO+AB4zvgAeM74AHjS+AB40vgAeNL4AHjS+AB40vgAeNL4AHjS+' +
  'AB40vgAeNL4AHjS+AA69AA68AA67AA+6AAANUgMOuAAOtwAOtgAOtQAOtAAPrAP/////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '//////////////99UGthCnJlCgEAAA9c/f//////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '///////////////////////////////////////////////////////////////////////////////////////oUApyZWNv' +
  'jQAAAP4JcmQgMjIgb2Yga2Fma2EKcmVjb3JkIDIzEwAeNBMAHjUTAB42EwAeNxMAHjgTAB05EwAuMzATAB4xEwAOvgAeM74A' +
  'HjO+AB4zvgAeM74AHjO+AB4zvgAeM74AHjS+AB40vgAeNL4AHjS+AB40vgAeNL4AHjS+AB40vgAeNL4AwDQ5IG9mIGthZmth' +
  'CgAAAAAsUyXq';

export const LZ4_BLOCK_CHECKSUM_CONTENT_SIZE =
  'BCJNGHxAEAICAAAAAADm/wEAAPMDcmVjb3JkIDAgb2Yga2Fma2EKEgAdMRIAHTISAB0zEgAdNBIAHTUSAB02EgAdNxIAHTgS' +
  'AB05EgAfMbUAAA62AB4xtwAeMbgAHjG5AB4xugAeMbsAHjG8AB4xvQAeMb4AHjK+AB4yvgAeMr4AHjK+AB4yvgAeMr4AHjK+' +
  'AB4yvgAeMr4AHjK+AB4zvgAeM74AHjO+AB4zvgAeM74AHjO+AB4zvgAeM74AHjO+AB4zvgAeNL4AHjS+AB40vgAeNL4AHjS+' +
  'AB40vgAeNL4AHjS+AB40vgAeNL4ADr0ADrwADrsAD7oAAA1SAw64AA63AA62AA61AA60AA+sA///////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '/////////////////////////31Qa2EKcmUK+2ig2QEAAPIEY29yZCAzNiBvZiBrYWZrYQpyZRMAHjcTAB44EwAdORMALjQw' +
  'EwAeMRMAHjITAB4zEwAeNBMAHjUTAA6+AB40vgAeNL4AHjS+AA69AA68AA67AA+6AAANpgAOuAAOtwAOtgAOtQAOtAAfMbUA' +
  'AA62AB4xtwAeMbgAHjFyAR4xugAeMbsAHjG8AB4xvQAeMb4AHjK+AB4yvgAeMr4AHjK+AB4yvgAeMr4AHjK+AB4yvgAeMr4A' +
  'HjK+AB4zvgAeM74AHjO+AB4zvgAeM74AHjO+AA+sA///////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '//////////////////////////////////////////////////////////////////////////////////////////80UApy' +
  'ZWNvEqNgfowAAADwBHJkIDIyIG9mIGthZmthCnJlY28TAB4zEwAeNBMAHjUTAB42EwAeNxMAHjgTAB05EwAuMzATAB4xEwAO' +
  'vgAeM74AHjO+AB4zvgAeM74AHjO+AB4zvgAeM74AHjS+AB40vgAeNL4AHjS+AB40vgAeNL4AHjS+AB40vgAeNL4AwDQ5IG9m' +
  'IGthZmthCstD7iIAAAAALFMl6g==';

export const LZ4_JAVA_STYLE =
  'BCJNGGBAgv8BAADzA3JlY29yZCAwIG9mIGthZmthChIAHTESAB0yEgAdMxIAHTQSAB01EgAdNhIAHTcSAB04EgAdORIAHzG1' +
  'AAAOtgAeMbcAHjG4AB4xuQAeMboAHjG7AB4xvAAeMb0AHjG+AB4yvgAeMr4AHjK+AB4yvgAeMr4AHjK+AB4yvgAeMr4AHjK+' +
  'AB4yvgAeM74AHjO+AB4zvgAeM74AHjO+AB4zvgAeM74AHjO+AB4zvgAeM74AHjS+AB40vgAeNL4AHjS+AB40vgAeNL4AHjS+' +
  'AB40vgAeNL4AHjS+AA69AA68AA67AA+6AAANUgMOuAAOtwAOtgAOtQAOtAAPrAP/////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '//////////////99UGthCnJl2QEAAPIEY29yZCAzNiBvZiBrYWZrYQpyZRMAHjcTAB44EwAdORMALjQwEwAeMRMAHjITAB4z' +
  'EwAeNBMAHjUTAA6+AB40vgAeNL4AHjS+AA69AA68AA67AA+6AAANpgAOuAAOtwAOtgAOtQAOtAAfMbUAAA62AB4xtwAeMbgA' +
  'HjFyAR4xugAeMbsAHjG8AB4xvQAeMb4AHjK+AB4yvgAeMr4AHjK+AB4yvgAeMr4AHjK+AB4yvgAeMr4AHjK+AB4zvgAeM74A' +
  'HjO+AB4zvgAeM74AHjO+AA+sA///////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '////////////////////////////////////////////////////////////////////////////////////////////////' +
  '//////////////////////////////////////////////////////////////////////////80UApyZWNvjAAAAPAEcmQg' +
  'MjIgb2Yga2Fma2EKcmVjbxMAHjMTAB40EwAeNRMAHjYTAB43EwAeOBMAHTkTAC4zMBMAHjETAA6+AB4zvgAeM74AHjO+AB4z' +
  'vgAeM74AHjO+AB4zvgAeNL4AHjS+AB40vgAeNL4AHjS+AB40vgAeNL4AHjS+AB40vgDANDkgb2Yga2Fma2EKAAAAAA==';

export const ZSTD_STREAMING_NO_CONTENT_SIZE =
  'KLUv/QRYRAQAAkYPFKApjQHARcr69Q/X/m8yJT17t1oB//+vqqpVVTUzMzMz8///qqpaVZWhQBgIZgMUh1EcxUBKoCAS5JBI' +
  'Aluokfj9O5CjUuMSGEHgbfTt//9vXPmvR/7OlnhL8oJ5C3pBvYW9xL0FviBfTMyseJBA+tHHHvFoRx2Tow6nMHFwYDLmUwBU' +
  'BUUAAAhyAQAMKiAEwkMzZg==';

