// The broker's V8 flags (test/helpers/broker.ts, BROKER_NODE_FLAGS) are spelled
// in three more places that start it: they must agree.
import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { BROKER_NODE_FLAGS, REPO_ROOT } from './helpers/broker.js';

const read = (f: string) => fs.readFileSync(path.join(REPO_ROOT, f), 'utf8');

test('npm start, the bin and the Dockerfile start the broker with the same V8 flags as the tests and benchmarks', () => {
  const flags = BROKER_NODE_FLAGS.join(' ');
  expect((JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start).toBe(`node ${flags} dist/src/cli.js serve`);
  expect(read('src/cli.ts').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
  expect(read('Dockerfile')).toContain(`ENTRYPOINT ${JSON.stringify(['node', ...BROKER_NODE_FLAGS, '/app/dist/src/cli.js', 'serve']).replaceAll(',', ', ')}`);
});
