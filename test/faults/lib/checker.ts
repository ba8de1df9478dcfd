// The history checker (issue: test/faults). Per partition it builds the map
// offset -> value from every send, poll and read-back, and counts what must
// never happen: lost writes, inconsistent offsets, duplicates, poll skips,
// non-monotonic polls and sends, UNKNOWN_SERVER_ERROR answers, and
// disagreement between the final read-backs of different clients. Errors that
// leave a write's fate unknown (timeouts, NOT_LEADER_OR_FOLLOWER, ...) are
// indeterminate, not failures.
//
// Consumer groups (events recorded by the proxy, lib/proxy.ts): a partition
// owned by two members in one generation, a commit of a stale generation
// accepted, a committed offset read back lower than the commit accepted last
// (lost or stale on the coordinator). And the figure every fault
// scenario reports: the longest time from a fault's healing to the first
// acknowledged produce of every partition.
//
// Usage: const r = check(events); MUST_BE_ZERO.filter((k) => r[k] !== 0) names the failures.

import type { HistoryEvent } from './history.js';

export interface CheckResult {
  acknowledged: number;
  indeterminate: number;
  failedSends: number;
  lostWrites: number;
  inconsistentOffsets: number;
  duplicates: number;
  pollSkips: number;
  nonMonotonicPolls: number;
  nonMonotonicSends: number;
  unknownServerErrors: number;
  readbackDisagreements: number;
  faults: number;
  /** Group generations seen (join events), accepted commits. */
  generations: number;
  commitsAccepted: number;
  /** A partition assigned to two members of one group in one generation. */
  doubleOwnership: number;
  /**
   * A commit accepted although a later generation of its group had been
   * assigned (SyncGroup answered: from then on Kafka refuses the older one)
   * before it was sent.
   */
  staleCommitsAccepted: number;
  /**
   * Informative: a commit accepted after a later generation's JoinGroup had
   * been answered (but not yet assigned). Kafka accepts these too when the
   * coordinator fails between the join and the assignment: the next
   * coordinator resumes the last stored generation.
   */
  commitsAfterNewerJoin: number;
  /** A committed offset read lower than the commit last accepted before the read was sent (and no concurrent commit wrote it). */
  commitRegressions: number;
  /** heal events: faults removed (a restart, SIGCONT, a healed cut) */
  heals: number;
  /**
   * Longest time from a heal to the first acknowledged send of every
   * partition that is acknowledged again later (max over heals); null: no heal.
   */
  maxRecoveryMs: number | null;
  /** Partitions acknowledged before the last heal and never after it: still unwritable when the faults were over. */
  unrecoveredPartitions: number;
  /** A few examples of each anomaly, for the report. */
  examples: Record<string, string[]>;
}

/** The counts a correct broker keeps at zero. */
export const MUST_BE_ZERO = [
  'lostWrites',
  'inconsistentOffsets',
  'duplicates',
  'pollSkips',
  'nonMonotonicPolls',
  'nonMonotonicSends',
  'unknownServerErrors',
  'readbackDisagreements',
  'doubleOwnership',
  'staleCommitsAccepted',
  'commitRegressions',
  'unrecoveredPartitions',
] as const satisfies ReadonlyArray<keyof CheckResult>;

const DEFINITE_FAILURES = [/INVALID_RECORD/i, /CORRUPT_MESSAGE/i, /MESSAGE_TOO_LARGE/i, /RECORD_LIST_TOO_LARGE/i, /INVALID_TOPIC/i, /TOPIC_AUTHORIZATION/i];

/** Whether a send error leaves the write's fate unknown (it may or may not be in the log). */
export function isIndeterminate(error: string): boolean {
  return !DEFINITE_FAILURES.some((re) => re.test(error));
}

const pk = (topic: string, partition: number) => `${topic}/${partition}`;

