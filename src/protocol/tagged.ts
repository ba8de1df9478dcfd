// Run-time helpers of the generated codecs (src/protocol/generated/): the
// tagged-field section of flexible versions (KIP-482) and records fields.
// Everything version-specific is generated; these are the few pieces that are
// the same for every message.

import type { Reader } from './reader.js';
import type { Writer } from './writer.js';
import type { Records, TaggedField } from './generated/types.js';

/** Shared zero-length default for bytes fields (never written to). */
export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

/**
 * Reads a tagged-field section of which the struct knows no tag: every field is
 * kept as { tag, data } with data a view into the frame. Lengths are checked by
 * the reader, so a forged count or size ends in a DecodeError.
 */
export function readTaggedFields(r: Reader): TaggedField[] | undefined {
  const count = r.readUnsignedVarint();
  let out: TaggedField[] | undefined;
  for (let i = 0; i < count; i++) {
    const tag = r.readUnsignedVarint();
    const data = r.readRawBytes(r.readUnsignedVarint());
    (out ??= []).push({ tag, data });
  }
  return out;
}

function sortedByTag(fields: TaggedField[]): boolean {
  for (let i = 1; i < fields.length; i++) if (fields[i - 1]!.tag > fields[i]!.tag) return false;
  return true;
}

/**
 * Writes a tagged-field section: `known` (already in ascending tag order, as the
 * generated encoders build it) merged with `unknown` (kept from a decode), in
 * ascending tag order as Kafka requires.
 */
export function writeTaggedFields(w: Writer, known: TaggedField[] | undefined, unknown: TaggedField[] | undefined): void {
  const k = known === undefined ? 0 : known.length;
  const u = unknown === undefined ? 0 : unknown.length;
  if (k + u === 0) {
    w.writeUnsignedVarint(0);
    return;
  }
  let all: TaggedField[];
  if (u === 0) all = known!;
  else {
    all = k === 0 ? unknown! : known!.concat(unknown!);
    // Array.prototype.sort is stable: equal tags keep their order.
    if (!sortedByTag(all)) all = all.slice().sort((a, b) => a.tag - b.tag);
  }
  w.writeUnsignedVarint(all.length);
  for (const f of all) {
    w.writeUnsignedVarint(f.tag);
    w.writeUnsignedVarint(f.data.length);
    w.writeRaw(f.data);
  }
}

/** Total byte length of a records value. */
export function recordsLength(v: Records): number {
  if (Buffer.isBuffer(v)) return v.length;
  let n = 0;
  for (const b of v) n += b.length;
  return n;
}

/**
 * Writes a records field: a length (compact: unsigned varint length+1, else
 * int32; null as 0 / -1) and the bytes, each buffer of a list by reference
 * (Writer.writeRaw keeps large buffers as chunks, it does not copy them). A null
 * in a version where the field is not nullable is written as empty.
 */
export function writeRecords(w: Writer, v: Records | null | undefined, compact: boolean, nullable: boolean): void {
  if (v == null) {
    if (compact) w.writeUnsignedVarint(nullable ? 0 : 1);
    else w.writeInt32(nullable ? -1 : 0);
    return;
  }
  const len = recordsLength(v);
  if (compact) w.writeUnsignedVarint(len + 1);
  else w.writeInt32(len);
  if (Buffer.isBuffer(v)) w.writeRaw(v);
  else for (const b of v) w.writeRaw(b);
}

/**
 * A records value as one Buffer: decoded records already are one (a view into
 * the frame); a list is concatenated (a copy, for the rare caller that needs it).
 */
export function recordsBuffer(v: Records): Buffer;
export function recordsBuffer(v: Records | null): Buffer | null;
export function recordsBuffer(v: Records | null): Buffer | null {
  if (v === null || Buffer.isBuffer(v)) return v;
  return v.length === 1 ? v[0]! : Buffer.concat(v);
}
