import { expect } from 'vitest';
import { RecordsError } from '../../../src/protocol/records/errors.js';

/** Runs f and checks it throws a RecordsError with the given Kafka error code. */
export function expectCode(f: () => unknown, code: number): RecordsError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a RecordsError').toBeInstanceOf(RecordsError);
  expect((caught as RecordsError).code, (caught as RecordsError).message).toBe(code);
  return caught as RecordsError;
}

/** Independent bitwise CRC-32C (Castagnoli, reflected 0x82F63B78) to cross-check the native one. */
export function crc32cRef(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Hex with whitespace and `#` comments to the end of a line. Refuses anything else. */
export function hex(s: string): Buffer {
  const digits = s.replace(/#[^\n]*/g, '').replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex: ${digits}`);
  return Buffer.from(digits, 'hex');
}