export function check(history: HistoryEvent[]): CheckResult {
  const r: CheckResult = {
    acknowledged: 0,
    indeterminate: 0,
    failedSends: 0,
    lostWrites: 0,
    inconsistentOffsets: 0,
    duplicates: 0,
    pollSkips: 0,
    nonMonotonicPolls: 0,
    nonMonotonicSends: 0,
    unknownServerErrors: 0,
    readbackDisagreements: 0,
    faults: 0,
    generations: 0,
    commitsAccepted: 0,
    doubleOwnership: 0,
    staleCommitsAccepted: 0,
    commitsAfterNewerJoin: 0,
    commitRegressions: 0,
    heals: 0,
    maxRecoveryMs: null,
    unrecoveredPartitions: 0,
    examples: {},
  };
  const note = (kind: string, text: string) => {
    const list = (r.examples[kind] ??= []);
    if (list.length < 5) list.push(text);
  };

  // offset -> value per partition, from every source; and value -> offsets.
  const values = new Map<string, Map<number, string>>();
  const offsetsOfValue = new Map<string, Map<string, Set<number>>>();
  const observe = (topic: string, partition: number, offset: number, value: string, source: string) => {
    const key = pk(topic, partition);
    let m = values.get(key);
    if (!m) values.set(key, (m = new Map()));
    const prev = m.get(offset);
    if (prev === undefined) m.set(offset, value);
    else if (prev !== value) {
      r.inconsistentOffsets++;
      note('inconsistentOffsets', `${key}@${offset}: ${prev} vs ${value} (${source})`);
    }
    let v = offsetsOfValue.get(key);
    if (!v) offsetsOfValue.set(key, (v = new Map()));
    let s = v.get(value);
    if (!s) v.set(value, (s = new Set()));
    s.add(offset);
  };

  const lastSend = new Map<string, number>();
  const lastPoll = new Map<string, number>();
  const readbacks = new Map<string, Map<string, Map<number, string>>>();
  const acked: Array<{ key: string; value: string; offset: number }> = [];

  for (const e of history) {
    switch (e.type) {
      case 'fault':
        r.faults++;
        break;
      case 'heal':
        r.heals++;
        break;
      case 'send': {
        if (e.error !== null) {
          if (/UNKNOWN_SERVER_ERROR/.test(e.error)) {
            r.unknownServerErrors++;
            note('unknownServerErrors', `${e.producer} ${pk(e.topic, e.partition)} ${e.value}: ${e.error}`);
          }
          if (isIndeterminate(e.error)) r.indeterminate++;
          else r.failedSends++;
          break;
        }
        if (e.offset === null) break;
        r.acknowledged++;
        acked.push({ key: pk(e.topic, e.partition), value: e.value, offset: e.offset });
        observe(e.topic, e.partition, e.offset, e.value, `send by ${e.producer}`);
        const sk = `${e.producer}|${pk(e.topic, e.partition)}`;
        const prev = lastSend.get(sk);
        if (prev !== undefined && e.offset <= prev) {
          r.nonMonotonicSends++;
          note('nonMonotonicSends', `${sk}: ${e.offset} after ${prev}`);
        }
        lastSend.set(sk, Math.max(prev ?? -1, e.offset));
        break;
      }
      case 'reposition':
        lastPoll.delete(`${e.consumer}|${pk(e.topic, e.partition)}`);
        break;
      case 'poll': {
        observe(e.topic, e.partition, e.offset, e.value, `poll by ${e.consumer}`);
        const ck = `${e.consumer}|${pk(e.topic, e.partition)}`;
        const prev = lastPoll.get(ck);
        if (prev !== undefined && e.offset <= prev) {
          r.nonMonotonicPolls++;
          note('nonMonotonicPolls', `${ck}: ${e.offset} after ${prev}`);
        }
        // Skips are judged after the read-backs are known (an offset may be absent for good reasons).
        lastPoll.set(ck, e.offset);
        break;
      }
      case 'readback': {
        observe(e.topic, e.partition, e.offset, e.value, `read-back by ${e.reader}`);
        let byReader = readbacks.get(e.reader);
        if (!byReader) readbacks.set(e.reader, (byReader = new Map()));
        const key = pk(e.topic, e.partition);
        let m = byReader.get(key);
        if (!m) byReader.set(key, (m = new Map()));
        m.set(e.offset, e.value);
        break;
      }
    }
  }

  // Duplicates: one value at two offsets of a partition.
  for (const [key, byValue] of offsetsOfValue) {
    for (const [value, offs] of byValue) {
      if (offs.size > 1) {
        r.duplicates++;
        note('duplicates', `${key} ${value} at ${[...offs].join(',')}`);
      }
    }
  }

  // Lost writes: acknowledged, and missing from a final full read-back.
  const readers = [...readbacks.values()];
  for (const a of acked) {
    for (const rb of readers) {
      if (rb.get(a.key)?.get(a.offset) !== a.value) {
        r.lostWrites++;
        note('lostWrites', `${a.key}@${a.offset} ${a.value}`);
        break;
      }
    }
  }

  // Read-backs of different clients must agree at every offset.
  if (readers.length > 1) {
    const [first, ...rest] = readers;
    for (const other of rest) {
      const keys = new Set([...first!.keys(), ...other.keys()]);
      for (const key of keys) {
        const a = first!.get(key) ?? new Map<number, string>();
        const b = other.get(key) ?? new Map<number, string>();
        for (const off of new Set([...a.keys(), ...b.keys()])) {
          if (a.get(off) !== b.get(off)) {
            r.readbackDisagreements++;
            note('readbackDisagreements', `${key}@${off}: ${a.get(off)} vs ${b.get(off)}`);
          }
        }
      }
    }
  }

  // Poll skips: a consumer moved from offset o to o' > o + 1 while the log holds something in between.
  const seq = new Map<string, number>();
  for (const e of history) {
    if (e.type === 'reposition') {
      seq.delete(`${e.consumer}|${pk(e.topic, e.partition)}`);
      continue;
    }
    if (e.type !== 'poll') continue;
    const ck = `${e.consumer}|${pk(e.topic, e.partition)}`;
    const prev = seq.get(ck);
    if (prev !== undefined && e.offset > prev + 1) {
      const log = values.get(pk(e.topic, e.partition));
      for (let o = prev + 1; o < e.offset; o++) {
        if (log?.has(o)) {
          r.pollSkips++;
          note('pollSkips', `${ck}: ${prev} -> ${e.offset}, skipped ${o}`);
          break;
        }
      }
    }
    seq.set(ck, e.offset);
  }

  checkGroups(history, r, note);
  recovery(history, r, note);
  return r;
}

