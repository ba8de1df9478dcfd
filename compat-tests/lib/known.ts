/**
 * compat-tests/known-failures.json: StreamHouse failures the matrix has found
 * and explained. They stay failing (❌) in the matrix, with the explanation;
 * the runner exits non-zero only for a StreamHouse failure that is NOT listed
 * (a regression or a new finding) or for any failure on Kafka (a scenario bug).
 */
import fs from 'node:fs';
import path from 'node:path';
import { COMPAT_DIR } from './common.js';

export interface KnownFailure {
  title: string;
  /** Client ids, or ["*"]. */
  clients: string[];
  scenarios: string[];
  /** A regular expression the cell's error must contain (default: any error). */
  match?: string;
  explanation: string;
}

export const KNOWN_FILE = path.join(COMPAT_DIR, 'known-failures.json');

export function loadKnown(): KnownFailure[] {
  if (!fs.existsSync(KNOWN_FILE)) return [];
  const j = JSON.parse(fs.readFileSync(KNOWN_FILE, 'utf8')) as { failures: KnownFailure[] };
  return j.failures;
}

/** Every known failure listed for (client, scenario) whose `match` is in `error` (any, when no error is given). */
export function matcher(known: KnownFailure[]) {
  return (client: string, scenario: string, error?: string) =>
    known.filter(
      (k) =>
        (k.clients.includes('*') || k.clients.includes(client)) &&
        k.scenarios.includes(scenario) &&
        (error === undefined || !k.match || new RegExp(k.match).test(error)),
    );
}
