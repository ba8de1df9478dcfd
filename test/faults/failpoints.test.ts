import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { failpoint, FailpointError, parseFailpoints, setFailpoints } from '../../src/failpoints.js';
import { REPO_ROOT } from '../helpers/broker.js';

afterEach(() => setFailpoints(null));

test('unset: every point is a no-op', () => {
  setFailpoints(null);
  for (let i = 0; i < 1000; i++) failpoint('compaction.after-segment-put');
});

test('parsing: actions, probabilities, counts; malformed entries are refused', () => {
  const m = parseFailpoints('a.b=crash@0.3, c=error#2;d=error');
  expect([...m.keys()]).toEqual(['a.b', 'c', 'd']);
  expect(m.get('a.b')).toMatchObject({ action: 'crash', probability: 0.3, count: null });
  expect(m.get('c')).toMatchObject({ action: 'error', probability: null, count: 2 });
  expect(() => parseFailpoints('x=explode')).toThrow(/cannot parse/);
  expect(() => parseFailpoints('x=crash@2')).toThrow(/probability/);
  expect(() => parseFailpoints('x=crash#0')).toThrow(/count/);
});

test('error#N throws the Nth time only; @0 never, @1 always', () => {
  setFailpoints('p=error#3,never=error@0,always=error@1');
  failpoint('p');
  failpoint('p');
  expect(() => failpoint('p')).toThrow(FailpointError);
  failpoint('p');
  for (let i = 0; i < 100; i++) failpoint('never');
  expect(() => failpoint('always')).toThrow(/failpoint always/);
  failpoint('unconfigured');
});

test('crash kills the process with SIGKILL and says so on stderr first', () => {
  const script = `import('${path.join(REPO_ROOT, 'dist/src/failpoints.js')}').then((m) => { m.failpoint('x'); console.log('survived'); m.failpoint('x'); console.log('not reached'); })`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, STREAMHOUSE_FAILPOINTS: 'x=crash#2' }, encoding: 'utf8', timeout: 20_000 });
  expect(r.signal).toBe('SIGKILL');
  expect(r.stdout).toContain('survived');
  expect(r.stdout).not.toContain('not reached');
  expect(r.stderr).toContain('failpoint x: crash (hit 2)');
});