type Note = (kind: string, text: string) => void;

function checkGroups(history: HistoryEvent[], r: CheckResult, note: Note): void {
  // First time each generation of each group was answered: joined, assigned.
  const genSeen = new Map<string, Map<number, number>>();
  const genAssigned = new Map<string, Map<number, number>>();
  for (const e of history) {
    if (e.type !== 'join' && e.type !== 'assignment') continue;
    for (const by of e.type === 'assignment' ? [genSeen, genAssigned] : [genSeen]) {
      let m = by.get(e.group);
      if (!m) by.set(e.group, (m = new Map()));
      const prev = m.get(e.generation);
      if (prev === undefined || e.t < prev) m.set(e.generation, e.t);
    }
  }
  for (const m of genSeen.values()) r.generations += m.size;

  // One owner per partition per generation.
  const owners = new Map<string, string>();
  for (const e of history) {
    if (e.type !== 'assignment') continue;
    for (const tp of e.partitions) {
      const k = `${e.group}|${e.generation}|${pk(tp.topic, tp.partition)}`;
      const prev = owners.get(k);
      if (prev === undefined) owners.set(k, e.member);
      else if (prev !== e.member) {
        r.doubleOwnership++;
        note('doubleOwnership', `${e.group} generation ${e.generation}: ${pk(tp.topic, tp.partition)} owned by ${prev} and ${e.member}`);
      }
    }
  }

  // Stale generations, and committed offsets that go backwards.
  type Accepted = { offset: number; t: number; sentAt: number };
  const accepted = new Map<string, Accepted[]>();
  for (const e of history) {
    if (e.type !== 'commit') continue;
    if (e.error !== null) {
      if (/UNKNOWN_SERVER_ERROR/.test(e.error)) {
        r.unknownServerErrors++;
        note('unknownServerErrors', `commit ${e.group} ${pk(e.topic, e.partition)}: ${e.error}`);
      }
      continue;
    }
    r.commitsAccepted++;
    const k = `${e.group}|${pk(e.topic, e.partition)}`;
    let l = accepted.get(k);
    if (!l) accepted.set(k, (l = []));
    l.push({ offset: e.offset, t: e.t, sentAt: e.sentAt });
    if (e.generation >= 0) {
      const newer = (by: Map<string, Map<number, number>>) => [...(by.get(e.group) ?? [])].find(([g, t]) => g > e.generation && t < e.sentAt);
      const assigned = newer(genAssigned);
      const joined = newer(genSeen);
      const where = e.broker !== undefined ? ` (accepted by broker ${e.broker})` : '';
      if (assigned) {
        r.staleCommitsAccepted++;
        note('staleCommitsAccepted', `${e.group} ${pk(e.topic, e.partition)}@${e.offset} by ${e.member} of generation ${e.generation}, sent ${e.sentAt - assigned[1]} ms after generation ${assigned[0]} was assigned${where}`);
      } else if (joined) {
        r.commitsAfterNewerJoin++;
        note('commitsAfterNewerJoin', `${e.group} ${pk(e.topic, e.partition)}@${e.offset} by ${e.member} of generation ${e.generation}, sent ${e.sentAt - joined[1]} ms after generation ${joined[0]} was joined${where}`);
      }
    }
  }
  // A committed offset read (OffsetFetch answer) must be what the coordinator
  // last accepted before the read was sent, or what a commit in flight during
  // the read set. (An accepted commit lower than an earlier one is the
  // client's choice, as Kafka allows within a generation: not judged.)
  for (const e of history) {
    if (e.type !== 'committed') continue;
    const k = `${e.group}|${pk(e.topic, e.partition)}`;
    let last: Accepted | null = null;
    const candidates = new Set<number>();
    for (const a of accepted.get(k) ?? []) {
      if (a.t < e.sentAt) {
        if (!last || a.t >= last.t) last = a;
      } else if (a.sentAt < e.t) candidates.add(a.offset);
    }
    if (last && e.offset < last.offset && !candidates.has(e.offset)) {
      r.commitRegressions++;
      note('commitRegressions', `${k}: committed offset read ${e.offset} after ${last.offset} was accepted (${e.sentAt - last.t} ms earlier)${e.broker !== undefined ? ` (read from broker ${e.broker})` : ''}`);
    }
  }
}

