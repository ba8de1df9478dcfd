// A read whose bytes do not hold together (a CRC that fails, a trailer that
// is missing, a record cut off) is read again before it is believed: a bit
// flipped or a body cut short on the way does not repeat, damage in the
// object does. Recovery reads (metadata snapshots, journal objects, the
// commits WAL objects carry) must not take the one for the other.

/** Reads in all before damage counts as the object's own. */
export const DAMAGED_READS = 4;
/** Pause before reading again, times the attempt. */
export const DAMAGED_READ_PAUSE_MS = 100;

/**
 * Runs `read` until `damaged` says its result holds together, `reads` times
 * at most; the last result is returned either way. A read that throws ends it
 * (the store retried transient failures already).
 */
export async function readAgainWhileDamaged<T>(
  read: () => Promise<T>,
  damaged: (result: T) => boolean,
  reads = DAMAGED_READS,
  pauseMs = DAMAGED_READ_PAUSE_MS,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const result = await read();
    if (!damaged(result) || attempt >= reads) return result;
    await new Promise((r) => setTimeout(r, pauseMs * attempt));
  }
}
