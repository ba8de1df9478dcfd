import { expect, test } from 'vitest';
import { logDefects } from './lib/log-defects.js';

const line = (o: Record<string, unknown>) => JSON.stringify({ level: 'info', time: '2026-11-29T06:22:33.676Z', pid: 1, ...o });

test('broker log lines only a defect writes are counted by kind; the faults\' own errors are not', () => {
  const lines = [
    // fault suite 05: a fetch read a WAL object compaction had deleted under it
    line({ level: 'error', err: { type: 'ObjectNotFoundError', message: 'object not found: wal/1/001795933335833-00000622.wal' }, topic: 'fa', partition: 0, msg: 'fetch read failed' }),
    line({ level: 'error', err: { type: 'TypeError', message: "Cannot read properties of undefined (reading 'length')" }, conn: 7, msg: 'request handler failed' }),
    line({ level: 'fatal', err: { type: 'Error', message: 'boom' }, msg: 'uncaught exception' }),
    line({ level: 'error', err: 'x', msg: 'unhandled rejection' }),
    line({ level: 'error', err: { type: 'BlockReusedError', message: 'block memory was reused while a reader still held it' }, topic: 'fa', partition: 0, msg: 'fetch read failed' }),
    // what faults cause and the broker handles: not defects
    line({ level: 'error', err: { type: 'CorruptObjectError', message: 'object wal/1/x.wal is damaged: batch CRC mismatch at 0' }, msg: 'fetch read failed' }),
    line({ level: 'fatal', err: 'WAL object wal/1/x.wal read back damaged 4 times', msg: 'start-up failed' }),
    line({ level: 'error', err: 'Lease 1 is expired or revoked', msg: 'etcd lease lost: re-registering' }),
    line({ level: 'warn', err: { type: 'ObjectNotFoundError' }, msg: 'object delete failed; it will be collected as an orphan' }),
    'failpoint compaction.before-wal-delete: crash (hit 310)',
    '{ not json',
  ];
  const d = logDefects(lines);
  expect(Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.length]))).toEqual({ missingObjectReads: 1, handlerFailures: 1, uncaught: 2, reusedBlockReads: 1 });
  expect(d.missingObjectReads![0]).toContain('00000622.wal');
});