function recovery(history: HistoryEvent[], r: CheckResult, note: Note): void {
  const heals = history.filter((e): e is Extract<HistoryEvent, { type: 'heal' }> => e.type === 'heal');
  if (heals.length === 0) return;
  // Acknowledgement times per partition, sorted.
  const acks = new Map<string, number[]>();
  for (const e of history) {
    if (e.type !== 'send' || e.error !== null || e.offset === null) continue;
    const k = pk(e.topic, e.partition);
    let l = acks.get(k);
    if (!l) acks.set(k, (l = []));
    l.push(e.t);
  }
  for (const l of acks.values()) l.sort((a, b) => a - b);
  const last = heals[heals.length - 1]!;
  for (const [k, ts] of acks) {
    if (ts[0]! < last.t && ts[ts.length - 1]! < last.t) {
      r.unrecoveredPartitions++;
      note('unrecoveredPartitions', `${k}: last acknowledged ${last.t - ts[ts.length - 1]!} ms before the last heal (${last.name}), never after`);
    }
  }
  let max = 0;
  for (const h of heals) {
    let worst = 0;
    let worstKey = '';
    for (const [k, ts] of acks) {
      // First acknowledgement at or after the heal (binary search).
      let lo = 0;
      let hi = ts.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ts[mid]! < h.t) lo = mid + 1;
        else hi = mid;
      }
      if (lo === ts.length) continue; // never acknowledged again (the run ended)
      const d = ts[lo]! - h.t;
      if (d > worst) {
        worst = d;
        worstKey = k;
      }
    }
    if (worst > max) max = worst;
    note('recovery', `${h.name}: ${worst} ms (${worstKey || '-'})`);
  }
  r.maxRecoveryMs = max;
}
