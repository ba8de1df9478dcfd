import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, test } from 'vitest';
import { EmbeddedMetadataStore } from '../../src/coordination/embedded-metadata-store.js';
import { FilePersistence } from '../../src/coordination/file-persistence.js';
import { GroupCoordinator } from '../../src/groups/coordinator.js';
import type { JoinResult, SyncResult } from '../../src/groups/group.js';
import { ErrorCode } from '../../src/protocol/kafka-error.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

test('a stable group survives a coordinator restart: members keep their generation and assignment', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sh-groups-'));
  dirs.push(dir);
  let meta = new EmbeddedMetadataStore(new FilePersistence(dir), log);
  await meta.start();
  let coord = new GroupCoordinator(meta, { initialRebalanceDelayMs: 0 }, log);
  await coord.prepare('g');
  const g = coord.getOrCreate('g');
  const joined = await new Promise<JoinResult>((r) =>
    g.join(
      {
        memberId: '', groupInstanceId: null, clientId: 'c', clientHost: '/127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000,
        protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.from('m') }], requireKnownMemberId: false, supportsSkipAssignment: false,
      },
      r,
    ),
  );
  const sync = await new Promise<SyncResult>((r) =>
    g.sync({ memberId: joined.memberId, groupInstanceId: null, generationId: joined.generationId, protocolType: null, protocolName: null, assignments: [{ memberId: joined.memberId, assignment: Buffer.from('a') }] }, r),
  );
  expect(sync.errorCode).toBe(ErrorCode.NONE);
  await new Promise((r) => setTimeout(r, 50));
  coord.shutdown();
  await meta.close();

  meta = new EmbeddedMetadataStore(new FilePersistence(dir), log);
  await meta.start();
  coord = new GroupCoordinator(meta, { initialRebalanceDelayMs: 0 }, log);
  await coord.prepare('g');
  const again = coord.get('g')!;
  expect(again.state).toBe('Stable');
  expect(again.heartbeat(joined.memberId, null, joined.generationId)).toBe(ErrorCode.NONE);
  expect(again.validateCommit(joined.memberId, null, joined.generationId)).toBe(ErrorCode.NONE);
  const resync = await new Promise<SyncResult>((r) =>
    again.sync({ memberId: joined.memberId, groupInstanceId: null, generationId: joined.generationId, protocolType: null, protocolName: null, assignments: [] }, r),
  );
  expect(resync.assignment.toString()).toBe('a');
  coord.shutdown();
  await meta.close();
});
