// Embedded metadata persisted in the data directory: journal.log (fsync'd,
// group-committed) and snapshot.json (atomic rename). A snapshot is written
// while the journal goes on: when it starts, journal.log is renamed
// journal-<seq>.log (records up to seq) and a new journal.log takes what
// follows; the renamed file is deleted once the snapshot is durable. A
// restart reads the snapshot, then every journal-<seq>.log in order, then
// journal.log, skipping records the snapshot holds.

import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Journal, decodeJournal, fileExists, writeFileDurable, type JournalRecord } from './journal.js';
import type { LoadedState, MetadataPersistence, SnapshotWriter } from './persistence.js';
import { failpoint } from '../failpoints.js';

const ROTATED = /^journal-(\d{20})\.log$/;

/** The journal files of a metadata directory in replay order: the rotated ones (oldest first), then journal.log. */
export async function journalFiles(dir: string): Promise<Array<{ path: string; upTo: number | null }>> {
  const rotated = (await readdir(dir).catch(() => [] as string[]))
    .map((name) => ({ name, m: ROTATED.exec(name) }))
    .filter((x) => x.m !== null)
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((x) => ({ path: join(dir, x.name), upTo: Number(x.m![1]) }));
  return [...rotated, { path: join(dir, 'journal.log'), upTo: null }];
}

export class FilePersistence<S, O> implements MetadataPersistence<S, O> {
  readonly description: string;
  private readonly journal: Journal;
  private readonly snapshotPath: string;
  /** Rotated journal files no snapshot has replaced yet. */
  private rotated: Array<{ path: string; upTo: number; bytes: number }> = [];
  onIdle: (() => Promise<void>) | null = null;

  constructor(private readonly dir: string) {
    this.description = dir;
    this.journal = new Journal(join(dir, 'journal.log'));
    this.snapshotPath = join(dir, 'snapshot.json');
    this.journal.onIdle = () => this.onIdle?.() ?? Promise.resolve();
  }

  async load(): Promise<LoadedState<S, O>> {
    await mkdir(this.dir, { recursive: true });
    const snapshot = (await fileExists(this.snapshotPath))
      ? (JSON.parse(await readFile(this.snapshotPath, 'utf8')) as { seq: number; state: S })
      : null;
    const records: JournalRecord<O>[] = [];
    for (const f of await journalFiles(this.dir)) {
      if (f.upTo === null) continue;
      if (snapshot && f.upTo <= snapshot.seq) {
        // Replaced by the snapshot; a crash came before its deletion.
        await unlink(f.path).catch(() => {});
        continue;
      }
      // Renamed when it was idle: whole, with no torn tail.
      const buf = await readFile(f.path);
      records.push(...decodeJournal<O>(buf).records);
      this.rotated.push({ path: f.path, upTo: f.upTo, bytes: buf.length });
    }
    records.push(...(await this.journal.openAndRead<O>()));
    return { snapshot, records };
  }

  append(record: JournalRecord<O>): Promise<void> {
    return this.journal.append(record);
  }

  journalBytes(): number {
    return this.journal.size + this.rotated.reduce((n, r) => n + r.bytes, 0);
  }

  async beginSnapshot(seq: number): Promise<SnapshotWriter> {
    // A snapshot of the same seq failed before: journal.log has nothing since, and renaming it would replace the records it left.
    if (!this.rotated.some((r) => r.upTo === seq)) {
      const path = join(this.dir, `journal-${seq.toString().padStart(20, '0')}.log`);
      const bytes = this.journal.size;
      await this.journal.rotate(path);
      this.rotated.push({ path, upTo: seq, bytes });
    }
    return {
      write: async (serialized) => {
        await writeFileDurable(this.snapshotPath, serialized);
        failpoint('metadata.after-snapshot-put');
        const replaced = this.rotated.filter((r) => r.upTo <= seq);
        this.rotated = this.rotated.filter((r) => r.upTo > seq);
        for (const r of replaced) await unlink(r.path).catch(() => {});
      },
    };
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
