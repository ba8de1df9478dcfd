// Histories recorded by fault runs that showed a broker bug (trimmed to the
// events that show it). The checker must keep finding each anomaly in them;
// the fix is proven by the scenario passing again (npm run faults -- NAME).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { check, type CheckResult } from '../lib/checker.js';
import { parseHistory } from '../lib/history.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const load = (name: string) => check(parseHistory(fs.readFileSync(path.join(HERE, name), 'utf8')));

const CASES: Array<{ file: string; what: string; expect: Partial<Record<keyof CheckResult, number>> }> = [
  {
    // Scenario 03, seed 1: the coordinator of g-kafkajs was SIGSTOPped past its lease; another
    // broker coordinated the group meanwhile (generation 91). Resumed, the old coordinator was the
    // coordinator again by the hash and still held generation 90 in memory: it accepted commits of
    // generation 90 after generation 91 had been joined elsewhere, then ran its own generation 91.
    // (Generation 91 was not assigned before those commits, so by Kafka's rule they are counted
    // apart, not as stale; the same bug showed as offsets read back lower in 06 below.)
    file: '03-zombie-coordinator-stale-commits.jsonl',
    what: 'a coordinator back from a pause past its lease accepts commits of a generation joined past',
    expect: { commitsAfterNewerJoin: 4, staleCommitsAccepted: 0, lostWrites: 0 },
  },
  {
    // Scenario 06, seed 1: after etcd was SIGSTOPped past the lease TTL, every broker's view of the
    // membership changed and the coordinator of g-kafkajs moved; a broker that had coordinated the
    // group earlier answered OffsetFetch from offsets it had cached then, ~50 below the commits
    // accepted since: the group's members rewound (re-read messages).
    file: '06-etcd-stale-coordinator-offsets.jsonl',
    what: 'committed offsets read back lower than the last accepted commit (stale coordinator cache)',
    expect: { commitRegressions: 41 },
  },
  {
    // Scenario 06, seed 1, with the fix above: generation 45 of seek-sj began (and was assigned)
    // while etcd was SIGSTOPped, so the group state was never stored; the coordinator dropped the
    // group when its lease lapsed, reloaded generation 44, and handed out generation 45 again to
    // another member: the partitions were owned by two members in "one" generation.
    file: '06-etcd-generation-reused.jsonl',
    what: 'an assignment handed out before its generation was stored, and the generation reused',
    expect: { doubleOwnership: 8 },
  },
  {
    // Scenario 06, seed 1: a librdkafka idempotent producer's record stored twice (fa/3 at 3644 and
    // 3648, fb/2 at 3319 and 3332), both copies written within 2.5 s after etcd came back. A WAL
    // commit in flight when etcd stopped was answered NOT_LEADER_OR_FOLLOWER ("not written") and
    // landed when etcd resumed; librdkafka took the answer at its word, bumped its epoch and
    // re-sent the record (a later run's read-back showed the copies under epochs 8 and 9). The
    // broker now answers REQUEST_TIMED_OUT for a commit whose outcome is unknown.
    file: '06-etcd-duplicate-writes.jsonl',
    what: 'an idempotent producer record stored twice after an etcd outage',
    expect: { duplicates: 2, lostWrites: 0 },
  },
];

for (const c of CASES) {
  test(`${c.file}: ${c.what}`, () => {
    expect(load(c.file)).toMatchObject(c.expect);
  });
}
